/*
 * buf.h - growable byte buffers with a hard maximum.
 *
 * Every buffer is given its maximum size at init (curl's dynbuf): input from
 * the network or disk can never grow memory without bound. An append that
 * would cross the maximum fails with STRATA_ETOOLARGE and leaves the buffer as
 * it was. The contents are always followed by a NUL byte (not counted in len)
 * so a buffer of text can be handed to C string functions.
 *
 *     struct buf b;
 *     buf_init(&b, 1 << 20);
 *     if (buf_append(&b, p, n) < 0) ...   // 413
 *     buf_release(&b);
 */
#ifndef STRATA_BUF_H
#define STRATA_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/slice.h"

struct buf {
    char *ptr;  /* public, read-only: the bytes, NUL-terminated (NULL before the first append) */
    size_t len; /* public, read-only: bytes used */
    size_t cap; /* private */
    size_t max; /* private: the hard limit on len */
};

#define BUF_UNLIMITED ((size_t)-1 / 2)

void buf_init(struct buf *b, size_t max);
/* Free the memory; the buffer can be used again after buf_init. */
void buf_release(struct buf *b);
/* Forget the contents, keep the memory. */
void buf_reset(struct buf *b);
/* Make room for n more bytes; STRATA_ETOOLARGE past the maximum. */
__attribute__((warn_unused_result)) int buf_reserve(struct buf *b, size_t n);
/* private: the out-of-line part of buf_append and buf_put_uvarint (growing the buffer) */
__attribute__((warn_unused_result)) int buf_append_slow(struct buf *b, const void *p, size_t n);
__attribute__((warn_unused_result)) int buf_put_uvarint_slow(struct buf *b, uint64_t v);
/*
 * Append n bytes. Inline when they fit (cap never exceeds max + 1, so fitting
 * within cap means within max): encoders append small pieces by the million.
 */
__attribute__((warn_unused_result)) static inline int buf_append(struct buf *b, const void *p,
                                                                 size_t n)
{
    if (n < b->cap - b->len) {
        if (n)
            memcpy(b->ptr + b->len, p, n);
        b->len += n;
        b->ptr[b->len] = '\0';
        return 0;
    }
    return buf_append_slow(b, p, n);
}
__attribute__((warn_unused_result)) int buf_append_str(struct buf *b, const char *s);
__attribute__((warn_unused_result)) int buf_append_char(struct buf *b, char c);
__attribute__((warn_unused_result, format(printf, 2, 3))) int buf_printf(struct buf *b,
                                                                         const char *fmt, ...);
__attribute__((warn_unused_result, format(printf, 2, 0))) int
buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Append an unsigned LEB128 varint. */
__attribute__((warn_unused_result)) static inline int buf_put_uvarint(struct buf *b, uint64_t v)
{
    if (b->cap - b->len <= 10)
        return buf_put_uvarint_slow(b, v);
    unsigned char *o = (unsigned char *)b->ptr + b->len;
    while (v >= 0x80) {
        *o++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *o++ = (unsigned char)v;
    b->len = (size_t)((char *)o - b->ptr);
    b->ptr[b->len] = '\0';
    return 0;
}
/* Take ownership of the bytes (caller frees); the buffer is left empty. */
char *buf_detach(struct buf *b, size_t *len);
/* Set len to n (n <= len); used to undo a partial append. */
void buf_truncate(struct buf *b, size_t n);

static inline struct slice buf_slice(const struct buf *b)
{
    return (struct slice){b->ptr ? b->ptr : "", b->len};
}

#endif
