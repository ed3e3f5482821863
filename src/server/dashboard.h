/*
 * dashboard.h - the web dashboard's files, embedded in the binary.
 *
 * The dashboard is built from web/ by web/web.mk: esbuild bundles the sources
 * and web/build.mjs writes them into $(BUILD)/gen/web_assets.c, one constant
 * table linked into the strata binary. That file defines dashboard_assets();
 * dashboard.c holds a weak default returning no assets, so the library, the
 * unit tests and a binary built without web/node_modules still link (the
 * latter then serves a page saying how to build the dashboard).
 *
 * Serving (h_dashboard, on "/" of the main listener and of --web-listen-addr):
 * "/" and "/index.html" give the page, "/assets/<name>" the bundled files;
 * every other path is a plain-text 404, as for an unknown API route. The page
 * keeps its own state in the URL fragment, so the server never needs to
 * answer a client-side route. Each asset carries a strong ETag (a hash of
 * its bytes) and a matching If-None-Match gets 304; names under /assets/
 * contain a content hash and are cached for a year, the page is revalidated
 * on every load.
 */
#ifndef STRATA_DASHBOARD_H
#define STRATA_DASHBOARD_H

#include <stdbool.h>
#include <stddef.h>

struct dashboard_asset {
    const char *path;         /* request path: "/index.html", "/assets/app-5MGH2Q.js" */
    const char *content_type; /* with a charset for text */
    const char *etag;         /* quoted: "\"3f2a...\"" */
    const unsigned char *data;
    size_t len;
    bool immutable; /* the name holds a content hash: clients may cache it for good */
};

/*
 * The embedded assets and their number. Defined in the generated
 * web_assets.c; the weak default in dashboard.c returns NULL and 0.
 */
const struct dashboard_asset *dashboard_assets(size_t *count);

/* The asset served for a request path ("/" is "/index.html"), or NULL. */
const struct dashboard_asset *dashboard_find(const char *path);

/*
 * True when an If-None-Match header value names etag: "*", the tag itself,
 * or a comma-separated list holding it, with or without a W/ prefix (RFC 9110
 * compares If-None-Match weakly). NULL or empty header: false.
 */
bool dashboard_etag_matches(const char *if_none_match, const char *etag);

#endif
