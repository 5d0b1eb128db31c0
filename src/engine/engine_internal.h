/*
 * engine_internal.h - what the engine's files share. Engine thread only.
 */
#ifndef SP_ENGINE_INTERNAL_H
#define SP_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "audit/audit.h"
#include "core/jsonx.h"
#include "engine/engine.h"
#include "outbound/outbound.h"
#include "secrets/secrets.h"
#include "workflow/workflow.h"

/* A queued command; owned by the engine once submitted. */
typedef struct engine_cmd {
    engine_command type;
    principal who;              /* copy; teams owned */
    json_t *args;               /* owned (deep copy) */
    engine_reply_fn reply;
    void *ctx;
    int status;                 /* the reply, filled while the batch runs */
    json_t *body;
    int redeliveries;           /* an answer held after failing (redeliver.c): how often */
    int64_t due_ms;             /* ... and when it runs again (mono ms) */
    struct engine_cmd *next;
} engine_cmd;

/* Workflows by name@version, loaded once and kept: they are few and
 * immutable, and a loaded one carries its compiled jq program. */
typedef struct wf_entry {
    workflow *wf;
    struct wf_entry *next;
} wf_entry;

#define WF_CACHE_BUCKETS 256

struct engine {
    store *store;
    store_conn *w;              /* the writer; this thread only */
    json_t *env;                /* $env */
    const secrets_key *secrets_key; /* seals secrets (cmd_secret.c); may be NULL */
    const audit_key *audit_key;     /* hashes the audit chain (borrowed) */
    int max_batch;

    pthread_t thread;
    pthread_mutex_t lock;       /* guards queue, stopping, observer */
    pthread_cond_t wake;
    engine_cmd *head, *tail;
    bool stopping;
    engine_change_fn observer;
    void *observer_ctx;

    audit_chain chain;          /* head of the audit trail, as committed + this batch */

    /* Timers (timers.c): only the next due instant is kept in memory. */
    sp_time next_due;           /* earliest timer in the store, or STORE_TIMER_NONE */
    sp_time batch_next_due;     /* earliest timer added by the current batch */
    engine_cmd *timer_waiters;  /* ENGINE_AWAIT_TIMERS commands, answered when none is due */
    int64_t timer_pause_until;  /* mono ms: after a failed timer batch, wait before retrying */
    int64_t timer_failing_id;   /* the timer whose effect last failed for a store error */
    int timer_failing_tries;    /* ... how many times in a row */
    _Atomic uint64_t timers_fired;

    /* Outbound calls (http_step.c): queued while a batch runs, sent after
     * its commit. [{result, key, method, url, headers, body?, timeout_ms, public_only}] */
    outbound *outbound;
    json_t *calls;
    engine_cmd *held;           /* answers whose batch failed, to run again (redeliver.c) */
    bool callbacks_private;     /* engine_config.callbacks_private */
    wf_entry *wf_cache[WF_CACHE_BUCKETS];

    /* Per command: what it changed, for the observer after commit.
     * Objects used as sets: {"run_...": true}. */
    json_t *changed_runs, *changed_gates;
    /* What the whole batch changed (the commands that succeeded). */
    json_t *batch_runs, *batch_gates;
};

/* ---- the command being executed ----
 * Each command handler returns an HTTP status and sets *body (new ref)
 * to the public result, or returns an sp_code error via err. */
typedef sp_code (*engine_cmd_fn)(engine *e, engine_cmd *cmd, int *status, json_t **body,
                                 sp_error *err);

