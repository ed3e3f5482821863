#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/gzip.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "server/wsauth.h"

struct header {
    char *name, *value;
};

struct param {
    const char *name, *value;
};

enum req_state { REQ_NEW, REQ_BODY, REQ_RUNNING, REQ_DONE, REQ_QUEUED };

/*
 * Per connection (libmicrohttpd's socket context), for the slow-client
 * watchdog and the mutual-TLS check. Linked into the server's list from
 * MHD_CONNECTION_NOTIFY_STARTED to MHD_CONNECTION_NOTIFY_CLOSED, which
 * libmicrohttpd calls before it closes the socket: the watchdog, holding
 * conn_lock, never shuts down a descriptor that was reused.
 */
struct conn_state {
    struct conn_state *prev, *next;
    int fd;
    int64_t deadline_ns; /* monotonic; 0: none (idle between requests, or a handler running) */
    bool upgraded;       /* handed over as a WebSocket: no deadline ever again */
    int tls_ok;          /* mutual TLS: 0 not checked yet, 1 verified, -1 failed */
};

struct req_private {
    struct http_req pub;
    struct MHD_Connection *conn;
    enum req_state state;
    char *raw_uri;
    struct buf body;
    bool too_large;
    /* response */
    int status;
    char *content_type;
    struct buf resp;
    struct header *headers;
    size_t n_headers, cap_headers;
    bool replied;
    /* parameters */
    struct param *params;
    size_t n_params, cap_params;
    /* websocket */
    http_upgrade_fn upgrade_fn;
    void *upgrade_arg;
    char peer[64];
    struct conn_state *cs; /* the connection's state, NULL if unknown */
};

struct http_server {
    struct MHD_Daemon *mhd;
    struct pool *workers;
    const struct http_route *routes;
    void *ctx;
    struct http_config cfg;
    char *cors;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    long in_flight;
    bool closing; /* under lock: http_stop has begun, no request may reach the pool */
    struct metric_family *m_requests, *m_duration;
    struct metric *m_timed_out;
    /* connections, for the watchdog */
    pthread_mutex_t conn_lock;
    pthread_cond_t conn_wake;
    struct conn_state *conns;
    bool stopping, watchdog_started;
    pthread_t watchdog;
};

static struct req_private *priv(struct http_req *r)
{
    return (struct req_private *)r;
}

/* ---- parameters ---- */

/* Decode application/x-www-form-urlencoded text (Go's QueryUnescape: '+' is a space). */
static char *form_unescape(struct arena *a, const char *s, size_t n)
{
    char *o = arena_alloc(a, n + 1), *p = o;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *p++ = ' ';
        } else if (s[i] == '%' && i + 2 < n && hex_digit(s[i + 1]) >= 0 &&
                   hex_digit(s[i + 2]) >= 0) {
            *p++ = (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        } else {
            *p++ = s[i];
        }
    }
    *p = '\0';
    return o;
}

static void add_param(struct req_private *q, const char *name, const char *value)
{
    if (q->n_params == q->cap_params) {
        size_t cap = q->cap_params ? q->cap_params * 2 : 16;
        q->params = arena_realloc(&q->pub.arena, q->params, q->cap_params * sizeof(*q->params),
                                  cap * sizeof(*q->params));
        q->cap_params = cap;
    }
    q->params[q->n_params++] = (struct param){name, value};
}

static void parse_form(struct req_private *q, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&' && s[j] != ';')
            j++;
        if (j > i) {
            const char *eq = memchr(s + i, '=', j - i);
            size_t klen = eq ? (size_t)(eq - (s + i)) : j - i;
            const char *k = form_unescape(&q->pub.arena, s + i, klen);
            const char *v =
                eq ? form_unescape(&q->pub.arena, eq + 1, (size_t)(s + j - eq - 1)) : "";
            add_param(q, k, v);
        }
        i = j + 1;
    }
}

const char *http_param(struct http_req *r, const char *name)
{
    struct req_private *q = priv(r);
    for (size_t i = 0; i < q->n_params; i++)
        if (!strcmp(q->params[i].name, name))
            return q->params[i].value[0] ? q->params[i].value : NULL;
    return NULL;
}

