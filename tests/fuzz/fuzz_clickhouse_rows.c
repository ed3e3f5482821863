/*
 * Fuzz target: everything the ClickHouse tier parses from a server's answer
 * (src/remote/clickhouse_rows.c, clickhouse_rowbinary.c, and the exception
 * text of clickhouse_http.c). The first byte picks the decoder, the rest is
 * the answer.
 */
#include <stdint.h>
#include <stdlib.h>

#include "remote/clickhouse_http.h"
#include "remote/clickhouse_rows.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct slice body = {(const char *)data + 1, size - 1};
    struct arena a;
    arena_init(&a, 0);
    switch (data[0] % 8) {
    case 0: {
        struct clickhouse_stream_row *rows;
        uint32_t n;
        clickhouse_decode_streams(CLICKHOUSE_LAYOUT_STRATA, body, &a, &rows, &n);
        break;
    }
    case 1: {
        struct clickhouse_stream_row *rows;
        uint32_t n;
        clickhouse_decode_streams(CLICKHOUSE_LAYOUT_LOGTHRA, body, &a, &rows, &n);
        break;
    }
    case 2:
    case 3: {
        struct clickhouse_entry_rows rows;
        clickhouse_decode_entries(CLICKHOUSE_LAYOUT_STRATA, data[0] % 8 == 2, body, &a, &rows);
        break;
    }
    case 4:
    case 5: {
        struct clickhouse_entry_rows rows;
        clickhouse_decode_entries(CLICKHOUSE_LAYOUT_LOGTHRA, data[0] % 8 == 4, body, &a, &rows);
        break;
    }
    case 6: {
        struct clickhouse_count_rows rows;
        clickhouse_decode_counts(false, body, &a, &rows);
        clickhouse_decode_counts(true, body, &a, &rows);
        uint64_t *keys;
        uint32_t n;
        clickhouse_decode_keys(body, &a, &keys, &n);
        break;
    }
    default: {
        struct slice *v;
        uint32_t n;
        clickhouse_decode_strings(body, &a, &v, &n);
        int code;
        char msg[128];
        clickhouse_parse_exception(body, &code, msg, sizeof(msg));
        break;
    }
    }
    arena_release(&a);
    return 0;
}
