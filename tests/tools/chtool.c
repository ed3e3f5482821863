/*
 * chtool - drives the ClickHouse tier from the command line, one operation
 * per run, for the integration tests (tests/integration/test_clickhouse*.py)
 * and for poking at a server by hand.
 *
 *     chtool [strata options] COMMAND [command options]
 *
 * Strata options are the server's own (--clickhouse.url, --clickhouse.layout,
 * --clickhouse.config-path, --config.file, --log.level, ...), resolved the same
 * way. Commands (times in ns; output is JSON on stdout; errors on stderr,
 * exit status 1):
 *
 *     open                       connect, check, create the tables
 *     ping                       SELECT 1
 *     append [--tenant=T] [--batch-id=N] FILE
 *                                a Loki push body (JSON; or one per line) appended
 *                                as one batch
 *     submit [--tenant=T] FILE...
 *                                each file submitted as its own batch; waits
 *     select --tenant=T [--selector=S] --start=NS --end=NS [--backward]
 *            [--no-lines] [--needle=S]...
 *     series|stats|labels --tenant=T [--selector=S] --start=NS --end=NS
 *     label-values NAME --tenant=T [--selector=S] --start=NS --end=NS
 *     count --tenant=T [--selector=S] --start=NS --end=NS --origin=NS
 *           --width=NS --buckets=N [--filter=OP:PATTERN]... [--meta] [--bytes]
 *                                counts per bucket (a counting select, tier.h);
 *                                OP: |= != |~ !~; --meta splits by metadata
 *     regex-check FILE           FILE: [{"pattern":P,"anchored":B,"subjects":[S...]}...];
 *                                compares ClickHouse's match() on the translated
 *                                pattern with Strata's PCRE2 on every subject
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "ingest/loki_json.h"
#include "ingest/normalize.h"
#include "query/regex.h"
#include "query/selector.h"
#include "remote/clickhouse_http.h"
#include "remote/clickhouse_rowbinary.h"
#include "remote/clickhouse.h"

#define MAX_NEEDLES 16

struct opts {
    const char *tenant, *selector, *name;
    int64_t start, end, origin, width;
    uint64_t batch_id;
    uint32_t buckets;
    bool backward, no_lines, meta, bytes;
    struct slice needles[MAX_NEEDLES];
    uint32_t n_needles;
    struct tier_line_filter filters[MAX_NEEDLES];
    uint32_t n_filters;
    const char *files[256];
    int n_files;
};

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "chtool: %s: %s\n", what, arg);
    exit(2);
}

static int64_t int_arg(const char *v)
{
    int64_t x;
    if (clock_parse_int64(slice_from(v), &x) < 0)
        die("not an integer", v);
    return x;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->tenant = "fake";
    o->start = 0;
    o->end = INT64_MAX;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        const char *v = eq ? eq + 1 : "";
        if (!strncmp(a, "--tenant=", 9))
            o->tenant = v;
        else if (!strncmp(a, "--selector=", 11))
            o->selector = v;
        else if (!strncmp(a, "--start=", 8))
            o->start = int_arg(v);
        else if (!strncmp(a, "--end=", 6))
            o->end = int_arg(v);
        else if (!strncmp(a, "--origin=", 9))
            o->origin = int_arg(v);
        else if (!strncmp(a, "--width=", 8))
            o->width = int_arg(v);
        else if (!strncmp(a, "--buckets=", 10))
            o->buckets = (uint32_t)int_arg(v);
        else if (!strncmp(a, "--batch-id=", 11))
            o->batch_id = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--backward"))
            o->backward = true;
        else if (!strcmp(a, "--no-lines"))
            o->no_lines = true;
        else if (!strcmp(a, "--meta"))
            o->meta = true;
        else if (!strcmp(a, "--bytes"))
            o->bytes = true;
        else if (!strncmp(a, "--needle=", 9) && o->n_needles < MAX_NEEDLES)
            o->needles[o->n_needles++] = slice_from(v);
        else if (!strncmp(a, "--filter=", 9) && o->n_filters < MAX_NEEDLES && strlen(v) >= 3) {
            struct tier_line_filter *f = &o->filters[o->n_filters++];
            f->op = !strncmp(v, "|=", 2)   ? TIER_LINE_CONTAINS
                    : !strncmp(v, "!=", 2) ? TIER_LINE_NOT_CONTAINS
                    : !strncmp(v, "|~", 2) ? TIER_LINE_REGEX
                                           : TIER_LINE_NOT_REGEX;
            f->pattern = slice_from(v + 3);
        } else if (a[0] == '-' && a[1] == '-')
            die("unknown option", a);
        else if (!o->name)
            o->name = a;
        else if (o->n_files < 256)
            o->files[o->n_files++] = a;
    }
}

static int read_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return STRATA_EIO;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(out, chunk, n);
    fclose(f);
    return rc;
}

/* Decode a Loki push body into b (whose tenant is set). */
static int load_batch(const char *path, struct push_batch *b, struct buf *body)
{
    if (read_file(path, body) < 0) {
        fprintf(stderr, "chtool: cannot read %s\n", path);
        return 1;
    }
    /* One body, or one per line (make-corpus.py --format loki): all into one batch. */
    const char *p = body->ptr ? body->ptr : "", *end = p + body->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        struct slice one = {p, (size_t)((nl ? nl : end) - p)};
        p = nl ? nl + 1 : end;
        if (slice_trim(one).len == 0)
            continue;
        struct push_result res;
        push_result_init(&res);
        /* No limits and no Loki additions: the tool stores exactly what the file says. */
        struct tenant_limits lim;
        memset(&lim, 0, sizeof(lim));
        lim.allow_structured_metadata = true;
        lim.max_label_names_per_series = 1000;
        lim.max_label_name_length = lim.max_label_value_length = 1 << 20;
        struct normalizer nz;
        norm_init(&nz, &lim, clock_now_ns(), b, &res);
        char err[512];
        if (loki_json_decode(one, &nz, err, sizeof(err)) < 0 || res.error) {
            fprintf(stderr, "chtool: %s: %s\n", path, res.error ? res.error : err);
            return 1;
        }
    }
    return 0;
}