size_t http_params(struct http_req *r, const char *name, const char ***values)
{
    struct req_private *q = priv(r);
    size_t n = 0;
    for (size_t i = 0; i < q->n_params; i++)
        if (!strcmp(q->params[i].name, name) && q->params[i].value[0])
            n++;
    const char **v = arena_alloc(&r->arena, (n ? n : 1) * sizeof(*v));
    n = 0;
    for (size_t i = 0; i < q->n_params; i++)
        if (!strcmp(q->params[i].name, name) && q->params[i].value[0])
            v[n++] = q->params[i].value;
    *values = v;
    return n;
}

const char *http_header(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(priv(r)->conn, MHD_HEADER_KIND, name);
}

bool http_client_gone(struct http_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(priv(r)->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

const char *http_peer(struct http_req *r)
{
    struct req_private *q = priv(r);
    if (q->peer[0])
        return q->peer;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, q->peer,
                      sizeof(q->peer));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      q->peer, sizeof(q->peer));
    }
    return q->peer;
}

bool http_is_tls(struct http_req *r)
{
    return r->server && r->server->cfg.tls_cert_pem != NULL;
}

/* ---- connection deadlines (slowloris) and mutual TLS ---- */

static void set_deadline(struct http_server *s, struct conn_state *cs, int64_t timeout_ns)
{
    if (!cs)
        return;
    pthread_mutex_lock(&s->conn_lock);
    cs->deadline_ns = cs->upgraded || timeout_ns <= 0 ? 0 : clock_mono_ns() + timeout_ns;
    pthread_mutex_unlock(&s->conn_lock);
}

/* Move the deadline earlier only (a request line arriving on a kept-alive connection). */
static void tighten_deadline(struct http_server *s, struct conn_state *cs, int64_t timeout_ns)
{
    if (!cs || timeout_ns <= 0)
        return;
    pthread_mutex_lock(&s->conn_lock);
    int64_t d = clock_mono_ns() + timeout_ns;
    if (!cs->upgraded && (cs->deadline_ns == 0 || d < cs->deadline_ns))
        cs->deadline_ns = d;
    pthread_mutex_unlock(&s->conn_lock);
}

static struct conn_state *conn_state_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/*
 * The watchdog: every quarter second, shut down the connections past their
 * deadline. shutdown(2) only ends the conversation; libmicrohttpd sees the
 * socket fail on its next read, closes it and tells notify_cb.
 */
static void *watchdog_main(void *arg)
{
    struct http_server *s = arg;
    pthread_mutex_lock(&s->conn_lock);
    while (!s->stopping) {
        int64_t now = clock_mono_ns();
        for (struct conn_state *c = s->conns; c; c = c->next) {
            if (c->deadline_ns && now >= c->deadline_ns && c->fd >= 0) {
                c->deadline_ns = 0;
                shutdown(c->fd, SHUT_RDWR);
                metric_inc(s->m_timed_out, 1);
                log_debug("http: shut down a connection too slow to send its request");
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->conn_wake, &s->conn_lock, &ts);
    }
    pthread_mutex_unlock(&s->conn_lock);
    return NULL;
}

static void notify_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_state *cs = xcalloc(1, sizeof(*cs));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        cs->fd = ci ? ci->connect_fd : -1;
        if (s->cfg.tls_cert_pem && s->cfg.tls_ca_pem) {
            /*
             * Mutual TLS. libmicrohttpd 0.9.75 only asks for a client
             * certificate (GNUTLS_CERT_REQUEST) and does not verify it: make
             * the handshake fail without one, or with one that no configured
             * CA signed. The session exists here and its handshake has not
             * started yet.
             */
            const union MHD_ConnectionInfo *ti =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
            if (ti && ti->tls_session) {
                gnutls_session_t ts = (gnutls_session_t)ti->tls_session;
                gnutls_certificate_server_set_request(ts, GNUTLS_CERT_REQUIRE);
                gnutls_session_set_verify_cert(ts, NULL, 0);
            }
        }
        pthread_mutex_lock(&s->conn_lock);
        cs->deadline_ns =
            s->cfg.header_timeout_ns > 0 ? clock_mono_ns() + s->cfg.header_timeout_ns : 0;
        cs->next = s->conns;
        if (s->conns)
            s->conns->prev = cs;
        s->conns = cs;
        pthread_mutex_unlock(&s->conn_lock);
        *socket_context = cs;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn_state *cs = *socket_context;
        if (!cs)
            return;
        pthread_mutex_lock(&s->conn_lock);
        if (cs->prev)
            cs->prev->next = cs->next;
        else
            s->conns = cs->next;
        if (cs->next)
            cs->next->prev = cs->prev;
        pthread_mutex_unlock(&s->conn_lock);
        free(cs);
        *socket_context = NULL;
    }
}

