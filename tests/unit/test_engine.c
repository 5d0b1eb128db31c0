/*
 * test_engine.c - the engine against a real SQLite store, without HTTP:
 * runs pause at gates, decisions resume them, state survives a restart,
 * and a failing command leaves no trace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/jsonx.h"
#include "engine/engine.h"
#include "store/store.h"
#include "store/store_impl.h"

static const char *workflow_yaml =
    "name: refund\n"
    "steps:\n"
    "  - id: draft\n"
    "    transform: '{amount: .input.amount}'\n"
    "  - id: check\n"
    "    approval:\n"
    "      when: .steps.draft.output.amount > 500\n"
    "      title: 'Refund {{ .steps.draft.output.amount }}'\n"
    "      to: [team:finance]\n"
    "      editable: [/amount]\n"
    "    on_reject: said_no\n"
    "  - id: pay\n"
    "    transform: '{paid: .steps.check.output.amount}'\n"
    "    next: end\n"
    "  - id: said_no\n"
    "    transform: '{paid: 0}'\n";

typedef struct {
    char dir[64];
    char url[128];
    store *st;
    secrets_key *master;
    audit_key *akey;
    engine *eng;
} fixture;

static const principal admin = { .name = "admin", .role = "admin", .scope = "admin" };

static void open_engine(fixture *f)
{
    sp_error err = SP_ERROR_INIT;
    f->st = store_open(f->url, &err);
    assert_non_null(f->st);
    if (!f->master)
        f->master = secrets_key_random();
    bool created;
    assert_int_equal(audit_key_setup(store_writer(f->st), f->master, &f->akey, &created, &err),
                     SP_OK);
    engine_config cfg = { .audit_key = f->akey };
    f->eng = engine_start(f->st, &cfg, &err);
    assert_non_null(f->eng);
}

static void close_engine(fixture *f)
{
    engine_free(f->eng);
    store_close(f->st);
    audit_key_free(f->akey);
    f->eng = NULL;
    f->st = NULL;
    f->akey = NULL;
}

/* scheme: "" for the plain store, "fault:0:" for one that fails on demand
 * (store_fault_arm). */
static int setup_with(void **state, const char *scheme)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/spojit-engine-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "%ssqlite:%s/test.db", scheme, f->dir);
    assert_true(sodium_init() >= 0);
    open_engine(f);
    assert_int_equal(engine_call(f->eng, ENGINE_BOOTSTRAP, &admin, NULL, NULL), 200);
    json_t *user = json_pack("{s:s, s:[s]}", "name", "alice", "teams", "finance");
    assert_int_equal(engine_call(f->eng, ENGINE_CREATE_USER, &admin, user, NULL), 201);
    json_decref(user);
    json_t *wf = json_pack("{s:s, s:s}", "source", workflow_yaml, "format", "yaml");
    assert_int_equal(engine_call(f->eng, ENGINE_APPLY_WORKFLOW, &admin, wf, NULL), 201);
    json_decref(wf);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, "");
}

static int setup_fault(void **state)
{
    return setup_with(state, "fault:0:");
}

static int teardown(void **state)
{
    fixture *f = *state;
    close_engine(f);
    secrets_key_free(f->master);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static json_t *start(fixture *f, int amount)
{
    json_t *args = json_pack("{s:s, s:{s:i}}", "workflow", "refund", "input", "amount", amount);
    json_t *run = NULL;
    assert_int_equal(engine_call(f->eng, ENGINE_START_RUN, &admin, args, &run), 201);
    json_decref(args);
    return run;
}

static int decide(fixture *f, const char *approval_id, const char *what, const char *comment,
                  json_t *edits, json_t **gate)
{
    principal alice = { .name = "alice", .role = "member", .scope = "member" };
    alice.teams = json_pack("[s]", "finance");
    json_t *args = json_pack("{s:s, s:s, s:s?, s:O?}", "approval_id", approval_id, "decision",
                             what, "comment", comment, "edits", edits);
    int status = engine_call(f->eng, ENGINE_DECIDE, &alice, args, gate);
    json_decref(args);
    json_decref(alice.teams);
    return status;
}

static json_t *get_run(fixture *f, const char *id)
{
    store_conn *c = store_reader(f->st);
    json_t *run = NULL;
    assert_int_equal(store_run_get(c, id, &run, NULL), SP_OK);
    store_release(c);
    return run;
}

static void small_amount_completes_without_a_person(void **state)
{
    fixture *f = *state;
    json_t *run = start(f, 120);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "completed");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "output"), "paid")), 120);
    assert_null(json_object_get(run, "_cursor"));       /* private members stay inside */
    json_decref(run);
}