static void print_buf(struct buf *b)
{
    fwrite(b->ptr, 1, b->len, stdout);
    fputc('\n', stdout);
}

/* ---- select ---------------------------------------------------------------- */

struct collected {
    struct json_writer *w;
    bool with_lines;
    struct arena *a;
    int rc;
};

static int on_stream(void *arg, const struct tier_stream *s)
{
    struct collected *c = arg;
    struct json_writer *w = c->w;
    jw_object_begin(w);
    jw_key(w, "labels");
    jw_string_slice(w, s->key);
    jw_key(w, "fp");
    jw_uint(w, s->fp);
    jw_key(w, "entries");
    jw_array_begin(w);
    struct entry_batch b;
    int rc;
    while ((rc = s->cursor->ops->next(s->cursor, &b)) > 0) {
        for (uint32_t i = 0; i < b.n; i++) {
            jw_array_begin(w);
            jw_int(w, b.ts[i]);
            if (b.lines)
                jw_string_slice(w, b.lines[i]);
            else
                jw_uint(w, b.sizes[i]);
            if (b.meta && b.meta[i].len) {
                struct label *v;
                uint32_t n;
                jw_object_begin(w);
                if (labels_decode(b.meta[i], c->a, &v, &n) == 0)
                    for (uint32_t k = 0; k < n; k++) {
                        jw_key_slice(w, v[k].name);
                        jw_string_slice(w, v[k].value);
                    }
                jw_object_end(w);
            }
            jw_array_end(w);
        }
    }
    s->cursor->ops->close(s->cursor);
    jw_array_end(w);
    jw_object_end(w);
    if (rc < 0)
        c->rc = rc;
    return rc < 0 ? rc : 0;
}

