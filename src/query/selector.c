#include "query/selector.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/gostr.h"

int matcher_init(struct matcher *m, enum match_op op, struct slice name, struct slice value,
                 char *err, size_t errlen)
{
    m->op = op;
    m->name = name;
    m->value = value;
    m->re = NULL;
    if (op == MATCH_RE || op == MATCH_NRE) {
        m->re = regex_compile(value, REGEX_ANCHORED, err, errlen);
        if (!m->re)
            return STRATA_EPARSE;
    }
    return 0;
}

bool matcher_matches(const struct matcher *m, struct slice v)
{
    switch (m->op) {
    case MATCH_EQ: return slice_eq(v, m->value);
    case MATCH_NEQ: return !slice_eq(v, m->value);
    case MATCH_RE: return regex_match(m->re, v) == 1;
    case MATCH_NRE: return regex_match(m->re, v) != 1;
    }
    return false;
}

bool matcher_matches_empty(const struct matcher *m)
{
    return matcher_matches(m, (struct slice){"", 0});
}

bool selector_matches(const struct selector *s, const struct label *v, uint32_t n)
{
    for (uint32_t i = 0; i < s->n; i++) {
        const struct matcher *m = &s->m[i];
        struct slice val = {"", 0};
        for (uint32_t j = 0; j < n; j++)
            if (slice_eq(v[j].name, m->name)) {
                val = v[j].value;
                break;
            }
        if (!matcher_matches(m, val))
            return false;
    }
    return true;
}

void selector_release(struct selector *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        regex_free(s->m[i].re);
        s->m[i].re = NULL;
    }
    s->n = 0;
}

static void perr(char *err, size_t errlen, size_t pos, const char *msg)
{
    snprintf(err, errlen, "parse error at line 1, col %zu: %s", pos + 1, msg);
}

static void ws(struct slice t, size_t *i)
{
    while (*i < t.len &&
           (t.ptr[*i] == ' ' || t.ptr[*i] == '\t' || t.ptr[*i] == '\n' || t.ptr[*i] == '\r'))
        (*i)++;
}

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

int selector_parse(struct slice t, struct arena *a, struct selector *out, size_t *used, char *err,
                   size_t errlen)
{
    size_t i = 0;
    uint32_t cap = 4, n = 0;
    struct matcher *m = arena_alloc(a, cap * sizeof(*m));
    out->m = m;
    out->n = 0;
    ws(t, &i);
    if (i >= t.len || t.ptr[i] != '{') {
        perr(err, errlen, i, "syntax error: unexpected input, expecting {");
        return STRATA_EPARSE;
    }
    i++;
    for (;;) {
        ws(t, &i);
        if (i < t.len && t.ptr[i] == '}' && n == 0) {
            i++;
            break;
        }
        size_t s = i;
        while (i < t.len && ident_char(t.ptr[i]))
            i++;
        if (i == s || !ident_start(t.ptr[s])) {
            perr(err, errlen, s, "syntax error: unexpected input, expecting IDENTIFIER");
            goto fail;
        }
        struct slice name = {t.ptr + s, i - s};
        ws(t, &i);
        enum match_op op;
        if (i + 1 < t.len && t.ptr[i] == '=' && t.ptr[i + 1] == '~') {
            op = MATCH_RE, i += 2;
        } else if (i + 1 < t.len && t.ptr[i] == '!' && t.ptr[i + 1] == '~') {
            op = MATCH_NRE, i += 2;
        } else if (i + 1 < t.len && t.ptr[i] == '!' && t.ptr[i + 1] == '=') {
            op = MATCH_NEQ, i += 2;
        } else if (i < t.len && t.ptr[i] == '=') {
            op = MATCH_EQ, i += 1;
        } else {
            perr(err, errlen, i, "syntax error: unexpected input, expecting = or != or =~ or !~");
            goto fail;
        }
        ws(t, &i);
        struct slice value;
        size_t u;
        const char *why;
        if (gostr_unquote((struct slice){t.ptr + i, t.len - i}, a, &value, &u, &why) < 0) {
            perr(err, errlen, i, why);
            goto fail;
        }
        i += u;
        if (n == cap) {
            m = arena_realloc(a, m, cap * sizeof(*m), 2 * cap * sizeof(*m));
            cap *= 2;
            out->m = m;
        }
        char rerr[200];
        if (matcher_init(&m[n], op, name, value, rerr, sizeof(rerr)) < 0) {
            perr(err, errlen, s, rerr);
            goto fail;
        }
        out->n = ++n;
        ws(t, &i);
        if (i < t.len && t.ptr[i] == ',') {
            i++;
            continue;
        }
        if (i < t.len && t.ptr[i] == '}') {
            i++;
            break;
        }
        perr(err, errlen, i, "syntax error: unexpected input, expecting , or }");
        goto fail;
    }
    bool nonempty = false;
    for (uint32_t k = 0; k < n; k++)
        if (!matcher_matches_empty(&m[k]))
            nonempty = true;
    if (!nonempty) {
        snprintf(err, errlen,
                 "parse error : queries require at least one regexp or equality matcher that "
                 "does not have an empty-compatible value. For instance, app=~\".*\" does not "
                 "meet this requirement, but app=~\".+\" will");
        goto fail;
    }
    *used = i;
    return 0;
fail:
    selector_release(out);
    return STRATA_EPARSE;
}

int selector_format(struct buf *b, const struct selector *s)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    int rc = buf_append_char(b, '{');
    for (uint32_t i = 0; i < s->n && !rc; i++) {
        rc = buf_printf(b, "%s%.*s%s", i ? ", " : "", (int)s->m[i].name.len, s->m[i].name.ptr,
                        ops[s->m[i].op]);
        if (!rc)
            rc = gostr_quote(b, s->m[i].value);
    }
    return rc ? rc : buf_append_char(b, '}');
}
