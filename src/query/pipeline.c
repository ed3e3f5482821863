#include "query/pipeline.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "query/find.h"
#include "query/pattern.h"
#include "query/regex.h"
#include "query/template.h"

#define SCRATCH_LIMIT (64u << 20)

void pipe_state_init(struct pipe_state *ps)
{
    memset(ps, 0, sizeof(*ps));
    arena_init(&ps->scratch, 0);
    buf_init(&ps->tmp, TEMPLATE_MAX_OUTPUT);
}

void pipe_state_release(struct pipe_state *ps)
{
    arena_release(&ps->scratch);
    buf_release(&ps->tmp);
    free(ps->base_del);
    free(ps->add);
    free(ps->out);
    memset(ps, 0, sizeof(*ps));
}

struct slice pipe_dup(struct pipe_state *ps, struct slice s)
{
    return arena_slice_dup(&ps->scratch, s);
}

static void add_push(struct pipe_state *ps, enum label_cat cat, struct slice name,
                     struct slice value)
{
    ps->n_meta += cat == CAT_META;
    if (ps->n_add == ps->cap_add) {
        ps->cap_add = ps->cap_add ? ps->cap_add * 2 : 16;
        ps->add = xreallocarray(ps->add, ps->cap_add, sizeof(*ps->add));
    }
    ps->add[ps->n_add++] = (struct lb_entry){name, value, (uint8_t)cat};
    ps->touched = true;
}

bool pipe_base_has(const struct pipe_state *ps, struct slice name)
{
    for (uint32_t i = 0; i < ps->n_base; i++)
        if (slice_eq(ps->base[i].name, name))
            return true;
    return false;
}

int pipe_begin(struct pipe_state *ps, const struct label *base, uint32_t n_base, struct slice meta)
{
    if (ps->scratch.used)
        arena_release(&ps->scratch);
    ps->base = base;
    ps->n_base = n_base;
    if (n_base > ps->cap_del) {
        ps->cap_del = n_base * 2;
        ps->base_del = xrealloc(ps->base_del, ps->cap_del);
    }
    if (n_base)
        memset(ps->base_del, 0, n_base);
    ps->n_add = 0;
    ps->n_meta = 0;
    ps->has_err = ps->has_details = false;
    ps->touched = false;
    if (!meta.len)
        return 0;
    /* labels_encode form: uvarint count, then (uvarint len, bytes) for name and value. */
    const unsigned char *p = (const unsigned char *)meta.ptr, *end = p + meta.len;
    uint64_t n;
    if (uvarint_read(&p, end, &n) < 0 || n > meta.len)
        return STRATA_ECORRUPT;
    for (uint64_t i = 0; i < n; i++) {
        struct slice kv[2];
        for (int k = 0; k < 2; k++) {
            uint64_t l;
            if (uvarint_read(&p, end, &l) < 0 || l > (uint64_t)(end - p))
                return STRATA_ECORRUPT;
            kv[k] = (struct slice){(const char *)p, (size_t)l};
            p += l;
        }
        struct slice name = kv[0];
        if (pipe_base_has(ps, name)) {
            char *nn = arena_alloc(&ps->scratch, name.len + 11);
            memcpy(nn, name.ptr, name.len);
            memcpy(nn + name.len, "_extracted", 10);
            name = (struct slice){nn, name.len + 10};
        }
        pipe_set(ps, CAT_META, name, kv[1]);
    }
    return 0;
}

static int add_find(const struct pipe_state *ps, int cat, struct slice name)
{
    for (uint32_t i = 0; i < ps->n_add; i++)
        if ((cat < 0 || ps->add[i].cat == cat) && slice_eq(ps->add[i].name, name))
            return (int)i;
    return -1;
}

static void add_remove(struct pipe_state *ps, uint32_t i)
{
    memmove(&ps->add[i], &ps->add[i + 1], (ps->n_add - i - 1) * sizeof(*ps->add));
    ps->n_add--;
    ps->touched = true;
}

static void base_delete(struct pipe_state *ps, struct slice name)
{
    for (uint32_t i = 0; i < ps->n_base; i++)
        if (!ps->base_del[i] && slice_eq(ps->base[i].name, name)) {
            ps->base_del[i] = 1;
            ps->touched = true;
        }
}

void pipe_set(struct pipe_state *ps, enum label_cat cat, struct slice name, struct slice value)
{
    if (slice_eq_str(name, "__error__")) {
        ps->err = value;
        ps->has_err = true;
        return;
    }
    if (slice_eq_str(name, "__error_details__")) {
        ps->err_details = value;
        ps->has_details = true;
        return;
    }
    int i;
    if (cat == CAT_PARSED) {
        while (ps->n_meta && (i = add_find(ps, CAT_META, name)) >= 0) {
            add_remove(ps, (uint32_t)i);
            ps->n_meta--;
        }
        base_delete(ps, name);
    } else if (cat == CAT_META) {
        base_delete(ps, name);
        if (add_find(ps, CAT_PARSED, name) >= 0)
            return;
    } else {
        if (add_find(ps, CAT_META, name) >= 0 || add_find(ps, CAT_PARSED, name) >= 0)
            return;
        base_delete(ps, name);
    }
    i = add_find(ps, (int)cat, name);
    if (i >= 0) {
        ps->add[i].value = value;
        ps->touched = true;
        return;
    }
    add_push(ps, cat, name, value);
}

