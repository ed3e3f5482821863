/*
 * jose.h - JSON Web Tokens signed with RSA (RS256, RS384, RS512), verified with
 * OpenSSL against public keys parsed once.
 *
 * Why not libjwt: libjwt 1.10's jwt_decode() verifies with the algorithm the
 * token names in its own header (an HS256 token "signed" with the public
 * key's PEM text passes) and parses the PEM again on every call (~0.6 ms).
 * Here the header is read first and its "alg" must be one of the allowed RSA
 * algorithms before any signature work is done; the keys are parsed once at
 * start; the signature is checked with PKCS#1 v1.5 padding only (RS*, never
 * PS* or HS*). Tests mint tokens with libjwt too, to prove interoperability.
 *
 * A token is three base64url parts, header.payload.signature (RFC 7515
 * compact form, no padding). What is checked, in order:
 *   1. size (at most JOSE_MAX_TOKEN bytes), three parts, base64url alphabet;
 *   2. the header: a JSON object with unique keys, "alg" one of the allowed
 *      set, no "crit" (no extension is understood, so none may be required);
 *   3. the signature over "header.payload" with each configured key until one
 *      verifies;
 *   4. the payload is a JSON object with unique keys (jose_claims_check then
 *      reads the claims).
 *
 * Error messages are LogsGO's gRPC texts, so that callers can pass them on:
 * "invalid token: <why>" for anything malformed or badly signed,
 * "token has expired", "token is not valid yet" (nbf), and
 * "invalid token claims: <why>" for missing or ill-typed claims.
 */
#ifndef STRATA_JOSE_H
#define STRATA_JOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/slice.h"

/* Longest token accepted: far above any real one, small enough to bound the work. */
#define JOSE_MAX_TOKEN 16384
/* The most keys one key file may hold (key rotation: old and new side by side). */
#define JOSE_MAX_KEYS 8
/* The smallest RSA modulus accepted, in bits. */
#define JOSE_MIN_RSA_BITS 2048

/* Signature algorithms, as bits of an allowed set. */
enum jose_alg {
    JOSE_RS256 = 1,
    JOSE_RS384 = 2,
    JOSE_RS512 = 4,
};
#define JOSE_ALGS_RSA (JOSE_RS256 | JOSE_RS384 | JOSE_RS512)

struct jose_keys;

/*
 * Parse PEM text holding one or more RSA public keys ("PUBLIC KEY",
 * "RSA PUBLIC KEY" or a "CERTIFICATE" whose key is used). A private key is
 * refused (the server never needs it), as are keys other than RSA and RSA
 * keys below JOSE_MIN_RSA_BITS. On success *out owns the parsed keys (free
 * with jose_keys_free). On failure returns STRATA_EINVAL and a message.
 */
int jose_keys_parse(const char *pem, size_t len, struct jose_keys **out, char *err, size_t errlen);
/* Read and parse a key file (at most 1 MiB); messages name the file. */
int jose_keys_load(const char *path, struct jose_keys **out, char *err, size_t errlen);
/* The number of keys held. */
int jose_keys_count(const struct jose_keys *k);
void jose_keys_free(struct jose_keys *k);

/* Parse "RS256,RS384" style lists into a set of enum jose_alg bits; only RS* are known. */
int jose_algs_parse(const char *list, unsigned *out, char *err, size_t errlen);

/*
 * Verify token[0..len) as described at the top of this file. allowed is a
 * set of enum jose_alg bits. On success returns 0 and *payload is the
 * decoded payload JSON (in a, valid while the arena lives; its shape is not
 * yet checked beyond being an object with unique keys). On failure returns
 * STRATA_EUNAUTH and "invalid token: <why>" in err. Safe to call from any
 * number of threads at once with the same keys.
 */
int jose_verify(const struct jose_keys *keys, unsigned allowed, const char *token, size_t len,
                struct arena *a, struct slice *payload, char *err, size_t errlen);

/* Which claims to read, and what they must hold. */
struct jose_claim_spec {
    const char *tenant_claim; /* e.g. "tenant"; the value is a string or an array of strings */
    const char *role_claim;   /* e.g. "role"; a string or an array of strings; may be absent */
    const char *issuer;       /* when non-empty, "iss" must equal it */
    const char *audience;     /* when non-empty, "aud" (string or array) must contain it */
    int64_t leeway_s;         /* clock skew allowed on exp and nbf, seconds */
};

/* The claims of a verified token. Strings point into the arena given to jose_claims_check. */
struct jose_claims {
    int64_t exp;               /* seconds since the epoch; always present and > 0 */
    int64_t nbf;               /* 0 when absent */
    struct slice sub;          /* empty when absent */
    struct slice *tenants;     /* the tenant claim's strings, as written; NULL if absent */
    uint32_t n_tenants;        /* 0 when the claim is absent */
    struct slice *roles;       /* the role claim's strings */
    uint32_t n_roles;          /* 0 when the claim is absent */
    bool has_tenant, has_role; /* the claims were present */
};

/*
 * Read the claims of a verified payload and check the registered ones
 * against now_s (seconds): "exp" is required and must be an integer > 0 and
 * > now - leeway; "nbf", when present, an integer <= now + leeway; "iss" and
 * "aud" as spec asks. The tenant and role claims must have the right types
 * when present (their values are checked by the caller). Returns 0, or
 * STRATA_EUNAUTH with "token has expired", "token is not valid yet" or
 * "invalid token claims: <why>" in err.
 */
int jose_claims_check(struct slice payload, const struct jose_claim_spec *spec, int64_t now_s,
                      struct arena *a, struct jose_claims *out, char *err, size_t errlen);

/* ---- base64url (RFC 4648 section 5, without padding), shared with tests ---- */

/*
 * Decode s into out (room for base64url_decoded_max(s.len) bytes). Rejects
 * padding, characters outside the alphabet, a length of 4k+1, and non-zero
 * leftover bits (so every byte string has exactly one encoding). Returns the
 * decoded length, or -1.
 */
long base64url_decode(struct slice s, unsigned char *out);
static inline size_t base64url_decoded_max(size_t n)
{
    return n / 4 * 3 + 3;
}
/* Encode n bytes into out (room for (n + 2) / 3 * 4 + 1); returns the length, NUL-terminated. */
size_t base64url_encode(const unsigned char *in, size_t n, char *out);

#endif
