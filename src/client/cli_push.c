/*
 * cli_push.c - `strata push`: lines from files or stdin into a stream, through
 * libstrata's asynchronous client (batches, bounded queue, retries).
 *
 * Each line becomes an entry of the stream given by --label flags, stamped
 * with the time it was read (nanoseconds, strictly increasing, so lines keep
 * their order and repeated lines are not taken for duplicates). Lines longer
 * than --max-line-bytes are skipped and counted. The queue blocks the reader
 * when the server is slower than the input. When a batch is given up because
 * the server cannot be reached or refuses the credentials, reading stops;
 * when the server refuses a batch's content, the push goes on and the exit
 * code says so at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cli_common.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "ingest/labels.h"

#define MAX_LABELS 64
#define MAX_FILES  256

enum {
    PF_LABEL = CLI_FLAG_OWN,
    PF_TRANSPORT,
    PF_BATCH_SIZE,
    PF_BATCH_BYTES,
    PF_BATCH_WAIT,
    PF_RETRIES,
    PF_MAX_LINE,
    PF_QUIET,
};

struct push_opts {
    struct strata_label labels[MAX_LABELS];
    char *label_text[MAX_LABELS];
    size_t n_labels;
    enum strata_transport transport;
    uint64_t batch_size, batch_bytes, retries, max_line;
    int64_t batch_wait;
    bool quiet;
};

static int push_flag(struct cli *c, void *ctx, int id, const char *v)
{
    struct push_opts *p = ctx;
    int64_t ns;
    switch (id) {
    case PF_LABEL: {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v)
            return cli_usage(c, "--label: \"%s\" is not name=value", v);
        if (p->n_labels == MAX_LABELS)
            return cli_usage(c, "--label: at most %d labels", MAX_LABELS);
        if (!label_name_valid(slice_make(v, (size_t)(eq - v))))
            return cli_usage(c, "--label: \"%.*s\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                             (int)(eq - v), v);
        for (size_t i = 0; i < p->n_labels; i++)
            if (!strncmp(p->labels[i].name, v, (size_t)(eq - v)) && !p->labels[i].name[eq - v])
                return cli_usage(c, "--label: %.*s is given twice", (int)(eq - v), v);
        char *t = xstrdup(v);
        t[eq - v] = '\0';
        p->label_text[p->n_labels] = t;
        p->labels[p->n_labels++] = (struct strata_label){t, t + (eq - v) + 1};
        return 0;
    }
    case PF_TRANSPORT:
        if (!strcmp(v, "grpc"))
            p->transport = STRATA_TRANSPORT_GRPC;
        else if (!strcmp(v, "http"))
            p->transport = STRATA_TRANSPORT_HTTP_PROTOBUF;
        else if (!strcmp(v, "http-json"))
            p->transport = STRATA_TRANSPORT_HTTP_JSON;
        else
            return cli_usage(c, "--transport: \"%s\" is not grpc, http or http-json", v);
        return 0;
    case PF_BATCH_SIZE:
        if (cli_uint(c, "--batch-size", v, 1000000, &p->batch_size))
            return CLI_EXIT_USAGE;
        return p->batch_size ? 0 : cli_usage(c, "--batch-size must be positive");
    case PF_BATCH_BYTES: {
        int64_t b;
        if (config_parse_bytes(v, &b) || b <= 0 || b > (INT64_C(1) << 30))
            return cli_usage(c, "--batch-bytes: \"%s\" is not a size from 1 to 1GiB", v);
        p->batch_bytes = (uint64_t)b;
        return 0;
    }
    case PF_BATCH_WAIT:
        if (cli_duration(c, "--batch-wait", v, &ns))
            return CLI_EXIT_USAGE;
        if (ns / NS_PER_MS > 3600 * 1000)
            return cli_usage(c, "--batch-wait: at most 1h");
        p->batch_wait = ns;
        return 0;
    case PF_RETRIES: return cli_uint(c, "--retries", v, 1000, &p->retries) ? CLI_EXIT_USAGE : 0;
    case PF_MAX_LINE: {
        int64_t b;
        if (config_parse_bytes(v, &b) || b <= 0 || b > (INT64_C(64) << 20))
            return cli_usage(c, "--max-line-bytes: \"%s\" is not a size from 1 to 64MiB", v);
        p->max_line = (uint64_t)b;
        return 0;
    }
    case PF_QUIET: p->quiet = true; return 0;
    default: return 0;
    }
}

/* ---- reading lines with a bounded buffer ---- */

struct line_reader {
    int fd;
    char *buf;
    size_t cap, start, end;
    bool eof, skipping;
};

