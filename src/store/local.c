#include "store/local.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "store/fsio.h"
#include "store/part.h"

/* The most parts one compaction merges (each is listed in the output's supersedes set). */
#define MAX_MERGE 1024

/* A part in the set. The set holds one reference; each cursor holds one. */
struct lpart {
    atomic_int refs;
    struct part *p;
    struct part_source src;
    const struct part_info *info;
    char *path;
    int64_t day;
};

struct ltenant {
    char *name;
    char *dir;
    struct lpart **parts; /* sorted by (min_ts, id) */
    uint32_t n, cap;
};

struct local {
    struct tier tier;
    struct local_options o;
    char *dir;
    pthread_rwlock_t lock; /* tenants and their part lists */
    struct ltenant *tenants;
    uint32_t n_tenants, cap_tenants;
    pthread_mutex_t id_mu;
    uint64_t next_id;
    pthread_mutex_t upkeep_mu; /* one compaction / retention pass at a time */
    int64_t last_compaction;
    /* files that must go but could not be unlinked yet (retried by upkeep and before commits) */
    pthread_mutex_t orphan_mu;
    char **orphans;
    uint32_t n_orphans, cap_orphans;
    pthread_mutex_t stat_mu;
    struct local_status st;
};

static struct local *L(struct tier *t)
{
    return (struct local *)t;
}

static int64_t day_of(int64_t ts)
{
    return ts >= 0 ? ts / NS_PER_DAY : -((-ts + NS_PER_DAY - 1) / NS_PER_DAY);
}

/* ---- parts ---- */

static void lpart_unref(void *arg)
{
    struct lpart *lp = arg;
    if (!lp || atomic_fetch_sub(&lp->refs, 1) != 1)
        return;
    part_close(lp->p);
    part_source_file_release(&lp->src);
    free(lp->path);
    free(lp);
}

static struct lpart *lpart_open(const char *path, char *err, size_t errlen)
{
    struct lpart *lp = xcalloc(1, sizeof(*lp));
    atomic_init(&lp->refs, 1);
    if (part_source_file(path, &lp->src, err, errlen) < 0) {
        free(lp);
        return NULL;
    }
    if (part_open(&lp->src, true, &lp->p, err, errlen) < 0) {
        part_source_file_release(&lp->src);
        free(lp);
        return NULL;
    }
    lp->info = part_get_info(lp->p);
    lp->path = xstrdup(path);
    lp->day = day_of(lp->info->min_ts);
    return lp;
}

static uint64_t new_id(struct local *l)
{
    pthread_mutex_lock(&l->id_mu);
    uint64_t id = l->next_id++;
    pthread_mutex_unlock(&l->id_mu);
    return id;
}

static void add_orphan(struct local *l, const char *path)
{
    pthread_mutex_lock(&l->orphan_mu);
    if (l->n_orphans == l->cap_orphans) {
        l->cap_orphans = l->cap_orphans ? l->cap_orphans * 2 : 8;
        l->orphans = xreallocarray(l->orphans, l->cap_orphans, sizeof(*l->orphans));
    }
    l->orphans[l->n_orphans++] = xstrdup(path);
    pthread_mutex_unlock(&l->orphan_mu);
}

/* Unlink the orphans; 0 when none is left. */
static int clean_orphans(struct local *l)
{
    pthread_mutex_lock(&l->orphan_mu);
    uint32_t w = 0;
    int rc = 0;
    for (uint32_t i = 0; i < l->n_orphans; i++) {
        int r = fsio_unlink(l->orphans[i]);
        if (r < 0) {
            rc = r;
            l->orphans[w++] = l->orphans[i];
        } else {
            free(l->orphans[i]);
        }
    }
    l->n_orphans = w;
    pthread_mutex_unlock(&l->orphan_mu);
    return rc;
}

/* Remove a file for good, or remember it as an orphan. */
static void remove_file(struct local *l, const char *path, const char *dir)
{
    if (fsio_unlink(path) < 0) {
        log_error("local: cannot delete %s: %s (will retry)", path, strerror(fsio_last_errno()));
        add_orphan(l, path);
        return;
    }
    if (dir && fsio_sync_dir(dir) < 0)
        log_warn("local: cannot sync directory %s", dir);
}

/* ---- tenants ---- */

static struct ltenant *tenant_find(struct local *l, const char *name)
{
    for (uint32_t i = 0; i < l->n_tenants; i++)
        if (!strcmp(l->tenants[i].name, name))
            return &l->tenants[i];
    return NULL;
}

