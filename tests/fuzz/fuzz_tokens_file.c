/*
 * Fuzz target: the bearer tokens file (tokens.c, yaml_doc.c) and tenant
 * lists (tenant.c). A parsed table is looked up with a token taken from the
 * input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/tenant.h"
#include "server/tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[320];
    struct token_table *t = NULL;
    if (token_table_parse((const char *)data, size, "fuzz", &t, err, sizeof(err)) == 0) {
        size_t n = size < 40 ? size : 40;
        token_table_find(t, (const char *)data, n);
        token_table_free(t);
    }
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    tenant_list_check(s, true, err, sizeof(err));
    tenant_list_check(s, false, err, sizeof(err));
    free(s);
    return 0;
}
