/*
 * test_keyrate.c - the per-key request rate (src/api/keyrate.c): the burst,
 * the refill, the wait it reports, keys counted apart, and a full table
 * that forgets the key unused longest. Time is passed in, so nothing sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api/keyrate.h"

static void test_rate_zero_is_no_limit(void **state)
{
    (void)state;
    int oom = 1;
    api_kr *kr = api_kr_new(0, &oom);
    assert_null(kr);
    assert_int_equal(oom, 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(api_kr_take(kr, "key:a", 0), 0);
}

static void test_a_burst_of_rate_then_a_wait_until_the_next_token(void **state)
{
    (void)state;
    int oom;
    api_kr *kr = api_kr_new(4, &oom);
    assert_non_null(kr);
    for (int i = 0; i < 4; i++)
        assert_int_equal(api_kr_take(kr, "key:a", 1000), 0);
    /* empty: one token comes back every 250 ms */
    assert_int_equal(api_kr_take(kr, "key:a", 1000), 250);
    assert_int_equal(api_kr_take(kr, "key:a", 1100), 150);     /* a refusal takes nothing */
    assert_int_equal(api_kr_take(kr, "key:a", 1250), 0);
    assert_int_equal(api_kr_take(kr, "key:a", 1250), 250);
    /* a long pause fills the bucket, no more than full */
    for (int i = 0; i < 4; i++)
        assert_int_equal(api_kr_take(kr, "key:a", 100000), 0);
    assert_true(api_kr_take(kr, "key:a", 100000) > 0);
    /* a clock that goes back neither refills nor breaks the count */
    assert_true(api_kr_take(kr, "key:a", 500) > 0);
    api_kr_free(kr);
}

static void test_keys_are_counted_apart_and_long_keys_are_cut(void **state)
{
    (void)state;
    int oom;
    api_kr *kr = api_kr_new(1, &oom);
    assert_int_equal(api_kr_take(kr, "key:a", 0), 0);
    assert_int_equal(api_kr_take(kr, "key:a", 0), 1000);
    assert_int_equal(api_kr_take(kr, "key:b", 0), 0);
    assert_int_equal(api_kr_take(kr, "user:a", 0), 0);
    char long1[300], long2[300];
    memset(long1, 'k', sizeof long1 - 1);
    long1[sizeof long1 - 1] = '\0';
    memcpy(long2, long1, sizeof long2);
    long2[250] = 'z';                       /* differs past API_KR_KEY_MAX: the same key */
    assert_int_equal(api_kr_take(kr, long1, 0), 0);
    assert_true(api_kr_take(kr, long2, 0) > 0);
    api_kr_free(kr);
}

static void test_a_full_table_forgets_the_key_unused_longest_never_refuses_a_new_one(void **state)
{
    (void)state;
    int oom;
    api_kr *kr = api_kr_new(1, &oom);
    assert_int_equal(api_kr_take(kr, "key:old", 0), 0);
    assert_true(api_kr_take(kr, "key:old", 0) > 0);
    /* far more keys than slots, each used once, later: every one is served */
    char k[32];
    for (int i = 0; i < 4 * API_KR_SLOTS; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        assert_int_equal(api_kr_take(kr, k, 10 + i), 0);
    }
    /* key:old was pushed out: it starts again full */
    assert_int_equal(api_kr_take(kr, "key:old", 10 + 4 * API_KR_SLOTS), 0);
    api_kr_free(kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_zero_is_no_limit),
        cmocka_unit_test(test_a_burst_of_rate_then_a_wait_until_the_next_token),
        cmocka_unit_test(test_keys_are_counted_apart_and_long_keys_are_cut),
        cmocka_unit_test(test_a_full_table_forgets_the_key_unused_longest_never_refuses_a_new_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
