/*
 * test_http.c - the HTTP server, driven over real sockets with libcurl.
 *
 * A server on a free port with test routes; each test names the behaviour
 * it proves. Deferred replies come from other threads, as they do from the
 * engine in production.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <poll.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "http/http.h"

/* ---- a queue of deferred requests, answered by the test ---- */

#define QMAX 512
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static http_request *q_items[QMAX];
static size_t q_len;
static atomic_int data_freed;

static void q_push(http_request *req)
{
    pthread_mutex_lock(&q_mu);
    q_items[q_len++] = req;
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mu);
}

/* Waits until n requests are queued (or 10 s pass); returns how many are. */
static size_t q_wait(size_t n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&q_mu);
    while (q_len < n && pthread_cond_timedwait(&q_cv, &q_mu, &until) == 0)
        ;
    size_t got = q_len;
    pthread_mutex_unlock(&q_mu);
    return got;
}

static http_request *q_pop(void)
{
    pthread_mutex_lock(&q_mu);
    http_request *r = q_len ? q_items[--q_len] : NULL;
    pthread_mutex_unlock(&q_mu);
    return r;
}

static void count_free(void *p)
{
    free(p);
    atomic_fetch_add(&data_freed, 1);
}

static bool wait_freed(int n)
{
    for (int i = 0; i < 500; i++) {
        if (atomic_load(&data_freed) >= n)
            return true;
        usleep(10 * 1000);
    }
    return false;
}

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* ---- handlers ---- */

static void h_thing(http_request *req, void *app)
{
    const char *q = http_query(req, "q"), *x = http_query(req, "x"),
               *hdr = http_header(req, "x-TEST");
    http_reply_json(req, 200, json_pack("{s:s, s:s?, s:s?, s:s?, s:s, s:s}", "id",
                                        http_param(req, 0), "q", q, "x", x, "hdr", hdr,
                                        "method", http_method(req), "app", (char *)app));
}

static void h_part(http_request *req, void *app)
{
    http_reply_json(req, 200, json_pack("{s:s, s:s}", "id", http_param(req, 0), "part",
                                        http_param(req, 1)));
}

static void h_echo(http_request *req, void *app)
{
    size_t len;
    const char *body = http_body(req, &len);
    http_reply_json(req, 201, json_pack("{s:I, s:s%}", "len", (json_int_t)len, "body", body,
                                        len));
}

static void *reply_later(void *arg)
{
    sleep_ms(50);
    http_reply_json(arg, 200, json_pack("{s:s}", "when", "later"));
    return NULL;
}

static void h_defer_later(http_request *req, void *app)
{
    http_defer(req);
    pthread_t t;
    pthread_create(&t, NULL, reply_later, req);
    pthread_detach(t);
}

static void h_defer_early(http_request *req, void *app)
{
    http_defer(req);
    http_reply_json(req, 200, json_pack("{s:s}", "when", "early"));
}

static void *reply_now(void *arg)
{
    http_reply_json(arg, 200, json_pack("{s:s}", "when", "during"));
    return NULL;
}

/* The reply comes from another thread while the handler is still running. */
static void h_defer_during(http_request *req, void *app)
{
    http_defer(req);
    pthread_t t;
    pthread_create(&t, NULL, reply_now, req);
    pthread_join(t, NULL);
    sleep_ms(10);
}

/* The reply races the handler's return and the suspend that follows it. */
static void h_defer_race(http_request *req, void *app)
{
    http_defer(req);
    pthread_t t;
    pthread_create(&t, NULL, reply_now, req);
    pthread_detach(t);
}

static void h_defer_queue(http_request *req, void *app)
{
    http_set_data(req, malloc(16), count_free);
    http_defer(req);
    q_push(req);
}

static void h_forget(http_request *req, void *app)
{
}

static void h_twice(http_request *req, void *app)
{
    http_reply_json(req, 200, json_pack("{s:i}", "n", 1));
    http_reply_json(req, 200, json_pack("{s:i}", "n", 2));
}

