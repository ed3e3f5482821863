/*
 * auth.c - credentials to identities, identities to permissions. The
 * contract, modes and rules are in auth.h; the token formats in jose.h and
 * tokens.h; the threat model in docs/SECURITY.md.
 */
#include "server/auth.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "ingest/batch.h"
#include "server/jose.h"
#include "server/tenant.h"
#include "server/tokens.h"
#include "server/wsauth.h"

/* A verified JWT's identity, kept until the token expires. */
struct cached_identity {
    char *name;
    char **tenants;
    uint32_t n_tenants;
    bool any_tenant;
    unsigned roles;
};

struct cache_slot {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    int64_t exp_s; /* 0: empty */
    struct cached_identity *id;
};

enum fail_reason { FAIL_MISSING, FAIL_INVALID, FAIL_EXPIRED, FAIL_FORBIDDEN, FAIL_TENANT, FAIL_N };

struct auth {
    unsigned mode;
    struct jose_keys *keys;
    unsigned algs;
    struct jose_claim_spec spec;
    char *tenant_claim, *role_claim, *issuer, *audience; /* owned by spec */
    unsigned default_roles;
    char *default_tenant;
    struct token_table *tokens;
    char **open_paths;
    size_t n_open;
    /* the JWT cache: 2-way set associative, sets = (mask + 1) / 2 */
    pthread_mutex_t lock;
    struct cache_slot *cache;
    size_t cache_mask;
    struct metric *m_fail[FAIL_N], *m_hit, *m_miss;
};

/* ---- roles ---- */

unsigned auth_role_parse(struct slice s)
{
    s = slice_trim(s);
    if (slice_eq_nocase(s, "read"))
        return AUTH_ROLE_READ;
    if (slice_eq_nocase(s, "write"))
        return AUTH_ROLE_WRITE;
    if (slice_eq_nocase(s, "admin"))
        return AUTH_ROLES_ALL;
    return 0;
}

const char *auth_roles_string(unsigned roles)
{
    if (roles & AUTH_ROLE_ADMIN)
        return "admin";
    switch (roles & (AUTH_ROLE_READ | AUTH_ROLE_WRITE)) {
    case AUTH_ROLE_READ: return "read";
    case AUTH_ROLE_WRITE: return "write";
    case AUTH_ROLE_READ | AUTH_ROLE_WRITE: return "read,write";
    default: return "none";
    }
}

static const char *role_verb(unsigned role)
{
    return role == AUTH_ROLE_READ ? "reading" : role == AUTH_ROLE_WRITE ? "writing" : "admin APIs";
}

unsigned auth_route_role(const struct http_route *rt)
{
    unsigned f = rt ? rt->flags : 0;
    if (f & ROUTE_OPEN)
        return 0;
    if (f & ROUTE_ADMIN)
        return AUTH_ROLE_ADMIN;
    if (f & ROUTE_WRITE)
        return AUTH_ROLE_WRITE;
    if (f & ROUTE_READ)
        return AUTH_ROLE_READ;
    return AUTH_ROLE_ADMIN; /* undeclared: closed */
}

/* ---- set-up ---- */

static void cached_identity_free(struct cached_identity *c)
{
    if (!c)
        return;
    free(c->name);
    for (uint32_t i = 0; i < c->n_tenants; i++)
        free(c->tenants[i]);
    free(c->tenants);
    free(c);
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    jose_keys_free(a->keys);
    token_table_free(a->tokens);
    free(a->tenant_claim);
    free(a->role_claim);
    free(a->issuer);
    free(a->audience);
    free(a->default_tenant);
    for (size_t i = 0; i < a->n_open; i++)
        free(a->open_paths[i]);
    free(a->open_paths);
    if (a->cache) {
        for (size_t i = 0; i <= a->cache_mask; i++)
            cached_identity_free(a->cache[i].id);
        free(a->cache);
    }
    pthread_mutex_destroy(&a->lock);
    free(a);
}

