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
 * cursor it returned is closed. Different cursors may be read on different
 * threads at once; one cursor is read by one thread at a time.
 *
 * Hand-over (docs/STORAGE.md, "The chain"). Data moves down the chain in two
 * ways, both driven by the store:
 *   - A frozen head generation is handed to the next tier as sorted streams
 *     of entries (struct handover): absorb() must return only once the next
 *     tier holds the data durably; the store then calls commit() (if the tier
 *     has one) and drops the generation from the head in one step under the
 *     store's hand-over lock, so a query sees the data in exactly one of the
 *     two tiers. Only after that does the store checkpoint the WAL: a failed
 *     absorb loses nothing (the generation stays queryable in the head and in
 *     the WAL, and is retried; after a restart it is replayed).
 *   - Whole part files age out of local disk into the tier after it:
 *     adopt_part() must return once that tier holds the file durably; the
 *     local tier deletes its copy afterwards.
 * durable_seq() tells the store, at start-up, which WAL segments a tier
 * already holds, so that a crash between absorb and the WAL checkpoint does
 * not replay them twice.
 */
#ifndef STRATA_TIER_H
#define STRATA_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "ingest/batch.h"
#include "query/selector.h"

struct tier;
struct part_info;
struct tier_line_filter;
struct tier_count;

/* What a query asks a tier for. */
/* True once the flag at cancel (may be NULL) is set: read atomically, since the
 * engine sets it from another thread. */
static inline bool tier_cancelled(const volatile int *cancel)
{
    return cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED) != 0;
}

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
     * Pruning hints: substrings every wanted line contains (from |= filters,
     * and the literal a |~ regex requires). A tier may use them to skip
     * blocks (bloom filters) and to drop lines without them (counted in
     * stats->entries_filtered), or return such lines: the query engine
     * filters again.
     */
    const struct slice *needles;
    uint32_t n_needles;
    /*
     * Set by the query engine from another thread; a tier checks it between
     * blocks with tier_cancelled() (an atomic read) and stops early.
     */
    const volatile int *cancel;
    /* Statistics the tier adds to (may be NULL). */
    struct tier_read_stats *stats;
    /*
     * More pruning hints: line filters every wanted line passes (the leading
     * line filters of the pipeline). A tier may apply any of them (exactly:
     * what it drops must fail the filter) or none; the engine filters again.
     */
    const struct tier_line_filter *filters;
    uint32_t n_filters;
    /*
     * Counting push-down (NULL: none asked). See struct tier_count: a tier
     * may then answer a stream with counts instead of a cursor.
     */
    const struct tier_count *count;
    /*
     * A log query's limit when its pipeline is only the filters above (0:
     * no idea): the engine probably stops after this many entries of a
     * stream. A tier may size its first read by it; cursors go on anyway.
     */
    uint32_t limit_hint;
};

/* A line filter as LogQL writes it, for tiers that evaluate filters themselves. */
enum tier_line_op {
    TIER_LINE_CONTAINS,     /* |= "s": the line contains s (bytes) */
    TIER_LINE_NOT_CONTAINS, /* != "s" */
    TIER_LINE_REGEX,        /* |~ "re": PCRE2 syntax, matches anywhere in the line */
    TIER_LINE_NOT_REGEX,    /* !~ "re" */
};

struct tier_line_filter {
    enum tier_line_op op;
    struct slice pattern;
};

/*
 * Counting push-down. When a range aggregation only needs how many entries
 * (and bytes of lines) of each stream fall into fixed time buckets --
 * count_over_time, rate, bytes_over_time, bytes_rate, absent_over_time over
 * a pipeline made only of line filters -- the engine sets tier_query.count
 * and puts the whole pipeline in tier_query.filters. A tier that can
 * evaluate every one of those filters exactly (a database, in SQL) may then
 * report a stream with counts (tier_stream.counts) and no cursor, instead of
 * a cursor over its entries; every other tier ignores count and returns
 * cursors, whose entries the engine filters and counts itself. A tier
 * answers one query one way or the other, never both for the same entries.
 * With want_meta, counts are split by structured metadata (the series of a
 * count include it): a stream is then reported once per distinct metadata
 * (tier_counts.meta).
 */
struct tier_count {
    int64_t origin, width; /* bucket k: origin + k * width <= ts < origin + (k + 1) * width */
    uint32_t n_buckets;    /* [start, end) of the query lies within the buckets */
    bool want_bytes;       /* fill tier_counts.bytes (bytes_over_time, bytes_rate) */
    bool want_meta;        /* split by structured metadata (tier_query.want_meta is wider) */
};

/* The answer for one stream (and metadata) of a counting query; arrays in the query's arena. */
struct tier_counts {
    struct slice meta;      /* metadata these entries share (labels_encode form; empty: none) */
    uint32_t n;             /* buckets with entries, in increasing order */
    const uint32_t *bucket; /* bucket numbers k (< n_buckets) */
    const uint64_t *entries;
    const uint64_t *bytes; /* bytes of lines per bucket; NULL unless want_bytes */
};

