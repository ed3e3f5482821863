/*
 * template.c - a Go text/template subset for line_format and label_format.
 *
 * Compilation turns the text into a tree of nodes (text, actions, if/with
 * blocks); actions hold pipelines of commands whose arguments are fields,
 * literals, function names or nested pipelines. Execution walks the tree with
 * small tagged values (string, int, float, bool, time, nil); strings made
 * while running live in the caller's arena.
 */
#include "query/template.h"

#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/gostr.h"
#include "query/regex.h"

/* ---------------------------------------------------------------- numbers */

/* The shortest decimal digits of v that read back exactly: v = 0.DIGITS x 10^dp. */
static int shortest_digits(double v, char *digits, int *dp)
{
    char tmp[64];
    int nd = 0;
    if (v < 1e15 && v == (double)(uint64_t)v) {
        /*
         * An integer below 2^53 is exact, and its own digits are the shortest that read
         * back (counts and whole seconds: most sample values and times). Without this,
         * printing a matrix of counts cost more than computing it.
         */
        uint64_t x = (uint64_t)v;
        char rev[24];
        int k = 0;
        do {
            rev[k++] = (char)('0' + x % 10);
            x /= 10;
        } while (x);
        *dp = k;
        while (nd < k - 1 && rev[nd] == '0') /* trailing zeros go: 100 is 0.1 x 10^3 */
            nd++;
        int n = 0;
        for (int i = k - 1; i >= nd; i--)
            digits[n++] = rev[i];
        digits[n] = '\0';
        return n;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v || prec == 17)
            break;
    }
    /* tmp is "d.ddde[+-]XX" (v > 0) */
    const char *p = tmp;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp = atoi(p + 1); /* tmp is our own formatting: always well-formed */
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    *dp = exp + 1;
    return nd;
}

size_t go_format_float_f(double v, char *out)
{
    if (isnan(v))
        return (size_t)snprintf(out, 8, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, 8, v > 0 ? "+Inf" : "-Inf");
    size_t n = 0;
    if (v == 0) {
        if (signbit(v))
            out[n++] = '-';
        out[n++] = '0';
        out[n] = '\0';
        return n;
    }
    if (v < 0) {
        out[n++] = '-';
        v = -v;
    }
    char d[32];
    int dp;
    int nd = shortest_digits(v, d, &dp);
    if (dp <= 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -dp; i++)
            out[n++] = '0';
        for (int i = 0; i < nd; i++)
            out[n++] = d[i];
    } else {
        for (int i = 0; i < dp; i++)
            out[n++] = i < nd ? d[i] : '0';
        if (nd > dp) {
            out[n++] = '.';
            for (int i = dp; i < nd; i++)
                out[n++] = d[i];
        }
    }
    out[n] = '\0';
    return n;
}

size_t go_format_float_g(double v, char *out)
{
    if (isnan(v))
        return (size_t)snprintf(out, 8, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, 8, v > 0 ? "+Inf" : "-Inf");
    if (v == 0)
        return (size_t)snprintf(out, 8, signbit(v) ? "-0" : "0");
    size_t n = 0;
    if (v < 0) {
        out[n++] = '-';
        v = -v;
    }
    char d[32];
    int dp;
    int nd = shortest_digits(v, d, &dp);
    int exp = dp - 1;
    if (exp < -4 || exp >= 6) { /* strconv 'g' with the shortest precision */
        out[n++] = d[0];
        if (nd > 1) {
            out[n++] = '.';
            for (int i = 1; i < nd; i++)
                out[n++] = d[i];
        }
        n += (size_t)snprintf(out + n, 16, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return n;
    }
    return n + go_format_float_f(v, out + n);
}

static char *slice_cstr(struct slice s, char *tmp, size_t cap)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(tmp, s.ptr, n);
    tmp[n] = '\0';
    return tmp;
}

int go_parse_float(struct slice s, double *out, char *err, size_t errlen)
{
    char tmp[128];
    if (s.len == 0 || s.len >= sizeof(tmp) || isspace((unsigned char)s.ptr[0]))
        goto bad;
    slice_cstr(s, tmp, sizeof(tmp));
    /* strtod accepts hex floats and "infinity" like Go; reject what Go rejects: "0x" without p. */
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + s.len)
        goto bad;
    if ((tmp[0] == '0' || tmp[1] == '0') && (strchr(tmp, 'x') || strchr(tmp, 'X')) &&
        !strchr(tmp, 'p') && !strchr(tmp, 'P'))
        goto bad;
    *out = v;
    return 0;
bad:
    if (err)
        snprintf(err, errlen, "strconv.ParseFloat: parsing \"%.*s\": invalid syntax",
                 (int)(s.len > 100 ? 100 : s.len), s.ptr);
    return STRATA_EPARSE;
}

int go_parse_bytes(struct slice s, double *out, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        double mult;
    } units[] = {
        {"", 1},         {"b", 1},        {"k", 1e3},      {"kb", 1e3},      {"ki", 1024},
        {"kib", 1024},   {"m", 1e6},      {"mb", 1e6},     {"mi", 1048576},  {"mib", 1048576},
        {"g", 1e9},      {"gb", 1e9},     {"gi", 1 << 30}, {"gib", 1 << 30}, {"t", 1e12},
        {"tb", 1e12},    {"ti", 0x1p40},  {"tib", 0x1p40}, {"p", 1e15},      {"pb", 1e15},
        {"pi", 0x1p50},  {"pib", 0x1p50}, {"e", 1e18},     {"eb", 1e18},     {"ei", 0x1p60},
        {"eib", 0x1p60},
    };
    size_t i = 0;
    char num[64];
    size_t nn = 0;
    while (i < s.len && (isdigit((unsigned char)s.ptr[i]) || s.ptr[i] == '.' || s.ptr[i] == ',')) {
        if (s.ptr[i] != ',' && nn < sizeof(num) - 1)
            num[nn++] = s.ptr[i];
        i++;
    }
    num[nn] = '\0';
    double f;
    if (go_parse_float((struct slice){num, nn}, &f, err, errlen) < 0)
        return STRATA_EPARSE;
    struct slice rest = slice_trim((struct slice){s.ptr + i, s.len - i});
    char unit[8];
    if (rest.len < sizeof(unit)) {
        for (size_t k = 0; k < rest.len; k++)
            unit[k] = (char)tolower((unsigned char)rest.ptr[k]);
        unit[rest.len] = '\0';
        for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
            if (!strcmp(units[k].name, unit)) {
                f *= units[k].mult;
                if (f >= 18446744073709551615.0) {
                    if (err)
                        snprintf(err, errlen, "too large: %.*s", (int)s.len, s.ptr);
                    return STRATA_EPARSE;
                }
                *out = floor(f);
                return 0;
            }
    }
    if (err)
        snprintf(err, errlen, "unhandled size name: %.*s", (int)(rest.len > 50 ? 50 : rest.len),
                 rest.ptr);
    return STRATA_EPARSE;
}

int go_parse_duration_seconds(struct slice s, double *out, char *err, size_t errlen)
{
    int64_t ns;
    if (clock_parse_go_duration(s, &ns) < 0) {
        if (err)
            snprintf(err, errlen, "time: invalid duration \"%.*s\"",
                     (int)(s.len > 100 ? 100 : s.len), s.ptr);
        return STRATA_EPARSE;
    }
    *out = (double)ns / 1e9;
    return 0;
}

/* ---------------------------------------------------------------- the tree */

enum arg_kind { ARG_FIELD, ARG_DOT, ARG_STRING, ARG_NUMBER, ARG_BOOL, ARG_NIL, ARG_FUNC, ARG_PIPE };

struct tpipe;

struct targ {
    enum arg_kind kind;
    struct slice s;    /* field name, string, or function name */
    double num;        /* number */
    bool is_int;       /* number written without '.', 'e' */
    bool b;            /* bool */
    int fn;            /* ARG_FUNC: index in the function table */
    struct tpipe *sub; /* ARG_PIPE */
    struct regex *re;  /* a string literal used as a regex argument, precompiled */
};

struct tcmd {
    struct targ *args;
    uint32_t n;
};

struct tpipe {
    struct tcmd *cmds;
    uint32_t n;
};

enum node_kind { NODE_TEXT, NODE_ACTION, NODE_IF, NODE_WITH };

struct tnode {
    enum node_kind kind;
    struct slice text;
    struct tpipe *pipe;
    struct tnode *then, *els; /* lists */
    struct tnode *next;
};

struct template
{
    struct arena arena; /* every node */
    char *src;
    struct tnode *root;
    struct regex **regexes; /* precompiled, freed with the template */
    uint32_t n_regexes, cap_regexes;
};

/* ---------------------------------------------------------------- values */

enum val_kind { VAL_NIL, VAL_STR, VAL_INT, VAL_FLOAT, VAL_BOOL, VAL_TIME, VAL_MAP };

struct val {
    enum val_kind kind;
    struct slice s;
    int64_t i; /* int, or time in ns */
    double f;
    bool b;
};

struct exec {
    const struct template_env *env;
    struct arena *a;
    char *err;
    size_t errlen;
    int failed;
};

static struct val v_str(struct slice s)
{
    return (struct val){.kind = VAL_STR, .s = s};
}

static struct val v_int(int64_t i)
{
    return (struct val){.kind = VAL_INT, .i = i};
}

static struct val v_float(double f)
{
    return (struct val){.kind = VAL_FLOAT, .f = f};
}

static struct val v_bool(bool b)
{
    return (struct val){.kind = VAL_BOOL, .b = b};
}

static struct val v_time(int64_t ns)
{
    return (struct val){.kind = VAL_TIME, .i = ns};
}

__attribute__((format(printf, 2, 3))) static struct val fail(struct exec *x, const char *fmt, ...)
{
    if (!x->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->err, x->errlen, fmt, ap);
        va_end(ap);
        x->failed = 1;
    }
    return (struct val){.kind = VAL_NIL};
}

static struct slice dup_str(struct exec *x, const char *p, size_t n)
{
    char *c = arena_alloc(x->a, n + 1);
    if (n)
        memcpy(c, p, n);
    c[n] = '\0';
    return (struct slice){c, n};
}

