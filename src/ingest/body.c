#include "ingest/body.h"

#include <snappy-c.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "core/err.h"

#define CHUNK (256 * 1024)

static int too_large(size_t max, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "request body too large: more than %zu bytes after decompression "
             "(--ingest.max-decompressed-bytes)",
             max);
    return STRATA_ETOOLARGE;
}

/* True when p starts with a zlib (RFC 1950) header: CM=8, window <= 32K, FCHECK valid. */
static bool zlib_header(struct slice in)
{
    if (in.len < 2)
        return false;
    unsigned char a = (unsigned char)in.ptr[0], b = (unsigned char)in.ptr[1];
    return (a & 0x0f) == 8 && (a >> 4) <= 7 && ((a << 8) | b) % 31 == 0;
}

static int inflate_all(struct slice in, int window_bits, bool members, size_t max, struct buf *dst,
                       char *err, size_t errlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, window_bits) != Z_OK) {
        snprintf(err, errlen, "cannot start decompression");
        return STRATA_EINTERNAL;
    }
    z.next_in = (Bytef *)in.ptr;
    z.avail_in = (uInt)in.len;
    int rc = 0;
    for (;;) {
        /* Inflate at most max + 1 bytes: the extra byte tells "exactly max" from "more". */
        if (dst->len > max) {
            rc = too_large(max, err, errlen);
            break;
        }
        size_t want = max + 1 - dst->len;
        if (want > CHUNK)
            want = CHUNK;
        if (buf_reserve(dst, want) < 0) {
            rc = too_large(max, err, errlen);
            break;
        }
        z.next_out = (Bytef *)dst->ptr + dst->len;
        z.avail_out = (uInt)want;
        int zr = inflate(&z, Z_NO_FLUSH);
        dst->len += want - z.avail_out;
        dst->ptr[dst->len] = '\0';
        if (zr == Z_OK)
            continue;
        if (zr == Z_STREAM_END) {
            if (members) {
                /* Concatenated gzip members are read in turn; trailing zero padding is ignored. */
                while (z.avail_in && *z.next_in == 0)
                    z.next_in++, z.avail_in--;
                if (!z.avail_in)
                    break;
                if (inflateReset(&z) != Z_OK) {
                    rc = STRATA_EINTERNAL;
                    break;
                }
                continue;
            }
            if (z.avail_in) {
                snprintf(err, errlen, "corrupt compressed body: data after the end of the stream");
                rc = STRATA_EPARSE;
            }
            break;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0)
            snprintf(err, errlen, "corrupt compressed body: unexpected end of data");
        else
            snprintf(err, errlen, "corrupt compressed body: %s", z.msg ? z.msg : "bad data");
        rc = STRATA_EPARSE;
        break;
    }
    if (rc == 0 && dst->len > max)
        rc = too_large(max, err, errlen);
    inflateEnd(&z);
    return rc;
}

int body_decode_encoding(const char *encoding, struct slice in, size_t max, struct buf *dst,
                         struct slice *out, char *err, size_t errlen)
{
    if (!encoding || !encoding[0] || !strcasecmp(encoding, "identity") ||
        !strcasecmp(encoding, "snappy")) {
        *out = in;
        return 0;
    }
    int rc;
    /* Our own maximum on dst: its capacity then never passes max + 2 bytes. */
    buf_release(dst);
    buf_init(dst, max + 1);
    if (!strcasecmp(encoding, "gzip") || !strcasecmp(encoding, "x-gzip")) {
        rc = inflate_all(in, 16 + 15, true, max, dst, err, errlen);
    } else if (!strcasecmp(encoding, "deflate")) {
        rc = inflate_all(in, zlib_header(in) ? 15 : -15, false, max, dst, err, errlen);
    } else {
        snprintf(err, errlen, "Content-Encoding \"%s\" not supported", encoding);
        return STRATA_EUNSUPPORTED;
    }
    if (rc < 0)
        return rc;
    *out = buf_slice(dst);
    return 0;
}

int body_snappy_decode(struct slice in, size_t max, struct buf *dst, struct slice *out, char *err,
                       size_t errlen)
{
    size_t n;
    if (snappy_uncompressed_length(in.ptr, in.len, &n) != SNAPPY_OK) {
        snprintf(err, errlen, "snappy: corrupt input (not a snappy block)");
        return STRATA_EPARSE;
    }
    if (n > max) {
        snprintf(err, errlen,
                 "request body too large: the snappy block declares %zu bytes, limit: %zu bytes "
                 "(--ingest.max-decompressed-bytes)",
                 n, max);
        return STRATA_ETOOLARGE;
    }
    /* A block expands at most about 21845x (one 2-byte copy yields 64 bytes, ...): a
     * declared length out of all proportion with the input is corrupt, not large. */
    if (n / 64 > in.len + 64) {
        snprintf(err, errlen, "snappy: corrupt input (declared length %zu for %zu bytes)", n,
                 in.len);
        return STRATA_EPARSE;
    }
    buf_release(dst);
    buf_init(dst, n + 1);
    if (buf_reserve(dst, n) < 0)
        return too_large(max, err, errlen);
    size_t got = n;
    if (snappy_uncompress(in.ptr, in.len, dst->ptr, &got) != SNAPPY_OK || got != n) {
        snprintf(err, errlen, "snappy: corrupt input");
        return STRATA_EPARSE;
    }
    dst->len = n;
    dst->ptr[n] = '\0';
    *out = buf_slice(dst);
    return 0;
}
