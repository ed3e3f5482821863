/*
 * tail.c - GET /loki/api/v1/tail: live tailing over a WebSocket (RFC 6455).
 *
 * The handler checks the parameters (query: a log query; delay_for <= 5
 * seconds; limit; start, default one hour ago), then takes the connection
 * over with http_upgrade_websocket. The WebSocket runs on its own thread:
 * it sends what matches since start, then polls the store every
 * --query.tail-poll-interval for entries newer than the last one sent (and
 * older than now - delay_for), and sends each batch as one text frame in
 * Loki's shape:
 *
 *     {"streams":[{"stream":{...},"values":[["<ns>","<line>"],...]}]}
 *
 * Frames from the client are read and unmasked: close is answered and ends
 * the tail, ping gets a pong, data is ignored. The tail also ends when the
 * client goes away, after --query.tail-max-duration, and at server shutdown
 * (tail_shutdown, called before the HTTP server stops).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/log.h"
#include "ingest/limits.h"
#include "server/handlers.h"
#include "server/query_api.h"
#include "server/server.h"
#include "server/wsframe.h"

#define MAX_TAILS        256
#define MAX_CLIENT_FRAME 65536

static pthread_mutex_t tails_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tails_cv = PTHREAD_COND_INITIALIZER;
static int tail_fds[MAX_TAILS];
static int n_tails;
static int tails_stopping; /* read and written atomically */

struct tail {
    struct server *srv;
    char *query;
    char *tenant;
    int64_t start, delay;
    uint32_t limit;
    int slot;
};

static int tail_register(int max)
{
    pthread_mutex_lock(&tails_lock);
    int slot = -1;
    if (!tails_stopping && n_tails < max && n_tails < MAX_TAILS) {
        for (int i = 0; i < MAX_TAILS; i++)
            if (!tail_fds[i]) {
                tail_fds[i] = -1; /* reserved until the socket is known */
                slot = i;
                n_tails++;
                break;
            }
    }
    pthread_mutex_unlock(&tails_lock);
    return slot;
}

static void tail_release_slot(int slot)
{
    pthread_mutex_lock(&tails_lock);
    tail_fds[slot] = 0;
    n_tails--;
    pthread_cond_broadcast(&tails_cv);
    pthread_mutex_unlock(&tails_lock);
}

void tail_shutdown(void)
{
    pthread_mutex_lock(&tails_lock);
    __atomic_store_n(&tails_stopping, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < MAX_TAILS; i++)
        if (tail_fds[i] > 0)
            shutdown(tail_fds[i], SHUT_RDWR);
    int64_t deadline = clock_mono_ns() + 5 * NS_PER_SEC;
    while (n_tails > 0 && clock_mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&tails_cv, &tails_lock, &ts);
    }
    int left = n_tails;
    pthread_mutex_unlock(&tails_lock);
    if (left)
        log_warn("tail: %d WebSockets still open at shutdown", left);
    /* let the upgrade threads hand their sockets back to libmicrohttpd */
    usleep(50 * 1000);
}

static void tail_free(struct tail *t)
{
    if (!t)
        return;
    free(t->query);
    free(t->tenant);
    free(t);
}

/* ---------------------------------------------------------------- framing */

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One unmasked frame from the server (FIN set). */
static int send_frame(int fd, unsigned opcode, const void *payload, size_t len)
{
    unsigned char h[10];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        h[1] = (unsigned char)len;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    if (send_all(fd, h, hl) < 0)
        return -1;
    return len ? send_all(fd, payload, len) : 0;
}

static int send_close(int fd, unsigned code, const char *reason)
{
    unsigned char p[128];
    size_t rl = strlen(reason);
    if (rl > 120)
        rl = 120;
    p[0] = (unsigned char)(code >> 8);
    p[1] = (unsigned char)code;
    memcpy(p + 2, reason, rl);
    return send_frame(fd, 8, p, rl + 2);
}

/* Buffered reader of client frames. */
struct wsin {
    unsigned char buf[MAX_CLIENT_FRAME + 16];
    size_t len;
};

/*
 * Handle every complete client frame in the buffer (wsframe.h checks them).
 * Returns 1 to go on, 0 when the client closed (a close frame was answered),
 * -1 on a protocol error (the socket should be closed).
 */
static int handle_frames(int fd, struct wsin *in)
{
    for (;;) {
        struct ws_frame f;
        unsigned code;
        const char *why;
        int rc = wsframe_parse(in->buf, in->len, MAX_CLIENT_FRAME, &f, &code, &why);
        if (rc == 0)
            return 1;
        if (rc < 0) {
            send_close(fd, code, why);
            return -1;
        }
        if (f.opcode == WS_OP_CLOSE) {
            send_frame(fd, WS_OP_CLOSE, f.payload, f.len >= 2 ? 2 : 0);
            return 0;
        }
        if (f.opcode == WS_OP_PING && send_frame(fd, WS_OP_PONG, f.payload, f.len) < 0)
            return -1;
        memmove(in->buf, in->buf + f.size, in->len - f.size);
        in->len -= f.size;
    }
}

