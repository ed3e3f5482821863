/*
 * s3_tier.h - the object-storage tier: parts in an S3 bucket, queried in place.
 *
 * The tier after local disk (store.h builds the chain head -> local -> s3
 * when a bucket is configured). docs/S3.md describes it for users and
 * s3_manifest.h the key layout and the manifest that decides what is
 * visible; in short:
 *
 *   - adopt_part (called by the local tier for parts older than
 *     --max-retention-time) uploads the part file under
 *     <prefix>/<tenant>/<day>/<uid>.part, reads its footer back to verify it,
 *     then adds it to the writer's manifest with one PUT: that PUT is the
 *     commit. Only then does the local tier delete its copy. A crash
 *     anywhere leaves the part local (and uploaded again, to the same key,
 *     idempotently) or listed (and the local copy, found again, is only
 *     deleted). While S3 is down, adopt_part fails at once for a growing
 *     delay (1 s doubling to 60 s), so the local tier keeps its parts and
 *     retries at its next upkeep; ingest and local queries never wait for S3.
 *   - select/series/stats read parts in place: footers and indexes are
 *     fetched once (through the disk cache, s3_cache.h) and kept open within
 *     --s3.index-memory; a query fetches only the bloom filters and block
 *     frames that survive its time, label and needle pruning, with ranged
 *     GETs in parallel (--s3.max-parallel).
 *   - flush (the store's upkeep) merges the parts of each tenant and day
 *     every --compact-duration, deletes replaced and expired objects after
 *     --s3.delete-delay, aborts multipart uploads and removes orphans left by
 *     a crash (once after start); expire applies --retention.
 *   - With --target=querier the tier is read-only: it serves the parts of
 *     every writer under --s3.read-prefixes, re-reading their manifests
 *     every --s3.refresh-interval (docs/SCALING.md).
 *
 * A part that sits both on local disk and in the bucket during a hand-over
 * is seen twice by a query for a moment; the store reports this tier to the
 * query engine as a separate link of the chain, and the engine drops the
 * copies (same stream, time and line from two tiers).
 *
 * Threads: every op may be called from any thread (tier.h).
 */
#ifndef STRATA_S3_TIER_H
#define STRATA_S3_TIER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "store/tier.h"

/*
 * Open the tier the options describe, with its cache and writer id under
 * data_dir. Returns 0 with *out NULL when no bucket is configured (and
 * --target is "all"), 0 with the tier, or a negative STRATA_E* with a
 * message in err: a bad --target or --s3.* option, a querier without a
 * bucket, a writer whose manifest cannot be read or does not parse (it is
 * never overwritten blindly), a prefix another live writer owns.
 */
int s3_tier_open(const struct config *cfg, const char *data_dir, struct tier **out, char *err,
                 size_t errlen);

/* True when the options ask for a read-only querier (--target=querier). */
bool s3_tier_querier(const struct config *cfg);

#endif
