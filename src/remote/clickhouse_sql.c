#include "remote/clickhouse_sql.h"

#include <ctype.h>
#include <string.h>

#include "core/err.h"

int clickhouse_sql_quote(struct buf *b, struct slice s)
{
    int rc = buf_append_char(b, '\'');
    for (size_t i = 0; !rc && i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '\\')
            rc = buf_append(b, "\\\\", 2);
        else if (c == '\'')
            rc = buf_append(b, "\\'", 2);
        else if (c < 0x20 || c == 0x7f)
            rc = buf_printf(b, "\\x%02X", c);
        else
            rc = buf_append_char(b, (char)c);
    }
    return rc ? rc : buf_append_char(b, '\'');
}

/* ---- PCRE2 -> RE2 ---------------------------------------------------------- */

/*
 * \s differs: PCRE2 includes \v (0x0B), RE2 does not. Inside a class the
 * characters are spelled out; outside, a class of them.
 */
#define SPACE_CHARS "\\t\\n\\x0B\\f\\r "

struct re_out {
    struct buf *b;
    int rc;
};

static void emit(struct re_out *o, const char *p, size_t n)
{
    if (!o->rc)
        o->rc = buf_append(o->b, p, n);
}

static void emit_str(struct re_out *o, const char *s)
{
    emit(o, s, strlen(s));
}

static bool is_hex(char c)
{
    return isxdigit((unsigned char)c) != 0;
}

/* \xHH or \x{H...}: the number of bytes after the 'x', or 0 when malformed. */
static size_t hex_escape_len(const char *s, size_t n)
{
    if (n >= 2 && is_hex(s[0]) && is_hex(s[1]))
        return 2;
    if (n >= 3 && s[0] == '{') {
        size_t k = 1;
        while (k < n && k <= 7 && is_hex(s[k]))
            k++;
        if (k > 1 && k < n && s[k] == '}')
            return k + 1;
    }
    return 0;
}

/*
 * Translate the escape at s[0] == '\\'. Returns the bytes consumed, or 0 when
 * the escape is not in the shared subset.
 */
static size_t escape(struct re_out *o, const char *s, size_t n, bool in_class)
{
    if (n < 2)
        return 0;
    char c = s[1];
    if ((unsigned char)c < 0x80 && ispunct((unsigned char)c)) {
        emit(o, s, 2);
        return 2;
    }
    switch (c) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 't':
    case 'n':
    case 'r':
    case 'f':
    case 'a': emit(o, s, 2); return 2;
    case 'b':
    case 'B':
    case 'A':
    case 'z':
        if (in_class) /* \b is a backspace in a PCRE2 class, an error in RE2 */
            return 0;
        emit(o, s, 2);
        return 2;
    case 's': emit_str(o, in_class ? SPACE_CHARS : "[" SPACE_CHARS "]"); return 2;
    case 'S':
        if (in_class)
            return 0;
        emit_str(o, "[^" SPACE_CHARS "]");
        return 2;
    case 'x': {
        size_t k = hex_escape_len(s + 2, n - 2);
        if (!k)
            return 0;
        emit(o, s, 2 + k);
        return 2 + k;
    }
    default: return 0; /* digits (back-reference vs octal), \p, \Q, \v, \h, \e, \K, ... */
    }
}

/* A repetition {n}, {n,} or {n,m} at s[0] == '{' with counts <= 1000: its length, or 0. */
static size_t repetition_len(const char *s, size_t n)
{
    size_t i = 1;
    long a = -1, b = -1;
    for (long v = 0; i < n && isdigit((unsigned char)s[i]); i++) {
        v = v * 10 + (s[i] - '0');
        if (v > 1000)
            return 0;
        a = v;
    }
    if (a < 0)
        return 0;
    if (i < n && s[i] == ',') {
        i++;
        for (long v = 0; i < n && isdigit((unsigned char)s[i]); i++) {
            v = v * 10 + (s[i] - '0');
            if (v > 1000)
                return 0;
            b = v;
        }
        if (b >= 0 && b < a)
            return 0;
    }
    return i < n && s[i] == '}' ? i + 1 : 0;
}

/* After "(?": the length of a supported group opener's rest, or 0. */
static size_t group_len(const char *s, size_t n)
{
    if (n >= 1 && s[0] == ':')
        return 1;
    if (n >= 3 && s[0] == 'P' && s[1] == '<') {
        size_t k = 2;
        while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_'))
            k++;
        return k > 2 && k < n && s[k] == '>' ? k + 1 : 0;
    }
    /* Flags: i, s and U (and their negation); m and x change too much. */
    size_t k = 0;
    while (k < n && (s[k] == 'i' || s[k] == 's' || s[k] == 'U' || s[k] == '-'))
        k++;
    return k > 0 && k < n && (s[k] == ')' || s[k] == ':') ? k + 1 : 0;
}

