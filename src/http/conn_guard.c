/*
 * conn_guard.c - the request deadline, and how many connections
 * the server may hold.
 *
 * WHY
 *
 * libmicrohttpd's connection timeout is an idle timeout: every byte a
 * client sends restarts it. A client that sends one header line (or one
 * body byte) every few seconds therefore holds its connection for ever,
 * and a few thousand such clients fill the connection limit so that nobody
 * else gets in. So a connection must deliver a complete request (request
 * line, headers and body) within a fixed time of starting to wait for one,
 * however it trickles: that is the request deadline. A connection starts
 * waiting when it is accepted (the TLS handshake counts) and again when
 * MHD is done with its previous request (keep-alive), so an idle
 * keep-alive connection is closed after the same time.
 *
 * HOW
 *
 * MHD tells us when a connection starts and ends (MHD_OPTION_NOTIFY_CONNECTION)
 * and calls on_request once more, with no data, when a request's body is
 * all in. Each connection gets an http_conn (its MHD socket context). While
 * it waits for a request it is linked in srv->awaiting, which is ordered by
 * the time it started waiting: it is appended when it starts and unlinked
 * when the request is in. So the head is always the first to be due, and
 * the sweeper thread sleeps until then, closes every connection that is
 * due, and sleeps again.
 *
 * Closing is shutdown(2) of the socket from the sweeper thread: MHD then
 * reads end-of-file on its own thread and closes the connection the usual
 * way (NOTIFY_CLOSED, the per-address count, the socket). The descriptor
 * is safe to use: MHD calls NOTIFY_CLOSED before it closes the socket, and
 * on_conn_notify unlinks the connection under srv->conn_mu, the lock the
 * sweeper holds while it calls shutdown. So the sweeper never touches a
 * descriptor number that has been closed and perhaps reused.
 *
 * srv->conn_mu is a leaf lock: nothing else of ours is taken while it is
 * held (the sweeper's log_debug line takes the log's own lock, which takes
 * nothing).
 */
#include "http/http_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"

struct http_conn {
    http_conn *prev, *next;             /* srv->awaiting, oldest first */
    long long since_ms;                 /* monotonic: started waiting for a header */
    int fd;
    bool awaiting;                      /* linked in srv->awaiting */
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the list (srv->conn_mu held) ---- */

static void link_tail(http_server *srv, http_conn *c, long long now)
{
    c->since_ms = now;
    c->next = NULL;
    c->prev = srv->awaiting_tail;
    if (srv->awaiting_tail)
        srv->awaiting_tail->next = c;
    else
        srv->awaiting_head = c;
    srv->awaiting_tail = c;
    c->awaiting = true;
}

static void unlink_conn(http_server *srv, http_conn *c)
{
    if (!c->awaiting)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->awaiting_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        srv->awaiting_tail = c->prev;
    c->prev = c->next = NULL;
    c->awaiting = false;
}

/* ---- MHD's notifications ---- */

static http_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void http__on_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        int fd = ci ? ci->connect_fd : -1;
        http_conn *c = calloc(1, sizeof *c);
        if (!c) {
            /* Untracked it would escape the deadline: refuse it instead. */
            if (fd >= 0)
                shutdown(fd, SHUT_RDWR);
            return;
        }
        c->fd = fd;
        *socket_context = c;
        pthread_mutex_lock(&srv->conn_mu);
        link_tail(srv, c, mono_ms());
        srv->conns++;
        pthread_mutex_unlock(&srv->conn_mu);
        return;
    }
    http_conn *c = *socket_context;
    if (!c)
        return;
    *socket_context = NULL;
    pthread_mutex_lock(&srv->conn_mu);
    unlink_conn(srv, c);
    srv->conns--;
    pthread_mutex_unlock(&srv->conn_mu);
    free(c);
}

void http__request_arrived(http_server *srv, struct MHD_Connection *conn)
{
    http_conn *c = conn_of(conn);
    if (!c)
        return;
    pthread_mutex_lock(&srv->conn_mu);
    unlink_conn(srv, c);
    pthread_mutex_unlock(&srv->conn_mu);
}

