/*
 * api_query.c - Loki's query API, as Grafana calls it.
 *
 * Parameters follow pkg/loghttp/params.go: start/end/time as float seconds,
 * integer seconds (<= 10 digits), integer nanoseconds or RFC3339; empty
 * values count as absent; defaults end = now, start = end - since (1h; from
 * now if end is in the future; 6h for the metadata endpoints), limit 100,
 * direction backward, step max((end-start)/250, 1) seconds. Responses are
 * written in Loki's exact shape and key order: status, then data with
 * resultType (and encodingFlags) before result and stats last. Errors are
 * Loki's plain-text bodies with its status codes (400 bad input or limits,
 * 499 client gone, 504 timeout).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/json.h"
#include "query/eval.h"
#include "query/pipeline.h"
#include "query/regex.h"
#include "query/template.h"
#include "ingest/ingest.h"
#include "server/handlers.h"
#include "server/query_api.h"
#include "server/server.h"

#define METADATA_DEFAULT_SINCE (6 * NS_PER_HOUR)

/* ---------------------------------------------------------------- shared */

static bool client_gone(void *arg)
{
    return http_client_gone(arg);
}

const struct tenant_limits *query_tenant_limits(const char *tenant, const struct server *srv,
                                                struct tenant_limits *scratch)
{
    return limits_table_query(ingest_limits_table(srv->ingest), tenant, scratch);
}

void query_limits_for(struct http_req *req, const struct server *srv, struct query_limits *lim)
{
    const struct config *cfg = srv->cfg;
    struct tenant_limits scratch;
    const struct tenant_limits *tl = query_tenant_limits(req->tenant, srv, &scratch);
    memset(lim, 0, sizeof(*lim));
    if (tl->query_timeout_ns > 0)
        lim->deadline_ns = (req->start_ns ? req->start_ns : clock_mono_ns()) + tl->query_timeout_ns;
    lim->max_memory = cfg->query_max_memory > 0 ? (size_t)cfg->query_max_memory : 0;
    lim->parallelism = (int)tl->query_parallelism;
    lim->gone = client_gone;
    lim->gone_arg = req;
    lim->max_series = tl->max_query_series > 0 ? (uint32_t)tl->max_query_series : 0;
    if (cfg->query_regex_match_limit > 0)
        regex_set_match_limit((unsigned long)cfg->query_regex_match_limit);
}

void write_label_map(struct json_writer *w, const struct label *v, uint32_t n)
{
    jw_object_begin(w);
    for (uint32_t i = 0; i < n; i++) {
        jw_key_slice(w, v[i].name);
        jw_string_slice(w, v[i].value);
    }
    jw_object_end(w);
}

static void write_ns(struct json_writer *w, int64_t ts)
{
    char t[24];
    snprintf(t, sizeof(t), "%lld", (long long)ts);
    jw_string(w, t);
}

void write_log_streams(struct json_writer *w, const struct log_result *res, bool categorize)
{
    jw_array_begin(w);
    for (uint32_t s = 0; s < res->n_streams; s++) {
        const struct result_stream *rs = &res->streams[s];
        jw_object_begin(w);
        jw_key(w, "stream");
        write_label_map(w, rs->labels, rs->n_labels);
        jw_key(w, "values");
        jw_array_begin(w);
        for (uint32_t i = 0; i < rs->n; i++) {
            const struct result_entry *e = &rs->e[i];
            jw_array_begin(w);
            write_ns(w, e->ts);
            jw_string_slice(w, e->line);
            if (categorize) {
                jw_object_begin(w);
                if (e->n_meta) {
                    jw_key(w, "structuredMetadata");
                    write_label_map(w, e->meta, e->n_meta);
                }
                if (e->n_parsed) {
                    jw_key(w, "parsed");
                    write_label_map(w, e->parsed, e->n_parsed);
                }
                jw_object_end(w);
            }
            jw_array_end(w);
        }
        jw_array_end(w);
        jw_object_end(w);
    }
    jw_array_end(w);
}

/* A sample time as Prometheus writes model.Time: seconds with millisecond precision. */
static void write_sample_time(struct json_writer *w, int64_t ns)
{
    int64_t ms = ns / NS_PER_MS - (ns % NS_PER_MS < 0);
    char t[64];
    size_t n = go_format_float_f((double)ms / 1000.0, t);
    jw_raw(w, t, n);
}

static void write_sample_value(struct json_writer *w, double v)
{
    char t[400];
    go_format_float_f(v, t);
    jw_string(w, t);
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
    jw_key(w, "querier");
    jw_object_begin(w);
    jw_key(w, "store");
    jw_object_begin(w);
    jw_key(w, "totalChunksRef");
    jw_uint(w, st->read.blocks_total);
    jw_key(w, "totalChunksDownloaded");
    jw_uint(w, st->read.blocks_read);
    jw_key(w, "chunk");
    jw_object_begin(w);
    jw_key(w, "compressedBytes");
    jw_uint(w, st->read.bytes_read);
    jw_key(w, "decompressedBytes");
    jw_uint(w, st->read.bytes_decompressed);
    jw_key(w, "decompressedLines");
    jw_uint(w, st->read.entries_read);
    jw_key(w, "totalDuplicates");
    jw_uint(w, 0);
    jw_object_end(w);
    jw_object_end(w);
    jw_object_end(w);
    jw_key(w, "streams");
    jw_uint(w, st->streams);
    jw_object_end(w);
}

static void reply_json(struct http_req *req, struct buf *b, struct json_writer *w)
{
    if (w->rc < 0) {
        buf_release(b);
        http_reply_text(req, 500, "response too large");
        return;
    }
    http_reply_buf(req, 200, "application/json; charset=utf-8", b);
    buf_release(b);
}

static void reply_query_error(struct http_req *req, int rc, const char *msg)
{
    int status = strata_http_status(rc);
    if (rc == STRATA_ELIMIT || rc == STRATA_EPARSE || rc == STRATA_EINVAL)
        status = 400;
    http_reply_text(req, status, "%s", msg && msg[0] ? msg : strata_strerror(rc));
}

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

/*
 * start/end with since, within the tenant's max_query_length; replies itself
 * on error.
 */
