/*
 * part_read.c - reading parts (format: part.c): open, label postings, cursors,
 * verification.
 *
 * Everything read from a part is validated before use (offsets inside the
 * file, counts consistent with lengths, checksums): a damaged or hostile file
 * gives STRATA_ECORRUPT, never a crash.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "query/find.h"
#include "store/part.h"
#include "store/fsio.h"
#include "store/part_format.h"

struct rblock {
    int64_t min_ts, max_ts;
    uint32_t count, flags;
    uint64_t raw;
    uint64_t ts_off, data_off, bloom_off;
    uint32_t ts_len, ts_crc, data_len, data_crc, data_raw_len, bloom_len, bloom_crc, stream;
    uint32_t meta_len, meta_crc; /* the metadata frame (META_FRAME), after the data frame */
};

/*
 * Frames of a mapped part whose checksum has been verified once (bits per
 * block): the mapping is of an immutable file, so a second check would find
 * the same bytes. Parts read through read_at are checked on every read.
 */
enum { CHECKED_TS = 1, CHECKED_DATA = 2, CHECKED_META = 4, CHECKED_BLOOM = 8 };

struct pvalue {
    struct slice value;
    uint32_t *ids;
    uint32_t n;
};

struct pname {
    struct slice name;
    struct pvalue *values;
    uint32_t n;
};

struct part {
    struct part_source src;
    struct part_info info;
    struct arena arena;
    unsigned char *owned_index; /* the index range when not mapped */
    const unsigned char *index;
    uint64_t index_off;
    struct part_stream *streams;
    uint32_t n_streams;
    struct rblock *blocks;
    uint32_t n_blocks;
    struct pname *names;
    uint32_t n_names;
    uint64_t bloom_off, bloom_len;
    uint32_t version;
    bool verify;
    unsigned char *checked; /* per block, CHECKED_* bits (atomic); NULL unless mapped */
};

/* Whether frame bit `what` of block i needs its checksum verified (and may skip it after). */
static bool must_check(const struct part *p, uint32_t i, unsigned what)
{
    if (!p->verify)
        return false;
    return !p->checked || !(__atomic_load_n(&p->checked[i], __ATOMIC_RELAXED) & what);
}

static void mark_checked(const struct part *p, uint32_t i, unsigned what)
{
    if (p->checked)
        __atomic_fetch_or(&p->checked[i], (unsigned char)what, __ATOMIC_RELAXED);
}

/* ---- zstd decompression contexts, shared by every cursor ---- */

static pthread_mutex_t dctx_mu = PTHREAD_MUTEX_INITIALIZER;
static ZSTD_DCtx *dctx_pool[32];
static int dctx_n;

static ZSTD_DCtx *dctx_get(void)
{
    ZSTD_DCtx *d = NULL;
    pthread_mutex_lock(&dctx_mu);
    if (dctx_n)
        d = dctx_pool[--dctx_n];
    pthread_mutex_unlock(&dctx_mu);
    return d ? d : ZSTD_createDCtx();
}

static void dctx_put(ZSTD_DCtx *d)
{
    pthread_mutex_lock(&dctx_mu);
    if (dctx_n < 32) {
        dctx_pool[dctx_n++] = d;
        d = NULL;
    }
    pthread_mutex_unlock(&dctx_mu);
    ZSTD_freeDCtx(d);
}

__attribute__((destructor)) static void dctx_pool_free(void)
{
    pthread_mutex_lock(&dctx_mu);
    while (dctx_n)
        ZSTD_freeDCtx(dctx_pool[--dctx_n]);
    pthread_mutex_unlock(&dctx_mu);
}

/*
 * Decompressed-block buffers kept between cursors: a query's cursors each
 * need a buffer of a block's size (1 MiB by default), which malloc serves
 * with a fresh mapping that the kernel zero-fills page by page; a warm query
 * that reads a few blocks spent a quarter of its time in those page faults.
 * At most BUFPOOL_BYTES are kept.
 */
#define BUFPOOL_N     32
#define BUFPOOL_BYTES (32u << 20)
static pthread_mutex_t bufpool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned char *p;
    size_t cap;
} bufpool[BUFPOOL_N];
static int bufpool_n;
static size_t bufpool_bytes;

/* A kept buffer (its capacity in *cap), or NULL and 0. */
static unsigned char *bufpool_get(size_t *cap)
{
    unsigned char *p = NULL;
    *cap = 0;
    pthread_mutex_lock(&bufpool_mu);
    if (bufpool_n) {
        bufpool_n--;
        p = bufpool[bufpool_n].p;
        *cap = bufpool[bufpool_n].cap;
        bufpool_bytes -= *cap;
    }
    pthread_mutex_unlock(&bufpool_mu);
    return p;
}

/* Keep p (cap bytes) for another cursor, or free it. NULL is a no-op. */
static void bufpool_put(unsigned char *p, size_t cap)
{
    if (!p)
        return;
    pthread_mutex_lock(&bufpool_mu);
    if (bufpool_n < BUFPOOL_N && bufpool_bytes + cap <= BUFPOOL_BYTES) {
        bufpool[bufpool_n].p = p;
        bufpool[bufpool_n].cap = cap;
        bufpool_n++;
        bufpool_bytes += cap;
        p = NULL;
    }
    pthread_mutex_unlock(&bufpool_mu);
    free(p);
}

__attribute__((destructor)) static void bufpool_free(void)
{
    pthread_mutex_lock(&bufpool_mu);
    while (bufpool_n)
        free(bufpool[--bufpool_n].p);
    bufpool_bytes = 0;
    pthread_mutex_unlock(&bufpool_mu);
}

/* ---- reading bytes ---- */

/*
 * Bytes [off, off+len) of the part: a pointer into the mapping, or read into
 * *scratch (grown as needed, caller frees).
 */
static int src_get(const struct part_source *s, uint64_t off, size_t len, unsigned char **scratch,
                   size_t *scratch_cap, const unsigned char **out)
{
    if (off > s->size || len > s->size - off)
        return STRATA_ECORRUPT;
    if (s->map) {
        *out = s->map + off;
        return 0;
    }
    if (*scratch_cap < len) {
        free(*scratch);
        *scratch = xmalloc(len ? len : 1);
        *scratch_cap = len;
    }
    int rc = s->read_at(s->ctx, off, len, *scratch);
    if (rc < 0)
        return rc;
    *out = *scratch;
    return 0;
}

static int corrupt(char *err, size_t errlen, const char *what)
{
    if (err)
        snprintf(err, errlen, "corrupt part: %s", what);
    return STRATA_ECORRUPT;
}

static int read_uv(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    return uvarint_read(p, end, v) < 0 ? STRATA_ECORRUPT : 0;
}

static int read_str(const unsigned char **p, const unsigned char *end, struct slice *out)
{
    uint64_t n;
    if (read_uv(p, end, &n) < 0 || n > (uint64_t)(end - *p))
        return STRATA_ECORRUPT;
    *out = (struct slice){(const char *)*p, (size_t)n};
    *p += n;
    return 0;
}

