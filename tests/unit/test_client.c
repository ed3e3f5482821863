/*
 * Unit tests of libstrata: the checks and copies of uploads, the request
 * bodies (decoded with protobuf-c from the .proto files, an encoder
 * independent of ours), options, errors, and the asynchronous queue's
 * policies with a queue that never drains (no server is needed: the batch
 * wait is longer than the test).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strata.h>

#include "client/client.h"
#include "client/entries.h"
#include "core/clock.h"
#include "core/err.h"
#include "logapi.pb-c.h"
#include "loki_push.pb-c.h"
#include "test.h"

static const char *label_of(const struct centry *e, const char *name)
{
    for (uint32_t i = 0; i < e->n_labels; i++)
        if (slice_eq_str(e->labels[i].name, name))
            return e->labels[i].value.ptr;
    return NULL;
}

TEST(client_log_checks_give_logsgo_messages)
{
    char err[256];
    struct centry *e;
    struct strata_log l = {"api", "", "hello", 0, NULL, 0};
    ASSERT_EQ_INT(centry_from_log(&l, 1, false, &e, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_STR(err, "log entry must contain Service, Level, and Message fields");
    l = (struct strata_log){NULL, "info", "hello", 0, NULL, 0};
    ASSERT_EQ_INT(centry_from_log(&l, 1, true, &e, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_STR(err, "log entry must contain Service, Level, and Message fields");
    l = (struct strata_log){"api", "info", "hello", 0, NULL, 2};
    ASSERT_EQ_INT(centry_from_log(&l, 1, false, &e, err, sizeof(err)), STRATA_EINVAL);
}

TEST(client_log_kept_as_given_for_grpc)
{
    char err[256];
    struct centry *e;
    struct strata_label lb[2] = {{" Region ", "eu"}, {"service", "ignored-by-the-server"}};
    struct strata_log l = {"api", "warn", "disk full", 0, lb, 2};
    ASSERT_EQ_INT(centry_from_log(&l, 1700000000, false, &e, err, sizeof(err)), 0);
    ASSERT_EQ_INT(e->kind, CENTRY_LOGSGO);
    ASSERT_EQ_INT(e->ts, 1700000000); /* timestamp 0 is now, in seconds */
    ASSERT_EQ_SLICE(e->service, "api");
    ASSERT_EQ_SLICE(e->line, "disk full");
    ASSERT_EQ_INT(e->n_labels, 2);
    ASSERT_EQ_STR(e->labels[0].name.ptr, " Region "); /* the server applies LogsGO's rules */
    ASSERT_EQ_INT(e->size, strlen("api") + strlen("warn") + strlen("disk full") + 4 + 8 + 1 + 2 +
                               1 + 7 + 1 + 21 + 1);
    centry_free(e);
}

TEST(client_log_as_stream_applies_logsgo_key_rules)
{
    char err[256];
    struct centry *e;
    struct strata_label lb[] = {
        {" region ", "eu"}, {"SERVICE", "x"}, {"Message", "y"}, {"", "empty"},
        {"my-key", "v"},    {"region", "us"}, {"1st", "one"},
    };
    struct strata_log l = {"api", "info", "hello", 12, lb, sizeof(lb) / sizeof(lb[0])};
    ASSERT_EQ_INT(centry_from_log(&l, 99, true, &e, err, sizeof(err)), 0);
    ASSERT_EQ_INT(e->kind, CENTRY_LOKI);
    ASSERT_EQ_INT(e->ts, 12 * NS_PER_SEC);
    ASSERT_EQ_SLICE(
        e->stream,
        "{key_1st=\"one\", level=\"info\", my_key=\"v\", region=\"us\", service=\"api\"}");
    ASSERT_EQ_STR(label_of(e, "region"), "us"); /* the last of a repeated key wins */
    ASSERT_EQ_SLICE(e->line, "hello");
    centry_free(e);
}

