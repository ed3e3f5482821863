/* Unit tests of src/store: bloom filters, parts, the head, the local tier and the store. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "store/bloom.h"
#include "store/fsio.h"
#include "store/head.h"
#include "store/local.h"
#include "store/part.h"
#include "store/store.h"
#include "test.h"
#include "test_store_util.h"

/* ---- bloom ---- */

TEST(bloom_has_no_false_negatives_and_prunes)
{
    char data[20000];
    uint32_t sizes[200];
    size_t off = 0;
    for (int i = 0; i < 200; i++) {
        int n = snprintf(data + off, sizeof(data) - off, "GET /api/v%d/items/%d status=%d ok",
                         i % 3, i * 7919, 200 + i % 5);
        sizes[i] = (uint32_t)n;
        off += (size_t)n;
    }
    struct buf f;
    buf_init(&f, 1 << 20);
    ASSERT_EQ_INT(bloom_build(&f, data, sizes, 200), 0);
    ASSERT_TRUE(f.len > BLOOM_HEADER);
    struct arena a;
    arena_init(&a, 0);
    /* Every substring of 4+ bytes of every line is "maybe". */
    off = 0;
    for (int i = 0; i < 200; i++) {
        for (uint32_t s = 0; s + 4 <= sizes[i]; s += 3)
            for (uint32_t len = 4; s + len <= sizes[i]; len += 5) {
                struct slice n = {data + off + s, len};
                struct bloom_query q;
                bloom_query_init(&q, &n, 1, &a);
                ASSERT_TRUE(bloom_may_contain((const unsigned char *)f.ptr, f.len, &q));
            }
        off += sizes[i];
    }
    /* Absent needles are mostly pruned. */
    int pruned = 0;
    for (int i = 0; i < 100; i++) {
        char needle[32];
        snprintf(needle, sizeof(needle), "zq%dxw", i);
        struct slice n = slice_from(needle);
        struct bloom_query q;
        bloom_query_init(&q, &n, 1, &a);
        pruned += !bloom_may_contain((const unsigned char *)f.ptr, f.len, &q);
    }
    ASSERT_TRUE(pruned > 90);
    /* Short needles and empty filters cannot prune. */
    struct slice sn = SLICE_LIT("zzz");
    struct bloom_query q;
    bloom_query_init(&q, &sn, 1, &a);
    ASSERT_EQ_UINT(q.n, 0);
    ASSERT_TRUE(bloom_may_contain((const unsigned char *)f.ptr, f.len, &q));
    struct slice absent = SLICE_LIT("zq1xw");
    bloom_query_init(&q, &absent, 1, &a);
    ASSERT_TRUE(bloom_may_contain((const unsigned char *)"", 0, &q));
    arena_release(&a);
    buf_release(&f);
}

/*
 * Ids: lines of random 19-digit block ids put nearly every 4-digit gram in
 * the filter, so grams cannot prune an absent id; the prefixes of long
 * tokens can, for a needle in which the id starts after another byte. No
 * needle taken from a line is ever pruned.
 */
TEST(bloom_token_prefixes_prune_absent_ids)
{
    enum { N = 3000 };
    static char data[N * 64];
    static uint32_t sizes[N];
    static char ids[N][24];
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    size_t off = 0;
    for (int i = 0; i < N; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        snprintf(ids[i], sizeof(ids[i]), "%019llu",
                 (unsigned long long)(seed % 10000000000000000000ULL));
        int n = snprintf(data + off, sizeof(data) - off, "Served block blk_-%s to /10.0.%d.%d",
                         ids[i], i % 256, i % 7);
        sizes[i] = (uint32_t)n;
        off += (size_t)n;
    }
    struct buf f;
    buf_init(&f, 1 << 22);
    ASSERT_EQ_INT(bloom_build(&f, data, sizes, N), 0);
    ASSERT_TRUE(f.len > BLOOM_HEADER);
    const unsigned char *fp = (const unsigned char *)f.ptr;
    struct arena a;
    arena_init(&a, 0);
    for (int i = 0; i < N; i++) {
        char nd[5][64];
        snprintf(nd[0], sizeof(nd[0]), "blk_-%.19s", ids[i]);
        snprintf(nd[1], sizeof(nd[1]), "-%.19s to", ids[i]);
        snprintf(nd[2], sizeof(nd[2]), "_-%.14s", ids[i]);
        snprintf(nd[3], sizeof(nd[3]), "%.19s", ids[i]);
        snprintf(nd[4], sizeof(nd[4]), "-%.12s", ids[i]);
        for (int k = 0; k < 5; k++) {
            struct slice n = slice_from(nd[k]);
            struct bloom_query q;
            bloom_query_init(&q, &n, 1, &a);
            ASSERT_EQ_UINT(q.n_tokens, k == 3 ? 0 : 1); /* a bare id may continue a token */
            ASSERT_TRUE(bloom_may_contain(fp, f.len, &q));
        }
    }
    int grams_only = 0, with_tokens = 0;
    for (int i = 0; i < 200; i++) {
        char id[24], needle[64];
        snprintf(id, sizeof(id), "%019d", 987654321 + i * 7919);
        snprintf(needle, sizeof(needle), "blk_-%s", id);
        struct slice n = slice_from(needle);
        struct bloom_query q;
        bloom_query_init(&q, &n, 1, &a);
        with_tokens += !bloom_may_contain(fp, f.len, &q);
        q.n_tokens = 0; /* what a filter without tokens could tell */
        grams_only += !bloom_may_contain(fp, f.len, &q);
    }
    ASSERT_TRUE(grams_only < 100);
    ASSERT_TRUE(with_tokens > 190);
    arena_release(&a);
    buf_release(&f);
}

/* ---- parts ---- */

struct part_fixture {
    char dir[256];
    char path[512];
    struct part_source src;
    struct part *p;
};

static const char *const apps[] = {"api", "db", "web"};

/* Three streams, app=api|db|web, 300 entries each at ts = base + i*1000 + stream. */
static int write_fixture(struct part_fixture *f, uint32_t block_bytes, int64_t base)
{
    st_tmpdir_fast(f->dir);
    struct part_writer_options o = {.dir = f->dir,
                                    .id = 42,
                                    .level = 0,
                                    .zstd_level = 3,
                                    .block_bytes = block_bytes,
                                    .tenant = "team-a",
                                    .wal_seq = 7,
                                    .bloom = true,
                                    .bloom_blocks = 1};
    uint64_t sup[2] = {3, 5};
    o.supersedes = sup;
    o.n_supersedes = 2;
    struct part_writer *w;
    if (part_writer_open(&o, &w) < 0)
        return -1;
    struct buf meta;
    buf_init(&meta, 1024);
    for (int s = 2; s >= 0; s--) {
        struct label l[2] = {{SLICE_LIT("app"), slice_from(apps[s])},
                             {SLICE_LIT("env"), SLICE_LIT("prod")}};
        if (part_writer_begin_stream(w, labels_fingerprint(l, 2), l, 2) < 0)
            return -1;
        for (int i = 0; i < 300; i++) {
            char line[128];
            int n =
                snprintf(line, sizeof(line), "%s request %d took %dms", apps[s], i, i * 13 % 97);
            buf_reset(&meta);
            struct label m[1] = {{SLICE_LIT("trace"), slice_from(line + n - 4)}};
            if (i % 10 == 0 && labels_encode(&meta, m, 1) < 0)
                return -1;
            if (part_writer_add(w, base + i * 1000 + s, (struct slice){line, (size_t)n},
                                buf_slice(&meta)) < 0)
                return -1;
        }
        if (part_writer_end_stream(w) < 0)
            return -1;
    }
    buf_release(&meta);
    struct part_info info;
    if (part_writer_finish(w, &info, f->path, sizeof(f->path)) < 0)
        return -1;
    if (info.entries != 900 || info.streams != 3)
        return -1;
    char err[256];
    if (part_source_file(f->path, &f->src, err, sizeof(err)) < 0)
        return -1;
    return part_open(&f->src, true, &f->p, err, sizeof(err));
}

static void fixture_free(struct part_fixture *f)
{
    part_close(f->p);
    part_source_file_release(&f->src);
    st_rmtree(f->dir);
}

static int build_selector(struct arena *a, const char *text, struct selector *sel)
{
    size_t used;
    char err[256];
    return selector_parse(slice_from(text), a, sel, &used, err, sizeof(err));
}