enum { LINE_EOF = 0, LINE_OK = 1, LINE_TOO_LONG = 2, LINE_ERROR = -1 };

/* The next line (without "\n" or "\r\n") in *line, *len; or why there is none. */
static int next_line(struct line_reader *r, const char **line, size_t *len)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl || (r->eof && r->start < r->end)) {
            char *stop = nl ? nl : r->buf + r->end;
            const char *p = r->buf + r->start;
            r->start = (size_t)(stop - r->buf) + (nl ? 1 : 0);
            if (r->skipping) {
                r->skipping = false;
                return LINE_TOO_LONG;
            }
            *line = p;
            *len = (size_t)(stop - p);
            if (*len && p[*len - 1] == '\r')
                (*len)--;
            return LINE_OK;
        }
        if (r->eof) {
            if (r->skipping) {
                r->skipping = false;
                return LINE_TOO_LONG;
            }
            return LINE_EOF;
        }
        if (r->start) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (r->end == r->cap) { /* no newline in a full buffer: drop up to the next one */
            r->skipping = true;
            r->end = 0;
        }
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return LINE_ERROR;
        }
        if (n == 0)
            r->eof = true;
        r->end += (size_t)n;
    }
}

/* ---- errors reported by the sender thread ---- */

struct push_state {
    pthread_mutex_t lock;
    int first_rc;
    char first_msg[1024];
    uint64_t failed; /* entries given up */
    int stop;        /* read and written atomically: the server is gone, stop reading */
};

static void on_error(void *arg, int rc, const char *msg, size_t n)
{
    struct push_state *st = arg;
    pthread_mutex_lock(&st->lock);
    if (!st->first_rc) {
        st->first_rc = rc;
        snprintf(st->first_msg, sizeof(st->first_msg), "%s", msg);
    }
    st->failed += n;
    pthread_mutex_unlock(&st->lock);
    if (cli_exit_code(rc) != CLI_EXIT_REFUSED)
        __atomic_store_n(&st->stop, 1, __ATOMIC_RELAXED);
}

static void progress(struct strata_client *cl, uint64_t read, int64_t t0, bool final)
{
    struct strata_stats s;
    strata_client_stats(cl, &s);
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    fprintf(stderr, "\rread %llu lines, %llu acknowledged, %llu queued, %.1fs%s",
            (unsigned long long)read, (unsigned long long)s.sent, (unsigned long long)s.queued,
            secs, final ? "\n" : "   ");
}

