/*
 * test_routing.c - no gate waits for nobody (src/engine/routing.c).
 *
 * routing_fallback is called directly against a real SQLite store (it
 * reads only the engine's writer connection), for each way a route can
 * have too few people able to decide; an escalation to nobody goes
 * through a whole engine with the test clock, timer and audit row
 * included.
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
#include "engine/engine_internal.h"
#include "store/store.h"
#include "store/store_impl.h"

typedef struct {
    char dir[64];
    store *st;
    struct engine eng;          /* only .w is used by routing_fallback */
} fixture;

static void put_user(fixture *f, const char *name, const char *role, bool disabled)
{
    json_t *u = json_pack("{s:s, s:s, s:b}", "name", name, "role", role, "disabled", disabled);
    assert_int_equal(store_user_put(f->eng.w, u, NULL), SP_OK);
    json_decref(u);
}

static void put_team(fixture *f, const char *name, const char *members[])
{
    assert_int_equal(store_team_put(f->eng.w, name, 0, NULL), SP_OK);
    for (size_t i = 0; members && members[i]; i++)
        assert_int_equal(store_team_add_member(f->eng.w, name, members[i], NULL), SP_OK);
}

/* Users: root (admin), carol and dan (members), erin (disabled), ann (who
 * starts runs). Teams: eds {carol, dan}, empty {}, gone {erin}, self {ann}. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char url[128];
    strcpy(f->dir, "/tmp/spojit-routing-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(url, sizeof url, "fault:0:sqlite:%s/test.db", f->dir);   /* counts calls */
    sp_error err = SP_ERROR_INIT;
    f->st = store_open(url, &err);
    assert_non_null(f->st);
    f->eng.store = f->st;
    f->eng.w = store_writer(f->st);
    put_user(f, "root", "admin", false);
    put_user(f, "carol", "member", false);
    put_user(f, "dan", "member", false);
    put_user(f, "erin", "member", true);
    put_user(f, "ann", "member", false);
    put_team(f, "eds", (const char *[]){ "carol", "dan", NULL });
    put_team(f, "empty", NULL);
    put_team(f, "gone", (const char *[]){ "erin", NULL });
    put_team(f, "self", (const char *[]){ "ann", NULL });
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_release(f->eng.w);
    store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Routes the assignees given as a JSON text; *out gets the resulting
 * assignees, the return the unroutable record (NULL: routed as written). */
static json_t *route(fixture *f, const char *assignees, int approvals, const char *starter,
                     bool forbid_self, json_t **out)
{
    json_t *a = json_loads(assignees, 0, NULL);
    assert_non_null(a);
    json_t *un = NULL;
    sp_error err = SP_ERROR_INIT;
    if (routing_fallback(&f->eng, &a, starter, forbid_self, approvals, &un, &err) != SP_OK)
        fail_msg("routing_fallback: %s", err.message);
    *out = a;
    return un;
}

static void assert_json(const json_t *got, const char *want)
{
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(w);
    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("got %s, want %s", g, want);
    }
    json_decref(w);
}

/* One case: the assignees after routing, and the record's reasons. */
static void expect(fixture *f, const char *assignees, int approvals, const char *starter,
                   const char *want_assignees, const char *want_reasons)
{
    json_t *got = NULL;
    json_t *un = route(f, assignees, approvals, starter, true, &got);
    assert_json(got, want_assignees);
    if (!want_reasons) {
        if (un)
            fail_msg("%s routed as written, yet got a record: %s", assignees,
                     json_dumps(un, JSON_COMPACT));
    } else {
        assert_non_null(un);
        assert_json(json_object_get(un, "reasons"), want_reasons);
        assert_json(json_object_get(un, "original_assignees"), assignees);
        assert_json(json_object_get(un, "assignees"), want_assignees);
    }
    json_decref(un);
    json_decref(got);
}

static void an_unknown_user_goes_to_the_admins(void **state)
{
    expect(*state, "[\"user:ghost\"]", 1, NULL, "[\"user:root\"]",
           "[\"user:ghost does not exist\"]");
}

static void a_disabled_user_goes_to_the_admins(void **state)
{
    expect(*state, "[\"user:erin\"]", 1, NULL, "[\"user:root\"]", "[\"user:erin is disabled\"]");
}

static void a_team_without_members_goes_to_the_admins(void **state)
{
    expect(*state, "[\"team:empty\"]", 1, NULL, "[\"user:root\"]",
           "[\"team:empty has no members\"]");
    expect(*state, "[\"team:nowhere\"]", 1, NULL, "[\"user:root\"]",
           "[\"team:nowhere does not exist\"]");
}

