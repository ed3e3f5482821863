/*
 * loadgen.c - push a log corpus through every ingest path and report the rate.
 *
 *     loadgen --corpus corpus.tsv --http 127.0.0.1:3100 --grpc 127.0.0.1:9095 \
 *             [--paths json,gzip,snappy,logsgo,otlp] [--connections 4] [--batch 1000]
 *             [--batch-bytes N]
 *     loadgen --corpus corpus.tsv --decode-only [--repeat 5]
 *
 * The corpus is bench/make-corpus.py's TSV (ts_ns, app, host, level, line).
 * Timestamps are moved so that the newest entry is "now" (the server refuses
 * entries older than --limits.reject-old-samples-max-age); --keep-timestamps
 * turns that off. Before anything is timed the corpus is cut into batches of
 * --batch entries, and of at most --batch-bytes of lines when given (promtail's
 * batch size, 1 MiB by default there: a batch is sent before a line would take
 * it past), and each batch is encoded once for each path of --paths
 * (only those: a large corpus encoded five ways does not fit in memory), the
 * way the usual client of that path sends it:
 *
 *   json    POST /loki/api/v1/push, Loki JSON (pino-loki, promtail's JSON form)
 *   gzip    the same JSON with Content-Encoding: gzip
 *   snappy  POST /loki/api/v1/push, snappy-compressed protobuf PushRequest (promtail,
 *           winston-loki)
 *   logsgo  gRPC logapi.LogIngestor/UploadLogs with a LogBatch (LogsGO's client; its
 *           timestamps are whole seconds)
 *   otlp    POST /otlp/v1/logs, protobuf ExportLogsServiceRequest (OTel exporters)
 *
 * Then --connections threads send the batches of one path (each batch once,
 * each path to its own tenant, bench-<path>, so paths do not share streams)
 * and the run reports lines/s, MB/s of log lines, requests/s and failures.
 * Requests are encoded with protobuf-c and libcurl/gRPC core: code independent
 * of the server's decoders.
 *
 * --decode-only measures the server's decoders in this process instead (no
 * network, no store): decode + normalise every batch --repeat times per
 * format and report ns per line, the cost of the hot path before store_push.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "ingest/body.h"
#include "ingest/logsgo.h"
#include "ingest/loki_json.h"
#include "ingest/loki_proto.h"
#include "ingest/normalize.h"
#include "ingest/otlp.h"
#include "logapi.pb-c.h"
#include "loki_push.pb-c.h"
#include "otlp_logs_service.pb-c.h"

/* ---- the corpus ---- */

struct rec {
    int64_t ts;
    char *app, *host, *level, *line;
    size_t line_len;
};

struct corpus {
    struct rec *recs;
    size_t n, cap;
    uint64_t line_bytes;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* Undo make-corpus.py's TSV escapes (\\t \\\\ \\n) in place; returns the new length. */
static size_t unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 't' ? '\t' : *r == 'n' ? '\n' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static void load_corpus(const char *path, struct corpus *c, size_t limit)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0 && (!limit || c->n < limit)) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        char *field[5];
        char *p = line;
        int k = 0;
        for (; k < 5 && p; k++) {
            field[k] = p;
            char *tab = k < 4 ? strchr(p, '\t') : NULL;
            if (tab)
                *tab = '\0';
            p = tab ? tab + 1 : NULL;
        }
        if (k < 5 || !field[4])
            die("%s: line %zu is not ts<TAB>app<TAB>host<TAB>level<TAB>line", path, c->n + 1);
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 1 << 16;
            c->recs = xreallocarray(c->recs, c->cap, sizeof(*c->recs));
        }
        struct rec *r = &c->recs[c->n++];
        r->ts = strtoll(field[0], NULL, 10);
        r->app = xstrdup(field[1]);
        r->host = xstrdup(field[2]);
        r->level = xstrdup(field[3]);
        r->line = xstrdup(field[4]);
        r->line_len = unescape(r->line);
        c->line_bytes += r->line_len;
    }
    free(line);
    fclose(f);
    if (!c->n)
        die("%s: empty corpus", path);
}

/* ---- encoding one batch per path ---- */

enum path { P_JSON, P_GZIP, P_SNAPPY, P_LOGSGO, P_OTLP, P_COUNT };
static const char *const path_names[P_COUNT] = {"json", "gzip", "snappy", "logsgo", "otlp"};