/* Go's time.Time.String() in UTC: "2006-01-02 15:04:05.999999999 +0000 UTC". */
static struct slice time_string(struct exec *x, int64_t ns)
{
    char r[48];
    size_t n = clock_format_rfc3339(ns, r); /* 2006-01-02T15:04:05.123Z */
    r[10] = ' ';
    r[n - 1] = '\0'; /* drop Z */
    char out[80];
    int len = snprintf(out, sizeof(out), "%s +0000 UTC", r);
    return dup_str(x, out, (size_t)len);
}

static void print_map(struct exec *x, struct buf *b);

/* Go's fmt.Sprint of one value. */
static struct slice to_text(struct exec *x, struct val v)
{
    char tmp[400];
    size_t n;
    switch (v.kind) {
    case VAL_STR: return v.s;
    case VAL_INT: n = (size_t)snprintf(tmp, sizeof(tmp), "%lld", (long long)v.i); break;
    case VAL_FLOAT: n = go_format_float_g(v.f, tmp); break;
    case VAL_BOOL: return v.b ? SLICE_LIT("true") : SLICE_LIT("false");
    case VAL_TIME: return time_string(x, v.i);
    case VAL_MAP: {
        struct buf b;
        buf_init(&b, TEMPLATE_MAX_OUTPUT);
        print_map(x, &b);
        struct slice s = dup_str(x, b.ptr ? b.ptr : "", b.len);
        buf_release(&b);
        return s;
    }
    case VAL_NIL:
    default: return SLICE_LIT("<no value>");
    }
    return dup_str(x, tmp, n);
}

static bool truth(struct val v)
{
    switch (v.kind) {
    case VAL_STR: return v.s.len > 0;
    case VAL_INT: return v.i != 0;
    case VAL_FLOAT: return v.f != 0;
    case VAL_BOOL: return v.b;
    case VAL_TIME: return true;
    case VAL_MAP: return true;
    case VAL_NIL:
    default: return false;
    }
}

/* sprig's toInt64 / cast.ToInt64E, lenient: unparseable strings are 0. */
/* A float as an integer: 0 when it is not finite or out of int64's range. */
static int64_t float_to_int(double f)
{
    return isfinite(f) && fabs(f) < 9.2e18 ? (int64_t)f : 0;
}

/* Integer arithmetic wraps around as Go's int64 does (no undefined overflow in C). */
static int64_t wrap_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int64_t wrap_mul(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a * (uint64_t)b);
}

static int64_t to_int(struct val v)
{
    switch (v.kind) {
    case VAL_INT: return v.i;
    case VAL_FLOAT: return float_to_int(v.f);
    case VAL_BOOL: return v.b;
    case VAL_TIME: return v.i;
    case VAL_STR: {
        char tmp[64];
        if (v.s.len == 0 || v.s.len >= sizeof(tmp))
            return 0;
        slice_cstr(v.s, tmp, sizeof(tmp));
        char *end;
        long long r = strtoll(tmp, &end, 0);
        if (*end)
            return 0;
        return r;
    }
    default: return 0;
    }
}

static double to_float(struct val v)
{
    switch (v.kind) {
    case VAL_INT: return (double)v.i;
    case VAL_FLOAT: return v.f;
    case VAL_BOOL: return v.b;
    case VAL_STR: {
        double d;
        if (go_parse_float(v.s, &d, NULL, 0) < 0)
            return 0;
        return d;
    }
    default: return 0;
    }
}

static bool is_num(struct val v)
{
    return v.kind == VAL_INT || v.kind == VAL_FLOAT;
}

/* ---------------------------------------------------------------- functions */

struct exec_args {
    struct val *v;
    uint32_t n;
    struct regex *pre; /* the regex argument, when it was a literal compiled in advance */
};

typedef struct val (*tfn)(struct exec *x, struct exec_args *a);

static struct slice S(struct exec *x, struct val v) {
    return to_text(x, v);
}

static struct val
str_map(struct exec *x, struct slice s, int (*f)(int))
{
    char *o = arena_alloc(x->a, s.len + 1);
    for (size_t i = 0; i < s.len; i++)
        o[i] = (char)f((unsigned char)s.ptr[i]);
    o[s.len] = '\0';
    return v_str((struct slice){o, s.len});
}

static struct val f_lower(struct exec *x, struct exec_args *a)
{
    return str_map(x, S(x, a->v[0]), tolower);
}

static struct val f_upper(struct exec *x, struct exec_args *a)
{
    return str_map(x, S(x, a->v[0]), toupper);
}

static struct val f_title(struct exec *x, struct exec_args *a)
{
    struct slice s = S(x, a->v[0]);
    char *o = arena_alloc(x->a, s.len + 1);
    bool start = true;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        o[i] = (char)(start ? toupper(c) : c);
        start = !(isalnum(c) || c == '_' || c >= 0x80);
    }
    o[s.len] = '\0';
    return v_str((struct slice){o, s.len});
}

static bool in_cutset(struct slice cut, char c)
{
    return cut.len && memchr(cut.ptr, c, cut.len) != NULL;
}

static struct slice trim_set(struct slice s, struct slice cut, bool left, bool right)
{
    while (left && s.len && in_cutset(cut, s.ptr[0]))
        s.ptr++, s.len--;
    while (right && s.len && in_cutset(cut, s.ptr[s.len - 1]))
        s.len--;
    return s;
}

static struct val f_trim_go(struct exec *x, struct exec_args *a) /* Trim(s, cutset) */
{
    return v_str(trim_set(S(x, a->v[0]), S(x, a->v[1]), true, true));
}

static struct val f_trim_left(struct exec *x, struct exec_args *a)
{
    return v_str(trim_set(S(x, a->v[0]), S(x, a->v[1]), true, false));
}

static struct val f_trim_right(struct exec *x, struct exec_args *a)
{
    return v_str(trim_set(S(x, a->v[0]), S(x, a->v[1]), false, true));
}

static struct slice trim_prefix(struct slice s, struct slice p)
{
    if (s.len >= p.len && (p.len == 0 || !memcmp(s.ptr, p.ptr, p.len)))
        return (struct slice){s.ptr + p.len, s.len - p.len};
    return s;
}

static struct slice trim_suffix(struct slice s, struct slice p)
{
    if (s.len >= p.len && (p.len == 0 || !memcmp(s.ptr + s.len - p.len, p.ptr, p.len)))
        return (struct slice){s.ptr, s.len - p.len};
    return s;
}

static struct val f_TrimPrefix(struct exec *x, struct exec_args *a) /* (s, prefix) */
{
    return v_str(trim_prefix(S(x, a->v[0]), S(x, a->v[1])));
}

static struct val f_TrimSuffix(struct exec *x, struct exec_args *a)
{
    return v_str(trim_suffix(S(x, a->v[0]), S(x, a->v[1])));
}

static struct val f_trimPrefix(struct exec *x, struct exec_args *a) /* (prefix, s) */
{
    return v_str(trim_prefix(S(x, a->v[1]), S(x, a->v[0])));
}

static struct val f_trimSuffix(struct exec *x, struct exec_args *a)
{
    return v_str(trim_suffix(S(x, a->v[1]), S(x, a->v[0])));
}

static struct val f_trim_space(struct exec *x, struct exec_args *a)
{
    return v_str(slice_trim(S(x, a->v[0])));
}

static struct val f_trimAll(struct exec *x, struct exec_args *a) /* (cutset, s) */
{
    return v_str(trim_set(S(x, a->v[1]), S(x, a->v[0]), true, true));
}

/* strings.Replace(s, old, new, n); n < 0 replaces all. */
static struct val replace_n(struct exec *x, struct slice s, struct slice old, struct slice new,
                            int64_t n)
{
    if (n == 0 || (old.len == 0 && s.len == 0 && n != 0 && 0))
        return v_str(s);
    struct buf b;
    buf_init(&b, TEMPLATE_MAX_OUTPUT);
    size_t i = 0;
    int64_t done = 0;
    int rc = 0;
    if (old.len == 0) {
        /* Go: insert new before every UTF-8 sequence and at the end. */
        while (!rc && (n < 0 || done < n)) {
            rc = buf_append(&b, new.ptr, new.len);
            done++;
            if (i >= s.len)
                break;
            size_t l = 1;
            while (i + l < s.len && ((unsigned char)s.ptr[i + l] & 0xc0) == 0x80)
                l++;
            if (!rc)
                rc = buf_append(&b, s.ptr + i, l);
            i += l;
        }
        if (!rc && i < s.len)
            rc = buf_append(&b, s.ptr + i, s.len - i);
    } else {
        while (!rc && i < s.len && (n < 0 || done < n)) {
            const char *at = memmem(s.ptr + i, s.len - i, old.ptr, old.len);
            if (!at)
                break;
            rc = buf_append(&b, s.ptr + i, (size_t)(at - s.ptr) - i);
            if (!rc)
                rc = buf_append(&b, new.ptr, new.len);
            i = (size_t)(at - s.ptr) + old.len;
            done++;
        }
        if (!rc && i < s.len)
            rc = buf_append(&b, s.ptr + i, s.len - i);
    }
    if (rc) {
        buf_release(&b);
        return fail(x, "output too large");
    }
    struct slice r = dup_str(x, b.ptr ? b.ptr : "", b.len);
    buf_release(&b);
    return v_str(r);
}

static struct val f_Replace(struct exec *x, struct exec_args *a) /* (s, old, new, n) */
{
    return replace_n(x, S(x, a->v[0]), S(x, a->v[1]), S(x, a->v[2]), to_int(a->v[3]));
}

static struct val f_replace(struct exec *x, struct exec_args *a) /* sprig: (old, new, s) */
{
    return replace_n(x, S(x, a->v[2]), S(x, a->v[0]), S(x, a->v[1]), -1);
}