static int time_range(struct http_req *req, const struct server *srv, int64_t default_since,
                      int64_t *start, int64_t *end)
{
    int64_t now = clock_now_ns();
    if (time_param(req, "end", now, end) < 0)
        return STRATA_EINVAL;
    int64_t since = default_since;
    const char *sv = http_param(req, "since");
    if (sv && clock_parse_prom_duration(slice_from(sv), &since) < 0) {
        http_reply_text(req, 400, "invalid since parameter: cannot parse \"%s\"", sv);
        return STRATA_EINVAL;
    }
    int64_t base = *end > now ? now : *end;
    if (time_param(req, "start", base - since, start) < 0)
        return STRATA_EINVAL;
    if (*end < *start) {
        http_reply_text(req, 400, "end timestamp must not be before or equal to start time");
        return STRATA_EINVAL;
    }
    struct tenant_limits scratch;
    const struct tenant_limits *tl = query_tenant_limits(req->tenant, srv, &scratch);
    if (tl->max_query_length_ns > 0 && *end - *start > tl->max_query_length_ns) {
        char got[64], lim[64];
        clock_format_duration(*end - *start, got, sizeof(got));
        clock_format_duration(tl->max_query_length_ns, lim, sizeof(lim));
        http_reply_text(req, 400,
                        "the query time range exceeds the limit (query length: %s, limit: %s)", got,
                        lim);
        return STRATA_EINVAL;
    }
    return 0;
}

/* The first range aggregation of e longer than max_ns, or NULL. */
static const struct expr *range_over(const struct expr *e, int64_t max_ns)
{
    if (!e)
        return NULL;
    if (e->kind == EXPR_RANGE && e->range > max_ns)
        return e;
    const struct expr *r = range_over(e->arg, max_ns);
    if (!r)
        r = range_over(e->lhs, max_ns);
    if (!r)
        r = range_over(e->rhs, max_ns);
    return r;
}

/* The tenant's max_query_range over the [range]s of a metric query; replies itself on error. */
static int range_limit(struct http_req *req, const struct server *srv, const struct plan *plan)
{
    struct tenant_limits scratch;
    const struct tenant_limits *tl = query_tenant_limits(req->tenant, srv, &scratch);
    const struct expr *e =
        tl->max_query_range_ns > 0 ? range_over(plan->root, tl->max_query_range_ns) : NULL;
    if (!e)
        return 0;
    char got[64], lim[64];
    clock_format_duration(e->range, got, sizeof(got));
    clock_format_duration(tl->max_query_range_ns, lim, sizeof(lim));
    http_reply_text(req, 400,
                    "[interval] value exceeds limit: the range [%s] is longer than "
                    "max_query_range (%s)",
                    got, lim);
    return STRATA_EINVAL;
}

static int limit_param(struct http_req *req, const struct server *srv, const char *name,
                       uint32_t def, uint32_t *out)
{
    struct tenant_limits scratch;
    const struct tenant_limits *tl = query_tenant_limits(req->tenant, srv, &scratch);
    const char *lv = http_param(req, name);
    *out = def;
    if (!lv)
        return 0;
    int64_t l;
    if (clock_parse_int64(slice_from(lv), &l) < 0) {
        http_reply_text(req, 400, "invalid %s parameter: \"%s\" is not an integer", name, lv);
        return STRATA_EINVAL;
    }
    if (l <= 0) {
        http_reply_text(req, 400, "limit must be a positive value");
        return STRATA_EINVAL;
    }
    int64_t max = tl->max_entries_per_query;
    if (max > 0 && l > max && !strcmp(name, "limit")) {
        http_reply_text(req, 400,
                        "max entries limit per query exceeded, limit > "
                        "max_entries_limit_per_query (%lld > %lld)",
                        (long long)l, (long long)max);
        return STRATA_EINVAL;
    }
    *out = l > UINT32_MAX ? UINT32_MAX : (uint32_t)l;
    return 0;
}

/*
 * The optional "limit" of the index and detection endpoints into *limit
 * (which holds the default): a positive integer, at most 100000. Replies 400
 * and returns STRATA_EINVAL otherwise.
 */
static int capped_limit_param(struct http_req *req, uint32_t *limit)
{
    const char *lv = http_param(req, "limit");
    if (!lv)
        return 0;
    int64_t l;
    if (clock_parse_int64(slice_from(lv), &l) < 0 || l <= 0) {
        http_reply_text(req, 400, "limit must be a positive value");
        return STRATA_EINVAL;
    }
    *limit = l > 100000 ? 100000 : (uint32_t)l;
    return 0;
}

static int direction_param(struct http_req *req, bool *backward)
{
    const char *dv = http_param(req, "direction");
    *backward = true;
    if (!dv)
        return 0;
    if (!strcasecmp(dv, "forward")) {
        *backward = false;
    } else if (strcasecmp(dv, "backward")) {
        http_reply_text(req, 400, "invalid direction '%s'", dv);
        return STRATA_EINVAL;
    }
    return 0;
}

static int step_param(struct http_req *req, int64_t start, int64_t end, int64_t *step)
{
    const char *stv = http_param(req, "step");
    if (stv) {
        if (clock_parse_step(slice_from(stv), step) < 0) {
            http_reply_text(req, 400, "invalid step parameter: cannot parse \"%s\"", stv);
            return STRATA_EINVAL;
        }
    } else {
        int64_t d = (end - start) / 250 / NS_PER_SEC;
        *step = (d > 1 ? d : 1) * NS_PER_SEC;
    }
    if (*step <= 0) {
        http_reply_text(req, 400,
                        "zero or negative query resolution step widths are not accepted. Try a "
                        "positive integer");
        return STRATA_EINVAL;
    }
    if ((end - start) / *step > 11000) {
        http_reply_text(req, 400,
                        "exceeded maximum resolution of 11,000 points per time series. Try "
                        "increasing the value of the step parameter");
        return STRATA_EINVAL;
    }
    return 0;
}

static bool categorize_labels(struct http_req *req)
{
    const char *f = http_header(req, "X-Loki-Response-Encoding-Flags");
    return f && strstr(f, "categorize-labels");
}

/* Parse the query parameter; replies itself on error. */
static int parse_query(struct http_req *req, struct plan *plan, bool required)
{
    const char *q = http_param(req, "query");
    if (!q) {
        if (!required) {
            memset(plan, 0, sizeof(*plan));
            return 0;
        }
        http_reply_text(req, 400, "parse error : syntax error: unexpected $end");
        return STRATA_EINVAL;
    }
    char err[1024];
    if (plan_parse_logql(slice_from(q), &req->arena, plan, err, sizeof(err)) < 0) {
        http_reply_text(req, 400, "%s", err);
        return STRATA_EPARSE;
    }
    return 0;
}

/* The first log expression of a plan (the selectors a metadata query restricts to). */
static const struct expr *first_log(const struct expr *e)
{
    if (!e)
        return NULL;
    switch (e->kind) {
    case EXPR_LOG:
    case EXPR_RANGE: return e;
    case EXPR_VECAGG:
    case EXPR_LABEL_REPLACE: return first_log(e->arg);
    case EXPR_BINARY: {
        const struct expr *l = first_log(e->lhs);
        return l ? l : first_log(e->rhs);
    }
    default: return NULL;
    }
}

/* ---------------------------------------------------------------- metric encoding */

