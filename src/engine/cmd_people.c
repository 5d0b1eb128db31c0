/*
 * cmd_people.c - changing and removing people and their keys: revoking a
 * key, updating a user (role, disabled, teams, email, password), deleting a
 * user, and noting when a key was last used.
 *
 * Every change takes effect at once: authentication reads the store on each
 * request, so a revoked key, a disabled or deleted user is refused from the
 * next request on. Each change is an audit row naming what changed (never a
 * password). A new password or disabling a user revokes its web sessions.
 * Deleting a user revokes its keys and sessions and removes the user row; the
 * runs, decisions and audit rows that name the user stay as they are.
 */
#include "engine/engine_internal.h"

#include <stdlib.h>
#include <string.h>

static sp_code load_key(engine *e, const char *id, json_t **key, sp_error *err)
{
    if (!id)
        return sp_error_set(err, SP_EBADINPUT, "id: required");
    sp_code rc = store_key_get(e->w, id, key, err);
    if (rc == SP_ENOTFOUND)
        return sp_error_set(err, SP_ENOTFOUND, "no key %s", id);
    return rc;
}

/* The public form of a key row: everything but its hash. */
static json_t *key_public(const json_t *key)
{
    json_t *copy = json_deep_copy(key);
    json_object_del(copy, "hash");
    return copy;
}

static sp_code revoke(engine *e, json_t *key, const char *actor, const char *why, sp_error *err)
{
    json_object_set_new(key, "revoked_at", engine_now_json());
    sp_code rc = store_key_put(e->w, key, err);
    return rc ? rc : engine_audit(e, actor, "key.revoked", NULL, NULL,
                                  json_pack("{s:O, s:O, s:s}", "id", json_object_get(key, "id"),
                                            "user", json_object_get(key, "user"), "why", why),
                                  err);
}

sp_code cmd_revoke_key(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    json_t *key = NULL;
    sp_code rc = cmd_require_admin(cmd, err);
    if (rc || (rc = load_key(e, json_str(cmd->args, "id"), &key, err)))
        return rc;
    json_t *revoked = json_object_get(key, "revoked_at");
    if (revoked && !json_is_null(revoked))
        rc = sp_error_set(err, SP_ECONFLICT, "key %s is already revoked", json_str(key, "id"));
    else if ((rc = revoke(e, key, cmd->who.name, "revoked by an admin", err)) == SP_OK) {
        *status = 200;
        *body = key_public(key);
    }
    json_decref(key);
    return rc;
}

/* Revokes every live key of user (a user deleted or disabled). */
static sp_code revoke_all(engine *e, const char *user, const char *actor, const char *why,
                          sp_error *err)
{
    json_t *keys = NULL;
    sp_code rc = store_key_list(e->w, user, &keys, err);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        json_t *revoked = json_object_get(k, "revoked_at");
        if (rc == SP_OK && (!revoked || json_is_null(revoked)))
            rc = revoke(e, k, actor, why, err);
    }
    json_decref(keys);
    return rc;
}

static bool in_list(const json_t *list, const json_t *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
        if (json_equal(x, v))
            return true;
    return false;
}

/* Makes the user's teams exactly `teams`, auditing each join and leave. */
static sp_code set_teams(engine *e, const char *user, const json_t *now_in, const json_t *teams,
                         const char *actor, sp_error *err)
{
    sp_code rc = SP_OK;
    size_t i;
    json_t *t;
    json_array_foreach(now_in, i, t) {
        const char *team = json_string_value(t);
        if (!in_list(teams, t) && ((rc = store_team_remove_member(e->w, team, user, err)) ||
                       (rc = engine_audit(e, actor, "team.member_removed", NULL, NULL,
                                          json_pack("{s:s, s:s}", "team", team, "user", user),
                                          err))))
            return rc;
    }
    json_array_foreach(teams, i, t) {
        const char *team = json_string_value(t);
        if (!cmd_name_valid(team))
            return sp_error_set(err, SP_EINVALID, "teams[%zu]: not a valid team name", i);
        if (!in_list(now_in, t) && ((rc = cmd_ensure_team(e, team, actor, err)) ||
                     (rc = store_team_add_member(e->w, team, user, err)) ||
                     (rc = engine_audit(e, actor, "team.member_added", NULL, NULL,
                                        json_pack("{s:s, s:s}", "team", team, "user", user),
                                        err))))
            return rc;
    }
    return SP_OK;
}

static sp_code revoke_admin_keys(engine *e, const char *user, const char *actor, sp_error *err)
{
    json_t *keys = NULL;
    sp_code rc = store_key_list(e->w, user, &keys, err);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        json_t *revoked = json_object_get(k, "revoked_at");
        if (rc == SP_OK && strcmp(json_str(k, "scope"), "admin") == 0 &&
            (!revoked || json_is_null(revoked)))
            rc = revoke(e, k, actor, "the user is no longer an admin", err);
    }
    json_decref(keys);
    return rc;
}

/* The user as the API shows it: no password hash. */
static json_t *user_public(const json_t *user)
{
    json_t *copy = json_deep_copy(user);
    json_object_del(copy, "password_hash");
    return copy;
}

