/*
 * strata.h - libstrata, the C client library of Strata.
 *
 * libstrata sends logs to a Strata server. It keeps the API of LogsGO's Go
 * client (UploadLog, UploadLogs, Close: same checks, same error texts,
 * timestamp 0 meaning now) and adds what a C program needs to log without
 * thinking about it: an asynchronous mode that batches, bounds its memory and
 * retries, TLS, bearer tokens, tenants, and Loki-style entries with any labels.
 *
 *     #include <strata.h>
 *
 *     struct strata_options o;
 *     strata_options_init(&o);
 *     struct strata_client *c;
 *     if (strata_client_new("127.0.0.1:9095", &o, &c) < 0)
 *         die(strata_last_error());
 *     struct strata_label region = {"region", "eu"};
 *     struct strata_log log = {.service = "api", .level = "info",
 *                              .message = "started", .labels = &region, .n_labels = 1};
 *     if (strata_upload_log(c, &log) < 0)
 *         fprintf(stderr, "upload: %s\n", strata_last_error());
 *     strata_client_close(c);
 *
 * Build with `pkg-config --cflags --libs strata`. docs/CLIENT.md has the guide.
 *
 * Transports. By default a client speaks gRPC to the server's gRPC listener
 * (`--grpc-listen-addr`, 127.0.0.1:9095): LogsGO logs go through LogsGO's
 * `logapi.LogIngestor/UploadLog(s)`, Loki-style entries through Loki's
 * `logproto.Pusher/Push`. With STRATA_TRANSPORT_HTTP_PROTOBUF or
 * STRATA_TRANSPORT_HTTP_JSON it POSTs to Loki's `/loki/api/v1/push` on the HTTP
 * listener instead (snappy-compressed protobuf, or JSON). A LogsGO log becomes
 * the same stream either way: labels `service`, `level` and its custom labels
 * (keys trimmed; empty keys and the reserved keys service, level, message
 * dropped, in any case), line = message, time = timestamp seconds.
 *
 * Synchronous and asynchronous. A synchronous client (the default) sends each
 * call's logs in one request and returns the server's answer: one attempt, no
 * retry, as LogsGO's client does. An asynchronous client (options.async)
 * checks the logs, copies them into a bounded queue and returns at once; a
 * background thread sends them in batches (a batch leaves when it holds
 * batch_max_entries or batch_max_bytes, or when its oldest entry has waited
 * batch_wait_ms) and retries retryable failures with exponential backoff and
 * jitter. strata_flush waits for the queue to drain; strata_client_close
 * flushes (up to close_timeout_ms) before it frees the client.
 *
 * Delivery is at least once: an entry is removed from the queue only when the
 * server acknowledged it, or when it is given up (and then counted in
 * strata_stats.dropped and reported to on_error). A batch whose answer was
 * lost (the server stored it, then the connection broke) is sent again, so
 * the server may see an entry twice; Strata drops an exact repeat of a
 * stream's last entry (same time, same line) but not every duplicate.
 * Acknowledged means the server has stored the entries; whether they survive
 * the server's own crash is the server's durability (its write-ahead log).
 *
 * Retryable failures: the server cannot be reached, the connection broke,
 * timeouts, gRPC UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, DEADLINE_EXCEEDED,
 * CANCELLED (a server shutting down cancels its calls), INTERNAL, and HTTP
 * 429, 500, 502, 503 and 504. Everything else (a malformed entry, HTTP
 * 400/413, authentication failures, a certificate that does not verify) is
 * final for that batch.
 *
 * When the queue is full (queue_max_entries or queue_max_bytes, counting the
 * entries being sent), options.on_full decides:
 *   STRATA_QUEUE_BLOCK        the upload waits for room up to enqueue_timeout_ms,
 *                             then fails with STRATA_EBUSY (nothing is lost
 *                             silently; the caller slows down to the server's pace);
 *   STRATA_QUEUE_DROP_NEWEST  the upload fails at once with STRATA_EBUSY;
 *   STRATA_QUEUE_DROP_OLDEST  the oldest queued entries (never those being sent)
 *                             are dropped to make room, counted in
 *                             strata_stats.dropped and reported to on_error, and
 *                             the upload succeeds: the freshest logs are kept
 *                             (when the batch being sent alone leaves too little
 *                             room, the upload fails with STRATA_EBUSY).
 * An upload is all or nothing: either all its entries are queued or none.
 *
 * Errors. Every function that can fail returns 0 or a negative STRATA_E* code
 * from strata_err.h (strata_strerror(rc) gives its short text). The precise
 * message of the last failure in the calling thread is strata_last_error():
 * LogsGO's texts for upload errors ("no options provided for log upload", "log
 * entry must contain Service, Level, and Message fields", "failed to upload
 * log(s): ..."), with the server's answer where there is one.
 *
 * Threads. A client may be used from any number of threads at once: uploads,
 * flushes and stats are safe to call concurrently. strata_client_close must be
 * the last call on a client, made once no other thread uses it.
 *
 * Memory. libstrata copies what it needs from the caller's structures before
 * an upload returns: the caller keeps ownership of everything it passes.
 * Like the rest of Strata it aborts the process when malloc fails; every queue
 * it grows is bounded by the options.
 */
