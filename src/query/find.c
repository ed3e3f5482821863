#include "query/find.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>

const char *find_substr(const char *s, size_t n, const char *needle, size_t k)
{
    if (k == 0)
        return s;
    if (n < k)
        return NULL;
    if (k == 1)
        return memchr(s, (unsigned char)needle[0], n);
    const __m128i first = _mm_set1_epi8(needle[0]);
    const __m128i last = _mm_set1_epi8(needle[k - 1]);
    size_t i = 0;
    /* each round reads s[i .. i+15] and s[i+k-1 .. i+k+14], both inside s */
    for (; i + k + 15 <= n; i += 16) {
        __m128i bf = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i bl = _mm_loadu_si128((const __m128i *)(const void *)(s + i + k - 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(first, bf), _mm_cmpeq_epi8(last, bl)));
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctz(mask);
            if (k == 2 || memcmp(s + i + bit + 1, needle + 1, k - 2) == 0)
                return s + i + bit;
            mask &= mask - 1;
        }
    }
    for (; i + k <= n; i++)
        if (s[i] == needle[0] && s[i + k - 1] == needle[k - 1] &&
            (k == 2 || memcmp(s + i + 1, needle + 1, k - 2) == 0))
            return s + i;
    return NULL;
}

#else

const char *find_substr(const char *s, size_t n, const char *needle, size_t k)
{
    if (k == 0)
        return s;
    if (n < k)
        return NULL;
    return memmem(s, n, needle, k);
}

#endif
