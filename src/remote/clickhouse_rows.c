#include "remote/clickhouse_rows.h"

#include <string.h>

#include "core/err.h"
#include "remote/clickhouse_rowbinary.h"

struct label clickhouse_logthra_label(struct slice kv)
{
    const char *colon = kv.len ? memchr(kv.ptr, ':', kv.len) : NULL;
    if (!colon)
        return (struct label){kv, slice_make("", 0)};
    size_t k = (size_t)(colon - kv.ptr);
    return (struct label){slice_make(kv.ptr, k), slice_make(colon + 1, kv.len - k - 1)};
}

/*
 * Every decoder walks the answer twice: once to count and validate the rows
 * (fill false: nothing is allocated), once to fill arrays of exactly that
 * size. A row function returns 0 or STRATA_ECORRUPT.
 */
struct ctx {
    enum clickhouse_layout layout;
    bool lines;
    struct arena *a;
    bool fill;  /* the second pass */
    uint32_t n; /* rows found by the first pass */
    struct clickhouse_stream_row *streams;
    struct clickhouse_entry_rows *entries;
    struct clickhouse_count_rows *counts;
    uint64_t *keys;
    struct slice *strings;
    struct buf meta; /* scratch for labels_encode */
};

typedef int (*row_fn)(struct rowbinary_reader *r, struct ctx *c, uint32_t i);

static int walk(struct slice data, row_fn fn, struct ctx *c, uint32_t *n)
{
    struct rowbinary_reader r;
    rowbinary_reader_init(&r, data);
    uint32_t i = 0;
    while (!rowbinary_done(&r)) {
        if (i == UINT32_MAX || (c->fill && i == c->n))
            return STRATA_ECORRUPT;
        int rc = fn(&r, c, i);
        if (rc)
            return rc;
        i++;
    }
    *n = i;
    return r.rc;
}

static int decode(struct slice data, row_fn fn, struct ctx *c, void (*alloc)(struct ctx *c))
{
    uint32_t n = 0;
    int rc = walk(data, fn, c, &n);
    if (rc)
        return rc;
    c->n = n;
    alloc(c);
    c->fill = true;
    buf_init(&c->meta, BUF_UNLIMITED);
    rc = walk(data, fn, c, &n);
    buf_release(&c->meta);
    return rc ? rc : (n == c->n ? 0 : STRATA_ECORRUPT);
}

/* An Array(String): its length, and its elements in *out when filling. */
static uint64_t string_array(struct rowbinary_reader *r, struct ctx *c, struct slice **out)
{
    uint64_t n = rowbinary_len(r);
    struct slice *v = c->fill && n ? arena_alloc(c->a, n * sizeof(*v)) : NULL;
    for (uint64_t i = 0; i < n && !r->rc; i++) {
        struct slice s = rowbinary_string(r);
        if (v)
            v[i] = s;
    }
    *out = v;
    return r->rc ? 0 : n;
}

/* Sort, drop repeated names (the first after sorting stays), and describe the set. */
static void finish_stream(struct clickhouse_stream_row *s, struct arena *a)
{
    labels_sort(s->labels, s->n_labels);
    uint32_t w = 0;
    for (uint32_t i = 0; i < s->n_labels; i++)
        if (w == 0 || !slice_eq(s->labels[w - 1].name, s->labels[i].name))
            s->labels[w++] = s->labels[i];
    s->n_labels = w;
    s->fp = labels_fingerprint(s->labels, s->n_labels);
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    if (labels_format(&b, s->labels, s->n_labels) == 0)
        s->key = arena_slice_dup(a, buf_slice(&b));
    buf_release(&b);
}

/* ---- streams --------------------------------------------------------------- */

static void streams_alloc(struct ctx *c)
{
    c->streams = arena_calloc(c->a, c->n ? c->n : 1, sizeof(*c->streams));
}

