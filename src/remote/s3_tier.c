/*
 * s3_tier.c - the object-storage tier (contract: s3_tier.h; key layout and
 * manifest: s3_manifest.h; user documentation: docs/S3.md, docs/SCALING.md).
 *
 * Local state under the data directory:
 *
 *     <data-dir>/s3-writer-id   one line, "<host>-<8 hex digits>\n": this data
 *                               directory's writer id, made at the first start
 *                               (written atomically) and never changed
 *     <data-dir>/s3-cache/      the range cache (s3_cache.c)
 *     <data-dir>/s3-work/       compaction's downloads and output; emptied at start
 *
 * In memory: the visible set, per tenant the parts (struct rpart) sorted by
 * min_ts, rebuilt from the manifest(s) after every change; parts being read
 * hold references, so a part leaving the set stays readable until its last
 * cursor closes. An rpart may have an open reader (struct ropen: the part's
 * index, and the whole object when it is small), kept on an LRU list within
 * --s3.index-memory.
 *
 * Reading: the part reader (store/part.h) reads through a part_source whose
 * read_at lands here. Reads are served, in order, from the whole object
 * (small parts), from a set of ranges fetched ahead for this thread
 * (tl_set: the index while a part is opened, the bloom filters while cursors
 * are made), from the window of the cursor being read (tl_cur: the next
 * blocks of its plan, fetched together in parallel), and last from one
 * ranged GET. Everything fetched goes through the disk cache.
 *
 * Locks, in the order they may be taken: man_mu (the manifest, every write
 * to the bucket, a querier's refresh), set_lock (the visible set), open_mu
 * (open readers and the LRU).
 */
#include "remote/s3_tier.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/metrics.h"
#include "remote/s3.h"
#include "remote/s3_cache.h"
#include "remote/s3_manifest.h"
#include "store/bloom.h"
#include "store/fsio.h"
#include "store/part.h"

#define SMALL_PART    (256u << 10) /* parts up to this size are fetched and kept whole */
#define WINDOW_BYTES  (8u << 20)   /* a cursor fetches at most this much ahead at once */
#define WINDOW_BLOCKS 16
#define WARM_BYTES    (32u << 20) /* per select: the cursors' first blocks, fetched together */
#define FETCH_BATCH   64          /* ranges per parallel fetch */
#define BLOOM_GAP     (4u << 10)  /* bloom ranges closer than this are fetched as one */
#define CHUNK_BYTES   (16u << 20) /* compaction downloads objects in ranges of this size */
#define MERGE_MAX     64          /* parts merged at once */
#define BACKOFF_MIN   NS_PER_SEC
#define BACKOFF_MAX   (60 * NS_PER_SEC)
#define TAKEOVER_AGE  (10 * 60 * NS_PER_SEC)

struct s3_tier;
struct rpart;

/* An open part: its reader and what it keeps in memory. */
struct ropen {
    atomic_int refs; /* rpart->open's, one per cursor, and transient ones */
    struct s3_tier *t;
    struct rpart *rp; /* a reference: the key and ETag reads need */
    struct part *p;
    struct buf whole; /* the whole object when it is small (len 0 otherwise) */
    size_t mem;
};

/* A part listed in a manifest. */
struct rpart {
    atomic_int refs; /* the set's and every holder's */
    struct s3_manifest_part m;
    /* under open_mu */
    struct ropen *open;
    struct rpart *lru_prev, *lru_next;
    bool in_lru;
};

struct rtenant {
    char *name;
    struct rpart **parts; /* sorted by (min_ts, key) */
    uint32_t n, cap;
};

/* A querier's view of one writer. */
struct writer_view {
    char *prefix;
    char etag[96];
    struct s3_manifest man;
};

struct s3_tier {
    struct tier tier;
    struct s3_client *s3;
    struct s3_cache *cache;
    char *work_dir;
    char *prefix; /* the writer's; NULL for a querier */
    char *writer_id;
    bool querier;
    char **read_prefixes;
    uint32_t n_read_prefixes;
    int64_t refresh_interval, delete_delay, compact_interval;
    uint64_t index_memory;
    int compact_zstd_level;
    uint32_t block_bytes;
    bool bloom;
    volatile int stopping;

    pthread_rwlock_t set_lock;
    struct rtenant *tenants;
    uint32_t n_tenants;
    struct tier_usage usage;

    pthread_mutex_t open_mu;
    struct rpart *lru_head, *lru_tail;
    uint64_t open_mem, open_count;

    pthread_mutex_t man_mu;
    struct s3_manifest man; /* a writer's */
    struct writer_view *writers;
    uint32_t n_writers;
    int64_t last_refresh, last_compaction; /* monotonic */
    bool cleaned;

    _Atomic int64_t retry_at, backoff; /* uploads, monotonic */

    struct metric *m_uploads_ok, *m_uploads_err, *m_compact_ok, *m_compact_err, *m_deleted,
        *m_man_writes, *m_man_reads, *m_open_parts, *m_open_bytes;
};

static struct s3_tier *T(struct tier *t)
{
    return (struct s3_tier *)t;
}

static int64_t day_of(int64_t ts)
{
    return ts >= 0 ? ts / NS_PER_DAY : -((-ts + NS_PER_DAY - 1) / NS_PER_DAY);
}

/* ---- parts and open readers ---- */

static void rpart_unref(struct rpart *rp)
{
    if (!rp || atomic_fetch_sub(&rp->refs, 1) != 1)
        return;
    free(rp->m.key);
    free(rp->m.tenant);
    free(rp);
}

static void ropen_unref(void *arg)
{
    struct ropen *ro = arg;
    if (!ro || atomic_fetch_sub(&ro->refs, 1) != 1)
        return;
    part_close(ro->p);
    buf_release(&ro->whole);
    rpart_unref(ro->rp);
    free(ro);
}

static void lru_unlink(struct s3_tier *t, struct rpart *rp)
{
    if (!rp->in_lru)
        return;
    if (rp->lru_prev)
        rp->lru_prev->lru_next = rp->lru_next;
    else
        t->lru_head = rp->lru_next;
    if (rp->lru_next)
        rp->lru_next->lru_prev = rp->lru_prev;
    else
        t->lru_tail = rp->lru_prev;
    rp->lru_prev = rp->lru_next = NULL;
    rp->in_lru = false;
}

static void lru_push(struct s3_tier *t, struct rpart *rp)
{
    lru_unlink(t, rp);
    rp->lru_next = t->lru_head;
    if (t->lru_head)
        t->lru_head->lru_prev = rp;
    t->lru_head = rp;
    if (!t->lru_tail)
        t->lru_tail = rp;
    rp->in_lru = true;
}

/* Forget rp's open reader (open_mu held); the caller unrefs what is returned. */
static struct ropen *detach_open(struct s3_tier *t, struct rpart *rp)
{
    struct ropen *ro = rp->open;
    if (!ro)
        return NULL;
    rp->open = NULL;
    lru_unlink(t, rp);
    t->open_mem -= ro->mem;
    t->open_count--;
    return ro;
}

static void note_open_gauges(struct s3_tier *t)
{
    metric_set(t->m_open_parts, (double)t->open_count);
    metric_set(t->m_open_bytes, (double)t->open_mem);
}

/* ---- fetching ranges ---- */

struct frange {
    uint64_t off, len;
    struct buf data;
    int rc;
};

/* Ranges of one part fetched ahead; reads of owner inside them are served from memory. */
struct fetchset {
    const struct ropen *owner;
    struct frange *v;
    uint32_t n, cap;
};

static void fetchset_add(struct fetchset *f, uint64_t off, uint64_t len)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
    }
    struct frange *r = &f->v[f->n++];
    r->off = off;
    r->len = len;
    r->rc = STRATA_EIO;
    buf_init(&r->data, len);
}

static void fetchset_clear(struct fetchset *f)
{
    for (uint32_t i = 0; i < f->n; i++)
        buf_release(&f->v[i].data);
    f->n = 0;
}

static void fetchset_free(struct fetchset *f)
{
    fetchset_clear(f);
    free(f->v);
    f->v = NULL;
    f->cap = 0;
}

static const struct frange *fetchset_find(const struct fetchset *f, uint64_t off, size_t len)
{
    for (uint32_t i = 0; i < f->n; i++) {
        const struct frange *r = &f->v[i];
        if (!r->rc && off >= r->off && off + len <= r->off + r->data.len)
            return r;
    }
    return NULL;
}

/* One range of one part to fetch. */
struct fetch_job {
    const struct rpart *rp;
    struct frange *r;
};

/*
 * Fetch every job's range (from the cache, else S3 in parallel), FETCH_BATCH
 * at a time. Each range gets its rc; returns the first failure (logged once).
 */
static int fetch_jobs(struct s3_tier *t, struct fetch_job *jobs, size_t n,
                      const volatile int *cancel)
{
    int first = 0;
    struct s3_cache_req reqs[FETCH_BATCH];
    for (size_t i = 0; i < n; i += FETCH_BATCH) {
        if (tier_cancelled(cancel))
            return STRATA_ECANCELED;
        size_t m = n - i < FETCH_BATCH ? n - i : FETCH_BATCH;
        for (size_t j = 0; j < m; j++) {
            struct fetch_job *jb = &jobs[i + j];
            buf_reset(&jb->r->data);
            reqs[j] = (struct s3_cache_req){
                .object = jb->rp->m.key,
                .etag = jb->rp->m.etag,
                .range = s3_range((int64_t)jb->r->off, (int64_t)jb->r->len),
                .out = &jb->r->data,
            };
        }
        struct s3_error e = {0};
        int rc = s3_cache_fetch_many(t->cache, t->s3, reqs, m, &e);
        for (size_t j = 0; j < m; j++) {
            struct frange *r = jobs[i + j].r;
            r->rc = reqs[j].rc;
            if (!r->rc && r->data.len != r->len)
                r->rc = STRATA_ECORRUPT; /* the object is shorter than its manifest says */
            if (r->rc && !first) {
                first = r->rc;
                log_error("s3: reading %s [%" PRIu64 ", +%" PRIu64 "): %s", jobs[i + j].rp->m.key,
                          r->off, r->len, rc && e.message[0] ? e.message : strata_strerror(r->rc));
            }
        }
    }
    return first;
}

