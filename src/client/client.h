/*
 * client.h - the inside of struct strata_client, shared by libstrata's modules.
 *
 * client.c implements the public API (include/strata.h): it checks and copies
 * uploads (entries.h), then either sends them at once (synchronous) or hands
 * them to the sender (sender.h). client_deliver is the one place a batch
 * becomes a request, for both.
 */
#ifndef STRATA_CLIENT_CLIENT_H
#define STRATA_CLIENT_CLIENT_H

#include <stdbool.h>

#include "client/entries.h"
#include "client/transport.h"
#include "strata.h"

struct sender;

struct strata_client {
    struct strata_options o; /* a copy; its strings are owned (below) */
    char *addr;              /* the address as given */
    char *strings[6];        /* private: the copied option strings, freed at close */
    struct grpc_conn *grpc;  /* STRATA_TRANSPORT_GRPC */
    struct http_conn *http;  /* the HTTP transports */
    struct sender *sender;   /* asynchronous clients */
};

/* The largest request body libstrata builds (the server's default gRPC and HTTP limit). */
#define CLIENT_MAX_BODY (64u << 20)

/*
 * Send v[0..n) in one request, once: LogsGO entries (all CENTRY_LOGSGO, as
 * UploadLog when single is set and n is 1, else UploadLogs) or stream
 * entries (all CENTRY_LOKI: Pusher/Push or HTTP push). Fills r; returns r->rc.
 */
int client_deliver(struct strata_client *c, struct centry *const *v, size_t n, bool single,
                   struct send_result *r);

/*
 * Wait for a retry: until until (monotonic ns), or less when the connection
 * comes back. Over gRPC this drives the channel's reconnection meanwhile
 * (gRPC makes progress on a connection only while someone polls for it) and
 * returns true as soon as it is ready; over HTTP it returns false at once
 * (each request connects by itself) and the caller sleeps.
 */
bool client_await(struct strata_client *c, int64_t until);

/* Record msg as the calling thread's last error (strata_last_error); returns rc. */
__attribute__((format(printf, 2, 3))) int client_error(int rc, const char *fmt, ...);

#endif
