/*
 * s3.h - an S3 client over libcurl, for the object-storage tier.
 *
 * One struct s3_client talks to one bucket of one endpoint (s3_config.h).
 * Every request is signed with AWS Signature Version 4 (sigv4.h) over the
 * SHA-256 of its body, so a body altered on the way is refused by the
 * server. Buckets are addressed path-style (<endpoint>/<bucket>/<key>) unless
 * the configuration asks for virtual-hosted style (<bucket>.<endpoint>/<key>).
 * HTTPS verifies the server against the system's CAs (or --s3.ca-file).
 *
 * Threads: every call may be made from any thread at the same time. A call
 * borrows a "session" (a curl multi handle with its easy handles and their
 * open connections) from the client's idle list and gives it back when it
 * returns, so consecutive calls reuse connections without sharing a curl
 * handle between threads; DNS answers and TLS sessions are shared by all.
 *
 * Retries: a request that fails with a connection error, a timeout, an HTTP
 * 5xx, 429, or the S3 codes SlowDown, RequestTimeout, InternalError or
 * ServiceUnavailable is sent again (re-signed) up to --s3.max-retries times,
 * after base * 2^n delays (--s3.retry-base-delay, capped by
 * --s3.retry-max-delay) of which a random half is jitter; a Retry-After
 * header is honoured within the cap. Other failures return at once.
 *
 * Errors: calls return 0 or a negative STRATA_E* code, and fill the caller's
 * struct s3_error (which may be NULL) with a sentence naming the method, the
 * URL, the HTTP status and the S3 error code parsed from the answer's XML
 * body, e.g. "s3 GET http://127.0.0.1:9000/logs/a: HTTP 403
 * SignatureDoesNotMatch: The request signature we calculated does not match
 * ...". The codes: STRATA_ENOTFOUND (404: NoSuchKey, NoSuchBucket,
 * NoSuchUpload), STRATA_EFORBIDDEN (403, e.g. SignatureDoesNotMatch,
 * InvalidAccessKeyId, AccessDenied), STRATA_EUNAUTH (401), STRATA_EINVAL
 * (other 4xx, a bad key or range), STRATA_EEXISTS (409), STRATA_EUNAVAIL
 * (connection failures, 503 and 429 after the retries), STRATA_ETIMEOUT,
 * STRATA_ETOOLARGE (an answer larger than the caller's buffer), STRATA_EIO
 * (other 5xx, malformed answers) or the error of a body source.
 *
 * Memory: answers are read into bounded buffers: the caller's struct buf
 * (its maximum) for object data, 16 MiB for listings, 64 KiB for error
 * bodies. Uploads stream from memory or from a struct s3_source; nothing is
 * buffered whole.
 *
 * Metrics (core/metrics.h): strata_s3_requests_total{op},
 * strata_s3_retries_total, strata_s3_errors_total{code},
 * strata_s3_uploaded_bytes_total, strata_s3_uploaded_objects_total,
 * strata_s3_fetched_bytes_total, strata_s3_fetched_objects_total,
 * strata_s3_connections_total and strata_s3_request_duration_seconds{op}.
 */
#ifndef STRATA_S3_H
#define STRATA_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "remote/s3_config.h"
#include "remote/s3_xml.h"

struct s3_client;

/* What went wrong, for the log or the user. */
struct s3_error {
    int rc;            /* the STRATA_E* code the call returned */
    int http_status;   /* 0 when no answer arrived */
    char code[64];     /* the S3 error code ("NoSuchKey"), or the transport's ("ConnectFailed") */
    char message[768]; /* a full sentence naming method, URL, status, code and server message */
    char request_id[96];
    int attempts; /* requests sent, retries included */
};

/* What an answer said about an object. */
struct s3_object_info {
    int64_t size;        /* the whole object's size; -1 if unknown */
    int64_t first, last; /* GET: the inclusive byte range returned (-1, -1 when empty) */
    char etag[96];       /* quotes included, as S3 sends it */
    int64_t last_modified_ns;
};

