/*
 * stmt.c - the statement cache, error mapping and binding helpers every
 * SQLite file uses. See sqlite_int.h for the discipline they enforce.
 */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

sp_code sqlite_stmt(sqlite_conn *c, sqlite_sq id, const char *sql, sqlite3_stmt **st,
                    sp_error *err)
{
    if (!c->stmt[id]) {
        /* PERSISTENT: these live as long as the connection, so let SQLite
         * allocate them outside its short-lived lookaside memory. */
        int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[id],
                                    NULL);
        if (rc != SQLITE_OK) {
            sp_code code = sqlite_fail(c, NULL, err, "prepare");
            sqlite3_finalize(c->stmt[id]);
            c->stmt[id] = NULL;
            return code;
        }
    }
    *st = c->stmt[id];
    return SP_OK;
}

void sqlite_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

sp_code sqlite_fail(sqlite_conn *c, sqlite3_stmt *st, sp_error *err, const char *what)
{
    int ext = sqlite3_extended_errcode(c->db);
    sp_code code;
    switch (ext) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        code = SP_ECONFLICT;
        break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        code = SP_EINVALID;
        break;
    default:
        code = (ext & 0xff) == SQLITE_NOMEM ? SP_ENOMEM : SP_ESTORE;
        break;
    }
    /* The message first: resetting may not, but could, replace it. */
    sp_error_set(err, code, "store: %s: %s", what, sqlite3_errmsg(c->db));
    sqlite_done(st);
    return code;
}

sp_code sqlite_strings(sqlite_conn *c, sqlite3_stmt *st, const char *what, json_t **out,
                       sp_error *err)
{
    json_t *list = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(list, json_string((const char *)sqlite3_column_text(st, 0)));
    if (step != SQLITE_DONE) {
        json_decref(list);
        return sqlite_fail(c, st, err, what);
    }
    sqlite_done(st);
    *out = list;
    return SP_OK;
}

sp_code sqlite_run(sqlite_conn *c, sqlite3_stmt *st, sp_error *err, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return sqlite_fail(c, st, err, what);
    sqlite_done(st);
    return SP_OK;
}

sp_code sqlite_exec_id(sqlite_conn *c, sqlite_sq id, const char *sql, sp_error *err,
                       const char *what)
{
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, id, sql, &st, err);
    return rc ? rc : sqlite_run(c, st, err, what);
}

void sqlite_finalize_all(sqlite_conn *c)
{
    for (int i = 0; i < SQ_COUNT; i++) {
        sqlite3_finalize(c->stmt[i]);
        c->stmt[i] = NULL;
    }
}

int sqlite_bind_str(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

sp_code sqlite_bind_time(sqlite3_stmt *st, int i, const json_t *doc, const char *what,
                         const char *key, sp_error *err)
{
    const json_t *v = json_object_get(doc, key);
    if (!v || json_is_null(v)) {
        sqlite3_bind_null(st, i);
        return SP_OK;
    }
    sp_time t;
    if (!json_is_string(v) || time_parse(json_string_value(v), &t) != 0)
        return sp_error_set(err, SP_EINVALID, "%s.%s: not an RFC 3339 time", what, key);
    sqlite3_bind_int64(st, i, t);
    return SP_OK;
}

char *sqlite_col_strdup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s ? strdup((const char *)s) : NULL;
}

json_t *sqlite_col_json(sqlite3_stmt *st, int col, const char *what, sp_error *err)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    int len = sqlite3_column_bytes(st, col);
    json_error_t jerr;
    json_t *v = text ? json_loadb(text, (size_t)len, JSON_DECODE_ANY, &jerr) : NULL;
    if (!v)
        sp_error_set(err, SP_ESTORE, "store: %s: the stored document is not valid JSON%s%s",
                     what, text ? ": " : "", text ? jerr.text : "");
    return v;
}

void sqlite_set_str(json_t *obj, const char *key, sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    if (s)
        json_object_set_new(obj, key, json_string((const char *)s));
}

void sqlite_set_time(json_t *obj, const char *key, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return;
    char buf[SP_TIME_BUF];
    json_object_set_new(obj, key, json_string(time_format(sqlite3_column_int64(st, col), buf)));
}

int sqlite_limit(int limit)
{
    if (limit <= 0)
        return SQLITE_LIST_DEFAULT;
    return limit > SQLITE_LIST_MAX ? SQLITE_LIST_MAX : limit;
}

bool sqlite_read_begin(sqlite_conn *c)
{
    /* Inside a transaction (the writer's batch) the snapshot is already one. */
    if (!sqlite3_get_autocommit(c->db))
        return false;
    return sqlite_exec_id(c, SQ_BEGIN_READ, "BEGIN DEFERRED", NULL, "begin read") == SP_OK;
}

void sqlite_read_end(sqlite_conn *c, bool began)
{
    /* A read transaction has nothing to lose: COMMIT just ends it. */
    if (began)
        sqlite_exec_id(c, SQ_COMMIT, "COMMIT", NULL, "end read");
}

sp_code sqlite_put_begin(sqlite_conn *c, sp_error *err)
{
    return sqlite_exec_id(c, SQ_PUT_BEGIN, "SAVEPOINT put", err, "savepoint");
}

sp_code sqlite_put_end(sqlite_conn *c, sp_code rc, sp_error *err)
{
    if (rc == SP_OK)
        return sqlite_exec_id(c, SQ_PUT_RELEASE, "RELEASE put", err, "release savepoint");
    sqlite_exec_id(c, SQ_PUT_ROLLBACK, "ROLLBACK TO put", NULL, "rollback to savepoint");
    sqlite_exec_id(c, SQ_PUT_RELEASE, "RELEASE put", NULL, "release savepoint");
    return rc;
}
