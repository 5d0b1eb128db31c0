/* test_core.c - durations, RFC 3339 times, ids, JSON limits and pointers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/jsonx.h"
#include "core/workers.h"

static void short_durations_parse(void **state)
{
    int64_t ms;
    assert_int_equal(duration_parse("90s", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(duration_parse("15m", &ms), 0);
    assert_int_equal(ms, 900000);
    assert_int_equal(duration_parse("4h", &ms), 0);
    assert_int_equal(ms, 4 * 3600000);
    assert_int_equal(duration_parse("3d", &ms), 0);
    assert_int_equal(ms, 3 * 86400000LL);
    assert_int_equal(duration_parse("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(duration_parse("500ms", &ms), 0);
    assert_int_equal(ms, 500);
}

static void iso_durations_parse(void **state)
{
    int64_t ms;
    assert_int_equal(duration_parse("PT4H", &ms), 0);
    assert_int_equal(ms, 4 * 3600000);
    assert_int_equal(duration_parse("P1DT2H", &ms), 0);
    assert_int_equal(ms, 26 * 3600000);
    assert_int_equal(duration_parse("PT90S", &ms), 0);
    assert_int_equal(ms, 90000);
}

static void bad_durations_are_refused(void **state)
{
    int64_t ms;
    const char *bad[] = { "", "4 hours", "h", "4x", "-4h", "0s", "P", "PT", "P1M", "P4H",
                          "PT1D", "4h ", NULL };
    for (int i = 0; bad[i]; i++)
        assert_int_equal(duration_parse(bad[i], &ms), -1);
}

static void times_round_trip_through_rfc3339(void **state)
{
    char buf[SP_TIME_BUF];
    sp_time t = 1795667009123LL, back = 0;
    time_format(t, buf);
    assert_int_equal(time_parse(buf, &back), 0);
    assert_int_equal(back, t);
    assert_int_equal(time_parse("2026-11-25T05:00:00+01:00", &back), 0);
    time_format(back, buf);
    assert_string_equal(buf, "2026-11-25T04:00:00.000Z");
    assert_int_equal(time_parse("2026-13-01T00:00:00Z", &back), -1);
    assert_int_equal(time_parse("yesterday", &back), -1);
}

static void test_clock_moves_only_when_told(void **state)
{
    sp_time before = clock_now();
    clock_advance(25LL * 3600000);
    assert_true(clock_now() - before >= 25LL * 3600000);
    clock_set(before);
    assert_true(clock_now() - before < 1000);
}

static void ids_are_time_ordered_and_shaped(void **state)
{
    char a[SP_ID_MAX], b[SP_ID_MAX];
    id_new("run", 1000, a);
    id_new("run", 2000, b);
    assert_true(strcmp(a, b) < 0);
    assert_true(id_valid("run", a));
    assert_false(id_valid("apr", a));
    assert_false(id_valid("run", "run_../../etc"));
    char *tok = token_random("spk_", 32);
    assert_non_null(tok);
    assert_int_equal(strlen(tok), 4 + 43);
    free(tok);
}

static void deep_json_is_refused_before_parsing(void **state)
{
    size_t n = 100000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    sp_error err = SP_ERROR_INIT;
    assert_null(json_parse_limited(deep, n, SP_JSON_MAX_DEPTH, "body", &err));
    assert_int_equal(err.code, SP_EBADINPUT);
    assert_non_null(strstr(err.message, "nested deeper"));
    free(deep);
}

static void truncated_json_names_line_and_column(void **state)
{
    sp_error err = SP_ERROR_INIT;
    assert_null(json_parse_limited("{\"a\":\n [1,", 10, 64, "request body", &err));
    assert_non_null(strstr(err.message, "request body: invalid JSON at line 2"));
}

static void only_white_space_may_follow_the_value_and_no_nul_anywhere(void **state)
{
    sp_error err = SP_ERROR_INIT;
    /* a NUL after a valid value, with garbage after it */
    assert_null(json_parse_limited("{\"a\":1}\0garbage", 15, 64, "request body", &err));
    assert_int_equal(err.code, SP_EBADINPUT);
    assert_string_equal(err.message, "request body: a NUL byte at line 1, column 8 (byte 8)");
    sp_error_clear(&err);
    /* a NUL alone at the end */
    assert_null(json_parse_limited("{\"a\":1}\0", 8, 64, "request body", &err));
    assert_non_null(strstr(err.message, "a NUL byte at line 1, column 8"));
    sp_error_clear(&err);
    /* garbage after the value, on the next line; and a second value */
    assert_null(json_parse_limited("{\"a\":1} garbage", 15, 64, "request body", &err));
    assert_string_equal(err.message,
                        "request body: unexpected data after the JSON value at line 1, column 9 "
                        "(byte 9)");
    sp_error_clear(&err);
    assert_null(json_parse_limited("[1]\n  [2]", 9, 64, "body", &err));
    assert_non_null(strstr(err.message, "after the JSON value at line 2, column 3"));
    sp_error_clear(&err);
    assert_null(json_parse_limited("123abc", 6, 64, "body", &err));
    assert_non_null(strstr(err.message, "after the JSON value at line 1, column 4"));
    sp_error_clear(&err);
    /* white space after the value is fine */
    json_t *v = json_parse_limited("{\"a\":1}\n", 8, 64, "body", &err);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
    v = json_parse_limited(" 12 \r\n\t", 7, 64, "body", &err);
    assert_non_null(v);
    assert_int_equal(json_integer_value(v), 12);
    json_decref(v);
    assert_int_equal(err.code, SP_OK);
}

