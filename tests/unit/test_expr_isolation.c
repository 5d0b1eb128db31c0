/* test_expr_isolation.c - expressions evaluated in evaluator processes
 * (expr/isolation.c, worker.c, confine.c), started from the real binary
 * ($SPOJIT_BIN, as `make unit` sets it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expr/expr.h"
#include "expr/expr_internal.h"

static int start(void **state)
{
    const char *bin = getenv("SPOJIT_BIN");
    sp_error err = SP_ERROR_INIT;
    if (expr_isolation_start(bin ? bin : "build/spojit", &err) != SP_OK) {
        fprintf(stderr, "cannot start the evaluators: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int stop(void **state)
{
    expr_isolation_stop();
    return 0;
}

static expr_program *program(const char *const *sources, int n)
{
    sp_error err = SP_ERROR_INIT;
    expr_builder *b = expr_builder_new();
    for (int i = 0; i < n; i++)
        assert_int_equal(expr_builder_add(b, sources[i], &err), i);
    expr_program *p = expr_builder_finish(b, &err);
    assert_non_null(p);
    return p;
}

/* The result of expression idx on input as compact JSON, or "error: ..." */
static char *eval_text(expr_program *p, int idx, json_t *input, json_t *env, json_t *secrets)
{
    sp_error err = SP_ERROR_INIT;
    json_t *v = expr_eval(p, idx, input, env, secrets, &err);
    char *out;
    if (v) {
        out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(v);
    } else {
        if (asprintf(&out, "error: %s", err.message) < 0)
            out = NULL;
        sp_error_clear(&err);
    }
    assert_non_null(out);
    return out;
}

static void expect(expr_program *p, int idx, json_t *input, const char *want)
{
    char *got = eval_text(p, idx, input, NULL, NULL);
    assert_string_equal(got, want);
    free(got);
}

static void expect_error(expr_program *p, int idx, json_t *input, const char *part)
{
    char *got = eval_text(p, idx, input, NULL, NULL);
    if (strncmp(got, "error: ", 7) != 0 || !strstr(got, part))
        fail_msg("expected an error with \"%s\", got %s", part, got);
    free(got);
}

static void results_are_those_of_the_same_program_in_process(void **state)
{
    const char *src[] = { ".input.amount > 500", "[.input.amount, $env.region, $secrets.k]",
                          ".input.amount / 3", "empty", "error(\"nope\")", ".input.n | 1 / . | isinfinite",
                          "{a: .input.s}", "[limit(3; repeat(1))]" };
    expr_program *p = program(src, 8);
    json_t *in = json_pack("{s:{s:i, s:s, s:i}}", "input", "amount", 612, "s", "x\u00e9\\u0000", "n", 0);
    json_t *env = json_pack("{s:s}", "region", "eu");
    json_t *secrets = json_pack("{s:s}", "k", "s3cret");
    char *isolated[8], *local[8];
    for (int i = 0; i < 8; i++)
        isolated[i] = eval_text(p, i, in, env, secrets);
    expr_isolation_stop();
    for (int i = 0; i < 8; i++)
        local[i] = eval_text(p, i, in, env, secrets);   /* compiled lazily here */
    assert_int_equal(start(state), 0);
    for (int i = 0; i < 8; i++) {
        assert_string_equal(isolated[i], local[i]);
        free(isolated[i]);
        free(local[i]);
    }
    char *v = eval_text(p, 1, in, env, secrets);
    assert_string_equal(v, "[612,\"eu\",\"s3cret\"]");
    free(v);
    expect(p, 2, in, "204");
    expect_error(p, 4, in, "nope");
    json_decref(in);
    json_decref(env);
    json_decref(secrets);
    expr_program_free(p);
}

/* The process keeps the last texts it was sent: a changed input, $env or
 * $secrets must always be seen. */
static void a_changed_input_env_or_secret_is_always_seen(void **state)
{
    const char *src[] = { "[.input.v, $env.e, $secrets.s]" };
    expr_program *p = program(src, 1);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++) {
            json_t *in = json_pack("{s:{s:i}}", "input", "v", i);
            json_t *env = json_pack("{s:i}", "e", i % 2);
            json_t *sec = i == 3 ? NULL : json_pack("{s:i}", "s", i / 2);
            char want[64];
            if (i == 3)
                snprintf(want, sizeof want, "[%d,%d,null]", i, i % 2);
            else
                snprintf(want, sizeof want, "[%d,%d,%d]", i, i % 2, i / 2);
            char *got = eval_text(p, 0, in, env, sec);
            assert_string_equal(got, want);
            free(got);
            got = eval_text(p, 0, in, env, sec);         /* the same texts again */
            assert_string_equal(got, want);
            free(got);
            json_decref(in);
            json_decref(env);
            json_decref(sec);
        }
    }
    expr_program_free(p);
}

static void a_crash_fails_one_evaluation_and_the_next_gets_a_new_process(void **state)
{
    const char *src[] = { ".input.ts | todate", ".input.ts + 1" };
    expr_program *p = program(src, 2);
    json_t *bad = json_pack("{s:{s:f}}", "input", "ts", 1e18);
    json_t *good = json_pack("{s:{s:i}}", "input", "ts", 0);
    expect_error(p, 0, bad, "crashed the evaluator process (SIG");
    expect(p, 0, good, "\"1970-01-01T00:00:00Z\"");
    expect(p, 1, good, "1");
    json_decref(bad);
    json_decref(good);
    expr_program_free(p);
}

