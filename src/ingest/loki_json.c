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

/* Validate a stream's labels as Loki does; returns a message or NULL. */
static const char *check_labels(struct push_batch *b, struct label *v, uint32_t n, char *msg,
                                size_t cap)
{
    if (n == 0)
        return "error at least one label pair is required per stream";
    labels_sort(v, n);
    struct buf key;
    buf_init(&key, 64 * 1024);
    if (labels_format(&key, v, n) < 0) {
        buf_release(&key);
        return "error parsing labels: label set too large";
    }
    int dup = labels_find_duplicate(v, n);
    const char *res = NULL;
    if (dup >= 0) {
        snprintf(msg, cap, "stream '%s' has duplicate label name: '%.*s'", key.ptr,
                 (int)v[dup].name.len, v[dup].name.ptr);
        res = msg;
    } else {
        for (uint32_t i = 0; i < n; i++)
            if (!label_name_valid(v[i].name)) {
                snprintf(msg, cap,
                         "error parsing labels '%s' with error: invalid label name "
                         "'%.*s'",
                         key.ptr, (int)v[i].name.len, v[i].name.ptr);
                res = msg;
                break;
            }
    }
    (void)b;
    buf_release(&key);
    return res;
}

static int read_values(struct json_reader *r, struct push_batch *b, uint32_t si, bool keep)
{
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
        if (keep)
            push_batch_add(b, si, ts, line, meta, n_meta);
    }
    return rc;
}

int loki_json_decode(struct slice body, struct push_batch *b, struct push_result *res, char *err,
                     size_t errlen)
{
    struct json_reader r;
    json_reader_init(&r, body.ptr, body.len, MAX_DEPTH);
    if (json_enter_object(&r) < 0)
        return fail(&r, err, errlen);
    struct slice key;
    int rc;
    while ((rc = json_next_key(&r, &b->arena, &key)) > 0) {
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
            if (json_enter_object(&r) < 0)
                return fail(&r, err, errlen);
            struct label *labels = NULL;
            uint32_t n_labels = 0;
            bool have_labels = false, checked = false, deferred = false;
            const char *bad = NULL;
            char msg[1024];
            uint32_t si = 0;
            /* "values" before "stream" is legal JSON: then it is read twice. */
            struct json_reader saved;
            struct slice k;
            int kr;
            while ((kr = json_next_key(&r, &b->arena, &k)) > 0) {
                if (slice_eq_str(k, "stream")) {
                    if (json_peek(&r) == JSON_NULL) {
                        if (json_read_null(&r) < 0)
                            return fail(&r, err, errlen);
                    } else if (read_label_object(&r, b, &labels, &n_labels) < 0) {
                        return fail(&r, err, errlen);
                    }
                    have_labels = true;
                } else if (slice_eq_str(k, "values")) {
                    if (!have_labels) {
                        saved = r;
                        deferred = true;
                        if (json_skip(&r) < 0)
                            return fail(&r, err, errlen);
                        continue;
                    }
                    if (!checked) {
                        bad = check_labels(b, labels, n_labels, msg, sizeof(msg));
                        si = bad ? 0 : push_batch_stream(b, labels, n_labels);
                        checked = true;
                    }
                    if (read_values(&r, b, si, !bad) < 0)
                        return fail(&r, err, errlen);
                } else if (json_skip(&r) < 0) {
                    return fail(&r, err, errlen);
                }
            }
            if (kr < 0)
                return fail(&r, err, errlen);
            if (!checked) {
                bad = check_labels(b, labels, n_labels, msg, sizeof(msg));
                si = bad || !deferred ? 0 : push_batch_stream(b, labels, n_labels);
            }
            if (bad)
                push_result_error(res, b, STRATA_EINVAL, "%s", bad);
            if (deferred && read_values(&saved, b, si, !bad) < 0)
                return fail(&saved, err, errlen);
        }
        if (more < 0)
            return fail(&r, err, errlen);
    }
    if (rc < 0 || json_finish(&r) < 0)
        return fail(&r, err, errlen);
    return 0;
}
