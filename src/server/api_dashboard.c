/*
 * api_dashboard.c - GET /api/v1/status: what the dashboard's Status page shows.
 *
 * One JSON object, keys in this order:
 *
 *   {"build":{"version":"0.1.0","revision":"<git>","buildDate":"<RFC 3339>",
 *             "lokiVersion":"3.x.y"},
 *    "startTime":"<RFC 3339>","uptimeSeconds":12.5,"ready":true,
 *    "tenant":"fake","storageDetails":true,
 *    "tiers":[{"name":"head","streams":N,"chunks":N,"entries":N,"bytes":N,
 *              "parts":N,"diskBytes":N}, ...],
 *    "head":{"entries":N,"bytes":N,"memoryBytes":N,"flushingEntries":N,
 *            "flushingBytes":N,"streams":N,"tenants":N,"ageSeconds":1.5},
 *    "wal":{"sync":"always","segments":N,"bytes":N,"firstSegment":N,
 *           "currentSegment":N,"checkpoint":N,"appends":N,"fsyncs":N,
 *           "failures":N,"broken":false},
 *    "upkeep":{"flushes":N,"flushFailures":N,"flushedEntries":N,
 *              "busyRejections":N,"lastFlush":"<RFC 3339>"|null,
 *              "compactions":N,"compactionFailures":N,"partsCompacted":N,
 *              "corruptParts":N,"lastCompaction":"<RFC 3339>"|null},
 *    "config":[{"name":"data-dir","room":"core","type":"string","value":"data",
 *               "default":"data","source":"default|file|flag","secret":false}, ...]}
 *
 * tiers lists the storage chain head first (store_tiers), each with the
 * counts its stats op gives for the asking tenant over all time (a tier whose
 * stats fail carries "error" instead of counts; an entry being handed from a
 * tier to the next may be counted in both). storageDetails says whether the
 * totals over every tenant follow: each tier's parts and bytes on disk (or
 * objects in a bucket), and the head, WAL and upkeep objects. They are shown
 * when auth is off (/metrics shows the same numbers) and to admins when it is
 * on; a tenant's reader sees only its own counts. config lists every option
 * of config_options with its effective value; secrets (config_is_secret) are
 * masked by config_format_value. Clients ignore keys they do not know.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/version.h"
#include "server/auth.h"
#include "server/handlers.h"
#include "server/server.h"

static const char *option_type_name(enum config_type t)
{
    switch (t) {
    case CONFIG_STR: return "string";
    case CONFIG_BOOL: return "bool";
    case CONFIG_INT: return "int";
    case CONFIG_FLOAT: return "float";
    case CONFIG_DURATION: return "duration";
    case CONFIG_BYTES: return "bytes";
    }
    return "unknown";
}

static const char *option_source_name(const struct config *cfg, size_t i)
{
    if (i >= sizeof(cfg->source))
        return "default";
    switch (cfg->source[i]) {
    case 1: return "file";
    case 2: return "flag";
    default: return "default";
    }
}

static void write_build(struct json_writer *w)
{
    jw_key(w, "build");
    jw_object_begin(w);
    jw_key(w, "version");
    jw_string(w, strata_version);
    jw_key(w, "revision");
    jw_string(w, strata_revision);
    jw_key(w, "buildDate");
    jw_string(w, strata_build_date);
    jw_key(w, "lokiVersion");
    jw_string(w, strata_loki_version);
    jw_object_end(w);
}

/*
 * May this request see the store's totals over every tenant? With auth off
 * anyone may (as on /metrics); with auth on, a credential with the admin role
 * (req->auth is the struct auth_identity, auth.h).
 */
static bool sees_storage(const struct server *srv, const struct http_req *req)
{
    if (auth_mode(srv->auth) == AUTH_MODE_NONE)
        return true;
    const struct auth_identity *id = req->auth;
    return id && (id->roles & AUTH_ROLE_ADMIN);
}

static void write_tiers(struct json_writer *w, struct tier *chain, const char *tenant,
                        const struct store_status *st)
{
    jw_key(w, "tiers");
    jw_array_begin(w);
    for (struct tier *t = chain; t; t = t->next) {
        jw_object_begin(w);
        jw_key(w, "name");
        jw_string(w, t->ops->name);
        struct tier_stats ts = {0};
        struct tier_query q = {.tenant = tenant, .start = INT64_MIN, .end = INT64_MAX};
        int rc = t->ops->stats ? t->ops->stats(t, &q, &ts) : STRATA_EUNSUPPORTED;
        if (rc < 0) {
            jw_key(w, "error");
            jw_string(w, strata_strerror(rc));
        } else {
            jw_key(w, "streams");
            jw_uint(w, ts.streams);
            jw_key(w, "chunks");
            jw_uint(w, ts.chunks);
            jw_key(w, "entries");
            jw_uint(w, ts.entries);
            jw_key(w, "bytes");
            jw_uint(w, ts.bytes);
        }
        /* store_status lists the same chain in the same order, by name. */
        for (uint32_t i = 0; st && i < st->n_tiers; i++) {
            if (strcmp(st->tiers[i].name, t->ops->name))
                continue;
            jw_key(w, "parts");
            jw_uint(w, st->tiers[i].usage.parts);
            jw_key(w, "diskBytes");
            jw_uint(w, st->tiers[i].usage.disk_bytes);
            break;
        }
        jw_object_end(w);
    }
    jw_array_end(w);
}

