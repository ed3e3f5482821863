/*
 * tls.c - LogsGO's TLS file: parse, read the PEM files, check them with
 * OpenSSL before a listener uses them. Contract in tls.h.
 */
#include "server/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "server/keyfile.h"
#include "server/yaml_doc.h"

#define PEM_MAX (1u << 20)

static void section_release(struct tls_section *s)
{
    free(s->cert_file);
    free(s->key_file);
    free(s->ca_file);
    keyfile_free(s->cert_pem, s->cert_len);
    keyfile_free(s->key_pem, s->key_len);
    keyfile_free(s->ca_pem, s->ca_len);
    memset(s, 0, sizeof(*s));
}

void tls_config_release(struct tls_config *c)
{
    section_release(&c->http);
    section_release(&c->logclient);
}

static int file_name(struct yaml_doc *p, yaml_node_t *v, const char *key, char **out)
{
    struct slice s = yaml_doc_scalar(v);
    if (v->type != YAML_SCALAR_NODE || memchr(s.ptr, '\0', s.len) || s.len > 4096)
        return yaml_doc_fail(p, v, "%s: expected a file name", key);
    free(*out);
    *out = s.len ? xstrndup(s.ptr, s.len) : NULL;
    return 0;
}

static int parse_section(struct yaml_doc *p, const char *name, yaml_node_t *n,
                         struct tls_section *s, int depth)
{
    if (n->type == YAML_SCALAR_NODE && yaml_doc_scalar(n).len == 0)
        return 0; /* "http:" with nothing under it */
    if (n->type != YAML_MAPPING_NODE)
        return yaml_doc_fail(p, n, "%s: expected a mapping (enabled, cert_file, key_file, ca_file)",
                             name);
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_doc_node(p, pr->key);
        yaml_node_t *v = yaml_doc_node(p, pr->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return yaml_doc_fail(p, n, "%s: expected keys with values", name);
        int rc = 0;
        if (yaml_doc_is(k, "config") && depth == 0) {
            rc = parse_section(p, name, v, s, 1); /* LogsGO's nesting */
        } else if (yaml_doc_is(k, "enabled")) {
            if (yaml_doc_bool(v, &s->enabled) < 0)
                rc = yaml_doc_fail(p, v, "%s.enabled: expected true or false", name);
        } else if (yaml_doc_is(k, "cert_file")) {
            rc = file_name(p, v, "cert_file", &s->cert_file);
        } else if (yaml_doc_is(k, "key_file")) {
            rc = file_name(p, v, "key_file", &s->key_file);
        } else if (yaml_doc_is(k, "ca_file")) {
            rc = file_name(p, v, "ca_file", &s->ca_file);
        } else {
            struct slice ks = yaml_doc_scalar(k);
            rc = yaml_doc_fail(
                p, k, "%s: unknown key \"%.*s\" (expected enabled, cert_file, key_file, ca_file)",
                name, (int)(ks.len > 64 ? 64 : ks.len), ks.ptr);
        }
        if (rc < 0)
            return rc;
    }
    if (depth == 0 && s->enabled && (!s->cert_file || !s->key_file))
        return yaml_doc_fail(p, n, "%s: enabled needs both cert_file and key_file", name);
    return 0;
}

int tls_config_parse(const char *text, size_t len, const char *origin, struct tls_config *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct yaml_doc doc;
    int rc = yaml_doc_load(&doc, text, len, origin, err, errlen);
    if (rc < 0)
        return rc;
    yaml_node_t *root = yaml_doc_root(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = yaml_doc_fail(&doc, root, "expected a mapping with http: and logclient: sections");
        goto done;
    }
    bool seen_http = false, seen_client = false;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_doc_node(&doc, pr->key);
        yaml_node_t *v = yaml_doc_node(&doc, pr->value);
        if (!k || !v) {
            rc = yaml_doc_fail(&doc, root, "malformed mapping");
        } else if (yaml_doc_is(k, "http") && !seen_http) {
            seen_http = true;
            rc = parse_section(&doc, "http", v, &out->http, 0);
        } else if (yaml_doc_is(k, "logclient") && !seen_client) {
            seen_client = true;
            rc = parse_section(&doc, "logclient", v, &out->logclient, 0);
        } else if (yaml_doc_is(k, "queue")) {
            /* LogsGO's example TLS file carries its queue settings too: not ours to read here. */
        } else {
            struct slice ks = yaml_doc_scalar(k);
            rc = yaml_doc_fail(&doc, k,
                               "unexpected key \"%.*s\" (expected http and logclient, once each)",
                               (int)(ks.len > 64 ? 64 : ks.len), ks.ptr);
        }
        if (rc < 0)
            break;
    }
