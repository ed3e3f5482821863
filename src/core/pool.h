/*
 * pool.h - a fixed pool of worker threads running submitted jobs in FIFO order.
 *
 * The HTTP server hands each complete request to a pool so that handlers may
 * block (a push waits for its WAL fsync, a query scans parts) without stalling
 * the threads that poll sockets. The query engine uses a second pool to scan
 * streams on every core.
 */
#ifndef STRATA_POOL_H
#define STRATA_POOL_H

#include <stddef.h>

struct pool;

typedef void (*pool_fn)(void *arg);

/* Start n threads named "<name>-<i>". */
struct pool *pool_new(const char *name, int n);
/* Queue fn(arg); never fails (the queue is bounded by its callers). */
void pool_submit(struct pool *p, pool_fn fn, void *arg);
/* Run every queued job, then stop and join the threads, and free the pool. */
void pool_free(struct pool *p);
/* Jobs queued but not started. */
size_t pool_pending(struct pool *p);
int pool_size(const struct pool *p);

#endif
