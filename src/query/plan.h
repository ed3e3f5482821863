/*
 * plan.h - the query plan both query languages compile to.
 *
 * LogQL (logql.c) and LogsGoQL (logsgoql.c) are parsed into one plan: an
 * expression tree whose leaves are log expressions. A log expression is one
 * or more branches; each branch is a stream selector and a pipeline of
 * stages run on every entry of the streams it selects (LogQL always has one
 * branch; a LogsGoQL OR of different fields gives several, and an entry
 * passes when any branch passes it). Above the leaves, metric queries add
 * range aggregations (count_over_time(...[5m]) and friends, with unwrap),
 * vector aggregations, binary operators, literals, vector() and
 * label_replace. The engine (engine.h) runs log expressions over the tier
 * chain and eval.h computes the metric tree.
 *
 * Memory: every node, string and array of a plan lives in the arena given to
 * the parser. Compiled regexes, patterns and templates are not arena memory;
 * the plan keeps a cleanup list for them, run by plan_release. A plan is
 * read-only once parsed and may be shared by the engine's worker threads.
 */
#ifndef STRATA_PLAN_H
#define STRATA_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "query/selector.h"

struct pattern;  /* pipeline.h: `<name> literal <_>` matchers */
struct template; /* template.h: the Go text/template subset */

/* ---- pipeline stages ---- */

enum line_filter_op {
    LINE_CONTAINS,     /* |= "a" [or "b"]: the line contains a (or b) */
    LINE_NOT_CONTAINS, /* != "a" [or "b"]: the line contains none of them */
    LINE_REGEX,        /* |~ "re": unanchored */
    LINE_NOT_REGEX,    /* !~ "re" */
    LINE_PATTERN,      /* |> "<_> error <_>": a pattern matching the whole line */
    LINE_NOT_PATTERN,  /* !> "..." */
    LINE_EQUALS,       /* LogsGoQL message="x": the whole line equals x */
};

struct line_filter {
    enum line_filter_op op;
    uint32_t n;           /* alternatives joined with `or`; at least one */
    struct slice *values; /* the literal text of each alternative */
    struct regex **re;    /* LINE_REGEX / LINE_NOT_REGEX, one per value */
    struct pattern **pat; /* LINE_PATTERN / LINE_NOT_PATTERN, one per value */
};

enum cmp_op { CMP_EQ, CMP_NE, CMP_GT, CMP_GE, CMP_LT, CMP_LE };

enum label_filter_kind {
    LFILTER_AND,
    LFILTER_OR,
    LFILTER_STRING,   /* name = != =~ !~ "value" */
    LFILTER_NUMBER,   /* name op 1.5 (the label value parsed as a float) */
    LFILTER_DURATION, /* name op 1m30s (Go duration, compared in seconds) */
    LFILTER_BYTES,    /* name op 20MB (humanized bytes) */
};

struct label_filter {
    enum label_filter_kind kind;
    struct label_filter *left, *right; /* AND / OR */
    struct matcher m;                  /* STRING (m.name is the label) */
    struct slice name;                 /* NUMBER / DURATION / BYTES */
    enum cmp_op cmp;
    double value; /* number; duration in seconds; bytes */
    struct slice text;
};

/* One `name` or `name="path"` of `| json a, b="x.y[0]"` or `| logfmt a, b="c"`. */
struct extraction {
    struct slice name;
    struct slice expr;  /* the path or key as written; name itself when omitted */
    struct slice *path; /* json: the path split into keys; "[3]"-style elements are indexes */
    int64_t *index;     /* json: -1 for a key, else the array index */
    uint32_t path_len;
};

struct label_format_item {
    struct slice dst;
    struct slice src;      /* rename: dst=src */
    struct template *tmpl; /* template: dst="{{...}}" */
};

/* One name of `| drop a, b="v"` or `| keep a`; with a matcher only matching values go. */
struct name_item {
    struct slice name;
    bool has_matcher;
    struct matcher m;
};

enum stage_kind {
    STAGE_LINE_FILTER,
    STAGE_JSON,
    STAGE_LOGFMT,
    STAGE_REGEXP,
    STAGE_PATTERN,
    STAGE_UNPACK,
    STAGE_LABEL_FILTER,
    STAGE_LINE_FORMAT,
    STAGE_LABEL_FORMAT,
    STAGE_DROP,
    STAGE_KEEP,
    STAGE_DECOLORIZE,
};

struct stage {
    enum stage_kind kind;
    struct slice text; /* the stage as written, for errors */
    struct line_filter lf;
    /* json / logfmt with a field list */
    struct extraction *ex;
    uint32_t n_ex;
    bool strict, keep_empty; /* logfmt flags */
    struct regex *re;        /* regexp */
    struct pattern *pat;     /* pattern */
    struct label_filter *filter;
    struct template *tmpl; /* line_format */
    struct label_format_item *lfmt;
    uint32_t n_lfmt;
    struct name_item *names; /* drop / keep */
    uint32_t n_names;
};

/* One branch of a log expression: streams picked by sel, entries by the stages. */
struct log_expr {
    struct selector sel;
    struct stage *stages;
    uint32_t n_stages;
};

