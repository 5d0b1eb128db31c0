/*
 * principals.c - users, teams, memberships and API keys.
 *
 * Puts are upserts (INSERT ... ON CONFLICT DO UPDATE), never INSERT OR
 * REPLACE: a replace deletes the old row first, which would cascade to the
 * user's team memberships through the foreign key.
 *
 * Key lookup is on the authentication path of every request: one seek on
 * the UNIQUE index of hash, one prepared statement.
 */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>

sp_code sqlite_user_put(store_conn *base, const json_t *user, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    const char *name = json_str(user, "name"), *role = json_str(user, "role");
    if (!name || !role)
        return sp_error_set(err, SP_EINVALID, "store: a user needs a name and a role");
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_USER_PUT,
                             "INSERT INTO users(name, role, email, password_hash, disabled, "
                             "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                             "ON CONFLICT(name) DO UPDATE SET role = excluded.role, "
                             "email = excluded.email, password_hash = excluded.password_hash, "
                             "disabled = excluded.disabled, created_at = excluded.created_at",
                             &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    sqlite_bind_str(st, 2, role);
    sqlite_bind_str(st, 3, json_str(user, "email"));
    sqlite_bind_str(st, 4, json_str(user, "password_hash"));
    sqlite3_bind_int(st, 5, json_is_true(json_object_get(user, "disabled")));
    if ((rc = sqlite_bind_time(st, 6, user, "user", "created_at", err))) {
        sqlite_done(st);
        return rc;
    }
    return sqlite_run(c, st, err, "store a user");
}

static sp_code user_teams(sqlite_conn *c, const char *name, json_t *user, sp_error *err)
{
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_USER_TEAMS,
                             "SELECT team FROM team_members WHERE user = ?1 ORDER BY team", &st,
                             err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    json_t *teams = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(teams, json_string((const char *)sqlite3_column_text(st, 0)));
    json_object_set_new(user, "teams", teams);
    if (step != SQLITE_DONE)
        return sqlite_fail(c, st, err, "read a user's teams");
    sqlite_done(st);
    return SP_OK;
}

static sp_code user_row(sqlite_conn *c, const char *name, json_t **out, sp_error *err)
{
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_USER_GET,
                             "SELECT name, role, email, password_hash, disabled, created_at "
                             "FROM users WHERE name = ?1", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        sqlite_done(st);
        return sp_error_set(err, SP_ENOTFOUND, "no user '%s'", name);
    }
    if (step != SQLITE_ROW)
        return sqlite_fail(c, st, err, "read a user");
    json_t *u = json_object();
    sqlite_set_str(u, "name", st, 0);
    sqlite_set_str(u, "role", st, 1);
    sqlite_set_str(u, "email", st, 2);
    sqlite_set_str(u, "password_hash", st, 3);
    json_object_set_new(u, "disabled", json_boolean(sqlite3_column_int(st, 4)));
    sqlite_set_time(u, "created_at", st, 5);
    sqlite_done(st);
    *out = u;
    return SP_OK;
}

sp_code sqlite_user_get(store_conn *base, const char *name, json_t **user, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    json_t *u = NULL;
    bool began = sqlite_read_begin(c);      /* the user and its teams: one snapshot */
    sp_code rc = user_row(c, name, &u, err);
    if (rc == SP_OK)
        rc = user_teams(c, name, u, err);
    sqlite_read_end(c, began);
    if (rc) {
        json_decref(u);
        return rc;
    }
    *user = u;
    return SP_OK;
}

sp_code sqlite_team_put(store_conn *base, const char *name, sp_time at, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    if (!name)
        return sp_error_set(err, SP_EINVALID, "store: a team needs a name");
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_TEAM_PUT,
                             "INSERT INTO teams(name, created_at) VALUES (?1, ?2)", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    sqlite3_bind_int64(st, 2, at);
    rc = sqlite_run(c, st, err, "store a team");
    if (rc == SP_ECONFLICT)
        return sp_error_set(err, SP_ECONFLICT, "team '%s' already exists", name);
    return rc;
}

sp_code sqlite_team_exists(store_conn *base, const char *name, bool *exists, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_TEAM_EXISTS, "SELECT 1 FROM teams WHERE name = ?1", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return sqlite_fail(c, st, err, "read a team");
    *exists = step == SQLITE_ROW;
    sqlite_done(st);
    return SP_OK;
}

sp_code sqlite_team_add_member(store_conn *base, const char *team, const char *user,
                               sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    /* Adding a member twice is not an error: membership is a set. */
    sp_code rc = sqlite_stmt(c, SQ_TEAM_ADD,
                             "INSERT OR IGNORE INTO team_members(team, user) VALUES (?1, ?2)",
                             &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, team);
    sqlite_bind_str(st, 2, user);
    rc = sqlite_run(c, st, err, "add a team member");
    if (rc == SP_EINVALID)      /* the foreign keys: a missing team or user */
        return sp_error_set(err, SP_EINVALID, "no team '%s' or no user '%s'",
                            team ? team : "", user ? user : "");
    return rc;
}