struct body {
    char *p;
    size_t n;
};

struct batch {
    size_t first, count;
    uint64_t line_bytes;
    struct body body[P_COUNT];
};

/* Streams of a batch: entries grouped by (app, host, level), first-seen order. */
struct group {
    const struct rec *key;
    size_t *idx;
    size_t n, cap;
};

static size_t group_batch(const struct corpus *c, size_t first, size_t count, struct group **out)
{
    struct group *g = NULL;
    size_t ng = 0, capg = 0;
    for (size_t i = first; i < first + count; i++) {
        const struct rec *r = &c->recs[i];
        size_t k = 0;
        while (k < ng &&
               !(strcmp(g[k].key->app, r->app) == 0 && strcmp(g[k].key->host, r->host) == 0 &&
                 strcmp(g[k].key->level, r->level) == 0))
            k++;
        if (k == ng) {
            if (ng == capg) {
                capg = capg ? capg * 2 : 16;
                g = xreallocarray(g, capg, sizeof(*g));
            }
            g[ng++] = (struct group){r, NULL, 0, 0};
        }
        if (g[k].n == g[k].cap) {
            g[k].cap = g[k].cap ? g[k].cap * 2 : 16;
            g[k].idx = xreallocarray(g[k].idx, g[k].cap, sizeof(size_t));
        }
        g[k].idx[g[k].n++] = i;
    }
    *out = g;
    return ng;
}

static void free_groups(struct group *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(g[i].idx);
    free(g);
}

static struct body take(struct buf *b)
{
    struct body out;
    out.p = buf_detach(b, &out.n);
    return out;
}

static struct body encode_json(const struct corpus *c, struct group *g, size_t ng)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "streams");
    jw_array_begin(&w);
    for (size_t k = 0; k < ng; k++) {
        jw_object_begin(&w);
        jw_key(&w, "stream");
        jw_object_begin(&w);
        jw_key(&w, "app");
        jw_string(&w, g[k].key->app);
        jw_key(&w, "host");
        jw_string(&w, g[k].key->host);
        jw_key(&w, "level");
        jw_string(&w, g[k].key->level);
        jw_object_end(&w);
        jw_key(&w, "values");
        jw_array_begin(&w);
        for (size_t i = 0; i < g[k].n; i++) {
            const struct rec *r = &c->recs[g[k].idx[i]];
            char ts[24];
            snprintf(ts, sizeof(ts), "%lld", (long long)r->ts);
            jw_array_begin(&w);
            jw_string(&w, ts);
            jw_string_slice(&w, (struct slice){r->line, r->line_len});
            jw_array_end(&w);
        }
        jw_array_end(&w);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    if (w.rc)
        die("JSON encoding failed");
    return take(&b);
}

static struct body encode_gzip(struct body json)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    size_t cap = deflateBound(&z, json.n) + 64;
    struct body out = {xmalloc(cap), 0};
    z.next_in = (Bytef *)json.p;
    z.avail_in = (uInt)json.n;
    z.next_out = (Bytef *)out.p;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        die("deflate");
    out.n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static char *labels_text(const struct rec *r)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    if (buf_printf(&b, "{app=\"%s\", host=\"%s\", level=\"%s\"}", r->app, r->host, r->level) < 0)
        die("labels");
    size_t n;
    return buf_detach(&b, &n);
}

