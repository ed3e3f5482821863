/* Unit tests of the WAL (src/store/wal.c), its record codec and the fault layer. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/fsio.h"
#include "store/record.h"
#include "store/wal.h"
#include "test.h"
#include "test_store_util.h"

struct seen {
    int n;
    char payload[64][400];
    size_t len[64];
};

static int remember(void *arg, uint64_t seg, int type, const void *p, size_t len)
{
    (void)seg;
    struct seen *s = arg;
    if (type != WAL_REC_PUSH || len > sizeof(s->payload[0]))
        return STRATA_EINTERNAL;
    if (s->n < 64) {
        memcpy(s->payload[s->n], p, len);
        s->len[s->n] = len;
    }
    s->n++;
    return 0;
}

static struct wal_options opts(const char *dir, uint64_t checkpoint)
{
    struct wal_options o = {
        .dir = dir, .sync = WAL_SYNC_ALWAYS, .segment_size = 1 << 20, .checkpoint = checkpoint};
    return o;
}

/* Record i's payload: "record i" then i*7 bytes of a pattern. */
static size_t make_payload(int i, char *out)
{
    size_t n = (size_t)snprintf(out, 400, "record %d:", i);
    for (int k = 0; k < i * 7 % 300; k++)
        out[n++] = (char)('a' + (i + k) % 26);
    return n;
}

/* Write `count` records into a fresh WAL in dir; record end offsets go to ends[]. */
static int write_records(const char *dir, int count, long *ends)
{
    struct wal *w;
    char err[256];
    struct wal_options o = opts(dir, 0);
    if (wal_open(&o, NULL, NULL, NULL, &w, NULL, err, sizeof(err)) < 0)
        return -1;
    long off = WAL_SEGMENT_HEADER;
    for (int i = 0; i < count; i++) {
        char p[400];
        size_t n = make_payload(i, p);
        if (wal_append(w, WAL_REC_PUSH, p, n) < 0)
            return -1;
        off += WAL_RECORD_HEADER + (long)n;
        ends[i] = off;
    }
    wal_close(w);
    return 0;
}

TEST(wal_append_replay_in_order_and_checkpoint)
{
    char dir[256];
    st_tmpdir_fast(dir);
    long ends[10];
    ASSERT_EQ_INT(write_records(dir, 10, ends), 0);
    struct seen s = {0};
    struct wal *w;
    char err[256];
    struct wal_options o = opts(dir, 0);
    struct wal_replay_stats st;
    ASSERT_EQ_INT(wal_open(&o, remember, NULL, &s, &w, &st, err, sizeof(err)), 0);
    ASSERT_EQ_INT(s.n, 10);
    ASSERT_EQ_UINT(st.records, 10);
    ASSERT_EQ_UINT(st.cut_bytes, 0);
    for (int i = 0; i < 10; i++) {
        char p[400];
        size_t n = make_payload(i, p);
        ASSERT_EQ_UINT(s.len[i], n);
        ASSERT_TRUE(!memcmp(s.payload[i], p, n));
    }
    /* The second open started segment 2; rotate to 3 and check the numbering. */
    uint64_t sealed;
    ASSERT_EQ_INT(wal_rotate(w, &sealed), 0);
    ASSERT_EQ_UINT(sealed, 2);
    ASSERT_EQ_INT(wal_append(w, WAL_REC_PUSH, "late", 4), 0);
    wal_close(w);
    /* With checkpoint 2, segments 1 and 2 are deleted unread; segment 3's record is replayed. */
    memset(&s, 0, sizeof(s));
    o = opts(dir, 2);
    ASSERT_EQ_INT(wal_open(&o, remember, NULL, &s, &w, &st, err, sizeof(err)), 0);
    ASSERT_EQ_INT(s.n, 1);
    ASSERT_EQ_UINT(st.deleted, 2);
    ASSERT_TRUE(s.len[0] == 4 && !memcmp(s.payload[0], "late", 4));
    struct wal_status ws;
    wal_status(w, &ws);
    ASSERT_EQ_UINT(ws.current, 4);
    ASSERT_EQ_INT(wal_remove_through(w, 3), 0);
    wal_status(w, &ws);
    ASSERT_EQ_UINT(ws.segments, 1);
    wal_close(w);
    st_rmtree(dir);
}

/*
 * The last segment cut at every byte offset inside its last three records:
 * recovery keeps exactly the complete records before the cut, cuts the rest,
 * starts, and a second start sees the same records and cuts nothing.
 */
