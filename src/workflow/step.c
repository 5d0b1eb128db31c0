/*
 * step.c - one entry of `steps:` -> step_def: its kind, its flow keys and
 * its gate.
 *
 * A step has exactly one kind key, plus optionally `approval` (a gate around
 * the kind's work). `approval` alone is a step of its own (STEP_APPROVAL).
 * The kinds of SPEC §2 that are not built yet are known words, so the user
 * is told "not supported yet" rather than "unknown key".
 */
#include "workflow/wf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = { "transform", "switch", "succeed", "fail", "wait", "http",
                                      "agent", NULL };
static const char *const kinds_later[] = {
    "parallel", "foreach", "call", "notify", "respond", NULL
};
static const char *const step_keys[] = {
    "id", "description", "transform", "switch", "succeed", "fail", "approval",
    "next", "on_reject", "on_error", "retry",
    "agent", "http", "parallel", "foreach", "call", "wait", "notify", "respond", NULL
};
static const char *const case_keys[] = { "when", "next", NULL };
static const char *const succeed_keys[] = { "output", NULL };
static const char *const fail_keys[] = { "error", NULL };
static const char *const retry_keys[] = { "max_attempts", "backoff", "max_backoff", "jitter",
                                          NULL };
static const char *const wait_keys[] = { "for", "until", NULL };

#define RETRY_DEFAULT_BACKOFF_MS      1000
#define RETRY_DEFAULT_MAX_BACKOFF_MS  (3600 * 1000)
#define RETRY_HTTP_DEFAULT_ATTEMPTS   3

#define MEMBER(buf, path, key) (wf_path_key(buf, path, key), buf)

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *kind_name(step_kind k)
{
    switch (k) {
    case STEP_TRANSFORM: return "transform";
    case STEP_SWITCH:    return "switch";
    case STEP_APPROVAL:  return "approval";
    case STEP_SUCCEED:   return "succeed";
    case STEP_FAIL:      return "fail";
    case STEP_WAIT:      return "wait";
    case STEP_HTTP:      return "http";
    case STEP_AGENT:     return "agent";
    }
    return "?";
}

/* Finds the step's kind; false (reported) when it has none, several, or
 * one that is not built yet. */
static bool find_kind(wf_ctx *c, const char *path, const json_t *s, step_kind *kind)
{
    char kp[WF_PATH_MAX];
    int found = -1;
    bool ok = true;
    for (int k = 0; kinds_later[k]; k++)
        if (json_object_get(s, kinds_later[k])) {
            wf_problem_key(c, MEMBER(kp, path, kinds_later[k]),
                           "step kind '%s' is not supported yet", kinds_later[k]);
            ok = false;
        }
    for (int k = 0; kinds[k]; k++) {
        if (!json_object_get(s, kinds[k]))
            continue;
        if (found < 0) {
            found = k;
        } else {
            wf_problem_key(c, MEMBER(kp, path, kinds[k]),
                           "a step has exactly one kind; this one has both '%s' and '%s'",
                           kinds[found], kinds[k]);
            ok = false;
        }
    }
    if (!ok)
        return false;
    if (found >= 0) {
        *kind = (step_kind[]){ STEP_TRANSFORM, STEP_SWITCH, STEP_SUCCEED, STEP_FAIL,
                               STEP_WAIT, STEP_HTTP, STEP_AGENT }[found];
        return true;
    }
    if (json_object_get(s, "approval")) {
        *kind = STEP_APPROVAL;
        return true;
    }
    wf_problem(c, path,
               "a step needs a kind: transform, switch, wait, http, agent, approval, succeed "
               "or fail");
    return false;
}

