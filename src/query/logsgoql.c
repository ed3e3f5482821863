#include "query/logsgoql.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "query/regex.h"

#define MAX_BRANCHES 32
#define MAX_ATOMS    64

enum ltok {
    L_EOF,
    L_EQ,
    L_AND,
    L_OR,
    L_LPAREN,
    L_RPAREN,
    L_STRING,
    L_IDENT,
    L_CONTAINS,
    L_ILLEGAL
};

struct ltoken {
    enum ltok t;
    struct slice text;
    size_t pos;
};

/* One comparison: field (= | CONTAINS) value. */
struct atom {
    struct slice field;
    struct slice value;
    bool contains;
};

/* An expression node while parsing. */
struct lnode {
    int kind; /* 0 atom, 1 and, 2 or */
    struct atom atom;
    struct lnode *l, *r;
};

struct lparser {
    struct slice src;
    size_t pos;
    struct ltoken tok;
    struct arena *a;
    char *err;
    size_t errlen;
    bool failed;
    int depth;
};

__attribute__((format(printf, 2, 3))) static void lfail(struct lparser *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
}

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
}

static void lnext(struct lparser *p)
{
    const char *s = p->src.ptr;
    size_t n = p->src.len, i = p->pos;
    while (i < n && isspace((unsigned char)s[i]))
        i++;
    struct ltoken t = {L_EOF, {s + i, 0}, i};
    if (i >= n) {
        p->tok = t;
        p->pos = i;
        return;
    }
    char c = s[i];
    size_t len = 1;
    if (c == '=') {
        t.t = L_EQ;
    } else if (c == '&') {
        t.t = L_AND;
    } else if (c == '|') {
        t.t = L_OR;
    } else if (c == '(') {
        t.t = L_LPAREN;
    } else if (c == ')') {
        t.t = L_RPAREN;
    } else if (c == '"' || c == '\'') {
        size_t j = i + 1;
        while (j < n && s[j] != c)
            j++;
        t.t = L_STRING;
        t.text = (struct slice){s + i + 1, j - i - 1};
        len = (j < n ? j + 1 : n) - i;
        p->tok = t;
        p->pos = i + len;
        return;
    } else if (word_char(c)) {
        size_t j = i;
        while (j < n && word_char(s[j]))
            j++;
        len = j - i;
        struct slice w = {s + i, len};
        if (len == 3 && !strncasecmp(w.ptr, "AND", 3))
            t.t = L_AND;
        else if (len == 2 && !strncasecmp(w.ptr, "OR", 2))
            t.t = L_OR;
        else if (len == 8 && !strncasecmp(w.ptr, "CONTAINS", 8))
            t.t = L_CONTAINS;
        else
            t.t = L_IDENT;
    } else {
        t.t = L_ILLEGAL;
    }
    t.text = (struct slice){s + i, len};
    p->tok = t;
    p->pos = i + len;
}

static struct lnode *lexpr(struct lparser *p);

static struct lnode *lfactor(struct lparser *p)
{
    if (++p->depth > 100) {
        lfail(p, "expression nesting too deep");
        return NULL;
    }
    struct lnode *n = NULL;
    if (p->tok.t == L_LPAREN) {
        lnext(p);
        n = lexpr(p);
        if (n && p->tok.t != L_RPAREN) {
            lfail(p, "expected ) at position %zu", p->tok.pos + 1);
            return NULL;
        }
        lnext(p);
        p->depth--;
        return n;
    }
    if (p->tok.t != L_IDENT) {
        lfail(p, "expected a field name at position %zu, got \"%.*s\"", p->tok.pos + 1,
              (int)p->tok.text.len, p->tok.text.ptr);
        return NULL;
    }
    n = arena_calloc(p->a, 1, sizeof(*n));
    n->atom.field = p->tok.text;
    lnext(p);
    if (p->tok.t == L_CONTAINS) {
        n->atom.contains = true;
    } else if (p->tok.t != L_EQ) {
        lfail(p, "expected = or CONTAINS after \"%.*s\" at position %zu", (int)n->atom.field.len,
              n->atom.field.ptr, p->tok.pos + 1);
        return NULL;
    }
    lnext(p);
    if (p->tok.t != L_STRING && p->tok.t != L_IDENT) {
        lfail(p, "expected a value at position %zu, got \"%.*s\"", p->tok.pos + 1,
              (int)p->tok.text.len, p->tok.text.ptr);
        return NULL;
    }
    n->atom.value = p->tok.text;
    lnext(p);
    p->depth--;
    return n;
}

static struct lnode *lterm(struct lparser *p)
{
    struct lnode *l = lfactor(p);
    while (l && p->tok.t == L_AND) {
        lnext(p);
        struct lnode *r = lfactor(p);
        if (!r)
            return NULL;
        struct lnode *n = arena_calloc(p->a, 1, sizeof(*n));
        n->kind = 1;
        n->l = l;
        n->r = r;
        l = n;
    }
    return l;
}

static struct lnode *lexpr(struct lparser *p)
{
    struct lnode *l = lterm(p);
    while (l && p->tok.t == L_OR) {
        lnext(p);
        struct lnode *r = lterm(p);
        if (!r)
            return NULL;
        struct lnode *n = arena_calloc(p->a, 1, sizeof(*n));
        n->kind = 2;
        n->l = l;
        n->r = r;
        l = n;
    }
    return l;
}

/* A conjunction of atoms. */
struct conj {
    const struct atom *atoms[MAX_ATOMS];
    uint32_t n;
};