static void large_amount_waits_then_completes_with_edit(void **state)
{
    fixture *f = *state;
    json_t *run = start(f, 612);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "waiting");
    const char *apr = json_string_value(json_object_get(json_object_get(run, "waiting"), "approval_id"));
    assert_non_null(apr);
    json_t *edits = json_pack("{s:i}", "/amount", 550), *gate = NULL;
    assert_int_equal(decide(f, apr, "approve", NULL, edits, &gate), 200);
    assert_string_equal(json_string_value(json_object_get(gate, "status")), "approved");
    assert_string_equal(json_string_value(json_object_get(gate, "title")), "Refund 612");
    json_t *done = get_run(f, json_string_value(json_object_get(run, "id")));
    assert_string_equal(json_string_value(json_object_get(done, "status")), "completed");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(done, "output"), "paid")), 550);
    json_t *again = NULL;
    assert_int_equal(decide(f, apr, "approve", NULL, NULL, &again), 409);
    json_decref(again);
    json_decref(done);
    json_decref(gate);
    json_decref(edits);
    json_decref(run);
}

static void reject_takes_the_on_reject_path(void **state)
{
    fixture *f = *state;
    json_t *run = start(f, 900);
    const char *apr = json_string_value(json_object_get(json_object_get(run, "waiting"), "approval_id"));
    json_t *gate = NULL;
    assert_int_equal(decide(f, apr, "reject", NULL, NULL, &gate), 422);
    json_decref(gate);
    assert_int_equal(decide(f, apr, "reject", "too much", NULL, &gate), 200);
    json_decref(gate);
    json_t *done = get_run(f, json_string_value(json_object_get(run, "id")));
    assert_string_equal(json_string_value(json_object_get(done, "status")), "completed");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(done, "output"), "paid")), 0);
    json_decref(done);
    json_decref(run);
}

static void waiting_run_survives_a_restart(void **state)
{
    fixture *f = *state;
    json_t *run = start(f, 700);
    char apr[64];
    snprintf(apr, sizeof apr, "%s",
             json_string_value(json_object_get(json_object_get(run, "waiting"), "approval_id")));
    close_engine(f);
    open_engine(f);
    json_t *gate = NULL;
    assert_int_equal(decide(f, apr, "approve", NULL, NULL, &gate), 200);
    json_decref(gate);
    json_t *done = get_run(f, json_string_value(json_object_get(run, "id")));
    assert_string_equal(json_string_value(json_object_get(done, "status")), "completed");
    json_decref(done);
    json_decref(run);
}

static void failed_command_leaves_the_audit_chain_intact(void **state)
{
    fixture *f = *state;
    json_t *bad = json_pack("{s:s, s:{}}", "workflow", "no-such-workflow", "input");
    json_t *reply = NULL;
    assert_int_equal(engine_call(f->eng, ENGINE_START_RUN, &admin, bad, &reply), 404);
    json_decref(reply);
    json_decref(bad);
    json_t *run = start(f, 10);
    json_decref(run);
    store_conn *c = store_reader(f->st);
    json_t *result = NULL;
    assert_int_equal(audit_verify(c, f->akey, NULL, &result, NULL), SP_OK);
    store_release(c);
    assert_true(json_is_true(json_object_get(result, "ok")));
    json_decref(result);
}

