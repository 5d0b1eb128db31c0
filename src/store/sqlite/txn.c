/*
 * txn.c - transactions and savepoints on the writer, and the meta table.
 *
 * The engine runs BEGIN, then per command SAVEPOINT ... RELEASE (or
 * ROLLBACK TO + RELEASE when the command fails), then COMMIT. Savepoints
 * all share one name: SQLite resolves a name to the innermost savepoint
 * with it, so nesting works with fixed statements. c->depth counts the open
 * ones so a rollback of the whole transaction can reset it.
 *
 * BEGIN IMMEDIATE takes the write lock up front: a batch never discovers
 * halfway through that another process (an offline tool) holds it.
 */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>

sp_code sqlite_begin(store_conn *base, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    c->depth = 0;
    return sqlite_exec_id(c, SQ_BEGIN, "BEGIN IMMEDIATE", err, "begin");
}

sp_code sqlite_commit(store_conn *base, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sp_code rc = sqlite_exec_id(c, SQ_COMMIT, "COMMIT", err, "commit");
    if (rc == SP_OK)
        c->depth = 0;
    /* On failure the transaction may still be open: the caller rolls back. */
    return rc;
}

void sqlite_rollback(store_conn *base)
{
    sqlite_conn *c = sqlite_cast(base);
    c->depth = 0;
    /* SQLite may already have rolled back on its own (an I/O error, a full
     * disk); then there is nothing to undo and nothing to report. */
    if (!sqlite3_get_autocommit(c->db))
        sqlite_exec_id(c, SQ_ROLLBACK, "ROLLBACK", NULL, "rollback");
}

sp_code sqlite_savepoint(store_conn *base, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sp_code rc = sqlite_exec_id(c, SQ_SAVEPOINT, "SAVEPOINT sp", err, "savepoint");
    if (rc == SP_OK)
        c->depth++;
    return rc;
}

sp_code sqlite_savepoint_release(store_conn *base, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    if (c->depth <= 0)
        return sp_error_set(err, SP_EINTERNAL, "store: release without a savepoint");
    sp_code rc = sqlite_exec_id(c, SQ_RELEASE, "RELEASE sp", err, "release savepoint");
    if (rc == SP_OK)
        c->depth--;
    return rc;
}

void sqlite_savepoint_rollback(store_conn *base)
{
    sqlite_conn *c = sqlite_cast(base);
    if (c->depth <= 0)
        return;
    /* ROLLBACK TO undoes the work but keeps the savepoint open; RELEASE then
     * pops it, leaving the outer transaction as it was before SAVEPOINT. */
    sqlite_exec_id(c, SQ_ROLLBACK_TO, "ROLLBACK TO sp", NULL, "rollback to savepoint");
    sqlite_exec_id(c, SQ_RELEASE, "RELEASE sp", NULL, "release savepoint");
    c->depth--;
}

bool sqlite_in_transaction(store_conn *base)
{
    return !sqlite3_get_autocommit(sqlite_cast(base)->db);
}

sp_code sqlite_meta_get(store_conn *base, const char *key, char **value, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code code = sqlite_stmt(c, SQ_META_GET, "SELECT value FROM meta WHERE key = ?1", &st, err);
    if (code)
        return code;
    sqlite_bind_str(st, 1, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite_done(st);
        return sp_error_set(err, SP_ENOTFOUND, "no setting '%s'", key);
    }
    if (rc != SQLITE_ROW)
        return sqlite_fail(c, st, err, "read a setting");
    char *v = sqlite_col_strdup(st, 0);
    sqlite_done(st);
    if (!v)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    *value = v;
    return SP_OK;
}

sp_code sqlite_meta_put(store_conn *base, const char *key, const char *value, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    if (!key || !value)
        return sp_error_set(err, SP_EINVALID, "store: a setting needs a key and a value");
    sqlite3_stmt *st = NULL;
    sp_code code = sqlite_stmt(c, SQ_META_PUT,
                               "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", &st, err);
    if (code)
        return code;
    sqlite_bind_str(st, 1, key);
    sqlite_bind_str(st, 2, value);
    return sqlite_run(c, st, err, "write a setting");
}
