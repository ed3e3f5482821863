#include "ingest/queue.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "ingest/ingest.h"
#include "ingest/logsgo.h"

#define QUEUE_TENANT "fake"
#define PREFETCH     32

struct worker {
    struct queue_consumers *q;
    int index;
    pthread_t thread;
};

struct queue_consumers {
    struct queue_config cfg;
    struct ingest *in;
    atomic_int stop;
    struct worker *workers;
    struct metric *acked, *rejected, *requeued, *malformed, *reconnects;
};

/* ---- configuration ---- */

int queue_config_parse(const char *text, size_t len, struct queue_config *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->workers = 1;
    yaml_parser_t p;
    yaml_event_t ev;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errlen, "queue config: cannot start the YAML parser");
        return STRATA_EINTERNAL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    /* depth 1 = top mapping, 2 = inside queue:. key holds the pending key at depth 2. */
    int depth = 0, rc = 0;
    bool in_queue = false, expect_value = false, top_key_queue = false;
    char key[64] = "";
    for (;;) {
        if (!yaml_parser_parse(&p, &ev)) {
            snprintf(err, errlen, "queue config: YAML error at line %zu: %s",
                     p.problem_mark.line + 1, p.problem ? p.problem : "syntax error");
            rc = STRATA_EINVAL;
            break;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT) {
            depth++;
            if (depth == 2 && top_key_queue && t == YAML_MAPPING_START_EVENT)
                in_queue = true;
            expect_value = false;
            top_key_queue = false;
        } else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT) {
            if (depth == 2)
                in_queue = false;
            depth--;
            expect_value = false;
        } else if (t == YAML_SCALAR_EVENT) {
            const char *v = (const char *)ev.data.scalar.value;
            if (depth == 1) {
                if (!expect_value) {
                    top_key_queue = !strcmp(v, "queue");
                    expect_value = true;
                } else {
                    expect_value = false;
                    top_key_queue = false;
                }
            } else if (depth == 2 && in_queue) {
                if (!expect_value) {
                    snprintf(key, sizeof(key), "%s", v);
                    expect_value = true;
                } else {
                    expect_value = false;
                    if (!strcmp(key, "url")) {
                        free(out->url);
                        out->url = xstrdup(v);
                    } else if (!strcmp(key, "name")) {
                        free(out->name);
                        out->name = xstrdup(v);
                    } else if (!strcasecmp(key, "numWorkers") || !strcmp(key, "num_workers")) {
                        char *end;
                        long n = strtol(v, &end, 10);
                        if (*end || n < 1 || n > 256) {
                            snprintf(err, errlen,
                                     "queue config: numWorkers must be an integer from 1 to 256, "
                                     "not \"%s\"",
                                     v);
                            rc = STRATA_EINVAL;
                        } else {
                            out->workers = (int)n;
                        }
                    }
                }
            }
        }
        yaml_event_delete(&ev);
        if (rc)
            break;
    }
    yaml_parser_delete(&p);
    if (!rc && (!out->url || !out->url[0] || !out->name || !out->name[0])) {
        snprintf(err, errlen, "queue config: queue.url and queue.name are required");
        rc = STRATA_EINVAL;
    }
    if (rc)
        queue_config_release(out);
    return rc;
}

void queue_config_release(struct queue_config *c)
{
    free(c->url);
    free(c->name);
    c->url = c->name = NULL;
}

/* ---- consuming ---- */

static bool reply_ok(amqp_rpc_reply_t r, const char *what, int worker)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return true;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        log_warn("queue: worker %d: %s: %s", worker, what, amqp_error_string2(r.library_error));
    else
        log_warn("queue: worker %d: %s: refused by the broker", worker, what);
    return false;
}

