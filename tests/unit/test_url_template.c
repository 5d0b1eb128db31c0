/*
 * test_url_template.c - URL templates (expr/url.c, expr/template.c): where
 * a part sits, what it is encoded as, and what is refused at compile and
 * at render time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "expr/expr_internal.h"

static void encode_is(const char *text, const char *want)
{
    char *got = expr_url_encode(text);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* Everything but the unreserved characters becomes %XX, so a value cannot
 * add a segment, a query, a fragment or userinfo. */
static void the_encoder_keeps_only_unreserved_characters(void **state)
{
    encode_is("ch_1/../../../../../v1/workflows?",
              "ch_1%2F..%2F..%2F..%2F..%2F..%2Fv1%2Fworkflows%3F");
    encode_is("@evil.example/x", "%40evil.example%2Fx");
    encode_is("a b&c=d#e+f%", "a%20b%26c%3Dd%23e%2Bf%25");
    encode_is("AZaz09-._~", "AZaz09-._~");
    encode_is("\xc3\xa9:\\", "%C3%A9%3A%5C");
    encode_is("", "");
}

static void positions_come_from_the_literal_text(void **state)
{
    assert_int_equal(expr_url_scan(EXPR_URL_SCHEME, ""), EXPR_URL_SCHEME);
    assert_int_equal(expr_url_scan(EXPR_URL_SCHEME, "https://"), EXPR_URL_AUTHORITY);
    assert_int_equal(expr_url_scan(EXPR_URL_SCHEME, "https://api.example.com:8443"),
                     EXPR_URL_AUTHORITY);
    assert_int_equal(expr_url_scan(EXPR_URL_SCHEME, "https://h/v1/"), EXPR_URL_PATH);
    assert_int_equal(expr_url_scan(EXPR_URL_SCHEME, "https://h?q="), EXPR_URL_QUERY);
    assert_int_equal(expr_url_scan(EXPR_URL_SCHEME, "https://h/a?q=1&r="), EXPR_URL_QUERY);
    assert_int_equal(expr_url_scan(EXPR_URL_SCHEME, "https://h/a?q#"), EXPR_URL_FRAGMENT);
    assert_int_equal(expr_url_scan(EXPR_URL_SCHEME, "https://h/a#x?y"), EXPR_URL_FRAGMENT);
    /* after configuration: "/" ends what it held */
    assert_int_equal(expr_url_scan(EXPR_URL_SCHEME, "/v1/charges/"), EXPR_URL_PATH);
    assert_int_equal(expr_url_scan(EXPR_URL_SCHEME, ":"), EXPR_URL_SCHEME);
    assert_int_equal(expr_url_scan(EXPR_URL_AUTHORITY, ":8080"), EXPR_URL_AUTHORITY);
    assert_int_equal(expr_url_scan(EXPR_URL_PATH, "?x="), EXPR_URL_QUERY);

    assert_true(expr_url_config_part(" $env.PAYMENTS_URL "));
    assert_true(expr_url_config_part("$secrets.host_1"));
    assert_false(expr_url_config_part(".input.sink"));
    assert_false(expr_url_config_part("$env.X + .input.y"));
    assert_false(expr_url_config_part("$env.X // .input.y"));
    assert_false(expr_url_config_part("$env."));
    assert_false(expr_url_config_part("$env.1X"));
    assert_false(expr_url_config_part("$environment"));
}

/* Compiles each URL template into one program. */
typedef struct {
    expr_program *p;
    expr_template *t[8];
} urls;

static void compile_all(urls *u, const char *const *src, int n)
{
    sp_error err = SP_ERROR_INIT;
    expr_builder *b = expr_builder_new();
    for (int i = 0; i < n; i++) {
        u->t[i] = expr_template_compile_url(b, src[i], &err);
        if (!u->t[i])
            fail_msg("%s: %s", src[i], err.message);
    }
    u->p = expr_builder_finish(b, &err);
    assert_non_null(u->p);
}

static void free_all(urls *u, int n)
{
    for (int i = 0; i < n; i++)
        expr_template_free(u->t[i]);
    expr_program_free(u->p);
}

/* Renders t with {input: {v: value}}; the string, or NULL with err. */
static char *render_with(const urls *u, int i, const char *value, json_t *env, sp_error *err)
{
    json_t *doc = json_pack("{s:{s:s}}", "input", "v", value);
    json_t *out = expr_template_render(u->t[i], u->p, doc, env, NULL, err);
    json_decref(doc);
    char *s = out ? strdup(json_string_value(out)) : NULL;
    json_decref(out);
    return s;
}

static void renders_as(const urls *u, int i, const char *value, json_t *env, const char *want)
{
    sp_error err = SP_ERROR_INIT;
    char *got = render_with(u, i, value, env, &err);
    if (!got)
        fail_msg("'%s' did not render: %s", value, err.message);
    assert_string_equal(got, want);
    free(got);
}

static void refused(const urls *u, int i, const char *value, json_t *env, const char *fragment)
{
    sp_error err = SP_ERROR_INIT;
    char *got = render_with(u, i, value, env, &err);
    if (got)
        fail_msg("'%s' rendered as '%s'", value, got);
    assert_int_equal(err.code, SP_EINVALID);
    if (!strstr(err.message, fragment))
        fail_msg("'%s' is refused with '%s', expected '%s'", value, err.message, fragment);
    sp_error_clear(&err);
}

