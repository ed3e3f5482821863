/*
 * tenant.h - who a request acts for: tenant ids as they arrive in headers.
 *
 * A request names its tenant in `X-Scope-OrgID` (Loki) or `tenant-id`
 * (Logthra); both at once must agree. Reads may name several tenants joined
 * by '|' ("a|b"); writes name exactly one. Every id is checked with
 * tenant_valid (ingest/batch.h: 1..150 of [a-zA-Z0-9!-_.*'()], not "." or
 * ".."), so that none can escape a directory or an object-key prefix.
 *
 * With --auth.mode=none the header decides, and "fake" is the tenant when
 * there is none (Loki with auth disabled). With authentication on, the
 * credential decides which tenants may be named (auth.h).
 */
#ifndef STRATA_TENANT_H
#define STRATA_TENANT_H

#include <stdbool.h>
#include <stddef.h>

#include "server/http.h"

#define DEFAULT_TENANT "fake"
/* In a credential, the tenant that stands for every tenant (an operator's token). */
#define TENANT_ANY "*"
/* Most tenants one request may name ("a|b|..."). */
#define TENANT_MAX_PER_QUERY 64

/*
 * The tenant text a request asks for: X-Scope-OrgID, else tenant-id, else
 * (on a ROUTE_WEBSOCKET route) a strata.tenant.<base64url> subprotocol
 * (wsauth.h), else NULL. When both headers are present and differ, or the
 * subprotocol is malformed, returns STRATA_EINVAL with a message. The string
 * lives as long as the request.
 */
int tenant_requested(struct http_req *req, const char **out, char *err, size_t errlen);

/*
 * Check a '|'-separated tenant list: every part a valid id, at most
 * TENANT_MAX_PER_QUERY parts, and exactly one unless multi is set. Returns
 * the number of parts, or STRATA_EINVAL with a message naming the bad part.
 */
int tenant_list_check(const char *list, bool multi, char *err, size_t errlen);

/*
 * The http_config.before hook for --auth.mode=none: sets req->tenant from the
 * headers (or DEFAULT_TENANT), or replies 400 for an invalid id, for two
 * disagreeing headers, or for several tenants on a route that writes. ctx is
 * unused. auth_http_hook (auth.h) calls this when authentication is off.
 */
int tenant_resolve(struct http_req *req, void *ctx);

#endif
