/*
 * libstrata_client.c - a program built against the installed libstrata (only
 * <strata.h> and `pkg-config --cflags --libs strata`), driven by
 * tests/integration/test_client.py. Each run does one thing and ends with one
 * JSON line saying what happened:
 *
 *   libstrata_client ADDR log SERVICE LEVEL MESSAGE TIMESTAMP [options]
 *   libstrata_client ADDR logs N PREFIX [options]    N LogsGO logs, messages PREFIX-<i>-<ns>
 *   libstrata_client ADDR push N PREFIX [options]    N Loki entries (--label), lines PREFIX-<i>
 *   libstrata_client ADDR empty [options]            an upload of no logs
 *
 * options: --transport grpc|http|http-json, --tenant, --token, --tls, --ca,
 * --cert, --key, --server-name, --timeout-ms, --label NAME=VALUE (repeat),
 * --async, --batch, --wait-ms, --queue, --policy block|drop-newest|drop-oldest,
 * --enqueue-timeout-ms, --retries, --retry-min-ms, --retry-max-ms,
 * --close-timeout-ms, --rate (uploads per second, one log each), --one-by-one
 * (one upload per log in sync mode too), --wait-stdin (print a line after the
 * uploads, then wait for one on stdin before closing), --flush-ms (flush
 * before reading the final counters and closing; -1 waits as long as it takes),
 * --threads N (the uploads spread over N threads sharing the client).
 *
 * Messages carry the time of their upload (<ns>, CLOCK_REALTIME) so a test can
 * tell which ones were handed over after a given moment.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strata.h>
#include <time.h>

#define MAX_LABELS 16
#define MAX_ERRORS 64

static struct {
    pthread_mutex_t lock;
    int n;
    struct {
        int rc;
        size_t n;
        char msg[200];
    } e[MAX_ERRORS];
} errors = {PTHREAD_MUTEX_INITIALIZER, 0, {{0, 0, ""}}};

static void on_error(void *arg, int rc, const char *msg, size_t n)
{
    (void)arg;
    pthread_mutex_lock(&errors.lock);
    if (errors.n < MAX_ERRORS) {
        errors.e[errors.n].rc = rc;
        errors.e[errors.n].n = n;
        snprintf(errors.e[errors.n].msg, sizeof(errors.e[errors.n].msg), "%s", msg);
        errors.n++;
    }
    pthread_mutex_unlock(&errors.lock);
}

static long long now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A JSON string (the messages here are ASCII; quotes, backslashes and controls escaped). */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end) {
        fprintf(stderr, "libstrata_client: \"%s\" is not a number\n", s);
        exit(2);
    }
    return v;
}

/* The uploads of `logs` and `push`: indexes [first, n) stepping by step, on one thread. */
struct work {
    struct strata_client *c;
    const char *prefix;
    bool logs, each;
    long first, step, n;
    double rate;
    long long t_start;
    const struct strata_label *labels;
    size_t n_labels;
    struct strata_log *lv;
    struct strata_entry *ev;
    char **text;
    pthread_mutex_t *lock; /* guards the results below, shared by the threads */
    int *ok, *failed, *first_failed, *first_failed_rc;
    long long *first_failed_ms;
    char *last_error;
};

