#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/err.h"

/* ---- reader ------------------------------------------------------------ */

void json_reader_init(struct json_reader *r, const char *data, size_t len, int max_depth)
{
    r->start = r->p = data ? data : "";
    r->end = r->p + (data ? len : 0);
    r->depth = 0;
    r->max_depth = max_depth > 0 ? max_depth : 64;
    r->need_sep = false;
    r->err = NULL;
    r->err_off = 0;
}

int json_fail(struct json_reader *r, const char *msg)
{
    if (!r->err) {
        r->err = msg;
        r->err_off = (size_t)(r->p - r->start);
    }
    r->p = r->end; /* every later call fails fast */
    return STRATA_EPARSE;
}

const char *json_reader_error(const struct json_reader *r, char *tmp, size_t cap)
{
    if (!r->err)
        return NULL;
    snprintf(tmp, cap, "%s at offset %zu", r->err, r->err_off);
    return tmp;
}

static void skip_ws(struct json_reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

enum json_type json_peek(struct json_reader *r)
{
    if (r->err)
        return JSON_ERROR;
    skip_ws(r);
    if (r->p >= r->end)
        return JSON_END;
    switch (*r->p) {
    case '{': return JSON_OBJECT;
    case '[': return JSON_ARRAY;
    case '"': return JSON_STRING;
    case 't':
    case 'f': return JSON_BOOL;
    case 'n': return JSON_NULL;
    case '}':
    case ']': return JSON_END;
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
            return JSON_NUMBER;
        json_fail(r, "unexpected character");
        return JSON_ERROR;
    }
}

static int enter(struct json_reader *r, char open, const char *what)
{
    if (r->err)
        return STRATA_EPARSE;
    skip_ws(r);
    if (r->p >= r->end || *r->p != open)
        return json_fail(r, what);
    if (r->depth >= r->max_depth)
        return json_fail(r, "nesting too deep");
    r->p++;
    r->depth++;
    r->need_sep = false;
    return 0;
}

int json_enter_object(struct json_reader *r)
{
    return enter(r, '{', "expected an object");
}

int json_enter_array(struct json_reader *r)
{
    return enter(r, '[', "expected an array");
}

/* Shared by next_key / next_elem: handles the close and the separator. */
static int next_item(struct json_reader *r, char close)
{
    if (r->err)
        return STRATA_EPARSE;
    skip_ws(r);
    if (r->p >= r->end)
        return json_fail(r, "unexpected end of input");
    if (*r->p == close) {
        r->p++;
        r->depth--;
        r->need_sep = true;
        return 0;
    }
    if (r->need_sep) {
        if (*r->p != ',')
            return json_fail(r, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        r->p++;
        skip_ws(r);
        if (r->p < r->end && *r->p == close)
            return json_fail(r, "trailing comma");
    }
    r->need_sep = false;
    return 1;
}

static const unsigned char utf8_len_tab[256] = {
/* 0x00-0x7f: 1; 0x80-0xc1: 0 (invalid lead); 0xc2-0xdf: 2; 0xe0-0xef: 3; 0xf0-0xf4: 4 */
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(0), R16(0), R16(0), R16(0),
    0,      0,      2,      2,      2,      2,      2,      2,      2,      2,      2,      2,
    2,      2,      2,      2,      R16(2), R16(3), 4,      4,      4,      4,      4,      0,
    0,      0,      0,      0,      0,      0,      0,      0,      0,      0,
#undef R16
};

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        /* Fast path: 8 ASCII bytes at a time. */
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (w & UINT64_C(0x8080808080808080))
                break;
            p += 8;
        }
        if (p >= end)
            break;
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        unsigned len = utf8_len_tab[c];
        if (len == 0 || (size_t)(end - p) < len)
            return false;
        for (unsigned i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        if (c == 0xe0 && p[1] < 0xa0)
            return false; /* overlong */
        if (c == 0xed && p[1] >= 0xa0)
            return false; /* surrogate */
        if (c == 0xf0 && p[1] < 0x90)
            return false; /* overlong */
        if (c == 0xf4 && p[1] >= 0x90)
            return false; /* > U+10FFFF */
        p += len;
    }
    return true;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
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

/*
 * The first byte at or after p (before end) that ends a run of plain string
 * bytes: '"', '\\', a control character (< 0x20) or a non-ASCII byte (>= 0x80);
 * end if none. Push bodies are mostly long runs of plain bytes: 16 at a time.
 */
static inline const char *string_stop(const char *p, const char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed: below 0x20 catches the controls and, as negatives, 0x80..0xff */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
            return p;
    }
    return end;
}

