/*
 * server.h - the running process: configuration, store, listeners.
 *
 * server_run opens the store, starts the HTTP (and later gRPC) listeners,
 * marks itself ready, and waits for SIGINT or SIGTERM; then it stops
 * accepting, lets in-flight requests finish, closes the store (which flushes
 * what must be flushed) and returns.
 */
#ifndef STRATA_SERVER_H
#define STRATA_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/metrics.h"
#include "store/store.h"

struct http_server;
struct ingest;
struct rpc_server;
struct queue_consumers;
struct auth;
struct tls_config;

struct server {
    const struct config *cfg;
    struct store *store;
    struct http_server *http;
    struct http_server *web; /* --web-listen-addr, dashboard only */
    struct auth *auth;       /* authentication (auth.h); the gRPC server checks calls with it */
    struct tls_config *tls;  /* --tls-config-path (tls.h), NULL without; logclient is gRPC's */
    int64_t start_ns;
    _Atomic int ready; /* read by /ready handlers on worker threads */
    struct metric *ingested_entries, *ingested_bytes;
    struct ingest *ingest;         /* the shared write path (ingest/ingest.h) */
    struct rpc_server *grpc;       /* --grpc-listen-addr, NULL when disabled */
    struct queue_consumers *queue; /* --queue-config-path, NULL when not set */
};

/* Register and unregister the process and build-info metrics (api_status.c). */
void status_metrics_start(struct server *srv);
void status_metrics_stop(struct server *srv);

struct http_req;
/* Store a decoded push batch and answer as Loki does (api_push.c). */
void push_reply(struct http_req *req, struct server *srv, struct push_batch *b,
                struct push_result *res);

/* Run until a shutdown signal; returns the process exit code. */
int server_run(const struct config *cfg);

#endif
