#include "client/entries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "ingest/pbwire.h"

/* LogsGO's client messages (seeds.md 1.3), kept word for word. */
#define MSG_NO_FIELDS "log entry must contain Service, Level, and Message fields"

/* ---- building owned copies ---- */

/* Copy s into *p as a NUL-terminated string; return the slice of the copy. */
static struct slice put_str(char **p, struct slice s)
{
    struct slice out = {*p, s.len};
    if (s.len)
        memcpy(*p, s.ptr, s.len);
    (*p)[s.len] = '\0';
    *p += s.len + 1;
    return out;
}

/*
 * One allocation holding the entry, its label array and every string, each
 * NUL-terminated. size counts the strings' bytes, which is what the queue's
 * byte bound measures.
 */
static struct centry *centry_build(enum centry_kind kind, int64_t ts, struct slice service,
                                   struct slice level, struct slice line,
                                   const struct label *labels, uint32_t n, struct slice stream)
{
    size_t strings = service.len + level.len + line.len + stream.len + 4;
    for (uint32_t i = 0; i < n; i++)
        strings += labels[i].name.len + labels[i].value.len + 2;
    size_t head = sizeof(struct centry) + (size_t)n * sizeof(struct label);
    struct centry *e = xmalloc(head + strings);
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->ts = ts;
    e->labels = (struct label *)(e + 1);
    e->n_labels = n;
    char *p = (char *)e + head;
    e->service = put_str(&p, service);
    e->level = put_str(&p, level);
    e->line = put_str(&p, line);
    e->stream = put_str(&p, stream);
    for (uint32_t i = 0; i < n; i++) {
        e->labels[i].name = put_str(&p, labels[i].name);
        e->labels[i].value = put_str(&p, labels[i].value);
    }
    e->size = strings;
    return e;
}

void centry_free(struct centry *e)
{
    free(e);
}

/*
 * A stream entry from labels (sorted here) and a line: the checks Loki's
 * distributor would refuse it for, done before anything is queued.
 */
static int build_stream_entry(struct label *labels, uint32_t n, int64_t ts_ns, struct slice line,
                              struct centry **out, char *err, size_t errlen)
{
    if (n == 0) {
        strata_errorf(err, errlen, "error at least one label pair is required per stream");
        return STRATA_EINVAL;
    }
    labels_sort(labels, n);
    struct buf stream;
    buf_init(&stream, BUF_UNLIMITED);
    int rc = labels_format(&stream, labels, n);
    if (rc < 0)
        goto fail;
    for (uint32_t i = 0; i < n; i++)
        if (!label_name_valid(labels[i].name)) {
            strata_errorf(err, errlen, "stream '%s' has invalid label name: '%.*s'", stream.ptr,
                          (int)labels[i].name.len, labels[i].name.ptr);
            rc = STRATA_EINVAL;
            goto fail;
        }
    int dup = labels_find_duplicate(labels, n);
    if (dup >= 0) {
        strata_errorf(err, errlen, "stream '%s' has duplicate label name: '%.*s'", stream.ptr,
                      (int)labels[dup].name.len, labels[dup].name.ptr);
        rc = STRATA_EINVAL;
        goto fail;
    }
    *out = centry_build(CENTRY_LOKI, ts_ns, SLICE_LIT(""), SLICE_LIT(""), line, labels, n,
                        buf_slice(&stream));
fail:
    buf_release(&stream);
    return rc;
}

static bool reserved_key(struct slice k)
{
    return slice_eq_nocase(k, "service") || slice_eq_nocase(k, "level") ||
           slice_eq_nocase(k, "message");
}

