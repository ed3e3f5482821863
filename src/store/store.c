/*
 * store.c - the storage engine: the WAL in front of the tier chain, the
 * flush (head generation -> next tier -> WAL checkpoint), upkeep (compaction,
 * retention), the data directory lock, and the view queries read.
 *
 * Data directory:
 *
 *     <data-dir>/LOCK                  flock()ed while a process runs; holds its pid
 *     <data-dir>/wal/<seq>.wal         WAL segments (format: wal.c)
 *     <data-dir>/wal/checkpoint        the WAL checkpoint (below)
 *     <data-dir>/parts/<tenant>/...    local parts (local.h, format: part.c)
 *
 * The checkpoint file is one line of text, replaced atomically (temp file,
 * fsync, rename, directory fsync):
 *
 *     strata-wal-checkpoint 1 <seq> <crc32c of "<seq>" in 8 hex digits>\n
 *
 * It says that every WAL segment numbered <= seq is held by the tiers after
 * the head. It is the commit point of a flush:
 *
 *   1. cut: with pushes paused (the cut lock), the WAL is rotated (segment S
 *      sealed) and the head's active generation frozen as a hand-over with
 *      seq S; pushes resume into a new generation and segment S+1;
 *   2. absorb: the next tier writes the generation durably (local: one part
 *      per tenant and day, invisible for now, each recording seq S);
 *   3. checkpoint: the file above is replaced with S;
 *   4. commit: under the hand-over lock, the next tier makes the data
 *      visible and the head drops the generation, so a query sees it once;
 *   5. segments <= S are deleted.
 * A failure at 2 or 3 leaves the generation frozen (still queryable, still
 * in the WAL) and the step is retried with backoff. A crash before 3 leaves
 * parts with seq > checkpoint: local_open deletes them and the WAL replays
 * their data; a crash after 3 leaves segments <= S, which start-up deletes
 * without replaying. Either way every acknowledged entry is stored exactly
 * once.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/metrics.h"
#include "remote/clickhouse.h"
#include "store/fsio.h"
#include "store/head.h"
#include "store/local.h"
#include "store/record.h"
#include "store/wal.h"
#include "remote/s3_tier.h"

/* Where a frozen generation is on its way down the chain. */
enum pending_state { P_NONE, P_CUT, P_ABSORBED, P_CHECKPOINTED };

struct store {
    struct tier view; /* must stay first: store_chain returns &s->view */
    char *data_dir, *wal_dir, *parts_dir;
    int lock_fd;
    struct wal *wal;
    enum wal_sync sync;
    struct tier *head, *next; /* next: the tier after the head (local) */
    uint64_t checkpoint;      /* under mu once the threads run */

    /* limits */
    uint64_t max_logs, max_bytes;
    int64_t max_age;
    int64_t retention;
    int64_t compact_interval;
    int64_t push_wait; /* how long a push waits for memory before 429 */
    bool flush_on_exit;
    bool read_only; /* --target=querier: pushes are refused */

    pthread_rwlock_t cut_lock;      /* pushes (read) against cutting the head (write) */
    pthread_rwlock_t handover_lock; /* queries (read) against commit + drop (write) */
    pthread_mutex_t flush_mu;       /* one flush procedure at a time */
    struct handover *pending;
    enum pending_state pending_state;

    pthread_mutex_t mu;       /* the fields below */
    pthread_cond_t cv;        /* wakes the flusher */
    pthread_cond_t upkeep_cv; /* wakes the upkeep thread (to stop) */
    pthread_cond_t room_cv;   /* a generation was dropped: pushes waiting for memory retry */
    bool stop, flush_wanted;
    bool has_pending; /* mirrors pending != NULL for the flusher */
    int64_t retry_at; /* monotonic: when a failed flush is retried */
    int64_t backoff;
    pthread_t flusher, upkeeper;
    bool threads_started;
    volatile int stopping; /* read by compaction to give up early */

    /* statistics (under mu) */
    uint64_t flushes, flush_failures, flushed_entries;
    int64_t last_flush_ns;
    int last_flush_rc;
    atomic_ullong busy_rejections;
    atomic_ullong room_waits, room_wait_ns; /* pushes that waited for a flush, and how long */
};

static const struct tier_ops view_ops;

/* ---- the lock ---- */

static int lock_data_dir(struct store *s, bool unlock, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/LOCK", s->data_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return fsio_err(errno);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (!unlock) {
            snprintf(err, errlen,
                     "data directory %s is locked by another Strata process (pid %s); stop it, "
                     "or pass --unlock-data-dir if the lock is stale",
                     s->data_dir, pid[0] ? pid : "unknown");
            close(fd);
            return STRATA_ELOCKED;
        }
        log_warn("store: %s is locked (pid %s); continuing because of --unlock-data-dir",
                 s->data_dir, pid[0] ? pid : "unknown");
        close(fd);
        s->lock_fd = -1;
        return 0;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        log_warn("store: cannot write the pid into %s", path);
    s->lock_fd = fd;
    return 0;
}

/* ---- the checkpoint file ---- */

