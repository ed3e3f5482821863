/* Fuzz target: YAML configuration text (options, sections and the per-tenant limits of the
 * overrides section) and time/duration parsers. */
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"
#include "ingest/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    config_init(&c);
    char err[512];
    if (config_load_yaml(&c, (const char *)data, size, "fuzz", err, sizeof(err)) == 0) {
        struct limits_table *t;
        if (limits_table_new(&c, &t, err, sizeof(err)) == 0) {
            struct tenant_limits scratch;
            limits_table_query(t, "a|b|fake", &scratch);
            limits_table_free(t);
        }
    }
    config_release(&c);
    struct slice s = {(const char *)data, size < 64 ? size : 64};
    int64_t v;
    clock_parse_loki_time(s, &v);
    clock_parse_prom_duration(s, &v);
    clock_parse_go_duration(s, &v);
    clock_parse_step(s, &v);
    clock_parse_rfc3339(s, &v);
    return 0;
}
