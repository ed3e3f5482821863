/*
 * Fuzz target: JSON Web Tokens (jose.c). The first byte chooses what the rest
 * is: a whole token checked against a fixed RSA key, a claims payload, PEM key
 * text, or base64url. Every path must refuse bad input with an error, never
 * crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "server/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The public half of the unit tests' key A (tests/unit/auth_keys.h). */
static const char PUB_A[] = "-----BEGIN PUBLIC KEY-----\n"
                            "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAo6Pj8VR8vpQp8bzAWhpW\n"
                            "zDY1IoevN+rX3JAkUP0ZQw5qSMWtTVUwQOp7wzvKbroZFtXJdwmJd87uXMoD9P3+\n"
                            "PPfSK7zaoS4pXNZ/vfkM4ggttZtsHAZlmDAGpZnN90hbQndIUONmpAQPaWwJwgvB\n"
                            "gdhFskz6K9PXEaOat6vOuGMECFesa1+W7q92ZIbFmroCtYuX3U8X413Y5XQoMIgT\n"
                            "4kC5T9XlrEMdni5iC9pYHOvqW5Ba9lRH+RYP1SwXXEiV/qznnux16zmOM99bI0zy\n"
                            "YqTOO3JWA68G9fXy7mWYlBGBJTERvTnLLArU5j+zDYAEnToGqoqCxACRL11IAGKy\n"
                            "5QIDAQAB\n"
                            "-----END PUBLIC KEY-----\n";

static struct jose_keys *keys(void)
{
    static struct jose_keys *k;
    if (!k) {
        char err[256];
        if (jose_keys_parse(PUB_A, strlen(PUB_A), &k, err, sizeof(err)) < 0)
            abort();
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    struct arena a;
    arena_init(&a, 0);
    char err[256];
    switch (data[0] % 4) {
    case 0: {
        struct slice payload;
        if (jose_verify(keys(), JOSE_ALGS_RSA, p, n, &a, &payload, err, sizeof(err)) == 0) {
            struct jose_claims c;
            struct jose_claim_spec spec = {"tenant", "role", "iss", "aud", 5};
            jose_claims_check(payload, &spec, 1700000000, &a, &c, err, sizeof(err));
        }
        break;
    }
    case 1: {
        struct jose_claims c;
        struct jose_claim_spec spec = {"tenant", "role", "", "strata", 0};
        jose_claims_check(slice_make(p, n), &spec, 1700000000, &a, &c, err, sizeof(err));
        break;
    }
    case 2: {
        struct jose_keys *k = NULL;
        if (jose_keys_parse(p, n, &k, err, sizeof(err)) == 0)
            jose_keys_free(k);
        break;
    }
    default: {
        unsigned char *out = malloc(base64url_decoded_max(n) + 1);
        base64url_decode(slice_make(p, n), out);
        free(out);
        unsigned set;
        char *s = malloc(n + 1);
        memcpy(s, p, n);
        s[n] = '\0';
        jose_algs_parse(s, &set, err, sizeof(err));
        free(s);
        break;
    }
    }
    arena_release(&a);
    return 0;
}
