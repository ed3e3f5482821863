#include "ingest/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "ingest/labels.h"

int tenant_limits_from_config(struct tenant_limits *l, const struct config *cfg, char *err,
                              size_t errlen)
{
    memset(l, 0, sizeof(*l));
    l->max_line_size = cfg->limits_max_line_size;
    l->max_line_size_truncate = cfg->limits_max_line_size_truncate;
    l->max_label_names_per_series = cfg->limits_max_label_names_per_series;
    l->max_label_name_length = cfg->limits_max_label_name_length;
    l->max_label_value_length = cfg->limits_max_label_value_length;
    l->max_streams = cfg->limits_max_global_streams_per_user;
    l->stream_idle_ns = cfg->limits_stream_idle_period;
    l->rate_bytes = cfg->limits_ingestion_rate_mb * 1024 * 1024;
    l->burst_bytes = cfg->limits_ingestion_burst_size_mb * 1024 * 1024;
    l->reject_old_samples = cfg->limits_reject_old_samples;
    l->reject_old_samples_max_age_ns = cfg->limits_reject_old_samples_max_age;
    l->creation_grace_period_ns = cfg->limits_creation_grace_period;
    l->allow_structured_metadata = cfg->limits_allow_structured_metadata;
    l->max_structured_metadata_size = cfg->limits_max_structured_metadata_size;
    l->max_structured_metadata_count = cfg->limits_max_structured_metadata_entries_count;
    l->discover_log_levels = cfg->limits_discover_log_levels;
    const char *list = cfg->limits_discover_service_name ? cfg->limits_discover_service_name : "";
    l->discover_buf = xstrdup(list);
    for (char *p = l->discover_buf; *p;) {
        char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        struct slice name = slice_trim((struct slice){p, n});
        if (name.len) {
            if (!label_name_valid(name)) {
                snprintf(err, errlen,
                         "--limits.discover-service-name: \"%.*s\" is not a valid label name",
                         (int)name.len, name.ptr);
                tenant_limits_release(l);
                return STRATA_EINVAL;
            }
            if (l->n_discover == LIMITS_MAX_DISCOVER) {
                snprintf(err, errlen, "--limits.discover-service-name: more than %d names",
                         LIMITS_MAX_DISCOVER);
                tenant_limits_release(l);
                return STRATA_EINVAL;
            }
            l->discover_service_name[l->n_discover++] = name;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (l->rate_bytes < 0 || l->burst_bytes < 0) {
        snprintf(err, errlen,
                 "--limits.ingestion-rate-mb and --limits.ingestion-burst-size-mb "
                 "must not be negative");
        tenant_limits_release(l);
        return STRATA_EINVAL;
    }
    return 0;
}

void tenant_limits_release(struct tenant_limits *l)
{
    if (!l)
        return;
    free(l->discover_buf);
    l->discover_buf = NULL;
    l->n_discover = 0;
}
