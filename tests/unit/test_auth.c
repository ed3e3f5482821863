/*
 * Unit tests of the security layer: JWT verification (tokens minted here with
 * OpenSSL, and with libjwt for interoperability), the tokens file, tenant
 * choice and roles (auth.c), the TLS file, base64url.
 */
#include <jwt.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "auth_keys.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/err.h"
#include "core/metrics.h"
#include "server/auth.h"
#include "server/handlers.h"
#include "server/jose.h"
#include "server/tenant.h"
#include "server/tls.h"
#include "server/tokens.h"
#include "server/wsauth.h"
#include "test.h"

/* ---- minting ---- */

enum signer { SIGN_RS256, SIGN_RS384, SIGN_RS512, SIGN_PS256, SIGN_HS256, SIGN_NONE };

static EVP_PKEY *private_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    return k;
}

/* The public half of a private key as PEM (malloc'd). */
static char *public_pem(const char *private_pem)
{
    EVP_PKEY *k = private_key(private_pem);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = malloc((size_t)n + 1);
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
    EVP_PKEY_free(k);
    return out;
}

static void b64(const void *p, size_t n, char *out)
{
    base64url_encode(p, n, out);
}

/*
 * header.payload.signature for the given header and payload JSON. key is a
 * private key PEM for RS and PS; for HS256 hmac is the secret (the public key
 * PEM in the alg-confusion attack).
 */
