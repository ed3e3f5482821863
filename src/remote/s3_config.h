/*
 * s3_config.h - where the S3 client's settings come from.
 *
 * The bucket is described as LogsGO describes it, by a YAML document given
 * as a file (--store-config-path) or inline (--store-config), never both:
 *
 *     remote_store:
 *       provider: "minio"            # required, free text (minio, aws, swift, ...)
 *       endpoint: "127.0.0.1:9000"   # required: host[:port], or a URL with http:// or https://
 *       bucket: "logs"               # required
 *       region: "us-east-1"          # optional (then $AWS_REGION, then us-east-1)
 *       access_key: "..."            # required unless $AWS_ACCESS_KEY_ID is set
 *       secret_key: "..."            # required unless $AWS_SECRET_ACCESS_KEY is set
 *       use_ssl: false               # https:// instead of http://
 *       create_bucket_on_empty: true # create the bucket at start when it does not exist
 *
 * Strata also reads `session_token` there (then $AWS_SESSION_TOKEN when the
 * keys come from the environment). Other keys are ignored with a warning, as
 * LogsGO's YAML decoder ignores them. How the client talks to the endpoint
 * (timeouts, retries, part size, addressing style, CA file) comes from the
 * --s3.* options.
 */
#ifndef STRATA_S3_CONFIG_H
#define STRATA_S3_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct s3_config {
    /* From the remote_store YAML (and the environment). Owned strings. */
    char *provider, *endpoint, *bucket, *region;
    char *access_key, *secret_key, *session_token;
    bool use_ssl, create_bucket_on_empty;
    /* From the --s3.* options. */
    bool virtual_hosted;
    char *ca_file; /* NULL: the system's CAs */
    int64_t connect_timeout_ns, request_timeout_ns;
    int max_retries;
    int64_t retry_base_ns, retry_max_ns;
    uint64_t part_size;
    int max_parallel;
    int delete_batch; /* keys per DeleteObjects request, 1..1000 */
    /* Set by s3_config_finish: "store config" or "environment". */
    const char *credentials_from;
};

/* Looks up an environment variable; NULL when unset. */
typedef const char *(*s3_env_fn)(const char *name, void *arg);

/* An endpoint split for building URLs: "http"/"https" and host[:port] ([v6]:port). */
struct s3_endpoint {
    char scheme[8];
    char host[256];
};

/*
 * Parse an endpoint as LogsGO writes it ("host:port", scheme from use_ssl)
 * or as a URL ("https://host:port", an optional trailing '/'). Returns 0, or
 * STRATA_EINVAL with a message: empty host, a path after the host, an
 * unknown scheme, or a scheme that contradicts use_ssl.
 */
int s3_endpoint_parse(const char *endpoint, bool use_ssl, struct s3_endpoint *out, char *err,
                      size_t errlen);

/* Every field empty or at the built-in defaults of the --s3.* options. */
void s3_config_init(struct s3_config *c);
/* Free the strings; c can be initialised again. NULL is a no-op. */
void s3_config_release(struct s3_config *c);

/*
 * Read a remote_store YAML document into c (fields it sets replace earlier
 * values). origin names the document in messages (a path, or "--store-config").
 * Returns 0, or STRATA_EINVAL with a message in err: malformed YAML, no
 * remote_store mapping, a value that is not a scalar, a bad boolean.
 */
int s3_config_parse_yaml(struct s3_config *c, const char *text, size_t len, const char *origin,
                         char *err, size_t errlen);

/*
 * Complete c from the environment (env NULL means getenv): credentials when
 * the YAML gave neither key, the session token, the region; then check it.
 * Returns 0, or STRATA_EINVAL naming what is wrong: a blank provider,
 * endpoint or bucket, missing or half-given credentials, an endpoint that
 * does not parse or whose scheme contradicts use_ssl.
 */
int s3_config_finish(struct s3_config *c, s3_env_fn env, void *env_arg, char *err, size_t errlen);

/*
 * The whole configuration from the server's options: the remote_store YAML
 * from --store-config-path or --store-config, the --s3.* options, then
 * s3_config_finish with the process environment. When neither option is
 * set, returns 0 with *configured false (no bucket: LogsGO then deletes
 * aged data instead of moving it). Errors as above, plus both options given
 * and an unreadable file.
 */
int s3_config_from_options(const struct config *cfg, struct s3_config *out, bool *configured,
                           char *err, size_t errlen);

#endif
