/*
 * store.h - everything spojit keeps, behind one interface.
 *
 * The engine and the API speak only this header; sqlite/ (and later pg/)
 * implement it through the table of functions in store_impl.h. Nothing
 * outside src/store includes sqlite3.h or libpq-fe.h.
 *
 * INVARIANTS
 * - One writer: store_writer() is used by the engine thread alone. Every
 *   change goes through it, inside store_begin()/store_commit(). A commit
 *   returns only when the transaction is durable (SQLite: WAL with
 *   synchronous=FULL), so "acknowledged" means "on disk".
 * - Many readers: any thread may borrow a read connection with
 *   store_reader() and must give it back with store_release(). Readers see
 *   the last committed state and never block the writer.
 * - Rows are JSON documents plus the few columns queries filter on. A
 *   document put is stored as given; the store derives its columns from it.
 *
 * Ownership: json_t arguments are borrowed; json_t ** outputs receive new
 * references the caller decrefs; char ** outputs are malloc'd.
 */
#ifndef SP_STORE_H
#define SP_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/err.h"

typedef struct store store;
typedef struct store_conn store_conn;

/* "sqlite:PATH" (PATH may be ":memory:" only for tests of one connection). */
store *store_open(const char *url, sp_error *err);
void store_close(store *s);

store_conn *store_writer(store *s);
store_conn *store_reader(store *s);
void store_release(store_conn *c);

/* Transactions on the writer. Savepoints let one command of a batch fail
 * without undoing the others. */
sp_code store_begin(store_conn *c, sp_error *err);
sp_code store_commit(store_conn *c, sp_error *err);
void store_rollback(store_conn *c);
sp_code store_savepoint(store_conn *c, sp_error *err);
sp_code store_savepoint_release(store_conn *c, sp_error *err);
void store_savepoint_rollback(store_conn *c);
/* Whether a transaction is still open: SQLite ends one by itself on some
 * errors (a full disk, an I/O error), and what runs after that must not
 * go on as if it were inside it. */
bool store_in_transaction(store_conn *c);

/* ---- meta: small key/value settings (schema version, signing keys) ---- */
sp_code store_meta_get(store_conn *c, const char *key, char **value, sp_error *err); /* SP_ENOTFOUND */
sp_code store_meta_put(store_conn *c, const char *key, const char *value, sp_error *err);

/* ---- workflows: immutable versions ----
 * row: {name, version, hash, format ("yaml"|"json"), source, created_by, created_at} */
sp_code store_workflow_put(store_conn *c, const json_t *row, sp_error *err);
/* version 0 = the newest. SP_ENOTFOUND when absent. */
sp_code store_workflow_get(store_conn *c, const char *name, int version, json_t **row, sp_error *err);
/* The version whose hash matches, or 0 when none does. */
sp_code store_workflow_find_hash(store_conn *c, const char *name, const char *hash, int *version, sp_error *err);
/* The newest version number of name, or 0. */
sp_code store_workflow_latest(store_conn *c, const char *name, int *version, sp_error *err);
/* The newest version of each workflow, without source: [{name, version, hash, created_at, versions}] */
sp_code store_workflow_list(store_conn *c, json_t **items, sp_error *err);

/* ---- runs ----
 * A run document is the API's run object (SPEC §8) plus private members whose
 * names start with "_". Columns derived: id, workflow, version, status,
 * started_by, created_at, updated_at. */
sp_code store_run_put(store_conn *c, const json_t *run, sp_error *err);     /* insert or replace */
sp_code store_run_get(store_conn *c, const char *id, json_t **run, sp_error *err);
typedef struct {
    const char *status;         /* NULL: any */
    const char *workflow;       /* NULL: any */
    const char *started_by;     /* NULL: anyone */
    const char *cursor;         /* NULL: from the newest; else ids older than it */
    int limit;                  /* 1..1000 */
} store_run_filter;
/* Newest first. items: array of run documents; next_cursor NULL at the end. */
sp_code store_run_list(store_conn *c, const store_run_filter *f, json_t **items,
                       char **next_cursor, sp_error *err);
/* Ids of runs with status "running" (to resume after a restart), oldest first. */
sp_code store_run_active(store_conn *c, json_t **ids, sp_error *err);
/* Idempotency keys of POST /v1/runs, scoped to the principal. */
sp_code store_idem_get(store_conn *c, const char *principal, const char *key,
                       char **run_id, sp_error *err);                          /* SP_ENOTFOUND */
sp_code store_idem_put(store_conn *c, const char *principal, const char *key,
                       const char *run_id, sp_time at, sp_error *err);
/* How many runs have each status: {"waiting": 300, ...} */
sp_code store_run_counts(store_conn *c, json_t **counts, sp_error *err);

