#include "store/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"

#define MAX_RULES 32

struct rule {
    struct fsio_fault f;
    uint64_t seen; /* matching calls so far */
};

static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rule test_rules[MAX_RULES], file_rules[MAX_RULES];
static int n_test_rules, n_file_rules;
static atomic_int faults_armed;  /* nonzero when rules exist or a faults file is configured */
static atomic_ullong fault_hits; /* calls failed by injection */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static const char *faults_file;
static struct timespec file_mtime;
static __thread int last_errno;

static void env_init(void)
{
    const char *p = getenv("STRATA_FAULTS_FILE");
    if (p && p[0]) {
        faults_file = p;
        atomic_store(&faults_armed, 1);
    }
}

int fsio_err(int e)
{
    return e == ENOSPC || e == EDQUOT ? STRATA_ENOSPC : STRATA_EIO;
}

int fsio_last_errno(void)
{
    return last_errno;
}

static int fail(int e)
{
    last_errno = e;
    return fsio_err(e);
}

static const struct {
    const char *name;
    int value;
} errnames[] = {
    {"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EACCES", EACCES}, {"EROFS", EROFS}};

static const struct {
    const char *name;
    unsigned ops;
} opnames[] = {{"write", FSIO_WRITE}, {"sync", FSIO_SYNC},     {"rename", FSIO_RENAME},
               {"open", FSIO_OPEN},   {"unlink", FSIO_UNLINK}, {"truncate", FSIO_TRUNCATE},
               {"mkdir", FSIO_MKDIR}, {"any", FSIO_ANY}};

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

int fsio_fault_parse(const char *text, struct fsio_fault *out, int max)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[512];
        if (len >= sizeof(line))
            return STRATA_EPARSE;
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (eol ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *tok[7];
        int nt = 0;
        for (char *t = line; *t && nt < 7;) {
            while (*t == ' ' || *t == '\t' || *t == '\r')
                *t++ = '\0';
            if (!*t)
                break;
            tok[nt++] = t;
            while (*t && *t != ' ' && *t != '\t' && *t != '\r')
                t++;
        }
        if (nt == 0)
            continue;
        if (nt < 3 || nt > 5 || n >= max)
            return STRATA_EPARSE;
        struct fsio_fault f;
        memset(&f, 0, sizeof(f));
        for (size_t i = 0; i < sizeof(opnames) / sizeof(opnames[0]); i++)
            if (!strcmp(tok[0], opnames[i].name))
                f.ops = opnames[i].ops;
        for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
            if (!strcmp(tok[2], errnames[i].name))
                f.err = errnames[i].value;
        if (!f.ops || !f.err)
            return STRATA_EPARSE;
        /* "*" stands for every path. */
        if (strcmp(tok[1], "*")) {
            if (strlen(tok[1]) >= sizeof(f.path))
                return STRATA_EPARSE;
            memcpy(f.path, tok[1], strlen(tok[1]) + 1);
        }
        for (int i = 3; i < nt; i++) {
            if (!strncmp(tok[i], "skip=", 5)) {
                if (parse_u64(tok[i] + 5, &f.skip) < 0)
                    return STRATA_EPARSE;
            } else if (!strncmp(tok[i], "count=", 6)) {
                if (parse_u64(tok[i] + 6, &f.count) < 0)
                    return STRATA_EPARSE;
            } else {
                return STRATA_EPARSE;
            }
        }
        out[n++] = f;
    }
    return n;
}

/*
 * Re-read the faults file when it changed (one stat per call: only tests set it).
 * Called with fault_mu held.
 */
