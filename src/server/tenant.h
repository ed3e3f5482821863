/*
 * tenant.h - who is asking: the tenant of each request.
 *
 * With --auth.mode=none (today's only mode) the tenant is the X-Scope-OrgID
 * header when present, else "fake", as Loki does with auth disabled. Query
 * endpoints accept several tenants joined by '|'. Tenant ids are checked so
 * that none can escape a directory or an object-key prefix.
 */
#ifndef STRATA_TENANT_H
#define STRATA_TENANT_H

#include "server/http.h"

#define DEFAULT_TENANT "fake"

/* The http_config.before hook: sets req->tenant or replies 400/401. */
int tenant_resolve(struct http_req *req, void *ctx);

#endif
