/*
 * clickhouse.c - the ClickHouse tier. What it writes, column by column (the
 * DDL is in create_schema; docs/CLICKHOUSE.md explains the choices):
 *
 * Layout strata, database D, table T:
 *   D.T          tenant String, fingerprint UInt64 (labels_fingerprint),
 *                labels String (canonical {a="1"}), ts Int64 (ns), line String,
 *                meta_keys/meta_values Array(String) (structured metadata, in
 *                order), batch_id UInt64, insert_id UInt64, seq UInt32 (the
 *                row's place in its attempt: arrival order for equal ts).
 *                MergeTree, PARTITION BY day of ts, ORDER BY (tenant,
 *                fingerprint, ts).
 *   D.T_streams  tenant, day Date, fingerprint, labels, label_names/
 *                label_values Array(String) (sorted by name): one row per
 *                stream and day with entries, repeated freely (Replacing).
 *   D.T_batches  tenant, batch_id, insert_id, min_ts, max_ts, rows, bytes,
 *                committed DateTime: the commit marker of a batch.
 *
 * The rule every read applies: a row exists only if (batch_id, insert_id) is
 * (batch_id, min(insert_id)) over the markers of its batch; rows of attempts
 * without a marker (an insert that failed midway) are never seen. Writers
 * insert rows first and the markers of an attempt last, in one INSERT.
 *
 * Layout logthra: Logthra's D.T (tenant_id FixedString(10), label
 * Array(String) of "name:value", timestamp Date, msg String) and
 * D.T_strata_batches (as D.T_batches, insert_id unused) recording which batch
 * ids were written.
 */
#include "remote/clickhouse.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/fsio.h"
#include "remote/clickhouse_http.h"
#include "remote/clickhouse_rowbinary.h"
#include "remote/clickhouse_rows.h"

/* Settings of every SELECT: errors as HTTP errors, room for long IN lists. */
#define SELECT_SETTINGS "wait_end_of_query=1&max_query_size=268435456"
/* The largest answer read into memory; a page that would be larger is asked for again, halved. */
#define ANSWER_MAX ((size_t)256 << 20)
/* Rows per page: the first page of all streams together, and later pages per stream. */
#define FIRST_PAGE_BUDGET_LINES 65536u
#define FIRST_PAGE_BUDGET_TS    1048576u
#define PAGE_MAX_LINES          65536u
#define PAGE_MAX_TS             1048576u
#define CURSOR_BATCH            1024u
/* How long reads and DDL are retried (inserts use --clickhouse.retry-max-time). */
#define READ_RETRY_NS (10 * NS_PER_SEC)
#define DAY_NS        (86400 * NS_PER_SEC)
/* The last day ClickHouse 18.16 parses as a Date literal: 2105-12-31. */
#define MAX_DAY 49672
/* How long usage() answers from its last look (it runs for every /metrics scrape). */
#define USAGE_CACHE_NS (5 * NS_PER_SEC)
/* With the store stopping, a hand-over is retried for at most this long. */
#define STOPPING_RETRY_NS (5 * NS_PER_SEC)

struct pending; /* a submitted batch waiting for the sender thread */

struct clickhouse {
    struct tier tier;
    struct clickhouse_config cfg;
    struct clickhouse_http *http;
    char *logs, *streams, *batches; /* `db`.`table` names */
    uint64_t last_insert_id;        /* atomic: insert ids only grow */
    /* the sender thread of clickhouse_tier_submit */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool thread_started, stopping;
    struct pending *queue_head, *queue_tail;
    uint64_t queued_rows;
    struct metric *m_rows, *m_committed, *m_duplicates, *m_retries, *m_failures;
    /* the chain: hand-overs from a store's head (clickhouse_tier_bind_store) */
    uint64_t writer;           /* whose WAL: the data directory's id, or random */
    uint64_t durable_seq;      /* atomic: the highest WAL seq committed for writer */
    const volatile int *stop;  /* the store is stopping: retry less */
    pthread_mutex_t hide_lock; /* hidden batches: absorbed, not yet committed */
    uint64_t *hidden;
    size_t n_hidden, cap_hidden;
    pthread_mutex_t usage_lock; /* usage, cached for USAGE_CACHE_NS */
    int64_t usage_at;
    int usage_rc;
    struct tier_usage usage;
};

static struct clickhouse *CH(struct tier *t)
{
    return (struct clickhouse *)t;
}

static bool strata_layout(const struct clickhouse *ch)
{
    return ch->cfg.layout == CLICKHOUSE_LAYOUT_STRATA;
}

/* A message for the caller; truncation is fine (gcc would warn about it for snprintf). */
static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- SQL text with a sticky error ------------------------------------------ */

struct sql {
    struct buf b;
    int rc;
};

static void sql_init(struct sql *s)
{
    buf_init(&s->b, ANSWER_MAX);
    s->rc = 0;
}

static void sql_release(struct sql *s)
{
    buf_release(&s->b);
}

