/*
 * bloom.h - per-block bloom filters of 4-byte grams, so that `|= "needle"`
 * skips blocks without decompressing them.
 *
 * What is indexed: every 4 consecutive bytes of every line (a sliding window,
 * case-sensitive, separators included). A line contains a needle only if it
 * contains every 4-byte gram of the needle, so a block whose filter lacks one
 * gram of a needle cannot hold a line containing it: the test has false
 * positives (a block is read for nothing) but never false negatives. Needles
 * shorter than 4 bytes cannot be tested and never prune. Whole-token filters
 * would be smaller but cannot answer substring filters (`|= "rror"`,
 * `|= "10.0.0.1"`) without false negatives, which LogQL forbids.
 *
 * Sizing: the filter is built at twice the needed size and then folded in
 * halves (OR of the two halves; a power-of-two size with masked positions
 * makes this exact) while the fill stays under 45%, so its size follows the
 * number of distinct grams without counting them. With 3 hash functions a
 * 45%-full filter answers "maybe" for an absent gram 9% of the time; a needle
 * of n bytes has n-3 grams that must all pass. Measured sizes are in
 * docs/STORAGE.md.
 *
 * Encoding (bytes, stored in a part's bloom section, one per block):
 *     0  1  number of hash functions k (1..8)
 *     1  1  log2 of the number of bits m (6..32)
 *     2  2  reserved (0)
 *     4  m/8 bits: bit i is byte i/8, mask 1 << (i % 8)
 * Gram g (4 bytes read little-endian) is hashed to 64 bits h; its bits are
 * (lo32(h) + j * (hi32(h) | 1)) mod m for j = 0..k-1.
 */
#ifndef STRATA_BLOOM_H
#define STRATA_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/slice.h"

#define BLOOM_HEADER 4

/*
 * Build the filter of the lines lines[0..n) (data + sizes: the lines are
 * back to back in data) and append its encoding to out. When even the
 * largest filter would be too full to prune anything, nothing is appended
 * (an empty filter means "may contain anything").
 */
int bloom_build(struct buf *out, const char *data, const uint32_t *sizes, uint32_t n);

/* The grams of a query's needles, hashed once per query. */
struct bloom_query {
    uint64_t *hashes; /* in the arena */
    uint32_t n;       /* 0: no needle can be tested */
};

void bloom_query_init(struct bloom_query *q, const struct slice *needles, uint32_t n_needles,
                      struct arena *a);
/*
 * False only when the filter proves that some needle is absent from every
 * line. A filter that is empty or malformed (bad k or size) answers true.
 */
bool bloom_may_contain(const unsigned char *filter, size_t len, const struct bloom_query *q);

#endif
