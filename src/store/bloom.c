#include "store/bloom.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/alloc.h"
#include "core/err.h"

#define BLOOM_K        3
#define BLOOM_MIN_LOG2 6
/* Layout 1: a power-of-two number of bits, word = h mod words (read only). */
#define BLOOM_LAYOUT_POW2 1
/* Layout 2: any number of words, word = ((h mod 2^32) * words) >> 32. */
#define BLOOM_LAYOUT_RANGE 2
/* Layout 3: layout 2 with the long tokens' prefixes too (written). */
#define BLOOM_LAYOUT_TOKENS 3
/*
 * Bits per distinct gram for a fill of 40% with k = 3 bits per gram:
 * m = -k * n / ln(1 - 0.4), in 1/1000 of a bit.
 */
#define BLOOM_MILLIBITS_PER_GRAM 5873
/*
 * No filter when the distinct grams exceed this share (in 1/1000) of the
 * occurrences (at least 65536 of them, so that small blocks always get one):
 * random data, whose filter would cost more than it could save.
 */
#define BLOOM_MAX_DISTINCT 170
/* A filter of more than this many distinct grams is not worth its size either. */
#define BLOOM_MAX_GRAMS (1u << 20)
#define BLOOM_START_CAP (1u << 14)

static inline uint64_t gram_hash(uint32_t g)
{
    uint64_t h = (uint64_t)g * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

/* Token prefixes (BLOOM_TOKEN_PREFIX bytes, read little-endian) hash apart from grams. */
static inline uint64_t token_hash(uint64_t t)
{
    uint64_t h = t ^ 0x5851F42D4C957F2Dull;
    h *= 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
    h *= 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    return h;
}

_Static_assert(BLOOM_TOKEN_PREFIX == 8 && BLOOM_TOKEN_MIN >= BLOOM_TOKEN_PREFIX,
               "token prefixes are loaded as one 64-bit word");

static inline uint64_t load_prefix(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return le64toh(v);
}

/* ASCII letters and digits: what tokens are made of. */
static const unsigned char alnum[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline uint32_t load_gram(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* The k bits a gram sets in its word (from k x 6 bits of the hash). */
static inline uint64_t gram_bits(uint64_t h, unsigned k)
{
    uint64_t m = 0;
    for (unsigned j = 0; j < k; j++)
        m |= (uint64_t)1 << ((h >> (32 + 6 * j)) & 63);
    return m;
}

static inline size_t range_word(uint64_t h, size_t words)
{
    return (size_t)(((h & 0xffffffffu) * (uint64_t)words) >> 32);
}

void bloom_builder_init(struct bloom_builder *b)
{
    memset(b, 0, sizeof(*b));
}

void bloom_builder_release(struct bloom_builder *b)
{
    free(b->slots);
    free(b->tslots);
    memset(b, 0, sizeof(*b));
}

static void token_set_grow(struct bloom_builder *b)
{
    size_t cap = b->tcap ? b->tcap * 2 : BLOOM_START_CAP;
    uint64_t *slots = xcalloc(cap, sizeof(uint64_t));
    for (size_t i = 0; i < b->tcap; i++) {
        uint64_t t = b->tslots[i];
        if (!t)
            continue;
        size_t k = (size_t)token_hash(t) & (cap - 1);
        while (slots[k])
            k = (k + 1) & (cap - 1);
        slots[k] = t;
    }
    free(b->tslots);
    b->tslots = slots;
    b->tcap = cap;
}

/* Add the prefix of every token of at least BLOOM_TOKEN_MIN bytes of line[0..len). */
/* Add the prefix of the token at line[start..) (BLOOM_TOKEN_MIN or more letters and digits). */
static void add_token(struct bloom_builder *b, const char *tok)
{
    if (2 * (b->tn + 1) > b->tcap) {
        if (b->tn >= BLOOM_MAX_GRAMS) {
            b->too_many = true; /* a filter without every token would lie */
            return;
        }
        token_set_grow(b);
    }
    uint64_t t = load_prefix(tok); /* letters and digits: never 0 */
    size_t mask = b->tcap - 1, k = (size_t)token_hash(t) & mask;
    while (b->tslots[k] && b->tslots[k] != t)
        k = (k + 1) & mask;
    if (!b->tslots[k]) {
        b->tslots[k] = t;
        b->tn++;
    }
}

/* Bit i set when u[i] (i < n <= 64) is an ASCII letter or digit. */
static inline uint64_t alnum_mask(const unsigned char *u, uint32_t n)
{
    uint64_t m = 0;
    uint32_t i = 0;
#if defined(__SSE2__)
    const __m128i dlo = _mm_set1_epi8((char)(128 - '0')), dn = _mm_set1_epi8((char)(-128 + 10));
    const __m128i llo = _mm_set1_epi8((char)(128 - 'a')), ln = _mm_set1_epi8((char)(-128 + 26));
    const __m128i fold = _mm_set1_epi8(0x20);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(u + i));
        __m128i d = _mm_cmplt_epi8(_mm_add_epi8(v, dlo), dn);
        __m128i l = _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(v, fold), llo), ln);
        m |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_or_si128(d, l)) << i;
    }
