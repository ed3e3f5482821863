#include "core/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"

struct job {
    struct job *next;
    pool_fn fn;
    void *arg;
};

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    size_t pending;
    bool stopping;
    int n;
    pthread_t *threads;
    char name[16];
};

static void *worker(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        struct job *j = p->head;
        if (!j) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->pending--;
        pthread_mutex_unlock(&p->lock);
        j->fn(j->arg);
        free(j);
    }
}

struct pool *pool_new(const char *name, int n)
{
    struct pool *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->n = n > 0 ? n : 1;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->threads = xcalloc((size_t)p->n, sizeof(pthread_t));
    for (int i = 0; i < p->n; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            abort();
        char tn[32];
        snprintf(tn, sizeof(tn), "%s-%d", name, i);
        tn[15] = '\0'; /* the kernel's limit for thread names */
        pthread_setname_np(p->threads[i], tn);
    }
    return p;
}

void pool_submit(struct pool *p, pool_fn fn, void *arg)
{
    struct job *j = xmalloc(sizeof(*j));
    j->next = NULL;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->pending++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

size_t pool_pending(struct pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->pending;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int pool_size(const struct pool *p)
{
    return p->n;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->threads);
    free(p);
}
