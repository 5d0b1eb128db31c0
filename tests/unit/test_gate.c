/* test_gate.c - the approval gate state machine (gate/gate.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "core/jsonx.h"
#include "gate/gate.h"

static json_t *pending_gate(int needed, const char *require_comment)
{
    return json_pack("{s:s, s:s, s:s, s:{s:i}, s:[s, s], s:{s:i, s:b, s:s}, s:[],"
                     " s:s, s:[s], s:i}",
                     "id", "apr_1", "run_id", "run_1", "status", "pending",
                     "proposal", "amount", 612,
                     "assignees", "team:finance", "user:dora",
                     "policy", "approvals", needed, "forbid_self_approval", 1,
                     "require_comment", require_comment,
                     "decisions", "_started_by", "sam", "_editable", "/amount",
                     "_needed", needed);
}

static gate_decision decision(const char *by, json_t *teams, const char *what)
{
    gate_decision d = { .by = by, .teams = teams, .decision = what, .via = "api", .at = 0 };
    return d;
}

static void team_member_is_assignee(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_t *finance = json_pack("[s]", "finance"), *none = json_array();
    assert_true(gate_is_assignee(gate, "alice", finance));
    assert_true(gate_is_assignee(gate, "dora", none));
    assert_false(gate_is_assignee(gate, "bob", none));
    json_decref(finance);
    json_decref(none);
    json_decref(gate);
}

static void one_approval_resolves_a_single_approver_gate(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_t *teams = json_pack("[s]", "finance");
    gate_decision d = decision("alice", teams, "approve");
    bool resolved = false;
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_OK);
    assert_true(resolved);
    assert_string_equal(json_string_value(json_object_get(gate, "status")), "approved");
    assert_int_equal(json_array_size(json_object_get(gate, "decisions")), 1);
    assert_non_null(json_object_get(gate, "resolved_at"));
    json_decref(teams);
    json_decref(gate);
}

static void decision_on_a_resolved_gate_conflicts(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_t *none = json_array();
    gate_decision d = decision("dora", none, "approve");
    bool resolved;
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_OK);
    json_t *teams = json_pack("[s]", "finance");
    gate_decision late = decision("alice", teams, "approve");
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(gate_decide(gate, &late, &resolved, &err), SP_ECONFLICT);
    assert_false(resolved);
    assert_non_null(strstr(err.message, "already approved"));
    assert_int_equal(json_array_size(json_object_get(gate, "decisions")), 1);
    json_decref(teams);
    json_decref(none);
    json_decref(gate);
}

static void non_assignee_is_forbidden(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_t *teams = json_pack("[s]", "support");
    gate_decision d = decision("bob", teams, "approve");
    bool resolved;
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_EFORBIDDEN);
    assert_string_equal(json_string_value(json_object_get(gate, "status")), "pending");
    json_decref(teams);
    json_decref(gate);
}

static void starter_cannot_approve_own_run(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_object_set_new(gate, "_started_by", json_string("dora"));
    json_t *none = json_array();
    gate_decision d = decision("dora", none, "approve");
    bool resolved;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(gate_decide(gate, &d, &resolved, &err), SP_EFORBIDDEN);
    assert_non_null(strstr(err.message, "forbid_self_approval"));
    json_decref(none);
    json_decref(gate);
}

static void two_approvals_need_two_distinct_people(void **state)
{
    json_t *gate = pending_gate(2, "reject");
    json_t *teams = json_pack("[s]", "finance"), *none = json_array();
    bool resolved;
    gate_decision first = decision("alice", teams, "approve");
    assert_int_equal(gate_decide(gate, &first, &resolved, NULL), SP_OK);
    assert_false(resolved);
    assert_string_equal(json_string_value(json_object_get(gate, "status")), "pending");
    assert_int_equal(gate_decide(gate, &first, &resolved, NULL), SP_ECONFLICT);
    gate_decision second = decision("dora", none, "approve");
    assert_int_equal(gate_decide(gate, &second, &resolved, NULL), SP_OK);
    assert_true(resolved);
    assert_string_equal(json_string_value(json_object_get(gate, "status")), "approved");
    json_decref(teams);
    json_decref(none);
    json_decref(gate);
}

static void one_reject_resolves_a_quorum_gate(void **state)
{
    json_t *gate = pending_gate(2, "reject");
    json_t *none = json_array();
    gate_decision d = decision("dora", none, "reject");
    d.comment = "too much";
    bool resolved;
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_OK);
    assert_true(resolved);
    assert_string_equal(json_string_value(json_object_get(gate, "status")), "rejected");
    json_decref(none);
    json_decref(gate);
}

static void reject_needs_a_comment_by_default(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_t *none = json_array();
    gate_decision d = decision("dora", none, "reject");
    bool resolved;
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_EINVALID);
    d.comment = "";
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_EINVALID);
    assert_int_equal(json_array_size(json_object_get(gate, "decisions")), 0);
    json_decref(none);
    json_decref(gate);
}

static void always_requires_a_comment_to_approve(void **state)
{
    json_t *gate = pending_gate(1, "always");
    json_t *none = json_array();
    gate_decision d = decision("dora", none, "approve");
    bool resolved;
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_EINVALID);
    d.comment = "ok";
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_OK);
    json_decref(none);
    json_decref(gate);
}

static void edits_change_the_proposal_and_are_recorded(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_t *none = json_array();
    json_t *edits = json_pack("{s:i}", "/amount", 550);
    gate_decision d = decision("dora", none, "approve");
    d.edits = edits;
    bool resolved;
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_OK);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(gate, "proposal"), "amount")), 550);
    json_t *rec = json_object_get(json_object_get(json_array_get(json_object_get(gate, "decisions"), 0),
                                                  "edits"), "/amount");
    assert_int_equal(json_integer_value(json_object_get(rec, "from")), 612);
    assert_int_equal(json_integer_value(json_object_get(rec, "to")), 550);
    json_decref(edits);
    json_decref(none);
    json_decref(gate);
}

static void edit_of_a_field_not_editable_is_refused(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_t *none = json_array();
    json_t *edits = json_pack("{s:s}", "/charge", "ch_other");
    gate_decision d = decision("dora", none, "approve");
    d.edits = edits;
    bool resolved;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(gate_decide(gate, &d, &resolved, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "/charge"));
    assert_string_equal(json_string_value(json_object_get(gate, "status")), "pending");
    assert_null(json_object_get(json_object_get(gate, "proposal"), "charge"));
    json_decref(edits);
    json_decref(none);
    json_decref(gate);
}

/* A gate whose editable map carries bounds, as gate_open and POST
 * /v1/approvals store it. */
