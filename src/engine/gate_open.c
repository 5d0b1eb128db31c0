/*
 * gate_open.c - opening an approval gate when a run reaches a gated step.
 *
 * Everything an approver sees is frozen here, when the gate opens: the
 * proposal, reasoning, title, summary, context and the assignees chosen by
 * the first matching route. Later changes to the run or to team membership
 * do not alter what was asked (team membership is still checked when a
 * decision arrives).
 *
 * A gate reached by a revision after a rejection (run "_revision", set by
 * agent_revise) waits for a person whatever its `when` says, goes to the
 * rejected gate's assignees and shows `revision: {number, rejected:
 * {approval_id, proposal, by, comment, at}}`.
 *
 * A gate whose assignees are fewer people able to decide than its
 * `approvals: N` (none, for most) goes to the admins instead, recorded as
 * gate.unroutable before gate.opened (routing.c).
 *
 * Errors: SP_EINVALID means an expression of the gate failed (the caller
 * fails the step); anything else is a store failure.
 */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <string.h>

#include "core/ids.h"
#include "expr/expr.h"

/* Evaluates an optional expression; a missing one gives fallback (borrowed). */
static json_t *eval_opt(engine *e, const workflow *wf, int expr, json_t *ctx,
                        json_t *fallback, const char *what, sp_error *err)
{
    if (expr == EXPR_NONE)
        return json_incref(fallback ? fallback : json_null());
    json_t *v = expr_eval(wf->program, expr, ctx, e->env, NULL, err);
    if (!v) {
        char inner[SP_ERROR_MESSAGE_MAX];
        snprintf(inner, sizeof inner, "%s", err->message);
        sp_error_set(err, SP_EINVALID, "approval %s: %s", what, inner);
    }
    return v;
}

static json_t *render_opt(engine *e, const workflow *wf, expr_template *t, json_t *ctx,
                          const char *fallback, const char *what, sp_error *err)
{
    if (!t)
        return fallback ? json_string(fallback) : json_null();
    json_t *v = expr_template_render(t, wf->program, ctx, e->env, NULL, err);
    if (!v) {
        char inner[SP_ERROR_MESSAGE_MAX];
        snprintf(inner, sizeof inner, "%s", err->message);
        sp_error_set(err, SP_EINVALID, "approval %s: %s", what, inner);
    }
    return v;
}

/* The assignees of the first route whose `when` holds, and its index. */
static sp_code route(engine *e, const workflow *wf, const gate_def *g, json_t *ctx,
                     json_t **assignees, int *index, sp_error *err)
{
    for (size_t i = 0; i < g->nroutes; i++) {
        const gate_route *r = &g->routes[i];
        if (r->when != EXPR_NONE) {
            json_t *v = eval_opt(e, wf, r->when, ctx, NULL, "route when", err);
            if (!v)
                return SP_EINVALID;
            bool holds = expr_truthy(v);
            json_decref(v);
            if (!holds)
                continue;
        }
        *assignees = json_array();
        for (size_t k = 0; k < r->nto; k++)
            json_array_append_new(*assignees, json_string(r->to[k]));
        *index = (int)i;
        return SP_OK;
    }
    return sp_error_set(err, SP_EINVALID, "approval route: no route matched this run");
}

sp_code gate_approvals_needed(engine *e, int approvals, json_t *assignees,
                              json_int_t *needed, sp_error *err)
{
    if (approvals > 0) {
        *needed = approvals;
        return SP_OK;
    }
    json_t *users = json_object();
    size_t i;
    json_t *a;
    sp_code rc = SP_OK;
    json_array_foreach(assignees, i, a) {
        const char *s = json_string_value(a);
        if (strncmp(s, "user:", 5) == 0) {
            json_object_set_new(users, s + 5, json_true());
        } else if (strncmp(s, "team:", 5) == 0) {
            json_t *members = NULL;
            if ((rc = store_team_members(e->w, s + 5, &members, err)))
                break;
            size_t k;
            json_t *m;
            json_array_foreach(members, k, m)
                json_object_set_new(users, json_string_value(m), json_true());
            json_decref(members);
        }
    }
    *needed = (json_int_t)json_object_size(users);
    json_decref(users);
    if (rc == SP_OK && *needed == 0)
        return sp_error_set(err, SP_EINVALID, "approval policy all: the assignees have no members");
    return rc;
}

static const char *require_comment_name(require_comment r)
{
    return r == REQUIRE_COMMENT_ALWAYS ? "always" : r == REQUIRE_COMMENT_NEVER ? "never" : "reject";
}

