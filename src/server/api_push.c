/*
 * api_push.c - Loki's push API: POST /loki/api/v1/push.
 *
 * Body selection follows Loki's parsePushRequestBody: Content-Type
 * application/json is JSON; other types are the snappy-compressed protobuf
 * PushRequest. Replies: 204 on success; 400 with Loki's text when something
 * was invalid (the valid rest is stored); 422 when there is no stream at all;
 * 413 for oversize bodies (http.c); 429/507/503 from the store.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ingest/loki_json.h"
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

/*
 * Store a decoded batch and answer as Loki does. Shared by every push path
 * that answers over HTTP.
 */
void push_reply(struct http_req *req, struct server *srv, struct push_batch *b,
                struct push_result *res)
{
    if (b->n_streams == 0 && !res->error) {
        http_reply_text(req, 422, "error at least one valid stream is required for ingestion");
        return;
    }
    uint64_t wanted = b->n_entries;
    if (b->n_entries) {
        int rc = store_push(srv->store, b, res);
        if (rc < 0) {
            int status = strata_http_status(rc);
            if (status == 429 || status == 503)
                http_set_header(req, "Retry-After", "1");
            http_reply_text(req, status, "push failed: %s", strata_strerror(rc));
            return;
        }
        metric_inc(srv->ingested_entries, res->accepted);
        metric_inc(srv->ingested_bytes, b->n_bytes);
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
        int rc =
            buf_printf(&body, "user '%s', total ignored: %u out of %llu for stream: %.*s\n",
                       b->tenant, res->n_rejected, (unsigned long long)wanted,
                       (int)b->streams[last->stream].key.len, b->streams[last->stream].key.ptr);
        (void)rc;
        int status = res->last_rc == STRATA_ERATE ? 429 : 400;
        http_reply_buf(req, status, "text/plain; charset=utf-8", &body);
        buf_release(&body);
        return;
    }
    if (res->error) {
        http_reply_text(req, strata_http_status(res->error_rc), "%s", res->error);
        return;
    }
    http_reply_empty(req, 204);
}

HANDLER(h_loki_push)
{
    struct server *srv = ctx;
    const char *ct = http_header(req, "Content-Type");
    const char *ce = http_header(req, "Content-Encoding");
    if (ce && ce[0] && strcasecmp(ce, "snappy")) {
        http_reply_text(req, 400, "Content-Encoding \"%s\" not supported", ce);
        return;
    }
    if (!ct || !ct[0]) {
        http_reply_text(req, 400, "mime: no media type");
        return;
    }
    size_t ctlen = strcspn(ct, "; ");
    if (!(ctlen == 16 && !strncasecmp(ct, "application/json", 16))) {
        http_reply_text(req, 415, "Content-Type \"%s\" not supported: send application/json", ct);
        return;
    }
    struct push_batch b;
    struct push_result res;
    push_batch_init(&b, req->tenant);
    push_result_init(&res);
    char err[512];
    if (loki_json_decode(req->body, &b, &res, err, sizeof(err)) < 0)
        http_reply_text(req, 400, "%s", err);
    else
        push_reply(req, srv, &b, &res);
    push_batch_release(&b);
}
