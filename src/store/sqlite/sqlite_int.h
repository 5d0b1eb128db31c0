/*
 * sqlite_int.h - internals shared by the SQLite backend's files.
 *
 * DESIGN NOTES
 *
 * Connections. One writer connection (the engine thread's) and a pool of up
 * to SQLITE_POOL_MAX reader connections opened on demand. Each connection is
 * used by one thread at a time (the pool hands it out exclusively), so file
 * stores open connections with SQLITE_OPEN_NOMUTEX: SQLite's own per-call
 * mutex would only cost time. ":memory:" is the exception: it has a single
 * connection that readers share with the writer, opened FULLMUTEX.
 *
 * Statements. Every statement a connection runs sits in c->stmt[] under a
 * fixed id (sqlite_sq below). It is prepared on first use with
 * SQLITE_PREPARE_PERSISTENT and then only reset and rebound, never
 * re-prepared. Each id is used with exactly one SQL text (variants such as
 * the run list filters have one id per variant).
 *
 * Statement discipline. sqlite_stmt() returns a statement that is reset and
 * has no bindings. Every user finishes with sqlite_done() (reset + clear
 * bindings) on every path, so text bound SQLITE_STATIC never outlives the
 * caller's buffer, and no statement holds a read transaction open.
 *
 * Snapshots. A reader in autocommit mode sees each statement's own snapshot.
 * Calls that run more than one SELECT (user + teams, the inbox merge) wrap
 * them in sqlite_read_begin()/sqlite_read_end() so they see one snapshot; on
 * the writer inside a transaction that is a no-op.
 *
 * Errors. Every failing sqlite3 call becomes an sp_error via sqlite_fail():
 * SP_ESTORE with sqlite3_errmsg, except constraint violations, which are
 * the caller's mistake rather than the store's (unique/primary key ->
 * SP_ECONFLICT, foreign key -> SP_EINVALID). Nothing aborts.
 *
 * Times. Columns hold times as INTEGER milliseconds since the epoch (UTC),
 * so ranges and ordering are numeric; JSON documents keep their RFC 3339
 * text as given. Rows rebuilt from columns format times with time_format.
 */
#ifndef SP_STORE_SQLITE_INT_H
#define SP_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "core/jsonx.h"
#include "store/store_impl.h"

#define SQLITE_POOL_MAX 16          /* reader connections at most */
#define SQLITE_BUSY_MS 5000         /* busy_timeout of every connection */
#define SQLITE_LIST_DEFAULT 50      /* limit used when a filter asks for <= 0 */
#define SQLITE_LIST_MAX 1000        /* larger limits are clamped to this */

/* Cursor sentinel: sorts after every id (ids are URL-safe ASCII), so
 * "id < ?" with it matches all rows and one statement serves both the
 * first page and the later ones. */
#define SQLITE_CURSOR_TOP "\x7f"