unsigned auth_mode(const struct auth *a)
{
    return a ? a->mode : AUTH_MODE_NONE;
}

static int parse_mode(const char *s, bool have_key, bool have_tokens, unsigned *out, char *err,
                      size_t errlen)
{
    const char *m = s && s[0] ? s : "auto";
    if (!strcasecmp(m, "auto")) {
        *out = (have_key ? AUTH_MODE_JWT : 0) | (have_tokens ? AUTH_MODE_TOKENS : 0);
        return 0;
    }
    if (!strcasecmp(m, "none")) {
        if (have_key || have_tokens) {
            strata_errorf(
                err, errlen, "--auth.mode=none but %s is set: remove it, or choose --auth.mode=%s",
                have_key ? "--public-key-path" : "--auth.tokens-file", have_key ? "jwt" : "tokens");
            return STRATA_EINVAL;
        }
        *out = AUTH_MODE_NONE;
        return 0;
    }
    unsigned mode = 0;
    for (const char *p = m; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        struct slice w = slice_trim(slice_make(p, n));
        if (slice_eq_nocase(w, "jwt"))
            mode |= AUTH_MODE_JWT;
        else if (slice_eq_nocase(w, "tokens"))
            mode |= AUTH_MODE_TOKENS;
        else {
            strata_errorf(
                err, errlen,
                "invalid value \"%s\" for --auth.mode: expected none, jwt, tokens, jwt,tokens "
                "or auto",
                s);
            return STRATA_EINVAL;
        }
        p += n + (c != NULL);
    }
    if ((mode & AUTH_MODE_JWT) && !have_key) {
        strata_errorf(err, errlen,
                      "--auth.mode=%s needs --public-key-path (the RSA public key PEM)", m);
        return STRATA_EINVAL;
    }
    if ((mode & AUTH_MODE_TOKENS) && !have_tokens) {
        strata_errorf(err, errlen, "--auth.mode=%s needs --auth.tokens-file", m);
        return STRATA_EINVAL;
    }
    *out = mode;
    return 0;
}

static int parse_roles_list(const char *list, unsigned *out, char *err, size_t errlen)
{
    unsigned roles = 0;
    for (const char *p = list ? list : ""; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        struct slice w = slice_trim(slice_make(p, n));
        if (w.len) {
            unsigned r = auth_role_parse(w);
            if (!r) {
                strata_errorf(
                    err, errlen,
                    "invalid role \"%.*s\" in --auth.jwt-default-roles: use read, write or "
                    "admin",
                    (int)w.len, w.ptr);
                return STRATA_EINVAL;
            }
            roles |= r;
        }
        p += n + (c != NULL);
    }
    *out = roles;
    return 0;
}

static void parse_open_paths(struct auth *a, const char *list)
{
    for (const char *p = list ? list : ""; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        struct slice w = slice_trim(slice_make(p, n));
        if (w.len) {
            a->open_paths = xreallocarray(a->open_paths, a->n_open + 1, sizeof(*a->open_paths));
            a->open_paths[a->n_open++] = xstrndup(w.ptr, w.len);
        }
        p += n + (c != NULL);
    }
}

static bool is_registered_claim(const char *c)
{
    static const char *const reg[] = {"exp", "nbf", "iat", "iss", "aud", "jti"};
    for (size_t i = 0; i < sizeof(reg) / sizeof(reg[0]); i++)
        if (!strcmp(c, reg[i]))
            return true;
    return false;
}

