/*
 * cmd_gate.c - decisions, reassignment, and gates asked for by external
 * agents.
 *
 * Deciding is where "exactly once" is earned. The engine thread is the only
 * writer, so decisions on one gate are applied one after another, each
 * against the state the previous one left: however many arrive at once, the
 * first that satisfies the policy resolves the gate and every later one sees
 * a final gate and gets 409. The resolution, the resumed run and the audit
 * rows are in the same transaction as the decision.
 */
#include "engine/engine_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "gate/gate.h"

/* The run's step entry waiting on this gate. */
static json_t *entry_for_gate(json_t *run, const char *approval_id)
{
    json_t *steps = json_object_get(run, "steps");
    for (size_t i = json_array_size(steps); i-- > 0;) {
        json_t *entry = json_array_get(steps, i);
        const char *id = json_str(json_object_get(entry, "approval"), "id");
        if (id && strcmp(id, approval_id) == 0)
            return entry;
    }
    return NULL;
}

/* The run of a gate asked for by an agent is the gate: it ends with the
 * gate, its output the outcome. An expired gate ends it as on_timeout says. */
static sp_code finish_agent_run(engine *e, json_t *run, json_t *gate, sp_error *err)
{
    const char *gstatus = json_str(gate, "status");
    const char *on_timeout = json_str(gate, "on_timeout");
    json_object_set_new(run, "output",
                        json_pack("{s:s, s:O, s:O}", "status", gstatus, "proposal",
                                  json_object_get(gate, "proposal"), "decisions",
                                  json_object_get(gate, "decisions")));
    if (strcmp(gstatus, "expired") != 0)
        return run_finish(e, run, "completed", NULL, err);
    json_object_set_new(json_object_get(run, "output"), "on_timeout",
                        json_string(on_timeout ? on_timeout : "fail"));
    if (!on_timeout || strcmp(on_timeout, "fail") == 0)
        return run_finish(e, run, "failed",
                          json_pack("{s:s, s:O}", "message", "the approval expired",
                                    "approval_id", json_object_get(gate, "id")), err);
    return run_finish(e, run, "completed", NULL, err);
}

sp_code gate_resume_run(engine *e, json_t *gate, sp_error *err)
{
    const char *run_id = json_str(gate, "run_id");
    const char *gstatus = json_str(gate, "status");
    json_t *run = NULL;
    sp_code rc = store_run_get(e->w, run_id, &run, err);
    if (rc)
        return rc;
    if (strcmp(json_str(run, "status"), "waiting") != 0)
        goto out;               /* canceled meanwhile: nothing to resume */

    json_object_set_new(run, "status", json_string("running"));
    json_object_set_new(run, "waiting", json_null());
    if (!json_str(run, "workflow")) {
        if ((rc = finish_agent_run(e, run, gate, err)) ||
            (rc = callback_schedule(e, gate, err)) ||
            (rc = gate_save(e, gate, err)))
            goto out;
    } else {
        json_t *entry = entry_for_gate(run, json_str(gate, "id"));
        if (!entry) {
            rc = sp_error_set(err, SP_EINTERNAL, "run %s does not wait on approval %s",
                              run_id, json_str(gate, "id"));
            goto out;
        }
        /* What the steps after read as .steps.<id>.approval: the outcome,
         * the proposal as resolved (edited by an approval; an expired gate
         * may go on as approved under on_timeout: approve) and who decided
         * what, with their comments. */
        json_t *approval = json_object_get(entry, "approval");
        json_object_set_new(approval, "status", json_string(gstatus));
        json_object_set(approval, "proposal", json_object_get(gate, "proposal"));
        json_object_set_new(approval, "decisions",
                            json_deep_copy(json_object_get(gate, "decisions")));
        workflow *wf = NULL;
        if ((rc = engine_audit(e, "system", "run.resumed", run_id, json_str(gate, "id"), NULL,
                               err)) ||
            (rc = wfcache_get(e, json_str(run, "workflow"),
                              (int)json_integer_value(json_object_get(run, "version")), &wf,
                              err)) ||
            (rc = run_advance(e, wf, run, err)))
            goto out;
    }
    if (rc == SP_OK)
        rc = run_save(e, run, err);
out:
    json_decref(run);
    return rc;
}

static sp_code load_gate(engine *e, const char *id, json_t **gate, sp_error *err)
{
    if (!id)
        return sp_error_set(err, SP_EBADINPUT, "approval_id: required");
    sp_code rc = store_approval_get(e->w, id, gate, err);
    if (rc == SP_ENOTFOUND)
        return sp_error_set(err, SP_ENOTFOUND, "no approval '%s'", id);
    return rc;
}

