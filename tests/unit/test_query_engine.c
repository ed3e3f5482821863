/*
 * Unit tests of the query engine over fake tiers: merge order, dedup across
 * tiers, limit and direction, counts without lines, parallelism, limits,
 * LogsGO counts.
 */
#include <stdlib.h>

#include "core/clock.h"
#include "core/err.h"
#include "query/engine.h"
#include "query/eval.h"
#include "test.h"

#define MAX_FAKE 16

struct fake_entry {
    int64_t ts;
    const char *line;
};

struct fake_stream {
    struct label labels[3];
    uint32_t n_labels;
    struct fake_entry e[256];
    uint32_t n;
};

struct fake_tier {
    struct tier tier;
    struct fake_stream s[MAX_FAKE];
    uint32_t n;
    int want_lines_seen; /* last select's want_lines */
};

struct fake_cursor {
    struct tier_cursor base;
    const struct fake_stream *s;
    int64_t idx[256];
    uint32_t n, pos;
    bool lines;
    int64_t ts[3];
    uint32_t sizes[3];
    struct slice l[3];
};

static int fc_next(struct tier_cursor *c, struct entry_batch *out)
{
    struct fake_cursor *f = (struct fake_cursor *)c;
    if (f->pos >= f->n)
        return 0;
    uint32_t k = 0;
    while (k < 3 && f->pos < f->n) {
        const struct fake_entry *e = &f->s->e[f->idx[f->pos++]];
        f->ts[k] = e->ts;
        f->sizes[k] = (uint32_t)strlen(e->line);
        f->l[k] = slice_from(e->line);
        k++;
    }
    *out = (struct entry_batch){k, f->ts, f->sizes, f->lines ? f->l : NULL, NULL};
    return 1;
}

static void fc_close(struct tier_cursor *c)
{
    (void)c;
}

static const struct tier_cursor_ops fc_ops = {fc_next, fc_close};

static struct tier_stream stream_of(const struct fake_stream *s, struct arena *a)
{
    struct tier_stream ts = {0};
    ts.labels = s->labels;
    ts.n_labels = s->n_labels;
    ts.fp = labels_fingerprint(s->labels, s->n_labels);
    ts.key = engine_labels_key(a, s->labels, s->n_labels);
    return ts;
}

static int fake_select(struct tier *t, const struct tier_query *q, struct arena *a,
                       tier_stream_fn fn, void *arg)
{
    struct fake_tier *ft = (struct fake_tier *)t;
    ft->want_lines_seen = q->want_lines;
    for (uint32_t i = 0; i < ft->n; i++) {
        const struct fake_stream *s = &ft->s[i];
        if (q->sel && !selector_matches(q->sel, s->labels, s->n_labels))
            continue;
        struct fake_cursor *c = arena_calloc(a, 1, sizeof(*c));
        c->base.ops = &fc_ops;
        c->s = s;
        c->lines = q->want_lines;
        for (uint32_t k = 0; k < s->n; k++) {
            uint32_t j = q->backward ? s->n - 1 - k : k;
            if (s->e[j].ts >= q->start && s->e[j].ts < q->end)
                c->idx[c->n++] = j;
        }
        if (!c->n)
            continue;
        struct tier_stream ts = stream_of(s, a);
        ts.cursor = &c->base;
        if (fn(arg, &ts))
            break;
    }
    return 0;
}

static int fake_series(struct tier *t, const struct tier_query *q, struct arena *a,
                       tier_stream_fn fn, void *arg)
{
    struct fake_tier *ft = (struct fake_tier *)t;
    for (uint32_t i = 0; i < ft->n; i++)
        if (!q->sel || selector_matches(q->sel, ft->s[i].labels, ft->s[i].n_labels)) {
            struct tier_stream ts = stream_of(&ft->s[i], a);
            fn(arg, &ts);
        }
    return 0;
}

static int fake_stats(struct tier *t, const struct tier_query *q, struct tier_stats *out)
{
    (void)t;
    (void)q;
    (void)out;
    return 0;
}

static void fake_close(struct tier *t)
{
    (void)t;
}

/* The fake tier has no metadata, so it can always answer without lines. */
static const struct tier_ops fake_ops = {
    .name = "fake",
    .select = fake_select,
    .series = fake_series,
    .stats = fake_stats,
    .close = fake_close,
    .meta_without_lines = true,
};

