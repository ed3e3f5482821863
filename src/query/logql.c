/*
 * logql.c - the LogQL lexer and recursive-descent parser, and the plan's
 * canonical text form.
 *
 * The grammar follows Loki's expr.y: a query is a log expression (selector
 * and pipeline) or a metric expression (range aggregations over log
 * expressions with a [range], vector aggregations, binary operators with
 * Prometheus' precedence, number literals, vector(), label_replace()).
 * Errors read like Loki's: "parse error at line L, col C: syntax error: ...".
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/gostr.h"
#include "query/pattern.h"
#include "query/pipeline.h"
#include "query/plan.h"
#include "query/template.h"

/* ---------------------------------------------------------------- lexer */

enum tok {
    T_EOF,
    T_ERROR,
    T_LBRACE,
    T_RBRACE,
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_EQ,           /* = */
    T_NEQ,          /* != */
    T_RE,           /* =~ */
    T_NRE,          /* !~ */
    T_PIPE_EXACT,   /* |= */
    T_PIPE_MATCH,   /* |~ */
    T_PIPE_PATTERN, /* |> */
    T_NPATTERN,     /* !> */
    T_PIPE,         /* | */
    T_CMP_EQ,       /* == */
    T_GT,
    T_GTE,
    T_LT,
    T_LTE,
    T_ADD,
    T_SUB,
    T_MUL,
    T_DIV,
    T_MOD,
    T_POW,
    T_STRING,
    T_NUMBER,
    T_DURATION,
    T_BYTES,
    T_RANGE,
    T_IDENT,
    T_FLAG, /* --strict, --keep-empty */
};

static const char *const tok_names[] = {"$end",  "error", "{",          "}",          "(",
                                        ")",     ",",     "=",          "!=",         "=~",
                                        "!~",    "|=",    "|~",         "|>",         "!>",
                                        "|",     "==",    ">",          ">=",         "<",
                                        "<=",    "+",     "-",          "*",          "/",
                                        "%",     "^",     "STRING",     "NUMBER",     "DURATION",
                                        "BYTES", "RANGE", "IDENTIFIER", "PARSER_FLAG"};

struct token {
    enum tok t;
    struct slice text; /* raw text */
    struct slice str;  /* T_STRING: decoded */
    double num;        /* NUMBER, BYTES; DURATION/RANGE: ns */
    int64_t ns;
    size_t pos;
};

struct parser {
    struct slice src;
    size_t pos;
    struct token tok; /* current */
    struct arena *a;
    struct plan *plan;
    char *err;
    size_t errlen;
    bool failed;
    int depth;
};

static void pos_linecol(struct parser *p, size_t pos, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos && i < p->src.len; i++) {
        if (p->src.ptr[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

__attribute__((format(printf, 3, 4))) static void perr_at(struct parser *p, size_t pos,
                                                          const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line, col;
    pos_linecol(p, pos, &line, &col);
    snprintf(p->err, p->errlen, "parse error at line %d, col %d: %s", line, col, msg);
}

/* A semantic error without a position: "parse error : ..." (Loki's form). */
__attribute__((format(printf, 2, 3))) static void perr_plain(struct parser *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "parse error : %s", msg);
}

static const char *tok_desc(const struct token *t, char *tmp, size_t cap)
{
    if (t->t == T_IDENT) {
        snprintf(tmp, cap, "IDENTIFIER");
        return tmp;
    }
    return tok_names[t->t];
}

static void unexpected(struct parser *p, const char *expecting)
{
    char tmp[64];
    if (expecting)
        perr_at(p, p->tok.pos, "syntax error: unexpected %s, expecting %s",
                tok_desc(&p->tok, tmp, sizeof(tmp)), expecting);
    else
        perr_at(p, p->tok.pos, "syntax error: unexpected %s", tok_desc(&p->tok, tmp, sizeof(tmp)));
}

static bool ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static bool bytes_unit(struct slice u)
{
    static const char *const units[] = {"b",  "kb",  "kib", "mb",  "mib", "gb", "gib",
                                        "tb", "tib", "pb",  "pib", "eb",  "eib"};
    if (u.len == 0 || u.len > 3)
        return false;
    char l[4];
    for (size_t i = 0; i < u.len; i++)
        l[i] = (char)tolower((unsigned char)u.ptr[i]);
    l[u.len] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(l, units[i]))
            return true;
    return false;
}

static void next(struct parser *p)
{
    const char *s = p->src.ptr;
    size_t n = p->src.len, i = p->pos;
    for (;;) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        if (i < n && s[i] == '#') { /* a comment runs to the end of the line */
            while (i < n && s[i] != '\n')
                i++;
            continue;
        }
        break;
    }
    struct token t = {.t = T_EOF, .pos = i};
    if (i >= n) {
        t.text = (struct slice){s + i, 0};
        p->tok = t;
        p->pos = i;
        return;
    }
    char c = s[i], d = i + 1 < n ? s[i + 1] : 0;
    size_t len = 1;
    switch (c) {
    case '{': t.t = T_LBRACE; break;
    case '}': t.t = T_RBRACE; break;
    case '(': t.t = T_LPAREN; break;
    case ')': t.t = T_RPAREN; break;
    case ',': t.t = T_COMMA; break;
    case '+': t.t = T_ADD; break;
    case '*': t.t = T_MUL; break;
    case '/': t.t = T_DIV; break;
    case '%': t.t = T_MOD; break;
    case '^': t.t = T_POW; break;
    case '=':
        if (d == '~')
            t.t = T_RE, len = 2;
        else if (d == '=')
            t.t = T_CMP_EQ, len = 2;
        else
            t.t = T_EQ;
        break;
    case '!':
        if (d == '=')
            t.t = T_NEQ, len = 2;
        else if (d == '~')
            t.t = T_NRE, len = 2;
        else if (d == '>')
            t.t = T_NPATTERN, len = 2;
        else
            t.t = T_ERROR;
        break;
    case '|':
        if (d == '=')
            t.t = T_PIPE_EXACT, len = 2;
        else if (d == '~')
            t.t = T_PIPE_MATCH, len = 2;
        else if (d == '>')
            t.t = T_PIPE_PATTERN, len = 2;
        else
            t.t = T_PIPE;
        break;
    case '>':
        if (d == '=')
            t.t = T_GTE, len = 2;
        else
            t.t = T_GT;
        break;
    case '<':
        if (d == '=')
            t.t = T_LTE, len = 2;
        else
            t.t = T_LT;
        break;
    case '-':
        if (d == '-' && i + 2 < n && isalpha((unsigned char)s[i + 2])) {
            size_t j = i + 2;
            while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '-'))
                j++;
            t.t = T_FLAG;
            len = j - i;
        } else {
            t.t = T_SUB;
        }
        break;
    case '"':
    case '`': {
        struct slice out;
        size_t used;
        const char *why;
        if (gostr_unquote((struct slice){s + i, n - i}, p->a, &out, &used, &why) < 0) {
            t.t = T_ERROR;
            perr_at(p, i, "syntax error: %s", why);
            len = n - i;
        } else {
            t.t = T_STRING;
            t.str = out;
            len = used;
        }
        break;
    }
    case '[': {
        const char *close = memchr(s + i, ']', n - i);
        if (!close) {
            t.t = T_ERROR;
            perr_at(p, i, "syntax error: unexpected [, missing ]");
            len = n - i;
            break;
        }
        struct slice inner = slice_trim((struct slice){s + i + 1, (size_t)(close - s - i - 1)});
        int64_t ns;
        if (clock_parse_prom_duration(inner, &ns) < 0 && clock_parse_go_duration(inner, &ns) < 0) {
            t.t = T_ERROR;
            perr_at(p, i, "syntax error: invalid range \"%.*s\": not a duration", (int)inner.len,
                    inner.ptr);
        } else {
            t.t = T_RANGE;
            t.ns = ns;
        }
        len = (size_t)(close - s - i) + 1;
        break;
    }
    default:
        if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)d))) {
            size_t j = i;
            while (j < n && (isdigit((unsigned char)s[j]) || s[j] == '.'))
                j++;
            size_t num_end = j;
            /* an exponent belongs to the number */
            if (j < n && (s[j] == 'e' || s[j] == 'E')) {
                size_t k = j + 1;
                if (k < n && (s[k] == '+' || s[k] == '-'))
                    k++;
                if (k < n && isdigit((unsigned char)s[k])) {
                    while (k < n && isdigit((unsigned char)s[k]))
                        k++;
                    if (!(k < n && ident_char(s[k])))
                        num_end = j = k;
                }
            }
            size_t w = j;
            while (w < n && (isalnum((unsigned char)s[w]) || s[w] == '.' ||
                             (unsigned char)s[w] == 0xc2 || (unsigned char)s[w] == 0xb5))
                w++;
            struct slice word = {s + i, w - i};
            int64_t ns;
            if (w > num_end && clock_parse_go_duration(word, &ns) == 0) {
                t.t = T_DURATION;
                t.ns = ns;
                len = w - i;
            } else if (w > num_end && bytes_unit((struct slice){s + num_end, w - num_end})) {
                double v;
                if (go_parse_bytes(word, &v, NULL, 0) < 0) {
                    t.t = T_ERROR;
                    perr_at(p, i, "syntax error: invalid bytes value \"%.*s\"", (int)word.len,
                            word.ptr);
                }
                t.t = T_BYTES;
                t.num = v;
                len = w - i;
            } else {
                char tmp[64];
                size_t l = num_end - i;
                if (l >= sizeof(tmp))
                    l = sizeof(tmp) - 1;
                memcpy(tmp, s + i, l);
                tmp[l] = '\0';
                char *end;
                t.num = strtod(tmp, &end);
                if (*end) {
                    t.t = T_ERROR;
                    perr_at(p, i, "syntax error: invalid number \"%s\"", tmp);
                } else {
                    t.t = T_NUMBER;
                }
                len = num_end - i;
            }
        } else if (ident_start(c)) {
            size_t j = i;
            while (j < n && (ident_char(s[j]) || s[j] == '.' || s[j] == ':'))
                j++;
            /* a '.' or ':' only belongs to an identifier when followed by more of it */
            while (j > i && (s[j - 1] == '.' || s[j - 1] == ':'))
                j--;
            t.t = T_IDENT;
            len = j - i;
        } else {
            t.t = T_ERROR;
            perr_at(p, i, "syntax error: unexpected character '%c'", c);
        }
    }
    t.text = (struct slice){s + i, len};
    p->tok = t;
    p->pos = i + len;
}