static void refresh_file_rules(void)
{
    struct stat st;
    if (stat(faults_file, &st) < 0) {
        n_file_rules = 0;
        memset(&file_mtime, 0, sizeof(file_mtime));
        return;
    }
    if (st.st_mtim.tv_sec == file_mtime.tv_sec && st.st_mtim.tv_nsec == file_mtime.tv_nsec)
        return;
    file_mtime = st.st_mtim;
    char text[8192];
    FILE *fp = fopen(faults_file, "r");
    if (!fp)
        return;
    size_t len = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[len] = '\0';
    struct fsio_fault parsed[MAX_RULES];
    int n = fsio_fault_parse(text, parsed, MAX_RULES);
    if (n < 0) {
        log_warn("fsio: ignoring malformed faults file %s", faults_file);
        return;
    }
    n_file_rules = n;
    for (int i = 0; i < n; i++)
        file_rules[i] = (struct rule){parsed[i], 0};
    log_warn("fsio: %d fault rule(s) active from %s", n, faults_file);
}

static bool rule_fires(struct rule *r, unsigned op, const char *path)
{
    if (!(r->f.ops & op) || (r->f.path[0] && (!path || !strstr(path, r->f.path))))
        return false;
    uint64_t k = r->seen++;
    if (k < r->f.skip)
        return false;
    return r->f.count == 0 || k - r->f.skip < r->f.count;
}

/* The errno to fail this call with, or 0. */
static int injected(unsigned op, const char *path)
{
    pthread_once(&env_once, env_init);
    if (!atomic_load_explicit(&faults_armed, memory_order_relaxed))
        return 0;
    int e = 0;
    pthread_mutex_lock(&fault_mu);
    if (faults_file)
        refresh_file_rules();
    for (int i = 0; i < n_test_rules && !e; i++)
        if (rule_fires(&test_rules[i], op, path))
            e = test_rules[i].f.err;
    for (int i = 0; i < n_file_rules && !e; i++)
        if (rule_fires(&file_rules[i], op, path))
            e = file_rules[i].f.err;
    pthread_mutex_unlock(&fault_mu);
    if (e)
        atomic_fetch_add(&fault_hits, 1);
    return e;
}

void fsio_fault_add(const struct fsio_fault *f)
{
    pthread_once(&env_once, env_init);
    pthread_mutex_lock(&fault_mu);
    if (n_test_rules < MAX_RULES)
        test_rules[n_test_rules++] = (struct rule){*f, 0};
    atomic_store(&faults_armed, 1);
    pthread_mutex_unlock(&fault_mu);
}

void fsio_fault_clear(void)
{
    pthread_once(&env_once, env_init);
    pthread_mutex_lock(&fault_mu);
    n_test_rules = 0;
    atomic_store(&faults_armed, faults_file != NULL);
    pthread_mutex_unlock(&fault_mu);
}

uint64_t fsio_fault_hits(void)
{
    return atomic_load(&fault_hits);
}

/* ---- files ---- */

int fsio_open(struct fsfile *f, const char *path, int flags)
{
    f->fd = -1;
    f->path = NULL;
    int e = injected(FSIO_OPEN, path);
    if (e)
        return fail(e);
    int fd;
    do
        fd = open(path, flags | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return fail(errno);
    f->fd = fd;
    f->path = xstrdup(path);
    return 0;
}

void fsio_close(struct fsfile *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    f->fd = -1;
    f->path = NULL;
}

int fsio_writev(struct fsfile *f, const struct iovec *iov_in, int cnt)
{
    int e = injected(FSIO_WRITE, f->path);
    if (e)
        return fail(e);
    struct iovec local[64];
    while (cnt > 0) {
        int n = cnt < 64 ? cnt : 64;
        memcpy(local, iov_in, (size_t)n * sizeof(*local));
        struct iovec *iov = local;
        int left = n;
        while (left > 0) {
            ssize_t w = writev(f->fd, iov, left < IOV_MAX ? left : IOV_MAX);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return fail(errno);
            }
            size_t done = (size_t)w;
            while (left > 0 && done >= iov->iov_len) {
                done -= iov->iov_len;
                iov++;
                left--;
            }
            if (left > 0 && done) {
                iov->iov_base = (char *)iov->iov_base + done;
                iov->iov_len -= done;
            }
        }
        iov_in += n;
        cnt -= n;
    }
    return 0;
}

