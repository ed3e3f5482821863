#include "store/record.h"

#include <string.h>

#include "core/err.h"

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static int put_bytes(struct buf *b, const void *p, size_t n)
{
    int rc = buf_put_uvarint(b, n);
    return rc ? rc : buf_append(b, n ? p : "", n);
}

int record_encode(struct buf *out, const struct push_batch *b, const uint8_t *accept)
{
    struct buf tmp;
    buf_init(&tmp, out->max);
    struct labels_encoder menc;
    labels_encoder_init(&menc);
    uint32_t streams = 0;
    uint64_t k = 0;
    for (uint32_t i = 0; i < b->n_streams; i++) {
        bool any = false;
        for (uint32_t j = 0; j < b->streams[i].n_entries; j++)
            any |= !accept || accept[k + j] == 1;
        k += b->streams[i].n_entries;
        streams += any;
    }
    int rc = put_bytes(out, b->tenant, strlen(b->tenant));
    if (!rc)
        rc = buf_put_uvarint(out, streams);
    k = 0;
    for (uint32_t i = 0; i < b->n_streams && !rc; i++) {
        const struct stream_batch *s = &b->streams[i];
        uint32_t n = 0;
        for (uint32_t j = 0; j < s->n_entries; j++)
            n += !accept || accept[k + j] == 1;
        if (!n) {
            k += s->n_entries;
            continue;
        }
        buf_reset(&tmp);
        rc = labels_encode(&tmp, s->labels, s->n_labels);
        if (!rc)
            rc = put_bytes(out, tmp.ptr, tmp.len);
        if (!rc)
            rc = buf_put_uvarint(out, n);
        int64_t prev = 0;
        for (uint32_t j = 0; j < s->n_entries && !rc; j++, k++) {
            if (accept && accept[k] != 1)
                continue;
            const struct entry *e = &s->entries[j];
            rc = buf_put_uvarint(out, zigzag((int64_t)((uint64_t)e->ts - (uint64_t)prev)));
            prev = e->ts;
            if (!rc)
                rc = put_bytes(out, e->line.ptr, e->line.len);
            if (!rc && e->n_meta) {
                struct slice m;
                rc = labels_encoder_encode(&menc, e->meta, e->n_meta, &m);
                if (!rc)
                    rc = put_bytes(out, m.ptr, m.len);
            } else if (!rc) {
                rc = buf_put_uvarint(out, 0);
            }
        }
    }
    buf_release(&tmp);
    labels_encoder_release(&menc);
    return rc;
}

static int get_uv(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    return uvarint_read(p, end, v) < 0 ? STRATA_ECORRUPT : 0;
}

static int get_bytes(const unsigned char **p, const unsigned char *end, struct slice *out)
{
    uint64_t n;
    if (get_uv(p, end, &n) < 0 || n > (uint64_t)(end - *p))
        return STRATA_ECORRUPT;
    *out = (struct slice){(const char *)*p, (size_t)n};
    *p += n;
    return 0;
}

int record_decode(const void *payload, size_t len, struct push_batch *b)
{
    const unsigned char *p = payload, *end = p + len;
    struct slice tenant;
    if (get_bytes(&p, end, &tenant) < 0 || tenant.len == 0 || tenant.len > TENANT_MAX ||
        memchr(tenant.ptr, '\0', tenant.len))
        return STRATA_ECORRUPT;
    memcpy(b->tenant, tenant.ptr, tenant.len);
    b->tenant[tenant.len] = '\0';
    uint64_t ns;
    if (get_uv(&p, end, &ns) < 0 || ns > (uint64_t)(end - p))
        return STRATA_ECORRUPT;
    for (uint64_t i = 0; i < ns; i++) {
        struct slice enc;
        struct label *labels;
        uint32_t nl;
        uint64_t ne;
        if (get_bytes(&p, end, &enc) < 0 || labels_decode(enc, &b->arena, &labels, &nl) < 0 ||
            get_uv(&p, end, &ne) < 0 || ne > (uint64_t)(end - p) / 3 || ne > UINT32_MAX)
            return STRATA_ECORRUPT;
        /* Labels must be in the normal form every push path produces. */
        for (uint32_t j = 1; j < nl; j++)
            if (slice_cmp(labels[j - 1].name, labels[j].name) >= 0)
                return STRATA_ECORRUPT;
        uint32_t si = push_batch_stream(b, labels, nl);
        int64_t ts = 0;
        for (uint64_t j = 0; j < ne; j++) {
            uint64_t d;
            struct slice line, meta;
            if (get_uv(&p, end, &d) < 0 || get_bytes(&p, end, &line) < 0 ||
                get_bytes(&p, end, &meta) < 0)
                return STRATA_ECORRUPT;
            ts = (int64_t)((uint64_t)ts + (uint64_t)unzigzag(d));
            struct label *mv = NULL;
            uint32_t nm = 0;
            if (meta.len && labels_decode(meta, &b->arena, &mv, &nm) < 0)
                return STRATA_ECORRUPT;
            push_batch_add(b, si, ts, line, mv, nm);
        }
    }
    return p == end ? 0 : STRATA_ECORRUPT;
}
