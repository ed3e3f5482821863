/*
 * grpc_conn.c - libstrata's gRPC transport: unary calls with the gRPC core C API.
 *
 * One channel per client (channels are thread-safe and reconnect by
 * themselves); one completion queue per call, plucked for the single batch
 * that sends the request and reads the answer, so concurrent callers never
 * wait for each other. The call's deadline is the client's timeout, which
 * bounds the wait for a connection too: a server that is down fails the call
 * with UNAVAILABLE (no wait-for-ready), which the async sender retries.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/transport.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"

struct grpc_conn {
    grpc_channel *channel;
    int unavailable; /* read and written atomically: the last call found no server */
    char *auth;      /* "Bearer <token>" or NULL */
    char *tenant;    /* or NULL */
    int timeout_ms;
};

int grpc_conn_new(const char *target, const struct strata_options *o, struct grpc_conn **out,
                  char *err, size_t errlen)
{
    *out = NULL;
    char *ca = NULL, *cert = NULL, *key = NULL;
    int rc = 0;
    if (!target || !target[0] || strstr(target, "://")) {
        strata_errorf(err, errlen,
                      "invalid gRPC address \"%s\": expected host:port (e.g. 127.0.0.1:9095)",
                      target ? target : "");
        return STRATA_EINVAL;
    }
    if (o->tls.enabled) {
        if (!o->tls.cert_file != !o->tls.key_file) {
            strata_errorf(err, errlen, "TLS: cert_file and key_file go together");
            return STRATA_EINVAL;
        }
        if (o->tls.ca_file && (rc = read_small_file(o->tls.ca_file, 1 << 20, &ca, err, errlen)))
            goto fail;
        if (o->tls.cert_file &&
            ((rc = read_small_file(o->tls.cert_file, 1 << 20, &cert, err, errlen)) ||
             (rc = read_small_file(o->tls.key_file, 1 << 20, &key, err, errlen))))
            goto fail;
    }
    grpc_init();
    struct grpc_conn *g = xcalloc(1, sizeof(*g));
    g->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    if (o->bearer_token && o->bearer_token[0]) {
        size_t n = strlen(o->bearer_token) + 8;
        g->auth = xmalloc(n);
        snprintf(g->auth, n, "Bearer %s", o->bearer_token);
    }
    if (o->tenant && o->tenant[0])
        g->tenant = xstrdup(o->tenant);

    /*
     * Reconnect soon after the server comes back: the sender's backoff paces the calls.
     * (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left alone: it is the time a connection
     * attempt is given, and a short one fails every attempt on a loaded machine.)
     */
    char agent[64];
    snprintf(agent, sizeof(agent), "strata-client/%s", strata_client_version());
    grpc_arg args[4];
    memset(args, 0, sizeof(args));
    int na = 0;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[na++].value.integer = 100;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[na++].value.integer = 2000;
    args[na].type = GRPC_ARG_STRING;
    args[na].key = (char *)GRPC_ARG_PRIMARY_USER_AGENT_STRING;
    args[na++].value.string = agent;
    if (o->tls.enabled && o->tls.server_name && o->tls.server_name[0]) {
        args[na].type = GRPC_ARG_STRING;
        args[na].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[na++].value.string = (char *)o->tls.server_name;
    }
    grpc_channel_args cargs = {(size_t)na, args};
    grpc_channel_credentials *creds;
    if (o->tls.enabled) {
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        creds = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
    } else {
        creds = grpc_insecure_credentials_create();
    }
    g->channel = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    *out = g;
fail:
    free(ca);
    free(cert);
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
    return rc;
}

bool grpc_conn_await(struct grpc_conn *g, int64_t until)
{
    /*
     * After a failed connection the channel waits out its own growing reconnect
     * backoff: the caller paces its retries itself, so connect again now.
     */
    if (__atomic_load_n(&g->unavailable, __ATOMIC_RELAXED))
        grpc_channel_reset_connect_backoff(g->channel);
    grpc_connectivity_state st = grpc_channel_check_connectivity_state(g->channel, 1);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    int tag;
    while (st != GRPC_CHANNEL_READY && st != GRPC_CHANNEL_SHUTDOWN) {
        int64_t left = until - clock_mono_ns();
        if (left <= 0)
            break;
        gpr_timespec deadline =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(left, GPR_TIMESPAN));
        /* Completes when the state leaves st, or at the deadline (success false). */
        grpc_channel_watch_connectivity_state(g->channel, st, deadline, cq, &tag);
        grpc_event ev =
            grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (!ev.success)
            break;
        st = grpc_channel_check_connectivity_state(g->channel, 1);
    }
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    return st == GRPC_CHANNEL_READY;
}