static void sql_add(struct sql *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql_add(struct sql *s, const char *fmt, ...)
{
    if (s->rc)
        return;
    va_list ap;
    va_start(ap, fmt);
    s->rc = buf_vprintf(&s->b, fmt, ap);
    va_end(ap);
}

static void sql_quote(struct sql *s, struct slice v)
{
    if (!s->rc)
        s->rc = clickhouse_sql_quote(&s->b, v);
}

/* A Date literal for day number d (days since 1970-01-01). */
static void sql_day(struct sql *s, int64_t d)
{
    char t[40];
    clock_format_rfc3339(d * DAY_NS, t);
    sql_add(s, "'%.10s'", t);
}

/* The day of ts, clamped to Date's range. */
static int64_t day_of(int64_t ts)
{
    int64_t d = ts / DAY_NS - (ts % DAY_NS < 0);
    return d < 0 ? 0 : d > MAX_DAY ? MAX_DAY : d;
}

/* ---- ids and metrics ------------------------------------------------------- */

/* Insert ids order attempts by time (ns), strictly increasing within the process. */
static uint64_t next_insert_id(struct clickhouse *ch)
{
    uint64_t now = (uint64_t)clock_now_ns();
    uint64_t last = __atomic_load_n(&ch->last_insert_id, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t id = now > last ? now : last + 1;
        if (__atomic_compare_exchange_n(&ch->last_insert_id, &last, id, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return id;
    }
}

/* 64 random bits, never 0 (getrandom, or the clock and the pid if it fails). */
static uint64_t random_id(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
        uint64_t seed[2] = {(uint64_t)clock_now_ns(), (uint64_t)getpid()};
        v = hash64(seed, sizeof(seed));
    }
    return v ? v : 1;
}

static uint64_t hash_slice(struct slice s, uint64_t h)
{
    uint64_t n = s.len;
    h = hash64_seed(&n, sizeof(n), h);
    return s.len ? hash64_seed(s.ptr, s.len, h) : h;
}

uint64_t clickhouse_batch_id(const struct push_batch *b)
{
    uint64_t h = hash_slice(slice_from(b->tenant), 0x5374726174614348ULL /* "StrataCH" */);
    for (uint32_t i = 0; i < b->n_streams; i++) {
        const struct stream_batch *s = &b->streams[i];
        h = hash_slice(s->key, h);
        for (uint32_t j = 0; j < s->n_entries; j++) {
            const struct entry *e = &s->entries[j];
            h = hash64_seed(&e->ts, sizeof(e->ts), h);
            h = hash_slice(e->line, h);
            uint64_t nm = e->n_meta;
            h = hash64_seed(&nm, sizeof(nm), h);
            for (uint32_t k = 0; k < e->n_meta; k++)
                h = hash_slice(e->meta[k].value, hash_slice(e->meta[k].name, h));
        }
    }
    return h ? h : 1;
}

static struct metric *counter(const char *name, const char *help)
{
    return metric_get(metrics_family(METRIC_COUNTER, name, help, NULL));
}

static void metrics_init(struct clickhouse *ch)
{
    ch->m_rows = counter("strata_clickhouse_rows_inserted_total",
                         "Rows the ClickHouse tier has inserted (committed batches).");
    ch->m_committed = counter("strata_clickhouse_batches_committed_total",
                              "Batches the ClickHouse tier has committed.");
    ch->m_duplicates = counter("strata_clickhouse_batches_duplicate_total",
                               "Batches handed over again and found already committed.");
    ch->m_retries = counter("strata_clickhouse_insert_retries_total",
                            "Insert attempts retried after a transient ClickHouse failure.");
    ch->m_failures = counter("strata_clickhouse_insert_failures_total",
                             "Batches the ClickHouse tier gave up on (after retries).");
}

/* ---- statements ------------------------------------------------------------ */

/* One statement with retries of transient failures for budget_ns. */
static int run(struct clickhouse *ch, const char *sql, struct slice data, const char *settings,
               struct buf *out, const volatile int *cancel, int64_t budget_ns,
               struct clickhouse_error *e)
{
    struct clickhouse_backoff bo;
    clickhouse_backoff_init(&bo, budget_ns);
    size_t mark = out ? out->len : 0;
    for (;;) {
        struct clickhouse_request r = {
            .sql = sql, .data = data, .settings = settings, .out = out, .cancel = cancel};
        int rc = clickhouse_http_run(ch->http, &r, e);
        if (rc == 0 || !clickhouse_backoff_wait(&bo, e, cancel))
            return rc;
        if (out)
            buf_truncate(out, mark);
    }
}

/* A SELECT whose answer goes to out; failures are logged (the tier ops have no message). */
static int run_select(struct clickhouse *ch, struct sql *s, struct buf *out,
                      const volatile int *cancel)
{
    if (s->rc)
        return s->rc;
    struct clickhouse_error e;
    int rc = run(ch, s->b.ptr, slice_make("", 0), SELECT_SETTINGS, out, cancel, READ_RETRY_NS, &e);
    if (rc && rc != STRATA_ECANCELED && rc != STRATA_ETOOLARGE)
        log_warn("clickhouse: query failed: %s", e.message);
    log_debug("clickhouse: %s -> %s (%zu bytes)", s->b.ptr, rc ? strata_errname(rc) : "ok",
              out ? out->len : 0);
    return rc;
}

/* ---- schema ---------------------------------------------------------------- */

struct column {
    const char *name, *type;
    bool late; /* added in a later version: added to an existing table when missing */
};

static const struct column logs_columns[] = {
    {"tenant", "String", false},
    {"fingerprint", "UInt64", false},
    {"labels", "String", false},
    {"ts", "Int64", false},
    {"line", "String", false},
    {"meta_keys", "Array(String)", false},
    {"meta_values", "Array(String)", false},
    {"batch_id", "UInt64", false},
    {"insert_id", "UInt64", false},
    {"seq", "UInt32", false},
};
static const struct column streams_columns[] = {
    {"tenant", "String", false},
    {"day", "Date", false},
    {"fingerprint", "UInt64", false},
    {"labels", "String", false},
    {"label_names", "Array(String)", false},
    {"label_values", "Array(String)", false},
};
static const struct column batches_columns[] = {
    {"tenant", "String", false},
    {"batch_id", "UInt64", false},
    {"insert_id", "UInt64", false},
    {"min_ts", "Int64", false},
    {"max_ts", "Int64", false},
    {"rows", "UInt64", false},
    {"bytes", "UInt64", false},
    {"committed", "DateTime", false},
    /* added with the head's hand-over: ALTERed into tables created before */
    {"wal_writer", "UInt64", true},
    {"wal_seq", "UInt64", true},
};
static const struct column logthra_columns[] = {
    {"tenant_id", "FixedString(10)", false},
    {"label", "Array(String)", false},
    {"timestamp", "Date", false},
    {"msg", "String", false},
};

struct table_spec {
    const char *name; /* `db`.`table` */
    const struct column *cols;
    size_t n_cols;
    const char *engine; /* everything after the column list */
};

/* Create the table when it is missing, then check that it has the columns we need. */
static int ensure_table(struct clickhouse *ch, const struct table_spec *t, char *err, size_t errlen)
{
    struct sql s;
    sql_init(&s);
    sql_add(&s, "CREATE TABLE IF NOT EXISTS %s (", t->name);
    for (size_t i = 0; i < t->n_cols; i++)
        sql_add(&s, "%s%s %s", i ? ", " : "", t->cols[i].name, t->cols[i].type);
    sql_add(&s, ") ENGINE = %s", t->engine);
    struct clickhouse_error e;
    int rc = s.rc ? s.rc : run(ch, s.b.ptr, slice_make("", 0), NULL, NULL, NULL, READ_RETRY_NS, &e);
    if (rc) {
        fail(err, errlen, "cannot create table %s: %s", t->name, e.message);
        sql_release(&s);
        return rc;
    }
    /* The database and table parts of `db`.`table`, for system.columns. */
    char db[80], table[80];
    if (sscanf(t->name, "`%79[^`]`.`%79[^`]`", db, table) != 2) {
        sql_release(&s);
        return STRATA_EINTERNAL;
    }
    buf_reset(&s.b);
    sql_add(&s, "SELECT concat(name, ' ', type) FROM system.columns WHERE database = ");
    sql_quote(&s, slice_from(db));
    sql_add(&s, " AND table = ");
    sql_quote(&s, slice_from(table));
    sql_add(&s, " FORMAT RowBinary");
    struct buf out;
    buf_init(&out, 1 << 20);
    rc = s.rc ? s.rc : run(ch, s.b.ptr, slice_make("", 0), NULL, &out, NULL, READ_RETRY_NS, &e);
    sql_release(&s);
    if (rc) {
        fail(err, errlen, "cannot read the columns of %s: %s", t->name, e.message);
        buf_release(&out);
        return rc;
    }
    struct arena a;
    arena_init(&a, 0);
    struct slice *have;
    uint32_t n_have;
    rc = clickhouse_decode_strings(buf_slice(&out), &a, &have, &n_have);
    sql_init(&s);
    sql_add(&s, "ALTER TABLE %s", t->name);
    size_t added = 0;
    for (size_t i = 0; !rc && i < t->n_cols; i++) {
        char want[128];
        snprintf(want, sizeof(want), "%s %s", t->cols[i].name, t->cols[i].type);
        bool found = false, named = false;
        for (uint32_t k = 0; k < n_have && !found; k++) {
            found = slice_eq_str(have[k], want);
            named = named || (have[k].len > strlen(t->cols[i].name) &&
                              !memcmp(have[k].ptr, want, strlen(t->cols[i].name) + 1));
        }
        if (!found && t->cols[i].late && !named) {
            /* A table of an earlier Strata: add the column (existing rows read 0). */
            sql_add(&s, "%s ADD COLUMN %s", added++ ? "," : "", want);
        } else if (!found) {
            fail(err, errlen,
                 "table %s exists but has no column %s of type %s, which the %s layout needs "
                 "(choose another --clickhouse.table or --clickhouse.layout)",
                 t->name, t->cols[i].name, t->cols[i].type, clickhouse_layout_name(ch->cfg.layout));
            rc = STRATA_EINVAL;
        }
    }
    if (rc == STRATA_ECORRUPT)
        fail(err, errlen, "ClickHouse at %s sent a malformed list of columns", ch->cfg.url);
    if (!rc && added) {
        rc = s.rc ? s.rc : run(ch, s.b.ptr, slice_make("", 0), NULL, NULL, NULL, READ_RETRY_NS, &e);
        if (rc)
            fail(err, errlen, "cannot add columns to %s: %s", t->name, e.message);
        else
            log_info("clickhouse: added %zu column(s) to %s", added, t->name);
    }
    sql_release(&s);
    arena_release(&a);
    buf_release(&out);
    return rc;
}

static int create_schema(struct clickhouse *ch, char *err, size_t errlen)
{
    struct sql s;
    sql_init(&s);
    sql_add(&s, "CREATE DATABASE IF NOT EXISTS `%s`", ch->cfg.database);
    struct clickhouse_error e;
    int rc = s.rc ? s.rc : run(ch, s.b.ptr, slice_make("", 0), NULL, NULL, NULL, READ_RETRY_NS, &e);
    sql_release(&s);
    if (rc) {
        fail(err, errlen, "cannot create database %s: %s", ch->cfg.database, e.message);
        return rc;
    }
#define N(v) (sizeof(v) / sizeof((v)[0]))
    const struct table_spec batches = {
        ch->batches, batches_columns, N(batches_columns),
        /* No partitions: one INSERT is one part, so a batch's markers appear at once. */
        "MergeTree ORDER BY (tenant, batch_id)"};
    if (strata_layout(ch)) {
        const struct table_spec logs = {ch->logs, logs_columns, N(logs_columns),
                                        "MergeTree PARTITION BY toDate(intDiv(ts, 1000000000)) "
                                        "ORDER BY (tenant, fingerprint, ts)"};
        const struct table_spec streams = {
            ch->streams, streams_columns, N(streams_columns),
            "ReplacingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (tenant, day, fingerprint)"};
        if ((rc = ensure_table(ch, &logs, err, errlen)) < 0 ||
            (rc = ensure_table(ch, &streams, err, errlen)) < 0)
            return rc;
    } else {
        /* Exactly Logthra's own CREATE, so either program may create it. */
        const struct table_spec log = {ch->logs, logthra_columns, N(logthra_columns),
                                       "MergeTree ORDER BY timestamp"};
        if ((rc = ensure_table(ch, &log, err, errlen)) < 0)
            return rc;
    }
#undef N
    return ensure_table(ch, &batches, err, errlen);
}

/* ---- open, close, ping ----------------------------------------------------- */

static const struct tier_ops clickhouse_ops;

bool clickhouse_tier_is(const struct tier *t)
{
    return t && t->ops == &clickhouse_ops;
}

static void sender_stop(struct clickhouse *ch);

static void clickhouse_close(struct tier *t)
{
    struct clickhouse *ch = CH(t);
    if (!ch)
        return;
    sender_stop(ch);
    clickhouse_http_free(ch->http);
    clickhouse_config_release(&ch->cfg);
    free(ch->logs);
    free(ch->streams);
    free(ch->batches);
    pthread_cond_destroy(&ch->cond);
    pthread_mutex_destroy(&ch->lock);
    pthread_mutex_destroy(&ch->hide_lock);
    pthread_mutex_destroy(&ch->usage_lock);
    free(ch->hidden);
    free(ch);
}

int clickhouse_tier_open_config(const struct clickhouse_config *c, struct tier **out, char *err,
                                size_t errlen)
{
    *out = NULL;
    if (!c->url || !c->url[0]) {
        fail(err, errlen, "no ClickHouse server configured (--clickhouse.url)");
        return STRATA_EINVAL;
    }
    struct clickhouse *ch = xcalloc(1, sizeof(*ch));
    ch->tier.ops = &clickhouse_ops;
    ch->cfg = *c;
    ch->cfg.url = xstrdup(c->url);
    ch->cfg.database = xstrdup(c->database);
    ch->cfg.table = xstrdup(c->table);
    ch->cfg.user = xstrdup(c->user);
    ch->cfg.password = xstrdup(c->password);
    pthread_mutex_init(&ch->lock, NULL);
    pthread_mutex_init(&ch->hide_lock, NULL);
    pthread_mutex_init(&ch->usage_lock, NULL);
    ch->writer = random_id();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ch->cond, &ca);
    pthread_condattr_destroy(&ca);
    ch->http = clickhouse_http_new(&ch->cfg);
    const char *db = ch->cfg.database, *tb = ch->cfg.table;
    size_t cap = strlen(db) + strlen(tb) + 40;
    ch->logs = xmalloc(cap);
    ch->streams = xmalloc(cap);
    ch->batches = xmalloc(cap);
    snprintf(ch->logs, cap, "`%s`.`%s`", db, tb);
    snprintf(ch->streams, cap, "`%s`.`%s_streams`", db, tb);
    snprintf(ch->batches, cap, "`%s`.`%s%s`", db, tb,
             strata_layout(ch) ? "_batches" : "_strata_batches");
    metrics_init(ch);

    /* First contact: is the server there, and does it take these credentials? */
    struct buf ver;
    buf_init(&ver, 4096);
    struct clickhouse_error e;
    int rc = run(
        ch, "SELECT version()", slice_make("", 0), NULL, &ver, NULL,
        ch->cfg.retry_max_time_ns < READ_RETRY_NS ? ch->cfg.retry_max_time_ns : READ_RETRY_NS, &e);
    if (rc) {
        fail(err, errlen, "cannot use %s as user \"%s\": %s", ch->cfg.url, ch->cfg.user, e.message);
        buf_release(&ver);
        clickhouse_close(&ch->tier);
        return rc;
    }
    char e2[1024];
    if ((rc = create_schema(ch, e2, sizeof(e2))) < 0) {
        fail(err, errlen, "ClickHouse at %s: %s", ch->cfg.url, e2);
        buf_release(&ver);
        clickhouse_close(&ch->tier);
        return rc;
    }
    char desc[512];
    clickhouse_config_describe(&ch->cfg, desc, sizeof(desc));
    log_info("clickhouse: server %.*s ready; %s", (int)strcspn(ver.ptr, "\r\n"), ver.ptr, desc);
    buf_release(&ver);
    *out = &ch->tier;
    return 0;
}

int clickhouse_tier_open(const struct config *cfg, struct tier **out, char *err, size_t errlen)
{
    struct clickhouse_config c;
    *out = NULL;
    int rc = clickhouse_config_resolve(cfg, &c, err, errlen);
    if (rc)
        return rc;
    rc = clickhouse_tier_open_config(&c, out, err, errlen);
    clickhouse_config_release(&c);
    return rc;
}

int clickhouse_tier_ping(struct tier *t, char *err, size_t errlen)
{
    struct clickhouse *ch = CH(t);
    struct clickhouse_error e;
    int rc = run(ch, "SELECT 1", slice_make("", 0), NULL, NULL, NULL, 0, &e);
    if (rc)
        fail(err, errlen, "%s", e.message);
    return rc;
}

/* ---- writing --------------------------------------------------------------- */

/*
 * A group of batches committed together: one attempt writes every pending
 * batch of the group with one insert id and commits them with one INSERT of
 * their markers. A batch (struct sub) is a push batch, or one tenant's share
 * of a head generation (the group's hand-over).
 */
enum sub_state { SUB_PENDING, SUB_INSERTED, SUB_DUPLICATE };

struct sub {
    const char *tenant;
    const struct push_batch *b; /* NULL: the tenant's streams of the group's hand-over */
    uint64_t batch_id;
    uint64_t wal_writer, wal_seq; /* a hand-over: whose WAL, and the segment it covers */
    enum sub_state state;
    int64_t min_ts, max_ts;
    uint64_t rows, bytes;
};

struct group {
    struct sub *subs;
    size_t n;
    struct handover *h;
};

/* Totals of a group, and the attempts it took. */
struct group_result {
    uint64_t rows;
    uint32_t attempts, requests;
};

/* The most bytes of rows in one INSERT request (besides --clickhouse.batch-max-rows). */
#define CHUNK_BYTES ((size_t)64 << 20)

/* Add e to s's totals. */
static void sub_count(struct sub *s, int64_t ts, size_t bytes)
{
    if (!s->rows || ts < s->min_ts)
        s->min_ts = ts;
    if (!s->rows || ts > s->max_ts)
        s->max_ts = ts;
    s->rows++;
    s->bytes += bytes;
}

/* Totals of a push batch's sub, and what the layout refuses. */
static int prepare_sub(struct clickhouse *ch, struct sub *s, char *err, size_t errlen)
{
    if (s->b) {
        s->rows = s->bytes = 0;
        for (uint32_t i = 0; i < s->b->n_streams; i++)
            for (uint32_t j = 0; j < s->b->streams[i].n_entries; j++) {
                const struct entry *e = &s->b->streams[i].entries[j];
                sub_count(s, e->ts, e->line.len);
            }
    }
    if (!strata_layout(ch)) {
        if (strlen(s->tenant) > 10) {
            fail(err, errlen,
                 "tenant \"%s\" is longer than 10 bytes: the logthra layout keeps tenants in "
                 "Logthra's tenant_id FixedString(10)",
                 s->tenant);
            return STRATA_EINVAL;
        }
        if (s->rows && (s->min_ts < 0 || s->max_ts / DAY_NS > MAX_DAY)) {
            fail(err, errlen,
                 "timestamp %lld is outside the range of Logthra's Date column "
                 "(1970-01-01 to 2105-12-31)",
                 (long long)(s->min_ts < 0 ? s->min_ts : s->max_ts));
            return STRATA_EINVAL;
        }
    }
    if (s->rows == 0)
        s->state = SUB_DUPLICATE; /* nothing to write: as good as committed */
    return 0;
}

/* One INSERT INTO table (columns) FORMAT RowBinary of the rows. */
static int insert(struct clickhouse *ch, const char *table, const char *columns,
                  const struct buf *rows, const volatile int *cancel, struct group_result *gr,
                  struct clickhouse_error *e)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "INSERT INTO %s (%s) FORMAT RowBinary", table, columns);
    struct clickhouse_request r = {.sql = sql, .data = buf_slice(rows), .cancel = cancel};
    gr->requests++;
    return clickhouse_http_run(ch->http, &r, e);
}

