/*
 * workers.h - a few threads for slow CPU work, behind a bounded queue.
 *
 * Password hashing (argon2id: tens of milliseconds and 64 MiB each, by
 * design) must neither hold an HTTP thread - every connection that thread
 * serves would wait - nor the engine. It runs here instead: a fixed number
 * of threads, so memory and CPU are bounded however many logins arrive,
 * and a queue of fixed length, so a flood is refused at once (the caller
 * answers 503) rather than piling up.
 */
#ifndef SP_WORKERS_H
#define SP_WORKERS_H

#include <stdbool.h>

typedef struct workers workers;
typedef void (*workers_fn)(void *ctx);

/* nthreads >= 1 threads, at most queue_max jobs waiting. NULL when a
 * thread cannot be started. */
workers *workers_start(int nthreads, int queue_max);

/* Queues fn(ctx) to run on a worker thread. False (fn is not called) when
 * the queue is full or the workers are stopping: the caller still owns ctx. */
bool workers_submit(workers *w, workers_fn fn, void *ctx);

/* Refuses new jobs, runs every queued one, joins the threads. */
void workers_stop(workers *w);
void workers_free(workers *w);          /* stops first; NULL is fine */

#endif