static int translate(struct slice pat, bool anchored, struct re_out *o)
{
    const char *s = pat.ptr;
    size_t n = pat.len, i = 0;
    while (i < n && !o->rc) {
        char c = s[i];
        if (c == '\\') {
            size_t k = escape(o, s + i, n - i, false);
            if (!k)
                return STRATA_EUNSUPPORTED;
            i += k;
        } else if (c == '[') {
            emit(o, "[", 1);
            i++;
            if (i < n && s[i] == '^')
                emit(o, "^", 1), i++;
            if (i < n && s[i] == ']') /* a ']' first is a literal in both */
                emit(o, "]", 1), i++;
            bool closed = false;
            while (i < n && !closed) {
                if (s[i] == ']') {
                    emit(o, "]", 1);
                    i++;
                    closed = true;
                } else if (s[i] == '[' && i + 1 < n && s[i + 1] == ':') {
                    const char *e = memchr(s + i + 2, ']', n - i - 2);
                    if (!e || e[-1] != ':')
                        return STRATA_EUNSUPPORTED;
                    for (const char *q = s + i + 2; q < e - 1; q++)
                        if (!isalpha((unsigned char)*q) && !(q == s + i + 2 && *q == '^'))
                            return STRATA_EUNSUPPORTED;
                    emit(o, s + i, (size_t)(e + 1 - (s + i)));
                    i = (size_t)(e + 1 - s);
                } else if (s[i] == '[') {
                    return STRATA_EUNSUPPORTED; /* nested classes and set operations */
                } else if (s[i] == '\\') {
                    size_t k = escape(o, s + i, n - i, true);
                    if (!k)
                        return STRATA_EUNSUPPORTED;
                    i += k;
                } else {
                    emit(o, s + i, 1);
                    i++;
                }
            }
            if (!closed)
                return STRATA_EUNSUPPORTED;
        } else if (c == '(') {
            if (i + 1 < n && s[i + 1] == '?') {
                size_t k = group_len(s + i + 2, n - i - 2);
                if (!k)
                    return STRATA_EUNSUPPORTED;
                emit(o, s + i, 2 + k);
                i += 2 + k;
            } else if (i + 1 < n && s[i + 1] == '*') {
                return STRATA_EUNSUPPORTED; /* PCRE2 verbs (*UTF) ... */
            } else {
                emit(o, "(", 1);
                i++;
            }
        } else if (c == '$') {
            /* Only a final '$': PCRE2's also matches before a final newline. */
            if (i != n - 1)
                return STRATA_EUNSUPPORTED;
            if (!anchored)
                emit_str(o, "\\n?$");
            i++;
        } else if (c == '{') {
            size_t k = repetition_len(s + i, n - i);
            if (!k || (i + k < n && s[i + k] == '+'))
                return STRATA_EUNSUPPORTED;
            emit(o, s + i, k);
            i += k;
        } else if (c == '*' || c == '+' || c == '?') {
            if (i + 1 < n && s[i + 1] == '+')
                return STRATA_EUNSUPPORTED; /* possessive */
            emit(o, s + i, 1);
            i++;
        } else {
            emit(o, s + i, 1);
            i++;
        }
    }
    return o->rc;
}

int clickhouse_sql_regex(struct buf *b, struct slice pattern, bool anchored)
{
    struct buf re;
    buf_init(&re, pattern.len * 16 + 64);
    struct re_out o = {&re, 0};
    emit_str(&o, anchored ? "(?-s:^(?:" : "(?-s:");
    int rc = translate(pattern, anchored, &o);
    if (!rc)
        emit_str(&o, anchored ? ")$)" : ")");
    if (!rc)
        rc = o.rc;
    size_t mark = b->len;
    if (!rc && (rc = clickhouse_sql_quote(b, buf_slice(&re))) < 0)
        buf_truncate(b, mark);
    buf_release(&re);
    return rc;
}

/* [NOT ]match(expr, '<RE2>'); b is left as it was on failure. */
static int sql_match(struct buf *b, const char *expr, struct slice pattern, bool negate,
                     bool anchored)
{
    size_t mark = b->len;
    int rc = buf_printf(b, "%smatch(%s, ", negate ? "NOT " : "", expr);
    if (!rc)
        rc = clickhouse_sql_regex(b, pattern, anchored);
    if (!rc)
        rc = buf_append_char(b, ')');
    if (rc)
        buf_truncate(b, mark);
    return rc;
}

int clickhouse_sql_matcher(struct buf *b, const char *value_expr, const struct matcher *m)
{
    size_t mark = b->len;
    int rc = 0;
    switch (m->op) {
    case MATCH_EQ:
    case MATCH_NEQ:
        rc = buf_printf(b, "(%s %s ", value_expr, m->op == MATCH_EQ ? "=" : "!=");
        if (!rc)
            rc = clickhouse_sql_quote(b, m->value);
        if (!rc)
            rc = buf_append_char(b, ')');
        break;
    case MATCH_RE:
    case MATCH_NRE: rc = sql_match(b, value_expr, m->value, m->op == MATCH_NRE, true); break;
    }
    if (rc)
        buf_truncate(b, mark);
    return rc;
}

int clickhouse_sql_line_filter(struct buf *b, const char *line_expr,
                               const struct tier_line_filter *f)
{
    size_t mark = b->len;
    int rc;
    switch (f->op) {
    case TIER_LINE_CONTAINS:
    case TIER_LINE_NOT_CONTAINS:
        if (!f->pattern.len) { /* every line contains "" */
            rc = buf_append_str(b, f->op == TIER_LINE_CONTAINS ? "1" : "0");
            break;
        }
        rc = buf_printf(b, "position(%s, ", line_expr);
        if (!rc)
            rc = clickhouse_sql_quote(b, f->pattern);
        if (!rc)
            rc = buf_append_str(b, f->op == TIER_LINE_CONTAINS ? ") > 0" : ") = 0");
        break;
    default: rc = sql_match(b, line_expr, f->pattern, f->op == TIER_LINE_NOT_REGEX, false); break;
    }
    if (rc)
        buf_truncate(b, mark);
    return rc;
}
