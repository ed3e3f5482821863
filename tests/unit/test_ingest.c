/* Unit tests of src/ingest: labels, batches and the Loki JSON decoder. */
#include "core/err.h"
#include "ingest/batch.h"
#include "ingest/labels.h"
#include "ingest/loki_json.h"
#include "test.h"

TEST(labels_parse_format_and_fingerprint)
{
    struct arena a;
    arena_init(&a, 0);
    struct label *v;
    uint32_t n;
    char err[256];
    ASSERT_EQ_INT(
        labels_parse(slice_from("{env=\"prod\", app=\"a\\\"b\"}"), &a, &v, &n, err, sizeof(err)),
        0);
    ASSERT_EQ_INT(n, 2);
    labels_sort(v, n);
    ASSERT_EQ_SLICE(v[0].name, "app");
    ASSERT_EQ_SLICE(v[0].value, "a\"b");
    struct buf b;
    buf_init(&b, 1000);
    ASSERT_EQ_INT(labels_format(&b, v, n), 0);
    ASSERT_EQ_STR(b.ptr, "{app=\"a\\\"b\", env=\"prod\"}");
    uint64_t fp1 = labels_fingerprint(v, n);
    v[1].value = slice_from("dev");
    ASSERT_TRUE(labels_fingerprint(v, n) != fp1);
    ASSERT_EQ_INT(labels_parse(slice_from("{a=~\"x\"}"), &a, &v, &n, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_EQ_INT(labels_parse(slice_from("{a=\"x\""), &a, &v, &n, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_EQ_INT(labels_parse(slice_from("{}"), &a, &v, &n, err, sizeof(err)), 0);
    ASSERT_EQ_INT(n, 0);
    buf_release(&b);
    arena_release(&a);
}

TEST(labels_names_and_sanitising)
{
    struct arena a;
    arena_init(&a, 0);
    ASSERT_TRUE(label_name_valid(slice_from("service_name")));
    ASSERT_FALSE(label_name_valid(slice_from("service.name")));
    ASSERT_FALSE(label_name_valid(slice_from("1abc")));
    ASSERT_EQ_SLICE(label_name_sanitize(&a, slice_from("service.name")), "service_name");
    ASSERT_EQ_SLICE(label_name_sanitize(&a, slice_from("1abc")), "_1abc");
    arena_release(&a);
}

TEST(labels_encode_decode_roundtrip)
{
    struct arena a;
    arena_init(&a, 0);
    struct label in[] = {{SLICE_LIT("trace_id"), SLICE_LIT("abc")},
                         {SLICE_LIT("user"), SLICE_LIT("")}};
    struct buf b;
    buf_init(&b, 1000);
    ASSERT_EQ_INT(labels_encode(&b, in, 2), 0);
    struct label *out;
    uint32_t n;
    ASSERT_EQ_INT(labels_decode(buf_slice(&b), &a, &out, &n), 0);
    ASSERT_EQ_INT(n, 2);
    ASSERT_EQ_SLICE(out[0].name, "trace_id");
    ASSERT_EQ_SLICE(out[1].value, "");
    /* Every truncation is detected. */
    for (size_t cut = 1; cut < b.len; cut++)
        ASSERT_EQ_INT(labels_decode((struct slice){b.ptr, cut}, &a, &out, &n), STRATA_ECORRUPT);
    buf_release(&b);
    arena_release(&a);
}

TEST(batch_merges_repeated_streams)
{
    struct push_batch b;
    push_batch_init(&b, "t1");
    struct label l1[] = {{SLICE_LIT("app"), SLICE_LIT("x")}};
    struct label l2[] = {{SLICE_LIT("app"), SLICE_LIT("y")}};
    for (int i = 0; i < 100; i++) {
        uint32_t s = push_batch_stream(&b, i % 2 ? l1 : l2, 1);
        push_batch_add(&b, s, i, slice_from("line"), NULL, 0);
    }
    ASSERT_EQ_INT(b.n_streams, 2);
    ASSERT_EQ_INT(b.n_entries, 100);
    ASSERT_EQ_INT(b.streams[0].n_entries, 50);
    ASSERT_EQ_SLICE(b.streams[1].key, "{app=\"x\"}");
    push_batch_release(&b);
}

TEST(tenant_ids_are_checked)
{
    ASSERT_TRUE(tenant_valid("team-a_1", 8));
    ASSERT_FALSE(tenant_valid("..", 2));
    ASSERT_FALSE(tenant_valid("a/b", 3));
    ASSERT_FALSE(tenant_valid("", 0));
    ASSERT_FALSE(tenant_valid("a|b", 3));
}

static int decode(const char *body, struct push_batch *b, struct push_result *r, char *err)
{
    push_batch_init(b, "fake");
    push_result_init(r);
    return loki_json_decode(slice_from(body), b, r, err, 512);
}

TEST(loki_json_decodes_streams_and_metadata)
{
    struct push_batch b;
    struct push_result r;
    char err[512];
    ASSERT_EQ_INT(
        decode("{\"streams\":[{\"stream\":{\"b\":\"2\",\"a\":\"1\"},\"values\":["
               "[\"1700000000000000000\",\"one\"],"
               "[\"1700000000000000001\",\"two\",{\"trace_id\":\"t1\"}]]},"
               "{\"values\":[[\"5\",\"late labels\"]],\"stream\":{\"a\":\"1\",\"b\":\"2\"}}]}",
               &b, &r, err),
        0);
    ASSERT_EQ_INT(b.n_streams, 1);
    ASSERT_EQ_INT(b.n_entries, 3);
    ASSERT_EQ_SLICE(b.streams[0].key, "{a=\"1\", b=\"2\"}");
    ASSERT_EQ_INT(b.streams[0].entries[1].ts, INT64_C(1700000000000000001));
    ASSERT_EQ_INT(b.streams[0].entries[1].n_meta, 1);
    ASSERT_EQ_SLICE(b.streams[0].entries[1].meta[0].value, "t1");
    ASSERT_EQ_SLICE(b.streams[0].entries[2].line, "late labels");
    push_batch_release(&b);
}

TEST(loki_json_rejects_bad_bodies)
{
    const char *bad[] = {
        "{\"streams\":[{\"stream\":{\"a\":\"1\"},\"values\":[[1700000000,\"number ts\"]]}]}",
        "{\"streams\":[{\"stream\":{\"a\":\"1\"},\"values\":[[\"x\",\"bad ts\"]]}]}",
        "{\"streams\":[{\"stream\":{\"a\":1},\"values\":[]}]}",
        "{\"streams\":[{\"stream\":{\"a\":\"1\"},\"values\":[[\"1\"]]}]}",
        "{\"streams\":[{\"stream\":{\"a\":\"1\"},\"values\":[[\"1\",\"l\",{},4]]}]}",
        "{\"streams\":",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct push_batch b;
        struct push_result r;
        char err[512];
        int rc = decode(bad[i], &b, &r, err);
        push_batch_release(&b);
        if (rc != STRATA_EPARSE)
            fprintf(stderr, "    accepted: %s\n", bad[i]);
        ASSERT_EQ_INT(rc, STRATA_EPARSE);
    }
}

TEST(loki_json_skips_streams_with_bad_labels)
{
    struct push_batch b;
    struct push_result r;
    char err[512];
    ASSERT_EQ_INT(decode("{\"streams\":["
                         "{\"stream\":{},\"values\":[[\"1\",\"no labels\"]]},"
                         "{\"stream\":{\"ok\":\"1\"},\"values\":[[\"2\",\"kept\"]]},"
                         "{\"stream\":{\"bad-name\":\"1\"},\"values\":[[\"3\",\"bad name\"]]}]}",
                         &b, &r, err),
                  0);
    ASSERT_EQ_INT(b.n_entries, 1);
    ASSERT_EQ_SLICE(b.streams[0].entries[0].line, "kept");
    ASSERT_TRUE(r.error != NULL);
    ASSERT_TRUE(strstr(r.error, "invalid label name 'bad-name'") != NULL);
    push_batch_release(&b);
}
