/*
 * expr_internal.h - what the files of src/expr share.
 *
 *   expr.c      builder, program, evaluation
 *   jv_json.c   jq values <-> jansson values
 *   sandbox.c   refusing the builtins that reach outside a run
 *   template.c  {{ }} templates on top of programs
 *   watchdog.c  stopping an evaluation that runs too long
 */
#ifndef SP_EXPR_INTERNAL_H
#define SP_EXPR_INTERNAL_H

#include <jansson.h>
#include <jq.h>
#include <stdbool.h>

#include "core/err.h"

/* An evaluation that runs longer than this is stopped with an error, so a
 * runaway expression (`def f: f; f`, `[range(1e12)]`) cannot stall the
 * engine thread. Documented in docs/workflows. */
#define EXPR_TIME_LIMIT_MS 1000
/* Deepest result an expression may give: deeper documents could not be
 * stored and read back (JSON readers recurse). */
#define EXPR_MAX_RESULT_DEPTH 256

/* jq_state with an error callback that keeps the first compile message. */
typedef struct {
    jq_state *jq;
    char first_error[512];
} expr_jq;

bool expr_jq_init(expr_jq *j);
/* Compiles src; false with err (SP_EINVALID, the first jq message). */
bool expr_jq_compile(expr_jq *j, const char *src, sp_error *err);
void expr_jq_teardown(expr_jq *j);

/* expr_builder_add for a {{ }} part: its messages quote the part. */
typedef struct expr_builder expr_builder;
int expr_builder_add_part(expr_builder *b, const char *src, bool in_template, sp_error *err);

/* ---- jv_json.c: both take ownership of nothing; results are new ---- */
jv expr_json_to_jv(const json_t *v);
/* Consumes v. Numbers that are whole and within +-2^53 become integers;
 * NaN and infinities become null (as jq prints them). */
json_t *expr_jv_to_json(jv v);
/* Whether v is nested deeper than limit levels (borrowed). */
bool expr_jv_too_deep(jv v, int limit);
/* Consumes v like jv_free, with no recursion however deep it is. */
void expr_jv_free_deep(jv v);

/* ---- sandbox.c ---- */
/* SP_EINVALID naming the first forbidden builtin src uses outside a string. */
sp_code expr_sandbox_check(const char *src, sp_error *err);

/* ---- watchdog.c ---- */
/* Arms the watchdog on jq for EXPR_TIME_LIMIT_MS; false if it cannot run. */
void expr_watchdog_arm(jq_state *jq);
/* Disarms it; true when it fired (the evaluation was halted). */
bool expr_watchdog_disarm(void);

#endif
