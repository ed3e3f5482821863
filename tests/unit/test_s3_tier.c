/*
 * Unit tests of the S3 tier's pieces that need no server: the manifest
 * (round trip, every refusal of a hostile document), the key layout, and
 * the part reader's plan that the tier fetches ahead of a cursor. The tier
 * against a real S3 is tested by tests/integration/test_s3_tier.py.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "remote/s3_manifest.h"
#include "store/part.h"
#include "store/part_format.h"
#include "test.h"
#include "test_store_util.h"

static struct s3_manifest_part sample_part(const char *key, const char *tenant)
{
    return (struct s3_manifest_part){
        .key = (char *)key,
        .tenant = (char *)tenant,
        .etag = "\"9b2cf535f27731c974343645a3985328\"",
        .uid = 0x00112233aabbccddull,
        .id = 7,
        .level = 1,
        .size = 123456,
        .index_off = 120000,
        .min_ts = -5,
        .max_ts = INT64_MAX,
        .created_ns = 1700000000123456789,
        .entries = 100,
        .bytes = 5000,
        .streams = 3,
    };
}

TEST(s3_manifest_round_trip)
{
    struct s3_manifest m, back;
    s3_manifest_init(&m);
    s3_manifest_init(&back);
    m.writer = strdup("host-0a1b2c3d");
    m.generation = 42;
    m.updated_ns = 1700000000000000001;
    struct s3_manifest_part p = sample_part("w/fake/2023-11-14/00112233aabbccdd.part", "fake");
    s3_manifest_add_part(&m, &p);
    p = sample_part("w/t-2/1969-12-31/0000000000000001.part", "t-2");
    p.uid = 1;
    p.index_off = 0; /* unknown: a reader fetches the footer first */
    s3_manifest_add_part(&m, &p);
    s3_manifest_add_retired(&m, "w/fake/2023-11-13/ffffffffffffffff.part", 17);
    struct buf b;
    buf_init(&b, 1 << 20);
    ASSERT_EQ_INT(s3_manifest_encode(&m, &b), 0);
    char err[256] = "";
    ASSERT_EQ_INT(s3_manifest_decode(b.ptr, b.len, "w", &back, err, sizeof(err)), 0);
    ASSERT_EQ_STR(back.writer, "host-0a1b2c3d");
    ASSERT_EQ_UINT(back.generation, 42);
    ASSERT_EQ_INT(back.updated_ns, 1700000000000000001);
    ASSERT_EQ_UINT(back.n_parts, 2);
    for (uint32_t i = 0; i < 2; i++) {
        const struct s3_manifest_part *x = &m.parts[i], *y = &back.parts[i];
        ASSERT_EQ_STR(y->key, x->key);
        ASSERT_EQ_STR(y->tenant, x->tenant);
        ASSERT_EQ_STR(y->etag, x->etag);
        ASSERT_EQ_UINT(y->uid, x->uid);
        ASSERT_EQ_UINT(y->id, x->id);
        ASSERT_EQ_UINT(y->level, x->level);
        ASSERT_EQ_UINT(y->size, x->size);
        ASSERT_EQ_UINT(y->index_off, x->index_off);
        ASSERT_EQ_INT(y->min_ts, x->min_ts);
        ASSERT_EQ_INT(y->max_ts, x->max_ts);
        ASSERT_EQ_INT(y->created_ns, x->created_ns);
        ASSERT_EQ_UINT(y->entries, x->entries);
        ASSERT_EQ_UINT(y->bytes, x->bytes);
        ASSERT_EQ_UINT(y->streams, x->streams);
    }
    ASSERT_EQ_UINT(back.n_retired, 1);
    ASSERT_EQ_STR(back.retired[0].key, "w/fake/2023-11-13/ffffffffffffffff.part");
    ASSERT_EQ_INT(back.retired[0].since_ns, 17);
    ASSERT_EQ_INT(s3_manifest_find(&back, "w/t-2/1969-12-31/0000000000000001.part"), 1);
    ASSERT_EQ_INT(s3_manifest_find(&back, "w/none"), -1);
    /* copy and edit */
    struct s3_manifest c;
    s3_manifest_init(&c);
    s3_manifest_copy(&c, &back);
    s3_manifest_remove_part(&c, 0);
    s3_manifest_remove_retired(&c, 0);
    ASSERT_EQ_UINT(c.n_parts, 1);
    ASSERT_EQ_STR(c.parts[0].tenant, "t-2");
    ASSERT_EQ_UINT(c.n_retired, 0);
    ASSERT_EQ_UINT(back.n_parts, 2);
    s3_manifest_release(&c);
    s3_manifest_release(&back);
    s3_manifest_release(&m);
    s3_manifest_release(NULL);
    buf_release(&b);
}

