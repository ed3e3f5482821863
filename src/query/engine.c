/*
 * engine.c - reading the tier chain for queries: collection of cursors,
 * per-stream merge and dedup, parallel workers, log queries with limit and
 * direction pushed down, range aggregations, LogsGO counts.
 */
#include "query/engine.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/gostr.h"
#include "core/hash.h"
#include "query/pipeline.h"
#include "query/regex.h"
#include "query/template.h"

/* ---------------------------------------------------------------- helpers */

uint32_t engine_tenants(const char *tenant, struct arena *a, const char ***out)
{
    uint32_t n = 1;
    for (const char *p = tenant; *p; p++)
        n += *p == '|';
    const char **v = arena_alloc(a, n * sizeof(*v));
    char *copy = arena_strdup(a, tenant);
    uint32_t k = 0;
    for (char *p = copy;;) {
        char *bar = strchr(p, '|');
        if (bar)
            *bar = '\0';
        bool dup = false;
        for (uint32_t j = 0; j < k; j++)
            dup = dup || !strcmp(v[j], p);
        if (*p && !dup)
            v[k++] = p;
        if (!bar)
            break;
        p = bar + 1;
    }
    *out = v;
    return k;
}

struct slice engine_labels_key(struct arena *a, const struct label *v, uint32_t n)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    if (labels_format(&b, v, n) < 0)
        buf_reset(&b);
    struct slice s = arena_slice_dup(a, buf_slice(&b));
    buf_release(&b);
    return s;
}

int engine_labels_cmp(const struct label *a, uint32_t na, const struct label *b, uint32_t nb)
{
    uint32_t n = na < nb ? na : nb;
    for (uint32_t i = 0; i < n; i++) {
        int c = slice_cmp(a[i].name, b[i].name);
        if (c)
            return c;
        c = slice_cmp(a[i].value, b[i].value);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb;
}

static uint64_t labels_hash(const struct label *v, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint32_t i = 0; i < n; i++) {
        h = hash64_seed(v[i].name.ptr, v[i].name.len, h);
        h = hash64_seed(v[i].value.ptr, v[i].value.len, h ^ 0xff);
    }
    return h;
}

static bool labels_equal(const struct label *a, uint32_t na, const struct label *b, uint32_t nb)
{
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++)
        if (!slice_eq(a[i].name, b[i].name) || !slice_eq(a[i].value, b[i].value))
            return false;
    return true;
}

static int ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 256 ? (int)n : 2;
}

/* floor((a) / b) for b > 0 */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return -floor_div(-a, b);
}

/* ---------------------------------------------------------------- collection */

struct cur {
    struct tier_cursor *c;
    struct entry_batch b;
    uint32_t i;
    bool eof, started;
    int tier;
    uint64_t fp;
    const struct label *labels;
    uint32_t n_labels;
    struct slice key;
    uint32_t mask; /* branches that apply */
};

struct group {
    uint64_t fp;
    const struct label *labels;
    uint32_t n_labels;
    struct slice key;
    uint32_t first, n; /* cursors */
    uint32_t mask;
    uint32_t idx;
};

/* A stream a tier answered with counts (tier_query.count) instead of a cursor. */
struct counted {
    const struct label *labels;
    uint32_t n_labels;
    const struct tier_counts *c;
};

struct engine {
    const struct log_expr *br;
    uint32_t n_br;
    bool backward, want_lines, want_meta;
    int64_t start, end;
    const struct tier_count *count; /* counting push-down asked of the tiers, or NULL */
    uint32_t limit_hint;            /* a log query's limit, for tier_query.limit_hint */
    struct counted *counted;        /* what they answered with counts */
    uint32_t n_counted, cap_counted;
    struct arena *a; /* collection memory (single-threaded phase only) */
    struct cur *curs;
    uint32_t n_curs, cap_curs;
    struct group *groups;
    uint32_t n_groups;
    struct query_limits lim;
    volatile int cancel;
    pthread_mutex_t lock;
    int rc;
    char err[600];
    struct tier_read_stats read;
    uint64_t lines, bytes; /* atomics */
    size_t mem_used;       /* atomic: bytes of worker state */
};

/* The cancel flag is set by any thread (engine_fail) and read by all: atomically. */
#define CANCELLED(e) (__atomic_load_n(&(e)->cancel, __ATOMIC_RELAXED) != 0)

static void engine_init(struct engine *e, struct arena *a, const struct query_limits *lim)
{
    memset(e, 0, sizeof(*e));
    e->a = a;
    if (lim)
        e->lim = *lim;
    pthread_mutex_init(&e->lock, NULL);
}

static void engine_close_cursors(struct engine *e)
{
    for (uint32_t i = 0; i < e->n_curs; i++)
        if (e->curs[i].c) {
            e->curs[i].c->ops->close(e->curs[i].c);
            e->curs[i].c = NULL;
        }
}

static void engine_release(struct engine *e)
{
    engine_close_cursors(e);
    free(e->curs);
    free(e->groups);
    free(e->counted);
    pthread_mutex_destroy(&e->lock);
}

__attribute__((format(printf, 3, 4))) static void engine_fail(struct engine *e, int rc,
                                                              const char *fmt, ...)
{
    pthread_mutex_lock(&e->lock);
    if (!e->rc) {
        e->rc = rc;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->err, sizeof(e->err), fmt, ap);
        va_end(ap);
    }
    __atomic_store_n(&e->cancel, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&e->lock);
}

struct collect_ctx {
    struct engine *e;
    uint32_t branch;
    int tier;
    const char *tenant; /* non-NULL: add __tenant_id__ */
};

/* s's labels with __tenant_id__ added (a query over several tenants), in a. */
static const struct label *with_tenant(struct arena *a, const struct tier_stream *s,
                                       const char *tenant, uint32_t *n_out)
{
    struct label *v = arena_alloc(a, (s->n_labels + 1) * sizeof(*v));
    uint32_t n = 0;
    bool put = false;
    for (uint32_t i = 0; i < s->n_labels; i++) {
        if (!put && slice_cmp(s->labels[i].name, SLICE_LIT("__tenant_id__")) > 0) {
            v[n++] = (struct label){SLICE_LIT("__tenant_id__"), slice_from(tenant)};
            put = true;
        }
        v[n++] = s->labels[i];
    }
    if (!put)
        v[n++] = (struct label){SLICE_LIT("__tenant_id__"), slice_from(tenant)};
    *n_out = n;
    return v;
}

static int on_stream(void *arg, const struct tier_stream *s)
{
    struct collect_ctx *cc = arg;
    struct engine *e = cc->e;
    if (s->counts && e->count) {
        if (e->n_counted == e->cap_counted) {
            e->cap_counted = e->cap_counted ? e->cap_counted * 2 : 64;
            e->counted = xreallocarray(e->counted, e->cap_counted, sizeof(*e->counted));
        }
        struct counted *k = &e->counted[e->n_counted++];
        k->c = s->counts;
        k->labels = s->labels;
        k->n_labels = s->n_labels;
        if (cc->tenant)
            k->labels = with_tenant(e->a, s, cc->tenant, &k->n_labels);
        return CANCELLED(e) ? 1 : 0;
    }
    if (!s->cursor)
        return 0;
    /* A stream an earlier branch picks is already collected for it. */
    for (uint32_t j = 0; j < cc->branch; j++)
        if (selector_matches(&e->br[j].sel, s->labels, s->n_labels)) {
            s->cursor->ops->close(s->cursor);
            return 0;
        }
    uint32_t mask = 0;
    for (uint32_t j = cc->branch; j < e->n_br && j < 32; j++)
        if (j == cc->branch || selector_matches(&e->br[j].sel, s->labels, s->n_labels))
            mask |= 1u << j;
    if (e->n_curs == e->cap_curs) {
        e->cap_curs = e->cap_curs ? e->cap_curs * 2 : 64;
        e->curs = xreallocarray(e->curs, e->cap_curs, sizeof(*e->curs));
    }
    struct cur *c = &e->curs[e->n_curs++];
    memset(c, 0, sizeof(*c));
    c->c = s->cursor;
    c->tier = cc->tier;
    c->fp = s->fp;
    c->labels = s->labels;
    c->n_labels = s->n_labels;
    c->key = s->key;
    c->mask = mask;
    if (cc->tenant) {
        c->labels = with_tenant(e->a, s, cc->tenant, &c->n_labels);
        c->key = engine_labels_key(e->a, c->labels, c->n_labels);
        c->fp = labels_fingerprint(c->labels, c->n_labels);
    }
    return CANCELLED(e) ? 1 : 0;
}

static int cmp_cur(const void *a, const void *b)
{
    const struct cur *x = a, *y = b;
    int c = slice_cmp(x->key, y->key);
    if (c)
        return c;
    return x->tier < y->tier ? -1 : x->tier > y->tier;
}

/* The tier's form of a line filter stage, if it has one. */
static bool tier_filter_of(const struct stage *st, struct tier_line_filter *out)
{
    if (st->kind != STAGE_LINE_FILTER || st->lf.n != 1)
        return false;
    switch (st->lf.op) {
    case LINE_CONTAINS: out->op = TIER_LINE_CONTAINS; break;
    case LINE_NOT_CONTAINS: out->op = TIER_LINE_NOT_CONTAINS; break;
    case LINE_REGEX: out->op = TIER_LINE_REGEX; break;
    case LINE_NOT_REGEX: out->op = TIER_LINE_NOT_REGEX; break;
    default: return false;
    }
    out->pattern = st->lf.values[0];
    return true;
}

/*
 * Pruning hints (single branch only): the substrings every line must
 * contain (bloom filters): the |= needles, and the literal a |~ regex
 * requires when its pattern shows one (regex_required_literal: "Failed
 * password for (invalid user )?root" requires "Failed password for "), so
 * that a regex over everything reads only the blocks whose filters have it;
 * and the line filters every line must pass (tiers that filter themselves).
 * Both from the stages before the line is rewritten.
 */
