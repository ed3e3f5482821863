/*
 * wsauth.h - a credential and a tenant carried by WebSocket subprotocols.
 *
 * A browser's WebSocket cannot set Authorization or X-Scope-OrgID; the one
 * header a page controls is Sec-WebSocket-Protocol. Strata's convention
 * (the dashboard's live tail uses it): the client offers
 *
 *     Sec-WebSocket-Protocol: strata.v1, strata.bearer.<token>, strata.tenant.<tenant>
 *
 * where <token> and <tenant> are base64url without padding (RFC 4648 §5),
 * the tenant one optional. On routes flagged ROUTE_WEBSOCKET, and only when
 * the real headers are absent, the auth layer takes them as the request's
 * Authorization (a bearer token) and X-Scope-OrgID (auth.c, tenant.c), and
 * http_upgrade_websocket answers `Sec-WebSocket-Protocol: strata.v1`, so
 * that the credential is never echoed.
 */
#ifndef STRATA_WSAUTH_H
#define STRATA_WSAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"

#define WSAUTH_PROTOCOL      "strata.v1"
#define WSAUTH_BEARER_PREFIX "strata.bearer."
#define WSAUTH_TENANT_PREFIX "strata.tenant."
/* Longest decoded value: a JWT is at most 16 KiB (jose.h); a tenant list less. */
#define WSAUTH_MAX_VALUE 16384

/*
 * Parse a Sec-WebSocket-Protocol value (comma-separated, spaces allowed
 * around items; other subprotocols are ignored). Sets *token and *tenant
 * (either may be NULL when the caller does not want it) to the decoded
 * values, NUL-terminated, in a, or to NULL when not offered. Returns 0, or
 * STRATA_EINVAL with a message in err when a strata.bearer. or
 * strata.tenant. item is empty, not canonical unpadded base64url, longer
 * than WSAUTH_MAX_VALUE decoded, offered twice, or decodes to bytes outside
 * printable ASCII.
 */
int wsauth_parse(const char *header, struct arena *a, const char **token, const char **tenant,
                 char *err, size_t errlen);

/* True when the comma-separated list offers the subprotocol name exactly. */
bool wsauth_offers(const char *header, const char *name);

#endif
