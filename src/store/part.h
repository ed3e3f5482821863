/*
 * part.h - parts: immutable, self-describing files of compressed log entries.
 *
 * A part holds the entries of one tenant, usually one UTC day: per stream,
 * time-ordered blocks with timestamps and line sizes stored apart from the
 * zstd-compressed lines, per-block min/max time, counts and bytes, label
 * postings (name=value -> streams) and a 4-gram bloom filter per block. The
 * same file is used on local disk and in object storage. The byte-by-byte
 * format is specified at the top of part.c (the writer).
 *
 * Writing: part_writer_open creates <dir>/.tmp-<id>.part; streams are added
 * one at a time with their entries in timestamp order; part_writer_finish
 * writes the indexes and footer, fsyncs, renames the file to <dir>/<id>.part
 * and fsyncs the directory. Until the rename, a crash leaves only a temp file
 * (deleted at start-up).
 *
 * Reading goes through a struct part_source (read_at, or a whole-file
 * mapping), so the object-storage tier can read parts in place with ranged
 * GETs. part_open reads the footer (the last PART_FOOTER_SIZE bytes) and the
 * index sections (meta, streams, blocks, labels, postings: one contiguous
 * range, part_index_range) and checks their checksums; block frames and bloom
 * filters are read only when a query needs them, and checked then.
 *
 * Threads: a struct part is immutable after part_open; any number of threads
 * may read it and run cursors over it at once (each cursor on one thread).
 */
#ifndef STRATA_PART_H
#define STRATA_PART_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "ingest/labels.h"
#include "query/selector.h"
#include "store/bloom.h"
#include "store/tier.h"

#define PART_FOOTER_SIZE    256
#define PART_MAX_SUPERSEDES 4096

/* What a part is: its footer and meta section, decoded. */
struct part_info {
    uint64_t id;
    uint32_t level; /* 0: written by a flush; 1 or more: by compaction */
    uint32_t zstd_level;
    bool interim; /* merged flush parts at a fast level: the day's compaction rewrites it */
    char tenant[151];
    int64_t min_ts, max_ts;
    uint64_t entries, bytes; /* entries and line bytes */
    uint64_t streams, blocks;
    uint64_t wal_seq; /* every WAL segment <= this is covered by parts */
    int64_t created_ns;
    uint64_t file_size;
    uint64_t *supersedes; /* ids of the parts this one replaces (compaction) */
    uint32_t n_supersedes;
};

/* ---- writing ---- */

struct part_writer;

struct part_writer_options {
    const char *dir; /* the tenant's part directory (must exist) */
    uint64_t id;
    uint32_t level;
    int zstd_level;
    bool interim;         /* see part_info */
    uint32_t block_bytes; /* target raw line bytes per block */
    const char *tenant;
    uint64_t wal_seq;
    const uint64_t *supersedes;
    uint32_t n_supersedes;
    bool bloom; /* build bloom filters (on by default in the store) */
    /*
     * Consecutive blocks of a stream that share one filter (0: 4). Sharing
     * makes filters several times smaller, since a stream's blocks have most
     * of their grams in common, at the price of coarser skipping.
     */
    uint32_t bloom_blocks;
};

int part_writer_open(const struct part_writer_options *o, struct part_writer **out);
/*
 * Start a stream. Streams may come in any order but each once; labels are
 * sorted (the writer copies them).
 */
int part_writer_begin_stream(struct part_writer *w, uint64_t fp, const struct label *labels,
                             uint32_t n_labels);
/* Add an entry to the current stream; ts must not decrease. meta is labels_encode form. */
int part_writer_add(struct part_writer *w, int64_t ts, struct slice line, struct slice meta);
int part_writer_end_stream(struct part_writer *w);
/*
 * Write the indexes and the footer and make the part durable under its final
 * name. info (may be NULL) gets what was written. On error the temp file is
 * removed. Either way the writer is freed.
 */
int part_writer_finish(struct part_writer *w, struct part_info *info, char *path_out,
                       size_t path_cap);
/* Forget the part (removing the temp file) and free the writer. NULL is a no-op. */
void part_writer_abort(struct part_writer *w);
/* Entries added so far. */
uint64_t part_writer_entries(const struct part_writer *w);

/*
 * Write every stream of the open parts rp[0..n) into w (opened by the
 * caller), one stream at a time: the cursors of a stream found in several
 * inputs are merged by time, and an entry identical to the one written just
 * before it (same timestamp, line and metadata: a copy held by two inputs)
 * is written once. The writer is neither finished nor aborted. Returns 0,
 * STRATA_ECANCELED as soon as *stop is set (stop may be NULL), or the first
 * read or write error.
 */
struct part;
int part_merge(struct part_writer *w, struct part *const *rp, uint32_t n, const volatile int *stop);

