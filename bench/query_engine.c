/*
 * query_engine.c - the query engine's own cost on the benchmark corpus.
 *
 * Loads a corpus made by make-corpus.py --format tsv into memory, serves it
 * through an in-memory tier (zero-copy cursors of 1024 entries, no blooms,
 * no decompression), and times the benchmark queries: the median of
 * several runs with 1 and 2 worker threads. What it measures is the engine
 * (merge, pipeline, aggregation); a storage tier adds its reading on top.
 *
 *     cc -O2 -Isrc -Ibuild/gen bench/query_engine.c build/libstrata-server.a \
 *        $(pkg-config --libs ...) -o build/query-bench
 *     build/query-bench corpus.tsv [runs] [query-name-substring]
 */
#include <fcntl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "query/engine.h"
#include "query/eval.h"

struct mstream {
    struct label labels[3];
    struct slice key;
    uint64_t fp;
    int64_t *ts;
    uint32_t *sizes;
    struct slice *lines;
    uint32_t n, cap;
};

struct mtier {
    struct tier tier;
    struct mstream *s;
    uint32_t n;
};

struct mcursor {
    struct tier_cursor base;
    const struct mstream *s;
    uint32_t lo, hi, pos; /* [lo, hi) in the stream, pos moving in the query's direction */
    bool backward, lines;
    int64_t ts[1024];
    uint32_t sizes[1024];
    struct slice l[1024];
};

static int mc_next(struct tier_cursor *c, struct entry_batch *out)
{
    struct mcursor *m = (struct mcursor *)c;
    if (m->pos >= m->hi - m->lo)
        return 0;
    uint32_t k = m->hi - m->lo - m->pos;
    if (k > 1024)
        k = 1024;
    if (!m->backward) {
        uint32_t at = m->lo + m->pos;
        *out = (struct entry_batch){k, m->s->ts + at, m->s->sizes + at,
                                    m->lines ? m->s->lines + at : NULL, NULL};
    } else {
        for (uint32_t i = 0; i < k; i++) {
            uint32_t at = m->hi - 1 - m->pos - i;
            m->ts[i] = m->s->ts[at];
            m->sizes[i] = m->s->sizes[at];
            m->l[i] = m->s->lines[at];
        }
        *out = (struct entry_batch){k, m->ts, m->sizes, m->lines ? m->l : NULL, NULL};
    }
    m->pos += k;
    return 1;
}

static void mc_close(struct tier_cursor *c)
{
    free(c);
}

static const struct tier_cursor_ops mc_ops = {mc_next, mc_close};

