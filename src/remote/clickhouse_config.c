#include "remote/clickhouse_config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"

const char *clickhouse_layout_name(enum clickhouse_layout l)
{
    return l == CLICKHOUSE_LAYOUT_LOGTHRA ? "logthra" : "strata";
}

void clickhouse_config_release(struct clickhouse_config *c)
{
    if (!c)
        return;
    free(c->url);
    free(c->database);
    free(c->table);
    free(c->user);
    free(c->password);
    memset(c, 0, sizeof(*c));
}

static bool is_clickhouse_option(const struct config_option *o)
{
    return !strncmp(o->name, "clickhouse.", 11) && strcmp(o->name, "clickhouse.config-path");
}

/*
 * Which of the two configs gives the value of the option stored at offset:
 * a flag in cfg wins, then the clickhouse file, then cfg (default or
 * --config.file). config.source records where each value came from.
 */
static const struct config *winner(const struct config *cfg, const struct config *file,
                                   size_t offset)
{
    for (size_t i = 0; i < config_option_count; i++) {
        if (config_options[i].offset != offset)
            continue;
        if (cfg->source[i] == 2 || !file || file->source[i] != 1)
            return cfg;
        return file;
    }
    return cfg;
}

#define PICK(field) (winner(cfg, file, offsetof(struct config, field))->field)

/* A plain SQL identifier: [A-Za-z_][A-Za-z0-9_]*, at most 64 bytes. */
static bool identifier_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
            return false;
    }
    return true;
}

static int check_url(const char *url, char *err, size_t errlen)
{
    const char *rest;
    if (!strncmp(url, "http://", 7))
        rest = url + 7;
    else if (!strncmp(url, "https://", 8))
        rest = url + 8;
    else {
        snprintf(err, errlen,
                 "invalid value \"%s\" for --clickhouse.url: expected http://host:port or "
                 "https://host:port (ClickHouse's HTTP interface, usually port 8123)",
                 url);
        return STRATA_EINVAL;
    }
    size_t host_len = strcspn(rest, "/?#");
    if (memchr(rest, '@', host_len)) {
        /* Do not echo the URL: it holds a password. */
        snprintf(err, errlen,
                 "--clickhouse.url must not contain credentials (they would show in logs); use "
                 "--clickhouse.user and --clickhouse.password");
        return STRATA_EINVAL;
    }
    if (host_len == 0) {
        snprintf(err, errlen, "invalid value \"%s\" for --clickhouse.url: no host", url);
        return STRATA_EINVAL;
    }
    for (const char *p = rest + host_len; *p; p++)
        if (*p != '/') {
            snprintf(err, errlen,
                     "invalid value \"%s\" for --clickhouse.url: a path or query is not supported "
                     "(give the server's base URL)",
                     url);
            return STRATA_EINVAL;
        }
    return 0;
}

int clickhouse_config_resolve(const struct config *cfg, struct clickhouse_config *out, char *err,
                              size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct config file_cfg;
    const struct config *file = NULL;
    int rc = 0;
    const char *path = cfg->clickhouse_config_path;
    if (path && path[0]) {
        config_init(&file_cfg);
        file = &file_cfg;
        char e2[512];
        if (config_load_file(&file_cfg, path, e2, sizeof(e2)) < 0) {
            snprintf(err, errlen,
                     "--clickhouse.config-path: %s (the file holds a clickhouse: section)", e2);
            rc = STRATA_EINVAL;
            goto done;
        }
        for (size_t i = 0; i < config_option_count; i++)
            if (file_cfg.source[i] == 1 && !is_clickhouse_option(&config_options[i])) {
                snprintf(err, errlen,
                         "--clickhouse.config-path %s: option \"%s\" does not belong in the "
                         "ClickHouse file (only the clickhouse: section does)",
                         path, config_options[i].name);
                rc = STRATA_EINVAL;
                goto done;
            }
    }

    const char *url = PICK(clickhouse_url);
    const char *layout = PICK(clickhouse_layout);
    const char *db = PICK(clickhouse_database);
    const char *table = PICK(clickhouse_table);
    if (!strcmp(layout, "strata")) {
        out->layout = CLICKHOUSE_LAYOUT_STRATA;
    } else if (!strcmp(layout, "logthra")) {
        out->layout = CLICKHOUSE_LAYOUT_LOGTHRA;
    } else {
        snprintf(err, errlen,
                 "invalid value \"%s\" for --clickhouse.layout: expected strata or logthra",
                 layout);
        rc = STRATA_EINVAL;
        goto done;
    }
    bool logthra = out->layout == CLICKHOUSE_LAYOUT_LOGTHRA;
    if (!db[0])
        db = logthra ? "logs" : "strata";
    if (!table[0])
        table = logthra ? "log" : "logs";
    if (!identifier_ok(db) || !identifier_ok(table)) {
        snprintf(
            err, errlen,
            "invalid --clickhouse.%s \"%s\": expected a plain name ([A-Za-z_][A-Za-z0-9_]*, at "
            "most 64 characters)",
            identifier_ok(db) ? "table" : "database", identifier_ok(db) ? table : db);
        rc = STRATA_EINVAL;
        goto done;
    }
    int64_t rows = PICK(clickhouse_batch_max_rows);
    if (rows < 1 || rows > CLICKHOUSE_MAX_BATCH_ROWS) {
        snprintf(err, errlen, "invalid value %lld for --clickhouse.batch-max-rows: expected 1..%d",
                 (long long)rows, CLICKHOUSE_MAX_BATCH_ROWS);
        rc = STRATA_EINVAL;
        goto done;
    }
    int64_t timeout = PICK(clickhouse_timeout);
    if (timeout < NS_PER_MS) {
        snprintf(err, errlen, "invalid --clickhouse.timeout: must be at least 1ms");
        rc = STRATA_EINVAL;
        goto done;
    }
    size_t ulen = strlen(url);
    while (ulen > 0 && url[ulen - 1] == '/')
        ulen--;
    out->url = xstrndup(url, ulen);
    if (out->url[0] && (rc = check_url(out->url, err, errlen)) < 0)
        goto done;
    out->database = xstrdup(db);
    out->table = xstrdup(table);
    out->user = xstrdup(PICK(clickhouse_user));
    out->password = xstrdup(PICK(clickhouse_password));
    out->batch_max_rows = rows;
    out->batch_max_wait_ns = PICK(clickhouse_batch_max_wait);
    out->timeout_ns = timeout;
    out->retry_max_time_ns = PICK(clickhouse_retry_max_time);
done:
    if (file)
        config_release(&file_cfg);
    if (rc)
        clickhouse_config_release(out);
    return rc;
}

void clickhouse_config_describe(const struct clickhouse_config *c, char *out, size_t cap)
{
    char wait[32], timeout[32];
    clock_format_duration(c->batch_max_wait_ns, wait, sizeof(wait));
    clock_format_duration(c->timeout_ns, timeout, sizeof(timeout));
    snprintf(out, cap,
             "url=%s layout=%s table=%s.%s user=%s password=%s batch-max-rows=%lld "
             "batch-max-wait=%s timeout=%s",
             c->url, clickhouse_layout_name(c->layout), c->database, c->table, c->user,
             c->password && c->password[0] ? "********" : "(none)", (long long)c->batch_max_rows,
             wait, timeout);
}
