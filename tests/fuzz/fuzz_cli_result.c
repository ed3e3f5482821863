/*
 * Fuzz target: the CLI's reading of the query APIs' answers (client/cli_result.h).
 * The first byte picks the kind of answer, the output format and the order;
 * the rest is the answer.
 */
#include <stdint.h>

#include "client/cli_result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum result_kind kind = (enum result_kind)(data[0] % 6);
    enum out_format fmt = (enum out_format)((data[0] / 6) % 3);
    bool backward = (data[0] / 18) % 2;
    struct buf out;
    buf_init(&out, 1 << 22);
    char err[256];
    struct result_info info;
    result_print(kind, (struct slice){(const char *)data + 1, size - 1}, fmt, backward, &out, &info,
                 err, sizeof(err));
    buf_release(&out);
    return 0;
}
