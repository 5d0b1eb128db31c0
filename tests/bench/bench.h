/*
 * bench.h - what the benchmark's phases share: the run's settings, the
 * identities, the failure counters and the HITL requests.
 *
 * See docs/operations/benchmark.md for what each figure means.
 */
#ifndef BENCH_H
#define BENCH_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "bench_client.h"
#include "bench_server.h"
#include "bench_sink.h"
#include "bench_stats.h"

#define BENCH_ID_MAX 128        /* longest run or gate id we accept */

typedef struct bench {
    /* Knobs (command line and BENCH_* environment). */
    const char *server_bin;
    long seconds;               /* BENCH_SECONDS: length of each HITL phase */
    long clients;               /* BENCH_CLIENTS: threads of the busy phases */
    long paused;                /* BENCH_PAUSED: runs left waiting at the gate */
    long timers;                /* BENCH_TIMERS: gates whose timeouts fire at once */
    long calls;                 /* BENCH_CALLS: http steps in flight at once */
    long call_delay_ms;         /* BENCH_CALL_DELAY_MS: the sink's answer delay */

    char tmpdir[PATH_MAX];      /* ours; removed at the end */
    bool tmpdir_made;
    char token[80];             /* the admin's key (SPOJIT_BOOTSTRAP_TOKEN) */

    bench_server server;
    bool server_ready;          /* server initialised (pthread objects made) */
    char base_url[128];         /* of the running server; changes on restart */

    struct curl_slist *as_admin;     /* headers carrying each identity */
    struct curl_slist *as_approver;
} bench;

/* Failed requests over the whole benchmark (the `errors` figure). */
extern atomic_long bench_errors;
/* Set when workers must stop: the server died or keeps failing. */
extern atomic_bool bench_abort;

/*
 * Counts one failed request and shows the first few on stderr: `what`
 * names the request, status is the HTTP status (-1: no response), reason
 * (may be NULL) says what was wrong with a response that arrived.
 */
void bench_request_failed(const char *what, long status, const bench_client *c,
                          const char *reason);

/* Copies a run or gate id into dst if it has the URL-safe shape the API
 * promises (ids go into URL paths). false when it has not, or is NULL. */
bool bench_id_copy(char dst[BENCH_ID_MAX], const char *id);

/* The string member `key` of obj, or "" (never NULL). */
const char *bench_str_member(const json_t *obj, const char *key);

/* The two ids a HITL cycle carries from the start to the decision. */
typedef struct bench_cycle {
    char run[BENCH_ID_MAX];
    char approval[BENCH_ID_MAX];
} bench_cycle;

/* POST /v1/runs as the admin; the run must answer 201, paused at the gate.
 * 0, or -1 (counted in bench_errors). */
int bench_start_paused_run(bench_client *c, const bench *b, bench_cycle *cy);

/* POST an approve decision as the approver; 200 and an approved gate.
 * 0, or -1 (counted). */
int bench_approve(bench_client *c, const bench *b, const char *approval_id);

/* GET /v1/runs/{id}; the run must be completed. 0, or -1 (counted). */
int bench_check_completed(bench_client *c, const bench *b, const char *run_id);

/* Creates the approver (user and key) and applies the "hitl" workflow;
 * sets b->as_approver. 0, or -1 with the reason on stderr. */
int bench_setup(bench *b);

/* --- bench_load.c: the multi-threaded phases --- */

/* A span of time on the bench_now_ms clock. */
typedef struct bench_window {
    double from, to;
} bench_window;

typedef struct bench_hitl_result {
    long cycles;                /* completed cycles */
    double seconds;             /* from the start to the last thread's end */
    bench_lat start_lat;        /* POST /v1/runs, ms */
    bench_lat decide_lat;       /* POST .../decisions, ms */
    /* Only from bench_hitl_around: the decisions split by the task's
     * window. */
    bench_lat decide_during;    /* in flight at some moment of the window */
    bench_lat decide_before;    /* answered before the window opened */
} bench_hitl_result;

/* Runs HITL cycles on `threads` threads for b->seconds. 0, or -1 when the
 * phase could not run or was aborted. out is filled either way; free it
 * with bench_hitl_result_free. */
