#include "ingest/loki_json.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"

#define MAX_DEPTH 16

static int fail(struct json_reader *r, char *err, size_t errlen)
{
    char tmp[200];
    const char *m = json_reader_error(r, tmp, sizeof(tmp));
    snprintf(err, errlen, "error parsing JSON push request: %s", m ? m : "malformed body");
    return STRATA_EPARSE;
}

/* Read {"k":"v",...} into labels allocated in the batch arena. */
static int read_label_object(struct json_reader *r, struct push_batch *b, struct label **out,
                             uint32_t *n)
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
            return json_fail(r, "label and metadata values must be strings");
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

/* The "values" array of a v1 stream. Returns 0, STRATA_EPARSE, or STRATA_ETOOLARGE. */
static int read_values_v1(struct json_reader *r, struct normalizer *nz, uint32_t si)
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
        struct slice ts_s, line;
        struct label *meta = NULL;
        uint32_t n_meta = 0;
        if (json_next_elem(r) <= 0)
            return json_fail(r, "each value must be [timestamp, line]");
        if (json_peek(r) != JSON_STRING)
            return json_fail(r, "timestamp must be a string of integer nanoseconds");
        if (json_read_string(r, &b->arena, &ts_s) < 0)
            return STRATA_EPARSE;
        if (json_next_elem(r) <= 0)
            return json_fail(r, "each value must be [timestamp, line]");
        if (json_peek(r) != JSON_STRING)
            return json_fail(r, "log line must be a string");
        if (json_read_string(r, &b->arena, &line) < 0)
            return STRATA_EPARSE;
        int more = json_next_elem(r);
        if (more < 0)
            return STRATA_EPARSE;
        if (more > 0) {
            if (json_peek(r) == JSON_NULL) {
                if (json_read_null(r) < 0)
                    return STRATA_EPARSE;
            } else if (read_label_object(r, b, &meta, &n_meta) < 0) {
                return STRATA_EPARSE;
            }
            if (json_next_elem(r) != 0)
                return json_fail(r, "too many elements in a value");
        }
        int64_t ts;
        if (clock_parse_int64(ts_s, &ts) < 0)
            return json_fail(r, "timestamp must be a string of integer nanoseconds");
        if (norm_entry(nz, si, ts, line, meta, n_meta) < 0)
            return STRATA_ETOOLARGE;
    }
    return rc;
}

/* One {"stream":{...},"values":[...]} object; "values" may come first. */
static int read_stream_v1(struct json_reader *r, struct normalizer *nz,
                          loki_json_values_fn read_values)
{
    struct push_batch *b = nz->b;
    if (json_enter_object(r) < 0)
        return STRATA_EPARSE;
    struct label *labels = NULL;
    uint32_t n_labels = 0, si = NORM_DROPPED;
    bool have_labels = false, have_stream = false, deferred = false;
    struct json_reader saved;
    struct slice k;
    int kr;
    while ((kr = json_next_key(r, &b->arena, &k)) > 0) {
        if (slice_eq_str(k, "stream")) {
            if (json_peek(r) == JSON_NULL) {
                if (json_read_null(r) < 0)
                    return STRATA_EPARSE;
            } else if (read_label_object(r, b, &labels, &n_labels) < 0) {
                return STRATA_EPARSE;
            }
            have_labels = true;
        } else if (slice_eq_str(k, "values")) {
            if (!have_labels) {
                /* Legal JSON: read the values once the labels are known. */
                saved = *r;
                deferred = true;
                if (json_skip(r) < 0)
                    return STRATA_EPARSE;
                continue;
            }
            if (!have_stream) {
                if (norm_stream(nz, labels, n_labels, &si) < 0)
                    return STRATA_ETOOLARGE;
                have_stream = true;
            }
            int rc = read_values(r, nz, si);
            if (rc < 0)
                return rc;
        } else if (json_skip(r) < 0) {
            return STRATA_EPARSE;
        }
    }
    if (kr < 0)
        return STRATA_EPARSE;
    if (!have_stream) {
        if (norm_stream(nz, labels, n_labels, &si) < 0)
            return STRATA_ETOOLARGE;
    }
    if (deferred) {
        int rc = read_values(&saved, nz, si);
        if (rc < 0) {
            if (rc == STRATA_EPARSE)
                *r = saved; /* report the error where it is */
            return rc;
        }
    }
    return 0;
}

/* The "entries" array of a legacy stream. */
static int read_entries_legacy(struct json_reader *r, struct normalizer *nz, uint32_t si)
{
    struct push_batch *b = nz->b;
    if (json_peek(r) == JSON_NULL)
        return json_read_null(r);
    if (json_enter_array(r) < 0)
        return STRATA_EPARSE;
    int er;
    while ((er = json_next_elem(r)) > 0) {
        if (json_enter_object(r) < 0)
            return STRATA_EPARSE;
        struct slice ts_s = {NULL, 0}, line = {"", 0}, k;
        int fr;
        while ((fr = json_next_key(r, &b->arena, &k)) > 0) {
            struct slice *dst = slice_eq_str(k, "ts")     ? &ts_s
                                : slice_eq_str(k, "line") ? &line
                                                          : NULL;
            if (!dst) {
                if (json_skip(r) < 0)
                    return STRATA_EPARSE;
                continue;
            }
            if (json_peek(r) != JSON_STRING)
                return json_fail(r, "entry ts and line must be strings");
            if (json_read_string(r, &b->arena, dst) < 0)
                return STRATA_EPARSE;
        }
        if (fr < 0)
            return STRATA_EPARSE;
        int64_t ts;
        if (!ts_s.ptr || clock_parse_rfc3339(ts_s, &ts) < 0)
            return json_fail(r, "entry ts must be an RFC 3339 timestamp");
        if (norm_entry(nz, si, ts, line, NULL, 0) < 0)
            return STRATA_ETOOLARGE;
    }
    return er;
}

