/*
 * store.h - the storage engine: the tier chain behind one entry point.
 *
 * Ingest calls store_push with a normalised batch; when it returns 0 the
 * batch's accepted entries are durable and visible to queries. Queries walk
 * the chain from store_chain (newest tier first) through the tier interface.
 */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include "core/config.h"
#include "ingest/batch.h"
#include "store/tier.h"

struct store;

/* Open the data directory and the chain configured in cfg. */
int store_open(const struct config *cfg, struct store **out, char *err, size_t errlen);
/* Flush what must be flushed and free everything. */
void store_close(struct store *s);
/*
 * Make the batch durable and visible. Entries the store refuses (too far
 * behind the stream's newest, ...) are recorded in res; the rest are stored.
 * Returns 0, or a negative STRATA_E* when nothing was stored (full disk:
 * STRATA_ENOSPC; over the memory limit: STRATA_EBUSY).
 */
int store_push(struct store *s, struct push_batch *b, struct push_result *res);
/* The first tier of the chain. */
struct tier *store_chain(struct store *s);

#endif
