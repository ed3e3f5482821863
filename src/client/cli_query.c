/*
 * cli_query.c - `strata query`, `labels`, `series` and `stats`: GETs against
 * the query APIs (Loki's, and LogsGO's /api/v1/query), answers printed by
 * cli_result.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli_common.h"
#include "core/clock.h"
#include "core/err.h"

#define MAX_ANSWER (1u << 30) /* the largest answer read */
#define MAX_POS    64

enum {
    QF_LANG = CLI_FLAG_OWN,
    QF_LIMIT,
    QF_DIRECTION,
    QF_STEP,
    QF_INSTANT,
    QF_QUERY,
};

struct query_opts {
    const char *lang;
    uint64_t limit;
    bool forward;
    const char *step;
    bool instant;
    const char *selector;
};

static int query_flag(struct cli *c, void *ctx, int id, const char *v)
{
    struct query_opts *q = ctx;
    switch (id) {
    case QF_LANG:
        if (strcmp(v, "auto") && strcmp(v, "logql") && strcmp(v, "logsgoql"))
            return cli_usage(c, "--lang: \"%s\" is not logql, logsgoql or auto", v);
        q->lang = v;
        return 0;
    case QF_LIMIT:
        if (cli_uint(c, "--limit", v, 1000000000, &q->limit))
            return CLI_EXIT_USAGE;
        if (!q->limit)
            return cli_usage(c, "--limit must be positive");
        return 0;
    case QF_DIRECTION:
        if (!strcmp(v, "forward"))
            q->forward = true;
        else if (!strcmp(v, "backward"))
            q->forward = false;
        else
            return cli_usage(c, "--direction: \"%s\" is not backward or forward", v);
        return 0;
    case QF_STEP: {
        int64_t ns;
        if (cli_duration(c, "--step", v, &ns))
            return CLI_EXIT_USAGE;
        q->step = v;
        return 0;
    }
    case QF_INSTANT: q->instant = true; return 0;
    case QF_QUERY: q->selector = v; return 0;
    default: return 0;
    }
}

/* GET, then print the answer as kind. */
static int get_and_print(struct cli *c, const char *path, const struct buf *q,
                         enum result_kind kind, bool backward)
{
    struct buf resp, out;
    buf_init(&resp, MAX_ANSWER);
    buf_init(&out, BUF_UNLIMITED);
    int rc = cli_get(c, path, q, &resp);
    if (!rc) {
        char err[512];
        if (result_print(kind, buf_slice(&resp), c->output, backward, &out, NULL, err, sizeof(err)))
            rc = cli_fail(c, STRATA_EIO, "%s", err);
        else
            rc = cli_write(c, &out);
    }
    buf_release(&resp);
    buf_release(&out);
    return rc;
}

/*
 * LogQL or LogsGoQL? Every LogQL query has a stream selector ({...}) or is a
 * function call (vector(1)); LogsGoQL has neither braces nor parentheses
 * right after a word.
 */
static bool looks_like_logql(const char *q)
{
    if (strchr(q, '{'))
        return true;
    while (isspace((unsigned char)*q))
        q++;
    const char *p = q;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    while (isspace((unsigned char)*p))
        p++;
    return p > q && *p == '(';
}

int cmd_query(int argc, char **argv)
{
    static const struct cli_flag own[] = {
        {"lang", 0, "LANG", QF_LANG,
         "logql, logsgoql or auto (default: LogQL when the query has a { or is a call)"},
        {"limit", 0, "N", QF_LIMIT, "most log lines to return (default 100)"},
        {"direction", 0, "DIR", QF_DIRECTION, "backward (newest first, default) or forward"},
        {"step", 0, "DUR", QF_STEP,
         "metric queries: time between points; LogsGoQL: the resolution (default 0s)"},
        {"instant", 0, NULL, QF_INSTANT,
         "evaluate once at --to (LogQL metric queries; LogsGoQL with start = end)"},
        {0},
    };
    static const struct cli_flag *const tables[] = {own, cli_range_flags, cli_conn_flags, NULL};
    struct cli c = {.synopsis = "strata query [flags] QUERY",
                    .about = "Run a LogQL query (Loki's API) or a LogsGoQL query (LogsGO's "
                             "/api/v1/query) and print\nthe result: log lines, a table of "
                             "samples, or JSON lines.",
                    .tables = tables,
                    .since_default = "1h"};
    struct query_opts q = {.lang = "auto", .limit = 100};
    char *pos[MAX_POS];
    int n_pos, rc = cli_parse(&c, argc, argv, query_flag, &q, pos, &n_pos, MAX_POS);
    if (rc)
        goto done;
    if (n_pos != 1) {
        rc = cli_usage(&c, n_pos ? "give one query (quote it)" : "no query given");
        goto done;
    }
    if ((rc = cli_time_range(&c)))
        goto done;
    const char *query = pos[0];
    bool logql = !strcmp(q.lang, "logql") || (!strcmp(q.lang, "auto") && looks_like_logql(query));
    struct buf p;
    buf_init(&p, 1u << 20);
    if (!logql) {
        int64_t end_s = c.end_ns / NS_PER_SEC;
        cli_param(&p, "expression", query);
        cli_param_int(&p, "start", q.instant ? end_s : c.start_ns / NS_PER_SEC);
        cli_param_int(&p, "end", end_s);
        cli_param(&p, "resolution", q.step && !q.instant ? q.step : "0s");
        rc = get_and_print(&c, "/api/v1/query", &p, RES_LOGSGO, false);
    } else {
        cli_param(&p, "query", query);
        if (q.instant) {
            cli_param_int(&p, "time", c.end_ns);
        } else {
            cli_param_int(&p, "start", c.start_ns);
            cli_param_int(&p, "end", c.end_ns);
            if (q.step)
                cli_param(&p, "step", q.step);
        }
        cli_param_int(&p, "limit", (int64_t)q.limit);
        cli_param(&p, "direction", q.forward ? "forward" : "backward");
        rc = get_and_print(&c, q.instant ? "/loki/api/v1/query" : "/loki/api/v1/query_range", &p,
                           RES_QUERY, !q.forward);
    }
    buf_release(&p);
done:
    cli_release(&c);
    return rc < 0 ? CLI_EXIT_OK : rc;
}