int part_index_range(const unsigned char ft[PART_FOOTER_SIZE], uint64_t file_size, uint64_t *off,
                     uint64_t *len)
{
    if (memcmp(ft + PF_MAGIC, PART_MAGIC, 8) || le_get32(ft + PF_CRC) != crc32c(0, ft, PF_CRC))
        return STRATA_ECORRUPT;
    uint64_t start = le_get64(ft + PF_SECTIONS + 24 * SEC_META);
    const unsigned char *last = ft + PF_SECTIONS + 24 * SEC_POSTINGS;
    uint64_t end = le_get64(last) + le_get64(last + 8);
    if (start < PART_HEADER_SIZE || end < start || end > file_size - PART_FOOTER_SIZE)
        return STRATA_ECORRUPT;
    *off = start;
    *len = end - start;
    return 0;
}

/* ---- open ---- */

static int parse_meta(struct part *p, const unsigned char *q, const unsigned char *end)
{
    while (q < end) {
        uint64_t tag;
        struct slice v;
        if (read_uv(&q, end, &tag) < 0 || read_str(&q, end, &v) < 0)
            return STRATA_ECORRUPT;
        if (tag == META_TENANT) {
            if (v.len >= sizeof(p->info.tenant))
                return STRATA_ECORRUPT;
            memcpy(p->info.tenant, v.ptr, v.len);
            p->info.tenant[v.len] = '\0';
        } else if (tag == META_SUPERSEDES) {
            const unsigned char *s = (const unsigned char *)v.ptr, *se = s + v.len;
            uint64_t n;
            if (read_uv(&s, se, &n) < 0 || n > PART_MAX_SUPERSEDES || n > (uint64_t)(se - s))
                return STRATA_ECORRUPT;
            p->info.supersedes = arena_alloc(&p->arena, (n ? n : 1) * sizeof(uint64_t));
            for (uint64_t i = 0; i < n; i++)
                if (read_uv(&s, se, &p->info.supersedes[i]) < 0)
                    return STRATA_ECORRUPT;
            p->info.n_supersedes = (uint32_t)n;
        }
    }
    return 0;
}

static int parse_postings(struct part *p, const unsigned char *q, const unsigned char *end)
{
    uint64_t nn;
    if (read_uv(&q, end, &nn) < 0 || nn > (uint64_t)(end - q))
        return STRATA_ECORRUPT;
    p->n_names = (uint32_t)nn;
    p->names = arena_calloc(&p->arena, nn ? nn : 1, sizeof(*p->names));
    for (uint64_t i = 0; i < nn; i++) {
        struct pname *pn = &p->names[i];
        uint64_t nv;
        if (read_str(&q, end, &pn->name) < 0 || read_uv(&q, end, &nv) < 0 ||
            nv > (uint64_t)(end - q))
            return STRATA_ECORRUPT;
        if (i && slice_cmp(p->names[i - 1].name, pn->name) >= 0)
            return STRATA_ECORRUPT;
        pn->n = (uint32_t)nv;
        pn->values = arena_calloc(&p->arena, nv ? nv : 1, sizeof(*pn->values));
        for (uint64_t j = 0; j < nv; j++) {
            struct pvalue *pv = &pn->values[j];
            uint64_t ni;
            if (read_str(&q, end, &pv->value) < 0 || read_uv(&q, end, &ni) < 0 ||
                ni > (uint64_t)(end - q) || ni > p->n_streams)
                return STRATA_ECORRUPT;
            if (j && slice_cmp(pn->values[j - 1].value, pv->value) >= 0)
                return STRATA_ECORRUPT;
            pv->n = (uint32_t)ni;
            pv->ids = arena_alloc(&p->arena, (ni ? ni : 1) * sizeof(uint32_t));
            uint64_t prev = 0;
            for (uint64_t k = 0; k < ni; k++) {
                uint64_t d;
                if (read_uv(&q, end, &d) < 0 || (k && d == 0) || prev + d >= p->n_streams)
                    return STRATA_ECORRUPT;
                prev += d;
                pv->ids[k] = (uint32_t)prev;
            }
        }
    }
    return q == end ? 0 : STRATA_ECORRUPT;
}