void pipe_del(struct pipe_state *ps, struct slice name)
{
    if (slice_eq_str(name, "__error__")) {
        ps->has_err = false;
        return;
    }
    if (slice_eq_str(name, "__error_details__")) {
        ps->has_details = false;
        return;
    }
    int i;
    while ((i = add_find(ps, -1, name)) >= 0) {
        ps->n_meta -= ps->add[i].cat == CAT_META;
        add_remove(ps, (uint32_t)i);
    }
    base_delete(ps, name);
}

bool pipe_get(struct pipe_state *ps, struct slice name, struct slice *value)
{
    if (name.len >= 9 && name.ptr[0] == '_' && name.ptr[1] == '_') {
        if (slice_eq_str(name, "__error__")) {
            *value = ps->has_err ? ps->err : (struct slice){"", 0};
            return ps->has_err;
        }
        if (slice_eq_str(name, "__error_details__")) {
            *value = ps->has_details ? ps->err_details : (struct slice){"", 0};
            return ps->has_details;
        }
    }
    /* parsed > meta > stream */
    int found = -1;
    for (uint32_t i = 0; i < ps->n_add; i++)
        if (slice_eq(ps->add[i].name, name) && (found < 0 || ps->add[i].cat > ps->add[found].cat))
            found = (int)i;
    if (found >= 0) {
        *value = ps->add[found].value;
        return true;
    }
    for (uint32_t i = 0; i < ps->n_base; i++)
        if (!ps->base_del[i] && slice_eq(ps->base[i].name, name)) {
            *value = ps->base[i].value;
            return true;
        }
    *value = (struct slice){"", 0};
    return false;
}

void pipe_set_error(struct pipe_state *ps, const char *err, const char *details)
{
    ps->err = arena_slice_dup(&ps->scratch, slice_from(err));
    ps->has_err = true;
    if (details && details[0]) {
        ps->err_details = arena_slice_dup(&ps->scratch, slice_from(details));
        ps->has_details = true;
    }
}

bool pipe_untouched(const struct pipe_state *ps)
{
    return !ps->touched && !ps->has_err && !ps->has_details;
}

static int cmp_label(const void *a, const void *b)
{
    const struct label *x = a, *y = b;
    return slice_cmp(x->name, y->name);
}

static void out_reserve(struct pipe_state *ps, uint32_t n)
{
    if (n > ps->cap_out) {
        ps->cap_out = n * 2 + 8;
        ps->out = xreallocarray(ps->out, ps->cap_out, sizeof(*ps->out));
    }
}

uint32_t pipe_labels(struct pipe_state *ps, unsigned mask, struct label **out)
{
    out_reserve(ps, ps->n_base + ps->n_add + 2);
    uint32_t n = 0;
    bool sorted = true;
    if (mask & CAT_BIT(CAT_STREAM))
        for (uint32_t i = 0; i < ps->n_base; i++)
            if (!ps->base_del[i])
                ps->out[n++] = ps->base[i];
    for (uint32_t i = 0; i < ps->n_add; i++)
        if (mask & CAT_BIT(ps->add[i].cat)) {
            ps->out[n++] = (struct label){ps->add[i].name, ps->add[i].value};
            sorted = false;
        }
    if (mask & CAT_BIT(CAT_PARSED)) {
        if (ps->has_err) {
            ps->out[n++] = (struct label){SLICE_LIT("__error__"), ps->err};
            sorted = false;
        }
        if (ps->has_details) {
            ps->out[n++] = (struct label){SLICE_LIT("__error_details__"), ps->err_details};
            sorted = false;
        }
    }
    if (!sorted && n > 1)
        qsort(ps->out, n, sizeof(*ps->out), cmp_label);
    *out = ps->out;
    return n;
}

uint32_t pipe_grouped_labels(struct pipe_state *ps, const struct grouping *g,
                             struct slice extra_without, struct label **out)
{
    struct label *all;
    uint32_t n = pipe_labels(ps, CATS_ALL, &all), w = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool listed = false;
        for (uint32_t k = 0; g && k < g->n && !listed; k++)
            listed = slice_eq(all[i].name, g->names[k]);
        bool keep;
        if (g && g->present && !g->without)
            keep = listed;
        else
            keep = !listed && !(extra_without.len && slice_eq(all[i].name, extra_without));
        if (keep)
            all[w++] = all[i];
    }
    *out = all;
    return w;
}

/* ---------------------------------------------------------------- sanitising */

