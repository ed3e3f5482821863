/*
 * s3_manifest.c - the manifest document and the key layout (s3_manifest.h
 * specifies both).
 */
#include "remote/s3_manifest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "ingest/batch.h"

#define FORMAT_NAME "strata-s3-manifest"

void s3_manifest_init(struct s3_manifest *m)
{
    memset(m, 0, sizeof(*m));
}

void s3_manifest_release(struct s3_manifest *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->n_parts; i++) {
        free(m->parts[i].key);
        free(m->parts[i].tenant);
    }
    for (uint32_t i = 0; i < m->n_retired; i++)
        free(m->retired[i].key);
    free(m->parts);
    free(m->retired);
    free(m->writer);
    memset(m, 0, sizeof(*m));
}

void s3_manifest_add_part(struct s3_manifest *m, const struct s3_manifest_part *p)
{
    if (m->n_parts == m->cap_parts) {
        m->cap_parts = m->cap_parts ? m->cap_parts * 2 : 16;
        m->parts = xreallocarray(m->parts, m->cap_parts, sizeof(*m->parts));
    }
    struct s3_manifest_part *d = &m->parts[m->n_parts++];
    *d = *p;
    d->key = xstrdup(p->key);
    d->tenant = xstrdup(p->tenant);
}

void s3_manifest_remove_part(struct s3_manifest *m, uint32_t i)
{
    free(m->parts[i].key);
    free(m->parts[i].tenant);
    memmove(&m->parts[i], &m->parts[i + 1], (m->n_parts - i - 1) * sizeof(*m->parts));
    m->n_parts--;
}

void s3_manifest_add_retired(struct s3_manifest *m, const char *key, int64_t since_ns)
{
    if (m->n_retired == m->cap_retired) {
        m->cap_retired = m->cap_retired ? m->cap_retired * 2 : 16;
        m->retired = xreallocarray(m->retired, m->cap_retired, sizeof(*m->retired));
    }
    m->retired[m->n_retired++] = (struct s3_manifest_retired){xstrdup(key), since_ns};
}

void s3_manifest_remove_retired(struct s3_manifest *m, uint32_t i)
{
    free(m->retired[i].key);
    memmove(&m->retired[i], &m->retired[i + 1], (m->n_retired - i - 1) * sizeof(*m->retired));
    m->n_retired--;
}

void s3_manifest_copy(struct s3_manifest *dst, const struct s3_manifest *src)
{
    s3_manifest_release(dst);
    dst->writer = src->writer ? xstrdup(src->writer) : NULL;
    dst->generation = src->generation;
    dst->updated_ns = src->updated_ns;
    for (uint32_t i = 0; i < src->n_parts; i++)
        s3_manifest_add_part(dst, &src->parts[i]);
    for (uint32_t i = 0; i < src->n_retired; i++)
        s3_manifest_add_retired(dst, src->retired[i].key, src->retired[i].since_ns);
}

int s3_manifest_find(const struct s3_manifest *m, const char *key)
{
    for (uint32_t i = 0; i < m->n_parts; i++)
        if (!strcmp(m->parts[i].key, key))
            return (int)i;
    return -1;
}

/* ---- keys ---- */

int s3_part_key(char *out, size_t cap, const char *prefix, const char *tenant, int64_t min_ts,
                uint64_t uid)
{
    int64_t day = min_ts >= 0 ? min_ts / NS_PER_DAY : -((-min_ts + NS_PER_DAY - 1) / NS_PER_DAY);
    char date[40];
    clock_format_rfc3339(day * NS_PER_DAY, date);
    date[10] = '\0';
    int n = snprintf(out, cap, "%s/%s/%s/%016" PRIx64 ".part", prefix, tenant, date, uid);
    if (n < 0 || (size_t)n >= cap || n > S3_KEY_MAX)
        return STRATA_EINVAL;
    return 0;
}

int s3_manifest_key(char *out, size_t cap, const char *prefix)
{
    int n = snprintf(out, cap, "%s/%s", prefix, S3_MANIFEST_NAME);
    if (n < 0 || (size_t)n >= cap || n > S3_KEY_MAX)
        return STRATA_EINVAL;
    return 0;
}

/* ---- encoding ---- */

static void hex64(struct json_writer *w, uint64_t v)
{
    char h[17];
    snprintf(h, sizeof(h), "%016" PRIx64, v);
    jw_string(w, h);
}

