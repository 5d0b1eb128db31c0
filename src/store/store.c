/*
 * store.c - the public store API: picks a backend by URL, then forwards
 * every call through the connection's ops table (store_impl.h).
 *
 * Nothing here touches a database. A NULL connection (a reader that could
 * not be opened) is answered with SP_EUNAVAIL rather than a crash, so the
 * API can report it like any other failure.
 */
#include "store/store_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "fault:N:<inner url>" - a store that fails its Nth call (tests only). */
static store *open_fault(const char *spec, sp_error *err)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(spec, &end, 10);
    if (errno || end == spec || *end != ':' || n < 0) {
        sp_error_set(err, SP_EBADINPUT, "store URL: expected fault:N:URL with N >= 0");
        return NULL;
    }
    store *inner = store_open(end + 1, err);
    if (!inner)
        return NULL;
    store *s = store_fault_wrap(inner, n);
    if (!s)
        sp_error_set(err, SP_ENOMEM, "out of memory");
    return s;
}

store *store_open(const char *url, sp_error *err)
{
    if (!url || !*url) {
        sp_error_set(err, SP_EBADINPUT, "store URL: empty (expected sqlite:PATH)");
        return NULL;
    }
    if (starts_with(url, "sqlite:"))
        return sqlite_store_open(url + strlen("sqlite:"), err);
    if (starts_with(url, "postgres://") || starts_with(url, "postgresql://")) {
        sp_error_set(err, SP_EUNAVAIL, "PostgreSQL support is not built yet");
        return NULL;
    }
    if (starts_with(url, "fault:"))
        return open_fault(url + strlen("fault:"), err);
    sp_error_set(err, SP_EBADINPUT,
                 "store URL '%s': unknown scheme (expected sqlite:PATH or postgres://...)", url);
    return NULL;
}

void store_close(store *s)
{
    if (s)
        s->ops->close(s);
}

store_conn *store_writer(store *s)
{
    return s ? s->ops->writer(s) : NULL;
}

store_conn *store_reader(store *s)
{
    return s ? s->ops->reader(s) : NULL;
}

void store_release(store_conn *c)
{
    if (c)
        c->ops->release(c);
}

static sp_code no_conn(sp_error *err)
{
    return sp_error_set(err, SP_EUNAVAIL, "the store has no connection available");
}

/* Forwards to the backend, or fails cleanly on a NULL connection. */
#define STORE_CALL(op, ...) \
    return c ? c->ops->op(c, __VA_ARGS__) : no_conn(err)

sp_code store_begin(store_conn *c, sp_error *err) { STORE_CALL(begin, err); }
sp_code store_commit(store_conn *c, sp_error *err) { STORE_CALL(commit, err); }
sp_code store_savepoint(store_conn *c, sp_error *err) { STORE_CALL(savepoint, err); }
sp_code store_savepoint_release(store_conn *c, sp_error *err)
{
    STORE_CALL(savepoint_release, err);
}

void store_rollback(store_conn *c)
{
    if (c)
        c->ops->rollback(c);
}

void store_savepoint_rollback(store_conn *c)
{
    if (c)
        c->ops->savepoint_rollback(c);
}

bool store_in_transaction(store_conn *c)
{
    return c && c->ops->in_transaction(c);
}

sp_code store_meta_get(store_conn *c, const char *key, char **value, sp_error *err)
{
    STORE_CALL(meta_get, key, value, err);
}

sp_code store_meta_put(store_conn *c, const char *key, const char *value, sp_error *err)
{
    STORE_CALL(meta_put, key, value, err);
}

sp_code store_workflow_put(store_conn *c, const json_t *row, sp_error *err)
{
    STORE_CALL(workflow_put, row, err);
}

sp_code store_workflow_get(store_conn *c, const char *name, int version, json_t **row,
                           sp_error *err)
{
    STORE_CALL(workflow_get, name, version, row, err);
}

sp_code store_workflow_find_hash(store_conn *c, const char *name, const char *hash,
                                 int *version, sp_error *err)
{
    STORE_CALL(workflow_find_hash, name, hash, version, err);
}

