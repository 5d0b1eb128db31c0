/*
 * engine.h - the one thread that changes state.
 *
 * Every state transition of spojit - applying a workflow, starting a run,
 * advancing it step by step, opening a gate, deciding, creating a user - is
 * a command executed by the engine thread. Other threads submit commands
 * and get the reply through a callback.
 *
 * INVARIANTS (see docs/internals/engine.md)
 * - Commands are taken in batches; each batch is one store transaction and
 *   each command in it one savepoint, so a burst of decisions shares one
 *   fsync (group commit) and one failing command undoes only itself.
 * - A reply is sent only after the batch's commit returned: a 2xx means the
 *   change is on disk. If the commit fails, every command of the batch gets
 *   an error and nothing of it happened.
 * - A run advances through steps without side effects inside the same
 *   transaction as the command that woke it; a crash before commit leaves
 *   it where it was, so no completed step runs again.
 * - After a restart, runs whose status is "running" are resumed from the
 *   step recorded in the store.
 * - Paused runs live only in the store; the engine keeps workflows (by
 *   name@version) and nothing per paused run.
 */
#ifndef SP_ENGINE_H
#define SP_ENGINE_H

#include <jansson.h>
#include <stdint.h>

#include "auth/auth.h"
#include "core/err.h"
#include "secrets/secrets.h"
#include "store/store.h"

typedef struct engine engine;

typedef struct {
    int max_batch;              /* commands per transaction (default 256) */
    json_t *env;                /* $env for expressions (borrowed, may be NULL) */
    const secrets_key *secrets_key; /* the master key (borrowed, must outlive the engine);
                                     * NULL: secret commands answer 503 */
    const struct audit_key *audit_key; /* hashes the audit chain (borrowed, must outlive
                                        * the engine; audit_key_setup); required */
    struct outbound *outbound;  /* sends http steps' calls (borrowed; must outlive the
                                 * engine); NULL: they stay in flight until a restart */
    bool callbacks_private;     /* approval callbacks may go to private and loopback
                                 * addresses (trusted set-ups, tests); else public only */
} engine_config;

/*
 * Commands and their arguments (a JSON object, validated by the engine):
 *   ENGINE_APPLY_WORKFLOW  {source: text, format: "yaml"|"json"}
 *                          -> 201 {name, version, created: bool}
 *   ENGINE_START_RUN       {workflow, version?, input, idempotency_key?}
 *                          -> 201 run (200 with the earlier run on a repeated key)
 *   ENGINE_DECIDE          {approval_id, decision, comment?, edits?, via?}
 *                          -> 200 gate
 *   ENGINE_CANCEL_RUN      {run_id} -> 200 run
 *   ENGINE_REASSIGN        {approval_id, to: [..]} -> 200 gate
 *   ENGINE_CREATE_APPROVAL {title, summary?, proposal?, reasoning?, context?,
 *                           to, policy?, timeout?, on_timeout?, callback_url?}
 *                          -> 201 gate (with run_id)
 *   ENGINE_CREATE_USER     {name, password?, email?, teams?, role?} -> 201 user
 *   ENGINE_CREATE_TEAM     {name, members?} -> 201 team
 *   ENGINE_CREATE_KEY      {user, scope?, name?} -> 201 {id, key, user, scope}
 *   ENGINE_BOOTSTRAP       {token?} -> 200 {created: bool, key?}: creates the
 *                          admin user and its key on an empty store
 *   ENGINE_REVOKE_KEY      {id} -> 200 key (no hash)
 *   ENGINE_UPDATE_USER     {name, role?, disabled?, teams?, email?, password?} -> 200 user
 *   ENGINE_DELETE_USER     {name} -> 200 {name, deleted: true}
 *   ENGINE_KEY_USED        {id} -> 204: notes last_used_at
 *   ENGINE_ISSUE_LINK      {approval_id, user, decision} -> 201 {path, expires_at, ...}
 *   ENGINE_ROTATE_LINK_KEYS {} -> 200 {current, kept}
 *   ENGINE_HTTP_RESULT     {run_id, step, visit, attempt, status, headers, body,
 *                          error?, elapsed_ms} -> 204: the answer to an http step's
 *                          call (from the outbound worker only)
 *   ENGINE_CALLBACK_RESULT {approval_id, attempt, status, ...} -> 204: the answer
 *                          to an approval's callback POST (outbound worker only)
 *   (ENGINE_DECIDE also takes link_nonce: the link's one use is recorded
 *   with the decision, 409 when it was used before)
 *   ENGINE_LOGIN           {user, hash, csrf_hash, address?} -> 200 {user, role,
 *                          expires_at, session}: a web session (the password was
 *                          checked by the caller; the user is read again here)
 *   ENGINE_LOGIN_FAILED    {name, address?, reason?} -> 200 {}: audits login.failed
 *   ENGINE_LOGOUT          {session} -> 204: revokes it, audits logout
 *   ENGINE_SESSION_TOUCH   {session, at?: ms} -> 204: notes last_seen_at (not audited)
 *   ENGINE_PUT_SECRET      {name, value} -> 201 (new) | 200 {name, updated_at}:
 *                          sealed with the master key here; audits secret.written
 *   ENGINE_DELETE_SECRET   {name} -> 200 {name, deleted: true}; audits secret.deleted
 *   ENGINE_AWAIT_TIMERS    {} -> 200 {now, timers_pending}: records the test
 *                          clock's time (meta "test_clock_now") and is answered
 *                          once no timer is due any more
 */
