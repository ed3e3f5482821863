#include "client/sender.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"

/* How often a retry waiting for a gRPC connection looks whether close began. */
#define AWAIT_SLICE (100 * NS_PER_MS)

struct sender {
    struct strata_client *c;
    const struct strata_options *o;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;        /* the sender thread: entries, a flush, the close, or time */
    pthread_cond_t room;        /* blocked uploads: entries left */
    pthread_cond_t idle;        /* flushes: nothing is held any more */
    struct centry *head, *tail; /* waiting entries, oldest first */
    size_t n_wait, bytes_wait;
    size_t n_held, bytes_held; /* waiting + being sent: what the bounds count */
    int flushers;
    bool closing;
    int64_t close_deadline; /* monotonic ns */
    int last_giveup;        /* rc of the last batch given up */
    struct strata_stats st;
    uint64_t rng; /* the sender thread's only */
    size_t batch_cap;
};

static int64_t now_mono(void)
{
    return clock_mono_ns();
}

/* Wait on cv until deadline (monotonic ns; <0: forever). */
static void wait_until(pthread_cond_t *cv, pthread_mutex_t *m, int64_t deadline)
{
    if (deadline < 0) {
        pthread_cond_wait(cv, m);
        return;
    }
    struct timespec ts = {(time_t)(deadline / NS_PER_SEC), (long)(deadline % NS_PER_SEC)};
    pthread_cond_timedwait(cv, m, &ts);
}

static void cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* xorshift64*: enough randomness to spread retries apart. */
static uint64_t next_random(struct sender *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * UINT64_C(2685821657736338717);
}

/* The wait before retry k: d = min(max, min * 2^k), drawn from [d/2, d]. */
static int64_t backoff_ns(struct sender *s, int k)
{
    int64_t lo = (int64_t)s->o->retry_min_ms * NS_PER_MS;
    int64_t hi = (int64_t)s->o->retry_max_ms * NS_PER_MS;
    int64_t d = lo;
    for (int i = 0; i < k && d < hi; i++)
        d *= 2;
    if (d > hi)
        d = hi;
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)(next_random(s) % (uint64_t)(half + 1)) : 0);
}

static void report(struct sender *s, int rc, const char *msg, size_t n)
{
    if (s->o->on_error)
        s->o->on_error(s->o->on_error_arg, rc, msg, n);
}

static void free_list(struct centry *e)
{
    while (e) {
        struct centry *next = e->next;
        centry_free(e);
        e = next;
    }
}

/* Remove the oldest waiting entry; the caller holds the lock. */
static struct centry *pop_head(struct sender *s)
{
    struct centry *e = s->head;
    s->head = e->next;
    if (!s->head)
        s->tail = NULL;
    e->next = NULL;
    s->n_wait--;
    s->bytes_wait -= e->size;
    return e;
}

/* Take the next batch from the head; the caller holds the lock and n_wait > 0. */
static size_t take_batch(struct sender *s, struct centry **batch, size_t *bytes)
{
    bool one_kind = s->o->transport == STRATA_TRANSPORT_GRPC;
    enum centry_kind kind = s->head->kind;
    size_t n = 0;
    *bytes = 0;
    while (s->head && n < s->batch_cap) {
        struct centry *e = s->head;
        if (one_kind && e->kind != kind)
            break;
        if (n && *bytes + e->size > s->o->batch_max_bytes)
            break;
        batch[n++] = pop_head(s);
        *bytes += e->size;
    }
    return n;
}

/*
 * Deliver a batch, retrying retryable failures. Returns 0 when the server
 * acknowledged it, else the give-up code with its message in msg.
 */
