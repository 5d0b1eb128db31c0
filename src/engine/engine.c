/*
 * engine.c - the engine thread: queue, batches, group commit, replies.
 *
 * DESIGN
 * Producers (HTTP threads, start-up code) append commands to a queue under
 * `lock` and signal `wake`. The engine thread takes everything queued (up to
 * max_batch) and runs it as one batch:
 *
 *     BEGIN
 *       for each command:  SAVEPOINT; execute; RELEASE | ROLLBACK TO
 *     COMMIT                       <- the only fsync of the batch
 *     reply to every command; tell the observer what changed
 *
 * While a batch commits, new commands queue up, so the busier the server the
 * larger the batches: many decisions share one fsync.
 *
 * Timers (timers.c) share the thread. The engine remembers only the next
 * due instant and sleeps until then or until a command arrives; each turn
 * of the loop runs at most one batch of commands and one batch of due
 * timers, so a burst of 100,000 timers is fired a few dozen at a time
 * with decisions served in between.
 *
 * The answer of an outbound call arrives once; if its command fails with
 * the store (or its batch does), redeliver.c keeps it and queues it again
 * after a back-off rather than answer it to nobody.
 *
 * INVARIANTS
 * - A reply is given only after COMMIT returned; if COMMIT fails, every
 *   command of the batch is answered with an error and the in-memory audit
 *   head is reloaded from the store, so memory never runs ahead of disk.
 * - A failed command is rolled back to its savepoint, audit head included:
 *   the batch goes on without a trace of it.
 * - Only this thread touches the writer connection and libjq.
 */
#include "engine/engine_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define ENGINE_STACK_BYTES ((size_t)1 << 30)     /* 1 GiB of address space */

static const engine_cmd_fn command_table[] = {
    [ENGINE_APPLY_WORKFLOW] = cmd_apply_workflow,
    [ENGINE_START_RUN] = cmd_start_run,
    [ENGINE_DECIDE] = cmd_decide,
    [ENGINE_CANCEL_RUN] = cmd_cancel_run,
    [ENGINE_REASSIGN] = cmd_reassign,
    [ENGINE_CREATE_APPROVAL] = cmd_create_approval,
    [ENGINE_CREATE_USER] = cmd_create_user,
    [ENGINE_CREATE_TEAM] = cmd_create_team,
    [ENGINE_CREATE_KEY] = cmd_create_key,
    [ENGINE_BOOTSTRAP] = cmd_bootstrap,
    [ENGINE_AWAIT_TIMERS] = cmd_await_timers,
    [ENGINE_PUT_SECRET] = cmd_put_secret,
    [ENGINE_DELETE_SECRET] = cmd_delete_secret,
    [ENGINE_REVOKE_KEY] = cmd_revoke_key,
    [ENGINE_UPDATE_USER] = cmd_update_user,
    [ENGINE_DELETE_USER] = cmd_delete_user,
    [ENGINE_KEY_USED] = cmd_key_used,
    [ENGINE_ISSUE_LINK] = cmd_issue_link,
    [ENGINE_ROTATE_LINK_KEYS] = cmd_rotate_link_keys,
    [ENGINE_HTTP_RESULT] = cmd_http_result,
    [ENGINE_CALLBACK_RESULT] = cmd_callback_result,
    [ENGINE_LOGIN] = cmd_login,
    [ENGINE_LOGIN_FAILED] = cmd_login_failed,
    [ENGINE_LOGOUT] = cmd_logout,
    [ENGINE_SESSION_TOUCH] = cmd_session_touch,
};

json_t *engine_now_json(void)
{
    char buf[SP_TIME_BUF];
    return json_string(time_format(clock_now(), buf));
}

sp_code engine_audit(engine *e, const char *actor, const char *type, const char *run_id,
                     const char *approval_id, json_t *data, sp_error *err)
{
    sp_code rc = audit_append(e->w, &e->chain, clock_now(), actor ? actor : "system", type,
                              run_id, approval_id, data, err);
    json_decref(data);
    return rc;
}

void engine_mark_changed(engine *e, const char *kind, const char *id)
{
    if (!id)
        return;
    json_object_set_new(strcmp(kind, "run") == 0 ? e->changed_runs : e->changed_gates, id,
                        json_true());
}

json_t *engine_public(const json_t *doc)
{
    json_t *copy = json_object();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)doc, key, value) {
        if (key[0] == '_')
            continue;
        if (strcmp(key, "steps") == 0 && json_is_array(value)) {
            json_t *steps = json_array();
            size_t i;
            json_t *entry;
            json_array_foreach(value, i, entry)
                json_array_append_new(steps, engine_public(entry));
            json_object_set_new(copy, key, steps);
        } else {
            json_object_set(copy, key, value);
        }
    }
    return copy;
}

