#include "server/grpc.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "ingest/ingest.h"
#include "ingest/logsgo.h"
#include "ingest/logthra.h"
#include "ingest/loki_proto.h"
#include "ingest/otlp.h"
#include "ingest/pbwire.h"
#include "server/auth.h"
#include "server/tenant.h"
#include "server/tls.h"

enum method { M_UPLOAD_LOG, M_UPLOAD_LOGS, M_LOKI_PUSH, M_OTLP_EXPORT, M_LOGTHRA_PUSH, M_COUNT };

static const char *const method_paths[M_COUNT] = {
    "/logapi.LogIngestor/UploadLog",
    "/logapi.LogIngestor/UploadLogs",
    "/logproto.Pusher/Push",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "/proto.IngesterService/PushToIngester",
};

/*
 * A slot's life: WAITING for a call (its metadata arrives, not its message),
 * then RECEIVING its message once the credential passed, then SENDING the
 * status; then it is requested again. A refused call goes from WAITING
 * straight to SENDING: its message is never read.
 */
enum call_state { CALL_WAITING, CALL_RECEIVING, CALL_SENDING, CALL_RETIRED };

/* One slot: a requested call, then its reply; reused for the next call of the same method. */
struct call {
    struct rpc_server *srv;
    enum method method;
    enum call_state state;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_byte_buffer *reply;
    grpc_slice details;
    int cancelled;
    struct arena arena; /* the call's credential and tenant */
    const char *authz;  /* the authorization metadata, NULL when absent */
    const char *org;    /* the x-scope-orgid metadata, NULL when absent or empty */
    const char *tenant; /* the tenant the credential admitted (in arena) */
};

struct rpc_server {
    grpc_server *server;
    grpc_completion_queue *cq;
    void *registered[M_COUNT];
    struct ingest *in;
    int port;
    struct auth *auth; /* NULL: no authentication (mode none) */
    bool tls, mtls;
    pthread_t *threads;
    int n_threads;
    struct call *calls;
    int n_calls;
    int shutdown_tag; /* its address is the tag of the server's shutdown notice */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool shutdown_done;
    struct metric_family *m_calls;
};

/*
 * ThreadSanitizer cannot see the synchronisation inside gRPC core (not built
 * with it): a slot handed from the thread that starts a batch to the thread
 * that takes its completion from the queue is made visible to it with these.
 */
#if defined(__SANITIZE_THREAD__)
#define STRATA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRATA_TSAN 1
#endif
#endif
#ifdef STRATA_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define HANDOFF_RELEASE(p) __tsan_release(p)
#define HANDOFF_ACQUIRE(p) __tsan_acquire(p)
#else
#define HANDOFF_RELEASE(p) ((void)(p))
#define HANDOFF_ACQUIRE(p) ((void)(p))
#endif

/*
 * The rule of a slot's thread safety: once a batch (or a call request) is
 * started with the slot as its tag, the starting thread never touches the slot
 * again; the thread that takes the completion owns it. So the functions that
 * start one return whether they did (false: no completion will come, and the
 * caller finishes the slot).
 */

/* ---- replies ---- */

static void set_reply(struct call *c, const struct buf *msg)
{
    grpc_slice s = grpc_slice_from_copied_buffer(msg->ptr ? msg->ptr : "", msg->len);
    c->reply = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
}

static bool send_reply(struct call *c, grpc_status_code code, const char *details)
{
    char cs[8];
    snprintf(cs, sizeof(cs), "%d", (int)code);
    metric_inc(metric_get(c->srv->m_calls, method_paths[c->method], cs), 1);
    c->details = grpc_slice_from_copied_string(details ? details : "");
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n++].data.send_initial_metadata.count = 0;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    if (code == GRPC_STATUS_OK && c->reply) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->reply;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.trailing_metadata_count = 0;
    ops[n].data.send_status_from_server.status = code;
    ops[n++].data.send_status_from_server.status_details = &c->details;
    c->state = CALL_SENDING;
    enum method m = c->method;
    grpc_call *call = c->call;
    HANDOFF_RELEASE(c);
    grpc_call_error e = grpc_call_start_batch(call, ops, n, c, NULL);
    if (e != GRPC_CALL_OK) {
        /* The slot would never come back: the caller finishes it. */
        log_error("grpc: %s: cannot send the reply (call error %d)", method_paths[m], e);
        return false;
    }
    return true;
}

