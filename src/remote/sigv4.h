/*
 * sigv4.h - AWS Signature Version 4 for S3 requests, computed with OpenSSL's
 * SHA-256 and HMAC-SHA256 (no libcurl signer: see docs/S3.md for why).
 *
 * A request is signed in four steps (AWS's "Signature Version 4 signing
 * process"):
 *
 *   canonical request = METHOD \n canonical URI \n canonical query \n
 *                       canonical headers \n signed header names \n payload hash
 *   string to sign    = "AWS4-HMAC-SHA256" \n amz-date \n scope \n hex(sha256(canonical request))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 *                            "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * where scope is "<yyyymmdd>/<region>/<service>/aws4_request". The canonical
 * query sorts the parameters by their encoded names (then values) and encodes
 * them strictly: every byte but A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case
 * hex), including '/' and '='. The same canonical query string is what the
 * client sends on the wire, so the two cannot differ.
 *
 * Everything here is a pure function of its inputs (no clock, no I/O): the
 * unit tests check it against AWS's published examples.
 */
#ifndef STRATA_SIGV4_H
#define STRATA_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"

/* Most headers or query parameters one request may carry (STRATA_EINVAL beyond). */
#define SIGV4_MAX_ITEMS 24

/* A header to sign: the name in any case (it is lower-cased), the value as sent. */
struct sigv4_header {
    const char *name;
    const char *value;
};

/* A query parameter, raw (not yet percent-encoded). value NULL or "" gives "name=". */
struct sigv4_param {
    const char *name;
    const char *value;
};

struct sigv4_credentials {
    const char *access_key;
    const char *secret_key;
    const char *region;  /* "us-east-1" */
    const char *service; /* "s3" */
};

struct sigv4_request {
    const char *method; /* "GET", "PUT", ... */
    /* The absolute path as sent, already encoded with sigv4_uri_encode(..., true). */
    const char *path;
    const struct sigv4_param *params;
    size_t n_params;
    /* Every header to sign, host and x-amz-date included; names must be unique. */
    const struct sigv4_header *headers;
    size_t n_headers;
    /* Lower-case hex SHA-256 of the body, or "UNSIGNED-PAYLOAD". */
    const char *payload_hash;
};

/* The SHA-256 of the empty body, which every GET, HEAD and DELETE signs. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/*
 * Append s[0..n) percent-encoded to out: unreserved bytes (A-Z a-z 0-9 - . _ ~)
 * as they are, '/' kept when keep_slash (object key paths), every other byte
 * as %XX. Returns 0 or STRATA_ETOOLARGE (out's maximum).
 */
int sigv4_uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash);

/*
 * Append the canonical query string of params to out (sorted by encoded name,
 * then encoded value; "a=1&b=" form; empty when n is 0). Returns 0,
 * STRATA_EINVAL for more than SIGV4_MAX_ITEMS parameters, or STRATA_ETOOLARGE.
 */
int sigv4_canonical_query(struct buf *out, const struct sigv4_param *params, size_t n);

/* Format t as the x-amz-date value "YYYYMMDDTHHMMSSZ" (UTC) into out[17]. */
void sigv4_amz_date(time_t t, char out[17]);

/* Lower-case hex SHA-256 of p[0..n) into out[65] (NUL-terminated). */
void sigv4_sha256_hex(const void *p, size_t n, char out[65]);

/*
 * Incremental SHA-256 for large bodies read in pieces. A context is opaque
 * storage; init, then update any number of times, then final (which frees
 * what init took). Returns 0 or STRATA_EINTERNAL if OpenSSL fails.
 */
struct sigv4_sha256 {
    void *md; /* private: an EVP_MD_CTX */
};
int sigv4_sha256_init(struct sigv4_sha256 *h);
int sigv4_sha256_update(struct sigv4_sha256 *h, const void *p, size_t n);
int sigv4_sha256_final(struct sigv4_sha256 *h, char out[65]);

/* Base64 of the MD5 of p[0..n) (the Content-MD5 header) into out[25]. */
void sigv4_content_md5(const void *p, size_t n, char out[25]);

/* The signing key for date "YYYYMMDD", region and service (32 bytes). */
void sigv4_signing_key(const char *secret, const char *date8, const char *region,
                       const char *service, uint8_t out[32]);

/*
 * Sign r at amz_date ("YYYYMMDDTHHMMSSZ"): appends the value of the
 * Authorization header ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...") to authorization. When canonical or string_to_sign are not
 * NULL, the intermediate texts are appended to them (tests, debugging).
 * Returns 0, STRATA_EINVAL (too many headers or parameters, a malformed date,
 * duplicate header names), or STRATA_ETOOLARGE from a buffer's maximum.
 */
int sigv4_sign(const struct sigv4_credentials *cr, const char *amz_date,
               const struct sigv4_request *r, struct buf *authorization, struct buf *canonical,
               struct buf *string_to_sign);

#endif
