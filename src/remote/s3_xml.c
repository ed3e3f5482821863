#include "remote/s3_xml.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/slice.h"

/* The longest text one leaf element of an S3 answer may hold (keys are <= 1024 bytes). */
#define LEAF_MAX (64 * 1024)

void xml_reader_init(struct xml_reader *r, const char *data, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->p = data ? data : "";
    r->end = r->p + (data ? len : 0);
}

const char *xml_reader_error(const struct xml_reader *r)
{
    return r->err;
}

struct slice xml_element_at(const struct xml_reader *r, int d)
{
    if (d < 1 || d > r->depth)
        return slice_make("", 0);
    return r->stack[d - 1];
}

static int fail(struct xml_reader *r, const char *msg)
{
    if (!r->err)
        r->err = msg;
    r->p = r->end;
    return STRATA_EPARSE;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Find the literal needle in [p, end); NULL if absent. */
static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    if ((size_t)(end - p) < n)
        return NULL;
    const char *last = end - n;
    for (; p <= last; p++)
        if (*p == needle[0] && memcmp(p, needle, n) == 0)
            return p;
    return NULL;
}

static bool starts(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

static struct slice local_name(struct slice full)
{
    for (size_t i = full.len; i > 0; i--)
        if (full.ptr[i - 1] == ':')
            return slice_make(full.ptr + i, full.len - i);
    return full;
}

int xml_next(struct xml_reader *r, struct xml_event *ev)
{
    if (r->err)
        return STRATA_EPARSE;
    memset(ev, 0, sizeof(*ev));
    if (r->pending_end) {
        r->pending_end = false;
        ev->type = XML_END;
        ev->name = local_name(r->stack[r->depth - 1]);
        ev->depth = r->depth;
        r->depth--;
        if (r->depth == 0)
            r->root_end = true;
        return 1;
    }
    for (;;) {
        if (r->p >= r->end) {
            if (r->depth > 0)
                return fail(r, "unexpected end of document inside an element");
            if (!r->seen_root)
                return fail(r, "no root element");
            return 0;
        }
        const char *p = r->p, *end = r->end;
        if (*p != '<') {
            const char *lt = memchr(p, '<', (size_t)(end - p));
            const char *stop = lt ? lt : end;
            r->p = stop;
            if (r->depth == 0) {
                for (const char *q = p; q < stop; q++)
                    if (!is_space(*q))
                        return fail(r, "text outside the root element");
                continue;
            }
            ev->type = XML_TEXT;
            ev->text = slice_make(p, (size_t)(stop - p));
            ev->depth = r->depth;
            return 1;
        }
        if (starts(p, end, "<?")) {
            const char *q = find(p + 2, end, "?>");
            if (!q)
                return fail(r, "unterminated processing instruction");
            r->p = q + 2;
            continue;
        }
        if (starts(p, end, "<!--")) {
            const char *q = find(p + 4, end, "-->");
            if (!q)
                return fail(r, "unterminated comment");
            r->p = q + 3;
            continue;
        }
        if (starts(p, end, "<![CDATA[")) {
            if (r->depth == 0)
                return fail(r, "CDATA outside the root element");
            const char *q = find(p + 9, end, "]]>");
            if (!q)
                return fail(r, "unterminated CDATA section");
            ev->type = XML_CDATA;
            ev->text = slice_make(p + 9, (size_t)(q - (p + 9)));
            ev->depth = r->depth;
            r->p = q + 3;
            return 1;
        }
        if (starts(p, end, "<!"))
            return fail(r, "DOCTYPE and other declarations are not accepted");
        if (starts(p, end, "</")) {
            const char *q = p + 2, *s = q;
            while (q < end && !is_space(*q) && *q != '>')
                q++;
            struct slice name = slice_make(s, (size_t)(q - s));
            while (q < end && is_space(*q))
                q++;
            if (q >= end || *q != '>')
                return fail(r, "malformed end tag");
            if (r->depth == 0 || !slice_eq(name, r->stack[r->depth - 1]))
                return fail(r, "end tag does not match the open element");
            r->p = q + 1;
            ev->type = XML_END;
            ev->name = local_name(name);
            ev->depth = r->depth;
            r->depth--;
            if (r->depth == 0)
                r->root_end = true;
            return 1;
        }
        /* A start tag. */
        if (r->depth == 0 && r->seen_root)
            return fail(r, "a second root element");
        const char *q = p + 1, *s = q;
        while (q < end && !is_space(*q) && *q != '>' && *q != '/' && *q != '<')
            q++;
        if (q == s)
            return fail(r, "malformed start tag");
        struct slice name = slice_make(s, (size_t)(q - s));
        /* Attributes are skipped, quoted values included (they may hold '>'). */
        bool empty = false;
        for (;;) {
            if (q >= end)
                return fail(r, "unterminated start tag");
            if (*q == '"' || *q == '\'') {
                const char *close = memchr(q + 1, *q, (size_t)(end - q - 1));
                if (!close)
                    return fail(r, "unterminated attribute value");
                q = close + 1;
                continue;
            }
            if (*q == '<')
                return fail(r, "'<' inside a start tag");
            if (*q == '>')
                break;
            if (*q == '/') {
                if (q + 1 < end && q[1] == '>') {
                    empty = true;
                    q++;
                    break;
                }
                return fail(r, "stray '/' in a start tag");
            }
            q++;
        }
        if (r->depth >= S3_XML_MAX_DEPTH)
            return fail(r, "elements nested too deeply");
        r->stack[r->depth++] = name;
        r->seen_root = true;
        r->p = q + 1;
        r->pending_end = empty;
        ev->type = XML_START;
        ev->name = local_name(name);
        ev->depth = r->depth;
        return 1;
    }
}

static int put_utf8(struct buf *out, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_append(out, u, n);
}

int xml_text_decode(struct buf *out, struct slice raw)
{
    const char *p = raw.ptr, *end = raw.ptr + raw.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        int rc = buf_append(out, p, (size_t)(stop - p));
        if (rc)
            return rc;
        if (!amp)
            break;
        const char *semi = memchr(amp, ';', (size_t)(end - amp));
        if (!semi || semi - amp > 12)
            return STRATA_EPARSE;
        struct slice ent = slice_make(amp + 1, (size_t)(semi - amp - 1));
        if (slice_eq_str(ent, "lt")) {
            rc = buf_append_char(out, '<');
        } else if (slice_eq_str(ent, "gt")) {
            rc = buf_append_char(out, '>');
        } else if (slice_eq_str(ent, "amp")) {
            rc = buf_append_char(out, '&');
        } else if (slice_eq_str(ent, "quot")) {
            rc = buf_append_char(out, '"');
        } else if (slice_eq_str(ent, "apos")) {
            rc = buf_append_char(out, '\'');
        } else if (ent.len >= 2 && ent.ptr[0] == '#') {
            bool hex = ent.ptr[1] == 'x';
            size_t i = hex ? 2 : 1;
            if (i >= ent.len)
                return STRATA_EPARSE;
            uint32_t cp = 0;
            for (; i < ent.len; i++) {
                char c = ent.ptr[i];
                uint32_t d;
                if (c >= '0' && c <= '9')
                    d = (uint32_t)(c - '0');
                else if (hex && c >= 'a' && c <= 'f')
                    d = (uint32_t)(c - 'a' + 10);
                else if (hex && c >= 'A' && c <= 'F')
                    d = (uint32_t)(c - 'A' + 10);
                else
                    return STRATA_EPARSE;
                cp = cp * (hex ? 16 : 10) + d;
                if (cp > 0x10FFFF)
                    return STRATA_EPARSE;
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
                return STRATA_EPARSE;
            rc = put_utf8(out, cp);
        } else {
            return STRATA_EPARSE;
        }
        if (rc)
            return rc;
        p = semi + 1;
    }
    return 0;
}

int xml_escape(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        default: break;
        }
        int rc = rep ? buf_append_str(out, rep) : buf_append_char(out, s[i]);
        if (rc)
            return rc;
    }
    return 0;
}