/* ---------------------------------------------------------------- tailing */

/* Entries at the newest time already sent, to skip them when the next query starts there. */
struct sent_at {
    int64_t ts;
    uint64_t *hash;
    uint32_t n, cap;
};

static uint64_t entry_hash(const struct result_stream *s, const struct result_entry *e)
{
    return hash64(s->key.ptr, s->key.len) ^ (hash64(e->line.ptr, e->line.len) * 31);
}

static bool already_sent(const struct sent_at *sa, int64_t ts, uint64_t h)
{
    if (ts < sa->ts)
        return true;
    if (ts > sa->ts)
        return false;
    for (uint32_t i = 0; i < sa->n; i++)
        if (sa->hash[i] == h)
            return true;
    return false;
}

static void remember(struct sent_at *sa, int64_t ts, uint64_t h)
{
    if (ts > sa->ts) {
        sa->ts = ts;
        sa->n = 0;
    }
    if (sa->n == sa->cap) {
        sa->cap = sa->cap ? sa->cap * 2 : 16;
        sa->hash = xreallocarray(sa->hash, sa->cap, sizeof(*sa->hash));
    }
    sa->hash[sa->n++] = h;
}

/* Run one query window and send what is new; -1 when the socket failed. */
static int tail_once(int fd, struct tail *t, const struct plan *plan, int64_t from, int64_t to,
                     bool first, struct sent_at *sa)
{
    struct arena a;
    arena_init(&a, 0);
    struct log_query lq = {.tenant = t->tenant,
                           .log = plan->root,
                           .start = from,
                           .end = to,
                           .limit = t->limit,
                           .backward = first};
    struct tenant_limits scratch;
    int64_t timeout = query_tenant_limits(t->tenant, t->srv, &scratch)->query_timeout_ns;
    lq.lim.deadline_ns = clock_mono_ns() + (timeout > 0 ? timeout : 60 * NS_PER_SEC);
    lq.lim.max_memory = (size_t)t->srv->cfg->query_max_memory;
    lq.lim.parallelism = 1;
    struct log_result res;
    char err[1024];
    int rc = engine_log_query(store_chain(t->srv->store), &lq, &a, &res, err, sizeof(err));
    if (rc < 0) {
        log_warn("tail: query failed: %s", err);
        arena_release(&a);
        return 0;
    }
    /* keep only new entries, oldest first within each stream */
    uint32_t total = 0;
    for (uint32_t s = 0; s < res.n_streams; s++) {
        struct result_stream *st = &res.streams[s];
        if (lq.backward)
            for (uint32_t i = 0, j = st->n ? st->n - 1 : 0; i < j; i++, j--) {
                struct result_entry x = st->e[i];
                st->e[i] = st->e[j];
                st->e[j] = x;
            }
        uint32_t w = 0;
        for (uint32_t i = 0; i < st->n; i++)
            if (!already_sent(sa, st->e[i].ts, entry_hash(st, &st->e[i])))
                st->e[w++] = st->e[i];
        st->n = w;
        total += w;
    }
    if (!total) {
        arena_release(&a);
        return 0;
    }
    /* remember what is sent, in time order across streams */
    int64_t maxts = sa->ts;
    for (uint32_t s = 0; s < res.n_streams; s++)
        for (uint32_t i = 0; i < res.streams[s].n; i++)
            if (res.streams[s].e[i].ts > maxts)
                maxts = res.streams[s].e[i].ts;
    for (uint32_t s = 0; s < res.n_streams; s++)
        for (uint32_t i = 0; i < res.streams[s].n; i++)
            if (res.streams[s].e[i].ts == maxts)
                remember(sa, maxts, entry_hash(&res.streams[s], &res.streams[s].e[i]));
    struct result_stream *keep = arena_alloc(&a, res.n_streams * sizeof(*keep));
    uint32_t nk = 0;
    for (uint32_t s = 0; s < res.n_streams; s++)
        if (res.streams[s].n)
            keep[nk++] = res.streams[s];
    res.streams = keep;
    res.n_streams = nk;
    struct buf b;
    buf_init(&b, 1u << 28);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "streams");
    write_log_streams(&w, &res, false);
    jw_object_end(&w);
    int src = w.rc < 0 ? 0 : send_frame(fd, 1, b.ptr, b.len);
    buf_release(&b);
    arena_release(&a);
    return src;
}