static void cmd_free(engine_cmd *cmd)
{
    principal_clear(&cmd->who);
    json_decref(cmd->args);
    json_decref(cmd->body);
    free(cmd);
}

/* Runs one command inside its savepoint; fills cmd->status/body. */
static void execute(engine *e, engine_cmd *cmd)
{
    sp_error err = SP_ERROR_INIT;
    audit_chain before = e->chain;
    size_t calls_before = http_calls_mark(e);
    sp_code rc;

    if (store_savepoint(e->w, &err) != SP_OK) {
        rc = err.code;
    } else if ((unsigned)cmd->type >= sizeof command_table / sizeof command_table[0] ||
               !command_table[cmd->type]) {
        rc = sp_error_set(&err, SP_EINTERNAL, "unknown engine command %d", cmd->type);
        store_savepoint_rollback(e->w);
    } else {
        rc = command_table[cmd->type](e, cmd, &cmd->status, &cmd->body, &err);
        if (rc == SP_OK)
            rc = store_savepoint_release(e->w, &err);
        /* Also when the release itself failed: the savepoint is still open
         * with the command's work in it, and the batch's COMMIT would keep
         * what the caller is told did not happen. */
        if (rc != SP_OK)
            store_savepoint_rollback(e->w);
    }
    if (rc != SP_OK) {
        e->chain = before;
        http_calls_truncate(e, calls_before);
        json_object_clear(e->changed_runs);
        json_object_clear(e->changed_gates);
        json_decref(cmd->body);
        cmd->status = sp_code_http_status(rc);
        cmd->body = sp_error_to_json(&err);
        if (cmd->status >= 500)
            log_error("engine: command %d failed: %s", cmd->type, err.message);
        sp_error_clear(&err);
        return;
    }
    json_object_update(e->batch_runs, e->changed_runs);
    json_object_update(e->batch_gates, e->changed_gates);
    json_object_clear(e->changed_runs);
    json_object_clear(e->changed_gates);
}

void engine_notify_changes(engine *e)
{
    engine_change_fn fn;
    void *ctx;
    pthread_mutex_lock(&e->lock);
    fn = e->observer;
    ctx = e->observer_ctx;
    pthread_mutex_unlock(&e->lock);
    const char *id;
    json_t *v;
    if (fn) {
        json_object_foreach(e->batch_runs, id, v)
            fn(ctx, "run", id);
        json_object_foreach(e->batch_gates, id, v)
            fn(ctx, "approval", id);
    }
    json_object_clear(e->batch_runs);
    json_object_clear(e->batch_gates);
}

/* Runs a batch (a linked list of commands) as one transaction, then replies. */
static void run_batch(engine *e, engine_cmd *batch)
{
    sp_error err = SP_ERROR_INIT;
    bool ok = store_begin(e->w, &err) == SP_OK;

    e->batch_next_due = STORE_TIMER_NONE;
    if (ok) {
        for (engine_cmd *c = batch; c && ok; c = c->next) {
            execute(e, c);
            /* SQLite ended the transaction on its own (a full disk, an I/O
             * error): the batch's work is gone, and a later command's
             * savepoint would start a new transaction of its own. */
            if (!store_in_transaction(e->w))
                ok = sp_error_set(&err, SP_ESTORE, "the store ended the transaction after "
                                  "an error; nothing of this batch was kept") == SP_OK;
        }
        if (ok)
            ok = audit_head_record(e->w, &e->chain, &err) == SP_OK &&
                 store_commit(e->w, &err) == SP_OK;
        if (!ok)
            store_rollback(e->w);
    }
    if (!ok) {
        log_error("engine: batch not committed: %s", err.message);
        for (engine_cmd *c = batch; c; c = c->next) {
            json_decref(c->body);
            c->status = sp_code_http_status(err.code);
            c->body = sp_error_to_json(&err);
        }
        /* Memory must not run ahead of disk. */
        sp_error reload = SP_ERROR_INIT;
        if (audit_chain_load(e->w, e->audit_key, &e->chain, &reload) != SP_OK)
            log_error("engine: cannot reload the audit head: %s", reload.message);
        sp_error_clear(&reload);
        wfcache_clear(e);
        json_object_clear(e->batch_runs);
        json_object_clear(e->batch_gates);
        http_calls_truncate(e, 0);
        /* A COMMIT that reported failure may still have reached the log:
         * ask the store when the next timer is, rather than guess. */
        timers_refresh(e);
    }
    sp_error_clear(&err);
    if (ok && e->batch_next_due < e->next_due)
        e->next_due = e->batch_next_due;
    if (ok)
        http_calls_flush(e);

    while (batch) {
        engine_cmd *next = batch->next;
        if (batch->type == ENGINE_AWAIT_TIMERS && batch->status < 300) {
            /* Answered by timers_answer_waiters once nothing is due. */
            json_decref(batch->body);
            batch->body = NULL;
            batch->next = e->timer_waiters;
            e->timer_waiters = batch;
        } else if (redeliver_hold(e, batch)) {
            /* A call's answer that did not stick: it runs again later. */
        } else {
            json_t *body = batch->body;
            batch->body = NULL;
            engine_cmd_reply(batch, batch->status, body);
        }
        batch = next;
    }
    if (ok)
        engine_notify_changes(e);
}

