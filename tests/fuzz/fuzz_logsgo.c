/* Fuzz target: LogsGO's LogEntry and LogBatch (gRPC UploadLog/UploadLogs, RabbitMQ bodies). */
#include "fuzz_ingest.h"
#include "ingest/logsgo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(logsgo_entry_decode, data, size);
    fuzz_decode(logsgo_batch_decode, data, size);
    return 0;
}
