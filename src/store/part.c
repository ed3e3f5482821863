/*
 * part.c - the part format, and its writer.
 *
 * Part file format, version 3
 * ===========================
 *
 * All integers are little-endian; uvarint is unsigned LEB128. A part holds
 * the entries of one tenant. The file is laid out as:
 *
 *     header | block frames ... | bloom | meta | streams | blocks | labels | postings | footer
 *
 * Header (16 bytes, offset 0):
 *
 *     0   8  magic "STRATAPT"
 *     8   4  format version (3; readers also read versions 1 and 2, below)
 *    12   4  CRC32C of bytes 0..12
 *
 * Block frames. Each block of a stream is two or three frames, written one
 * after the other; the block table records where they are.
 *
 *   TS frame (counting and time-bucketing read only this): the timestamps
 *   and the line sizes. With n = the block's entries and m = n - 1 deltas,
 *   delta i = ts[i+1] - ts[i] (>= 0; ts[0] is the block's min_ts), and
 *   v_i = delta_i - dmin:
 *     0   1  k: Rice parameter (0..63)
 *     1   1  planes: bytes per line size (0..4)
 *     2   2  reserved (0)
 *     4   4  Q: bytes of quotients
 *     8   8  dmin: the smallest delta (0 when m = 0)
 *    16   4  X: number of exceptions
 *    20   4  reserved (0)
 *    24   .  low bits: the k low bits of each v_i, packed LSB-first in
 *            ceil(m * k / 8) bytes: value i is bits i*k .. i*k+k-1 of the
 *            byte string, where bit b of the string is bit (b mod 8) of byte
 *            (b div 8)
 *     .   Q  quotients: for each v_i, q = v_i >> k in unary, LSB-first as
 *            above: q zero bits, then a one bit; a q of 40 or more is
 *            written as 40 zero bits and a one bit, and q itself is the next
 *            exception
 *     .  8X  exceptions: 8 bytes each, in order
 *     .  16  zero bytes (so that the decoder may load 8 bytes anywhere above)
 *     .   .  line sizes, when planes > 0 (else every line is empty): one zstd
 *            frame whose content is planes * n bytes: byte j of size i (from
 *            the low byte) at j * n + i
 *   Rice coding is close to the entropy of arrival-time gaps (exponential
 *   spread); bit-packing paid for the block's largest gap on every entry.
 *   The quotients are apart from the low bits so that a decoder walks the
 *   one bits a word at a time. The high bytes of line sizes are nearly
 *   constant, so their planes compress to almost nothing.
 *
 *   Versions 1 and 2 wrote the TS frame bit-packed:
 *     0   1  tsw: bits per timestamp delta (0..64)
 *     1   1  szw: bits per line size (0..32)
 *     2   2  reserved (0)
 *     4   .  n deltas of tsw bits each, packed as the low bits above; delta
 *            0 is ts[0] - block min_ts (so 0)
 *     .   .  n line sizes of szw bits each, packed the same way, starting at
 *            the byte after the deltas
 *     .   8  zero bytes
 *
 *   Data frame: one zstd frame. Decompressed (data_raw_len bytes) it is the
 *   block's lines back to back (their lengths are the sizes above).
 *
 *   Metadata frame, only when the block has flag META_FRAME (some entry has
 *   structured metadata), right after the data frame: one zstd frame whose
 *   content (its length is in the zstd frame header, at most 2^30) is a
 *   dictionary of the block's distinct metadata values and each entry's
 *   index into it:
 *       uvarint d (1 .. entries), then d values: uvarint length and that
 *       many bytes in labels_encode form (length 0: no metadata)
 *       1 byte w: bits per index (0..32); d <= 2^w
 *       entries indexes of w bits each, packed as the TS frame's values
 *       8 zero bytes
 *   Metadata is kept apart from the lines so that queries that need it but
 *   not the lines (counts whose series include metadata) read this small
 *   frame, not the data frame; entries of one stream usually share one or a
 *   few values (detected_level), which cost nothing per entry here.
 *
 *   Version 1 parts (the first writer) have no metadata frame; their blocks
 *   with flag HAS_META carry the metadata in the data frame instead, after
 *   the lines: for each entry, uvarint length and that many bytes (0 =
 *   none); data_raw_len covers both. Their block records end with 8 reserved
 *   bytes and their filters (one per block) use bloom layout 1.
 *
 * Bloom section: 4-gram bloom filters back to back (encoding in bloom.h).
 * One filter covers one or more consecutive blocks of a stream (the writer
 * puts up to part_writer_options.bloom_blocks blocks in one filter; those
 * blocks' records give the same offset, length and CRC); a block's filter
 * may be empty (nothing can be pruned).
 *
 * Meta section: records of uvarint tag, uvarint length, bytes. Tag 1: the
 * tenant. Tag 2: the ids of the parts this one supersedes (uvarint count, then
 * uvarint ids). Readers skip tags they do not know.
 *
 * Streams section: one 64-byte record per stream, sorted by fingerprint (ties
 * by label bytes):
 *
 *     0   8  fingerprint (labels_fingerprint)
 *     8   8  min_ts          16  8  max_ts  (ns, signed)
 *    24   8  entries         32  8  bytes of lines
 *    40   4  first block     44  4  number of blocks
 *    48   4  labels offset   52  4  labels length  (in the labels section)
 *    56   8  reserved (0)
 *
 * Blocks section: one 96-byte record per block. The blocks of a stream are
 * first .. first+n-1, in time order, never overlapping (a block's min_ts is
 * >= the previous block's max_ts):
 *
 *     0   8  min_ts           8  8  max_ts
 *    16   4  entries (at most 2^18)   20  4  flags (bit 0: HAS_META, version 1
 *            only; bit 1: META_FRAME, versions 2 and 3; other bits 0)
 *    24   8  bytes of lines
 *    32   8  ts frame offset 40  4  ts frame length    44  4  its CRC32C
 *    48   8  data frame offset 56 4  data frame length 60  4  its CRC32C
 *    64   4  data_raw_len: the data frame's decompressed length (at most 2^30)
 *    68   4  bloom length    72  8  bloom offset (in the bloom section)
 *    80   4  CRC32C of the bloom
 *    84   4  stream index
 *    88   4  metadata frame length (0 without META_FRAME; its offset is the
 *            data frame's offset + length)
 *    92   4  its CRC32C
 *
 * Labels section: each stream's labels in labels_encode form.
 *
 * Postings section: uvarint number of label names; then per name, in byte
 * order: uvarint length, name bytes, uvarint number of values; per value, in
 * byte order: uvarint length, value bytes, uvarint number of streams, and the
 * stream indexes ascending as uvarint deltas (the first from 0).
 *
 * Footer (the last 256 bytes):
 *
 *     0   4  format version (3)     4   4  flags (bit 0: interim, the
 *                                              day's compaction rewrites it)
 *     8   8  part id               16   4  level (0 flush, 1+ compaction)
 *    20   4  zstd level            24   8  number of streams
 *    32   8  number of blocks      40   8  min_ts        48  8  max_ts
 *    56   8  entries               64   8  bytes of lines
 *    72   8  WAL sequence: every WAL segment numbered <= this is in parts
 *    80   8  creation time (ns)
 *    88 144  six sections (bloom, meta, streams, blocks, labels, postings),
 *            each 24 bytes: offset 8, length 8, CRC32C 4, reserved 4
 *   232  12  reserved (0)
 *   244   4  CRC32C of footer bytes 0..244
 *   248   8  magic "STRATAPT"
 *
 * The meta..postings sections are contiguous: a remote reader fetches the
 * footer, then that one range (part_index_range), then only the blocks and
 * filters a query needs.
 *
 * Recovery rule: a part is written as .tmp-<id>.part, fsynced, renamed to
 * <id>.part and its directory fsynced; a temp file found at start-up is
 * deleted. A part is valid only when the header, the footer and every section
 * checksum match; block frames and filters are checked when read (a mismatch
 * fails that query with STRATA_ECORRUPT). When a part lists another in its
 * supersedes set and both exist, the superseded one is deleted at start-up:
 * the rename of the compacted part is the moment compaction commits.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "store/fsio.h"
#include "store/part.h"
#include "store/part_format.h"

struct wstream {
    uint64_t fp;
    int64_t min_ts, max_ts;
    uint64_t entries, bytes;
    uint32_t first_block, n_blocks;
    uint32_t labels_off, labels_len;
};

/*
 * The distinct metadata values of the block being built, each entry's index
 * into them, and a hash table to find them (see "Metadata frame" above).
 */