/* Which pending batches are committed already (a replay, or an answer that got lost)? */
static int check_committed(struct clickhouse *ch, struct group *g, const volatile int *cancel,
                           struct clickhouse_error *e)
{
    struct sql s;
    sql_init(&s);
    sql_add(&s, "SELECT DISTINCT batch_id FROM %s WHERE batch_id IN (", ch->batches);
    size_t asked = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->subs[i].state == SUB_PENDING)
            sql_add(&s, "%s%llu", asked++ ? ", " : "", (unsigned long long)g->subs[i].batch_id);
    sql_add(&s, ") FORMAT RowBinary");
    if (!asked || s.rc) {
        int rc = s.rc;
        sql_release(&s);
        return rc;
    }
    struct buf out;
    buf_init(&out, 1 << 20);
    struct clickhouse_request r = {
        .sql = s.b.ptr, .settings = SELECT_SETTINGS, .out = &out, .cancel = cancel};
    int rc = clickhouse_http_run(ch->http, &r, e);
    if (rc == 0) {
        struct arena a;
        arena_init(&a, 0);
        uint64_t *ids;
        uint32_t n_ids;
        rc = clickhouse_decode_keys(buf_slice(&out), &a, &ids, &n_ids);
        for (uint32_t k = 0; !rc && k < n_ids; k++)
            for (size_t i = 0; i < g->n; i++)
                if (g->subs[i].state == SUB_PENDING && g->subs[i].batch_id == ids[k])
                    g->subs[i].state = SUB_DUPLICATE;
        if (rc)
            snprintf(e->message, sizeof(e->message),
                     "ClickHouse at %s sent a malformed list of batch ids", ch->cfg.url);
        e->rc = rc;
        arena_release(&a);
    }
    buf_release(&out);
    sql_release(&s);
    return rc;
}

/* ---- walking the rows of a group ---- */

/* A stream being written. */
struct wstream {
    const char *tenant;
    uint64_t fp;
    struct slice key;
    const struct label *labels;
    uint32_t n_labels;
    uint64_t ord; /* numbers the streams of one walk */
};

/* Called for every entry of every pending batch; nonzero stops the walk. */
typedef int (*row_fn)(void *arg, struct sub *s, const struct wstream *st, const struct entry *e);

struct handover_walk {
    struct group *g;
    row_fn fn;
    void *arg;
    uint64_t *ord;
    size_t sub; /* the sub of the last stream's tenant */
    struct arena meta;
};

static struct sub *handover_sub(struct handover_walk *w, const char *tenant)
{
    struct group *g = w->g;
    if (w->sub < g->n && !g->subs[w->sub].b && !strcmp(g->subs[w->sub].tenant, tenant))
        return &g->subs[w->sub];
    for (size_t i = 0; i < g->n; i++)
        if (!g->subs[i].b && !strcmp(g->subs[i].tenant, tenant)) {
            w->sub = i;
            return &g->subs[i];
        }
    return NULL;
}

static int handover_stream_rows(void *arg, const struct handover_stream *hs)
{
    struct handover_walk *w = arg;
    struct sub *s = handover_sub(w, hs->tenant);
    if (!s)
        return STRATA_EINTERNAL; /* a tenant the first walk did not see */
    if (s->state != SUB_PENDING)
        return 0;
    struct wstream st = {hs->tenant, hs->fp, hs->key, hs->labels, hs->n_labels, ++*w->ord};
    struct entry_batch eb;
    int rc;
    while ((rc = hs->cursor->ops->next(hs->cursor, &eb)) == 1) {
        arena_release(&w->meta);
        for (uint32_t i = 0; i < eb.n; i++) {
            struct entry e = {.ts = eb.ts[i], .line = eb.lines ? eb.lines[i] : slice_make("", 0)};
            if (!eb.lines && eb.sizes[i])
                return STRATA_EINTERNAL; /* a hand-over always carries lines */
            if (eb.meta && eb.meta[i].len &&
                labels_decode(eb.meta[i], &w->meta, &e.meta, &e.n_meta) < 0)
                return STRATA_ECORRUPT;
            if ((rc = w->fn(w->arg, s, &st, &e)) != 0)
                return rc;
        }
    }
    return rc;
}

/* Call fn for every entry of the group's pending batches, stream after stream. */
static int walk_rows(struct group *g, row_fn fn, void *arg)
{
    uint64_t ord = 0;
    bool from_handover = false;
    for (size_t i = 0; i < g->n; i++) {
        struct sub *s = &g->subs[i];
        if (s->state != SUB_PENDING)
            continue;
        if (!s->b) {
            from_handover = true;
            continue;
        }
        for (uint32_t k = 0; k < s->b->n_streams; k++) {
            const struct stream_batch *sb = &s->b->streams[k];
            struct wstream st = {s->tenant, sb->fp, sb->key, sb->labels, sb->n_labels, ++ord};
            for (uint32_t j = 0; j < sb->n_entries; j++) {
                int rc = fn(arg, s, &st, &sb->entries[j]);
                if (rc)
                    return rc;
            }
        }
    }
    if (!from_handover || !g->h)
        return 0;
    struct handover_walk w = {.g = g, .fn = fn, .arg = arg, .ord = &ord};
    arena_init(&w.meta, 0);
    int rc = g->h->each(g->h, handover_stream_rows, &w);
    arena_release(&w.meta);
    return rc;
}

/* ---- the rows ---- */

/* One (tenant, stream, day) of the label index; the strings live in the writer's arena. */
struct stream_day {
    struct wstream s;
    int64_t day;
};

static int cmp_stream_day(const void *x, const void *y)
{
    const struct stream_day *a = x, *b = y;
    if (a->s.fp != b->s.fp)
        return a->s.fp < b->s.fp ? -1 : 1;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    return strcmp(a->s.tenant, b->s.tenant);
}

/* What one attempt writes: entry rows in requests of batch-max-rows, and the label index. */
struct writer {
    struct clickhouse *ch;
    bool strata;
    const char *columns;
    uint64_t per_request, insert_id;
    const volatile int *cancel;
    struct group_result *gr;
    struct clickhouse_error *e;
    struct buf rows;
    uint64_t in_chunk;
    uint32_t seq;
    /* the label index: a record per stream and day seen */
    struct arena a;
    struct stream_day *days, cur;
    size_t n_days, cap_days;
};

static int put_entry_strata(struct buf *rows, const struct wstream *s, const struct entry *en,
                            uint64_t batch_id, uint64_t insert_id, uint32_t seq)
{
    int rc = rowbinary_put_string(rows, slice_from(s->tenant));
    rc = rc ? rc : rowbinary_put_u64(rows, s->fp);
    rc = rc ? rc : rowbinary_put_string(rows, s->key);
    rc = rc ? rc : rowbinary_put_i64(rows, en->ts);
    rc = rc ? rc : rowbinary_put_string(rows, en->line);
    rc = rc ? rc : rowbinary_put_len(rows, en->n_meta);
    for (uint32_t k = 0; !rc && k < en->n_meta; k++)
        rc = rowbinary_put_string(rows, en->meta[k].name);
    rc = rc ? rc : rowbinary_put_len(rows, en->n_meta);
    for (uint32_t k = 0; !rc && k < en->n_meta; k++)
        rc = rowbinary_put_string(rows, en->meta[k].value);
    rc = rc ? rc : rowbinary_put_u64(rows, batch_id);
    rc = rc ? rc : rowbinary_put_u64(rows, insert_id);
    return rc ? rc : rowbinary_put_u32(rows, seq);
}

/* Logthra's row: tenant_id, label ["name:value", ...], timestamp (Date), msg. */
static int put_entry_logthra(struct buf *rows, const struct wstream *s, const struct entry *en)
{
    int rc = rowbinary_put_fixed(rows, slice_from(s->tenant), 10);
    rc = rc ? rc : rowbinary_put_len(rows, s->n_labels);
    for (uint32_t k = 0; !rc && k < s->n_labels; k++) {
        const struct label *l = &s->labels[k];
        rc = rowbinary_put_len(rows, l->name.len + 1 + l->value.len);
        rc = rc ? rc : buf_append(rows, l->name.ptr, l->name.len);
        rc = rc ? rc : buf_append_char(rows, ':');
        rc = rc ? rc : buf_append(rows, l->value.ptr, l->value.len);
    }
    rc = rc ? rc : rowbinary_put_u16(rows, (uint16_t)(en->ts / DAY_NS));
    return rc ? rc : rowbinary_put_string(rows, en->line);
}

/* Note the stream and day of an entry for the label index (strings copied once per stream). */
static void note_day(struct writer *w, const struct wstream *st, int64_t ts)
{
    int64_t day = day_of(ts);
    if (st->ord == w->cur.s.ord && day == w->cur.day)
        return;
    if (st->ord != w->cur.s.ord) {
        struct label *lv = arena_alloc(&w->a, (st->n_labels ? st->n_labels : 1) * sizeof(*lv));
        for (uint32_t k = 0; k < st->n_labels; k++)
            lv[k] = (struct label){arena_slice_dup(&w->a, st->labels[k].name),
                                   arena_slice_dup(&w->a, st->labels[k].value)};
        w->cur.s = (struct wstream){arena_strdup(&w->a, st->tenant),
                                    st->fp,
                                    arena_slice_dup(&w->a, st->key),
                                    lv,
                                    st->n_labels,
                                    st->ord};
    }
    w->cur.day = day;
    if (w->n_days == w->cap_days) {
        w->cap_days = w->cap_days ? w->cap_days * 2 : 64;
        w->days = xreallocarray(w->days, w->cap_days, sizeof(*w->days));
    }
    w->days[w->n_days++] = w->cur;
}

static int write_row(void *arg, struct sub *s, const struct wstream *st, const struct entry *en)
{
    struct writer *w = arg;
    int rc = w->strata ? put_entry_strata(&w->rows, st, en, s->batch_id, w->insert_id, w->seq++)
                       : put_entry_logthra(&w->rows, st, en);
    if (rc) {
        snprintf(w->e->message, sizeof(w->e->message), "a row is too large to insert");
        w->e->rc = rc;
        return rc;
    }
    if (w->strata)
        note_day(w, st, en->ts);
    if (++w->in_chunk >= w->per_request || w->rows.len >= CHUNK_BYTES) {
        rc = insert(w->ch, w->ch->logs, w->columns, &w->rows, w->cancel, w->gr, w->e);
        buf_reset(&w->rows);
        w->in_chunk = 0;
    }
    return rc;
}

