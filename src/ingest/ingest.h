/*
 * ingest.h - the write path shared by every way logs come in.
 *
 * HTTP handlers, the gRPC services and the RabbitMQ consumers all do the
 * same four steps:
 *
 *     struct push_batch b; struct push_result res; struct normalizer nz;
 *     ingest_begin(in, tenant, input_len, &b, &res, &nz);  // limits + memory budget
 *     rc = <decoder>(body, &nz, err, sizeof(err));          // normalize.h does the checks
 *     rc = ingest_push(in, &b, &res);                      // rate, streams, store
 *     push_batch_release(&b);
 *
 * ingest_push applies what needs the tenant's state, as Loki's distributor
 * and ingester do: the ingestion rate (a token bucket of line bytes, refused
 * whole with 429 and nothing stored) and the number of active streams (new
 * streams past the limit are refused with 429, the others kept). It then
 * calls store_push, which returns once accepted entries are durable, and
 * counts what happened in /metrics.
 *
 * Thread-safe: one struct ingest serves every thread.
 */
#ifndef STRATA_INGEST_H
#define STRATA_INGEST_H

#include <stddef.h>

#include "core/config.h"
#include "ingest/batch.h"
#include "ingest/limits.h"
#include "ingest/normalize.h"
#include "store/store.h"

struct ingest;

/*
 * Read the --limits.* and --ingest.* options and the per-tenant overrides
 * section (limits.h). NULL with a message in err on a bad option or entry.
 */
struct ingest *ingest_new(const struct config *cfg, struct store *store, char *err, size_t errlen);
/* Free everything; NULL is a no-op. */
void ingest_free(struct ingest *in);

/* The limits of a tenant (limits.h: the options, or its overrides). Valid while in lives. */
const struct tenant_limits *ingest_limits(struct ingest *in, const char *tenant);
/* Every tenant's limits (the query APIs read their query limits from it). */
const struct limits_table *ingest_limits_table(const struct ingest *in);
/* The cap on a push body after decompression (--ingest.max-decompressed-bytes). */
size_t ingest_max_decompressed(const struct ingest *in);

/*
 * Start a push for tenant: initialise b and res, set the batch's decode
 * memory budget from input_len (the decoded body size: 8 bytes of batch per
 * input byte, plus 16 MiB), and point nz at the tenant's limits and now.
 */
void ingest_begin(struct ingest *in, const char *tenant, size_t input_len, struct push_batch *b,
                  struct push_result *res, struct normalizer *nz);

/*
 * Check the tenant's rate and stream limits and store b. Returns 0 when the
 * store took the batch (accepted entries are durable; refusals are in res);
 * STRATA_ERATE when the ingestion rate is exceeded (Loki's message in
 * res->error; nothing stored); or the store's error (STRATA_EBUSY,
 * STRATA_ENOSPC, STRATA_EIO, ...; nothing stored). A batch without entries
 * returns 0 at once.
 */
int ingest_push(struct ingest *in, struct push_batch *b, struct push_result *res);

#endif