struct mdict {
    struct buf enc;      /* the values as the frame stores them: uvarint length, bytes */
    uint32_t *off, *len; /* value v: its bytes are enc[off[v] .. off[v]+len[v]) */
    uint64_t *hash;      /* and their hash64 */
    uint32_t n, cap;     /* values */
    uint32_t *slots;     /* value index + 1, 0 = empty; n_slots is a power of two */
    uint32_t n_slots;
    uint32_t last; /* the previous entry's value */
};

struct part_writer {
    struct part_writer_options o;
    char *tenant;
    uint64_t *supersedes;
    char tmp_path[PATH_MAX], final_path[PATH_MAX], bloom_path[PATH_MAX];
    struct fsfile f, bf;
    uint64_t off, bloom_off;
    ZSTD_CCtx *cctx;
    ZSTD_CCtx *sctx; /* line sizes of TS frames, at level 1 */
    int rc;          /* first error, sticky */

    /* the block being built */
    int64_t *ts;
    uint32_t *sizes, *midx;
    uint64_t *tmp;
    uint32_t bn, bcap;
    struct buf lines, frame, mframe, bloom;
    struct mdict md;
    bool has_meta;
    uint64_t braw;

    /* the bloom filter being built over the stream's last blocks: records first_group.. */
    struct bloom_builder bb;
    uint32_t group_first, group_n;

    /* the stream being written */
    bool in_stream;
    struct wstream cur;

    struct wstream *streams;
    uint32_t n_streams, cap_streams;
    unsigned char *blocks; /* PART_BLOCK_REC each */
    uint32_t n_blocks, cap_blocks;
    struct buf labels;

    int64_t min_ts, max_ts;
    uint64_t entries, bytes;
};

static int fail(struct part_writer *w, int rc)
{
    if (!w->rc)
        w->rc = rc;
    return w->rc;
}

int part_writer_open(const struct part_writer_options *o, struct part_writer **out)
{
    struct part_writer *w = xcalloc(1, sizeof(*w));
    w->o = *o;
    w->tenant = xstrdup(o->tenant);
    w->o.tenant = w->tenant;
    if (o->n_supersedes) {
        w->supersedes = xmallocarray(o->n_supersedes, sizeof(uint64_t));
        memcpy(w->supersedes, o->supersedes, o->n_supersedes * sizeof(uint64_t));
        w->o.supersedes = w->supersedes;
    }
    w->o.dir = NULL;
    if (!w->o.block_bytes)
        w->o.block_bytes = 1u << 20;
    if (!w->o.bloom_blocks)
        w->o.bloom_blocks = PART_BLOOM_BLOCKS;
    bloom_builder_init(&w->bb);
    w->f.fd = w->bf.fd = -1;
    w->min_ts = INT64_MAX;
    w->max_ts = INT64_MIN;
    buf_init(&w->lines, BUF_UNLIMITED);
    buf_init(&w->md.enc, BUF_UNLIMITED);
    buf_init(&w->frame, BUF_UNLIMITED);
    buf_init(&w->mframe, BUF_UNLIMITED);
    buf_init(&w->bloom, BUF_UNLIMITED);
    buf_init(&w->labels, UINT32_MAX);
    int rc = 0;
    if (snprintf(w->tmp_path, sizeof(w->tmp_path), "%s/.tmp-%016" PRIx64 ".part", o->dir, o->id) >=
            (int)sizeof(w->tmp_path) ||
        snprintf(w->final_path, sizeof(w->final_path), "%s/%016" PRIx64 ".part", o->dir, o->id) >=
            (int)sizeof(w->final_path) ||
        snprintf(w->bloom_path, sizeof(w->bloom_path), "%s/.tmp-%016" PRIx64 ".bloom", o->dir,
                 o->id) >= (int)sizeof(w->bloom_path)) {
        rc = STRATA_EINVAL;
        goto fail;
    }
    rc = fsio_open(&w->f, w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC);
    if (!rc)
        rc = fsio_open(&w->bf, w->bloom_path, O_RDWR | O_CREAT | O_TRUNC);
    if (rc < 0)
        goto fail;
    unsigned char hdr[PART_HEADER_SIZE];
    memcpy(hdr, PART_MAGIC, 8);
    le_put32(hdr + 8, PART_VERSION);
    le_put32(hdr + 12, crc32c(0, hdr, 12));
    rc = fsio_write(&w->f, hdr, sizeof(hdr));
    if (rc < 0)
        goto fail;
    w->off = PART_HEADER_SIZE;
    w->cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, o->zstd_level);
    *out = w;
    return 0;
