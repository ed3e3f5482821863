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

/*
 * What a reader command needs besides its flags: how many arguments it takes,
 * and how its request is made from them (path, parameters, the kind of answer).
 */
struct reader {
    struct cli c;
    struct query_opts q;
    int min_args, max_args;
    const char *no_args, *too_many; /* the usage messages */
    /* Fill path and params (and kind, backward): 0, or STRATA_ETOOLARGE. */
    int (*request)(struct reader *r, char **args, int n, struct buf *path, struct buf *params);
    enum result_kind kind;
    bool backward;
};

/* Parse, check the arguments and the time range, GET, print: the whole of a reader command. */
static int run(struct reader *r, int argc, char **argv)
{
    char *args[MAX_POS];
    int n, rc = cli_parse(&r->c, argc, argv, query_flag, &r->q, args, &n, MAX_POS);
    if (!rc && (n < r->min_args || n > r->max_args))
        rc = cli_usage(&r->c, "%s", n < r->min_args ? r->no_args : r->too_many);
    if (!rc)
        rc = cli_time_range(&r->c);
    if (rc) {
        cli_release(&r->c);
        return rc < 0 ? CLI_EXIT_OK : rc;
    }
    struct buf path, params, resp, out;
    buf_init(&path, 1u << 16);
    buf_init(&params, 1u << 20);
    buf_init(&resp, MAX_ANSWER);
    buf_init(&out, BUF_UNLIMITED);
    if (r->request(r, args, n, &path, &params))
        rc = cli_usage(&r->c, "the request is too long");
    else
        rc = cli_get(&r->c, path.ptr, &params, &resp);
    if (!rc) {
        char err[512];
        if (result_print(r->kind, buf_slice(&resp), r->c.output, r->backward, &out, NULL, err,
                         sizeof(err)))
            rc = cli_fail(&r->c, STRATA_EIO, "%s", err);
        else
            rc = cli_write(&r->c, &out);
    }
    buf_release(&path);
    buf_release(&params);
    buf_release(&resp);
    buf_release(&out);
    cli_release(&r->c);
    return rc;
}

static void range_params(struct cli *c, struct buf *params)
{
    cli_param_int(params, "start", c->start_ns);
    cli_param_int(params, "end", c->end_ns);
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

static int query_request(struct reader *r, char **args, int n, struct buf *path, struct buf *p)
{
    (void)n;
    struct cli *c = &r->c;
    const struct query_opts *q = &r->q;
    const char *query = args[0];
    if (!strcmp(q->lang, "logsgoql") || (!strcmp(q->lang, "auto") && !looks_like_logql(query))) {
        int64_t end_s = c->end_ns / NS_PER_SEC;
        cli_param(p, "expression", query);
        cli_param_int(p, "start", q->instant ? end_s : c->start_ns / NS_PER_SEC);
        cli_param_int(p, "end", end_s);
        cli_param(p, "resolution", q->step && !q->instant ? q->step : "0s");
        r->kind = RES_LOGSGO;
        return buf_append_str(path, "/api/v1/query");
    }
    cli_param(p, "query", query);
    if (q->instant) {
        cli_param_int(p, "time", c->end_ns);
    } else {
        range_params(c, p);
        if (q->step)
            cli_param(p, "step", q->step);
    }
    cli_param_int(p, "limit", (int64_t)q->limit);
    cli_param(p, "direction", q->forward ? "forward" : "backward");
    r->kind = RES_QUERY;
    r->backward = !q->forward;
    return buf_append_str(path, q->instant ? "/loki/api/v1/query" : "/loki/api/v1/query_range");
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
    struct reader r = {
        .c = {.synopsis = "strata query [flags] QUERY",
              .about = "Run a LogQL query (Loki's API) or a LogsGoQL query (LogsGO's "
                       "/api/v1/query) and print\nthe result: log lines, a table of samples, or "
                       "JSON lines.",
              .tables = tables,
              .since_default = "1h"},
        .q = {.lang = "auto", .limit = 100},
        .min_args = 1,
        .max_args = 1,
        .no_args = "no query given",
        .too_many = "give one query (quote it)",
        .request = query_request,
    };
    return run(&r, argc, argv);
}

static const struct cli_flag selector_flag[] = {
    {"query", 0, "SELECTOR", QF_QUERY, "only streams matching this selector, e.g. {app=\"api\"}"},
    {0},
};

static int labels_request(struct reader *r, char **args, int n, struct buf *path, struct buf *p)
{
    int rc = 0;
    if (n)
        rc = buf_append_str(path, "/loki/api/v1/label/") ||
             url_escape(path, args[0], strlen(args[0])) || buf_append_str(path, "/values");
    else
        rc = buf_append_str(path, "/loki/api/v1/labels");
    range_params(&r->c, p);
    if (r->q.selector)
        cli_param(p, "query", r->q.selector);
    r->kind = RES_LABELS;
    return rc ? STRATA_ETOOLARGE : 0;
}

int cmd_labels(int argc, char **argv)
{
    static const struct cli_flag *const tables[] = {selector_flag, cli_range_flags, cli_conn_flags,
                                                    NULL};
    struct reader r = {
        .c = {.synopsis = "strata labels [flags] [NAME]",
              .about = "List the label names seen in the time range or, with NAME, the values "
                       "of that label.",
              .tables = tables,
              .since_default = "6h"},
        .min_args = 0,
        .max_args = 1,
        .too_many = "give at most one label name",
        .request = labels_request,
    };
    return run(&r, argc, argv);
}

static int series_request(struct reader *r, char **args, int n, struct buf *path, struct buf *p)
{
    for (int i = 0; i < n; i++)
        cli_param(p, "match[]", args[i]);
    range_params(&r->c, p);
    r->kind = RES_SERIES;
    return buf_append_str(path, "/loki/api/v1/series");
}

int cmd_series(int argc, char **argv)
{
    static const struct cli_flag *const tables[] = {cli_range_flags, cli_conn_flags, NULL};
    struct reader r = {
        .c = {.synopsis = "strata series [flags] SELECTOR...",
              .about = "List the streams (their label sets) that match any of the selectors, "
                       "e.g. '{app=\"api\"}'.",
              .tables = tables,
              .since_default = "6h"},
        .min_args = 1,
        .max_args = MAX_POS,
        .no_args = "give at least one selector, e.g. '{app=\"api\"}'",
        .too_many = "too many selectors",
        .request = series_request,
    };
    return run(&r, argc, argv);
}

static int stats_request(struct reader *r, char **args, int n, struct buf *path, struct buf *p)
{
    (void)n;
    cli_param(p, "query", args[0]);
    range_params(&r->c, p);
    r->kind = RES_STATS;
    return buf_append_str(path, "/loki/api/v1/index/stats");
}

int cmd_stats(int argc, char **argv)
{
    static const struct cli_flag *const tables[] = {cli_range_flags, cli_conn_flags, NULL};
    struct reader r = {
        .c = {.synopsis = "strata stats [flags] QUERY",
              .about = "Show how many streams, chunks, entries and bytes the query's selector "
                       "covers in the\ntime range (Loki's /index/stats).",
              .tables = tables,
              .since_default = "1h"},
        .min_args = 1,
        .max_args = 1,
        .no_args = "no query given",
        .too_many = "give one query (quote it)",
        .request = stats_request,
    };
    return run(&r, argc, argv);
}
