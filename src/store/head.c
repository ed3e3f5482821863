#include "store/head.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

struct head_entry {
    int64_t ts;
    uint64_t seq; /* arrival order, to keep ties stable */
    char *line;
    uint32_t len;
    char *meta; /* labels_encode form, or NULL */
    uint32_t meta_len;
};

struct head_stream {
    struct head_stream *next; /* hash chain */
    uint64_t fp;
    struct label *labels;
    uint32_t n_labels;
    struct slice key;
    struct arena arena; /* labels and key */
    struct head_entry *entries;
    size_t n, cap;
};

struct head_tenant {
    struct head_tenant *next;
    char *name;
    struct head_stream **buckets;
    size_t n_buckets, n_streams;
};

struct head {
    struct tier tier;
    pthread_rwlock_t lock;
    struct head_tenant *tenants;
    uint64_t seq, entries, bytes;
};

static struct head *H(struct tier *t)
{
    return (struct head *)t;
}

static struct head_tenant *tenant_get(struct head *h, const char *name, bool create)
{
    for (struct head_tenant *t = h->tenants; t; t = t->next)
        if (!strcmp(t->name, name))
            return t;
    if (!create)
        return NULL;
    struct head_tenant *t = xcalloc(1, sizeof(*t));
    t->name = xstrdup(name);
    t->n_buckets = 256;
    t->buckets = xcalloc(t->n_buckets, sizeof(*t->buckets));
    t->next = h->tenants;
    h->tenants = t;
    return t;
}

static bool labels_equal(const struct head_stream *s, const struct stream_batch *b)
{
    if (s->n_labels != b->n_labels)
        return false;
    for (uint32_t i = 0; i < b->n_labels; i++)
        if (!slice_eq(s->labels[i].name, b->labels[i].name) ||
            !slice_eq(s->labels[i].value, b->labels[i].value))
            return false;
    return true;
}

static void tenant_grow(struct head_tenant *t)
{
    size_t nb = t->n_buckets * 2;
    struct head_stream **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct head_stream *s = t->buckets[i];
        while (s) {
            struct head_stream *next = s->next;
            size_t k = s->fp & (nb - 1);
            s->next = b[k];
            b[k] = s;
            s = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = nb;
}

static struct head_stream *stream_get(struct head_tenant *t, const struct stream_batch *sb)
{
    size_t k = sb->fp & (t->n_buckets - 1);
    for (struct head_stream *s = t->buckets[k]; s; s = s->next)
        if (s->fp == sb->fp && labels_equal(s, sb))
            return s;
    if (t->n_streams >= t->n_buckets)
        tenant_grow(t), k = sb->fp & (t->n_buckets - 1);
    struct head_stream *s = xcalloc(1, sizeof(*s));
    arena_init(&s->arena, 0);
    s->fp = sb->fp;
    s->n_labels = sb->n_labels;
    s->labels = arena_alloc(&s->arena, (sb->n_labels ? sb->n_labels : 1) * sizeof(struct label));
    for (uint32_t i = 0; i < sb->n_labels; i++) {
        s->labels[i].name = arena_slice_dup(&s->arena, sb->labels[i].name);
        s->labels[i].value = arena_slice_dup(&s->arena, sb->labels[i].value);
    }
    s->key = arena_slice_dup(&s->arena, sb->key);
    s->next = t->buckets[k];
    t->buckets[k] = s;
    t->n_streams++;
    return s;
}

int head_append(struct tier *tier, const struct push_batch *b, struct push_result *res)
{
    struct head *h = H(tier);
    pthread_rwlock_wrlock(&h->lock);
    struct head_tenant *t = tenant_get(h, b->tenant, true);
    for (uint32_t i = 0; i < b->n_streams; i++) {
        const struct stream_batch *sb = &b->streams[i];
        struct head_stream *s = stream_get(t, sb);
        for (uint32_t j = 0; j < sb->n_entries; j++) {
            const struct entry *e = &sb->entries[j];
            if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 64;
                s->entries = xreallocarray(s->entries, s->cap, sizeof(*s->entries));
            }
            struct head_entry *he = &s->entries[s->n++];
            he->ts = e->ts;
            he->seq = h->seq++;
            he->line = xstrndup(e->line.ptr, e->line.len);
            he->len = (uint32_t)e->line.len;
            he->meta = NULL;
            he->meta_len = 0;
            if (e->n_meta) {
                struct buf mb;
                buf_init(&mb, BUF_UNLIMITED);
                if (labels_encode(&mb, e->meta, e->n_meta) == 0) {
                    size_t ml;
                    he->meta = buf_detach(&mb, &ml);
                    he->meta_len = (uint32_t)ml;
                }
                buf_release(&mb);
            }
            h->entries++;
            h->bytes += e->line.len;
            if (res)
                res->accepted++;
        }
    }
    pthread_rwlock_unlock(&h->lock);
    return 0;
}

