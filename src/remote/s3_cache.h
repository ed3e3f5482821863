/*
 * s3_cache.h - a bounded on-disk LRU cache of byte ranges of S3 objects.
 *
 * Parts in the bucket are immutable, so a range read once (a part's footer,
 * its block index and postings, a hot block) never changes. The S3 tier
 * reads them through this cache, kept under <data-dir>/s3-cache/, so that the
 * next query, or the process after a restart, fetches only what it has not
 * seen. The cache holds at most --s3.cache-size bytes of files; the least
 * recently used entries are deleted first. An entry is identified by the
 * object key, its ETag (so a rewritten object never serves stale bytes) and
 * the range as requested (offset and length, suffix ranges included).
 *
 * Safe across restarts and crashes: each entry is written to a temporary
 * file and renamed into place, and carries a CRC32C over its whole content;
 * an entry that fails to verify (torn, truncated, bit-flipped) is deleted
 * and counted as a miss, never served. At open the directory is scanned:
 * temporary files are removed, entries are ordered by modification time
 * (touched on every hit), and the oldest are evicted beyond the limit.
 *
 * Thread-safe: any call from any thread. A NULL cache (size 0) is valid and
 * always misses.
 */
#ifndef STRATA_S3_CACHE_H
#define STRATA_S3_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "remote/s3.h"

struct s3_cache;

/*
 * Open (creating it and its parent if needed) the cache directory dir,
 * holding at most max_bytes. max_bytes 0 gives *out = NULL: no cache.
 * Returns 0, or a negative STRATA_E* with a message when dir cannot be
 * created or read.
 */
int s3_cache_open(const char *dir, uint64_t max_bytes, struct s3_cache **out, char *err,
                  size_t errlen);
/* Free the index (the files stay for the next open). NULL is a no-op. */
void s3_cache_close(struct s3_cache *c);

/*
 * Look up object/etag/range: 1 on a hit with the bytes appended to out, 0 on
 * a miss (out unchanged), STRATA_ETOOLARGE when out cannot take them. etag
 * may be NULL or "" (then only the key and range identify the entry).
 */
int s3_cache_get(struct s3_cache *c, const char *object, const char *etag, struct s3_range range,
                 struct buf *out);
/*
 * Store the bytes of object/etag/range. Entries larger than an eighth of the
 * cache are not kept (0 is returned: caching is best effort). Returns 0, or
 * a negative STRATA_E* when the file cannot be written (the cache is then
 * unchanged).
 */
int s3_cache_put(struct s3_cache *c, const char *object, const char *etag, struct s3_range range,
                 const void *data, size_t len);

/*
 * Read-through: the range from the cache, or from S3 with s3_get (then
 * stored). *hit (may be NULL) tells which.
 */
int s3_cache_fetch(struct s3_cache *c, struct s3_client *s3, const char *object, const char *etag,
                   struct s3_range range, struct buf *out, bool *hit, struct s3_error *e);

/* One range of s3_cache_fetch_many; etag may be NULL. */
struct s3_cache_req {
    const char *object, *etag;
    struct s3_range range;
    struct buf *out; /* appended to */
    bool hit;        /* set: served from the cache */
    int rc;          /* this range's result */
};
/*
 * Serve every range it can from the cache and fetch the others from S3 at
 * once (s3_get_many, in parallel), storing each under its own range. Ranges
 * of one object (same ETag) less than S3_CACHE_COALESCE_GAP apart are
 * fetched with one GET of at most S3_CACHE_COALESCE_MAX bytes and split (a
 * part's adjacent blocks cost one request, not one each). Returns 0, or the
 * first failure's rc (its error in e); each request has its own rc.
 */
#define S3_CACHE_COALESCE_GAP (64 << 10)
#define S3_CACHE_COALESCE_MAX (8 << 20)
int s3_cache_fetch_many(struct s3_cache *c, struct s3_client *s3, struct s3_cache_req *reqs,
                        size_t n, struct s3_error *e);

struct s3_cache_stats {
    uint64_t hits, misses, evictions, corrupt;
    uint64_t entries, bytes, max_bytes;
};
void s3_cache_stats(struct s3_cache *c, struct s3_cache_stats *out);

#endif
