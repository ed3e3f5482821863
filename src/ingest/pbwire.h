/*
 * pbwire.h - the protobuf wire format, read in place and written into bounded buffers.
 *
 * The push decoders walk protobuf messages with this reader instead of
 * unpacking them into generated structs: strings and bytes come back as
 * slices into the input (no copy, no per-field allocation), so a message
 * costs one pass over its bytes and nothing an attacker can amplify. Every
 * read checks the remaining length; a malformed message gives STRATA_EPARSE.
 *
 *     struct pb_reader r = pb_reader_make(data);
 *     struct pb_field f;
 *     while ((rc = pb_next(&r, &f)) > 0) {
 *         if (f.num == 1 && f.type == PB_LEN) use(f.bytes); // nested message:
 * pb_reader_make(f.bytes)
 *     }
 *
 * Unknown fields are skipped (groups included, as proto3 readers must). A
 * known field that arrives with an unexpected wire type is the caller's to
 * refuse (see pb_want).
 *
 * The writer appends fields to a struct buf; it is enough for the small
 * replies and for tests (the load generator uses protobuf-c).
 */
#ifndef STRATA_PBWIRE_H
#define STRATA_PBWIRE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/slice.h"

enum pb_wire_type {
    PB_VARINT = 0,
    PB_I64 = 1,
    PB_LEN = 2,
    PB_SGROUP = 3,
    PB_EGROUP = 4,
    PB_I32 = 5
};

struct pb_reader {
    const unsigned char *p, *end; /* private */
};

struct pb_field {
    uint32_t num;           /* field number */
    enum pb_wire_type type; /* wire type */
    uint64_t u;             /* PB_VARINT, PB_I64, PB_I32: the value */
    struct slice bytes;     /* PB_LEN: the payload, pointing into the input */
};

static inline struct pb_reader pb_reader_make(struct slice s)
{
    return (struct pb_reader){(const unsigned char *)s.ptr, (const unsigned char *)s.ptr + s.len};
}

/*
 * Read the next field: 1 with *f filled, 0 at the end of the message,
 * STRATA_EPARSE when the bytes are not a valid message (truncated varint or
 * payload, field number 0, wire type 6 or 7, unbalanced group).
 */
int pb_next(struct pb_reader *r, struct pb_field *f);
/* 0 when f has wire type t, else STRATA_EPARSE: the caller's check for a known field. */
static inline int pb_want(const struct pb_field *f, enum pb_wire_type t)
{
    return f->type == t ? 0 : STRATA_EPARSE;
}
/* The name of a wire type for messages ("varint", "len", ...). */
const char *pb_type_name(enum pb_wire_type t);

/* Writers: a field tag, a varint field, a length-delimited field; STRATA_ETOOLARGE past b's max. */
__attribute__((warn_unused_result)) int pb_put_tag(struct buf *b, uint32_t num,
                                                   enum pb_wire_type t);
__attribute__((warn_unused_result)) int pb_put_varint_field(struct buf *b, uint32_t num,
                                                            uint64_t v);
__attribute__((warn_unused_result)) int pb_put_bytes_field(struct buf *b, uint32_t num,
                                                           const void *p, size_t n);
__attribute__((warn_unused_result)) int pb_put_fixed64_field(struct buf *b, uint32_t num,
                                                             uint64_t v);

#endif
