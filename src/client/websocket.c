#include "client/websocket.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/transport.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"

#define WS_GUID        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_HANDSHAKE  (16 * 1024)
#define MAX_CONTROL    125
#define MAX_ERROR_BODY 2048

/* ---- frames ---- */

int ws_frame_parse(const uint8_t *p, size_t n, uint64_t max_payload, bool allow_masked,
                   struct ws_frame *f)
{
    if (n < 2)
        return 0;
    memset(f, 0, sizeof(*f));
    f->fin = (p[0] & 0x80) != 0;
    if (p[0] & 0x70)
        return STRATA_EPARSE; /* RSV1-3: no extension was negotiated */
    f->opcode = p[0] & 0x0f;
    bool control = f->opcode & 0x8;
    if (f->opcode != WS_CONT && f->opcode != WS_TEXT && f->opcode != WS_BINARY &&
        f->opcode != WS_CLOSE && f->opcode != WS_PING && f->opcode != WS_PONG)
        return STRATA_EPARSE;
    f->masked = (p[1] & 0x80) != 0;
    if (f->masked && !allow_masked)
        return STRATA_EPARSE;
    uint64_t len = p[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = ((uint64_t)p[2] << 8) | p[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | p[2 + i];
        if (len >> 63)
            return STRATA_EPARSE;
        h = 10;
    }
    if (control && (!f->fin || len > MAX_CONTROL))
        return STRATA_EPARSE;
    if (len > max_payload)
        return STRATA_ETOOLARGE;
    if (f->masked) {
        if (n < h + 4)
            return 0;
        memcpy(f->mask, p + h, 4);
        h += 4;
    }
    if (n - h < len)
        return 0;
    f->len = len;
    f->header_len = h;
    f->payload = p + h;
    return 1;
}

int ws_frame_encode(struct buf *out, int opcode, const void *payload, size_t len,
                    const uint8_t mask[4])
{
    uint8_t h[14];
    size_t n = 0;
    h[n++] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        h[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        h[n++] = 0x80 | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(h + n, mask, 4);
    n += 4;
    int rc = buf_append(out, h, n);
    if (rc)
        return rc;
    size_t at = out->len;
    if ((rc = buf_append(out, payload, len)))
        return rc;
    for (size_t i = 0; i < len; i++)
        out->ptr[at + i] ^= (char)mask[i & 3];
    return 0;
}

void ws_accept_key(const char *key, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, key, strlen(key));
    EVP_DigestUpdate(ctx, WS_GUID, sizeof(WS_GUID) - 1);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen); /* 20 bytes -> 28 chars + NUL */
}

/* ---- the handshake answer ---- */

/* The value of header name in the header block (after the status line), or an empty slice. */
static struct slice header_value(struct slice headers, const char *name)
{
    size_t nl = strlen(name);
    const char *p = headers.ptr, *end = headers.ptr + headers.len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if ((size_t)(le - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
            struct slice v = {p + nl + 1, (size_t)(le - p - nl - 1)};
            return slice_trim(v);
        }
        p = eol ? eol + 1 : end;
    }
    return (struct slice){"", 0};
}

/* Does a comma-separated header value hold token (any case)? */
static bool has_token(struct slice v, const char *token)
{
    size_t tl = strlen(token);
    size_t i = 0;
    while (i < v.len) {
        size_t j = i;
        while (j < v.len && v.ptr[j] != ',')
            j++;
        struct slice t = slice_trim(slice_make(v.ptr + i, j - i));
        if (t.len == tl && !strncasecmp(t.ptr, token, tl))
            return true;
        i = j + 1;
    }
    return false;
}