/*
 * Mutual TLS, checked again at each connection's first request: the peer
 * sent a certificate and it verified against the configured CAs. The
 * handshake already refuses both failures (notify_cb); this is a second lock
 * on the same door. 0 when fine.
 */
static int check_client_cert(struct http_server *s, struct req_private *q)
{
    if (!s->cfg.tls_cert_pem || !s->cfg.tls_ca_pem)
        return 0;
    if (q->cs && q->cs->tls_ok)
        return q->cs->tls_ok > 0 ? 0 : -1;
    const union MHD_ConnectionInfo *ti =
        MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    bool ok = false;
    if (ti && ti->tls_session) {
        gnutls_session_t ts = (gnutls_session_t)ti->tls_session;
        unsigned n = 0, status = 1;
        const gnutls_datum_t *peers = gnutls_certificate_get_peers(ts, &n);
        if (peers && n > 0 && gnutls_certificate_verify_peers2(ts, &status) == 0 && status == 0)
            ok = true;
    }
    if (q->cs)
        q->cs->tls_ok = ok ? 1 : -1;
    return ok ? 0 : -1;
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    size_t *sum = cls;
    *sum += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

/* ---- replies ---- */

void http_set_header(struct http_req *r, const char *name, const char *value)
{
    struct req_private *q = priv(r);
    if (q->n_headers == q->cap_headers) {
        q->cap_headers = q->cap_headers ? q->cap_headers * 2 : 8;
        q->headers = xreallocarray(q->headers, q->cap_headers, sizeof(*q->headers));
    }
    q->headers[q->n_headers++] = (struct header){xstrdup(name), xstrdup(value)};
}

bool http_replied(const struct http_req *r)
{
    return ((const struct req_private *)r)->replied;
}

static void set_reply(struct req_private *q, int status, const char *ctype)
{
    if (q->replied)
        log_warn("http: %s %s replied twice", q->pub.method, q->pub.path);
    q->replied = true;
    q->status = status;
    free(q->content_type);
    q->content_type = ctype ? xstrdup(ctype) : NULL;
}

void http_reply(struct http_req *r, int status, const char *content_type, const void *body,
                size_t len)
{
    struct req_private *q = priv(r);
    set_reply(q, status, content_type);
    buf_reset(&q->resp);
    if (len && buf_append(&q->resp, body, len) < 0) {
        q->status = 500;
        buf_reset(&q->resp);
    }
}

void http_reply_buf(struct http_req *r, int status, const char *content_type, struct buf *b)
{
    struct req_private *q = priv(r);
    set_reply(q, status, content_type);
    buf_release(&q->resp);
    q->resp = *b;
    buf_init(b, b->max);
}

void http_reply_text(struct http_req *r, int status, const char *fmt, ...)
{
    struct req_private *q = priv(r);
    set_reply(q, status, "text/plain; charset=utf-8");
    buf_reset(&q->resp);
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&q->resp, fmt, ap);
    va_end(ap);
    if (rc == 0)
        rc = buf_append_char(&q->resp, '\n');
    (void)rc;
}

void http_reply_json_error(struct http_req *r, int status, const char *message)
{
    struct req_private *q = priv(r);
    set_reply(q, status, "application/json");
    buf_reset(&q->resp);
    int rc = buf_append_str(&q->resp, "{\"error\":\"");
    if (!rc)
        rc = json_escape(&q->resp, message, strlen(message));
    if (!rc)
        rc = buf_append_str(&q->resp, "\"}");
    (void)rc;
}

void http_reply_empty(struct http_req *r, int status)
{
    struct req_private *q = priv(r);
    set_reply(q, status, NULL);
    buf_reset(&q->resp);
}

/* ---- websocket handshake ---- */

