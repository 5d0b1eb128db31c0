/* test_expr.c - jq expressions and templates (expr/), against real libjq. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "expr/expr_internal.h"

static json_t *doc(void)
{
    return json_pack("{s:{s:i, s:s, s:b}, s:{s:{s:s, s:{s:f}}}}",
                     "input", "amount", 612, "customer", "c_42", "vip", 1,
                     "steps", "draft", "status", "completed", "output", "amount", 12.5);
}

/* Builds a program from sources; idx[i] receives each index. */
static expr_program *program(const char *const *sources, int n, int *idx)
{
    sp_error err = SP_ERROR_INIT;
    expr_builder *b = expr_builder_new();
    assert_non_null(b);
    for (int i = 0; i < n; i++) {
        idx[i] = expr_builder_add(b, sources[i], &err);
        assert_int_equal(idx[i], i);
    }
    expr_program *p = expr_builder_finish(b, &err);
    assert_non_null(p);
    return p;
}

static void evaluates_each_expression_by_index(void **state)
{
    const char *src[] = { ".input.amount > 500", ".input.customer", ".steps.draft.output.amount * 2",
                          "[.input.amount, $env.region]", "empty", "{a: {b: 1}} | .a.b" };
    int idx[6];
    expr_program *p = program(src, 6, idx);
    json_t *d = doc(), *env = json_pack("{s:s}", "region", "eu");
    sp_error err = SP_ERROR_INIT;

    json_t *v = expr_eval(p, idx[0], d, NULL, NULL, &err);
    assert_true(json_is_true(v));
    json_decref(v);
    v = expr_eval(p, idx[1], d, NULL, NULL, &err);
    assert_string_equal(json_string_value(v), "c_42");
    json_decref(v);
    v = expr_eval(p, idx[2], d, NULL, NULL, &err);
    assert_true(json_is_integer(v));            /* 25.0 comes back whole */
    assert_int_equal(json_integer_value(v), 25);
    json_decref(v);
    v = expr_eval(p, idx[3], d, env, NULL, &err);
    assert_int_equal(json_integer_value(json_array_get(v, 0)), 612);
    assert_string_equal(json_string_value(json_array_get(v, 1)), "eu");
    json_decref(v);
    v = expr_eval(p, idx[4], d, NULL, NULL, &err);   /* no output: null */
    assert_true(json_is_null(v));
    json_decref(v);
    v = expr_eval(p, idx[5], d, NULL, NULL, &err);
    assert_int_equal(json_integer_value(v), 1);
    json_decref(v);
    assert_null(expr_eval(p, 6, d, NULL, NULL, &err));   /* out of range */
    sp_error_clear(&err);

    json_decref(env);
    json_decref(d);
    expr_program_free(p);
}

static void many_expressions_dispatch_correctly(void **state)
{
    enum { N = 300 };
    char src[N][32];
    const char *ptrs[N];
    int idx[N];
    for (int i = 0; i < N; i++) {
        snprintf(src[i], sizeof src[i], ".input.amount + %d", i);
        ptrs[i] = src[i];
    }
    expr_program *p = program(ptrs, N, idx);
    json_t *d = doc();
    sp_error err = SP_ERROR_INIT;
    for (int i = 0; i < N; i += 37) {
        json_t *v = expr_eval(p, idx[i], d, NULL, NULL, &err);
        assert_int_equal(json_integer_value(v), 612 + i);
        json_decref(v);
    }
    json_decref(d);
    expr_program_free(p);
}

typedef struct {
    int idx[8];
    char message[8][256];
    int n;
} problems;

static void collect(void *ctx, int idx, const char *message)
{
    problems *p = ctx;
    if (p->n < 8) {
        p->idx[p->n] = idx;
        snprintf(p->message[p->n], sizeof p->message[p->n], "%s", message);
        p->n++;
    }
}

/* Messages speak of the expression as written: quoted, with a place in
 * it, and nothing of the wrapper expr.c compiles it in. */
