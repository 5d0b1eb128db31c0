/*
 * fuzz_expr.c - libFuzzer harness for src/expr: sandbox check, builder,
 * one-program compile, evaluation (with the watchdog), {{ }} templates.
 *
 * Input: EXPR '\0' TEMPLATE '\0' INPUT_JSON
 *   EXPR        one jq expression (expr_builder_add)
 *   TEMPLATE    a template string (expr_template_compile on a JSON string,
 *               or on a JSON value when it parses as JSON)
 *   INPUT_JSON  the evaluation document (json_parse_limited; else a string)
 * Missing parts are empty. Single-threaded (libjq).
 *
 * With SPOJIT_BIN set (as `make unit` sets it for the replay of
 * tests/fuzz/repro/expr/), evaluations run in the evaluator processes, as
 * in the server; without it, in this process, where the fuzzer sees what
 * libjq and our jq code do with an input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/jsonx.h"
#include "expr/expr.h"

static const char *part(const uint8_t **p, const uint8_t *end, size_t *n)
{
    const uint8_t *s = *p;
    const uint8_t *z = memchr(s, 0, (size_t)(end - s));
    *n = z ? (size_t)(z - s) : (size_t)(end - s);
    *p = z ? z + 1 : end;
    return (const char *)s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *bin = getenv("SPOJIT_BIN");
    sp_error err = SP_ERROR_INIT;
    if (bin && expr_isolation_start(bin, &err) != SP_OK) {
        fprintf(stderr, "fuzz_expr: %s\n", err.message);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 20000)
        return 0;
    const uint8_t *p = data, *end = data + size;
    size_t n1, n2, n3;
    const char *a = part(&p, end, &n1);
    const char *b = part(&p, end, &n2);
    const char *c = part(&p, end, &n3);
    char *src = strndup(a, n1);

    sp_error err = SP_ERROR_INIT;
    json_t *tv = NULL;
    if (n2) {
        tv = json_parse_limited(b, n2, SP_JSON_MAX_DEPTH, "template", &err);
        sp_error_clear(&err);
        if (!tv)
            tv = json_stringn(b, n2);   /* NULL when not UTF-8 */
    }
    json_t *input = NULL;
    if (n3) {
        input = json_parse_limited(c, n3, SP_JSON_MAX_DEPTH, "input", &err);
        sp_error_clear(&err);
    }
    if (!input)
        input = json_pack("{s:{s:i,s:s},s:{},s:{s:s}}", "input", "amount", 612, "c", "x",
                          "steps", "run", "id", "run_1");

    expr_builder *bld = expr_builder_new();
    int idx = expr_builder_add(bld, src, &err);
    sp_error_clear(&err);
    expr_template *t = tv ? expr_template_compile(bld, tv, &err) : NULL;
    sp_error_clear(&err);
    int count = expr_builder_count(bld);
    (void)expr_builder_check(bld, NULL, NULL);
    expr_program *prog = expr_builder_finish(bld, &err);
    sp_error_clear(&err);
    if (prog) {
        json_t *env = json_pack("{s:s}", "region", "eu");
        json_t *secrets = json_pack("{s:s}", "tok", "s3cret");
        for (int i = 0; i < count && i < 8; i++) {
            json_t *v = expr_eval(prog, i, input, env, secrets, &err);
            if (v) {
                char *s = json_canonical(v);
                free(s);
                (void)expr_truthy(v);
                json_decref(v);
            }
            sp_error_clear(&err);
        }
        if (t) {
            json_t *r = expr_template_render(t, prog, input, env, NULL, &err);
            json_decref(r);
            sp_error_clear(&err);
        }
        json_decref(env);
        json_decref(secrets);
        expr_program_free(prog);
    }
    (void)idx;
    expr_template_free(t);
    json_decref(tv);
    json_decref(input);
    free(src);
    return 0;
}