int ws_check_handshake(const char *resp, size_t len, const char *key, int *status, char *err,
                       size_t errlen)
{
    *status = 0;
    /* "HTTP/1.1 101 Switching Protocols" */
    if (len < 12 || strncmp(resp, "HTTP/1.", 7) || resp[8] != ' ' || resp[9] < '1' ||
        resp[9] > '5' || resp[10] < '0' || resp[10] > '9' || resp[11] < '0' || resp[11] > '9') {
        strata_errorf(err, errlen, "not an HTTP answer to the WebSocket handshake");
        return STRATA_EPARSE;
    }
    *status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
    if (*status != 101) {
        strata_errorf(err, errlen, "HTTP %d instead of 101 Switching Protocols", *status);
        return http_status_rc(*status);
    }
    const char *eol = memchr(resp, '\n', len);
    struct slice headers =
        eol ? slice_make(eol + 1, len - (size_t)(eol + 1 - resp)) : slice_make("", 0);
    if (!has_token(header_value(headers, "Upgrade"), "websocket") ||
        !has_token(header_value(headers, "Connection"), "upgrade")) {
        strata_errorf(err, errlen, "the server did not upgrade the connection to a WebSocket");
        return STRATA_EPARSE;
    }
    char want[29];
    ws_accept_key(key, want);
    struct slice got = header_value(headers, "Sec-WebSocket-Accept");
    if (!slice_eq_str(got, want)) {
        strata_errorf(err, errlen, "wrong Sec-WebSocket-Accept in the server's answer");
        return STRATA_EPARSE;
    }
    return 0;
}

/* ---- the connection ---- */

struct ws {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    struct buf in;   /* bytes received, not yet consumed */
    bool closed;     /* a close frame was sent */
    bool in_message; /* fragments of a message were read into the caller's buffer */
};

static int fill_random(void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)p + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return STRATA_EIO;
        }
        got += (size_t)r;
    }
    return 0;
}

/* Wait until fd is readable (or writable) or the deadline (monotonic ns) passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_mono_ns();
        if (left <= 0)
            return STRATA_ETIMEOUT;
        struct pollfd pfd = {fd, events, 0};
        int r = poll(&pfd, 1, (int)((left + 999999) / 1000000));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return STRATA_EIO;
    }
}

static int send_all(struct ws *w, const void *p, size_t n, int64_t deadline)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k;
        if (w->ssl) {
            int r = SSL_write(w->ssl, c, n > INT32_MAX ? INT32_MAX : (int)n);
            if (r <= 0) {
                int e = SSL_get_error(w->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    if (wait_fd(w->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
                        return STRATA_ETIMEOUT;
                    continue;
                }
                return STRATA_EIO;
            }
            k = r;
        } else {
            k = send(w->fd, c, n, MSG_NOSIGNAL);
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    if (wait_fd(w->fd, POLLOUT, deadline))
                        return STRATA_ETIMEOUT;
                    continue;
                }
                return STRATA_EIO;
            }
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Read what is available into w->in (waiting up to the deadline): 0, STRATA_EEOF or an error. */
static int recv_some(struct ws *w, int64_t deadline)
{
    char chunk[16384];
    for (;;) {
        ssize_t k;
        if (w->ssl) {
            if (!SSL_pending(w->ssl) && wait_fd(w->fd, POLLIN, deadline))
                return STRATA_ETIMEOUT;
            int r = SSL_read(w->ssl, chunk, sizeof(chunk));
            if (r <= 0) {
                int e = SSL_get_error(w->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    continue;
                if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
                    return STRATA_EEOF;
                return STRATA_EIO;
            }
            k = r;
        } else {
            if (wait_fd(w->fd, POLLIN, deadline))
                return STRATA_ETIMEOUT;
            k = recv(w->fd, chunk, sizeof(chunk), 0);
            if (k < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                    continue;
                return STRATA_EIO;
            }
            if (k == 0)
                return STRATA_EEOF;
        }
        return buf_append(&w->in, chunk, (size_t)k);
    }
}

struct url {
    bool tls;
    char host[256];
    char port[8];
    const char *path; /* into the url: "/..." with the query */
};

static int parse_url(const char *url, struct url *u, char *err, size_t errlen)
{
    const char *p;
    if (!strncmp(url, "https://", 8) || !strncmp(url, "wss://", 6)) {
        u->tls = true;
        p = strstr(url, "//") + 2;
    } else if (!strncmp(url, "http://", 7) || !strncmp(url, "ws://", 5)) {
        u->tls = false;
        p = strstr(url, "//") + 2;
    } else {
        strata_errorf(err, errlen, "invalid URL \"%s\": expected http(s):// or ws(s)://", url);
        return STRATA_EINVAL;
    }
    const char *slash = strchr(p, '/');
    u->path = slash ? slash : "/";
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *hend = p + hl, *port = NULL;
    const char *h = p;
    if (*p == '[') { /* [IPv6]:port */
        const char *rb = memchr(p, ']', hl);
        if (!rb) {
            strata_errorf(err, errlen, "invalid URL \"%s\": unclosed [", url);
            return STRATA_EINVAL;
        }
        h = p + 1;
        hl = (size_t)(rb - h);
        if (rb + 1 < hend && rb[1] == ':')
            port = rb + 2;
    } else {
        const char *colon = memchr(p, ':', hl);
        if (colon) {
            port = colon + 1;
            hl = (size_t)(colon - p);
        }
    }
    size_t pl = port ? (size_t)(hend - port) : 0;
    if (!hl || hl >= sizeof(u->host) || (port && (!pl || pl >= sizeof(u->port)))) {
        strata_errorf(err, errlen, "invalid URL \"%s\"", url);
        return STRATA_EINVAL;
    }
    memcpy(u->host, h, hl);
    u->host[hl] = '\0';
    if (port) {
        memcpy(u->port, port, pl);
        u->port[pl] = '\0';
    } else {
        snprintf(u->port, sizeof(u->port), "%s", u->tls ? "443" : "80");
    }
    return 0;
}

static int tcp_connect(const struct url *u, int64_t deadline, int *fd_out, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(u->host, u->port, &hints, &res);
    if (g) {
        strata_errorf(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(g));
        return STRATA_EUNAVAIL;
    }
    int last = ECONNREFUSED;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0)) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (!soerr) {
                freeaddrinfo(res);
                *fd_out = fd;
                return 0;
            }
            last = soerr;
        } else {
            last = errno == EINPROGRESS ? ETIMEDOUT : errno;
        }
        close(fd);
    }
    freeaddrinfo(res);
    strata_errorf(err, errlen, "cannot connect to %s:%s: %s", u->host, u->port, strerror(last));
    return last == ETIMEDOUT ? STRATA_ETIMEOUT : STRATA_EUNAVAIL;
}