static void syntax_errors_are_in_the_authors_terms(void **state)
{
    (void)state;
    const struct {
        const char *src;
        const char *want;
    } cases[] = {
        { ".a +* 2", "in `.a +* 2`: syntax error, unexpected '*' at column 5" },
        { ".amount >", "in `.amount >`: syntax error, unexpected end of the expression" },
        { ".a[", "in `.a[`: syntax error, unexpected end of the expression" },
        { ".a )", "in `.a )`: syntax error, unexpected character, expecting the end of the "
                  "expression at column 4" },
        { ".x | $nope", "in `.x | $nope`: $nope is not defined at column 6" },
        { ".a |\n .b | +", "in `.a |  .b | +`: syntax error, unexpected '+' at line 2, column 7" },
        { "\"abc", "in `\"abc`: syntax error, unexpected end of the expression" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        expr_builder *b = expr_builder_new();
        sp_error err = SP_ERROR_INIT;
        assert_int_equal(expr_builder_add(b, "$env.X | $secrets.y", &err), 0);
        assert_int_equal(expr_builder_add(b, cases[k].src, &err), 1);
        problems found = { 0 };
        assert_int_equal(expr_builder_check(b, collect, &found), SP_EINVALID);
        assert_int_equal(found.n, 1);
        assert_int_equal(found.idx[0], 1);
        assert_null(strstr(found.message[0], "$__"));
        assert_null(strstr(found.message[0], "<top-level>"));
        assert_string_equal(found.message[0], cases[k].want);
        expr_builder_free(b);
    }
}

static void syntax_errors_name_each_bad_expression(void **state)
{
    expr_builder *b = expr_builder_new();
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(expr_builder_add(b, ".input.amount", &err), 0);
    assert_int_equal(expr_builder_add(b, ".input.amount >", &err), 1);
    /* A trailing comment does not swallow the wrapper's parenthesis. */
    assert_int_equal(expr_builder_add(b, ".input # the input", &err), 2);
    assert_int_equal(expr_builder_add(b, "nosuchfunction(1)", &err), 3);
    json_t *tpl = json_string("Hi {{ .a | }}");
    expr_template *t = expr_template_compile(b, tpl, &err);
    assert_non_null(t);
    assert_int_equal(expr_builder_count(b), 5);

    problems found = { 0 };
    assert_int_equal(expr_builder_check(b, collect, &found), SP_EINVALID);
    assert_int_equal(found.n, 3);
    assert_int_equal(found.idx[0], 1);
    assert_non_null(strstr(found.message[0], "syntax error"));
    assert_null(strstr(found.message[0], "jq: error"));
    assert_int_equal(found.idx[1], 3);
    assert_non_null(strstr(found.message[1], "nosuchfunction"));
    assert_int_equal(found.idx[2], 4);
    assert_non_null(strstr(found.message[2], "in {{ .a | }}"));
    assert_null(expr_builder_finish(b, &err));
    assert_int_equal(err.code, SP_EINVALID);
    sp_error_clear(&err);
    expr_template_free(t);
    json_decref(tpl);

    /* Good expressions: checked once, and finish reuses that compile. */
    b = expr_builder_new();
    assert_int_equal(expr_builder_add(b, ".input # the input", &err), 0);
    found.n = 0;
    assert_int_equal(expr_builder_check(b, collect, &found), SP_OK);
    assert_int_equal(found.n, 0);
    expr_program *p = expr_builder_finish(b, &err);
    assert_non_null(p);
    expr_program_free(p);
}

static void outside_builtins_are_refused(void **state)
{
    const char *bad[] = { "env.HOME", "$ENV.PATH", "input", "[inputs]", "debug", ". | stderr",
                          "halt", "halt_error", "input_filename", "\"\\(env)\"",
                          "import \"x\" as x; .", "$__loc__",
                          /* found by fuzzing: a slice looks like a key, a comment or
                           * space may sit between '$' and the name */
                          "null | path(.[env:]) | .[0].start", ".[1, env:]", "$#x\n ENV",
                          "$ ENV", "$\t__loc__", "{a: .[env:]}", "{(env): 1}", ". as $x | env",
                          "[.[] | env]", "\"\\(.a) \\(env)\"", "def f: env; f",
                          "_input", "first(_input)" };
    const char *good[] = { ".env", "{env: 1}", "\"env\"", "$env", ".input | .halt",
                           "\"say \\(.input.customer)\"", "# env\n.", "{a: 1, env: 2}",
                           "{a: 1,\n # c\n env: 2}", "def env: 1; 2", ".a.env", "{\"env\": 1}",
                           ". as $env | $env", "{halt: .x, input: [1]} | .input" };
    sp_error err = SP_ERROR_INIT;
    expr_builder *b = expr_builder_new();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(expr_builder_add(b, bad[i], &err), -1);
        assert_non_null(strstr(err.message, "not available"));
        sp_error_clear(&err);
    }
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int k = expr_builder_add(b, good[i], &err);
        if (k < 0)
            fail_msg("%s refused: %s", good[i], err.message);
    }
    expr_builder_free(b);
}

