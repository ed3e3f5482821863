/*
 * Fuzz target: the part reader. The input is a part file image, opened as a
 * mapped source twice: with checksums (what the store does) and without (so
 * that mutations reach the parsers behind them); every stream is then read
 * forward and backward, with and without lines, with metadata alone, through
 * the postings and the bloom filters, and the whole part verified. Damage must give
 * STRATA_ECORRUPT, never a crash or an unbounded allocation.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/arena.h"
#include "store/part.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_all(struct part *p, struct arena *a)
{
    struct slice needle = SLICE_LIT("error");
    /* the second needle has a token prefix to test (layout-3 filters) */
    struct slice probes[2] = {SLICE_LIT("error"), SLICE_LIT("id=0123456789abcdef")};
    struct bloom_query bq;
    bloom_query_init(&bq, probes, 2, a);
    uint32_t *ids;
    uint32_t n = part_match_streams(p, NULL, a, &ids);
    for (int mode = 0; mode < 6; mode++) {
        /* mode 3 prunes by the bloom filters and drops lines without the needle */
        struct tier_query q = {.start = INT64_MIN,
                               .end = INT64_MAX,
                               .backward = mode & 1,
                               .want_lines = mode & 2,
                               .want_meta = mode & 4,
                               .needles = mode == 3 ? &needle : NULL,
                               .n_needles = mode == 3};
        for (uint32_t i = 0; i < n; i++) {
            struct tier_cursor *c =
                part_cursor_new(p, ids[i], &q, mode == 3 ? &bq : NULL, a, NULL, NULL);
            if (!c)
                continue;
            struct entry_batch b;
            while (c->ops->next(c, &b) > 0)
                ;
            c->ops->close(c);
        }
    }
    char err[256];
    part_verify(p, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct part_source src = {.size = size, .map = data};
    for (int verify = 1; verify >= 0; verify--) {
        struct part *p;
        char err[256];
        if (part_open(&src, verify, &p, err, sizeof(err)) < 0)
            continue;
        struct arena a;
        arena_init(&a, 0);
        read_all(p, &a);
        arena_release(&a);
        part_close(p);
    }
    return 0;
}
