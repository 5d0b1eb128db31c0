/*
 * store_impl.h - what a store backend implements (internal to src/store and
 * to the store's own tests).
 *
 * store.c keeps no state of its own: every public store_* function looks at
 * the connection's (or store's) ops table and calls the backend. A backend
 * embeds `struct store` / `struct store_conn` as the FIRST member of its own
 * structs, so a base pointer and a backend pointer are the same address.
 *
 * Backends: sqlite/ (the default), store_fault.c (a wrapper around any other
 * backend that fails the Nth call, for tests), and later pg/.
 *
 * Contract for every op that returns sp_code: on failure it fills err (when
 * not NULL) with a message fit to show a user and leaves its outputs
 * untouched (NULL / 0), so callers never free half-made results.
 */
#ifndef SP_STORE_IMPL_H
#define SP_STORE_IMPL_H

#include "store/store.h"

typedef struct store_ops store_ops;

struct store {
    const store_ops *ops;
};

struct store_conn {
    const store_ops *ops;
    store *owner;
};

struct store_ops {
    const char *name;                                   /* "sqlite", "fault" */

    void (*close)(store *s);
    store_conn *(*writer)(store *s);
    store_conn *(*reader)(store *s);
    void (*release)(store_conn *c);

    sp_code (*begin)(store_conn *c, sp_error *err);
    sp_code (*commit)(store_conn *c, sp_error *err);
    void (*rollback)(store_conn *c);
    sp_code (*savepoint)(store_conn *c, sp_error *err);
    sp_code (*savepoint_release)(store_conn *c, sp_error *err);
    void (*savepoint_rollback)(store_conn *c);
    bool (*in_transaction)(store_conn *c);

    sp_code (*meta_get)(store_conn *c, const char *key, char **value, sp_error *err);
    sp_code (*meta_put)(store_conn *c, const char *key, const char *value, sp_error *err);

    sp_code (*workflow_put)(store_conn *c, const json_t *row, sp_error *err);
    sp_code (*workflow_get)(store_conn *c, const char *name, int version, json_t **row,
                            sp_error *err);
    sp_code (*workflow_find_hash)(store_conn *c, const char *name, const char *hash,
                                  int *version, sp_error *err);
    sp_code (*workflow_latest)(store_conn *c, const char *name, int *version, sp_error *err);
    sp_code (*workflow_list)(store_conn *c, json_t **items, sp_error *err);

    sp_code (*run_put)(store_conn *c, const json_t *run, sp_error *err);
    sp_code (*run_get)(store_conn *c, const char *id, json_t **run, sp_error *err);
    sp_code (*run_list)(store_conn *c, const store_run_filter *f, json_t **items,
                        char **next_cursor, sp_error *err);
    sp_code (*run_active)(store_conn *c, json_t **ids, sp_error *err);
    sp_code (*idem_get)(store_conn *c, const char *principal, const char *key, char **run_id,
                        sp_error *err);
    sp_code (*idem_put)(store_conn *c, const char *principal, const char *key,
                        const char *run_id, sp_time at, sp_error *err);
    sp_code (*run_counts)(store_conn *c, json_t **counts, sp_error *err);

    sp_code (*approval_put)(store_conn *c, const json_t *gate, sp_error *err);
    sp_code (*approval_get)(store_conn *c, const char *id, json_t **gate, sp_error *err);
    sp_code (*approval_list)(store_conn *c, const store_approval_filter *f, json_t **items,
                             char **next_cursor, sp_error *err);