/* Called with the lock held for writing (or before the tier is shared). */
static struct ltenant *tenant_add(struct local *l, const char *name)
{
    struct ltenant *t = tenant_find(l, name);
    if (t)
        return t;
    if (l->n_tenants == l->cap_tenants) {
        l->cap_tenants = l->cap_tenants ? l->cap_tenants * 2 : 8;
        l->tenants = xreallocarray(l->tenants, l->cap_tenants, sizeof(*l->tenants));
    }
    t = &l->tenants[l->n_tenants++];
    memset(t, 0, sizeof(*t));
    t->name = xstrdup(name);
    size_t n = strlen(l->dir) + strlen(name) + 2;
    t->dir = xmalloc(n);
    snprintf(t->dir, n, "%s/%s", l->dir, name);
    return t;
}

static int cmp_lpart(const void *a, const void *b)
{
    const struct lpart *x = *(struct lpart *const *)a, *y = *(struct lpart *const *)b;
    if (x->info->min_ts != y->info->min_ts)
        return x->info->min_ts < y->info->min_ts ? -1 : 1;
    return x->info->id < y->info->id ? -1 : x->info->id > y->info->id;
}

/* Insert (lock held for writing). */
static void tenant_insert(struct ltenant *t, struct lpart *lp)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->parts = xreallocarray(t->parts, t->cap, sizeof(*t->parts));
    }
    t->parts[t->n++] = lp;
    qsort(t->parts, t->n, sizeof(*t->parts), cmp_lpart);
}

/* Remove from the list (lock held for writing); the caller drops the set's reference. */
static bool tenant_remove(struct ltenant *t, const struct lpart *lp)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->parts[i] == lp) {
            memmove(&t->parts[i], &t->parts[i + 1], (t->n - i - 1) * sizeof(*t->parts));
            t->n--;
            return true;
        }
    return false;
}

/* ---- opening ---- */

static int load_tenant_dir(struct local *l, const char *tenant, struct lpart ***all, size_t *n_all,
                           size_t *cap_all)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s/%s", l->dir, tenant) >= (int)sizeof(dir))
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    bool removed = false;
    while ((e = readdir(d))) {
        char path[PATH_MAX];
        if (e->d_name[0] == '.' && strncmp(e->d_name, ".tmp-", 5))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        if (!strncmp(e->d_name, ".tmp-", 5)) {
            log_info("local: removing unfinished %s", path);
            if (fsio_unlink(path) == 0)
                removed = true;
            continue;
        }
        uint64_t id;
        if (!fsio_numbered_name(e->d_name, ".part", &id))
            continue;
        char err[256];
        struct lpart *lp = lpart_open(path, err, sizeof(err));
        if (!lp) {
            char bad[PATH_MAX + 16];
            snprintf(bad, sizeof(bad), "%s.corrupt", path);
            log_error("local: %s: %s; renamed to %s and left out", path, err, bad);
            if (fsio_rename(path, bad) < 0)
                log_error("local: cannot rename %s", path);
            pthread_mutex_lock(&l->stat_mu);
            l->st.corrupt_parts++;
            pthread_mutex_unlock(&l->stat_mu);
            if (id >= l->next_id)
                l->next_id = id + 1;
            continue;
        }
        if (id >= l->next_id)
            l->next_id = id + 1;
        if (lp->info->id != id || strcmp(lp->info->tenant, tenant)) {
            log_error("local: %s belongs to tenant %s as part %016" PRIx64 "; left out", path,
                      lp->info->tenant, lp->info->id);
            lpart_unref(lp);
            continue;
        }
        if (*n_all == *cap_all) {
            *cap_all = *cap_all ? *cap_all * 2 : 64;
            *all = xreallocarray(*all, *cap_all, sizeof(**all));
        }
        (*all)[(*n_all)++] = lp;
    }
    closedir(d);
    if (removed && fsio_sync_dir(dir) < 0)
        log_warn("local: cannot sync %s", dir);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool contains_u64(const uint64_t *v, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (v[m] == x)
            return true;
        if (v[m] < x)
            lo = m + 1;
        else
            hi = m;
    }
    return false;
}

static const struct tier_ops local_ops;

