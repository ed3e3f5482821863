/*
 * cli.c - `strata <command>`: dispatch, flags, the time range, errors, HTTP GETs.
 */
#include "client/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cli_common.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"

static int cmd_help(int argc, char **argv);

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *about;
} commands[] = {
    {"push", cmd_push, "send lines from files or stdin, with labels (batched, retried)"},
    {"query", cmd_query, "run a LogQL or LogsGoQL query; lines, tables or JSON lines"},
    {"labels", cmd_labels, "list label names, or the values of one label"},
    {"series", cmd_series, "list the streams (label sets) matching selectors"},
    {"stats", cmd_stats, "count the streams, chunks, entries and bytes a query would read"},
    {"tail", cmd_tail, "follow new lines matching a query (WebSocket)"},
    {"help", cmd_help, "this list"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

bool cli_is_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, commands[i].name))
            return true;
    return false;
}

int cli_main(int argc, char **argv)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[0], commands[i].name))
            return commands[i].run(argc, argv);
    fprintf(stderr, "strata: unknown command \"%s\"\n", argv[0]);
    return CLI_EXIT_USAGE;
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("Usage: strata [server flags]       run the server (strata --help lists its flags)\n"
           "       strata <command> [flags]    talk to a server\n\nCommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        printf("  %-8s %s\n", commands[i].name, commands[i].about);
    printf("\n'strata <command> --help' shows a command's flags. Exit codes: 0 ok, 1 refused by\n"
           "the server, 2 usage, 3 server unreachable or failing, 4 authentication or permission\n"
           "refused. The environment may set STRATA_ADDR, STRATA_GRPC_ADDR, STRATA_TENANT and\n"
           "STRATA_TOKEN. See docs/CLIENT.md.\n");
    return CLI_EXIT_OK;
}

/* ---- flags ---- */

const struct cli_flag cli_conn_flags[] = {
    {"addr", 0, "URL", CF_ADDR,
     "the server's HTTP address (default http://127.0.0.1:3100, $STRATA_ADDR)"},
    {"grpc-addr", 0, "HOST:PORT", CF_GRPC_ADDR,
     "the server's gRPC address, for push (default 127.0.0.1:9095, $STRATA_GRPC_ADDR)"},
    {"tenant", 0, "ID", CF_TENANT, "the tenant (X-Scope-OrgID; $STRATA_TENANT)"},
    {"token", 0, "TOKEN", CF_TOKEN, "a bearer token ($STRATA_TOKEN)"},
    {"token-file", 0, "FILE", CF_TOKEN_FILE, "read the bearer token from FILE"},
    {"ca-file", 0, "FILE", CF_CA_FILE, "PEM certificates to check the server's with (TLS)"},
    {"cert-file", 0, "FILE", CF_CERT_FILE, "client certificate for mutual TLS (PEM)"},
    {"key-file", 0, "FILE", CF_KEY_FILE, "client certificate's key (PEM)"},
    {"tls", 0, NULL, CF_TLS, "use TLS for gRPC too (HTTP follows the scheme of --addr)"},
    {"tls-server-name", 0, "NAME", CF_TLS_SERVER_NAME,
     "the name to check in the gRPC server's certificate"},
    {"timeout", 0, "DUR", CF_TIMEOUT, "per request, connecting included (default 30s)"},
    {"help", 'h', NULL, CF_HELP, "show this help"},
    {0},
};

const struct cli_flag cli_range_flags[] = {
    {"since", 0, "DUR", CF_SINCE, "how far back from --to (default 1h; 6h for labels, series)"},
    {"from", 0, "TIME", CF_FROM, "start: RFC 3339, unix seconds or nanoseconds"},
    {"to", 0, "TIME", CF_TO, "end (default now)"},
    {"output", 'o', "FORMAT", CF_OUTPUT, "text (default), raw or jsonl"},
    {0},
};

static const struct cli_flag *find_flag(const struct cli *c, const char *name, size_t len,
                                        char short_name)
{
    for (const struct cli_flag *const *t = c->tables; *t; t++)
        for (const struct cli_flag *f = *t; f->name; f++)
            if (short_name ? f->short_name == short_name
                           : strlen(f->name) == len && !strncmp(f->name, name, len))
                return f;
    return NULL;
}

static void print_help(const struct cli *c)
{
    printf("Usage: %s\n\n%s\n\nFlags:\n", c->synopsis, c->about);
    for (const struct cli_flag *const *t = c->tables; *t; t++)
        for (const struct cli_flag *f = *t; f->name; f++) {
            char left[64];
            snprintf(left, sizeof(left), "%s%c%s--%s%s%s", f->short_name ? "-" : "",
                     f->short_name ? f->short_name : ' ', f->short_name ? ", " : " ", f->name,
                     f->value ? " " : "", f->value ? f->value : "");
            printf("  %-28s %s\n", f->short_name ? left : left + 2, f->help);
        }
}