done:
    yaml_doc_release(&doc);
    if (rc < 0)
        tls_config_release(out);
    return rc;
}

/* ---- checking the files ---- */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Report an expired or not-yet-valid certificate (a warning: the operator may be rotating). */
static void warn_validity(X509 *x, const char *what, const char *file)
{
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        log_warn("tls: the %s in %s has expired: clients will refuse it", what, file);
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
        log_warn("tls: the %s in %s is not valid yet", what, file);
}

static int check_section(const char *name, struct tls_section *s, char *err, size_t errlen)
{
    char e2[320];
    int rc = STRATA_EINVAL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;
    s->cert_pem = keyfile_read(s->cert_file, PEM_MAX, &s->cert_len, e2, sizeof(e2));
    if (!s->cert_pem) {
        strata_errorf(err, errlen, "tls %s.cert_file: %s", name, e2);
        goto out;
    }
    s->key_pem = keyfile_read(s->key_file, PEM_MAX, &s->key_len, e2, sizeof(e2));
    if (!s->key_pem) {
        strata_errorf(err, errlen, "tls %s.key_file: %s", name, e2);
        goto out;
    }
    bio = BIO_new_mem_buf(s->cert_pem, (int)s->cert_len);
    cert = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    if (!cert) {
        strata_errorf(err, errlen, "tls %s.cert_file %s: no PEM certificate found", name,
                      s->cert_file);
        goto out;
    }
    warn_validity(cert, "certificate", s->cert_file);
    bio = BIO_new_mem_buf(s->key_pem, (int)s->key_len);
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    if (!key) {
        strata_errorf(
            err, errlen,
            "tls %s.key_file %s: no unencrypted PEM private key found (encrypted keys are not "
            "supported)",
            name, s->key_file);
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        strata_errorf(err, errlen, "tls %s: the key in %s does not match the certificate in %s",
                      name, s->key_file, s->cert_file);
        goto out;
    }
    struct stat st;
    if (stat(s->key_file, &st) == 0 && (st.st_mode & 077))
        log_warn("tls: private key %s is readable by group or others (chmod 600 it)", s->key_file);
    if (s->ca_file) {
        s->ca_pem = keyfile_read(s->ca_file, PEM_MAX, &s->ca_len, e2, sizeof(e2));
        if (!s->ca_pem) {
            strata_errorf(err, errlen, "tls %s.ca_file: %s", name, e2);
            goto out;
        }
        bio = BIO_new_mem_buf(s->ca_pem, (int)s->ca_len);
        int n = 0;
        X509 *ca;
        while (bio && (ca = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
            warn_validity(ca, "CA certificate", s->ca_file);
            X509_free(ca);
            n++;
        }
        BIO_free(bio);
        if (n == 0) {
            strata_errorf(err, errlen, "tls %s.ca_file %s: no PEM certificate found", name,
                          s->ca_file);
            goto out;
        }
    }
    rc = 0;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}

int tls_config_load(const char *path, struct tls_config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t n;
    char *text = keyfile_read(path, PEM_MAX, &n, err, errlen);
    if (!text)
        return STRATA_EINVAL;
    int rc = tls_config_parse(text, n, path, out, err, errlen);
    keyfile_free(text, n);
    if (rc == 0 && out->http.enabled)
        rc = check_section("http", &out->http, err, errlen);
    if (rc == 0 && out->logclient.enabled)
        rc = check_section("logclient", &out->logclient, err, errlen);
    if (rc < 0)
        tls_config_release(out);
    return rc;
}
