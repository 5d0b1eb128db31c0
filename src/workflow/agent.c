/*
 * agent.c - an `agent:` step (SPEC §2) -> agent_def.
 *
 * The model, its instructions and prompt, and the tools it may call. A tool
 * with `safe: true` and an `http` request is read-only: the step runs it and
 * gives the answer back to the model. Any other tool is an action: the
 * model calling it is the step's result, to be approved before anything
 * acts on it. Tool requests are http settings (workflow/http.c) whose
 * templates also see `.arguments`, the model's arguments.
 */
#include "workflow/wf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const agent_keys[] = {
    "url", "model", "api_key", "instructions", "prompt", "tools", "max_turns", "max_revisions",
    "response_schema", NULL
};
static const char *const tool_keys[] = { "name", "description", "parameters", "safe", "http",
                                         NULL };

#define MEMBER(buf, path, key) (wf_path_key(buf, path, key), buf)

static bool tool_name_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
    return true;
}

static void build_tool(wf_ctx *c, const char *path, const json_t *t, agent_tool *tool)
{
    char kp[WF_PATH_MAX];
    if (!wf_want_object(c, path, t))
        return;
    wf_check_keys(c, path, t, tool_keys);
    const json_t *name = json_object_get(t, "name"), *params = json_object_get(t, "parameters");
    if (!name) {
        wf_problem(c, path, "a tool needs 'name'");
        return;
    }
    if (!wf_want_string(c, MEMBER(kp, path, "name"), name))
        return;
    if (!tool_name_ok(json_string_value(name)))
        wf_problem(c, kp, "1 to 64 letters, digits, '_' or '-'");
    if (params && !wf_want_object(c, MEMBER(kp, path, "parameters"), params))
        params = NULL;
    const json_t *desc = json_object_get(t, "description");
    if (desc)
        wf_want_string(c, MEMBER(kp, path, "description"), desc);
    tool->name = strdup(json_string_value(name));
    tool->spec = json_pack("{s:s, s:{s:s, s:O?, s:o}}", "type", "function", "function", "name",
                           tool->name, "description", desc, "parameters",
                           params ? json_incref((json_t *)params)
                                  : json_pack("{s:s}", "type", "object"));
    const json_t *safe = json_object_get(t, "safe"), *http = json_object_get(t, "http");
    if (safe && !wf_want_bool(c, MEMBER(kp, path, "safe"), safe))
        return;
    if (json_is_true(safe) != (http != NULL)) {
        wf_problem(c, path, "a read-only tool has both 'safe: true' and 'http'; "
                            "an action tool has neither");
        return;
    }
    if (http)
        tool->http = wf_http_build(c, MEMBER(kp, path, "http"), http);
}

static int small_int(wf_ctx *c, const char *path, const json_t *v, int def)
{
    if (!v)
        return def;
    if (!wf_want_int(c, path, v, 1))
        return def;
    if (json_integer_value(v) > 100) {
        wf_problem(c, path, "at most 100");
        return def;
    }
    return (int)json_integer_value(v);
}

agent_def *wf_agent_build(wf_ctx *c, const char *path, const json_t *v)
{
    char kp[WF_PATH_MAX];
    agent_def *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->max_turns = AGENT_DEFAULT_MAX_TURNS;
    a->max_revisions = AGENT_DEFAULT_MAX_REVISIONS;
    if (!wf_want_object(c, path, v))
        return a;
    wf_check_keys(c, path, v, agent_keys);
    const json_t *x;
    c->secrets_ok = true;
    if ((x = json_object_get(v, "url")))
        a->url = wf_url_template(c, MEMBER(kp, path, "url"), x);
    if ((x = json_object_get(v, "api_key")))
        a->api_key = wf_template(c, MEMBER(kp, path, "api_key"), x);
    c->secrets_ok = false;
    if ((x = json_object_get(v, "model")) && wf_want_string(c, MEMBER(kp, path, "model"), x))
        a->model = strdup(json_string_value(x));
    if ((x = json_object_get(v, "instructions")))
        a->instructions = wf_template(c, MEMBER(kp, path, "instructions"), x);
    if (!(x = json_object_get(v, "prompt")))
        wf_problem(c, path, "an agent needs 'prompt'");
    else
        a->prompt = wf_template(c, MEMBER(kp, path, "prompt"), x);
    a->max_turns = small_int(c, MEMBER(kp, path, "max_turns"), json_object_get(v, "max_turns"),
                             AGENT_DEFAULT_MAX_TURNS);
    a->max_revisions = small_int(c, MEMBER(kp, path, "max_revisions"),
                                 json_object_get(v, "max_revisions"),
                                 AGENT_DEFAULT_MAX_REVISIONS);
    if ((x = json_object_get(v, "response_schema"))) {
        size_t before = json_array_size(c->problems);
        wf_schema_check(c, MEMBER(kp, path, "response_schema"), x);
        if (json_array_size(c->problems) == before)
            a->response_schema = json_incref((json_t *)x);
    }
    if ((x = json_object_get(v, "tools")) && wf_want_array(c, MEMBER(kp, path, "tools"), x)) {
        a->ntools = json_array_size(x);
        a->tools = calloc(a->ntools ? a->ntools : 1, sizeof *a->tools);
        for (size_t i = 0; a->tools && i < a->ntools; i++) {
            char tp[WF_PATH_MAX];
            wf_path_index(tp, kp, i);
            build_tool(c, tp, json_array_get(x, i), &a->tools[i]);
            for (size_t k = 0; k < i; k++)
                if (a->tools[i].name && a->tools[k].name &&
                    strcmp(a->tools[i].name, a->tools[k].name) == 0)
                    wf_problem(c, tp, "a second tool named '%s'", a->tools[i].name);
        }
    }
    return a;
}

void wf_agent_free(agent_def *a)
{
    if (!a)
        return;
    expr_template_free(a->url);
    expr_template_free(a->api_key);
    expr_template_free(a->instructions);
    expr_template_free(a->prompt);
    free(a->model);
    for (size_t i = 0; a->tools && i < a->ntools; i++) {
        free(a->tools[i].name);
        json_decref(a->tools[i].spec);
        wf_http_free(a->tools[i].http);
    }
    free(a->tools);
    json_decref(a->response_schema);
    free(a);
}
