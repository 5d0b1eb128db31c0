/*
 * schema.c - the SQLite schema and its migrations.
 *
 * PRAGMA user_version is the number of migrations applied. At open the
 * writer applies the missing ones, each in order, all in one IMMEDIATE
 * transaction with the new user_version, so a crash leaves either the old
 * schema or the new one. A database from a newer binary (user_version
 * beyond what this one knows) is refused rather than half understood.
 *
 * A change to the schema is a new entry appended to `migrations`; entries
 * already released are never edited. docs/internals/store.md explains each
 * table and index.
 */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>

static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;"

    "CREATE TABLE workflows ("
    "  name TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  format TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  created_by TEXT,"
    "  created_at INTEGER,"
    "  PRIMARY KEY (name, version)"
    ");"
    "CREATE INDEX workflows_hash ON workflows(name, hash);"

    "CREATE TABLE runs ("
    "  id TEXT PRIMARY KEY,"
    "  workflow TEXT,"
    "  version INTEGER,"
    "  status TEXT,"
    "  started_by TEXT,"
    "  created_at INTEGER,"
    "  updated_at INTEGER,"
    "  doc TEXT NOT NULL"
    ");"
    "CREATE INDEX runs_status ON runs(status, id);"
    "CREATE INDEX runs_workflow ON runs(workflow, id);"
    "CREATE INDEX runs_started_by ON runs(started_by, id);"

    "CREATE TABLE idempotency ("
    "  principal TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  run_id TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (principal, key)"
    ") WITHOUT ROWID;"

    "CREATE TABLE approvals ("
    "  id TEXT PRIMARY KEY,"
    "  run_id TEXT,"
    "  status TEXT,"
    "  created_at INTEGER,"
    "  due_at INTEGER,"
    "  doc TEXT NOT NULL"
    ");"
    "CREATE INDEX approvals_status ON approvals(status, id);"
    "CREATE INDEX approvals_run ON approvals(run_id);"
    "CREATE INDEX approvals_due ON approvals(due_at) WHERE due_at IS NOT NULL;"

    /* One row per assignee of a gate; status mirrors the gate's, so the
     * inbox (principal, status, newest id first) is one index range. */
    "CREATE TABLE approval_assignees ("
    "  approval_id TEXT NOT NULL REFERENCES approvals(id) ON DELETE CASCADE,"
    "  principal TEXT NOT NULL,"
    "  status TEXT,"
    "  PRIMARY KEY (approval_id, principal)"
    ") WITHOUT ROWID;"
    "CREATE INDEX approval_assignees_inbox ON approval_assignees(principal, status, approval_id);"
    "CREATE INDEX approval_assignees_any ON approval_assignees(principal, approval_id);"

    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  run_id TEXT,"
    "  approval_id TEXT,"
    "  data TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL"
    ");"
    "CREATE INDEX audit_run ON audit(run_id) WHERE run_id IS NOT NULL;"
    "CREATE INDEX audit_approval ON audit(approval_id) WHERE approval_id IS NOT NULL;"

    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY,"
    "  role TEXT NOT NULL,"
    "  email TEXT,"
    "  password_hash TEXT,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER"
    ");"
    "CREATE TABLE teams ("
    "  name TEXT PRIMARY KEY,"
    "  created_at INTEGER"
    ");"
    "CREATE TABLE team_members ("
    "  team TEXT NOT NULL REFERENCES teams(name) ON DELETE CASCADE,"
    "  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    "  PRIMARY KEY (team, user)"
    ") WITHOUT ROWID;"
    "CREATE INDEX team_members_user ON team_members(user, team);"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL,"
    "  scope TEXT NOT NULL,"
    "  name TEXT,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER,"
    "  revoked_at INTEGER,"
    "  expires_at INTEGER,"
    "  last_used_at INTEGER"
    ");"
    "CREATE INDEX api_keys_user ON api_keys(user);",

    /* 2: durable timers (gate timeouts, escalations, reminders, waits,
     * retries). The engine reads only the earliest due ones (timers_due);
     * cancelling by gate or run uses the other two indexes. */
    "CREATE TABLE timers ("
    "  id INTEGER PRIMARY KEY,"
    "  due_at INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  run_id TEXT NOT NULL,"
    "  approval_id TEXT,"
    "  data TEXT NOT NULL"
    ");"
    "CREATE INDEX timers_due ON timers(due_at, id);"
    "CREATE INDEX timers_run ON timers(run_id);"
    "CREATE INDEX timers_approval ON timers(approval_id) WHERE approval_id IS NOT NULL;",

    /* 3: web sessions. The cookie token and the CSRF token are kept only
     * as SHA-256 (like API keys); authentication is one seek on the UNIQUE
     * hash. Expiry is idle (last_seen_at) or absolute (expires_at), decided
     * by auth/session.c; a logout sets revoked_at. */
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  user TEXT NOT NULL,"
    "  csrf_hash TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  last_seen_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  revoked_at INTEGER"
    ");"
    "CREATE INDEX sessions_user ON sessions(user);",

    /* 4: secrets, sealed by secrets/ (nonce and ciphertext in one BLOB);
     * key_id names the master key that sealed each row, so start-up can
     * tell a wrong key from a tampered row. Few rows, read whole. */
    "CREATE TABLE secrets ("
    "  name TEXT PRIMARY KEY,"
    "  sealed BLOB NOT NULL,"
    "  key_id TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");",

    /* 5: the one use of each signed decision link, by its nonce: the row
     * is written in the transaction of the decision it made. */
    "CREATE TABLE link_uses ("
    "  nonce TEXT PRIMARY KEY,"
    "  approval_id TEXT NOT NULL,"
    "  used_at INTEGER NOT NULL"
    ") WITHOUT ROWID;",

    /* 6: the names of deleted users, which stay taken: the history names
     * them, and a new user must not inherit their gates or links. */
    "CREATE TABLE retired_names ("
    "  name TEXT PRIMARY KEY,"
    "  retired_at INTEGER NOT NULL"
    ") WITHOUT ROWID;",

    /* 7: the audit anchor - where the keyed audit chain begins. Rows up to
     * and including this seq were hashed with plain SHA-256 by an earlier
     * spojit; every later row is keyed (audit/audit.c). The anchor is the
     * head of the trail at the moment of this migration (seq 0 and the
     * genesis hash for an empty one), so an old trail keeps verifying and
     * the first keyed row links to its last plain hash. audit/key.c seals
     * a copy of it with the audit key, so moving it later is detected. */
    "INSERT INTO meta(key, value) SELECT 'audit_anchor', "
    "  printf('{\"seq\":%d,\"hash\":\"%s\"}', COALESCE(MAX(seq), 0),"
    "         COALESCE((SELECT hash FROM audit ORDER BY seq DESC LIMIT 1),"
    "                  '0000000000000000000000000000000000000000000000000000000000000000'))"
    "  FROM audit;",
};

