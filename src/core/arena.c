#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define ARENA_CHUNK 8192
#define ARENA_ALIGN 16

struct arena_chunk {
    struct arena_chunk *next;
    size_t size, off;
    _Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a, size_t limit)
{
    a->head = NULL;
    a->used = 0;
    a->limit = limit;
}

void arena_release(struct arena *a)
{
    struct arena_chunk *c = a->head;
    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (n == 0)
        n = ARENA_ALIGN;
    struct arena_chunk *c = a->head;
    if (!c || c->size - c->off < n) {
        size_t size = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
        if (c && size == ARENA_CHUNK && c->size >= ARENA_CHUNK)
            size = c->size < (1u << 20) ? c->size * 2 : c->size;
        struct arena_chunk *nc = xmalloc(sizeof(*nc) + size);
        nc->size = size;
        nc->off = 0;
        if (c && n > ARENA_CHUNK / 4 && c->size - c->off >= ARENA_ALIGN * 4) {
            /* A big one-off block: keep the current chunk on top for small ones. */
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            a->head = nc;
        }
        a->used += sizeof(*nc) + size;
        c = nc;
    }
    void *p = c->data + c->off;
    c->off += n;
    return p;
}

void *arena_calloc(struct arena *a, size_t count, size_t size)
{
    if (size && count > (size_t)-1 / size)
        abort();
    void *p = arena_alloc(a, count * size);
    memset(p, 0, count * size);
    return p;
}

void *arena_realloc(struct arena *a, void *p, size_t old_n, size_t new_n)
{
    if (new_n <= old_n)
        return p;
    struct arena_chunk *c = a->head;
    size_t old_al = (old_n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    size_t new_al = (new_n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (p && c && (unsigned char *)p + old_al == c->data + c->off &&
        c->size - c->off >= new_al - old_al) {
        c->off += new_al - old_al;
        return p;
    }
    void *q = arena_alloc(a, new_n);
    if (p && old_n)
        memcpy(q, p, old_n);
    return q;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_slice_str(struct arena *a, struct slice s)
{
    return arena_strndup(a, s.ptr, s.len);
}

struct slice arena_slice_dup(struct arena *a, struct slice s)
{
    return (struct slice){arena_strndup(a, s.ptr, s.len), s.len};
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}