static char *mint(const char *header, const char *payload, enum signer how, const char *key,
                  const char *hmac)
{
    size_t hl = strlen(header), pl = strlen(payload);
    char *out = malloc((hl + pl) * 2 + 2048);
    b64(header, hl, out);
    size_t n = strlen(out);
    out[n++] = '.';
    b64(payload, pl, out + n);
    n = strlen(out);
    unsigned char sig[1024];
    size_t sl = sizeof(sig);
    if (how == SIGN_HS256) {
        unsigned int hl2 = 0;
        HMAC(EVP_sha256(), hmac, (int)strlen(hmac), (unsigned char *)out, n, sig, &hl2);
        sl = hl2;
    } else if (how == SIGN_NONE) {
        sl = 0;
    } else {
        EVP_PKEY *k = private_key(key);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        const EVP_MD *md = how == SIGN_RS384   ? EVP_sha384()
                           : how == SIGN_RS512 ? EVP_sha512()
                                               : EVP_sha256();
        EVP_DigestSignInit(ctx, &pctx, md, NULL, k);
        if (how == SIGN_PS256)
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_DigestSign(ctx, sig, &sl, (unsigned char *)out, n);
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(k);
    }
    out[n++] = '.';
    b64(sig, sl, out + n);
    return out;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* A payload with exp an hour ahead and the given extra members (no leading comma). */
static const char *payload_with(char *buf, size_t cap, const char *extra)
{
    snprintf(buf, cap, "{\"exp\":%lld%s%s}", (long long)(now_s() + 3600), extra[0] ? "," : "",
             extra);
    return buf;
}

static const char *const HDR_RS256 = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";

/* ---- jwt.c ---- */

struct verify_result {
    int rc;
    char err[256];
    struct jose_claims claims;
};

static struct jose_keys *keys_a(void)
{
    char *pem = public_pem(TEST_KEY_A);
    struct jose_keys *k = NULL;
    char err[256];
    int rc = jose_keys_parse(pem, strlen(pem), &k, err, sizeof(err));
    free(pem);
    return rc == 0 ? k : NULL;
}

/* Verify and check claims of token against key A with the default spec. */
static void verify(const char *token, struct arena *a, struct verify_result *r)
{
    struct jose_keys *k = keys_a();
    struct slice payload;
    struct jose_claim_spec spec = {"tenant", "role", "", "", 0};
    r->err[0] = '\0';
    r->rc =
        jose_verify(k, JOSE_ALGS_RSA, token, strlen(token), a, &payload, r->err, sizeof(r->err));
    if (r->rc == 0)
        r->rc = jose_claims_check(payload, &spec, now_s(), a, &r->claims, r->err, sizeof(r->err));
    jose_keys_free(k);
}

TEST(jwt_good_tokens_rs256_rs384_rs512)
{
    char p[256];
    payload_with(p, sizeof(p), "\"tenant\":\"shop\",\"sub\":\"agent-7\"");
    static const struct {
        const char *hdr;
        enum signer how;
    } cases[] = {{"{\"alg\":\"RS256\",\"typ\":\"JWT\"}", SIGN_RS256},
                 {"{\"alg\":\"RS384\"}", SIGN_RS384},
                 {"{\"typ\":\"JWT\",\"alg\":\"RS512\",\"kid\":\"k1\"}", SIGN_RS512}};
    for (size_t i = 0; i < 3; i++) {
        struct arena a;
        arena_init(&a, 0);
        char *tok = mint(cases[i].hdr, p, cases[i].how, TEST_KEY_A, NULL);
        struct verify_result r;
        verify(tok, &a, &r);
        free(tok);
        if (r.rc)
            fprintf(stderr, "    case %zu: %s\n", i, r.err);
        ASSERT_EQ_INT(r.rc, 0);
        ASSERT_EQ_INT(r.claims.n_tenants, 1);
        ASSERT_EQ_SLICE(r.claims.tenants[0], "shop");
        ASSERT_EQ_SLICE(r.claims.sub, "agent-7");
        ASSERT_TRUE(r.claims.exp > now_s());
        arena_release(&a);
    }
}

/* Mint with key A, verify, and expect rc and a message starting with want. */
static bool expect_refused(const char *hdr, const char *payload, enum signer how, const char *key,
                           const char *hmac, const char *want)
{
    struct arena a;
    arena_init(&a, 0);
    char *tok = mint(hdr, payload, how, key, hmac);
    struct verify_result r;
    verify(tok, &a, &r);
    free(tok);
    arena_release(&a);
    bool ok = r.rc == STRATA_EUNAUTH && !strncmp(r.err, want, strlen(want));
    if (!ok)
        fprintf(stderr, "    rc %d, err \"%s\", wanted \"%s\"\n", r.rc, r.err, want);
    return ok;
}

TEST(jwt_exp_is_required_and_checked)
{
    char p[256];
    snprintf(p, sizeof(p), "{\"exp\":%lld,\"tenant\":\"t\"}", (long long)(now_s() - 10));
    ASSERT_TRUE(expect_refused(HDR_RS256, p, SIGN_RS256, TEST_KEY_A, NULL, "token has expired"));
    ASSERT_TRUE(expect_refused(HDR_RS256, "{\"tenant\":\"t\"}", SIGN_RS256, TEST_KEY_A, NULL,
                               "invalid token claims: \"exp\" is required"));
    ASSERT_TRUE(expect_refused(HDR_RS256, "{\"exp\":1.9e9,\"tenant\":\"t\"}", SIGN_RS256,
                               TEST_KEY_A, NULL, "invalid token claims: \"exp\" must be"));
    ASSERT_TRUE(expect_refused(HDR_RS256, "{\"exp\":\"4000000000\",\"tenant\":\"t\"}", SIGN_RS256,
                               TEST_KEY_A, NULL, "invalid token claims"));
    ASSERT_TRUE(expect_refused(HDR_RS256, "{\"exp\":0,\"tenant\":\"t\"}", SIGN_RS256, TEST_KEY_A,
                               NULL, "invalid token claims: \"exp\" must be a positive"));
    ASSERT_TRUE(expect_refused(HDR_RS256, "{\"exp\":-5,\"tenant\":\"t\"}", SIGN_RS256, TEST_KEY_A,
                               NULL, "invalid token claims"));
    ASSERT_TRUE(expect_refused(HDR_RS256, "{\"exp\":null,\"tenant\":\"t\"}", SIGN_RS256, TEST_KEY_A,
                               NULL, "invalid token claims"));
    ASSERT_TRUE(expect_refused(HDR_RS256, "{\"exp\":4000000000,\"exp\":1,\"tenant\":\"t\"}",
                               SIGN_RS256, TEST_KEY_A, NULL,
                               "invalid token claims: \"exp\" duplicate member"));
}

TEST(jwt_nbf_is_honoured)
{
    char p[256];
    snprintf(p, sizeof(p), "{\"exp\":%lld,\"nbf\":%lld,\"tenant\":\"t\"}",
             (long long)(now_s() + 3600), (long long)(now_s() + 600));
    ASSERT_TRUE(
        expect_refused(HDR_RS256, p, SIGN_RS256, TEST_KEY_A, NULL, "token is not valid yet"));
    snprintf(p, sizeof(p), "{\"exp\":%lld,\"nbf\":%lld,\"tenant\":\"t\"}",
             (long long)(now_s() + 3600), (long long)(now_s() - 600));
    struct arena a;
    arena_init(&a, 0);
    char *tok = mint(HDR_RS256, p, SIGN_RS256, TEST_KEY_A, NULL);
    struct verify_result r;
    verify(tok, &a, &r);
    free(tok);
    ASSERT_EQ_INT(r.rc, 0);
    /* Within the leeway, a future nbf passes. */
    snprintf(p, sizeof(p), "{\"exp\":%lld,\"nbf\":%lld}", (long long)(now_s() + 3600),
             (long long)(now_s() + 20));
    struct jose_claim_spec spec = {"tenant", "role", "", "", 30};
    struct jose_claims c;
    char err[128];
    ASSERT_EQ_INT(jose_claims_check(slice_from(p), &spec, now_s(), &a, &c, err, sizeof(err)), 0);
    spec.leeway_s = 0;
    ASSERT_EQ_INT(jose_claims_check(slice_from(p), &spec, now_s(), &a, &c, err, sizeof(err)),
                  STRATA_EUNAUTH);
    arena_release(&a);
}

TEST(jwt_alg_confusion_hs256_with_the_public_key_is_refused)
{
    /* The classic attack: HS256 "signed" with the server's public key text as the secret. */
    char *pub = public_pem(TEST_KEY_A);
    char p[256];
    payload_with(p, sizeof(p), "\"tenant\":\"victim\"");
    char *tok = mint("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", p, SIGN_HS256, NULL, pub);
    /* libjwt 1.10 verifies with the token's own alg, and takes it: why we check alg first. */
    jwt_t *j = NULL;
    int lj = jwt_decode(&j, tok, (const unsigned char *)pub, (int)strlen(pub));
    jwt_free(j);
    ASSERT_EQ_INT(lj, 0);
    struct arena a;
    arena_init(&a, 0);
    struct verify_result r;
    verify(tok, &a, &r);
    arena_release(&a);
    free(tok);
    free(pub);
    ASSERT_EQ_INT(r.rc, STRATA_EUNAUTH);
    ASSERT_EQ_STR(r.err, "invalid token: unexpected signing method: HS256");
}

TEST(jwt_none_ps256_and_wrong_key_are_refused)
{
    char p[256];
    payload_with(p, sizeof(p), "\"tenant\":\"t\"");
    ASSERT_TRUE(expect_refused("{\"alg\":\"none\"}", p, SIGN_NONE, NULL, NULL,
                               "invalid token: unexpected signing method: none"));
    ASSERT_TRUE(expect_refused("{\"alg\":\"RS256\"}", p, SIGN_NONE, NULL, NULL,
                               "invalid token: the signature"));
    ASSERT_TRUE(expect_refused("{\"alg\":\"PS256\"}", p, SIGN_PS256, TEST_KEY_A, NULL,
                               "invalid token: unexpected signing method: PS256"));
    /* A PSS signature presented as RS256: padding is PKCS#1 v1.5 only. */
    ASSERT_TRUE(expect_refused(HDR_RS256, p, SIGN_PS256, TEST_KEY_A, NULL,
                               "invalid token: crypto/rsa: verification error"));
    ASSERT_TRUE(expect_refused(HDR_RS256, p, SIGN_RS256, TEST_KEY_B, NULL,
                               "invalid token: crypto/rsa: verification error"));
    /* Signed RS384 but labelled RS256. */
    ASSERT_TRUE(expect_refused(HDR_RS256, p, SIGN_RS384, TEST_KEY_A, NULL,
                               "invalid token: crypto/rsa: verification error"));
    ASSERT_TRUE(expect_refused("{\"alg\":\"RS256\",\"crit\":[\"b64\"]}", p, SIGN_RS256, TEST_KEY_A,
                               NULL, "invalid token: header: \"crit\""));
    ASSERT_TRUE(expect_refused("{\"alg\":\"RS256\",\"alg\":\"HS256\"}", p, SIGN_RS256, TEST_KEY_A,
                               NULL, "invalid token: header: duplicate member"));
    ASSERT_TRUE(expect_refused("{\"typ\":\"JWT\"}", p, SIGN_RS256, TEST_KEY_A, NULL,
                               "invalid token: header has no \"alg\""));
    ASSERT_TRUE(expect_refused("[\"RS256\"]", p, SIGN_RS256, TEST_KEY_A, NULL,
                               "invalid token: the header is not a JSON object"));
    ASSERT_TRUE(expect_refused(HDR_RS256, "[1]", SIGN_RS256, TEST_KEY_A, NULL,
                               "invalid token claims: the payload is not a JSON object"));
}

TEST(jwt_tampered_and_garbage_tokens_are_refused)
{
    char p[256];
    payload_with(p, sizeof(p), "\"tenant\":\"shop\"");
    char *tok = mint(HDR_RS256, p, SIGN_RS256, TEST_KEY_A, NULL);
    /* Swap the payload for another tenant's, keep the signature. */
    char p2[256];
    payload_with(p2, sizeof(p2), "\"tenant\":\"bank\"");
    char *other = mint(HDR_RS256, p2, SIGN_NONE, NULL, NULL);
    char *dot = strchr(tok, '.'), *sig = strrchr(tok, '.');
    char *odot = strrchr(other, '.');
    char forged[4096];
    snprintf(forged, sizeof(forged), "%.*s%s", (int)(odot - other), other, sig);
    struct arena a;
    arena_init(&a, 0);
    struct verify_result r;
    verify(forged, &a, &r);
    ASSERT_EQ_STR(r.err, "invalid token: crypto/rsa: verification error");
    (void)dot;
    static const char *const garbage[] = {
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "eyJhbGciOiJSUzI1NiJ9=.e30.AAAA",
        "eyJhbGciOiJSUzI1NiJ9.e30.AA*A",
        "e.e30.AAAA",
        "!!!.???.***",
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        verify(garbage[i], &a, &r);
        if (r.rc != STRATA_EUNAUTH || strncmp(r.err, "invalid token", 13))
            fprintf(stderr, "    garbage %zu: rc %d err %s\n", i, r.rc, r.err);
        ASSERT_EQ_INT(r.rc, STRATA_EUNAUTH);
        ASSERT_TRUE(!strncmp(r.err, "invalid token", 13));
    }
    /* Too long, before anything is decoded. */
    char *big = malloc(JOSE_MAX_TOKEN + 2);
    memset(big, 'A', JOSE_MAX_TOKEN + 1);
    big[JOSE_MAX_TOKEN + 1] = '\0';
    verify(big, &a, &r);
    ASSERT_EQ_INT(r.rc, STRATA_EUNAUTH);
    free(big);
    free(tok);
    free(other);
    arena_release(&a);
}

TEST(jwt_tenant_and_role_claims_must_have_the_right_type)
{
    char p[256];
    ASSERT_TRUE(expect_refused(HDR_RS256, payload_with(p, sizeof(p), "\"tenant\":7"), SIGN_RS256,
                               TEST_KEY_A, NULL,
                               "invalid token claims: \"tenant\" must be a string"));
    ASSERT_TRUE(expect_refused(HDR_RS256, payload_with(p, sizeof(p), "\"tenant\":[\"a\",1]"),
                               SIGN_RS256, TEST_KEY_A, NULL, "invalid token claims: \"tenant\""));
    ASSERT_TRUE(expect_refused(HDR_RS256, payload_with(p, sizeof(p), "\"tenant\":\"\""), SIGN_RS256,
                               TEST_KEY_A, NULL, "invalid token claims: \"tenant\""));
    ASSERT_TRUE(expect_refused(HDR_RS256, payload_with(p, sizeof(p), "\"role\":{\"x\":1}"),
                               SIGN_RS256, TEST_KEY_A, NULL, "invalid token claims: \"role\""));
    struct arena a;
    arena_init(&a, 0);
    char *tok =
        mint(HDR_RS256, payload_with(p, sizeof(p), "\"tenant\":[\"a\",\"b\"],\"role\":[\"read\"]"),
             SIGN_RS256, TEST_KEY_A, NULL);
    struct verify_result r;
    verify(tok, &a, &r);
    free(tok);
    ASSERT_EQ_INT(r.rc, 0);
    ASSERT_EQ_INT(r.claims.n_tenants, 2);
    ASSERT_EQ_SLICE(r.claims.tenants[1], "b");
    ASSERT_EQ_INT(r.claims.n_roles, 1);
    ASSERT_TRUE(r.claims.has_role);
    arena_release(&a);
}

TEST(jwt_issuer_and_audience)
{
    struct arena a;
    arena_init(&a, 0);
    char p[256];
    struct jose_claim_spec spec = {"tenant", "role", "https://idp", "strata", 0};
    struct jose_claims c;
    char err[160];
    payload_with(p, sizeof(p), "\"iss\":\"https://idp\",\"aud\":[\"x\",\"strata\"]");
    ASSERT_EQ_INT(jose_claims_check(slice_from(p), &spec, now_s(), &a, &c, err, sizeof(err)), 0);
    payload_with(p, sizeof(p), "\"iss\":\"https://evil\",\"aud\":\"strata\"");
    ASSERT_EQ_INT(jose_claims_check(slice_from(p), &spec, now_s(), &a, &c, err, sizeof(err)),
                  STRATA_EUNAUTH);
    payload_with(p, sizeof(p), "\"iss\":\"https://idp\"");
    ASSERT_EQ_INT(jose_claims_check(slice_from(p), &spec, now_s(), &a, &c, err, sizeof(err)),
                  STRATA_EUNAUTH);
    ASSERT_TRUE(strstr(err, "aud") != NULL);
    arena_release(&a);
}

TEST(jwt_interoperates_with_libjwt)
{
    /* A token minted by libjwt (another implementation) verifies here, for each RS alg. */
    static const jwt_alg_t algs[] = {JWT_ALG_RS256, JWT_ALG_RS384, JWT_ALG_RS512};
    for (size_t i = 0; i < 3; i++) {
        jwt_t *j = NULL;
        ASSERT_EQ_INT(jwt_new(&j), 0);
        jwt_add_grant(j, "tenant", "team-a");
        jwt_add_grant(j, "sub", "libjwt");
        jwt_add_grant_int(j, "exp", (long)(now_s() + 600));
        ASSERT_EQ_INT(
            jwt_set_alg(j, algs[i], (const unsigned char *)TEST_KEY_A, (int)strlen(TEST_KEY_A)), 0);
        char *tok = jwt_encode_str(j);
        jwt_free(j);
        ASSERT_TRUE(tok != NULL);
        struct arena a;
        arena_init(&a, 0);
        struct verify_result r;
        verify(tok, &a, &r);
        free(tok);
        if (r.rc)
            fprintf(stderr, "    %s\n", r.err);
        ASSERT_EQ_INT(r.rc, 0);
        ASSERT_EQ_SLICE(r.claims.tenants[0], "team-a");
        arena_release(&a);
    }
}

TEST(jwt_keys_accepts_rsa_public_keys_only)
{
    struct jose_keys *k = NULL;
    char err[256];
    char *pub = public_pem(TEST_KEY_A);
    ASSERT_EQ_INT(jose_keys_parse(pub, strlen(pub), &k, err, sizeof(err)), 0);
    ASSERT_EQ_INT(jose_keys_count(k), 1);
    jose_keys_free(k);
    ASSERT_EQ_INT(jose_keys_parse(TEST_PUB_A_PKCS1, strlen(TEST_PUB_A_PKCS1), &k, err, sizeof(err)),
                  0);
    jose_keys_free(k);
    ASSERT_EQ_INT(jose_keys_parse(TEST_CERT_A, strlen(TEST_CERT_A), &k, err, sizeof(err)), 0);
    jose_keys_free(k);
    ASSERT_EQ_INT(jose_keys_parse(TEST_KEY_A, strlen(TEST_KEY_A), &k, err, sizeof(err)),
                  STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "private key") != NULL);
    ASSERT_EQ_INT(jose_keys_parse(TEST_PUB_SMALL, strlen(TEST_PUB_SMALL), &k, err, sizeof(err)),
                  STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "1024 bits") != NULL);
    ASSERT_EQ_INT(jose_keys_parse(TEST_PUB_EC, strlen(TEST_PUB_EC), &k, err, sizeof(err)),
                  STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "not an RSA key") != NULL);
    ASSERT_EQ_INT(jose_keys_parse("hello", 5, &k, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(k == NULL);
    free(pub);
}

TEST(jwt_two_keys_allow_rotation)
{
    char *a = public_pem(TEST_KEY_A), *b = public_pem(TEST_KEY_B);
    char both[4096];
    snprintf(both, sizeof(both), "%s%s", a, b);
    struct jose_keys *k = NULL;
    char err[256];
    ASSERT_EQ_INT(jose_keys_parse(both, strlen(both), &k, err, sizeof(err)), 0);
    ASSERT_EQ_INT(jose_keys_count(k), 2);
    char p[256];
    payload_with(p, sizeof(p), "\"tenant\":\"t\"");
    char *tok = mint(HDR_RS256, p, SIGN_RS256, TEST_KEY_B, NULL);
    struct arena ar;
    arena_init(&ar, 0);
    struct slice payload;
    ASSERT_EQ_INT(jose_verify(k, JOSE_ALGS_RSA, tok, strlen(tok), &ar, &payload, err, sizeof(err)),
                  0);
    /* ... and an algorithm left out of the allowed set is refused. */
    ASSERT_EQ_INT(jose_verify(k, JOSE_RS512, tok, strlen(tok), &ar, &payload, err, sizeof(err)),
                  STRATA_EUNAUTH);
    arena_release(&ar);
    jose_keys_free(k);
    free(tok);
    free(a);
    free(b);
    unsigned set;
    ASSERT_EQ_INT(jose_algs_parse("RS256, RS512", &set, err, sizeof(err)), 0);
    ASSERT_EQ_UINT(set, JOSE_RS256 | JOSE_RS512);
    ASSERT_EQ_INT(jose_algs_parse("RS256,HS256", &set, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_INT(jose_algs_parse("", &set, err, sizeof(err)), STRATA_EINVAL);
}

TEST(base64url_round_trip_and_strictness)
{
    unsigned char in[64] = {0}, out[64];
    char enc[128];
    for (size_t n = 0; n < sizeof(in); n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)(i * 37 + n);
        size_t el = base64url_encode(in, n, enc);
        ASSERT_EQ_INT(base64url_decode(slice_make(enc, el), out), (long)n);
        ASSERT_TRUE(n == 0 || !memcmp(in, out, n));
    }
    ASSERT_EQ_INT(base64url_decode(SLICE_LIT("QQ=="), out), -1); /* padding */
    ASSERT_EQ_INT(base64url_decode(SLICE_LIT("QR"), out), -1);   /* non-zero leftover bits */
    ASSERT_EQ_INT(base64url_decode(SLICE_LIT("Q"), out), -1);    /* 4k+1 characters */
    ASSERT_EQ_INT(base64url_decode(SLICE_LIT("ab+/"), out), -1); /* base64, not base64url */
    ASSERT_EQ_INT(base64url_decode(SLICE_LIT("-_-_"), out), 3);
}

/* ---- tokens.c ---- */

static const char TOKENS_OK[] = "tokens:\n"
                                "  - name: writer\n"
                                "    token: \"writer-token-0123456789\"\n"
                                "    tenant: shop\n"
                                "    role: write\n"
                                "  - token: reader-token-0123456789\n"
                                "    tenants: [shop, bank]\n"
                                "    roles: [read]\n"
                                "  - name: ops\n"
                                /* sha256("ops-token-0123456789abc") */
                                "    sha256: \"%s\"\n"
                                "    tenants: \"*\"\n"
                                "    role: admin\n"
                                "  - name: old\n"
                                "    token: old-token-0123456789\n"
                                "    tenant: shop\n"
                                "    role: read\n"
                                "    expires: 2020-01-01T00:00:00Z\n";

static char *tokens_text(void)
{
    unsigned char d[32];
    SHA256((const unsigned char *)"ops-token-0123456789abc", 23, d);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    char *t = malloc(sizeof(TOKENS_OK) + 64);
    snprintf(t, sizeof(TOKENS_OK) + 64, TOKENS_OK, hex);
    return t;
}

TEST(tokens_file_parses_and_finds)
{
    char *text = tokens_text();
    struct token_table *t = NULL;
    char err[320];
    int rc = token_table_parse(text, strlen(text), "tokens.yaml", &t, err, sizeof(err));
    free(text);
    if (rc)
        fprintf(stderr, "    %s\n", err);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_INT(token_table_count(t), 4);
    const struct token_entry *e = token_table_find(t, "writer-token-0123456789", 23);
    ASSERT_TRUE(e != NULL);
    ASSERT_EQ_STR(e->name, "writer");
    ASSERT_EQ_UINT(e->roles, AUTH_ROLE_WRITE);
    ASSERT_EQ_INT(e->n_tenants, 1);
    ASSERT_EQ_STR(e->tenants[0], "shop");
    e = token_table_find(t, "reader-token-0123456789", 23);
    ASSERT_TRUE(e != NULL);
    ASSERT_EQ_STR(e->name, "token 2");
    ASSERT_EQ_INT(e->n_tenants, 2);
    ASSERT_EQ_UINT(e->roles, AUTH_ROLE_READ);
    e = token_table_find(t, "ops-token-0123456789abc", 23);
    ASSERT_TRUE(e != NULL);
    ASSERT_TRUE(e->any_tenant);
    ASSERT_EQ_UINT(e->roles, AUTH_ROLES_ALL);
    e = token_table_find(t, "old-token-0123456789", 20);
    ASSERT_TRUE(e != NULL && e->expires_ns == INT64_C(1577836800) * 1000000000);
    ASSERT_TRUE(token_table_find(t, "writer-token-012345678", 22) == NULL);
    ASSERT_TRUE(token_table_find(t, "", 0) == NULL);
    token_table_free(t);
}

TEST(tokens_file_refuses_mistakes)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"", "expected a mapping"},
        {"tokens: []", "non-empty list"},
        {"tokenz: []", "unexpected key \"tokenz\""},
        {"tokens:\n  - token: short\n    tenant: a\n    role: read\n", "16 to 4096"},
        {"tokens:\n  - token: \"with space 0123456789\"\n    tenant: a\n    role: read\n",
         "printable"},
        {"tokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    role: read\n", "needs tenants"},
        {"tokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    tenant: a\n", "needs a role"},
        {"tokens:\n  - tenant: a\n    role: read\n", "needs token"},
        {"tokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    tenant: ../etc\n    role: read\n",
         "invalid tenant"},
        {"tokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    tenant: a\n    role: root\n",
         "unknown role \"root\""},
        {"tokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    tenant: a\n    role: read\n    rol: x\n",
         "unknown key \"rol\""},
        {"tokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    sha256: abcd\n    tenant: a\n    role: "
         "read\n",
         "either token or sha256"},
        {"tokens:\n  - sha256: xyz\n    tenant: a\n    role: read\n", "64 hexadecimal"},
        {"tokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    tenant: a\n    role: read\n"
         "  - token: aaaaaaaaaaaaaaaaaaaa\n    tenant: b\n    role: write\n",
         "same token"},
        {"tokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    tenants: [\"*\", a]\n    role: read\n",
         "\"*\" already means"},
        {"tokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    tenant: a\n    role: read\n    expires: "
         "soon\n",
         "RFC 3339"},
        {"t: &x [a]\ntokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    tenants: *x\n    role: read\n",
         "anchors and aliases"},
        {"tokens:\n  - token: aaaaaaaaaaaaaaaaaaaa\n    tenant: {a: b}\n    role: read\n",
         "expected a value or a list"},
        {"tokens: [\n", "tokens.yaml:"},
        {"---\ntokens: []\n---\ntokens: []\n", "one YAML document"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct token_table *t = NULL;
        char err[320] = "";
        int rc = token_table_parse(cases[i].yaml, strlen(cases[i].yaml), "tokens.yaml", &t, err,
                                   sizeof(err));
        if (rc != STRATA_EINVAL || !strstr(err, cases[i].want))
            fprintf(stderr, "    case %zu: rc %d err \"%s\", wanted \"%s\"\n", i, rc, err,
                    cases[i].want);
        ASSERT_EQ_INT(rc, STRATA_EINVAL);
        ASSERT_TRUE(strstr(err, cases[i].want) != NULL);
        ASSERT_TRUE(t == NULL);
    }
}

