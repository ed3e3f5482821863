/*
 * wal.c - the write-ahead log.
 *
 * On-disk format (all integers little-endian)
 * ===========================================
 *
 * The directory holds segment files named by their 64-bit sequence number in
 * 16 lowercase hex digits: 0000000000000001.wal, 0000000000000002.wal, ...
 * Numbers only grow; a new segment is always numbered one past the highest
 * ever seen. Beside them, the store keeps a file "checkpoint" (store.c).
 *
 * Segment header (32 bytes, at offset 0):
 *
 *     0   8  magic "STRATAWL"
 *     8   4  format version (1)
 *    12   4  flags (0)
 *    16   8  segment sequence number (the same as in the file name)
 *    24   4  reserved (0)
 *    28   4  CRC32C of bytes 0..28
 *
 * Records follow back to back from offset 32 to the end of the file:
 *
 *     0   4  payload length N (at most 2^30)
 *     4   4  CRC32C of bytes 0..4 and 8..12 of this header and the payload
 *     8   1  record type (1 = push batch)
 *     9   3  reserved (0)
 *    12   N  payload
 *
 * The push batch payload (store.c: encode_batch) is, with uvarint = LEB128 and
 * zigzag for signed deltas:
 *
 *     uvarint tenant length, tenant bytes
 *     uvarint number of streams, then per stream:
 *         uvarint length L, L bytes: the stream's labels (labels_encode)
 *         uvarint number of entries, then per entry:
 *             zigzag uvarint timestamp delta (from the previous entry of the
 *                 stream; the first from 0), in ns
 *             uvarint line length, line bytes
 *             uvarint metadata length, metadata bytes (labels_encode; 0 = none)
 *
 * Recovery rule: records are replayed in order from the oldest segment after
 * the checkpoint. A record whose header does not fit in the file, whose length
 * runs past the end or over 2^30, or whose checksum does not match ends the
 * valid part of its segment: everything from its offset on is cut (the file
 * is truncated there) and the offset is logged. A segment whose header is
 * damaged is cut to zero length. Records before the damage are all replayed;
 * a record after it never is. Zeroed tails (a crash after the file grew but
 * before the data reached the disk) fail the checksum like any other garbage.
 */
#include "store/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "store/fsio.h"
#include "store/le.h"

static const char SEG_MAGIC[8] = {'S', 'T', 'R', 'A', 'T', 'A', 'W', 'L'};
#define WAL_VERSION 1
/* Records written by one leader round at most (each takes two iovecs). */
#define ROUND_MAX_RECORDS 512

struct wal_req {
    struct wal_req *next;
    unsigned char hdr[WAL_RECORD_HEADER];
    const void *payload;
    size_t len;
    int rc;
    bool done;
};

struct wal {
    char *dir;
    enum wal_sync sync;
    int64_t sync_interval;
    uint64_t segment_size;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* a round finished, or the leader role was released */
    struct wal_req *queue, *queue_tail;
    bool leader; /* a round (or a rotation) is in progress */

    /*
     * Owned by the leader (the thread holding the leader role), handed from
     * leader to leader through mu. seq and broken are also read by
     * wal_status and wal_remove_through at any time, so they are atomic.
     */
    struct fsfile seg;    /* the current segment */
    _Atomic uint64_t seq; /* its number */
    uint64_t written;     /* bytes written to it */
    uint64_t durable;     /* bytes known durable (fdatasynced) */
    _Atomic bool broken;  /* a failed round could not be undone; repair before appending */
    int broken_rc;

    /* Interval mode: a thread fdatasyncs every sync_interval. */
    pthread_t syncer;
    bool syncer_started, stopping;
    pthread_cond_t stop_cv;

    uint64_t first_seq;       /* oldest segment still on disk (under mu) */
    uint64_t appends, rounds; /* under mu */
    _Atomic uint64_t fsyncs, failures;
};

/* ---- format ---- */

void wal_segment_header(unsigned char *out, uint64_t seq)
{
    memset(out, 0, WAL_SEGMENT_HEADER);
    memcpy(out, SEG_MAGIC, 8);
    le_put32(out + 8, WAL_VERSION);
    le_put64(out + 16, seq);
    le_put32(out + 28, crc32c(0, out, 28));
}

static uint32_t record_crc(const unsigned char *hdr, const void *payload, size_t len)
{
    uint32_t c = crc32c(0, hdr, 4);
    c = crc32c(c, hdr + 8, 4);
    return crc32c(c, payload, len);
}

