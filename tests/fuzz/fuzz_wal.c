/*
 * Fuzz target: WAL recovery. The input is a segment file image: the scanner
 * (header, record lengths, checksums) and the push batch decoder behind it
 * must reject any damage without crashing. The decoder also gets the raw
 * input directly, since the checksum would otherwise hide it from mutations.
 */
#include <stdint.h>
#include <stdlib.h>

#include "store/record.h"
#include "store/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int decode(void *arg, uint64_t seg, int type, const void *p, size_t len)
{
    (void)arg;
    (void)seg;
    (void)type;
    struct push_batch b;
    push_batch_init(&b, "");
    record_decode(p, len, &b);
    push_batch_release(&b);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seq;
    size_t valid;
    wal_scan(data, size, decode, NULL, &seq, &valid);
    decode(NULL, 0, 1, data, size);
    return 0;
}
