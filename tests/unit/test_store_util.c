#include "test_store_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void st_tmpdir(char *out)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, 256, "%s/strata-unit-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(out))
        abort();
}

void st_tmpdir_fast(char *out)
{
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(out, 256, "/dev/shm/strata-unit-XXXXXX");
        if (mkdtemp(out))
            return;
    }
    st_tmpdir(out);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void st_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int st_copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return -1;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            break;
    fclose(in);
    return fclose(out);
}

long st_size(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 ? -1 : (long)st.st_size;
}

int st_truncate(const char *path, long n)
{
    return truncate(path, n);
}

int st_flip(const char *path, long off, unsigned char mask)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return -1;
    unsigned char c;
    int rc = -1;
    if (pread(fd, &c, 1, off) == 1) {
        c ^= mask;
        rc = pwrite(fd, &c, 1, off) == 1 ? 0 : -1;
    }
    close(fd);
    return rc;
}

uint32_t st_stream(struct push_batch *b, const char *app)
{
    struct label l[1] = {{SLICE_LIT("app"), slice_from(app)}};
    l[0].value = arena_slice_dup(&b->arena, l[0].value);
    return push_batch_stream(b, l, 1);
}

/* Count the files in dir whose names end with suffix; the last one read goes to last. */
static int find_files(const char *dir, const char *suffix, char *last, size_t lastlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l >= sl && !strcmp(e->d_name + l - sl, suffix)) {
            n++;
            if (last)
                snprintf(last, lastlen, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return n;
}

int st_count_files(const char *dir, const char *suffix)
{
    return find_files(dir, suffix, NULL, 0);
}

int st_only_file(const char *dir, const char *suffix, char *path, size_t len)
{
    return find_files(dir, suffix, path, len) == 1 ? 0 : -1;
}
