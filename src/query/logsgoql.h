/*
 * logsgoql.h - LogsGO's query language, compiled into the common plan.
 *
 *     expr   := term ( ("|" | OR) term )*
 *     term   := factor ( ("&" | AND) factor )*         AND binds tighter
 *     factor := "(" expr ")" | IDENT ("=" | CONTAINS) (STRING | IDENT)
 *
 * Strings are "..." or '...' without escapes (an unterminated string runs to
 * the end); words are [A-Za-z0-9_.:/-]+; AND, OR and CONTAINS are keywords in
 * any case (so `level=and` is an error). The fields service, level and
 * message are case-insensitive; any other name is a custom label (missing
 * means ""), compared exactly. CONTAINS is a substring match (the seed
 * rejected it).
 *
 * The expression is brought to disjunctive normal form; each conjunction is a
 * branch of the plan's log expression: service/level/custom labels become
 * selector matchers on the stream labels service, level and the custom ones,
 * and message becomes a whole-line filter (or a substring filter for
 * CONTAINS). At most 32 branches.
 */
#ifndef STRATA_LOGSGOQL_H
#define STRATA_LOGSGOQL_H

#include "query/plan.h"

/*
 * Parse text into a plan whose root is an EXPR_LOG. On error returns
 * STRATA_EPARSE with a description in err (the API answers LogsGO's
 * {"error":"Invalid query expression"}).
 */
int plan_parse_logsgoql(struct slice text, struct arena *a, struct plan *out, char *err,
                        size_t errlen);

#endif
