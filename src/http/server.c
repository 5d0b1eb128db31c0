/*
 * server.c - the HTTP server on libmicrohttpd: daemon, callbacks, and the
 * state machine that lets a reply arrive from any thread at any time.
 *
 * DESIGN
 *
 * libmicrohttpd (MHD) runs a pool of threads (cfg->threads, epoll when the
 * system has it). It calls on_request() several times per request: once
 * when the headers are in, once per piece of body, and once when the body
 * is complete. We build the request on the first call, route it and check
 * its size at once (404, 405 and 413 need no body), collect the body, and
 * run the handler on the last call. on_completed() runs when MHD is done
 * with the request, whatever the reason.
 *
 * Before the first call there is no request, only a connection: MHD
 * accepts at most max_connections of them, and at most per_ip_connections
 * from one client address. Each must complete its request, header and
 * body, within the request deadline, counted from its accept or from the
 * end of its previous request, however slowly it trickles (conn_guard.c:
 * MHD's own timeout restarts with every byte). So a waiting connection is
 * one of
 *
 *   AWAITING REQUEST --header in (first call)--> READING --body in (last call)--> HANDLING ...
 *      ^  |                                        |                               |
 *      |  +--deadline passed (header or body): closed                              |
 *      +--------------------on_completed (keep-alive)-----------------------------+
 *
 * A handler answers at once or calls http_defer() and returns; the reply
 * then comes from any thread (the engine after its commit, the long-poll
 * sweeper). While it waits, the connection is suspended, so it holds no
 * thread and is not timed out by MHD.
 *
 * States (req->state; req->mu guards it and the reply fields):
 *
 *   READING --body complete--> HANDLING --handler returns--+--> QUEUED
 *      |                                                    |    (a reply exists: queue it;
 *      |                                                    |     no reply and no defer: 500)
 *      +--404/405/413 before the body--> QUEUED             |
 *         (at once if a body is coming,                     |
 *          else stored until MHD's last call)               |
 *                                                           +--> SUSPENDED
 *                                                                (deferred, no reply yet)
 *   SUSPENDED --http_reply_* on any thread--> RESUMING --MHD calls on_request--> QUEUED
 *
 * INVARIANTS
 *
 * 1. One reply per request. The first http_reply_* stores its response
 *    (has_reply); any later one is dropped with an error in the log.
 * 2. No lost wakeup. MHD_suspend_connection is called only in on_request,
 *    with req->mu held, and only when no reply is stored; a replier stores
 *    its reply with req->mu held and resumes only when it finds SUSPENDED.
 *    So a reply before the suspend is queued directly, one after it
 *    resumes, and there is no moment in between.
 * 3. One resume per suspend: whoever moves SUSPENDED to RESUMING calls
 *    MHD_resume_connection, with req->mu held (never the reverse order:
 *    MHD never calls us holding a lock of its own that resume needs).
 * 4. Lifetime. The request is reference counted: one reference for the
 *    connection (dropped in on_completed) and one while a deferred reply is
 *    owed (dropped by that reply). A replier's pointer is therefore valid
 *    until it replies, even if the client hung up or the server stopped.
 *    The request owns copies of everything it exposes (request.c), so it
 *    never points into a connection that is gone, and touches the server
 *    only while the connection lives.
 * 5. Stopping. MHD must not be stopped with a suspended connection.
 *    http_stop sets `stopping`, gives every deferred request that has no
 *    reply a 503 and resumes the suspended ones, waits (briefly, bounded)
 *    for those replies to go out, then stops MHD. Deferred
 *    requests are listed in srv->deferred for this; a handler that defers
 *    after `stopping` is set gets the 503 at once. A reply given after
 *    that is dropped quietly (it still releases the owed reference).
 *
 * Lock order: srv->mu, then req->mu, then MHD's own locks.
 *
 * MHD does not notice a client that hangs up while its connection is
 * suspended; it finds out when the reply is written, and then calls
 * on_completed. Until the reply, such a request costs its memory only.
 */
#include "http/http_internal.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"

/* ---- answering on an MHD thread ---- */

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;                  /* out of memory: close the connection */
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/*
 * A reply made by the server itself, before any handler. When a body is
 * coming it is queued at once, which makes MHD skip the body and close the
 * connection afterwards; without a body it waits for MHD's last call, so a
 * keep-alive connection stays open after a 404.
 */