struct slice label_key_sanitize(struct arena *a, struct slice key, bool prefix)
{
    key = slice_trim(key);
    if (key.len == 0)
        return key;
    bool ok = !(prefix && key.ptr[0] >= '0' && key.ptr[0] <= '9');
    for (size_t i = 0; i < key.len && ok; i++) {
        unsigned char c = (unsigned char)key.ptr[i];
        ok = isalnum(c) || c == '_';
    }
    if (ok)
        return key;
    char *o = arena_alloc(a, key.len + 2);
    size_t n = 0;
    if (prefix && key.ptr[0] >= '0' && key.ptr[0] <= '9')
        o[n++] = '_';
    for (size_t i = 0; i < key.len; i++) {
        unsigned char c = (unsigned char)key.ptr[i];
        if (c >= 0x80) {
            /* one '_' per UTF-8 sequence, as Go maps runes */
            o[n++] = '_';
            while (i + 1 < key.len && ((unsigned char)key.ptr[i + 1] & 0xc0) == 0x80)
                i++;
        } else {
            o[n++] = (char)(isalnum(c) || c == '_' ? c : '_');
        }
    }
    o[n] = '\0';
    return (struct slice){o, n};
}

static struct slice with_suffix(struct pipe_state *ps, struct slice name)
{
    if (!pipe_base_has(ps, name))
        return name;
    char *nn = arena_alloc(&ps->scratch, name.len + 11);
    memcpy(nn, name.ptr, name.len);
    memcpy(nn + name.len, "_extracted", 10);
    return (struct slice){nn, name.len + 10};
}

/* ---------------------------------------------------------------- line filters */

static bool contains(struct slice line, struct slice v)
{
    return find_substr(line.ptr, line.len, v.ptr, v.len) != NULL;
}

bool line_filter_match(const struct line_filter *lf, struct slice line)
{
    bool any = false;
    switch (lf->op) {
    case LINE_CONTAINS:
    case LINE_NOT_CONTAINS:
        for (uint32_t i = 0; i < lf->n && !any; i++)
            any = contains(line, lf->values[i]);
        return lf->op == LINE_CONTAINS ? any : !any;
    case LINE_REGEX:
    case LINE_NOT_REGEX:
        for (uint32_t i = 0; i < lf->n && !any; i++) {
            struct slice lit;
            /* a literal every match contains rules most lines out without the regex */
            if (regex_required_literal(lf->re[i], &lit) && !contains(line, lit))
                continue;
            any = regex_match(lf->re[i], line) == 1;
        }
        return lf->op == LINE_REGEX ? any : !any;
    case LINE_PATTERN:
    case LINE_NOT_PATTERN:
        for (uint32_t i = 0; i < lf->n && !any; i++)
            any = pattern_test(lf->pat[i], line);
        return lf->op == LINE_PATTERN ? any : !any;
    case LINE_EQUALS:
        for (uint32_t i = 0; i < lf->n && !any; i++)
            any = slice_eq(line, lf->values[i]);
        return any;
    }
    return false;
}

/* ---------------------------------------------------------------- JSON */

struct jscan {
    const char *p, *end;
    const char *err;
    int depth;
};

/* The end of a JSON number or literal (strchr would also stop at the terminating NUL byte). */
static inline bool jdelim(char c, bool colon)
{
    switch (c) {
    case ' ':
    case '\t':
    case '\r':
    case '\n':
    case ',':
    case '}':
    case ']': return true;
    case ':': return colon;
    default: return false;
    }
}

static void jws(struct jscan *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* At '"': the raw string body; *esc when it holds escapes. */
static bool jstring(struct jscan *j, struct slice *raw, bool *esc)
{
    const char *s = ++j->p;
    *esc = false;
    while (j->p < j->end) {
        char c = *j->p;
        if (c == '"') {
            *raw = (struct slice){s, (size_t)(j->p - s)};
            j->p++;
            return true;
        }
        if (c == '\\') {
            *esc = true;
            j->p++;
        }
        j->p++;
    }
    j->err = "Value is string, but can't find closing '\"' symbol";
    return false;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decode a JSON string body; an invalid escape or invalid UTF-8 gives "" (Loki's rule). */
static struct slice junescape(struct pipe_state *ps, struct slice raw, bool esc)
{
    if (!esc)
        return utf8_valid(raw.ptr, raw.len) ? raw : (struct slice){"", 0};
    char *o = arena_alloc(&ps->scratch, raw.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < raw.len; i++) {
        char c = raw.ptr[i];
        if (c != '\\') {
            o[n++] = c;
            continue;
        }
        if (++i >= raw.len)
            return (struct slice){"", 0};
        switch (raw.ptr[i]) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            if (i + 4 >= raw.len)
                return (struct slice){"", 0};
            int cp = hex4(raw.ptr + i + 1);
            if (cp < 0)
                return (struct slice){"", 0};
            i += 4;
            if (cp >= 0xd800 && cp < 0xdc00) {
                int lo = -1;
                if (i + 6 < raw.len && raw.ptr[i + 1] == '\\' && raw.ptr[i + 2] == 'u')
                    lo = hex4(raw.ptr + i + 3);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                } else {
                    return (struct slice){"", 0}; /* a lone surrogate: the rune error */
                }
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                return (struct slice){"", 0};
            }
            n += put_utf8(o + n, (unsigned)cp);
            break;
        }
        default: return (struct slice){"", 0};
        }
    }
    o[n] = '\0';
    if (!utf8_valid(o, n))
        return (struct slice){"", 0};
    return (struct slice){o, n};
}

static bool jskip(struct jscan *j);

