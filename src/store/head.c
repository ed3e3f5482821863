#include "store/head.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"

#define BLOCK_MIN_BYTES   4096u
#define BLOCK_MAX_BYTES   (1u << 20)
#define BLOCK_MIN_ENTRIES 64u
#define BATCH_MAX         1024u
/* Memory the limits count per entry beyond its bytes (the slot arrays). */
#define ENTRY_OVERHEAD 28u
/* Streams without data for this long are forgotten when a generation is dropped. */
#define STREAM_IDLE_NS (3 * NS_PER_HOUR)

/* An append-only block: slots [0, n) are immutable once n covers them. */
struct hblock {
    uint32_t n, cap;
    int64_t min_ts, max_ts;
    bool sorted; /* appended in non-decreasing ts order */
    int64_t *ts;
    uint32_t *off, *len, *moff, *mlen; /* line and metadata positions in data */
    char *data;
    size_t used, dcap;
};

/* One stream's data in one generation. */
struct hchunk {
    atomic_int refs;
    struct hblock **blocks;
    uint32_t n, cap;
    uint64_t entries, bytes;
    int64_t min_ts, max_ts;
};

struct htenant;

struct hstream {
    struct hstream *next; /* hash chain */
    struct htenant *tenant;
    uint64_t fp;
    struct label *labels;
    uint32_t n_labels;
    struct slice key;
    struct arena arena; /* labels and key */
    pthread_mutex_t mu;
    /* state for acceptance (under mu) */
    bool has_data;
    int64_t max_ts;
    int64_t last_ts;
    uint64_t last_hash;
    int64_t last_append; /* monotonic ns */
    struct hchunk *active, *frozen;
};

struct htenant {
    struct htenant *next;
    char *name;
    struct hstream **buckets;
    size_t n_buckets, n_streams;
};

/* The frozen generation, as a hand-over. */
struct hgen {
    struct handover h;
    struct head *head;
    struct hstream **streams;
    struct hchunk **chunks;
    uint32_t n;
    uint64_t mem_bytes;
};

struct head {
    struct tier tier;
    struct head_options o;
    pthread_rwlock_t lock; /* the tenant and stream tables */
    struct htenant *tenants;
    uint64_t n_streams, n_tenants;
    atomic_ullong entries, bytes, mem;
    _Atomic int64_t active_since;
    pthread_mutex_t gen_mu; /* frozen */
    struct hgen *frozen;
};

static struct head *H(struct tier *t)
{
    return (struct head *)t;
}

/* ---- blocks and chunks ---- */

/*
 * A block after prev (NULL for a stream's first): twice its bytes up to
 * BLOCK_MAX_BYTES, and slots for as many entries as prev's average entry size
 * fills them with, plus a quarter (32 bytes per entry for a first block). The
 * slots cost 24 bytes per entry: sized for 32-byte entries, a MiB block of
 * 135-byte lines held 790 KB of slots for 190 KB used.
 */
static struct hblock *block_new(size_t min_bytes, const struct hblock *prev)
{
    size_t dcap = prev ? prev->dcap * 2 : BLOCK_MIN_BYTES;
    if (dcap > BLOCK_MAX_BYTES)
        dcap = BLOCK_MAX_BYTES;
    if (dcap < min_bytes)
        dcap = min_bytes;
    size_t per = prev && prev->n && prev->used / prev->n > 32 ? prev->used / prev->n : 32;
    size_t want = dcap / per + dcap / per / 4;
    uint32_t cap = (uint32_t)(want > BLOCK_MIN_ENTRIES ? want : BLOCK_MIN_ENTRIES);
    if (cap > (1u << 16))
        cap = 1u << 16;
    struct hblock *b = xcalloc(1, sizeof(*b));
    b->cap = cap;
    b->dcap = dcap;
    b->sorted = true;
    b->ts = xmallocarray(cap, sizeof(*b->ts));
    b->off = xmallocarray(cap, sizeof(uint32_t));
    b->len = xmallocarray(cap, sizeof(uint32_t));
    b->moff = xmallocarray(cap, sizeof(uint32_t));
    b->mlen = xmallocarray(cap, sizeof(uint32_t));
    b->data = xmalloc(dcap);
    return b;
}

static void block_free(struct hblock *b)
{
    free(b->ts);
    free(b->off);
    free(b->len);
    free(b->moff);
    free(b->mlen);
    free(b->data);
    free(b);
}

static void chunk_unref(struct hchunk *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (uint32_t i = 0; i < c->n; i++)
        block_free(c->blocks[i]);
    free(c->blocks);
    free(c);
}