/* Read every entry of a cursor; lines are checked to belong to app. */
static int drain(struct tier_cursor *c, int64_t *ts, int max, const char *app, int *with_meta)
{
    int n = 0;
    struct entry_batch b;
    int rc;
    while ((rc = c->ops->next(c, &b)) > 0)
        for (uint32_t i = 0; i < b.n; i++) {
            if (n < max)
                ts[n] = b.ts[i];
            if (b.lines &&
                (b.lines[i].len != b.sizes[i] || memcmp(b.lines[i].ptr, app, strlen(app))))
                return -1000;
            if (b.meta && b.meta[i].len && with_meta)
                (*with_meta)++;
            n++;
        }
    c->ops->close(c);
    return rc < 0 ? rc : n;
}

TEST(part_roundtrip_streams_postings_and_info)
{
    struct part_fixture f;
    ASSERT_EQ_INT(write_fixture(&f, 2048, 1000000), 0);
    const struct part_info *in = part_get_info(f.p);
    ASSERT_EQ_UINT(in->id, 42);
    ASSERT_EQ_STR(in->tenant, "team-a");
    ASSERT_EQ_UINT(in->wal_seq, 7);
    ASSERT_EQ_UINT(in->n_supersedes, 2);
    ASSERT_EQ_UINT(in->supersedes[1], 5);
    ASSERT_EQ_INT(in->min_ts, 1000000);
    ASSERT_EQ_INT(in->max_ts, 1000000 + 299 * 1000 + 2);
    ASSERT_TRUE(in->blocks > 3); /* 2 KiB blocks: several per stream */
    char err[256];
    ASSERT_EQ_INT(part_verify(f.p, err, sizeof(err)), 0);
    struct arena a;
    arena_init(&a, 0);
    struct selector sel;
    uint32_t *ids;
    ASSERT_EQ_INT(build_selector(&a, "{app=\"db\"}", &sel), 0);
    ASSERT_EQ_INT(part_match_streams(f.p, &sel, &a, &ids), 1);
    ASSERT_EQ_SLICE(part_get_stream(f.p, ids[0])->key, "{app=\"db\", env=\"prod\"}");
    selector_release(&sel);
    ASSERT_EQ_INT(build_selector(&a, "{app=~\"a.*|w.*\", env!=\"dev\"}", &sel), 0);
    ASSERT_EQ_INT(part_match_streams(f.p, &sel, &a, &ids), 2);
    selector_release(&sel);
    ASSERT_EQ_INT(build_selector(&a, "{env=\"prod\", app!~\"api|db\"}", &sel), 0);
    ASSERT_EQ_INT(part_match_streams(f.p, &sel, &a, &ids), 1);
    ASSERT_EQ_SLICE(part_get_stream(f.p, ids[0])->labels[0].value, "web");
    selector_release(&sel);
    ASSERT_EQ_INT(build_selector(&a, "{app=\"nope\"}", &sel), 0);
    ASSERT_EQ_INT(part_match_streams(f.p, &sel, &a, &ids), 0);
    selector_release(&sel);
    ASSERT_EQ_INT(build_selector(&a, "{team=\"\", app=\"web\"}", &sel), 0);
    ASSERT_EQ_INT(part_match_streams(f.p, &sel, &a, &ids), 1);
    selector_release(&sel);
    arena_release(&a);
    fixture_free(&f);
}

TEST(part_cursors_range_direction_lines_and_meta)
{
    struct part_fixture f;
    ASSERT_EQ_INT(write_fixture(&f, 2048, 1000000), 0);
    struct arena a;
    arena_init(&a, 0);
    uint32_t *ids;
    struct selector sel;
    ASSERT_EQ_INT(build_selector(&a, "{app=\"db\"}", &sel), 0);
    ASSERT_EQ_INT(part_match_streams(f.p, &sel, &a, &ids), 1);
    int64_t ts[400];
    struct tier_read_stats st = {0};
    /* [start, end) inside blocks: entries 10..249 of stream db (ts = base + i*1000 + 1). */
    struct tier_query q = {.tenant = "team-a",
                           .start = 1000000 + 10 * 1000 + 1,
                           .end = 1000000 + 250 * 1000 + 1,
                           .want_lines = true,
                           .stats = &st};
    int meta = 0;
    struct tier_cursor *c = part_cursor_new(f.p, ids[0], &q, NULL, &a, NULL, NULL);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ_INT(drain(c, ts, 400, "db", &meta), 240);
    ASSERT_EQ_INT(ts[0], q.start);
    ASSERT_EQ_INT(ts[239], q.end - 1000);
    ASSERT_EQ_INT(meta, 24); /* every tenth entry has metadata */
    for (int i = 1; i < 240; i++)
        ASSERT_TRUE(ts[i] > ts[i - 1]);
    ASSERT_TRUE(st.blocks_read > 0 && st.bytes_decompressed > 0);
    q.backward = true;
    c = part_cursor_new(f.p, ids[0], &q, NULL, &a, NULL, NULL);
    ASSERT_EQ_INT(drain(c, ts, 400, "db", NULL), 240);
    ASSERT_EQ_INT(ts[0], q.end - 1000);
    for (int i = 1; i < 240; i++)
        ASSERT_TRUE(ts[i] < ts[i - 1]);
    /* Timestamps only: no data frame is read. */
    uint64_t before = st.bytes_decompressed;
    q.backward = false;
    q.want_lines = false;
    c = part_cursor_new(f.p, ids[0], &q, NULL, &a, NULL, NULL);
    ASSERT_EQ_INT(drain(c, ts, 400, "db", NULL), 240);
    ASSERT_EQ_UINT(st.bytes_decompressed, before);
    /* Out of range: no cursor. */
    q.start = 0;
    q.end = 1000;
    ASSERT_TRUE(part_cursor_new(f.p, ids[0], &q, NULL, &a, NULL, NULL) == NULL);
    selector_release(&sel);
    arena_release(&a);
    fixture_free(&f);
}

TEST(part_bloom_skips_blocks_without_the_needle)
{
    struct part_fixture f;
    ASSERT_EQ_INT(write_fixture(&f, 2048, 1000000), 0);
    struct arena a;
    arena_init(&a, 0);
    uint32_t *ids;
    struct selector sel;
    ASSERT_EQ_INT(build_selector(&a, "{app=\"web\"}", &sel), 0);
    ASSERT_EQ_INT(part_match_streams(f.p, &sel, &a, &ids), 1);
    struct tier_query q = {.start = INT64_MIN, .end = INT64_MAX, .want_lines = true};
    struct tier_read_stats st = {0};
    q.stats = &st;
    /* A needle in exactly one line is found, and most blocks are skipped. */
    struct slice needle = SLICE_LIT("web request 123 took");
    struct bloom_query bq;
    bloom_query_init(&bq, &needle, 1, &a);
    struct tier_cursor *c = part_cursor_new(f.p, ids[0], &q, &bq, &a, NULL, NULL);
    ASSERT_TRUE(c != NULL);
    struct entry_batch b;
    int found = 0, rc;
    while ((rc = c->ops->next(c, &b)) > 0)
        for (uint32_t i = 0; i < b.n; i++)
            found += b.lines[i].len >= needle.len &&
                     memmem(b.lines[i].ptr, b.lines[i].len, needle.ptr, needle.len) != NULL;
    c->ops->close(c);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_INT(found, 1);
    ASSERT_TRUE(st.blocks_read < st.blocks_total);
    /* An absent needle: no block at all. */
    struct slice absent = SLICE_LIT("no such text anywhere");
    bloom_query_init(&bq, &absent, 1, &a);
    ASSERT_TRUE(part_cursor_new(f.p, ids[0], &q, &bq, &a, NULL, NULL) == NULL);
    selector_release(&sel);
    arena_release(&a);
    fixture_free(&f);
}

