/*
 * links.c - the one use of each signed decision link.
 *
 * A link's nonce becomes a row in the transaction of the decision it made;
 * the primary key makes a second use a conflict, whichever node it reaches.
 */
#include "store/sqlite/sqlite_int.h"

sp_code sqlite_link_use(store_conn *base, const char *nonce, const char *approval_id, sp_time at,
                        sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_LINK_USE,
                             "INSERT INTO link_uses(nonce, approval_id, used_at) "
                             "VALUES (?1, ?2, ?3)", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, nonce);
    sqlite_bind_str(st, 2, approval_id);
    sqlite3_bind_int64(st, 3, at);
    rc = sqlite_run(c, st, err, "record a link's use");
    if (rc == SP_ECONFLICT || rc == SP_EINVALID) {
        sp_error_clear(err);
        return sp_error_set(err, SP_ECONFLICT, "this link has already been used");
    }
    return rc;
}

sp_code sqlite_link_used(store_conn *base, const char *nonce, bool *used, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_LINK_USED, "SELECT 1 FROM link_uses WHERE nonce = ?1", &st,
                             err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, nonce);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return sqlite_fail(c, st, err, "read a link's use");
    *used = step == SQLITE_ROW;
    sqlite_done(st);
    return SP_OK;
}
