/*
 * query_api.h - what the query handlers (api_query.c, api_logsgo.c, tail.c)
 * share: per-request query limits from the configuration, and Loki's JSON
 * encodings of log results.
 */
#ifndef STRATA_QUERY_API_H
#define STRATA_QUERY_API_H

#include "core/json.h"
#include "query/engine.h"
#include "server/http.h"
#include "server/server.h"

/* The limits of a query run for req: deadline, memory, parallelism, client-gone check. */
void query_limits_for(struct http_req *req, const struct server *srv, struct query_limits *lim);
/*
 * Write Loki's "result" array for a log result: streams with [ns, line]
 * pairs, and with categorize the third element {structuredMetadata, parsed}.
 */
void write_log_streams(struct json_writer *w, const struct log_result *res, bool categorize);
/* Write a {"name":"value",...} object of a label set. */
void write_label_map(struct json_writer *w, const struct label *v, uint32_t n);

/*
 * Close every /tail WebSocket and wait (up to 5 s) for their threads to end.
 * server_run calls it before stopping the HTTP server; afterwards new tails
 * are refused.
 */
void tail_shutdown(void);

#endif