fail:
    part_writer_abort(w);
    return rc;
}

uint64_t part_writer_entries(const struct part_writer *w)
{
    return w->entries;
}

/* Compress src into w->frame (at the part's level); *out_len its length. */
static int compress_frame(struct part_writer *w, const void *src, size_t n, size_t *out_len)
{
    size_t bound = ZSTD_compressBound(n);
    buf_reset(&w->frame);
    int rc = buf_reserve(&w->frame, bound);
    if (rc < 0)
        return fail(w, rc);
    size_t clen = ZSTD_compress2(w->cctx, w->frame.ptr, bound, src, n);
    if (ZSTD_isError(clen)) {
        log_error("part: zstd: %s", ZSTD_getErrorName(clen));
        return fail(w, STRATA_EINTERNAL);
    }
    *out_len = clen;
    return 0;
}

static void mdict_reset(struct mdict *d)
{
    buf_reset(&d->enc);
    if (d->n)
        memset(d->slots, 0, d->n_slots * sizeof(uint32_t));
    d->n = 0;
    d->last = 0;
}

static void mdict_release(struct mdict *d)
{
    buf_release(&d->enc);
    free(d->off);
    free(d->len);
    free(d->hash);
    free(d->slots);
}

static void mdict_grow_slots(struct mdict *d)
{
    uint32_t ns = d->n_slots ? d->n_slots * 2 : 64;
    uint32_t *slots = xcalloc(ns, sizeof(uint32_t));
    for (uint32_t v = 0; v < d->n; v++) {
        uint32_t k = (uint32_t)d->hash[v] & (ns - 1);
        while (slots[k])
            k = (k + 1) & (ns - 1);
        slots[k] = v + 1;
    }
    free(d->slots);
    d->slots = slots;
    d->n_slots = ns;
}

/* The index of meta in the block's dictionary, added if new. */
static int mdict_index(struct mdict *d, struct slice meta, uint32_t *out)
{
    /* Consecutive entries of a stream mostly carry the same metadata. */
    if (d->n && d->len[d->last] == meta.len &&
        !memcmp(d->enc.ptr + d->off[d->last], meta.ptr, meta.len)) {
        *out = d->last;
        return 0;
    }
    uint64_t h = hash64(meta.ptr, meta.len);
    if (2 * (d->n + 1) > d->n_slots)
        mdict_grow_slots(d);
    uint32_t k = (uint32_t)h & (d->n_slots - 1);
    for (; d->slots[k]; k = (k + 1) & (d->n_slots - 1)) {
        uint32_t v = d->slots[k] - 1;
        if (d->hash[v] == h && d->len[v] == meta.len &&
            !memcmp(d->enc.ptr + d->off[v], meta.ptr, meta.len)) {
            *out = d->last = v;
            return 0;
        }
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->off = xreallocarray(d->off, d->cap, sizeof(uint32_t));
        d->len = xreallocarray(d->len, d->cap, sizeof(uint32_t));
        d->hash = xreallocarray(d->hash, d->cap, sizeof(uint64_t));
    }
    int rc = buf_put_uvarint(&d->enc, meta.len);
    size_t at = d->enc.len;
    if (!rc && meta.len)
        rc = buf_append(&d->enc, meta.ptr, meta.len);
    if (rc < 0)
        return rc;
    d->off[d->n] = (uint32_t)at;
    d->len[d->n] = (uint32_t)meta.len;
    d->hash[d->n] = h;
    d->slots[k] = d->n + 1;
    *out = d->last = d->n++;
    return 0;
}

/* The raw content of the block's metadata frame, in w->mframe. */
static int build_meta_frame(struct part_writer *w)
{
    const struct mdict *d = &w->md;
    unsigned iw = d->n > 1 ? bit_width(d->n - 1) : 0;
    size_t ib = bits_bytes(w->bn, iw);
    buf_reset(&w->mframe);
    int rc = buf_put_uvarint(&w->mframe, d->n);
    if (!rc)
        rc = buf_append(&w->mframe, d->enc.ptr, d->enc.len);
    if (!rc)
        rc = buf_reserve(&w->mframe, 1 + ib + PART_TS_FRAME_PAD);
    if (rc < 0)
        return rc;
    unsigned char *p = (unsigned char *)w->mframe.ptr + w->mframe.len;
    memset(p, 0, 1 + ib + PART_TS_FRAME_PAD);
    p[0] = (unsigned char)iw;
    for (uint32_t i = 0; i < w->bn; i++)
        w->tmp[i] = w->midx[i];
    bits_pack(p + 1, w->tmp, w->bn, iw);
    w->mframe.len += 1 + ib + PART_TS_FRAME_PAD;
    return 0;
}

/*
 * Write the bloom filter of the stream's last blocks (records group_first
 * onwards) and point their records at it.
 */
