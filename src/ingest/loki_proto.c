#include "ingest/loki_proto.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "ingest/pbwire.h"

/* A message-level error: everything in the request is refused. */
static int bad(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "error decoding protobuf PushRequest: %s", what);
    return STRATA_EPARSE;
}

int loki_proto_timestamp(int64_t seconds, int64_t nanos, int64_t *ns)
{
    if (nanos < 0 || nanos >= NS_PER_SEC)
        return STRATA_EPARSE;
    if (seconds > INT64_MAX / NS_PER_SEC - 1 || seconds < INT64_MIN / NS_PER_SEC + 1)
        return STRATA_EPARSE;
    *ns = seconds * NS_PER_SEC + nanos;
    return 0;
}

static int read_pair(struct slice msg, struct label *out)
{
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    out->name = out->value = (struct slice){"", 0};
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 1 || f.num == 2) {
            if (pb_want(&f, PB_LEN) < 0)
                return STRATA_EPARSE;
            if (f.num == 1)
                out->name = f.bytes;
            else
                out->value = f.bytes;
        }
    }
    return rc;
}

static int read_entry(struct slice msg, struct normalizer *nz, uint32_t si, char *err,
                      size_t errlen)
{
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    int64_t seconds = 0, nanos = 0;
    struct slice line = {"", 0};
    struct label *meta = NULL;
    uint32_t n_meta = 0, cap = 0;
    while ((rc = pb_next(&r, &f)) > 0) {
        switch (f.num) {
        case 1: { /* google.protobuf.Timestamp */
            if (pb_want(&f, PB_LEN) < 0)
                return bad(err, errlen, "entry timestamp is not a message");
            struct pb_reader t = pb_reader_make(f.bytes);
            struct pb_field g;
            int tr;
            while ((tr = pb_next(&t, &g)) > 0) {
                if (g.num != 1 && g.num != 2)
                    continue;
                if (pb_want(&g, PB_VARINT) < 0)
                    return bad(err, errlen, "timestamp fields must be varints");
                if (g.num == 1)
                    seconds = (int64_t)g.u;
                else
                    nanos = (int64_t)(int32_t)(uint32_t)g.u;
            }
            if (tr < 0)
                return bad(err, errlen, "truncated or malformed timestamp");
            break;
        }
        case 2:
            if (pb_want(&f, PB_LEN) < 0)
                return bad(err, errlen, "entry line is not a string");
            line = f.bytes;
            break;
        case 3: /* structuredMetadata */
            if (pb_want(&f, PB_LEN) < 0)
                return bad(err, errlen, "structured metadata is not a message");
            if (n_meta == cap) {
                uint32_t nc = cap ? cap * 2 : 4;
                meta = arena_realloc(&nz->b->arena, meta, cap * sizeof(*meta), nc * sizeof(*meta));
                cap = nc;
            }
            if (read_pair(f.bytes, &meta[n_meta]) < 0)
                return bad(err, errlen, "truncated or malformed structured metadata");
            n_meta++;
            break;
        default: break; /* 4 = parsed: query path only */
        }
    }
    if (rc < 0)
        return bad(err, errlen, "truncated or malformed entry");
    int64_t ts;
    if (loki_proto_timestamp(seconds, nanos, &ts) < 0)
        return bad(err, errlen, "entry timestamp out of range");
    return norm_entry(nz, si, ts, line, meta, n_meta) < 0 ? STRATA_ETOOLARGE : 0;
}

static int read_stream(struct slice msg, struct normalizer *nz, char *err, size_t errlen)
{
    struct push_batch *b = nz->b;
    /* Pass 1: the labels (fields may come in any order; the last one wins). */
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    struct slice text = {"", 0};
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 1) {
            if (pb_want(&f, PB_LEN) < 0)
                return bad(err, errlen, "stream labels are not a string");
            text = f.bytes;
        } else if (f.num == 2 && pb_want(&f, PB_LEN) < 0) {
            return bad(err, errlen, "stream entries are not messages");
        }
    }
    if (rc < 0)
        return bad(err, errlen, "truncated or malformed stream");
    uint32_t si = NORM_DROPPED;
    struct label *v = NULL;
    uint32_t n = 0;
    char why[256];
    if (!utf8_valid(text.ptr, text.len)) {
        push_result_error(nz->res, b, STRATA_EINVAL,
                          "error parsing labels with error: labels are not valid UTF-8");
    } else if (labels_parse(text, &b->arena, &v, &n, why, sizeof(why)) < 0) {
        push_result_error(nz->res, b, STRATA_EINVAL, "error parsing labels '%.*s' with error: %s",
                          (int)text.len, text.ptr, why);
    } else if (norm_stream(nz, v, n, &si) < 0) {
        return STRATA_ETOOLARGE;
    }
    /* Pass 2: the entries. */
    r = pb_reader_make(msg);
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num != 2)
            continue;
        int er = read_entry(f.bytes, nz, si, err, errlen);
        if (er < 0)
            return er;
    }
    return rc;
}

int loki_proto_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen)
{
    nz->check_utf8 = true; /* protobuf strings arrive unchecked */
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num != 1)
            continue; /* 2 = format: informational */
        if (pb_want(&f, PB_LEN) < 0)
            return bad(err, errlen, "streams must be messages");
        int sr = read_stream(f.bytes, nz, err, errlen);
        if (sr == STRATA_ETOOLARGE)
            return norm_too_large(err, errlen);
        if (sr < 0)
            return sr;
    }
    if (rc < 0)
        return bad(err, errlen, "truncated or malformed message");
    return 0;
}