/* One stream {app="svc"} of n lines "svc line <i> code <i*7%1000>", meta from meta_of(i). */
static int write_one_stream(const char *dir, const char *path_prefix, uint32_t block_bytes,
                            uint32_t bloom_blocks, int n, const char *(*meta_of)(int),
                            struct part_source *src, struct part **p, char *path, size_t cap)
{
    (void)path_prefix;
    struct part_writer_options o = {.dir = dir,
                                    .id = 7,
                                    .zstd_level = 3,
                                    .block_bytes = block_bytes,
                                    .tenant = "t",
                                    .bloom = true,
                                    .bloom_blocks = bloom_blocks};
    struct part_writer *w;
    if (part_writer_open(&o, &w) < 0)
        return -1;
    struct label l[1] = {{SLICE_LIT("app"), SLICE_LIT("svc")}};
    if (part_writer_begin_stream(w, labels_fingerprint(l, 1), l, 1) < 0)
        return -1;
    struct buf meta;
    buf_init(&meta, 1024);
    for (int i = 0; i < n; i++) {
        char line[96];
        int len = snprintf(line, sizeof(line), "svc line %d code %d", i, i * 7 % 1000);
        buf_reset(&meta);
        const char *m = meta_of ? meta_of(i) : NULL;
        struct label ml[1] = {{SLICE_LIT("detected_level"), slice_from(m ? m : "")}};
        if (m && labels_encode(&meta, ml, 1) < 0)
            return -1;
        if (part_writer_add(w, 1000 + (int64_t)i * 10, (struct slice){line, (size_t)len},
                            buf_slice(&meta)) < 0)
            return -1;
    }
    buf_release(&meta);
    if (part_writer_end_stream(w) < 0 || part_writer_finish(w, NULL, path, cap) < 0)
        return -1;
    char err[256];
    if (part_source_file(path, src, err, sizeof(err)) < 0)
        return -1;
    return part_open(src, true, p, err, sizeof(err));
}

static const char *level_of(int i)
{
    return i % 100 == 7 ? "error" : i % 3 ? "info" : NULL;
}

static const char *always_info(int i)
{
    (void)i;
    return "info";
}

TEST(part_metadata_frame_is_read_without_lines)
{
    char dir[256], path[512];
    st_tmpdir_fast(dir);
    struct part_source src;
    struct part *p;
    ASSERT_EQ_INT(write_one_stream(dir, "m", 4096, 0, 3000, level_of, &src, &p, path, sizeof(path)),
                  0);
    char err[256];
    ASSERT_EQ_INT(part_verify(p, err, sizeof(err)), 0);
    struct part_sizes sz;
    part_get_sizes(p, &sz);
    ASSERT_TRUE(sz.meta > 0 && sz.meta < sz.data / 4);
    struct arena a;
    arena_init(&a, 0);
    struct tier_read_stats st = {0};
    for (int backward = 0; backward < 2; backward++) {
        struct tier_query q = {.start = INT64_MIN,
                               .end = INT64_MAX,
                               .backward = backward,
                               .want_lines = false,
                               .want_meta = true,
                               .stats = &st};
        struct tier_cursor *c = part_cursor_new(p, 0, &q, NULL, &a, NULL, NULL);
        ASSERT_TRUE(c != NULL);
        struct entry_batch b;
        int k = 0, rc;
        while ((rc = c->ops->next(c, &b)) > 0) {
            ASSERT_TRUE(b.lines == NULL && b.meta != NULL);
            for (uint32_t i = 0; i < b.n; i++, k++) {
                int e = backward ? 2999 - k : k;
                ASSERT_EQ_INT(b.ts[i], 1000 + (int64_t)e * 10);
                const char *want = level_of(e);
                struct label *ml;
                uint32_t nm = 0;
                if (b.meta[i].len)
                    ASSERT_EQ_INT(labels_decode(b.meta[i], &a, &ml, &nm), 0);
                ASSERT_EQ_UINT(nm, want ? 1 : 0);
                if (want)
                    ASSERT_EQ_SLICE(ml[0].value, want);
                /* equal values of a batch are one slice */
                if (i && b.meta[i].len && b.meta[i].len == b.meta[i - 1].len &&
                    !memcmp(b.meta[i].ptr, b.meta[i - 1].ptr, b.meta[i].len))
                    ASSERT_TRUE(b.meta[i].ptr == b.meta[i - 1].ptr);
            }
        }
        c->ops->close(c);
        ASSERT_EQ_INT(rc, 0);
        ASSERT_EQ_INT(k, 3000);
    }
    ASSERT_EQ_UINT(st.bytes_decompressed, 0); /* no data frame was read */
    /* Without want_meta, no metadata either. */
    struct tier_query q = {.start = INT64_MIN, .end = INT64_MAX};
    struct tier_cursor *c = part_cursor_new(p, 0, &q, NULL, &a, NULL, NULL);
    struct entry_batch b;
    ASSERT_EQ_INT(c->ops->next(c, &b), 1);
    ASSERT_TRUE(b.meta == NULL);
    c->ops->close(c);
    arena_release(&a);
    part_close(p);
    part_source_file_release(&src);

    /* One value for every entry: the index is 0 bits wide, one slice for all. */
    ASSERT_EQ_INT(
        write_one_stream(dir, "c", 1 << 20, 0, 2000, always_info, &src, &p, path, sizeof(path)), 0);
    part_get_sizes(p, &sz);
    ASSERT_TRUE(sz.meta < 100);
    arena_init(&a, 0);
    struct tier_query qm = {.start = INT64_MIN, .end = INT64_MAX, .want_meta = true};
    c = part_cursor_new(p, 0, &qm, NULL, &a, NULL, NULL);
    ASSERT_EQ_INT(c->ops->next(c, &b), 1);
    ASSERT_EQ_UINT(b.n, 2000);
    for (uint32_t i = 1; i < b.n; i++)
        ASSERT_TRUE(b.meta[i].ptr == b.meta[0].ptr && b.meta[i].len == b.meta[0].len);
    c->ops->close(c);
    arena_release(&a);
    part_close(p);
    part_source_file_release(&src);
    st_rmtree(dir);
}

/*
 * With needles, a cursor returns only the lines that hold every one (found
 * by one search across each block's lines), in order with their timestamps
 * and metadata, and counts the others as filtered; a match across two lines
 * is none.
 */
TEST(part_cursor_drops_lines_without_the_needles)
{
    char dir[256], path[512];
    st_tmpdir_fast(dir);
    struct part_source src;
    struct part *p;
    enum { N = 3000 };
    ASSERT_EQ_INT(write_one_stream(dir, "", 4096, 4, N, level_of, &src, &p, path, sizeof(path)), 0);
    struct arena a;
    arena_init(&a, 0);
    struct slice two[2] = {SLICE_LIT("code 7"), SLICE_LIT("line 1")};
    struct slice across = SLICE_LIT("7svc line"); /* "...code 7" + "svc line ..." */
    for (int backward = 0; backward < 2; backward++) {
        struct tier_read_stats st = {0};
        struct tier_query q = {.start = INT64_MIN,
                               .end = INT64_MAX,
                               .backward = backward,
                               .want_lines = true,
                               .want_meta = true,
                               .needles = two,
                               .n_needles = 2,
                               .stats = &st};
        struct tier_cursor *c = part_cursor_new(p, 0, &q, NULL, &a, NULL, NULL);
        ASSERT_TRUE(c != NULL);
        int want = backward ? N - 1 : 0, got = 0, rc;
        struct entry_batch b;
        while ((rc = c->ops->next(c, &b)) > 0)
            for (uint32_t j = 0; j < b.n; j++, got++) {
                char line[96];
                for (;;) { /* the next line that holds both needles */
                    snprintf(line, sizeof(line), "svc line %d code %d", want, want * 7 % 1000);
                    if (strstr(line, "code 7") && strstr(line, "line 1"))
                        break;
                    want += backward ? -1 : 1;
                    ASSERT_TRUE(want >= 0 && want < N);
                }
                ASSERT_EQ_SLICE(b.lines[j], line);
                ASSERT_EQ_INT(b.ts[j], 1000 + (int64_t)want * 10);
                ASSERT_EQ_UINT(b.sizes[j], strlen(line));
                const char *m = level_of(want);
                ASSERT_EQ_INT(b.meta && b.meta[j].len, m != NULL);
                want += backward ? -1 : 1;
            }
        c->ops->close(c);
        ASSERT_EQ_INT(rc, 0);
        ASSERT_TRUE(got > 10);
        ASSERT_EQ_UINT(st.entries_read, N);
        ASSERT_EQ_UINT(st.entries_filtered, N - got);
        ASSERT_TRUE(st.bytes_filtered > 0);
    }
    struct tier_read_stats st = {0};
    struct tier_query q = {.start = INT64_MIN,
                           .end = INT64_MAX,
                           .want_lines = true,
                           .needles = &across,
                           .n_needles = 1,
                           .stats = &st};
    struct tier_cursor *c = part_cursor_new(p, 0, &q, NULL, &a, NULL, NULL);
    ASSERT_TRUE(c != NULL);
    struct entry_batch b;
    ASSERT_EQ_INT(c->ops->next(c, &b), 0);
    c->ops->close(c);
    ASSERT_EQ_UINT(st.entries_filtered, N);
    arena_release(&a);
    part_close(p);
    part_source_file_release(&src);
    st_rmtree(dir);
}

