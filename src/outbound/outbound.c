/*
 * outbound.c - the outbound worker (outbound.h).
 *
 * Producers append calls to `queue` under `lock` and wake the worker with
 * curl_multi_wakeup. The worker moves queued calls into the multi handle,
 * lets libcurl drive every transfer, and reports each finished one.
 */
#include "outbound/outbound.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "outbound/guard.h"

typedef struct call {
    CURL *easy;
    struct curl_slist *headers;
    char *url, *method, *body;
    size_t body_len;
    long timeout_ms;
    bool public_only;
    outbound_guard guard;           /* public_only: what the guard saw */
    outbound_done_fn done;
    void *ctx;
    int64_t started_ms;
    outbound_result result;
    char errbuf[CURL_ERROR_SIZE];
    struct call *next;              /* in the queue */
    struct call *prev_active, *next_active;     /* in the multi handle (worker only) */
} call;

struct outbound {
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t lock;           /* guards queue, stopping */
    call *queue, *queue_tail;
    bool stopping;
    call *active;                   /* transfers in the multi handle; worker thread only */
    atomic_size_t in_flight;
};

static void call_free(call *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->method);
    free(c->body);
    json_decref(c->result.headers);
    free(c->result.body);
    free(c);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    call *c = arg;
    size_t len = size * n, room = OUTBOUND_BODY_MAX - c->result.body_len;
    c->result.received += len;
    if (len > room) {
        c->result.truncated = true;
        len = room;
        if (len == 0)
            return size * n;        /* read on, to the end or the timeout, not kept */
    }
    char *grown = realloc(c->result.body, c->result.body_len + len + 1);
    if (!grown)
        return 0;                   /* aborts the transfer: reported as an error */
    memcpy(grown + c->result.body_len, data, len);
    c->result.body = grown;
    c->result.body_len += len;
    grown[c->result.body_len] = '\0';
    return size * n;
}

/* One response header line: kept as {lower-case name: trimmed value}. A new
 * status line (redirects are not followed, but 100-continue) starts over. */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    call *c = arg;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        json_object_clear(c->result.headers);
        return len;
    }
    char *colon = memchr(data, ':', len);
    if (!colon || colon == data || len > 8192)
        return len;
    char name[256];
    size_t nlen = (size_t)(colon - data);
    if (nlen >= sizeof name)
        return len;
    for (size_t i = 0; i < nlen; i++)
        name[i] = (char)tolower((unsigned char)data[i]);
    name[nlen] = '\0';
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    json_t *value = json_stringn_nocheck(v, (size_t)(end - v));
    if (value)
        json_object_set_new(c->result.headers, name, value);
    return len;
}