/* ---- approvals (gates) ----
 * A gate document is the API's gate object (SPEC §8) plus private "_"
 * members. Columns derived: id, run_id, status, created_at, due_at, and one
 * index row per entry of "assignees" (for the inbox). */
sp_code store_approval_put(store_conn *c, const json_t *gate, sp_error *err); /* insert or replace */
sp_code store_approval_get(store_conn *c, const char *id, json_t **gate, sp_error *err);
typedef struct {
    const json_t *principals;   /* array of "user:x"/"team:y"; NULL: everyone's */
    const char *status;         /* NULL: any */
    const char *cursor;         /* NULL: from the newest; else ids older than it */
    int limit;                  /* 1..1000 */
} store_approval_filter;
sp_code store_approval_list(store_conn *c, const store_approval_filter *f, json_t **items,
                            char **next_cursor, sp_error *err);

/* ---- timers: durable wake-ups the engine fires ----
 * A timer is a row (due time, kind, run, gate, data). The engine deletes it
 * in the same transaction that carries out its effect, so each fires once:
 * a crash before that commit leaves it due, a crash after leaves it gone.
 * kind: "gate.timeout" | "gate.escalate" | "gate.remind" | "run.wait" | "run.retry". */
#define STORE_TIMER_NONE INT64_MAX      /* store_timer_next when there are none */
sp_code store_timer_add(store_conn *c, sp_time due_at, const char *kind, const char *run_id,
                        const char *approval_id /* may be NULL */, const json_t *data,
                        sp_error *err);
/* Up to limit timers due at or before now, earliest first:
 * [{id, due_at (ms), kind, run_id, approval_id (or null), data}] */
sp_code store_timer_due(store_conn *c, sp_time now, int limit, json_t **timers, sp_error *err);
/* The earliest due time, or STORE_TIMER_NONE. */
sp_code store_timer_next(store_conn *c, sp_time *due_at, sp_error *err);
sp_code store_timer_delete(store_conn *c, int64_t id, sp_error *err);
/* Deletes every timer of a gate (approval_id) or, when it is NULL, of a run. */
sp_code store_timer_cancel(store_conn *c, const char *run_id, const char *approval_id,
                           sp_error *err);
sp_code store_timer_count(store_conn *c, int64_t *count, sp_error *err);

/* ---- web sessions (auth/session.c): the spojit_session cookie ----
 * session: {id, hash (hex SHA-256 of the cookie token), user, csrf_hash
 *           (hex SHA-256 of the CSRF token), created_at, last_seen_at,
 *           expires_at (absolute), revoked_at?}. Expiry is the reader's
 * decision; only store_session_purge deletes rows, ones no reader would
 * accept any more. */
sp_code store_session_put(store_conn *c, const json_t *session, sp_error *err); /* SP_ECONFLICT on a repeated id or hash */
sp_code store_session_lookup(store_conn *c, const char *hash, json_t **session,
                             sp_error *err);                                   /* SP_ENOTFOUND */
/* Moves last_seen_at forward to at (never back); no-op for an unknown id. */
sp_code store_session_touch(store_conn *c, const char *id, sp_time at, sp_error *err);
/* Sets revoked_at unless it is set already. SP_ENOTFOUND for an unknown id. */
sp_code store_session_revoke(store_conn *c, const char *id, sp_time at, sp_error *err);
/* Revokes every live session of a user (password changed, disabled,
 * deleted); *revoked (may be NULL) gets how many. */
sp_code store_session_revoke_user(store_conn *c, const char *user, sp_time at,
                                  int64_t *revoked, sp_error *err);
/* Deletes up to limit sessions that are revoked, past expires_at (< now) or
 * idle since before idle_before; *purged (may be NULL) gets how many. */
sp_code store_session_purge(store_conn *c, sp_time now, sp_time idle_before, int limit,
                            int64_t *purged, sp_error *err);

/* ---- secrets: values sealed by secrets/ (the store never sees plaintext) ----
 * A row: name, the sealed bytes (nonce and ciphertext, secrets.h), the id of
 * the master key that sealed it, and when it was first and last written. */
typedef struct {
    const char *name;
    const unsigned char *sealed;
    size_t sealed_len;
    const char *key_id;
    sp_time created_at;         /* kept from the first write by a put */
    sp_time updated_at;
} store_secret;
/* Insert or replace the sealed value; *created says whether it is new. */
sp_code store_secret_put(store_conn *c, const store_secret *s, bool *created, sp_error *err);
sp_code store_secret_delete(store_conn *c, const char *name, sp_error *err); /* SP_ENOTFOUND */
/* Calls fn for each secret in name order until fn returns non-zero. The
 * fields are valid during fn; sealed is NULL unless with_sealed. */
typedef int (*store_secret_fn)(void *ctx, const store_secret *s);
sp_code store_secret_scan(store_conn *c, bool with_sealed, store_secret_fn fn, void *ctx,
                          sp_error *err);

