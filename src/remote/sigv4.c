#include "remote/sigv4.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static const char hexdig[] = "0123456789abcdef";

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[p[i] >> 4];
        out[2 * i + 1] = hexdig[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash)
{
    static const char up[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if (unreserved(c) || (keep_slash && c == '/')) {
            rc = buf_append_char(out, (char)c);
        } else {
            char esc[3] = {'%', up[c >> 4], up[c & 15]};
            rc = buf_append(out, esc, 3);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* Parameters sorted by encoded name, then encoded value (both kept as offsets into one buffer). */
struct enc_param {
    size_t name_off, name_len, val_off, val_len;
};

static int cmp_enc(const char *base, const struct enc_param *x, const struct enc_param *y)
{
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(base + x->name_off, base + y->name_off, n);
    if (c)
        return c;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    n = x->val_len < y->val_len ? x->val_len : y->val_len;
    c = memcmp(base + x->val_off, base + y->val_off, n);
    if (c)
        return c;
    return x->val_len < y->val_len ? -1 : x->val_len > y->val_len;
}

/* Insertion sort: at most SIGV4_MAX_ITEMS items (qsort has no context argument). */
static void sort_params(struct enc_param *p, size_t n, const char *base)
{
    for (size_t i = 1; i < n; i++) {
        struct enc_param t = p[i];
        size_t j = i;
        while (j > 0 && cmp_enc(base, &p[j - 1], &t) > 0) {
            p[j] = p[j - 1];
            j--;
        }
        p[j] = t;
    }
}

int sigv4_canonical_query(struct buf *out, const struct sigv4_param *params, size_t n)
{
    if (n > SIGV4_MAX_ITEMS)
        return STRATA_EINVAL;
    if (n == 0)
        return 0;
    struct buf enc;
    buf_init(&enc, out->max);
    struct enc_param ep[SIGV4_MAX_ITEMS];
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *v = params[i].value ? params[i].value : "";
        ep[i].name_off = enc.len;
        rc = sigv4_uri_encode(&enc, params[i].name, strlen(params[i].name), false);
        ep[i].name_len = enc.len - ep[i].name_off;
        ep[i].val_off = enc.len;
        if (!rc)
            rc = sigv4_uri_encode(&enc, v, strlen(v), false);
        ep[i].val_len = enc.len - ep[i].val_off;
    }
    if (rc)
        goto done;
    sort_params(ep, n, enc.ptr ? enc.ptr : "");
    for (size_t i = 0; i < n && !rc; i++) {
        if (i)
            rc = buf_append_char(out, '&');
        if (!rc)
            rc = buf_append(out, enc.ptr + ep[i].name_off, ep[i].name_len);
        if (!rc)
            rc = buf_append_char(out, '=');
        if (!rc)
            rc = buf_append(out, enc.ptr + ep[i].val_off, ep[i].val_len);
    }
done:
    buf_release(&enc);
    return rc;
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    /* strftime keeps the compiler's format-truncation analysis out of the way. */
    if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
        memcpy(out, "19700101T000000Z", 17);
}

void sigv4_sha256_hex(const void *p, size_t n, char out[65])
{
    uint8_t md[32];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    to_hex(md, 32, out);
}

int sigv4_sha256_init(struct sigv4_sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        h->md = NULL;
        return STRATA_EINTERNAL;
    }
    h->md = ctx;
    return 0;
}

int sigv4_sha256_update(struct sigv4_sha256 *h, const void *p, size_t n)
{
    if (!h->md || EVP_DigestUpdate(h->md, p, n) != 1)
        return STRATA_EINTERNAL;
    return 0;
}

int sigv4_sha256_final(struct sigv4_sha256 *h, char out[65])
{
    uint8_t md[32];
    unsigned int len = 0;
    int ok = h->md && EVP_DigestFinal_ex(h->md, md, &len) == 1 && len == 32;
    EVP_MD_CTX_free(h->md);
    h->md = NULL;
    if (!ok)
        return STRATA_EINTERNAL;
    to_hex(md, 32, out);
    return 0;
}

void sigv4_content_md5(const void *p, size_t n, char out[25])
{
    uint8_t md[16];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, 16);
}

static void hmac(const void *key, size_t klen, const char *msg, size_t mlen, uint8_t out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &len);
}