static struct fake_stream *fake_add(struct fake_tier *t, const char *app, const char *pod)
{
    struct fake_stream *s = &t->s[t->n++];
    memset(s, 0, sizeof(*s));
    s->labels[s->n_labels++] = (struct label){SLICE_LIT("app"), slice_from(app)};
    if (pod)
        s->labels[s->n_labels++] = (struct label){SLICE_LIT("pod"), slice_from(pod)};
    return s;
}

static void fake_put(struct fake_stream *s, int64_t sec, const char *line)
{
    s->e[s->n++] = (struct fake_entry){sec * NS_PER_SEC, line};
}

static void fake_init(struct fake_tier *t)
{
    memset(t, 0, sizeof(*t));
    t->tier.ops = &fake_ops;
}

/* Two tiers: stream a{pod=1} in both (entry at 3s in both: a hand-over), b only in the second. */
static void two_tiers(struct fake_tier *t0, struct fake_tier *t1)
{
    fake_init(t0);
    fake_init(t1);
    t0->tier.next = &t1->tier;
    struct fake_stream *a0 = fake_add(t0, "a", "1");
    fake_put(a0, 1, "one");
    fake_put(a0, 2, "two");
    fake_put(a0, 3, "three");
    fake_put(a0, 5, "five");
    struct fake_stream *a1 = fake_add(t1, "a", "1");
    fake_put(a1, 3, "three");
    fake_put(a1, 4, "four");
    fake_put(a1, 5, "five-b");
    struct fake_stream *b1 = fake_add(t1, "b", NULL);
    fake_put(b1, 2, "bee");
    fake_put(b1, 2, "bee"); /* the same entry twice in one tier: both are real */
    fake_put(b1, 6, "bee6");
}

static int run_log(struct tier *chain, const char *q, bool backward, uint32_t limit, int par,
                   struct arena *a, struct log_result *res)
{
    struct plan p;
    char err[512];
    if (plan_parse_logql(slice_from(q), a, &p, err, sizeof(err)) < 0)
        return -100;
    struct log_query lq = {.tenant = "t",
                           .log = p.root,
                           .start = 0,
                           .end = 100 * NS_PER_SEC,
                           .limit = limit,
                           .backward = backward};
    lq.lim.parallelism = par;
    int rc = engine_log_query(chain, &lq, a, res, err, sizeof(err));
    plan_release(&p);
    return rc;
}

/* Entries as "sec:line" joined by spaces, streams separated by " | ". */
static const char *log_text(const struct log_result *r, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (uint32_t s = 0; s < r->n_streams; s++) {
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", s ? " | " : "",
                              (int)r->streams[s].key.len, r->streams[s].key.ptr);
        for (uint32_t i = 0; i < r->streams[s].n; i++)
            n += (size_t)snprintf(out + n, cap - n, " %lld:%.*s",
                                  (long long)(r->streams[s].e[i].ts / NS_PER_SEC),
                                  (int)r->streams[s].e[i].line.len, r->streams[s].e[i].line.ptr);
    }
    return out;
}

TEST(engine_merges_tiers_and_drops_hand_over_copies)
{
    struct fake_tier t0, t1;
    two_tiers(&t0, &t1);
    struct arena a;
    arena_init(&a, 0);
    struct log_result r;
    char o[2048];
    ASSERT_EQ_INT(run_log(&t0.tier, "{app=~\"a|b\"}", false, 100, 2, &a, &r), 0);
    ASSERT_EQ_STR(log_text(&r, o, sizeof(o)),
                  "{app=\"a\", pod=\"1\"} 1:one 2:two 3:three 4:four 5:five 5:five-b | "
                  "{app=\"b\"} 2:bee 2:bee 6:bee6");
    ASSERT_EQ_UINT(r.stats.entries_returned, 9);
    /* backward with a limit: the newest across streams */
    ASSERT_EQ_INT(run_log(&t0.tier, "{app=~\"a|b\"}", true, 3, 2, &a, &r), 0);
    ASSERT_EQ_STR(log_text(&r, o, sizeof(o)),
                  "{app=\"a\", pod=\"1\"} 5:five 5:five-b | {app=\"b\"} 6:bee6");
    /* forward with a limit: the oldest */
    ASSERT_EQ_INT(run_log(&t0.tier, "{app=~\"a|b\"}", false, 3, 1, &a, &r), 0);
    ASSERT_EQ_STR(log_text(&r, o, sizeof(o)),
                  "{app=\"a\", pod=\"1\"} 1:one 2:two | {app=\"b\"} 2:bee");
    arena_release(&a);
}

