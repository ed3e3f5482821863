/*
 * s3_cache.c - the on-disk cache of S3 object ranges.
 *
 * On-disk format: one file per entry in the cache directory, named
 * "<h>.blk" where <h> is the 16 lower-case hex digits of hash64(id), and id
 * is the text "<object key>\n<etag>\n<offset>\n<length>" (the range as
 * requested; offset < 0 is a suffix range). All integers little-endian.
 *
 *   offset     size  field
 *   0          8     magic "STRC0001" (format version 1)
 *   8          4     n: length of id in bytes (at most 4096)
 *   12         8     m: length of the data in bytes
 *   20         n     id
 *   20+n       m     data: the bytes of the range, as S3 returned them
 *   20+n+m     4     CRC32C of bytes [0, 20+n+m)
 *
 * A file is written whole as "tmp-<pid>-<seq>" and renamed to its name, so
 * a name never shows a partial entry; a crash can leave temporary files
 * (deleted at the next open) or, without an fsync, an entry whose bytes did
 * not reach the disk: the CRC (and the length, which must match the file's
 * size) catches that, and such an entry is deleted on its first read. Two
 * ids with the same hash share a file name: the newer entry replaces the
 * older, and a read whose id differs is a miss.
 *
 * In memory: a hash table from hash64(id) to the entry's size, on a doubly
 * linked LRU list (head = most recently used), under one mutex. File I/O
 * happens outside the mutex.
 */
#include "remote/s3_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/metrics.h"

#define MAGIC    "STRC0001"
#define HDR_LEN  20
#define ID_MAX   4096
#define TRAILER  4
#define NAME_LEN 21 /* 16 hex + ".blk" + NUL */

struct entry {
    uint64_t hash;
    uint64_t size;             /* file size */
    struct entry *prev, *next; /* LRU */
    struct entry *chain;       /* hash bucket */
};

struct s3_cache {
    char *dir;
    uint64_t max_bytes;
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t n_buckets;
    struct entry *head, *tail;
    uint64_t seq;
    struct s3_cache_stats st;
    struct metric *m_hits, *m_misses, *m_evictions, *m_bytes, *m_entries;
};

/* ---- index (callers hold the lock) ---------------------------------------- */

static struct entry **slot(struct s3_cache *c, uint64_t h)
{
    struct entry **p = &c->buckets[h & (c->n_buckets - 1)];
    while (*p && (*p)->hash != h)
        p = &(*p)->chain;
    return p;
}