int part_open(const struct part_source *src, bool verify, struct part **out, char *err,
              size_t errlen)
{
    *out = NULL;
    if (src->size < PART_HEADER_SIZE + PART_FOOTER_SIZE)
        return corrupt(err, errlen, "file too short");
    struct part *p = xcalloc(1, sizeof(*p));
    p->src = *src;
    p->verify = verify;
    arena_init(&p->arena, 0);
    unsigned char *scratch = NULL;
    size_t scap = 0;
    const unsigned char *ft, *hdr;
    unsigned char ftc[PART_FOOTER_SIZE], hdrc[PART_HEADER_SIZE];
    int rc = src_get(src, src->size - PART_FOOTER_SIZE, PART_FOOTER_SIZE, &scratch, &scap, &ft);
    if (rc < 0)
        goto fail;
    memcpy(ftc, ft, sizeof(ftc));
    ft = ftc;
    rc = src_get(src, 0, PART_HEADER_SIZE, &scratch, &scap, &hdr);
    if (rc < 0)
        goto fail;
    memcpy(hdrc, hdr, sizeof(hdrc));
    p->version = le_get32(hdrc + 8);
    if (memcmp(hdrc, PART_MAGIC, 8) || p->version < PART_VERSION_1 || p->version > PART_VERSION ||
        (verify && le_get32(hdrc + 12) != crc32c(0, hdrc, 12))) {
        rc = corrupt(err, errlen, "bad header");
        goto fail;
    }
    if (memcmp(ft + PF_MAGIC, PART_MAGIC, 8) || le_get32(ft + PF_VERSION) != p->version ||
        (verify && le_get32(ft + PF_CRC) != crc32c(0, ft, PF_CRC))) {
        rc = corrupt(err, errlen, "bad footer");
        goto fail;
    }
    uint64_t sec[SEC_COUNT][2];
    uint32_t crc[SEC_COUNT];
    uint64_t data_end = src->size - PART_FOOTER_SIZE;
    for (int s = 0; s < SEC_COUNT; s++) {
        const unsigned char *e = ft + PF_SECTIONS + 24 * s;
        sec[s][0] = le_get64(e);
        sec[s][1] = le_get64(e + 8);
        crc[s] = le_get32(e + 16);
        if (sec[s][0] < PART_HEADER_SIZE || sec[s][0] > data_end ||
            sec[s][1] > data_end - sec[s][0] || (s && sec[s][0] != sec[s - 1][0] + sec[s - 1][1])) {
            rc = corrupt(err, errlen, "bad section table");
            goto fail;
        }
    }
    struct part_info *in = &p->info;
    in->id = le_get64(ft + PF_ID);
    in->level = le_get32(ft + PF_LEVEL);
    in->interim = (le_get32(ft + PF_FLAGS) & PART_FLAG_INTERIM) != 0;
    in->zstd_level = le_get32(ft + PF_ZLEVEL);
    in->streams = le_get64(ft + PF_NSTREAMS);
    in->blocks = le_get64(ft + PF_NBLOCKS);
    in->min_ts = (int64_t)le_get64(ft + PF_MIN_TS);
    in->max_ts = (int64_t)le_get64(ft + PF_MAX_TS);
    in->entries = le_get64(ft + PF_ENTRIES);
    in->bytes = le_get64(ft + PF_BYTES);
    in->wal_seq = le_get64(ft + PF_WAL_SEQ);
    in->created_ns = (int64_t)le_get64(ft + PF_CREATED);
    in->file_size = src->size;
    p->bloom_off = sec[SEC_BLOOM][0];
    p->bloom_len = sec[SEC_BLOOM][1];
    if (in->streams != sec[SEC_STREAMS][1] / PART_STREAM_REC ||
        sec[SEC_STREAMS][1] % PART_STREAM_REC ||
        in->blocks != sec[SEC_BLOCKS][1] / PART_BLOCK_REC || sec[SEC_BLOCKS][1] % PART_BLOCK_REC ||
        in->streams > UINT32_MAX || in->blocks > UINT32_MAX) {
        rc = corrupt(err, errlen, "bad stream or block count");
        goto fail;
    }
    p->n_streams = (uint32_t)in->streams;
    p->n_blocks = (uint32_t)in->blocks;

    /* The index range: meta .. postings. */
    uint64_t ioff = sec[SEC_META][0];
    uint64_t ilen = sec[SEC_POSTINGS][0] + sec[SEC_POSTINGS][1] - ioff;
    const unsigned char *ix;
    if (src->map) {
        ix = src->map + ioff;
    } else {
        p->owned_index = xmalloc(ilen ? ilen : 1);
        rc = src->read_at(src->ctx, ioff, ilen, p->owned_index);
        if (rc < 0)
            goto fail;
        ix = p->owned_index;
    }
    p->index = ix;
    p->index_off = ioff;
    if (verify)
        for (int s = SEC_META; s < SEC_COUNT; s++)
            if (crc32c(0, ix + (sec[s][0] - ioff), sec[s][1]) != crc[s]) {
                rc = corrupt(err, errlen, "index checksum mismatch");
                goto fail;
            }
#define SEC_PTR(s) (ix + (sec[s][0] - ioff))
    rc = parse_meta(p, SEC_PTR(SEC_META), SEC_PTR(SEC_META) + sec[SEC_META][1]);
    if (rc < 0) {
        corrupt(err, errlen, "bad meta section");
        goto fail;
    }
    const unsigned char *labels = SEC_PTR(SEC_LABELS);
    uint64_t labels_len = sec[SEC_LABELS][1];
    p->streams = arena_calloc(&p->arena, p->n_streams ? p->n_streams : 1, sizeof(*p->streams));
    p->blocks = xcalloc(p->n_blocks ? p->n_blocks : 1, sizeof(*p->blocks));
    const unsigned char *br = SEC_PTR(SEC_BLOCKS);
    uint64_t frames_end = p->bloom_off;
    for (uint32_t i = 0; i < p->n_blocks; i++) {
        const unsigned char *r = br + (size_t)i * PART_BLOCK_REC;
        struct rblock *b = &p->blocks[i];
        b->min_ts = (int64_t)le_get64(r);
        b->max_ts = (int64_t)le_get64(r + 8);
        b->count = le_get32(r + 16);
        b->flags = le_get32(r + 20);
        b->raw = le_get64(r + 24);
        b->ts_off = le_get64(r + 32);
        b->ts_len = le_get32(r + 40);
        b->ts_crc = le_get32(r + 44);
        b->data_off = le_get64(r + 48);
        b->data_len = le_get32(r + 56);
        b->data_crc = le_get32(r + 60);
        b->data_raw_len = le_get32(r + 64);
        b->bloom_len = le_get32(r + 68);
        b->bloom_off = le_get64(r + 72);
        b->bloom_crc = le_get32(r + 80);
        b->stream = le_get32(r + 84);
        uint32_t known = PART_BLOCK_HAS_META;
        if (p->version != PART_VERSION_1) {
            b->meta_len = le_get32(r + 88);
            b->meta_crc = le_get32(r + 92);
            known = PART_BLOCK_META_FRAME;
        }
        if ((b->flags & ~known) || !(b->flags & PART_BLOCK_META_FRAME) != !b->meta_len ||
            (b->meta_len && (b->data_off > frames_end || b->data_len > frames_end - b->data_off ||
                             b->meta_len > frames_end - b->data_off - b->data_len))) {
            rc = corrupt(err, errlen, "bad block record");
            goto fail;
        }
        if (!b->count || b->count > PART_MAX_BLOCK_ENTRIES ||
            b->data_raw_len > PART_MAX_BLOCK_BYTES || b->max_ts < b->min_ts ||
            b->stream >= p->n_streams || b->ts_off < PART_HEADER_SIZE || b->ts_off > frames_end ||
            b->ts_len > frames_end - b->ts_off ||
            b->ts_len < PART_TS_FRAME_HDR + PART_TS_FRAME_PAD || b->data_off < PART_HEADER_SIZE ||
            b->data_off > frames_end || b->data_len > frames_end - b->data_off ||
            b->bloom_off > p->bloom_len || b->bloom_len > p->bloom_len - b->bloom_off ||
            b->raw > b->data_raw_len) {
            rc = corrupt(err, errlen, "bad block record");
            goto fail;
        }
    }
    if (src->map && verify)
        p->checked = xcalloc(p->n_blocks ? p->n_blocks : 1, 1);
    const unsigned char *sr = SEC_PTR(SEC_STREAMS);
    struct buf kb;
    buf_init(&kb, 1u << 20);
    for (uint32_t i = 0; i < p->n_streams && !rc; i++) {
        const unsigned char *r = sr + (size_t)i * PART_STREAM_REC;
        struct part_stream *s = &p->streams[i];
        s->fp = le_get64(r);
        s->min_ts = (int64_t)le_get64(r + 8);
        s->max_ts = (int64_t)le_get64(r + 16);
        s->entries = le_get64(r + 24);
        s->bytes = le_get64(r + 32);
        s->first_block = le_get32(r + 40);
        s->n_blocks = le_get32(r + 44);
        uint32_t loff = le_get32(r + 48), llen = le_get32(r + 52);
        if (s->first_block > p->n_blocks || s->n_blocks > p->n_blocks - s->first_block ||
            !s->n_blocks || loff > labels_len || llen > labels_len - loff) {
            rc = corrupt(err, errlen, "bad stream record");
            break;
        }
        for (uint32_t b = s->first_block; b < s->first_block + s->n_blocks; b++)
            if (p->blocks[b].stream != i ||
                (b > s->first_block && p->blocks[b].min_ts < p->blocks[b - 1].max_ts)) {
                rc = corrupt(err, errlen, "blocks out of order");
                break;
            }
        if (rc)
            break;
        struct slice enc = {(const char *)labels + loff, llen};
        if (labels_decode(enc, &p->arena, &s->labels, &s->n_labels) < 0) {
            rc = corrupt(err, errlen, "bad labels");
            break;
        }
        buf_reset(&kb);
        if (labels_format(&kb, s->labels, s->n_labels) < 0) {
            rc = corrupt(err, errlen, "labels too long");
            break;
        }
        s->key = arena_slice_dup(&p->arena, buf_slice(&kb));
    }
    buf_release(&kb);
    if (rc)
        goto fail;
    rc = parse_postings(p, SEC_PTR(SEC_POSTINGS), SEC_PTR(SEC_POSTINGS) + sec[SEC_POSTINGS][1]);
    if (rc < 0) {
        corrupt(err, errlen, "bad postings");
        goto fail;
    }
#undef SEC_PTR
    free(scratch);
    *out = p;
    return 0;
fail:
    free(scratch);
    part_close(p);
    return rc < 0 ? rc : STRATA_ECORRUPT;
}

