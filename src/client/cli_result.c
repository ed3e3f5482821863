#include "client/cli_result.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "ingest/labels.h"

#define MAX_DEPTH 64

/* ---- a growable array (freed by the caller) ---- */

struct vec {
    void *p;
    size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->p = xreallocarray(v->p, v->cap, v->size);
    }
    void *slot = (char *)v->p + v->n++ * v->size;
    memset(slot, 0, v->size);
    return slot;
}

#define VEC(type)                \
    {                            \
        NULL, 0, 0, sizeof(type) \
    }
#define AT(v, type, i) (((type *)(v).p)[i])

/* ---- decoding ---- */

struct doc {
    struct json_reader r;
    struct arena a;
    char *err;
    size_t errlen;
    /* what was read */
    struct vec streams; /* struct stream */
    struct vec rows;    /* struct row */
    struct vec series;  /* struct series */
    struct vec points;  /* struct point */
    struct vec strings; /* struct slice: label names, values */
    size_t dropped;
};

struct stream {
    struct label *labels;
    uint32_t n;
    struct slice fmt; /* {a="1", b="2"} */
};

struct row {
    int64_t ts;
    size_t stream, seq;
    struct slice line;
};

/* A metric series, a LogsGO series (service/level/message), or a /series label set. */
struct series {
    struct stream s;
    struct slice service, level, message;
    size_t first, n_points;
};

struct point {
    struct slice t_raw; /* the time as the server wrote it (a number) */
    int64_t t_ms;       /* for sorting and formatting */
    struct slice value; /* a sample's value (a string), or a LogsGO count */
};

__attribute__((format(printf, 2, 3))) static int bad(struct doc *d, const char *fmt, ...)
{
    char tmp[160];
    const char *jerr = json_reader_error(&d->r, tmp, sizeof(tmp));
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(d->err, d->errlen, "unexpected answer from the server: %s%s%s", what, jerr ? ": " : "",
             jerr ? jerr : "");
    return STRATA_EPARSE;
}

static int read_str(struct doc *d, struct slice *out, const char *what)
{
    if (json_peek(&d->r) != JSON_STRING)
        return bad(d, "%s is not a string", what);
    return json_read_string(&d->r, &d->a, out) ? bad(d, "%s", what) : 0;
}

/* Every array and object is read through these two: elem/member read one item. */
typedef int (*elem_fn)(struct doc *d, void *ctx);
typedef int (*member_fn)(struct doc *d, void *ctx, struct slice key);

/* An array (null counts as empty when allow_null), elem called for each element. */
static int read_array(struct doc *d, bool allow_null, const char *what, elem_fn elem, void *ctx)
{
    if (allow_null && json_peek(&d->r) == JSON_NULL)
        return json_read_null(&d->r) ? bad(d, "%s", what) : 0;
    if (json_enter_array(&d->r))
        return bad(d, "%s is not an array", what);
    int rc;
    while ((rc = json_next_elem(&d->r)) > 0)
        if (elem(d, ctx))
            return STRATA_EPARSE;
    return rc < 0 ? bad(d, "%s", what) : 0;
}

/* An object, member called for each key (it reads or skips the value). */
static int read_object(struct doc *d, const char *what, member_fn member, void *ctx)
{
    if (json_enter_object(&d->r))
        return bad(d, "%s is not an object", what);
    struct slice k;
    int rc;
    while ((rc = json_next_key(&d->r, &d->a, &k)) > 0)
        if (member(d, ctx, k))
            return STRATA_EPARSE;
    return rc < 0 ? bad(d, "%s", what) : 0;
}

static int skip(struct doc *d, const char *what)
{
    return json_skip(&d->r) ? bad(d, "%s", what) : 0;
}

static int label_member(struct doc *d, void *ctx, struct slice key)
{
    struct label *l = vec_push(ctx);
    l->name = key;
    return read_str(d, &l->value, "a label's value");
}