/*
 * Copy the run of [q, end) before its next backslash to *o (when *o is set;
 * *o then points past the copy) and return where the run stopped. Decoding
 * only shrinks a string, so the output never gets ahead of the input: a
 * 16-byte store made while 16 input bytes remain stays inside the
 * allocation of the raw length.
 */
static inline const char *copy_run(const char *q, const char *end, char **o)
{
    char *w = *o;
#if defined(__SSE2__)
    const __m128i bslash = _mm_set1_epi8('\\');
    while (end - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bslash));
        unsigned k = mask ? (unsigned)__builtin_ctz(mask) : 16;
        if (w) {
            _mm_storeu_si128((__m128i *)(void *)w, v);
            w += k;
        }
        q += k;
        if (mask) {
            *o = w;
            return q;
        }
    }
#endif
    for (; q < end && *q != '\\'; q++)
        if (w)
            *w++ = *q;
    *o = w;
    return q;
}

/*
 * Read the string at r->p (its opening quote). Without escapes *out points
 * into the input; with escapes they are decoded into a copy in a, or, when
 * a is NULL, only checked (*out is then the raw text between the quotes).
 */
static int read_string(struct json_reader *r, struct arena *a, struct slice *out)
{
    const char *p = r->p + 1, *end = r->end;
    const char *s = p;
    bool escaped = false, non_ascii = false;
    for (;;) {
        p = string_stop(p, end);
        if (p >= end)
            return json_fail(r, "unterminated string");
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c < 0x20)
            return json_fail(r, "control character in string");
        if (c == '\\') {
            escaped = true;
            p++;
            if (p >= end)
                return json_fail(r, "unterminated string");
        } else {
            non_ascii = true;
        }
        p++;
    }
    size_t raw_len = (size_t)(p - s);
    if (non_ascii && !utf8_valid(s, raw_len))
        return json_fail(r, "invalid UTF-8 in string");
    if (!escaped) {
        *out = (struct slice){s, raw_len};
        r->p = p + 1;
        return 0;
    }
    char scratch[8];
    char *o = a ? arena_alloc(a, raw_len + 1) : NULL, *o0 = o;
    for (const char *q = s; q < p;) {
        q = copy_run(q, p, &o);
        if (q == p)
            break;
        q++;
        char *w = o ? o : scratch; /* checking only: decode into scratch, then forget it */
        switch (*q) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (p - q < 5 || hex4(q + 1, &cp) < 0) {
                r->p = q;
                return json_fail(r, "bad \\u escape");
            }
            q += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (p - q < 7 || q[1] != '\\' || q[2] != 'u' || hex4(q + 3, &lo) < 0 ||
                    lo < 0xdc00 || lo > 0xdfff) {
                    r->p = q;
                    return json_fail(r, "lone surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                q += 6;
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                r->p = q;
                return json_fail(r, "lone surrogate in \\u escape");
            }
            w += put_utf8(w, cp);
            break;
        }
        default: r->p = q; return json_fail(r, "bad escape in string");
        }
        if (o)
            o = w;
        q++;
    }
    if (o) {
        *o = '\0';
        *out = (struct slice){o0, (size_t)(o - o0)};
    } else {
        *out = (struct slice){s, raw_len};
    }
    r->p = p + 1;
    return 0;
}

int json_next_key(struct json_reader *r, struct arena *a, struct slice *key)
{
    int rc = next_item(r, '}');
    if (rc <= 0)
        return rc;
    if (r->p >= r->end || *r->p != '"')
        return json_fail(r, "expected a string key");
    if (read_string(r, a, key) < 0)
        return STRATA_EPARSE;
    skip_ws(r);
    if (r->p >= r->end || *r->p != ':')
        return json_fail(r, "expected ':'");
    r->p++;
    r->need_sep = false;
    return 1;
}

