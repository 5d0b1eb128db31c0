/*
 * test_expr_paths.c - expressions left inside a path expression.
 *
 * Apart from test_expr.c because a state halted there must be set aside
 * and never freed (expr.c, retire_state): valgrind (`make leakcheck-expr`,
 * which runs test_expr) would count it as lost. ASan runs this one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "expr/expr.h"

static json_t *doc(void)
{
    return json_pack("{s:{s:i, s:s}}", "input", "amount", 612, "customer", "c_42");
}

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

/* Found by fuzzing: libjq 1.6 aborts the process when a state left inside
 * a path expression (`paths`, `|=`) is started again or torn down - after
 * taking only the first output, or after the watchdog stopped it there. */
static void path_expressions_left_early_do_not_abort_the_process(void **state)
{
    const char *src[] = { "[paths] | length", "paths", "paths(def f: f; f)",
                          ".input |= error(\"boom\")", "first(paths)" };
    int idx[5];
    expr_program *p = program(src, 5, idx);
    json_t *d = doc();
    sp_error err = SP_ERROR_INIT;
    for (int round = 0; round < 2; round++) {
        json_t *v = expr_eval(p, idx[1], d, NULL, NULL, &err);      /* the first path only */
        assert_true(json_is_array(v));
        json_decref(v);
        v = expr_eval(p, idx[0], d, NULL, NULL, &err);
        assert_true(json_integer_value(v) > 1);
        json_decref(v);
        assert_null(expr_eval(p, idx[2], d, NULL, NULL, &err));    /* stopped inside path() */
        assert_non_null(strstr(err.message, "longer than"));
        sp_error_clear(&err);
        assert_null(expr_eval(p, idx[3], d, NULL, NULL, &err));    /* an error inside |= */
        assert_string_equal(err.message, "boom");
        sp_error_clear(&err);
        v = expr_eval(p, idx[4], d, NULL, NULL, &err);
        assert_true(json_is_array(v));
        json_decref(v);
    }
    json_decref(d);
    expr_program_free(p);                       /* the teardown survives too */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_expressions_left_early_do_not_abort_the_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
