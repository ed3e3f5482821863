/*
 * client.c - libstrata's public API (include/strata.h): options, the client,
 * uploads, flush, stats, close, errors.
 */
#include "client/client.h"

#include <snappy-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/sender.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"

#ifndef STRATA_CLIENT_VERSION
#define STRATA_CLIENT_VERSION "0.0.0"
#endif

/* LogsGO's client messages (seeds.md 1.3), kept word for word. */
#define MSG_NO_OPTIONS "no options provided for log upload"
#define MSG_FAILED     "failed to upload log(s)"

static _Thread_local char last_error[1200];

const char *strata_client_version(void)
{
    return STRATA_CLIENT_VERSION;
}

int client_error(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return rc;
}

const char *strata_last_error(void)
{
    return last_error;
}

void strata_options_init(struct strata_options *o)
{
    memset(o, 0, sizeof(*o));
    o->transport = STRATA_TRANSPORT_GRPC;
    o->timeout_ms = 10000;
    o->batch_max_entries = 1000;
    o->batch_max_bytes = 1u << 20;
    o->batch_wait_ms = 1000;
    o->queue_max_entries = 100000;
    o->queue_max_bytes = 64u << 20;
    o->on_full = STRATA_QUEUE_BLOCK;
    o->enqueue_timeout_ms = 5000;
    o->max_retries = 10;
    o->retry_min_ms = 250;
    o->retry_max_ms = 30000;
    o->close_timeout_ms = 10000;
}

static int check_options(const struct strata_options *o)
{
    if ((unsigned)o->transport > STRATA_TRANSPORT_HTTP_JSON)
        return client_error(STRATA_EINVAL, "unknown transport %d", (int)o->transport);
    if (o->timeout_ms <= 0)
        return client_error(STRATA_EINVAL, "timeout_ms must be positive (got %d)", o->timeout_ms);
    if (!o->async)
        return 0;
    if (!o->batch_max_entries || !o->batch_max_bytes || !o->queue_max_entries ||
        !o->queue_max_bytes)
        return client_error(STRATA_EINVAL, "batch and queue limits must be positive");
    if (o->batch_wait_ms < 0 || o->retry_min_ms <= 0 || o->retry_max_ms < o->retry_min_ms ||
        o->close_timeout_ms < 0 || o->max_retries < -1 || o->enqueue_timeout_ms < -1)
        return client_error(STRATA_EINVAL,
                            "invalid async options: batch_wait_ms >= 0, 0 < retry_min_ms <= "
                            "retry_max_ms, close_timeout_ms >= 0, max_retries >= -1 and "
                            "enqueue_timeout_ms >= -1 are required");
    if ((unsigned)o->on_full > STRATA_QUEUE_DROP_OLDEST)
        return client_error(STRATA_EINVAL, "unknown queue policy %d", (int)o->on_full);
    return 0;
}

/* Copy an option string into the client (NULL and "" stay NULL). */
static const char *own(struct strata_client *c, int slot, const char *s)
{
    if (!s || !s[0])
        return NULL;
    c->strings[slot] = xstrdup(s);
    return c->strings[slot];
}

static void client_free(struct strata_client *c)
{
    grpc_conn_free(c->grpc);
    http_conn_free(c->http);
    for (size_t i = 0; i < sizeof(c->strings) / sizeof(c->strings[0]); i++)
        free(c->strings[i]);
    free(c->addr);
    free(c);
}

int strata_client_new(const char *addr, const struct strata_options *opts,
                      struct strata_client **out)
{
    if (!out)
        return client_error(STRATA_EINVAL, "strata_client_new: out is NULL");
    *out = NULL;
    if (!addr || !addr[0])
        return client_error(STRATA_EINVAL, "no server address given");
    struct strata_options defaults;
    if (!opts) {
        strata_options_init(&defaults);
        opts = &defaults;
    }
    int rc = check_options(opts);
    if (rc)
        return rc;
    struct strata_client *c = xcalloc(1, sizeof(*c));
    c->o = *opts;
    c->o.tls.ca_file = own(c, 0, opts->tls.ca_file);
    c->o.tls.cert_file = own(c, 1, opts->tls.cert_file);
    c->o.tls.key_file = own(c, 2, opts->tls.key_file);
    c->o.tls.server_name = own(c, 3, opts->tls.server_name);
    c->o.bearer_token = own(c, 4, opts->bearer_token);
    c->o.tenant = own(c, 5, opts->tenant);
    char err[1024] = "";
    if (c->o.transport == STRATA_TRANSPORT_GRPC) {
        c->addr = xstrdup(addr);
        rc = grpc_conn_new(addr, &c->o, &c->grpc, err, sizeof(err));
    } else {
        /* A bare host:port gets a scheme; https:// means TLS. */
        bool scheme = strstr(addr, "://") != NULL;
        size_t n = strlen(addr) + 16;
        c->addr = xmalloc(n);
        snprintf(c->addr, n, "%s%s", scheme ? "" : c->o.tls.enabled ? "https://" : "http://", addr);
        if (!strncmp(c->addr, "https://", 8))
            c->o.tls.enabled = 1;
        rc = http_conn_new(c->addr, &c->o, &c->http, err, sizeof(err));
    }
    if (rc) {
        client_free(c);
        return client_error(rc, "%s", err);
    }
    if (c->o.async)
        c->sender = sender_start(c);
    *out = c;
    return 0;
}

bool client_await(struct strata_client *c, int64_t until)
{
    return c->grpc && grpc_conn_await(c->grpc, until);
}

