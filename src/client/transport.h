/*
 * transport.h - how libstrata talks to a server: one request, one answer.
 *
 * Two transports implement it: grpc_conn (the gRPC core C API, unary calls)
 * and http_conn (libcurl). Each is created from the client's options (TLS
 * files, bearer token, tenant, timeout) and may be used from several threads
 * at once. A request's outcome is a struct send_result: the STRATA_E* code,
 * whether trying again could succeed (the retry rule in strata.h), and a
 * message with the server's own words.
 */
#ifndef STRATA_CLIENT_TRANSPORT_H
#define STRATA_CLIENT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "strata.h"

struct send_result {
    int rc;         /* 0 or STRATA_E* */
    bool retryable; /* the failure may go away: try again later */
    int status;     /* the HTTP status or gRPC status code (0 when no answer came) */
    char msg[1024]; /* what went wrong, for people */
};

/* Set r to a failure; returns rc. */
__attribute__((format(printf, 4, 5))) int send_result_fail(struct send_result *r, int rc,
                                                           bool retryable, const char *fmt, ...);

/* Read a whole (small) file, e.g. a PEM file, into a NUL-terminated string the caller frees. */
int read_small_file(const char *path, size_t max, char **out, char *err, size_t errlen);

/* ---- gRPC ---- */

struct grpc_conn;

/*
 * A channel to target ("host:port") with o's TLS, token, tenant and timeout.
 * The TLS files are read here. STRATA_EINVAL with a message on bad options.
 */
int grpc_conn_new(const char *target, const struct strata_options *o, struct grpc_conn **out,
                  char *err, size_t errlen);
/*
 * One unary call of method (e.g. "/logapi.LogIngestor/UploadLogs") with req
 * as the message; the reply message goes into resp. The gRPC status is
 * mapped to a STRATA_E* code; UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED,
 * DEADLINE_EXCEEDED, CANCELLED (only a server cancels here, e.g. while it
 * shuts down) and INTERNAL are retryable. The message reads like Go's grpc errors:
 * "rpc error: code = Unavailable desc = ...". A call fails at once when
 * there is no connection.
 */
int grpc_conn_call(struct grpc_conn *g, const char *method, struct slice req, struct buf *resp,
                   struct send_result *r);
/*
 * Until until (monotonic ns) or until the channel is ready, whichever comes
 * first, drive its connection attempts (after a failure, with its reconnect
 * backoff reset): gRPC connects only while some thread polls, so without
 * this a server that came back would be found seconds late. True when the
 * channel is ready.
 */
bool grpc_conn_await(struct grpc_conn *g, int64_t until);
void grpc_conn_free(struct grpc_conn *g);

/* ---- HTTP ---- */

struct http_conn;

/*
 * A libcurl client for base_url ("http://host:port" or "https://..."), with
 * o's TLS files, token, tenant and timeout. STRATA_EINVAL on a bad URL.
 */
int http_conn_new(const char *base_url, const struct strata_options *o, struct http_conn **out,
                  char *err, size_t errlen);
/*
 * One request: method "GET" or "POST", path with its query string (already
 * encoded), an optional body with its Content-Type. The answer's body goes
 * into resp (up to resp's maximum: STRATA_ETOOLARGE beyond). 2xx gives 0;
 * other statuses map to STRATA_E* codes (429, 500, 502, 503, 504 retryable)
 * with the body in the message; connection failures and timeouts are
 * retryable, certificate failures (STRATA_EUNAVAIL too) are not.
 */
int http_conn_request(struct http_conn *h, const char *method, const char *path,
                      const char *content_type, struct slice body, struct buf *resp,
                      struct send_result *r);
void http_conn_free(struct http_conn *h);

/* The STRATA_E* code for an HTTP error status. */
int http_status_rc(int status);
/* Append s percent-encoded for a URL query value (RFC 3986 unreserved kept). */
int url_escape(struct buf *b, const char *s, size_t n);

#endif
