/*
 * secrets.c - the secrets table: sealed values by name.
 *
 * The store keeps bytes it cannot read: sealing and opening are secrets/'s
 * business, so nothing here ever holds a plaintext value. A put keeps the
 * row's created_at and says whether the row is new (201 or 200 for the
 * API); the check and the upsert run on the writer inside the engine's
 * savepoint, so they see the same state.
 */
#include "store/sqlite/sqlite_int.h"

sp_code sqlite_secret_put(store_conn *base, const store_secret *s, bool *created, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    if (!s || !s->name || !s->sealed || !s->sealed_len || !s->key_id)
        return sp_error_set(err, SP_EINVALID, "store: a secret needs a name, a sealed value "
                            "and a key id");
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_SECRET_EXISTS, "SELECT 1 FROM secrets WHERE name = ?1", &st,
                             err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, s->name);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return sqlite_fail(c, st, err, "read a secret");
    bool is_new = step == SQLITE_DONE;
    sqlite_done(st);

    if ((rc = sqlite_stmt(c, SQ_SECRET_PUT,
                          "INSERT INTO secrets(name, sealed, key_id, created_at, updated_at) "
                          "VALUES (?1, ?2, ?3, ?4, ?5) "
                          "ON CONFLICT(name) DO UPDATE SET sealed = excluded.sealed, "
                          "key_id = excluded.key_id, updated_at = excluded.updated_at",
                          &st, err)))
        return rc;
    sqlite_bind_str(st, 1, s->name);
    sqlite3_bind_blob(st, 2, s->sealed, (int)s->sealed_len, SQLITE_STATIC);
    sqlite_bind_str(st, 3, s->key_id);
    sqlite3_bind_int64(st, 4, s->created_at);
    sqlite3_bind_int64(st, 5, s->updated_at);
    if ((rc = sqlite_run(c, st, err, "store a secret")))
        return rc;
    if (created)
        *created = is_new;
    return SP_OK;
}

sp_code sqlite_secret_delete(store_conn *base, const char *name, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_SECRET_DELETE, "DELETE FROM secrets WHERE name = ?1", &st,
                             err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, name);
    if ((rc = sqlite_run(c, st, err, "delete a secret")))
        return rc;
    if (sqlite3_changes(c->db) == 0)
        return sp_error_set(err, SP_ENOTFOUND, "no secret '%s'", name ? name : "");
    return SP_OK;
}

sp_code sqlite_secret_scan(store_conn *base, bool with_sealed, store_secret_fn fn, void *ctx,
                           sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    /* The list never reads the sealed bytes it does not need. */
    sp_code rc = with_sealed
        ? sqlite_stmt(c, SQ_SECRET_SCAN_SEALED,
                      "SELECT name, key_id, created_at, updated_at, sealed FROM secrets "
                      "ORDER BY name", &st, err)
        : sqlite_stmt(c, SQ_SECRET_SCAN,
                      "SELECT name, key_id, created_at, updated_at FROM secrets ORDER BY name",
                      &st, err);
    if (rc)
        return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        store_secret s = {
            .name = (const char *)sqlite3_column_text(st, 0),
            .key_id = (const char *)sqlite3_column_text(st, 1),
            .created_at = sqlite3_column_int64(st, 2),
            .updated_at = sqlite3_column_int64(st, 3),
        };
        if (with_sealed) {
            s.sealed = sqlite3_column_blob(st, 4);
            s.sealed_len = (size_t)sqlite3_column_bytes(st, 4);
        }
        if (!s.name || !s.key_id)
            continue;               /* NOT NULL columns: cannot happen short of corruption */
        if (fn(ctx, &s) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return sqlite_fail(c, st, err, "read the secrets");
    sqlite_done(st);
    return SP_OK;
}
