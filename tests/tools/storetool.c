/*
 * storetool - inspect, verify and measure Strata's storage files.
 *
 *   storetool verify PATH...      check every checksum and block of the parts under PATH
 *                                 (files or directories); exit 1 if any is damaged
 *   storetool dump FILE           print a part's footer, streams and where its bytes go
 *   storetool measure CORPUS.tsv [--levels 1,3,7] [--blocks 262144,1048576] [--dir DIR]
 *                                 write the corpus (make-corpus.py --format tsv) as parts
 *                                 with each zstd level and block size; report bytes per
 *                                 line, write and read speeds and bloom pruning
 *   storetool walbench DIR THREADS RECORDS BYTES
 *                                 concurrent WAL appends with sync=always: appends/s and
 *                                 records per fdatasync (group commit)
 *   storetool pushbench URL BODIES.ndjson CONNECTIONS
 *                                 POST each line of BODIES (make-corpus.py --format loki) to
 *                                 URL (.../loki/api/v1/push) over CONNECTIONS connections at
 *                                 once; report pushes/s and MB/s (lines/s = pushes/s x batch)
 *
 * The figures in docs/STORAGE.md come from the last two.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "ingest/labels.h"
#include "store/bloom.h"
#include "store/part.h"
#include "store/wal.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: storetool verify PATH... | dump FILE | measure CORPUS.tsv [--levels "
            "L,..] [--blocks B,..] [--dir DIR] | walbench DIR THREADS RECORDS BYTES | pushbench "
            "URL BODIES CONNECTIONS\n");
    return 2;
}

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

/* ---- verify ---- */

static int verified, damaged;

static void verify_file(const char *path)
{
    struct part_source src;
    struct part *p = NULL;
    char err[512];
    if (part_source_file(path, &src, err, sizeof(err)) < 0) {
        printf("CORRUPT %s: %s\n", path, err);
        damaged++;
        return;
    }
    if (part_open(&src, true, &p, err, sizeof(err)) < 0 || part_verify(p, err, sizeof(err)) < 0) {
        printf("CORRUPT %s: %s\n", path, err);
        damaged++;
    } else {
        const struct part_info *in = part_get_info(p);
        printf("ok %s: %" PRIu64 " entries, %" PRIu64 " streams, %" PRIu64 " blocks\n", path,
               in->entries, in->streams, in->blocks);
        verified++;
    }
    part_close(p);
    part_source_file_release(&src);
}

static void verify_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        printf("CORRUPT %s: %s\n", path, strerror(errno));
        damaged++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        verify_file(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        size_t n = strlen(e->d_name);
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            verify_path(sub);
        else if (n > 5 && !strcmp(e->d_name + n - 5, ".part"))
            verify_file(sub);
    }
    if (d)
        closedir(d);
}

/* ---- dump ---- */

static int dump(const char *path)
{
    struct part_source src;
    struct part *p;
    char err[512];
    if (part_source_file(path, &src, err, sizeof(err)) < 0 ||
        part_open(&src, true, &p, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 1;
    }
    const struct part_info *in = part_get_info(p);
    char a[40], b[40];
    clock_format_rfc3339(in->min_ts, a);
    clock_format_rfc3339(in->max_ts, b);
    printf("part %016" PRIx64 " tenant %s level %u%s zstd %u wal_seq %" PRIu64 "\n", in->id,
           in->tenant, in->level, in->interim ? " (interim)" : "", in->zstd_level, in->wal_seq);
    printf("  %s .. %s\n  %" PRIu64 " entries, %" PRIu64 " line bytes, %" PRIu64
           " streams, %" PRIu64 " blocks, %" PRIu64 " bytes on disk (%.2f per entry)\n",
           a, b, in->entries, in->bytes, in->streams, in->blocks, in->file_size,
           in->entries ? (double)in->file_size / (double)in->entries : 0);
    struct part_sizes sz;
    part_get_sizes(p, &sz);
    printf("  timestamps %" PRIu64 ", lines %" PRIu64 ", metadata %" PRIu64 ", blooms %" PRIu64
           ", index %" PRIu64 "\n",
           sz.ts, sz.data, sz.meta, sz.bloom, sz.index);
    for (uint32_t i = 0; i < in->n_supersedes; i++)
        printf("  supersedes %016" PRIx64 "\n", in->supersedes[i]);
    for (uint32_t i = 0; i < part_stream_count(p); i++) {
        const struct part_stream *s = part_get_stream(p, i);
        printf("  %.*s: %" PRIu64 " entries in %u blocks\n", (int)s->key.len, s->key.ptr,
               s->entries, s->n_blocks);
    }
    part_close(p);
    part_source_file_release(&src);
    return 0;
}

/* ---- measure ---- */

struct cstream {
    char key[160];
    struct label labels[3];
    char lab[3][64];
    int64_t *ts;
    uint64_t *off;
    uint32_t *len;
    size_t n, cap;
};

struct corpus {
    char *text;
    size_t len, cap;
    struct cstream *s;
    size_t ns;
    uint64_t lines, bytes;
};

static void unescape_tsv(char *p, size_t *n)
{
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (p[i] == '\\' && i + 1 < *n) {
            char c = p[++i];
            p[w++] = c == 't' ? '\t' : c == 'n' ? '\n' : c;
        } else {
            p[w++] = p[i];
        }
    }
    *n = w;
}

