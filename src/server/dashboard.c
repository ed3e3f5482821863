/*
 * dashboard.c - serving the web dashboard's embedded files (see dashboard.h).
 */
#include "server/dashboard.h"

#include <string.h>

#include "server/handlers.h"

/* Served when the binary was built without the dashboard (no web/node_modules). */
static const char unbuilt_html[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Strata</title></head>"
    "<body><h1>Strata</h1><p>Log ingestion and query service.</p>"
    "<p>The dashboard was not built into this binary: <code>web/node_modules</code> was "
    "missing at build time. Run <code>scripts/bootstrap build</code>, then <code>make</code>."
    "</p><ul>"
    "<li><a href=\"ready\">/ready</a></li>"
    "<li><a href=\"metrics\">/metrics</a></li>"
    "<li><a href=\"loki/api/v1/status/buildinfo\">/loki/api/v1/status/buildinfo</a></li>"
    "</ul></body></html>\n";

__attribute__((weak)) const struct dashboard_asset *dashboard_assets(size_t *count)
{
    *count = 0;
    return NULL;
}

const struct dashboard_asset *dashboard_find(const char *path)
{
    if (!strcmp(path, "/"))
        path = "/index.html";
    size_t n = 0;
    const struct dashboard_asset *a = dashboard_assets(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(a[i].path, path))
            return &a[i];
    return NULL;
}

bool dashboard_etag_matches(const char *inm, const char *etag)
{
    if (!inm || !etag)
        return false;
    size_t elen = strlen(etag);
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        const char *tag = p;
        if (n == 1 && *tag == '*')
            return true;
        if (n >= 2 && tag[0] == 'W' && tag[1] == '/') {
            tag += 2;
            n -= 2;
        }
        if (n == elen && !memcmp(tag, etag, n))
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

HANDLER(h_dashboard)
{
    (void)ctx;
    size_t n_assets = 0;
    dashboard_assets(&n_assets);
    if (!n_assets && (!strcmp(req->path, "/") || !strcmp(req->path, "/index.html"))) {
        http_reply(req, 200, "text/html; charset=utf-8", unbuilt_html, sizeof(unbuilt_html) - 1);
        return;
    }
    const struct dashboard_asset *a = dashboard_find(req->path);
    if (!a) {
        http_reply_text(req, 404, "404 page not found: no route for %s", req->path);
        return;
    }
    http_set_header(req, "ETag", a->etag);
    http_set_header(req, "Cache-Control",
                    a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
    http_set_header(req, "X-Content-Type-Options", "nosniff");
    if (!strncmp(a->content_type, "text/html", 9)) {
        /* The page loads only its own bundled files and talks only to its own origin. */
        http_set_header(req, "Content-Security-Policy",
                        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
                        "base-uri 'self'; form-action 'none'");
        http_set_header(req, "Referrer-Policy", "no-referrer");
    }
    if (dashboard_etag_matches(http_header(req, "If-None-Match"), a->etag)) {
        http_reply(req, 304, NULL, "", 0);
        return;
    }
    http_reply(req, 200, a->content_type, a->data, a->len);
}