static void a_team_of_disabled_members_goes_to_the_admins(void **state)
{
    expect(*state, "[\"team:gone\", \"user:erin\"]", 1, NULL, "[\"user:root\"]",
           "[\"team:gone has only disabled members\", \"user:erin is disabled\"]");
}

static void the_starter_alone_under_forbid_self_goes_to_the_admins(void **state)
{
    fixture *f = *state;
    expect(f, "[\"user:ann\", \"team:self\"]", 1, "ann", "[\"user:root\"]",
           "[\"user:ann started the run and may not decide it (forbid_self_approval)\","
           " \"team:self has no active member able to decide but the run's starter"
           " (forbid_self_approval)\"]");
    /* without forbid_self_approval she may decide her own run's gate */
    json_t *got = NULL, *un = route(f, "[\"user:ann\"]", 1, "ann", false, &got);
    assert_null(un);
    assert_json(got, "[\"user:ann\"]");
    json_decref(got);
}

static void approvals_above_the_people_able_goes_to_the_admins(void **state)
{
    fixture *f = *state;
    put_user(f, "root2", "admin", false);
    json_t *got = NULL;
    json_t *un = route(f, "[\"user:carol\", \"user:erin\", \"user:carol\"]", 2, NULL, true, &got);
    assert_non_null(un);
    assert_json(got, "[\"user:root\", \"user:root2\"]");
    assert_json(json_object_get(un, "reasons"),
                "[\"user:erin is disabled\","
                " \"approvals: 2 needs 2 people but only 1 (user:carol) may decide\"]");
    assert_string_equal(json_string_value(json_object_get(un, "reason")),
                        "fewer people can decide than the policy needs");
    assert_json(json_object_get(un, "able"), "[\"user:carol\"]");
    assert_json(json_object_get(un, "short"), "false");
    assert_json(json_object_get(un, "needed"), "2");
    json_decref(un);
    json_decref(got);
    /* the starter is one person fewer under forbid_self; two admins are
     * too few for approvals: 3, so the route stays beside them */
    expect(f, "[\"team:eds\", \"user:ann\"]", 3, "ann",
           "[\"team:eds\", \"user:ann\", \"user:root\", \"user:root2\"]",
           "[\"user:ann started the run and may not decide it (forbid_self_approval)\","
           " \"approvals: 3 needs 3 people but only 2 (user:carol, user:dan) may decide\"]");
}

static void approvals_equal_to_the_people_able_is_routed_as_written(void **state)
{
    fixture *f = *state;
    expect(f, "[\"team:eds\"]", 2, NULL, "[\"team:eds\"]", NULL);
    /* distinct people: carol counts once, dan through the team */
    expect(f, "[\"user:carol\", \"team:eds\", \"user:ghost\"]", 2, NULL,
           "[\"user:carol\", \"team:eds\", \"user:ghost\"]", NULL);
    expect(f, "[\"user:carol\", \"user:dan\", \"user:ann\"]", 3, NULL,
           "[\"user:carol\", \"user:dan\", \"user:ann\"]", NULL);
}

static void too_few_admins_keep_the_route_beside_them_and_say_so(void **state)
{
    fixture *f = *state;
    /* carol and root together meet approvals: 2 */
    json_t *got = NULL;
    json_t *un = route(f, "[\"user:carol\"]", 2, NULL, true, &got);
    assert_non_null(un);
    assert_json(got, "[\"user:carol\", \"user:root\"]");
    assert_json(json_object_get(un, "admins"), "[\"user:root\"]");
    assert_json(json_object_get(un, "short"), "false");
    assert_json(json_object_get(un, "reasons"),
                "[\"approvals: 2 needs 2 people but only 1 (user:carol) may decide\"]");
    json_decref(un);
    json_decref(got);
    /* even together too few: the record says so */
    expect(f, "[\"user:carol\", \"user:erin\"]", 3, NULL,
           "[\"user:carol\", \"user:erin\", \"user:root\"]",
           "[\"user:erin is disabled\","
           " \"approvals: 3 needs 3 people but only 1 (user:carol) may decide\","
           " \"approvals: 3 needs 3 people but only 2 (user:carol, user:root) may decide"
           " even with the admins\"]");
    un = route(f, "[\"user:carol\"]", 3, NULL, true, &got);
    assert_json(json_object_get(un, "short"), "true");
    json_decref(un);
    json_decref(got);
    /* the starter admin is left out while another admin is there */
    put_user(f, "root2", "admin", false);
    expect(f, "[\"user:ghost\"]", 1, "root", "[\"user:root2\"]",
           "[\"user:ghost does not exist\"]");
}

