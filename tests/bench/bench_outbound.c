/*
 * bench_outbound.c - outbound calls: many runs whose `http` step waits on
 * a slow API at the same time.
 *
 * The benchmark's own sink (bench_sink.c) answers every POST after
 * BENCH_CALL_DELAY_MS. The workflow "outbound" has one http step that
 * POSTs to it, so each run answers 201 `running` while its call is in
 * flight, and completes when the answer comes back. The server sends all
 * calls from one outbound worker (one libcurl multi handle): with
 * BENCH_CALLS runs started well within the delay, that many calls are in
 * flight at once, and the wall time from the first start to the last
 * completion is close to the start time plus one delay if nothing
 * serialises them.
 *
 * Each client thread first starts runs (claiming slots from a shared
 * counter, so the phase starts exactly BENCH_CALLS), then long-polls runs
 * in the order they were started (GET /v1/runs/{id}?wait=), so the last
 * completions are seen as they happen. Meanwhile the calling thread reads
 * the server's thread count every few milliseconds: the calls should cost
 * sockets, not threads.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* %s: the sink's address, written into the url (a URL's host comes from
 * the workflow's text or its configuration, never from a run's input). */
static const char OUTBOUND_WORKFLOW[] =
    "name: outbound\n"
    "description: The benchmark's outbound calls.\n"
    "steps:\n"
    "  - id: call\n"
    "    http:\n"
    "      method: POST\n"
    "      url: \"%s/v1/refunds\"\n"
    "      json: {n: \"{{ .input.n }}\"}\n"
    "      timeout: 30s\n";

/* Each long-poll waits this long at most (the server caps it at 60 s). */
#define OUTBOUND_WAIT_S           30
/* How long past the delay a run may take to complete: the step's 30 s
 * timeout times its 3 attempts, and their back-off, with room. */
#define OUTBOUND_GRACE_MS         180000.0
/* A run that waits for a retry is read again this often. */
#define OUTBOUND_RETRY_POLL_MS    100L
#define OUTBOUND_SAMPLE_MS        5L
#define OUTBOUND_MAX_IN_A_ROW     50
/* Sockets the server needs beyond its calls (store, listener, clients). */
#define OUTBOUND_SERVER_FD_MARGIN 128L

typedef enum slot_state {
    SLOT_PENDING = 0,           /* not started yet */
    SLOT_STARTED,               /* 201 running; id set */
    SLOT_FAILED                 /* the start failed (counted) */
} slot_state;

typedef struct outbound_phase outbound_phase;

typedef struct ob_worker {
    pthread_t thread;
    bool started;
    bench_client client;
    bool client_ok;
    outbound_phase *ph;
    long started_runs, completed, retried;
    double last_started_ms, last_done_ms;
} ob_worker;

struct outbound_phase {
    const bench *b;
    const bench_sink *sink;
    char (*ids)[BENCH_ID_MAX];          /* one per run, in claim order */
    atomic_int *state;                  /* slot_state of each */
    atomic_long next_start, next_wait;
    atomic_long running;                /* workers not yet finished */
    double t0;                          /* the first start was sent */
    ob_worker *w;
    long n;
};

/* Counts a failure in a row; too many stop everything. */
static void ob_failed(long *in_a_row)
{
    if (++*in_a_row == OUTBOUND_MAX_IN_A_ROW &&
        !atomic_exchange(&bench_abort, true))
        fprintf(stderr, "bench: %d failures in a row; stopping\n",
                OUTBOUND_MAX_IN_A_ROW);
}

/* POST /v1/runs for slot i: 201 and `running`. 0, or -1 (counted). */
static int ob_start_one(ob_worker *w, long i)
{
    outbound_phase *ph = w->ph;
    char body[256];
    json_t *run;
    long status;
    int rc = -1;

    snprintf(body, sizeof body, "{\"workflow\":\"outbound\",\"input\":"
             "{\"n\":%ld}}", i);
    status = bench_client_post(&w->client, ph->b->as_admin, "/v1/runs", body);
    if (status != 201) {
        bench_request_failed("POST /v1/runs (outbound)", status, &w->client, NULL);
        return -1;
    }
    if (!(run = bench_client_json(&w->client)))
        bench_request_failed("POST /v1/runs (outbound)", status, &w->client,
                             "not JSON");
    else if (strcmp(bench_str_member(run, "status"), "running") != 0)
        bench_request_failed("POST /v1/runs (outbound)", status, &w->client,
                             "run not running while its call is in flight");
    else if (!bench_id_copy(ph->ids[i], json_string_value(json_object_get(run, "id"))))
        bench_request_failed("POST /v1/runs (outbound)", status, &w->client,
                             "no usable id");
    else
        rc = 0;
    json_decref(run);
    return rc;
}

/* The attempts of step "call" in a run document, or 0. */
static long ob_call_attempts(const json_t *run)
{
    const json_t *steps = json_object_get(run, "steps");
    long attempts = 0;
    size_t i;

    for (i = 0; i < json_array_size(steps); i++) {
        const json_t *st = json_array_get(steps, i);

        if (strcmp(bench_str_member(st, "id"), "call") == 0)
            attempts = (long)json_integer_value(json_object_get(st, "attempts"));
    }
    return attempts;
}

