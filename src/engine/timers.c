/*
 * timers.c - durable timers: scheduling, firing, and the next due instant.
 *
 * DESIGN
 * A timer is a row in the store (store.h, "timers"). The engine keeps in
 * memory only `next_due`, the earliest due time, so a million waiting
 * timers cost one integer. When it is due, timers_fire takes up to
 * TIMER_BATCH due rows and fires them in one transaction:
 *
 *     BEGIN
 *       for each timer: SAVEPOINT; delete the row; carry out its effect;
 *                       RELEASE | ROLLBACK TO (then the row alone is deleted)
 *     COMMIT
 *
 * INVARIANTS
 * - A timer fires exactly once: its row is deleted in the transaction that
 *   carries out its effect. A crash before COMMIT leaves it due, and it
 *   fires right after the next start; a crash after leaves nothing to fire.
 * - Every effect is written to the audit trail by the handler of its kind.
 * - A timer whose effect fails (a bug, a broken document) is deleted with
 *   a "timer.failed" audit row rather than retried forever.
 * - A timer that no longer applies (its gate was decided, its run moved
 *   on) is a no-op: handlers check the state they act on.
 * - If a batch cannot commit (the store fails), firing pauses for a second
 *   so a sick disk does not turn into a busy loop; decisions are still served.
 */
#include "engine/engine_internal.h"

#include <string.h>

#include "core/log.h"

typedef sp_code (*timer_fire_fn)(engine *e, const json_t *timer, sp_error *err);

static const struct {
    const char *kind;
    timer_fire_fn fire;
} timer_kinds[] = {
    { "gate.timeout", gate_timer_timeout },
    { "gate.escalate", gate_timer_escalate },
    { "gate.remind", gate_timer_remind },
    { "gate.callback", gate_timer_callback },
    { "run.wait", run_timer_wake },
    { "run.retry", run_timer_wake },
};

#define TIMER_PAUSE_AFTER_FAILURE_MS 1000
/* A timer whose effect fails for a store error is tried again with the
 * whole batch (a second apart) this many times before it counts as broken;
 * for memory or an unavailable store, without end. */
#define TIMER_STORE_TRIES 60

sp_code timer_schedule(engine *e, sp_time due_at, const char *kind, const char *run_id,
                       const char *approval_id, json_t *data, sp_error *err)
{
    sp_code rc = store_timer_add(e->w, due_at, kind, run_id, approval_id, data, err);
    json_decref(data);
    if (rc == SP_OK && due_at < e->batch_next_due)
        e->batch_next_due = due_at;
    return rc;
}

void timers_refresh(engine *e)
{
    sp_error err = SP_ERROR_INIT;
    sp_time next = STORE_TIMER_NONE;
    if (store_timer_next(e->w, &next, &err) != SP_OK) {
        /* Try again soon rather than forget the timers. */
        log_error("engine: cannot read the next timer: %s", err.message);
        next = clock_now() + TIMER_PAUSE_AFTER_FAILURE_MS;
        sp_error_clear(&err);
    }
    e->next_due = next;
}

bool timers_due(const engine *e)
{
    return e->next_due != STORE_TIMER_NONE && e->next_due <= clock_now() &&
           clock_mono_ms() >= e->timer_pause_until;
}

static timer_fire_fn handler_of(const char *kind)
{
    for (size_t i = 0; i < sizeof timer_kinds / sizeof timer_kinds[0]; i++)
        if (kind && strcmp(kind, timer_kinds[i].kind) == 0)
            return timer_kinds[i].fire;
    return NULL;
}

