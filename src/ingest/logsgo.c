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

static int read_entry(struct slice msg, struct normalizer *nz, const char *what, char *err,
                      size_t errlen)
{
    struct push_batch *b = nz->b;
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    struct slice service = {"", 0}, level = {"", 0}, message = {"", 0};
    int64_t seconds = 0;
    /* Custom labels, plus room for service and level. */
    uint32_t n = 0, cap = 8;
    struct label *v = arena_alloc(&b->arena, cap * sizeof(*v));
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
        case 5: { /* map<string,string> labels: entries {key = 1, value = 2} */
            if (pb_want(&f, PB_LEN) < 0)
                return bad(err, errlen, what, "labels must be map entries");
            struct pb_reader m = pb_reader_make(f.bytes);
            struct pb_field g;
            struct slice key = {"", 0}, val = {"", 0};
            int mr;
            while ((mr = pb_next(&m, &g)) > 0) {
                if (g.num != 1 && g.num != 2)
                    continue;
                if (pb_want(&g, PB_LEN) < 0)
                    return bad(err, errlen, what, "label keys and values must be strings");
                *(g.num == 1 ? &key : &val) = g.bytes;
            }
            if (mr < 0)
                return bad(err, errlen, what, "truncated or malformed label");
            key = slice_trim(key);
            if (!key.len || reserved_key(key))
                break;
            /* A map key repeated on the wire: the last value wins, as in the seed. */
            uint32_t i = 0;
            while (i < n && !slice_eq(v[i].name, key))
                i++;
            if (i < n) {
                v[i].value = val;
                break;
            }
            if (n + 2 >= cap) {
                if (cap >= MAX_CUSTOM * 4)
                    return bad(err, errlen, what, "too many labels");
                v = arena_realloc(&b->arena, v, cap * sizeof(*v), cap * 2 * sizeof(*v));
                cap *= 2;
            }
            v[n++] = (struct label){key, val};
            break;
        }
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
    v[n++] = (struct label){SLICE_LIT("service"), service};
    v[n++] = (struct label){SLICE_LIT("level"), level};
    uint32_t si;
    if (norm_stream(nz, v, n, &si) < 0 || norm_entry(nz, si, ts, message, NULL, 0) < 0)
        return norm_too_large(err, errlen);
    return 0;
}

int logsgo_entry_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen)
{
    nz->check_utf8 = true;
    nz->sanitize_names = true;
    return read_entry(msg, nz, "LogEntry", err, errlen);
}

int logsgo_batch_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen)
{
    nz->check_utf8 = true;
    nz->sanitize_names = true;
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num != 1)
            continue;
        if (pb_want(&f, PB_LEN) < 0)
            return bad(err, errlen, "LogBatch", "entries must be messages");
        int er = read_entry(f.bytes, nz, "LogBatch", err, errlen);
        if (er < 0)
            return er;
    }
    if (rc < 0)
        return bad(err, errlen, "LogBatch", "truncated or malformed message");
    return 0;
}
