/*
 * slice.h - a borrowed view of bytes: {ptr, len}, never NUL-terminated by contract.
 *
 * Slices point into memory owned by someone else (a request body, an arena, a
 * decompressed block); their lifetime is the owner's. Passing slices instead of
 * copying is how the push and query paths stay cheap.
 */
#ifndef STRATA_SLICE_H
#define STRATA_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct slice {
    const char *ptr;
    size_t len;
};

#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})

static inline struct slice slice_from(const char *s)
{
    return (struct slice){s, s ? strlen(s) : 0};
}

static inline struct slice slice_make(const char *p, size_t n)
{
    return (struct slice){p, n};
}

static inline bool slice_eq(struct slice a, struct slice b)
{
    /* The same bytes (labels shared by a stream's entries) compare equal without a call. */
    return a.len == b.len && (a.len == 0 || a.ptr == b.ptr || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool slice_eq_str(struct slice a, const char *s)
{
    return slice_eq(a, slice_from(s));
}

/* The value of one hexadecimal digit (either case), or -1. */
static inline int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* memcmp-style ordering: shorter prefix sorts first. */
static inline int slice_cmp(struct slice a, struct slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static inline bool slice_has_prefix(struct slice a, const char *prefix)
{
    size_t n = strlen(prefix);
    return a.len >= n && memcmp(a.ptr, prefix, n) == 0;
}

/* Case-insensitive ASCII equality. */
bool slice_eq_nocase(struct slice a, const char *s);
/* The slice without leading and trailing ASCII whitespace. */
struct slice slice_trim(struct slice s);

#endif