/* ---- reading a part through the tier ---- */

/* What a cursor's query reads of each block besides timestamps. */
struct block_want {
    bool lines, meta;
};

struct s3cursor {
    struct tier_cursor base;
    struct tier_cursor *inner;
    struct ropen *open; /* the inner cursor holds the reference */
    const uint32_t *plan;
    uint32_t n_plan, win_from;
    struct block_want want;
    const volatile int *cancel;
    struct fetchset win;
};

static __thread const struct fetchset *tl_set;
static __thread struct s3cursor *tl_cur;

/*
 * The bytes of a block a cursor reads: its TS frame, its data frame when
 * lines are wanted, and its metadata frame (version 2 parts) when lines or
 * metadata are.
 */
static void block_ranges(const struct part_block_loc *l, struct block_want w, struct fetchset *f)
{
    bool meta = (w.lines || w.meta) && l->meta_len;
    if (!w.lines)
        fetchset_add(f, l->ts_off, l->ts_len);
    else if (l->data_off == l->ts_off + l->ts_len)
        fetchset_add(f, l->ts_off, (uint64_t)l->ts_len + l->data_len + (meta ? l->meta_len : 0));
    else {
        fetchset_add(f, l->ts_off, l->ts_len);
        fetchset_add(f, l->data_off, (uint64_t)l->data_len + (meta ? l->meta_len : 0));
    }
    if (meta && !w.lines)
        fetchset_add(f, l->meta_off, l->meta_len);
}

static uint64_t block_bytes(const struct part_block_loc *l, struct block_want w)
{
    return l->ts_len + (w.lines ? l->data_len : 0) + ((w.lines || w.meta) ? l->meta_len : 0);
}

/* Fetch the cursor's window starting at the plan block whose frames begin at off. */
static int cursor_window(struct s3cursor *c, uint64_t off)
{
    struct part *p = c->open->p;
    uint32_t i = c->win_from;
    struct part_block_loc l;
    for (; i < c->n_plan; i++) {
        part_block_loc(p, c->plan[i], &l);
        if (l.ts_off == off || l.data_off == off || (l.meta_len && l.meta_off == off))
            break;
    }
    if (i == c->n_plan)
        return 0; /* not a frame of the plan: a plain read */
    fetchset_clear(&c->win);
    uint64_t bytes = 0;
    for (uint32_t j = i; j < c->n_plan && j - i < WINDOW_BLOCKS; j++) {
        part_block_loc(p, c->plan[j], &l);
        uint64_t b = block_bytes(&l, c->want);
        if (j > i && bytes + b > WINDOW_BYTES)
            break;
        bytes += b;
        block_ranges(&l, c->want, &c->win);
    }
    c->win_from = i;
    struct fetch_job *jobs = xmallocarray(c->win.n, sizeof(*jobs));
    for (uint32_t j = 0; j < c->win.n; j++)
        jobs[j] = (struct fetch_job){c->open->rp, &c->win.v[j]};
    int rc = fetch_jobs(c->open->t, jobs, c->win.n, c->cancel);
    free(jobs);
    return rc;
}

static int ropen_read_at(void *ctx, uint64_t off, size_t len, void *dst)
{
    struct ropen *ro = ctx;
    if (ro->whole.len) {
        if (off > ro->whole.len || len > ro->whole.len - off)
            return STRATA_ECORRUPT;
        memcpy(dst, ro->whole.ptr + off, len);
        return 0;
    }
    const struct frange *r = NULL;
    if (tl_set && tl_set->owner == ro)
        r = fetchset_find(tl_set, off, len);
    if (!r && tl_cur && tl_cur->open == ro) {
        r = fetchset_find(&tl_cur->win, off, len);
        if (!r) {
            /* The window's other ranges may have failed; this one is what counts. */
            int rc = cursor_window(tl_cur, off);
            r = fetchset_find(&tl_cur->win, off, len);
            if (!r && rc < 0)
                return rc;
        }
    }
    if (r) {
        memcpy(dst, r->data.ptr + (off - r->off), len);
        return 0;
    }
    struct s3_tier *t = ro->t;
    struct buf b;
    buf_init(&b, len);
    struct s3_error e = {0};
    int rc = s3_cache_fetch(t->cache, t->s3, ro->rp->m.key, ro->rp->m.etag,
                            s3_range((int64_t)off, (int64_t)len), &b, NULL, &e);
    if (!rc && b.len != len)
        rc = STRATA_ECORRUPT;
    if (!rc)
        memcpy(dst, b.ptr, len);
    else
        log_error("s3: reading %s [%" PRIu64 ", +%zu): %s", ro->rp->m.key, off, len,
                  e.message[0] ? e.message : strata_strerror(rc));
    buf_release(&b);
    return rc;
}

static int s3cursor_next(struct tier_cursor *tc, struct entry_batch *out)
{
    struct s3cursor *c = (struct s3cursor *)tc;
    struct s3cursor *saved = tl_cur;
    tl_cur = c;
    int rc = c->inner->ops->next(c->inner, out);
    tl_cur = saved;
    return rc;
}

static void s3cursor_close(struct tier_cursor *tc)
{
    struct s3cursor *c = (struct s3cursor *)tc;
    if (!c->inner)
        return;
    fetchset_free(&c->win);
    c->inner->ops->close(c->inner); /* drops the reference on the open part */
    c->inner = NULL;
}

static const struct tier_cursor_ops s3cursor_ops = {s3cursor_next, s3cursor_close};

/*
 * Open the readers of parts[0..n) that are not open yet (index and footer
 * fetched together, in parallel for all of them) and return each with a
 * reference taken, in ro[i].
 */
static int open_parts(struct s3_tier *t, struct rpart **parts, uint32_t n, struct ropen **ro,
                      const volatile int *cancel)
{
    uint32_t *missing = xmallocarray(n ? n : 1, sizeof(*missing));
    uint32_t nm = 0;
    pthread_mutex_lock(&t->open_mu);
    for (uint32_t i = 0; i < n; i++) {
        ro[i] = parts[i]->open;
        if (ro[i]) {
            atomic_fetch_add(&ro[i]->refs, 1);
            lru_push(t, parts[i]);
        } else {
            missing[nm++] = i;
        }
    }
    pthread_mutex_unlock(&t->open_mu);
    int rc = 0;
    if (!nm) {
        free(missing);
        return 0;
    }
    struct fetchset *sets = xcalloc(nm, sizeof(*sets));
    struct fetch_job *jobs = xmallocarray(2 * nm, sizeof(*jobs));
    size_t nj = 0;
    /* Round 1: small parts whole; others the header and, when the manifest says where
     * the index starts, index and footer in one range; else the footer alone. */
    for (uint32_t k = 0; k < nm; k++) {
        const struct s3_manifest_part *m = &parts[missing[k]]->m;
        if (m->size <= SMALL_PART) {
            fetchset_add(&sets[k], 0, m->size);
        } else {
            fetchset_add(&sets[k], 0, 16);
            if (m->index_off)
                fetchset_add(&sets[k], m->index_off, m->size - m->index_off);
            else
                fetchset_add(&sets[k], m->size - PART_FOOTER_SIZE, PART_FOOTER_SIZE);
        }
        for (uint32_t j = 0; j < sets[k].n; j++)
            jobs[nj++] = (struct fetch_job){parts[missing[k]], &sets[k].v[j]};
    }
    rc = fetch_jobs(t, jobs, nj, cancel);
    /* Round 2: the index of parts whose manifest entry did not say where it is. */
    nj = 0;
    for (uint32_t k = 0; k < nm && !rc; k++) {
        const struct s3_manifest_part *m = &parts[missing[k]]->m;
        if (m->size <= SMALL_PART || m->index_off)
            continue;
        uint64_t off, len;
        if (part_index_range((const unsigned char *)sets[k].v[1].data.ptr, m->size, &off, &len) <
            0) {
            log_error("s3: %s: bad footer", m->key);
            rc = STRATA_ECORRUPT;
            break;
        }
        fetchset_add(&sets[k], off, len);
        jobs[nj++] = (struct fetch_job){parts[missing[k]], &sets[k].v[2]};
    }
    if (!rc && nj)
        rc = fetch_jobs(t, jobs, nj, cancel);
    for (uint32_t k = 0; k < nm && !rc; k++) {
        struct rpart *rp = parts[missing[k]];
        struct ropen *o = xcalloc(1, sizeof(*o));
        atomic_init(&o->refs, 1);
        o->t = t;
        o->rp = rp;
        atomic_fetch_add(&rp->refs, 1);
        buf_init(&o->whole, rp->m.size);
        if (rp->m.size <= SMALL_PART) {
            o->whole = sets[k].v[0].data; /* moved */
            buf_init(&sets[k].v[0].data, 0);
        }
        struct part_source src = {.read_at = ropen_read_at, .ctx = o, .size = rp->m.size};
        sets[k].owner = o;
        const struct fetchset *saved = tl_set;
        tl_set = &sets[k];
        char err[256];
        rc = part_open(&src, true, &o->p, err, sizeof(err));
        tl_set = saved;
        if (rc < 0) {
            log_error("s3: cannot open part %s: %s", rp->m.key, err);
            ropen_unref(o);
            break;
        }
        const struct part_info *in = part_get_info(o->p);
        if (strcmp(in->tenant, rp->m.tenant) || in->entries != rp->m.entries) {
            log_error("s3: part %s holds tenant %s and %" PRIu64
                      " entries, its manifest says %s and %" PRIu64,
                      rp->m.key, in->tenant, in->entries, rp->m.tenant, rp->m.entries);
            ropen_unref(o);
            rc = STRATA_ECORRUPT;
            break;
        }
        o->mem = o->whole.len + (rp->m.index_off ? rp->m.size - rp->m.index_off : 4096) * 2;
        /* Install it, unless another query was faster. */
        struct ropen *evicted[8];
        uint32_t ne = 0;
        pthread_mutex_lock(&t->open_mu);
        if (rp->open) {
            ro[missing[k]] = rp->open;
            atomic_fetch_add(&rp->open->refs, 1);
            pthread_mutex_unlock(&t->open_mu);
            ropen_unref(o);
            continue;
        }
        rp->open = o;
        atomic_fetch_add(&o->refs, 1); /* ours, for the caller */
        ro[missing[k]] = o;
        t->open_mem += o->mem;
        t->open_count++;
        lru_push(t, rp);
        while (t->open_mem > t->index_memory && t->lru_tail && t->lru_tail != rp && ne < 8)
            evicted[ne++] = detach_open(t, t->lru_tail);
        note_open_gauges(t);
        pthread_mutex_unlock(&t->open_mu);
        for (uint32_t e = 0; e < ne; e++)
            ropen_unref(evicted[e]);
    }
    for (uint32_t k = 0; k < nm; k++)
        fetchset_free(&sets[k]);
    free(sets);
    free(jobs);
    if (rc < 0)
        for (uint32_t k = 0; k < nm; k++) {
            ropen_unref(ro[missing[k]]);
            ro[missing[k]] = NULL;
        }
    free(missing);
    return rc;
}

