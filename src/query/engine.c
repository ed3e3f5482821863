#include "query/engine.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"

/* One stream's entries gathered from every tier. */
struct gathered {
    uint64_t fp;
    const struct label *labels;
    uint32_t n_labels;
    struct slice key;
    size_t n, cap;
    int64_t *ts;
    struct slice *lines, *meta;
};

struct gather_ctx {
    struct arena *a;
    struct gathered *streams;
    size_t n, cap;
    struct query_stats *stats;
    int rc;
};

static struct gathered *find_stream(struct gather_ctx *g, const struct tier_stream *s)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->streams[i].fp == s->fp && slice_eq(g->streams[i].key, s->key))
            return &g->streams[i];
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 16;
        g->streams = xreallocarray(g->streams, g->cap, sizeof(*g->streams));
    }
    struct gathered *o = &g->streams[g->n++];
    memset(o, 0, sizeof(*o));
    o->fp = s->fp;
    o->labels = s->labels;
    o->n_labels = s->n_labels;
    o->key = s->key;
    return o;
}

static int on_stream(void *arg, const struct tier_stream *s)
{
    struct gather_ctx *g = arg;
    struct gathered *o = find_stream(g, s);
    struct entry_batch b;
    int rc;
    while ((rc = s->cursor->ops->next(s->cursor, &b)) > 0) {
        if (o->n + b.n > o->cap) {
            size_t cap = o->cap ? o->cap : 64;
            while (cap < o->n + b.n)
                cap *= 2;
            o->ts = xreallocarray(o->ts, cap, sizeof(*o->ts));
            o->lines = xreallocarray(o->lines, cap, sizeof(*o->lines));
            o->meta = xreallocarray(o->meta, cap, sizeof(*o->meta));
            o->cap = cap;
        }
        for (uint32_t i = 0; i < b.n; i++) {
            o->ts[o->n] = b.ts[i];
            /* Line bytes are valid only until the cursor moves on (tier.h): keep copies. */
            o->lines[o->n] = b.lines ? arena_slice_dup(g->a, b.lines[i]) : (struct slice){"", 0};
            o->meta[o->n] = b.meta ? arena_slice_dup(g->a, b.meta[i]) : (struct slice){"", 0};
            o->n++;
            g->stats->lines_processed++;
            g->stats->bytes_processed += b.sizes[i];
        }
    }
    s->cursor->ops->close(s->cursor);
    if (rc < 0)
        g->rc = rc;
    return rc < 0 ? rc : 0;
}

/* A pointer to one entry, for the global sort. */
struct pick {
    int64_t ts;
    uint32_t stream, idx;
};

static int cmp_fwd(const void *a, const void *b)
{
    const struct pick *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->stream != y->stream)
        return x->stream < y->stream ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_bwd(const void *a, const void *b)
{
    return -cmp_fwd(a, b);
}

static int cmp_key(const void *a, const void *b)
{
    const struct gathered *x = a, *y = b;
    return slice_cmp(x->key, y->key);
}

int engine_log_query(struct tier *chain, const struct log_query *q, struct arena *a,
                     struct log_result *out)
{
    int64_t t0 = clock_mono_ns();
    memset(out, 0, sizeof(*out));
    struct gather_ctx g = {.a = a, .stats = &out->stats};
    struct tier_query tq = {
        .tenant = q->tenant,
        .sel = &q->plan->sel,
        .start = q->start,
        .end = q->end,
        .backward = false,
        .want_lines = true,
        .cancel = q->cancel,
        .stats = &out->stats.read,
    };
    int rc = 0;
    for (struct tier *t = chain; t && !rc; t = t->next)
        rc = t->ops->select(t, &tq, a, on_stream, &g);
    if (!rc)
        rc = g.rc;
    if (!rc) {
        /* Streams in label order so that answers are deterministic. */
        if (g.n)
            qsort(g.streams, g.n, sizeof(*g.streams), cmp_key);
        size_t total = 0;
        for (size_t i = 0; i < g.n; i++)
            total += g.streams[i].n;
        struct pick *p = xmallocarray(total ? total : 1, sizeof(*p));
        size_t k = 0;
        for (size_t i = 0; i < g.n; i++)
            for (size_t j = 0; j < g.streams[i].n; j++)
                p[k++] = (struct pick){g.streams[i].ts[j], (uint32_t)i, (uint32_t)j};
        if (total)
            qsort(p, total, sizeof(*p), q->backward ? cmp_bwd : cmp_fwd);
        /* Drop exact duplicates (same stream, ts and line: an entry in two tiers). */
        size_t w = 0;
        for (size_t i = 0; i < total; i++) {
            if (w > 0 && p[w - 1].stream == p[i].stream && p[w - 1].ts == p[i].ts &&
                slice_eq(g.streams[p[i].stream].lines[p[i].idx],
                         g.streams[p[w - 1].stream].lines[p[w - 1].idx]))
                continue;
            p[w++] = p[i];
        }
        total = w;
        if (q->limit && total > q->limit)
            total = q->limit;
        uint32_t *count = xcalloc(g.n ? g.n : 1, sizeof(uint32_t));
        for (size_t i = 0; i < total; i++)
            count[p[i].stream]++;
        uint32_t ns = 0;
        for (size_t i = 0; i < g.n; i++)
            ns += count[i] > 0;
        out->streams = arena_calloc(a, ns ? ns : 1, sizeof(*out->streams));
        uint32_t *slot = xcalloc(g.n ? g.n : 1, sizeof(uint32_t));
        for (size_t i = 0; i < g.n; i++) {
            if (!count[i])
                continue;
            struct result_stream *rs = &out->streams[out->n_streams];
            slot[i] = out->n_streams++;
            rs->labels = g.streams[i].labels;
            rs->n_labels = g.streams[i].n_labels;
            rs->key = g.streams[i].key;
            rs->ts = arena_alloc(a, count[i] * sizeof(int64_t));
            rs->lines = arena_alloc(a, count[i] * sizeof(struct slice));
            rs->meta = arena_alloc(a, count[i] * sizeof(struct slice));
        }
        for (size_t i = 0; i < total; i++) {
            struct result_stream *rs = &out->streams[slot[p[i].stream]];
            const struct gathered *gs = &g.streams[p[i].stream];
            rs->ts[rs->n] = gs->ts[p[i].idx];
            rs->lines[rs->n] = gs->lines[p[i].idx];
            rs->meta[rs->n] = gs->meta[p[i].idx];
            rs->n++;
        }
        out->stats.entries_returned = total;
        free(count);
        free(slot);
        free(p);
    }
    for (size_t i = 0; i < g.n; i++) {
        free(g.streams[i].ts);
        free(g.streams[i].lines);
        free(g.streams[i].meta);
    }
    free(g.streams);
    out->stats.exec_ns = clock_mono_ns() - t0;
    return rc;
}