/* Sleep ms in small steps, returning early when asked to stop. */
static void pause_ms(struct queue_consumers *q, int ms)
{
    for (int slept = 0; slept < ms && !atomic_load(&q->stop); slept += 50) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static amqp_connection_state_t open_connection(struct worker *w)
{
    struct queue_consumers *q = w->q;
    char *url = xstrdup(q->cfg.url);
    struct amqp_connection_info ci;
    amqp_default_connection_info(&ci);
    if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK) {
        log_error("queue: invalid url \"%s\"", q->cfg.url);
        free(url);
        return NULL;
    }
    /* "amqp://host/" names the default vhost "/", as Go's amqp091 (LogsGO's client) reads it. */
    if (!ci.vhost || !ci.vhost[0])
        ci.vhost = (char *)"/";
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    struct timeval tv = {2, 0};
    if (!sock || amqp_socket_open_noblock(sock, ci.host, ci.port, &tv) != AMQP_STATUS_OK) {
        log_warn("queue: worker %d: cannot connect to %s:%d", w->index, ci.host, ci.port);
        amqp_destroy_connection(conn);
        free(url);
        return NULL;
    }
    char tag[64];
    snprintf(tag, sizeof(tag), "Log Queue Worker %d", w->index);
    bool ok = reply_ok(
        amqp_login(conn, ci.vhost, 0, 131072, 10, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password),
        "login", w->index);
    free(url);
    if (ok) {
        amqp_channel_open(conn, 1);
        ok = reply_ok(amqp_get_rpc_reply(conn), "open channel", w->index);
    }
    if (ok) {
        amqp_queue_declare(conn, 1, amqp_cstring_bytes(q->cfg.name), 0, 1, 0, 0, amqp_empty_table);
        ok = reply_ok(amqp_get_rpc_reply(conn), "declare queue", w->index);
    }
    if (ok) {
        amqp_basic_qos(conn, 1, 0, PREFETCH, 0);
        ok = reply_ok(amqp_get_rpc_reply(conn), "set prefetch", w->index);
    }
    if (ok) {
        amqp_basic_consume(conn, 1, amqp_cstring_bytes(q->cfg.name), amqp_cstring_bytes(tag), 0, 0,
                           0, amqp_empty_table);
        ok = reply_ok(amqp_get_rpc_reply(conn), "consume", w->index);
    }
    if (!ok) {
        amqp_destroy_connection(conn);
        return NULL;
    }
    log_info("queue: worker %d consuming \"%s\"", w->index, q->cfg.name);
    return conn;
}

enum verdict { ACK, REJECT, REQUEUE };

static enum verdict process(struct queue_consumers *q, const amqp_bytes_t *body, int worker)
{
    struct slice msg = {body->bytes ? (const char *)body->bytes : "", body->len};
    struct push_batch b;
    struct push_result res;
    struct normalizer nz;
    char err[1024];
    ingest_begin(q->in, QUEUE_TENANT, msg.len, &b, &res, &nz);
    int rc = logsgo_batch_decode(msg, &nz, err, sizeof(err));
    enum verdict v;
    if (rc < 0) {
        log_warn("queue: worker %d: rejecting a malformed message (%zu bytes): %s", worker, msg.len,
                 err);
        metric_inc(q->malformed, 1);
        v = REJECT;
    } else {
        bool had = b.n_entries > 0;
        rc = ingest_push(q->in, &b, &res);
        if (rc < 0) {
            log_warn("queue: worker %d: cannot store a message (%s): requeued", worker,
                     rc == STRATA_ERATE && res.error ? res.error : strata_strerror(rc));
            v = REQUEUE;
        } else if (!had && res.error) {
            log_warn("queue: worker %d: rejecting a message whose entries are all invalid: %s",
                     worker, res.error);
            v = REJECT;
        } else {
            if (res.error)
                log_warn("queue: worker %d: %llu entries of a message refused: %s", worker,
                         (unsigned long long)res.n_invalid, res.error);
            v = ACK;
        }
    }
    push_batch_release(&b);
    return v;
}