/* ---- the visible set ---- */

/* The parts of tenant overlapping [start, end), referenced. */
static struct rpart **pick_parts(struct s3_tier *t, const char *tenant, int64_t start, int64_t end,
                                 uint32_t *n)
{
    struct rpart **v = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&t->set_lock);
    for (uint32_t i = 0; i < t->n_tenants; i++) {
        struct rtenant *rt = &t->tenants[i];
        if (strcmp(rt->name, tenant))
            continue;
        v = xmallocarray(rt->n ? rt->n : 1, sizeof(*v));
        for (uint32_t j = 0; j < rt->n; j++) {
            struct rpart *rp = rt->parts[j];
            if (rp->m.max_ts < start || rp->m.min_ts >= end)
                continue;
            atomic_fetch_add(&rp->refs, 1);
            v[(*n)++] = rp;
        }
        break;
    }
    pthread_rwlock_unlock(&t->set_lock);
    return v;
}

static int cmp_rpart(const void *a, const void *b)
{
    const struct rpart *x = *(struct rpart *const *)a, *y = *(struct rpart *const *)b;
    if (x->m.min_ts != y->m.min_ts)
        return x->m.min_ts < y->m.min_ts ? -1 : 1;
    return strcmp(x->m.key, y->m.key);
}

/* A key -> rpart map of the current set, to keep open readers across rebuilds. */
struct rmap {
    struct rpart **slots;
    size_t cap;
};

static void rmap_put(struct rmap *m, struct rpart *rp)
{
    size_t k = hash64(rp->m.key, strlen(rp->m.key)) & (m->cap - 1);
    while (m->slots[k])
        k = (k + 1) & (m->cap - 1);
    m->slots[k] = rp;
}

static struct rpart *rmap_take(struct rmap *m, const char *key)
{
    size_t k = hash64(key, strlen(key)) & (m->cap - 1);
    for (size_t i = 0; i < m->cap && m->slots[k]; i++, k = (k + 1) & (m->cap - 1)) {
        struct rpart *rp = m->slots[k];
        if (rp != (struct rpart *)m && !strcmp(rp->m.key, key)) {
            m->slots[k] = (struct rpart *)m; /* a tombstone */
            return rp;
        }
    }
    return NULL;
}

/*
 * Replace the visible set with the parts of mans[0..n). Parts that stay keep
 * their open readers; parts that go are released once their readers close.
 * Called with man_mu held.
 */
static void set_rebuild(struct s3_tier *t, const struct s3_manifest *const *mans, uint32_t n)
{
    /*
     * The old set, by key. Only a rebuild changes the set and man_mu keeps
     * rebuilds apart, so the old parts live on through their set reference:
     * a kept part hands it to the new set, a part that goes drops it.
     */
    pthread_rwlock_rdlock(&t->set_lock);
    size_t total = 0;
    for (uint32_t i = 0; i < t->n_tenants; i++)
        total += t->tenants[i].n;
    struct rmap old = {.cap = 16};
    while (old.cap < 2 * total + 2)
        old.cap *= 2;
    old.slots = xcalloc(old.cap, sizeof(*old.slots));
    for (uint32_t i = 0; i < t->n_tenants; i++)
        for (uint32_t j = 0; j < t->tenants[i].n; j++)
            rmap_put(&old, t->tenants[i].parts[j]);
    pthread_rwlock_unlock(&t->set_lock);

    struct rtenant *nt = NULL;
    uint32_t n_nt = 0, cap_nt = 0;
    struct tier_usage u = {0};
    bool first = true;
    for (uint32_t w = 0; w < n; w++)
        for (uint32_t i = 0; i < mans[w]->n_parts; i++) {
            const struct s3_manifest_part *mp = &mans[w]->parts[i];
            struct rpart *rp = rmap_take(&old, mp->key);
            if (!rp) {
                rp = xcalloc(1, sizeof(*rp));
                atomic_init(&rp->refs, 1);
                rp->m = *mp;
                rp->m.key = xstrdup(mp->key);
                rp->m.tenant = xstrdup(mp->tenant);
            }
            struct rtenant *rt = NULL;
            for (uint32_t k = 0; k < n_nt && !rt; k++)
                if (!strcmp(nt[k].name, mp->tenant))
                    rt = &nt[k];
            if (!rt) {
                if (n_nt == cap_nt) {
                    cap_nt = cap_nt ? cap_nt * 2 : 8;
                    nt = xreallocarray(nt, cap_nt, sizeof(*nt));
                }
                rt = &nt[n_nt++];
                memset(rt, 0, sizeof(*rt));
                rt->name = xstrdup(mp->tenant);
            }
            if (rt->n == rt->cap) {
                rt->cap = rt->cap ? rt->cap * 2 : 16;
                rt->parts = xreallocarray(rt->parts, rt->cap, sizeof(*rt->parts));
            }
            rt->parts[rt->n++] = rp;
            u.parts++;
            u.disk_bytes += mp->size;
            u.entries += mp->entries;
            u.bytes += mp->bytes;
            u.streams += mp->streams;
            if (first || mp->min_ts < u.min_ts)
                u.min_ts = mp->min_ts;
            if (first || mp->max_ts > u.max_ts)
                u.max_ts = mp->max_ts;
            first = false;
        }
    for (uint32_t k = 0; k < n_nt; k++)
        qsort(nt[k].parts, nt[k].n, sizeof(*nt[k].parts), cmp_rpart);

    pthread_rwlock_wrlock(&t->set_lock);
    struct rtenant *gone = t->tenants;
    uint32_t n_gone = t->n_tenants;
    t->tenants = nt;
    t->n_tenants = n_nt;
    t->usage = u;
    pthread_rwlock_unlock(&t->set_lock);

    for (uint32_t i = 0; i < n_gone; i++) {
        free(gone[i].name);
        free(gone[i].parts);
    }
    free(gone);
    /* What is left in the map left the set: close its reader and drop the set's reference. */
    for (size_t i = 0; i < old.cap; i++) {
        struct rpart *rp = old.slots[i];
        if (!rp || rp == (struct rpart *)&old)
            continue;
        pthread_mutex_lock(&t->open_mu);
        struct ropen *ro = detach_open(t, rp);
        note_open_gauges(t);
        pthread_mutex_unlock(&t->open_mu);
        ropen_unref(ro);
        rpart_unref(rp);
    }
    free(old.slots);
}

/* ---- queries ---- */

static int querier_refresh(struct s3_tier *t, bool force, bool wait);

/* Bloom filters the cursors of part p will test: one range per run of nearby filters. */
static void bloom_ranges(struct part *p, const uint32_t *ids, uint32_t n,
                         const struct tier_query *q, struct fetchset *f)
{
    uint64_t lo = 0, hi = 0;
    bool open = false;
    for (uint32_t i = 0; i < n; i++) {
        const struct part_stream *ps = part_get_stream(p, ids[i]);
        if (ps->max_ts < q->start || ps->min_ts >= q->end)
            continue;
        for (uint32_t b = ps->first_block; b < ps->first_block + ps->n_blocks; b++) {
            struct part_block_loc l;
            part_block_loc(p, b, &l);
            if (!l.bloom_len || l.max_ts < q->start || l.min_ts >= q->end)
                continue;
            if (open && l.bloom_off >= lo && l.bloom_off <= hi + BLOOM_GAP) {
                if (l.bloom_off + l.bloom_len > hi)
                    hi = l.bloom_off + l.bloom_len;
                continue;
            }
            if (open)
                fetchset_add(f, lo, hi - lo);
            lo = l.bloom_off;
            hi = l.bloom_off + l.bloom_len;
            open = true;
        }
    }
    if (open)
        fetchset_add(f, lo, hi - lo);
}

/*
 * The parts of q's tenant and time range, opened (*np of them; a querier
 * refreshes its view first). With *np == 0 nothing is allocated; otherwise
 * the caller unreferences every ro[i] and parts[i] and frees both arrays,
 * whatever the return code.
 */