/* Append one entry to the chunk (under the stream's mutex). */
static void chunk_add(struct hchunk *c, int64_t ts, struct slice line, struct slice meta)
{
    size_t need = line.len + meta.len;
    struct hblock *b = c->n ? c->blocks[c->n - 1] : NULL;
    if (!b || b->n == b->cap || b->dcap - b->used < need) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 4;
            c->blocks = xreallocarray(c->blocks, c->cap, sizeof(*c->blocks));
        }
        b = block_new(need, b);
        c->blocks[c->n++] = b;
    }
    uint32_t i = b->n;
    if (i && ts < b->ts[i - 1])
        b->sorted = false;
    b->ts[i] = ts;
    b->off[i] = (uint32_t)b->used;
    b->len[i] = (uint32_t)line.len;
    if (line.len)
        memcpy(b->data + b->used, line.ptr, line.len);
    b->used += line.len;
    b->moff[i] = (uint32_t)b->used;
    b->mlen[i] = (uint32_t)meta.len;
    if (meta.len)
        memcpy(b->data + b->used, meta.ptr, meta.len);
    b->used += meta.len;
    if (!i || ts < b->min_ts)
        b->min_ts = ts;
    if (!i || ts > b->max_ts)
        b->max_ts = ts;
    b->n = i + 1;
    if (!c->entries || ts < c->min_ts)
        c->min_ts = ts;
    if (!c->entries || ts > c->max_ts)
        c->max_ts = ts;
    c->entries++;
    c->bytes += line.len;
}

/* ---- tables ---- */

static struct htenant *tenant_find(struct head *h, const char *name)
{
    for (struct htenant *t = h->tenants; t; t = t->next)
        if (!strcmp(t->name, name))
            return t;
    return NULL;
}

static bool same_labels(const struct hstream *s, const struct label *v, uint32_t n)
{
    if (s->n_labels != n)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!slice_eq(s->labels[i].name, v[i].name) || !slice_eq(s->labels[i].value, v[i].value))
            return false;
    return true;
}

static struct hstream *stream_find(struct htenant *t, uint64_t fp, const struct label *v,
                                   uint32_t n)
{
    for (struct hstream *s = t->buckets[fp & (t->n_buckets - 1)]; s; s = s->next)
        if (s->fp == fp && same_labels(s, v, n))
            return s;
    return NULL;
}

static void tenant_grow(struct htenant *t)
{
    size_t nb = t->n_buckets * 2;
    struct hstream **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < t->n_buckets; i++)
        for (struct hstream *s = t->buckets[i], *next; s; s = next) {
            next = s->next;
            s->next = b[s->fp & (nb - 1)];
            b[s->fp & (nb - 1)] = s;
        }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = nb;
}

/* Find or create the stream (takes the table lock itself). */
static struct hstream *stream_get(struct head *h, const char *tenant, const struct stream_batch *sb)
{
    pthread_rwlock_rdlock(&h->lock);
    struct htenant *t = tenant_find(h, tenant);
    struct hstream *s = t ? stream_find(t, sb->fp, sb->labels, sb->n_labels) : NULL;
    pthread_rwlock_unlock(&h->lock);
    if (s)
        return s;
    pthread_rwlock_wrlock(&h->lock);
    t = tenant_find(h, tenant);
    if (!t) {
        t = xcalloc(1, sizeof(*t));
        t->name = xstrdup(tenant);
        t->n_buckets = 64;
        t->buckets = xcalloc(t->n_buckets, sizeof(*t->buckets));
        t->next = h->tenants;
        h->tenants = t;
        h->n_tenants++;
    }
    s = stream_find(t, sb->fp, sb->labels, sb->n_labels);
    if (!s) {
        if (t->n_streams >= t->n_buckets)
            tenant_grow(t);
        s = xcalloc(1, sizeof(*s));
        arena_init(&s->arena, 0);
        pthread_mutex_init(&s->mu, NULL);
        s->tenant = t;
        s->fp = sb->fp;
        s->n_labels = sb->n_labels;
        s->labels =
            arena_alloc(&s->arena, (sb->n_labels ? sb->n_labels : 1) * sizeof(struct label));
        for (uint32_t i = 0; i < sb->n_labels; i++) {
            s->labels[i].name = arena_slice_dup(&s->arena, sb->labels[i].name);
            s->labels[i].value = arena_slice_dup(&s->arena, sb->labels[i].value);
        }
        s->key = arena_slice_dup(&s->arena, sb->key);
        s->last_append = clock_mono_ns();
        size_t k = s->fp & (t->n_buckets - 1);
        s->next = t->buckets[k];
        t->buckets[k] = s;
        t->n_streams++;
        h->n_streams++;
    }
    pthread_rwlock_unlock(&h->lock);
    return s;
}

