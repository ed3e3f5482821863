/*
 * api_dashboard.c - GET /api/v1/status: what the dashboard's Status page shows.
 *
 * One JSON object, keys in this order:
 *
 *   {"build":{"version":"0.1.0","revision":"<git>","buildDate":"<RFC 3339>",
 *             "lokiVersion":"3.x.y"},
 *    "startTime":"<RFC 3339>","uptimeSeconds":12.5,"ready":true,
 *    "tenant":"fake",
 *    "tiers":[{"name":"head","streams":N,"chunks":N,"entries":N,"bytes":N}, ...],
 *    "config":[{"name":"data-dir","room":"core","type":"string","value":"data",
 *               "default":"data","source":"default|file|flag","secret":false}, ...]}
 *
 * tiers lists the chain from store_tiers() in order, each with the counts its
 * stats op gives for the asking tenant over all time (a tier whose stats fail
 * carries "error" instead of counts). config lists every option of
 * config_options with its effective value; secrets (config_is_secret) are
 * masked by config_format_value. Later status calls (WAL, parts, objects)
 * add keys; clients ignore keys they do not know.
 */
#include <stdint.h>
#include <stdio.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/version.h"
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

static void write_tiers(struct json_writer *w, struct tier *chain, const char *tenant)
{
    jw_key(w, "tiers");
    jw_array_begin(w);
    for (struct tier *t = chain; t; t = t->next) {
        jw_object_begin(w);
        jw_key(w, "name");
        jw_string(w, t->ops->name);
        struct tier_stats st = {0};
        struct tier_query q = {.tenant = tenant, .start = INT64_MIN, .end = INT64_MAX};
        int rc = t->ops->stats ? t->ops->stats(t, &q, &st) : STRATA_EUNSUPPORTED;
        if (rc < 0) {
            jw_key(w, "error");
            jw_string(w, strata_strerror(rc));
        } else {
            jw_key(w, "streams");
            jw_uint(w, st.streams);
            jw_key(w, "chunks");
            jw_uint(w, st.chunks);
            jw_key(w, "entries");
            jw_uint(w, st.entries);
            jw_key(w, "bytes");
            jw_uint(w, st.bytes);
        }
        jw_object_end(w);
    }
    jw_array_end(w);
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
    write_tiers(&w, store_tiers(srv->store), req->tenant);
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