static struct cstream *corpus_stream(struct corpus *c, const char *app, const char *host,
                                     const char *level)
{
    char key[160];
    snprintf(key, sizeof(key), "%s|%s|%s", app, host, level);
    for (size_t i = 0; i < c->ns; i++)
        if (!strcmp(c->s[i].key, key))
            return &c->s[i];
    c->s = xreallocarray(c->s, c->ns + 1, sizeof(*c->s));
    struct cstream *s = &c->s[c->ns++];
    memset(s, 0, sizeof(*s));
    snprintf(s->key, sizeof(s->key), "%s", key);
    const char *vals[3] = {app, host, level};
    const char *names[3] = {"app", "host", "level"};
    for (int i = 0; i < 3; i++) {
        snprintf(s->lab[i], sizeof(s->lab[i]), "%s", vals[i]);
        s->labels[i] = (struct label){slice_from(names[i]), slice_from(s->lab[i])};
    }
    return s;
}

static int load_corpus(const char *path, struct corpus *c)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    memset(c, 0, sizeof(*c));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        char *fields[5];
        int nf = 0;
        fields[nf++] = line;
        for (char *p = line; *p && nf < 5; p++)
            if (*p == '\t') {
                *p = '\0';
                fields[nf++] = p + 1;
            }
        if (nf < 5)
            continue;
        size_t ll = strlen(fields[4]);
        if (ll && fields[4][ll - 1] == '\n')
            fields[4][--ll] = '\0';
        unescape_tsv(fields[4], &ll);
        struct cstream *s = corpus_stream(c, fields[1], fields[2], fields[3]);
        if (c->len + ll > c->cap) {
            c->cap = (c->cap + ll) * 2;
            c->text = xrealloc(c->text, c->cap);
        }
        memcpy(c->text + c->len, fields[4], ll);
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 1024;
            s->ts = xreallocarray(s->ts, s->cap, sizeof(*s->ts));
            s->off = xreallocarray(s->off, s->cap, sizeof(*s->off));
            s->len = xreallocarray(s->len, s->cap, sizeof(*s->len));
        }
        s->ts[s->n] = strtoll(fields[0], NULL, 10);
        s->off[s->n] = c->len;
        s->len[s->n] = (uint32_t)ll;
        s->n++;
        c->len += ll;
        c->lines++;
        c->bytes += ll;
    }
    free(line);
    fclose(f);
    return 0;
}

static int parse_list(const char *s, long *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        out[n++] = strtol(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            break;
    }
    return n;
}

/* Read every stream of the part; returns entries and the time taken. */
static uint64_t scan(struct part *p, bool lines, const struct slice *needle, int64_t *ns,
                     struct tier_read_stats *st, uint64_t *found)
{
    struct arena a;
    arena_init(&a, 0);
    struct bloom_query bq = {0};
    struct tier_query q = {.start = INT64_MIN, .end = INT64_MAX, .want_lines = lines, .stats = st};
    if (needle) {
        q.needles = needle;
        q.n_needles = 1;
        bloom_query_init(&bq, needle, 1, &a);
    }
    uint64_t n = 0;
    *found = 0;
    int64_t t0 = clock_mono_ns();
    for (uint32_t i = 0; i < part_stream_count(p); i++) {
        struct tier_cursor *c = part_cursor_new(p, i, &q, needle ? &bq : NULL, &a, NULL, NULL);
        if (!c)
            continue;
        struct entry_batch b;
        while (c->ops->next(c, &b) > 0) {
            n += b.n;
            if (needle)
                for (uint32_t k = 0; k < b.n; k++)
                    *found +=
                        memmem(b.lines[k].ptr, b.lines[k].len, needle->ptr, needle->len) != NULL;
        }
        c->ops->close(c);
    }
    *ns = clock_mono_ns() - t0;
    arena_release(&a);
    return n;
}