sp_code cmd_decide(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *id = json_str(cmd->args, "approval_id");
    json_t *gate = NULL;
    bool resolved = false;
    sp_code rc = load_gate(e, id, &gate, err);
    if (rc)
        return rc;
    /* Someone who may not see the gate learns nothing of it: the same 404
     * as for no gate, before gate_decide's "not an assignee" 403 could
     * tell that it exists. A signed link names its user and gate already. */
    if (!json_object_get(cmd->args, "link_nonce") && !principal_sees_gate(&cmd->who, gate)) {
        json_decref(gate);
        return sp_error_set(err, SP_ENOTFOUND, "no approval '%s'", id);
    }

    gate_decision d = {
        .by = cmd->who.name,
        .teams = cmd->who.teams,
        .decision = json_str(cmd->args, "decision"),
        .comment = json_str(cmd->args, "comment"),
        .edits = json_object_get(cmd->args, "edits"),
        .via = json_str(cmd->args, "via"),
        .at = clock_now(),
    };
    /* A signed link works once: its use is recorded with the decision, so a
     * decision that fails leaves the link usable. */
    const char *link_nonce = json_str(cmd->args, "link_nonce");
    if ((rc = gate_decide(gate, &d, &resolved, err)) ||
        (link_nonce && (rc = store_link_use(e->w, link_nonce, id, d.at, err))) ||
        (rc = gate_save(e, gate, err)))
        goto out;
    json_t *decisions = json_object_get(gate, "decisions");
    json_t *last = json_array_get(decisions, json_array_size(decisions) - 1);
    const char *run_id = json_str(gate, "run_id");
    if ((rc = engine_audit(e, cmd->who.name, "decision", run_id, id, json_incref(last), err)))
        goto out;
    if (resolved &&
        ((rc = engine_audit(e, "system", "gate.resolved", run_id, id,
                            json_pack("{s:O}", "status", json_object_get(gate, "status")), err)) ||
         (json_is_true(json_object_get(gate, "_timers")) &&
          (rc = store_timer_cancel(e->w, NULL, id, err))) ||
         (rc = gate_resume_run(e, gate, err))))
        goto out;
    *status = 200;
    *body = engine_public(gate);
out:
    json_decref(gate);
    return rc;
}

sp_code cmd_reassign(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *id = json_str(cmd->args, "approval_id");
    json_t *to = json_object_get(cmd->args, "to");
    json_t *gate = NULL;

    if (!principal_is_admin(&cmd->who))
        return sp_error_set(err, SP_EFORBIDDEN, "only admins may reassign approvals");
    if (!json_is_array(to) || json_array_size(to) == 0)
        return sp_error_set(err, SP_EBADINPUT, "to: a non-empty list of user:NAME or team:NAME");
    sp_code rc = load_gate(e, id, &gate, err);
    if (rc)
        return rc;
    if (strcmp(json_str(gate, "status"), "pending") != 0) {
        rc = sp_error_set(err, SP_ECONFLICT, "approval %s is already %s", id,
                          json_str(gate, "status"));
        goto out;
    }
    json_t *before = json_incref(json_object_get(gate, "assignees"));
    json_object_set(gate, "assignees", to);
    if ((rc = gate_save(e, gate, err)) == SP_OK)
        rc = engine_audit(e, cmd->who.name, "gate.reassigned", json_str(gate, "run_id"), id,
                          json_pack("{s:o, s:O}", "from", before, "to", to), err);
    else
        json_decref(before);
    if (rc == SP_OK) {
        *status = 200;
        *body = engine_public(gate);
    }
out:
    json_decref(gate);
    return rc;
}

/* policy.approvals as readers see it: N, or "all" for 0. */
static json_t *approvals_value(int approvals)
{
    return approvals > 0 ? json_integer(approvals) : json_string("all");
}

/*
 * An external agent asks for a decision without a workflow. The gate gets a
 * run of its own (workflow null) so it has the same life as any other: the
 * run waits, the decision completes it with {status, proposal, decisions}.
 */
