/*
 * agent_step.c - the agent step: a chat model drafts an action.
 *
 * The step is a small loop of outbound calls, each one like an http step's
 * (queued after commit, answered as ENGINE_HTTP_RESULT):
 *
 *     model call -> a read-only tool called?  run its request, give the answer
 *                                              back, call the model again
 *                -> an action tool called?    the step's output:
 *                                              {tool, arguments, reasoning, transcript}
 *                -> text only?                 {tool: null, arguments: null, reasoning, transcript}
 *                -> text, with response_schema? the JSON it holds, checked:
 *                                              {tool: null, arguments: null, response, reasoning: null,
 *                                               transcript}; a mismatch is sent back once
 *
 * The loop's state lives in the step entry ("_agent": {messages, turns,
 * calls, pending, tool_call}), so a restart re-sends the call that was in
 * flight and goes on, and so does a retry after a transient failure. The model is called at most max_turns times.
 *
 * REVISE
 * `on_reject: revise` on a gated step after it sends the run back to the
 * latest agent step: its next visit starts from the previous transcript
 * plus the approver's comment on the rejected proposal, at most
 * max_revisions times. The gate the revision reaches is marked (run
 * "_revision") so that gate_open sends it to a person and shows what was
 * rejected.
 */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "expr/expr.h"
#include "outbound/outbound.h"
#include "secrets/secrets.h"

static json_t *render_text(engine *e, const workflow *wf, expr_template *t, json_t *ctx,
                           json_t *secrets, const char *what, sp_error *err)
{
    json_t *v = expr_template_render(t, wf->program, ctx, e->env, secrets, err);
    if (!v) {
        char inner[SP_ERROR_MESSAGE_MAX];
        snprintf(inner, sizeof inner, "%s", err->message);
        sp_error_set(err, SP_EINVALID, "agent %s: %s", what, inner);
        return NULL;
    }
    if (!json_is_string(v)) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(v);
        v = json_string(text ? text : "");
        free(text);
    }
    return v;
}

static const agent_tool *tool_named(const agent_def *a, const char *name)
{
    for (size_t i = 0; name && i < a->ntools; i++)
        if (a->tools[i].name && strcmp(a->tools[i].name, name) == 0)
            return &a->tools[i];
    return NULL;
}

/* Queues the next model call; SP_EINVALID (the step fails) past max_turns. */
static sp_code call_model(engine *e, const workflow *wf, const step_def *step, json_t *run,
                          json_t *entry, json_t *ctx, json_t *st, sp_error *err)
{
    const agent_def *a = step->u.agent;
    int turns = (int)json_integer_value(json_object_get(st, "turns"));
    if (turns >= a->max_turns)
        return sp_error_set(err, SP_EINVALID,
                            "the agent proposed no action within max_turns (%d model calls)",
                            a->max_turns);
    json_t *secrets = engine_step_secrets(e, step);
    json_t *url = NULL, *key = NULL;
    if (a->url && !(url = render_text(e, wf, a->url, ctx, secrets, "url", err)))
        goto fail;
    if (a->api_key && !(key = render_text(e, wf, a->api_key, ctx, secrets, "api_key", err)))
        goto fail;
    const char *base = url ? json_string_value(url) : getenv("SPOJIT_LLM_URL");
    if (!base || !*base) {
        sp_error_set(err, SP_EINVALID, "agent url: none given, and SPOJIT_LLM_URL is not set");
        goto fail;
    }
    const char *model = a->model ? a->model : getenv("SPOJIT_LLM_MODEL");
    json_t *tools = json_array();
    for (size_t i = 0; i < a->ntools; i++)
        json_array_append(tools, a->tools[i].spec);
    char endpoint[2048];
    snprintf(endpoint, sizeof endpoint, "%s%schat/completions", base,
             base[strlen(base) - 1] == '/' ? "" : "/");
    json_t *req = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:O, s:o}}", "method", "POST", "url",
                            endpoint, "headers", "Content-Type", "application/json", "json",
                            "model", model && *model ? model : AGENT_DEFAULT_MODEL, "messages",
                            json_object_get(st, "messages"), "tools", tools);
    if (key && json_string_length(key) && strcmp(json_string_value(key), "null") != 0) {
        char *auth = malloc(json_string_length(key) + 8);
        sprintf(auth, "Bearer %s", json_string_value(key));
        json_object_set_new(json_object_get(req, "headers"), "Authorization", json_string(auth));
        free(auth);
    }
    if (json_array_size(json_object_get(json_object_get(req, "json"), "tools")) == 0)
        json_object_del(json_object_get(req, "json"), "tools");
    if (a->response_schema)
        json_object_set_new(json_object_get(req, "json"), "response_format",
                            json_pack("{s:s, s:{s:s, s:O}}", "type", "json_schema", "json_schema",
                                      "name", "response", "schema", a->response_schema));
    int calls = (int)json_integer_value(json_object_get(st, "calls")) + 1;
    json_object_set_new(st, "calls", json_integer(calls));
    json_object_set_new(st, "turns", json_integer(turns + 1));
    json_object_set_new(st, "pending", json_string("model"));
    json_object_set_new(entry, "_in_flight", json_integer(calls));
    http_request_queue(e, json_pack("{s:O, s:s, s:O, s:i}", "run_id", json_object_get(run, "id"),
                                    "step", step->id, "visit", json_object_get(entry, "visit"),
                                    "attempt", calls),
                       req, AGENT_TIMEOUT_MS);
    json_decref(req);
    json_decref(url);
    json_decref(key);
    json_decref(secrets);
    return SP_OK;