#endif
    for (; i < n; i++)
        m |= (uint64_t)alnum[u[i]] << i;
    return m;
}

/* Add the prefixes of the line's tokens: runs of BLOOM_TOKEN_MIN or more letters and digits. */
static void add_tokens(struct bloom_builder *b, const char *line, uint32_t len)
{
    const unsigned char *u = (const unsigned char *)line;
    uint32_t start = 0;
    bool in_run = false;
    for (uint32_t base = 0; base < len && !b->too_many; base += 64) {
        uint32_t n = len - base < 64 ? len - base : 64;
        uint64_t m = alnum_mask(u + base, n);
        uint32_t pos = 0;
        while (pos < n) {
            uint64_t rest = (in_run ? ~m : m) >> pos;
            if (n < 64)
                rest &= ((uint64_t)1 << (n - pos)) - 1;
            if (!rest)
                break; /* the run (or the gap) goes on past this chunk */
            pos += (uint32_t)__builtin_ctzll(rest);
            if (in_run && base + pos - start >= BLOOM_TOKEN_MIN)
                add_token(b, line + start);
            if (!in_run)
                start = base + pos;
            in_run = !in_run;
        }
    }
    if (in_run && len - start >= BLOOM_TOKEN_MIN && !b->too_many)
        add_token(b, line + start);
}

/*
 * A gram's slot in the builder's set: a multiplicative hash, cheaper than
 * gram_hash (which places the filter's bits), computed again for a prefetch.
 */
static inline size_t set_slot(uint32_t g, size_t mask)
{
    return (size_t)(((uint64_t)g * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static void set_grow(struct bloom_builder *b)
{
    size_t cap = b->cap ? b->cap * 2 : BLOOM_START_CAP;
    uint32_t *slots = xcalloc(cap, sizeof(uint32_t));
    for (size_t i = 0; i < b->cap; i++) {
        uint32_t g = b->slots[i];
        if (!g)
            continue;
        size_t k = set_slot(g, cap - 1);
        while (slots[k])
            k = (k + 1) & (cap - 1);
        slots[k] = g;
    }
    free(b->slots);
    b->slots = slots;
    b->cap = cap;
}

/* How far ahead (bytes) the slot of a coming gram is prefetched: a large set misses cache. */
#define PREFETCH_AHEAD 16

void bloom_builder_add(struct bloom_builder *b, const char *data, const uint32_t *sizes, uint32_t n)
{
    const char *p = data;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += sizes[i];
    const char *end = data + total;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = sizes[i];
        if (len >= 4)
            b->grams += len - 3;
        for (uint32_t j = 0; j + 4 <= len; j++) {
            /* Past BLOOM_MAX_GRAMS the filter is abandoned anyway: stop growing. */
            if (2 * (b->n + 1) > b->cap) {
                if (b->n >= BLOOM_MAX_GRAMS)
                    continue;
                set_grow(b);
            }
            size_t mask = b->cap - 1;
            if (p + j + PREFETCH_AHEAD + 4 <= end) /* any gram there: lines are back to back */
                __builtin_prefetch(&b->slots[set_slot(load_gram(p + j + PREFETCH_AHEAD), mask)]);
            uint32_t g = load_gram(p + j);
            if (!g) {
                b->zero = true;
                continue;
            }
            size_t k = set_slot(g, mask);
            while (b->slots[k] && b->slots[k] != g)
                k = (k + 1) & mask;
            if (!b->slots[k]) {
                b->slots[k] = g;
                b->n++;
            }
        }
        if (len >= BLOOM_TOKEN_MIN && !b->too_many)
            add_tokens(b, p, len);
        p += len;
    }
}

int bloom_builder_finish(struct bloom_builder *b, struct buf *out)
{
    uint64_t distinct = b->n + (b->zero ? 1 : 0);
    uint64_t basis = b->grams > 65536 ? b->grams : 65536;
    int rc = 0;
    if (!distinct || distinct >= BLOOM_MAX_GRAMS || b->too_many ||
        distinct * 1000 > (uint64_t)BLOOM_MAX_DISTINCT * basis)
        goto done; /* nothing to test, or too many distinct grams to prune anything */
    uint64_t bits = ((distinct + b->tn) * BLOOM_MILLIBITS_PER_GRAM + 999) / 1000;
    size_t words = (size_t)((bits + 63) / 64);
    uint64_t *w = xcalloc(words, sizeof(uint64_t));
    for (size_t i = 0; i < b->cap; i++)
        if (b->slots[i]) {
            uint64_t h = gram_hash(b->slots[i]);
            w[range_word(h, words)] |= gram_bits(h, BLOOM_K);
        }
    if (b->zero) {
        uint64_t h = gram_hash(0);
        w[range_word(h, words)] |= gram_bits(h, BLOOM_K);
    }
    for (size_t i = 0; i < b->tcap; i++)
        if (b->tslots[i]) {
            uint64_t h = token_hash(b->tslots[i]);
            w[range_word(h, words)] |= gram_bits(h, BLOOM_K);
        }
    unsigned char hdr[BLOOM_HEADER] = {BLOOM_K, 0, BLOOM_LAYOUT_TOKENS, 0};
    rc = buf_reserve(out, sizeof(hdr) + words * 8);
    if (!rc)
        rc = buf_append(out, hdr, sizeof(hdr));
    for (size_t i = 0; i < words && !rc; i++) {
        unsigned char le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (unsigned char)(w[i] >> (8 * k));
        rc = buf_append(out, le, 8);
    }
    free(w);
done:
    if (b->slots)
        memset(b->slots, 0, b->cap * sizeof(uint32_t));
    if (b->tslots)
        memset(b->tslots, 0, b->tcap * sizeof(uint64_t));
    b->n = b->tn = 0;
    b->zero = b->too_many = false;
    b->grams = 0;
    return rc;
}

int bloom_build(struct buf *out, const char *data, const uint32_t *sizes, uint32_t n)
{
    struct bloom_builder b;
    bloom_builder_init(&b);
    bloom_builder_add(&b, data, sizes, n);
    int rc = bloom_builder_finish(&b, out);
    bloom_builder_release(&b);
    return rc;
}

void bloom_query_init(struct bloom_query *q, const struct slice *needles, uint32_t n_needles,
                      struct arena *a)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n_needles; i++)
        if (needles[i].len >= 4)
            total += needles[i].len - 3;
    q->n = q->n_tokens = 0;
    q->hashes = q->tokens = NULL;
    if (!total)
        return;
    q->hashes = arena_alloc(a, total * sizeof(uint64_t));
    for (uint32_t i = 0; i < n_needles; i++)
        for (size_t j = 0; j + 4 <= needles[i].len; j++)
            q->hashes[q->n++] = gram_hash(load_gram(needles[i].ptr + j));
    /*
     * A run of letters and digits that starts after another byte of the
     * needle starts a token in any line that holds the needle; when at
     * least BLOOM_TOKEN_MIN of it is in the needle, that token is long
     * enough to be indexed, and its prefix is the run's.
     */
    size_t bytes = 0;
    for (uint32_t i = 0; i < n_needles; i++)
        bytes += needles[i].len;
    /* a token takes BLOOM_TOKEN_MIN bytes and the one before it */
    q->tokens = arena_alloc(a, (bytes / BLOOM_TOKEN_MIN + n_needles) * sizeof(uint64_t));
    for (uint32_t i = 0; i < n_needles; i++) {
        const unsigned char *u = (const unsigned char *)needles[i].ptr;
        size_t len = needles[i].len;
        for (size_t j = 1; j < len; j++) {
            if (alnum[u[j - 1]] || !alnum[u[j]])
                continue;
            size_t e = j;
            while (e < len && alnum[u[e]])
                e++;
            if (e - j >= BLOOM_TOKEN_MIN)
                q->tokens[q->n_tokens++] = token_hash(load_prefix(needles[i].ptr + j));
            j = e;
        }
    }
}