/* What the approver may change and within what bounds, as the gate shows
 * it ({"/amount": {"type": "number", "minimum": 0}}); a copy, so the
 * gate document owns its own. */
static json_t *editable_map(const gate_def *g)
{
    return g->editable ? json_deep_copy(g->editable) : json_object();
}

/* The `when` rule's source text, for the record of an auto-approval. */
static json_t *when_source(const workflow *wf, const step_def *step)
{
    json_t *s = json_array_get(json_object_get(wf->definition, "steps"), (size_t)step->index);
    json_t *when = json_object_get(json_object_get(s, "approval"), "when");
    return when ? json_incref(when) : json_null();
}

void gate_add_timer_fields(json_t *gate, const char *on_timeout)
{
    json_object_set_new(gate, "on_timeout", on_timeout ? json_string(on_timeout) : json_null());
    json_object_set_new(gate, "escalation_level", json_integer(0));
    json_object_set_new(gate, "escalations", json_array());
    json_object_set_new(gate, "reminders_sent", json_integer(0));
    json_object_set_new(gate, "last_reminded_at", json_null());
}

sp_code gate_save(engine *e, json_t *gate, sp_error *err)
{
    engine_mark_changed(e, "approval", json_str(gate, "id"));
    return store_approval_put(e->w, gate, err);
}

