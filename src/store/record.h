/*
 * record.h - the WAL payload of a push batch (format: the top of wal.c).
 *
 * record_encode writes the entries of a normalised batch that were accepted;
 * record_decode turns a payload back into a batch whose labels, lines and
 * metadata point into the payload. Decoding validates every length and
 * count against the payload: a damaged record gives STRATA_ECORRUPT, never a
 * crash (the WAL's checksum catches damage first; this is the second line).
 */
#ifndef STRATA_RECORD_H
#define STRATA_RECORD_H

#include <stdint.h>

#include "core/buf.h"
#include "ingest/batch.h"

/*
 * Append the record of b to out: every entry when accept is NULL, else those
 * whose accept byte is 1 (head_check's layout). STRATA_ETOOLARGE when out's
 * maximum is reached.
 */
int record_encode(struct buf *out, const struct push_batch *b, const uint8_t *accept);
/*
 * Decode a record into b (initialised by the caller with push_batch_init;
 * the tenant is set from the record). b keeps pointers into payload, which
 * must outlive it.
 */
int record_decode(const void *payload, size_t len, struct push_batch *b);

#endif
