/*
 * bench_client.h - a minimal HTTP client for the benchmark, on libcurl.
 *
 * One bench_client is one curl easy handle, used by one thread only, so
 * its connection is kept alive across requests (as a real API client's
 * would be). Header lists carry the identity (bearer key) and content type;
 * they are built once and shared read-only between threads.
 *
 * curl_global_init() must have been called before any of this.
 */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

typedef struct bench_client {
    CURL *easy;
    char base_url[128];         /* "http://127.0.0.1:PORT" */
    char *buf;                  /* last response body, NUL-terminated; owned */
    size_t len, cap;
    char errbuf[CURL_ERROR_SIZE];
} bench_client;

/*
 * Headers for one identity: "Authorization: Bearer <token>" (none when
 * token is NULL), "Content-Type: <content_type>", and an empty "Expect:"
 * so that curl never waits for a 100-continue. Caller frees with
 * curl_slist_free_all(). NULL when out of memory.
 */
struct curl_slist *bench_headers_new(const char *token, const char *content_type);

/* 0, or -1 (nothing to free) when curl or memory fails. */
int bench_client_init(bench_client *c, const char *base_url);
void bench_client_free(bench_client *c);

/* Replaces the default limit of a whole request (120 s), for a request
 * whose duration is what we measure. 0, or -1. */
int bench_client_set_timeout(bench_client *c, long seconds);

/*
 * GET or POST (body not NULL) base_url + path. Returns the HTTP status,
 * or -1 when no response came (c->errbuf says why). The body is in c->buf.
 */
long bench_client_get(bench_client *c, const struct curl_slist *headers,
                      const char *path);
long bench_client_post(bench_client *c, const struct curl_slist *headers,
                       const char *path, const char *body);

/* The last response body as JSON: a new reference, or NULL when it is not
 * JSON. */
json_t *bench_client_json(const bench_client *c);

#endif