int centry_from_log(const struct strata_log *log, int64_t now_s, bool as_stream,
                    struct centry **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!log->service || !log->service[0] || !log->level || !log->level[0] || !log->message ||
        !log->message[0]) {
        strata_errorf(err, errlen, "%s", MSG_NO_FIELDS);
        return STRATA_EINVAL;
    }
    if (log->n_labels && !log->labels) {
        strata_errorf(err, errlen, "labels is NULL but n_labels is %zu", log->n_labels);
        return STRATA_EINVAL;
    }
    if (log->n_labels > UINT32_MAX - 2) {
        strata_errorf(err, errlen, "too many labels");
        return STRATA_EINVAL;
    }
    for (size_t i = 0; i < log->n_labels; i++)
        if (!log->labels[i].name || !log->labels[i].value) {
            strata_errorf(err, errlen, "label %zu has a NULL name or value", i);
            return STRATA_EINVAL;
        }
    int64_t ts = log->timestamp ? log->timestamp : now_s;
    struct slice service = slice_from(log->service), level = slice_from(log->level);
    struct slice message = slice_from(log->message);
    uint32_t n = (uint32_t)log->n_labels;
    if (!as_stream) {
        /* As given: the server applies LogsGO's key rules, as LogsGO's server does. */
        struct label *v = xmallocarray(n ? n : 1, sizeof(*v));
        for (uint32_t i = 0; i < n; i++)
            v[i] =
                (struct label){slice_from(log->labels[i].name), slice_from(log->labels[i].value)};
        *out = centry_build(CENTRY_LOGSGO, ts, service, level, message, v, n, SLICE_LIT(""));
        free(v);
        return 0;
    }
    if (ts > INT64_MAX / NS_PER_SEC || ts < INT64_MIN / NS_PER_SEC) {
        strata_errorf(err, errlen, "timestamp %lld is out of range", (long long)ts);
        return STRATA_EINVAL;
    }
    /* The labels the server's LogsGO path gives the entry (ingest/logsgo.c, normalize.c). */
    struct arena a;
    arena_init(&a, 0);
    struct label *v = arena_alloc(&a, (n + 2) * sizeof(*v));
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct slice key = slice_trim(slice_from(log->labels[i].name));
        if (!key.len || reserved_key(key))
            continue;
        uint32_t j = 0;
        while (j < k && !slice_eq(v[j].name, key))
            j++;
        if (j < k)
            v[j].value = slice_from(log->labels[i].value); /* a repeated key: the last wins */
        else
            v[k++] = (struct label){key, slice_from(log->labels[i].value)};
    }
    for (uint32_t i = 0; i < k; i++)
        v[i].name = label_name_normalize(&a, v[i].name);
    v[k++] = (struct label){SLICE_LIT("service"), service};
    v[k++] = (struct label){SLICE_LIT("level"), level};
    int rc = build_stream_entry(v, k, ts * NS_PER_SEC, message, out, err, errlen);
    arena_release(&a);
    return rc;
}

int centry_from_entry(const struct strata_entry *e, int64_t now_ns, struct centry **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (!e->line && e->line_len) {
        strata_errorf(err, errlen, "line is NULL but line_len is %zu", e->line_len);
        return STRATA_EINVAL;
    }
    if (e->n_labels && !e->labels) {
        strata_errorf(err, errlen, "labels is NULL but n_labels is %zu", e->n_labels);
        return STRATA_EINVAL;
    }
    if (e->n_labels > UINT32_MAX) {
        strata_errorf(err, errlen, "too many labels");
        return STRATA_EINVAL;
    }
    uint32_t n = (uint32_t)e->n_labels;
    struct label *v = xmallocarray(n ? n : 1, sizeof(*v));
    int rc = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!e->labels[i].name || !e->labels[i].value) {
            strata_errorf(err, errlen, "label %u has a NULL name or value", i);
            rc = STRATA_EINVAL;
            goto done;
        }
        v[i] = (struct label){slice_from(e->labels[i].name), slice_from(e->labels[i].value)};
    }
    rc = build_stream_entry(v, n, e->timestamp_ns ? e->timestamp_ns : now_ns,
                            slice_make(e->line ? e->line : "", e->line_len), out, err, errlen);
done:
    free(v);
    return rc;
}

/* ---- protobuf bodies ---- */

static int put_message(struct buf *out, uint32_t num, const struct buf *msg)
{
    return pb_put_bytes_field(out, num, msg->ptr ? msg->ptr : "", msg->len);
}

/* The fields of a LogEntry into out (a LogEntry message's body). */
static int logsgo_entry_fields(const struct centry *e, struct buf *out, struct buf *scratch)
{
    int rc = pb_put_bytes_field(out, 1, e->service.ptr, e->service.len);
    if (!rc)
        rc = pb_put_bytes_field(out, 2, e->level.ptr, e->level.len);
    if (!rc)
        rc = pb_put_bytes_field(out, 3, e->line.ptr, e->line.len);
    if (!rc && e->ts)
        rc = pb_put_varint_field(out, 4, (uint64_t)e->ts);
    for (uint32_t i = 0; i < e->n_labels && !rc; i++) {
        /* map<string,string> is a repeated message {key = 1; value = 2}. */
        buf_reset(scratch);
        rc = pb_put_bytes_field(scratch, 1, e->labels[i].name.ptr, e->labels[i].name.len);
        if (!rc)
            rc = pb_put_bytes_field(scratch, 2, e->labels[i].value.ptr, e->labels[i].value.len);
        if (!rc)
            rc = put_message(out, 5, scratch);
    }
    return rc;
}