static json_t *bounded_gate(void)
{
    json_t *gate = pending_gate(1, "reject");
    json_object_set_new(gate, "proposal",
                        json_pack("{s:i, s:s, s:{s:i}, s:n}", "amount", 612, "note", "as asked",
                                  "meta", "a", 1, "reason"));
    json_object_del(gate, "_editable");
    json_object_set_new(gate, "editable",
                        json_pack("{s:{s:s, s:i, s:i}, s:{}, s:{}, s:{s:s, s:i}}",
                                  "/amount", "type", "number", "minimum", 0, "maximum", 612,
                                  "/note", "/meta", "/reason", "type", "string", "maxLength", 20));
    return gate;
}

/* Decides with one edit; returns the code, err filled. */
static sp_code decide_edit(json_t *gate, json_t *edits, sp_error *err)
{
    json_t *none = json_array();
    gate_decision d = decision("dora", none, "approve");
    d.edits = edits;
    bool resolved;
    sp_code rc = gate_decide(gate, &d, &resolved, err);
    json_decref(none);
    json_decref(edits);
    return rc;
}

static void edits_keep_their_kind_and_their_bounds(void **state)
{
    static const struct { const char *edits; const char *ptr; const char *says; } refused[] = {
        { "{\"/amount\": -5}", "/amount", "must be at least 0 (bound minimum)" },
        { "{\"/amount\": 613}", "/amount", "must be at most 612 (bound maximum)" },
        { "{\"/amount\": {\"value\": 1}}", "/amount", "must stay a number, as in the proposal; got an object" },
        { "{\"/amount\": \"550\"}", "/amount", "must stay a number" },
        { "{\"/amount\": null}", "/amount", "got null" },
        { "{\"/note\": 5}", "/note", "must stay a string" },
        { "{\"/meta\": [1]}", "/meta", "must stay an object" },
        { "{\"/reason\": 7}", "/reason", "expected string, got integer (bound type)" },
        { "{\"/reason\": \"a reason far longer than twenty\"}", "/reason", "(bound maxLength)" },
        { "{\"/amount\": 1, \"/note\": false}", "/note", "must stay a string" },
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        json_t *gate = bounded_gate();
        sp_error err = SP_ERROR_INIT;
        json_t *edits = json_loads(refused[i].edits, 0, NULL);
        assert_non_null(edits);
        if (decide_edit(gate, edits, &err) != SP_EINVALID)
            fail_msg("%s: accepted", refused[i].edits);
        if (!strstr(err.message, refused[i].ptr) || !strstr(err.message, refused[i].says))
            fail_msg("%s: '%s' does not say '%s'", refused[i].edits, err.message, refused[i].says);
        /* Nothing changed: the gate is as it was. */
        assert_string_equal(json_string_value(json_object_get(gate, "status")), "pending");
        assert_int_equal(json_array_size(json_object_get(gate, "decisions")), 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(gate, "proposal"),
                                                            "amount")), 612);
        sp_error_clear(&err);
        json_decref(gate);
    }
    /* Within bounds, of the same kind: a real for an integer is a number;
     * a null original may become a value (within its bounds). */
    json_t *gate = bounded_gate();
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(decide_edit(gate, json_pack("{s:f, s:s, s:{s:i}, s:s}", "/amount", 0.5,
                                                 "/note", "changed", "/meta", "b", 2,
                                                 "/reason", "goodwill"), &err), SP_OK);
    json_t *p = json_object_get(gate, "proposal");
    assert_true(json_number_value(json_object_get(p, "amount")) == 0.5);
    assert_string_equal(json_str(p, "reason"), "goodwill");
    assert_string_equal(json_string_value(json_object_get(gate, "status")), "approved");
    json_decref(gate);
    gate = bounded_gate();
    assert_int_equal(decide_edit(gate, json_pack("{s:i}", "/amount", 612), &err), SP_OK);
    json_decref(gate);
    sp_error_clear(&err);
}