#define MIGRATIONS ((int)(sizeof migrations / sizeof *migrations))

int sqlite_schema_version(void)
{
    return MIGRATIONS;
}

static sp_code exec(sqlite_conn *c, const char *sql, sp_error *err, const char *what)
{
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sqlite_fail(c, NULL, err, what);
    return SP_OK;
}

static sp_code user_version(sqlite_conn *c, int *version, sp_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(c, NULL, err, "read the schema version");
    if (sqlite3_step(st) != SQLITE_ROW) {
        sp_code code = sqlite_fail(c, NULL, err, "read the schema version");
        sqlite3_finalize(st);
        return code;
    }
    *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return SP_OK;
}

sp_code sqlite_schema_migrate(sqlite_conn *c, sp_error *err)
{
    int version = 0;
    sp_code rc = exec(c, "BEGIN IMMEDIATE", err, "begin migration");
    if (rc)
        return rc;
    if ((rc = user_version(c, &version, err)))
        goto rollback;
    if (version > MIGRATIONS) {
        rc = sp_error_set(err, SP_ESTORE,
                          "store: the database has schema version %d; this spojit knows "
                          "versions up to %d (upgrade spojit)", version, MIGRATIONS);
        goto rollback;
    }
    for (int v = version; v < MIGRATIONS; v++) {
        char what[64];
        snprintf(what, sizeof what, "schema migration %d", v + 1);
        if ((rc = exec(c, migrations[v], err, what)))
            goto rollback;
    }
    if (version < MIGRATIONS) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", MIGRATIONS);
        if ((rc = exec(c, sql, err, "set the schema version")))
            goto rollback;
    }
    return exec(c, "COMMIT", err, "commit migration");
rollback:
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
