/*
 * routes.c - the route tables of the HTTP listeners: path, methods, handler.
 *
 * Every handler lives in the file of its API (see handlers.h).
 * Each route's flags say what a credential needs when auth is on (http.h):
 * ROUTE_READ, ROUTE_WRITE, ROUTE_ADMIN (also any route with no role flag), or
 * ROUTE_OPEN for nothing; --auth.open-paths opens the probes.
 */
#include "server/handlers.h"

const struct http_route server_routes[] = {
    /* probes, metrics, build info */
    {"GET", "/ready", h_ready, NULL, ROUTE_READ},
    {"GET", "/metrics", h_metrics, NULL, ROUTE_ADMIN},
    {"GET", "/api/v1/healthz", h_logsgo_healthz, NULL, ROUTE_READ},
    {"GET", "/api/v1/readyz", h_logsgo_readyz, NULL, ROUTE_READ},
    {"GET", "/loki/api/v1/status/buildinfo", h_buildinfo, NULL, ROUTE_READ},
    {"GET", "/api/v1/status", h_status, NULL, ROUTE_READ},
    /* push */
    {"POST", "/loki/api/v1/push", h_loki_push, NULL, ROUTE_WRITE},
    {"POST", "/api/prom/push", h_loki_push_legacy, NULL, ROUTE_WRITE},
    {"POST", "/api/push", h_logthra_push, NULL, ROUTE_WRITE},
    {"GET", "/api/health", h_logthra_health, NULL, ROUTE_READ},
    {"POST", "/otlp/v1/logs", h_otlp_logs, NULL, ROUTE_WRITE},
    {"POST", "/v1/logs", h_otlp_logs, NULL, ROUTE_WRITE},
    /* Loki query API */
    {"GET,POST", "/loki/api/v1/query", h_loki_query, NULL, ROUTE_READ},
    {"GET,POST", "/loki/api/v1/query_range", h_loki_query_range, NULL, ROUTE_READ},
    {"GET,POST", "/loki/api/v1/labels", h_loki_labels, NULL, ROUTE_READ},
    {"GET", "/loki/api/v1/label/", h_loki_label_values, "/loki/api/v1/label/values",
     ROUTE_PREFIX | ROUTE_READ},
    {"GET,POST", "/loki/api/v1/series", h_loki_series, NULL, ROUTE_READ},
    {"GET,POST", "/loki/api/v1/index/stats", h_loki_index_stats, NULL, ROUTE_READ},
    {"GET,POST", "/loki/api/v1/index/volume", h_loki_index_volume, NULL, ROUTE_READ},
    {"GET,POST", "/loki/api/v1/index/volume_range", h_loki_index_volume_range, NULL, ROUTE_READ},
    {"GET", "/loki/api/v1/detected_labels", h_loki_detected_labels, NULL, ROUTE_READ},
    {"GET", "/loki/api/v1/detected_fields", h_loki_detected_fields, NULL, ROUTE_READ},
    {"GET", "/loki/api/v1/detected_field/", h_loki_detected_field_values,
     "/loki/api/v1/detected_field/values", ROUTE_PREFIX | ROUTE_READ},
    {"GET", "/loki/api/v1/patterns", h_loki_patterns, NULL, ROUTE_READ},
    {"GET,POST", "/loki/api/v1/format_query", h_loki_format_query, NULL, ROUTE_READ},
    {"GET", "/loki/api/v1/tail", h_loki_tail, NULL, ROUTE_READ | ROUTE_WEBSOCKET},
    /* LogsGO REST API */
    {"GET", "/api/v1/query", h_logsgo_query, NULL, ROUTE_READ},
    {"GET", "/api/v1/labels", h_logsgo_labels, NULL, ROUTE_READ},
    /* storage administration */
    {"POST", "/api/v1/admin/flush", h_admin_flush, NULL, ROUTE_ADMIN},
    /* the dashboard: everything else under / */
    {"GET", "/", h_dashboard, "/dashboard", ROUTE_PREFIX | ROUTE_OPEN},
    {0},
};

/*
 * --web-listen-addr: the dashboard, plus the read-only APIs its pages call by
 * relative URL (web/src/api.js), so that it works on this listener too. No
 * push, admin or metrics routes here.
 */
const struct http_route web_routes[] = {
    {"GET", "/ready", h_ready, NULL, ROUTE_READ},
    {"GET", "/api/v1/status", h_status, NULL, ROUTE_READ},
    {"GET,POST", "/loki/api/v1/query_range", h_loki_query_range, NULL, ROUTE_READ},
    {"GET,POST", "/loki/api/v1/labels", h_loki_labels, NULL, ROUTE_READ},
    {"GET", "/loki/api/v1/label/", h_loki_label_values, "/loki/api/v1/label/values",
     ROUTE_PREFIX | ROUTE_READ},
    {"GET", "/loki/api/v1/tail", h_loki_tail, NULL, ROUTE_READ | ROUTE_WEBSOCKET},
    {"GET", "/api/v1/query", h_logsgo_query, NULL, ROUTE_READ},
    {"GET", "/api/v1/labels", h_logsgo_labels, NULL, ROUTE_READ},
    {"GET", "/", h_dashboard, "/dashboard", ROUTE_PREFIX | ROUTE_OPEN},
    {0},
};