static void tls_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char detail[256] = "";
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    strata_errorf(err, errlen, "TLS: %s%s%s", what, detail[0] ? ": " : "", detail);
}

static int tls_start(struct ws *w, const struct url *u, const struct ws_options *o,
                     int64_t deadline, char *err, size_t errlen)
{
    w->ctx = SSL_CTX_new(TLS_client_method());
    if (!w->ctx) {
        tls_error(err, errlen, "cannot create a context");
        return STRATA_EINTERNAL;
    }
    SSL_CTX_set_min_proto_version(w->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(w->ctx, SSL_VERIFY_PEER, NULL);
    if (o->ca_file ? SSL_CTX_load_verify_locations(w->ctx, o->ca_file, NULL) != 1
                   : SSL_CTX_set_default_verify_paths(w->ctx) != 1) {
        tls_error(err, errlen, "cannot load the CA certificates");
        return STRATA_EINVAL;
    }
    if (o->cert_file && (SSL_CTX_use_certificate_chain_file(w->ctx, o->cert_file) != 1 ||
                         SSL_CTX_use_PrivateKey_file(w->ctx, o->key_file, SSL_FILETYPE_PEM) != 1)) {
        tls_error(err, errlen, "cannot load the client certificate");
        return STRATA_EINVAL;
    }
    w->ssl = SSL_new(w->ctx);
    SSL_set_fd(w->ssl, w->fd);
    /* Check the certificate's name (or IP address) against the URL's host. */
    X509_VERIFY_PARAM *param = SSL_get0_param(w->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, u->host) != 1) {
        SSL_set_tlsext_host_name(w->ssl, u->host);
        X509_VERIFY_PARAM_set1_host(param, u->host, 0);
    }
    for (;;) {
        int r = SSL_connect(w->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(w->ssl, r);
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
            wait_fd(w->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) == 0)
            continue;
        long v = SSL_get_verify_result(w->ssl);
        if (v != X509_V_OK) {
            strata_errorf(err, errlen, "TLS: the server's certificate: %s",
                          X509_verify_cert_error_string(v));
        } else {
            tls_error(err, errlen, "handshake failed");
        }
        return STRATA_EUNAVAIL;
    }
}

