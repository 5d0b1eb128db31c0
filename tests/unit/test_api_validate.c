/*
 * test_api_validate.c - the pure checks behind the API's strict request
 * validation (src/api/validate.c) and its text buffer (src/api/buf.c):
 * good and bad inputs, every limit at its edge, and messages that name the
 * field at fault.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

/* ---- helpers ---- */

static char *repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

/* Asserts err holds code and a message containing each of the NULL-ended
 * fragments, then clears it. */
static void expect_error(sp_error *err, sp_code code, ...)
{
    assert_int_equal(err->code, code);
    va_list ap;
    va_start(ap, code);
    for (const char *frag; (frag = va_arg(ap, const char *));) {
        if (!strstr(err->message, frag))
            fail_msg("message \"%s\" lacks \"%s\"", err->message, frag);
    }
    va_end(ap);
    sp_error_clear(err);
}

/* api_check_fields on a JSON text against fields, where "request body". */
static sp_code check_text(const char *text, const api_field *fields, sp_error *err)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
    sp_code rc = api_check_fields(v, fields, "request body", err);
    json_decref(v);
    return rc;
}

static const api_field user_fields[] = {
    { "name", API_T_STRING, true, API_NAME_MAX },
    { "password", API_T_STRING, false, API_PASSWORD_MAX },
    { "comment", API_T_TEXT, false, 10 },
    { "approvals", API_T_POSINT, false, 100 },
    { "count", API_T_POSINT, false, 0 },
    { "flag", API_T_BOOL, false, 0 },
    { "input", API_T_OBJECT, false, 0 },
    { "teams", API_T_NAMES, false, 3 },
    { "any", API_T_ANY, false, 0 },
    { .name = NULL },
};

/* ---- api_check_fields ---- */

static void fields_accept_a_body_within_every_rule(void **state)
{
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(check_text("{\"name\": \"alice\"}", user_fields, &err), SP_OK);
    assert_int_equal(check_text("{\"name\": \"alice\", \"password\": \"pw\", \"comment\": \"\","
                                " \"approvals\": 100, \"count\": 123456789, \"flag\": false,"
                                " \"input\": {\"a\": [1]}, \"teams\": [\"a\", \"b\", \"c\"],"
                                " \"any\": null}",
                                user_fields, &err),
                     SP_OK);
    assert_int_equal(check_text("{\"name\": \"x\", \"any\": [1, \"two\", {}]}", user_fields, &err),
                     SP_OK);
    assert_int_equal(check_text("{\"name\": \"x\", \"teams\": []}", user_fields, &err), SP_OK);
    assert_int_equal(err.code, SP_OK);
}

static void fields_refuse_unknown_members_by_name(void **state)
{
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(check_text("{\"name\": \"alice\", \"rol\": \"admin\"}", user_fields, &err),
                     SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "unknown field 'rol'", "request body", NULL);

    /* A long unknown name is cut to 64 characters in the message. */
    char *key = repeat("k", 100);
    json_t *body = json_pack("{s:s, s:i}", "name", "alice", key, 1);
    assert_int_equal(api_check_fields(body, user_fields, "request body", &err), SP_EBADINPUT);
    char *k64 = repeat("k", 64), *k65 = repeat("k", 65);
    assert_non_null(strstr(err.message, k64));
    assert_null(strstr(err.message, k65));
    sp_error_clear(&err);
    json_decref(body);
    free(key);
    free(k64);
    free(k65);
}

