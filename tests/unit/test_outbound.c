/* test_outbound.c - public_only calls: refused before any connection when
 * the address (literal or resolved) is not public, with a coarse reason;
 * and the early check of a URL's host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

#include "core/log.h"
#include "outbound/outbound.h"

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t done;
    bool finished;
    outbound_result r;
} waiter;

static void on_done(void *ctx, const outbound_result *r)
{
    waiter *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->r = *r;
    w->r.headers = NULL;            /* freed with r after we return */
    w->r.body = NULL;
    w->finished = true;
    pthread_cond_signal(&w->done);
    pthread_mutex_unlock(&w->lock);
}

/* Sends one GET and waits for its result. */
static outbound_result call(const char *url, bool public_only)
{
    sp_error err = SP_ERROR_INIT;
    outbound *o = outbound_start(&err);
    assert_non_null(o);
    waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER };
    outbound_request req = { .method = "GET", .url = url, .timeout_ms = 5000,
                             .public_only = public_only };
    assert_int_equal(outbound_send(o, &req, on_done, &w), 0);
    pthread_mutex_lock(&w.lock);
    while (!w.finished)
        pthread_cond_wait(&w.done, &w.lock);
    pthread_mutex_unlock(&w.lock);
    outbound_stop(o);
    return w.r;
}

static void a_loopback_address_is_refused_before_connecting(void **state)
{
    /* Port 1: nothing listens, so only the guard can make it "refused". */
    outbound_result r = call("http://127.0.0.1:1/", true);
    assert_true(r.refused);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.error, "refused: the address is not public");

    r = call("http://[::1]:1/", true);
    assert_true(r.refused);
}

static void a_name_that_resolves_to_loopback_is_refused_too(void **state)
{
    /* libcurl resolves *.localhost itself, to 127.0.0.1 and ::1: no DNS. */
    outbound_result r = call("http://spojit-test.localhost:1/", true);
    assert_true(r.refused);
    assert_string_equal(r.error, "refused: the address is not public");
}

static void without_public_only_the_call_goes_out(void **state)
{
    outbound_result r = call("http://127.0.0.1:1/", false);
    assert_false(r.refused);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.error, "127.0.0.1"));     /* libcurl's own text */
}

static void url_hosts_that_plainly_are_not_public(void **state)
{
    static const struct {
        const char *url, *what;
    } refused[] = {
        { "http://127.0.0.1:8080/x", "loopback" },
        { "http://localhost/x", "loopback" },
        { "http://LocalHost./x", "loopback" },
        { "http://2130706433/", "loopback" },
        { "http://0x7f.1/", "loopback" },
        { "http://127.0.0.%31/", "loopback" },
        { "http://user:pw@10.0.0.1/", "private" },
        { "https://[::ffff:192.168.0.1]:8443/", "private" },
        { "http://[fe80::1%25eth0]/", "link-local" },
        { "http://169.254.169.254/latest/meta-data/", "link-local" },
        { "http://0.0.0.0/", "unspecified" },
        { "http://[::]/", "unspecified" },
        { "http://100.64.1.1/", "shared (CGNAT)" },
        { "http://224.0.0.1/", "multicast" },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const char *what = NULL;
        if (!outbound_url_not_public(refused[i].url, &what))
            fail_msg("%s was taken", refused[i].url);
        assert_string_equal(what, refused[i].what);
    }
    const char *pass[] = { "https://hooks.example.com/x", "http://8.8.8.8/", "http://[2606:4700::1]/",
                           "http://cb.localhost/", "http://localhost.example.com/",
                           "not a url", "" };
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        const char *what = NULL;
        if (outbound_url_not_public(pass[i], &what))
            fail_msg("%s was refused (%s)", pass[i], what);
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    log_set_level(LOG_ERROR);       /* the guard's warnings are expected here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_loopback_address_is_refused_before_connecting),
        cmocka_unit_test(a_name_that_resolves_to_loopback_is_refused_too),
        cmocka_unit_test(without_public_only_the_call_goes_out),
        cmocka_unit_test(url_hosts_that_plainly_are_not_public),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