typedef struct {
    json_t *doc, *result;
    sp_error err;
} deep_eval;

/* Builds, evaluates and frees its own program: a state the time limit
 * stopped mid-build still holds the deep value, which libjq frees
 * recursively at the next start or the teardown - so those happen here. */
static void *eval_on_big_stack(void *arg)
{
    deep_eval *j = arg;
    const char *src[] = { "reduce range(300000) as $i (null; [.])" };
    int idx[1];
    expr_program *p = program(src, 1, idx);
    j->result = expr_eval(p, idx[0], j->doc, NULL, NULL, &j->err);
    expr_program_free(p);
    return NULL;
}

/* Found by fuzzing: a result nested hundreds of thousands of levels deep
 * crashed the server (recursive frees and dumps). It is refused, and freed
 * without recursion; a shallow one still comes through. */
static void results_nested_too_deep_are_refused_not_crashed_on(void **state)
{
    const char *src[] = { "reduce range(5000) as $i (null; [.])",
                          "reduce range(300) as $i (null; {a: .})",
                          "reduce range(200) as $i (null; [.]) | [.] | length" };
    int idx[3];
    expr_program *p = program(src, 3, idx);
    json_t *d = doc();
    sp_error err = SP_ERROR_INIT;
    for (int i = 0; i < 2; i++) {
        assert_null(expr_eval(p, idx[i], d, NULL, NULL, &err));
        assert_int_equal(err.code, SP_EINVALID);
        assert_non_null(strstr(err.message, "nested deeper than 256 levels"));
        sp_error_clear(&err);
    }
    /* 300,000 levels: refused as too deep, or - under a slow checker such
     * as valgrind - stopped by the time limit first; never a crash. On a
     * thread with the engine's large stack, as in the server: libjq's own
     * frees recurse as deep as the value. (One thread at a time uses
     * libjq: this one waits.) */
    deep_eval job = { .doc = d };
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)1 << 30);
    assert_int_equal(pthread_create(&t, &attr, eval_on_big_stack, &job), 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    assert_null(job.result);
    assert_true(strstr(job.err.message, "nested deeper") || strstr(job.err.message, "longer than"));
    sp_error_clear(&job.err);
    json_t *v = expr_eval(p, idx[2], d, NULL, NULL, &err);
    assert_int_equal(json_integer_value(v), 1);
    json_decref(v);
    json_decref(d);
    expr_program_free(p);
}