fail:
    json_decref(url);
    json_decref(key);
    json_decref(secrets);
    return SP_EINVALID;
}

/* Queues the read-only tool's request, with the model's arguments bound. */
static sp_code call_tool(engine *e, const workflow *wf, const step_def *step, json_t *run,
                         json_t *entry, json_t *ctx, json_t *st, const agent_tool *tool,
                         json_t *arguments, sp_error *err)
{
    json_t *secrets = engine_step_secrets(e, step);
    json_object_set(ctx, "arguments", arguments);
    json_t *req = http_request_build(e, wf, tool->http, NULL, ctx, secrets, err);
    json_object_del(ctx, "arguments");
    json_decref(secrets);
    if (!req)
        return err->code ? err->code : SP_EINVALID;
    int calls = (int)json_integer_value(json_object_get(st, "calls")) + 1;
    json_object_set_new(st, "calls", json_integer(calls));
    json_object_set_new(st, "pending", json_string("tool"));
    json_object_set_new(entry, "_in_flight", json_integer(calls));
    http_request_queue(e, json_pack("{s:O, s:s, s:O, s:i}", "run_id", json_object_get(run, "id"),
                                    "step", step->id, "visit", json_object_get(entry, "visit"),
                                    "attempt", calls),
                       req, tool->http->timeout_ms);
    json_decref(req);
    return SP_OK;
}

/* The first messages of a visit: fresh, or the last transcript plus the
 * approver's word on the rejected proposal. */
static json_t *first_messages(engine *e, const workflow *wf, const step_def *step, json_t *run,
                              json_t *ctx, sp_error *err)
{
    const agent_def *a = step->u.agent;
    json_t *revise = json_object_get(run, "_revise");
    if (revise && strcmp(json_str(revise, "step"), step->id) == 0) {
        json_t *messages = json_deep_copy(json_object_get(revise, "transcript"));
        /* Every tool call of the last answer gets its answer first, as the
         * chat API requires: the proposal was not carried out. */
        json_t *last = json_array_get(messages, json_array_size(messages) - 1);
        size_t i;
        json_t *call;
        json_array_foreach(json_object_get(last, "tool_calls"), i, call)
            json_array_append_new(messages,
                                  json_pack("{s:s, s:O, s:s}", "role", "tool", "tool_call_id",
                                            json_object_get(call, "id"), "content",
                                            "Not carried out: a person rejected this proposal."));
        char *proposal = json_dumps(json_object_get(revise, "proposal"),
                                    JSON_COMPACT | JSON_ENCODE_ANY);
        char text[8192];
        snprintf(text, sizeof text,
                 "Your proposal %s was rejected by %s with this comment: %s\n"
                 "Propose again, taking the comment into account.",
                 proposal ? proposal : "null", json_str(revise, "by") ? json_str(revise, "by") : "the approver",
                 json_str(revise, "comment") ? json_str(revise, "comment") : "(none)");
        free(proposal);
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", text));
        json_object_del(run, "_revise");
        return messages;
    }
    json_t *secrets = json_object();            /* instructions and prompt see no secrets */
    json_t *sys = a->instructions ? render_text(e, wf, a->instructions, ctx, secrets,
                                                "instructions", err) : NULL;
    json_t *prompt = sys || !a->instructions
                         ? render_text(e, wf, a->prompt, ctx, secrets, "prompt", err) : NULL;
    json_decref(secrets);
    if ((a->instructions && !sys) || !prompt) {
        json_decref(sys);
        json_decref(prompt);
        return NULL;
    }
    json_t *messages = json_array();
    if (sys)
        json_array_append_new(messages, json_pack("{s:s, s:o}", "role", "system", "content", sys));
    json_array_append_new(messages, json_pack("{s:s, s:o}", "role", "user", "content", prompt));
    return messages;
}