/* ---- audit: append-only rows; the hash chain is computed by audit/ ---- */
/* Each text field comes with its length in bytes, because what is stored
 * is not always a C string: a row edited behind spojit's back may hold a
 * NUL byte, and the chain must cover every stored byte (audit/verify.c).
 * store_audit_append stores exactly len bytes of each field (NULL for an
 * absent id); store_audit_scan fills in the stored lengths (0 for NULL). */
typedef struct {
    int64_t seq;
    sp_time at;
    const char *actor;
    const char *type;
    const char *run_id;         /* may be NULL */
    const char *approval_id;    /* may be NULL */
    const char *data;           /* canonical JSON text */
    const char *prev_hash;      /* 64 hex */
    const char *hash;           /* 64 hex */
    size_t actor_len, type_len, run_id_len, approval_id_len, data_len, prev_hash_len,
        hash_len;
} store_audit_row;
sp_code store_audit_append(store_conn *c, const store_audit_row *row, sp_error *err);
/* The last row's seq and hash; seq 0 and hash "" when the trail is empty. */
sp_code store_audit_head(store_conn *c, int64_t *seq, char hash[65], sp_error *err);
typedef struct {
    const char *run_id;         /* NULL: any */
    const char *approval_id;    /* NULL: any */
    int64_t after_seq;          /* rows with seq > after_seq */
    int64_t limit;              /* 0: no limit */
} store_audit_filter;
/* Calls fn for each row in seq order until fn returns non-zero (that value
 * is returned as SP_OK; scanning just stops). Strings are valid during fn. */
typedef int (*store_audit_fn)(void *ctx, const store_audit_row *row);
sp_code store_audit_scan(store_conn *c, const store_audit_filter *f, store_audit_fn fn,
                         void *ctx, sp_error *err);

/* ---- principals ----
 * user: {name, role ("admin"|"member"|"viewer"), email?, password_hash?,
 *        disabled (bool), created_at}; store_user_get adds "teams": [..]. */
sp_code store_user_put(store_conn *c, const json_t *user, sp_error *err);   /* insert or replace */
sp_code store_user_get(store_conn *c, const char *name, json_t **user, sp_error *err);
sp_code store_team_put(store_conn *c, const char *name, sp_time at, sp_error *err); /* SP_ECONFLICT if exists */
sp_code store_team_exists(store_conn *c, const char *name, bool *exists, sp_error *err);
sp_code store_team_add_member(store_conn *c, const char *team, const char *user, sp_error *err);
/* Names of the users in a team: ["alice", ...] */
sp_code store_team_members(store_conn *c, const char *team, json_t **users, sp_error *err);
/* Names of the active (not disabled) users, sorted, of one kind: the user
 * named user, the members of team, or those of role; exactly one of the
 * three is non-NULL. One query, for the gate-open path (routing.c): an
 * unknown user or team simply gives []. */
sp_code store_active_users(store_conn *c, const char *user, const char *team, const char *role,
                           json_t **names, sp_error *err);
/* key: {id, user, scope, name?, hash (hex SHA-256 of the key), created_at,
 *       revoked_at?, expires_at?} */
sp_code store_key_put(store_conn *c, const json_t *key, sp_error *err);
sp_code store_key_lookup(store_conn *c, const char *hash, json_t **key, sp_error *err); /* SP_ENOTFOUND */
sp_code store_key_get(store_conn *c, const char *id, json_t **key, sp_error *err);       /* SP_ENOTFOUND */
/* Keys of user (NULL: everyone's), newest first, hash included. */
sp_code store_key_list(store_conn *c, const char *user, json_t **keys, sp_error *err);
/* Every user name, sorted: ["alice", ...] */
sp_code store_user_list(store_conn *c, json_t **names, sp_error *err);
/* Every team name, sorted: ["editors", ...] */
sp_code store_team_list(store_conn *c, json_t **names, sp_error *err);
/* Removes the user and its team memberships; the history that names it
 * stays, and so the name stays taken (retired at `at`): runs, gates,
 * links and audit rows name users, and no new user may inherit them.
 * SP_ENOTFOUND when absent. */
sp_code store_user_delete(store_conn *c, const char *name, sp_time at, sp_error *err);
/* Whether name belonged to a deleted user. */
sp_code store_user_name_retired(store_conn *c, const char *name, bool *retired, sp_error *err);
sp_code store_team_remove_member(store_conn *c, const char *team, const char *user,
                                 sp_error *err);

/* ---- signed decision links: each works once ---- */
/* Records the use of link nonce; SP_ECONFLICT when it was used before. */
sp_code store_link_use(store_conn *c, const char *nonce, const char *approval_id, sp_time at,
                       sp_error *err);
sp_code store_link_used(store_conn *c, const char *nonce, bool *used, sp_error *err);

#endif