sp_code sqlite_team_members(store_conn *base, const char *team, json_t **users, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_TEAM_MEMBERS,
                             "SELECT user FROM team_members WHERE team = ?1 ORDER BY user", &st,
                             err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, team);
    return sqlite_strings(c, st, "read a team's members", users, err);
}

/* One statement per kind, so each is a seek on its key: users by name,
 * team_members by (team, user) joined to users, or a scan of users by role
 * (a few rows; only when a gate falls back to the admins). */
sp_code sqlite_active_users(store_conn *base, const char *user, const char *team,
                            const char *role, json_t **names, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc;
    const char *key = user ? user : team ? team : role;
    if (!key || (user && team) || (user && role) || (team && role))
        return sp_error_set(err, SP_EINVALID,
                            "store: active users need exactly one of user, team or role");
    if (user)
        rc = sqlite_stmt(c, SQ_ACTIVE_USER,
                         "SELECT name FROM users WHERE name = ?1 AND disabled = 0", &st, err);
    else if (team)
        rc = sqlite_stmt(c, SQ_ACTIVE_TEAM,
                         "SELECT m.user FROM team_members m JOIN users u ON u.name = m.user "
                         "WHERE m.team = ?1 AND u.disabled = 0 ORDER BY m.user", &st, err);
    else
        rc = sqlite_stmt(c, SQ_ACTIVE_ROLE,
                         "SELECT name FROM users WHERE role = ?1 AND disabled = 0 "
                         "ORDER BY name", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, key);
    return sqlite_strings(c, st, "read active users", names, err);
}

sp_code sqlite_key_put(store_conn *base, const json_t *key, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    const char *id = json_str(key, "id"), *user = json_str(key, "user");
    const char *scope = json_str(key, "scope"), *hash = json_str(key, "hash");
    if (!id || !user || !scope || !hash)
        return sp_error_set(err, SP_EINVALID, "store: a key needs id, user, scope and hash");
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_KEY_PUT,
                             "INSERT INTO api_keys(id, user, scope, name, hash, created_at, "
                             "revoked_at, expires_at, last_used_at) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                             "ON CONFLICT(id) DO UPDATE SET user = excluded.user, "
                             "scope = excluded.scope, name = excluded.name, "
                             "hash = excluded.hash, created_at = excluded.created_at, "
                             "revoked_at = excluded.revoked_at, "
                             "expires_at = excluded.expires_at, "
                             "last_used_at = excluded.last_used_at", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, id);
    sqlite_bind_str(st, 2, user);
    sqlite_bind_str(st, 3, scope);
    sqlite_bind_str(st, 4, json_str(key, "name"));
    sqlite_bind_str(st, 5, hash);
    if ((rc = sqlite_bind_time(st, 6, key, "key", "created_at", err)) ||
        (rc = sqlite_bind_time(st, 7, key, "key", "revoked_at", err)) ||
        (rc = sqlite_bind_time(st, 8, key, "key", "expires_at", err)) ||
        (rc = sqlite_bind_time(st, 9, key, "key", "last_used_at", err))) {
        sqlite_done(st);
        return rc;
    }
    return sqlite_run(c, st, err, "store a key");
}

sp_code sqlite_key_lookup(store_conn *base, const char *hash, json_t **key, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_KEY_LOOKUP,
                             "SELECT " SQLITE_KEY_COLUMNS " FROM api_keys WHERE hash = ?1", &st,
                             err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, hash);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        sqlite_done(st);
        return sp_error_set(err, SP_ENOTFOUND, "no such key");
    }
    if (step != SQLITE_ROW)
        return sqlite_fail(c, st, err, "read a key");
    *key = sqlite_key_from_row(st);
    sqlite_done(st);
    return SP_OK;
}

json_t *sqlite_key_from_row(sqlite3_stmt *st)
{
    json_t *k = json_object();
    sqlite_set_str(k, "id", st, 0);
    sqlite_set_str(k, "user", st, 1);
    sqlite_set_str(k, "scope", st, 2);
    sqlite_set_str(k, "name", st, 3);
    sqlite_set_str(k, "hash", st, 4);
    sqlite_set_time(k, "created_at", st, 5);
    sqlite_set_time(k, "revoked_at", st, 6);
    sqlite_set_time(k, "expires_at", st, 7);
    sqlite_set_time(k, "last_used_at", st, 8);
    return k;
}
