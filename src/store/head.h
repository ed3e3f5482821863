/*
 * head.h - the memory tier: every stream's recent entries, queryable at once.
 *
 * First slice: entries are kept per tenant and per stream (keyed by the
 * fingerprint of the sorted label set) in append order and sorted when read.
 * The storage engine issue replaces the inside with compressed blocks, the
 * out-of-order window, dedup and flushing; the interface stays tier.h's.
 */
#ifndef STRATA_HEAD_H
#define STRATA_HEAD_H

#include "ingest/batch.h"
#include "store/tier.h"

struct tier *head_new(void);
/* Copy the batch's entries into the head. Never fails for valid batches. */
int head_append(struct tier *t, const struct push_batch *b, struct push_result *res);
/* Entries and line bytes held (for metrics and the status page). */
void head_usage(struct tier *t, uint64_t *entries, uint64_t *bytes);

#endif