void part_close(struct part *p)
{
    if (!p)
        return;
    arena_release(&p->arena);
    free(p->owned_index);
    free(p->blocks);
    free(p->checked);
    free(p);
}

const struct part_info *part_get_info(const struct part *p)
{
    return &p->info;
}

uint32_t part_stream_count(const struct part *p)
{
    return p->n_streams;
}

const struct part_stream *part_get_stream(const struct part *p, uint32_t i)
{
    return &p->streams[i];
}

/* ---- postings ---- */

/*
 * Binary search in an array of n records of size bytes, sorted by the slice
 * at offset off in each record; the record whose slice equals key, or NULL.
 */
static const void *find_sorted(const void *base, uint32_t n, size_t size, size_t off,
                               struct slice key)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const char *rec = (const char *)base + (size_t)mid * size;
        struct slice s;
        memcpy(&s, rec + off, sizeof(s));
        int c = slice_cmp(s, key);
        if (!c)
            return rec;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const struct pname *find_name(const struct part *p, struct slice name)
{
    return find_sorted(p->names, p->n_names, sizeof(*p->names), offsetof(struct pname, name), name);
}

static const struct pvalue *find_value(const struct pname *pn, struct slice v)
{
    return find_sorted(pn->values, pn->n, sizeof(*pn->values), offsetof(struct pvalue, value), v);
}

/* In place: keep the ids of cand[0..*n) that are in mark. */
static void keep_marked(uint32_t *cand, uint32_t *n, const unsigned char *mark)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < *n; i++)
        if (mark[cand[i]])
            cand[w++] = cand[i];
    *n = w;
}

uint32_t part_match_streams(const struct part *p, const struct selector *sel, struct arena *a,
                            uint32_t **out)
{
    uint32_t n = p->n_streams;
    uint32_t *cand = arena_alloc(a, (n ? n : 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++)
        cand[i] = i;
    *out = cand;
    if (!sel || !sel->n || !n)
        return n;
    unsigned char *mark = NULL;
    for (uint32_t m = 0; m < sel->n && n; m++) {
        const struct matcher *mt = &sel->m[m];
        /* Postings answer matchers that cannot match a missing label. */
        if (matcher_matches_empty(mt))
            continue;
        if (!mark)
            mark = xmalloc(p->n_streams);
        memset(mark, 0, p->n_streams);
        const struct pname *pn = find_name(p, mt->name);
        if (pn && mt->op == MATCH_EQ) {
            const struct pvalue *pv = find_value(pn, mt->value);
            for (uint32_t k = 0; pv && k < pv->n; k++)
                mark[pv->ids[k]] = 1;
        } else if (pn) {
            for (uint32_t j = 0; j < pn->n; j++)
                if (matcher_matches(mt, pn->values[j].value))
                    for (uint32_t k = 0; k < pn->values[j].n; k++)
                        mark[pn->values[j].ids[k]] = 1;
        }
        keep_marked(cand, &n, mark);
    }
    free(mark);
    /* The rest (!=, !~, matchers accepting ""), checked on each candidate's labels. */
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct part_stream *s = &p->streams[cand[i]];
        if (selector_matches(sel, s->labels, s->n_labels))
            cand[w++] = cand[i];
    }
    return w;
}

void part_stream_stats(const struct part *p, uint32_t stream, int64_t start, int64_t end,
                       uint64_t *blocks, uint64_t *entries, uint64_t *bytes)
{
    const struct part_stream *s = &p->streams[stream];
    for (uint32_t b = s->first_block; b < s->first_block + s->n_blocks; b++) {
        const struct rblock *r = &p->blocks[b];
        if (r->max_ts < start || r->min_ts >= end)
            continue;
        (*blocks)++;
        *entries += r->count;
        *bytes += r->raw;
    }
}

/* ---- block decoding ---- */

/* Versions 1 and 2: bit-packed deltas and sizes. */
static int decode_ts_v2(const struct rblock *b, const unsigned char *fr, size_t len, int64_t *ts,
                        uint32_t *sizes)
{
    if (len < PART_TS_FRAME_HDR + PART_TS_FRAME_PAD)
        return STRATA_ECORRUPT;
    unsigned tsw = fr[0], szw = fr[1];
    uint32_t n = b->count;
    if (tsw > 64 || szw > 32)
        return STRATA_ECORRUPT;
    size_t db = bits_bytes(n, tsw), sb = bits_bytes(n, szw);
    if (PART_TS_FRAME_HDR + db + sb + PART_TS_FRAME_PAD != len)
        return STRATA_ECORRUPT;
    const unsigned char *d = fr + PART_TS_FRAME_HDR, *s = d + db;
    uint64_t t = (uint64_t)b->min_ts;
    uint64_t total = 0;
    if (tsw <= 56) {
        for (uint32_t i = 0; i < n; i++) {
            t += bits_get(d, i, tsw);
            ts[i] = (int64_t)t;
        }
    } else {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t dv = bits_get(d, i, tsw);
            if (dv > (uint64_t)INT64_MAX)
                return STRATA_ECORRUPT;
            t += dv;
            ts[i] = (int64_t)t;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        sizes[i] = (uint32_t)bits_get(s, i, szw);
        total += sizes[i];
    }
    if (ts[n - 1] != b->max_ts || ts[n - 1] < ts[0] || total != b->raw)
        return STRATA_ECORRUPT;
    return 0;
}