static int open_window(struct s3_tier *t, const struct tier_query *q, struct rpart ***parts,
                       struct ropen ***ro, uint32_t *np)
{
    if (t->querier)
        querier_refresh(t, false, false);
    *parts = pick_parts(t, q->tenant, q->start, q->end, np);
    *ro = NULL;
    if (!*np) {
        free(*parts);
        *parts = NULL;
        return 0;
    }
    *ro = xcalloc(*np, sizeof(**ro));
    return open_parts(t, *parts, *np, *ro, q->cancel);
}

static int walk(struct tier *tier, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                void *arg, bool cursors)
{
    struct s3_tier *t = T(tier);
    uint32_t np;
    struct rpart **parts;
    struct ropen **ro;
    int rc = open_window(t, q, &parts, &ro, &np);
    if (!np)
        return rc;
    struct bloom_query bq = {0};
    if (cursors)
        bloom_query_init(&bq, q->needles, q->n_needles, a);
    /* Streams per part, and the bloom filters their cursors will test, fetched together. */
    uint32_t **ids = xcalloc(np, sizeof(*ids));
    uint32_t *nids = xcalloc(np, sizeof(*nids));
    struct fetchset *blooms = xcalloc(np, sizeof(*blooms));
    size_t nj = 0;
    for (uint32_t i = 0; i < np && !rc; i++) {
        nids[i] = part_match_streams(ro[i]->p, q->sel, a, &ids[i]);
        blooms[i].owner = ro[i];
        if (cursors && bq.n)
            bloom_ranges(ro[i]->p, ids[i], nids[i], q, &blooms[i]);
        nj += blooms[i].n;
    }
    if (!rc && nj) {
        struct fetch_job *jobs = xmallocarray(nj, sizeof(*jobs));
        nj = 0;
        for (uint32_t i = 0; i < np; i++)
            for (uint32_t j = 0; j < blooms[i].n; j++)
                jobs[nj++] = (struct fetch_job){parts[i], &blooms[i].v[j]};
        /* A failed range is read again (and reported) by the cursor that needs it. */
        (void)fetch_jobs(t, jobs, nj, q->cancel);
        free(jobs);
    }
    /* The streams, with cursors; handed to fn once all are made and warmed up. */
    struct tier_stream *out = NULL;
    struct s3cursor **curs = NULL;
    size_t n_out = 0, cap_out = 0;
    for (uint32_t i = 0; i < np && !rc; i++) {
        const struct fetchset *saved = tl_set;
        tl_set = &blooms[i];
        for (uint32_t j = 0; j < nids[i]; j++) {
            const struct part_stream *ps = part_get_stream(ro[i]->p, ids[i][j]);
            if (ps->max_ts < q->start || ps->min_ts >= q->end)
                continue;
            struct tier_stream ts = {0};
            struct s3cursor *c = NULL;
            if (cursors) {
                atomic_fetch_add(&ro[i]->refs, 1);
                struct tier_cursor *inner =
                    part_cursor_new(ro[i]->p, ids[i][j], q, &bq, a, ropen_unref, ro[i]);
                if (!inner) {
                    ropen_unref(ro[i]);
                    continue;
                }
                c = arena_calloc(a, 1, sizeof(*c));
                c->base.ops = &s3cursor_ops;
                c->inner = inner;
                c->open = ro[i];
                c->n_plan = part_cursor_plan(inner, &c->plan);
                c->want = (struct block_want){q->want_lines, q->want_meta};
                c->cancel = q->cancel;
                c->win.owner = ro[i];
                ts.cursor = &c->base;
            }
            tier_stream_copy_id(&ts, ps->fp, ps->labels, ps->n_labels, ps->key, a);
            if (n_out == cap_out) {
                size_t cap = cap_out ? cap_out * 2 : 64;
                out = arena_realloc(a, out, cap_out * sizeof(*out), cap * sizeof(*out));
                curs = arena_realloc(a, curs, cap_out * sizeof(*curs), cap * sizeof(*curs));
                cap_out = cap;
            }
            curs[n_out] = c;
            out[n_out++] = ts;
        }
        tl_set = saved;
        if (tier_cancelled(q->cancel))
            rc = STRATA_ECANCELED;
    }
    /*
     * Warm-up: each cursor's first block, fetched in parallel for all of them
     * now rather than one at a time as the engine reaches each cursor.
     */
    if (cursors && !rc && n_out) {
        uint64_t budget = WARM_BYTES;
        size_t nw = 0;
        for (size_t i = 0; i < n_out && budget; i++) {
            struct s3cursor *c = curs[i];
            if (!c || !c->n_plan || c->open->whole.len)
                continue;
            struct part_block_loc l;
            part_block_loc(c->open->p, c->plan[0], &l);
            uint64_t b = block_bytes(&l, c->want);
            if (b > budget)
                break;
            budget -= b;
            block_ranges(&l, c->want, &c->win);
            nw += c->win.n;
        }
        if (nw) {
            struct fetch_job *jobs = xmallocarray(nw, sizeof(*jobs));
            nw = 0;
            for (size_t i = 0; i < n_out; i++)
                for (uint32_t j = 0; curs[i] && j < curs[i]->win.n; j++)
                    jobs[nw++] = (struct fetch_job){curs[i]->open->rp, &curs[i]->win.v[j]};
            (void)fetch_jobs(t, jobs, nw, q->cancel); /* a cursor fetches again what failed */
            free(jobs);
        }
    }
    size_t i = 0;
    for (; i < n_out && !rc; i++)
        rc = fn(arg, &out[i]);
    for (; i < n_out; i++)
        if (out[i].cursor)
            out[i].cursor->ops->close(out[i].cursor);
    for (uint32_t k = 0; k < np; k++) {
        fetchset_free(&blooms[k]);
        ropen_unref(ro[k]);
        rpart_unref(parts[k]);
    }
    free(blooms);
    free(ids);
    free(nids);
    free(ro);
    free(parts);
    return rc < 0 ? rc : 0;
}

static int st_select(struct tier *t, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                     void *arg)
{
    return walk(t, q, a, fn, arg, true);
}

static int st_series(struct tier *t, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                     void *arg)
{
    return walk(t, q, a, fn, arg, false);
}

static int st_stats(struct tier *tier, const struct tier_query *q, struct tier_stats *out)
{
    struct s3_tier *t = T(tier);
    uint32_t np;
    struct rpart **parts;
    struct ropen **ro;
    int rc = open_window(t, q, &parts, &ro, &np);
    if (!np)
        return rc;
    struct arena a;
    arena_init(&a, 0);
    for (uint32_t i = 0; i < np && !rc; i++) {
        uint32_t *ids;
        uint32_t n = part_match_streams(ro[i]->p, q->sel, &a, &ids);
        for (uint32_t j = 0; j < n; j++) {
            uint64_t blocks = 0, entries = 0, bytes = 0;
            part_stream_stats(ro[i]->p, ids[j], q->start, q->end, &blocks, &entries, &bytes);
            if (!blocks)
                continue;
            out->streams++;
            out->chunks += blocks;
            out->entries += entries;
            out->bytes += bytes;
        }
    }
    arena_release(&a);
    for (uint32_t i = 0; i < np; i++) {
        ropen_unref(ro[i]);
        rpart_unref(parts[i]);
    }
    free(ro);
    free(parts);
    return rc;
}

static int st_usage(struct tier *tier, struct tier_usage *out)
{
    struct s3_tier *t = T(tier);
    pthread_rwlock_rdlock(&t->set_lock);
    *out = t->usage;
    pthread_rwlock_unlock(&t->set_lock);
    return 0;
}

/* ---- the manifest ---- */

/* Read prefix's manifest: *absent when there is none. etag (may be NULL) gets the object's. */
static int manifest_read(struct s3_tier *t, const char *prefix, struct s3_manifest *out,
                         bool *absent, char *etag, size_t etag_cap, char *err, size_t errlen)
{
    char key[S3_KEY_MAX + 64];
    *absent = false;
    if (s3_manifest_key(key, sizeof(key), prefix) < 0) {
        strata_errorf(err, errlen, "the prefix %s is too long", prefix);
        return STRATA_EINVAL;
    }
    struct buf b;
    buf_init(&b, S3_MANIFEST_MAX_BYTES);
    struct s3_object_info info;
    struct s3_error e = {0};
    int rc = s3_get(t->s3, key, S3_WHOLE, &b, &info, &e);
    metric_inc(t->m_man_reads, 1);
    if (rc == STRATA_ENOTFOUND) {
        *absent = true;
        rc = 0;
    } else if (rc < 0) {
        strata_errorf(err, errlen, "cannot read %s: %s", key, e.message);
    } else {
        rc = s3_manifest_decode(b.ptr, b.len, prefix, out, err, errlen);
        if (!rc && etag)
            snprintf(etag, etag_cap, "%s", info.etag);
    }
    buf_release(&b);
    return rc;
}

/*
 * Write next as the writer's manifest (generation and time set here) and,
 * once S3 has it, make it the current one and rebuild the visible set. On
 * failure the current manifest stays, next is released either way. man_mu held.
 */
static int manifest_commit(struct s3_tier *t, struct s3_manifest *next, const char *why)
{
    next->generation = t->man.generation + 1;
    next->updated_ns = clock_now_ns();
    free(next->writer);
    next->writer = xstrdup(t->writer_id);
    char key[S3_KEY_MAX + 64];
    struct buf b;
    buf_init(&b, S3_MANIFEST_MAX_BYTES);
    int rc = s3_manifest_key(key, sizeof(key), t->prefix);
    if (!rc)
        rc = s3_manifest_encode(next, &b);
    struct s3_error e = {0};
    if (!rc)
        rc = s3_put(t->s3, key, b.ptr, b.len, NULL, &e);
    buf_release(&b);
    if (rc < 0) {
        log_error("s3: writing the manifest %s (%s) failed: %s", key, why,
                  e.message[0] ? e.message : strata_strerror(rc));
        s3_manifest_release(next);
        return rc;
    }
    metric_inc(t->m_man_writes, 1);
    s3_manifest_release(&t->man);
    t->man = *next;
    s3_manifest_init(next);
    const struct s3_manifest *one = &t->man;
    set_rebuild(t, &one, 1);
    return 0;
}