static void build_switch(wf_ctx *c, const char *path, const json_t *v, step_def *st)
{
    if (!wf_want_array(c, path, v))
        return;
    size_t n = json_array_size(v);
    if (n == 0) {
        wf_problem(c, path, "a switch needs at least one case");
        return;
    }
    if (!(st->u.sw.cases = calloc(n, sizeof *st->u.sw.cases)))
        return;
    st->u.sw.ncases = n;
    int default_at = -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *cs = json_array_get(v, i);
        switch_case *sc = &st->u.sw.cases[i];
        char cp[WF_PATH_MAX], kp[WF_PATH_MAX];
        wf_path_index(cp, path, i);
        sc->when = EXPR_NONE;
        sc->next = FLOW_FAIL;
        if (!wf_want_object(c, cp, cs))
            continue;
        wf_check_keys(c, cp, cs, case_keys);
        if (default_at >= 0)
            wf_problem(c, cp, "this case can never match: case %d has no 'when' and "
                       "matches first", default_at);
        if (json_object_get(cs, "when"))
            sc->when = wf_expr(c, MEMBER(kp, cp, "when"), json_object_get(cs, "when"));
        else if (default_at < 0)
            default_at = (int)i;
        if (!json_object_get(cs, "next"))
            wf_problem(c, cp, "a case needs 'next'");
        else
            sc->next = wf_target(c, MEMBER(kp, cp, "next"), json_object_get(cs, "next"),
                                 true, true, FLOW_FAIL);
    }
}

/* succeed: null | true | {output?: <expr>} */
static void build_succeed(wf_ctx *c, const char *path, const json_t *v, step_def *st)
{
    char kp[WF_PATH_MAX];
    st->u.succeed.output = EXPR_NONE;
    if (json_is_null(v) || json_is_true(v))
        return;
    if (!json_is_object(v)) {
        wf_problem(c, path, "expected a mapping such as {output: <expr>}, or null, got %s",
                   wf_type_name(v));
        return;
    }
    wf_check_keys(c, path, v, succeed_keys);
    st->u.succeed.output = wf_expr(c, MEMBER(kp, path, "output"), json_object_get(v, "output"));
}

/* fail: null | true | "<template>" | {error?: "<template>"} */
static void build_fail(wf_ctx *c, const char *path, const json_t *v, step_def *st)
{
    char kp[WF_PATH_MAX];
    if (json_is_null(v) || json_is_true(v))
        return;
    if (json_is_string(v)) {
        st->u.fail.error = wf_template(c, path, v);
        return;
    }
    if (!json_is_object(v)) {
        wf_problem(c, path, "expected an error message or {error: <template>}, got %s",
                   wf_type_name(v));
        return;
    }
    wf_check_keys(c, path, v, fail_keys);
    st->u.fail.error = wf_template(c, MEMBER(kp, path, "error"), json_object_get(v, "error"));
}

/* wait: {for: <duration>} or {until: <expr>} */
static void build_wait(wf_ctx *c, const char *path, const json_t *v, step_def *st)
{
    char kp[WF_PATH_MAX];
    st->u.wait.until = EXPR_NONE;
    if (!wf_want_object(c, path, v))
        return;
    wf_check_keys(c, path, v, wait_keys);
    const json_t *f = json_object_get(v, "for"), *u = json_object_get(v, "until");
    if ((f != NULL) == (u != NULL)) {
        wf_problem(c, path, "a wait needs exactly one of 'for' (a duration) and 'until' "
                   "(an expression giving an RFC 3339 time)");
        return;
    }
    if (f) {
        int64_t ms = wf_duration(c, MEMBER(kp, path, "for"), f);
        st->u.wait.for_ms = ms > 0 ? ms : 0;
    } else {
        st->u.wait.until = wf_expr(c, MEMBER(kp, path, "until"), u);
    }
}

