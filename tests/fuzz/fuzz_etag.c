/* Fuzz target: If-None-Match header values as the dashboard compares them with ETags. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/dashboard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Header values reach the handler as NUL-terminated strings. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    dashboard_etag_matches(s, "\"0123456789abcdef0123\"");
    dashboard_etag_matches(s, "\"\"");
    dashboard_find(s);
    free(s);
    return 0;
}
