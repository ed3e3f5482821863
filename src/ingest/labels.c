#include "ingest/labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/gostr.h"
#include "core/hash.h"

static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

bool label_name_valid(struct slice name)
{
    if (name.len == 0 || !name_start(name.ptr[0]))
        return false;
    for (size_t i = 1; i < name.len; i++)
        if (!name_char(name.ptr[i]))
            return false;
    return true;
}

struct slice label_name_sanitize(struct arena *a, struct slice name)
{
    if (label_name_valid(name))
        return name;
    bool digit = name.len && name.ptr[0] >= '0' && name.ptr[0] <= '9';
    char *o = arena_alloc(a, name.len + 2);
    size_t n = 0;
    if (digit || name.len == 0)
        o[n++] = '_';
    for (size_t i = 0; i < name.len; i++)
        o[n++] = name_char(name.ptr[i]) ? name.ptr[i] : '_';
    o[n] = '\0';
    return (struct slice){o, n};
}

struct slice label_name_normalize(struct arena *a, struct slice name)
{
    if (name.len == 0)
        return name;
    bool lone_underscore = name.ptr[0] == '_' && !(name.len > 1 && name.ptr[1] == '_');
    if (label_name_valid(name) && !lone_underscore)
        return name;
    /* Sanitise after a 4-byte gap, then decide the prefix from the sanitised name. */
    char *o = arena_alloc(a, name.len + 5);
    size_t n = 4;
    for (size_t i = 0; i < name.len; i++) {
        unsigned char c = (unsigned char)name.ptr[i];
        if (c >= 0x80) {
            /* One '_' for the whole UTF-8 sequence (Prometheus replaces runes). */
            while (i + 1 < name.len && ((unsigned char)name.ptr[i + 1] & 0xc0) == 0x80)
                i++;
            o[n++] = '_';
        } else {
            o[n++] = name_char((char)c) ? (char)c : '_';
        }
    }
    o[n] = '\0';
    size_t at = 4;
    if (o[4] >= '0' && o[4] <= '9')
        memcpy(o + (at = 0), "key_", 4);
    else if (o[4] == '_' && !(n > 5 && o[5] == '_'))
        memcpy(o + (at = 1), "key", 3);
    return (struct slice){o + at, n - at};
}

static int cmp_label(const void *a, const void *b)
{
    const struct label *x = a, *y = b;
    return slice_cmp(x->name, y->name);
}

void labels_sort(struct label *v, uint32_t n)
{
    /* Insertion sort for the usual handful of labels; qsort beyond. */
    if (n > 16) {
        qsort(v, n, sizeof(*v), cmp_label);
        return;
    }
    for (uint32_t i = 1; i < n; i++) {
        struct label t = v[i];
        uint32_t j = i;
        while (j > 0 && slice_cmp(v[j - 1].name, t.name) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = t;
    }
}

struct label *labels_dup(struct arena *a, const struct label *v, uint32_t n)
{
    struct label *o = arena_alloc(a, (n ? n : 1) * sizeof(*o));
    for (uint32_t i = 0; i < n; i++) {
        o[i].name = arena_slice_dup(a, v[i].name);
        o[i].value = arena_slice_dup(a, v[i].value);
    }
    return o;
}

int labels_find_duplicate(const struct label *v, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++)
        if (slice_eq(v[i - 1].name, v[i].name))
            return (int)i;
    return -1;
}

uint64_t labels_fingerprint(const struct label *v, uint32_t n)
{
    /* Hash "name\xffvalue\xff..." without building it: chain the hashes. */
    uint64_t h = 0x5374726174614c42ULL; /* "StrataLB" */
    for (uint32_t i = 0; i < n; i++) {
        h = hash64_seed(v[i].name.ptr, v[i].name.len, h ^ 0xff);
        h = hash64_seed(v[i].value.ptr, v[i].value.len, h ^ 0xfe);
    }
    return h;
}

int labels_format(struct buf *b, const struct label *v, uint32_t n)
{
    int rc = buf_append_char(b, '{');
    for (uint32_t i = 0; i < n && !rc; i++) {
        if (i)
            rc = buf_append(b, ", ", 2);
        if (!rc)
            rc = buf_append(b, v[i].name.ptr, v[i].name.len);
        if (!rc)
            rc = buf_append_char(b, '=');
        if (!rc)
            rc = gostr_quote(b, v[i].value);
    }
    return rc ? rc : buf_append_char(b, '}');
}

const struct slice *labels_get(const struct label *v, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (slice_eq_str(v[i].name, name))
            return &v[i].value;
    return NULL;
}

static void skip_space(struct slice t, size_t *i)
{
    while (*i < t.len &&
           (t.ptr[*i] == ' ' || t.ptr[*i] == '\t' || t.ptr[*i] == '\n' || t.ptr[*i] == '\r'))
        (*i)++;
}