struct dnf {
    struct conj *c;
    uint32_t n;
};

static bool to_dnf(struct lparser *p, const struct lnode *node, struct dnf *out)
{
    if (node->kind == 0) {
        out->c = arena_calloc(p->a, 1, sizeof(*out->c));
        out->c[0].atoms[0] = &node->atom;
        out->c[0].n = 1;
        out->n = 1;
        return true;
    }
    struct dnf l, r;
    if (!to_dnf(p, node->l, &l) || !to_dnf(p, node->r, &r))
        return false;
    if (node->kind == 2) {
        if (l.n + r.n > MAX_BRANCHES) {
            lfail(p, "the expression expands to more than %d alternatives", MAX_BRANCHES);
            return false;
        }
        out->c = arena_alloc(p->a, (l.n + r.n) * sizeof(*out->c));
        memcpy(out->c, l.c, l.n * sizeof(*out->c));
        memcpy(out->c + l.n, r.c, r.n * sizeof(*out->c));
        out->n = l.n + r.n;
        return true;
    }
    if ((uint64_t)l.n * r.n > MAX_BRANCHES) {
        lfail(p, "the expression expands to more than %d alternatives", MAX_BRANCHES);
        return false;
    }
    out->n = l.n * r.n;
    out->c = arena_alloc(p->a, out->n * sizeof(*out->c));
    uint32_t k = 0;
    for (uint32_t i = 0; i < l.n; i++)
        for (uint32_t j = 0; j < r.n; j++) {
            if (l.c[i].n + r.c[j].n > MAX_ATOMS) {
                lfail(p, "too many comparisons in one conjunction (%d at most)", MAX_ATOMS);
                return false;
            }
            struct conj *c = &out->c[k++];
            c->n = 0;
            for (uint32_t a = 0; a < l.c[i].n; a++)
                c->atoms[c->n++] = l.c[i].atoms[a];
            for (uint32_t a = 0; a < r.c[j].n; a++)
                c->atoms[c->n++] = r.c[j].atoms[a];
        }
    return true;
}

static void free_regex(void *p)
{
    regex_free(p);
}

/* `.*\Qvalue\E.*` (anchored by the selector): the label contains value. */
static struct slice contains_regex(struct arena *a, struct slice v)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    int rc = buf_append_str(&b, "(?s).*");
    for (size_t i = 0; i < v.len && !rc; i++) {
        char c = v.ptr[i];
        if (strchr("\\^$.|?*+()[]{}", c))
            rc = buf_append_char(&b, '\\');
        if (!rc)
            rc = buf_append_char(&b, c);
    }
    if (!rc)
        rc = buf_append_str(&b, ".*");
    struct slice s = arena_slice_dup(a, buf_slice(&b));
    buf_release(&b);
    return s;
}

int plan_parse_logsgoql(struct slice text, struct arena *a, struct plan *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->logsgo = true;
    struct lparser p = {.src = text, .a = a, .err = err, .errlen = errlen};
    if (errlen)
        err[0] = '\0';
    lnext(&p);
    struct lnode *root = lexpr(&p);
    if (root && !p.failed && p.tok.t != L_EOF)
        lfail(&p, "unexpected \"%.*s\" at position %zu", (int)p.tok.text.len, p.tok.text.ptr,
              p.tok.pos + 1);
    struct dnf d = {0};
    if (!root || p.failed || !to_dnf(&p, root, &d)) {
        if (!p.failed)
            lfail(&p, "invalid query expression");
        return STRATA_EPARSE;
    }
    struct expr *e = arena_calloc(a, 1, sizeof(*e));
    e->kind = EXPR_LOG;
    e->n_log = d.n;
    e->log = arena_calloc(a, d.n, sizeof(*e->log));
    for (uint32_t i = 0; i < d.n; i++) {
        struct log_expr *br = &e->log[i];
        const struct conj *c = &d.c[i];
        br->sel.m = arena_calloc(a, c->n ? c->n : 1, sizeof(struct matcher));
        br->stages = arena_calloc(a, c->n ? c->n : 1, sizeof(struct stage));
        for (uint32_t k = 0; k < c->n; k++) {
            const struct atom *at = c->atoms[k];
            struct slice f = at->field;
            if (f.len == 7 && !strncasecmp(f.ptr, "message", 7)) {
                struct stage *st = &br->stages[br->n_stages++];
                st->kind = STAGE_LINE_FILTER;
                st->text = at->value;
                st->lf.op = at->contains ? LINE_CONTAINS : LINE_EQUALS;
                st->lf.n = 1;
                st->lf.values = arena_alloc(a, sizeof(struct slice));
                st->lf.values[0] = at->value;
                continue;
            }
            struct slice name = f;
            if (f.len == 7 && !strncasecmp(f.ptr, "service", 7))
                name = SLICE_LIT("service");
            else if (f.len == 5 && !strncasecmp(f.ptr, "level", 5))
                name = SLICE_LIT("level");
            struct matcher *m = &br->sel.m[br->sel.n];
            char rerr[200];
            int rc = at->contains ? matcher_init(m, MATCH_RE, name, contains_regex(a, at->value),
                                                 rerr, sizeof(rerr))
                                  : matcher_init(m, MATCH_EQ, name, at->value, rerr, sizeof(rerr));
            if (rc < 0) {
                snprintf(err, errlen, "%s", rerr);
                plan_release(out);
                return STRATA_EPARSE;
            }
            if (m->re)
                plan_on_release(out, a, free_regex, m->re);
            br->sel.n++;
        }
    }
    out->root = e;
    return 0;
}
