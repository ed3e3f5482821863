/*
 * auth.h - authentication and authorisation: who is asking, for which
 * tenants, with which role.
 *
 * Modes (--auth.mode):
 *   none    no credential; the tenant comes from X-Scope-OrgID (or tenant-id),
 *           else "fake" (tenant.h).
 *   jwt     Authorization: Bearer <JWT> signed RS256/384/512 by the key(s) in
 *           --public-key-path (jose.h). The tenant(s) come from the claim
 *           --auth.tenant-claim, the roles from --auth.role-claim.
 *   tokens  Authorization: Bearer <token> listed in --auth.tokens-file
 *           (tokens.h), each with its tenants and roles.
 *   jwt,tokens  both: a listed token is taken as such, anything else must be
 *           a valid JWT.
 *   auto    (the default) jwt when --public-key-path is set, tokens when
 *           --auth.tokens-file is set (both when both), else none.
 *
 * Roles: read (queries, labels, tail, status), write (pushes), admin
 * (everything, and the admin APIs); admin implies the others. What a route
 * needs is declared by its flags in routes.c (ROUTE_READ, ROUTE_WRITE,
 * ROUTE_ADMIN; a route with no flag needs admin; ROUTE_OPEN needs nothing),
 * and --auth.open-paths lists the probes served without a credential.
 *
 * Tenants: a credential holds a set of tenants (or "*", every tenant). A
 * request may choose among them with X-Scope-OrgID / tenant-id, reads may
 * name several ("a|b") if the credential holds every one, writes exactly
 * one; with no header the credential's first tenant is used ("fake" for "*").
 *
 * Verified JWTs are cached (keyed by their SHA-256) until their exp, in a
 * bounded table of --auth.cache-size entries; the keys are parsed once at
 * start.
 */
#ifndef STRATA_AUTH_H
#define STRATA_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/slice.h"
#include "server/http.h"

enum auth_role {
    AUTH_ROLE_READ = 1,
    AUTH_ROLE_WRITE = 2,
    AUTH_ROLE_ADMIN = 4,
};
#define AUTH_ROLES_ALL (AUTH_ROLE_READ | AUTH_ROLE_WRITE | AUTH_ROLE_ADMIN)

enum auth_mode {
    AUTH_MODE_NONE = 0,
    AUTH_MODE_JWT = 1,
    AUTH_MODE_TOKENS = 2, /* may be combined with AUTH_MODE_JWT */
};

/* Who a checked request is. Strings live in the arena given to the check. */
struct auth_identity {
    const char *name;           /* the token's name, or the JWT's "sub"; "" if none */
    const char *tenant;         /* what the request acts for: "a", or "a|b" on reads */
    const char *const *tenants; /* the tenants the credential holds */
    uint32_t n_tenants;         /* 0 with any_tenant */
    bool any_tenant;            /* the credential holds every tenant ("*") */
    unsigned roles;             /* enum auth_role bits (admin expanded to all) */
    int64_t expires_s;          /* when the credential expires (s since epoch), 0 never */
};

struct auth;

/*
 * Build the authentication layer from the options (--auth.*,
 * --public-key-path): reads and checks the key file or the tokens file.
 * On error returns STRATA_EINVAL with a message for the operator. *out is
 * NULL-safe to free.
 */
int auth_new(const struct config *cfg, struct auth **out, char *err, size_t errlen);
void auth_free(struct auth *a);
/* enum auth_mode bits in force (AUTH_MODE_NONE when a is NULL). */
unsigned auth_mode(const struct auth *a);
/* A one-line description for the start-up log ("jwt (1 key, RS256/RS384/RS512)"). */
void auth_describe(const struct auth *a, char *out, size_t cap);

/*
 * Check a credential, as the gRPC server does with the `authorization`
 * metadata (and auth_http_hook with the Authorization header).
 *
 * authorization is the header or metadata value ("Bearer <token>", or the
 * bare token as LogsGO's gRPC interceptor accepts), NULL when absent (a gRPC
 * call with no metadata at all is the caller's to refuse with LogsGO's
 * "missing metadata", when auth_mode() is not AUTH_MODE_NONE). role
 * is the enum auth_role the call needs. requested is the tenant text the
 * caller asked for (X-Scope-OrgID, "a" or "a|b"), NULL for the credential's
 * default; several tenants are refused unless role is AUTH_ROLE_READ.
 *
 * Returns 0 and fills *id (strings in arena). Otherwise:
 *   STRATA_EUNAUTH (gRPC UNAUTHENTICATED, HTTP 401) with LogsGO's texts in
 *     err: "missing authorization header" (NULL), "missing token" (empty),
 *     "invalid token: <why>", "token has expired", "token is not valid yet",
 *     "invalid token claims: <why>";
 *   STRATA_EFORBIDDEN (gRPC PERMISSION_DENIED, HTTP 403): the credential is
 *     good but lacks the role or the tenant;
 *   STRATA_EINVAL (400): requested is not a valid tenant list, or names
 *     several tenants for a write.
 * With mode none, returns the requested tenant (checked) or "fake".
 * Thread-safe.
 */
int auth_check_bearer(struct auth *a, const char *authorization, unsigned role,
                      const char *requested, struct arena *arena, struct auth_identity *id,
                      char *err, size_t errlen);

/* The role a route needs (enum auth_role), from its flags; 0 for ROUTE_OPEN. */
unsigned auth_route_role(const struct http_route *rt);

/*
 * The http_config.before hook; ctx is the struct auth (NULL means mode none).
 * On ROUTE_WEBSOCKET routes (the tail), a request without Authorization may
 * carry its token as a strata.bearer.<base64url> subprotocol, and its tenant
 * as strata.tenant.<base64url> (wsauth.h): a browser cannot set headers on
 * a WebSocket.
 * Sets req->tenant (and req->auth to the struct auth_identity) or replies:
 * 401 (with WWW-Authenticate: Bearer), 403 or 400. LogsGO's REST routes
 * (/api/v1/...) get LogsGO's JSON bodies ({"error":"missing token"},
 * {"error":"invalid token"}); the others Loki's plain text.
 */
int auth_http_hook(struct http_req *req, void *ctx);

/* Parse "read", "write", "admin" (any case) into role bits, admin expanded; 0 if unknown. */
unsigned auth_role_parse(struct slice s);
/* "read", "read,write", "admin" ... for roles (static storage). */
const char *auth_roles_string(unsigned roles);

#endif
