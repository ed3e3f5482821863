/*
 * queue.h - LogsGO's RabbitMQ ingest (--queue-config-path).
 *
 * The YAML file names the broker and the queue:
 *
 *     queue:
 *       url: amqp://guest:guest@127.0.0.1:5672/
 *       name: logs
 *       numWorkers: 2        # default 1
 *
 * Each of numWorkers threads opens its own connection, declares the queue
 * durable (as LogsGO's client does) and consumes it as "Log Queue Worker <i>"
 * with manual acknowledgements. A message body is a protobuf LogBatch
 * (proto/logapi.proto); its entries go through the shared write path
 * (ingest/ingest.h, default tenant) and the message is acknowledged only
 * after store_push has returned 0, so an acknowledged message is durable and
 * a crash before that leaves it in the queue for redelivery (the seed
 * auto-acks and loses it). A malformed message, or one whose every entry is
 * refused, is rejected without requeue and counted in /metrics
 * (strata_queue_messages_total{result="rejected"},
 * strata_queue_malformed_messages_total); a busy or failing store requeues
 * it after a pause. When the broker goes away the worker reconnects with
 * exponential backoff (100 ms doubling to 5 s).
 */
#ifndef STRATA_QUEUE_H
#define STRATA_QUEUE_H

#include <stddef.h>

struct ingest;
struct queue_consumers;

struct queue_config {
    char *url, *name;
    int workers;
};

/* Parse the YAML text of a queue file; url and name are required. STRATA_EINVAL with a message. */
int queue_config_parse(const char *text, size_t len, struct queue_config *out, char *err,
                       size_t errlen);
void queue_config_release(struct queue_config *c);

/*
 * Read the file at path and start the consumers (they connect in the
 * background: a broker that is down at start is retried like one that goes
 * away later). STRATA_EINVAL with a message for a missing or bad file.
 */
int queue_start(const char *path, struct ingest *in, struct queue_consumers **out, char *err,
                size_t errlen);
/* Stop consuming (unacknowledged messages go back to the queue) and free. NULL is a no-op. */
void queue_stop(struct queue_consumers *q);

#endif