/* Waits for the run of slot i to complete. 1 when it completed with the
 * sink's answer, 0 when it ended otherwise or took too long (counted),
 * -1 when the server did not answer (counted). */
static int ob_wait_one(ob_worker *w, long i, double deadline)
{
    outbound_phase *ph = w->ph;
    char path[BENCH_ID_MAX + 32];
    long status;

    snprintf(path, sizeof path, "/v1/runs/%s?wait=%d", ph->ids[i], OUTBOUND_WAIT_S);
    for (;;) {
        json_t *run, *output;
        const char *st;
        int done = -2;                  /* -2: not yet */

        status = bench_client_get(&w->client, ph->b->as_admin, path);
        if (status != 200) {
            bench_request_failed("GET /v1/runs/{id}?wait= (outbound)", status,
                                 &w->client, NULL);
            return -1;
        }
        run = bench_client_json(&w->client);
        st = bench_str_member(run, "status");
        output = json_object_get(run, "output");
        if (strcmp(st, "completed") == 0) {
            if (json_integer_value(json_object_get(output, "status")) != 200 ||
                !json_is_true(json_object_get(json_object_get(output, "body"), "ok"))) {
                bench_request_failed("GET /v1/runs/{id}?wait= (outbound)", status,
                                     &w->client, "completed without the "
                                     "sink's 200 {\"ok\":true} as its output");
                done = 0;
            } else {
                w->last_done_ms = bench_now_ms();
                if (ob_call_attempts(run) > 1)
                    w->retried++;
                done = 1;
            }
        } else if (strcmp(st, "running") != 0 && strcmp(st, "waiting") != 0) {
            bench_request_failed("GET /v1/runs/{id}?wait= (outbound)", status,
                                 &w->client, "the run ended without completing");
            done = 0;
        } else if (bench_now_ms() > deadline) {
            bench_request_failed("GET /v1/runs/{id}?wait= (outbound)", status,
                                 &w->client, "the run did not complete in time");
            done = 0;
        } else if (strcmp(st, "waiting") == 0) {
            /* A retry's back-off: ?wait= only waits on `running`. */
            bench_sleep_ms(OUTBOUND_RETRY_POLL_MS);
        }
        json_decref(run);
        if (done != -2 || atomic_load(&bench_abort))
            return done == -2 ? 0 : done;
    }
}

static void *ob_worker_main(void *arg)
{
    ob_worker *w = arg;
    outbound_phase *ph = w->ph;
    long calls = ph->b->calls, in_a_row = 0, i;
    double deadline;

    while (!atomic_load(&bench_abort) &&
           (i = atomic_fetch_add(&ph->next_start, 1)) < calls) {
        if (ob_start_one(w, i) != 0) {
            atomic_store(&ph->state[i], SLOT_FAILED);
            ob_failed(&in_a_row);
            continue;
        }
        atomic_store(&ph->state[i], SLOT_STARTED);
        w->started_runs++;
        w->last_started_ms = bench_now_ms();
        in_a_row = 0;
    }
    /* Every slot is claimed; a few may still be starting on other threads. */
    deadline = bench_now_ms() + (double)ph->b->call_delay_ms + OUTBOUND_GRACE_MS;
    while (!atomic_load(&bench_abort) &&
           (i = atomic_fetch_add(&ph->next_wait, 1)) < calls) {
        int st, rc;

        while ((st = atomic_load(&ph->state[i])) == SLOT_PENDING &&
               !atomic_load(&bench_abort))
            bench_sleep_ms(1);
        if (st != SLOT_STARTED)
            continue;
        rc = ob_wait_one(w, i, deadline);
        if (rc == 1) {
            w->completed++;
            in_a_row = 0;
        } else if (rc < 0) {
            ob_failed(&in_a_row);
        }
    }
    atomic_fetch_sub(&ph->running, 1);
    return NULL;
}

/* "Max open files" soft limit of the server, or -1. */
static long ob_server_fd_limit(const bench *b)
{
    char path[64], line[256];
    long v = -1;
    FILE *f;

    if (b->server.pid == 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%ld/limits", (long)b->server.pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Max open files", 14) == 0) {
            if (sscanf(line + 14, " %ld", &v) != 1)
                v = -1;             /* "unlimited" */
            break;
        }
    fclose(f);
    return v;
}

