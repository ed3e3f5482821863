/*
 * api_push.c - the HTTP push APIs: Loki (POST /loki/api/v1/push and the
 * legacy POST /api/prom/push) and Logthra (POST /api/push, GET /api/health).
 *
 * Body selection follows Loki's parsePushRequestBody: Content-Encoding gzip
 * or deflate is inflated first (bounded by --ingest.max-decompressed-bytes:
 * 413 past it), "snappy" and none pass through, anything else is a 400;
 * Content-Type application/json (parameters allowed) is JSON, a missing one
 * is a 400 "mime: no media type", and every other type is a raw snappy block
 * holding a protobuf PushRequest. Replies are Loki's: 204 stored; 400 with
 * the text of the last invalid stream or entry (the valid rest is stored) or
 * the store's per-entry report; 413; 422 when there is no stream at all; 429
 * for the rate and stream limits and a busy store (with Retry-After); 507 for
 * a full disk; 500/503 for store failures.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ingest/body.h"
#include "ingest/ingest.h"
#include "ingest/logthra.h"
#include "ingest/loki_json.h"
#include "ingest/loki_proto.h"
#include "server/handlers.h"
#include "server/server.h"

/* Go's time.Time.String() for a UTC instant: "2006-01-02 15:04:05.999999999 +0000 UTC". */
static void go_time_string(int64_t ns, char *out, size_t cap)
{
    char r[40];
    clock_format_rfc3339(ns, r);
    /* r is YYYY-MM-DDTHH:MM:SS[.frac]Z */
    size_t n = strlen(r);
    if (n && r[n - 1] == 'Z')
        r[--n] = '\0';
    r[10] = ' ';
    snprintf(out, cap, "%s +0000 UTC", r);
}

/* Store a decoded batch and answer as Loki does, with ok_status on success. */
static void reply_push(struct http_req *req, struct server *srv, struct push_batch *b,
                       struct push_result *res, int ok_status)
{
    if (b->n_streams == 0 && !res->error) {
        http_reply_text(req, 422, "error at least one valid stream is required for ingestion");
        return;
    }
    uint64_t wanted = b->n_entries;
    int rc = ingest_push(srv->ingest, b, res);
    if (rc == STRATA_ERATE) {
        http_reply_text(req, 429, "%s", res->error);
        return;
    }
    if (rc < 0) {
        int status = strata_http_status(rc);
        if (status == 429 || status == 503)
            http_set_header(req, "Retry-After", "1");
        http_reply_text(req, status, "push failed: %s", strata_strerror(rc));
        return;
    }
    if (res->n_rejected) {
        struct buf body;
        buf_init(&body, 1u << 20);
        for (uint32_t i = 0; i < res->n_rejected; i++) {
            char t[64];
            go_time_string(res->rejected[i].ts, t, sizeof(t));
            if (buf_printf(&body, "entry with timestamp %s ignored, reason: '%s',\n", t,
                           res->rejected[i].reason) < 0)
                break;
        }
        const struct push_rejection *last = &res->rejected[res->n_rejected - 1];
        int brc =
            buf_printf(&body, "user '%s', total ignored: %u out of %llu for stream: %.*s\n",
                       b->tenant, res->n_rejected, (unsigned long long)wanted,
                       (int)b->streams[last->stream].key.len, b->streams[last->stream].key.ptr);
        (void)brc;
        int status = res->last_rc == STRATA_ERATE ? 429 : 400;
        http_reply_buf(req, status, "text/plain; charset=utf-8", &body);
        buf_release(&body);
        return;
    }
    if (res->error) {
        http_reply_text(req, strata_http_status(res->error_rc), "%s", res->error);
        return;
    }
    http_reply_empty(req, ok_status);
}

void push_reply(struct http_req *req, struct server *srv, struct push_batch *b,
                struct push_result *res)
{
    reply_push(req, srv, b, res, 204);
}

/* Pushes go to exactly one tenant: "a|b" (which queries accept) is refused, as dskit does. */
static bool single_tenant(struct http_req *req, const char *tenant)
{
    if (!strchr(tenant, '|'))
        return true;
    http_reply_text(req, 400, "multiple org IDs present");
    return false;
}