static void *upload_range(void *arg)
{
    static const char *const levels[] = {"info", "warn", "error"};
    struct work *w = arg;
    for (long i = w->first; i < w->n; i += w->step) {
        if (w->rate > 0) { /* pace the uploads: upload i at t_start + i / rate */
            long long due = w->t_start + (long long)((double)i * 1e9 / w->rate);
            long long wait = due - now_ns(CLOCK_MONOTONIC);
            if (wait > 0) {
                struct timespec ts = {wait / 1000000000LL, wait % 1000000000LL};
                nanosleep(&ts, NULL);
            }
        }
        w->text[i] = malloc(128);
        snprintf(w->text[i], 128, "%s-%ld-%lld", w->prefix, i, now_ns(CLOCK_REALTIME));
        if (w->logs)
            w->lv[i] = (struct strata_log){
                i % 2 ? "svc-b" : "svc-a", levels[i % 3], w->text[i], 0, w->labels, w->n_labels};
        else
            w->ev[i] =
                (struct strata_entry){w->labels, w->n_labels, 0, w->text[i], strlen(w->text[i])};
        if (!w->each)
            continue;
        long long t0 = now_ns(CLOCK_MONOTONIC);
        int r = w->logs ? strata_upload_log(w->c, &w->lv[i]) : strata_push(w->c, &w->ev[i], 1);
        pthread_mutex_lock(w->lock);
        if (r == 0) {
            (*w->ok)++;
        } else {
            if (*w->first_failed < 0 || i < *w->first_failed) {
                *w->first_failed = (int)i;
                *w->first_failed_rc = r;
                *w->first_failed_ms = (now_ns(CLOCK_MONOTONIC) - t0) / 1000000;
            }
            (*w->failed)++;
            snprintf(w->last_error, 512, "%s", strata_last_error());
        }
        pthread_mutex_unlock(w->lock);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: libstrata_client ADDR log|logs|push|empty ARGS... [options]\n");
        return 2;
    }
    const char *addr = argv[1], *cmd = argv[2];
    const char *args[4] = {NULL, NULL, NULL, NULL};
    int n_args = 0;
    struct strata_options o;
    strata_options_init(&o);
    struct strata_label labels[MAX_LABELS];
    size_t n_labels = 0;
    double rate = 0;
    int wait_stdin = 0, one_by_one = 0, flush_ms = -2, threads = 1;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] != '-') {
            if (n_args < 4)
                args[n_args++] = a;
            continue;
        }
        if (!strcmp(a, "--async")) {
            o.async = 1;
            continue;
        }
        if (!strcmp(a, "--tls")) {
            o.tls.enabled = 1;
            continue;
        }
        if (!strcmp(a, "--wait-stdin")) {
            wait_stdin = 1;
            continue;
        }
        if (!strcmp(a, "--one-by-one")) {
            one_by_one = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "libstrata_client: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--transport"))
            o.transport = !strcmp(v, "http")        ? STRATA_TRANSPORT_HTTP_PROTOBUF
                          : !strcmp(v, "http-json") ? STRATA_TRANSPORT_HTTP_JSON
                                                    : STRATA_TRANSPORT_GRPC;
        else if (!strcmp(a, "--tenant"))
            o.tenant = v;
        else if (!strcmp(a, "--token"))
            o.bearer_token = v;
        else if (!strcmp(a, "--ca"))
            o.tls.ca_file = v;
        else if (!strcmp(a, "--cert"))
            o.tls.cert_file = v;
        else if (!strcmp(a, "--key"))
            o.tls.key_file = v;
        else if (!strcmp(a, "--server-name"))
            o.tls.server_name = v;
        else if (!strcmp(a, "--timeout-ms"))
            o.timeout_ms = (int)num(v);
        else if (!strcmp(a, "--batch"))
            o.batch_max_entries = (size_t)num(v);
        else if (!strcmp(a, "--wait-ms"))
            o.batch_wait_ms = (int)num(v);
        else if (!strcmp(a, "--queue"))
            o.queue_max_entries = (size_t)num(v);
        else if (!strcmp(a, "--enqueue-timeout-ms"))
            o.enqueue_timeout_ms = (int)num(v);
        else if (!strcmp(a, "--retries"))
            o.max_retries = (int)num(v);
        else if (!strcmp(a, "--retry-min-ms"))
            o.retry_min_ms = (int)num(v);
        else if (!strcmp(a, "--retry-max-ms"))
            o.retry_max_ms = (int)num(v);
        else if (!strcmp(a, "--close-timeout-ms"))
            o.close_timeout_ms = (int)num(v);
        else if (!strcmp(a, "--threads"))
            threads = (int)num(v);
        else if (!strcmp(a, "--flush-ms"))
            flush_ms = (int)num(v);
        else if (!strcmp(a, "--rate"))
            rate = strtod(v, NULL);
        else if (!strcmp(a, "--policy"))
            o.on_full = !strcmp(v, "drop-newest")   ? STRATA_QUEUE_DROP_NEWEST
                        : !strcmp(v, "drop-oldest") ? STRATA_QUEUE_DROP_OLDEST
                                                    : STRATA_QUEUE_BLOCK;
        else if (!strcmp(a, "--label") && strchr(v, '=') && n_labels < MAX_LABELS) {
            char *name = strdup(v);
            name[strchr(v, '=') - v] = '\0';
            labels[n_labels++] = (struct strata_label){name, name + strlen(name) + 1};
        } else {
            fprintf(stderr, "libstrata_client: unknown option %s\n", a);
            return 2;
        }
    }
    o.on_error = on_error;

    struct strata_client *c;
    if (strata_client_new(addr, &o, &c) < 0) {
        printf("{\"rc\":%d,\"errname\":\"%s\",\"error\":", -1, "new");
        json_str(strata_last_error());
        printf("}\n");
        return 0;
    }
    int rc = 0, ok = 0, failed = 0, first_failed = -1, first_failed_rc = 0;
    long long first_failed_ms = 0;
    char last_error[512] = "";
    long n = 0;
    long long t_start = now_ns(CLOCK_MONOTONIC);
    if (!strcmp(cmd, "empty")) {
        rc = strata_upload_logs(c, NULL, 0);
    } else if (!strcmp(cmd, "log") && n_args == 4) {
        struct strata_log l = {args[0], args[1], args[2], num(args[3]), labels, n_labels};
        rc = strata_upload_log(c, &l);
    } else if ((!strcmp(cmd, "logs") || !strcmp(cmd, "push")) && n_args == 2) {
        n = num(args[0]);
        bool logs = !strcmp(cmd, "logs");
        struct strata_log *lv = calloc((size_t)n + 1, sizeof(*lv));
        struct strata_entry *ev = calloc((size_t)n + 1, sizeof(*ev));
        char **text = calloc((size_t)n + 1, sizeof(*text));
        bool each = o.async || one_by_one;
        pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        if (threads < 1 || threads > 64 || (threads > 1 && !each)) {
            fprintf(stderr, "libstrata_client: --threads 1..64, with --async or --one-by-one\n");
            return 2;
        }
        pthread_t tid[64];
        struct work w[64];
        for (int t = 0; t < threads; t++) {
            w[t] = (struct work){c,
                                 args[1],
                                 logs,
                                 each,
                                 t,
                                 threads,
                                 n,
                                 rate,
                                 t_start,
                                 labels,
                                 n_labels,
                                 lv,
                                 ev,
                                 text,
                                 &lock,
                                 &ok,
                                 &failed,
                                 &first_failed,
                                 &first_failed_rc,
                                 &first_failed_ms,
                                 last_error};
            pthread_create(&tid[t], NULL, upload_range, &w[t]);
        }
        for (int t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
        if (!each) {
            rc = logs ? strata_upload_logs(c, lv, (size_t)n) : strata_push(c, ev, (size_t)n);
            if (rc == 0)
                ok = (int)n;
        }
        for (long i = 0; i < n; i++)
            free(text[i]);
        free(text);
        free(lv);
        free(ev);
    } else {
        fprintf(stderr, "libstrata_client: bad command or arguments\n");
        return 2;
    }
    const char *err = rc ? strata_last_error() : "";
    char err_copy[512];
    snprintf(err_copy, sizeof(err_copy), "%s", err);
    struct strata_stats st;
    strata_client_stats(c, &st);
    if (wait_stdin) {
        printf("{\"phase\":\"uploaded\",\"ok\":%d,\"failed\":%d,\"queued\":%llu}\n", ok, failed,
               (unsigned long long)st.queued);
        fflush(stdout);
        char line[64];
        if (!fgets(line, sizeof(line), stdin))
            line[0] = '\0';
    }
    int flush_rc = flush_ms >= -1 ? strata_flush(c, flush_ms) : 0;
    strata_client_stats(c, &st);
    int close_rc = strata_client_close(c);
    char close_error[512];
    snprintf(close_error, sizeof(close_error), "%s", close_rc ? strata_last_error() : "");
    printf("{\"rc\":%d,\"errname\":\"%s\",\"error\":", rc, rc ? strata_errname(rc) : "");
    json_str(err_copy);
    printf(",\"ok\":%d,\"failed\":%d,\"first_failed\":%d,\"first_failed_rc\":\"%s\","
           "\"first_failed_ms\":%lld,\"last_error\":",
           ok, failed, first_failed, first_failed_rc ? strata_errname(first_failed_rc) : "",
           first_failed_ms);
    json_str(last_error);
    printf(",\"flush_rc\":\"%s\",\"close_rc\":\"%s\",\"close_error\":",
           flush_rc ? strata_errname(flush_rc) : "", close_rc ? strata_errname(close_rc) : "");
    json_str(close_error);
    /* The counters as of the moment before close; close's own outcome is in on_error. */
    printf(",\"accepted\":%llu,\"sent\":%llu,\"dropped\":%llu,\"refused\":%llu,"
           "\"retries\":%llu,\"batches\":%llu,\"on_error\":[",
           (unsigned long long)st.accepted, (unsigned long long)st.sent,
           (unsigned long long)st.dropped, (unsigned long long)st.refused,
           (unsigned long long)st.retries, (unsigned long long)st.batches);
    for (int i = 0; i < errors.n; i++) {
        printf("%s{\"rc\":\"%s\",\"n\":%zu,\"msg\":", i ? "," : "", strata_errname(errors.e[i].rc),
               errors.e[i].n);
        json_str(errors.e[i].msg);
        printf("}");
    }
    printf("],\"version\":\"%s\"}\n", strata_client_version());
    for (size_t i = 0; i < n_labels; i++)
        free((char *)labels[i].name);
    return 0;
}
