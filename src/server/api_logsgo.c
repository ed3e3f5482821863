/*
 * api_logsgo.c - LogsGO's REST query API: GET /api/v1/query and /api/v1/labels.
 *
 * A LogsGO entry is a stream with the labels service and level plus its
 * custom labels, and line = message. /api/v1/query takes a LogsGoQL
 * expression and unix-second start/end with a resolution (seeds.md 1.7):
 *   - instant (start == end; 0 = now): per series the latest sample in
 *     [T - lookback, T], as {Timestamp: sample time, Count};
 *   - range (resolution > 0): at t = start, start + r, ... <= end the count
 *     of the latest sample in [t - lookback, t], as {Timestamp: t, Count};
 *     steps without one are omitted;
 *   - raw (resolution 0s): every sample in [start - lookback, end].
 * Count is the number of occurrences of (service, level, message, labels)
 * with a timestamp <= the sample's, computed from stored data, so it does
 * not restart with the process as the seed's did. Errors are the seed's 400
 * bodies: {"error":"Invalid timestamp format"}, {"error":"Invalid resolution
 * format"}, {"error":"Invalid query expression"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "query/engine.h"
#include "query/logsgoql.h"
#include "server/handlers.h"
#include "server/query_api.h"
#include "server/server.h"

#define MAX_POINTS 2000000

/* service_name is derived from service by the ingest path: not a LogsGO custom label. */
static bool derived_label(const struct label *l, struct slice service)
{
    return slice_eq_str(l->name, "service_name") && slice_eq(l->value, service);
}

static void write_series_head(struct json_writer *w, const struct logsgo_series *s)
{
    jw_object_begin(w);
    jw_key(w, "Service");
    jw_string_slice(w, s->service);
    jw_key(w, "Level");
    jw_string_slice(w, s->level);
    jw_key(w, "Message");
    jw_string_slice(w, s->message);
    jw_key(w, "Labels");
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n_custom; i++)
        n += !derived_label(&s->custom[i], s->service);
    if (!n) {
        jw_null(w);
    } else {
        jw_object_begin(w);
        for (uint32_t i = 0; i < s->n_custom; i++) {
            if (derived_label(&s->custom[i], s->service))
                continue;
            jw_key_slice(w, s->custom[i].name);
            jw_string_slice(w, s->custom[i].value);
        }
        jw_object_end(w);
    }
    jw_key(w, "Points");
    jw_array_begin(w);
}

static void write_point(struct json_writer *w, int64_t ts, uint64_t count)
{
    jw_object_begin(w);
    jw_key(w, "Timestamp");
    jw_int(w, ts);
    jw_key(w, "Count");
    jw_uint(w, count);
    jw_object_end(w);
}

static int int_param(struct http_req *req, const char *name, int64_t *out)
{
    const char *v = http_param(req, name);
    if (!v)
        return STRATA_EINVAL;
    return clock_parse_int64(slice_from(v), out);
}

/* The index of the latest sample with sec <= t, or -1. */
static int64_t latest_at(const struct logsgo_series *s, int64_t t)
{
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->sec[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int64_t)lo - 1;
}

HANDLER(h_logsgo_query)
{
    struct server *srv = ctx;
    int64_t start, end, res_ns;
    if (int_param(req, "start", &start) < 0 || int_param(req, "end", &end) < 0) {
        http_reply_json_error(req, 400, "Invalid timestamp format");
        return;
    }
    const char *rv = http_param(req, "resolution");
    if (!rv || clock_parse_prom_duration(slice_from(rv), &res_ns) < 0 || res_ns < 0) {
        http_reply_json_error(req, 400, "Invalid resolution format");
        return;
    }
    const char *expr = http_param(req, "expression");
    struct plan plan;
    char err[512];
    if (!expr || plan_parse_logsgoql(slice_from(expr), &req->arena, &plan, err, sizeof(err)) < 0) {
        log_debug("logsgo query: %s: %s", expr ? expr : "(none)", expr ? err : "missing");
        http_reply_json_error(req, 400, "Invalid query expression");
        return;
    }
    int64_t lookback = srv->cfg->lookback_period / NS_PER_SEC;
    bool instant = start == end;
    if (instant && start == 0)
        start = end = clock_now_ns() / NS_PER_SEC;
    int64_t res_sec = res_ns / NS_PER_SEC;
    if (res_ns > 0 && res_sec == 0)
        res_sec = 1;
    int64_t last = end > start ? end : start;
    if (last > INT64_MAX / NS_PER_SEC - 1 || start < INT64_MIN / NS_PER_SEC + lookback + 1) {
        plan_release(&plan);
        http_reply_json_error(req, 400, "Invalid timestamp format");
        return;
    }
    struct query_limits lim;
    query_limits_for(req, srv, &lim);
    struct logsgo_series *series;
    uint32_t n;
    struct query_stats stats = {0};
    int rc = engine_logsgo_counts(store_chain(srv->store), req->tenant, plan.root,
                                  (last + 1) * NS_PER_SEC, &lim, &req->arena, &series, &n, &stats,
                                  err, sizeof(err));
    plan_release(&plan);
    if (rc < 0) {
        int status = strata_http_status(rc);
        http_reply_json_error(req, status == 200 ? 500 : status, err);
        return;
    }
    struct buf b;
    buf_init(&b, 1u << 30);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_array_begin(&w);
    uint64_t points = 0;
    for (uint32_t i = 0; i < n && points <= MAX_POINTS; i++) {
        const struct logsgo_series *s = &series[i];
        if (instant) {
            int64_t j = latest_at(s, start);
            if (j < 0 || s->sec[j] < start - lookback)
                continue;
            write_series_head(&w, s);
            write_point(&w, s->sec[j], s->count[j]);
            points++;
            jw_array_end(&w);
            jw_object_end(&w);
            continue;
        }
        if (res_sec == 0) {
            /* raw: every sample in [start - lookback, end] */
            bool any = false;
            for (uint32_t k = 0; k < s->n; k++) {
                if (s->sec[k] < start - lookback || s->sec[k] > end)
                    continue;
                if (!any)
                    write_series_head(&w, s);
                any = true;
                write_point(&w, s->sec[k], s->count[k]);
                points++;
            }
            if (any) {
                jw_array_end(&w);
                jw_object_end(&w);
            }
            continue;
        }
        /* range: steps with a sample in [t - lookback, t]; jump over empty stretches */
        bool any = false;
        for (int64_t t = start; t <= end && points <= MAX_POINTS;) {
            int64_t j = latest_at(s, t);
            if (j >= 0 && s->sec[j] >= t - lookback) {
                if (!any)
                    write_series_head(&w, s);
                any = true;
                write_point(&w, t, s->count[j]);
                points++;
                if (t > end - res_sec)
                    break;
                t += res_sec;
                continue;
            }
            /* no sample in the window: go to the first step at or after the next sample */
            if ((uint32_t)(j + 1) >= s->n)
                break;
            int64_t next = s->sec[j + 1];
            int64_t k = (next - start + res_sec - 1) / res_sec;
            int64_t nt = start + k * res_sec;
            if (nt <= t)
                nt = t + res_sec;
            t = nt;
        }
        if (any) {
            jw_array_end(&w);
            jw_object_end(&w);
        }
    }
    jw_array_end(&w);
    if (points > MAX_POINTS) {
        buf_release(&b);
        http_reply_json_error(req, 400, "Invalid resolution format");
        return;
    }
    if (w.rc < 0) {
        buf_release(&b);
        http_reply_json_error(req, 500, "response too large");
        return;
    }
    http_reply_buf(req, 200, "application/json; charset=utf-8", &b);
    buf_release(&b);
}

