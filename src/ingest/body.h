/*
 * body.h - request bodies: Content-Encoding and snappy blocks, with hard limits.
 *
 * Clients compress push bodies (gzip or deflate for any format; Loki's
 * protobuf is always a raw snappy block). Decompression is where a small
 * request can turn into a huge one, so every decoder here writes into a
 * struct buf with a maximum and stops as soon as the output would cross it:
 * a gzip bomb costs at most `max` bytes of memory and is refused with
 * STRATA_ETOOLARGE (413), and a snappy block whose header declares more than
 * `max` is refused before anything is allocated.
 */
#ifndef STRATA_BODY_H
#define STRATA_BODY_H

#include <stddef.h>

#include "core/buf.h"
#include "core/slice.h"

/*
 * Undo Content-Encoding: NULL, "", "identity" and "snappy" (which Loki
 * ignores, protobuf bodies being snappy blocks anyway) leave the body as it
 * is (*out = in); "gzip" (members concatenated are read in turn) and
 * "deflate" (raw RFC 1951 as Go's compress/flate reads it, or zlib-wrapped
 * RFC 1950) are inflated into dst, and *out points into it. dst is a buffer
 * the caller initialised and releases; it is re-initialised here with max as
 * its own limit, so it never holds more than max + 2 bytes. Errors: STRATA_EUNSUPPORTED for another
 * encoding, STRATA_EPARSE for corrupt data, STRATA_ETOOLARGE past max; err
 * holds Loki-style text.
 */
int body_decode_encoding(const char *encoding, struct slice in, size_t max, struct buf *dst,
                         struct slice *out, char *err, size_t errlen);

/*
 * Decode a raw snappy block (not the framed stream format) into dst. The
 * declared length is checked against max before dst grows. STRATA_EPARSE for
 * a corrupt block, STRATA_ETOOLARGE past max.
 */
int body_snappy_decode(struct slice in, size_t max, struct buf *dst, struct slice *out, char *err,
                       size_t errlen);

#endif
