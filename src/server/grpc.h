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
 * partial success, as the OTLP spec asks.
 *
 * Authentication (auth.h), checked from a call's metadata before its message
 * is read: the `authorization` metadata ("Bearer <token>", or the bare
 * token as LogsGO's clients send it) must hold a credential with the write
 * role, else UNAUTHENTICATED with LogsGO's texts ("missing metadata",
 * "missing authorization header", "missing token", "invalid token: ...",
 * "token has expired", "invalid token claims: ...") or PERMISSION_DENIED.
 * The tenant is the `x-scope-orgid` metadata (Logthra: its TenantID field,
 * which must then agree with the metadata), limited to the credential's
 * tenants (PERMISSION_DENIED otherwise); without either, the credential's
 * first tenant, or "fake" with auth off. An invalid tenant id, or several
 * ("a|b"), is INVALID_ARGUMENT.
 *
 * TLS: with the `logclient` section of --tls-config-path enabled, the
 * listener speaks TLS with its cert_file and key_file; with its ca_file,
 * every client must present a certificate signed by one of those CAs
 * (mutual TLS). A plaintext client then fails its handshake (UNAVAILABLE
 * on its side) and the server goes on serving.
 *
 * Built on the gRPC core C API: methods are registered with their payload
 * read up front, and a pool of --grpc.workers threads serves one completion
 * queue; each thread may block in a push while the others keep serving.
 */
#ifndef STRATA_GRPC_H
#define STRATA_GRPC_H

#include <stdint.h>

#include "core/config.h"

struct auth;
struct ingest;
struct rpc_server;
struct tls_section;

/*
 * Listen on cfg->grpc_listen_addr and start serving. auth checks every call
 * (NULL: no authentication, tenants from the metadata as with
 * --auth.mode=none); tls is the logclient section of the TLS file (NULL or
 * disabled: plaintext). Both are borrowed and must outlive the server.
 * Returns NULL with a message in err when the address cannot be bound.
 */
struct rpc_server *rpc_server_start(const struct config *cfg, struct ingest *in, struct auth *auth,
                                    const struct tls_section *tls, char *err, size_t errlen);
/* The port actually bound. */
int rpc_server_port(const struct rpc_server *s);
/* "" for plaintext, " with TLS" or " with TLS, client certificates required", for the log. */
const char *rpc_server_describe(const struct rpc_server *s);
/*
 * Stop accepting, let running calls finish (up to timeout_ns, then cancel
 * them), stop the threads and free everything. NULL is a no-op.
 */
void rpc_server_stop(struct rpc_server *s, int64_t timeout_ns);

#endif
