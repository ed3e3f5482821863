/*
 * dashboard.c - the web dashboard's files, embedded in the binary.
 *
 * Until the dashboard is built (issue [7/10]) "/" serves a short page that
 * points at the APIs; any other path is a 404.
 */
#include <string.h>

#include "server/handlers.h"

static const char index_html[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Strata</title></head>"
    "<body><h1>Strata</h1><p>Log ingestion and query service.</p><ul>"
    "<li><a href=\"/ready\">/ready</a></li>"
    "<li><a href=\"/metrics\">/metrics</a></li>"
    "<li><a href=\"/loki/api/v1/status/buildinfo\">/loki/api/v1/status/buildinfo</a></li>"
    "</ul></body></html>\n";

HANDLER(h_dashboard)
{
    (void)ctx;
    if (strcmp(req->path, "/") && strcmp(req->path, "/index.html")) {
        http_reply_text(req, 404, "404 page not found: no route for %s", req->path);
        return;
    }
    http_reply(req, 200, "text/html; charset=utf-8", index_html, sizeof(index_html) - 1);
}
