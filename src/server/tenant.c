#include "server/tenant.h"

#include <string.h>

#include "core/err.h"
#include "ingest/batch.h"

int tenant_resolve(struct http_req *req, void *ctx)
{
    (void)ctx;
    const char *org = http_header(req, "X-Scope-OrgID");
    if (!org || !org[0]) {
        req->tenant = DEFAULT_TENANT;
        return 0;
    }
    /* a|b|c: each part must be a valid tenant id. */
    const char *p = org;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (!tenant_valid(p, n)) {
            http_reply_text(req, 400,
                            "invalid tenant ID \"%.*s\" in X-Scope-OrgID: use 1 to %d of "
                            "a-z A-Z 0-9 ! - _ . * ' ( ), not \".\" or \"..\"",
                            (int)n, p, TENANT_MAX);
            return STRATA_EINVAL;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    req->tenant = org;
    return 0;
}
