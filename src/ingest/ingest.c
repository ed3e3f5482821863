#include "ingest/ingest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/metrics.h"

/* Active streams of a tenant: fingerprint -> last push time, open addressing. */
struct stream_slot {
    uint64_t fp; /* 0 = empty */
    int64_t seen;
};

struct tenant_state {
    struct tenant_state *next;
    char *name;
    pthread_mutex_t lock;
    double tokens; /* token bucket of line bytes */
    int64_t refilled_ns;
    struct stream_slot *slots;
    size_t n_slots, n_used;
    int64_t swept_ns;
};

struct ingest {
    struct store *store;
    struct limits_table *limits; /* per tenant: the options, and the overrides section */
    size_t max_decompressed;
    pthread_mutex_t lock; /* the tenant list */
    struct tenant_state *tenants;
    struct metric *entries, *bytes;
    struct metric *discarded_invalid, *discarded_rate, *discarded_streams, *discarded_store;
};

struct ingest *ingest_new(const struct config *cfg, struct store *store, char *err, size_t errlen)
{
    struct ingest *in = xcalloc(1, sizeof(*in));
    if (limits_table_new(cfg, &in->limits, err, errlen) < 0) {
        free(in);
        return NULL;
    }
    in->store = store;
    in->max_decompressed = (size_t)cfg->ingest_max_decompressed_bytes;
    pthread_mutex_init(&in->lock, NULL);
    /* The same families as the HTTP push path registered first: found by name. */
    in->entries = metric_get(metrics_family(METRIC_COUNTER, "strata_ingested_entries_total",
                                            "Log entries accepted by push APIs.", NULL));
    in->bytes = metric_get(metrics_family(METRIC_COUNTER, "strata_ingested_bytes_total",
                                          "Bytes of log lines accepted by push APIs.", NULL));
    struct metric_family *d =
        metrics_family(METRIC_COUNTER, "strata_discarded_entries_total",
                       "Log entries refused by push APIs, by reason.", "reason");
    in->discarded_invalid = metric_get(d, "invalid");
    in->discarded_rate = metric_get(d, "rate_limited");
    in->discarded_streams = metric_get(d, "stream_limit");
    in->discarded_store = metric_get(d, "store");
    return in;
}

void ingest_free(struct ingest *in)
{
    if (!in)
        return;
    for (struct tenant_state *t = in->tenants; t;) {
        struct tenant_state *next = t->next;
        pthread_mutex_destroy(&t->lock);
        free(t->slots);
        free(t->name);
        free(t);
        t = next;
    }
    pthread_mutex_destroy(&in->lock);
    limits_table_free(in->limits);
    free(in);
}

const struct tenant_limits *ingest_limits(struct ingest *in, const char *tenant)
{
    return limits_table_get(in->limits, tenant);
}

const struct limits_table *ingest_limits_table(const struct ingest *in)
{
    return in->limits;
}

size_t ingest_max_decompressed(const struct ingest *in)
{
    return in->max_decompressed;
}

void ingest_begin(struct ingest *in, const char *tenant, size_t input_len, struct push_batch *b,
                  struct push_result *res, struct normalizer *nz)
{
    push_batch_init(b, tenant);
    push_result_init(res);
    size_t budget = (size_t)16 << 20;
    if (input_len < ((size_t)-1 - budget) / 8)
        budget += input_len * 8;
    else
        budget = (size_t)-1 / 2;
    b->arena.limit = budget;
    norm_init(nz, ingest_limits(in, tenant), clock_now_ns(), b, res);
}

static struct tenant_state *tenant_state(struct ingest *in, const char *name)
{
    pthread_mutex_lock(&in->lock);
    struct tenant_state *t = in->tenants;
    while (t && strcmp(t->name, name))
        t = t->next;
    if (!t) {
        t = xcalloc(1, sizeof(*t));
        t->name = xstrdup(name);
        pthread_mutex_init(&t->lock, NULL);
        t->tokens = -1; /* filled on first use */
        t->next = in->tenants;
        in->tenants = t;
    }
    pthread_mutex_unlock(&in->lock);
    return t;
}

/* golang.org/x/time/rate semantics: refill, then take n if there are n tokens. */
static bool rate_allow(struct tenant_state *t, const struct tenant_limits *lim, double n,
                       int64_t now)
{
    if (lim->rate_bytes <= 0)
        return true;
    if (t->tokens < 0) {
        t->tokens = lim->burst_bytes;
        t->refilled_ns = now;
    }
    if (now > t->refilled_ns) {
        t->tokens += (double)(now - t->refilled_ns) / 1e9 * lim->rate_bytes;
        if (t->tokens > lim->burst_bytes)
            t->tokens = lim->burst_bytes;
        t->refilled_ns = now;
    }
    if (n > t->tokens)
        return false;
    t->tokens -= n;
    return true;
}