static void stream_free(struct hstream *s)
{
    chunk_unref(s->active);
    chunk_unref(s->frozen);
    pthread_mutex_destroy(&s->mu);
    arena_release(&s->arena);
    free(s);
}

/* ---- acceptance ---- */

static uint64_t entry_hash(const struct entry *e, struct buf *scratch)
{
    uint64_t h = hash64(e->line.ptr ? e->line.ptr : "", e->line.len);
    if (e->n_meta) {
        buf_reset(scratch);
        if (labels_encode(scratch, e->meta, e->n_meta) == 0)
            h ^= hash64_seed(scratch->ptr, scratch->len, 0x6d657461);
    }
    return h;
}

/* Go's time.RFC3339 of ns truncated to the second, as Loki prints it. */
static void rfc3339_seconds(int64_t ns, char *out)
{
    int64_t r = ns % NS_PER_SEC;
    if (r < 0)
        r += NS_PER_SEC;
    clock_format_rfc3339(ns - r, out);
}

uint64_t head_check(struct tier *t, struct push_batch *b, struct push_result *res,
                    uint8_t **accept_out)
{
    struct head *h = H(t);
    uint8_t *accept = arena_alloc(&b->arena, b->n_entries ? b->n_entries : 1);
    struct buf scratch;
    buf_init(&scratch, BUF_UNLIMITED);
    uint64_t k = 0, stored = 0;
    for (uint32_t si = 0; si < b->n_streams; si++) {
        const struct stream_batch *sb = &b->streams[si];
        struct hstream *s = stream_get(h, b->tenant, sb);
        pthread_mutex_lock(&s->mu);
        bool has = s->has_data;
        int64_t max_ts = s->max_ts, last_ts = s->last_ts;
        uint64_t last_hash = s->last_hash;
        pthread_mutex_unlock(&s->mu);
        const struct entry *last_e = NULL; /* the previous accepted entry of this batch */
        for (uint32_t j = 0; j < sb->n_entries; j++, k++) {
            const struct entry *e = &sb->entries[j];
            if (has && h->o.ooo_window > 0 && e->ts < max_ts - h->o.ooo_window) {
                char a[40], c[40];
                rfc3339_seconds(e->ts, a);
                rfc3339_seconds(max_ts - h->o.ooo_window, c);
                push_result_reject(res, b, si, e->ts, STRATA_EINVAL,
                                   "entry too far behind, entry timestamp is: %s, oldest "
                                   "acceptable timestamp is: %s",
                                   a, c);
                accept[k] = 0;
                continue;
            }
            /* Hashes are needed only to compare entries with the same timestamp. */
            if (has && e->ts == last_ts) {
                if (last_e) {
                    last_hash = entry_hash(last_e, &scratch);
                    last_e = NULL;
                }
                if (entry_hash(e, &scratch) == last_hash) {
                    accept[k] = 2;
                    res->accepted++;
                    continue;
                }
            }
            accept[k] = 1;
            res->accepted++;
            stored++;
            if (!has || e->ts > max_ts)
                max_ts = e->ts;
            last_ts = e->ts;
            last_e = e;
            has = true;
        }
    }
    buf_release(&scratch);
    *accept_out = accept;
    return stored;
}

void head_append(struct tier *t, const struct push_batch *b, const uint8_t *accept)
{
    struct head *h = H(t);
    struct buf scratch;
    struct labels_encoder menc;
    labels_encoder_init(&menc);
    buf_init(&scratch, BUF_UNLIMITED);
    uint64_t k = 0, entries = 0, bytes = 0, mem = 0;
    int64_t now = clock_mono_ns();
    for (uint32_t si = 0; si < b->n_streams; si++) {
        const struct stream_batch *sb = &b->streams[si];
        bool any = false;
        for (uint32_t j = 0; j < sb->n_entries && !any; j++)
            any = !accept || accept[k + j] == 1;
        if (!any) {
            k += sb->n_entries;
            continue;
        }
        struct hstream *s = stream_get(h, b->tenant, sb);
        const struct entry *last = NULL;
        pthread_mutex_lock(&s->mu);
        if (!s->active) {
            s->active = xcalloc(1, sizeof(*s->active));
            atomic_init(&s->active->refs, 1);
        }
        for (uint32_t j = 0; j < sb->n_entries; j++, k++) {
            if (accept && accept[k] != 1)
                continue;
            const struct entry *e = &sb->entries[j];
            struct slice meta = {"", 0};
            if (e->n_meta && labels_encoder_encode(&menc, e->meta, e->n_meta, &meta) < 0)
                meta = (struct slice){"", 0};
            chunk_add(s->active, e->ts, e->line, meta);
            if (!s->has_data || e->ts > s->max_ts)
                s->max_ts = e->ts;
            last = e;
            s->has_data = true;
            entries++;
            bytes += e->line.len;
            mem += e->line.len + meta.len + ENTRY_OVERHEAD;
        }
        if (last) {
            /* The previous entry, for the duplicate check: hashed once per batch and stream. */
            s->last_ts = last->ts;
            s->last_hash = entry_hash(last, &scratch);
        }
        s->last_append = now;
        pthread_mutex_unlock(&s->mu);
    }
    labels_encoder_release(&menc);
    buf_release(&scratch);
    if (entries) {
        int64_t zero = 0;
        atomic_compare_exchange_strong(&h->active_since, &zero, now);
        atomic_fetch_add(&h->entries, entries);
        atomic_fetch_add(&h->bytes, bytes);
        atomic_fetch_add(&h->mem, mem);
    }
}

