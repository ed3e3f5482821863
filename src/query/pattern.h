/*
 * pattern.h - Loki's pattern expressions: `<ip> - <_> "<method> <uri> <_>"`.
 *
 * A pattern is literals and captures: `<name>` captures text under a label
 * name, `<_>` skips text. Matching is anchored at the start of the line and
 * runs left to right, each capture ending at the first occurrence of the
 * literal that follows it. Two captures with nothing between them are
 * invalid (there would be no way to tell where one ends).
 *
 * As a parser (`| pattern "..."`) a pattern yields the captures it could
 * fill, in order, even if the line ends early; as a line filter (`|> "..."`)
 * the whole line must match.
 */
#ifndef STRATA_PATTERN_H
#define STRATA_PATTERN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/slice.h"

struct pattern;

/*
 * Compile text. need_capture demands at least one named capture (the parser
 * form). On error returns STRATA_EPARSE with Loki's message in err.
 */
int pattern_compile(struct slice text, bool need_capture, struct pattern **out, char *err,
                    size_t errlen);
void pattern_free(struct pattern *p);
/* The named captures, in order; *names stays valid while p lives. */
uint32_t pattern_names(const struct pattern *p, const struct slice **names);
/*
 * Match line as the parser does: caps receives up to pattern_names() slices
 * (into line) for the named captures that were filled, in order; returns how
 * many were filled (0 when the leading literal does not match).
 */
uint32_t pattern_extract(const struct pattern *p, struct slice line, struct slice *caps);
/* True when the whole line matches (the |> line filter). */
bool pattern_test(const struct pattern *p, struct slice line);

#endif
