/*
 * Fuzz target: Loki's protobuf push path. The input is used twice: as a raw
 * PushRequest (the gRPC path) and as a snappy block holding one (the HTTP path,
 * with the declared-length check).
 */
#include "fuzz_ingest.h"
#include "ingest/body.h"
#include "ingest/loki_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(loki_proto_decode, data, size);
    struct buf out;
    struct slice msg;
    char err[512];
    buf_init(&out, BUF_UNLIMITED);
    if (body_snappy_decode((struct slice){(const char *)data, size}, 1u << 20, &out, &msg, err,
                           sizeof(err)) == 0)
        fuzz_decode(loki_proto_decode, (const uint8_t *)msg.ptr, msg.len);
    buf_release(&out);
    return 0;
}