static void with_no_admin_at_all_the_gate_keeps_its_route_and_says_so(void **state)
{
    fixture *f = *state;
    put_user(f, "root", "admin", true);     /* the only admin, disabled */
    expect(f, "[\"user:ghost\", \"team:empty\"]", 1, NULL, "[\"user:ghost\", \"team:empty\"]",
           "[\"user:ghost does not exist\", \"team:empty has no members\","
           " \"approvals: 1 needs 1 person but nobody may decide"
           " and there is no active admin either\"]");
    json_t *got = NULL, *un = route(f, "[\"user:ghost\"]", 1, NULL, true, &got);
    assert_json(json_object_get(un, "admins"), "[]");
    assert_json(json_object_get(un, "short"), "true");
    assert_string_equal(json_string_value(json_object_get(un, "reason")),
                        "no active assignee can decide");
    json_decref(un);
    json_decref(got);
    /* an empty route */
    expect(f, "[]", 1, NULL, "[]",
           "[\"the route names no assignee\", \"approvals: 1 needs 1 person but nobody may"
           " decide and there is no active admin either\"]");
}

/* The usual answer is cheap: one store call per assignee not yet known,
 * none once enough people are found, and no reasons read unless the gate
 * falls back. */
static size_t calls_for(fixture *f, const char *assignees, int approvals)
{
    json_t *got = NULL;
    store_fault_arm(f->st, 0);              /* restarts the count; never fails */
    json_t *un = route(f, assignees, approvals, NULL, true, &got);
    long calls = store_fault_calls(f->st);
    assert_null(un);
    json_decref(got);
    return (size_t)calls;
}

static void the_usual_answer_costs_one_query_per_new_assignee(void **state)
{
    fixture *f = *state;
    assert_int_equal(calls_for(f, "[\"user:carol\", \"user:ghost\", \"team:eds\"]", 1), 1);
    assert_int_equal(calls_for(f, "[\"team:eds\", \"user:carol\", \"user:dan\"]", 2), 1);
    assert_int_equal(calls_for(f, "[\"user:carol\", \"user:carol\", \"team:eds\"]", 2), 2);
    assert_int_equal(
        calls_for(f, "[\"user:ghost\", \"team:gone\", \"team:gone\", \"user:carol\"]", 1), 3);
}

/* ---- an escalation to nobody, through the engine ---- */

static const principal admin = { .name = "admin", .role = "admin", .scope = "admin" };

static const char *escalating_yaml =
    "name: esc\n"
    "steps:\n"
    "  - id: gate\n"
    "    approval:\n"
    "      to: [user:carol]\n"
    "      escalate:\n"
    "        - {after: 1m, to: [user:ghost, user:dan], mode: replace}\n";

typedef struct {
    json_t *rows;       /* [{type, data}] */
} rows_ctx;

static int collect(void *ctx, const store_audit_row *row)
{
    rows_ctx *r = ctx;
    json_t *data = row->data ? json_loads(row->data, 0, NULL) : json_null();
    json_array_append_new(r->rows, json_pack("{s:s%, s:o}", "type", row->type, row->type_len,
                                             "data", data ? data : json_null()));
    return 0;
}

static void call(engine *e, engine_command kind, const char *args_json, int want, json_t **out)
{
    json_t *args = args_json ? json_loads(args_json, 0, NULL) : NULL;
    json_t *reply = NULL;
    int status = engine_call(e, kind, &admin, args, &reply);
    if (status != want)
        fail_msg("command %d: %d, want %d: %s", (int)kind, status, want,
                 reply ? json_dumps(reply, JSON_COMPACT) : "");
    json_decref(args);
    if (out)
        *out = reply;
    else
        json_decref(reply);
}