static int on_series(void *arg, const struct tier_stream *s)
{
    struct collected *c = arg;
    jw_string_slice(c->w, s->key);
    return 0;
}

/* A counting query's answer: each stream (and metadata) with its buckets. */
static int on_count(void *arg, const struct tier_stream *s)
{
    struct collected *c = arg;
    struct json_writer *w = c->w;
    if (!s->counts) { /* the tier answered with entries: it cannot count this query */
        if (s->cursor)
            s->cursor->ops->close(s->cursor);
        c->rc = STRATA_EUNSUPPORTED;
        return 0;
    }
    const struct tier_counts *tc = s->counts;
    jw_object_begin(w);
    jw_key(w, "labels");
    jw_string_slice(w, s->key);
    if (tc->meta.len) {
        struct label *v;
        uint32_t n;
        jw_key(w, "meta");
        jw_object_begin(w);
        if (labels_decode(tc->meta, c->a, &v, &n) == 0)
            for (uint32_t k = 0; k < n; k++) {
                jw_key_slice(w, v[k].name);
                jw_string_slice(w, v[k].value);
            }
        jw_object_end(w);
    }
    jw_key(w, "buckets");
    jw_array_begin(w);
    for (uint32_t i = 0; i < tc->n; i++) {
        jw_array_begin(w);
        jw_uint(w, tc->bucket[i]);
        jw_uint(w, tc->entries[i]);
        if (tc->bytes)
            jw_uint(w, tc->bytes[i]);
        jw_array_end(w);
    }
    jw_array_end(w);
    jw_object_end(w);
    return 0;
}

/* ---- submit ---------------------------------------------------------------- */

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int left;
    int rcs[256];
};

struct done_arg {
    struct waiter *w;
    int index;
};

static void on_done(void *arg, int rc)
{
    struct done_arg *d = arg;
    pthread_mutex_lock(&d->w->lock);
    d->w->rcs[d->index] = rc;
    d->w->left--;
    pthread_cond_signal(&d->w->cond);
    pthread_mutex_unlock(&d->w->lock);
}

/* ---- regex-check ----------------------------------------------------------- */

/* One pattern: ClickHouse's verdict on every subject against PCRE2's. */
static int check_pattern(struct clickhouse_http *h, struct slice pattern, bool anchored,
                         const struct slice *subjects, uint32_t n, struct json_writer *w,
                         uint32_t *checked)
{
    struct buf sql, out;
    buf_init(&sql, BUF_UNLIMITED);
    buf_init(&out, 1 << 20);
    int rc = buf_append_str(&sql, "SELECT [");
    struct buf re;
    buf_init(&re, BUF_UNLIMITED);
    int tr = clickhouse_sql_regex(&re, pattern, anchored);
    for (uint32_t i = 0; !rc && !tr && i < n; i++) {
        rc = buf_append_str(&sql, i ? ", match(" : "match(");
        rc = rc ? rc : clickhouse_sql_quote(&sql, subjects[i]);
        rc = rc ? rc : buf_append_str(&sql, ", ");
        rc = rc ? rc : buf_append(&sql, re.ptr, re.len);
        rc = rc ? rc : buf_append_str(&sql, ")");
    }
    rc = rc ? rc : buf_append_str(&sql, "] FORMAT RowBinary");
    char err[256];
    struct regex *pcre = regex_compile(pattern, anchored ? REGEX_ANCHORED : 0, err, sizeof(err));
    if (tr == STRATA_EUNSUPPORTED || !pcre) {
        jw_object_begin(w);
        jw_key(w, "unsupported");
        jw_string_slice(w, pattern);
        jw_object_end(w);
    } else if (!rc) {
        struct clickhouse_error e;
        struct clickhouse_request r = {.sql = sql.ptr, .out = &out};
        rc = clickhouse_http_run(h, &r, &e);
        if (rc)
            fprintf(stderr, "chtool: %s\n", e.message);
        struct rowbinary_reader rd;
        rowbinary_reader_init(&rd, buf_slice(&out));
        uint64_t m = rc ? 0 : rowbinary_len(&rd);
        struct slice verdicts = rowbinary_fixed(&rd, (size_t)m);
        if (!rc && (m != n || !rowbinary_done(&rd)))
            rc = STRATA_ECORRUPT;
        for (uint32_t i = 0; !rc && i < n; i++) {
            int want = regex_match(pcre, subjects[i]);
            int got = verdicts.ptr[i] ? 1 : 0;
            (*checked)++;
            if (want != got) {
                jw_object_begin(w);
                jw_key(w, "pattern");
                jw_string_slice(w, pattern);
                jw_key(w, "subject");
                jw_string_slice(w, subjects[i]);
                jw_key(w, "pcre2");
                jw_int(w, want);
                jw_key(w, "clickhouse");
                jw_int(w, got);
                jw_object_end(w);
            }
        }
    }
    regex_free(pcre);
    buf_release(&re);
    buf_release(&sql);
    buf_release(&out);
    return rc;
}

