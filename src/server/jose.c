/*
 * jose.c - RS256/384/512 JSON Web Tokens: parse, check the header, verify the
 * signature with keys parsed once, read the claims. The contract is in jose.h.
 */
#include "server/jose.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "server/keyfile.h"

/* Members a header or payload may have: real tokens have a few dozen at most. */
#define MAX_HEADER_MEMBERS  32
#define MAX_PAYLOAD_MEMBERS 256
/* Entries of an array-valued claim (tenants, roles, audiences). */
#define MAX_CLAIM_VALUES 256
#define JSON_DEPTH       16

struct jose_keys {
    EVP_PKEY *key[JOSE_MAX_KEYS];
    int n;
    EVP_MD *md[3]; /* SHA-256, SHA-384, SHA-512, fetched once */
};

/* ---- base64url ---------------------------------------------------------- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long base64url_decode(struct slice s, unsigned char *out)
{
    if (s.len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < s.len; i++) {
        int v = b64url_value((unsigned char)s.ptr[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* leftover bits must be zero: one encoding per byte string */
        return -1;
    return (long)o;
}

size_t base64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

/* ---- keys --------------------------------------------------------------- */

void jose_keys_free(struct jose_keys *k)
{
    if (!k)
        return;
    for (int i = 0; i < k->n; i++)
        EVP_PKEY_free(k->key[i]);
    for (int i = 0; i < 3; i++)
        EVP_MD_free(k->md[i]);
    free(k);
}

int jose_keys_count(const struct jose_keys *k)
{
    return k ? k->n : 0;
}

/* One PEM block's DER bytes as a public key, or NULL with a message. */
static EVP_PKEY *key_from_der(const char *name, const unsigned char *der, long len, char *err,
                              size_t errlen)
{
    const unsigned char *p = der;
    EVP_PKEY *pk = NULL;
    if (!strcmp(name, "PUBLIC KEY")) {
        pk = d2i_PUBKEY(NULL, &p, len);
    } else if (!strcmp(name, "RSA PUBLIC KEY")) {
        pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);
    } else if (!strcmp(name, "CERTIFICATE")) {
        X509 *x = d2i_X509(NULL, &p, len);
        if (x)
            pk = X509_get_pubkey(x);
        X509_free(x);
    } else if (strstr(name, "PRIVATE KEY")) {
        strata_errorf(err, errlen,
                      "holds a private key (%s): give the server only the public key "
                      "(openssl pkey -in private.pem -pubout)",
                      name);
        return NULL;
    } else {
        strata_errorf(err, errlen, "unexpected PEM block \"%s\": expected PUBLIC KEY", name);
        return NULL;
    }
    if (!pk || p != der + len) {
        EVP_PKEY_free(pk);
        strata_errorf(err, errlen, "cannot parse the %s block", name);
        return NULL;
    }
    if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pk);
        strata_errorf(err, errlen,
                      "the %s is not an RSA key (only RS256, RS384 and RS512 are supported)", name);
        return NULL;
    }
    if (EVP_PKEY_get_bits(pk) < JOSE_MIN_RSA_BITS) {
        strata_errorf(err, errlen, "the RSA key has %d bits; at least %d are required",
                      EVP_PKEY_get_bits(pk), JOSE_MIN_RSA_BITS);
        EVP_PKEY_free(pk);
        return NULL;
    }
    return pk;
}