/* ---- uploading a part ---- */

static bool listed(const struct s3_manifest *m, const char *key);

/* Put the header and the index-to-end range of a part file into the cache (best effort). */
static void seed_cache(struct s3_tier *t, const char *path, const char *key, const char *etag,
                       uint64_t ioff, uint64_t size)
{
    if (!t->cache)
        return;
    struct fsfile f;
    if (fsio_open(&f, path, O_RDONLY | O_CLOEXEC) < 0)
        return;
    uint64_t len = size - ioff;
    unsigned char *b = xmalloc(len > 16 ? len : 16);
    if (fsio_pread(&f, b, 16, 0) == 0)
        (void)s3_cache_put(t->cache, key, etag, s3_range(0, 16), b, 16);
    if (fsio_pread(&f, b, len, ioff) == 0)
        (void)s3_cache_put(t->cache, key, etag, s3_range((int64_t)ioff, (int64_t)len), b, len);
    free(b);
    fsio_close(&f);
}

/*
 * Upload the part file at path (info: what it holds) and describe it in
 * *mp (strings allocated). *present: the manifest lists it already (nothing
 * was uploaded). Verified: the object's last 256 bytes are read back and
 * compared with the file's footer (the signed payload hash already made S3
 * check every byte on the way in). man_mu held.
 */
static int upload_part(struct s3_tier *t, const char *path, const struct part_info *info,
                       struct s3_manifest_part *mp, bool *present)
{
    *present = false;
    memset(mp, 0, sizeof(*mp));
    struct fsfile f;
    int rc = fsio_open(&f, path, O_RDONLY | O_CLOEXEC);
    if (rc < 0) {
        log_error("s3: cannot open %s: %s", path, strerror(fsio_last_errno()));
        return rc;
    }
    uint64_t size = 0;
    unsigned char footer[PART_FOOTER_SIZE];
    uint64_t ioff = 0, ilen = 0;
    struct buf seed;
    buf_init(&seed, SMALL_PART);
    rc = fsio_size(&f, &size);
    if (!rc && size < PART_FOOTER_SIZE + 16)
        rc = STRATA_ECORRUPT;
    if (!rc)
        rc = fsio_pread(&f, footer, sizeof(footer), size - PART_FOOTER_SIZE);
    if (!rc)
        rc = part_index_range(footer, size, &ioff, &ilen);
    if (!rc && size <= SMALL_PART && (rc = buf_reserve(&seed, size)) == 0 &&
        (rc = fsio_pread(&f, seed.ptr, size, 0)) == 0)
        seed.len = size;
    fsio_close(&f);
    if (rc < 0) {
        log_error("s3: %s is not a readable part: %s", path, strata_strerror(rc));
        buf_release(&seed);
        return rc;
    }
    uint64_t uid = hash64(footer, sizeof(footer));
    char key[S3_KEY_MAX + 64];
    if ((rc = s3_part_key(key, sizeof(key), t->prefix, info->tenant, info->min_ts, uid)) < 0) {
        log_error("s3: the key of %s would be too long", path);
        buf_release(&seed);
        return rc;
    }
    /* Listed, or retired (merged into another part, or past retention): nothing to do. */
    if (listed(&t->man, key)) {
        *present = true;
        buf_release(&seed);
        return 0;
    }
    int64_t t0 = clock_mono_ns();
    struct s3_put_result res;
    struct s3_error e = {0};
    rc = s3_put_file(t->s3, key, path, &res, &e);
    struct buf back;
    buf_init(&back, PART_FOOTER_SIZE);
    struct s3_object_info oi;
    if (!rc)
        rc = s3_get(t->s3, key, s3_range((int64_t)(size - PART_FOOTER_SIZE), PART_FOOTER_SIZE),
                    &back, &oi, &e);
    if (!rc && (back.len != PART_FOOTER_SIZE || memcmp(back.ptr, footer, PART_FOOTER_SIZE) ||
                (oi.size >= 0 && (uint64_t)oi.size != size))) {
        snprintf(e.message, sizeof(e.message),
                 "the object read back is not the file uploaded (size %" PRId64 ", %" PRIu64
                 " expected)",
                 oi.size, size);
        rc = STRATA_EIO;
    }
    buf_release(&back);
    if (rc < 0) {
        log_error("s3: uploading %s as %s failed: %s", path, key,
                  e.message[0] ? e.message : strata_strerror(rc));
        buf_release(&seed);
        return rc;
    }
    /*
     * What this process's queries will read first (open_parts' ranges) is on disk
     * already: seed the cache with it.
     */
    if (seed.len)
        (void)s3_cache_put(t->cache, key, res.etag, s3_range(0, (int64_t)size), seed.ptr, seed.len);
    else
        seed_cache(t, path, key, res.etag, ioff, size);
    buf_release(&seed);
    *mp = (struct s3_manifest_part){
        .key = xstrdup(key),
        .tenant = xstrdup(info->tenant),
        .uid = uid,
        .id = info->id,
        /* An interim part counts as a flush's: this tier's compaction rewrites it. */
        .level = info->interim ? 0 : info->level,
        .size = size,
        .index_off = ioff,
        .min_ts = info->min_ts,
        .max_ts = info->max_ts,
        .created_ns = info->created_ns,
        .entries = info->entries,
        .bytes = info->bytes,
        .streams = info->streams,
    };
    snprintf(mp->etag, sizeof(mp->etag), "%s", res.etag);
    log_info("s3: uploaded %s as %s (%" PRIu64 " bytes, %" PRIu64 " entries%s) in %.2fs", path, key,
             size, info->entries, res.parts ? ", multipart" : "",
             (double)(clock_mono_ns() - t0) / 1e9);
    return 0;
}

static void free_mpart(struct s3_manifest_part *mp)
{
    free(mp->key);
    free(mp->tenant);
    memset(mp, 0, sizeof(*mp));
}

static void upload_failed(struct s3_tier *t)
{
    int64_t b = atomic_load(&t->backoff);
    b = b ? b * 2 : BACKOFF_MIN;
    if (b > BACKOFF_MAX)
        b = BACKOFF_MAX;
    atomic_store(&t->backoff, b);
    atomic_store(&t->retry_at, clock_mono_ns() + b);
    metric_inc(t->m_uploads_err, 1);
    t->cleaned = false; /* whatever the failure left behind is looked for again */
}

static int st_adopt(struct tier *tier, const char *path, const struct part_info *info)
{
    struct s3_tier *t = T(tier);
    if (t->querier)
        return STRATA_EUNSUPPORTED;
    int64_t wait = atomic_load(&t->retry_at) - clock_mono_ns();
    if (wait > 0) {
        log_debug("s3: %s waits %.1fs more (the last upload failed)", path, (double)wait / 1e9);
        return STRATA_EUNAVAIL;
    }
    pthread_mutex_lock(&t->man_mu);
    struct s3_manifest_part mp;
    bool present;
    int rc = upload_part(t, path, info, &mp, &present);
    if (!rc && !present) {
        struct s3_manifest next;
        s3_manifest_init(&next);
        s3_manifest_copy(&next, &t->man);
        s3_manifest_add_part(&next, &mp);
        rc = manifest_commit(t, &next, "a part added");
        free_mpart(&mp);
    } else if (!rc) {
        log_info("s3: %s is in the bucket already (an earlier hand-over committed)", path);
    }
    if (rc < 0)
        upload_failed(t);
    else {
        atomic_store(&t->backoff, 0);
        atomic_store(&t->retry_at, 0);
        if (!present)
            metric_inc(t->m_uploads_ok, 1);
    }
    pthread_mutex_unlock(&t->man_mu);
    return rc;
}

/* ---- bucket maintenance (a writer's, man_mu held) ---- */

/* Delete the retired objects whose grace has passed, then drop them from the manifest. */
static int purge_retired(struct s3_tier *t)
{
    int64_t now = clock_now_ns();
    const char **keys = xmallocarray(t->man.n_retired ? t->man.n_retired : 1, sizeof(*keys));
    size_t n = 0;
    for (uint32_t i = 0; i < t->man.n_retired; i++)
        if (t->man.retired[i].since_ns + t->delete_delay <= now)
            keys[n++] = t->man.retired[i].key;
    if (!n) {
        free(keys);
        return 0;
    }
    struct s3_error e = {0};
    int rc = s3_delete_objects(t->s3, keys, n, &e);
    free(keys);
    if (rc < 0) {
        log_error("s3: deleting %zu retired object(s) failed: %s", n, e.message);
        return rc;
    }
    metric_inc(t->m_deleted, n);
    struct s3_manifest next;
    s3_manifest_init(&next);
    s3_manifest_copy(&next, &t->man);
    for (uint32_t i = next.n_retired; i-- > 0;)
        if (next.retired[i].since_ns + t->delete_delay <= now)
            s3_manifest_remove_retired(&next, i);
    log_info("s3: deleted %zu object(s) replaced or expired at least %.0fs ago", n,
             (double)t->delete_delay / 1e9);
    return manifest_commit(t, &next, "retired objects deleted");
}

static bool listed(const struct s3_manifest *m, const char *key)
{
    if (s3_manifest_find(m, key) >= 0)
        return true;
    for (uint32_t i = 0; i < m->n_retired; i++)
        if (!strcmp(m->retired[i].key, key))
            return true;
    return false;
}

struct orphans {
    const struct s3_manifest *man;
    char **keys;
    size_t n, cap;
};

