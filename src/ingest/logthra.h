/*
 * logthra.h - decoders for Logthra's push formats.
 *
 * HTTP (POST /api/push, tenant in the `tenant-id` header):
 *
 *     {"streams":[{"stream":{"level":"info","app":"x"},
 *                  "values":[["2024-01-01","starting up"]]}]}
 *
 * gRPC (proto.IngesterService/PushToIngester, proto/logthra.proto):
 * RequestReceivedProto{TenantID, Streams[{Stream map, TwoDimValue[{valTime, valMsg}]}]}.
 *
 * A value is [time, line]. Logthra sends dates; Strata takes any of its own
 * time forms: integer Unix nanoseconds (a string of digits or a JSON
 * integer), RFC 3339 with an optional fraction, or YYYY-MM-DD (midnight UTC).
 * Stream keys are free-form (Logthra stored "key:value" strings) and are
 * normalised into label names. A malformed body or an unreadable time
 * refuses the whole request (STRATA_EPARSE with a message); streams and
 * entries are otherwise checked by the normalizer.
 */
#ifndef STRATA_LOGTHRA_H
#define STRATA_LOGTHRA_H

#include "ingest/normalize.h"

int logthra_json_decode(struct slice body, struct normalizer *nz, char *err, size_t errlen);
/* The TenantID field of a RequestReceivedProto (empty when absent); STRATA_EPARSE if malformed. */
int logthra_proto_tenant(struct slice msg, struct slice *tenant);
int logthra_proto_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen);
/* Parse a Logthra time: Unix ns digits, RFC 3339, or YYYY-MM-DD. */
int logthra_parse_time(struct slice s, int64_t *ns);

#endif