sp_code gate_open(engine *e, const workflow *wf, const step_def *step, json_t *run,
                  json_t *entry, json_t *ctx, bool *waiting, json_t **proposal_out,
                  sp_error *err)
{
    const gate_def *g = step->gate;
    const char *run_id = json_str(run, "id");
    json_t *proposal = NULL, *reasoning = NULL, *context = NULL, *title = NULL, *summary = NULL;
    json_t *assignees = NULL, *gate = NULL, *unroutable = NULL;
    sp_code rc = SP_EINVALID;
    bool human = true;
    int route_index = -1;
    json_int_t needed = 1;

    *waiting = false;
    *proposal_out = NULL;
    if (g->when != EXPR_NONE) {
        json_t *v = eval_opt(e, wf, g->when, ctx, NULL, "when", err);
        if (!v)
            return SP_EINVALID;
        human = expr_truthy(v);
        json_decref(v);
    }
    /* A revision after a rejection (on_reject: revise) always waits for a
     * person: a `when` that would let it through is overruled, and said so
     * in the audit row. */
    json_t *revision = json_object_get(run, "_revision");
    if (revision && strcmp(json_str(revision, "step") ? json_str(revision, "step") : "",
                           step->id) != 0)
        revision = NULL;
    bool auto_skipped = revision && !human;
    if (revision)
        human = true;
    /* A gate on an http step shows the request it would send (secrets as ***). */
    if (g->proposal == EXPR_NONE && step->kind == STEP_HTTP)
        proposal = http_preview(e, wf, step, run, entry, ctx, err);
    else
        proposal = eval_opt(e, wf, g->proposal, ctx, json_object_get(run, "output"), "proposal",
                            err);
    if (!proposal ||
        !(reasoning = eval_opt(e, wf, g->reasoning, ctx, NULL, "reasoning", err)) ||
        !(context = eval_opt(e, wf, g->context, ctx, NULL, "context", err)) ||
        !(title = render_opt(e, wf, g->title, ctx, step->id, "title", err)) ||
        !(summary = render_opt(e, wf, g->summary, ctx, NULL, "summary", err)))
        goto out;
    if (revision && json_array_size(json_object_get(revision, "assignees")) > 0) {
        /* Routed as the rejected gate was (reassignments included). */
        json_t *idx = json_object_get(json_object_get(revision, "route"), "index");
        assignees = json_deep_copy(json_object_get(revision, "assignees"));
        route_index = json_is_integer(idx) ? (int)json_integer_value(idx) : -1;
    } else if (human && (rc = route(e, wf, g, ctx, &assignees, &route_index, err))) {
        goto out;
    }
    /* Too few able to decide: the admins are asked instead (routing.c). */
    if (human && (rc = routing_fallback(e, &assignees, json_str(run, "started_by"),
                                        g->forbid_self_approval, g->approvals, &unroutable,
                                        err)))
        goto out;
    if (human && (rc = gate_approvals_needed(e, g->approvals, assignees, &needed, err)))
        goto out;

    char id[SP_ID_MAX], at[SP_TIME_BUF];
    sp_time now = clock_now();
    id_new("apr", now, id);
    time_format(now, at);
    json_t *due = json_null();
    if (human && g->timeout_ms > 0) {
        char due_at[SP_TIME_BUF];
        due = json_string(time_format(now + g->timeout_ms, due_at));
    }
    gate = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:s, s:O, s:O, s:O, s:o,"
                     " s:{s:o, s:b, s:s}, s:[], s:o, s:s, s:o, s:b,"
                     " s:O, s:o, s:O, s:I, s:O}",
                     "id", id, "run_id", run_id, "step", step->id,
                     "status", human ? "pending" : "approved",
                     "title", title, "summary", summary,
                     "urgency", g->urgency ? g->urgency : "normal",
                     "proposal", proposal, "reasoning", reasoning, "context", context,
                     "assignees", assignees ? json_incref(assignees) : json_array(),
                     "policy",
                     "approvals", g->approvals > 0 ? json_integer(g->approvals) : json_string("all"),
                     "forbid_self_approval", g->forbid_self_approval,
                     "require_comment", require_comment_name(g->require_comment),
                     "decisions",
                     "due_at", due, "created_at", at,
                     "resolved_at", human ? json_null() : json_string(at),
                     "auto", !human,
                     "_started_by", json_object_get(run, "started_by"),
                     "editable", editable_map(g),
                     "_original", proposal,
                     "_needed", needed,
                     "_visit", json_object_get(entry, "visit"));
    if (!gate) {
        rc = sp_error_set(err, SP_ENOMEM, "out of memory opening approval");
        goto out;
    }
    if (revision)
        json_object_set_new(gate, "revision",
                            json_pack("{s:O, s:O}", "number", json_object_get(revision, "number"),
                                      "rejected", json_object_get(revision, "rejected")));
    if (human) {
        json_object_set_new(gate, "route", json_pack("{s:i}", "index", route_index));
        gate_add_timer_fields(gate, g->timeout_ms > 0 ? (g->on_timeout ? g->on_timeout : "fail")
                                                     : NULL);
    }
    if ((human && (rc = gate_timers_schedule(e, g, gate, now, g->timeout_ms, err))) ||
        (rc = gate_save(e, gate, err)))
        goto out;

    if (!human) {
        json_t *data = json_pack("{s:s, s:o}", "step", step->id, "rule", when_source(wf, step));
        if ((rc = engine_audit(e, "system", "gate.auto_approved", run_id, id, data, err)))
            goto out;
        json_object_set_new(entry, "approval", json_pack("{s:s, s:s, s:b, s:O, s:[]}", "id", id,
                                                         "status", "approved", "auto", 1,
                                                         "proposal", proposal, "decisions"));
        *proposal_out = json_incref(proposal);
        goto out;
    }
    json_t *data = json_pack("{s:s, s:i, s:O}", "step", step->id, "route", route_index,
                             "assignees", assignees);
    if (data && revision) {
        json_object_set(data, "revision", json_object_get(revision, "number"));
        json_object_set(data, "rejected_approval_id",
                        json_object_get(json_object_get(revision, "rejected"), "approval_id"));
        if (auto_skipped)
            json_object_set_new(data, "auto_approve_skipped",
                                json_string("revision after a rejection"));
    }
    if (unroutable) {
        json_object_set_new(unroutable, "step", json_string(step->id));
        rc = engine_audit(e, "system", "gate.unroutable", run_id, id, unroutable, err);
        unroutable = NULL;      /* stolen */
        if (rc) {
            json_decref(data);
            goto out;
        }
    }
    if ((rc = engine_audit(e, "system", "gate.opened", run_id, id, data, err)))
        goto out;
    if (revision)
        json_object_del(run, "_revision");      /* taken up: later gates are ordinary */
    json_object_set_new(entry, "status", json_string("waiting"));
    json_object_set_new(entry, "approval", json_pack("{s:s, s:s, s:O, s:[]}", "id", id, "status",
                                                     "pending", "proposal", proposal,
                                                     "decisions"));
    json_object_set_new(run, "status", json_string("waiting"));
    json_object_set_new(run, "waiting", json_pack("{s:s, s:s}", "type", "approval",
                                                  "approval_id", id));
    *waiting = true;

out:
    json_decref(proposal);
    json_decref(reasoning);
    json_decref(context);
    json_decref(title);
    json_decref(summary);
    json_decref(assignees);
    json_decref(gate);
    json_decref(unroutable);
    return rc;
}
