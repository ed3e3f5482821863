#include "ingest/pbwire.h"

static int read_varint(struct pb_reader *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return STRATA_EPARSE;
        unsigned char c = *r->p++;
        if (shift == 63 && c > 1)
            return STRATA_EPARSE; /* more than 64 bits */
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return STRATA_EPARSE;
}

/* Skip a group whose start tag (field num) was just read; nesting is bounded. */
static int skip_group(struct pb_reader *r, uint32_t num, int depth)
{
    if (depth > 32)
        return STRATA_EPARSE;
    for (;;) {
        uint64_t key, v;
        if (read_varint(r, &key) < 0)
            return STRATA_EPARSE;
        if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
            return STRATA_EPARSE;
        uint32_t n = (uint32_t)(key >> 3);
        int t = (int)(key & 7);
        if (t == PB_EGROUP)
            return n == num ? 0 : STRATA_EPARSE;
        if (t == PB_SGROUP) {
            if (skip_group(r, n, depth + 1) < 0)
                return STRATA_EPARSE;
            continue;
        }
        switch (t) {
        case PB_VARINT:
            if (read_varint(r, &v) < 0)
                return STRATA_EPARSE;
            break;
        case PB_I64:
            if (r->end - r->p < 8)
                return STRATA_EPARSE;
            r->p += 8;
            break;
        case PB_I32:
            if (r->end - r->p < 4)
                return STRATA_EPARSE;
            r->p += 4;
            break;
        case PB_LEN: {
            uint64_t len;
            if (read_varint(r, &len) < 0 || len > (uint64_t)(r->end - r->p))
                return STRATA_EPARSE;
            r->p += len;
            break;
        }
        default: return STRATA_EPARSE;
        }
    }
}

int pb_next(struct pb_reader *r, struct pb_field *f)
{
    for (;;) {
        if (r->p >= r->end)
            return 0;
        uint64_t key;
        if (read_varint(r, &key) < 0)
            return STRATA_EPARSE;
        if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
            return STRATA_EPARSE;
        f->num = (uint32_t)(key >> 3);
        f->type = (enum pb_wire_type)(key & 7);
        f->u = 0;
        f->bytes = (struct slice){"", 0};
        switch (f->type) {
        case PB_VARINT: return read_varint(r, &f->u) < 0 ? STRATA_EPARSE : 1;
        case PB_I64:
            if (r->end - r->p < 8)
                return STRATA_EPARSE;
            for (int i = 7; i >= 0; i--)
                f->u = (f->u << 8) | r->p[i];
            r->p += 8;
            return 1;
        case PB_I32:
            if (r->end - r->p < 4)
                return STRATA_EPARSE;
            for (int i = 3; i >= 0; i--)
                f->u = (f->u << 8) | r->p[i];
            r->p += 4;
            return 1;
        case PB_LEN: {
            uint64_t len;
            if (read_varint(r, &len) < 0 || len > (uint64_t)(r->end - r->p))
                return STRATA_EPARSE;
            f->bytes = (struct slice){(const char *)r->p, (size_t)len};
            r->p += len;
            return 1;
        }
        case PB_SGROUP:
            /* Groups are not used by any message we read: skip them whole. */
            if (skip_group(r, f->num, 0) < 0)
                return STRATA_EPARSE;
            continue;
        default: return STRATA_EPARSE; /* a lone end-group, or wire type 6/7 */
        }
    }
}

const char *pb_type_name(enum pb_wire_type t)
{
    switch (t) {
    case PB_VARINT: return "varint";
    case PB_I64: return "fixed64";
    case PB_LEN: return "length-delimited";
    case PB_SGROUP: return "group";
    case PB_EGROUP: return "end-group";
    case PB_I32: return "fixed32";
    }
    return "invalid";
}

int pb_put_tag(struct buf *b, uint32_t num, enum pb_wire_type t)
{
    return buf_put_uvarint(b, ((uint64_t)num << 3) | (uint64_t)t);
}

int pb_put_varint_field(struct buf *b, uint32_t num, uint64_t v)
{
    int rc = pb_put_tag(b, num, PB_VARINT);
    return rc ? rc : buf_put_uvarint(b, v);
}

int pb_put_bytes_field(struct buf *b, uint32_t num, const void *p, size_t n)
{
    int rc = pb_put_tag(b, num, PB_LEN);
    if (!rc)
        rc = buf_put_uvarint(b, n);
    return rc ? rc : buf_append(b, p, n);
}

int pb_put_fixed64_field(struct buf *b, uint32_t num, uint64_t v)
{
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    int rc = pb_put_tag(b, num, PB_I64);
    return rc ? rc : buf_append(b, le, 8);
}