static int close_group(struct part_writer *w)
{
    if (w->rc || !w->group_n)
        return w->rc;
    buf_reset(&w->bloom);
    int rc = bloom_builder_finish(&w->bb, &w->bloom);
    if (rc < 0)
        return fail(w, rc);
    uint64_t bloom_off = w->bloom_off;
    uint32_t bloom_len = (uint32_t)w->bloom.len;
    uint32_t bloom_crc = bloom_len ? crc32c(0, w->bloom.ptr, bloom_len) : 0;
    if (bloom_len) {
        if ((rc = fsio_write(&w->bf, w->bloom.ptr, bloom_len)) < 0)
            return fail(w, rc);
        w->bloom_off += bloom_len;
    }
    for (uint32_t i = w->group_first; i < w->n_blocks; i++) {
        unsigned char *r = w->blocks + (size_t)i * PART_BLOCK_REC;
        le_put32(r + 68, bloom_len);
        le_put64(r + 72, bloom_len ? bloom_off : 0);
        le_put32(r + 80, bloom_crc);
    }
    w->group_first = w->n_blocks;
    w->group_n = 0;
    return 0;
}

/*
 * Build the block's TS frame (version 3) in w->frame: the deltas Rice-coded
 * above their minimum, then the line sizes as byte planes in a zstd frame.
 */
static int build_ts_frame(struct part_writer *w, size_t *flen)
{
    uint32_t n = w->bn;
    uint64_t dmin = UINT64_MAX, nd = n - 1;
    for (uint32_t i = 1; i < n; i++) {
        w->tmp[i - 1] = (uint64_t)w->ts[i] - (uint64_t)w->ts[i - 1]; /* may exceed INT64_MAX */
        if (w->tmp[i - 1] < dmin)
            dmin = w->tmp[i - 1];
    }
    if (!nd)
        dmin = 0;
    uint64_t qbits = 0, nexc = 0;
    for (uint64_t i = 0; i < nd; i++)
        w->tmp[i] -= dmin;
    unsigned k = rice_param(w->tmp, nd);
    for (uint64_t i = 0; i < nd; i++) {
        uint64_t q = w->tmp[i] >> k;
        nexc += q >= PART_RICE_ESCAPE;
        qbits += (q < PART_RICE_ESCAPE ? q : PART_RICE_ESCAPE) + 1;
    }
    size_t lbytes = bits_bytes(nd, k), qbytes = (size_t)((qbits + 7) / 8);
    uint32_t maxs = 0;
    for (uint32_t i = 0; i < n; i++)
        if (w->sizes[i] > maxs)
            maxs = w->sizes[i];
    unsigned planes = (bit_width(maxs) + 7) / 8;
    size_t zbound = planes ? ZSTD_compressBound((size_t)planes * n) : 0;
    size_t head = PART_TS3_HDR + lbytes + qbytes + 8 * nexc + PART_TS3_PAD;
    buf_reset(&w->frame);
    int rc = buf_reserve(&w->frame, head + zbound);
    if (rc < 0)
        return rc;
    unsigned char *fr = (unsigned char *)w->frame.ptr;
    memset(fr, 0, head);
    fr[0] = (unsigned char)k;
    fr[1] = (unsigned char)planes;
    le_put32(fr + 4, (uint32_t)qbytes);
    le_put64(fr + 8, dmin);
    le_put32(fr + 16, (uint32_t)nexc);
    bits_pack(fr + PART_TS3_HDR, w->tmp, nd, k);
    unsigned char *qs = fr + PART_TS3_HDR + lbytes, *ex = qs + qbytes;
    uint64_t bit = 0;
    for (uint64_t i = 0; i < nd; i++) {
        uint64_t q = w->tmp[i] >> k;
        if (q >= PART_RICE_ESCAPE) {
            le_put64(ex, q);
            ex += 8;
            q = PART_RICE_ESCAPE;
        }
        bit += q;
        qs[bit >> 3] |= (unsigned char)(1u << (bit & 7));
        bit++;
    }
    *flen = head;
    if (!planes)
        return 0;
    /* byte j of every size, then byte j+1 ...: the high planes are nearly constant */
    unsigned char *pl = (unsigned char *)w->tmp;
    for (unsigned j = 0; j < planes; j++)
        for (uint32_t i = 0; i < n; i++)
            pl[(size_t)j * n + i] = (unsigned char)(w->sizes[i] >> (8 * j));
    if (!w->sctx && !(w->sctx = ZSTD_createCCtx()))
        return STRATA_EINTERNAL;
    size_t z = ZSTD_compressCCtx(w->sctx, fr + head, zbound, pl, (size_t)planes * n, 1);
    if (ZSTD_isError(z)) {
        log_error("part: zstd: %s", ZSTD_getErrorName(z));
        return STRATA_EINTERNAL;
    }
    *flen = head + z;
    return 0;
}