int local_open(const struct local_options *o, struct tier **out, char *err, size_t errlen)
{
    int rc = fsio_mkdirs(o->dir);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create %s: %s", o->dir, strerror(fsio_last_errno()));
        return rc;
    }
    struct local *l = xcalloc(1, sizeof(*l));
    l->tier.ops = &local_ops;
    l->o = *o;
    l->dir = xstrdup(o->dir);
    l->o.dir = l->dir;
    l->next_id = 1;
    pthread_rwlock_init(&l->lock, NULL);
    pthread_mutex_init(&l->id_mu, NULL);
    pthread_mutex_init(&l->upkeep_mu, NULL);
    pthread_mutex_init(&l->orphan_mu, NULL);
    pthread_mutex_init(&l->stat_mu, NULL);
    l->last_compaction = clock_mono_ns();

    struct lpart **all = NULL;
    size_t n_all = 0, cap_all = 0;
    DIR *d = opendir(l->dir);
    if (!d) {
        snprintf(err, errlen, "cannot list %s: %s", l->dir, strerror(errno));
        free(l->dir);
        free(l);
        return STRATA_EIO;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && tenant_valid(e->d_name, strlen(e->d_name)))
            load_tenant_dir(l, e->d_name, &all, &n_all, &cap_all);
    closedir(d);

    /* Which parts are superseded by others? */
    size_t n_sup = 0;
    for (size_t i = 0; i < n_all; i++)
        n_sup += all[i]->info->n_supersedes;
    uint64_t *sup = xmallocarray(n_sup ? n_sup : 1, sizeof(*sup));
    n_sup = 0;
    for (size_t i = 0; i < n_all; i++)
        for (uint32_t j = 0; j < all[i]->info->n_supersedes; j++)
            sup[n_sup++] = all[i]->info->supersedes[j];
    qsort(sup, n_sup, sizeof(*sup), cmp_u64);
    uint64_t loaded = 0, dropped = 0;
    for (size_t i = 0; i < n_all; i++) {
        struct lpart *lp = all[i];
        const char *why = NULL;
        if (lp->info->wal_seq > o->checkpoint)
            why = "written by a flush that did not commit (its data is replayed from the WAL)";
        else if (contains_u64(sup, n_sup, lp->info->id))
            why = "superseded by a compacted part";
        if (why) {
            log_info("local: removing %s: %s", lp->path, why);
            char dir[PATH_MAX];
            snprintf(dir, sizeof(dir), "%s/%s", l->dir, lp->info->tenant);
            remove_file(l, lp->path, dir);
            lpart_unref(lp);
            dropped++;
            continue;
        }
        tenant_insert(tenant_add(l, lp->info->tenant), lp);
        loaded++;
    }
    free(sup);
    free(all);
    log_info("local: %" PRIu64 " part(s) in %s%s", loaded, l->dir,
             dropped ? " (some left-overs removed)" : "");
    *out = &l->tier;
    return 0;
}

void local_status(struct tier *t, struct local_status *out)
{
    struct local *l = L(t);
    pthread_mutex_lock(&l->stat_mu);
    *out = l->st;
    pthread_mutex_unlock(&l->stat_mu);
}

/* ---- reading ---- */

/* The parts of q->tenant overlapping [start, end), each with a reference taken. */
static struct lpart **pick_parts(struct local *l, const struct tier_query *q, uint32_t *n)
{
    struct lpart **v = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&l->lock);
    struct ltenant *t = tenant_find(l, q->tenant);
    if (t && t->n) {
        v = xmallocarray(t->n, sizeof(*v));
        for (uint32_t i = 0; i < t->n; i++) {
            struct lpart *lp = t->parts[i];
            if (lp->info->max_ts < q->start || lp->info->min_ts >= q->end)
                continue;
            atomic_fetch_add(&lp->refs, 1);
            v[(*n)++] = lp;
        }
    }
    pthread_rwlock_unlock(&l->lock);
    return v;
}

static int walk(struct tier *tier, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                void *arg, bool cursors)
{
    struct local *l = L(tier);
    uint32_t np;
    struct lpart **parts = pick_parts(l, q, &np);
    struct bloom_query bq = {0};
    if (cursors)
        bloom_query_init(&bq, q->needles, q->n_needles, a);
    int rc = 0;
    for (uint32_t i = 0; i < np && !rc; i++) {
        struct part *p = parts[i]->p;
        uint32_t *ids;
        uint32_t n = part_match_streams(p, q->sel, a, &ids);
        for (uint32_t j = 0; j < n && !rc; j++) {
            const struct part_stream *ps = part_get_stream(p, ids[j]);
            if (ps->max_ts < q->start || ps->min_ts >= q->end)
                continue;
            struct tier_stream ts = {0};
            if (cursors) {
                atomic_fetch_add(&parts[i]->refs, 1);
                ts.cursor = part_cursor_new(p, ids[j], q, &bq, a, lpart_unref, parts[i]);
                if (!ts.cursor) {
                    lpart_unref(parts[i]);
                    continue;
                }
            }
            tier_stream_copy_id(&ts, ps->fp, ps->labels, ps->n_labels, ps->key, a);
            rc = fn(arg, &ts);
        }
        if (tier_cancelled(q->cancel))
            rc = STRATA_ECANCELED;
    }
    for (uint32_t i = 0; i < np; i++)
        lpart_unref(parts[i]);
    free(parts);
    return rc < 0 ? rc : 0;
}

static int local_select(struct tier *t, const struct tier_query *q, struct arena *a,
                        tier_stream_fn fn, void *arg)
{
    return walk(t, q, a, fn, arg, true);
}