void wal_record_header(unsigned char *out, int type, const void *payload, size_t len)
{
    memset(out, 0, WAL_RECORD_HEADER);
    le_put32(out, (uint32_t)len);
    out[8] = (unsigned char)type;
    le_put32(out + 4, record_crc(out, payload, len));
}

int wal_scan(const unsigned char *data, size_t len, wal_replay_fn fn, void *arg,
             uint64_t *segment_seq, size_t *valid_end)
{
    *valid_end = 0;
    if (len < WAL_SEGMENT_HEADER || memcmp(data, SEG_MAGIC, 8) ||
        le_get32(data + 28) != crc32c(0, data, 28) || le_get32(data + 8) != WAL_VERSION)
        return STRATA_ECORRUPT;
    *segment_seq = le_get64(data + 16);
    size_t off = WAL_SEGMENT_HEADER;
    *valid_end = off;
    while (off < len) {
        if (len - off < WAL_RECORD_HEADER)
            return 1;
        const unsigned char *h = data + off;
        uint32_t n = le_get32(h);
        if (n > WAL_MAX_RECORD || n > len - off - WAL_RECORD_HEADER)
            return 1;
        const unsigned char *payload = h + WAL_RECORD_HEADER;
        if (le_get32(h + 4) != record_crc(h, payload, n))
            return 1;
        if (fn) {
            int rc = fn(arg, *segment_seq, h[8], payload, n);
            if (rc)
                return rc;
        }
        off += WAL_RECORD_HEADER + n;
        *valid_end = off;
    }
    return 0;
}

/* ---- directory ---- */

static int seg_path(const struct wal *w, uint64_t seq, char *out, size_t cap)
{
    if (snprintf(out, cap, "%s/%016" PRIx64 ".wal", w->dir, seq) >= (int)cap)
        return STRATA_EINVAL;
    return 0;
}

static bool parse_seg_name(const char *name, uint64_t *seq)
{
    return fsio_numbered_name(name, ".wal", seq) && *seq != 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The segment numbers in the directory, sorted. */
static int list_segments(const char *dir, uint64_t **out, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return fsio_err(errno);
    size_t cap = 16, cnt = 0;
    uint64_t *v = xmallocarray(cap, sizeof(*v));
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t seq;
        if (!parse_seg_name(e->d_name, &seq))
            continue;
        if (cnt == cap)
            v = xreallocarray(v, cap *= 2, sizeof(*v));
        v[cnt++] = seq;
    }
    closedir(d);
    qsort(v, cnt, sizeof(*v), cmp_u64);
    *out = v;
    *n = cnt;
    return 0;
}

/* Create segment seq with its header, durable with its directory entry. */
static int create_segment(struct wal *w, uint64_t seq, struct fsfile *out)
{
    char path[PATH_MAX];
    int rc = seg_path(w, seq, path, sizeof(path));
    if (rc < 0)
        return rc;
    rc = fsio_open(out, path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
    if (rc < 0)
        return rc;
    unsigned char hdr[WAL_SEGMENT_HEADER];
    wal_segment_header(hdr, seq);
    rc = fsio_write(out, hdr, sizeof(hdr));
    if (!rc)
        rc = fsio_fdatasync(out);
    if (!rc)
        rc = fsio_sync_dir(w->dir);
    if (rc < 0) {
        int e = fsio_last_errno();
        fsio_close(out);
        (void)!unlink(path);
        log_error("wal: cannot create segment %s: %s", path, strerror(e));
    }
    return rc;
}

/* ---- replay ---- */

struct replay_ctx {
    wal_replay_fn fn;
    void *arg;
    uint64_t records, bytes;
};

static int count_and_forward(void *arg, uint64_t seg, int type, const void *p, size_t len)
{
    struct replay_ctx *r = arg;
    r->records++;
    r->bytes += len;
    return r->fn ? r->fn(r->arg, seg, type, p, len) : 0;
}

static int replay_segment(struct wal *w, uint64_t seq, struct replay_ctx *rc_ctx,
                          struct wal_replay_stats *st, char *err, size_t errlen)
{
    char path[PATH_MAX];
    int rc = seg_path(w, seq, path, sizeof(path));
    if (rc < 0)
        return rc;
    struct fsfile f;
    rc = fsio_open(&f, path, O_RDWR);
    if (rc < 0) {
        snprintf(err, errlen, "cannot open WAL segment %s: %s", path, strerror(fsio_last_errno()));
        return rc;
    }
    uint64_t size;
    rc = fsio_size(&f, &size);
    if (rc < 0) {
        fsio_close(&f);
        return rc;
    }
    unsigned char *map = NULL;
    if (size > 0) {
        map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, f.fd, 0);
        if (map == MAP_FAILED) {
            snprintf(err, errlen, "cannot map WAL segment %s: %s", path, strerror(errno));
            fsio_close(&f);
            return STRATA_EIO;
        }
    }
    uint64_t hdr_seq = 0;
    size_t valid = 0;
    int s = map ? wal_scan(map, (size_t)size, count_and_forward, rc_ctx, &hdr_seq, &valid)
                : STRATA_ECORRUPT;
    if (map)
        munmap(map, (size_t)size);
    if (s == 0 && hdr_seq != seq) {
        log_error("wal: segment %s says it is number %" PRIu64 "; ignoring its records", path,
                  hdr_seq);
    }
    if (s == 1 || s == STRATA_ECORRUPT) {
        if (s == STRATA_ECORRUPT)
            valid = 0;
        log_warn("wal: %s: torn or corrupt data at offset %zu (of %" PRIu64
                 " bytes); cutting %" PRIu64 " bytes, keeping every record before it",
                 path, valid, size, size - valid);
        st->cut_bytes += size - valid;
        rc = fsio_ftruncate(&f, valid);
        if (!rc)
            rc = fsio_fdatasync(&f);
        if (rc < 0) {
            snprintf(err, errlen, "cannot cut the damaged tail of %s: %s", path,
                     strerror(fsio_last_errno()));
            fsio_close(&f);
            return rc;
        }
    } else if (s != 0) {
        fsio_close(&f);
        return s; /* the replay callback failed */
    }
    fsio_close(&f);
    st->segments++;
    return 0;
}