static void h_raw(http_request *req, void *app)
{
    http_add_header(req, "X-Extra", "yes");
    http_add_header(req, "Cache-Control", "max-age=60");
    http_add_header(req, "Bad\r\nHeader", "x");
    http_reply_raw(req, 200, "text/html; charset=utf-8", strdup("<p>hi</p>"), 9);
}

static void h_error(http_request *req, void *app)
{
    sp_error err = SP_ERROR_INIT;
    sp_error_set(&err, SP_EUNAUTH, "missing key");
    http_reply_error(req, &err);
    sp_error_clear(&err);
}

static const http_route routes[] = {
    { "GET", "/things/{id}", h_thing },
    { "PUT", "/things/{id}", h_thing },
    { "GET", "/things/{id}/parts/{part}", h_part },
    { "POST", "/echo", h_echo },
    { "GET", "/v1/defer/later", h_defer_later },
    { "GET", "/v1/defer/early", h_defer_early },
    { "GET", "/v1/defer/during", h_defer_during },
    { "GET", "/v1/defer/queue", h_defer_queue },
    { "GET", "/v1/defer/race", h_defer_race },
    { "GET", "/v1/forget", h_forget },
    { "GET", "/v1/twice", h_twice },
    { "GET", "/raw", h_raw },
    { "GET", "/v1/error", h_error },
};

/* ---- the server and a client ---- */

static http_server *srv;
static char base[64];
static char app_tag[] = "the-app";

static http_server *start(size_t max_body)
{
    sp_error err = SP_ERROR_INIT;
    /* 200 concurrent requests come from this one address below. */
    http_config cfg = { .host = "127.0.0.1", .port = 0, .threads = 4, .max_body = max_body,
                        .per_ip_connections = 1024 };
    http_server *s = http_start(&cfg, routes, sizeof routes / sizeof *routes, app_tag, &err);
    if (!s)
        fprintf(stderr, "http_start: %s\n", err.message);
    sp_error_clear(&err);
    return s;
}

static int setup(void **state)
{
    curl_global_init(CURL_GLOBAL_ALL);
    log_set_level(LOG_ERROR);
    srv = start(1024 * 1024);
    if (!srv)
        return -1;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", http_port(srv));
    return 0;
}

static int teardown(void **state)
{
    http_stop(srv);
    curl_global_cleanup();
    return 0;
}

typedef struct {
    char *data;
    size_t len;
} buf;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    buf *b = ud;
    size_t add = size * n;
    b->data = realloc(b->data, b->len + add + 1);
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

typedef struct {
    long status;
    CURLcode rc;
    buf body, headers;
    json_t *json;
} resp;

static void resp_free(resp *r)
{
    free(r->body.data);
    free(r->headers.data);
    json_decref(r->json);
}

static CURL *easy(const char *method, const char *path, resp *r, struct curl_slist *hdrs)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    return c;
}

static void finish(CURL *c, resp *r)
{
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->body.data)
        r->json = json_loads(r->body.data, 0, NULL);
    curl_easy_cleanup(c);
}

static resp fetch(const char *method, const char *path, const char *body,
                  struct curl_slist *hdrs)
{
    resp r = { 0 };
    CURL *c = easy(method, path, &r, hdrs);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    r.rc = curl_easy_perform(c);
    finish(c, &r);
    return r;
}

static const char *jstr(const resp *r, const char *key)
{
    return json_string_value(json_object_get(r->json, key));
}

static const char *error_code(const resp *r)
{
    return json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
}

/* Case-insensitive "Name: value" among the response headers. */
static bool has_header(const resp *r, const char *line)
{
    return r->headers.data && strcasestr(r->headers.data, line) != NULL;
}

/* ---- routing, params, query, headers ---- */

static void test_route_params_are_matched_and_percent_decoded(void **state)
{
    resp r = fetch("GET", "/things/a%2Fb%20c", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "id"), "a/b c");
    assert_string_equal(jstr(&r, "app"), "the-app");
    resp_free(&r);

    r = fetch("GET", "/things/42/parts/wheel", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "id"), "42");
    assert_string_equal(jstr(&r, "part"), "wheel");
    resp_free(&r);
}