void head_usage(struct tier *t, struct head_usage *out)
{
    struct head *h = H(t);
    memset(out, 0, sizeof(*out));
    out->entries = atomic_load(&h->entries);
    out->bytes = atomic_load(&h->bytes);
    out->mem_bytes = atomic_load(&h->mem);
    out->active_since = atomic_load(&h->active_since);
    pthread_mutex_lock(&h->gen_mu);
    if (h->frozen) {
        out->frozen = true;
        out->frozen_entries = h->frozen->h.entries;
        out->frozen_bytes = h->frozen->h.bytes;
        out->frozen_mem_bytes = h->frozen->mem_bytes;
    }
    pthread_mutex_unlock(&h->gen_mu);
    pthread_rwlock_rdlock(&h->lock);
    out->streams = h->n_streams;
    out->tenants = h->n_tenants;
    pthread_rwlock_unlock(&h->lock);
}

/* ---- cursors ---- */

/* A run: the first n slots of a block, as seen by one snapshot. */
struct run {
    struct hblock *b;
    uint32_t n;
    bool sorted;
    int64_t min_ts, max_ts;
};

struct pick {
    int64_t ts;
    uint32_t run, idx;
};

struct hcursor {
    struct tier_cursor base;
    struct hchunk *chunks[2];
    struct run *runs;
    uint32_t n_runs;
    int64_t start, end;
    bool backward, want_lines, want_meta;
    struct tier_read_stats *stats;
    /* sequential mode: the current run and the position in [lo, hi) */
    uint32_t run_pos, lo, hi, pos;
    bool in_run;
    /* merged mode */
    struct pick *picks;
    uint32_t n_picks, pick_pos;
    bool merged;
    /* batch buffers, allocated on first use */
    int64_t *ts;
    uint32_t *sizes;
    struct slice *lines, *meta;
    bool closed;
};

/*
 * Sort picks by time, ties in arrival order (the order they are in). They come
 * as a few ascending runs (one per push that reached the stream), so this is a
 * natural merge sort: find the runs, then merge neighbours until one is left.
 */
static void sort_picks(struct pick *v, uint32_t n)
{
    uint32_t *bounds = xmallocarray((size_t)n + 1, sizeof(*bounds));
    uint32_t nb = 0;
    bounds[nb++] = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i].ts < v[i - 1].ts)
            bounds[nb++] = i;
    bounds[nb] = n;
    struct pick *tmp = nb > 1 ? xmallocarray(n, sizeof(*tmp)) : NULL, *src = v, *dst = tmp;
    while (nb > 1) {
        uint32_t out = 0;
        for (uint32_t r = 0; r < nb; r += 2) {
            uint32_t a = bounds[r], m = bounds[r + 1], b = r + 2 <= nb ? bounds[r + 2] : m;
            uint32_t i = a, j = m, k = a;
            while (i < m && j < b)
                dst[k++] = src[j].ts < src[i].ts ? src[j++] : src[i++];
            memcpy(dst + k, src + i, (size_t)(m - i) * sizeof(*dst));
            k += m - i;
            memcpy(dst + k, src + j, (size_t)(b - j) * sizeof(*dst));
            bounds[out++] = a;
        }
        bounds[out] = n;
        nb = out;
        struct pick *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, (size_t)n * sizeof(*v));
    free(tmp);
    free(bounds);
}

static void buffers(struct hcursor *c)
{
    if (c->ts)
        return;
    c->ts = xmallocarray(BATCH_MAX, sizeof(*c->ts));
    c->sizes = xmallocarray(BATCH_MAX, sizeof(*c->sizes));
    if (c->want_lines)
        c->lines = xmallocarray(BATCH_MAX, sizeof(*c->lines));
    if (c->want_lines || c->want_meta)
        c->meta = xmallocarray(BATCH_MAX, sizeof(*c->meta));
}