/*
 * A byte range of an object:
 *   offset >= 0, length > 0: bytes [offset, offset + length)   (s3_range)
 *   offset >= 0, length < 0: bytes [offset, end)                (s3_range_from)
 *   offset < 0:              the last -offset bytes             (s3_suffix)
 * {0, -1} is the whole object (S3_WHOLE).
 */
struct s3_range {
    int64_t offset, length;
};
#define S3_WHOLE ((struct s3_range){0, -1})
static inline struct s3_range s3_range(int64_t offset, int64_t length)
{
    return (struct s3_range){offset, length};
}
static inline struct s3_range s3_range_from(int64_t offset)
{
    return (struct s3_range){offset, -1};
}
static inline struct s3_range s3_suffix(int64_t n)
{
    return (struct s3_range){-n, 0};
}

/*
 * A body to upload that is read in pieces: read_at must copy exactly len
 * bytes at off into buf and return 0, or a negative STRATA_E* (which aborts
 * the upload and is returned by it). It is called from the uploading thread,
 * possibly more than once for the same range (hashing, sending, retries).
 */
struct s3_source {
    uint64_t size;
    int (*read_at)(void *arg, uint64_t off, void *buf, size_t len);
    void *arg;
};

struct s3_put_result {
    char etag[96];
    int parts; /* 0 for a single PUT, else the number of parts of the multipart upload */
};

/* Open a client for cfg (which is copied; it must have passed s3_config_finish). Never
 * touches the network. Returns 0, or STRATA_EINVAL with a message in err. */
int s3_open(const struct s3_config *cfg, struct s3_client **out, char *err, size_t errlen);
/* Close idle connections and free the client. Calls must have returned. NULL is a no-op. */
void s3_close(struct s3_client *c);

/*
 * Open the client the server's options describe (s3_config_from_options)
 * and run s3_check_bucket. Returns 0 with *out NULL when no bucket is
 * configured, 0 with an open client, or an error with a message in err that
 * names the bucket, the endpoint and the S3 error code (a wrong secret gives
 * "... HTTP 403 SignatureDoesNotMatch ...", an unreachable endpoint
 * "... ConnectFailed ...").
 */
int s3_open_from_options(const struct config *cfg, struct s3_client **out, char *err,
                         size_t errlen);
/* s3_open_from_options, then close: the start-up check of a server without an S3 tier. */
int s3_check_from_options(const struct config *cfg, char *err, size_t errlen);

/* "http://127.0.0.1:9000" as configured, and the bucket's name: for messages. */
const char *s3_endpoint_url(const struct s3_client *c);
const char *s3_bucket(const struct s3_client *c);

/*
 * The start-up check: list at most one key of the bucket, which proves the
 * endpoint answers, the credentials and the signature are accepted, and the
 * bucket exists. When it does not (NoSuchBucket) and create_bucket_on_empty
 * is set, create it (an existing bucket of ours is fine) and check again.
 */
int s3_check_bucket(struct s3_client *c, struct s3_error *e);

/* PUT an object from memory; above --s3.part-size it is a multipart upload. res may be NULL. */
int s3_put(struct s3_client *c, const char *key, const void *data, size_t len,
           struct s3_put_result *res, struct s3_error *e);
/*
 * PUT an object read from src. Up to --s3.part-size it is one request;
 * larger objects are uploaded as a multipart upload whose parts go up in
 * parallel (--s3.max-parallel), each retried on its own. When a part fails
 * for good, no further part is sent; then, or when the completion fails,
 * the upload is aborted (so no parts are left behind to be billed) and the
 * error returned. An object is visible
 * only once complete: readers never see part of it.
 */
int s3_put_source(struct s3_client *c, const char *key, const struct s3_source *src,
                  struct s3_put_result *res, struct s3_error *e);
/* s3_put_source over a local file (read with pread; the file must not change meanwhile). */
int s3_put_file(struct s3_client *c, const char *key, const char *path, struct s3_put_result *res,
                struct s3_error *e);

/*
 * GET a range of an object, appended to out (bounded by out's maximum:
 * STRATA_ETOOLARGE beyond, out then holds what came before the call). A
 * range past the end is clipped by the server; one that starts past it is
 * STRATA_EINVAL (InvalidRange). info may be NULL.
 */
