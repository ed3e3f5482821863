/* Fuzz target: the Loki JSON push decoder (untrusted request bodies). */
#include <stdint.h>
#include <stdlib.h>

#include "ingest/loki_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct push_batch b;
    struct push_result r;
    char err[512];
    push_batch_init(&b, "fuzz");
    push_result_init(&r);
    loki_json_decode((struct slice){(const char *)data, size}, &b, &r, err, sizeof(err));
    push_batch_release(&b);
    return 0;
}