/* ---- handling a call ---- */

/* A copy (in a) of the first value of metadata key, or NULL when there is none. */
static const char *metadata_dup(const grpc_metadata_array *md, const char *key, struct arena *a)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) == kl && !memcmp(GRPC_SLICE_START_PTR(*k), key, kl))
            return arena_strndup(a, (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value),
                                 GRPC_SLICE_LENGTH(md->metadata[i].value));
    }
    return NULL;
}

/*
 * Check a call's credential and tenant (auth.h) from its metadata, before its
 * message is read: the `authorization` value and the role write (every
 * method here pushes), the tenant from `x-scope-orgid` within what the
 * credential holds. Returns 0 with c->tenant set, or the gRPC status to
 * answer with (UNAUTHENTICATED with LogsGO's texts, PERMISSION_DENIED,
 * INVALID_ARGUMENT) and its message in msg.
 */
static grpc_status_code admit(struct call *c, char *msg, size_t cap)
{
    struct rpc_server *srv = c->srv;
    c->authz = metadata_dup(&c->md, "authorization", &c->arena);
    c->org = metadata_dup(&c->md, "x-scope-orgid", &c->arena);
    if (c->org && !c->org[0])
        c->org = NULL;
    if (auth_mode(srv->auth) != AUTH_MODE_NONE && c->md.count == 0) {
        snprintf(msg, cap, "missing metadata"); /* LogsGO's interceptor's first text */
        return GRPC_STATUS_UNAUTHENTICATED;
    }
    struct auth_identity id;
    int rc =
        auth_check_bearer(srv->auth, c->authz, AUTH_ROLE_WRITE, c->org, &c->arena, &id, msg, cap);
    if (rc < 0)
        return (grpc_status_code)strata_grpc_status(rc);
    c->tenant = id.tenant;
    return GRPC_STATUS_OK;
}

/* The gRPC status for a finished push; details written to msg. */
static grpc_status_code push_status(int rc, const struct push_batch *b,
                                    const struct push_result *res, uint64_t wanted, char *msg,
                                    size_t cap)
{
    msg[0] = '\0';
    if (rc < 0) {
        snprintf(msg, cap, "%s",
                 rc == STRATA_ERATE && res->error ? res->error : strata_strerror(rc));
        return (grpc_status_code)strata_grpc_status(rc);
    }
    if (res->n_rejected) {
        const struct push_rejection *last = &res->rejected[res->n_rejected - 1];
        snprintf(msg, cap, "user '%s', total ignored: %u out of %llu; last reason: %s", b->tenant,
                 res->n_rejected, (unsigned long long)wanted, last->reason);
        return (grpc_status_code)strata_grpc_status(last->rc);
    }
    if (res->error) {
        snprintf(msg, cap, "%s", res->error);
        return (grpc_status_code)strata_grpc_status(res->error_rc);
    }
    return GRPC_STATUS_OK;
}