static int stream_row(struct rowbinary_reader *r, struct ctx *c, uint32_t i)
{
    bool strata = c->layout == CLICKHOUSE_LAYOUT_STRATA;
    uint64_t sk = rowbinary_u64(r);
    struct slice *names, *values = NULL;
    uint64_t n_names, n_values = 0;
    if (strata) {
        (void)rowbinary_string(r); /* the canonical text: rebuilt from the arrays */
        n_names = string_array(r, c, &names);
        n_values = string_array(r, c, &values);
    } else {
        n_names = string_array(r, c, &names);
    }
    if (r->rc)
        return r->rc;
    if (strata && n_names != n_values)
        return STRATA_ECORRUPT;
    if (!c->fill)
        return 0;
    struct clickhouse_stream_row *s = &c->streams[i];
    s->sk = sk;
    s->n_labels = (uint32_t)n_names;
    s->labels = arena_alloc(c->a, (n_names ? n_names : 1) * sizeof(struct label));
    for (uint64_t k = 0; k < n_names; k++)
        s->labels[k] =
            strata ? (struct label){names[k], values[k]} : clickhouse_logthra_label(names[k]);
    finish_stream(s, c->a);
    if (strata)
        s->fp = sk; /* the stored fingerprint is the stream's identity */
    return 0;
}

int clickhouse_decode_streams(enum clickhouse_layout layout, struct slice data, struct arena *a,
                              struct clickhouse_stream_row **out, uint32_t *n)
{
    struct ctx c = {.layout = layout, .a = a};
    int rc = decode(data, stream_row, &c, streams_alloc);
    *out = c.streams;
    *n = rc ? 0 : c.n;
    return rc;
}

/* ---- entries --------------------------------------------------------------- */

/* Structured metadata of row i from its two arrays, in labels_encode form (fill pass only). */
static int put_meta(struct ctx *c, struct slice **meta, uint32_t i, const struct slice *keys,
                    const struct slice *values, uint64_t n)
{
    if (!*meta)
        *meta = arena_calloc(c->a, c->n, sizeof(**meta));
    struct label *v = arena_alloc(c->a, n * sizeof(*v));
    for (uint64_t k = 0; k < n; k++)
        v[k] = (struct label){keys[k], values[k]};
    buf_reset(&c->meta);
    if (labels_encode(&c->meta, v, (uint32_t)n) < 0)
        return STRATA_ECORRUPT;
    (*meta)[i] = arena_slice_dup(c->a, buf_slice(&c->meta));
    return 0;
}

static void entries_alloc(struct ctx *c)
{
    struct clickhouse_entry_rows *o = c->entries;
    size_t m = c->n ? c->n : 1;
    o->sk = arena_alloc(c->a, m * sizeof(*o->sk));
    o->ts = arena_alloc(c->a, m * sizeof(*o->ts));
    o->insert_id = arena_calloc(c->a, m, sizeof(*o->insert_id));
    o->seq = arena_calloc(c->a, m, sizeof(*o->seq));
    o->sizes = arena_alloc(c->a, m * sizeof(*o->sizes));
    o->lines = c->lines ? arena_alloc(c->a, m * sizeof(*o->lines)) : NULL;
    o->meta = NULL;
}

static int entry_row(struct rowbinary_reader *r, struct ctx *c, uint32_t i)
{
    bool strata = c->layout == CLICKHOUSE_LAYOUT_STRATA;
    uint64_t sk = rowbinary_u64(r);
    int64_t ts;
    uint64_t insert_id = 0;
    uint32_t seq = 0;
    if (strata) {
        ts = rowbinary_i64(r);
        insert_id = rowbinary_u64(r);
        seq = rowbinary_u32(r);
    } else {
        ts = (int64_t)rowbinary_u16(r) * (86400 * INT64_C(1000000000));
    }
    uint64_t size = rowbinary_u64(r);
    struct slice line = {"", 0};
    struct slice *keys = NULL, *values = NULL;
    uint64_t n_keys = 0, n_values = 0;
    if (c->lines) {
        line = rowbinary_string(r);
        if (strata) {
            n_keys = string_array(r, c, &keys);
            n_values = string_array(r, c, &values);
        }
    }
    if (r->rc)
        return r->rc;
    if (n_keys != n_values || size > UINT32_MAX || (c->lines && size != line.len))
        return STRATA_ECORRUPT;
    if (!c->fill)
        return 0;
    struct clickhouse_entry_rows *o = c->entries;
    o->sk[i] = sk;
    o->ts[i] = ts;
    o->insert_id[i] = insert_id;
    o->seq[i] = seq;
    o->sizes[i] = (uint32_t)size;
    if (o->lines)
        o->lines[i] = line;
    return n_keys ? put_meta(c, &o->meta, i, keys, values, n_keys) : 0;
}

