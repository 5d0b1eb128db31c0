/*
 * bench_timers.c - the timer burst: many gates whose timeouts fall due at
 * the same moment, fired at once while people keep deciding.
 *
 * The gates are standalone (POST /v1/approvals) with `timeout: 1h`, so
 * each has one durable timer. The server runs with --test-clock: one
 * POST /v1/admin/clock {"advance": "2h"} makes every timer due, and that
 * request answers only after the engine has fired all of them, so its
 * wall time is the burst's. Meanwhile HITL cycles run on other
 * connections; the decisions in flight during the advance show what the
 * burst costs the people deciding.
 *
 * GET /metrics before and after (spojit_timers_pending,
 * spojit_timers_fired_total) says whether every timer fired exactly once,
 * and a gate per client thread is read back to check that it expired.
 */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each gate's timer is due an hour after it opens; the advance goes past
 * that with room, however long the gates took to open. */
static const char TIMED_GATE_BODY[] =
    "{\"title\":\"t\",\"to\":[\"user:approver\"],\"proposal\":{\"n\":1},"
    "\"timeout\":\"1h\",\"on_timeout\":\"reject\"}";
static const char ADVANCE_BODY[] = "{\"advance\":\"2h\"}";

#define BURST_HITL_CLIENTS  8
/* Cycles run this long before the advance: the decisions answered then
 * are the baseline that the burst's are compared with. */
#define BURST_WARMUP_MS     1000.0
/* The advance answers once every timer has fired: allow a slow burst (a
 * request that takes longer counts as failed). */
#define ADVANCE_TIMEOUT_S   3600L

/* What the scenario's own requests share. */
typedef struct burst {
    const bench *b;
    bench_client client;        /* for /metrics, the advance and the checks */
    struct curl_slist *anonymous;   /* /metrics needs no key */
    bench_window window;        /* the advance request, sent to answered */
    double server_cpu;          /* seconds the server used during it; -1 */
} burst;

/* The two lines of GET /metrics the burst is checked with. */
typedef struct timer_metrics {
    long pending;               /* spojit_timers_pending */
    long fired;                 /* spojit_timers_fired_total */
} timer_metrics;

/* A check of the burst's outcome failed: shown and counted in `errors`,
 * like a failed request. */
