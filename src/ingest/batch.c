#include "ingest/batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"

void push_batch_init(struct push_batch *b, const char *tenant)
{
    memset(b, 0, sizeof(*b));
    arena_init(&b->arena, 0);
    size_t n = strlen(tenant);
    if (n > TENANT_MAX)
        n = TENANT_MAX;
    memcpy(b->tenant, tenant, n);
    b->tenant[n] = '\0';
}

void push_batch_release(struct push_batch *b)
{
    arena_release(&b->arena);
    memset(b, 0, sizeof(*b));
}

static void index_rebuild(struct push_batch *b, uint32_t cap)
{
    b->index = arena_alloc(&b->arena, cap * sizeof(uint32_t));
    memset(b->index, 0xff, cap * sizeof(uint32_t));
    b->index_cap = cap;
    for (uint32_t i = 0; i < b->n_streams; i++) {
        uint32_t h = (uint32_t)b->streams[i].fp & (cap - 1);
        while (b->index[h] != UINT32_MAX)
            h = (h + 1) & (cap - 1);
        b->index[h] = i;
    }
}

static bool same_labels(const struct stream_batch *s, const struct label *v, uint32_t n)
{
    if (s->n_labels != n)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!slice_eq(s->labels[i].name, v[i].name) || !slice_eq(s->labels[i].value, v[i].value))
            return false;
    return true;
}

uint32_t push_batch_stream(struct push_batch *b, const struct label *labels, uint32_t n)
{
    uint64_t fp = labels_fingerprint(labels, n);
    if (b->index_cap < 2 * (b->n_streams + 1))
        index_rebuild(b, b->index_cap ? b->index_cap * 2 : 16);
    uint32_t h = (uint32_t)fp & (b->index_cap - 1);
    while (b->index[h] != UINT32_MAX) {
        struct stream_batch *s = &b->streams[b->index[h]];
        if (s->fp == fp && same_labels(s, labels, n))
            return b->index[h];
        h = (h + 1) & (b->index_cap - 1);
    }
    if (b->n_streams == b->cap_streams) {
        uint32_t cap = b->cap_streams ? b->cap_streams * 2 : 8;
        b->streams = arena_realloc(&b->arena, b->streams, b->cap_streams * sizeof(*b->streams),
                                   cap * sizeof(*b->streams));
        b->cap_streams = cap;
    }
    struct stream_batch *s = &b->streams[b->n_streams];
    memset(s, 0, sizeof(*s));
    s->labels = arena_alloc(&b->arena, (n ? n : 1) * sizeof(*labels));
    if (n)
        memcpy(s->labels, labels, n * sizeof(*labels));
    s->n_labels = n;
    s->fp = fp;
    struct buf k;
    buf_init(&k, BUF_UNLIMITED);
    if (labels_format(&k, labels, n) == 0)
        s->key = arena_slice_dup(&b->arena, buf_slice(&k));
    buf_release(&k);
    b->index[h] = b->n_streams;
    return b->n_streams++;
}

void push_batch_add(struct push_batch *b, uint32_t si, int64_t ts, struct slice line,
                    struct label *meta, uint32_t n_meta)
{
    struct stream_batch *s = &b->streams[si];
    if (s->n_entries == s->cap_entries) {
        uint32_t cap = s->cap_entries ? s->cap_entries * 2 : 16;
        s->entries = arena_realloc(&b->arena, s->entries, s->cap_entries * sizeof(*s->entries),
                                   cap * sizeof(*s->entries));
        s->cap_entries = cap;
    }
    s->entries[s->n_entries++] = (struct entry){ts, line, meta, n_meta};
    b->n_entries++;
    b->n_bytes += line.len;
}

void push_batch_filter(struct push_batch *b,
                       bool (*keep)(const struct stream_batch *, const struct entry *, void *),
                       void *arg)
{
    uint32_t out_s = 0;
    b->n_entries = b->n_bytes = 0;
    for (uint32_t i = 0; i < b->n_streams; i++) {
        struct stream_batch *s = &b->streams[i];
        uint32_t out_e = 0;
        for (uint32_t j = 0; j < s->n_entries; j++)
            if (keep(s, &s->entries[j], arg)) {
                b->n_bytes += s->entries[j].line.len;
                s->entries[out_e++] = s->entries[j];
            }
        s->n_entries = out_e;
        b->n_entries += out_e;
        if (out_e)
            b->streams[out_s++] = *s;
    }
    b->n_streams = out_s;
    index_rebuild(b, b->index_cap ? b->index_cap : 16);
}

bool tenant_valid(const char *s, size_t n)
{
    if (n == 0 || n > TENANT_MAX)
        return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("!-_.*'()", c) != NULL;
        if (!ok || c == '\0')
            return false;
    }
    return true;
}

void push_result_init(struct push_result *r)
{
    memset(r, 0, sizeof(*r));
}

void push_result_reject(struct push_result *r, struct push_batch *b, uint32_t si, int64_t ts,
                        int rc, const char *fmt, ...)
{
    if (r->n_rejected == r->cap_rejected) {
        uint32_t cap = r->cap_rejected ? r->cap_rejected * 2 : 8;
        r->rejected = arena_realloc(&b->arena, r->rejected, r->cap_rejected * sizeof(*r->rejected),
                                    cap * sizeof(*r->rejected));
        r->cap_rejected = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    r->rejected[r->n_rejected++] =
        (struct push_rejection){si, ts, rc, arena_strdup(&b->arena, tmp)};
    r->last_rc = rc;
}

void push_result_error(struct push_result *r, struct push_batch *b, int rc, const char *fmt, ...)
{
    /* Messages quote labels (up to a few KiB, as Loki's do); longer ones are cut. */
    enum { MAX_MESSAGE = 16 * 1024 };
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t cap = n < 0 ? 1 : (size_t)n + 1 > MAX_MESSAGE ? MAX_MESSAGE : (size_t)n + 1;
    char *msg = arena_alloc(&b->arena, cap);
    vsnprintf(msg, cap, fmt, ap2);
    va_end(ap2);
    r->error = msg;
    r->error_rc = rc;
}