    sp_code (*timer_add)(store_conn *c, sp_time due_at, const char *kind, const char *run_id,
                         const char *approval_id, const json_t *data, sp_error *err);
    sp_code (*timer_due)(store_conn *c, sp_time now, int limit, json_t **timers, sp_error *err);
    sp_code (*timer_next)(store_conn *c, sp_time *due_at, sp_error *err);
    sp_code (*timer_delete)(store_conn *c, int64_t id, sp_error *err);
    sp_code (*timer_cancel)(store_conn *c, const char *run_id, const char *approval_id,
                            sp_error *err);
    sp_code (*timer_count)(store_conn *c, int64_t *count, sp_error *err);
    sp_code (*session_put)(store_conn *c, const json_t *session, sp_error *err);
    sp_code (*session_lookup)(store_conn *c, const char *hash, json_t **session,
                              sp_error *err);
    sp_code (*session_touch)(store_conn *c, const char *id, sp_time at, sp_error *err);
    sp_code (*session_revoke)(store_conn *c, const char *id, sp_time at, sp_error *err);
    sp_code (*session_revoke_user)(store_conn *c, const char *user, sp_time at,
                                   int64_t *revoked, sp_error *err);
    sp_code (*session_purge)(store_conn *c, sp_time now, sp_time idle_before, int limit,
                             int64_t *purged, sp_error *err);

    sp_code (*secret_put)(store_conn *c, const store_secret *s, bool *created, sp_error *err);
    sp_code (*secret_delete)(store_conn *c, const char *name, sp_error *err);
    sp_code (*secret_scan)(store_conn *c, bool with_sealed, store_secret_fn fn, void *ctx,
                           sp_error *err);

    sp_code (*audit_append)(store_conn *c, const store_audit_row *row, sp_error *err);
    sp_code (*audit_head)(store_conn *c, int64_t *seq, char hash[65], sp_error *err);
    sp_code (*audit_scan)(store_conn *c, const store_audit_filter *f, store_audit_fn fn,
                          void *ctx, sp_error *err);

    sp_code (*user_put)(store_conn *c, const json_t *user, sp_error *err);
    sp_code (*user_get)(store_conn *c, const char *name, json_t **user, sp_error *err);
    sp_code (*team_put)(store_conn *c, const char *name, sp_time at, sp_error *err);
    sp_code (*team_exists)(store_conn *c, const char *name, bool *exists, sp_error *err);
    sp_code (*team_add_member)(store_conn *c, const char *team, const char *user,
                               sp_error *err);
    sp_code (*team_members)(store_conn *c, const char *team, json_t **users, sp_error *err);
    sp_code (*active_users)(store_conn *c, const char *user, const char *team, const char *role,
                            json_t **names, sp_error *err);
    sp_code (*key_put)(store_conn *c, const json_t *key, sp_error *err);
    sp_code (*key_lookup)(store_conn *c, const char *hash, json_t **key, sp_error *err);
    sp_code (*key_get)(store_conn *c, const char *id, json_t **key, sp_error *err);
    sp_code (*key_list)(store_conn *c, const char *user, json_t **keys, sp_error *err);
    sp_code (*user_list)(store_conn *c, json_t **names, sp_error *err);
    sp_code (*team_list)(store_conn *c, json_t **names, sp_error *err);
    sp_code (*user_delete)(store_conn *c, const char *name, sp_time at, sp_error *err);
    sp_code (*user_name_retired)(store_conn *c, const char *name, bool *retired, sp_error *err);
    sp_code (*team_remove_member)(store_conn *c, const char *team, const char *user,
                                  sp_error *err);
    sp_code (*link_use)(store_conn *c, const char *nonce, const char *approval_id, sp_time at,
                        sp_error *err);
    sp_code (*link_used)(store_conn *c, const char *nonce, bool *used, sp_error *err);
};

/* ---- backends ---- */

/* path: a file name, or ":memory:" (one connection: readers get the writer). */
store *sqlite_store_open(const char *path, sp_error *err);

/*
 * Fault injection (store_fault.c). The wrapper owns inner and closes it.
 * Every call that returns sp_code counts, across all connections; the call
 * numbered fail_at (1-based) fails with SP_ESTORE without reaching inner.
 * fail_at 0 never fails. URL form: "fault:N:<inner url>".
 */
store *store_fault_wrap(store *inner, long fail_at);
/* Re-arms a fault store (counting restarts at 0); no-op on other stores. */
void store_fault_arm(store *s, long fail_at);
/* Calls counted so far (0 on other stores). */
long store_fault_calls(store *s);

#endif