static void lru_unlink(struct s3_cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_head(struct s3_cache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void grow_table(struct s3_cache *c)
{
    if (c->st.entries < c->n_buckets)
        return;
    size_t nb = c->n_buckets * 2;
    struct entry **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct entry *e = c->buckets[i];
        while (e) {
            struct entry *next = e->chain;
            struct entry **p = &b[e->hash & (nb - 1)];
            e->chain = *p;
            *p = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = nb;
}

static void file_name(uint64_t h, char out[NAME_LEN])
{
    snprintf(out, NAME_LEN, "%016" PRIx64 ".blk", h);
}

static void publish(struct s3_cache *c)
{
    metric_set(c->m_bytes, (double)c->st.bytes);
    metric_set(c->m_entries, (double)c->st.entries);
}

/* Remove an entry from the index and delete its file. */
static void drop(struct s3_cache *c, struct entry *e)
{
    struct entry **p = slot(c, e->hash);
    if (*p == e)
        *p = e->chain;
    lru_unlink(c, e);
    c->st.entries--;
    c->st.bytes -= e->size;
    char name[NAME_LEN];
    file_name(e->hash, name);
    int dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        unlinkat(dfd, name, 0);
        close(dfd);
    }
    free(e);
}

static void evict(struct s3_cache *c)
{
    while (c->st.bytes > c->max_bytes && c->tail) {
        drop(c, c->tail);
        c->st.evictions++;
        metric_inc(c->m_evictions, 1);
    }
}

/* Insert (or replace) h with size at the head of the LRU. */
static void insert(struct s3_cache *c, uint64_t h, uint64_t size)
{
    struct entry **p = slot(c, h);
    struct entry *e = *p;
    if (e) {
        c->st.bytes -= e->size;
        lru_unlink(c, e);
    } else {
        grow_table(c);
        p = slot(c, h);
        e = xcalloc(1, sizeof(*e));
        e->hash = h;
        e->chain = *p;
        *p = e;
        c->st.entries++;
    }
    e->size = size;
    c->st.bytes += size;
    lru_push_head(c, e);
}

/* ---- open ----------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return STRATA_EINVAL;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return strata_from_errno(errno);
        tmp[i] = saved;
    }
    return 0;
}

struct found {
    uint64_t hash, size;
    int64_t mtime_ns;
};

static int by_mtime(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    return (x->mtime_ns > y->mtime_ns) - (x->mtime_ns < y->mtime_ns);
}

static bool parse_name(const char *name, uint64_t *h)
{
    if (strlen(name) != 20 || strcmp(name + 16, ".blk"))
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = name[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *h = v;
    return true;
}

int s3_cache_open(const char *dir, uint64_t max_bytes, struct s3_cache **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    if (max_bytes == 0)
        return 0;
    int rc = mkdir_p(dir);
    if (rc) {
        snprintf(err, errlen, "cannot create the S3 cache directory %s: %s", dir, strerror(errno));
        return rc;
    }
    DIR *d = opendir(dir);
    if (!d) {
        rc = strata_from_errno(errno);
        snprintf(err, errlen, "cannot read the S3 cache directory %s: %s", dir, strerror(errno));
        return rc;
    }
    struct s3_cache *c = xcalloc(1, sizeof(*c));
    c->dir = xstrdup(dir);
    c->max_bytes = max_bytes;
    c->st.max_bytes = max_bytes;
    pthread_mutex_init(&c->lock, NULL);
    c->n_buckets = 64;
    c->buckets = xcalloc(c->n_buckets, sizeof(*c->buckets));
    c->m_hits = metric_get(metrics_family(METRIC_COUNTER, "strata_s3_cache_hits_total",
                                          "S3 ranges served from the local cache.", NULL));
    c->m_misses = metric_get(metrics_family(METRIC_COUNTER, "strata_s3_cache_misses_total",
                                            "S3 ranges not in the local cache.", NULL));
    c->m_evictions = metric_get(
        metrics_family(METRIC_COUNTER, "strata_s3_cache_evictions_total",
                       "Entries deleted from the S3 cache to stay within its size.", NULL));
    c->m_bytes = metric_get(metrics_family(METRIC_GAUGE, "strata_s3_cache_bytes",
                                           "Bytes of files in the S3 cache.", NULL));
    c->m_entries = metric_get(
        metrics_family(METRIC_GAUGE, "strata_s3_cache_entries", "Entries in the S3 cache.", NULL));

    struct found *fs = NULL;
    size_t n = 0, cap = 0;
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (!strncmp(de->d_name, "tmp-", 4)) {
            unlinkat(dfd, de->d_name, 0); /* a write cut short by a crash */
            continue;
        }
        uint64_t h;
        struct stat st;
        if (!parse_name(de->d_name, &h) || fstatat(dfd, de->d_name, &st, 0) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            fs = xreallocarray(fs, cap, sizeof(*fs));
        }
        fs[n++] = (struct found){h, (uint64_t)st.st_size,
                                 (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
    }
    closedir(d);
    if (n)
        qsort(fs, n, sizeof(*fs), by_mtime);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++)
        insert(c, fs[i].hash, fs[i].size);
    evict(c);
    publish(c);
    pthread_mutex_unlock(&c->lock);
    free(fs);
    log_info("s3 cache: %s holds %" PRIu64 " entries, %" PRIu64 " bytes (limit %" PRIu64 ")", dir,
             c->st.entries, c->st.bytes, max_bytes);
    *out = c;
    return 0;
}

