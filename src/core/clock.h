/*
 * clock.h - time and duration parsing and formatting.
 *
 * Strata keeps time as int64 nanoseconds since the Unix epoch (UTC), which
 * covers the years 1678..2262. Every parser here takes a slice and writes its
 * result only on success; it returns 0 or STRATA_EPARSE, never reads past
 * the slice, and rejects values that would overflow.
 */
#ifndef STRATA_CLOCK_H
#define STRATA_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"

#define NS_PER_MS   INT64_C(1000000)
#define NS_PER_SEC  INT64_C(1000000000)
#define NS_PER_MIN  (60 * NS_PER_SEC)
#define NS_PER_HOUR (3600 * NS_PER_SEC)
#define NS_PER_DAY  (86400 * NS_PER_SEC)

/* The current wall-clock time and a monotonic time, both in ns. */
int64_t clock_now_ns(void);
int64_t clock_mono_ns(void);

/* A decimal integer (optionally signed) that fits int64. */
int clock_parse_int64(struct slice s, int64_t *out);
/* RFC 3339 with optional fraction (up to 9 digits) and Z or +hh:mm offset. */
int clock_parse_rfc3339(struct slice s, int64_t *ns);
/* Logthra's date form YYYY-MM-DD, as midnight UTC. */
int clock_parse_date(struct slice s, int64_t *ns);
/*
 * Loki's query time parameter (start, end, time): a value with '.' that parses
 * as a float is seconds (fraction rounded to ms); an integer of at most 10
 * digits is seconds, a longer one nanoseconds; otherwise RFC3339(Nano).
 */
int clock_parse_loki_time(struct slice s, int64_t *ns);
/*
 * A Prometheus duration: one or more <int><unit> with units ms s m h d w y in
 * decreasing order ("1h30m", "15m", "10d", "2000ms"). This is also a superset
 * of LogsGO's <int><d|h|m|s> durations. A bare "0" is accepted as zero.
 */
int clock_parse_prom_duration(struct slice s, int64_t *ns);
/*
 * A Go duration as LogQL label filters use it: signed, decimal fractions and
 * the units ns us µs ms s m h, combinable ("1.5h", "300ms", "-2m3.5s").
 */
int clock_parse_go_duration(struct slice s, int64_t *ns);
/* Loki's step: a float number of seconds, or a Prometheus duration. */
int clock_parse_step(struct slice s, int64_t *ns);

/* Days since the epoch for a proleptic Gregorian date (no time-zone lookup). */
int64_t clock_days_from_civil(int64_t y, unsigned m, unsigned d);

/*
 * Format ns as RFC3339Nano in UTC, as Go's time.RFC3339Nano does: trailing
 * zeros of the fraction are dropped, and the fraction with them. out needs 36
 * bytes; returns the length.
 */
size_t clock_format_rfc3339(int64_t ns, char *out);
/* Format a duration the way Go's time.Duration.String does ("1h0m0s", "1.5s"). */
size_t clock_format_duration(int64_t ns, char *out, size_t cap);

#endif
