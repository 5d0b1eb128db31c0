/*
 * bench_sink.c - see bench_sink.h.
 *
 * A request's life: the daemon thread calls sink_on_request when its
 * headers are in (a bench_sink_req is made), again for each piece of body
 * (discarded), and once more when the body is complete: then the
 * connection is suspended and only afterwards queued, so the timer thread
 * can never resume a connection that is not yet suspended. When it falls
 * due the timer thread marks it `resumed` and resumes it; the daemon
 * thread calls sink_on_request a last time and queues the answer. MHD
 * reports the end (answered, or the peer gone) to sink_on_completed,
 * which frees the request.
 *
 * Lock order: a thread holding s->mu never calls into MHD.
 */
#include "bench_sink.h"
#include "bench_stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* File descriptors kept beyond the sink's own: the clients, the store
 * probe, the pipe from the server. */
#define SINK_FD_MARGIN   256L
/* The answer every POST gets. */
static const char SINK_OK_BODY[] = "{\"ok\":true}";

typedef enum sink_state {
    SINK_RECEIVING,             /* headers or body still coming */
    SINK_WAITING,               /* suspended, queued */
    SINK_RESUMED,               /* due: the answer goes out next */
    SINK_DONE                   /* answer queued */
} sink_state;

typedef struct bench_sink_req {
    struct MHD_Connection *conn;
    sink_state state;           /* under s->mu once queued */
    double due_ms;              /* bench_now_ms clock */
    struct bench_sink_req *next;
} sink_req;

/* Room for `want` descriptors if the hard limit allows. */
static void sink_raise_fd_limit(long want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        (long)rl.rlim_cur >= want)
        return;
    if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < want) {
        fprintf(stderr, "bench: warning: only %ld file descriptors allowed "
                "(ulimit -Hn), %ld wanted for the sink\n", (long)rl.rlim_max,
                want);
        rl.rlim_cur = rl.rlim_max;
    } else {
        rl.rlim_cur = (rlim_t)want;
    }
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        fprintf(stderr, "bench: warning: cannot raise the file descriptor "
                "limit: %s\n", strerror(errno));
}

static struct timespec sink_abs_time(double ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ms / 1000.0);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    } else if (ts.tv_nsec < 0) {
        ts.tv_nsec = 0;
    }
    return ts;
}

/* The timer thread: resumes each queued request when it falls due. */
static void *sink_timer_main(void *arg)
{
    bench_sink *s = arg;

    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        sink_req *r = s->head;
        double now = bench_now_ms();

        if (!r) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        if (r->due_ms > now) {
            /* bench_now_ms is CLOCK_MONOTONIC, as is s->cv's clock. */
            struct timespec until = sink_abs_time(r->due_ms);

            pthread_cond_timedwait(&s->cv, &s->mu, &until);
            continue;
        }
        s->head = r->next;
        if (!s->head)
            s->tail = NULL;
        r->state = SINK_RESUMED;
        pthread_mutex_unlock(&s->mu);
        MHD_resume_connection(r->conn);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static enum MHD_Result sink_on_request(void *cls, struct MHD_Connection *conn,
                                       const char *url, const char *method,
                                       const char *version,
                                       const char *upload_data,
                                       size_t *upload_data_size, void **con_cls)
{
    bench_sink *s = cls;
    sink_req *r = *con_cls;
    sink_state state;

    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;              /* MHD closes the connection */
        r->conn = conn;
        r->state = SINK_RECEIVING;
        *con_cls = r;
        pthread_mutex_lock(&s->mu);
        if (++s->open > s->max_open)
            s->max_open = s->open;
        if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
            s->posts++;
        pthread_mutex_unlock(&s->mu);
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;          /* the body is not looked at */
        return MHD_YES;
    }
    pthread_mutex_lock(&s->mu);
    state = r->state;
    pthread_mutex_unlock(&s->mu);
    if (state == SINK_RECEIVING && strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        r->state = SINK_DONE;
        return MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, s->ok);
    }
    if (state == SINK_RECEIVING) {
        r->due_ms = bench_now_ms() + (double)s->delay_ms;
        /* Suspended before it is queued: see the top of the file. */
        MHD_suspend_connection(conn);
        pthread_mutex_lock(&s->mu);
        r->state = SINK_WAITING;
        if (s->tail)
            s->tail->next = r;
        else
            s->head = r;
        s->tail = r;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return MHD_YES;
    }
    if (state == SINK_RESUMED) {
        pthread_mutex_lock(&s->mu);
        r->state = SINK_DONE;
        s->answered++;
        pthread_mutex_unlock(&s->mu);
        return MHD_queue_response(conn, MHD_HTTP_OK, s->ok);
    }
    return MHD_YES;                     /* SINK_DONE: nothing more to do */
}

