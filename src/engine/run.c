/*
 * run.c - moving a run through its steps.
 *
 * A run document (docs/internals/architecture.md) records every visit of
 * every step in `steps`, in the order they ran, and the index of the step it
 * is at in `_cursor` (FLOW_END when done). run_advance executes steps until
 * the run waits (a gate) or ends. The steps of this issue have no side
 * effects, so a whole advance happens inside the caller's transaction: if
 * the process dies before the commit, the run is found where it was.
 *
 * The expression input (SPEC §3) is built once per advance from the run and
 * kept up to date as steps complete, not rebuilt per step.
 *
 * A step whose expression fails is a step failure - recorded in the run, and
 * routed to on_error or ending the run failed - never a command error.
 */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"

/* A run that goes this many steps without pausing is failed: validation
 * refuses cycles without a gate, but auto-approved gates can still loop. */
#define RUN_MAX_STEPS_PER_ADVANCE 10000

static json_t *ctx_step(json_t *entry)
{
    json_t *approval = json_object_get(entry, "approval");
    return json_pack("{s:O, s:O, s:O}", "status", json_object_get(entry, "status"),
                     "output", json_object_get(entry, "output") ? json_object_get(entry, "output") : json_null(),
                     "approval", approval ? approval : json_null());
}

/* The expression input of SPEC §3 for this run. */
static json_t *ctx_build(const json_t *run)
{
    json_t *steps = json_object();
    size_t i;
    json_t *entry;
    json_array_foreach(json_object_get(run, "steps"), i, entry)
        json_object_set_new(steps, json_str(entry, "id"), ctx_step(entry));
    return json_pack("{s:O, s:o, s:{s:O, s:O, s:O, s:O, s:O}, s:n}",
                     "input", json_object_get(run, "input"),
                     "steps", steps,
                     "run", "id", json_object_get(run, "id"),
                     "workflow", json_object_get(run, "workflow"),
                     "version", json_object_get(run, "version"),
                     "started_by", json_object_get(run, "started_by"),
                     "started_at", json_object_get(run, "created_at"),
                     "proposal");
}

static void ctx_update(json_t *ctx, json_t *entry)
{
    json_object_set_new(json_object_get(ctx, "steps"), json_str(entry, "id"), ctx_step(entry));
}

static int cursor_of(const json_t *run)
{
    return (int)json_integer_value(json_object_get(run, "_cursor"));
}

static void set_cursor(json_t *run, int target)
{
    json_object_set_new(run, "_cursor", json_integer(target));
}

/* The open entry of this step (running, or waiting at its gate), if any. */
static json_t *open_entry(json_t *run, const step_def *step)
{
    json_t *steps = json_object_get(run, "steps");
    size_t n = json_array_size(steps);
    if (n == 0)
        return NULL;
    json_t *last = json_array_get(steps, n - 1);
    const char *status = json_str(last, "status");
    if (strcmp(json_str(last, "id"), step->id) == 0 && status &&
        (strcmp(status, "running") == 0 || strcmp(status, "waiting") == 0))
        return last;
    return NULL;
}

static json_t *new_entry(json_t *run, const step_def *step)
{
    json_t *steps = json_object_get(run, "steps");
    int visit = 1;
    size_t i;
    json_t *e;
    json_array_foreach(steps, i, e)
        if (strcmp(json_str(e, "id"), step->id) == 0)
            visit++;
    json_t *entry = json_pack("{s:s, s:i, s:s, s:i, s:n, s:n, s:o, s:n}", "id", step->id,
                              "visit", visit, "status", "running", "attempts", 1, "output",
                              "error", "started_at", engine_now_json(), "ended_at");
    json_array_append_new(steps, entry);
    return entry;
}

static json_t *step_event(const json_t *entry)
{
    return json_pack("{s:O, s:O}", "step", json_object_get(entry, "id"), "visit",
                     json_object_get(entry, "visit"));
}

sp_code run_save(engine *e, json_t *run, sp_error *err)
{
    json_object_set_new(run, "updated_at", engine_now_json());
    engine_mark_changed(e, "run", json_str(run, "id"));
    return store_run_put(e->w, run, err);
}

