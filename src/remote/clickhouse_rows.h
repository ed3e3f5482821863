/*
 * clickhouse_rows.h - decoding the ClickHouse tier's SELECT answers.
 *
 * The tier asks ClickHouse for a few fixed shapes of rows, always in
 * RowBinary (clickhouse_rowbinary.h). The decoders here turn an answer into
 * arrays allocated in an arena; strings are slices into the answer, which
 * must outlive them. Answers are untrusted bytes: a decoder checks every
 * length, refuses trailing garbage and an answer whose rows disagree with
 * the shape, and returns STRATA_ECORRUPT (never reads out of bounds). A
 * fuzz target (tests/fuzz/fuzz_clickhouse_rows.c) runs every decoder.
 *
 * The shapes, column by column (layout strata | logthra):
 *
 *   streams  sk UInt64, labels String, names Array(String),
 *            values Array(String)                           (strata)
 *            sk UInt64, label Array(String) of "name:value"  (logthra)
 *   entries  sk UInt64, ts Int64, insert_id UInt64, seq UInt32,
 *            size UInt64 [, line String, meta_keys Array(String),
 *            meta_values Array(String)]                     (strata)
 *            sk UInt64, day Date, size UInt64 [, msg String] (logthra)
 *   counts   sk UInt64, bucket UInt32, count UInt64, bytes UInt64
 *            [, meta_keys Array(String), meta_values Array(String)]
 *   keys     sk UInt64
 *   strings  s String
 *
 * sk is the stream key the SQL groups by: the fingerprint in the strata
 * layout, cityHash64 of the sorted label array in the logthra layout.
 */
#ifndef STRATA_CLICKHOUSE_ROWS_H
#define STRATA_CLICKHOUSE_ROWS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "ingest/labels.h"
#include "remote/clickhouse_config.h"

/* A stream as the streams query describes it. */
struct clickhouse_stream_row {
    uint64_t sk;
    uint64_t fp;          /* labels_fingerprint of labels */
    struct label *labels; /* sorted by name, duplicates removed */
    uint32_t n_labels;
    struct slice key; /* canonical {a="1"} form */
};

int clickhouse_decode_streams(enum clickhouse_layout layout, struct slice data, struct arena *a,
                              struct clickhouse_stream_row **out, uint32_t *n);

/* A page of entries; every array has n elements (lines and meta may be NULL). */
struct clickhouse_entry_rows {
    uint32_t n;
    uint64_t *sk;
    int64_t *ts;
    uint64_t *insert_id; /* 0 in the logthra layout */
    uint32_t *seq;       /* 0 in the logthra layout */
    uint32_t *sizes;
    struct slice *lines; /* NULL unless with_lines */
    struct slice *meta;  /* labels_encode form; NULL when no entry has metadata */
};

int clickhouse_decode_entries(enum clickhouse_layout layout, bool with_lines, struct slice data,
                              struct arena *a, struct clickhouse_entry_rows *out);

/* Counts per stream (and metadata) and bucket; meta is NULL when no row has any. */
struct clickhouse_count_rows {
    uint32_t n;
    uint64_t *sk;
    uint32_t *bucket;
    uint64_t *count, *bytes;
    struct slice *meta; /* labels_encode form */
};
int clickhouse_decode_counts(bool with_meta, struct slice data, struct arena *a,
                             struct clickhouse_count_rows *out);
/* A column of UInt64 (sk) values, and a column of Strings. */
int clickhouse_decode_keys(struct slice data, struct arena *a, uint64_t **out, uint32_t *n);
int clickhouse_decode_strings(struct slice data, struct arena *a, struct slice **out, uint32_t *n);

/* Split Logthra's "name:value" at the first ':' (no ':': the whole text is the name). */
struct label clickhouse_logthra_label(struct slice kv);

#endif