long s3_url_decode_inplace(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            s[o++] = s[i];
            continue;
        }
        if (i + 2 >= n)
            return -1;
        int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        s[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    if (o < n)
        s[o] = '\0';
    return (long)o;
}

/* ---- leaf text ---------------------------------------------------------- */

/*
 * After a START event at depth d, read to its END and leave the decoded text
 * of the element (its direct character data and CDATA) in t. Nested elements
 * are skipped.
 */
static int read_leaf(struct xml_reader *r, int d, struct buf *t)
{
    buf_reset(t);
    struct xml_event ev;
    int rc;
    while ((rc = xml_next(r, &ev)) > 0) {
        if (ev.type == XML_END && ev.depth == d)
            return 0;
        if (ev.depth != d)
            continue;
        if (ev.type == XML_TEXT)
            rc = xml_text_decode(t, ev.text);
        else if (ev.type == XML_CDATA)
            rc = buf_append(t, ev.text.ptr, ev.text.len);
        if (rc < 0)
            return STRATA_EPARSE;
    }
    return rc < 0 ? rc : STRATA_EPARSE;
}

static void copy_fixed(char *dst, size_t cap, const struct buf *t)
{
    size_t n = t->len < cap - 1 ? t->len : cap - 1;
    if (n)
        memcpy(dst, t->ptr, n);
    dst[n] = '\0';
}

