/*
 * local.h - the local-disk tier: immutable parts under <data-dir>/parts.
 *
 * Layout: <dir>/<tenant>/<16 hex digits id>.part, one part per tenant and
 * UTC day (a flush writes one part per tenant and day it holds; compaction
 * merges the parts of one tenant and day into one). Temp files are
 * .tmp-<id>.part and .tmp-<id>.bloom.
 *
 * Commit rules at open (see part.c's recovery rule and store.c's checkpoint):
 *   - temp files are deleted;
 *   - a part whose WAL sequence is above the store's checkpoint was written
 *     by a flush that never committed: it is deleted (the WAL still has its
 *     data and replays it);
 *   - a part superseded by another (compaction committed but its inputs were
 *     not yet deleted) is deleted;
 *   - a part that fails its checksums is renamed to <name>.corrupt, logged,
 *     and left out; Strata never deletes data it cannot read.
 *
 * The tier (tier.h ops): select/series/stats over the parts of a tenant;
 * absorb writes a head generation as new parts (invisible until commit);
 * flush runs the upkeep: parts older than max_retention are handed to the
 * next tier (adopt_part) or, without one, deleted; and every
 * compact_interval (or when forced) small and overlapping parts of a day are
 * merged into one part at a higher zstd level (a day that collects
 * compact_min_parts flush parts has them merged at the next upkeep, without
 * waiting, into an interim part at interim_zstd_level).
 * expire deletes parts older than a global retention.
 */
#ifndef STRATA_LOCAL_H
#define STRATA_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

#include "store/tier.h"

struct local_options {
    const char *dir;            /* created if missing */
    uint64_t checkpoint;        /* the store's WAL checkpoint: parts above it are uncommitted */
    int flush_zstd_level;       /* parts written by a flush */
    int compact_zstd_level;     /* parts written by compaction */
    int interim_zstd_level;     /* parts merged from the flush parts of an unfinished day */
    uint32_t block_bytes;       /* raw line bytes per block */
    bool bloom;                 /* build bloom filters (in compacted parts) */
    bool flush_bloom;           /* and in the parts a flush writes */
    int64_t max_retention;      /* ns; 0 keeps parts forever */
    int64_t compact_interval;   /* ns between compactions (0: only when forced) */
    int64_t day_settle;         /* after a day ends, wait this long before merging it whole */
    uint32_t compact_min_parts; /* merge an unfinished day once it has this many flush parts */
    const volatile int *stop;   /* when set, a running compaction gives up (its temp file goes) */
};

int local_open(const struct local_options *o, struct tier **out, char *err, size_t errlen);

struct local_status {
    uint64_t compactions, compaction_failures, parts_compacted;
    uint64_t retired_parts, expired_parts, flushed_parts;
    int64_t last_compaction_ns, last_compaction_duration_ns;
    uint64_t corrupt_parts;
};
void local_status(struct tier *t, struct local_status *out);

#endif