TEST(wal_truncated_at_every_offset_of_the_last_records)
{
    /* Hundreds of recoveries: their warnings are expected. */
    enum log_level saved = log_min_level;
    log_set_level(LOG_ERROR);
    char src[256];
    st_tmpdir_fast(src);
    long ends[12];
    ASSERT_EQ_INT(write_records(src, 12, ends), 0);
    char seg[300];
    snprintf(seg, sizeof(seg), "%s/0000000000000001.wal", src);
    long size = st_size(seg);
    ASSERT_EQ_INT(size, ends[11]);
    for (long cut = ends[8]; cut < size; cut++) {
        char dir[256], copy[300];
        st_tmpdir_fast(dir);
        snprintf(copy, sizeof(copy), "%s/0000000000000001.wal", dir);
        ASSERT_EQ_INT(st_copy(seg, copy), 0);
        ASSERT_EQ_INT(st_truncate(copy, cut), 0);
        int complete = 0;
        while (complete < 12 && ends[complete] <= cut)
            complete++;
        struct seen s = {0};
        struct wal *w;
        char err[256];
        struct wal_options o = opts(dir, 0);
        struct wal_replay_stats st;
        ASSERT_EQ_INT(wal_open(&o, remember, NULL, &s, &w, &st, err, sizeof(err)), 0);
        ASSERT_EQ_INT(s.n, complete);
        ASSERT_EQ_UINT(st.cut_bytes, (uint64_t)(cut - ends[complete - 1]));
        ASSERT_EQ_INT(st_size(copy), ends[complete - 1]);
        wal_close(w);
        memset(&s, 0, sizeof(s));
        ASSERT_EQ_INT(wal_open(&o, remember, NULL, &s, &w, &st, err, sizeof(err)), 0);
        ASSERT_EQ_INT(s.n, complete);
        ASSERT_EQ_UINT(st.cut_bytes, 0);
        wal_close(w);
        st_rmtree(dir);
    }
    st_rmtree(src);
    log_set_level(saved);
}

/* Every bit of the last two records flipped, one at a time: the damaged record and the ones
 * after it are cut, every record before it is replayed. */
TEST(wal_bit_flips_in_the_last_records)
{
    /* Hundreds of recoveries: their warnings are expected. */
    enum log_level saved = log_min_level;
    log_set_level(LOG_ERROR);
    char src[256];
    st_tmpdir_fast(src);
    long ends[12];
    ASSERT_EQ_INT(write_records(src, 12, ends), 0);
    char seg[300];
    snprintf(seg, sizeof(seg), "%s/0000000000000001.wal", src);
    FILE *f = fopen(seg, "rb");
    ASSERT_TRUE(f != NULL);
    long size = st_size(seg);
    unsigned char *img = malloc((size_t)size);
    ASSERT_EQ_INT(fread(img, 1, (size_t)size, f), size);
    fclose(f);
    for (long off = ends[9]; off < size; off++)
        for (int bit = 0; bit < 8; bit++) {
            img[off] ^= (unsigned char)(1u << bit);
            int damaged = 0;
            while (ends[damaged] <= off)
                damaged++;
            struct seen s = {0};
            uint64_t seq;
            size_t valid;
            int rc = wal_scan(img, (size_t)size, remember, &s, &seq, &valid);
            img[off] ^= (unsigned char)(1u << bit);
            ASSERT_EQ_INT(rc, 1);
            ASSERT_EQ_INT(s.n, damaged);
            ASSERT_EQ_UINT(valid, (uint64_t)ends[damaged - 1]);
        }
    /* And through wal_open, once, with the damage in the middle of the last record. */
    long off = (ends[10] + ends[11]) / 2;
    ASSERT_EQ_INT(st_flip(seg, off, 0x10), 0);
    struct seen s = {0};
    struct wal *w;
    char err[256];
    struct wal_options o = opts(src, 0);
    ASSERT_EQ_INT(wal_open(&o, remember, NULL, &s, &w, NULL, err, sizeof(err)), 0);
    ASSERT_EQ_INT(s.n, 11);
    wal_close(w);
    /* A damaged segment header cuts the whole segment. */
    ASSERT_EQ_INT(st_flip(seg, 3, 0x01), 0);
    memset(&s, 0, sizeof(s));
    ASSERT_EQ_INT(wal_open(&o, remember, NULL, &s, &w, NULL, err, sizeof(err)), 0);
    ASSERT_EQ_INT(s.n, 0);
    ASSERT_EQ_INT(st_size(seg), 0);
    wal_close(w);
    free(img);
    st_rmtree(src);
    log_set_level(saved);
}

struct appender {
    struct wal *w;
    int id, count, failures;
};

static void *append_many(void *arg)
{
    struct appender *a = arg;
    for (int i = 0; i < a->count; i++) {
        char p[64];
        int n = snprintf(p, sizeof(p), "t%d-%d", a->id, i);
        if (wal_append(a->w, WAL_REC_PUSH, p, (size_t)n) < 0)
            a->failures++;
    }
    return NULL;
}

