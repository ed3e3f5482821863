/*
 * entries.h - libstrata's own copies of the entries it sends, and the request
 * bodies made from them.
 *
 * An upload's entries are checked and copied into struct centry (one
 * allocation per entry) before the upload returns, so the caller's memory is
 * never read later and the asynchronous queue can hold them as long as it
 * must. Two kinds exist:
 *
 * - CENTRY_LOGSGO: a LogsGO log kept as LogsGO's API has it (service, level,
 *   message, unix seconds, custom labels as given), sent over gRPC to
 *   logapi.LogIngestor, whose server side normalises the labels;
 * - CENTRY_LOKI: a line of a stream (sorted labels, nanoseconds), sent over
 *   gRPC to logproto.Pusher or over HTTP to /loki/api/v1/push. A LogsGO log
 *   meant for HTTP is turned into one at upload time, with the labels the
 *   server's LogsGO path would give it (centry_from_log with as_stream).
 *
 * Bodies are written with the project's protobuf writer (ingest/pbwire.h),
 * which takes explicit lengths (lines may hold NUL bytes) and needs no
 * generated structs, and with the JSON writer (core/json.h).
 */
#ifndef STRATA_CLIENT_ENTRIES_H
#define STRATA_CLIENT_ENTRIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "ingest/labels.h"
#include "strata.h"

enum centry_kind { CENTRY_LOGSGO, CENTRY_LOKI };

struct centry {
    struct centry *next; /* private to the queue (sender.c) */
    int64_t enqueued;    /* private to the queue: monotonic ns */
    enum centry_kind kind;
    int64_t ts;           /* LOGSGO: unix seconds; LOKI: unix ns */
    size_t size;          /* bytes charged to the queue: the strings it holds */
    struct slice service; /* LOGSGO only */
    struct slice level;   /* LOGSGO only */
    struct slice line;    /* the message (LOGSGO) or the line (LOKI) */
    struct label *labels; /* LOGSGO: custom labels as given; LOKI: the stream's, sorted */
    uint32_t n_labels;
    struct slice stream; /* LOKI: the canonical `{a="1", b="2"}` form of labels */
};

/*
 * Check a LogsGO log and copy it. now_s replaces a zero timestamp. With
 * as_stream the copy is a CENTRY_LOKI entry (HTTP transports): labels service,
 * level and the custom labels with LogsGO's key rules (trimmed; empty and
 * reserved keys dropped; the last of a repeated key wins; names normalised as
 * the server does for LogsGO), line = message, time in ns. Returns 0, or
 * STRATA_EINVAL with LogsGO's message in err.
 */
int centry_from_log(const struct strata_log *log, int64_t now_s, bool as_stream,
                    struct centry **out, char *err, size_t errlen);

/*
 * Check a Loki-style entry and copy it as CENTRY_LOKI. now_ns replaces a zero
 * timestamp. STRATA_EINVAL with a message in err for no labels, an invalid or
 * repeated label name, a NULL label value, or line NULL with line_len > 0.
 */
int centry_from_entry(const struct strata_entry *e, int64_t now_ns, struct centry **out, char *err,
                      size_t errlen);

void centry_free(struct centry *e);

/* LogsGO's LogEntry message (UploadLog's request) for one CENTRY_LOGSGO entry. */
int encode_logsgo_entry(const struct centry *e, struct buf *out);
/* LogsGO's LogBatch message (UploadLogs' request). */
int encode_logsgo_batch(struct centry *const *v, size_t n, struct buf *out);
/*
 * Loki's PushRequest protobuf for CENTRY_LOKI entries, one StreamAdapter per
 * distinct stream (in order of first appearance), entries in their order.
 */
int encode_loki_proto(struct centry *const *v, size_t n, struct buf *out);
/* Loki's JSON push body {"streams":[{"stream":{...},"values":[["<ns>","line"]]}]}. */
int encode_loki_json(struct centry *const *v, size_t n, struct buf *out);

/* Does the UploadResponse in msg say success? (A missing field is false, as in proto3.) */
bool upload_response_success(struct slice msg);

#endif