static struct body encode_snappy(const struct corpus *c, struct group *g, size_t ng,
                                 struct body *raw_out)
{
    Logproto__PushRequest req = LOGPROTO__PUSH_REQUEST__INIT;
    Logproto__StreamAdapter *streams = xcalloc(ng, sizeof(*streams));
    Logproto__StreamAdapter **sp = xcalloc(ng, sizeof(*sp));
    size_t total = 0;
    for (size_t k = 0; k < ng; k++)
        total += g[k].n;
    Logproto__EntryAdapter *entries = xcalloc(total, sizeof(*entries));
    Logproto__EntryAdapter **ep = xcalloc(total, sizeof(*ep));
    Logproto__Timestamp *tss = xcalloc(total, sizeof(*tss));
    size_t e = 0;
    for (size_t k = 0; k < ng; k++) {
        Logproto__StreamAdapter init = LOGPROTO__STREAM_ADAPTER__INIT;
        streams[k] = init;
        streams[k].labels = labels_text(g[k].key);
        streams[k].n_entries = g[k].n;
        streams[k].entries = ep + e;
        for (size_t i = 0; i < g[k].n; i++, e++) {
            const struct rec *r = &c->recs[g[k].idx[i]];
            Logproto__EntryAdapter ei = LOGPROTO__ENTRY_ADAPTER__INIT;
            Logproto__Timestamp ti = LOGPROTO__TIMESTAMP__INIT;
            entries[e] = ei;
            tss[e] = ti;
            tss[e].seconds = r->ts / NS_PER_SEC;
            tss[e].nanos = (int32_t)(r->ts % NS_PER_SEC);
            entries[e].timestamp = &tss[e];
            entries[e].line = r->line;
            ep[e] = &entries[e];
        }
        sp[k] = &streams[k];
    }
    req.n_streams = ng;
    req.streams = sp;
    size_t n = logproto__push_request__get_packed_size(&req);
    uint8_t *pb = xmalloc(n ? n : 1);
    logproto__push_request__pack(&req, pb);
    for (size_t k = 0; k < ng; k++)
        free(streams[k].labels);
    free(streams);
    free(sp);
    free(entries);
    free(ep);
    free(tss);
    size_t cap = snappy_max_compressed_length(n);
    struct body out = {xmalloc(cap), cap};
    if (snappy_compress((const char *)pb, n, out.p, &out.n) != SNAPPY_OK)
        die("snappy_compress");
    *raw_out = (struct body){(char *)pb, n};
    return out;
}

static struct body encode_logsgo(const struct corpus *c, size_t first, size_t count)
{
    Logapi__LogBatch batch = LOGAPI__LOG_BATCH__INIT;
    Logapi__LogEntry *es = xcalloc(count, sizeof(*es));
    Logapi__LogEntry **ep = xcalloc(count, sizeof(*ep));
    Logapi__LogEntry__LabelsEntry *ls = xcalloc(count, sizeof(*ls));
    Logapi__LogEntry__LabelsEntry **lp = xcalloc(count, sizeof(*lp));
    for (size_t i = 0; i < count; i++) {
        const struct rec *r = &c->recs[first + i];
        Logapi__LogEntry ei = LOGAPI__LOG_ENTRY__INIT;
        Logapi__LogEntry__LabelsEntry li = LOGAPI__LOG_ENTRY__LABELS_ENTRY__INIT;
        es[i] = ei;
        ls[i] = li;
        ls[i].key = (char *)"host";
        ls[i].value = r->host;
        lp[i] = &ls[i];
        es[i].service = r->app;
        es[i].level = r->level;
        es[i].message = r->line;
        es[i].timestamp = r->ts / NS_PER_SEC;
        es[i].n_labels = 1;
        es[i].labels = &lp[i];
        ep[i] = &es[i];
    }
    batch.n_entries = count;
    batch.entries = ep;
    size_t n = logapi__log_batch__get_packed_size(&batch);
    struct body out = {xmalloc(n ? n : 1), n};
    logapi__log_batch__pack(&batch, (uint8_t *)out.p);
    free(es);
    free(ep);
    free(ls);
    free(lp);
    return out;
}

typedef Opentelemetry__Proto__Common__V1__KeyValue OKV;
typedef Opentelemetry__Proto__Common__V1__AnyValue OAV;
typedef Opentelemetry__Proto__Logs__V1__LogRecord ORec;

