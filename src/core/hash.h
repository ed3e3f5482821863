/*
 * hash.h - checksums and hashes.
 *
 * crc32c (Castagnoli) guards every record and section on disk; it uses the
 * SSE4.2 instruction when the CPU has it and a table otherwise, and both give
 * the same values. hash64 (XXH3) fingerprints streams and feeds bloom filters.
 */
#ifndef STRATA_HASH_H
#define STRATA_HASH_H

#include <stddef.h>
#include <stdint.h>

/* crc32c of p[0..n), continuing from crc (pass 0 to start). */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);
/* The portable table implementation, exposed so tests can compare both. */
uint32_t crc32c_sw(uint32_t crc, const void *p, size_t n);

uint64_t hash64(const void *p, size_t n);
uint64_t hash64_seed(const void *p, size_t n, uint64_t seed);

#endif
