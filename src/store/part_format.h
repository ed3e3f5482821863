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

#define PART_MAGIC        "STRATAPT"
#define PART_VERSION      3 /* written; versions 1 and 2 are read too */
#define PART_VERSION_1    1
#define PART_HEADER_SIZE  16
#define PART_STREAM_REC   64
#define PART_BLOCK_REC    96
#define PART_TS_FRAME_HDR 4
#define PART_TS_FRAME_PAD 8
/* Version 3 TS frames (part.c): header; low bits, quotients, exceptions; padding; sizes. */
#define PART_TS3_HDR          24
#define PART_TS3_PAD          16
#define PART_RICE_ESCAPE      40 /* quotients this large go to the exceptions */
#define PART_BLOCK_HAS_META   1u /* version 1: metadata in the data frame */
#define PART_BLOCK_META_FRAME 2u /* versions 2, 3: metadata in its own frame */
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

/* Footer flags. */
#define PART_FLAG_INTERIM 1u

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

/*
 * Rice coding of timestamp deltas (version 3 TS frames, specified in part.c):
 * value v with parameter k is its k low bits, bit-packed, and its quotient
 * q = v >> k in unary (q zero bits, then a one bit) in a separate bit string,
 * so that a reader unpacks the low bits independently and walks the one bits
 * of the quotients a word at a time. A quotient of PART_RICE_ESCAPE or more
 * is written as PART_RICE_ESCAPE zeros and a one, and stored whole in the
 * frame's exceptions. For deltas spread like arrival times (about
 * exponential) this is within a few percent of their entropy, where
 * bit-packing pays for the block's largest delta on every entry.
 */
static inline uint64_t rice_bits(const uint64_t *v, uint64_t n, unsigned k)
{
    uint64_t bits = n * (k + 1);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t q = v[i] >> k;
        bits += q < PART_RICE_ESCAPE ? q : PART_RICE_ESCAPE + 64;
    }
    return bits;
}

/* The k (0..63) that codes v[0..n) in the fewest bits, tried around log2 of the mean. */
static inline unsigned rice_param(const uint64_t *v, uint64_t n)
{
    unsigned __int128 sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += v[i];
    uint64_t mean = n ? (uint64_t)(sum / n) : 0;
    unsigned k0 = mean ? bit_width(mean) - 1 : 0;
    unsigned best = 0;
    uint64_t best_bits = UINT64_MAX;
    for (unsigned k = k0 > 2 ? k0 - 2 : 0; k <= k0 + 1 && k <= 63; k++) {
        uint64_t b = rice_bits(v, n, k);
        if (b < best_bits) {
            best_bits = b;
            best = k;
        }
    }
    return best;
}

#endif
