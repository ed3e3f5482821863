/*
 * tls.h - LogsGO's TLS file (--tls-config-path): certificates for the HTTP
 * listener and for the gRPC listener.
 *
 *     http:                     # the HTTP listeners (API and dashboard)
 *       enabled: true
 *       cert_file: server.crt   # PEM: the certificate, then its chain
 *       key_file: server.key    # PEM: the unencrypted private key
 *       ca_file: clients-ca.crt # optional: clients must present a certificate
 *                               # signed by one of these CAs (mutual TLS)
 *     logclient:                # the gRPC listener (LogsGO's name)
 *       enabled: true
 *       cert_file: ...
 *       key_file: ...
 *       ca_file: ...
 *
 * LogsGO's decoder expects each section one level deeper
 * (`logclient: {config: {enabled: ...}}`); both forms are accepted. A
 * top-level `queue:` section (LogsGO's example file has one) is ignored.
 * Any other key is an error, so that a misspelt ca_file cannot silently turn
 * mutual TLS off. Relative paths are taken from the working directory, as in
 * LogsGO.
 *
 * tls_config_load reads every configured file and checks it with OpenSSL:
 * the certificate parses, the key parses and matches it, the CA file holds
 * at least one certificate. It warns when a certificate has expired or is
 * not yet valid, and when the key file is readable by group or others.
 */
#ifndef STRATA_TLS_H
#define STRATA_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct tls_section {
    bool enabled;
    char *cert_file, *key_file, *ca_file; /* as configured; NULL when absent */
    /* Filled by tls_config_load when enabled: the files' PEM text (ca_pem NULL without ca_file). */
    char *cert_pem, *key_pem, *ca_pem;
    size_t cert_len, key_len, ca_len;
};

struct tls_config {
    struct tls_section http;      /* the HTTP listeners */
    struct tls_section logclient; /* the gRPC listener */
};

/*
 * Parse the YAML text only (no file is read): fills the enabled flags and
 * file names. An enabled section needs cert_file and key_file. Returns 0, or
 * STRATA_EINVAL with "<origin>:<line>: <problem>" in err.
 */
int tls_config_parse(const char *text, size_t len, const char *origin, struct tls_config *out,
                     char *err, size_t errlen);
/* Parse the file at path, then read and check the files of enabled sections. */
int tls_config_load(const char *path, struct tls_config *out, char *err, size_t errlen);
/* Free (and wipe the key text of) c; c can be used again after tls_config_parse. */
void tls_config_release(struct tls_config *c);

#endif