static int read_checkpoint(const char *wal_dir, uint64_t *seq, bool *present, char *err,
                           size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/checkpoint", wal_dir);
    *present = false;
    *seq = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return STRATA_EIO;
    }
    char line[128];
    char *ok = fgets(line, sizeof(line), f);
    fclose(f);
    char num[32];
    unsigned version = 0, crc = 0;
    if (!ok || sscanf(line, "strata-wal-checkpoint %u %31[0-9] %8x", &version, num, &crc) != 3 ||
        version != 1 || crc32c(0, num, strlen(num)) != crc) {
        snprintf(err, errlen,
                 "%s is damaged; without it Strata cannot tell which WAL segments are already "
                 "in parts. Restore it, or delete it to keep every part and skip the WAL "
                 "segments they cover",
                 path);
        return STRATA_ECORRUPT;
    }
    *seq = strtoull(num, NULL, 10);
    *present = true;
    return 0;
}

static int write_checkpoint(struct store *s, uint64_t seq)
{
    char num[32], line[128];
    snprintf(num, sizeof(num), "%" PRIu64, seq);
    int n = snprintf(line, sizeof(line), "strata-wal-checkpoint 1 %s %08x\n", num,
                     crc32c(0, num, strlen(num)));
    int rc = fsio_write_atomic(s->wal_dir, "checkpoint", line, (size_t)n);
    if (rc < 0)
        log_error("store: cannot write the WAL checkpoint %" PRIu64 ": %s", seq,
                  strerror(fsio_last_errno()));
    else {
        pthread_mutex_lock(&s->mu);
        s->checkpoint = seq;
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

/* ---- flushing ---- */

static void set_pending(struct store *s, struct handover *h, enum pending_state st)
{
    s->pending = h;
    s->pending_state = st;
    pthread_mutex_lock(&s->mu);
    s->has_pending = h != NULL;
    pthread_mutex_unlock(&s->mu);
}

static void note_flush(struct store *s, int rc, uint64_t entries)
{
    pthread_mutex_lock(&s->mu);
    s->last_flush_rc = rc;
    if (rc == 0)
        pthread_cond_broadcast(&s->room_cv);
    if (rc == 0) {
        s->flushes++;
        s->flushed_entries += entries;
        s->last_flush_ns = clock_now_ns();
        s->backoff = 0;
        s->retry_at = 0;
    } else {
        s->flush_failures++;
        s->backoff = s->backoff ? s->backoff * 2 : NS_PER_SEC;
        if (s->backoff > 30 * NS_PER_SEC)
            s->backoff = 30 * NS_PER_SEC;
        s->retry_at = clock_mono_ns() + s->backoff;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Take the pending generation as far down as it goes. Called with flush_mu held. */
static int advance_pending(struct store *s)
{
    struct handover *h = s->pending;
    int rc = 0;
    if (s->pending_state == P_CUT) {
        int64_t t0 = clock_mono_ns();
        rc = s->next->ops->absorb(s->next, h);
        if (rc < 0)
            return rc;
        s->pending_state = P_ABSORBED;
        log_info("store: flushed %" PRIu64 " entries of %" PRIu64 " streams to %s in %.2fs",
                 h->entries, h->streams, s->next->ops->name, (double)(clock_mono_ns() - t0) / 1e9);
    }
    if (s->pending_state == P_ABSORBED) {
        if ((rc = write_checkpoint(s, h->seq)) < 0)
            return rc;
        s->pending_state = P_CHECKPOINTED;
    }
    uint64_t entries = h->entries, seq = h->seq;
    pthread_rwlock_wrlock(&s->handover_lock);
    if (s->next->ops->commit)
        s->next->ops->commit(s->next, h);
    head_drop(s->head, h);
    pthread_rwlock_unlock(&s->handover_lock);
    set_pending(s, NULL, P_NONE);
#ifdef __GLIBC__
    /*
     * The generation was allocated by the push threads' malloc arenas: give it back, unless
     * pushes are already refilling the head (half its limits), which would take every page
     * back with a fault (5% of the server's CPU under a steady push).
     */
    struct head_usage u;
    head_usage(s->head, &u);
    if (u.entries < s->max_logs / 2 && u.mem_bytes < s->max_bytes / 2)
        malloc_trim(0);
#endif
    /* During replay the WAL is not open yet; store_open removes the segments then. */
    if (s->wal && wal_remove_through(s->wal, seq) < 0)
        log_warn("store: WAL segments up to %" PRIu64 " could not all be deleted yet", seq);
    note_flush(s, 0, entries);
    return 0;
}

/* Freeze the head's active generation. Called with flush_mu held and nothing pending. */
static int cut(struct store *s)
{
    struct head_usage u;
    head_usage(s->head, &u);
    if (!u.entries)
        return 0;
    pthread_rwlock_wrlock(&s->cut_lock);
    head_gc(s->head);
    uint64_t sealed;
    int rc = wal_rotate(s->wal, &sealed);
    struct handover *h = NULL;
    if (!rc)
        rc = head_cut(s->head, sealed, &h);
    pthread_rwlock_unlock(&s->cut_lock);
    if (rc < 0) {
        log_error("store: cannot start a flush: %s", strata_strerror(rc));
        return rc;
    }
    if (h)
        set_pending(s, h, P_CUT);
    return 0;
}

/*
 * Flush: finish a pending generation, then (if cut_now or it is due) freeze
 * and flush the active one.
 */
static int flush_head(struct store *s, bool cut_now)
{
    pthread_mutex_lock(&s->flush_mu);
    int rc = 0;
    if (s->pending)
        rc = advance_pending(s);
    if (!rc && cut_now) {
        rc = cut(s);
        if (!rc && s->pending)
            rc = advance_pending(s);
    }
    if (rc < 0) {
        note_flush(s, rc, 0);
        log_error("store: flush failed (%s); the data stays in memory and in the WAL, retrying",
                  strata_strerror(rc));
    }
    pthread_mutex_unlock(&s->flush_mu);
    return rc;
}

/* Is the active generation due for a flush (age or size)? */
static bool flush_due(struct store *s, int64_t now, int64_t *wake)
{
    struct head_usage u;
    head_usage(s->head, &u);
    if (!u.entries)
        return false;
    if (u.entries >= s->max_logs || u.mem_bytes >= s->max_bytes)
        return true;
    if (s->max_age > 0 && u.active_since) {
        int64_t due = u.active_since + s->max_age;
        if (due <= now)
            return true;
        if (due < *wake)
            *wake = due;
    }
    return false;
}

static void *flusher_main(void *arg)
{
    struct store *s = arg;
    pthread_setname_np(pthread_self(), "store-flush");
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        int64_t now = clock_mono_ns();
        int64_t wake = now + NS_PER_SEC;
        bool in_backoff = s->retry_at > now;
        if (in_backoff && s->retry_at < wake)
            wake = s->retry_at;
        bool pending = s->has_pending;
        pthread_mutex_unlock(&s->mu);
        bool due = flush_due(s, now, &wake);
        pthread_mutex_lock(&s->mu);
        bool wanted = s->flush_wanted;
        s->flush_wanted = false;
        if (!in_backoff && (pending || due || wanted)) {
            pthread_mutex_unlock(&s->mu);
            flush_head(s, due || wanted);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t d = wake - clock_mono_ns();
        if (d < NS_PER_MS)
            d = NS_PER_MS;
        int64_t ns = ts.tv_nsec + d;
        ts.tv_sec += ns / NS_PER_SEC;
        ts.tv_nsec = ns % NS_PER_SEC;
        if (!s->stop && !s->flush_wanted)
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void wake_flusher(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    s->flush_wanted = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- upkeep: compaction and retention of the tiers after the head ---- */

static int upkeep(struct store *s, bool force)
{
    int rc = 0;
    for (struct tier *t = s->next; t; t = t->next) {
        if (t->ops->flush) {
            int r = t->ops->flush(t, force);
            if (r < 0 && !rc)
                rc = r;
        }
        if (s->retention > 0 && t->ops->expire) {
            int r = t->ops->expire(t, clock_now_ns() - s->retention);
            if (r < 0 && !rc)
                rc = r;
        }
    }
    return rc;
}

static void *upkeeper_main(void *arg)
{
    struct store *s = arg;
    pthread_setname_np(pthread_self(), "store-upkeep");
    /*
     * Compaction and retention are background work: at nice 10 this thread gets
     * what pushes, the flush and queries leave (about a tenth of a busy core),
     * so that a burst of pushes is not slowed by compacting the last one. A
     * forced upkeep (POST /api/v1/admin/flush) runs in the caller's thread.
     */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) < 0)
        log_debug("store: cannot lower the upkeep thread's priority: %s", strerror(errno));
    /* Retention is checked every 15 s; a shorter --compact-duration wakes us sooner. */
    int64_t every = 15 * NS_PER_SEC;
    if (s->compact_interval > 0 && s->compact_interval < every)
        every = s->compact_interval > NS_PER_SEC ? s->compact_interval : NS_PER_SEC;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + every;
        ts.tv_sec += ns / NS_PER_SEC;
        ts.tv_nsec = ns % NS_PER_SEC;
        pthread_cond_timedwait(&s->upkeep_cv, &s->mu, &ts);
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        upkeep(s, false);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int store_flush(struct store *s, bool force)
{
    int rc = flush_head(s, true);
    if (force) {
        int r = upkeep(s, true);
        if (!rc)
            rc = r;
    }
    return rc;
}

/* ---- replay ---- */

struct replay {
    struct store *s;
    uint64_t entries;
    int rc;
};

static int replay_record(void *arg, uint64_t seg, int type, const void *p, size_t len)
{
    struct replay *r = arg;
    if (type != WAL_REC_PUSH) {
        log_warn("store: WAL segment %" PRIu64 ": skipping a record of unknown type %d", seg, type);
        return 0;
    }
    struct push_batch b;
    push_batch_init(&b, "");
    int rc = record_decode(p, len, &b);
    if (rc < 0) {
        /* The checksum matched, so this is a bug or a foreign file: keep going, loudly. */
        log_error("store: WAL segment %" PRIu64 ": a record with a valid checksum does not decode; "
                  "skipped",
                  seg);
    } else {
        head_append(r->s->head, &b, NULL);
        r->entries += b.n_entries;
    }
    push_batch_release(&b);
    return 0;
}

/*
 * After each replayed segment: flush when the head is over its limits, so
 * that a long WAL replays in bounded memory. If that flush fails, replay goes
 * on in memory and the flusher retries once the store is open.
 */
static int replay_segment_done(void *arg, uint64_t seg)
{
    struct replay *r = arg;
    struct store *s = r->s;
    if (s->pending)
        return 0;
    struct head_usage u;
    head_usage(s->head, &u);
    if (u.entries < s->max_logs && u.mem_bytes < s->max_bytes)
        return 0;
    struct handover *h;
    int rc = head_cut(s->head, seg, &h);
    if (rc < 0 || !h)
        return rc;
    set_pending(s, h, P_CUT);
    rc = advance_pending(s);
    if (rc < 0)
        log_error("store: flush during WAL replay failed (%s); retrying after start",
                  strata_strerror(rc));
    return 0;
}

/* ---- push ---- */

/* True when b does not fit in the head's hard limits (twice the flush limits). */
static bool over_limits(struct store *s, const struct push_batch *b, struct head_usage *u)
{
    head_usage(s->head, u);
    uint64_t held = u->entries + u->frozen_entries, mem = u->mem_bytes + u->frozen_mem_bytes;
    uint64_t batch_mem = b->n_bytes + 28 * b->n_entries;
    return held && (held + b->n_entries > 2 * s->max_logs || mem + batch_mem > 2 * s->max_bytes);
}

/*
 * Wait (at most until deadline, monotonic ns) for a flush to free memory.
 * Waiting pushes use no CPU, which leaves it to the flush: under a sustained
 * overload this is what turns 429s into slower acknowledgements.
 */
static void wait_for_room(struct store *s, int64_t deadline)
{
    pthread_mutex_lock(&s->mu);
    s->flush_wanted = true;
    pthread_cond_broadcast(&s->cv);
    int64_t left = deadline - clock_mono_ns();
    if (left > 0 && !s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (left < 100 * NS_PER_MS ? left : 100 * NS_PER_MS);
        ts.tv_sec += ns / NS_PER_SEC;
        ts.tv_nsec = ns % NS_PER_SEC;
        pthread_cond_timedwait(&s->room_cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
}

int store_push(struct store *s, struct push_batch *b, struct push_result *res)
{
    if (s->read_only)
        return STRATA_EUNSUPPORTED;
    if (!b->n_entries)
        return 0;
    struct head_usage u;
    int64_t deadline = 0, waited_from = 0;
    for (;;) {
        pthread_rwlock_rdlock(&s->cut_lock);
        if (!over_limits(s, b, &u))
            break;
        pthread_rwlock_unlock(&s->cut_lock);
        int64_t now = clock_mono_ns();
        if (!deadline) {
            waited_from = now;
            deadline = now + s->push_wait;
            atomic_fetch_add(&s->room_waits, 1);
        }
        if (now >= deadline) {
            atomic_fetch_add(&s->room_wait_ns, (uint64_t)(now - waited_from));
            atomic_fetch_add(&s->busy_rejections, 1);
            return STRATA_EBUSY;
        }
        wait_for_room(s, deadline);
    }
    if (deadline)
        atomic_fetch_add(&s->room_wait_ns, (uint64_t)(clock_mono_ns() - waited_from));
    uint8_t *accept;
    uint64_t stored = head_check(s->head, b, res, &accept);
    if (!stored) {
        pthread_rwlock_unlock(&s->cut_lock);
        return 0;
    }
    struct buf rec;
    buf_init(&rec, WAL_MAX_RECORD);
    /* Room for the usual record at once (lines, a few bytes per entry, the labels), not a
     * doubling series; past the limit on a record, record_encode fails and says so. */
    if (buf_reserve(&rec, b->n_bytes + 12 * b->n_entries + 256 * (uint64_t)b->n_streams) < 0)
        log_debug("store: a push of %" PRIu64 " line bytes is larger than a WAL record may be",
                  b->n_bytes);
    int rc = record_encode(&rec, b, accept);
    if (!rc)
        rc = wal_append(s->wal, WAL_REC_PUSH, rec.ptr, rec.len);
    buf_release(&rec);
    if (rc < 0) {
        pthread_rwlock_unlock(&s->cut_lock);
        return rc;
    }
    head_append(s->head, b, accept);
    pthread_rwlock_unlock(&s->cut_lock);
    uint64_t batch_mem = b->n_bytes + 28 * b->n_entries;
    if (u.entries + stored >= s->max_logs || u.mem_bytes + batch_mem >= s->max_bytes)
        wake_flusher(s);
    return 0;
}

/* ---- the view ---- */

static struct store *V(struct tier *t)
{
    return (struct store *)t;
}

struct collected {
    struct tier_stream *v;
    size_t n, cap;
    struct arena *a;
};

static int collect_stream(void *arg, const struct tier_stream *ts)
{
    struct collected *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        c->v = arena_realloc(c->a, c->v, c->cap * sizeof(*c->v), cap * sizeof(*c->v));
        c->cap = cap;
    }
    c->v[c->n++] = *ts;
    return 0;
}

/*
 * Run op over the head and the tier after it under the hand-over lock
 * (collecting what they report), then hand everything collected to fn. The
 * tiers after those (object storage) are the view's next link: the engine
 * reads them as a tier of their own, so that it drops the copies of entries
 * a part hand-over shows in both (tier.h's adopt_part has no atomic commit).
 */
static int view_walk(struct tier *t, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                     void *arg, bool cursors)
{
    struct store *s = V(t);
    struct collected c = {.a = a};
    int rc = 0;
    /* The view honours want_meta: tiers that keep metadata with the lines are asked for lines. */
    struct tier_query ql = *q;
    ql.want_lines = q->want_lines || q->want_meta;
#define Q(x) ((x)->ops->meta_without_lines ? q : &ql)
    pthread_rwlock_rdlock(&s->handover_lock);
    for (struct tier *x = s->head; x && x != s->next->next && !rc; x = x->next) {
        rc = cursors ? x->ops->select(x, Q(x), a, collect_stream, &c)
                     : x->ops->series(x, q, a, collect_stream, &c);
    }
    pthread_rwlock_unlock(&s->handover_lock);
#undef Q
    size_t i = 0;
    for (; i < c.n && !rc; i++)
        rc = fn(arg, &c.v[i]);
    for (; i < c.n; i++)
        if (c.v[i].cursor)
            c.v[i].cursor->ops->close(c.v[i].cursor);
    return rc < 0 ? rc : 0;
}

static int view_select(struct tier *t, const struct tier_query *q, struct arena *a,
                       tier_stream_fn fn, void *arg)
{
    return view_walk(t, q, a, fn, arg, true);
}

/* Series: each stream once, whichever tiers hold it. */
struct series_dedup {
    tier_stream_fn fn;
    void *arg;
    uint64_t *fps;
    struct slice *keys;
    size_t cap, n;
};

static int series_once(void *arg, const struct tier_stream *ts)
{
    struct series_dedup *d = arg;
    if (2 * (d->n + 1) > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        uint64_t *fps = xcalloc(cap, sizeof(*fps));
        struct slice *keys = xcalloc(cap, sizeof(*keys));
        for (size_t i = 0; i < d->cap; i++)
            if (d->keys[i].ptr) {
                size_t k = d->fps[i] & (cap - 1);
                while (keys[k].ptr)
                    k = (k + 1) & (cap - 1);
                fps[k] = d->fps[i];
                keys[k] = d->keys[i];
            }
        free(d->fps);
        free(d->keys);
        d->fps = fps;
        d->keys = keys;
        d->cap = cap;
    }
    size_t k = ts->fp & (d->cap - 1);
    while (d->keys[k].ptr) {
        if (d->fps[k] == ts->fp && slice_eq(d->keys[k], ts->key))
            return 0;
        k = (k + 1) & (d->cap - 1);
    }
    d->fps[k] = ts->fp;
    d->keys[k] = ts->key.ptr ? ts->key : (struct slice){"", 0};
    d->n++;
    return d->fn(d->arg, ts);
}

static int view_series(struct tier *t, const struct tier_query *q, struct arena *a,
                       tier_stream_fn fn, void *arg)
{
    struct series_dedup d = {.fn = fn, .arg = arg};
    int rc = view_walk(t, q, a, series_once, &d, false);
    free(d.fps);
    free(d.keys);
    return rc;
}

static int view_stats(struct tier *t, const struct tier_query *q, struct tier_stats *out)
{
    struct store *s = V(t);
    int rc = 0;
    pthread_rwlock_rdlock(&s->handover_lock);
    for (struct tier *x = s->head; x && x != s->next->next && !rc; x = x->next)
        if (x->ops->stats)
            rc = x->ops->stats(x, q, out);
    pthread_rwlock_unlock(&s->handover_lock);
    return rc;
}

static int view_usage(struct tier *t, struct tier_usage *out)
{
    struct store *s = V(t);
    memset(out, 0, sizeof(*out));
    bool first = true;
    for (struct tier *x = s->head; x; x = x->next) {
        struct tier_usage u;
        if (!x->ops->usage || x->ops->usage(x, &u) < 0)
            continue;
        out->streams += u.streams;
        out->entries += u.entries;
        out->bytes += u.bytes;
        out->parts += u.parts;
        out->disk_bytes += u.disk_bytes;
        if (u.entries && (first || u.min_ts < out->min_ts))
            out->min_ts = u.min_ts;
        if (u.entries && (first || u.max_ts > out->max_ts))
            out->max_ts = u.max_ts;
        if (u.entries)
            first = false;
    }
    return 0;
}

static void view_close(struct tier *t)
{
    (void)t; /* the store closes the real tiers */
}

static const struct tier_ops view_ops = {
    .name = "store",
    .meta_without_lines = true, /* view_walk asks other tiers for lines */
    .select = view_select,
    .series = view_series,
    .stats = view_stats,
    .close = view_close,
    .usage = view_usage,
};

struct tier *store_chain(struct store *s)
{
    return &s->view;
}

struct tier *store_tiers(struct store *s)
{
    return s->head;
}

/* ---- status and metrics ---- */

void store_status(struct store *s, struct store_status *out)
{
    memset(out, 0, sizeof(*out));
    struct head_usage u;
    head_usage(s->head, &u);
    out->head_entries = u.entries;
    out->head_bytes = u.bytes;
    out->head_mem_bytes = u.mem_bytes;
    out->frozen_entries = u.frozen_entries;
    out->frozen_bytes = u.frozen_bytes;
    out->head_streams = u.streams;
    out->head_tenants = u.tenants;
    out->head_age_ns = u.active_since ? clock_mono_ns() - u.active_since : 0;
    out->wal_sync = s->sync == WAL_SYNC_ALWAYS ? "always" : "interval";
    struct wal_status ws;
    wal_status(s->wal, &ws);
    out->wal_segments = ws.segments;
    out->wal_bytes = ws.bytes;
    out->wal_first = ws.first;
    out->wal_current = ws.current;
    out->wal_appends = ws.appends;
    out->wal_rounds = ws.rounds;
    out->wal_fsyncs = ws.fsyncs;
    out->wal_failures = ws.failures;
    out->wal_broken = ws.broken;
    pthread_mutex_lock(&s->mu);
    out->wal_checkpoint = s->checkpoint;
    out->flushes = s->flushes;
    out->flush_failures = s->flush_failures;
    out->flushed_entries = s->flushed_entries;
    out->last_flush_ns = s->last_flush_ns;
    out->last_flush_rc = s->last_flush_rc;
    pthread_mutex_unlock(&s->mu);
    out->busy_rejections = atomic_load(&s->busy_rejections);
    out->room_waits = atomic_load(&s->room_waits);
    out->room_wait_ns = atomic_load(&s->room_wait_ns);
    struct local_status ls;
    memset(&ls, 0, sizeof(ls));
    for (struct tier *t = s->next; t; t = t->next)
        if (!strcmp(t->ops->name, "local"))
            local_status(t, &ls);
    out->compactions = ls.compactions;
    out->compaction_failures = ls.compaction_failures;
    out->parts_compacted = ls.parts_compacted;
    out->corrupt_parts = ls.corrupt_parts;
    out->last_compaction_ns = ls.last_compaction_ns;
    for (struct tier *x = s->head; x && out->n_tiers < 8; x = x->next) {
        struct store_tier_status *ts = &out->tiers[out->n_tiers];
        ts->name = x->ops->name;
        if (x->ops->usage && x->ops->usage(x, &ts->usage) == 0)
            out->n_tiers++;
    }
}

/* One gauge family with a sample per tier: the uint64_t field at off of its usage. */
static int tier_gauge(struct buf *out, const struct store_status *st, const char *name,
                      const char *help, size_t off)
{
    int rc = buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (uint32_t i = 0; i < st->n_tiers && !rc; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&st->tiers[i].usage + off, sizeof(v));
        rc = buf_printf(out, "%s{tier=\"%s\"} %" PRIu64 "\n", name, st->tiers[i].name, v);
    }
    return rc;
}

static void metrics_collector(struct buf *out, void *arg)
{
    struct store *s = arg;
    struct store_status st;
    store_status(s, &st);
    int rc = buf_printf(
        out,
        "# HELP strata_head_entries Entries in the head (memory tier), by generation.\n"
        "# TYPE strata_head_entries gauge\n"
        "strata_head_entries{generation=\"active\"} %" PRIu64 "\n"
        "strata_head_entries{generation=\"flushing\"} %" PRIu64 "\n"
        "# HELP strata_head_bytes Bytes of lines in the head, by generation.\n"
        "# TYPE strata_head_bytes gauge\n"
        "strata_head_bytes{generation=\"active\"} %" PRIu64 "\n"
        "strata_head_bytes{generation=\"flushing\"} %" PRIu64 "\n"
        "# HELP strata_head_streams Streams known to the head.\n"
        "# TYPE strata_head_streams gauge\nstrata_head_streams %" PRIu64 "\n"
        "# HELP strata_wal_segments WAL segment files on disk.\n"
        "# TYPE strata_wal_segments gauge\nstrata_wal_segments %" PRIu64 "\n"
        "# HELP strata_wal_bytes Bytes of WAL segment files on disk.\n"
        "# TYPE strata_wal_bytes gauge\nstrata_wal_bytes %" PRIu64 "\n"
        "# HELP strata_wal_appends_total Records appended to the WAL.\n"
        "# TYPE strata_wal_appends_total counter\nstrata_wal_appends_total %" PRIu64 "\n"
        "# HELP strata_wal_fsyncs_total fdatasync calls on WAL segments (group commit shares "
        "them).\n"
        "# TYPE strata_wal_fsyncs_total counter\nstrata_wal_fsyncs_total %" PRIu64 "\n"
        "# HELP strata_wal_failures_total WAL writes or syncs that failed.\n"
        "# TYPE strata_wal_failures_total counter\nstrata_wal_failures_total %" PRIu64 "\n"
        "# HELP strata_flushes_total Head generations flushed to the next tier, by result.\n"
        "# TYPE strata_flushes_total counter\n"
        "strata_flushes_total{result=\"ok\"} %" PRIu64 "\n"
        "strata_flushes_total{result=\"error\"} %" PRIu64 "\n"
        "# HELP strata_flushed_entries_total Entries flushed from the head.\n"
        "# TYPE strata_flushed_entries_total counter\nstrata_flushed_entries_total %" PRIu64 "\n"
        "# HELP strata_compactions_total Compactions, by result.\n"
        "# TYPE strata_compactions_total counter\n"
        "strata_compactions_total{result=\"ok\"} %" PRIu64 "\n"
        "strata_compactions_total{result=\"error\"} %" PRIu64 "\n"
        "# HELP strata_push_busy_total Pushes refused with 429 because memory was full.\n"
        "# TYPE strata_push_busy_total counter\nstrata_push_busy_total %" PRIu64 "\n"
        "# HELP strata_push_room_waits_total Pushes that waited for a flush to make room in "
        "memory.\n"
        "# TYPE strata_push_room_waits_total counter\nstrata_push_room_waits_total %" PRIu64 "\n"
        "# HELP strata_push_room_wait_seconds_total Time pushes spent waiting for that room.\n"
        "# TYPE strata_push_room_wait_seconds_total counter\n"
        "strata_push_room_wait_seconds_total %.6f\n",
        st.head_entries, st.frozen_entries, st.head_bytes, st.frozen_bytes, st.head_streams,
        st.wal_segments, st.wal_bytes, st.wal_appends, st.wal_fsyncs, st.wal_failures, st.flushes,
        st.flush_failures, st.flushed_entries, st.compactions, st.compaction_failures,
        st.busy_rejections, st.room_waits, (double)st.room_wait_ns / 1e9);
    if (!rc)
        rc = tier_gauge(out, &st, "strata_tier_parts", "Parts (files or objects) per tier.",
                        offsetof(struct tier_usage, parts));
    if (!rc)
        rc = tier_gauge(out, &st, "strata_tier_disk_bytes",
                        "Bytes on disk or in the bucket per tier.",
                        offsetof(struct tier_usage, disk_bytes));
    if (!rc)
        rc = tier_gauge(out, &st, "strata_tier_entries", "Entries per tier.",
                        offsetof(struct tier_usage, entries));
    (void)rc;
}

/* ---- open / close ---- */

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static void free_store(struct store *s)
{
    if (s->head)
        s->head->ops->close(s->head);
    for (struct tier *t = s->next; t;) {
        struct tier *n = t->next;
        t->ops->close(t);
        t = n;
    }
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    pthread_rwlock_destroy(&s->cut_lock);
    pthread_rwlock_destroy(&s->handover_lock);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->upkeep_cv);
    pthread_cond_destroy(&s->room_cv);
    free(s->data_dir);
    free(s->wal_dir);
    free(s->parts_dir);
    free(s);
}

int store_open(const struct config *cfg, struct store **out, char *err, size_t errlen)
{
    *out = NULL;
    enum wal_sync sync;
    if (!strcmp(cfg->wal_sync, "always")) {
        sync = WAL_SYNC_ALWAYS;
    } else if (!strcmp(cfg->wal_sync, "interval")) {
        sync = WAL_SYNC_INTERVAL;
    } else {
        snprintf(err, errlen, "invalid value \"%s\" for --wal.sync: expected always or interval",
                 cfg->wal_sync);
        return STRATA_EINVAL;
    }
    if (cfg->max_logs_in_mem <= 0 || cfg->max_bytes_in_mem <= 0) {
        snprintf(err, errlen, "--max-logs-in-mem and --max-bytes-in-mem must be positive");
        return STRATA_EINVAL;
    }
    if (cfg->store_block_size < 4096 || cfg->store_block_size > (256 << 20)) {
        snprintf(err, errlen, "--store.block-size must be between 4KiB and 256MiB");
        return STRATA_EINVAL;
    }
    if (cfg->store_flush_zstd_level < 1 || cfg->store_flush_zstd_level > 22 ||
        cfg->store_compact_zstd_level < 1 || cfg->store_compact_zstd_level > 22 ||
        cfg->store_interim_zstd_level < 1 || cfg->store_interim_zstd_level > 22) {
        snprintf(err, errlen, "zstd levels must be between 1 and 22");
        return STRATA_EINVAL;
    }
    struct store *s = xcalloc(1, sizeof(*s));
    s->view.ops = &view_ops;
    s->lock_fd = -1;
    s->sync = sync;
    s->max_logs = (uint64_t)cfg->max_logs_in_mem;
    s->max_bytes = (uint64_t)cfg->max_bytes_in_mem;
    s->max_age = cfg->max_time_in_mem;
    s->retention = cfg->retention;
    s->compact_interval = cfg->compact_duration;
    s->push_wait = cfg->store_push_wait;
    s->flush_on_exit = cfg->flush_on_exit;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->cut_lock, &attr);
    pthread_rwlock_init(&s->handover_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&s->flush_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->upkeep_cv, NULL);
    pthread_cond_init(&s->room_cv, NULL);
    s->data_dir = xstrdup(cfg->data_dir && cfg->data_dir[0] ? cfg->data_dir : "data");
    s->wal_dir = path_join(s->data_dir, "wal");
    s->parts_dir = path_join(s->data_dir, "parts");

    int rc = fsio_mkdirs(s->data_dir);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create data directory %s: %s", s->data_dir,
                 strerror(fsio_last_errno()));
        goto fail;
    }
    if ((rc = lock_data_dir(s, cfg->unlock_data_dir, err, errlen)) < 0)
        goto fail;
    if ((rc = fsio_mkdirs(s->wal_dir)) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", s->wal_dir, strerror(fsio_last_errno()));
        goto fail;
    }
    bool present;
    uint64_t ckpt;
    if ((rc = read_checkpoint(s->wal_dir, &ckpt, &present, err, errlen)) < 0)
        goto fail;

    struct head_options ho = {.ooo_window = cfg->store_ooo_window};
    s->head = head_new(&ho);
    struct local_options lo = {
        .dir = s->parts_dir,
        .checkpoint = present ? ckpt : UINT64_MAX,
        .flush_zstd_level = (int)cfg->store_flush_zstd_level,
        .compact_zstd_level = (int)cfg->store_compact_zstd_level,
        .interim_zstd_level = (int)cfg->store_interim_zstd_level,
        .block_bytes = (uint32_t)cfg->store_block_size,
        .bloom = cfg->store_bloom_filters,
        .flush_bloom = cfg->store_flush_bloom_filters,
        .max_retention = cfg->max_retention_time,
        .compact_interval = cfg->compact_duration,
        .day_settle = cfg->store_day_settle,
        .compact_min_parts =
            (uint32_t)(cfg->store_compact_min_parts > 0 ? cfg->store_compact_min_parts : 0),
        .stop = &s->stopping,
    };
    if (cfg->clickhouse_url && cfg->clickhouse_url[0]) {
        /* head -> ClickHouse (docs/CLICKHOUSE.md): no local parts. */
        if ((rc = clickhouse_tier_open(cfg, &s->next, err, errlen)) < 0 ||
            (rc = clickhouse_tier_bind_store(s->next, s->data_dir, &s->stopping, err, errlen)) < 0)
            goto fail;
    } else if ((rc = local_open(&lo, &s->next, err, errlen)) < 0) {
        goto fail;
    }
    s->head->next = s->next;
    /* With a bucket: local parts age out into it (head -> local -> s3); queries read it as
     * the view's next link (view_walk). A querier (--target=querier) only reads. */
    s->read_only = s3_tier_querier(cfg);
    if ((rc = s3_tier_open(cfg, s->data_dir, &s->next->next, err, errlen)) < 0)
        goto fail;
    s->view.next = s->next->next;
    /*
     * What the tiers hold already. Without a checkpoint file (a new
     * directory, or the file was removed) the parts are trusted.
     */
    if (!present)
        ckpt = 0;
    for (struct tier *t = s->next; t; t = t->next)
        if (t->ops->durable_seq && t->ops->durable_seq(t) > ckpt)
            ckpt = t->ops->durable_seq(t);
    s->checkpoint = ckpt;

    struct wal_options wo = {
        .dir = s->wal_dir,
        .sync = sync,
        .sync_interval = cfg->wal_sync_interval,
        .segment_size = (uint64_t)cfg->wal_segment_size,
        .checkpoint = ckpt,
    };
    struct replay r = {.s = s};
    struct wal_replay_stats st;
    int64_t t0 = clock_mono_ns();
    if ((rc = wal_open(&wo, replay_record, replay_segment_done, &r, &s->wal, &st, err, errlen)) < 0)
        goto fail;
    log_info("store: WAL replayed: %" PRIu64 " records (%" PRIu64 " entries) from %" PRIu64
             " segment(s) in %.2fs%s",
             st.records, r.entries, st.segments, (double)(clock_mono_ns() - t0) / 1e9,
             st.cut_bytes ? "; a damaged tail was cut (see above)" : "");
    if (!present && s->checkpoint == ckpt && write_checkpoint(s, ckpt) < 0) {
        /* Without the file a crash in a first flush could not be told from a finished one. */
        snprintf(err, errlen, "cannot write the WAL checkpoint in %s: %s", s->wal_dir,
                 strerror(fsio_last_errno()));
        rc = STRATA_EIO;
        goto fail;
    }
    if (s->checkpoint > ckpt || (!present && ckpt))
        (void)wal_remove_through(s->wal, s->checkpoint);
    if (pthread_create(&s->flusher, NULL, flusher_main, s) != 0 ||
        pthread_create(&s->upkeeper, NULL, upkeeper_main, s) != 0) {
        snprintf(err, errlen, "cannot start the store's threads");
        rc = STRATA_EINTERNAL;
        goto fail;
    }
    s->threads_started = true;
    metrics_register_collector(metrics_collector, s);
    *out = s;
    return 0;
fail:
    if (s->pending) {
        if (s->pending_state >= P_ABSORBED && s->next->ops->commit)
            s->next->ops->commit(s->next, s->pending);
        head_drop(s->head, s->pending);
        set_pending(s, NULL, P_NONE);
    }
    wal_close(s->wal);
    free_store(s);
    return rc < 0 ? rc : STRATA_EINTERNAL;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    metrics_unregister_collector(metrics_collector, s);
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_cond_broadcast(&s->upkeep_cv);
    pthread_cond_broadcast(&s->room_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->threads_started) {
        pthread_join(s->flusher, NULL);
        pthread_join(s->upkeeper, NULL);
    }
    if (s->flush_on_exit) {
        int64_t t0 = clock_mono_ns();
        int rc = flush_head(s, true);
        if (rc < 0)
            log_error("store: flush on exit failed (%s); the WAL keeps the data for the next start",
                      strata_strerror(rc));
        else
            log_info("store: head flushed on exit in %.2fs", (double)(clock_mono_ns() - t0) / 1e9);
    }
    if (s->pending) {
        /* Give the memory back; the WAL (or the committed parts) keep the data. */
        if (s->pending_state >= P_ABSORBED && s->next->ops->commit)
            s->next->ops->commit(s->next, s->pending);
        head_drop(s->head, s->pending);
        set_pending(s, NULL, P_NONE);
    }
    wal_close(s->wal);
    free_store(s);
}