static void sink_on_completed(void *cls, struct MHD_Connection *conn,
                              void **con_cls, enum MHD_RequestTerminationCode toe)
{
    bench_sink *s = cls;
    sink_req *r = *con_cls;

    if (!r)
        return;
    pthread_mutex_lock(&s->mu);
    s->open--;
    pthread_mutex_unlock(&s->mu);
    free(r);
    *con_cls = NULL;
}

static int sink_sync_init(bench_sink *s)
{
    pthread_condattr_t ca;
    int rc = -1;

    if (pthread_condattr_init(&ca) != 0)
        return -1;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
        pthread_mutex_init(&s->mu, NULL) == 0) {
        if (pthread_cond_init(&s->cv, &ca) == 0)
            rc = 0;
        else
            pthread_mutex_destroy(&s->mu);
    }
    pthread_condattr_destroy(&ca);
    return rc;
}

int bench_sink_start(bench_sink *s, long delay_ms, long max_open)
{
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;

    memset(s, 0, sizeof *s);
    s->delay_ms = delay_ms;
    if (sink_sync_init(s) != 0) {
        fprintf(stderr, "bench: sink: cannot make its mutex\n");
        return -1;
    }
    sink_raise_fd_limit(max_open + SINK_FD_MARGIN);
    s->ok = MHD_create_response_from_buffer(sizeof SINK_OK_BODY - 1,
                                            (void *)SINK_OK_BODY,
                                            MHD_RESPMEM_PERSISTENT);
    if (!s->ok || MHD_add_response_header(s->ok, MHD_HTTP_HEADER_CONTENT_TYPE,
                                          "application/json") != MHD_YES) {
        fprintf(stderr, "bench: sink: out of memory\n");
        goto fail;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (pthread_create(&s->timer, NULL, sink_timer_main, s) != 0) {
        fprintf(stderr, "bench: sink: cannot start its timer thread\n");
        goto fail;
    }
    s->timer_running = true;
    /* One polling thread (epoll on Linux) for every connection. */
    s->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        0, NULL, NULL, sink_on_request, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(max_open + SINK_FD_MARGIN),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
        MHD_OPTION_CONNECTION_TIMEOUT, 0u,
        MHD_OPTION_NOTIFY_COMPLETED, sink_on_completed, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        fprintf(stderr, "bench: sink: cannot start libmicrohttpd on 127.0.0.1\n");
        goto fail;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        fprintf(stderr, "bench: sink: cannot learn its port\n");
        goto fail;
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", (unsigned)info->port);
    return 0;
fail:
    bench_sink_stop(s);
    return -1;
}

void bench_sink_stats_get(bench_sink *s, bench_sink_stats *out)
{
    pthread_mutex_lock(&s->mu);
    out->posts = s->posts;
    out->answered = s->answered;
    out->max_open = s->max_open;
    pthread_mutex_unlock(&s->mu);
}

void bench_sink_stop(bench_sink *s)
{
    sink_req *r, *next;

    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->timer_running)
        pthread_join(s->timer, NULL);
    s->timer_running = false;
    /* MHD refuses to stop with suspended connections: answer them now. */
    pthread_mutex_lock(&s->mu);
    r = s->head;
    s->head = s->tail = NULL;
    for (next = r; next; next = next->next)
        next->state = SINK_RESUMED;
    pthread_mutex_unlock(&s->mu);
    for (; r; r = next) {
        next = r->next;
        MHD_resume_connection(r->conn);
    }
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    if (s->ok)
        MHD_destroy_response(s->ok);
    s->ok = NULL;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}
