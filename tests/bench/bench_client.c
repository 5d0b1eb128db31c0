/*
 * bench_client.c - see bench_client.h.
 */
#include "bench_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_BUF_INITIAL  (64 * 1024)
/* Long enough for the slowest request of the busy phases (an inbox page
 * over a large store); a request that takes longer is counted as failed.
 * The timer burst's clock advance sets its own (bench_client_set_timeout). */
#define CLIENT_TIMEOUT_S    120L
#define CLIENT_CONNECT_S    10L

struct curl_slist *bench_headers_new(const char *token, const char *content_type)
{
    struct curl_slist *list = NULL, *next;
    char line[512];
    int n;

    if (token) {
        n = snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        if (n < 0 || (size_t)n >= sizeof line)
            return NULL;
        if (!(list = curl_slist_append(NULL, line)))
            return NULL;
    }
    n = snprintf(line, sizeof line, "Content-Type: %s", content_type);
    if (n < 0 || (size_t)n >= sizeof line)
        goto fail;
    if (!(next = curl_slist_append(list, line)))
        goto fail;
    list = next;
    if (!(next = curl_slist_append(list, "Expect:")))
        goto fail;
    return next;
fail:
    curl_slist_free_all(list);
    return NULL;
}

/* curl's write callback: appends to c->buf, keeping it NUL-terminated.
 * Returning less than asked makes curl fail the transfer. */
static size_t client_on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    bench_client *c = userp;
    size_t n = size * nmemb;

    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap * 2;
        char *buf;

        while (cap < c->len + n + 1)
            cap *= 2;
        if (!(buf = realloc(c->buf, cap)))
            return 0;
        c->buf = buf;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = '\0';
    return n;
}

int bench_client_init(bench_client *c, const char *base_url)
{
    CURLcode rc = CURLE_OK;
    int n;

    memset(c, 0, sizeof *c);
    n = snprintf(c->base_url, sizeof c->base_url, "%s", base_url);
    if (n < 0 || (size_t)n >= sizeof c->base_url)
        return -1;
    if (!(c->buf = malloc(CLIENT_BUF_INITIAL)))
        return -1;
    c->cap = CLIENT_BUF_INITIAL;
    c->buf[0] = '\0';
    if (!(c->easy = curl_easy_init())) {
        free(c->buf);
        c->buf = NULL;
        return -1;
    }
    /* NOSIGNAL: we are multi-threaded; curl must not use SIGALRM. */
    if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, client_on_body);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, CLIENT_TIMEOUT_S);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_S);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
    if (rc != CURLE_OK) {
        bench_client_free(c);
        return -1;
    }
    return 0;
}

void bench_client_free(bench_client *c)
{
    if (c->easy)
        curl_easy_cleanup(c->easy);
    free(c->buf);
    c->easy = NULL;
    c->buf = NULL;
    c->len = c->cap = 0;
}

int bench_client_set_timeout(bench_client *c, long seconds)
{
    return curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, seconds) == CURLE_OK ? 0 : -1;
}

static long client_send(bench_client *c, const struct curl_slist *headers,
                        const char *path, const char *body)
{
    char url[1024];
    CURLcode rc = CURLE_OK;
    long status = 0;
    int n;

    n = snprintf(url, sizeof url, "%s%s", c->base_url, path);
    if (n < 0 || (size_t)n >= sizeof url) {
        snprintf(c->errbuf, sizeof c->errbuf, "URL too long: %s", path);
        return -1;
    }
    c->len = 0;
    c->buf[0] = '\0';
    c->errbuf[0] = '\0';
    if (body) {
        if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
        if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
    }
    if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_URL, url);
    /* curl only reads the list; the cast drops a const its API lacks. */
    if (rc == CURLE_OK) rc = curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, (struct curl_slist *)headers);
    if (rc == CURLE_OK) rc = curl_easy_perform(c->easy);
    if (rc == CURLE_OK) rc = curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        if (c->errbuf[0] == '\0')
            snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_easy_strerror(rc));
        return -1;
    }
    return status;
}

long bench_client_get(bench_client *c, const struct curl_slist *headers,
                      const char *path)
{
    return client_send(c, headers, path, NULL);
}

long bench_client_post(bench_client *c, const struct curl_slist *headers,
                       const char *path, const char *body)
{
    return client_send(c, headers, path, body);
}

json_t *bench_client_json(const bench_client *c)
{
    return json_loadb(c->buf, c->len, 0, NULL);
}