static void runtime_errors_and_runaways_fail_cleanly(void **state)
{
    const char *src[] = { ".input.customer + 1", "error(\"nope\")", "def f: f; f", "error({a: 1})",
                          ".input.amount" };
    int idx[5];
    expr_program *p = program(src, 5, idx);
    json_t *d = doc();
    sp_error err = SP_ERROR_INIT;

    assert_null(expr_eval(p, idx[0], d, NULL, NULL, &err));
    assert_int_equal(err.code, SP_EINVALID);
    assert_non_null(strstr(err.message, "cannot be added"));
    sp_error_clear(&err);
    assert_null(expr_eval(p, idx[1], d, NULL, NULL, &err));
    assert_string_equal(err.message, "nope");
    sp_error_clear(&err);
    assert_null(expr_eval(p, idx[2], d, NULL, NULL, &err));
    assert_non_null(strstr(err.message, "longer than"));
    sp_error_clear(&err);
    assert_null(expr_eval(p, idx[2], d, NULL, NULL, &err));   /* and again */
    assert_non_null(strstr(err.message, "longer than"));
    sp_error_clear(&err);
    assert_null(expr_eval(p, idx[3], d, NULL, NULL, &err));
    assert_non_null(strstr(err.message, "\"a\""));
    sp_error_clear(&err);
    /* The program is still usable after all that. */
    json_t *v = expr_eval(p, idx[4], d, NULL, NULL, &err);
    assert_int_equal(json_integer_value(v), 612);
    json_decref(v);
    json_decref(d);
    expr_program_free(p);
}

static void templates_keep_types_and_splice_text(void **state)
{
    sp_error err = SP_ERROR_INIT;
    expr_builder *b = expr_builder_new();
    json_t *whole = json_string("{{ .input.amount }}");
    json_t *mixed = json_string("Refund of ${{ .input.amount }} to {{.input.customer}} ({{ {vip: .input.vip} }})");
    json_t *nested = json_pack("{s:[s, i], s:s}", "list", "{{ .input.vip }}", 7, "plain", "no parts");
    json_t *constant = json_string("just text");
    expr_template *t1 = expr_template_compile(b, whole, &err);
    expr_template *t2 = expr_template_compile(b, mixed, &err);
    expr_template *t3 = expr_template_compile(b, nested, &err);
    expr_template *t4 = expr_template_compile(b, constant, &err);
    assert_non_null(t1);
    assert_non_null(t2);
    assert_non_null(t3);
    assert_non_null(t4);
    assert_true(expr_template_is_dynamic(t1));
    assert_false(expr_template_is_dynamic(t4));
    expr_program *p = expr_builder_finish(b, &err);
    assert_non_null(p);

    json_t *d = doc();
    json_t *v = expr_template_render(t1, p, d, NULL, NULL, &err);
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 612);
    json_decref(v);
    v = expr_template_render(t2, p, d, NULL, NULL, &err);
    assert_string_equal(json_string_value(v), "Refund of $612 to c_42 ({\"vip\":true})");
    json_decref(v);
    v = expr_template_render(t3, p, d, NULL, NULL, &err);
    assert_true(json_is_true(json_array_get(json_object_get(v, "list"), 0)));
    assert_int_equal(json_integer_value(json_array_get(json_object_get(v, "list"), 1)), 7);
    assert_string_equal(json_string_value(json_object_get(v, "plain")), "no parts");
    json_decref(v);
    v = expr_template_render(t4, p, d, NULL, NULL, &err);
    assert_string_equal(json_string_value(v), "just text");
    json_decref(v);

    json_decref(d);
    json_decref(whole);
    json_decref(mixed);
    json_decref(nested);
    json_decref(constant);
    expr_template_free(t1);
    expr_template_free(t2);
    expr_template_free(t3);
    expr_template_free(t4);
    expr_program_free(p);
}

static void bad_templates_name_the_part(void **state)
{
    sp_error err = SP_ERROR_INIT;
    expr_builder *b = expr_builder_new();
    json_t *unclosed = json_string("Hello {{ .input.customer");
    json_t *broken = json_string("Hello {{ .input. + }}");
    json_t *empty = json_string("Hello {{ }}");
    assert_null(expr_template_compile(b, unclosed, &err));
    assert_non_null(strstr(err.message, "no closing }}"));
    sp_error_clear(&err);
    expr_template *later = expr_template_compile(b, broken, &err);
    assert_non_null(later);         /* compile errors come from the check */
    expr_template_free(later);
    assert_null(expr_template_compile(b, empty, &err));
    assert_non_null(strstr(err.message, "empty"));
    sp_error_clear(&err);
    json_decref(unclosed);
    json_decref(broken);
    json_decref(empty);
    expr_builder_free(b);
}

