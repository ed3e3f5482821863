/*
 * Fuzz target: the PCRE2 -> RE2 translation and the quoting of
 * src/remote/clickhouse_sql.c (patterns and values come from queries). The
 * first byte picks anchored or not; whatever is produced must be one
 * complete, well-quoted SQL literal.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"
#include "remote/clickhouse_sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A literal from clickhouse_sql_quote: '...' with nothing unescaped inside. */
static void check_literal(const struct buf *b)
{
    if (b->len < 2 || b->ptr[0] != '\'' || b->ptr[b->len - 1] != '\'')
        abort();
    for (size_t i = 1; i + 1 < b->len; i++) {
        unsigned char c = (unsigned char)b->ptr[i];
        if (c == '\\')
            i++;
        else if (c == '\'' || c < 0x20)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct slice s = {(const char *)data + 1, size - 1};
    struct buf b;
    buf_init(&b, 1 << 22);
    if (clickhouse_sql_quote(&b, s) == 0)
        check_literal(&b);
    buf_reset(&b);
    int rc = clickhouse_sql_regex(&b, s, data[0] & 1);
    if (rc == 0)
        check_literal(&b);
    else if (rc != STRATA_EUNSUPPORTED || b.len != 0)
        abort();
    buf_release(&b);
    return 0;
}