static bool jskip_container(struct jscan *j, char open, char close)
{
    if (++j->depth > 64) {
        j->err = "Value is too deeply nested";
        return false;
    }
    j->p++;
    jws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return true;
    }
    for (;;) {
        jws(j);
        if (open == '{') {
            struct slice k;
            bool esc;
            if (j->p >= j->end || *j->p != '"' || !jstring(j, &k, &esc)) {
                if (!j->err)
                    j->err = "Value looks like object, but can't find closing '}' symbol";
                return false;
            }
            jws(j);
            if (j->p >= j->end || *j->p != ':') {
                j->err = "Malformed JSON error";
                return false;
            }
            j->p++;
        }
        if (!jskip(j))
            return false;
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return true;
        }
        j->err = open == '{' ? "Value looks like object, but can't find closing '}' symbol"
                             : "Value is array, but can't find closing ']' symbol";
        return false;
    }
}

static bool jskip(struct jscan *j)
{
    jws(j);
    if (j->p >= j->end) {
        j->err = "Malformed JSON error";
        return false;
    }
    char c = *j->p;
    if (c == '{')
        return jskip_container(j, '{', '}');
    if (c == '[')
        return jskip_container(j, '[', ']');
    if (c == '"') {
        struct slice s;
        bool esc;
        return jstring(j, &s, &esc);
    }
    const char *s = j->p;
    while (j->p < j->end && !jdelim(*j->p, true))
        j->p++;
    if (j->p == s) {
        j->err = "Malformed JSON error";
        return false;
    }
    return true;
}

/* Flatten the object at j->p into parsed labels, keys joined with '_' under prefix. */
static bool jflatten(struct pipe_state *ps, struct jscan *j, struct buf *prefix)
{
    if (++j->depth > 64) {
        j->err = "Value is too deeply nested";
        return false;
    }
    j->p++; /* '{' */
    jws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        j->depth--;
        return true;
    }
    for (;;) {
        jws(j);
        struct slice k;
        bool kesc;
        if (j->p >= j->end || *j->p != '"' || !jstring(j, &k, &kesc)) {
            if (!j->err)
                j->err = "Value looks like object, but can't find closing '}' symbol";
            return false;
        }
        jws(j);
        if (j->p >= j->end || *j->p != ':') {
            j->err = "Malformed JSON error";
            return false;
        }
        j->p++;
        jws(j);
        if (j->p >= j->end) {
            j->err = "Malformed JSON error";
            return false;
        }
        struct slice key = kesc ? junescape(ps, k, true) : k;
        size_t plen = prefix->len;
        char c = *j->p;
        if (c == '{') {
            int rc = 0;
            if (plen)
                rc = buf_append_char(prefix, '_');
            struct slice sk = label_key_sanitize(&ps->scratch, key, plen == 0);
            if (!rc)
                rc = buf_append(prefix, sk.ptr, sk.len);
            if (rc) {
                j->err = "key too long";
                return false;
            }
            if (!jflatten(ps, j, prefix))
                return false;
            buf_truncate(prefix, plen);
        } else if (c == '[') {
            if (!jskip_container(j, '[', ']'))
                return false;
        } else {
            struct slice value;
            bool have = true;
            if (c == '"') {
                struct slice raw;
                bool esc;
                if (!jstring(j, &raw, &esc))
                    return false;
                value = junescape(ps, raw, esc);
            } else {
                const char *s = j->p;
                while (j->p < j->end && !jdelim(*j->p, false))
                    j->p++;
                value = (struct slice){s, (size_t)(j->p - s)};
                if (value.len == 0) {
                    j->err = "Malformed JSON error";
                    return false;
                }
                if (slice_eq_str(value, "null"))
                    have = false; /* null values are skipped */
                else if (!slice_eq_str(value, "true") && !slice_eq_str(value, "false") &&
                         !(isdigit((unsigned char)value.ptr[0]) || value.ptr[0] == '-')) {
                    j->err = "Unknown value type";
                    return false;
                }
            }
            if (have) {
                struct slice name;
                if (plen == 0) {
                    name = label_key_sanitize(&ps->scratch, key, true);
                } else {
                    struct slice sk = label_key_sanitize(&ps->scratch, key, false);
                    char *nn = arena_alloc(&ps->scratch, plen + 1 + sk.len + 1);
                    memcpy(nn, prefix->ptr, plen);
                    nn[plen] = '_';
                    memcpy(nn + plen + 1, sk.ptr, sk.len);
                    name = (struct slice){nn, plen + 1 + sk.len};
                }
                if (name.len) {
                    name = with_suffix(ps, name);
                    pipe_set(ps, CAT_PARSED, name, value);
                }
            }
        }
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            j->depth--;
            return true;
        }
        j->err = "Value looks like object, but can't find closing '}' symbol";
        return false;
    }
}

static void stage_json(struct pipe_state *ps, struct slice line)
{
    struct jscan j = {line.ptr, line.ptr + line.len, NULL, 0};
    jws(&j);
    if (j.p >= j.end || *j.p != '{') {
        pipe_set_error(ps, "JSONParserErr",
                       "Value looks like object, but can't find closing '}' symbol");
        return;
    }
    struct buf prefix;
    buf_init(&prefix, 64 * 1024);
    if (!jflatten(ps, &j, &prefix))
        pipe_set_error(ps, "JSONParserErr", j.err ? j.err : "Malformed JSON error");
    buf_release(&prefix);
}

