/*
 * gzip.h - gzip (RFC 1952) compression of a block of bytes into a bounded buffer.
 *
 * Used for HTTP answers (Content-Encoding: gzip) and for request bodies sent to
 * ClickHouse. Decompression of untrusted bodies lives in ingest/body.c, where the
 * size limits of pushes apply.
 */
#ifndef STRATA_GZIP_H
#define STRATA_GZIP_H

#include "core/buf.h"
#include "core/slice.h"

/*
 * Append the gzip member holding `in` to `out`, at compression level 1 (the
 * data we compress is repetitive, and speed matters more than the last
 * percent). Works in chunks, so inputs of any size are accepted. Returns 0,
 * STRATA_ETOOLARGE when `out` would grow past its maximum, or STRATA_EINTERNAL
 * if zlib fails; on error `out` holds a partial member and should be dropped.
 */
int gzip_append(struct buf *out, struct slice in);

#endif
