/*
 * plan.h - the query plan both query languages compile to.
 *
 * LogQL and LogsGoQL are parsed into one plan: a set of stream selectors
 * (LogsGoQL's OR gives several), the line filters and pipeline stages applied
 * to each entry, and, for metric queries, the range aggregation and the
 * expression tree above it. The engine (engine.h) executes a plan over the
 * tier chain. First slice: one selector and no pipeline.
 */
#ifndef STRATA_PLAN_H
#define STRATA_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "query/selector.h"

struct plan {
    struct selector sel;
};

/* Parse a LogQL log query (first slice: a bare selector). */
int plan_parse_logql(struct slice text, struct arena *a, struct plan *out, char *err,
                     size_t errlen);
void plan_release(struct plan *p);

#endif