static void private_parse_errors_say_where_and_what_kind_never_quote(void **state)
{
    static const char *const bodies[] = {
        "{\"value\": hunter2}", "{\"value\": \"hunter2", "{\"value\": \"hunter2\\q\"}",
        "{\"hunter2\": 1, \"hunter2\": 2}", "[\"hunter2\"\n\"x\"]",
    };
    static const char *const kinds[] = {
        "(not JSON syntax)", "(the text ends inside the value)", "(not JSON syntax)",
        "(a key given twice)", "(not JSON syntax)",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        sp_error err = SP_ERROR_INIT;
        assert_null(json_parse_private(bodies[i], strlen(bodies[i]), 64, "request body", &err));
        assert_int_equal(err.code, SP_EBADINPUT);
        if (strstr(err.message, "hunter") || !strstr(err.message, kinds[i]) ||
            strncmp(err.message, "request body: invalid JSON at line ", 35) != 0)
            fail_msg("body %zu: \"%s\"", i, err.message);
        sp_error_clear(&err);
        /* the ordinary parse may quote, for definitions and the CLI */
        assert_null(json_parse_limited(bodies[i], strlen(bodies[i]), 64, "body", &err));
        sp_error_clear(&err);
    }
}

static void duplicate_keys_are_refused(void **state)
{
    sp_error err = SP_ERROR_INIT;
    const char *text = "{\"a\":1,\"a\":2}";
    assert_null(json_parse_limited(text, strlen(text), 64, "body", &err));
}

static void json_pointers_read_and_write(void **state)
{
    json_t *doc = json_pack("{s:{s:i}, s:[i, i], s:i}", "a", "b/c", 1, "list", 5, 6, "~k", 7);
    assert_int_equal(json_integer_value(json_pointer_get(doc, "/a/b~1c")), 1);
    assert_int_equal(json_integer_value(json_pointer_get(doc, "/list/1")), 6);
    assert_int_equal(json_integer_value(json_pointer_get(doc, "/~0k")), 7);
    assert_null(json_pointer_get(doc, "/list/01"));
    assert_null(json_pointer_get(doc, "/missing/x"));
    assert_int_equal(json_pointer_set(doc, "/list/0", json_integer(9)), 0);
    assert_int_equal(json_integer_value(json_pointer_get(doc, "/list/0")), 9);
    assert_int_equal(json_pointer_set(doc, "/nope/x", json_integer(1)), -1);
    assert_int_equal(json_pointer_set(doc, "/list/7", json_integer(1)), -1);
    json_decref(doc);
}

static void canonical_json_sorts_keys(void **state)
{
    json_t *v = json_pack("{s:i, s:i}", "b", 1, "a", 2);
    char *text = json_canonical(v);
    assert_string_equal(text, "{\"a\":2,\"b\":1}");
    free(text);
    json_decref(v);
}

static void error_table_maps_codes(void **state)
{
    assert_int_equal(sp_code_http_status(SP_EEXPIRED), 409);
    assert_string_equal(sp_code_name(SP_EEXPIRED), "expired");
    assert_int_equal(sp_code_http_status(SP_ETOOLARGE), 413);
    sp_error err = SP_ERROR_INIT;
    sp_error_set(&err, SP_EINVALID, "steps[%d]: bad", 2);
    json_t *j = sp_error_to_json(&err);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                        "steps[2]: bad");
    json_decref(j);
}

