/* Fuzz target: Logthra's JSON push body and its RequestReceivedProto (gRPC). */
#include "fuzz_ingest.h"
#include "ingest/logthra.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice tenant;
    (void)logthra_proto_tenant((struct slice){(const char *)data, size}, &tenant);
    fuzz_decode(logthra_json_decode, data, size);
    fuzz_decode(logthra_proto_decode, data, size);
    return 0;
}