int labels_parse(struct slice t, struct arena *a, struct label **out, uint32_t *n, char *err,
                 size_t errlen)
{
    size_t i = 0;
    uint32_t cap = 8, cnt = 0;
    struct label *v = arena_alloc(a, cap * sizeof(*v));
    skip_space(t, &i);
    if (i >= t.len || t.ptr[i] != '{') {
        snprintf(err, errlen, "expected '{' at position %zu", i);
        return STRATA_EPARSE;
    }
    i++;
    skip_space(t, &i);
    if (i < t.len && t.ptr[i] == '}') {
        i++;
        goto done;
    }
    for (;;) {
        skip_space(t, &i);
        size_t s = i;
        while (i < t.len && name_char(t.ptr[i]))
            i++;
        if (i == s || !name_start(t.ptr[s])) {
            snprintf(err, errlen, "expected a label name at position %zu", s);
            return STRATA_EPARSE;
        }
        struct slice name = {t.ptr + s, i - s};
        skip_space(t, &i);
        if (i >= t.len || t.ptr[i] != '=' || (i + 1 < t.len && t.ptr[i + 1] == '~')) {
            snprintf(err, errlen, "expected '=' after label name %.*s", (int)name.len, name.ptr);
            return STRATA_EPARSE;
        }
        i++;
        skip_space(t, &i);
        struct slice value;
        size_t used;
        const char *why;
        if (gostr_unquote((struct slice){t.ptr + i, t.len - i}, a, &value, &used, &why) < 0) {
            snprintf(err, errlen, "%s in the value of label %.*s", why, (int)name.len, name.ptr);
            return STRATA_EPARSE;
        }
        i += used;
        if (cnt == cap) {
            v = arena_realloc(a, v, cap * sizeof(*v), cap * 2 * sizeof(*v));
            cap *= 2;
        }
        v[cnt++] = (struct label){name, value};
        skip_space(t, &i);
        if (i < t.len && t.ptr[i] == ',') {
            i++;
            continue;
        }
        if (i < t.len && t.ptr[i] == '}') {
            i++;
            break;
        }
        snprintf(err, errlen, "expected ',' or '}' at position %zu", i);
        return STRATA_EPARSE;
    }
done:
    skip_space(t, &i);
    if (i != t.len) {
        snprintf(err, errlen, "unexpected text after '}' at position %zu", i);
        return STRATA_EPARSE;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int labels_encode(struct buf *b, const struct label *v, uint32_t n)
{
    int rc = buf_put_uvarint(b, n);
    for (uint32_t i = 0; i < n && !rc; i++) {
        rc = buf_put_uvarint(b, v[i].name.len);
        if (!rc)
            rc = buf_append(b, v[i].name.ptr, v[i].name.len);
        if (!rc)
            rc = buf_put_uvarint(b, v[i].value.len);
        if (!rc)
            rc = buf_append(b, v[i].value.ptr, v[i].value.len);
    }
    return rc;
}

void labels_encoder_init(struct labels_encoder *e)
{
    memset(e, 0, sizeof(*e));
    buf_init(&e->enc, BUF_UNLIMITED);
}

void labels_encoder_release(struct labels_encoder *e)
{
    buf_release(&e->enc);
    free(e->last);
    memset(e, 0, sizeof(*e));
}

int labels_encoder_encode(struct labels_encoder *e, const struct label *v, uint32_t n,
                          struct slice *out)
{
    bool same = e->valid && n == e->n_last;
    for (uint32_t i = 0; i < n && same; i++)
        same = slice_eq(v[i].name, e->last[i].name) && slice_eq(v[i].value, e->last[i].value);
    if (!same) {
        buf_reset(&e->enc);
        e->valid = false;
        int rc = labels_encode(&e->enc, v, n);
        if (rc < 0)
            return rc;
        if (n > e->cap_last) {
            e->cap_last = n;
            e->last = xreallocarray(e->last, n, sizeof(*e->last));
        }
        if (n)
            memcpy(e->last, v, n * sizeof(*v));
        e->n_last = n;
        e->valid = true;
    }
    *out = buf_slice(&e->enc);
    return 0;
}

int uvarint_read(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        unsigned char c = *(*p)++;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            if (shift == 63 && c > 1)
                return -1;
            *v = r;
            return 0;
        }
    }
    return -1;
}

int labels_decode(struct slice enc, struct arena *a, struct label **out, uint32_t *n)
{
    const unsigned char *p = (const unsigned char *)enc.ptr, *end = p + enc.len;
    uint64_t cnt;
    if (enc.len == 0) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    if (uvarint_read(&p, end, &cnt) < 0 || cnt > (uint64_t)(end - p) / 2)
        return STRATA_ECORRUPT;
    struct label *v = cnt ? arena_alloc(a, (size_t)cnt * sizeof(*v)) : NULL;
    for (uint64_t i = 0; i < cnt; i++) {
        uint64_t l;
        for (int k = 0; k < 2; k++) {
            if (uvarint_read(&p, end, &l) < 0 || l > (uint64_t)(end - p))
                return STRATA_ECORRUPT;
            struct slice s = {(const char *)p, (size_t)l};
            if (k == 0)
                v[i].name = s;
            else
                v[i].value = s;
            p += l;
        }
    }
    if (p != end)
        return STRATA_ECORRUPT;
    *out = v;
    *n = (uint32_t)cnt;
    return 0;
}