/* Runs the next queued read-only tool call, answering unknown tools with an
 * error; when none is left, calls the model again. */
static sp_code next_call(engine *e, const workflow *wf, const step_def *step, json_t *run,
                         json_t *entry, json_t *ctx, json_t *st, bool *in_flight, sp_error *err)
{
    json_t *queue = json_object_get(st, "queue");
    json_t *messages = json_object_get(st, "messages");
    while (json_array_size(queue) > 0) {
        json_t *call = json_incref(json_array_get(queue, 0));
        json_array_remove(queue, 0);
        const agent_tool *tool = tool_named(step->u.agent, json_str(call, "name"));
        if (!tool || !tool->http) {
            json_array_append_new(messages,
                                  json_pack("{s:s, s:O, s:s}", "role", "tool", "tool_call_id",
                                            json_object_get(call, "id"), "content",
                                            "error: there is no read-only tool of that name"));
            json_decref(call);
            continue;
        }
        json_t *arguments = json_loads(json_str(call, "arguments") ? json_str(call, "arguments")
                                                                    : "{}",
                                       JSON_DECODE_ANY, NULL);
        json_object_set(st, "tool_call", call);
        sp_code rc = call_tool(e, wf, step, run, entry, ctx, st, tool,
                               arguments ? arguments : json_object(), err);
        json_decref(arguments);
        json_decref(call);
        *in_flight = rc == SP_OK;
        return rc;
    }
    sp_code rc = call_model(e, wf, step, run, entry, ctx, st, err);
    *in_flight = rc == SP_OK;
    return rc;
}

/* A text answer under response_schema: JSON matching the schema is the
 * step's `response`. The first answer that does not match goes back to the
 * model with the problems, once; the second fails the step. */
static sp_code take_structured_answer(engine *e, const workflow *wf, const step_def *step,
                                      json_t *run, json_t *entry, json_t *ctx, json_t *st,
                                      json_t *content, bool *in_flight, sp_error *err)
{
    const agent_def *a = step->u.agent;
    json_error_t jerr;
    json_t *response = json_is_string(content)
                           ? json_loads(json_string_value(content), JSON_DECODE_ANY, &jerr)
                           : NULL;
    sp_error why = SP_ERROR_INIT;
    if (!response)
        sp_error_set(&why, SP_EINVALID, "the answer is not JSON (%s)",
                     json_is_string(content) ? jerr.text : "no text");
    else
        workflow_check_schema(a->response_schema, response, "response", &why);
    if (!why.code) {
        sp_error_clear(&why);
        return run_step_complete(e, step, run, entry, ctx,
                                 json_pack("{s:n, s:n, s:o, s:n, s:O}", "tool", "arguments",
                                           "response", response, "reasoning", "transcript",
                                           json_object_get(st, "messages")),
                                 err);
    }
    json_decref(response);
    int turns = (int)json_integer_value(json_object_get(st, "turns"));
    if (json_is_true(json_object_get(st, "schema_retried")) || turns >= a->max_turns) {
        sp_error_set(err, SP_EINVALID, "the model's answer does not match response_schema: %s",
                     why.message);
        sp_error_clear(&why);
        return SP_EINVALID;
    }
    char text[SP_ERROR_MESSAGE_MAX + 160];
    snprintf(text, sizeof text,
             "Your answer does not match the response schema: %s\n"
             "Answer again with only a JSON value that matches the schema.",
             why.message);
    sp_error_clear(&why);
    json_object_set_new(st, "schema_retried", json_true());
    json_array_append_new(json_object_get(st, "messages"),
                          json_pack("{s:s, s:s}", "role", "user", "content", text));
    sp_code rc = call_model(e, wf, step, run, entry, ctx, st, err);
    *in_flight = rc == SP_OK;
    return rc;
}