/* Go's regexp Expand: $1, ${1}, $name, ${name}, $$. */
static int expand_repl(struct buf *b, struct slice repl, const struct regex *re, struct slice subj,
                       const long *ov, int ng)
{
    int rc = 0;
    for (size_t i = 0; i < repl.len && !rc; i++) {
        if (repl.ptr[i] != '$' || i + 1 >= repl.len) {
            rc = buf_append_char(b, repl.ptr[i]);
            continue;
        }
        if (repl.ptr[i + 1] == '$') {
            rc = buf_append_char(b, '$');
            i++;
            continue;
        }
        size_t j = i + 1, ns, ne;
        bool brace = repl.ptr[j] == '{';
        if (brace)
            j++;
        ns = j;
        while (j < repl.len && (isalnum((unsigned char)repl.ptr[j]) || repl.ptr[j] == '_'))
            j++;
        ne = j;
        if (ne == ns || (brace && (j >= repl.len || repl.ptr[j] != '}'))) {
            rc = buf_append_char(b, '$');
            continue;
        }
        if (brace)
            j++;
        struct slice name = {repl.ptr + ns, ne - ns};
        int g = -1;
        bool digits = true;
        for (size_t k = 0; k < name.len; k++)
            digits = digits && isdigit((unsigned char)name.ptr[k]);
        if (digits) {
            g = 0;
            for (size_t k = 0; k < name.len && g < 100000; k++)
                g = g * 10 + (name.ptr[k] - '0');
        } else {
            for (int k = 1; k <= ng; k++) {
                const char *gn = regex_group_name(re, k);
                if (gn && slice_eq_str(name, gn)) {
                    g = k;
                    break;
                }
            }
        }
        if (g >= 0 && g <= ng && ov[2 * g] >= 0)
            rc = buf_append(b, subj.ptr + ov[2 * g], (size_t)(ov[2 * g + 1] - ov[2 * g]));
        i = j - 1;
    }
    return rc;
}

static struct regex *arg_regex(struct exec *x, struct exec_args *a, uint32_t i, struct regex **own)
{
    *own = NULL;
    if (a->pre)
        return a->pre;
    char err[200];
    struct regex *re = regex_compile(S(x, a->v[i]), 0, err, sizeof(err));
    if (!re) {
        fail(x, "%s", err);
        return NULL;
    }
    *own = re;
    return re;
}

static struct val regex_replace(struct exec *x, struct exec_args *a, bool literal)
{
    struct regex *own;
    struct regex *re = arg_regex(x, a, 0, &own);
    if (!re)
        return (struct val){.kind = VAL_NIL};
    struct slice s = S(x, a->v[1]), repl = S(x, a->v[2]);
    int ng = regex_group_count(re);
    long ovs[2 * 33];
    long *ov = ng < 32 ? ovs : xmallocarray((size_t)(ng + 1) * 2, sizeof(long));
    struct buf b;
    buf_init(&b, TEMPLATE_MAX_OUTPUT);
    size_t pos = 0;
    int rc = 0;
    long last_end = -1;
    while (!rc && pos <= s.len) {
        struct slice rest = {s.ptr + pos, s.len - pos};
        int m = regex_match_groups(re, rest, ov, ng + 1);
        if (m != 1)
            break;
        long ms = ov[0] + (long)pos, me = ov[1] + (long)pos;
        for (int g = 0; g <= ng; g++)
            if (ov[2 * g] >= 0) {
                ov[2 * g] += (long)pos;
                ov[2 * g + 1] += (long)pos;
            }
        if (ms == me && ms == last_end) {
            /* an empty match right after the previous one: step over a character */
            if ((size_t)ms >= s.len)
                break;
            rc = buf_append_char(&b, s.ptr[ms]);
            pos = (size_t)ms + 1;
            continue;
        }
        rc = buf_append(&b, s.ptr + pos, (size_t)ms - pos);
        if (!rc)
            rc =
                literal ? buf_append(&b, repl.ptr, repl.len) : expand_repl(&b, repl, re, s, ov, ng);
        last_end = me;
        if (me == ms) {
            if ((size_t)me < s.len && !rc)
                rc = buf_append_char(&b, s.ptr[me]);
            pos = (size_t)me + 1;
        } else {
            pos = (size_t)me;
        }
    }
    if (!rc && pos < s.len)
        rc = buf_append(&b, s.ptr + pos, s.len - pos);
    if (ov != ovs)
        free(ov);
    regex_free(own);
    if (rc) {
        buf_release(&b);
        return fail(x, "output too large");
    }
    struct slice r = dup_str(x, b.ptr ? b.ptr : "", b.len);
    buf_release(&b);
    return v_str(r);
}

static struct val f_regexReplaceAll(struct exec *x, struct exec_args *a)
{
    return regex_replace(x, a, false);
}

static struct val f_regexReplaceAllLiteral(struct exec *x, struct exec_args *a)
{
    return regex_replace(x, a, true);
}

static struct val f_count(struct exec *x, struct exec_args *a) /* (regex, s) */
{
    struct regex *own;
    struct regex *re = arg_regex(x, a, 0, &own);
    if (!re)
        return (struct val){.kind = VAL_NIL};
    struct slice s = S(x, a->v[1]);
    long ov[2];
    int64_t n = 0;
    size_t pos = 0;
    while (pos <= s.len) {
        if (regex_match_groups(re, (struct slice){s.ptr + pos, s.len - pos}, ov, 1) != 1)
            break;
        n++;
        size_t e = pos + (size_t)ov[1];
        pos = e > pos + (size_t)ov[0] ? e : e + 1;
    }
    regex_free(own);
    return v_int(n);
}

static struct val f_urldecode(struct exec *x, struct exec_args *a)
{
    struct slice s = S(x, a->v[0]);
    char *o = arena_alloc(x->a, s.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '+') {
            o[n++] = ' ';
        } else if (s.ptr[i] == '%') {
            if (i + 2 >= s.len || hex_digit(s.ptr[i + 1]) < 0 || hex_digit(s.ptr[i + 2]) < 0) {
                size_t l = s.len - i < 3 ? s.len - i : 3;
                return fail(x, "invalid URL escape \"%.*s\"", (int)l, s.ptr + i);
            }
            o[n++] = (char)(hex_digit(s.ptr[i + 1]) * 16 + hex_digit(s.ptr[i + 2]));
            i += 2;
        } else {
            o[n++] = s.ptr[i];
        }
    }
    o[n] = '\0';
    return v_str((struct slice){o, n});
}

static struct val f_urlencode(struct exec *x, struct exec_args *a)
{
    struct slice s = S(x, a->v[0]);
    char *o = arena_alloc(x->a, s.len * 3 + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            o[n++] = (char)c;
        } else if (c == ' ') {
            o[n++] = '+';
        } else {
            static const char hx[] = "0123456789ABCDEF";
            o[n++] = '%';
            o[n++] = hx[c >> 4];
            o[n++] = hx[c & 15];
        }
    }
    o[n] = '\0';
    return v_str((struct slice){o, n});
}

static struct val f_bytes(struct exec *x, struct exec_args *a)
{
    double d;
    char err[200];
    if (go_parse_bytes(S(x, a->v[0]), &d, err, sizeof(err)) < 0)
        return fail(x, "%s", err);
    return v_float(d);
}

static struct val f_duration(struct exec *x, struct exec_args *a)
{
    double d;
    char err[200];
    if (go_parse_duration_seconds(S(x, a->v[0]), &d, err, sizeof(err)) < 0)
        return fail(x, "%s", err);
    return v_float(d);
}

static int64_t to_time(struct val v)
{
    if (v.kind == VAL_TIME || v.kind == VAL_INT)
        return v.i;
    if (v.kind == VAL_FLOAT)
        return float_to_int(v.f);
    return 0;
}

static struct val f_unixEpochMillis(struct exec *x, struct exec_args *a)
{
    char t[32];
    int n = snprintf(t, sizeof(t), "%lld", (long long)(to_time(a->v[0]) / NS_PER_MS));
    return v_str(dup_str(x, t, (size_t)n));
}

static struct val f_unixEpochNanos(struct exec *x, struct exec_args *a)
{
    char t[32];
    int n = snprintf(t, sizeof(t), "%lld", (long long)to_time(a->v[0]));
    return v_str(dup_str(x, t, (size_t)n));
}

static struct val f_unixEpoch(struct exec *x, struct exec_args *a)
{
    char t[32];
    int64_t ns = to_time(a->v[0]);
    int64_t s = ns / NS_PER_SEC - (ns % NS_PER_SEC < 0);
    int n = snprintf(t, sizeof(t), "%lld", (long long)s);
    return v_str(dup_str(x, t, (size_t)n));
}