void http__request_awaited(http_server *srv, struct MHD_Connection *conn)
{
    http_conn *c = conn_of(conn);
    if (!c)
        return;
    pthread_mutex_lock(&srv->conn_mu);
    unlink_conn(srv, c);
    link_tail(srv, c, mono_ms());
    pthread_mutex_unlock(&srv->conn_mu);
}

/* ---- the sweeper ---- */

static void *sweeper_main(void *arg)
{
    http_server *srv = arg;
    long long timeout = srv->request_timeout_ms;
    pthread_mutex_lock(&srv->conn_mu);
    while (!srv->sweeper_stop) {
        long long now = mono_ms();
        http_conn *c;
        while ((c = srv->awaiting_head) && now - c->since_ms >= timeout) {
            unlink_conn(srv, c);
            if (c->fd >= 0)
                shutdown(c->fd, SHUT_RDWR);
            srv->requests_cut++;
            log_debug("http: a connection sent no complete request within %lld ms; "
                      "closed", timeout);
        }
        /* The head is the first due; one that starts waiting later is due
         * later still, so with an empty list a whole timeout may pass. */
        long long wake = srv->awaiting_head ? srv->awaiting_head->since_ms + timeout
                                            : now + timeout;
        struct timespec until = { .tv_sec = wake / 1000, .tv_nsec = (wake % 1000) * 1000000 };
        pthread_cond_timedwait(&srv->conn_cv, &srv->conn_mu, &until);
    }
    pthread_mutex_unlock(&srv->conn_mu);
    return NULL;
}

void http__guard_init(http_server *srv, unsigned request_timeout_s)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&srv->conn_mu, NULL);
    pthread_cond_init(&srv->conn_cv, &attr);
    pthread_condattr_destroy(&attr);
    srv->request_timeout_ms = request_timeout_s * 1000u;
    srv->guard_ready = true;
}

int http__guard_start(http_server *srv, sp_error *err)
{
    int rc = pthread_create(&srv->sweeper, NULL, sweeper_main, srv);
    if (rc != 0)
        return sp_error_set(err, SP_EUNAVAIL, "cannot start the HTTP request-deadline thread: %s",
                            strerror(rc));
    srv->sweeper_running = true;
    return SP_OK;
}

void http__guard_stop(http_server *srv)
{
    if (!srv->sweeper_running)
        return;
    pthread_mutex_lock(&srv->conn_mu);
    srv->sweeper_stop = true;
    pthread_cond_signal(&srv->conn_cv);
    pthread_mutex_unlock(&srv->conn_mu);
    pthread_join(srv->sweeper, NULL);
    srv->sweeper_running = false;
}

void http__guard_free(http_server *srv)
{
    if (!srv->guard_ready)
        return;
    pthread_cond_destroy(&srv->conn_cv);
    pthread_mutex_destroy(&srv->conn_mu);
    srv->guard_ready = false;
}

/* ---- how many connections fit ---- */

int http_connection_budget(unsigned long long nofile, unsigned requested, unsigned *limit,
                           sp_error *err)
{
    unsigned long long room = nofile > HTTP_FD_RESERVE ? nofile - HTTP_FD_RESERVE : 0;
    if (room < HTTP_MIN_CONNECTIONS)
        return sp_error_set(err, SP_EUNAVAIL,
                            "the open-file limit is %llu, and %u of it is kept for the store, "
                            "outbound calls and the server's own files: at least %u more are "
                            "needed for connections (raise it: ulimit -n, or LimitNOFILE= "
                            "under systemd)",
                            nofile, HTTP_FD_RESERVE, HTTP_MIN_CONNECTIONS);
    if (requested == 0) {
        *limit = room < HTTP_AUTO_CONNECTION_CAP ? (unsigned)room : HTTP_AUTO_CONNECTION_CAP;
        return SP_OK;
    }
    if (requested > room)
        return sp_error_set(err, SP_EBADINPUT,
                            "max connections %u: the open-file limit is %llu and %u of it is "
                            "kept for the store, outbound calls and the server's own files, so "
                            "at most %llu connections fit (raise the limit: ulimit -n, or "
                            "LimitNOFILE= under systemd; or ask for fewer)",
                            requested, nofile, HTTP_FD_RESERVE, room);
    *limit = requested;
    return SP_OK;
}