/* ---- the interval syncer ---- */

static void *syncer_main(void *arg)
{
    struct wal *w = arg;
    pthread_setname_np(pthread_self(), "wal-sync");
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + w->sync_interval;
        ts.tv_sec += ns / NS_PER_SEC;
        ts.tv_nsec = ns % NS_PER_SEC;
        pthread_cond_timedwait(&w->stop_cv, &w->mu, &ts);
        if (w->stopping)
            break;
        /* Take the leader role so that no round writes while we sync. */
        while (w->leader && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stopping || w->durable == w->written || w->broken)
            continue;
        w->leader = true;
        uint64_t target = w->written;
        pthread_mutex_unlock(&w->mu);
        int rc = fsio_fdatasync(&w->seg);
        pthread_mutex_lock(&w->mu);
        w->fsyncs++;
        if (rc < 0) {
            w->failures++;
            log_error("wal: fdatasync of %s failed: %s (records written since the last sync may "
                      "be lost on a crash)",
                      w->seg.path, strerror(fsio_last_errno()));
        } else {
            w->durable = target;
        }
        w->leader = false;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- open / close ---- */

int wal_open(const struct wal_options *o, wal_replay_fn fn, wal_segment_fn seg_fn, void *arg,
             struct wal **out, struct wal_replay_stats *stats, char *err, size_t errlen)
{
    struct wal_replay_stats st_local;
    struct wal_replay_stats *st = stats ? stats : &st_local;
    memset(st, 0, sizeof(*st));
    int rc = fsio_mkdirs(o->dir);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create WAL directory %s: %s", o->dir,
                 strerror(fsio_last_errno()));
        return rc;
    }
    struct wal *w = xcalloc(1, sizeof(*w));
    w->dir = xstrdup(o->dir);
    w->sync = o->sync;
    w->sync_interval = o->sync_interval > 0 ? o->sync_interval : NS_PER_SEC;
    w->segment_size = o->segment_size ? o->segment_size : (128u << 20);
    w->seg.fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->stop_cv, NULL);

    uint64_t *segs = NULL;
    size_t n = 0;
    rc = list_segments(w->dir, &segs, &n);
    if (rc < 0) {
        snprintf(err, errlen, "cannot list WAL directory %s: %s", w->dir, strerror(errno));
        goto fail;
    }
    uint64_t last = o->checkpoint;
    struct replay_ctx rctx = {fn, arg, 0, 0};
    for (size_t i = 0; i < n; i++) {
        if (segs[i] > last)
            last = segs[i];
        if (segs[i] <= o->checkpoint) {
            char path[PATH_MAX];
            if (seg_path(w, segs[i], path, sizeof(path)) == 0 && fsio_unlink(path) == 0)
                st->deleted++;
            continue;
        }
        if (!w->first_seq)
            w->first_seq = segs[i];
        rc = replay_segment(w, segs[i], &rctx, st, err, errlen);
        if (rc)
            goto fail;
        if (seg_fn && (rc = seg_fn(arg, segs[i])) != 0) {
            snprintf(err, errlen, "replay of WAL segment %" PRIu64 " failed: %s", segs[i],
                     strata_strerror(rc));
            goto fail;
        }
    }
    st->records = rctx.records;
    st->bytes = rctx.bytes;
    if (st->deleted && (rc = fsio_sync_dir(w->dir)) < 0) {
        snprintf(err, errlen, "cannot sync WAL directory %s", w->dir);
        goto fail;
    }
    w->seq = last + 1;
    rc = create_segment(w, w->seq, &w->seg);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create WAL segment in %s: %s", w->dir,
                 strerror(fsio_last_errno()));
        goto fail;
    }
    if (!w->first_seq)
        w->first_seq = w->seq;
    w->written = w->durable = WAL_SEGMENT_HEADER;
    if (w->sync == WAL_SYNC_INTERVAL) {
        if (pthread_create(&w->syncer, NULL, syncer_main, w) != 0) {
            snprintf(err, errlen, "cannot start the WAL sync thread");
            rc = STRATA_EINTERNAL;
            goto fail;
        }
        w->syncer_started = true;
    }
    free(segs);
    *out = w;
    return 0;
