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

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/metrics.h"
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
};

static const struct column logs_columns[] = {
    {"tenant", "String"},
    {"fingerprint", "UInt64"},
    {"labels", "String"},
    {"ts", "Int64"},
    {"line", "String"},
    {"meta_keys", "Array(String)"},
    {"meta_values", "Array(String)"},
    {"batch_id", "UInt64"},
    {"insert_id", "UInt64"},
    {"seq", "UInt32"},
};
static const struct column streams_columns[] = {
    {"tenant", "String"},
    {"day", "Date"},
    {"fingerprint", "UInt64"},
    {"labels", "String"},
    {"label_names", "Array(String)"},
    {"label_values", "Array(String)"},
};
static const struct column batches_columns[] = {
    {"tenant", "String"}, {"batch_id", "UInt64"},    {"insert_id", "UInt64"},
    {"min_ts", "Int64"},  {"max_ts", "Int64"},       {"rows", "UInt64"},
    {"bytes", "UInt64"},  {"committed", "DateTime"},
};
static const struct column logthra_columns[] = {
    {"tenant_id", "FixedString(10)"},
    {"label", "Array(String)"},
    {"timestamp", "Date"},
    {"msg", "String"},
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
    for (size_t i = 0; !rc && i < t->n_cols; i++) {
        char want[128];
        snprintf(want, sizeof(want), "%s %s", t->cols[i].name, t->cols[i].type);
        bool found = false;
        for (uint32_t k = 0; k < n_have && !found; k++)
            found = slice_eq_str(have[k], want);
        if (!found) {
            fail(err, errlen,
                 "table %s exists but has no column %s of type %s, which the %s layout needs "
                 "(choose another --clickhouse.table or --clickhouse.layout)",
                 t->name, t->cols[i].name, t->cols[i].type, clickhouse_layout_name(ch->cfg.layout));
            rc = STRATA_EINVAL;
        }
    }
    if (rc == STRATA_ECORRUPT)
        fail(err, errlen, "ClickHouse at %s sent a malformed list of columns", ch->cfg.url);
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

/* One batch of a group being inserted. */
enum sub_state { SUB_PENDING, SUB_INSERTED, SUB_DUPLICATE };

struct sub {
    const struct push_batch *b;
    uint64_t batch_id;
    enum sub_state state;
    int64_t min_ts, max_ts;
    uint64_t rows, bytes;
};

/* Totals of a group, and the attempts it took. */
struct group_result {
    uint64_t rows;
    uint32_t attempts, requests;
};

/* The most bytes of rows in one INSERT request (besides --clickhouse.batch-max-rows). */
#define CHUNK_BYTES ((size_t)64 << 20)

static int prepare_sub(struct clickhouse *ch, struct sub *s, char *err, size_t errlen)
{
    const struct push_batch *b = s->b;
    s->min_ts = INT64_MAX;
    s->max_ts = INT64_MIN;
    s->rows = s->bytes = 0;
    bool logthra = !strata_layout(ch);
    if (logthra && strlen(b->tenant) > 10) {
        fail(err, errlen,
             "tenant \"%s\" is longer than 10 bytes: the logthra layout keeps tenants in "
             "Logthra's tenant_id FixedString(10)",
             b->tenant);
        return STRATA_EINVAL;
    }
    for (uint32_t i = 0; i < b->n_streams; i++)
        for (uint32_t j = 0; j < b->streams[i].n_entries; j++) {
            const struct entry *e = &b->streams[i].entries[j];
            if (logthra && (e->ts < 0 || e->ts / DAY_NS > MAX_DAY)) {
                fail(err, errlen,
                     "timestamp %lld is outside the range of Logthra's Date column "
                     "(1970-01-01 to 2105-12-31)",
                     (long long)e->ts);
                return STRATA_EINVAL;
            }
            s->min_ts = e->ts < s->min_ts ? e->ts : s->min_ts;
            s->max_ts = e->ts > s->max_ts ? e->ts : s->max_ts;
            s->rows++;
            s->bytes += e->line.len;
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
static int check_committed(struct clickhouse *ch, struct sub *subs, size_t n,
                           const volatile int *cancel, struct clickhouse_error *e)
{
    struct sql s;
    sql_init(&s);
    sql_add(&s, "SELECT DISTINCT batch_id FROM %s WHERE batch_id IN (", ch->batches);
    size_t asked = 0;
    for (size_t i = 0; i < n; i++)
        if (subs[i].state == SUB_PENDING)
            sql_add(&s, "%s%llu", asked++ ? ", " : "", (unsigned long long)subs[i].batch_id);
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
            for (size_t i = 0; i < n; i++)
                if (subs[i].state == SUB_PENDING && subs[i].batch_id == ids[k])
                    subs[i].state = SUB_DUPLICATE;
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

/* One (tenant, stream, day) of the label index. */
struct stream_day {
    const char *tenant;
    const struct stream_batch *s;
    int64_t day;
};

static int cmp_stream_day(const void *x, const void *y)
{
    const struct stream_day *a = x, *b = y;
    if (a->s->fp != b->s->fp)
        return a->s->fp < b->s->fp ? -1 : 1;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    return strcmp(a->tenant, b->tenant);
}

static int insert_streams(struct clickhouse *ch, struct sub *subs, size_t n,
                          const volatile int *cancel, struct group_result *gr,
                          struct clickhouse_error *e)
{
    size_t cap = 64, used = 0;
    struct stream_day *v = xmallocarray(cap, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        if (subs[i].state != SUB_PENDING)
            continue;
        const struct push_batch *b = subs[i].b;
        for (uint32_t k = 0; k < b->n_streams; k++) {
            const struct stream_batch *s = &b->streams[k];
            int64_t last = -1;
            for (uint32_t j = 0; j < s->n_entries; j++) {
                int64_t d = day_of(s->entries[j].ts);
                if (d == last)
                    continue;
                last = d;
                if (used == cap)
                    v = xreallocarray(v, cap *= 2, sizeof(*v));
                v[used++] = (struct stream_day){b->tenant, s, d};
            }
        }
    }
    qsort(v, used, sizeof(*v), cmp_stream_day);
    struct buf rows;
    buf_init(&rows, ANSWER_MAX);
    int rc = 0;
    for (size_t i = 0; i < used && !rc; i++) {
        if (i && !cmp_stream_day(&v[i - 1], &v[i]))
            continue;
        const struct stream_batch *s = v[i].s;
        rc = rowbinary_put_string(&rows, slice_from(v[i].tenant));
        rc = rc ? rc : rowbinary_put_u16(&rows, (uint16_t)v[i].day);
        rc = rc ? rc : rowbinary_put_u64(&rows, s->fp);
        rc = rc ? rc : rowbinary_put_string(&rows, s->key);
        rc = rc ? rc : rowbinary_put_len(&rows, s->n_labels);
        for (uint32_t k = 0; !rc && k < s->n_labels; k++)
            rc = rowbinary_put_string(&rows, s->labels[k].name);
        rc = rc ? rc : rowbinary_put_len(&rows, s->n_labels);
        for (uint32_t k = 0; !rc && k < s->n_labels; k++)
            rc = rowbinary_put_string(&rows, s->labels[k].value);
    }
    free(v);
    if (rc) {
        snprintf(e->message, sizeof(e->message), "the label index rows are too large");
        e->rc = rc;
    } else if (rows.len) {
        rc = insert(ch, ch->streams, "tenant, day, fingerprint, labels, label_names, label_values",
                    &rows, cancel, gr, e);
    }
    buf_release(&rows);
    return rc;
}

static int put_entry_strata(struct buf *rows, const char *tenant, const struct stream_batch *s,
                            const struct entry *en, uint64_t batch_id, uint64_t insert_id,
                            uint32_t seq)
{
    int rc = rowbinary_put_string(rows, slice_from(tenant));
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
static int put_entry_logthra(struct buf *rows, const char *tenant, const struct stream_batch *s,
                             const struct entry *en)
{
    int rc = rowbinary_put_fixed(rows, slice_from(tenant), 10);
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

static int insert_entries(struct clickhouse *ch, struct sub *subs, size_t n, uint64_t insert_id,
                          const volatile int *cancel, struct group_result *gr,
                          struct clickhouse_error *e)
{
    bool strata = strata_layout(ch);
    const char *columns = strata ? "tenant, fingerprint, labels, ts, line, meta_keys, "
                                   "meta_values, batch_id, insert_id, seq"
                                 : "tenant_id, label, timestamp, msg";
    /* Logthra's table has no commit marker: keep a batch in one INSERT (one part). */
    uint64_t per_request = strata ? (uint64_t)ch->cfg.batch_max_rows : CLICKHOUSE_MAX_BATCH_ROWS;
    struct buf rows;
    buf_init(&rows, ANSWER_MAX);
    uint64_t in_chunk = 0;
    uint32_t seq = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (subs[i].state != SUB_PENDING)
            continue;
        const struct push_batch *b = subs[i].b;
        for (uint32_t k = 0; k < b->n_streams && !rc; k++) {
            const struct stream_batch *s = &b->streams[k];
            for (uint32_t j = 0; j < s->n_entries && !rc; j++) {
                const struct entry *en = &s->entries[j];
                rc = strata ? put_entry_strata(&rows, b->tenant, s, en, subs[i].batch_id, insert_id,
                                               seq++)
                            : put_entry_logthra(&rows, b->tenant, s, en);
                if (rc) {
                    snprintf(e->message, sizeof(e->message), "a row is too large to insert");
                    e->rc = rc;
                    break;
                }
                if (++in_chunk >= per_request || rows.len >= CHUNK_BYTES) {
                    rc = insert(ch, ch->logs, columns, &rows, cancel, gr, e);
                    buf_reset(&rows);
                    in_chunk = 0;
                }
            }
        }
    }
    if (!rc && in_chunk)
        rc = insert(ch, ch->logs, columns, &rows, cancel, gr, e);
    buf_release(&rows);
    return rc;
}

/* The commit: one INSERT of every batch's marker (a single part, visible at once). */
static int insert_markers(struct clickhouse *ch, struct sub *subs, size_t n, uint64_t insert_id,
                          const volatile int *cancel, struct group_result *gr,
                          struct clickhouse_error *e)
{
    struct buf rows;
    buf_init(&rows, ANSWER_MAX);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (subs[i].state != SUB_PENDING)
            continue;
        rc = rowbinary_put_string(&rows, slice_from(subs[i].b->tenant));
        rc = rc ? rc : rowbinary_put_u64(&rows, subs[i].batch_id);
        rc = rc ? rc : rowbinary_put_u64(&rows, insert_id);
        rc = rc ? rc : rowbinary_put_i64(&rows, subs[i].min_ts);
        rc = rc ? rc : rowbinary_put_i64(&rows, subs[i].max_ts);
        rc = rc ? rc : rowbinary_put_u64(&rows, subs[i].rows);
        rc = rc ? rc : rowbinary_put_u64(&rows, subs[i].bytes);
    }
    if (!rc)
        rc = insert(ch, ch->batches, "tenant, batch_id, insert_id, min_ts, max_ts, rows, bytes",
                    &rows, cancel, gr, e);
    buf_release(&rows);
    return rc;
}

/* One attempt at committing the pending batches of a group. */
static int try_group(struct clickhouse *ch, struct sub *subs, size_t n, const volatile int *cancel,
                     struct group_result *gr, struct clickhouse_error *e)
{
    int rc = check_committed(ch, subs, n, cancel, e);
    if (rc)
        return rc;
    size_t pending = 0;
    for (size_t i = 0; i < n; i++)
        pending += subs[i].state == SUB_PENDING;
    if (!pending)
        return 0;
    /* A fresh insert id per attempt: rows of a failed attempt never become visible. */
    uint64_t insert_id = next_insert_id(ch);
    if (strata_layout(ch) && (rc = insert_streams(ch, subs, n, cancel, gr, e)) < 0)
        return rc;
    if ((rc = insert_entries(ch, subs, n, insert_id, cancel, gr, e)) < 0 ||
        (rc = insert_markers(ch, subs, n, insert_id, cancel, gr, e)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (subs[i].state == SUB_PENDING) {
            subs[i].state = SUB_INSERTED;
            gr->rows += subs[i].rows;
        }
    return 0;
}

/* Commit a group of batches, retrying transient failures for budget_ns. */
static int send_group(struct clickhouse *ch, struct sub *subs, size_t n, int64_t budget_ns,
                      const volatile int *cancel, struct group_result *gr, char *err, size_t errlen)
{
    struct clickhouse_backoff bo;
    clickhouse_backoff_init(&bo, budget_ns);
    struct clickhouse_error e;
    int rc;
    for (;;) {
        memset(&e, 0, sizeof(e));
        gr->attempts++;
        rc = try_group(ch, subs, n, cancel, gr, &e);
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
    for (size_t i = 0; i < n; i++) {
        if (subs[i].state == SUB_INSERTED)
            metric_inc(ch->m_committed, 1);
        else if (subs[i].rows)
            metric_inc(ch->m_duplicates, 1);
    }
    metric_inc(ch->m_rows, gr->rows);
    return 0;
}

int clickhouse_tier_append(struct tier *t, const struct push_batch *b, uint64_t batch_id,
                           struct clickhouse_append_info *info, char *err, size_t errlen)
{
    struct clickhouse *ch = CH(t);
    struct sub s = {.b = b, .batch_id = batch_id ? batch_id : clickhouse_batch_id(b)};
    struct group_result gr = {0};
    int rc = prepare_sub(ch, &s, err, errlen);
    if (!rc)
        rc = send_group(ch, &s, 1, ch->cfg.retry_max_time_ns, NULL, &gr, err, errlen);
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
static void send_pending(struct clickhouse *ch, struct pending *group, size_t n, bool stopping)
{
    struct sub *subs = xcalloc(n ? n : 1, sizeof(*subs));
    int *rcs = xcalloc(n ? n : 1, sizeof(*rcs));
    struct pending **order = xcalloc(n ? n : 1, sizeof(*order));
    size_t k = 0, ok = 0;
    for (struct pending *p = group; p; p = p->next, k++) {
        order[k] = p;
        char err[512];
        struct sub s = {.b = &p->batch, .batch_id = p->batch_id};
        rcs[k] = prepare_sub(ch, &s, err, sizeof(err));
        if (rcs[k])
            log_error("clickhouse: refusing a batch of tenant %s: %s", p->batch.tenant, err);
        else
            subs[ok++] = s;
    }
    int64_t budget = ch->cfg.retry_max_time_ns;
    if (stopping && budget > 5 * NS_PER_SEC)
        budget = 5 * NS_PER_SEC;
    struct group_result gr = {0};
    char err[1024];
    int rc = ok ? send_group(ch, subs, ok, budget, NULL, &gr, err, sizeof(err)) : 0;
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

/*
 * The predicate every entry query of a read shares: tenant, time range, line
 * filters and (strata) the commit markers: only rows of committed attempts,
 * one attempt per batch, and no attempt started after the read began.
 */
static void sql_where(struct sql *s, const struct clickhouse *ch, const struct tier_query *q,
                      const struct clickhouse_line_filter *filters, uint32_t n_filters,
                      uint64_t snapshot)
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
    for (uint32_t i = 0; i < n_filters && !s->rc; i++) {
        sql_add(s, " AND ");
        if (!s->rc)
            s->rc = clickhouse_sql_line_filter(&s->b, line, &filters[i]);
    }
    for (uint32_t i = 0; i < q->n_needles && !s->rc; i++) {
        struct clickhouse_line_filter f = {CLICKHOUSE_LINE_CONTAINS, q->needles[i]};
        sql_add(s, " AND ");
        if (!s->rc)
            s->rc = clickhouse_sql_line_filter(&s->b, line, &f);
    }
    if (strata_layout(ch)) {
        sql_add(s, " AND (batch_id, insert_id) IN (SELECT batch_id, min(insert_id) FROM %s WHERE ",
                ch->batches);
        sql_tenant(s, ch, q->tenant);
        sql_add(s,
                " AND max_ts >= %lld AND min_ts < %lld AND insert_id <= %llu GROUP BY "
                "batch_id)",
                (long long)q->start, (long long)q->end, (unsigned long long)snapshot);
    }
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
    if (c->rd->cancel && *c->rd->cancel)
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

static int clickhouse_select(struct tier *t, const struct tier_query *q, struct arena *a,
                             tier_stream_fn fn, void *arg)
{
    struct clickhouse *ch = CH(t);
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
    sql_where(&w, ch, q, NULL, 0, snapshot);
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
    nq.n_needles = 0;
    sql_where(&s, ch, &nq, NULL, 0, next_insert_id(ch));
    sql_in_candidates(&s, ch, c);
    sql_add(&s, " FORMAT RowBinary");
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
    uint32_t w = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        bool found = false;
        for (uint32_t k = 0; k < n && !found; k++)
            found = keys[k] == c->rows[i].sk;
        if (found)
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
    nq.n_needles = 0;
    sql_where(&s, ch, &nq, NULL, 0, next_insert_id(ch));
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
    nq.n_needles = 0;
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
        sql_where(&s, ch, &nq, NULL, 0, next_insert_id(ch));
        sql_add(&s, ")");
    } else {
        if (values) {
            struct buf prefix;
            buf_init(&prefix, ANSWER_MAX);
            if (buf_append(&prefix, name.ptr, name.len) < 0 || buf_append_char(&prefix, ':') < 0)
                s.rc = STRATA_ETOOLARGE;
            sql_add(&s, "SELECT DISTINCT substring(x, %zu) FROM %s ARRAY JOIN label AS x WHERE ",
                    prefix.len + 1, ch->logs);
            sql_where(&s, ch, &nq, NULL, 0, 0);
            sql_add(&s, " AND startsWith(x, ");
            sql_quote(&s, buf_slice(&prefix));
            sql_add(&s, ")");
            buf_release(&prefix);
        } else {
            sql_add(&s,
                    "SELECT DISTINCT if(position(x, ':') > 0, substring(x, 1, position(x, ':') - "
                    "1), x) FROM %s ARRAY JOIN label AS x WHERE ",
                    ch->logs);
            sql_where(&s, ch, &nq, NULL, 0, 0);
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

/* ---- counts per step ------------------------------------------------------- */

int clickhouse_tier_count(struct tier *t, const struct clickhouse_count_query *cq, struct arena *a,
                          clickhouse_count_fn fn, void *arg)
{
    struct clickhouse *ch = CH(t);
    const struct tier_query *q = cq->q;
    if (cq->width <= 0 || cq->n_buckets == 0)
        return STRATA_EINVAL;
    /* Only the buckets' span of [start, end) counts. */
    struct tier_query nq = *q;
    nq.n_needles = 0;
    __int128 span_end = (__int128)cq->origin + (__int128)cq->width * cq->n_buckets;
    if (nq.start < cq->origin)
        nq.start = cq->origin;
    if ((__int128)nq.end > span_end)
        nq.end = (int64_t)span_end;
    /* Every filter must be exact in SQL: a count cannot be re-checked. */
    struct buf probe;
    buf_init(&probe, ANSWER_MAX);
    int rc = 0;
    for (uint32_t i = 0; i < cq->n_filters && !rc; i++)
        rc = clickhouse_sql_line_filter(&probe, "line", &cq->filters[i]);
    buf_release(&probe);
    if (rc)
        return rc;
    struct candidates c;
    if ((rc = find_streams(ch, &nq, a, &c)) < 0 || c.n == 0)
        return rc;
    struct sql s;
    sql_init(&s);
    const char *ts = strata_layout(ch) ? "ts" : "toInt64(toUInt16(timestamp)) * 86400000000000";
    sql_add(&s, "SELECT %s AS sk, toUInt32(intDiv(%s - %lld, %lld)) AS b, count() FROM %s WHERE ",
            sk_expr(ch), ts, (long long)cq->origin, (long long)cq->width, ch->logs);
    sql_where(&s, ch, &nq, cq->filters, cq->n_filters, next_insert_id(ch));
    sql_in_candidates(&s, ch, &c);
    sql_add(&s, " GROUP BY sk, b ORDER BY sk, b FORMAT RowBinary");
    struct buf resp;
    buf_init(&resp, ANSWER_MAX);
    rc = run_select(ch, &s, &resp, q->cancel);
    sql_release(&s);
    struct clickhouse_count_rows rows = {0};
    if (rc == 0 && (rc = clickhouse_decode_counts(buf_slice(&resp), a, &rows)) < 0)
        log_warn("clickhouse: malformed counts from %s", ch->cfg.url);
    buf_release(&resp);
    for (uint32_t i = 0, j; rc == 0 && i < rows.n; i = j) {
        j = run_end(rows.sk, rows.n, i);
        const struct clickhouse_stream_row *cand = candidate(&c, rows.sk[i]);
        if (cand) {
            struct tier_stream st = stream_of(cand);
            int frc = fn(arg, &st, rows.bucket + i, rows.count + i, j - i);
            if (frc)
                return frc < 0 ? frc : 0;
        }
    }
    return rc;
}

/* ---- the chain ------------------------------------------------------------- */

void clickhouse_chain_attach(struct tier *chain, struct tier *t)
{
    if (!chain || !t)
        return;
    while (chain->next)
        chain = chain->next;
    chain->next = t;
}

void clickhouse_chain_detach(struct tier *chain, struct tier *t)
{
    if (!t)
        return;
    for (struct tier *p = chain; p; p = p->next)
        if (p->next == t) {
            p->next = t->next;
            break;
        }
    t->next = NULL;
    t->ops->close(t);
}

static const struct tier_ops clickhouse_ops = {
    .name = "clickhouse",
    .select = clickhouse_select,
    .series = clickhouse_series,
    .stats = clickhouse_stats,
    .flush = NULL,
    .close = clickhouse_close,
};