/* Fill slot k of the batch from (run, idx); returns true when it has metadata. */
static bool fill(struct hcursor *c, uint32_t k, const struct run *r, uint32_t i, bool copy_ts)
{
    const struct hblock *b = r->b;
    if (copy_ts) {
        c->ts[k] = b->ts[i];
        c->sizes[k] = b->len[i];
    }
    if (c->want_lines)
        c->lines[k] = (struct slice){b->data + b->off[i], b->len[i]};
    else if (!c->want_meta)
        return false;
    c->meta[k] = (struct slice){b->data + b->moff[i], b->mlen[i]};
    return b->mlen[i] != 0;
}

static uint32_t lower_bound(const int64_t *ts, uint32_t n, int64_t v)
{
    uint32_t l = 0, h = n;
    while (l < h) {
        uint32_t m = l + (h - l) / 2;
        if (ts[m] < v)
            l = m + 1;
        else
            h = m;
    }
    return l;
}

static int hcursor_next(struct tier_cursor *tc, struct entry_batch *out)
{
    struct hcursor *c = (struct hcursor *)tc;
    uint32_t k = 0;
    bool has_meta = false;
    buffers(c);
    out->ts = c->ts;
    out->sizes = c->sizes;
    if (c->merged) {
        while (k < BATCH_MAX && c->pick_pos < c->n_picks) {
            uint32_t p = c->backward ? c->n_picks - 1 - c->pick_pos : c->pick_pos;
            c->pick_pos++;
            has_meta |= fill(c, k++, &c->runs[c->picks[p].run], c->picks[p].idx, true);
        }
    } else {
        /* One run slice per batch: forward batches point into the block. */
        while (!c->in_run && c->run_pos < c->n_runs) {
            uint32_t ri = c->backward ? c->n_runs - 1 - c->run_pos : c->run_pos;
            c->run_pos++;
            const struct run *r = &c->runs[ri];
            c->lo = lower_bound(r->b->ts, r->n, c->start);
            c->hi = lower_bound(r->b->ts, r->n, c->end);
            c->pos = 0;
            c->in_run = c->lo < c->hi;
        }
        if (c->in_run) {
            uint32_t ri = c->backward ? c->n_runs - c->run_pos : c->run_pos - 1;
            const struct run *r = &c->runs[ri];
            uint32_t left = c->hi - c->lo - c->pos;
            uint32_t take = left < BATCH_MAX ? left : BATCH_MAX;
            if (!c->backward) {
                uint32_t i0 = c->lo + c->pos;
                out->ts = r->b->ts + i0;
                out->sizes = r->b->len + i0;
                for (uint32_t j = 0; j < take; j++)
                    has_meta |= fill(c, k++, r, i0 + j, false);
            } else {
                for (uint32_t j = 0; j < take; j++)
                    has_meta |= fill(c, k++, r, c->hi - 1 - c->pos - j, true);
            }
            c->pos += take;
            if (c->pos == c->hi - c->lo)
                c->in_run = false;
        }
    }
    if (!k)
        return 0;
    if (c->stats)
        __atomic_fetch_add(&c->stats->entries_read, k, __ATOMIC_RELAXED);
    out->n = k;
    out->lines = c->want_lines ? c->lines : NULL;
    out->meta = has_meta ? c->meta : NULL;
    return 1;
}

static void hcursor_close(struct tier_cursor *tc)
{
    struct hcursor *c = (struct hcursor *)tc;
    if (c->closed)
        return;
    c->closed = true;
    free(c->picks);
    free(c->runs);
    free(c->ts);
    free(c->sizes);
    free(c->lines);
    free(c->meta);
    chunk_unref(c->chunks[0]);
    chunk_unref(c->chunks[1]);
    free(c);
}

static const struct tier_cursor_ops hcursor_ops = {hcursor_next, hcursor_close};

/*
 * A cursor over chunks[0..n) (older first) of one stream; takes a reference
 * on each. Caller holds the stream's mutex (or the chunks are frozen).
 */