static int local_series(struct tier *t, const struct tier_query *q, struct arena *a,
                        tier_stream_fn fn, void *arg)
{
    return walk(t, q, a, fn, arg, false);
}

static int local_stats(struct tier *tier, const struct tier_query *q, struct tier_stats *out)
{
    struct local *l = L(tier);
    uint32_t np;
    struct lpart **parts = pick_parts(l, q, &np);
    struct arena a;
    arena_init(&a, 0);
    for (uint32_t i = 0; i < np; i++) {
        uint32_t *ids;
        uint32_t n = part_match_streams(parts[i]->p, q->sel, &a, &ids);
        for (uint32_t j = 0; j < n; j++) {
            uint64_t blocks = 0, entries = 0, bytes = 0;
            part_stream_stats(parts[i]->p, ids[j], q->start, q->end, &blocks, &entries, &bytes);
            if (!blocks)
                continue;
            out->streams++;
            out->chunks += blocks;
            out->entries += entries;
            out->bytes += bytes;
        }
        lpart_unref(parts[i]);
    }
    arena_release(&a);
    free(parts);
    return 0;
}

/* The highest WAL sequence any part records: what the parts hold (the store's checkpoint
 * decides; this is used when its file is missing). */
static uint64_t local_durable_seq(struct tier *tier)
{
    struct local *l = L(tier);
    uint64_t m = 0;
    pthread_rwlock_rdlock(&l->lock);
    for (uint32_t i = 0; i < l->n_tenants; i++)
        for (uint32_t j = 0; j < l->tenants[i].n; j++)
            if (l->tenants[i].parts[j]->info->wal_seq > m)
                m = l->tenants[i].parts[j]->info->wal_seq;
    pthread_rwlock_unlock(&l->lock);
    return m;
}

static int local_usage(struct tier *tier, struct tier_usage *out)
{
    struct local *l = L(tier);
    memset(out, 0, sizeof(*out));
    bool first = true;
    pthread_rwlock_rdlock(&l->lock);
    for (uint32_t i = 0; i < l->n_tenants; i++)
        for (uint32_t j = 0; j < l->tenants[i].n; j++) {
            const struct part_info *in = l->tenants[i].parts[j]->info;
            out->parts++;
            out->disk_bytes += in->file_size;
            out->entries += in->entries;
            out->bytes += in->bytes;
            out->streams += in->streams;
            if (first || in->min_ts < out->min_ts)
                out->min_ts = in->min_ts;
            if (first || in->max_ts > out->max_ts)
                out->max_ts = in->max_ts;
            first = false;
        }
    pthread_rwlock_unlock(&l->lock);
    return 0;
}

/* ---- absorbing a head generation ---- */

struct day_writer {
    int64_t day;
    struct part_writer *w;
};

struct absorb {
    struct local *l;
    struct handover *h;
    char tenant[TENANT_MAX + 1];
    char dir[PATH_MAX];
    struct day_writer *writers;
    uint32_t n_writers, cap_writers;
    /* parts finished in this attempt */
    char **paths;
    struct lpart **parts;
    uint32_t n_parts, cap_parts;
    int rc;
};

static struct part_writer *writer_for(struct absorb *ab, int64_t day, int *rc)
{
    for (uint32_t i = 0; i < ab->n_writers; i++)
        if (ab->writers[i].day == day)
            return ab->writers[i].w;
    struct part_writer_options wo = {
        .dir = ab->dir,
        .id = new_id(ab->l),
        .level = 0,
        .zstd_level = ab->l->o.flush_zstd_level,
        .block_bytes = ab->l->o.block_bytes,
        .tenant = ab->tenant,
        .wal_seq = ab->h->seq,
        .bloom = ab->l->o.bloom && ab->l->o.flush_bloom,
    };
    struct part_writer *w;
    *rc = part_writer_open(&wo, &w);
    if (*rc < 0)
        return NULL;
    if (ab->n_writers == ab->cap_writers) {
        ab->cap_writers = ab->cap_writers ? ab->cap_writers * 2 : 4;
        ab->writers = xreallocarray(ab->writers, ab->cap_writers, sizeof(*ab->writers));
    }
    ab->writers[ab->n_writers++] = (struct day_writer){day, w};
    return w;
}

static void record_part(struct absorb *ab, const char *path, struct lpart *lp)
{
    if (ab->n_parts == ab->cap_parts) {
        ab->cap_parts = ab->cap_parts ? ab->cap_parts * 2 : 4;
        ab->paths = xreallocarray(ab->paths, ab->cap_parts, sizeof(*ab->paths));
        ab->parts = xreallocarray(ab->parts, ab->cap_parts, sizeof(*ab->parts));
    }
    ab->paths[ab->n_parts] = xstrdup(path);
    ab->parts[ab->n_parts] = lp;
    ab->n_parts++;
}