int client_deliver(struct strata_client *c, struct centry *const *v, size_t n, bool single,
                   struct send_result *r)
{
    memset(r, 0, sizeof(*r));
    struct buf body, resp;
    buf_init(&body, CLIENT_MAX_BODY);
    buf_init(&resp, 1u << 20);
    bool logsgo = v[0]->kind == CENTRY_LOGSGO;
    int rc;
    if (c->grpc && logsgo) {
        const char *method = "/logapi.LogIngestor/UploadLogs";
        if (single && n == 1) {
            method = "/logapi.LogIngestor/UploadLog";
            rc = encode_logsgo_entry(v[0], &body);
        } else {
            rc = encode_logsgo_batch(v, n, &body);
        }
        if (rc)
            goto too_large;
        if (grpc_conn_call(c->grpc, method, buf_slice(&body), &resp, r) == 0 &&
            !upload_response_success(buf_slice(&resp)))
            send_result_fail(r, STRATA_EIO, false, "%s", ""); /* LogsGO's bare message */
    } else if (c->grpc) {
        if (encode_loki_proto(v, n, &body))
            goto too_large;
        grpc_conn_call(c->grpc, "/logproto.Pusher/Push", buf_slice(&body), &resp, r);
    } else if (c->o.transport == STRATA_TRANSPORT_HTTP_JSON) {
        if (encode_loki_json(v, n, &body))
            goto too_large;
        http_conn_request(c->http, "POST", "/loki/api/v1/push", "application/json",
                          buf_slice(&body), &resp, r);
    } else {
        /* Loki's protobuf push: a raw snappy block (not the framed format). */
        if (encode_loki_proto(v, n, &body))
            goto too_large;
        size_t zlen = snappy_max_compressed_length(body.len);
        char *z = xmalloc(zlen ? zlen : 1);
        if (snappy_compress(body.ptr, body.len, z, &zlen) != SNAPPY_OK)
            send_result_fail(r, STRATA_EINTERNAL, false, "snappy compression failed");
        else
            http_conn_request(c->http, "POST", "/loki/api/v1/push", "application/x-protobuf",
                              slice_make(z, zlen), &resp, r);
        free(z);
    }
    goto done;
too_large:
    send_result_fail(r, STRATA_ETOOLARGE, false, "the batch is larger than %u bytes",
                     CLIENT_MAX_BODY);
done:
    buf_release(&body);
    buf_release(&resp);
    return r->rc;
}

/* Send (synchronous) or queue (asynchronous) built entries; they are freed here either way. */
static int upload(struct strata_client *c, struct centry **v, size_t n, bool single)
{
    int rc;
    if (c->sender) {
        rc = sender_enqueue(c->sender, v, n);
        if (rc)
            for (size_t i = 0; i < n; i++)
                centry_free(v[i]);
    } else {
        struct send_result r;
        rc = client_deliver(c, v, n, single, &r);
        for (size_t i = 0; i < n; i++)
            centry_free(v[i]);
        if (rc)
            client_error(rc, r.msg[0] ? MSG_FAILED ": %s" : MSG_FAILED, r.msg);
    }
    free(v);
    return rc;
}

static int upload_logs(struct strata_client *c, const struct strata_log *logs, size_t n,
                       bool single)
{
    if (!c)
        return client_error(STRATA_EINVAL, "the client is NULL");
    if (!logs || !n)
        return client_error(STRATA_EINVAL, MSG_NO_OPTIONS);
    int64_t now_s = clock_now_ns() / NS_PER_SEC;
    bool as_stream = c->o.transport != STRATA_TRANSPORT_GRPC;
    struct centry **v = xmallocarray(n, sizeof(*v));
    char err[512];
    for (size_t i = 0; i < n; i++) {
        int rc = centry_from_log(&logs[i], now_s, as_stream, &v[i], err, sizeof(err));
        if (rc) {
            while (i > 0)
                centry_free(v[--i]);
            free(v);
            return client_error(rc, "%s", err);
        }
    }
    return upload(c, v, n, single);
}

int strata_upload_log(struct strata_client *c, const struct strata_log *log)
{
    return upload_logs(c, log, log ? 1 : 0, true);
}

int strata_upload_logs(struct strata_client *c, const struct strata_log *logs, size_t n)
{
    return upload_logs(c, logs, n, false);
}

int strata_push(struct strata_client *c, const struct strata_entry *entries, size_t n)
{
    if (!c)
        return client_error(STRATA_EINVAL, "the client is NULL");
    if (!entries || !n)
        return client_error(STRATA_EINVAL, "no entries provided for push");
    int64_t now_ns = clock_now_ns();
    struct centry **v = xmallocarray(n, sizeof(*v));
    char err[512];
    for (size_t i = 0; i < n; i++) {
        int rc = centry_from_entry(&entries[i], now_ns, &v[i], err, sizeof(err));
        if (rc) {
            client_error(rc, "entry %zu: %s", i, err);
            while (i > 0)
                centry_free(v[--i]);
            free(v);
            return rc;
        }
    }
    return upload(c, v, n, false);
}

int strata_flush(struct strata_client *c, int timeout_ms)
{
    if (!c)
        return client_error(STRATA_EINVAL, "the client is NULL");
    return c->sender ? sender_flush(c->sender, timeout_ms) : 0;
}

void strata_client_stats(struct strata_client *c, struct strata_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (c && c->sender)
        sender_stats(c->sender, out);
}

int strata_client_close(struct strata_client *c)
{
    if (!c)
        return 0;
    int rc = 0;
    if (c->sender) {
        struct strata_stats st;
        rc = sender_stop(c->sender, &st);
        if (rc)
            client_error(rc, "%llu of %llu accepted entries were not delivered (last: %s)",
                         (unsigned long long)st.dropped, (unsigned long long)st.accepted,
                         strata_strerror(rc));
    }
    client_free(c);
    return rc;
}
