/*
 * fsio.h - the storage engine's file I/O, with injectable failures.
 *
 * Every write, sync, rename, truncate and unlink the store does goes through
 * this thin layer (SQLite's VFS idea), so that tests can make any of them fail
 * and check that nothing acknowledged is lost and that the server recovers
 * when the fault goes away.
 *
 * Errors: every function returns 0 or a negative STRATA_E* code. A full disk
 * (ENOSPC, EDQUOT) becomes STRATA_ENOSPC (answered 507); any other I/O error
 * becomes STRATA_EIO (500). The errno of the last failure is kept per thread
 * (fsio_last_errno) for log messages.
 *
 * Faults. A fault rule names an operation, a path substring and the errno to
 * fail with; optionally it lets `skip` matching calls pass first and then fails
 * `count` calls (0: until removed). Rules come from fsio_fault_add (unit tests)
 * or from a text file named by the environment variable STRATA_FAULTS_FILE,
 * re-read whenever its modification time changes (integration tests flip
 * faults on and off in a running server). One rule per line:
 *
 *     <op> <path-substring> <errno-name> [skip=N] [count=N]
 *
 * where op is one of write, sync, rename, open, unlink, truncate, mkdir, any;
 * errno-name is EIO, ENOSPC, EDQUOT, EACCES or EROFS; '#' starts a comment.
 * An empty file means no faults. Without the variable the check costs one
 * relaxed atomic load per call.
 */
#ifndef STRATA_FSIO_H
#define STRATA_FSIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum fsio_op {
    FSIO_WRITE = 1 << 0,
    FSIO_SYNC = 1 << 1,
    FSIO_RENAME = 1 << 2,
    FSIO_OPEN = 1 << 3,
    FSIO_UNLINK = 1 << 4,
    FSIO_TRUNCATE = 1 << 5,
    FSIO_MKDIR = 1 << 6,
    FSIO_ANY = 0x7f,
};

/* An open file: the descriptor and the path it was opened with (for fault rules and logs). */
struct fsfile {
    int fd;
    char *path;
};

/* Map an errno value to STRATA_ENOSPC (full disk) or STRATA_EIO (everything else). */
int fsio_err(int e);
/* The errno of this thread's last failed fsio call (0 if none). */
int fsio_last_errno(void);

/*
 * Open (flags as open(2), mode 0644 when creating). On success f->fd and
 * f->path (a copy) are set; fsio_close releases both.
 */
__attribute__((warn_unused_result)) int fsio_open(struct fsfile *f, const char *path, int flags);
void fsio_close(struct fsfile *f);
/* Write all n bytes at the current offset (retrying short writes and EINTR). */
__attribute__((warn_unused_result)) int fsio_write(struct fsfile *f, const void *p, size_t n);
/* Write all bytes of iov[0..cnt) at the current offset. */
struct iovec;
__attribute__((warn_unused_result)) int fsio_writev(struct fsfile *f, const struct iovec *iov,
                                                    int cnt);
/* Read exactly n bytes at off; STRATA_ECORRUPT if the file is shorter. */
__attribute__((warn_unused_result)) int fsio_pread(struct fsfile *f, void *p, size_t n,
                                                   uint64_t off);
__attribute__((warn_unused_result)) int fsio_fdatasync(struct fsfile *f);
__attribute__((warn_unused_result)) int fsio_fsync(struct fsfile *f);
__attribute__((warn_unused_result)) int fsio_ftruncate(struct fsfile *f, uint64_t size);
/* The file's size in bytes. */
__attribute__((warn_unused_result)) int fsio_size(struct fsfile *f, uint64_t *size);

__attribute__((warn_unused_result)) int fsio_rename(const char *from, const char *to);
/* Unlink; a missing file is not an error. */
__attribute__((warn_unused_result)) int fsio_unlink(const char *path);
/* fsync a directory so that entries created, renamed or removed in it are durable. */
__attribute__((warn_unused_result)) int fsio_sync_dir(const char *path);
/* mkdir -p; each directory created is made durable in its parent. */
__attribute__((warn_unused_result)) int fsio_mkdirs(const char *path);
/*
 * Write a small file atomically: <path>.tmp is written and fsynced, renamed
 * over path, and the directory fsynced.
 */
__attribute__((warn_unused_result)) int fsio_write_atomic(const char *dir, const char *name,
                                                          const void *p, size_t n);

/*
 * Storage files are named by a 64-bit number in 16 lowercase hex digits plus
 * a suffix (0000000000000007.wal, 000000000000002a.part). Parse such a name:
 * true and *num set when name is exactly that form.
 */
bool fsio_numbered_name(const char *name, const char *suffix, uint64_t *num);

/* ---- faults ---- */

struct fsio_fault {
    unsigned ops;   /* FSIO_* mask */
    char path[128]; /* substring the path must contain ("" matches every path) */
    int err;        /* errno to fail with */
    uint64_t skip;  /* matching calls let through first */
    uint64_t count; /* calls to fail after that; 0 = every call until cleared */
};

/* Add a rule (tests); rules from STRATA_FAULTS_FILE are kept apart and replaced on re-read. */
void fsio_fault_add(const struct fsio_fault *f);
/* Remove every rule added with fsio_fault_add. */
void fsio_fault_clear(void);
/* How many calls have failed by injection since start (for tests). */
uint64_t fsio_fault_hits(void);
/*
 * Parse rules from text (the STRATA_FAULTS_FILE format) into out (at most
 * max); returns the number parsed or STRATA_EPARSE.
 */
int fsio_fault_parse(const char *text, struct fsio_fault *out, int max);

#endif
