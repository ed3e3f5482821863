#include "server/server.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/version.h"
#include "ingest/ingest.h"
#include "ingest/queue.h"
#include "remote/s3.h"
#include "server/auth.h"
#include "server/grpc.h"
#include "server/handlers.h"
#include "server/http.h"
#include "server/query_api.h"
#include "server/tenant.h"
#include "server/tls.h"

static struct http_server *listen_http(struct server *srv, const char *addr,
                                       const struct http_route *routes)
{
    const struct config *cfg = srv->cfg;
    struct http_config hc = {
        .listen_addr = addr,
        .threads = (int)cfg->server_http_threads,
        .workers = (int)cfg->server_workers,
        .max_connections = (int)cfg->server_max_connections,
        .max_body = (size_t)cfg->server_max_body_bytes,
        .connection_timeout_ns = cfg->server_connection_timeout,
        .cors_origins = cfg->server_cors_origins,
        .before = auth_http_hook,
        .before_ctx = srv->auth,
        .header_timeout_ns = cfg->server_header_timeout,
        .body_timeout_ns = cfg->server_body_timeout,
        .max_header_bytes = (size_t)cfg->server_max_header_bytes,
        .max_connections_per_ip = (int)cfg->server_max_connections_per_ip,
    };
    if (srv->tls && srv->tls->http.enabled) {
        hc.tls_cert_pem = srv->tls->http.cert_pem;
        hc.tls_key_pem = srv->tls->http.key_pem;
        hc.tls_ca_pem = srv->tls->http.ca_pem;
    }
    char err[256];
    struct http_server *h = http_start(&hc, routes, srv, err, sizeof(err));
    if (!h)
        log_error("http: %s", err);
    else
        log_info("http: listening on %s (port %d)%s", addr, http_port(h),
                 !hc.tls_cert_pem ? ""
                 : hc.tls_ca_pem  ? " with TLS, client certificates required"
                                  : " with TLS");
    return h;
}

/* Authentication and TLS from the options; 0, or -1 after logging why. */
static int security_start(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    char err[512];
    if (auth_new(cfg, &srv->auth, err, sizeof(err)) < 0) {
        log_error("auth: %s", err);
        return -1;
    }
    char desc[256];
    auth_describe(srv->auth, desc, sizeof(desc));
    log_info("auth: %s", desc);
    if (cfg->tls_config_path && cfg->tls_config_path[0]) {
        srv->tls = xcalloc(1, sizeof(*srv->tls));
        if (tls_config_load(cfg->tls_config_path, srv->tls, err, sizeof(err)) < 0) {
            log_error("%s", err);
            return -1;
        }
    }
    const char *addrs[] = {cfg->http_listen_addr, cfg->grpc_listen_addr, cfg->web_listen_addr};
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
        if (auth_mode(srv->auth) == AUTH_MODE_NONE && addrs[i] && addrs[i][0] &&
            strncmp(addrs[i], "127.", 4) && strncmp(addrs[i], "[::1]", 5) &&
            strncmp(addrs[i], "localhost", 9))
            log_warn("auth: off while listening on %s: anyone who reaches it can read and write "
                     "every tenant (see docs/SECURITY.md)",
                     addrs[i]);
    return 0;
}

static void security_stop(struct server *srv)
{
    auth_free(srv->auth);
    srv->auth = NULL;
    if (srv->tls)
        tls_config_release(srv->tls);
    free(srv->tls);
    srv->tls = NULL;
}

int server_run(const struct config *cfg)
{
    /* Signals are taken synchronously by this thread; every thread started from here inherits
     * the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct server srv;
    memset(&srv, 0, sizeof(srv));
    srv.cfg = cfg;
    srv.start_ns = clock_now_ns();
    struct metric_family *fe = metrics_family(METRIC_COUNTER, "strata_ingested_entries_total",
                                              "Log entries accepted by push APIs.", NULL);
    struct metric_family *fb = metrics_family(METRIC_COUNTER, "strata_ingested_bytes_total",
                                              "Bytes of log lines accepted by push APIs.", NULL);
    srv.ingested_entries = metric_get(fe);
    srv.ingested_bytes = metric_get(fb);
    status_metrics_start(&srv);

    log_info("strata %s (%s) starting; data in %s", strata_version, strata_revision, cfg->data_dir);
    int rc = 1;
    char err[1024];
    if (security_start(&srv) < 0)
        goto out;
    /* ClickHouse replaces the local parts, which are what ages out into a bucket. */
    if (cfg->clickhouse_url && cfg->clickhouse_url[0] &&
        ((cfg->store_config_path && cfg->store_config_path[0]) ||
         (cfg->store_config && cfg->store_config[0]))) {
        log_error("store: --clickhouse.url and an S3 bucket (--store-config-path, --store-config) "
                  "cannot be used together: ClickHouse replaces the local parts that age out "
                  "into the bucket (docs/CLICKHOUSE.md)");
        goto out;
    }
    /* With a bucket configured (--store-config-path/--store-config), it must answer first. */
    if (s3_check_from_options(cfg, err, sizeof(err)) < 0) {
        log_error("s3: %s", err);
        goto out;
    }
    if (store_open(cfg, &srv.store, err, sizeof(err)) < 0) {
        log_error("store: %s", err);
        goto out;
    }
    srv.ingest = ingest_new(cfg, srv.store, err, sizeof(err));
    if (!srv.ingest) {
        log_error("ingest: %s", err);
        goto out;
    }
    srv.http = listen_http(&srv, cfg->http_listen_addr, server_routes);
    if (!srv.http)
        goto out;
    if (cfg->web_listen_addr && cfg->web_listen_addr[0]) {
        srv.web = listen_http(&srv, cfg->web_listen_addr, web_routes);
        if (!srv.web)
            goto out;
    }
    if (cfg->grpc_listen_addr && cfg->grpc_listen_addr[0]) {
        srv.grpc = rpc_server_start(cfg, srv.ingest, srv.auth, srv.tls ? &srv.tls->logclient : NULL,
                                    err, sizeof(err));
        if (!srv.grpc) {
            log_error("grpc: %s", err);
            goto out;
        }
        log_info("grpc: listening on %s (port %d)%s", cfg->grpc_listen_addr,
                 rpc_server_port(srv.grpc), rpc_server_describe(srv.grpc));
    }
    if (cfg->queue_config_path && cfg->queue_config_path[0] &&
        queue_start(cfg->queue_config_path, srv.ingest, &srv.queue, err, sizeof(err)) < 0) {
        log_error("queue: %s", err);
        goto out;
    }
    srv.ready = 1;
    log_info("ready");

    int sig = 0;
    sigwait(&set, &sig);
    log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    /* One way down, in reverse order; every stop/free takes NULL. */
    srv.ready = 0;
    int64_t grace = rc == 0 ? cfg->server_shutdown_timeout : 0;
    queue_stop(srv.queue);
    rpc_server_stop(srv.grpc, grace);
    tail_shutdown();
    http_stop(srv.web, grace);
    http_stop(srv.http, grace);
    security_stop(&srv);
    ingest_free(srv.ingest);
    store_close(srv.store);
    status_metrics_stop(&srv);
    if (rc == 0)
        log_info("stopped");
    return rc;
}