/* The shipped example's url: the charge is one path segment whatever it
 * holds; configuration before the path goes in as it is. */
static void values_are_encoded_for_their_place(void **state)
{
    static const char *const src[] = {
        "{{ $env.PAYMENTS_URL }}/v1/charges/{{ .input.v }}",
        "https://api.example.com/search?q={{ .input.v }}&page=1#{{ .input.v }}",
        "{{ $env.PAYMENTS_URL }}",
        "https://{{ $env.HOST }}:{{ $env.PORT }}/a/{{ .input.v }}.json",
        "https://{{ $env.HOST }}/acct/{{ $env.ACCT }}/{{ .input.v }}?k={{ $env.ACCT }}",
    };
    urls u;
    compile_all(&u, src, 5);
    json_t *env = json_pack("{s:s, s:s, s:s, s:s}", "PAYMENTS_URL", "http://127.0.0.1:8080",
                            "HOST", "api.example.com", "PORT", "8443", "ACCT", "a/b+c");

    renders_as(&u, 0, "ch_1", env, "http://127.0.0.1:8080/v1/charges/ch_1");
    renders_as(&u, 0, "ch_1/../../../../../v1/workflows?", env,
               "http://127.0.0.1:8080/v1/charges/ch_1%2F..%2F..%2F..%2F..%2F..%2Fv1%2Fworkflows%3F");
    renders_as(&u, 0, "@evil.example/x", env, "http://127.0.0.1:8080/v1/charges/%40evil.example%2Fx");
    renders_as(&u, 0, "...", env, "http://127.0.0.1:8080/v1/charges/...");
    renders_as(&u, 0, "a..", env, "http://127.0.0.1:8080/v1/charges/a..");
    renders_as(&u, 1, "a&b=c#d", env,
               "https://api.example.com/search?q=a%26b%3Dc%23d&page=1#a%26b%3Dc%23d");
    renders_as(&u, 2, "ignored", env, "http://127.0.0.1:8080");
    renders_as(&u, 3, "x/y", env, "https://api.example.com:8443/a/x%2Fy.json");
    /* configuration goes in as it is anywhere (a secret must stay
     * findable by redaction); only the run's value is encoded */
    renders_as(&u, 4, "x/y", env, "https://api.example.com/acct/a/b+c/x%2Fy?k=a/b+c");

    /* a whole segment of dots, or none, would name another resource */
    refused(&u, 0, "..", env, "'..'");
    refused(&u, 0, ".", env, "'..'");
    refused(&u, 0, "", env, "empty");

    /* configuration that is not an http(s) URL with a host */
    json_t *ftp = json_pack("{s:s}", "PAYMENTS_URL", "ftp://files.example.com");
    refused(&u, 0, "ch_1", ftp, "http:// or https://");
    json_decref(ftp);
    refused(&u, 2, "x", NULL, "http:// or https://");       /* unset: null */
    json_decref(env);
    free_all(&u, 5);
}

/* Defence in depth: configuration that leaves the authority open is caught
 * when a value from the run would fill it. */
static void a_value_cannot_become_the_host(void **state)
{
    static const char *const src[] = {
        "{{ $env.BASE }}/{{ .input.v }}",
        "{{ $env.BASE }}//{{ .input.v }}",
    };
    urls u;
    compile_all(&u, src, 2);
    json_t *good = json_pack("{s:s}", "BASE", "https://api.example.com");
    json_t *open = json_pack("{s:s}", "BASE", "https:/");
    json_t *bare = json_pack("{s:s}", "BASE", "https:");
    renders_as(&u, 0, "evil.example", good, "https://api.example.com/evil.example");
    refused(&u, 0, "evil.example", open, "scheme or host");
    refused(&u, 1, "evil.example", bare, "scheme or host");
    json_decref(good);
    json_decref(open);
    json_decref(bare);
    free_all(&u, 2);
}

/* Run data before the end of the authority is refused when the template is
 * compiled, i.e. when the workflow is applied. */
static void run_data_before_the_host_ends_is_refused(void **state)
{
    static const char *const bad[] = {
        "{{ .input.sink }}/v1/refunds",
        "https://api.example.com{{ .input.v }}",
        "http://127.0.0.1:{{ $env.PORT }}{{ .input.v }}",
        "{{ $env.BASE }}{{ .input.v }}",
        "https://{{ $env.HOST }}:{{ .input.port }}/",
        "{{ $env.BASE // .input.base }}/x",
        "{{ .input.scheme }}://api.example.com/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sp_error err = SP_ERROR_INIT;
        expr_builder *b = expr_builder_new();
        expr_template *t = expr_template_compile_url(b, bad[i], &err);
        if (t)
            fail_msg("%s compiled", bad[i]);
        assert_int_equal(err.code, SP_EINVALID);
        assert_non_null(strstr(err.message, "before the end of the URL's host"));
        sp_error_clear(&err);
        expr_builder_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_encoder_keeps_only_unreserved_characters),
        cmocka_unit_test(positions_come_from_the_literal_text),
        cmocka_unit_test(values_are_encoded_for_their_place),
        cmocka_unit_test(a_value_cannot_become_the_host),
        cmocka_unit_test(run_data_before_the_host_ends_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