static void fields_require_required_members(void **state)
{
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(check_text("{}", user_fields, &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "missing field 'name'", "request body", NULL);
    assert_int_equal(check_text("{\"password\": \"pw\"}", user_fields, &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "missing field 'name'", NULL);
}

static void fields_refuse_what_is_not_an_object(void **state)
{
    sp_error err = SP_ERROR_INIT;
    const char *not_objects[] = { "[]", "\"name\"", "42", "null", "true", NULL };
    for (int i = 0; not_objects[i]; i++) {
        assert_int_equal(check_text(not_objects[i], user_fields, &err), SP_EBADINPUT);
        expect_error(&err, SP_EBADINPUT, "request body: expected a JSON object", NULL);
    }
    assert_int_equal(api_check_fields(NULL, user_fields, "policy", &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "policy: expected a JSON object", NULL);
}

static void fields_check_each_type(void **state)
{
    sp_error err = SP_ERROR_INIT;
    static const struct {
        const char *body;
        const char *field;
        const char *expected;
    } bad[] = {
        { "{\"name\": 5}", "'name'", "a non-empty string" },
        { "{\"name\": null}", "'name'", "a non-empty string" },
        { "{\"name\": \"a\", \"comment\": 1}", "'comment'", "expected a string" },
        { "{\"name\": \"a\", \"approvals\": \"2\"}", "'approvals'", "an integer of at least 1" },
        { "{\"name\": \"a\", \"approvals\": 1.0}", "'approvals'", "an integer of at least 1" },
        { "{\"name\": \"a\", \"approvals\": 0}", "'approvals'", "an integer of at least 1" },
        { "{\"name\": \"a\", \"count\": -5}", "'count'", "an integer of at least 1" },
        { "{\"name\": \"a\", \"flag\": 1}", "'flag'", "true or false" },
        { "{\"name\": \"a\", \"flag\": \"true\"}", "'flag'", "true or false" },
        { "{\"name\": \"a\", \"input\": []}", "'input'", "an object" },
        { "{\"name\": \"a\", \"input\": null}", "'input'", "an object" },
        { "{\"name\": \"a\", \"teams\": \"a\"}", "'teams'", "a list of strings" },
        { "{\"name\": \"a\", \"teams\": [1]}", "'teams'", "a list of strings" },
        { "{\"name\": \"a\", \"teams\": [\"a\", \"\"]}", "'teams'", "a list of strings" },
        { "{\"name\": \"a\", \"teams\": [[\"a\"]]}", "'teams'", "a list of strings" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (check_text(bad[i].body, user_fields, &err) != SP_EBADINPUT)
            fail_msg("accepted %s", bad[i].body);
        expect_error(&err, SP_EBADINPUT, bad[i].field, "request body", bad[i].expected, NULL);
    }
}

static void fields_string_and_text_differ_on_empty(void **state)
{
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(check_text("{\"name\": \"\"}", user_fields, &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "'name'", "must not be empty", NULL);
    assert_int_equal(check_text("{\"name\": \"a\", \"comment\": \"\"}", user_fields, &err), SP_OK);
}

static void fields_count_characters_not_bytes(void **state)
{
    sp_error err = SP_ERROR_INIT;
    /* "comment" allows 10 characters: ten two-byte characters (20 bytes) fit. */
    char *ten = repeat("\xc3\xa9", 10), *eleven = repeat("\xc3\xa9", 11);
    json_t *body = json_pack("{s:s, s:s}", "name", "a", "comment", ten);
    assert_int_equal(api_check_fields(body, user_fields, "request body", &err), SP_OK);
    json_object_set_new(body, "comment", json_string(eleven));
    assert_int_equal(api_check_fields(body, user_fields, "request body", &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "'comment'", "longer than 10 characters", NULL);
    json_decref(body);
    free(ten);
    free(eleven);

    /* name: exactly API_NAME_MAX, then one more (four-byte characters). */
    char *max = repeat("\xf0\x9f\x98\x80", API_NAME_MAX);
    char *over = repeat("\xf0\x9f\x98\x80", API_NAME_MAX + 1);
    body = json_pack("{s:s}", "name", max);
    assert_int_equal(api_check_fields(body, user_fields, "request body", &err), SP_OK);
    json_object_set_new(body, "name", json_string(over));
    assert_int_equal(api_check_fields(body, user_fields, "request body", &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "'name'", "longer than 64 characters", NULL);
    json_decref(body);
    free(max);
    free(over);
}

static void fields_refuse_nul_characters(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *body = json_object();
    json_object_set_new(body, "name", json_stringn("al\0ce", 5));
    assert_int_equal(api_check_fields(body, user_fields, "request body", &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "'name'", "NUL", NULL);
    json_object_set_new(body, "name", json_string("alice"));
    json_object_set_new(body, "teams", json_pack("[o]", json_stringn("a\0b", 3)));
    assert_int_equal(api_check_fields(body, user_fields, "request body", &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "'teams'", NULL);
    json_decref(body);
}

static void fields_enforce_integer_and_list_limits(void **state)
{
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(check_text("{\"name\": \"a\", \"approvals\": 100}", user_fields, &err), SP_OK);
    assert_int_equal(check_text("{\"name\": \"a\", \"approvals\": 101}", user_fields, &err),
                     SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "'approvals'", "at most 100", NULL);
    /* max 0: no upper limit */
    assert_int_equal(check_text("{\"name\": \"a\", \"count\": 9223372036854775807}", user_fields,
                                &err),
                     SP_OK);
    assert_int_equal(check_text("{\"name\": \"a\", \"teams\": [\"a\", \"b\", \"c\", \"d\"]}",
                                user_fields, &err),
                     SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "'teams'", "more than 3 entries", NULL);
}

static void fields_name_where_the_object_is(void **state)
{
    static const api_field policy[] = {
        { "approvals", API_T_POSINT, false, API_APPROVALS_MAX },
        { .name = NULL },
    };
    sp_error err = SP_ERROR_INIT;
    json_t *p = json_pack("{s:s}", "approvals", "all");
    assert_int_equal(api_check_fields(p, policy, "policy", &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "field 'approvals' in policy", NULL);
    json_decref(p);
    /* An empty table accepts exactly {}. */
    static const api_field none[] = { { .name = NULL } };
    json_t *empty = json_object(), *one = json_pack("{s:b}", "force", 1);
    assert_int_equal(api_check_fields(empty, none, "request body", &err), SP_OK);
    assert_int_equal(api_check_fields(one, none, "request body", &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "unknown field 'force'", NULL);
    json_decref(empty);
    json_decref(one);
}

/* ---- words, names, emails, assignees ---- */

static void words_accept_only_their_list(void **state)
{
    static const char *const roles[] = { "admin", "member", "viewer", NULL };
    static const char *const one[] = { "only", NULL };
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(api_check_word("admin", roles, "role", &err), SP_OK);
    assert_int_equal(api_check_word("viewer", roles, "role", &err), SP_OK);
    assert_int_equal(api_check_word("Admin", roles, "role", &err), SP_EINVALID);
    expect_error(&err, SP_EINVALID, "role: must be admin, member or viewer", NULL);
    assert_int_equal(api_check_word("", roles, "role", &err), SP_EINVALID);
    sp_error_clear(&err);
    assert_int_equal(api_check_word(NULL, roles, "scope", &err), SP_EINVALID);
    expect_error(&err, SP_EINVALID, "scope: must be", NULL);
    assert_int_equal(api_check_word("other", one, "mode", &err), SP_EINVALID);
    assert_string_equal(err.message, "mode: must be only");
    sp_error_clear(&err);
}

static void names_follow_the_name_rule(void **state)
{
    const char *good[] = { "a", "alice", "support-leads", "team_2", "v1.2", "A-Z.0_9", NULL };
    const char *bad[] = { "", "a b", "a/b", "a:b", "user:alice", "caf\xc3\xa9", "tab\t", "a@b",
                          NULL };
    for (int i = 0; good[i]; i++)
        if (!api_name_valid(good[i]))
            fail_msg("refused %s", good[i]);
    for (int i = 0; bad[i]; i++)
        if (api_name_valid(bad[i]))
            fail_msg("accepted %s", bad[i]);
    assert_false(api_name_valid(NULL));
    char *max = repeat("n", API_NAME_MAX), *over = repeat("n", API_NAME_MAX + 1);
    assert_true(api_name_valid(max));
    assert_false(api_name_valid(over));
    free(max);
    free(over);
}

static void emails_need_one_at_and_no_spaces(void **state)
{
    assert_true(api_email_valid("alice@example.com"));
    assert_true(api_email_valid("a+tag@localhost"));
    const char *bad[] = { "", "alice", "@example.com", "alice@", "a@b@c", "al ice@example.com",
                          "alice@exa\tmple.com", "alice@example.com\n", NULL };
    for (int i = 0; bad[i]; i++)
        if (api_email_valid(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(api_email_valid(NULL));
}

static void assignees_are_user_or_team_names(void **state)
{
    assert_true(api_assignee_valid("user:alice"));
    assert_true(api_assignee_valid("team:support-leads"));
    const char *bad[] = { "alice", "user:", "team:", "group:x", "USER:alice", "user:a b",
                          "user:alice:x", " user:alice", NULL };
    for (int i = 0; bad[i]; i++)
        if (api_assignee_valid(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(api_assignee_valid(NULL));
    char *name = repeat("n", API_NAME_MAX + 1);
    char long_one[API_NAME_MAX + 16];
    snprintf(long_one, sizeof long_one, "user:%s", name);
    assert_false(api_assignee_valid(long_one));
    long_one[5 + API_NAME_MAX] = '\0';
    assert_true(api_assignee_valid(long_one));
    free(name);
}

static void assignee_lists_are_non_empty_and_bounded(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *to = json_pack("[s, s]", "user:alice", "team:finance");
    assert_int_equal(api_check_assignees(to, "to", &err), SP_OK);
    json_decref(to);

    to = json_array();
    assert_int_equal(api_check_assignees(to, "to", &err), SP_EINVALID);
    expect_error(&err, SP_EINVALID, "to: a non-empty list", NULL);
    assert_int_equal(api_check_assignees(NULL, "to", &err), SP_EINVALID);
    expect_error(&err, SP_EINVALID, "to:", NULL);
    for (int i = 0; i < API_ASSIGNEES_MAX; i++)
        json_array_append_new(to, json_string("user:alice"));
    assert_int_equal(api_check_assignees(to, "to", &err), SP_OK);
    json_array_append_new(to, json_string("user:bob"));
    assert_int_equal(api_check_assignees(to, "to", &err), SP_EINVALID);
    expect_error(&err, SP_EINVALID, "to: more than 100 assignees", NULL);
    json_decref(to);

    to = json_pack("[s, s]", "user:alice", "finance");
    assert_int_equal(api_check_assignees(to, "escalate.to", &err), SP_EINVALID);
    expect_error(&err, SP_EINVALID, "escalate.to[1]", "\"user:NAME\" or \"team:NAME\"", NULL);
    json_decref(to);
    to = json_pack("[i]", 7);
    assert_int_equal(api_check_assignees(to, "to", &err), SP_EINVALID);
    expect_error(&err, SP_EINVALID, "to[0]", NULL);
    json_decref(to);
}

/* ---- text and headers ---- */

static void utf8_text_accepts_valid_sequences_only(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        bool ok;
    } cases[] = {
        { "", 0, true },
        { "plain ascii\n", 12, true },
        { "caf\xc3\xa9", 5, true },                 /* U+00E9 */
        { "\xe2\x82\xac", 3, true },                /* U+20AC */
        { "\xf0\x9f\x98\x80", 4, true },            /* U+1F600 */
        { "\xf4\x8f\xbf\xbf", 4, true },            /* U+10FFFF, the last */
        { "a\0b", 3, false },                       /* NUL */
        { "\xc0\x80", 2, false },                   /* overlong NUL */
        { "\xc1\xbf", 2, false },                   /* overlong */
        { "\xe0\x80\xaf", 3, false },               /* overlong '/' */
        { "\xf0\x82\x82\xac", 4, false },           /* overlong euro */
        { "\xed\xa0\x80", 3, false },               /* surrogate U+D800 */
        { "\xf4\x90\x80\x80", 4, false },           /* U+110000 */
        { "\xf5\x80\x80\x80", 4, false },           /* no such lead byte */
        { "\x80", 1, false },                       /* lone continuation */
        { "\xc3", 1, false },                       /* cut short */
        { "\xe2\x82", 2, false },                   /* cut short */
        { "\xc3\x28", 2, false },                   /* bad continuation */
        { "\xff", 1, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (api_utf8_text(cases[i].s, cases[i].len) != cases[i].ok)
            fail_msg("case %zu: expected %s", i, cases[i].ok ? "valid" : "invalid");
}

static void idempotency_keys_are_short_printable_ascii(void **state)
{
    assert_true(api_idem_key_valid("k"));
    assert_true(api_idem_key_valid("order-42/attempt 1"));
    assert_true(api_idem_key_valid("~!@#$%^&*()"));
    assert_false(api_idem_key_valid(""));
    assert_false(api_idem_key_valid(NULL));
    assert_false(api_idem_key_valid("tab\there"));
    assert_false(api_idem_key_valid("line\n"));
    assert_false(api_idem_key_valid("del\x7f"));
    assert_false(api_idem_key_valid("caf\xc3\xa9"));
    char *max = repeat("k", API_IDEM_KEY_MAX), *over = repeat("k", API_IDEM_KEY_MAX + 1);
    assert_true(api_idem_key_valid(max));
    assert_false(api_idem_key_valid(over));
    free(max);
    free(over);
}

/* ---- query values ---- */

static void wait_parses_seconds_into_ms(void **state)
{
    sp_error err = SP_ERROR_INIT;
    int64_t ms = -1;
    assert_int_equal(api_parse_wait(NULL, 60, &ms, &err), SP_OK);
    assert_int_equal(ms, 0);
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {
        { "0", 0 },     { "30", 30000 }, { "0.5", 500 }, { ".5", 500 },     { "1.", 1000 },
        { "0.0001", 1 }, /* a fraction of a ms still waits: rounded up */
        { "1.0005", 1001 }, { "60", 60000 }, { "007", 7000 },
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        assert_int_equal(api_parse_wait(good[i].s, 60, &ms, &err), SP_OK);
        if (ms != good[i].ms)
            fail_msg("wait=%s: %lld ms, expected %lld", good[i].s, (long long)ms,
                     (long long)good[i].ms);
    }
    assert_int_equal(err.code, SP_OK);
}

static void wait_is_capped_at_the_maximum(void **state)
{
    sp_error err = SP_ERROR_INIT;
    int64_t ms;
    assert_int_equal(api_parse_wait("61", 60, &ms, &err), SP_OK);
    assert_int_equal(ms, 60000);
    assert_int_equal(api_parse_wait("99999999999999999999", 60, &ms, &err), SP_OK);
    assert_int_equal(ms, 60000);
    assert_int_equal(api_parse_wait("10", 5, &ms, &err), SP_OK);
    assert_int_equal(ms, 5000);
    /* no configured maximum: API_DEFAULT_MAX_WAIT_S */
    assert_int_equal(api_parse_wait("3600", 0, &ms, &err), SP_OK);
    assert_int_equal(ms, API_DEFAULT_MAX_WAIT_S * 1000);
}

static void wait_refuses_anything_but_plain_decimals(void **state)
{
    sp_error err = SP_ERROR_INIT;
    int64_t ms = 123;
    const char *bad[] = { "", ".", "-1", "+1", " 1", "1 ", "1e3", "0x10", "inf", "nan", "1.2.3",
                          "30s", "abc", "1,5", NULL };
    for (int i = 0; bad[i]; i++) {
        if (api_parse_wait(bad[i], 60, &ms, &err) != SP_EBADINPUT)
            fail_msg("wait=\"%s\" accepted", bad[i]);
        assert_int_equal(ms, 0);
        expect_error(&err, SP_EBADINPUT, "wait:", "non-negative number of seconds", NULL);
    }
    /* 33 characters is too long even when they are digits */
    char *digits = repeat("1", 33);
    assert_int_equal(api_parse_wait(digits, 60, &ms, &err), SP_EBADINPUT);
    sp_error_clear(&err);
    digits[32] = '\0';
    assert_int_equal(api_parse_wait(digits, 60, &ms, &err), SP_OK);
    free(digits);
}

static void limit_defaults_and_caps(void **state)
{
    sp_error err = SP_ERROR_INIT;
    int n = -1;
    assert_int_equal(api_parse_limit(NULL, 50, 1000, &n, &err), SP_OK);
    assert_int_equal(n, 50);
    assert_int_equal(api_parse_limit("1", 50, 1000, &n, &err), SP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(api_parse_limit("1000", 50, 1000, &n, &err), SP_OK);
    assert_int_equal(n, 1000);
    assert_int_equal(api_parse_limit("1001", 50, 1000, &n, &err), SP_OK);
    assert_int_equal(n, 1000);
    assert_int_equal(api_parse_limit("9223372036854775807", 50, 1000, &n, &err), SP_OK);
    assert_int_equal(n, 1000);
    const char *bad[] = { "0", "-1", "", "ten", "1.5", " 5", "5 ", "99999999999999999999",
                          "9223372036854775808", NULL };
    for (int i = 0; bad[i]; i++) {
        if (api_parse_limit(bad[i], 50, 1000, &n, &err) != SP_EBADINPUT)
            fail_msg("limit=\"%s\" accepted", bad[i]);
        expect_error(&err, SP_EBADINPUT, "limit:", "integer of at least 1", NULL);
    }
}

static void counts_are_non_negative_integers_named_in_errors(void **state)
{
    sp_error err = SP_ERROR_INIT;
    int64_t v = -1;
    assert_int_equal(api_parse_count(NULL, "after", 7, &v, &err), SP_OK);
    assert_int_equal(v, 7);
    assert_int_equal(api_parse_count("0", "after", 7, &v, &err), SP_OK);
    assert_int_equal(v, 0);
    assert_int_equal(api_parse_count("42", "version", 0, &v, &err), SP_OK);
    assert_int_equal(v, 42);
    assert_int_equal(api_parse_count("9223372036854775807", "after", 0, &v, &err), SP_OK);
    assert_true(v == INT64_MAX);
    const char *bad[] = { "-1", "", "1e2", "0x1", "3.0", "9223372036854775808", NULL };
    for (int i = 0; bad[i]; i++) {
        if (api_parse_count(bad[i], "after", 0, &v, &err) != SP_EBADINPUT)
            fail_msg("after=\"%s\" accepted", bad[i]);
        expect_error(&err, SP_EBADINPUT, "after: expected a non-negative integer", NULL);
    }
    assert_int_equal(api_parse_count("x", "version", 0, &v, &err), SP_EBADINPUT);
    expect_error(&err, SP_EBADINPUT, "version:", NULL);
}

static void workflow_formats_come_from_the_content_type(void **state)
{
    static const struct {
        const char *ct;
        const char *format;
    } cases[] = {
        { "application/yaml", "yaml" },
        { "application/x-yaml", "yaml" },
        { "text/yaml", "yaml" },
        { "text/x-yaml", "yaml" },
        { "application/json", "json" },
        { "Application/JSON", "json" },
        { "application/json; charset=utf-8", "json" },
        { "  application/yaml;charset=utf-8", "yaml" },
        { "application/jsonx", NULL },
        { "application/json-patch+json", NULL },
        { "text/plain", NULL },
        { "application", NULL },
        { "", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *got = api_workflow_format(cases[i].ct);
        if (cases[i].format ? !got || strcmp(got, cases[i].format) != 0 : got != NULL)
            fail_msg("Content-Type \"%s\": got %s", cases[i].ct, got ? got : "NULL");
    }
    assert_null(api_workflow_format(NULL));
}

static void long_polls_wait_in_running_or_pending(void **state)
{
    json_t *run = json_pack("{s:s}", "status", "running");
    json_t *waiting = json_pack("{s:s}", "status", "waiting");
    json_t *gate = json_pack("{s:s}", "status", "pending");
    json_t *approved = json_pack("{s:s}", "status", "approved");
    json_t *none = json_object();
    assert_true(api_lp_still_waiting("run", run));
    assert_false(api_lp_still_waiting("run", waiting));
    assert_false(api_lp_still_waiting("run", gate));
    assert_true(api_lp_still_waiting("approval", gate));
    assert_false(api_lp_still_waiting("approval", approved));
    assert_false(api_lp_still_waiting("approval", run));
    assert_false(api_lp_still_waiting("run", none));
    assert_false(api_lp_still_waiting("run", NULL));
    json_decref(run);
    json_decref(waiting);
    json_decref(gate);
    json_decref(approved);
    json_decref(none);
}

/* ---- buf.c ---- */

static char *csv_of(const char *s)
{
    api_buf b = { 0 };
    api_buf_csv(&b, s);
    size_t len;
    return api_buf_take(&b, &len);
}

static void csv_fields_are_quoted_only_when_needed(void **state)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        { "plain", "plain" },
        { "", "" },
        { "a,b", "\"a,b\"" },
        { "say \"hi\"", "\"say \"\"hi\"\"\"" },
        { "two\nlines", "\"two\nlines\"" },
        { "cr\r", "\"cr\r\"" },
        { " edge", "\" edge\"" },
        { "edge ", "\"edge \"" },
        { "in side", "in side" },
        { "{\"a\":1}", "\"{\"\"a\"\":1}\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = csv_of(cases[i].in);
        assert_non_null(got);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
    char *absent = csv_of(NULL);
    assert_string_equal(absent, "");
    free(absent);
}

static void an_origin_is_this_server_only_by_scheme_host_and_port(void **state)
{
    (void)state;
    assert_true(api_origin_same("http://127.0.0.1:8080", "127.0.0.1:8080", false));
    assert_true(api_origin_same("HTTP://Spojit.Example.COM", "spojit.example.com", false));
    /* the default port, written or not, on either side */
    assert_true(api_origin_same("http://spojit.example:80", "spojit.example", false));
    assert_true(api_origin_same("https://spojit.example", "spojit.example:443", true));
    assert_true(api_origin_same("http://[::1]:8080", "[::1]:8080", false));
    /* another scheme, host or port */
    assert_false(api_origin_same("https://127.0.0.1:8080", "127.0.0.1:8080", false));
    assert_false(api_origin_same("http://spojit.example", "spojit.example", true));
    assert_false(api_origin_same("http://evil.example:8080", "127.0.0.1:8080", false));
    assert_false(api_origin_same("http://127.0.0.1:8081", "127.0.0.1:8080", false));
    assert_false(api_origin_same("http://127.0.0.1", "127.0.0.1:8080", false));
    assert_false(api_origin_same("http://[::1]:8081", "[::1]:8080", false));
    /* not an origin at all, or nothing to compare with */
    assert_false(api_origin_same("null", "127.0.0.1:8080", false));
    assert_false(api_origin_same("", "127.0.0.1:8080", false));
    assert_false(api_origin_same("http://", "", false));
    assert_false(api_origin_same("http://127.0.0.1:8080/", "127.0.0.1:8080", false));
    assert_false(api_origin_same("http://user@127.0.0.1:8080", "127.0.0.1:8080", false));
    assert_false(api_origin_same("http://127.0.0.1:99999", "127.0.0.1:99999", false));
    assert_false(api_origin_same("http://127.0.0.1:", "127.0.0.1:", false));
    assert_false(api_origin_same("http://127.0.0.1:8080", NULL, false));
    assert_false(api_origin_same(NULL, "127.0.0.1:8080", false));
    assert_false(api_origin_same("http://[::1:8080", "[::1:8080", false));
}

static void buffers_grow_and_stay_terminated(void **state)
{
    api_buf b = { 0 };
    size_t len = 99;
    char *empty = api_buf_take(&b, &len);
    assert_non_null(empty);
    assert_int_equal(len, 0);
    assert_string_equal(empty, "");
    free(empty);

    char *big = repeat("x", 1000);
    api_buf_printf(&b, "%d-", 42);
    api_buf_printf(&b, "%s", big);             /* longer than the 256-byte fast path */
    api_buf_puts(&b, "|");
    api_buf_add(&b, "tail", 2);
    assert_false(b.oom);
    assert_int_equal(b.len, 3 + 1000 + 1 + 2);
    assert_true(b.len < b.cap);
    assert_int_equal(b.data[b.len], '\0');
    char *text = api_buf_take(&b, &len);
    assert_int_equal(len, 1006);
    assert_memory_equal(text, "42-xxx", 6);
    assert_string_equal(text + 1003, "|ta");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(text);
    free(big);
    api_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fields_accept_a_body_within_every_rule),
        cmocka_unit_test(fields_refuse_unknown_members_by_name),
        cmocka_unit_test(fields_require_required_members),
        cmocka_unit_test(fields_refuse_what_is_not_an_object),
        cmocka_unit_test(fields_check_each_type),
        cmocka_unit_test(fields_string_and_text_differ_on_empty),
        cmocka_unit_test(fields_count_characters_not_bytes),
        cmocka_unit_test(fields_refuse_nul_characters),
        cmocka_unit_test(fields_enforce_integer_and_list_limits),
        cmocka_unit_test(fields_name_where_the_object_is),
        cmocka_unit_test(words_accept_only_their_list),
        cmocka_unit_test(names_follow_the_name_rule),
        cmocka_unit_test(emails_need_one_at_and_no_spaces),
        cmocka_unit_test(assignees_are_user_or_team_names),
        cmocka_unit_test(assignee_lists_are_non_empty_and_bounded),
        cmocka_unit_test(utf8_text_accepts_valid_sequences_only),
        cmocka_unit_test(idempotency_keys_are_short_printable_ascii),
        cmocka_unit_test(wait_parses_seconds_into_ms),
        cmocka_unit_test(wait_is_capped_at_the_maximum),
        cmocka_unit_test(wait_refuses_anything_but_plain_decimals),
        cmocka_unit_test(limit_defaults_and_caps),
        cmocka_unit_test(counts_are_non_negative_integers_named_in_errors),
        cmocka_unit_test(workflow_formats_come_from_the_content_type),
        cmocka_unit_test(long_polls_wait_in_running_or_pending),
        cmocka_unit_test(csv_fields_are_quoted_only_when_needed),
        cmocka_unit_test(buffers_grow_and_stay_terminated),
        cmocka_unit_test(an_origin_is_this_server_only_by_scheme_host_and_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