sp_code store_workflow_latest(store_conn *c, const char *name, int *version, sp_error *err)
{
    STORE_CALL(workflow_latest, name, version, err);
}

sp_code store_workflow_list(store_conn *c, json_t **items, sp_error *err)
{
    STORE_CALL(workflow_list, items, err);
}

sp_code store_run_put(store_conn *c, const json_t *run, sp_error *err)
{
    STORE_CALL(run_put, run, err);
}

sp_code store_run_get(store_conn *c, const char *id, json_t **run, sp_error *err)
{
    STORE_CALL(run_get, id, run, err);
}

sp_code store_run_list(store_conn *c, const store_run_filter *f, json_t **items,
                       char **next_cursor, sp_error *err)
{
    STORE_CALL(run_list, f, items, next_cursor, err);
}

sp_code store_timer_add(store_conn *c, sp_time due_at, const char *kind, const char *run_id,
                        const char *approval_id, const json_t *data, sp_error *err)
{
    STORE_CALL(timer_add, due_at, kind, run_id, approval_id, data, err);
}

sp_code store_timer_due(store_conn *c, sp_time now, int limit, json_t **timers, sp_error *err)
{
    STORE_CALL(timer_due, now, limit, timers, err);
}

sp_code store_timer_next(store_conn *c, sp_time *due_at, sp_error *err)
{
    STORE_CALL(timer_next, due_at, err);
}

sp_code store_timer_delete(store_conn *c, int64_t id, sp_error *err)
{
    STORE_CALL(timer_delete, id, err);
}

sp_code store_timer_cancel(store_conn *c, const char *run_id, const char *approval_id,
                           sp_error *err)
{
    STORE_CALL(timer_cancel, run_id, approval_id, err);
}

sp_code store_timer_count(store_conn *c, int64_t *count, sp_error *err)
{
    STORE_CALL(timer_count, count, err);
}

sp_code store_session_put(store_conn *c, const json_t *session, sp_error *err)
{
    STORE_CALL(session_put, session, err);
}

sp_code store_session_lookup(store_conn *c, const char *hash, json_t **session,
                             sp_error *err)
{
    STORE_CALL(session_lookup, hash, session, err);
}

sp_code store_session_touch(store_conn *c, const char *id, sp_time at, sp_error *err)
{
    STORE_CALL(session_touch, id, at, err);
}

sp_code store_session_revoke(store_conn *c, const char *id, sp_time at, sp_error *err)
{
    STORE_CALL(session_revoke, id, at, err);
}

sp_code store_session_revoke_user(store_conn *c, const char *user, sp_time at,
                                  int64_t *revoked, sp_error *err)
{
    STORE_CALL(session_revoke_user, user, at, revoked, err);
}

sp_code store_session_purge(store_conn *c, sp_time now, sp_time idle_before, int limit,
                            int64_t *purged, sp_error *err)
{
    STORE_CALL(session_purge, now, idle_before, limit, purged, err);
}

sp_code store_run_active(store_conn *c, json_t **ids, sp_error *err)
{
    STORE_CALL(run_active, ids, err);
}

sp_code store_idem_get(store_conn *c, const char *principal, const char *key, char **run_id,
                       sp_error *err)
{
    STORE_CALL(idem_get, principal, key, run_id, err);
}

sp_code store_idem_put(store_conn *c, const char *principal, const char *key,
                       const char *run_id, sp_time at, sp_error *err)
{
    STORE_CALL(idem_put, principal, key, run_id, at, err);
}

sp_code store_run_counts(store_conn *c, json_t **counts, sp_error *err)
{
    STORE_CALL(run_counts, counts, err);
}

sp_code store_approval_put(store_conn *c, const json_t *gate, sp_error *err)
{
    STORE_CALL(approval_put, gate, err);
}

sp_code store_approval_get(store_conn *c, const char *id, json_t **gate, sp_error *err)
{
    STORE_CALL(approval_get, id, gate, err);
}