TEST(part_blocks_share_bloom_filters)
{
    char dir[256], path[512];
    st_tmpdir_fast(dir);
    struct part_source src;
    struct part *p;
    struct part_sizes one, shared;
    ASSERT_EQ_INT(write_one_stream(dir, "1", 2048, 1, 2000, NULL, &src, &p, path, sizeof(path)), 0);
    part_get_sizes(p, &one);
    part_close(p);
    part_source_file_release(&src);
    ASSERT_EQ_INT(write_one_stream(dir, "4", 2048, 4, 2000, NULL, &src, &p, path, sizeof(path)), 0);
    part_get_sizes(p, &shared);
    /* the groups' grams overlap (how much depends on the data: 2.9x less on the corpus) */
    ASSERT_TRUE(shared.bloom * 4 < one.bloom * 3);
    char err[256];
    ASSERT_EQ_INT(part_verify(p, err, sizeof(err)), 0);
    struct arena a;
    arena_init(&a, 0);
    struct tier_read_stats st = {0};
    struct tier_query q = {.start = INT64_MIN, .end = INT64_MAX, .want_lines = true, .stats = &st};
    /* Found in one line: its group of blocks is read, most others are skipped. */
    struct slice needle = SLICE_LIT("line 1234 code");
    struct bloom_query bq;
    bloom_query_init(&bq, &needle, 1, &a);
    struct tier_cursor *c = part_cursor_new(p, 0, &q, &bq, &a, NULL, NULL);
    ASSERT_TRUE(c != NULL);
    struct entry_batch b;
    int found = 0, rc;
    while ((rc = c->ops->next(c, &b)) > 0)
        for (uint32_t i = 0; i < b.n; i++)
            found += memmem(b.lines[i].ptr, b.lines[i].len, needle.ptr, needle.len) != NULL;
    c->ops->close(c);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_INT(found, 1);
    ASSERT_TRUE(st.blocks_total > 16);
    ASSERT_TRUE(st.blocks_read <= 8);
    struct slice absent = SLICE_LIT("no such text anywhere");
    bloom_query_init(&bq, &absent, 1, &a);
    ASSERT_TRUE(part_cursor_new(p, 0, &q, &bq, &a, NULL, NULL) == NULL);
    arena_release(&a);
    part_close(p);
    part_source_file_release(&src);
    st_rmtree(dir);
}

/*
 * Parts of the earlier formats stay readable. Both fixtures hold 60 entries
 * "old line <i>" at ts 1000+i in one stream; entries i % 4 != 0 carry
 * detected_level=info (odd i) or warn.
 *   tests/unit/data/part-v1.part: the version-1 writer, 4 blocks, metadata in
 *   the data frames, one layout-1 bloom filter per block.
 *   tests/unit/data/part-v2.part: the version-2 writer (zstd 3, 150-byte
 *   blocks: 6 blocks), bit-packed timestamp frames, metadata frames, layout-2
 *   filters shared by 4 blocks.
 */
/* Open the part at path (checksums on) and verify every block: 0, or -1 with the error printed. */
static int open_verified(const char *path, struct part_source *src, struct part **p)
{
    char err[256];
    if (part_source_file(path, src, err, sizeof(err)) < 0)
        goto fail;
    if (part_open(src, true, p, err, sizeof(err)) < 0) {
        part_source_file_release(src);
        goto fail;
    }
    if (part_verify(*p, err, sizeof(err)) < 0) {
        part_close(*p);
        part_source_file_release(src);
        goto fail;
    }
    return 0;
fail:
    fprintf(stderr, "    %s: %s\n", path, err);
    return -1;
}

static void check_old_part(const char *path)
{
    struct part_source src;
    struct part *p;
    ASSERT_EQ_INT(open_verified(path, &src, &p), 0);
    ASSERT_EQ_UINT(part_get_info(p)->entries, 60);
    struct arena a;
    arena_init(&a, 0);
    for (int mode = 0; mode < 2; mode++) {
        /* with lines, then metadata alone (read from the data frame) */
        struct tier_query q = {
            .start = INT64_MIN, .end = INT64_MAX, .want_lines = mode == 0, .want_meta = true};
        struct tier_cursor *c = part_cursor_new(p, 0, &q, NULL, &a, NULL, NULL);
        ASSERT_TRUE(c != NULL);
        struct entry_batch b;
        int k = 0, rc;
        while ((rc = c->ops->next(c, &b)) > 0)
            for (uint32_t i = 0; i < b.n; i++, k++) {
                ASSERT_EQ_INT(b.ts[i], 1000 + k);
                if (mode == 0) {
                    char want[32];
                    snprintf(want, sizeof(want), "old line %d", k);
                    ASSERT_EQ_SLICE(b.lines[i], want);
                } else {
                    ASSERT_TRUE(b.lines == NULL);
                }
                struct label *ml;
                uint32_t nm = 0;
                if (b.meta && b.meta[i].len)
                    ASSERT_EQ_INT(labels_decode(b.meta[i], &a, &ml, &nm), 0);
                ASSERT_EQ_UINT(nm, k % 4 ? 1 : 0);
                if (nm)
                    ASSERT_EQ_SLICE(ml[0].value, k % 2 ? "info" : "warn");
            }
        c->ops->close(c);
        ASSERT_EQ_INT(rc, 0);
        ASSERT_EQ_INT(k, 60);
    }
    struct tier_read_stats st = {0};
    struct tier_query q = {.start = INT64_MIN, .end = INT64_MAX, .want_lines = true, .stats = &st};
    struct slice needle = SLICE_LIT("old line 42");
    struct bloom_query bq;
    bloom_query_init(&bq, &needle, 1, &a);
    struct tier_cursor *c = part_cursor_new(p, 0, &q, &bq, &a, NULL, NULL);
    ASSERT_TRUE(c != NULL);
    c->ops->close(c);
    struct slice absent = SLICE_LIT("no such text anywhere");
    bloom_query_init(&bq, &absent, 1, &a);
    ASSERT_TRUE(part_cursor_new(p, 0, &q, &bq, &a, NULL, NULL) == NULL);
    arena_release(&a);
    part_close(p);
    part_source_file_release(&src);
}

TEST(part_version_1_is_still_read)
{
    check_old_part("tests/unit/data/part-v1.part");
}

TEST(part_version_2_is_still_read)
{
    check_old_part("tests/unit/data/part-v2.part");
}

/*
 * Timestamp frames (version 3: Rice-coded deltas, sizes in byte planes) give
 * back exactly what was written, whatever the spread: deltas of 0, constant
 * ones, random ones, jumps that take the escape code, the whole int64 range;
 * empty lines, and lines of 1, 2 and 3 size bytes; blocks of one entry.
 */