int auth_new(const struct config *cfg, struct auth **out, char *err, size_t errlen)
{
    *out = NULL;
    struct auth *a = xcalloc(1, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    bool have_key = cfg->public_key_path && cfg->public_key_path[0];
    bool have_tokens = cfg->auth_tokens_file && cfg->auth_tokens_file[0];
    int rc = parse_mode(cfg->auth_mode, have_key, have_tokens, &a->mode, err, errlen);
    if (rc < 0)
        goto fail;
    parse_open_paths(a, cfg->auth_open_paths);
    if (a->mode & AUTH_MODE_JWT) {
        rc = jose_keys_load(cfg->public_key_path, &a->keys, err, errlen);
        if (rc < 0)
            goto fail;
        char e2[256];
        rc = jose_algs_parse(cfg->auth_jwt_algorithms, &a->algs, e2, sizeof(e2));
        if (rc < 0) {
            strata_errorf(err, errlen, "--auth.jwt-algorithms: %s", e2);
            goto fail;
        }
        const char *tc = cfg->auth_tenant_claim ? cfg->auth_tenant_claim : "";
        const char *rcl = cfg->auth_role_claim ? cfg->auth_role_claim : "";
        if (!tc[0] || is_registered_claim(tc) || is_registered_claim(rcl) || !strcmp(tc, rcl)) {
            strata_errorf(err, errlen,
                          "--auth.tenant-claim=\"%s\" and --auth.role-claim=\"%s\": each must be a "
                          "claim of its own, not exp, nbf, iat, iss, aud or jti",
                          tc, rcl);
            rc = STRATA_EINVAL;
            goto fail;
        }
        a->tenant_claim = xstrdup(tc);
        a->role_claim = xstrdup(rcl);
        a->issuer = xstrdup(cfg->auth_jwt_issuer ? cfg->auth_jwt_issuer : "");
        a->audience = xstrdup(cfg->auth_jwt_audience ? cfg->auth_jwt_audience : "");
        a->spec = (struct jose_claim_spec){a->tenant_claim, a->role_claim, a->issuer, a->audience,
                                           cfg->auth_jwt_leeway / NS_PER_SEC};
        rc = parse_roles_list(cfg->auth_jwt_default_roles, &a->default_roles, err, errlen);
        if (rc < 0)
            goto fail;
        const char *dt = cfg->auth_jwt_default_tenant ? cfg->auth_jwt_default_tenant : "";
        if (dt[0] && strcmp(dt, TENANT_ANY) != 0 && !tenant_valid(dt, strlen(dt))) {
            strata_errorf(err, errlen, "--auth.jwt-default-tenant=\"%s\" is not a valid tenant id",
                          dt);
            rc = STRATA_EINVAL;
            goto fail;
        }
        a->default_tenant = dt[0] ? xstrdup(dt) : NULL;
        int64_t n = cfg->auth_cache_size;
        if (n < 0 || n > (1 << 22)) {
            strata_errorf(err, errlen, "--auth.cache-size=%lld: expected 0 to %d", (long long)n,
                          1 << 22);
            rc = STRATA_EINVAL;
            goto fail;
        }
        if (n > 0) {
            size_t cap = 2;
            while (cap < (size_t)n)
                cap *= 2;
            a->cache = xcalloc(cap, sizeof(*a->cache));
            a->cache_mask = cap - 1;
        }
    }
    if (a->mode & AUTH_MODE_TOKENS) {
        rc = token_table_load(cfg->auth_tokens_file, &a->tokens, err, errlen);
        if (rc < 0)
            goto fail;
    }
    struct metric_family *ff =
        metrics_family(METRIC_COUNTER, "strata_auth_failures_total",
                       "Requests refused by authentication or authorisation, by reason.", "reason");
    static const char *const reasons[FAIL_N] = {"missing", "invalid", "expired", "forbidden",
                                                "tenant"};
    for (int i = 0; i < FAIL_N; i++)
        a->m_fail[i] = metric_get(ff, reasons[i]);
    struct metric_family *fc = metrics_family(METRIC_COUNTER, "strata_auth_jwt_cache_total",
                                              "JWT verifications answered from the cache (hit) "
                                              "or by checking the signature (miss).",
                                              "result");
    a->m_hit = metric_get(fc, "hit");
    a->m_miss = metric_get(fc, "miss");
    *out = a;
    return 0;
fail:
    auth_free(a);
    return rc;
}

void auth_describe(const struct auth *a, char *out, size_t cap)
{
    unsigned m = auth_mode(a);
    if (m == AUTH_MODE_NONE) {
        snprintf(out, cap, "none (tenant from X-Scope-OrgID, default \"%s\")", DEFAULT_TENANT);
        return;
    }
    size_t n = 0;
    if (m & AUTH_MODE_JWT) {
        int k = jose_keys_count(a->keys);
        n += (size_t)snprintf(out + n, cap - n, "jwt (%d key%s, %s%s%s, tenant claim \"%s\")", k,
                              k == 1 ? "" : "s", a->algs & JOSE_RS256 ? "RS256 " : "",
                              a->algs & JOSE_RS384 ? "RS384 " : "",
                              a->algs & JOSE_RS512 ? "RS512" : "", a->tenant_claim);
    }
    if ((m & AUTH_MODE_TOKENS) && n < cap)
        snprintf(out + n, cap - n, "%stokens (%zu)", n ? " + " : "", token_table_count(a->tokens));
}

/* ---- the JWT cache ---- */

static struct cached_identity *identity_to_cache(const struct auth_identity *id)
{
    struct cached_identity *c = xcalloc(1, sizeof(*c));
    c->name = xstrdup(id->name ? id->name : "");
    c->n_tenants = id->n_tenants;
    c->tenants = xcalloc(id->n_tenants ? id->n_tenants : 1, sizeof(*c->tenants));
    for (uint32_t i = 0; i < id->n_tenants; i++)
        c->tenants[i] = xstrdup(id->tenants[i]);
    c->any_tenant = id->any_tenant;
    c->roles = id->roles;
    return c;
}

static void identity_from_cache(const struct cached_identity *c, int64_t exp_s, struct arena *ar,
                                struct auth_identity *id)
{
    id->name = arena_strdup(ar, c->name);
    const char **t = arena_alloc(ar, (c->n_tenants ? c->n_tenants : 1) * sizeof(*t));
    for (uint32_t i = 0; i < c->n_tenants; i++)
        t[i] = arena_strdup(ar, c->tenants[i]);
    id->tenants = t;
    id->n_tenants = c->n_tenants;
    id->any_tenant = c->any_tenant;
    id->roles = c->roles;
    id->expires_s = exp_s;
}

static bool cache_get(struct auth *a, const unsigned char *d, int64_t now_s, struct arena *ar,
                      struct auth_identity *id)
{
    if (!a->cache)
        return false;
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    size_t set = (size_t)(h & a->cache_mask) & ~(size_t)1;
    bool hit = false;
    pthread_mutex_lock(&a->lock);
    for (size_t i = set; i < set + 2; i++) {
        struct cache_slot *s = &a->cache[i];
        if (s->exp_s && CRYPTO_memcmp(s->digest, d, SHA256_DIGEST_LENGTH) == 0) {
            if (now_s - a->spec.leeway_s < s->exp_s) {
                identity_from_cache(s->id, s->exp_s, ar, id);
                hit = true;
            }
            break;
        }
    }
    pthread_mutex_unlock(&a->lock);
    return hit;
}

static void cache_put(struct auth *a, const unsigned char *d, int64_t exp_s,
                      const struct auth_identity *id)
{
    if (!a->cache)
        return;
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    size_t set = (size_t)(h & a->cache_mask) & ~(size_t)1;
    struct cached_identity *c = identity_to_cache(id);
    struct cached_identity *old = NULL;
    pthread_mutex_lock(&a->lock);
    /* The same token, an empty slot, or else the one that expires first. */
    struct cache_slot *victim = &a->cache[set];
    for (size_t i = set; i < set + 2; i++) {
        struct cache_slot *s = &a->cache[i];
        if (s->exp_s && !memcmp(s->digest, d, SHA256_DIGEST_LENGTH)) {
            victim = s;
            break;
        }
        if (!s->exp_s || s->exp_s < victim->exp_s)
            victim = s;
    }
    old = victim->id;
    memcpy(victim->digest, d, SHA256_DIGEST_LENGTH);
    victim->exp_s = exp_s;
    victim->id = c;
    pthread_mutex_unlock(&a->lock);
    cached_identity_free(old);
}

/* ---- checking a credential ---- */

/* Split a claim's strings ("a", "a|b", ["a","b"]) into checked tenant ids. */
static int claim_tenants(struct auth *a, const struct jose_claims *c, struct arena *ar,
                         struct auth_identity *id, char *err, size_t errlen)
{
    const char **t = NULL;
    uint32_t n = 0, cap = 0;
    if (!c->has_tenant) {
        if (!a->default_tenant) {
            strata_errorf(err, errlen, "invalid token claims: no \"%s\" claim naming the tenant",
                          a->tenant_claim);
            return STRATA_EUNAUTH;
        }
        if (!strcmp(a->default_tenant, TENANT_ANY)) {
            id->any_tenant = true;
        } else {
            t = arena_alloc(ar, sizeof(*t));
            t[n++] = a->default_tenant;
        }
    }
    for (uint32_t i = 0; i < c->n_tenants; i++) {
        struct slice v = c->tenants[i];
        for (size_t p = 0; p <= v.len;) {
            const char *bar = memchr(v.ptr + p, '|', v.len - p);
            size_t len = bar ? (size_t)(bar - (v.ptr + p)) : v.len - p;
            const char *part = v.ptr + p;
            if (len == 1 && part[0] == '*') {
                id->any_tenant = true;
            } else if (!tenant_valid(part, len)) {
                strata_errorf(err, errlen,
                              "invalid token claims: \"%s\" holds an invalid tenant id",
                              a->tenant_claim);
                return STRATA_EUNAUTH;
            } else {
                if (n == cap) {
                    uint32_t nc = cap ? cap * 2 : 4;
                    t = arena_realloc(ar, t, cap * sizeof(*t), nc * sizeof(*t));
                    cap = nc;
                }
                t[n++] = arena_strndup(ar, part, len);
            }
            p += len + 1;
        }
    }
    if (id->any_tenant)
        n = 0;
    id->tenants = t;
    id->n_tenants = n;
    return 0;
}

static int claim_roles(struct auth *a, const struct jose_claims *c, struct auth_identity *id,
                       char *err, size_t errlen)
{
    unsigned roles = 0;
    if (!c->has_role) {
        roles = a->default_roles;
    } else {
        for (uint32_t i = 0; i < c->n_roles; i++) {
            unsigned r = auth_role_parse(c->roles[i]);
            if (!r) {
                strata_errorf(
                    err, errlen,
                    "invalid token claims: \"%s\" holds an unknown role (use read, write or "
                    "admin)",
                    a->role_claim);
                return STRATA_EUNAUTH;
            }
            roles |= r;
        }
    }
    if (!roles) {
        strata_errorf(err, errlen, "invalid token claims: no \"%s\" claim naming the role",
                      a->role_claim);
        return STRATA_EUNAUTH;
    }
    id->roles = roles;
    return 0;
}

static int check_jwt(struct auth *a, const char *token, size_t len, int64_t now_s, struct arena *ar,
                     struct auth_identity *id, char *err, size_t errlen)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, len, d);
    if (cache_get(a, d, now_s, ar, id)) {
        metric_inc(a->m_hit, 1);
        return 0;
    }
    metric_inc(a->m_miss, 1);
    struct slice payload;
    int rc = jose_verify(a->keys, a->algs, token, len, ar, &payload, err, errlen);
    if (rc < 0)
        return rc;
    struct jose_claims c;
    rc = jose_claims_check(payload, &a->spec, now_s, ar, &c, err, errlen);
    if (rc < 0)
        return rc;
    rc = claim_tenants(a, &c, ar, id, err, errlen);
    if (rc < 0)
        return rc;
    rc = claim_roles(a, &c, id, err, errlen);
    if (rc < 0)
        return rc;
    id->name = arena_slice_str(ar, c.sub);
    id->expires_s = c.exp;
    cache_put(a, d, c.exp, id);
    return 0;
}