/* A JSON object of string values (null allowed when allow_null) as a sorted label set. */
static int read_labels(struct doc *d, bool allow_null, struct stream *s, const char *what)
{
    memset(s, 0, sizeof(*s));
    struct vec v = VEC(struct label);
    int rc = 0;
    if (!allow_null || json_peek(&d->r) != JSON_NULL)
        rc = read_object(d, what, label_member, &v);
    else if (json_read_null(&d->r))
        rc = bad(d, "%s", what);
    if (!rc) {
        s->n = (uint32_t)v.n;
        s->labels = arena_alloc(&d->a, (v.n ? v.n : 1) * sizeof(struct label));
        if (v.n)
            memcpy(s->labels, v.p, v.n * sizeof(struct label));
        labels_sort(s->labels, s->n);
        struct buf b;
        buf_init(&b, BUF_UNLIMITED);
        rc = labels_format(&b, s->labels, s->n);
        s->fmt = arena_slice_dup(&d->a, buf_slice(&b));
        buf_release(&b);
    }
    free(v.p);
    return rc;
}

/* [<ns string>, <line string>, {optional metadata}] of stream *(size_t *)ctx */
static int entry_elem(struct doc *d, void *ctx)
{
    if (json_enter_array(&d->r) || json_next_elem(&d->r) != 1)
        return bad(d, "an entry is not [time, line]");
    struct slice ts, line;
    struct row *row = vec_push(&d->rows);
    if (read_str(d, &ts, "an entry's time") || clock_parse_int64(ts, &row->ts))
        return bad(d, "an entry's time is not a number of nanoseconds");
    if (json_next_elem(&d->r) != 1 || read_str(d, &line, "an entry's line"))
        return bad(d, "an entry has no line");
    row->line = line;
    row->stream = *(size_t *)ctx;
    row->seq = d->rows.n;
    int rc = json_next_elem(&d->r);
    if (rc == 1) /* structured metadata and parsed labels (categorize-labels): not shown */
        rc = json_skip(&d->r) || json_next_elem(&d->r) != 0 ? -1 : 0;
    return rc ? bad(d, "an entry is not [time, line, {metadata}]") : 0;
}

struct stream_ctx {
    size_t si;
    bool have_labels;
};

static int stream_member(struct doc *d, void *ctx, struct slice key)
{
    struct stream_ctx *c = ctx;
    if (slice_eq_str(key, "stream")) {
        c->have_labels = true;
        struct stream tmp;
        if (read_labels(d, false, &tmp, "a stream's labels"))
            return STRATA_EPARSE;
        AT(d->streams, struct stream, c->si) = tmp;
        return 0;
    }
    if (slice_eq_str(key, "values"))
        return read_array(d, true, "a stream's values", entry_elem, &c->si);
    return skip(d, "a stream");
}

static int stream_elem(struct doc *d, void *ctx)
{
    (void)ctx;
    struct stream_ctx c = {d->streams.n, false};
    vec_push(&d->streams);
    if (read_object(d, "a stream", stream_member, &c))
        return STRATA_EPARSE;
    return c.have_labels ? 0 : bad(d, "a stream without labels");
}

/* [<seconds number>, "<value>"] */
static int read_sample(struct doc *d, struct point *p)
{
    if (json_enter_array(&d->r) || json_next_elem(&d->r) != 1 ||
        json_read_number_raw(&d->r, &p->t_raw))
        return bad(d, "a sample is not [time, \"value\"]");
    char *t = arena_slice_str(&d->a, p->t_raw);
    char *end;
    double secs = strtod(t, &end);
    if (*end || !isfinite(secs) || fabs(secs) > 9e9)
        return bad(d, "a sample's time is out of range");
    p->t_ms = llround(secs * 1000);
    if (json_next_elem(&d->r) != 1 || read_str(d, &p->value, "a sample's value") ||
        json_next_elem(&d->r) != 0)
        return bad(d, "a sample is not [time, \"value\"]");
    return 0;
}

static int sample_elem(struct doc *d, void *ctx)
{
    (void)ctx;
    struct point p;
    if (read_sample(d, &p))
        return STRATA_EPARSE;
    *(struct point *)vec_push(&d->points) = p;
    return 0;
}

/* A series being read: its index and what its points are called. */
struct series_ctx {
    size_t si;
    bool matrix;
};

static struct series *series_at(struct doc *d, size_t si)
{
    return &AT(d->series, struct series, si);
}

