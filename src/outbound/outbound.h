/*
 * outbound.h - calls to the world: every outbound HTTP request of the
 * process, on one thread, through one libcurl multi handle.
 *
 * A thousand slow calls in flight cost a thousand easy handles and sockets,
 * not a thousand threads: the worker waits on all of them at once
 * (curl_multi_poll) and hands each result to its callback as it completes.
 *
 * INVARIANTS
 * - outbound_send copies everything it is given; the caller keeps nothing
 *   alive for the call.
 * - Each accepted call gets exactly one callback, on the worker thread
 *   with its result - or, for a call still queued or in flight when
 *   outbound_stop comes, on the stopping thread with r NULL: abandoned,
 *   the callback only frees its ctx (whoever made the call may be gone and
 *   must not depend on an answer across a restart - the engine re-sends
 *   from the store).
 * - Callbacks must not block: they hand the result over and return.
 * - A public_only call never opens a connection to an address that is not
 *   public (core/netaddr.h): the check is on each address libcurl is about
 *   to connect to, after DNS, so a name that resolves (or rebinds) to a
 *   private address is caught too. Such calls go direct, never through a
 *   proxy from the environment, as the proxy's address is not the target.
 */
#ifndef SP_OUTBOUND_H
#define SP_OUTBOUND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* A response body is kept up to here; the rest is read and counted, not
 * kept (truncated, received). */
#define OUTBOUND_BODY_MAX (1024 * 1024)

typedef struct outbound outbound;

typedef struct {
    const char *method;             /* "GET", "POST", ... */
    const char *url;
    const char *const *headers;     /* "Name: value" lines */
    size_t nheaders;
    const char *body;               /* may be NULL */
    size_t body_len;
    long timeout_ms;
    bool public_only;               /* connect to public addresses only (see above) */
} outbound_request;

typedef struct {
    long status;                    /* 0 when no HTTP answer came */
    json_t *headers;                /* {lower-case name: value} (last one wins) */
    char *body;                     /* NUL-terminated; may hold NULs before len */
    size_t body_len;                /* at most OUTBOUND_BODY_MAX */
    bool truncated;                 /* the body was longer: only its start is kept */
    size_t received;                /* bytes of body received, kept or not */
    bool timed_out;
    bool refused;                   /* public_only, and every address was not public */
    char error[256];                /* "" on an HTTP answer; else what went wrong */
    long elapsed_ms;
} outbound_result;

/* Called once per call: on the worker thread with the result (freed after
 * it returns), or from outbound_stop with r NULL when the call is abandoned. */
typedef void (*outbound_done_fn)(void *ctx, const outbound_result *r);

outbound *outbound_start(sp_error *err);
/* Stops the worker; in-flight calls are abandoned (callback with r NULL). NULL ok. */
void outbound_stop(outbound *o);

/* Queues a call. 0, or -1 when stopping or out of memory (no callback then). */
int outbound_send(outbound *o, const outbound_request *req, outbound_done_fn done, void *ctx);

/* Whether url's host is written as an address that is not public - an IP
 * literal (in any form libcurl accepts) or "localhost" - so that a target
 * public_only calls would refuse can be refused when it is given. *what
 * gets the kind in a word ("loopback", ...). Other host names pass: they
 * are checked when the call connects. An unparsable url is false. */
bool outbound_url_not_public(const char *url, const char **what);

/* Calls queued or in flight now (any thread; for metrics and tests). */
size_t outbound_in_flight(outbound *o);

#endif