static void identity_from_entry(const struct token_entry *e, struct auth_identity *id)
{
    id->name = e->name;
    id->tenants = (const char *const *)e->tenants;
    id->n_tenants = e->any_tenant ? 0 : e->n_tenants;
    id->any_tenant = e->any_tenant;
    id->roles = e->roles;
    id->expires_s = e->expires_ns / NS_PER_SEC;
}

/* The token in an Authorization value: "Bearer <t>" (any case), or a bare token. */
static int bearer_token(const char *v, struct slice *tok, char *err, size_t errlen)
{
    struct slice s = slice_trim(slice_from(v));
    if (s.len >= 6 && !strncasecmp(s.ptr, "Bearer", 6) &&
        (s.len == 6 || s.ptr[6] == ' ' || s.ptr[6] == '\t')) {
        s = slice_trim(slice_make(s.ptr + 6, s.len - 6));
    } else {
        for (size_t i = 0; i < s.len; i++)
            if (s.ptr[i] == ' ' || s.ptr[i] == '\t') {
                strata_errorf(err, errlen,
                              "invalid token: unsupported authorization scheme (use Bearer)");
                return STRATA_EUNAUTH;
            }
    }
    if (s.len == 0) {
        strata_errorf(err, errlen, "missing token");
        return STRATA_EUNAUTH;
    }
    *tok = s;
    return 0;
}