static int orphan_fn(void *arg, const struct s3_object_entry *obj, const char *prefix)
{
    struct orphans *o = arg;
    (void)prefix;
    size_t len = obj ? strlen(obj->key) : 0;
    if (!obj || len < 5 || strcmp(obj->key + len - 5, ".part") || listed(o->man, obj->key))
        return 0;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->keys = xreallocarray(o->keys, o->cap, sizeof(*o->keys));
    }
    o->keys[o->n++] = xstrdup(obj->key);
    return 0;
}

static int abort_fn(void *arg, const struct s3_upload_entry *u)
{
    struct s3_tier *t = arg;
    struct s3_error e = {0};
    if (s3_abort_upload(t->s3, u->key, u->upload_id, &e) < 0)
        log_warn("s3: cannot abort the unfinished upload of %s: %s", u->key, e.message);
    else
        log_info("s3: aborted an unfinished multipart upload of %s", u->key);
    return 0;
}

/*
 * After a start or a failed upload: abort multipart uploads left under the
 * prefix and delete part objects no manifest entry names (uploads whose
 * manifest PUT never happened). No upload of ours runs meanwhile (man_mu).
 */
static int clean_bucket(struct s3_tier *t)
{
    char pfx[S3_KEY_MAX + 2];
    snprintf(pfx, sizeof(pfx), "%s/", t->prefix);
    struct s3_error e = {0};
    int rc = s3_list_uploads(t->s3, pfx, abort_fn, t, &e);
    if (rc < 0) {
        log_warn("s3: cannot list unfinished uploads under %s: %s", pfx, e.message);
        return rc;
    }
    struct orphans o = {.man = &t->man};
    struct s3_list_opts lo = {.prefix = pfx};
    rc = s3_list(t->s3, &lo, orphan_fn, &o, &e);
    if (rc < 0)
        log_warn("s3: cannot list %s: %s", pfx, e.message);
    if (!rc && o.n) {
        rc = s3_delete_objects(t->s3, (const char *const *)o.keys, o.n, &e);
        if (rc < 0)
            log_warn("s3: cannot delete %zu orphan object(s): %s", o.n, e.message);
        else {
            log_info("s3: deleted %zu orphan object(s) under %s (uploads a crash or failure left "
                     "out of the manifest)",
                     o.n, pfx);
            metric_inc(t->m_deleted, o.n);
        }
    }
    for (size_t i = 0; i < o.n; i++)
        free(o.keys[i]);
    free(o.keys);
    return rc;
}