int encode_logsgo_entry(const struct centry *e, struct buf *out)
{
    struct buf scratch;
    buf_init(&scratch, BUF_UNLIMITED);
    int rc = logsgo_entry_fields(e, out, &scratch);
    buf_release(&scratch);
    return rc;
}

int encode_logsgo_batch(struct centry *const *v, size_t n, struct buf *out)
{
    struct buf entry, scratch;
    buf_init(&entry, BUF_UNLIMITED);
    buf_init(&scratch, BUF_UNLIMITED);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        buf_reset(&entry);
        rc = logsgo_entry_fields(v[i], &entry, &scratch);
        if (!rc)
            rc = put_message(out, 1, &entry);
    }
    buf_release(&entry);
    buf_release(&scratch);
    return rc;
}

/* Entries in stream order: sorted by stream, then by position, so each stream keeps its order. */
struct ordered {
    const struct centry *e;
    size_t pos;
};

static int cmp_ordered(const void *a, const void *b)
{
    const struct ordered *x = a, *y = b;
    int c = slice_cmp(x->e->stream, y->e->stream);
    if (c)
        return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static struct ordered *order_by_stream(struct centry *const *v, size_t n)
{
    struct ordered *o = xmallocarray(n ? n : 1, sizeof(*o));
    for (size_t i = 0; i < n; i++)
        o[i] = (struct ordered){v[i], i};
    qsort(o, n, sizeof(*o), cmp_ordered);
    return o;
}

int encode_loki_proto(struct centry *const *v, size_t n, struct buf *out)
{
    struct ordered *o = order_by_stream(v, n);
    struct buf stream, entry, ts;
    buf_init(&stream, BUF_UNLIMITED);
    buf_init(&entry, BUF_UNLIMITED);
    buf_init(&ts, 64);
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        const struct centry *first = o[i].e;
        buf_reset(&stream);
        rc = pb_put_bytes_field(&stream, 1, first->stream.ptr, first->stream.len);
        for (; i < n && !rc && slice_eq(o[i].e->stream, first->stream); i++) {
            const struct centry *e = o[i].e;
            /* google.protobuf.Timestamp: seconds and non-negative nanos. */
            int64_t sec = e->ts / NS_PER_SEC, nanos = e->ts % NS_PER_SEC;
            if (nanos < 0) {
                sec--;
                nanos += NS_PER_SEC;
            }
            buf_reset(&ts);
            buf_reset(&entry);
            if (sec)
                rc = pb_put_varint_field(&ts, 1, (uint64_t)sec);
            if (!rc && nanos)
                rc = pb_put_varint_field(&ts, 2, (uint64_t)nanos);
            if (!rc)
                rc = put_message(&entry, 1, &ts);
            if (!rc)
                rc = pb_put_bytes_field(&entry, 2, e->line.ptr, e->line.len);
            if (!rc)
                rc = put_message(&stream, 2, &entry);
        }
        if (!rc)
            rc = put_message(out, 1, &stream);
    }
    buf_release(&stream);
    buf_release(&entry);
    buf_release(&ts);
    free(o);
    return rc;
}

int encode_loki_json(struct centry *const *v, size_t n, struct buf *out)
{
    struct ordered *o = order_by_stream(v, n);
    struct json_writer w;
    json_writer_init(&w, out);
    jw_object_begin(&w);
    jw_key(&w, "streams");
    jw_array_begin(&w);
    for (size_t i = 0; i < n && !w.rc;) {
        const struct centry *first = o[i].e;
        jw_object_begin(&w);
        jw_key(&w, "stream");
        jw_object_begin(&w);
        for (uint32_t j = 0; j < first->n_labels; j++) {
            jw_key_slice(&w, first->labels[j].name);
            jw_string_slice(&w, first->labels[j].value);
        }
        jw_object_end(&w);
        jw_key(&w, "values");
        jw_array_begin(&w);
        for (; i < n && slice_eq(o[i].e->stream, first->stream); i++) {
            char ns[24];
            snprintf(ns, sizeof(ns), "%lld", (long long)o[i].e->ts);
            jw_array_begin(&w);
            jw_string(&w, ns);
            jw_string_slice(&w, o[i].e->line);
            jw_array_end(&w);
        }
        jw_array_end(&w);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    free(o);
    return w.rc;
}

bool upload_response_success(struct slice msg)
{
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    bool ok = false;
    while (pb_next(&r, &f) > 0)
        if (f.num == 1 && f.type == PB_VARINT)
            ok = f.u != 0;
    return ok;
}
