#include "store/bloom.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

#define BLOOM_K          3
#define BLOOM_MIN_LOG2   6
#define BLOOM_START_LOG2 16
#define BLOOM_MAX_LOG2   27 /* 16 MiB: beyond, a block is too large to filter usefully */
/* Fold while the result stays at most this full (in 1/1000). */
#define BLOOM_MAX_FILL 400
/* Layout 1: a gram sets its k bits in one 64-bit word (one memory access per gram). */
#define BLOOM_LAYOUT_WORD 1

static inline uint64_t gram_hash(uint32_t g)
{
    uint64_t h = (uint64_t)g * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

static inline uint32_t load_gram(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static uint64_t popcount_words(const uint64_t *w, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += (uint64_t)__builtin_popcountll(w[i]);
    return c;
}

static uint64_t popcount_or(const uint64_t *a, const uint64_t *b, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += (uint64_t)__builtin_popcountll(a[i] | b[i]);
    return c;
}

/* The word a gram lands in and the k bits it sets there (from 3 x 6 bits of the hash). */
static inline uint64_t gram_bits(uint64_t h, unsigned k)
{
    uint64_t m = 0;
    for (unsigned j = 0; j < k; j++)
        m |= (uint64_t)1 << ((h >> (32 + 6 * j)) & 63);
    return m;
}

int bloom_build(struct buf *out, const char *data, const uint32_t *sizes, uint32_t n)
{
    uint64_t grams = 0;
    for (uint32_t i = 0; i < n; i++)
        if (sizes[i] >= 4)
            grams += sizes[i] - 3;
    if (grams == 0)
        return 0;
    /*
     * Start with 1 bit per gram occurrence (and at least 64 Kibit, for small
     * blocks): distinct grams are far fewer in logs, and a large block whose
     * grams are mostly distinct would need a filter bigger than its compressed
     * lines, so it gets none (the fill check below). Starting small keeps the
     * bitmap in cache, which is what building at flush speed needs.
     */
    unsigned log2 = BLOOM_START_LOG2;
    while (log2 < BLOOM_MAX_LOG2 && ((uint64_t)1 << log2) < grams)
        log2++;
    size_t words = ((size_t)1 << log2) / 64;
    uint64_t *bits = xcalloc(words, sizeof(uint64_t));
    uint64_t wmask = words - 1;
    const char *p = data;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = sizes[i];
        for (uint32_t j = 0; j + 4 <= len; j++) {
            uint64_t h = gram_hash(load_gram(p + j));
            bits[h & wmask] |= gram_bits(h, BLOOM_K);
        }
        p += len;
    }
    uint64_t ones = popcount_words(bits, words);
    if (ones * 1000 > (uint64_t)BLOOM_MAX_FILL * words * 64) {
        free(bits);
        return 0; /* too full to ever answer "absent" often enough */
    }
    while (log2 > BLOOM_MIN_LOG2) {
        size_t half = words / 2;
        uint64_t folded = popcount_or(bits, bits + half, half);
        if (folded * 1000 > (uint64_t)BLOOM_MAX_FILL * half * 64)
            break;
        for (size_t i = 0; i < half; i++)
            bits[i] |= bits[half + i];
        words = half;
        log2--;
    }
    unsigned char hdr[BLOOM_HEADER] = {BLOOM_K, (unsigned char)log2, BLOOM_LAYOUT_WORD, 0};
    int rc = buf_reserve(out, sizeof(hdr) + words * 8);
    if (!rc)
        rc = buf_append(out, hdr, sizeof(hdr));
    for (size_t i = 0; i < words && !rc; i++) {
        unsigned char w[8];
        for (int b = 0; b < 8; b++)
            w[b] = (unsigned char)(bits[i] >> (8 * b));
        rc = buf_append(out, w, 8);
    }
    free(bits);
    return rc;
}

void bloom_query_init(struct bloom_query *q, const struct slice *needles, uint32_t n_needles,
                      struct arena *a)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n_needles; i++)
        if (needles[i].len >= 4)
            total += needles[i].len - 3;
    q->n = 0;
    q->hashes = NULL;
    if (!total)
        return;
    q->hashes = arena_alloc(a, total * sizeof(uint64_t));
    for (uint32_t i = 0; i < n_needles; i++)
        for (size_t j = 0; j + 4 <= needles[i].len; j++)
            q->hashes[q->n++] = gram_hash(load_gram(needles[i].ptr + j));
}

bool bloom_may_contain(const unsigned char *f, size_t len, const struct bloom_query *q)
{
    if (!q->n || len < BLOOM_HEADER)
        return true;
    unsigned k = f[0], log2 = f[1];
    if (k < 1 || k > 4 || log2 < BLOOM_MIN_LOG2 || log2 > 32 || f[2] != BLOOM_LAYOUT_WORD ||
        len != BLOOM_HEADER + (((size_t)1 << log2) >> 3))
        return true;
    const unsigned char *words = f + BLOOM_HEADER;
    uint64_t wmask = (((uint64_t)1 << log2) >> 6) - 1;
    for (uint32_t i = 0; i < q->n; i++) {
        uint64_t h = q->hashes[i];
        const unsigned char *w = words + 8 * (h & wmask);
        uint64_t v = (uint64_t)w[0] | (uint64_t)w[1] << 8 | (uint64_t)w[2] << 16 |
                     (uint64_t)w[3] << 24 | (uint64_t)w[4] << 32 | (uint64_t)w[5] << 40 |
                     (uint64_t)w[6] << 48 | (uint64_t)w[7] << 56;
        uint64_t m = gram_bits(h, k);
        if ((v & m) != m)
            return false;
    }
    return true;
}
