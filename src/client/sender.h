/*
 * sender.h - the asynchronous mode: a bounded queue and the thread that empties it.
 *
 * Uploads append copied entries (entries.h) to the queue; one thread per
 * client takes batches off its head and delivers them with client_deliver,
 * retrying retryable failures with exponential backoff and jitter. The
 * policies, defaults and guarantees are those of include/strata.h; this
 * file's header says how they are kept:
 *
 * - The bound counts every entry not yet acknowledged: waiting in the queue
 *   or in the batch being sent. So a server that is down fills the queue and
 *   the full policy starts to apply; nothing grows without bound.
 * - A batch is taken when the queue holds batch_max_entries or
 *   batch_max_bytes, when its oldest entry has waited batch_wait_ms, or at
 *   once while a flush or the close is waiting. Over gRPC a batch holds one
 *   kind of entry (LogsGO logs or stream entries), the kind at the head.
 * - Backoff before retry k (k = 0, 1, ...): d = min(retry_max, retry_min * 2^k),
 *   then a wait drawn uniformly from [d/2, d] ("equal jitter": clients that
 *   failed together spread out, and none retries sooner than half the step).
 *   Over gRPC the wait ends early when the connection is back (client_await).
 * - Close: the time trigger is ignored, batches go out until the queue is
 *   empty or close_timeout_ms passed; a batch in backoff at the deadline and
 *   whatever is still queued are given up (STRATA_ETIMEOUT).
 * - Entries leave the queue in order; a given-up batch is never re-queued.
 */
#ifndef STRATA_CLIENT_SENDER_H
#define STRATA_CLIENT_SENDER_H

#include <stddef.h>

#include "client/client.h"

struct sender;

/* Start the thread of client c (whose options it reads). Never fails: allocation aborts. */
struct sender *sender_start(struct strata_client *c);
/*
 * Queue n entries, all or none, taking ownership of them on success (on
 * failure they stay the caller's). Applies the full policy; returns 0,
 * STRATA_EBUSY (full), STRATA_ETOOLARGE (more than the queue can ever hold)
 * or STRATA_ECANCELED (closing), with the message set by client_error.
 */
int sender_enqueue(struct sender *s, struct centry **v, size_t n);
/* Wait until nothing is held, up to timeout_ms (-1: forever): 0 or STRATA_ETIMEOUT. */
int sender_flush(struct sender *s, int timeout_ms);
void sender_stats(struct sender *s, struct strata_stats *out);
/*
 * Close: deliver what is held (up to close_timeout_ms), stop the thread, free
 * everything. The final counters go to *final. Returns 0 when nothing
 * accepted was given up, else the code of the last give-up.
 */
int sender_stop(struct sender *s, struct strata_stats *final);

#endif