static void build_retry(wf_ctx *c, const char *path, const json_t *v, step_def *st)
{
    char kp[WF_PATH_MAX];
    step_retry *r = &st->retry;
    r->backoff_ms = RETRY_DEFAULT_BACKOFF_MS;
    r->max_backoff_ms = RETRY_DEFAULT_MAX_BACKOFF_MS;
    r->jitter = true;
    if (!wf_want_object(c, path, v))
        return;
    wf_check_keys(c, path, v, retry_keys);
    if (st->kind == STEP_FAIL || st->kind == STEP_SUCCEED || st->kind == STEP_WAIT)
        wf_problem_key(c, path, "retry has no effect on a %s step", kind_name(st->kind));
    const json_t *m = json_object_get(v, "max_attempts");
    if (!m)
        wf_problem(c, path, "retry needs 'max_attempts'");
    else if (wf_want_int(c, MEMBER(kp, path, "max_attempts"), m, 1)) {
        if (json_integer_value(m) > WF_RETRY_MAX)
            wf_problem(c, kp, "at most %d attempts", WF_RETRY_MAX);
        else
            r->max_attempts = (int)json_integer_value(m);
    }
    int64_t b = -1, mb = -1;
    if (json_object_get(v, "backoff"))
        b = wf_duration(c, MEMBER(kp, path, "backoff"), json_object_get(v, "backoff"));
    if (json_object_get(v, "max_backoff"))
        mb = wf_duration(c, MEMBER(kp, path, "max_backoff"), json_object_get(v, "max_backoff"));
    if (b > 0)
        r->backoff_ms = b;
    if (mb > 0)
        r->max_backoff_ms = mb;
    if (b > 0 && mb > 0 && mb < b)
        wf_problem(c, kp, "max_backoff is shorter than backoff");
    else if (mb <= 0 && r->max_backoff_ms < r->backoff_ms)
        r->max_backoff_ms = r->backoff_ms;
    const json_t *j = json_object_get(v, "jitter");
    if (j && wf_want_bool(c, MEMBER(kp, path, "jitter"), j))
        r->jitter = json_is_true(j);
}

static void build_flow(wf_ctx *c, const char *path, const json_t *s, step_def *st)
{
    char kp[WF_PATH_MAX];
    const json_t *v;
    if ((v = json_object_get(s, "next"))) {
        wf_path_key(kp, path, "next");
        if (st->kind == STEP_SWITCH || st->kind == STEP_SUCCEED || st->kind == STEP_FAIL)
            wf_problem_key(c, kp, "'next' has no effect on a %s step", kind_name(st->kind));
        else
            st->next = wf_target(c, kp, v, true, false, FLOW_END);
    }
    if ((v = json_object_get(s, "on_reject"))) {
        wf_path_key(kp, path, "on_reject");
        if (!json_object_get(s, "approval"))
            wf_problem_key(c, kp, "on_reject needs an approval gate on this step");
        else if (json_is_string(v) && strcmp(json_string_value(v), "revise") == 0)
            st->on_reject = FLOW_REVISE;    /* an agent step before it: checked at run time */
        else
            st->on_reject = wf_target(c, kp, v, true, true, FLOW_FAIL);
    }
    if ((v = json_object_get(s, "on_error")))
        st->on_error = wf_target(c, MEMBER(kp, path, "on_error"), v, false, true, FLOW_FAIL);
    if ((v = json_object_get(s, "retry")))
        build_retry(c, MEMBER(kp, path, "retry"), v, st);
}

/* The secrets read by the expressions added since index `from` (the
 * step's own settings; its gate's expressions are never bound to any). */
static void collect_secrets(wf_ctx *c, int from, step_def *st)
{
    json_t *names = json_object();
    if (!names)
        return;
    for (int i = from; i < expr_builder_count(c->builder); i++) {
        const char *src = expr_builder_source(c->builder, i);
        if (src && !expr_secret_names(src, names))
            st->secrets_all = true;
    }
    size_t n = json_object_size(names);
    const char **keys = !st->secrets_all && n > 0 ? malloc(n * sizeof *keys) : NULL;
    if (keys) {
        /* Sorted, so the set reads the same however the settings are ordered. */
        size_t k = 0;
        const char *name;
        json_t *v;
        json_object_foreach(names, name, v)
            keys[k++] = name;
        qsort(keys, n, sizeof *keys, cmp_str);
        st->secret_names = json_array();
        for (size_t j = 0; j < n; j++)
            json_array_append_new(st->secret_names, json_string(keys[j]));
        free(keys);
    } else if (!st->secrets_all && n > 0) {
        st->secrets_all = true;     /* out of memory: bind and redact all, never fewer */
    }
    json_decref(names);
}