int bench_hitl_phase(const bench *b, long threads, bench_hitl_result *out);
void bench_hitl_result_free(bench_hitl_result *r);

/* Something done on the calling thread while HITL cycles run. It sets
 * *window to the span whose effect on decisions is measured. 0, or -1. */
typedef int (*bench_hitl_task)(void *arg, bench_window *window);

/* Runs HITL cycles on `threads` threads; warmup_ms after they start, calls
 * task(arg, &window), and stops the cycles once it returns. Fills out like
 * bench_hitl_phase, and also its decide_during and decide_before. 0, or -1
 * when the phase could not run, was aborted or the task failed. */
int bench_hitl_around(const bench *b, long threads, double warmup_ms,
                      bench_hitl_task task, void *arg, bench_hitl_result *out);

/* Makes one item of a fill on client c: 0, or -1 (counted in
 * bench_errors). `slot` is the thread's own: the id of the last item it
 * made, for checks after the fill (may stay empty). */
typedef int (*bench_make_one)(bench_client *c, const bench *b,
                              char slot[BENCH_ID_MAX]);

/* Runs paused at the gate, or gates with a timer, created in steps (so
 * that memory can be read between them). */
typedef struct bench_fill {
    const char *what;           /* "paused runs": for the progress lines */
    bench_make_one make_one;
    long done;                  /* items made so far */
    long final_target;          /* for the progress estimate */
    double t0;                  /* when the first step began */
    double mark_ms;             /* time of the last progress line */
    long mark_done;
    bool estimated;
} bench_fill;

void bench_fill_init(bench_fill *f, long final_target, const char *what,
                     bench_make_one make_one);
/* Makes items on b->clients threads until f->done == target. When last_ids
 * is not NULL it receives b->clients slots (each "" or the id of the last
 * item one thread made). 0, or -1 when aborted. */
int bench_fill_to(const bench *b, bench_fill *f, long target,
                  char (*last_ids)[BENCH_ID_MAX]);

/* bench_make_one for paused runs (the slot gets the run's id). */
int bench_make_paused_run(bench_client *c, const bench *b,
                          char slot[BENCH_ID_MAX]);

/* --- bench_timers.c: the timer burst --- */

typedef struct bench_timer_result {
    double advance_seconds;     /* the clock advance that fired them all */
    double server_cpu_seconds;  /* the server's CPU time during it; -1 when
                                 * unreadable */
    long rss_kib_pending;       /* the server's VmRSS with every timer still
                                 * pending; -1 when unreadable */
    bench_hitl_result hitl;     /* the cycles around it */
} bench_timer_result;

/* Opens b->timers gates, each with a timeout, then lets their timers fire
 * at once by moving the server's clock while HITL cycles run, and checks
 * that all fired (GET /metrics) and that the gates expired. 0, or -1 (the
 * reason on stderr, failed requests counted). Free out with
 * bench_timer_result_free. */
int bench_timer_burst(const bench *b, bench_timer_result *out);
void bench_timer_result_free(bench_timer_result *r);

/* --- bench_outbound.c: outbound calls --- */

typedef struct bench_outbound_result {
    double seconds;             /* first start sent to last completion seen */
    double start_seconds;       /* first start sent to last start answered */
    long started;               /* runs that answered 201, running */
    long completed;             /* runs seen completed with the sink's answer */
    long retried;               /* of them, calls that took more than one attempt */
    long threads_before;        /* the server's threads before the phase; -1 */
    long threads_peak;          /* the most seen during it; -1 */
    long threads_after;         /* once every run completed; -1 */
    bench_sink_stats sink;      /* what the sink saw */
} bench_outbound_result;

/* Starts a sink that answers every call after b->call_delay_ms, applies
 * the "outbound" workflow (one http step to the sink), starts b->calls
 * runs on b->clients threads and waits until every run completed,
 * sampling the server's thread count all along. 0, or -1 (the reason on
 * stderr, failed requests counted); out is filled either way. */
int bench_outbound_calls(const bench *b, bench_outbound_result *out);

#endif
