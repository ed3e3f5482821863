#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/pool.h"

struct header {
    char *name, *value;
};

struct param {
    const char *name, *value;
};

enum req_state { REQ_NEW, REQ_BODY, REQ_RUNNING, REQ_DONE, REQ_QUEUED };

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
    struct metric_family *m_requests, *m_duration;
};

static struct req_private *priv(struct http_req *r)
{
    return (struct req_private *)r;
}

/* ---- parameters ---- */

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode application/x-www-form-urlencoded text (Go's QueryUnescape: '+' is a space). */
static char *form_unescape(struct arena *a, const char *s, size_t n)
{
    char *o = arena_alloc(a, n + 1), *p = o;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *p++ = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            *p++ = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
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
    (void)cls;
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
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        free(u);
    }
    pthread_attr_destroy(&at);
}

int http_upgrade_websocket(struct http_req *r, http_upgrade_fn fn, void *arg)
{
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
    if (!strcmp(q->pub.method, "OPTIONS")) {
        http_reply_empty(&q->pub, 204);
    } else if (!s->cfg.before || s->cfg.before(&q->pub, s->ctx) == 0) {
        q->pub.route->handler(&q->pub, s->ctx);
    }
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

static int gzip_buf(const struct buf *in, struct buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return STRATA_EINTERNAL;
    size_t bound = deflateBound(&z, in->len) + 32;
    buf_init(out, bound + 1);
    if (buf_reserve(out, bound) < 0) {
        deflateEnd(&z);
        return STRATA_ETOOLARGE;
    }
    z.next_in = (Bytef *)in->ptr;
    z.avail_in = (uInt)in->len;
    z.next_out = (Bytef *)out->ptr;
    z.avail_out = (uInt)bound;
    int zr = deflate(&z, Z_FINISH);
    out->len = bound - z.avail_out;
    deflateEnd(&z);
    return zr == Z_STREAM_END ? 0 : STRATA_EINTERNAL;
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
        if (q->resp.len < 1u << 31 && wants_gzip(q) && gzip_buf(&q->resp, &zbuf) == 0) {
            buf_release(&q->resp);
            body = zbuf;
            gz = true;
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
    (void)cls;
    struct req_private *q = xcalloc(1, sizeof(*q));
    arena_init(&q->pub.arena, 0);
    q->conn = conn;
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
        if (cl) {
            char *end;
            unsigned long long v = strtoull(cl, &end, 10);
            if (*end || v > s->cfg.max_body) {
                http_reply_text(&q->pub, 413,
                                "request body too large: %s bytes, limit %zu bytes "
                                "(--server.max-body-bytes)",
                                cl, s->cfg.max_body);
                q->state = REQ_QUEUED;
                return queue_reply(s, q);
            }
        }
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
            const char *qs = strchr(q->raw_uri, '?');
            if (qs)
                parse_form(q, qs + 1, strlen(qs + 1));
            const char *ct =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
            if (!strcmp(method, "POST") && ct &&
                !strncasecmp(ct, "application/x-www-form-urlencoded", 33))
                parse_form(q, q->body.ptr ? q->body.ptr : "", q->body.len);
        }
        q->state = REQ_RUNNING;
        pthread_mutex_lock(&s->lock);
        s->in_flight++;
        pthread_mutex_unlock(&s->lock);
        MHD_suspend_connection(conn);
        pool_submit(s->workers, run_handler, q);
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
    s->workers = pool_new("http-worker", cfg->workers > 0 ? cfg->workers : 16);
    unsigned timeout = (unsigned)(cfg->connection_timeout_ns / NS_PER_SEC);
    s->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG,
        0, NULL, NULL, access_cb, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(cfg->threads > 0 ? cfg->threads : 2), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cfg->max_connections > 0 ? cfg->max_connections : 1024),
        MHD_OPTION_CONNECTION_TIMEOUT, timeout ? timeout : 60, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)256 * 1024, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, s, MHD_OPTION_NOTIFY_COMPLETED,
        completed_cb, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errlen, "cannot start the HTTP server on %s", cfg->listen_addr);
        close(fd);
        pool_free(s->workers);
        free(s->cors);
        free(s);
        return NULL;
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
    MHD_stop_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->idle);
    free(s->cors);
    free(s);
}
