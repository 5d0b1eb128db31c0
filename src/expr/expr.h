/*
 * expr.h - jq expressions and {{ }} templates.
 *
 * THREADING: libjq 1.6 is not thread-safe. Every function here that compiles
 * or evaluates (everything but the *_free functions) must run on the engine
 * thread only. HTTP threads never touch this module.
 *
 * A workflow's expressions are collected in an expr_builder while the
 * definition is validated, then joined into one expr_program: a single jq
 * program that selects the expression by index. One compile per workflow
 * version, however many expressions it has (a libjq compile costs ~10 ms,
 * most of it its builtins); nothing is parsed per run. Only when the joined
 * program does not compile is each expression compiled on its own, to say
 * which ones are wrong.
 *
 * Evaluation input is the document of SPEC §3: {input, steps, run, proposal}.
 * $env and $secrets are bound per call (null when not given). The jq
 * builtins that would reach outside the run (env, $ENV, input, inputs,
 * debug, stderr, input_filename, halt, halt_error, import, include, $__loc__)
 * are unavailable: an expression using them fails to compile.
 *
 * Ownership: json_t arguments are borrowed; returned json_t are new refs.
 */
#ifndef SP_EXPR_H
#define SP_EXPR_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

typedef struct expr_builder expr_builder;
typedef struct expr_program expr_program;
typedef struct expr_template expr_template;

/* Limits (documented in docs/workflows). */
#define EXPR_MAX_LENGTH 8192        /* bytes of one expression */
#define EXPR_MAX_COUNT  4096        /* expressions in one program */
#define EXPR_MAX_RESULT_BYTES (1u << 20)    /* one result, as compact JSON */
#define EXPR_MAX_DOCUMENT_BYTES (16u << 20) /* a run's document, as compact JSON */
#define EXPR_MEMORY_LIMIT_MB 512    /* what an evaluator process may grow by */

/*
 * Evaluator processes. libjq 1.6 aborts, overflows its stack, loops in C
 * or allocates without bound on some values (todate on 1e18, index("")):
 * no check in front of it catches them all. After expr_isolation_start,
 * expr_eval runs every expression in a separate process (`exe` started as
 * `exe __expr-worker`) that holds the compiled programs, runs under a
 * memory limit and a system call filter, and is killed at the time limit.
 * A crash or a runaway there fails that one evaluation with a clear error;
 * the next evaluation gets a fresh process. See docs/internals/expr.md.
 *
 * Without it (unit tests, fuzzers) expressions run in this process, as
 * they always have. Start and stop from the thread that evaluates.
 */
sp_code expr_isolation_start(const char *exe, sp_error *err);
void expr_isolation_stop(void);
/* The evaluator process's main: `spojit __expr-worker`. Returns its exit
 * status. */
int expr_worker_main(void);

expr_builder *expr_builder_new(void);
void expr_builder_free(expr_builder *b);

/*
 * Adds src to the builder after the checks that need no compile (length,
 * count, the builtins that are not available). Returns its index (>= 0), or
 * -1 with err set to SP_EINVALID (no path: the caller prefixes where the
 * expression sits). Whether it compiles is told by expr_builder_check.
 */
int expr_builder_add(expr_builder *b, const char *src, sp_error *err);
/* How many expressions were added so far (the next index). */
int expr_builder_count(const expr_builder *b);
/* The source of expression idx as added (borrowed), or NULL. */
const char *expr_builder_source(const expr_builder *b, int idx);

/*
 * The secrets src reads by literal name ($secrets.NAME, $secrets."NAME",
 * $secrets["NAME"]) are added to names (an object used as a set: name ->
 * true). False when src reads $secrets any other way ($secrets[.x],
 * $secrets | keys, $secrets alone): it may read any of them. Lexical
 * (secret_refs.c); needs no compile and no jq state, so any thread may call it.
 */
bool expr_secret_names(const char *src, json_t *names);

/*
 * Compiles everything added as one program. When that fails, calls bad once
 * for every expression that does not compile, with its index and jq's
 * message about it as written, naming it and a place within it ("in `.a +*
 * 2`: syntax error, unexpected '*' at column 5"; never the wrapper), and
 * returns SP_EINVALID. The compiled program is kept for expr_builder_finish.
 */
typedef void (*expr_problem_fn)(void *ctx, int idx, const char *message);
sp_code expr_builder_check(expr_builder *b, expr_problem_fn bad, void *ctx);

/*
 * Hands over the program (compiling it if expr_builder_check did not) and
 * frees the builder (also on failure). Returns NULL with err set when the
 * program does not compile.
 */
expr_program *expr_builder_finish(expr_builder *b, sp_error *err);
void expr_program_free(expr_program *p);

/*
 * Evaluates expression idx against input. The result is the first output of
 * the expression, or JSON null when it produces none. Returns NULL with err
 * (SP_EINVALID, the jq error text) when the expression raises an error.
 * env/secrets may be NULL (bound to null).
 */
json_t *expr_eval(expr_program *p, int idx, json_t *input, json_t *env,
                  json_t *secrets, sp_error *err);

/* jq truthiness: everything but null and false. */
bool expr_truthy(const json_t *v);

/*
 * Templates: any JSON value whose strings may contain "{{ expr }}". A string
 * that is exactly one template keeps the JSON type of its value
 * ("{{ .input.amount }}" -> 612); otherwise values are spliced in as text
 * (strings raw, others as compact JSON). Values without templates are kept
 * as they are. Expressions are added to b.
 *
 * Returns NULL with err set (message names the bad expression). The template
 * keeps its own copy of the value.
 */
expr_template *expr_template_compile(expr_builder *b, json_t *value, sp_error *err);

/*
 * A URL template (docs/workflows, "URL templates"): a part that is exactly
 * $env.NAME or $secrets.NAME (configuration) is inserted as it is; any
 * other part is percent-encoded, and compile refuses it (SP_EINVALID)
 * before the end of the authority ("scheme://host:port"). Rendering gives
 * a string, or fails (SP_EINVALID) when a value from the run would make a
 * path segment "", "." or "..", when the URL is not http(s)://host..., or
 * when the authority is not the one the text before the first encoded
 * value gave.
 */
expr_template *expr_template_compile_url(expr_builder *b, const char *url, sp_error *err);

/* True when the value has at least one {{ }} (pure constants cost nothing). */
bool expr_template_is_dynamic(const expr_template *t);

/* Renders t with program p (the one its builder became). New reference. */
json_t *expr_template_render(const expr_template *t, expr_program *p, json_t *input,
                             json_t *env, json_t *secrets, sp_error *err);
void expr_template_free(expr_template *t);

#endif
