/*
 * alloc.h - allocation wrappers that abort on out-of-memory.
 *
 * Strata never tries to recover from a failed malloc: every allocation a client
 * can influence is bounded before it is made (see buf.h, arena.h), so running
 * out of memory here means the process limits are wrong, and the only honest
 * thing to do is to stop loudly.
 */
#ifndef STRATA_ALLOC_H
#define STRATA_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Like xmalloc(count * size), but abort when the product overflows. */
void *xmallocarray(size_t count, size_t size);
void *xreallocarray(void *p, size_t count, size_t size);

#endif
