/*
 * cmd_session.c - web sessions: login, failed login, logout, last use.
 *
 * The password was already checked on the HTTP thread (argon2id is slow by
 * design and must not stall the one writer); what arrives here is the
 * verdict plus hashes. The cookie token itself never reaches the engine:
 * only its SHA-256 and that of its CSRF token are queued and stored.
 *
 * The user is read again inside the transaction, so a user disabled or
 * deleted between the password check and the commit gets no session.
 *
 * Each login also deletes up to SESSION_PURGE_BATCH sessions that are
 * revoked or expired: logins are what add rows, so the table stays about
 * the size of the live sessions without a sweeper.
 *
 * Audit: login.ok (actor the user), login.failed (actor "anonymous": the
 * attempted name is data, not an identity), logout (actor the user). Last
 * use (ENGINE_SESSION_TOUCH) is not audited: it would be one row a minute
 * per open browser and says nothing an auditor needs.
 */
#include "engine/engine_internal.h"

#include <string.h>

#include "auth/session.h"
#include "core/ids.h"

/* Unusable sessions deleted per login, at most. */
#define SESSION_PURGE_BATCH 100

static bool hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

sp_code cmd_login(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *name = json_str(cmd->args, "user");
    const char *hash = json_str(cmd->args, "hash");
    const char *csrf_hash = json_str(cmd->args, "csrf_hash");
    const char *address = json_str(cmd->args, "address");
    if (!name || !hex64(hash) || !hex64(csrf_hash))
        return sp_error_set(err, SP_EINTERNAL, "login: user, hash and csrf_hash are required");

    json_t *user = NULL;
    sp_code rc = store_user_get(e->w, name, &user, err);
    if (rc == SP_ENOTFOUND || (rc == SP_OK && json_is_true(json_object_get(user, "disabled")))) {
        /* Same answer as a wrong password: the HTTP side sends its 401. */
        json_decref(user);
        sp_error_clear(err);
        return sp_error_set(err, SP_EUNAUTH, "wrong user name or password");
    }
    if (rc)
        return rc;

    sp_time now = clock_now();
    /* Housekeeping: each login clears away a few sessions that can no
     * longer be used, so the table holds about the live ones. */
    if ((rc = store_session_purge(e->w, now, now - AUTH_SESSION_IDLE_MS, SESSION_PURGE_BATCH,
                                  NULL, err))) {
        json_decref(user);
        return rc;
    }
    char id[SP_ID_MAX], at[SP_TIME_BUF], until[SP_TIME_BUF];
    id_new("ses", now, id);
    time_format(now, at);
    time_format(now + AUTH_SESSION_ABSOLUTE_MS, until);
    json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "hash", hash,
                            "user", name, "csrf_hash", csrf_hash, "created_at", at,
                            "last_seen_at", at, "expires_at", until);
    rc = row ? store_session_put(e->w, row, err)
             : sp_error_set(err, SP_ENOMEM, "out of memory");
    json_decref(row);
    if (rc == SP_OK)
        rc = engine_audit(e, name, "login.ok", NULL, NULL,
                          json_pack("{s:s, s:s?}", "session", id, "address", address), err);
    if (rc == SP_OK) {
        *status = 200;
        *body = json_pack("{s:s, s:s?, s:s, s:s}", "user", name, "role",
                          json_str(user, "role"), "expires_at", until, "session", id);
    }
    json_decref(user);
    return rc;
}

sp_code cmd_login_failed(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *name = json_str(cmd->args, "name");
    const char *address = json_str(cmd->args, "address");
    const char *reason = json_str(cmd->args, "reason");
    sp_code rc = engine_audit(e, "anonymous", "login.failed", NULL, NULL,
                              json_pack("{s:s?, s:s?, s:s?}", "name", name, "address", address,
                                        "reason", reason), err);
    if (rc == SP_OK) {
        *status = 200;
        *body = json_object();
    }
    return rc;
}

sp_code cmd_logout(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *id = json_str(cmd->args, "session");
    if (!id)
        return sp_error_set(err, SP_EINTERNAL, "logout: session is required");
    sp_code rc = store_session_revoke(e->w, id, clock_now(), err);
    if (rc == SP_OK)
        rc = engine_audit(e, cmd->who.name, "logout", NULL, NULL,
                          json_pack("{s:s}", "session", id), err);
    if (rc == SP_OK) {
        *status = 204;
        *body = NULL;
    }
    return rc;
}

sp_code cmd_session_touch(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *id = json_str(cmd->args, "session");
    if (!id)
        return sp_error_set(err, SP_EINTERNAL, "session touch: session is required");
    json_t *at = json_object_get(cmd->args, "at");
    sp_code rc = store_session_touch(e->w, id,
                                     json_is_integer(at) ? json_integer_value(at) : clock_now(),
                                     err);
    if (rc == SP_OK) {
        *status = 204;
        *body = NULL;
    }
    return rc;
}
