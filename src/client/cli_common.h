/*
 * cli_common.h - what the CLI's commands share: flags, connection options,
 * the time range, errors and exit codes, HTTP GETs.
 *
 * Each command (cli_push.c, cli_query.c, cli_tail.c) declares its flags in a
 * table; cli_parse applies the connection flags (and the environment's
 * STRATA_ADDR, STRATA_GRPC_ADDR, STRATA_TENANT, STRATA_TOKEN) to struct cli
 * itself and hands the command's own flags to its callback. --help output
 * is made from the same tables.
 */
#ifndef STRATA_CLIENT_CLI_COMMON_H
#define STRATA_CLIENT_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/cli.h"
#include "client/cli_result.h"
#include "client/transport.h"
#include "core/buf.h"
#include "strata.h"

/* Flag ids below CLI_FLAG_OWN are handled by cli_parse; commands number theirs from it. */
enum {
    CF_ADDR = 1,
    CF_GRPC_ADDR,
    CF_TENANT,
    CF_TOKEN,
    CF_TOKEN_FILE,
    CF_CA_FILE,
    CF_CERT_FILE,
    CF_KEY_FILE,
    CF_TLS_SERVER_NAME,
    CF_TLS,
    CF_TIMEOUT,
    CF_SINCE,
    CF_FROM,
    CF_TO,
    CF_OUTPUT,
    CF_HELP,
    CLI_FLAG_OWN = 100,
};

struct cli_flag {
    const char *name;  /* long name, without "--" */
    char short_name;   /* or 0 */
    const char *value; /* the value's placeholder ("N", "DUR"), NULL for a switch */
    int id;
    const char *help;
};

/* The connection flags every command takes, and the time-range/output flags of the readers. */
extern const struct cli_flag cli_conn_flags[];
extern const struct cli_flag cli_range_flags[];

struct cli {
    const char *cmd;                      /* the command's name, for messages */
    const char *synopsis;                 /* "strata query [flags] QUERY" */
    const char *about;                    /* a paragraph for --help */
    const struct cli_flag *const *tables; /* NULL-terminated */
    const char *addr;                     /* HTTP base URL */
    const char *grpc_addr;                /* gRPC host:port */
    struct strata_options o;              /* TLS, token, tenant, timeout */
    bool grpc_tls;
    char *token_buf; /* --token-file's contents */
    const char *since_default;
    const char *since, *from, *to;
    int64_t start_ns, end_ns; /* after cli_time_range */
    enum out_format output;
    struct http_conn *http;
};

/*
 * Parse argv (argv[0] is the command): flags anywhere, "--" ends them. The
 * command's own flags go to on_flag (return 0, or an exit code to stop);
 * positional arguments are collected into pos (at most max_pos). Returns 0,
 * CLI_EXIT_USAGE after printing the problem, or -1 after printing --help
 * (the command then exits 0).
 */
int cli_parse(struct cli *c, int argc, char **argv,
              int (*on_flag)(struct cli *c, void *ctx, int id, const char *value), void *ctx,
              char **pos, int *n_pos, int max_pos);
void cli_release(struct cli *c);

/* Print "strata <cmd>: <message>" and a pointer to --help; returns CLI_EXIT_USAGE. */
__attribute__((format(printf, 2, 3))) int cli_usage(struct cli *c, const char *fmt, ...);
/* Print "strata <cmd>: <message>"; returns the exit code for rc (see cli.h). */
__attribute__((format(printf, 3, 4))) int cli_fail(struct cli *c, int rc, const char *fmt, ...);
/* The exit code for a STRATA_E* code. */
int cli_exit_code(int rc);

/* Resolve --since/--from/--to into start_ns/end_ns; prints and returns CLI_EXIT_USAGE if bad. */
int cli_time_range(struct cli *c);
/* Parse a duration flag ("15m", "1h30m", "2.5s"): 0 or CLI_EXIT_USAGE printed. */
int cli_duration(struct cli *c, const char *flag, const char *v, int64_t *ns);
/* Parse a non-negative integer flag. */
int cli_uint(struct cli *c, const char *flag, const char *v, uint64_t max, uint64_t *out);

/* Append "&name=value" (value URL-escaped; the first gets '?'). */
void cli_param(struct buf *q, const char *name, const char *value);
void cli_param_int(struct buf *q, const char *name, int64_t v);
/*
 * GET path + q from the HTTP address; the answer's body into resp. Returns 0,
 * or prints the failure ("HTTP 400: <server's text>", "cannot connect ...")
 * and returns its exit code.
 */
int cli_get(struct cli *c, const char *path, const struct buf *q, struct buf *resp);

/* Write out to stdout: 0, or an exit code after printing why it failed. */
int cli_write(struct cli *c, const struct buf *out);

/* The commands (cli_push.c, cli_query.c, cli_tail.c): argv[0] is the command's name. */
int cmd_push(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_labels(int argc, char **argv);
int cmd_series(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_tail(int argc, char **argv);

#endif