static enum MHD_Result answer_now(http_request *req, sp_code code, const char *allow,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result answer_now(http_request *req, sp_code code, const char *allow,
                                  const char *fmt, ...)
{
    sp_error err = SP_ERROR_INIT;
    va_list ap;
    va_start(ap, fmt);
    sp_error_vset(&err, code, fmt, ap);
    va_end(ap);
    struct MHD_Response *resp = http__error_response(req, &err);
    sp_error_clear(&err);
    if (resp && allow)
        MHD_add_response_header(resp, "Allow", allow);
    unsigned status = (unsigned)sp_code_http_status(code);
    pthread_mutex_lock(&req->mu);
    req->has_reply = true;
    if (!req->has_body && req->state == HTTP_ST_READING) {
        req->resp = resp;
        req->status = status;
        pthread_mutex_unlock(&req->mu);
        return resp ? MHD_YES : MHD_NO;
    }
    req->state = HTTP_ST_QUEUED;
    pthread_mutex_unlock(&req->mu);
    return queue(req->conn, status, resp);
}

/* 500 for a handler that neither replied nor deferred, 503 when stopping. */
static void store_server_reply(http_request *req, sp_code code, const char *msg)
{
    sp_error err = SP_ERROR_INIT;
    sp_error_set(&err, code, "%s", msg);
    req->resp = http__error_response(req, &err);
    req->status = (unsigned)sp_code_http_status(code);
    req->has_reply = true;
    sp_error_clear(&err);
}

static void list_insert(http_server *srv, http_request *req)
{
    req->prev = NULL;
    req->next = srv->deferred;
    if (srv->deferred)
        srv->deferred->prev = req;
    srv->deferred = req;
    req->listed = true;
}

static void list_remove(http_server *srv, http_request *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        srv->deferred = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
    req->listed = false;
}

/* After the handler: queue its reply, or suspend until one comes. */
static enum MHD_Result after_handler(http_server *srv, http_request *req)
{
    pthread_mutex_lock(&req->mu);
    bool waiting = req->deferred && !req->has_reply;
    pthread_mutex_unlock(&req->mu);

    /* Listed even when stopping: http_stop then waits for its 503 to go out. */
    pthread_mutex_lock(&srv->mu);
    bool stopping = srv->stopping;
    if (waiting)
        list_insert(srv, req);
    srv->handling--;
    pthread_mutex_unlock(&srv->mu);

    pthread_mutex_lock(&req->mu);
    if (!req->has_reply) {
        if (!req->deferred) {
            log_error("http: %s %s: the handler returned without replying or deferring; "
                      "answering 500", req->method, req->path);
            store_server_reply(req, SP_EINTERNAL, "the server did not produce a reply");
        } else if (stopping) {
            store_server_reply(req, SP_EUNAVAIL, "the server is shutting down");
            req->stop_reply = true;
        } else {
            req->state = HTTP_ST_SUSPENDED;
            MHD_suspend_connection(req->conn);
            pthread_mutex_unlock(&req->mu);
            return MHD_YES;
        }
    }
    struct MHD_Response *resp = req->resp;
    unsigned status = req->status;
    req->resp = NULL;
    req->state = HTTP_ST_QUEUED;
    pthread_mutex_unlock(&req->mu);
    return queue(req->conn, status, resp);
}

void http__deliver(http_request *req, unsigned status, struct MHD_Response *resp)
{
    bool drop_owed = false, duplicate = false, quiet = false;
    pthread_mutex_lock(&req->mu);
    if (req->owed) {
        req->owed = false;
        drop_owed = true;
    }
    if (req->has_reply) {
        duplicate = true;
        quiet = req->stop_reply;
    } else {
        req->has_reply = true;
        req->resp = resp;
        req->status = status;
        resp = NULL;
        if (req->state == HTTP_ST_SUSPENDED) {
            req->state = HTTP_ST_RESUMING;
            MHD_resume_connection(req->conn);
        }
    }
    pthread_mutex_unlock(&req->mu);
    if (duplicate) {
        if (!quiet)
            log_error("http: %s %s: replied more than once; the later reply is dropped",
                      req->method, req->path);
        if (resp)
            MHD_destroy_response(resp);
    }
    if (drop_owed)
        http__request_unref(req);
}

/* ---- the MHD callbacks ---- */

static enum MHD_Result start_request(http_server *srv, struct MHD_Connection *conn,
                                     const char *url, const char *method, void **con_cls)
{
    http_request *req = http__request_new(srv, conn, url, method);
    if (!req)
        return MHD_NO;
    *con_cls = req;
    const char *cl = http_header(req, "Content-Length");
    req->has_body = (cl && strspn(cl, " \t0") != strlen(cl)) ||
                    http_header(req, "Transfer-Encoding");
    if (req->nseg < 0)
        return answer_now(req, SP_ENOTFOUND, NULL, "no such path");
    if (req->bad_query)
        return answer_now(req, SP_EBADINPUT, NULL, "query: a NUL byte is not allowed");

    bool path_known;
    char allow[128];
    req->route = http__route_match(srv, req->method, req->seg, req->nseg, req, &path_known,
                                   allow, sizeof allow);
    if (!req->route && path_known)
        return answer_now(req, SP_EMETHOD, allow, "%s is not allowed here; allowed: %s",
                          req->method, allow);
    if (!req->route)
        return answer_now(req, SP_ENOTFOUND, NULL, "no such path");

    /* A declared body over the limit is refused before a byte of it is read
     * (a client sending Expect: 100-continue never has to send it at all). */
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > srv->max_body)
            return answer_now(req, SP_ETOOLARGE, NULL,
                              "%s %s: the request body (Content-Length %.40s) is too large: the "
                              "limit is %zu bytes (--max-body)", req->method, url, cl,
                              srv->max_body);
        req->expected = (size_t)n;
    }
    return MHD_YES;
}

