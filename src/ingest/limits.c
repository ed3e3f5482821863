#include "ingest/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "ingest/batch.h"
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
    l->max_query_series = cfg->query_max_series;
    l->max_entries_per_query = cfg->query_max_entries_limit;
    l->query_parallelism = cfg->query_parallelism;
    l->query_timeout_ns = cfg->query_timeout;
    l->max_query_length_ns = cfg->limits_max_query_length;
    l->max_query_range_ns = cfg->limits_max_query_range;
    if (l->max_query_series < 0 || l->max_entries_per_query < 0 || l->query_parallelism < 0 ||
        l->query_timeout_ns < 0 || l->max_query_length_ns < 0 || l->max_query_range_ns < 0) {
        snprintf(err, errlen,
                 "query limits (--query.max-series, --query.max-entries-limit, "
                 "--query.parallelism, --query.timeout, --limits.max-query-*) must not be "
                 "negative");
        return STRATA_EINVAL;
    }
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

/* ---- the per-tenant table ---- */

struct tenant_override {
    char *tenant;
    struct tenant_limits limits;
};

struct limits_table {
    struct tenant_limits defaults;
    struct tenant_override *over; /* sorted by tenant */
    size_t n_over;
};

static int override_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tenant_override *)a)->tenant,
                  ((const struct tenant_override *)b)->tenant);
}

void limits_table_free(struct limits_table *t)
{
    if (!t)
        return;
    tenant_limits_release(&t->defaults);
    for (size_t i = 0; i < t->n_over; i++) {
        tenant_limits_release(&t->over[i].limits);
        free(t->over[i].tenant);
    }
    free(t->over);
    free(t);
}

/* One tenant's entry: its options are cfg's with the entry's limits set, then turned into limits.
 */
static int read_override(const struct config *cfg, const char *origin,
                         const struct config_node *entry, struct tenant_limits *out, char *err,
                         size_t errlen)
{
    if (entry->value || entry->is_seq) {
        snprintf(err, errlen,
                 "%s:%zu: overrides.%s must be a mapping of limits (e.g. ingestion_rate_mb: 8)",
                 origin, entry->line, entry->key);
        return STRATA_EINVAL;
    }
    struct config tc;
    config_copy_options(&tc, cfg);
    int rc = 0;
    for (const struct config_node *n = entry->child; n && rc == 0; n = n->next) {
        const struct config_option *o = config_find_limit(n->key);
        if (!o) {
            snprintf(err, errlen,
                     "%s:%zu: overrides.%s: unknown limit \"%s\" (the names of the limits.* "
                     "options without \"limits.\", as Loki's limits_config, or "
                     "max_query_series, max_entries_limit_per_query, max_query_parallelism, "
                     "query_timeout)",
                     origin, n->line, entry->key, n->key);
            rc = STRATA_EINVAL;
        } else if (!n->value) {
            snprintf(err, errlen, "%s:%zu: overrides.%s.%s takes a single value", origin, n->line,
                     entry->key, n->key);
            rc = STRATA_EINVAL;
        } else {
            char e2[400];
            for (const struct config_node *m = entry->child; m != n; m = m->next)
                if (config_find_limit(m->key) == o) {
                    snprintf(err, errlen, "%s:%zu: overrides.%s sets %s twice", origin, n->line,
                             entry->key, n->key);
                    rc = STRATA_EINVAL;
                }
            if (rc == 0 && config_set_option(&tc, o, n->value, e2, sizeof(e2)) < 0) {
                snprintf(err, errlen, "%s:%zu: overrides.%s: %s", origin, n->line, entry->key, e2);
                rc = STRATA_EINVAL;
            }
        }
    }
    if (rc == 0) {
        char e2[400];
        rc = tenant_limits_from_config(out, &tc, e2, sizeof(e2));
        if (rc < 0)
            snprintf(err, errlen, "%s:%zu: overrides.%s: %s", origin, entry->line, entry->key, e2);
    }
    config_release(&tc);
    return rc;
}