/* Fires one timer inside its savepoint. false only when the store fails. */
static bool fire_one(engine *e, const json_t *t)
{
    sp_error err = SP_ERROR_INIT;
    audit_chain before = e->chain;
    size_t calls_before = http_calls_mark(e);
    int64_t id = json_integer_value(json_object_get(t, "id"));
    const char *kind = json_str(t, "kind");
    timer_fire_fn fire = handler_of(kind);

    if (store_savepoint(e->w, &err) != SP_OK)
        goto store_failed;
    sp_code rc = store_timer_delete(e->w, id, &err);
    if (rc == SP_OK)
        rc = fire ? fire(e, t, &err)
                  : sp_error_set(&err, SP_EINTERNAL, "unknown timer kind '%s'", kind ? kind : "");
    if (rc == SP_OK && store_savepoint_release(e->w, &err) == SP_OK) {
        json_object_update(e->batch_runs, e->changed_runs);
        json_object_update(e->batch_gates, e->changed_gates);
        json_object_clear(e->changed_runs);
        json_object_clear(e->changed_gates);
        return true;
    }
    store_savepoint_rollback(e->w);
    e->chain = before;
    http_calls_truncate(e, calls_before);
    json_object_clear(e->changed_runs);
    json_object_clear(e->changed_gates);
    log_error("engine: timer %lld (%s, run %s) failed: %s", (long long)id, kind ? kind : "?",
              json_str(t, "run_id"), err.message);

    /* A store error may pass (memory, I/O): the batch is rolled back and
     * the timer fires later - dropping it would leave a gate pending past
     * its due time, which no decision can then resolve. Only if it keeps
     * failing is it treated as broken. */
    if (rc == SP_OK)                        /* the savepoint's release failed */
        rc = err.code ? err.code : SP_ESTORE;
    bool store_trouble = rc == SP_ESTORE || rc == SP_ENOMEM || rc == SP_EUNAVAIL;
    if (store_trouble) {
        e->timer_failing_tries = e->timer_failing_id == id ? e->timer_failing_tries + 1 : 1;
        e->timer_failing_id = id;
        if (rc != SP_ESTORE || e->timer_failing_tries < TIMER_STORE_TRIES)
            goto store_failed;
    }
    /* Deleted anyway, with the reason on record: it would fail again. */
    char message[SP_ERROR_MESSAGE_MAX];
    memcpy(message, err.message, sizeof message);
    sp_error_clear(&err);
    if (store_timer_delete(e->w, id, &err) != SP_OK ||
        engine_audit(e, "system", "timer.failed", json_str(t, "run_id"),
                     json_str(t, "approval_id"),
                     json_pack("{s:s?, s:s}", "kind", kind, "error", message), &err) != SP_OK)
        goto store_failed;
    return true;

store_failed:
    log_error("engine: timer %lld: %s", (long long)id, err.message);
    sp_error_clear(&err);
    return false;
}

void timers_fire(engine *e)
{
    sp_error err = SP_ERROR_INIT;
    json_t *due = NULL;
    size_t fired = 0;
    bool ok = store_begin(e->w, &err) == SP_OK &&
              store_timer_due(e->w, clock_now(), TIMER_BATCH, &due, &err) == SP_OK;
    e->batch_next_due = STORE_TIMER_NONE;
    if (ok) {
        size_t i;
        json_t *t;
        json_array_foreach(due, i, t) {
            /* Also when SQLite ended the transaction by itself (engine.c). */
            if (!(ok = fire_one(e, t) && store_in_transaction(e->w)))
                break;
            fired++;
        }
    }
    if (ok)
        ok = audit_head_record(e->w, &e->chain, &err) == SP_OK &&
             store_commit(e->w, &err) == SP_OK;
    if (!ok) {
        store_rollback(e->w);
        log_error("engine: timers not fired: %s", err.message[0] ? err.message : "store failure");
        sp_error reload = SP_ERROR_INIT;
        if (audit_chain_load(e->w, e->audit_key, &e->chain, &reload) != SP_OK)
            log_error("engine: cannot reload the audit head: %s", reload.message);
        sp_error_clear(&reload);
        wfcache_clear(e);
        json_object_clear(e->batch_runs);
        json_object_clear(e->batch_gates);
        http_calls_truncate(e, 0);
        e->timer_pause_until = clock_mono_ms() + TIMER_PAUSE_AFTER_FAILURE_MS;
    } else {
        e->timer_failing_id = 0;            /* every timer of the batch went through */
        e->timer_failing_tries = 0;
        http_calls_flush(e);
        atomic_fetch_add(&e->timers_fired, fired);
        engine_notify_changes(e);
    }
    sp_error_clear(&err);
    json_decref(due);
    timers_refresh(e);
}

/* The test clock moved: remember where it is, so that a restart does not
 * take it back (serve reads "test_clock_now" at start). */
sp_code cmd_await_timers(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    char now[SP_TIME_BUF];
    time_format(clock_now(), now);
    *status = 200;
    return store_meta_put(e->w, "test_clock_now", now, err);
}

void timers_answer_waiters(engine *e, bool stopping)
{
    if (!e->timer_waiters || (!stopping && timers_due(e)))
        return;
    /* Due but paused after a failure still counts as "not done". */
    if (!stopping && e->next_due != STORE_TIMER_NONE && e->next_due <= clock_now())
        return;
    int64_t pending = -1;
    sp_error err = SP_ERROR_INIT;
    if (store_timer_count(e->w, &pending, &err) != SP_OK)
        sp_error_clear(&err);
    char now[SP_TIME_BUF];
    time_format(clock_now(), now);
    while (e->timer_waiters) {
        engine_cmd *cmd = e->timer_waiters;
        e->timer_waiters = cmd->next;
        if (stopping) {
            sp_error_set(&err, SP_EUNAVAIL, "the server is shutting down");
            engine_cmd_reply(cmd, 503, sp_error_to_json(&err));
            sp_error_clear(&err);
        } else {
            engine_cmd_reply(cmd, 200, json_pack("{s:s, s:I}", "now", now, "timers_pending",
                                                 (json_int_t)pending));
        }
    }
}
