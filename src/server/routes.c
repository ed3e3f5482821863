/*
 * routes.c - the route table of the HTTP listener.
 *
 * Handlers of APIs not built yet are weak stubs below answering 501, so that
 * each API's file can define its handlers without touching this table.
 */
#include "server/handlers.h"

#define NOT_YET(name)                                                                      \
    __attribute__((weak)) void name(struct http_req *req, void *ctx)                       \
    {                                                                                      \
        (void)ctx;                                                                         \
        http_reply_text(req, 501, "%s %s is not implemented yet", req->method, req->path); \
    }

NOT_YET(h_status)
NOT_YET(h_loki_push_legacy)
NOT_YET(h_logthra_push)
NOT_YET(h_logthra_health)
NOT_YET(h_otlp_logs)
NOT_YET(h_loki_query)
NOT_YET(h_loki_labels)
NOT_YET(h_loki_label_values)
NOT_YET(h_loki_series)
NOT_YET(h_loki_index_stats)
NOT_YET(h_loki_index_volume)
NOT_YET(h_loki_index_volume_range)
NOT_YET(h_loki_detected_labels)
NOT_YET(h_loki_detected_fields)
NOT_YET(h_loki_detected_field_values)
NOT_YET(h_loki_patterns)
NOT_YET(h_loki_format_query)
NOT_YET(h_loki_tail)
NOT_YET(h_logsgo_query)
NOT_YET(h_logsgo_labels)

const struct http_route server_routes[] = {
    /* probes, metrics, build info */
    {"GET", "/ready", h_ready, NULL, ROUTE_OPEN},
    {"GET", "/metrics", h_metrics, NULL, ROUTE_OPEN},
    {"GET", "/api/v1/healthz", h_logsgo_healthz, NULL, 0},
    {"GET", "/api/v1/readyz", h_logsgo_readyz, NULL, 0},
    {"GET", "/loki/api/v1/status/buildinfo", h_buildinfo, NULL, 0},
    {"GET", "/api/v1/status", h_status, NULL, 0},
    /* push */
    {"POST", "/loki/api/v1/push", h_loki_push, NULL, 0},
    {"POST", "/api/prom/push", h_loki_push_legacy, NULL, 0},
    {"POST", "/api/push", h_logthra_push, NULL, 0},
    {"GET", "/api/health", h_logthra_health, NULL, ROUTE_OPEN},
    {"POST", "/otlp/v1/logs", h_otlp_logs, NULL, 0},
    {"POST", "/v1/logs", h_otlp_logs, NULL, 0},
    /* Loki query API */
    {"GET,POST", "/loki/api/v1/query", h_loki_query, NULL, 0},
    {"GET,POST", "/loki/api/v1/query_range", h_loki_query_range, NULL, 0},
    {"GET,POST", "/loki/api/v1/labels", h_loki_labels, NULL, 0},
    {"GET", "/loki/api/v1/label/", h_loki_label_values, "/loki/api/v1/label/values", ROUTE_PREFIX},
    {"GET,POST", "/loki/api/v1/series", h_loki_series, NULL, 0},
    {"GET,POST", "/loki/api/v1/index/stats", h_loki_index_stats, NULL, 0},
    {"GET,POST", "/loki/api/v1/index/volume", h_loki_index_volume, NULL, 0},
    {"GET,POST", "/loki/api/v1/index/volume_range", h_loki_index_volume_range, NULL, 0},
    {"GET", "/loki/api/v1/detected_labels", h_loki_detected_labels, NULL, 0},
    {"GET", "/loki/api/v1/detected_fields", h_loki_detected_fields, NULL, 0},
    {"GET", "/loki/api/v1/detected_field/", h_loki_detected_field_values,
     "/loki/api/v1/detected_field/values", ROUTE_PREFIX},
    {"GET", "/loki/api/v1/patterns", h_loki_patterns, NULL, 0},
    {"GET,POST", "/loki/api/v1/format_query", h_loki_format_query, NULL, 0},
    {"GET", "/loki/api/v1/tail", h_loki_tail, NULL, 0},
    /* LogsGO REST API */
    {"GET", "/api/v1/query", h_logsgo_query, NULL, 0},
    {"GET", "/api/v1/labels", h_logsgo_labels, NULL, 0},
    /* storage administration */
    {"POST", "/api/v1/admin/flush", h_admin_flush, NULL, 0},
    /* the dashboard: everything else under / */
    {"GET", "/", h_dashboard, "/dashboard", ROUTE_PREFIX | ROUTE_OPEN},
    {0},
};

const struct http_route web_routes[] = {
    {"GET", "/", h_dashboard, "/dashboard", ROUTE_PREFIX | ROUTE_OPEN},
    {0},
};