static struct body encode_otlp(const struct corpus *c, struct group *g, size_t ng)
{
    /* One ResourceLogs per (app, host): service.name and host.name; level as severity. */
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
    size_t total = 0;
    for (size_t k = 0; k < ng; k++)
        total += g[k].n;
    Opentelemetry__Proto__Logs__V1__ResourceLogs *rl = xcalloc(ng, sizeof(*rl));
    Opentelemetry__Proto__Logs__V1__ResourceLogs **rlp = xcalloc(ng, sizeof(*rlp));
    Opentelemetry__Proto__Resource__V1__Resource *res = xcalloc(ng, sizeof(*res));
    Opentelemetry__Proto__Logs__V1__ScopeLogs *sl = xcalloc(ng, sizeof(*sl));
    Opentelemetry__Proto__Logs__V1__ScopeLogs **slp = xcalloc(ng, sizeof(*slp));
    OKV *kv = xcalloc(2 * ng, sizeof(*kv));
    OKV **kvp = xcalloc(2 * ng, sizeof(*kvp));
    OAV *av = xcalloc(2 * ng + total, sizeof(*av));
    ORec *recs = xcalloc(total, sizeof(*recs));
    ORec **recp = xcalloc(total, sizeof(*recp));
    size_t e = 0;
    for (size_t k = 0; k < ng; k++) {
        Opentelemetry__Proto__Logs__V1__ResourceLogs rli =
            OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT;
        Opentelemetry__Proto__Resource__V1__Resource resi =
            OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
        Opentelemetry__Proto__Logs__V1__ScopeLogs sli =
            OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT;
        OKV kvi = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
        OAV avi = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
        rl[k] = rli;
        res[k] = resi;
        sl[k] = sli;
        for (int j = 0; j < 2; j++) {
            kv[2 * k + j] = kvi;
            av[2 * k + j] = avi;
            av[2 * k + j].value_case =
                OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
            av[2 * k + j].string_value = j ? g[k].key->host : g[k].key->app;
            kv[2 * k + j].key = (char *)(j ? "host.name" : "service.name");
            kv[2 * k + j].value = &av[2 * k + j];
            kvp[2 * k + j] = &kv[2 * k + j];
        }
        res[k].n_attributes = 2;
        res[k].attributes = &kvp[2 * k];
        rl[k].resource = &res[k];
        sl[k].n_log_records = g[k].n;
        sl[k].log_records = recp + e;
        for (size_t i = 0; i < g[k].n; i++, e++) {
            const struct rec *r = &c->recs[g[k].idx[i]];
            ORec ri = OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT;
            recs[e] = ri;
            recs[e].time_unix_nano = (uint64_t)r->ts;
            recs[e].severity_text = r->level;
            av[2 * ng + e] = avi;
            av[2 * ng + e].value_case =
                OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
            av[2 * ng + e].string_value = r->line;
            recs[e].body = &av[2 * ng + e];
            recp[e] = &recs[e];
        }
        slp[k] = &sl[k];
        rl[k].n_scope_logs = 1;
        rl[k].scope_logs = &slp[k];
        rlp[k] = &rl[k];
    }
    req.n_resource_logs = ng;
    req.resource_logs = rlp;
    size_t n =
        opentelemetry__proto__collector__logs__v1__export_logs_service_request__get_packed_size(
            &req);
    struct body out = {xmalloc(n ? n : 1), n};
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__pack(&req,
                                                                                 (uint8_t *)out.p);
    free(rl);
    free(rlp);
    free(res);
    free(sl);
    free(slp);
    free(kv);
    free(kvp);
    free(av);
    free(recs);
    free(recp);
    return out;
}

/* The raw protobuf PushRequest of each batch, kept for --decode-only. */
static struct body *raw_push;

static bool path_listed(const char *list, enum path p);

/* Encode each batch for the listed paths only (JSON too when gzip is listed: gzip compresses it).
 */
static struct batch *make_batches(const struct corpus *c, size_t per, size_t per_bytes, size_t *nb,
                                  bool decode, const char *paths)
{
    bool want[P_COUNT];
    for (int p = 0; p < P_COUNT; p++)
        want[p] = path_listed(paths, (enum path)p);
    want[P_JSON] = want[P_JSON] || want[P_GZIP];
    /* Cut first: per entries at most, and (as promtail does) at most per_bytes of lines
     * unless a single line is larger. */
    size_t n = 0, cap = 0;
    struct batch *b = NULL;
    for (size_t j = 0; j < c->n; j++) {
        size_t len = c->recs[j].line_len;
        if (!n || b[n - 1].count >= per || (per_bytes && b[n - 1].line_bytes + len > per_bytes)) {
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                b = xreallocarray(b, cap, sizeof(*b));
            }
            memset(&b[n], 0, sizeof(b[n]));
            b[n++].first = j;
        }
        b[n - 1].count++;
        b[n - 1].line_bytes += len;
    }
    raw_push = xcalloc(n ? n : 1, sizeof(*raw_push));
    for (size_t i = 0; i < n; i++) {
        struct group *g;
        size_t ng = group_batch(c, b[i].first, b[i].count, &g);
        if (want[P_JSON])
            b[i].body[P_JSON] = encode_json(c, g, ng);
        if (want[P_GZIP])
            b[i].body[P_GZIP] = encode_gzip(b[i].body[P_JSON]);
        if (want[P_SNAPPY])
            b[i].body[P_SNAPPY] = encode_snappy(c, g, ng, &raw_push[i]);
        if (want[P_LOGSGO])
            b[i].body[P_LOGSGO] = encode_logsgo(c, b[i].first, b[i].count);
        if (want[P_OTLP])
            b[i].body[P_OTLP] = encode_otlp(c, g, ng);
        free_groups(g, ng);
    }
    (void)decode;
    *nb = n;
    return b;
}

