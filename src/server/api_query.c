/*
 * api_query.c - Loki's query API (first slice: query_range for log queries).
 *
 * Parameters follow pkg/loghttp/params.go: start/end/time as float seconds,
 * integer seconds (<= 10 digits), integer nanoseconds or RFC3339; empty
 * values count as absent; defaults end = now, start = end - 1h (from now if
 * end is in the future), limit 100, direction backward. The response is
 * written in Loki's exact shape and key order: status, then data with
 * resultType before result and stats last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "query/engine.h"
#include "server/handlers.h"
#include "server/server.h"

#define MAX_ENTRIES_LIMIT 5000

struct range_params {
    struct slice query;
    int64_t start, end, step;
    uint32_t limit;
    bool backward;
};

static int time_param(struct http_req *req, const char *name, int64_t def, int64_t *out)
{
    const char *v = http_param(req, name);
    if (!v) {
        *out = def;
        return 0;
    }
    if (clock_parse_loki_time(slice_from(v), out) < 0) {
        http_reply_text(req, 400, "invalid %s parameter: cannot parse \"%s\" to a valid timestamp",
                        name, v);
        return STRATA_EINVAL;
    }
    return 0;
}

/* Parse and validate query_range parameters; replies itself on error. */
static int parse_range(struct http_req *req, struct range_params *p)
{
    const char *q = http_param(req, "query");
    if (!q) {
        http_reply_text(req, 400, "parse error : syntax error: unexpected $end, query is empty");
        return STRATA_EINVAL;
    }
    p->query = slice_from(q);
    int64_t now = clock_now_ns();
    if (time_param(req, "end", now, &p->end) < 0)
        return STRATA_EINVAL;
    int64_t since = NS_PER_HOUR;
    const char *sv = http_param(req, "since");
    if (sv && clock_parse_prom_duration(slice_from(sv), &since) < 0) {
        http_reply_text(req, 400, "invalid since parameter: cannot parse \"%s\"", sv);
        return STRATA_EINVAL;
    }
    int64_t base = p->end > now ? now : p->end;
    if (time_param(req, "start", base - since, &p->start) < 0)
        return STRATA_EINVAL;
    if (p->end < p->start) {
        http_reply_text(req, 400, "end timestamp must not be before or equal to start time");
        return STRATA_EINVAL;
    }
    const char *lv = http_param(req, "limit");
    p->limit = 100;
    if (lv) {
        int64_t l;
        if (clock_parse_int64(slice_from(lv), &l) < 0) {
            http_reply_text(req, 400, "invalid limit parameter: \"%s\" is not an integer", lv);
            return STRATA_EINVAL;
        }
        if (l <= 0) {
            http_reply_text(req, 400, "limit must be a positive value");
            return STRATA_EINVAL;
        }
        if (l > MAX_ENTRIES_LIMIT) {
            http_reply_text(req, 400,
                            "max entries limit per query exceeded, limit > "
                            "max_entries_limit_per_query (%lld > %d)",
                            (long long)l, MAX_ENTRIES_LIMIT);
            return STRATA_EINVAL;
        }
        p->limit = (uint32_t)l;
    }
    const char *dv = http_param(req, "direction");
    p->backward = true;
    if (dv) {
        if (!strcasecmp(dv, "forward")) {
            p->backward = false;
        } else if (strcasecmp(dv, "backward")) {
            http_reply_text(req, 400, "invalid direction '%s'", dv);
            return STRATA_EINVAL;
        }
    }
    const char *stv = http_param(req, "step");
    if (stv) {
        if (clock_parse_step(slice_from(stv), &p->step) < 0) {
            http_reply_text(req, 400, "invalid step parameter: cannot parse \"%s\"", stv);
            return STRATA_EINVAL;
        }
    } else {
        int64_t d = (p->end - p->start) / 250 / NS_PER_SEC;
        p->step = (d > 1 ? d : 1) * NS_PER_SEC;
    }
    if (p->step <= 0) {
        http_reply_text(req, 400,
                        "zero or negative query resolution step widths are not "
                        "accepted. Try a positive integer");
        return STRATA_EINVAL;
    }
    if ((p->end - p->start) / p->step > 11000) {
        http_reply_text(req, 400,
                        "exceeded maximum resolution of 11,000 points per time "
                        "series. Try increasing the value of the step parameter");
        return STRATA_EINVAL;
    }
    return 0;
}

static void write_stats(struct json_writer *w, const struct query_stats *st)
{
    double exec = (double)st->exec_ns / 1e9;
    if (exec <= 0)
        exec = 1e-6;
    jw_key(w, "stats");
    jw_object_begin(w);
    jw_key(w, "summary");
    jw_object_begin(w);
    jw_key(w, "bytesProcessedPerSecond");
    jw_uint(w, (uint64_t)((double)st->bytes_processed / exec));
    jw_key(w, "linesProcessedPerSecond");
    jw_uint(w, (uint64_t)((double)st->lines_processed / exec));
    jw_key(w, "totalBytesProcessed");
    jw_uint(w, st->bytes_processed);
    jw_key(w, "totalLinesProcessed");
    jw_uint(w, st->lines_processed);
    jw_key(w, "execTime");
    jw_double(w, exec);
    jw_key(w, "queueTime");
    jw_double(w, 0);
    jw_key(w, "totalEntriesReturned");
    jw_uint(w, st->entries_returned);
    jw_object_end(w);
    jw_object_end(w);
}

