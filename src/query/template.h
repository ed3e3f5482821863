/*
 * template.h - the subset of Go's text/template that line_format and
 * label_format use.
 *
 * Supported: text and {{ actions }} with {{- -}} trimming and comment actions;
 * fields {{.label}} (a missing label is "", as Loki's missingkey=zero);
 * string, number, true/false/nil literals; pipelines {{ .a | lower | trunc 5 }}
 * where the piped value becomes the last argument; parenthesised pipelines;
 * {{ if }}/{{ else if }}/{{ else }}/{{ end }} and {{ with }}; Go's built-in
 * functions and, or, not, eq, ne, lt, le, gt, ge, len, print, printf,
 * println, urlquery; Loki's functions __line__, __timestamp__, ToLower,
 * ToUpper, Replace, Trim, TrimLeft, TrimRight, TrimPrefix, TrimSuffix,
 * TrimSpace, regexReplaceAll, regexReplaceAllLiteral, count, urldecode,
 * urlencode, bytes, duration, duration_seconds, unixEpochMillis,
 * unixEpochNanos, toDateInZone; and the sprig functions Loki enables:
 * b64enc, b64dec, lower, upper, title, trunc, substr, contains, hasPrefix,
 * hasSuffix, indent, nindent, replace, repeat, trim, trimAll, trimSuffix,
 * trimPrefix, int, float64, add, sub, mul, div, mod, addf, subf, mulf, divf,
 * max, min, maxf, minf, ceil, floor, round, date, toDate, now, unixEpoch,
 * default. Not supported: variables ($x), range, define/template/block,
 * fromJson; using them is a compile error.
 *
 * A compiled template is immutable and may be executed from several threads
 * at once. Execution output is bounded (TEMPLATE_MAX_OUTPUT bytes).
 */
#ifndef STRATA_TEMPLATE_H
#define STRATA_TEMPLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/slice.h"

#define TEMPLATE_MAX_OUTPUT (1u << 20)

struct template;

/* What a template sees while it runs. */
struct template_env {
    /* Look up a label; false when absent. */
    bool (*get)(void *ctx, struct slice name, struct slice *value);
    void *ctx;
    struct slice line; /* for __line__ */
    int64_t ts;        /* ns, for __timestamp__ */
};

/*
 * Compile text. On error returns STRATA_EPARSE with a message like Go's
 * ("template: line:1: function \"foo\" not defined") in err.
 */
int template_compile(struct slice text, struct template **out, char *err, size_t errlen);
void template_free(struct template *t);
/*
 * Run t and append its output to out. Temporary strings come from a. On a
 * runtime error (a failed conversion, output over the bound, a division by
 * zero) returns STRATA_EINVAL with a message in err; out then holds a partial
 * result the caller discards.
 */
int template_exec(const struct template *t, const struct template_env *env, struct arena *a,
                  struct buf *out, char *err, size_t errlen);
/* True when the template is a single text node with no actions (its text is *text). */
bool template_is_constant(const struct template *t, struct slice *text);

/* Go's strconv.FormatFloat(v, 'f', -1, 64) and 'g' (fmt's %v); out needs 400 bytes. */
size_t go_format_float_f(double v, char *out);
size_t go_format_float_g(double v, char *out);

/*
 * Conversions shared with unwrap and label filters: Go's strconv.ParseFloat,
 * humanize.ParseBytes (20MB, 1.5KiB, "42 kB"), time.ParseDuration in seconds.
 * 0, or STRATA_EPARSE with a Go-style message in err (may be NULL).
 */
int go_parse_float(struct slice s, double *out, char *err, size_t errlen);
int go_parse_bytes(struct slice s, double *out, char *err, size_t errlen);
int go_parse_duration_seconds(struct slice s, double *out, char *err, size_t errlen);

#endif