int s3_get(struct s3_client *c, const char *key, struct s3_range range, struct buf *out,
           struct s3_object_info *info, struct s3_error *e);

/* One of several ranged GETs made at once. */
struct s3_get_req {
    const char *key;
    struct s3_range range;
    struct buf *out;            /* appended to */
    struct s3_object_info info; /* filled on success */
    int rc;                     /* this request's result */
    struct s3_error err;        /* this request's error */
};
/*
 * Run every request of reqs, up to --s3.max-parallel at a time over one
 * session's connections, each retried on its own. Returns 0 when all
 * succeeded, else the first failure's rc (also copied to e); each request
 * has its own rc either way.
 */
int s3_get_many(struct s3_client *c, struct s3_get_req *reqs, size_t n, struct s3_error *e);

/* HEAD an object: STRATA_ENOTFOUND when there is none. info may be NULL. */
int s3_head(struct s3_client *c, const char *key, struct s3_object_info *info, struct s3_error *e);

/* DELETE one object; deleting an absent object succeeds (S3's semantics). */
int s3_delete(struct s3_client *c, const char *key, struct s3_error *e);
/*
 * Delete many objects with DeleteObjects, --s3.delete-batch-size keys per
 * request (at most 1000, S3's limit). Absent keys count as deleted. When some keys could not be
 * deleted, the others still are; the call returns an error naming the first
 * failed key, its code and how many failed.
 */
int s3_delete_objects(struct s3_client *c, const char *const *keys, size_t n, struct s3_error *e);

struct s3_list_opts {
    const char *prefix;      /* only keys starting with it (NULL: all) */
    const char *delimiter;   /* group keys by what follows the prefix up to it (NULL: none) */
    const char *start_after; /* only keys after it (NULL: from the start) */
    int max_keys;            /* keys per page, 1..1000 (0: the server's default, 1000) */
};
/*
 * One ListObjectsV2 page: token is NULL for the first page, then the
 * previous page's next_token. Results live in a.
 */
int s3_list_page(struct s3_client *c, const struct s3_list_opts *o, const char *token,
                 struct arena *a, struct s3_list_result *out, struct s3_error *e);
/*
 * Called for each listed object (prefix NULL) or common prefix (obj NULL),
 * in key order within a page; a nonzero return stops the listing, and
 * s3_list returns it.
 */
typedef int (*s3_list_fn)(void *arg, const struct s3_object_entry *obj, const char *prefix);
/* Every page of a listing, following continuation tokens. */
int s3_list(struct s3_client *c, const struct s3_list_opts *o, s3_list_fn fn, void *arg,
            struct s3_error *e);

/* Multipart uploads in progress under prefix (e.g. left by a crashed writer). */
typedef int (*s3_upload_fn)(void *arg, const struct s3_upload_entry *u);
int s3_list_uploads(struct s3_client *c, const char *prefix, s3_upload_fn fn, void *arg,
                    struct s3_error *e);
/* Abort one multipart upload, freeing its parts. */
int s3_abort_upload(struct s3_client *c, const char *key, const char *upload_id,
                    struct s3_error *e);

/* Counters of one client since s3_open (the metrics add up every client). */
struct s3_stats {
    uint64_t requests, retries, errors, connections;
    uint64_t bytes_up, objects_up, bytes_down, objects_down;
};
void s3_stats(struct s3_client *c, struct s3_stats *out);

/*
 * The decisions of the retry policy, exposed for tests: whether a request
 * that ended with curl result curl_code (0 when an answer arrived), HTTP
 * status and S3 error code (may be empty) is sent again.
 */
bool s3_retryable(int curl_code, int http_status, const char *code);
/* The STRATA_E* code for an HTTP error status. */
int s3_status_rc(int http_status);
/* The delay before retry number n (1-based): base * 2^(n-1), capped, with jitter in [d/2, d]. */
int64_t s3_backoff_ns(const struct s3_config *cfg, int n, uint64_t random);

#endif