/* Compress and write the block being built. */
static int flush_block(struct part_writer *w)
{
    if (w->rc || w->bn == 0)
        return w->rc;
    uint32_t n = w->bn;
    int rc;
    /* TS frame. */
    size_t flen;
    if ((rc = build_ts_frame(w, &flen)) < 0)
        return fail(w, rc);
    unsigned char *fr = (unsigned char *)w->frame.ptr;
    uint32_t ts_crc = crc32c(0, fr, flen);
    uint64_t ts_off = w->off;
    if ((rc = fsio_write(&w->f, fr, flen)) < 0)
        return fail(w, rc);
    w->off += flen;

    /* The bloom filter covers this block and the group's others (written by close_group). */
    if (w->o.bloom)
        bloom_builder_add(&w->bb, w->lines.ptr, w->sizes, n);

    /* Data frame. */
    size_t raw = w->lines.len;
    if (raw > PART_MAX_BLOCK_BYTES)
        return fail(w, STRATA_ETOOLARGE);
    size_t data_len = 0, clen = 0;
    if ((rc = compress_frame(w, w->lines.len ? w->lines.ptr : "", raw, &data_len)) < 0)
        return rc;
    uint32_t data_crc = crc32c(0, w->frame.ptr, data_len);
    uint64_t data_off = w->off;
    if ((rc = fsio_write(&w->f, w->frame.ptr, data_len)) < 0)
        return fail(w, rc);
    w->off += data_len;

    /* Metadata frame. */
    uint32_t meta_len = 0, meta_crc = 0;
    if (w->has_meta) {
        if ((rc = build_meta_frame(w)) < 0)
            return fail(w, rc);
        if ((rc = compress_frame(w, w->mframe.ptr, w->mframe.len, &clen)) < 0)
            return rc;
        meta_len = (uint32_t)clen;
        meta_crc = crc32c(0, w->frame.ptr, clen);
        if ((rc = fsio_write(&w->f, w->frame.ptr, clen)) < 0)
            return fail(w, rc);
        w->off += clen;
    }

    /* Block record. */
    if (w->n_blocks == w->cap_blocks) {
        w->cap_blocks = w->cap_blocks ? w->cap_blocks * 2 : 64;
        w->blocks = xreallocarray(w->blocks, w->cap_blocks, PART_BLOCK_REC);
    }
    unsigned char *r = w->blocks + (size_t)w->n_blocks * PART_BLOCK_REC;
    memset(r, 0, PART_BLOCK_REC);
    le_put64(r + 0, (uint64_t)w->ts[0]);
    le_put64(r + 8, (uint64_t)w->ts[n - 1]);
    le_put32(r + 16, n);
    le_put32(r + 20, w->has_meta ? PART_BLOCK_META_FRAME : 0);
    le_put64(r + 24, w->braw);
    le_put64(r + 32, ts_off);
    le_put32(r + 40, (uint32_t)flen);
    le_put32(r + 44, ts_crc);
    le_put64(r + 48, data_off);
    le_put32(r + 56, (uint32_t)data_len);
    le_put32(r + 60, data_crc);
    le_put32(r + 64, (uint32_t)raw);
    le_put32(r + 84, w->n_streams);
    le_put32(r + 88, meta_len);
    le_put32(r + 92, meta_crc);
    w->n_blocks++;
    w->cur.n_blocks++;

    w->bn = 0;
    w->braw = 0;
    w->has_meta = false;
    buf_reset(&w->lines);
    mdict_reset(&w->md);
    if (w->o.bloom && ++w->group_n >= w->o.bloom_blocks)
        return close_group(w);
    return 0;
}

int part_writer_begin_stream(struct part_writer *w, uint64_t fp, const struct label *labels,
                             uint32_t n_labels)
{
    if (w->rc)
        return w->rc;
    if (w->in_stream)
        return fail(w, STRATA_EINTERNAL);
    memset(&w->cur, 0, sizeof(w->cur));
    w->cur.fp = fp;
    w->cur.min_ts = INT64_MAX;
    w->cur.max_ts = INT64_MIN;
    w->cur.first_block = w->n_blocks;
    w->cur.labels_off = (uint32_t)w->labels.len;
    w->group_first = w->n_blocks;
    w->group_n = 0;
    int rc = labels_encode(&w->labels, labels, n_labels);
    if (rc < 0)
        return fail(w, rc);
    w->cur.labels_len = (uint32_t)(w->labels.len - w->cur.labels_off);
    w->in_stream = true;
    return 0;
}

int part_writer_add(struct part_writer *w, int64_t ts, struct slice line, struct slice meta)
{
    if (w->rc)
        return w->rc;
    if (!w->in_stream || line.len > UINT32_MAX || (w->cur.entries && ts < w->cur.max_ts))
        return fail(w, STRATA_EINTERNAL);
    if (w->bn == w->bcap) {
        w->bcap = w->bcap ? w->bcap * 2 : 1024;
        w->ts = xreallocarray(w->ts, w->bcap, sizeof(*w->ts));
        w->sizes = xreallocarray(w->sizes, w->bcap, sizeof(*w->sizes));
        w->tmp = xreallocarray(w->tmp, w->bcap, sizeof(*w->tmp));
        w->midx = xreallocarray(w->midx, w->bcap, sizeof(*w->midx));
    }
    int rc = buf_append(&w->lines, line.ptr, line.len);
    if (!rc)
        rc = mdict_index(&w->md, meta, &w->midx[w->bn]);
    if (rc < 0)
        return fail(w, rc);
    if (meta.len)
        w->has_meta = true;
    w->ts[w->bn] = ts;
    w->sizes[w->bn] = (uint32_t)line.len;
    w->bn++;
    w->braw += line.len;
    if (ts < w->cur.min_ts)
        w->cur.min_ts = ts;
    if (ts > w->cur.max_ts)
        w->cur.max_ts = ts;
    w->cur.entries++;
    w->cur.bytes += line.len;
    if (w->braw + w->md.enc.len >= w->o.block_bytes || w->bn >= PART_MAX_BLOCK_ENTRIES)
        return flush_block(w);
    return 0;
}

int part_writer_end_stream(struct part_writer *w)
{
    if (w->rc)
        return w->rc;
    if (!w->in_stream)
        return fail(w, STRATA_EINTERNAL);
    int rc = flush_block(w);
    if (!rc)
        rc = close_group(w);
    if (rc < 0)
        return rc;
    w->in_stream = false;
    if (!w->cur.entries) {
        /* An empty stream leaves no trace. */
        buf_truncate(&w->labels, w->cur.labels_off);
        return 0;
    }
    if (w->n_streams == w->cap_streams) {
        w->cap_streams = w->cap_streams ? w->cap_streams * 2 : 64;
        w->streams = xreallocarray(w->streams, w->cap_streams, sizeof(*w->streams));
    }
    w->streams[w->n_streams++] = w->cur;
    if (w->cur.min_ts < w->min_ts)
        w->min_ts = w->cur.min_ts;
    if (w->cur.max_ts > w->max_ts)
        w->max_ts = w->cur.max_ts;
    w->entries += w->cur.entries;
    w->bytes += w->cur.bytes;
    return 0;
}

/* ---- finishing: the index sections ---- */

static int cmp_stream(const void *a, const void *b, void *arg)
{
    const struct part_writer *w = arg;
    const struct wstream *x = *(struct wstream *const *)a, *y = *(struct wstream *const *)b;
    if (x->fp != y->fp)
        return x->fp < y->fp ? -1 : 1;
    struct slice lx = {w->labels.ptr + x->labels_off, x->labels_len};
    struct slice ly = {w->labels.ptr + y->labels_off, y->labels_len};
    return slice_cmp(lx, ly);
}

