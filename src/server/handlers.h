/*
 * handlers.h - every HTTP handler, by API. routes.c maps paths to these.
 *
 * Each API lives in its own file (api_status.c, api_push.c, api_query.c,
 * api_logsgo.c, api_otlp.c, tail.c, dashboard.c, ...). Handlers take the
 * request and the struct server as ctx.
 */
#ifndef STRATA_HANDLERS_H
#define STRATA_HANDLERS_H

#include "server/http.h"

#define HANDLER(name) void name(struct http_req *req, void *ctx)

/* api_status.c */
HANDLER(h_ready);
HANDLER(h_metrics);
HANDLER(h_logsgo_healthz);
HANDLER(h_logsgo_readyz);
HANDLER(h_buildinfo);
HANDLER(h_status);

/* api_push.c: Loki and Logthra push */
HANDLER(h_loki_push);
HANDLER(h_loki_push_legacy);
HANDLER(h_logthra_push);
HANDLER(h_logthra_health);

/* api_otlp.c */
HANDLER(h_otlp_logs);

/* api_query.c: Loki query API */
HANDLER(h_loki_query);
HANDLER(h_loki_query_range);
HANDLER(h_loki_labels);
HANDLER(h_loki_label_values);
HANDLER(h_loki_series);
HANDLER(h_loki_index_stats);
HANDLER(h_loki_index_volume);
HANDLER(h_loki_index_volume_range);
HANDLER(h_loki_detected_labels);
HANDLER(h_loki_detected_fields);
HANDLER(h_loki_detected_field_values);
HANDLER(h_loki_patterns);
HANDLER(h_loki_format_query);

/* tail.c */
HANDLER(h_loki_tail);

/* api_logsgo.c: LogsGO REST API */
HANDLER(h_logsgo_query);
HANDLER(h_logsgo_labels);

/* api_admin.c: storage administration */
HANDLER(h_admin_flush);

/* dashboard.c */
HANDLER(h_dashboard);

/* The routes of the main listener and of --web-listen-addr. */
extern const struct http_route server_routes[];
extern const struct http_route web_routes[];

#endif