static char *dup_text(struct arena *a, const struct buf *t)
{
    return arena_strndup(a, t->ptr ? t->ptr : "", t->len);
}

/* Drain the rest of the document so that only well-formed answers are accepted. */
static int finish(struct xml_reader *r)
{
    struct xml_event ev;
    int rc;
    while ((rc = xml_next(r, &ev)) > 0)
        ;
    return rc;
}

/* Read up to the root START; checks its name when want is not NULL. */
static int open_root(struct xml_reader *r, const char *want, struct slice *name)
{
    struct xml_event ev;
    int rc;
    while ((rc = xml_next(r, &ev)) > 0) {
        if (ev.type == XML_START) {
            if (name)
                *name = ev.name;
            if (want && !slice_eq_str(ev.name, want))
                return STRATA_EPARSE;
            return 0;
        }
    }
    return STRATA_EPARSE;
}

int s3_xml_root_name(const char *body, size_t len, char *out, size_t cap)
{
    struct xml_reader r;
    xml_reader_init(&r, body, len);
    struct slice name;
    if (cap == 0 || open_root(&r, NULL, &name) < 0)
        return STRATA_EPARSE;
    size_t n = name.len < cap - 1 ? name.len : cap - 1;
    memcpy(out, name.ptr, n);
    out[n] = '\0';
    return 0;
}

int s3_xml_parse_error(const char *body, size_t len, struct s3_xml_error *out)
{
    memset(out, 0, sizeof(*out));
    struct xml_reader r;
    xml_reader_init(&r, body, len);
    struct buf t;
    buf_init(&t, LEAF_MAX);
    char key[256] = "", bucket[256] = "";
    int rc = open_root(&r, "Error", NULL);
    struct xml_event ev;
    while (!rc && (rc = xml_next(&r, &ev)) > 0) {
        rc = 0;
        if (ev.type != XML_START || ev.depth != 2)
            continue;
        struct slice n = ev.name;
        rc = read_leaf(&r, 2, &t);
        if (rc)
            break;
        if (slice_eq_str(n, "Code"))
            copy_fixed(out->code, sizeof(out->code), &t);
        else if (slice_eq_str(n, "Message"))
            copy_fixed(out->message, sizeof(out->message), &t);
        else if (slice_eq_str(n, "RequestId"))
            copy_fixed(out->request_id, sizeof(out->request_id), &t);
        else if (slice_eq_str(n, "Resource"))
            copy_fixed(out->resource, sizeof(out->resource), &t);
        else if (slice_eq_str(n, "Key"))
            copy_fixed(key, sizeof(key), &t);
        else if (slice_eq_str(n, "BucketName"))
            copy_fixed(bucket, sizeof(bucket), &t);
    }
    buf_release(&t);
    if (rc < 0 || !out->code[0]) {
        memset(out, 0, sizeof(*out));
        return STRATA_EPARSE;
    }
    if (!out->resource[0])
        snprintf(out->resource, sizeof(out->resource), "%s", key[0] ? key : bucket);
    return 0;
}

int s3_xml_child_text(const char *body, size_t len, const char *name, struct arena *a, char **out)
{
    *out = NULL;
    struct xml_reader r;
    xml_reader_init(&r, body, len);
    struct buf t;
    buf_init(&t, LEAF_MAX);
    int rc = open_root(&r, NULL, NULL);
    struct xml_event ev;
    while (!rc && (rc = xml_next(&r, &ev)) > 0) {
        rc = 0;
        if (ev.type != XML_START || ev.depth != 2 || !slice_eq_str(ev.name, name))
            continue;
        rc = read_leaf(&r, 2, &t);
        if (!rc && !*out)
            *out = dup_text(a, &t);
    }
    buf_release(&t);
    if (rc < 0) {
        *out = NULL;
        return STRATA_EPARSE;
    }
    return *out ? 0 : STRATA_ENOTFOUND;
}

