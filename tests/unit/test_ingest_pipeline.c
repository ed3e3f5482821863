/* Unit tests of the shared write path (ingest.c): rate and stream limits; the queue config. */
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/err.h"
#include "ingest/ingest.h"
#include "ingest/queue.h"
#include "test.h"

static struct ingest *start(struct config *cfg, struct store **st)
{
    char err[256];
    if (store_open(cfg, st, err, sizeof(err)) < 0)
        return NULL;
    return ingest_new(cfg, *st, err, sizeof(err));
}

/* Push n entries of `size` bytes to stream app=<app>; returns ingest_push's rc. */
static int push(struct ingest *in, const char *app, int n, size_t size, struct push_result *res)
{
    static char line[4096];
    memset(line, 'x', sizeof(line));
    struct push_batch b;
    struct normalizer nz;
    ingest_begin(in, "t1", 0, &b, res, &nz);
    struct label l[] = {{SLICE_LIT("app"), slice_from(app)}};
    uint32_t si;
    norm_stream(&nz, l, 1, &si);
    for (int i = 0; i < n; i++)
        norm_entry(&nz, si, clock_now_ns(), (struct slice){line, size}, NULL, 0);
    int rc = ingest_push(in, &b, res);
    /* The message lives in the batch's arena: keep a copy for the test to read. */
    static char last_error[2048];
    if (res->error) {
        snprintf(last_error, sizeof(last_error), "%s", res->error);
        res->error = last_error;
    }
    res->rejected = NULL;
    push_batch_release(&b);
    return rc;
}

TEST(ingest_rate_limit_is_a_token_bucket)
{
    struct config cfg;
    config_init(&cfg);
    char err[256];
    ASSERT_EQ_INT(config_set(&cfg, "limits.ingestion-rate-mb", "0.001", err, sizeof(err)), 0);
    ASSERT_EQ_INT(config_set(&cfg, "limits.ingestion-burst-size-mb", "0.004", err, sizeof(err)), 0);
    struct store *st;
    struct ingest *in = start(&cfg, &st);
    ASSERT_TRUE(in != NULL);
    struct push_result r;
    /* burst = 4194 bytes: 4 KiB passes; 3 KiB more would need almost 3 s of refill */
    ASSERT_EQ_INT(push(in, "a", 4, 1024, &r), 0);
    ASSERT_EQ_INT(r.accepted, 4);
    ASSERT_EQ_INT(push(in, "a", 3, 1024, &r), STRATA_ERATE);
    ASSERT_TRUE(strstr(r.error, "ingestion rate limit exceeded for user t1 (limit: 1048 "
                                "bytes/sec) while attempting to ingest '3' lines totaling "
                                "'3072' bytes") != NULL);
    /* A request larger than the burst can never pass. */
    ASSERT_EQ_INT(push(in, "a", 2, 4096, &r), STRATA_ERATE);
    ingest_free(in);
    store_close(st);
    config_release(&cfg);
}

TEST(ingest_stream_limit_keeps_known_streams)
{
    struct config cfg;
    config_init(&cfg);
    char err[256];
    ASSERT_EQ_INT(config_set(&cfg, "limits.max-global-streams-per-user", "2", err, sizeof(err)), 0);
    struct store *st;
    struct ingest *in = start(&cfg, &st);
    ASSERT_TRUE(in != NULL);
    struct push_result r;
    ASSERT_EQ_INT(push(in, "a", 1, 10, &r), 0);
    ASSERT_EQ_INT(push(in, "b", 1, 10, &r), 0);
    ASSERT_EQ_INT(push(in, "c", 3, 10, &r), 0);
    ASSERT_EQ_INT(r.accepted, 0);
    ASSERT_EQ_INT(r.n_invalid, 3);
    ASSERT_EQ_INT(r.error_rc, STRATA_ERATE);
    ASSERT_TRUE(strstr(r.error, "maximum active stream limit exceeded when trying to create "
                                "stream {app=\"c\", service_name=\"c\"}") != NULL);
    ASSERT_EQ_INT(push(in, "a", 2, 10, &r), 0);
    ASSERT_EQ_INT(r.accepted, 2);
    ingest_free(in);
    store_close(st);
    config_release(&cfg);
}

TEST(queue_config_needs_url_and_name)
{
    struct queue_config q;
    char err[256];
    const char *ok = "queue:\n  url: amqp://guest:guest@127.0.0.1:5672/\n  name: logs\n"
                     "  numWorkers: 3\nother: {name: ignored}\n";
    ASSERT_EQ_INT(queue_config_parse(ok, strlen(ok), &q, err, sizeof(err)), 0);
    ASSERT_EQ_STR(q.url, "amqp://guest:guest@127.0.0.1:5672/");
    ASSERT_EQ_STR(q.name, "logs");
    ASSERT_EQ_INT(q.workers, 3);
    queue_config_release(&q);
    const char *dflt = "queue: {url: 'amqp://h', name: q}";
    ASSERT_EQ_INT(queue_config_parse(dflt, strlen(dflt), &q, err, sizeof(err)), 0);
    ASSERT_EQ_INT(q.workers, 1);
    queue_config_release(&q);
    const char *missing = "queue:\n  url: amqp://h\n";
    ASSERT_EQ_INT(queue_config_parse(missing, strlen(missing), &q, err, sizeof(err)),
                  STRATA_EINVAL);
    ASSERT_EQ_STR(err, "queue config: queue.url and queue.name are required");
    const char *bad = "queue:\n  url: amqp://h\n  name: q\n  numWorkers: many\n";
    ASSERT_EQ_INT(queue_config_parse(bad, strlen(bad), &q, err, sizeof(err)), STRATA_EINVAL);
    const char *broken = "queue: [";
    ASSERT_EQ_INT(queue_config_parse(broken, strlen(broken), &q, err, sizeof(err)), STRATA_EINVAL);
}
