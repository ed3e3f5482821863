#include "ingest/logthra.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "ingest/pbwire.h"

#define MAX_DEPTH 16

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

static int json_fail_msg(struct json_reader *r, char *err, size_t errlen)
{
    char tmp[200];
    const char *m = json_reader_error(r, tmp, sizeof(tmp));
    snprintf(err, errlen, "error parsing JSON push request: %s", m ? m : "malformed body");
    return STRATA_EPARSE;
}

static int read_labels(struct json_reader *r, struct push_batch *b, struct label **out, uint32_t *n)
{
    uint32_t cap = 8, cnt = 0;
    struct label *v = arena_alloc(&b->arena, cap * sizeof(*v));
    if (json_enter_object(r) < 0)
        return STRATA_EPARSE;
    struct slice k;
    int rc;
    while ((rc = json_next_key(r, &b->arena, &k)) > 0) {
        struct slice val;
        if (json_peek(r) != JSON_STRING)
            return json_fail(r, "stream label values must be strings");
        if (json_read_string(r, &b->arena, &val) < 0)
            return STRATA_EPARSE;
        if (cnt == cap) {
            v = arena_realloc(&b->arena, v, cap * sizeof(*v), cap * 2 * sizeof(*v));
            cap *= 2;
        }
        v[cnt++] = (struct label){k, val};
    }
    if (rc < 0)
        return rc;
    *out = v;
    *n = cnt;
    return 0;
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

static int read_stream(struct json_reader *r, struct normalizer *nz)
{
    struct push_batch *b = nz->b;
    if (json_enter_object(r) < 0)
        return STRATA_EPARSE;
    struct label *labels = NULL;
    uint32_t n = 0, si = NORM_DROPPED;
    bool have_labels = false, have_stream = false, deferred = false;
    struct json_reader saved;
    struct slice k;
    int kr, rc;
    while ((kr = json_next_key(r, &b->arena, &k)) > 0) {
        if (slice_eq_str(k, "stream")) {
            if (read_labels(r, b, &labels, &n) < 0)
                return STRATA_EPARSE;
            have_labels = true;
        } else if (slice_eq_str(k, "values")) {
            if (!have_labels) {
                saved = *r;
                deferred = true;
                if (json_skip(r) < 0)
                    return STRATA_EPARSE;
                continue;
            }
            if (!have_stream) {
                if (norm_stream(nz, labels, n, &si) < 0)
                    return STRATA_ETOOLARGE;
                have_stream = true;
            }
            if ((rc = read_values(r, nz, si)) < 0)
                return rc;
        } else if (json_skip(r) < 0) {
            return STRATA_EPARSE;
        }
    }
    if (kr < 0)
        return STRATA_EPARSE;
    if (!have_stream && norm_stream(nz, labels, n, &si) < 0)
        return STRATA_ETOOLARGE;
    if (deferred && (rc = read_values(&saved, nz, si)) < 0) {
        if (rc == STRATA_EPARSE)
            *r = saved;
        return rc;
    }
    return 0;
}

static int too_large(char *err, size_t errlen)
{
    snprintf(err, errlen,
             "push request too large to decode: it needs more memory than allowed "
             "(send smaller batches)");
    return STRATA_ETOOLARGE;
}

int logthra_json_decode(struct slice body, struct normalizer *nz, char *err, size_t errlen)
{
    nz->sanitize_names = true;
    struct json_reader r;
    json_reader_init(&r, body.ptr, body.len, MAX_DEPTH);
    if (json_enter_object(&r) < 0)
        return json_fail_msg(&r, err, errlen);
    struct slice key;
    int rc;
    while ((rc = json_next_key(&r, &nz->b->arena, &key)) > 0) {
        if (!slice_eq_str(key, "streams") || json_peek(&r) == JSON_NULL) {
            if (json_skip(&r) < 0)
                return json_fail_msg(&r, err, errlen);
            continue;
        }
        if (json_enter_array(&r) < 0)
            return json_fail_msg(&r, err, errlen);
        int more;
        while ((more = json_next_elem(&r)) > 0) {
            int sr = read_stream(&r, nz);
            if (sr == STRATA_ETOOLARGE)
                return too_large(err, errlen);
            if (sr < 0)
                return json_fail_msg(&r, err, errlen);
        }
        if (more < 0)
            return json_fail_msg(&r, err, errlen);
    }
    if (rc < 0 || json_finish(&r) < 0)
        return json_fail_msg(&r, err, errlen);
    return 0;
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
        return too_large(err, errlen);
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
            return too_large(err, errlen);
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
