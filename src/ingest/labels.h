/*
 * labels.h - label sets: parsing, normalisation, canonical form, fingerprints.
 *
 * A stream is identified by its label set. In every path labels are brought to
 * one normal form here: names checked against Prometheus' [a-zA-Z_][a-zA-Z0-9_]*
 * (or sanitised, where Loki sanitises), sorted by name, duplicates reported,
 * values checked as UTF-8. The canonical string is Loki's `{a="1", b="2"}` (Go
 * quoting), which is also what error messages and the query API show, and the
 * fingerprint is a 64-bit hash of the sorted name/value pairs.
 *
 * Structured metadata (per-entry key/values) uses the same struct label and a
 * compact binary encoding, labels_encode/labels_decode, shared by the WAL,
 * the head and the part format.
 */
#ifndef STRATA_LABELS_H
#define STRATA_LABELS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/slice.h"

struct label {
    struct slice name, value;
};

/* True when name matches [a-zA-Z_][a-zA-Z0-9_]*. */
bool label_name_valid(struct slice name);
/* Replace characters outside [a-zA-Z0-9_] by '_' (and prefix '_' before a digit), as Loki's
 * OTLP and parser paths do. The result is allocated in a when it differs. */
struct slice label_name_sanitize(struct arena *a, struct slice name);

/*
 * Normalise a free-form key into a label name as Prometheus' OTLP translator
 * (and so Loki) does: every character outside [a-zA-Z0-9_] (a whole UTF-8
 * character at a time) becomes '_', a leading digit gets "key_" in front and
 * a single leading '_' gets "key". "service.name" -> "service_name". An empty
 * name stays empty. The result is allocated in a when it differs.
 */
struct slice label_name_normalize(struct arena *a, struct slice name);

/* Sort by name (byte order). */
void labels_sort(struct label *v, uint32_t n);
/* After sorting: the index of the first duplicated name, or -1. */
int labels_find_duplicate(const struct label *v, uint32_t n);
/* A copy of v[0..n), names and values included, in a. */
struct label *labels_dup(struct arena *a, const struct label *v, uint32_t n);
/* Fingerprint of a sorted label set. */
uint64_t labels_fingerprint(const struct label *v, uint32_t n);
/* Append the canonical `{a="1", b="2"}` form of a sorted set. */
int labels_format(struct buf *b, const struct label *v, uint32_t n);
/* The value of name in the set, or NULL. */
const struct slice *labels_get(const struct label *v, uint32_t n, const char *name);

/*
 * Parse Loki's stream label string `{app="x", env="prod"}`: only = matchers,
 * Go-quoted values. The labels point into text or a. On error returns
 * STRATA_EPARSE and writes the reason to err.
 */
int labels_parse(struct slice text, struct arena *a, struct label **out, uint32_t *n, char *err,
                 size_t errlen);

/* Encoding of a label list: uvarint count, then per label uvarint len + bytes, twice. */
int labels_encode(struct buf *b, const struct label *v, uint32_t n);
/*
 * labels_encode for a run of label lists (each entry's metadata), remembering
 * the last one: consecutive entries of a stream usually carry equal metadata
 * (detected_level), which is then encoded once. Caller-owned; the fields are
 * private.
 */
struct labels_encoder {
    struct buf enc;
    struct label *last; /* a copy of the last list's slices (the bytes are the caller's) */
    uint32_t n_last, cap_last;
    bool valid;
};
void labels_encoder_init(struct labels_encoder *e);
void labels_encoder_release(struct labels_encoder *e);
/*
 * The encoding of v[0..n) in *out, valid until the next call (or release).
 * The label bytes of the previous call's list must still be valid: they are
 * compared, not copied. 0 or the error of labels_encode.
 */
int labels_encoder_encode(struct labels_encoder *e, const struct label *v, uint32_t n,
                          struct slice *out);
/* Decode into an array allocated in a, pointing into enc. STRATA_ECORRUPT if malformed. */
int labels_decode(struct slice enc, struct arena *a, struct label **out, uint32_t *n);
/* Read an unsigned LEB128 varint from *p (advancing it) within end; -1 if malformed. */
int uvarint_read(const unsigned char **p, const unsigned char *end, uint64_t *v);

#endif