int fsio_write(struct fsfile *f, const void *p, size_t n)
{
    struct iovec v = {(void *)p, n};
    return fsio_writev(f, &v, 1);
}

int fsio_pread(struct fsfile *f, void *p, size_t n, uint64_t off)
{
    char *d = p;
    while (n > 0) {
        ssize_t r = pread(f->fd, d, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return fail(errno);
        }
        if (r == 0)
            return STRATA_ECORRUPT;
        d += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int fsio_fdatasync(struct fsfile *f)
{
    int e = injected(FSIO_SYNC, f->path);
    if (e)
        return fail(e);
    if (fdatasync(f->fd) < 0)
        return fail(errno);
    return 0;
}

int fsio_fsync(struct fsfile *f)
{
    int e = injected(FSIO_SYNC, f->path);
    if (e)
        return fail(e);
    if (fsync(f->fd) < 0)
        return fail(errno);
    return 0;
}

int fsio_ftruncate(struct fsfile *f, uint64_t size)
{
    int e = injected(FSIO_TRUNCATE, f->path);
    if (e)
        return fail(e);
    if (ftruncate(f->fd, (off_t)size) < 0)
        return fail(errno);
    return 0;
}

int fsio_size(struct fsfile *f, uint64_t *size)
{
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return fail(errno);
    *size = (uint64_t)st.st_size;
    return 0;
}

int fsio_rename(const char *from, const char *to)
{
    int e = injected(FSIO_RENAME, to);
    if (e)
        return fail(e);
    if (rename(from, to) < 0)
        return fail(errno);
    return 0;
}

int fsio_unlink(const char *path)
{
    int e = injected(FSIO_UNLINK, path);
    if (e)
        return fail(e);
    if (unlink(path) < 0 && errno != ENOENT)
        return fail(errno);
    return 0;
}

int fsio_sync_dir(const char *path)
{
    int e = injected(FSIO_SYNC, path);
    if (e)
        return fail(e);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(errno);
    int rc = 0;
    if (fsync(fd) < 0)
        rc = fail(errno);
    close(fd);
    return rc;
}

int fsio_mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return STRATA_EINVAL;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        struct stat st;
        if (stat(tmp, &st) < 0) {
            int e = injected(FSIO_MKDIR, tmp);
            if (e)
                return fail(e);
            if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                return fail(errno);
            /* Make the new entry durable in its parent. */
            char *slash = strrchr(tmp, '/');
            int rc = 0;
            if (slash && slash != tmp) {
                *slash = '\0';
                rc = fsio_sync_dir(tmp);
                *slash = '/';
            } else if (!slash) {
                rc = fsio_sync_dir(".");
            }
            if (rc < 0)
                return rc;
        } else if (!S_ISDIR(st.st_mode)) {
            return fail(ENOTDIR);
        }
        tmp[i] = c;
    }
    return 0;
}

bool fsio_numbered_name(const char *name, const char *suffix, uint64_t *num)
{
    if (strlen(name) != 16 + strlen(suffix) || strcmp(name + 16, suffix))
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *num = v;
    return true;
}

int fsio_write_atomic(const char *dir, const char *name, const void *p, size_t n)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= (int)sizeof(tmp))
        return STRATA_EINVAL;
    struct fsfile f;
    int rc = fsio_open(&f, tmp, O_WRONLY | O_CREAT | O_TRUNC);
    if (rc < 0)
        return rc;
    rc = fsio_write(&f, p, n);
    if (!rc)
        rc = fsio_fsync(&f);
    fsio_close(&f);
    if (!rc)
        rc = fsio_rename(tmp, path);
    if (!rc)
        rc = fsio_sync_dir(dir);
    if (rc < 0) {
        int e = last_errno;
        (void)!unlink(tmp);
        last_errno = e;
    }
    return rc;
}
