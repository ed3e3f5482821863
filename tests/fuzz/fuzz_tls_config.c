/* Fuzz target: LogsGO's TLS YAML (tls.c: parsing only; no file is read). */
#include <stdint.h>

#include "server/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tls_config c;
    char err[320];
    if (tls_config_parse((const char *)data, size, "fuzz", &c, err, sizeof(err)) == 0)
        tls_config_release(&c);
    return 0;
}
