#include "remote/clickhouse_rowbinary.h"

#include <string.h>

#include "core/err.h"
#include "ingest/labels.h"

static int put_le(struct buf *b, uint64_t v, int n)
{
    unsigned char t[8];
    for (int i = 0; i < n; i++)
        t[i] = (unsigned char)(v >> (8 * i));
    return buf_append(b, t, (size_t)n);
}

int rowbinary_put_u16(struct buf *b, uint16_t v)
{
    return put_le(b, v, 2);
}

int rowbinary_put_u32(struct buf *b, uint32_t v)
{
    return put_le(b, v, 4);
}

int rowbinary_put_u64(struct buf *b, uint64_t v)
{
    return put_le(b, v, 8);
}

int rowbinary_put_i64(struct buf *b, int64_t v)
{
    return put_le(b, (uint64_t)v, 8);
}

int rowbinary_put_len(struct buf *b, uint64_t n)
{
    return buf_put_uvarint(b, n);
}

int rowbinary_put_string(struct buf *b, struct slice s)
{
    int rc = buf_put_uvarint(b, s.len);
    return rc ? rc : buf_append(b, s.ptr, s.len);
}

int rowbinary_put_fixed(struct buf *b, struct slice s, size_t n)
{
    if (s.len > n)
        return STRATA_EINVAL;
    static const char zeros[64];
    int rc = buf_append(b, s.ptr, s.len);
    for (size_t left = n - s.len; !rc && left > 0;) {
        size_t k = left < sizeof(zeros) ? left : sizeof(zeros);
        rc = buf_append(b, zeros, k);
        left -= k;
    }
    return rc;
}

void rowbinary_reader_init(struct rowbinary_reader *r, struct slice data)
{
    r->p = (const unsigned char *)data.ptr;
    r->end = r->p + data.len;
    r->rc = 0;
}

bool rowbinary_done(const struct rowbinary_reader *r)
{
    return r->rc == 0 && r->p == r->end;
}

/* n bytes from the reader, or NULL (and the sticky error) when fewer are left. */
static const unsigned char *take(struct rowbinary_reader *r, size_t n)
{
    if (r->rc)
        return NULL;
    if ((size_t)(r->end - r->p) < n) {
        r->rc = STRATA_ECORRUPT;
        return NULL;
    }
    const unsigned char *p = r->p;
    r->p += n;
    return p;
}

static uint64_t get_le(struct rowbinary_reader *r, int n)
{
    const unsigned char *p = take(r, (size_t)n);
    uint64_t v = 0;
    for (int i = 0; p && i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint16_t rowbinary_u16(struct rowbinary_reader *r)
{
    return (uint16_t)get_le(r, 2);
}

uint32_t rowbinary_u32(struct rowbinary_reader *r)
{
    return (uint32_t)get_le(r, 4);
}

uint64_t rowbinary_u64(struct rowbinary_reader *r)
{
    return get_le(r, 8);
}

int64_t rowbinary_i64(struct rowbinary_reader *r)
{
    return (int64_t)get_le(r, 8);
}

uint64_t rowbinary_len(struct rowbinary_reader *r)
{
    if (r->rc)
        return 0;
    uint64_t n;
    if (uvarint_read(&r->p, r->end, &n) < 0 || n > (uint64_t)(r->end - r->p)) {
        r->rc = STRATA_ECORRUPT;
        return 0;
    }
    return n;
}

struct slice rowbinary_fixed(struct rowbinary_reader *r, size_t n)
{
    const unsigned char *p = take(r, n);
    return p ? slice_make((const char *)p, n) : slice_make("", 0);
}

struct slice rowbinary_string(struct rowbinary_reader *r)
{
    uint64_t n = rowbinary_len(r);
    return rowbinary_fixed(r, (size_t)n);
}