typedef enum {
    ENGINE_APPLY_WORKFLOW,
    ENGINE_START_RUN,
    ENGINE_DECIDE,
    ENGINE_CANCEL_RUN,
    ENGINE_REASSIGN,
    ENGINE_CREATE_APPROVAL,
    ENGINE_CREATE_USER,
    ENGINE_CREATE_TEAM,
    ENGINE_CREATE_KEY,
    ENGINE_BOOTSTRAP,
    ENGINE_AWAIT_TIMERS,
    ENGINE_PUT_SECRET,      /* cmd_secret.c */
    ENGINE_DELETE_SECRET,
    ENGINE_REVOKE_KEY,
    ENGINE_UPDATE_USER,
    ENGINE_DELETE_USER,
    ENGINE_KEY_USED,
    ENGINE_ISSUE_LINK,
    ENGINE_ROTATE_LINK_KEYS,
    ENGINE_HTTP_RESULT,
    ENGINE_CALLBACK_RESULT,
    ENGINE_LOGIN,           /* cmd_session.c: see the list above */
    ENGINE_LOGIN_FAILED,
    ENGINE_LOGOUT,
    ENGINE_SESSION_TOUCH,
} engine_command;

/*
 * Called exactly once per submitted command, on the engine thread, after
 * the batch committed (or failed). status is an HTTP status; body is a new
 * reference the callee owns: the result, or {"error": {...}}.
 * Must not block: hand the body over and return.
 */
typedef void (*engine_reply_fn)(void *ctx, int status, json_t *body);

/* Told after each commit about every run and gate the batch changed, so
 * long-polls can wake. kind is "run" or "approval". Engine thread; must not
 * block. */
typedef void (*engine_change_fn)(void *ctx, const char *kind, const char *id);

engine *engine_start(store *s, const engine_config *cfg, sp_error *err);
/* Finishes the commands already queued, then stops the thread; commands
 * submitted afterwards are answered 503 at once. The engine stays valid
 * until engine_free, so late submitters never touch freed memory. */
void engine_stop(engine *e);
void engine_free(engine *e);

void engine_set_observer(engine *e, engine_change_fn fn, void *ctx);

/* Timers fired since start (any thread; for /metrics). */
uint64_t engine_timers_fired(const engine *e);

/* Queues a command. who and args are copied; the caller keeps its own. */
void engine_submit(engine *e, engine_command cmd, const principal *who, json_t *args,
                   engine_reply_fn reply, void *ctx);

/* Submits and waits for the reply (for start-up and tests). Returns the
 * status; *body gets the reply (caller decrefs) when body is not NULL. */
int engine_call(engine *e, engine_command cmd, const principal *who, json_t *args,
                json_t **body);

#endif
