/* Fuzz target: the generic JSON reader (skip + finish over any bytes). */
#include <stdint.h>

#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_reader r;
    json_reader_init(&r, (const char *)data, size, 32);
    if (json_skip(&r) == 0)
        json_finish(&r);
    return 0;
}