static int regex_check(struct clickhouse_http *h, const char *path, struct arena *a,
                       struct json_writer *w)
{
    struct buf body;
    buf_init(&body, BUF_UNLIMITED);
    if (!path || read_file(path, &body) < 0) {
        buf_release(&body);
        return STRATA_EIO;
    }
    struct json_reader r;
    json_reader_init(&r, body.ptr, body.len, 16);
    uint32_t checked = 0;
    int rc = json_enter_array(&r);
    jw_object_begin(w);
    jw_key(w, "problems");
    jw_array_begin(w);
    while (!rc && (rc = json_next_elem(&r)) > 0) {
        struct slice pattern = {"", 0}, subjects[256];
        uint32_t n = 0;
        bool anchored = false;
        struct slice key;
        rc = json_enter_object(&r);
        while (rc >= 0 && (rc = json_next_key(&r, a, &key)) > 0) {
            if (slice_eq_str(key, "pattern"))
                rc = json_read_string(&r, a, &pattern);
            else if (slice_eq_str(key, "anchored"))
                rc = json_read_bool(&r, &anchored);
            else if (slice_eq_str(key, "subjects")) {
                rc = json_enter_array(&r);
                while (rc >= 0 && (rc = json_next_elem(&r)) > 0 && n < 256)
                    rc = json_read_string(&r, a, &subjects[n++]);
            } else
                rc = json_skip(&r);
        }
        if (rc == 0)
            rc = check_pattern(h, pattern, anchored, subjects, n, w, &checked);
    }
    jw_array_end(w);
    jw_key(w, "checked");
    jw_uint(w, checked);
    jw_object_end(w);
    buf_release(&body);
    return rc;
}

/* ---- main ------------------------------------------------------------------ */

