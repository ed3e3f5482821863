/*
 * plan.c - what both query languages share: the plan's cleanup list, the
 * operator names and the canonical LogQL text of a plan (/format_query).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/gostr.h"
#include "query/plan.h"
#include "query/template.h"

/* ---------------------------------------------------------------- plan helpers */

struct plan_cleanup {
    void (*fn)(void *);
    void *p;
    struct plan_cleanup *next;
};

void plan_on_release(struct plan *pl, struct arena *a, void (*fn)(void *), void *p)
{
    struct plan_cleanup *c = arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->p = p;
    c->next = pl->cleanup;
    pl->cleanup = c;
}

void plan_release(struct plan *p)
{
    if (!p)
        return;
    for (struct plan_cleanup *c = p->cleanup; c; c = c->next)
        c->fn(c->p);
    p->cleanup = NULL;
    p->root = NULL;
}

static const char *const range_names[] = {
    "count_over_time",  "rate",
    "rate_counter",     "bytes_over_time",
    "bytes_rate",       "avg_over_time",
    "sum_over_time",    "min_over_time",
    "max_over_time",    "stdvar_over_time",
    "stddev_over_time", "quantile_over_time",
    "first_over_time",  "last_over_time",
    "absent_over_time",
};

static const char *const vec_names[] = {"sum",    "avg",  "min",     "max",  "count",    "stddev",
                                        "stdvar", "topk", "bottomk", "sort", "sort_desc"};

static const char *const bin_names[] = {"or", "and", "unless", "==", "!=", ">", ">=", "<",
                                        "<=", "+",   "-",      "*",  "/",  "%", "^"};

const char *range_op_name(enum range_op op)
{
    return range_names[op];
}

const char *vec_op_name(enum vec_op op)
{
    return vec_names[op];
}

const char *bin_op_name(enum bin_op op)
{
    return bin_names[op];
}

bool range_op_needs_unwrap(enum range_op op)
{
    switch (op) {
    case RANGE_AVG:
    case RANGE_SUM:
    case RANGE_MIN:
    case RANGE_MAX:
    case RANGE_STDVAR:
    case RANGE_STDDEV:
    case RANGE_QUANTILE:
    case RANGE_FIRST:
    case RANGE_LAST:
    case RANGE_RATE_COUNTER: return true;
    default: return false;
    }
}

/* ---------------------------------------------------------------- formatting */

static int fmt_float(struct buf *b, double v)
{
    char tmp[400];
    go_format_float_f(v, tmp);
    return buf_append_str(b, tmp);
}

static int fmt_duration(struct buf *b, int64_t ns)
{
    /* Prometheus' model.Duration form: 5m, 1h30m, 500ms */
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = {{"y", 365 * NS_PER_DAY}, {"w", 7 * NS_PER_DAY}, {"d", NS_PER_DAY},
                 {"h", NS_PER_HOUR},      {"m", NS_PER_MIN},     {"s", NS_PER_SEC},
                 {"ms", NS_PER_MS}};
    if (ns == 0)
        return buf_append_str(b, "0s");
    int rc = 0;
    if (ns % NS_PER_MS) {
        char t[64];
        clock_format_duration(ns, t, sizeof(t));
        return buf_append_str(b, t);
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && !rc; i++) {
        if (ns >= units[i].ns) {
            rc = buf_printf(b, "%lld%s", (long long)(ns / units[i].ns), units[i].u);
            ns %= units[i].ns;
        }
    }
    return rc;
}

static int fmt_quoted(struct buf *b, struct slice s)
{
    return gostr_quote(b, s);
}

static int fmt_label_filter(struct buf *b, const struct label_filter *f)
{
    static const char *const cmps[] = {"==", "!=", ">", ">=", "<", "<="};
    static const char *const mops[] = {"=", "!=", "=~", "!~"};
    int rc = 0;
    switch (f->kind) {
    case LFILTER_AND:
    case LFILTER_OR:
        rc = buf_append_str(b, "( ");
        if (!rc)
            rc = fmt_label_filter(b, f->left);
        if (!rc)
            rc = buf_append_str(b, f->kind == LFILTER_AND ? " , " : " or ");
        if (!rc)
            rc = fmt_label_filter(b, f->right);
        if (!rc)
            rc = buf_append_str(b, " )");
        return rc;
    case LFILTER_STRING:
        rc = buf_printf(b, "%.*s%s", (int)f->m.name.len, f->m.name.ptr, mops[f->m.op]);
        return rc ? rc : fmt_quoted(b, f->m.value);
    case LFILTER_NUMBER:
        rc = buf_printf(b, "%.*s%s", (int)f->name.len, f->name.ptr, cmps[f->cmp]);
        return rc ? rc : fmt_float(b, f->value);
    case LFILTER_DURATION: {
        char t[64];
        clock_format_duration((int64_t)llround(f->value * 1e9), t, sizeof(t));
        return buf_printf(b, "%.*s%s%s", (int)f->name.len, f->name.ptr, cmps[f->cmp], t);
    }
    case LFILTER_BYTES:
        rc = buf_printf(b, "%.*s%s", (int)f->name.len, f->name.ptr, cmps[f->cmp]);
        if (!rc)
            rc = fmt_float(b, f->value);
        return rc ? rc : buf_append_str(b, "B");
    }
    return 0;
}