/* Version 3: Rice-coded deltas, line sizes as byte planes in a zstd frame (part.c). */
static int decode_ts_v3(const struct rblock *b, const unsigned char *fr, size_t len, int64_t *ts,
                        uint32_t *sizes, unsigned char **pl, size_t *plcap)
{
    uint32_t n = b->count, nd = n - 1;
    if (len < PART_TS3_HDR + PART_TS3_PAD)
        return STRATA_ECORRUPT;
    unsigned k = fr[0], planes = fr[1];
    uint64_t qbytes = le_get32(fr + 4), dmin = le_get64(fr + 8), nexc = le_get32(fr + 16);
    uint64_t lbytes = bits_bytes(nd, k);
    if (k > 63 || planes > 4 || nexc > nd ||
        lbytes + qbytes + 8 * nexc > len - PART_TS3_HDR - PART_TS3_PAD)
        return STRATA_ECORRUPT;
    const unsigned char *lo = fr + PART_TS3_HDR, *qs = lo + lbytes, *ex = qs + qbytes;
    /*
     * Each delta: its quotient is the gap to the next one bit of the
     * quotients (walked a word at a time), its low bits are bit-packed. u,
     * the sum of the deltas so far, must never wrap and must end at max_ts -
     * min_ts, so every timestamp is inside the block's range, in order.
     */
    uint64_t qend = qbytes * 8, base = 0, prev = UINT64_MAX, e = 0, u = 0;
    uint64_t x = qbytes ? le_get64(qs) : 0; /* the padding makes 8 bytes readable */
    uint64_t mask = k ? UINT64_MAX >> (64 - k) : 0, t0 = (uint64_t)b->min_ts;
    bool wrap = false;
    ts[0] = b->min_ts;
    for (uint32_t i = 0; i < nd; i++) {
        while (!x) {
            base += 64;
            if (base >= qend)
                return STRATA_ECORRUPT;
            x = le_get64(qs + base / 8);
        }
        uint64_t pos = base + (unsigned)__builtin_ctzll(x);
        x &= x - 1;
        if (pos >= qend)
            return STRATA_ECORRUPT; /* a bit of what follows the quotients */
        uint64_t q = pos - prev - 1;
        prev = pos;
        if (q >= PART_RICE_ESCAPE) {
            if (q != PART_RICE_ESCAPE || e == nexc)
                return STRATA_ECORRUPT;
            q = le_get64(ex + 8 * e++);
        }
        uint64_t bit = (uint64_t)i * k, low;
        if (k <= 56) /* one load (lines are padded) */
            low = (le_get64(lo + (bit >> 3)) >> (bit & 7)) & mask;
        else
            low = bits_get(lo, i, k);
        wrap |= __builtin_add_overflow(u, (q << k) | low, &u);
        wrap |= __builtin_add_overflow(u, dmin, &u);
        ts[i + 1] = (int64_t)(t0 + u);
    }
    if (wrap || u != (uint64_t)b->max_ts - t0)
        return STRATA_ECORRUPT;
    size_t head = PART_TS3_HDR + lbytes + qbytes + 8 * nexc + PART_TS3_PAD;
    const unsigned char *z = fr + head;
    size_t zlen = len - head;
    uint64_t total = 0;
    if (!planes) {
        if (zlen)
            return STRATA_ECORRUPT;
        memset(sizes, 0, n * sizeof(*sizes));
    } else {
        size_t want = (size_t)planes * n;
        if (*plcap < want) {
            free(*pl);
            *plcap = want;
            *pl = xmalloc(want);
        }
        ZSTD_DCtx *dc = dctx_get();
        size_t r = ZSTD_decompressDCtx(dc, *pl, want, z, zlen);
        dctx_put(dc);
        if (ZSTD_isError(r) || r != want)
            return STRATA_ECORRUPT;
        const unsigned char *pb = *pl;
        if (planes == 2) { /* the usual case: lines of 256 bytes to 64 KiB */
            for (uint32_t i = 0; i < n; i++) {
                sizes[i] = pb[i] | (uint32_t)pb[n + i] << 8;
                total += sizes[i];
            }
        } else {
            for (uint32_t i = 0; i < n; i++) {
                uint32_t v = 0;
                for (unsigned j = 0; j < planes; j++)
                    v |= (uint32_t)pb[(size_t)j * n + i] << (8 * j);
                sizes[i] = v;
                total += v;
            }
        }
    }
    if (ts[n - 1] != b->max_ts || total != b->raw)
        return STRATA_ECORRUPT;
    return 0;
}

/*
 * Decode a TS frame into ts[0..n) and sizes[0..n) and check it against the
 * block record; *pl (capacity *plcap) is scratch for version 3.
 */
static int decode_ts(const struct part *p, const struct rblock *b, const unsigned char *fr,
                     size_t len, int64_t *ts, uint32_t *sizes, unsigned char **pl, size_t *plcap)
{
    if (p->version >= PART_VERSION)
        return decode_ts_v3(b, fr, len, ts, sizes, pl, plcap);
    return decode_ts_v2(b, fr, len, ts, sizes);
}

/*
 * Decompress a zstd frame of raw_len bytes into *buf (capacity *cap) and
 * check its length.
 */
static int decompress(const unsigned char *fr, size_t len, size_t raw_len, unsigned char **buf,
                      size_t *cap)
{
    size_t want = raw_len + 1;
    ZSTD_DCtx *d = dctx_get();
    int rc = 0;
    if (want <= PART_ONESHOT_BYTES) {
        if (*cap < want) {
            free(*buf);
            *cap = want;
            *buf = xmalloc(*cap);
        }
        size_t r = ZSTD_decompressDCtx(d, *buf, *cap, fr, len);
        if (ZSTD_isError(r) || r != raw_len)
            rc = STRATA_ECORRUPT;
    } else {
        /* Grow the buffer as data really comes out: a damaged frame fails early. */
        ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
        ZSTD_inBuffer in = {fr, len, 0};
        size_t have = *cap < PART_ONESHOT_BYTES ? PART_ONESHOT_BYTES : *cap;
        if (*cap < have) {
            free(*buf);
            *buf = xmalloc(have);
            *cap = have;
        }
        ZSTD_outBuffer out = {*buf, *cap, 0};
        for (;;) {
            size_t r = ZSTD_decompressStream(d, &out, &in);
            if (ZSTD_isError(r) || out.pos > raw_len) {
                rc = STRATA_ECORRUPT;
                break;
            }
            if (r == 0)
                break; /* frame complete */
            if (out.pos == out.size) {
                size_t ncap = out.size * 2 < want ? out.size * 2 : want;
                if (ncap <= out.size) {
                    rc = STRATA_ECORRUPT;
                    break;
                }
                *buf = xrealloc(*buf, ncap);
                *cap = ncap;
                out.dst = *buf;
                out.size = ncap;
            } else if (in.pos == in.size) {
                rc = STRATA_ECORRUPT; /* truncated frame */
                break;
            }
        }
        if (!rc && out.pos != raw_len)
            rc = STRATA_ECORRUPT;
    }
    dctx_put(d);
    return rc;
}

/* A data frame: the lines (and in version 1, the metadata after them, from b->raw on). */
static int decode_data(const struct rblock *b, const unsigned char *fr, size_t len,
                       unsigned char **buf, size_t *cap)
{
    return decompress(fr, len, b->data_raw_len, buf, cap);
}

/*
 * A metadata frame (format: part.c): decompressed into *buf, its dictionary
 * into *vals (capacity *vcap), and each entry's value into meta[0..count).
 * Entries with the same value get the same slice (same pointer).
 */