int clickhouse_decode_entries(enum clickhouse_layout layout, bool with_lines, struct slice data,
                              struct arena *a, struct clickhouse_entry_rows *out)
{
    memset(out, 0, sizeof(*out));
    struct ctx c = {.layout = layout, .lines = with_lines, .a = a, .entries = out};
    int rc = decode(data, entry_row, &c, entries_alloc);
    out->n = rc ? 0 : c.n;
    return rc;
}

/* ---- counts, keys, strings ------------------------------------------------- */

static void counts_alloc(struct ctx *c)
{
    size_t m = c->n ? c->n : 1;
    c->counts->sk = arena_alloc(c->a, m * sizeof(uint64_t));
    c->counts->bucket = arena_alloc(c->a, m * sizeof(uint32_t));
    c->counts->count = arena_alloc(c->a, m * sizeof(uint64_t));
    c->counts->bytes = arena_alloc(c->a, m * sizeof(uint64_t));
    c->counts->meta = NULL;
}

static int count_row(struct rowbinary_reader *r, struct ctx *c, uint32_t i)
{
    uint64_t sk = rowbinary_u64(r);
    uint32_t bucket = rowbinary_u32(r);
    uint64_t count = rowbinary_u64(r);
    uint64_t bytes = rowbinary_u64(r);
    struct slice *keys = NULL, *values = NULL;
    uint64_t n_keys = 0, n_values = 0;
    if (c->lines) { /* with metadata */
        n_keys = string_array(r, c, &keys);
        n_values = string_array(r, c, &values);
    }
    if (r->rc)
        return r->rc;
    if (n_keys != n_values)
        return STRATA_ECORRUPT;
    if (!c->fill)
        return 0;
    c->counts->sk[i] = sk;
    c->counts->bucket[i] = bucket;
    c->counts->count[i] = count;
    c->counts->bytes[i] = bytes;
    return n_keys ? put_meta(c, &c->counts->meta, i, keys, values, n_keys) : 0;
}

int clickhouse_decode_counts(bool with_meta, struct slice data, struct arena *a,
                             struct clickhouse_count_rows *out)
{
    memset(out, 0, sizeof(*out));
    struct ctx c = {.lines = with_meta, .a = a, .counts = out};
    int rc = decode(data, count_row, &c, counts_alloc);
    out->n = rc ? 0 : c.n;
    return rc;
}

static void keys_alloc(struct ctx *c)
{
    c->keys = arena_alloc(c->a, (c->n ? c->n : 1) * sizeof(uint64_t));
}

static int key_row(struct rowbinary_reader *r, struct ctx *c, uint32_t i)
{
    uint64_t v = rowbinary_u64(r);
    if (!r->rc && c->fill)
        c->keys[i] = v;
    return r->rc;
}

int clickhouse_decode_keys(struct slice data, struct arena *a, uint64_t **out, uint32_t *n)
{
    struct ctx c = {.a = a};
    int rc = decode(data, key_row, &c, keys_alloc);
    *out = c.keys;
    *n = rc ? 0 : c.n;
    return rc;
}

static void strings_alloc(struct ctx *c)
{
    c->strings = arena_alloc(c->a, (c->n ? c->n : 1) * sizeof(struct slice));
}

static int string_row(struct rowbinary_reader *r, struct ctx *c, uint32_t i)
{
    struct slice s = rowbinary_string(r);
    if (!r->rc && c->fill)
        c->strings[i] = s;
    return r->rc;
}

int clickhouse_decode_strings(struct slice data, struct arena *a, struct slice **out, uint32_t *n)
{
    struct ctx c = {.a = a};
    int rc = decode(data, string_row, &c, strings_alloc);
    *out = c.strings;
    *n = rc ? 0 : c.n;
    return rc;
}
