/*
 * part_format.h - private to part.c and part_read.c: the constants of the part
 * format (specified in part.c) and the bit-packing of timestamp frames.
 */
#ifndef STRATA_PART_FORMAT_H
#define STRATA_PART_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/le.h"

#define PART_MAGIC            "STRATAPT"
#define PART_VERSION          2 /* written; version 1 is read too */
#define PART_VERSION_1        1
#define PART_HEADER_SIZE      16
#define PART_STREAM_REC       64
#define PART_BLOCK_REC        96
#define PART_TS_FRAME_HDR     4
#define PART_TS_FRAME_PAD     8
#define PART_BLOCK_HAS_META   1u /* version 1: metadata in the data frame */
#define PART_BLOCK_META_FRAME 2u /* version 2: metadata in its own frame */
/* Blocks of a stream that share one bloom filter, unless the writer is told otherwise. */
#define PART_BLOOM_BLOCKS 4
/* Limits a reader enforces before allocating anything for a block. */
#define PART_MAX_BLOCK_ENTRIES (1u << 18)
#define PART_MAX_BLOCK_BYTES   (1u << 30)
/* Blocks larger than this decompress in steps, so a bogus length costs nothing. */
#define PART_ONESHOT_BYTES (16u << 20)

/* Footer offsets. */
#define PF_VERSION  0
#define PF_FLAGS    4
#define PF_ID       8
#define PF_LEVEL    16
#define PF_ZLEVEL   20
#define PF_NSTREAMS 24
#define PF_NBLOCKS  32
#define PF_MIN_TS   40
#define PF_MAX_TS   48
#define PF_ENTRIES  56
#define PF_BYTES    64
#define PF_WAL_SEQ  72
#define PF_CREATED  80
#define PF_SECTIONS 88
#define PF_CRC      244
#define PF_MAGIC    248

/* Sections, in file order after the block frames. */
enum { SEC_BLOOM, SEC_META, SEC_STREAMS, SEC_BLOCKS, SEC_LABELS, SEC_POSTINGS, SEC_COUNT };

/* Meta section tags. */
enum { META_TENANT = 1, META_SUPERSEDES = 2 };

/* Bytes needed for n values of w bits, plus padding for 8-byte loads. */
static inline size_t bits_bytes(uint64_t n, unsigned w)
{
    return (size_t)((n * w + 7) / 8);
}

static inline unsigned bit_width(uint64_t v)
{
    return v ? 64 - (unsigned)__builtin_clzll(v) : 0;
}

/* Pack n values of w bits (w <= 64) LSB-first into out (zeroed, bits_bytes(n, w) long). */
static inline void bits_pack(unsigned char *out, const uint64_t *v, uint64_t n, unsigned w)
{
    if (!w)
        return;
    uint64_t bit = 0;
    for (uint64_t i = 0; i < n; i++, bit += w) {
        uint64_t x = v[i];
        unsigned left = w;
        uint64_t pos = bit;
        while (left) {
            unsigned off = (unsigned)(pos & 7);
            unsigned take = 8 - off < left ? 8 - off : left;
            out[pos >> 3] |= (unsigned char)((x & ((1u << take) - 1)) << off);
            x >>= take;
            pos += take;
            left -= take;
        }
    }
}

/*
 * Value i of w bits from in. The caller guarantees 8 readable bytes from the
 * value's first byte (the frames are padded) for w <= 56; wider values take
 * a second load.
 */
static inline uint64_t bits_get(const unsigned char *in, uint64_t i, unsigned w)
{
    if (!w)
        return 0;
    uint64_t bit = i * w;
    const unsigned char *p = in + (bit >> 3);
    unsigned sh = (unsigned)(bit & 7);
    uint64_t x = le_get64(p) >> sh;
    if (w + sh > 64) {
        uint64_t hi = p[8];
        x |= hi << (64 - sh);
    }
    return w == 64 ? x : x & (((uint64_t)1 << w) - 1);
}

#endif
