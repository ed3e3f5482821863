/*
 * engine.h - executing a plan over the tier chain.
 *
 * A log query returns entries of the matching streams with
 * start <= ts < end, the `limit` first in the requested direction across all
 * streams, grouped by stream. Entries present in two tiers (during a
 * hand-over) are returned once.
 */
#ifndef STRATA_ENGINE_H
#define STRATA_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "query/plan.h"
#include "store/tier.h"

struct log_query {
    const char *tenant;
    const struct plan *plan;
    int64_t start, end; /* ns, [start, end) */
    uint32_t limit;
    bool backward;
    const volatile int *cancel;
};

struct result_stream {
    const struct label *labels;
    uint32_t n_labels;
    struct slice key;
    uint32_t n;
    int64_t *ts;
    struct slice *lines;
    struct slice *meta; /* labels_encode form per entry; len 0 = none */
};

struct query_stats {
    uint64_t lines_processed, bytes_processed;
    uint64_t entries_returned;
    int64_t exec_ns;
    struct tier_read_stats read;
};

struct log_result {
    struct result_stream *streams;
    uint32_t n_streams;
    struct query_stats stats;
};

/* Run a log query; everything in out lives in a. */
int engine_log_query(struct tier *chain, const struct log_query *q, struct arena *a,
                     struct log_result *out);

#endif
