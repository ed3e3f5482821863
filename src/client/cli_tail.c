/*
 * cli_tail.c - `strata tail`: follow a log query over Loki's /loki/api/v1/tail
 * WebSocket (websocket.c), printing entries as they arrive, until Ctrl-C,
 * SIGTERM or the server ends the tail.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli_common.h"
#include "client/websocket.h"
#include "core/clock.h"
#include "core/err.h"

#define MAX_POS     4
#define MAX_MESSAGE (64u << 20)

enum { TF_LIMIT = CLI_FLAG_OWN, TF_DELAY };

struct tail_opts {
    uint64_t limit;
    uint64_t delay_s;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static int tail_flag(struct cli *c, void *ctx, int id, const char *v)
{
    struct tail_opts *t = ctx;
    if (id == TF_LIMIT) {
        if (cli_uint(c, "--limit", v, 1000000, &t->limit))
            return CLI_EXIT_USAGE;
        return t->limit ? 0 : cli_usage(c, "--limit must be positive");
    }
    if (id == TF_DELAY) {
        int64_t ns;
        if (cli_duration(c, "--delay-for", v, &ns))
            return CLI_EXIT_USAGE;
        if (ns > 5 * NS_PER_SEC)
            return cli_usage(c, "--delay-for: at most 5s (Loki's limit)");
        t->delay_s = (uint64_t)(ns / NS_PER_SEC);
    }
    return 0;
}

int cmd_tail(int argc, char **argv)
{
    static const struct cli_flag own[] = {
        {"since", 0, "DUR", CF_SINCE, "start with what arrived this long ago (default 1h)"},
        {"from", 0, "TIME", CF_FROM, "start with what arrived since TIME instead"},
        {"limit", 0, "N", TF_LIMIT, "most entries sent from before the tail began (default 30)"},
        {"delay-for", 0, "DUR", TF_DELAY, "let the server wait this long for late entries (<= 5s)"},
        {"output", 'o', "FORMAT", CF_OUTPUT, "text (default), raw or jsonl"},
        {0},
    };
    static const struct cli_flag *const tables[] = {own, cli_conn_flags, NULL};
    struct cli c = {.synopsis = "strata tail [flags] QUERY",
                    .about = "Print the entries matching a log query as they arrive (Loki's "
                             "tail WebSocket), until\ninterrupted. Exits 0 on Ctrl-C or when the "
                             "server ends the tail normally.",
                    .tables = tables,
                    .since_default = "1h"};
    struct tail_opts t = {.limit = 30};
    char *pos[MAX_POS];
    struct ws *w = NULL;
    struct buf msg, out, url;
    buf_init(&msg, MAX_MESSAGE);
    buf_init(&out, BUF_UNLIMITED);
    buf_init(&url, 1u << 20);
    int n_pos, rc = cli_parse(&c, argc, argv, tail_flag, &t, pos, &n_pos, MAX_POS);
    if (rc)
        goto done;
    if (n_pos != 1) {
        rc = cli_usage(&c, n_pos ? "give one query (quote it)" : "no query given");
        goto done;
    }
    if ((rc = cli_time_range(&c)))
        goto done;
    /* ws:// from http://, wss:// from https://: the same listener. */
    bool tls = !strncmp(c.addr, "https://", 8);
    const char *host = strstr(c.addr, "://") ? strstr(c.addr, "://") + 3 : c.addr;
    size_t hl = strcspn(host, "/");
    struct buf q;
    buf_init(&q, 1u << 20);
    cli_param(&q, "query", pos[0]);
    cli_param_int(&q, "limit", (int64_t)t.limit);
    cli_param_int(&q, "start", c.start_ns);
    cli_param_int(&q, "delay_for", (int64_t)t.delay_s);
    rc = buf_printf(&url, "%s://%.*s/loki/api/v1/tail%s", tls ? "wss" : "ws", (int)hl, host, q.ptr);
    buf_release(&q);
    if (rc) {
        rc = cli_usage(&c, "the query is too long");
        goto done;
    }
    char auth[4200] = "", tenant[512] = "", agent[64];
    const char *headers[3];
    size_t n_headers = 0;
    if (c.o.bearer_token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c.o.bearer_token);
        headers[n_headers++] = auth;
    }
    if (c.o.tenant) {
        snprintf(tenant, sizeof(tenant), "X-Scope-OrgID: %s", c.o.tenant);
        headers[n_headers++] = tenant;
    }
    snprintf(agent, sizeof(agent), "User-Agent: strata-client/%s", strata_client_version());
    headers[n_headers++] = agent;
    struct ws_options wo = {c.o.tls.ca_file, c.o.tls.cert_file, c.o.tls.key_file,
                            c.o.timeout_ms,  headers,           n_headers};
    char err[1200];
    int status;
    int wrc = ws_connect(url.ptr, &wo, &w, &status, err, sizeof(err));
    if (wrc) {
        /* EINVAL without an answer: a bad --addr or TLS file, the user's to fix. */
        rc = wrc == STRATA_EINVAL && !status ? cli_usage(&c, "%s", err)
                                             : cli_fail(&c, wrc, "%s", err);
        goto done;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (;;) {
        if (stop_signal) {
            ws_close(w, 1000, 1000);
            rc = CLI_EXIT_OK;
            break;
        }
        int code;
        int r = ws_read(w, &msg, 200, &code, err, sizeof(err));
        if (r == STRATA_ETIMEOUT)
            continue;
        if (r == 0) {
            /* 1000 normal, 1001 going away (shutdown, duration limit): the tail is over. */
            if (code == 1000 || code == 1001)
                rc = CLI_EXIT_OK;
            else
                rc = cli_fail(&c, code == 1006 ? STRATA_EUNAVAIL : STRATA_EINVAL,
                              "the server ended the tail (WebSocket close code %d)", code);
            break;
        }
        if (r < 0) {
            rc = cli_fail(&c, STRATA_EUNAVAIL, "%s", err);
            break;
        }
        struct result_info info;
        buf_reset(&out);
        if (result_print(RES_TAIL, buf_slice(&msg), c.output, false, &out, &info, err,
                         sizeof(err))) {
            rc = cli_fail(&c, STRATA_EIO, "%s", err);
            ws_close(w, 1003, 1000);
            break;
        }
        if ((rc = cli_write(&c, &out)))
            break;
        if (info.dropped)
            fprintf(stderr, "strata tail: the server dropped %zu entries\n", info.dropped);
    }
done:
    ws_free(w);
    buf_release(&msg);
    buf_release(&out);
    buf_release(&url);
    cli_release(&c);
    return rc < 0 ? CLI_EXIT_OK : rc;
}