/* Finish every open writer (the tenant is done). */
static int finish_writers(struct absorb *ab)
{
    int rc = 0;
    for (uint32_t i = 0; i < ab->n_writers; i++) {
        struct part_writer *w = ab->writers[i].w;
        if (rc) {
            part_writer_abort(w);
            continue;
        }
        char path[PATH_MAX], err[256];
        struct part_info info;
        rc = part_writer_finish(w, &info, path, sizeof(path));
        if (rc < 0)
            continue;
        struct lpart *lp = lpart_open(path, err, sizeof(err));
        if (!lp) {
            log_error("local: cannot reopen the part just written, %s: %s", path, err);
            rc = STRATA_EIO;
            add_orphan(ab->l, path);
            continue;
        }
        record_part(ab, path, lp);
    }
    ab->n_writers = 0;
    return rc;
}

static int absorb_stream(void *arg, const struct handover_stream *hs)
{
    struct absorb *ab = arg;
    int rc = 0;
    if (strcmp(hs->tenant, ab->tenant)) {
        if ((rc = finish_writers(ab)) < 0)
            return rc;
        snprintf(ab->tenant, sizeof(ab->tenant), "%s", hs->tenant);
        if (snprintf(ab->dir, sizeof(ab->dir), "%s/%s", ab->l->dir, hs->tenant) >=
            (int)sizeof(ab->dir))
            return STRATA_EINVAL;
        if ((rc = fsio_mkdirs(ab->dir)) < 0)
            return rc;
    }
    struct part_writer *cur = NULL;
    int64_t cur_day = 0;
    struct entry_batch b;
    while ((rc = hs->cursor->ops->next(hs->cursor, &b)) > 0) {
        for (uint32_t i = 0; i < b.n; i++) {
            int64_t day = day_of(b.ts[i]);
            if (!cur || day != cur_day) {
                if (cur && (rc = part_writer_end_stream(cur)) < 0)
                    return rc;
                cur = writer_for(ab, day, &rc);
                if (!cur)
                    return rc;
                cur_day = day;
                if ((rc = part_writer_begin_stream(cur, hs->fp, hs->labels, hs->n_labels)) < 0)
                    return rc;
            }
            struct slice meta = b.meta ? b.meta[i] : (struct slice){"", 0};
            if ((rc = part_writer_add(cur, b.ts[i], b.lines[i], meta)) < 0)
                return rc;
        }
    }
    if (rc < 0)
        return rc;
    if (cur && (rc = part_writer_end_stream(cur)) < 0)
        return rc;
    return 0;
}

/* Undo an attempt: the parts written so far go. */
static void absorb_undo(struct absorb *ab)
{
    for (uint32_t i = 0; i < ab->n_writers; i++)
        part_writer_abort(ab->writers[i].w);
    ab->n_writers = 0;
    for (uint32_t i = 0; i < ab->n_parts; i++) {
        lpart_unref(ab->parts[i]);
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", ab->paths[i]);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        remove_file(ab->l, ab->paths[i], dir);
        free(ab->paths[i]);
    }
    ab->n_parts = 0;
}

static void absorb_free(struct absorb *ab)
{
    if (!ab)
        return;
    for (uint32_t i = 0; i < ab->n_parts; i++)
        free(ab->paths[i]);
    free(ab->paths);
    free(ab->parts);
    free(ab->writers);
    free(ab);
}

static int local_absorb(struct tier *tier, struct handover *h)
{
    struct local *l = L(tier);
    /* Files of a failed earlier attempt must be gone before anything new can commit. */
    int rc = clean_orphans(l);
    if (rc < 0)
        return rc;
    struct absorb *ab = xcalloc(1, sizeof(*ab));
    ab->l = l;
    ab->h = h;
    rc = h->each(h, absorb_stream, ab);
    if (!rc)
        rc = finish_writers(ab);
    if (rc < 0) {
        log_error("local: writing %" PRIu64 " entries as parts failed: %s", h->entries,
                  strata_strerror(rc));
        absorb_undo(ab);
        absorb_free(ab);
        if (clean_orphans(l) < 0)
            log_error("local: left-over files of the failed flush could not be deleted yet");
        return rc;
    }
    h->taker = ab;
    return 0;
}

static void local_commit(struct tier *tier, struct handover *h)
{
    struct local *l = L(tier);
    struct absorb *ab = h->taker;
    if (!ab)
        return;
    pthread_rwlock_wrlock(&l->lock);
    for (uint32_t i = 0; i < ab->n_parts; i++)
        tenant_insert(tenant_add(l, ab->parts[i]->info->tenant), ab->parts[i]);
    pthread_rwlock_unlock(&l->lock);
    pthread_mutex_lock(&l->stat_mu);
    l->st.flushed_parts += ab->n_parts;
    pthread_mutex_unlock(&l->stat_mu);
    /* The set owns the parts' references now; absorb_free frees only the paths. */
    absorb_free(ab);
    h->taker = NULL;
}