sp_code run_finish(engine *e, json_t *run, const char *status, json_t *error, sp_error *err)
{
    json_object_set_new(run, "status", json_string(status));
    json_object_set_new(run, "waiting", json_null());
    json_object_set_new(run, "error", error ? error : json_null());
    set_cursor(run, FLOW_END);
    return engine_audit(e, json_str(run, "started_by"), "run.ended", json_str(run, "id"), NULL,
                        json_pack("{s:s}", "status", status), err);
}

/* Moves the run to target, ending it when the target is end or fail. */
static sp_code go_to(engine *e, json_t *run, int target, const char *from_step, sp_error *err)
{
    if (target >= 0) {
        set_cursor(run, target);
        return SP_OK;
    }
    if (target == FLOW_END)
        return run_finish(e, run, "completed", NULL, err);
    return run_finish(e, run, "failed",
                      json_pack("{s:s, s:s}", "step", from_step, "message",
                                "the workflow chose to fail here"), err);
}

static sp_code step_failed(engine *e, const step_def *step, json_t *run, json_t *entry,
                           json_t *ctx, const char *message, sp_error *err)
{
    json_object_set_new(entry, "status", json_string("failed"));
    json_object_set_new(entry, "error", json_pack("{s:s}", "message", message));
    json_object_set_new(entry, "ended_at", engine_now_json());
    ctx_update(ctx, entry);
    json_t *data = step_event(entry);
    json_object_set_new(data, "error", json_string(message));
    sp_code rc = engine_audit(e, "system", "step.failed", json_str(run, "id"), NULL, data, err);
    if (rc)
        return rc;
    if (step->on_error >= 0) {
        set_cursor(run, step->on_error);
        return SP_OK;
    }
    return run_finish(e, run, "failed",
                      json_pack("{s:s, s:s}", "step", step->id, "message", message), err);
}

static sp_code step_completed(engine *e, const step_def *step, json_t *run, json_t *entry,
                              json_t *ctx, json_t *output, int next, sp_error *err)
{
    json_object_set_new(entry, "status", json_string("completed"));
    json_object_set_new(entry, "output", output);
    json_object_set_new(entry, "ended_at", engine_now_json());
    json_object_set(run, "output", output);
    ctx_update(ctx, entry);
    sp_code rc = engine_audit(e, "system", "step.completed", json_str(run, "id"), NULL,
                              step_event(entry), err);
    return rc ? rc : go_to(e, run, next, step->id, err);
}

static sp_code step_rejected(engine *e, const step_def *step, json_t *run, json_t *entry,
                             json_t *ctx, sp_error *err)
{
    json_object_set_new(entry, "status", json_string("rejected"));
    json_object_set_new(entry, "ended_at", engine_now_json());
    ctx_update(ctx, entry);
    if (step->on_reject >= 0) {
        set_cursor(run, step->on_reject);
        return SP_OK;
    }
    if (step->on_reject == FLOW_END)
        return run_finish(e, run, "completed", NULL, err);
    json_t *approval = json_object_get(entry, "approval");
    return run_finish(e, run, "failed",
                      json_pack("{s:s, s:s, s:O}", "step", step->id, "message",
                                "the approval was rejected", "approval_id",
                                json_object_get(approval, "id")), err);
}

