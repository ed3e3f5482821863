/*
 * metrics.h - a small Prometheus registry.
 *
 * Modules create their families once at start (metrics_family), look up the
 * child for a label-value combination once (metric_get) and keep the pointer;
 * updates are then single atomic operations, safe from any thread. Values
 * that are cheaper to read than to track (tier sizes, process stats) come
 * from collectors called while /metrics renders.
 */
#ifndef STRATA_METRICS_H
#define STRATA_METRICS_H

#include <stdint.h>

#include "core/buf.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric_family;
struct metric;

/*
 * Create (or find, if the name exists with the same type) a family.
 * label_names is a comma-separated list ("route,status") or NULL. For
 * histograms, buckets are the upper bounds (ascending, n_buckets of them);
 * NULL gives the default latency buckets in seconds.
 */
struct metric_family *metrics_family(enum metric_type type, const char *name, const char *help,
                                     const char *label_names);
struct metric_family *metrics_histogram(const char *name, const char *help, const char *label_names,
                                        const double *buckets, int n_buckets);
/* The child for these label values (as many as the family has labels). Never NULL. */
struct metric *metric_get(struct metric_family *f, ...);
/* Counters only go up. */
void metric_inc(struct metric *m, uint64_t n);
void metric_set(struct metric *m, double v);
void metric_add(struct metric *m, double v);
void metric_observe(struct metric *m, double v);
/* The current value (counter or gauge), for tests and the status page. */
double metric_value(struct metric *m);

typedef void (*metrics_collector_fn)(struct buf *out, void *arg);
/* fn appends complete Prometheus text (with # HELP/# TYPE lines) to out. */
void metrics_register_collector(metrics_collector_fn fn, void *arg);
void metrics_unregister_collector(metrics_collector_fn fn, void *arg);

/* Render every family and collector in the text exposition format 0.0.4. */
int metrics_render(struct buf *out);
/* Free everything (tests, shutdown). Pointers handed out become invalid. */
void metrics_reset(void);
/* Escape a label value for the exposition format into out. */
int metrics_escape_label(struct buf *out, const char *v);

#endif