/* ---- removing parts ---- */

/* Take lp out of the set and delete its file. */
static void retire(struct local *l, struct lpart *lp)
{
    pthread_rwlock_wrlock(&l->lock);
    struct ltenant *t = tenant_find(l, lp->info->tenant);
    bool was = t && tenant_remove(t, lp);
    pthread_rwlock_unlock(&l->lock);
    if (!was)
        return;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", l->dir, lp->info->tenant);
    remove_file(l, lp->path, dir);
    lpart_unref(lp);
}

/* Parts matching pred, with references taken. */
static struct lpart **collect(struct local *l, bool (*pred)(const struct lpart *, int64_t),
                              int64_t arg, uint32_t *n)
{
    struct lpart **v = NULL;
    uint32_t cap = 0;
    *n = 0;
    pthread_rwlock_rdlock(&l->lock);
    for (uint32_t i = 0; i < l->n_tenants; i++)
        for (uint32_t j = 0; j < l->tenants[i].n; j++) {
            struct lpart *lp = l->tenants[i].parts[j];
            if (!pred(lp, arg))
                continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                v = xreallocarray(v, cap, sizeof(*v));
            }
            atomic_fetch_add(&lp->refs, 1);
            v[(*n)++] = lp;
        }
    pthread_rwlock_unlock(&l->lock);
    return v;
}

static bool older_than(const struct lpart *lp, int64_t before)
{
    return lp->info->max_ts < before;
}

static int expire_locked(struct local *l, int64_t before, bool hand_over)
{
    uint32_t n;
    struct lpart **v = collect(l, older_than, before, &n);
    int rc = 0;
    struct tier *next = l->tier.next;
    for (uint32_t i = 0; i < n; i++) {
        struct lpart *lp = v[i];
        if (hand_over && next && next->ops->adopt_part) {
            int r = next->ops->adopt_part(next, lp->path, lp->info);
            if (r < 0) {
                log_error("local: %s could not be handed to %s: %s (kept)", lp->path,
                          next->ops->name, strata_strerror(r));
                rc = r;
                lpart_unref(lp);
                continue;
            }
        }
        log_info("local: %s %s (newest entry older than the retention)",
                 hand_over && next ? "moved" : "deleted", lp->path);
        retire(l, lp);
        pthread_mutex_lock(&l->stat_mu);
        if (hand_over)
            l->st.retired_parts++;
        else
            l->st.expired_parts++;
        pthread_mutex_unlock(&l->stat_mu);
        lpart_unref(lp);
    }
    free(v);
    return rc;
}

static int local_expire(struct tier *tier, int64_t before)
{
    struct local *l = L(tier);
    pthread_mutex_lock(&l->upkeep_mu);
    int rc = expire_locked(l, before, false);
    pthread_mutex_unlock(&l->upkeep_mu);
    return rc;
}

/* ---- compaction ---- */