/* Find the value at one path element inside the container at j->p; true when found. */
static bool jpath_step(struct pipe_state *ps, struct jscan *j, struct slice key, int64_t index)
{
    jws(j);
    if (j->p >= j->end)
        return false;
    if (index >= 0) {
        if (*j->p != '[')
            return false;
        j->p++;
        jws(j);
        if (j->p < j->end && *j->p == ']')
            return false;
        for (int64_t i = 0;; i++) {
            jws(j);
            if (i == index)
                return true;
            if (!jskip(j))
                return false;
            jws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            return false;
        }
    }
    if (*j->p != '{')
        return false;
    j->p++;
    jws(j);
    if (j->p < j->end && *j->p == '}')
        return false;
    for (;;) {
        jws(j);
        struct slice k;
        bool esc;
        if (j->p >= j->end || *j->p != '"' || !jstring(j, &k, &esc))
            return false;
        jws(j);
        if (j->p >= j->end || *j->p != ':')
            return false;
        j->p++;
        jws(j);
        if (slice_eq(esc ? junescape(ps, k, true) : k, key))
            return true;
        if (!jskip(j))
            return false;
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return false;
    }
}

static void stage_json_fields(struct pipe_state *ps, const struct stage *st, struct slice line)
{
    if (line.len == 0)
        return;
    if (line.ptr[0] != '"' && line.ptr[0] != '{' && line.ptr[0] != '[') {
        pipe_set_error(ps, "JSONParserErr", NULL);
        return;
    }
    for (uint32_t e = 0; e < st->n_ex; e++) {
        const struct extraction *ex = &st->ex[e];
        struct jscan j = {line.ptr, line.ptr + line.len, NULL, 0};
        bool found = true;
        for (uint32_t k = 0; k < ex->path_len && found; k++)
            found = jpath_step(ps, &j, ex->path[k], ex->index[k]);
        struct slice value = {"", 0};
        if (found) {
            jws(&j);
            if (j.p < j.end && *j.p == '"') {
                struct slice raw;
                bool esc;
                if (jstring(&j, &raw, &esc))
                    value = junescape(ps, raw, esc);
            } else if (j.p < j.end && (*j.p == '{' || *j.p == '[')) {
                const char *s = j.p;
                if (jskip(&j))
                    value = (struct slice){s, (size_t)(j.p - s)};
            } else {
                const char *s = j.p;
                while (j.p < j.end && !jdelim(*j.p, false))
                    j.p++;
                value = (struct slice){s, (size_t)(j.p - s)};
                if (slice_eq_str(value, "null"))
                    value = (struct slice){"", 0};
            }
        }
        pipe_set(ps, CAT_PARSED, with_suffix(ps, ex->name), value);
    }
}

/* ---------------------------------------------------------------- unpack */

static struct slice stage_unpack(struct pipe_state *ps, struct slice line)
{
    if (line.len == 0)
        return line;
    struct jscan j = {line.ptr, line.ptr + line.len, NULL, 0};
    if (*j.p != '{') {
        pipe_set_error(ps, "JSONParserErr", "expecting json object(6), but it is not");
        return line;
    }
    j.p++;
    struct lb_entry found[64];
    uint32_t nf = 0;
    bool packed = false;
    struct slice entry = line;
    jws(&j);
    if (j.p < j.end && *j.p == '}')
        return line;
    for (;;) {
        jws(&j);
        struct slice k;
        bool kesc;
        if (j.p >= j.end || *j.p != '"' || !jstring(&j, &k, &kesc))
            goto bad;
        jws(&j);
        if (j.p >= j.end || *j.p != ':')
            goto bad;
        j.p++;
        jws(&j);
        if (j.p < j.end && *j.p == '"') {
            struct slice raw;
            bool esc;
            if (!jstring(&j, &raw, &esc))
                goto bad;
            struct slice key = kesc ? junescape(ps, k, true) : k;
            struct slice val = junescape(ps, raw, esc);
            if (slice_eq_str(key, "_entry")) {
                entry = val;
                packed = true;
            } else if (nf < 64) {
                found[nf++] = (struct lb_entry){key, val, CAT_PARSED};
            }
        } else if (!jskip(&j)) {
            goto bad;
        }
        jws(&j);
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            continue;
        }
        if (j.p < j.end && *j.p == '}')
            break;
        goto bad;
    }
    if (packed)
        for (uint32_t i = 0; i < nf; i++)
            pipe_set(ps, CAT_PARSED,
                     with_suffix(ps, label_key_sanitize(&ps->scratch, found[i].name, true)),
                     found[i].value);
    return entry;
bad:
    pipe_set_error(ps, "JSONParserErr", j.err ? j.err : "Malformed JSON error");
    return line;
}

/* ---------------------------------------------------------------- logfmt */

struct logfmt_dec {
    const char *p, *start, *end;
    struct slice key, value;
    const char *err;
    size_t err_pos;
};

