/*
 * json.h - a strict, bounded, zero-copy JSON pull reader and a JSON writer.
 *
 * The reader walks a document in place: strings without escapes come back as
 * slices into the input, strings with escapes are decoded into the caller's
 * arena. It enforces RFC 8259 strictly (no trailing commas, no comments, no
 * leading zeros, no control characters in strings), rejects invalid UTF-8 and
 * lone surrogates, and limits nesting depth, so hostile input costs at most
 * one pass over its bytes. On error every call returns STRATA_EPARSE and the
 * reader remembers the first message and byte offset (json_reader_error).
 *
 *     struct json_reader r;
 *     json_reader_init(&r, body, len, 64);
 *     if (json_enter_object(&r) < 0) goto bad;
 *     struct slice key;
 *     while ((rc = json_next_key(&r, arena, &key)) > 0) {
 *         if (slice_eq_str(key, "streams")) ... else json_skip(&r);
 *     }
 *
 * The writer appends to a bounded struct buf; its first error (buffer
 * maximum reached) is sticky in w->rc, so callers check once at the end.
 */
#ifndef STRATA_JSON_H
#define STRATA_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/slice.h"

enum json_type {
    JSON_ERROR = -1,
    JSON_END = 0, /* no value here: end of input, or the closing ] or } */
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

struct json_reader {
    const char *start, *p, *end; /* private */
    int depth, max_depth;        /* private */
    bool need_sep;               /* private: a ',' is expected before the next item */
    const char *err;             /* private: first error message, NULL if none */
    size_t err_off;              /* private */
};

void json_reader_init(struct json_reader *r, const char *data, size_t len, int max_depth);
/* The type of the next value, without consuming it. */
enum json_type json_peek(struct json_reader *r);
/* Enter an object or array; STRATA_EPARSE if the next value is not one. */
int json_enter_object(struct json_reader *r);
int json_enter_array(struct json_reader *r);
/*
 * Object iteration: 1 and the key when a member follows (read its value next),
 * 0 after consuming the closing brace, STRATA_EPARSE on error. A key with
 * escapes is decoded into a; with a NULL a it is only checked and *key is
 * its raw text (enough to skip a member, not to compare keys).
 */
int json_next_key(struct json_reader *r, struct arena *a, struct slice *key);
/* Array iteration: 1 when an element follows, 0 after the closing bracket. */
int json_next_elem(struct json_reader *r);
/* Read a string value (decoded into a when it has escapes). */
int json_read_string(struct json_reader *r, struct arena *a, struct slice *out);
/* Read a number as written, unparsed (for exact integer handling). */
int json_read_number_raw(struct json_reader *r, struct slice *out);
int json_read_double(struct json_reader *r, double *out);
/* A number that is an integer within int64 (no fraction or exponent). */
int json_read_int64(struct json_reader *r, int64_t *out);
int json_read_bool(struct json_reader *r, bool *out);
int json_read_null(struct json_reader *r);
/* Skip one value of any type, however nested (within max_depth). */
int json_skip(struct json_reader *r);
/* After the top-level value: STRATA_EPARSE unless only whitespace is left. */
int json_finish(struct json_reader *r);
/* The first error as "message at offset N", or NULL. Valid while r lives. */
const char *json_reader_error(const struct json_reader *r, char *tmp, size_t cap);
/* Record an error found by the caller (e.g. a wrong type); returns STRATA_EPARSE. */
int json_fail(struct json_reader *r, const char *msg);

/* True when s is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool utf8_valid(const char *s, size_t n);

struct json_writer {
    struct buf *b;      /* public: where output goes */
    int rc;             /* public: first error, sticky */
    int depth;          /* private */
    uint64_t has_items; /* private: bit d set when level d has an item already */
    bool after_key;     /* private */
};

void json_writer_init(struct json_writer *w, struct buf *b);
void jw_object_begin(struct json_writer *w);
void jw_object_end(struct json_writer *w);
void jw_array_begin(struct json_writer *w);
void jw_array_end(struct json_writer *w);
void jw_key(struct json_writer *w, const char *key);
void jw_key_slice(struct json_writer *w, struct slice key);
void jw_string(struct json_writer *w, const char *s);
void jw_string_slice(struct json_writer *w, struct slice s);
void jw_int(struct json_writer *w, int64_t v);
void jw_uint(struct json_writer *w, uint64_t v);
/* A number in the shortest form that reads back exactly; NaN/Inf become null. */
void jw_double(struct json_writer *w, double v);
void jw_bool(struct json_writer *w, bool v);
void jw_null(struct json_writer *w);
/* Pre-formatted JSON (must be one valid value). */
void jw_raw(struct json_writer *w, const char *json, size_t len);
/* Append s JSON-escaped, without quotes, to b. */
int json_escape(struct buf *b, const char *s, size_t n);

#endif