/* ---- auth.c: modes, roles, tenants ---- */

struct fixture {
    char key_path[64], tokens_path[64];
    struct config cfg;
    struct auth *auth;
    struct arena arena;
};

static void write_file(char *path_tmpl, const char *text)
{
    int fd = mkstemp(path_tmpl);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            perror("write");
        close(fd);
    }
}

/* An auth layer in mode (jwt, tokens, jwt,tokens, none) with key A and the tokens above. */
static int fixture_init(struct fixture *f, const char *mode, const char *extra_opt,
                        const char *extra_val)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->key_path, sizeof(f->key_path), "/tmp/strata-test-key-XXXXXX");
    snprintf(f->tokens_path, sizeof(f->tokens_path), "/tmp/strata-test-tokens-XXXXXX");
    char *pub = public_pem(TEST_KEY_A);
    write_file(f->key_path, pub);
    free(pub);
    char *text = tokens_text();
    write_file(f->tokens_path, text);
    free(text);
    config_init(&f->cfg);
    char err[320];
    config_set(&f->cfg, "auth.mode", mode, err, sizeof(err));
    if (strstr(mode, "jwt"))
        config_set(&f->cfg, "public-key-path", f->key_path, err, sizeof(err));
    if (strstr(mode, "tokens"))
        config_set(&f->cfg, "auth.tokens-file", f->tokens_path, err, sizeof(err));
    if (extra_opt)
        config_set(&f->cfg, extra_opt, extra_val, err, sizeof(err));
    arena_init(&f->arena, 0);
    int rc = auth_new(&f->cfg, &f->auth, err, sizeof(err));
    if (rc)
        fprintf(stderr, "    auth_new: %s\n", err);
    return rc;
}