/* A valid document with one part whose fields are given as JSON text. */
static int decode_part_json(const char *part, char *err, size_t errlen)
{
    char doc[4096];
    snprintf(doc, sizeof(doc),
             "{\"format\":\"strata-s3-manifest\",\"version\":1,\"parts\":[%s],\"retired\":[]}",
             part);
    struct s3_manifest m;
    s3_manifest_init(&m);
    int rc = s3_manifest_decode(doc, strlen(doc), "w/x", &m, err, errlen);
    s3_manifest_release(&m);
    return rc;
}

#define PART_OK                                                                                  \
    "\"key\":\"w/x/fake/2024-01-02/00112233aabbccdd.part\",\"tenant\":\"fake\",\"uid\":"         \
    "\"00112233aabbccdd\",\"size\":1000,\"index_off\":500,\"min_ts\":1,\"max_ts\":2,\"future\":" \
    "[1,{\"a\":null}]"

TEST(s3_manifest_refuses_hostile_documents)
{
    char err[256];
    ASSERT_EQ_INT(decode_part_json("{" PART_OK "}", err, sizeof(err)), 0);
    struct {
        const char *part, *why;
    } bad[] = {
        /* a key outside the writer's prefix, or just the prefix, or a sibling prefix */
        {"{\"key\":\"other/fake/k.part\",\"tenant\":\"fake\",\"uid\":\"00112233aabbccdd\","
         "\"size\":1000}",
         "not under the writer's prefix"},
        {"{\"key\":\"w/x/\",\"tenant\":\"fake\",\"uid\":\"00112233aabbccdd\",\"size\":1000}",
         "not under"},
        {"{\"key\":\"w/xy/k\",\"tenant\":\"fake\",\"uid\":\"00112233aabbccdd\",\"size\":1000}",
         "not under"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"a/b\",\"uid\":\"00112233aabbccdd\",\"size\":1000}",
         "not a valid tenant"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"\",\"uid\":\"00112233aabbccdd\",\"size\":1000}",
         "not a valid tenant"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"fake\",\"uid\":\"0011\",\"size\":1000}", "16 hex"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"fake\",\"uid\":\"00112233AABBCCDD\",\"size\":1000}",
         "lower-case"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"fake\",\"uid\":\"00112233aabbccdd\",\"size\":100}",
         "impossible"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"fake\",\"uid\":\"00112233aabbccdd\",\"size\":1000,"
         "\"index_off\":900}",
         "impossible"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"fake\",\"uid\":\"00112233aabbccdd\",\"size\":-1}",
         "negative"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"fake\",\"uid\":\"00112233aabbccdd\",\"size\":1000,"
         "\"min_ts\":5,\"max_ts\":4}",
         "reversed"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"fake\",\"size\":1000}", "lacks"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"fake\",\"uid\":\"00112233aabbccdd\",\"size\":1000,"
         "\"level\":999}",
         "level"},
        {"{\"key\":\"w/x/k\\u0000\",\"tenant\":\"fake\",\"uid\":\"00112233aabbccdd\","
         "\"size\":1000}",
         "NUL"},
        {"{\"key\":\"w/x/k\",\"tenant\":\"fake\",\"uid\":\"00112233aabbccdd\",\"size\":1.5}",
         "manifest w/x"},
        {"[]", "manifest w/x"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ASSERT_EQ_INT(decode_part_json(bad[i].part, err, sizeof(err)), STRATA_EPARSE);
        if (!strstr(err, bad[i].why)) {
            fprintf(stderr, "    case %zu: %s\n", i, err);
            ASSERT_TRUE(strstr(err, bad[i].why));
        }
    }
    /* the document itself */
    const char *docs[] = {
        "",
        "{}",
        "{\"format\":\"strata-s3-manifest\",\"version\":2,\"parts\":[]}",
        "{\"format\":\"other\",\"version\":1,\"parts\":[]}",
        "{\"format\":\"strata-s3-manifest\",\"version\":1,\"parts\":[]} x",
        "{\"format\":\"strata-s3-manifest\",\"version\":1,\"parts\":{}}",
        "{\"format\":\"strata-s3-manifest\",\"version\":1,\"retired\":[{\"since_ns\":1}]}",
        "{\"format\":\"strata-s3-manifest\",\"version\":1,\"retired\":[{\"key\":\"elsewhere\"}]}",
        "{\"format\":\"strata-s3-manifest\",\"version\":1,\"generation\":-1}",
        "{\"format\":\"strata-s3-manifest\",\"version\":1,\"parts\":[",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct s3_manifest m;
        s3_manifest_init(&m);
        ASSERT_EQ_INT(s3_manifest_decode(docs[i], strlen(docs[i]), "w/x", &m, err, sizeof(err)),
                      STRATA_EPARSE);
        ASSERT_TRUE(strstr(err, "manifest w/x/manifest.json: "));
        ASSERT_EQ_UINT(m.n_parts, 0);
        s3_manifest_release(&m);
    }
    /* an empty, minimal document is fine */
    struct s3_manifest m;
    s3_manifest_init(&m);
    const char *min = "{\"format\":\"strata-s3-manifest\",\"version\":1}";
    ASSERT_EQ_INT(s3_manifest_decode(min, strlen(min), "w/x", &m, err, sizeof(err)), 0);
    ASSERT_EQ_UINT(m.n_parts + m.n_retired, 0);
    s3_manifest_release(&m);
}

TEST(s3_part_key_layout)
{
    char k[S3_KEY_MAX + 64];
    int64_t t = clock_days_from_civil(2024, 2, 29) * NS_PER_DAY + 23 * 3600 * NS_PER_SEC;
    ASSERT_EQ_INT(s3_part_key(k, sizeof(k), "strata/w1", "fake", t, 0xabcdefull), 0);
    ASSERT_EQ_STR(k, "strata/w1/fake/2024-02-29/0000000000abcdef.part");
    /* before the epoch: the day that holds the instant, not the one after */
    ASSERT_EQ_INT(s3_part_key(k, sizeof(k), "p", "t", -1, 1), 0);
    ASSERT_EQ_STR(k, "p/t/1969-12-31/0000000000000001.part");
    ASSERT_EQ_INT(s3_part_key(k, sizeof(k), "p", "t", 0, 1), 0);
    ASSERT_EQ_STR(k, "p/t/1970-01-01/0000000000000001.part");
    ASSERT_EQ_INT(s3_manifest_key(k, sizeof(k), "strata/w1"), 0);
    ASSERT_EQ_STR(k, "strata/w1/manifest.json");
    char small[16];
    ASSERT_EQ_INT(s3_part_key(small, sizeof(small), "p", "t", 0, 1), STRATA_EINVAL);
    char *huge = malloc(1100);
    memset(huge, 'a', 1099);
    huge[1099] = '\0';
    char big[2048];
    ASSERT_EQ_INT(s3_part_key(big, sizeof(big), huge, "t", 0, 1), STRATA_EINVAL);
    ASSERT_EQ_INT(s3_manifest_key(big, sizeof(big), huge), STRATA_EINVAL);
    free(huge);
}

/* Write a part of one stream with n entries in blocks of about block bytes. */
static void write_part(const char *dir, uint32_t n, uint32_t block, char *path, size_t cap)
{
    struct part_writer_options o = {
        .dir = dir,
        .id = 1,
        .zstd_level = 1,
        .block_bytes = block,
        .tenant = "fake",
        .bloom = true,
    };
    struct part_writer *w;
    if (part_writer_open(&o, &w) < 0)
        abort();
    struct label l = {SLICE_LIT("app"), SLICE_LIT("a")};
    if (part_writer_begin_stream(w, 42, &l, 1) < 0)
        abort();
    for (uint32_t i = 0; i < n; i++) {
        char line[128];
        int len = snprintf(line, sizeof(line), "entry %06u with some text %s", i,
                           i == n / 2 ? "needle-xyz" : "");
        if (part_writer_add(w, (int64_t)i * NS_PER_SEC, slice_make(line, (size_t)len),
                            slice_make("", 0)) < 0)
            abort();
    }
    if (part_writer_end_stream(w) < 0 || part_writer_finish(w, NULL, path, cap) < 0)
        abort();
}

TEST(s3_part_plan_and_block_locations)
{
    char dir[256], path[512], err[256];
    st_tmpdir(dir);
    write_part(dir, 3000, 8192, path, sizeof(path));
    struct part_source src;
    struct part *p;
    ASSERT_EQ_INT(part_source_file(path, &src, err, sizeof(err)), 0);
    ASSERT_EQ_INT(part_open(&src, true, &p, err, sizeof(err)), 0);
    const struct part_stream *ps = part_get_stream(p, 0);
    ASSERT_TRUE(ps->n_blocks > 5);
    /* frames: the TS frame, then the data frame right after it */
    for (uint32_t b = ps->first_block; b < ps->first_block + ps->n_blocks; b++) {
        struct part_block_loc l;
        part_block_loc(p, b, &l);
        ASSERT_EQ_UINT(l.data_off, l.ts_off + l.ts_len);
        ASSERT_TRUE(l.bloom_len > 0);
        ASSERT_TRUE(l.bloom_off + l.bloom_len <= part_get_info(p)->file_size);
    }
    struct arena a;
    arena_init(&a, 0);
    /* a time range: only the blocks overlapping it, in the cursor's order */
    for (int backward = 0; backward < 2; backward++) {
        struct tier_query q = {.start = 1000 * NS_PER_SEC,
                               .end = 2000 * NS_PER_SEC,
                               .backward = backward,
                               .want_lines = true};
        struct tier_cursor *c = part_cursor_new(p, 0, &q, NULL, &a, NULL, NULL);
        ASSERT_TRUE(c);
        const uint32_t *plan;
        uint32_t n = part_cursor_plan(c, &plan);
        ASSERT_TRUE(n >= 1 && n < ps->n_blocks);
        for (uint32_t i = 0; i < n; i++) {
            struct part_block_loc l;
            part_block_loc(p, plan[i], &l);
            ASSERT_TRUE(l.max_ts >= q.start && l.min_ts < q.end);
            if (i) {
                struct part_block_loc prev;
                part_block_loc(p, plan[i - 1], &prev);
                ASSERT_TRUE(backward ? prev.min_ts >= l.max_ts : prev.max_ts <= l.min_ts);
            }
        }
        c->ops->close(c);
    }
    /*
     * a needle: the bloom filters leave the group of blocks that share the
     * filter of the block holding it (PART_BLOOM_BLOCKS of them at most)
     */
    struct slice needle = SLICE_LIT("needle-xyz");
    struct bloom_query bq;
    bloom_query_init(&bq, &needle, 1, &a);
    struct tier_query q = {.start = 0, .end = INT64_MAX, .want_lines = true};
    struct tier_cursor *c = part_cursor_new(p, 0, &q, &bq, &a, NULL, NULL);
    ASSERT_TRUE(c);
    const uint32_t *plan;
    uint32_t n = part_cursor_plan(c, &plan);
    ASSERT_TRUE(n >= 1 && n <= PART_BLOOM_BLOCKS && n < ps->n_blocks);
    bool holds = false;
    struct part_block_loc first;
    part_block_loc(p, plan[0], &first);
    for (uint32_t i = 0; i < n; i++) {
        struct part_block_loc l;
        part_block_loc(p, plan[i], &l);
        ASSERT_EQ_UINT(l.bloom_off, first.bloom_off); /* one shared filter */
        holds |= l.min_ts <= 1500 * NS_PER_SEC && l.max_ts >= 1500 * NS_PER_SEC;
    }
    ASSERT_TRUE(holds);
    c->ops->close(c);
    arena_release(&a);
    part_close(p);
    part_source_file_release(&src);
    st_rmtree(dir);
}

/* part_merge: streams of several parts merged by time, copies written once. */
TEST(s3_part_merge_drops_copies)
{
    char dir[256], p1[512], p2[512], out[512], err[256];
    st_tmpdir(dir);
    write_part(dir, 100, 4096, p1, sizeof(p1));
    /* the same part again under another id: every entry is a copy */
    struct part_writer_options o = {
        .dir = dir, .id = 2, .zstd_level = 1, .block_bytes = 4096, .tenant = "fake"};
    struct part_source s1, s2;
    struct part *in[2];
    ASSERT_EQ_INT(part_source_file(p1, &s1, err, sizeof(err)), 0);
    ASSERT_EQ_INT(part_open(&s1, true, &in[0], err, sizeof(err)), 0);
    struct part_writer *w;
    ASSERT_EQ_INT(part_writer_open(&o, &w), 0);
    ASSERT_EQ_INT(part_merge(w, in, 1, NULL), 0);
    ASSERT_EQ_INT(part_writer_finish(w, NULL, p2, sizeof(p2)), 0);
    ASSERT_EQ_INT(part_source_file(p2, &s2, err, sizeof(err)), 0);
    ASSERT_EQ_INT(part_open(&s2, true, &in[1], err, sizeof(err)), 0);
    o.id = 3;
    ASSERT_EQ_INT(part_writer_open(&o, &w), 0);
    ASSERT_EQ_INT(part_merge(w, in, 2, NULL), 0);
    struct part_info info;
    ASSERT_EQ_INT(part_writer_finish(w, &info, out, sizeof(out)), 0);
    ASSERT_EQ_UINT(info.entries, 100);
    ASSERT_EQ_UINT(info.streams, 1);
    /* a stop flag set: gives up */
    volatile int stop = 1;
    o.id = 4;
    ASSERT_EQ_INT(part_writer_open(&o, &w), 0);
    ASSERT_EQ_INT(part_merge(w, in, 2, &stop), STRATA_ECANCELED);
    part_writer_abort(w);
    part_close(in[0]);
    part_close(in[1]);
    part_source_file_release(&s1);
    part_source_file_release(&s2);
    st_rmtree(dir);
}
