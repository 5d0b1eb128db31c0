/*
 * timers.c - durable timers: one row per pending wake-up.
 *
 * The engine asks for the earliest due rows (index timers_due) and deletes
 * each in the transaction that carries out its effect. Nothing here knows
 * what a kind means.
 */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>

sp_code sqlite_timer_add(store_conn *base, sp_time due_at, const char *kind, const char *run_id,
                         const char *approval_id, const json_t *data, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    if (!kind || !run_id)
        return sp_error_set(err, SP_EINVALID, "store: a timer needs a kind and a run");
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_TIMER_ADD,
                             "INSERT INTO timers(due_at, kind, run_id, approval_id, data) "
                             "VALUES (?1, ?2, ?3, ?4, ?5)", &st, err);
    if (rc)
        return rc;
    char *text = json_dumps(data ? data : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        sqlite_done(st);
        return sp_error_set(err, SP_ENOMEM, "out of memory storing a timer");
    }
    sqlite3_bind_int64(st, 1, due_at);
    sqlite_bind_str(st, 2, kind);
    sqlite_bind_str(st, 3, run_id);
    sqlite_bind_str(st, 4, approval_id);
    sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
    rc = sqlite_run(c, st, err, "store a timer");
    free(text);
    return rc;
}

sp_code sqlite_timer_due(store_conn *base, sp_time now, int limit, json_t **timers, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_TIMER_DUE,
                             "SELECT id, due_at, kind, run_id, approval_id, data FROM timers "
                             "WHERE due_at <= ?1 ORDER BY due_at, id LIMIT ?2", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 1);
    json_t *list = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *data = sqlite_col_json(st, 5, "timer data", err);
        if (!data) {
            sqlite_done(st);
            json_decref(list);
            return SP_ESTORE;
        }
        json_t *t = json_pack("{s:I, s:I, s:s, s:s, s:o}",
                              "id", (json_int_t)sqlite3_column_int64(st, 0),
                              "due_at", (json_int_t)sqlite3_column_int64(st, 1),
                              "kind", (const char *)sqlite3_column_text(st, 2),
                              "run_id", (const char *)sqlite3_column_text(st, 3),
                              "data", data);
        sqlite_set_str(t, "approval_id", st, 4);
        json_array_append_new(list, t);
    }
    if (step != SQLITE_DONE) {
        json_decref(list);
        return sqlite_fail(c, st, err, "read due timers");
    }
    sqlite_done(st);
    *timers = list;
    return SP_OK;
}

sp_code sqlite_timer_next(store_conn *base, sp_time *due_at, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_TIMER_NEXT,
                             "SELECT due_at FROM timers ORDER BY due_at, id LIMIT 1", &st, err);
    if (rc)
        return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *due_at = sqlite3_column_int64(st, 0);
    else if (step == SQLITE_DONE)
        *due_at = STORE_TIMER_NONE;
    else
        return sqlite_fail(c, st, err, "read the next timer");
    sqlite_done(st);
    return SP_OK;
}

sp_code sqlite_timer_delete(store_conn *base, int64_t id, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_TIMER_DELETE, "DELETE FROM timers WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    return sqlite_run(c, st, err, "delete a timer");
}

sp_code sqlite_timer_cancel(store_conn *base, const char *run_id, const char *approval_id,
                            sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = approval_id
        ? sqlite_stmt(c, SQ_TIMER_CANCEL_GATE, "DELETE FROM timers WHERE approval_id = ?1", &st,
                      err)
        : sqlite_stmt(c, SQ_TIMER_CANCEL_RUN, "DELETE FROM timers WHERE run_id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, approval_id ? approval_id : run_id);
    return sqlite_run(c, st, err, "cancel timers");
}

sp_code sqlite_timer_count(store_conn *base, int64_t *count, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_TIMER_COUNT, "SELECT COUNT(*) FROM timers", &st, err);
    if (rc)
        return rc;
    if (sqlite3_step(st) != SQLITE_ROW)
        return sqlite_fail(c, st, err, "count timers");
    *count = sqlite3_column_int64(st, 0);
    sqlite_done(st);
    return SP_OK;
}
