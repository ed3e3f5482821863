/*
 * fuzz_ingest.h - shared set-up for the ingest decoder fuzz targets: a batch,
 * a result and a normalizer with the default limits (old samples allowed, so
 * corpus timestamps keep working), torn down after each input.
 */
#ifndef STRATA_FUZZ_INGEST_H
#define STRATA_FUZZ_INGEST_H

#include <stdint.h>
#include <stdlib.h>

#include "core/clock.h"
#include "ingest/normalize.h"

static inline const struct tenant_limits *fuzz_limits(void)
{
    static struct tenant_limits lim;
    static int ready;
    if (!ready) {
        struct config cfg;
        char err[256];
        config_init(&cfg);
        if (tenant_limits_from_config(&lim, &cfg, err, sizeof(err)) < 0)
            abort();
        config_release(&cfg);
        lim.reject_old_samples = false;
        ready = 1;
    }
    return &lim;
}

typedef int (*fuzz_decoder)(struct slice, struct normalizer *, char *, size_t);

/* Decode data with dec under a small memory budget, check the batch's totals, free it. */
static inline void fuzz_decode(fuzz_decoder dec, const uint8_t *data, size_t size)
{
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    char err[512];
    push_batch_init(&b, "fuzz");
    push_result_init(&r);
    b.arena.limit = 16u << 20;
    norm_init(&nz, fuzz_limits(), INT64_C(1700000000) * NS_PER_SEC, &b, &r);
    dec((struct slice){(const char *)data, size}, &nz, err, sizeof(err));
    uint64_t n = 0;
    for (uint32_t i = 0; i < b.n_streams; i++)
        n += b.streams[i].n_entries;
    if (n != b.n_entries)
        abort();
    push_batch_release(&b);
}

#endif
