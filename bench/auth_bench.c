/*
 * auth_bench.c - what checking a bearer token costs: an RS256 JWT verified by
 * jose.c (keys parsed once), the same token from auth.c's cache, a tokens-file
 * lookup, and libjwt 1.10's jwt_decode (which parses the PEM key every call).
 *
 *     make && cc -O2 -std=gnu11 -D_GNU_SOURCE -Isrc bench/auth_bench.c \
 *         build/libstrata-server.a $(pkg-config --libs libmicrohttpd libzstd zlib libcurl \
 *         libcrypto libssl yaml-0.1 libpcre2-8 libxxhash libjwt gnutls) -lsnappy -lm -lpthread \
 *         -o build/auth-bench && build/auth-bench [bits]
 *
 * Prints one line per case: microseconds per check, single thread.
 */
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "server/auth.h"
#include "server/jose.h"

static double now_us(void)
{
    return (double)clock_mono_ns() / 1e3;
}

static char *pem_of(EVP_PKEY *k, int public)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (public)
        PEM_write_bio_PUBKEY(b, k);
    else
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = malloc((size_t)n + 1);
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
    return out;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0)
        perror(path);
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    int bits = argc > 1 ? atoi(argv[1]) : 2048; /* a bench, not input from the network */
    EVP_PKEY *k = EVP_RSA_gen((unsigned)bits);
    char *priv = pem_of(k, 0), *pub = pem_of(k, 1);
    /* Mint with libjwt (RS256, a tenant, an hour to live). */
    jwt_t *j;
    jwt_new(&j);
    jwt_add_grant(j, "tenant", "shop");
    jwt_add_grant_int(j, "exp", (long)time(NULL) + 3600);
    jwt_set_alg(j, JWT_ALG_RS256, (const unsigned char *)priv, (int)strlen(priv));
    char *tok = jwt_encode_str(j);
    jwt_free(j);
    size_t tlen = strlen(tok);

    char keypath[] = "/tmp/strata-auth-bench-XXXXXX";
    int fd = mkstemp(keypath);
    close(fd);
    write_file(keypath, pub);

    struct jose_keys *keys;
    char err[256];
    if (jose_keys_parse(pub, strlen(pub), &keys, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int n = 2000;
    struct arena a;
    arena_init(&a, 0);
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        struct slice payload;
        struct jose_claims c;
        struct jose_claim_spec spec = {"tenant", "role", "", "", 0};
        if (jose_verify(keys, JOSE_ALGS_RSA, tok, tlen, &a, &payload, err, sizeof(err)) < 0 ||
            jose_claims_check(payload, &spec, time(NULL), &a, &c, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        arena_release(&a);
    }
    printf("RSA-%d RS256 verify + claims (jose.c, key parsed once): %8.2f us\n", bits,
           (now_us() - t0) / n);

    t0 = now_us();
    for (int i = 0; i < n; i++) {
        jwt_t *d = NULL;
        if (jwt_decode(&d, tok, (const unsigned char *)pub, (int)strlen(pub)) != 0)
            return 1;
        jwt_free(d);
    }
    printf("RSA-%d RS256 libjwt 1.10 jwt_decode (PEM parsed per call): %8.2f us\n", bits,
           (now_us() - t0) / n);

    struct config cfg;
    config_init(&cfg);
    config_set(&cfg, "public-key-path", keypath, err, sizeof(err));
    struct auth *au;
    if (auth_new(&cfg, &au, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char *hdr = malloc(tlen + 8);
    snprintf(hdr, tlen + 8, "Bearer %s", tok);
    int m = 200000;
    struct auth_identity id;
    t0 = now_us();
    for (int i = 0; i < m; i++) {
        if (auth_check_bearer(au, hdr, AUTH_ROLE_READ, NULL, &a, &id, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        arena_release(&a);
    }
    printf("auth_check_bearer, JWT from the cache (SHA-256 + lookup):  %8.2f us\n",
           (now_us() - t0) / m);
    auth_free(au);
    config_release(&cfg);
    unlink(keypath);
    free(hdr);
    free(tok);
    free(priv);
    free(pub);
    jose_keys_free(keys);
    EVP_PKEY_free(k);
    return 0;
}
