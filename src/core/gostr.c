#include "core/gostr.h"

#include <string.h>

#include "core/err.h"
#include "core/slice.h"

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

int gostr_unquote(struct slice s, struct arena *a, struct slice *out, size_t *used,
                  const char **err)
{
    const char *dummy;
    if (!err)
        err = &dummy;
    if (s.len == 0 || (s.ptr[0] != '"' && s.ptr[0] != '`')) {
        *err = "expected a quoted string";
        return STRATA_EPARSE;
    }
    if (s.ptr[0] == '`') {
        const char *e = memchr(s.ptr + 1, '`', s.len - 1);
        if (!e) {
            *err = "unterminated raw string";
            return STRATA_EPARSE;
        }
        *out = (struct slice){s.ptr + 1, (size_t)(e - s.ptr - 1)};
        *used = (size_t)(e - s.ptr) + 1;
        return 0;
    }
    size_t i = 1;
    bool esc = false;
    while (i < s.len && s.ptr[i] != '"') {
        if (s.ptr[i] == '\n') {
            *err = "newline in string";
            return STRATA_EPARSE;
        }
        if (s.ptr[i] == '\\') {
            esc = true;
            i++;
        }
        i++;
    }
    if (i >= s.len) {
        *err = "unterminated string";
        return STRATA_EPARSE;
    }
    *used = i + 1;
    if (!esc) {
        *out = (struct slice){s.ptr + 1, i - 1};
        return 0;
    }
    char *o = arena_alloc(a, i), *o0 = o;
    for (size_t k = 1; k < i;) {
        char c = s.ptr[k];
        if (c != '\\') {
            *o++ = c;
            k++;
            continue;
        }
        k++;
        c = s.ptr[k++];
        switch (c) {
        case 'a': *o++ = '\a'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'v': *o++ = '\v'; break;
        case '\\': *o++ = '\\'; break;
        case '"': *o++ = '"'; break;
        case '\'': *o++ = '\''; break;
        case 'x': {
            int h1 = k < i ? hex_digit(s.ptr[k]) : -1,
                h2 = k + 1 < i ? hex_digit(s.ptr[k + 1]) : -1;
            if (h1 < 0 || h2 < 0) {
                *err = "bad \\x escape";
                return STRATA_EPARSE;
            }
            *o++ = (char)(h1 * 16 + h2);
            k += 2;
            break;
        }
        case 'u':
        case 'U': {
            int n = c == 'u' ? 4 : 8;
            unsigned cp = 0;
            for (int j = 0; j < n; j++) {
                int h = k + (size_t)j < i ? hex_digit(s.ptr[k + (size_t)j]) : -1;
                if (h < 0) {
                    *err = "bad unicode escape";
                    return STRATA_EPARSE;
                }
                cp = cp * 16 + (unsigned)h;
            }
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                *err = "bad unicode escape";
                return STRATA_EPARSE;
            }
            k += (size_t)n;
            o += put_utf8(o, cp);
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                int v = c - '0';
                for (int j = 0; j < 2; j++) {
                    if (k >= i || s.ptr[k] < '0' || s.ptr[k] > '7') {
                        *err = "bad octal escape";
                        return STRATA_EPARSE;
                    }
                    v = v * 8 + (s.ptr[k++] - '0');
                }
                if (v > 255) {
                    *err = "bad octal escape";
                    return STRATA_EPARSE;
                }
                *o++ = (char)v;
                break;
            }
            *err = "unknown escape sequence";
            return STRATA_EPARSE;
        }
    }
    *out = (struct slice){o0, (size_t)(o - o0)};
    return 0;
}

int gostr_quote(struct buf *b, struct slice s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = buf_append_char(b, '"');
    for (size_t i = 0; i < s.len && !rc; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        switch (c) {
        case '"': rc = buf_append(b, "\\\"", 2); break;
        case '\\': rc = buf_append(b, "\\\\", 2); break;
        case '\n': rc = buf_append(b, "\\n", 2); break;
        case '\r': rc = buf_append(b, "\\r", 2); break;
        case '\t': rc = buf_append(b, "\\t", 2); break;
        case '\a': rc = buf_append(b, "\\a", 2); break;
        case '\b': rc = buf_append(b, "\\b", 2); break;
        case '\f': rc = buf_append(b, "\\f", 2); break;
        case '\v': rc = buf_append(b, "\\v", 2); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
                rc = buf_append(b, e, 4);
            } else {
                rc = buf_append_char(b, (char)c);
            }
        }
    }
    return rc ? rc : buf_append_char(b, '"');
}