void engine_cmd_reply(engine_cmd *cmd, int status, json_t *body)
{
    cmd->reply(cmd->ctx, status, body);
    cmd_free(cmd);
}

/* Sleeps until a command is queued, a timer or a held answer is due, or
 * the engine stops. */
static void wait_for_work(engine *e)
{
    while (!e->head && !e->stopping && !timers_due(e) && redeliver_wait_ms(e) != 0) {
        int64_t ms = 0, held = redeliver_wait_ms(e);
        bool timed = e->next_due != STORE_TIMER_NONE;
        if (timed) {
            ms = e->next_due - clock_now();
            int64_t paused = e->timer_pause_until - clock_mono_ms();
            if (paused > ms)
                ms = paused;
        }
        if (held >= 0 && (!timed || held < ms)) {
            ms = held;
            timed = true;
        }
        if (!timed) {
            pthread_cond_wait(&e->wake, &e->lock);
            continue;
        }
        /* At most a second at a time: the wall clock may be stepped, and
         * a failed timer batch pauses firing for a while. */
        if (ms > 1000)
            ms = 1000;
        if (ms < 1)
            ms = 1;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&e->wake, &e->lock, &until);
    }
}

/* Takes up to max_batch commands off the queue. Returns false when
 * stopping with nothing queued. */
static bool take_batch(engine *e, engine_cmd **batch)
{
    pthread_mutex_lock(&e->lock);
    wait_for_work(e);
    if (!e->stopping)
        redeliver_take_due(e);
    engine_cmd *first = e->head, *last = first;
    for (int n = 1; last && last->next && n < e->max_batch; n++)
        last = last->next;
    if (last) {
        e->head = last->next;
        if (!e->head)
            e->tail = NULL;
        last->next = NULL;
    }
    bool more = !(e->stopping && !first);
    pthread_mutex_unlock(&e->lock);
    *batch = first;
    return more;
}

/* Start-up: runs left "running" by a crash continue from their step. */
static void resume_active_runs(engine *e)
{
    sp_error err = SP_ERROR_INIT;
    json_t *ids = NULL;
    if (store_run_active(e->w, &ids, &err) != SP_OK) {
        log_error("engine: cannot list active runs: %s", err.message);
        sp_error_clear(&err);
        return;
    }
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        json_t *run = NULL;
        workflow *wf = NULL;
        if (store_begin(e->w, &err) != SP_OK)
            break;
        if (store_run_get(e->w, json_string_value(id), &run, &err) == SP_OK &&
            wfcache_get(e, json_str(run, "workflow"),
                        (int)json_integer_value(json_object_get(run, "version")), &wf, &err) == SP_OK &&
            engine_audit(e, "system", "run.resumed", json_string_value(id), NULL, NULL, &err) == SP_OK &&
            run_advance(e, wf, run, &err) == SP_OK && run_save(e, run, &err) == SP_OK &&
            audit_head_record(e->w, &e->chain, &err) == SP_OK &&
            store_commit(e->w, &err) == SP_OK) {
            log_info("engine: resumed run %s", json_string_value(id));
            http_calls_flush(e);
            json_object_update(e->batch_runs, e->changed_runs);
            json_object_update(e->batch_gates, e->changed_gates);
        } else {
            store_rollback(e->w);
            http_calls_truncate(e, 0);
            audit_chain_load(e->w, e->audit_key, &e->chain, NULL);
            log_error("engine: cannot resume run %s: %s", json_string_value(id), err.message);
            sp_error_clear(&err);
        }
        json_object_clear(e->changed_runs);
        json_object_clear(e->changed_gates);
        json_decref(run);
    }
    json_decref(ids);
    engine_notify_changes(e);
}

static void *engine_main(void *arg)
{
    engine *e = arg;
    resume_active_runs(e);
    timers_refresh(e);
    engine_cmd *batch;
    while (take_batch(e, &batch)) {
        if (batch)
            run_batch(e, batch);
        if (timers_due(e))
            timers_fire(e);
        timers_answer_waiters(e, false);
    }
    redeliver_drop(e);
    timers_answer_waiters(e, true);
    return NULL;
}

