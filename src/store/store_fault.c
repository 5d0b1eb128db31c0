/*
 * store_fault.c - a store that fails on purpose, for tests.
 *
 * It wraps another store and forwards every call, counting each call that
 * can fail (those returning sp_code) across all its connections. The call
 * whose number equals fail_at fails with SP_ESTORE without reaching the
 * inner store; every other call behaves normally. A test runs a scenario
 * once to learn how many calls it makes, then again with fail_at = 1, 2,
 * ... N to prove that a failure at any point leaves the store consistent
 * (SQLite's own I/O-error loop, applied one level up).
 *
 * Calls that cannot fail in the interface (rollback, release) are never
 * failed: they are how callers clean up.
 */
#include "store/store_impl.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct {
    store base;
    store *inner;                   /* owned */
    atomic_long calls;
    atomic_long fail_at;
    struct fault_conn *writer;
} fault_store;

typedef struct fault_conn {
    store_conn base;
    store_conn *inner;
} fault_conn;

static const store_ops fault_ops;

static fault_conn *conn_wrap(fault_store *s, store_conn *inner)
{
    fault_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base.ops = &fault_ops;
    c->base.owner = &s->base;
    c->inner = inner;
    return c;
}

static bool fault_hit(store_conn *c, sp_error *err)
{
    fault_store *s = (fault_store *)c->owner;
    long n = atomic_fetch_add(&s->calls, 1) + 1;
    long at = atomic_load(&s->fail_at);
    if (at <= 0 || n != at)
        return false;
    sp_error_set(err, SP_ESTORE, "store: injected fault at call %ld", n);
    return true;
}

store *store_fault_wrap(store *inner, long fail_at)
{
    fault_store *s = calloc(1, sizeof *s);
    if (!s) {
        store_close(inner);
        return NULL;
    }
    s->base.ops = &fault_ops;
    s->inner = inner;
    atomic_init(&s->calls, 0);
    atomic_init(&s->fail_at, fail_at);
    if (!(s->writer = conn_wrap(s, store_writer(inner)))) {
        store_close(inner);
        free(s);
        return NULL;
    }
    return &s->base;
}

void store_fault_arm(store *base, long fail_at)
{
    if (!base || base->ops != &fault_ops)
        return;
    fault_store *s = (fault_store *)base;
    /* Disarmed while the count restarts: another thread (the engine's)
     * may still be calling, and must not meet the old fail_at again on a
     * count that just went back to 0. */
    atomic_store(&s->fail_at, 0);
    atomic_store(&s->calls, 0);
    atomic_store(&s->fail_at, fail_at);
}

long store_fault_calls(store *base)
{
    if (!base || base->ops != &fault_ops)
        return 0;
    return atomic_load(&((fault_store *)base)->calls);
}

static void f_close(store *base)
{
    fault_store *s = (fault_store *)base;
    store_close(s->inner);
    free(s->writer);
    free(s);
}

static store_conn *f_writer(store *base)
{
    return &((fault_store *)base)->writer->base;
}

static store_conn *f_reader(store *base)
{
    fault_store *s = (fault_store *)base;
    store_conn *inner = store_reader(s->inner);
    if (!inner)
        return NULL;
    fault_conn *c = conn_wrap(s, inner);
    if (!c) {
        store_release(inner);
        return NULL;
    }
    return &c->base;
}

static void f_release(store_conn *base)
{
    fault_store *s = (fault_store *)base->owner;
    fault_conn *c = (fault_conn *)base;
    if (c == s->writer)
        return;
    store_release(c->inner);
    free(c);
}

#define IN(c) (((fault_conn *)(c))->inner)

/* A forwarding op that fails when its turn comes. */
#define FAULT_OP(op, params, ...)                              \
    static sp_code f_##op params                               \
    {                                                          \
        if (fault_hit(c, err))                                 \
            return SP_ESTORE;                                  \
        return IN(c)->ops->op(IN(c), __VA_ARGS__);             \
    }

FAULT_OP(begin, (store_conn *c, sp_error *err), err)
FAULT_OP(commit, (store_conn *c, sp_error *err), err)
FAULT_OP(savepoint, (store_conn *c, sp_error *err), err)
FAULT_OP(savepoint_release, (store_conn *c, sp_error *err), err)
FAULT_OP(meta_get, (store_conn *c, const char *key, char **value, sp_error *err), key, value, err)
FAULT_OP(meta_put, (store_conn *c, const char *key, const char *value, sp_error *err), key,
         value, err)
FAULT_OP(workflow_put, (store_conn *c, const json_t *row, sp_error *err), row, err)
FAULT_OP(workflow_get, (store_conn *c, const char *name, int version, json_t **row,
                        sp_error *err), name, version, row, err)