fail:
    free(segs);
    wal_close(w);
    return rc < 0 ? rc : STRATA_EINTERNAL;
}

void wal_close(struct wal *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->stop_cv);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->syncer_started)
        pthread_join(w->syncer, NULL);
    pthread_mutex_lock(&w->mu);
    while (w->leader)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    if (w->seg.fd >= 0 && w->durable != w->written && !w->broken) {
        if (fsio_fdatasync(&w->seg) < 0)
            log_error("wal: final fdatasync of %s failed: %s", w->seg.path,
                      strerror(fsio_last_errno()));
    }
    fsio_close(&w->seg);
    pthread_cond_destroy(&w->stop_cv);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->dir);
    free(w);
}

/* ---- appending ---- */

/*
 * Undo a failed round: cut the segment back to its durable size. Called by
 * the leader without the mutex. Returns 0 when the segment is sound again.
 */
static int repair(struct wal *w)
{
    int rc = fsio_ftruncate(&w->seg, w->written);
    if (!rc)
        rc = fsio_fdatasync(&w->seg);
    if (!rc)
        w->durable = w->written;
    return rc;
}

/* Seal the current segment and open the next. Leader role held, mutex not held. */
static int rotate_locked_out(struct wal *w, uint64_t *sealed)
{
    int rc = 0;
    if (w->durable != w->written) {
        rc = fsio_fdatasync(&w->seg);
        if (rc < 0)
            return rc;
        w->durable = w->written;
        w->fsyncs++;
    }
    struct fsfile next;
    rc = create_segment(w, w->seq + 1, &next);
    if (rc < 0)
        return rc;
    fsio_close(&w->seg);
    w->seg = next;
    *sealed = w->seq;
    w->seq++;
    w->written = w->durable = WAL_SEGMENT_HEADER;
    return 0;
}

/* One leader round: write the records of reqs[0..n) and make them durable. */
static int write_round(struct wal *w, struct wal_req **reqs, int n)
{
    if (w->broken) {
        int rc = repair(w);
        if (rc < 0)
            return w->broken_rc;
        log_warn("wal: %s repaired (cut back to %" PRIu64 " bytes); appends resume", w->seg.path,
                 w->written);
        w->broken = false;
    }
    struct iovec iov[2 * ROUND_MAX_RECORDS];
    uint64_t bytes = 0, before = w->written;
    for (int i = 0; i < n; i++) {
        iov[2 * i] = (struct iovec){reqs[i]->hdr, WAL_RECORD_HEADER};
        iov[2 * i + 1] = (struct iovec){(void *)reqs[i]->payload, reqs[i]->len};
        bytes += WAL_RECORD_HEADER + reqs[i]->len;
    }
    int rc = fsio_writev(&w->seg, iov, 2 * n);
    if (!rc) {
        w->written += bytes;
        if (w->sync == WAL_SYNC_ALWAYS) {
            rc = fsio_fdatasync(&w->seg);
            w->fsyncs++;
            if (!rc)
                w->durable = w->written;
        }
    }
    if (rc < 0) {
        int e = fsio_last_errno();
        log_error("wal: writing %d record(s) to %s failed: %s", n, w->seg.path, strerror(e));
        w->failures++;
        /* Cut back to the records written before this round (all acknowledged). */
        w->written = before;
        if (repair(w) < 0) {
            w->broken = true;
            w->broken_rc = rc;
            log_error("wal: cannot cut %s back to %" PRIu64
                      " bytes; appends are refused until it can be",
                      w->seg.path, w->written);
        }
        return rc;
    }
    if (w->written >= w->segment_size) {
        uint64_t sealed;
        int r2 = rotate_locked_out(w, &sealed);
        if (r2 < 0)
            log_warn("wal: cannot start a new segment after %s (keeping it open): %s", w->seg.path,
                     strerror(fsio_last_errno()));
    }
    return 0;
}