static void write_metric_result(struct json_writer *w, const struct metric_result *mr, bool instant)
{
    const struct matrix *m = &mr->m;
    if (instant && m->scalar) {
        jw_key(w, "resultType");
        jw_string(w, "scalar");
        jw_key(w, "result");
        jw_array_begin(w);
        write_sample_time(w, mr->start);
        write_sample_value(w, m->n ? m->s[0].v[0] : 0);
        jw_array_end(w);
        return;
    }
    jw_key(w, "resultType");
    jw_string(w, instant ? "vector" : "matrix");
    jw_key(w, "result");
    jw_array_begin(w);
    if (instant) {
        /* the order of an instant vector: by labels, or by value after sort/topk */
        uint32_t *idx = xmallocarray(m->n ? m->n : 1, sizeof(uint32_t));
        uint32_t n = 0;
        for (uint32_t i = 0; i < m->n; i++)
            if (m->s[i].has[0])
                idx[n++] = i;
        if (mr->order != ORDER_LABELS) {
            for (uint32_t i = 1; i < n; i++) {
                uint32_t x = idx[i], j = i;
                double xv = m->s[x].v[0];
                while (j > 0) {
                    double pv = m->s[idx[j - 1]].v[0];
                    bool before = mr->order == ORDER_VALUE_ASC ? xv < pv : xv > pv;
                    if (!before)
                        break;
                    idx[j] = idx[j - 1];
                    j--;
                }
                idx[j] = x;
            }
        }
        for (uint32_t k = 0; k < n; k++) {
            const struct series *s = &m->s[idx[k]];
            jw_object_begin(w);
            jw_key(w, "metric");
            write_label_map(w, s->labels, s->n_labels);
            jw_key(w, "value");
            jw_array_begin(w);
            write_sample_time(w, mr->start);
            write_sample_value(w, s->v[0]);
            jw_array_end(w);
            jw_object_end(w);
        }
        free(idx);
    } else {
        for (uint32_t i = 0; i < m->n; i++) {
            const struct series *s = &m->s[i];
            jw_object_begin(w);
            jw_key(w, "metric");
            write_label_map(w, s->labels, s->n_labels);
            jw_key(w, "values");
            jw_array_begin(w);
            for (uint32_t k = 0; k < m->n_steps; k++) {
                if (!s->has[k])
                    continue;
                jw_array_begin(w);
                write_sample_time(w, mr->start + (int64_t)k * mr->step);
                write_sample_value(w, s->v[k]);
                jw_array_end(w);
            }
            jw_array_end(w);
            jw_object_end(w);
        }
    }
    jw_array_end(w);
}

static void run_metric(struct http_req *req, struct server *srv, const struct plan *plan,
                       int64_t start, int64_t end, int64_t step, bool instant)
{
    if (range_limit(req, srv, plan) < 0)
        return;
    struct metric_query mq = {
        .tenant = req->tenant, .plan = plan, .start = start, .end = end, .step = step};
    query_limits_for(req, srv, &mq.lim);
    struct metric_result mr;
    char err[2048];
    int64_t t0 = clock_mono_ns();
    int rc = eval_metric_query(store_chain(srv->store), &mq, &req->arena, &mr, err, sizeof(err));
    if (rc < 0) {
        reply_query_error(req, rc, err);
        return;
    }
    mr.stats.exec_ns = clock_mono_ns() - t0;
    struct buf b;
    buf_init(&b, 1u << 30);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_string(&w, "success");
    jw_key(&w, "data");
    jw_object_begin(&w);
    write_metric_result(&w, &mr, instant);
    write_stats(&w, &mr.stats);
    jw_object_end(&w);
    jw_object_end(&w);
    reply_json(req, &b, &w);
}

/* ---------------------------------------------------------------- query, query_range */

HANDLER(h_loki_query_range)
{
    struct server *srv = ctx;
    int64_t start, end, step;
    uint32_t limit;
    bool backward;
    const char *q = http_param(req, "query");
    if (!q) {
        http_reply_text(req, 400, "parse error : syntax error: unexpected $end");
        return;
    }
    if (time_range(req, srv, NS_PER_HOUR, &start, &end) < 0 ||
        limit_param(req, srv, "limit", 100, &limit) < 0 || direction_param(req, &backward) < 0 ||
        step_param(req, start, end, &step) < 0)
        return;
    struct plan plan;
    if (parse_query(req, &plan, true) < 0)
        return;
    if (plan_is_metric(&plan)) {
        run_metric(req, srv, &plan, start, end, step, false);
        plan_release(&plan);
        return;
    }
    bool cat = categorize_labels(req);
    struct log_query lq = {
        .tenant = req->tenant,
        .log = plan.root,
        .start = start,
        .end = end,
        .limit = limit,
        .backward = backward,
        .categorize = cat,
    };
    query_limits_for(req, srv, &lq.lim);
    struct log_result res;
    char err[2048];
    int rc = engine_log_query(store_chain(srv->store), &lq, &req->arena, &res, err, sizeof(err));
    plan_release(&plan);
    if (rc < 0) {
        reply_query_error(req, rc, err);
        return;
    }
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
    write_log_streams(&w, &res, cat);
    write_stats(&w, &res.stats);
    jw_object_end(&w);
    jw_object_end(&w);
    reply_json(req, &b, &w);
}

HANDLER(h_loki_query)
{
    struct server *srv = ctx;
    int64_t t;
    uint32_t limit;
    bool backward;
    if (!http_param(req, "query")) {
        http_reply_text(req, 400, "parse error : syntax error: unexpected $end");
        return;
    }
    if (time_param(req, "time", clock_now_ns(), &t) < 0 ||
        limit_param(req, srv, "limit", 100, &limit) < 0 || direction_param(req, &backward) < 0)
        return;
    struct plan plan;
    if (parse_query(req, &plan, true) < 0)
        return;
    if (!plan_is_metric(&plan)) {
        plan_release(&plan);
        http_reply_text(req, 400,
                        "log queries are not supported as an instant query type, "
                        "please change your query to a range query type");
        return;
    }
    run_metric(req, srv, &plan, t, t, NS_PER_SEC, true);
    plan_release(&plan);
}

/* ---------------------------------------------------------------- series, labels */

/* Unique streams (by key) from every tier and tenant matching any selector. */
struct stream_set {
    struct arena *a;
    struct label **labels;
    uint32_t *n_labels;
    struct slice *keys;
    uint64_t *hash;
    uint32_t n, cap;
    uint32_t *table;
    uint32_t table_cap;
    const char *tenant; /* add __tenant_id__ when set */
};