TEST(part_timestamp_frames_round_trip_every_spread)
{
    char dir[256];
    st_tmpdir_fast(dir);
    enum { N = 700, STREAMS = 6 };
    static int64_t want_ts[STREAMS][N];
    static uint32_t want_len[STREAMS][N];
    uint64_t seed = 88172645463325252ULL;
    char *big = malloc(70000);
    ASSERT_TRUE(big != NULL);
    memset(big, 'x', 70000);
    for (int s = 0; s < STREAMS; s++) {
        int64_t t = s == 5 ? INT64_MIN + 1 : 1000;
        for (int i = 0; i < N; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            uint64_t d = 0;
            switch (s) {
            case 0: d = 0; break;                                /* every entry at once */
            case 1: d = 1000000000; break;                       /* exactly every second */
            case 2: d = seed % 3000000000u; break;               /* random, ~1.5 s apart */
            case 3: d = i % 97 ? seed % 1000 : seed >> 7; break; /* rare jumps: escape codes */
            case 4: d = seed % 50; break;                        /* dense */
            case 5: d = i == N - 1 ? (uint64_t)INT64_MAX - 1 - (uint64_t)t : seed % 7; break;
            }
            t = (int64_t)((uint64_t)t + d);
            want_ts[s][i] = t;
            want_len[s][i] =
                s == 4 ? (uint32_t)(seed % 3 ? 0 : 70000 - seed % 300) : (uint32_t)(i * 7 % 400);
        }
    }
    /* blocks of 64 KiB: streams 0-3 and 5 get several, stream 4's big lines one each */
    struct part_writer_options o = {
        .dir = dir, .id = 9, .level = 1, .zstd_level = 3, .block_bytes = 65536, .tenant = "t"};
    struct part_writer *w;
    ASSERT_EQ_INT(part_writer_open(&o, &w), 0);
    for (int s = 0; s < STREAMS; s++) {
        char v[16];
        snprintf(v, sizeof(v), "s%d", s);
        struct label l = {SLICE_LIT("app"), slice_from(v)};
        ASSERT_EQ_INT(part_writer_begin_stream(w, labels_fingerprint(&l, 1) + (uint64_t)s, &l, 1),
                      0);
        for (int i = 0; i < N; i++)
            ASSERT_EQ_INT(part_writer_add(w, want_ts[s][i], (struct slice){big, want_len[s][i]},
                                          (struct slice){"", 0}),
                          0);
        ASSERT_EQ_INT(part_writer_end_stream(w), 0);
    }
    char path[4096];
    ASSERT_EQ_INT(part_writer_finish(w, NULL, path, sizeof(path)), 0);
    struct part_source src;
    struct part *p;
    ASSERT_EQ_INT(open_verified(path, &src, &p), 0);
    struct arena a;
    arena_init(&a, 0);
    for (int s = 0; s < STREAMS; s++) {
        char text[32];
        snprintf(text, sizeof(text), "{app=\"s%d\"}", s);
        struct selector sel;
        uint32_t *ids;
        ASSERT_EQ_INT(build_selector(&a, text, &sel), 0);
        ASSERT_EQ_INT(part_match_streams(p, &sel, &a, &ids), 1);
        for (int lines = 0; lines < 2; lines++) {
            struct tier_query q = {.start = INT64_MIN, .end = INT64_MAX, .want_lines = lines};
            struct tier_cursor *c = part_cursor_new(p, ids[0], &q, NULL, &a, NULL, NULL);
            ASSERT_TRUE(c != NULL);
            struct entry_batch b;
            int i = 0, rc;
            while ((rc = c->ops->next(c, &b)) > 0)
                for (uint32_t j = 0; j < b.n; j++, i++) {
                    ASSERT_TRUE(i < N);
                    ASSERT_EQ_INT(b.ts[j], want_ts[s][i]);
                    ASSERT_EQ_UINT(b.sizes[j], want_len[s][i]);
                    if (lines)
                        ASSERT_EQ_UINT(b.lines[j].len, want_len[s][i]);
                }
            c->ops->close(c);
            ASSERT_EQ_INT(rc, 0);
            ASSERT_EQ_INT(i, N);
        }
    }
    arena_release(&a);
    part_close(p);
    part_source_file_release(&src);
    free(big);
    st_rmtree(dir);
}

TEST(part_damage_is_detected_never_crashes)
{
    struct part_fixture f;
    ASSERT_EQ_INT(write_fixture(&f, 2048, 1000000), 0);
    long size = st_size(f.path);
    part_close(f.p);
    part_source_file_release(&f.src);
    f.p = NULL;
    char err[256];
    /* A flipped byte in a block: opening works, reading that block fails, verify says so. */
    ASSERT_EQ_INT(st_flip(f.path, 200, 0x40), 0);
    ASSERT_EQ_INT(part_source_file(f.path, &f.src, err, sizeof(err)), 0);
    ASSERT_EQ_INT(part_open(&f.src, true, &f.p, err, sizeof(err)), 0);
    ASSERT_EQ_INT(part_verify(f.p, err, sizeof(err)), STRATA_ECORRUPT);
    part_close(f.p);
    part_source_file_release(&f.src);
    ASSERT_EQ_INT(st_flip(f.path, 200, 0x40), 0);
    /* Damage in the index or footer: the part does not open. */
    for (long off = size - PART_FOOTER_SIZE - 64; off < size; off += 7) {
        ASSERT_EQ_INT(st_flip(f.path, off, 0x08), 0);
        ASSERT_EQ_INT(part_source_file(f.path, &f.src, err, sizeof(err)), 0);
        f.p = NULL;
        ASSERT_EQ_INT(part_open(&f.src, true, &f.p, err, sizeof(err)), STRATA_ECORRUPT);
        part_source_file_release(&f.src);
        ASSERT_EQ_INT(st_flip(f.path, off, 0x08), 0);
    }
    /* Truncated anywhere: refused. */
    char copy[600];
    snprintf(copy, sizeof(copy), "%s.copy", f.path);
    for (long n = 0; n < size; n += size / 50 + 1) {
        ASSERT_EQ_INT(st_copy(f.path, copy), 0);
        ASSERT_EQ_INT(st_truncate(copy, n), 0);
        ASSERT_EQ_INT(part_source_file(copy, &f.src, err, sizeof(err)), 0);
        f.p = NULL;
        ASSERT_EQ_INT(part_open(&f.src, true, &f.p, err, sizeof(err)), STRATA_ECORRUPT);
        part_source_file_release(&f.src);
    }
    ASSERT_EQ_INT(part_source_file(f.path, &f.src, err, sizeof(err)), 0);
    ASSERT_EQ_INT(part_open(&f.src, true, &f.p, err, sizeof(err)), 0);
    fixture_free(&f);
}

/* ---- head ---- */

struct collect {
    int streams;
    int entries;
    int64_t ts[64];
    char lines[64][64];
};

static int collect_fn(void *arg, const struct tier_stream *s)
{
    struct collect *c = arg;
    c->streams++;
    if (!s->cursor)
        return 0;
    struct entry_batch b;
    int rc;
    while ((rc = s->cursor->ops->next(s->cursor, &b)) > 0)
        for (uint32_t i = 0; i < b.n; i++) {
            if (c->entries < 64) {
                c->ts[c->entries] = b.ts[i];
                snprintf(c->lines[c->entries], 64, "%.*s", b.lines ? (int)b.lines[i].len : 0,
                         b.lines ? b.lines[i].ptr : "");
            }
            c->entries++;
        }
    s->cursor->ops->close(s->cursor);
    return rc;
}

TEST(head_window_duplicates_and_order)
{
    struct head_options ho = {.ooo_window = 3600 * NS_PER_SEC};
    struct tier *h = head_new(&ho);
    int64_t t0 = 1700000000 * NS_PER_SEC;
    struct push_batch b;
    push_batch_init(&b, "t1");
    uint32_t s = st_stream(&b, "x");
    push_batch_add(&b, s, t0, slice_from("newest"), NULL, 0);
    push_batch_add(&b, s, t0 - 1800 * NS_PER_SEC, slice_from("30m behind"), NULL, 0);
    push_batch_add(&b, s, t0 - 7200 * NS_PER_SEC, slice_from("2h behind"), NULL, 0);
    push_batch_add(&b, s, t0 - 1800 * NS_PER_SEC, slice_from("30m behind"), NULL, 0);
    struct push_result res;
    push_result_init(&res);
    uint8_t *acc;
    ASSERT_EQ_UINT(head_check(h, &b, &res, &acc), 2);
    ASSERT_EQ_INT(acc[0], 1);
    ASSERT_EQ_INT(acc[1], 1);
    ASSERT_EQ_INT(acc[2], 0);
    ASSERT_EQ_INT(acc[3], 2); /* identical to the previous accepted entry */
    ASSERT_EQ_UINT(res.accepted, 3);
    ASSERT_EQ_INT(res.n_rejected, 1);
    ASSERT_EQ_STR(res.rejected[0].reason,
                  "entry too far behind, entry timestamp is: 2023-11-14T20:13:20Z, oldest "
                  "acceptable timestamp is: 2023-11-14T21:13:20Z");
    head_append(h, &b, acc);
    /* Queries see entries sorted by time, whatever the arrival order. */
    struct arena a;
    arena_init(&a, 0);
    struct collect c = {0};
    struct tier_query q = {
        .tenant = "t1", .start = INT64_MIN, .end = INT64_MAX, .want_lines = true};
    ASSERT_EQ_INT(h->ops->select(h, &q, &a, collect_fn, &c), 0);
    ASSERT_EQ_INT(c.entries, 2);
    ASSERT_EQ_STR(c.lines[0], "30m behind");
    ASSERT_EQ_STR(c.lines[1], "newest");
    q.backward = true;
    memset(&c, 0, sizeof(c));
    ASSERT_EQ_INT(h->ops->select(h, &q, &a, collect_fn, &c), 0);
    ASSERT_EQ_STR(c.lines[0], "newest");
    /* Another tenant sees nothing. */
    q.tenant = "t2";
    memset(&c, 0, sizeof(c));
    ASSERT_EQ_INT(h->ops->select(h, &q, &a, collect_fn, &c), 0);
    ASSERT_EQ_INT(c.streams, 0);
    /* The stream's state survives a cut: the window still applies afterwards. */
    struct handover *ho_;
    ASSERT_EQ_INT(head_cut(h, 9, &ho_), 0);
    ASSERT_TRUE(ho_ != NULL);
    ASSERT_EQ_UINT(ho_->entries, 2);
    ASSERT_EQ_UINT(ho_->seq, 9);
    struct handover *again;
    ASSERT_EQ_INT(head_cut(h, 10, &again), STRATA_EBUSY);
    struct push_batch b2;
    push_batch_init(&b2, "t1");
    s = st_stream(&b2, "x");
    push_batch_add(&b2, s, t0 - 7200 * NS_PER_SEC, slice_from("still too old"), NULL, 0);
    push_batch_add(&b2, s, t0 + 1, slice_from("after the cut"), NULL, 0);
    push_result_init(&res);
    ASSERT_EQ_UINT(head_check(h, &b2, &res, &acc), 1);
    head_append(h, &b2, acc);
    /* Frozen and active generations are both visible. */
    q.tenant = "t1";
    q.backward = false;
    memset(&c, 0, sizeof(c));
    ASSERT_EQ_INT(h->ops->select(h, &q, &a, collect_fn, &c), 0);
    ASSERT_EQ_INT(c.entries, 3);
    ASSERT_EQ_STR(c.lines[2], "after the cut");
    head_drop(h, ho_);
    memset(&c, 0, sizeof(c));
    ASSERT_EQ_INT(h->ops->select(h, &q, &a, collect_fn, &c), 0);
    ASSERT_EQ_INT(c.entries, 1);
    arena_release(&a);
    push_batch_release(&b2);
    push_batch_release(&b);
    h->ops->close(h);
}

