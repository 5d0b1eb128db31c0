/*
 * http_internal.h - what the files of src/http share, and nothing else sees.
 *
 * server.c   the daemon, the MHD callbacks and the reply state machine
 * request.c  building a request that owns copies of everything it exposes
 * route.c    compiling patterns and matching paths
 * reply.c    the public http_reply_* / http_defer API and response building
 * conn_guard.c  the request deadline and the connection budget
 */
#ifndef SP_HTTP_INTERNAL_H
#define SP_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

/* ---- limits: every one of them named here ---- */
#define HTTP_DEFAULT_THREADS      4
#define HTTP_DEFAULT_MAX_BODY     (1024u * 1024u)
/* Idle time (no byte either way) after which MHD closes a connection. It
 * restarts with every byte, so it is not what stops slow requests: that is
 * the request deadline (conn_guard.c). It still ends silent connections and
 * reads of a reply that stall. Suspended connections are exempt. */
#define HTTP_CONNECTION_TIMEOUT_S 60u
#define HTTP_DEFAULT_REQUEST_TIMEOUT_S   10u  /* a whole request, header and body, however it trickles */
#define HTTP_DEFAULT_PER_IP_CONNECTIONS 64u  /* open connections from one client address */
/* The connection limit (suspended ones included) is sized from the open-file
 * limit: what is left after this reserve for the store (SQLite's database,
 * journal and WAL files per connection), outbound calls, the log, MHD's own
 * listening socket, epoll and wake-up descriptors. */
#define HTTP_FD_RESERVE           256u
#define HTTP_AUTO_CONNECTION_CAP  16384u    /* automatic limit at most this (memory) */
#define HTTP_MIN_CONNECTIONS      16u       /* fewer than this would not be a server */
#define HTTP_MAX_SEGMENTS         16        /* path segments a route or a request may have */
/* After a chunked upload passes max_body, up to this much more is read and
 * dropped so the client can still be told 413; past it the connection is cut. */
#define HTTP_DISCARD_MAX          (64u * 1024u * 1024u)
#define HTTP_STOP_GRACE_MS        1000      /* http_stop waits this long for parked replies */
#define HTTP_BODY_INITIAL         4096u     /* first buffer for a body of unknown length */
/* Strict-Transport-Security under TLS: browsers keep to HTTPS for a year.
 * No includeSubDomains: spojit speaks for its own host, not its siblings. */
#define HTTP_HSTS_VALUE           "max-age=31536000"

typedef struct {
    const char *key;
    const char *value;
} http_kv;

/* One TCP connection while MHD holds it (its socket context); conn_guard.c. */
typedef struct http_conn http_conn;

/* A route compiled once at start: literal segments, NULL for "{x}". */
typedef struct {
    char *method;
    char *pattern;                      /* owned copy; seg[] points into it */
    http_handler handler;
    size_t nseg;
    const char *seg[HTTP_MAX_SEGMENTS]; /* NUL-terminated literals or NULL */
} http_route_c;

/* One allocation: the node, then name and value. */
typedef struct http_header_node {
    struct http_header_node *next;
    const char *name;
    const char *value;
} http_header_node;

/* See the design note at the top of server.c for these states. */
typedef enum {
    HTTP_ST_READING,        /* headers seen, body being read */
    HTTP_ST_HANDLING,       /* the handler is running */
    HTTP_ST_SUSPENDED,      /* deferred, no reply yet, connection suspended */
    HTTP_ST_RESUMING,       /* reply stored, resume asked; MHD will call us again */
    HTTP_ST_QUEUED,         /* the response has been handed to MHD */
} http_state;

struct http_server {
    struct MHD_Daemon *daemon;
    http_route_c *routes;
    size_t nroutes;
    void *app;
    size_t max_body;
    int port;
    bool tls;                           /* HTTPS: responses carry HSTS */

    /* Deferred requests whose connection is alive, so http_stop can resume
     * them: MHD must never be stopped with a suspended connection. */
    pthread_mutex_t mu;
    bool stopping;
    http_request *deferred;             /* doubly linked through req->prev/next */
    int handling;                       /* handlers running now: http_stop waits for them
                                         * too, or a request whose handler defers just as
                                         * the server stops would get no answer at all */

    /* The request deadline (conn_guard.c). conn_mu is a leaf lock. */
    pthread_mutex_t conn_mu;
    pthread_cond_t conn_cv;             /* wakes the sweeper (CLOCK_MONOTONIC) */
    http_conn *awaiting_head, *awaiting_tail;   /* waiting for a header, oldest first */
    size_t conns;                       /* connections MHD holds now */
    unsigned long long requests_cut;     /* closed by the deadline since start */
    unsigned request_timeout_ms;
    unsigned max_connections, per_ip_connections;
    pthread_t sweeper;
    bool sweeper_running, sweeper_stop, guard_ready;
};