static void sset_add(struct stream_set *s, const struct label *v, uint32_t n, struct slice key)
{
    uint64_t h = hash64(key.ptr, key.len);
    if (s->n * 2 >= s->table_cap) {
        uint32_t nc = s->table_cap ? s->table_cap * 2 : 256;
        uint32_t *t = xcalloc(nc, sizeof(uint32_t));
        for (uint32_t i = 0; i < s->n; i++) {
            uint32_t k = (uint32_t)s->hash[i] & (nc - 1);
            while (t[k])
                k = (k + 1) & (nc - 1);
            t[k] = i + 1;
        }
        free(s->table);
        s->table = t;
        s->table_cap = nc;
    }
    uint32_t k = (uint32_t)h & (s->table_cap - 1);
    while (s->table[k]) {
        uint32_t i = s->table[k] - 1;
        if (s->hash[i] == h && slice_eq(s->keys[i], key))
            return;
        k = (k + 1) & (s->table_cap - 1);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->labels = xreallocarray(s->labels, s->cap, sizeof(*s->labels));
        s->n_labels = xreallocarray(s->n_labels, s->cap, sizeof(*s->n_labels));
        s->keys = xreallocarray(s->keys, s->cap, sizeof(*s->keys));
        s->hash = xreallocarray(s->hash, s->cap, sizeof(*s->hash));
    }
    struct label *c = arena_alloc(s->a, (n + 1) * sizeof(*c));
    uint32_t m = 0;
    bool put = !s->tenant;
    for (uint32_t i = 0; i < n; i++) {
        if (!put && slice_cmp(v[i].name, SLICE_LIT("__tenant_id__")) > 0) {
            c[m++] = (struct label){SLICE_LIT("__tenant_id__"), slice_from(s->tenant)};
            put = true;
        }
        c[m].name = arena_slice_dup(s->a, v[i].name);
        c[m++].value = arena_slice_dup(s->a, v[i].value);
    }
    if (!put)
        c[m++] = (struct label){SLICE_LIT("__tenant_id__"), slice_from(s->tenant)};
    s->labels[s->n] = c;
    s->n_labels[s->n] = m;
    s->keys[s->n] = arena_slice_dup(s->a, key);
    s->hash[s->n] = h;
    s->table[k] = ++s->n;
}

static void sset_free(struct stream_set *s)
{
    free(s->labels);
    free(s->n_labels);
    free(s->keys);
    free(s->hash);
    free(s->table);
}

static int on_series(void *arg, const struct tier_stream *ts)
{
    struct stream_set *s = arg;
    struct slice key = ts->key;
    if (s->tenant) {
        /* the tenant is part of the identity */
        char *k = arena_printf(s->a, "%s%.*s", s->tenant, (int)key.len, key.ptr);
        key = slice_from(k);
    }
    sset_add(s, ts->labels, ts->n_labels, key);
    return 0;
}

/* Collect the streams matching sels (NULL or n == 0: every stream) over [start, end]. */
static int collect_series(struct server *srv, const char *tenant_spec,
                          const struct selector *const *sels, uint32_t n_sels, int64_t start,
                          int64_t end, struct stream_set *out)
{
    const char **tenants;
    uint32_t nt = engine_tenants(tenant_spec, out->a, &tenants);
    struct arena tmp;
    arena_init(&tmp, 0);
    int rc = 0;
    for (uint32_t ti = 0; ti < nt && !rc; ti++) {
        out->tenant = nt > 1 ? tenants[ti] : NULL;
        for (uint32_t si = 0; si < (n_sels ? n_sels : 1) && !rc; si++) {
            for (struct tier *t = store_chain(srv->store); t && !rc; t = t->next) {
                struct tier_query tq = {
                    .tenant = tenants[ti],
                    .sel = n_sels ? sels[si] : NULL,
                    .start = start,
                    .end = end == INT64_MAX ? end : end + 1,
                };
                rc = t->ops->series(t, &tq, &tmp, on_series, out);
            }
        }
    }
    arena_release(&tmp);
    return rc;
}

/* The selectors of the query parameter (NULL: none given). Replies on error. */
static int query_selectors(struct http_req *req, struct plan *plan, const struct selector ***sels,
                           uint32_t *n)
{
    *sels = NULL;
    *n = 0;
    if (parse_query(req, plan, false) < 0)
        return STRATA_EINVAL;
    const struct expr *l = first_log(plan->root);
    if (!l)
        return 0;
    const struct selector **v = arena_alloc(&req->arena, l->n_log * sizeof(*v));
    for (uint32_t i = 0; i < l->n_log; i++)
        v[i] = &l->log[i].sel;
    *sels = v;
    *n = l->n_log;
    return 0;
}

static int cmp_slice(const void *a, const void *b)
{
    return slice_cmp(*(const struct slice *)a, *(const struct slice *)b);
}

/* Sorted unique names (values == NULL) or values of name. */
static void reply_name_list(struct http_req *req, struct stream_set *s, const char *name)
{
    uint32_t cap = 64, n = 0;
    struct slice *v = xmallocarray(cap, sizeof(*v));
    for (uint32_t i = 0; i < s->n; i++)
        for (uint32_t j = 0; j < s->n_labels[i]; j++) {
            const struct label *l = &s->labels[i][j];
            struct slice item;
            if (name) {
                if (!slice_eq_str(l->name, name))
                    continue;
                item = l->value;
            } else {
                item = l->name;
            }
            if (n == cap) {
                cap *= 2;
                v = xreallocarray(v, cap, sizeof(*v));
            }
            v[n++] = item;
        }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_slice);
    struct buf b;
    buf_init(&b, 1u << 30);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_string(&w, "success");
    jw_key(&w, "data");
    jw_array_begin(&w);
    for (uint32_t i = 0; i < n; i++)
        if (i == 0 || !slice_eq(v[i], v[i - 1]))
            jw_string_slice(&w, v[i]);
    jw_array_end(&w);
    jw_object_end(&w);
    free(v);
    reply_json(req, &b, &w);
}

/*
 * The streams of the metadata endpoints (labels, label values, detected
 * labels): the request's time range (default METADATA_DEFAULT_SINCE) and its
 * optional query's selectors, collected into s. On error replies, leaves s
 * empty and returns < 0.
 */
static int metadata_series(struct http_req *req, struct server *srv, struct stream_set *s)
{
    int64_t start, end;
    if (time_range(req, srv, METADATA_DEFAULT_SINCE, &start, &end) < 0)
        return STRATA_EINVAL;
    struct plan plan;
    const struct selector **sels;
    uint32_t ns;
    if (query_selectors(req, &plan, &sels, &ns) < 0)
        return STRATA_EINVAL;
    int rc = collect_series(srv, req->tenant, sels, ns, start, end, s);
    plan_release(&plan);
    if (rc < 0) {
        sset_free(s);
        reply_query_error(req, rc, NULL);
    }
    return rc < 0 ? rc : 0;
}

HANDLER(h_loki_labels)
{
    struct server *srv = ctx;
    struct stream_set s = {.a = &req->arena};
    if (metadata_series(req, srv, &s) < 0)
        return;
    reply_name_list(req, &s, NULL);
    sset_free(&s);
}