FAULT_OP(workflow_find_hash, (store_conn *c, const char *name, const char *hash, int *version,
                              sp_error *err), name, hash, version, err)
FAULT_OP(workflow_latest, (store_conn *c, const char *name, int *version, sp_error *err), name,
         version, err)
FAULT_OP(workflow_list, (store_conn *c, json_t **items, sp_error *err), items, err)
FAULT_OP(run_put, (store_conn *c, const json_t *run, sp_error *err), run, err)
FAULT_OP(run_get, (store_conn *c, const char *id, json_t **run, sp_error *err), id, run, err)
FAULT_OP(run_list, (store_conn *c, const store_run_filter *f, json_t **items, char **next,
                    sp_error *err), f, items, next, err)
FAULT_OP(run_active, (store_conn *c, json_t **ids, sp_error *err), ids, err)
FAULT_OP(idem_get, (store_conn *c, const char *principal, const char *key, char **run_id,
                    sp_error *err), principal, key, run_id, err)
FAULT_OP(idem_put, (store_conn *c, const char *principal, const char *key, const char *run_id,
                    sp_time at, sp_error *err), principal, key, run_id, at, err)
FAULT_OP(run_counts, (store_conn *c, json_t **counts, sp_error *err), counts, err)
FAULT_OP(approval_put, (store_conn *c, const json_t *gate, sp_error *err), gate, err)
FAULT_OP(approval_get, (store_conn *c, const char *id, json_t **gate, sp_error *err), id, gate,
         err)
FAULT_OP(approval_list, (store_conn *c, const store_approval_filter *f, json_t **items,
                         char **next, sp_error *err), f, items, next, err)
FAULT_OP(timer_add, (store_conn *c, sp_time due_at, const char *kind, const char *run_id,
                     const char *approval_id, const json_t *data, sp_error *err),
         due_at, kind, run_id, approval_id, data, err)
FAULT_OP(timer_due, (store_conn *c, sp_time now, int limit, json_t **timers, sp_error *err),
         now, limit, timers, err)
FAULT_OP(timer_next, (store_conn *c, sp_time *due_at, sp_error *err), due_at, err)
FAULT_OP(timer_delete, (store_conn *c, int64_t id, sp_error *err), id, err)
FAULT_OP(timer_cancel, (store_conn *c, const char *run_id, const char *approval_id,
                        sp_error *err), run_id, approval_id, err)
FAULT_OP(timer_count, (store_conn *c, int64_t *count, sp_error *err), count, err)
FAULT_OP(session_put, (store_conn *c, const json_t *session, sp_error *err), session, err)
FAULT_OP(session_lookup, (store_conn *c, const char *hash, json_t **session, sp_error *err),
         hash, session, err)
FAULT_OP(session_touch, (store_conn *c, const char *id, sp_time at, sp_error *err), id, at, err)
FAULT_OP(session_revoke, (store_conn *c, const char *id, sp_time at, sp_error *err), id, at,
         err)
FAULT_OP(session_revoke_user, (store_conn *c, const char *user, sp_time at, int64_t *revoked,
                               sp_error *err), user, at, revoked, err)
FAULT_OP(session_purge, (store_conn *c, sp_time now, sp_time idle_before, int limit,
                         int64_t *purged, sp_error *err), now, idle_before, limit, purged, err)
FAULT_OP(secret_put, (store_conn *c, const store_secret *sec, bool *created, sp_error *err),
         sec, created, err)
FAULT_OP(secret_delete, (store_conn *c, const char *name, sp_error *err), name, err)
FAULT_OP(secret_scan, (store_conn *c, bool with_sealed, store_secret_fn fn, void *ctx,
                       sp_error *err), with_sealed, fn, ctx, err)
FAULT_OP(audit_append, (store_conn *c, const store_audit_row *row, sp_error *err), row, err)
FAULT_OP(audit_head, (store_conn *c, int64_t *seq, char hash[65], sp_error *err), seq, hash,
         err)
FAULT_OP(audit_scan, (store_conn *c, const store_audit_filter *f, store_audit_fn fn, void *ctx,
                      sp_error *err), f, fn, ctx, err)
FAULT_OP(user_put, (store_conn *c, const json_t *user, sp_error *err), user, err)
FAULT_OP(user_get, (store_conn *c, const char *name, json_t **user, sp_error *err), name, user,
         err)
FAULT_OP(team_put, (store_conn *c, const char *name, sp_time at, sp_error *err), name, at, err)
FAULT_OP(team_exists, (store_conn *c, const char *name, bool *exists, sp_error *err), name,
         exists, err)
