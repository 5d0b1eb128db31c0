/*
 * run.c - moving a run through its steps.
 *
 * A run document (docs/internals/architecture.md) records every visit of
 * every step in `steps`, in the order they ran, and the index of the step it
 * is at in `_cursor` (FLOW_END when done). run_advance executes steps until
 * the run waits (a gate, a wait step, a retry back-off) or ends. Waits and
 * retries are durable timers (timers.c); run_timer_wake continues the run
 * when one fires. A whole advance happens inside the caller's transaction:
 * if the process dies before the commit, the run is found where it was.
 * Steps with side effects (http, agent) do not act inside it: they record
 * the call in the step entry ("_in_flight") and queue it, and it is sent
 * only after the commit (http_step.c, agent_step.c); an http call carries
 * an idempotency key that is the same on every attempt of a visit.
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

#include <sodium.h>

/* A run that goes this many steps without pausing is failed: validation
 * refuses cycles without a gate, but auto-approved gates can still loop. */
#define RUN_MAX_STEPS_PER_ADVANCE 10000

/*
 * .steps.<id>.approval is {id, status, proposal, decisions} (SPEC §12): a
 * run document written before a gate's entry carried decisions, or a
 * rejected gate's entry without a proposal, reads with null and [] in their
 * place, so an expression sees one shape.
 */
static json_t *ctx_approval(json_t *approval)
{
    if (!json_is_object(approval))
        return json_null();
    if (json_object_get(approval, "proposal") && json_is_array(json_object_get(approval, "decisions")))
        return json_incref(approval);
    json_t *a = json_copy(approval);
    if (!json_object_get(a, "proposal"))
        json_object_set_new(a, "proposal", json_null());
    if (!json_is_array(json_object_get(a, "decisions")))
        json_object_set_new(a, "decisions", json_array());
    return a;
}

static json_t *ctx_step(json_t *entry)
{
    return json_pack("{s:O, s:O, s:o}", "status", json_object_get(entry, "status"),
                     "output", json_object_get(entry, "output") ? json_object_get(entry, "output") : json_null(),
                     "approval", ctx_approval(json_object_get(entry, "approval")));
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

/* The back-off before attempt `attempt + 1`: backoff * 2^(attempt-1), at
 * most max_backoff; with jitter drawn from the upper half of that. */
static int64_t retry_delay(const step_retry *r, int attempt)
{
    int64_t d = r->backoff_ms;
    for (int i = 1; i < attempt && d < r->max_backoff_ms; i++)
        d *= 2;
    if (d > r->max_backoff_ms)
        d = r->max_backoff_ms;
    if (r->jitter && d >= 2) {
        int64_t half = d / 2;
        uint32_t span = half > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)half;
        d = d - half + (int64_t)randombytes_uniform(span + 1);
    }
    return d;
}

/* A failed attempt of a step with retry left: the run waits for the next. */
static sp_code step_retry_later(engine *e, const step_def *step, json_t *run, json_t *entry,
                                const char *message, int attempt, int64_t min_delay_ms,
                                sp_error *err)
{
    int64_t delay = retry_delay(&step->retry, attempt);
    sp_time until = clock_now() + (delay > min_delay_ms ? delay : min_delay_ms);
    char at[SP_TIME_BUF];
    time_format(until, at);
    json_object_set_new(entry, "status", json_string("waiting"));
    json_object_set_new(entry, "error", json_pack("{s:s}", "message", message));
    json_object_set_new(run, "status", json_string("waiting"));
    json_object_set_new(run, "waiting", json_pack("{s:s, s:s, s:s}", "type", "retry", "until", at,
                                                  "step", step->id));
    json_t *data = step_event(entry);
    json_object_set_new(data, "attempt", json_integer(attempt));
    json_object_set_new(data, "error", json_string(message));
    json_object_set_new(data, "retry_at", json_string(at));
    sp_code rc = engine_audit(e, "system", "step.attempt_failed", json_str(run, "id"), NULL,
                              data, err);
    return rc ? rc : timer_schedule(e, until, "run.retry", json_str(run, "id"), NULL,
                                    step_event(entry), err);
}