static int decode_meta_frame(const struct rblock *b, const unsigned char *fr, size_t len,
                             unsigned char **buf, size_t *cap, struct slice **vals, uint32_t *vcap,
                             struct slice *meta)
{
    unsigned long long raw = ZSTD_getFrameContentSize(fr, len);
    if (raw == ZSTD_CONTENTSIZE_UNKNOWN || raw == ZSTD_CONTENTSIZE_ERROR ||
        raw > PART_MAX_BLOCK_BYTES)
        return STRATA_ECORRUPT;
    int rc = decompress(fr, len, (size_t)raw, buf, cap);
    if (rc < 0)
        return rc;
    const unsigned char *q = *buf, *end = q + raw;
    uint64_t d;
    if (read_uv(&q, end, &d) < 0 || d == 0 || d > b->count)
        return STRATA_ECORRUPT;
    if (d > *vcap) {
        free(*vals);
        *vcap = (uint32_t)d;
        *vals = xmallocarray(*vcap, sizeof(**vals));
    }
    struct slice *v = *vals;
    for (uint64_t i = 0; i < d; i++)
        if (read_str(&q, end, &v[i]) < 0)
            return STRATA_ECORRUPT;
    if (q == end)
        return STRATA_ECORRUPT;
    unsigned w = *q++;
    if (w > 32 || d > ((uint64_t)1 << w) ||
        (size_t)(end - q) != bits_bytes(b->count, w) + PART_TS_FRAME_PAD)
        return STRATA_ECORRUPT;
    if (w == 0) {
        for (uint32_t i = 0; i < b->count; i++)
            meta[i] = v[0];
        return 0;
    }
    for (uint32_t i = 0; i < b->count; i++) {
        uint64_t x = bits_get(q, i, w);
        if (x >= d)
            return STRATA_ECORRUPT;
        meta[i] = v[x];
    }
    return 0;
}

/* Parse the metadata area of a decompressed block into meta[0..n). */
static int decode_meta(const struct rblock *b, const unsigned char *data, struct slice *meta)
{
    const unsigned char *q = data + b->raw, *end = data + b->data_raw_len;
    for (uint32_t i = 0; i < b->count; i++) {
        struct slice s;
        if (read_str(&q, end, &s) < 0)
            return STRATA_ECORRUPT;
        meta[i] = s;
    }
    return q == end ? 0 : STRATA_ECORRUPT;
}

static bool block_bloom_passes(const struct part *p, uint32_t bi, const struct bloom_query *bq,
                               unsigned char **scratch, size_t *cap, int *rc)
{
    const struct rblock *b = &p->blocks[bi];
    if (!bq || !bq->n || !b->bloom_len)
        return true;
    const unsigned char *f;
    *rc = src_get(&p->src, p->bloom_off + b->bloom_off, b->bloom_len, scratch, cap, &f);
    if (*rc < 0)
        return true;
    if (must_check(p, bi, CHECKED_BLOOM)) {
        if (crc32c(0, f, b->bloom_len) != b->bloom_crc) {
            *rc = STRATA_ECORRUPT;
            return true;
        }
        mark_checked(p, bi, CHECKED_BLOOM);
    }
    return bloom_may_contain(f, b->bloom_len, bq);
}

/* ---- cursors ---- */

struct pcursor {
    struct tier_cursor base;
    struct part *p;
    int64_t start, end;
    bool backward, want_lines, want_meta;
    const volatile int *cancel;
    struct tier_read_stats *stats;
    const struct slice *needles; /* every wanted line contains each (tier_query.needles) */
    uint32_t n_needles, longest; /* longest: the needle searched for across a block */
    uint32_t *blocks, n_blocks, pos;
    int64_t *ts, *ts_out;
    uint32_t *sizes, *sizes_out;
    struct slice *lines, *meta;
    uint32_t cap;
    unsigned char *data, *scratch, *mdata, *planes;
    size_t data_cap, scratch_cap, mdata_cap, planes_cap;
    struct slice *mvals; /* the metadata frame's dictionary */
    uint32_t mvals_cap;
    void (*release)(void *);
    void *release_arg;
    bool closed;
};

static void stat_add(uint64_t *field, uint64_t v)
{
    __atomic_fetch_add(field, v, __ATOMIC_RELAXED);
}

/* True when line holds every needle but needles[skip]. */
static bool has_other_needles(const struct pcursor *c, struct slice line, uint32_t skip)
{
    for (uint32_t k = 0; k < c->n_needles; k++)
        if (k != skip && !find_substr(line.ptr, line.len, c->needles[k].ptr, c->needles[k].len))
            return false;
    return true;
}

/*
 * Keep, at the front of [lo, hi), the entries whose lines contain every
 * needle, in order, and return how many; the dropped entries' sizes end up
 * in the rest of [lo, hi) (their order lost). The longest needle is searched
 * for once across the block's lines (they are back to back in the data), not
 * line by line: a needle found in few lines costs one pass over the block.
 */
static uint32_t keep_needle_lines(struct pcursor *c, uint32_t lo, uint32_t hi, bool has_meta)
{
    struct slice nd = c->needles[c->longest];
    const char *end = c->lines[hi - 1].ptr + c->lines[hi - 1].len;
    const char *p = c->lines[lo].ptr;
    uint32_t i = lo, w = lo;
    while (i < hi) {
        const char *hit = find_substr(p, (size_t)(end - p), nd.ptr, nd.len);
        if (!hit)
            break;
        while (c->lines[i].ptr + c->lines[i].len <= hit)
            i++; /* to the line the hit starts in (lines are contiguous, hit < end) */
        if (hit + nd.len > c->lines[i].ptr + c->lines[i].len) {
            p = hit + 1; /* across two lines: not a match */
            continue;
        }
        if (has_other_needles(c, c->lines[i], c->longest)) {
            /* swap rather than copy, so that the dropped sizes stay in [w, hi) */
            uint32_t z = c->sizes[w];
            c->sizes[w] = c->sizes[i];
            c->sizes[i] = z;
            c->ts[w] = c->ts[i];
            c->lines[w] = c->lines[i];
            if (has_meta)
                c->meta[w] = c->meta[i];
            w++;
        }
        i++;
        p = i < hi ? c->lines[i].ptr : end;
    }
    return w - lo;
}