/* The model's answer: an action (the step's result), read-only tool calls
 * to run (all of them, each answered by its id), or text. */
static sp_code take_model_answer(engine *e, const workflow *wf, const step_def *step,
                                 json_t *run, json_t *entry, json_t *ctx, json_t *st,
                                 json_t *body, bool *in_flight, sp_error *err)
{
    const agent_def *a = step->u.agent;
    json_t *message = json_object_get(json_array_get(json_object_get(body, "choices"), 0),
                                      "message");
    if (!json_is_object(message))
        return sp_error_set(err, SP_EINVALID, "the model's answer has no choices[0].message");
    json_t *messages = json_object_get(st, "messages");
    json_t *content = json_object_get(message, "content");
    json_t *reasoning = json_is_string(content) && json_string_length(content) ? content
                                                                                : json_null();
    json_array_append(messages, message);
    json_t *calls = json_object_get(message, "tool_calls");
    if (json_array_size(calls) == 0 && a->response_schema)
        return take_structured_answer(e, wf, step, run, entry, ctx, st, content, in_flight,
                                      err);
    if (json_array_size(calls) == 0)
        return run_step_complete(e, step, run, entry, ctx,
                                 json_pack("{s:n, s:n, s:O, s:O}", "tool", "arguments",
                                           "reasoning", reasoning, "transcript", messages),
                                 err);
    /* An action among the calls ends the step: it is what gets approved. */
    size_t i;
    json_t *call;
    json_array_foreach(calls, i, call) {
        json_t *fn = json_object_get(call, "function");
        const agent_tool *tool = tool_named(a, json_str(fn, "name"));
        if (!tool || tool->http)
            continue;
        const char *text = json_str(fn, "arguments");
        json_t *arguments = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
        if (!json_is_object(arguments)) {
            json_decref(arguments);
            return sp_error_set(err, SP_EINVALID,
                                "the model called %s with arguments that are not a JSON object",
                                tool->name);
        }
        return run_step_complete(e, step, run, entry, ctx,
                                 json_pack("{s:s, s:o, s:O, s:O}", "tool", tool->name,
                                           "arguments", arguments, "reasoning", reasoning,
                                           "transcript", messages),
                                 err);
    }
    json_t *queue = json_array();
    json_array_foreach(calls, i, call) {
        json_t *fn = json_object_get(call, "function");
        json_array_append_new(queue, json_pack("{s:O, s:O, s:O}", "id", json_object_get(call, "id"),
                                               "name", json_object_get(fn, "name"), "arguments",
                                               json_object_get(fn, "arguments")));
    }
    json_object_set_new(st, "queue", queue);
    return next_call(e, wf, step, run, entry, ctx, st, in_flight, err);
}

