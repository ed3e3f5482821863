#include "remote/s3_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"

/* The longest store config file read (LogsGO's are a few hundred bytes). */
#define STORE_CONFIG_MAX (1 << 20)

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return STRATA_EINVAL;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? xstrdup(v) : NULL;
}

static bool blank(const char *s)
{
    if (!s)
        return true;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

static void copy_options(struct s3_config *c, const struct config *cfg)
{
    c->virtual_hosted = cfg->s3_virtual_hosted_style;
    set_str(&c->ca_file, cfg->s3_ca_file && cfg->s3_ca_file[0] ? cfg->s3_ca_file : NULL);
    c->connect_timeout_ns = cfg->s3_connect_timeout;
    c->request_timeout_ns = cfg->s3_request_timeout;
    c->max_retries = cfg->s3_max_retries < 0 ? 0 : (int)cfg->s3_max_retries;
    c->retry_base_ns = cfg->s3_retry_base_delay;
    c->retry_max_ns = cfg->s3_retry_max_delay;
    c->part_size = cfg->s3_part_size > 0 ? (uint64_t)cfg->s3_part_size : 1;
    c->max_parallel = cfg->s3_max_parallel < 1 ? 1 : (int)cfg->s3_max_parallel;
    c->delete_batch = cfg->s3_delete_batch_size < 1      ? 1
                      : cfg->s3_delete_batch_size > 1000 ? 1000
                                                         : (int)cfg->s3_delete_batch_size;
}

void s3_config_init(struct s3_config *c)
{
    memset(c, 0, sizeof(*c));
    /* The defaults are the option table's, parsed by the same code as flags. */
    struct config def;
    config_init(&def);
    copy_options(c, &def);
    config_release(&def);
}

void s3_config_release(struct s3_config *c)
{
    if (!c)
        return;
    free(c->provider);
    free(c->endpoint);
    free(c->bucket);
    free(c->region);
    free(c->access_key);
    free(c->secret_key);
    free(c->session_token);
    free(c->ca_file);
    memset(c, 0, sizeof(*c));
}

/* ---- the remote_store YAML ------------------------------------------------ */

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0", ""};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!strcasecmp(v, yes[i])) {
            *out = true;
            return 0;
        }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (!strcasecmp(v, no[i])) {
            *out = false;
            return 0;
        }
    return STRATA_EINVAL;
}

static int set_field(struct s3_config *c, const char *key, const char *v, const char *origin,
                     size_t line, char *err, size_t errlen)
{
    char **str = NULL;
    bool *flag = NULL;
    if (!strcmp(key, "provider"))
        str = &c->provider;
    else if (!strcmp(key, "endpoint"))
        str = &c->endpoint;
    else if (!strcmp(key, "bucket"))
        str = &c->bucket;
    else if (!strcmp(key, "region"))
        str = &c->region;
    else if (!strcmp(key, "access_key"))
        str = &c->access_key;
    else if (!strcmp(key, "secret_key"))
        str = &c->secret_key;
    else if (!strcmp(key, "session_token"))
        str = &c->session_token;
    else if (!strcmp(key, "use_ssl"))
        flag = &c->use_ssl;
    else if (!strcmp(key, "create_bucket_on_empty"))
        flag = &c->create_bucket_on_empty;
    if (str) {
        set_str(str, v);
        return 0;
    }
    if (flag) {
        if (parse_bool(v, flag) < 0)
            return fail(err, errlen, "%s:%zu: remote_store.%s: \"%s\" is not true or false", origin,
                        line, key, v);
        return 0;
    }
    log_warn("%s:%zu: ignoring unknown key remote_store.%s", origin, line, key);
    return 0;
}

struct yaml_walk {
    yaml_parser_t p;
    yaml_event_t ev;
    bool have_ev;
    const char *origin;
    char *err;
    size_t errlen;
};

/* The next event into w->ev (the previous one is freed). */
static int next_event(struct yaml_walk *w)
{
    if (w->have_ev)
        yaml_event_delete(&w->ev);
    w->have_ev = false;
    if (!yaml_parser_parse(&w->p, &w->ev))
        return fail(w->err, w->errlen, "%s:%zu:%zu: %s", w->origin, w->p.problem_mark.line + 1,
                    w->p.problem_mark.column + 1,
                    w->p.problem ? w->p.problem : "YAML syntax error");
    w->have_ev = true;
    if (w->ev.type == YAML_ALIAS_EVENT)
        return fail(w->err, w->errlen, "%s:%zu: YAML aliases are not supported", w->origin,
                    w->ev.start_mark.line + 1);
    return 0;
}

/* Skip the node whose first event is w->ev (a scalar, or a whole mapping or sequence). */
static int skip_node(struct yaml_walk *w)
{
    int depth = 0;
    for (;;) {
        yaml_event_type_t t = w->ev.type;
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT)
            depth++;
        else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT)
            depth--;
        if (depth <= 0)
            return 0;
        int rc = next_event(w);
        if (rc)
            return rc;
    }
}