#ifndef STRATA_H
#define STRATA_H

#include <stddef.h>
#include <stdint.h>

#include "strata_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "MAJOR.MINOR.PATCH"; the shared object is libstrata.so.MAJOR. */
const char *strata_client_version(void);

/* ---- what is sent ---- */

/* A label: a name and a value, both NUL-terminated UTF-8. */
struct strata_label {
    const char *name;
    const char *value;
};

/*
 * A LogsGO log entry (LogsGO's LogOpts). service, level and message are
 * required and must not be empty. timestamp is in unix seconds; 0 means the
 * time of the upload. labels are custom labels (a map in LogsGO: when a name
 * repeats, the last value wins).
 */
struct strata_log {
    const char *service;
    const char *level;
    const char *message;
    int64_t timestamp;
    const struct strata_label *labels;
    size_t n_labels;
};

/*
 * A Loki-style entry: a line of a stream. labels identify the stream (at
 * least one; names must not repeat). timestamp_ns is in unix nanoseconds; 0
 * means the time of the upload. line holds line_len bytes (it need not be
 * NUL-terminated, and may be empty).
 */
struct strata_entry {
    const struct strata_label *labels;
    size_t n_labels;
    int64_t timestamp_ns;
    const char *line;
    size_t line_len;
};

/* ---- options ---- */

enum strata_transport {
    STRATA_TRANSPORT_GRPC = 0,      /* gRPC (LogsGO LogIngestor, Loki Pusher); the default */
    STRATA_TRANSPORT_HTTP_PROTOBUF, /* POST /loki/api/v1/push, snappy protobuf */
    STRATA_TRANSPORT_HTTP_JSON,     /* POST /loki/api/v1/push, JSON */
};

enum strata_full_policy {
    STRATA_QUEUE_BLOCK = 0,   /* wait up to enqueue_timeout_ms, then STRATA_EBUSY; the default */
    STRATA_QUEUE_DROP_NEWEST, /* refuse the new entries at once with STRATA_EBUSY */
    STRATA_QUEUE_DROP_OLDEST, /* drop the oldest queued entries and accept the new ones */
};

/*
 * TLS. With enabled set, the client speaks TLS and checks the server's
 * certificate against ca_file (PEM), or the system's roots when ca_file is
 * NULL. cert_file and key_file (PEM, both or neither) give a client
 * certificate for mutual TLS. server_name, when set, is the name checked in
 * the server's certificate instead of the address' host (gRPC only). The
 * files are read when the client is created. For the HTTP transports an
 * "https://" address turns TLS on as well.
 */
struct strata_tls {
    int enabled;
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    const char *server_name;
};

/*
 * Called from the sender thread of an asynchronous client when entries are
 * given up: a final error from the server (rc and its message), retries
 * exhausted, the close timeout reached (STRATA_ETIMEOUT), or, with
 * STRATA_QUEUE_DROP_OLDEST, entries pushed out of a full queue (STRATA_EBUSY;
 * then from the uploading thread). n_entries is how many were given up. It
 * must return quickly and must not call this client's functions other than
 * strata_client_stats.
 */
typedef void (*strata_error_fn)(void *arg, int rc, const char *message, size_t n_entries);

struct strata_options {
    enum strata_transport transport;
    struct strata_tls tls;
    const char *bearer_token; /* sent as "authorization: Bearer <token>"; NULL for none */
    const char *tenant;       /* sent as X-Scope-OrgID; NULL for the server's default */
    int timeout_ms;           /* per request, connection included (default 10000) */