/* ---- workers ---- */

/* A job that holds its worker until the latch opens. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open, started;
    int ran;
} latch;

static void held_job(void *ctx)
{
    latch *l = ctx;
    pthread_mutex_lock(&l->mu);
    l->started = true;
    pthread_cond_broadcast(&l->cv);
    while (!l->open)
        pthread_cond_wait(&l->cv, &l->mu);
    l->ran++;
    pthread_mutex_unlock(&l->mu);
}

static void counted_job(void *ctx)
{
    latch *l = ctx;
    pthread_mutex_lock(&l->mu);
    l->ran++;
    pthread_mutex_unlock(&l->mu);
}

static void workers_refuse_past_the_queue_and_drain_on_stop(void **state)
{
    latch l = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
    workers *w = workers_start(1, 2);
    assert_non_null(w);
    assert_true(workers_submit(w, held_job, &l));
    pthread_mutex_lock(&l.mu);
    while (!l.started)                  /* the one worker is now busy */
        pthread_cond_wait(&l.cv, &l.mu);
    pthread_mutex_unlock(&l.mu);
    assert_true(workers_submit(w, counted_job, &l));
    assert_true(workers_submit(w, counted_job, &l));
    assert_false(workers_submit(w, counted_job, &l));   /* the queue holds 2 */
    pthread_mutex_lock(&l.mu);
    l.open = true;
    pthread_cond_broadcast(&l.cv);
    pthread_mutex_unlock(&l.mu);
    workers_stop(w);                    /* runs what was queued, then joins */
    assert_int_equal(l.ran, 3);
    assert_false(workers_submit(w, counted_job, &l));   /* stopped: refused */
    workers_stop(w);                    /* twice is fine */
    workers_free(w);
    workers_free(NULL);
    assert_null(workers_start(0, 1));

    /* Many jobs on several threads: each runs exactly once. */
    latch many = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
    w = workers_start(3, 1000);
    for (int i = 0; i < 1000; i++)
        assert_true(workers_submit(w, counted_job, &many));
    workers_free(w);
    assert_int_equal(many.ran, 1000);
}

static void utf8_sanitize_keeps_valid_text_and_marks_every_bad_byte(void **state)
{
    char ok[] = "plain, \xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80";
    assert_string_equal(utf8_sanitize(ok), "plain, \xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80");
    char cut[] = "ab\xc3";                                  /* cut mid-character */
    assert_string_equal(utf8_sanitize(cut), "ab?");
    char cut3[] = "\xe2\x82";
    assert_string_equal(utf8_sanitize(cut3), "??");
    char overlong[] = "\xc0\xaf|\xe0\x80\xaf|\xf0\x80\x80\xaf";
    assert_string_equal(utf8_sanitize(overlong), "??|???|????");
    char surrogate[] = "\xed\xa0\x80";                      /* U+D800 */
    assert_string_equal(utf8_sanitize(surrogate), "???");
    char too_big[] = "\xf4\x90\x80\x80";                    /* past U+10FFFF */
    assert_string_equal(utf8_sanitize(too_big), "????");
    char stray[] = "\x80x\xff";
    assert_string_equal(utf8_sanitize(stray), "?x?");
    assert_null(utf8_sanitize(NULL));
    json_t *j = json_string(utf8_sanitize(cut));
    assert_non_null(j);                                     /* JSON takes it now */
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_durations_parse),
        cmocka_unit_test(iso_durations_parse),
        cmocka_unit_test(bad_durations_are_refused),
        cmocka_unit_test(times_round_trip_through_rfc3339),
        cmocka_unit_test(test_clock_moves_only_when_told),
        cmocka_unit_test(ids_are_time_ordered_and_shaped),
        cmocka_unit_test(deep_json_is_refused_before_parsing),
        cmocka_unit_test(truncated_json_names_line_and_column),
        cmocka_unit_test(duplicate_keys_are_refused),
        cmocka_unit_test(private_parse_errors_say_where_and_what_kind_never_quote),
        cmocka_unit_test(only_white_space_may_follow_the_value_and_no_nul_anywhere),
        cmocka_unit_test(json_pointers_read_and_write),
        cmocka_unit_test(canonical_json_sorts_keys),
        cmocka_unit_test(error_table_maps_codes),
        cmocka_unit_test(workers_refuse_past_the_queue_and_drain_on_stop),
        cmocka_unit_test(utf8_sanitize_keeps_valid_text_and_marks_every_bad_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