static void consume(struct worker *w, amqp_connection_state_t conn)
{
    struct queue_consumers *q = w->q;
    while (!atomic_load(&q->stop)) {
        amqp_envelope_t env;
        struct timeval tv = {0, 200 * 1000};
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            log_warn("queue: worker %d: connection lost (%s); reconnecting", w->index,
                     r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                         ? amqp_error_string2(r.library_error)
                         : "closed by the broker");
            return;
        }
        enum verdict v = process(q, &env.message.body, w->index);
        int arc;
        if (v == ACK) {
            arc = amqp_basic_ack(conn, env.channel, env.delivery_tag, 0);
            metric_inc(q->acked, 1);
        } else {
            arc = amqp_basic_reject(conn, env.channel, env.delivery_tag, v == REQUEUE);
            metric_inc(v == REQUEUE ? q->requeued : q->rejected, 1);
        }
        amqp_destroy_envelope(&env);
        if (arc != AMQP_STATUS_OK) {
            log_warn("queue: worker %d: cannot acknowledge (%s); reconnecting", w->index,
                     amqp_error_string2(arc));
            return;
        }
        if (v == REQUEUE)
            pause_ms(q, 1000); /* let the store or the rate limit recover */
    }
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    struct queue_consumers *q = w->q;
    int backoff = 100;
    bool first = true;
    while (!atomic_load(&q->stop)) {
        amqp_connection_state_t conn = open_connection(w);
        if (!conn) {
            pause_ms(q, backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            continue;
        }
        if (!first)
            metric_inc(q->reconnects, 1);
        first = false;
        backoff = 100;
        consume(w, conn);
        amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(conn);
    }
    return NULL;
}

int queue_start(const char *path, struct ingest *in, struct queue_consumers **out, char *err,
                size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "--queue-config-path %s: %s", path, strerror(errno));
        return STRATA_EINVAL;
    }
    struct buf text;
    buf_init(&text, 1 << 20);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if ((rc = buf_append(&text, chunk, n)) < 0)
            break;
    fclose(f);
    if (rc < 0) {
        snprintf(err, errlen, "--queue-config-path %s: file larger than 1 MiB", path);
        buf_release(&text);
        return STRATA_EINVAL;
    }
    struct queue_consumers *q = xcalloc(1, sizeof(*q));
    rc = queue_config_parse(text.ptr ? text.ptr : "", text.len, &q->cfg, err, errlen);
    buf_release(&text);
    if (rc < 0) {
        free(q);
        return rc;
    }
    q->in = in;
    struct metric_family *m = metrics_family(METRIC_COUNTER, "strata_queue_messages_total",
                                             "RabbitMQ messages consumed, by outcome.", "result");
    q->acked = metric_get(m, "acked");
    q->rejected = metric_get(m, "rejected");
    q->requeued = metric_get(m, "requeued");
    q->malformed =
        metric_get(metrics_family(METRIC_COUNTER, "strata_queue_malformed_messages_total",
                                  "RabbitMQ messages that were not a valid LogBatch.", NULL));
    q->reconnects = metric_get(metrics_family(METRIC_COUNTER, "strata_queue_reconnects_total",
                                              "Times a queue worker connected again.", NULL));
    q->workers = xcalloc((size_t)q->cfg.workers, sizeof(*q->workers));
    for (int i = 0; i < q->cfg.workers; i++) {
        q->workers[i].q = q;
        q->workers[i].index = i;
        pthread_create(&q->workers[i].thread, NULL, run_worker, &q->workers[i]);
    }
    log_info("queue: %d worker(s) for \"%s\"", q->cfg.workers, q->cfg.name);
    *out = q;
    return 0;
}

void queue_stop(struct queue_consumers *q)
{
    if (!q)
        return;
    atomic_store(&q->stop, 1);
    for (int i = 0; i < q->cfg.workers; i++)
        pthread_join(q->workers[i].thread, NULL);
    free(q->workers);
    queue_config_release(&q->cfg);
    free(q);
}