static void base64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

struct upgrade_run {
    http_upgrade_fn fn;
    void *arg;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
};

static void *upgrade_thread(void *arg)
{
    struct upgrade_run *u = arg;
    int fl = fcntl(u->fd, F_GETFL);
    if (fl >= 0)
        fcntl(u->fd, F_SETFL, fl & ~O_NONBLOCK);
    u->fn(u->fd, u->arg);
    MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
    free(u);
    return NULL;
}

static void upgrade_cb(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)conn;
    (void)extra_in;
    (void)extra_in_size;
    struct req_private *q = con_cls;
    struct http_server *s = cls;
    if (q->cs) {
        pthread_mutex_lock(&s->conn_lock);
        q->cs->upgraded = true;
        q->cs->deadline_ns = 0;
        pthread_mutex_unlock(&s->conn_lock);
    }
    struct upgrade_run *u = xcalloc(1, sizeof(*u));
    u->fn = q->upgrade_fn;
    u->arg = q->upgrade_arg;
    u->fd = sock;
    u->urh = urh;
    q->upgrade_fn = NULL;
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, upgrade_thread, u) != 0) {
        log_error("http: cannot start a thread for a WebSocket: %s", strerror(errno));
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        u->fn(-1, u->arg);
        free(u);
    }
    pthread_attr_destroy(&at);
}

static bool origin_allowed(struct http_server *s, const char *origin);

/* An Origin header from the request's own scheme://Host (a page of this server). */
static bool same_origin(struct http_req *r, const char *origin)
{
    const char *host = http_header(r, "Host");
    const char *scheme = http_is_tls(r) ? "https://" : "http://";
    size_t sl = strlen(scheme);
    return host && !strncasecmp(origin, scheme, sl) && !strcasecmp(origin + sl, host);
}

int http_upgrade_websocket(struct http_req *r, http_upgrade_fn fn, void *arg)
{
    const char *origin = http_header(r, "Origin");
    if (origin && !same_origin(r, origin) && !origin_allowed(r->server, origin)) {
        http_reply_text(r, 403,
                        "cross-origin WebSocket refused: %.200s is not this server's origin nor "
                        "in --server.cors-origins",
                        origin);
        return STRATA_EFORBIDDEN;
    }
    const char *up = http_header(r, "Upgrade");
    const char *conn = http_header(r, "Connection");
    const char *key = http_header(r, "Sec-WebSocket-Key");
    const char *ver = http_header(r, "Sec-WebSocket-Version");
    if (!up || strcasecmp(up, "websocket") || !conn || !strcasestr(conn, "upgrade") || !key ||
        strlen(key) > 64 || !ver || strcmp(ver, "13")) {
        http_reply_text(r, 400, "expected a WebSocket upgrade (RFC 6455, version 13)");
        return STRATA_EINVAL;
    }
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)tmp, strlen(tmp), sha);
    char accept[64];
    base64(sha, sizeof(sha), accept);
    struct req_private *q = priv(r);
    set_reply(q, 101, NULL);
    http_set_header(r, "Upgrade", "websocket");
    http_set_header(r, "Sec-WebSocket-Accept", accept);
    if (wsauth_offers(http_header(r, "Sec-WebSocket-Protocol"), WSAUTH_PROTOCOL))
        http_set_header(r, "Sec-WebSocket-Protocol", WSAUTH_PROTOCOL);
    q->upgrade_fn = fn;
    q->upgrade_arg = arg;
    return 0;
}

/* ---- dispatch ---- */

static bool method_listed(const char *methods, const char *method)
{
    /* methods is a comma list; HEAD is served as GET. */
    const char *m = !strcmp(method, "HEAD") ? "GET" : method;
    size_t ml = strlen(m);
    for (const char *p = methods; p && *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == ml && !strncmp(p, m, n))
            return true;
        p += n + (c != NULL);
    }
    return false;
}

/*
 * The route for path and method. When the path is known but not for this
 * method, returns that route with *method_ok false (405). The catch-all "/"
 * prefix route never turns a miss into a 405.
 */
