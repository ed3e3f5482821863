/*
 * limits.h - what one tenant may push: Loki's per-tenant limits, in one struct.
 *
 * Every ingest path checks the same limits (normalize.h for labels and
 * entries, ingest.h for the ingestion rate and the number of active streams).
 * Today every tenant gets the global defaults from the option table
 * (`--limits.*`); per-tenant overrides will fill one struct tenant_limits per
 * tenant the same way, so the checks do not change.
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

#endif