static const struct cli_flag selector_flag[] = {
    {"query", 0, "SELECTOR", QF_QUERY, "only streams matching this selector, e.g. {app=\"api\"}"},
    {0},
};

int cmd_labels(int argc, char **argv)
{
    static const struct cli_flag *const tables[] = {selector_flag, cli_range_flags, cli_conn_flags,
                                                    NULL};
    struct cli c = {.synopsis = "strata labels [flags] [NAME]",
                    .about = "List the label names seen in the time range or, with NAME, the "
                             "values of that label.",
                    .tables = tables,
                    .since_default = "6h"};
    struct query_opts q = {0};
    char *pos[MAX_POS];
    int n_pos, rc = cli_parse(&c, argc, argv, query_flag, &q, pos, &n_pos, MAX_POS);
    if (rc)
        goto done;
    if (n_pos > 1) {
        rc = cli_usage(&c, "give at most one label name");
        goto done;
    }
    if ((rc = cli_time_range(&c)))
        goto done;
    struct buf path, p;
    buf_init(&path, 1u << 16);
    buf_init(&p, 1u << 20);
    if (n_pos) {
        if (buf_append_str(&path, "/loki/api/v1/label/") ||
            url_escape(&path, pos[0], strlen(pos[0])) || buf_append_str(&path, "/values")) {
            rc = cli_usage(&c, "the label name is too long");
            goto release;
        }
    } else if (buf_append_str(&path, "/loki/api/v1/labels")) {
        goto release;
    }
    cli_param_int(&p, "start", c.start_ns);
    cli_param_int(&p, "end", c.end_ns);
    if (q.selector)
        cli_param(&p, "query", q.selector);
    rc = get_and_print(&c, path.ptr, &p, RES_LABELS, false);
release:
    buf_release(&path);
    buf_release(&p);
done:
    cli_release(&c);
    return rc < 0 ? CLI_EXIT_OK : rc;
}

int cmd_series(int argc, char **argv)
{
    static const struct cli_flag *const tables[] = {cli_range_flags, cli_conn_flags, NULL};
    struct cli c = {.synopsis = "strata series [flags] SELECTOR...",
                    .about = "List the streams (their label sets) that match any of the "
                             "selectors, e.g. '{app=\"api\"}'.",
                    .tables = tables,
                    .since_default = "6h"};
    char *pos[MAX_POS];
    int n_pos, rc = cli_parse(&c, argc, argv, query_flag, NULL, pos, &n_pos, MAX_POS);
    if (rc)
        goto done;
    if (!n_pos) {
        rc = cli_usage(&c, "give at least one selector, e.g. '{app=\"api\"}'");
        goto done;
    }
    if ((rc = cli_time_range(&c)))
        goto done;
    struct buf p;
    buf_init(&p, 1u << 20);
    for (int i = 0; i < n_pos; i++)
        cli_param(&p, "match[]", pos[i]);
    cli_param_int(&p, "start", c.start_ns);
    cli_param_int(&p, "end", c.end_ns);
    rc = get_and_print(&c, "/loki/api/v1/series", &p, RES_SERIES, false);
    buf_release(&p);
done:
    cli_release(&c);
    return rc < 0 ? CLI_EXIT_OK : rc;
}

int cmd_stats(int argc, char **argv)
{
    static const struct cli_flag *const tables[] = {cli_range_flags, cli_conn_flags, NULL};
    struct cli c = {.synopsis = "strata stats [flags] QUERY",
                    .about = "Show how many streams, chunks, entries and bytes the query's "
                             "selector covers in the\ntime range (Loki's /index/stats).",
                    .tables = tables,
                    .since_default = "1h"};
    char *pos[MAX_POS];
    int n_pos, rc = cli_parse(&c, argc, argv, query_flag, NULL, pos, &n_pos, MAX_POS);
    if (rc)
        goto done;
    if (n_pos != 1) {
        rc = cli_usage(&c, n_pos ? "give one query (quote it)" : "no query given");
        goto done;
    }
    if ((rc = cli_time_range(&c)))
        goto done;
    struct buf p;
    buf_init(&p, 1u << 20);
    cli_param(&p, "query", pos[0]);
    cli_param_int(&p, "start", c.start_ns);
    cli_param_int(&p, "end", c.end_ns);
    rc = get_and_print(&c, "/loki/api/v1/index/stats", &p, RES_STATS, false);
    buf_release(&p);
done:
    cli_release(&c);
    return rc < 0 ? CLI_EXIT_OK : rc;
}