int limits_table_new(const struct config *cfg, struct limits_table **out, char *err, size_t errlen)
{
    *out = NULL;
    struct limits_table *t = xcalloc(1, sizeof(*t));
    int rc = tenant_limits_from_config(&t->defaults, cfg, err, errlen);
    if (rc < 0) {
        free(t);
        return rc;
    }
    const struct config_section *sec = config_section(cfg, "overrides");
    const struct config_node *root = sec ? sec->root : NULL;
    if (root && root->value && root->value[0]) {
        snprintf(err, errlen, "%s:%zu: overrides must map tenants to their limits", sec->origin,
                 root->line);
        rc = STRATA_EINVAL;
        goto fail;
    }
    if (root && root->is_seq) {
        snprintf(err, errlen, "%s:%zu: overrides must map tenants to their limits, not be a list",
                 sec->origin, root->line);
        rc = STRATA_EINVAL;
        goto fail;
    }
    size_t n = 0;
    for (const struct config_node *e = root ? root->child : NULL; e; e = e->next)
        n++;
    t->over = xcalloc(n ? n : 1, sizeof(*t->over));
    for (const struct config_node *e = root ? root->child : NULL; e; e = e->next) {
        if (!tenant_valid(e->key, strlen(e->key))) {
            snprintf(err, errlen,
                     "%s:%zu: overrides: \"%.64s\" is not a valid tenant id (1 to %d of a-z A-Z "
                     "0-9 ! - _ . * ' ( ), not \".\" or \"..\")",
                     sec->origin, e->line, e->key, TENANT_MAX);
            rc = STRATA_EINVAL;
            goto fail;
        }
        for (size_t i = 0; i < t->n_over; i++)
            if (!strcmp(t->over[i].tenant, e->key)) {
                snprintf(err, errlen, "%s:%zu: overrides: tenant \"%s\" is named twice",
                         sec->origin, e->line, e->key);
                rc = STRATA_EINVAL;
                goto fail;
            }
        rc = read_override(cfg, sec->origin, e, &t->over[t->n_over].limits, err, errlen);
        if (rc < 0)
            goto fail;
        t->over[t->n_over++].tenant = xstrdup(e->key);
    }
    qsort(t->over, t->n_over, sizeof(*t->over), override_cmp);
    *out = t;
    return 0;
fail:
    limits_table_free(t);
    return rc;
}

const struct tenant_limits *limits_table_get(const struct limits_table *t, const char *tenant)
{
    if (t->n_over && tenant) {
        struct tenant_override key = {.tenant = (char *)tenant};
        const struct tenant_override *o =
            bsearch(&key, t->over, t->n_over, sizeof(*t->over), override_cmp);
        if (o)
            return &o->limits;
    }
    return &t->defaults;
}

size_t limits_table_overrides(const struct limits_table *t)
{
    return t ? t->n_over : 0;
}

/* The stricter of two limits where 0 means none. */
static int64_t strictest(int64_t a, int64_t b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

const struct tenant_limits *limits_table_query(const struct limits_table *t,
                                               const char *tenant_spec,
                                               struct tenant_limits *scratch)
{
    const char *bar = tenant_spec ? strchr(tenant_spec, '|') : NULL;
    if (!bar)
        return limits_table_get(t, tenant_spec);
    char one[TENANT_MAX + 1];
    bool first = true;
    for (const char *p = tenant_spec;;) {
        const char *end = strchr(p, '|');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > TENANT_MAX)
            n = TENANT_MAX;
        memcpy(one, p, n);
        one[n] = '\0';
        const struct tenant_limits *l = limits_table_get(t, one);
        if (first) {
            *scratch = *l;
            first = false;
        } else {
            scratch->max_query_series = strictest(scratch->max_query_series, l->max_query_series);
            scratch->max_entries_per_query =
                strictest(scratch->max_entries_per_query, l->max_entries_per_query);
            scratch->query_parallelism =
                strictest(scratch->query_parallelism, l->query_parallelism);
            scratch->query_timeout_ns = strictest(scratch->query_timeout_ns, l->query_timeout_ns);
            scratch->max_query_length_ns =
                strictest(scratch->max_query_length_ns, l->max_query_length_ns);
            scratch->max_query_range_ns =
                strictest(scratch->max_query_range_ns, l->max_query_range_ns);
        }
        if (!end)
            break;
        p = end + 1;
    }
    return scratch;
}