static void limits_are_enforced(void **state)
{
    sp_error err = SP_ERROR_INIT;
    expr_builder *b = expr_builder_new();
    char *big = malloc(EXPR_MAX_LENGTH + 2);
    memset(big, ' ', EXPR_MAX_LENGTH + 1);
    big[0] = '.';
    big[EXPR_MAX_LENGTH + 1] = '\0';
    assert_int_equal(expr_builder_add(b, big, &err), -1);
    assert_non_null(strstr(err.message, "limit"));
    sp_error_clear(&err);
    free(big);
    expr_builder_free(b);
    assert_false(expr_truthy(json_null()));
    assert_false(expr_truthy(json_false()));
    assert_false(expr_truthy(NULL));
    json_t *zero = json_integer(0);
    assert_true(expr_truthy(zero));             /* jq: 0 is true */
    json_decref(zero);
}


/* A deep array value: n nested arrays around 1. */
static json_t *nested(int n)
{
    json_t *v = json_integer(1);
    for (int i = 0; i < n; i++) {
        json_t *a = json_array();
        json_array_append_new(a, v);
        v = a;
    }
    return v;
}

/* Simple expressions are answered without jq (simple.c); "(...)" around
 * one is not simple, so it goes through jq: both must agree on every
 * value, or the simple one declines and jq answers. */
static void simple_expressions_give_what_jq_gives(void **state)
{
    const char *exprs[] = {
        /* paths */
        ".input.x", ".input.x.y", ".input.missing.y", ".input.n.y", ".input.s.y",
        ".input.arr.y", ".input.t.y", ".input.f.y", ".input.big", ".input.whole", ".input.half",
        ".input.obj", ".input.s", ".input.deep256", ".input.deep257", ".input",
        "  .input.obj.b2 ",
        /* objects of paths and literals */
        "{a: .input.n, b: \"lit\", c: 1.5, d: true, e: null, f: .input.missing}",
        "{\"quoted key\": .input.s}", "{a: 1, b: 2, a: 3}", "{}", "{a: {b: .input.obj}}",
        "{a: .input.n.y}", "{a: .input.n.y, b: .input.s.z}", "{a: .input.deep256}",
        "{x: 612, y: 1.0, z: 9007199254740993, w: 0.1}",
        /* comparisons of scalars */
        ".input.n > 4", ".input.n >= 5", ".input.n < 5.5", ".input.n <= 4", ".input.n == 5",
        ".input.n == 5.0", ".input.n != 5", ".input.whole == 1", ".input.half != 1.5",
        ".input.x == null", ".input.missing == null", ".input.t == true", ".input.f == false",
        ".input.t > .input.f", ".input.x < .input.f", ".input.obj.b2 == \"two\"",
        ".input.obj.b2 != \"two\"", ".input.n > \"5\"", ".input.x < 0", ".input.big == 9007199254740992",
        "1 == 1", "\"a\" == \"a\"", "null < false", "true >= 1",
        /* where jq's rules take more: declined, answered by jq */
        ".input.obj.b2 > \"abc\"", ".input.arr == .input.arr", ".input.obj == {}",
        ".input.n.y == 1", ".input.s.a == .input.n.b",
    };
    enum { N = sizeof exprs / sizeof *exprs };
    const char *src[2 * N];
    char wrapped[N][160];
    for (int i = 0; i < N; i++) {
        snprintf(wrapped[i], sizeof wrapped[i], "(%s)", exprs[i]);
        src[i] = exprs[i];
        src[N + i] = wrapped[i];
        expr_simple *parsed = expr_simple_parse(exprs[i]);
        if (!parsed)
            fail_msg("%s: not parsed as simple", exprs[i]);
        expr_simple_free(parsed);
        assert_null(expr_simple_parse(wrapped[i]));
    }
    int idx[2 * N];
    expr_program *p = program(src, 2 * N, idx);
    json_t *doc = json_pack("{s:{s:n, s:i, s:s#, s:[i], s:b, s:b, s:I, s:f, s:f, s:{s:i, s:s, s:i, s:[]}, "
                            "s:o, s:o}}", "input", "x", "n", 5, "s", "\xc3\xa9\0z", 4,
                            "arr", 1, "t", 1, "f", 0, "big", (json_int_t)9007199254740993LL,
                            "whole", 1.0, "half", 1.5, "obj", "z", 1, "b2", "two", "a", 3, "e",
                            "deep256", nested(255), "deep257", nested(256));
    for (int i = 0; i < N; i++) {
        sp_error e1 = SP_ERROR_INIT, e2 = SP_ERROR_INIT;
        json_t *fast = expr_eval(p, idx[i], doc, NULL, NULL, &e1);
        json_t *slow = expr_eval(p, idx[N + i], doc, NULL, NULL, &e2);
        if (!fast || !slow) {
            if (fast || slow)
                fail_msg("%s: %s / %s", exprs[i], e1.message, e2.message);
            if (strcmp(e1.message, e2.message) != 0)
                fail_msg("%s: '%s' without jq, '%s' with", exprs[i], e1.message, e2.message);
        } else {
            char *a = json_dumps(fast, JSON_COMPACT | JSON_ENCODE_ANY);
            char *b = json_dumps(slow, JSON_COMPACT | JSON_ENCODE_ANY);
            if (strcmp(a, b) != 0)
                fail_msg("%s: %s without jq, %s with", exprs[i], a, b);
            assert_int_equal(json_typeof(fast), json_typeof(slow));
            free(a);
            free(b);
        }
        json_decref(fast);
        json_decref(slow);
        sp_error_clear(&e1);
        sp_error_clear(&e2);
    }
    json_decref(doc);
    expr_program_free(p);
}