struct line_hints {
    struct slice *needles;
    uint32_t n_needles;
    struct tier_line_filter *filters;
    uint32_t n_filters;
};

static void line_hints_of(const struct log_expr *br, uint32_t n_br, struct arena *a,
                          struct line_hints *h)
{
    memset(h, 0, sizeof(*h));
    if (n_br != 1)
        return;
    h->needles = arena_alloc(a, (br->n_stages + 1) * sizeof(*h->needles));
    h->filters = arena_alloc(a, (br->n_stages + 1) * sizeof(*h->filters));
    for (uint32_t i = 0; i < br->n_stages; i++) {
        const struct stage *s = &br->stages[i];
        if (s->kind == STAGE_LINE_FORMAT || s->kind == STAGE_DECOLORIZE || s->kind == STAGE_UNPACK)
            break;
        if (s->kind == STAGE_LINE_FILTER &&
            (s->lf.op == LINE_CONTAINS || s->lf.op == LINE_EQUALS) && s->lf.n == 1 &&
            s->lf.values[0].len)
            h->needles[h->n_needles++] = s->lf.values[0];
        else if (s->kind == STAGE_LINE_FILTER && s->lf.op == LINE_REGEX && s->lf.n == 1 &&
                 s->lf.re && s->lf.re[0] &&
                 regex_required_literal(s->lf.re[0], &h->needles[h->n_needles]) &&
                 h->needles[h->n_needles].len)
            h->n_needles++; /* the literal the regex requires, as a needle */
        if (tier_filter_of(s, &h->filters[h->n_filters]))
            h->n_filters++;
    }
}

/*
 * Open cursors on every tier for every branch and tenant, then group them by
 * stream. Cursors from the same stream in different tiers or parts share a
 * group; groups are ordered by their label key.
 */
static int collect(struct engine *e, struct tier *chain, const char *tenant_spec)
{
    const char **tenants;
    uint32_t nt = engine_tenants(tenant_spec, e->a, &tenants);
    struct line_hints lh;
    line_hints_of(e->br, e->n_br, e->a, &lh);
    for (uint32_t ti = 0; ti < nt && !e->rc; ti++) {
        for (uint32_t b = 0; b < e->n_br && !e->rc; b++) {
            int tier_idx = 0;
            for (struct tier *t = chain; t && !e->rc; t = t->next, tier_idx++) {
                struct tier_query tq = {
                    .tenant = tenants[ti],
                    .sel = &e->br[b].sel,
                    .start = e->start,
                    .end = e->end,
                    .backward = e->backward,
                    .want_lines = e->want_lines,
                    .want_meta = e->want_meta || e->want_lines,
                    .needles = lh.n_needles ? lh.needles : NULL,
                    .n_needles = lh.n_needles,
                    .cancel = &e->cancel,
                    .stats = &e->read,
                    .filters = lh.n_filters ? lh.filters : NULL,
                    .n_filters = lh.n_filters,
                    .count = e->count,
                    .limit_hint = lh.n_filters == e->br[b].n_stages ? e->limit_hint : 0,
                };
                struct collect_ctx cc = {e, b, tier_idx, nt > 1 ? tenants[ti] : NULL};
                int rc = t->ops->select(t, &tq, e->a, on_stream, &cc);
                if (rc < 0)
                    engine_fail(e, rc, "reading tier %s: %s", t->ops->name, strata_strerror(rc));
            }
        }
    }
    if (e->rc)
        return e->rc;
    if (e->n_curs > 1)
        qsort(e->curs, e->n_curs, sizeof(*e->curs), cmp_cur);
    e->groups = xmallocarray(e->n_curs ? e->n_curs : 1, sizeof(*e->groups));
    for (uint32_t i = 0; i < e->n_curs;) {
        uint32_t j = i + 1;
        while (j < e->n_curs && e->curs[j].fp == e->curs[i].fp &&
               slice_eq(e->curs[j].key, e->curs[i].key))
            j++;
        struct group *g = &e->groups[e->n_groups];
        g->fp = e->curs[i].fp;
        g->labels = e->curs[i].labels;
        g->n_labels = e->curs[i].n_labels;
        g->key = e->curs[i].key;
        g->first = i;
        g->n = j - i;
        g->mask = 0;
        for (uint32_t k = i; k < j; k++)
            g->mask |= e->curs[k].mask;
        g->idx = e->n_groups++;
        i = j;
    }
    return 0;
}

/* ---------------------------------------------------------------- cursors */

/* Make c's current position valid (fetch a batch when needed); false at the end. */
static bool cur_ready(struct engine *e, struct cur *c)
{
    while (!c->eof && (!c->started || c->i >= c->b.n)) {
        c->started = true;
        c->i = 0;
        int rc = c->c->ops->next(c->c, &c->b);
        if (rc <= 0) {
            c->eof = true;
            c->b.n = 0;
            if (rc < 0)
                engine_fail(e, rc, "reading a cursor: %s", strata_strerror(rc));
            return false;
        }
    }
    return !c->eof;
}

/* A group's cursors merged by time, with entries seen in two tiers dropped. */
struct giter {
    struct engine *e;
    struct group *g;
    struct cur *c;
    int taken;  /* cursor whose entry is current (advance before the next pick) */
    bool valid; /* an entry is current */
    /* current entry */
    int64_t ts;
    uint32_t size;
    struct slice line, meta;
    int tier;
    /* dedup across tiers at one timestamp */
    int64_t dup_ts;
    uint32_t n_dup;
    struct {
        uint64_t key;
        int tier;
        bool used;
    } dup[16];
};

static void gi_init(struct giter *gi, struct engine *e, struct group *g)
{
    memset(gi, 0, sizeof(*gi));
    gi->e = e;
    gi->g = g;
    gi->c = &e->curs[g->first];
    gi->taken = -1;
    gi->dup_ts = INT64_MIN;
}

/* Close a group's cursors once it is read: a tier keeps a decompressed block per open cursor. */
static void group_close(struct engine *e, const struct group *g)
{
    for (uint32_t k = 0; k < g->n; k++) {
        struct cur *c = &e->curs[g->first + k];
        if (c->c) {
            c->c->ops->close(c->c);
            c->c = NULL;
        }
    }
}

static uint64_t dup_key(const struct giter *gi, const struct cur *c)
{
    if (c->b.lines)
        return hash64(c->b.lines[c->i].ptr, c->b.lines[c->i].len) ^
               (c->b.meta ? hash64(c->b.meta[c->i].ptr, c->b.meta[c->i].len) : 0);
    (void)gi;
    return c->b.sizes[c->i];
}

/* True when the entry at c is a copy of one already returned from another tier. */
static bool gi_is_dup(struct giter *gi, struct cur *c, int64_t ts)
{
    if (ts != gi->dup_ts) {
        gi->dup_ts = ts;
        gi->n_dup = 0;
    }
    uint64_t k = dup_key(gi, c);
    for (uint32_t i = 0; i < gi->n_dup; i++)
        if (!gi->dup[i].used && gi->dup[i].key == k && gi->dup[i].tier != c->tier) {
            gi->dup[i].used = true;
            return true;
        }
    if (gi->n_dup < 16)
        gi->dup[gi->n_dup++] = (typeof(gi->dup[0])){k, c->tier, false};
    return false;
}

/* Move to the next entry; false at the end of the group. */
static bool gi_next(struct giter *gi)
{
    struct engine *e = gi->e;
    bool backward = e->backward;
    if (gi->g->n == 1) {
        /* one cursor: no merge, no duplicates */
        struct cur *c = gi->c;
        if (gi->taken == 0)
            c->i++;
        gi->taken = -1;
        if (CANCELLED(e) || !cur_ready(e, c)) {
            gi->valid = false;
            return false;
        }
        gi->taken = 0;
        gi->valid = true;
        gi->ts = c->b.ts[c->i];
        gi->size = c->b.sizes[c->i];
        gi->line = c->b.lines ? c->b.lines[c->i] : (struct slice){"", 0};
        gi->meta = c->b.meta ? c->b.meta[c->i] : (struct slice){"", 0};
        gi->tier = c->tier;
        return true;
    }
    if (gi->taken >= 0) {
        gi->c[gi->taken].i++;
        gi->taken = -1;
    }
    for (;;) {
        int best = -1;
        int64_t bts = 0;
        for (uint32_t k = 0; k < gi->g->n; k++) {
            struct cur *c = &gi->c[k];
            if (!cur_ready(e, c))
                continue;
            int64_t ts = c->b.ts[c->i];
            if (best < 0 || (backward ? ts > bts : ts < bts)) {
                best = (int)k;
                bts = ts;
            }
        }
        if (best < 0 || CANCELLED(e)) {
            gi->valid = false;
            return false;
        }
        struct cur *c = &gi->c[best];
        if (gi->g->n > 1 && gi_is_dup(gi, c, bts)) {
            c->i++;
            continue;
        }
        gi->taken = best;
        gi->valid = true;
        gi->ts = bts;
        gi->size = c->b.sizes[c->i];
        gi->line = c->b.lines ? c->b.lines[c->i] : (struct slice){"", 0};
        gi->meta = c->b.meta ? c->b.meta[c->i] : (struct slice){"", 0};
        gi->tier = c->tier;
        return true;
    }
}

/* ---------------------------------------------------------------- workers */

struct worker;
typedef void (*worker_fn)(struct worker *w);

struct worker {
    struct engine *e;
    uint32_t id, n_workers;
    worker_fn fn;
    pthread_t thread;
    struct pipe_state ps;
    struct arena a; /* kept entries, series */
    uint64_t lines, bytes;
    void *ctx; /* the query kind's state */
    /* log queries */
    struct kept *kept;
    uint32_t n_kept, cap_kept;
    /* metric queries */
    struct acc *accs;
    uint32_t n_accs, cap_accs;
    uint32_t *table; /* open addressing: index + 1 */
    uint32_t table_cap;
    size_t mem;
    /* LogsGO */
    struct lg_series *lg;
    uint32_t n_lg, cap_lg;
};

