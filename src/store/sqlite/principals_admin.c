/*
 * principals_admin.c - what administering people needs beyond creating
 * them: listing users and keys, finding a key by id, leaving a team, and
 * deleting a user.
 *
 * Deleting a user removes the users row (its team memberships go with it
 * through the foreign key) and nothing else: audit rows, decisions and runs
 * name people by their name as text, so the history stays whole. Their keys
 * are revoked by the engine before the row goes.
 */
#include "store/sqlite/sqlite_int.h"

sp_code sqlite_key_get(store_conn *base, const char *id, json_t **key, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_KEY_GET,
                             "SELECT " SQLITE_KEY_COLUMNS " FROM api_keys WHERE id = ?1", &st,
                             err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, id);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        sqlite_done(st);
        return sp_error_set(err, SP_ENOTFOUND, "no key '%s'", id ? id : "");
    }
    if (step != SQLITE_ROW)
        return sqlite_fail(c, st, err, "read a key");
    *key = sqlite_key_from_row(st);
    sqlite_done(st);
    return SP_OK;
}

sp_code sqlite_key_list(store_conn *base, const char *user, json_t **keys, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    /* ?1 NULL lists everyone's; ids are time-ordered, so newest first. */
    sp_code rc = sqlite_stmt(c, SQ_KEY_LIST,
                             "SELECT " SQLITE_KEY_COLUMNS " FROM api_keys "
                             "WHERE ?1 IS NULL OR user = ?1 ORDER BY id DESC", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, user);
    json_t *list = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(list, sqlite_key_from_row(st));
    if (step != SQLITE_DONE) {
        json_decref(list);
        return sqlite_fail(c, st, err, "list keys");
    }
    sqlite_done(st);
    *keys = list;
    return SP_OK;
}

sp_code sqlite_user_list(store_conn *base, json_t **names, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_USER_LIST, "SELECT name FROM users ORDER BY name", &st, err);
    return rc ? rc : sqlite_strings(c, st, "list users", names, err);
}

sp_code sqlite_team_list(store_conn *base, json_t **names, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_TEAM_LIST, "SELECT name FROM teams ORDER BY name", &st, err);
    return rc ? rc : sqlite_strings(c, st, "list teams", names, err);
}

sp_code sqlite_user_delete(store_conn *base, const char *name, sp_time at, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_USER_DELETE, "DELETE FROM users WHERE name = ?1", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    if ((rc = sqlite_run(c, st, err, "delete a user")))
        return rc;
    if (sqlite3_changes(c->db) == 0)
        return sp_error_set(err, SP_ENOTFOUND, "no user '%s'", name ? name : "");
    if ((rc = sqlite_stmt(c, SQ_NAME_RETIRE,
                          "INSERT OR IGNORE INTO retired_names(name, retired_at) VALUES (?1, ?2)",
                          &st, err)))
        return rc;
    sqlite_bind_str(st, 1, name);
    sqlite3_bind_int64(st, 2, at);
    return sqlite_run(c, st, err, "retire a user's name");
}

sp_code sqlite_user_name_retired(store_conn *base, const char *name, bool *retired,
                                 sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_NAME_RETIRED, "SELECT 1 FROM retired_names WHERE name = ?1",
                             &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return sqlite_fail(c, st, err, "read the retired names");
    *retired = step == SQLITE_ROW;
    sqlite_done(st);
    return SP_OK;
}

sp_code sqlite_team_remove_member(store_conn *base, const char *team, const char *user,
                                  sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    /* Leaving a team one is not in is not an error: membership is a set. */
    sp_code rc = sqlite_stmt(c, SQ_TEAM_REMOVE,
                             "DELETE FROM team_members WHERE team = ?1 AND user = ?2", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, team);
    sqlite_bind_str(st, 2, user);
    return sqlite_run(c, st, err, "remove a team member");
}