struct posting {
    struct slice name, value;
    uint32_t stream;
};

static int cmp_posting(const void *a, const void *b)
{
    const struct posting *x = a, *y = b;
    int c = slice_cmp(x->name, y->name);
    if (!c)
        c = slice_cmp(x->value, y->value);
    if (!c)
        c = x->stream < y->stream ? -1 : x->stream > y->stream;
    return c;
}

static int put_str(struct buf *b, struct slice s)
{
    int rc = buf_put_uvarint(b, s.len);
    return rc ? rc : buf_append(b, s.ptr, s.len);
}

/* Build the streams, blocks (remapped), labels and postings sections into idx. */
static int build_index(struct part_writer *w, struct buf *idx, uint64_t sec[SEC_COUNT][2],
                       uint64_t base)
{
    int rc = 0;
    uint32_t n = w->n_streams;
    struct wstream **order = xmallocarray(n ? n : 1, sizeof(*order));
    uint32_t *newpos = xmallocarray(n ? n : 1, sizeof(*newpos));
    for (uint32_t i = 0; i < n; i++)
        order[i] = &w->streams[i];
    if (n)
        qsort_r(order, n, sizeof(*order), cmp_stream, w);
    for (uint32_t i = 0; i < n; i++)
        newpos[order[i] - w->streams] = i;
    struct arena a;
    arena_init(&a, 0);

    /* meta */
    sec[SEC_META][0] = base + idx->len;
    struct buf m;
    buf_init(&m, BUF_UNLIMITED);
    rc = buf_put_uvarint(idx, META_TENANT);
    if (!rc)
        rc = put_str(idx, slice_from(w->tenant));
    if (!rc && w->o.n_supersedes) {
        for (uint32_t i = 0; i < w->o.n_supersedes && !rc; i++)
            rc = buf_put_uvarint(&m, w->o.supersedes[i]);
        uint64_t cnt = w->o.n_supersedes;
        struct buf c;
        buf_init(&c, 16);
        if (!rc)
            rc = buf_put_uvarint(&c, cnt);
        if (!rc)
            rc = buf_put_uvarint(idx, META_SUPERSEDES);
        if (!rc)
            rc = buf_put_uvarint(idx, c.len + m.len);
        if (!rc)
            rc = buf_append(idx, c.ptr, c.len);
        if (!rc)
            rc = buf_append(idx, m.ptr, m.len);
        buf_release(&c);
    }
    buf_release(&m);
    sec[SEC_META][1] = base + idx->len - sec[SEC_META][0];

    /* streams; labels are rewritten in stream order */
    struct buf labels;
    buf_init(&labels, UINT32_MAX);
    sec[SEC_STREAMS][0] = base + idx->len;
    for (uint32_t i = 0; i < n && !rc; i++) {
        const struct wstream *s = order[i];
        unsigned char r[PART_STREAM_REC];
        memset(r, 0, sizeof(r));
        le_put64(r + 0, s->fp);
        le_put64(r + 8, (uint64_t)s->min_ts);
        le_put64(r + 16, (uint64_t)s->max_ts);
        le_put64(r + 24, s->entries);
        le_put64(r + 32, s->bytes);
        le_put32(r + 40, s->first_block);
        le_put32(r + 44, s->n_blocks);
        le_put32(r + 48, (uint32_t)labels.len);
        le_put32(r + 52, s->labels_len);
        rc = buf_append(&labels, w->labels.ptr + s->labels_off, s->labels_len);
        if (!rc)
            rc = buf_append(idx, r, sizeof(r));
    }
    sec[SEC_STREAMS][1] = base + idx->len - sec[SEC_STREAMS][0];

    /* blocks, with their stream index remapped to the sorted order */
    sec[SEC_BLOCKS][0] = base + idx->len;
    for (uint32_t i = 0; i < w->n_blocks && !rc; i++) {
        unsigned char *r = w->blocks + (size_t)i * PART_BLOCK_REC;
        le_put32(r + 84, newpos[le_get32(r + 84)]);
        rc = buf_append(idx, r, PART_BLOCK_REC);
    }
    sec[SEC_BLOCKS][1] = base + idx->len - sec[SEC_BLOCKS][0];

    sec[SEC_LABELS][0] = base + idx->len;
    if (!rc)
        rc = buf_append(idx, labels.ptr ? labels.ptr : "", labels.len);
    sec[SEC_LABELS][1] = labels.len;

    /* postings */
    size_t np = 0, cap = 0;
    struct posting *post = NULL;
    for (uint32_t i = 0; i < n && !rc; i++) {
        struct label *lv;
        uint32_t nl;
        struct slice enc = {w->labels.ptr + order[i]->labels_off, order[i]->labels_len};
        rc = labels_decode(enc, &a, &lv, &nl);
        for (uint32_t j = 0; j < nl && !rc; j++) {
            if (np == cap) {
                cap = cap ? cap * 2 : 64;
                post = xreallocarray(post, cap, sizeof(*post));
            }
            post[np++] = (struct posting){lv[j].name, lv[j].value, i};
        }
    }
    if (np)
        qsort(post, np, sizeof(*post), cmp_posting);
    sec[SEC_POSTINGS][0] = base + idx->len;
    if (!rc) {
        uint64_t names = 0;
        for (size_t i = 0; i < np; i++)
            names += i == 0 || !slice_eq(post[i].name, post[i - 1].name);
        rc = buf_put_uvarint(idx, names);
    }
    for (size_t i = 0; i < np && !rc;) {
        size_t j = i;
        uint64_t values = 0;
        while (j < np && slice_eq(post[j].name, post[i].name)) {
            values += j == i || !slice_eq(post[j].value, post[j - 1].value);
            j++;
        }
        rc = put_str(idx, post[i].name);
        if (!rc)
            rc = buf_put_uvarint(idx, values);
        for (size_t k = i; k < j && !rc;) {
            size_t e = k;
            while (e < j && slice_eq(post[e].value, post[k].value))
                e++;
            rc = put_str(idx, post[k].value);
            if (!rc)
                rc = buf_put_uvarint(idx, e - k);
            uint32_t prev = 0;
            for (size_t q = k; q < e && !rc; q++) {
                rc = buf_put_uvarint(idx, post[q].stream - prev);
                prev = post[q].stream;
            }
            k = e;
        }
        i = j;
    }
    sec[SEC_POSTINGS][1] = base + idx->len - sec[SEC_POSTINGS][0];
    free(post);
    buf_release(&labels);
    arena_release(&a);
    free(order);
    free(newpos);
    return rc;
}

