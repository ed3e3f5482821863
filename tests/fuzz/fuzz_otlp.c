/* Fuzz target: OTLP ExportLogsServiceRequest in protobuf and in JSON. */
#include "fuzz_ingest.h"
#include "ingest/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(otlp_proto_decode, data, size);
    fuzz_decode(otlp_json_decode, data, size);
    return 0;
}