static void tail_run(int fd, void *arg)
{
    struct tail *t = arg;
    if (fd < 0) { /* the client left before the 101 */
        tail_release_slot(t->slot);
        tail_free(t);
        return;
    }
    pthread_mutex_lock(&tails_lock);
    tail_fds[t->slot] = fd;
    bool stopping = __atomic_load_n(&tails_stopping, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&tails_lock);
    struct arena pa;
    arena_init(&pa, 0);
    struct plan plan;
    char err[1024];
    struct wsin *in = xcalloc(1, sizeof(*in));
    struct sent_at sa = {.ts = INT64_MIN};
    if (stopping || plan_parse_logql(slice_from(t->query), &pa, &plan, err, sizeof(err)) < 0) {
        send_close(fd, stopping ? 1001 : 1008, stopping ? "server shutting down" : "bad query");
        goto out;
    }
    const struct config *cfg = t->srv->cfg;
    int64_t poll_ns =
        cfg->query_tail_poll_interval > 0 ? cfg->query_tail_poll_interval : 250 * NS_PER_MS;
    int64_t until = clock_mono_ns() +
                    (cfg->query_tail_max_duration > 0 ? cfg->query_tail_max_duration : NS_PER_HOUR);
    int64_t from = t->start;
    bool first = true;
    for (;;) {
        if (__atomic_load_n(&tails_stopping, __ATOMIC_RELAXED)) {
            send_close(fd, 1001, "server shutting down");
            break;
        }
        if (clock_mono_ns() > until) {
            send_close(fd, 1000, "tail duration limit reached");
            break;
        }
        int64_t to = clock_now_ns() - t->delay;
        if (to > from) {
            if (tail_once(fd, t, &plan, from, to, first, &sa) < 0)
                break;
            first = false;
            if (sa.ts != INT64_MIN)
                from = sa.ts; /* the newest sent time again: entries arriving at it later */
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)(poll_ns / NS_PER_MS));
        if (pr < 0 && errno != EINTR)
            break;
        if (pr > 0) {
            if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
                break;
            ssize_t r = recv(fd, in->buf + in->len, sizeof(in->buf) - in->len, 0);
            if (r <= 0)
                break;
            in->len += (size_t)r;
            int hr = handle_frames(fd, in);
            if (hr <= 0)
                break;
        }
    }
    plan_release(&plan);
out:
    free(sa.hash);
    free(in);
    arena_release(&pa);
    tail_release_slot(t->slot);
    tail_free(t);
}

HANDLER(h_loki_tail)
{
    struct server *srv = ctx;
    const char *q = http_param(req, "query");
    if (!q) {
        http_reply_text(req, 400, "parse error : syntax error: unexpected $end");
        return;
    }
    struct plan plan;
    char err[1024];
    if (plan_parse_logql(slice_from(q), &req->arena, &plan, err, sizeof(err)) < 0) {
        http_reply_text(req, 400, "%s", err);
        return;
    }
    bool metric = plan_is_metric(&plan);
    plan_release(&plan);
    if (metric) {
        http_reply_text(req, 400, "tailing is only supported for log queries");
        return;
    }
    int64_t delay = 0;
    const char *dv = http_param(req, "delay_for");
    if (dv) {
        int64_t d;
        if (clock_parse_int64(slice_from(dv), &d) < 0 || d < 0) {
            http_reply_text(req, 400, "invalid delay_for parameter: \"%s\" is not an integer", dv);
            return;
        }
        if (d > 5) {
            http_reply_text(req, 400, "delay_for can't be greater than 5");
            return;
        }
        delay = d * NS_PER_SEC;
    }
    uint32_t limit = 100;
    const char *lv = http_param(req, "limit");
    if (lv) {
        int64_t l;
        if (clock_parse_int64(slice_from(lv), &l) < 0 || l <= 0) {
            http_reply_text(req, 400, "limit must be a positive value");
            return;
        }
        struct tenant_limits scratch;
        int64_t max = query_tenant_limits(req->tenant, srv, &scratch)->max_entries_per_query;
        if (max > 0 && l > max) {
            http_reply_text(req, 400,
                            "max entries limit per query exceeded, limit > "
                            "max_entries_limit_per_query (%lld > %lld)",
                            (long long)l, (long long)max);
            return;
        }
        limit = (uint32_t)l;
    }
    int64_t start = clock_now_ns() - NS_PER_HOUR;
    const char *sv = http_param(req, "start");
    if (sv && clock_parse_loki_time(slice_from(sv), &start) < 0) {
        http_reply_text(req, 400,
                        "invalid start parameter: cannot parse \"%s\" to a valid timestamp", sv);
        return;
    }
    int slot = tail_register((int)srv->cfg->query_max_tail_connections);
    if (slot < 0) {
        http_reply_text(req, 429, "max concurrent tail requests limit exceeded");
        return;
    }
    struct tail *t = xcalloc(1, sizeof(*t));
    t->srv = srv;
    t->query = xstrdup(q);
    t->tenant = xstrdup(req->tenant);
    t->start = start;
    t->delay = delay;
    t->limit = limit;
    t->slot = slot;
    if (http_upgrade_websocket(req, tail_run, t) < 0) {
        tail_release_slot(slot);
        tail_free(t);
    }
}