static int pcursor_next(struct tier_cursor *tc, struct entry_batch *out)
{
    struct pcursor *c = (struct pcursor *)tc;
    while (c->pos < c->n_blocks) {
        if (tier_cancelled(c->cancel))
            return STRATA_ECANCELED;
        uint32_t bi = c->blocks[c->pos++];
        const struct rblock *b = &c->p->blocks[bi];
        if (b->count > c->cap) {
            c->cap = b->count;
            free(c->ts);
            free(c->ts_out);
            free(c->sizes);
            free(c->sizes_out);
            free(c->lines);
            free(c->meta);
            c->ts = xmallocarray(c->cap, sizeof(*c->ts));
            c->ts_out = xmallocarray(c->cap, sizeof(*c->ts_out));
            c->sizes = xmallocarray(c->cap, sizeof(*c->sizes));
            c->sizes_out = xmallocarray(c->cap, sizeof(*c->sizes_out));
            c->lines = xmallocarray(c->cap, sizeof(*c->lines));
            c->meta = xmallocarray(c->cap, sizeof(*c->meta));
        }
        const unsigned char *fr;
        int rc = src_get(&c->p->src, b->ts_off, b->ts_len, &c->scratch, &c->scratch_cap, &fr);
        if (rc < 0)
            return rc;
        if (must_check(c->p, bi, CHECKED_TS)) {
            if (crc32c(0, fr, b->ts_len) != b->ts_crc)
                return STRATA_ECORRUPT;
            mark_checked(c->p, bi, CHECKED_TS);
        }
        if ((rc = decode_ts(c->p, b, fr, b->ts_len, c->ts, c->sizes, &c->planes, &c->planes_cap)) <
            0)
            return rc;
        /* The entries of this block within [start, end). */
        uint32_t lo = 0, hi = b->count;
        if (b->min_ts < c->start) {
            uint32_t l = 0, h = b->count;
            while (l < h) {
                uint32_t m = l + (h - l) / 2;
                if (c->ts[m] < c->start)
                    l = m + 1;
                else
                    h = m;
            }
            lo = l;
        }
        if (b->max_ts >= c->end) {
            uint32_t l = lo, h = b->count;
            while (l < h) {
                uint32_t m = l + (h - l) / 2;
                if (c->ts[m] < c->end)
                    l = m + 1;
                else
                    h = m;
            }
            hi = l;
        }
        /* Version 1 keeps metadata in the data frame: read it for metadata alone too. */
        bool want_data = c->want_lines || (c->want_meta && (b->flags & PART_BLOCK_HAS_META));
        bool want_mframe = (c->want_lines || c->want_meta) && (b->flags & PART_BLOCK_META_FRAME);
        if (c->stats) {
            stat_add(&c->stats->blocks_read, 1);
            stat_add(&c->stats->bytes_read,
                     b->ts_len + (want_data ? b->data_len : 0) + (want_mframe ? b->meta_len : 0));
        }
        if (lo >= hi)
            continue;
        bool has_meta = false;
        if (want_data) {
            rc = src_get(&c->p->src, b->data_off, b->data_len, &c->scratch, &c->scratch_cap, &fr);
            if (rc < 0)
                return rc;
            if (must_check(c->p, bi, CHECKED_DATA)) {
                if (crc32c(0, fr, b->data_len) != b->data_crc)
                    return STRATA_ECORRUPT;
                mark_checked(c->p, bi, CHECKED_DATA);
            }
            if (!c->data)
                c->data = bufpool_get(&c->data_cap);
            if ((rc = decode_data(b, fr, b->data_len, &c->data, &c->data_cap)) < 0)
                return rc;
            if (c->stats)
                stat_add(&c->stats->bytes_decompressed, b->data_raw_len);
            const char *lp = (const char *)c->data;
            for (uint32_t i = 0; i < b->count; i++) {
                c->lines[i] = (struct slice){lp, c->sizes[i]};
                lp += c->sizes[i];
            }
            if (b->flags & PART_BLOCK_HAS_META) {
                if ((rc = decode_meta(b, c->data, c->meta)) < 0)
                    return rc;
                has_meta = true;
            }
        }
        if (want_mframe) {
            rc = src_get(&c->p->src, b->data_off + b->data_len, b->meta_len, &c->scratch,
                         &c->scratch_cap, &fr);
            if (rc < 0)
                return rc;
            if (must_check(c->p, bi, CHECKED_META)) {
                if (crc32c(0, fr, b->meta_len) != b->meta_crc)
                    return STRATA_ECORRUPT;
                mark_checked(c->p, bi, CHECKED_META);
            }
            rc = decode_meta_frame(b, fr, b->meta_len, &c->mdata, &c->mdata_cap, &c->mvals,
                                   &c->mvals_cap, c->meta);
            if (rc < 0)
                return rc;
            has_meta = true;
        }
        if (c->stats)
            stat_add(&c->stats->entries_read, hi - lo);
        if (c->n_needles && c->want_lines) {
            uint32_t kept = keep_needle_lines(c, lo, hi, has_meta);
            if (kept < hi - lo && c->stats) {
                uint64_t bytes = 0;
                for (uint32_t i = lo + kept; i < hi; i++)
                    bytes += c->sizes[i]; /* what keep_needle_lines moved past the kept */
                stat_add(&c->stats->entries_filtered, hi - lo - kept);
                stat_add(&c->stats->bytes_filtered, bytes);
            }
            hi = lo + kept;
            if (lo >= hi)
                continue;
        }
        uint32_t n = hi - lo;
        if (!c->backward) {
            out->ts = c->ts + lo;
            out->sizes = c->sizes + lo;
            out->lines = c->want_lines ? c->lines + lo : NULL;
            out->meta = has_meta ? c->meta + lo : NULL;
        } else {
            /* Reverse in place (lines and meta) or into the _out arrays. */
            for (uint32_t i = 0; i < n; i++) {
                c->ts_out[i] = c->ts[hi - 1 - i];
                c->sizes_out[i] = c->sizes[hi - 1 - i];
            }
            for (uint32_t i = 0; i < n / 2 && (c->want_lines || has_meta); i++) {
                struct slice t;
                if (c->want_lines) {
                    t = c->lines[lo + i];
                    c->lines[lo + i] = c->lines[hi - 1 - i];
                    c->lines[hi - 1 - i] = t;
                }
                if (has_meta) {
                    t = c->meta[lo + i];
                    c->meta[lo + i] = c->meta[hi - 1 - i];
                    c->meta[hi - 1 - i] = t;
                }
            }
            out->ts = c->ts_out;
            out->sizes = c->sizes_out;
            out->lines = c->want_lines ? c->lines + lo : NULL;
            out->meta = has_meta ? c->meta + lo : NULL;
        }
        out->n = n;
        return 1;
    }
    return 0;
}

static void pcursor_close(struct tier_cursor *tc)
{
    struct pcursor *c = (struct pcursor *)tc;
    if (c->closed)
        return;
    c->closed = true;
    free(c->ts);
    free(c->ts_out);
    free(c->sizes);
    free(c->sizes_out);
    free(c->lines);
    free(c->meta);
    bufpool_put(c->data, c->data_cap);
    free(c->scratch);
    free(c->mdata);
    free(c->planes);
    free(c->mvals);
    if (c->release)
        c->release(c->release_arg);
}

static const struct tier_cursor_ops pcursor_ops = {pcursor_next, pcursor_close};

struct tier_cursor *part_cursor_new(struct part *p, uint32_t stream, const struct tier_query *q,
                                    const struct bloom_query *bq, struct arena *a,
                                    void (*release)(void *), void *release_arg)
{
    const struct part_stream *s = &p->streams[stream];
    if (s->max_ts < q->start || s->min_ts >= q->end)
        return NULL;
    uint32_t *list = arena_alloc(a, s->n_blocks * sizeof(uint32_t));
    uint32_t n = 0, considered = 0;
    unsigned char *scratch = NULL;
    size_t cap = 0;
    /* Consecutive blocks may share a filter: test it once. */
    uint64_t last_off = UINT64_MAX;
    uint32_t last_len = 0;
    bool last_pass = true;
    for (uint32_t i = 0; i < s->n_blocks; i++) {
        uint32_t bi = s->first_block + i;
        const struct rblock *b = &p->blocks[bi];
        if (b->max_ts < q->start || b->min_ts >= q->end)
            continue;
        considered++;
        if (b->bloom_len && b->bloom_off == last_off && b->bloom_len == last_len) {
            if (!last_pass)
                continue;
        } else if (b->bloom_len) {
            int rc = 0;
            last_pass = block_bloom_passes(p, bi, bq, &scratch, &cap, &rc) || rc;
            last_off = b->bloom_off;
            last_len = b->bloom_len;
            if (!last_pass)
                continue;
        }
        list[n++] = bi;
    }
    free(scratch);
    if (q->stats)
        stat_add(&q->stats->blocks_total, considered);
    if (!n)
        return NULL;
    if (q->backward)
        for (uint32_t i = 0; i < n / 2; i++) {
            uint32_t t = list[i];
            list[i] = list[n - 1 - i];
            list[n - 1 - i] = t;
        }
    struct pcursor *c = arena_calloc(a, 1, sizeof(*c));
    c->base.ops = &pcursor_ops;
    c->p = p;
    c->start = q->start;
    c->end = q->end;
    c->backward = q->backward;
    c->want_lines = q->want_lines;
    c->want_meta = q->want_meta;
    c->cancel = q->cancel;
    c->stats = q->stats;
    c->needles = q->needles;
    c->n_needles = q->n_needles;
    for (uint32_t k = 1; k < q->n_needles; k++)
        if (q->needles[k].len > q->needles[c->longest].len)
            c->longest = k;
    c->blocks = list;
    c->n_blocks = n;
    c->release = release;
    c->release_arg = release_arg;
    return &c->base;
}