/* ---- sending ---- */

struct run {
    enum path path;
    const char *http, *grpc;
    struct batch *batches;
    size_t n_batches;
    atomic_size_t next;
    atomic_uint_fast64_t lines, bytes, body_bytes, requests, failures;
    char first_error[512];
    pthread_mutex_t lock;
};

static void record_failure(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void record_failure(struct run *r, const char *fmt, ...)
{
    atomic_fetch_add(&r->failures, 1);
    pthread_mutex_lock(&r->lock);
    if (!r->first_error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->first_error, sizeof(r->first_error), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&r->lock);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    if (b->len < 400 && buf_append(b, p, size * n < 400 ? size * n : 400) < 0)
        return 0;
    return size * n;
}

static void *http_sender(void *arg)
{
    struct run *r = arg;
    CURL *h = curl_easy_init();
    char url[256], tenant[64];
    snprintf(url, sizeof(url), "http://%s%s", r->http,
             r->path == P_OTLP ? "/otlp/v1/logs" : "/loki/api/v1/push");
    snprintf(tenant, sizeof(tenant), "X-Scope-OrgID: bench-%s", path_names[r->path]);
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, r->path == P_JSON || r->path == P_GZIP
                                     ? "Content-Type: application/json"
                                     : "Content-Type: application/x-protobuf");
    if (r->path == P_GZIP)
        hdr = curl_slist_append(hdr, "Content-Encoding: gzip");
    hdr = curl_slist_append(hdr, tenant);
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    struct buf resp;
    buf_init(&resp, 4096);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    for (;;) {
        size_t i = atomic_fetch_add(&r->next, 1);
        if (i >= r->n_batches)
            break;
        const struct batch *b = &r->batches[i];
        const struct body *body = &b->body[r->path];
        buf_reset(&resp);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->p);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->n);
        CURLcode cc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        atomic_fetch_add(&r->requests, 1);
        if (cc != CURLE_OK || status < 200 || status > 299) {
            record_failure(r, "HTTP %ld %s: %s", status, curl_easy_strerror(cc),
                           resp.ptr ? resp.ptr : "");
            continue;
        }
        atomic_fetch_add(&r->lines, b->count);
        atomic_fetch_add(&r->bytes, b->line_bytes);
        atomic_fetch_add(&r->body_bytes, body->n);
    }
    buf_release(&resp);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

static void *grpc_sender(void *arg)
{
    struct run *r = arg;
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(r->grpc, creds, NULL);
    grpc_channel_credentials_release(creds);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice method = grpc_slice_from_static_string("/logapi.LogIngestor/UploadLogs");
    grpc_metadata md;
    memset(&md, 0, sizeof(md));
    md.key = grpc_slice_from_static_string("x-scope-orgid");
    md.value = grpc_slice_from_static_string("bench-logsgo");
    for (;;) {
        size_t i = atomic_fetch_add(&r->next, 1);
        if (i >= r->n_batches)
            break;
        const struct batch *b = &r->batches[i];
        const struct body *body = &b->body[P_LOGSGO];
        grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
                                                   NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        grpc_slice s = grpc_slice_from_static_buffer(body->p, body->n);
        grpc_byte_buffer *req = grpc_raw_byte_buffer_create(&s, 1);
        grpc_byte_buffer *resp = NULL;
        grpc_metadata_array initial, trailing;
        grpc_metadata_array_init(&initial);
        grpc_metadata_array_init(&trailing);
        grpc_status_code status = GRPC_STATUS_UNKNOWN;
        grpc_slice details = grpc_empty_slice();
        grpc_op ops[6];
        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = &md;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = req;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &resp;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
        ops[5].data.recv_status_on_client.status = &status;
        ops[5].data.recv_status_on_client.status_details = &details;
        void *tag = (void *)(uintptr_t)(i + 1);
        if (grpc_call_start_batch(call, ops, 6, tag, NULL) != GRPC_CALL_OK)
            die("grpc_call_start_batch");
        grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        atomic_fetch_add(&r->requests, 1);
        if (status != GRPC_STATUS_OK) {
            char *d = grpc_slice_to_c_string(details);
            record_failure(r, "gRPC status %d: %s", (int)status, d);
            gpr_free(d);
        } else {
            atomic_fetch_add(&r->lines, b->count);
            atomic_fetch_add(&r->bytes, b->line_bytes);
            atomic_fetch_add(&r->body_bytes, body->n);
        }
        grpc_slice_unref(details);
        grpc_metadata_array_destroy(&initial);
        grpc_metadata_array_destroy(&trailing);
        if (resp)
            grpc_byte_buffer_destroy(resp);
        grpc_byte_buffer_destroy(req);
        grpc_call_unref(call);
    }
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(ch);
    return NULL;
}

