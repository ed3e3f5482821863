/*
 * api_admin.c - storage administration: POST /api/v1/admin/flush.
 *
 * Flushes the head (memory tier) to parts, compacts everything that can be
 * and applies retention, then answers 200 with what the store holds:
 *
 *     {"status":"flushed","head_entries":0,"parts":3,"disk_bytes":123456,"entries":5000}
 *
 * or the store's error with its HTTP status (507 full disk, 500 I/O error).
 * Tests use it to run the same queries before and after a flush and a
 * compaction; operators use it before a backup.
 */
#include <inttypes.h>

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "server/handlers.h"
#include "server/server.h"

HANDLER(h_admin_flush)
{
    struct server *srv = ctx;
    int rc = store_flush(srv->store, true);
    if (rc < 0) {
        log_error("admin: flush requested by %s failed: %s", http_peer(req), strata_strerror(rc));
        http_reply_text(req, strata_http_status(rc), "flush failed: %s", strata_strerror(rc));
        return;
    }
    struct store_status st;
    store_status(srv->store, &st);
    uint64_t parts = 0, disk = 0, entries = 0;
    for (uint32_t i = 0; i < st.n_tiers; i++) {
        parts += st.tiers[i].usage.parts;
        disk += st.tiers[i].usage.disk_bytes;
        entries += st.tiers[i].usage.entries;
    }
    struct buf b;
    buf_init(&b, 4096);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_string(&w, "flushed");
    jw_key(&w, "head_entries");
    jw_uint(&w, st.head_entries + st.frozen_entries);
    jw_key(&w, "parts");
    jw_uint(&w, parts);
    jw_key(&w, "disk_bytes");
    jw_uint(&w, disk);
    jw_key(&w, "entries");
    jw_uint(&w, entries);
    jw_object_end(&w);
    http_reply_buf(req, 200, "application/json", &b);
    buf_release(&b);
}