/* The label index rows of the streams and days written (strata layout). */
static int insert_streams(struct writer *w)
{
    if (w->n_days > 1)
        qsort(w->days, w->n_days, sizeof(*w->days), cmp_stream_day);
    struct buf rows;
    buf_init(&rows, ANSWER_MAX);
    int rc = 0;
    for (size_t i = 0; i < w->n_days && !rc; i++) {
        if (i && !cmp_stream_day(&w->days[i - 1], &w->days[i]))
            continue;
        const struct wstream *d = &w->days[i].s;
        rc = rowbinary_put_string(&rows, slice_from(d->tenant));
        rc = rc ? rc : rowbinary_put_u16(&rows, (uint16_t)w->days[i].day);
        rc = rc ? rc : rowbinary_put_u64(&rows, d->fp);
        rc = rc ? rc : rowbinary_put_string(&rows, d->key);
        rc = rc ? rc : rowbinary_put_len(&rows, d->n_labels);
        for (uint32_t k = 0; !rc && k < d->n_labels; k++)
            rc = rowbinary_put_string(&rows, d->labels[k].name);
        rc = rc ? rc : rowbinary_put_len(&rows, d->n_labels);
        for (uint32_t k = 0; !rc && k < d->n_labels; k++)
            rc = rowbinary_put_string(&rows, d->labels[k].value);
    }
    if (rc) {
        snprintf(w->e->message, sizeof(w->e->message), "the label index rows are too large");
        w->e->rc = rc;
    } else if (rows.len) {
        rc = insert(w->ch, w->ch->streams,
                    "tenant, day, fingerprint, labels, label_names, label_values", &rows, w->cancel,
                    w->gr, w->e);
    }
    buf_release(&rows);
    return rc;
}

/* The entry rows of every pending batch, then (strata) the label index. */
static int insert_rows(struct clickhouse *ch, struct group *g, uint64_t insert_id,
                       const volatile int *cancel, struct group_result *gr,
                       struct clickhouse_error *e)
{
    bool strata = strata_layout(ch);
    struct writer w = {
        .ch = ch,
        .strata = strata,
        .columns = strata ? "tenant, fingerprint, labels, ts, line, meta_keys, meta_values, "
                            "batch_id, insert_id, seq"
                          : "tenant_id, label, timestamp, msg",
        /* Logthra's table has no commit marker: keep a batch in one INSERT (one part). */
        .per_request = strata ? (uint64_t)ch->cfg.batch_max_rows : CLICKHOUSE_MAX_BATCH_ROWS,
        .insert_id = insert_id,
        .cancel = cancel,
        .gr = gr,
        .e = e,
    };
    buf_init(&w.rows, ANSWER_MAX);
    arena_init(&w.a, 0);
    int rc = walk_rows(g, write_row, &w);
    if (rc && !e->message[0]) {
        snprintf(e->message, sizeof(e->message), "cannot read the rows to insert: %s",
                 strata_strerror(rc));
        e->rc = rc;
    }
    if (!rc && w.in_chunk)
        rc = insert(ch, ch->logs, w.columns, &w.rows, cancel, gr, e);
    if (!rc && strata)
        rc = insert_streams(&w);
    free(w.days);
    arena_release(&w.a);
    buf_release(&w.rows);
    return rc;
}

/* The commit: one INSERT of every batch's marker (a single part, visible at once). */
static int insert_markers(struct clickhouse *ch, struct group *g, uint64_t insert_id,
                          const volatile int *cancel, struct group_result *gr,
                          struct clickhouse_error *e)
{
    struct buf rows;
    buf_init(&rows, ANSWER_MAX);
    int rc = 0;
    for (size_t i = 0; i < g->n && !rc; i++) {
        const struct sub *s = &g->subs[i];
        if (s->state != SUB_PENDING)
            continue;
        rc = rowbinary_put_string(&rows, slice_from(s->tenant));
        rc = rc ? rc : rowbinary_put_u64(&rows, s->batch_id);
        rc = rc ? rc : rowbinary_put_u64(&rows, insert_id);
        rc = rc ? rc : rowbinary_put_i64(&rows, s->min_ts);
        rc = rc ? rc : rowbinary_put_i64(&rows, s->max_ts);
        rc = rc ? rc : rowbinary_put_u64(&rows, s->rows);
        rc = rc ? rc : rowbinary_put_u64(&rows, s->bytes);
        rc = rc ? rc : rowbinary_put_u64(&rows, s->wal_writer);
        rc = rc ? rc : rowbinary_put_u64(&rows, s->wal_seq);
    }
    if (!rc)
        rc = insert(ch, ch->batches,
                    "tenant, batch_id, insert_id, min_ts, max_ts, rows, bytes, wal_writer, wal_seq",
                    &rows, cancel, gr, e);
    buf_release(&rows);
    return rc;
}

/* One attempt at committing the pending batches of a group. */
static int try_group(struct clickhouse *ch, struct group *g, const volatile int *cancel,
                     struct group_result *gr, struct clickhouse_error *e)
{
    int rc = check_committed(ch, g, cancel, e);
    if (rc)
        return rc;
    size_t pending = 0;
    for (size_t i = 0; i < g->n; i++)
        pending += g->subs[i].state == SUB_PENDING;
    if (!pending)
        return 0;
    /* A fresh insert id per attempt: rows of a failed attempt never become visible. */
    uint64_t insert_id = next_insert_id(ch);
    if ((rc = insert_rows(ch, g, insert_id, cancel, gr, e)) < 0 ||
        (rc = insert_markers(ch, g, insert_id, cancel, gr, e)) < 0)
        return rc;
    for (size_t i = 0; i < g->n; i++)
        if (g->subs[i].state == SUB_PENDING) {
            g->subs[i].state = SUB_INSERTED;
            gr->rows += g->subs[i].rows;
        }
    return 0;
}

/* Commit a group of batches, retrying transient failures for budget_ns. */
static int send_group(struct clickhouse *ch, struct group *g, int64_t budget_ns,
                      const volatile int *cancel, struct group_result *gr, char *err, size_t errlen)
{
    struct clickhouse_backoff bo;
    clickhouse_backoff_init(&bo, budget_ns);
    struct clickhouse_error e;
    int rc;
    for (;;) {
        memset(&e, 0, sizeof(e));
        gr->attempts++;
        rc = try_group(ch, g, cancel, gr, &e);
        if (rc == 0 || !clickhouse_backoff_wait(&bo, &e, cancel))
            break;
        metric_inc(ch->m_retries, 1);
        log_warn("clickhouse: insert into %s failed (attempt %u), retrying: %s", ch->logs,
                 gr->attempts, e.message);
    }
    if (rc) {
        metric_inc(ch->m_failures, 1);
        fail(err, errlen, "insert into %s failed after %u attempt%s: %s", ch->logs, gr->attempts,
             gr->attempts == 1 ? "" : "s", e.message);
        return rc;
    }
    for (size_t i = 0; i < g->n; i++) {
        if (g->subs[i].state == SUB_INSERTED)
            metric_inc(ch->m_committed, 1);
        else if (g->subs[i].rows)
            metric_inc(ch->m_duplicates, 1);
    }
    metric_inc(ch->m_rows, gr->rows);
    return 0;
}

int clickhouse_tier_append(struct tier *t, const struct push_batch *b, uint64_t batch_id,
                           struct clickhouse_append_info *info, char *err, size_t errlen)
{
    struct clickhouse *ch = CH(t);
    struct sub s = {
        .tenant = b->tenant, .b = b, .batch_id = batch_id ? batch_id : clickhouse_batch_id(b)};
    struct group g = {.subs = &s, .n = 1};
    struct group_result gr = {0};
    int rc = prepare_sub(ch, &s, err, errlen);
    if (!rc)
        rc = send_group(ch, &g, ch->cfg.retry_max_time_ns, NULL, &gr, err, errlen);
    if (info) {
        info->rows = gr.rows;
        info->duplicate = rc == 0 && s.state == SUB_DUPLICATE && s.rows > 0;
        info->attempts = gr.attempts;
        info->requests = gr.requests;
    }
    return rc;
}

/* ---- submit: batches sharing INSERTs --------------------------------------- */

struct pending {
    struct pending *next;
    struct push_batch batch; /* a copy: the caller's batch may go away */
    uint64_t batch_id;
    clickhouse_done_fn done;
    void *arg;
    int64_t queued_ns; /* monotonic */
};

static void copy_batch(struct push_batch *dst, const struct push_batch *src)
{
    push_batch_init(dst, src->tenant);
    struct arena *a = &dst->arena;
    for (uint32_t i = 0; i < src->n_streams; i++) {
        const struct stream_batch *s = &src->streams[i];
        struct label *lv = arena_alloc(a, (s->n_labels ? s->n_labels : 1) * sizeof(*lv));
        for (uint32_t k = 0; k < s->n_labels; k++)
            lv[k] = (struct label){arena_slice_dup(a, s->labels[k].name),
                                   arena_slice_dup(a, s->labels[k].value)};
        uint32_t si = push_batch_stream(dst, lv, s->n_labels);
        for (uint32_t j = 0; j < s->n_entries; j++) {
            const struct entry *e = &s->entries[j];
            struct label *meta = NULL;
            if (e->n_meta) {
                meta = arena_alloc(a, e->n_meta * sizeof(*meta));
                for (uint32_t k = 0; k < e->n_meta; k++)
                    meta[k] = (struct label){arena_slice_dup(a, e->meta[k].name),
                                             arena_slice_dup(a, e->meta[k].value)};
            }
            push_batch_add(dst, si, e->ts, arena_slice_dup(a, e->line), meta, e->n_meta);
        }
    }
}

static void pending_free(struct pending *p)
{
    push_batch_release(&p->batch);
    free(p);
}

/* Send one group taken off the queue and tell every submitter how it went. */
static void send_pending(struct clickhouse *ch, struct pending *queued, size_t n, bool stopping)
{
    struct sub *subs = xcalloc(n ? n : 1, sizeof(*subs));
    int *rcs = xcalloc(n ? n : 1, sizeof(*rcs));
    struct pending **order = xcalloc(n ? n : 1, sizeof(*order));
    struct group g = {.subs = subs};
    size_t k = 0;
    for (struct pending *p = queued; p; p = p->next, k++) {
        order[k] = p;
        char err[512];
        struct sub s = {.tenant = p->batch.tenant, .b = &p->batch, .batch_id = p->batch_id};
        rcs[k] = prepare_sub(ch, &s, err, sizeof(err));
        if (rcs[k])
            log_error("clickhouse: refusing a batch of tenant %s: %s", p->batch.tenant, err);
        else
            subs[g.n++] = s;
    }
    int64_t budget = ch->cfg.retry_max_time_ns;
    if (stopping && budget > 5 * NS_PER_SEC)
        budget = 5 * NS_PER_SEC;
    struct group_result gr = {0};
    char err[1024];
    int rc = g.n ? send_group(ch, &g, budget, NULL, &gr, err, sizeof(err)) : 0;
    if (rc)
        log_error("clickhouse: %s", err);
    for (size_t i = 0; i < n; i++) {
        struct pending *p = order[i];
        if (p->done)
            p->done(p->arg, rcs[i] ? rcs[i] : rc);
        pending_free(p);
    }
    free(order);
    free(rcs);
    free(subs);
}

static void *sender_main(void *arg)
{
    struct clickhouse *ch = arg;
    uint64_t max_rows = (uint64_t)ch->cfg.batch_max_rows;
    pthread_mutex_lock(&ch->lock);
    for (;;) {
        struct pending *head = ch->queue_head;
        if (!head) {
            if (ch->stopping)
                break;
            pthread_cond_wait(&ch->cond, &ch->lock);
            continue;
        }
        int64_t due = head->queued_ns + ch->cfg.batch_max_wait_ns;
        if (!ch->stopping && ch->queued_rows < max_rows && clock_mono_ns() < due) {
            struct timespec ts = {(time_t)(due / NS_PER_SEC), (long)(due % NS_PER_SEC)};
            pthread_cond_timedwait(&ch->cond, &ch->lock, &ts);
            continue;
        }
        /* A group: queued batches up to batch-max-rows rows (at least one batch). */
        struct pending *group = head, *last = head;
        uint64_t rows = head->batch.n_entries;
        size_t n = 1;
        while (last->next && rows + last->next->batch.n_entries <= max_rows) {
            last = last->next;
            rows += last->batch.n_entries;
            n++;
        }
        ch->queue_head = last->next;
        if (!ch->queue_head)
            ch->queue_tail = NULL;
        last->next = NULL;
        ch->queued_rows -= rows;
        bool stopping = ch->stopping;
        pthread_mutex_unlock(&ch->lock);
        send_pending(ch, group, n, stopping);
        pthread_mutex_lock(&ch->lock);
    }
    pthread_mutex_unlock(&ch->lock);
    return NULL;
}