TEST(client_entry_checks)
{
    char err[256];
    struct centry *e;
    struct strata_entry x = {NULL, 0, 5, "line", 4};
    ASSERT_EQ_INT(centry_from_entry(&x, 1, &e, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_STR(err, "error at least one label pair is required per stream");
    struct strata_label bad[] = {{"a-b", "1"}};
    x = (struct strata_entry){bad, 1, 5, "line", 4};
    ASSERT_EQ_INT(centry_from_entry(&x, 1, &e, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_STR(err, "stream '{a-b=\"1\"}' has invalid label name: 'a-b'");
    struct strata_label dup[] = {{"b", "1"}, {"a", "2"}, {"b", "3"}};
    x = (struct strata_entry){dup, 3, 5, "line", 4};
    ASSERT_EQ_INT(centry_from_entry(&x, 1, &e, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "duplicate label name: 'b'") != NULL);
    struct strata_label ok[] = {{"b", "x\"y"}, {"a", "2"}};
    x = (struct strata_entry){ok, 2, 0, "a\0b", 3}; /* lines may hold NUL bytes */
    ASSERT_EQ_INT(centry_from_entry(&x, 777, &e, err, sizeof(err)), 0);
    ASSERT_EQ_INT(e->ts, 777);
    ASSERT_EQ_SLICE(e->stream, "{a=\"2\", b=\"x\\\"y\"}");
    ASSERT_EQ_INT(e->line.len, 3);
    ASSERT_TRUE(!memcmp(e->line.ptr, "a\0b", 3));
    centry_free(e);
}

TEST(client_logsgo_batch_decodes_with_protobuf_c)
{
    char err[256];
    struct centry *v[2];
    struct strata_label lb[] = {{"zone", "a"}, {"host", "h1"}};
    struct strata_log l0 = {"api", "info", "first", 1700000001, lb, 2};
    struct strata_log l1 = {"db", "error", "second", 1700000002, NULL, 0};
    ASSERT_EQ_INT(centry_from_log(&l0, 0, false, &v[0], err, sizeof(err)), 0);
    ASSERT_EQ_INT(centry_from_log(&l1, 0, false, &v[1], err, sizeof(err)), 0);
    struct buf b;
    buf_init(&b, 1 << 20);
    ASSERT_EQ_INT(encode_logsgo_batch(v, 2, &b), 0);
    Logapi__LogBatch *batch = logapi__log_batch__unpack(NULL, b.len, (const uint8_t *)b.ptr);
    ASSERT_TRUE(batch != NULL);
    ASSERT_EQ_INT(batch->n_entries, 2);
    ASSERT_EQ_STR(batch->entries[0]->service, "api");
    ASSERT_EQ_STR(batch->entries[0]->level, "info");
    ASSERT_EQ_STR(batch->entries[0]->message, "first");
    ASSERT_EQ_INT(batch->entries[0]->timestamp, 1700000001);
    ASSERT_EQ_INT(batch->entries[0]->n_labels, 2);
    ASSERT_EQ_STR(batch->entries[0]->labels[1]->key, "host");
    ASSERT_EQ_STR(batch->entries[0]->labels[1]->value, "h1");
    ASSERT_EQ_STR(batch->entries[1]->message, "second");
    ASSERT_EQ_INT(batch->entries[1]->n_labels, 0);
    logapi__log_batch__free_unpacked(batch, NULL);

    buf_reset(&b);
    ASSERT_EQ_INT(encode_logsgo_entry(v[1], &b), 0);
    Logapi__LogEntry *one = logapi__log_entry__unpack(NULL, b.len, (const uint8_t *)b.ptr);
    ASSERT_TRUE(one != NULL);
    ASSERT_EQ_STR(one->service, "db");
    ASSERT_EQ_INT(one->timestamp, 1700000002);
    logapi__log_entry__free_unpacked(one, NULL);
    buf_release(&b);
    centry_free(v[0]);
    centry_free(v[1]);
}

TEST(client_loki_proto_groups_streams_and_keeps_order)
{
    char err[256];
    struct strata_label a[] = {{"app", "a"}}, b[] = {{"app", "b"}};
    struct strata_entry in[] = {
        {a, 1, 3 * NS_PER_SEC + 5, "a1", 2},
        {b, 1, -1, "b1", 2}, /* before the epoch: seconds -1, nanos 999999999 */
        {a, 1, 1, "a2", 2},
    };
    struct centry *v[3];
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_INT(centry_from_entry(&in[i], 1, &v[i], err, sizeof(err)), 0);
    struct buf out;
    buf_init(&out, 1 << 20);
    ASSERT_EQ_INT(encode_loki_proto(v, 3, &out), 0);
    Logproto__PushRequest *r =
        logproto__push_request__unpack(NULL, out.len, (const uint8_t *)out.ptr);
    ASSERT_TRUE(r != NULL);
    ASSERT_EQ_INT(r->n_streams, 2);
    ASSERT_EQ_STR(r->streams[0]->labels, "{app=\"a\"}");
    ASSERT_EQ_INT(r->streams[0]->n_entries, 2);
    ASSERT_EQ_STR(r->streams[0]->entries[0]->line, "a1");
    ASSERT_EQ_INT(r->streams[0]->entries[0]->timestamp->seconds, 3);
    ASSERT_EQ_INT(r->streams[0]->entries[0]->timestamp->nanos, 5);
    ASSERT_EQ_STR(r->streams[0]->entries[1]->line, "a2");
    ASSERT_EQ_STR(r->streams[1]->labels, "{app=\"b\"}");
    ASSERT_EQ_INT(r->streams[1]->entries[0]->timestamp->seconds, -1);
    ASSERT_EQ_INT(r->streams[1]->entries[0]->timestamp->nanos, 999999999);
    logproto__push_request__free_unpacked(r, NULL);

    buf_reset(&out);
    ASSERT_EQ_INT(encode_loki_json(v, 3, &out), 0);
    ASSERT_EQ_STR(out.ptr,
                  "{\"streams\":[{\"stream\":{\"app\":\"a\"},\"values\":[[\"3000000005\","
                  "\"a1\"],[\"1\",\"a2\"]]},{\"stream\":{\"app\":\"b\"},\"values\":[[\"-1\","
                  "\"b1\"]]}]}");
    buf_release(&out);
    for (int i = 0; i < 3; i++)
        centry_free(v[i]);
}

TEST(client_upload_response)
{
    ASSERT_TRUE(upload_response_success(slice_make("\x08\x01", 2)));
    ASSERT_FALSE(upload_response_success(slice_make("", 0))); /* proto3: absent is false */
    ASSERT_FALSE(upload_response_success(slice_make("\x08\x00", 2)));
    ASSERT_FALSE(upload_response_success(slice_make("\x08", 1))); /* truncated */
}

TEST(client_options_and_errors)
{
    struct strata_options o;
    strata_options_init(&o);
    ASSERT_EQ_INT(o.transport, STRATA_TRANSPORT_GRPC);
    ASSERT_EQ_INT(o.timeout_ms, 10000);
    ASSERT_EQ_INT(o.batch_max_entries, 1000);
    ASSERT_EQ_INT(o.on_full, STRATA_QUEUE_BLOCK);
    ASSERT_EQ_INT(o.max_retries, 10);
    struct strata_client *c = (struct strata_client *)1;
    ASSERT_EQ_INT(strata_client_new("", &o, &c), STRATA_EINVAL);
    ASSERT_TRUE(c == NULL);
    ASSERT_EQ_INT(strata_client_new("http://127.0.0.1:1", &o, &c), STRATA_EINVAL);
    ASSERT_TRUE(strstr(strata_last_error(), "invalid gRPC address") != NULL);
    o.transport = STRATA_TRANSPORT_HTTP_JSON;
    ASSERT_EQ_INT(strata_client_new("ftp://x", &o, &c), STRATA_EINVAL);
    o.tls.ca_file = "/nonexistent/ca.pem";
    ASSERT_EQ_INT(strata_client_new("https://127.0.0.1:1", &o, &c), STRATA_EINVAL);
    ASSERT_TRUE(strstr(strata_last_error(), "/nonexistent/ca.pem") != NULL);
    strata_options_init(&o);
    o.async = 1;
    o.retry_max_ms = 1;
    ASSERT_EQ_INT(strata_client_new("127.0.0.1:1", &o, &c), STRATA_EINVAL);

    /* LogsGO's checks come before any request: no server is needed. */
    strata_options_init(&o);
    ASSERT_EQ_INT(strata_client_new("127.0.0.1:1", &o, &c), 0);
    ASSERT_EQ_INT(strata_upload_log(c, NULL), STRATA_EINVAL);
    ASSERT_EQ_STR(strata_last_error(), "no options provided for log upload");
    ASSERT_EQ_INT(strata_upload_logs(c, NULL, 3), STRATA_EINVAL);
    ASSERT_EQ_STR(strata_last_error(), "no options provided for log upload");
    struct strata_log logs[2] = {{"a", "info", "m", 0, NULL, 0}, {"a", "info", "", 0, NULL, 0}};
    ASSERT_EQ_INT(strata_upload_logs(c, logs, 2), STRATA_EINVAL);
    ASSERT_EQ_STR(strata_last_error(), "log entry must contain Service, Level, and Message fields");
    ASSERT_EQ_INT(strata_push(c, NULL, 0), STRATA_EINVAL);
    struct strata_stats st;
    strata_client_stats(c, &st);
    ASSERT_EQ_UINT(st.accepted, 0);
    ASSERT_EQ_INT(strata_flush(c, 0), 0);
    ASSERT_EQ_INT(strata_client_close(c), 0);
    ASSERT_EQ_INT(strata_client_close(NULL), 0);
    ASSERT_EQ_STR(strata_strerror(STRATA_EBUSY), "server busy, retry later");
}

/* ---- the queue's policies, with a queue that never drains by itself ---- */

struct errors_seen {
    pthread_mutex_t lock;
    int calls, last_rc;
    size_t entries;
    char last[256];
};

static void record_error(void *arg, int rc, const char *msg, size_t n)
{
    struct errors_seen *e = arg;
    pthread_mutex_lock(&e->lock);
    e->calls++;
    e->last_rc = rc;
    e->entries += n;
    snprintf(e->last, sizeof(e->last), "%s", msg);
    pthread_mutex_unlock(&e->lock);
}

static struct strata_client *queue_client(enum strata_full_policy p, struct errors_seen *seen)
{
    struct strata_options o;
    strata_options_init(&o);
    o.async = 1;
    o.queue_max_entries = 5;
    o.batch_wait_ms = 600000; /* nothing leaves before close */
    o.on_full = p;
    o.enqueue_timeout_ms = 150;
    o.close_timeout_ms = 0; /* close gives up what is queued at once */
    o.on_error = record_error;
    o.on_error_arg = seen;
    struct strata_client *c = NULL;
    strata_client_new("127.0.0.1:1", &o, &c);
    return c;
}

static int upload_n(struct strata_client *c, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        struct strata_log l = {"svc", "info", "m", 0, NULL, 0};
        if (strata_upload_log(c, &l) == 0)
            ok++;
    }
    return ok;
}

TEST(client_queue_drop_newest_refuses_at_once)
{
    struct errors_seen seen = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};
    struct strata_client *c = queue_client(STRATA_QUEUE_DROP_NEWEST, &seen);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ_INT(upload_n(c, 5), 5);
    int64_t t0 = clock_mono_ns();
    struct strata_log l = {"svc", "info", "m", 0, NULL, 0};
    ASSERT_EQ_INT(strata_upload_log(c, &l), STRATA_EBUSY);
    ASSERT_TRUE(clock_mono_ns() - t0 < 100 * NS_PER_MS);
    ASSERT_TRUE(strstr(strata_last_error(), "queue full") != NULL);
    struct strata_log two[2] = {l, l};
    ASSERT_EQ_INT(strata_upload_logs(c, two, 2), STRATA_EBUSY);
    struct strata_stats st;
    strata_client_stats(c, &st);
    ASSERT_EQ_UINT(st.accepted, 5);
    ASSERT_EQ_UINT(st.refused, 3);
    ASSERT_EQ_UINT(st.queued, 5);
    ASSERT_EQ_UINT(st.dropped, 0);
    ASSERT_EQ_INT(seen.calls, 0);
    /* Close with a zero timeout: the five are given up and reported. */
    ASSERT_EQ_INT(strata_client_close(c), STRATA_ETIMEOUT);
    ASSERT_EQ_INT(seen.last_rc, STRATA_ETIMEOUT);
    ASSERT_EQ_UINT(seen.entries, 5);
}

TEST(client_queue_drop_oldest_keeps_the_newest)
{
    struct errors_seen seen = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};
    struct strata_client *c = queue_client(STRATA_QUEUE_DROP_OLDEST, &seen);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ_INT(upload_n(c, 8), 8);
    struct strata_stats st;
    strata_client_stats(c, &st);
    ASSERT_EQ_UINT(st.accepted, 8);
    ASSERT_EQ_UINT(st.dropped, 3);
    ASSERT_EQ_UINT(st.queued, 5);
    ASSERT_EQ_UINT(st.refused, 0);
    ASSERT_EQ_INT(seen.calls, 3);
    ASSERT_EQ_INT(seen.last_rc, STRATA_EBUSY);
    ASSERT_EQ_UINT(seen.entries, 3);
    /* An upload larger than the whole queue is refused, not allowed to empty it. */
    struct strata_log l = {"svc", "info", "m", 0, NULL, 0};
    struct strata_log six[6] = {l, l, l, l, l, l};
    ASSERT_EQ_INT(strata_upload_logs(c, six, 6), STRATA_ETOOLARGE);
    ASSERT_EQ_INT(strata_client_close(c), STRATA_ETIMEOUT);
}

TEST(client_queue_block_waits_then_refuses)
{
    struct errors_seen seen = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};
    struct strata_client *c = queue_client(STRATA_QUEUE_BLOCK, &seen);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ_INT(upload_n(c, 5), 5);
    int64_t t0 = clock_mono_ns();
    struct strata_log l = {"svc", "info", "m", 0, NULL, 0};
    ASSERT_EQ_INT(strata_upload_log(c, &l), STRATA_EBUSY);
    int64_t waited = clock_mono_ns() - t0;
    ASSERT_TRUE(waited >= 140 * NS_PER_MS);
    ASSERT_EQ_INT(strata_flush(c, 50), STRATA_ETIMEOUT);
    struct strata_stats st;
    strata_client_stats(c, &st);
    ASSERT_EQ_UINT(st.refused, 1);
    ASSERT_EQ_UINT(st.queued, 5);
    ASSERT_EQ_INT(strata_client_close(c), STRATA_ETIMEOUT);
    ASSERT_EQ_UINT(seen.entries, 5);
}
