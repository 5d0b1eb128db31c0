/*
 * workflow.h - workflow definitions: parsed, validated, immutable.
 *
 * A definition (SPEC §2) arrives as YAML or JSON text. workflow_load parses
 * it, checks everything that can be checked before a run starts, compiles
 * every expression into one expr_program and returns a struct the engine
 * runs from without ever looking at the text again. All problems are
 * reported at once in err->details as an array of
 *     {"path": "steps[2].next", "line": 14, "column": 11, "message": "..."}
 * (line/column 1-based; 0 when the problem has no single place).
 *
 * A loaded workflow is read-only; the engine caches one per (name, version)
 * and uses it from the engine thread only (it holds a jq program).
 */
#ifndef SP_WORKFLOW_H
#define SP_WORKFLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "expr/expr.h"

/* Limits (documented in docs/workflows). */
#define WF_MAX_SOURCE   (1024 * 1024)   /* bytes of definition text */
#define WF_MAX_STEPS    1000
#define WF_NAME_MAX     64
#define WF_REMIND_MAX   100     /* remind: {max} */
#define WF_RETRY_MAX    100     /* retry: {max_attempts} */

typedef enum { WF_FORMAT_YAML, WF_FORMAT_JSON } wf_format;

typedef enum {
    STEP_TRANSFORM,     /* transform: <expr> -> output */
    STEP_SWITCH,        /* switch: [{when, next}, ...] (a case with no when is the default) */
    STEP_APPROVAL,      /* approval alone: a gate with no action; output = the final proposal */
    STEP_SUCCEED,       /* succeed: {output?: <expr>} ends the run completed */
    STEP_FAIL,          /* fail: {error?: <template>} ends the run failed */
    STEP_WAIT,          /* wait: {for: <duration>} | {until: <expr -> RFC 3339>}; output passes through */
    STEP_HTTP,          /* http: {method, url, headers, query, json|form|body, auth, ...} */
    STEP_AGENT,         /* agent: a chat model proposes an action, using read-only tools */
} step_kind;

typedef enum { HTTP_BODY_NONE, HTTP_BODY_JSON, HTTP_BODY_FORM, HTTP_BODY_RAW } http_body_kind;
typedef enum { HTTP_AUTH_NONE, HTTP_AUTH_BEARER, HTTP_AUTH_BASIC, HTTP_AUTH_HEADER } http_auth_kind;

#define HTTP_DEFAULT_TIMEOUT_MS 30000
#define HTTP_ACCEPT_MAX         32

/* An http step (docs/workflows, "http"). Every setting is a template over
 * its whole value; $secrets may be used in all of them. */
typedef struct {
    char method[8];             /* upper case; default GET */
    expr_template *url;         /* -> a string */
    expr_template *headers;     /* -> {name: string}; NULL: none */
    expr_template *query;       /* -> {name: string|number|bool}; NULL: none */
    http_body_kind body_kind;
    expr_template *body;        /* json: any; form: {name: scalar}; raw: a string */
    http_auth_kind auth_kind;
    expr_template *auth;        /* bearer: a string; basic: {user, password}; header: {name, value} */
    int64_t timeout_ms;
    int accept[HTTP_ACCEPT_MAX];
    size_t naccept;             /* 0: any 2xx */
    bool idempotency_key;       /* send Idempotency-Key: <run>/<step>/<visit> */
} http_def;

/* Special flow targets; real targets are step indexes (>= 0). */
#define FLOW_END   (-1)     /* "end": the run completes */
#define FLOW_FAIL  (-2)     /* "fail": the run fails */
#define FLOW_REVISE (-3)    /* on_reject "revise": back to the latest agent step, with the comment */

#define EXPR_NONE  (-1)     /* an optional expression that is absent */

typedef enum { REQUIRE_COMMENT_REJECT, REQUIRE_COMMENT_ALWAYS, REQUIRE_COMMENT_NEVER } require_comment;

typedef struct {
    int when;               /* expr index, or EXPR_NONE: always matches */
    char **to;              /* "user:alice", "team:finance" */
    size_t nto;
} gate_route;

typedef struct {
    int64_t after_ms;
    char **to;
    size_t nto;
    bool replace;           /* mode: replace (default add) */
} gate_escalation;

typedef struct {
    int when;               /* expr: true -> a human must decide; EXPR_NONE: always */
    expr_template *title;   /* may be NULL: the step id is used */
    expr_template *summary; /* may be NULL */
    char *urgency;          /* "low"|"normal"|"high", default "normal" */
    int proposal;           /* expr, or EXPR_NONE: previous step's output */
    int reasoning;          /* expr or EXPR_NONE */
    int context;            /* expr or EXPR_NONE */
    gate_route *routes;
    size_t nroutes;         /* >= 1 */
    int approvals;          /* N >= 1, or 0 meaning "all" assignees */
    bool forbid_self_approval;      /* default true */
    require_comment require_comment;
    json_t *editable;       /* {"/pointer": bounds} into the proposal, bounds a JSON
                             * Schema (the subset of input_schema, {} for none);
                             * NULL: nothing is editable */
    int64_t timeout_ms;     /* 0: none */
    char *on_timeout;       /* "reject"|"approve"|"fail"|<step id>; NULL = fail */
    gate_escalation *escalations;
    size_t nescalations;
    int64_t remind_every_ms;        /* 0: none */
    int remind_max;                 /* reminders at most; 0: the default (10) */
} gate_def;