/* Download a whole object into a file, in ranges of CHUNK_BYTES. */
static int download(struct s3_tier *t, const struct s3_manifest_part *mp, const char *path)
{
    struct fsfile f;
    int rc = fsio_open(&f, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
    if (rc < 0)
        return rc;
    struct buf b;
    buf_init(&b, CHUNK_BYTES);
    for (uint64_t off = 0; off < mp->size && !rc && !t->stopping; off += CHUNK_BYTES) {
        uint64_t len = mp->size - off < CHUNK_BYTES ? mp->size - off : CHUNK_BYTES;
        buf_reset(&b);
        struct s3_error e = {0};
        rc = s3_get(t->s3, mp->key, s3_range((int64_t)off, (int64_t)len), &b, NULL, &e);
        if (rc < 0)
            log_error("s3: downloading %s for compaction: %s", mp->key, e.message);
        else if (b.len != len)
            rc = STRATA_ECORRUPT;
        else
            rc = fsio_write(&f, b.ptr, b.len);
    }
    if (!rc && t->stopping)
        rc = STRATA_ECANCELED;
    buf_release(&b);
    fsio_close(&f);
    return rc;
}

/* Merge the parts in[0..n) (one tenant and day) into one, upload it and swap it in. */
static int compact_group(struct s3_tier *t, const struct s3_manifest_part *in, uint32_t n)
{
    int64_t t0 = clock_mono_ns();
    char **paths = xcalloc(n, sizeof(*paths));
    struct part_source *src = xcalloc(n, sizeof(*src));
    struct part **rp = xcalloc(n, sizeof(*rp));
    int rc = 0;
    uint64_t wal_seq = 0, before = 0;
    uint32_t level = 1;
    for (uint32_t i = 0; i < n && !rc; i++) {
        size_t len = strlen(t->work_dir) + 32;
        paths[i] = xmalloc(len);
        snprintf(paths[i], len, "%s/%016" PRIx64 ".in", t->work_dir, in[i].uid);
        before += in[i].size;
        char err[256];
        rc = download(t, &in[i], paths[i]);
        if (!rc && (rc = part_source_file_reads(paths[i], &src[i], err, sizeof(err))) < 0)
            log_error("s3: %s", err);
        if (!rc && (rc = part_open(&src[i], true, &rp[i], err, sizeof(err))) < 0)
            log_error("s3: %s downloaded for compaction: %s", in[i].key, err);
        if (!rc) {
            const struct part_info *pi = part_get_info(rp[i]);
            if (pi->wal_seq > wal_seq)
                wal_seq = pi->wal_seq;
            if (pi->level + 1 > level)
                level = pi->level + 1;
        }
    }
    struct part_writer *w = NULL;
    char out_path[PATH_MAX] = "";
    struct part_info oi;
    memset(&oi, 0, sizeof(oi));
    if (!rc) {
        struct part_writer_options wo = {
            .dir = t->work_dir,
            .id = (uint64_t)clock_now_ns(),
            .level = level > 255 ? 255 : level,
            .zstd_level = t->compact_zstd_level,
            .block_bytes = t->block_bytes,
            .tenant = in[0].tenant,
            .wal_seq = wal_seq,
            .bloom = t->bloom,
        };
        rc = part_writer_open(&wo, &w);
    }
    if (!rc)
        rc = part_merge(w, rp, n, &t->stopping);
    if (w && rc < 0)
        part_writer_abort(w);
    else if (w)
        rc = part_writer_finish(w, &oi, out_path, sizeof(out_path));
    for (uint32_t i = 0; i < n; i++) {
        part_close(rp[i]);
        part_source_file_release(&src[i]);
        if (paths[i] && fsio_unlink(paths[i]) < 0)
            log_warn("s3: cannot delete %s", paths[i]);
        free(paths[i]);
    }
    free(paths);
    free(src);
    free(rp);
    struct s3_manifest_part mp;
    bool present = false;
    if (!rc)
        rc = upload_part(t, out_path, &oi, &mp, &present);
    if (out_path[0] && fsio_unlink(out_path) < 0)
        log_warn("s3: cannot delete %s", out_path);
    if (!rc) {
        /* The swap: the merged part in, the inputs out (deleted after the grace period). */
        struct s3_manifest next;
        s3_manifest_init(&next);
        s3_manifest_copy(&next, &t->man);
        int64_t now = clock_now_ns();
        for (uint32_t i = 0; i < n; i++) {
            int k = s3_manifest_find(&next, in[i].key);
            if (k >= 0)
                s3_manifest_remove_part(&next, (uint32_t)k);
            s3_manifest_add_retired(&next, in[i].key, now);
        }
        if (!present)
            s3_manifest_add_part(&next, &mp);
        rc = manifest_commit(t, &next, "parts compacted");
        if (!present)
            free_mpart(&mp);
    }
    if (rc < 0) {
        if (rc != STRATA_ECANCELED)
            log_error("s3: compacting %u part(s) of tenant %s failed: %s", n, in[0].tenant,
                      strata_strerror(rc));
        metric_inc(t->m_compact_err, 1);
        t->cleaned = false;
        return rc;
    }
    metric_inc(t->m_compact_ok, 1);
    log_info("s3: compacted %u part(s) of tenant %s (%" PRIu64 " bytes) into one of %" PRIu64
             " bytes and %" PRIu64 " entries in %.2fs",
             n, in[0].tenant, before, oi.file_size, oi.entries,
             (double)(clock_mono_ns() - t0) / 1e9);
    return 0;
}

static int cmp_group(const void *a, const void *b)
{
    const struct s3_manifest_part *x = a, *y = b;
    int c = strcmp(x->tenant, y->tenant);
    if (c)
        return c;
    int64_t dx = day_of(x->min_ts), dy = day_of(y->min_ts);
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* Merge every tenant-day that has more than one part, or a part of level 0. */
static int compact_all(struct s3_tier *t)
{
    uint32_t n = t->man.n_parts;
    if (n < 2)
        return 0;
    /* A copy: each compaction replaces t->man. */
    struct s3_manifest_part *v = xmallocarray(n, sizeof(*v));
    for (uint32_t i = 0; i < n; i++) {
        v[i] = t->man.parts[i];
        v[i].key = xstrdup(v[i].key);
        v[i].tenant = xstrdup(v[i].tenant);
    }
    qsort(v, n, sizeof(*v), cmp_group);
    int rc = 0;
    for (uint32_t i = 0; i < n && !t->stopping;) {
        uint32_t j = i + 1;
        while (j < n && !strcmp(v[j].tenant, v[i].tenant) &&
               day_of(v[j].min_ts) == day_of(v[i].min_ts))
            j++;
        /* As on local disk: a day with several parts, or a flush's part (fast zstd, maybe
         * no bloom filters) uploaded before local compaction reached it, is rewritten. */
        if (j - i > 1 || v[i].level == 0) {
            int r = compact_group(t, v + i, j - i < MERGE_MAX ? j - i : MERGE_MAX);
            if (r < 0 && !rc)
                rc = r;
        }
        i = j;
    }
    for (uint32_t i = 0; i < n; i++)
        free_mpart(&v[i]);
    free(v);
    return rc;
}

static int st_flush(struct tier *tier, bool force)
{
    struct s3_tier *t = T(tier);
    if (t->querier)
        return querier_refresh(t, force, true);
    pthread_mutex_lock(&t->man_mu);
    int rc = 0;
    if (!t->cleaned && atomic_load(&t->retry_at) <= clock_mono_ns())
        t->cleaned = clean_bucket(t) == 0;
    int r = purge_retired(t);
    if (r < 0)
        rc = r;
    int64_t now = clock_mono_ns();
    if (force || (t->compact_interval > 0 && now - t->last_compaction >= t->compact_interval)) {
        r = compact_all(t);
        if (r < 0 && !rc)
            rc = r;
        t->last_compaction = clock_mono_ns();
    }
    pthread_mutex_unlock(&t->man_mu);
    return rc;
}

static int st_expire(struct tier *tier, int64_t before)
{
    struct s3_tier *t = T(tier);
    if (t->querier)
        return 0;
    pthread_mutex_lock(&t->man_mu);
    struct s3_manifest next;
    s3_manifest_init(&next);
    s3_manifest_copy(&next, &t->man);
    int64_t now = clock_now_ns();
    uint32_t gone = 0;
    for (uint32_t i = next.n_parts; i-- > 0;)
        if (next.parts[i].max_ts < before) {
            s3_manifest_add_retired(&next, next.parts[i].key, now);
            s3_manifest_remove_part(&next, i);
            gone++;
        }
    int rc = 0;
    if (gone) {
        rc = manifest_commit(t, &next, "parts past retention");
        if (!rc)
            log_info("s3: %u part(s) past the retention left the manifest (their objects go in "
                     "%.0fs)",
                     gone, (double)t->delete_delay / 1e9);
    } else {
        s3_manifest_release(&next);
    }
    pthread_mutex_unlock(&t->man_mu);
    return rc;
}

/* ---- a querier's refresh ---- */

static void writer_view_free(struct writer_view *w)
{
    free(w->prefix);
    s3_manifest_release(&w->man);
}

struct views {
    struct writer_view *v;
    uint32_t n;
};

static int collect_prefix(void *arg, const struct s3_object_entry *obj, const char *prefix)
{
    struct views *vs = arg;
    struct writer_view **v = &vs->v;
    uint32_t *n = &vs->n;
    (void)obj;
    if (!prefix)
        return 0;
    size_t len = strlen(prefix);
    if (len < 2 || prefix[len - 1] != '/')
        return 0;
    *v = xreallocarray(*v, *n + 1, sizeof(**v));
    memset(&(*v)[*n], 0, sizeof(**v));
    (*v)[*n].prefix = xstrndup(prefix, len - 1);
    s3_manifest_init(&(*v)[*n].man);
    (*n)++;
    return 0;
}

/* The writer prefixes --s3.read-prefixes names now. */
static int discover(struct s3_tier *t, struct writer_view **out, uint32_t *n_out)
{
    struct views acc = {NULL, 0};
    int rc = 0;
    for (uint32_t i = 0; i < t->n_read_prefixes && !rc; i++) {
        const char *p = t->read_prefixes[i];
        size_t len = strlen(p);
        if (len >= 2 && !strcmp(p + len - 2, "/*")) {
            char root[S3_KEY_MAX + 2];
            snprintf(root, sizeof(root), "%.*s", (int)(len - 1), p);
            struct s3_list_opts lo = {.prefix = root, .delimiter = "/"};
            struct s3_error e = {0};
            rc = s3_list(t->s3, &lo, collect_prefix, &acc, &e);
            if (rc < 0)
                log_error("s3: cannot list the writers under %s: %s", root, e.message);
        } else {
            acc.v = xreallocarray(acc.v, acc.n + 1, sizeof(*acc.v));
            memset(&acc.v[acc.n], 0, sizeof(*acc.v));
            acc.v[acc.n].prefix = xstrdup(p);
            s3_manifest_init(&acc.v[acc.n].man);
            acc.n++;
        }
    }
    if (rc < 0) {
        for (uint32_t i = 0; i < acc.n; i++)
            writer_view_free(&acc.v[i]);
        free(acc.v);
        return rc;
    }
    *out = acc.v;
    *n_out = acc.n;
    return 0;
}

/*
 * Read the writers' manifests again when the interval has passed (or force)
 * and rebuild the set. wait: block until another refresh in progress ends
 * (a query does not wait: it reads the set it has). A writer whose manifest
 * cannot be read or parsed keeps the previous version.
 */
static int querier_refresh(struct s3_tier *t, bool force, bool wait)
{
    if (wait)
        pthread_mutex_lock(&t->man_mu);
    else if (pthread_mutex_trylock(&t->man_mu) != 0)
        return 0;
    int64_t now = clock_mono_ns();
    if (!force && t->last_refresh && now - t->last_refresh < t->refresh_interval) {
        pthread_mutex_unlock(&t->man_mu);
        return 0;
    }
    t->last_refresh = now;
    struct writer_view *nv = NULL;
    uint32_t nn = 0;
    int rc = discover(t, &nv, &nn);
    uint32_t changed = 0;
    for (uint32_t i = 0; i < nn && !rc; i++) {
        struct writer_view *w = &nv[i];
        const struct writer_view *prev = NULL;
        for (uint32_t k = 0; k < t->n_writers && !prev; k++)
            if (!strcmp(t->writers[k].prefix, w->prefix))
                prev = &t->writers[k];
        char key[S3_KEY_MAX + 64];
        if (s3_manifest_key(key, sizeof(key), w->prefix) < 0)
            continue;
        /* An unchanged manifest costs one HEAD. */
        struct s3_object_info info;
        struct s3_error e = {0};
        int r = s3_head(t->s3, key, &info, &e);
        if (r == STRATA_ENOTFOUND)
            continue; /* a folder, not a writer (yet) */
        if (r < 0) {
            log_warn("s3: cannot look at %s: %s", key, e.message);
        } else if (prev && !strcmp(prev->etag, info.etag)) {
            s3_manifest_copy(&w->man, &prev->man);
            snprintf(w->etag, sizeof(w->etag), "%s", prev->etag);
            continue;
        }
        bool absent = false;
        char err[512];
        if (r == 0)
            r = manifest_read(t, w->prefix, &w->man, &absent, w->etag, sizeof(w->etag), err,
                              sizeof(err));
        if (r < 0 || absent) {
            if (r < 0)
                log_error("s3: %s (the previous version stays in use)", err);
            if (prev) {
                s3_manifest_copy(&w->man, &prev->man);
                snprintf(w->etag, sizeof(w->etag), "%s", prev->etag);
            }
            continue;
        }
        changed++;
    }
    if (rc == 0) {
        for (uint32_t k = 0; k < t->n_writers; k++)
            writer_view_free(&t->writers[k]);
        free(t->writers);
        t->writers = nv;
        t->n_writers = nn;
        const struct s3_manifest **mans = xmallocarray(nn ? nn : 1, sizeof(*mans));
        for (uint32_t k = 0; k < nn; k++)
            mans[k] = &nv[k].man;
        set_rebuild(t, mans, nn);
        free(mans);
        if (changed)
            log_info("s3: read %u new manifest(s); serving %u writer(s)", changed, nn);
    }
    pthread_mutex_unlock(&t->man_mu);
    return rc;
}

/* ---- open / close ---- */

static void st_close(struct tier *tier)
{
    struct s3_tier *t = T(tier);
    if (!t)
        return;
    t->stopping = 1;
    set_rebuild(t, NULL, 0); /* releases every part */
    s3_manifest_release(&t->man);
    for (uint32_t i = 0; i < t->n_writers; i++)
        writer_view_free(&t->writers[i]);
    free(t->writers);
    for (uint32_t i = 0; i < t->n_read_prefixes; i++)
        free(t->read_prefixes[i]);
    free(t->read_prefixes);
    s3_cache_close(t->cache);
    s3_close(t->s3);
    pthread_rwlock_destroy(&t->set_lock);
    pthread_mutex_destroy(&t->open_mu);
    pthread_mutex_destroy(&t->man_mu);
    free(t->work_dir);
    free(t->prefix);
    free(t->writer_id);
    free(t);
}

static const struct tier_ops s3_ops = {
    .name = "s3",
    .select = st_select,
    .series = st_series,
    .stats = st_stats,
    .flush = st_flush,
    .close = st_close,
    .adopt_part = st_adopt,
    .expire = st_expire,
    .usage = st_usage,
    .meta_without_lines = true, /* part cursors read metadata frames without the lines */
};

bool s3_tier_querier(const struct config *cfg)
{
    return cfg->target && !strcmp(cfg->target, "querier");
}

/* This data directory's writer id: read, or made and kept. */
static int writer_id(const char *data_dir, char **out, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/s3-writer-id", data_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char line[128] = "";
        char *ok = fgets(line, sizeof(line), f);
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        bool valid = ok && line[0];
        for (const char *p = line; *p && valid; p++)
            valid = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';
        if (!valid) {
            strata_errorf(err, errlen,
                          "%s does not hold a writer id; restore it, or delete it to make this "
                          "directory a new writer",
                          path);
            return STRATA_ECORRUPT;
        }
        *out = xstrdup(line);
        return 0;
    }
    if (errno != ENOENT) {
        strata_errorf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return STRATA_EIO;
    }
    char host[64] = "";
    if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
        snprintf(host, sizeof(host), "strata");
    char clean[41];
    size_t n = 0;
    for (const char *p = host; *p && n < sizeof(clean) - 1; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        clean[n++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : '-';
    }
    clean[n] = '\0';
    struct {
        int64_t now, mono;
        pid_t pid;
        char dir[64];
    } seed;
    memset(&seed, 0, sizeof(seed));
    seed.now = clock_now_ns();
    seed.mono = clock_mono_ns();
    seed.pid = getpid();
    snprintf(seed.dir, sizeof(seed.dir), "%s", data_dir);
    char line[80];
    int len = snprintf(line, sizeof(line), "%s-%08x\n", n ? clean : "strata",
                       (unsigned)(hash64(&seed, sizeof(seed)) & 0xffffffffu));
    int rc = fsio_write_atomic(data_dir, "s3-writer-id", line, (size_t)len);
    if (rc < 0) {
        strata_errorf(err, errlen, "cannot write %s: %s", path, strerror(fsio_last_errno()));
        return rc;
    }
    line[len - 1] = '\0';
    *out = xstrdup(line);
    log_info("s3: this data directory is writer %s", *out);
    return 0;
}

/* A prefix is one or more '/'-separated non-empty segments, without "." or ".." ones. */
static bool prefix_ok(const char *p)
{
    size_t n = strlen(p);
    if (!n || n > 512 || p[0] == '/' || p[n - 1] == '/' || strstr(p, "//"))
        return false;
    for (const char *s = p; *s;) {
        size_t seg = strcspn(s, "/");
        if ((seg == 1 && s[0] == '.') || (seg == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        s += seg;
        if (*s == '/')
            s++;
    }
    for (const unsigned char *s = (const unsigned char *)p; *s; s++)
        if (*s < 0x20 || *s == 0x7f || *s == '*')
            return false;
    return true;
}

/* Remove what compaction left in the work directory (it is ours alone). */
static void clean_work_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path) &&
            fsio_unlink(path) < 0)
            log_warn("s3: cannot delete %s", path);
    }
    closedir(d);
}