/* /loki/api/v1/label/<name>/values: the name from the path (NULL if malformed). */
static char *path_name(struct http_req *req, const char *prefix, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(req->path);
    if (n <= pl + sl || strncmp(req->path, prefix, pl) || strcmp(req->path + n - sl, suffix))
        return NULL;
    return arena_strndup(&req->arena, req->path + pl, n - pl - sl);
}

HANDLER(h_loki_label_values)
{
    struct server *srv = ctx;
    char *name = path_name(req, "/loki/api/v1/label/", "/values");
    if (!name || !name[0] || strchr(name, '/')) {
        http_reply_text(req, 404, "404 page not found: no route for %s", req->path);
        return;
    }
    struct stream_set s = {.a = &req->arena};
    if (metadata_series(req, srv, &s) < 0)
        return;
    reply_name_list(req, &s, name);
    sset_free(&s);
}

static int cmp_idx_key(const void *a, const void *b, void *arg)
{
    const struct stream_set *s = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return slice_cmp(s->keys[x], s->keys[y]);
}

HANDLER(h_loki_series)
{
    struct server *srv = ctx;
    const char **match;
    size_t nm = http_params(req, "match[]", &match);
    if (!nm)
        nm = http_params(req, "match", &match);
    if (!nm) {
        http_reply_text(req, 400, "error parsing request: 0 matchers provided");
        return;
    }
    int64_t start, end;
    if (time_range(req, srv, METADATA_DEFAULT_SINCE, &start, &end) < 0)
        return;
    if (nm > 16) {
        http_reply_text(req, 400, "too many match[] parameters: %zu (16 at most)", nm);
        return;
    }
    const struct selector **sels = arena_alloc(&req->arena, 64 * sizeof(*sels));
    uint32_t ns = 0;
    struct plan plans[16];
    uint32_t np = 0;
    int rc = 0;
    for (size_t i = 0; i < nm && np < 16; i++) {
        char err[1024];
        if (plan_parse_logql(slice_from(match[i]), &req->arena, &plans[np], err, sizeof(err)) < 0) {
            http_reply_text(req, 400, "%s", err);
            rc = STRATA_EPARSE;
            break;
        }
        const struct expr *l = first_log(plans[np].root);
        np++;
        for (uint32_t k = 0; l && k < l->n_log && ns < 64; k++)
            sels[ns++] = &l->log[k].sel;
    }
    struct stream_set s = {.a = &req->arena};
    if (!rc)
        rc = collect_series(srv, req->tenant, sels, ns, start, end, &s);
    for (uint32_t i = 0; i < np; i++)
        plan_release(&plans[i]);
    if (rc < 0) {
        sset_free(&s);
        if (!http_replied(req))
            reply_query_error(req, rc, NULL);
        return;
    }
    uint32_t *idx = xmallocarray(s.n ? s.n : 1, sizeof(uint32_t));
    for (uint32_t i = 0; i < s.n; i++)
        idx[i] = i;
    qsort_r(idx, s.n, sizeof(uint32_t), cmp_idx_key, &s);
    struct buf b;
    buf_init(&b, 1u << 30);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_string(&w, "success");
    jw_key(&w, "data");
    jw_array_begin(&w);
    for (uint32_t i = 0; i < s.n; i++)
        write_label_map(&w, s.labels[idx[i]], s.n_labels[idx[i]]);
    jw_array_end(&w);
    jw_object_end(&w);
    free(idx);
    sset_free(&s);
    reply_json(req, &b, &w);
}

/* ---------------------------------------------------------------- index stats and volume */

HANDLER(h_loki_index_stats)
{
    struct server *srv = ctx;
    int64_t start, end;
    if (time_range(req, srv, NS_PER_HOUR, &start, &end) < 0)
        return;
    struct plan plan;
    const struct selector **sels;
    uint32_t ns;
    if (query_selectors(req, &plan, &sels, &ns) < 0)
        return;
    struct stream_set s = {.a = &req->arena};
    int rc = collect_series(srv, req->tenant, sels, ns, start, end, &s);
    struct tier_stats st = {0};
    const char **tenants;
    uint32_t nt = engine_tenants(req->tenant, &req->arena, &tenants);
    for (uint32_t ti = 0; ti < nt && !rc; ti++)
        for (uint32_t si = 0; si < (ns ? ns : 1) && !rc; si++)
            for (struct tier *t = store_chain(srv->store); t && !rc; t = t->next) {
                struct tier_query tq = {.tenant = tenants[ti],
                                        .sel = ns ? sels[si] : NULL,
                                        .start = start,
                                        .end = end + 1};
                struct tier_stats one = {0};
                rc = t->ops->stats(t, &tq, &one);
                st.chunks += one.chunks;
                st.entries += one.entries;
                st.bytes += one.bytes;
            }
    plan_release(&plan);
    if (rc < 0) {
        sset_free(&s);
        reply_query_error(req, rc, NULL);
        return;
    }
    struct buf b;
    buf_init(&b, 4096);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "streams");
    jw_uint(&w, s.n);
    jw_key(&w, "chunks");
    jw_uint(&w, st.chunks);
    jw_key(&w, "entries");
    jw_uint(&w, st.entries);
    jw_key(&w, "bytes");
    jw_uint(&w, st.bytes);
    jw_object_end(&w);
    sset_free(&s);
    reply_json(req, &b, &w);
}

/* Build sum by (labels) (bytes_over_time(<selector> [range])) over the query's selector. */
static struct expr *volume_expr(struct http_req *req, const struct expr *log, int64_t range,
                                bool by_labels_mode)
{
    struct arena *a = &req->arena;
    struct expr *r = arena_calloc(a, 1, sizeof(*r));
    r->kind = EXPR_RANGE;
    r->rop = RANGE_BYTES;
    r->range = range;
    r->n_log = log->n_log;
    r->log = arena_calloc(a, log->n_log, sizeof(*r->log));
    for (uint32_t i = 0; i < log->n_log; i++)
        r->log[i].sel = log->log[i].sel; /* the selector only: volumes count whole streams */
    struct expr *sum = arena_calloc(a, 1, sizeof(*sum));
    sum->kind = EXPR_VECAGG;
    sum->vop = VEC_SUM;
    sum->arg = r;
    sum->grp.present = true;
    const char *targets = http_param(req, "targetLabels");
    uint32_t cap = 16;
    sum->grp.names = arena_alloc(a, cap * sizeof(struct slice));
    if (targets) {
        char *t = arena_strdup(a, targets);
        for (char *p = t; p && *p && sum->grp.n < cap;) {
            char *c = strchr(p, ',');
            if (c)
                *c = '\0';
            struct slice n = slice_trim(slice_from(p));
            if (n.len)
                sum->grp.names[sum->grp.n++] = n;
            p = c ? c + 1 : NULL;
        }
    } else {
        /* Loki groups by the names the selector matches on */
        const struct selector *sel = &log->log[0].sel;
        for (uint32_t i = 0; i < sel->n && sum->grp.n < cap; i++) {
            bool dup = false;
            for (uint32_t j = 0; j < sum->grp.n; j++)
                dup = dup || slice_eq(sum->grp.names[j], sel->m[i].name);
            if (!dup)
                sum->grp.names[sum->grp.n++] = sel->m[i].name;
        }
    }
    (void)by_labels_mode;
    return sum;
}