/* Grow an arena array of n items to hold n + 1 (capacity doubles; cap tracked by caller). */
static void *grow(struct arena *a, void *arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return arr;
    size_t nc = *cap ? *cap * 2 : 16;
    void *na = arena_alloc(a, nc * size);
    if (n)
        memcpy(na, arr, n * size);
    *cap = nc;
    return na;
}

static int parse_int64(const struct buf *t, int64_t *v)
{
    return clock_parse_int64(slice_trim(buf_slice(t)), v);
}

static int64_t parse_time(const struct buf *t)
{
    int64_t ns = 0;
    if (clock_parse_rfc3339(slice_trim(buf_slice(t)), &ns) < 0)
        return 0;
    return ns;
}

static int url_decode_str(char *s)
{
    if (!s)
        return 0;
    long n = s3_url_decode_inplace(s, strlen(s));
    if (n < 0)
        return STRATA_EPARSE;
    s[n] = '\0';
    return 0;
}

/*
 * The shape every paged S3 answer shares: a root element whose children are
 * either page fields (leaves: IsTruncated, NextContinuationToken, ...) or
 * records (Contents, Upload, Deleted, ...) made of leaves. walk_page reads
 * the document once and hands each piece to the answer's callbacks.
 */
struct page_walk {
    const char *root;
    /* Is this depth-2 element a record? If so, it starts one (return 1); 0: a page field. */
    int (*record)(void *arg, struct slice name);
    /* A page field, or a leaf of the current record (parent = the record's name). */
    int (*field)(void *arg, struct slice parent, struct slice name, const struct buf *text);
    /* The current record ended. */
    void (*record_end)(void *arg);
};

static int walk_page(const char *body, size_t len, const struct page_walk *w, void *arg)
{
    struct xml_reader r;
    xml_reader_init(&r, body, len);
    struct buf t;
    buf_init(&t, LEAF_MAX);
    int rc = open_root(&r, w->root, NULL);
    bool in_record = false;
    struct xml_event ev;
    while (!rc && (rc = xml_next(&r, &ev)) > 0) {
        rc = 0;
        if (ev.type == XML_END && ev.depth == 2 && in_record) {
            in_record = false;
            if (w->record_end)
                w->record_end(arg);
        }
        if (ev.type != XML_START || ev.depth > 3)
            continue;
        if (ev.depth == 2 && w->record(arg, ev.name)) {
            in_record = true;
            continue;
        }
        struct slice parent = ev.depth == 3 ? xml_element_at(&r, 2) : slice_make("", 0);
        struct slice name = ev.name;
        rc = read_leaf(&r, ev.depth, &t);
        if (!rc && (ev.depth == 2 || in_record))
            rc = w->field(arg, parent, name, &t);
    }
    if (rc >= 0)
        rc = finish(&r);
    buf_release(&t);
    return rc < 0 ? STRATA_EPARSE : 0;
}

static bool text_is(const struct buf *t, const char *s)
{
    return slice_eq_str(slice_trim(buf_slice(t)), s);
}

/* ---- ListObjectsV2 ---- */

struct list_state {
    struct arena *a;
    struct s3_list_result *out;
    size_t cap_o, cap_p;
    struct s3_object_entry *cur;
};

static int list_record(void *arg, struct slice name)
{
    struct list_state *st = arg;
    if (slice_eq_str(name, "Contents")) {
        struct s3_list_result *o = st->out;
        o->objects = grow(st->a, o->objects, o->n_objects, &st->cap_o, sizeof(*o->objects));
        st->cur = &o->objects[o->n_objects++];
        memset(st->cur, 0, sizeof(*st->cur));
        st->cur->size = -1;
        return 1;
    }
    return slice_eq_str(name, "CommonPrefixes");
}

