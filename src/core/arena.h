/*
 * arena.h - per-request and per-query memory pools (H2O's mem_pool).
 *
 * Everything allocated for one request or one query comes from its arena and
 * is freed in one call. Allocations never fail (out-of-memory aborts, as in
 * alloc.h); instead an arena has a soft limit, and the code that lets a client
 * grow it (the query engine, the push decoders) checks arena_over_limit() at
 * convenient points and answers with an error.
 */
#ifndef STRATA_ARENA_H
#define STRATA_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include "core/slice.h"

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* private */
    size_t used;              /* public, read-only: bytes handed out plus chunk overhead */
    size_t limit;             /* public: soft limit checked by arena_over_limit (0 = none) */
};

void arena_init(struct arena *a, size_t limit);
/* Free every allocation at once; the arena can be used again. */
void arena_release(struct arena *a);
/* n bytes aligned to 16; never NULL. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_calloc(struct arena *a, size_t count, size_t size);
/* Grow the most recent allocation p (old_n bytes) to new_n, or copy it. */
void *arena_realloc(struct arena *a, void *p, size_t old_n, size_t new_n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
/* A NUL-terminated copy of a slice. */
char *arena_slice_str(struct arena *a, struct slice s);
/* Copy a slice's bytes into the arena, returning a slice of the copy. */
struct slice arena_slice_dup(struct arena *a, struct slice s);
__attribute__((format(printf, 2, 3))) char *arena_printf(struct arena *a, const char *fmt, ...);

static inline bool arena_over_limit(const struct arena *a)
{
    return a->limit && a->used > a->limit;
}

#endif