typedef enum {
    /* transactions (txn.c) */
    SQ_BEGIN, SQ_BEGIN_READ, SQ_COMMIT, SQ_ROLLBACK, SQ_SAVEPOINT, SQ_RELEASE, SQ_ROLLBACK_TO,
    SQ_PUT_BEGIN, SQ_PUT_RELEASE, SQ_PUT_ROLLBACK,
    /* meta (txn.c) */
    SQ_META_GET, SQ_META_PUT,
    /* workflows.c */
    SQ_WF_PUT, SQ_WF_GET, SQ_WF_GET_NEWEST, SQ_WF_FIND_HASH, SQ_WF_LATEST, SQ_WF_LIST,
    /* runs.c: one list statement per combination of filters (3 bits) */
    SQ_RUN_PUT, SQ_RUN_GET, SQ_RUN_LIST, SQ_RUN_LIST_LAST = SQ_RUN_LIST + 7,
    SQ_RUN_ACTIVE, SQ_RUN_COUNTS, SQ_IDEM_GET, SQ_IDEM_PUT,
    /* approvals.c */
    SQ_APR_PUT, SQ_APR_GET, SQ_APR_ASSIGNEES_DELETE, SQ_APR_ASSIGNEE_PUT,
    SQ_APR_LIST_ANY, SQ_APR_LIST_STATUS, SQ_APR_INBOX_ANY, SQ_APR_INBOX_STATUS,
    /* audit_rows.c: one scan statement per combination of filters (2 bits) */
    SQ_AUDIT_APPEND, SQ_AUDIT_HEAD, SQ_AUDIT_SCAN, SQ_AUDIT_SCAN_LAST = SQ_AUDIT_SCAN + 3,
    /* principals.c */
    SQ_USER_PUT, SQ_USER_GET, SQ_USER_TEAMS, SQ_TEAM_PUT, SQ_TEAM_EXISTS, SQ_TEAM_ADD,
    SQ_TEAM_MEMBERS, SQ_KEY_PUT, SQ_KEY_LOOKUP, SQ_ACTIVE_USER, SQ_ACTIVE_TEAM, SQ_ACTIVE_ROLE,
    /* principals_admin.c */
    SQ_KEY_GET, SQ_KEY_LIST, SQ_USER_LIST, SQ_USER_DELETE, SQ_NAME_RETIRE, SQ_NAME_RETIRED,
    SQ_TEAM_REMOVE, SQ_TEAM_LIST,
    /* links.c */
    SQ_LINK_USE, SQ_LINK_USED,
    /* timers.c */
    SQ_TIMER_ADD, SQ_TIMER_DUE, SQ_TIMER_NEXT, SQ_TIMER_DELETE, SQ_TIMER_CANCEL_GATE,
    SQ_TIMER_CANCEL_RUN, SQ_TIMER_COUNT,
    /* sessions.c */
    SQ_SESSION_PUT, SQ_SESSION_LOOKUP, SQ_SESSION_TOUCH, SQ_SESSION_REVOKE,
    SQ_SESSION_REVOKE_USER, SQ_SESSION_PURGE,
    /* secrets.c */
    SQ_SECRET_EXISTS, SQ_SECRET_PUT, SQ_SECRET_DELETE, SQ_SECRET_SCAN, SQ_SECRET_SCAN_SEALED,
    SQ_COUNT
} sqlite_sq;

typedef struct sqlite_conn {
    store_conn base;                /* first: a store_conn * is a sqlite_conn * */
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ_COUNT];   /* prepared on first use, finalized on close */
    int depth;                      /* open savepoints (writer) */
    bool writer;
    struct sqlite_conn *next_free;  /* pool free list (readers) */
} sqlite_conn;

typedef struct sqlite_store {
    store base;                     /* first: a store * is a sqlite_store * */
    char *path;                     /* owned */
    bool memory;                    /* ":memory:": one shared connection */
    sqlite_conn *writer;
    pthread_mutex_t mu;             /* guards the pool below */
    pthread_cond_t cv;              /* signalled when a reader comes back */
    sqlite_conn *readers[SQLITE_POOL_MAX];
    int opened;                     /* readers opened or being opened */
    int waiting;                    /* store_reader() callers blocked for one to come
                                     * back: lets a test know a caller is waiting */
    sqlite_conn *free_list;
} sqlite_store;

static inline sqlite_conn *sqlite_cast(store_conn *c)
{
    return (sqlite_conn *)c;
}

extern const store_ops sqlite_ops;

/* ---- pool.c ---- */
store_conn *sqlite_writer(store *s);
store_conn *sqlite_reader(store *s);
void sqlite_release(store_conn *c);
void sqlite_close(store *s);

/* ---- schema.c: creates or migrates the schema (writer, at open). ---- */
sp_code sqlite_schema_migrate(sqlite_conn *c, sp_error *err);
/* How many migrations this binary knows: the user_version after migrating. */
int sqlite_schema_version(void);

/* ---- stmt.c ---- */
/* *st = the statement for id, prepared from sql on first use. */
sp_code sqlite_stmt(sqlite_conn *c, sqlite_sq id, const char *sql, sqlite3_stmt **st,
                    sp_error *err);
/* Reset and clear bindings: every statement user ends with this. */
void sqlite_done(sqlite3_stmt *st);
/* Turns the connection's last error into err (see the notes above), resets
 * st (may be NULL), and returns the code. what: the operation, for humans. */
sp_code sqlite_fail(sqlite_conn *c, sqlite3_stmt *st, sp_error *err, const char *what);
/* Steps st to the end, collecting its first column as strings into a new
 * array (*out); then sqlite_done. */
sp_code sqlite_strings(sqlite_conn *c, sqlite3_stmt *st, const char *what, json_t **out,
                       sp_error *err);
