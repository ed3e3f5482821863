#include "core/gzip.h"

#include <string.h>
#include <zlib.h>

#include "core/err.h"

int gzip_append(struct buf *out, struct slice in)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return STRATA_EINTERNAL;
    int rc = 0, zr = Z_OK;
    unsigned char chunk[16384];
    const unsigned char *src = (const unsigned char *)in.ptr;
    size_t left = in.len;
    while (!rc && zr != Z_STREAM_END) {
        if (z.avail_in == 0) {
            uInt feed = left > (1u << 30) ? (1u << 30) : (uInt)left;
            z.next_in = (Bytef *)src;
            z.avail_in = feed;
            src += feed;
            left -= feed;
        }
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        zr = deflate(&z, left == 0 ? Z_FINISH : Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            rc = STRATA_EINTERNAL;
        else
            rc = buf_append(out, chunk, sizeof(chunk) - z.avail_out);
    }
    deflateEnd(&z);
    return rc;
}