static int count_only(void *arg, uint64_t seg, int type, const void *p, size_t len)
{
    (void)seg;
    (void)type;
    (void)p;
    (void)len;
    (*(int *)arg)++;
    return 0;
}

/* Concurrent appends on a real disk share fdatasyncs (group commit), and all replay. */
TEST(wal_group_commit_shares_fsyncs)
{
    char dir[256];
    st_tmpdir(dir);
    struct wal *w;
    char err[256];
    struct wal_options o = opts(dir, 0);
    ASSERT_EQ_INT(wal_open(&o, NULL, NULL, NULL, &w, NULL, err, sizeof(err)), 0);
    enum { THREADS = 8, EACH = 40 };
    pthread_t th[THREADS];
    struct appender ap[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ap[i] = (struct appender){w, i, EACH, 0};
        pthread_create(&th[i], NULL, append_many, &ap[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ASSERT_EQ_INT(ap[i].failures, 0);
    }
    struct wal_status ws;
    wal_status(w, &ws);
    ASSERT_EQ_UINT(ws.appends, THREADS * EACH);
    ASSERT_TRUE(ws.rounds < ws.appends);
    ASSERT_TRUE(ws.fsyncs < ws.appends);
    wal_close(w);
    int n = 0;
    ASSERT_EQ_INT(wal_open(&o, count_only, NULL, &n, &w, NULL, err, sizeof(err)), 0);
    ASSERT_EQ_INT(n, THREADS * EACH);
    wal_close(w);
    st_rmtree(dir);
}

/* A failed fdatasync or write is reported and undone: the record never replays. */
TEST(wal_failed_sync_and_write_are_undone)
{
    char dir[256];
    st_tmpdir_fast(dir);
    struct wal *w;
    char err[256];
    struct wal_options o = opts(dir, 0);
    ASSERT_EQ_INT(wal_open(&o, NULL, NULL, NULL, &w, NULL, err, sizeof(err)), 0);
    ASSERT_EQ_INT(wal_append(w, WAL_REC_PUSH, "one", 3), 0);
    struct fsio_fault f = {.ops = FSIO_SYNC, .err = EIO, .count = 1};
    snprintf(f.path, sizeof(f.path), ".wal");
    fsio_fault_add(&f);
    ASSERT_EQ_INT(wal_append(w, WAL_REC_PUSH, "lost", 4), STRATA_EIO);
    fsio_fault_clear();
    ASSERT_EQ_INT(wal_append(w, WAL_REC_PUSH, "two", 3), 0);
    /* Full disk, and the repair failing too: appends are refused until the fault is gone. */
    struct fsio_fault g = {.ops = FSIO_WRITE | FSIO_TRUNCATE, .err = ENOSPC};
    snprintf(g.path, sizeof(g.path), ".wal");
    fsio_fault_add(&g);
    ASSERT_EQ_INT(wal_append(w, WAL_REC_PUSH, "full", 4), STRATA_ENOSPC);
    ASSERT_EQ_INT(wal_append(w, WAL_REC_PUSH, "full2", 5), STRATA_ENOSPC);
    struct wal_status ws;
    wal_status(w, &ws);
    ASSERT_TRUE(ws.broken);
    fsio_fault_clear();
    ASSERT_EQ_INT(wal_append(w, WAL_REC_PUSH, "three", 5), 0);
    wal_close(w);
    struct seen s = {0};
    ASSERT_EQ_INT(wal_open(&o, remember, NULL, &s, &w, NULL, err, sizeof(err)), 0);
    ASSERT_EQ_INT(s.n, 3);
    ASSERT_TRUE(s.len[0] == 3 && !memcmp(s.payload[0], "one", 3));
    ASSERT_TRUE(s.len[1] == 3 && !memcmp(s.payload[1], "two", 3));
    ASSERT_TRUE(s.len[2] == 5 && !memcmp(s.payload[2], "three", 5));
    wal_close(w);
    st_rmtree(dir);
}

TEST(wal_interval_mode_syncs_on_close)
{
    char dir[256];
    st_tmpdir_fast(dir);
    struct wal *w;
    char err[256];
    struct wal_options o = opts(dir, 0);
    o.sync = WAL_SYNC_INTERVAL;
    o.sync_interval = 1000000; /* 1 ms */
    ASSERT_EQ_INT(wal_open(&o, NULL, NULL, NULL, &w, NULL, err, sizeof(err)), 0);
    for (int i = 0; i < 50; i++)
        ASSERT_EQ_INT(wal_append(w, WAL_REC_PUSH, "x", 1), 0);
    wal_close(w);
    int n = 0;
    ASSERT_EQ_INT(wal_open(&o, count_only, NULL, &n, &w, NULL, err, sizeof(err)), 0);
    ASSERT_EQ_INT(n, 50);
    wal_close(w);
    st_rmtree(dir);
}

TEST(wal_record_codec_roundtrip_with_accept_filter)
{
    struct push_batch b;
    push_batch_init(&b, "tenant-1");
    uint32_t a = st_stream(&b, "a");
    uint32_t c = st_stream(&b, "c");
    struct label meta[1] = {{SLICE_LIT("trace_id"), SLICE_LIT("abc")}};
    push_batch_add(&b, a, 100, slice_from("first"), NULL, 0);
    push_batch_add(&b, a, 50, slice_from("older, with meta"), meta, 1);
    push_batch_add(&b, c, -7, slice_from(""), NULL, 0);
    push_batch_add(&b, c, 9, slice_from("dropped"), NULL, 0);
    uint8_t accept[4] = {1, 1, 1, 0};
    struct buf out;
    buf_init(&out, 1 << 20);
    ASSERT_EQ_INT(record_encode(&out, &b, accept), 0);
    struct push_batch d;
    push_batch_init(&d, "");
    ASSERT_EQ_INT(record_decode(out.ptr, out.len, &d), 0);
    ASSERT_EQ_STR(d.tenant, "tenant-1");
    ASSERT_EQ_INT(d.n_streams, 2);
    ASSERT_EQ_INT(d.n_entries, 3);
    ASSERT_EQ_SLICE(d.streams[0].labels[0].value, "a");
    ASSERT_EQ_INT(d.streams[0].entries[1].ts, 50);
    ASSERT_EQ_SLICE(d.streams[0].entries[1].line, "older, with meta");
    ASSERT_EQ_INT(d.streams[0].entries[1].n_meta, 1);
    ASSERT_EQ_SLICE(d.streams[0].entries[1].meta[0].value, "abc");
    ASSERT_EQ_INT(d.streams[1].n_entries, 1);
    ASSERT_EQ_INT(d.streams[1].entries[0].ts, -7);
    ASSERT_EQ_INT(d.streams[0].fp, b.streams[0].fp);
    /* Every truncation of the record is refused, never read past. */
    for (size_t n = 0; n < out.len; n++) {
        struct push_batch t;
        push_batch_init(&t, "");
        ASSERT_EQ_INT(record_decode(out.ptr, n, &t), STRATA_ECORRUPT);
        push_batch_release(&t);
    }
    push_batch_release(&d);
    buf_release(&out);
    push_batch_release(&b);
}

TEST(fsio_fault_rules_parse_and_fire)
{
    struct fsio_fault f[4];
    ASSERT_EQ_INT(
        fsio_fault_parse("# comment\nsync .wal EIO count=2\n\nrename * ENOSPC skip=1\n", f, 4), 2);
    ASSERT_EQ_UINT(f[0].ops, FSIO_SYNC);
    ASSERT_EQ_STR(f[0].path, ".wal");
    ASSERT_EQ_UINT(f[0].count, 2);
    ASSERT_EQ_UINT(f[1].ops, FSIO_RENAME);
    ASSERT_EQ_STR(f[1].path, "");
    ASSERT_EQ_UINT(f[1].skip, 1);
    ASSERT_EQ_INT(fsio_fault_parse("sync x EWHAT\n", f, 4), STRATA_EPARSE);
    ASSERT_EQ_INT(fsio_fault_parse("jump x EIO\n", f, 4), STRATA_EPARSE);
    ASSERT_EQ_INT(fsio_fault_parse("sync x EIO skip=x\n", f, 4), STRATA_EPARSE);
    char dir[256], a[300], b[300];
    st_tmpdir_fast(dir);
    snprintf(a, sizeof(a), "%s/a", dir);
    snprintf(b, sizeof(b), "%s/b", dir);
    ASSERT_EQ_INT(fsio_write_atomic(dir, "a", "x", 1), 0);
    struct fsio_fault r = {.ops = FSIO_RENAME, .err = ENOSPC, .skip = 1, .count = 1};
    fsio_fault_add(&r);
    uint64_t hits = fsio_fault_hits();
    ASSERT_EQ_INT(fsio_rename(a, b), 0);
    ASSERT_EQ_INT(fsio_rename(b, a), STRATA_ENOSPC);
    ASSERT_EQ_INT(fsio_last_errno(), ENOSPC);
    ASSERT_EQ_INT(fsio_rename(b, a), 0);
    ASSERT_EQ_UINT(fsio_fault_hits(), hits + 1);
    fsio_fault_clear();
    st_rmtree(dir);
}
