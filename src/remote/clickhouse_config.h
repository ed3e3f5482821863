/*
 * clickhouse_config.h - the ClickHouse tier's settings, resolved and checked.
 *
 * The options live in src/remote/clickhouse_options.def (flags --clickhouse.url,
 * ..., and the keys of a clickhouse: section in the --config.file YAML). They
 * may also come from a file of their own, --clickhouse.config-path, holding
 * the same clickhouse: section (as LogsGO keeps its store config apart). The
 * values combine, weakest first: built-in defaults < --config.file <
 * --clickhouse.config-path < flags on the command line.
 *
 * clickhouse_config_resolve applies that rule and checks every value, so the
 * tier and its tools can trust the result: the URL is http(s) without
 * credentials in it and without a trailing '/', database and table are plain
 * identifiers, the layout is known, batch sizes and times are in range.
 */
#ifndef STRATA_CLICKHOUSE_CONFIG_H
#define STRATA_CLICKHOUSE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

enum clickhouse_layout {
    CLICKHOUSE_LAYOUT_STRATA,  /* Strata's tables: <table>, <table>_streams, <table>_batches */
    CLICKHOUSE_LAYOUT_LOGTHRA, /* Logthra's logs.log (+ <table>_strata_batches for replays) */
};

/* The largest batch_max_rows: ClickHouse's max_insert_block_size, so an INSERT is one block. */
#define CLICKHOUSE_MAX_BATCH_ROWS 1048576

struct clickhouse_config {
    char *url; /* "http://host:port", no trailing '/' */
    char *database, *table;
    char *user, *password;
    enum clickhouse_layout layout;
    int64_t batch_max_rows;    /* 1..CLICKHOUSE_MAX_BATCH_ROWS */
    int64_t batch_max_wait_ns; /* >= 0 */
    int64_t timeout_ns;        /* > 0: one HTTP request */
    int64_t retry_max_time_ns; /* >= 0: how long an insert is retried */
};

/*
 * Fill out from cfg (and the file named by cfg->clickhouse_config_path, if
 * any). Returns 0, or STRATA_EINVAL with a message naming the option or the
 * file line in err; out is then released. cfg->clickhouse_url may be empty
 * (the tier is off); the result's url is then "" too and nothing else is
 * checked beyond the file.
 */
int clickhouse_config_resolve(const struct config *cfg, struct clickhouse_config *out, char *err,
                              size_t errlen);
/* Free the strings of c; a released (or zeroed) config may be released again. */
void clickhouse_config_release(struct clickhouse_config *c);
/* "strata" or "logthra". */
const char *clickhouse_layout_name(enum clickhouse_layout l);
/*
 * One line for logs: url, layout, database.table, user and whether a
 * password is set (never the password itself).
 */
void clickhouse_config_describe(const struct clickhouse_config *c, char *out, size_t cap);

#endif