void head_usage(struct tier *tier, uint64_t *entries, uint64_t *bytes)
{
    struct head *h = H(tier);
    pthread_rwlock_rdlock(&h->lock);
    *entries = h->entries;
    *bytes = h->bytes;
    pthread_rwlock_unlock(&h->lock);
}

/* ---- reading ---- */

struct snap_cursor {
    struct tier_cursor base;
    int64_t *ts;
    uint32_t *sizes;
    struct slice *lines, *meta;
    uint32_t n, pos;
    bool has_meta;
};

static int snap_next(struct tier_cursor *c, struct entry_batch *out)
{
    struct snap_cursor *s = (struct snap_cursor *)c;
    if (s->pos >= s->n)
        return 0;
    uint32_t take = s->n - s->pos;
    if (take > 1024)
        take = 1024;
    out->n = take;
    out->ts = s->ts + s->pos;
    out->sizes = s->sizes + s->pos;
    out->lines = s->lines ? s->lines + s->pos : NULL;
    out->meta = s->has_meta ? s->meta + s->pos : NULL;
    s->pos += take;
    return 1;
}

static void snap_close(struct tier_cursor *c)
{
    (void)c; /* memory lives in the query's arena */
}

static const struct tier_cursor_ops snap_ops = {snap_next, snap_close};

