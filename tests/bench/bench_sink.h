/*
 * bench_sink.h - a slow HTTP API for the outbound-calls phase: it answers
 * every POST with 200 {"ok":true} after a fixed delay.
 *
 * The sink is one libmicrohttpd daemon on 127.0.0.1:0 with one internal
 * polling thread (epoll), plus one timer thread. A complete request is
 * suspended (MHD_suspend_connection) and queued with its due time; the
 * timer thread resumes each when it falls due, and the daemon thread then
 * queues the answer. So any number of requests wait at once on two
 * threads: the sink holds sockets, not threads, exactly like the server's
 * outbound worker it is there to load.
 *
 * Every request has the same delay, so the queue is in due order and is a
 * plain FIFO. Any other method than POST is answered 405 at once (with
 * the same body).
 *
 * Life cycle: bench_sink_start, any number of requests,
 * bench_sink_stats_get, bench_sink_stop (which answers any request still waiting, then stops).
 */
#ifndef BENCH_SINK_H
#define BENCH_SINK_H

#include <pthread.h>
#include <stdbool.h>

struct MHD_Daemon;
struct MHD_Response;
struct bench_sink_req;

typedef struct bench_sink {
    struct MHD_Daemon *daemon;
    struct MHD_Response *ok;    /* the one shared answer; owned */
    char url[64];               /* "http://127.0.0.1:PORT" */
    long delay_ms;

    pthread_t timer;
    bool timer_running;

    pthread_mutex_t mu;         /* guards the fields below */
    pthread_cond_t cv;          /* signalled on a new request and on stop */
    struct bench_sink_req *head, *tail;     /* suspended, in due order */
    bool stopping;
    long open;                  /* requests received and not yet finished */
    long max_open;
    long posts;                 /* POST requests received */
    long answered;              /* 200s queued */
} bench_sink;

/* What the sink saw, read with bench_sink_stats_get. */
typedef struct bench_sink_stats {
    long posts;                 /* POST requests received */
    long answered;              /* of them, answered 200 */
    long max_open;              /* most requests in flight at one moment */
} bench_sink_stats;

/* Starts the sink on 127.0.0.1 (a free port) with room for max_open
 * requests at once, each answered delay_ms after it arrived in full.
 * 0, or -1 with the reason on stderr (nothing to stop). */
int bench_sink_start(bench_sink *s, long delay_ms, long max_open);

void bench_sink_stats_get(bench_sink *s, bench_sink_stats *out);

/* Answers whatever still waits, stops the threads and frees everything. */
void bench_sink_stop(bench_sink *s);

#endif