int stage_format(struct buf *b, const struct stage *s)
{
    static const char *const lf_ops[] = {"|=", "!=", "|~", "!~", "|>", "!>", "|="};
    int rc = 0;
    switch (s->kind) {
    case STAGE_LINE_FILTER:
        rc = buf_printf(b, "%s ", lf_ops[s->lf.op]);
        for (uint32_t i = 0; i < s->lf.n && !rc; i++) {
            if (i)
                rc = buf_append_str(b, " or ");
            if (!rc)
                rc = fmt_quoted(b, s->lf.values[i]);
        }
        return rc;
    case STAGE_JSON:
    case STAGE_LOGFMT:
        rc = buf_append_str(b, s->kind == STAGE_JSON ? "| json" : "| logfmt");
        if (!rc && s->strict)
            rc = buf_append_str(b, " --strict");
        if (!rc && s->keep_empty)
            rc = buf_append_str(b, " --keep-empty");
        for (uint32_t i = 0; i < s->n_ex && !rc; i++) {
            rc =
                buf_printf(b, "%s%.*s=", i ? ", " : " ", (int)s->ex[i].name.len, s->ex[i].name.ptr);
            if (!rc)
                rc = fmt_quoted(b, s->ex[i].expr);
        }
        return rc;
    case STAGE_REGEXP:
    case STAGE_PATTERN:
    case STAGE_LINE_FORMAT: {
        /* the argument as written is the stage text after the keyword */
        const char *kw = s->kind == STAGE_REGEXP    ? "regexp"
                         : s->kind == STAGE_PATTERN ? "pattern"
                                                    : "line_format";
        const char *q = memchr(s->text.ptr, '"', s->text.len);
        const char *r = memchr(s->text.ptr, '`', s->text.len);
        if (!q || (r && r < q))
            q = r;
        if (!q)
            return buf_printf(b, "| %s", kw);
        return buf_printf(b, "| %s %.*s", kw, (int)(s->text.len - (size_t)(q - s->text.ptr)), q);
    }
    case STAGE_UNPACK: return buf_append_str(b, "| unpack");
    case STAGE_DECOLORIZE: return buf_append_str(b, "| decolorize");
    case STAGE_LABEL_FILTER:
        rc = buf_append_str(b, "| ");
        return rc ? rc : fmt_label_filter(b, s->filter);
    case STAGE_LABEL_FORMAT:
    case STAGE_DROP:
    case STAGE_KEEP: {
        /* as written: these hold names, templates and matchers that read back the same */
        const char *kw = s->kind == STAGE_LABEL_FORMAT ? "label_format"
                         : s->kind == STAGE_DROP       ? "drop"
                                                       : "keep";
        size_t kl = strlen(kw);
        const char *at = memmem(s->text.ptr, s->text.len, kw, kl);
        if (!at)
            return buf_printf(b, "| %s", kw);
        return buf_printf(b, "| %.*s", (int)(s->text.len - (size_t)(at - s->text.ptr)), at);
    }
    }
    return 0;
}

int log_expr_format(struct buf *b, const struct log_expr *l)
{
    int rc = selector_format(b, &l->sel);
    for (uint32_t i = 0; i < l->n_stages && !rc; i++) {
        rc = buf_append_char(b, ' ');
        if (!rc)
            rc = stage_format(b, &l->stages[i]);
    }
    return rc;
}

static int fmt_grouping(struct buf *b, const struct grouping *g)
{
    if (!g->present)
        return 0;
    int rc = buf_append_str(b, g->without ? " without (" : " by (");
    for (uint32_t i = 0; i < g->n && !rc; i++)
        rc = buf_printf(b, "%s%.*s", i ? "," : "", (int)g->names[i].len, g->names[i].ptr);
    return rc ? rc : buf_append_char(b, ')');
}

