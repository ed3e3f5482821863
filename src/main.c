/*
 * main.c - flags and configuration in, a running server out. Nothing else:
 * `strata <command>` (push, query, ...) is the client, src/client/cli.h.
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/version.h"
#include "server/server.h"

int main(int argc, char **argv)
{
    if (argc > 1 && cli_is_command(argv[1]))
        return cli_main(argc - 1, argv + 1);
    struct config cfg;
    config_init(&cfg);
    int help = 0;
    char err[1024];
    if (config_parse_args(&cfg, argc, (const char *const *)argv, &help, err, sizeof(err)) < 0) {
        fprintf(stderr, "strata: %s\n", err);
        config_release(&cfg);
        return 2;
    }
    if (help) {
        if (help == 1)
            config_print_help(stdout);
        else if (help == 2)
            printf("strata %s (revision %s, built %s; Loki API %s)\n", strata_version,
                   strata_revision, strata_build_date, strata_loki_version);
        else
            config_print_markdown(stdout);
        config_release(&cfg);
        return 0;
    }
    int lvl = log_level_parse(cfg.log_level);
    if (lvl < 0) {
        fprintf(stderr,
                "strata: invalid value \"%s\" for --log.level: expected debug, info, "
                "warn or error\n",
                cfg.log_level);
        config_release(&cfg);
        return 2;
    }
    log_set_level((enum log_level)lvl);
    int rc = server_run(&cfg);
    metrics_reset();
    config_release(&cfg);
    return rc;
}