static void a_loop_in_c_is_stopped_at_the_time_limit(void **state)
{
    const char *src[] = { ".input.k as $k | \"abc\" | index($k)", "1" };
    expr_program *p = program(src, 2);
    json_t *in = json_pack("{s:{s:s}}", "input", "k", "");
    expect_error(p, 0, in, "ran longer than 1000 ms");
    expect(p, 1, in, "1");
    json_decref(in);
    expr_program_free(p);
}

static void memory_beyond_the_limit_fails_the_evaluation(void **state)
{
    const char *src[] = { ".input.i as $i | [] | .[$i] = 1 | length" };
    expr_program *p = program(src, 1);
    json_t *in = json_pack("{s:{s:f}}", "input", "i", 1e8);
    expect_error(p, 0, in, "");
    json_t *small = json_pack("{s:{s:i}}", "input", "i", 4);
    expect(p, 0, small, "5");
    json_decref(in);
    json_decref(small);
    expr_program_free(p);
}

static void results_and_documents_over_their_limits_fail(void **state)
{
    const char *src[] = { "\"x\" * .input.n", ".input | length" };
    expr_program *p = program(src, 2);
    json_t *in = json_pack("{s:{s:i}}", "input", "n", 1100000);
    expect_error(p, 0, in, "the limit is 1048576");
    json_decref(in);

    size_t n = EXPR_MAX_DOCUMENT_BYTES + 1;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    in = json_pack("{s:s}", "input", big);
    expect_error(p, 1, in, "expressions take at most 16777216");
    json_decref(in);
    free(big);
    expr_program_free(p);
}

/* More programs than a process keeps: the evicted ones are sent again. */
static void programs_evicted_from_the_process_are_loaded_again(void **state)
{
    enum { N = 40 };
    expr_program *p[N];
    for (int i = 0; i < N; i++) {
        char src[32];
        snprintf(src, sizeof src, ".input + %d", i);
        const char *one[] = { src };
        p[i] = program(one, 1);
    }
    json_t *in = json_pack("{s:i}", "input", 1000);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            char want[16];
            snprintf(want, sizeof want, "%d", 1000 + i);
            expect(p[i], 0, in, want);
        }
    }
    json_decref(in);
    for (int i = 0; i < N; i++)
        expr_program_free(p[i]);
}

static void a_runtime_error_in_one_program_leaves_the_others(void **state)
{
    const char *a[] = { ".input.x.y" };
    const char *b[] = { ".input | keys" };
    expr_program *pa = program(a, 1), *pb = program(b, 1);
    json_t *in = json_pack("{s:{s:s}}", "input", "x", "str");
    expect_error(pa, 0, in, "Cannot index string");
    expect(pb, 0, in, "[\"x\"]");
    json_decref(in);
    expr_program_free(pa);
    expr_program_free(pb);
}

/* What confine.c promises, tried in a child that confines itself: no file
 * opens, no socket, no process; and no allocation past the memory limit. */
static void a_confined_process_opens_nothing_and_stays_in_its_memory(void **state)
{
#ifdef EXPR_SANITIZED
    skip();     /* sanitizer builds limit evaluators through ASAN_OPTIONS */
#else
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char why[256];
        if (!expr_confine(why, sizeof why))
            _exit(10);
        if (open("/etc/hostname", O_RDONLY) >= 0 || errno != EPERM)
            _exit(11);
        if (socket(AF_INET, SOCK_STREAM, 0) >= 0 || errno != EPERM)
            _exit(12);
        if (fork() >= 0 || errno != EPERM)
            _exit(13);
        if (syscall(SYS_tgkill, getppid(), getppid(), 0) == 0 || errno != EPERM)
            _exit(16);      /* may signal itself only, not the server */
        if (syscall(SYS_tgkill, getpid(), getpid(), 0) != 0)
            _exit(17);
        size_t big = (size_t)(EXPR_MEMORY_LIMIT_MB + 64) << 20;
        char *p = malloc(big);
        if (p)
            _exit(14);
        p = malloc(1 << 20);    /* ordinary allocations still work */
        if (!p)
            _exit(15);
        p[0] = 1;
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(results_are_those_of_the_same_program_in_process),
        cmocka_unit_test(a_changed_input_env_or_secret_is_always_seen),
        cmocka_unit_test(a_crash_fails_one_evaluation_and_the_next_gets_a_new_process),
        cmocka_unit_test(a_loop_in_c_is_stopped_at_the_time_limit),
        cmocka_unit_test(memory_beyond_the_limit_fails_the_evaluation),
        cmocka_unit_test(results_and_documents_over_their_limits_fail),
        cmocka_unit_test(programs_evicted_from_the_process_are_loaded_again),
        cmocka_unit_test(a_runtime_error_in_one_program_leaves_the_others),
        cmocka_unit_test(a_confined_process_opens_nothing_and_stays_in_its_memory),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