int json_next_elem(struct json_reader *r)
{
    int rc = next_item(r, ']');
    if (rc <= 0)
        return rc;
    if (r->p >= r->end)
        return json_fail(r, "unexpected end of input");
    return 1;
}

int json_read_string(struct json_reader *r, struct arena *a, struct slice *out)
{
    if (r->err)
        return STRATA_EPARSE;
    skip_ws(r);
    if (r->p >= r->end || *r->p != '"')
        return json_fail(r, "expected a string");
    int rc = read_string(r, a, out);
    if (rc == 0)
        r->need_sep = true;
    return rc;
}

int json_read_number_raw(struct json_reader *r, struct slice *out)
{
    if (r->err)
        return STRATA_EPARSE;
    skip_ws(r);
    const char *p = r->p, *end = r->end, *s = p;
    if (p < end && *p == '-')
        p++;
    if (p >= end || *p < '0' || *p > '9')
        return json_fail(r, "expected a number");
    if (*p == '0') {
        p++;
    } else {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return json_fail(r, "bad number");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return json_fail(r, "bad number");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E'))
        return json_fail(r, "bad number");
    *out = (struct slice){s, (size_t)(p - s)};
    r->p = p;
    r->need_sep = true;
    return 0;
}

int json_read_double(struct json_reader *r, double *out)
{
    struct slice n;
    if (json_read_number_raw(r, &n) < 0)
        return STRATA_EPARSE;
    char tmp[64];
    if (n.len >= sizeof(tmp)) {
        char *big = strndup(n.ptr, n.len);
        *out = big ? strtod(big, NULL) : 0;
        free(big);
        return 0;
    }
    memcpy(tmp, n.ptr, n.len);
    tmp[n.len] = '\0';
    *out = strtod(tmp, NULL);
    return 0;
}

int json_read_int64(struct json_reader *r, int64_t *out)
{
    struct slice n;
    if (json_read_number_raw(r, &n) < 0)
        return STRATA_EPARSE;
    size_t i = n.ptr[0] == '-';
    uint64_t v = 0;
    for (; i < n.len; i++) {
        char c = n.ptr[i];
        if (c < '0' || c > '9')
            return json_fail(r, "expected an integer");
        if (v > (UINT64_MAX - (unsigned)(c - '0')) / 10)
            return json_fail(r, "integer out of range");
        v = v * 10 + (unsigned)(c - '0');
    }
    if (n.ptr[0] == '-') {
        if (v > (uint64_t)INT64_MAX + 1)
            return json_fail(r, "integer out of range");
        *out = (int64_t)(0 - v);
    } else {
        if (v > (uint64_t)INT64_MAX)
            return json_fail(r, "integer out of range");
        *out = (int64_t)v;
    }
    return 0;
}

static int literal(struct json_reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return json_fail(r, "bad literal");
    r->p += n;
    r->need_sep = true;
    return 0;
}

int json_read_bool(struct json_reader *r, bool *out)
{
    if (r->err)
        return STRATA_EPARSE;
    skip_ws(r);
    if (r->p < r->end && *r->p == 't') {
        *out = true;
        return literal(r, "true");
    }
    if (r->p < r->end && *r->p == 'f') {
        *out = false;
        return literal(r, "false");
    }
    return json_fail(r, "expected a boolean");
}

int json_read_null(struct json_reader *r)
{
    if (r->err)
        return STRATA_EPARSE;
    skip_ws(r);
    return literal(r, "null");
}

int json_skip(struct json_reader *r)
{
    struct slice tmp;
    bool b;
    int rc;
    switch (json_peek(r)) {
    case JSON_NULL: return json_read_null(r);
    case JSON_BOOL: return json_read_bool(r, &b);
    case JSON_NUMBER: return json_read_number_raw(r, &tmp);
    case JSON_STRING:
        /* Checked, not decoded (no arena). */
        rc = read_string(r, NULL, &tmp);
        if (rc == 0)
            r->need_sep = true;
        return rc;
    case JSON_ARRAY:
        if (json_enter_array(r) < 0)
            return STRATA_EPARSE;
        while ((rc = json_next_elem(r)) > 0)
            if (json_skip(r) < 0)
                return STRATA_EPARSE;
        return rc;
    case JSON_OBJECT:
        if (json_enter_object(r) < 0)
            return STRATA_EPARSE;
        while ((rc = json_next_key(r, NULL, &tmp)) > 0)
            if (json_skip(r) < 0)
                return STRATA_EPARSE;
        return rc;
    case JSON_END: return json_fail(r, "expected a value");
    default: return STRATA_EPARSE;
    }
}

int json_finish(struct json_reader *r)
{
    if (r->err)
        return STRATA_EPARSE;
    skip_ws(r);
    if (r->p != r->end)
        return json_fail(r, "unexpected data after the JSON value");
    return 0;
}

/* ---- writer ------------------------------------------------------------ */

void json_writer_init(struct json_writer *w, struct buf *b)
{
    w->b = b;
    w->rc = 0;
    w->depth = 0;
    w->has_items = 0;
    w->after_key = false;
}

static void put(struct json_writer *w, const char *s, size_t n)
{
    if (w->rc == 0)
        w->rc = buf_append(w->b, s, n);
}

/* Write the separator a new item at this level needs. */
static void item(struct json_writer *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    uint64_t bit = UINT64_C(1) << (w->depth & 63);
    if (w->has_items & bit)
        put(w, ",", 1);
    w->has_items |= bit;
}

static void open_level(struct json_writer *w, char c)
{
    item(w);
    put(w, &c, 1);
    if (w->depth >= 63) {
        w->rc = w->rc ? w->rc : STRATA_EINVAL;
        return;
    }
    w->depth++;
    w->has_items &= ~(UINT64_C(1) << w->depth);
}

static void close_level(struct json_writer *w, char c)
{
    put(w, &c, 1);
    if (w->depth > 0)
        w->depth--;
}

void jw_object_begin(struct json_writer *w)
{
    open_level(w, '{');
}

void jw_object_end(struct json_writer *w)
{
    close_level(w, '}');
}

void jw_array_begin(struct json_writer *w)
{
    open_level(w, '[');
}

void jw_array_end(struct json_writer *w)
{
    close_level(w, ']');
}

int json_escape(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    if (!n)
        return 0; /* s may be NULL: no pointer arithmetic on it */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        int rc = buf_append(b, s + run, i - run);
        if (rc)
            return rc;
        run = i + 1;
        char e[6] = {'\\', 0};
        size_t el = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        default: e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[c >> 4], e[5] = hex[c & 15]; el = 6;
        }
        if ((rc = buf_append(b, e, el)))
            return rc;
    }
    return buf_append(b, s + run, n - run);
}