static call *call_new(const outbound_request *req, outbound_done_fn done, void *ctx)
{
    call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->easy = curl_easy_init();
    c->url = strdup(req->url ? req->url : "");
    c->method = strdup(req->method ? req->method : "GET");
    c->result.headers = json_object();
    c->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 30000;
    c->public_only = req->public_only;
    c->done = done;
    c->ctx = ctx;
    if (req->body && req->body_len) {
        c->body = malloc(req->body_len);
        if (c->body)
            memcpy(c->body, req->body, req->body_len);
        c->body_len = req->body_len;
    }
    bool ok = c->easy && c->url && c->method && c->result.headers &&
              (!req->body_len || c->body);
    for (size_t i = 0; ok && i < req->nheaders; i++) {
        struct curl_slist *next = curl_slist_append(c->headers, req->headers[i]);
        ok = next != NULL;
        if (ok)
            c->headers = next;
    }
    if (!ok) {
        call_free(c);
        return NULL;
    }
    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    if (strcmp(c->method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (c->body || strcmp(c->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body ? c->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    }
    /* No Expect: 100-continue round trip, and no header libcurl adds by itself. */
    c->headers = curl_slist_append(c->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "spojit");
    if (c->public_only) {
        outbound_guard_attach(e, &c->guard);
        /* The guard sees sockets being opened; a connection kept alive
         * from another call (an http step to an internal host) would skip
         * it. A fresh connection, not kept for anyone after. */
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    return c;
}

static void active_remove(outbound *o, call *c)
{
    if (c->prev_active)
        c->prev_active->next_active = c->next_active;
    else
        o->active = c->next_active;
    if (c->next_active)
        c->next_active->prev_active = c->prev_active;
}

static void finish(outbound *o, call *c, CURLcode code)
{
    curl_multi_remove_handle(o->multi, c->easy);
    active_remove(o, c);
    outbound_result *r = &c->result;
    r->elapsed_ms = (long)(clock_mono_ms() - c->started_ms);
    if (code == CURLE_OK) {
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r->status);
    } else if (c->public_only && outbound_guard_refused_all(&c->guard)) {
        /* libcurl's text would say which address and port were refused:
         * to whoever chose the URL that is a port scanner's answer. */
        r->refused = true;
        snprintf(r->error, sizeof r->error, "refused: the address is not public");
    } else {
        r->status = 0;
        r->timed_out = code == CURLE_OPERATION_TIMEDOUT;
        snprintf(r->error, sizeof r->error, "%s",
                 c->errbuf[0] ? c->errbuf : curl_easy_strerror(code));
    }
    if (!r->body)
        r->body = calloc(1, 1);
    c->done(c->ctx, r);
    atomic_fetch_sub(&o->in_flight, 1);
    call_free(c);
}

/* Moves the queued calls into the multi handle. */
static void take_queue(outbound *o)
{
    pthread_mutex_lock(&o->lock);
    call *c = o->queue;
    o->queue = o->queue_tail = NULL;
    pthread_mutex_unlock(&o->lock);
    while (c) {
        call *next = c->next;
        c->next = NULL;
        c->started_ms = clock_mono_ms();
        CURLMcode mc = curl_multi_add_handle(o->multi, c->easy);
        if (mc == CURLM_OK) {
            c->next_active = o->active;
            if (o->active)
                o->active->prev_active = c;
            o->active = c;
        } else {
            snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_multi_strerror(mc));
            c->done(c->ctx, &(outbound_result){ .error = "cannot start the call" });
            atomic_fetch_sub(&o->in_flight, 1);
            call_free(c);
        }
        c = next;
    }
}

static void *worker(void *arg)
{
    outbound *o = arg;
    for (;;) {
        pthread_mutex_lock(&o->lock);
        bool stop = o->stopping;
        pthread_mutex_unlock(&o->lock);
        if (stop)
            break;
        take_queue(o);
        int running = 0;
        curl_multi_perform(o->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(o->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            call *c = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            finish(o, c, msg->data.result);
        }
        curl_multi_poll(o->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

outbound *outbound_start(sp_error *err)
{
    outbound *o = calloc(1, sizeof *o);
    if (!o || !(o->multi = curl_multi_init())) {
        free(o);
        sp_error_set(err, SP_ENOMEM, "cannot start the outbound HTTP worker");
        return NULL;
    }
    pthread_mutex_init(&o->lock, NULL);
    atomic_init(&o->in_flight, 0);
    if (pthread_create(&o->thread, NULL, worker, o) != 0) {
        curl_multi_cleanup(o->multi);
        pthread_mutex_destroy(&o->lock);
        free(o);
        sp_error_set(err, SP_EINTERNAL, "cannot start the outbound HTTP thread");
        return NULL;
    }
    return o;
}

void outbound_stop(outbound *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->stopping = true;
    pthread_mutex_unlock(&o->lock);
    curl_multi_wakeup(o->multi);
    pthread_join(o->thread, NULL);
    /* Abandoned: queued calls, and transfers still running. Each caller's
     * ctx is theirs to free, hence the callback with no result. */
    for (call *c = o->queue, *next; c; c = next) {
        next = c->next;
        c->done(c->ctx, NULL);
        call_free(c);
    }
    for (call *c = o->active, *next; c; c = next) {
        next = c->next_active;
        curl_multi_remove_handle(o->multi, c->easy);
        c->done(c->ctx, NULL);
        call_free(c);
    }
    curl_multi_cleanup(o->multi);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

int outbound_send(outbound *o, const outbound_request *req, outbound_done_fn done, void *ctx)
{
    if (!o)
        return -1;
    call *c = call_new(req, done, ctx);
    if (!c)
        return -1;
    pthread_mutex_lock(&o->lock);
    if (o->stopping) {
        pthread_mutex_unlock(&o->lock);
        call_free(c);
        return -1;
    }
    if (o->queue_tail)
        o->queue_tail->next = c;
    else
        o->queue = c;
    o->queue_tail = c;
    atomic_fetch_add(&o->in_flight, 1);
    pthread_mutex_unlock(&o->lock);
    curl_multi_wakeup(o->multi);
    return 0;
}

size_t outbound_in_flight(outbound *o)
{
    return o ? atomic_load(&o->in_flight) : 0;
}