static void idempotency_key_returns_the_first_run(void **state)
{
    fixture *f = *state;
    json_t *args = json_pack("{s:s, s:{s:i}, s:s}", "workflow", "refund", "input", "amount", 700,
                             "idempotency_key", "k-1");
    json_t *first = NULL, *second = NULL;
    assert_int_equal(engine_call(f->eng, ENGINE_START_RUN, &admin, args, &first), 201);
    assert_int_equal(engine_call(f->eng, ENGINE_START_RUN, &admin, args, &second), 200);
    assert_string_equal(json_string_value(json_object_get(first, "id")),
                        json_string_value(json_object_get(second, "id")));
    json_decref(first);
    json_decref(second);
    json_decref(args);
}

/* ---- a store error at every call of a path ----
 * Each sweep runs its path once on a healthy store to count the store calls
 * it makes, then once more for every k from 1 to that count with the k-th
 * call failing (store_fault_arm), and checks that the fault came out as an
 * error (or was retried), that nothing was half done, and that once the
 * store is well again the outcome happens exactly once. The count is taken,
 * not guessed, so no call of the path is left out; and it must reach
 * SWEEP_MIN_CALLS, so a path that stopped touching the store (or a fault
 * store that stopped counting) cannot pass by sweeping nothing.
 *
 * Command sweeps restart the engine before each try: every try then starts
 * from the same state (an empty workflow cache, the audit head read from
 * disk) and makes the same calls, in the same order, as the counted one. */

/* Every path below at least opens a transaction and a savepoint, reads,
 * writes, appends an audit row and commits. */
#define SWEEP_MIN_CALLS 8

/* Returns once the engine thread is idle: an ENGINE_AWAIT_TIMERS with
 * nothing due is answered at the end of the engine's loop, and the loop
 * then sleeps without touching the store until the next command. */
static void settle(fixture *f)
{
    json_t *reply = NULL;
    assert_int_equal(engine_call(f->eng, ENGINE_AWAIT_TIMERS, &admin, NULL, &reply), 200);
    json_decref(reply);
}

static void restart(fixture *f)
{
    close_engine(f);
    open_engine(f);
    settle(f);      /* start-up's own store calls are done before a fault is armed */
}

/* Stops the fault store failing and counting afresh; returns how many
 * calls were made since it was armed. */
static long disarm(fixture *f)
{
    long calls = store_fault_calls(f->st);
    store_fault_arm(f->st, 0);
    return calls;
}

/* The fault at call k of `calls` was reached, and the reply (status, body)
 * says so: a store error naming the injected fault. */
static void assert_fault_surfaced(const char *path, long k, long calls, long reached,
                                  int status, json_t *body)
{
    if (reached < k)
        fail_msg("%s, fault at call %ld of %ld: only %ld calls were made", path, k, calls,
                 reached);
    const char *msg = json_str(json_object_get(body, "error"), "message");
    if (status < 500 || !msg || !strstr(msg, "injected fault"))
        fail_msg("%s, fault at call %ld of %ld: answered %d (%s), not the store error", path,
                 k, calls, status, msg ? msg : "no error message");
}

typedef struct {
    const char *type;
    int n;
} audit_count;

static int count_row(void *ctx, const store_audit_row *row)
{
    audit_count *c = ctx;
    if (strcmp(row->type, c->type) == 0)
        c->n++;
    return 0;
}

/* Audit rows of this type (for this run / gate when given). */
static int audit_rows(fixture *f, const char *type, const char *run_id, const char *approval_id)
{
    store_conn *r = store_reader(f->st);
    store_audit_filter flt = { .run_id = run_id, .approval_id = approval_id };
    audit_count c = { .type = type };
    assert_int_equal(store_audit_scan(r, &flt, count_row, &c, NULL), SP_OK);
    store_release(r);
    return c.n;
}

/* The chain on disk verifies: the engine's in-memory head did not run
 * ahead of (or fall behind) what was committed. */
static void assert_audit_chain_ok(fixture *f, const char *path, long k)
{
    store_conn *r = store_reader(f->st);
    json_t *result = NULL;
    assert_int_equal(audit_verify(r, f->akey, NULL, &result, NULL), SP_OK);
    store_release(r);
    if (!json_is_true(json_object_get(result, "ok")))
        fail_msg("%s, fault at call %ld: the audit chain does not verify", path, k);
    json_decref(result);
}

