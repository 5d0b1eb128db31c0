/*
 * gate_timers.c - what happens to a pending gate as time passes: it
 * escalates, reminds, and finally expires.
 *
 * All of a gate's timers are scheduled when it opens, each carrying what
 * it needs in its data (the escalation's assignees, the reminder interval),
 * so firing never depends on the workflow definition. A decision that
 * resolves the gate cancels them; a timer that still fires for a gate no
 * longer pending does nothing.
 *
 * An escalation's assignees are checked when it fires, like a gate's when
 * it opens: too few able to decide and the admins are asked instead, with
 * a gate.unroutable row (routing.c) before gate.escalated.
 *
 * Gate fields kept here (public): due_at, on_timeout, escalation_level,
 * escalations [{level, to, mode, at}], reminders_sent, last_reminded_at.
 */
#include "engine/engine_internal.h"

#include <string.h>

/* Reminders stop after this many unless `remind: {max}` says otherwise. */
#define GATE_REMIND_DEFAULT_MAX 10

static json_t *names(char **v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(v[i]));
    return arr;
}

sp_code gate_timers_schedule(engine *e, const gate_def *g, json_t *gate, sp_time opened,
                             int64_t timeout_ms, sp_error *err)
{
    const char *run_id = json_str(gate, "run_id"), *id = json_str(gate, "id");
    sp_code rc = SP_OK;
    bool any = timeout_ms > 0 ||
               (g && (g->nescalations > 0 || g->remind_every_ms > 0));
    /* A decision cancels timers only of gates that have some: most have none. */
    json_object_set_new(gate, "_timers", json_boolean(any));
    if (timeout_ms > 0)
        rc = timer_schedule(e, opened + timeout_ms, "gate.timeout", run_id, id, json_object(),
                            err);
    if (!g)
        return rc;
    for (size_t i = 0; rc == SP_OK && i < g->nescalations; i++) {
        const gate_escalation *x = &g->escalations[i];
        /* An escalation due at or after the timeout would never be seen. */
        if (timeout_ms > 0 && x->after_ms >= timeout_ms)
            continue;
        rc = timer_schedule(e, opened + x->after_ms, "gate.escalate", run_id, id,
                            json_pack("{s:i, s:o, s:s}", "level", (int)i + 1,
                                      "to", names(x->to, x->nto),
                                      "mode", x->replace ? "replace" : "add"),
                            err);
    }
    if (rc == SP_OK && g->remind_every_ms > 0 &&
        (timeout_ms <= 0 || g->remind_every_ms < timeout_ms))
        rc = timer_schedule(e, opened + g->remind_every_ms, "gate.remind", run_id, id,
                            json_pack("{s:i, s:I, s:i}", "n", 1,
                                      "every_ms", (json_int_t)g->remind_every_ms,
                                      "max", g->remind_max > 0 ? g->remind_max
                                                               : GATE_REMIND_DEFAULT_MAX),
                            err);
    return rc;
}

/* The gate a timer is for, when it is still pending; NULL (SP_OK) when the
 * timer no longer applies. */
static sp_code pending_gate(engine *e, const json_t *timer, json_t **gate, sp_error *err)
{
    *gate = NULL;
    const char *id = json_str(timer, "approval_id");
    if (!id)
        return sp_error_set(err, SP_EINTERNAL, "a gate timer without a gate");
    json_t *g = NULL;
    sp_code rc = store_approval_get(e->w, id, &g, err);
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        return SP_OK;
    }
    if (rc)
        return rc;
    if (strcmp(json_str(g, "status"), "pending") != 0) {
        json_decref(g);
        return SP_OK;
    }
    *gate = g;
    return SP_OK;
}

sp_code gate_timer_timeout(engine *e, const json_t *timer, sp_error *err)
{
    json_t *gate;
    sp_code rc = pending_gate(e, timer, &gate, err);
    if (rc || !gate)
        return rc;
    const char *id = json_str(gate, "id");
    json_object_set_new(gate, "status", json_string("expired"));
    json_object_set_new(gate, "resolved_at", engine_now_json());
    const char *on_timeout = json_str(gate, "on_timeout");
    if ((rc = gate_save(e, gate, err)) ||
        (rc = store_timer_cancel(e->w, NULL, id, err)) ||
        (rc = engine_audit(e, "system", "gate.expired", json_str(gate, "run_id"), id,
                           json_pack("{s:s, s:O}", "on_timeout", on_timeout ? on_timeout : "fail",
                                     "due_at", json_object_get(gate, "due_at")), err)))
        goto out;
    rc = gate_resume_run(e, gate, err);
out:
    json_decref(gate);
    return rc;
}

