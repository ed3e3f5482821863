/*
 * regex.h - regular expressions for selectors and filters, on PCRE2 with JIT.
 *
 * Loki's regexes are RE2; PCRE2 accepts RE2's syntax for what people write
 * (classes, alternation, (?i), (?P<name>...)) and is compiled with JIT. Every
 * match runs under a match limit and a depth limit, so a pattern built to
 * backtrack catastrophically fails that one match (counted as no match and
 * reported through regex_match's return value) instead of hanging a core.
 *
 * Selector matchers are fully anchored (REGEX_ANCHORED: the pattern must match
 * the whole value), line filters are not.
 */
#ifndef STRATA_REGEX_H
#define STRATA_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#include "core/slice.h"

struct regex;

enum { REGEX_ANCHORED = 1, REGEX_CASELESS = 2 };

/* Compile; on error returns NULL with a message (offset included) in err. */
struct regex *regex_compile(struct slice pattern, int flags, char *err, size_t errlen);
void regex_free(struct regex *re);
/* 1 match, 0 no match, STRATA_ELIMIT when the match limit was hit. Thread-safe. */
int regex_match(const struct regex *re, struct slice subject);
/*
 * Match and return capture offsets: ov gets 2 * (n_groups + 1) entries
 * (start, end) with -1 for unset groups. Returns as regex_match.
 */
int regex_match_groups(const struct regex *re, struct slice subject, long *ov, int ov_pairs);
/* Number of capture groups, and the name of group i (1-based) or NULL. */
int regex_group_count(const struct regex *re);
const char *regex_group_name(const struct regex *re, int i);
/* The literal text a match needs, if the pattern is a plain literal (for bloom pruning). */
bool regex_is_literal(const struct regex *re, struct slice *literal);
/*
 * A substring every match contains (at least 3 bytes), when the pattern shows
 * one: line filters test it first and skip the regex for lines without it.
 */
bool regex_required_literal(const struct regex *re, struct slice *literal);
/* Set the match limit for new matches (default 1,000,000 steps). */
void regex_set_match_limit(unsigned long limit);

#endif