static void test_empty_segment_does_not_match_a_param(void **state)
{
    resp r = fetch("GET", "/things/", NULL, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    r = fetch("GET", "/things//parts/x", NULL, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
}

static void test_unknown_path_is_404_json(void **state)
{
    resp r = fetch("GET", "/nope/nothing", NULL, NULL);
    assert_int_equal(r.status, 404);
    assert_string_equal(error_code(&r), "not_found");
    assert_true(has_header(&r, "Content-Type: application/json"));
    resp_free(&r);
}

static void test_known_path_wrong_method_is_405_with_allow(void **state)
{
    resp r = fetch("DELETE", "/things/7", NULL, NULL);
    assert_int_equal(r.status, 405);
    assert_string_equal(error_code(&r), "method_not_allowed");
    assert_true(has_header(&r, "Allow: GET, PUT"));
    resp_free(&r);
}

static void test_head_is_answered_by_the_get_route(void **state)
{
    resp r = { 0 };
    CURL *c = easy("HEAD", "/things/1", &r, NULL);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    r.rc = curl_easy_perform(c);
    finish(c, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_query_is_decoded_and_headers_are_case_insensitive(void **state)
{
    struct curl_slist *h = curl_slist_append(NULL, "X-Test: Yes please");
    resp r = fetch("GET", "/things/1?q=hello%20world&x=1+2%2B3", NULL, h);
    curl_slist_free_all(h);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "q"), "hello world");
    assert_string_equal(jstr(&r, "x"), "1 2+3");
    assert_string_equal(jstr(&r, "hdr"), "Yes please");
    assert_string_equal(jstr(&r, "method"), "GET");
    resp_free(&r);

    r = fetch("GET", "/things/1", NULL, NULL);
    assert_true(json_is_null(json_object_get(r.json, "q")));
    assert_true(json_is_null(json_object_get(r.json, "hdr")));
    resp_free(&r);
}

static void test_nul_byte_in_query_is_400(void **state)
{
    resp r = fetch("GET", "/things/1?q=a%00b", NULL, NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_code(&r), "bad_input");
    resp_free(&r);
}

/* ---- bodies ---- */

static void test_body_is_read_in_full_and_json_reply_is_compact(void **state)
{
    resp r = fetch("POST", "/echo", "{\"a\": [1, 2, 3]}", NULL);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body.data, "{\"len\":16,\"body\":\"{\\\"a\\\": [1, 2, 3]}\"}");
    resp_free(&r);
}

typedef struct {
    size_t left;
} source;

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    source *s = ud;
    size_t k = size * n < s->left ? size * n : s->left;
    memset(p, 'a', k);
    s->left -= k;
    return k;
}

static resp post_big(size_t total, bool chunked)
{
    resp r = { 0 };
    source src = { total };
    struct curl_slist *h = chunked ? curl_slist_append(NULL, "Transfer-Encoding: chunked") : NULL;
    CURL *c = easy("POST", "/echo", &r, h);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    if (!chunked)
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)total);
    r.rc = curl_easy_perform(c);
    finish(c, &r);
    curl_slist_free_all(h);
    return r;
}

static void test_body_at_the_limit_is_accepted_chunked(void **state)
{
    resp r = post_big(1024 * 1024, true);
    assert_int_equal(r.status, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "len")), 1024 * 1024);
    resp_free(&r);
}

static void test_20mb_body_with_content_length_is_413(void **state)
{
    resp r = post_big(20u * 1024 * 1024, false);
    assert_int_equal(r.status, 413);
    assert_string_equal(error_code(&r), "too_large");
    assert_true(has_header(&r, "X-Content-Type-Options: nosniff"));
    resp_free(&r);
}

static void test_20mb_chunked_body_is_413_and_not_left_hanging(void **state)
{
    resp r = post_big(20u * 1024 * 1024, true);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_string_equal(error_code(&r), "too_large");
    resp_free(&r);
    /* The server is still answering. */
    r = fetch("GET", "/things/ok", NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

/* ---- deferral ---- */

static void test_deferred_reply_from_another_thread_after_50ms(void **state)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    resp r = fetch("GET", "/v1/defer/later", NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "when"), "later");
    assert_true(ms >= 50);
    resp_free(&r);
}