/* Steps a statement that returns no rows, then sqlite_done. */
sp_code sqlite_run(sqlite_conn *c, sqlite3_stmt *st, sp_error *err, const char *what);
/* Runs a statement with no parameters and no rows (BEGIN, COMMIT ...). */
sp_code sqlite_exec_id(sqlite_conn *c, sqlite_sq id, const char *sql, sp_error *err,
                       const char *what);
void sqlite_finalize_all(sqlite_conn *c);

/* Binding: text borrowed until sqlite_done (SQLITE_STATIC); NULL binds NULL. */
int sqlite_bind_str(sqlite3_stmt *st, int i, const char *s);
/* Binds the time member key of doc as ms, or NULL when absent/null.
 * A present member that is not an RFC 3339 string is SP_EINVALID. */
sp_code sqlite_bind_time(sqlite3_stmt *st, int i, const json_t *doc, const char *what,
                         const char *key, sp_error *err);
/* Column helpers. */
char *sqlite_col_strdup(sqlite3_stmt *st, int col);                  /* malloc'd or NULL */
/* Parses a JSON document column; NULL with err set when it is corrupt. */
json_t *sqlite_col_json(sqlite3_stmt *st, int col, const char *what, sp_error *err);
/* Sets obj[key] to the column's text, or skips it when the column is NULL. */
void sqlite_set_str(json_t *obj, const char *key, sqlite3_stmt *st, int col);
/* Sets obj[key] to the column's ms as RFC 3339, or skips it when NULL. */
void sqlite_set_time(json_t *obj, const char *key, sqlite3_stmt *st, int col);
/* Clamps a filter's limit into 1..SQLITE_LIST_MAX (<= 0 means the default). */
int sqlite_limit(int limit);

/* A multi-statement write is all or nothing even outside a transaction:
 * it runs inside its own savepoint ("put"), released on success and rolled
 * back on failure. sqlite_put_end(c, rc) returns rc (or the release error). */
sp_code sqlite_put_begin(sqlite_conn *c, sp_error *err);
sp_code sqlite_put_end(sqlite_conn *c, sp_code rc, sp_error *err);

/* One snapshot for a multi-statement read; returns whether it began one. */
bool sqlite_read_begin(sqlite_conn *c);
void sqlite_read_end(sqlite_conn *c, bool began);

/* ---- the ops, by concern ---- */
sp_code sqlite_begin(store_conn *c, sp_error *err);
sp_code sqlite_commit(store_conn *c, sp_error *err);
void sqlite_rollback(store_conn *c);
sp_code sqlite_savepoint(store_conn *c, sp_error *err);
sp_code sqlite_savepoint_release(store_conn *c, sp_error *err);
void sqlite_savepoint_rollback(store_conn *c);
bool sqlite_in_transaction(store_conn *c);
sp_code sqlite_meta_get(store_conn *c, const char *key, char **value, sp_error *err);
sp_code sqlite_meta_put(store_conn *c, const char *key, const char *value, sp_error *err);

sp_code sqlite_workflow_put(store_conn *c, const json_t *row, sp_error *err);
sp_code sqlite_workflow_get(store_conn *c, const char *name, int version, json_t **row,
                            sp_error *err);
sp_code sqlite_workflow_find_hash(store_conn *c, const char *name, const char *hash,
                                  int *version, sp_error *err);
sp_code sqlite_workflow_latest(store_conn *c, const char *name, int *version, sp_error *err);
sp_code sqlite_workflow_list(store_conn *c, json_t **items, sp_error *err);

/* principals.c / principals_admin.c: a key row is these columns, in order. */
#define SQLITE_KEY_COLUMNS \
    "id, user, scope, name, hash, created_at, revoked_at, expires_at, last_used_at"
json_t *sqlite_key_from_row(sqlite3_stmt *st);
sp_code sqlite_link_use(store_conn *c, const char *nonce, const char *approval_id, sp_time at,
                        sp_error *err);
sp_code sqlite_link_used(store_conn *c, const char *nonce, bool *used, sp_error *err);
sp_code sqlite_key_get(store_conn *c, const char *id, json_t **key, sp_error *err);
sp_code sqlite_key_list(store_conn *c, const char *user, json_t **keys, sp_error *err);
sp_code sqlite_user_list(store_conn *c, json_t **names, sp_error *err);
sp_code sqlite_team_list(store_conn *c, json_t **names, sp_error *err);
sp_code sqlite_user_delete(store_conn *c, const char *name, sp_time at, sp_error *err);
sp_code sqlite_user_name_retired(store_conn *c, const char *name, bool *retired, sp_error *err);
sp_code sqlite_team_remove_member(store_conn *c, const char *team, const char *user,
                                  sp_error *err);