int jose_keys_parse(const char *pem, size_t len, struct jose_keys **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len > (size_t)INT32_MAX) {
        strata_errorf(err, errlen, "key text too large");
        return STRATA_EINVAL;
    }
    struct jose_keys *k = xcalloc(1, sizeof(*k));
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    int rc = STRATA_EINVAL;
    if (!bio) {
        strata_errorf(err, errlen, "out of memory");
        goto done;
    }
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long dlen = 0;
        if (!PEM_read_bio(bio, &name, &header, &der, &dlen)) {
            ERR_clear_error();
            break;
        }
        EVP_PKEY *pk = NULL;
        if (header && header[0]) /* encrypted PEM: a private key, in practice */
            strata_errorf(err, errlen, "encrypted PEM blocks are not supported");
        else if (k->n == JOSE_MAX_KEYS)
            strata_errorf(err, errlen, "more than %d keys", JOSE_MAX_KEYS);
        else
            pk = key_from_der(name, der, dlen, err, errlen);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        if (!pk)
            goto done;
        k->key[k->n++] = pk;
    }
    if (k->n == 0) {
        strata_errorf(err, errlen, "no PEM public key found (expected -----BEGIN PUBLIC KEY-----)");
        goto done;
    }
    static const char *const names[3] = {"SHA256", "SHA384", "SHA512"};
    for (int i = 0; i < 3; i++) {
        k->md[i] = EVP_MD_fetch(NULL, names[i], NULL);
        if (!k->md[i]) {
            strata_errorf(err, errlen, "OpenSSL has no %s", names[i]);
            goto done;
        }
    }
    rc = 0;
done:
    BIO_free(bio);
    ERR_clear_error();
    if (rc < 0)
        jose_keys_free(k);
    else
        *out = k;
    return rc;
}

int jose_keys_load(const char *path, struct jose_keys **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t n;
    char *text = keyfile_read(path, 1u << 20, &n, err, errlen);
    if (!text)
        return STRATA_EINVAL;
    char e2[256];
    int rc = jose_keys_parse(text, n, out, e2, sizeof(e2));
    keyfile_free(text, n);
    if (rc < 0)
        strata_errorf(err, errlen, "public key %s: %s", path, e2);
    return rc;
}

/* ---- algorithms --------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned bit;
} alg_names[] = {{"RS256", JOSE_RS256}, {"RS384", JOSE_RS384}, {"RS512", JOSE_RS512}};

static unsigned alg_bit(struct slice name)
{
    for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
        if (slice_eq_str(name, alg_names[i].name))
            return alg_names[i].bit;
    return 0;
}

int jose_algs_parse(const char *list, unsigned *out, char *err, size_t errlen)
{
    unsigned set = 0;
    const char *p = list ? list : "";
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        struct slice s = slice_trim(slice_make(p, n));
        if (s.len) {
            unsigned b = alg_bit(s);
            if (!b) {
                strata_errorf(err, errlen,
                              "unsupported JWT algorithm \"%.*s\": use RS256, RS384 or RS512",
                              (int)s.len, s.ptr);
                return STRATA_EINVAL;
            }
            set |= b;
        }
        p += n + (c != NULL);
    }
    if (!set) {
        strata_errorf(err, errlen, "no JWT algorithm allowed: use RS256, RS384 or RS512");
        return STRATA_EINVAL;
    }
    *out = set;
    return 0;
}

/* ---- verification ------------------------------------------------------- */

/* Keys seen so far in one object, to refuse duplicates (two "alg" or two "exp"). */
struct seen_keys {
    struct slice key[MAX_PAYLOAD_MEMBERS];
    int n, max;
};

/* 0 when key is new (and remembers it), STRATA_EPARSE for a duplicate or too many members. */
static int remember_key(struct seen_keys *s, struct slice key, const char **why)
{
    for (int i = 0; i < s->n; i++)
        if (slice_eq(s->key[i], key)) {
            *why = "duplicate member";
            return STRATA_EPARSE;
        }
    if (s->n == s->max) {
        *why = "too many members";
        return STRATA_EPARSE;
    }
    s->key[s->n++] = key;
    return 0;
}

/* Decode one base64url part into the arena. */
static int decode_part(struct slice part, struct arena *a, struct slice *out)
{
    unsigned char *buf = arena_alloc(a, base64url_decoded_max(part.len) + 1);
    long n = base64url_decode(part, buf);
    if (n < 0)
        return STRATA_EPARSE;
    buf[n] = '\0';
    *out = slice_make((const char *)buf, (size_t)n);
    return 0;
}