sp_code agent_step(engine *e, const workflow *wf, const step_def *step, json_t *run,
                   json_t *entry, json_t *ctx, bool *in_flight, sp_error *err)
{
    *in_flight = false;
    json_t *st = json_object_get(entry, "_agent");
    json_t *resp = json_incref(json_object_get(entry, "_response"));
    sp_code rc = SP_OK;
    json_object_del(entry, "_response");
    if (!st) {
        json_t *messages = first_messages(e, wf, step, run, ctx, err);
        if (!messages)
            goto failed;
        st = json_pack("{s:o, s:i, s:i}", "messages", messages, "turns", 0, "calls", 0);
        json_object_set_new(entry, "_agent", st);
        rc = call_model(e, wf, step, run, entry, ctx, st, err);
        *in_flight = rc == SP_OK;
    } else if (!resp) {
        /* After a restart or a retry: the pending call again. */
        const char *pending = json_str(st, "pending");
        if (pending && strcmp(pending, "tool") == 0) {
            /* The tool call in flight goes back to the front of the queue. */
            json_t *queue = json_object_get(st, "queue");
            if (!json_is_array(queue)) {
                queue = json_array();
                json_object_set_new(st, "queue", queue);
            }
            json_array_insert(queue, 0, json_object_get(st, "tool_call"));
            rc = next_call(e, wf, step, run, entry, ctx, st, in_flight, err);
        } else {
            json_object_set_new(st, "turns",
                                json_integer(json_integer_value(json_object_get(st, "turns")) - 1 > 0
                                                 ? json_integer_value(json_object_get(st, "turns")) - 1
                                                 : 0));
            rc = call_model(e, wf, step, run, entry, ctx, st, err);
        }
        *in_flight = rc == SP_OK;
    } else {
        json_object_del(entry, "_in_flight");
        long status = (long)json_integer_value(json_object_get(resp, "status"));
        json_t *secrets = engine_step_secrets(e, step);
        json_t *body = http_response_body(resp, secrets);
        const char *pending = json_str(st, "pending");
        bool ok = status >= 200 && status < 300;
        bool tool_answer = pending && strcmp(pending, "tool") == 0;
        if (tool_answer && (ok || (status >= 400 && status < 500 && status != 408 &&
                                   status != 429))) {
            /* The read-only tool answered: give it to the model - a 4xx too,
             * which the model may well act on ("no such charge"). */
            const char *raw = json_str(resp, "body") ? json_str(resp, "body") : "";
            /* A cut answer says so, to the model as to an http step; it is
             * cut as an http step's is (http_cut_text). */
            char cut[128] = "";
            char *kept = NULL;
            if (json_is_true(json_object_get(resp, "truncated"))) {
                kept = http_cut_text(raw, json_string_length(json_object_get(resp, "body")),
                                     secrets);
                raw = kept ? kept : "";
                snprintf(cut, sizeof cut,
                         "\n[cut: the answer had %lld bytes; only the first %d are shown]",
                         (long long)json_integer_value(json_object_get(resp, "received_bytes")),
                         HTTP_CUT_BODY_KEEP);
            }
            size_t n = strlen(raw) + strlen(cut) + 64;
            char *t = malloc(n);
            json_t *text = NULL;
            if (t) {
                if (ok)
                    snprintf(t, n, "%s%s", raw, cut);
                else
                    snprintf(t, n, "error: HTTP %ld: %s%s", status, raw, cut);
                text = json_string(t);
                free(t);
            }
            free(kept);
            if (!text)
                text = json_string("error: the answer could not be read");
            json_t *clean = secrets_redact(text, secrets);
            json_decref(text);
            text = clean;
            json_array_append_new(json_object_get(st, "messages"),
                                  json_pack("{s:s, s:O, s:o}", "role", "tool", "tool_call_id",
                                            json_object_get(json_object_get(st, "tool_call"), "id"),
                                            "content", text));
            rc = next_call(e, wf, step, run, entry, ctx, st, in_flight, err);
        } else if (ok && json_is_true(json_object_get(resp, "truncated"))) {
            /* Cut JSON is not JSON: say why rather than "no choices". The
             * same answer would come again: no retry. */
            rc = sp_error_set(err, SP_EINVALID,
                              "the model's answer is over %d bytes (OUTBOUND_BODY_MAX: %lld "
                              "received) and was not read", OUTBOUND_BODY_MAX,
                              (long long)json_integer_value(
                                  json_object_get(resp, "received_bytes")));
        } else if (ok) {
            rc = take_model_answer(e, wf, step, run, entry, ctx, st, body, in_flight, err);
        } else {
            char message[512];
            snprintf(message, sizeof message, "the %s call failed: %s",
                     pending && !strcmp(pending, "tool") ? "tool" : "model",
                     status ? "HTTP error" : (json_str(resp, "error") ? json_str(resp, "error")
                                                                     : "no answer"));
            if (status)
                snprintf(message, sizeof message, "the %s call failed: HTTP %ld",
                         pending && !strcmp(pending, "tool") ? "tool" : "model", status);
            json_decref(body);
            json_decref(secrets);
            json_decref(resp);
            /* Transient: the next attempt sends the failed call again, with
             * the conversation so far (tools already run are not run
             * again). Permanent: the step fails, the working copy goes. */
            bool transient = status == 0 || status == 408 || status == 429 || status >= 500;
            if (!transient)
                json_object_del(entry, "_agent");
            rc = run_step_fail(e, step, run, entry, ctx, message, transient, 0, err);
            const char *now_status = json_str(entry, "status");
            if (now_status && strcmp(now_status, "failed") == 0)      /* no retry left */
                json_object_del(entry, "_agent");
            return rc;
        }
        json_decref(body);
        json_decref(secrets);
    }
    json_decref(resp);
    /* Done: the conversation is in the output; the working copy can go. */
    if (rc == SP_OK && strcmp(json_str(entry, "status"), "completed") == 0)
        json_object_del(entry, "_agent");
    if (rc != SP_EINVALID)
        return rc;
failed:;
    char message[SP_ERROR_MESSAGE_MAX];
    snprintf(message, sizeof message, "%s", err->message);
    sp_error_clear(err);
    *in_flight = false;
    json_object_del(entry, "_in_flight");
    json_object_del(entry, "_agent");
    return run_step_fail(e, step, run, entry, ctx, message, false, 0, err);
}

