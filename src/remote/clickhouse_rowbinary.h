/*
 * clickhouse_rowbinary.h - ClickHouse's RowBinary format, written and read.
 *
 * RowBinary is what the ClickHouse tier sends in INSERTs and asks for in
 * SELECTs: rows one after another, columns in the order the statement names
 * them, no framing and no escaping:
 *
 *     UInt8/16/32/64, Int64   little-endian, fixed width
 *     Date                    UInt16: days since 1970-01-01
 *     DateTime                UInt32: seconds since the epoch
 *     String                  uvarint length, then the bytes
 *     FixedString(N)          exactly N bytes (shorter values padded with NUL)
 *     Array(T)                uvarint element count, then the elements
 *
 * The writer appends to a bounded struct buf and returns its error. The
 * reader walks a response in place (strings come back as slices into it) and
 * is defensive: every read checks the bytes left, a length can never point
 * past the end, and the first error is sticky in r->rc (STRATA_ECORRUPT), so
 * a row decoder reads all its columns and checks once.
 */
#ifndef STRATA_CLICKHOUSE_ROWBINARY_H
#define STRATA_CLICKHOUSE_ROWBINARY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"

__attribute__((warn_unused_result)) int rowbinary_put_u16(struct buf *b, uint16_t v);
__attribute__((warn_unused_result)) int rowbinary_put_u32(struct buf *b, uint32_t v);
__attribute__((warn_unused_result)) int rowbinary_put_u64(struct buf *b, uint64_t v);
__attribute__((warn_unused_result)) int rowbinary_put_i64(struct buf *b, int64_t v);
__attribute__((warn_unused_result)) int rowbinary_put_string(struct buf *b, struct slice s);
/* s padded with NUL bytes to n; STRATA_EINVAL if s is longer than n. */
__attribute__((warn_unused_result)) int rowbinary_put_fixed(struct buf *b, struct slice s,
                                                            size_t n);
/* The element count that starts an Array. */
__attribute__((warn_unused_result)) int rowbinary_put_len(struct buf *b, uint64_t n);

struct rowbinary_reader {
    const unsigned char *p, *end; /* private */
    int rc;                       /* public: 0, or the first error (sticky) */
};

void rowbinary_reader_init(struct rowbinary_reader *r, struct slice data);
/* True when every byte has been read (and no error happened). */
bool rowbinary_done(const struct rowbinary_reader *r);
/* The reads return 0 (or an empty slice) once r->rc is set. */
uint16_t rowbinary_u16(struct rowbinary_reader *r);
uint32_t rowbinary_u32(struct rowbinary_reader *r);
uint64_t rowbinary_u64(struct rowbinary_reader *r);
int64_t rowbinary_i64(struct rowbinary_reader *r);
struct slice rowbinary_string(struct rowbinary_reader *r);
/* N raw bytes (FixedString(N)). */
struct slice rowbinary_fixed(struct rowbinary_reader *r, size_t n);
/*
 * An Array's element count. Each element takes at least one byte, so a count
 * larger than the bytes left is corrupt (which also bounds what a caller
 * allocates for the elements).
 */
uint64_t rowbinary_len(struct rowbinary_reader *r);

#endif