sp_code cmd_create_approval(engine *e, engine_cmd *cmd, int *status, json_t **body,
                            sp_error *err)
{
    json_t *a = cmd->args;
    json_t *to = json_object_get(a, "to");
    json_t *policy = json_object_get(a, "policy");
    const char *title = json_str(a, "title");

    if (strcmp(cmd->who.role, "viewer") == 0)
        return sp_error_set(err, SP_EFORBIDDEN, "viewers cannot ask for approvals");
    if (!title)
        return sp_error_set(err, SP_EBADINPUT, "title: required");
    if (!json_is_array(to) || json_array_size(to) == 0)
        return sp_error_set(err, SP_EBADINPUT, "to: a non-empty list of user:NAME or team:NAME");
    /* policy.approvals: N (the API bounds it) or "all" (0 here). */
    int approvals = 1;
    json_t *pa = json_object_get(policy, "approvals");
    if (json_is_integer(pa) && json_integer_value(pa) >= 1)
        approvals = (int)json_integer_value(pa);
    else if (json_is_string(pa) && strcmp(json_string_value(pa), "all") == 0)
        approvals = 0;
    json_int_t needed;
    sp_code rc = gate_approvals_needed(e, approvals, to, &needed, err);
    if (rc)
        return rc;
    int64_t timeout_ms = 0;
    const char *timeout = json_str(a, "timeout"), *on_timeout = json_str(a, "on_timeout");
    if (timeout && (duration_parse(timeout, &timeout_ms) != 0 || timeout_ms <= 0))
        return sp_error_set(err, SP_EINVALID, "timeout: not a duration such as \"4h\"");
    if (on_timeout && !timeout)
        return sp_error_set(err, SP_EINVALID, "on_timeout: needs a timeout");
    json_t *fsa = json_object_get(policy, "forbid_self_approval");
    const char *rcmt = json_str(policy, "require_comment");
    /* editable: a list of pointers or a map of pointer -> bounds, as in a
     * workflow's gate; the gate keeps the map form. */
    json_t *editable = NULL;
    json_t *ev = json_object_get(a, "editable");
    if (ev && !json_is_null(ev)) {
        if ((rc = workflow_editable_parse(ev, "editable", &editable, err)))
            return rc;
    } else {
        editable = json_object();
    }

    char run_id[SP_ID_MAX], id[SP_ID_MAX], at[SP_TIME_BUF];
    sp_time now = clock_now();
    id_new("run", now, run_id);
    id_new("apr", now, id);
    time_format(now, at);
    json_t *proposal = json_object_get(a, "proposal");
    char *callback_secret = NULL;
    json_t *gate = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:O, s:O, s:O, s:O, s:{s:o, s:b, s:s},"
        " s:[], s:n, s:s, s:n, s:b, s:s, s:o, s:O, s:I, s:i}",
        "id", id, "run_id", run_id, "step", "approval", "status", "pending", "title", title,
        "summary", json_object_get(a, "summary") ? json_object_get(a, "summary") : json_null(),
        "urgency", json_str(a, "urgency") ? json_str(a, "urgency") : "normal",
        "proposal", proposal ? proposal : json_null(),
        "reasoning", json_object_get(a, "reasoning") ? json_object_get(a, "reasoning") : json_null(),
        "context", json_object_get(a, "context") ? json_object_get(a, "context") : json_null(),
        "assignees", to,
        "policy", "approvals", approvals_value(approvals), "forbid_self_approval", fsa ? json_is_true(fsa) : 1,
        "require_comment", rcmt ? rcmt : "reject",
        "decisions", "due_at", "created_at", at, "resolved_at", "auto", 0,
        "_started_by", cmd->who.name, "editable", editable, "_original", proposal ? proposal : json_null(),
        "_needed", needed, "_visit", 1);
    json_t *run = json_pack(
        "{s:s, s:n, s:n, s:s, s:s, s:{}, s:n, s:n, s:[{s:s, s:i, s:s, s:i, s:n, s:n, s:{s:s, s:s},"
        " s:s, s:n}], s:{s:s, s:s}, s:s, s:s, s:i}",
        "id", run_id, "workflow", "version", "status", "waiting", "started_by", cmd->who.name,
        "input", "output", "error",
        "steps", "id", "approval", "visit", 1, "status", "waiting", "attempts", 1, "output",
        "error", "approval", "id", id, "status", "pending", "started_at", at, "ended_at",
        "waiting", "type", "approval", "approval_id", id, "created_at", at, "updated_at", at,
        "_cursor", 0);
    if (!gate || !run) {
        rc = sp_error_set(err, SP_ENOMEM, "out of memory creating an approval");
        goto out;
    }
    gate_add_timer_fields(gate, timeout ? (on_timeout ? on_timeout : "fail") : NULL);
    const char *callback_url = json_str(a, "callback_url");
    if (callback_url) {
        callback_secret = callback_secret_new();
        json_object_set_new(gate, "_callback", json_pack("{s:s, s:s}", "url", callback_url,
                                                         "secret", callback_secret));
        json_object_set_new(gate, "callback", json_pack("{s:s, s:s, s:i}", "url", callback_url,
                                                        "state", "waiting", "attempts", 0));
    }
    if (timeout_ms > 0) {
        char due[SP_TIME_BUF];
        json_object_set_new(gate, "due_at", json_string(time_format(now + timeout_ms, due)));
    }
    if ((rc = engine_audit(e, cmd->who.name, "run.started", run_id, NULL,
                           json_pack("{s:n}", "workflow"), err)) ||
        (rc = gate_timers_schedule(e, NULL, gate, now, timeout_ms, err)) ||
        (rc = gate_save(e, gate, err)) ||
        (rc = engine_audit(e, "system", "gate.opened", run_id, id,
                           json_pack("{s:s, s:O}", "step", "approval", "assignees", to), err)) ||
        (rc = run_save(e, run, err)))
        goto out;
    *status = 201;
    *body = engine_public(gate);
    if (callback_secret)        /* shown this once, like an API key */
        json_object_set_new(*body, "callback_secret", json_string(callback_secret));
out:
    if (callback_secret) {
        sodium_memzero(callback_secret, strlen(callback_secret));
        free(callback_secret);
    }
    json_decref(gate);
    json_decref(run);
    return rc;
}