static bool handle(struct call *c)
{
    struct rpc_server *srv = c->srv;
    grpc_slice whole = grpc_empty_slice();
    if (c->payload) {
        grpc_byte_buffer_reader rd;
        if (grpc_byte_buffer_reader_init(&rd, c->payload)) {
            whole = grpc_byte_buffer_reader_readall(&rd);
            grpc_byte_buffer_reader_destroy(&rd);
        }
    }
    struct slice msg = {(const char *)GRPC_SLICE_START_PTR(whole), GRPC_SLICE_LENGTH(whole)};
    if (!msg.ptr)
        msg.ptr = "";
    char details[2048];
    const char *t = c->tenant;
    struct slice tid;
    if (c->method == M_LOGTHRA_PUSH && logthra_proto_tenant(msg, &tid) == 0 && tid.len) {
        /* Logthra names its tenant in the message: admitted the same way as the metadata's. */
        const char *want = arena_strndup(&c->arena, tid.ptr, tid.len);
        struct auth_identity id;
        int arc = 0;
        if (c->org && strcmp(c->org, want) != 0) {
            snprintf(details, sizeof(details),
                     "x-scope-orgid \"%.64s\" and TenantID \"%.64s\" name different tenants: "
                     "send one",
                     c->org, want);
            arc = STRATA_EINVAL;
        } else {
            arc = auth_check_bearer(srv->auth, c->authz, AUTH_ROLE_WRITE, want, &c->arena, &id,
                                    details, sizeof(details));
        }
        if (arc < 0) {
            grpc_slice_unref(whole);
            return send_reply(c, (grpc_status_code)strata_grpc_status(arc), details);
        }
        t = id.tenant;
    }
    struct push_batch b;
    struct push_result res;
    struct normalizer nz;
    ingest_begin(srv->in, t, msg.len, &b, &res, &nz);
    int rc;
    switch (c->method) {
    case M_UPLOAD_LOG: rc = logsgo_entry_decode(msg, &nz, details, sizeof(details)); break;
    case M_UPLOAD_LOGS: rc = logsgo_batch_decode(msg, &nz, details, sizeof(details)); break;
    case M_LOKI_PUSH: rc = loki_proto_decode(msg, &nz, details, sizeof(details)); break;
    case M_OTLP_EXPORT: rc = otlp_proto_decode(msg, &nz, details, sizeof(details)); break;
    default: rc = logthra_proto_decode(msg, &nz, details, sizeof(details)); break;
    }
    if (rc < 0) {
        push_batch_release(&b);
        grpc_slice_unref(whole);
        return send_reply(c, (grpc_status_code)strata_grpc_status(rc), details);
    }
    uint64_t wanted = b.n_entries + res.n_invalid;
    rc = ingest_push(srv->in, &b, &res);
    grpc_status_code code = push_status(rc, &b, &res, wanted, details, sizeof(details));
    struct buf out;
    buf_init(&out, 1u << 20);
    int wrc = 0;
    if (c->method == M_OTLP_EXPORT && rc == 0 && res.accepted &&
        (res.n_invalid || res.n_rejected)) {
        /* Some records were stored: a partial success, not an error. */
        struct buf ps;
        buf_init(&ps, 1u << 20);
        wrc = pb_put_varint_field(&ps, 1, res.n_invalid + res.n_rejected);
        if (!wrc)
            wrc = pb_put_bytes_field(&ps, 2, details, strlen(details));
        if (!wrc)
            wrc = pb_put_bytes_field(&out, 1, ps.ptr, ps.len);
        buf_release(&ps);
        code = GRPC_STATUS_OK;
        details[0] = '\0';
    } else if (code == GRPC_STATUS_OK) {
        if (c->method == M_UPLOAD_LOG || c->method == M_UPLOAD_LOGS)
            wrc = pb_put_varint_field(&out, 1, 1); /* UploadResponse{success: true} */
        else if (c->method == M_LOGTHRA_PUSH)
            wrc = pb_put_bytes_field(&out, 1, "accepted", 8);
    }
    (void)wrc;
    if (code == GRPC_STATUS_OK)
        set_reply(c, &out);
    buf_release(&out);
    push_batch_release(&b);
    grpc_slice_unref(whole);
    return send_reply(c, code, details);
}

/* ---- slots ---- */

