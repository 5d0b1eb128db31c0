/*
 * workers.c - a fixed pool of threads draining a bounded FIFO (workers.h).
 */
#include "core/workers.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct job {
    workers_fn fn;
    void *ctx;
    struct job *next;
} job;

struct workers {
    pthread_mutex_t lock;
    pthread_cond_t ready;       /* a job was queued, or stopping */
    job *head, *tail;
    int queued, queue_max;
    bool stopping, stopped;
    int nthreads;
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    workers *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->ready, &w->lock);
        job *j = w->head;
        if (!j)
            break;                  /* stopping, and nothing is left */
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        pthread_mutex_unlock(&w->lock);
        j->fn(j->ctx);
        free(j);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

workers *workers_start(int nthreads, int queue_max)
{
    workers *w = calloc(1, sizeof *w);
    if (!w || nthreads < 1 || !(w->threads = calloc((size_t)nthreads, sizeof *w->threads))) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->ready, NULL);
    w->queue_max = queue_max;
    for (; w->nthreads < nthreads; w->nthreads++)
        if (pthread_create(&w->threads[w->nthreads], NULL, worker_main, w) != 0) {
            workers_free(w);
            return NULL;
        }
    return w;
}

bool workers_submit(workers *w, workers_fn fn, void *ctx)
{
    job *j = malloc(sizeof *j);
    if (!j)
        return false;
    *j = (job){ .fn = fn, .ctx = ctx };
    pthread_mutex_lock(&w->lock);
    bool ok = !w->stopping && w->queued < w->queue_max;
    if (ok) {
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        w->queued++;
        pthread_cond_signal(&w->ready);
    }
    pthread_mutex_unlock(&w->lock);
    if (!ok)
        free(j);
    return ok;
}

void workers_stop(workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    bool join = !w->stopped;
    w->stopping = w->stopped = true;
    pthread_cond_broadcast(&w->ready);
    pthread_mutex_unlock(&w->lock);
    if (join)
        for (int i = 0; i < w->nthreads; i++)
            pthread_join(w->threads[i], NULL);
}

void workers_free(workers *w)
{
    if (!w)
        return;
    workers_stop(w);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->ready);
    free(w->threads);
    free(w);
}