static bool is_ident(struct parser *p, const char *word)
{
    return p->tok.t == T_IDENT && slice_eq_str(p->tok.text, word);
}

static bool accept(struct parser *p, enum tok t)
{
    if (p->tok.t == t) {
        next(p);
        return true;
    }
    return false;
}

static bool expect(struct parser *p, enum tok t)
{
    if (p->tok.t == t) {
        next(p);
        return true;
    }
    unexpected(p, tok_names[t]);
    return false;
}

/* ---------------------------------------------------------------- cleanup helpers */

static void free_regex(void *p)
{
    regex_free(p);
}

static void free_pattern(void *p)
{
    pattern_free(p);
}

static void free_template(void *p)
{
    template_free(p);
}

static struct regex *compile_regex(struct parser *p, struct slice re, int flags, size_t pos)
{
    char err[300];
    struct regex *r = regex_compile(re, flags, err, sizeof(err));
    if (!r) {
        perr_at(p, pos, "%s", err);
        return NULL;
    }
    plan_on_release(p->plan, p->a, free_regex, r);
    return r;
}

static bool matcher_make(struct parser *p, struct matcher *m, enum match_op op, struct slice name,
                         struct slice value, size_t pos)
{
    char err[300];
    if (matcher_init(m, op, name, value, err, sizeof(err)) < 0) {
        perr_at(p, pos, "%s", err);
        return false;
    }
    if (m->re)
        plan_on_release(p->plan, p->a, free_regex, m->re);
    return true;
}

/* ---------------------------------------------------------------- selector */