/* Read the header: its alg (one bit of enum jose_alg, or 0 for an unknown name). */
static int read_header(struct slice json, struct arena *a, unsigned *alg, struct slice *alg_name,
                       char *err, size_t errlen)
{
    struct json_reader r;
    json_reader_init(&r, json.ptr, json.len, JSON_DEPTH);
    struct seen_keys *seen = arena_alloc(a, sizeof(*seen));
    seen->n = 0;
    seen->max = MAX_HEADER_MEMBERS;
    bool have_alg = false;
    const char *why = NULL;
    if (json_enter_object(&r) < 0) {
        strata_errorf(err, errlen, "invalid token: the header is not a JSON object");
        return STRATA_EUNAUTH;
    }
    struct slice key;
    int rc;
    while ((rc = json_next_key(&r, a, &key)) > 0) {
        if (remember_key(seen, key, &why) < 0) {
            strata_errorf(err, errlen, "invalid token: header: %s \"%.*s\"", why, (int)key.len,
                          key.ptr);
            return STRATA_EUNAUTH;
        }
        if (slice_eq_str(key, "alg")) {
            if (json_read_string(&r, a, alg_name) < 0) {
                strata_errorf(err, errlen, "invalid token: header: \"alg\" is not a string");
                return STRATA_EUNAUTH;
            }
            have_alg = true;
        } else if (slice_eq_str(key, "crit")) {
            strata_errorf(err, errlen,
                          "invalid token: header: \"crit\" extensions are not supported");
            return STRATA_EUNAUTH;
        } else if (json_skip(&r) < 0) {
            break;
        }
    }
    if (rc < 0 || json_finish(&r) < 0) {
        char tmp[128];
        strata_errorf(err, errlen, "invalid token: header: %s",
                      json_reader_error(&r, tmp, sizeof(tmp)));
        return STRATA_EUNAUTH;
    }
    if (!have_alg) {
        strata_errorf(err, errlen, "invalid token: header has no \"alg\"");
        return STRATA_EUNAUTH;
    }
    *alg = alg_bit(*alg_name);
    return 0;
}

static int check_signature(const struct jose_keys *keys, unsigned alg, struct slice signed_part,
                           struct slice sig)
{
    EVP_MD *md = keys->md[alg == JOSE_RS256 ? 0 : alg == JOSE_RS384 ? 1 : 2];
    int ok = 0;
    for (int i = 0; i < keys->n && !ok; i++) {
        if ((size_t)EVP_PKEY_get_size(keys->key[i]) != sig.len)
            continue;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        if (ctx && EVP_DigestVerifyInit(ctx, &pctx, md, NULL, keys->key[i]) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0 &&
            EVP_DigestVerify(ctx, (const unsigned char *)sig.ptr, sig.len,
                             (const unsigned char *)signed_part.ptr, signed_part.len) == 1)
            ok = 1;
        EVP_MD_CTX_free(ctx);
    }
    ERR_clear_error();
    return ok;
}

