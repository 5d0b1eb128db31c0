/*
 * http.h - the HTTP server (libmicrohttpd) as the API layer sees it.
 *
 * A handler gets a request whose body has been read in full (within the size
 * limit: larger bodies are answered 413 before any handler runs) and answers
 * it exactly once, with http_reply_*. A handler that must wait - for the
 * engine to commit, or for a long-poll - calls http_defer() and returns; the
 * reply may then come from any thread, and the connection is suspended in
 * between, so no server thread is held by a waiting request.
 *
 * Ownership: bodies passed to http_reply_* are stolen.
 *
 * Lifetime of a deferred request: it stays valid until its reply is given,
 * even if the client has hung up meanwhile (the reply is then dropped), so
 * a deferred request must be answered exactly once, from any thread. This
 * holds across http_stop too: http_stop answers parked requests 503 itself,
 * and a reply given later is dropped quietly but still frees the request.
 * A handler that returns without replying or deferring gets a 500 (logged).
 */
#ifndef SP_HTTP_H
#define SP_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

typedef struct http_server http_server;
typedef struct http_request http_request;

typedef void (*http_handler)(http_request *req, void *app);

typedef struct {
    const char *method;         /* "GET", "POST", ... */
    const char *pattern;        /* "/v1/runs/{id}/cancel": {x} matches one segment */
    http_handler handler;
} http_route;

typedef struct {
    const char *host;           /* "127.0.0.1" */
    int port;                   /* 0: any free port (see http_port) */
    int threads;                /* server threads (default 4) */
    size_t max_body;            /* bytes (default 1 MiB) */
    /* Connections held at once, suspended ones included; 0: sized from the
     * open-file limit (http_connection_budget). Past it, new connections
     * wait in the listen queue. */
    unsigned max_connections;
    unsigned per_ip_connections;    /* from one client address (default 64); more
                                     * are closed as soon as they are accepted */
    /* A connection must send a complete request header (request line and
     * headers) within this many seconds of being accepted or of its
     * previous request's end, however it trickles; else it is closed
     * (default 10). */
    unsigned request_timeout_s;
    /* HTTPS: both PEM texts (NUL-terminated, read by the caller) or neither;
     * borrowed, and kept valid until http_stop (MHD holds the pointers).
     * Every response then carries Strict-Transport-Security. */
    const char *tls_cert_pem;   /* the certificate, then any intermediates */
    const char *tls_key_pem;
} http_config;

/* The connection limit http_start uses when the process may open nofile
 * files: requested, or with 0 what the open-file limit leaves after a
 * reserve for everything else, capped. An error when requested does not
 * fit, or too little is left; it says how to raise the limit. */
int http_connection_budget(unsigned long long nofile, unsigned requested, unsigned *limit,
                           sp_error *err);

http_server *http_start(const http_config *cfg, const http_route *routes, size_t nroutes,
                        void *app, sp_error *err);
int http_port(const http_server *srv);
void http_stop(http_server *srv);

/* ---- the request (valid until the reply has been sent) ---- */
const char *http_method(const http_request *req);
const char *http_path(const http_request *req);
/* The {name} segments of the matched pattern, in order. */
const char *http_param(const http_request *req, size_t index);
const char *http_query(const http_request *req, const char *name);   /* NULL if absent */
const char *http_header(const http_request *req, const char *name);  /* NULL if absent */
const char *http_body(const http_request *req, size_t *len);
const char *http_client_ip(const http_request *req);
/* Per-request slot for the handler's own data; freed with free_fn after the reply. */
void http_set_data(http_request *req, void *data, void (*free_fn)(void *));
void *http_data(const http_request *req);

/* ---- answering: exactly one reply per request ---- */
void http_reply_json(http_request *req, int status, json_t *body);
void http_reply_error(http_request *req, const sp_error *err);
/* body: malloc'd bytes of len, stolen. */
void http_reply_raw(http_request *req, int status, const char *content_type, char *body,
                    size_t len);
/* Before the reply, by the thread that will give it. Wins over a default
 * header of the same name (Cache-Control, Content-Security-Policy, ...). */
void http_add_header(http_request *req, const char *name, const char *value);
/* From the handler only, before it returns: the reply will come later. */
void http_defer(http_request *req);

#endif