static json_t *get_gate(fixture *f, const char *id)
{
    store_conn *r = store_reader(f->st);
    json_t *gate = NULL;
    assert_int_equal(store_approval_get(r, id, &gate, NULL), SP_OK);
    store_release(r);
    return gate;
}

static void assert_status(const char *path, long k, const char *what, json_t *doc,
                          const char *want)
{
    const char *got = json_str(doc, "status");
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s, fault at call %ld: %s is %s, not %s", path, k, what,
                 got ? got : "(none)", want);
}

/* A run of 700 waiting at its gate, the engine restarted and idle. */
static void waiting_run(fixture *f, char run_id[64], char apr[64])
{
    json_t *run = start(f, 700);
    snprintf(run_id, 64, "%s", json_str(run, "id"));
    snprintf(apr, 64, "%s", json_str(json_object_get(run, "waiting"), "approval_id"));
    json_decref(run);
    restart(f);
}

/* An approval that meets a store error at any of its calls is refused with
 * that error: the gate still pending with no decision recorded, the run
 * still waiting. Deciding again then approves the gate once and the run
 * goes on once. (A failed RELEASE of the command's savepoint once left the
 * decision in the batch's COMMIT while the caller got a 500.) */
static void a_store_error_at_any_call_of_a_decision_undoes_it_or_applies_it_once(void **state)
{
    fixture *f = *state;
    char run_id[64], apr[64];
    json_t *body = NULL;
    waiting_run(f, run_id, apr);
    store_fault_arm(f->st, 0);
    assert_int_equal(decide(f, apr, "approve", NULL, NULL, &body), 200);
    long calls = disarm(f);
    json_decref(body);
    print_message("store calls of a decision that resumes its run: %ld\n", calls);
    assert_true(calls >= SWEEP_MIN_CALLS);

    for (long k = 1; k <= calls; k++) {
        waiting_run(f, run_id, apr);
        store_fault_arm(f->st, k);
        body = NULL;
        int status = decide(f, apr, "approve", NULL, NULL, &body);
        long reached = disarm(f);
        assert_fault_surfaced("decision", k, calls, reached, status, body);
        json_decref(body);

        json_t *gate = get_gate(f, apr), *run = get_run(f, run_id);
        assert_status("decision", k, "the gate", gate, "pending");
        assert_status("decision", k, "the run", run, "waiting");
        assert_int_equal(json_array_size(json_object_get(gate, "decisions")), 0);
        json_decref(gate);
        json_decref(run);
        assert_int_equal(audit_rows(f, "decision", NULL, apr), 0);
        assert_int_equal(audit_rows(f, "run.resumed", run_id, NULL), 0);

        body = NULL;
        assert_int_equal(decide(f, apr, "approve", NULL, NULL, &body), 200);   /* the retry */
        json_decref(body);
        gate = get_gate(f, apr);
        run = get_run(f, run_id);
        assert_status("decision", k, "the gate", gate, "approved");
        assert_int_equal(json_array_size(json_object_get(gate, "decisions")), 1);
        assert_status("decision", k, "the run", run, "completed");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "output"),
                                                            "paid")), 700);
        json_decref(gate);
        json_decref(run);
        assert_int_equal(audit_rows(f, "decision", NULL, apr), 1);
        assert_int_equal(audit_rows(f, "gate.resolved", NULL, apr), 1);
        assert_int_equal(audit_rows(f, "run.resumed", run_id, NULL), 1);
        assert_int_equal(audit_rows(f, "run.ended", run_id, NULL), 1);
        assert_audit_chain_ok(f, "decision", k);
        body = NULL;
        assert_int_equal(decide(f, apr, "approve", NULL, NULL, &body), 409);   /* resolved once */
        json_decref(body);
    }
}

static int start_keyed(fixture *f, const char *key, json_t **reply)
{
    json_t *args = json_pack("{s:s, s:{s:i}, s:s}", "workflow", "refund", "input", "amount", 700,
                             "idempotency_key", key);
    int status = engine_call(f->eng, ENGINE_START_RUN, &admin, args, reply);
    json_decref(args);
    return status;
}