int clickhouse_tier_submit(struct tier *t, const struct push_batch *b, uint64_t batch_id,
                           clickhouse_done_fn done, void *arg)
{
    struct clickhouse *ch = CH(t);
    pthread_mutex_lock(&ch->lock);
    int rc = ch->stopping                                             ? STRATA_EUNAVAIL
             : ch->queued_rows > 8 * (uint64_t)ch->cfg.batch_max_rows ? STRATA_EBUSY
                                                                      : 0;
    pthread_mutex_unlock(&ch->lock);
    if (rc)
        return rc;
    struct pending *p = xcalloc(1, sizeof(*p));
    copy_batch(&p->batch, b);
    p->batch_id = batch_id ? batch_id : clickhouse_batch_id(b);
    p->done = done;
    p->arg = arg;
    p->queued_ns = clock_mono_ns();
    pthread_mutex_lock(&ch->lock);
    if (!ch->thread_started) {
        if (pthread_create(&ch->thread, NULL, sender_main, ch) != 0) {
            pthread_mutex_unlock(&ch->lock);
            pending_free(p);
            return STRATA_EINTERNAL;
        }
        ch->thread_started = true;
    }
    if (ch->queue_tail)
        ch->queue_tail->next = p;
    else
        ch->queue_head = p;
    ch->queue_tail = p;
    ch->queued_rows += p->batch.n_entries;
    pthread_cond_signal(&ch->cond);
    pthread_mutex_unlock(&ch->lock);
    return 0;
}

static void sender_stop(struct clickhouse *ch)
{
    pthread_mutex_lock(&ch->lock);
    ch->stopping = true;
    bool started = ch->thread_started;
    pthread_cond_signal(&ch->cond);
    pthread_mutex_unlock(&ch->lock);
    if (started)
        pthread_join(ch->thread, NULL);
    ch->thread_started = false;
}

/* ---- reading: streams ------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && a < 0);
}

/* The days [*lo, *hi] whose midnight lies in [start, end) (Logthra's day timestamps). */
static bool logthra_days(int64_t start, int64_t end, int64_t *lo, int64_t *hi)
{
    int64_t l = -floor_div(-start, DAY_NS), h = -floor_div(-end, DAY_NS) - 1;
    if (l < 0)
        l = 0;
    if (h > MAX_DAY)
        h = MAX_DAY;
    *lo = l;
    *hi = h;
    return l <= h;
}

/* Logthra keeps tenants in FixedString(10): a longer tenant has no data there. */
static bool tenant_fits(const struct clickhouse *ch, const char *tenant)
{
    return strata_layout(ch) || strlen(tenant) <= 10;
}

static void sql_tenant(struct sql *s, const struct clickhouse *ch, const char *tenant)
{
    if (strata_layout(ch)) {
        sql_add(s, "tenant = ");
        sql_quote(s, slice_from(tenant));
    } else {
        sql_add(s, "tenant_id = toFixedString(");
        sql_quote(s, slice_from(tenant));
        sql_add(s, ", 10)");
    }
}

/* The stream key ClickHouse groups by (see clickhouse_rows.h). */
static const char *sk_expr(const struct clickhouse *ch)
{
    return strata_layout(ch) ? "fingerprint" : "cityHash64(arraySort(label))";
}

/*
 * Append " AND <matcher>" for each matcher of sel that SQL evaluates exactly;
 * *all_pushed tells whether every one was.
 */
static void sql_matchers(struct sql *s, const struct clickhouse *ch, const struct selector *sel,
                         bool *all_pushed)
{
    *all_pushed = true;
    for (uint32_t i = 0; sel && i < sel->n && !s->rc; i++) {
        const struct matcher *m = &sel->m[i];
        struct buf expr;
        buf_init(&expr, ANSWER_MAX);
        int rc;
        if (strata_layout(ch)) {
            rc = buf_append_str(&expr, "label_values[indexOf(label_names, ");
            rc = rc ? rc : clickhouse_sql_quote(&expr, m->name);
            rc = rc ? rc : buf_append_str(&expr, ")]");
        } else {
            /* The value after "name:" in the label array, or "" when the label is missing. */
            struct buf prefix;
            buf_init(&prefix, ANSWER_MAX);
            rc = buf_append(&prefix, m->name.ptr, m->name.len);
            rc = rc ? rc : buf_append_char(&prefix, ':');
            rc = rc ? rc : buf_append_str(&expr, "substring(arrayFirst(x -> startsWith(x, ");
            rc = rc ? rc : clickhouse_sql_quote(&expr, buf_slice(&prefix));
            rc = rc ? rc : buf_printf(&expr, "), label), %zu)", prefix.len + 1);
            buf_release(&prefix);
        }
        if (rc) {
            s->rc = rc;
        } else {
            size_t mark = s->b.len;
            sql_add(s, " AND ");
            if (!s->rc && clickhouse_sql_matcher(&s->b, expr.ptr, m) < 0) {
                buf_truncate(&s->b, mark);
                *all_pushed = false;
            }
        }
        buf_release(&expr);
    }
}

static int cmp_stream_sk(const void *x, const void *y)
{
    const struct clickhouse_stream_row *a = x, *b = y;
    return a->sk < b->sk ? -1 : a->sk > b->sk;
}

/* The streams of the tenant that match q's selector and may have data in range, sorted by sk. */
struct candidates {
    struct clickhouse_stream_row *rows;
    uint32_t n;
    bool all_pushed; /* every matcher was evaluated by SQL */
};

static int find_streams(struct clickhouse *ch, const struct tier_query *q, struct arena *a,
                        struct candidates *out)
{
    memset(out, 0, sizeof(*out));
    out->all_pushed = true;
    if (q->start >= q->end || !tenant_fits(ch, q->tenant))
        return 0;
    struct sql s;
    sql_init(&s);
    if (strata_layout(ch)) {
        sql_add(&s,
                "SELECT fingerprint, any(labels), any(label_names), any(label_values) FROM %s "
                "WHERE ",
                ch->streams);
        sql_tenant(&s, ch, q->tenant);
        sql_add(&s, " AND day >= ");
        sql_day(&s, day_of(q->start));
        sql_add(&s, " AND day <= ");
        sql_day(&s, day_of(q->end - 1));
    } else {
        int64_t lo, hi;
        if (!logthra_days(q->start, q->end, &lo, &hi)) {
            sql_release(&s);
            return 0;
        }
        sql_add(&s, "SELECT %s AS sk, any(arraySort(label)) FROM %s WHERE ", sk_expr(ch), ch->logs);
        sql_tenant(&s, ch, q->tenant);
        sql_add(&s, " AND timestamp >= ");
        sql_day(&s, lo);
        sql_add(&s, " AND timestamp <= ");
        sql_day(&s, hi);
    }
    sql_matchers(&s, ch, q->sel, &out->all_pushed);
    sql_add(&s, " GROUP BY %s FORMAT RowBinary", strata_layout(ch) ? "fingerprint" : "sk");
    struct buf resp;
    buf_init(&resp, ANSWER_MAX);
    int rc = run_select(ch, &s, &resp, q->cancel);
    sql_release(&s);
    if (rc == 0) {
        /* The rows point into the answer: keep it in the query's arena. */
        struct slice data = arena_slice_dup(a, buf_slice(&resp));
        struct clickhouse_stream_row *rows;
        uint32_t n;
        rc = clickhouse_decode_streams(ch->cfg.layout, data, a, &rows, &n);
        if (rc)
            log_warn("clickhouse: malformed answer to the streams query from %s", ch->cfg.url);
        uint32_t w = 0;
        for (uint32_t i = 0; !rc && i < n; i++)
            if (!q->sel || selector_matches(q->sel, rows[i].labels, rows[i].n_labels))
                rows[w++] = rows[i];
        if (!rc && w > 1)
            qsort(rows, w, sizeof(*rows), cmp_stream_sk);
        out->rows = rows;
        out->n = rc ? 0 : w;
    }
    buf_release(&resp);
    return rc;
}

static const struct clickhouse_stream_row *candidate(const struct candidates *c, uint64_t sk)
{
    struct clickhouse_stream_row key = {.sk = sk};
    return bsearch(&key, c->rows, c->n, sizeof(*c->rows), cmp_stream_sk);
}

/* Rows come sorted by stream key: the end of the run of rows of sk[i]. */
static uint32_t run_end(const uint64_t *sk, uint32_t n, uint32_t i)
{
    uint32_t j = i;
    while (j < n && sk[j] == sk[i])
        j++;
    return j;
}

static void sql_in_candidates(struct sql *s, const struct clickhouse *ch,
                              const struct candidates *c)
{
    sql_add(s, " AND %s IN (", sk_expr(ch));
    for (uint32_t i = 0; i < c->n; i++)
        sql_add(s, "%s%llu", i ? ", " : "", (unsigned long long)c->rows[i].sk);
    sql_add(s, ")");
}

/* Append " AND batch_id NOT IN (...)" for the batches absorbed but not yet committed. */
static void sql_not_hidden(struct sql *s, struct clickhouse *ch)
{
    pthread_mutex_lock(&ch->hide_lock);
    for (size_t i = 0; i < ch->n_hidden; i++)
        sql_add(s, "%s%llu", i ? ", " : " AND batch_id NOT IN (",
                (unsigned long long)ch->hidden[i]);
    if (ch->n_hidden)
        sql_add(s, ")");
    pthread_mutex_unlock(&ch->hide_lock);
}

/*
 * The predicate every entry query of a read shares: tenant, time range, line
 * filters and (strata) the commit markers: only rows of committed attempts,
 * one attempt per batch, no attempt started after the read began (snapshot),
 * and no batch the head still shows (absorbed, not yet committed). The
 * filters of q are hints that SQL applies when it can evaluate them exactly;
 * with exact, every one must be (a count cannot be checked again):
 * STRATA_EUNSUPPORTED otherwise, and s is then unusable. Returns s->rc.
 */
static int sql_where(struct sql *s, struct clickhouse *ch, const struct tier_query *q,
                     uint64_t snapshot, bool exact)
{
    sql_tenant(s, ch, q->tenant);
    const char *line = strata_layout(ch) ? "line" : "msg";
    if (strata_layout(ch)) {
        sql_add(s, " AND ts >= %lld AND ts < %lld", (long long)q->start, (long long)q->end);
    } else {
        int64_t lo = 0, hi = -1;
        logthra_days(q->start, q->end, &lo, &hi);
        sql_add(s, " AND timestamp >= ");
        sql_day(s, lo);
        sql_add(s, " AND timestamp <= ");
        sql_day(s, hi < lo ? lo : hi);
        if (hi < lo)
            sql_add(s, " AND 0");
    }
    for (uint32_t i = 0; i < q->n_filters && !s->rc; i++) {
        size_t mark = s->b.len;
        sql_add(s, " AND ");
        int rc = s->rc ? s->rc : clickhouse_sql_line_filter(&s->b, line, &q->filters[i]);
        if (rc == STRATA_EUNSUPPORTED && !exact)
            buf_truncate(&s->b, mark); /* a hint SQL cannot take: Strata filters */
        else if (rc)
            s->rc = rc;
    }
    for (uint32_t i = 0; i < q->n_needles && !s->rc; i++) {
        bool dup = false; /* the same |= is among the filters already */
        for (uint32_t k = 0; k < q->n_filters && !dup; k++)
            dup = q->filters[k].op == TIER_LINE_CONTAINS &&
                  slice_eq(q->filters[k].pattern, q->needles[i]);
        if (dup)
            continue;
        struct tier_line_filter f = {TIER_LINE_CONTAINS, q->needles[i]};
        sql_add(s, " AND ");
        if (!s->rc)
            s->rc = clickhouse_sql_line_filter(&s->b, line, &f);
    }
    if (strata_layout(ch)) {
        sql_add(s, " AND (batch_id, insert_id) IN (SELECT batch_id, min(insert_id) FROM %s WHERE ",
                ch->batches);
        sql_tenant(s, ch, q->tenant);
        sql_add(s, " AND max_ts >= %lld AND min_ts < %lld AND insert_id <= %llu",
                (long long)q->start, (long long)q->end, (unsigned long long)snapshot);
        sql_not_hidden(s, ch);
        sql_add(s, " GROUP BY batch_id)");
    }
    return s->rc;
}

