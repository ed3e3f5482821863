#include "ingest/logsgo.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "ingest/pbwire.h"

#define MAX_CUSTOM 256

static int bad(char *err, size_t errlen, const char *msg, const char *what)
{
    snprintf(err, errlen, "error decoding protobuf %s: %s", msg, what);
    return STRATA_EPARSE;
}

static bool reserved_key(struct slice k)
{
    return slice_eq_nocase(k, "service") || slice_eq_nocase(k, "level") ||
           slice_eq_nocase(k, "message");
}

/*
 * The stream of the previous entry of a batch, keyed by the entry's raw
 * service, level and label bytes: entries of one service usually repeat
 * them, and then the labels need not be normalised again.
 */
struct stream_cache {
    bool valid;
    struct slice service, level;
    struct slice *raw; /* the map entries as they were on the wire */
    uint32_t n_raw;
    uint32_t si;
};

static bool cache_hit(const struct stream_cache *c, struct slice service, struct slice level,
                      const struct slice *raw, uint32_t n_raw)
{
    if (!c->valid || c->n_raw != n_raw || !slice_eq(c->service, service) ||
        !slice_eq(c->level, level))
        return false;
    for (uint32_t i = 0; i < n_raw; i++)
        if (!slice_eq(c->raw[i], raw[i]))
            return false;
    return true;
}

/* Build the labels of an entry from its map entries (LogsGO's key rules) plus service, level. */
static int entry_labels(struct push_batch *b, const struct slice *raw, uint32_t n_raw,
                        struct slice service, struct slice level, struct label **out,
                        uint32_t *n_out)
{
    struct label *v = arena_alloc(&b->arena, (n_raw + 2) * sizeof(*v));
    uint32_t n = 0;
    for (uint32_t j = 0; j < n_raw; j++) {
        struct pb_reader m = pb_reader_make(raw[j]);
        struct pb_field g;
        struct slice key = {"", 0}, val = {"", 0};
        int mr;
        while ((mr = pb_next(&m, &g)) > 0) {
            if (g.num != 1 && g.num != 2)
                continue;
            if (pb_want(&g, PB_LEN) < 0)
                return STRATA_EPARSE;
            *(g.num == 1 ? &key : &val) = g.bytes;
        }
        if (mr < 0)
            return STRATA_EPARSE;
        key = slice_trim(key);
        if (!key.len || reserved_key(key))
            continue;
        /* A map key repeated on the wire: the last value wins, as in the seed. */
        uint32_t i = 0;
        while (i < n && !slice_eq(v[i].name, key))
            i++;
        if (i < n)
            v[i].value = val;
        else
            v[n++] = (struct label){key, val};
    }
    v[n++] = (struct label){SLICE_LIT("service"), service};
    v[n++] = (struct label){SLICE_LIT("level"), level};
    *out = v;
    *n_out = n;
    return 0;
}

static int read_entry(struct slice msg, struct normalizer *nz, struct stream_cache *cache,
                      const char *what, char *err, size_t errlen)
{
    struct push_batch *b = nz->b;
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    struct slice service = {"", 0}, level = {"", 0}, message = {"", 0};
    int64_t seconds = 0;
    struct slice raw_small[8], *raw = raw_small;
    uint32_t n_raw = 0, cap_raw = 8;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        switch (f.num) {
        case 1:
        case 2:
        case 3:
            if (pb_want(&f, PB_LEN) < 0)
                return bad(err, errlen, what, "service, level and message must be strings");
            *(f.num == 1 ? &service : f.num == 2 ? &level : &message) = f.bytes;
            break;
        case 4:
            if (pb_want(&f, PB_VARINT) < 0)
                return bad(err, errlen, what, "timestamp must be a varint");
            seconds = (int64_t)f.u;
            break;
        case 5: /* map<string,string> labels: entries {key = 1, value = 2}, read below */
            if (pb_want(&f, PB_LEN) < 0)
                return bad(err, errlen, what, "labels must be map entries");
            if (n_raw == cap_raw) {
                if (cap_raw >= MAX_CUSTOM * 4)
                    return bad(err, errlen, what, "too many labels");
                struct slice *nr = arena_alloc(&b->arena, cap_raw * 2 * sizeof(*nr));
                memcpy(nr, raw, n_raw * sizeof(*nr));
                raw = nr;
                cap_raw *= 2;
            }
            raw[n_raw++] = f.bytes;
            break;
        default: break;
        }
    }
    if (rc < 0)
        return bad(err, errlen, what, "truncated or malformed entry");
    if (!service.len || !level.len || !message.len) {
        push_result_error(nz->res, b, STRATA_EINVAL,
                          "log entry must contain Service, Level, and Message fields");
        nz->res->n_invalid++;
        return 0;
    }
    int64_t ts;
    if (seconds == 0) {
        ts = nz->now - nz->now % NS_PER_SEC;
    } else if (seconds > INT64_MAX / NS_PER_SEC || seconds < INT64_MIN / NS_PER_SEC) {
        return bad(err, errlen, what, "timestamp out of range");
    } else {
        ts = seconds * NS_PER_SEC;
    }
    uint32_t si;
    if (cache_hit(cache, service, level, raw, n_raw)) {
        si = cache->si;
    } else {
        struct label *v;
        uint32_t n;
        if (entry_labels(b, raw, n_raw, service, level, &v, &n) < 0)
            return bad(err, errlen, what, "truncated or malformed label");
        if (norm_stream(nz, v, n, &si) < 0)
            return norm_too_large(err, errlen);
        cache->valid = true;
        cache->service = service;
        cache->level = level;
        cache->raw =
            raw == raw_small ? arena_alloc(&b->arena, (n_raw ? n_raw : 1) * sizeof(*raw)) : raw;
        if (raw == raw_small && n_raw)
            memcpy(cache->raw, raw, n_raw * sizeof(*raw));
        cache->n_raw = n_raw;
        cache->si = si;
    }
    if (norm_entry(nz, si, ts, message, NULL, 0) < 0)
        return norm_too_large(err, errlen);
    return 0;
}

int logsgo_entry_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen)
{
    nz->check_utf8 = true;
    nz->sanitize_names = true;
    struct stream_cache cache = {0};
    return read_entry(msg, nz, &cache, "LogEntry", err, errlen);
}

int logsgo_batch_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen)
{
    nz->check_utf8 = true;
    nz->sanitize_names = true;
    struct stream_cache cache = {0};
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num != 1)
            continue;
        if (pb_want(&f, PB_LEN) < 0)
            return bad(err, errlen, "LogBatch", "entries must be messages");
        int er = read_entry(f.bytes, nz, &cache, "LogBatch", err, errlen);
        if (er < 0)
            return er;
    }
    if (rc < 0)
        return bad(err, errlen, "LogBatch", "truncated or malformed message");
    return 0;
}
