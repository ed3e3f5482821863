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

/* A JSON object of string values (null allowed when allow_null) as a sorted label set. */
static int read_labels(struct doc *d, bool allow_null, struct stream *s, const char *what)
{
    memset(s, 0, sizeof(*s));
    if (allow_null && json_peek(&d->r) == JSON_NULL) {
        json_read_null(&d->r);
    } else {
        if (json_enter_object(&d->r))
            return bad(d, "%s is not an object", what);
        struct vec v = VEC(struct label);
        struct slice k;
        int rc;
        while ((rc = json_next_key(&d->r, &d->a, &k)) > 0) {
            struct label *l = vec_push(&v);
            l->name = k;
            if (read_str(d, &l->value, what)) {
                free(v.p);
                return STRATA_EPARSE;
            }
        }
        if (rc < 0) {
            free(v.p);
            return bad(d, "%s", what);
        }
        s->n = (uint32_t)v.n;
        s->labels = arena_alloc(&d->a, (v.n ? v.n : 1) * sizeof(struct label));
        if (v.n)
            memcpy(s->labels, v.p, v.n * sizeof(struct label));
        free(v.p);
        labels_sort(s->labels, s->n);
    }
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    int rc = labels_format(&b, s->labels, s->n);
    s->fmt = arena_slice_dup(&d->a, buf_slice(&b));
    buf_release(&b);
    return rc;
}

/* [<ns string>, <line string>, {optional metadata}] */
static int read_entry(struct doc *d, size_t stream)
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
    row->stream = stream;
    row->seq = d->rows.n;
    int rc = json_next_elem(&d->r);
    if (rc == 1) { /* structured metadata and parsed labels (categorize-labels): not shown */
        if (json_skip(&d->r) || json_next_elem(&d->r) != 0)
            return bad(d, "an entry has more than three elements");
    } else if (rc < 0) {
        return bad(d, "an entry");
    }
    return 0;
}