static struct stream_slot *slot_find(struct tenant_state *t, uint64_t fp)
{
    size_t mask = t->n_slots - 1, h = (size_t)(fp * 0x9e3779b97f4a7c15ULL) & mask;
    while (t->slots[h].fp && t->slots[h].fp != fp)
        h = (h + 1) & mask;
    return &t->slots[h];
}

/* Rebuild the table with room for more, dropping streams idle for longer than idle_ns. */
static void slots_rebuild(struct tenant_state *t, int64_t now, int64_t idle_ns)
{
    struct stream_slot *old = t->slots;
    size_t old_n = t->n_slots, live = 0;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].fp && now - old[i].seen <= idle_ns)
            live++;
    size_t n = 64;
    while (n < live * 2 + 2)
        n *= 2;
    t->slots = xcalloc(n, sizeof(*t->slots));
    t->n_slots = n;
    t->n_used = 0;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].fp && now - old[i].seen <= idle_ns) {
            *slot_find(t, old[i].fp) = old[i];
            t->n_used++;
        }
    free(old);
    t->swept_ns = now;
}

/* Mark stream fp active; false when it is new and the tenant is at its limit. */
static bool stream_admit(struct tenant_state *t, const struct tenant_limits *lim, uint64_t fp,
                         int64_t now)
{
    if (fp == 0)
        fp = 1;
    if (!t->slots)
        slots_rebuild(t, now, lim->stream_idle_ns);
    struct stream_slot *s = slot_find(t, fp);
    if (s->fp) {
        s->seen = now;
        return true;
    }
    if (lim->max_streams && (int64_t)t->n_used >= lim->max_streams) {
        /* Forget idle streams (at most once a second), then look again. */
        if (now - t->swept_ns < NS_PER_SEC)
            return false;
        slots_rebuild(t, now, lim->stream_idle_ns);
        if ((int64_t)t->n_used >= lim->max_streams)
            return false;
    }
    if ((t->n_used + 1) * 2 > t->n_slots)
        slots_rebuild(t, now, lim->stream_idle_ns);
    s = slot_find(t, fp);
    s->fp = fp;
    s->seen = now;
    t->n_used++;
    return true;
}

struct stream_filter {
    const struct push_batch *b;
    const unsigned char *refused;
};

static bool keep_admitted(const struct stream_batch *s, const struct entry *e, void *arg)
{
    (void)e;
    const struct stream_filter *f = arg;
    return !f->refused[s - f->b->streams];
}

int ingest_push(struct ingest *in, struct push_batch *b, struct push_result *res)
{
    if (res->n_invalid)
        metric_inc(in->discarded_invalid, res->n_invalid);
    if (b->n_entries == 0)
        return 0;
    const struct tenant_limits *lim = ingest_limits(in, b->tenant);
    struct tenant_state *t = tenant_state(in, b->tenant);
    int64_t now = clock_now_ns();
    pthread_mutex_lock(&t->lock);
    if (!rate_allow(t, lim, (double)b->n_bytes, now)) {
        pthread_mutex_unlock(&t->lock);
        push_result_error(res, b, STRATA_ERATE,
                          "ingestion rate limit exceeded for user %s (limit: %lld bytes/sec) "
                          "while attempting to ingest '%llu' lines totaling '%llu' bytes, reduce "
                          "log volume or contact your Loki administrator to see if the limit can "
                          "be increased",
                          b->tenant, (long long)lim->rate_bytes, (unsigned long long)b->n_entries,
                          (unsigned long long)b->n_bytes);
        metric_inc(in->discarded_rate, b->n_entries);
        return STRATA_ERATE;
    }
    unsigned char *refused = NULL;
    uint64_t n_refused = 0;
    for (uint32_t i = 0; i < b->n_streams; i++) {
        if (b->streams[i].n_entries == 0 || stream_admit(t, lim, b->streams[i].fp, now))
            continue;
        if (!refused)
            refused = arena_calloc(&b->arena, b->n_streams, 1);
        refused[i] = 1;
        n_refused += b->streams[i].n_entries;
        push_result_error(res, b, STRATA_ERATE,
                          "maximum active stream limit exceeded when trying to create stream "
                          "%.*s, reduce the number of active streams (reduce labels or reduce "
                          "label values), or contact your Loki administrator to see if the limit "
                          "can be increased, user: '%s'",
                          (int)b->streams[i].key.len, b->streams[i].key.ptr, b->tenant);
    }
    pthread_mutex_unlock(&t->lock);
    if (refused) {
        struct stream_filter f = {b, refused};
        push_batch_filter(b, keep_admitted, &f);
        res->n_invalid += n_refused;
        metric_inc(in->discarded_streams, n_refused);
        if (b->n_entries == 0)
            return 0;
    }
    uint64_t bytes = b->n_bytes, wanted = b->n_entries;
    int rc = store_push(in->store, b, res);
    if (rc < 0) {
        metric_inc(in->discarded_store, wanted);
        return rc;
    }
    metric_inc(in->entries, res->accepted);
    metric_inc(in->bytes, bytes);
    if (res->n_rejected)
        metric_inc(in->discarded_store, res->n_rejected);
    return 0;
}