static int read_token_file(struct cli *c, const char *path)
{
    char err[512];
    free(c->token_buf);
    c->token_buf = NULL;
    if (read_small_file(path, 64 * 1024, &c->token_buf, err, sizeof(err)))
        return cli_usage(c, "--token-file: %s", err);
    size_t n = strlen(c->token_buf);
    while (n && (c->token_buf[n - 1] == '\n' || c->token_buf[n - 1] == '\r' ||
                 c->token_buf[n - 1] == ' '))
        c->token_buf[--n] = '\0';
    if (!n)
        return cli_usage(c, "--token-file: %s is empty", path);
    c->o.bearer_token = c->token_buf;
    return 0;
}

static int common_flag(struct cli *c, int id, const char *v)
{
    switch (id) {
    case CF_ADDR: c->addr = v; return 0;
    case CF_GRPC_ADDR: c->grpc_addr = v; return 0;
    case CF_TENANT: c->o.tenant = v; return 0;
    case CF_TOKEN: c->o.bearer_token = v; return 0;
    case CF_TOKEN_FILE: return read_token_file(c, v);
    case CF_CA_FILE: c->o.tls.ca_file = v; return 0;
    case CF_CERT_FILE: c->o.tls.cert_file = v; return 0;
    case CF_KEY_FILE: c->o.tls.key_file = v; return 0;
    case CF_TLS: c->grpc_tls = true; return 0;
    case CF_TLS_SERVER_NAME: c->o.tls.server_name = v; return 0;
    case CF_TIMEOUT: {
        int64_t ns;
        if (cli_duration(c, "--timeout", v, &ns))
            return CLI_EXIT_USAGE;
        if (ns < NS_PER_MS || ns / NS_PER_MS > INT32_MAX)
            return cli_usage(c, "--timeout: %s is out of range", v);
        c->o.timeout_ms = (int)(ns / NS_PER_MS);
        return 0;
    }
    case CF_SINCE: c->since = v; return 0;
    case CF_FROM: c->from = v; return 0;
    case CF_TO: c->to = v; return 0;
    case CF_OUTPUT:
        if (!strcmp(v, "text"))
            c->output = OUT_TEXT;
        else if (!strcmp(v, "raw"))
            c->output = OUT_RAW;
        else if (!strcmp(v, "jsonl"))
            c->output = OUT_JSONL;
        else
            return cli_usage(c, "--output: \"%s\" is not text, raw or jsonl", v);
        return 0;
    default: return 0;
    }
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && v[0] ? v : def;
}

int cli_parse(struct cli *c, int argc, char **argv,
              int (*on_flag)(struct cli *c, void *ctx, int id, const char *value), void *ctx,
              char **pos, int *n_pos, int max_pos)
{
    c->cmd = argv[0];
    strata_options_init(&c->o);
    c->o.timeout_ms = 30000;
    c->addr = env_or("STRATA_ADDR", "http://127.0.0.1:3100");
    c->grpc_addr = env_or("STRATA_GRPC_ADDR", "127.0.0.1:9095");
    c->o.tenant = env_or("STRATA_TENANT", NULL);
    c->o.bearer_token = env_or("STRATA_TOKEN", NULL);
    *n_pos = 0;
    bool flags_done = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (flags_done || a[0] != '-' || !strcmp(a, "-")) {
            if (*n_pos >= max_pos)
                return cli_usage(c, "unexpected argument \"%s\"", a);
            pos[(*n_pos)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            flags_done = true;
            continue;
        }
        const struct cli_flag *f;
        const char *value = NULL;
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            f = find_flag(c, name, eq ? (size_t)(eq - name) : strlen(name), 0);
            if (eq)
                value = eq + 1;
        } else {
            f = find_flag(c, NULL, 0, a[1]);
            if (f && a[2]) {
                if (f->value)
                    value = a + 2; /* -oraw: a short flag glued to its value */
                else
                    f = NULL;
            }
        }
        if (!f)
            return cli_usage(c, "unknown flag %s", a);
        if (f->value && !value) {
            if (i + 1 >= argc)
                return cli_usage(c, "%s needs a value (%s)", a, f->value);
            value = argv[++i];
        } else if (!f->value && value) {
            return cli_usage(c, "--%s takes no value", f->name);
        }
        if (f->id == CF_HELP) {
            print_help(c);
            return -1;
        }
        int rc =
            f->id < CLI_FLAG_OWN ? common_flag(c, f->id, value) : on_flag(c, ctx, f->id, value);
        if (rc)
            return rc;
    }
    return 0;
}

void cli_release(struct cli *c)
{
    http_conn_free(c->http);
    c->http = NULL;
    free(c->token_buf);
    c->token_buf = NULL;
}

/* ---- errors ---- */

