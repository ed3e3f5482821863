/*
 * normalize.h - one place where every ingest path validates and normalises.
 *
 * Each decoder (Loki JSON and protobuf, Logthra, LogsGO, OTLP, RabbitMQ)
 * hands its streams and entries to a struct normalizer instead of writing
 * the push_batch itself, so that every path applies the same rules, Loki's
 * distributor rules:
 *
 * - a stream's labels: names valid (or, for paths whose keys are free-form,
 *   normalised as Prometheus/Loki do: invalid characters become '_', a
 *   leading digit gets "key_"), values valid UTF-8, sorted, no duplicates,
 *   at most max_label_names_per_series names (service_name not counted),
 *   name and value lengths; then `service_name` is added from the first
 *   present label of the discovery list (else `unknown_service`);
 * - an entry: not older than reject_old_samples_max_age, not newer than
 *   creation_grace_period, line within max_line_size (or truncated), valid
 *   UTF-8 where the decoder did not already check, structured metadata
 *   allowed and within its size and count; then `detected_level` metadata is
 *   added (from level labels, level metadata, OTLP severity, a JSON or
 *   logfmt level field, or words in the line, else `unknown`).
 *
 * A refused stream or entry is not an error of the request: the message
 * (Loki's text) goes to res->error, the entry is counted in res->n_invalid,
 * and the rest of the request is still stored, as Loki does. Only running
 * past the decode memory budget (push_batch arena limit) stops a decoder:
 * norm_stream and norm_entry then return STRATA_ETOOLARGE.
 */
#ifndef STRATA_NORMALIZE_H
#define STRATA_NORMALIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "ingest/batch.h"
#include "ingest/limits.h"

/* The stream index norm_stream gives a refused stream: its entries are counted, not stored. */
#define NORM_DROPPED UINT32_MAX

struct normalizer {
    const struct tenant_limits *lim; /* public */
    int64_t now;                     /* public: ns, for the age checks */
    struct push_batch *b;            /* public */
    struct push_result *res;         /* public */
    /* public: label names are normalised instead of refused (LogsGO, Logthra, OTLP keys). */
    bool sanitize_names;
    /* public: lines and metadata need a UTF-8 check (the JSON reader already did it). */
    bool check_utf8;
    uint32_t level_si;         /* private: stream index + 1 whose level label is cached */
    bool has_stream_level;     /* private: that stream has a level label, */
    struct slice stream_level; /* private: normalised to this */
};

void norm_init(struct normalizer *nz, const struct tenant_limits *lim, int64_t now,
               struct push_batch *b, struct push_result *res);

/*
 * Validate and normalise a stream's labels, then find or add the stream in
 * the batch. labels (n of them) may be reordered (and, with sanitize_names,
 * renamed) in place, then copied; their bytes must outlive the batch. *si is
 * the stream index, or NORM_DROPPED when the labels were refused (reason in
 * res->error). Returns 0, or STRATA_ETOOLARGE past the decode memory budget.
 */
int norm_stream(struct normalizer *nz, struct label *labels, uint32_t n, uint32_t *si);
/*
 * Validate an entry of stream si (a norm_stream result) and add it. The line
 * and metadata bytes are not copied; meta may be extended in the batch arena
 * (detected_level). Returns 0 (added or refused), or STRATA_ETOOLARGE past the
 * decode memory budget.
 */
int norm_entry(struct normalizer *nz, uint32_t si, int64_t ts, struct slice line,
               struct label *meta, uint32_t n_meta);

/*
 * Write the message for a request past the decode memory budget into err and
 * return STRATA_ETOOLARGE (413): every decoder stops with the same words.
 */
int norm_too_large(char *err, size_t errlen);

/*
 * Loki's level detection for an entry: the value of a level label or
 * metadata key (normalised: "WARNING" -> "warn"; unknown words are kept),
 * the OTLP severity_number, a level field of a JSON or logfmt line, or a
 * level word in the line; "unknown" when nothing says. The slice points to
 * a static string or into the labels, metadata or line.
 */
struct slice norm_detect_level(const struct label *labels, uint32_t n, const struct label *meta,
                               uint32_t n_meta, struct slice line);

#endif
