/*
 * cmd_principal.c - users, teams, API keys, and the first admin.
 *
 * Only admins create principals. A key's scope never exceeds its user's
 * role: a member cannot hold an admin key. Passwords arrive hashed
 * (argon2id, by the API's password workers): no plain password is ever
 * queued to the engine, and the one writer never spends a hash.
 */
#include "engine/engine_internal.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/log.h"

#define NAME_MAX_LEN 64
#define BOOTSTRAP_TOKEN_MIN 32        /* characters of SPOJIT_BOOTSTRAP_TOKEN */

bool cmd_name_valid(const char *s)
{
    if (!s || !*s || strlen(s) > NAME_MAX_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    return true;
}

bool cmd_one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return true;
    return false;
}

sp_code cmd_require_admin(const engine_cmd *cmd, sp_error *err)
{
    if (!principal_is_admin(&cmd->who))
        return sp_error_set(err, SP_EFORBIDDEN, "only admins may manage users, teams and keys");
    return SP_OK;
}

/* Creates the team if it does not exist yet. */
sp_code cmd_ensure_team(engine *e, const char *team, const char *actor, sp_error *err)
{
    bool exists = false;
    sp_code rc = store_team_exists(e->w, team, &exists, err);
    if (rc || exists)
        return rc;
    if ((rc = store_team_put(e->w, team, clock_now(), err)))
        return rc;
    return engine_audit(e, actor, "team.created", NULL, NULL, json_pack("{s:s}", "name", team),
                        err);
}

static sp_code user_insert(engine *e, const char *actor, const char *name, const char *role,
                           const char *password_hash, const char *email, json_t *teams,
                           sp_error *err)
{
    json_t *existing = NULL;
    sp_code rc = store_user_get(e->w, name, &existing, err);
    json_decref(existing);
    if (rc == SP_OK)
        return sp_error_set(err, SP_ECONFLICT, "user '%s' already exists", name);
    if (rc != SP_ENOTFOUND)
        return rc;
    sp_error_clear(err);
    bool retired = false;
    if ((rc = store_user_name_retired(e->w, name, &retired, err)))
        return rc;
    if (retired)
        return sp_error_set(err, SP_ECONFLICT,
                            "the name '%s' belonged to a deleted user and stays retired (runs, "
                            "decisions and audit rows name that user): choose another name",
                            name);

    char at[SP_TIME_BUF];
    json_t *user = json_pack("{s:s, s:s, s:s?, s:s?, s:b, s:s}", "name", name, "role", role,
                             "email", email, "password_hash", password_hash, "disabled", 0,
                             "created_at", time_format(clock_now(), at));
    rc = store_user_put(e->w, user, err);
    json_decref(user);
    size_t i;
    json_t *t;
    json_array_foreach(teams, i, t) {
        if (rc)
            break;
        if (!(rc = cmd_ensure_team(e, json_string_value(t), actor, err)))
            rc = store_team_add_member(e->w, json_string_value(t), name, err);
    }
    if (rc)
        return rc;
    return engine_audit(e, actor, "user.created", NULL, NULL,
                        json_pack("{s:s, s:s, s:o}", "name", name, "role", role, "teams",
                                  teams ? json_incref(teams) : json_array()), err);
}

sp_code cmd_create_user(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    static const char *const roles[] = { "admin", "member", "viewer", NULL };
    const char *name = json_str(cmd->args, "name");
    const char *role = json_str(cmd->args, "role");
    json_t *teams = json_object_get(cmd->args, "teams");
    sp_code rc = cmd_require_admin(cmd, err);
    if (rc)
        return rc;
    if (!cmd_name_valid(name))
        return sp_error_set(err, SP_EINVALID,
                            "name: 1 to 64 letters, digits, '.', '_' or '-'");
    if (!role)
        role = "member";
    if (!cmd_one_of(role, roles))
        return sp_error_set(err, SP_EINVALID, "role: must be admin, member or viewer");
    size_t i;
    json_t *t;
    json_array_foreach(teams, i, t)
        if (!cmd_name_valid(json_string_value(t)))
            return sp_error_set(err, SP_EINVALID, "teams[%zu]: not a valid team name", i);
    const char *password_hash = json_str(cmd->args, "password_hash");
    if (password_hash && strncmp(password_hash, "$argon2id$", 10) != 0)
        return sp_error_set(err, SP_EINTERNAL, "password_hash: not an argon2id hash");
    if ((rc = user_insert(e, cmd->who.name, name, role, password_hash,
                          json_str(cmd->args, "email"), teams, err)))
        return rc;
    *status = 201;
    *body = json_pack("{s:s, s:s, s:s?, s:o}", "name", name, "role", role, "email",
                      json_str(cmd->args, "email"), "teams",
                      teams ? json_incref(teams) : json_array());
    return SP_OK;
}

sp_code cmd_create_team(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *name = json_str(cmd->args, "name");
    json_t *members = json_object_get(cmd->args, "members");
    sp_code rc = cmd_require_admin(cmd, err);
    if (rc)
        return rc;
    if (!cmd_name_valid(name))
        return sp_error_set(err, SP_EINVALID, "name: 1 to 64 letters, digits, '.', '_' or '-'");
    bool exists = false;
    if ((rc = store_team_exists(e->w, name, &exists, err)))
        return rc;
    if (exists)
        return sp_error_set(err, SP_ECONFLICT, "team '%s' already exists", name);
    if ((rc = cmd_ensure_team(e, name, cmd->who.name, err)))
        return rc;
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) {
        json_t *user = NULL;
        const char *u = json_string_value(m);
        if (!u || store_user_get(e->w, u, &user, err) != SP_OK) {
            sp_error_clear(err);
            return sp_error_set(err, SP_EINVALID, "members[%zu]: no user '%s'", i, u ? u : "");
        }
        json_decref(user);
        if ((rc = store_team_add_member(e->w, name, u, err)))
            return rc;
    }
    *status = 201;
    *body = json_pack("{s:s, s:o}", "name", name, "members",
                      members ? json_incref(members) : json_array());
    return SP_OK;
}