/* ---- reading ---- */

struct part_source {
    /* Read exactly len bytes at off into dst: 0 or STRATA_E*. */
    int (*read_at)(void *ctx, uint64_t off, size_t len, void *dst);
    void *ctx;
    uint64_t size;
    /* Optional: the whole file mapped in memory (size bytes); reads are then zero-copy. */
    const unsigned char *map;
};

struct part;

/* One stream of a part (read-only; valid while the part is open). */
struct part_stream {
    uint64_t fp;
    int64_t min_ts, max_ts;
    uint64_t entries, bytes;
    uint32_t first_block, n_blocks;
    struct label *labels;
    uint32_t n_labels;
    struct slice key; /* canonical {a="1"} */
};

/*
 * Open a part through src (copied; its ctx must outlive the part). verify:
 * check every checksum (false only for fuzzing the parsers). On error returns
 * STRATA_ECORRUPT (or the source's error) with a message in err.
 */
int part_open(const struct part_source *src, bool verify, struct part **out, char *err,
              size_t errlen);
void part_close(struct part *p);
const struct part_info *part_get_info(const struct part *p);
uint32_t part_stream_count(const struct part *p);
const struct part_stream *part_get_stream(const struct part *p, uint32_t i);
/*
 * The streams matching sel (NULL: all), found through the label postings:
 * indexes into the stream table, ascending, allocated in a.
 */
uint32_t part_match_streams(const struct part *p, const struct selector *sel, struct arena *a,
                            uint32_t **out);
/*
 * Read just the footer of a part file of the given size: where the index
 * sections start and how long they are, so a remote reader can fetch them in
 * one range. Returns 0 or STRATA_ECORRUPT.
 */
int part_index_range(const unsigned char footer[PART_FOOTER_SIZE], uint64_t file_size,
                     uint64_t *off, uint64_t *len);

/*
 * A cursor over one stream of a part, as tier.h describes (entries in
 * [q->start, q->end), q->backward, q->want_lines; blocks whose bloom filter
 * excludes one of bq's needles are skipped). The cursor lives in a; closing
 * it calls release(release_arg) (e.g. to drop a reference on the part).
 * Returns NULL when no block of the stream can match.
 */
struct tier_cursor *part_cursor_new(struct part *p, uint32_t stream, const struct tier_query *q,
                                    const struct bloom_query *bq, struct arena *a,
                                    void (*release)(void *), void *release_arg);
/*
 * Count what q would read from one stream without reading blocks: blocks
 * overlapping [start, end), their entries and bytes (whole blocks).
 */
void part_stream_stats(const struct part *p, uint32_t stream, int64_t start, int64_t end,
                       uint64_t *blocks, uint64_t *entries, uint64_t *bytes);

/*
 * Where one block's bytes are in the file (absolute offsets), for readers
 * that fetch ranges ahead of a cursor (object storage). block is an index
 * into the part's block table (a stream's blocks are first_block ..
 * first_block + n_blocks - 1). meta_len 0 means the block has no metadata
 * frame (version 1 parts keep metadata in the data frame); bloom_len 0 means
 * the block has no filter, and blocks that share a filter (versions 2 and 3) give
 * the same bloom range.
 */
struct part_block_loc {
    int64_t min_ts, max_ts;
    uint64_t ts_off, data_off, meta_off, bloom_off;
    uint32_t ts_len, data_len, meta_len, bloom_len;
};
void part_block_loc(const struct part *p, uint32_t block, struct part_block_loc *out);
/*
 * The blocks a cursor made by part_cursor_new will read, in the order it
 * reads them (its plan after time and bloom pruning): *blocks points into
 * the cursor's memory. Returns how many.
 */
uint32_t part_cursor_plan(const struct tier_cursor *c, const uint32_t **blocks);

/*
 * Where a part's bytes go: timestamp frames, data frames, metadata frames,
 * bloom filters, index and footer (and header).
 */
struct part_sizes {
    uint64_t ts, data, meta, bloom, index;
};
void part_get_sizes(const struct part *p, struct part_sizes *out);

/*
 * Check every checksum of the part and decode every block (the storage
 * tool and crash tests). Returns 0 or STRATA_ECORRUPT with a message.
 */
int part_verify(struct part *p, char *err, size_t errlen);

/*
 * A source reading a local file through a read-only mapping (queries: no
 * copies), or with pread into the caller's buffers (compaction: a one-pass
 * read of whole parts that should not show up as the process's resident
 * memory).
 */
int part_source_file(const char *path, struct part_source *src, char *err, size_t errlen);
int part_source_file_reads(const char *path, struct part_source *src, char *err, size_t errlen);
void part_source_file_release(struct part_source *src);

#endif