static void test_deferred_reply_given_before_the_handler_returns(void **state)
{
    resp r = fetch("GET", "/v1/defer/early", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "when"), "early");
    resp_free(&r);
    r = fetch("GET", "/v1/defer/during", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "when"), "during");
    resp_free(&r);
}

static void test_reply_racing_the_suspend_is_never_lost(void **state)
{
    int ok = 0;
    for (int i = 0; i < 300; i++) {
        resp r = fetch("GET", "/v1/defer/race", NULL, NULL);
        ok += r.status == 200 && jstr(&r, "when") && strcmp(jstr(&r, "when"), "during") == 0;
        resp_free(&r);
    }
    assert_int_equal(ok, 300);
}

#define MANY 200

static void *answer_all(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    if (q_wait(n) < n)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        http_request *req = q_pop();
        const char *tag = http_query(req, "i");
        http_reply_json(req, 200, json_pack("{s:s}", "i", tag));
    }
    return NULL;
}

static void test_200_concurrent_deferred_requests_are_all_answered(void **state)
{
    atomic_store(&data_freed, 0);
    pthread_t replier;
    pthread_create(&replier, NULL, answer_all, (void *)(uintptr_t)MANY);

    CURLM *m = curl_multi_init();
    CURL *easies[MANY];
    static resp rs[MANY];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < MANY; i++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/defer/queue?i=%d", i);
        easies[i] = easy("GET", path, &rs[i], NULL);
        curl_easy_setopt(easies[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(m, easies[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    pthread_join(replier, NULL);
    int ok = 0;
    for (int i = 0; i < MANY; i++) {
        curl_multi_remove_handle(m, easies[i]);
        finish(easies[i], &rs[i]);
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        if (rs[i].status == 200 && jstr(&rs[i], "i") && strcmp(jstr(&rs[i], "i"), want) == 0)
            ok++;
        resp_free(&rs[i]);
    }
    curl_multi_cleanup(m);
    assert_int_equal(ok, MANY);
    /* Every request was freed, with its handler data. */
    assert_true(wait_freed(MANY));
}

static void test_client_disconnecting_while_deferred_is_safe(void **state)
{
    atomic_store(&data_freed, 0);
    resp r = { 0 };
    CURL *c = easy("GET", "/v1/defer/queue?i=gone", &r, NULL);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 200L);
    r.rc = curl_easy_perform(c);
    finish(c, &r);
    assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
    resp_free(&r);

    /* The client is gone; the pointer the replier holds is still valid. */
    assert_int_equal(q_wait(1), 1);
    http_request *req = q_pop();
    assert_string_equal(http_query(req, "i"), "gone");
    http_reply_json(req, 200, json_pack("{s:s}", "too", "late"));
    assert_true(wait_freed(1));

    r = fetch("GET", "/things/still-up", NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void *fetch_in_thread(void *arg)
{
    resp *r = arg;
    *r = fetch("GET", "/v1/defer/queue?i=stop", NULL, NULL);
    return NULL;
}

static void test_stopping_with_a_deferred_request_answers_503_and_late_reply_is_safe(void **s)
{
    atomic_store(&data_freed, 0);
    http_server *main_srv = srv;
    char main_base[64];
    memcpy(main_base, base, sizeof base);
    srv = start(0);
    assert_non_null(srv);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", http_port(srv));

    static resp r;
    memset(&r, 0, sizeof r);
    pthread_t t;
    pthread_create(&t, NULL, fetch_in_thread, &r);
    assert_int_equal(q_wait(1), 1);
    http_request *req = q_pop();
    http_stop(srv);
    pthread_join(t, NULL);
    /* The parked client was told, not just cut off. */
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 503);
    assert_string_equal(error_code(&r), "unavailable");
    resp_free(&r);

    http_reply_json(req, 200, json_pack("{}"));   /* after the stop: dropped, freed */
    assert_true(wait_freed(1));

    srv = main_srv;
    memcpy(base, main_base, sizeof base);
}

static void test_keep_alive_connection_serves_plain_and_deferred_requests(void **state)
{
    const char *paths[] = { "/things/1", "/v1/defer/later", "/v1/defer/early", "/nope",
                            "/v1/defer/race", "/things/2" };
    resp r = { 0 };
    CURL *c = easy("GET", paths[0], &r, NULL);
    long conns = 0;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char url[256];
        snprintf(url, sizeof url, "%s%s", base, paths[i]);
        curl_easy_setopt(c, CURLOPT_URL, url);
        free(r.body.data);
        r.body.data = NULL;
        r.body.len = 0;
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        assert_int_equal(r.status, strcmp(paths[i], "/nope") == 0 ? 404 : 200);
        long n = 0;
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &n);
        conns += n;
    }
    assert_int_equal(conns, 1);                 /* one connection for all of them */
    finish(c, &r);
    resp_free(&r);
}

/* ---- replies ---- */

static void test_handler_that_forgets_to_reply_gets_500(void **state)
{
    resp r = fetch("GET", "/v1/forget", NULL, NULL);
    assert_int_equal(r.status, 500);
    assert_string_equal(error_code(&r), "internal");
    resp_free(&r);
}

static void test_second_reply_is_dropped(void **state)
{
    resp r = fetch("GET", "/v1/twice", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "n")), 1);
    resp_free(&r);
}