struct volume_order {
    const struct matrix *m;
    const double *total;
};

static int cmp_volume(const void *a, const void *b, void *arg)
{
    const struct volume_order *o = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (o->total[x] != o->total[y])
        return o->total[x] > o->total[y] ? -1 : 1;
    return engine_labels_cmp(o->m->s[x].labels, o->m->s[x].n_labels, o->m->s[y].labels,
                             o->m->s[y].n_labels);
}

static void volume(struct http_req *req, struct server *srv, bool range)
{
    int64_t start, end, step = 0;
    uint32_t limit = 100;
    if (time_range(req, srv, NS_PER_HOUR, &start, &end) < 0)
        return;
    if (capped_limit_param(req, &limit) < 0)
        return;
    if (range && step_param(req, start, end, &step) < 0)
        return;
    const char *agg = http_param(req, "aggregateBy");
    bool labels_mode = agg && !strcmp(agg, "labels");
    if (agg && strcmp(agg, "labels") && strcmp(agg, "series")) {
        http_reply_text(req, 400, "invalid aggregateBy parameter: %s (use series or labels)", agg);
        return;
    }
    struct plan plan;
    if (parse_query(req, &plan, true) < 0)
        return;
    const struct expr *log = first_log(plan.root);
    if (!log) {
        plan_release(&plan);
        http_reply_text(req, 400, "volume queries need a stream selector");
        return;
    }
    struct plan vp = {0};
    vp.root =
        volume_expr(req, log, range ? step : (end - start > 0 ? end - start : 1), labels_mode);
    struct metric_query mq = {.tenant = req->tenant,
                              .plan = &vp,
                              .start = range ? start : end,
                              .end = end,
                              .step = range ? step : NS_PER_SEC};
    query_limits_for(req, srv, &mq.lim);
    mq.lim.max_series = 0;
    struct metric_result mr;
    char err[2048];
    int rc = eval_metric_query(store_chain(srv->store), &mq, &req->arena, &mr, err, sizeof(err));
    plan_release(&plan);
    if (rc < 0) {
        reply_query_error(req, rc, err);
        return;
    }
    /* biggest volume first, then `limit` of them */
    uint32_t n = mr.m.n;
    uint32_t *idx = xmallocarray(n ? n : 1, sizeof(uint32_t));
    double *total = xcalloc(n ? n : 1, sizeof(double));
    for (uint32_t i = 0; i < n; i++) {
        idx[i] = i;
        for (uint32_t k = 0; k < mr.m.n_steps; k++)
            if (mr.m.s[i].has[k])
                total[i] += mr.m.s[i].v[k];
    }
    struct volume_order vo = {&mr.m, total};
    if (n > 1)
        qsort_r(idx, n, sizeof(uint32_t), cmp_volume, &vo);
    if (n > limit)
        n = limit;
    struct series *sorted = arena_alloc(&req->arena, (n ? n : 1) * sizeof(*sorted));
    for (uint32_t i = 0; i < n; i++)
        sorted[i] = mr.m.s[idx[i]];
    mr.m.s = sorted;
    mr.m.n = n;
    free(idx);
    free(total);
    struct buf b;
    buf_init(&b, 1u << 30);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_string(&w, "success");
    jw_key(&w, "data");
    jw_object_begin(&w);
    mr.order = ORDER_LABELS;
    write_metric_result(&w, &mr, !range);
    jw_object_end(&w);
    jw_object_end(&w);
    reply_json(req, &b, &w);
}

HANDLER(h_loki_index_volume)
{
    volume(req, ctx, false);
}

HANDLER(h_loki_index_volume_range)
{
    volume(req, ctx, true);
}

/* ---------------------------------------------------------------- detected labels */

HANDLER(h_loki_detected_labels)
{
    struct server *srv = ctx;
    struct stream_set s = {.a = &req->arena};
    if (metadata_series(req, srv, &s) < 0)
        return;
    /* (name, value) pairs, sorted, to count distinct values per name */
    uint32_t cap = 64, n = 0;
    struct label *v = xmallocarray(cap, sizeof(*v));
    for (uint32_t i = 0; i < s.n; i++)
        for (uint32_t j = 0; j < s.n_labels[i]; j++) {
            if (n == cap) {
                cap *= 2;
                v = xreallocarray(v, cap, sizeof(*v));
            }
            v[n++] = s.labels[i][j];
        }
    labels_sort(v, n);
    /* labels_sort orders by name only: order values within a name */
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i;
        while (j < n && slice_eq(v[j].name, v[i].name))
            j++;
        for (uint32_t a = i + 1; a < j; a++) {
            struct label x = v[a];
            uint32_t b = a;
            while (b > i && slice_cmp(v[b - 1].value, x.value) > 0) {
                v[b] = v[b - 1];
                b--;
            }
            v[b] = x;
        }
        i = j;
    }
    struct buf b;
    buf_init(&b, 1u << 24);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "detectedLabels");
    jw_array_begin(&w);
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i, card = 0;
        while (j < n && slice_eq(v[j].name, v[i].name)) {
            if (j == i || !slice_eq(v[j].value, v[j - 1].value))
                card++;
            j++;
        }
        if (!slice_has_prefix(v[i].name, "__")) {
            jw_object_begin(&w);
            jw_key(&w, "label");
            jw_string_slice(&w, v[i].name);
            jw_key(&w, "cardinality");
            jw_uint(&w, card);
            jw_object_end(&w);
        }
        i = j;
    }
    jw_array_end(&w);
    jw_object_end(&w);
    free(v);
    sset_free(&s);
    reply_json(req, &b, &w);
}

/* ---------------------------------------------------------------- detected fields */

enum field_type { FT_INT, FT_FLOAT, FT_BOOL, FT_DURATION, FT_BYTES, FT_STRING };
static const char *const field_type_names[] = {"int",      "float", "boolean",
                                               "duration", "bytes", "string"};

static enum field_type detect_type(struct slice v)
{
    int64_t i;
    double d;
    if (clock_parse_int64(v, &i) == 0)
        return FT_INT;
    if (go_parse_float(v, &d, NULL, 0) == 0)
        return FT_FLOAT;
    if (slice_eq_str(v, "true") || slice_eq_str(v, "false") || slice_eq_str(v, "TRUE") ||
        slice_eq_str(v, "FALSE") || slice_eq_str(v, "True") || slice_eq_str(v, "False") ||
        slice_eq_str(v, "t") || slice_eq_str(v, "f") || slice_eq_str(v, "T") ||
        slice_eq_str(v, "F") || slice_eq_str(v, "1") || slice_eq_str(v, "0"))
        return FT_BOOL;
    if (go_parse_duration_seconds(v, &d, NULL, 0) == 0)
        return FT_DURATION;
    if (v.len && isdigit((unsigned char)v.ptr[0]) && go_parse_bytes(v, &d, NULL, 0) == 0)
        return FT_BYTES;
    return FT_STRING;
}