static int run(struct tier *t, struct clickhouse_http *h, const char *cmd, struct opts *o)
{
    struct arena a;
    arena_init(&a, 0);
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct json_writer w;
    json_writer_init(&w, &out);
    struct selector sel = {0};
    char err[1024] = "";
    int rc = 0;
    if (o->selector) {
        size_t used;
        if (selector_parse(slice_from(o->selector), &a, &sel, &used, err, sizeof(err)) < 0) {
            fprintf(stderr, "chtool: %s\n", err);
            arena_release(&a);
            buf_release(&out);
            return 2;
        }
    }
    struct tier_read_stats rs = {0};
    struct tier_query q = {
        .tenant = o->tenant,
        .sel = o->selector ? &sel : NULL,
        .start = o->start,
        .end = o->end,
        .backward = o->backward,
        .want_lines = !o->no_lines,
        .needles = o->needles,
        .n_needles = o->n_needles,
        .stats = &rs,
    };
    struct collected c = {.w = &w, .a = &a};
    if (!strcmp(cmd, "open")) {
        jw_string(&w, "ok");
    } else if (!strcmp(cmd, "ping")) {
        rc = clickhouse_tier_ping(t, err, sizeof(err));
        jw_string(&w, "ok");
    } else if (!strcmp(cmd, "append")) {
        struct push_batch b;
        struct buf body;
        buf_init(&body, BUF_UNLIMITED);
        push_batch_init(&b, o->tenant);
        if (!o->name || load_batch(o->name, &b, &body)) {
            rc = STRATA_EINVAL;
            snprintf(err, sizeof(err), "append needs a readable Loki push file");
        } else {
            uint64_t id = o->batch_id ? o->batch_id : clickhouse_batch_id(&b);
            struct clickhouse_append_info info;
            int64_t t0 = clock_mono_ns();
            rc = clickhouse_tier_append(t, &b, id, &info, err, sizeof(err));
            jw_object_begin(&w);
            jw_key(&w, "batch_id");
            jw_uint(&w, id);
            jw_key(&w, "rows");
            jw_uint(&w, info.rows);
            jw_key(&w, "duplicate");
            jw_bool(&w, info.duplicate);
            jw_key(&w, "attempts");
            jw_uint(&w, info.attempts);
            jw_key(&w, "requests");
            jw_uint(&w, info.requests);
            jw_key(&w, "seconds");
            jw_double(&w, (double)(clock_mono_ns() - t0) / 1e9);
            jw_object_end(&w);
        }
        push_batch_release(&b);
        buf_release(&body);
    } else if (!strcmp(cmd, "submit")) {
        struct waiter wt = {.left = 0};
        pthread_mutex_init(&wt.lock, NULL);
        pthread_cond_init(&wt.cond, NULL);
        const char *files[257];
        int n = 0;
        if (o->name)
            files[n++] = o->name;
        for (int i = 0; i < o->n_files && n < 256; i++)
            files[n++] = o->files[i];
        struct done_arg args[256];
        for (int i = 0; i < n && !rc; i++) {
            struct push_batch b;
            struct buf body;
            buf_init(&body, BUF_UNLIMITED);
            push_batch_init(&b, o->tenant);
            if (load_batch(files[i], &b, &body)) {
                rc = STRATA_EINVAL;
            } else {
                args[i] = (struct done_arg){&wt, i};
                pthread_mutex_lock(&wt.lock);
                wt.left++;
                pthread_mutex_unlock(&wt.lock);
                rc = clickhouse_tier_submit(t, &b, 0, on_done, &args[i]);
                if (rc) {
                    pthread_mutex_lock(&wt.lock);
                    wt.left--;
                    pthread_mutex_unlock(&wt.lock);
                    snprintf(err, sizeof(err), "submit: %s", strata_strerror(rc));
                }
            }
            push_batch_release(&b);
            buf_release(&body);
        }
        pthread_mutex_lock(&wt.lock);
        while (wt.left > 0)
            pthread_cond_wait(&wt.cond, &wt.lock);
        pthread_mutex_unlock(&wt.lock);
        jw_array_begin(&w);
        for (int i = 0; i < n; i++)
            jw_int(&w, wt.rcs[i]);
        jw_array_end(&w);
        pthread_cond_destroy(&wt.cond);
        pthread_mutex_destroy(&wt.lock);
    } else if (!strcmp(cmd, "select")) {
        jw_object_begin(&w);
        jw_key(&w, "streams");
        jw_array_begin(&w);
        rc = t->ops->select(t, &q, &a, on_stream, &c);
        jw_array_end(&w);
        jw_key(&w, "entries_read");
        jw_uint(&w, rs.entries_read);
        jw_key(&w, "pages");
        jw_uint(&w, rs.blocks_read);
        jw_object_end(&w);
        rc = rc ? rc : c.rc;
    } else if (!strcmp(cmd, "series")) {
        jw_array_begin(&w);
        rc = t->ops->series(t, &q, &a, on_series, &c);
        jw_array_end(&w);
    } else if (!strcmp(cmd, "stats")) {
        struct tier_stats st = {0};
        rc = t->ops->stats(t, &q, &st);
        jw_object_begin(&w);
        jw_key(&w, "streams");
        jw_uint(&w, st.streams);
        jw_key(&w, "chunks");
        jw_uint(&w, st.chunks);
        jw_key(&w, "entries");
        jw_uint(&w, st.entries);
        jw_key(&w, "bytes");
        jw_uint(&w, st.bytes);
        jw_object_end(&w);
    } else if (!strcmp(cmd, "labels") || !strcmp(cmd, "label-values")) {
        struct slice *v;
        uint32_t n;
        bool values = !strcmp(cmd, "label-values");
        if (values && !o->name)
            die("needs a label name", cmd);
        rc = values ? clickhouse_tier_label_values(t, &q, slice_from(o->name), &a, &v, &n)
                    : clickhouse_tier_label_names(t, &q, &a, &v, &n);
        jw_array_begin(&w);
        for (uint32_t i = 0; !rc && i < n; i++)
            jw_string_slice(&w, v[i]);
        jw_array_end(&w);
    } else if (!strcmp(cmd, "count")) {
        struct tier_count tc = {.origin = o->origin,
                                .width = o->width,
                                .n_buckets = o->buckets,
                                .want_bytes = o->bytes,
                                .want_meta = o->meta};
        q.count = &tc;
        q.filters = o->filters;
        q.n_filters = o->n_filters;
        jw_array_begin(&w);
        rc = t->ops->select(t, &q, &a, on_count, &c);
        jw_array_end(&w);
        rc = rc ? rc : c.rc;
    } else if (!strcmp(cmd, "regex-check")) {
        rc = regex_check(h, o->name, &a, &w);
    } else {
        die("unknown command", cmd);
    }
    if (rc) {
        fprintf(stderr, "chtool: %s failed: %s%s%s\n", cmd, strata_errname(rc), err[0] ? ": " : "",
                err);
    } else {
        print_buf(&out);
    }
    selector_release(&sel);
    arena_release(&a);
    buf_release(&out);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    /* Strata options come before the command, the command's own after it. */
    int cmd = 1;
    while (cmd < argc && argv[cmd][0] == '-')
        cmd++;
    if (cmd >= argc) {
        fprintf(stderr,
                "usage: chtool [strata options] COMMAND [options] (see tests/tools/chtool.c)\n");
        return 2;
    }
    struct config cfg;
    config_init(&cfg);
    int help = 0;
    char err[1024];
    if (config_parse_args(&cfg, cmd, (const char *const *)argv, &help, err, sizeof(err)) < 0) {
        fprintf(stderr, "chtool: %s\n", err);
        config_release(&cfg);
        return 2;
    }
    int lvl = log_level_parse(cfg.log_level);
    log_set_level(lvl < 0 ? LOG_INFO : (enum log_level)lvl);
    struct opts o;
    parse_opts(argc - cmd - 1, argv + cmd + 1, &o);
    struct tier *t;
    int rc = clickhouse_tier_open(&cfg, &t, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "chtool: %s\n", err);
        config_release(&cfg);
        metrics_reset();
        return 1;
    }
    struct clickhouse_config cc;
    if (clickhouse_config_resolve(&cfg, &cc, err, sizeof(err)) < 0) {
        fprintf(stderr, "chtool: %s\n", err);
        return 1;
    }
    struct clickhouse_http *h = clickhouse_http_new(&cc);
    int status = run(t, h, argv[cmd], &o);
    clickhouse_http_free(h);
    clickhouse_config_release(&cc);
    t->ops->close(t);
    config_release(&cfg);
    metrics_reset();
    return status;
}
