/* Unit tests of src/ingest: labels, batches, the normalizer and the Loki JSON decoders. */
#include <stdlib.h>

#include "core/clock.h"
#include "core/err.h"
#include "ingest/batch.h"
#include "ingest/labels.h"
#include "ingest/loki_json.h"
#include "test.h"
#include "test_ingest.h"

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
    struct normalizer nz;
    ti_begin(b, r, &nz);
    return loki_json_decode(slice_from(body), &nz, err, 512);
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
    ASSERT_EQ_SLICE(b.streams[0].key, "{a=\"1\", b=\"2\", service_name=\"unknown_service\"}");
    ASSERT_EQ_INT(b.streams[0].entries[1].ts, INT64_C(1700000000000000001));
    ASSERT_EQ_INT(b.streams[0].entries[1].n_meta, 2); /* trace_id, detected_level */
    ASSERT_EQ_SLICE(b.streams[0].entries[1].meta[0].value, "t1");
    ASSERT_EQ_SLICE(b.streams[0].entries[1].meta[1].name, "detected_level");
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

/* ---- shared helpers (test_ingest.h) ---- */

static struct tenant_limits lenient, defaults;
static bool limits_ready;

static void limits_init(void)
{
    if (limits_ready)
        return;
    struct config cfg;
    config_init(&cfg);
    char err[256];
    if (tenant_limits_from_config(&defaults, &cfg, err, sizeof(err)) < 0 ||
        tenant_limits_from_config(&lenient, &cfg, err, sizeof(err)) < 0)
        abort();
    lenient.reject_old_samples = false;
    config_release(&cfg);
    limits_ready = true;
}

const struct tenant_limits *ti_limits(void)
{
    limits_init();
    return &lenient;
}

const struct tenant_limits *ti_default_limits(void)
{
    limits_init();
    return &defaults;
}

void ti_begin(struct push_batch *b, struct push_result *r, struct normalizer *nz)
{
    push_batch_init(b, "fake");
    push_result_init(r);
    norm_init(nz, ti_limits(), clock_now_ns(), b, r);
}

/* ---- names, the normalizer, level detection ---- */

TEST(label_names_normalize_like_prometheus)
{
    struct arena a;
    arena_init(&a, 0);
    ASSERT_EQ_SLICE(label_name_normalize(&a, slice_from("service.name")), "service_name");
    ASSERT_EQ_SLICE(label_name_normalize(&a, slice_from("app")), "app");
    ASSERT_EQ_SLICE(label_name_normalize(&a, slice_from("1abc")), "key_1abc");
    ASSERT_EQ_SLICE(label_name_normalize(&a, slice_from("_x")), "key_x");
    ASSERT_EQ_SLICE(label_name_normalize(&a, slice_from(".x")), "key_x");
    ASSERT_EQ_SLICE(label_name_normalize(&a, slice_from("__x")), "__x");
    ASSERT_EQ_SLICE(label_name_normalize(&a, slice_from("h\xc3\xa9llo-w")), "h_llo_w");
    ASSERT_EQ_SLICE(label_name_normalize(&a, slice_from("")), "");
    arena_release(&a);
}

static struct slice level_of(const char *line)
{
    return norm_detect_level(NULL, 0, NULL, 0, slice_from(line));
}

TEST(detected_level_follows_loki)
{
    ASSERT_EQ_SLICE(level_of("GET /index.html 200"), "unknown");
    ASSERT_EQ_SLICE(level_of("some INFO here"), "info");
    ASSERT_EQ_SLICE(level_of("[ERROR] disk full"), "error");
    ASSERT_EQ_SLICE(level_of("err: no"), "error");
    ASSERT_EQ_SLICE(level_of("WARNING: hot"), "warn");
    ASSERT_EQ_SLICE(level_of("critical: meltdown"), "critical");
    ASSERT_EQ_SLICE(level_of("a debug line"), "debug");
    /* info outranks the rest, as in detectLevelFromLogLine */
    ASSERT_EQ_SLICE(level_of("[ERROR] info"), "info");
    /* JSON and logfmt level fields */
    ASSERT_EQ_SLICE(level_of("{\"msg\":\"x\",\"level\":\"WARN\"}"), "warn");
    ASSERT_EQ_SLICE(level_of("{\"a\":{\"severity\":\"dbg\"}}"), "debug");
    ASSERT_EQ_SLICE(level_of("{\"a\":{\"b\":{\"level\":\"error\"}}}"), "unknown"); /* too deep */
    ASSERT_EQ_SLICE(level_of("ts=1 lvl=err msg=\"boom\""), "error");
    ASSERT_EQ_SLICE(level_of("ts=1 level=\"fatal\""), "fatal");
    ASSERT_EQ_SLICE(level_of("ts=1 level=notice msg=info"), "info"); /* falls back to words */
    /* labels and metadata come first; unknown words are kept as they are */
    struct label l[] = {{SLICE_LIT("level"), SLICE_LIT("Warning")}};
    ASSERT_EQ_SLICE(norm_detect_level(l, 1, NULL, 0, slice_from("error")), "warn");
    struct label m[] = {{SLICE_LIT("severity_text"), SLICE_LIT("notice")}};
    ASSERT_EQ_SLICE(norm_detect_level(NULL, 0, m, 1, slice_from("error")), "notice");
    struct label sev[] = {{SLICE_LIT("severity_number"), SLICE_LIT("17")}};
    ASSERT_EQ_SLICE(norm_detect_level(NULL, 0, sev, 1, slice_from("info")), "error");
}

