/*
 * http.h - the HTTP server: libmicrohttpd underneath, a route table on top.
 *
 * Threads: libmicrohttpd polls sockets with epoll on --server.http-threads
 * threads and reads request bodies (bounded by --server.max-body-bytes: a
 * larger Content-Length is answered 413 before the body is read). A complete
 * request is suspended and handed to a worker pool (--server.workers), where
 * its handler runs and may block; the handler's reply resumes the connection.
 *
 * A handler receives a struct http_req, reads what it needs (method, path,
 * headers, parameters, body) and must call one of the http_reply* functions
 * exactly once before it returns. Memory for the request comes from
 * req->arena and is freed when the response has been sent.
 */
#ifndef STRATA_HTTP_H
#define STRATA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/slice.h"

struct http_server;
struct http_req;

typedef void (*http_handler)(struct http_req *req, void *ctx);

/*
 * Route flags. The role flags say what a credential must hold when
 * authentication is on (auth.h); a route with none of OPEN, READ, WRITE and
 * ADMIN needs admin, so that a route added without thought is closed, not
 * open.
 */
enum {
    ROUTE_PREFIX = 1, /* path is a prefix (ends with '/') rather than an exact path */
    ROUTE_OPEN = 2,   /* never needs a credential (the dashboard's static files) */
    ROUTE_READ = 4,   /* needs the read role; may name several tenants ("a|b") */
    ROUTE_WRITE = 8,  /* needs the write role; names exactly one tenant */
    ROUTE_ADMIN = 16, /* needs the admin role */
    /* A WebSocket route: a browser's credential and tenant may come as subprotocols (wsauth.h). */
    ROUTE_WEBSOCKET = 32,
};

struct http_route {
    const char *methods; /* "GET", "GET,POST", ... */
    const char *path;
    http_handler handler;
    const char *name; /* for metrics; defaults to path */
    unsigned flags;
};

/* A handler may inspect these; they stay valid for the request's life. */
struct http_req {
    const char *method;
    const char *path;  /* decoded, without the query string */
    struct slice body; /* decoded only by content-encoding-aware handlers */
    struct arena arena;
    const struct http_route *route;
    struct http_server *server;
    const char *tenant; /* set by the auth layer (or the default tenant) */
    void *auth;         /* private to the auth layer */
    int64_t start_ns;   /* monotonic time the request was complete */
};

struct http_config {
    const char *listen_addr; /* host:port, [v6]:port or :port */
    int threads, workers, max_connections;
    size_t max_body;
    int64_t connection_timeout_ns; /* idle keep-alive connections are closed after this */
    const char *cors_origins;      /* comma-separated, "*" for any */
    /*
     * Called once a request's headers are complete, before its body is read
     * (so an unauthenticated upload is refused without reading it), on a
     * polling thread: it must not block. Query-string parameters are
     * available, form-body ones are not. Returns 0 to continue, or replies
     * itself and returns < 0 (the reply is sent and the body discarded).
     * Not called for OPTIONS (CORS preflight) requests.
     */
    int (*before)(struct http_req *req, void *ctx);
    void *before_ctx;
    /*
     * TLS (GnuTLS underneath libmicrohttpd): PEM text of the certificate
     * chain and its private key; NULL serves plain HTTP. With tls_ca_pem,
     * every client must present a certificate signed by one of those CAs
     * (mutual TLS): the handshake fails without one, and each request checks
     * the verification result again (403 if it failed). The strings are
     * copied by libmicrohttpd's GnuTLS setup and need not outlive http_start.
     */
    const char *tls_cert_pem, *tls_key_pem, *tls_ca_pem;
    /*
     * Slow clients (slowloris). The first request's line and headers must
     * arrive within header_timeout_ns of the connection's start. On a
     * keep-alive connection the next request must be complete (line and
     * headers) within connection_timeout_ns of the previous response, and
     * within header_timeout_ns of its request line. A body must arrive within
     * body_timeout_ns of its headers. A connection past its deadline is shut
     * down; a request whose handler runs has no deadline here. 0 disables
     * either check.
     */
    int64_t header_timeout_ns, body_timeout_ns;
    size_t max_header_bytes;    /* request line + headers; larger gets 431 (0: no check) */
    int max_connections_per_ip; /* 0: no limit */
};

/*
 * Start serving routes (a table ending with a {0} entry; it must outlive the
 * server) with ctx passed to every handler. Returns NULL and a message on
 * failure (address in use, bad address).
 */
struct http_server *http_start(const struct http_config *cfg, const struct http_route *routes,
                               void *ctx, char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *s);
/* Stop accepting, let in-flight requests finish (up to timeout), then free. */
void http_stop(struct http_server *s, int64_t timeout_ns);

/* ---- request ---- */

/* A request header (case-insensitive name), or NULL. */
const char *http_header(struct http_req *r, const char *name);
/*
 * A query-string or form-body parameter (for POST with
 * application/x-www-form-urlencoded). Empty values count as absent (Loki's
 * rule), so this returns NULL for "step=" too.
 */
const char *http_param(struct http_req *r, const char *name);
/* Every value of a repeated parameter (e.g. match[]); returns the count. */
size_t http_params(struct http_req *r, const char *name, const char ***values);
/* True when the client has closed its connection (a query can stop early). */
bool http_client_gone(struct http_req *r);
/* The peer address as text. */
const char *http_peer(struct http_req *r);
/* True when the request came over TLS. */
bool http_is_tls(struct http_req *r);

/* ---- response ---- */

/* Add a response header (copied). */
void http_set_header(struct http_req *r, const char *name, const char *value);
/* Reply with body bytes (copied). */
void http_reply(struct http_req *r, int status, const char *content_type, const void *body,
                size_t len);
/* Reply with the contents of b, taking ownership of its memory. */
void http_reply_buf(struct http_req *r, int status, const char *content_type, struct buf *b);
/* Reply text/plain "<message>\n" (Loki's http.Error form). */
__attribute__((format(printf, 3, 4))) void http_reply_text(struct http_req *r, int status,
                                                           const char *fmt, ...);
/* Reply {"error":"<message>"} with status (LogsGO's error form). */
void http_reply_json_error(struct http_req *r, int status, const char *message);
/* Reply 204 No Content. */
void http_reply_empty(struct http_req *r, int status);
bool http_replied(const struct http_req *r);

/*
 * Take over the connection as a WebSocket (RFC 6455) after checking the
 * handshake headers. On success the handler's reply is the 101 response and
 * fn runs on its own thread with the socket; fn owns arg. If the 101 is never
 * sent (the client went away first, or the server stopped), fn is called once
 * with fd -1, on the HTTP server's thread, so that it frees arg. When the client
 * offers the subprotocol "strata.v1" (wsauth.h), the 101 names it in
 * Sec-WebSocket-Protocol (no other offered subprotocol is ever echoed).
 * Returns < 0 (having replied) if the request is not a valid WebSocket
 * handshake (400), or if it comes from a browser page of another origin:
 * an Origin header that is neither the request's own scheme://Host nor
 * allowed by cors_origins is refused with 403, since browsers apply no
 * same-origin rule to WebSockets.
 */
typedef void (*http_upgrade_fn)(int fd, void *arg);
int http_upgrade_websocket(struct http_req *r, http_upgrade_fn fn, void *arg);

#endif
