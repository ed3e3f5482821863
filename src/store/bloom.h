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
 * Sizing: the filter is built at 4 bits per gram occurrence and then folded
 * in halves (OR of the two halves; a power-of-two size with masked positions
 * makes this exact) while the fill stays under 40%, so its size follows the
 * number of distinct grams without counting them. Each gram sets 3 bits in
 * one 64-bit word (a "blocked" filter: one memory access per gram, which is
 * what makes building it at flush speed possible); a 40%-full filter answers
 * "maybe" for an absent gram about 8% of the time, and a needle of n bytes
 * has n-3 grams that must all pass. Measured sizes are in docs/STORAGE.md.
 *
 * Encoding (bytes, stored in a part's bloom section, one per block):
 *     0  1  number of bits per gram k (1..4)
 *     1  1  log2 of the number of bits m (6..32)
 *     2  1  layout (1: word-blocked, as below)
 *     3  1  reserved (0)
 *     4  m/8 the m/64 words, each 8 bytes little-endian
 * Gram g (4 bytes read little-endian) is hashed to 64 bits h; it sets, in
 * word (h mod m/64), the bits (h >> 32+6j) & 63 for j = 0..k-1.
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