/* ---- reading: entries ------------------------------------------------------ */

/* What the cursors of one select share; lives in the query's arena. */
struct read_ctx {
    struct clickhouse *ch;
    const char *where; /* sql_where's predicate */
    bool backward, want_lines;
    const volatile int *cancel;
    struct tier_read_stats *stats;
    uint32_t page_max;
};

struct ch_cursor {
    struct tier_cursor base;
    const struct read_ctx *rd;
    uint64_t sk;
    struct clickhouse_entry_rows rows; /* the page being read */
    uint32_t pos;
    bool more;         /* the last page was full: there may be more */
    uint32_t page;     /* rows to ask for next */
    uint64_t consumed; /* rows read so far (logthra's next OFFSET) */
    int64_t last_ts;   /* strata: where the next page starts */
    uint64_t last_id;
    uint32_t last_seq;
    struct buf resp; /* pages after the first live here and in page_arena */
    struct arena page_arena;
};

static void count_read(const struct read_ctx *rd, size_t bytes, uint32_t rows)
{
    struct tier_read_stats *st = rd->stats;
    if (!st)
        return;
    __atomic_add_fetch(&st->blocks_total, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st->blocks_read, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st->bytes_read, bytes, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st->entries_read, rows, __ATOMIC_RELAXED);
}

static void sql_columns(struct sql *s, const struct clickhouse *ch, bool lines)
{
    if (strata_layout(ch))
        sql_add(s, "SELECT fingerprint, ts, insert_id, seq, length(line)%s",
                lines ? ", line, meta_keys, meta_values" : "");
    else
        sql_add(s, "SELECT %s, timestamp, length(msg)%s", sk_expr(ch), lines ? ", msg" : "");
}

static void sql_order(struct sql *s, const struct clickhouse *ch, bool backward)
{
    const char *d = backward ? " DESC" : "";
    if (strata_layout(ch))
        sql_add(s, "ts%s, insert_id%s, seq%s", d, d, d);
    else
        sql_add(s, "timestamp%s, msg%s", d, d);
}

/* Remember where the page ended, for the next one. */
static void cursor_mark_end(struct ch_cursor *c)
{
    if (c->rows.n == 0)
        return;
    uint32_t l = c->rows.n - 1;
    c->last_ts = c->rows.ts[l];
    c->last_id = c->rows.insert_id[l];
    c->last_seq = c->rows.seq[l];
    c->consumed += c->rows.n;
}

/* Fetch the next page of the cursor's stream. */
static int cursor_fetch(struct ch_cursor *c)
{
    const struct read_ctx *rd = c->rd;
    struct clickhouse *ch = rd->ch;
    bool strata = strata_layout(ch);
    int rc;
    for (;;) {
        struct sql s;
        sql_init(&s);
        sql_columns(&s, ch, rd->want_lines);
        sql_add(&s, " FROM %s WHERE %s AND %s = %llu", ch->logs, rd->where, sk_expr(ch),
                (unsigned long long)c->sk);
        if (strata) {
            const char *op = rd->backward ? "<" : ">";
            long long t = c->last_ts;
            sql_add(&s,
                    " AND ts %s= %lld AND (ts %s %lld OR (ts = %lld AND (insert_id %s %llu OR "
                    "(insert_id = %llu AND seq %s %u))))",
                    op, t, op, t, t, op, (unsigned long long)c->last_id,
                    (unsigned long long)c->last_id, op, c->last_seq);
        }
        sql_add(&s, " ORDER BY ");
        sql_order(&s, ch, rd->backward);
        if (strata)
            sql_add(&s, " LIMIT %u FORMAT RowBinary", c->page);
        else
            sql_add(&s, " LIMIT %llu, %u FORMAT RowBinary", (unsigned long long)c->consumed,
                    c->page);
        buf_reset(&c->resp);
        rc = run_select(ch, &s, &c->resp, rd->cancel);
        sql_release(&s);
        if (rc == STRATA_ETOOLARGE && c->page > 1) {
            c->page /= 2; /* long lines: ask for fewer */
            continue;
        }
        break;
    }
    if (rc)
        return rc;
    arena_release(&c->page_arena);
    rc = clickhouse_decode_entries(ch->cfg.layout, rd->want_lines, buf_slice(&c->resp),
                                   &c->page_arena, &c->rows);
    if (rc) {
        log_warn("clickhouse: malformed page of entries from %s", ch->cfg.url);
        return rc;
    }
    count_read(rd, c->resp.len, c->rows.n);
    c->pos = 0;
    c->more = c->rows.n == c->page;
    cursor_mark_end(c);
    if (c->page < rd->page_max)
        c->page = c->page * 4 < rd->page_max ? c->page * 4 : rd->page_max;
    return 0;
}

static int cursor_next(struct tier_cursor *base, struct entry_batch *out)
{
    struct ch_cursor *c = (struct ch_cursor *)base;
    if (tier_cancelled(c->rd->cancel))
        return STRATA_ECANCELED;
    if (c->pos >= c->rows.n) {
        if (!c->more)
            return 0;
        int rc = cursor_fetch(c);
        if (rc)
            return rc;
        if (c->rows.n == 0)
            return 0;
    }
    uint32_t take = c->rows.n - c->pos;
    if (take > CURSOR_BATCH)
        take = CURSOR_BATCH;
    out->n = take;
    out->ts = c->rows.ts + c->pos;
    out->sizes = c->rows.sizes + c->pos;
    out->lines = c->rows.lines ? c->rows.lines + c->pos : NULL;
    out->meta = c->rows.meta ? c->rows.meta + c->pos : NULL;
    c->pos += take;
    return 1;
}

static void cursor_close(struct tier_cursor *base)
{
    struct ch_cursor *c = (struct ch_cursor *)base;
    buf_release(&c->resp);
    arena_release(&c->page_arena);
}

static const struct tier_cursor_ops ch_cursor_ops = {cursor_next, cursor_close};

/* Rows [from, from + n) of a decoded page, without copying. */
static struct clickhouse_entry_rows rows_slice(const struct clickhouse_entry_rows *r, uint32_t from,
                                               uint32_t n)
{
    struct clickhouse_entry_rows o = {
        .n = n,
        .sk = r->sk + from,
        .ts = r->ts + from,
        .insert_id = r->insert_id + from,
        .seq = r->seq + from,
        .sizes = r->sizes + from,
        .lines = r->lines ? r->lines + from : NULL,
        .meta = r->meta ? r->meta + from : NULL,
    };
    return o;
}

static struct tier_stream stream_of(const struct clickhouse_stream_row *r)
{
    struct tier_stream ts = {
        .fp = r->fp, .labels = r->labels, .n_labels = r->n_labels, .key = r->key};
    return ts;
}

static int count_select(struct clickhouse *ch, const struct tier_query *q, struct arena *a,
                        tier_stream_fn fn, void *arg);

static int clickhouse_select(struct tier *t, const struct tier_query *q, struct arena *a,
                             tier_stream_fn fn, void *arg)
{
    struct clickhouse *ch = CH(t);
    if (q->count) {
        int crc = count_select(ch, q, a, fn, arg);
        if (crc != STRATA_EUNSUPPORTED)
            return crc;
    }
    uint64_t snapshot = next_insert_id(ch);
    struct candidates cands;
    int rc = find_streams(ch, q, a, &cands);
    if (rc || cands.n == 0)
        return rc;
    struct read_ctx *rd = arena_calloc(a, 1, sizeof(*rd));
    rd->ch = ch;
    rd->backward = q->backward;
    rd->want_lines = q->want_lines;
    rd->cancel = q->cancel;
    rd->stats = q->stats;
    rd->page_max = q->want_lines ? PAGE_MAX_LINES : PAGE_MAX_TS;
    struct sql w;
    sql_init(&w);
    sql_where(&w, ch, q, snapshot, false);
    if (w.rc) {
        rc = w.rc;
        sql_release(&w);
        return rc;
    }
    rd->where = arena_strndup(a, w.b.ptr, w.b.len);
    sql_release(&w);

    /* The first page of every stream in one query: LIMIT n BY stream. */
    uint32_t budget = q->want_lines ? FIRST_PAGE_BUDGET_LINES : FIRST_PAGE_BUDGET_TS;
    uint32_t per_stream = budget / cands.n;
    /* A log query with a limit rarely reads more of a stream: a first page of that size. */
    if (q->limit_hint && q->limit_hint < per_stream)
        per_stream = q->limit_hint;
    per_stream = per_stream < 16 ? 16 : per_stream > rd->page_max ? rd->page_max : per_stream;
    struct buf resp;
    buf_init(&resp, ANSWER_MAX);
    for (;;) {
        struct sql s;
        sql_init(&s);
        sql_columns(&s, ch, q->want_lines);
        sql_add(&s, " FROM %s WHERE %s", ch->logs, rd->where);
        sql_in_candidates(&s, ch, &cands);
        sql_add(&s, " ORDER BY %s, ", sk_expr(ch));
        sql_order(&s, ch, q->backward);
        sql_add(&s, " LIMIT %u BY %s FORMAT RowBinary", per_stream, sk_expr(ch));
        buf_reset(&resp);
        rc = run_select(ch, &s, &resp, q->cancel);
        sql_release(&s);
        if (rc == STRATA_ETOOLARGE && per_stream > 1) {
            per_stream /= 2;
            continue;
        }
        break;
    }
    struct clickhouse_entry_rows rows = {0};
    if (rc == 0) {
        struct slice data = arena_slice_dup(a, buf_slice(&resp));
        rc = clickhouse_decode_entries(ch->cfg.layout, q->want_lines, data, a, &rows);
        if (rc)
            log_warn("clickhouse: malformed page of entries from %s", ch->cfg.url);
        else
            count_read(rd, resp.len, rows.n);
    }
    buf_release(&resp);
    /* Rows come grouped by stream: one cursor per group. */
    for (uint32_t i = 0, j; rc == 0 && i < rows.n; i = j) {
        j = run_end(rows.sk, rows.n, i);
        const struct clickhouse_stream_row *cand = candidate(&cands, rows.sk[i]);
        if (cand) {
            struct ch_cursor *c = arena_calloc(a, 1, sizeof(*c));
            c->base.ops = &ch_cursor_ops;
            c->rd = rd;
            c->sk = rows.sk[i];
            c->rows = rows_slice(&rows, i, j - i);
            c->more = j - i == per_stream;
            c->page = per_stream * 4 < rd->page_max ? per_stream * 4 : rd->page_max;
            buf_init(&c->resp, ANSWER_MAX);
            arena_init(&c->page_arena, 0);
            cursor_mark_end(c);
            struct tier_stream ts = stream_of(cand);
            ts.cursor = &c->base;
            int frc = fn(arg, &ts);
            if (frc)
                return frc < 0 ? frc : 0;
        }
    }
    return rc;
}

/* ---- reading: series, stats, labels ---------------------------------------- */

/* The candidates with entries in range (strata: the label index is per day). */
static int streams_in_range(struct clickhouse *ch, const struct tier_query *q, struct arena *a,
                            struct candidates *c)
{
    int rc = find_streams(ch, q, a, c);
    if (rc || c->n == 0 || !strata_layout(ch))
        return rc; /* Logthra's candidates come from the rows themselves, by day. */
    struct sql s;
    sql_init(&s);
    sql_add(&s, "SELECT DISTINCT fingerprint FROM %s WHERE ", ch->logs);
    struct tier_query nq = *q;
    nq.n_needles = nq.n_filters = 0;
    nq.count = NULL;
    sql_where(&s, ch, &nq, next_insert_id(ch), false);
    sql_in_candidates(&s, ch, c);
    sql_add(&s, " ORDER BY fingerprint FORMAT RowBinary");
    struct buf resp;
    buf_init(&resp, ANSWER_MAX);
    rc = run_select(ch, &s, &resp, q->cancel);
    sql_release(&s);
    uint64_t *keys = NULL;
    uint32_t n = 0;
    if (rc == 0 && (rc = clickhouse_decode_keys(buf_slice(&resp), a, &keys, &n)) < 0)
        log_warn("clickhouse: malformed list of streams from %s", ch->cfg.url);
    buf_release(&resp);
    if (rc)
        return rc;
    /* Both lists are sorted by fingerprint: keep the candidates found. */
    uint32_t w = 0, k = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        while (k < n && keys[k] < c->rows[i].sk)
            k++;
        if (k < n && keys[k] == c->rows[i].sk)
            c->rows[w++] = c->rows[i];
    }
    c->n = w;
    return 0;
}

