/*
 * audit_rows.c - storage of audit rows. The chain itself (what goes into a
 * hash, how it is verified) is audit/'s business; here rows are stored and
 * read back exactly as given, byte for byte, so verification sees what was
 * written.
 *
 * seq is the INTEGER PRIMARY KEY (the rowid): appending is one b-tree insert
 * at the right edge, the head is one seek to the last row, and a scan in seq
 * order is a walk of the table itself. A seq already taken is SP_ECONFLICT:
 * the caller's in-memory head was stale.
 */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>
#include <string.h>

#define AUDIT_COLUMNS "seq, at, actor, type, run_id, approval_id, data, prev_hash, hash"

/* Exactly len bytes as TEXT (NULL stays NULL). */
static void bind_bytes(sqlite3_stmt *st, int i, const char *s, size_t len)
{
    if (s)
        sqlite3_bind_text64(st, i, s, len, SQLITE_STATIC, SQLITE_UTF8);
    else
        sqlite3_bind_null(st, i);
}

sp_code sqlite_audit_append(store_conn *base, const store_audit_row *row, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    if (!row->actor || !row->type || !row->data || !row->prev_hash || !row->hash)
        return sp_error_set(err, SP_EINVALID,
                            "store: an audit row needs actor, type, data and hashes");
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_AUDIT_APPEND,
                             "INSERT INTO audit(" AUDIT_COLUMNS ") "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, row->seq);
    sqlite3_bind_int64(st, 2, row->at);
    bind_bytes(st, 3, row->actor, row->actor_len);
    bind_bytes(st, 4, row->type, row->type_len);
    bind_bytes(st, 5, row->run_id, row->run_id_len);
    bind_bytes(st, 6, row->approval_id, row->approval_id_len);
    bind_bytes(st, 7, row->data, row->data_len);
    bind_bytes(st, 8, row->prev_hash, row->prev_hash_len);
    bind_bytes(st, 9, row->hash, row->hash_len);
    return sqlite_run(c, st, err, "append an audit row");
}

sp_code sqlite_audit_head(store_conn *base, int64_t *seq, char hash[65], sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_AUDIT_HEAD,
                             "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &st, err);
    if (rc)
        return rc;
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return sqlite_fail(c, st, err, "read the audit head");
    if (step == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);
        *seq = sqlite3_column_int64(st, 0);
        snprintf(hash, 65, "%s", h ? h : "");
    } else {
        *seq = 0;
        hash[0] = '\0';
    }
    sqlite_done(st);
    return SP_OK;
}

enum { AUDIT_BY_RUN = 1, AUDIT_BY_APPROVAL = 2 };

/* The column's text and its stored length in bytes: sqlite3_column_bytes,
 * not strlen, so a NUL inside a value (or a BLOB put in a TEXT column) is
 * read whole. column_text comes first: it fixes the encoding the byte
 * count refers to. */
static const char *text(sqlite3_stmt *st, int col, size_t *len)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    *len = s ? (size_t)sqlite3_column_bytes(st, col) : 0;
    return s;
}

sp_code sqlite_audit_scan(store_conn *base, const store_audit_filter *f, store_audit_fn fn,
                          void *ctx, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    int mask = (f->run_id ? AUDIT_BY_RUN : 0) | (f->approval_id ? AUDIT_BY_APPROVAL : 0);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT " AUDIT_COLUMNS " FROM audit WHERE seq > ?1%s%s "
             "ORDER BY seq LIMIT ?4",
             mask & AUDIT_BY_RUN ? " AND run_id = ?2" : "",
             mask & AUDIT_BY_APPROVAL ? " AND approval_id = ?3" : "");
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, (sqlite_sq)(SQ_AUDIT_SCAN + mask), sql, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, f->after_seq);
    sqlite_bind_str(st, 2, f->run_id);
    sqlite_bind_str(st, 3, f->approval_id);
    sqlite3_bind_int64(st, 4, f->limit > 0 ? f->limit : -1);   /* -1: no limit */
    int step;
    /* One statement, so the whole scan reads one snapshot. fn must not
     * scan the audit on this same connection (the statement is busy). */
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        store_audit_row row = {
            .seq = sqlite3_column_int64(st, 0),
            .at = sqlite3_column_int64(st, 1),
        };
        row.actor = text(st, 2, &row.actor_len);
        row.type = text(st, 3, &row.type_len);
        row.run_id = text(st, 4, &row.run_id_len);
        row.approval_id = text(st, 5, &row.approval_id_len);
        row.data = text(st, 6, &row.data_len);
        row.prev_hash = text(st, 7, &row.prev_hash_len);
        row.hash = text(st, 8, &row.hash_len);
        if (fn(ctx, &row) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return sqlite_fail(c, st, err, "read the audit trail");
    sqlite_done(st);
    return SP_OK;
}
