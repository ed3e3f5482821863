/*
 * tier.h - the interface every storage tier implements (LogsGO's chained stores).
 *
 * Logs move down a chain of tiers as they age: head (memory) -> local parts
 * -> object storage, or head -> ClickHouse. Each tier is a struct tier with an
 * ops table; the store (store.h) owns the chain, the WAL in front of it, and
 * the hand-over between links. The query engine reads every tier through the
 * same three calls (select, labels, series/stats) and merges their answers,
 * deduplicating entries that sit in two tiers during a hand-over.
 *
 * Threading: every op may be called from several threads at once; a tier
 * does its own locking. What select returns is a snapshot: it stays valid and
 * unchanged (even if the tier flushes or compacts meanwhile) until every
 * cursor it returned is closed.
 */
#ifndef STRATA_TIER_H
#define STRATA_TIER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "ingest/batch.h"
#include "query/selector.h"

struct tier;

/* What a query asks a tier for. */
struct tier_query {
    const char *tenant;
    const struct selector *sel; /* NULL matches every stream of the tenant */
    int64_t start, end;         /* ns; entries with start <= ts < end */
    bool backward;              /* cursors yield newest first */
    bool want_lines;            /* false: timestamps and sizes only (counts need no lines) */
    /*
     * With want_lines false: structured metadata is still wanted (a count's
     * series include it). Only tiers with ops->meta_without_lines look at it;
     * the engine asks others for lines instead.
     */
    bool want_meta;
    /*
     * Pruning hints: substrings every wanted line contains (from |= filters).
     * A tier may use them to skip blocks (bloom filters) but may also return
     * lines without them: the query engine filters again.
     */
    const struct slice *needles;
    uint32_t n_needles;
    /* Set by the query engine; a tier checks it between blocks and stops early. */
    const volatile int *cancel;
    /* Statistics the tier adds to (may be NULL). */
    struct tier_read_stats *stats;
};

struct tier_read_stats {
    uint64_t blocks_total, blocks_read; /* blocks considered / decompressed */
    uint64_t bytes_read;                /* compressed bytes read from storage */
    uint64_t bytes_decompressed;
    uint64_t entries_read;
};

/*
 * A batch of entries of one stream, in the cursor's order. The arrays are
 * valid until the next call on the cursor. sizes[i] is the line length (given
 * even without lines). meta[i] is the structured metadata of entry i in
 * labels_encode form (len 0 = none); meta itself is NULL when no entry of the
 * batch has any.
 */
struct entry_batch {
    uint32_t n;
    const int64_t *ts;
    const uint32_t *sizes;
    const struct slice *lines; /* NULL unless want_lines */
    const struct slice *meta;
};

struct tier_cursor;
struct tier_cursor_ops {
    /* 1 with a non-empty batch, 0 at the end, negative STRATA_E* on error. */
    int (*next)(struct tier_cursor *c, struct entry_batch *out);
    void (*close)(struct tier_cursor *c);
};
struct tier_cursor {
    const struct tier_cursor_ops *ops;
};

/* One stream a tier has data for in the query's range. */
struct tier_stream {
    uint64_t fp;
    const struct label *labels; /* sorted */
    uint32_t n_labels;
    struct slice key;           /* canonical {a="1"} form */
    struct tier_cursor *cursor; /* entries in [start, end), ordered by ts (ties: arrival) */
};

/* Called for each matching stream; return nonzero to stop. */
typedef int (*tier_stream_fn)(void *arg, const struct tier_stream *s);

/* Counts for /index/stats and the status page. */
struct tier_stats {
    uint64_t streams, chunks, entries, bytes;
};

struct tier_ops {
    const char *name; /* "head", "local", "s3", "clickhouse" */
    /*
     * Open a cursor per matching stream with data in range and pass each to fn.
     * A tier may report the same stream more than once (one cursor per part);
     * the engine merges cursors by fingerprint. Cursors are allocated in a and
     * must be closed by the caller.
     */
    int (*select)(struct tier *t, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                  void *arg);
    /* Streams (labels only, cursor NULL) matching q in range: for labels and series APIs. */
    int (*series)(struct tier *t, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                  void *arg);
    /* Add this tier's counts for q to out. */
    int (*stats)(struct tier *t, const struct tier_query *q, struct tier_stats *out);
    /* Move what is due to the next tier (force: everything). NULL if not applicable. */
    int (*flush)(struct tier *t, bool force);
    void (*close)(struct tier *t);
    /*
     * True when select honours want_meta: with want_lines false and want_meta
     * set, batches still carry meta (NULL only when no entry of the batch has
     * any), so counts need not decompress lines (false, the default, for
     * tiers that keep metadata beside the lines).
     */
    bool meta_without_lines;
};

struct tier {
    const struct tier_ops *ops;
    struct tier *next; /* the following link of the chain, or NULL */
};

#endif