static void test_every_response_has_security_headers(void **state)
{
    const char *paths[] = { "/v1/twice", "/nope", "/things/1", "/raw", "/v1/error" };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        resp r = fetch("GET", paths[i], NULL, NULL);
        assert_true(has_header(&r, "X-Content-Type-Options: nosniff"));
        assert_true(has_header(&r, "Referrer-Policy: no-referrer"));
        assert_true(has_header(&r, "X-Frame-Options: DENY"));
        assert_true(has_header(&r, "Content-Security-Policy: default-src 'self'; "
                                   "frame-ancestors 'none'"));
        assert_true(has_header(&r, "Content-Type: "));
        bool v1 = strncmp(paths[i], "/v1/", 4) == 0;
        assert_int_equal(has_header(&r, "Cache-Control: no-store"), v1);
        resp_free(&r);
    }
}

static void test_raw_reply_with_handler_headers(void **state)
{
    resp r = fetch("GET", "/raw", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "<p>hi</p>");
    assert_true(has_header(&r, "Content-Type: text/html; charset=utf-8"));
    assert_true(has_header(&r, "X-Extra: yes"));
    assert_true(has_header(&r, "Cache-Control: max-age=60"));
    assert_false(has_header(&r, "Bad"));
    resp_free(&r);
}

static void test_error_reply_uses_the_code_status_and_names_the_scheme(void **state)
{
    resp r = fetch("GET", "/v1/error", NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(error_code(&r), "unauthorized");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "error"),
                                                          "message")), "missing key");
    assert_true(has_header(&r, "WWW-Authenticate: Bearer"));
    resp_free(&r);
}