static uint32_t lower_bound(const int64_t *v, uint32_t n, int64_t x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int m_select(struct tier *t, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                    void *arg)
{
    (void)a;
    struct mtier *mt = (struct mtier *)t;
    for (uint32_t i = 0; i < mt->n; i++) {
        const struct mstream *s = &mt->s[i];
        if (q->sel && !selector_matches(q->sel, s->labels, 3))
            continue;
        uint32_t lo = lower_bound(s->ts, s->n, q->start), hi = lower_bound(s->ts, s->n, q->end);
        if (lo >= hi)
            continue;
        struct mcursor *c = xcalloc(1, sizeof(*c));
        c->base.ops = &mc_ops;
        c->s = s;
        c->lo = lo;
        c->hi = hi;
        c->backward = q->backward;
        c->lines = q->want_lines;
        struct tier_stream ts = {s->fp, s->labels, 3, s->key, &c->base};
        if (fn(arg, &ts))
            return 0;
    }
    return 0;
}

static int m_series(struct tier *t, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                    void *arg)
{
    (void)t, (void)q, (void)a, (void)fn, (void)arg;
    return 0;
}

static int m_stats(struct tier *t, const struct tier_query *q, struct tier_stats *out)
{
    (void)t, (void)q, (void)out;
    return 0;
}

static void m_close(struct tier *t)
{
    (void)t;
}

static const struct tier_ops m_ops = {
    .name = "memory-bench",
    .select = m_select,
    .series = m_series,
    .stats = m_stats,
    .close = m_close,
    .meta_without_lines = true, /* the corpus has no metadata */
};

static struct mstream *stream_for(struct mtier *t, struct arena *a, struct slice app,
                                  struct slice host, struct slice level)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (slice_eq(t->s[i].labels[0].value, app) && slice_eq(t->s[i].labels[1].value, host) &&
            slice_eq(t->s[i].labels[2].value, level))
            return &t->s[i];
    t->s = xreallocarray(t->s, t->n + 1, sizeof(*t->s));
    struct mstream *s = &t->s[t->n++];
    memset(s, 0, sizeof(*s));
    s->labels[0] = (struct label){SLICE_LIT("app"), app};
    s->labels[1] = (struct label){SLICE_LIT("host"), host};
    s->labels[2] = (struct label){SLICE_LIT("level"), level};
    s->fp = labels_fingerprint(s->labels, 3);
    s->key = engine_labels_key(a, s->labels, 3);
    return s;
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median wall time in ms; *cpu gets the median CPU time (all threads) in ms. */
static double run(struct mtier *t, const char *query, int64_t start, int64_t end, int par, int runs,
                  uint64_t *result, double *cpu)
{
    double best[32], cpus[32];
    for (int r = 0; r < runs; r++) {
        struct arena a;
        arena_init(&a, 0);
        struct plan p;
        char err[1024];
        if (plan_parse_logql(slice_from(query), &a, &p, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s: %s\n", query, err);
            exit(1);
        }
        int64_t t0 = clock_mono_ns(), c0 = cpu_ns();
        if (plan_is_metric(&p)) {
            struct metric_query mq = {"bench", &p, start, end, 60 * NS_PER_SEC, {0}};
            mq.lim.parallelism = par;
            struct metric_result mr;
            if (eval_metric_query(&t->tier, &mq, &a, &mr, err, sizeof(err)) < 0) {
                fprintf(stderr, "%s: %s\n", query, err);
                exit(1);
            }
            *result = mr.m.n;
        } else {
            struct log_query lq = {"bench", p.root, start, end, 100, true, false, {0}};
            lq.lim.parallelism = par;
            struct log_result lr;
            if (engine_log_query(&t->tier, &lq, &a, &lr, err, sizeof(err)) < 0) {
                fprintf(stderr, "%s: %s\n", query, err);
                exit(1);
            }
            *result = lr.stats.entries_returned;
        }
        best[r] = (double)(clock_mono_ns() - t0) / 1e6;
        cpus[r] = (double)(cpu_ns() - c0) / 1e6;
        plan_release(&p);
        arena_release(&a);
    }
    qsort(best, (size_t)runs, sizeof(double), cmp_double);
    qsort(cpus, (size_t)runs, sizeof(double), cmp_double);
    *cpu = cpus[runs / 2];
    return best[runs / 2];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s corpus.tsv [runs]\n", argv[0]);
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > 31)
        runs = 5;
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(argv[1]);
        return 1;
    }
    char *data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    struct arena a;
    arena_init(&a, 0);
    struct mtier t = {{&m_ops, NULL}, NULL, 0};
    int64_t t0 = clock_mono_ns(), min_ts = INT64_MAX, max_ts = INT64_MIN;
    uint64_t lines = 0;
    for (char *p = data, *end = data + st.st_size; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        char *f[5];
        size_t fl[5];
        char *q = p;
        for (int k = 0; k < 5; k++) {
            char *tab = k < 4 ? memchr(q, '\t', (size_t)(nl - q)) : nl;
            if (!tab)
                tab = nl;
            f[k] = q;
            fl[k] = (size_t)(tab - q);
            q = tab + 1;
        }
        int64_t ts = strtoll(f[0], NULL, 10);
        struct mstream *s = stream_for(&t, &a, (struct slice){f[1], fl[1]},
                                       (struct slice){f[2], fl[2]}, (struct slice){f[3], fl[3]});
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 1024;
            s->ts = xreallocarray(s->ts, s->cap, sizeof(*s->ts));
            s->sizes = xreallocarray(s->sizes, s->cap, sizeof(*s->sizes));
            s->lines = xreallocarray(s->lines, s->cap, sizeof(*s->lines));
        }
        s->ts[s->n] = ts;
        s->sizes[s->n] = (uint32_t)fl[4];
        s->lines[s->n++] = (struct slice){f[4], fl[4]};
        if (ts < min_ts)
            min_ts = ts;
        if (ts > max_ts)
            max_ts = ts;
        lines++;
        p = nl + 1;
    }
    /* lay each stream's lines out contiguously, as a tier's decompressed blocks are */
    for (uint32_t i = 0; i < t.n; i++) {
        struct mstream *s = &t.s[i];
        size_t total = 0;
        for (uint32_t k = 0; k < s->n; k++)
            total += s->lines[k].len;
        char *buf = xmalloc(total ? total : 1), *w = buf;
        for (uint32_t k = 0; k < s->n; k++) {
            /* undo the TSV escapes: \t \n \\ */
            const char *r = s->lines[k].ptr;
            size_t len = s->lines[k].len;
            char *start = w;
            for (size_t j = 0; j < len; j++) {
                if (r[j] == '\\' && j + 1 < len) {
                    char c = r[++j];
                    *w++ = c == 't' ? '\t' : c == 'n' ? '\n' : c;
                } else {
                    *w++ = r[j];
                }
            }
            s->lines[k] = (struct slice){start, (size_t)(w - start)};
            s->sizes[k] = (uint32_t)(w - start);
        }
    }
    /* the labels still point into the mapped file: keep it */
    printf("loaded %llu lines in %u streams in %.1f s\n", (unsigned long long)lines, t.n,
           (double)(clock_mono_ns() - t0) / 1e9);
    int64_t start = min_ts - min_ts % (60 * NS_PER_SEC), end = max_ts + 1;
    static const struct {
        const char *name, *query;
    } qs[] = {
        {"selective selector", "{app=\"apache\", host=\"apache-01\", level=\"error\"}"},
        {"selector + |= needle", "{app=\"apache\"} |= \"workerEnv in error state 1\""},
        {"|= needle over everything", "{app=~\".+\"} |= \"zzzz-not-there\""},
        {"|~ regex over everything", "{app=~\".+\"} |~ \"error state [0-9]+0$\""},
        {"| json | duration_ms > 500",
         "{app=~\"healthapp|hadoop|android\"} | json | duration_ms > 500"},
        {"json over everything, no match",
         "{app=~\"healthapp|hadoop|android\"} | json | duration_ms > 5000000"},
        {"counts per minute by level (day)", "sum by (level) (count_over_time({app=~\".+\"}[1m]))"},
    };
    printf("%-34s %12s %12s %12s %8s\n", "query (median of runs)", "1 thread", "2 threads",
           "cpu (1 thr)", "result");
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        if (argc > 3 && !strstr(qs[i].name, argv[3]))
            continue;
        uint64_t r1, r2;
        double c1, c2;
        double m1 = run(&t, qs[i].query, start, end, 1, runs, &r1, &c1);
        double m2 = run(&t, qs[i].query, start, end, 2, runs, &r2, &c2);
        printf("%-34s %10.1fms %10.1fms %10.1fms %8llu\n", qs[i].name, m1, m2, c1,
               (unsigned long long)r2);
    }
    return 0;
}