static bool over_memory(struct worker *w, size_t add)
{
    struct engine *e = w->e;
    w->mem += add;
    if (!e->lim.max_memory)
        return false;
    size_t total = __atomic_add_fetch(&e->mem_used, add, __ATOMIC_RELAXED);
    if (total + w->a.used / 2 > e->lim.max_memory) {
        engine_fail(e, STRATA_ELIMIT,
                    "query exceeded the memory limit of %zu bytes (--query.max-memory); narrow "
                    "the selector or the time range",
                    e->lim.max_memory);
        return true;
    }
    return false;
}

/* Called every few thousand entries: stop on a passed deadline without waiting for the watcher. */
static bool worker_should_stop(struct worker *w)
{
    struct engine *e = w->e;
    if (CANCELLED(e))
        return true;
    if (e->lim.deadline_ns && clock_mono_ns() > e->lim.deadline_ns) {
        engine_fail(e, STRATA_ETIMEOUT,
                    "query timed out (--query.timeout); narrow the time range or the selector");
        return true;
    }
    return false;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->fn(w);
    __atomic_add_fetch(&w->e->lines, w->lines, __ATOMIC_RELAXED);
    __atomic_add_fetch(&w->e->bytes, w->bytes, __ATOMIC_RELAXED);
    return NULL;
}

/* Run fn on n workers while this thread watches the deadline and the client. */
static struct worker *run_workers(struct engine *e, worker_fn fn, void *ctx, uint32_t *n_out)
{
    int par = e->lim.parallelism > 0 ? e->lim.parallelism : ncpu();
    uint32_t n = (uint32_t)par;
    if (n > e->n_groups)
        n = e->n_groups ? e->n_groups : 1;
    if (n > 64)
        n = 64;
    struct worker *ws = xcalloc(n, sizeof(*ws));
    for (uint32_t i = 0; i < n; i++) {
        ws[i].e = e;
        ws[i].id = i;
        ws[i].n_workers = n;
        ws[i].fn = fn;
        ws[i].ctx = ctx;
        pipe_state_init(&ws[i].ps);
        arena_init(&ws[i].a, 0);
    }
    uint32_t started = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0) {
            /* no thread: run it here */
            worker_main(&ws[i]);
            ws[i].thread = 0;
            continue;
        }
        started++;
    }
    /* Watch: every 20 ms check the deadline and the client until all threads end. */
    for (uint32_t i = 0; i < n; i++) {
        if (!ws[i].thread)
            continue;
        for (;;) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            int rc = pthread_timedjoin_np(ws[i].thread, NULL, &ts);
            if (rc == 0)
                break;
            if (rc != ETIMEDOUT) {
                pthread_join(ws[i].thread, NULL);
                break;
            }
            if (!CANCELLED(e)) {
                if (e->lim.deadline_ns && clock_mono_ns() > e->lim.deadline_ns)
                    engine_fail(e, STRATA_ETIMEOUT,
                                "query timed out (--query.timeout); narrow the time range or the "
                                "selector");
                else if (e->lim.gone && e->lim.gone(e->lim.gone_arg))
                    engine_fail(e, STRATA_ECANCELED, "the client closed the connection");
            }
        }
    }
    (void)started;
    *n_out = n;
    return ws;
}

static void free_workers(struct worker *ws, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        pipe_state_release(&ws[i].ps);
        arena_release(&ws[i].a);
        free(ws[i].kept);
        free(ws[i].accs);
        free(ws[i].table);
        free(ws[i].lg);
    }
    free(ws);
}

/* Per branch: how many leading stages are plain line filters. */
static uint32_t lf_prefix(const struct log_expr *br)
{
    uint32_t k = 0;
    while (k < br->n_stages && br->stages[k].kind == STAGE_LINE_FILTER)
        k++;
    return k;
}

/*
 * Run the group's branches on an entry. On true the entry stays and *line is
 * the (possibly rewritten) line; ps holds its labels (pipe_begin was called)
 * unless *plain is set (no stages ran that touch labels, no metadata).
 */
static bool run_branches(struct worker *w, const struct group *g, int64_t ts, struct slice *line,
                         struct slice meta, bool *plain)
{
    const struct engine *e = w->e;
    for (uint32_t b = 0; b < e->n_br; b++) {
        if (!(g->mask & (1u << b)))
            continue;
        const struct log_expr *br = &e->br[b];
        uint32_t pre = lf_prefix(br);
        bool ok = true;
        for (uint32_t k = 0; k < pre && ok; k++)
            ok = line_filter_match(&br->stages[k].lf, *line);
        if (!ok)
            continue;
        if (pre == br->n_stages && !meta.len) {
            *plain = true;
            return true;
        }
        *plain = false;
        pipe_begin(&w->ps, g->labels, g->n_labels, meta);
        struct slice l = *line;
        if (pipe_run(&w->ps, br->stages + pre, br->n_stages - pre, ts, &l)) {
            *line = l;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- log queries */

struct kept {
    int64_t ts;
    uint32_t group;
    uint32_t seq;
    bool own_sl; /* sl was copied into the worker's arena (else it is the group's labels) */
    struct slice line;
    const struct label *sl; /* the result stream's labels */
    uint32_t n_sl;
    const struct label *meta, *parsed;
    uint32_t n_meta, n_parsed;
    uint64_t hash; /* of sl */
};

struct log_ctx {
    const struct log_query *q;
};

/* Fill slot k with the current entry (its seq is the caller's). */
static void keep_entry(struct worker *w, struct kept *k, const struct group *g, struct giter *gi,
                       struct slice line, bool plain, bool categorize)
{
    memset(k, 0, sizeof(*k));
    k->ts = gi->ts;
    k->group = g->idx;
    k->line = arena_slice_dup(&w->a, line);
    if (plain || pipe_untouched(&w->ps)) {
        k->sl = g->labels;
        k->n_sl = g->n_labels;
        k->hash = g->fp;
        if (!plain && categorize) {
            struct label *m;
            uint32_t nm = pipe_labels(&w->ps, CAT_BIT(CAT_META), &m);
            k->meta = labels_dup(&w->a, m, nm);
            k->n_meta = nm;
        } else if (!plain && !categorize && gi->meta.len) {
            struct label *all;
            uint32_t n = pipe_labels(&w->ps, CATS_ALL, &all);
            k->own_sl = true;
            k->sl = labels_dup(&w->a, all, n);
            k->n_sl = n;
            k->hash = labels_hash(k->sl, n);
        }
        return;
    }
    struct label *v;
    uint32_t n;
    k->own_sl = true;
    if (categorize) {
        n = pipe_labels(&w->ps, CAT_BIT(CAT_STREAM), &v);
        k->sl = labels_dup(&w->a, v, n);
        k->n_sl = n;
        n = pipe_labels(&w->ps, CAT_BIT(CAT_META), &v);
        k->meta = labels_dup(&w->a, v, n);
        k->n_meta = n;
        n = pipe_labels(&w->ps, CAT_BIT(CAT_PARSED), &v);
        k->parsed = labels_dup(&w->a, v, n);
        k->n_parsed = n;
    } else {
        n = pipe_labels(&w->ps, CATS_ALL, &v);
        k->sl = labels_dup(&w->a, v, n);
        k->n_sl = n;
    }
    k->hash =
        labels_equal(k->sl, k->n_sl, g->labels, g->n_labels) ? g->fp : labels_hash(k->sl, k->n_sl);
}

/* True when a comes before b in the answer's order (time in the direction, then stream, then
 * arrival). */
static bool kept_before(bool backward, int64_t ats, uint32_t ag, uint32_t aseq,
                        const struct kept *b)
{
    if (ats != b->ts)
        return backward ? ats > b->ts : ats < b->ts;
    if (ag != b->group)
        return ag < b->group;
    return aseq < b->seq;
}

/*
 * The worker's kept entries: an array of slots and, once `limit` are kept, a
 * heap whose top is the entry that comes last (the one to evict).
 */
struct kheap {
    uint32_t *v; /* slot indexes */
    uint32_t n;
    bool backward;
    struct kept *slots;
};

static bool kh_after(const struct kheap *h, uint32_t a, uint32_t b)
{
    const struct kept *x = &h->slots[a];
    return kept_before(h->backward, h->slots[b].ts, h->slots[b].group, h->slots[b].seq, x);
}

static void kh_down(struct kheap *h, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && kh_after(h, h->v[l], h->v[m]))
            m = l;
        if (r < h->n && kh_after(h, h->v[r], h->v[m]))
            m = r;
        if (m == i)
            return;
        uint32_t t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
}

static void kh_up(struct kheap *h, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!kh_after(h, h->v[i], h->v[p]))
            return;
        uint32_t t = h->v[i];
        h->v[i] = h->v[p];
        h->v[p] = t;
        i = p;
    }
}

static struct kept *kept_slot(struct worker *w)
{
    if (w->n_kept == w->cap_kept) {
        w->cap_kept = w->cap_kept ? w->cap_kept * 2 : 64;
        w->kept = xreallocarray(w->kept, w->cap_kept, sizeof(*w->kept));
    }
    return &w->kept[w->n_kept++];
}