struct http_request {
    http_server *srv;                   /* not used once the connection is gone */
    struct MHD_Connection *conn;

    pthread_mutex_t mu;                 /* guards everything down to `resp` */
    atomic_int refs;                    /* connection + an owed deferred reply */
    http_state state;
    bool deferred;                      /* http_defer was called */
    bool owed;                          /* deferred and no reply given yet */
    bool has_reply;                     /* a response exists: later replies are dropped */
    bool stop_reply;                    /* that response is http_stop's 503 */
    struct MHD_Response *resp;          /* stored until it can be queued */
    unsigned status;

    http_request *prev, *next;          /* srv->deferred; guarded by srv->mu */
    bool listed;

    const http_route_c *route;
    const char *method;
    const char *path;                   /* raw (still percent-encoded) */
    const char *seg[HTTP_MAX_SEGMENTS]; /* decoded path segments */
    int nseg;                           /* -1: too many, or one decodes to NUL */
    const char *params[HTTP_MAX_SEGMENTS];
    size_t nparams;
    http_kv *query;
    size_t nquery;
    bool bad_query;                     /* an argument decodes to a NUL byte */
    http_kv *headers;
    size_t nheaders;
    char ip[48];

    char *body;
    size_t body_len, body_cap;
    size_t expected;                    /* Content-Length when given */
    bool has_body;                      /* Content-Length > 0 or Transfer-Encoding */
    bool arrived;                       /* header and body in: off the deadline */
    bool too_large;
    size_t discarded;

    void *data;
    void (*data_free)(void *);
    http_header_node *extra;            /* http_add_header, applied to the reply */
    bool v1;                            /* path under /v1: Cache-Control: no-store */
    bool tls;                           /* copied from the server: replies may outlive it */

    char arena[];                       /* the strings and arrays above point here */
};

/* route.c */
int http__routes_compile(http_server *srv, const http_route *routes, size_t n, sp_error *err);
void http__routes_free(http_server *srv);
/* Splits a raw path into percent-decoded segments written to out (which
 * must hold strlen(path) + HTTP_MAX_SEGMENTS bytes). Returns the number of
 * segments, or -1 when there are too many or one decodes to a NUL byte. */
int http__split_path(const char *path, char *out, const char *seg[HTTP_MAX_SEGMENTS]);
/* The route for method and segments; NULL when none. When the path is
 * known under other methods, *path_known is set and allow gets them
 * ("GET, POST"). Params are written to req->params. */
const http_route_c *http__route_match(const http_server *srv, const char *method,
                                      const char *const *seg, int nseg, http_request *req,
                                      bool *path_known, char *allow, size_t allow_len);

/* request.c */
http_request *http__request_new(http_server *srv, struct MHD_Connection *conn,
                                const char *url, const char *method);
void http__request_unref(http_request *req);
/* percent-decodes src[0..len) into dst ('+' as space when plus); returns the
 * decoded length or -1 when it contains a NUL byte. dst may equal src. */
long http__percent_decode(const char *src, size_t len, char *dst, bool plus);
/* Appends upload bytes: 0, 1 when max_body would be passed, -1 out of memory. */
int http__body_append(http_request *req, const char *data, size_t len);

/* reply.c */
/* A response with the security headers and content_type, plus the
 * handler's http_add_header headers when with_extra (the server's own
 * replies leave them out: another thread may still be adding them). body
 * (malloc'd, len) is stolen. NULL on allocation failure. */
struct MHD_Response *http__response(http_request *req, const char *content_type, char *body,
                                    size_t len, bool with_extra);
/* The JSON error body of err, without the handler's headers. */
struct MHD_Response *http__error_response(http_request *req, const sp_error *err);

/* conn_guard.c */
/* MHD_OPTION_NOTIFY_CONNECTION: tracks the connection from its start. */
void http__on_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe);
/* A request's header and body are in: the deadline no longer applies. */
void http__request_arrived(http_server *srv, struct MHD_Connection *conn);
/* MHD is done with a request and the connection may carry another: the
 * deadline starts again, from now. */
void http__request_awaited(http_server *srv, struct MHD_Connection *conn);
/* Init before MHD starts (its callbacks use the lock); start the sweeper
 * after; stop it before MHD is stopped; free after. */
void http__guard_init(http_server *srv, unsigned request_timeout_s);
int http__guard_start(http_server *srv, sp_error *err);
void http__guard_stop(http_server *srv);
void http__guard_free(http_server *srv);

/* server.c: stores resp as the reply and wakes the connection if needed.
 * Consumes resp; NULL (out of memory) closes the connection. */
void http__deliver(http_request *req, unsigned status, struct MHD_Response *resp);

#endif