struct dfield {
    struct slice name;
    int type; /* -1 unset */
    bool json, logfmt, meta;
    struct slice *values;
    uint32_t n_values, cap_values;
};

struct dfields {
    struct dfield *v;
    uint32_t n, cap;
    struct arena *a;
};

static struct dfield *dfield_get(struct dfields *f, struct slice name)
{
    for (uint32_t i = 0; i < f->n; i++)
        if (slice_eq(f->v[i].name, name))
            return &f->v[i];
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 32;
        f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
    }
    struct dfield *d = &f->v[f->n++];
    memset(d, 0, sizeof(*d));
    d->name = arena_slice_dup(f->a, name);
    d->type = -1;
    return d;
}

static void dfield_value(struct dfields *f, struct dfield *d, struct slice v)
{
    enum field_type t = detect_type(v);
    if (d->type < 0)
        d->type = (int)t;
    else if (d->type != (int)t)
        d->type = (d->type == FT_INT && t == FT_FLOAT) || (d->type == FT_FLOAT && t == FT_INT)
                      ? FT_FLOAT
                      : FT_STRING;
    for (uint32_t i = 0; i < d->n_values; i++)
        if (slice_eq(d->values[i], v))
            return;
    if (d->n_values >= 10000)
        return;
    if (d->n_values == d->cap_values) {
        d->cap_values = d->cap_values ? d->cap_values * 2 : 8;
        d->values = xreallocarray(d->values, d->cap_values, sizeof(*d->values));
    }
    d->values[d->n_values++] = arena_slice_dup(f->a, v);
}

/* Parse each returned line (json or logfmt, as Loki guesses) and gather its fields. */
static void detect_fields(const struct log_result *res, struct dfields *f)
{
    struct pipe_state ps;
    pipe_state_init(&ps);
    struct stage json = {.kind = STAGE_JSON}, logfmt = {.kind = STAGE_LOGFMT};
    for (uint32_t s = 0; s < res->n_streams; s++) {
        const struct result_stream *rs = &res->streams[s];
        for (uint32_t i = 0; i < rs->n; i++) {
            const struct result_entry *e = &rs->e[i];
            struct slice line = slice_trim(e->line);
            bool is_json = line.len && line.ptr[0] == '{';
            pipe_begin(&ps, rs->labels, rs->n_labels, (struct slice){"", 0});
            struct slice l = e->line;
            pipe_run(&ps, is_json ? &json : &logfmt, 1, e->ts, &l);
            struct label *pv;
            uint32_t np = pipe_labels(&ps, CAT_BIT(CAT_PARSED), &pv);
            for (uint32_t k = 0; k < np; k++) {
                if (slice_has_prefix(pv[k].name, "__"))
                    continue;
                struct dfield *d = dfield_get(f, pv[k].name);
                if (is_json)
                    d->json = true;
                else
                    d->logfmt = true;
                dfield_value(f, d, pv[k].value);
            }
            for (uint32_t k = 0; k < e->n_meta; k++) {
                struct dfield *d = dfield_get(f, e->meta[k].name);
                d->meta = true;
                dfield_value(f, d, e->meta[k].value);
            }
        }
    }
    pipe_state_release(&ps);
}

static int cmp_dfield(const void *a, const void *b)
{
    return slice_cmp(((const struct dfield *)a)->name, ((const struct dfield *)b)->name);
}

static int run_detect(struct http_req *req, struct server *srv, struct dfields *f)
{
    int64_t start, end;
    uint32_t line_limit;
    if (time_range(req, srv, NS_PER_HOUR, &start, &end) < 0 ||
        limit_param(req, srv, "line_limit", 1000, &line_limit) < 0)
        return STRATA_EINVAL;
    struct plan plan;
    if (parse_query(req, &plan, true) < 0)
        return STRATA_EINVAL;
    const struct expr *log = first_log(plan.root);
    if (!log) {
        plan_release(&plan);
        http_reply_text(req, 400, "detected fields need a log query");
        return STRATA_EINVAL;
    }
    struct expr le = *log;
    le.kind = EXPR_LOG;
    struct log_query lq = {.tenant = req->tenant,
                           .log = &le,
                           .start = start,
                           .end = end,
                           .limit = line_limit,
                           .backward = true,
                           .categorize = true};
    query_limits_for(req, srv, &lq.lim);
    struct log_result res;
    char err[2048];
    int rc = engine_log_query(store_chain(srv->store), &lq, &req->arena, &res, err, sizeof(err));
    plan_release(&plan);
    if (rc < 0) {
        reply_query_error(req, rc, err);
        return rc;
    }
    f->a = &req->arena;
    detect_fields(&res, f);
    if (f->n > 1)
        qsort(f->v, f->n, sizeof(*f->v), cmp_dfield);
    return 0;
}

static void dfields_free(struct dfields *f)
{
    for (uint32_t i = 0; i < f->n; i++)
        free(f->v[i].values);
    free(f->v);
}

HANDLER(h_loki_detected_fields)
{
    struct server *srv = ctx;
    uint32_t limit;
    if (limit_param(req, srv, "field_limit", 1000, &limit) < 0)
        return;
    if (capped_limit_param(req, &limit) < 0)
        return;
    struct dfields f = {0};
    if (run_detect(req, srv, &f) < 0) {
        dfields_free(&f);
        return;
    }
    struct buf b;
    buf_init(&b, 1u << 26);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "fields");
    jw_array_begin(&w);
    for (uint32_t i = 0; i < f.n && i < limit; i++) {
        const struct dfield *d = &f.v[i];
        jw_object_begin(&w);
        jw_key(&w, "label");
        jw_string_slice(&w, d->name);
        jw_key(&w, "type");
        jw_string(&w, field_type_names[d->type < 0 ? FT_STRING : d->type]);
        jw_key(&w, "cardinality");
        jw_uint(&w, d->n_values);
        jw_key(&w, "parsers");
        if (d->meta && !d->json && !d->logfmt) {
            jw_null(&w);
        } else {
            jw_array_begin(&w);
            if (d->json)
                jw_string(&w, "json");
            if (d->logfmt)
                jw_string(&w, "logfmt");
            jw_array_end(&w);
        }
        if (d->json) {
            jw_key(&w, "jsonPath");
            jw_array_begin(&w);
            jw_string_slice(&w, d->name);
            jw_array_end(&w);
        }
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "limit");
    jw_uint(&w, limit);
    jw_object_end(&w);
    dfields_free(&f);
    reply_json(req, &b, &w);
}