/* What is not simple is left to jq, whatever it looks like. */
static void only_the_simple_grammar_is_simple(void **state)
{
    const char *not_simple[] = {
        ".", "..", ".a[0]", ".a | .b", ".a?", ".\"a\"", ".a .b", "$x", "{a}", "{(.k): 1}",
        "{a: .b | .c}", "{a: 1,}", "{\"a\\(.x)\": 1}", "{a: .x > 1}", ".a == 1 or .b",
        ".a == .b == .c", "-3", "1e5", ".a # comment", ".end", "{if: 1}", ".a.b as $x | 1",
        ".a + 1", "\"x\\n\"", "not",
    };
    for (size_t i = 0; i < sizeof not_simple / sizeof *not_simple; i++) {
        expr_simple *e = expr_simple_parse(not_simple[i]);
        if (e)
            fail_msg("%s: parsed as simple", not_simple[i]);
    }
}

static void simple_expressions_keep_the_result_size_limit(void **state)
{
    const char *src[] = { ".input.s" };
    int idx[1];
    expr_program *p = program(src, 1, idx);
    size_t n = EXPR_MAX_RESULT_BYTES;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    json_t *doc = json_pack("{s:{s:s}}", "input", "s", big);
    sp_error err = SP_ERROR_INIT;
    assert_null(expr_eval(p, idx[0], doc, NULL, NULL, &err));
    assert_non_null(strstr(err.message, "the limit is 1048576"));
    sp_error_clear(&err);
    json_decref(doc);
    free(big);
    expr_program_free(p);
}

/* The secrets an expression reads by literal name are found in every
 * spelling jq accepts, and jq agrees each spelling reads that secret; any
 * other read of $secrets says "may read any". */