/* Ask for the slot's next call; false (the slot retired) once the server is shutting down. */
static bool request_call(struct call *c)
{
    c->call = NULL;
    c->payload = NULL;
    c->reply = NULL;
    c->cancelled = 0;
    c->details = grpc_empty_slice();
    c->authz = c->org = c->tenant = NULL;
    arena_init(&c->arena, 0);
    grpc_metadata_array_init(&c->md);
    c->state = CALL_WAITING;
    enum method m = c->method;
    /* The message is not read with the call (GRPC_SRM_PAYLOAD_NONE): start_call reads it once
     * the credential passed. */
    HANDOFF_RELEASE(c);
    grpc_call_error e =
        grpc_server_request_registered_call(c->srv->server, c->srv->registered[c->method], &c->call,
                                            &c->deadline, &c->md, NULL, c->srv->cq, c->srv->cq, c);
    if (e != GRPC_CALL_OK) {
        log_error("grpc: cannot request a call for %s (call error %d)", method_paths[m], e);
        grpc_metadata_array_destroy(&c->md);
        c->state = CALL_RETIRED;
        return false;
    }
    return true;
}

/* A call arrived (metadata only): refuse it, or start reading its message. */
static bool start_call(struct call *c)
{
    char msg[512];
    grpc_status_code code = admit(c, msg, sizeof(msg));
    if (code != GRPC_STATUS_OK) {
        log_debug("grpc: %s refused (%d): %s", method_paths[c->method], (int)code, msg);
        return send_reply(c, code, msg);
    }
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->payload;
    c->state = CALL_RECEIVING;
    enum method m = c->method;
    grpc_call *call = c->call;
    HANDOFF_RELEASE(c);
    grpc_call_error e = grpc_call_start_batch(call, &op, 1, c, NULL);
    if (e != GRPC_CALL_OK) {
        log_error("grpc: %s: cannot read the message (call error %d)", method_paths[m], e);
        return false;
    }
    return true;
}

static void finish_call(struct call *c)
{
    if (c->call)
        grpc_call_unref(c->call);
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->reply)
        grpc_byte_buffer_destroy(c->reply);
    grpc_slice_unref(c->details);
    grpc_metadata_array_destroy(&c->md);
    arena_release(&c->arena);
    c->call = NULL;
    c->payload = c->reply = NULL;
    c->authz = c->org = c->tenant = NULL;
}

static void *worker(void *arg)
{
    struct rpc_server *srv = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        if (ev.tag == &srv->shutdown_tag) {
            pthread_mutex_lock(&srv->lock);
            srv->shutdown_done = true;
            pthread_cond_broadcast(&srv->cond);
            pthread_mutex_unlock(&srv->lock);
            continue;
        }
        struct call *c = ev.tag;
        HANDOFF_ACQUIRE(c);
        bool started = true; /* a batch was started: the slot is no longer this thread's */
        if (c->state == CALL_WAITING) {
            if (!ev.success) {
                /* The server is shutting down: this slot is done. */
                finish_call(c);
                c->state = CALL_RETIRED;
                continue;
            }
            started = start_call(c);
        } else if (c->state == CALL_RECEIVING) {
            started = ev.success ? handle(c)
                                 : send_reply(c, GRPC_STATUS_CANCELLED,
                                              "the call ended before its message arrived");
        } else if (c->state == CALL_SENDING) {
            finish_call(c);
            request_call(c); /* fails (and retires) once shutdown has begun */
            continue;
        }
        if (!started) {
            finish_call(c);
            c->state = CALL_RETIRED;
        }
    }
    return NULL;
}

/* ---- lifecycle ---- */