/* Unquote a logfmt/Go quoted value body (escapes as JSON plus \x, \u). */
static bool logfmt_unquote(struct pipe_state *ps, struct slice raw, struct slice *out)
{
    if (!memchr(raw.ptr, '\\', raw.len)) {
        *out = raw;
        return true;
    }
    char *o = arena_alloc(&ps->scratch, raw.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < raw.len; i++) {
        if (raw.ptr[i] != '\\') {
            o[n++] = raw.ptr[i];
            continue;
        }
        if (++i >= raw.len)
            return false;
        switch (raw.ptr[i]) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            if (i + 4 >= raw.len)
                return false;
            int cp = hex4(raw.ptr + i + 1);
            if (cp < 0)
                return false;
            n += put_utf8(o + n, (unsigned)cp);
            i += 4;
            break;
        }
        default: return false;
        }
    }
    o[n] = '\0';
    *out = (struct slice){o, n};
    return true;
}

/* The next key/value; false at the end of the line or on a syntax error (d->err). */
static bool logfmt_next(struct pipe_state *ps, struct logfmt_dec *d)
{
    d->err = NULL;
    while (d->p < d->end && (unsigned char)*d->p <= ' ')
        d->p++;
    if (d->p >= d->end)
        return false;
    const char *ks = d->p;
    while (d->p < d->end && (unsigned char)*d->p > ' ' && *d->p != '=' && *d->p != '"')
        d->p++;
    if (d->p == ks) {
        d->err = *d->p == '=' ? "unexpected '='" : "unexpected '\"'";
        d->err_pos = (size_t)(d->p - d->start) + 1;
        /* skip the bad token */
        while (d->p < d->end && (unsigned char)*d->p > ' ')
            d->p++;
        return false;
    }
    d->key = (struct slice){ks, (size_t)(d->p - ks)};
    d->value = (struct slice){"", 0};
    if (d->p < d->end && *d->p == '"') {
        d->err = "unexpected '\"'";
        d->err_pos = (size_t)(d->p - d->start) + 1;
        while (d->p < d->end && (unsigned char)*d->p > ' ')
            d->p++;
        return false;
    }
    if (d->p >= d->end || *d->p != '=')
        return true; /* a bare key */
    d->p++;
    if (d->p < d->end && *d->p == '"') {
        const char *vs = ++d->p;
        bool esc = false;
        while (d->p < d->end && *d->p != '"') {
            if (*d->p == '\\') {
                esc = true;
                d->p++;
            }
            d->p++;
        }
        if (d->p >= d->end) {
            d->err = "unterminated quoted value";
            d->err_pos = (size_t)(d->end - d->start);
            return false;
        }
        struct slice raw = {vs, (size_t)(d->p - vs)};
        d->p++;
        if (!esc) {
            d->value = raw;
        } else if (!logfmt_unquote(ps, raw, &d->value)) {
            d->err = "invalid quoted value";
            d->err_pos = (size_t)(d->p - d->start);
            return false;
        }
        return true;
    }
    const char *vs = d->p;
    while (d->p < d->end && (unsigned char)*d->p > ' ') {
        if (*d->p == '"' || *d->p == '=') {
            d->err = *d->p == '"' ? "unexpected '\"'" : "unexpected '='";
            d->err_pos = (size_t)(d->p - d->start) + 1;
            while (d->p < d->end && (unsigned char)*d->p > ' ')
                d->p++;
            return false;
        }
        d->p++;
    }
    d->value = (struct slice){vs, (size_t)(d->p - vs)};
    return true;
}

static bool has_rune_error(struct slice v)
{
    return !utf8_valid(v.ptr, v.len) || (v.len >= 3 && memmem(v.ptr, v.len, "\xef\xbf\xbd", 3));
}

static void stage_logfmt(struct pipe_state *ps, const struct stage *st, struct slice line)
{
    struct logfmt_dec d = {line.ptr, line.ptr, line.ptr + line.len, {0}, {0}, NULL, 0};
    if (st->n_ex) {
        for (uint32_t e = 0; e < st->n_ex; e++)
            if (!pipe_base_has(ps, st->ex[e].name))
                pipe_set(ps, CAT_PARSED, st->ex[e].name, (struct slice){"", 0});
    }
    while (d.p < d.end) {
        if (!logfmt_next(ps, &d)) {
            if (d.err && st->strict)
                break;
            continue;
        }
        struct slice key = label_key_sanitize(&ps->scratch, d.key, true);
        if (!key.len)
            continue;
        struct slice val = has_rune_error(d.value) ? (struct slice){"", 0} : d.value;
        if (st->n_ex) {
            for (uint32_t e = 0; e < st->n_ex; e++)
                if (slice_eq(st->ex[e].expr, key)) {
                    pipe_set(ps, CAT_PARSED, with_suffix(ps, st->ex[e].name), val);
                }
            continue;
        }
        if (!st->keep_empty && val.len == 0)
            continue;
        pipe_set(ps, CAT_PARSED, with_suffix(ps, key), val);
    }
    if (st->strict && d.err) {
        char det[200];
        snprintf(det, sizeof(det), "logfmt syntax error at pos %zu : %s", d.err_pos, d.err);
        pipe_set_error(ps, "LogfmtParserErr", det);
    }
}