static void secret_names_are_found_by_literal_name(void **state)
{
    static const struct { const char *src; const char *names; } named[] = {
        { "$secrets.stripe", "stripe" },
        { "$secrets.stripe?", "stripe" },
        { "$ secrets .stripe", "stripe" },
        { "$secrets # note\n .stripe", "stripe" },
        { "$secrets.\"stripe\"", "stripe" },
        { "$secrets. \"stripe\"", "stripe" },
        { "$secrets[\"stripe\"]", "stripe" },
        { "$secrets[ \"stripe\" ]", "stripe" },
        { "[$secrets.stripe, $secrets[\"other\"]] | .[0]", "other stripe" },
        { "\"Bearer \\($secrets.stripe)\"", "stripe" },
        { "\"$secrets.not_code \\(\"(\" + $secrets.stripe)\"", "stripe" },
        { ".input.secrets # $secrets[.x]", "" },
        { "$secrets.stripe.inner? // $secrets.stripe", "stripe" },
    };
    json_t *secrets = json_pack("{s:s, s:s}", "stripe", "sk_1", "other", "o_2");
    json_t *d = doc();
    sp_error err = SP_ERROR_INIT;
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
        json_t *names = json_object();
        if (!expr_secret_names(named[i].src, names))
            fail_msg("%s: said it may read any secret", named[i].src);
        char got[128] = "";
        const char *k;
        json_t *v;
        /* jansson keeps insertion order; compare as a sorted list. */
        const char *sorted[4];
        size_t n = 0;
        json_object_foreach(names, k, v)
            if (n < 4)
                sorted[n++] = k;
        for (size_t a = 0; a < n; a++)
            for (size_t b = a + 1; b < n; b++)
                if (strcmp(sorted[b], sorted[a]) < 0) {
                    const char *t = sorted[a];
                    sorted[a] = sorted[b];
                    sorted[b] = t;
                }
        for (size_t a = 0; a < n; a++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", a ? " " : "", sorted[a]);
        if (strcmp(got, named[i].names) != 0)
            fail_msg("%s: found '%s', expected '%s'", named[i].src, got, named[i].names);
        json_decref(names);
        /* jq reads the same secret that way (the forms are real jq). */
        int idx;
        const char *one[] = { named[i].src };
        expr_program *p = program(one, 1, &idx);
        json_t *r = expr_eval(p, idx, d, NULL, secrets, &err);
        if (!r)
            fail_msg("%s: %s", named[i].src, err.message);
        char *text = json_dumps(r, JSON_ENCODE_ANY);
        if (strstr(named[i].names, "stripe") && !strstr(text, "sk_1") &&
            !strstr(named[i].src, "\"other\""))
            fail_msg("%s gave %s, not the stripe secret", named[i].src, text);
        free(text);
        json_decref(r);
        expr_program_free(p);
    }
    static const char *const any[] = {
        "$secrets", "$secrets | keys", "$secrets[.input.name]", "$secrets[]",
        "{$secrets}", "$secrets | .stripe", "$secrets.\"a\\u0062\"", "$secrets.\"\\(.x)\"",
        ". as $s | $ secrets", "\"\\($secrets)\"", "$secrets.\"\"", "$secrets[\"a\" + \"b\"]",
    };
    for (size_t i = 0; i < sizeof any / sizeof *any; i++) {
        json_t *names = json_object();
        if (expr_secret_names(any[i], names))
            fail_msg("%s: read by name only, it says", any[i]);
        json_decref(names);
    }
    json_decref(d);
    json_decref(secrets);
    sp_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(evaluates_each_expression_by_index),
        cmocka_unit_test(many_expressions_dispatch_correctly),
        cmocka_unit_test(syntax_errors_name_each_bad_expression),
        cmocka_unit_test(syntax_errors_are_in_the_authors_terms),
        cmocka_unit_test(outside_builtins_are_refused),
        cmocka_unit_test(runtime_errors_and_runaways_fail_cleanly),
        cmocka_unit_test(results_nested_too_deep_are_refused_not_crashed_on),
        cmocka_unit_test(templates_keep_types_and_splice_text),
        cmocka_unit_test(bad_templates_name_the_part),
        cmocka_unit_test(limits_are_enforced),
        cmocka_unit_test(simple_expressions_give_what_jq_gives),
        cmocka_unit_test(only_the_simple_grammar_is_simple),
        cmocka_unit_test(simple_expressions_keep_the_result_size_limit),
        cmocka_unit_test(secret_names_are_found_by_literal_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