/* The listener's credentials: TLS (and mutual TLS) from the logclient section, else plaintext. */
static grpc_server_credentials *listener_credentials(const struct tls_section *tls)
{
    if (!tls || !tls->enabled)
        return grpc_insecure_server_credentials_create();
    grpc_ssl_pem_key_cert_pair pair = {tls->key_pem, tls->cert_pem};
    return grpc_ssl_server_credentials_create_ex(
        tls->ca_pem, &pair, 1,
        tls->ca_pem ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                    : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
}

struct rpc_server *rpc_server_start(const struct config *cfg, struct ingest *in, struct auth *auth,
                                    const struct tls_section *tls, char *err, size_t errlen)
{
    grpc_init();
    struct rpc_server *s = xcalloc(1, sizeof(*s));
    s->in = in;
    s->auth = auth;
    s->tls = tls && tls->enabled;
    s->mtls = s->tls && tls->ca_pem;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->m_calls = metrics_family(METRIC_COUNTER, "strata_grpc_requests_total",
                                "gRPC calls by method and status code.", "method,code");
    grpc_arg args[2];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    int64_t maxmsg = cfg->grpc_max_recv_msg_size;
    args[0].value.integer = maxmsg > INT32_MAX ? INT32_MAX : (int)maxmsg;
    /* Never share a port with another process silently (gRPC sets SO_REUSEPORT by default). */
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    args[1].value.integer = 0;
    grpc_channel_args cargs = {2, args};
    s->server = grpc_server_create(&cargs, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    for (int m = 0; m < M_COUNT; m++)
        s->registered[m] =
            grpc_server_register_method(s->server, method_paths[m], NULL, GRPC_SRM_PAYLOAD_NONE, 0);
    grpc_server_credentials *creds = listener_credentials(tls);
    s->port = grpc_server_add_http2_port(s->server, cfg->grpc_listen_addr, creds);
    grpc_server_credentials_release(creds);
    if (s->port <= 0) {
        snprintf(err, errlen, "cannot listen on %s (address in use or invalid%s)",
                 cfg->grpc_listen_addr, s->tls ? ", or the logclient TLS files were refused" : "");
        grpc_server_destroy(s->server);
        grpc_completion_queue_shutdown(s->cq);
        while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(s->cq);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s);
        grpc_shutdown_blocking();
        return NULL;
    }
    grpc_server_start(s->server);
    s->n_threads = cfg->grpc_workers > 0 ? (int)cfg->grpc_workers : 8;
    s->n_calls = s->n_threads * M_COUNT;
    s->calls = xcalloc((size_t)s->n_calls, sizeof(*s->calls));
    for (int i = 0; i < s->n_calls; i++) {
        s->calls[i].srv = s;
        s->calls[i].method = (enum method)(i % M_COUNT);
        request_call(&s->calls[i]);
    }
    s->threads = xcalloc((size_t)s->n_threads, sizeof(*s->threads));
    for (int i = 0; i < s->n_threads; i++)
        pthread_create(&s->threads[i], NULL, worker, s);
    return s;
}

int rpc_server_port(const struct rpc_server *s)
{
    return s->port;
}

const char *rpc_server_describe(const struct rpc_server *s)
{
    return !s->tls ? "" : s->mtls ? " with TLS, client certificates required" : " with TLS";
}

static bool wait_shutdown(struct rpc_server *s, int64_t timeout_ns)
{
    int64_t deadline = clock_now_ns() + timeout_ns;
    struct timespec ts = {(time_t)(deadline / NS_PER_SEC), (long)(deadline % NS_PER_SEC)};
    pthread_mutex_lock(&s->lock);
    while (!s->shutdown_done)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) != 0)
            break;
    bool done = s->shutdown_done;
    pthread_mutex_unlock(&s->lock);
    return done;
}

void rpc_server_stop(struct rpc_server *s, int64_t timeout_ns)
{
    if (!s)
        return;
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
    if (!wait_shutdown(s, timeout_ns)) {
        log_warn("grpc: calls still running after the shutdown timeout: cancelling them");
        grpc_server_cancel_all_calls(s->server);
        wait_shutdown(s, 30 * NS_PER_SEC);
    }
    grpc_server_destroy(s->server);
    grpc_completion_queue_shutdown(s->cq);
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i], NULL);
    grpc_completion_queue_destroy(s->cq);
    free(s->threads);
    free(s->calls);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
    grpc_shutdown_blocking();
}