/* ---------------------------------------------------------------- regexp and pattern */

static void stage_regexp(struct pipe_state *ps, const struct stage *st, struct slice line)
{
    int ng = regex_group_count(st->re);
    long ovs[2 * 33];
    long *ov = ng < 32 ? ovs : xmallocarray((size_t)(ng + 1) * 2, sizeof(long));
    if (regex_match_groups(st->re, line, ov, ng + 1) == 1) {
        for (int g = 1; g <= ng; g++) {
            const char *name = regex_group_name(st->re, g);
            if (!name)
                continue;
            struct slice v = ov[2 * g] >= 0 ? (struct slice){line.ptr + ov[2 * g],
                                                             (size_t)(ov[2 * g + 1] - ov[2 * g])}
                                            : (struct slice){"", 0};
            pipe_set(ps, CAT_PARSED,
                     with_suffix(ps, label_key_sanitize(&ps->scratch, slice_from(name), true)), v);
        }
    }
    if (ov != ovs)
        free(ov);
}

static void stage_pattern(struct pipe_state *ps, const struct stage *st, struct slice line)
{
    const struct slice *names;
    uint32_t nn = pattern_names(st->pat, &names);
    struct slice caps[64];
    struct slice *c = nn <= 64 ? caps : xmallocarray(nn, sizeof(*c));
    uint32_t got = pattern_extract(st->pat, line, c);
    for (uint32_t i = 0; i < got; i++)
        pipe_set(ps, CAT_PARSED, with_suffix(ps, names[i]), c[i]);
    if (c != caps)
        free(c);
}

/* ---------------------------------------------------------------- label filters */

static bool cmp_double(enum cmp_op op, double a, double b)
{
    switch (op) {
    case CMP_EQ: return a == b;
    case CMP_NE: return a != b;
    case CMP_GT: return a > b;
    case CMP_GE: return a >= b;
    case CMP_LT: return a < b;
    case CMP_LE: return a <= b;
    }
    return false;
}

static bool label_filter_run(struct pipe_state *ps, const struct label_filter *f)
{
    switch (f->kind) {
    case LFILTER_AND: {
        bool l = label_filter_run(ps, f->left);
        bool r = label_filter_run(ps, f->right);
        return l && r;
    }
    case LFILTER_OR:
        if (label_filter_run(ps, f->left))
            return true;
        return label_filter_run(ps, f->right);
    case LFILTER_STRING: {
        struct slice v;
        pipe_get(ps, f->m.name, &v);
        return matcher_matches(&f->m, v);
    }
    case LFILTER_NUMBER:
    case LFILTER_DURATION:
    case LFILTER_BYTES: {
        if (ps->has_err)
            return true; /* an earlier error: only string matchers may drop the entry */
        struct slice v;
        if (!pipe_get(ps, f->name, &v))
            return f->cmp == CMP_NE;
        double d;
        int rc;
        if (f->kind == LFILTER_NUMBER)
            rc = go_parse_float(v, &d, ps->msg, sizeof(ps->msg));
        else if (f->kind == LFILTER_DURATION)
            rc = go_parse_duration_seconds(v, &d, ps->msg, sizeof(ps->msg));
        else
            rc = go_parse_bytes(v, &d, ps->msg, sizeof(ps->msg));
        if (rc < 0) {
            pipe_set_error(ps, "LabelFilterErr", ps->msg);
            return true;
        }
        return cmp_double(f->cmp, d, f->value);
    }
    }
    return false;
}

/* ---------------------------------------------------------------- formatting */

static bool env_get(void *ctx, struct slice name, struct slice *value)
{
    return pipe_get(ctx, name, value);
}

static struct slice run_template(struct pipe_state *ps, const struct template *t, struct slice line,
                                 bool *ok)
{
    struct slice constant;
    *ok = true;
    if (template_is_constant(t, &constant))
        return constant;
    struct template_env env = {env_get, ps, line, ps->ts};
    buf_reset(&ps->tmp);
    if (template_exec(t, &env, &ps->scratch, &ps->tmp, ps->msg, sizeof(ps->msg)) < 0) {
        *ok = false;
        pipe_set_error(ps, "TemplateFormatErr", ps->msg);
        return line;
    }
    return arena_slice_dup(&ps->scratch, buf_slice(&ps->tmp));
}

static void stage_label_format(struct pipe_state *ps, const struct stage *st, struct slice line)
{
    struct slice pending_v[32];
    uint32_t pending_i[32], np = 0;
    for (uint32_t i = 0; i < st->n_lfmt; i++) {
        const struct label_format_item *it = &st->lfmt[i];
        if (!it->tmpl) {
            struct slice v;
            if (pipe_get(ps, it->src, &v)) {
                pipe_set(ps, CAT_PARSED, it->dst, v);
                pipe_del(ps, it->src);
            }
            continue;
        }
        bool ok;
        struct slice v = run_template(ps, it->tmpl, line, &ok);
        if (!ok)
            continue;
        if (np < 32) {
            pending_i[np] = i;
            pending_v[np++] = v;
        } else {
            pipe_set(ps, CAT_PARSED, it->dst, v);
        }
    }
    for (uint32_t k = 0; k < np; k++)
        pipe_set(ps, CAT_PARSED, st->lfmt[pending_i[k]].dst, pending_v[k]);
}