int s3_manifest_encode(const struct s3_manifest *m, struct buf *out)
{
    struct json_writer w;
    json_writer_init(&w, out);
    jw_object_begin(&w);
    jw_key(&w, "format");
    jw_string(&w, FORMAT_NAME);
    jw_key(&w, "version");
    jw_int(&w, 1);
    jw_key(&w, "writer");
    jw_string(&w, m->writer ? m->writer : "");
    jw_key(&w, "generation");
    jw_uint(&w, m->generation);
    jw_key(&w, "updated_ns");
    jw_int(&w, m->updated_ns);
    jw_key(&w, "parts");
    jw_array_begin(&w);
    for (uint32_t i = 0; i < m->n_parts; i++) {
        const struct s3_manifest_part *p = &m->parts[i];
        jw_object_begin(&w);
        jw_key(&w, "key");
        jw_string(&w, p->key);
        jw_key(&w, "tenant");
        jw_string(&w, p->tenant);
        jw_key(&w, "uid");
        hex64(&w, p->uid);
        jw_key(&w, "id");
        hex64(&w, p->id);
        jw_key(&w, "level");
        jw_uint(&w, p->level);
        jw_key(&w, "size");
        jw_uint(&w, p->size);
        jw_key(&w, "index_off");
        jw_uint(&w, p->index_off);
        jw_key(&w, "etag");
        jw_string(&w, p->etag);
        jw_key(&w, "min_ts");
        jw_int(&w, p->min_ts);
        jw_key(&w, "max_ts");
        jw_int(&w, p->max_ts);
        jw_key(&w, "created_ns");
        jw_int(&w, p->created_ns);
        jw_key(&w, "entries");
        jw_uint(&w, p->entries);
        jw_key(&w, "bytes");
        jw_uint(&w, p->bytes);
        jw_key(&w, "streams");
        jw_uint(&w, p->streams);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "retired");
    jw_array_begin(&w);
    for (uint32_t i = 0; i < m->n_retired; i++) {
        jw_object_begin(&w);
        jw_key(&w, "key");
        jw_string(&w, m->retired[i].key);
        jw_key(&w, "since_ns");
        jw_int(&w, m->retired[i].since_ns);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    return w.rc;
}

/* ---- decoding ---- */

struct dec {
    struct json_reader r;
    struct arena a;
    const char *prefix;
    size_t prefix_len;
    const char *why; /* our own complaint, when the JSON is fine but a value is not */
};

static int bad(struct dec *d, const char *why)
{
    if (!d->why)
        d->why = why;
    return STRATA_EPARSE;
}

static int read_cstr(struct dec *d, char **out, size_t max)
{
    struct slice s;
    int rc = json_read_string(&d->r, &d->a, &s);
    if (rc < 0)
        return rc;
    if (s.len > max || memchr(s.ptr, '\0', s.len))
        return bad(d, "a string is too long or holds a NUL byte");
    *out = arena_slice_str(&d->a, s);
    return 0;
}

static int read_u64(struct dec *d, uint64_t *out)
{
    int64_t v;
    int rc = json_read_int64(&d->r, &v);
    if (rc < 0)
        return rc;
    if (v < 0)
        return bad(d, "a count or size is negative");
    *out = (uint64_t)v;
    return 0;
}

static int read_hex64(struct dec *d, uint64_t *out)
{
    char *s;
    int rc = read_cstr(d, &s, 16);
    if (rc < 0)
        return rc;
    uint64_t v = 0;
    if (strlen(s) != 16)
        return bad(d, "an id is not 16 hex digits");
    for (const char *p = s; *p; p++) {
        int x = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (x < 0)
            return bad(d, "an id is not 16 lower-case hex digits");
        v = v << 4 | (uint64_t)x;
    }
    *out = v;
    return 0;
}

/* A key this writer may own: "<prefix>/" followed by at least one byte, at most S3_KEY_MAX. */
static bool key_ok(const struct dec *d, const char *key)
{
    size_t n = strlen(key);
    return n <= S3_KEY_MAX && n > d->prefix_len + 1 && !memcmp(key, d->prefix, d->prefix_len) &&
           key[d->prefix_len] == '/';
}

static int decode_part(struct dec *d, struct s3_manifest *m)
{
    struct s3_manifest_part p;
    memset(&p, 0, sizeof(p));
    char *etag = NULL;
    bool have_key = false, have_tenant = false, have_size = false, have_uid = false;
    int rc = json_enter_object(&d->r);
    struct slice k;
    while (rc >= 0 && (rc = json_next_key(&d->r, &d->a, &k)) > 0) {
        if (slice_eq_str(k, "key"))
            rc = read_cstr(d, &p.key, S3_KEY_MAX), have_key = rc == 0;
        else if (slice_eq_str(k, "tenant"))
            rc = read_cstr(d, &p.tenant, TENANT_MAX), have_tenant = rc == 0;
        else if (slice_eq_str(k, "uid"))
            rc = read_hex64(d, &p.uid), have_uid = rc == 0;
        else if (slice_eq_str(k, "id"))
            rc = read_hex64(d, &p.id);
        else if (slice_eq_str(k, "level")) {
            uint64_t v = 0;
            rc = read_u64(d, &v);
            if (!rc && v > 255)
                rc = bad(d, "a part level is out of range");
            p.level = (uint32_t)v;
        } else if (slice_eq_str(k, "size"))
            rc = read_u64(d, &p.size), have_size = rc == 0;
        else if (slice_eq_str(k, "index_off"))
            rc = read_u64(d, &p.index_off);
        else if (slice_eq_str(k, "etag"))
            rc = read_cstr(d, &etag, sizeof(p.etag) - 1);
        else if (slice_eq_str(k, "min_ts"))
            rc = json_read_int64(&d->r, &p.min_ts);
        else if (slice_eq_str(k, "max_ts"))
            rc = json_read_int64(&d->r, &p.max_ts);
        else if (slice_eq_str(k, "created_ns"))
            rc = json_read_int64(&d->r, &p.created_ns);
        else if (slice_eq_str(k, "entries"))
            rc = read_u64(d, &p.entries);
        else if (slice_eq_str(k, "bytes"))
            rc = read_u64(d, &p.bytes);
        else if (slice_eq_str(k, "streams"))
            rc = read_u64(d, &p.streams);
        else
            rc = json_skip(&d->r);
    }
    if (rc < 0)
        return rc;
    if (!have_key || !have_tenant || !have_size || !have_uid)
        return bad(d, "a part lacks its key, tenant, uid or size");
    if (!key_ok(d, p.key))
        return bad(d, "a part's key is not under the writer's prefix");
    if (!tenant_valid(p.tenant, strlen(p.tenant)))
        return bad(d, "a part's tenant is not a valid tenant name");
    /* The smallest part: a 16-byte header and a 256-byte footer. */
    if (p.size < 272 || p.index_off > p.size - 256 || (p.index_off && p.index_off < 16))
        return bad(d, "a part's size or index offset is impossible");
    if (p.min_ts > p.max_ts)
        return bad(d, "a part's time range is reversed");
    if (etag)
        snprintf(p.etag, sizeof(p.etag), "%s", etag);
    s3_manifest_add_part(m, &p);
    return 0;
}

static int decode_retired(struct dec *d, struct s3_manifest *m)
{
    char *key = NULL;
    int64_t since = 0;
    int rc = json_enter_object(&d->r);
    struct slice k;
    while (rc >= 0 && (rc = json_next_key(&d->r, &d->a, &k)) > 0) {
        if (slice_eq_str(k, "key"))
            rc = read_cstr(d, &key, S3_KEY_MAX);
        else if (slice_eq_str(k, "since_ns"))
            rc = json_read_int64(&d->r, &since);
        else
            rc = json_skip(&d->r);
    }
    if (rc < 0)
        return rc;
    if (!key || !key_ok(d, key))
        return bad(d, "a retired key is missing or not under the writer's prefix");
    s3_manifest_add_retired(m, key, since);
    return 0;
}

static int decode_array(struct dec *d, struct s3_manifest *m,
                        int (*one)(struct dec *, struct s3_manifest *))
{
    int rc = json_enter_array(&d->r);
    while (rc >= 0 && (rc = json_next_elem(&d->r)) > 0)
        rc = one(d, m);
    return rc;
}

int s3_manifest_decode(const char *data, size_t len, const char *prefix, struct s3_manifest *out,
                       char *err, size_t errlen)
{
    s3_manifest_release(out);
    struct dec d = {.prefix = prefix, .prefix_len = strlen(prefix)};
    arena_init(&d.a, 0);
    json_reader_init(&d.r, data, len, 8);
    bool format_ok = false, version_ok = false;
    int rc = json_enter_object(&d.r);
    struct slice k;
    while (rc >= 0 && (rc = json_next_key(&d.r, &d.a, &k)) > 0) {
        if (slice_eq_str(k, "format")) {
            struct slice v;
            rc = json_read_string(&d.r, &d.a, &v);
            format_ok = rc == 0 && slice_eq_str(v, FORMAT_NAME);
        } else if (slice_eq_str(k, "version")) {
            int64_t v = 0;
            rc = json_read_int64(&d.r, &v);
            version_ok = rc == 0 && v == 1;
        } else if (slice_eq_str(k, "writer")) {
            char *w;
            rc = read_cstr(&d, &w, 256);
            if (!rc) {
                free(out->writer);
                out->writer = xstrdup(w);
            }
        } else if (slice_eq_str(k, "generation")) {
            rc = read_u64(&d, &out->generation);
        } else if (slice_eq_str(k, "updated_ns")) {
            rc = json_read_int64(&d.r, &out->updated_ns);
        } else if (slice_eq_str(k, "parts")) {
            rc = decode_array(&d, out, decode_part);
        } else if (slice_eq_str(k, "retired")) {
            rc = decode_array(&d, out, decode_retired);
        } else {
            rc = json_skip(&d.r);
        }
    }
    if (rc >= 0)
        rc = json_finish(&d.r);
    if (rc >= 0 && (!format_ok || !version_ok))
        rc = bad(&d, "not a strata-s3-manifest of version 1");
    if (rc < 0) {
        char tmp[128];
        const char *jerr = json_reader_error(&d.r, tmp, sizeof(tmp));
        strata_errorf(err, errlen, "manifest %s/%s: %s", prefix, S3_MANIFEST_NAME,
                      d.why  ? d.why
                      : jerr ? jerr
                             : "malformed");
        s3_manifest_release(out);
        rc = STRATA_EPARSE;
    }
    arena_release(&d.a);
    return rc;
}