void grpc_conn_free(struct grpc_conn *g)
{
    if (!g)
        return;
    grpc_channel_destroy(g->channel);
    free(g->auth);
    free(g->tenant);
    free(g);
    grpc_shutdown_blocking();
}

/* Go's names for the status codes, as its errors print them. */
static const char *code_name(grpc_status_code c)
{
    static const char *const names[] = {
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    };
    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "Unknown";
}

static int code_rc(grpc_status_code c, bool *retryable)
{
    *retryable = false;
    switch (c) {
    case GRPC_STATUS_OK: return 0;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_OUT_OF_RANGE: return STRATA_EINVAL;
    case GRPC_STATUS_NOT_FOUND: return STRATA_ENOTFOUND;
    case GRPC_STATUS_ALREADY_EXISTS: return STRATA_EEXISTS;
    case GRPC_STATUS_PERMISSION_DENIED: return STRATA_EFORBIDDEN;
    case GRPC_STATUS_UNAUTHENTICATED: return STRATA_EUNAUTH;
    case GRPC_STATUS_UNIMPLEMENTED: return STRATA_EUNSUPPORTED;
    case GRPC_STATUS_DATA_LOSS: return STRATA_ECORRUPT;
    /* Cancelled by the server (it was shutting down): the call may not have been stored. */
    case GRPC_STATUS_CANCELLED: *retryable = true; return STRATA_ECANCELED;
    case GRPC_STATUS_DEADLINE_EXCEEDED: *retryable = true; return STRATA_ETIMEOUT;
    case GRPC_STATUS_RESOURCE_EXHAUSTED: *retryable = true; return STRATA_EBUSY;
    case GRPC_STATUS_ABORTED:
    case GRPC_STATUS_UNAVAILABLE: *retryable = true; return STRATA_EUNAVAIL;
    case GRPC_STATUS_INTERNAL: *retryable = true; return STRATA_EINTERNAL;
    default: return STRATA_EIO;
    }
}

int grpc_conn_call(struct grpc_conn *g, const char *method, struct slice req, struct buf *resp,
                   struct send_result *r)
{
    memset(r, 0, sizeof(*r));
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(g->timeout_ms, GPR_TIMESPAN));
    grpc_call *call =
        grpc_channel_create_call(g->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                 grpc_slice_from_static_string(method), NULL, deadline, NULL);
    grpc_metadata md[2];
    memset(md, 0, sizeof(md));
    size_t n_md = 0;
    if (g->auth) {
        md[n_md].key = grpc_slice_from_static_string("authorization");
        md[n_md++].value = grpc_slice_from_static_string(g->auth);
    }
    if (g->tenant) {
        md[n_md].key = grpc_slice_from_static_string("x-scope-orgid");
        md[n_md++].value = grpc_slice_from_static_string(g->tenant);
    }
    grpc_slice payload = grpc_slice_from_copied_buffer(req.ptr ? req.ptr : "", req.len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);
    grpc_byte_buffer *recv = NULL;
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = n_md;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;

    int tag;
    grpc_call_error ce = grpc_call_start_batch(call, ops, 6, &tag, NULL);
    if (ce != GRPC_CALL_OK) {
        send_result_fail(r, STRATA_EINTERNAL, false, "rpc error: cannot start the call (%d)",
                         (int)ce);
    } else {
        grpc_event ev =
            grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        (void)ev; /* the status says how it went, even when the batch failed */
        bool retry;
        int rc = code_rc(status, &retry);
        r->status = (int)status;
        __atomic_store_n(&g->unavailable, status == GRPC_STATUS_UNAVAILABLE, __ATOMIC_RELAXED);
        if (rc) {
            send_result_fail(r, rc, retry, "rpc error: code = %s desc = %.*s", code_name(status),
                             (int)GRPC_SLICE_LENGTH(details),
                             (const char *)GRPC_SLICE_START_PTR(details));
        } else if (recv) {
            grpc_byte_buffer_reader rd;
            if (grpc_byte_buffer_reader_init(&rd, recv)) {
                grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
                if (buf_append(resp, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all)) < 0)
                    send_result_fail(r, STRATA_ETOOLARGE, false, "the reply is too large");
                grpc_slice_unref(all);
                grpc_byte_buffer_reader_destroy(&rd);
            }
        }
    }
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    grpc_byte_buffer_destroy(send);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_slice_unref(details);
    return r->rc;
}
