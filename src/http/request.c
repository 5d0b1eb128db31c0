/*
 * request.c - a request that owns everything it exposes.
 *
 * When the headers are in, the method, path, decoded path segments, query
 * arguments and headers are copied into one allocation (the request and
 * its arena), sized exactly by a counting pass. Handlers and deferred
 * repliers then read request-owned memory only: nothing points into
 * libmicrohttpd's per-connection pool, which is gone as soon as the
 * connection is. One malloc per request, plus the body when there is one.
 *
 * Accessors are not locked: the fields they read are written once, before
 * the handler runs, and never change.
 */
#include "http/http_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

/* ---- percent-decoding ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long http__percent_decode(const char *src, size_t len, char *dst, bool plus)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        int hi, lo;
        /* A malformed escape ("%zz", a trailing "%") is kept as it is, the
         * way most servers do, rather than failing the whole request. */
        if (c == '%' && i + 2 < len && (hi = hexval(src[i + 1])) >= 0 &&
            (lo = hexval(src[i + 2])) >= 0) {
            c = (char)(hi << 4 | lo);
            i += 2;
            if (c == '\0')
                return -1;
        } else if (plus && c == '+') {
            c = ' ';
        }
        dst[o++] = c;
    }
    return (long)o;
}

/* ---- counting and copying MHD's key/value lists ---- */

typedef struct {
    size_t n;
    size_t bytes;
} kv_count;

static enum MHD_Result count_kv(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    kv_count *c = cls;
    c->n++;
    c->bytes += strlen(key) + 1 + (value ? strlen(value) : 0) + 1;
    return MHD_YES;
}

typedef struct {
    http_kv *kv;
    size_t n, max;
    char *out;
    bool decode;                        /* query arguments are still encoded */
    bool bad;                           /* one decoded to a NUL byte */
} kv_fill;

static const char *copy_str(kv_fill *f, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    char *dst = f->out;
    if (f->decode) {
        long d = http__percent_decode(s ? s : "", len, dst, true);
        if (d < 0) {
            f->bad = true;
            d = 0;
        }
        len = (size_t)d;
    } else {
        memcpy(dst, s ? s : "", len);
    }
    dst[len] = '\0';
    f->out += len + 1;
    return dst;
}

static enum MHD_Result fill_kv(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    kv_fill *f = cls;
    if (f->n == f->max)                 /* the list cannot grow between passes; be safe */
        return MHD_NO;
    f->kv[f->n].key = copy_str(f, key);
    f->kv[f->n].value = copy_str(f, value);
    f->n++;
    return MHD_YES;
}

static char *arena_str(char **out, const char *s)
{
    size_t len = strlen(s);
    char *dst = *out;
    memcpy(dst, s, len + 1);
    *out += len + 1;
    return dst;
}

static void client_ip(struct MHD_Connection *conn, char ip[48])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    ip[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip, 48);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
                  48);
}

#define ALIGN_UP(n) (((n) + sizeof(void *) - 1) & ~(sizeof(void *) - 1))

http_request *http__request_new(http_server *srv, struct MHD_Connection *conn,
                                const char *url, const char *method)
{
    kv_count hc = { 0, 0 }, qc = { 0, 0 };
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_kv, &hc);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_kv, &qc);
    size_t url_len = strlen(url);

    size_t head = ALIGN_UP(offsetof(http_request, arena));
    size_t arrays = (hc.n + qc.n) * sizeof(http_kv);
    size_t strings = strlen(method) + 1 + url_len + 1
                     + url_len + HTTP_MAX_SEGMENTS  /* decoded segments */
                     + hc.bytes + qc.bytes;
    http_request *req = malloc(head + arrays + strings);
    if (!req)
        return NULL;
    memset(req, 0, sizeof *req);
    pthread_mutex_init(&req->mu, NULL);
    atomic_init(&req->refs, 1);        /* the connection's reference */
    req->srv = srv;
    req->tls = srv->tls;
    req->conn = conn;
    req->state = HTTP_ST_READING;

    http_kv *kv = (http_kv *)(void *)((char *)req + head);
    char *out = (char *)kv + arrays;
    req->method = arena_str(&out, method);
    req->path = arena_str(&out, url);
    req->v1 = strncmp(url, "/v1", 3) == 0 && (url[3] == '/' || url[3] == '\0');

    req->nseg = http__split_path(url, out, req->seg);
    out += url_len + HTTP_MAX_SEGMENTS;

    kv_fill hf = { kv, 0, hc.n, out, false, false };
    MHD_get_connection_values(conn, MHD_HEADER_KIND, fill_kv, &hf);
    req->headers = kv;
    req->nheaders = hf.n;
    kv_fill qf = { kv + hf.n, 0, qc.n, hf.out, true, false };
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, fill_kv, &qf);
    req->query = kv + hf.n;
    req->nquery = qf.n;
    req->bad_query = qf.bad;

    client_ip(conn, req->ip);
    return req;
}

void http__request_unref(http_request *req)
{
    if (atomic_fetch_sub(&req->refs, 1) != 1)
        return;
    if (req->data_free)
        req->data_free(req->data);
    for (http_header_node *h = req->extra, *next; h; h = next) {
        next = h->next;
        free(h);
    }
    if (req->resp)                      /* stored but never queued (server stopped) */
        MHD_destroy_response(req->resp);
    free(req->body);
    pthread_mutex_destroy(&req->mu);
    free(req);
}

int http__body_append(http_request *req, const char *data, size_t len)
{
    size_t max = req->srv->max_body;
    if (len > max - req->body_len)
        return 1;
    size_t need = req->body_len + len + 1;
    if (need > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap
                     : req->expected ? req->expected + 1 : HTTP_BODY_INITIAL;
        while (cap < need)
            cap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
        char *b = realloc(req->body, cap);
        if (!b)
            return -1;
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
    return 0;
}

/* ---- the public accessors ---- */

const char *http_method(const http_request *req)
{
    return req->method;
}

const char *http_path(const http_request *req)
{
    return req->path;
}

const char *http_param(const http_request *req, size_t index)
{
    return index < req->nparams ? req->params[index] : NULL;
}

const char *http_query(const http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].key, name) == 0)
            return req->query[i].value;
    return NULL;
}

const char *http_header(const http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].key, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *http_body(const http_request *req, size_t *len)
{
    if (len)
        *len = req->body_len;
    return req->body ? req->body : "";
}

const char *http_client_ip(const http_request *req)
{
    return req->ip;
}

void http_set_data(http_request *req, void *data, void (*free_fn)(void *))
{
    if (req->data_free && req->data != data)
        req->data_free(req->data);
    req->data = data;
    req->data_free = free_fn;
}

void *http_data(const http_request *req)
{
    return req->data;
}