static enum MHD_Result read_body(http_request *req, const char *data, size_t size)
{
    if (req->too_large) {
        /* Dropped so the client can still read its 413; bounded, so a body
         * without end cannot keep the connection busy forever. */
        req->discarded += size;
        return req->discarded > HTTP_DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    int rc = http__body_append(req, data, size);
    if (rc < 0)
        return MHD_NO;
    if (rc > 0) {
        req->too_large = true;
        req->discarded = req->body_len + size;
        free(req->body);
        req->body = NULL;
        req->body_len = req->body_cap = 0;
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_server *srv = cls;
    http_request *req = *con_cls;
    if (!req)
        return start_request(srv, conn, url, method, con_cls);
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return read_body(req, upload_data, n);
    }
    /* Header and body are in (a trickled body is as slow as a trickled
     * header): the request deadline no longer applies. */
    if (!req->arrived) {
        req->arrived = true;
        http__request_arrived(srv, conn);
    }

    pthread_mutex_lock(&req->mu);
    http_state state = req->state;
    if (state == HTTP_ST_READING && req->has_reply)
        state = HTTP_ST_RESUMING;       /* answer_now's stored reply: same path */
    else if (state == HTTP_ST_READING && !req->too_large)
        req->state = HTTP_ST_HANDLING;
    struct MHD_Response *resp = NULL;
    unsigned status = 0;
    if (state == HTTP_ST_RESUMING) {
        resp = req->resp;
        status = req->status;
        req->resp = NULL;
        req->state = HTTP_ST_QUEUED;
    }
    pthread_mutex_unlock(&req->mu);

    switch (state) {
    case HTTP_ST_READING:
        if (req->too_large)
            return answer_now(req, SP_ETOOLARGE, NULL,
                              "%s %s: the request body is too large: the limit is %zu bytes "
                              "(--max-body)", req->method, url, srv->max_body);
        pthread_mutex_lock(&srv->mu);
        srv->handling++;                /* after_handler counts it down */
        pthread_mutex_unlock(&srv->mu);
        req->route->handler(req, srv->app);
        return after_handler(srv, req);
    case HTTP_ST_RESUMING:
        return queue(conn, status, resp);
    default:
        /* MHD calls again only before a response is queued and never while
         * suspended; anything else is a bug - close rather than guess. */
        log_error("http: %s %s: unexpected call in state %d", req->method, req->path,
                  (int)state);
        return MHD_NO;
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *srv = cls;
    http__request_awaited(srv, conn);    /* a keep-alive connection's next request */
    http_request *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    pthread_mutex_lock(&srv->mu);
    if (req->listed)
        list_remove(srv, req);
    pthread_mutex_unlock(&srv->mu);
    pthread_mutex_lock(&req->mu);
    req->conn = NULL;
    pthread_mutex_unlock(&req->mu);
    http__request_unref(req);
}

/* Paths reach us still percent-encoded, so that "a%2Fb" stays one segment;
 * request.c decodes segments and query arguments itself. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

/* MHD's messages are mostly about what clients sent: debug level, so a
 * hostile client cannot flood the log. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_debug("http: %s", buf);
}

/* ---- start and stop ---- */

static int resolve(const char *host, int port, struct addrinfo **res, sp_error *err)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host && *host ? host : NULL, service, &hints, res);
    if (rc != 0)
        return sp_error_set(err, SP_EBADINPUT, "cannot resolve listen address '%s': %s",
                            host ? host : "", gai_strerror(rc));
    return SP_OK;
}