void s3_cache_close(struct s3_cache *c)
{
    if (!c)
        return;
    for (struct entry *e = c->head; e;) {
        struct entry *next = e->next;
        free(e);
        e = next;
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    free(c->dir);
    free(c);
}

void s3_cache_stats(struct s3_cache *c, struct s3_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    pthread_mutex_unlock(&c->lock);
}

/* ---- entries -------------------------------------------------------------- */

/* The entry's id text into id (initialised here) and its hash; false when it is too long
 * to be cached (such ranges are never cached). */
static bool make_id(struct buf *id, uint64_t *h, const char *object, const char *etag,
                    struct s3_range r)
{
    buf_init(id, ID_MAX);
    if (buf_printf(id, "%s\n%s\n%" PRId64 "\n%" PRId64, object, etag ? etag : "", r.offset,
                   r.length) < 0) {
        buf_release(id);
        return false;
    }
    *h = hash64(id->ptr, id->len);
    return true;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int read_full(int fd, void *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, (char *)p + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return STRATA_EIO;
        done += (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return strata_from_errno(errno);
        done += (size_t)w;
    }
    return 0;
}

enum verdict { V_HIT, V_MISS, V_CORRUPT, V_ERROR };

/* Read and verify one entry file; on a hit its data is appended to out. */
static enum verdict read_entry(int dfd, const char *name, const struct buf *id, struct buf *out,
                               int *rc)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return V_MISS; /* evicted meanwhile */
    enum verdict v = V_CORRUPT;
    char *data = NULL;
    struct stat st;
    unsigned char hdr[HDR_LEN], trailer[TRAILER];
    char idbuf[ID_MAX];
    if (fstat(fd, &st) < 0 || read_full(fd, hdr, HDR_LEN) < 0 || memcmp(hdr, MAGIC, 8))
        goto done;
    uint32_t n = get_le32(hdr + 8);
    uint64_t m = get_le64(hdr + 12);
    if (n > ID_MAX || m > (uint64_t)st.st_size ||
        (uint64_t)st.st_size != HDR_LEN + (uint64_t)n + m + TRAILER)
        goto done;
    if (read_full(fd, idbuf, n) < 0)
        goto done;
    uint32_t crc = crc32c(0, hdr, HDR_LEN);
    crc = crc32c(crc, idbuf, n);
    if (n != id->len || memcmp(idbuf, id->ptr, n)) {
        v = V_MISS; /* another id with the same hash */
        goto done;
    }
    if (m > out->max - out->len) {
        *rc = STRATA_ETOOLARGE;
        v = V_ERROR;
        goto done;
    }
    data = xmalloc(m ? (size_t)m : 1);
    if (read_full(fd, data, (size_t)m) < 0 || read_full(fd, trailer, TRAILER) < 0)
        goto done;
    crc = crc32c(crc, data, (size_t)m);
    if (crc != get_le32(trailer))
        goto done;
    int r = buf_append(out, data, (size_t)m);
    if (r) {
        *rc = r;
        v = V_ERROR;
        goto done;
    }
    v = V_HIT;
done:
    free(data);
    close(fd);
    return v;
}

int s3_cache_get(struct s3_cache *c, const char *object, const char *etag, struct s3_range range,
                 struct buf *out)
{
    struct buf id;
    uint64_t h;
    if (!c || !make_id(&id, &h, object, etag, range))
        return 0;
    pthread_mutex_lock(&c->lock);
    struct entry *e = *slot(c, h);
    bool present = e != NULL;
    if (e) {
        lru_unlink(c, e);
        lru_push_head(c, e);
    }
    pthread_mutex_unlock(&c->lock);
    int rc = 0;
    enum verdict v = V_MISS;
    char name[NAME_LEN];
    file_name(h, name);
    int dfd = -1;
    if (present) {
        dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
            v = read_entry(dfd, name, &id, out, &rc);
    }
    pthread_mutex_lock(&c->lock);
    if (v == V_HIT) {
        c->st.hits++;
        metric_inc(c->m_hits, 1);
    } else {
        c->st.misses++;
        metric_inc(c->m_misses, 1);
    }
    if (v == V_CORRUPT) {
        struct entry *cur = *slot(c, h);
        c->st.corrupt++;
        if (cur)
            drop(c, cur);
        else if (dfd >= 0)
            unlinkat(dfd, name, 0);
        publish(c);
        log_warn("s3 cache: %s/%s failed its checksum; deleted", c->dir, name);
    }
    pthread_mutex_unlock(&c->lock);
    if (v == V_HIT && dfd >= 0)
        utimensat(dfd, name, NULL, 0); /* recency survives a restart */
    if (dfd >= 0)
        close(dfd);
    buf_release(&id);
    if (v == V_ERROR)
        return rc;
    return v == V_HIT ? 1 : 0;
}

int s3_cache_put(struct s3_cache *c, const char *object, const char *etag, struct s3_range range,
                 const void *data, size_t len)
{
    struct buf id;
    uint64_t h;
    if (!c || !make_id(&id, &h, object, etag, range))
        return 0;
    uint64_t size = HDR_LEN + id.len + len + TRAILER;
    if (size > c->max_bytes / 8) {
        buf_release(&id);
        return 0;
    }
    char name[NAME_LEN], tmp[64];
    file_name(h, name);
    pthread_mutex_lock(&c->lock);
    uint64_t seq = ++c->seq;
    pthread_mutex_unlock(&c->lock);
    snprintf(tmp, sizeof(tmp), "tmp-%ld-%" PRIu64, (long)getpid(), seq);

    unsigned char hdr[HDR_LEN], trailer[TRAILER];
    memcpy(hdr, MAGIC, 8);
    put_le32(hdr + 8, (uint32_t)id.len);
    put_le64(hdr + 12, (uint64_t)len);
    uint32_t crc = crc32c(0, hdr, HDR_LEN);
    crc = crc32c(crc, id.ptr, id.len);
    crc = crc32c(crc, data, len);
    put_le32(trailer, crc);

    int rc = 0;
    int dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        rc = strata_from_errno(errno);
        goto done;
    }
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = strata_from_errno(errno);
        goto done;
    }
    rc = write_full(fd, hdr, HDR_LEN);
    if (!rc)
        rc = write_full(fd, id.ptr, id.len);
    if (!rc)
        rc = write_full(fd, data, len);
    if (!rc)
        rc = write_full(fd, trailer, TRAILER);
    if (close(fd) < 0 && !rc)
        rc = strata_from_errno(errno);
    if (!rc && renameat(dfd, tmp, dfd, name) < 0)
        rc = strata_from_errno(errno);
    if (rc) {
        unlinkat(dfd, tmp, 0);
        goto done;
    }
    pthread_mutex_lock(&c->lock);
    insert(c, h, size);
    evict(c);
    publish(c);
    pthread_mutex_unlock(&c->lock);