/* Copy the bloom side file into the part. */
static int copy_blooms(struct part_writer *w)
{
    char chunk[1 << 16];
    uint64_t off = 0;
    while (off < w->bloom_off) {
        size_t n =
            w->bloom_off - off < sizeof(chunk) ? (size_t)(w->bloom_off - off) : sizeof(chunk);
        int rc = fsio_pread(&w->bf, chunk, n, off);
        if (!rc)
            rc = fsio_write(&w->f, chunk, n);
        if (rc < 0)
            return rc;
        off += n;
    }
    return 0;
}

int part_writer_finish(struct part_writer *w, struct part_info *info, char *path_out,
                       size_t path_cap)
{
    int rc = w->rc;
    if (!rc && w->in_stream)
        rc = STRATA_EINTERNAL;
    uint64_t sec[SEC_COUNT][2];
    uint32_t crc[SEC_COUNT];
    memset(sec, 0, sizeof(sec));
    struct buf idx;
    buf_init(&idx, BUF_UNLIMITED);
    if (!rc) {
        sec[SEC_BLOOM][0] = w->off;
        sec[SEC_BLOOM][1] = w->bloom_off;
        rc = copy_blooms(w);
    }
    if (!rc) {
        w->off += w->bloom_off;
        rc = build_index(w, &idx, sec, w->off);
    }
    if (!rc) {
        /* bloom CRC: over the copied bytes, computed from the blocks' own CRCs' inputs */
        uint32_t c = 0;
        char chunk[1 << 16];
        for (uint64_t off = 0; off < w->bloom_off && !rc;) {
            size_t n =
                w->bloom_off - off < sizeof(chunk) ? (size_t)(w->bloom_off - off) : sizeof(chunk);
            rc = fsio_pread(&w->bf, chunk, n, off);
            c = crc32c(c, chunk, n);
            off += n;
        }
        crc[SEC_BLOOM] = c;
        for (int s = SEC_META; s < SEC_COUNT; s++)
            crc[s] = crc32c(0, idx.ptr + (sec[s][0] - w->off), sec[s][1]);
    }
    if (!rc)
        rc = fsio_write(&w->f, idx.ptr, idx.len);
    unsigned char ft[PART_FOOTER_SIZE];
    int64_t created = clock_now_ns();
    if (!rc) {
        w->off += idx.len;
        memset(ft, 0, sizeof(ft));
        le_put32(ft + PF_VERSION, PART_VERSION);
        le_put64(ft + PF_ID, w->o.id);
        le_put32(ft + PF_FLAGS, w->o.interim ? PART_FLAG_INTERIM : 0);
        le_put32(ft + PF_LEVEL, w->o.level);
        le_put32(ft + PF_ZLEVEL, (uint32_t)w->o.zstd_level);
        le_put64(ft + PF_NSTREAMS, w->n_streams);
        le_put64(ft + PF_NBLOCKS, w->n_blocks);
        le_put64(ft + PF_MIN_TS, (uint64_t)(w->n_streams ? w->min_ts : 0));
        le_put64(ft + PF_MAX_TS, (uint64_t)(w->n_streams ? w->max_ts : 0));
        le_put64(ft + PF_ENTRIES, w->entries);
        le_put64(ft + PF_BYTES, w->bytes);
        le_put64(ft + PF_WAL_SEQ, w->o.wal_seq);
        le_put64(ft + PF_CREATED, (uint64_t)created);
        for (int s = 0; s < SEC_COUNT; s++) {
            unsigned char *e = ft + PF_SECTIONS + 24 * s;
            le_put64(e, sec[s][0]);
            le_put64(e + 8, sec[s][1]);
            le_put32(e + 16, crc[s]);
        }
        le_put32(ft + PF_CRC, crc32c(0, ft, PF_CRC));
        memcpy(ft + PF_MAGIC, PART_MAGIC, 8);
        rc = fsio_write(&w->f, ft, sizeof(ft));
    }
    if (!rc) {
        w->off += sizeof(ft);
        rc = fsio_fsync(&w->f);
    }
    buf_release(&idx);
    if (!rc) {
        fsio_close(&w->f);
        rc = fsio_rename(w->tmp_path, w->final_path);
    }
    if (!rc) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", w->final_path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        rc = fsio_sync_dir(slash ? dir : ".");
        if (rc < 0) {
            /* Not durable under its name: take it back so nobody relies on it. */
            int e = fsio_last_errno();
            (void)!unlink(w->final_path);
            errno = e;
        }
    }
    if (!rc && info) {
        memset(info, 0, sizeof(*info));
        info->id = w->o.id;
        info->level = w->o.level;
        info->zstd_level = (uint32_t)w->o.zstd_level;
        info->interim = w->o.interim;
        snprintf(info->tenant, sizeof(info->tenant), "%s", w->tenant);
        info->min_ts = w->n_streams ? w->min_ts : 0;
        info->max_ts = w->n_streams ? w->max_ts : 0;
        info->entries = w->entries;
        info->bytes = w->bytes;
        info->streams = w->n_streams;
        info->blocks = w->n_blocks;
        info->wal_seq = w->o.wal_seq;
        info->created_ns = created;
        info->file_size = w->off;
    }
    if (!rc && path_out)
        snprintf(path_out, path_cap, "%s", w->final_path);
    if (rc < 0) {
        w->rc = rc;
        part_writer_abort(w);
        return rc;
    }
    fsio_close(&w->bf);
    (void)!unlink(w->bloom_path);
    w->f.fd = -1;
    w->tmp_path[0] = '\0';
    part_writer_abort(w);
    return 0;
}

