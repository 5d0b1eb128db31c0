/*
 * bench_load.c - the multi-threaded phases: HITL cycles (for a time, or
 * around a task such as the timer burst), and filling the store with runs
 * paused at the gate or with gates waiting for their timeout.
 *
 * Each worker thread owns one bench_client (one keep-alive connection) and
 * its own latency arrays, so the measured loops share nothing but a few
 * atomic counters. Threads are released together by a start signal, and
 * stop at a shared deadline, flag or target.
 */
#include "bench.h"

#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A worker gives up (and stops the phase) after this many failures in a
 * row: the server is down or broken, and hammering it proves nothing. */
#define MAX_CONSECUTIVE_FAILURES 50
#define PROGRESS_EVERY           50000L
#define ESTIMATE_AFTER           20000L
/* Latency slots reserved per thread and second of a timed phase; more than
 * a thread can do against a durable store, so the arrays rarely grow. */
#define SAMPLES_PER_THREAD_SECOND 2000L

/* --- releasing all workers at once --- */

typedef struct start_signal {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool go;
} start_signal;

static void start_signal_wait(start_signal *s)
{
    pthread_mutex_lock(&s->mu);
    while (!s->go)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static void start_signal_fire(start_signal *s)
{
    pthread_mutex_lock(&s->mu);
    s->go = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Counts a failure in a row; too many stop everything. */
static void worker_failed(long *in_a_row)
{
    if (++*in_a_row == MAX_CONSECUTIVE_FAILURES &&
        !atomic_exchange(&bench_abort, true))
        fprintf(stderr, "bench: %d failures in a row; stopping\n",
                MAX_CONSECUTIVE_FAILURES);
}

/* --- a pool of workers with their clients --- */

typedef struct worker {
    pthread_t thread;
    bool started;
    bench_client client;
    bool client_ok;
    void *ctx;                  /* the phase */
    /* HITL phase results; decide_at[i] is when decision i was sent */
    bench_lat start_lat, decide_lat, decide_at;
    long cycles;
    double end_ms;
    char last_id[BENCH_ID_MAX];         /* the last run or gate it made */
} worker;

typedef struct pool {
    const bench *b;
    long n;
    worker *w;
    start_signal sig;
} pool;

static void pool_free(pool *p)
{
    long i;

    for (i = 0; i < p->n; i++) {
        if (p->w[i].client_ok)
            bench_client_free(&p->w[i].client);
        bench_lat_free(&p->w[i].start_lat);
        bench_lat_free(&p->w[i].decide_lat);
        bench_lat_free(&p->w[i].decide_at);
    }
    free(p->w);
    pthread_cond_destroy(&p->sig.cv);
    pthread_mutex_destroy(&p->sig.mu);
}

/* Workers with a client each and `samples` latency slots. 0, or -1. */
static int pool_init(pool *p, const bench *b, long n, size_t samples, void *ctx)
{
    long i;

    memset(p, 0, sizeof *p);
    p->b = b;
    if (pthread_mutex_init(&p->sig.mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&p->sig.cv, NULL) != 0) {
        pthread_mutex_destroy(&p->sig.mu);
        return -1;
    }
    if (!(p->w = calloc((size_t)n, sizeof *p->w))) {
        pool_free(p);
        return -1;
    }
    p->n = n;
    for (i = 0; i < n; i++) {
        worker *w = &p->w[i];

        w->ctx = ctx;
        if (bench_client_init(&w->client, b->base_url) != 0)
            goto fail;
        w->client_ok = true;
        if (samples > 0 && (bench_lat_init(&w->start_lat, samples) != 0 ||
                            bench_lat_init(&w->decide_lat, samples) != 0 ||
                            bench_lat_init(&w->decide_at, samples) != 0))
            goto fail;
    }
    return 0;
fail:
    fprintf(stderr, "bench: cannot set up %ld clients\n", n);
    pool_free(p);
    return -1;
}

/* Starts every thread, calls before_go (may be NULL) once all exist,
 * releases them, calls while_running (may be NULL), and joins them. The
 * callbacks get ctx. 0, or -1 when a thread could not start (the others
 * are stopped through bench_abort). */
static int pool_run(pool *p, void *(*fn)(void *), void (*before_go)(void *),
                    void (*while_running)(void *), void *ctx)
{
    int rc = 0;
    long i;

    for (i = 0; i < p->n; i++) {
        if (pthread_create(&p->w[i].thread, NULL, fn, &p->w[i]) != 0) {
            fprintf(stderr, "bench: cannot start thread %ld\n", i);
            atomic_store(&bench_abort, true);
            rc = -1;
            break;
        }
        p->w[i].started = true;
    }
    if (before_go)
        before_go(ctx);
    start_signal_fire(&p->sig);
    if (while_running)
        while_running(ctx);
    for (i = 0; i < p->n; i++)
        if (p->w[i].started && pthread_join(p->w[i].thread, NULL) != 0)
            rc = -1;
    return rc;
}

/* --- HITL cycles --- */

typedef struct hitl_phase {
    pool pool;
    double t0, deadline;
    atomic_bool stop;           /* set when the task around which we run ends */
    /* bench_hitl_around only */
    double warmup_ms;
    bench_hitl_task task;
    void *task_arg;
    int task_rc;
    bench_window window;
} hitl_phase;

static bool hitl_running(hitl_phase *ph)
{
    return !atomic_load(&bench_abort) && !atomic_load(&ph->stop) &&
           bench_now_ms() < ph->deadline;
}

static void *hitl_worker(void *arg)
{
    worker *w = arg;
    hitl_phase *ph = w->ctx;
    const bench *b = ph->pool.b;
    long in_a_row = 0;

    start_signal_wait(&ph->pool.sig);
    while (hitl_running(ph)) {
        bench_cycle cy;
        double t0 = bench_now_ms(), t1;

        if (bench_start_paused_run(&w->client, b, &cy) != 0) {
            worker_failed(&in_a_row);
            continue;
        }
        t1 = bench_now_ms();
        if (bench_approve(&w->client, b, cy.approval) != 0) {
            worker_failed(&in_a_row);
            continue;
        }
        if (bench_lat_add(&w->start_lat, t1 - t0) != 0 ||
            bench_lat_add(&w->decide_lat, bench_now_ms() - t1) != 0 ||
            bench_lat_add(&w->decide_at, t1) != 0) {
            fprintf(stderr, "bench: out of memory\n");
            atomic_store(&bench_abort, true);
            break;
        }
        in_a_row = 0;
        w->cycles++;
        memcpy(w->last_id, cy.run, sizeof cy.run);
    }
    w->end_ms = bench_now_ms();
    return NULL;
}

/* Set just before the workers are released, so thread start-up is not
 * part of the measured time. */
static void hitl_set_clock(void *arg)
{
    hitl_phase *ph = arg;

    ph->t0 = bench_now_ms();
    /* Around a task, the task's end stops the cycles, not the clock. */
    ph->deadline = ph->task ? DBL_MAX
                            : ph->t0 + (double)ph->pool.b->seconds * 1000.0;
}

/* For bench_hitl_around, on the calling thread once the workers run:
 * the warm-up gives the "before" decisions, then the task, then stop. */
static void hitl_run_task(void *arg)
{
    hitl_phase *ph = arg;

    bench_sleep_ms((long)ph->warmup_ms);
    if (!atomic_load(&bench_abort))
        ph->task_rc = ph->task(ph->task_arg, &ph->window);
    atomic_store(&ph->stop, true);
}

void bench_hitl_result_free(bench_hitl_result *r)
{
    bench_lat_free(&r->start_lat);
    bench_lat_free(&r->decide_lat);
    bench_lat_free(&r->decide_during);
    bench_lat_free(&r->decide_before);
}

/* Sorts one worker's decisions by the window: those in flight at any
 * moment of it (sent before it closed, answered after it opened; a
 * decision the window stalled counts, however early it was sent), and
 * those answered before it opened. The rest (after it) are left out. */
static int hitl_split_by_window(const worker *w, bench_window win,
                                bench_hitl_result *out)
{
    size_t i;

    for (i = 0; i < w->decide_lat.n; i++) {
        double sent = w->decide_at.v[i], answered = sent + w->decide_lat.v[i];
        bench_lat *into = NULL;

        if (sent < win.to && answered > win.from)
            into = &out->decide_during;
        else if (answered <= win.from)
            into = &out->decide_before;
        if (into && bench_lat_add(into, w->decide_lat.v[i]) != 0)
            return -1;
    }
    return 0;
}

/* Merges the workers' results into out and checks, once per thread, that
 * the last run it decided is completed. */
static int hitl_collect(hitl_phase *ph, bench_hitl_result *out)
{
    double end = ph->t0;
    long i;

    for (i = 0; i < ph->pool.n; i++) {
        worker *w = &ph->pool.w[i];

        out->cycles += w->cycles;
        if (w->end_ms > end)
            end = w->end_ms;
        if (bench_lat_merge(&out->start_lat, &w->start_lat) != 0 ||
            bench_lat_merge(&out->decide_lat, &w->decide_lat) != 0)
            return -1;
        if (ph->task && hitl_split_by_window(w, ph->window, out) != 0)
            return -1;
    }
    out->seconds = (end - ph->t0) / 1000.0;
    for (i = 0; i < ph->pool.n; i++)
        if (ph->pool.w[i].cycles > 0)
            (void)bench_check_completed(&ph->pool.w[i].client, ph->pool.b,
                                        ph->pool.w[i].last_id);
    return 0;
}

/* Runs the phase ph describes; with ph->task, around it. */
static int hitl_run(const bench *b, long threads, hitl_phase *ph,
                    bench_hitl_result *out)
{
    size_t samples = (size_t)(b->seconds * SAMPLES_PER_THREAD_SECOND);
    int rc;

    memset(out, 0, sizeof *out);
    atomic_init(&ph->stop, false);
    if (bench_lat_init(&out->start_lat, samples) != 0 ||
        bench_lat_init(&out->decide_lat, samples) != 0)
        return -1;
    if (ph->task && (bench_lat_init(&out->decide_during, samples) != 0 ||
                     bench_lat_init(&out->decide_before, samples) != 0))
        return -1;
    if (pool_init(&ph->pool, b, threads, samples, ph) != 0)
        return -1;
    rc = pool_run(&ph->pool, hitl_worker, hitl_set_clock,
                  ph->task ? hitl_run_task : NULL, ph);
    if (hitl_collect(ph, out) != 0)
        rc = -1;
    pool_free(&ph->pool);
    return atomic_load(&bench_abort) ? -1 : rc;
}

int bench_hitl_phase(const bench *b, long threads, bench_hitl_result *out)
{
    hitl_phase ph;

    memset(&ph, 0, sizeof ph);
    return hitl_run(b, threads, &ph, out);
}

int bench_hitl_around(const bench *b, long threads, double warmup_ms,
                      bench_hitl_task task, void *arg, bench_hitl_result *out)
{
    hitl_phase ph;
    int rc;

    memset(&ph, 0, sizeof ph);
    ph.warmup_ms = warmup_ms;
    ph.task = task;
    ph.task_arg = arg;
    ph.task_rc = -1;            /* stays so when an abort skips the task */
    rc = hitl_run(b, threads, &ph, out);
    return rc == 0 && ph.task_rc == 0 ? 0 : -1;
}

/* --- filling the store --- */

int bench_make_paused_run(bench_client *c, const bench *b,
                          char slot[BENCH_ID_MAX])
{
    bench_cycle cy;

    if (bench_start_paused_run(c, b, &cy) != 0)
        return -1;
    memcpy(slot, cy.run, sizeof cy.run);
    return 0;
}

typedef struct fill_phase {
    pool pool;
    bench_fill *f;
    long target;
    atomic_long claimed;        /* runs being started or started */
    atomic_long done;           /* runs started and paused */
    pthread_mutex_t progress_mu;
} fill_phase;

/* Progress every PROGRESS_EVERY runs, and once an estimate of the total. */
static void fill_progress(fill_phase *ph, long n)
{
    bench_fill *f = ph->f;
    double now, rate;

    if (n % PROGRESS_EVERY != 0 && n != ESTIMATE_AFTER)
        return;
    pthread_mutex_lock(&ph->progress_mu);
    now = bench_now_ms();
    rate = (double)n / ((now - f->t0) / 1000.0);
    if (n == ESTIMATE_AFTER && !f->estimated && f->final_target > n) {
        f->estimated = true;
        fprintf(stderr, "bench: %s: %ld at %.0f/s; the %ld take "
                "about %.1f min more\n", f->what, n, rate, f->final_target,
                (double)(f->final_target - n) / rate / 60.0);
    }
    if (n % PROGRESS_EVERY == 0) {
        double window = (double)(n - f->mark_done) / ((now - f->mark_ms) / 1000.0);

        fprintf(stderr, "bench: %s: %ld/%ld, %.0f s, %.0f/s (last "
                "%ld: %.0f/s)\n", f->what, n, f->final_target, (now - f->t0) / 1000.0,
                rate, n - f->mark_done, window);
        f->mark_ms = now;
        f->mark_done = n;
    }
    pthread_mutex_unlock(&ph->progress_mu);
}

static void *fill_worker(void *arg)
{
    worker *w = arg;
    fill_phase *ph = w->ctx;
    long in_a_row = 0;

    start_signal_wait(&ph->pool.sig);
    while (!atomic_load(&bench_abort)) {
        /* Claim a slot first, so the phase ends at exactly `target`. */
        if (atomic_fetch_add(&ph->claimed, 1) >= ph->target)
            break;
        if (ph->f->make_one(&w->client, ph->pool.b, w->last_id) != 0) {
            atomic_fetch_sub(&ph->claimed, 1);      /* someone retries it */
            worker_failed(&in_a_row);
            continue;
        }
        in_a_row = 0;
        fill_progress(ph, atomic_fetch_add(&ph->done, 1) + 1);
    }
    return NULL;
}

void bench_fill_init(bench_fill *f, long final_target, const char *what,
                     bench_make_one make_one)
{
    memset(f, 0, sizeof *f);
    f->final_target = final_target;
    f->what = what;
    f->make_one = make_one;
}

int bench_fill_to(const bench *b, bench_fill *f, long target,
                  char (*last_ids)[BENCH_ID_MAX])
{
    fill_phase ph;
    long i;
    int rc;

    if (last_ids)
        memset(last_ids, 0, (size_t)b->clients * sizeof *last_ids);
    if (target <= f->done)
        return 0;
    if (f->done == 0)
        f->t0 = f->mark_ms = bench_now_ms();
    ph.f = f;
    ph.target = target;
    atomic_init(&ph.claimed, f->done);
    atomic_init(&ph.done, f->done);
    if (pthread_mutex_init(&ph.progress_mu, NULL) != 0)
        return -1;
    if (pool_init(&ph.pool, b, b->clients, 0, &ph) != 0) {
        pthread_mutex_destroy(&ph.progress_mu);
        return -1;
    }
    rc = pool_run(&ph.pool, fill_worker, NULL, NULL, NULL);
    f->done = atomic_load(&ph.done);
    for (i = 0; last_ids && i < ph.pool.n; i++)
        memcpy(last_ids[i], ph.pool.w[i].last_id, BENCH_ID_MAX);
    pool_free(&ph.pool);
    pthread_mutex_destroy(&ph.progress_mu);
    return (atomic_load(&bench_abort) || f->done < target) ? -1 : rc;
}