TEST(head_out_of_order_blocks_merge_in_time_order)
{
    struct head_options ho = {.ooo_window = 0};
    struct tier *h = head_new(&ho);
    struct push_batch b;
    push_batch_init(&b, "t");
    uint32_t s = st_stream(&b, "ooo");
    /* Enough entries for several blocks, timestamps going back and forth. */
    for (int i = 0; i < 3000; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "entry %d", i);
        char *copy = arena_strndup(&b.arena, line, (size_t)n);
        push_batch_add(&b, s, (int64_t)((i * 7919) % 3000), slice_from(copy), NULL, 0);
    }
    head_append(h, &b, NULL);
    struct arena a;
    arena_init(&a, 0);
    struct tier_query q = {.tenant = "t", .start = 100, .end = 2900, .want_lines = false};
    struct collect c = {0};
    ASSERT_EQ_INT(h->ops->select(h, &q, &a, collect_fn, &c), 0);
    ASSERT_EQ_INT(c.entries, 2800);
    ASSERT_EQ_INT(c.ts[0], 100);
    ASSERT_EQ_INT(c.ts[63], 163);
    struct tier_stats st = {0};
    ASSERT_EQ_INT(h->ops->stats(h, &q, &st), 0);
    ASSERT_EQ_UINT(st.entries, 2800);
    arena_release(&a);
    push_batch_release(&b);
    h->ops->close(h);
}

/* What each_entry calls for every entry of a stream (a tier_stream_fn's argument). */
struct entry_visit {
    void (*fn)(void *arg, int64_t ts, struct slice line);
    void *arg;
};

/* A tier_stream_fn: drain the stream's cursor into visit->fn; closes the cursor. */
static int each_entry(void *visit, const struct tier_stream *s)
{
    const struct entry_visit *v = visit;
    struct entry_batch b;
    int rc;
    while ((rc = s->cursor->ops->next(s->cursor, &b)) > 0)
        for (uint32_t i = 0; i < b.n; i++)
            v->fn(v->arg, b.ts[i], b.lines[i]);
    s->cursor->ops->close(s->cursor);
    return rc;
}

/* Checks that a stream's entries come in time order, ties in arrival order (line "e<n>"). */
struct order_check {
    int entries, bad;
    int64_t last_ts;
    long last_arrival;
};

static void order_entry(void *arg, int64_t ts, struct slice line)
{
    struct order_check *c = arg;
    long arrival = 0; /* the digits after "e" (lines are not NUL-terminated) */
    for (size_t k = 1; k < line.len; k++)
        arrival = arrival * 10 + (line.ptr[k] - '0');
    if (c->entries && (ts < c->last_ts || (ts == c->last_ts && arrival < c->last_arrival)))
        c->bad++;
    c->last_ts = ts;
    c->last_arrival = arrival;
    c->entries++;
}

TEST(head_overlapping_pushes_merge_stably)
{
    struct head_options ho = {.ooo_window = 0};
    struct tier *h = head_new(&ho);
    /* Pushes that overlap in time, each ascending with every timestamp twice. */
    int arrival = 0;
    for (int p = 0; p < 7; p++) {
        struct push_batch b;
        push_batch_init(&b, "t");
        uint32_t s = st_stream(&b, "runs");
        for (int i = 0; i < 600; i++) {
            char line[32];
            int n = snprintf(line, sizeof(line), "e%d", arrival++);
            push_batch_add(&b, s, (int64_t)((p * 37) % 5 * 100 + i / 2),
                           slice_from(arena_strndup(&b.arena, line, (size_t)n)), NULL, 0);
        }
        head_append(h, &b, NULL);
        push_batch_release(&b);
    }
    struct arena a;
    arena_init(&a, 0);
    struct tier_query q = {.tenant = "t", .start = 0, .end = 10000, .want_lines = true};
    struct order_check c = {0};
    ASSERT_EQ_INT(h->ops->select(h, &q, &a, each_entry, &(struct entry_visit){order_entry, &c}), 0);
    ASSERT_EQ_INT(c.entries, 7 * 600);
    ASSERT_EQ_INT(c.bad, 0);
    arena_release(&a);
    h->ops->close(h);
}

/* Sums the line lengths of a stream and checks the entries come in time order. */
struct size_check {
    int entries, bad;
    uint64_t bytes;
};

static void size_entry(void *arg, int64_t ts, struct slice line)
{
    struct size_check *c = arg;
    c->bad += ts != c->entries; /* entry k has timestamp k */
    /* Every byte of entry k is 'a' + k % 26. */
    for (size_t k = 0; k < line.len; k++)
        c->bad += line.ptr[k] != (char)('a' + ts % 26);
    c->bytes += line.len;
    c->entries++;
}

TEST(head_blocks_follow_the_size_of_entries)
{
    struct head_options ho = {.ooo_window = 0};
    struct tier *h = head_new(&ho);
    /* Blocks size their slots by the entries before them: medium, tiny, then huge ones. */
    static const struct {
        int n;
        size_t len;
    } runs[] = {{3000, 200}, {20000, 3}, {60, 70000}, {2000, 40}};
    static char buf[70000];
    int k = 0;
    uint64_t want = 0;
    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
        struct push_batch b;
        push_batch_init(&b, "t");
        uint32_t s = st_stream(&b, "sizes");
        for (int i = 0; i < runs[r].n; i++, k++) {
            memset(buf, 'a' + k % 26, runs[r].len);
            push_batch_add(&b, s, k, slice_from(arena_strndup(&b.arena, buf, runs[r].len)), NULL,
                           0);
            want += runs[r].len;
        }
        head_append(h, &b, NULL);
        push_batch_release(&b);
    }
    struct arena a;
    arena_init(&a, 0);
    struct tier_query q = {.tenant = "t", .start = 0, .end = INT64_MAX, .want_lines = true};
    struct size_check c = {0};
    ASSERT_EQ_INT(h->ops->select(h, &q, &a, each_entry, &(struct entry_visit){size_entry, &c}), 0);
    ASSERT_EQ_INT(c.entries, k);
    ASSERT_EQ_INT(c.bad, 0);
    ASSERT_EQ_UINT(c.bytes, want);
    arena_release(&a);
    h->ops->close(h);
}

/* ---- the store ---- */

static struct config test_config(const char *dir)
{
    struct config cfg;
    config_init(&cfg);
    char err[256];
    config_set(&cfg, "data-dir", dir, err, sizeof(err));
    config_set(&cfg, "max-retention-time", "0", err, sizeof(err));
    config_set(&cfg, "compact-duration", "0", err, sizeof(err));
    return cfg;
}