TEST(normalizer_adds_service_name_and_checks_labels)
{
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    ti_begin(&b, &r, &nz);
    uint32_t si;
    struct label a[] = {{SLICE_LIT("job"), SLICE_LIT("j")}, {SLICE_LIT("app"), SLICE_LIT("x")}};
    ASSERT_EQ_INT(norm_stream(&nz, a, 2, &si), 0);
    /* app comes before job in the discovery list */
    ASSERT_EQ_SLICE(b.streams[si].key, "{app=\"x\", job=\"j\", service_name=\"x\"}");
    struct label none[] = {{SLICE_LIT("env"), SLICE_LIT("prod")}};
    ASSERT_EQ_INT(norm_stream(&nz, none, 1, &si), 0);
    ASSERT_EQ_SLICE(b.streams[si].key, "{env=\"prod\", service_name=\"unknown_service\"}");
    struct label own[] = {{SLICE_LIT("service_name"), SLICE_LIT("mine")},
                          {SLICE_LIT("app"), SLICE_LIT("x")}};
    ASSERT_EQ_INT(norm_stream(&nz, own, 2, &si), 0);
    ASSERT_EQ_SLICE(b.streams[si].key, "{app=\"x\", service_name=\"mine\"}");
    ASSERT_TRUE(r.error == NULL);
    /* 16 names is one too many; service_name is not counted */
    struct label many[17];
    char names[17][16];
    for (int i = 0; i < 16; i++) {
        snprintf(names[i], sizeof(names[i]), "l%02d", i);
        many[i] = (struct label){slice_from(names[i]), SLICE_LIT("v")};
    }
    ASSERT_EQ_INT(norm_stream(&nz, many, 16, &si), 0);
    ASSERT_EQ_UINT(si, NORM_DROPPED);
    ASSERT_TRUE(strstr(r.error, "has 16 label names; limit 15") != NULL);
    many[15] = (struct label){SLICE_LIT("service_name"), SLICE_LIT("s")};
    ASSERT_EQ_INT(norm_stream(&nz, many, 16, &si), 0);
    ASSERT_TRUE(si != NORM_DROPPED);
    struct label dup[] = {{SLICE_LIT("a"), SLICE_LIT("1")}, {SLICE_LIT("a"), SLICE_LIT("2")}};
    ASSERT_EQ_INT(norm_stream(&nz, dup, 2, &si), 0);
    ASSERT_EQ_UINT(si, NORM_DROPPED);
    ASSERT_EQ_STR(r.error, "stream '{a=\"1\", a=\"2\"}' has duplicate label name: 'a'");
    char longv[2100];
    memset(longv, 'v', sizeof(longv));
    struct label lv[] = {{SLICE_LIT("a"), {longv, 2049}}};
    ASSERT_EQ_INT(norm_stream(&nz, lv, 1, &si), 0);
    ASSERT_EQ_UINT(si, NORM_DROPPED);
    if (!strstr(r.error, "has label value too long"))
        fprintf(stderr, "    error: %s\n", r.error);
    ASSERT_TRUE(strstr(r.error, "has label value too long") != NULL);
    struct label bad[] = {{SLICE_LIT("a-b"), SLICE_LIT("1")}};
    ASSERT_EQ_INT(norm_stream(&nz, bad, 1, &si), 0);
    ASSERT_EQ_UINT(si, NORM_DROPPED);
    ASSERT_TRUE(strstr(r.error, "invalid label name 'a-b'") != NULL);
    nz.sanitize_names = true;
    struct label bad2[] = {{SLICE_LIT("a-b"), SLICE_LIT("1")}};
    ASSERT_EQ_INT(norm_stream(&nz, bad2, 1, &si), 0);
    ASSERT_EQ_SLICE(b.streams[si].key, "{a_b=\"1\", service_name=\"unknown_service\"}");
    push_batch_release(&b);
}

