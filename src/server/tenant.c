/*
 * tenant.c - tenant ids from request headers, checked. Contract in tenant.h.
 */
#include "server/tenant.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "ingest/batch.h"
#include "server/wsauth.h"

int tenant_requested(struct http_req *req, const char **out, char *err, size_t errlen)
{
    const char *org = http_header(req, "X-Scope-OrgID");
    const char *tid = http_header(req, "tenant-id");
    if (org && !org[0])
        org = NULL;
    if (tid && !tid[0])
        tid = NULL;
    if (org && tid && strcmp(org, tid) != 0) {
        snprintf(err, errlen,
                 "X-Scope-OrgID \"%.*s\" and tenant-id \"%.*s\" name different tenants: send one",
                 TENANT_MAX, org, TENANT_MAX, tid);
        return STRATA_EINVAL;
    }
    *out = org ? org : tid;
    if (!*out && req->route && (req->route->flags & ROUTE_WEBSOCKET))
        return wsauth_parse(http_header(req, "Sec-WebSocket-Protocol"), &req->arena, NULL, out, err,
                            errlen);
    return 0;
}

int tenant_list_check(const char *list, bool multi, char *err, size_t errlen)
{
    int n = 0;
    for (const char *p = list;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (!tenant_valid(p, len)) {
            snprintf(err, errlen,
                     "invalid tenant ID \"%.*s\": use 1 to %d of a-z A-Z 0-9 ! - _ . * ' ( ), "
                     "not \".\" or \"..\"",
                     (int)(len > TENANT_MAX ? TENANT_MAX : len), p, TENANT_MAX);
            return STRATA_EINVAL;
        }
        if (++n > TENANT_MAX_PER_QUERY) {
            snprintf(err, errlen, "too many tenants in one request: at most %d",
                     TENANT_MAX_PER_QUERY);
            return STRATA_EINVAL;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    if (n > 1 && !multi) {
        /* dskit's text for a write naming several tenants. */
        snprintf(err, errlen, "multiple org IDs present");
        return STRATA_EINVAL;
    }
    return n;
}

int tenant_resolve(struct http_req *req, void *ctx)
{
    (void)ctx;
    char err[320];
    const char *want;
    if (tenant_requested(req, &want, err, sizeof(err)) < 0) {
        http_reply_text(req, 400, "%s", err);
        return STRATA_EINVAL;
    }
    if (!want) {
        req->tenant = DEFAULT_TENANT;
        return 0;
    }
    unsigned f = req->route ? req->route->flags : 0;
    bool multi = (f & (ROUTE_OPEN | ROUTE_READ)) && !(f & (ROUTE_WRITE | ROUTE_ADMIN));
    if (tenant_list_check(want, multi, err, sizeof(err)) < 0) {
        http_reply_text(req, 400, "%s", err);
        return STRATA_EINVAL;
    }
    req->tenant = want;
    return 0;
}