static int measure(int argc, char **argv)
{
    if (argc < 1)
        return usage();
    long levels[16] = {1, 3, 7}, blocks[16] = {1 << 20};
    int nl = 3, nb = 1;
    const char *dir = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--levels"))
            nl = parse_list(argv[i + 1], levels, 16);
        else if (!strcmp(argv[i], "--blocks"))
            nb = parse_list(argv[i + 1], blocks, 16);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
        else
            return usage();
    }
    struct corpus c;
    int64_t t0 = clock_mono_ns();
    if (load_corpus(argv[0], &c) < 0)
        return 1;
    printf("corpus %s: %" PRIu64 " lines, %" PRIu64 " bytes of lines (%.1f per line), %zu "
           "streams, loaded in %.1fs\n",
           argv[0], c.lines, c.bytes, (double)c.bytes / (double)c.lines, c.ns,
           secs(clock_mono_ns() - t0));
    char tmp[PATH_MAX];
    if (!dir) {
        snprintf(tmp, sizeof(tmp), "/tmp/storetool-XXXXXX");
        if (!mkdtemp(tmp))
            return 1;
        dir = tmp;
    }
    printf("\n| zstd | block | bytes/line | ts | lines | bloom | index | write MB/s | read "
           "lines MB/s | read ts Mentries/s | absent needle: blocks read |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|\n");
    uint64_t id = 1;
    for (int li = 0; li < nl; li++)
        for (int bi = 0; bi < nb; bi++) {
            struct part_writer_options o = {.dir = dir,
                                            .id = id++,
                                            .level = 1,
                                            .zstd_level = (int)levels[li],
                                            .block_bytes = (uint32_t)blocks[bi],
                                            .tenant = "bench",
                                            .bloom = true};
            struct part_writer *w;
            if (part_writer_open(&o, &w) < 0)
                return 1;
            int64_t w0 = clock_mono_ns();
            for (size_t s = 0; s < c.ns; s++) {
                struct cstream *cs = &c.s[s];
                if (part_writer_begin_stream(w, labels_fingerprint(cs->labels, 3), cs->labels, 3) <
                    0)
                    return 1;
                for (size_t k = 0; k < cs->n; k++)
                    if (part_writer_add(w, cs->ts[k],
                                        (struct slice){c.text + cs->off[k], cs->len[k]},
                                        (struct slice){"", 0}) < 0)
                        return 1;
                if (part_writer_end_stream(w) < 0)
                    return 1;
            }
            char path[PATH_MAX];
            struct part_info info;
            if (part_writer_finish(w, &info, path, sizeof(path)) < 0)
                return 1;
            int64_t wns = clock_mono_ns() - w0;
            struct part_source src;
            struct part *p;
            char err[256];
            if (part_source_file(path, &src, err, sizeof(err)) < 0 ||
                part_open(&src, true, &p, err, sizeof(err)) < 0) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            struct part_sizes sz;
            part_get_sizes(p, &sz);
            int64_t rns, tns, nns;
            uint64_t found;
            struct tier_read_stats st = {0};
            scan(p, true, NULL, &rns, &st, &found);
            scan(p, false, NULL, &tns, &st, &found);
            struct slice absent = SLICE_LIT("strata-needle-absent");
            struct tier_read_stats bs = {0};
            scan(p, true, &absent, &nns, &bs, &found);
            double L = (double)c.lines;
            printf("| %ld | %ld | %.2f | %.2f | %.2f | %.2f | %.3f | %.0f | %.0f | %.1f | %" PRIu64
                   "/%" PRIu64 " |\n",
                   levels[li], blocks[bi], (double)info.file_size / L, (double)sz.ts / L,
                   (double)sz.data / L, (double)sz.bloom / L, (double)sz.index / L,
                   (double)c.bytes / 1e6 / secs(wns), (double)c.bytes / 1e6 / secs(rns),
                   L / 1e6 / secs(tns), bs.blocks_read, bs.blocks_total);
            fflush(stdout);
            part_close(p);
            part_source_file_release(&src);
            unlink(path);
        }
    if (dir == tmp)
        rmdir(tmp);
    return 0;
}

/* ---- walbench ---- */

struct wb {
    struct wal *w;
    long records;
    size_t bytes;
    int failures;
};

static void *wb_thread(void *arg)
{
    struct wb *b = arg;
    char *payload = xcalloc(1, b->bytes);
    for (long i = 0; i < b->records; i++)
        if (wal_append(b->w, WAL_REC_PUSH, payload, b->bytes) < 0)
            b->failures++;
    free(payload);
    return NULL;
}

