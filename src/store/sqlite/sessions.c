/*
 * sessions.c - web sessions (the spojit_session cookie), stored hashed.
 *
 * A session row is found by the SHA-256 of its cookie token (UNIQUE index
 * on hash), exactly as an API key is: the token itself never reaches the
 * store. A logout sets revoked_at, and expiry is decided by the reader
 * (auth/session.c) from the times in the row; rows no reader would accept
 * any more are deleted later, a few at a time (purge, at each login).
 *
 * Lookup is on the request path of every cookie-authenticated call: one
 * seek, one prepared statement. Touch and revoke are single-row updates by
 * primary key (revoking a user's sessions uses the user index), run only by
 * the engine thread (the one writer).
 */
#include "store/sqlite/sqlite_int.h"

sp_code sqlite_session_put(store_conn *base, const json_t *session, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    const char *id = json_str(session, "id"), *hash = json_str(session, "hash");
    const char *user = json_str(session, "user"), *csrf = json_str(session, "csrf_hash");
    if (!id || !hash || !user || !csrf)
        return sp_error_set(err, SP_EINVALID,
                            "store: a session needs id, hash, user and csrf_hash");
    /* The three times are NOT NULL columns; say which member is missing
     * rather than pass on SQLite's constraint message. */
    if (!json_str(session, "created_at") || !json_str(session, "last_seen_at") ||
        !json_str(session, "expires_at"))
        return sp_error_set(err, SP_EINVALID,
                            "store: a session needs created_at, last_seen_at and expires_at");
    sqlite3_stmt *st = NULL;
    /* A plain insert: a session is created once, then only touched or
     * revoked; a repeated id or hash is a conflict, never an overwrite. */
    sp_code rc = sqlite_stmt(c, SQ_SESSION_PUT,
                             "INSERT INTO sessions(id, hash, user, csrf_hash, created_at, "
                             "last_seen_at, expires_at, revoked_at) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, id);
    sqlite_bind_str(st, 2, hash);
    sqlite_bind_str(st, 3, user);
    sqlite_bind_str(st, 4, csrf);
    if ((rc = sqlite_bind_time(st, 5, session, "session", "created_at", err)) ||
        (rc = sqlite_bind_time(st, 6, session, "session", "last_seen_at", err)) ||
        (rc = sqlite_bind_time(st, 7, session, "session", "expires_at", err)) ||
        (rc = sqlite_bind_time(st, 8, session, "session", "revoked_at", err))) {
        sqlite_done(st);
        return rc;
    }
    return sqlite_run(c, st, err, "store a session");
}

sp_code sqlite_session_lookup(store_conn *base, const char *hash, json_t **session,
                              sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_SESSION_LOOKUP,
                             "SELECT id, hash, user, csrf_hash, created_at, last_seen_at, "
                             "expires_at, revoked_at FROM sessions WHERE hash = ?1", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, hash);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        sqlite_done(st);
        return sp_error_set(err, SP_ENOTFOUND, "no such session");
    }
    if (step != SQLITE_ROW)
        return sqlite_fail(c, st, err, "read a session");
    json_t *s = json_object();
    sqlite_set_str(s, "id", st, 0);
    sqlite_set_str(s, "hash", st, 1);
    sqlite_set_str(s, "user", st, 2);
    sqlite_set_str(s, "csrf_hash", st, 3);
    sqlite_set_time(s, "created_at", st, 4);
    sqlite_set_time(s, "last_seen_at", st, 5);
    sqlite_set_time(s, "expires_at", st, 6);
    sqlite_set_time(s, "revoked_at", st, 7);
    sqlite_done(st);
    *session = s;
    return SP_OK;
}

sp_code sqlite_session_touch(store_conn *base, const char *id, sp_time at, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    /* Never backwards: touches may be queued out of order. */
    sp_code rc = sqlite_stmt(c, SQ_SESSION_TOUCH,
                             "UPDATE sessions SET last_seen_at = ?2 "
                             "WHERE id = ?1 AND last_seen_at < ?2", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, id);
    sqlite3_bind_int64(st, 2, at);
    return sqlite_run(c, st, err, "touch a session");
}

sp_code sqlite_session_revoke(store_conn *base, const char *id, sp_time at, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    /* COALESCE: revoking twice keeps the first time. */
    sp_code rc = sqlite_stmt(c, SQ_SESSION_REVOKE,
                             "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?2) "
                             "WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, id);
    sqlite3_bind_int64(st, 2, at);
    if ((rc = sqlite_run(c, st, err, "revoke a session")))
        return rc;
    if (sqlite3_changes(c->db) == 0)
        return sp_error_set(err, SP_ENOTFOUND, "no such session");
    return SP_OK;
}

sp_code sqlite_session_revoke_user(store_conn *base, const char *user, sp_time at,
                                   int64_t *revoked, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_SESSION_REVOKE_USER,
                             "UPDATE sessions SET revoked_at = ?2 "
                             "WHERE user = ?1 AND revoked_at IS NULL", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, user);
    sqlite3_bind_int64(st, 2, at);
    if ((rc = sqlite_run(c, st, err, "revoke a user's sessions")))
        return rc;
    if (revoked)
        *revoked = sqlite3_changes(c->db);
    return SP_OK;
}

sp_code sqlite_session_purge(store_conn *base, sp_time now, sp_time idle_before, int limit,
                             int64_t *purged, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    /* A bounded delete, so that a login never pays for a long backlog. */
    sp_code rc = sqlite_stmt(c, SQ_SESSION_PURGE,
                             "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions "
                             "WHERE revoked_at IS NOT NULL OR expires_at < ?1 "
                             "OR last_seen_at < ?2 LIMIT ?3)", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, idle_before);
    sqlite3_bind_int(st, 3, limit);
    if ((rc = sqlite_run(c, st, err, "purge old sessions")))
        return rc;
    if (purged)
        *purged = sqlite3_changes(c->db);
    return SP_OK;
}