static void run_path(enum path p, const char *http, const char *grpc, struct batch *batches,
                     size_t nb, int conns, const struct corpus *c)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    r.path = p;
    r.http = http;
    r.grpc = grpc;
    r.batches = batches;
    r.n_batches = nb;
    pthread_mutex_init(&r.lock, NULL);
    pthread_t *t = xcalloc((size_t)conns, sizeof(*t));
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < conns; i++)
        pthread_create(&t[i], NULL, p == P_LOGSGO ? grpc_sender : http_sender, &r);
    for (int i = 0; i < conns; i++)
        pthread_join(t[i], NULL);
    double sec = (double)(clock_mono_ns() - t0) / 1e9;
    uint64_t lines = atomic_load(&r.lines), bytes = atomic_load(&r.bytes);
    printf("%-7s %9llu lines %8.2f MB in %6.2f s: %10.0f lines/s %7.2f MB/s (lines) "
           "%7.2f MB/s (bodies) %7.1f req/s, %llu failed\n",
           path_names[p], (unsigned long long)lines, (double)bytes / 1e6, sec, (double)lines / sec,
           (double)bytes / 1e6 / sec, (double)atomic_load(&r.body_bytes) / 1e6 / sec,
           (double)atomic_load(&r.requests) / sec, (unsigned long long)atomic_load(&r.failures));
    if (r.first_error[0])
        printf("        first failure: %s\n", r.first_error);
    (void)c;
    fflush(stdout);
    free(t);
    pthread_mutex_destroy(&r.lock);
}

/* ---- decode-only ---- */

typedef int (*decoder)(struct slice, struct normalizer *, char *, size_t);

/* CPU time of this thread: on a machine shared with other work, wall time overstates. */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static void decode_bench(const char *name, decoder dec, struct batch *batches, size_t nb,
                         enum path p, const struct corpus *c, int repeat,
                         const struct tenant_limits *lim)
{
    uint64_t lines = 0, failed = 0;
    int64_t t0 = clock_mono_ns(), c0 = thread_cpu_ns();
    for (int rep = 0; rep < repeat; rep++) {
        for (size_t i = 0; i < nb; i++) {
            struct push_batch b;
            struct push_result res;
            struct normalizer nz;
            char err[512];
            struct slice body = p == P_SNAPPY
                                    ? (struct slice){raw_push[i].p, raw_push[i].n}
                                    : (struct slice){batches[i].body[p].p, batches[i].body[p].n};
            push_batch_init(&b, "bench");
            push_result_init(&res);
            norm_init(&nz, lim, clock_now_ns(), &b, &res);
            struct buf inflated;
            buf_init(&inflated, BUF_UNLIMITED);
            if (p == P_GZIP && body_decode_encoding("gzip", body, 1u << 30, &inflated, &body, err,
                                                    sizeof(err)) < 0)
                failed++;
            if (dec(body, &nz, err, sizeof(err)) < 0 || b.n_entries != batches[i].count)
                failed++;
            lines += b.n_entries;
            buf_release(&inflated);
            push_batch_release(&b);
        }
    }
    double cpu = (double)(thread_cpu_ns() - c0), wall = (double)(clock_mono_ns() - t0);
    double n = (double)(lines ? lines : 1);
    printf("decode %-7s %9llu lines: %7.1f ns/line of CPU (%.0f lines/s per core; wall %.1f "
           "ns/line)%s\n",
           name, (unsigned long long)lines, cpu / n, n / (cpu / 1e9), wall / n,
           failed ? " FAILURES" : "");
    (void)c;
    (void)repeat;
    fflush(stdout);
}