/* Applies the workflow, calling sink_url, as the admin. 0, or -1 (counted). */
static int ob_apply_workflow(const bench *b, const char *sink_url)
{
    struct curl_slist *yaml = bench_headers_new(b->token, "application/yaml");
    bench_client c;
    char workflow[sizeof OUTBOUND_WORKFLOW + 64];
    long status;
    int rc = -1;

    snprintf(workflow, sizeof workflow, OUTBOUND_WORKFLOW, sink_url);
    if (!yaml || bench_client_init(&c, b->base_url) != 0) {
        fprintf(stderr, "bench: out of memory\n");
        curl_slist_free_all(yaml);
        return -1;
    }
    status = bench_client_post(&c, yaml, "/v1/workflows", workflow);
    if (status == 201 || status == 200)
        rc = 0;
    else
        bench_request_failed("POST /v1/workflows (outbound)", status, &c, NULL);
    bench_client_free(&c);
    curl_slist_free_all(yaml);
    return rc;
}

/* Runs the workers, reading the server's threads until they finish. */
static int ob_run(outbound_phase *ph, bench_outbound_result *out)
{
    int rc = 0;
    long i;

    atomic_init(&ph->running, ph->n);
    ph->t0 = bench_now_ms();
    for (i = 0; i < ph->n; i++) {
        if (pthread_create(&ph->w[i].thread, NULL, ob_worker_main, &ph->w[i]) != 0) {
            fprintf(stderr, "bench: cannot start thread %ld\n", i);
            atomic_store(&bench_abort, true);
            atomic_fetch_sub(&ph->running, ph->n - i);
            rc = -1;
            break;
        }
        ph->w[i].started = true;
    }
    while (atomic_load(&ph->running) > 0) {
        long t = bench_server_threads(&ph->b->server);

        if (t > out->threads_peak)
            out->threads_peak = t;
        bench_sleep_ms(OUTBOUND_SAMPLE_MS);
    }
    for (i = 0; i < ph->n; i++)
        if (ph->w[i].started && pthread_join(ph->w[i].thread, NULL) != 0)
            rc = -1;
    return rc;
}

static void ob_collect(const outbound_phase *ph, bench_outbound_result *out)
{
    double last_start = ph->t0, last_done = ph->t0;
    long i;

    for (i = 0; i < ph->n; i++) {
        const ob_worker *w = &ph->w[i];

        out->started += w->started_runs;
        out->completed += w->completed;
        out->retried += w->retried;
        if (w->last_started_ms > last_start)
            last_start = w->last_started_ms;
        if (w->last_done_ms > last_done)
            last_done = w->last_done_ms;
    }
    out->start_seconds = (last_start - ph->t0) / 1000.0;
    out->seconds = (last_done - ph->t0) / 1000.0;
}

int bench_outbound_calls(const bench *b, bench_outbound_result *out)
{
    outbound_phase ph;
    bench_sink sink;
    long i, fd_limit;
    int rc = -1;

    memset(out, 0, sizeof *out);
    out->threads_before = out->threads_peak = out->threads_after = -1;
    memset(&ph, 0, sizeof ph);
    ph.b = b;
    ph.sink = &sink;
    if (bench_sink_start(&sink, b->call_delay_ms, b->calls) != 0)
        return -1;
    ph.n = b->clients;
    ph.ids = calloc((size_t)b->calls, sizeof *ph.ids);
    ph.state = calloc((size_t)b->calls, sizeof *ph.state);
    ph.w = calloc((size_t)ph.n, sizeof *ph.w);
    if (!ph.ids || !ph.state || !ph.w) {
        fprintf(stderr, "bench: out of memory\n");
        goto out;
    }
    for (i = 0; i < b->calls; i++)
        atomic_init(&ph.state[i], SLOT_PENDING);
    atomic_init(&ph.next_start, 0);
    atomic_init(&ph.next_wait, 0);
    for (i = 0; i < ph.n; i++) {
        ph.w[i].ph = &ph;
        if (bench_client_init(&ph.w[i].client, b->base_url) != 0) {
            fprintf(stderr, "bench: cannot set up %ld clients\n", ph.n);
            goto out;
        }
        ph.w[i].client_ok = true;
    }
    if (ob_apply_workflow(b, sink.url) != 0)
        goto out;
    fd_limit = ob_server_fd_limit(b);
    if (fd_limit >= 0 && fd_limit < b->calls + OUTBOUND_SERVER_FD_MARGIN)
        fprintf(stderr, "bench: warning: the server may open only %ld files; "
                "%ld calls in flight need a socket each\n", fd_limit, b->calls);
    fprintf(stderr, "bench: outbound calls: %ld runs with %ld client%s, the "
            "sink at %s answering after %ld ms\n", b->calls, b->clients,
            b->clients == 1 ? "" : "s", sink.url, b->call_delay_ms);
    out->threads_before = bench_server_threads(&b->server);
    out->threads_peak = out->threads_before;
    rc = ob_run(&ph, out);
    out->threads_after = bench_server_threads(&b->server);
    ob_collect(&ph, out);
    if (atomic_load(&bench_abort))
        rc = -1;
out:
    bench_sink_stats_get(&sink, &out->sink);
    bench_sink_stop(&sink);
    for (i = 0; ph.w && i < ph.n; i++)
        if (ph.w[i].client_ok)
            bench_client_free(&ph.w[i].client);
    free(ph.w);
    free(ph.state);
    free(ph.ids);
    return rc;
}