static int list_field(void *arg, struct slice parent, struct slice name, const struct buf *t)
{
    struct list_state *st = arg;
    struct s3_list_result *o = st->out;
    if (!parent.len) {
        if (slice_eq_str(name, "IsTruncated"))
            o->truncated = text_is(t, "true");
        else if (slice_eq_str(name, "NextContinuationToken"))
            o->next_token = dup_text(st->a, t);
        else if (slice_eq_str(name, "EncodingType"))
            o->url_encoded = text_is(t, "url");
    } else if (slice_eq_str(parent, "Contents") && st->cur) {
        if (slice_eq_str(name, "Key"))
            st->cur->key = dup_text(st->a, t);
        else if (slice_eq_str(name, "Size"))
            return parse_int64(t, &st->cur->size);
        else if (slice_eq_str(name, "ETag"))
            st->cur->etag = dup_text(st->a, t);
        else if (slice_eq_str(name, "LastModified"))
            st->cur->last_modified_ns = parse_time(t);
    } else if (slice_eq_str(parent, "CommonPrefixes") && slice_eq_str(name, "Prefix")) {
        o->prefixes = grow(st->a, o->prefixes, o->n_prefixes, &st->cap_p, sizeof(char *));
        o->prefixes[o->n_prefixes++] = dup_text(st->a, t);
    }
    return 0;
}

static void list_record_end(void *arg)
{
    ((struct list_state *)arg)->cur = NULL;
}

int s3_xml_parse_list(const char *body, size_t len, struct arena *a, struct s3_list_result *out)
{
    memset(out, 0, sizeof(*out));
    struct list_state st = {a, out, 0, 0, NULL};
    static const struct page_walk w = {"ListBucketResult", list_record, list_field,
                                       list_record_end};
    int rc = walk_page(body, len, &w, &st);
    for (size_t i = 0; rc >= 0 && i < out->n_objects; i++)
        if (!out->objects[i].key || out->objects[i].size < 0)
            rc = STRATA_EPARSE;
    for (size_t i = 0; rc >= 0 && out->url_encoded && i < out->n_objects; i++)
        rc = url_decode_str(out->objects[i].key);
    for (size_t i = 0; rc >= 0 && out->url_encoded && i < out->n_prefixes; i++)
        rc = url_decode_str(out->prefixes[i]);
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
        return STRATA_EPARSE;
    }
    return 0;
}

/* ---- ListMultipartUploads ---- */

struct uploads_state {
    struct arena *a;
    struct s3_uploads_result *out;
    size_t cap;
    bool url;
    struct s3_upload_entry *cur;
};

static int uploads_record(void *arg, struct slice name)
{
    struct uploads_state *st = arg;
    if (slice_eq_str(name, "Upload")) {
        struct s3_uploads_result *o = st->out;
        o->uploads = grow(st->a, o->uploads, o->n_uploads, &st->cap, sizeof(*o->uploads));
        st->cur = &o->uploads[o->n_uploads++];
        memset(st->cur, 0, sizeof(*st->cur));
        return 1;
    }
    return slice_eq_str(name, "CommonPrefixes");
}

static int uploads_field(void *arg, struct slice parent, struct slice name, const struct buf *t)
{
    struct uploads_state *st = arg;
    struct s3_uploads_result *o = st->out;
    if (!parent.len) {
        if (slice_eq_str(name, "IsTruncated"))
            o->truncated = text_is(t, "true");
        else if (slice_eq_str(name, "NextKeyMarker"))
            o->next_key_marker = dup_text(st->a, t);
        else if (slice_eq_str(name, "NextUploadIdMarker"))
            o->next_upload_id_marker = dup_text(st->a, t);
        else if (slice_eq_str(name, "EncodingType"))
            st->url = text_is(t, "url");
    } else if (slice_eq_str(parent, "Upload") && st->cur) {
        if (slice_eq_str(name, "Key"))
            st->cur->key = dup_text(st->a, t);
        else if (slice_eq_str(name, "UploadId"))
            st->cur->upload_id = dup_text(st->a, t);
        else if (slice_eq_str(name, "Initiated"))
            st->cur->initiated_ns = parse_time(t);
    }
    return 0;
}

static void uploads_record_end(void *arg)
{
    ((struct uploads_state *)arg)->cur = NULL;
}