static int parse_remote_store(struct yaml_walk *w, struct s3_config *c)
{
    for (;;) {
        int rc = next_event(w);
        if (rc)
            return rc;
        if (w->ev.type == YAML_MAPPING_END_EVENT)
            return 0;
        if (w->ev.type != YAML_SCALAR_EVENT)
            return fail(w->err, w->errlen, "%s:%zu: remote_store keys must be plain names",
                        w->origin, w->ev.start_mark.line + 1);
        char key[128];
        snprintf(key, sizeof(key), "%s", (const char *)w->ev.data.scalar.value);
        size_t line = w->ev.start_mark.line + 1;
        if ((rc = next_event(w)))
            return rc;
        if (w->ev.type != YAML_SCALAR_EVENT)
            return fail(w->err, w->errlen, "%s:%zu: remote_store.%s must be a single value",
                        w->origin, line, key);
        if ((rc = set_field(c, key, (const char *)w->ev.data.scalar.value, w->origin, line, w->err,
                            w->errlen)))
            return rc;
    }
}

int s3_config_parse_yaml(struct s3_config *c, const char *text, size_t len, const char *origin,
                         char *err, size_t errlen)
{
    struct yaml_walk w;
    memset(&w, 0, sizeof(w));
    w.origin = origin;
    w.err = err;
    w.errlen = errlen;
    if (!yaml_parser_initialize(&w.p))
        return fail(err, errlen, "%s: cannot initialise the YAML parser", origin);
    yaml_parser_set_input_string(&w.p, (const unsigned char *)text, len);
    bool found = false;
    int rc;
    /* stream start, document start (or an empty stream), the top-level mapping */
    do {
        rc = next_event(&w);
    } while (!rc &&
             (w.ev.type == YAML_STREAM_START_EVENT || w.ev.type == YAML_DOCUMENT_START_EVENT));
    if (rc)
        goto done;
    if (w.ev.type != YAML_MAPPING_START_EVENT) {
        if (w.ev.type == YAML_STREAM_END_EVENT ||
            (w.ev.type == YAML_SCALAR_EVENT && w.ev.data.scalar.length == 0))
            rc = fail(err, errlen, "%s: empty; expected a remote_store mapping", origin);
        else
            rc = fail(err, errlen, "%s:%zu: expected a mapping with a remote_store key", origin,
                      w.ev.start_mark.line + 1);
        goto done;
    }
    for (;;) {
        if ((rc = next_event(&w)))
            goto done;
        if (w.ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (w.ev.type != YAML_SCALAR_EVENT) {
            rc = fail(err, errlen, "%s:%zu: keys must be plain names", origin,
                      w.ev.start_mark.line + 1);
            goto done;
        }
        bool is_rs = !strcmp((const char *)w.ev.data.scalar.value, "remote_store");
        size_t line = w.ev.start_mark.line + 1;
        if ((rc = next_event(&w)))
            goto done;
        if (!is_rs) {
            if ((rc = skip_node(&w)))
                goto done;
            continue;
        }
        if (w.ev.type != YAML_MAPPING_START_EVENT) {
            rc = fail(err, errlen, "%s:%zu: remote_store must be a mapping of settings", origin,
                      line);
            goto done;
        }
        if ((rc = parse_remote_store(&w, c)))
            goto done;
        found = true;
    }
    if (!found)
        rc = fail(err, errlen, "%s: no remote_store section", origin);
done:
    if (w.have_ev)
        yaml_event_delete(&w.ev);
    yaml_parser_delete(&w.p);
    return rc;
}

/* ---- endpoint and environment --------------------------------------------- */

int s3_endpoint_parse(const char *endpoint, bool use_ssl, struct s3_endpoint *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *e = endpoint ? endpoint : "";
    while (*e == ' ')
        e++;
    const char *scheme = use_ssl ? "https" : "http";
    const char *sep = strstr(e, "://");
    if (sep) {
        size_t n = (size_t)(sep - e);
        if (n == 4 && !strncasecmp(e, "http", 4)) {
            if (use_ssl)
                return fail(err, errlen,
                            "endpoint \"%s\" says http:// but use_ssl is true; drop the scheme or "
                            "make them agree",
                            endpoint);
            scheme = "http";
        } else if (n == 5 && !strncasecmp(e, "https", 5)) {
            scheme = "https";
        } else {
            return fail(err, errlen, "endpoint \"%s\": unknown scheme (use http:// or https://)",
                        endpoint);
        }
        e = sep + 3;
    }
    size_t n = strlen(e);
    while (n && (e[n - 1] == '/' || e[n - 1] == ' '))
        n--;
    if (n == 0)
        return fail(err, errlen, "endpoint \"%s\" has no host", endpoint);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)e[i];
        if (ch == '/' || ch == '?' || ch == '#')
            return fail(err, errlen,
                        "endpoint \"%s\": only a host and port are accepted, not a path", endpoint);
        if (ch <= ' ' || ch == '@')
            return fail(err, errlen, "endpoint \"%s\": invalid character in the host", endpoint);
    }
    if (n >= sizeof(out->host))
        return fail(err, errlen, "endpoint \"%s\" is too long", endpoint);
    memcpy(out->host, e, n);
    out->host[n] = '\0';
    snprintf(out->scheme, sizeof(out->scheme), "%s", scheme);
    return 0;
}

