#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

#define MAX_LABELS 8

struct metric {
    struct metric *next;
    struct metric_family *family;
    char *values[MAX_LABELS];
    uint64_t count;    /* counter value, histogram count */
    uint64_t bits;     /* gauge value / histogram sum, as double bits */
    uint64_t *buckets; /* histogram: cumulative-at-render counts per bucket */
};

struct metric_family {
    struct metric_family *next;
    enum metric_type type;
    char *name, *help;
    char *labels[MAX_LABELS];
    int n_labels;
    double *bounds;
    int n_bounds;
    struct metric *children;
};

struct collector {
    struct collector *next;
    metrics_collector_fn fn;
    void *arg;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric_family *families, **families_tail = &families;
static struct collector *collectors;

static const double default_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,   1,    2.5,   5,    10};

static struct metric_family *family_new(enum metric_type type, const char *name, const char *help,
                                        const char *label_names, const double *buckets, int nb)
{
    pthread_mutex_lock(&lock);
    for (struct metric_family *f = families; f; f = f->next)
        if (!strcmp(f->name, name) && f->type == type) {
            pthread_mutex_unlock(&lock);
            return f;
        }
    struct metric_family *f = xcalloc(1, sizeof(*f));
    f->type = type;
    f->name = xstrdup(name);
    f->help = xstrdup(help);
    if (label_names && *label_names) {
        const char *p = label_names;
        while (*p && f->n_labels < MAX_LABELS) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            f->labels[f->n_labels++] = xstrndup(p, n);
            p += n + (c != NULL);
        }
    }
    if (type == METRIC_HISTOGRAM) {
        if (!buckets) {
            buckets = default_buckets;
            nb = (int)(sizeof(default_buckets) / sizeof(default_buckets[0]));
        }
        f->bounds = xmallocarray((size_t)nb, sizeof(double));
        memcpy(f->bounds, buckets, (size_t)nb * sizeof(double));
        f->n_bounds = nb;
    }
    *families_tail = f;
    families_tail = &f->next;
    pthread_mutex_unlock(&lock);
    return f;
}

struct metric_family *metrics_family(enum metric_type type, const char *name, const char *help,
                                     const char *label_names)
{
    return family_new(type, name, help, label_names, NULL, 0);
}

struct metric_family *metrics_histogram(const char *name, const char *help, const char *label_names,
                                        const double *buckets, int n_buckets)
{
    return family_new(METRIC_HISTOGRAM, name, help, label_names, buckets, n_buckets);
}

struct metric *metric_get(struct metric_family *f, ...)
{
    const char *vals[MAX_LABELS];
    va_list ap;
    va_start(ap, f);
    for (int i = 0; i < f->n_labels; i++) {
        vals[i] = va_arg(ap, const char *);
        if (!vals[i])
            vals[i] = "";
    }
    va_end(ap);
    pthread_mutex_lock(&lock);
    struct metric *m;
    for (m = f->children; m; m = m->next) {
        int i = 0;
        while (i < f->n_labels && !strcmp(m->values[i], vals[i]))
            i++;
        if (i == f->n_labels)
            break;
    }
    if (!m) {
        m = xcalloc(1, sizeof(*m));
        m->family = f;
        for (int i = 0; i < f->n_labels; i++)
            m->values[i] = xstrdup(vals[i]);
        if (f->type == METRIC_HISTOGRAM)
            m->buckets = xcalloc((size_t)f->n_bounds, sizeof(uint64_t));
        /* Keep insertion order for stable output. */
        struct metric **tail = &f->children;
        while (*tail)
            tail = &(*tail)->next;
        *tail = m;
    }
    pthread_mutex_unlock(&lock);
    return m;
}

void metric_inc(struct metric *m, uint64_t n)
{
    __atomic_fetch_add(&m->count, n, __ATOMIC_RELAXED);
}

static double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

void metric_set(struct metric *m, double v)
{
    __atomic_store_n(&m->bits, double_to_bits(v), __ATOMIC_RELAXED);
}

