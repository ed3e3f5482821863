/* Fuzz target: the Go-template subset of line_format and label_format, compiled and run. */
#include <stdint.h>

#include "query/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool get(void *ctx, struct slice name, struct slice *value)
{
    (void)ctx;
    if (slice_eq_str(name, "user")) {
        *value = SLICE_LIT("ann");
        return true;
    }
    if (slice_eq_str(name, "n")) {
        *value = SLICE_LIT("42");
        return true;
    }
    if (slice_eq_str(name, "d")) {
        *value = SLICE_LIT("1.5s");
        return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    struct template *t;
    char err[256];
    if (template_compile((struct slice){(const char *)data, size}, &t, err, sizeof(err)) < 0)
        return 0;
    struct arena a;
    arena_init(&a, 0);
    struct buf out;
    buf_init(&out, TEMPLATE_MAX_OUTPUT);
    struct template_env env = {get, NULL, SLICE_LIT("level=info msg=hi"), 1700000000123456789LL};
    (void)template_exec(t, &env, &a, &out, err, sizeof(err));
    buf_release(&out);
    arena_release(&a);
    template_free(t);
    return 0;
}