struct lg_labels {
    struct arena *a;
    struct label *v; /* every (name, value) seen, service/level included */
    uint32_t n, cap;
};

static int on_lg_series(void *arg, const struct tier_stream *s)
{
    struct lg_labels *l = arg;
    const struct slice *service = labels_get(s->labels, s->n_labels, "service");
    for (uint32_t i = 0; i < s->n_labels; i++) {
        if (service && derived_label(&s->labels[i], *service))
            continue;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 64;
            l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
        }
        l->v[l->n++] = (struct label){arena_slice_dup(l->a, s->labels[i].name),
                                      arena_slice_dup(l->a, s->labels[i].value)};
    }
    return 0;
}

static int cmp_nv(const void *a, const void *b)
{
    const struct label *x = a, *y = b;
    int c = slice_cmp(x->name, y->name);
    return c ? c : slice_cmp(x->value, y->value);
}

static void write_values(struct json_writer *w, const struct label *v, uint32_t n, const char *name)
{
    jw_array_begin(w);
    for (uint32_t i = 0; i < n; i++)
        if (slice_eq_str(v[i].name, name) && (i == 0 || !slice_eq(v[i].name, v[i - 1].name) ||
                                              !slice_eq(v[i].value, v[i - 1].value)))
            jw_string_slice(w, v[i].value);
    jw_array_end(w);
}

HANDLER(h_logsgo_labels)
{
    struct server *srv = ctx;
    struct lg_labels l = {.a = &req->arena};
    const char **tenants;
    uint32_t nt = engine_tenants(req->tenant, &req->arena, &tenants);
    struct arena tmp;
    arena_init(&tmp, 0);
    int rc = 0;
    for (uint32_t ti = 0; ti < nt && !rc; ti++)
        for (struct tier *t = store_chain(srv->store); t && !rc; t = t->next) {
            struct tier_query tq = {.tenant = tenants[ti], .start = INT64_MIN, .end = INT64_MAX};
            rc = t->ops->series(t, &tq, &tmp, on_lg_series, &l);
        }
    arena_release(&tmp);
    if (rc < 0) {
        free(l.v);
        http_reply_json_error(req, 500, "Failed to fetch labels");
        return;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), cmp_nv);
    struct buf b;
    buf_init(&b, 1u << 26);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "Services");
    write_values(&w, l.v, l.n, "service");
    jw_key(&w, "Levels");
    write_values(&w, l.v, l.n, "level");
    jw_key(&w, "CustomLabels");
    jw_object_begin(&w);
    for (uint32_t i = 0; i < l.n;) {
        uint32_t j = i;
        while (j < l.n && slice_eq(l.v[j].name, l.v[i].name))
            j++;
        if (!slice_eq_str(l.v[i].name, "service") && !slice_eq_str(l.v[i].name, "level")) {
            jw_key_slice(&w, l.v[i].name);
            jw_array_begin(&w);
            for (uint32_t k = i; k < j; k++)
                if (k == i || !slice_eq(l.v[k].value, l.v[k - 1].value))
                    jw_string_slice(&w, l.v[k].value);
            jw_array_end(&w);
        }
        i = j;
    }
    jw_object_end(&w);
    jw_object_end(&w);
    free(l.v);
    if (w.rc < 0) {
        buf_release(&b);
        http_reply_json_error(req, 500, "Failed to fetch labels");
        return;
    }
    http_reply_buf(req, 200, "application/json; charset=utf-8", &b);
    buf_release(&b);
}