int cmd_push(int argc, char **argv)
{
    static const struct cli_flag own[] = {
        {"label", 'l', "NAME=VALUE", PF_LABEL, "a label of the stream (repeat; at least one)"},
        {"transport", 0, "T", PF_TRANSPORT,
         "grpc (default, --grpc-addr), http (snappy protobuf) or http-json (--addr)"},
        {"batch-size", 0, "N", PF_BATCH_SIZE, "lines per request at most (default 1000)"},
        {"batch-bytes", 0, "SIZE", PF_BATCH_BYTES, "bytes per request at most (default 1MiB)"},
        {"batch-wait", 0, "DUR", PF_BATCH_WAIT,
         "send a partial batch after this long (default 1s)"},
        {"retries", 0, "N", PF_RETRIES, "retries of a failed request, with backoff (default 10)"},
        {"max-line-bytes", 0, "SIZE", PF_MAX_LINE,
         "longer lines are skipped (default 256KiB, Loki's limit)"},
        {"quiet", 'q', NULL, PF_QUIET, "no progress line (it is shown on a terminal only)"},
        {0},
    };
    static const struct cli_flag *const tables[] = {own, cli_conn_flags, NULL};
    struct cli c = {.synopsis = "strata push [flags] [FILE...]",
                    .about = "Send each line of the files (or stdin; '-' is stdin too) as an "
                             "entry of the stream the\n--label flags name, in batches, retrying "
                             "when the server is unavailable.",
                    .tables = tables};
    struct push_opts p = {.transport = STRATA_TRANSPORT_GRPC,
                          .batch_size = 1000,
                          .batch_bytes = 1u << 20,
                          .retries = 10,
                          .max_line = 256u << 10,
                          .batch_wait = NS_PER_SEC};
    struct push_state st = {.first_rc = 0};
    pthread_mutex_init(&st.lock, NULL);
    char *files[MAX_FILES];
    int fds[MAX_FILES];
    int n_files = 0, n_open = 0;
    struct strata_client *cl = NULL;
    char *buf = NULL;
    int rc = cli_parse(&c, argc, argv, push_flag, &p, files, &n_files, MAX_FILES);
    if (rc)
        goto done;
    if (!p.n_labels) {
        rc = cli_usage(&c, "give the stream's labels with --label name=value (at least one)");
        goto done;
    }
    if (!n_files)
        files[n_files++] = (char *)"-";
    /* Open everything first: an unreadable file stops the push before anything is sent. */
    for (; n_open < n_files; n_open++) {
        fds[n_open] = strcmp(files[n_open], "-") ? open(files[n_open], O_RDONLY | O_CLOEXEC) : 0;
        if (fds[n_open] < 0) {
            rc = cli_usage(&c, "cannot open %s: %s", files[n_open], strerror(errno));
            goto done;
        }
    }

    struct strata_options o = c.o;
    o.async = 1;
    o.transport = p.transport;
    o.batch_max_entries = (size_t)p.batch_size;
    o.batch_max_bytes = (size_t)p.batch_bytes;
    o.batch_wait_ms = (int)(p.batch_wait / NS_PER_MS);
    o.queue_max_entries = (size_t)p.batch_size * 10;
    o.queue_max_bytes = (size_t)p.batch_bytes * 10;
    o.on_full = STRATA_QUEUE_BLOCK;
    o.enqueue_timeout_ms = -1; /* the reader waits for the server */
    o.max_retries = (int)p.retries;
    o.retry_max_ms = 5000;
    o.close_timeout_ms = 1000; /* a normal end flushes first; a failed one should not wait */
    o.on_error = on_error;
    o.on_error_arg = &st;
    const char *addr = c.addr;
    if (p.transport == STRATA_TRANSPORT_GRPC) {
        addr = c.grpc_addr;
        o.tls.enabled = c.grpc_tls;
    } else {
        o.tls.enabled = !strncmp(c.addr, "https://", 8);
    }
    if (strata_client_new(addr, &o, &cl) < 0) {
        rc = cli_usage(&c, "%s", strata_last_error());
        goto done;
    }

    bool show = !p.quiet && isatty(STDERR_FILENO);
    int64_t t0 = clock_mono_ns(), last_shown = t0, last_ts = 0;
    uint64_t n_read = 0, n_long = 0;
    buf = xmalloc(p.max_line + 2);
    for (int f = 0; f < n_files && !__atomic_load_n(&st.stop, __ATOMIC_RELAXED); f++) {
        /* + 2: a line of max_line bytes fits with its "\r\n" */
        struct line_reader r = {fds[f], buf, (size_t)p.max_line + 2, 0, 0, false, false};
        const char *line;
        size_t len;
        int got;
        while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED) &&
               (got = next_line(&r, &line, &len)) != LINE_EOF) {
            if (got == LINE_ERROR) {
                rc = cli_fail(&c, STRATA_EINVAL, "cannot read %s: %s", files[f], strerror(errno));
                rc = CLI_EXIT_USAGE;
                goto close;
            }
            if (got == LINE_TOO_LONG || len > p.max_line) {
                n_long++;
                continue;
            }
            int64_t ts = clock_now_ns();
            if (ts <= last_ts)
                ts = last_ts + 1;
            last_ts = ts;
            struct strata_entry e = {p.labels, p.n_labels, ts, line, len};
            int prc = strata_push(cl, &e, 1);
            if (prc < 0) {
                rc = cli_fail(&c, prc, "%s", strata_last_error());
                goto close;
            }
            n_read++;
            if (show && clock_mono_ns() - last_shown > 250 * NS_PER_MS) {
                progress(cl, n_read, t0, false);
                last_shown = clock_mono_ns();
            }
        }
    }
    if (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED))
        strata_flush(cl, -1);
    if (show)
        progress(cl, n_read, t0, true);
close:;
    int crc = strata_client_close(cl);
    cl = NULL;
    if (!rc && st.first_rc)
        rc = cli_fail(&c, st.first_rc, "%llu of %llu lines were not accepted: %s",
                      (unsigned long long)st.failed, (unsigned long long)n_read, st.first_msg);
    else if (!rc && crc)
        rc = cli_fail(&c, crc, "%s", strata_last_error());
    if (n_long) {
        fprintf(stderr, "strata push: %llu lines longer than %llu bytes were skipped\n",
                (unsigned long long)n_long, (unsigned long long)p.max_line);
        if (!rc)
            rc = CLI_EXIT_REFUSED;
    }
done:
    strata_client_close(cl);
    free(buf);
    for (int i = 0; i < n_open; i++)
        if (fds[i] > 0)
            close(fds[i]);
    for (size_t i = 0; i < p.n_labels; i++)
        free(p.label_text[i]);
    pthread_mutex_destroy(&st.lock);
    cli_release(&c);
    return rc < 0 ? CLI_EXIT_OK : rc;
}