static int cmp_entry_ptr(const void *a, const void *b)
{
    const struct head_entry *x = *(struct head_entry *const *)a,
                            *y = *(struct head_entry *const *)b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct tier_stream snapshot(const struct head_stream *hs, const struct tier_query *q,
                                   struct arena *a, bool with_cursor)
{
    struct tier_stream ts = {0};
    ts.fp = hs->fp;
    ts.n_labels = hs->n_labels;
    struct label *lv = arena_alloc(a, (hs->n_labels ? hs->n_labels : 1) * sizeof(*lv));
    for (uint32_t i = 0; i < hs->n_labels; i++) {
        lv[i].name = arena_slice_dup(a, hs->labels[i].name);
        lv[i].value = arena_slice_dup(a, hs->labels[i].value);
    }
    ts.labels = lv;
    ts.key = arena_slice_dup(a, hs->key);
    if (!with_cursor)
        return ts;
    size_t n = 0;
    for (size_t i = 0; i < hs->n; i++)
        if (hs->entries[i].ts >= q->start && hs->entries[i].ts < q->end)
            n++;
    struct head_entry **sel = xmallocarray(n ? n : 1, sizeof(*sel));
    n = 0;
    for (size_t i = 0; i < hs->n; i++)
        if (hs->entries[i].ts >= q->start && hs->entries[i].ts < q->end)
            sel[n++] = &hs->entries[i];
    qsort(sel, n, sizeof(*sel), cmp_entry_ptr);
    struct snap_cursor *c = arena_calloc(a, 1, sizeof(*c));
    c->base.ops = &snap_ops;
    c->n = (uint32_t)n;
    c->ts = arena_alloc(a, (n ? n : 1) * sizeof(int64_t));
    c->sizes = arena_alloc(a, (n ? n : 1) * sizeof(uint32_t));
    c->meta = arena_calloc(a, n ? n : 1, sizeof(struct slice));
    if (q->want_lines)
        c->lines = arena_alloc(a, (n ? n : 1) * sizeof(struct slice));
    for (size_t k = 0; k < n; k++) {
        size_t i = q->backward ? n - 1 - k : k;
        const struct head_entry *e = sel[i];
        c->ts[k] = e->ts;
        c->sizes[k] = e->len;
        if (c->lines)
            c->lines[k] = arena_slice_dup(a, (struct slice){e->line, e->len});
        if (e->meta_len) {
            c->meta[k] = arena_slice_dup(a, (struct slice){e->meta, e->meta_len});
            c->has_meta = true;
        }
    }
    free(sel);
    ts.cursor = &c->base;
    return ts;
}

static int walk(struct tier *tier, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                void *arg, bool cursors)
{
    struct head *h = H(tier);
    int rc = 0;
    pthread_rwlock_rdlock(&h->lock);
    struct head_tenant *t = tenant_get(h, q->tenant, false);
    for (size_t b = 0; t && b < t->n_buckets && !rc; b++)
        for (struct head_stream *s = t->buckets[b]; s && !rc; s = s->next) {
            if (q->sel && !selector_matches(q->sel, s->labels, s->n_labels))
                continue;
            bool any = false;
            for (size_t i = 0; i < s->n && !any; i++)
                any = s->entries[i].ts >= q->start && s->entries[i].ts < q->end;
            if (!any)
                continue;
            struct tier_stream ts = snapshot(s, q, a, cursors);
            rc = fn(arg, &ts);
        }
    pthread_rwlock_unlock(&h->lock);
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

static int head_stats(struct tier *tier, const struct tier_query *q, struct tier_stats *out)
{
    struct head *h = H(tier);
    pthread_rwlock_rdlock(&h->lock);
    struct head_tenant *t = tenant_get(h, q->tenant, false);
    for (size_t b = 0; t && b < t->n_buckets; b++)
        for (struct head_stream *s = t->buckets[b]; s; s = s->next) {
            if (q->sel && !selector_matches(q->sel, s->labels, s->n_labels))
                continue;
            uint64_t n = 0, bytes = 0;
            for (size_t i = 0; i < s->n; i++)
                if (s->entries[i].ts >= q->start && s->entries[i].ts < q->end) {
                    n++;
                    bytes += s->entries[i].len;
                }
            if (n) {
                out->streams++;
                out->chunks++;
                out->entries += n;
                out->bytes += bytes;
            }
        }
    pthread_rwlock_unlock(&h->lock);
    return 0;
}

static void head_close(struct tier *tier)
{
    struct head *h = H(tier);
    struct head_tenant *t = h->tenants;
    while (t) {
        struct head_tenant *tn = t->next;
        for (size_t b = 0; b < t->n_buckets; b++) {
            struct head_stream *s = t->buckets[b];
            while (s) {
                struct head_stream *sn = s->next;
                for (size_t i = 0; i < s->n; i++) {
                    free(s->entries[i].line);
                    free(s->entries[i].meta);
                }
                free(s->entries);
                arena_release(&s->arena);
                free(s);
                s = sn;
            }
        }
        free(t->buckets);
        free(t->name);
        free(t);
        t = tn;
    }
    pthread_rwlock_destroy(&h->lock);
    free(h);
}

static const struct tier_ops head_ops = {
    .name = "head",
    .select = head_select,
    .series = head_series,
    .stats = head_stats,
    .flush = NULL,
    .close = head_close,
};

struct tier *head_new(void)
{
    struct head *h = xcalloc(1, sizeof(*h));
    h->tier.ops = &head_ops;
    pthread_rwlock_init(&h->lock, NULL);
    return &h->tier;
}