/* ---- hostile input ---- */

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)http_port(srv)) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_and_drain(const void *data, size_t len)
{
    int fd = raw_connect();
    assert_true(fd >= 0);
    (void)!send(fd, data, len, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    char sink[4096];
    while (recv(fd, sink, sizeof sink, 0) > 0)
        ;
    close(fd);
}

static void test_hostile_input_does_not_hurt_the_server(void **state)
{
    unsigned seed = 12345;
    char junk[8192];
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (char)(rand_r(&seed) & 0xff);
        send_and_drain(junk, (size_t)(rand_r(&seed) % sizeof junk) + 1);
    }
    /* A huge header, a huge request line, bad escapes, too many segments. */
    size_t big = 200 * 1024;
    char *huge = malloc(big + 64);
    int n = snprintf(huge, 64, "GET /things/1 HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(huge + n, 'b', big);
    memcpy(huge + n + big, "\r\n\r\n", 4);
    send_and_drain(huge, (size_t)n + big + 4);
    n = snprintf(huge, 64, "GET /");
    memset(huge + n, 'p', big);
    memcpy(huge + n + big, " HTTP/1.1\r\nHost: x\r\n\r\n", 22);
    send_and_drain(huge, (size_t)n + big + 22);
    free(huge);
    const char *odd[] = {
        "GET /things/%zz%2 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /things/%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET things HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++)
        send_and_drain(odd[i], strlen(odd[i]));

    resp r = fetch("GET", "/things/%zz", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "id"), "%zz");
    resp_free(&r);
}

/* ---- connections: the header deadline and the limits ---- */

static void test_connection_budget_is_sized_from_the_open_file_limit(void **state)
{
    sp_error err = SP_ERROR_INIT;
    unsigned limit = 0;
    /* Automatic: what is left after the reserve (256), capped at 16384. */
    assert_int_equal(http_connection_budget(1024, 0, &limit, &err), SP_OK);
    assert_int_equal(limit, 768);
    assert_int_equal(http_connection_budget(20000, 0, &limit, &err), SP_OK);
    assert_int_equal(limit, 16384);
    assert_int_equal(http_connection_budget(ULLONG_MAX, 0, &limit, &err), SP_OK);
    assert_int_equal(limit, 16384);
    /* Asked for: granted when it fits, beyond the automatic cap too. */
    assert_int_equal(http_connection_budget(100000, 50000, &limit, &err), SP_OK);
    assert_int_equal(limit, 50000);
    assert_int_equal(http_connection_budget(400, 144, &limit, &err), SP_OK);
    assert_int_equal(limit, 144);
    /* Not fitting: an error that says how many fit and how to get more. */
    limit = 7;
    assert_int_equal(http_connection_budget(400, 145, &limit, &err), SP_EBADINPUT);
    assert_int_equal(limit, 7);
    assert_non_null(strstr(err.message, "max connections 145"));
    assert_non_null(strstr(err.message, "open-file limit is 400"));
    assert_non_null(strstr(err.message, "at most 144 connections fit"));
    assert_non_null(strstr(err.message, "ulimit -n"));
    sp_error_clear(&err);
    /* Too few files for any server at all. */
    assert_int_equal(http_connection_budget(271, 0, &limit, &err), SP_EUNAVAIL);
    assert_non_null(strstr(err.message, "open-file limit is 271"));
    sp_error_clear(&err);
    assert_int_equal(http_connection_budget(272, 0, &limit, &err), SP_OK);
    assert_int_equal(limit, 16);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Waits up to ms for fd to be closed by the server (EOF or reset), reading
 * and dropping anything it sends; with `line`, sends it every 200 ms
 * meanwhile. True when it was closed. */
static bool closed_within(int fd, int ms, const char *line)
{
    double until = now_s() + ms / 1000.0;
    while (now_s() < until) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 200) > 0) {
            char sink[4096];
            ssize_t n = recv(fd, sink, sizeof sink, 0);
            if (n <= 0)
                return true;
            continue;
        }
        if (line && send(fd, line, strlen(line), MSG_NOSIGNAL) < 0)
            return true;
    }
    return false;
}

/* Sends a whole GET and reads its reply (headers and Content-Length body). */
static bool get_on(int fd, const char *path)
{
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return false;
    char text[8192];
    size_t got = 0;
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        ssize_t r = recv(fd, text + got, sizeof text - 1 - got, 0);
        if (r <= 0)
            return false;
        got += (size_t)r;
        text[got] = '\0';
        char *end = strstr(text, "\r\n\r\n"), *cl = strcasestr(text, "Content-Length:");
        if (end && cl && got >= (size_t)(end + 4 - text) + strtoul(cl + 15, NULL, 10))
            return strncmp(text, "HTTP/1.1 200", 12) == 0;
    }
}