static const struct http_route *find_route(struct http_server *s, const char *path,
                                           const char *method, bool *method_ok)
{
    const struct http_route *path_match = NULL;
    *method_ok = false;
    for (const struct http_route *rt = s->routes; rt->path; rt++) {
        bool match;
        if (rt->flags & ROUTE_PREFIX)
            match = !strncmp(path, rt->path, strlen(rt->path));
        else
            match = !strcmp(path, rt->path);
        if (!match)
            continue;
        if (method_listed(rt->methods, method) || !strcmp(method, "OPTIONS")) {
            /* A known API path with the wrong method is a 405, not the dashboard's GET. */
            if (path_match && !strcmp(rt->path, "/"))
                break;
            *method_ok = true;
            return rt;
        }
        if (!path_match && strcmp(rt->path, "/") != 0)
            path_match = rt;
    }
    return path_match;
}

static bool origin_allowed(struct http_server *s, const char *origin)
{
    if (!s->cors || !s->cors[0])
        return false;
    size_t ol = strlen(origin);
    for (const char *p = s->cors; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        while (n && *p == ' ')
            p++, n--;
        while (n && p[n - 1] == ' ')
            n--;
        if ((n == 1 && *p == '*') || (n == ol && !strncmp(p, origin, n)))
            return true;
        p += n;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
    }
    return false;
}

static void run_handler(void *arg)
{
    struct req_private *q = arg;
    struct http_server *s = q->pub.server;
    q->pub.start_ns = clock_mono_ns();
    if (!strcmp(q->pub.method, "OPTIONS"))
        http_reply_empty(&q->pub, 204);
    else
        q->pub.route->handler(&q->pub, s->ctx);
    if (!q->replied) {
        log_error("http: handler for %s %s did not reply", q->pub.method, q->pub.path);
        http_reply_text(&q->pub, 500, "internal error: no reply");
    }
    q->state = REQ_DONE;
    MHD_resume_connection(q->conn);
}

static bool wants_gzip(struct req_private *q)
{
    const char *ae = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Accept-Encoding");
    if (!ae || !strstr(ae, "gzip") || q->resp.len < 1024 || q->status == 101)
        return false;
    const char *ct = q->content_type ? q->content_type : "";
    return !strncmp(ct, "application/json", 16) || !strncmp(ct, "text/", 5) ||
           !strncmp(ct, "application/javascript", 22);
}

static void free_cb(void *p)
{
    free(p);
}

