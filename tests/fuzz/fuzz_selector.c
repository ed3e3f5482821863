/* Fuzz target: stream selectors and Loki label strings (query text, protobuf labels). */
#include <stdint.h>

#include "ingest/labels.h"
#include "query/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a, 0);
    struct slice text = {(const char *)data, size};
    struct selector s;
    size_t used;
    char err[512];
    if (selector_parse(text, &a, &s, &used, err, sizeof(err)) == 0) {
        struct label l[] = {{SLICE_LIT("app"), SLICE_LIT("api")}};
        selector_matches(&s, l, 1);
        selector_release(&s);
    }
    struct label *v;
    uint32_t n;
    if (labels_parse(text, &a, &v, &n, err, sizeof(err)) == 0) {
        labels_sort(v, n);
        labels_fingerprint(v, n);
    }
    arena_release(&a);
    return 0;
}
