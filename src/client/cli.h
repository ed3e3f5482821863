/*
 * cli.h - `strata <command>`: the command-line client, in the server's binary.
 *
 * main.c asks cli_is_command(argv[1]); when it says yes the process is a
 * client, not a server, and cli_main runs the command: push, query, labels,
 * series, stats, tail (or help). Exit codes and messages are documented in
 * docs/CLIENT.md and are stable for scripts:
 *
 *   0  success
 *   1  the server refused the request (a bad query, a malformed entry, a limit)
 *   2  usage: a bad flag or argument, an unreadable file; nothing was sent
 *   3  the server could not be reached or failed (connection, TLS, timeout, 5xx)
 *   4  authentication or permission refused (401/403, UNAUTHENTICATED, PERMISSION_DENIED)
 *
 * Errors go to stderr as one line, "strata <command>: <message>".
 */
#ifndef STRATA_CLIENT_CLI_H
#define STRATA_CLIENT_CLI_H

#include <stdbool.h>

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REFUSED = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_UNREACHABLE = 3,
    CLI_EXIT_AUTH = 4,
};

/* True when name is a client command ("push", "query", ..., "help"). */
bool cli_is_command(const char *name);
/* Run the command argv[0] with its arguments; returns the exit code. */
int cli_main(int argc, char **argv);

#endif