static int push_n(struct store *s, const char *tenant, const char *app, int64_t t0, int n,
                  const char *tag)
{
    struct push_batch b;
    push_batch_init(&b, tenant);
    uint32_t si = st_stream(&b, app);
    for (int i = 0; i < n; i++) {
        char line[64];
        int len = snprintf(line, sizeof(line), "%s %s %d", tag, app, i);
        push_batch_add(&b, si, t0 + i, slice_from(arena_strndup(&b.arena, line, (size_t)len)), NULL,
                       0);
    }
    struct push_result res;
    push_result_init(&res);
    int rc = store_push(s, &b, &res);
    push_batch_release(&b);
    return rc;
}

/* Count a tenant's entries through the view; -1 if any entry appears twice. */
static int count_all(struct store *s, const char *tenant)
{
    struct arena a;
    arena_init(&a, 0);
    struct collect c = {0};
    struct tier_query q = {
        .tenant = tenant, .start = INT64_MIN, .end = INT64_MAX, .want_lines = true};
    struct tier *t = store_chain(s);
    int rc = t->ops->select(t, &q, &a, collect_fn, &c);
    arena_release(&a);
    return rc < 0 ? rc : c.entries;
}

TEST(store_flush_compact_restart_exactly_once)
{
    char dir[256];
    st_tmpdir_fast(dir);
    struct config cfg = test_config(dir);
    struct store *s;
    char err[512];
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    int64_t day = 1700000000 * NS_PER_SEC;
    ASSERT_EQ_INT(push_n(s, "a", "x", day, 100, "first"), 0);
    ASSERT_EQ_INT(store_flush(s, false), 0);
    ASSERT_EQ_INT(push_n(s, "a", "x", day + 1000, 100, "second"), 0);
    ASSERT_EQ_INT(push_n(s, "b", "y", day, 10, "other"), 0);
    /* Entries in the next UTC day go to their own part. */
    ASSERT_EQ_INT(push_n(s, "a", "x", day + NS_PER_DAY, 5, "tomorrow"), 0);
    ASSERT_EQ_INT(count_all(s, "a"), 205);
    ASSERT_EQ_INT(store_flush(s, false), 0);
    struct store_status st;
    store_status(s, &st);
    ASSERT_EQ_UINT(st.head_entries, 0);
    ASSERT_EQ_UINT(st.tiers[1].usage.parts, 4); /* a: 2 flushes + tomorrow; b: 1 */
    ASSERT_EQ_INT(count_all(s, "a"), 205);
    /* Forced compaction: one part per tenant and day. */
    ASSERT_EQ_INT(store_flush(s, true), 0);
    store_status(s, &st);
    ASSERT_EQ_UINT(st.tiers[1].usage.parts, 3);
    ASSERT_EQ_UINT(st.tiers[1].usage.entries, 215);
    ASSERT_EQ_INT(count_all(s, "a"), 205);
    ASSERT_EQ_INT(count_all(s, "b"), 10);
    ASSERT_EQ_INT(push_n(s, "a", "x", day + NS_PER_DAY + 100, 3, "in the wal"), 0);
    store_close(s);
    /* Restart: the parts and the head flushed at exit, nothing twice. */
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    ASSERT_EQ_INT(count_all(s, "a"), 208);
    ASSERT_EQ_INT(count_all(s, "b"), 10);
    store_close(s);
    config_release(&cfg);
    st_rmtree(dir);
}

TEST(store_replays_the_wal_without_flush_on_exit)
{
    char dir[256];
    st_tmpdir_fast(dir);
    struct config cfg = test_config(dir);
    char err[512];
    config_set(&cfg, "flush-on-exit", "false", err, sizeof(err));
    struct store *s;
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    int64_t t0 = 1700000000 * NS_PER_SEC;
    ASSERT_EQ_INT(push_n(s, "a", "x", t0, 50, "one"), 0);
    ASSERT_EQ_INT(store_flush(s, false), 0);
    ASSERT_EQ_INT(push_n(s, "a", "x", t0 + 100, 50, "two"), 0);
    store_close(s);
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    struct store_status st;
    store_status(s, &st);
    ASSERT_EQ_UINT(st.head_entries, 50); /* replayed */
    ASSERT_EQ_INT(count_all(s, "a"), 100);
    store_close(s);
    config_release(&cfg);
    st_rmtree(dir);
}

/* A flush that fails (disk full while writing the part) keeps everything queryable and
 * succeeds once the fault is gone; a failed checkpoint likewise. */
TEST(store_flush_failures_lose_nothing)
{
    char dir[256];
    st_tmpdir_fast(dir);
    struct config cfg = test_config(dir);
    struct store *s;
    char err[512];
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    int64_t t0 = 1700000000 * NS_PER_SEC;
    ASSERT_EQ_INT(push_n(s, "a", "x", t0, 20, "p"), 0);
    struct fsio_fault f = {.ops = FSIO_WRITE, .err = ENOSPC};
    snprintf(f.path, sizeof(f.path), "/parts/");
    fsio_fault_add(&f);
    ASSERT_EQ_INT(store_flush(s, false), STRATA_ENOSPC);
    ASSERT_EQ_INT(count_all(s, "a"), 20);
    fsio_fault_clear();
    struct fsio_fault g = {.ops = FSIO_RENAME, .err = EIO};
    snprintf(g.path, sizeof(g.path), "checkpoint");
    fsio_fault_add(&g);
    ASSERT_EQ_INT(store_flush(s, false), STRATA_EIO);
    ASSERT_EQ_INT(count_all(s, "a"), 20);
    fsio_fault_clear();
    ASSERT_EQ_INT(push_n(s, "a", "x", t0 + 100, 5, "q"), 0);
    ASSERT_EQ_INT(store_flush(s, false), 0);
    ASSERT_EQ_INT(count_all(s, "a"), 25);
    struct store_status st;
    store_status(s, &st);
    ASSERT_EQ_UINT(st.head_entries + st.frozen_entries, 0);
    char parts[300];
    snprintf(parts, sizeof(parts), "%s/parts/a", dir);
    ASSERT_EQ_INT(st_count_files(parts, ".part"), 2);
    ASSERT_EQ_INT(st_count_files(parts, ".bloom"), 0);
    store_close(s);
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    ASSERT_EQ_INT(count_all(s, "a"), 25);
    store_close(s);
    config_release(&cfg);
    st_rmtree(dir);
}

/* Left-overs of crashes are cleaned at open: an uncommitted flush part and a part that a
 * committed compaction superseded. */
TEST(store_open_removes_uncommitted_and_superseded_parts)
{
    char dir[256];
    st_tmpdir_fast(dir);
    struct config cfg = test_config(dir);
    struct store *s;
    char err[512];
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    int64_t t0 = 1700000000 * NS_PER_SEC;
    ASSERT_EQ_INT(push_n(s, "a", "x", t0, 10, "one"), 0);
    ASSERT_EQ_INT(store_flush(s, false), 0);
    ASSERT_EQ_INT(push_n(s, "a", "x", t0 + 100, 10, "two"), 0);
    ASSERT_EQ_INT(store_flush(s, false), 0);
    char pdir[300], p1[400], keep[400];
    snprintf(pdir, sizeof(pdir), "%s/parts/a", dir);
    snprintf(p1, sizeof(p1), "%s/0000000000000001.part", pdir);
    snprintf(keep, sizeof(keep), "%s/saved", dir);
    ASSERT_EQ_INT(st_copy(p1, keep), 0);
    ASSERT_EQ_INT(store_flush(s, true), 0); /* compaction supersedes parts 1 and 2 */
    ASSERT_EQ_INT(st_count_files(pdir, ".part"), 1);
    store_close(s);
    /* A crash between the compaction's rename and the deletion of its inputs: */
    ASSERT_EQ_INT(st_copy(keep, p1), 0);
    /* A crash during a flush, after its part was written, before the checkpoint: */
    struct part_writer_options o = {
        .dir = pdir, .id = 0xff, .zstd_level = 1, .tenant = "a", .wal_seq = 1000};
    struct part_writer *w;
    ASSERT_EQ_INT(part_writer_open(&o, &w), 0);
    struct label l[1] = {{SLICE_LIT("app"), SLICE_LIT("x")}};
    ASSERT_EQ_INT(part_writer_begin_stream(w, labels_fingerprint(l, 1), l, 1), 0);
    ASSERT_EQ_INT(part_writer_add(w, t0, slice_from("uncommitted"), (struct slice){"", 0}), 0);
    ASSERT_EQ_INT(part_writer_end_stream(w), 0);
    ASSERT_EQ_INT(part_writer_finish(w, NULL, NULL, 0), 0);
    ASSERT_EQ_INT(st_count_files(pdir, ".part"), 3);
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    ASSERT_EQ_INT(count_all(s, "a"), 20);
    ASSERT_EQ_INT(st_count_files(pdir, ".part"), 1);
    store_close(s);
    config_release(&cfg);
    st_rmtree(dir);
}