static json_int_t count_of(fixture *f, bool runs)
{
    store_conn *r = store_reader(f->st);
    json_int_t n = 0;
    if (runs) {
        json_t *counts = NULL, *v;
        const char *k;
        assert_int_equal(store_run_counts(r, &counts, NULL), SP_OK);
        json_object_foreach(counts, k, v)
            n += json_integer_value(v);
        json_decref(counts);
    } else {
        store_approval_filter flt = { .limit = 1000 };
        json_t *items = NULL;
        char *next = NULL;
        assert_int_equal(store_approval_list(r, &flt, &items, &next, NULL), SP_OK);
        n = (json_int_t)json_array_size(items);
        assert_null(next);
        json_decref(items);
    }
    store_release(r);
    return n;
}

/* A start that meets a store error leaves no run, no gate and no
 * idempotency key behind; the client's retry with the same key then
 * creates exactly one run, which waits at its gate and goes on when it is
 * approved. */
static void a_store_error_at_any_call_of_a_run_start_leaves_no_half_run(void **state)
{
    fixture *f = *state;
    json_t *reply = NULL;
    restart(f);
    store_fault_arm(f->st, 0);
    assert_int_equal(start_keyed(f, "count", &reply), 201);
    long calls = disarm(f);
    json_decref(reply);
    print_message("store calls of a run start that opens a gate: %ld\n", calls);
    assert_true(calls >= SWEEP_MIN_CALLS);

    for (long k = 1; k <= calls; k++) {
        char key[32];
        snprintf(key, sizeof key, "start-%ld", k);
        restart(f);
        json_int_t runs = count_of(f, true), gates = count_of(f, false);
        int started = audit_rows(f, "run.started", NULL, NULL);
        store_fault_arm(f->st, k);
        reply = NULL;
        int status = start_keyed(f, key, &reply);
        long reached = disarm(f);
        assert_fault_surfaced("run start", k, calls, reached, status, reply);
        json_decref(reply);

        assert_int_equal(count_of(f, true), runs);
        assert_int_equal(count_of(f, false), gates);
        assert_int_equal(audit_rows(f, "run.started", NULL, NULL), started);
        store_conn *r = store_reader(f->st);
        char *bound = NULL;
        assert_int_equal(store_idem_get(r, "admin", key, &bound, NULL), SP_ENOTFOUND);
        store_release(r);

        reply = NULL;
        assert_int_equal(start_keyed(f, key, &reply), 201);     /* the client's retry */
        char run_id[64], apr[64];
        snprintf(run_id, sizeof run_id, "%s", json_str(reply, "id"));
        snprintf(apr, sizeof apr, "%s", json_str(json_object_get(reply, "waiting"), "approval_id"));
        assert_status("run start", k, "the run", reply, "waiting");
        json_decref(reply);
        reply = NULL;
        assert_int_equal(start_keyed(f, key, &reply), 200);     /* and once more: the same run */
        assert_string_equal(json_str(reply, "id"), run_id);
        json_decref(reply);
        assert_int_equal(count_of(f, true), runs + 1);
        assert_int_equal(count_of(f, false), gates + 1);
        assert_int_equal(audit_rows(f, "run.started", run_id, NULL), 1);
        assert_int_equal(audit_rows(f, "gate.opened", run_id, NULL), 1);
        assert_audit_chain_ok(f, "run start", k);

        reply = NULL;
        assert_int_equal(decide(f, apr, "approve", NULL, NULL, &reply), 200);
        json_decref(reply);
        json_t *run = get_run(f, run_id);
        assert_status("run start", k, "the run", run, "completed");
        json_decref(run);
        assert_int_equal(audit_rows(f, "run.ended", run_id, NULL), 1);
    }
}

/* The refund workflow with its gate titled 'Refund v<k> ...': each k is a
 * new version. buf gets the source. */
static const char *refund_variant(char *buf, size_t size, long k)
{
    const char *at = strstr(workflow_yaml, "'Refund ");
    assert_non_null(at);
    snprintf(buf, size, "%.*s'Refund v%ld %s", (int)(at - workflow_yaml), workflow_yaml, k,
             at + strlen("'Refund "));
    return buf;
}

