/*
 * head.h - the memory tier: every stream's recent entries, queryable at once.
 *
 * Entries live per tenant and per stream (the fingerprint of the sorted label
 * set) in append-only blocks of growing size (4 KiB up to 1 MiB of lines);
 * a block's slots never move once written, so queries read them without
 * copying while pushes append. A stream's entries in the head form its
 * "chunk" of the current generation.
 *
 * Generations: the store freezes the whole head at once (head_cut) when it
 * is old or big enough; pushes then go to a fresh generation while the frozen
 * one, still queryable, is handed to the next tier through struct handover
 * (tier.h) and finally dropped (head_drop). At most one generation is frozen
 * at a time.
 *
 * Acceptance (head_check), per stream, as Loki's unordered writes:
 *   - an entry older than the stream's newest accepted timestamp minus the
 *     out-of-order window is rejected with Loki's text "entry too far behind,
 *     entry timestamp is: ..., oldest acceptable timestamp is: ...";
 *   - an entry identical to the stream's previous one (same timestamp, line
 *     and metadata) is dropped silently (counted as accepted, stored once).
 * The stream state (newest timestamp, previous entry) outlives generations,
 * and is changed only by head_append, after the WAL made the batch durable,
 * so a push that fails leaves no trace. Two pushes racing on one stream are
 * both checked against the state before either: the window is approximate
 * under such races (never stricter than configured).
 *
 * Threads: head_check, head_append and queries may run concurrently; the
 * store calls head_cut and head_gc only when no head_check or head_append is
 * running (its cut lock), and head_drop under its hand-over lock.
 */
#ifndef STRATA_HEAD_H
#define STRATA_HEAD_H

#include <stdint.h>

#include "ingest/batch.h"
#include "store/tier.h"

struct head_options {
    int64_t ooo_window; /* ns; entries this far behind the stream's newest are refused */
};

struct tier *head_new(const struct head_options *o);

/*
 * Decide which entries of b to store. Rejections go to res (push_result_reject);
 * *accept (allocated in b's arena, one byte per entry, streams one after the
 * other in batch order) gets 1 for an entry to store, 2 for a duplicate to
 * drop, 0 for a rejected one. Returns the number of entries to store.
 */
uint64_t head_check(struct tier *t, struct push_batch *b, struct push_result *res,
                    uint8_t **accept);
/*
 * Store the entries of b marked 1 in accept (NULL: every entry, as when
 * replaying the WAL) and update the streams' state. Never fails.
 */
void head_append(struct tier *t, const struct push_batch *b, const uint8_t *accept);

struct head_usage {
    uint64_t entries, bytes;               /* active generation: entries and line bytes */
    uint64_t mem_bytes;                    /* active: memory the limits count */
    uint64_t frozen_entries, frozen_bytes; /* the frozen generation, if any */
    uint64_t frozen_mem_bytes;
    uint64_t streams, tenants; /* known streams (with or without data) */
    int64_t active_since; /* monotonic ns of the active generation's first append, 0 if empty */
    bool frozen;
};
void head_usage(struct tier *t, struct head_usage *out);

/*
 * Freeze the active generation and describe it as a hand-over covering WAL
 * segments <= seq. Returns 0 with *out NULL when the head is empty,
 * STRATA_EBUSY when a generation is frozen already.
 */
int head_cut(struct tier *t, uint64_t seq, struct handover **out);
/* Forget the frozen generation h (queries still reading it keep it alive until they close). */
void head_drop(struct tier *t, struct handover *h);
/*
 * Forget streams without data that have been idle for 3 hours (their
 * window and duplicate state no longer matter). head_check and head_append
 * hold stream pointers without the table lock: call this only while neither
 * runs (the store does it under its cut lock).
 */
void head_gc(struct tier *t);

#endif
