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

/*
 * The limits of a query run for req: deadline, parallelism and series from
 * its tenant's limits (ingest/limits.h; the strictest of each for "a|b"),
 * memory from --query.max-memory, the client-gone check.
 */
void query_limits_for(struct http_req *req, const struct server *srv, struct query_limits *lim);
/*
 * The query limits of a tenant text ("a" or "a|b"), as limits_table_query:
 * the tenant's own struct, or the strictest of several written to scratch.
 */
struct tenant_limits;
const struct tenant_limits *query_tenant_limits(const char *tenant, const struct server *srv,
                                                struct tenant_limits *scratch);
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