static int walbench(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    int threads = atoi(argv[1]);
    long records = atol(argv[2]);
    size_t bytes = (size_t)atol(argv[3]);
    struct wal_options o = {.dir = argv[0], .sync = WAL_SYNC_ALWAYS, .segment_size = 128u << 20};
    struct wal *w;
    char err[256];
    if (wal_open(&o, NULL, NULL, NULL, &w, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pthread_t *th = xcalloc((size_t)threads, sizeof(*th));
    struct wb *b = xcalloc((size_t)threads, sizeof(*b));
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < threads; i++) {
        b[i] = (struct wb){w, records, bytes, 0};
        pthread_create(&th[i], NULL, wb_thread, &b[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double dt = secs(clock_mono_ns() - t0);
    struct wal_status st;
    wal_status(w, &st);
    printf("%d threads x %ld records of %zu bytes: %.0f appends/s, %.1f MB/s, %" PRIu64
           " fdatasyncs (%.1f records each), %.2f ms per append\n",
           threads, records, bytes, (double)st.appends / dt,
           (double)st.appends * (double)bytes / 1e6 / dt, st.fsyncs,
           (double)st.appends / (double)(st.fsyncs ? st.fsyncs : 1),
           dt * 1e3 * threads / (double)st.appends);
    wal_close(w);
    free(th);
    free(b);
    return 0;
}

/* ---- pushbench ---- */

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static int pushbench(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    int conc = atoi(argv[2]);
    if (conc < 1)
        conc = 1;
    char **bodies = NULL;
    size_t *lens = NULL, nb = 0, cap = 0, total = 0, lc = 0;
    char *line = NULL;
    ssize_t n;
    while ((n = getline(&line, &lc, f)) > 0) {
        if (nb == cap) {
            cap = cap ? cap * 2 : 1024;
            bodies = xreallocarray(bodies, cap, sizeof(*bodies));
            lens = xreallocarray(lens, cap, sizeof(*lens));
        }
        bodies[nb] = xmalloc((size_t)n);
        memcpy(bodies[nb], line, (size_t)n);
        lens[nb] = (size_t)n;
        total += (size_t)n;
        nb++;
    }
    free(line);
    fclose(f);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    CURL **hs = xcalloc((size_t)conc, sizeof(*hs));
    size_t next = 0, done = 0, failed = 0;
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < conc && next < nb; i++, next++) {
        hs[i] = curl_easy_init();
        curl_easy_setopt(hs[i], CURLOPT_URL, argv[0]);
        curl_easy_setopt(hs[i], CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(hs[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(hs[i], CURLOPT_POSTFIELDS, bodies[next]);
        curl_easy_setopt(hs[i], CURLOPT_POSTFIELDSIZE, (long)lens[next]);
        curl_multi_add_handle(m, hs[i]);
    }
    while (done < nb) {
        int running, q;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &q))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            long code = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            failed += code != 204;
            done++;
            curl_multi_remove_handle(m, e);
            if (next < nb) {
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, bodies[next]);
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)lens[next]);
                next++;
                curl_multi_add_handle(m, e);
            }
        }
        if (done < nb)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double dt = secs(clock_mono_ns() - t0);
    printf("%zu pushes (%zu not 204) over %d connections, %.1f MB in %.2fs: %.0f pushes/s, "
           "%.1f MB/s\n",
           nb, failed, conc, (double)total / 1e6, dt, (double)nb / dt, (double)total / 1e6 / dt);
    for (int i = 0; i < conc; i++)
        if (hs[i])
            curl_easy_cleanup(hs[i]);
    curl_multi_cleanup(m);
    curl_slist_free_all(hdr);
    for (size_t i = 0; i < nb; i++)
        free(bodies[i]);
    free(bodies);
    free(lens);
    free(hs);
    curl_global_cleanup();
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    if (!strcmp(argv[1], "verify")) {
        for (int i = 2; i < argc; i++)
            verify_path(argv[i]);
        printf("%d parts verified, %d damaged\n", verified, damaged);
        return damaged ? 1 : 0;
    }
    if (!strcmp(argv[1], "dump"))
        return dump(argv[2]);
    if (!strcmp(argv[1], "measure"))
        return measure(argc - 2, argv + 2);
    if (!strcmp(argv[1], "walbench"))
        return walbench(argc - 2, argv + 2);
    if (!strcmp(argv[1], "pushbench"))
        return pushbench(argc - 2, argv + 2);
    return usage();
}