/* Runs the step's own work with the gate (if any) passed. */
static sp_code execute(engine *e, const workflow *wf, const step_def *step, json_t *run,
                       json_t *entry, json_t *ctx, json_t *proposal, sp_error *err)
{
    sp_error step_err = SP_ERROR_INIT;
    json_t *out = NULL;
    int next = step->next;
    sp_code rc;

    json_object_set(ctx, "proposal", proposal ? proposal : json_null());
    switch (step->kind) {
    case STEP_TRANSFORM:
        out = expr_eval(wf->program, step->u.transform.expr, ctx, e->env, NULL, &step_err);
        break;
    case STEP_SWITCH:
        next = FLOW_FAIL;
        for (size_t i = 0; i < step->u.sw.ncases; i++) {
            const switch_case *c = &step->u.sw.cases[i];
            bool match = true;
            if (c->when != EXPR_NONE) {
                json_t *v = expr_eval(wf->program, c->when, ctx, e->env, NULL, &step_err);
                if (!v)
                    break;
                match = expr_truthy(v);
                json_decref(v);
            }
            if (match) {
                next = c->next;
                out = json_pack("{s:i, s:s}", "case", (int)i, "next",
                                c->next >= 0 ? wf->steps[c->next].id
                                             : c->next == FLOW_END ? "end" : "fail");
                break;
            }
        }
        if (!out && step_err.code == SP_OK)
            sp_error_set(&step_err, SP_EINVALID, "no case of the switch matched");
        break;
    case STEP_APPROVAL:
        out = proposal ? json_incref(proposal) : json_null();
        break;
    case STEP_SUCCEED:
        if (step->u.succeed.output != EXPR_NONE)
            out = expr_eval(wf->program, step->u.succeed.output, ctx, e->env, NULL, &step_err);
        else
            out = json_incref(json_object_get(run, "output") ? json_object_get(run, "output")
                                                             : json_null());
        next = FLOW_END;
        break;
    case STEP_FAIL: {
        json_t *msg = step->u.fail.error
            ? expr_template_render(step->u.fail.error, wf->program, ctx, e->env, NULL, &step_err)
            : json_string("the workflow failed here");
        if (!msg)
            break;
        const char *text = json_is_string(msg) ? json_string_value(msg) : NULL;
        char *dumped = text ? NULL : json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
        rc = step_failed(e, step, run, entry, ctx, text ? text : dumped, err);
        free(dumped);
        json_decref(msg);
        json_object_set_new(ctx, "proposal", json_null());
        /* A fail step ends the run even when on_error is set. */
        if (rc == SP_OK && strcmp(json_str(run, "status"), "running") == 0)
            rc = run_finish(e, run, "failed",
                            json_pack("{s:s, s:O}", "step", step->id, "message",
                                      json_object_get(json_object_get(entry, "error"), "message")),
                            err);
        return rc;
    }
    }
    json_object_set_new(ctx, "proposal", json_null());
    if (!out) {
        rc = step_failed(e, step, run, entry, ctx,
                         step_err.message[0] ? step_err.message : "expression failed", err);
        sp_error_clear(&step_err);
        return rc;
    }
    sp_error_clear(&step_err);
    return step_completed(e, step, run, entry, ctx, out, next, err);
}

sp_code run_advance(engine *e, const workflow *wf, json_t *run, sp_error *err)
{
    json_t *ctx = ctx_build(run);
    sp_code rc = SP_OK;
    int budget = RUN_MAX_STEPS_PER_ADVANCE;

    while (rc == SP_OK && strcmp(json_str(run, "status"), "running") == 0) {
        int cursor = cursor_of(run);
        if (cursor < 0 || (size_t)cursor >= wf->nsteps) {
            rc = run_finish(e, run, "completed", NULL, err);
            break;
        }
        if (--budget < 0) {
            rc = run_finish(e, run, "failed",
                            json_pack("{s:s}", "message",
                                      "the run went through too many steps without pausing"),
                            err);
            break;
        }
        const step_def *step = &wf->steps[cursor];
        json_t *entry = open_entry(run, step);
        if (!entry) {
            entry = new_entry(run, step);
            if ((rc = engine_audit(e, "system", "step.started", json_str(run, "id"), NULL,
                                   step_event(entry), err)))
                break;
        }
        json_t *proposal = NULL;
        if (step->gate) {
            json_t *approval = json_object_get(entry, "approval");
            const char *gstatus = approval ? json_str(approval, "status") : NULL;
            if (!approval) {
                bool waiting = false;
                rc = gate_open(e, wf, step, run, entry, ctx, &waiting, &proposal, err);
                if (rc == SP_EINVALID) {        /* an expression of the gate failed */
                    char message[SP_ERROR_MESSAGE_MAX];
                    snprintf(message, sizeof message, "%s", err->message);
                    sp_error_clear(err);
                    rc = step_failed(e, step, run, entry, ctx, message, err);
                    continue;
                }
                if (rc || waiting)
                    break;
            } else if (gstatus && strcmp(gstatus, "approved") == 0) {
                proposal = json_incref(json_object_get(approval, "proposal"));
                json_object_set_new(entry, "status", json_string("running"));
            } else if (gstatus && (strcmp(gstatus, "rejected") == 0 ||
                                   strcmp(gstatus, "expired") == 0)) {
                rc = step_rejected(e, step, run, entry, ctx, err);
                continue;
            } else {
                break;                          /* still pending: nothing to do */
            }
        }
        rc = execute(e, wf, step, run, entry, ctx, proposal, err);
        json_decref(proposal);
    }
    json_decref(ctx);
    return rc;
}
