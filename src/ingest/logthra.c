#include "ingest/logthra.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "ingest/loki_json.h"
#include "ingest/pbwire.h"

int logthra_parse_time(struct slice s, int64_t *ns)
{
    bool digits = s.len > 0;
    for (size_t i = 0; i < s.len && digits; i++)
        digits = s.ptr[i] >= '0' && s.ptr[i] <= '9';
    if (digits)
        return clock_parse_int64(s, ns);
    if (s.len == 10)
        return clock_parse_date(s, ns);
    return clock_parse_rfc3339(s, ns);
}

static int read_values(struct json_reader *r, struct normalizer *nz, uint32_t si)
{
    struct push_batch *b = nz->b;
    if (json_peek(r) == JSON_NULL)
        return json_read_null(r);
    if (json_enter_array(r) < 0)
        return STRATA_EPARSE;
    int rc;
    while ((rc = json_next_elem(r)) > 0) {
        if (json_enter_array(r) < 0)
            return STRATA_EPARSE;
        int64_t ts;
        struct slice line;
        if (json_next_elem(r) <= 0)
            return json_fail(r, "each value must be [time, line]");
        if (json_peek(r) == JSON_NUMBER) {
            if (json_read_int64(r, &ts) < 0)
                return json_fail(r, "a numeric time must be integer Unix nanoseconds");
        } else {
            struct slice t;
            if (json_peek(r) != JSON_STRING)
                return json_fail(r, "time must be a string: Unix ns, RFC 3339 or YYYY-MM-DD");
            if (json_read_string(r, &b->arena, &t) < 0)
                return STRATA_EPARSE;
            if (logthra_parse_time(t, &ts) < 0)
                return json_fail(r, "time must be Unix ns, RFC 3339 or YYYY-MM-DD");
        }
        if (json_next_elem(r) <= 0)
            return json_fail(r, "each value must be [time, line]");
        if (json_peek(r) != JSON_STRING)
            return json_fail(r, "log line must be a string");
        if (json_read_string(r, &b->arena, &line) < 0)
            return STRATA_EPARSE;
        if (json_next_elem(r) != 0)
            return json_fail(r, "each value must be [time, line]");
        if (norm_entry(nz, si, ts, line, NULL, 0) < 0)
            return STRATA_ETOOLARGE;
    }
    return rc;
}

int logthra_json_decode(struct slice body, struct normalizer *nz, char *err, size_t errlen)
{
    nz->sanitize_names = true;
    /* Loki's v1 shape; only the times differ. */
    return loki_json_decode_values(body, nz, read_values, err, errlen);
}

/* ---- protobuf ---- */

static int pbbad(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "error decoding protobuf RequestReceivedProto: %s", what);
    return STRATA_EPARSE;
}

int logthra_proto_tenant(struct slice msg, struct slice *tenant)
{
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    *tenant = (struct slice){"", 0};
    while ((rc = pb_next(&r, &f)) > 0)
        if (f.num == 1) {
            if (pb_want(&f, PB_LEN) < 0)
                return STRATA_EPARSE;
            *tenant = f.bytes;
        }
    return rc;
}

static int read_pb_stream(struct slice msg, struct normalizer *nz, char *err, size_t errlen)
{
    struct push_batch *b = nz->b;
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    uint32_t n = 0, cap = 8;
    struct label *v = arena_alloc(&b->arena, cap * sizeof(*v));
    int rc;
    /* Pass 1: the Stream map. */
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num != 1)
            continue;
        if (pb_want(&f, PB_LEN) < 0)
            return pbbad(err, errlen, "Stream must be map entries");
        struct pb_reader m = pb_reader_make(f.bytes);
        struct pb_field g;
        struct label l = {{"", 0}, {"", 0}};
        int mr;
        while ((mr = pb_next(&m, &g)) > 0) {
            if (g.num != 1 && g.num != 2)
                continue;
            if (pb_want(&g, PB_LEN) < 0)
                return pbbad(err, errlen, "Stream keys and values must be strings");
            *(g.num == 1 ? &l.name : &l.value) = g.bytes;
        }
        if (mr < 0)
            return pbbad(err, errlen, "truncated or malformed Stream entry");
        uint32_t i = 0;
        while (i < n && !slice_eq(v[i].name, l.name))
            i++;
        if (i < n) {
            v[i].value = l.value; /* map semantics: the last value wins */
            continue;
        }
        if (n == cap) {
            v = arena_realloc(&b->arena, v, cap * sizeof(*v), cap * 2 * sizeof(*v));
            cap *= 2;
        }
        v[n++] = l;
    }
    if (rc < 0)
        return pbbad(err, errlen, "truncated or malformed Strms");
    uint32_t si;
    if (norm_stream(nz, v, n, &si) < 0)
        return norm_too_large(err, errlen);
    /* Pass 2: the values. */
    r = pb_reader_make(msg);
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num != 2)
            continue;
        if (pb_want(&f, PB_LEN) < 0)
            return pbbad(err, errlen, "TwoDimValue must be messages");
        struct pb_reader m = pb_reader_make(f.bytes);
        struct pb_field g;
        struct slice t = {"", 0}, line = {"", 0};
        int mr;
        while ((mr = pb_next(&m, &g)) > 0) {
            if (g.num != 1 && g.num != 2)
                continue;
            if (pb_want(&g, PB_LEN) < 0)
                return pbbad(err, errlen, "valTime and valMsg must be strings");
            *(g.num == 1 ? &t : &line) = g.bytes;
        }
        if (mr < 0)
            return pbbad(err, errlen, "truncated or malformed OneDimValue");
        int64_t ts;
        if (logthra_parse_time(t, &ts) < 0) {
            snprintf(err, errlen,
                     "error decoding RequestReceivedProto: valTime \"%.*s\" is not Unix ns, RFC "
                     "3339 or YYYY-MM-DD",
                     (int)(t.len > 64 ? 64 : t.len), t.ptr);
            return STRATA_EPARSE;
        }
        if (norm_entry(nz, si, ts, line, NULL, 0) < 0)
            return norm_too_large(err, errlen);
    }
    return rc < 0 ? pbbad(err, errlen, "truncated or malformed Strms") : 0;
}

int logthra_proto_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen)
{
    nz->sanitize_names = true;
    nz->check_utf8 = true;
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 1 && pb_want(&f, PB_LEN) < 0)
            return pbbad(err, errlen, "TenantID must be a string");
        if (f.num != 2)
            continue;
        if (pb_want(&f, PB_LEN) < 0)
            return pbbad(err, errlen, "Streams must be messages");
        int sr = read_pb_stream(f.bytes, nz, err, errlen);
        if (sr < 0)
            return sr;
    }
    return rc < 0 ? pbbad(err, errlen, "truncated or malformed message") : 0;
}