/* [{"stream":{...},"values":[[...],...]},...] */
static int read_streams(struct doc *d)
{
    if (json_enter_array(&d->r))
        return bad(d, "streams is not an array");
    int rc;
    while ((rc = json_next_elem(&d->r)) > 0) {
        if (json_enter_object(&d->r))
            return bad(d, "a stream is not an object");
        size_t si = d->streams.n;
        vec_push(&d->streams);
        bool have_labels = false;
        struct slice k;
        while ((rc = json_next_key(&d->r, &d->a, &k)) > 0) {
            if (slice_eq_str(k, "stream")) {
                struct stream tmp;
                if (read_labels(d, false, &tmp, "a stream's labels"))
                    return STRATA_EPARSE;
                AT(d->streams, struct stream, si) = tmp;
                have_labels = true;
            } else if (slice_eq_str(k, "values")) {
                if (json_peek(&d->r) == JSON_NULL) {
                    json_read_null(&d->r);
                    continue;
                }
                if (json_enter_array(&d->r))
                    return bad(d, "a stream's values are not an array");
                while ((rc = json_next_elem(&d->r)) > 0)
                    if (read_entry(d, si))
                        return STRATA_EPARSE;
                if (rc < 0)
                    return bad(d, "a stream's values");
            } else if (json_skip(&d->r)) {
                return bad(d, "a stream");
            }
        }
        if (rc < 0 || !have_labels)
            return bad(d, "a stream without labels");
    }
    return rc < 0 ? bad(d, "streams") : 0;
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

/* Matrix ("values") and vector ("value") series: [{"metric":{...},"values":[...]}] */
static int read_samples(struct doc *d, bool matrix)
{
    if (json_enter_array(&d->r))
        return bad(d, "the result is not an array");
    int rc;
    while ((rc = json_next_elem(&d->r)) > 0) {
        if (json_enter_object(&d->r))
            return bad(d, "a series is not an object");
        size_t si = d->series.n;
        vec_push(&d->series);
        AT(d->series, struct series, si).first = d->points.n;
        struct slice k;
        while ((rc = json_next_key(&d->r, &d->a, &k)) > 0) {
            if (slice_eq_str(k, "metric")) {
                struct stream tmp;
                if (read_labels(d, true, &tmp, "a series' labels"))
                    return STRATA_EPARSE;
                AT(d->series, struct series, si).s = tmp;
            } else if (matrix && slice_eq_str(k, "values")) {
                if (json_enter_array(&d->r))
                    return bad(d, "a series' values are not an array");
                while ((rc = json_next_elem(&d->r)) > 0) {
                    struct point p;
                    if (read_sample(d, &p))
                        return STRATA_EPARSE;
                    *(struct point *)vec_push(&d->points) = p;
                }
                if (rc < 0)
                    return bad(d, "a series' values");
            } else if (!matrix && slice_eq_str(k, "value")) {
                struct point p;
                if (read_sample(d, &p))
                    return STRATA_EPARSE;
                *(struct point *)vec_push(&d->points) = p;
            } else if (json_skip(&d->r)) {
                return bad(d, "a series");
            }
        }
        if (rc < 0)
            return bad(d, "a series");
        struct series *s = &AT(d->series, struct series, si);
        s->n_points = d->points.n - s->first;
        if (!s->s.fmt.ptr)
            s->s.fmt = SLICE_LIT("{}");
    }
    return rc < 0 ? bad(d, "the result") : 0;
}

/* LogsGO: [{"Service","Level","Message","Labels":{...}|null,"Points":[{"Timestamp","Count"}]}] */
static int read_logsgo(struct doc *d)
{
    if (json_enter_array(&d->r))
        return bad(d, "the result is not an array");
    int rc;
    while ((rc = json_next_elem(&d->r)) > 0) {
        if (json_enter_object(&d->r))
            return bad(d, "a series is not an object");
        size_t si = d->series.n;
        vec_push(&d->series);
        AT(d->series, struct series, si).first = d->points.n;
        AT(d->series, struct series, si).s.fmt = SLICE_LIT("{}");
        struct slice k;
        while ((rc = json_next_key(&d->r, &d->a, &k)) > 0) {
            struct series *s = &AT(d->series, struct series, si);
            if (slice_eq_str(k, "Service")) {
                if (read_str(d, &s->service, "Service"))
                    return STRATA_EPARSE;
            } else if (slice_eq_str(k, "Level")) {
                if (read_str(d, &s->level, "Level"))
                    return STRATA_EPARSE;
            } else if (slice_eq_str(k, "Message")) {
                if (read_str(d, &s->message, "Message"))
                    return STRATA_EPARSE;
            } else if (slice_eq_str(k, "Labels")) {
                struct stream tmp;
                if (read_labels(d, true, &tmp, "Labels"))
                    return STRATA_EPARSE;
                AT(d->series, struct series, si).s = tmp;
            } else if (slice_eq_str(k, "Points")) {
                if (json_peek(&d->r) == JSON_NULL) {
                    json_read_null(&d->r);
                    continue;
                }
                if (json_enter_array(&d->r))
                    return bad(d, "Points is not an array");
                while ((rc = json_next_elem(&d->r)) > 0) {
                    struct point p = {{"0", 1}, 0, {"0", 1}};
                    if (json_enter_object(&d->r))
                        return bad(d, "a point is not an object");
                    struct slice pk;
                    while ((rc = json_next_key(&d->r, &d->a, &pk)) > 0) {
                        int64_t v;
                        struct slice raw;
                        if ((!slice_eq_str(pk, "Timestamp") && !slice_eq_str(pk, "Count"))) {
                            if (json_skip(&d->r))
                                return bad(d, "a point");
                            continue;
                        }
                        if (json_read_number_raw(&d->r, &raw) || clock_parse_int64(raw, &v))
                            return bad(d, "a point's %.*s is not an integer", (int)pk.len, pk.ptr);
                        if (slice_eq_str(pk, "Timestamp")) {
                            if (v > INT64_MAX / 1000 || v < INT64_MIN / 1000)
                                return bad(d, "a point's Timestamp is out of range");
                            p.t_raw = raw;
                            p.t_ms = v * 1000;
                        } else {
                            p.value = raw;
                        }
                    }
                    if (rc < 0)
                        return bad(d, "a point");
                    *(struct point *)vec_push(&d->points) = p;
                }
                if (rc < 0)
                    return bad(d, "Points");
            } else if (json_skip(&d->r)) {
                return bad(d, "a series");
            }
        }
        if (rc < 0)
            return bad(d, "a series");
        struct series *s = &AT(d->series, struct series, si);
        s->n_points = d->points.n - s->first;
    }
    return rc < 0 ? bad(d, "the result") : 0;
}

/* /labels and /label/<n>/values data: ["a","b"] (null: none). */
static int read_names(struct doc *d)
{
    if (json_peek(&d->r) == JSON_NULL)
        return json_read_null(&d->r) ? bad(d, "data") : 0;
    if (json_enter_array(&d->r))
        return bad(d, "data is not an array");
    int rc;
    while ((rc = json_next_elem(&d->r)) > 0)
        if (read_str(d, vec_push(&d->strings), "a name"))
            return STRATA_EPARSE;
    return rc < 0 ? bad(d, "data") : 0;
}

/* /series data: [{...},...] */
static int read_label_sets(struct doc *d)
{
    if (json_peek(&d->r) == JSON_NULL)
        return json_read_null(&d->r) ? bad(d, "data") : 0;
    if (json_enter_array(&d->r))
        return bad(d, "data is not an array");
    int rc;
    while ((rc = json_next_elem(&d->r)) > 0) {
        struct stream tmp;
        if (read_labels(d, false, &tmp, "a label set"))
            return STRATA_EPARSE;
        ((struct series *)vec_push(&d->series))->s = tmp;
    }
    return rc < 0 ? bad(d, "data") : 0;
}

/* /index/stats: {"streams":N,...}, kept in order as name/number pairs in d->strings. */
static int read_stats(struct doc *d)
{
    if (json_enter_object(&d->r))
        return bad(d, "the answer is not an object");
    struct slice k;
    int rc;
    while ((rc = json_next_key(&d->r, &d->a, &k)) > 0) {
        struct slice v;
        if (json_peek(&d->r) != JSON_NUMBER || json_read_number_raw(&d->r, &v))
            return bad(d, "\"%.*s\" is not a number", (int)k.len, k.ptr);
        *(struct slice *)vec_push(&d->strings) = k;
        *(struct slice *)vec_push(&d->strings) = v;
    }
    return rc < 0 ? bad(d, "the answer") : 0;
}

enum rtype { RT_NONE, RT_STREAMS, RT_MATRIX, RT_VECTOR, RT_SCALAR };

static int read_result(struct doc *d, enum rtype t)
{
    switch (t) {
    case RT_STREAMS: return read_streams(d);
    case RT_MATRIX: return read_samples(d, true);
    case RT_VECTOR: return read_samples(d, false);
    case RT_SCALAR: {
        struct point p;
        if (read_sample(d, &p))
            return STRATA_EPARSE;
        vec_push(&d->series);
        AT(d->series, struct series, 0).s.fmt = SLICE_LIT("{}");
        AT(d->series, struct series, 0).n_points = 1;
        *(struct point *)vec_push(&d->points) = p;
        return 0;
    }
    default: return bad(d, "no resultType before the result");
    }
}

/* The Loki envelope: {"status":"success","data":...}; for RES_QUERY data is
 * {"resultType","result"}. */
static int read_envelope(struct doc *d, enum result_kind kind, enum rtype *type)
{
    if (json_enter_object(&d->r))
        return bad(d, "the answer is not an object");
    struct slice k;
    int rc;
    bool have_data = false;
    while ((rc = json_next_key(&d->r, &d->a, &k)) > 0) {
        if (slice_eq_str(k, "status")) {
            struct slice st;
            if (read_str(d, &st, "status"))
                return STRATA_EPARSE;
            if (!slice_eq_str(st, "success"))
                return bad(d, "status \"%.*s\"", (int)(st.len > 40 ? 40 : st.len), st.ptr);
        } else if (slice_eq_str(k, "data")) {
            have_data = true;
            if (kind == RES_LABELS) {
                if (read_names(d))
                    return STRATA_EPARSE;
                continue;
            }
            if (kind == RES_SERIES) {
                if (read_label_sets(d))
                    return STRATA_EPARSE;
                continue;
            }
            if (json_enter_object(&d->r))
                return bad(d, "data is not an object");
            struct json_reader later; /* the result, when it comes before its type */
            bool pending = false;
            struct slice dk;
            while ((rc = json_next_key(&d->r, &d->a, &dk)) > 0) {
                if (slice_eq_str(dk, "resultType")) {
                    struct slice t;
                    if (read_str(d, &t, "resultType"))
                        return STRATA_EPARSE;
                    *type = slice_eq_str(t, "streams")  ? RT_STREAMS
                            : slice_eq_str(t, "matrix") ? RT_MATRIX
                            : slice_eq_str(t, "vector") ? RT_VECTOR
                            : slice_eq_str(t, "scalar") ? RT_SCALAR
                                                        : RT_NONE;
                    if (*type == RT_NONE)
                        return bad(d, "unknown resultType \"%.*s\"", (int)(t.len > 40 ? 40 : t.len),
                                   t.ptr);
                } else if (slice_eq_str(dk, "result")) {
                    if (*type == RT_NONE) {
                        later = d->r;
                        pending = true;
                        if (json_skip(&d->r))
                            return bad(d, "result");
                    } else if (read_result(d, *type)) {
                        return STRATA_EPARSE;
                    }
                } else if (json_skip(&d->r)) {
                    return bad(d, "data");
                }
            }
            if (rc < 0)
                return bad(d, "data");
            if (pending) {
                struct json_reader resume = d->r;
                d->r = later;
                rc = read_result(d, *type);
                d->r = resume;
                if (rc)
                    return STRATA_EPARSE;
            }
            if (*type == RT_NONE)
                return bad(d, "no result");
        } else if (json_skip(&d->r)) {
            return bad(d, "the answer");
        }
    }
    if (rc < 0)
        return bad(d, "the answer");
    return have_data ? 0 : bad(d, "no data");
}

/* A tail message: {"streams":[...],"dropped_entries":[...]} */
static int read_tail(struct doc *d)
{
    if (json_enter_object(&d->r))
        return bad(d, "the message is not an object");
    struct slice k;
    int rc;
    while ((rc = json_next_key(&d->r, &d->a, &k)) > 0) {
        if (slice_eq_str(k, "streams")) {
            if (json_peek(&d->r) == JSON_NULL)
                json_read_null(&d->r);
            else if (read_streams(d))
                return STRATA_EPARSE;
        } else if (slice_eq_str(k, "dropped_entries") && json_peek(&d->r) == JSON_ARRAY) {
            json_enter_array(&d->r);
            while ((rc = json_next_elem(&d->r)) > 0) {
                d->dropped++;
                if (json_skip(&d->r))
                    return bad(d, "dropped_entries");
            }
            if (rc < 0)
                return bad(d, "dropped_entries");
        } else if (json_skip(&d->r)) {
            return bad(d, "the message");
        }
    }
    return rc < 0 ? bad(d, "the message") : 0;
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
        rc = read_tail(&d);
        type = RT_STREAMS;
        break;
    case RES_LOGSGO: rc = read_logsgo(&d); break;
    default: rc = read_stats(&d); break;
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
            snprintf(err, errlen, "the output is too large");
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