static void write_label_map(struct json_writer *w, const struct label *v, uint32_t n)
{
    jw_object_begin(w);
    for (uint32_t i = 0; i < n; i++) {
        jw_key_slice(w, v[i].name);
        jw_string_slice(w, v[i].value);
    }
    jw_object_end(w);
}

static void write_ts(struct json_writer *w, int64_t ts)
{
    char t[24];
    snprintf(t, sizeof(t), "%lld", (long long)ts);
    jw_string(w, t);
}

/* Stream labels merged with an entry's metadata (metadata does not override). */
static uint32_t merge_meta(struct arena *a, const struct result_stream *rs, struct slice meta,
                           struct label **out)
{
    struct label *mv = NULL;
    uint32_t mn = 0;
    if (meta.len && labels_decode(meta, a, &mv, &mn) < 0)
        mn = 0;
    struct label *v = arena_alloc(a, (rs->n_labels + mn + 1) * sizeof(*v));
    uint32_t n = 0;
    for (uint32_t i = 0; i < rs->n_labels; i++)
        v[n++] = rs->labels[i];
    for (uint32_t i = 0; i < mn; i++)
        if (!labels_get(rs->labels, rs->n_labels, arena_slice_str(a, mv[i].name)))
            v[n++] = mv[i];
    labels_sort(v, n);
    *out = v;
    return n;
}

static void write_streams(struct json_writer *w, struct arena *a, const struct log_result *res,
                          bool categorize)
{
    jw_array_begin(w);
    for (uint32_t s = 0; s < res->n_streams; s++) {
        const struct result_stream *rs = &res->streams[s];
        if (categorize) {
            jw_object_begin(w);
            jw_key(w, "stream");
            write_label_map(w, rs->labels, rs->n_labels);
            jw_key(w, "values");
            jw_array_begin(w);
            for (uint32_t i = 0; i < rs->n; i++) {
                jw_array_begin(w);
                write_ts(w, rs->ts[i]);
                jw_string_slice(w, rs->lines[i]);
                jw_object_begin(w);
                struct label *mv;
                uint32_t mn = 0;
                if (rs->meta[i].len && labels_decode(rs->meta[i], a, &mv, &mn) == 0 && mn) {
                    jw_key(w, "structuredMetadata");
                    write_label_map(w, mv, mn);
                }
                jw_object_end(w);
                jw_array_end(w);
            }
            jw_array_end(w);
            jw_object_end(w);
            continue;
        }
        /* Without the flag, each distinct metadata set is its own stream. */
        bool *done = arena_calloc(a, rs->n ? rs->n : 1, sizeof(bool));
        for (uint32_t i = 0; i < rs->n; i++) {
            if (done[i])
                continue;
            struct label *lv;
            uint32_t ln = merge_meta(a, rs, rs->meta[i], &lv);
            jw_object_begin(w);
            jw_key(w, "stream");
            write_label_map(w, lv, ln);
            jw_key(w, "values");
            jw_array_begin(w);
            for (uint32_t j = i; j < rs->n; j++) {
                if (done[j] || !slice_eq(rs->meta[j], rs->meta[i]))
                    continue;
                done[j] = true;
                jw_array_begin(w);
                write_ts(w, rs->ts[j]);
                jw_string_slice(w, rs->lines[j]);
                jw_array_end(w);
            }
            jw_array_end(w);
            jw_object_end(w);
        }
    }
    jw_array_end(w);
}

static bool categorize_labels(struct http_req *req)
{
    const char *f = http_header(req, "X-Loki-Response-Encoding-Flags");
    return f && strstr(f, "categorize-labels");
}

HANDLER(h_loki_query_range)
{
    struct server *srv = ctx;
    struct range_params p;
    if (parse_range(req, &p) < 0)
        return;
    struct plan plan;
    char err[512];
    if (plan_parse_logql(p.query, &req->arena, &plan, err, sizeof(err)) < 0) {
        http_reply_text(req, 400, "%s", err);
        return;
    }
    struct log_query lq = {
        .tenant = req->tenant,
        .plan = &plan,
        .start = p.start,
        .end = p.end,
        .limit = p.limit,
        .backward = p.backward,
    };
    struct log_result res;
    int rc = engine_log_query(store_chain(srv->store), &lq, &req->arena, &res);
    plan_release(&plan);
    if (rc < 0) {
        http_reply_text(req, strata_http_status(rc), "query failed: %s", strata_strerror(rc));
        return;
    }
    bool cat = categorize_labels(req);
    struct buf b;
    buf_init(&b, 1u << 30);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_string(&w, "success");
    jw_key(&w, "data");
    jw_object_begin(&w);
    jw_key(&w, "resultType");
    jw_string(&w, "streams");
    if (cat) {
        jw_key(&w, "encodingFlags");
        jw_array_begin(&w);
        jw_string(&w, "categorize-labels");
        jw_array_end(&w);
    }
    jw_key(&w, "result");
    write_streams(&w, &req->arena, &res, cat);
    write_stats(&w, &res.stats);
    jw_object_end(&w);
    jw_object_end(&w);
    if (w.rc < 0) {
        buf_release(&b);
        http_reply_text(req, 500, "response too large");
        return;
    }
    http_reply_buf(req, 200, "application/json", &b);
    buf_release(&b);
}