static bool name_item_applies(struct pipe_state *ps, const struct name_item *it, bool *present)
{
    struct slice v;
    *present = pipe_get(ps, it->name, &v);
    if (!*present)
        return false;
    return !it->has_matcher || matcher_matches(&it->m, v);
}

static void stage_drop(struct pipe_state *ps, const struct stage *st)
{
    for (uint32_t i = 0; i < st->n_names; i++) {
        bool present;
        if (name_item_applies(ps, &st->names[i], &present))
            pipe_del(ps, st->names[i].name);
    }
}

static void stage_keep(struct pipe_state *ps, const struct stage *st)
{
    struct label *all;
    uint32_t n =
        pipe_labels(ps, CAT_BIT(CAT_STREAM) | CAT_BIT(CAT_META) | CAT_BIT(CAT_PARSED), &all);
    /* pipe_labels' array is reused by the deletes below: copy the names first */
    struct slice *names = arena_alloc(&ps->scratch, (n ? n : 1) * sizeof(*names));
    for (uint32_t i = 0; i < n; i++)
        names[i] = all[i].name;
    for (uint32_t i = 0; i < n; i++) {
        if (slice_eq_str(names[i], "__error__") || slice_eq_str(names[i], "__error_details__"))
            continue;
        bool keep = false;
        for (uint32_t k = 0; k < st->n_names && !keep; k++) {
            if (!slice_eq(st->names[k].name, names[i]))
                continue;
            if (!st->names[k].has_matcher) {
                keep = true;
            } else {
                struct slice v;
                pipe_get(ps, names[i], &v);
                keep = matcher_matches(&st->names[k].m, v);
            }
        }
        if (!keep)
            pipe_del(ps, names[i]);
    }
}

static pthread_once_t ansi_once = PTHREAD_ONCE_INIT;
static struct regex *ansi_re;

static void ansi_init(void)
{
    static const char pat[] =
        "[\\x{1b}\\x{9b}][\\[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[a-zA-Z\\d]*)*)?\\x{07})|"
        "(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PRZcf-ntqry=><~]))";
    char err[200];
    ansi_re = regex_compile(slice_from(pat), 0, err, sizeof(err));
}

struct regex *pipe_ansi_regex(void)
{
    pthread_once(&ansi_once, ansi_init);
    return ansi_re;
}

static struct slice stage_decolorize(struct pipe_state *ps, struct slice line)
{
    if (!memchr(line.ptr, 0x1b, line.len) && !memmem(line.ptr, line.len, "\xc2\x9b", 2))
        return line;
    struct regex *re = pipe_ansi_regex();
    if (!re)
        return line;
    char *o = arena_alloc(&ps->scratch, line.len + 1);
    size_t n = 0, pos = 0;
    long ov[2];
    while (pos < line.len) {
        struct slice rest = {line.ptr + pos, line.len - pos};
        if (regex_match_groups(re, rest, ov, 1) != 1)
            break;
        memcpy(o + n, rest.ptr, (size_t)ov[0]);
        n += (size_t)ov[0];
        pos += (size_t)(ov[1] > ov[0] ? ov[1] : ov[0] + 1);
    }
    if (pos < line.len) {
        memcpy(o + n, line.ptr + pos, line.len - pos);
        n += line.len - pos;
    }
    return (struct slice){o, n};
}

/* ---------------------------------------------------------------- running */

bool pipe_run(struct pipe_state *ps, const struct stage *stages, uint32_t n, int64_t ts,
              struct slice *line)
{
    ps->ts = ts;
    for (uint32_t i = 0; i < n; i++) {
        const struct stage *st = &stages[i];
        switch (st->kind) {
        case STAGE_LINE_FILTER:
            if (!line_filter_match(&st->lf, *line))
                return false;
            break;
        case STAGE_JSON:
            if (st->n_ex)
                stage_json_fields(ps, st, *line);
            else
                stage_json(ps, *line);
            break;
        case STAGE_LOGFMT: stage_logfmt(ps, st, *line); break;
        case STAGE_REGEXP: stage_regexp(ps, st, *line); break;
        case STAGE_PATTERN: stage_pattern(ps, st, *line); break;
        case STAGE_UNPACK: *line = stage_unpack(ps, *line); break;
        case STAGE_LABEL_FILTER:
            if (!label_filter_run(ps, st->filter))
                return false;
            break;
        case STAGE_LINE_FORMAT: {
            bool ok;
            *line = run_template(ps, st->tmpl, *line, &ok);
            break;
        }
        case STAGE_LABEL_FORMAT: stage_label_format(ps, st, *line); break;
        case STAGE_DROP: stage_drop(ps, st); break;
        case STAGE_KEEP: stage_keep(ps, st); break;
        case STAGE_DECOLORIZE: *line = stage_decolorize(ps, *line); break;
        }
        if (arena_over_limit(&ps->scratch) || ps->scratch.used > SCRATCH_LIMIT)
            return false;
    }
    return true;
}