void sigv4_signing_key(const char *secret, const char *date8, const char *region,
                       const char *service, uint8_t out[32])
{
    /* "AWS4" + secret: secrets are short; 300 bytes covers any real one (longer ones are cut
     * and fail to verify, which the server reports). */
    char k0[300];
    int n = snprintf(k0, sizeof(k0), "AWS4%s", secret);
    size_t klen = n < 0 ? 0 : ((size_t)n < sizeof(k0) ? (size_t)n : sizeof(k0) - 1);
    uint8_t k1[32], k2[32], k3[32];
    hmac(k0, klen, date8, strlen(date8), k1);
    hmac(k1, 32, region, strlen(region), k2);
    hmac(k2, 32, service, strlen(service), k3);
    hmac(k3, 32, "aws4_request", 12, out);
}

struct canon_header {
    char name[64];
    const char *value;
};

static int cmp_header(const void *a, const void *b)
{
    return strcmp(((const struct canon_header *)a)->name, ((const struct canon_header *)b)->name);
}

/* Header value as AWS canonicalises it: trimmed, runs of spaces collapsed to one. */
static int append_trimmed(struct buf *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    bool space = false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i] == '\t' ? ' ' : v[i];
        if (c == ' ' && space)
            continue;
        space = c == ' ';
        int rc = buf_append_char(b, c);
        if (rc)
            return rc;
    }
    return 0;
}

static bool valid_amz_date(const char *d)
{
    if (strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && !isdigit((unsigned char)d[i]))
            return false;
    return true;
}

int sigv4_sign(const struct sigv4_credentials *cr, const char *amz_date,
               const struct sigv4_request *r, struct buf *authorization, struct buf *canonical,
               struct buf *string_to_sign)
{
    if (r->n_headers > SIGV4_MAX_ITEMS || r->n_params > SIGV4_MAX_ITEMS ||
        !valid_amz_date(amz_date))
        return STRATA_EINVAL;
    struct canon_header hs[SIGV4_MAX_ITEMS];
    for (size_t i = 0; i < r->n_headers; i++) {
        size_t n = strlen(r->headers[i].name);
        if (n == 0 || n >= sizeof(hs[i].name))
            return STRATA_EINVAL;
        for (size_t j = 0; j <= n; j++)
            hs[i].name[j] = (char)tolower((unsigned char)r->headers[i].name[j]);
        hs[i].value = r->headers[i].value ? r->headers[i].value : "";
    }
    qsort(hs, r->n_headers, sizeof(hs[0]), cmp_header);
    for (size_t i = 1; i < r->n_headers; i++)
        if (!strcmp(hs[i - 1].name, hs[i].name))
            return STRATA_EINVAL;

    struct buf creq, signed_names, sts;
    buf_init(&creq, 1 << 20);
    buf_init(&signed_names, 4096);
    buf_init(&sts, 4096);
    int rc = buf_printf(&creq, "%s\n%s\n", r->method, r->path);
    if (!rc)
        rc = sigv4_canonical_query(&creq, r->params, r->n_params);
    if (!rc)
        rc = buf_append_char(&creq, '\n');
    for (size_t i = 0; i < r->n_headers && !rc; i++) {
        rc = buf_printf(&creq, "%s:", hs[i].name);
        if (!rc)
            rc = append_trimmed(&creq, hs[i].value);
        if (!rc)
            rc = buf_append_char(&creq, '\n');
        if (!rc)
            rc = buf_printf(&signed_names, "%s%s", i ? ";" : "", hs[i].name);
    }
    if (!rc)
        rc = buf_printf(&creq, "\n%s\n%s", signed_names.ptr ? signed_names.ptr : "",
                        r->payload_hash);
    if (rc)
        goto done;

    char date8[9];
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    char creq_hash[65];
    sigv4_sha256_hex(creq.ptr, creq.len, creq_hash);
    rc = buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date8,
                    cr->region, cr->service, creq_hash);
    if (rc)
        goto done;

    uint8_t key[32], sig[32];
    char sig_hex[65];
    sigv4_signing_key(cr->secret_key, date8, cr->region, cr->service, key);
    hmac(key, 32, sts.ptr, sts.len, sig);
    to_hex(sig, 32, sig_hex);
    rc = buf_printf(authorization,
                    "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                    "Signature=%s",
                    cr->access_key, date8, cr->region, cr->service,
                    signed_names.ptr ? signed_names.ptr : "", sig_hex);
    if (!rc && canonical)
        rc = buf_append(canonical, creq.ptr, creq.len);
    if (!rc && string_to_sign)
        rc = buf_append(string_to_sign, sts.ptr, sts.len);
done:
    buf_release(&creq);
    buf_release(&signed_names);
    buf_release(&sts);
    return rc;
}
