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

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/spojit-engine-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "sqlite:%s/test.db", f->dir);
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

/* A store error while a timer takes effect must not lose the timer: for a
 * fault at every point of the timer batch in turn, the gate still expires
 * once the store is well again (else it would stay pending past its due
 * time, where no decision can resolve it). */
static void a_store_error_in_a_timer_batch_does_not_lose_the_timer(void **state)
{
    char dir[64] = "/tmp/spojit-engine-fault-XXXXXX", url[128];
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "fault:0:sqlite:%s/test.db", dir);
    sp_error err = SP_ERROR_INIT;
    store *st = store_open(url, &err);
    assert_non_null(st);
    clock_enable_test();
    secrets_key *master = secrets_key_random();
    audit_key *akey = NULL;
    bool created;
    assert_int_equal(audit_key_setup(store_writer(st), master, &akey, &created, &err), SP_OK);
    engine_config cfg = { .audit_key = akey };
    engine *e = engine_start(st, &cfg, &err);
    assert_non_null(e);
    assert_int_equal(engine_call(e, ENGINE_BOOTSTRAP, &admin, NULL, NULL), 200);
    for (long k = 1; k <= 16; k++) {
        json_t *ask = json_pack("{s:s, s:[s], s:s, s:{s:b}}", "title", "t", "to", "user:admin",
                                "timeout", "1s", "policy", "forbid_self_approval", 0);
        json_t *gate = NULL;
        assert_int_equal(engine_call(e, ENGINE_CREATE_APPROVAL, &admin, ask, &gate), 201);
        char id[64];
        snprintf(id, sizeof id, "%s", json_string_value(json_object_get(gate, "id")));
        json_decref(ask);
        json_decref(gate);
        store_fault_arm(st, k);                 /* the k-th store call from now fails */
        clock_advance(2000);
        json_t *reply = NULL;
        engine_call(e, ENGINE_AWAIT_TIMERS, &admin, NULL, &reply);   /* may hit the fault */
        json_decref(reply);
        store_fault_arm(st, 0);
        reply = NULL;
        assert_int_equal(engine_call(e, ENGINE_AWAIT_TIMERS, &admin, NULL, &reply), 200);
        json_decref(reply);
        store_conn *r = store_reader(st);
        assert_int_equal(store_approval_get(r, id, &gate, &err), SP_OK);
        store_release(r);
        if (strcmp(json_string_value(json_object_get(gate, "status")), "expired") != 0)
            fail_msg("fault at call %ld: the gate is %s, not expired", k,
                     json_string_value(json_object_get(gate, "status")));
        json_decref(gate);
    }
    engine_free(e);
    store_close(st);
    audit_key_free(akey);
    secrets_key_free(master);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
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
        cmocka_unit_test(a_store_error_in_a_timer_batch_does_not_lose_the_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