int jose_verify(const struct jose_keys *keys, unsigned allowed, const char *token, size_t len,
                struct arena *a, struct slice *payload, char *err, size_t errlen)
{
    if (len == 0) {
        strata_errorf(err, errlen, "invalid token: empty");
        return STRATA_EUNAUTH;
    }
    if (len > JOSE_MAX_TOKEN) {
        strata_errorf(err, errlen, "invalid token: longer than %d bytes", JOSE_MAX_TOKEN);
        return STRATA_EUNAUTH;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        strata_errorf(err, errlen, "invalid token: token contains an invalid number of segments");
        return STRATA_EUNAUTH;
    }
    struct slice hpart = slice_make(token, (size_t)(dot1 - token));
    struct slice ppart = slice_make(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    struct slice spart = slice_make(dot2 + 1, len - (size_t)(dot2 + 1 - token));
    struct slice header, body, sig;
    if (decode_part(hpart, a, &header) < 0) {
        strata_errorf(err, errlen, "invalid token: the header is not base64url");
        return STRATA_EUNAUTH;
    }
    unsigned alg;
    struct slice alg_name;
    int rc = read_header(header, a, &alg, &alg_name, err, errlen);
    if (rc < 0)
        return rc;
    /* The algorithm is decided before any key or signature is looked at. */
    if (!(alg & allowed)) {
        strata_errorf(err, errlen, "invalid token: unexpected signing method: %.*s",
                      (int)(alg_name.len > 32 ? 32 : alg_name.len), alg_name.ptr);
        return STRATA_EUNAUTH;
    }
    if (decode_part(spart, a, &sig) < 0 || sig.len == 0) {
        strata_errorf(err, errlen, "invalid token: the signature is not base64url");
        return STRATA_EUNAUTH;
    }
    if (!check_signature(keys, alg, slice_make(token, (size_t)(dot2 - token)), sig)) {
        strata_errorf(err, errlen, "invalid token: crypto/rsa: verification error");
        return STRATA_EUNAUTH;
    }
    if (decode_part(ppart, a, &body) < 0) {
        strata_errorf(err, errlen, "invalid token: the payload is not base64url");
        return STRATA_EUNAUTH;
    }
    *payload = body;
    return 0;
}

/* ---- claims ------------------------------------------------------------- */

/* A string or an array of non-empty strings, into an arena array. */
static int read_strings(struct json_reader *r, struct arena *a, struct slice **out, uint32_t *n,
                        const char **why)
{
    enum json_type t = json_peek(r);
    if (t == JSON_STRING) {
        struct slice *v = arena_alloc(a, sizeof(*v));
        if (json_read_string(r, a, v) < 0)
            return STRATA_EPARSE;
        if (v->len == 0) {
            *why = "is an empty string";
            return STRATA_EPARSE;
        }
        *out = v;
        *n = 1;
        return 0;
    }
    if (t != JSON_ARRAY) {
        *why = "must be a string or an array of strings";
        return STRATA_EPARSE;
    }
    if (json_enter_array(r) < 0)
        return STRATA_EPARSE;
    struct slice *v = NULL;
    uint32_t cnt = 0, cap = 0;
    int rc;
    while ((rc = json_next_elem(r)) > 0) {
        if (json_peek(r) != JSON_STRING) {
            *why = "must be a string or an array of strings";
            return STRATA_EPARSE;
        }
        if (cnt == MAX_CLAIM_VALUES) {
            *why = "has too many values";
            return STRATA_EPARSE;
        }
        if (cnt == cap) {
            uint32_t nc = cap ? cap * 2 : 4;
            v = arena_realloc(a, v, cap * sizeof(*v), nc * sizeof(*v));
            cap = nc;
        }
        if (json_read_string(r, a, &v[cnt]) < 0)
            return STRATA_EPARSE;
        if (v[cnt].len == 0) {
            *why = "holds an empty string";
            return STRATA_EPARSE;
        }
        cnt++;
    }
    if (rc < 0)
        return STRATA_EPARSE;
    *out = v;
    *n = cnt;
    return 0;
}

/* An integer NumericDate: no fraction, no exponent, within int64. */
static int read_numeric_date(struct json_reader *r, int64_t *out, const char **why)
{
    if (json_peek(r) != JSON_NUMBER || json_read_int64(r, out) < 0) {
        *why = "must be an integer number of seconds";
        return STRATA_EPARSE;
    }
    return 0;
}

int jose_claims_check(struct slice payload, const struct jose_claim_spec *spec, int64_t now_s,
                      struct arena *a, struct jose_claims *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct json_reader r;
    json_reader_init(&r, payload.ptr, payload.len, JSON_DEPTH);
    struct seen_keys *seen = arena_alloc(a, sizeof(*seen));
    seen->n = 0;
    seen->max = MAX_PAYLOAD_MEMBERS;
    bool have_exp = false, aud_ok = false, have_aud = false;
    struct slice iss = {0};
    bool have_iss = false;
    const char *why = NULL;
    const char *tc = spec->tenant_claim ? spec->tenant_claim : "";
    const char *rcn = spec->role_claim ? spec->role_claim : "";
    if (json_enter_object(&r) < 0) {
        strata_errorf(err, errlen, "invalid token claims: the payload is not a JSON object");
        return STRATA_EUNAUTH;
    }
    struct slice key = {0};
    int rc;
    while ((rc = json_next_key(&r, a, &key)) > 0) {
        if (remember_key(seen, key, &why) < 0)
            goto bad_claim;
        if (tc[0] && slice_eq_str(key, tc)) {
            if (read_strings(&r, a, &out->tenants, &out->n_tenants, &why) < 0)
                goto bad_claim;
            out->has_tenant = true;
        } else if (rcn[0] && slice_eq_str(key, rcn)) {
            if (read_strings(&r, a, &out->roles, &out->n_roles, &why) < 0)
                goto bad_claim;
            out->has_role = true;
        } else if (slice_eq_str(key, "exp")) {
            if (read_numeric_date(&r, &out->exp, &why) < 0)
                goto bad_claim;
            have_exp = true;
        } else if (slice_eq_str(key, "nbf")) {
            if (read_numeric_date(&r, &out->nbf, &why) < 0)
                goto bad_claim;
        } else if (slice_eq_str(key, "sub") && json_peek(&r) == JSON_STRING) {
            if (json_read_string(&r, a, &out->sub) < 0)
                break;
        } else if (slice_eq_str(key, "iss")) {
            if (json_peek(&r) != JSON_STRING) {
                why = "must be a string";
                goto bad_claim;
            }
            if (json_read_string(&r, a, &iss) < 0)
                break;
            have_iss = true;
        } else if (slice_eq_str(key, "aud")) {
            struct slice *auds;
            uint32_t n;
            if (read_strings(&r, a, &auds, &n, &why) < 0)
                goto bad_claim;
            have_aud = true;
            for (uint32_t i = 0; i < n; i++)
                if (spec->audience && slice_eq_str(auds[i], spec->audience))
                    aud_ok = true;
        } else if (json_skip(&r) < 0) {
            break;
        }
    }
    if (rc < 0 || json_finish(&r) < 0) {
        char tmp[128];
        strata_errorf(err, errlen, "invalid token claims: %s",
                      json_reader_error(&r, tmp, sizeof(tmp)));
        return STRATA_EUNAUTH;
    }
    if (!have_exp) {
        strata_errorf(err, errlen, "invalid token claims: \"exp\" is required");
        return STRATA_EUNAUTH;
    }
    if (out->exp <= 0) {
        strata_errorf(err, errlen,
                      "invalid token claims: \"exp\" must be a positive number of seconds");
        return STRATA_EUNAUTH;
    }
    if (out->nbf < 0) {
        strata_errorf(err, errlen, "invalid token claims: \"nbf\" must not be negative");
        return STRATA_EUNAUTH;
    }
    int64_t leeway = spec->leeway_s > 0 ? spec->leeway_s : 0;
    if (now_s - leeway >= out->exp) {
        strata_errorf(err, errlen, "token has expired");
        return STRATA_EUNAUTH;
    }
    if (out->nbf && now_s + leeway < out->nbf) {
        strata_errorf(err, errlen, "token is not valid yet");
        return STRATA_EUNAUTH;
    }
    if (spec->issuer && spec->issuer[0] && (!have_iss || !slice_eq_str(iss, spec->issuer))) {
        strata_errorf(err, errlen, "invalid token claims: \"iss\" is not \"%s\"", spec->issuer);
        return STRATA_EUNAUTH;
    }
    if (spec->audience && spec->audience[0] && !aud_ok) {
        strata_errorf(err, errlen, "invalid token claims: \"aud\" %s \"%s\"",
                      have_aud ? "does not contain" : "is required and must contain",
                      spec->audience);
        return STRATA_EUNAUTH;
    }
    return 0;
bad_claim:
    strata_errorf(err, errlen, "invalid token claims: \"%.*s\" %s",
                  (int)(key.len > 64 ? 64 : key.len), key.ptr ? key.ptr : "",
                  why ? why : "is malformed");
    return STRATA_EUNAUTH;
}
