/*
 * grpc.h - the gRPC listener (--grpc-listen-addr): every push service over HTTP/2.
 *
 * Methods served (unary, protobuf):
 *
 *   /logapi.LogIngestor/UploadLog        LogEntry -> UploadResponse{success}  (LogsGO)
 *   /logapi.LogIngestor/UploadLogs       LogBatch -> UploadResponse{success}
 *   /logproto.Pusher/Push                PushRequest -> PushResponse          (Loki)
 *   /opentelemetry.proto.collector.logs.v1.LogsService/Export
 *                                        ExportLogsServiceRequest -> ExportLogsServiceResponse
 *   /proto.IngesterService/PushToIngester
 *                                        RequestReceivedProto -> Response{"accepted"} (Logthra)
 *
 * Each call decodes its message, goes through the shared write path
 * (ingest/ingest.h) and is answered only once store_push has returned, so a
 * success means durable. Errors carry a gRPC status from strata_grpc_status()
 * with a message: a malformed message or refused entries are
 * INVALID_ARGUMENT, rate limits and a busy store RESOURCE_EXHAUSTED, store
 * failures UNAVAILABLE or INTERNAL. OTLP reports refused records as a
 * partial success, as the OTLP spec asks. The tenant is the
 * `x-scope-orgid` metadata (Logthra: its TenantID field first), else the
 * default tenant.
 *
 * Built on the gRPC core C API: methods are registered with their payload
 * read up front, and a pool of --grpc.workers threads serves one completion
 * queue; each thread may block in a push while the others keep serving.
 */
#ifndef STRATA_GRPC_H
#define STRATA_GRPC_H

#include <stdint.h>

#include "core/config.h"

struct ingest;
struct rpc_server;

/*
 * Listen on cfg->grpc_listen_addr and start serving. Returns NULL with a
 * message in err when the address cannot be bound.
 */
struct rpc_server *rpc_server_start(const struct config *cfg, struct ingest *in, char *err,
                                    size_t errlen);
/* The port actually bound. */
int rpc_server_port(const struct rpc_server *s);
/*
 * Stop accepting, let running calls finish (up to timeout_ns, then cancel
 * them), stop the threads and free everything. NULL is a no-op.
 */
void rpc_server_stop(struct rpc_server *s, int64_t timeout_ns);

#endif
