/*
 * runs.c - run documents, the run list, and idempotency keys.
 *
 * A run is stored as the compact JSON text it was given, plus the columns
 * the list filters use (derived from the document on every put, so they
 * cannot drift from it). store_run_put and store_run_get are on the hot
 * path: one prepared statement each, no other query.
 */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sp_code sqlite_run_put(store_conn *base, const json_t *run, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    const char *id = json_str(run, "id");
    if (!id)
        return sp_error_set(err, SP_EINVALID, "store: a run document needs an \"id\"");
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_RUN_PUT,
                             "INSERT INTO runs(id, workflow, version, status, started_by, "
                             "created_at, updated_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                             "ON CONFLICT(id) DO UPDATE SET workflow = excluded.workflow, "
                             "version = excluded.version, status = excluded.status, "
                             "started_by = excluded.started_by, created_at = excluded.created_at, "
                             "updated_at = excluded.updated_at, doc = excluded.doc", &st, err);
    if (rc)
        return rc;
    char *doc = json_dumps(run, JSON_COMPACT);
    if (!doc)
        return sp_error_set(err, SP_EINVALID, "store: run %s cannot be written as JSON", id);
    json_t *version = json_object_get(run, "version");
    sqlite_bind_str(st, 1, id);
    sqlite_bind_str(st, 2, json_str(run, "workflow"));
    if (json_is_integer(version))
        sqlite3_bind_int64(st, 3, json_integer_value(version));
    sqlite_bind_str(st, 4, json_str(run, "status"));
    sqlite_bind_str(st, 5, json_str(run, "started_by"));
    sqlite3_bind_text(st, 8, doc, -1, SQLITE_STATIC);
    if ((rc = sqlite_bind_time(st, 6, run, "run", "created_at", err)) ||
        (rc = sqlite_bind_time(st, 7, run, "run", "updated_at", err)))
        sqlite_done(st);
    else
        rc = sqlite_run(c, st, err, "store a run");
    free(doc);
    return rc;
}

/* Steps st (bound to one id) and parses its first column as a document. */
static sp_code get_doc(sqlite_conn *c, sqlite3_stmt *st, const char *kind, const char *id,
                       json_t **out, sp_error *err)
{
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        sqlite_done(st);
        return sp_error_set(err, SP_ENOTFOUND, "no %s '%s'", kind, id);
    }
    if (step != SQLITE_ROW)
        return sqlite_fail(c, st, err, kind);
    json_t *doc = sqlite_col_json(st, 0, kind, err);
    sqlite_done(st);
    if (!doc)
        return SP_ESTORE;
    *out = doc;
    return SP_OK;
}

sp_code sqlite_run_get(store_conn *base, const char *id, json_t **run, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_RUN_GET, "SELECT doc FROM runs WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, id);
    return get_doc(c, st, "run", id, run, err);
}

/*
 * One statement per combination of filters, so each is a plain index range
 * ("status = ? AND id < ?" over runs_status) rather than a generic
 * "(? IS NULL OR status = ?)" that no index can serve.
 */
enum { RUN_BY_STATUS = 1, RUN_BY_WORKFLOW = 2, RUN_BY_STARTER = 4 };

static void run_list_sql(int mask, char *sql, size_t size)
{
    snprintf(sql, size, "SELECT doc FROM runs WHERE id < ?1%s%s%s ORDER BY id DESC LIMIT ?5",
             mask & RUN_BY_STATUS ? " AND status = ?2" : "",
             mask & RUN_BY_WORKFLOW ? " AND workflow = ?3" : "",
             mask & RUN_BY_STARTER ? " AND started_by = ?4" : "");
}

sp_code sqlite_run_list(store_conn *base, const store_run_filter *f, json_t **items,
                        char **next_cursor, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    int mask = (f->status ? RUN_BY_STATUS : 0) | (f->workflow ? RUN_BY_WORKFLOW : 0) |
               (f->started_by ? RUN_BY_STARTER : 0);
    char sql[256];
    run_list_sql(mask, sql, sizeof sql);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, (sqlite_sq)(SQ_RUN_LIST + mask), sql, &st, err);
    if (rc)
        return rc;
    int limit = sqlite_limit(f->limit);
    sqlite_bind_str(st, 1, f->cursor ? f->cursor : SQLITE_CURSOR_TOP);
    sqlite_bind_str(st, 2, f->status);
    sqlite_bind_str(st, 3, f->workflow);
    sqlite_bind_str(st, 4, f->started_by);
    sqlite3_bind_int(st, 5, limit + 1);     /* one more tells whether a next page exists */

    json_t *list = json_array();
    char *next = NULL;
    int step, n = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            /* The id column is derived from the document's id, so they agree. */
            const char *last = json_str(json_array_get(list, (size_t)n - 1), "id");
            if (!(next = strdup(last ? last : "")))
                rc = sp_error_set(err, SP_ENOMEM, "out of memory");
            break;
        }
        json_t *doc = sqlite_col_json(st, 0, "run", err);
        if (!doc) {
            rc = SP_ESTORE;
            break;
        }
        json_array_append_new(list, doc);
        n++;
    }
    if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = sqlite_fail(c, st, err, "list runs");
    sqlite_done(st);
    if (rc) {
        json_decref(list);
        free(next);
        return rc;
    }
    *items = list;
    *next_cursor = next;
    return SP_OK;
}

sp_code sqlite_run_active(store_conn *base, json_t **ids, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_RUN_ACTIVE,
                             "SELECT id FROM runs WHERE status = 'running' ORDER BY id", &st, err);
    return rc ? rc : sqlite_strings(c, st, "list active runs", ids, err);
}

sp_code sqlite_run_counts(store_conn *base, json_t **counts, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_RUN_COUNTS,
                             "SELECT status, COUNT(*) FROM runs WHERE status IS NOT NULL "
                             "GROUP BY status", &st, err);
    if (rc)
        return rc;
    json_t *obj = json_object();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(obj, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    if (step != SQLITE_DONE) {
        json_decref(obj);
        return sqlite_fail(c, st, err, "count runs");
    }
    sqlite_done(st);
    *counts = obj;
    return SP_OK;
}

sp_code sqlite_idem_get(store_conn *base, const char *principal, const char *key, char **run_id,
                        sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_IDEM_GET,
                             "SELECT run_id FROM idempotency WHERE principal = ?1 AND key = ?2",
                             &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, principal);
    sqlite_bind_str(st, 2, key);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        sqlite_done(st);
        return sp_error_set(err, SP_ENOTFOUND, "no run for idempotency key '%s'", key);
    }
    if (step != SQLITE_ROW)
        return sqlite_fail(c, st, err, "read an idempotency key");
    char *id = sqlite_col_strdup(st, 0);
    sqlite_done(st);
    if (!id)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    *run_id = id;
    return SP_OK;
}

sp_code sqlite_idem_put(store_conn *base, const char *principal, const char *key,
                        const char *run_id, sp_time at, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    if (!principal || !key || !run_id)
        return sp_error_set(err, SP_EINVALID,
                            "store: an idempotency key needs a principal, a key and a run");
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_IDEM_PUT,
                             "INSERT INTO idempotency(principal, key, run_id, created_at) "
                             "VALUES (?1, ?2, ?3, ?4)", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, principal);
    sqlite_bind_str(st, 2, key);
    sqlite_bind_str(st, 3, run_id);
    sqlite3_bind_int64(st, 4, at);
    return sqlite_run(c, st, err, "store an idempotency key");
}