static int clickhouse_series(struct tier *t, const struct tier_query *q, struct arena *a,
                             tier_stream_fn fn, void *arg)
{
    struct candidates c;
    int rc = streams_in_range(CH(t), q, a, &c);
    for (uint32_t i = 0; !rc && i < c.n; i++) {
        struct tier_stream ts = stream_of(&c.rows[i]);
        int frc = fn(arg, &ts);
        if (frc)
            return frc < 0 ? frc : 0;
    }
    return rc;
}

static int clickhouse_stats(struct tier *t, const struct tier_query *q, struct tier_stats *out)
{
    struct clickhouse *ch = CH(t);
    struct arena a;
    arena_init(&a, 0);
    struct candidates c;
    int rc = find_streams(ch, q, &a, &c);
    if (rc || c.n == 0) {
        arena_release(&a);
        return rc;
    }
    struct sql s;
    sql_init(&s);
    if (strata_layout(ch))
        sql_add(&s,
                "SELECT uniqExact(fingerprint), uniqExact(fingerprint, insert_id), count(), "
                "sum(length(line)) FROM %s WHERE ",
                ch->logs);
    else
        sql_add(&s,
                "SELECT uniqExact(%s), uniqExact(%s, timestamp), count(), sum(length(msg)) FROM "
                "%s WHERE ",
                sk_expr(ch), sk_expr(ch), ch->logs);
    struct tier_query nq = *q;
    nq.n_needles = nq.n_filters = 0;
    nq.count = NULL;
    sql_where(&s, ch, &nq, next_insert_id(ch), false);
    sql_in_candidates(&s, ch, &c);
    sql_add(&s, " FORMAT RowBinary");
    struct buf resp;
    buf_init(&resp, 4096);
    rc = run_select(ch, &s, &resp, q->cancel);
    sql_release(&s);
    if (rc == 0) {
        struct rowbinary_reader r;
        rowbinary_reader_init(&r, buf_slice(&resp));
        uint64_t streams = rowbinary_u64(&r), chunks = rowbinary_u64(&r),
                 entries = rowbinary_u64(&r), bytes = rowbinary_u64(&r);
        if (!rowbinary_done(&r)) {
            log_warn("clickhouse: malformed statistics from %s", ch->cfg.url);
            rc = STRATA_ECORRUPT;
        } else {
            out->streams += streams;
            out->chunks += chunks;
            out->entries += entries;
            out->bytes += bytes;
        }
    }
    buf_release(&resp);
    arena_release(&a);
    return rc;
}

static int cmp_slice(const void *x, const void *y)
{
    return slice_cmp(*(const struct slice *)x, *(const struct slice *)y);
}

/* Sort and deduplicate in place. */
static uint32_t sort_unique(struct slice *v, uint32_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_slice);
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++)
        if (w == 0 || !slice_eq(v[w - 1], v[i]))
            v[w++] = v[i];
    return w;
}

/*
 * Label names (name.ptr NULL) or the values of one label. Without a selector
 * ClickHouse answers alone; with one, the matching series are listed and
 * their labels collected (the selector may need Strata's regexes).
 */
static int label_query(struct clickhouse *ch, const struct tier_query *q, struct slice name,
                       struct arena *a, struct slice **out, uint32_t *n)
{
    *out = NULL;
    *n = 0;
    bool values = name.ptr != NULL;
    if (q->sel && q->sel->n) {
        struct candidates c;
        int rc = streams_in_range(ch, q, a, &c);
        if (rc)
            return rc;
        uint32_t cap = 0;
        for (uint32_t i = 0; i < c.n; i++)
            cap += c.rows[i].n_labels;
        struct slice *v = arena_alloc(a, (cap ? cap : 1) * sizeof(*v));
        uint32_t k = 0;
        for (uint32_t i = 0; i < c.n; i++)
            for (uint32_t j = 0; j < c.rows[i].n_labels; j++) {
                const struct label *l = &c.rows[i].labels[j];
                if (!values)
                    v[k++] = l->name;
                else if (slice_eq(l->name, name))
                    v[k++] = l->value;
            }
        *out = v;
        *n = sort_unique(v, k);
        return 0;
    }
    if (q->start >= q->end || !tenant_fits(ch, q->tenant))
        return 0;
    struct sql s;
    sql_init(&s);
    struct tier_query nq = *q;
    nq.n_needles = nq.n_filters = 0;
    nq.count = NULL;
    if (strata_layout(ch)) {
        if (values) {
            sql_add(&s, "SELECT DISTINCT label_values[indexOf(label_names, ");
            sql_quote(&s, name);
            sql_add(&s, ")] FROM %s WHERE has(label_names, ", ch->streams);
            sql_quote(&s, name);
            sql_add(&s, ") AND ");
        } else {
            sql_add(&s, "SELECT DISTINCT arrayJoin(label_names) FROM %s WHERE ", ch->streams);
        }
        sql_tenant(&s, ch, q->tenant);
        sql_add(&s, " AND day >= ");
        sql_day(&s, day_of(q->start));
        sql_add(&s, " AND day <= ");
        sql_day(&s, day_of(q->end - 1));
        sql_add(&s, " AND fingerprint IN (SELECT fingerprint FROM %s WHERE ", ch->logs);
        sql_where(&s, ch, &nq, next_insert_id(ch), false);
        sql_add(&s, ")");
    } else {
        if (values) {
            struct buf prefix;
            buf_init(&prefix, ANSWER_MAX);
            if (buf_append(&prefix, name.ptr, name.len) < 0 || buf_append_char(&prefix, ':') < 0)
                s.rc = STRATA_ETOOLARGE;
            sql_add(&s, "SELECT DISTINCT substring(x, %zu) FROM %s ARRAY JOIN label AS x WHERE ",
                    prefix.len + 1, ch->logs);
            sql_where(&s, ch, &nq, 0, false);
            sql_add(&s, " AND startsWith(x, ");
            sql_quote(&s, buf_slice(&prefix));
            sql_add(&s, ")");
            buf_release(&prefix);
        } else {
            sql_add(&s,
                    "SELECT DISTINCT if(position(x, ':') > 0, substring(x, 1, position(x, ':') - "
                    "1), x) FROM %s ARRAY JOIN label AS x WHERE ",
                    ch->logs);
            sql_where(&s, ch, &nq, 0, false);
        }
    }
    sql_add(&s, " FORMAT RowBinary");
    struct buf resp;
    buf_init(&resp, ANSWER_MAX);
    int rc = run_select(ch, &s, &resp, q->cancel);
    sql_release(&s);
    if (rc == 0) {
        struct slice data = arena_slice_dup(a, buf_slice(&resp));
        if ((rc = clickhouse_decode_strings(data, a, out, n)) < 0)
            log_warn("clickhouse: malformed list of labels from %s", ch->cfg.url);
        else
            *n = sort_unique(*out, *n);
    }
    buf_release(&resp);
    return rc;
}

int clickhouse_tier_label_names(struct tier *t, const struct tier_query *q, struct arena *a,
                                struct slice **out, uint32_t *n)
{
    return label_query(CH(t), q, (struct slice){NULL, 0}, a, out, n);
}

int clickhouse_tier_label_values(struct tier *t, const struct tier_query *q, struct slice name,
                                 struct arena *a, struct slice **out, uint32_t *n)
{
    if (!name.ptr)
        name.ptr = "";
    return label_query(CH(t), q, name, a, out, n);
}

/* ---- counting push-down ---------------------------------------------------- */

/*
 * A counting query (tier.h, struct tier_count) answered in SQL: entries per
 * stream (and metadata, with want_meta) and bucket, GROUP BY in ClickHouse.
 * STRATA_EUNSUPPORTED when a filter cannot be evaluated exactly: the caller
 * then returns cursors.
 */
static int count_select(struct clickhouse *ch, const struct tier_query *q, struct arena *a,
                        tier_stream_fn fn, void *arg)
{
    const struct tier_count *tc = q->count;
    if (tc->width <= 0 || tc->n_buckets == 0)
        return STRATA_EUNSUPPORTED;
    /* Only the buckets' span of [start, end) counts. */
    struct tier_query nq = *q;
    __int128 span_end = (__int128)tc->origin + (__int128)tc->width * tc->n_buckets;
    if (nq.start < tc->origin)
        nq.start = tc->origin;
    if ((__int128)nq.end > span_end)
        nq.end = (int64_t)span_end;
    bool strata = strata_layout(ch), meta = strata && tc->want_meta;
    const char *ts = strata ? "ts" : "toInt64(toUInt16(timestamp)) * 86400000000000";
    struct sql s;
    sql_init(&s);
    sql_add(&s,
            "SELECT %s AS sk, toUInt32(intDiv(%s - %lld, %lld)) AS b, count(), %s%s FROM %s "
            "WHERE ",
            sk_expr(ch), ts, (long long)tc->origin, (long long)tc->width,
            !tc->want_bytes ? "toUInt64(0)"
            : strata        ? "toUInt64(sum(length(line)))"
                            : "toUInt64(sum(length(msg)))",
            meta ? ", meta_keys, meta_values" : "", ch->logs);
    int rc = sql_where(&s, ch, &nq, next_insert_id(ch), true);
    struct candidates c;
    if (!rc && ((rc = find_streams(ch, &nq, a, &c)) < 0 || c.n == 0)) {
        sql_release(&s);
        return rc;
    }
    if (rc) {
        sql_release(&s);
        return rc;
    }
    sql_in_candidates(&s, ch, &c);
    const char *by = meta ? ", meta_keys, meta_values" : "";
    sql_add(&s, " GROUP BY sk, b%s ORDER BY sk%s, b FORMAT RowBinary", by, by);
    struct buf resp;
    buf_init(&resp, ANSWER_MAX);
    rc = run_select(ch, &s, &resp, q->cancel);
    sql_release(&s);
    struct clickhouse_count_rows rows = {0};
    if (rc == 0) {
        struct slice data = arena_slice_dup(a, buf_slice(&resp));
        if ((rc = clickhouse_decode_counts(meta, data, a, &rows)) < 0)
            log_warn("clickhouse: malformed counts from %s", ch->cfg.url);
    }
    buf_release(&resp);
    /* Rows come grouped by stream and metadata: one answer per group. */
    for (uint32_t i = 0, j; rc == 0 && i < rows.n; i = j) {
        struct slice mi = rows.meta ? rows.meta[i] : slice_make("", 0);
        uint64_t entries = 0;
        for (j = i; j < rows.n && rows.sk[j] == rows.sk[i]; j++) {
            if (rows.meta && !slice_eq(rows.meta[j], mi))
                break;
            if (rows.bucket[j] >= tc->n_buckets || (j > i && rows.bucket[j] <= rows.bucket[j - 1]))
                rc = STRATA_ECORRUPT;
            entries += rows.count[j];
        }
        if (rc) {
            log_warn("clickhouse: counts from %s out of order or range", ch->cfg.url);
            break;
        }
        const struct clickhouse_stream_row *cand = candidate(&c, rows.sk[i]);
        if (!cand)
            continue;
        struct tier_counts *tcs = arena_calloc(a, 1, sizeof(*tcs));
        tcs->meta = mi;
        tcs->n = j - i;
        tcs->bucket = rows.bucket + i;
        tcs->entries = rows.count + i;
        tcs->bytes = tc->want_bytes ? rows.bytes + i : NULL;
        if (q->stats)
            __atomic_add_fetch(&q->stats->entries_read, entries, __ATOMIC_RELAXED);
        struct tier_stream st = stream_of(cand);
        st.counts = tcs;
        int frc = fn(arg, &st);
        if (frc)
            return frc < 0 ? frc : 0;
    }
    return rc;
}

/* ---- the chain: the head's hand-over -------------------------------------- */