int s3_tier_open(const struct config *cfg, const char *data_dir, struct tier **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    bool querier = s3_tier_querier(cfg);
    if (!querier && cfg->target && strcmp(cfg->target, "all") && cfg->target[0]) {
        strata_errorf(err, errlen, "invalid value \"%s\" for --target: expected all or querier",
                      cfg->target);
        return STRATA_EINVAL;
    }
    struct s3_config sc;
    s3_config_init(&sc);
    bool configured = false;
    int rc = s3_config_from_options(cfg, &sc, &configured, err, errlen);
    if (rc < 0 || !configured) {
        s3_config_release(&sc);
        if (!rc && querier) {
            strata_errorf(err, errlen,
                          "--target=querier serves a bucket: give it one with --store-config-path "
                          "or --store-config");
            return STRATA_EINVAL;
        }
        return rc;
    }
    struct s3_tier *t = xcalloc(1, sizeof(*t));
    t->tier.ops = &s3_ops;
    t->querier = querier;
    t->refresh_interval = cfg->s3_refresh_interval > 0 ? cfg->s3_refresh_interval : NS_PER_SEC;
    t->delete_delay = cfg->s3_delete_delay > 0 ? cfg->s3_delete_delay : 0;
    t->compact_interval = cfg->compact_duration;
    t->index_memory = cfg->s3_index_memory > 0 ? (uint64_t)cfg->s3_index_memory : 0;
    t->compact_zstd_level = (int)cfg->store_compact_zstd_level;
    t->block_bytes = (uint32_t)cfg->store_block_size;
    t->bloom = cfg->store_bloom_filters;
    t->last_compaction = clock_mono_ns();
    pthread_rwlock_init(&t->set_lock, NULL);
    pthread_mutex_init(&t->open_mu, NULL);
    pthread_mutex_init(&t->man_mu, NULL);
    s3_manifest_init(&t->man);
    atomic_init(&t->retry_at, 0);
    atomic_init(&t->backoff, 0);
    struct metric_family *fu = metrics_family(METRIC_COUNTER, "strata_s3_tier_uploads_total",
                                              "Parts handed to the S3 tier, by result.", "result");
    t->m_uploads_ok = metric_get(fu, "ok");
    t->m_uploads_err = metric_get(fu, "error");
    struct metric_family *fc =
        metrics_family(METRIC_COUNTER, "strata_s3_tier_compactions_total",
                       "Merges of a tenant-day's parts in the bucket, by result.", "result");
    t->m_compact_ok = metric_get(fc, "ok");
    t->m_compact_err = metric_get(fc, "error");
    t->m_deleted = metric_get(metrics_family(
        METRIC_COUNTER, "strata_s3_tier_deleted_objects_total",
        "Part objects deleted from the bucket (replaced, expired or orphaned).", NULL));
    t->m_man_writes =
        metric_get(metrics_family(METRIC_COUNTER, "strata_s3_tier_manifest_writes_total",
                                  "Manifests written (each a commit).", NULL));
    t->m_man_reads =
        metric_get(metrics_family(METRIC_COUNTER, "strata_s3_tier_manifest_reads_total",
                                  "Manifests read (start, querier refreshes).", NULL));
    t->m_open_parts = metric_get(metrics_family(METRIC_GAUGE, "strata_s3_tier_open_parts",
                                                "S3 parts whose index is held in memory.", NULL));
    t->m_open_bytes = metric_get(metrics_family(METRIC_GAUGE, "strata_s3_tier_open_bytes",
                                                "Memory held by open S3 parts.", NULL));

    char path[PATH_MAX];
    if ((rc = s3_open(&sc, &t->s3, err, errlen)) < 0)
        goto fail;
    snprintf(path, sizeof(path), "%s/s3-cache", data_dir);
    if ((rc = s3_cache_open(path, (uint64_t)(cfg->s3_cache_size > 0 ? cfg->s3_cache_size : 0),
                            &t->cache, err, errlen)) < 0)
        goto fail;
    snprintf(path, sizeof(path), "%s/s3-work", data_dir);
    t->work_dir = xstrdup(path);
    if ((rc = fsio_mkdirs(t->work_dir)) < 0) {
        strata_errorf(err, errlen, "cannot create %s: %s", t->work_dir,
                      strerror(fsio_last_errno()));
        goto fail;
    }
    clean_work_dir(t->work_dir);
    if ((rc = writer_id(data_dir, &t->writer_id, err, errlen)) < 0)
        goto fail;

    if (querier) {
        const char *list =
            cfg->s3_read_prefixes && cfg->s3_read_prefixes[0] ? cfg->s3_read_prefixes : "strata/*";
        for (const char *s = list; *s;) {
            size_t n = strcspn(s, ",");
            char *p = xstrndup(s, n);
            char *q = p;
            while (*q == ' ')
                q++;
            size_t ql = strlen(q);
            while (ql && q[ql - 1] == ' ')
                q[--ql] = '\0';
            bool wild = ql >= 2 && !strcmp(q + ql - 2, "/*");
            if (wild)
                q[ql - 2] = '\0';
            bool ok = prefix_ok(q);
            if (wild)
                q[ql - 2] = '/';
            if (!ok) {
                strata_errorf(err, errlen,
                              "--s3.read-prefixes: \"%s\" is not a prefix (segments separated by "
                              "'/', optionally ending in /*)",
                              q);
                free(p);
                rc = STRATA_EINVAL;
                goto fail;
            }
            t->read_prefixes =
                xreallocarray(t->read_prefixes, t->n_read_prefixes + 1, sizeof(*t->read_prefixes));
            t->read_prefixes[t->n_read_prefixes++] = xstrdup(q);
            free(p);
            s += n;
            if (*s == ',')
                s++;
        }
        /* Serve what is there now; a failure is retried at the next refresh. */
        if (querier_refresh(t, true, true) < 0)
            log_warn("s3: the writers' manifests could not be read yet; retrying every %.0fs",
                     (double)t->refresh_interval / 1e9);
        log_info("s3: querier of bucket %s at %s: %u writer(s) under %s, read again every %.0fs",
                 s3_bucket(t->s3), s3_endpoint_url(t->s3), t->n_writers, list,
                 (double)t->refresh_interval / 1e9);
    } else {
        if (cfg->s3_prefix && cfg->s3_prefix[0]) {
            t->prefix = xstrdup(cfg->s3_prefix);
            size_t n = strlen(t->prefix);
            while (n > 1 && t->prefix[n - 1] == '/')
                t->prefix[--n] = '\0';
        } else {
            size_t n = strlen(t->writer_id) + 8;
            t->prefix = xmalloc(n);
            snprintf(t->prefix, n, "strata/%s", t->writer_id);
        }
        if (!prefix_ok(t->prefix)) {
            strata_errorf(err, errlen,
                          "--s3.prefix \"%s\" is not a prefix: segments separated by '/', none "
                          "empty, \".\" or \"..\", no '*'",
                          t->prefix);
            rc = STRATA_EINVAL;
            goto fail;
        }
        bool absent = false;
        char merr[512];
        if ((rc = manifest_read(t, t->prefix, &t->man, &absent, NULL, 0, merr, sizeof(merr))) < 0) {
            strata_errorf(err, errlen,
                          "%s; the manifest decides which parts exist, so this writer cannot "
                          "start without it",
                          merr);
            goto fail;
        }
        int64_t age = clock_now_ns() - t->man.updated_ns;
        if (!absent && t->man.writer && t->man.writer[0] && strcmp(t->man.writer, t->writer_id)) {
            if (age < TAKEOVER_AGE) {
                strata_errorf(err, errlen,
                              "the prefix %s was written by writer %s %.0fs ago: another Strata "
                              "process seems to use it. Give this one its own --s3.prefix (or "
                              "wait %.0f minutes if that process is gone for good)",
                              t->prefix, t->man.writer, (double)age / 1e9,
                              (double)TAKEOVER_AGE / 60e9);
                rc = STRATA_ELOCKED;
                goto fail;
            }
            log_warn("s3: taking over prefix %s from writer %s (last write %.0fs ago)", t->prefix,
                     t->man.writer, (double)age / 1e9);
        }
        const struct s3_manifest *one = &t->man;
        set_rebuild(t, &one, 1);
        log_info("s3: writer %s of bucket %s at %s: %u part(s) under %s/", t->writer_id,
                 s3_bucket(t->s3), s3_endpoint_url(t->s3), t->man.n_parts, t->prefix);
    }
    s3_config_release(&sc);
    *out = &t->tier;
    return 0;
fail:
    s3_config_release(&sc);
    st_close(&t->tier);
    return rc;
}
