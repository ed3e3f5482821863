/*
 * eval.h - evaluating a metric plan at every step of a query.
 *
 * A metric query is evaluated at the times start, start + step, ... (end
 * included); an instant query at one time. Every node of the expression tree
 * becomes a matrix (series x steps, with a presence bit per value): range
 * aggregations come from the engine (engine_range), the rest is computed
 * here with PromQL's semantics as Loki applies them: vector aggregations with
 * by/without, topk/bottomk per step, sort/sort_desc, arithmetic and
 * comparison operators (with bool) and and/or/unless between vectors and
 * scalars with on/ignoring and group_left/group_right matching,
 * label_replace, vector() and number literals.
 */
#ifndef STRATA_EVAL_H
#define STRATA_EVAL_H

#include "query/engine.h"

enum result_order { ORDER_LABELS, ORDER_VALUE_ASC, ORDER_VALUE_DESC };

struct metric_query {
    const char *tenant;
    const struct plan *plan;  /* plan_is_metric */
    int64_t start, end, step; /* ns; an instant query has start == end */
    struct query_limits lim;
};

struct metric_result {
    struct matrix m;
    int64_t start, step; /* the evaluation times */
    enum result_order order;
    struct query_stats stats;
};

/*
 * Evaluate q. Everything in out lives in a. On failure returns a negative
 * STRATA_E* with Loki's message in err (e.g. the maximum number of series).
 */
int eval_metric_query(struct tier *chain, const struct metric_query *q, struct arena *a,
                      struct metric_result *out, char *err, size_t errlen);

#endif
