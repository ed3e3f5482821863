/*
 * loki_proto.h - decoder for Loki's protobuf PushRequest (proto/loki_push.proto).
 *
 * The same message arrives snappy-compressed over HTTP (POST
 * /loki/api/v1/push with any non-JSON Content-Type) and as the argument of
 * the gRPC method logproto.Pusher/Push. The bytes are read in place
 * (ingest/pbwire.h): lines, label values and metadata point into msg, which
 * must outlive the batch. Streams and entries go through the normalizer;
 * `hash`, `format` and each entry's `parsed` labels are ignored, as Loki's
 * push path ignores them.
 *
 * Returns 0; STRATA_EPARSE with a message in err when msg is not a valid
 * PushRequest (truncated, wrong wire types, timestamps out of range);
 * STRATA_ETOOLARGE past the batch's memory budget.
 */
#ifndef STRATA_LOKI_PROTO_H
#define STRATA_LOKI_PROTO_H

#include "ingest/normalize.h"

int loki_proto_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen);

/*
 * Convert a google.protobuf.Timestamp-style (seconds, nanos) pair to ns since
 * the epoch; STRATA_EPARSE when it does not fit int64 ns (years 1678..2262)
 * or nanos is outside [0, 1e9).
 */
int loki_proto_timestamp(int64_t seconds, int64_t nanos, int64_t *ns);

#endif
