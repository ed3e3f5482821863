/*
 * selector.h - stream selectors: {name op "value", ...} with = != =~ !~.
 *
 * A selector picks streams by their labels. Regex matchers are fully anchored
 * (Loki/RE2 semantics). A label that a stream does not have has the value "".
 * The selector owns its compiled regexes: selector_release frees them (the
 * rest lives in the arena given to the parser).
 */
#ifndef STRATA_SELECTOR_H
#define STRATA_SELECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "ingest/labels.h"
#include "query/regex.h"

enum match_op { MATCH_EQ, MATCH_NEQ, MATCH_RE, MATCH_NRE };

struct matcher {
    enum match_op op;
    struct slice name, value;
    struct regex *re; /* for MATCH_RE / MATCH_NRE */
};

struct selector {
    struct matcher *m;
    uint32_t n;
};

/*
 * Parse a selector at the start of text; *used gets the bytes consumed.
 * Checks Loki's rule that at least one matcher must not match the empty
 * string. STRATA_EPARSE with a message ("parse error at line 1, col N: ...")
 * in err on failure.
 */
int selector_parse(struct slice text, struct arena *a, struct selector *out, size_t *used,
                   char *err, size_t errlen);
/* Build one matcher (compiling a regex for =~/!~). */
int matcher_init(struct matcher *m, enum match_op op, struct slice name, struct slice value,
                 char *err, size_t errlen);
/* True when a matcher accepts the empty string (a missing label). */
bool matcher_matches_empty(const struct matcher *m);
bool matcher_matches(const struct matcher *m, struct slice value);
/* True when every matcher accepts the label set (sorted by name). */
bool selector_matches(const struct selector *s, const struct label *v, uint32_t n);
void selector_release(struct selector *s);
/* Append the selector in LogQL form. */
int selector_format(struct buf *b, const struct selector *s);

#endif
