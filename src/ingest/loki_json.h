/*
 * loki_json.h - decoders for Loki's JSON push bodies.
 *
 * v1 (POST /loki/api/v1/push):
 *
 *     {"streams":[{"stream":{"app":"x"},
 *                  "values":[["<ns as string>","line",{"trace_id":"abc"}], ...]}]}
 *
 * legacy (POST /api/prom/push):
 *
 *     {"streams":[{"labels":"{app=\"x\"}","entries":[{"ts":"<RFC3339Nano>","line":"..."}]}]}
 *
 * Both are strict JSON (core/json.h: UTF-8 checked, depth limited) and check
 * what Loki checks while decoding: v1 timestamps are strings of integer
 * nanoseconds, legacy ones RFC 3339 strings; lines are strings; structured
 * metadata is a flat object of strings. Streams and entries go through the
 * normalizer (ingest/normalize.h), which refuses bad labels and entries one
 * by one while the rest of the request is kept.
 *
 * Returns 0; STRATA_EPARSE with a message in err when the body is malformed
 * (the whole request is refused: 400); STRATA_ETOOLARGE when decoding would
 * pass the batch's memory budget (413).
 */
#ifndef STRATA_LOKI_JSON_H
#define STRATA_LOKI_JSON_H

#include "ingest/normalize.h"

int loki_json_decode(struct slice body, struct normalizer *nz, char *err, size_t errlen);
int loki_json_decode_legacy(struct slice body, struct normalizer *nz, char *err, size_t errlen);

struct json_reader;
/*
 * Read the "values" array of one stream whose labels became stream si (or
 * NORM_DROPPED), handing each entry to norm_entry. Returns 0, STRATA_EPARSE
 * (with the error recorded in r) or STRATA_ETOOLARGE.
 */
typedef int (*loki_json_values_fn)(struct json_reader *r, struct normalizer *nz, uint32_t si);
/*
 * The v1 shape {"streams":[{"stream":{...},"values":...}]} with another
 * reader for "values": Logthra's body is this shape with its own times.
 */
int loki_json_decode_values(struct slice body, struct normalizer *nz, loki_json_values_fn values,
                            char *err, size_t errlen);

#endif