HANDLER(h_loki_detected_field_values)
{
    struct server *srv = ctx;
    char *name = path_name(req, "/loki/api/v1/detected_field/", "/values");
    if (!name || !name[0] || strchr(name, '/')) {
        http_reply_text(req, 404, "404 page not found: no route for %s", req->path);
        return;
    }
    uint32_t limit = 1000;
    if (capped_limit_param(req, &limit) < 0)
        return;
    struct dfields f = {0};
    if (run_detect(req, srv, &f) < 0) {
        dfields_free(&f);
        return;
    }
    struct buf b;
    buf_init(&b, 1u << 26);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "values");
    jw_array_begin(&w);
    for (uint32_t i = 0; i < f.n; i++) {
        if (!slice_eq_str(f.v[i].name, name))
            continue;
        struct slice *v = f.v[i].values;
        uint32_t n = f.v[i].n_values;
        if (n > 1)
            qsort(v, n, sizeof(*v), cmp_slice);
        for (uint32_t k = 0; k < n && k < limit; k++)
            jw_string_slice(&w, v[k]);
    }
    jw_array_end(&w);
    jw_key(&w, "limit");
    jw_uint(&w, limit);
    jw_object_end(&w);
    dfields_free(&f);
    reply_json(req, &b, &w);
}

/* ---------------------------------------------------------------- patterns */

/* The pattern of a line: tokens with digits (numbers, ids, times) become <_>. */
static struct slice line_pattern(struct arena *a, struct slice line)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    size_t i = 0;
    int rc = 0;
    while (i < line.len && !rc) {
        if (line.ptr[i] == ' ') {
            rc = buf_append_char(&b, ' ');
            i++;
            continue;
        }
        size_t j = i;
        bool digit = false;
        while (j < line.len && line.ptr[j] != ' ') {
            digit = digit || isdigit((unsigned char)line.ptr[j]);
            j++;
        }
        if (digit) {
            /* keep a key= prefix so key=value fields stay readable */
            const char *eq = memchr(line.ptr + i, '=', j - i);
            if (eq && eq > line.ptr + i) {
                rc = buf_append(&b, line.ptr + i, (size_t)(eq - line.ptr - i) + 1);
                if (!rc)
                    rc = buf_append_str(&b, "<_>");
            } else {
                rc = buf_append_str(&b, "<_>");
            }
        } else {
            rc = buf_append(&b, line.ptr + i, j - i);
        }
        i = j;
    }
    /* collapse runs of <_> <_> */
    struct slice s = arena_slice_dup(a, buf_slice(&b));
    buf_release(&b);
    return s;
}

struct pat {
    struct slice pattern;
    uint64_t hash, total;
    uint64_t *counts; /* per step */
};

static int cmp_pat(const void *a, const void *b)
{
    const struct pat *x = a, *y = b;
    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    return slice_cmp(x->pattern, y->pattern);
}

HANDLER(h_loki_patterns)
{
    struct server *srv = ctx;
    int64_t start, end, step;
    if (time_range(req, srv, NS_PER_HOUR, &start, &end) < 0 ||
        step_param(req, start, end, &step) < 0)
        return;
    struct plan plan;
    if (parse_query(req, &plan, true) < 0)
        return;
    const struct expr *log = first_log(plan.root);
    if (!log || plan_is_metric(&plan)) {
        plan_release(&plan);
        http_reply_text(req, 400, "only log queries are supported by the patterns endpoint");
        return;
    }
    struct log_query lq = {.tenant = req->tenant,
                           .log = log,
                           .start = start,
                           .end = end,
                           .limit = 5000,
                           .backward = true};
    query_limits_for(req, srv, &lq.lim);
    struct log_result res;
    char err[2048];
    int rc = engine_log_query(store_chain(srv->store), &lq, &req->arena, &res, err, sizeof(err));
    plan_release(&plan);
    if (rc < 0) {
        reply_query_error(req, rc, err);
        return;
    }
    uint64_t n_steps = (uint64_t)((end - start) / step) + 1;
    uint32_t cap = 64, np = 0;
    struct pat *p = xmallocarray(cap, sizeof(*p));
    for (uint32_t s = 0; s < res.n_streams; s++)
        for (uint32_t i = 0; i < res.streams[s].n; i++) {
            const struct result_entry *e = &res.streams[s].e[i];
            struct slice pt = line_pattern(&req->arena, e->line);
            uint64_t h = hash64(pt.ptr, pt.len);
            uint32_t k;
            for (k = 0; k < np; k++)
                if (p[k].hash == h && slice_eq(p[k].pattern, pt))
                    break;
            if (k == np) {
                if (np == 1000)
                    continue;
                if (np == cap) {
                    cap *= 2;
                    p = xreallocarray(p, cap, sizeof(*p));
                }
                p[np] =
                    (struct pat){pt, h, 0, arena_calloc(&req->arena, n_steps, sizeof(uint64_t))};
                np++;
            }
            int64_t bucket = (e->ts - start) / step;
            if (bucket >= 0 && (uint64_t)bucket < n_steps)
                p[k].counts[bucket]++;
            p[k].total++;
        }
    if (np > 1)
        qsort(p, np, sizeof(*p), cmp_pat);
    struct buf b;
    buf_init(&b, 1u << 26);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_string(&w, "success");
    jw_key(&w, "data");
    jw_array_begin(&w);
    for (uint32_t k = 0; k < np; k++) {
        jw_object_begin(&w);
        jw_key(&w, "pattern");
        jw_string_slice(&w, p[k].pattern);
        jw_key(&w, "samples");
        jw_array_begin(&w);
        for (uint64_t s = 0; s < n_steps; s++) {
            if (!p[k].counts[s])
                continue;
            jw_array_begin(&w);
            jw_int(&w, (start + (int64_t)s * step) / NS_PER_SEC);
            jw_uint(&w, p[k].counts[s]);
            jw_array_end(&w);
        }
        jw_array_end(&w);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    free(p);
    reply_json(req, &b, &w);
}

/* ---------------------------------------------------------------- format_query */

HANDLER(h_loki_format_query)
{
    (void)ctx;
    struct plan plan;
    if (parse_query(req, &plan, true) < 0)
        return;
    struct buf q;
    buf_init(&q, 1 << 20);
    int rc = plan_format(&q, &plan);
    plan_release(&plan);
    if (rc < 0) {
        buf_release(&q);
        http_reply_text(req, 400, "query too long to format");
        return;
    }
    struct buf b;
    buf_init(&b, 1 << 22);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_string(&w, "success");
    jw_key(&w, "data");
    jw_string_slice(&w, buf_slice(&q));
    jw_object_end(&w);
    buf_release(&q);
    reply_json(req, &b, &w);
}