/* Undo Content-Encoding into dst; replies and returns false on failure. */
static bool decode_encoding(struct http_req *req, struct server *srv, struct buf *dst,
                            struct slice *body)
{
    char err[512];
    int rc =
        body_decode_encoding(http_header(req, "Content-Encoding"), req->body,
                             ingest_max_decompressed(srv->ingest), dst, body, err, sizeof(err));
    if (rc == 0)
        return true;
    http_reply_text(req, rc == STRATA_ETOOLARGE ? 413 : 400, "%s", err);
    return false;
}

static bool media_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    while (*ct == ' ')
        ct++;
    return !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void loki_push(struct http_req *req, struct server *srv, bool legacy)
{
    if (!single_tenant(req, req->tenant))
        return;
    const char *ct = http_header(req, "Content-Type");
    if (!ct || !ct[0]) {
        http_reply_text(req, 400, "mime: no media type");
        return;
    }
    struct buf inflated, unsnapped;
    buf_init(&inflated, BUF_UNLIMITED);
    buf_init(&unsnapped, BUF_UNLIMITED);
    struct slice body;
    if (!decode_encoding(req, srv, &inflated, &body))
        goto done;
    bool json = media_type_is(ct, "application/json");
    char err[1024];
    int rc;
    if (!json) {
        rc = body_snappy_decode(body, ingest_max_decompressed(srv->ingest), &unsnapped, &body, err,
                                sizeof(err));
        if (rc < 0) {
            http_reply_text(req, rc == STRATA_ETOOLARGE ? 413 : 400, "%s", err);
            goto done;
        }
    }
    struct push_batch b;
    struct push_result res;
    struct normalizer nz;
    ingest_begin(srv->ingest, req->tenant, body.len, &b, &res, &nz);
    if (json)
        rc = legacy ? loki_json_decode_legacy(body, &nz, err, sizeof(err))
                    : loki_json_decode(body, &nz, err, sizeof(err));
    else
        rc = loki_proto_decode(body, &nz, err, sizeof(err));
    if (rc < 0)
        http_reply_text(req, rc == STRATA_ETOOLARGE ? 413 : 400, "%s", err);
    else
        push_reply(req, srv, &b, &res);
    push_batch_release(&b);
done:
    buf_release(&inflated);
    buf_release(&unsnapped);
}

HANDLER(h_loki_push)
{
    loki_push(req, ctx, false);
}

HANDLER(h_loki_push_legacy)
{
    loki_push(req, ctx, true);
}

/*
 * Logthra: the tenant comes from its `tenant-id` header (any valid tenant id;
 * the seed's 10-character rule is not kept), else from X-Scope-OrgID or the
 * default. Success is Logthra's 200 with an empty body.
 */
HANDLER(h_logthra_push)
{
    struct server *srv = ctx;
    const char *tenant = req->tenant;
    const char *tid = http_header(req, "tenant-id");
    if (tid && tid[0]) {
        if (!tenant_valid(tid, strlen(tid))) {
            http_reply_text(req, 400,
                            "invalid tenant-id header \"%.*s\": use 1 to %d of a-z A-Z 0-9 ! - _ "
                            ". * ' ( ), not \".\" or \"..\"",
                            (int)(strlen(tid) > 160 ? 160 : strlen(tid)), tid, TENANT_MAX);
            return;
        }
        tenant = tid;
    }
    if (!single_tenant(req, tenant))
        return;
    struct buf inflated;
    buf_init(&inflated, BUF_UNLIMITED);
    struct slice body;
    if (decode_encoding(req, srv, &inflated, &body)) {
        struct push_batch b;
        struct push_result res;
        struct normalizer nz;
        char err[1024];
        ingest_begin(srv->ingest, tenant, body.len, &b, &res, &nz);
        int rc = logthra_json_decode(body, &nz, err, sizeof(err));
        if (rc < 0)
            http_reply_text(req, rc == STRATA_ETOOLARGE ? 413 : 400, "%s", err);
        else
            reply_push(req, srv, &b, &res, 200);
        push_batch_release(&b);
    }
    buf_release(&inflated);
}

HANDLER(h_logthra_health)
{
    struct server *srv = ctx;
    if (!srv->ready) {
        http_reply_text(req, 503, "not ready");
        return;
    }
    http_reply_empty(req, 200);
}
