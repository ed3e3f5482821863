#include "server/server.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/version.h"
#include "server/handlers.h"
#include "server/http.h"
#include "server/query_api.h"
#include "server/tenant.h"

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
        .before = tenant_resolve,
        .before_ctx = srv,
    };
    char err[256];
    struct http_server *h = http_start(&hc, routes, srv, err, sizeof(err));
    if (!h)
        log_error("http: %s", err);
    else
        log_info("http: listening on %s (port %d)", addr, http_port(h));
    return h;
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
    char err[512];
    if (store_open(cfg, &srv.store, err, sizeof(err)) < 0) {
        log_error("store: %s", err);
        status_metrics_stop(&srv);
        return 1;
    }
    srv.http = listen_http(&srv, cfg->http_listen_addr, server_routes);
    if (!srv.http) {
        store_close(srv.store);
        status_metrics_stop(&srv);
        return 1;
    }
    if (cfg->web_listen_addr && cfg->web_listen_addr[0]) {
        srv.web = listen_http(&srv, cfg->web_listen_addr, web_routes);
        if (!srv.web) {
            http_stop(srv.http, 0);
            store_close(srv.store);
            status_metrics_stop(&srv);
            return 1;
        }
    }
    srv.ready = 1;
    log_info("ready");

    int sig = 0;
    sigwait(&set, &sig);
    log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv.ready = 0;
    tail_shutdown();
    http_stop(srv.web, cfg->server_shutdown_timeout);
    http_stop(srv.http, cfg->server_shutdown_timeout);
    store_close(srv.store);
    status_metrics_stop(&srv);
    log_info("stopped");
    return 0;
}