typedef struct {
    int when;               /* expr index, EXPR_NONE for the default case */
    int next;               /* step index or FLOW_END / FLOW_FAIL */
} switch_case;

/* retry: {max_attempts, backoff, max_backoff, jitter}: a failed step runs
 * again after backoff * 2^(attempt-1), at most max_backoff; with jitter the
 * delay is drawn from its upper half. */
typedef struct {
    int max_attempts;       /* 0 or 1: no retry */
    int64_t backoff_ms;     /* default 1s */
    int64_t max_backoff_ms; /* default 1h */
    bool jitter;            /* default true */
} step_retry;

/* A tool the model may call. Safe tools (with an http request, safe: true)
 * run inside the agent's loop; calling any other ends the step. */
typedef struct {
    char *name;
    json_t *spec;               /* {type: "function", function: {name, description, parameters}} */
    http_def *http;             /* NULL: an action tool */
} agent_tool;

#define AGENT_DEFAULT_MAX_TURNS     5
#define AGENT_DEFAULT_MAX_REVISIONS 3
#define AGENT_DEFAULT_MODEL         "gpt-4o-mini"
#define AGENT_TIMEOUT_MS            60000

typedef struct {
    expr_template *url;         /* base URL; NULL: $SPOJIT_LLM_URL */
    char *model;                /* NULL: $SPOJIT_LLM_MODEL, else AGENT_DEFAULT_MODEL */
    expr_template *api_key;     /* NULL: no Authorization */
    expr_template *instructions;        /* the system message; may be NULL */
    expr_template *prompt;      /* the user message */
    agent_tool *tools;
    size_t ntools;
    int max_turns;
    int max_revisions;
    json_t *response_schema;    /* a text answer must be JSON matching it; may be NULL */
} agent_def;

typedef struct step_def {
    char *id;
    step_kind kind;
    int index;              /* position in steps[] */
    int next;               /* step index, FLOW_END; default: the next in the list, or FLOW_END */
    int on_reject;          /* step index, FLOW_FAIL (default) or FLOW_END */
    int on_error;           /* step index, or FLOW_FAIL (default) */
    gate_def *gate;         /* NULL: no gate (STEP_APPROVAL always has one) */
    step_retry retry;
    /* The secrets the step's settings read, found when the workflow is
     * applied (expr_secret_names): the only ones bound when the step runs
     * and the only ones its request, output and errors are redacted of, so
     * a step that uses no secret is no oracle for them (docs/operations/
     * security.md). secret_names: array of names, sorted; NULL: none.
     * secrets_all: a setting reads $secrets by a computed name - every
     * secret is bound and redacted. */
    json_t *secret_names;
    bool secrets_all;
    union {
        struct { int expr; } transform;
        struct { switch_case *cases; size_t ncases; } sw;
        struct { int output; } succeed;          /* expr or EXPR_NONE */
        struct { expr_template *error; } fail;   /* may be NULL */
        struct { int64_t for_ms; int until; } wait;  /* exactly one: for_ms > 0 or until */
        http_def *http;
        agent_def *agent;
    } u;
} step_def;

typedef struct workflow {
    char *name;
    int version;            /* set by the store when applied; 0 before */
    char hash[65];          /* SHA-256 of the canonical JSON definition */
    char *description;      /* may be NULL */
    json_t *input_schema;   /* may be NULL */
    json_t *definition;     /* the canonical JSON form, as the API shows it */
    step_def *steps;
    size_t nsteps;
    expr_program *program;
} workflow;

/*
 * Parses and validates a definition. format: WF_FORMAT_YAML also accepts
 * JSON text (JSON is YAML). Returns a new workflow (version 0) or NULL with
 * err = SP_EINVALID (content problems, all listed in details) or
 * SP_EBADINPUT (text that does not parse, with line and column).
 * Engine thread only (compiles jq).
 */
workflow *workflow_load(const char *text, size_t len, wf_format format, sp_error *err);
void workflow_free(workflow *wf);

/* Index of the step with that id, or -1. */
int workflow_step_index(const workflow *wf, const char *id);

/*
 * Checks a run's input against input_schema (a JSON Schema subset: type,
 * required, properties, additionalProperties, items, enum, const, minimum,
 * maximum, minLength, maxLength, minItems, maxItems, pattern-free).
 * 0, or SP_EINVALID with every problem in err->details [{path, message}].
 */
sp_code workflow_check_input(const workflow *wf, const json_t *input, sp_error *err);

/*
 * Checks v against a schema of that same subset (one that passed the check
 * when its workflow was applied), naming paths from `what` ("input",
 * "response"). 0, or SP_EINVALID as workflow_check_input.
 */
sp_code workflow_check_schema(const json_t *schema, const json_t *v, const char *what,
                              sp_error *err);

/*
 * An approval's `editable` (SPEC §5, §12), from a workflow's gate or from
 * POST /v1/approvals: a list of JSON pointers into the proposal, or a map
 * of pointer -> bounds, a schema of the subset above
 * ({"/amount": {"type": "number", "minimum": 0}}). Literal values only.
 * *out: the map form, a bare pointer getting {} (new reference).
 * SP_EINVALID with every problem in err->details [{path, message}], paths
 * from `what`.
 */
sp_code workflow_editable_parse(const json_t *v, const char *what, json_t **out, sp_error *err);

#endif
