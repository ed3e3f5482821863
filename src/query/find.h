/*
 * find.h - substring search for line filters.
 *
 * |= filters run on every line a query reads, so the search is the inner
 * loop of most log queries. find_substr compares 16 positions at a time for
 * the needle's first and last bytes (SSE2, part of every x86-64) and checks
 * the candidates with memcmp; elsewhere it falls back to memmem.
 */
#ifndef STRATA_FIND_H
#define STRATA_FIND_H

#include <stddef.h>

/* The first occurrence of needle (k bytes) in s (n bytes), or NULL. k == 0 finds s. */
const char *find_substr(const char *s, size_t n, const char *needle, size_t k);

#endif