static void an_escalation_to_nobody_goes_to_the_admins(void **state)
{
    char dir[64] = "/tmp/spojit-routing-esc-XXXXXX", url[128];
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/test.db", dir);
    sp_error err = SP_ERROR_INIT;
    store *st = store_open(url, &err);
    assert_non_null(st);
    assert_true(sodium_init() >= 0);
    clock_enable_test();
    secrets_key *master = secrets_key_random();
    audit_key *akey = NULL;
    bool created;
    assert_int_equal(audit_key_setup(store_writer(st), master, &akey, &created, &err), SP_OK);
    engine_config cfg = { .audit_key = akey };
    engine *e = engine_start(st, &cfg, &err);
    assert_non_null(e);
    call(e, ENGINE_BOOTSTRAP, NULL, 200, NULL);
    call(e, ENGINE_CREATE_USER, "{\"name\": \"boss\", \"role\": \"admin\"}", 201, NULL);
    call(e, ENGINE_CREATE_USER, "{\"name\": \"carol\"}", 201, NULL);
    call(e, ENGINE_CREATE_USER, "{\"name\": \"dan\"}", 201, NULL);
    json_t *wf = json_pack("{s:s, s:s}", "source", escalating_yaml, "format", "yaml");
    char *wf_text = json_dumps(wf, 0);
    call(e, ENGINE_APPLY_WORKFLOW, wf_text, 201, NULL);
    free(wf_text);
    json_decref(wf);
    json_t *run = NULL;
    call(e, ENGINE_START_RUN, "{\"workflow\": \"esc\", \"input\": {}}", 201, &run);
    const char *approval_id =
        json_string_value(json_object_get(json_object_get(run, "waiting"), "approval_id"));
    assert_non_null(approval_id);
    char id[64];
    snprintf(id, sizeof id, "%s", approval_id);
    json_decref(run);

    /* dan was able when the gate opened; by the time it escalates he is not */
    call(e, ENGINE_UPDATE_USER, "{\"name\": \"dan\", \"disabled\": true}", 200, NULL);
    clock_advance(61 * 1000);
    call(e, ENGINE_AWAIT_TIMERS, NULL, 200, NULL);

    store_conn *r = store_reader(st);
    json_t *gate = NULL;
    assert_int_equal(store_approval_get(r, id, &gate, &err), SP_OK);
    /* the run was started by admin: forbid_self leaves boss */
    assert_json(json_object_get(gate, "assignees"), "[\"user:boss\"]");
    assert_json(json_object_get(gate, "escalation_level"), "1");
    json_decref(gate);
    rows_ctx rows = { json_array() };
    store_audit_filter filter = { .approval_id = id };
    assert_int_equal(store_audit_scan(r, &filter, collect, &rows, &err), SP_OK);
    store_release(r);
    size_t i;
    json_t *row, *un = NULL;
    int escalated_at = -1, unroutable_at = -1;
    json_array_foreach(rows.rows, i, row) {
        const char *type = json_string_value(json_object_get(row, "type"));
        if (strcmp(type, "gate.unroutable") == 0) {
            un = json_object_get(row, "data");
            unroutable_at = (int)i;
        } else if (strcmp(type, "gate.escalated") == 0) {
            escalated_at = (int)i;
        }
    }
    if (!un)
        fail_msg("no gate.unroutable row: %s", json_dumps(rows.rows, JSON_COMPACT));
    assert_true(unroutable_at < escalated_at);
    assert_json(json_object_get(un, "original_assignees"), "[\"user:ghost\", \"user:dan\"]");
    assert_json(json_object_get(un, "reasons"),
                "[\"user:ghost does not exist\", \"user:dan is disabled\"]");
    assert_json(json_object_get(un, "assignees"), "[\"user:boss\"]");
    assert_json(json_object_get(un, "escalation_level"), "1");
    assert_string_equal(json_string_value(json_object_get(un, "step")), "gate");
    json_decref(rows.rows);

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
        cmocka_unit_test_setup_teardown(an_unknown_user_goes_to_the_admins, setup, teardown),
        cmocka_unit_test_setup_teardown(a_disabled_user_goes_to_the_admins, setup, teardown),
        cmocka_unit_test_setup_teardown(a_team_without_members_goes_to_the_admins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_team_of_disabled_members_goes_to_the_admins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_starter_alone_under_forbid_self_goes_to_the_admins,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(approvals_above_the_people_able_goes_to_the_admins,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(approvals_equal_to_the_people_able_is_routed_as_written,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(too_few_admins_keep_the_route_beside_them_and_say_so,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            with_no_admin_at_all_the_gate_keeps_its_route_and_says_so, setup, teardown),
        cmocka_unit_test_setup_teardown(the_usual_answer_costs_one_query_per_new_assignee,
                                        setup, teardown),
        cmocka_unit_test(an_escalation_to_nobody_goes_to_the_admins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