/* The one part in dir, its info copied to out. */
static void only_part_info(const char *dir, struct part_info *out, char *path, size_t len)
{
    ASSERT_EQ_INT(st_only_file(dir, ".part", path, len), 0);
    struct part_source src;
    struct part *p;
    ASSERT_EQ_INT(open_verified(path, &src, &p), 0);
    *out = *part_get_info(p);
    out->supersedes = NULL;
    part_close(p);
    part_source_file_release(&src);
}

TEST(local_interim_merges_are_recompressed_when_the_day_is_compacted)
{
    char dir[256];
    st_tmpdir_fast(dir);
    struct config cfg = test_config(dir);
    struct store *s;
    char err[512];
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    int64_t t0 = 1700000000 * NS_PER_SEC;
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(push_n(s, "a", "x", t0 + i * 1000, 300, "flush"), 0);
        ASSERT_EQ_INT(store_flush(s, false), 0);
    }
    store_close(s);
    char pdir[300], path[600];
    snprintf(pdir, sizeof(pdir), "%s/parts", dir);
    struct local_options lo = {
        .dir = pdir,
        .checkpoint = UINT64_MAX,
        .flush_zstd_level = 1,
        .compact_zstd_level = 9,
        .interim_zstd_level = 2,
        .block_bytes = 1 << 20,
        .bloom = true,
        .compact_interval = 3600 * NS_PER_SEC, /* no full run before the forced one */
        .day_settle = 0,
        .compact_min_parts = 3,
    };
    struct tier *t;
    ASSERT_EQ_INT(local_open(&lo, &t, err, sizeof(err)), 0);
    snprintf(pdir, sizeof(pdir), "%s/parts/a", dir);
    ASSERT_EQ_INT(st_count_files(pdir, ".part"), 3);
    /* The upkeep between full runs: three flush parts become one interim part. */
    ASSERT_EQ_INT(t->ops->flush(t, false), 0);
    struct part_info in;
    only_part_info(pdir, &in, path, sizeof(path));
    ASSERT_TRUE(in.interim);
    ASSERT_EQ_UINT(in.level, 1);
    ASSERT_EQ_UINT(in.zstd_level, 2);
    ASSERT_EQ_UINT(in.entries, 900);
    /* Not merged again before the day is: it is the only part of its day. */
    ASSERT_EQ_INT(t->ops->flush(t, false), 0);
    struct part_info again;
    only_part_info(pdir, &again, path, sizeof(path));
    ASSERT_EQ_UINT(again.id, in.id);
    /* The day's compaction rewrites a lone interim part at the compaction level, once. */
    ASSERT_EQ_INT(t->ops->flush(t, true), 0);
    struct part_info fin;
    only_part_info(pdir, &fin, path, sizeof(path));
    ASSERT_TRUE(!fin.interim);
    ASSERT_TRUE(fin.id != in.id);
    ASSERT_EQ_UINT(fin.zstd_level, 9);
    ASSERT_EQ_UINT(fin.entries, 900);
    ASSERT_EQ_INT(t->ops->flush(t, true), 0);
    only_part_info(pdir, &again, path, sizeof(path));
    ASSERT_EQ_UINT(again.id, fin.id);
    t->ops->close(t);
    config_release(&cfg);
    st_rmtree(dir);
}

TEST(store_refuses_a_locked_data_dir_and_bad_options)
{
    char dir[256];
    st_tmpdir_fast(dir);
    struct config cfg = test_config(dir);
    struct store *s, *s2;
    char err[512];
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    ASSERT_EQ_INT(store_open(&cfg, &s2, err, sizeof(err)), STRATA_ELOCKED);
    ASSERT_TRUE(strstr(err, "locked by another Strata process") != NULL);
    ASSERT_TRUE(strstr(err, "--unlock-data-dir") != NULL);
    store_close(s);
    config_set(&cfg, "wal.sync", "sometimes", err, sizeof(err));
    ASSERT_EQ_INT(store_open(&cfg, &s2, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "--wal.sync") != NULL);
    config_release(&cfg);
    st_rmtree(dir);
}

TEST(store_memory_limit_answers_busy_while_a_flush_cannot_finish)
{
    char dir[256];
    st_tmpdir_fast(dir);
    struct config cfg = test_config(dir);
    char err[512];
    config_set(&cfg, "max-logs-in-mem", "100", err, sizeof(err));
    config_set(&cfg, "store.push-wait", "50ms", err, sizeof(err));
    struct store *s;
    ASSERT_EQ_INT(store_open(&cfg, &s, err, sizeof(err)), 0);
    struct fsio_fault f = {.ops = FSIO_RENAME, .err = EIO};
    snprintf(f.path, sizeof(f.path), "/parts/");
    fsio_fault_add(&f);
    int64_t t0 = 1700000000 * NS_PER_SEC;
    int busy = 0, ok = 0;
    for (int i = 0; i < 40 && !busy; i++) {
        int rc = push_n(s, "a", "x", t0 + i * 100, 20, "load");
        if (rc == STRATA_EBUSY)
            busy++;
        else if (rc == 0)
            ok++;
        (void)store_flush(s, false);
    }
    ASSERT_EQ_INT(busy, 1);
    fsio_fault_clear();
    ASSERT_EQ_INT(store_flush(s, false), 0);
    ASSERT_EQ_INT(count_all(s, "a"), ok * 20);
    ASSERT_EQ_INT(push_n(s, "a", "x", t0 + 99999, 20, "after"), 0);
    store_close(s);
    config_release(&cfg);
    st_rmtree(dir);
}

/* A block over 16 MiB decompresses in steps (the path a bogus length cannot abuse). */
TEST(part_large_block_streams_its_decompression)
{
    char dir[256];
    st_tmpdir_fast(dir);
    struct part_writer_options o = {
        .dir = dir, .id = 1, .zstd_level = 1, .block_bytes = 64u << 20, .tenant = "t"};
    struct part_writer *w;
    ASSERT_EQ_INT(part_writer_open(&o, &w), 0);
    struct label l[1] = {{SLICE_LIT("app"), SLICE_LIT("big")}};
    ASSERT_EQ_INT(part_writer_begin_stream(w, labels_fingerprint(l, 1), l, 1), 0);
    char line[128];
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(line, sizeof(line),
                         "%08d the quick brown fox jumps over the lazy dog %d "
                         "and then some more text to make it long",
                         i, i * 31);
        ASSERT_EQ_INT(part_writer_add(w, i, (struct slice){line, (size_t)n}, (struct slice){"", 0}),
                      0);
    }
    ASSERT_EQ_INT(part_writer_end_stream(w), 0);
    char path[512], err[256];
    struct part_info info;
    ASSERT_EQ_INT(part_writer_finish(w, &info, path, sizeof(path)), 0);
    ASSERT_EQ_UINT(info.blocks, 1);
    ASSERT_TRUE(info.bytes > (16u << 20));
    struct part_source src;
    struct part *p;
    ASSERT_EQ_INT(part_source_file(path, &src, err, sizeof(err)), 0);
    ASSERT_EQ_INT(part_open(&src, true, &p, err, sizeof(err)), 0);
    struct arena a;
    arena_init(&a, 0);
    struct tier_query q = {.start = INT64_MIN, .end = INT64_MAX, .want_lines = true};
    struct tier_cursor *c = part_cursor_new(p, 0, &q, NULL, &a, NULL, NULL);
    ASSERT_TRUE(c != NULL);
    struct entry_batch b;
    ASSERT_EQ_INT(c->ops->next(c, &b), 1);
    ASSERT_EQ_UINT(b.n, 200000);
    ASSERT_TRUE(b.lines[199999].len > 8 && !memcmp(b.lines[199999].ptr, "00199999", 8));
    c->ops->close(c);
    ASSERT_EQ_INT(part_verify(p, err, sizeof(err)), 0);
    arena_release(&a);
    part_close(p);
    part_source_file_release(&src);
    st_rmtree(dir);
}