FAULT_OP(team_add_member, (store_conn *c, const char *team, const char *user, sp_error *err),
         team, user, err)
FAULT_OP(team_members, (store_conn *c, const char *team, json_t **users, sp_error *err), team,
         users, err)
FAULT_OP(active_users, (store_conn *c, const char *user, const char *team, const char *role,
                       json_t **names, sp_error *err), user, team, role, names, err)
FAULT_OP(key_put, (store_conn *c, const json_t *key, sp_error *err), key, err)
FAULT_OP(key_lookup, (store_conn *c, const char *hash, json_t **key, sp_error *err), hash, key,
         err)

FAULT_OP(key_get, (store_conn *c, const char *id, json_t **key, sp_error *err), id, key, err)
FAULT_OP(key_list, (store_conn *c, const char *user, json_t **keys, sp_error *err), user, keys,
         err)
FAULT_OP(user_list, (store_conn *c, json_t **names, sp_error *err), names, err)
FAULT_OP(team_list, (store_conn *c, json_t **names, sp_error *err), names, err)
FAULT_OP(user_delete, (store_conn *c, const char *name, sp_time at, sp_error *err), name, at,
         err)
FAULT_OP(user_name_retired, (store_conn *c, const char *name, bool *retired, sp_error *err),
         name, retired, err)
FAULT_OP(team_remove_member, (store_conn *c, const char *team, const char *user,
                              sp_error *err), team, user, err)

FAULT_OP(link_use, (store_conn *c, const char *nonce, const char *approval_id, sp_time at,
                    sp_error *err), nonce, approval_id, at, err)
FAULT_OP(link_used, (store_conn *c, const char *nonce, bool *used, sp_error *err), nonce, used,
         err)

static void f_rollback(store_conn *c)
{
    IN(c)->ops->rollback(IN(c));
}

static void f_savepoint_rollback(store_conn *c)
{
    IN(c)->ops->savepoint_rollback(IN(c));
}

static bool f_in_transaction(store_conn *c)
{
    return IN(c)->ops->in_transaction(IN(c));
}

static const store_ops fault_ops = {
    .name = "fault",
    .close = f_close,
    .writer = f_writer,
    .reader = f_reader,
    .release = f_release,
    .begin = f_begin,
    .commit = f_commit,
    .rollback = f_rollback,
    .savepoint = f_savepoint,
    .savepoint_release = f_savepoint_release,
    .savepoint_rollback = f_savepoint_rollback,
    .in_transaction = f_in_transaction,
    .meta_get = f_meta_get,
    .meta_put = f_meta_put,
    .workflow_put = f_workflow_put,
    .workflow_get = f_workflow_get,
    .workflow_find_hash = f_workflow_find_hash,
    .workflow_latest = f_workflow_latest,
    .workflow_list = f_workflow_list,
    .run_put = f_run_put,
    .run_get = f_run_get,
    .run_list = f_run_list,
    .run_active = f_run_active,
    .idem_get = f_idem_get,
    .idem_put = f_idem_put,
    .run_counts = f_run_counts,
    .approval_put = f_approval_put,
    .approval_get = f_approval_get,
    .approval_list = f_approval_list,
    .timer_add = f_timer_add,
    .timer_due = f_timer_due,
    .timer_next = f_timer_next,
    .timer_delete = f_timer_delete,
    .timer_cancel = f_timer_cancel,
    .timer_count = f_timer_count,
    .session_put = f_session_put,
    .session_lookup = f_session_lookup,
    .session_touch = f_session_touch,
    .session_revoke = f_session_revoke,
    .session_revoke_user = f_session_revoke_user,
    .session_purge = f_session_purge,
    .secret_put = f_secret_put,
    .secret_delete = f_secret_delete,
    .secret_scan = f_secret_scan,
    .audit_append = f_audit_append,
    .audit_head = f_audit_head,
    .audit_scan = f_audit_scan,
    .user_put = f_user_put,
    .user_get = f_user_get,
    .team_put = f_team_put,
    .team_exists = f_team_exists,
    .team_add_member = f_team_add_member,
    .team_members = f_team_members,
    .active_users = f_active_users,
    .key_put = f_key_put,
    .key_lookup = f_key_lookup,
    .key_get = f_key_get,
    .key_list = f_key_list,
    .user_list = f_user_list,
    .team_list = f_team_list,
    .user_delete = f_user_delete,
    .user_name_retired = f_user_name_retired,
    .team_remove_member = f_team_remove_member,
    .link_use = f_link_use,
    .link_used = f_link_used,
};