/* Read until the handshake answer's header block is in w->in; its length goes to *head_len. */
static int read_answer(struct ws *w, int64_t deadline, size_t *head_len, char *err, size_t errlen)
{
    for (;;) {
        const char *end = w->in.len ? memmem(w->in.ptr, w->in.len, "\r\n\r\n", 4) : NULL;
        if (end) {
            *head_len = (size_t)(end + 4 - w->in.ptr);
            return 0;
        }
        if (w->in.len > MAX_HANDSHAKE) {
            strata_errorf(err, errlen, "the server's handshake answer is too long");
            return STRATA_EPARSE;
        }
        int rc = recv_some(w, deadline);
        if (rc) {
            strata_errorf(err, errlen, "%s while waiting for the server's handshake answer",
                          rc == STRATA_ETIMEOUT ? "timed out" : "connection lost");
            return rc == STRATA_ETIMEOUT ? rc : STRATA_EUNAVAIL;
        }
    }
}

int ws_connect(const char *url, const struct ws_options *o, struct ws **out, int *status, char *err,
               size_t errlen)
{
    *out = NULL;
    *status = 0;
    struct url u;
    int rc = parse_url(url, &u, err, errlen);
    if (rc)
        return rc;
    int64_t deadline =
        clock_mono_ns() + (int64_t)(o->timeout_ms > 0 ? o->timeout_ms : 10000) * NS_PER_MS;
    struct ws *w = xcalloc(1, sizeof(*w));
    w->fd = -1;
    buf_init(&w->in, 64u << 20);
    if ((rc = tcp_connect(&u, deadline, &w->fd, err, errlen)))
        goto fail;
    if (u.tls && (rc = tls_start(w, &u, o, deadline, err, errlen)))
        goto fail;

    uint8_t raw[16];
    char key[32];
    if ((rc = fill_random(raw, sizeof(raw)))) {
        strata_errorf(err, errlen, "no random bytes for the handshake");
        goto fail;
    }
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    struct buf req;
    buf_init(&req, 1 << 20);
    bool default_port = !strcmp(u.port, u.tls ? "443" : "80");
    bool v6 = strchr(u.host, ':') != NULL;
    rc = buf_printf(&req,
                    "GET %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                    "Sec-WebSocket-Version: 13\r\n",
                    u.path, v6 ? "[" : "", u.host, v6 ? "]" : "", default_port ? "" : ":",
                    default_port ? "" : u.port, key);
    for (size_t i = 0; i < o->n_headers && !rc; i++)
        rc = buf_printf(&req, "%s\r\n", o->headers[i]);
    if (!rc)
        rc = buf_append_str(&req, "\r\n");
    if (!rc)
        rc = send_all(w, req.ptr, req.len, deadline);
    buf_release(&req);
    if (rc) {
        strata_errorf(err, errlen, "cannot send the handshake");
        rc = STRATA_EUNAVAIL;
        goto fail;
    }
    size_t head_len = 0;
    if ((rc = read_answer(w, deadline, &head_len, err, errlen)))
        goto fail;
    rc = ws_check_handshake(w->in.ptr, head_len, key, status, err, errlen);
    if (rc && *status && *status != 101) {
        /* An error answer: show the server's text (up to Content-Length or what came). */
        struct slice cl = header_value(slice_make(w->in.ptr, head_len), "Content-Length");
        size_t want = 0;
        for (size_t i = 0; i < cl.len && cl.ptr[i] >= '0' && cl.ptr[i] <= '9' && want < 1 << 20;
             i++)
            want = want * 10 + (size_t)(cl.ptr[i] - '0');
        if (want > MAX_ERROR_BODY)
            want = MAX_ERROR_BODY;
        while (w->in.len - head_len < want && recv_some(w, deadline) == 0)
            ;
        size_t bl = w->in.len - head_len < want ? w->in.len - head_len : want;
        while (bl > 0 &&
               (w->in.ptr[head_len + bl - 1] == '\n' || w->in.ptr[head_len + bl - 1] == '\r'))
            bl--;
        strata_errorf(err, errlen, "HTTP %d: %.*s", *status, (int)bl, w->in.ptr + head_len);
    }
    if (rc)
        goto fail;
    /* Bytes after the answer are already frames. */
    memmove(w->in.ptr, w->in.ptr + head_len, w->in.len - head_len);
    buf_truncate(&w->in, w->in.len - head_len);
    *out = w;
    return 0;
fail:
    ws_free(w);
    return rc;
}