/* Merge the inputs (sorted by id) into one part: interim at the interim zstd level. */
static int merge_parts(struct local *l, struct lpart **in, uint32_t n, const char *dir,
                       bool interim, struct lpart **out)
{
    *out = NULL;
    uint64_t wal_seq = 0;
    uint32_t n_sup = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (in[i]->info->wal_seq > wal_seq)
            wal_seq = in[i]->info->wal_seq;
        n_sup += 1 + in[i]->info->n_supersedes;
    }
    /* Supersede the inputs, and whatever they superseded that is still on disk. */
    uint64_t *sup = xmallocarray(n_sup, sizeof(*sup));
    n_sup = 0;
    for (uint32_t i = 0; i < n; i++) {
        sup[n_sup++] = in[i]->info->id;
        for (uint32_t j = 0; j < in[i]->info->n_supersedes && n_sup < PART_MAX_SUPERSEDES; j++) {
            char path[PATH_MAX + 32];
            struct stat st;
            snprintf(path, sizeof(path), "%s/%016" PRIx64 ".part", dir, in[i]->info->supersedes[j]);
            if (stat(path, &st) == 0)
                sup[n_sup++] = in[i]->info->supersedes[j];
        }
    }
    struct part_writer_options wo = {
        .dir = dir,
        .id = new_id(l),
        .level = 1,
        .zstd_level = interim ? l->o.interim_zstd_level : l->o.compact_zstd_level,
        .interim = interim,
        .block_bytes = l->o.block_bytes,
        .tenant = in[0]->info->tenant,
        .wal_seq = wal_seq,
        .supersedes = sup,
        .n_supersedes = n_sup,
        .bloom = l->o.bloom,
    };
    struct part_writer *w;
    int rc = part_writer_open(&wo, &w);
    free(sup);
    if (rc < 0)
        return rc;
    /* The inputs are read once, with pread: mapped, they would count as our memory. */
    struct part **rp = xcalloc(n, sizeof(*rp));
    struct part_source *rs = xcalloc(n, sizeof(*rs));
    for (uint32_t i = 0; i < n && !rc; i++) {
        char err[256];
        rc = part_source_file_reads(in[i]->path, &rs[i], err, sizeof(err));
        if (!rc && (rc = part_open(&rs[i], true, &rp[i], err, sizeof(err))) < 0)
            part_source_file_release(&rs[i]);
        if (rc < 0)
            log_error("local: cannot read %s for compaction: %s", in[i]->path, err);
    }
    if (!rc)
        rc = part_merge(w, rp, n, l->o.stop);
    for (uint32_t i = 0; i < n; i++) {
        part_close(rp[i]);
        part_source_file_release(&rs[i]);
    }
    free(rp);
    free(rs);
    if (rc < 0) {
        part_writer_abort(w);
        return rc;
    }
    char path[PATH_MAX], err[256];
    rc = part_writer_finish(w, NULL, path, sizeof(path));
    if (rc < 0)
        return rc;
    struct lpart *lp = lpart_open(path, err, sizeof(err));
    if (!lp) {
        log_error("local: cannot reopen compacted part %s: %s", path, err);
        /* It supersedes the inputs: it must not survive a restart unread. */
        add_orphan(l, path);
        return STRATA_EIO;
    }
    *out = lp;
    return 0;
}

static int cmp_by_id(const void *a, const void *b)
{
    const struct lpart *x = *(struct lpart *const *)a, *y = *(struct lpart *const *)b;
    return x->info->id < y->info->id ? -1 : x->info->id > y->info->id;
}

/* Compact one group (one tenant, one day), inputs referenced; publishes the result. */
static int compact_group(struct local *l, struct lpart **in, uint32_t n, const char *dir,
                         bool interim)
{
    qsort(in, n, sizeof(*in), cmp_by_id);
    int64_t t0 = clock_mono_ns();
    struct lpart *out;
    int rc = merge_parts(l, in, n, dir, interim, &out);
    if (rc < 0) {
        if (rc != STRATA_ECANCELED)
            log_error("local: compacting %u part(s) in %s failed: %s", n, dir, strata_strerror(rc));
        pthread_mutex_lock(&l->stat_mu);
        l->st.compaction_failures += rc != STRATA_ECANCELED;
        pthread_mutex_unlock(&l->stat_mu);
        return rc;
    }
    /* Commit: the new part replaces the inputs in one step for queries. */
    pthread_rwlock_wrlock(&l->lock);
    struct ltenant *t = tenant_add(l, out->info->tenant);
    for (uint32_t i = 0; i < n; i++)
        tenant_remove(t, in[i]);
    tenant_insert(t, out);
    pthread_rwlock_unlock(&l->lock);
    uint64_t before = 0;
    for (uint32_t i = 0; i < n; i++) {
        before += in[i]->info->file_size;
        if (fsio_unlink(in[i]->path) < 0) {
            log_warn("local: cannot delete compacted input %s yet: %s", in[i]->path,
                     strerror(fsio_last_errno()));
            add_orphan(l, in[i]->path);
        }
        lpart_unref(in[i]); /* the set's reference */
    }
    if (fsio_sync_dir(dir) < 0)
        log_warn("local: cannot sync %s", dir);
    log_info("local: compacted %u part(s) (%" PRIu64 " bytes) into %s (%" PRIu64 " bytes, %" PRIu64
             " entries) in %.2fs",
             n, before, out->path, out->info->file_size, out->info->entries,
             (double)(clock_mono_ns() - t0) / 1e9);
    pthread_mutex_lock(&l->stat_mu);
    l->st.compactions++;
    l->st.parts_compacted += n;
    pthread_mutex_unlock(&l->stat_mu);
    return 0;
}

static bool any_part(const struct lpart *lp, int64_t arg)
{
    (void)lp;
    (void)arg;
    return true;
}

static int cmp_group(const void *a, const void *b)
{
    const struct lpart *x = *(struct lpart *const *)a, *y = *(struct lpart *const *)b;
    int c = strcmp(x->info->tenant, y->info->tenant);
    if (c)
        return c;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return x->info->id < y->info->id ? -1 : x->info->id > y->info->id;
}

/*
 * Merge what is due. full: the periodic run (every compact_interval), which
 * also merges settled days; otherwise only days that piled up flush parts.
 * force: merge every day with more than one part or any flush part.
 */