TEST(normalizer_checks_entries)
{
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    push_batch_init(&b, "fake");
    push_result_init(&r);
    int64_t now = INT64_C(1700000000) * NS_PER_SEC;
    norm_init(&nz, ti_default_limits(), now, &b, &r);
    uint32_t si;
    struct label a[] = {{SLICE_LIT("app"), SLICE_LIT("x")}};
    ASSERT_EQ_INT(norm_stream(&nz, a, 1, &si), 0);
    ASSERT_EQ_INT(norm_entry(&nz, si, now, slice_from("ok"), NULL, 0), 0);
    ASSERT_EQ_INT(b.n_entries, 1);
    ASSERT_EQ_SLICE(b.streams[si].entries[0].meta[0].value, "unknown");
    ASSERT_EQ_INT(norm_entry(&nz, si, now - 8 * NS_PER_DAY, slice_from("old"), NULL, 0), 0);
    ASSERT_EQ_STR(r.error, "entry for stream '{app=\"x\", service_name=\"x\"}' has timestamp too "
                           "old: 2023-11-06T22:13:20Z, oldest acceptable timestamp is: "
                           "2023-11-07T22:13:20Z");
    ASSERT_EQ_INT(norm_entry(&nz, si, now + 11 * NS_PER_MIN, slice_from("new"), NULL, 0), 0);
    ASSERT_EQ_STR(r.error, "entry for stream '{app=\"x\", service_name=\"x\"}' has timestamp too "
                           "new: 2023-11-14T22:24:20Z");
    static char big[256000 + 1]; /* Loki's 256KB is 256000 bytes (humanize) */
    memset(big, 'x', sizeof(big));
    ASSERT_EQ_INT(norm_entry(&nz, si, now, (struct slice){big, sizeof(big)}, NULL, 0), 0);
    ASSERT_EQ_STR(r.error, "max entry size '256000' bytes exceeded for stream '{app=\"x\", "
                           "service_name=\"x\"}' while adding an entry with length '256001' "
                           "bytes");
    struct label meta[130];
    for (int i = 0; i < 130; i++)
        meta[i] = (struct label){SLICE_LIT("k"), SLICE_LIT("v")};
    ASSERT_EQ_INT(norm_entry(&nz, si, now, slice_from("m"), meta, 130), 0);
    ASSERT_TRUE(strstr(r.error, "too many structured metadata labels: '130', limit: '128'"));
    nz.check_utf8 = true;
    ASSERT_EQ_INT(norm_entry(&nz, si, now, slice_from("bad \xff"), NULL, 0), 0);
    ASSERT_TRUE(strstr(r.error, "not valid UTF-8") != NULL);
    ASSERT_EQ_INT(r.n_invalid, 5);
    ASSERT_EQ_INT(b.n_entries, 1);
    /* A caller-given detected_level is normalised, not duplicated. */
    struct label dl[] = {{SLICE_LIT("detected_level"), SLICE_LIT("WARNING")}};
    ASSERT_EQ_INT(norm_entry(&nz, si, now, slice_from("x"), dl, 1), 0);
    ASSERT_EQ_INT(b.streams[si].entries[1].n_meta, 1);
    ASSERT_EQ_SLICE(b.streams[si].entries[1].meta[0].value, "warn");
    /* Entries of a refused stream are counted, not stored. */
    ASSERT_EQ_INT(norm_entry(&nz, NORM_DROPPED, now, slice_from("x"), NULL, 0), 0);
    ASSERT_EQ_INT(r.n_invalid, 6);
    /* Past the memory budget the decoder is told to stop. */
    b.arena.limit = 1;
    ASSERT_EQ_INT(norm_entry(&nz, si, now, slice_from("x"), NULL, 0), STRATA_ETOOLARGE);
    push_batch_release(&b);
}