sp_code agent_revise(engine *e, const workflow *wf, const step_def *gated, json_t *run,
                     json_t *entry, bool *revised, sp_error *err)
{
    *revised = false;
    json_t *steps = json_object_get(run, "steps");
    json_t *agent_entry = NULL;
    const step_def *agent = NULL;
    for (size_t i = json_array_size(steps); i-- > 0 && !agent;) {
        json_t *s = json_array_get(steps, i);
        int idx = workflow_step_index(wf, json_str(s, "id"));
        if (idx >= 0 && wf->steps[idx].kind == STEP_AGENT) {
            agent = &wf->steps[idx];
            agent_entry = s;
        }
    }
    if (!agent)
        return SP_OK;                       /* nothing to revise: the caller fails the run */
    int visits = (int)json_integer_value(json_object_get(agent_entry, "visit"));
    if (visits > agent->u.agent->max_revisions)
        return SP_OK;
    /* The approver's words, from the gate. */
    json_t *gate = NULL;
    const char *gate_id = json_str(json_object_get(entry, "approval"), "id");
    sp_code rc = store_approval_get(e->w, gate_id ? gate_id : "", &gate, err);
    if (rc)
        return rc;
    json_t *decisions = json_object_get(gate, "decisions");
    json_t *last = json_array_get(decisions, json_array_size(decisions) - 1);
    json_t *transcript = json_object_get(json_object_get(agent_entry, "output"), "transcript");
    json_t *revise = json_pack("{s:s, s:O?, s:O?, s:O?}", "step", agent->id, "comment",
                               json_object_get(last, "comment"), "by", json_object_get(last, "by"),
                               "proposal", json_object_get(gate, "proposal"));
    json_object_set_new(revise, "transcript",
                        transcript ? json_incref(transcript) : json_array());
    json_object_set_new(run, "_revise", revise);
    /* The gate this revision reaches goes to a person, whatever its `when`
     * says, and to the people the rejected gate was with: a proposal made
     * right after a person said no is never carried out unseen. gate_open
     * takes this up (and removes it) when the run is next at the gate. */
    json_t *revision = json_pack(
        "{s:s, s:i, s:O, s:O?, s:{s:O, s:O, s:O?, s:O?, s:O?}}", "step", gated->id, "number",
        visits, "assignees", json_object_get(gate, "assignees"), "route",
        json_object_get(gate, "route"), "rejected", "approval_id", json_object_get(gate, "id"),
        "proposal", json_object_get(gate, "proposal"), "by", json_object_get(last, "by"),
        "comment", json_object_get(last, "comment"), "at",
        last ? json_object_get(last, "at") : json_object_get(gate, "resolved_at"));
    json_decref(gate);
    if (!revision)
        return sp_error_set(err, SP_ENOMEM, "out of memory recording a revision");
    json_object_set_new(run, "_revision", revision);
    rc = engine_audit(e, "system", "agent.revise", json_str(run, "id"), gate_id,
                      json_pack("{s:s, s:s, s:i}", "from", gated->id, "to", agent->id,
                                "revision", visits),
                      err);
    if (rc == SP_OK) {
        json_object_set_new(run, "_cursor", json_integer(agent->index));
        *revised = true;
    }
    return rc;
}