static sp_code step_completed(engine *e, const step_def *step, json_t *run, json_t *entry,
                              json_t *ctx, json_t *output, int next, sp_error *err);

sp_code run_step_fail(engine *e, const step_def *step, json_t *run, json_t *entry, json_t *ctx,
                      const char *message, bool retryable, int64_t min_delay_ms, sp_error *err)
{
    int attempt = (int)json_integer_value(json_object_get(entry, "attempts"));
    if (retryable && step->kind != STEP_FAIL && attempt < step->retry.max_attempts)
        return step_retry_later(e, step, run, entry, message, attempt, min_delay_ms, err);
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

static sp_code step_failed(engine *e, const step_def *step, json_t *run, json_t *entry,
                           json_t *ctx, const char *message, sp_error *err)
{
    return run_step_fail(e, step, run, entry, ctx, message, true, 0, err);
}

sp_code run_step_complete(engine *e, const step_def *step, json_t *run, json_t *entry,
                          json_t *ctx, json_t *output, sp_error *err)
{
    return step_completed(e, step, run, entry, ctx, output, step->next, err);
}

/* RUN_OUTPUTS_MAX_BYTES: true (output released, the step failed) when
 * output would take the run's kept outputs past the limit; else counts it.
 * json_dumpb into no buffer only measures: nothing is copied. */
static bool outputs_over_limit(engine *e, const step_def *step, json_t *run, json_t *entry,
                               json_t *ctx, json_t *output, sp_code *rc, sp_error *err)
{
    char none[1];
    size_t n = json_dumpb(output, none, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    json_int_t kept = json_integer_value(json_object_get(run, "_output_bytes"));
    if (kept < 0)
        kept = 0;
    if ((json_int_t)n <= (json_int_t)RUN_OUTPUTS_MAX_BYTES - kept) {
        json_object_set_new(run, "_output_bytes", json_integer(kept + (json_int_t)n));
        return false;
    }
    json_decref(output);
    char msg[300];
    snprintf(msg, sizeof msg, "step '%s': its output is %zu bytes of JSON and the run keeps "
             "%lld bytes of step outputs already; a run keeps at most %u (16 MiB) in all",
             step->id, n, (long long)kept, RUN_OUTPUTS_MAX_BYTES);
    *rc = run_step_fail(e, step, run, entry, ctx, msg, false, 0, err);
    return true;
}

static sp_code step_completed(engine *e, const step_def *step, json_t *run, json_t *entry,
                              json_t *ctx, json_t *output, int next, sp_error *err)
{
    sp_code over_rc;
    if (outputs_over_limit(e, step, run, entry, ctx, output, &over_rc, err))
        return over_rc;
    json_object_set_new(entry, "status", json_string("completed"));
    json_object_set_new(entry, "output", output);
    json_object_set_new(entry, "ended_at", engine_now_json());
    json_object_set(run, "output", output);
    ctx_update(ctx, entry);
    sp_code rc = engine_audit(e, "system", "step.completed", json_str(run, "id"), NULL,
                              step_event(entry), err);
    return rc ? rc : go_to(e, run, next, step->id, err);
}

static sp_code step_rejected(engine *e, const workflow *wf, const step_def *step, json_t *run,
                             json_t *entry, json_t *ctx, sp_error *err)
{
    json_object_set_new(entry, "status", json_string("rejected"));
    json_object_set_new(entry, "ended_at", engine_now_json());
    ctx_update(ctx, entry);
    if (step->on_reject >= 0) {
        set_cursor(run, step->on_reject);
        return SP_OK;
    }
    if (step->on_reject == FLOW_REVISE) {
        bool revised = false;
        sp_code rc = agent_revise(e, wf, step, run, entry, &revised, err);
        if (rc || revised)
            return rc;
        /* No agent step to go back to, or no revisions left: as `fail`. */
    }
    if (step->on_reject == FLOW_END)
        return run_finish(e, run, "completed", NULL, err);
    json_t *approval = json_object_get(entry, "approval");
    return run_finish(e, run, "failed",
                      json_pack("{s:s, s:s, s:O}", "step", step->id, "message",
                                "the approval was rejected", "approval_id",
                                json_object_get(approval, "id")), err);
}

/*
 * The gate expired: on_timeout decides. approve goes on with the frozen
 * proposal (*go_on true, *proposal set); reject takes the on_reject path;
 * fail (the default) fails the run; a step id continues there.
 */
static sp_code step_expired(engine *e, const workflow *wf, const step_def *step, json_t *run,
                            json_t *entry, json_t *ctx, bool *go_on, json_t **proposal,
                            sp_error *err)
{
    const char *on_timeout = step->gate->on_timeout ? step->gate->on_timeout : "fail";
    json_t *approval = json_object_get(entry, "approval");
    *go_on = false;
    if (strcmp(on_timeout, "approve") == 0) {
        *proposal = json_incref(json_object_get(approval, "proposal"));
        json_object_set_new(entry, "status", json_string("running"));
        *go_on = true;
        return SP_OK;
    }
    if (strcmp(on_timeout, "reject") == 0)
        return step_rejected(e, wf, step, run, entry, ctx, err);
    json_object_set_new(entry, "status", json_string("expired"));
    json_object_set_new(entry, "ended_at", engine_now_json());
    ctx_update(ctx, entry);
    int target = workflow_step_index(wf, on_timeout);
    if (target >= 0) {
        set_cursor(run, target);
        return SP_OK;
    }
    return run_finish(e, run, "failed",
                      json_pack("{s:s, s:s, s:O}", "step", step->id, "message",
                                "the approval expired", "approval_id",
                                json_object_get(approval, "id")), err);
}

/*
 * A wait step, first time through: works out when it ends. If that is in
 * the future the run waits (*paused) with a run.wait timer; otherwise the
 * step completes at once. SP_EINVALID: `until` did not give a time.
 */
static sp_code wait_begin(engine *e, const workflow *wf, const step_def *step, json_t *run,
                          json_t *entry, json_t *ctx, bool *paused, sp_error *err)
{
    sp_time now = clock_now(), until = now + step->u.wait.for_ms;
    *paused = false;
    if (step->u.wait.until != EXPR_NONE) {
        json_t *v = expr_eval(wf->program, step->u.wait.until, ctx, e->env, NULL, err);
        if (!v)
            return SP_EINVALID;
        bool ok = json_is_string(v) && time_parse(json_string_value(v), &until) == 0;
        json_decref(v);
        if (!ok)
            return sp_error_set(err, SP_EINVALID,
                                "wait until: expected an RFC 3339 time such as "
                                "\"2026-01-01T09:00:00Z\"");
    }
    char at[SP_TIME_BUF];
    json_object_set_new(entry, "until", json_string(time_format(until, at)));
    if (until <= now)
        return SP_OK;
    json_object_set_new(entry, "status", json_string("waiting"));
    json_object_set_new(run, "status", json_string("waiting"));
    json_object_set_new(run, "waiting", json_pack("{s:s, s:s, s:s}", "type", "wait", "until", at,
                                                  "step", step->id));
    *paused = true;
    return timer_schedule(e, until, "run.wait", json_str(run, "id"), NULL, step_event(entry),
                          err);
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
    case STEP_HTTP:     /* handled by http_step and agent_step before execute */
    case STEP_AGENT:
        sp_error_set(&step_err, SP_EINTERNAL, "http step reached execute");
        break;
    case STEP_WAIT:     /* the time has come: the data passes through */
        out = json_incref(json_object_get(run, "output") ? json_object_get(run, "output")
                                                         : json_null());
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
            } else if (gstatus && strcmp(gstatus, "rejected") == 0) {
                rc = step_rejected(e, wf, step, run, entry, ctx, err);
                continue;
            } else if (gstatus && strcmp(gstatus, "expired") == 0) {
                bool go_on = false;
                rc = step_expired(e, wf, step, run, entry, ctx, &go_on, &proposal, err);
                if (!go_on)
                    continue;
            } else {
                break;                          /* still pending: nothing to do */
            }
        }
        if (step->kind == STEP_AGENT) {
            bool in_flight = false;
            json_decref(proposal);
            rc = agent_step(e, wf, step, run, entry, ctx, &in_flight, err);
            if (in_flight)
                break;
            continue;
        }
        if (step->kind == STEP_HTTP) {
            bool in_flight = false;
            rc = http_step(e, wf, step, run, entry, ctx, proposal, &in_flight, err);
            json_decref(proposal);
            if (in_flight)
                break;
            continue;
        }
        if (step->kind == STEP_WAIT && !json_object_get(entry, "until")) {
            bool paused = false;
            rc = wait_begin(e, wf, step, run, entry, ctx, &paused, err);
            if (rc == SP_EINVALID) {
                char message[SP_ERROR_MESSAGE_MAX];
                snprintf(message, sizeof message, "%s", err->message);
                sp_error_clear(err);
                rc = step_failed(e, step, run, entry, ctx, message, err);
            }
            if (rc || paused || strcmp(json_str(run, "status"), "running") != 0) {
                json_decref(proposal);
                continue;
            }
        }
        rc = execute(e, wf, step, run, entry, ctx, proposal, err);
        json_decref(proposal);
    }
    json_decref(ctx);
    return rc;
}