TEST(detected_level_per_stream_in_interleaved_entries)
{
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    ti_begin(&b, &r, &nz);
    int64_t now = nz.now;
    /* One stream with a level label, one without, one with another level: entries of each in
     * turn take their level from their own stream (or line), never from the one before. */
    struct label a[] = {{SLICE_LIT("app"), SLICE_LIT("a")},
                        {SLICE_LIT("level"), SLICE_LIT("WARN")}};
    struct label c[] = {{SLICE_LIT("app"), SLICE_LIT("c")}};
    struct label d[] = {{SLICE_LIT("app"), SLICE_LIT("d")}, {SLICE_LIT("lvl"), SLICE_LIT("odd")}};
    uint32_t sa, sc, sd;
    ASSERT_EQ_INT(norm_stream(&nz, a, 2, &sa), 0);
    ASSERT_EQ_INT(norm_stream(&nz, c, 1, &sc), 0);
    ASSERT_EQ_INT(norm_stream(&nz, d, 2, &sd), 0);
    const uint32_t order[] = {sa, sc, sc, sa, sd, sc, sa, sd};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        ASSERT_EQ_INT(norm_entry(&nz, order[i], now, slice_from("[ERROR] disk full"), NULL, 0), 0);
    ASSERT_EQ_INT(b.n_entries, 8);
    for (uint32_t i = 0; i < b.streams[sa].n_entries; i++)
        ASSERT_EQ_SLICE(b.streams[sa].entries[i].meta[0].value, "warn");
    for (uint32_t i = 0; i < b.streams[sc].n_entries; i++)
        ASSERT_EQ_SLICE(b.streams[sc].entries[i].meta[0].value, "error");
    for (uint32_t i = 0; i < b.streams[sd].n_entries; i++)
        ASSERT_EQ_SLICE(b.streams[sd].entries[i].meta[0].value, "odd");
    ASSERT_EQ_INT(b.streams[sa].n_entries + b.streams[sc].n_entries + b.streams[sd].n_entries, 8);
    push_batch_release(&b);
}

TEST(loki_json_legacy_form)
{
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    char err[512];
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(loki_json_decode_legacy(
                      slice_from("{\"streams\":[{\"entries\":[{\"ts\":\"2024-01-02T03:04:05.5Z\","
                                 "\"line\":\"first\"}],\"labels\":\"{app=\\\"y\\\"}\"},"
                                 "{\"labels\":\"{app=\\\"y\\\"}\",\"entries\":[{\"line\":"
                                 "\"second\",\"ts\":\"2024-01-02T03:04:06Z\"}]}]}"),
                      &nz, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(b.n_streams, 1);
    ASSERT_EQ_INT(b.n_entries, 2);
    ASSERT_EQ_INT(b.streams[0].entries[0].ts, INT64_C(1704164645500000000));
    ASSERT_EQ_SLICE(b.streams[0].entries[1].line, "second");
    push_batch_release(&b);
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(loki_json_decode_legacy(
                      slice_from("{\"streams\":[{\"labels\":\"{app=\\\"y\\\"}\",\"entries\":[{"
                                 "\"ts\":\"yesterday\",\"line\":\"x\"}]}]}"),
                      &nz, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_TRUE(strstr(err, "RFC 3339") != NULL);
    push_batch_release(&b);
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(loki_json_decode_legacy(
                      slice_from("{\"streams\":[{\"labels\":\"{app=y}\",\"entries\":[{\"ts\":"
                                 "\"2024-01-02T03:04:06Z\",\"line\":\"x\"}]}]}"),
                      &nz, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(b.n_entries, 0);
    ASSERT_TRUE(strstr(r.error, "error parsing labels '{app=y}'") != NULL);
    push_batch_release(&b);
}

TEST(loki_json_deep_nesting_and_budget)
{
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    char err[512];
    char deep[4096];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep), "{\"streams\":[{\"x\":");
    for (int i = 0; i < 1000; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(loki_json_decode(slice_from(deep), &nz, err, sizeof(err)), STRATA_EPARSE);
    ASSERT_TRUE(strstr(err, "error parsing JSON push request") != NULL);
    push_batch_release(&b);
    ti_begin(&b, &r, &nz);
    b.arena.limit = 1;
    ASSERT_EQ_INT(loki_json_decode(slice_from("{\"streams\":[{\"stream\":{\"a\":\"1\"},\"values\":"
                                              "[[\"1\",\"x\"]]}]}"),
                                   &nz, err, sizeof(err)),
                  STRATA_ETOOLARGE);
    push_batch_release(&b);
}