void part_writer_abort(struct part_writer *w)
{
    if (!w)
        return;
    if (w->f.fd >= 0 || w->f.path)
        fsio_close(&w->f);
    if (w->bf.fd >= 0 || w->bf.path) {
        fsio_close(&w->bf);
        (void)!unlink(w->bloom_path);
    }
    if (w->tmp_path[0])
        (void)!unlink(w->tmp_path);
    ZSTD_freeCCtx(w->cctx);
    ZSTD_freeCCtx(w->sctx);
    free(w->ts);
    free(w->sizes);
    free(w->tmp);
    free(w->midx);
    buf_release(&w->lines);
    mdict_release(&w->md);
    buf_release(&w->frame);
    buf_release(&w->mframe);
    bloom_builder_release(&w->bb);
    buf_release(&w->bloom);
    buf_release(&w->labels);
    free(w->streams);
    free(w->blocks);
    free(w->supersedes);
    free(w->tenant);
    free(w);
}

/* ---- merging parts (compaction, in any tier) ---- */

/* One input stream of a merge: a cursor and its current batch. */
struct merge_in {
    struct tier_cursor *cur;
    struct entry_batch b;
    uint32_t pos;
    bool done;
};

struct stream_ref {
    uint64_t fp;
    struct slice key;
    uint32_t part, stream;
};

static int cmp_stream_ref(const void *a, const void *b)
{
    const struct stream_ref *x = a, *y = b;
    if (x->fp != y->fp)
        return x->fp < y->fp ? -1 : 1;
    int c = slice_cmp(x->key, y->key);
    if (c)
        return c;
    return x->part < y->part ? -1 : x->part > y->part;
}

static int merge_advance(struct merge_in *m)
{
    while (!m->done && m->pos >= m->b.n) {
        int rc = m->cur->ops->next(m->cur, &m->b);
        if (rc < 0)
            return rc;
        m->pos = 0;
        if (rc == 0)
            m->done = true;
    }
    return 0;
}

int part_merge(struct part_writer *w, struct part *const *rp, uint32_t n, const volatile int *stop)
{
    int rc = 0;
    struct arena a;
    arena_init(&a, 0);
    size_t nrefs = 0;
    for (uint32_t i = 0; i < n && !rc; i++)
        nrefs += part_stream_count(rp[i]);
    struct stream_ref *refs = xmallocarray(nrefs ? nrefs : 1, sizeof(*refs));
    nrefs = 0;
    for (uint32_t i = 0; i < n && !rc; i++)
        for (uint32_t j = 0; j < part_stream_count(rp[i]); j++) {
            const struct part_stream *ps = part_get_stream(rp[i], j);
            refs[nrefs++] = (struct stream_ref){ps->fp, ps->key, i, j};
        }
    qsort(refs, nrefs, sizeof(*refs), cmp_stream_ref);
    struct tier_query q = {.start = INT64_MIN, .end = INT64_MAX, .want_lines = true};
    struct merge_in *mi = xcalloc(n, sizeof(*mi));
    for (size_t i = 0; i < nrefs && !rc;) {
        size_t j = i;
        while (j < nrefs && refs[j].fp == refs[i].fp && slice_eq(refs[j].key, refs[i].key))
            j++;
        if (stop && *stop) {
            rc = STRATA_ECANCELED;
            break;
        }
        const struct part_stream *ps = part_get_stream(rp[refs[i].part], refs[i].stream);
        uint32_t k = 0;
        for (size_t r = i; r < j; r++) {
            memset(&mi[k], 0, sizeof(mi[k]));
            mi[k].cur = part_cursor_new(rp[refs[r].part], refs[r].stream, &q, NULL, &a, NULL, NULL);
            if (mi[k].cur)
                k++;
        }
        rc = part_writer_begin_stream(w, ps->fp, ps->labels, ps->n_labels);
        int64_t prev_ts = 0;
        struct slice prev_line = {"", 0}, prev_meta = {"", 0};
        bool have_prev = false;
        char *prev_copy = NULL;
        size_t prev_cap = 0;
        for (uint32_t m = 0; m < k && !rc; m++)
            rc = merge_advance(&mi[m]);
        while (!rc) {
            int best = -1;
            for (uint32_t m = 0; m < k; m++)
                if (!mi[m].done &&
                    (best < 0 || mi[m].b.ts[mi[m].pos] < mi[best].b.ts[mi[best].pos]))
                    best = (int)m;
            if (best < 0)
                break;
            struct merge_in *bm = &mi[best];
            int64_t ts = bm->b.ts[bm->pos];
            struct slice line = bm->b.lines[bm->pos];
            struct slice meta = bm->b.meta ? bm->b.meta[bm->pos] : (struct slice){"", 0};
            /* The same entry in two inputs (one stream, same ts, line and metadata): keep one. */
            bool dup = have_prev && ts == prev_ts && slice_eq(line, prev_line) &&
                       slice_eq(meta, prev_meta);
            if (!dup) {
                rc = part_writer_add(w, ts, line, meta);
                /* Remember the entry: the batch it lives in may be replaced. */
                size_t need = line.len + meta.len;
                if (need > prev_cap) {
                    free(prev_copy);
                    prev_cap = need * 2;
                    prev_copy = xmalloc(prev_cap);
                }
                if (line.len)
                    memcpy(prev_copy, line.ptr, line.len);
                if (meta.len)
                    memcpy(prev_copy + line.len, meta.ptr, meta.len);
                prev_line = (struct slice){prev_copy ? prev_copy : "", line.len};
                prev_meta = (struct slice){prev_copy ? prev_copy + line.len : "", meta.len};
                prev_ts = ts;
                have_prev = true;
            }
            bm->pos++;
            if (!rc)
                rc = merge_advance(bm);
        }
        free(prev_copy);
        for (uint32_t m = 0; m < k; m++)
            mi[m].cur->ops->close(mi[m].cur);
        if (!rc)
            rc = part_writer_end_stream(w);
        i = j;
    }
    free(mi);
    free(refs);
    arena_release(&a);
    return rc;
}
