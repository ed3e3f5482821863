/*
 * api_otlp.c - OTLP/HTTP logs: POST /otlp/v1/logs (Loki's path) and /v1/logs.
 *
 * The body is an ExportLogsServiceRequest, protobuf (application/x-protobuf)
 * or JSON (application/json), optionally gzip/deflate Content-Encoding.
 * Success is 200 with an ExportLogsServiceResponse in the request's
 * encoding: empty when everything was stored, with partial_success
 * {rejected_log_records, error_message} when some records were refused.
 * Errors carry a google.rpc.Status {code, message} body in the request's
 * encoding: 400 for a malformed request or when every record was refused
 * (not retryable), 413 past the size limits, 415 for another Content-Type,
 * 429/503 with Retry-After for rate limits and a busy or failing store.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/json.h"
#include "ingest/body.h"
#include "ingest/ingest.h"
#include "ingest/otlp.h"
#include "ingest/pbwire.h"
#include "server/handlers.h"
#include "server/server.h"

static bool media_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    while (*ct == ' ')
        ct++;
    return !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* A google.rpc.Status reply. */
static void reply_status(struct http_req *req, bool json, int http_status, int rc,
                         const char *message)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    int code = strata_grpc_status(rc);
    int wrc;
    if (json) {
        struct json_writer w;
        json_writer_init(&w, &b);
        jw_object_begin(&w);
        jw_key(&w, "code");
        jw_int(&w, code);
        jw_key(&w, "message");
        jw_string(&w, message);
        jw_object_end(&w);
        wrc = w.rc;
    } else {
        wrc = pb_put_varint_field(&b, 1, (uint64_t)code);
        if (!wrc)
            wrc = pb_put_bytes_field(&b, 2, message, strlen(message));
    }
    (void)wrc;
    if (http_status == 429 || http_status == 503)
        http_set_header(req, "Retry-After", "1");
    http_reply_buf(req, http_status, json ? "application/json" : "application/x-protobuf", &b);
    buf_release(&b);
}

/* An ExportLogsServiceResponse, with partial_success when rejected > 0. */
static void reply_ok(struct http_req *req, bool json, uint64_t rejected, const char *message)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    int wrc = 0;
    if (json) {
        struct json_writer w;
        json_writer_init(&w, &b);
        jw_object_begin(&w);
        if (rejected) {
            jw_key(&w, "partialSuccess");
            jw_object_begin(&w);
            jw_key(&w, "rejectedLogRecords");
            char num[24];
            snprintf(num, sizeof(num), "%llu", (unsigned long long)rejected);
            jw_string(&w, num); /* int64 in OTLP/JSON is a string */
            jw_key(&w, "errorMessage");
            jw_string(&w, message ? message : "");
            jw_object_end(&w);
        }
        jw_object_end(&w);
        wrc = w.rc;
    } else if (rejected) {
        struct buf ps;
        buf_init(&ps, 1u << 20);
        wrc = pb_put_varint_field(&ps, 1, rejected);
        if (!wrc && message)
            wrc = pb_put_bytes_field(&ps, 2, message, strlen(message));
        if (!wrc)
            wrc = pb_put_bytes_field(&b, 1, ps.ptr, ps.len);
        buf_release(&ps);
    }
    (void)wrc;
    http_reply_buf(req, 200, json ? "application/json" : "application/x-protobuf", &b);
    buf_release(&b);
}

HANDLER(h_otlp_logs)
{
    struct server *srv = ctx;
    const char *ct = http_header(req, "Content-Type");
    bool json = ct && media_type_is(ct, "application/json");
    if (!json && !(ct && media_type_is(ct, "application/x-protobuf"))) {
        reply_status(req, false, 415, STRATA_EMEDIATYPE,
                     "content type must be application/x-protobuf or application/json");
        return;
    }
    if (strchr(req->tenant, '|')) {
        reply_status(req, json, 400, STRATA_EINVAL, "multiple org IDs present");
        return;
    }
    struct buf inflated;
    buf_init(&inflated, BUF_UNLIMITED);
    struct slice body;
    char err[1024];
    int rc = body_decode_encoding(http_header(req, "Content-Encoding"), req->body,
                                  ingest_max_decompressed(srv->ingest), &inflated, &body, err,
                                  sizeof(err));
    if (rc < 0) {
        reply_status(req, json, rc == STRATA_ETOOLARGE ? 413 : 400, rc, err);
        buf_release(&inflated);
        return;
    }
    struct push_batch b;
    struct push_result res;
    struct normalizer nz;
    ingest_begin(srv->ingest, req->tenant, body.len, &b, &res, &nz);
    rc = json ? otlp_json_decode(body, &nz, err, sizeof(err))
              : otlp_proto_decode(body, &nz, err, sizeof(err));
    if (rc < 0) {
        reply_status(req, json, rc == STRATA_ETOOLARGE ? 413 : 400, rc, err);
        goto done;
    }
    rc = ingest_push(srv->ingest, &b, &res);
    if (rc < 0) {
        int status = strata_http_status(rc);
        reply_status(req, json, status, rc,
                     rc == STRATA_ERATE && res.error ? res.error : strata_strerror(rc));
        goto done;
    }
    uint64_t refused = res.n_invalid + res.n_rejected;
    const char *why = res.error;
    if (res.n_rejected)
        why = res.rejected[res.n_rejected - 1].reason;
    if (refused && res.accepted == 0) {
        /* Nothing stored: 400 (not retryable), or 429 when a limit that passes refused it. */
        int erc = res.n_rejected ? res.last_rc : res.error_rc;
        if (erc != STRATA_ERATE)
            erc = STRATA_EINVAL;
        reply_status(req, json, strata_http_status(erc), erc,
                     why ? why : "every log record was refused");
    } else
        reply_ok(req, json, refused, why);
done:
    push_batch_release(&b);
    buf_release(&inflated);
}