static void fixture_release(struct fixture *f)
{
    auth_free(f->auth);
    config_release(&f->cfg);
    arena_release(&f->arena);
    unlink(f->key_path);
    unlink(f->tokens_path);
}

static int check(struct fixture *f, const char *authz, unsigned role, const char *tenant,
                 struct auth_identity *id, char *err, size_t errlen)
{
    err[0] = '\0';
    return auth_check_bearer(f->auth, authz, role, tenant, &f->arena, id, err, errlen);
}

TEST(auth_mode_none_takes_the_header_tenant)
{
    struct fixture f;
    ASSERT_EQ_INT(fixture_init(&f, "none", NULL, NULL), 0);
    struct auth_identity id;
    char err[256];
    ASSERT_EQ_INT(check(&f, NULL, AUTH_ROLE_WRITE, NULL, &id, err, sizeof(err)), 0);
    ASSERT_EQ_STR(id.tenant, "fake");
    ASSERT_EQ_INT(check(&f, NULL, AUTH_ROLE_READ, "a|b", &id, err, sizeof(err)), 0);
    ASSERT_EQ_STR(id.tenant, "a|b");
    ASSERT_EQ_INT(check(&f, NULL, AUTH_ROLE_WRITE, "a|b", &id, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_STR(err, "multiple org IDs present");
    ASSERT_EQ_INT(check(&f, NULL, AUTH_ROLE_READ, "../etc", &id, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_INT(check(&f, NULL, AUTH_ROLE_READ, "a||b", &id, err, sizeof(err)), STRATA_EINVAL);
    fixture_release(&f);
}

TEST(auth_bearer_header_forms_and_logsgo_texts)
{
    struct fixture f;
    ASSERT_EQ_INT(fixture_init(&f, "tokens", NULL, NULL), 0);
    struct auth_identity id;
    char err[256];
    ASSERT_EQ_INT(check(&f, NULL, AUTH_ROLE_READ, NULL, &id, err, sizeof(err)), STRATA_EUNAUTH);
    ASSERT_EQ_STR(err, "missing authorization header");
    ASSERT_EQ_INT(check(&f, "Bearer ", AUTH_ROLE_READ, NULL, &id, err, sizeof(err)),
                  STRATA_EUNAUTH);
    ASSERT_EQ_STR(err, "missing token");
    ASSERT_EQ_INT(check(&f, "", AUTH_ROLE_READ, NULL, &id, err, sizeof(err)), STRATA_EUNAUTH);
    ASSERT_EQ_STR(err, "missing token");
    ASSERT_EQ_INT(check(&f, "Basic dXNlcjpwYXNz", AUTH_ROLE_READ, NULL, &id, err, sizeof(err)),
                  STRATA_EUNAUTH);
    ASSERT_TRUE(!strncmp(err, "invalid token: ", 15));
    ASSERT_EQ_INT(
        check(&f, "Bearer nope-nope-nope-nope", AUTH_ROLE_READ, NULL, &id, err, sizeof(err)),
        STRATA_EUNAUTH);
    ASSERT_TRUE(!strncmp(err, "invalid token: ", 15));
    /* Scheme in any case, extra spaces, or the bare token as LogsGO's gRPC accepts. */
    ASSERT_EQ_INT(
        check(&f, "bearer   reader-token-0123456789 ", AUTH_ROLE_READ, NULL, &id, err, sizeof(err)),
        0);
    ASSERT_EQ_INT(check(&f, "reader-token-0123456789", AUTH_ROLE_READ, NULL, &id, err, sizeof(err)),
                  0);
    ASSERT_EQ_STR(id.tenant, "shop");
    ASSERT_EQ_INT(
        check(&f, "Bearer old-token-0123456789", AUTH_ROLE_READ, NULL, &id, err, sizeof(err)),
        STRATA_EUNAUTH);
    ASSERT_EQ_STR(err, "token has expired");
    fixture_release(&f);
}

TEST(auth_roles_and_tenants_from_the_tokens_file)
{
    struct fixture f;
    ASSERT_EQ_INT(fixture_init(&f, "tokens", NULL, NULL), 0);
    struct auth_identity id;
    char err[256];
    const char *w = "Bearer writer-token-0123456789", *r = "Bearer reader-token-0123456789",
               *ops = "Bearer ops-token-0123456789abc";
    ASSERT_EQ_INT(check(&f, w, AUTH_ROLE_WRITE, NULL, &id, err, sizeof(err)), 0);
    ASSERT_EQ_STR(id.tenant, "shop");
    ASSERT_EQ_STR(id.name, "writer");
    ASSERT_EQ_INT(check(&f, w, AUTH_ROLE_READ, NULL, &id, err, sizeof(err)), STRATA_EFORBIDDEN);
    ASSERT_EQ_INT(check(&f, w, AUTH_ROLE_WRITE, "bank", &id, err, sizeof(err)), STRATA_EFORBIDDEN);
    ASSERT_EQ_STR(err, "permission denied: the token does not hold tenant \"bank\"");
    ASSERT_EQ_INT(check(&f, r, AUTH_ROLE_WRITE, NULL, &id, err, sizeof(err)), STRATA_EFORBIDDEN);
    ASSERT_EQ_STR(err, "permission denied: the token's role (read) does not allow writing");
    ASSERT_EQ_INT(check(&f, r, AUTH_ROLE_READ, "bank", &id, err, sizeof(err)), 0);
    ASSERT_EQ_STR(id.tenant, "bank");
    /* Several tenants only when the token holds every one. */
    ASSERT_EQ_INT(check(&f, r, AUTH_ROLE_READ, "shop|bank", &id, err, sizeof(err)), 0);
    ASSERT_EQ_STR(id.tenant, "shop|bank");
    ASSERT_EQ_INT(check(&f, r, AUTH_ROLE_READ, "shop|other", &id, err, sizeof(err)),
                  STRATA_EFORBIDDEN);
    ASSERT_EQ_INT(check(&f, r, AUTH_ROLE_READ, "shop|../x", &id, err, sizeof(err)), STRATA_EINVAL);
    /* Admin: every role, any tenant, "fake" by default. */
    ASSERT_EQ_INT(check(&f, ops, AUTH_ROLE_ADMIN, NULL, &id, err, sizeof(err)), 0);
    ASSERT_EQ_STR(id.tenant, "fake");
    ASSERT_EQ_INT(check(&f, ops, AUTH_ROLE_WRITE, "anyone", &id, err, sizeof(err)), 0);
    ASSERT_EQ_INT(check(&f, ops, AUTH_ROLE_WRITE, "a|b", &id, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_INT(check(&f, r, AUTH_ROLE_ADMIN, NULL, &id, err, sizeof(err)), STRATA_EFORBIDDEN);
    fixture_release(&f);
}

static char *bearer(const char *token)
{
    char *b = malloc(strlen(token) + 8);
    snprintf(b, strlen(token) + 8, "Bearer %s", token);
    return b;
}

TEST(auth_jwt_identity_roles_and_cache)
{
    struct fixture f;
    ASSERT_EQ_INT(fixture_init(&f, "jwt", NULL, NULL), 0);
    struct auth_identity id;
    char err[256], p[256];
    char *tok = mint(HDR_RS256, payload_with(p, sizeof(p), "\"tenant\":\"a|b\",\"sub\":\"svc\""),
                     SIGN_RS256, TEST_KEY_A, NULL);
    char *b = bearer(tok);
    for (int round = 0; round < 3; round++) { /* the first verifies, the next come from the cache */
        ASSERT_EQ_INT(check(&f, b, AUTH_ROLE_WRITE, NULL, &id, err, sizeof(err)), 0);
        ASSERT_EQ_STR(id.tenant, "a");
        ASSERT_EQ_STR(id.name, "svc");
        ASSERT_EQ_UINT(id.roles, AUTH_ROLE_READ | AUTH_ROLE_WRITE); /* the default roles */
        ASSERT_EQ_INT(check(&f, b, AUTH_ROLE_READ, "b|a", &id, err, sizeof(err)), 0);
        ASSERT_EQ_INT(check(&f, b, AUTH_ROLE_READ, "c", &id, err, sizeof(err)), STRATA_EFORBIDDEN);
        ASSERT_EQ_INT(check(&f, b, AUTH_ROLE_ADMIN, NULL, &id, err, sizeof(err)),
                      STRATA_EFORBIDDEN);
    }
    struct buf m;
    buf_init(&m, 1 << 20);
    ASSERT_EQ_INT(metrics_render(&m), 0);
    ASSERT_TRUE(strstr(m.ptr, "strata_auth_jwt_cache_total{result=\"hit\"}") != NULL);
    buf_release(&m);
    free(tok);
    free(b);
    /* A read-only JWT. */
    tok = mint(HDR_RS256, payload_with(p, sizeof(p), "\"tenant\":\"a\",\"role\":\"read\""),
               SIGN_RS256, TEST_KEY_A, NULL);
    b = bearer(tok);
    ASSERT_EQ_INT(check(&f, b, AUTH_ROLE_WRITE, NULL, &id, err, sizeof(err)), STRATA_EFORBIDDEN);
    ASSERT_EQ_INT(check(&f, b, AUTH_ROLE_READ, NULL, &id, err, sizeof(err)), 0);
    free(tok);
    free(b);
    /* No tenant claim: refused (no --auth.jwt-default-tenant); an invalid tenant inside. */
    tok =
        mint(HDR_RS256, payload_with(p, sizeof(p), "\"sub\":\"x\""), SIGN_RS256, TEST_KEY_A, NULL);
    b = bearer(tok);
    ASSERT_EQ_INT(check(&f, b, AUTH_ROLE_READ, NULL, &id, err, sizeof(err)), STRATA_EUNAUTH);
    ASSERT_EQ_STR(err, "invalid token claims: no \"tenant\" claim naming the tenant");
    free(tok);
    free(b);
    tok = mint(HDR_RS256, payload_with(p, sizeof(p), "\"tenant\":\"ok|../../etc\""), SIGN_RS256,
               TEST_KEY_A, NULL);
    b = bearer(tok);
    ASSERT_EQ_INT(check(&f, b, AUTH_ROLE_READ, NULL, &id, err, sizeof(err)), STRATA_EUNAUTH);
    ASSERT_TRUE(strstr(err, "invalid tenant id") != NULL);
    free(tok);
    free(b);
    tok = mint(HDR_RS256, payload_with(p, sizeof(p), "\"tenant\":\"a\",\"role\":\"root\""),
               SIGN_RS256, TEST_KEY_A, NULL);
    b = bearer(tok);
    ASSERT_EQ_INT(check(&f, b, AUTH_ROLE_READ, NULL, &id, err, sizeof(err)), STRATA_EUNAUTH);
    free(tok);
    free(b);
    /* A tokens-file token is not a JWT in mode jwt. */
    ASSERT_EQ_INT(
        check(&f, "Bearer writer-token-0123456789", AUTH_ROLE_WRITE, NULL, &id, err, sizeof(err)),
        STRATA_EUNAUTH);
    fixture_release(&f);
}

TEST(auth_jwt_default_tenant_option)
{
    struct fixture f;
    ASSERT_EQ_INT(fixture_init(&f, "jwt,tokens", "auth.jwt-default-tenant", "logsgo"), 0);
    struct auth_identity id;
    char err[256], p[256];
    char *tok =
        mint(HDR_RS256, payload_with(p, sizeof(p), "\"sub\":\"x\""), SIGN_RS256, TEST_KEY_A, NULL);
    char *b = bearer(tok);
    ASSERT_EQ_INT(check(&f, b, AUTH_ROLE_WRITE, NULL, &id, err, sizeof(err)), 0);
    ASSERT_EQ_STR(id.tenant, "logsgo");
    /* jwt,tokens: the listed tokens work too. */
    ASSERT_EQ_INT(
        check(&f, "Bearer writer-token-0123456789", AUTH_ROLE_WRITE, NULL, &id, err, sizeof(err)),
        0);
    free(tok);
    free(b);
    fixture_release(&f);
}

TEST(auth_new_refuses_bad_configurations)
{
    struct config c;
    config_init(&c);
    struct auth *a = NULL;
    char err[320];
    /* auto without key or tokens: none. */
    ASSERT_EQ_INT(auth_new(&c, &a, err, sizeof(err)), 0);
    ASSERT_EQ_UINT(auth_mode(a), AUTH_MODE_NONE);
    auth_free(a);
    config_set(&c, "auth.mode", "jwt", err, sizeof(err));
    ASSERT_EQ_INT(auth_new(&c, &a, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "--public-key-path") != NULL);
    config_set(&c, "auth.mode", "kerberos", err, sizeof(err));
    ASSERT_EQ_INT(auth_new(&c, &a, err, sizeof(err)), STRATA_EINVAL);
    config_set(&c, "auth.mode", "none", err, sizeof(err));
    config_set(&c, "public-key-path", "/nonexistent.pem", err, sizeof(err));
    ASSERT_EQ_INT(auth_new(&c, &a, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "--auth.mode=none but --public-key-path") != NULL);
    config_set(&c, "auth.mode", "auto", err, sizeof(err));
    ASSERT_EQ_INT(auth_new(&c, &a, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "/nonexistent.pem") != NULL);
    ASSERT_TRUE(a == NULL);
    config_release(&c);
    struct fixture f;
    ASSERT_EQ_INT(fixture_init(&f, "jwt", "auth.tenant-claim", "exp") == 0, 0);
    fixture_release(&f);
    ASSERT_EQ_INT(fixture_init(&f, "jwt", "auth.jwt-algorithms", "HS256") == 0, 0);
    fixture_release(&f);
}

TEST(auth_route_roles_close_undeclared_routes)
{
    struct http_route open = {"GET", "/", NULL, NULL, ROUTE_PREFIX | ROUTE_OPEN};
    struct http_route rd = {"GET", "/q", NULL, NULL, ROUTE_READ};
    struct http_route wr = {"POST", "/p", NULL, NULL, ROUTE_WRITE};
    struct http_route none = {"POST", "/x", NULL, NULL, 0};
    ASSERT_EQ_UINT(auth_route_role(&open), 0);
    ASSERT_EQ_UINT(auth_route_role(&rd), AUTH_ROLE_READ);
    ASSERT_EQ_UINT(auth_route_role(&wr), AUTH_ROLE_WRITE);
    ASSERT_EQ_UINT(auth_route_role(&none), AUTH_ROLE_ADMIN);
    /* Every route of the real table declares what it needs. */
    for (const struct http_route *rt = server_routes; rt->path; rt++)
        ASSERT_TRUE((rt->flags & (ROUTE_OPEN | ROUTE_READ | ROUTE_WRITE | ROUTE_ADMIN)) != 0);
    for (const struct http_route *rt = web_routes; rt->path; rt++)
        ASSERT_TRUE((rt->flags & (ROUTE_WRITE | ROUTE_ADMIN)) == 0);
}

TEST(tenant_list_check_rules)
{
    char err[256];
    ASSERT_EQ_INT(tenant_list_check("a", false, err, sizeof(err)), 1);
    ASSERT_EQ_INT(tenant_list_check("a|b|c", true, err, sizeof(err)), 3);
    ASSERT_EQ_INT(tenant_list_check("a|b", false, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_INT(tenant_list_check("", true, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_INT(tenant_list_check("a|", true, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_INT(tenant_list_check("..", true, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_INT(tenant_list_check("a/b", true, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_INT(tenant_list_check("a b", true, err, sizeof(err)), STRATA_EINVAL);
    char many[1024];
    size_t n = 0;
    for (int i = 0; i <= TENANT_MAX_PER_QUERY; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "%st", i ? "|" : "");
    ASSERT_EQ_INT(tenant_list_check(many, true, err, sizeof(err)), STRATA_EINVAL);
}

/* ---- tls.c ---- */

TEST(tls_file_both_forms_and_strictness)
{
    struct tls_config c;
    char err[320];
    const char *flat = "http:\n  enabled: true\n  cert_file: s.crt\n  key_file: s.key\n"
                       "  ca_file: ca.crt\nlogclient:\n  enabled: false\nqueue:\n  url: x\n";
    ASSERT_EQ_INT(tls_config_parse(flat, strlen(flat), "tls.yaml", &c, err, sizeof(err)), 0);
    ASSERT_TRUE(c.http.enabled);
    ASSERT_EQ_STR(c.http.cert_file, "s.crt");
    ASSERT_EQ_STR(c.http.ca_file, "ca.crt");
    ASSERT_FALSE(c.logclient.enabled);
    tls_config_release(&c);
    const char *nested = "logclient:\n  config:\n    enabled: yes\n    cert_file: g.crt\n"
                         "    key_file: g.key\n";
    ASSERT_EQ_INT(tls_config_parse(nested, strlen(nested), "tls.yaml", &c, err, sizeof(err)), 0);
    ASSERT_TRUE(c.logclient.enabled);
    ASSERT_EQ_STR(c.logclient.key_file, "g.key");
    ASSERT_TRUE(c.logclient.ca_file == NULL);
    ASSERT_FALSE(c.http.enabled);
    tls_config_release(&c);
    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"http:\n  enabled: true\n  cert_file: a\n", "needs both cert_file and key_file"},
        {"http:\n  enabled: true\n  cert_file: a\n  key_file: b\n  ca_fiel: c\n",
         "unknown key \"ca_fiel\""},
        {"http:\n  enabled: maybe\n", "expected true or false"},
        {"grpc:\n  enabled: true\n", "unexpected key \"grpc\""},
        {"http: [1, 2]\n", "expected a mapping"},
        {"- a\n", "expected a mapping"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc =
            tls_config_parse(bad[i].yaml, strlen(bad[i].yaml), "tls.yaml", &c, err, sizeof(err));
        if (rc != STRATA_EINVAL || !strstr(err, bad[i].want))
            fprintf(stderr, "    case %zu: %s\n", i, err);
        ASSERT_EQ_INT(rc, STRATA_EINVAL);
        ASSERT_TRUE(strstr(err, bad[i].want) != NULL);
    }
    ASSERT_EQ_INT(tls_config_load("/nonexistent/tls.yaml", &c, err, sizeof(err)), STRATA_EINVAL);
}

/* ---- credentials in Sec-WebSocket-Protocol ---- */

TEST(wsauth_subprotocols_carry_token_and_tenant)
{
    struct arena a;
    arena_init(&a, 0);
    char err[256];
    const char *tok, *ten;
    /* base64url("red-reader-token") and base64url("red|blue"), no padding */
    ASSERT_EQ_INT(wsauth_parse("strata.v1, strata.bearer.cmVkLXJlYWRlci10b2tlbg ,"
                               "strata.tenant.cmVkfGJsdWU,chat",
                               &a, &tok, &ten, err, sizeof(err)),
                  0);
    ASSERT_EQ_STR(tok, "red-reader-token");
    ASSERT_EQ_STR(ten, "red|blue");
    ASSERT_EQ_INT(wsauth_parse("strata.v1", &a, &tok, &ten, err, sizeof(err)), 0);
    ASSERT_TRUE(tok == NULL && ten == NULL);
    ASSERT_EQ_INT(wsauth_parse(NULL, &a, &tok, NULL, err, sizeof(err)), 0);
    ASSERT_TRUE(tok == NULL);
    static const char *const bad[] = {
        "strata.bearer.",                           /* empty */
        "strata.bearer.A",                          /* 4k+1 */
        "strata.bearer.AB",                         /* leftover bits */
        "strata.bearer.cmVk=",                      /* padding */
        "strata.bearer.cmVk, strata.bearer.Ymx1ZQ", /* twice */
        "strata.tenant.AAE",                        /* control bytes */
        "strata.tenant.c+/v",                       /* base64, not base64url */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tok = ten = "unset";
        ASSERT_EQ_INT(wsauth_parse(bad[i], &a, &tok, &ten, err, sizeof(err)), STRATA_EINVAL);
        ASSERT_TRUE(tok == NULL && ten == NULL);
        ASSERT_TRUE(strstr(err, "Sec-WebSocket-Protocol") != NULL);
    }
    /* A value over the cap is refused before it is decoded. */
    size_t n = WSAUTH_MAX_VALUE / 3 * 4 + 64;
    char *big = malloc(n + 32);
    memcpy(big, "strata.bearer.", 14);
    memset(big + 14, 'A', n);
    big[14 + n] = '\0';
    ASSERT_EQ_INT(wsauth_parse(big, &a, &tok, NULL, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "too long") != NULL);
    free(big);
    ASSERT_TRUE(wsauth_offers("chat, strata.v1", "strata.v1"));
    ASSERT_FALSE(wsauth_offers("strata.v10, strata.v", "strata.v1"));
    ASSERT_FALSE(wsauth_offers(NULL, "strata.v1"));
    arena_release(&a);
}

/* ---- per-tenant limits: the overrides section ---- */

#include "ingest/limits.h"

static int load_limits(const char *yaml, struct config *c, struct limits_table **t, char *err,
                       size_t errlen)
{
    config_init(c);
    int rc = config_load_yaml(c, yaml, strlen(yaml), "limits.yaml", err, errlen);
    if (rc == 0)
        rc = limits_table_new(c, t, err, errlen);
    return rc;
}

TEST(limits_overrides_per_tenant_with_loki_names)
{
    struct config c;
    struct limits_table *t = NULL;
    char err[512];
    const char *yaml = "limits_config:\n"
                       "  ingestion_rate_mb: 2\n"
                       "  max_query_series: 300\n"
                       "query:\n"
                       "  parallelism: 4\n"
                       "overrides:\n"
                       "  team-a:\n"
                       "    ingestion_rate_mb: 16\n"
                       "    ingestion-burst-size-mb: 32\n"
                       "    max_global_streams_per_user: 20000\n"
                       "    max_query_series: 2000\n"
                       "    max_entries_limit_per_query: 100\n"
                       "    max_query_length: 24h\n"
                       "    max_query_range: 1h\n"
                       "    max_query_parallelism: 1\n"
                       "    query_timeout: 5s\n"
                       "  free:\n"
                       "    max_line_size: 16KB\n"
                       "    max_query_series: 10\n"
                       "    max_query_length: 48h\n";
    ASSERT_EQ_INT(load_limits(yaml, &c, &t, err, sizeof(err)), 0);
    ASSERT_EQ_UINT(limits_table_overrides(t), 2);
    const struct tenant_limits *d = limits_table_get(t, "someone");
    ASSERT_NEAR(d->rate_bytes, 2.0 * 1024 * 1024, 1e-6);
    ASSERT_EQ_INT(d->max_query_series, 300);
    ASSERT_EQ_INT(d->query_parallelism, 4);
    ASSERT_EQ_INT(d->max_query_length_ns, 0);
    const struct tenant_limits *a = limits_table_get(t, "team-a");
    ASSERT_NEAR(a->rate_bytes, 16.0 * 1024 * 1024, 1e-6);
    ASSERT_NEAR(a->burst_bytes, 32.0 * 1024 * 1024, 1e-6);
    ASSERT_EQ_INT(a->max_streams, 20000);
    ASSERT_EQ_INT(a->max_query_series, 2000);
    ASSERT_EQ_INT(a->max_entries_per_query, 100);
    ASSERT_EQ_INT(a->max_query_length_ns, 24 * 3600 * (int64_t)1000000000);
    ASSERT_EQ_INT(a->max_query_range_ns, 3600 * (int64_t)1000000000);
    ASSERT_EQ_INT(a->query_parallelism, 1);
    ASSERT_EQ_INT(a->query_timeout_ns, 5 * (int64_t)1000000000);
    ASSERT_EQ_INT(a->max_line_size, d->max_line_size); /* not named: the option's */
    ASSERT_EQ_INT(a->n_discover, d->n_discover);
    const struct tenant_limits *f = limits_table_get(t, "free");
    ASSERT_EQ_INT(f->max_line_size, 16000);
    ASSERT_NEAR(f->rate_bytes, d->rate_bytes, 1e-6);
    /* a|b: the strictest query limit of each, 0 (none) never wins. */
    struct tenant_limits scratch;
    const struct tenant_limits *ab = limits_table_query(t, "team-a|free", &scratch);
    ASSERT_EQ_INT(ab->max_query_series, 10);
    ASSERT_EQ_INT(ab->max_entries_per_query, 100);
    ASSERT_EQ_INT(ab->max_query_length_ns, 24 * 3600 * (int64_t)1000000000);
    ASSERT_EQ_INT(ab->max_query_range_ns, 3600 * (int64_t)1000000000);
    ASSERT_EQ_INT(ab->query_parallelism, 1);
    ASSERT_TRUE(limits_table_query(t, "free", &scratch) == f);
    limits_table_free(t);
    config_release(&c);
}

TEST(limits_overrides_refuses_mistakes_with_file_and_line)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"overrides:\n  a:\n    ingestion_rate: 3\n", "limits.yaml:3: overrides.a: unknown limit"},
        {"overrides:\n  a:\n    max_line_size: lots\n",
         "limits.yaml:3: overrides.a: invalid value"},
        {"overrides:\n  ../x:\n    max_line_size: 1KB\n", "is not a valid tenant id"},
        {"overrides:\n  a:\n    max_line_size: 1KB\n  a:\n    max_line_size: 2KB\n",
         "limits.yaml:4: overrides: tenant \"a\" is named twice"},
        {"overrides:\n  a: 5\n", "overrides.a must be a mapping"},
        {"overrides:\n  - a\n", "not be a list"},
        {"overrides: all\n", "overrides must map tenants"},
        {"overrides:\n  a:\n    max_line_size: [1, 2]\n", "takes a single value"},
        {"overrides:\n  a:\n    max_query_series: 1\n    max-query-series: 2\n", "twice"},
        {"overrides:\n  a:\n    data_dir: /tmp\n", "unknown limit \"data_dir\""},
        {"overrides:\n  a:\n    max_query_series: -1\n", "must not be negative"},
        {"overrides:\n  a: &x\n    max_line_size: 1KB\n  b: *x\n", "aliases"},
        {"limits_config:\n  max_lines: 5\n", "unknown option \"limits_config.max_lines\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config c;
        struct limits_table *t = (struct limits_table *)1;
        char err[512] = "";
        int rc = load_limits(cases[i].yaml, &c, &t, err, sizeof(err));
        if (rc != STRATA_EINVAL)
            fprintf(stderr, "    case %zu: %s\n", i, cases[i].yaml);
        ASSERT_EQ_INT(rc, STRATA_EINVAL);
        if (!strstr(err, cases[i].want)) {
            fprintf(stderr, "    case %zu: %s lacks %s\n", i, err, cases[i].want);
            ASSERT_TRUE(false);
        }
        config_release(&c);
    }
    /* An empty section and none at all are fine. */
    for (int i = 0; i < 2; i++) {
        struct config c;
        struct limits_table *t = NULL;
        char err[256];
        ASSERT_EQ_INT(load_limits(i ? "overrides: {}\n" : "overrides:\n", &c, &t, err, sizeof(err)),
                      0);
        ASSERT_EQ_UINT(limits_table_overrides(t), 0);
        limits_table_free(t);
        config_release(&c);
    }
}

/* ---- a WebSocket client's frames ---- */

#include "server/wsframe.h"

TEST(wsframe_reads_masked_frames_and_refuses_the_rest)
{
    /* "Hi" masked with 01 02 03 04, then a ping "p" */
    unsigned char b[] = {0x81, 0x82, 1, 2, 3, 4, 'H' ^ 1, 'i' ^ 2, 0x89, 0x81, 9, 9, 9, 9, 'p' ^ 9};
    struct ws_frame f;
    unsigned code;
    const char *why;
    for (size_t n = 0; n < 8; n++)
        ASSERT_EQ_INT(wsframe_parse(b, n, 100, &f, &code, &why), 0); /* incomplete */
    ASSERT_EQ_INT(wsframe_parse(b, sizeof(b), 100, &f, &code, &why), 1);
    ASSERT_EQ_INT(f.opcode, WS_OP_TEXT);
    ASSERT_EQ_UINT(f.size, 8);
    ASSERT_TRUE(f.len == 2 && !memcmp(f.payload, "Hi", 2));
    ASSERT_EQ_INT(wsframe_parse(b + 8, sizeof(b) - 8, 100, &f, &code, &why), 1);
    ASSERT_TRUE(f.opcode == WS_OP_PING && f.len == 1 && f.payload[0] == 'p');
    static const struct {
        unsigned char b[16];
        size_t n, max;
        unsigned code;
    } bad[] = {
        {{0x81, 0x02, 'H', 'i'}, 4, 100, 1002},                   /* unmasked */
        {{0xc1, 0x80, 0, 0, 0, 0}, 6, 100, 1002},                 /* RSV1 */
        {{0x83, 0x80, 0, 0, 0, 0}, 6, 100, 1002},                 /* opcode 3 */
        {{0x89, 0xfe, 0x00, 0x80}, 4, 1000, 1002},                /* ping of 128 bytes */
        {{0x09, 0x80, 0, 0, 0, 0}, 6, 100, 1002},                 /* fragmented ping */
        {{0x82, 0xfe, 0x01, 0x00}, 4, 100, 1009},                 /* 256 > 100 */
        {{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, 100, 1009}, /* 2^63 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char c[16];
        memcpy(c, bad[i].b, sizeof(c));
        ASSERT_EQ_INT(wsframe_parse(c, bad[i].n, bad[i].max, &f, &code, &why), -1);
        ASSERT_EQ_INT(code, bad[i].code);
    }
}
