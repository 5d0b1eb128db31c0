/*
 * cmd_run.c - starting and canceling runs.
 *
 * Starting a run records it, then advances it in the same transaction: a
 * run of pure steps has reached its first gate (or its end) by the time the
 * caller hears about it. An Idempotency-Key makes a retried start return
 * the run the first attempt created, even across a crash: the key is
 * committed with the run.
 */
#include "engine/engine_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/ids.h"

static bool may_start_runs(const principal *who)
{
    return strcmp(who->role, "viewer") != 0;
}

static sp_code reply_run(store_conn *w, const char *id, int status_code, int *status,
                         json_t **body, sp_error *err)
{
    json_t *run = NULL;
    sp_code rc = store_run_get(w, id, &run, err);
    if (rc)
        return rc;
    *status = status_code;
    *body = engine_public(run);
    json_decref(run);
    return SP_OK;
}

sp_code cmd_start_run(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *name = json_str(cmd->args, "workflow");
    const char *idem = json_str(cmd->args, "idempotency_key");
    json_t *input = json_object_get(cmd->args, "input");
    int version = (int)json_integer_value(json_object_get(cmd->args, "version"));
    workflow *wf = NULL;
    sp_code rc;

    if (!may_start_runs(&cmd->who))
        return sp_error_set(err, SP_EFORBIDDEN, "viewers cannot start runs");
    if (!name)
        return sp_error_set(err, SP_EBADINPUT, "workflow: required");
    if (idem) {
        char *existing = NULL;
        rc = store_idem_get(e->w, cmd->who.name, idem, &existing, err);
        if (rc == SP_OK) {
            rc = reply_run(e->w, existing, 200, status, body, err);
            free(existing);
            return rc;
        }
        if (rc != SP_ENOTFOUND)
            return rc;
        sp_error_clear(err);
    }
    if ((rc = wfcache_get(e, name, version, &wf, err)))
        return rc;
    if (!input) {
        input = json_object();
        json_object_set_new(cmd->args, "input", input);
    }
    json_t *in = input;
    if ((rc = workflow_check_input(wf, in, err)))
        return rc;

    char id[SP_ID_MAX], at[SP_TIME_BUF];
    sp_time now = clock_now();
    id_new("run", now, id);
    time_format(now, at);
    json_t *run = json_pack("{s:s, s:s, s:i, s:s, s:s, s:O, s:n, s:n, s:[], s:n, s:s, s:s, s:i}",
                            "id", id, "workflow", wf->name, "version", wf->version,
                            "status", "running", "started_by", cmd->who.name, "input", in,
                            "output", "error", "steps", "waiting", "created_at", at,
                            "updated_at", at, "_cursor", 0);
    if (!run)
        return sp_error_set(err, SP_ENOMEM, "out of memory starting a run");
    if ((rc = engine_audit(e, cmd->who.name, "run.started", id, NULL,
                           json_pack("{s:s, s:i}", "workflow", wf->name, "version", wf->version),
                           err)) ||
        (rc = run_advance(e, wf, run, err)) || (rc = run_save(e, run, err)))
        goto out;
    if (idem && (rc = store_idem_put(e->w, cmd->who.name, idem, id, now, err)))
        goto out;
    *status = 201;
    *body = engine_public(run);

out:
    json_decref(run);
    return rc;
}

sp_code cmd_cancel_run(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *id = json_str(cmd->args, "run_id");
    json_t *run = NULL, *gate = NULL;
    sp_code rc;

    if (!id)
        return sp_error_set(err, SP_EBADINPUT, "run_id: required");
    if ((rc = store_run_get(e->w, id, &run, err)))
        return rc == SP_ENOTFOUND ? sp_error_set(err, SP_ENOTFOUND, "no run '%s'", id) : rc;
    const char *starter = json_str(run, "started_by");
    if (!principal_is_admin(&cmd->who) && (!starter || strcmp(starter, cmd->who.name) != 0)) {
        rc = sp_error_set(err, SP_ENOTFOUND, "no run '%s'", id);
        goto out;
    }
    const char *st = json_str(run, "status");
    if (strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0 || strcmp(st, "canceled") == 0) {
        rc = sp_error_set(err, SP_ECONFLICT, "run %s has already ended (%s)", id, st);
        goto out;
    }
    const char *approval_id = json_str(json_object_get(run, "waiting"), "approval_id");
    if (approval_id) {
        if ((rc = store_approval_get(e->w, approval_id, &gate, err)))
            goto out;
        if (strcmp(json_str(gate, "status"), "pending") == 0) {
            json_object_set_new(gate, "status", json_string("canceled"));
            json_object_set_new(gate, "resolved_at", engine_now_json());
            if ((rc = gate_save(e, gate, err)))
                goto out;
        }
    }
    /* Its gate's timeout, escalations, reminders, or its wait or retry. */
    if ((rc = store_timer_cancel(e->w, id, NULL, err)) ||
        (rc = engine_audit(e, cmd->who.name, "run.canceled", id, approval_id, NULL, err)) ||
        (rc = run_finish(e, run, "canceled", NULL, err)) || (rc = run_save(e, run, err)))
        goto out;
    *status = 200;
    *body = engine_public(run);

out:
    json_decref(run);
    json_decref(gate);
    return rc;
}