static const char *process_env(const char *name, void *arg)
{
    (void)arg;
    return getenv(name);
}

int s3_config_finish(struct s3_config *c, s3_env_fn env, void *env_arg, char *err, size_t errlen)
{
    if (!env)
        env = process_env;
    static const char required[] =
        "(LogsGO's remote_store needs provider, endpoint, bucket, access_key and secret_key)";
    if (blank(c->provider))
        return fail(err, errlen, "remote_store.provider is blank %s", required);
    if (blank(c->endpoint))
        return fail(err, errlen, "remote_store.endpoint is blank %s", required);
    if (blank(c->bucket))
        return fail(err, errlen, "remote_store.bucket is blank %s", required);
    for (const char *b = c->bucket; *b; b++)
        if (*b == '/' || (unsigned char)*b <= ' ')
            return fail(err, errlen, "remote_store.bucket \"%s\" is not a valid bucket name",
                        c->bucket);
    bool have_ak = !blank(c->access_key), have_sk = !blank(c->secret_key);
    if (have_ak != have_sk)
        return fail(err, errlen, "remote_store.%s is blank but %s is set; give both keys",
                    have_ak ? "secret_key" : "access_key", have_ak ? "access_key" : "secret_key");
    if (have_ak) {
        c->credentials_from = "store config";
    } else {
        const char *ak = env("AWS_ACCESS_KEY_ID", env_arg);
        const char *sk = env("AWS_SECRET_ACCESS_KEY", env_arg);
        if (blank(ak) || blank(sk))
            return fail(err, errlen,
                        "remote_store.access_key and secret_key are blank and "
                        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not both set %s",
                        required);
        set_str(&c->access_key, ak);
        set_str(&c->secret_key, sk);
        if (blank(c->session_token)) {
            const char *tok = env("AWS_SESSION_TOKEN", env_arg);
            set_str(&c->session_token, blank(tok) ? NULL : tok);
        }
        c->credentials_from = "environment";
    }
    if (blank(c->session_token))
        set_str(&c->session_token, NULL);
    if (blank(c->region)) {
        const char *r = env("AWS_REGION", env_arg);
        if (blank(r))
            r = env("AWS_DEFAULT_REGION", env_arg);
        set_str(&c->region, blank(r) ? "us-east-1" : r);
    }
    struct s3_endpoint ep;
    int rc = s3_endpoint_parse(c->endpoint, c->use_ssl, &ep, err, errlen);
    if (rc)
        return rc;
    if (!strcmp(ep.scheme, "https"))
        c->use_ssl = true;
    if (c->part_size < 1)
        c->part_size = 1;
    if (c->max_parallel < 1)
        c->max_parallel = 1;
    if (c->delete_batch < 1 || c->delete_batch > 1000)
        c->delete_batch = 1000;
    return 0;
}

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "cannot read --store-config-path %s: %s", path, strerror(errno));
    char *text = xmalloc(STORE_CONFIG_MAX + 1);
    size_t n = fread(text, 1, STORE_CONFIG_MAX + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > STORE_CONFIG_MAX) {
        free(text);
        return fail(err, errlen, "--store-config-path %s: %s", path,
                    bad ? "read error" : "larger than 1 MiB");
    }
    text[n] = '\0';
    *out = text;
    *len = n;
    return 0;
}

int s3_config_from_options(const struct config *cfg, struct s3_config *out, bool *configured,
                           char *err, size_t errlen)
{
    s3_config_init(out);
    *configured = false;
    bool have_path = cfg->store_config_path && cfg->store_config_path[0];
    bool have_inline = cfg->store_config && cfg->store_config[0];
    if (!have_path && !have_inline)
        return 0;
    if (have_path && have_inline)
        return fail(err, errlen,
                    "--store-config-path and --store-config are both set; give the bucket's "
                    "configuration one way only");
    copy_options(out, cfg);
    int rc;
    if (have_path) {
        char *text = NULL;
        size_t len = 0;
        rc = read_file(cfg->store_config_path, &text, &len, err, errlen);
        if (!rc)
            rc = s3_config_parse_yaml(out, text, len, cfg->store_config_path, err, errlen);
        free(text);
    } else {
        rc = s3_config_parse_yaml(out, cfg->store_config, strlen(cfg->store_config),
                                  "--store-config", err, errlen);
    }
    if (!rc)
        rc = s3_config_finish(out, NULL, NULL, err, errlen);
    if (rc) {
        s3_config_release(out);
        s3_config_init(out);
        return rc;
    }
    *configured = true;
    return 0;
}