static struct tier_cursor *cursor_new(struct hchunk *const *chunks, int nchunks, int64_t start,
                                      int64_t end, bool backward, bool want_lines, bool want_meta,
                                      struct tier_read_stats *stats)
{
    uint32_t nr = 0;
    for (int i = 0; i < nchunks; i++)
        nr += chunks[i]->n;
    struct hcursor *c = xcalloc(1, sizeof(*c));
    c->base.ops = &hcursor_ops;
    c->runs = xmallocarray(nr ? nr : 1, sizeof(*c->runs));
    c->start = start;
    c->end = end;
    c->backward = backward;
    c->want_lines = want_lines;
    c->want_meta = want_meta;
    c->stats = stats;
    bool ordered = true;
    int64_t prev_max = INT64_MIN;
    for (int i = 0; i < nchunks; i++) {
        c->chunks[i] = chunks[i];
        atomic_fetch_add(&chunks[i]->refs, 1);
        for (uint32_t j = 0; j < chunks[i]->n; j++) {
            struct hblock *b = chunks[i]->blocks[j];
            if (!b->n || b->max_ts < start || b->min_ts >= end)
                continue;
            struct run r = {b, b->n, b->sorted, b->min_ts, b->max_ts};
            if (!r.sorted || r.min_ts < prev_max)
                ordered = false;
            if (r.max_ts > prev_max)
                prev_max = r.max_ts;
            c->runs[c->n_runs++] = r;
        }
    }
    if (!ordered) {
        /* Out-of-order data: sort every entry in range (ties keep arrival order). */
        uint64_t total = 0;
        for (uint32_t i = 0; i < c->n_runs; i++)
            total += c->runs[i].n;
        c->picks = xmallocarray(total ? total : 1, sizeof(*c->picks));
        for (uint32_t i = 0; i < c->n_runs; i++)
            for (uint32_t j = 0; j < c->runs[i].n; j++) {
                int64_t ts = c->runs[i].b->ts[j];
                if (ts >= start && ts < end)
                    c->picks[c->n_picks++] = (struct pick){ts, i, j};
            }
        sort_picks(c->picks, c->n_picks);
        c->merged = true;
    }
    return &c->base;
}

/* ---- tier ops ---- */

static bool chunk_overlaps(const struct hchunk *c, int64_t start, int64_t end)
{
    return c && c->entries && c->max_ts >= start && c->min_ts < end;
}

/*
 * Snapshot the matching streams under the table lock, then call fn for each
 * without it: a slow consumer never blocks pushes creating streams.
 */
static int walk(struct tier *tier, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                void *arg, bool cursors)
{
    struct head *h = H(tier);
    int rc = 0;
    struct tier_stream *found = NULL;
    size_t n = 0, cap = 0;
    pthread_rwlock_rdlock(&h->lock);
    struct htenant *t = tenant_find(h, q->tenant);
    for (size_t bi = 0; t && bi < t->n_buckets; bi++)
        for (struct hstream *s = t->buckets[bi]; s; s = s->next) {
            if (q->sel && !selector_matches(q->sel, s->labels, s->n_labels))
                continue;
            struct hchunk *ch[2];
            int nc = 0;
            pthread_mutex_lock(&s->mu);
            if (chunk_overlaps(s->frozen, q->start, q->end))
                ch[nc++] = s->frozen;
            if (chunk_overlaps(s->active, q->start, q->end))
                ch[nc++] = s->active;
            struct tier_cursor *cur = NULL;
            if (nc && cursors)
                cur = cursor_new(ch, nc, q->start, q->end, q->backward, q->want_lines, q->want_meta,
                                 q->stats);
            pthread_mutex_unlock(&s->mu);
            if (!nc)
                continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                found = arena_realloc(a, found, cap * sizeof(*found), ncap * sizeof(*found));
                cap = ncap;
            }
            memset(&found[n], 0, sizeof(found[n]));
            tier_stream_copy_id(&found[n], s->fp, s->labels, s->n_labels, s->key, a);
            found[n++].cursor = cur;
        }
    pthread_rwlock_unlock(&h->lock);
    size_t i = 0;
    for (; i < n && !rc; i++)
        rc = fn(arg, &found[i]);
    /* Cursors not handed over (fn stopped the walk) are closed here. */
    for (; i < n; i++)
        if (found[i].cursor)
            found[i].cursor->ops->close(found[i].cursor);
    return rc < 0 ? rc : 0;
}

static int head_select(struct tier *t, const struct tier_query *q, struct arena *a,
                       tier_stream_fn fn, void *arg)
{
    return walk(t, q, a, fn, arg, true);
}

static int head_series(struct tier *t, const struct tier_query *q, struct arena *a,
                       tier_stream_fn fn, void *arg)
{
    return walk(t, q, a, fn, arg, false);
}

static void chunk_stats(const struct hchunk *c, int64_t start, int64_t end, uint64_t *chunks,
                        uint64_t *entries, uint64_t *bytes)
{
    for (uint32_t i = 0; c && i < c->n; i++) {
        const struct hblock *b = c->blocks[i];
        if (!b->n || b->max_ts < start || b->min_ts >= end)
            continue;
        (*chunks)++;
        for (uint32_t j = 0; j < b->n; j++)
            if (b->ts[j] >= start && b->ts[j] < end) {
                (*entries)++;
                *bytes += b->len[j];
            }
    }
}