static int send_frame(struct ws *w, int opcode, const void *p, size_t n, int timeout_ms)
{
    uint8_t mask[4];
    if (fill_random(mask, 4))
        return STRATA_EIO;
    struct buf f;
    buf_init(&f, n + 14);
    int rc = ws_frame_encode(&f, opcode, p, n, mask);
    if (!rc)
        rc = send_all(w, f.ptr, f.len, clock_mono_ns() + (int64_t)timeout_ms * NS_PER_MS);
    buf_release(&f);
    return rc;
}

/* Consume n bytes from the front of the input buffer. */
static void consume(struct ws *w, size_t n)
{
    memmove(w->in.ptr, w->in.ptr + n, w->in.len - n);
    buf_truncate(&w->in, w->in.len - n);
}

int ws_read(struct ws *w, struct buf *msg, int timeout_ms, int *close_code, char *err,
            size_t errlen)
{
    int64_t deadline = clock_mono_ns() + (int64_t)timeout_ms * NS_PER_MS;
    if (!w->in_message)
        buf_reset(msg);
    *close_code = 0;
    for (;;) {
        struct ws_frame f;
        int rc = w->in.len ? ws_frame_parse((const uint8_t *)w->in.ptr, w->in.len,
                                            msg->max - msg->len, false, &f)
                           : 0;
        if (rc < 0) {
            strata_errorf(err, errlen, "%s",
                          rc == STRATA_ETOOLARGE ? "a message is larger than the limit"
                                                 : "the server sent an invalid WebSocket frame");
            return rc;
        }
        if (rc == 0) {
            rc = recv_some(w, deadline);
            if (rc == STRATA_EEOF) {
                *close_code = 1006;
                return 0;
            }
            if (rc == STRATA_ETIMEOUT)
                return rc; /* a partial message stays in w->in for the next call */
            if (rc) {
                strata_errorf(err, errlen, "connection error while reading");
                return rc;
            }
            continue;
        }
        size_t total = f.header_len + (size_t)f.len;
        switch (f.opcode) {
        case WS_PING: {
            uint8_t pl[MAX_CONTROL];
            memcpy(pl, f.payload, (size_t)f.len);
            size_t pn = (size_t)f.len;
            consume(w, total);
            send_frame(w, WS_PONG, pl, pn, 1000);
            continue;
        }
        case WS_PONG: consume(w, total); continue;
        case WS_CLOSE: {
            int code = f.len >= 2 ? (f.payload[0] << 8) | f.payload[1] : 1005;
            consume(w, total);
            if (!w->closed) {
                uint8_t c[2] = {(uint8_t)(code >> 8), (uint8_t)code};
                send_frame(w, WS_CLOSE, c, code == 1005 ? 0 : 2, 1000);
                w->closed = true;
            }
            *close_code = code;
            return 0;
        }
        default: break;
        }
        /* Data: a new message (text/binary) or its continuation. */
        if ((f.opcode == WS_CONT) != w->in_message) {
            strata_errorf(err, errlen, "the server sent an invalid sequence of message fragments");
            return STRATA_EPARSE;
        }
        w->in_message = true;
        rc = buf_append(msg, f.payload, (size_t)f.len);
        consume(w, total);
        if (rc) {
            strata_errorf(err, errlen, "a message is larger than the limit");
            return rc;
        }
        if (f.fin) {
            w->in_message = false;
            return 1;
        }
    }
}

void ws_close(struct ws *w, int code, int timeout_ms)
{
    if (!w || w->fd < 0)
        return;
    if (!w->closed) {
        uint8_t c[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        if (send_frame(w, WS_CLOSE, c, 2, timeout_ms))
            return;
        w->closed = true;
    }
    /* Wait for the server's close frame (bounded): messages meanwhile are dropped. */
    struct buf scratch;
    buf_init(&scratch, 64u << 20);
    int64_t deadline = clock_mono_ns() + (int64_t)timeout_ms * NS_PER_MS;
    char err[128];
    int cc;
    for (;;) {
        int64_t left = (deadline - clock_mono_ns()) / NS_PER_MS;
        if (left <= 0 || ws_read(w, &scratch, (int)left, &cc, err, sizeof(err)) != 1)
            break;
    }
    buf_release(&scratch);
}

void ws_free(struct ws *w)
{
    if (!w)
        return;
    if (w->ssl) {
        SSL_shutdown(w->ssl);
        SSL_free(w->ssl);
    }
    SSL_CTX_free(w->ctx);
    if (w->fd >= 0)
        close(w->fd);
    buf_release(&w->in);
    free(w);
}