http_server *http_start(const http_config *cfg, const http_route *routes, size_t nroutes,
                        void *app, sp_error *err)
{
    if (cfg->port < 0 || cfg->port > 65535) {
        sp_error_set(err, SP_EBADINPUT, "port %d: must be 0 to 65535", cfg->port);
        return NULL;
    }
    http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        sp_error_set(err, SP_ENOMEM, "out of memory starting the HTTP server");
        return NULL;
    }
    pthread_mutex_init(&srv->mu, NULL);
    srv->app = app;
    srv->max_body = cfg->max_body ? cfg->max_body : HTTP_DEFAULT_MAX_BODY;
    srv->tls = cfg->tls_cert_pem || cfg->tls_key_pem;
    if (srv->tls && (!cfg->tls_cert_pem || !cfg->tls_key_pem)) {
        sp_error_set(err, SP_EBADINPUT, "TLS needs both a certificate and its key");
        goto fail;
    }
    if (srv->tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        sp_error_set(err, SP_EUNAVAIL, "this libmicrohttpd was built without TLS support: "
                     "install one with TLS (GnuTLS), or put a TLS proxy in front of spojit");
        goto fail;
    }
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) != 0)
        nofile.rlim_cur = RLIM_INFINITY;
    if (http_connection_budget(nofile.rlim_cur == RLIM_INFINITY ? ULLONG_MAX
                                                                : (unsigned long long)nofile.rlim_cur,
                               cfg->max_connections, &srv->max_connections, err))
        goto fail;
    srv->per_ip_connections = cfg->per_ip_connections ? cfg->per_ip_connections
                                                       : HTTP_DEFAULT_PER_IP_CONNECTIONS;
    http__guard_init(srv, cfg->request_timeout_s ? cfg->request_timeout_s
                                                : HTTP_DEFAULT_REQUEST_TIMEOUT_S);

    struct addrinfo *ai = NULL;
    if (http__routes_compile(srv, routes, nroutes, err) ||
        resolve(cfg->host, cfg->port, &ai, err))
        goto fail;

    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : HTTP_DEFAULT_THREADS;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* TLS options go through MHD_OPTION_ARRAY so that one call serves both
     * cases: without TLS the array is just its end marker. */
    struct MHD_OptionItem tls_opts[3] = { { MHD_OPTION_END, 0, NULL } };
    if (srv->tls) {
        flags |= MHD_USE_TLS;
        tls_opts[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
                                               (void *)cfg->tls_cert_pem };
        tls_opts[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
                                               (void *)cfg->tls_key_pem };
        tls_opts[2] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
    }
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv,
        /* First, so that the options after it report through our log. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, srv->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->per_ip_connections,
        MHD_OPTION_NOTIFY_CONNECTION, http__on_conn_notify, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
        MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    int saved = errno;
    freeaddrinfo(ai);
    if (!srv->daemon && srv->tls) {
        /* MHD says why only in its own log (debug level here); a bad PEM
         * or a key of another certificate is the usual cause. */
        sp_error_set(err, SP_EUNAVAIL, "cannot serve HTTPS on %s:%d: the TLS certificate or "
                     "key was refused (both must be PEM, the key must belong to the "
                     "certificate and not be encrypted), or the address is unavailable "
                     "(run with --log-level debug for the TLS library's reason)",
                     cfg->host ? cfg->host : "*", cfg->port);
        goto fail;
    }
    if (!srv->daemon) {
        sp_error_set(err, SP_EUNAVAIL, "cannot listen on %s:%d: %s",
                     cfg->host ? cfg->host : "*", cfg->port,
                     saved ? strerror(saved) : "the HTTP server failed to start");
        goto fail;
    }
    if (http__guard_start(srv, err)) {
        MHD_stop_daemon(srv->daemon);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    log_info("http: at most %u connections, %u from one address; a request must "
             "arrive within %u s", srv->max_connections, srv->per_ip_connections,
             srv->request_timeout_ms / 1000);
    return srv;

fail:
    http__guard_free(srv);
    http__routes_free(srv);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
    return NULL;
}

int http_port(const http_server *srv)
{
    return srv->port;
}

void http_stop(http_server *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    for (http_request *req = srv->deferred; req; req = req->next) {
        pthread_mutex_lock(&req->mu);
        if (!req->has_reply) {
            store_server_reply(req, SP_EUNAVAIL, "the server is shutting down");
            req->stop_reply = true;
        }
        if (req->state == HTTP_ST_SUSPENDED) {
            req->state = HTTP_ST_RESUMING;
            MHD_resume_connection(req->conn);
        }
        pthread_mutex_unlock(&req->mu);
    }
    pthread_mutex_unlock(&srv->mu);

    /* Let the 503s reach their clients before MHD closes every socket: a
     * request leaves the list when MHD has sent its reply, and a handler
     * still running may yet defer (and be answered 503). Bounded. */
    for (int waited = 0; waited < HTTP_STOP_GRACE_MS; waited += 5) {
        pthread_mutex_lock(&srv->mu);
        bool idle = srv->deferred == NULL && srv->handling == 0;
        pthread_mutex_unlock(&srv->mu);
        if (idle)
            break;
        nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
    }
    http__guard_stop(srv);
    MHD_stop_daemon(srv->daemon);
    http__guard_free(srv);
    http__routes_free(srv);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}