static bool parse_selector(struct parser *p, struct selector *sel)
{
    uint32_t cap = 4;
    sel->m = arena_alloc(p->a, cap * sizeof(*sel->m));
    sel->n = 0;
    if (!expect(p, T_LBRACE))
        return false;
    for (;;) {
        if (p->tok.t != T_IDENT) {
            unexpected(p, "IDENTIFIER");
            return false;
        }
        struct slice name = p->tok.text;
        size_t npos = p->tok.pos;
        if (memchr(name.ptr, '.', name.len) || memchr(name.ptr, ':', name.len)) {
            perr_at(p, npos, "syntax error: invalid label name \"%.*s\"", (int)name.len, name.ptr);
            return false;
        }
        next(p);
        enum match_op op;
        switch (p->tok.t) {
        case T_EQ: op = MATCH_EQ; break;
        case T_NEQ: op = MATCH_NEQ; break;
        case T_RE: op = MATCH_RE; break;
        case T_NRE: op = MATCH_NRE; break;
        default: unexpected(p, "= or != or =~ or !~"); return false;
        }
        next(p);
        if (p->tok.t != T_STRING) {
            unexpected(p, "STRING");
            return false;
        }
        if (sel->n == cap) {
            sel->m = arena_realloc(p->a, sel->m, cap * sizeof(*sel->m), 2 * cap * sizeof(*sel->m));
            cap *= 2;
        }
        if (!matcher_make(p, &sel->m[sel->n], op, name, p->tok.str, p->tok.pos))
            return false;
        sel->n++;
        next(p);
        if (accept(p, T_COMMA))
            continue;
        if (accept(p, T_RBRACE))
            break;
        unexpected(p, ", or }");
        return false;
    }
    bool nonempty = false;
    for (uint32_t k = 0; k < sel->n; k++)
        if (!matcher_matches_empty(&sel->m[k]))
            nonempty = true;
    if (!nonempty) {
        perr_plain(p, "queries require at least one regexp or equality matcher that does not have "
                      "an empty-compatible value. For instance, app=~\".*\" does not meet this "
                      "requirement, but app=~\".+\" will");
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- pipeline */

struct stage_list {
    struct stage *v;
    uint32_t n, cap;
};

static struct stage *stage_add(struct parser *p, struct stage_list *l, enum stage_kind k,
                               size_t start)
{
    if (l->n == l->cap) {
        uint32_t nc = l->cap ? l->cap * 2 : 4;
        l->v = arena_realloc(p->a, l->v, l->cap * sizeof(*l->v), nc * sizeof(*l->v));
        l->cap = nc;
    }
    struct stage *s = &l->v[l->n++];
    memset(s, 0, sizeof(*s));
    s->kind = k;
    s->text = (struct slice){p->src.ptr + start, 0};
    return s;
}

static void stage_end(struct parser *p, struct stage *s)
{
    size_t start = (size_t)(s->text.ptr - p->src.ptr);
    size_t end = p->tok.pos;
    while (end > start && isspace((unsigned char)p->src.ptr[end - 1]))
        end--;
    s->text.len = end > start ? end - start : 0;
}

static bool parse_line_filter(struct parser *p, struct stage_list *l)
{
    size_t start = p->tok.pos;
    enum line_filter_op op;
    switch (p->tok.t) {
    case T_PIPE_EXACT: op = LINE_CONTAINS; break;
    case T_NEQ: op = LINE_NOT_CONTAINS; break;
    case T_PIPE_MATCH: op = LINE_REGEX; break;
    case T_NRE: op = LINE_NOT_REGEX; break;
    case T_PIPE_PATTERN: op = LINE_PATTERN; break;
    case T_NPATTERN: op = LINE_NOT_PATTERN; break;
    default: return false;
    }
    next(p);
    if (is_ident(p, "ip")) {
        perr_at(p, p->tok.pos, "ip() line filters are not supported");
        return false;
    }
    struct slice vals[64];
    size_t poss[64];
    uint32_t n = 0;
    for (;;) {
        if (p->tok.t != T_STRING) {
            unexpected(p, "STRING");
            return false;
        }
        if (n == 64) {
            perr_at(p, p->tok.pos, "too many alternatives in one line filter (64 at most)");
            return false;
        }
        poss[n] = p->tok.pos;
        vals[n++] = p->tok.str;
        next(p);
        if (is_ident(p, "or")) {
            next(p);
            continue;
        }
        break;
    }
    struct stage *st = stage_add(p, l, STAGE_LINE_FILTER, start);
    st->lf.op = op;
    st->lf.n = n;
    st->lf.values = arena_alloc(p->a, n * sizeof(struct slice));
    memcpy(st->lf.values, vals, n * sizeof(struct slice));
    if (op == LINE_REGEX || op == LINE_NOT_REGEX) {
        st->lf.re = arena_calloc(p->a, n, sizeof(struct regex *));
        for (uint32_t i = 0; i < n; i++)
            if (!(st->lf.re[i] = compile_regex(p, vals[i], 0, poss[i])))
                return false;
    }
    if (op == LINE_PATTERN || op == LINE_NOT_PATTERN) {
        st->lf.pat = arena_calloc(p->a, n, sizeof(struct pattern *));
        for (uint32_t i = 0; i < n; i++) {
            char err[300];
            if (pattern_compile(vals[i], false, &st->lf.pat[i], err, sizeof(err)) < 0) {
                perr_at(p, poss[i], "%s", err);
                return false;
            }
            plan_on_release(p->plan, p->a, free_pattern, st->lf.pat[i]);
        }
    }
    stage_end(p, st);
    return true;
}

/* Split a json path ("a.b[0]", "a[\"x y\"]") into keys and indexes. */
static bool json_path_parse(struct parser *p, struct extraction *ex, size_t pos)
{
    struct slice e = ex->expr;
    uint32_t cap = 4, n = 0;
    ex->path = arena_alloc(p->a, cap * sizeof(*ex->path));
    ex->index = arena_alloc(p->a, cap * sizeof(*ex->index));
    size_t i = 0;
    while (i < e.len) {
        if (n == cap) {
            ex->path =
                arena_realloc(p->a, ex->path, cap * sizeof(*ex->path), 2 * cap * sizeof(*ex->path));
            ex->index = arena_realloc(p->a, ex->index, cap * sizeof(*ex->index),
                                      2 * cap * sizeof(*ex->index));
            cap *= 2;
        }
        if (e.ptr[i] == '.') {
            if (i == 0 || i + 1 >= e.len) {
                perr_plain(p, "cannot parse expression [%.*s]: syntax error: unexpected .",
                           (int)e.len, e.ptr);
                return false;
            }
            i++;
            continue;
        }
        if (e.ptr[i] == '[') {
            size_t j = i + 1;
            if (j < e.len && (e.ptr[j] == '"' || e.ptr[j] == '\'')) {
                char q = e.ptr[j];
                size_t k = j + 1;
                while (k < e.len && e.ptr[k] != q)
                    k++;
                if (k + 1 >= e.len || e.ptr[k + 1] != ']')
                    goto bad;
                ex->path[n] = (struct slice){e.ptr + j + 1, k - j - 1};
                ex->index[n++] = -1;
                i = k + 2;
                continue;
            }
            int64_t idx = 0;
            size_t k = j;
            while (k < e.len && isdigit((unsigned char)e.ptr[k]) && idx < 1000000000)
                idx = idx * 10 + (e.ptr[k++] - '0');
            if (k == j || k >= e.len || e.ptr[k] != ']')
                goto bad;
            ex->path[n] = (struct slice){"", 0};
            ex->index[n++] = idx;
            i = k + 1;
            continue;
        }
        size_t j = i;
        while (j < e.len && e.ptr[j] != '.' && e.ptr[j] != '[')
            j++;
        ex->path[n] = (struct slice){e.ptr + i, j - i};
        ex->index[n++] = -1;
        i = j;
    }
    if (n == 0)
        goto bad;
    ex->path_len = n;
    return true;
bad:
    (void)pos;
    perr_plain(p, "cannot parse expression [%.*s]: syntax error", (int)e.len, e.ptr);
    return false;
}

/* json/logfmt field lists: a, b="x" */
static bool parse_extractions(struct parser *p, struct stage *st, bool json)
{
    uint32_t cap = 0;
    while (p->tok.t == T_IDENT && !is_ident(p, "or") && !is_ident(p, "and") &&
           !is_ident(p, "offset") && !is_ident(p, "unwrap")) {
        struct extraction ex = {0};
        ex.name = p->tok.text;
        size_t pos = p->tok.pos;
        if (!label_name_valid(ex.name)) {
            perr_plain(p, "invalid extracted label name '%.*s'", (int)ex.name.len, ex.name.ptr);
            return false;
        }
        next(p);
        if (accept(p, T_EQ)) {
            if (p->tok.t != T_STRING) {
                unexpected(p, "STRING");
                return false;
            }
            ex.expr = p->tok.str;
            next(p);
        } else {
            ex.expr = ex.name;
        }
        if (json && !json_path_parse(p, &ex, pos))
            return false;
        if (st->n_ex == cap) {
            uint32_t nc = cap ? cap * 2 : 4;
            st->ex = arena_realloc(p->a, st->ex, cap * sizeof(*st->ex), nc * sizeof(*st->ex));
            cap = nc;
        }
        st->ex[st->n_ex++] = ex;
        if (!accept(p, T_COMMA))
            break;
    }
    return !p->failed;
}

static bool cmp_from_tok(enum tok t, enum cmp_op *op)
{
    switch (t) {
    case T_EQ:
    case T_CMP_EQ: *op = CMP_EQ; return true;
    case T_NEQ: *op = CMP_NE; return true;
    case T_GT: *op = CMP_GT; return true;
    case T_GTE: *op = CMP_GE; return true;
    case T_LT: *op = CMP_LT; return true;
    case T_LTE: *op = CMP_LE; return true;
    default: return false;
    }
}

static struct label_filter *parse_lf_or(struct parser *p);

static struct label_filter *parse_lf_primary(struct parser *p)
{
    if (++p->depth > 100) {
        perr_at(p, p->tok.pos, "expression nesting too deep");
        return NULL;
    }
    struct label_filter *f = NULL;
    size_t start = p->tok.pos;
    if (accept(p, T_LPAREN)) {
        f = parse_lf_or(p);
        if (f && !expect(p, T_RPAREN))
            f = NULL;
        p->depth--;
        return f;
    }
    if (p->tok.t != T_IDENT) {
        unexpected(p, "IDENTIFIER");
        return NULL;
    }
    if (is_ident(p, "ip")) {
        perr_at(p, p->tok.pos, "ip() label filters are not supported");
        return NULL;
    }
    struct slice name = p->tok.text;
    next(p);
    enum tok optok = p->tok.t;
    size_t oppos = p->tok.pos;
    next(p);
    f = arena_calloc(p->a, 1, sizeof(*f));
    if (p->tok.t == T_STRING) {
        enum match_op mop;
        switch (optok) {
        case T_EQ: mop = MATCH_EQ; break;
        case T_NEQ: mop = MATCH_NEQ; break;
        case T_RE: mop = MATCH_RE; break;
        case T_NRE: mop = MATCH_NRE; break;
        default:
            perr_at(p, oppos, "syntax error: unexpected %s, expecting = or != or =~ or !~",
                    tok_names[optok]);
            return NULL;
        }
        f->kind = LFILTER_STRING;
        if (!matcher_make(p, &f->m, mop, name, p->tok.str, p->tok.pos))
            return NULL;
    } else if (p->tok.t == T_NUMBER || p->tok.t == T_DURATION || p->tok.t == T_BYTES ||
               p->tok.t == T_SUB) {
        bool neg = false;
        if (p->tok.t == T_SUB) {
            neg = true;
            next(p);
            if (p->tok.t != T_NUMBER && p->tok.t != T_DURATION) {
                unexpected(p, "NUMBER");
                return NULL;
            }
        }
        if (!cmp_from_tok(optok, &f->cmp)) {
            perr_at(p, oppos,
                    "syntax error: unexpected %s, expecting == or != or > or >= or < "
                    "or <=",
                    tok_names[optok]);
            return NULL;
        }
        f->name = name;
        if (p->tok.t == T_NUMBER) {
            f->kind = LFILTER_NUMBER;
            f->value = p->tok.num;
        } else if (p->tok.t == T_DURATION) {
            f->kind = LFILTER_DURATION;
            f->value = (double)p->tok.ns / 1e9;
        } else {
            f->kind = LFILTER_BYTES;
            f->value = p->tok.num;
        }
        if (neg)
            f->value = -f->value;
    } else {
        unexpected(p, "STRING or NUMBER or DURATION or BYTES");
        return NULL;
    }
    next(p);
    size_t end = p->tok.pos;
    while (end > start && isspace((unsigned char)p->src.ptr[end - 1]))
        end--;
    f->text = (struct slice){p->src.ptr + start, end - start};
    p->depth--;
    return f;
}

static bool lf_continues(struct parser *p)
{
    /* `a="1" b="2"` and `a="1", b="2"` both mean and */
    if (p->tok.t == T_COMMA || is_ident(p, "and"))
        return true;
    if (p->tok.t == T_LPAREN)
        return true;
    return p->tok.t == T_IDENT && !is_ident(p, "or") && !is_ident(p, "offset") &&
           !is_ident(p, "unless") && !is_ident(p, "by") && !is_ident(p, "without");
}

static struct label_filter *parse_lf_and(struct parser *p)
{
    struct label_filter *l = parse_lf_primary(p);
    while (l && lf_continues(p)) {
        if (p->tok.t == T_COMMA || is_ident(p, "and"))
            next(p);
        struct label_filter *r = parse_lf_primary(p);
        if (!r)
            return NULL;
        struct label_filter *b = arena_calloc(p->a, 1, sizeof(*b));
        b->kind = LFILTER_AND;
        b->left = l;
        b->right = r;
        l = b;
    }
    return l;
}

static struct label_filter *parse_lf_or(struct parser *p)
{
    struct label_filter *l = parse_lf_and(p);
    while (l && is_ident(p, "or")) {
        next(p);
        struct label_filter *r = parse_lf_and(p);
        if (!r)
            return NULL;
        struct label_filter *b = arena_calloc(p->a, 1, sizeof(*b));
        b->kind = LFILTER_OR;
        b->left = l;
        b->right = r;
        l = b;
    }
    return l;
}

static struct template *compile_template(struct parser *p, struct slice text, size_t pos,
                                         const char *what, struct slice label)
{
    char err[300];
    struct template *t;
    if (template_compile(text, &t, err, sizeof(err)) < 0) {
        (void)pos;
        if (label.len)
            perr_plain(p, "invalid template for label '%.*s': %s", (int)label.len, label.ptr, err);
        else
            perr_plain(p, "invalid %s template: %s", what, err);
        return NULL;
    }
    plan_on_release(p->plan, p->a, free_template, t);
    return t;
}

static bool parse_names(struct parser *p, struct stage *st)
{
    uint32_t cap = 0;
    for (;;) {
        if (p->tok.t != T_IDENT) {
            unexpected(p, "IDENTIFIER");
            return false;
        }
        struct name_item it = {0};
        it.name = p->tok.text;
        next(p);
        enum match_op op;
        bool has = true;
        switch (p->tok.t) {
        case T_EQ: op = MATCH_EQ; break;
        case T_NEQ: op = MATCH_NEQ; break;
        case T_RE: op = MATCH_RE; break;
        case T_NRE: op = MATCH_NRE; break;
        default: has = false; op = MATCH_EQ;
        }
        if (has) {
            next(p);
            if (p->tok.t != T_STRING) {
                unexpected(p, "STRING");
                return false;
            }
            it.has_matcher = true;
            if (!matcher_make(p, &it.m, op, it.name, p->tok.str, p->tok.pos))
                return false;
            next(p);
        }
        if (st->n_names == cap) {
            uint32_t nc = cap ? cap * 2 : 4;
            st->names =
                arena_realloc(p->a, st->names, cap * sizeof(*st->names), nc * sizeof(*st->names));
            cap = nc;
        }
        st->names[st->n_names++] = it;
        if (!accept(p, T_COMMA))
            return true;
    }
}

struct unwrap_info {
    bool present;
    struct slice name;
    enum unwrap_conv conv;
};

/*
 * One `| stage` after the pipe. Returns false on error. An unwrap is reported
 * through uw (the caller decides whether it is allowed here).
 */
static bool parse_pipe_stage(struct parser *p, struct stage_list *l, struct unwrap_info *uw,
                             size_t start)
{
    if (p->tok.t == T_LPAREN ||
        (p->tok.t == T_IDENT && !is_ident(p, "json") && !is_ident(p, "logfmt") &&
         !is_ident(p, "regexp") && !is_ident(p, "pattern") && !is_ident(p, "unpack") &&
         !is_ident(p, "line_format") && !is_ident(p, "label_format") && !is_ident(p, "drop") &&
         !is_ident(p, "keep") && !is_ident(p, "decolorize") && !is_ident(p, "unwrap") &&
         !is_ident(p, "distinct"))) {
        struct stage *st = stage_add(p, l, STAGE_LABEL_FILTER, start);
        st->filter = parse_lf_or(p);
        if (!st->filter)
            return false;
        stage_end(p, st);
        return true;
    }
    if (p->tok.t != T_IDENT) {
        unexpected(p, "parser, label filter or formatting stage");
        return false;
    }
    struct slice w = p->tok.text;
    next(p);
    if (slice_eq_str(w, "json")) {
        struct stage *st = stage_add(p, l, STAGE_JSON, start);
        if (!parse_extractions(p, st, true))
            return false;
        stage_end(p, st);
    } else if (slice_eq_str(w, "logfmt")) {
        struct stage *st = stage_add(p, l, STAGE_LOGFMT, start);
        while (p->tok.t == T_FLAG) {
            if (slice_eq_str(p->tok.text, "--strict"))
                st->strict = true;
            else if (slice_eq_str(p->tok.text, "--keep-empty"))
                st->keep_empty = true;
            else {
                perr_at(p, p->tok.pos, "syntax error: unknown logfmt flag %.*s",
                        (int)p->tok.text.len, p->tok.text.ptr);
                return false;
            }
            next(p);
        }
        if (!parse_extractions(p, st, false))
            return false;
        stage_end(p, st);
    } else if (slice_eq_str(w, "regexp")) {
        if (p->tok.t != T_STRING) {
            unexpected(p, "STRING");
            return false;
        }
        struct stage *st = stage_add(p, l, STAGE_REGEXP, start);
        st->re = compile_regex(p, p->tok.str, 0, p->tok.pos);
        if (!st->re)
            return false;
        int named = 0, ng = regex_group_count(st->re);
        for (int g = 1; g <= ng; g++) {
            const char *gn = regex_group_name(st->re, g);
            if (!gn)
                continue;
            named++;
            if (!label_name_valid(slice_from(gn))) {
                perr_plain(p, "invalid extracted label name '%s'", gn);
                return false;
            }
            for (int h = 1; h < g; h++) {
                const char *hn = regex_group_name(st->re, h);
                if (hn && !strcmp(hn, gn)) {
                    perr_plain(p, "duplicate extracted label name '%s'", gn);
                    return false;
                }
            }
        }
        if (!named) {
            perr_plain(p, "at least one named capture must be supplied");
            return false;
        }
        next(p);
        stage_end(p, st);
    } else if (slice_eq_str(w, "pattern")) {
        if (p->tok.t != T_STRING) {
            unexpected(p, "STRING");
            return false;
        }
        struct stage *st = stage_add(p, l, STAGE_PATTERN, start);
        char err[300];
        if (pattern_compile(p->tok.str, true, &st->pat, err, sizeof(err)) < 0) {
            perr_at(p, p->tok.pos, "%s", err);
            return false;
        }
        plan_on_release(p->plan, p->a, free_pattern, st->pat);
        const struct slice *names;
        uint32_t nn = pattern_names(st->pat, &names);
        for (uint32_t i = 0; i < nn; i++)
            if (!label_name_valid(names[i])) {
                perr_plain(p, "invalid capture label name '%.*s'", (int)names[i].len, names[i].ptr);
                return false;
            }
        next(p);
        stage_end(p, st);
    } else if (slice_eq_str(w, "unpack")) {
        struct stage *st = stage_add(p, l, STAGE_UNPACK, start);
        stage_end(p, st);
    } else if (slice_eq_str(w, "decolorize")) {
        struct stage *st = stage_add(p, l, STAGE_DECOLORIZE, start);
        stage_end(p, st);
    } else if (slice_eq_str(w, "line_format")) {
        if (p->tok.t != T_STRING) {
            unexpected(p, "STRING");
            return false;
        }
        struct stage *st = stage_add(p, l, STAGE_LINE_FORMAT, start);
        st->tmpl = compile_template(p, p->tok.str, p->tok.pos, "line", (struct slice){0, 0});
        if (!st->tmpl)
            return false;
        next(p);
        stage_end(p, st);
    } else if (slice_eq_str(w, "label_format")) {
        struct stage *st = stage_add(p, l, STAGE_LABEL_FORMAT, start);
        uint32_t cap = 0;
        for (;;) {
            if (p->tok.t != T_IDENT) {
                unexpected(p, "IDENTIFIER");
                return false;
            }
            struct label_format_item it = {0};
            it.dst = p->tok.text;
            if (slice_eq_str(it.dst, "__error__")) {
                perr_plain(p, "%.*s cannot be formatted", (int)it.dst.len, it.dst.ptr);
                return false;
            }
            next(p);
            if (!expect(p, T_EQ))
                return false;
            if (p->tok.t == T_IDENT) {
                it.src = p->tok.text;
            } else if (p->tok.t == T_STRING) {
                it.tmpl = compile_template(p, p->tok.str, p->tok.pos, "label", it.dst);
                if (!it.tmpl)
                    return false;
            } else {
                unexpected(p, "IDENTIFIER or STRING");
                return false;
            }
            next(p);
            for (uint32_t k = 0; k < st->n_lfmt; k++)
                if (slice_eq(st->lfmt[k].dst, it.dst)) {
                    perr_plain(p,
                               "multiple label name '%.*s' not allowed in a single format "
                               "operation",
                               (int)it.dst.len, it.dst.ptr);
                    return false;
                }
            if (st->n_lfmt == cap) {
                uint32_t nc = cap ? cap * 2 : 4;
                st->lfmt =
                    arena_realloc(p->a, st->lfmt, cap * sizeof(*st->lfmt), nc * sizeof(*st->lfmt));
                cap = nc;
            }
            st->lfmt[st->n_lfmt++] = it;
            if (!accept(p, T_COMMA))
                break;
        }
        stage_end(p, st);
    } else if (slice_eq_str(w, "drop") || slice_eq_str(w, "keep")) {
        struct stage *st = stage_add(p, l, w.ptr[0] == 'd' ? STAGE_DROP : STAGE_KEEP, start);
        if (!parse_names(p, st))
            return false;
        stage_end(p, st);
    } else if (slice_eq_str(w, "unwrap")) {
        if (uw->present) {
            perr_at(p, start, "syntax error: unexpected unwrap: only one unwrap is allowed");
            return false;
        }
        uw->present = true;
        uw->conv = UNWRAP_FLOAT;
        if (p->tok.t == T_IDENT &&
            (is_ident(p, "duration") || is_ident(p, "duration_seconds") || is_ident(p, "bytes"))) {
            struct slice conv = p->tok.text;
            next(p);
            if (p->tok.t == T_LPAREN) {
                uw->conv = conv.ptr[0] == 'b' ? UNWRAP_BYTES : UNWRAP_DURATION;
                next(p);
                if (p->tok.t != T_IDENT) {
                    unexpected(p, "IDENTIFIER");
                    return false;
                }
                uw->name = p->tok.text;
                next(p);
                if (!expect(p, T_RPAREN))
                    return false;
                return true;
            }
            uw->name = conv; /* a label literally named "bytes" */
            return true;
        }
        if (p->tok.t != T_IDENT) {
            unexpected(p, "IDENTIFIER");
            return false;
        }
        uw->name = p->tok.text;
        next(p);
    } else if (slice_eq_str(w, "distinct")) {
        perr_at(p, start, "the distinct stage is not supported");
        return false;
    }
    return true;
}

/*
 * A pipeline after a selector. Stops at anything that is not a stage. With
 * uw non-NULL an unwrap is accepted, after which only label filters may
 * follow (they go to post).
 */
static bool parse_pipeline(struct parser *p, struct stage_list *l, struct unwrap_info *uw,
                           struct stage_list *post)
{
    for (;;) {
        size_t start = p->tok.pos;
        switch (p->tok.t) {
        case T_PIPE_EXACT:
        case T_NEQ:
        case T_PIPE_MATCH:
        case T_NRE:
        case T_PIPE_PATTERN:
        case T_NPATTERN:
            if (uw && uw->present) {
                perr_at(p, start,
                        "syntax error: unexpected %s: only label filters may follow "
                        "unwrap",
                        tok_names[p->tok.t]);
                return false;
            }
            if (!parse_line_filter(p, l))
                return false;
            continue;
        case T_PIPE: {
            next(p);
            struct unwrap_info dummy = {0};
            struct unwrap_info *u = uw ? uw : &dummy;
            bool had = u->present;
            struct stage_list *target = had ? post : l;
            uint32_t before = target->n;
            if (!parse_pipe_stage(p, target, u, start))
                return false;
            if (!uw && dummy.present) {
                perr_at(p, start,
                        "syntax error: unexpected unwrap: unwrap is only allowed in "
                        "a range aggregation");
                return false;
            }
            if (had && target->n > before && target->v[target->n - 1].kind != STAGE_LABEL_FILTER) {
                perr_at(p, start, "syntax error: only label filters may follow unwrap");
                return false;
            }
            continue;
        }
        default: return true;
        }
    }
}

/* ---------------------------------------------------------------- expressions */

static struct expr *new_expr(struct parser *p, enum expr_kind k)
{
    struct expr *e = arena_calloc(p->a, 1, sizeof(*e));
    e->kind = k;
    return e;
}

static struct expr *parse_expr(struct parser *p, int min_prec);

/* A log expression: selector and pipeline, possibly in parentheses. */
static struct expr *parse_log_expr(struct parser *p)
{
    if (p->tok.t == T_LPAREN) {
        next(p);
        struct expr *e = parse_log_expr(p);
        if (!e || !expect(p, T_RPAREN))
            return NULL;
        return e;
    }
    struct expr *e = new_expr(p, EXPR_LOG);
    e->log = arena_calloc(p->a, 1, sizeof(*e->log));
    e->n_log = 1;
    if (!parse_selector(p, &e->log->sel))
        return NULL;
    struct stage_list l = {0};
    if (!parse_pipeline(p, &l, NULL, NULL))
        return NULL;
    e->log->stages = l.v;
    e->log->n_stages = l.n;
    return e;
}

static bool parse_grouping(struct parser *p, struct grouping *g)
{
    if (!is_ident(p, "by") && !is_ident(p, "without"))
        return true;
    g->present = true;
    g->without = is_ident(p, "without");
    next(p);
    if (!expect(p, T_LPAREN))
        return false;
    uint32_t cap = 0;
    while (p->tok.t == T_IDENT) {
        if (g->n == cap) {
            uint32_t nc = cap ? cap * 2 : 4;
            g->names =
                arena_realloc(p->a, g->names, cap * sizeof(*g->names), nc * sizeof(*g->names));
            cap = nc;
        }
        g->names[g->n++] = p->tok.text;
        next(p);
        if (!accept(p, T_COMMA))
            break;
    }
    return expect(p, T_RPAREN);
}

/* The log range inside a range aggregation: selector, pipeline, [range], offset, unwrap. */
static bool parse_log_range(struct parser *p, struct expr *e)
{
    int parens = 0;
    while (p->tok.t == T_LPAREN) {
        next(p);
        parens++;
    }
    e->log = arena_calloc(p->a, 1, sizeof(*e->log));
    e->n_log = 1;
    if (!parse_selector(p, &e->log->sel))
        return false;
    struct stage_list l = {0}, post = {0};
    struct unwrap_info uw = {0};
    bool have_range = false;
    for (int guard = 0; guard < 8; guard++) {
        if (!parse_pipeline(p, &l, &uw, &post))
            return false;
        while (parens > 0 && p->tok.t == T_RPAREN) {
            next(p);
            parens--;
        }
        if (p->tok.t == T_RANGE && !have_range) {
            have_range = true;
            e->range = p->tok.ns;
            next(p);
            if (is_ident(p, "offset")) {
                next(p);
                if (p->tok.t != T_DURATION) {
                    unexpected(p, "DURATION");
                    return false;
                }
                e->offset = p->tok.ns;
                next(p);
            }
            continue;
        }
        break;
    }
    if (parens) {
        expect(p, T_RPAREN);
        return false;
    }
    if (!have_range) {
        unexpected(p, "RANGE");
        return false;
    }
    if (e->range <= 0) {
        perr_plain(p, "invalid range: the range must be positive");
        return false;
    }
    e->log->stages = l.v;
    e->log->n_stages = l.n;
    e->has_unwrap = uw.present;
    e->unwrap_name = uw.name;
    e->conv = uw.conv;
    e->post = post.v;
    e->n_post = post.n;
    return true;
}

static int range_op_find(struct slice w)
{
    for (int i = 0; i <= RANGE_ABSENT; i++)
        if (slice_eq_str(w, range_op_name((enum range_op)i)))
            return i;
    return -1;
}

static int vec_op_find(struct slice w)
{
    for (int i = 0; i <= VEC_SORT_DESC; i++)
        if (slice_eq_str(w, vec_op_name((enum vec_op)i)))
            return i;
    return -1;
}

static struct expr *parse_range_agg(struct parser *p, enum range_op op)
{
    struct expr *e = new_expr(p, EXPR_RANGE);
    e->rop = op;
    next(p); /* the name */
    if (!expect(p, T_LPAREN))
        return NULL;
    if (p->tok.t == T_NUMBER || p->tok.t == T_SUB) {
        bool neg = accept(p, T_SUB);
        if (p->tok.t != T_NUMBER) {
            unexpected(p, "NUMBER");
            return NULL;
        }
        e->param = neg ? -p->tok.num : p->tok.num;
        next(p);
        if (!expect(p, T_COMMA))
            return NULL;
        if (op != RANGE_QUANTILE) {
            perr_plain(p, "parameter not allowed for operation %s", range_op_name(op));
            return NULL;
        }
    } else if (op == RANGE_QUANTILE) {
        unexpected(p, "NUMBER");
        return NULL;
    }
    if (!parse_log_range(p, e))
        return NULL;
    if (!expect(p, T_RPAREN))
        return NULL;
    if (!parse_grouping(p, &e->grp))
        return NULL;
    if (range_op_needs_unwrap(op) && !e->has_unwrap) {
        perr_plain(p, "invalid aggregation %s without unwrap", range_op_name(op));
        return NULL;
    }
    if (e->has_unwrap &&
        (op == RANGE_COUNT || op == RANGE_BYTES || op == RANGE_BYTES_RATE || op == RANGE_ABSENT)) {
        perr_plain(p, "invalid aggregation %s with unwrap", range_op_name(op));
        return NULL;
    }
    if (e->grp.present && !e->has_unwrap) {
        perr_plain(p, "grouping not allowed for %s aggregation", range_op_name(op));
        return NULL;
    }
    return e;
}

static bool is_metric(const struct expr *e)
{
    return e && e->kind != EXPR_LOG;
}

static struct expr *parse_vec_agg(struct parser *p, enum vec_op op)
{
    struct expr *e = new_expr(p, EXPR_VECAGG);
    e->vop = op;
    next(p);
    if (!parse_grouping(p, &e->grp))
        return NULL;
    if (!expect(p, T_LPAREN))
        return NULL;
    bool needs_param = op == VEC_TOPK || op == VEC_BOTTOMK;
    if (needs_param) {
        if (p->tok.t != T_NUMBER) {
            unexpected(p, "NUMBER");
            return NULL;
        }
        e->param = p->tok.num;
        next(p);
        if (!expect(p, T_COMMA))
            return NULL;
        if (e->param <= 0 || e->param != floor(e->param) || e->param > 1e9) {
            perr_plain(p, "invalid parameter for operation %s: must be a positive integer",
                       vec_op_name(op));
            return NULL;
        }
    }
    e->arg = parse_expr(p, 0);
    if (!e->arg)
        return NULL;
    if (!is_metric(e->arg)) {
        perr_plain(p,
                   "invalid aggregation %s: a metric expression is required, not a log "
                   "query",
                   vec_op_name(op));
        return NULL;
    }
    if (p->tok.t == T_COMMA) {
        perr_at(p, p->tok.pos, "syntax error: unexpected ,: parameter not allowed for %s",
                vec_op_name(op));
        return NULL;
    }
    if (!expect(p, T_RPAREN))
        return NULL;
    if (!e->grp.present && !parse_grouping(p, &e->grp))
        return NULL;
    if ((op == VEC_SORT || op == VEC_SORT_DESC) && e->grp.present) {
        perr_plain(p, "grouping not allowed for %s aggregation", vec_op_name(op));
        return NULL;
    }
    return e;
}

static struct expr *parse_primary(struct parser *p)
{
    if (++p->depth > 200) {
        perr_at(p, p->tok.pos, "expression nesting too deep");
        return NULL;
    }
    struct expr *e = NULL;
    switch (p->tok.t) {
    case T_LBRACE: e = parse_log_expr(p); break;
    case T_LPAREN: {
        next(p);
        if (p->tok.t == T_LBRACE) {
            e = parse_log_expr(p);
            if (e && !expect(p, T_RPAREN))
                e = NULL;
            break;
        }
        e = parse_expr(p, 0);
        if (e && !expect(p, T_RPAREN))
            e = NULL;
        break;
    }
    case T_NUMBER:
        e = new_expr(p, EXPR_NUMBER);
        e->value = p->tok.num;
        next(p);
        break;
    case T_ADD:
    case T_SUB: {
        bool neg = p->tok.t == T_SUB;
        next(p);
        if (p->tok.t != T_NUMBER) {
            unexpected(p, "NUMBER");
            return NULL;
        }
        e = new_expr(p, EXPR_NUMBER);
        e->value = neg ? -p->tok.num : p->tok.num;
        next(p);
        break;
    }
    case T_IDENT: {
        int r = range_op_find(p->tok.text), v = vec_op_find(p->tok.text);
        if (r >= 0) {
            e = parse_range_agg(p, (enum range_op)r);
        } else if (v >= 0) {
            e = parse_vec_agg(p, (enum vec_op)v);
        } else if (is_ident(p, "vector")) {
            next(p);
            if (!expect(p, T_LPAREN))
                return NULL;
            bool neg = accept(p, T_SUB);
            if (p->tok.t != T_NUMBER) {
                unexpected(p, "NUMBER");
                return NULL;
            }
            e = new_expr(p, EXPR_VECTOR);
            e->value = neg ? -p->tok.num : p->tok.num;
            next(p);
            if (!expect(p, T_RPAREN))
                return NULL;
        } else if (is_ident(p, "label_replace")) {
            next(p);
            if (!expect(p, T_LPAREN))
                return NULL;
            e = new_expr(p, EXPR_LABEL_REPLACE);
            e->arg = parse_expr(p, 0);
            if (!e->arg)
                return NULL;
            if (!is_metric(e->arg)) {
                perr_plain(p, "label_replace requires a metric expression");
                return NULL;
            }
            struct slice *fields[4] = {&e->dst, &e->replacement, &e->src, &e->regex_text};
            size_t re_pos = 0;
            for (int i = 0; i < 4; i++) {
                if (!expect(p, T_COMMA))
                    return NULL;
                if (p->tok.t != T_STRING) {
                    unexpected(p, "STRING");
                    return NULL;
                }
                *fields[i] = p->tok.str;
                re_pos = p->tok.pos;
                next(p);
            }
            if (!expect(p, T_RPAREN))
                return NULL;
            if (!label_name_valid(e->dst)) {
                perr_plain(p, "invalid destination label name in label_replace(): %.*s",
                           (int)e->dst.len, e->dst.ptr);
                return NULL;
            }
            e->regex = compile_regex(p, e->regex_text, REGEX_ANCHORED, re_pos);
            if (!e->regex)
                return NULL;
        } else {
            char tmp[64];
            perr_at(p, p->tok.pos, "syntax error: unexpected %s \"%.*s\"",
                    tok_desc(&p->tok, tmp, sizeof(tmp)), (int)p->tok.text.len, p->tok.text.ptr);
            return NULL;
        }
        break;
    }
    case T_EOF: unexpected(p, NULL); return NULL;
    default: unexpected(p, NULL); return NULL;
    }
    p->depth--;
    return e;
}

/* Binary operators and their precedence (higher binds tighter). */
static int bin_prec(struct parser *p, enum bin_op *op)
{
    switch (p->tok.t) {
    case T_POW: *op = BIN_POW; return 6;
    case T_MUL: *op = BIN_MUL; return 5;
    case T_DIV: *op = BIN_DIV; return 5;
    case T_MOD: *op = BIN_MOD; return 5;
    case T_ADD: *op = BIN_ADD; return 4;
    case T_SUB: *op = BIN_SUB; return 4;
    case T_CMP_EQ: *op = BIN_EQ; return 3;
    case T_NEQ: *op = BIN_NE; return 3;
    case T_GT: *op = BIN_GT; return 3;
    case T_GTE: *op = BIN_GE; return 3;
    case T_LT: *op = BIN_LT; return 3;
    case T_LTE: *op = BIN_LE; return 3;
    case T_IDENT:
        if (is_ident(p, "and")) {
            *op = BIN_AND;
            return 2;
        }
        if (is_ident(p, "unless")) {
            *op = BIN_UNLESS;
            return 2;
        }
        if (is_ident(p, "or")) {
            *op = BIN_OR;
            return 1;
        }
        return 0;
    default: return 0;
    }
}

static bool is_comparison(enum bin_op op)
{
    return op >= BIN_EQ && op <= BIN_LE;
}

static bool is_set_op(enum bin_op op)
{
    return op == BIN_AND || op == BIN_OR || op == BIN_UNLESS;
}

static bool is_scalar(const struct expr *e)
{
    if (e->kind == EXPR_NUMBER)
        return true;
    if (e->kind == EXPR_BINARY)
        return is_scalar(e->lhs) && is_scalar(e->rhs);
    return false;
}

static bool parse_label_list(struct parser *p, struct slice **out, uint32_t *n)
{
    if (!expect(p, T_LPAREN))
        return false;
    uint32_t cap = 0;
    while (p->tok.t == T_IDENT) {
        if (*n == cap) {
            uint32_t nc = cap ? cap * 2 : 4;
            *out = arena_realloc(p->a, *out, cap * sizeof(**out), nc * sizeof(**out));
            cap = nc;
        }
        (*out)[(*n)++] = p->tok.text;
        next(p);
        if (!accept(p, T_COMMA))
            break;
    }
    return expect(p, T_RPAREN);
}

static struct expr *parse_expr(struct parser *p, int min_prec)
{
    struct expr *lhs = parse_primary(p);
    while (lhs && !p->failed) {
        enum bin_op op;
        int prec = bin_prec(p, &op);
        if (prec == 0 || prec < min_prec)
            break;
        size_t op_pos = p->tok.pos;
        next(p);
        struct expr *e = new_expr(p, EXPR_BINARY);
        e->bop = op;
        if (is_ident(p, "bool")) {
            if (!is_comparison(op)) {
                perr_plain(p, "bool modifier can only be used on comparison operators");
                return NULL;
            }
            e->return_bool = true;
            next(p);
        }
        if (is_ident(p, "on") || is_ident(p, "ignoring")) {
            e->match.present = true;
            e->match.on = is_ident(p, "on");
            next(p);
            if (!parse_label_list(p, &e->match.labels, &e->match.n))
                return NULL;
            if (is_ident(p, "group_left") || is_ident(p, "group_right")) {
                e->match.card = is_ident(p, "group_left") ? CARD_MANY_TO_ONE : CARD_ONE_TO_MANY;
                next(p);
                if (p->tok.t == T_LPAREN &&
                    !parse_label_list(p, &e->match.include, &e->match.n_include))
                    return NULL;
                if (is_set_op(op)) {
                    perr_plain(p, "no grouping allowed for \"%s\" operation", bin_op_name(op));
                    return NULL;
                }
            }
        }
        /* ^ is right-associative, the rest left-associative */
        struct expr *rhs = parse_expr(p, op == BIN_POW ? prec : prec + 1);
        if (!rhs)
            return NULL;
        if (!is_metric(lhs) || !is_metric(rhs)) {
            perr_at(p, op_pos,
                    "syntax error: unexpected %s: binary operations need metric "
                    "expressions on both sides, not log queries",
                    bin_op_name(op));
            return NULL;
        }
        if (is_set_op(op) && (is_scalar(lhs) || is_scalar(rhs))) {
            perr_plain(p, "set operator \"%s\" not allowed in binary scalar expression",
                       bin_op_name(op));
            return NULL;
        }
        if (is_comparison(op) && is_scalar(lhs) && is_scalar(rhs) && !e->return_bool) {
            perr_plain(p, "comparisons between scalars must use BOOL modifier");
            return NULL;
        }
        e->lhs = lhs;
        e->rhs = rhs;
        lhs = e;
    }
    return p->failed ? NULL : lhs;
}

int plan_parse_logql(struct slice text, struct arena *a, struct plan *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct parser p = {.src = text, .a = a, .plan = out, .err = err, .errlen = errlen};
    if (errlen)
        err[0] = '\0';
    next(&p);
    if (p.tok.t == T_EOF && !p.failed) {
        snprintf(err, errlen, "parse error : syntax error: unexpected $end");
        return STRATA_EPARSE;
    }
    struct expr *e = parse_expr(&p, 0);
    if (e && !p.failed && p.tok.t != T_EOF)
        unexpected(&p, NULL);
    if (!e || p.failed) {
        if (!p.failed)
            snprintf(err, errlen, "parse error : syntax error");
        plan_release(out);
        return STRATA_EPARSE;
    }
    out->root = e;
    return 0;
}
