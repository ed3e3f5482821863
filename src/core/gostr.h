/*
 * gostr.h - Go string literals, as LogQL and Loki's label strings write them.
 *
 * "..." with Go escapes (\a \b \f \n \r \t \v \\ \" \' \xHH \ooo \uHHHH
 * \UHHHHHHHH) and `...` raw strings (no escapes, may span lines).
 */
#ifndef STRATA_GOSTR_H
#define STRATA_GOSTR_H

#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/slice.h"

/*
 * Unquote the literal starting at s.ptr[0] (a '"' or '`'). On success stores
 * the decoded text in *out (a slice into s when nothing needed decoding, else
 * into a) and the number of bytes consumed in *used. STRATA_EPARSE with a
 * message in err (if non-NULL) on a malformed literal.
 */
int gostr_unquote(struct slice s, struct arena *a, struct slice *out, size_t *used,
                  const char **err);
/* Append s as a Go double-quoted literal (strconv.Quote style, for valid UTF-8). */
int gostr_quote(struct buf *b, struct slice s);

#endif