/* Matrix ("values") and vector ("value") series: {"metric":{...},"values":[...]} */
static int sample_series_member(struct doc *d, void *ctx, struct slice key)
{
    struct series_ctx *c = ctx;
    if (slice_eq_str(key, "metric")) {
        struct stream tmp;
        if (read_labels(d, true, &tmp, "a series' labels"))
            return STRATA_EPARSE;
        series_at(d, c->si)->s = tmp;
        return 0;
    }
    if (c->matrix && slice_eq_str(key, "values"))
        return read_array(d, false, "a series' values", sample_elem, NULL);
    if (!c->matrix && slice_eq_str(key, "value"))
        return sample_elem(d, NULL);
    return skip(d, "a series");
}

static int point_member(struct doc *d, void *ctx, struct slice key)
{
    struct point *p = ctx;
    if (!slice_eq_str(key, "Timestamp") && !slice_eq_str(key, "Count"))
        return skip(d, "a point");
    int64_t v;
    struct slice raw;
    if (json_read_number_raw(&d->r, &raw) || clock_parse_int64(raw, &v))
        return bad(d, "a point's %.*s is not an integer", (int)key.len, key.ptr);
    if (slice_eq_str(key, "Count")) {
        p->value = raw;
    } else if (v > INT64_MAX / 1000 || v < INT64_MIN / 1000) {
        return bad(d, "a point's Timestamp is out of range");
    } else {
        p->t_raw = raw;
        p->t_ms = v * 1000;
    }
    return 0;
}

static int point_elem(struct doc *d, void *ctx)
{
    (void)ctx;
    struct point p = {{"0", 1}, 0, {"0", 1}};
    if (read_object(d, "a point", point_member, &p))
        return STRATA_EPARSE;
    *(struct point *)vec_push(&d->points) = p;
    return 0;
}

/* LogsGO: {"Service","Level","Message","Labels":{...}|null,"Points":[{"Timestamp","Count"}]} */
static int logsgo_member(struct doc *d, void *ctx, struct slice key)
{
    size_t si = ((struct series_ctx *)ctx)->si;
    if (slice_eq_str(key, "Service"))
        return read_str(d, &series_at(d, si)->service, "Service");
    if (slice_eq_str(key, "Level"))
        return read_str(d, &series_at(d, si)->level, "Level");
    if (slice_eq_str(key, "Message"))
        return read_str(d, &series_at(d, si)->message, "Message");
    if (slice_eq_str(key, "Labels")) {
        struct stream tmp;
        if (read_labels(d, true, &tmp, "Labels"))
            return STRATA_EPARSE;
        series_at(d, si)->s = tmp;
        return 0;
    }
    if (slice_eq_str(key, "Points"))
        return read_array(d, true, "Points", point_elem, NULL);
    return skip(d, "a series");
}

/* What a series of a result looks like: the reader of its members, and matrix or not. */
struct series_kind {
    member_fn member;
    bool matrix;
};
static const struct series_kind matrix_series = {sample_series_member, true};
static const struct series_kind vector_series = {sample_series_member, false};
static const struct series_kind logsgo_series = {logsgo_member, false};

static int series_elem(struct doc *d, void *ctx)
{
    const struct series_kind *k = ctx;
    struct series_ctx c = {d->series.n, k->matrix};
    vec_push(&d->series);
    series_at(d, c.si)->first = d->points.n;
    series_at(d, c.si)->s.fmt = SLICE_LIT("{}");
    if (read_object(d, "a series", k->member, &c))
        return STRATA_EPARSE;
    series_at(d, c.si)->n_points = d->points.n - series_at(d, c.si)->first;
    return 0;
}

static int name_elem(struct doc *d, void *ctx)
{
    (void)ctx;
    return read_str(d, vec_push(&d->strings), "a name");
}

static int label_set_elem(struct doc *d, void *ctx)
{
    (void)ctx;
    struct stream tmp;
    if (read_labels(d, false, &tmp, "a label set"))
        return STRATA_EPARSE;
    ((struct series *)vec_push(&d->series))->s = tmp;
    return 0;
}

/* /index/stats: {"streams":N,...}, kept in order as name/number pairs in d->strings. */
static int stats_member(struct doc *d, void *ctx, struct slice key)
{
    (void)ctx;
    struct slice v;
    if (json_peek(&d->r) != JSON_NUMBER || json_read_number_raw(&d->r, &v))
        return bad(d, "\"%.*s\" is not a number", (int)key.len, key.ptr);
    *(struct slice *)vec_push(&d->strings) = key;
    *(struct slice *)vec_push(&d->strings) = v;
    return 0;
}

