/*
 * Fuzz target: the S3 manifest reader (a document read from the bucket). A
 * document that decodes must encode and decode again to the same thing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "remote/s3_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct s3_manifest *a, const struct s3_manifest *b)
{
    if (a->n_parts != b->n_parts || a->n_retired != b->n_retired ||
        a->generation != b->generation || a->updated_ns != b->updated_ns)
        abort();
    for (uint32_t i = 0; i < a->n_parts; i++) {
        const struct s3_manifest_part *x = &a->parts[i], *y = &b->parts[i];
        if (strcmp(x->key, y->key) || strcmp(x->tenant, y->tenant) || strcmp(x->etag, y->etag) ||
            x->uid != y->uid || x->id != y->id || x->size != y->size ||
            x->index_off != y->index_off || x->min_ts != y->min_ts || x->max_ts != y->max_ts ||
            x->entries != y->entries || x->level != y->level)
            abort();
    }
    for (uint32_t i = 0; i < a->n_retired; i++)
        if (strcmp(a->retired[i].key, b->retired[i].key) ||
            a->retired[i].since_ns != b->retired[i].since_ns)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s3_manifest m, back;
    s3_manifest_init(&m);
    s3_manifest_init(&back);
    char err[256];
    if (s3_manifest_decode((const char *)data, size, "strata/w", &m, err, sizeof(err)) == 0) {
        struct buf b;
        buf_init(&b, S3_MANIFEST_MAX_BYTES);
        if (s3_manifest_encode(&m, &b) != 0 ||
            s3_manifest_decode(b.ptr, b.len, "strata/w", &back, err, sizeof(err)) != 0)
            abort();
        same(&m, &back);
        buf_release(&b);
    }
    s3_manifest_release(&m);
    s3_manifest_release(&back);
    return 0;
}