/*
 * A run.wait or run.retry timer fired. The run goes on only if it still
 * waits at that very step visit (it may have been canceled meanwhile);
 * a retry counts one more attempt.
 */
sp_code run_timer_wake(engine *e, const json_t *timer, sp_error *err)
{
    const char *run_id = json_str(timer, "run_id");
    const json_t *data = json_object_get(timer, "data");
    bool retry = strcmp(json_str(timer, "kind"), "run.retry") == 0;
    json_t *run = NULL;
    sp_code rc = store_run_get(e->w, run_id, &run, err);
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        return SP_OK;
    }
    if (rc)
        return rc;
    json_t *steps = json_object_get(run, "steps");
    json_t *entry = json_array_get(steps, json_array_size(steps) - 1);
    const char *wtype = json_str(json_object_get(run, "waiting"), "type");
    if (strcmp(json_str(run, "status"), "waiting") != 0 || !wtype ||
        strcmp(wtype, retry ? "retry" : "wait") != 0 || !entry ||
        !json_equal(json_object_get(entry, "id"), json_object_get(data, "step")) ||
        !json_equal(json_object_get(entry, "visit"), json_object_get(data, "visit")))
        goto out;                       /* no longer applies */

    json_t *event = step_event(entry);
    if (retry) {
        json_int_t attempt = json_integer_value(json_object_get(entry, "attempts")) + 1;
        json_object_set_new(entry, "attempts", json_integer(attempt));
        json_object_set_new(event, "attempt", json_integer(attempt));
    }
    json_object_set_new(entry, "status", json_string("running"));
    json_object_set_new(entry, "error", json_null());   /* the history is in the audit trail */
    json_object_set_new(run, "status", json_string("running"));
    json_object_set_new(run, "waiting", json_null());
    workflow *wf = NULL;
    if ((rc = engine_audit(e, "system", retry ? "step.retried" : "step.wait_ended", run_id,
                           NULL, event, err)) ||
        (rc = wfcache_get(e, json_str(run, "workflow"),
                          (int)json_integer_value(json_object_get(run, "version")), &wf, err)) ||
        (rc = run_advance(e, wf, run, err)))
        goto out;
    rc = run_save(e, run, err);
out:
    json_decref(run);
    return rc;
}
