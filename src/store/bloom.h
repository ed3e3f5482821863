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
 * Token prefixes: a needle made of digits (an id: `|= "blk_-0124291..."`)
 * has grams that every block full of other ids holds, so grams alone cannot
 * prune it. The filter therefore also holds, for every token of a line (a
 * maximal run of ASCII letters and digits) of at least BLOOM_TOKEN_MIN bytes,
 * its first BLOOM_TOKEN_PREFIX bytes. In a needle, a run of letters and
 * digits that follows another byte of the needle starts a token of any line
 * holding the needle; when BLOOM_TOKEN_MIN bytes of it are in the needle,
 * the line's token is long enough to be indexed, so its prefix must be in
 * the filter. Long tokens are mostly ids, few per line (0.11 per line on the
 * bench corpus), so they cost little.
 *
 * Sizing: the builder collects the distinct grams of what it is given (a
 * hash set of 4-byte values), then sizes the filter for them: 3 bits per gram
 * in one 64-bit word (a "blocked" filter: one memory access per gram), and
 * as many words as keep the filter at most 40% full, so that an absent gram
 * reads "maybe" about 6% of the time; a needle of n bytes has n-3 grams that
 * must all pass. A block whose grams are mostly distinct (random data) gets
 * no filter: it would be larger than it could ever save. One filter may
 * cover several consecutive blocks of a stream (the part writer groups them:
 * their distinct grams overlap, so a shared filter is much smaller than one
 * per block). Measured sizes are in docs/STORAGE.md.
 *
 * Encoding (bytes, stored in a part's bloom section):
 *     0  1  number of bits per gram k (1..4)
 *     1  1  layout 1: log2 of the number of bits m (6..32); layouts 2, 3: 0
 *     2  1  layout: 1, 2 or 3, as below
 *     3  1  reserved (0)
 *     4  .  the words, each 8 bytes little-endian: m/64 of them (layout 1),
 *           (length - 4) / 8 of them (layouts 2 and 3, at least one)
 * Gram g (4 bytes read little-endian) is hashed to 64 bits h; it sets, in one
 * word, the bits (h >> 32+6j) & 63 for j = 0..k-1. The word is h mod (m/64)
 * in layout 1 (sizes are powers of two; written by the first version of the
 * part writer) and ((h mod 2^32) * words) >> 32 in layout 2 (any number of
 * words). Layout 3 (what the writer produces now) is layout 2 with the
 * token prefixes in it too: prefix t (8 bytes read little-endian) is
 * hashed by its own function and sets its k bits the same way; sizing
 * counts them as grams. Prefixes are tested against layout-3 filters only.
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
/* Tokens (runs of ASCII letters and digits) this long have their prefix indexed. */
#define BLOOM_TOKEN_MIN    12
#define BLOOM_TOKEN_PREFIX 8

/*
 * A filter under construction: the distinct grams of the lines added so far.
 * Caller-owned; bloom_builder_release frees what it holds.
 */
struct bloom_builder {
    uint32_t *slots;  /* private: open addressing, 0 = empty */
    size_t cap, n;    /* private: slots (a power of two), distinct non-zero grams */
    bool zero;        /* private: the gram "\0\0\0\0" was seen */
    uint64_t grams;   /* gram occurrences added since the last finish */
    uint64_t *tslots; /* private: the distinct token prefixes, as slots */
    size_t tcap, tn;  /* private */
    bool too_many;    /* private: more token prefixes than a filter takes */
};

void bloom_builder_init(struct bloom_builder *b);
/* Add the grams of lines[0..n) (data + sizes: the lines are back to back in data). */
void bloom_builder_add(struct bloom_builder *b, const char *data, const uint32_t *sizes,
                       uint32_t n);
/*
 * Append the encoding of the filter of everything added since init (or the
 * last finish) to out, and start over. When the grams are too many and too
 * distinct for a filter to prune anything, nothing is appended (an empty
 * filter means "may contain anything"). 0 or STRATA_ETOOLARGE from out.
 */
int bloom_builder_finish(struct bloom_builder *b, struct buf *out);
void bloom_builder_release(struct bloom_builder *b);

/* The filter of lines[0..n) in one call (a builder used once). */
int bloom_build(struct buf *out, const char *data, const uint32_t *sizes, uint32_t n);

/* The grams and token prefixes of a query's needles, hashed once per query. */
struct bloom_query {
    uint64_t *hashes; /* in the arena */
    uint32_t n;       /* 0: no needle can be tested */
    uint64_t *tokens; /* token prefixes, tested against layout-3 filters only */
    uint32_t n_tokens;
};

void bloom_query_init(struct bloom_query *q, const struct slice *needles, uint32_t n_needles,
                      struct arena *a);
/*
 * False only when the filter proves that some needle is absent from every
 * line. A filter that is empty or malformed (bad k or size) answers true.
 */
bool bloom_may_contain(const unsigned char *filter, size_t len, const struct bloom_query *q);

#endif