enum rtype { RT_NONE, RT_STREAMS, RT_MATRIX, RT_VECTOR, RT_SCALAR };

static int read_result(struct doc *d, enum rtype t)
{
    switch (t) {
    case RT_STREAMS: return read_array(d, false, "the result", stream_elem, NULL);
    case RT_MATRIX: return read_array(d, false, "the result", series_elem, (void *)&matrix_series);
    case RT_VECTOR: return read_array(d, false, "the result", series_elem, (void *)&vector_series);
    case RT_SCALAR:
        vec_push(&d->series);
        series_at(d, 0)->s.fmt = SLICE_LIT("{}");
        series_at(d, 0)->n_points = 1;
        return sample_elem(d, NULL);
    default: return bad(d, "no resultType before the result");
    }
}

/* The envelope's data for a query: {"resultType":"...","result":...}, in either order. */
struct data_ctx {
    enum rtype type;
    bool pending;
    struct json_reader later; /* the result, when it came before its type */
};

static int data_member(struct doc *d, void *ctx, struct slice key)
{
    struct data_ctx *c = ctx;
    if (slice_eq_str(key, "resultType")) {
        struct slice t;
        if (read_str(d, &t, "resultType"))
            return STRATA_EPARSE;
        c->type = slice_eq_str(t, "streams")  ? RT_STREAMS
                  : slice_eq_str(t, "matrix") ? RT_MATRIX
                  : slice_eq_str(t, "vector") ? RT_VECTOR
                  : slice_eq_str(t, "scalar") ? RT_SCALAR
                                              : RT_NONE;
        return c->type == RT_NONE
                   ? bad(d, "unknown resultType \"%.*s\"", (int)(t.len > 40 ? 40 : t.len), t.ptr)
                   : 0;
    }
    if (!slice_eq_str(key, "result"))
        return skip(d, "data");
    if (c->type != RT_NONE)
        return read_result(d, c->type);
    c->later = d->r;
    c->pending = true;
    return skip(d, "result");
}

struct envelope_ctx {
    enum result_kind kind;
    struct data_ctx data;
    bool have_data;
};

/* The Loki envelope: {"status":"success","data":...}. */
static int envelope_member(struct doc *d, void *ctx, struct slice key)
{
    struct envelope_ctx *c = ctx;
    if (slice_eq_str(key, "status")) {
        struct slice st;
        if (read_str(d, &st, "status"))
            return STRATA_EPARSE;
        return slice_eq_str(st, "success")
                   ? 0
                   : bad(d, "status \"%.*s\"", (int)(st.len > 40 ? 40 : st.len), st.ptr);
    }
    if (!slice_eq_str(key, "data"))
        return skip(d, "the answer");
    c->have_data = true;
    if (c->kind == RES_LABELS)
        return read_array(d, true, "data", name_elem, NULL);
    if (c->kind == RES_SERIES)
        return read_array(d, true, "data", label_set_elem, NULL);
    if (read_object(d, "data", data_member, &c->data))
        return STRATA_EPARSE;
    if (c->data.pending) {
        struct json_reader resume = d->r;
        d->r = c->data.later;
        int rc = read_result(d, c->data.type);
        d->r = resume;
        if (rc)
            return STRATA_EPARSE;
    }
    return c->data.type == RT_NONE ? bad(d, "no result") : 0;
}

static int read_envelope(struct doc *d, enum result_kind kind, enum rtype *type)
{
    struct envelope_ctx c = {kind, {RT_NONE, false, d->r}, false};
    if (read_object(d, "the answer", envelope_member, &c))
        return STRATA_EPARSE;
    *type = c.data.type;
    return c.have_data ? 0 : bad(d, "no data");
}

static int dropped_elem(struct doc *d, void *ctx)
{
    (void)ctx;
    d->dropped++;
    return skip(d, "dropped_entries");
}

/* A tail message: {"streams":[...],"dropped_entries":[...]} */
static int tail_member(struct doc *d, void *ctx, struct slice key)
{
    (void)ctx;
    if (slice_eq_str(key, "streams"))
        return read_array(d, true, "streams", stream_elem, NULL);
    if (slice_eq_str(key, "dropped_entries"))
        return read_array(d, true, "dropped_entries", dropped_elem, NULL);
    return skip(d, "the message");
}