/* The plain list form (a gate opened before bounds, "_editable") keeps
 * kinds too. */
static void list_form_edits_keep_their_kind(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(decide_edit(gate, json_pack("{s:s}", "/amount", "lots"), &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "/amount must stay a number"));
    sp_error_clear(&err);
    assert_int_equal(decide_edit(gate, json_pack("{s:i}", "/amount", -1), &err), SP_OK);
    json_decref(gate);
}

static void unknown_decision_word_is_invalid(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_t *none = json_array();
    gate_decision d = decision("dora", none, "maybe");
    bool resolved;
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_EINVALID);
    json_decref(none);
    json_decref(gate);
}

static void expired_gate_answers_expired(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_object_set_new(gate, "status", json_string("expired"));
    json_t *none = json_array();
    gate_decision d = decision("dora", none, "approve");
    bool resolved;
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_EEXPIRED);
    json_decref(none);
    json_decref(gate);
}

/* A pending gate past its due_at refuses decisions before its timer fires;
 * one moment earlier it still takes them. */
static void a_gate_past_due_is_expired_before_its_timer_fires(void **state)
{
    json_t *gate = pending_gate(1, "reject");
    json_object_set_new(gate, "due_at", json_string("2026-01-01T00:00:00.000Z"));
    json_t *none = json_array();
    gate_decision d = decision("dora", none, "approve");
    bool resolved;
    assert_int_equal(time_parse("2026-01-01T00:00:00.000Z", &d.at), 0);
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_EEXPIRED);
    assert_string_equal(json_string_value(json_object_get(gate, "status")), "pending");
    d.at -= 1;
    assert_int_equal(gate_decide(gate, &d, &resolved, NULL), SP_OK);
    assert_true(resolved);
    json_decref(none);
    json_decref(gate);
}

/* An edit of /meta changes /meta/a too: /meta/a's bounds hold on the
 * edited proposal whichever field the edits name, and in either order. */
static void an_edit_around_a_bounded_field_keeps_its_bounds(void **state)
{
    static const char *const refused[] = {
        "{\"/meta\": {\"a\": 99}}",                   /* the parent, past the child's bound */
        "{\"/meta\": {\"a\": 5}, \"/meta/a\": 99}",  /* both */
        "{\"/meta/a\": 5, \"/meta\": {\"a\": 99}}",  /* both, the other order */
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        json_t *gate = bounded_gate();
        json_object_set_new(json_object_get(gate, "editable"), "/meta/a",
                            json_pack("{s:s, s:i}", "type", "number", "maximum", 10));
        sp_error err = SP_ERROR_INIT;
        if (decide_edit(gate, json_loads(refused[i], 0, NULL), &err) != SP_EINVALID)
            fail_msg("%s: accepted", refused[i]);
        if (!strstr(err.message, "/meta/a") || !strstr(err.message, "maximum"))
            fail_msg("%s: '%s' does not name /meta/a and its bound", refused[i], err.message);
        assert_string_equal(json_string_value(json_object_get(gate, "status")), "pending");
        sp_error_clear(&err);
        json_decref(gate);
    }
    json_t *gate = bounded_gate();
    json_object_set_new(json_object_get(gate, "editable"), "/meta/a",
                        json_pack("{s:s, s:i}", "type", "number", "maximum", 10));
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(decide_edit(gate, json_loads("{\"/meta\": {\"a\": 7}}", 0, NULL), &err), SP_OK);
    json_decref(gate);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(team_member_is_assignee),
        cmocka_unit_test(one_approval_resolves_a_single_approver_gate),
        cmocka_unit_test(decision_on_a_resolved_gate_conflicts),
        cmocka_unit_test(non_assignee_is_forbidden),
        cmocka_unit_test(starter_cannot_approve_own_run),
        cmocka_unit_test(two_approvals_need_two_distinct_people),
        cmocka_unit_test(one_reject_resolves_a_quorum_gate),
        cmocka_unit_test(reject_needs_a_comment_by_default),
        cmocka_unit_test(always_requires_a_comment_to_approve),
        cmocka_unit_test(edits_change_the_proposal_and_are_recorded),
        cmocka_unit_test(edit_of_a_field_not_editable_is_refused),
        cmocka_unit_test(edits_keep_their_kind_and_their_bounds),
        cmocka_unit_test(list_form_edits_keep_their_kind),
        cmocka_unit_test(an_edit_around_a_bounded_field_keeps_its_bounds),
        cmocka_unit_test(unknown_decision_word_is_invalid),
        cmocka_unit_test(expired_gate_answers_expired),
        cmocka_unit_test(a_gate_past_due_is_expired_before_its_timer_fires),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
