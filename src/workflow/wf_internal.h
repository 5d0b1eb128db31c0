/*
 * wf_internal.h - what the files of src/workflow share; not for other modules.
 *
 * Loading is three stages, each in its own file:
 *
 *   parse.c     text -> wf_doc: a jansson tree plus the line and column of
 *               every node, keyed by path ("steps[2].approval.route[0].to").
 *               Syntax problems stop here (SP_EBADINPUT, one message).
 *   workflow.c, step.c, gate.c, schema.c, flow.c
 *               wf_doc -> workflow: every rule is checked and every problem
 *               collected (wf_problem), never stopping at the first one.
 *               Expressions are compiled into one expr_builder as they are
 *               met, so their errors carry their path too.
 *   problems.c  the collected problems -> one SP_EINVALID error whose
 *               details list them all, sorted by position.
 *
 * Paths: object members are ".key" (or ["key"] when the key is not a plain
 * word), array items "[i]"; the root is "". Paths longer than WF_PATH_MAX
 * are truncated, which only costs location precision.
 */
#ifndef SP_WF_INTERNAL_H
#define SP_WF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "workflow/workflow.h"

#define WF_PATH_MAX         512
/* Nodes that YAML aliases may add in total (a "billion laughs" document
 * expands far beyond this and is refused). */
#define WF_MAX_ALIAS_NODES  10000

/* A parsed definition: the tree and where each node came from. */
typedef struct {
    json_t *root;       /* owned; NULL only after wf_doc_free */
    json_t *locs;       /* owned; path -> [line, column] of the value */
    json_t *keylocs;    /* owned; path -> [line, column] of its key */
} wf_doc;

/* Parses text into out. On failure nothing is left to free in out. */
sp_code wf_parse(const char *text, size_t len, wf_format format, wf_doc *out, sp_error *err);
void wf_doc_free(wf_doc *doc);

/* Line and column (1-based) of path's value (or of its key when at_key and
 * the node has one), falling back to the nearest ancestor that is known;
 * 0, 0 when nothing is. */
void wf_doc_loc(const wf_doc *doc, const char *path, bool at_key, int *line, int *col);

/* out = parent + ".key" / "[i]" (truncated to WF_PATH_MAX). */
void wf_path_key(char out[WF_PATH_MAX], const char *parent, const char *key);
void wf_path_index(char out[WF_PATH_MAX], const char *parent, size_t i);

/* Everything validation carries around. */
typedef struct {
    const wf_doc *doc;
    json_t *problems;       /* owned; array of {path, line, column, message} */
    expr_builder *builder;  /* owned until workflow_load finishes it */
    json_t *expr_paths;     /* owned; the path of each expression, by index */
    json_t *ids;            /* owned; step id -> index of its first step */
    size_t nsteps;
    bool secrets_ok;        /* reading http/agent/notify settings: $secrets allowed */
} wf_ctx;

/* Remembers path for every expression added since index `from`, so a
 * compile error found later (expr_builder_check) is reported there. */
void wf_expr_paths(wf_ctx *c, const char *path, int from);

/* Records a problem at path's value (wf_problem) or its key (wf_problem_key). */
void wf_problem(wf_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void wf_problem_key(wf_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Turns a non-empty problem list into err: SP_EINVALID, message
 * "<what> has N problems: <path>: <message> (line L, column C); ...",
 * details = the list sorted by position (steals problems).
 */
sp_code wf_problems_to_error(json_t *problems, const char *what, sp_error *err);

/* ---- check.c: shape helpers; each reports what it finds wrong ---- */

/* Reports every key of obj not in allowed (NULL-terminated). */
void wf_check_keys(wf_ctx *c, const char *path, const json_t *obj,
                   const char *const *allowed);
/* "a string", "an object", ... for messages. */
const char *wf_type_name(const json_t *v);
/* True when v is an object/array/string; otherwise reports "expected ...". */
bool wf_want_object(wf_ctx *c, const char *path, const json_t *v);
bool wf_want_array(wf_ctx *c, const char *path, const json_t *v);
bool wf_want_string(wf_ctx *c, const char *path, const json_t *v);
bool wf_want_bool(wf_ctx *c, const char *path, const json_t *v);
/* An integer >= min; reports otherwise. */
bool wf_want_int(wf_ctx *c, const char *path, const json_t *v, json_int_t min);
/* One of the words (NULL-terminated); returns its index or -1 (reported). */
int wf_want_word(wf_ctx *c, const char *path, const json_t *v, const char *const *words);
/* A duration (core/clock.h) in ms, or -1 (reported). */
int64_t wf_duration(wf_ctx *c, const char *path, const json_t *v);

/* Compiles a jq expression; v may be a string or a JSON scalar used as a
 * constant. Returns its index, or EXPR_NONE when v is NULL or wrong. */
int wf_expr(wf_ctx *c, const char *path, const json_t *v);
/* Compiles a template string; NULL when v is NULL or wrong. Caller owns it. */
expr_template *wf_template(wf_ctx *c, const char *path, const json_t *v);
/* Any JSON value whose strings may hold templates (headers, bodies). */
expr_template *wf_value_template(wf_ctx *c, const char *path, const json_t *v);
/* Compiles a URL template string (expr_template_compile_url): run data
 * before the end of its host is reported here. NULL when v is NULL or wrong. */
expr_template *wf_url_template(wf_ctx *c, const char *path, const json_t *v);

/*
 * Resolves a flow target (a step id, or "end"/"fail" where allowed).
 * Returns the step index, FLOW_END, FLOW_FAIL, or def when v is wrong
 * (reported).
 */
int wf_target(wf_ctx *c, const char *path, const json_t *v, bool allow_end,
              bool allow_fail, int def);

/* Assignees: "user:NAME"/"team:NAME", a list or one string. Returns a
 * malloc'd array of malloc'd strings (caller frees with wf_strv_free). */
char **wf_assignees(wf_ctx *c, const char *path, const json_t *v, size_t *n);
void wf_strv_free(char **v, size_t n);

/* ---- step.c, gate.c, schema.c, flow.c ---- */

/* Validates steps[i] into *step (ids must already be in c->ids). */
void wf_step_build(wf_ctx *c, size_t i, const json_t *s, step_def *step);
void wf_step_free(step_def *step);

/* Validates an agent step's settings into a new agent_def (never NULL). */
agent_def *wf_agent_build(wf_ctx *c, const char *path, const json_t *v);
void wf_agent_free(agent_def *a);
/* Validates an http step's settings into a new http_def (never NULL). */
http_def *wf_http_build(wf_ctx *c, const char *path, const json_t *v);
void wf_http_free(http_def *h);

/* Validates `editable` (a list of pointers or a map of pointer -> bounds)
 * into its map form; NULL when v is NULL or wrong (reported). */
json_t *wf_editable_build(wf_ctx *c, const char *path, const json_t *v);

/* Validates an approval gate; NULL when v is not an object. */
gate_def *wf_gate_build(wf_ctx *c, const char *path, const json_t *v);
void wf_gate_free(gate_def *g);

/* Checks that input_schema uses only the supported subset, correctly. */
void wf_schema_check(wf_ctx *c, const char *path, const json_t *schema);

/* Reports every cycle of steps that passes through no gate. */
void wf_flow_check_cycles(wf_ctx *c, const workflow *wf);

#endif
