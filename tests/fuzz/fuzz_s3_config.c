/* Fuzz target: LogsGO's remote_store YAML (--store-config) and S3 endpoint parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/s3_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *no_env(const char *name, void *arg)
{
    (void)name;
    (void)arg;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s3_config c;
    s3_config_init(&c);
    char err[512];
    if (s3_config_parse_yaml(&c, (const char *)data, size, "fuzz", err, sizeof(err)) == 0)
        s3_config_finish(&c, no_env, NULL, err, sizeof(err));
    s3_config_release(&c);
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
        struct s3_endpoint ep;
        s3_endpoint_parse(s, size & 1, &ep, err, sizeof(err));
        free(s);
    }
    return 0;
}