void part_block_loc(const struct part *p, uint32_t block, struct part_block_loc *out)
{
    const struct rblock *b = &p->blocks[block];
    *out = (struct part_block_loc){
        .min_ts = b->min_ts,
        .max_ts = b->max_ts,
        .ts_off = b->ts_off,
        .data_off = b->data_off,
        .meta_off = b->data_off + b->data_len, /* the metadata frame follows the data frame */
        .bloom_off = p->bloom_off + b->bloom_off,
        .ts_len = b->ts_len,
        .data_len = b->data_len,
        .meta_len = b->meta_len,
        .bloom_len = b->bloom_len,
    };
}

uint32_t part_cursor_plan(const struct tier_cursor *tc, const uint32_t **blocks)
{
    const struct pcursor *c = (const struct pcursor *)tc;
    *blocks = c->blocks;
    return c->n_blocks;
}

void part_get_sizes(const struct part *p, struct part_sizes *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < p->n_blocks; i++) {
        out->ts += p->blocks[i].ts_len;
        out->data += p->blocks[i].data_len;
        out->meta += p->blocks[i].meta_len;
    }
    out->bloom = p->bloom_len;
    out->index = p->info.file_size - out->ts - out->data - out->meta - out->bloom;
}

/* ---- verification ---- */

int part_verify(struct part *p, char *err, size_t errlen)
{
    unsigned char *scratch = NULL, *data = NULL;
    size_t scap = 0, dcap = 0;
    int64_t *ts = NULL;
    uint32_t *sizes = NULL;
    struct slice *meta = NULL, *vals = NULL;
    uint32_t cap = 0, vcap = 0;
    unsigned char *mdata = NULL, *planes = NULL;
    size_t mcap = 0, pcap = 0;
    int rc = 0;
    uint64_t entries = 0;
    for (uint32_t i = 0; i < p->n_blocks && !rc; i++) {
        const struct rblock *b = &p->blocks[i];
        if (b->count > cap) {
            cap = b->count;
            ts = xreallocarray(ts, cap, sizeof(*ts));
            sizes = xreallocarray(sizes, cap, sizeof(*sizes));
            meta = xreallocarray(meta, cap, sizeof(*meta));
        }
        const unsigned char *f;
        if ((rc = src_get(&p->src, b->ts_off, b->ts_len, &scratch, &scap, &f)) < 0)
            break;
        if (crc32c(0, f, b->ts_len) != b->ts_crc ||
            decode_ts(p, b, f, b->ts_len, ts, sizes, &planes, &pcap) < 0) {
            snprintf(err, errlen, "block %u: bad timestamp frame", i);
            rc = STRATA_ECORRUPT;
            break;
        }
        if ((rc = src_get(&p->src, b->data_off, b->data_len, &scratch, &scap, &f)) < 0)
            break;
        if (crc32c(0, f, b->data_len) != b->data_crc ||
            decode_data(b, f, b->data_len, &data, &dcap) < 0 ||
            ((b->flags & PART_BLOCK_HAS_META) && decode_meta(b, data, meta) < 0) ||
            (!(b->flags & PART_BLOCK_HAS_META) && b->raw != b->data_raw_len)) {
            snprintf(err, errlen, "block %u: bad data frame", i);
            rc = STRATA_ECORRUPT;
            break;
        }
        if (b->flags & PART_BLOCK_META_FRAME) {
            if ((rc = src_get(&p->src, b->data_off + b->data_len, b->meta_len, &scratch, &scap,
                              &f)) < 0)
                break;
            if (crc32c(0, f, b->meta_len) != b->meta_crc ||
                decode_meta_frame(b, f, b->meta_len, &mdata, &mcap, &vals, &vcap, meta) < 0) {
                snprintf(err, errlen, "block %u: bad metadata frame", i);
                rc = STRATA_ECORRUPT;
                break;
            }
        }
        if (b->bloom_len) {
            if ((rc = src_get(&p->src, p->bloom_off + b->bloom_off, b->bloom_len, &scratch, &scap,
                              &f)) < 0)
                break;
            if (crc32c(0, f, b->bloom_len) != b->bloom_crc) {
                snprintf(err, errlen, "block %u: bad bloom filter", i);
                rc = STRATA_ECORRUPT;
                break;
            }
        }
        entries += b->count;
    }
    if (!rc && entries != p->info.entries) {
        snprintf(err, errlen, "entry count %llu does not match the footer's %llu",
                 (unsigned long long)entries, (unsigned long long)p->info.entries);
        rc = STRATA_ECORRUPT;
    }
    if (rc < 0 && rc != STRATA_ECORRUPT)
        snprintf(err, errlen, "read error: %s", strata_strerror(rc));
    free(scratch);
    free(data);
    free(ts);
    free(sizes);
    free(meta);
    free(vals);
    free(mdata);
    free(planes);
    return rc;
}

/* ---- a local file as a source ---- */

struct file_src {
    int fd;
};

static int file_read_at(void *ctx, uint64_t off, size_t len, void *dst)
{
    struct file_src *f = ctx;
    char *d = dst;
    while (len) {
        ssize_t r = pread(f->fd, d, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return STRATA_EIO;
        if (r == 0)
            return STRATA_ECORRUPT;
        d += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int source_file(const char *path, struct part_source *src, bool map, char *err,
                       size_t errlen)
{
    memset(src, 0, sizeof(*src));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return fsio_err(errno);
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
        close(fd);
        return STRATA_EIO;
    }
    struct file_src *f = xmalloc(sizeof(*f));
    f->fd = fd;
    src->read_at = file_read_at;
    src->ctx = f;
    src->size = (uint64_t)st.st_size;
    if (map && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED)
            src->map = m;
    }
    return 0;
}

int part_source_file(const char *path, struct part_source *src, char *err, size_t errlen)
{
    return source_file(path, src, true, err, errlen);
}

int part_source_file_reads(const char *path, struct part_source *src, char *err, size_t errlen)
{
    return source_file(path, src, false, err, errlen);
}

void part_source_file_release(struct part_source *src)
{
    if (!src || !src->ctx)
        return;
    struct file_src *f = src->ctx;
    if (src->map)
        munmap((void *)src->map, (size_t)src->size);
    close(f->fd);
    free(f);
    memset(src, 0, sizeof(*src));
}