/* Copy the live kept entries into a fresh arena when evictions left too much garbage. */
static void kept_compact(struct worker *w)
{
    size_t live = 0;
    for (uint32_t i = 0; i < w->n_kept; i++)
        live += w->kept[i].line.len + 64;
    if (w->a.used < 4 * live + (1u << 20))
        return;
    struct arena fresh;
    arena_init(&fresh, 0);
    for (uint32_t i = 0; i < w->n_kept; i++) {
        struct kept *k = &w->kept[i];
        k->line = arena_slice_dup(&fresh, k->line);
        if (k->own_sl)
            k->sl = labels_dup(&fresh, k->sl, k->n_sl);
        if (k->n_meta)
            k->meta = labels_dup(&fresh, k->meta, k->n_meta);
        if (k->n_parsed)
            k->parsed = labels_dup(&fresh, k->parsed, k->n_parsed);
    }
    arena_release(&w->a);
    w->a = fresh;
}

/*
 * Log queries: each worker scans its streams one after another, keeping the
 * `limit` entries that come first in the answer's order. Once `limit` are
 * kept, a stream stops as soon as its next entry would come after the last
 * kept one: streams are read in order, so nothing later can get in.
 */
static void log_worker(struct worker *w)
{
    struct engine *e = w->e;
    const struct log_query *q = ((struct log_ctx *)w->ctx)->q;
    uint32_t limit = q->limit;
    struct kheap h = {limit ? xmallocarray(limit, sizeof(uint32_t)) : NULL, 0, e->backward, NULL};
    uint64_t tick = 0;
    for (uint32_t gidx = w->id; gidx < e->n_groups && !CANCELLED(e); gidx += w->n_workers) {
        struct group *g = &e->groups[gidx];
        struct giter gi;
        gi_init(&gi, e, g);
        uint32_t seq = 0;
        while (gi_next(&gi)) {
            if (limit && h.n == limit) {
                h.slots = w->kept;
                if (!kept_before(e->backward, gi.ts, g->idx, seq, &w->kept[h.v[0]]))
                    break; /* this stream cannot add anything more */
            }
            struct slice line = gi.line;
            bool plain;
            w->lines++;
            w->bytes += gi.size;
            if (run_branches(w, g, gi.ts, &line, gi.meta, &plain)) {
                uint32_t slot;
                if (limit && h.n == limit) {
                    slot = h.v[0]; /* evict the entry that comes last */
                } else {
                    kept_slot(w);
                    slot = w->n_kept - 1;
                }
                keep_entry(w, &w->kept[slot], g, &gi, line, plain, q->categorize);
                w->kept[slot].seq = seq;
                if (limit) {
                    h.slots = w->kept;
                    if (h.n == limit) {
                        kh_down(&h, 0);
                    } else {
                        h.v[h.n++] = slot;
                        kh_up(&h, h.n - 1);
                    }
                }
                if ((w->n_kept & 1023) == 0 && over_memory(w, 0))
                    break;
            }
            seq++;
            if ((++tick & 0xfff) == 0) {
                if (worker_should_stop(w))
                    break;
                kept_compact(w);
                if (arena_over_limit(&w->a))
                    break;
            }
        }
        group_close(e, g);
    }
    free(h.v);
}