/* ---- printing ---- */

static int cmp_rows_fwd(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_rows_bwd(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int put_time(struct buf *o, int64_t ns)
{
    char t[40];
    size_t n = clock_format_rfc3339(ns, t);
    return buf_append(o, t, n);
}

static void jw_labels(struct json_writer *w, const struct stream *s)
{
    jw_object_begin(w);
    for (uint32_t i = 0; i < s->n; i++) {
        jw_key_slice(w, s->labels[i].name);
        jw_string_slice(w, s->labels[i].value);
    }
    jw_object_end(w);
}

/* Append s then spaces up to width, or a tab in raw form. */
static int cell(struct buf *o, struct slice s, size_t width, bool last)
{
    int rc = buf_append(o, s.ptr, s.len);
    if (last)
        return rc ? rc : buf_append_char(o, '\n');
    for (size_t i = s.len; i < width + 2 && !rc; i++)
        rc = buf_append_char(o, ' ');
    return rc;
}

static int print_rows(struct doc *d, enum out_format fmt, bool backward, struct buf *o)
{
    if (d->rows.n > 1)
        qsort(d->rows.p, d->rows.n, sizeof(struct row), backward ? cmp_rows_bwd : cmp_rows_fwd);
    int rc = 0;
    for (size_t i = 0; i < d->rows.n && !rc; i++) {
        const struct row *r = &AT(d->rows, struct row, i);
        const struct stream *s = &AT(d->streams, struct stream, r->stream);
        if (fmt == OUT_RAW) {
            rc = buf_append(o, r->line.ptr, r->line.len);
        } else if (fmt == OUT_TEXT) {
            rc = put_time(o, r->ts);
            if (!rc)
                rc = buf_append_char(o, ' ');
            if (!rc)
                rc = buf_append(o, s->fmt.ptr, s->fmt.len);
            if (!rc)
                rc = buf_append_char(o, ' ');
            if (!rc)
                rc = buf_append(o, r->line.ptr, r->line.len);
        } else {
            char t[40];
            clock_format_rfc3339(r->ts, t);
            struct json_writer w;
            json_writer_init(&w, o);
            jw_object_begin(&w);
            jw_key(&w, "labels");
            jw_labels(&w, s);
            jw_key(&w, "line");
            jw_string_slice(&w, r->line);
            jw_key(&w, "timestamp");
            jw_string(&w, t);
            jw_object_end(&w);
            rc = w.rc;
        }
        if (!rc)
            rc = buf_append_char(o, '\n');
    }
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static struct slice time_text(struct doc *d, int64_t ms)
{
    char t[40];
    size_t n = clock_format_rfc3339(ms * NS_PER_MS, t);
    return arena_slice_dup(&d->a, slice_make(t, n));
}

/* A matrix as a table: TIME, then one column per series; a missing step is blank. */
static int print_matrix_table(struct doc *d, struct buf *o)
{
    size_t ns = d->series.n;
    int64_t *times = xmallocarray(d->points.n ? d->points.n : 1, sizeof(*times));
    for (size_t i = 0; i < d->points.n; i++)
        times[i] = AT(d->points, struct point, i).t_ms;
    if (d->points.n > 1)
        qsort(times, d->points.n, sizeof(*times), cmp_i64);
    size_t nt = 0;
    for (size_t i = 0; i < d->points.n; i++)
        if (!nt || times[nt - 1] != times[i])
            times[nt++] = times[i];
    size_t *width = xcalloc(ns + 1, sizeof(*width));
    size_t *cursor = xcalloc(ns + 1, sizeof(*cursor));
    width[0] = 4; /* TIME */
    for (size_t t = 0; t < nt; t++) {
        size_t l = time_text(d, times[t]).len;
        if (l > width[0])
            width[0] = l;
    }
    for (size_t s = 0; s < ns; s++) {
        const struct series *se = &AT(d->series, struct series, s);
        width[s + 1] = se->s.fmt.len;
        for (size_t p = 0; p < se->n_points; p++) {
            size_t l = AT(d->points, struct point, se->first + p).value.len;
            if (l > width[s + 1])
                width[s + 1] = l;
        }
    }
    int rc = cell(o, SLICE_LIT("TIME"), width[0], ns == 0);
    for (size_t s = 0; s < ns && !rc; s++)
        rc = cell(o, AT(d->series, struct series, s).s.fmt, width[s + 1], s + 1 == ns);
    for (size_t t = 0; t < nt && !rc; t++) {
        rc = cell(o, time_text(d, times[t]), width[0], ns == 0);
        for (size_t s = 0; s < ns && !rc; s++) {
            const struct series *se = &AT(d->series, struct series, s);
            struct slice v = SLICE_LIT("");
            /* Points of a series are in time order: advance its cursor to this row's time. */
            while (cursor[s] < se->n_points &&
                   AT(d->points, struct point, se->first + cursor[s]).t_ms < times[t])
                cursor[s]++;
            if (cursor[s] < se->n_points &&
                AT(d->points, struct point, se->first + cursor[s]).t_ms == times[t])
                v = AT(d->points, struct point, se->first + cursor[s]).value;
            rc = cell(o, v, width[s + 1], s + 1 == ns);
        }
    }
    free(times);
    free(width);
    free(cursor);
    return rc;
}

/* Vector, scalar: TIME VALUE LABELS rows. Raw: labels, time, value tab-separated per sample. */
static int print_samples(struct doc *d, enum rtype type, enum out_format fmt, struct buf *o)
{
    int rc = 0;
    if (fmt == OUT_JSONL) {
        for (size_t s = 0; s < d->series.n && !rc; s++) {
            const struct series *se = &AT(d->series, struct series, s);
            struct json_writer w;
            json_writer_init(&w, o);
            jw_object_begin(&w);
            if (type != RT_SCALAR) {
                jw_key(&w, "metric");
                jw_labels(&w, &se->s);
            }
            jw_key(&w, type == RT_MATRIX ? "values" : "value");
            if (type == RT_MATRIX)
                jw_array_begin(&w);
            for (size_t p = 0; p < se->n_points; p++) {
                const struct point *pt = &AT(d->points, struct point, se->first + p);
                jw_array_begin(&w);
                jw_raw(&w, pt->t_raw.ptr, pt->t_raw.len);
                jw_string_slice(&w, pt->value);
                jw_array_end(&w);
            }
            if (type == RT_MATRIX)
                jw_array_end(&w);
            jw_object_end(&w);
            rc = w.rc ? w.rc : buf_append_char(o, '\n');
        }
        return rc;
    }
    if (fmt == OUT_RAW) {
        for (size_t s = 0; s < d->series.n && !rc; s++) {
            const struct series *se = &AT(d->series, struct series, s);
            for (size_t p = 0; p < se->n_points && !rc; p++) {
                const struct point *pt = &AT(d->points, struct point, se->first + p);
                rc = buf_printf(o, "%.*s\t%.*s\t%.*s\n", (int)se->s.fmt.len, se->s.fmt.ptr,
                                (int)pt->t_raw.len, pt->t_raw.ptr, (int)pt->value.len,
                                pt->value.ptr);
            }
        }
        return rc;
    }
    if (type == RT_MATRIX)
        return print_matrix_table(d, o);
    size_t wt = 4, wv = 5;
    for (size_t i = 0; i < d->points.n; i++) {
        const struct point *pt = &AT(d->points, struct point, i);
        size_t l = time_text(d, pt->t_ms).len;
        wt = l > wt ? l : wt;
        wv = pt->value.len > wv ? pt->value.len : wv;
    }
    bool labels = type != RT_SCALAR;
    rc = cell(o, SLICE_LIT("TIME"), wt, false);
    if (!rc)
        rc = cell(o, SLICE_LIT("VALUE"), wv, !labels);
    if (!rc && labels)
        rc = cell(o, SLICE_LIT("LABELS"), 0, true);
    for (size_t s = 0; s < d->series.n && !rc; s++) {
        const struct series *se = &AT(d->series, struct series, s);
        for (size_t p = 0; p < se->n_points && !rc; p++) {
            const struct point *pt = &AT(d->points, struct point, se->first + p);
            rc = cell(o, time_text(d, pt->t_ms), wt, false);
            if (!rc)
                rc = cell(o, pt->value, wv, !labels);
            if (!rc && labels)
                rc = cell(o, se->s.fmt, 0, true);
        }
    }
    return rc;
}

static int print_logsgo(struct doc *d, enum out_format fmt, struct buf *o)
{
    int rc = 0;
    if (fmt == OUT_JSONL) {
        for (size_t s = 0; s < d->series.n && !rc; s++) {
            const struct series *se = &AT(d->series, struct series, s);
            struct json_writer w;
            json_writer_init(&w, o);
            jw_object_begin(&w);
            jw_key(&w, "Service");
            jw_string_slice(&w, se->service);
            jw_key(&w, "Level");
            jw_string_slice(&w, se->level);
            jw_key(&w, "Message");
            jw_string_slice(&w, se->message);
            jw_key(&w, "Labels");
            jw_labels(&w, &se->s);
            jw_key(&w, "Points");
            jw_array_begin(&w);
            for (size_t p = 0; p < se->n_points; p++) {
                const struct point *pt = &AT(d->points, struct point, se->first + p);
                jw_object_begin(&w);
                jw_key(&w, "Timestamp");
                jw_raw(&w, pt->t_raw.ptr, pt->t_raw.len);
                jw_key(&w, "Count");
                jw_raw(&w, pt->value.ptr, pt->value.len);
                jw_object_end(&w);
            }
            jw_array_end(&w);
            jw_object_end(&w);
            rc = w.rc ? w.rc : buf_append_char(o, '\n');
        }
        return rc;
    }
    bool raw = fmt == OUT_RAW;
    /* Columns: TIME COUNT SERVICE LEVEL LABELS MESSAGE. */
    size_t w[5] = {4, 5, 7, 5, 6};
    for (size_t s = 0; s < d->series.n; s++) {
        const struct series *se = &AT(d->series, struct series, s);
        size_t l[5] = {0, 0, se->service.len, se->level.len, se->s.fmt.len};
        for (size_t p = 0; p < se->n_points; p++) {
            const struct point *pt = &AT(d->points, struct point, se->first + p);
            l[0] = time_text(d, pt->t_ms).len;
            l[1] = pt->value.len;
            for (int i = 0; i < 5; i++)
                w[i] = l[i] > w[i] ? l[i] : w[i];
        }
    }
    if (!raw) {
        static const char *const head[6] = {"TIME",  "COUNT",  "SERVICE",
                                            "LEVEL", "LABELS", "MESSAGE"};
        for (int i = 0; i < 6 && !rc; i++)
            rc = cell(o, slice_from(head[i]), i < 5 ? w[i] : 0, i == 5);
    }
    for (size_t s = 0; s < d->series.n && !rc; s++) {
        const struct series *se = &AT(d->series, struct series, s);
        for (size_t p = 0; p < se->n_points && !rc; p++) {
            const struct point *pt = &AT(d->points, struct point, se->first + p);
            struct slice c[6] = {raw ? pt->t_raw : time_text(d, pt->t_ms),
                                 pt->value,
                                 se->service,
                                 se->level,
                                 se->s.fmt,
                                 se->message};
            for (int i = 0; i < 6 && !rc; i++) {
                if (raw)
                    rc = buf_append(o, c[i].ptr, c[i].len) ||
                         buf_append_char(o, i == 5 ? '\n' : '\t');
                else
                    rc = cell(o, c[i], i < 5 ? w[i] : 0, i == 5);
            }
        }
    }
    return rc ? STRATA_ETOOLARGE : 0;
}

static int print_names(struct doc *d, enum out_format fmt, struct buf *o)
{
    int rc = 0;
    for (size_t i = 0; i < d->strings.n && !rc; i++) {
        struct slice s = AT(d->strings, struct slice, i);
        if (fmt == OUT_JSONL) {
            struct json_writer w;
            json_writer_init(&w, o);
            jw_string_slice(&w, s);
            rc = w.rc;
        } else {
            rc = buf_append(o, s.ptr, s.len);
        }
        if (!rc)
            rc = buf_append_char(o, '\n');
    }
    return rc;
}

static int print_label_sets(struct doc *d, enum out_format fmt, struct buf *o)
{
    int rc = 0;
    for (size_t i = 0; i < d->series.n && !rc; i++) {
        const struct stream *s = &AT(d->series, struct series, i).s;
        if (fmt == OUT_JSONL) {
            struct json_writer w;
            json_writer_init(&w, o);
            jw_labels(&w, s);
            rc = w.rc;
        } else {
            rc = buf_append(o, s->fmt.ptr, s->fmt.len);
        }
        if (!rc)
            rc = buf_append_char(o, '\n');
    }
    return rc;
}

static int print_stats(struct doc *d, enum out_format fmt, struct buf *o)
{
    size_t n = d->strings.n / 2;
    int rc = 0;
    if (fmt == OUT_JSONL) {
        struct json_writer w;
        json_writer_init(&w, o);
        jw_object_begin(&w);
        for (size_t i = 0; i < n; i++) {
            jw_key_slice(&w, AT(d->strings, struct slice, 2 * i));
            struct slice v = AT(d->strings, struct slice, 2 * i + 1);
            jw_raw(&w, v.ptr, v.len);
        }
        jw_object_end(&w);
        return w.rc ? w.rc : buf_append_char(o, '\n');
    }
    for (size_t i = 0; i < n && !rc; i++) {
        struct slice k = AT(d->strings, struct slice, 2 * i);
        struct slice v = AT(d->strings, struct slice, 2 * i + 1);
        if (fmt == OUT_RAW)
            rc = buf_printf(o, "%.*s%c", (int)v.len, v.ptr, i + 1 == n ? '\n' : '\t');
        else
            rc = buf_printf(o, "%.*s: %.*s\n", (int)k.len, k.ptr, (int)v.len, v.ptr);
    }
    return rc;
}

int result_print(enum result_kind kind, struct slice json, enum out_format fmt, bool backward,
                 struct buf *out, struct result_info *info, char *err, size_t errlen)
{
    struct doc d;
    memset(&d, 0, sizeof(d));
    json_reader_init(&d.r, json.ptr, json.len, MAX_DEPTH);
    arena_init(&d.a, 0);
    d.err = err;
    d.errlen = errlen;
    d.streams = (struct vec)VEC(struct stream);
    d.rows = (struct vec)VEC(struct row);
    d.series = (struct vec)VEC(struct series);
    d.points = (struct vec)VEC(struct point);
    d.strings = (struct vec)VEC(struct slice);
    enum rtype type = RT_NONE;
    int rc;
    switch (kind) {
    case RES_QUERY:
    case RES_LABELS:
    case RES_SERIES: rc = read_envelope(&d, kind, &type); break;
    case RES_TAIL:
        rc = read_object(&d, "the message", tail_member, NULL);
        type = RT_STREAMS;
        break;
    case RES_LOGSGO:
        rc = read_array(&d, false, "the result", series_elem, (void *)&logsgo_series);
        break;
    default: rc = read_object(&d, "the answer", stats_member, NULL); break;
    }
    if (!rc && json_finish(&d.r))
        rc = bad(&d, "trailing bytes");
    size_t mark = out->len;
    if (!rc) {
        switch (kind) {
        case RES_QUERY:
        case RES_TAIL:
            rc = type == RT_STREAMS ? print_rows(&d, fmt, backward && kind == RES_QUERY, out)
                                    : print_samples(&d, type, fmt, out);
            break;
        case RES_LOGSGO: rc = print_logsgo(&d, fmt, out); break;
        case RES_LABELS: rc = print_names(&d, fmt, out); break;
        case RES_SERIES: rc = print_label_sets(&d, fmt, out); break;
        default: rc = print_stats(&d, fmt, out); break;
        }
        if (rc) {
            buf_truncate(out, mark);
            strata_errorf(err, errlen, "the output is too large");
            rc = STRATA_ETOOLARGE;
        }
    }
    if (info) {
        info->rows = type == RT_STREAMS   ? d.rows.n
                     : kind == RES_LABELS ? d.strings.n
                     : kind == RES_STATS  ? d.strings.n / 2
                     : d.points.n         ? d.points.n
                                          : d.series.n;
        info->dropped = d.dropped;
    }
    free(d.streams.p);
    free(d.rows.p);
    free(d.series.p);
    free(d.points.p);
    free(d.strings.p);
    arena_release(&d.a);
    return rc;
}