/* ---- main ---- */

/* True when p's name is an element of the comma-separated list. */
static bool path_listed(const char *list, enum path p)
{
    size_t n = strlen(path_names[p]);
    for (const char *at = list; (at = strstr(at, path_names[p])) != NULL; at += n)
        if ((at == list || at[-1] == ',') && (at[n] == '\0' || at[n] == ','))
            return true;
    return false;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --corpus FILE.tsv [--http HOST:PORT] [--grpc HOST:PORT]\n"
            "               [--paths json,gzip,snappy,logsgo,otlp] [--connections N] "
            "[--batch N] [--batch-bytes N]\n"
            "               [--lines N] [--keep-timestamps] [--decode-only [--repeat N]]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *corpus_path = NULL, *http = "127.0.0.1:3100", *grpc_addr = "127.0.0.1:9095";
    const char *paths = "json,gzip,snappy,logsgo,otlp";
    int conns = 4, repeat = 3;
    size_t per = 1000, per_bytes = 0, limit = 0;
    bool keep_ts = false, decode_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--corpus") && v)
            corpus_path = argv[++i];
        else if (!strcmp(a, "--http") && v)
            http = argv[++i];
        else if (!strcmp(a, "--grpc") && v)
            grpc_addr = argv[++i];
        else if (!strcmp(a, "--paths") && v)
            paths = argv[++i];
        else if (!strcmp(a, "--connections") && v)
            conns = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--batch") && v)
            per = (size_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--batch-bytes") && v)
            per_bytes = (size_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--lines") && v)
            limit = (size_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--repeat") && v)
            repeat = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--keep-timestamps"))
            keep_ts = true;
        else if (!strcmp(a, "--decode-only"))
            decode_only = true;
        else
            usage();
    }
    if (!corpus_path || conns < 1 || per < 1 || repeat < 1)
        usage();
    struct corpus c;
    memset(&c, 0, sizeof(c));
    int64_t t0 = clock_mono_ns();
    load_corpus(corpus_path, &c, limit);
    if (!keep_ts) {
        int64_t newest = c.recs[0].ts;
        for (size_t i = 1; i < c.n; i++)
            if (c.recs[i].ts > newest)
                newest = c.recs[i].ts;
        int64_t shift = clock_now_ns() - 60 * NS_PER_SEC - newest;
        for (size_t i = 0; i < c.n; i++)
            c.recs[i].ts += shift;
    }
    size_t nb;
    struct batch *batches = make_batches(&c, per, per_bytes, &nb, decode_only, paths);
    printf("corpus %s: %zu lines, %.2f MB of lines (%.1f bytes/line), %zu batches of %.0f lines "
           "on average; prepared in %.1f s\n",
           corpus_path, c.n, (double)c.line_bytes / 1e6, (double)c.line_bytes / (double)c.n, nb,
           nb ? (double)c.n / (double)nb : 0.0, (double)(clock_mono_ns() - t0) / 1e9);
    if (decode_only) {
        struct config cfg;
        config_init(&cfg);
        struct tenant_limits lim;
        char err[256];
        if (tenant_limits_from_config(&lim, &cfg, err, sizeof(err)) < 0)
            die("%s", err);
        static const decoder decs[P_COUNT] = {loki_json_decode, loki_json_decode, loki_proto_decode,
                                              logsgo_batch_decode, otlp_proto_decode};
        for (int p = 0; p < P_COUNT; p++)
            if (path_listed(paths, (enum path)p))
                decode_bench(path_names[p], decs[p], batches, nb, (enum path)p, &c, repeat, &lim);
        if (path_listed(paths, P_JSON)) {
            /* The same without Loki's additions: what service_name/detected_level cost. */
            lim.discover_log_levels = false;
            lim.n_discover = 0;
            decode_bench("json (no service_name/detected_level)", loki_json_decode, batches, nb,
                         P_JSON, &c, repeat, &lim);
        }
        tenant_limits_release(&lim);
        config_release(&cfg);
        return 0;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    grpc_init();
    printf("pushing to http://%s and grpc %s with %d connection(s)\n", http, grpc_addr, conns);
    for (int p = 0; p < P_COUNT; p++)
        if (path_listed(paths, (enum path)p))
            run_path((enum path)p, http, grpc_addr, batches, nb, conns, &c);
    grpc_shutdown_blocking();
    curl_global_cleanup();
    return 0;
}