static int compact(struct local *l, bool force, bool full)
{
    uint32_t n;
    struct lpart **v = collect(l, any_part, 0, &n);
    if (n)
        qsort(v, n, sizeof(*v), cmp_group);
    int64_t now = clock_now_ns();
    int rc = 0;
    uint32_t i = 0;
    while (i < n) {
        uint32_t j = i, l0 = 0, unfinished = 0;
        while (j < n && !strcmp(v[j]->info->tenant, v[i]->info->tenant) && v[j]->day == v[i]->day) {
            l0 += v[j]->info->level == 0;
            unfinished += v[j]->info->level == 0 || v[j]->info->interim;
            j++;
        }
        uint32_t cnt = j - i;
        bool settled = (v[i]->day + 1) * NS_PER_DAY + l->o.day_settle <= now;
        bool whole = force || (full && settled);
        bool due = whole ? (cnt > 1 || unfinished > 0)
                         : (l->o.compact_min_parts && l0 >= l->o.compact_min_parts);
        if (due && !(l->o.stop && *l->o.stop)) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof(dir), "%s/%s", l->dir, v[i]->info->tenant);
            /*
             * A whole day merges into one part. A day still being written merges only its
             * flush parts, into one more interim part at a fast zstd level: the day is
             * recompressed once, at the compaction level, when it is merged whole, not
             * every time a few flushes pile up. At most MAX_MERGE inputs at once (the
             * supersedes list stays bounded); the next run takes the rest.
             */
            struct lpart **in = v + i;
            uint32_t take = cnt;
            if (!whole) {
                in = xmallocarray(l0, sizeof(*in));
                take = 0;
                for (uint32_t k = i; k < j; k++)
                    if (v[k]->info->level == 0)
                        in[take++] = v[k];
            }
            /* On success compact_group drops the set's references; ours go below either way. */
            int r = compact_group(l, in, take < MAX_MERGE ? take : MAX_MERGE, dir, !whole);
            if (in != v + i)
                free(in);
            if (r < 0 && r != STRATA_ECANCELED)
                rc = r;
            for (uint32_t k = i; k < j; k++)
                lpart_unref(v[k]);
        } else {
            for (uint32_t k = i; k < j; k++)
                lpart_unref(v[k]);
        }
        i = j;
    }
    free(v);
    return rc;
}

static int local_flush(struct tier *tier, bool force)
{
    struct local *l = L(tier);
    pthread_mutex_lock(&l->upkeep_mu);
    if (clean_orphans(l) < 0)
        log_warn("local: some left-over files still cannot be deleted");
    int rc = 0;
    if (l->o.max_retention > 0)
        rc = expire_locked(l, clock_now_ns() - l->o.max_retention, true);
    int64_t now = clock_mono_ns();
    bool full =
        force || (l->o.compact_interval > 0 && now - l->last_compaction >= l->o.compact_interval);
    if (full || l->o.compact_interval > 0) {
        /* Between full runs, days that collect compact_min_parts flush parts merge early. */
        int64_t t0 = clock_now_ns();
        int r = compact(l, force, full);
        if (r < 0 && !rc)
            rc = r;
        if (full)
            l->last_compaction = clock_mono_ns();
        pthread_mutex_lock(&l->stat_mu);
        l->st.last_compaction_ns = t0;
        l->st.last_compaction_duration_ns = clock_now_ns() - t0;
        pthread_mutex_unlock(&l->stat_mu);
    }
    pthread_mutex_unlock(&l->upkeep_mu);
    return rc;
}

static void local_close(struct tier *tier)
{
    struct local *l = L(tier);
    for (uint32_t i = 0; i < l->n_tenants; i++) {
        for (uint32_t j = 0; j < l->tenants[i].n; j++)
            lpart_unref(l->tenants[i].parts[j]);
        free(l->tenants[i].parts);
        free(l->tenants[i].name);
        free(l->tenants[i].dir);
    }
    free(l->tenants);
    for (uint32_t i = 0; i < l->n_orphans; i++)
        free(l->orphans[i]);
    free(l->orphans);
    pthread_rwlock_destroy(&l->lock);
    pthread_mutex_destroy(&l->id_mu);
    pthread_mutex_destroy(&l->upkeep_mu);
    pthread_mutex_destroy(&l->orphan_mu);
    pthread_mutex_destroy(&l->stat_mu);
    free(l->dir);
    free(l);
}

static const struct tier_ops local_ops = {
    .name = "local",
    .meta_without_lines = true,
    .select = local_select,
    .series = local_series,
    .stats = local_stats,
    .flush = local_flush,
    .close = local_close,
    .absorb = local_absorb,
    .commit = local_commit,
    .durable_seq = local_durable_seq,
    .expire = local_expire,
    .usage = local_usage,
};
