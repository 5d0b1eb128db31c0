/*
 * cmd_link.c - issuing signed decision links and rotating their keys.
 *
 * A link is issued for one approver who is a current assignee of a pending
 * gate, for one decision. It expires when the gate is due or, for a gate
 * without a timeout, LINK_DEFAULT_TTL_MS after issue. The signing keys are
 * created on first use and rotated on request, in the store (meta
 * "link_keys", sealed with the master key: the database alone must not
 * let anyone forge a link), inside the engine's transaction like every
 * other write.
 */
#include "engine/engine_internal.h"

#include <stdlib.h>
#include <string.h>

#include "auth/link.h"
#include "gate/gate.h"
#include "secrets/secrets.h"

#define LINK_DEFAULT_TTL_MS (72LL * 3600 * 1000)

/* The "link_keys" document (new ref), made and stored when there is none. */
static sp_code link_keys(engine *e, json_t **keys, sp_error *err)
{
    sp_code rc = secrets_doc_get(e->w, e->secrets_key, "link_keys", keys, err);
    if (rc != SP_ENOTFOUND)
        return rc;
    sp_error_clear(err);
    if (!(*keys = link_keys_rotate(NULL, false)))
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    return secrets_doc_put(e->w, e->secrets_key, "link_keys", *keys, err);
}

sp_code cmd_issue_link(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *id = json_str(cmd->args, "approval_id"), *by = json_str(cmd->args, "user");
    const char *decision = json_str(cmd->args, "decision");
    json_t *gate = NULL, *user = NULL, *keys = NULL;
    sp_code rc = cmd_require_admin(cmd, err);
    if (rc)
        return rc;
    if (!decision || (strcmp(decision, "approve") != 0 && strcmp(decision, "reject") != 0))
        return sp_error_set(err, SP_EINVALID, "decision: must be approve or reject");
    if ((rc = store_approval_get(e->w, id ? id : "", &gate, err)))
        return rc == SP_ENOTFOUND ? sp_error_set(err, SP_ENOTFOUND, "no approval '%s'", id) : rc;
    if (strcmp(json_str(gate, "status"), "pending") != 0) {
        rc = sp_error_set(err, SP_ECONFLICT, "approval %s is already %s", id,
                          json_str(gate, "status"));
        goto out;
    }
    if ((rc = store_user_get(e->w, by ? by : "", &user, err))) {
        if (rc == SP_ENOTFOUND)
            rc = sp_error_set(err, SP_EINVALID, "user: no user '%s'", by ? by : "");
        goto out;
    }
    if (!gate_is_assignee(gate, by, json_object_get(user, "teams"))) {
        rc = sp_error_set(err, SP_EINVALID, "user: %s is not an assignee of approval %s", by, id);
        goto out;
    }
    link_claims c = { 0 };
    sp_time now = clock_now(), due;
    const char *due_at = json_str(gate, "due_at");
    c.expires = due_at && time_parse(due_at, &due) == 0 ? due : now + LINK_DEFAULT_TTL_MS;
    snprintf(c.approval_id, sizeof c.approval_id, "%s", id);
    snprintf(c.by, sizeof c.by, "%s", by);
    snprintf(c.decision, sizeof c.decision, "%s", decision);
    char *token = NULL, at[SP_TIME_BUF];
    if ((rc = link_keys(e, &keys, err)) || (rc = link_sign(keys, &c, &token, err)))
        goto out;
    rc = engine_audit(e, cmd->who.name, "link.issued", json_str(gate, "run_id"), id,
                      json_pack("{s:s, s:s, s:s, s:s}", "for", by, "decision", decision,
                                "expires_at", time_format(c.expires, at), "kid", c.kid),
                      err);
    if (rc == SP_OK) {
        size_t n = strlen(token) + 4;
        char *path = malloc(n);
        snprintf(path, n, "/l/%s", token);
        *status = 201;
        *body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "path", path, "approval_id", id, "for",
                          by, "decision", decision, "expires_at", at);
        free(path);
    }
    free(token);
out:
    json_decref(gate);
    json_decref(user);
    json_decref(keys);
    return rc;
}

sp_code cmd_rotate_link_keys(engine *e, engine_cmd *cmd, int *status, json_t **body,
                             sp_error *err)
{
    json_t *keys = NULL;
    sp_code rc = cmd_require_admin(cmd, err);
    if (rc || (rc = link_keys(e, &keys, err)))
        return rc;
    bool revoke = json_is_true(json_object_get(cmd->args, "revoke"));
    json_t *next = link_keys_rotate(keys, revoke);
    rc = next ? secrets_doc_put(e->w, e->secrets_key, "link_keys", next, err)
              : sp_error_set(err, SP_ENOMEM, "out of memory");
    if (rc == SP_OK)
        rc = engine_audit(e, cmd->who.name, "link_key.rotated", NULL, NULL,
                          json_pack("{s:O, s:b}", "current", json_object_get(next, "current"),
                                    "revoked_older", revoke), err);
    if (rc == SP_OK) {
        *status = 200;
        *body = json_pack("{s:O, s:I}", "current", json_object_get(next, "current"), "kept",
                          (json_int_t)json_object_size(json_object_get(next, "keys")));
    }
    json_decref(keys);
    json_decref(next);
    return rc;
}