sp_code sqlite_timer_add(store_conn *c, sp_time due_at, const char *kind, const char *run_id,
                         const char *approval_id, const json_t *data, sp_error *err);
sp_code sqlite_timer_due(store_conn *c, sp_time now, int limit, json_t **timers, sp_error *err);
sp_code sqlite_timer_next(store_conn *c, sp_time *due_at, sp_error *err);
sp_code sqlite_timer_delete(store_conn *c, int64_t id, sp_error *err);
sp_code sqlite_timer_cancel(store_conn *c, const char *run_id, const char *approval_id,
                            sp_error *err);
sp_code sqlite_timer_count(store_conn *c, int64_t *count, sp_error *err);
sp_code sqlite_session_put(store_conn *c, const json_t *session, sp_error *err);
sp_code sqlite_session_lookup(store_conn *c, const char *hash, json_t **session,
                              sp_error *err);
sp_code sqlite_session_touch(store_conn *c, const char *id, sp_time at, sp_error *err);
sp_code sqlite_session_revoke(store_conn *c, const char *id, sp_time at, sp_error *err);
sp_code sqlite_session_revoke_user(store_conn *c, const char *user, sp_time at, int64_t *revoked,
                                   sp_error *err);
sp_code sqlite_session_purge(store_conn *c, sp_time now, sp_time idle_before, int limit,
                             int64_t *purged, sp_error *err);
sp_code sqlite_run_put(store_conn *c, const json_t *run, sp_error *err);
sp_code sqlite_run_get(store_conn *c, const char *id, json_t **run, sp_error *err);
sp_code sqlite_run_list(store_conn *c, const store_run_filter *f, json_t **items,
                        char **next_cursor, sp_error *err);
sp_code sqlite_run_active(store_conn *c, json_t **ids, sp_error *err);
sp_code sqlite_idem_get(store_conn *c, const char *principal, const char *key, char **run_id,
                        sp_error *err);
sp_code sqlite_idem_put(store_conn *c, const char *principal, const char *key,
                        const char *run_id, sp_time at, sp_error *err);
sp_code sqlite_run_counts(store_conn *c, json_t **counts, sp_error *err);

sp_code sqlite_approval_put(store_conn *c, const json_t *gate, sp_error *err);
sp_code sqlite_approval_get(store_conn *c, const char *id, json_t **gate, sp_error *err);
sp_code sqlite_approval_list(store_conn *c, const store_approval_filter *f, json_t **items,
                             char **next_cursor, sp_error *err);

sp_code sqlite_secret_put(store_conn *c, const store_secret *s, bool *created, sp_error *err);
sp_code sqlite_secret_delete(store_conn *c, const char *name, sp_error *err);
sp_code sqlite_secret_scan(store_conn *c, bool with_sealed, store_secret_fn fn, void *ctx,
                           sp_error *err);

sp_code sqlite_audit_append(store_conn *c, const store_audit_row *row, sp_error *err);
sp_code sqlite_audit_head(store_conn *c, int64_t *seq, char hash[65], sp_error *err);
sp_code sqlite_audit_scan(store_conn *c, const store_audit_filter *f, store_audit_fn fn,
                          void *ctx, sp_error *err);

sp_code sqlite_user_put(store_conn *c, const json_t *user, sp_error *err);
sp_code sqlite_user_get(store_conn *c, const char *name, json_t **user, sp_error *err);
sp_code sqlite_team_put(store_conn *c, const char *name, sp_time at, sp_error *err);
sp_code sqlite_team_exists(store_conn *c, const char *name, bool *exists, sp_error *err);
sp_code sqlite_team_add_member(store_conn *c, const char *team, const char *user,
                               sp_error *err);
sp_code sqlite_team_members(store_conn *c, const char *team, json_t **users, sp_error *err);
sp_code sqlite_active_users(store_conn *c, const char *user, const char *team, const char *role,
                            json_t **names, sp_error *err);
sp_code sqlite_key_put(store_conn *c, const json_t *key, sp_error *err);
sp_code sqlite_key_lookup(store_conn *c, const char *hash, json_t **key, sp_error *err);

#endif
