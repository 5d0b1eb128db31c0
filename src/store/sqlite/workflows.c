/*
 * workflows.c - immutable workflow versions.
 *
 * (name, version) is the primary key, so storing a version twice is
 * SP_ECONFLICT instead of a silent overwrite: versions never change.
 */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>

#define WF_COLUMNS "name, version, hash, format, source, created_by, created_at"

sp_code sqlite_workflow_put(store_conn *base, const json_t *row, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    const char *name = json_str(row, "name"), *hash = json_str(row, "hash");
    const char *format = json_str(row, "format"), *source = json_str(row, "source");
    json_t *version = json_object_get(row, "version");
    if (!name || !hash || !format || !source || !json_is_integer(version))
        return sp_error_set(err, SP_EINVALID,
                            "store: a workflow row needs name, version, hash, format and source");
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_WF_PUT,
                             "INSERT INTO workflows(" WF_COLUMNS ") "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    sqlite3_bind_int64(st, 2, json_integer_value(version));
    sqlite_bind_str(st, 3, hash);
    sqlite_bind_str(st, 4, format);
    sqlite_bind_str(st, 5, source);
    sqlite_bind_str(st, 6, json_str(row, "created_by"));
    if ((rc = sqlite_bind_time(st, 7, row, "workflow", "created_at", err))) {
        sqlite_done(st);
        return rc;
    }
    return sqlite_run(c, st, err, "store a workflow");
}

sp_code sqlite_workflow_get(store_conn *base, const char *name, int version, json_t **row,
                            sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = version > 0
        ? sqlite_stmt(c, SQ_WF_GET,
                      "SELECT " WF_COLUMNS " FROM workflows WHERE name = ?1 AND version = ?2",
                      &st, err)
        : sqlite_stmt(c, SQ_WF_GET_NEWEST,
                      "SELECT " WF_COLUMNS " FROM workflows WHERE name = ?1 "
                      "ORDER BY version DESC LIMIT 1", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    if (version > 0)
        sqlite3_bind_int(st, 2, version);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        sqlite_done(st);
        if (version > 0)
            return sp_error_set(err, SP_ENOTFOUND, "no workflow '%s' version %d", name, version);
        return sp_error_set(err, SP_ENOTFOUND, "no workflow '%s'", name);
    }
    if (step != SQLITE_ROW)
        return sqlite_fail(c, st, err, "read a workflow");
    json_t *r = json_object();
    sqlite_set_str(r, "name", st, 0);
    json_object_set_new(r, "version", json_integer(sqlite3_column_int64(st, 1)));
    sqlite_set_str(r, "hash", st, 2);
    sqlite_set_str(r, "format", st, 3);
    sqlite_set_str(r, "source", st, 4);
    sqlite_set_str(r, "created_by", st, 5);
    sqlite_set_time(r, "created_at", st, 6);
    sqlite_done(st);
    *row = r;
    return SP_OK;
}

/* Runs a one-integer query about name (and hash); *out = 0 when no row. */
static sp_code one_int(sqlite_conn *c, sqlite_sq id, const char *sql, const char *name,
                       const char *hash, int *out, sp_error *err)
{
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, id, sql, &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    if (hash)
        sqlite_bind_str(st, 2, hash);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return sqlite_fail(c, st, err, "read workflow versions");
    *out = step == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite_done(st);
    return SP_OK;
}

sp_code sqlite_workflow_find_hash(store_conn *base, const char *name, const char *hash,
                                  int *version, sp_error *err)
{
    return one_int(sqlite_cast(base), SQ_WF_FIND_HASH,
                   "SELECT version FROM workflows WHERE name = ?1 AND hash = ?2 "
                   "ORDER BY version DESC LIMIT 1", name, hash ? hash : "", version, err);
}

sp_code sqlite_workflow_latest(store_conn *base, const char *name, int *version, sp_error *err)
{
    /* MAX() over no rows is one row holding NULL, which reads as 0. */
    return one_int(sqlite_cast(base), SQ_WF_LATEST,
                   "SELECT MAX(version) FROM workflows WHERE name = ?1", name, NULL, version,
                   err);
}

sp_code sqlite_workflow_list(store_conn *base, json_t **items, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    /* SQLite documents that with MAX() the bare columns come from the row
     * holding the maximum: hash and created_at are the newest version's. */
    sp_code rc = sqlite_stmt(c, SQ_WF_LIST,
                             "SELECT name, MAX(version), hash, created_at, COUNT(*) "
                             "FROM workflows GROUP BY name ORDER BY name", &st, err);
    if (rc)
        return rc;
    json_t *list = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *r = json_object();
        sqlite_set_str(r, "name", st, 0);
        json_object_set_new(r, "version", json_integer(sqlite3_column_int64(st, 1)));
        sqlite_set_str(r, "hash", st, 2);
        sqlite_set_time(r, "created_at", st, 3);
        json_object_set_new(r, "versions", json_integer(sqlite3_column_int64(st, 4)));
        json_array_append_new(list, r);
    }
    if (step != SQLITE_DONE) {
        json_decref(list);
        return sqlite_fail(c, st, err, "list workflows");
    }
    sqlite_done(st);
    *items = list;
    return SP_OK;
}
