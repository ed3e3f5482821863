/* Fuzz target: YAML configuration text and time/duration parsers. */
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    config_init(&c);
    char err[512];
    config_load_yaml(&c, (const char *)data, size, "fuzz", err, sizeof(err));
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