static int head_stats(struct tier *tier, const struct tier_query *q, struct tier_stats *out)
{
    struct head *h = H(tier);
    pthread_rwlock_rdlock(&h->lock);
    struct htenant *t = tenant_find(h, q->tenant);
    for (size_t bi = 0; t && bi < t->n_buckets; bi++)
        for (struct hstream *s = t->buckets[bi]; s; s = s->next) {
            if (q->sel && !selector_matches(q->sel, s->labels, s->n_labels))
                continue;
            uint64_t chunks = 0, entries = 0, bytes = 0;
            pthread_mutex_lock(&s->mu);
            chunk_stats(s->frozen, q->start, q->end, &chunks, &entries, &bytes);
            chunk_stats(s->active, q->start, q->end, &chunks, &entries, &bytes);
            pthread_mutex_unlock(&s->mu);
            if (entries) {
                out->streams++;
                out->chunks += chunks;
                out->entries += entries;
                out->bytes += bytes;
            }
        }
    pthread_rwlock_unlock(&h->lock);
    return 0;
}

static int head_usage_op(struct tier *tier, struct tier_usage *out)
{
    struct head *h = H(tier);
    memset(out, 0, sizeof(*out));
    bool first = true;
    pthread_rwlock_rdlock(&h->lock);
    for (struct htenant *t = h->tenants; t; t = t->next)
        for (size_t bi = 0; bi < t->n_buckets; bi++)
            for (struct hstream *s = t->buckets[bi]; s; s = s->next) {
                pthread_mutex_lock(&s->mu);
                bool any = false;
                struct hchunk *cs[2] = {s->frozen, s->active};
                for (int i = 0; i < 2; i++) {
                    const struct hchunk *c = cs[i];
                    if (!c || !c->entries)
                        continue;
                    any = true;
                    out->entries += c->entries;
                    out->bytes += c->bytes;
                    if (first || c->min_ts < out->min_ts)
                        out->min_ts = c->min_ts;
                    if (first || c->max_ts > out->max_ts)
                        out->max_ts = c->max_ts;
                    first = false;
                }
                pthread_mutex_unlock(&s->mu);
                out->streams += any;
            }
    pthread_rwlock_unlock(&h->lock);
    return 0;
}

/* ---- generations ---- */

static int cmp_gen_item(const void *a, const void *b, void *arg)
{
    const struct hgen *g = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int c = strcmp(g->streams[x]->tenant->name, g->streams[y]->tenant->name);
    if (c)
        return c;
    return slice_cmp(g->streams[x]->key, g->streams[y]->key);
}

static int gen_each(struct handover *ho, handover_stream_fn fn, void *arg)
{
    struct hgen *g = (struct hgen *)ho;
    int rc = 0;
    for (uint32_t i = 0; i < g->n && !rc; i++) {
        struct hstream *s = g->streams[i];
        struct hchunk *c = g->chunks[i];
        struct handover_stream hs = {
            .tenant = s->tenant->name,
            .fp = s->fp,
            .labels = s->labels,
            .n_labels = s->n_labels,
            .key = s->key,
            .min_ts = c->min_ts,
            .max_ts = c->max_ts,
            .entries = c->entries,
            .bytes = c->bytes,
        };
        hs.cursor = cursor_new(&c, 1, INT64_MIN, INT64_MAX, false, true, true, NULL);
        rc = fn(arg, &hs);
        hs.cursor->ops->close(hs.cursor);
    }
    return rc;
}

