/*
 * clickhouse.h - ClickHouse as a storage tier (the chain memory -> ClickHouse).
 *
 * The tier keeps logs in a ClickHouse server (18.16 and later) reached over
 * its HTTP interface, and answers the tier interface of store/tier.h with
 * SQL. Two table layouts:
 *
 *   strata   Strata's own tables (docs/CLICKHOUSE.md has the DDL):
 *            <table>          one row per entry: tenant, fingerprint, labels,
 *                             ts (Int64 ns), line, metadata keys/values,
 *                             batch_id, insert_id, seq; ORDER BY (tenant,
 *                             fingerprint, ts), PARTITION BY day of ts
 *            <table>_streams  tenant, day, fingerprint and labels: the label
 *                             index selectors and the series API read
 *            <table>_batches  one row per committed batch: the commit marker
 *   logthra  Logthra's own logs.log (tenant_id FixedString(10), label
 *            Array(String) of "key:value", timestamp Date, msg String),
 *            written and read as Logthra does, so its existing data can be
 *            queried; timestamps have day resolution, and metadata is not
 *            kept. <table>_strata_batches beside it records Strata's
 *            committed batches.
 *
 * Writes are idempotent batches. Every batch has a 64-bit batch id that is
 * the same whenever the same data is handed over again (the caller's id, e.g.
 * from WAL positions, or clickhouse_batch_id's hash of the content). In the
 * strata layout a batch is committed by one small INSERT into <table>_batches
 * after all its rows are in; every read only sees rows whose (batch_id,
 * insert_id) is a committed one, so a batch is visible all at once or not at
 * all, and a batch handed over again (a replay after a crash, a retry after a
 * lost answer) is found committed and skipped: never a duplicate, never half
 * a batch. Rows of attempts that failed midway stay invisible (and can be
 * removed, see docs/CLICKHOUSE.md). In the logthra layout rows cannot carry
 * that marker: a batch is one INSERT and a replay of a committed batch is
 * skipped, but a crash between the INSERT and its marker can duplicate it.
 *
 * Reads push down what ClickHouse evaluates exactly: tenant, time range, the
 * label matchers (= != always, =~ !~ when the regex translates to RE2, see
 * clickhouse_sql.h) and the line filters of tier_query (|= != always, |~ !~
 * when they translate); Strata re-checks selectors on the labels and filters
 * the lines again. Entries come back in pages as cursors ordered by (ts,
 * arrival). A counting query (tier_query.count) is answered with counts per
 * bucket from GROUP BY when every filter is evaluated in SQL.
 *
 * The tier's ops also take the head's hand-over (absorb, commit,
 * durable_seq; see clickhouse_tier_bind_store), report usage and answer
 * ready (SELECT 1) for /ready.
 *
 * Threading: every function may be called from several threads at once.
 */
#ifndef STRATA_CLICKHOUSE_H
#define STRATA_CLICKHOUSE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "ingest/batch.h"
#include "remote/clickhouse_config.h"
#include "remote/clickhouse_sql.h"
#include "store/tier.h"

/*
 * Resolve the configuration (clickhouse_config.h), check that the server
 * answers and accepts the credentials, and create the database and tables
 * when they are missing (an existing table is checked for the columns the
 * layout needs). On failure returns a negative STRATA_E* and a message in err
 * that names the URL and carries ClickHouse's own message, e.g.
 * "ClickHouse at http://127.0.0.1:8123: Code 193: Wrong password for user
 * default". The tier is closed with its ops->close.
 */
int clickhouse_tier_open(const struct config *cfg, struct tier **out, char *err, size_t errlen);
/* The same from a resolved configuration (copied). */
int clickhouse_tier_open_config(const struct clickhouse_config *c, struct tier **out, char *err,
                                size_t errlen);
/* True when t is a ClickHouse tier. */
bool clickhouse_tier_is(const struct tier *t);

/* What an append did. */
struct clickhouse_append_info {
    uint64_t rows;     /* rows written by this call (0 for a duplicate) */
    bool duplicate;    /* the batch was already committed: nothing written */
    uint32_t attempts; /* tries it took */
    uint32_t requests; /* INSERT requests of the rows (batch_max_rows each) */
};

/*
 * Store a batch durably, once. batch_id 0 means clickhouse_batch_id(b).
 * Returns 0 once ClickHouse has committed the batch (or had committed it
 * before: info->duplicate). Transient failures are retried with exponential
 * backoff for --clickhouse.retry-max-time; after that, or at once for a
 * permanent failure, returns a negative STRATA_E* with the reason in err, and
 * nothing of the batch is visible (strata layout). Calling again with the
 * same batch_id is always safe. The layout logthra refuses tenants longer
 * than 10 bytes and timestamps outside Date's range (STRATA_EINVAL).
 */
int clickhouse_tier_append(struct tier *t, const struct push_batch *b, uint64_t batch_id,
                           struct clickhouse_append_info *info, char *err, size_t errlen);

/*
 * A batch id from the content: XXH3 over the tenant, each stream's labels and
 * each entry's timestamp, line and metadata. Never 0.
 */
uint64_t clickhouse_batch_id(const struct push_batch *b);

/*
 * Asynchronous appends that share INSERTs: the batch is copied and queued,
 * and a sender thread commits queued batches together (each keeps its own
 * batch id and marker) when --clickhouse.batch-max-rows rows are waiting or
 * the oldest has waited --clickhouse.batch-max-wait. done(arg, rc) is called
 * from that thread once the batch is committed (rc 0) or has failed for good
 * (rc < 0, after the retry time, or at close). Returns 0 (done will be
 * called), or without calling done: STRATA_EBUSY when more than 8 x
 * batch-max-rows rows are already queued, STRATA_EUNAVAIL once the tier is
 * closing.
 */
typedef void (*clickhouse_done_fn)(void *arg, int rc);
int clickhouse_tier_submit(struct tier *t, const struct push_batch *b, uint64_t batch_id,
                           clickhouse_done_fn done, void *arg);

/*
 * Label names, and the values of one label, of the streams matching q with
 * entries in [start, end): sorted, distinct, allocated in a. Answered by
 * SQL when every matcher can be pushed down, else through series.
 */
int clickhouse_tier_label_names(struct tier *t, const struct tier_query *q, struct arena *a,
                                struct slice **out, uint32_t *n);
int clickhouse_tier_label_values(struct tier *t, const struct tier_query *q, struct slice name,
                                 struct arena *a, struct slice **out, uint32_t *n);

/*
 * Make t the tier after a store's head (the chain memory -> ClickHouse):
 *   - absorb takes a head generation as one batch per tenant, with batch ids
 *     derived from (writer, WAL segment, tenant), so a generation handed over
 *     again (a retry, or a WAL replayed after a crash) is found committed and
 *     skipped; absorb returns once ClickHouse committed it, and until commit
 *     reads leave it out (the head still shows it: never seen twice);
 *   - durable_seq answers the highest WAL segment ClickHouse holds for this
 *     writer, so the store does not replay what is already there.
 * The writer is the data directory's id, kept in <data_dir>/clickhouse-writer
 * (created with a random id when missing). stop is the store's stopping
 * flag: once set, an absorb retries for at most 5 s. Reads ClickHouse's
 * position at once: a negative STRATA_E* with a message in err on failure.
 */
int clickhouse_tier_bind_store(struct tier *t, const char *data_dir, const volatile int *stop,
                               char *err, size_t errlen);

/* SELECT 1 against the server: 0, or an error naming the URL (ops->ready, for /ready). */
int clickhouse_tier_ping(struct tier *t, char *err, size_t errlen);

#endif
