/*
 * s3_manifest.h - a writer's manifest: which part objects in the bucket are
 * visible, and the key layout of those objects.
 *
 * Every Strata writer owns one namespace of the bucket (its prefix) and is
 * the only process that writes under it. Its objects:
 *
 *     <prefix>/manifest.json                          this document
 *     <prefix>/<tenant>/<yyyy-mm-dd>/<uid>.part       parts, byte for byte the local format
 *
 * <yyyy-mm-dd> is the UTC day of the part's oldest entry (a part never spans
 * days) and <uid> the 16 lower-case hex digits of hash64 of the part's
 * 256-byte footer: the same file always gets the same key (an upload is
 * idempotent), two different parts never share one.
 *
 * A part object is visible (to queries, to compaction, to retention) only
 * while it is listed in the manifest's "parts"; the manifest is replaced
 * with one PUT, which S3 makes atomic, so readers see either the old or the
 * new set. Objects no longer listed but possibly still read by a querier
 * holding an older manifest are listed in "retired" with the time they left,
 * and deleted a grace period later. Anything else under the prefix is an
 * orphan (an upload whose manifest PUT never happened) and is deleted.
 *
 * The document (JSON, every integer a JSON number, times in ns since the
 * epoch, unknown keys ignored so that later versions can add fields):
 *
 *     {"format": "strata-s3-manifest", "version": 1,
 *      "writer": "<writer id>", "generation": 7, "updated_ns": 1700000000000000000,
 *      "parts": [{"key": "...", "tenant": "fake", "uid": "00112233aabbccdd",
 *                 "id": "0000000000000007", "level": 1, "size": 123456,
 *                 "index_off": 120000, "etag": "\"...\"", "min_ts": ..., "max_ts": ...,
 *                 "created_ns": ..., "entries": 100, "bytes": 5000, "streams": 3}],
 *      "retired": [{"key": "...", "since_ns": 1700000000000000000}]}
 *
 * "id" is the id in the part's footer (the writer's local part id); "size"
 * the object's size; "index_off" where the part's index sections start (so a
 * reader fetches index and footer with one ranged GET); "level" 0 for a part
 * written by a flush, 1 or more for a compacted one.
 */
#ifndef STRATA_S3_MANIFEST_H
#define STRATA_S3_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define S3_MANIFEST_NAME      "manifest.json"
#define S3_MANIFEST_MAX_BYTES (256u << 20)
#define S3_KEY_MAX            1024

struct s3_manifest_part {
    char *key, *tenant; /* owned */
    char etag[96];
    uint64_t uid, id;
    uint32_t level;
    uint64_t size, index_off;
    int64_t min_ts, max_ts, created_ns;
    uint64_t entries, bytes, streams;
};

struct s3_manifest_retired {
    char *key; /* owned */
    int64_t since_ns;
};

struct s3_manifest {
    char *writer; /* owned; may be NULL */
    uint64_t generation;
    int64_t updated_ns;
    struct s3_manifest_part *parts;
    uint32_t n_parts, cap_parts;
    struct s3_manifest_retired *retired;
    uint32_t n_retired, cap_retired;
};

void s3_manifest_init(struct s3_manifest *m);
/* Free everything m owns; m can be initialised again. NULL is a no-op. */
void s3_manifest_release(struct s3_manifest *m);
/* Replace dst with a deep copy of src. */
void s3_manifest_copy(struct s3_manifest *dst, const struct s3_manifest *src);

/* Append a copy of p (its strings are copied). */
void s3_manifest_add_part(struct s3_manifest *m, const struct s3_manifest_part *p);
/* Remove parts[i] (order kept), freeing its strings. */
void s3_manifest_remove_part(struct s3_manifest *m, uint32_t i);
/* Append a retired key. */
void s3_manifest_add_retired(struct s3_manifest *m, const char *key, int64_t since_ns);
/* Remove retired[i] (order kept). */
void s3_manifest_remove_retired(struct s3_manifest *m, uint32_t i);
/* The index of the part with this key, or -1. */
int s3_manifest_find(const struct s3_manifest *m, const char *key);

/* Write m as the JSON document above into out (bounded by out's maximum). */
int s3_manifest_encode(const struct s3_manifest *m, struct buf *out);
/*
 * Parse a manifest read from the bucket (untrusted bytes) into out, which
 * must be initialised (it is released first). Every part key and retired
 * key must lie under prefix + "/"; tenants must be valid tenant names; sizes
 * and offsets must be consistent. Returns 0, or STRATA_EPARSE with a message
 * (out is then empty).
 */
int s3_manifest_decode(const char *data, size_t len, const char *prefix, struct s3_manifest *out,
                       char *err, size_t errlen);

/*
 * The object key of a part: "<prefix>/<tenant>/<yyyy-mm-dd>/<uid>.part",
 * the day being min_ts's UTC day. Returns 0, or STRATA_EINVAL when it does
 * not fit in cap or in S3_KEY_MAX.
 */
int s3_part_key(char *out, size_t cap, const char *prefix, const char *tenant, int64_t min_ts,
                uint64_t uid);
/* "<prefix>/manifest.json"; STRATA_EINVAL when it does not fit. */
int s3_manifest_key(char *out, size_t cap, const char *prefix);

#endif
