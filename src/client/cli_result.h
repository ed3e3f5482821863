/*
 * cli_result.h - the CLI's reading of the server's JSON answers, and its output formats.
 *
 * One function turns an answer of the query APIs into what `strata query`,
 * `labels`, `series`, `stats` and `tail` print. The answer is untrusted
 * input: it is read with the strict JSON reader (core/json.h), anything
 * unexpected is an error, and tests/fuzz/fuzz_cli_result.c feeds it garbage.
 *
 * Formats (docs/CLIENT.md shows each):
 *   OUT_TEXT   for people: log lines as "<RFC 3339 time> <labels> <line>";
 *              matrices as a table (a TIME column, one column per series);
 *              vectors, LogsGO series, stats as aligned rows;
 *   OUT_RAW    for pipes: the log line alone; otherwise tab-separated fields
 *              without headers or padding;
 *   OUT_JSONL  one JSON object per line: entries as logcli's jsonl
 *              ({"labels":{...},"line":"...","timestamp":"..."}), series and
 *              samples as the API's objects.
 */
#ifndef STRATA_CLIENT_CLI_RESULT_H
#define STRATA_CLIENT_CLI_RESULT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/slice.h"

enum out_format { OUT_TEXT, OUT_RAW, OUT_JSONL };

enum result_kind {
    RES_QUERY,  /* Loki query / query_range: {"status","data":{"resultType","result"}} */
    RES_TAIL,   /* a tail message: {"streams":[...],"dropped_entries":[...]} */
    RES_LOGSGO, /* LogsGO /api/v1/query: [{"Service","Level","Message","Labels","Points"}] */
    RES_LABELS, /* /labels, /label/<n>/values: {"status","data":["..."]} */
    RES_SERIES, /* /series: {"status","data":[{...}]} */
    RES_STATS,  /* /index/stats: {"streams":N,...} */
};

struct result_info {
    size_t rows;    /* entries, samples, names, series printed */
    size_t dropped; /* tail: entries the server reported as dropped */
};

/*
 * Read json as an answer of kind and append it in fmt to out. Log entries are
 * printed oldest first, or newest first when backward. Returns 0, or
 * STRATA_EPARSE with the reason in err (nothing is appended then), or
 * STRATA_ETOOLARGE when out's maximum is reached.
 */
int result_print(enum result_kind kind, struct slice json, enum out_format fmt, bool backward,
                 struct buf *out, struct result_info *info, char *err, size_t errlen);

#endif
