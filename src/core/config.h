/*
 * config.h - every option of the server, declared once.
 *
 * Each room declares its options in its own X-macro file (src/<room>/options.def):
 *
 *     X(TYPE, field, "flag-name", "default", "help text")
 *
 * From those declarations come the fields of struct config, the command-line
 * flags (--flag-name=value, --flag-name value, and the single-dash forms), the
 * keys of the YAML config file (nested maps joined with '.', '_' and '-'
 * equivalent: `log: {level: debug}` sets log.level), `strata --help` and
 * docs/CONFIGURATION.md (`strata --help-md`). Defaults are written as text and
 * parsed by the same code as user input, so help and behaviour cannot drift.
 *
 * Types: STR (char *), BOOL (bool), INT (int64_t), FLOAT (double),
 * DURATION (int64_t ns; Prometheus/LogsGO form: 15m, 10d, 1h30m),
 * BYTES (int64_t; 64MiB, 256KB, 1048576).
 *
 * Precedence: defaults < YAML file (--config.file) < flags.
 *
 * Sections: a few top-level keys of the YAML file are not options but
 * structured sections (config_sections below, e.g. `overrides:`, per-tenant
 * limits). Their YAML subtree is kept as read (struct config_node, with line
 * numbers) and handed to the module that owns it (ingest/limits.h), which
 * checks it at start; the option table stays the one source of names, types
 * and defaults, since a section names options (config_find_limit). Loki's
 * `limits_config:` is read as the `limits.*` options (plus the query limits
 * Loki keeps there, e.g. max_query_series).
 */
#ifndef STRATA_CONFIG_H
#define STRATA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG__CTYPE_STR      char *
#define CONFIG__CTYPE_BOOL     bool
#define CONFIG__CTYPE_INT      int64_t
#define CONFIG__CTYPE_FLOAT    double
#define CONFIG__CTYPE_DURATION int64_t
#define CONFIG__CTYPE_BYTES    int64_t

struct config_section;

struct config {
#define X(type, field, name, def, help) CONFIG__CTYPE_##type field;
#include "core/options.def"
#include "ingest/options.def"
#include "query/options.def"
#include "remote/options.def"
#include "remote/clickhouse_options.def"
#include "server/options.def"
#include "server/grpc_options.def"
#include "server/auth_options.def"
#include "store/options.def"
#undef X
    /* Not options: where each value came from, for the status page. */
    unsigned char source[256];       /* private: per option index, 0 default, 1 file, 2 flag */
    struct config_section *sections; /* private: the file's sections (config_section) */
};

/* A YAML value of a section, as read: a scalar, a mapping or a sequence. */
struct config_node {
    char *key;   /* in a mapping: the key; NULL for sequence items and the section itself */
    char *value; /* a scalar's text; NULL for a mapping or a sequence */
    bool is_seq; /* a sequence (children are its items) rather than a mapping */
    size_t line; /* 1-based line in the file of its key (of the item in a sequence) */
    struct config_node *child, *next;
};

struct config_section {
    char *name, *origin; /* the top-level key; the file it came from */
    struct config_node *root;
    struct config_section *next;
};

/* The declared sections: name and the help text of the docs. */
struct config_section_def {
    const char *name, *help;
};
extern const struct config_section_def config_sections[];
extern const size_t config_section_count;

/* The section named name as read from the file, or NULL when the file had none. */
const struct config_section *config_section(const struct config *c, const char *name);

enum config_type {
    CONFIG_STR,
    CONFIG_BOOL,
    CONFIG_INT,
    CONFIG_FLOAT,
    CONFIG_DURATION,
    CONFIG_BYTES
};

struct config_option {
    enum config_type type;
    const char *name, *def, *help, *room;
    size_t offset;
};

/* The option table, in declaration order, and its length. */
extern const struct config_option config_options[];
extern const size_t config_option_count;

/* Set every option to its default. */
void config_init(struct config *c);
/* Free the strings and sections owned by c. */
void config_release(struct config *c);
/* Make dst a copy of src's options (strings duplicated; sections not copied); release it. */
void config_copy_options(struct config *dst, const struct config *src);
/*
 * Parse argv (argv[0] is skipped): loads --config.file first if given, then
 * applies flags. On error returns STRATA_EINVAL with a message naming the
 * option in err. *help_out is set to 1 for --help, 2 for --version, 3 for
 * --help-md (the caller prints and exits).
 */
int config_parse_args(struct config *c, int argc, const char *const *argv, int *help_out, char *err,
                      size_t errlen);
/* Load a YAML file into c. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Load YAML text into c (used by tests and --config.expand). */
int config_load_yaml(struct config *c, const char *text, size_t len, const char *origin, char *err,
                     size_t errlen);
/* Set one option by name from text (as a flag would). */
int config_set(struct config *c, const char *name, const char *value, char *err, size_t errlen);
const struct config_option *config_find(const char *name);
/* Set option o from text (as the config file would); STRATA_EINVAL with a message on error. */
int config_set_option(struct config *c, const struct config_option *o, const char *value, char *err,
                      size_t errlen);
/*
 * The option behind a per-tenant limit name as Loki's limits_config writes
 * it ('_' and '-' alike): "ingestion_rate_mb" is limits.ingestion-rate-mb,
 * and the query limits Loki keeps there map to their options
 * (max_query_series: query.max-series, max_entries_limit_per_query:
 * query.max-entries-limit, max_query_parallelism: query.parallelism,
 * query_timeout: query.timeout). NULL for any other name.
 */
const struct config_option *config_find_limit(const char *name);

/* Write `strata --help` and the markdown reference. */
void config_print_help(FILE *out);
void config_print_markdown(FILE *out);
/* The value of an option as text (secrets masked when mask is set). */
void config_format_value(const struct config *c, const struct config_option *o, char *out,
                         size_t cap, bool mask);
/* True for options whose values are secrets (names containing "secret", "password", "token",
 * and --store-config, whose inline YAML holds the S3 secret key). */
bool config_is_secret(const struct config_option *o);

/* Parse a byte size: 1048576, 64MiB, 256KB, 1GB, 4k. */
int config_parse_bytes(const char *s, int64_t *out);

#endif