static enum MHD_Result queue_reply(struct http_server *s, struct req_private *q)
{
    struct MHD_Response *resp;
    bool gz = false;
    if (q->status == 101 && q->upgrade_fn) {
        resp = MHD_create_response_for_upgrade(upgrade_cb, s);
    } else {
        struct buf body = q->resp;
        struct buf zbuf;
        if (wants_gzip(q)) {
            /* Bounded a little above the input: incompressible data grows by ~0.03%. */
            buf_init(&zbuf, q->resp.len + q->resp.len / 64 + 1024);
            if (gzip_append(&zbuf, slice_make(q->resp.ptr, q->resp.len)) == 0) {
                buf_release(&q->resp);
                body = zbuf;
                gz = true;
            } else {
                buf_release(&zbuf);
            }
        }
        size_t len;
        char *p = buf_detach(&body, &len);
        buf_init(&q->resp, 0);
        resp = MHD_create_response_from_buffer_with_free_callback(len, p, free_cb);
    }
    if (!resp)
        return MHD_NO;
    if (q->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, q->content_type);
    if (gz) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    }
    for (size_t i = 0; i < q->n_headers; i++)
        MHD_add_response_header(resp, q->headers[i].name, q->headers[i].value);
    const char *origin = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Origin");
    if (origin && origin_allowed(s, origin)) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
        MHD_add_response_header(resp, "Vary", "Origin");
        if (q->pub.method && !strcmp(q->pub.method, "OPTIONS")) {
            MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                    "GET, POST, PUT, DELETE, OPTIONS");
            MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                    "Origin, Content-Type, Authorization, X-Scope-OrgID");
        }
    }
    enum MHD_Result ret = MHD_queue_response(q->conn, (unsigned)q->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *s = cls;
    struct req_private *q = xcalloc(1, sizeof(*q));
    arena_init(&q->pub.arena, 0);
    q->conn = conn;
    q->cs = conn_state_of(conn);
    /* The request line is here: the headers have header_timeout to follow. */
    tighten_deadline(s, q->cs, s->cfg.header_timeout_ns);
    q->raw_uri = xstrdup(uri ? uri : "/");
    buf_init(&q->resp, BUF_UNLIMITED);
    return q;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct req_private *q = *con_cls;
    if (!q) /* cannot happen with the URI callback installed */
        return MHD_NO;
    switch (q->state) {
    case REQ_NEW: {
        q->pub.server = s;
        q->pub.method = arena_strdup(&q->pub.arena, method);
        q->pub.path = arena_strdup(&q->pub.arena, url);
        buf_init(&q->body, s->cfg.max_body);
        bool method_ok;
        q->pub.route = find_route(s, url, method, &method_ok);
        if (!q->pub.route) {
            http_reply_text(&q->pub, 404, "404 page not found: no route for %s", url);
            q->state = REQ_QUEUED;
            return queue_reply(s, q);
        }
        if (!method_ok) {
            http_set_header(&q->pub, "Allow", q->pub.route->methods);
            http_reply_text(&q->pub, 405, "method %s not allowed for %s; use %s", method, url,
                            q->pub.route->methods);
            q->state = REQ_QUEUED;
            return queue_reply(s, q);
        }
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        size_t announced = 0;
        if (cl) {
            char *end;
            unsigned long long v = strtoull(cl, &end, 10);
            announced = (size_t)v;
            if (*end || v > s->cfg.max_body) {
                http_reply_text(&q->pub, 413,
                                "request body too large: %s bytes, limit %zu bytes "
                                "(--server.max-body-bytes)",
                                cl, s->cfg.max_body);
                q->state = REQ_QUEUED;
                return queue_reply(s, q);
            }
        }
        if (s->cfg.max_header_bytes) {
            size_t hsize = strlen(method) + strlen(q->raw_uri) + 12;
            MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_size, &hsize);
            if (hsize > s->cfg.max_header_bytes) {
                http_reply_text(&q->pub, 431,
                                "request header fields too large: %zu bytes, limit %zu bytes "
                                "(--server.max-header-bytes)",
                                hsize, s->cfg.max_header_bytes);
                http_set_header(&q->pub, "Connection", "close");
                q->state = REQ_QUEUED;
                return queue_reply(s, q);
            }
        }
        if (check_client_cert(s, q) < 0) {
            http_reply_text(&q->pub, 403, "a valid client certificate is required");
            http_set_header(&q->pub, "Connection", "close");
            q->state = REQ_QUEUED;
            return queue_reply(s, q);
        }
        const char *qs = strchr(q->raw_uri, '?');
        if (qs)
            parse_form(q, qs + 1, strlen(qs + 1));
        /* Authentication and tenant, before a byte of the body is read. */
        if (strcmp(method, "OPTIONS") != 0 && s->cfg.before &&
            s->cfg.before(&q->pub, s->cfg.before_ctx) != 0) {
            if (!q->replied)
                http_reply_text(&q->pub, 500, "internal error: request refused without a reply");
            q->state = REQ_QUEUED;
            return queue_reply(s, q);
        }
        set_deadline(s, q->cs, s->cfg.body_timeout_ns);
        /* One allocation for the announced body (a push is often a MiB), not a doubling
         * series. Within the limit, checked above; the body is still read as it comes. */
        if (announced && buf_reserve(&q->body, announced) < 0)
            log_debug("http: cannot reserve %zu bytes for a body", announced);
        q->state = REQ_BODY;
        return MHD_YES;
    }
    case REQ_BODY:
        if (*upload_data_size) {
            if (!q->too_large && buf_append(&q->body, upload_data, *upload_data_size) < 0) {
                q->too_large = true;
                buf_release(&q->body);
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (q->too_large) {
            http_reply_text(&q->pub, 413,
                            "request body too large: limit %zu bytes "
                            "(--server.max-body-bytes)",
                            s->cfg.max_body);
            q->state = REQ_QUEUED;
            return queue_reply(s, q);
        }
        q->pub.body = buf_slice(&q->body);
        {
            const char *ct =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
            if (!strcmp(method, "POST") && ct &&
                !strncasecmp(ct, "application/x-www-form-urlencoded", 33))
                parse_form(q, q->body.ptr ? q->body.ptr : "", q->body.len);
        }
        pthread_mutex_lock(&s->lock);
        if (s->closing) {
            /* A request on a kept-alive connection while stopping: the pool may be gone. */
            pthread_mutex_unlock(&s->lock);
            http_set_header(&q->pub, "Connection", "close");
            http_reply_text(&q->pub, 503, "server shutting down");
            q->state = REQ_QUEUED;
            return queue_reply(s, q);
        }
        q->state = REQ_RUNNING;
        set_deadline(s, q->cs, 0); /* the handler may take its time */
        s->in_flight++;
        MHD_suspend_connection(conn);
        pool_submit(s->workers, run_handler, q);
        pthread_mutex_unlock(&s->lock);
        return MHD_YES;
    case REQ_RUNNING:
        /* Resumed early (should not happen): keep waiting. */
        return MHD_YES;
    case REQ_DONE: {
        if (*upload_data_size) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        enum MHD_Result r = queue_reply(s, q);
        q->state = REQ_QUEUED;
        pthread_mutex_lock(&s->lock);
        if (--s->in_flight == 0)
            pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
        return r;
    }
    case REQ_QUEUED: *upload_data_size = 0; return MHD_YES;
    }
    return MHD_NO;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct http_server *s = cls;
    struct req_private *q = *con_cls;
    if (!q)
        return;
    if (q->pub.route && q->status) {
        char st[8];
        snprintf(st, sizeof(st), "%d", q->status);
        const char *name = q->pub.route->name ? q->pub.route->name : q->pub.route->path;
        metric_inc(metric_get(s->m_requests, name, st), 1);
        if (q->pub.start_ns)
            metric_observe(metric_get(s->m_duration, name),
                           (double)(clock_mono_ns() - q->pub.start_ns) / 1e9);
    }
    /* A WebSocket whose 101 never went out: its fn frees its argument. */
    if (q->upgrade_fn)
        q->upgrade_fn(-1, q->upgrade_arg);
    /* Kept alive: the next request must be complete within the idle timeout. */
    set_deadline(s, q->cs, s->cfg.connection_timeout_ns);
    buf_release(&q->body);
    buf_release(&q->resp);
    for (size_t i = 0; i < q->n_headers; i++) {
        free(q->headers[i].name);
        free(q->headers[i].value);
    }
    free(q->headers);
    free(q->content_type);
    free(q->raw_uri);
    arena_release(&q->pub.arena);
    free(q);
    *con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_debug("http: %s", msg);
}

/* Split "host:port", "[v6]:port" or ":port". An empty host means every interface. */
static int listen_socket(const char *addr, int *port_out, char *err, size_t errlen)
{
    char host[256] = "", port[16] = "";
    const char *colon;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':') {
            snprintf(err, errlen, "bad listen address \"%s\": expected [host]:port", addr);
            return -1;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(rb - addr - 1), addr + 1);
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) {
            snprintf(err, errlen, "bad listen address \"%s\": expected host:port", addr);
            return -1;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    }
    snprintf(port, sizeof(port), "%s", colon + 1);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int gr = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gr) {
        snprintf(err, errlen, "bad listen address \"%s\": %s", addr, gai_strerror(gr));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(saved));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