int cli_usage(struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "strata %s: ", c->cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'strata %s --help' for usage.\n", c->cmd);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_exit_code(int rc)
{
    switch (rc) {
    case 0: return CLI_EXIT_OK;
    case STRATA_EUNAUTH:
    case STRATA_EFORBIDDEN: return CLI_EXIT_AUTH;
    case STRATA_EUNAVAIL:
    case STRATA_ETIMEOUT:
    case STRATA_EINTERNAL:
    case STRATA_EIO:
    case STRATA_ENOSPC:
    case STRATA_ECORRUPT:
    case STRATA_ECANCELED: return CLI_EXIT_UNREACHABLE;
    default: return CLI_EXIT_REFUSED;
    }
}

int cli_fail(struct cli *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "strata %s: ", c->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return cli_exit_code(rc);
}

/* ---- values ---- */

int cli_duration(struct cli *c, const char *flag, const char *v, int64_t *ns)
{
    struct slice s = slice_from(v);
    if (clock_parse_prom_duration(s, ns) && clock_parse_go_duration(s, ns))
        return cli_usage(c, "%s: \"%s\" is not a duration (e.g. 30s, 15m, 1h30m, 7d)", flag, v);
    if (*ns < 0)
        return cli_usage(c, "%s: %s is negative", flag, v);
    return 0;
}

int cli_uint(struct cli *c, const char *flag, const char *v, uint64_t max, uint64_t *out)
{
    int64_t n;
    if (clock_parse_int64(slice_from(v), &n) || n < 0 || (uint64_t)n > max)
        return cli_usage(c, "%s: \"%s\" is not a number from 0 to %llu", flag, v,
                         (unsigned long long)max);
    *out = (uint64_t)n;
    return 0;
}

static int parse_time(struct cli *c, const char *flag, const char *v, int64_t now, int64_t *ns)
{
    if (!strcmp(v, "now")) {
        *ns = now;
        return 0;
    }
    if (clock_parse_loki_time(slice_from(v), ns))
        return cli_usage(c,
                         "%s: \"%s\" is not a time (RFC 3339 like 2026-01-02T15:04:05Z, unix "
                         "seconds, or unix nanoseconds)",
                         flag, v);
    return 0;
}

int cli_time_range(struct cli *c)
{
    int64_t now = clock_now_ns(), since;
    if (cli_duration(c, "--since", c->since ? c->since : c->since_default, &since))
        return CLI_EXIT_USAGE;
    c->end_ns = now;
    if (c->to && parse_time(c, "--to", c->to, now, &c->end_ns))
        return CLI_EXIT_USAGE;
    c->start_ns = c->end_ns - since;
    if (c->from && parse_time(c, "--from", c->from, now, &c->start_ns))
        return CLI_EXIT_USAGE;
    if (c->start_ns >= c->end_ns)
        return cli_usage(c, "the start (--from, --since) must be before the end (--to)");
    return 0;
}

/* ---- HTTP ---- */

void cli_param(struct buf *q, const char *name, const char *value)
{
    int rc = buf_append_char(q, q->len ? '&' : '?');
    if (!rc)
        rc = url_escape(q, name, strlen(name));
    if (!rc)
        rc = buf_append_char(q, '=');
    if (!rc)
        rc = url_escape(q, value, strlen(value));
    (void)rc; /* an overlong query fails in cli_get */
}

void cli_param_int(struct buf *q, const char *name, int64_t v)
{
    char t[24];
    snprintf(t, sizeof(t), "%lld", (long long)v);
    cli_param(q, name, t);
}

int cli_get(struct cli *c, const char *path, const struct buf *q, struct buf *resp)
{
    char err[1024];
    if (!c->http) {
        struct strata_options o = c->o;
        o.tls.enabled = !strncmp(c->addr, "https://", 8);
        bool scheme = strstr(c->addr, "://") != NULL;
        char url[1024];
        snprintf(url, sizeof(url), "%s%s", scheme ? "" : "http://", c->addr);
        if (http_conn_new(url, &o, &c->http, err, sizeof(err)))
            return cli_usage(c, "%s", err);
    }
    struct buf full;
    buf_init(&full, 1u << 20);
    if (buf_printf(&full, "%s%s", path, q && q->ptr ? q->ptr : "") < 0) {
        buf_release(&full);
        return cli_usage(c, "the query is too long");
    }
    struct send_result r;
    int rc = http_conn_request(c->http, "GET", full.ptr, NULL, SLICE_LIT(""), resp, &r);
    buf_release(&full);
    if (rc)
        return cli_fail(c, rc, "%s", r.msg);
    return 0;
}

int cli_write(struct cli *c, const struct buf *out)
{
    if (out->len && fwrite(out->ptr, 1, out->len, stdout) != out->len)
        return cli_fail(c, STRATA_EIO, "cannot write the output: %s", strerror(errno));
    if (fflush(stdout))
        return cli_fail(c, STRATA_EIO, "cannot write the output: %s", strerror(errno));
    return 0;
}