static void test_a_trickling_header_is_cut_at_the_deadline_and_one_address_is_limited(void **s)
{
    sp_error err = SP_ERROR_INIT;
    http_config cfg = { .host = "127.0.0.1", .port = 0, .threads = 2,
                        .request_timeout_s = 1, .per_ip_connections = 2 };
    http_server *g = http_start(&cfg, routes, sizeof routes / sizeof *routes, app_tag, &err);
    assert_non_null(g);
    int port = http_port(g);

    /* A header that trickles, a line every 200 ms, so never idle: cut at
     * the deadline, without an answer. */
    double t0 = now_s();
    int slow = connect_to(port);
    assert_true(slow >= 0);
    assert_int_equal(send(slow, "GET /things/1 HTTP/1.1\r\n", 24, MSG_NOSIGNAL), 24);

    /* The address's second connection does a whole request meanwhile; a
     * third is closed as soon as it is accepted. */
    int ok = connect_to(port);
    assert_true(ok >= 0);
    assert_true(get_on(ok, "/things/2"));
    int third = connect_to(port);
    assert_true(third >= 0);
    (void)!send(third, "GET /things/3 HTTP/1.1\r\n", 24, MSG_NOSIGNAL);
    assert_true(closed_within(third, 500, NULL));
    close(third);

    assert_true(closed_within(slow, 4000, "X-Slow: 1\r\n"));
    double lived = now_s() - t0;
    assert_true(lived >= 0.95);
    assert_true(lived < 3.0);
    close(slow);

    /* The keep-alive connection that answered, idle since: the deadline
     * for its next header runs from the end of the last request. */
    assert_true(closed_within(ok, 4000, NULL));
    close(ok);

    /* Its slots are free again: a new connection is served. The client
     * sees the close a moment before MHD has counted the connection out
     * of its address, so the first try may still be refused. */
    bool served = false;
    int tries = 0;
    while (!served && tries++ < 20) {
        int again = connect_to(port);
        assert_true(again >= 0);
        served = get_on(again, "/things/4");
        close(again);
        if (!served)
            sleep_ms(50);
    }
    assert_true(served);
    http_stop(g);
}

static void test_start_fails_cleanly_on_a_busy_port(void **state)
{
    sp_error err = SP_ERROR_INIT;
    http_config cfg = { .host = "127.0.0.1", .port = http_port(srv) };
    assert_null(http_start(&cfg, routes, 1, NULL, &err));
    assert_int_not_equal(err.code, SP_OK);
    assert_non_null(strstr(err.message, "cannot listen"));
    sp_error_clear(&err);

    http_route bad = { "GET", "no-slash", h_forget };
    cfg.port = 0;
    assert_null(http_start(&cfg, &bad, 1, NULL, &err));
    assert_int_equal(err.code, SP_EINTERNAL);
    sp_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_params_are_matched_and_percent_decoded),
        cmocka_unit_test(test_empty_segment_does_not_match_a_param),
        cmocka_unit_test(test_unknown_path_is_404_json),
        cmocka_unit_test(test_known_path_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_head_is_answered_by_the_get_route),
        cmocka_unit_test(test_query_is_decoded_and_headers_are_case_insensitive),
        cmocka_unit_test(test_nul_byte_in_query_is_400),
        cmocka_unit_test(test_body_is_read_in_full_and_json_reply_is_compact),
        cmocka_unit_test(test_body_at_the_limit_is_accepted_chunked),
        cmocka_unit_test(test_20mb_body_with_content_length_is_413),
        cmocka_unit_test(test_20mb_chunked_body_is_413_and_not_left_hanging),
        cmocka_unit_test(test_deferred_reply_from_another_thread_after_50ms),
        cmocka_unit_test(test_deferred_reply_given_before_the_handler_returns),
        cmocka_unit_test(test_reply_racing_the_suspend_is_never_lost),
        cmocka_unit_test(test_200_concurrent_deferred_requests_are_all_answered),
        cmocka_unit_test(test_client_disconnecting_while_deferred_is_safe),
        cmocka_unit_test(test_stopping_with_a_deferred_request_answers_503_and_late_reply_is_safe),
        cmocka_unit_test(test_keep_alive_connection_serves_plain_and_deferred_requests),
        cmocka_unit_test(test_handler_that_forgets_to_reply_gets_500),
        cmocka_unit_test(test_second_reply_is_dropped),
        cmocka_unit_test(test_every_response_has_security_headers),
        cmocka_unit_test(test_raw_reply_with_handler_headers),
        cmocka_unit_test(test_error_reply_uses_the_code_status_and_names_the_scheme),
        cmocka_unit_test(test_hostile_input_does_not_hurt_the_server),
        cmocka_unit_test(test_connection_budget_is_sized_from_the_open_file_limit),
        cmocka_unit_test(test_a_trickling_header_is_cut_at_the_deadline_and_one_address_is_limited),
        cmocka_unit_test(test_start_fails_cleanly_on_a_busy_port),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
