/*
 * batch.h - the normalised push batch: what every ingest path produces.
 *
 * Every decoder (Loki JSON and protobuf, Logthra, LogsGO gRPC, OTLP, RabbitMQ)
 * turns its input into one struct push_batch: a tenant, and streams with
 * sorted labels, a fingerprint and their entries. From here on the path is the
 * same for everyone: limits, WAL record, head. All memory of a batch lives in
 * its arena (lines usually point into the request body, which must outlive
 * the batch).
 *
 * A stream that appears twice in one request is merged into one
 * stream_batch, so a WAL record and a head append see each stream once.
 */
#ifndef STRATA_BATCH_H
#define STRATA_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "ingest/labels.h"

#define TENANT_MAX 150

struct entry {
    int64_t ts; /* ns since the epoch */
    struct slice line;
    struct label *meta; /* structured metadata, NULL when none */
    uint32_t n_meta;
};

struct stream_batch {
    struct label *labels; /* sorted by name, no duplicates */
    uint32_t n_labels;
    uint64_t fp;      /* labels_fingerprint(labels) */
    struct slice key; /* canonical {a="1", b="2"} */
    struct entry *entries;
    uint32_t n_entries, cap_entries; /* cap is private */
};

struct push_batch {
    struct arena arena; /* owns everything below but the line bytes */
    char tenant[TENANT_MAX + 1];
    struct stream_batch *streams;
    uint32_t n_streams, cap_streams; /* cap is private */
    uint64_t n_entries, n_bytes;     /* totals: entries and line bytes */
    /* private: index by fingerprint for merging repeated streams */
    uint32_t *index;
    uint32_t index_cap;
};

void push_batch_init(struct push_batch *b, const char *tenant);
void push_batch_release(struct push_batch *b);

/*
 * Find or add the stream with this label set. labels must already be sorted
 * and free of duplicates (see labels_sort, labels_find_duplicate); the array
 * is copied into the batch's arena, the label bytes are not. Returns the
 * stream's index.
 */
uint32_t push_batch_stream(struct push_batch *b, const struct label *labels, uint32_t n);
/* Append an entry to stream si; the line and metadata bytes are not copied. */
void push_batch_add(struct push_batch *b, uint32_t si, int64_t ts, struct slice line,
                    struct label *meta, uint32_t n_meta);
/* Remove entries for which keep() is false, and streams left empty; recomputes totals. */
void push_batch_filter(struct push_batch *b,
                       bool (*keep)(const struct stream_batch *, const struct entry *, void *),
                       void *arg);
/*
 * What happened to a push: how many entries were accepted, and which were
 * rejected and why (Loki reports each in its 400 body). Rejections live in
 * the batch's arena.
 */
struct push_rejection {
    uint32_t stream; /* index into the batch's streams */
    int64_t ts;
    int rc; /* STRATA_E*: decides 400 vs 429 */
    const char *reason;
};

struct push_result {
    uint64_t accepted;
    struct push_rejection *rejected;
    uint32_t n_rejected, cap_rejected; /* cap is private */
    int last_rc;                       /* rc of the last rejection, 0 if none */
    /*
     * Validation (Loki's distributor): the last error message found while
     * decoding and validating (bad labels, line too long, too old); the valid
     * rest of the request is still stored, and the reply is 400 with this text.
     */
    const char *error;
    int error_rc;
    /* Entries refused by validation (limits, bad labels) before reaching the store. */
    uint64_t n_invalid;
};

void push_result_init(struct push_result *r);
__attribute__((format(printf, 6, 7))) void push_result_reject(struct push_result *r,
                                                              struct push_batch *b, uint32_t si,
                                                              int64_t ts, int rc, const char *fmt,
                                                              ...);

__attribute__((format(printf, 4, 5))) void
push_result_error(struct push_result *r, struct push_batch *b, int rc, const char *fmt, ...);

/* True when s is a valid tenant id: 1..150 chars of [a-zA-Z0-9!-_.*'()], not "." or "..". */
bool tenant_valid(const char *s, size_t n);

#endif