sp_code cmd_apply_workflow(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_start_run(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_cancel_run(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_decide(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_reassign(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_create_approval(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_create_user(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_create_team(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_create_key(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_bootstrap(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_await_timers(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
/* cmd_secret.c */
sp_code cmd_put_secret(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_delete_secret(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_revoke_key(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_update_user(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_delete_user(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_key_used(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_issue_link(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_rotate_link_keys(engine *e, engine_cmd *cmd, int *status, json_t **body,
                             sp_error *err);
/* cmd_principal.c, shared with cmd_people.c */
bool cmd_name_valid(const char *s);
bool cmd_one_of(const char *s, const char *const *words);
sp_code cmd_require_admin(const engine_cmd *cmd, sp_error *err);
/* Creates the team (audited) if it does not exist yet. */
sp_code cmd_ensure_team(engine *e, const char *team, const char *actor, sp_error *err);
/* cmd_session.c */
sp_code cmd_login(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_login_failed(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_logout(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);
sp_code cmd_session_touch(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);

/* ---- workflows (wfcache.c) ---- */
/* The workflow name@version (version 0: the newest), loading it from the
 * store on first use. Borrowed; lives as long as the engine. */
sp_code wfcache_get(engine *e, const char *name, int version, workflow **wf, sp_error *err);
/* Takes ownership of wf (its version set). */
void wfcache_put(engine *e, workflow *wf);
void wfcache_clear(engine *e);

/* ---- runs (run.c) ---- */
/* The step outputs one run keeps, in all, as compact JSON: each visit of a
 * step keeps its own. A step whose output would take the total past it
 * fails (not retried; on_error applies) and the output is not kept. The
 * total is counted as outputs arrive, in the run's private "_output_bytes",
 * so the check measures only the new output, never the whole document. */
#define RUN_OUTPUTS_MAX_BYTES (16u << 20)

/* Moves a running run forward until it waits or ends. Step failures are
 * outcomes recorded in the run, not errors; errors are store failures. */
sp_code run_advance(engine *e, const workflow *wf, json_t *run, sp_error *err);
/* A step failed with message: retried later when retryable and attempts are
 * left (not before min_delay_ms), else on_error or the run fails. */
sp_code run_step_fail(engine *e, const step_def *step, json_t *run, json_t *entry, json_t *ctx,
                      const char *message, bool retryable, int64_t min_delay_ms, sp_error *err);
/* A step completed with output (stolen); the run moves to step->next. */
sp_code run_step_complete(engine *e, const step_def *step, json_t *run, json_t *entry,
                          json_t *ctx, json_t *output, sp_error *err);

/* ---- http steps (http_step.c) ---- */
/* Sends the step's request (*in_flight: the run waits for the answer, which
 * comes back as ENGINE_HTTP_RESULT), or - when the answer is in the entry -
 * completes, retries or fails the step. proposal: the approved one, if gated. */
sp_code http_step(engine *e, const workflow *wf, const step_def *step, json_t *run,
                  json_t *entry, json_t *ctx, json_t *proposal, bool *in_flight, sp_error *err);
/* The request an http step would send, secrets as "***": the default
 * proposal of a gate on it. New ref, or NULL with err (SP_EINVALID). */
json_t *http_preview(engine *e, const workflow *wf, const step_def *step, json_t *run,
                     json_t *entry, json_t *ctx, sp_error *err);
/* Queues an outbound call for after the commit; its answer comes back as
 * command `result` with key's members plus {status, headers, body, error?,
 * refused?, elapsed_ms}. key and header_lines ("Name: value" strings) are
 * stolen. public_only: see outbound.h (for targets API callers chose). */
void engine_queue_call(engine *e, engine_command result, json_t *key, const char *method,
                       const char *url, json_t *header_lines, const char *body,
                       int64_t timeout_ms, bool public_only);
/* The request of http settings h as JSON {method, url, headers, json|form|body}
 * (secrets in clear: for sending). idem_key: the Idempotency-Key, if h sends one. */
json_t *http_request_build(engine *e, const workflow *wf, const http_def *h,
                           const char *idem_key, json_t *ctx, json_t *secrets, sp_error *err);
/* Queues req for after the commit; its answer comes as ENGINE_HTTP_RESULT
 * with key's members (stolen) - {run_id, step, visit, attempt}. */
void http_request_queue(engine *e, json_t *key, const json_t *req, int64_t timeout_ms);
/* An answer's body: parsed when it says it is JSON, else text. New ref. */
/* An answer's body: parsed when it is JSON, else text; a cut one is text,
 * cut to HTTP_CUT_BODY_KEEP and redacted of secrets (http_cut_text). */
json_t *http_response_body(const json_t *resp, const json_t *secrets);
char *http_cut_text(const char *text, size_t len, const json_t *secrets);
/* Whether a status (0: no answer) is worth another attempt. */
bool http_transient(const http_def *h, long status);
/* Every secret, opened, as {name: value} (empty without a master key). New ref. */
json_t *engine_secrets_now(engine *e);
/* The secrets a step may read (step->secret_names, or all when
 * step->secrets_all): bound when it renders and redacted from what it
 * leaves behind - the same set, so nothing it sees goes unredacted and
 * nothing else is redacted. New ref, {} when it reads none. */
json_t *engine_step_secrets(engine *e, const step_def *step);
/* ---- agent steps (agent_step.c) ---- */
sp_code agent_step(engine *e, const workflow *wf, const step_def *step, json_t *run,
                   json_t *entry, json_t *ctx, bool *in_flight, sp_error *err);
/* A gate on a later step rejected with on_reject: revise: back to the agent. */
sp_code agent_revise(engine *e, const workflow *wf, const step_def *gated, json_t *run,
                     json_t *entry, bool *revised, sp_error *err);
/* Calls queued by the current batch go out only after it committed. */
size_t http_calls_mark(engine *e);
void http_calls_truncate(engine *e, size_t mark);
void http_calls_flush(engine *e);
sp_code cmd_http_result(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err);

/* ---- answers that could not be applied (redeliver.c) ---- */
/* A command carrying a call's answer that failed with a 5xx: kept (not
 * answered) to run again after a back-off. false: reply as usual. */
bool redeliver_hold(engine *e, engine_cmd *cmd);
/* ms until the earliest held command is due (0: now), -1 when none. */
int64_t redeliver_wait_ms(const engine *e);
/* Puts the held commands that are due at the front of the queue; under e->lock. */
void redeliver_take_due(engine *e);
/* Stopping: answers every held command 503 (start-up re-sends the calls). */
void redeliver_drop(engine *e);

/* ---- callbacks to external agents (callback.c) ---- */
/* A new per-approval signing secret ("whsec_..."), malloc'd. */
char *callback_secret_new(void);
/* The gate resolved: schedules its callback, if it has one (gate changed,
 * not saved). */
sp_code callback_schedule(engine *e, json_t *gate, sp_error *err);
sp_code gate_timer_callback(engine *e, const json_t *timer, sp_error *err);
sp_code cmd_callback_result(engine *e, engine_cmd *cmd, int *status, json_t **body,
                            sp_error *err);

/* Saves the run (updated_at set) and marks it changed. */
sp_code run_save(engine *e, json_t *run, sp_error *err);
/* Sets a run's final status (completed|failed|canceled), audits run.ended. */
sp_code run_finish(engine *e, json_t *run, const char *status, json_t *error, sp_error *err);
/* The public form of a stored document (no "_" members); new ref. */
json_t *engine_public(const json_t *doc);

/* ---- gates (gate_open.c) ---- */
/* Opens the gate of step at the run's cursor. *waiting says whether the run
 * must now wait for people; if not (auto-approved) *proposal is the
 * proposal to act on (new ref). */
sp_code gate_open(engine *e, const workflow *wf, const step_def *step, json_t *run,
                  json_t *entry, json_t *ctx, bool *waiting, json_t **proposal, sp_error *err);
sp_code gate_save(engine *e, json_t *gate, sp_error *err);
/* The time-related fields of a new pending gate (gate_timers.c keeps them). */
void gate_add_timer_fields(json_t *gate, const char *on_timeout /* NULL: no timeout */);
/* How many distinct approvals resolve a gate: approvals itself when >= 1;
 * for 0 ("all") every distinct user behind the assignees, teams expanded
 * now, so later team changes do not move the goal. */
sp_code gate_approvals_needed(engine *e, int approvals, json_t *assignees,
                              json_int_t *needed, sp_error *err);

/* Continues the run of a gate that just resolved or expired. */
sp_code gate_resume_run(engine *e, json_t *gate, sp_error *err);

/* ---- timers (timers.c, gate_timers.c, run.c) ---- */
#define TIMER_BATCH 64          /* timers fired per transaction: small, so a decision waits little */
/* Stores a timer (data stolen) and keeps next_due up to date. */
sp_code timer_schedule(engine *e, sp_time due_at, const char *kind, const char *run_id,
                       const char *approval_id, json_t *data, sp_error *err);
/* Re-reads the earliest due time from the store. */
void timers_refresh(engine *e);
/* True when a timer is due now (and firing is not paused after a failure). */
bool timers_due(const engine *e);
/* Fires up to TIMER_BATCH due timers in one transaction. */
void timers_fire(engine *e);
/* Answers the ENGINE_AWAIT_TIMERS commands once nothing is due;
 * with stopping, answers them all. */
void timers_answer_waiters(engine *e, bool stopping);
/* Schedules a gate's timeout, escalations and first reminder (g may be
 * NULL for a gate asked for by an agent: then only the timeout), and marks
 * the gate "_timers" when it has any. Call before the gate is saved. */
sp_code gate_timers_schedule(engine *e, const gate_def *g, json_t *gate, sp_time opened,
                             int64_t timeout_ms, sp_error *err);
sp_code gate_timer_timeout(engine *e, const json_t *timer, sp_error *err);
sp_code gate_timer_escalate(engine *e, const json_t *timer, sp_error *err);
sp_code gate_timer_remind(engine *e, const json_t *timer, sp_error *err);
/* run.wait and run.retry: the run waiting at that step visit continues. */
sp_code run_timer_wake(engine *e, const json_t *timer, sp_error *err);

/* ---- a gate waits for somebody (routing.c) ---- */
/* [{path, message}] for each user:/team: a gate of wf routes or escalates
 * to that does not exist; one lookup per distinct name. */
sp_code routing_warnings(engine *e, const workflow *wf, json_t **warnings, sp_error *err);
/* When fewer distinct active people than approvals (0, the policy `all`:
 * one) can decide behind *assignees (teams expanded; disabled users and,
 * under forbid_self, the starter left out), replaces *assignees with the
 * active admins - or, if the admins are fewer than needed too, adds them to
 * it - and sets *unroutable to the audit data {original_assignees, reason,
 * reasons, able, admins, assignees, short, needed}; otherwise *unroutable
 * is NULL and *assignees untouched. Stops reading as soon as enough people
 * are found; nothing is remembered past the call. */
sp_code routing_fallback(engine *e, json_t **assignees, const char *starter, bool forbid_self,
                         int approvals, json_t **unroutable, sp_error *err);

/* ---- shared helpers (engine.c) ---- */
/* Tells the observer what the batch changed, then forgets it. */
void engine_notify_changes(engine *e);
/* Replies to one command and frees it. */
void engine_cmd_reply(engine_cmd *cmd, int status, json_t *body);
sp_code engine_audit(engine *e, const char *actor, const char *type, const char *run_id,
                     const char *approval_id, json_t *data /* stolen, may be NULL */,
                     sp_error *err);
void engine_mark_changed(engine *e, const char *kind, const char *id);
/* RFC 3339 "now" as a new JSON string. */
json_t *engine_now_json(void);

/* What a body cut at OUTBOUND_BODY_MAX keeps: the longest secret less, so
 * that no secret can stand cut in half at its end (http_cut_text).
 * Shown to models and people as the number of bytes kept. */
#define HTTP_CUT_BODY_KEEP (OUTBOUND_BODY_MAX - SECRETS_VALUE_MAX)

#endif
