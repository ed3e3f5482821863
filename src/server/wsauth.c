/*
 * wsauth.c - credentials in Sec-WebSocket-Protocol. Contract in wsauth.h.
 */
#include "server/wsauth.h"

#include <string.h>

#include "core/err.h"
#include "core/slice.h"
#include "server/jose.h"

/* Call fn on every item of the comma-separated list, trimmed; stop when it returns non-zero. */
static int each_item(const char *header, int (*fn)(struct slice item, void *arg), void *arg)
{
    for (const char *p = header ? header : ""; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        struct slice item = slice_trim(slice_make(p, n));
        if (item.len) {
            int rc = fn(item, arg);
            if (rc)
                return rc;
        }
        p += n + (c != NULL);
    }
    return 0;
}

static bool has_prefix(struct slice s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && !memcmp(s.ptr, prefix, n);
}

struct parse_state {
    struct arena *a;
    const char *token, *tenant;
    char *err;
    size_t errlen;
};

static int decode_value(struct parse_state *st, struct slice enc, const char *what,
                        const char **out)
{
    if (*out) {
        strata_errorf(st->err, st->errlen, "Sec-WebSocket-Protocol offers %s twice", what);
        return STRATA_EINVAL;
    }
    if (enc.len == 0 || base64url_decoded_max(enc.len) > WSAUTH_MAX_VALUE + 3) {
        strata_errorf(st->err, st->errlen, "Sec-WebSocket-Protocol: %s is %s", what,
                      enc.len ? "too long" : "empty");
        return STRATA_EINVAL;
    }
    unsigned char *v = arena_alloc(st->a, base64url_decoded_max(enc.len) + 1);
    long n = base64url_decode(enc, v);
    if (n <= 0 || n > WSAUTH_MAX_VALUE) {
        strata_errorf(st->err, st->errlen,
                      "Sec-WebSocket-Protocol: %s is not base64url without padding", what);
        return STRATA_EINVAL;
    }
    for (long i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e) {
            strata_errorf(st->err, st->errlen,
                          "Sec-WebSocket-Protocol: %s holds bytes outside printable ASCII", what);
            return STRATA_EINVAL;
        }
    v[n] = '\0';
    *out = (const char *)v;
    return 0;
}

static int parse_item(struct slice item, void *arg)
{
    struct parse_state *st = arg;
    if (has_prefix(item, WSAUTH_BEARER_PREFIX))
        return decode_value(st,
                            slice_make(item.ptr + strlen(WSAUTH_BEARER_PREFIX),
                                       item.len - strlen(WSAUTH_BEARER_PREFIX)),
                            "the strata.bearer token", &st->token);
    if (has_prefix(item, WSAUTH_TENANT_PREFIX))
        return decode_value(st,
                            slice_make(item.ptr + strlen(WSAUTH_TENANT_PREFIX),
                                       item.len - strlen(WSAUTH_TENANT_PREFIX)),
                            "the strata.tenant tenant", &st->tenant);
    return 0;
}

int wsauth_parse(const char *header, struct arena *a, const char **token, const char **tenant,
                 char *err, size_t errlen)
{
    struct parse_state st = {a, NULL, NULL, err, errlen};
    int rc = each_item(header, parse_item, &st);
    if (token)
        *token = rc ? NULL : st.token;
    if (tenant)
        *tenant = rc ? NULL : st.tenant;
    return rc;
}

static int is_name(struct slice item, void *arg)
{
    return slice_eq(item, slice_from(arg));
}

bool wsauth_offers(const char *header, const char *name)
{
    return each_item(header, is_name, (void *)name) != 0;
}