int s3_xml_parse_uploads(const char *body, size_t len, struct arena *a,
                         struct s3_uploads_result *out)
{
    memset(out, 0, sizeof(*out));
    struct uploads_state st = {a, out, 0, false, NULL};
    static const struct page_walk w = {"ListMultipartUploadsResult", uploads_record, uploads_field,
                                       uploads_record_end};
    int rc = walk_page(body, len, &w, &st);
    for (size_t i = 0; rc >= 0 && i < out->n_uploads; i++) {
        if (!out->uploads[i].key || !out->uploads[i].upload_id)
            rc = STRATA_EPARSE;
        else if (st.url)
            rc = url_decode_str(out->uploads[i].key);
    }
    if (rc >= 0 && st.url)
        rc = url_decode_str(out->next_key_marker);
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
        return STRATA_EPARSE;
    }
    return 0;
}

/* ---- DeleteObjects ---- */

struct delete_state {
    struct arena *a;
    struct s3_delete_result *out;
    size_t cap;
    struct s3_delete_failure *cur;
};

static int delete_record(void *arg, struct slice name)
{
    struct delete_state *st = arg;
    struct s3_delete_result *o = st->out;
    if (slice_eq_str(name, "Deleted")) {
        o->n_deleted++;
        return 1;
    }
    if (slice_eq_str(name, "Error")) {
        o->failed = grow(st->a, o->failed, o->n_failed, &st->cap, sizeof(*o->failed));
        st->cur = &o->failed[o->n_failed++];
        memset(st->cur, 0, sizeof(*st->cur));
        return 1;
    }
    return 0;
}

static int delete_field(void *arg, struct slice parent, struct slice name, const struct buf *t)
{
    struct delete_state *st = arg;
    if (!slice_eq_str(parent, "Error") || !st->cur)
        return 0;
    if (slice_eq_str(name, "Key"))
        st->cur->key = dup_text(st->a, t);
    else if (slice_eq_str(name, "Code"))
        st->cur->code = dup_text(st->a, t);
    else if (slice_eq_str(name, "Message"))
        st->cur->message = dup_text(st->a, t);
    return 0;
}

static void delete_record_end(void *arg)
{
    ((struct delete_state *)arg)->cur = NULL;
}

int s3_xml_parse_delete(const char *body, size_t len, struct arena *a, struct s3_delete_result *out)
{
    memset(out, 0, sizeof(*out));
    struct delete_state st = {a, out, 0, NULL};
    static const struct page_walk w = {"DeleteResult", delete_record, delete_field,
                                       delete_record_end};
    if (walk_page(body, len, &w, &st) < 0) {
        memset(out, 0, sizeof(*out));
        return STRATA_EPARSE;
    }
    for (size_t i = 0; i < out->n_failed; i++) {
        struct s3_delete_failure *f = &out->failed[i];
        if (!f->key)
            f->key = arena_strdup(a, "");
        if (!f->code)
            f->code = arena_strdup(a, "InternalError");
        if (!f->message)
            f->message = arena_strdup(a, "");
    }
    return 0;
}

/* A non-negative decimal int64 at *p, advancing it; STRATA_EPARSE otherwise. */
static int take_uint(const char **p, const char *end, int64_t *v)
{
    const char *s = *p;
    while (*p < end && **p >= '0' && **p <= '9')
        (*p)++;
    if (*p == s)
        return STRATA_EPARSE;
    return clock_parse_int64(slice_make(s, (size_t)(*p - s)), v);
}

int s3_parse_content_range(struct slice v, int64_t *first, int64_t *last, int64_t *total)
{
    v = slice_trim(v);
    const char *p = v.ptr, *end = v.ptr + v.len;
    if (!slice_has_prefix(v, "bytes "))
        return STRATA_EPARSE;
    p += 6;
    while (p < end && *p == ' ')
        p++;
    int64_t f = -1, l = -1, t = -1;
    if (p < end && *p == '*') {
        p++;
    } else {
        if (take_uint(&p, end, &f) < 0 || p >= end || *p != '-')
            return STRATA_EPARSE;
        p++;
        if (take_uint(&p, end, &l) < 0 || l < f)
            return STRATA_EPARSE;
    }
    if (p >= end || *p != '/')
        return STRATA_EPARSE;
    p++;
    if (p < end && *p == '*')
        p++;
    else if (take_uint(&p, end, &t) < 0)
        return STRATA_EPARSE;
    if (p != end || (t >= 0 && l >= t))
        return STRATA_EPARSE;
    *first = f;
    *last = l;
    *total = t;
    return 0;
}