sp_code store_approval_list(store_conn *c, const store_approval_filter *f, json_t **items,
                            char **next_cursor, sp_error *err)
{
    STORE_CALL(approval_list, f, items, next_cursor, err);
}

sp_code store_secret_put(store_conn *c, const store_secret *sec, bool *created, sp_error *err)
{
    STORE_CALL(secret_put, sec, created, err);
}

sp_code store_secret_delete(store_conn *c, const char *name, sp_error *err)
{
    STORE_CALL(secret_delete, name, err);
}

sp_code store_secret_scan(store_conn *c, bool with_sealed, store_secret_fn fn, void *ctx,
                          sp_error *err)
{
    STORE_CALL(secret_scan, with_sealed, fn, ctx, err);
}

sp_code store_audit_append(store_conn *c, const store_audit_row *row, sp_error *err)
{
    STORE_CALL(audit_append, row, err);
}

sp_code store_audit_head(store_conn *c, int64_t *seq, char hash[65], sp_error *err)
{
    STORE_CALL(audit_head, seq, hash, err);
}

sp_code store_audit_scan(store_conn *c, const store_audit_filter *f, store_audit_fn fn,
                         void *ctx, sp_error *err)
{
    STORE_CALL(audit_scan, f, fn, ctx, err);
}

sp_code store_user_put(store_conn *c, const json_t *user, sp_error *err)
{
    STORE_CALL(user_put, user, err);
}

sp_code store_user_get(store_conn *c, const char *name, json_t **user, sp_error *err)
{
    STORE_CALL(user_get, name, user, err);
}

sp_code store_team_put(store_conn *c, const char *name, sp_time at, sp_error *err)
{
    STORE_CALL(team_put, name, at, err);
}

sp_code store_team_exists(store_conn *c, const char *name, bool *exists, sp_error *err)
{
    STORE_CALL(team_exists, name, exists, err);
}

sp_code store_team_add_member(store_conn *c, const char *team, const char *user,
                              sp_error *err)
{
    STORE_CALL(team_add_member, team, user, err);
}

sp_code store_team_members(store_conn *c, const char *team, json_t **users, sp_error *err)
{
    STORE_CALL(team_members, team, users, err);
}

sp_code store_active_users(store_conn *c, const char *user, const char *team, const char *role,
                           json_t **names, sp_error *err)
{
    STORE_CALL(active_users, user, team, role, names, err);
}

sp_code store_key_put(store_conn *c, const json_t *key, sp_error *err)
{
    STORE_CALL(key_put, key, err);
}

sp_code store_key_lookup(store_conn *c, const char *hash, json_t **key, sp_error *err)
{
    STORE_CALL(key_lookup, hash, key, err);
}

sp_code store_key_get(store_conn *c, const char *id, json_t **key, sp_error *err)
{
    STORE_CALL(key_get, id, key, err);
}

sp_code store_key_list(store_conn *c, const char *user, json_t **keys, sp_error *err)
{
    STORE_CALL(key_list, user, keys, err);
}

sp_code store_user_list(store_conn *c, json_t **names, sp_error *err)
{
    STORE_CALL(user_list, names, err);
}

sp_code store_team_list(store_conn *c, json_t **names, sp_error *err)
{
    STORE_CALL(team_list, names, err);
}

sp_code store_user_delete(store_conn *c, const char *name, sp_time at, sp_error *err)
{
    STORE_CALL(user_delete, name, at, err);
}

sp_code store_user_name_retired(store_conn *c, const char *name, bool *retired, sp_error *err)
{
    STORE_CALL(user_name_retired, name, retired, err);
}

sp_code store_team_remove_member(store_conn *c, const char *team, const char *user,
                                 sp_error *err)
{
    STORE_CALL(team_remove_member, team, user, err);
}

sp_code store_link_use(store_conn *c, const char *nonce, const char *approval_id, sp_time at,
                       sp_error *err)
{
    STORE_CALL(link_use, nonce, approval_id, at, err);
}

sp_code store_link_used(store_conn *c, const char *nonce, bool *used, sp_error *err)
{
    STORE_CALL(link_used, nonce, used, err);
}