static bool holds_tenant(const struct auth_identity *id, const char *t, size_t n)
{
    if (id->any_tenant)
        return true;
    for (uint32_t i = 0; i < id->n_tenants; i++)
        if (strlen(id->tenants[i]) == n && !memcmp(id->tenants[i], t, n))
            return true;
    return false;
}

/* Choose the tenant(s) the request acts for, within what the credential holds. */
static int choose_tenant(const char *requested, unsigned role, struct arena *ar,
                         struct auth_identity *id, char *err, size_t errlen)
{
    if (!requested || !requested[0]) {
        id->tenant = id->any_tenant || !id->n_tenants ? DEFAULT_TENANT : id->tenants[0];
        return 0;
    }
    if (tenant_list_check(requested, role == AUTH_ROLE_READ, err, errlen) < 0)
        return STRATA_EINVAL;
    for (const char *p = requested;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (!holds_tenant(id, p, n)) {
            strata_errorf(err, errlen, "permission denied: the token does not hold tenant \"%.*s\"",
                          (int)n, p);
            return STRATA_EFORBIDDEN;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    id->tenant = arena_strdup(ar, requested);
    return 0;
}

int auth_check_bearer(struct auth *a, const char *authorization, unsigned role,
                      const char *requested, struct arena *arena, struct auth_identity *id,
                      char *err, size_t errlen)
{
    memset(id, 0, sizeof(*id));
    id->name = "";
    if (auth_mode(a) == AUTH_MODE_NONE) {
        id->any_tenant = true;
        id->roles = AUTH_ROLES_ALL;
        return choose_tenant(requested, role, arena, id, err, errlen);
    }
    if (!authorization) {
        strata_errorf(err, errlen, "missing authorization header");
        metric_inc(a->m_fail[FAIL_MISSING], 1);
        return STRATA_EUNAUTH;
    }
    struct slice tok;
    int rc = bearer_token(authorization, &tok, err, errlen);
    if (rc < 0) {
        metric_inc(a->m_fail[!strcmp(err, "missing token") ? FAIL_MISSING : FAIL_INVALID], 1);
        return rc;
    }
    int64_t now_ns = clock_now_ns();
    const struct token_entry *e = NULL;
    if (a->mode & AUTH_MODE_TOKENS)
        e = token_table_find(a->tokens, tok.ptr, tok.len);
    if (e) {
        if (e->expires_ns && now_ns >= e->expires_ns) {
            strata_errorf(err, errlen, "token has expired");
            metric_inc(a->m_fail[FAIL_EXPIRED], 1);
            return STRATA_EUNAUTH;
        }
        identity_from_entry(e, id);
    } else if (a->mode & AUTH_MODE_JWT) {
        rc = check_jwt(a, tok.ptr, tok.len, now_ns / NS_PER_SEC, arena, id, err, errlen);
        if (rc < 0) {
            metric_inc(a->m_fail[strstr(err, "expired") ? FAIL_EXPIRED : FAIL_INVALID], 1);
            return rc;
        }
    } else {
        strata_errorf(err, errlen, "invalid token: not a known token");
        metric_inc(a->m_fail[FAIL_INVALID], 1);
        return STRATA_EUNAUTH;
    }
    if (role && !(id->roles & role)) {
        strata_errorf(err, errlen, "permission denied: the token's role (%s) does not allow %s",
                      auth_roles_string(id->roles), role_verb(role));
        metric_inc(a->m_fail[FAIL_FORBIDDEN], 1);
        return STRATA_EFORBIDDEN;
    }
    rc = choose_tenant(requested, role, arena, id, err, errlen);
    if (rc < 0)
        metric_inc(a->m_fail[rc == STRATA_EFORBIDDEN ? FAIL_FORBIDDEN : FAIL_TENANT], 1);
    return rc;
}

/* ---- the HTTP hook ---- */

static bool path_open(const struct auth *a, const char *path)
{
    for (size_t i = 0; i < a->n_open; i++)
        if (!strcmp(a->open_paths[i], path))
            return true;
    return false;
}

/* LogsGO's REST API (and the dashboard's status) answer errors in JSON. */
static bool json_errors(const struct http_req *req)
{
    return !strncmp(req->path, "/api/v1/", 8);
}

int auth_http_hook(struct http_req *req, void *ctx)
{
    struct auth *a = ctx;
    if (auth_mode(a) == AUTH_MODE_NONE)
        return tenant_resolve(req, NULL);
    unsigned role = auth_route_role(req->route);
    if (role == 0 || path_open(a, req->path)) {
        /* Open: nothing of a tenant's is served here, and no header is trusted. */
        req->tenant = DEFAULT_TENANT;
        return 0;
    }
    char err[400];
    const char *want;
    if (tenant_requested(req, &want, err, sizeof(err)) < 0) {
        if (json_errors(req))
            http_reply_json_error(req, 400, err);
        else
            http_reply_text(req, 400, "%s", err);
        return STRATA_EINVAL;
    }
    const char *authz = http_header(req, "Authorization");
    if (!authz && req->route && (req->route->flags & ROUTE_WEBSOCKET) &&
        wsauth_parse(http_header(req, "Sec-WebSocket-Protocol"), &req->arena, &authz, NULL, err,
                     sizeof(err)) < 0) {
        http_set_header(req, "WWW-Authenticate",
                        "Bearer realm=\"strata\", error=\"invalid_token\"");
        http_reply_text(req, 401, "invalid token: %s", err);
        return STRATA_EUNAUTH;
    }
    struct auth_identity *id = arena_alloc(&req->arena, sizeof(*id));
    int rc = auth_check_bearer(a, authz, role, want, &req->arena, id, err, sizeof(err));
    if (rc == 0) {
        req->tenant = id->tenant;
        req->auth = id;
        return 0;
    }
    bool missing = !authz || !strcmp(err, "missing token");
    int status = strata_http_status(rc);
    log_debug("auth: %d for %s %s from %s: %s", status, req->method, req->path, http_peer(req),
              err);
    if (status == 401)
        http_set_header(req, "WWW-Authenticate",
                        missing ? "Bearer realm=\"strata\""
                                : "Bearer realm=\"strata\", error=\"invalid_token\"");
    if (json_errors(req)) {
        /* LogsGO's two texts for 401; the reason for the others. */
        http_reply_json_error(req, status,
                              status == 401 ? (missing ? "missing token" : "invalid token") : err);
    } else {
        http_reply_text(req, status, "%s", missing ? "missing token" : err);
    }
    return rc;
}