void jw_key_slice(struct json_writer *w, struct slice key)
{
    item(w);
    put(w, "\"", 1);
    if (w->rc == 0)
        w->rc = json_escape(w->b, key.ptr, key.len);
    put(w, "\":", 2);
    w->after_key = true;
}

void jw_key(struct json_writer *w, const char *key)
{
    jw_key_slice(w, slice_from(key));
}

void jw_string_slice(struct json_writer *w, struct slice s)
{
    item(w);
    put(w, "\"", 1);
    if (w->rc == 0)
        w->rc = json_escape(w->b, s.ptr, s.len);
    put(w, "\"", 1);
}

void jw_string(struct json_writer *w, const char *s)
{
    jw_string_slice(w, slice_from(s));
}

void jw_int(struct json_writer *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    item(w);
    put(w, tmp, (size_t)n);
}

void jw_uint(struct json_writer *w, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    item(w);
    put(w, tmp, (size_t)n);
}

void jw_double(struct json_writer *w, double v)
{
    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    char tmp[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    item(w);
    put(w, tmp, (size_t)n);
}

void jw_bool(struct json_writer *w, bool v)
{
    item(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct json_writer *w)
{
    item(w);
    put(w, "null", 4);
}

void jw_raw(struct json_writer *w, const char *json, size_t len)
{
    item(w);
    put(w, json, len);
}