static bool contains(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (strcmp(json_string_value(v), s) == 0)
            return true;
    return false;
}

sp_code gate_timer_escalate(engine *e, const json_t *timer, sp_error *err)
{
    json_t *gate;
    sp_code rc = pending_gate(e, timer, &gate, err);
    if (rc || !gate)
        return rc;
    const json_t *data = json_object_get(timer, "data");
    json_t *to = json_object_get(data, "to");
    const char *mode = json_str(data, "mode");
    json_int_t level = json_integer_value(json_object_get(data, "level"));

    json_t *assignees;
    if (mode && strcmp(mode, "replace") == 0) {
        assignees = json_copy(to);
    } else {
        assignees = json_copy(json_object_get(gate, "assignees"));
        size_t i;
        json_t *v;
        json_array_foreach(to, i, v)
            if (!contains(assignees, json_string_value(v)))
                json_array_append(assignees, v);
    }
    /* The people escalated to are checked as they are now, not as they
     * were when the gate opened: too few able to decide, and the admins
     * are asked instead (routing.c). */
    const json_t *policy = json_object_get(gate, "policy");
    json_t *approvals = json_object_get(policy, "approvals");
    json_t *forbid = json_object_get(policy, "forbid_self_approval");
    json_t *unroutable = NULL;
    if ((rc = routing_fallback(e, &assignees, json_str(gate, "_started_by"),
                               !forbid || json_is_true(forbid),
                               json_is_integer(approvals) ? (int)json_integer_value(approvals)
                                                          : 0,
                               &unroutable, err))) {
        json_decref(assignees);
        json_decref(gate);
        return rc;
    }
    json_object_set_new(gate, "assignees", assignees);
    json_object_set_new(gate, "escalation_level", json_integer(level));
    json_t *history = json_object_get(gate, "escalations");
    if (!json_is_array(history)) {
        history = json_array();
        json_object_set_new(gate, "escalations", history);
    }
    json_array_append_new(history, json_pack("{s:I, s:O, s:s, s:o}", "level", level, "to", to,
                                             "mode", mode ? mode : "add", "at",
                                             engine_now_json()));
    rc = gate_save(e, gate, err);
    if (rc == SP_OK && unroutable) {
        json_object_set_new(unroutable, "step", json_string(json_str(gate, "step")));
        json_object_set_new(unroutable, "escalation_level", json_integer(level));
        rc = engine_audit(e, "system", "gate.unroutable", json_str(gate, "run_id"),
                          json_str(gate, "id"), unroutable, err);
        unroutable = NULL;      /* stolen */
    }
    json_decref(unroutable);
    if (rc == SP_OK)
        rc = engine_audit(e, "system", "gate.escalated", json_str(gate, "run_id"),
                          json_str(gate, "id"),
                          json_pack("{s:I, s:O, s:s, s:O}", "level", level, "to", to, "mode",
                                    mode ? mode : "add", "assignees", assignees),
                          err);
    json_decref(gate);
    return rc;
}

sp_code gate_timer_remind(engine *e, const json_t *timer, sp_error *err)
{
    json_t *gate;
    sp_code rc = pending_gate(e, timer, &gate, err);
    if (rc || !gate)
        return rc;
    const json_t *data = json_object_get(timer, "data");
    json_int_t n = json_integer_value(json_object_get(data, "n"));
    json_int_t max = json_integer_value(json_object_get(data, "max"));
    json_int_t every = json_integer_value(json_object_get(data, "every_ms"));
    const char *id = json_str(gate, "id"), *run_id = json_str(gate, "run_id");

    json_object_set_new(gate, "reminders_sent", json_integer(n));
    json_object_set_new(gate, "last_reminded_at", engine_now_json());
    if ((rc = gate_save(e, gate, err)) ||
        (rc = engine_audit(e, "system", "gate.reminded", run_id, id,
                           json_pack("{s:I, s:O}", "n", n, "assignees",
                                     json_object_get(gate, "assignees")), err)))
        goto out;

    /* The next one, unless the count is reached or the gate expires first. */
    sp_time next = clock_now() + every, due = 0;
    const char *due_at = json_str(gate, "due_at");
    bool before_due = !due_at || (time_parse(due_at, &due) == 0 && next < due);
    if (every > 0 && n < max && before_due)
        rc = timer_schedule(e, next, "gate.remind", run_id, id,
                            json_pack("{s:I, s:I, s:I}", "n", n + 1, "every_ms", every, "max",
                                      max), err);
out:
    json_decref(gate);
    return rc;
}