struct http_server *http_start(const struct http_config *cfg, const struct http_route *routes,
                               void *ctx, char *err, size_t errlen)
{
    struct http_server *s = xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->routes = routes;
    s->ctx = ctx;
    s->cors = xstrdup(cfg->cors_origins ? cfg->cors_origins : "");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->m_requests = metrics_family(METRIC_COUNTER, "strata_http_requests_total",
                                   "HTTP requests by route and status code.", "route,status");
    s->m_duration = metrics_histogram("strata_http_request_duration_seconds",
                                      "Time spent handling HTTP requests.", "route", NULL, 0);
    int fd = listen_socket(cfg->listen_addr, &s->port, err, errlen);
    if (fd < 0) {
        free(s->cors);
        free(s);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
    /* Options that depend on the configuration, passed as one MHD_OPTION_ARRAY. */
    struct MHD_OptionItem extra[8];
    int ne = 0;
    if (cfg->tls_cert_pem) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES || !cfg->tls_key_pem) {
            snprintf(err, errlen, "%s",
                     cfg->tls_key_pem ? "this libmicrohttpd was built without TLS support"
                                      : "TLS needs a certificate and a private key");
            close(fd);
            free(s->cors);
            free(s);
            return NULL;
        }
        flags |= MHD_USE_TLS;
        /* TLS 1.2 and 1.3 only, with GnuTLS's default (NORMAL) ciphers. */
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                              (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"};
        extra[ne++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert_pem};
        extra[ne++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->tls_key_pem};
        if (cfg->tls_ca_pem)
            extra[ne++] =
                (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, (void *)cfg->tls_ca_pem};
    }
    if (cfg->max_connections_per_ip > 0)
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                              cfg->max_connections_per_ip, NULL};
    extra[ne] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    /* Only whether TLS is on is kept: the PEM text is the caller's. */
    s->cfg.tls_cert_pem = cfg->tls_cert_pem ? "" : NULL;
    s->cfg.tls_key_pem = NULL;
    s->cfg.tls_ca_pem = cfg->tls_cert_pem && cfg->tls_ca_pem ? "" : NULL;
    pthread_mutex_init(&s->conn_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->conn_wake, &ca);
    pthread_condattr_destroy(&ca);
    s->m_timed_out = metric_get(metrics_family(
        METRIC_COUNTER, "strata_http_slow_connections_closed_total",
        "Connections shut down for not sending their request in time (--server.header-timeout, "
        "--server.body-timeout, --server.connection-timeout).",
        NULL));
    s->workers = pool_new("http-worker", cfg->workers > 0 ? cfg->workers : 16);
    unsigned timeout = (unsigned)(cfg->connection_timeout_ns / NS_PER_SEC);
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads > 0 ? cfg->threads : 2),
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cfg->max_connections > 0 ? cfg->max_connections : 1024),
        MHD_OPTION_CONNECTION_TIMEOUT, timeout ? timeout : 60, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)256 * 1024, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, s, MHD_OPTION_NOTIFY_COMPLETED,
        completed_cb, s, MHD_OPTION_NOTIFY_CONNECTION, notify_cb, s, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, s, MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errlen, "cannot start the HTTP server on %s%s", cfg->listen_addr,
                 cfg->tls_cert_pem ? " (TLS: check that the certificate and key match)" : "");
        close(fd);
        pool_free(s->workers);
        pthread_mutex_destroy(&s->conn_lock);
        pthread_cond_destroy(&s->conn_wake);
        free(s->cors);
        free(s);
        return NULL;
    }
    if (cfg->header_timeout_ns > 0 || cfg->body_timeout_ns > 0 || cfg->connection_timeout_ns > 0) {
        if (pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0)
            s->watchdog_started = true;
        else
            log_warn("http: cannot start the slow-connection watchdog");
    }
    return s;
}