void wf_step_build(wf_ctx *c, size_t i, const json_t *s, step_def *st)
{
    char path[WF_PATH_MAX], kp[WF_PATH_MAX];
    wf_path_index(path, "steps", i);
    st->index = (int)i;
    st->next = i + 1 < c->nsteps ? (int)i + 1 : FLOW_END;
    st->on_reject = FLOW_FAIL;
    st->on_error = FLOW_FAIL;
    st->kind = STEP_APPROVAL;   /* until known: a kind with nothing in u to free */
    const json_t *id = json_object_get(s, "id");
    st->id = strdup(json_is_string(id) ? json_string_value(id) : "");
    if (!json_is_object(s))
        return;             /* reported with the ids */
    wf_check_keys(c, path, s, step_keys);
    const json_t *d = json_object_get(s, "description");
    if (d)
        wf_want_string(c, MEMBER(kp, path, "description"), d);

    int from = expr_builder_count(c->builder);
    if (find_kind(c, path, s, &st->kind)) {
        const char *name = kind_name(st->kind);
        const json_t *v = json_object_get(s, name);
        wf_path_key(kp, path, name);
        switch (st->kind) {
        case STEP_TRANSFORM:
            st->u.transform.expr = wf_expr(c, kp, v);
            break;
        case STEP_SWITCH:
            build_switch(c, kp, v, st);
            break;
        case STEP_SUCCEED:
            build_succeed(c, kp, v, st);
            st->next = FLOW_END;
            break;
        case STEP_FAIL:
            build_fail(c, kp, v, st);
            st->next = FLOW_FAIL;
            break;
        case STEP_WAIT:
            build_wait(c, kp, v, st);
            break;
        case STEP_AGENT:
            st->u.agent = wf_agent_build(c, kp, v);
            /* A model call fails transiently like any call to the world. */
            st->retry = (step_retry){ .max_attempts = RETRY_HTTP_DEFAULT_ATTEMPTS,
                                      .backoff_ms = RETRY_DEFAULT_BACKOFF_MS,
                                      .max_backoff_ms = RETRY_DEFAULT_MAX_BACKOFF_MS,
                                      .jitter = true };
            break;
        case STEP_HTTP:
            st->u.http = wf_http_build(c, kp, v);
            /* Calls to the world fail transiently: retried unless told otherwise. */
            st->retry = (step_retry){ .max_attempts = RETRY_HTTP_DEFAULT_ATTEMPTS,
                                      .backoff_ms = RETRY_DEFAULT_BACKOFF_MS,
                                      .max_backoff_ms = RETRY_DEFAULT_MAX_BACKOFF_MS,
                                      .jitter = true };
            break;
        case STEP_APPROVAL:
            break;
        }
    }
    if (st->kind == STEP_HTTP || st->kind == STEP_AGENT)   /* the kinds that bind $secrets */
        collect_secrets(c, from, st);
    if (json_object_get(s, "approval"))
        st->gate = wf_gate_build(c, MEMBER(kp, path, "approval"), json_object_get(s, "approval"));
    build_flow(c, path, s, st);
}

void wf_step_free(step_def *st)
{
    if (!st)
        return;
    free(st->id);
    json_decref(st->secret_names);
    wf_gate_free(st->gate);
    if (st->kind == STEP_SWITCH)
        free(st->u.sw.cases);
    else if (st->kind == STEP_FAIL)
        expr_template_free(st->u.fail.error);
    else if (st->kind == STEP_HTTP)
        wf_http_free(st->u.http);
    else if (st->kind == STEP_AGENT)
        wf_agent_free(st->u.agent);
}
