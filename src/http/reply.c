/*
 * reply.c - building responses and the public reply API.
 *
 * Every response spojit sends carries the same security headers, so they
 * are added here and nowhere else. A header the handler set itself with
 * http_add_header wins over the default of the same name (the web app may
 * want its own Cache-Control, say).
 *
 * The response is built on the replying thread, outside any lock; only
 * handing it over (http__deliver, server.c) is synchronised.
 */
#include "http/http_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

static const struct {
    const char *name;
    const char *value;
} security_headers[] = {
    { "X-Content-Type-Options", "nosniff" },
    { "Referrer-Policy", "no-referrer" },
    { "X-Frame-Options", "DENY" },
    { "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'" },
};

static bool has_extra(const http_request *req, const char *name)
{
    for (const http_header_node *h = req->extra; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return true;
    return false;
}

struct MHD_Response *http__response(http_request *req, const char *content_type, char *body,
                                    size_t len, bool with_extra)
{
    struct MHD_Response *resp;
    if (body && len) {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(body);
    } else {
        free(body);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return NULL;
    const http_request *extra = with_extra ? req : NULL;
    if (with_extra)
        for (const http_header_node *h = req->extra; h; h = h->next)
            MHD_add_response_header(resp, h->name, h->value);
    if (!extra || !has_extra(req, "Content-Type"))
        MHD_add_response_header(resp, "Content-Type",
                                content_type ? content_type : "application/octet-stream");
    for (size_t i = 0; i < sizeof security_headers / sizeof *security_headers; i++)
        if (!extra || !has_extra(req, security_headers[i].name))
            MHD_add_response_header(resp, security_headers[i].name, security_headers[i].value);
    if (req->tls && (!extra || !has_extra(req, "Strict-Transport-Security")))
        MHD_add_response_header(resp, "Strict-Transport-Security", HTTP_HSTS_VALUE);
    if (req->v1 && (!extra || !has_extra(req, "Cache-Control")))
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    return resp;
}

static struct MHD_Response *json_response(http_request *req, json_t *body, bool with_extra)
{
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(body);
        if (!text)
            return NULL;
    }
    return http__response(req, "application/json", text, text ? strlen(text) : 0, with_extra);
}

struct MHD_Response *http__error_response(http_request *req, const sp_error *err)
{
    struct MHD_Response *resp = json_response(req, sp_error_to_json(err), false);
    /* RFC 6750: a 401 names the scheme the client should use. */
    if (resp && err->code == SP_EUNAUTH)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    return resp;
}

void http_reply_json(http_request *req, int status, json_t *body)
{
    http__deliver(req, (unsigned)status, json_response(req, body, true));
}

void http_reply_error(http_request *req, const sp_error *err)
{
    struct MHD_Response *resp = json_response(req, sp_error_to_json(err), true);
    if (resp && err->code == SP_EUNAUTH && !has_extra(req, "WWW-Authenticate"))
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    http__deliver(req, (unsigned)sp_code_http_status(err->code), resp);
}

void http_reply_raw(http_request *req, int status, const char *content_type, char *body,
                    size_t len)
{
    http__deliver(req, (unsigned)status, http__response(req, content_type, body, len, true));
}

void http_add_header(http_request *req, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    /* A CR or LF would let a value split the response; MHD refuses them
     * too, but saying so here names the caller. */
    if (!nl || strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n")) {
        /* The name is not logged: it is what could forge a log line. */
        log_error("http: %s %s: refusing a header whose name is empty or has CR, LF, "
                  "':' or a space, or whose value has CR or LF", req->method, req->path);
        return;
    }
    http_header_node *h = malloc(sizeof *h + nl + 1 + vl + 1);
    if (!h)
        return;
    char *n = (char *)(h + 1), *v = n + nl + 1;
    memcpy(n, name, nl + 1);
    memcpy(v, value, vl + 1);
    h->name = n;
    h->value = v;
    h->next = NULL;
    http_header_node **tail = &req->extra;
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
}

void http_defer(http_request *req)
{
    pthread_mutex_lock(&req->mu);
    /* Deferring after replying would owe a reply nobody gives: ignore it. */
    if (!req->deferred && !req->has_reply) {
        req->deferred = true;
        req->owed = true;
        atomic_fetch_add(&req->refs, 1);   /* the owed reply's reference */
    }
    pthread_mutex_unlock(&req->mu);
}