static int deliver(struct sender *s, struct centry **batch, size_t n, char *msg, size_t cap)
{
    struct send_result r;
    for (int attempt = 0;; attempt++) {
        if (client_deliver(s->c, batch, n, false, &r) == 0)
            return 0;
        if (!r.retryable) {
            snprintf(msg, cap, "failed to upload log(s)%s%s", r.msg[0] ? ": " : "", r.msg);
            return r.rc;
        }
        if (s->o->max_retries >= 0 && attempt >= s->o->max_retries) {
            snprintf(msg, cap, "failed to upload log(s) after %d retries: %s", attempt, r.msg);
            return r.rc;
        }
        int64_t until = now_mono() + backoff_ns(s, attempt);
        bool cut = false;
        pthread_mutex_lock(&s->lock);
        s->st.retries++;
        for (;;) {
            int64_t now = now_mono();
            if (s->closing && now >= s->close_deadline) {
                cut = true;
                break;
            }
            if (now >= until)
                break;
            int64_t step = s->closing && s->close_deadline < until ? s->close_deadline : until;
            /* Over gRPC, wait for the connection itself, a slice at a time (to see close). */
            if (s->o->transport == STRATA_TRANSPORT_GRPC) {
                pthread_mutex_unlock(&s->lock);
                bool ready =
                    client_await(s->c, step < now + AWAIT_SLICE ? step : now + AWAIT_SLICE);
                pthread_mutex_lock(&s->lock);
                if (ready)
                    break;
                continue;
            }
            wait_until(&s->work, &s->lock, step);
        }
        pthread_mutex_unlock(&s->lock);
        if (cut) {
            snprintf(msg, cap, "failed to upload log(s): close timeout reached while retrying: %s",
                     r.msg);
            return STRATA_ETIMEOUT;
        }
    }
}

/* Close deadline passed: give up everything still waiting. Called and returns with the lock held.
 */
static void give_up_waiting(struct sender *s)
{
    struct centry *list = s->head;
    size_t n = s->n_wait;
    s->n_held -= n;
    s->bytes_held -= s->bytes_wait;
    s->head = s->tail = NULL;
    s->n_wait = s->bytes_wait = 0;
    s->st.dropped += n;
    s->last_giveup = STRATA_ETIMEOUT;
    pthread_cond_broadcast(&s->room);
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    char msg[128];
    snprintf(msg, sizeof(msg), "close timeout reached: %zu entries not delivered", n);
    report(s, STRATA_ETIMEOUT, msg, n);
    free_list(list);
    pthread_mutex_lock(&s->lock);
}

static void *run(void *arg)
{
    struct sender *s = arg;
    const struct strata_options *o = s->o;
    struct centry **batch = xmallocarray(s->batch_cap, sizeof(*batch));
    int64_t wait_ns = (int64_t)o->batch_wait_ms * NS_PER_MS;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->closing && s->n_wait && now_mono() >= s->close_deadline) {
            give_up_waiting(s);
            continue;
        }
        if (!s->n_wait) {
            if (s->closing)
                break;
            wait_until(&s->work, &s->lock, -1);
            continue;
        }
        bool now = s->closing || s->flushers > 0 || s->n_wait >= o->batch_max_entries ||
                   s->bytes_wait >= o->batch_max_bytes;
        if (!now) {
            int64_t due = s->head->enqueued + wait_ns;
            if (now_mono() < due) {
                wait_until(&s->work, &s->lock, due);
                continue;
            }
        }
        size_t bytes;
        size_t n = take_batch(s, batch, &bytes);
        pthread_mutex_unlock(&s->lock);

        char msg[1200];
        int rc = deliver(s, batch, n, msg, sizeof(msg));
        if (rc)
            report(s, rc, msg, n);
        for (size_t i = 0; i < n; i++)
            centry_free(batch[i]);

        pthread_mutex_lock(&s->lock);
        s->n_held -= n;
        s->bytes_held -= bytes;
        if (rc == 0) {
            s->st.sent += n;
            s->st.batches++;
        } else {
            s->st.dropped += n;
            s->last_giveup = rc;
        }
        pthread_cond_broadcast(&s->room);
        if (!s->n_held)
            pthread_cond_broadcast(&s->idle);
    }
    pthread_mutex_unlock(&s->lock);
    free(batch);
    return NULL;
}

struct sender *sender_start(struct strata_client *c)
{
    struct sender *s = xcalloc(1, sizeof(*s));
    s->c = c;
    s->o = &c->o;
    s->batch_cap = c->o.batch_max_entries < c->o.queue_max_entries ? c->o.batch_max_entries
                                                                   : c->o.queue_max_entries;
    s->rng = (uint64_t)clock_now_ns() ^ ((uint64_t)(uintptr_t)s << 16) ^ (uint64_t)getpid();
    if (!s->rng)
        s->rng = 1;
    pthread_mutex_init(&s->lock, NULL);
    cond_init_mono(&s->work);
    cond_init_mono(&s->room);
    cond_init_mono(&s->idle);
    pthread_create(&s->thread, NULL, run, s);
    return s;
}