bool bloom_may_contain(const unsigned char *f, size_t len, const struct bloom_query *q)
{
    if (!q->n || len < BLOOM_HEADER)
        return true;
    unsigned k = f[0], log2 = f[1], layout = f[2];
    size_t words;
    if (k < 1 || k > 4)
        return true;
    if (layout == BLOOM_LAYOUT_POW2) {
        if (log2 < BLOOM_MIN_LOG2 || log2 > 32 || len != BLOOM_HEADER + (((size_t)1 << log2) >> 3))
            return true;
        words = ((size_t)1 << log2) >> 6;
    } else if (layout == BLOOM_LAYOUT_RANGE || layout == BLOOM_LAYOUT_TOKENS) {
        if (len < BLOOM_HEADER + 8 || (len - BLOOM_HEADER) % 8)
            return true;
        words = (len - BLOOM_HEADER) / 8;
    } else {
        return true;
    }
    const unsigned char *base = f + BLOOM_HEADER;
    uint32_t n = q->n + (layout == BLOOM_LAYOUT_TOKENS ? q->n_tokens : 0);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t h = i < q->n ? q->hashes[i] : q->tokens[i - q->n];
        size_t wi = layout == BLOOM_LAYOUT_POW2 ? (size_t)(h & (words - 1)) : range_word(h, words);
        const unsigned char *w = base + 8 * wi;
        uint64_t v = (uint64_t)w[0] | (uint64_t)w[1] << 8 | (uint64_t)w[2] << 16 |
                     (uint64_t)w[3] << 24 | (uint64_t)w[4] << 32 | (uint64_t)w[5] << 40 |
                     (uint64_t)w[6] << 48 | (uint64_t)w[7] << 56;
        uint64_t m = gram_bits(h, k);
        if ((v & m) != m)
            return false;
    }
    return true;
}