static int apply(fixture *f, const char *source, json_t **reply)
{
    json_t *wf = json_pack("{s:s, s:s}", "source", source, "format", "yaml");
    int status = engine_call(f->eng, ENGINE_APPLY_WORKFLOW, &admin, wf, reply);
    json_decref(wf);
    return status;
}

static int latest_refund(fixture *f)
{
    store_conn *r = store_reader(f->st);
    int version = 0;
    assert_int_equal(store_workflow_latest(r, "refund", &version, NULL), SP_OK);
    store_release(r);
    return version;
}

/* A new run's gate title says which source the engine runs: 'Refund v<k>'. */
static void assert_runs_variant(fixture *f, long k, int version, const char *want_title)
{
    json_t *run = start(f, 700);
    if (json_integer_value(json_object_get(run, "version")) != version)
        fail_msg("apply, fault at call %ld: a new run uses version %d, not %d", k,
                 (int)json_integer_value(json_object_get(run, "version")), version);
    json_t *gate = get_gate(f, json_str(json_object_get(run, "waiting"), "approval_id"));
    if (strcmp(json_str(gate, "title"), want_title) != 0)
        fail_msg("apply, fault at call %ld: a new run's gate is '%s', not '%s'", k,
                 json_str(gate, "title"), want_title);
    json_decref(gate);
    json_decref(run);
}

/* An apply that meets a store error leaves the version that was current
 * current (new runs use it) and records nothing; applying again then makes
 * the new version current, once. */
static void a_store_error_at_any_call_of_an_apply_keeps_one_version_current(void **state)
{
    fixture *f = *state;
    char source[2048], title[64];
    json_t *reply = NULL;
    restart(f);
    store_fault_arm(f->st, 0);
    assert_int_equal(apply(f, refund_variant(source, sizeof source, 0), &reply), 201);
    long calls = disarm(f);
    json_decref(reply);
    print_message("store calls of applying a new workflow version: %ld\n", calls);
    assert_true(calls >= SWEEP_MIN_CALLS);

    for (long k = 1; k <= calls; k++) {
        restart(f);
        int old = latest_refund(f), applied = audit_rows(f, "workflow.applied", NULL, NULL);
        store_fault_arm(f->st, k);
        reply = NULL;
        int status = apply(f, refund_variant(source, sizeof source, k), &reply);
        long reached = disarm(f);
        assert_fault_surfaced("apply", k, calls, reached, status, reply);
        json_decref(reply);

        assert_int_equal(latest_refund(f), old);
        assert_int_equal(audit_rows(f, "workflow.applied", NULL, NULL), applied);
        snprintf(title, sizeof title, "Refund v%ld 700", k - 1);
        assert_runs_variant(f, k, old, title);

        reply = NULL;
        assert_int_equal(apply(f, source, &reply), 201);        /* the retry */
        assert_int_equal(json_integer_value(json_object_get(reply, "version")), old + 1);
        json_decref(reply);
        reply = NULL;
        assert_int_equal(apply(f, source, &reply), 200);        /* once: the same version */
        assert_int_equal(json_integer_value(json_object_get(reply, "version")), old + 1);
        json_decref(reply);
        assert_int_equal(latest_refund(f), old + 1);
        assert_int_equal(audit_rows(f, "workflow.applied", NULL, NULL), applied + 1);
        snprintf(title, sizeof title, "Refund v%ld 700", k);
        assert_runs_variant(f, k, old + 1, title);
        assert_audit_chain_ok(f, "apply", k);
    }
}

/* A gate of admin's that times out 1 s after now. */
static void timed_gate(fixture *f, char id[64])
{
    json_t *ask = json_pack("{s:s, s:[s], s:s, s:{s:b}}", "title", "t", "to", "user:admin",
                            "timeout", "1s", "policy", "forbid_self_approval", 0);
    json_t *gate = NULL;
    assert_int_equal(engine_call(f->eng, ENGINE_CREATE_APPROVAL, &admin, ask, &gate), 201);
    snprintf(id, 64, "%s", json_str(gate, "id"));
    json_decref(ask);
    json_decref(gate);
    settle(f);      /* nothing is due yet: the engine is idle when the clock moves */
}