/* Refuse an upload for lack of room; called with the lock held, returns with it released. */
static int refuse(struct sender *s, size_t n)
{
    s->st.refused += n;
    size_t held = s->n_held, bytes = s->bytes_held;
    pthread_mutex_unlock(&s->lock);
    return client_error(STRATA_EBUSY,
                        "queue full: %zu entries and %zu bytes held (limits %zu entries, %zu "
                        "bytes); %zu entries refused",
                        held, bytes, s->o->queue_max_entries, s->o->queue_max_bytes, n);
}

int sender_enqueue(struct sender *s, struct centry **v, size_t n)
{
    const struct strata_options *o = s->o;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += v[i]->size;
    if (n > o->queue_max_entries || bytes > o->queue_max_bytes)
        return client_error(STRATA_ETOOLARGE,
                            "an upload of %zu entries (%zu bytes) is larger than the queue (%zu "
                            "entries, %zu bytes)",
                            n, bytes, o->queue_max_entries, o->queue_max_bytes);
    struct centry *dropped = NULL, *dropped_tail = NULL;
    size_t n_dropped = 0;
    int64_t deadline =
        o->enqueue_timeout_ms < 0 ? -1 : now_mono() + (int64_t)o->enqueue_timeout_ms * NS_PER_MS;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->closing) {
            pthread_mutex_unlock(&s->lock);
            return client_error(STRATA_ECANCELED, "the client is closing");
        }
        if (s->n_held + n <= o->queue_max_entries && s->bytes_held + bytes <= o->queue_max_bytes)
            break;
        if (o->on_full == STRATA_QUEUE_DROP_NEWEST)
            return refuse(s, n);
        if (o->on_full == STRATA_QUEUE_DROP_OLDEST) {
            if (!s->n_wait)
                return refuse(s, n); /* only entries being sent are left: they stay */
            struct centry *e = pop_head(s);
            s->n_held--;
            s->bytes_held -= e->size;
            s->st.dropped++;
            s->last_giveup = STRATA_EBUSY;
            n_dropped++;
            if (dropped_tail)
                dropped_tail->next = e;
            else
                dropped = e;
            dropped_tail = e;
            continue;
        }
        if (deadline >= 0 && now_mono() >= deadline)
            return refuse(s, n);
        wait_until(&s->room, &s->lock, deadline);
    }
    bool was_empty = !s->n_wait;
    int64_t t = now_mono();
    for (size_t i = 0; i < n; i++) {
        v[i]->next = NULL;
        v[i]->enqueued = t;
        if (s->tail)
            s->tail->next = v[i];
        else
            s->head = v[i];
        s->tail = v[i];
    }
    s->n_wait += n;
    s->bytes_wait += bytes;
    s->n_held += n;
    s->bytes_held += bytes;
    s->st.accepted += n;
    if (was_empty || s->n_wait >= o->batch_max_entries || s->bytes_wait >= o->batch_max_bytes)
        pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    if (n_dropped) {
        char msg[128];
        snprintf(msg, sizeof(msg), "queue full: dropped the %zu oldest entries", n_dropped);
        report(s, STRATA_EBUSY, msg, n_dropped);
        free_list(dropped);
    }
    return 0;
}

int sender_flush(struct sender *s, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_mono() + (int64_t)timeout_ms * NS_PER_MS;
    pthread_mutex_lock(&s->lock);
    s->flushers++;
    pthread_cond_signal(&s->work);
    while (s->n_held && (deadline < 0 || now_mono() < deadline))
        wait_until(&s->idle, &s->lock, deadline);
    size_t left = s->n_held;
    s->flushers--;
    pthread_mutex_unlock(&s->lock);
    if (left)
        return client_error(STRATA_ETIMEOUT, "flush timed out with %zu entries still queued", left);
    return 0;
}

void sender_stats(struct sender *s, struct strata_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->st;
    out->queued = s->n_held;
    pthread_mutex_unlock(&s->lock);
}

int sender_stop(struct sender *s, struct strata_stats *final)
{
    pthread_mutex_lock(&s->lock);
    s->closing = true;
    s->close_deadline = now_mono() + (int64_t)s->o->close_timeout_ms * NS_PER_MS;
    pthread_cond_broadcast(&s->work);
    pthread_cond_broadcast(&s->room);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    int rc = s->st.dropped ? s->last_giveup : 0;
    *final = s->st;
    final->queued = s->n_held;
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->room);
    pthread_cond_destroy(&s->idle);
    free(s);
    return rc;
}