static void burst_check_failed(const char *fmt, ...)
{
    va_list ap;

    atomic_fetch_add(&bench_errors, 1);
    fputs("bench: timer burst: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* bench_make_one: POST /v1/approvals as the admin; 201, a pending gate
 * with a due_at. The slot gets the gate's id. */
static int open_timed_gate(bench_client *c, const bench *b,
                           char slot[BENCH_ID_MAX])
{
    long status = bench_client_post(c, b->as_admin, "/v1/approvals",
                                    TIMED_GATE_BODY);
    json_t *gate;
    int rc = -1;

    if (status != 201) {
        bench_request_failed("POST /v1/approvals", status, c, NULL);
        return -1;
    }
    if (!(gate = bench_client_json(c)))
        bench_request_failed("POST /v1/approvals", status, c, "not JSON");
    else if (strcmp(bench_str_member(gate, "status"), "pending") != 0)
        bench_request_failed("POST /v1/approvals", status, c, "gate not pending");
    else if (bench_str_member(gate, "due_at")[0] == '\0')
        bench_request_failed("POST /v1/approvals", status, c,
                             "no due_at for a gate with a timeout");
    else if (!bench_id_copy(slot, json_string_value(json_object_get(gate, "id"))))
        bench_request_failed("POST /v1/approvals", status, c, "no usable id");
    else
        rc = 0;
    json_decref(gate);
    return rc;
}

/*
 * The value of the sample `name` (no labels) in Prometheus text: the line
 * that starts with the name and a space. 0, or -1 when there is none.
 */
static int metric_value(const char *text, const char *name, long *out)
{
    size_t n = strlen(name);
    const char *line = text;

    while (line) {
        if (strncmp(line, name, n) == 0 && line[n] == ' ') {
            char *end;
            double v = strtod(line + n + 1, &end);

            if (end == line + n + 1)
                return -1;
            *out = (long)v;             /* counts: whole numbers */
            return 0;
        }
        if ((line = strchr(line, '\n')))
            line++;
    }
    return -1;
}

/* GET /metrics and the timer lines. 0, or -1 (shown and counted). */
static int read_timer_metrics(burst *bu, timer_metrics *m)
{
    long status = bench_client_get(&bu->client, bu->anonymous, "/metrics");

    if (status != 200) {
        bench_request_failed("GET /metrics", status, &bu->client, NULL);
        return -1;
    }
    if (metric_value(bu->client.buf, "spojit_timers_pending", &m->pending) != 0 ||
        metric_value(bu->client.buf, "spojit_timers_fired_total", &m->fired) != 0) {
        burst_check_failed("GET /metrics has no spojit_timers_pending or "
                           "spojit_timers_fired_total line");
        return -1;
    }
    return 0;
}

/* bench_hitl_task: the advance itself, timed. */
static int advance_clock(void *arg, bench_window *window)
{
    burst *bu = arg;
    double cpu0 = bench_server_cpu_seconds(&bu->b->server), cpu1;
    long status;
    json_t *reply;
    int rc = -1;

    window->from = bench_now_ms();
    status = bench_client_post(&bu->client, bu->b->as_admin, "/v1/admin/clock",
                               ADVANCE_BODY);
    window->to = bench_now_ms();
    cpu1 = bench_server_cpu_seconds(&bu->b->server);
    bu->window = *window;
    bu->server_cpu = (cpu0 < 0 || cpu1 < 0) ? -1 : cpu1 - cpu0;
    if (status != 200) {
        bench_request_failed("POST /v1/admin/clock", status, &bu->client, NULL);
        return -1;
    }
    reply = bench_client_json(&bu->client);
    if (bench_str_member(reply, "now")[0] == '\0')
        bench_request_failed("POST /v1/admin/clock", status, &bu->client,
                             "no \"now\" in the reply");
    else
        rc = 0;
    json_decref(reply);
    return rc;
}

/* Every gate's timer fired, once: none left pending, and the counter grew
 * by exactly the number of gates. */
static void check_all_fired(const timer_metrics *before,
                            const timer_metrics *after, long timers)
{
    if (after->pending != 0)
        burst_check_failed("%ld timers still pending after the advance "
                           "answered (spojit_timers_pending)", after->pending);
    if (after->fired - before->fired != timers)
        burst_check_failed("spojit_timers_fired_total grew by %ld, not by "
                           "the %ld timers of the gates", after->fired - before->fired,
                           timers);
}

/* GET /v1/approvals/{id} of each sampled gate: it must have expired. */
static void check_expired(burst *bu, char (*ids)[BENCH_ID_MAX], long n)
{
    char path[BENCH_ID_MAX + 32];
    json_t *gate;
    long i, status;

    for (i = 0; i < n; i++) {
        if (ids[i][0] == '\0')
            continue;
        snprintf(path, sizeof path, "/v1/approvals/%s", ids[i]);
        status = bench_client_get(&bu->client, bu->b->as_admin, path);
        if (status != 200) {
            bench_request_failed("GET /v1/approvals/{id}", status, &bu->client, NULL);
            continue;
        }
        gate = bench_client_json(&bu->client);
        if (strcmp(bench_str_member(gate, "status"), "expired") != 0)
            bench_request_failed("GET /v1/approvals/{id}", status, &bu->client,
                                 "gate not expired after its timeout fired");
        json_decref(gate);
    }
}

/* Opens b->timers gates on b->clients threads; ids gets one per thread. */
static int open_gates(const bench *b, char (*ids)[BENCH_ID_MAX])
{
    bench_fill f;
    double t0 = bench_now_ms(), seconds;

    fprintf(stderr, "bench: opening %ld gates with a 1h timeout with %ld "
            "clients\n", b->timers, b->clients);
    bench_fill_init(&f, b->timers, "gates with a timeout", open_timed_gate);
    if (bench_fill_to(b, &f, b->timers, ids) != 0)
        return -1;
    seconds = (bench_now_ms() - t0) / 1000.0;
    fprintf(stderr, "bench: %ld gates opened in %.1f s (%.0f/s)\n", f.done,
            seconds, (double)f.done / seconds);
    return 0;
}

/* The burst proper: the advance, with HITL cycles around it. */
static int fire_with_cycles_around(burst *bu, bench_timer_result *out)
{
    timer_metrics before, after;
    bool have_before;

    have_before = read_timer_metrics(bu, &before) == 0;
    if (have_before && before.pending < bu->b->timers)
        burst_check_failed("only %ld timers pending for %ld gates with a "
                           "timeout", before.pending, bu->b->timers);
    fprintf(stderr, "bench: advancing the server's clock by 2h while %d "
            "clients run HITL cycles\n", BURST_HITL_CLIENTS);
    if (bench_hitl_around(bu->b, BURST_HITL_CLIENTS, BURST_WARMUP_MS,
                          advance_clock, bu, &out->hitl) != 0)
        return -1;
    out->advance_seconds = (bu->window.to - bu->window.from) / 1000.0;
    out->server_cpu_seconds = bu->server_cpu;
    if (read_timer_metrics(bu, &after) == 0 && have_before)
        check_all_fired(&before, &after, bu->b->timers);
    return 0;
}

int bench_timer_burst(const bench *b, bench_timer_result *out)
{
    char (*ids)[BENCH_ID_MAX] = calloc((size_t)b->clients, sizeof *ids);
    burst bu;
    int rc = -1;

    memset(out, 0, sizeof *out);
    memset(&bu, 0, sizeof bu);
    bu.b = b;
    if (!ids || !(bu.anonymous = bench_headers_new(NULL, "application/json"))) {
        fprintf(stderr, "bench: out of memory\n");
        goto out_free;
    }
    if (bench_client_init(&bu.client, b->base_url) != 0 ||
        bench_client_set_timeout(&bu.client, ADVANCE_TIMEOUT_S) != 0) {
        fprintf(stderr, "bench: cannot set up a client\n");
        goto out_free;
    }
    out->rss_kib_pending = -1;
    if (open_gates(b, ids) == 0 && !atomic_load(&bench_abort)) {
        out->rss_kib_pending = bench_server_rss_kib(&b->server);
        if (fire_with_cycles_around(&bu, out) == 0) {
            check_expired(&bu, ids, b->clients);
            rc = 0;
        }
    }
out_free:
    bench_client_free(&bu.client);      /* safe after a failed init too */
    curl_slist_free_all(bu.anonymous);
    free(ids);
    return rc;
}

void bench_timer_result_free(bench_timer_result *r)
{
    bench_hitl_result_free(&r->hitl);
}