TEST(engine_parallelism_does_not_change_answers)
{
    struct fake_tier t0, t1;
    two_tiers(&t0, &t1);
    for (int extra = 0; extra < 10; extra++) {
        char *name = malloc(16);
        snprintf(name, 16, "c%d", extra);
        struct fake_stream *s = fake_add(&t1, name, NULL);
        for (int k = 0; k < 10; k++)
            fake_put(s, k * 3 + extra, "x");
    }
    struct arena a;
    arena_init(&a, 0);
    struct log_result r1, r2;
    char o1[8192], o2[8192];
    for (int backward = 0; backward < 2; backward++) {
        ASSERT_EQ_INT(run_log(&t0.tier, "{app=~\".+\"} |= \"\"", backward, 17, 1, &a, &r1), 0);
        ASSERT_EQ_INT(run_log(&t0.tier, "{app=~\".+\"} |= \"\"", backward, 17, 4, &a, &r2), 0);
        ASSERT_EQ_STR(log_text(&r1, o1, sizeof(o1)), log_text(&r2, o2, sizeof(o2)));
        ASSERT_EQ_UINT(r1.stats.entries_returned, 17);
    }
    for (uint32_t i = 2; i < t1.n; i++)
        free((void *)t1.s[i].labels[0].value.ptr);
    arena_release(&a);
}

static int run_metric(struct tier *chain, const char *q, int64_t start, int64_t end, int64_t step,
                      struct arena *a, struct metric_result *mr, char *err, size_t errlen)
{
    struct plan p;
    if (plan_parse_logql(slice_from(q), a, &p, err, errlen) < 0)
        return -100;
    struct metric_query mq = {.tenant = "t",
                              .plan = &p,
                              .start = start * NS_PER_SEC,
                              .end = end * NS_PER_SEC,
                              .step = step * NS_PER_SEC};
    mq.lim.parallelism = 2;
    mq.lim.max_series = 500;
    int rc = eval_metric_query(chain, &mq, a, mr, err, errlen);
    plan_release(&p);
    return rc;
}