done:
    if (dfd >= 0)
        close(dfd);
    buf_release(&id);
    return rc;
}

int s3_cache_fetch(struct s3_cache *c, struct s3_client *s3, const char *object, const char *etag,
                   struct s3_range range, struct buf *out, bool *hit, struct s3_error *e)
{
    struct s3_cache_req r = {object, etag, range, out, false, 0};
    int rc = s3_cache_fetch_many(c, s3, &r, 1, e);
    if (hit)
        *hit = r.hit;
    return rc;
}

/* A GET of s3_cache_fetch_many: one request, or several close ranges of one object. */
struct fetch_run {
    size_t first, n;   /* members: order[first .. first + n) */
    int64_t off, end;  /* the range fetched */
    struct buf joined; /* the bytes, when n > 1 */
};

static bool coalescible(const struct s3_cache_req *r)
{
    return r->range.offset >= 0 && r->range.length > 0;
}

static int cmp_req(const void *a, const void *b, void *arg)
{
    const struct s3_cache_req *reqs = arg;
    const struct s3_cache_req *x = &reqs[*(const size_t *)a];
    const struct s3_cache_req *y = &reqs[*(const size_t *)b];
    int c = strcmp(x->object, y->object);
    if (!c)
        c = strcmp(x->etag ? x->etag : "", y->etag ? y->etag : "");
    if (!c && x->range.offset != y->range.offset)
        c = x->range.offset < y->range.offset ? -1 : 1;
    return c;
}

