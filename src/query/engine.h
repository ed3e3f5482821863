/*
 * engine.h - executing log expressions over the tier chain.
 *
 * The engine reads storage only through tier.h. For each branch of a log
 * expression it asks every tier of the chain (and every tenant of an
 * "a|b" query) for cursors over the streams the selector picks, with the
 * time range, direction, `want_lines` and the `|=` needles as pruning hints.
 * Cursors of the same stream (one per tier or part) form a group; groups are
 * spread over worker threads (--query.parallelism, both cores by default).
 * Each worker runs a k-way merge by time over its groups' cursors, dropping
 * entries that appear twice (same stream, time and line: an entry seen in
 * two tiers during a hand-over), and runs the pipeline on each entry.
 *
 * Log queries stop each worker after `limit` kept entries in the requested
 * direction, then merge the workers' answers: the first `limit` entries of
 * all streams. Metric queries turn kept entries into samples of series
 * (labels after the pipeline) and compute a range function per step;
 * counting queries without a pipeline never ask for lines.
 *
 * Limits: a query stops with STRATA_ETIMEOUT past its deadline, with
 * STRATA_ECANCELED when gone() says the client left, and with STRATA_ELIMIT
 * when its memory passes max_memory. Cursors are advanced from the worker
 * threads (one thread per cursor at a time), so a tier's cursors must not
 * share unsynchronised state, and a tier adding to tier_query.stats from
 * next() must do so atomically.
 */
#ifndef STRATA_ENGINE_H
#define STRATA_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "query/plan.h"
#include "store/tier.h"

struct query_limits {
    int64_t deadline_ns;     /* monotonic clock; 0: none */
    size_t max_memory;       /* bytes of query state; 0: none */
    int parallelism;         /* worker threads; 0: one per core */
    bool (*gone)(void *arg); /* polled every ~50 ms; true cancels the query */
    void *gone_arg;
    uint32_t max_series; /* metric queries: more result series is an error; 0: none */
};

struct query_stats {
    uint64_t lines_processed, bytes_processed; /* entries read from tiers and their bytes */
    uint64_t entries_returned;
    uint64_t streams, groups;
    int64_t exec_ns;
    struct tier_read_stats read;
};

/* ---- log queries ---- */

struct log_query {
    const char *tenant;     /* one tenant, or several joined by '|' */
    const struct expr *log; /* an EXPR_LOG node */
    int64_t start, end;     /* ns, [start, end) */
    uint32_t limit;         /* 0: no limit */
    bool backward;
    bool categorize; /* group by stream labels; metadata and parsed labels per entry */
    struct query_limits lim;
};

struct result_entry {
    int64_t ts;
    struct slice line;
    const struct label *meta, *parsed; /* categorize only */
    uint32_t n_meta, n_parsed;
};

struct result_stream {
    const struct label *labels; /* sorted */
    uint32_t n_labels;
    struct slice key; /* canonical {a="1"} */
    uint32_t n;
    struct result_entry *e; /* in the query's direction */
};

struct log_result {
    struct result_stream *streams; /* sorted by key */
    uint32_t n_streams;
    struct query_stats stats;
};

/*
 * Run a log query. Everything in out lives in a. On failure returns a
 * negative STRATA_E* with a message in err (Loki's text where Loki has one).
 */
int engine_log_query(struct tier *chain, const struct log_query *q, struct arena *a,
                     struct log_result *out, char *err, size_t errlen);

/* ---- metric queries ---- */

struct series {
    const struct label *labels;
    uint32_t n_labels;
    double *v;    /* one value per step */
    uint8_t *has; /* 1 where the step has a value */
};

struct matrix {
    struct series *s;
    uint32_t n;
    uint32_t n_steps;
    bool scalar; /* a number (one series without labels, every step present) */
};

/* What a range aggregation node is evaluated over. */
struct range_eval {
    const char *tenant;
    int64_t start, step; /* evaluation times start + k * step */
    uint32_t n_steps;
    struct query_limits lim;
    /* optional: fold an outer `sum by/without (...)` into the scan (count/bytes only) */
    const struct grouping *fold;
};

/*
 * Evaluate one EXPR_RANGE node at every step: series in a, sorted by labels.
 * Adds to stats. Errors as engine_log_query (a pipeline error names the
 * series, as Loki's "pipeline error: 'JSONParserErr' for series: ...").
 */
int engine_range(struct tier *chain, const struct expr *e, const struct range_eval *r,
                 struct arena *a, struct matrix *out, struct query_stats *stats, char *err,
                 size_t errlen);

/* True when engine_range can fold this outer aggregation into the scan of e. */
bool engine_can_fold(const struct expr *outer, const struct expr *e);

/* ---- LogsGO counts ---- */

/* One LogsGO series: (service, level, message, custom labels) and its history. */
struct logsgo_series {
    struct slice service, level, message;
    const struct label *custom; /* sorted; stream labels but service and level */
    uint32_t n_custom;
    uint32_t n;      /* distinct seconds with entries */
    int64_t *sec;    /* ascending unix seconds */
    uint64_t *count; /* occurrences with timestamp <= sec[i] (cumulative) */
};

/*
 * Every entry up to end_ns (exclusive) that the log expression keeps, grouped
 * by (stream labels, line): the cumulative occurrence counts per second, from
 * stored data (so they survive restarts). Series are sorted by service,
 * level, message, labels.
 */
int engine_logsgo_counts(struct tier *chain, const char *tenant, const struct expr *log,
                         int64_t end_ns, const struct query_limits *lim, struct arena *a,
                         struct logsgo_series **out, uint32_t *n, struct query_stats *stats,
                         char *err, size_t errlen);

/* ---- helpers shared with the APIs ---- */

/* Split "a|b" into tenant ids (pointers into a copy in a). */
uint32_t engine_tenants(const char *tenant, struct arena *a, const char ***out);
/* The canonical {a="1", b="2"} form of a sorted label set, in a. */
struct slice engine_labels_key(struct arena *a, const struct label *v, uint32_t n);
/* Order label sets as Loki sorts them (by name, then value, pair by pair). */
int engine_labels_cmp(const struct label *a, uint32_t na, const struct label *b, uint32_t nb);

#endif