struct tier_read_stats {
    uint64_t blocks_total, blocks_read; /* blocks considered / decompressed */
    uint64_t bytes_read;                /* compressed bytes read from storage */
    uint64_t bytes_decompressed;
    uint64_t entries_read;
    /* entries read and bytes of their lines that the tier dropped itself (needles, filters) */
    uint64_t entries_filtered, bytes_filtered;
};

/*
 * A batch of entries of one stream, in the cursor's order. The arrays, and
 * the line and metadata bytes they point to, are valid until the next call on
 * the cursor (or its close): a consumer copies what it keeps, so that a scan
 * holds one decompressed block per cursor, not the whole result. sizes[i] is the line length (given
 * even without lines). meta[i] is the structured metadata of entry i in
 * labels_encode form (len 0 = none); meta itself is NULL when no entry of the
 * batch has any, and may be NULL without want_lines (metadata is stored
 * beside the lines and read with them).
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
    struct slice key;                 /* canonical {a="1"} form */
    struct tier_cursor *cursor;       /* entries in [start, end), ordered by ts (ties: arrival) */
    const struct tier_counts *counts; /* instead of cursor: a counting query's answer */
};

/* Set ts's identity (fingerprint, labels, key) to copies in a of the given ones. */
static inline void tier_stream_copy_id(struct tier_stream *ts, uint64_t fp,
                                       const struct label *labels, uint32_t n_labels,
                                       struct slice key, struct arena *a)
{
    ts->fp = fp;
    ts->labels = labels_dup(a, labels, n_labels);
    ts->n_labels = n_labels;
    ts->key = arena_slice_dup(a, key);
}

/* Called for each matching stream; return nonzero to stop. */
typedef int (*tier_stream_fn)(void *arg, const struct tier_stream *s);

/* Counts for /index/stats and the status page. */
struct tier_stats {
    uint64_t streams, chunks, entries, bytes;
};

/* What a tier holds as a whole (the status page and metrics). */
struct tier_usage {
    uint64_t streams, entries, bytes; /* bytes: of lines */
    uint64_t parts, disk_bytes;       /* files or objects and their size (0 for memory) */
    int64_t min_ts, max_ts;           /* 0 when empty */
};

/* One stream of a hand-over, with a cursor over all its entries (forward, lines and metadata). */
struct handover_stream {
    const char *tenant;
    uint64_t fp;
    const struct label *labels; /* sorted */
    uint32_t n_labels;
    struct slice key;
    int64_t min_ts, max_ts;
    uint64_t entries, bytes;
    struct tier_cursor *cursor; /* owned by the hand-over: do not close */
};

typedef int (*handover_stream_fn)(void *arg, const struct handover_stream *s);

/* A frozen head generation on its way to the next tier. */
struct handover {
    uint64_t seq; /* every WAL segment numbered <= seq is in this hand-over or an earlier one */
    uint64_t streams, entries, bytes;
    int64_t min_ts, max_ts;
    /*
     * Call fn for every stream, grouped by tenant (tenants in byte order,
     * streams in no particular order); a nonzero return stops the walk and
     * is returned. May be called more than once (a retried absorb).
     */
    int (*each)(struct handover *h, handover_stream_fn fn, void *arg);
    void *giver; /* private to the giving tier */
    void *taker; /* private to the receiving tier, from absorb to commit */
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
    /*
     * Periodic upkeep, called by the store's maintenance thread: compact, and
     * move what is due to the next tier (force: compact everything that can
     * be, now). NULL if the tier has none.
     */
    int (*flush)(struct tier *t, bool force);
    void (*close)(struct tier *t);
    /*
     * True when select honours want_meta: with want_lines false and want_meta
     * set, batches still carry meta (NULL only when no entry of the batch has
     * any), so counts need not decompress lines (false, the default, for
     * tiers that keep metadata beside the lines).
     */
    bool meta_without_lines;

    /* ---- the chain (any may be NULL when a tier cannot do it) ---- */

    /* Take a head generation; return only once it is durable here (see the top of this file). */
    int (*absorb)(struct tier *t, struct handover *h);
    /* Make what absorb took visible to queries; called with the store's hand-over lock held. */
    void (*commit)(struct tier *t, struct handover *h);
    /* The highest hand-over seq this tier holds durably (0 if none). */
    uint64_t (*durable_seq)(struct tier *t);
    /* Take a whole part file (path) aged out of the tier before; durable on return. */
    int (*adopt_part)(struct tier *t, const char *path, const struct part_info *info);
    /* Delete every entry older than before (global retention); whole parts at a time is fine. */
    int (*expire)(struct tier *t, int64_t before);
    int (*usage)(struct tier *t, struct tier_usage *out);
    /*
     * Can the tier serve now? 0, or a negative STRATA_E* with the reason in
     * err (e.g. its server is unreachable): /ready answers 503 with it.
     * NULL for tiers that are always ready.
     */
    int (*ready)(struct tier *t, char *err, size_t errlen);
};

struct tier {
    const struct tier_ops *ops;
    struct tier *next; /* the following link of the chain, or NULL */
};

#endif
