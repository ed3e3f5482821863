/*
 * store.h - the storage engine: WAL, the tier chain, flushing and upkeep
 * behind one entry point.
 *
 * Ingest calls store_push with a normalised batch; when it returns 0 the
 * batch's accepted entries are durable (with --wal.sync=always: their WAL
 * record is fdatasynced) and visible to queries. Queries read the chain
 * through store_chain. docs/STORAGE.md describes the whole engine: formats,
 * the durability contract, and what each option trades.
 *
 * Threads: every function may be called from any thread, except that
 * store_close must be the last call.
 */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "ingest/batch.h"
#include "store/tier.h"

struct store;

/*
 * Open the data directory (locked against a second process, see
 * --unlock-data-dir), load the parts, replay the WAL and start the flush
 * and upkeep threads. On error returns a STRATA_E* code with a message in
 * err (STRATA_ELOCKED: another process has the directory).
 */
int store_open(const struct config *cfg, struct store **out, char *err, size_t errlen);
/*
 * Stop the threads, flush the head to parts (--flush-on-exit), close
 * everything and release the lock. NULL is a no-op.
 */
void store_close(struct store *s);
/*
 * Make the batch durable and visible. Entries the store refuses (too far
 * behind their stream's newest) are recorded in res with Loki's text; an
 * entry identical to its stream's previous one is counted as accepted and
 * stored once. Returns 0, or a negative STRATA_E* when nothing was stored:
 * STRATA_EBUSY (memory limits reached while a flush runs: 429 with
 * Retry-After), STRATA_ENOSPC (full disk: 507), STRATA_EIO (500),
 * STRATA_ETOOLARGE (a batch over the WAL's 1 GiB record limit),
 * STRATA_EUNSUPPORTED (a read-only querier, --target=querier).
 */
int store_push(struct store *s, struct push_batch *b, struct push_result *res);
/*
 * The tier queries read. It answers for the head and local parts and makes
 * the head -> next hand-over atomic for a query: every entry is seen in
 * exactly one of them. Its next is the tier after local parts (object
 * storage) or NULL: callers walk ->next and read each link, and the engine
 * drops the entries a part hand-over shows in two links.
 */
struct tier *store_chain(struct store *s);
/* The real chain, head first (for per-tier inspection; queries use store_chain). */
struct tier *store_tiers(struct store *s);
/*
 * Flush the head to parts now and (force) compact everything that can be
 * and apply retention. Returns when done: 0, or the first error.
 */
int store_flush(struct store *s, bool force);

struct store_tier_status {
    const char *name;
    struct tier_usage usage;
};

/* Everything the status page and /metrics show about storage. */
struct store_status {
    /* head (memory tier) */
    uint64_t head_entries, head_bytes, head_mem_bytes; /* the active generation */
    uint64_t frozen_entries, frozen_bytes;             /* a generation being flushed */
    uint64_t head_streams, head_tenants;
    int64_t head_age_ns; /* since the active generation's first entry (0 if empty) */
    /* WAL */
    const char *wal_sync; /* "always" or "interval" */
    uint64_t wal_segments, wal_bytes, wal_first, wal_current, wal_checkpoint;
    uint64_t wal_appends, wal_rounds, wal_fsyncs, wal_failures;
    bool wal_broken;
    /* flushes and upkeep */
    uint64_t flushes, flush_failures, flushed_entries, busy_rejections;
    uint64_t room_waits, room_wait_ns; /* pushes that waited for a flush to make room */
    int64_t last_flush_ns;             /* wall clock; 0 if never */
    int last_flush_rc;
    uint64_t compactions, compaction_failures, parts_compacted, corrupt_parts;
    int64_t last_compaction_ns;
    /* tiers, head first */
    struct store_tier_status tiers[8];
    uint32_t n_tiers;
};
void store_status(struct store *s, struct store_status *out);

#endif
