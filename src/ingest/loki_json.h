/*
 * loki_json.h - decoder for Loki's JSON push body (POST /loki/api/v1/push).
 *
 *     {"streams":[{"stream":{"app":"x"},
 *                  "values":[["<ns as string>","line",{"trace_id":"abc"}], ...]}]}
 *
 * The decoder is strict JSON (json.h) and checks what Loki checks while
 * decoding: timestamps are strings of integer nanoseconds, lines are strings,
 * structured metadata is a flat object of strings, every stream has labels,
 * label names are valid and not duplicated. A malformed body (syntax, wrong
 * types) fails the whole request with STRATA_EPARSE and a message; a stream
 * with bad labels is skipped and reported through res->error, as Loki's
 * distributor does, and the other streams are kept.
 */
#ifndef STRATA_LOKI_JSON_H
#define STRATA_LOKI_JSON_H

#include "ingest/batch.h"

int loki_json_decode(struct slice body, struct push_batch *b, struct push_result *res, char *err,
                     size_t errlen);

#endif
