/* Fuzz target: the Loki JSON push decoders, v1 and legacy (untrusted request bodies). */
#include "fuzz_ingest.h"
#include "ingest/loki_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(loki_json_decode, data, size);
    fuzz_decode(loki_json_decode_legacy, data, size);
    return 0;
}