TEST(engine_counts_without_lines_and_dedups_across_tiers)
{
    struct fake_tier t0, t1;
    two_tiers(&t0, &t1);
    struct arena a;
    arena_init(&a, 0);
    struct metric_result mr;
    char err[1024];
    ASSERT_EQ_INT(run_metric(&t0.tier, "count_over_time({app=\"a\"}[10s])", 10, 10, 1, &a, &mr, err,
                             sizeof(err)),
                  0);
    ASSERT_EQ_INT(t0.want_lines_seen, 0); /* no pipeline: timestamps and sizes only */
    /* a tier that keeps metadata beside the lines is asked for lines instead */
    static struct tier_ops plain_ops;
    plain_ops = fake_ops;
    plain_ops.meta_without_lines = false;
    t1.tier.ops = &plain_ops;
    ASSERT_EQ_INT(run_metric(&t0.tier, "count_over_time({app=\"a\"}[10s])", 10, 10, 1, &a, &mr, err,
                             sizeof(err)),
                  0);
    ASSERT_EQ_INT(t0.want_lines_seen, 1);
    ASSERT_NEAR(mr.m.s[0].v[0], 6, 0); /* with lines, the hand-over copy is found by its line */
    /* an outer sum without labels needs no metadata: no lines */
    ASSERT_EQ_INT(run_metric(&t0.tier, "sum(count_over_time({app=\"a\"}[10s]))", 10, 10, 1, &a, &mr,
                             err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(t0.want_lines_seen, 0);
    ASSERT_NEAR(mr.m.s[0].v[0], 6, 0);
    t1.tier.ops = &fake_ops;
    ASSERT_EQ_INT(mr.m.n, 1);
    /* 1 2 3 5 in tier 0; 3 (the same size: a copy) 4 5 (another size: a different entry) */
    ASSERT_NEAR(mr.m.s[0].v[0], 6, 0);
    /* with a line filter the lines are read */
    ASSERT_EQ_INT(run_metric(&t0.tier, "count_over_time({app=\"a\"} |= \"e\" [10s])", 10, 10, 1, &a,
                             &mr, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(t0.want_lines_seen, 1);
    ASSERT_NEAR(mr.m.s[0].v[0], 4, 0); /* one three five five-b */
    /* bytes and rate over steps, and the fold of sum by */
    ASSERT_EQ_INT(run_metric(&t0.tier, "sum by (app) (bytes_over_time({app=~\"a|b\"}[2s]))", 2, 6,
                             2, &a, &mr, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(mr.m.n, 2);
    ASSERT_EQ_SLICE(mr.m.s[0].labels[0].value, "a");
    ASSERT_NEAR(mr.m.s[0].v[0], 6, 0);  /* (0,2]: one two */
    ASSERT_NEAR(mr.m.s[0].v[1], 9, 0);  /* (2,4]: three four */
    ASSERT_NEAR(mr.m.s[0].v[2], 10, 0); /* (4,6]: five five-b */
    ASSERT_NEAR(mr.m.s[1].v[0], 6, 0);  /* bee bee */
    ASSERT_EQ_INT(mr.m.s[1].has[1], 0); /* nothing in (2,4] */
    ASSERT_NEAR(mr.m.s[1].v[2], 4, 0);  /* bee6 */
    arena_release(&a);
}

TEST(engine_many_steps_switch_to_per_step_counts)
{
    /* More samples than steps turn a series into per-step counts: same answers. */
    struct fake_tier t;
    fake_init(&t);
    struct fake_stream *s = fake_add(&t, "d", NULL);
    for (int k = 0; k < 16; k++)
        fake_put(s, k, "abc");
    struct arena a;
    arena_init(&a, 0);
    struct metric_result mr;
    char err[512];
    ASSERT_EQ_INT(run_metric(&t.tier, "count_over_time({app=\"d\"}[3s])", 0, 15, 5, &a, &mr, err,
                             sizeof(err)),
                  0);
    ASSERT_EQ_INT(mr.m.n, 1);
    ASSERT_NEAR(mr.m.s[0].v[0], 1, 0); /* (-3,0] */
    ASSERT_NEAR(mr.m.s[0].v[1], 3, 0); /* (2,5] */
    ASSERT_NEAR(mr.m.s[0].v[2], 3, 0);
    ASSERT_NEAR(mr.m.s[0].v[3], 3, 0);
    arena_release(&a);
}

TEST(engine_series_limit_and_memory_limit)
{
    struct fake_tier t;
    fake_init(&t);
    static char names[MAX_FAKE][16];
    for (int i = 0; i < MAX_FAKE; i++) {
        snprintf(names[i], sizeof(names[i]), "s%d", i);
        fake_put(fake_add(&t, "m", names[i]), 1, "x");
    }
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[1024];
    ASSERT_EQ_INT(
        plan_parse_logql(slice_from("count_over_time({app=\"m\"}[1m])"), &a, &p, err, sizeof(err)),
        0);
    struct metric_query mq = {.tenant = "t",
                              .plan = &p,
                              .start = 10 * NS_PER_SEC,
                              .end = 10 * NS_PER_SEC,
                              .step = NS_PER_SEC};
    mq.lim.max_series = 10;
    struct metric_result mr;
    ASSERT_EQ_INT(eval_metric_query(&t.tier, &mq, &a, &mr, err, sizeof(err)), STRATA_ELIMIT);
    ASSERT_TRUE(strstr(err, "maximum number of series (10) reached for a single query") != NULL);
    mq.lim.max_series = 0;
    mq.lim.max_memory = 100;
    ASSERT_EQ_INT(eval_metric_query(&t.tier, &mq, &a, &mr, err, sizeof(err)), STRATA_ELIMIT);
    ASSERT_TRUE(strstr(err, "memory limit") != NULL);
    /* a deadline already past */
    mq.lim.max_memory = 0;
    mq.lim.deadline_ns = clock_mono_ns() - 1;
    int rc = eval_metric_query(&t.tier, &mq, &a, &mr, err, sizeof(err));
    ASSERT_TRUE(rc == 0 || rc == STRATA_ETIMEOUT);
    plan_release(&p);
    arena_release(&a);
}

TEST(engine_logsgo_counts_are_cumulative)
{
    struct fake_tier t;
    fake_init(&t);
    struct fake_stream *s = fake_add(&t, "x", NULL);
    s->labels[0] = (struct label){SLICE_LIT("level"), SLICE_LIT("info")};
    s->labels[1] = (struct label){SLICE_LIT("service"), SLICE_LIT("svc")};
    s->n_labels = 2;
    fake_put(s, 10, "hello");
    fake_put(s, 10, "hello");
    fake_put(s, 20, "other");
    fake_put(s, 30, "hello");
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[512];
    ASSERT_EQ_INT(plan_parse_logql(slice_from("{service=\"svc\"}"), &a, &p, err, sizeof(err)), 0);
    struct logsgo_series *v;
    uint32_t n;
    struct query_stats st = {0};
    struct query_limits lim = {0};
    ASSERT_EQ_INT(engine_logsgo_counts(&t.tier, "t", p.root, 100 * NS_PER_SEC, &lim, &a, &v, &n,
                                       &st, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(n, 2);
    ASSERT_EQ_SLICE(v[0].message, "hello");
    ASSERT_EQ_SLICE(v[0].service, "svc");
    ASSERT_EQ_SLICE(v[0].level, "info");
    ASSERT_EQ_INT(v[0].n_custom, 0);
    ASSERT_EQ_INT(v[0].n, 2);
    ASSERT_EQ_INT(v[0].sec[0], 10);
    ASSERT_EQ_UINT(v[0].count[0], 2);
    ASSERT_EQ_INT(v[0].sec[1], 30);
    ASSERT_EQ_UINT(v[0].count[1], 3);
    ASSERT_EQ_SLICE(v[1].message, "other");
    plan_release(&p);
    arena_release(&a);
}

/* Brute force: entries of s with ts in (t - range, t]. */
static int brute_count(const struct fake_stream *s, int64_t t, int64_t range)
{
    int n = 0;
    for (uint32_t i = 0; i < s->n; i++)
        n += s->e[i].ts > t - range && s->e[i].ts <= t;
    return n;
}

TEST(engine_dense_counts_match_brute_force)
{
    /* 250 entries over few steps: the series turns into per-step counters */
    struct fake_tier t;
    fake_init(&t);
    struct fake_stream *s = fake_add(&t, "dense", NULL);
    for (int k = 0; k < 250; k++)
        s->e[s->n++] = (struct fake_entry){k * 137 * NS_PER_MS + (k % 7) * 3, "abcd"};
    struct arena a;
    arena_init(&a, 0);
    static const struct {
        const char *q;
        int64_t start, end, step, range, off;
    } cases[] = {
        {"count_over_time({app=\"dense\"}[3s])", 0, 40, 2, 3, 0},
        {"count_over_time({app=\"dense\"}[1s])", 1, 35, 1, 1, 0},
        {"count_over_time({app=\"dense\"}[5s] offset 2s)", 3, 36, 3, 5, 2},
        {"bytes_over_time({app=\"dense\"}[4s])", 0, 34, 4, 4, 0},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct metric_result mr;
        char err[512];
        ASSERT_EQ_INT(run_metric(&t.tier, cases[c].q, cases[c].start, cases[c].end, cases[c].step,
                                 &a, &mr, err, sizeof(err)),
                      0);
        ASSERT_EQ_INT(mr.m.n, 1);
        bool bytes = strstr(cases[c].q, "bytes") != NULL;
        for (uint32_t k = 0; k < mr.m.n_steps; k++) {
            int64_t tk = (cases[c].start + (int64_t)k * cases[c].step - cases[c].off) * NS_PER_SEC;
            int want = brute_count(s, tk, cases[c].range * NS_PER_SEC) * (bytes ? 4 : 1);
            ASSERT_EQ_INT(mr.m.s[0].has[k], want > 0);
            if (want)
                ASSERT_NEAR(mr.m.s[0].v[k], want, 0);
        }
    }
    arena_release(&a);
}
