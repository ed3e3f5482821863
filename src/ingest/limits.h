/*
 * limits.h - what one tenant may push and query: Loki's per-tenant limits,
 * in one struct.
 *
 * Every ingest path checks the same limits (normalize.h for labels and
 * entries, ingest.h for the ingestion rate and the number of active streams);
 * the query APIs check the query ones (series, entries, time range, [range],
 * parallelism, timeout).
 *
 * Every tenant gets the options' values (`--limits.*`, and `--query.*` for
 * the query limits), unless the config file's `overrides:` section names it:
 *
 *     overrides:
 *       team-a:
 *         ingestion_rate_mb: 16
 *         max_global_streams_per_user: 20000
 *         max_query_series: 2000
 *       free-tier:
 *         ingestion_rate_mb: 0.5
 *         max_line_size: 16KB
 *         max_query_length: 24h
 *
 * A tenant's entry names limits as Loki's limits_config does
 * (config_find_limit): each is parsed by the option table like its option,
 * and the limits it does not name keep the options' values. The table is
 * built once at start (limits_table_new) and read without locks.
 */
#ifndef STRATA_LIMITS_H
#define STRATA_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/slice.h"

#define LIMITS_MAX_DISCOVER 32

struct tenant_limits {
    int64_t max_line_size; /* bytes, 0 = none */
    bool max_line_size_truncate;
    int64_t max_label_names_per_series;
    int64_t max_label_name_length, max_label_value_length;
    int64_t max_streams; /* active streams per tenant, 0 = none */
    int64_t stream_idle_ns;
    double rate_bytes, burst_bytes; /* token bucket; rate 0 = none */
    bool reject_old_samples;
    int64_t reject_old_samples_max_age_ns, creation_grace_period_ns;
    bool allow_structured_metadata;
    int64_t max_structured_metadata_size, max_structured_metadata_count; /* 0 = none */
    /* Labels consulted, in order, for service_name; n_discover 0 disables the label. */
    struct slice discover_service_name[LIMITS_MAX_DISCOVER];
    uint32_t n_discover;
    bool discover_log_levels;
    char *discover_buf; /* private: owns the names above */
    /* Query limits; 0 = none (the options --query.* and --limits.max-query-*). */
    int64_t max_query_series;      /* result series of a metric query */
    int64_t max_entries_per_query; /* largest `limit` of a log query */
    int64_t query_parallelism;     /* worker threads per query; 0 = one per core */
    int64_t query_timeout_ns;      /* a query running longer is stopped (504) */
    int64_t max_query_length_ns;   /* end - start */
    int64_t max_query_range_ns;    /* the [range] of range aggregations */
};

/*
 * Fill l from the --limits.* options. The service-name list is copied, so l
 * does not point into cfg. Returns STRATA_EINVAL with a message when the
 * list has more than LIMITS_MAX_DISCOVER names or a name that is not a valid
 * label name.
 */
int tenant_limits_from_config(struct tenant_limits *l, const struct config *cfg, char *err,
                              size_t errlen);
/* Free what tenant_limits_from_config allocated. */
void tenant_limits_release(struct tenant_limits *l);

struct limits_table;

/*
 * Build the table: the options' limits for every tenant, and one struct per
 * tenant of cfg's `overrides:` section. Returns STRATA_EINVAL with
 * "<file>:<line>: <problem>" in err for an entry that is not a valid tenant
 * id, a tenant named twice, a limit name that is not one (with the list of
 * names), a value its option does not accept, or a section that is not a
 * mapping of mappings.
 */
int limits_table_new(const struct config *cfg, struct limits_table **out, char *err, size_t errlen);
/* Free the table; NULL is a no-op. */
void limits_table_free(struct limits_table *t);
/* The limits of tenant (the options' unless overridden). Valid while t lives. */
const struct tenant_limits *limits_table_get(const struct limits_table *t, const char *tenant);
/* How many tenants the overrides section names. */
size_t limits_table_overrides(const struct limits_table *t);
/*
 * The query limits of a request's tenant text ("a", or "a|b" for a query
 * across tenants): for several tenants the strictest of each (the smallest
 * that is not 0, as Loki combines them), written into *scratch (its query
 * fields only; the ingest fields are the first tenant's) and returned;
 * for one tenant its own struct. *scratch is a shallow copy: never release it.
 */
const struct tenant_limits *limits_table_query(const struct limits_table *t,
                                               const char *tenant_spec,
                                               struct tenant_limits *scratch);

#endif