engine *engine_start(store *s, const engine_config *cfg, sp_error *err)
{
    if (!cfg || !cfg->audit_key) {
        /* Every command may write to the trail; none may do so unkeyed. */
        sp_error_set(err, SP_EINVALID, "engine: no audit key to hash the trail with");
        return NULL;
    }
    engine *e = calloc(1, sizeof *e);
    if (!e) {
        sp_error_set(err, SP_ENOMEM, "out of memory starting the engine");
        return NULL;
    }
    e->store = s;
    e->w = store_writer(s);
    e->max_batch = cfg->max_batch > 0 ? cfg->max_batch : 256;
    e->env = cfg->env ? json_deep_copy(cfg->env) : json_object();
    e->secrets_key = cfg->secrets_key;
    e->audit_key = cfg->audit_key;
    e->outbound = cfg->outbound;
    e->callbacks_private = cfg->callbacks_private;
    e->calls = json_array();
    e->changed_runs = json_object();
    e->changed_gates = json_object();
    e->batch_runs = json_object();
    e->batch_gates = json_object();
    e->next_due = e->batch_next_due = STORE_TIMER_NONE;
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);     /* wait_for_work's deadlines */
    pthread_cond_init(&e->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (audit_chain_load(e->w, e->audit_key, &e->chain, err) != SP_OK)
        goto fail;
    /* A large stack: libjq (which runs only here) recurses as deep as the
     * values an expression builds, and within its time limit one can
     * build values nested millions of levels deep. Only the pages touched
     * are ever backed by memory. */
    pthread_attr_t tattr;
    pthread_attr_init(&tattr);
    pthread_attr_setstacksize(&tattr, ENGINE_STACK_BYTES);
    int started = pthread_create(&e->thread, &tattr, engine_main, e);
    pthread_attr_destroy(&tattr);
    if (started != 0) {
        sp_error_set(err, SP_EINTERNAL, "cannot start the engine thread");
        goto fail;
    }
    return e;

fail:
    json_decref(e->env);
    json_decref(e->calls);
    json_decref(e->changed_runs);
    json_decref(e->changed_gates);
    json_decref(e->batch_runs);
    json_decref(e->batch_gates);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->wake);
    free(e);
    return NULL;
}

void engine_stop(engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    bool running = !e->stopping;
    e->stopping = true;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    if (running)
        pthread_join(e->thread, NULL);
}

void engine_free(engine *e)
{
    if (!e)
        return;
    engine_stop(e);
    wfcache_clear(e);
    json_decref(e->env);
    json_decref(e->calls);
    json_decref(e->changed_runs);
    json_decref(e->changed_gates);
    json_decref(e->batch_runs);
    json_decref(e->batch_gates);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->wake);
    free(e);
}

uint64_t engine_timers_fired(const engine *e)
{
    return atomic_load(&((engine *)e)->timers_fired);
}

void engine_set_observer(engine *e, engine_change_fn fn, void *ctx)
{
    pthread_mutex_lock(&e->lock);
    e->observer = fn;
    e->observer_ctx = ctx;
    pthread_mutex_unlock(&e->lock);
}

void engine_submit(engine *e, engine_command type, const principal *who, json_t *args,
                   engine_reply_fn reply, void *ctx)
{
    engine_cmd *cmd = calloc(1, sizeof *cmd);
    if (!cmd) {
        sp_error err = SP_ERROR_INIT;
        sp_error_set(&err, SP_ENOMEM, "out of memory");
        reply(ctx, 500, sp_error_to_json(&err));
        return;
    }
    cmd->type = type;
    principal_copy(&cmd->who, who);
    /* A deep copy: the engine thread must own every reference it touches. */
    cmd->args = args ? json_deep_copy(args) : json_object();
    cmd->reply = reply;
    cmd->ctx = ctx;
    pthread_mutex_lock(&e->lock);
    if (e->stopping) {
        pthread_mutex_unlock(&e->lock);
        sp_error err = SP_ERROR_INIT;
        sp_error_set(&err, SP_EUNAVAIL, "the server is shutting down");
        reply(ctx, 503, sp_error_to_json(&err));
        cmd_free(cmd);
        return;
    }
    if (e->tail)
        e->tail->next = cmd;
    else
        e->head = cmd;
    e->tail = cmd;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
}

/* engine_call: a one-shot rendezvous between the caller and the reply. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    bool done;
    int status;
    json_t *body;
} call_wait;

static void call_reply(void *ctx, int status, json_t *body)
{
    call_wait *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    w->body = body;
    w->done = true;
    pthread_cond_signal(&w->done_cv);
    pthread_mutex_unlock(&w->lock);
}

int engine_call(engine *e, engine_command cmd, const principal *who, json_t *args,
                json_t **body)
{
    call_wait w = { .lock = PTHREAD_MUTEX_INITIALIZER, .done_cv = PTHREAD_COND_INITIALIZER };
    engine_submit(e, cmd, who, args, call_reply, &w);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.done_cv, &w.lock);
    pthread_mutex_unlock(&w.lock);
    if (body)
        *body = w.body;
    else
        json_decref(w.body);
    return w.status;
}