int expr_format(struct buf *b, const struct expr *e)
{
    int rc = 0;
    switch (e->kind) {
    case EXPR_LOG:
        for (uint32_t i = 0; i < e->n_log && !rc; i++) {
            if (i)
                rc = buf_append_str(b, " or ");
            if (!rc)
                rc = log_expr_format(b, &e->log[i]);
        }
        return rc;
    case EXPR_RANGE:
        rc = buf_printf(b, "%s(", range_names[e->rop]);
        if (!rc && e->rop == RANGE_QUANTILE) {
            rc = fmt_float(b, e->param);
            if (!rc)
                rc = buf_append_char(b, ',');
        }
        if (!rc)
            rc = log_expr_format(b, &e->log[0]);
        if (!rc && e->has_unwrap) {
            static const char *const convs[] = {"", "duration", "bytes"};
            if (e->conv == UNWRAP_FLOAT)
                rc = buf_printf(b, " | unwrap %.*s", (int)e->unwrap_name.len, e->unwrap_name.ptr);
            else
                rc = buf_printf(b, " | unwrap %s(%.*s)", convs[e->conv], (int)e->unwrap_name.len,
                                e->unwrap_name.ptr);
            for (uint32_t i = 0; i < e->n_post && !rc; i++) {
                rc = buf_append_char(b, ' ');
                if (!rc)
                    rc = stage_format(b, &e->post[i]);
            }
        }
        if (!rc)
            rc = buf_append_str(b, " [");
        if (!rc)
            rc = fmt_duration(b, e->range);
        if (!rc)
            rc = buf_append_char(b, ']');
        if (!rc && e->offset) {
            rc = buf_append_str(b, " offset ");
            if (!rc)
                rc = fmt_duration(b, e->offset);
        }
        if (!rc)
            rc = buf_append_char(b, ')');
        return rc ? rc : fmt_grouping(b, &e->grp);
    case EXPR_VECAGG:
        rc = buf_append_str(b, vec_names[e->vop]);
        if (!rc)
            rc = fmt_grouping(b, &e->grp);
        if (!rc)
            rc = buf_append_char(b, '(');
        if (!rc && (e->vop == VEC_TOPK || e->vop == VEC_BOTTOMK)) {
            rc = fmt_float(b, e->param);
            if (!rc)
                rc = buf_append_str(b, ", ");
        }
        if (!rc)
            rc = expr_format(b, e->arg);
        return rc ? rc : buf_append_char(b, ')');
    case EXPR_BINARY: {
        bool lp = e->lhs->kind == EXPR_BINARY, rp = e->rhs->kind == EXPR_BINARY;
        if (lp)
            rc = buf_append_char(b, '(');
        if (!rc)
            rc = expr_format(b, e->lhs);
        if (!rc && lp)
            rc = buf_append_char(b, ')');
        if (!rc)
            rc = buf_printf(b, " %s ", bin_names[e->bop]);
        if (!rc && e->return_bool)
            rc = buf_append_str(b, "bool ");
        if (!rc && e->match.present) {
            rc = buf_append_str(b, e->match.on ? "on (" : "ignoring (");
            for (uint32_t i = 0; i < e->match.n && !rc; i++)
                rc = buf_printf(b, "%s%.*s", i ? "," : "", (int)e->match.labels[i].len,
                                e->match.labels[i].ptr);
            if (!rc)
                rc = buf_append_str(b, ") ");
            if (!rc && e->match.card != CARD_ONE_TO_ONE) {
                rc = buf_append_str(b, e->match.card == CARD_MANY_TO_ONE ? "group_left ("
                                                                         : "group_right (");
                for (uint32_t i = 0; i < e->match.n_include && !rc; i++)
                    rc = buf_printf(b, "%s%.*s", i ? "," : "", (int)e->match.include[i].len,
                                    e->match.include[i].ptr);
                if (!rc)
                    rc = buf_append_str(b, ") ");
            }
        }
        if (!rc && rp)
            rc = buf_append_char(b, '(');
        if (!rc)
            rc = expr_format(b, e->rhs);
        if (!rc && rp)
            rc = buf_append_char(b, ')');
        return rc;
    }
    case EXPR_NUMBER: return fmt_float(b, e->value);
    case EXPR_VECTOR:
        rc = buf_append_str(b, "vector(");
        if (!rc)
            rc = fmt_float(b, e->value);
        return rc ? rc : buf_append_char(b, ')');
    case EXPR_LABEL_REPLACE:
        rc = buf_append_str(b, "label_replace(");
        if (!rc)
            rc = expr_format(b, e->arg);
        {
            const struct slice *f[4] = {&e->dst, &e->replacement, &e->src, &e->regex_text};
            for (int i = 0; i < 4 && !rc; i++) {
                rc = buf_append_str(b, ",");
                if (!rc)
                    rc = fmt_quoted(b, *f[i]);
            }
        }
        return rc ? rc : buf_append_char(b, ')');
    }
    return 0;
}

int plan_format(struct buf *b, const struct plan *p)
{
    return p->root ? expr_format(b, p->root) : 0;
}