void metric_add(struct metric *m, double v)
{
    uint64_t old = __atomic_load_n(&m->bits, __ATOMIC_RELAXED), nw;
    do {
        nw = double_to_bits(bits_to_double(old) + v);
    } while (
        !__atomic_compare_exchange_n(&m->bits, &old, nw, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

void metric_observe(struct metric *m, double v)
{
    struct metric_family *f = m->family;
    if (!f)
        return;
    for (int i = 0; i < f->n_bounds; i++)
        if (v <= f->bounds[i]) {
            __atomic_fetch_add(&m->buckets[i], 1, __ATOMIC_RELAXED);
            break;
        }
    __atomic_fetch_add(&m->count, 1, __ATOMIC_RELAXED);
    metric_add(m, v);
}

double metric_value(struct metric *m)
{
    uint64_t c = __atomic_load_n(&m->count, __ATOMIC_RELAXED);
    uint64_t b = __atomic_load_n(&m->bits, __ATOMIC_RELAXED);
    return c ? (double)c : bits_to_double(b);
}

void metrics_register_collector(metrics_collector_fn fn, void *arg)
{
    struct collector *c = xcalloc(1, sizeof(*c));
    c->fn = fn;
    c->arg = arg;
    pthread_mutex_lock(&lock);
    struct collector **tail = &collectors;
    while (*tail)
        tail = &(*tail)->next;
    *tail = c;
    pthread_mutex_unlock(&lock);
}

void metrics_unregister_collector(metrics_collector_fn fn, void *arg)
{
    pthread_mutex_lock(&lock);
    for (struct collector **p = &collectors; *p; p = &(*p)->next)
        if ((*p)->fn == fn && (*p)->arg == arg) {
            struct collector *c = *p;
            *p = c->next;
            free(c);
            break;
        }
    pthread_mutex_unlock(&lock);
}

int metrics_escape_label(struct buf *out, const char *v)
{
    int rc = 0;
    for (const char *p = v; *p && !rc; p++) {
        if (*p == '\\')
            rc = buf_append(out, "\\\\", 2);
        else if (*p == '"')
            rc = buf_append(out, "\\\"", 2);
        else if (*p == '\n')
            rc = buf_append(out, "\\n", 2);
        else
            rc = buf_append_char(out, *p);
    }
    return rc;
}

static int labels(struct buf *out, const struct metric_family *f, const struct metric *m,
                  const char *extra_name, const char *extra_value)
{
    int rc = 0;
    if (f->n_labels == 0 && !extra_name)
        return 0;
    rc |= buf_append_char(out, '{');
    for (int i = 0; i < f->n_labels; i++) {
        rc |= buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
        rc |= metrics_escape_label(out, m->values[i]);
        rc |= buf_append_char(out, '"');
    }
    if (extra_name)
        rc |= buf_printf(out, "%s%s=\"%s\"", f->n_labels ? "," : "", extra_name, extra_value);
    rc |= buf_append_char(out, '}');
    return rc ? STRATA_ETOOLARGE : 0;
}

static void fmt_double(char *out, size_t cap, double v)
{
    if (isnan(v))
        snprintf(out, cap, "NaN");
    else if (isinf(v))
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
    else
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, cap, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
}

int metrics_render(struct buf *out)
{
    static const char *const tnames[] = {"counter", "gauge", "histogram"};
    int rc = 0;
    pthread_mutex_lock(&lock);
    for (struct metric_family *f = families; f && !rc; f = f->next) {
        rc |= buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                         tnames[f->type]);
        for (struct metric *m = f->children; m && !rc; m = m->next) {
            char v[64];
            if (f->type == METRIC_COUNTER) {
                rc |= buf_append_str(out, f->name);
                rc |= labels(out, f, m, NULL, NULL);
                rc |= buf_printf(out, " %llu\n",
                                 (unsigned long long)__atomic_load_n(&m->count, __ATOMIC_RELAXED));
            } else if (f->type == METRIC_GAUGE) {
                fmt_double(v, sizeof(v),
                           bits_to_double(__atomic_load_n(&m->bits, __ATOMIC_RELAXED)));
                rc |= buf_append_str(out, f->name);
                rc |= labels(out, f, m, NULL, NULL);
                rc |= buf_printf(out, " %s\n", v);
            } else {
                uint64_t cum = 0;
                for (int i = 0; i <= f->n_bounds; i++) {
                    char le[64];
                    if (i < f->n_bounds) {
                        cum += __atomic_load_n(&m->buckets[i], __ATOMIC_RELAXED);
                        fmt_double(le, sizeof(le), f->bounds[i]);
                    } else {
                        cum = __atomic_load_n(&m->count, __ATOMIC_RELAXED);
                        snprintf(le, sizeof(le), "+Inf");
                    }
                    rc |= buf_printf(out, "%s_bucket", f->name);
                    rc |= labels(out, f, m, "le", le);
                    rc |= buf_printf(out, " %llu\n", (unsigned long long)cum);
                }
                fmt_double(v, sizeof(v),
                           bits_to_double(__atomic_load_n(&m->bits, __ATOMIC_RELAXED)));
                rc |= buf_printf(out, "%s_sum", f->name);
                rc |= labels(out, f, m, NULL, NULL);
                rc |= buf_printf(out, " %s\n%s_count", v, f->name);
                rc |= labels(out, f, m, NULL, NULL);
                rc |= buf_printf(out, " %llu\n",
                                 (unsigned long long)__atomic_load_n(&m->count, __ATOMIC_RELAXED));
            }
        }
    }
    for (struct collector *c = collectors; c && !rc; c = c->next)
        c->fn(out, c->arg);
    pthread_mutex_unlock(&lock);
    return rc ? STRATA_ETOOLARGE : 0;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    struct metric_family *f = families;
    while (f) {
        struct metric_family *fn = f->next;
        struct metric *m = f->children;
        while (m) {
            struct metric *mn = m->next;
            for (int i = 0; i < f->n_labels; i++)
                free(m->values[i]);
            free(m->buckets);
            free(m);
            m = mn;
        }
        for (int i = 0; i < f->n_labels; i++)
            free(f->labels[i]);
        free(f->bounds);
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
    families = NULL;
    families_tail = &families;
    struct collector *c = collectors;
    while (c) {
        struct collector *cn = c->next;
        free(c);
        c = cn;
    }
    collectors = NULL;
    pthread_mutex_unlock(&lock);
}