    /* asynchronous mode */
    int async;                       /* 0: synchronous (default); 1: queued and batched */
    size_t batch_max_entries;        /* a batch leaves at this many entries (default 1000) */
    size_t batch_max_bytes;          /* ... or this many bytes of lines (default 1 MiB) */
    int batch_wait_ms;               /* ... or when its oldest entry waited this long (1000) */
    size_t queue_max_entries;        /* entries held at most, in flight included (100000) */
    size_t queue_max_bytes;          /* bytes held at most (default 64 MiB) */
    enum strata_full_policy on_full; /* what a full queue does (default STRATA_QUEUE_BLOCK) */
    int enqueue_timeout_ms;          /* STRATA_QUEUE_BLOCK's wait (default 5000; -1 forever) */
    int max_retries;                 /* retries of a batch (default 10; -1 until close) */
    int retry_min_ms;                /* first backoff (default 250) */
    int retry_max_ms;                /* backoff cap (default 30000) */
    int close_timeout_ms;            /* how long close waits for the queue (default 10000) */
    strata_error_fn on_error;        /* optional, see strata_error_fn */
    void *on_error_arg;
};

/* Fill o with the defaults above. Call it first, then change what you need. */
void strata_options_init(struct strata_options *o);

/* ---- the client ---- */

struct strata_client;

/*
 * Create a client for addr: "host:port" for gRPC (LogsGO's form, e.g.
 * "127.0.0.1:9095"), a base URL for HTTP ("http://127.0.0.1:3100"; a bare
 * "host:port" gets http://, or https:// with TLS). opts may be NULL for the
 * defaults; it is copied (strings included). Connections are made lazily, on
 * the first upload, so a server that is down is not an error here.
 * Returns 0 and sets *out, or STRATA_EINVAL (bad address or options, an
 * unreadable TLS file: see strata_last_error()).
 */
int strata_client_new(const char *addr, const struct strata_options *opts,
                      struct strata_client **out);

/*
 * Upload one LogsGO log. NULL gives STRATA_EINVAL "no options provided for log
 * upload"; an empty service, level or message gives STRATA_EINVAL "log entry
 * must contain Service, Level, and Message fields". Synchronous: 0 once the
 * server acknowledged it, else the error ("failed to upload log(s): ...").
 * Asynchronous: 0 once queued; STRATA_EBUSY when the queue is full (see the
 * policies above); STRATA_ECANCELED after close began.
 */
int strata_upload_log(struct strata_client *c, const struct strata_log *log);

/*
 * Upload n LogsGO logs as one batch (one UploadLogs call). No logs (logs NULL
 * or n 0) gives STRATA_EINVAL "no options provided for log upload"; any log
 * without service, level or message fails the whole call before anything is
 * sent. Otherwise as strata_upload_log.
 */
int strata_upload_logs(struct strata_client *c, const struct strata_log *logs, size_t n);

/*
 * Upload n Loki-style entries. An entry without labels, with an empty or
 * repeated label name, or with line NULL and line_len > 0 fails the whole
 * call with STRATA_EINVAL. Otherwise as strata_upload_logs.
 */
int strata_push(struct strata_client *c, const struct strata_entry *entries, size_t n);

/*
 * Asynchronous clients: wait until every entry queued so far has been
 * acknowledged or given up, at most timeout_ms (-1: no limit). Returns 0, or
 * STRATA_ETIMEOUT with entries still queued. Synchronous clients return 0.
 */
int strata_flush(struct strata_client *c, int timeout_ms);

/* Counters of an asynchronous client (all zero for a synchronous one). */
struct strata_stats {
    uint64_t queued;   /* entries held now: waiting or being sent */
    uint64_t accepted; /* entries accepted into the queue since creation */
    uint64_t sent;     /* entries acknowledged by the server */
    uint64_t dropped;  /* entries given up after being accepted (see strata_error_fn) */
    uint64_t refused;  /* entries refused by a full queue (STRATA_EBUSY to the caller) */
    uint64_t batches;  /* requests acknowledged by the server */
    uint64_t retries;  /* failed attempts that were retried */
};

void strata_client_stats(struct strata_client *c, struct strata_stats *out);

/*
 * Flush (asynchronous clients: up to close_timeout_ms, plus the request in
 * flight then, at most timeout_ms; what is still queued is dropped and
 * reported), stop the sender, close connections and free the client.
 * Returns 0 when everything accepted was delivered, else the last error
 * (STRATA_ETIMEOUT when the deadline cut the flush). NULL is a no-op
 * returning 0.
 */
int strata_client_close(struct strata_client *c);

/*
 * The message of the last error returned to the calling thread by a
 * libstrata function, "" if there was none. Valid until the thread's next
 * libstrata call.
 */
const char *strata_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
