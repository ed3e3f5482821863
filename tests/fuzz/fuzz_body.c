/* Fuzz target: Content-Encoding (gzip, deflate) and snappy blocks under a 1 MiB limit. */
#include <stdint.h>

#include "ingest/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const encodings[] = {"gzip", "deflate"};
    struct slice in = {(const char *)data, size}, out;
    char err[512];
    for (int i = 0; i < 2; i++) {
        struct buf b;
        buf_init(&b, BUF_UNLIMITED);
        if (body_decode_encoding(encodings[i], in, 1u << 20, &b, &out, err, sizeof(err)) == 0 &&
            out.len > (1u << 20))
            __builtin_trap();
        buf_release(&b);
    }
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    if (body_snappy_decode(in, 1u << 20, &b, &out, err, sizeof(err)) == 0 && out.len > (1u << 20))
        __builtin_trap();
    buf_release(&b);
    return 0;
}