/* Stores a new key for user; *key_out is the key to show once. */
static sp_code key_insert(engine *e, const char *actor, const char *user, const char *scope,
                          const char *name, const char *expires_at, const char *given_key,
                          json_t **reply, sp_error *err)
{
    char hash[65], id[SP_ID_MAX], at[SP_TIME_BUF];
    char *key = NULL;
    sp_code rc;
    if (given_key) {
        key = strdup(given_key);
        auth_key_hash(key, hash);
    } else if ((rc = auth_key_new(&key, hash, err))) {
        return rc;
    }
    sp_time now = clock_now();
    id_new("key", now, id);
    json_t *row = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:s?}", "id", id, "user", user,
                            "scope", scope, "name", name, "hash", hash,
                            "created_at", time_format(now, at), "expires_at", expires_at);
    rc = store_key_put(e->w, row, err);
    json_decref(row);
    if (rc == SP_OK)
        rc = engine_audit(e, actor, "key.created", NULL, NULL,
                          json_pack("{s:s, s:s, s:s, s:s?}", "id", id, "user", user, "scope",
                                    scope, "expires_at", expires_at),
                          err);
    if (rc == SP_OK)
        *reply = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "id", id, "key", key, "user",
                           user, "scope", scope, "name", name, "expires_at", expires_at);
    sodium_memzero(key, strlen(key));
    free(key);
    return rc;
}

sp_code cmd_create_key(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    static const char *const scopes[] = { "admin", "member", "agent", NULL };
    const char *user_name = json_str(cmd->args, "user");
    const char *scope = json_str(cmd->args, "scope");
    json_t *user = NULL;
    sp_code rc = cmd_require_admin(cmd, err);
    if (rc)
        return rc;
    if (!user_name)
        return sp_error_set(err, SP_EBADINPUT, "user: required");
    if ((rc = store_user_get(e->w, user_name, &user, err)))
        return rc == SP_ENOTFOUND ? sp_error_set(err, SP_EINVALID, "user: no user '%s'", user_name)
                                  : rc;
    const char *role = json_str(user, "role");
    if (!scope)
        scope = strcmp(role, "admin") == 0 ? "admin" : "member";
    if (!cmd_one_of(scope, scopes))
        rc = sp_error_set(err, SP_EINVALID, "scope: must be admin, member or agent");
    else if (strcmp(scope, "admin") == 0 && strcmp(role, "admin") != 0)
        rc = sp_error_set(err, SP_EINVALID, "scope: %s is a %s and cannot hold an admin key",
                          user_name, role);
    else if (json_is_true(json_object_get(user, "disabled")))
        rc = sp_error_set(err, SP_EINVALID, "user: %s is disabled", user_name);
    else if ((rc = key_insert(e, cmd->who.name, user_name, scope, json_str(cmd->args, "name"),
                              json_str(cmd->args, "expires_at"), NULL, body, err)) == SP_OK)
        *status = 201;
    json_decref(user);
    return rc;
}

/*
 * The first start on an empty store: the admin user and its key (the
 * bootstrap token when given, else a new key returned once).
 *
 * Once only, ever: the store remembers that it was bootstrapped (meta
 * "bootstrapped"), so deleting the "admin" user later does not bring it
 * back at the next start with a fresh key in the log. A store from before
 * the mark that has any user counts as bootstrapped.
 */
sp_code cmd_bootstrap(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    char *mark = NULL;
    json_t *users = NULL;
    sp_code rc = store_meta_get(e->w, "bootstrapped", &mark, err);
    free(mark);
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        if ((rc = store_user_list(e->w, &users, err)) == SP_OK && json_array_size(users) > 0)
            rc = store_meta_put(e->w, "bootstrapped", "before the mark", err);
        else if (rc == SP_OK)
            rc = SP_ENOTFOUND;              /* a new store: bootstrap it */
        json_decref(users);
    }
    if (rc == SP_OK) {
        *status = 200;
        *body = json_pack("{s:b}", "created", 0);
        return SP_OK;
    }
    if (rc != SP_ENOTFOUND)
        return rc;
    sp_error_clear(err);
    /* An admin key anyone could guess is no key: ours carry 256 bits. */
    const char *token = json_str(cmd->args, "token");
    if (token && strlen(token) < BOOTSTRAP_TOKEN_MIN)
        return sp_error_set(err, SP_EINVALID,
                            "SPOJIT_BOOTSTRAP_TOKEN is %zu characters long; the first admin key "
                            "needs at least %d (for example: openssl rand -hex 32)",
                            strlen(token), BOOTSTRAP_TOKEN_MIN);
    char at[SP_TIME_BUF];
    json_t *key = NULL;
    if ((rc = store_meta_put(e->w, "bootstrapped", time_format(clock_now(), at), err)) ||
        (rc = user_insert(e, "system", "admin", "admin", NULL, NULL, NULL, err)) ||
        (rc = key_insert(e, "system", "admin", "admin", "bootstrap", NULL,
                         json_str(cmd->args, "token"), &key, err)))
        return rc;
    if ((rc = engine_audit(e, "system", "admin.bootstrap", NULL, NULL,
                           json_pack("{s:s}", "user", "admin"), err))) {
        json_decref(key);
        return rc;
    }
    *status = 200;
    *body = json_pack("{s:b, s:O}", "created", 1, "key", json_object_get(key, "key"));
    json_decref(key);
    return SP_OK;
}