/* An RFC 3339 time, or null for 0 (never). */
static void write_time_or_null(struct json_writer *w, const char *key, int64_t ns)
{
    jw_key(w, key);
    if (!ns) {
        jw_null(w);
        return;
    }
    char t[40];
    clock_format_rfc3339(ns, t);
    jw_string(w, t);
}

/* A uint64_t field of struct store_status and its key in the JSON. */
struct status_field {
    const char *key;
    size_t off;
};

#define FIELD(key, member)                         \
    {                                              \
        key, offsetof(struct store_status, member) \
    }

static const struct status_field head_fields[] = {
    FIELD("entries", head_entries),       FIELD("bytes", head_bytes),
    FIELD("memoryBytes", head_mem_bytes), FIELD("flushingEntries", frozen_entries),
    FIELD("flushingBytes", frozen_bytes), FIELD("streams", head_streams),
    FIELD("tenants", head_tenants),
};
static const struct status_field wal_fields[] = {
    FIELD("segments", wal_segments),     FIELD("bytes", wal_bytes),
    FIELD("firstSegment", wal_first),    FIELD("currentSegment", wal_current),
    FIELD("checkpoint", wal_checkpoint), FIELD("appends", wal_appends),
    FIELD("fsyncs", wal_fsyncs),         FIELD("failures", wal_failures),
};
static const struct status_field flush_fields[] = {
    FIELD("flushes", flushes),
    FIELD("flushFailures", flush_failures),
    FIELD("flushedEntries", flushed_entries),
    FIELD("busyRejections", busy_rejections),
};
static const struct status_field compaction_fields[] = {
    FIELD("compactions", compactions),
    FIELD("compactionFailures", compaction_failures),
    FIELD("partsCompacted", parts_compacted),
    FIELD("corruptParts", corrupt_parts),
};

#undef FIELD

static void write_fields(struct json_writer *w, const struct store_status *st,
                         const struct status_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, (const char *)st + f[i].off, sizeof(v));
        jw_key(w, f[i].key);
        jw_uint(w, v);
    }
}

#define WRITE_FIELDS(w, st, table) write_fields(w, st, table, sizeof(table) / sizeof(table[0]))

static void write_storage(struct json_writer *w, const struct store_status *st)
{
    jw_key(w, "head");
    jw_object_begin(w);
    WRITE_FIELDS(w, st, head_fields);
    jw_key(w, "ageSeconds");
    jw_double(w, (double)st->head_age_ns / 1e9);
    jw_object_end(w);

    jw_key(w, "wal");
    jw_object_begin(w);
    jw_key(w, "sync");
    jw_string(w, st->wal_sync ? st->wal_sync : "");
    WRITE_FIELDS(w, st, wal_fields);
    jw_key(w, "broken");
    jw_bool(w, st->wal_broken);
    jw_object_end(w);

    jw_key(w, "upkeep");
    jw_object_begin(w);
    WRITE_FIELDS(w, st, flush_fields);
    write_time_or_null(w, "lastFlush", st->last_flush_ns);
    WRITE_FIELDS(w, st, compaction_fields);
    write_time_or_null(w, "lastCompaction", st->last_compaction_ns);
    jw_object_end(w);
}

static void write_config(struct json_writer *w, const struct config *cfg)
{
    /* Long enough for an inline store configuration; longer values are cut. */
    char value[8192];
    jw_key(w, "config");
    jw_array_begin(w);
    for (size_t i = 0; i < config_option_count; i++) {
        const struct config_option *o = &config_options[i];
        config_format_value(cfg, o, value, sizeof(value), true);
        jw_object_begin(w);
        jw_key(w, "name");
        jw_string(w, o->name);
        jw_key(w, "room");
        jw_string(w, o->room);
        jw_key(w, "type");
        jw_string(w, option_type_name(o->type));
        jw_key(w, "value");
        jw_string(w, value);
        jw_key(w, "default");
        jw_string(w, o->def);
        jw_key(w, "source");
        jw_string(w, option_source_name(cfg, i));
        jw_key(w, "secret");
        jw_bool(w, config_is_secret(o));
        jw_object_end(w);
    }
    jw_array_end(w);
}

HANDLER(h_status)
{
    struct server *srv = ctx;
    struct buf b;
    buf_init(&b, 4u << 20);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    write_build(&w);
    char started[40];
    clock_format_rfc3339(srv->start_ns, started);
    jw_key(&w, "startTime");
    jw_string(&w, started);
    jw_key(&w, "uptimeSeconds");
    jw_double(&w, (double)(clock_now_ns() - srv->start_ns) / 1e9);
    jw_key(&w, "ready");
    jw_bool(&w, srv->ready != 0);
    jw_key(&w, "tenant");
    jw_string(&w, req->tenant ? req->tenant : "");
    bool details = sees_storage(srv, req);
    jw_key(&w, "storageDetails");
    jw_bool(&w, details);
    struct store_status st;
    if (details)
        store_status(srv->store, &st);
    write_tiers(&w, store_tiers(srv->store), req->tenant, details ? &st : NULL);
    if (details)
        write_storage(&w, &st);
    write_config(&w, srv->cfg);
    jw_object_end(&w);
    if (w.rc < 0) {
        buf_release(&b);
        http_reply_text(req, 500, "status too large");
        return;
    }
    http_reply_buf(req, 200, "application/json", &b);
    buf_release(&b);
}