int wal_append(struct wal *w, int type, const void *payload, size_t len)
{
    if (len > WAL_MAX_RECORD)
        return STRATA_ETOOLARGE;
    struct wal_req req;
    memset(&req, 0, sizeof(req));
    req.payload = payload;
    req.len = len;
    wal_record_header(req.hdr, type, payload, len);

    pthread_mutex_lock(&w->mu);
    if (w->queue_tail)
        w->queue_tail->next = &req;
    else
        w->queue = &req;
    w->queue_tail = &req;
    w->appends++;
    while (!req.done) {
        if (w->leader) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        /* Lead a round: take up to ROUND_MAX_RECORDS queued records. */
        w->leader = true;
        struct wal_req *batch[ROUND_MAX_RECORDS];
        int n = 0;
        while (w->queue && n < ROUND_MAX_RECORDS) {
            batch[n++] = w->queue;
            w->queue = w->queue->next;
        }
        if (!w->queue)
            w->queue_tail = NULL;
        w->rounds++;
        pthread_mutex_unlock(&w->mu);
        int rc = write_round(w, batch, n);
        pthread_mutex_lock(&w->mu);
        for (int i = 0; i < n; i++) {
            batch[i]->rc = rc;
            batch[i]->done = true;
        }
        w->leader = false;
        pthread_cond_broadcast(&w->cv);
    }
    int rc = req.rc;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int wal_rotate(struct wal *w, uint64_t *sealed)
{
    pthread_mutex_lock(&w->mu);
    while (w->leader)
        pthread_cond_wait(&w->cv, &w->mu);
    w->leader = true;
    pthread_mutex_unlock(&w->mu);
    int rc = w->broken ? repair(w) : 0;
    if (!rc)
        w->broken = false;
    if (!rc)
        rc = rotate_locked_out(w, sealed);
    pthread_mutex_lock(&w->mu);
    w->leader = false;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int wal_remove_through(struct wal *w, uint64_t seq)
{
    pthread_mutex_lock(&w->mu);
    uint64_t current = w->seq;
    pthread_mutex_unlock(&w->mu);
    uint64_t *segs = NULL;
    size_t n = 0;
    int rc = list_segments(w->dir, &segs, &n);
    if (rc < 0)
        return rc;
    size_t removed = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (segs[i] > seq || segs[i] >= current)
            continue;
        char path[PATH_MAX];
        rc = seg_path(w, segs[i], path, sizeof(path));
        if (!rc)
            rc = fsio_unlink(path);
        if (!rc)
            removed++;
    }
    if (removed) {
        int r2 = fsio_sync_dir(w->dir);
        if (!rc)
            rc = r2;
    }
    pthread_mutex_lock(&w->mu);
    if (!rc && seq + 1 > w->first_seq)
        w->first_seq = seq + 1 < current ? seq + 1 : current;
    pthread_mutex_unlock(&w->mu);
    free(segs);
    return rc;
}

void wal_status(struct wal *w, struct wal_status *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t *segs = NULL;
    size_t n = 0;
    if (list_segments(w->dir, &segs, &n) == 0) {
        out->segments = n;
        for (size_t i = 0; i < n; i++) {
            char path[PATH_MAX];
            struct stat st;
            if (seg_path(w, segs[i], path, sizeof(path)) == 0 && stat(path, &st) == 0)
                out->bytes += (uint64_t)st.st_size;
        }
        if (n)
            out->first = segs[0];
    }
    free(segs);
    pthread_mutex_lock(&w->mu);
    out->current = w->seq;
    out->appends = w->appends;
    out->rounds = w->rounds;
    out->fsyncs = w->fsyncs;
    out->failures = w->failures;
    out->broken = w->broken;
    pthread_mutex_unlock(&w->mu);
}
