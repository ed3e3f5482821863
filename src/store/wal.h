/*
 * wal.h - the write-ahead log: every accepted push is a record here before it
 * is acknowledged.
 *
 * The WAL is a directory of segment files written one after the other. A
 * record is a typed, length-prefixed, CRC32C-checked payload; the store's
 * records are normalised push batches (store.c encodes them). The format is
 * specified byte by byte at the top of wal.c.
 *
 * Group commit: wal_append may be called from many threads at once. The first
 * caller to find the log idle becomes the leader: it takes every record queued
 * so far, writes them with one writev and (sync=always) one fdatasync, then
 * wakes their callers. Callers arriving meanwhile queue for the next round.
 * So concurrent pushes share one fsync, and a caller returns only when its
 * record is durable (always) or written to the OS (interval; a background
 * thread then fdatasyncs every sync-interval).
 *
 * Failure: when a write or fdatasync fails, every record of that round gets
 * the error and the segment is truncated back to its last durable size, so
 * the failed records are never replayed (their pushes were answered 5xx).
 * If the truncation fails too, the log refuses appends (with the original
 * error) and retries the repair on every later append, so it recovers by
 * itself once the fault is gone.
 *
 * Replay and checkpoint: wal_open replays every record of segments after the
 * checkpoint, in order, then starts a new segment for appends. A torn or
 * corrupt record (bad length, bad checksum) ends its segment: the bytes from
 * its offset on are cut (truncated) and the offset is logged. wal_rotate seals
 * the current segment (its number is returned) and starts the next;
 * wal_remove_through deletes sealed segments whose data is safe in the next
 * tier.
 *
 * Threads: every function may be called from any thread; wal_rotate and
 * wal_close wait for an in-flight round.
 */
#ifndef STRATA_WAL_H
#define STRATA_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wal;

enum wal_sync { WAL_SYNC_ALWAYS, WAL_SYNC_INTERVAL };

/* Record types. */
enum { WAL_REC_PUSH = 1 };

struct wal_options {
    const char *dir; /* created if missing */
    enum wal_sync sync;
    int64_t sync_interval; /* ns, for WAL_SYNC_INTERVAL */
    uint64_t segment_size; /* a segment is sealed once it grows past this */
    uint64_t checkpoint;   /* segments numbered <= this are deleted, not replayed */
};

/*
 * Called for each valid record during replay, in log order. payload is valid
 * only during the call. A nonzero return stops the replay and fails wal_open
 * with that code.
 */
typedef int (*wal_replay_fn)(void *arg, uint64_t segment, int type, const void *payload,
                             size_t len);
/* Called after the last record of each replayed segment (may be NULL). */
typedef int (*wal_segment_fn)(void *arg, uint64_t segment);

struct wal_replay_stats {
    uint64_t segments, records, bytes;
    uint64_t cut_bytes; /* bytes of torn or corrupt tails cut */
    uint64_t deleted;   /* segments at or before the checkpoint removed */
};

/*
 * Open (creating) the log in opts->dir, replay it through fn/seg_fn and start
 * a new segment. On error returns a STRATA_E* code with a message in err.
 */
int wal_open(const struct wal_options *opts, wal_replay_fn fn, wal_segment_fn seg_fn, void *arg,
             struct wal **out, struct wal_replay_stats *stats, char *err, size_t errlen);
/* Sync (interval mode) and close. NULL is a no-op. */
void wal_close(struct wal *w);

/*
 * Append one record; returns once it is durable (always) or written
 * (interval), or with STRATA_ENOSPC / STRATA_EIO if it could not be.
 * STRATA_ETOOLARGE for a payload over 1 GiB.
 */
__attribute__((warn_unused_result)) int wal_append(struct wal *w, int type, const void *payload,
                                                   size_t len);
/*
 * Seal the current segment (fdatasync it) and start the next one. *sealed
 * gets the number of the sealed segment: every record appended before this
 * call is in a segment <= *sealed.
 */
__attribute__((warn_unused_result)) int wal_rotate(struct wal *w, uint64_t *sealed);
/* Delete every segment numbered <= seq (never the current one). */
int wal_remove_through(struct wal *w, uint64_t seq);

struct wal_status {
    uint64_t segments;       /* files in the directory */
    uint64_t bytes;          /* their total size */
    uint64_t first, current; /* oldest and current segment numbers */
    uint64_t appends, rounds, fsyncs, failures;
    bool broken; /* appends refused until a repair succeeds */
};
void wal_status(struct wal *w, struct wal_status *out);

/* ---- format helpers shared with the fuzz target and tests ---- */

#define WAL_SEGMENT_HEADER 32
#define WAL_RECORD_HEADER  12
#define WAL_MAX_RECORD     (1u << 30)

/*
 * Scan one segment image (the whole file in memory): check the header, call
 * fn for each valid record and stop at the first bad one. *valid_end gets the
 * offset where valid data ends (the file size when all is well) and
 * *segment_seq the number in the header. Returns 0 when the whole image is
 * valid, 1 when a bad record or tail was found at *valid_end, STRATA_ECORRUPT
 * when the header itself is bad, or fn's nonzero return.
 */
int wal_scan(const unsigned char *data, size_t len, wal_replay_fn fn, void *arg,
             uint64_t *segment_seq, size_t *valid_end);
/* Write a segment header for seq into out (WAL_SEGMENT_HEADER bytes). */
void wal_segment_header(unsigned char *out, uint64_t seq);
/* Write a record header into out (WAL_RECORD_HEADER bytes). */
void wal_record_header(unsigned char *out, int type, const void *payload, size_t len);

#endif