/* Moves the test clock past the gate's timeout and waits for the engine
 * to have fired what is due. The engine may wake by itself between the
 * move and the command and fire the timer first; it then makes the same
 * calls in another order (the command batch, the timer batch, the count
 * of timers left), so the count is the same and each k still hits one of
 * them. */
static int expire(fixture *f, json_t **reply)
{
    clock_advance(2000);
    return engine_call(f->eng, ENGINE_AWAIT_TIMERS, &admin, NULL, reply);
}

/* A store error while a timer takes effect must not lose the timer: for a
 * fault at every call of the timer batch in turn, the gate still expires,
 * exactly once, once the store is well again (else it would stay pending
 * past its due time, where no decision can resolve it). The fault either
 * fails the ENGINE_AWAIT_TIMERS command's own batch (a store error), or
 * the timer batch, which the engine rolls back and fires again after a
 * pause of a second. */
static void a_store_error_at_any_call_of_a_timer_batch_does_not_lose_the_timer(void **state)
{
    fixture *f = *state;
    char id[64];
    json_t *reply = NULL;
    clock_enable_test();
    timed_gate(f, id);
    store_fault_arm(f->st, 0);
    assert_int_equal(expire(f, &reply), 200);
    long calls = disarm(f);
    json_decref(reply);
    print_message("store calls of expiring a gate by its timer: %ld\n", calls);
    assert_true(calls >= SWEEP_MIN_CALLS);

    for (long k = 1; k <= calls; k++) {
        timed_gate(f, id);
        uint64_t fired = engine_timers_fired(f->eng);
        store_fault_arm(f->st, k);
        reply = NULL;
        int status = expire(f, &reply);
        long reached = disarm(f);
        if (reached < k)
            fail_msg("timer batch, fault at call %ld of %ld: only %ld calls were made", k,
                     calls, reached);
        if (status != 200)      /* the command's own batch failed: it says why */
            assert_fault_surfaced("timer batch", k, calls, reached, status, reply);
        json_decref(reply);
        reply = NULL;
        assert_int_equal(engine_call(f->eng, ENGINE_AWAIT_TIMERS, &admin, NULL, &reply), 200);
        json_decref(reply);

        json_t *gate = get_gate(f, id);
        assert_status("timer batch", k, "the gate", gate, "expired");
        json_decref(gate);
        assert_int_equal(audit_rows(f, "gate.expired", NULL, id), 1);
        assert_int_equal(engine_timers_fired(f->eng) - fired, 1);
        store_conn *r = store_reader(f->st);
        int64_t left = -1;
        assert_int_equal(store_timer_count(r, &left, NULL), SP_OK);
        store_release(r);
        assert_int_equal(left, 0);
        assert_audit_chain_ok(f, "timer batch", k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(small_amount_completes_without_a_person, setup, teardown),
        cmocka_unit_test_setup_teardown(large_amount_waits_then_completes_with_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(reject_takes_the_on_reject_path, setup, teardown),
        cmocka_unit_test_setup_teardown(waiting_run_survives_a_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_command_leaves_the_audit_chain_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(idempotency_key_returns_the_first_run, setup, teardown),
        cmocka_unit_test_setup_teardown(a_store_error_at_any_call_of_a_decision_undoes_it_or_applies_it_once,
                                        setup_fault, teardown),
        cmocka_unit_test_setup_teardown(a_store_error_at_any_call_of_a_run_start_leaves_no_half_run,
                                        setup_fault, teardown),
        cmocka_unit_test_setup_teardown(a_store_error_at_any_call_of_an_apply_keeps_one_version_current,
                                        setup_fault, teardown),
        /* last: it switches the process to the test clock */
        cmocka_unit_test_setup_teardown(a_store_error_at_any_call_of_a_timer_batch_does_not_lose_the_timer,
                                        setup_fault, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