int head_cut(struct tier *tier, uint64_t seq, struct handover **out)
{
    struct head *h = H(tier);
    *out = NULL;
    pthread_mutex_lock(&h->gen_mu);
    bool busy = h->frozen != NULL;
    pthread_mutex_unlock(&h->gen_mu);
    if (busy)
        return STRATA_EBUSY;
    if (atomic_load(&h->entries) == 0)
        return 0;
    pthread_rwlock_wrlock(&h->lock);
    struct hgen *g = xcalloc(1, sizeof(*g));
    g->head = h;
    uint32_t cap = 0;
    for (struct htenant *t = h->tenants; t; t = t->next)
        for (size_t bi = 0; bi < t->n_buckets; bi++)
            for (struct hstream *s = t->buckets[bi]; s; s = s->next) {
                pthread_mutex_lock(&s->mu);
                struct hchunk *c = s->active;
                if (c && c->entries) {
                    if (g->n == cap) {
                        cap = cap ? cap * 2 : 64;
                        g->streams = xreallocarray(g->streams, cap, sizeof(*g->streams));
                        g->chunks = xreallocarray(g->chunks, cap, sizeof(*g->chunks));
                    }
                    g->streams[g->n] = s;
                    g->chunks[g->n] = c;
                    g->n++;
                    s->frozen = c; /* the stream's reference moves with it */
                    s->active = NULL;
                    if (g->h.streams == 0 || c->min_ts < g->h.min_ts)
                        g->h.min_ts = c->min_ts;
                    if (g->h.streams == 0 || c->max_ts > g->h.max_ts)
                        g->h.max_ts = c->max_ts;
                    g->h.streams++;
                    g->h.entries += c->entries;
                    g->h.bytes += c->bytes;
                }
                pthread_mutex_unlock(&s->mu);
            }
    /* Group by tenant, streams by key, so that each() can walk them in order. */
    uint32_t *order = xmallocarray(g->n ? g->n : 1, sizeof(*order));
    for (uint32_t i = 0; i < g->n; i++)
        order[i] = i;
    if (g->n)
        qsort_r(order, g->n, sizeof(*order), cmp_gen_item, g);
    struct hstream **ss = xmallocarray(g->n ? g->n : 1, sizeof(*ss));
    struct hchunk **cc = xmallocarray(g->n ? g->n : 1, sizeof(*cc));
    for (uint32_t i = 0; i < g->n; i++) {
        ss[i] = g->streams[order[i]];
        cc[i] = g->chunks[order[i]];
    }
    free(order);
    free(g->streams);
    free(g->chunks);
    g->streams = ss;
    g->chunks = cc;
    g->mem_bytes = atomic_exchange(&h->mem, 0);
    atomic_store(&h->entries, 0);
    atomic_store(&h->bytes, 0);
    atomic_store(&h->active_since, 0);
    pthread_rwlock_unlock(&h->lock);
    g->h.seq = seq;
    g->h.each = gen_each;
    g->h.giver = g;
    pthread_mutex_lock(&h->gen_mu);
    h->frozen = g;
    pthread_mutex_unlock(&h->gen_mu);
    *out = &g->h;
    return 0;
}

void head_drop(struct tier *tier, struct handover *ho)
{
    struct head *h = H(tier);
    struct hgen *g = (struct hgen *)ho;
    pthread_rwlock_wrlock(&h->lock);
    for (uint32_t i = 0; i < g->n; i++) {
        struct hstream *s = g->streams[i];
        pthread_mutex_lock(&s->mu);
        if (s->frozen == g->chunks[i]) {
            chunk_unref(s->frozen);
            s->frozen = NULL;
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_rwlock_unlock(&h->lock);
    pthread_mutex_lock(&h->gen_mu);
    if (h->frozen == g)
        h->frozen = NULL;
    pthread_mutex_unlock(&h->gen_mu);
    free(g->streams);
    free(g->chunks);
    free(g);
}

void head_gc(struct tier *tier)
{
    struct head *h = H(tier);
    int64_t now = clock_mono_ns();
    pthread_rwlock_wrlock(&h->lock);
    for (struct htenant *t = h->tenants; t; t = t->next)
        for (size_t bi = 0; bi < t->n_buckets; bi++) {
            struct hstream **pp = &t->buckets[bi];
            while (*pp) {
                struct hstream *s = *pp;
                pthread_mutex_lock(&s->mu);
                bool idle = !s->active && !s->frozen && now - s->last_append > STREAM_IDLE_NS;
                pthread_mutex_unlock(&s->mu);
                if (idle) {
                    *pp = s->next;
                    t->n_streams--;
                    h->n_streams--;
                    stream_free(s);
                    continue;
                }
                pp = &s->next;
            }
        }
    pthread_rwlock_unlock(&h->lock);
}

static void head_close(struct tier *tier)
{
    struct head *h = H(tier);
    pthread_mutex_lock(&h->gen_mu);
    struct hgen *g = h->frozen;
    h->frozen = NULL;
    pthread_mutex_unlock(&h->gen_mu);
    if (g) {
        free(g->streams);
        free(g->chunks);
        free(g);
    }
    for (struct htenant *t = h->tenants, *tn; t; t = tn) {
        tn = t->next;
        for (size_t bi = 0; bi < t->n_buckets; bi++)
            for (struct hstream *s = t->buckets[bi], *sn; s; s = sn) {
                sn = s->next;
                stream_free(s);
            }
        free(t->buckets);
        free(t->name);
        free(t);
    }
    pthread_mutex_destroy(&h->gen_mu);
    pthread_rwlock_destroy(&h->lock);
    free(h);
}

static const struct tier_ops head_ops = {
    .name = "head",
    .meta_without_lines = true,
    .select = head_select,
    .series = head_series,
    .stats = head_stats,
    .close = head_close,
    .usage = head_usage_op,
};

struct tier *head_new(const struct head_options *o)
{
    struct head *h = xcalloc(1, sizeof(*h));
    h->tier.ops = &head_ops;
    h->o = *o;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&h->gen_mu, NULL);
    return &h->tier;
}