int s3_cache_fetch_many(struct s3_cache *c, struct s3_client *s3, struct s3_cache_req *reqs,
                        size_t n, struct s3_error *e)
{
    size_t *order = xcalloc(n ? n : 1, sizeof(*order));
    size_t m = 0;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        struct s3_cache_req *r = &reqs[i];
        r->hit = false;
        r->rc = s3_cache_get(c, r->object, r->etag, r->range, r->out);
        if (r->rc == 1) {
            r->hit = true;
            r->rc = 0;
            continue;
        }
        if (r->rc < 0) {
            if (!first)
                first = r->rc;
            continue;
        }
        order[m++] = i;
    }
    /* Misses by object and offset, so that close ranges of one object make one GET. */
    qsort_r(order, m, sizeof(*order), cmp_req, reqs);
    struct fetch_run *runs = xcalloc(m ? m : 1, sizeof(*runs));
    size_t nr = 0;
    for (size_t k = 0; k < m;) {
        const struct s3_cache_req *r = &reqs[order[k]];
        struct fetch_run *run = &runs[nr++];
        run->first = k;
        run->n = 1;
        run->off = r->range.offset;
        run->end = r->range.offset + r->range.length;
        k++;
        while (coalescible(r) && k < m) {
            const struct s3_cache_req *x = &reqs[order[k]];
            int64_t end = x->range.offset + x->range.length;
            if (!coalescible(x) || strcmp(x->object, r->object) ||
                strcmp(x->etag ? x->etag : "", r->etag ? r->etag : "") ||
                x->range.offset > run->end + S3_CACHE_COALESCE_GAP ||
                (end > run->end ? end : run->end) - run->off > S3_CACHE_COALESCE_MAX)
                break;
            if (end > run->end)
                run->end = end;
            run->n++;
            k++;
        }
    }
    struct s3_get_req *gets = xcalloc(nr ? nr : 1, sizeof(*gets));
    size_t *starts = xcalloc(nr ? nr : 1, sizeof(*starts));
    for (size_t j = 0; j < nr; j++) {
        struct fetch_run *run = &runs[j];
        struct s3_cache_req *r = &reqs[order[run->first]];
        if (run->n == 1) {
            starts[j] = r->out->len;
            gets[j] = (struct s3_get_req){.key = r->object, .range = r->range, .out = r->out};
        } else {
            buf_init(&run->joined, (size_t)(run->end - run->off));
            gets[j] = (struct s3_get_req){.key = r->object,
                                          .range = s3_range(run->off, run->end - run->off),
                                          .out = &run->joined};
        }
    }
    if (nr) {
        struct s3_error ge;
        int rc = s3_get_many(s3, gets, nr, &ge);
        if (rc && !first) {
            first = rc;
            if (e)
                *e = ge;
        }
    }
    for (size_t j = 0; j < nr; j++) {
        struct fetch_run *run = &runs[j];
        for (size_t k = run->first; k < run->first + run->n; k++) {
            struct s3_cache_req *r = &reqs[order[k]];
            r->rc = gets[j].rc;
            if (r->rc)
                continue;
            const char *data;
            size_t len;
            if (run->n == 1) {
                data = r->out->ptr + starts[j];
                len = r->out->len - starts[j];
            } else {
                /* This member's bytes of the joined range (fewer at the object's end). */
                size_t at = (size_t)(r->range.offset - run->off);
                size_t have = run->joined.len > at ? run->joined.len - at : 0;
                len = have < (size_t)r->range.length ? have : (size_t)r->range.length;
                data = run->joined.ptr + at;
                if ((r->rc = buf_append(r->out, len ? data : "", len)) < 0) {
                    if (!first)
                        first = r->rc;
                    continue;
                }
            }
            /* An entry from another ETag than asked for must not be cached under it. */
            const char *etag = r->etag && r->etag[0] ? r->etag : NULL;
            if (etag && gets[j].info.etag[0] && strcmp(etag, gets[j].info.etag))
                continue;
            int prc = s3_cache_put(c, r->object, r->etag, r->range, data, len);
            if (prc < 0)
                log_warn("s3 cache: cannot store a range of %s: %s", r->object,
                         strata_strerror(prc));
        }
        if (run->n > 1)
            buf_release(&run->joined);
    }
    free(gets);
    free(starts);
    free(runs);
    free(order);
    return first;
}