sp_code cmd_update_user(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    static const char *const roles[] = { "admin", "member", "viewer", NULL };
    const json_t *a = cmd->args;
    const char *name = json_str(a, "name"), *role = json_str(a, "role");
    const json_t *disabled = json_object_get(a, "disabled"), *teams = json_object_get(a, "teams");
    const char *password_hash = json_str(a, "password_hash");
    json_t *user = NULL;
    sp_code rc = cmd_require_admin(cmd, err);
    if (rc)
        return rc;
    if (role && !cmd_one_of(role, roles))
        return sp_error_set(err, SP_EINVALID, "role: must be admin, member or viewer");
    if (name && strcmp(name, cmd->who.name) == 0 &&
        ((role && strcmp(role, "admin") != 0) || json_is_true(disabled)))
        return sp_error_set(err, SP_EINVALID,
                            "an admin cannot demote or disable themselves (ask another admin)");
    if ((rc = store_user_get(e->w, name ? name : "", &user, err)))
        return rc == SP_ENOTFOUND ? sp_error_set(err, SP_ENOTFOUND, "no user '%s'", name) : rc;

    json_t *changes = json_object();
    if (role && strcmp(role, json_str(user, "role")) != 0) {
        json_object_set_new(changes, "role", json_pack("{s:O, s:s}", "from",
                                                       json_object_get(user, "role"), "to", role));
        json_object_set_new(user, "role", json_string(role));
    }
    if (disabled && !json_equal(disabled, json_object_get(user, "disabled"))) {
        json_object_set(changes, "disabled", (json_t *)disabled);
        json_object_set(user, "disabled", (json_t *)disabled);
    }
    if (json_object_get(a, "email")) {
        json_object_set_new(changes, "email", json_true());
        json_object_set(user, "email", json_object_get(a, "email"));
    }
    if (password_hash) {
        if (strncmp(password_hash, "$argon2id$", 10) != 0) {
            json_decref(changes);
            json_decref(user);
            return sp_error_set(err, SP_EINTERNAL, "password_hash: not an argon2id hash");
        }
        json_object_set_new(user, "password_hash", json_string(password_hash));
        json_object_set_new(changes, "password", json_true());    /* that it changed, not to what */
    }
    json_t *before = json_incref(json_object_get(user, "teams"));
    json_object_del(user, "teams");         /* not a column: memberships are rows */
    rc = store_user_put(e->w, user, err);
    /* A new password or a disabled account signs the user out everywhere:
     * whoever held a session under the old state keeps nothing. */
    int64_t signed_out = 0;
    if (rc == SP_OK && (password_hash || json_is_true(disabled)))
        rc = store_session_revoke_user(e->w, name, clock_now(), &signed_out, err);
    if (signed_out > 0)
        json_object_set_new(changes, "sessions_revoked", json_integer(signed_out));
    if (rc == SP_OK && teams)
        rc = set_teams(e, name, before, teams, cmd->who.name, err);
    /* A demoted user keeps no admin key: the scope would outrank the role. */
    if (rc == SP_OK && role && strcmp(role, "admin") != 0)
        rc = revoke_admin_keys(e, name, cmd->who.name, err);
    if (rc == SP_OK && json_object_size(changes) > 0)
        rc = engine_audit(e, cmd->who.name, "user.updated", NULL, NULL,
                          json_pack("{s:s, s:O}", "name", name, "changes", changes), err);
    json_decref(before);
    json_decref(user);
    json_decref(changes);
    if (rc)
        return rc;
    json_t *fresh = NULL;
    if ((rc = store_user_get(e->w, name, &fresh, err)))
        return rc;
    *status = 200;
    *body = user_public(fresh);
    json_decref(fresh);
    return SP_OK;
}

sp_code cmd_delete_user(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *name = json_str(cmd->args, "name");
    sp_code rc = cmd_require_admin(cmd, err);
    if (rc)
        return rc;
    if (name && strcmp(name, cmd->who.name) == 0)
        return sp_error_set(err, SP_EINVALID, "an admin cannot delete themselves");
    /* Sessions go too: a user created later under the same name must not
     * inherit them. */
    int64_t signed_out = 0;
    if ((rc = revoke_all(e, name, cmd->who.name, "the user was deleted", err)) ||
        (rc = store_user_delete(e->w, name ? name : "", clock_now(), err)) ||
        (rc = store_session_revoke_user(e->w, name, clock_now(), &signed_out, err)))
        return rc;
    if ((rc = engine_audit(e, cmd->who.name, "user.deleted", NULL, NULL,
                           json_pack("{s:s, s:I}", "name", name, "sessions_revoked",
                                     (json_int_t)signed_out), err)))
        return rc;
    *status = 200;
    *body = json_pack("{s:s, s:b}", "name", name, "deleted", 1);
    return SP_OK;
}

/* Sent by the API at most once a minute per key; no audit row (it is not a
 * change anyone made) and nobody waits for the reply. */
sp_code cmd_key_used(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    json_t *key = NULL;
    sp_code rc = load_key(e, json_str(cmd->args, "id"), &key, err);
    if (rc == SP_ENOTFOUND) {               /* deleted meanwhile: nothing to note */
        sp_error_clear(err);
        *status = 204;
        return SP_OK;
    }
    if (rc)
        return rc;
    json_object_set_new(key, "last_used_at", engine_now_json());
    rc = store_key_put(e->w, key, err);
    json_decref(key);
    *status = 204;
    return rc;
}