/* ---- metric expressions ---- */

enum expr_kind {
    EXPR_LOG,    /* a log query (only at the root) */
    EXPR_RANGE,  /* count_over_time(<log> [5m]) ... */
    EXPR_VECAGG, /* sum by (x) (<expr>) ... */
    EXPR_BINARY,
    EXPR_NUMBER,
    EXPR_VECTOR, /* vector(1) */
    EXPR_LABEL_REPLACE,
};

enum range_op {
    RANGE_COUNT,
    RANGE_RATE,
    RANGE_RATE_COUNTER,
    RANGE_BYTES,
    RANGE_BYTES_RATE,
    RANGE_AVG,
    RANGE_SUM,
    RANGE_MIN,
    RANGE_MAX,
    RANGE_STDVAR,
    RANGE_STDDEV,
    RANGE_QUANTILE,
    RANGE_FIRST,
    RANGE_LAST,
    RANGE_ABSENT,
};

enum vec_op {
    VEC_SUM,
    VEC_AVG,
    VEC_MIN,
    VEC_MAX,
    VEC_COUNT,
    VEC_STDDEV,
    VEC_STDVAR,
    VEC_TOPK,
    VEC_BOTTOMK,
    VEC_SORT,
    VEC_SORT_DESC,
};

enum bin_op {
    BIN_OR,
    BIN_AND,
    BIN_UNLESS,
    BIN_EQ,
    BIN_NE,
    BIN_GT,
    BIN_GE,
    BIN_LT,
    BIN_LE,
    BIN_ADD,
    BIN_SUB,
    BIN_MUL,
    BIN_DIV,
    BIN_MOD,
    BIN_POW,
};

enum unwrap_conv { UNWRAP_FLOAT, UNWRAP_DURATION, UNWRAP_BYTES };

struct grouping {
    bool present; /* by/without was written (possibly with an empty list) */
    bool without;
    struct slice *names;
    uint32_t n;
};

enum match_card { CARD_ONE_TO_ONE, CARD_MANY_TO_ONE, CARD_ONE_TO_MANY };

struct vector_matching {
    bool present; /* on/ignoring was written */
    bool on;      /* on (...) rather than ignoring (...) */
    struct slice *labels;
    uint32_t n;
    enum match_card card;
    struct slice *include; /* group_left/group_right (...) */
    uint32_t n_include;
};

struct expr {
    enum expr_kind kind;
    /* EXPR_LOG, and the input of EXPR_RANGE: one or more branches */
    struct log_expr *log;
    uint32_t n_log;
    /* EXPR_RANGE */
    enum range_op rop;
    int64_t range, offset; /* ns */
    double param;          /* quantile_over_time's phi; topk/bottomk's k */
    bool has_unwrap;
    struct slice unwrap_name;
    enum unwrap_conv conv;
    struct stage *post; /* label filters after unwrap */
    uint32_t n_post;
    /* EXPR_RANGE (unwrapped functions) and EXPR_VECAGG */
    struct grouping grp;
    /* EXPR_VECAGG */
    enum vec_op vop;
    struct expr *arg; /* also EXPR_LABEL_REPLACE */
    /* EXPR_BINARY */
    enum bin_op bop;
    struct expr *lhs, *rhs;
    bool return_bool;
    struct vector_matching match;
    /* EXPR_NUMBER, EXPR_VECTOR */
    double value;
    /* EXPR_LABEL_REPLACE */
    struct slice dst, replacement, src, regex_text;
    struct regex *regex; /* anchored */
};

struct plan_cleanup;

struct plan {
    struct expr *root;
    bool logsgo;                  /* parsed from LogsGoQL */
    struct plan_cleanup *cleanup; /* private: regexes, patterns, templates */
};

/* True when the plan is a metric query (anything but a bare log expression). */
static inline bool plan_is_metric(const struct plan *p)
{
    return p->root && p->root->kind != EXPR_LOG;
}

/*
 * Parse a LogQL query (logql.c). On error returns STRATA_EPARSE with Loki's
 * message ("parse error at line 1, col 5: syntax error: ...") in err, and
 * frees what it compiled.
 */
int plan_parse_logql(struct slice text, struct arena *a, struct plan *out, char *err,
                     size_t errlen);
/* Free the compiled regexes, patterns and templates; the arena holds the rest. */
void plan_release(struct plan *p);
/* Register fn(p) to run at plan_release (used by the parsers). */
void plan_on_release(struct plan *pl, struct arena *a, void (*fn)(void *), void *p);

/* Append the canonical LogQL text of the plan (/format_query, error messages). */
int plan_format(struct buf *b, const struct plan *p);
int expr_format(struct buf *b, const struct expr *e);
int log_expr_format(struct buf *b, const struct log_expr *l);
int stage_format(struct buf *b, const struct stage *s);

/* The function names, for formatting and error messages. */
const char *range_op_name(enum range_op op);
const char *vec_op_name(enum vec_op op);
const char *bin_op_name(enum bin_op op);

/* True for range functions that need `| unwrap` (sum_over_time ...), false for count/bytes. */
bool range_op_needs_unwrap(enum range_op op);

#endif