/* Hide (or show again) batches from reads: absorbed, but the head still shows them. */
static void hide(struct clickhouse *ch, const uint64_t *ids, size_t n, bool hidden)
{
    pthread_mutex_lock(&ch->hide_lock);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < ch->n_hidden && ch->hidden[k] != ids[i])
            k++;
        if (hidden && k == ch->n_hidden) {
            if (ch->n_hidden == ch->cap_hidden) {
                ch->cap_hidden = ch->cap_hidden ? ch->cap_hidden * 2 : 16;
                ch->hidden = xreallocarray(ch->hidden, ch->cap_hidden, sizeof(*ch->hidden));
            }
            ch->hidden[ch->n_hidden++] = ids[i];
        } else if (!hidden && k < ch->n_hidden) {
            ch->hidden[k] = ch->hidden[--ch->n_hidden];
        }
    }
    pthread_mutex_unlock(&ch->hide_lock);
}

/* The batch id of one tenant's share of a hand-over: the same whenever it is handed over again. */
static uint64_t handover_batch_id(uint64_t writer, uint64_t seq, const char *tenant)
{
    uint64_t v[2] = {writer, seq};
    uint64_t h = hash_slice(slice_from(tenant), hash64_seed(v, sizeof(v), 0x5374726174614857ULL));
    return h ? h : 1;
}

/* The tenants of a hand-over, one sub each, with their totals. */
struct tenant_walk {
    struct clickhouse *ch;
    uint64_t seq;
    struct sub *subs;
    size_t n, cap;
    struct arena a;
};

static int handover_tenant(void *arg, const struct handover_stream *hs)
{
    struct tenant_walk *w = arg;
    struct sub *s = w->n ? &w->subs[w->n - 1] : NULL;
    if (!s || strcmp(s->tenant, hs->tenant)) { /* streams come grouped by tenant */
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 8;
            w->subs = xreallocarray(w->subs, w->cap, sizeof(*w->subs));
        }
        s = &w->subs[w->n++];
        memset(s, 0, sizeof(*s));
        s->tenant = arena_strdup(&w->a, hs->tenant);
        s->wal_writer = w->ch->writer;
        s->wal_seq = w->seq;
        s->batch_id = handover_batch_id(w->ch->writer, w->seq, s->tenant);
    }
    if (hs->entries) {
        if (!s->rows || hs->min_ts < s->min_ts)
            s->min_ts = hs->min_ts;
        if (!s->rows || hs->max_ts > s->max_ts)
            s->max_ts = hs->max_ts;
        s->rows += hs->entries;
        s->bytes += hs->bytes;
    }
    return 0;
}

/* What absorb hands to commit: the batches to show. */
struct absorbed {
    size_t n;
    uint64_t ids[];
};

static int clickhouse_absorb(struct tier *t, struct handover *h)
{
    struct clickhouse *ch = CH(t);
    struct tenant_walk w = {.ch = ch, .seq = h->seq};
    arena_init(&w.a, 0);
    char err[1024] = "";
    int rc = h->each(h, handover_tenant, &w);
    if (rc)
        snprintf(err, sizeof(err), "cannot read the generation: %s", strata_strerror(rc));
    for (size_t i = 0; i < w.n && !rc; i++)
        rc = prepare_sub(ch, &w.subs[i], err, sizeof(err));
    struct absorbed *ab = xmalloc(sizeof(*ab) + (w.n ? w.n : 1) * sizeof(uint64_t));
    ab->n = w.n;
    for (size_t i = 0; i < w.n; i++)
        ab->ids[i] = w.subs[i].batch_id;
    /* Hidden before the first row is written: a query never sees them in both tiers. */
    hide(ch, ab->ids, ab->n, true);
    struct group g = {.subs = w.subs, .n = w.n, .h = h};
    struct group_result gr = {0};
    if (!rc) {
        /* While the store stops, a short last try that a stop does not cut short. */
        bool stopping = ch->stop && __atomic_load_n(ch->stop, __ATOMIC_RELAXED);
        int64_t budget = ch->cfg.retry_max_time_ns;
        if (stopping && budget > STOPPING_RETRY_NS)
            budget = STOPPING_RETRY_NS;
        rc = send_group(ch, &g, budget, stopping ? NULL : ch->stop, &gr, err, sizeof(err));
    }
    if (rc) {
        log_error("clickhouse: cannot take WAL segments up to %llu from the head (%llu entries); "
                  "they stay in memory and in the WAL: %s",
                  (unsigned long long)h->seq, (unsigned long long)h->entries, err);
        free(ab);
    } else {
        uint64_t d = __atomic_load_n(&ch->durable_seq, __ATOMIC_RELAXED);
        while (h->seq > d && !__atomic_compare_exchange_n(&ch->durable_seq, &d, h->seq, false,
                                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        if (!gr.rows && h->entries)
            log_info("clickhouse: WAL segments up to %llu were in ClickHouse already (a replay); "
                     "nothing written",
                     (unsigned long long)h->seq);
        free(h->taker);
        h->taker = ab;
    }
    free(w.subs);
    arena_release(&w.a);
    return rc;
}

static void clickhouse_commit(struct tier *t, struct handover *h)
{
    struct absorbed *ab = h->taker;
    if (!ab)
        return;
    hide(CH(t), ab->ids, ab->n, false);
    free(ab);
    h->taker = NULL;
}

static uint64_t clickhouse_durable_seq(struct tier *t)
{
    return __atomic_load_n(&CH(t)->durable_seq, __ATOMIC_RELAXED);
}

/*
 * The data directory's writer id: <dir>/clickhouse-writer, one line
 * "strata-clickhouse-writer 1 <16 hex digits>\n", created with a random id
 * the first time and never changed. Hand-overs carry it, so that batches of
 * two Strata processes writing into the same tables never share an id.
 */
#define WRITER_FILE "clickhouse-writer"

static int writer_id(const char *dir, uint64_t *out, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, WRITER_FILE);
    FILE *f = fopen(path, "r");
    if (f) {
        char line[128] = "";
        unsigned version = 0;
        unsigned long long id = 0;
        char *ok = fgets(line, sizeof(line), f);
        fclose(f);
        if (!ok || sscanf(line, "strata-clickhouse-writer %u %16llx", &version, &id) != 2 ||
            version != 1 || id == 0) {
            fail(err, errlen,
                 "%s is damaged: it holds the id under which this data directory's WAL is "
                 "handed to ClickHouse. Restore it (deleting it can duplicate entries a crash "
                 "left in the WAL)",
                 path);
            return STRATA_ECORRUPT;
        }
        *out = id;
        return 0;
    }
    if (errno != ENOENT) {
        fail(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return STRATA_EIO;
    }
    uint64_t id = random_id();
    char line[64];
    int n = snprintf(line, sizeof(line), "strata-clickhouse-writer 1 %016llx\n",
                     (unsigned long long)id);
    if (fsio_write_atomic(dir, WRITER_FILE, line, (size_t)n) < 0) {
        fail(err, errlen, "cannot write %s: %s", path, strerror(fsio_last_errno()));
        return STRATA_EIO;
    }
    *out = id;
    return 0;
}

int clickhouse_tier_bind_store(struct tier *t, const char *data_dir, const volatile int *stop,
                               char *err, size_t errlen)
{
    struct clickhouse *ch = CH(t);
    uint64_t writer;
    int rc = writer_id(data_dir, &writer, err, errlen);
    if (rc)
        return rc;
    struct sql s;
    sql_init(&s);
    sql_add(&s, "SELECT max(wal_seq) FROM %s WHERE wal_writer = %llu FORMAT RowBinary", ch->batches,
            (unsigned long long)writer);
    struct buf out;
    buf_init(&out, 4096);
    struct clickhouse_error e;
    rc = s.rc ? s.rc
              : run(ch, s.b.ptr, slice_make("", 0), SELECT_SETTINGS, &out, NULL, READ_RETRY_NS, &e);
    sql_release(&s);
    struct arena a;
    arena_init(&a, 0);
    uint64_t *v = NULL;
    uint32_t n = 0;
    if (rc)
        fail(err, errlen, "cannot read what ClickHouse holds of this WAL: %s", e.message);
    else if (clickhouse_decode_keys(buf_slice(&out), &a, &v, &n) < 0 || n != 1) {
        fail(err, errlen, "ClickHouse at %s sent a malformed answer for the WAL position",
             ch->cfg.url);
        rc = STRATA_ECORRUPT;
    } else {
        ch->writer = writer;
        ch->stop = stop;
        __atomic_store_n(&ch->durable_seq, v[0], __ATOMIC_RELAXED);
        log_info("clickhouse: this data directory writes as %016llx; ClickHouse holds its WAL up "
                 "to segment %llu",
                 (unsigned long long)writer, (unsigned long long)v[0]);
    }
    arena_release(&a);
    buf_release(&out);
    return rc;
}

static int clickhouse_ready(struct tier *t, char *err, size_t errlen)
{
    return clickhouse_tier_ping(t, err, errlen);
}

/*
 * What the tables hold, for the status page and /metrics: parts, rows and
 * bytes on disk from system.parts (rows of failed attempts included), the
 * label index's streams, and days as the time range. Cached a few seconds.
 */
static int clickhouse_usage(struct tier *t, struct tier_usage *out)
{
    struct clickhouse *ch = CH(t);
    pthread_mutex_lock(&ch->usage_lock);
    int64_t now = clock_mono_ns();
    if (ch->usage_at && now - ch->usage_at < USAGE_CACHE_NS) {
        *out = ch->usage;
        int rc = ch->usage_rc;
        pthread_mutex_unlock(&ch->usage_lock);
        return rc;
    }
    struct sql s;
    sql_init(&s);
    sql_add(&s, "SELECT count(), sum(rows), sum(bytes_on_disk), toUInt16(min(min_date)), "
                "toUInt16(max(max_date)), ");
    if (strata_layout(ch))
        sql_add(&s, "(SELECT uniqExact(tenant, fingerprint) FROM %s), (SELECT sum(bytes) FROM %s)",
                ch->streams, ch->batches);
    else
        sql_add(&s, "toUInt64(0), toUInt64(0)");
    sql_add(&s, " FROM system.parts WHERE active AND database = ");
    sql_quote(&s, slice_from(ch->cfg.database));
    sql_add(&s, " AND table = ");
    sql_quote(&s, slice_from(ch->cfg.table));
    sql_add(&s, " FORMAT RowBinary");
    struct buf resp;
    buf_init(&resp, 4096);
    struct clickhouse_error e;
    int rc = s.rc ? s.rc : run(ch, s.b.ptr, slice_make("", 0), SELECT_SETTINGS, &resp, NULL, 0, &e);
    sql_release(&s);
    struct tier_usage u = {0};
    if (rc == 0) {
        struct rowbinary_reader r;
        rowbinary_reader_init(&r, buf_slice(&resp));
        u.parts = rowbinary_u64(&r);
        u.entries = rowbinary_u64(&r);
        u.disk_bytes = rowbinary_u64(&r);
        int64_t lo = rowbinary_u16(&r), hi = rowbinary_u16(&r);
        u.streams = rowbinary_u64(&r);
        u.bytes = rowbinary_u64(&r);
        if (!rowbinary_done(&r)) {
            rc = STRATA_ECORRUPT;
            memset(&u, 0, sizeof(u));
        } else if (u.entries) {
            u.min_ts = lo * DAY_NS;
            u.max_ts = (hi + 1) * DAY_NS - 1;
        }
    }
    buf_release(&resp);
    ch->usage = u;
    ch->usage_rc = rc;
    ch->usage_at = clock_mono_ns();
    *out = u;
    pthread_mutex_unlock(&ch->usage_lock);
    return rc;
}

static const struct tier_ops clickhouse_ops = {
    .name = "clickhouse",
    .select = clickhouse_select,
    .series = clickhouse_series,
    .stats = clickhouse_stats,
    .flush = NULL,
    .close = clickhouse_close,
    .absorb = clickhouse_absorb,
    .commit = clickhouse_commit,
    .durable_seq = clickhouse_durable_seq,
    .usage = clickhouse_usage,
    .ready = clickhouse_ready,
};