static int cmp_kept_fwd(const void *a, const void *b)
{
    const struct kept *x = *(struct kept *const *)a, *y = *(struct kept *const *)b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_kept_bwd(const void *a, const void *b)
{
    const struct kept *x = *(struct kept *const *)a, *y = *(struct kept *const *)b;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_stream_key(const void *a, const void *b)
{
    const struct result_stream *x = a, *y = b;
    return slice_cmp(x->key, y->key);
}

static void stats_finish(struct engine *e, struct query_stats *st, int64_t t0)
{
    /* lines a tier dropped itself (needles) were processed too */
    st->lines_processed += e->lines + e->read.entries_filtered;
    st->bytes_processed += e->bytes + e->read.bytes_filtered;
    st->streams += e->n_curs;
    st->groups += e->n_groups;
    st->read.blocks_total += e->read.blocks_total;
    st->read.blocks_read += e->read.blocks_read;
    st->read.bytes_read += e->read.bytes_read;
    st->read.bytes_decompressed += e->read.bytes_decompressed;
    st->read.entries_read += e->read.entries_read;
    st->read.entries_filtered += e->read.entries_filtered;
    st->read.bytes_filtered += e->read.bytes_filtered;
    st->exec_ns += clock_mono_ns() - t0;
}

int engine_log_query(struct tier *chain, const struct log_query *q, struct arena *a,
                     struct log_result *out, char *err, size_t errlen)
{
    int64_t t0 = clock_mono_ns();
    memset(out, 0, sizeof(*out));
    struct engine e;
    struct arena coll;
    arena_init(&coll, 0);
    engine_init(&e, &coll, &q->lim);
    e.br = q->log->log;
    e.n_br = q->log->n_log;
    e.backward = q->backward;
    e.want_lines = true;
    e.start = q->start;
    e.end = q->end;
    e.limit_hint = q->limit;
    int rc = 0;
    struct worker *ws = NULL;
    uint32_t nw = 0;
    if (q->start >= q->end)
        goto done;
    if (collect(&e, chain, q->tenant) < 0)
        goto done;
    struct log_ctx lc = {q};
    ws = run_workers(&e, log_worker, &lc, &nw);
    if (e.rc)
        goto done;
    /* merge: every worker's kept entries, in order, the first `limit` */
    uint32_t total = 0;
    for (uint32_t i = 0; i < nw; i++)
        total += ws[i].n_kept;
    struct kept **all = xmallocarray(total ? total : 1, sizeof(*all));
    uint32_t k = 0;
    for (uint32_t i = 0; i < nw; i++)
        for (uint32_t j = 0; j < ws[i].n_kept; j++)
            all[k++] = &ws[i].kept[j];
    if (total > 1)
        qsort(all, total, sizeof(*all), q->backward ? cmp_kept_bwd : cmp_kept_fwd);
    if (q->limit && total > q->limit)
        total = q->limit;
    /* group into streams by label set */
    uint32_t cap_s = 16, ns = 0;
    struct result_stream *rs = arena_alloc(a, cap_s * sizeof(*rs));
    uint32_t *sidx = xmallocarray(total ? total : 1, sizeof(uint32_t));
    uint64_t *shash = xmallocarray(cap_s, sizeof(uint64_t));
    for (uint32_t i = 0; i < total; i++) {
        const struct kept *kp = all[i];
        uint32_t s;
        for (s = 0; s < ns; s++)
            if (shash[s] == kp->hash &&
                labels_equal(rs[s].labels, rs[s].n_labels, kp->sl, kp->n_sl))
                break;
        if (s == ns) {
            if (ns == cap_s) {
                rs = arena_realloc(a, rs, cap_s * sizeof(*rs), 2 * cap_s * sizeof(*rs));
                cap_s *= 2;
                shash = xreallocarray(shash, cap_s, sizeof(uint64_t));
            }
            memset(&rs[ns], 0, sizeof(rs[ns]));
            rs[ns].labels = labels_dup(a, kp->sl, kp->n_sl);
            rs[ns].n_labels = kp->n_sl;
            shash[ns] = kp->hash;
            ns++;
        }
        rs[s].n++;
        sidx[i] = s;
    }
    for (uint32_t s = 0; s < ns; s++) {
        rs[s].e = arena_alloc(a, rs[s].n * sizeof(struct result_entry));
        rs[s].key = engine_labels_key(a, rs[s].labels, rs[s].n_labels);
        rs[s].n = 0;
    }
    for (uint32_t i = 0; i < total; i++) {
        const struct kept *kp = all[i];
        struct result_stream *r = &rs[sidx[i]];
        struct result_entry *re = &r->e[r->n++];
        re->ts = kp->ts;
        re->line = arena_slice_dup(a, kp->line);
        re->meta = kp->n_meta ? labels_dup(a, kp->meta, kp->n_meta) : NULL;
        re->n_meta = kp->n_meta;
        re->parsed = kp->n_parsed ? labels_dup(a, kp->parsed, kp->n_parsed) : NULL;
        re->n_parsed = kp->n_parsed;
    }
    if (ns > 1)
        qsort(rs, ns, sizeof(*rs), cmp_stream_key);
    out->streams = rs;
    out->n_streams = ns;
    out->stats.entries_returned = total;
    free(sidx);
    free(shash);
    free(all);
done:
    rc = e.rc;
    if (rc)
        snprintf(err, errlen, "%s", e.err);
    stats_finish(&e, &out->stats, t0);
    if (ws)
        free_workers(ws, nw);
    engine_release(&e);
    arena_release(&coll);
    return rc;
}

/* ---------------------------------------------------------------- range aggregations */

struct sample {
    int64_t ts;
    double v;
};

/* One series of a range aggregation being built. */
struct acc {
    uint64_t hash;
    const struct label *labels;
    uint32_t n_labels;
    struct sample *smp;
    uint32_t n, cap;
    int64_t *cnt, *sum; /* dense diff arrays (n_steps + 1) once too many samples */
};

struct range_ctx {
    const struct expr *x;
    const struct range_eval *r;
    int64_t range, offset;
    bool dense_ok;  /* count/bytes functions: samples may become per-step counts */
    bool use_bytes; /* value = line size */
    bool fold;      /* group by r->fold instead of the range-level labels */
};

static void table_grow(struct worker *w)
{
    uint32_t nc = w->table_cap ? w->table_cap * 2 : 1024;
    uint32_t *t = xcalloc(nc, sizeof(uint32_t));
    for (uint32_t i = 0; i < w->n_accs; i++) {
        uint32_t h = (uint32_t)w->accs[i].hash & (nc - 1);
        while (t[h])
            h = (h + 1) & (nc - 1);
        t[h] = i + 1;
    }
    free(w->table);
    w->table = t;
    w->table_cap = nc;
    over_memory(w, nc * sizeof(uint32_t) / 2);
}

/* The series for a label set (copied into the worker's arena when new). */
static struct acc *acc_get(struct worker *w, const struct label *v, uint32_t n, uint64_t h,
                           bool copy)
{
    if (w->n_accs * 2 >= w->table_cap)
        table_grow(w);
    uint32_t i = (uint32_t)h & (w->table_cap - 1);
    while (w->table[i]) {
        struct acc *a = &w->accs[w->table[i] - 1];
        if (a->hash == h && labels_equal(a->labels, a->n_labels, v, n))
            return a;
        i = (i + 1) & (w->table_cap - 1);
    }
    if (w->n_accs == w->cap_accs) {
        w->cap_accs = w->cap_accs ? w->cap_accs * 2 : 64;
        w->accs = xreallocarray(w->accs, w->cap_accs, sizeof(*w->accs));
    }
    struct acc *a = &w->accs[w->n_accs++];
    memset(a, 0, sizeof(*a));
    a->hash = h;
    a->labels = copy ? labels_dup(&w->a, v, n) : v;
    a->n_labels = n;
    w->table[i] = w->n_accs;
    over_memory(w, sizeof(*a) + n * 64);
    return a;
}

/*
 * The steps a sample at ts counts in: the k with ts in (T_k - off - range,
 * T_k - off], T_k = start + k * step, i.e. k in [lo, hi] (clamped to the
 * steps; lo > hi when none). Both bounds only change when ts crosses a step
 * boundary, so for ascending times they are recomputed rarely.
 */
struct kcalc {
    int64_t start, step, off, range, n_steps;
    int64_t lo, lo_from, lo_to; /* lo holds for ts in (lo_from, lo_to] */
    int64_t hi, hi_from, hi_to;
};

static void kcalc_init(struct kcalc *k, const struct range_ctx *rc)
{
    memset(k, 0, sizeof(*k));
    k->start = rc->r->start;
    k->step = rc->r->step;
    k->off = rc->offset;
    k->range = rc->range;
    k->n_steps = rc->r->n_steps;
    k->lo_from = k->lo_to = k->hi_from = k->hi_to = INT64_MIN;
}

static inline void kcalc_at(struct kcalc *k, int64_t ts, int64_t *lo, int64_t *hi)
{
    if (ts <= k->lo_from || ts > k->lo_to) {
        k->lo = ceil_div(ts + k->off - k->start, k->step);
        k->lo_to = k->start + k->lo * k->step - k->off;
        k->lo_from = k->lo_to - k->step;
    }
    if (ts <= k->hi_from || ts > k->hi_to) {
        k->hi = ceil_div(ts + k->off + k->range - k->start, k->step) - 1;
        k->hi_from = k->start + k->hi * k->step - k->off - k->range;
        k->hi_to = k->hi_from + k->step;
    }
    *lo = k->lo < 0 ? 0 : k->lo;
    *hi = k->hi >= k->n_steps ? k->n_steps - 1 : k->hi;
}

static inline void acc_dense_add_k(struct acc *a, int64_t lo, int64_t hi, double v)
{
    if (lo > hi)
        return;
    a->cnt[lo]++;
    a->cnt[hi + 1]--;
    if (a->sum) {
        a->sum[lo] += (int64_t)v;
        a->sum[hi + 1] -= (int64_t)v;
    }
}

static void acc_dense_add(const struct range_ctx *rc, struct acc *a, int64_t ts, double v)
{
    const struct range_eval *r = rc->r;
    int64_t lo = ceil_div(ts + rc->offset - r->start, r->step);
    int64_t hi = ceil_div(ts + rc->offset + rc->range - r->start, r->step) - 1;
    if (lo < 0)
        lo = 0;
    if (hi >= (int64_t)r->n_steps)
        hi = (int64_t)r->n_steps - 1;
    acc_dense_add_k(a, lo, hi, v);
}

/* Turn a's samples into per-step counts (and sums), for functions that allow it (dense_ok). */
static void acc_make_dense(struct worker *w, const struct range_ctx *rc, struct acc *a)
{
    if (a->cnt)
        return;
    uint32_t steps = rc->r->n_steps;
    a->cnt = xcalloc(steps + 1, sizeof(int64_t));
    if (rc->use_bytes)
        a->sum = xcalloc(steps + 1, sizeof(int64_t));
    over_memory(w, (steps + 1) * sizeof(int64_t) * (rc->use_bytes ? 2 : 1));
    for (uint32_t i = 0; i < a->n; i++)
        acc_dense_add(rc, a, a->smp[i].ts, a->smp[i].v);
    free(a->smp);
    a->smp = NULL;
    over_memory(w, 0);
}

static void acc_add(struct worker *w, const struct range_ctx *rc, struct acc *a, int64_t ts,
                    double v)
{
    if (a->cnt) {
        acc_dense_add(rc, a, ts, v);
        return;
    }
    if (a->n == a->cap) {
        uint32_t steps = rc->r->n_steps;
        if (rc->dense_ok && a->n >= 64 && a->n >= steps / 2) {
            /* per-step counts cost less than the samples from here on */
            acc_make_dense(w, rc, a);
            acc_dense_add(rc, a, ts, v);
            return;
        }
        uint32_t nc = a->cap ? a->cap * 2 : 16;
        a->smp = xreallocarray(a->smp, nc, sizeof(*a->smp));
        over_memory(w, (nc - a->cap) * sizeof(*a->smp));
        a->cap = nc;
    }
    a->smp[a->n++] = (struct sample){ts, v};
}

/* Labels of a kept entry at the range-vector level; false to skip the entry. */
static bool range_labels(struct worker *w, const struct range_ctx *rc, const struct group *g,
                         bool plain, struct label **v, uint32_t *n, double *value, uint32_t size)
{
    const struct expr *x = rc->x;
    *value = rc->use_bytes ? (double)size : 1.0;
    if (x->has_unwrap) {
        struct slice s;
        if (!pipe_get(&w->ps, x->unwrap_name, &s) || s.len == 0)
            return false; /* a line without the label is skipped */
        char msg[200];
        int crc;
        double d = 0;
        if (x->conv == UNWRAP_FLOAT)
            crc = go_parse_float(s, &d, msg, sizeof(msg));
        else if (x->conv == UNWRAP_DURATION)
            crc = go_parse_duration_seconds(s, &d, msg, sizeof(msg));
        else
            crc = go_parse_bytes(s, &d, msg, sizeof(msg));
        if (crc < 0) {
            d = 0;
            pipe_set_error(&w->ps, "SampleExtractionErr", msg);
        }
        *value = d;
        struct slice l = (struct slice){"", 0};
        if (x->n_post && !pipe_run(&w->ps, x->post, x->n_post, 0, &l))
            return false;
        *n = pipe_grouped_labels(&w->ps, &x->grp, x->unwrap_name, v);
        return true;
    }
    if (plain) {
        *v = (struct label *)g->labels;
        *n = g->n_labels;
        return true;
    }
    *n = pipe_labels(&w->ps, CATS_ALL, v);
    return true;
}

static bool has_error_label(const struct label *v, uint32_t n, struct slice *errv)
{
    for (uint32_t i = 0; i < n; i++)
        if (slice_eq_str(v[i].name, "__error__")) {
            *errv = v[i].value;
            return true;
        }
    return false;
}

static void pipeline_error(struct engine *e, const struct label *v, uint32_t n, struct slice errv)
{
    struct arena tmp;
    arena_init(&tmp, 0);
    struct slice key = engine_labels_key(&tmp, v, n);
    engine_fail(
        e, STRATA_EINVAL,
        "pipeline error: '%.*s' for series: '%.*s'.\n"
        "Use a label filter to intentionally skip this error. (e.g | __error__!=\"%.*s\").\n"
        "To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n"
        "The label filter can also be specified after unwrap. (e.g | unwrap latency | "
        "__error__=\"\" )",
        (int)errv.len, errv.ptr, (int)key.len, key.ptr, (int)errv.len, errv.ptr);
    arena_release(&tmp);
}

/* Keep only the fold grouping's labels (for `sum by (...) (count_over_time(...))`). */
static uint32_t fold_labels(struct worker *w, const struct grouping *g, const struct label *v,
                            uint32_t n, struct label **out)
{
    struct label *o = arena_alloc(&w->ps.scratch, (n ? n : 1) * sizeof(*o));
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool listed = false;
        for (uint32_t j = 0; j < g->n && !listed; j++)
            listed = slice_eq(v[i].name, g->names[j]);
        if (g->without ? !listed : listed)
            o[k++] = v[i];
    }
    *out = o;
    return k;
}

/*
 * One entry of a range aggregation. *plain_acc caches (index + 1) the series
 * of the group's entries that keep the stream's labels untouched. When
 * meta_acc is given (no pipeline, no unwrap: the series depends on the
 * stream and the metadata alone), it gets the series the entry went to.
 */
static void range_entry(struct worker *w, const struct range_ctx *rc, const struct group *g,
                        uint32_t *plain_acc, int64_t ts, struct slice line, struct slice meta,
                        uint32_t size, uint32_t *meta_acc)
{
    bool plain;
    if (!run_branches(w, g, ts, &line, meta, &plain))
        return;
    if (plain && !rc->x->has_unwrap && *plain_acc) {
        acc_add(w, rc, &w->accs[*plain_acc - 1], ts, rc->use_bytes ? (double)size : 1.0);
        return;
    }
    if (plain && rc->x->has_unwrap)
        pipe_begin(&w->ps, g->labels, g->n_labels, meta);
    struct label *v;
    uint32_t n;
    double value;
    if (!range_labels(w, rc, g, plain, &v, &n, &value, (uint32_t)line.len))
        return;
    if (rc->use_bytes)
        value = (double)line.len;
    struct slice errv;
    if (!plain && has_error_label(v, n, &errv)) {
        pipeline_error(w->e, v, n, errv);
        return;
    }
    bool same_as_stream = plain || labels_equal(v, n, g->labels, g->n_labels);
    if (rc->fold)
        n = fold_labels(w, rc->r->fold, v, n, &v);
    uint64_t h = labels_hash(v, n);
    struct acc *a = acc_get(w, v, n, h, true);
    if (same_as_stream && !rc->x->has_unwrap && (!rc->fold || plain))
        *plain_acc = (uint32_t)(a - w->accs) + 1;
    if (meta_acc)
        *meta_acc = (uint32_t)(a - w->accs) + 1;
    acc_add(w, rc, a, ts, value);
}

/* Count (or add the size of) entry i of a batch into series pa: dense counters when it has them. */
static inline void range_add_fast(struct worker *w, const struct range_ctx *rc, struct acc *pa,
                                  struct kcalc *kc, int64_t ts, uint32_t size)
{
    double v = rc->use_bytes ? (double)size : 1.0;
    if (pa->cnt) {
        int64_t lo, hi;
        kcalc_at(kc, ts, &lo, &hi);
        acc_dense_add_k(pa, lo, hi, v);
    } else {
        acc_add(w, rc, pa, ts, v);
    }
}

static void range_worker(struct worker *w)
{
    struct engine *e = w->e;
    const struct range_ctx *rc = w->ctx;
    bool no_pipeline = true;
    for (uint32_t b = 0; b < e->n_br; b++)
        no_pipeline = no_pipeline && e->br[b].n_stages == 0;
    for (uint32_t gidx = w->id; gidx < e->n_groups && !CANCELLED(e); gidx += w->n_workers) {
        struct group *g = &e->groups[gidx];
        uint32_t plain_acc = 0;
        if (g->n == 1 && no_pipeline && !rc->x->has_unwrap) {
            /* the fast path: one cursor, no pipeline: time stamps (and metadata) only */
            struct cur *c = &e->curs[g->first];
            struct kcalc kc;
            kcalc_init(&kc, rc);
            /*
             * The series of the last entry with metadata, by the metadata's bytes: a
             * stream's entries mostly share a few values (detected_level), and the
             * series they go to depends on nothing else here.
             */
            struct buf memo;
            buf_init(&memo, BUF_UNLIMITED);
            uint32_t memo_acc = 0;
            while (!CANCELLED(e) && cur_ready(e, c)) {
                const struct entry_batch *b = &c->b;
                uint32_t i0 = c->i;
                const char *same = NULL; /* in this batch, the memo's bytes seen at this address */
                if (!b->meta && plain_acc && w->accs[plain_acc - 1].cnt && !rc->use_bytes) {
                    /* the common case: counts of a stream without metadata, per step */
                    struct acc *pa = &w->accs[plain_acc - 1];
                    for (uint32_t i = i0; i < b->n; i++) {
                        int64_t lo, hi;
                        kcalc_at(&kc, b->ts[i], &lo, &hi);
                        if (lo <= hi) {
                            pa->cnt[lo]++;
                            pa->cnt[hi + 1]--;
                        }
                        w->bytes += b->sizes[i];
                    }
                    i0 = b->n;
                }
                for (uint32_t i = i0; i < b->n; i++) {
                    struct slice meta = b->meta ? b->meta[i] : (struct slice){"", 0};
                    w->bytes += b->sizes[i];
                    if (!meta.len && plain_acc) {
                        range_add_fast(w, rc, &w->accs[plain_acc - 1], &kc, b->ts[i], b->sizes[i]);
                        continue;
                    }
                    if (meta.len && memo_acc && meta.len == memo.len &&
                        (meta.ptr == same || !memcmp(meta.ptr, memo.ptr, meta.len))) {
                        same = meta.ptr;
                        range_add_fast(w, rc, &w->accs[memo_acc - 1], &kc, b->ts[i], b->sizes[i]);
                        continue;
                    }
                    struct slice line = b->lines ? b->lines[i] : (struct slice){"", 0};
                    if (!b->lines)
                        line.len = b->sizes[i];
                    uint32_t got = 0;
                    range_entry(w, rc, g, &plain_acc, b->ts[i], line, meta, b->sizes[i],
                                meta.len ? &got : NULL);
                    if (got) {
                        buf_reset(&memo);
                        if (buf_append(&memo, meta.ptr, meta.len) == 0) {
                            memo_acc = got;
                            same = meta.ptr;
                        } else {
                            memo_acc = 0;
                        }
                    }
                }
                w->lines += b->n - c->i;
                c->i = b->n;
                if (worker_should_stop(w))
                    break;
            }
            buf_release(&memo);
            group_close(e, g);
            continue;
        }
        struct giter gi;
        gi_init(&gi, e, g);
        uint64_t tick = 0;
        while (gi_next(&gi)) {
            w->lines++;
            w->bytes += gi.size;
            struct slice line = gi.line;
            if (!e->want_lines)
                line.len = gi.size;
            range_entry(w, rc, g, &plain_acc, gi.ts, line, gi.meta, gi.size, NULL);
            if ((++tick & 0xfff) == 0 && (arena_over_limit(&w->a) || worker_should_stop(w)))
                break;
        }
        group_close(e, g);
    }
}

static int cmp_sample(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static double quantile_of(double q, double *v, uint32_t n)
{
    if (n == 0)
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    /* insertion sort: windows are small, and this keeps NaN handling simple */
    for (uint32_t i = 1; i < n; i++) {
        double x = v[i];
        uint32_t j = i;
        while (j > 0 && (v[j - 1] > x || (isnan(x) && !isnan(v[j - 1])))) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    double rank = q * (double)(n - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin((double)(n - 1), lower + 1);
    double weight = rank - floor(rank);
    return v[(uint32_t)lower] * (1 - weight) + v[(uint32_t)upper] * weight;
}

static double rate_counter(const struct sample *s, uint32_t n, int64_t wstart, int64_t wend,
                           int64_t range)
{
    if (n < 2)
        return 0;
    double result = s[n - 1].v - s[0].v;
    double last = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (s[i].v < last)
            result += last;
        last = s[i].v;
    }
    double to_start = (double)(s[0].ts - wstart) / 1e9;
    double to_end = (double)(wend - s[n - 1].ts) / 1e9;
    double sampled = (double)(s[n - 1].ts - s[0].ts) / 1e9;
    double avg = sampled / (double)(n - 1);
    if (result > 0 && s[0].v >= 0) {
        double to_zero = sampled * (s[0].v / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    double threshold = avg * 1.1, interval = sampled;
    interval += to_start < threshold ? to_start : avg / 2;
    interval += to_end < threshold ? to_end : avg / 2;
    if (sampled == 0)
        return 0;
    result = result * (interval / sampled);
    return result / ((double)range / 1e9);
}

/* The value of op over the samples of one window (n > 0). */
static double window_value(const struct range_ctx *rc, struct sample *s, uint32_t n,
                           double *scratch, int64_t wstart, int64_t wend)
{
    const struct expr *x = rc->x;
    double secs = (double)rc->range / 1e9;
    switch (x->rop) {
    case RANGE_COUNT: return (double)n;
    case RANGE_RATE: {
        if (!x->has_unwrap)
            return (double)n / secs;
        double sum = 0;
        for (uint32_t i = 0; i < n; i++)
            sum += s[i].v;
        return sum / secs;
    }
    case RANGE_BYTES:
    case RANGE_SUM: {
        double sum = 0;
        for (uint32_t i = 0; i < n; i++)
            sum += s[i].v;
        return sum;
    }
    case RANGE_BYTES_RATE: {
        double sum = 0;
        for (uint32_t i = 0; i < n; i++)
            sum += s[i].v;
        return sum / secs;
    }
    case RANGE_AVG: {
        double mean = 0, count = 0;
        for (uint32_t i = 0; i < n; i++) {
            count++;
            if (isinf(mean)) {
                if (isinf(s[i].v) && (mean > 0) == (s[i].v > 0))
                    continue;
                if (!isinf(s[i].v) && !isnan(s[i].v))
                    continue;
            }
            mean += s[i].v / count - mean / count;
        }
        return mean;
    }
    case RANGE_MIN: {
        double m = s[0].v;
        for (uint32_t i = 1; i < n; i++)
            if (s[i].v < m || isnan(m))
                m = s[i].v;
        return m;
    }
    case RANGE_MAX: {
        double m = s[0].v;
        for (uint32_t i = 1; i < n; i++)
            if (s[i].v > m || isnan(m))
                m = s[i].v;
        return m;
    }
    case RANGE_STDVAR:
    case RANGE_STDDEV: {
        double aux = 0, count = 0, mean = 0;
        for (uint32_t i = 0; i < n; i++) {
            count++;
            double delta = s[i].v - mean;
            mean += delta / count;
            aux += delta * (s[i].v - mean);
        }
        return x->rop == RANGE_STDVAR ? aux / count : sqrt(aux / count);
    }
    case RANGE_QUANTILE:
        for (uint32_t i = 0; i < n; i++)
            scratch[i] = s[i].v;
        return quantile_of(x->param, scratch, n);
    case RANGE_FIRST: return s[0].v;
    case RANGE_LAST: return s[n - 1].v;
    case RANGE_RATE_COUNTER: return rate_counter(s, n, wstart, wend, rc->range);
    case RANGE_ABSENT: return 1;
    }
    return NAN;
}

/* Fill v/has of one series from its accumulator. */
static void acc_eval(const struct range_ctx *rc, struct acc *a, double *v, uint8_t *has)
{
    const struct range_eval *r = rc->r;
    const struct expr *x = rc->x;
    double secs = (double)rc->range / 1e9;
    if (a->cnt) {
        int64_t c = 0, s = 0;
        for (uint32_t k = 0; k < r->n_steps; k++) {
            c += a->cnt[k];
            if (a->sum)
                s += a->sum[k];
            if (c <= 0)
                continue;
            has[k] = 1;
            switch (x->rop) {
            case RANGE_COUNT: v[k] = (double)c; break;
            case RANGE_RATE: v[k] = (double)c / secs; break;
            case RANGE_BYTES: v[k] = (double)s; break;
            case RANGE_BYTES_RATE: v[k] = (double)s / secs; break;
            default: v[k] = (double)c; break;
            }
        }
        return;
    }
    if (a->n > 1)
        qsort(a->smp, a->n, sizeof(*a->smp), cmp_sample);
    double *scratch =
        x->rop == RANGE_QUANTILE ? xmallocarray(a->n ? a->n : 1, sizeof(double)) : NULL;
    uint32_t lo = 0, hi = 0;
    for (uint32_t k = 0; k < r->n_steps; k++) {
        int64_t t = r->start + (int64_t)k * r->step - rc->offset;
        int64_t wstart = t - rc->range;
        while (hi < a->n && a->smp[hi].ts <= t)
            hi++;
        while (lo < hi && a->smp[lo].ts <= wstart)
            lo++;
        if (hi > lo) {
            has[k] = 1;
            v[k] = window_value(rc, a->smp + lo, hi - lo, scratch, wstart, t);
        }
    }
    free(scratch);
}

bool engine_can_fold(const struct expr *outer, const struct expr *e)
{
    return outer && outer->kind == EXPR_VECAGG && outer->vop == VEC_SUM && e &&
           e->kind == EXPR_RANGE && !e->has_unwrap &&
           (e->rop == RANGE_COUNT || e->rop == RANGE_BYTES);
}

static int cmp_series(const void *a, const void *b)
{
    const struct series *x = a, *y = b;
    return engine_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

/* Labels for absent_over_time: the selector's = matchers whose name appears once. */
static uint32_t absent_labels(const struct expr *x, struct arena *a, struct label **out)
{
    const struct selector *s = &x->log[0].sel;
    struct label *v = arena_alloc(a, (s->n ? s->n : 1) * sizeof(*v));
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        uint32_t seen = 0;
        for (uint32_t j = 0; j < s->n; j++)
            seen += slice_eq(s->m[j].name, s->m[i].name);
        if (s->m[i].op == MATCH_EQ && seen == 1)
            v[n++] = (struct label){s->m[i].name, s->m[i].value};
    }
    labels_sort(v, n);
    *out = v;
    return n;
}

/*
 * Whether a range aggregation's series can depend on structured metadata
 * (they include it, unless an outer sum keeps only labels every selected
 * stream has: metadata named like a stream label becomes name_extracted).
 */
static bool range_needs_meta(const struct expr *x, const struct grouping *fold)
{
    if (!fold)
        return true;
    if (fold->without)
        return true;
    for (uint32_t k = 0; k < fold->n; k++) {
        /* every branch's selector must guarantee the label (a matcher refusing "") */
        for (uint32_t b = 0; b < x->n_log; b++) {
            const struct selector *sel = &x->log[b].sel;
            bool sure = false;
            for (uint32_t m = 0; m < sel->n && !sure; m++)
                sure =
                    slice_eq(sel->m[m].name, fold->names[k]) && !matcher_matches_empty(&sel->m[m]);
            if (!sure)
                return true;
        }
    }
    return false;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/*
 * Counting push-down (tier.h, struct tier_count): when x only counts the
 * entries (or bytes) of each stream per step, over a pipeline of line
 * filters a tier could run itself, tiers may answer with counts per bucket.
 * Buckets are gcd(range, step) wide and start at the first window's start,
 * so every window (T - range, T] is a whole number of buckets. False when x
 * needs the entries themselves, or the buckets would be too many.
 */
static bool count_spec(const struct expr *x, const struct range_eval *r, bool meta,
                       struct tier_count *tc)
{
    if (x->n_log != 1 || x->has_unwrap || x->range <= 0 || r->n_steps == 0)
        return false;
    if (x->rop != RANGE_COUNT && x->rop != RANGE_RATE && x->rop != RANGE_BYTES &&
        x->rop != RANGE_BYTES_RATE && x->rop != RANGE_ABSENT)
        return false;
    struct tier_line_filter f;
    for (uint32_t i = 0; i < x->log[0].n_stages; i++)
        if (!tier_filter_of(&x->log[0].stages[i], &f))
            return false;
    int64_t g = r->n_steps > 1 ? gcd64(x->range, r->step) : x->range;
    __int128 span = (__int128)(r->n_steps - 1) * r->step + x->range;
    if (g <= 0 || span / g > (1 << 20))
        return false;
    tc->origin = r->start - x->offset - x->range + 1;
    tc->width = g;
    tc->n_buckets = (uint32_t)(span / g);
    tc->want_bytes = x->rop == RANGE_BYTES || x->rop == RANGE_BYTES_RATE;
    tc->want_meta = meta;
    return true;
}

/* Add a stream's counts per bucket to its series (the steps each bucket falls in). */
static void add_counted(struct worker *w, const struct range_ctx *rc, const struct tier_count *tc,
                        const struct counted *k)
{
    const struct label *v = k->labels;
    uint32_t n = k->n_labels;
    struct label *lv;
    if (k->c->meta.len) { /* series include structured metadata, as range_entry's */
        pipe_begin(&w->ps, v, n, k->c->meta);
        n = pipe_labels(&w->ps, CATS_ALL, &lv);
        v = lv;
    }
    if (rc->fold) {
        n = fold_labels(w, rc->r->fold, v, n, &lv);
        v = lv;
    }
    struct acc *a = acc_get(w, v, n, labels_hash(v, n), true);
    acc_make_dense(w, rc, a);
    struct kcalc kc;
    kcalc_init(&kc, rc);
    for (uint32_t i = 0; i < k->c->n; i++) {
        int64_t lo, hi;
        kcalc_at(&kc, tc->origin + (int64_t)k->c->bucket[i] * tc->width, &lo, &hi);
        int64_t c = (int64_t)k->c->entries[i], b = k->c->bytes ? (int64_t)k->c->bytes[i] : 0;
        w->lines += (uint64_t)c;
        w->bytes += (uint64_t)b;
        if (lo > hi)
            continue;
        a->cnt[lo] += c;
        a->cnt[hi + 1] -= c;
        if (a->sum) {
            a->sum[lo] += b;
            a->sum[hi + 1] -= b;
        }
    }
}

int engine_range(struct tier *chain, const struct expr *x, const struct range_eval *r,
                 struct arena *a, struct matrix *out, struct query_stats *stats, char *err,
                 size_t errlen)
{
    int64_t t0 = clock_mono_ns();
    memset(out, 0, sizeof(*out));
    out->n_steps = r->n_steps;
    struct engine e;
    struct arena coll;
    arena_init(&coll, 0);
    engine_init(&e, &coll, &r->lim);
    e.br = x->log;
    e.n_br = x->n_log;
    e.backward = false;
    bool stages = false;
    for (uint32_t b = 0; b < x->n_log; b++)
        stages = stages || x->log[b].n_stages;
    bool meta = range_needs_meta(x, r->fold);
    bool chain_meta = true;
    for (struct tier *t = chain; t; t = t->next)
        chain_meta = chain_meta && t->ops->meta_without_lines;
    e.want_meta = meta;
    e.want_lines = stages || x->has_unwrap || (meta && !chain_meta);
    int64_t last = r->start + (int64_t)(r->n_steps - 1) * r->step;
    e.start = r->start - x->offset - x->range + 1;
    e.end = last - x->offset + 1;
    struct range_ctx rc = {
        .x = x,
        .r = r,
        .range = x->range,
        .offset = x->offset,
        .dense_ok = !x->has_unwrap &&
                    (x->rop == RANGE_COUNT || x->rop == RANGE_RATE || x->rop == RANGE_BYTES ||
                     x->rop == RANGE_BYTES_RATE || x->rop == RANGE_ABSENT),
        .use_bytes = !x->has_unwrap && (x->rop == RANGE_BYTES || x->rop == RANGE_BYTES_RATE),
        .fold = r->fold != NULL,
    };
    struct tier_count tc;
    if (count_spec(x, r, meta, &tc))
        e.count = &tc;
    struct worker *ws = NULL;
    uint32_t nw = 0;
    int rcode = 0;
    if (collect(&e, chain, r->tenant) < 0)
        goto done;
    ws = run_workers(&e, range_worker, &rc, &nw);
    if (e.rc)
        goto done;
    /* merge the workers' series */
    struct worker merged;
    memset(&merged, 0, sizeof(merged));
    merged.e = &e;
    arena_init(&merged.a, 0);
    for (uint32_t i = 0; i < nw && !e.rc; i++) {
        for (uint32_t j = 0; j < ws[i].n_accs && !e.rc; j++) {
            struct acc *src = &ws[i].accs[j];
            struct acc *dst = acc_get(&merged, src->labels, src->n_labels, src->hash, false);
            if (!dst->n && !dst->cnt && !dst->smp) {
                *dst = *src; /* take it over whole */
                dst->labels = src->labels;
                src->smp = NULL;
                src->cnt = src->sum = NULL;
                continue;
            }
            if (src->cnt && !dst->cnt) {
                struct acc t = *dst;
                *dst = *src;
                src->cnt = src->sum = NULL;
                src->smp = t.smp;
                src->n = t.n;
                src->cap = t.cap;
                for (uint32_t k = 0; k < src->n; k++)
                    acc_dense_add(&rc, dst, src->smp[k].ts, src->smp[k].v);
            } else if (src->cnt && dst->cnt) {
                for (uint32_t k = 0; k <= r->n_steps; k++) {
                    dst->cnt[k] += src->cnt[k];
                    if (dst->sum && src->sum)
                        dst->sum[k] += src->sum[k];
                }
            } else {
                for (uint32_t k = 0; k < src->n; k++)
                    acc_add(&merged, &rc, dst, src->smp[k].ts, src->smp[k].v);
            }
        }
    }
    /* Streams the tiers counted themselves. */
    if (e.n_counted) {
        pipe_state_init(&merged.ps);
        for (uint32_t i = 0; i < e.n_counted && !e.rc; i++)
            add_counted(&merged, &rc, &tc, &e.counted[i]);
        pipe_state_release(&merged.ps);
        e.lines += merged.lines;
        e.bytes += merged.bytes;
    }
    if (!e.rc && r->lim.max_memory &&
        (uint64_t)merged.n_accs * r->n_steps * (sizeof(double) + 1) > r->lim.max_memory)
        engine_fail(&e, STRATA_ELIMIT,
                    "query exceeded the memory limit of %zu bytes (--query.max-memory): %u series "
                    "x %u steps; narrow the selector, aggregate, or raise the step",
                    r->lim.max_memory, merged.n_accs, r->n_steps);
    if (!e.rc) {
        if (x->rop == RANGE_ABSENT) {
            /* one series: 1 where no series has a sample */
            out->s = arena_calloc(a, 1, sizeof(*out->s));
            struct series *s = &out->s[0];
            struct label *lv;
            s->n_labels = absent_labels(x, a, &lv);
            s->labels = lv;
            s->v = arena_calloc(a, r->n_steps, sizeof(double));
            s->has = arena_calloc(a, r->n_steps, 1);
            double *tv = xcalloc(r->n_steps, sizeof(double));
            uint8_t *th = xcalloc(r->n_steps, 1);
            uint8_t *any = xcalloc(r->n_steps, 1);
            for (uint32_t i = 0; i < merged.n_accs; i++) {
                memset(th, 0, r->n_steps);
                acc_eval(&rc, &merged.accs[i], tv, th);
                for (uint32_t k = 0; k < r->n_steps; k++)
                    any[k] |= th[k];
            }
            bool some = false;
            for (uint32_t k = 0; k < r->n_steps; k++)
                if (!any[k]) {
                    s->has[k] = 1;
                    s->v[k] = 1;
                    some = true;
                }
            out->n = some ? 1 : 0;
            free(tv);
            free(th);
            free(any);
        } else {
            out->s = arena_alloc(a, (merged.n_accs ? merged.n_accs : 1) * sizeof(*out->s));
            for (uint32_t i = 0; i < merged.n_accs; i++) {
                struct series *s = &out->s[out->n];
                s->labels = labels_dup(a, merged.accs[i].labels, merged.accs[i].n_labels);
                s->n_labels = merged.accs[i].n_labels;
                s->v = arena_alloc(a, r->n_steps * sizeof(double));
                s->has = arena_calloc(a, r->n_steps, 1);
                acc_eval(&rc, &merged.accs[i], s->v, s->has);
                bool any = false;
                for (uint32_t k = 0; k < r->n_steps && !any; k++)
                    any = s->has[k];
                if (any)
                    out->n++;
            }
            if (out->n > 1)
                qsort(out->s, out->n, sizeof(*out->s), cmp_series);
        }
    }
    for (uint32_t i = 0; i < merged.n_accs; i++) {
        free(merged.accs[i].smp);
        free(merged.accs[i].cnt);
        free(merged.accs[i].sum);
    }
    free(merged.accs);
    free(merged.table);
    arena_release(&merged.a);
done:
    rcode = e.rc;
    if (rcode)
        snprintf(err, errlen, "%s", e.err);
    stats_finish(&e, stats, t0);
    if (ws) {
        for (uint32_t i = 0; i < nw; i++)
            for (uint32_t j = 0; j < ws[i].n_accs; j++) {
                free(ws[i].accs[j].smp);
                free(ws[i].accs[j].cnt);
                free(ws[i].accs[j].sum);
            }
        free_workers(ws, nw);
    }
    engine_release(&e);
    arena_release(&coll);
    return rcode;
}

/* ---------------------------------------------------------------- LogsGO counts */

struct lg_series {
    uint32_t group;
    uint64_t hash;
    struct slice message;
    int64_t *sec;
    uint64_t *count;
    uint32_t n, cap;
    uint64_t total;
};

static void logsgo_worker(struct worker *w)
{
    struct engine *e = w->e;
    for (uint32_t gidx = w->id; gidx < e->n_groups && !CANCELLED(e); gidx += w->n_workers) {
        struct group *g = &e->groups[gidx];
        uint32_t first = w->n_lg;
        struct giter gi;
        gi_init(&gi, e, g);
        uint64_t tick = 0;
        while (gi_next(&gi)) {
            w->lines++;
            w->bytes += gi.size;
            struct slice line = gi.line;
            bool plain;
            if (!run_branches(w, g, gi.ts, &line, gi.meta, &plain))
                continue;
            uint64_t h = hash64(gi.line.ptr, gi.line.len);
            struct lg_series *s = NULL;
            for (uint32_t i = first; i < w->n_lg; i++)
                if (w->lg[i].hash == h && slice_eq(w->lg[i].message, gi.line)) {
                    s = &w->lg[i];
                    break;
                }
            if (!s) {
                if (w->n_lg == w->cap_lg) {
                    w->cap_lg = w->cap_lg ? w->cap_lg * 2 : 64;
                    w->lg = xreallocarray(w->lg, w->cap_lg, sizeof(*w->lg));
                }
                s = &w->lg[w->n_lg++];
                memset(s, 0, sizeof(*s));
                s->group = gidx;
                s->hash = h;
                s->message = arena_slice_dup(&w->a, gi.line);
                if (over_memory(w, sizeof(*s) + gi.line.len))
                    break;
            }
            int64_t sec = floor_div(gi.ts, NS_PER_SEC);
            s->total++;
            if (s->n && s->sec[s->n - 1] == sec) {
                s->count[s->n - 1] = s->total;
            } else {
                if (s->n == s->cap) {
                    uint32_t nc = s->cap ? s->cap * 2 : 8;
                    s->sec = xreallocarray(s->sec, nc, sizeof(int64_t));
                    s->count = xreallocarray(s->count, nc, sizeof(uint64_t));
                    if (over_memory(w, (nc - s->cap) * 16))
                        break;
                    s->cap = nc;
                }
                s->sec[s->n] = sec;
                s->count[s->n++] = s->total;
            }
            if ((++tick & 0xfff) == 0 && worker_should_stop(w))
                break;
        }
        group_close(e, g);
    }
}

static int cmp_lg(const void *a, const void *b)
{
    const struct logsgo_series *x = a, *y = b;
    int c = slice_cmp(x->service, y->service);
    if (!c)
        c = slice_cmp(x->level, y->level);
    if (!c)
        c = slice_cmp(x->message, y->message);
    if (!c)
        c = engine_labels_cmp(x->custom, x->n_custom, y->custom, y->n_custom);
    return c;
}

int engine_logsgo_counts(struct tier *chain, const char *tenant, const struct expr *log,
                         int64_t end_ns, const struct query_limits *lim, struct arena *a,
                         struct logsgo_series **out, uint32_t *n, struct query_stats *stats,
                         char *err, size_t errlen)
{
    int64_t t0 = clock_mono_ns();
    *out = NULL;
    *n = 0;
    struct engine e;
    struct arena coll;
    arena_init(&coll, 0);
    engine_init(&e, &coll, lim);
    e.br = log->log;
    e.n_br = log->n_log;
    e.want_lines = true;
    e.start = INT64_MIN / 2;
    e.end = end_ns;
    struct worker *ws = NULL;
    uint32_t nw = 0;
    if (collect(&e, chain, tenant) == 0)
        ws = run_workers(&e, logsgo_worker, NULL, &nw);
    if (!e.rc) {
        uint32_t total = 0;
        for (uint32_t i = 0; i < nw; i++)
            total += ws[i].n_lg;
        struct logsgo_series *v = arena_calloc(a, total ? total : 1, sizeof(*v));
        uint32_t k = 0;
        for (uint32_t i = 0; i < nw; i++)
            for (uint32_t j = 0; j < ws[i].n_lg; j++) {
                struct lg_series *s = &ws[i].lg[j];
                const struct group *g = &e.groups[s->group];
                struct logsgo_series *o = &v[k++];
                struct label *custom =
                    arena_alloc(a, (g->n_labels ? g->n_labels : 1) * sizeof(*custom));
                o->service = o->level = (struct slice){"", 0};
                for (uint32_t l = 0; l < g->n_labels; l++) {
                    const struct label *lb = &g->labels[l];
                    if (slice_eq_str(lb->name, "service"))
                        o->service = arena_slice_dup(a, lb->value);
                    else if (slice_eq_str(lb->name, "level"))
                        o->level = arena_slice_dup(a, lb->value);
                    else
                        custom[o->n_custom++] = (struct label){arena_slice_dup(a, lb->name),
                                                               arena_slice_dup(a, lb->value)};
                }
                o->custom = custom;
                o->message = arena_slice_dup(a, s->message);
                o->n = s->n;
                o->sec = arena_alloc(a, (s->n ? s->n : 1) * sizeof(int64_t));
                o->count = arena_alloc(a, (s->n ? s->n : 1) * sizeof(uint64_t));
                if (s->n) {
                    memcpy(o->sec, s->sec, s->n * sizeof(int64_t));
                    memcpy(o->count, s->count, s->n * sizeof(uint64_t));
                }
            }
        if (k > 1)
            qsort(v, k, sizeof(*v), cmp_lg);
        *out = v;
        *n = k;
    }
    int rc = e.rc;
    if (rc)
        snprintf(err, errlen, "%s", e.err);
    stats_finish(&e, stats, t0);
    if (ws) {
        for (uint32_t i = 0; i < nw; i++)
            for (uint32_t j = 0; j < ws[i].n_lg; j++) {
                free(ws[i].lg[j].sec);
                free(ws[i].lg[j].count);
            }
        free_workers(ws, nw);
    }
    engine_release(&e);
    arena_release(&coll);
    return rc;
}