/* Go time layouts: 2006 01 02 15 04 05 .000 .999 Z07:00 -0700 MST Jan January Mon Monday PM 3. */
static int go_time_format(struct buf *b, struct slice layout, int64_t ns)
{
    static const char *const months[] = {"January",   "February", "March",    "April",
                                         "May",       "June",     "July",     "August",
                                         "September", "October",  "November", "December"};
    static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    char r[40];
    if (ns < INT64_MIN + NS_PER_SEC) /* year 1677: keeps the arithmetic below in range */
        ns = INT64_MIN + NS_PER_SEC;
    clock_format_rfc3339(ns - ((ns % NS_PER_SEC) + NS_PER_SEC) % NS_PER_SEC, r);
    int64_t frac = ((ns % NS_PER_SEC) + NS_PER_SEC) % NS_PER_SEC;
    int year = atoi(r), mon = atoi(r + 5), day = atoi(r + 8), hour = atoi(r + 11),
        min = atoi(r + 14), sec = atoi(r + 17);
    int64_t secs = (ns - frac) / NS_PER_SEC;
    int64_t dn = secs / 86400 - (secs % 86400 < 0);
    int wday = (int)(((dn % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    int rc = 0;
    const char *p = layout.ptr, *e = layout.ptr + layout.len;
#define LIT(s) (size_t)(e - p) >= sizeof(s) - 1 && !memcmp(p, s, sizeof(s) - 1)
    while (p < e && !rc) {
        if (LIT("2006")) {
            rc = buf_printf(b, "%04d", year), p += 4;
        } else if (LIT("January")) {
            rc = buf_append_str(b, months[mon - 1]), p += 7;
        } else if (LIT("Jan")) {
            rc = buf_printf(b, "%.3s", months[mon - 1]), p += 3;
        } else if (LIT("Monday")) {
            rc = buf_append_str(b, days[wday]), p += 6;
        } else if (LIT("Mon")) {
            rc = buf_printf(b, "%.3s", days[wday]), p += 3;
        } else if (LIT("MST")) {
            rc = buf_append_str(b, "UTC"), p += 3;
        } else if (LIT("01")) {
            rc = buf_printf(b, "%02d", mon), p += 2;
        } else if (LIT("02")) {
            rc = buf_printf(b, "%02d", day), p += 2;
        } else if (LIT("06")) {
            rc = buf_printf(b, "%02d", year % 100), p += 2;
        } else if (LIT("15")) {
            rc = buf_printf(b, "%02d", hour), p += 2;
        } else if (LIT("03")) {
            rc = buf_printf(b, "%02d", hour % 12 ? hour % 12 : 12), p += 2;
        } else if (LIT("04")) {
            rc = buf_printf(b, "%02d", min), p += 2;
        } else if (LIT("05")) {
            rc = buf_printf(b, "%02d", sec), p += 2;
        } else if (LIT("PM")) {
            rc = buf_append_str(b, hour >= 12 ? "PM" : "AM"), p += 2;
        } else if (LIT("Z07:00")) {
            rc = buf_append_char(b, 'Z'), p += 6;
        } else if (LIT("-07:00")) {
            rc = buf_append_str(b, "+00:00"), p += 6;
        } else if (LIT("-0700")) {
            rc = buf_append_str(b, "+0000"), p += 5;
        } else if (*p == '.' && p + 1 < e && (p[1] == '0' || p[1] == '9')) {
            char d = p[1];
            int w = 0;
            const char *q = p + 1;
            while (q < e && *q == d && w < 9)
                q++, w++;
            char f[16];
            snprintf(f, sizeof(f), "%09lld", (long long)frac);
            f[w] = '\0';
            if (d == '9') {
                int k = w;
                while (k > 0 && f[k - 1] == '0')
                    f[--k] = '\0';
                if (k)
                    rc = buf_printf(b, ".%s", f);
            } else {
                rc = buf_printf(b, ".%s", f);
            }
            p = q;
        } else if (LIT("1") && !(p + 1 < e && isdigit((unsigned char)p[1]))) {
            rc = buf_printf(b, "%d", mon), p += 1;
        } else if (LIT("2") && !(p + 1 < e && isdigit((unsigned char)p[1]))) {
            rc = buf_printf(b, "%d", day), p += 1;
        } else if (LIT("3") && !(p + 1 < e && isdigit((unsigned char)p[1]))) {
            rc = buf_printf(b, "%d", hour % 12 ? hour % 12 : 12), p += 1;
        } else {
            rc = buf_append_char(b, *p), p++;
        }
    }
#undef LIT
    return rc;
}

static struct val f_date(struct exec *x, struct exec_args *a) /* (layout, time) */
{
    struct buf b;
    buf_init(&b, 4096);
    struct val t = a->v[1];
    int64_t ns = to_time(t);
    if (go_time_format(&b, S(x, a->v[0]), ns) < 0) {
        buf_release(&b);
        return fail(x, "date layout too long");
    }
    struct slice r = dup_str(x, b.ptr ? b.ptr : "", b.len);
    buf_release(&b);
    return v_str(r);
}

/* Parse value by a Go layout (the common numeric layouts); 0 on failure, as Go's zero time. */
static int64_t go_time_parse(struct slice layout, struct slice v)
{
    int year = 1, mon = 1, day = 1, hour = 0, min = 0, sec = 0;
    int64_t frac = 0, off = 0;
    const char *p = layout.ptr, *e = layout.ptr + layout.len;
    size_t i = 0;
#define LIT(s) (size_t)(e - p) >= sizeof(s) - 1 && !memcmp(p, s, sizeof(s) - 1)
#define NUM(var, w)                                              \
    do {                                                         \
        int acc_ = 0;                                            \
        for (int k_ = 0; k_ < (w); k_++) {                       \
            if (i >= v.len || !isdigit((unsigned char)v.ptr[i])) \
                return 0;                                        \
            acc_ = acc_ * 10 + (v.ptr[i++] - '0');               \
        }                                                        \
        var = acc_;                                              \
    } while (0)
    while (p < e) {
        if (LIT("2006")) {
            NUM(year, 4);
            p += 4;
        } else if (LIT("01")) {
            NUM(mon, 2);
            p += 2;
        } else if (LIT("02")) {
            NUM(day, 2);
            p += 2;
        } else if (LIT("15")) {
            NUM(hour, 2);
            p += 2;
        } else if (LIT("04")) {
            NUM(min, 2);
            p += 2;
        } else if (LIT("05")) {
            NUM(sec, 2);
            p += 2;
        } else if (LIT("Z07:00")) {
            if (i < v.len && v.ptr[i] == 'Z') {
                i++;
            } else if (i + 6 <= v.len && (v.ptr[i] == '+' || v.ptr[i] == '-')) {
                int oh = 0, om = 0;
                char sg = v.ptr[i++];
                NUM(oh, 2);
                i++;
                NUM(om, 2);
                off = (sg == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
            } else {
                return 0;
            }
            p += 6;
        } else if (*p == '.' && p + 1 < e && (p[1] == '0' || p[1] == '9')) {
            p++;
            while (p < e && (*p == '0' || *p == '9'))
                p++;
            if (i < v.len && v.ptr[i] == '.') {
                i++;
                int64_t scale = NS_PER_SEC / 10;
                while (i < v.len && isdigit((unsigned char)v.ptr[i])) {
                    frac += (v.ptr[i++] - '0') * scale;
                    scale /= 10;
                }
            }
        } else {
            if (i >= v.len || v.ptr[i] != *p)
                return 0;
            i++, p++;
        }
    }
#undef LIT
#undef NUM
    if (i != v.len || mon < 1 || mon > 12 || day < 1 || day > 31)
        return 0;
    int64_t days = clock_days_from_civil(year, (unsigned)mon, (unsigned)day);
    int64_t secs = (days * 86400 + hour * 3600 + min * 60 + sec) - off;
    if (secs <= INT64_MIN / NS_PER_SEC || secs >= INT64_MAX / NS_PER_SEC)
        return 0; /* outside 1677..2262: not a time in nanoseconds */
    return secs * NS_PER_SEC + frac;
}

static struct val f_toDate(struct exec *x, struct exec_args *a) /* (layout, str) */
{
    return v_time(go_time_parse(S(x, a->v[0]), S(x, a->v[1])));
}

static struct val f_toDateInZone(struct exec *x, struct exec_args *a) /* (layout, zone, str) */
{
    return v_time(go_time_parse(S(x, a->v[0]), S(x, a->v[2])));
}

static struct val f_now(struct exec *x, struct exec_args *a)
{
    (void)x;
    (void)a;
    return v_time(clock_now_ns());
}

static struct val f_line(struct exec *x, struct exec_args *a)
{
    (void)a;
    return v_str(x->env->line);
}

static struct val f_timestamp(struct exec *x, struct exec_args *a)
{
    (void)a;
    return v_time(x->env->ts);
}

static struct val f_b64enc(struct exec *x, struct exec_args *a)
{
    struct slice s = S(x, a->v[0]);
    if (s.len > TEMPLATE_MAX_OUTPUT)
        return fail(x, "output too large");
    char *o = arena_alloc(x->a, 4 * ((s.len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)o, (const unsigned char *)s.ptr, (int)s.len);
    return v_str((struct slice){o, (size_t)n});
}

static struct val f_b64dec(struct exec *x, struct exec_args *a)
{
    struct slice s = S(x, a->v[0]);
    if (s.len > TEMPLATE_MAX_OUTPUT || s.len % 4)
        return v_str(dup_str(x, "illegal base64 data at input byte 0",
                             strlen("illegal base64 data at input byte 0")));
    char *o = arena_alloc(x->a, s.len / 4 * 3 + 1);
    int n = EVP_DecodeBlock((unsigned char *)o, (const unsigned char *)s.ptr, (int)s.len);
    if (n < 0)
        return v_str(SLICE_LIT("illegal base64 data at input byte 0"));
    for (size_t k = s.len; k > 0 && s.ptr[k - 1] == '='; k--)
        n--;
    o[n] = '\0';
    return v_str((struct slice){o, (size_t)n});
}

/* Runes of s, for the sprig functions that count in characters. */
static size_t rune_offset(struct slice s, int64_t runes)
{
    size_t i = 0;
    while (i < s.len && runes > 0) {
        i++;
        while (i < s.len && ((unsigned char)s.ptr[i] & 0xc0) == 0x80)
            i++;
        runes--;
    }
    return i;
}

static int64_t rune_count(struct slice s)
{
    int64_t n = 0;
    for (size_t i = 0; i < s.len; i++)
        n += ((unsigned char)s.ptr[i] & 0xc0) != 0x80;
    return n;
}

static struct val f_trunc(struct exec *x, struct exec_args *a) /* (n, s) */
{
    int64_t c = to_int(a->v[0]);
    struct slice s = S(x, a->v[1]);
    int64_t l = rune_count(s);
    if (c < 0 && l + c > 0) {
        size_t off = rune_offset(s, l + c);
        return v_str((struct slice){s.ptr + off, s.len - off});
    }
    if (c >= 0 && l > c)
        return v_str((struct slice){s.ptr, rune_offset(s, c)});
    return v_str(s);
}

static struct val f_substr(struct exec *x, struct exec_args *a) /* (start, end, s) */
{
    int64_t start = to_int(a->v[0]), end = to_int(a->v[1]);
    struct slice s = S(x, a->v[2]);
    int64_t l = rune_count(s);
    if (end > l)
        end = l;
    if (start > l)
        start = l;
    if (start < 0) {
        if (end < 0)
            return v_str(SLICE_LIT(""));
        return v_str((struct slice){s.ptr, rune_offset(s, end)});
    }
    size_t so = rune_offset(s, start);
    if (end < 0)
        return v_str((struct slice){s.ptr + so, s.len - so});
    if (start > end)
        return v_str(SLICE_LIT(""));
    size_t eo = rune_offset(s, end);
    return v_str((struct slice){s.ptr + so, eo - so});
}

static struct val f_contains(struct exec *x, struct exec_args *a) /* (substr, s) */
{
    struct slice sub = S(x, a->v[0]), s = S(x, a->v[1]);
    return v_bool(sub.len == 0 || (s.len >= sub.len && memmem(s.ptr, s.len, sub.ptr, sub.len)));
}

static struct val f_hasPrefix(struct exec *x, struct exec_args *a)
{
    struct slice p = S(x, a->v[0]), s = S(x, a->v[1]);
    return v_bool(s.len >= p.len && (!p.len || !memcmp(s.ptr, p.ptr, p.len)));
}

static struct val f_hasSuffix(struct exec *x, struct exec_args *a)
{
    struct slice p = S(x, a->v[0]), s = S(x, a->v[1]);
    return v_bool(s.len >= p.len && (!p.len || !memcmp(s.ptr + s.len - p.len, p.ptr, p.len)));
}

static struct val indent_impl(struct exec *x, int64_t n, struct slice s, bool nl)
{
    if (n < 0)
        n = 0;
    if (n > 4096)
        return fail(x, "indent too large");
    struct buf b;
    buf_init(&b, TEMPLATE_MAX_OUTPUT);
    int rc = nl ? buf_append_char(&b, '\n') : 0;
    for (int64_t k = 0; k < n && !rc; k++)
        rc = buf_append_char(&b, ' ');
    for (size_t i = 0; i < s.len && !rc; i++) {
        rc = buf_append_char(&b, s.ptr[i]);
        if (s.ptr[i] == '\n')
            for (int64_t k = 0; k < n && !rc; k++)
                rc = buf_append_char(&b, ' ');
    }
    if (rc) {
        buf_release(&b);
        return fail(x, "output too large");
    }
    struct slice r = dup_str(x, b.ptr ? b.ptr : "", b.len);
    buf_release(&b);
    return v_str(r);
}

static struct val f_indent(struct exec *x, struct exec_args *a)
{
    return indent_impl(x, to_int(a->v[0]), S(x, a->v[1]), false);
}

static struct val f_nindent(struct exec *x, struct exec_args *a)
{
    return indent_impl(x, to_int(a->v[0]), S(x, a->v[1]), true);
}

static struct val f_repeat(struct exec *x, struct exec_args *a) /* (count, s) */
{
    int64_t n = to_int(a->v[0]);
    struct slice s = S(x, a->v[1]);
    if (n < 0)
        return fail(x, "strings: negative Repeat count");
    if (s.len && (uint64_t)n > TEMPLATE_MAX_OUTPUT / s.len)
        return fail(x, "output too large");
    char *o = arena_alloc(x->a, s.len * (size_t)n + 1);
    for (int64_t k = 0; k < n; k++)
        memcpy(o + (size_t)k * s.len, s.ptr, s.len);
    o[s.len * (size_t)n] = '\0';
    return v_str((struct slice){o, s.len * (size_t)n});
}

static struct val f_int(struct exec *x, struct exec_args *a)
{
    (void)x;
    return v_int(to_int(a->v[0]));
}

static struct val f_float64(struct exec *x, struct exec_args *a)
{
    (void)x;
    return v_float(to_float(a->v[0]));
}

static struct val f_add(struct exec *x, struct exec_args *a)
{
    (void)x;
    int64_t s = 0;
    for (uint32_t i = 0; i < a->n; i++)
        s = wrap_add(s, to_int(a->v[i]));
    return v_int(s);
}

static struct val f_sub(struct exec *x, struct exec_args *a)
{
    (void)x;
    return v_int(wrap_add(to_int(a->v[0]), wrap_mul(to_int(a->v[1]), -1)));
}

static struct val f_mul(struct exec *x, struct exec_args *a)
{
    (void)x;
    int64_t s = 1;
    for (uint32_t i = 0; i < a->n; i++)
        s = wrap_mul(s, to_int(a->v[i]));
    return v_int(s);
}

static struct val f_div(struct exec *x, struct exec_args *a)
{
    int64_t d = to_int(a->v[1]);
    if (d == 0)
        return fail(x, "error calling div: runtime error: integer divide by zero");
    if (d == -1) /* as Go: MinInt64 / -1 wraps to MinInt64 */
        return v_int(wrap_mul(to_int(a->v[0]), -1));
    return v_int(to_int(a->v[0]) / d);
}

static struct val f_mod(struct exec *x, struct exec_args *a)
{
    int64_t d = to_int(a->v[1]);
    if (d == 0)
        return fail(x, "error calling mod: runtime error: integer divide by zero");
    if (d == -1)
        return v_int(0);
    return v_int(to_int(a->v[0]) % d);
}

static struct val f_addf(struct exec *x, struct exec_args *a)
{
    (void)x;
    double s = 0;
    for (uint32_t i = 0; i < a->n; i++)
        s += to_float(a->v[i]);
    return v_float(s);
}

static struct val f_subf(struct exec *x, struct exec_args *a)
{
    (void)x;
    double s = to_float(a->v[0]);
    for (uint32_t i = 1; i < a->n; i++)
        s -= to_float(a->v[i]);
    return v_float(s);
}

static struct val f_mulf(struct exec *x, struct exec_args *a)
{
    (void)x;
    double s = 1;
    for (uint32_t i = 0; i < a->n; i++)
        s *= to_float(a->v[i]);
    return v_float(s);
}

static struct val f_divf(struct exec *x, struct exec_args *a)
{
    (void)x;
    double s = to_float(a->v[0]);
    for (uint32_t i = 1; i < a->n; i++)
        s /= to_float(a->v[i]);
    return v_float(s);
}

static struct val f_max(struct exec *x, struct exec_args *a)
{
    (void)x;
    int64_t m = to_int(a->v[0]);
    for (uint32_t i = 1; i < a->n; i++)
        if (to_int(a->v[i]) > m)
            m = to_int(a->v[i]);
    return v_int(m);
}

static struct val f_min(struct exec *x, struct exec_args *a)
{
    (void)x;
    int64_t m = to_int(a->v[0]);
    for (uint32_t i = 1; i < a->n; i++)
        if (to_int(a->v[i]) < m)
            m = to_int(a->v[i]);
    return v_int(m);
}

static struct val f_maxf(struct exec *x, struct exec_args *a)
{
    (void)x;
    double m = to_float(a->v[0]);
    for (uint32_t i = 1; i < a->n; i++)
        m = fmax(m, to_float(a->v[i]));
    return v_float(m);
}

static struct val f_minf(struct exec *x, struct exec_args *a)
{
    (void)x;
    double m = to_float(a->v[0]);
    for (uint32_t i = 1; i < a->n; i++)
        m = fmin(m, to_float(a->v[i]));
    return v_float(m);
}

static struct val f_ceil(struct exec *x, struct exec_args *a)
{
    (void)x;
    return v_float(ceil(to_float(a->v[0])));
}

static struct val f_floor(struct exec *x, struct exec_args *a)
{
    (void)x;
    return v_float(floor(to_float(a->v[0])));
}

static struct val f_round(struct exec *x, struct exec_args *a) /* (v, precision [, roundOn]) */
{
    (void)x;
    double v = to_float(a->v[0]);
    int64_t p = to_int(a->v[1]);
    double on = a->n > 2 ? to_float(a->v[2]) : 0.5;
    double pow10 = pow(10, (double)p);
    double digit = pow10 * v;
    double intpart;
    double div = modf(digit, &intpart);
    double r = div >= on ? ceil(digit) : floor(digit);
    return v_float(r / pow10);
}

static struct val f_default(struct exec *x, struct exec_args *a) /* (def, given) */
{
    (void)x;
    if (a->n < 2 || !truth(a->v[1]))
        return a->v[0];
    return a->v[1];
}

/* Go built-ins */
static struct val f_and(struct exec *x, struct exec_args *a)
{
    (void)x;
    for (uint32_t i = 0; i + 1 < a->n; i++)
        if (!truth(a->v[i]))
            return a->v[i];
    return a->v[a->n - 1];
}

static struct val f_or(struct exec *x, struct exec_args *a)
{
    (void)x;
    for (uint32_t i = 0; i + 1 < a->n; i++)
        if (truth(a->v[i]))
            return a->v[i];
    return a->v[a->n - 1];
}

static struct val f_not(struct exec *x, struct exec_args *a)
{
    (void)x;
    return v_bool(!truth(a->v[0]));
}

/* -1, 0, 1; *ok false when the kinds cannot be compared. */
static int compare(struct exec *x, struct val l, struct val r, bool *ok)
{
    *ok = true;
    if (is_num(l) && is_num(r)) {
        if (l.kind == VAL_INT && r.kind == VAL_INT)
            return l.i < r.i ? -1 : l.i > r.i;
        double a = to_float(l), b = to_float(r);
        return a < b ? -1 : a > b;
    }
    if (l.kind == VAL_BOOL && r.kind == VAL_BOOL)
        return l.b == r.b ? 0 : (l.b ? 1 : -1);
    if (l.kind == VAL_STR && r.kind == VAL_STR)
        return slice_cmp(l.s, r.s);
    if (l.kind == VAL_NIL || r.kind == VAL_NIL) {
        *ok = false;
        return 0;
    }
    /* Mixed kinds: Go refuses; compare the printed forms, the useful reading. */
    return slice_cmp(to_text(x, l), to_text(x, r));
}

static struct val f_eq(struct exec *x, struct exec_args *a)
{
    for (uint32_t i = 1; i < a->n; i++) {
        bool ok;
        if (compare(x, a->v[0], a->v[i], &ok) == 0 && ok)
            return v_bool(true);
    }
    return v_bool(false);
}

static struct val f_ne(struct exec *x, struct exec_args *a)
{
    bool ok;
    return v_bool(compare(x, a->v[0], a->v[1], &ok) != 0 || !ok);
}

static struct val f_lt(struct exec *x, struct exec_args *a)
{
    bool ok;
    int c = compare(x, a->v[0], a->v[1], &ok);
    if (!ok)
        return fail(x, "error calling lt: incompatible types for comparison");
    return v_bool(c < 0);
}

static struct val f_le(struct exec *x, struct exec_args *a)
{
    bool ok;
    int c = compare(x, a->v[0], a->v[1], &ok);
    if (!ok)
        return fail(x, "error calling le: incompatible types for comparison");
    return v_bool(c <= 0);
}

static struct val f_gt(struct exec *x, struct exec_args *a)
{
    bool ok;
    int c = compare(x, a->v[0], a->v[1], &ok);
    if (!ok)
        return fail(x, "error calling gt: incompatible types for comparison");
    return v_bool(c > 0);
}

static struct val f_ge(struct exec *x, struct exec_args *a)
{
    bool ok;
    int c = compare(x, a->v[0], a->v[1], &ok);
    if (!ok)
        return fail(x, "error calling ge: incompatible types for comparison");
    return v_bool(c >= 0);
}

static struct val f_len(struct exec *x, struct exec_args *a)
{
    if (a->v[0].kind != VAL_STR)
        return fail(x, "error calling len: len of type %s",
                    a->v[0].kind == VAL_NIL ? "nil" : "number");
    return v_int((int64_t)a->v[0].s.len);
}

static struct val print_impl(struct exec *x, struct exec_args *a, bool ln)
{
    struct buf b;
    buf_init(&b, TEMPLATE_MAX_OUTPUT);
    int rc = 0;
    for (uint32_t i = 0; i < a->n && !rc; i++) {
        /* Sprint adds spaces between operands when neither is a string; Sprintln always. */
        if (i > 0 && (ln || (a->v[i - 1].kind != VAL_STR && a->v[i].kind != VAL_STR)))
            rc = buf_append_char(&b, ' ');
        struct slice s = to_text(x, a->v[i]);
        if (!rc)
            rc = buf_append(&b, s.ptr, s.len);
    }
    if (ln && !rc)
        rc = buf_append_char(&b, '\n');
    struct slice r = dup_str(x, b.ptr ? b.ptr : "", b.len);
    buf_release(&b);
    if (rc)
        return fail(x, "output too large");
    return v_str(r);
}

static struct val f_print(struct exec *x, struct exec_args *a)
{
    return print_impl(x, a, false);
}

static struct val f_println(struct exec *x, struct exec_args *a)
{
    return print_impl(x, a, true);
}

/*
 * The printf verbs below build a C format from flags, width and precision
 * that were checked character by character, so a non-literal format is safe.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* Go's Printf for the verbs people use: %s %v %d %f %e %g %q %x %X %t %c %%, flags, width,
 * precision. */
static struct val f_printf(struct exec *x, struct exec_args *a)
{
    struct slice f = S(x, a->v[0]);
    struct buf b;
    buf_init(&b, TEMPLATE_MAX_OUTPUT);
    uint32_t ai = 1;
    int rc = 0;
    for (size_t i = 0; i < f.len && !rc; i++) {
        if (f.ptr[i] != '%') {
            rc = buf_append_char(&b, f.ptr[i]);
            continue;
        }
        i++;
        char spec[32];
        size_t sn = 0;
        spec[sn++] = '%';
        while (i < f.len && strchr("+- #0", f.ptr[i]) && sn < 8)
            spec[sn++] = f.ptr[i++];
        while (i < f.len && isdigit((unsigned char)f.ptr[i]) && sn < 16)
            spec[sn++] = f.ptr[i++];
        if (i < f.len && f.ptr[i] == '.') {
            spec[sn++] = f.ptr[i++];
            while (i < f.len && isdigit((unsigned char)f.ptr[i]) && sn < 24)
                spec[sn++] = f.ptr[i++];
        }
        if (i >= f.len) {
            rc = buf_append_str(&b, "%!(NOVERB)");
            break;
        }
        char verb = f.ptr[i];
        if (verb == '%') {
            rc = buf_append_char(&b, '%');
            continue;
        }
        if (ai >= a->n) {
            rc = buf_printf(&b, "%%!%c(MISSING)", verb);
            continue;
        }
        struct val v = a->v[ai++];
        spec[sn] = '\0';
        char fmtbuf[40];
        switch (verb) {
        case 'd':
            if (v.kind == VAL_INT) {
                snprintf(fmtbuf, sizeof(fmtbuf), "%slld", spec);
                rc = buf_printf(&b, fmtbuf, (long long)v.i);
            } else {
                struct slice t = to_text(x, v);
                rc = buf_printf(&b, "%%!d(%.*s)", (int)t.len, t.ptr);
            }
            break;
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
            if (is_num(v)) {
                snprintf(fmtbuf, sizeof(fmtbuf), "%s%c", spec, verb == 'F' ? 'f' : verb);
                rc = buf_printf(&b, fmtbuf, to_float(v));
            } else {
                struct slice t = to_text(x, v);
                rc = buf_printf(&b, "%%!%c(string=%.*s)", verb, (int)t.len, t.ptr);
            }
            break;
        case 'x':
        case 'X':
            if (v.kind == VAL_INT) {
                snprintf(fmtbuf, sizeof(fmtbuf), "%sll%c", spec, verb);
                rc = buf_printf(&b, fmtbuf, (long long)v.i);
            } else {
                struct slice t = to_text(x, v);
                for (size_t k = 0; k < t.len && !rc; k++)
                    rc = buf_printf(&b, verb == 'x' ? "%02x" : "%02X", (unsigned char)t.ptr[k]);
            }
            break;
        case 'q': {
            struct slice t = to_text(x, v);
            rc = gostr_quote(&b, t);
            break;
        }
        case 't':
        case 's':
        case 'v':
        default: {
            struct slice t = to_text(x, v);
            /* C's %.*s with Go's width and precision (counted in bytes here) */
            char *dot = strchr(spec, '.');
            int prec = (int)t.len;
            if (dot) {
                prec = atoi(dot + 1); /* digits we copied ourselves */
                *dot = '\0';
                if (prec > (int)t.len)
                    prec = (int)t.len;
            }
            snprintf(fmtbuf, sizeof(fmtbuf), "%s.*s", spec);
            rc = buf_printf(&b, fmtbuf, prec, t.ptr);
            break;
        }
        }
    }
    if (!rc && ai < a->n)
        rc = buf_append_str(&b, "%!(EXTRA)");
    struct slice r = dup_str(x, b.ptr ? b.ptr : "", b.len);
    buf_release(&b);
    if (rc)
        return fail(x, "output too large");
    return v_str(r);
}
#pragma GCC diagnostic pop

static struct val f_html(struct exec *x, struct exec_args *a)
{
    struct slice s = S(x, a->v[0]);
    struct buf b;
    buf_init(&b, TEMPLATE_MAX_OUTPUT);
    int rc = 0;
    for (size_t i = 0; i < s.len && !rc; i++) {
        switch (s.ptr[i]) {
        case '<': rc = buf_append_str(&b, "&lt;"); break;
        case '>': rc = buf_append_str(&b, "&gt;"); break;
        case '&': rc = buf_append_str(&b, "&amp;"); break;
        case '\'': rc = buf_append_str(&b, "&#39;"); break;
        case '"': rc = buf_append_str(&b, "&#34;"); break;
        default: rc = buf_append_char(&b, s.ptr[i]);
        }
    }
    struct slice r = dup_str(x, b.ptr ? b.ptr : "", b.len);
    buf_release(&b);
    if (rc)
        return fail(x, "output too large");
    return v_str(r);
}

struct func {
    const char *name;
    tfn fn;
    int min_args, max_args; /* -1: variadic */
    int regex_arg;          /* index of a regex argument to precompile, or -1 */
};

static const struct func funcs[] = {
    {"__line__", f_line, 0, 0, -1},
    {"__timestamp__", f_timestamp, 0, 0, -1},
    {"ToLower", f_lower, 1, 1, -1},
    {"ToUpper", f_upper, 1, 1, -1},
    {"Replace", f_Replace, 4, 4, -1},
    {"Trim", f_trim_go, 2, 2, -1},
    {"TrimLeft", f_trim_left, 2, 2, -1},
    {"TrimRight", f_trim_right, 2, 2, -1},
    {"TrimPrefix", f_TrimPrefix, 2, 2, -1},
    {"TrimSuffix", f_TrimSuffix, 2, 2, -1},
    {"TrimSpace", f_trim_space, 1, 1, -1},
    {"regexReplaceAll", f_regexReplaceAll, 3, 3, 0},
    {"regexReplaceAllLiteral", f_regexReplaceAllLiteral, 3, 3, 0},
    {"count", f_count, 2, 2, 0},
    {"urldecode", f_urldecode, 1, 1, -1},
    {"urlencode", f_urlencode, 1, 1, -1},
    {"bytes", f_bytes, 1, 1, -1},
    {"duration", f_duration, 1, 1, -1},
    {"duration_seconds", f_duration, 1, 1, -1},
    {"unixEpochMillis", f_unixEpochMillis, 1, 1, -1},
    {"unixEpochNanos", f_unixEpochNanos, 1, 1, -1},
    {"toDateInZone", f_toDateInZone, 3, 3, -1},
    {"b64enc", f_b64enc, 1, 1, -1},
    {"b64dec", f_b64dec, 1, 1, -1},
    {"lower", f_lower, 1, 1, -1},
    {"upper", f_upper, 1, 1, -1},
    {"title", f_title, 1, 1, -1},
    {"trunc", f_trunc, 2, 2, -1},
    {"substr", f_substr, 3, 3, -1},
    {"contains", f_contains, 2, 2, -1},
    {"hasPrefix", f_hasPrefix, 2, 2, -1},
    {"hasSuffix", f_hasSuffix, 2, 2, -1},
    {"indent", f_indent, 2, 2, -1},
    {"nindent", f_nindent, 2, 2, -1},
    {"replace", f_replace, 3, 3, -1},
    {"repeat", f_repeat, 2, 2, -1},
    {"trim", f_trim_space, 1, 1, -1},
    {"trimAll", f_trimAll, 2, 2, -1},
    {"trimSuffix", f_trimSuffix, 2, 2, -1},
    {"trimPrefix", f_trimPrefix, 2, 2, -1},
    {"int", f_int, 1, 1, -1},
    {"float64", f_float64, 1, 1, -1},
    {"add", f_add, 1, -1, -1},
    {"sub", f_sub, 2, 2, -1},
    {"mul", f_mul, 1, -1, -1},
    {"div", f_div, 2, 2, -1},
    {"mod", f_mod, 2, 2, -1},
    {"addf", f_addf, 1, -1, -1},
    {"subf", f_subf, 1, -1, -1},
    {"mulf", f_mulf, 1, -1, -1},
    {"divf", f_divf, 1, -1, -1},
    {"max", f_max, 1, -1, -1},
    {"min", f_min, 1, -1, -1},
    {"maxf", f_maxf, 1, -1, -1},
    {"minf", f_minf, 1, -1, -1},
    {"ceil", f_ceil, 1, 1, -1},
    {"floor", f_floor, 1, 1, -1},
    {"round", f_round, 2, 3, -1},
    {"date", f_date, 2, 2, -1},
    {"toDate", f_toDate, 2, 2, -1},
    {"now", f_now, 0, 0, -1},
    {"unixEpoch", f_unixEpoch, 1, 1, -1},
    {"default", f_default, 1, -1, -1},
    {"and", f_and, 1, -1, -1},
    {"or", f_or, 1, -1, -1},
    {"not", f_not, 1, 1, -1},
    {"eq", f_eq, 2, -1, -1},
    {"ne", f_ne, 2, 2, -1},
    {"lt", f_lt, 2, 2, -1},
    {"le", f_le, 2, 2, -1},
    {"gt", f_gt, 2, 2, -1},
    {"ge", f_ge, 2, 2, -1},
    {"len", f_len, 1, 1, -1},
    {"print", f_print, 0, -1, -1},
    {"printf", f_printf, 1, -1, -1},
    {"println", f_println, 0, -1, -1},
    {"html", f_html, 1, 1, -1},
    {"urlquery", f_urlencode, 1, 1, -1},
};

#define N_FUNCS ((int)(sizeof(funcs) / sizeof(funcs[0])))

static int func_find(struct slice name)
{
    for (int i = 0; i < N_FUNCS; i++)
        if (slice_eq_str(name, funcs[i].name))
            return i;
    return -1;
}

/* ---------------------------------------------------------------- parsing */

struct tparser {
    struct template *t;
    const char *src;
    size_t len, pos; /* pos: inside the current action */
    size_t act_end;  /* index of the action's closing "}}" */
    int line;
    char *err;
    size_t errlen;
    bool failed;
};

__attribute__((format(printf, 2, 3))) static void perr(struct tparser *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "template: line:%d: %s", p->line, msg);
    p->failed = true;
}

static void skip_ws(struct tparser *p)
{
    while (p->pos < p->act_end && isspace((unsigned char)p->src[p->pos]))
        p->pos++;
}

static bool at_end(struct tparser *p)
{
    skip_ws(p);
    return p->pos >= p->act_end;
}

static struct tpipe *parse_pipe(struct tparser *p, bool in_paren);

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static void remember_regex(struct template *t, struct regex *re)
{
    if (t->n_regexes == t->cap_regexes) {
        t->cap_regexes = t->cap_regexes ? t->cap_regexes * 2 : 4;
        t->regexes = xreallocarray(t->regexes, t->cap_regexes, sizeof(*t->regexes));
    }
    t->regexes[t->n_regexes++] = re;
}

/* One argument of a command; false at the end of the command. */
static bool parse_arg(struct tparser *p, struct targ *a)
{
    skip_ws(p);
    if (p->pos >= p->act_end)
        return false;
    const char *s = p->src;
    char c = s[p->pos];
    memset(a, 0, sizeof(*a));
    a->fn = -1;
    if (c == '|' || c == ')')
        return false;
    if (c == '(') {
        p->pos++;
        a->kind = ARG_PIPE;
        a->sub = parse_pipe(p, true);
        if (p->failed)
            return false;
        skip_ws(p);
        if (p->pos >= p->act_end || s[p->pos] != ')') {
            perr(p, "unclosed left paren");
            return false;
        }
        p->pos++;
        return true;
    }
    if (c == '"' || c == '`') {
        struct slice out;
        size_t used;
        const char *why;
        if (gostr_unquote((struct slice){s + p->pos, p->act_end - p->pos}, &p->t->arena, &out,
                          &used, &why) < 0) {
            perr(p, "%s", why);
            return false;
        }
        a->kind = ARG_STRING;
        a->s = out;
        p->pos += used;
        return true;
    }
    if (c == '.') {
        size_t st = ++p->pos;
        while (p->pos < p->act_end && word_char(s[p->pos]))
            p->pos++;
        if (p->pos == st) {
            a->kind = ARG_DOT;
            return true;
        }
        a->kind = ARG_FIELD;
        a->s = (struct slice){s + st, p->pos - st};
        if (p->pos < p->act_end && s[p->pos] == '.') {
            perr(p, "can't evaluate nested field %.*s: labels are flat", (int)(a->s.len), a->s.ptr);
            return false;
        }
        return true;
    }
    if (c == '$') {
        perr(p, "variables are not supported");
        return false;
    }
    if (isdigit((unsigned char)c) ||
        ((c == '-' || c == '+') && p->pos + 1 < p->act_end &&
         (isdigit((unsigned char)s[p->pos + 1]) || s[p->pos + 1] == '.'))) {
        size_t st = p->pos++;
        while (p->pos < p->act_end && (isalnum((unsigned char)s[p->pos]) || s[p->pos] == '.' ||
                                       ((s[p->pos] == '-' || s[p->pos] == '+') &&
                                        (s[p->pos - 1] == 'e' || s[p->pos - 1] == 'E'))))
            p->pos++;
        char tmp[64];
        size_t n = p->pos - st;
        if (n >= sizeof(tmp)) {
            perr(p, "bad number syntax");
            return false;
        }
        memcpy(tmp, s + st, n);
        tmp[n] = '\0';
        char *end;
        a->kind = ARG_NUMBER;
        if (!strpbrk(tmp, ".eEpP") || ((tmp[0] == '0' || tmp[1] == '0') && strpbrk(tmp, "xX"))) {
            long long v = strtoll(tmp, &end, 0);
            a->is_int = true;
            a->num = (double)v;
            a->s = (struct slice){NULL, (size_t)v}; /* keep the exact integer */
        } else {
            a->num = strtod(tmp, &end);
        }
        if (*end) {
            perr(p, "bad number syntax: \"%s\"", tmp);
            return false;
        }
        return true;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        size_t st = p->pos;
        while (p->pos < p->act_end && word_char(s[p->pos]))
            p->pos++;
        struct slice w = {s + st, p->pos - st};
        if (slice_eq_str(w, "true") || slice_eq_str(w, "false")) {
            a->kind = ARG_BOOL;
            a->b = w.ptr[0] == 't';
            return true;
        }
        if (slice_eq_str(w, "nil")) {
            a->kind = ARG_NIL;
            return true;
        }
        int fi = func_find(w);
        if (fi < 0) {
            perr(p, "function \"%.*s\" not defined", (int)w.len, w.ptr);
            return false;
        }
        a->kind = ARG_FUNC;
        a->fn = fi;
        a->s = w;
        return true;
    }
    perr(p, "unexpected \"%c\" in command", c);
    return false;
}

static struct tpipe *parse_pipe(struct tparser *p, bool in_paren)
{
    struct tpipe *pipe = arena_calloc(&p->t->arena, 1, sizeof(*pipe));
    uint32_t cap_cmds = 0;
    for (;;) {
        struct tcmd cmd = {0};
        uint32_t cap_args = 0;
        struct targ a;
        while (parse_arg(p, &a)) {
            if (cmd.n == cap_args) {
                uint32_t nc = cap_args ? cap_args * 2 : 4;
                cmd.args = arena_realloc(&p->t->arena, cmd.args, cap_args * sizeof(*cmd.args),
                                         nc * sizeof(*cmd.args));
                cap_args = nc;
            }
            cmd.args[cmd.n++] = a;
        }
        if (p->failed)
            return pipe;
        if (cmd.n == 0) {
            perr(p, "missing value for command");
            return pipe;
        }
        if (cmd.args[0].kind != ARG_FUNC && cmd.n > 1) {
            perr(p, "can't give argument to non-function %.*s", 20, "value");
            return pipe;
        }
        /* Precompile a literal regex argument (regexReplaceAll "re" ...). */
        if (cmd.args[0].kind == ARG_FUNC && funcs[cmd.args[0].fn].regex_arg >= 0) {
            uint32_t ri = 1 + (uint32_t)funcs[cmd.args[0].fn].regex_arg;
            if (ri < cmd.n && cmd.args[ri].kind == ARG_STRING) {
                char rerr[200];
                struct regex *re = regex_compile(cmd.args[ri].s, 0, rerr, sizeof(rerr));
                if (!re) {
                    perr(p, "%s", rerr);
                    return pipe;
                }
                remember_regex(p->t, re);
                cmd.args[ri].re = re;
            }
        }
        if (pipe->n == cap_cmds) {
            uint32_t nc = cap_cmds ? cap_cmds * 2 : 2;
            pipe->cmds = arena_realloc(&p->t->arena, pipe->cmds, cap_cmds * sizeof(*pipe->cmds),
                                       nc * sizeof(*pipe->cmds));
            cap_cmds = nc;
        }
        pipe->cmds[pipe->n++] = cmd;
        skip_ws(p);
        if (p->pos < p->act_end && p->src[p->pos] == '|') {
            p->pos++;
            continue;
        }
        if (p->pos < p->act_end && p->src[p->pos] == ')') {
            if (!in_paren)
                perr(p, "unexpected right paren");
            return pipe;
        }
        return pipe;
    }
}

enum act_kind { ACT_PIPE, ACT_IF, ACT_ELSE, ACT_ELSE_IF, ACT_END, ACT_WITH, ACT_COMMENT, ACT_EOF };

struct action {
    enum act_kind kind;
    struct tpipe *pipe;
};

/*
 * Read text up to the next action, then the action. text gets the text
 * before it (with trimming applied).
 */
static struct action next_action(struct tparser *p, size_t *cursor, struct slice *text)
{
    struct action act = {ACT_EOF, NULL};
    const char *s = p->src;
    size_t i = *cursor;
    const char *open = NULL;
    if (i < p->len)
        open = memmem(s + i, p->len - i, "{{", 2);
    if (!open) {
        *text = (struct slice){s + i, p->len - i};
        *cursor = p->len;
        return act;
    }
    size_t o = (size_t)(open - s);
    struct slice t = {s + i, o - i};
    size_t inner = o + 2;
    bool trim_left = inner + 1 < p->len && s[inner] == '-' && isspace((unsigned char)s[inner + 1]);
    if (trim_left) {
        while (t.len && isspace((unsigned char)t.ptr[t.len - 1]))
            t.len--;
        inner += 2;
    }
    for (const char *q = s + i; q < open; q++)
        p->line += *q == '\n';
    *text = t;
    /* find the closing }} (outside strings) */
    size_t j = inner;
    bool found = false;
    while (j + 1 < p->len) {
        char c = s[j];
        if (c == '"' || c == '`') {
            char q = c;
            j++;
            while (j < p->len && s[j] != q) {
                if (q == '"' && s[j] == '\\')
                    j++;
                j++;
            }
            j++;
            continue;
        }
        if (c == '}' && s[j + 1] == '}') {
            found = true;
            break;
        }
        j++;
    }
    if (!found) {
        perr(p, "unclosed action");
        *cursor = p->len;
        return act;
    }
    size_t close = j, after = j + 2;
    bool trim_right = close >= 2 && s[close - 1] == '-' && isspace((unsigned char)s[close - 2]) &&
                      close - 1 >= inner;
    p->act_end = trim_right ? close - 1 : close;
    p->pos = inner;
    if (trim_right)
        while (after < p->len && isspace((unsigned char)s[after]))
            after++;
    *cursor = after;
    skip_ws(p);
    if (p->pos + 1 < p->act_end && s[p->pos] == '/' && s[p->pos + 1] == '*') {
        act.kind = ACT_COMMENT;
        return act;
    }
    size_t ws = p->pos;
    while (p->pos < p->act_end && word_char(s[p->pos]))
        p->pos++;
    struct slice w = {s + ws, p->pos - ws};
    if (slice_eq_str(w, "if")) {
        act.kind = ACT_IF;
    } else if (slice_eq_str(w, "with")) {
        act.kind = ACT_WITH;
    } else if (slice_eq_str(w, "end")) {
        act.kind = ACT_END;
        if (!at_end(p))
            perr(p, "unexpected input after end");
        return act;
    } else if (slice_eq_str(w, "else")) {
        skip_ws(p);
        size_t ws2 = p->pos;
        while (p->pos < p->act_end && word_char(s[p->pos]))
            p->pos++;
        struct slice w2 = {s + ws2, p->pos - ws2};
        if (slice_eq_str(w2, "if")) {
            act.kind = ACT_ELSE_IF;
        } else {
            p->pos = ws2;
            act.kind = ACT_ELSE;
            if (!at_end(p))
                perr(p, "unexpected input after else");
            return act;
        }
    } else if (slice_eq_str(w, "range") || slice_eq_str(w, "define") ||
               slice_eq_str(w, "template") || slice_eq_str(w, "block") ||
               slice_eq_str(w, "break") || slice_eq_str(w, "continue")) {
        perr(p, "\"%.*s\" is not supported", (int)w.len, w.ptr);
        return act;
    } else {
        p->pos = ws;
        act.kind = ACT_PIPE;
    }
    act.pipe = parse_pipe(p, false);
    if (!p->failed && !at_end(p))
        perr(p, "unexpected \"%c\" in operand", p->src[p->pos]);
    return act;
}

/* Parse a list of nodes up to {{end}}, {{else}} or EOF; *stop tells which. */
static struct tnode *parse_list(struct tparser *p, size_t *cursor, struct action *stop, int depth)
{
    struct tnode *head = NULL, **tail = &head;
    if (depth > 50) {
        perr(p, "nesting too deep");
        stop->kind = ACT_EOF;
        return NULL;
    }
    for (;;) {
        struct slice text;
        struct action act = next_action(p, cursor, &text);
        if (p->failed) {
            stop->kind = ACT_EOF;
            return head;
        }
        if (text.len) {
            struct tnode *n = arena_calloc(&p->t->arena, 1, sizeof(*n));
            n->kind = NODE_TEXT;
            n->text = text;
            *tail = n;
            tail = &n->next;
        }
        switch (act.kind) {
        case ACT_EOF:
        case ACT_END:
        case ACT_ELSE:
        case ACT_ELSE_IF: *stop = act; return head;
        case ACT_COMMENT: continue;
        case ACT_PIPE: {
            struct tnode *n = arena_calloc(&p->t->arena, 1, sizeof(*n));
            n->kind = NODE_ACTION;
            n->pipe = act.pipe;
            *tail = n;
            tail = &n->next;
            continue;
        }
        case ACT_IF:
        case ACT_WITH: {
            struct tnode *n = arena_calloc(&p->t->arena, 1, sizeof(*n));
            n->kind = act.kind == ACT_IF ? NODE_IF : NODE_WITH;
            n->pipe = act.pipe;
            *tail = n;
            tail = &n->next;
            struct action st;
            n->then = parse_list(p, cursor, &st, depth + 1);
            struct tnode *cur = n;
            while (!p->failed && st.kind == ACT_ELSE_IF) {
                /* else if: a nested if in the else branch that shares the end */
                struct tnode *e = arena_calloc(&p->t->arena, 1, sizeof(*e));
                e->kind = NODE_IF;
                e->pipe = st.pipe;
                cur->els = e;
                cur = e;
                e->then = parse_list(p, cursor, &st, depth + 1);
            }
            if (!p->failed && st.kind == ACT_ELSE)
                cur->els = parse_list(p, cursor, &st, depth + 1);
            if (p->failed) {
                stop->kind = ACT_EOF;
                return head;
            }
            if (st.kind != ACT_END) {
                perr(p, "unexpected EOF");
                stop->kind = ACT_EOF;
                return head;
            }
            continue;
        }
        }
    }
}

int template_compile(struct slice text, struct template **out, char *err, size_t errlen)
{
    struct template *t = xcalloc(1, sizeof(*t));
    arena_init(&t->arena, 0);
    t->src = xstrndup(text.ptr ? text.ptr : "", text.len);
    struct tparser p = {
        .t = t, .src = t->src, .len = text.len, .line = 1, .err = err, .errlen = errlen};
    size_t cursor = 0;
    struct action stop;
    t->root = parse_list(&p, &cursor, &stop, 0);
    if (!p.failed && stop.kind == ACT_END)
        perr(&p, "unexpected {{end}}");
    if (!p.failed && (stop.kind == ACT_ELSE || stop.kind == ACT_ELSE_IF))
        perr(&p, "unexpected {{else}}");
    if (p.failed) {
        template_free(t);
        return STRATA_EPARSE;
    }
    *out = t;
    return 0;
}

void template_free(struct template *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->n_regexes; i++)
        regex_free(t->regexes[i]);
    free(t->regexes);
    arena_release(&t->arena);
    free(t->src);
    free(t);
}

bool template_is_constant(const struct template *t, struct slice *text)
{
    if (!t->root) {
        *text = (struct slice){"", 0};
        return true;
    }
    if (t->root->kind == NODE_TEXT && !t->root->next) {
        *text = t->root->text;
        return true;
    }
    return false;
}

/* ---------------------------------------------------------------- execution */

static struct val eval_pipe(struct exec *x, const struct tpipe *p, struct val dot, int depth);

static struct val eval_arg(struct exec *x, const struct targ *a, struct val dot, int depth)
{
    switch (a->kind) {
    case ARG_FIELD: {
        struct slice v;
        if (x->env->get && x->env->get(x->env->ctx, a->s, &v))
            return v_str(v);
        return v_str(SLICE_LIT("")); /* missingkey=zero */
    }
    case ARG_DOT: return dot;
    case ARG_STRING: return v_str(a->s);
    case ARG_NUMBER:
        if (a->is_int)
            return v_int((int64_t)a->s.len);
        return v_float(a->num);
    case ARG_BOOL: return v_bool(a->b);
    case ARG_NIL: return (struct val){.kind = VAL_NIL};
    case ARG_PIPE: return eval_pipe(x, a->sub, dot, depth + 1);
    case ARG_FUNC: {
        /* a function used as an argument: called with no arguments */
        const struct func *f = &funcs[a->fn];
        if (f->min_args > 0)
            return fail(x, "wrong number of args for %s: want %d got 0", f->name, f->min_args);
        struct exec_args ea = {NULL, 0, NULL};
        return f->fn(x, &ea);
    }
    }
    return (struct val){.kind = VAL_NIL};
}

static struct val call(struct exec *x, const struct tcmd *c, const struct val *piped,
                       struct val dot, int depth)
{
    const struct targ *a0 = &c->args[0];
    if (a0->kind != ARG_FUNC) {
        if (piped)
            return fail(x, "can't give argument to non-function");
        return eval_arg(x, a0, dot, depth);
    }
    const struct func *f = &funcs[a0->fn];
    uint32_t n = c->n - 1 + (piped != NULL);
    if ((f->min_args >= 0 && (int)n < f->min_args) || (f->max_args >= 0 && (int)n > f->max_args))
        return fail(x, "wrong number of args for %s: want %d got %u", f->name, f->min_args, n);
    struct val vs[8];
    struct val *v = n <= 8 ? vs : arena_alloc(x->a, n * sizeof(*v));
    struct regex *pre = NULL;
    for (uint32_t i = 1; i < c->n; i++) {
        v[i - 1] = eval_arg(x, &c->args[i], dot, depth);
        if (c->args[i].re)
            pre = c->args[i].re;
        if (x->failed)
            return v[0];
    }
    if (piped)
        v[n - 1] = *piped;
    struct exec_args ea = {v, n, f->regex_arg >= 0 ? pre : NULL};
    return f->fn(x, &ea);
}

static struct val eval_pipe(struct exec *x, const struct tpipe *p, struct val dot, int depth)
{
    if (depth > 50)
        return fail(x, "expression nesting too deep");
    struct val cur = {.kind = VAL_NIL};
    for (uint32_t i = 0; i < p->n && !x->failed; i++)
        cur = call(x, &p->cmds[i], i ? &cur : NULL, dot, depth);
    return cur;
}

static int exec_list(struct exec *x, const struct tnode *n, struct val dot, struct buf *out)
{
    for (; n && !x->failed; n = n->next) {
        switch (n->kind) {
        case NODE_TEXT:
            if (buf_append(out, n->text.ptr, n->text.len) < 0)
                fail(x, "output larger than %u bytes", TEMPLATE_MAX_OUTPUT);
            break;
        case NODE_ACTION: {
            struct val v = eval_pipe(x, n->pipe, dot, 0);
            if (x->failed)
                break;
            struct slice s = to_text(x, v);
            if (buf_append(out, s.ptr, s.len) < 0)
                fail(x, "output larger than %u bytes", TEMPLATE_MAX_OUTPUT);
            break;
        }
        case NODE_IF:
        case NODE_WITH: {
            struct val v = eval_pipe(x, n->pipe, dot, 0);
            if (x->failed)
                break;
            if (truth(v))
                exec_list(x, n->then, n->kind == NODE_WITH ? v : dot, out);
            else if (n->els)
                exec_list(x, n->els, dot, out);
            break;
        }
        }
    }
    return x->failed ? STRATA_EINVAL : 0;
}

/* The map printed by {{.}}: not known to the engine; print the line's labels as Go would. */
static void print_map(struct exec *x, struct buf *b)
{
    (void)x;
    if (buf_append_str(b, "map[]") < 0)
        return;
}

int template_exec(const struct template *t, const struct template_env *env, struct arena *a,
                  struct buf *out, char *err, size_t errlen)
{
    struct exec x = {.env = env, .a = a, .err = err, .errlen = errlen};
    if (errlen)
        err[0] = '\0';
    struct val dot = {.kind = VAL_MAP};
    return exec_list(&x, t->root, dot, out);
}