static int legacy_stream(struct normalizer *nz, struct slice text, uint32_t *si)
{
    struct push_batch *b = nz->b;
    struct label *v = NULL;
    uint32_t n = 0;
    char why[256];
    *si = NORM_DROPPED;
    if (labels_parse(text, &b->arena, &v, &n, why, sizeof(why)) < 0) {
        push_result_error(nz->res, b, STRATA_EINVAL, "error parsing labels '%.*s' with error: %s",
                          (int)text.len, text.ptr, why);
        return 0;
    }
    return norm_stream(nz, v, n, si) < 0 ? STRATA_ETOOLARGE : 0;
}

/* One {"labels":"{...}","entries":[{"ts":"...","line":"..."}]} object; "entries" may come first. */
static int read_stream_legacy(struct json_reader *r, struct normalizer *nz)
{
    struct push_batch *b = nz->b;
    if (json_enter_object(r) < 0)
        return STRATA_EPARSE;
    struct slice text = {"", 0}, k;
    uint32_t si = NORM_DROPPED;
    bool have_labels = false, have_stream = false, deferred = false;
    struct json_reader saved;
    int kr, rc;
    while ((kr = json_next_key(r, &b->arena, &k)) > 0) {
        if (slice_eq_str(k, "labels")) {
            if (json_peek(r) != JSON_STRING)
                return json_fail(r, "labels must be a string like {app=\"x\"}");
            if (json_read_string(r, &b->arena, &text) < 0)
                return STRATA_EPARSE;
            have_labels = true;
        } else if (slice_eq_str(k, "entries")) {
            if (!have_labels) {
                saved = *r;
                deferred = true;
                if (json_skip(r) < 0)
                    return STRATA_EPARSE;
                continue;
            }
            if (!have_stream) {
                if ((rc = legacy_stream(nz, text, &si)) < 0)
                    return rc;
                have_stream = true;
            }
            if ((rc = read_entries_legacy(r, nz, si)) < 0)
                return rc;
        } else if (json_skip(r) < 0) {
            return STRATA_EPARSE;
        }
    }
    if (kr < 0)
        return STRATA_EPARSE;
    if (!have_stream && (rc = legacy_stream(nz, text, &si)) < 0)
        return rc;
    if (deferred && (rc = read_entries_legacy(&saved, nz, si)) < 0) {
        if (rc == STRATA_EPARSE)
            *r = saved;
        return rc;
    }
    return 0;
}

/* The streams array; each element is a v1 stream read with values, or legacy when NULL. */
static int decode(struct slice body, struct normalizer *nz, loki_json_values_fn values, char *err,
                  size_t errlen)
{
    struct json_reader r;
    json_reader_init(&r, body.ptr, body.len, MAX_DEPTH);
    if (json_enter_object(&r) < 0)
        return fail(&r, err, errlen);
    struct slice key;
    int rc;
    while ((rc = json_next_key(&r, &nz->b->arena, &key)) > 0) {
        if (!slice_eq_str(key, "streams")) {
            if (json_skip(&r) < 0)
                return fail(&r, err, errlen);
            continue;
        }
        if (json_peek(&r) == JSON_NULL) {
            if (json_read_null(&r) < 0)
                return fail(&r, err, errlen);
            continue;
        }
        if (json_enter_array(&r) < 0)
            return fail(&r, err, errlen);
        int more;
        while ((more = json_next_elem(&r)) > 0) {
            int sr = values ? read_stream_v1(&r, nz, values) : read_stream_legacy(&r, nz);
            if (sr == STRATA_ETOOLARGE)
                return norm_too_large(err, errlen);
            if (sr < 0)
                return fail(&r, err, errlen);
        }
        if (more < 0)
            return fail(&r, err, errlen);
    }
    if (rc < 0 || json_finish(&r) < 0)
        return fail(&r, err, errlen);
    return 0;
}

int loki_json_decode(struct slice body, struct normalizer *nz, char *err, size_t errlen)
{
    return decode(body, nz, read_values_v1, err, errlen);
}

int loki_json_decode_legacy(struct slice body, struct normalizer *nz, char *err, size_t errlen)
{
    return decode(body, nz, NULL, err, errlen);
}

int loki_json_decode_values(struct slice body, struct normalizer *nz, loki_json_values_fn values,
                            char *err, size_t errlen)
{
    return decode(body, nz, values, err, errlen);
}