int http_port(const struct http_server *s)
{
    return s->port;
}

void http_stop(struct http_server *s, int64_t timeout_ns)
{
    if (!s)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    int64_t deadline = clock_mono_ns() + timeout_ns;
    pthread_mutex_lock(&s->lock);
    s->closing = true;
    while (s->in_flight > 0 && clock_mono_ns() < deadline) {
        pthread_mutex_unlock(&s->lock);
        usleep(10000);
        pthread_mutex_lock(&s->lock);
    }
    long left = s->in_flight;
    pthread_mutex_unlock(&s->lock);
    if (left)
        log_warn("http: %ld requests still running at shutdown", left);
    pool_free(s->workers); /* waits for running handlers */
    /* Give resumed connections a moment to send their replies. */
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&s->lock);
        left = s->in_flight;
        pthread_mutex_unlock(&s->lock);
        if (left == 0)
            break;
        usleep(10000);
    }
    if (s->watchdog_started) {
        pthread_mutex_lock(&s->conn_lock);
        s->stopping = true;
        pthread_cond_signal(&s->conn_wake);
        pthread_mutex_unlock(&s->conn_lock);
        pthread_join(s->watchdog, NULL);
    }
    MHD_stop_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    pthread_mutex_destroy(&s->conn_lock);
    pthread_cond_destroy(&s->conn_wake);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->idle);
    free(s->cors);
    free(s);
}
