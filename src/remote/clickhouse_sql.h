/*
 * clickhouse_sql.h - pieces of SQL for ClickHouse 18.16: literals, label
 * matchers and line filters.
 *
 * Everything a query sends to ClickHouse that comes from a user (tenant,
 * label names and values, filter strings, regexes) goes through
 * clickhouse_sql_quote, so it can only ever be a string literal.
 *
 * Pushing regexes down: Strata matches with PCRE2 (UTF mode), ClickHouse's
 * match() with RE2, and the two read some patterns differently (RE2's '.'
 * matches a newline in ClickHouse, PCRE2's \s also matches \v, PCRE2's '$'
 * also matches before a final newline, \1 is a back-reference in one and an
 * octal escape in the other, ...). clickhouse_sql_regex translates a pattern
 * into an RE2 pattern with exactly the same matches, or refuses with
 * STRATA_EUNSUPPORTED when it contains anything outside the subset where
 * that is known to hold; the caller then evaluates that filter itself.
 */
#ifndef STRATA_CLICKHOUSE_SQL_H
#define STRATA_CLICKHOUSE_SQL_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/slice.h"
#include "query/selector.h"
#include "store/tier.h"

/* Append s as a ClickHouse string literal: '...' with \\, \' and \xHH escapes. */
__attribute__((warn_unused_result)) int clickhouse_sql_quote(struct buf *b, struct slice s);

/*
 * Append, as a quoted literal, the RE2 pattern that matches exactly what the
 * PCRE2 pattern matches (anchored: the whole subject, as selector matchers;
 * otherwise anywhere in it, as line filters). STRATA_EUNSUPPORTED when the
 * pattern uses a construct the two engines treat differently or RE2 lacks
 * (look-around, back-references, possessive quantifiers, \p, (?m), ...);
 * b is then unchanged.
 */
__attribute__((warn_unused_result)) int clickhouse_sql_regex(struct buf *b, struct slice pattern,
                                                             bool anchored);

/*
 * Append a boolean SQL expression true exactly when the matcher accepts the
 * value that value_expr evaluates to (value_expr must give "" for a missing
 * label, as Loki's selectors expect). STRATA_EUNSUPPORTED (b unchanged) when
 * the matcher's regex cannot be pushed down.
 */
__attribute__((warn_unused_result)) int
clickhouse_sql_matcher(struct buf *b, const char *value_expr, const struct matcher *m);

/*
 * Append a boolean expression true exactly when the line (line_expr) passes
 * the filter: position() for substrings (byte-wise, as Loki), match() for
 * regexes. STRATA_EUNSUPPORTED (b unchanged) for a regex that cannot be
 * pushed down.
 */
__attribute__((warn_unused_result)) int
clickhouse_sql_line_filter(struct buf *b, const char *line_expr, const struct tier_line_filter *f);

#endif
