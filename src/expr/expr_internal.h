/*
 * expr_internal.h - what the files of src/expr share.
 *
 *   expr.c      builder, program, evaluation
 *   jv_json.c   jq values <-> jansson values
 *   sandbox.c   refusing the builtins that reach outside a run
 *   template.c  {{ }} templates on top of programs
 *   url.c       the rules of URL templates: where a part sits, encoding
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

/* ---- url.c: URL templates (see the comment at the top of url.c) ---- */
typedef enum {
    EXPR_URL_NONE = 0,          /* not a URL template: inserted as text */
    EXPR_URL_SCHEME,            /* before "://" */
    EXPR_URL_AUTHORITY,         /* after "://", before the next / ? # */
    EXPR_URL_PATH,
    EXPR_URL_QUERY,
    EXPR_URL_FRAGMENT,
} expr_url_pos;

/* Where text that follows literal goes, when it starts at pos. */
expr_url_pos expr_url_scan(expr_url_pos pos, const char *literal);
/* Whether a part's source is configuration: exactly $env.NAME or
 * $secrets.NAME (spaces around allowed). */
bool expr_url_config_part(const char *src);
/* text with every byte but A-Z a-z 0-9 - . _ ~ as %XX. Caller frees;
 * NULL when out of memory. */
char *expr_url_encode(const char *text);
/* Whether the path segment of url that holds [start, end) is "", "." or
 * "..": a value that makes one would name another resource. */
bool expr_url_dot_segment(const char *url, size_t start, size_t end);
/* Whether url is http(s)://authority... and its first prefix_len bytes
 * (all that came before the first value from the run) already held the
 * same scheme and authority. False with err (SP_EINVALID) otherwise. */
bool expr_url_check(const char *url, size_t prefix_len, sp_error *err);

#endif
