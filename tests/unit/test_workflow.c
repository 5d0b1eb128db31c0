/* test_workflow.c - loading definitions: parsing, validation, compilation,
 * hashing, and checking run input against input_schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "workflow/workflow.h"

/* ---- helpers ---- */

static workflow *load(const char *text, sp_error *err)
{
    return workflow_load(text, strlen(text), WF_FORMAT_YAML, err);
}

/* Loads text that must fail with code; returns err's details (borrowed). */
static json_t *load_fails(const char *text, sp_code code, sp_error *err)
{
    workflow *wf = load(text, err);
    if (wf)
        fail_msg("loaded, but should have failed with %s", sp_code_name(code));
    if (err->code != code)
        fail_msg("code %s, message: %s", sp_code_name(err->code), err->message);
    return err->details;
}

/* The problem at path, or NULL. */
static json_t *problem_at(json_t *details, const char *path)
{
    size_t i;
    json_t *p;
    json_array_foreach(details, i, p)
        if (strcmp(json_str(p, "path"), path) == 0)
            return p;
    return NULL;
}

static void assert_problem(json_t *details, const char *path, const char *fragment, int line)
{
    json_t *p = problem_at(details, path);
    if (!p) {
        char *d = json_dumps(details, JSON_INDENT(1));
        fail_msg("no problem at %s; details: %s", path, d);
    }
    if (!strstr(json_str(p, "message"), fragment))
        fail_msg("problem at %s is '%s', expected it to mention '%s'", path,
                 json_str(p, "message"), fragment);
    if (line > 0)
        assert_int_equal(json_integer_value(json_object_get(p, "line")), line);
}

/* The refund example of SPEC §2 with the kinds not built yet replaced by
 * transforms, plus every gate key. */
static const char *refund_yaml =
    "name: refund\n"                                                           /* 1 */
    "description: Refund a customer; large refunds need finance.\n"
    "input_schema: {type: object, required: [customer, charge, amount]}\n"
    "steps:\n"
    "  - id: draft\n"                                                          /* 5 */
    "    transform: '{arguments: {charge: .input.charge, amount: .input.amount}, reasoning: \"r\"}'\n"
    "  - id: issue_refund\n"
    "    approval:\n"
    "      when: .steps.draft.output.arguments.amount > 500\n"
    "      title: \"Refund · over auto-approve limit\"\n"                      /* 10 */
    "      summary: \"AI drafted a ${{ .steps.draft.output.arguments.amount }} refund\"\n"
    "      urgency: high\n"
    "      proposal: .steps.draft.output.arguments\n"
    "      reasoning: .steps.draft.output.reasoning\n"
    "      context: '{customer: .input.customer}'\n"                          /* 15 */
    "      route:\n"
    "        - {when: '.input.customer.tier == \"vip\"', to: [team:finance]}\n"
    "        - {to: [team:support-leads, user:bob]}\n"
    "      policy: {approvals: 2, forbid_self_approval: false, require_comment: always}\n"
    "      editable: [/amount, /charge]\n"                                     /* 20 */
    "      timeout: 24h\n"
    "      escalate: [{after: 4h, to: [user:cfo]}, {after: PT8H, to: user:ceo, mode: replace}]\n"
    "      remind: {every: 2h}\n"
    "      on_timeout: reject\n"
    "      notify: [email]\n"                                                  /* 25 */
    "    on_reject: tell_customer\n"
    "    on_error: fail\n"
    "    retry: {max_attempts: 3, backoff: 10s, max_backoff: 5m}\n"
    "    transform: '{refunded: .proposal.amount}'\n"
    "    next: done\n"                                                         /* 30 */
    "  - id: tell_customer\n"
    "    transform: '{message: \"no\"}'\n"
    "    next: declined\n"
    "  - id: done\n"
    "    succeed: {output: .steps.issue_refund.output}\n"                      /* 35 */
    "  - id: declined\n"
    "    fail: \"refund declined for {{ .input.customer.id }}\"\n"
    "triggers: []\n";

/* ---- a full workflow ---- */

static void refund_example_loads_into_steps_and_gate(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load(refund_yaml, &err);
    if (!wf)
        fail_msg("%s", err.message);
    assert_string_equal(wf->name, "refund");
    assert_string_equal(wf->description, "Refund a customer; large refunds need finance.");
    assert_non_null(wf->input_schema);
    assert_non_null(wf->program);
    assert_int_equal(wf->version, 0);
    assert_int_equal(strlen(wf->hash), 64);
    assert_int_equal(wf->nsteps, 5);

    const step_def *draft = &wf->steps[0], *issue = &wf->steps[1];
    assert_string_equal(draft->id, "draft");
    assert_int_equal(draft->kind, STEP_TRANSFORM);
    assert_true(draft->u.transform.expr >= 0);
    assert_int_equal(draft->next, 1);               /* default: the next step */
    assert_int_equal(draft->on_error, FLOW_FAIL);
    assert_null(draft->gate);

    assert_int_equal(issue->kind, STEP_TRANSFORM);  /* a transform wrapped by a gate */
    assert_int_equal(issue->next, 3);
    assert_int_equal(issue->on_reject, 2);
    assert_int_equal(issue->on_error, FLOW_FAIL);
    const gate_def *g = issue->gate;
    assert_non_null(g);
    assert_true(g->when >= 0);
    assert_non_null(g->title);
    assert_non_null(g->summary);
    assert_string_equal(g->urgency, "high");
    assert_true(g->proposal >= 0 && g->reasoning >= 0 && g->context >= 0);
    assert_int_equal(g->nroutes, 2);
    assert_true(g->routes[0].when >= 0);
    assert_int_equal(g->routes[0].nto, 1);
    assert_string_equal(g->routes[0].to[0], "team:finance");
    assert_int_equal(g->routes[1].when, EXPR_NONE);
    assert_int_equal(g->routes[1].nto, 2);
    assert_string_equal(g->routes[1].to[1], "user:bob");
    assert_int_equal(g->approvals, 2);
    assert_false(g->forbid_self_approval);
    assert_int_equal(g->require_comment, REQUIRE_COMMENT_ALWAYS);
    /* the list form: each pointer with no bounds */
    char *ed = json_dumps(g->editable, JSON_COMPACT);
    assert_string_equal(ed, "{\"/amount\":{},\"/charge\":{}}");
    free(ed);
    assert_int_equal(g->timeout_ms, 24LL * 3600 * 1000);
    assert_int_equal(g->nescalations, 2);
    assert_int_equal(g->escalations[0].after_ms, 4LL * 3600 * 1000);
    assert_false(g->escalations[0].replace);
    assert_string_equal(g->escalations[0].to[0], "user:cfo");
    assert_int_equal(g->escalations[1].after_ms, 8LL * 3600 * 1000);
    assert_true(g->escalations[1].replace);
    assert_string_equal(g->escalations[1].to[0], "user:ceo");
    assert_int_equal(g->remind_every_ms, 2LL * 3600 * 1000);
    assert_string_equal(g->on_timeout, "reject");

    assert_int_equal(wf->steps[2].next, 4);
    assert_int_equal(wf->steps[3].kind, STEP_SUCCEED);
    assert_true(wf->steps[3].u.succeed.output >= 0);
    assert_int_equal(wf->steps[4].kind, STEP_FAIL);
    assert_non_null(wf->steps[4].u.fail.error);
    assert_int_equal(wf->steps[4].next, FLOW_FAIL);

    assert_int_equal(workflow_step_index(wf, "done"), 3);
    assert_int_equal(workflow_step_index(wf, "nope"), -1);
    /* The definition is the parsed document, as the API shows it. */
    assert_string_equal(json_str(wf->definition, "name"), "refund");
    json_t *when = json_object_get(json_object_get(json_array_get(
        json_object_get(wf->definition, "steps"), 1), "approval"), "when");
    assert_string_equal(json_string_value(when), ".steps.draft.output.arguments.amount > 500");
    workflow_free(wf);
}

static void the_last_step_defaults_to_end_and_switch_targets_resolve(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: s\n"
                        "steps:\n"
                        "  - id: pick\n"
                        "    switch:\n"
                        "      - {when: '.input.a', next: one}\n"
                        "      - {when: '.input.b', next: end}\n"
                        "      - {when: '.input.c', next: fail}\n"
                        "      - {next: two}\n"
                        "  - id: one\n"
                        "    transform: .\n"
                        "    next: end\n"
                        "  - id: two\n"
                        "    transform: .input\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    const step_def *s = &wf->steps[0];
    assert_int_equal(s->kind, STEP_SWITCH);
    assert_int_equal(s->u.sw.ncases, 4);
    assert_int_equal(s->u.sw.cases[0].next, 1);
    assert_int_equal(s->u.sw.cases[1].next, FLOW_END);
    assert_int_equal(s->u.sw.cases[2].next, FLOW_FAIL);
    assert_int_equal(s->u.sw.cases[3].when, EXPR_NONE);
    assert_int_equal(s->u.sw.cases[3].next, 2);
    assert_int_equal(wf->steps[1].next, FLOW_END);
    assert_int_equal(wf->steps[2].next, FLOW_END);
    workflow_free(wf);
}

static void approval_alone_is_a_gate_step_with_defaults(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: g\n"
                        "steps:\n"
                        "  - id: check\n"
                        "    approval: {to: team:editors}\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    const step_def *s = &wf->steps[0];
    assert_int_equal(s->kind, STEP_APPROVAL);
    assert_int_equal(s->on_reject, FLOW_FAIL);
    const gate_def *g = s->gate;
    assert_non_null(g);
    assert_int_equal(g->when, EXPR_NONE);
    assert_null(g->title);
    assert_null(g->summary);
    assert_string_equal(g->urgency, "normal");
    assert_int_equal(g->proposal, EXPR_NONE);
    assert_int_equal(g->reasoning, EXPR_NONE);
    assert_int_equal(g->context, EXPR_NONE);
    assert_int_equal(g->nroutes, 1);
    assert_int_equal(g->routes[0].when, EXPR_NONE);
    assert_int_equal(g->routes[0].nto, 1);
    assert_string_equal(g->routes[0].to[0], "team:editors");
    assert_int_equal(g->approvals, 1);
    assert_true(g->forbid_self_approval);
    assert_int_equal(g->require_comment, REQUIRE_COMMENT_REJECT);
    assert_null(g->editable);
    assert_int_equal(g->timeout_ms, 0);
    assert_null(g->on_timeout);
    assert_int_equal(g->nescalations, 0);
    assert_int_equal(g->remind_every_ms, 0);
    workflow_free(wf);
}

static void policy_all_and_require_comment_in_the_gate_are_accepted(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: g\n"
                        "steps:\n"
                        "  - id: check\n"
                        "    approval:\n"
                        "      to: [team:editors]\n"
                        "      policy: {approvals: all}\n"
                        "      require_comment: never\n"
                        "      on_timeout: after\n"
                        "      timeout: 1h\n"
                        "  - id: after\n"
                        "    succeed: ~\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    assert_int_equal(wf->steps[0].gate->approvals, 0);
    assert_int_equal(wf->steps[0].gate->require_comment, REQUIRE_COMMENT_NEVER);
    assert_string_equal(wf->steps[0].gate->on_timeout, "after");
    assert_int_equal(wf->steps[1].u.succeed.output, EXPR_NONE);
    workflow_free(wf);
}

static void the_bundled_examples_load(void **state)
{
    const char *files[] = { "examples/refund.yaml", "examples/publish-content.yaml",
                            "examples/customer-message.yaml" };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        FILE *f = fopen(files[i], "rb");
        if (!f)
            skip();     /* run from elsewhere than the repository root */
        static char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        sp_error err = SP_ERROR_INIT;
        workflow *wf = workflow_load(buf, n, WF_FORMAT_YAML, &err);
        if (!wf)
            fail_msg("%s: %s", files[i], err.message);
        workflow_free(wf);
    }
}

/* ---- syntax ---- */

static void broken_yaml_names_the_line(void **state)
{
    sp_error err = SP_ERROR_INIT;
    load_fails("name: x\nsteps:\n  - id: a\n    transform: [1, 2\n", SP_EBADINPUT, &err);
    assert_non_null(strstr(err.message, "line "));
    sp_error_clear(&err);
    load_fails("name: x\nsteps:\n  - id: a\n   transform: .\n", SP_EBADINPUT, &err);
    assert_non_null(strstr(err.message, "line 4, column 4: "));
    sp_error_clear(&err);
    load_fails("name: x\nsteps: \"unclosed\n", SP_EBADINPUT, &err);
    assert_non_null(strstr(err.message, "line 2, column "));
    sp_error_clear(&err);
}

static void duplicate_keys_are_refused_with_their_place(void **state)
{
    sp_error err = SP_ERROR_INIT;
    load_fails("name: x\nsteps: []\nname: y\n", SP_EBADINPUT, &err);
    assert_string_equal(err.message, "line 3, column 1: duplicate key 'name'");
    sp_error_clear(&err);
}

static void aliases_that_expand_too_far_are_refused(void **state)
{
    /* A "billion laughs": each level doubles ten times. */
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                              i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    sp_error err = SP_ERROR_INIT;
    load_fails(text, SP_EBADINPUT, &err);
    assert_non_null(strstr(err.message, "aliases expand to more than"));
    sp_error_clear(&err);

    /* A small alias is fine: it is copied in place. */
    workflow *wf = load("name: a\nsteps:\n"
                        "  - id: x\n    approval: {to: &who [team:t]}\n"
                        "  - id: y\n    approval: {to: *who}\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    assert_string_equal(wf->steps[1].gate->routes[0].to[0], "team:t");
    workflow_free(wf);
}

static void nesting_deeper_than_the_limit_is_refused(void **state)
{
    char text[512] = "name: x\nsteps: ";
    size_t n = strlen(text);
    for (int i = 0; i < SP_JSON_MAX_DEPTH + 2; i++)
        text[n++] = '[';
    for (int i = 0; i < SP_JSON_MAX_DEPTH + 2; i++)
        text[n++] = ']';
    text[n] = '\0';
    sp_error err = SP_ERROR_INIT;
    load_fails(text, SP_EBADINPUT, &err);
    sp_error_clear(&err);
}

static void text_that_is_not_one_utf8_document_is_refused(void **state)
{
    sp_error err = SP_ERROR_INIT;
    load_fails("name: x\n---\nname: y\n", SP_EBADINPUT, &err);
    assert_non_null(strstr(err.message, "only one document"));
    sp_error_clear(&err);
    load_fails("name: caf\xe9\n", SP_EBADINPUT, &err);
    assert_string_equal(err.message, "line 1, column 10: invalid UTF-8");
    sp_error_clear(&err);
    load_fails("name: \xc0\xaf\n", SP_EBADINPUT, &err);      /* overlong '/' */
    sp_error_clear(&err);
    load_fails("", SP_EBADINPUT, &err);
    assert_string_equal(err.message, "the definition is empty");
    sp_error_clear(&err);
    load_fails("# only a comment\n", SP_EBADINPUT, &err);
    sp_error_clear(&err);
    assert_null(workflow_load("name: x\0", 8, WF_FORMAT_YAML, &err));
    assert_int_equal(err.code, SP_EBADINPUT);
    sp_error_clear(&err);
}

static void text_over_the_size_limit_is_refused(void **state)
{
    size_t n = WF_MAX_SOURCE + 1;
    char *text = malloc(n);
    memset(text, '#', n);
    sp_error err = SP_ERROR_INIT;
    assert_null(workflow_load(text, n, WF_FORMAT_YAML, &err));
    assert_int_equal(err.code, SP_EBADINPUT);
    assert_non_null(strstr(err.message, "limit"));
    sp_error_clear(&err);
    free(text);
}

static void plain_scalars_follow_the_yaml_1_2_core_schema(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: t\n"
                        "input_schema:\n"
                        "  enum: [~, null, true, False, 12, -7, 0x1f, 0o17, 1.5, -2e3, .5,\n"
                        "         yes, no, on, '12', \"true\", 1_000, 012, !!str 5]\n"
                        "steps: [{id: a, transform: .}]\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    json_t *got = json_object_get(wf->input_schema, "enum");
    json_t *want = json_loads("[null, null, true, false, 12, -7, 31, 15, 1.5, -2000.0, 0.5,"
                              " \"yes\", \"no\", \"on\", \"12\", \"true\", \"1_000\", 12, \"5\"]",
                              0, NULL);
    char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);
    assert_string_equal(g, w);
    free(g);
    free(w);
    json_decref(want);
    workflow_free(wf);

    load_fails("name: t\nsteps: [{id: a, transform: .inf}]\nx: .inf\n", SP_EBADINPUT, &err);
    sp_error_clear(&err);
    load_fails("name: t\nx: 99999999999999999999\n", SP_EBADINPUT, &err);
    assert_non_null(strstr(err.message, "out of range"));
    sp_error_clear(&err);
}

/* ---- content ---- */

static void unknown_step_references_are_all_listed(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: refs\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    transform: .\n"
                           "    next: foo\n"                      /* 5 */
                           "  - id: b\n"
                           "    switch:\n"
                           "      - {when: .x, next: bar}\n"     /* 8 */
                           "      - {next: a}\n"
                           "  - id: c\n"
                           "    approval: {to: user:x, timeout: 1h, on_timeout: nowhere}\n"  /* 11 */
                           "    on_reject: baz\n"                 /* 12 */
                           "    on_error: qux\n",                 /* 13 */
                           SP_EINVALID, &err);
    assert_int_equal(json_array_size(d), 5);
    assert_problem(d, "steps[0].next", "unknown step 'foo'", 5);
    assert_problem(d, "steps[1].switch[0].next", "unknown step 'bar'", 8);
    assert_problem(d, "steps[2].approval.on_timeout", "'nowhere'", 11);
    assert_problem(d, "steps[2].on_reject", "unknown step 'baz'", 12);
    assert_problem(d, "steps[2].on_error", "unknown step 'qux'", 13);
    assert_int_equal(json_integer_value(json_object_get(problem_at(d, "steps[0].next"), "column")), 11);
    assert_non_null(strstr(err.message, "workflow has 5 problems: steps[0].next: unknown step "
                                        "'foo' (line 5, column 11); "));
    sp_error_clear(&err);
}

static void flow_words_are_checked_where_they_are_used(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: w\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    transform: .\n"
                           "    next: fail\n"
                           "    on_error: end\n"
                           "    on_reject: end\n",
                           SP_EINVALID, &err);
    assert_problem(d, "steps[0].next", "'fail' is not allowed here", 5);
    assert_problem(d, "steps[0].on_error", "'end' is not allowed here", 6);
    assert_problem(d, "steps[0].on_reject", "needs an approval gate", 7);
    sp_error_clear(&err);
}

static void bad_jq_is_reported_with_its_path(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: jq\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    transform: '. | | .'\n"
                           "  - id: b\n"
                           "    approval:\n"
                           "      when: '. | |'\n"
                           "      title: 'T {{ . | | . }}'\n"
                           "      to: user:x\n",
                           SP_EINVALID, &err);
    assert_int_equal(json_array_size(d), 3);
    assert_problem(d, "steps[0].transform", "", 4);
    assert_problem(d, "steps[1].approval.when", "", 7);
    assert_problem(d, "steps[1].approval.title", "", 8);
    sp_error_clear(&err);
}

static void secrets_are_refused_outside_action_settings(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: s\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    transform: '$secrets.key'\n"
                           "  - id: b\n"
                           "    fail: 'leak {{ $secrets.key }}'\n",
                           SP_EINVALID, &err);
    assert_problem(d, "steps[0].transform", "$secrets is only available", 4);
    assert_problem(d, "steps[1].fail", "$secrets is only available", 6);
    sp_error_clear(&err);
}

static void duplicate_and_reserved_ids_are_refused(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: ids\n"
                           "steps:\n"
                           "  - {id: a, transform: .}\n"
                           "  - {id: a, transform: .}\n"
                           "  - {id: end, transform: .}\n"
                           "  - {id: 'has space', transform: .}\n"
                           "  - {transform: .}\n",
                           SP_EINVALID, &err);
    assert_problem(d, "steps[1].id", "duplicate step id 'a' (first used by steps[0])", 4);
    assert_problem(d, "steps[2].id", "reserved", 5);
    assert_problem(d, "steps[3].id", "not a step id", 6);
    assert_problem(d, "steps[4]", "needs an 'id'", 7);
    sp_error_clear(&err);
}

static void bad_durations_are_reported_with_their_paths(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: d\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    approval:\n"
                           "      to: user:x\n"
                           "      timeout: 24 hours\n"           /* 6 */
                           "      escalate: [{after: -4h, to: user:y}]\n"
                           "      remind: {every: 0s}\n"
                           "    retry: {max_attempts: 0, backoff: soon}\n",
                           SP_EINVALID, &err);
    assert_problem(d, "steps[0].approval.timeout", "'24 hours' is not a duration", 6);
    assert_problem(d, "steps[0].approval.escalate[0].after", "not a duration", 7);
    assert_problem(d, "steps[0].approval.remind.every", "not a duration", 8);
    assert_problem(d, "steps[0].retry.max_attempts", "at least 1", 9);
    assert_problem(d, "steps[0].retry.backoff", "not a duration", 9);
    sp_error_clear(&err);
}

static void wrong_types_are_reported(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: Bad Name\n"
                           "description: [1]\n"
                           "input_schema: {type: thing, minLength: -1, pattern: '^a'}\n"
                           "triggers: {webhook: {}}\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    transform: {x: 1}\n"
                           "  - id: b\n"
                           "    switch: {when: .x}\n"
                           "  - id: c\n"
                           "    approval:\n"
                           "      to: [bob]\n"
                           "      urgency: urgent\n"
                           "      policy: {approvals: 0, forbid_self_approval: yes}\n"
                           "      editable: [amount, '/a~2']\n"
                           "  - id: e\n"
                           "    succeed: 5\n",
                           SP_EINVALID, &err);
    assert_problem(d, "name", "not a workflow name", 1);
    assert_problem(d, "description", "expected a string, got a list", 2);
    assert_problem(d, "input_schema.type", "'thing' is not one of", 3);
    assert_problem(d, "input_schema.minLength", "at least 0", 3);
    assert_problem(d, "input_schema.pattern", "'pattern' is not supported", 3);
    assert_problem(d, "triggers", "expected a list", 4);
    assert_problem(d, "steps[0].transform", "expected a jq expression", 7);
    assert_problem(d, "steps[1].switch", "expected a list", 9);
    assert_problem(d, "steps[2].approval.to[0]", "not an assignee", 12);
    assert_problem(d, "steps[2].approval.urgency", "'urgent' is not one of low, normal, high", 13);
    assert_problem(d, "steps[2].approval.policy.approvals", "from 1", 14);
    assert_problem(d, "steps[2].approval.policy.forbid_self_approval", "true or false", 14);
    assert_problem(d, "steps[2].approval.editable[0]", "not a JSON pointer", 15);
    assert_problem(d, "steps[2].approval.editable[1]", "not a JSON pointer", 15);
    assert_problem(d, "steps[3].succeed", "expected a mapping", 17);
    sp_error_clear(&err);

    d = load_fails("- just a list\n", SP_EINVALID, &err);
    assert_problem(d, "", "must be a mapping", 1);
    sp_error_clear(&err);
    d = load_fails("name: x\nsteps: []\n", SP_EINVALID, &err);
    assert_problem(d, "steps", "at least one step", 2);
    sp_error_clear(&err);
}

static void unknown_keys_are_reported_at_the_key(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: k\n"
                           "color: blue\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    transfrom: .\n"
                           "    approval:\n"
                           "      to: user:x\n"
                           "      tiemout: 1h\n"
                           "      route: [{to: user:y, whenever: .a}]\n",
                           SP_EINVALID, &err);
    assert_problem(d, "color", "unknown key 'color'", 2);
    assert_problem(d, "steps[0].transfrom", "did you mean 'transform'?", 5);
    assert_problem(d, "steps[0].approval.tiemout", "did you mean 'timeout'?", 8);
    assert_problem(d, "steps[0].approval.to", "either 'route' or 'to'", 7);
    assert_problem(d, "steps[0].approval.route[0].whenever", "unknown key", 9);
    assert_int_equal(json_integer_value(json_object_get(problem_at(d, "color"), "column")), 1);
    sp_error_clear(&err);
}

static void step_kinds_are_exactly_one_and_built(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: k\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    foreach: {items: .x}\n"
                           "  - id: b\n"
                           "    transform: .\n"
                           "    switch: [{next: a}]\n"
                           "  - id: c\n"
                           "    next: a\n"
                           "  - id: d\n"
                           "    succeed: true\n"
                           "    next: a\n",
                           SP_EINVALID, &err);
    assert_problem(d, "steps[0].foreach", "step kind 'foreach' is not supported yet", 4);
    assert_problem(d, "steps[1].switch", "exactly one kind", 7);
    assert_problem(d, "steps[2]", "needs a kind", 8);
    assert_problem(d, "steps[3].next", "no effect on a succeed step", 12);
    sp_error_clear(&err);
}

static void cycles_without_a_gate_are_refused(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: c\n"
                           "steps:\n"
                           "  - {id: a, transform: .}\n"
                           "  - {id: b, transform: ., next: a}\n"
                           "  - {id: self, transform: ., next: self}\n"
                           "  - id: sw\n"
                           "    switch: [{when: .x, next: sw2}, {next: end}]\n"
                           "  - {id: sw2, transform: ., on_error: sw, next: end}\n",
                           SP_EINVALID, &err);
    assert_int_equal(json_array_size(d), 3);
    assert_problem(d, "steps[0]", "steps a -> b -> a form a cycle with no wait or gate", 3);
    assert_problem(d, "steps[2]", "steps self -> self form a cycle", 5);
    assert_problem(d, "steps[3]", "steps sw -> sw2 -> sw form a cycle", 6);
    sp_error_clear(&err);
}

static void cycles_through_a_gate_are_allowed(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: rework\n"
                        "steps:\n"
                        "  - {id: draft, transform: .}\n"
                        "  - id: review\n"
                        "    approval: {to: team:editors}\n"
                        "    on_reject: draft\n"
                        "  - {id: again, transform: ., next: draft}\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    assert_int_equal(wf->steps[1].on_reject, 0);
    assert_int_equal(wf->steps[2].next, 0);
    workflow_free(wf);
}

static void summary_counts_and_details_carry_positions(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: one\nsteps:\n  - {id: a, transform: ., next: zz}\n",
                           SP_EINVALID, &err);
    assert_string_equal(err.message, "workflow has 1 problem: steps[0].next: unknown step 'zz' "
                                     "(line 3, column 33)");
    json_t *p = json_array_get(d, 0);
    assert_string_equal(json_str(p, "path"), "steps[0].next");
    assert_string_equal(json_str(p, "message"), "unknown step 'zz'");
    assert_int_equal(json_integer_value(json_object_get(p, "line")), 3);
    assert_int_equal(json_integer_value(json_object_get(p, "column")), 33);
    sp_error_clear(&err);
}

/* ---- identity ---- */

static void identical_content_gives_identical_hash(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *a = load("name: h\nsteps:\n  - id: a\n    transform: .input\n", &err);
    workflow *b = load("# same, written differently\n"
                       "steps: [{transform: .input, id: a}]\nname: \"h\"\n", &err);
    workflow *c = workflow_load("{\"name\": \"h\", \"steps\": [{\"id\": \"a\", \"transform\": \".input\"}]}",
                                strlen("{\"name\": \"h\", \"steps\": [{\"id\": \"a\", \"transform\": \".input\"}]}"),
                                WF_FORMAT_JSON, &err);
    workflow *d = load("name: h\nsteps:\n  - id: a\n    transform: .input.x\n", &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(d);
    assert_string_equal(a->hash, b->hash);
    assert_string_equal(a->hash, c->hash);
    assert_string_not_equal(a->hash, d->hash);
    workflow_free(a);
    workflow_free(b);
    workflow_free(c);
    workflow_free(d);
}

static void json_input_loads_and_reports_positions(void **state)
{
    const char *text = "{\n"
                       "  \"name\": \"j\",\n"
                       "  \"steps\": [\n"
                       "    {\"id\": \"a\", \"transform\": \".\", \"next\": \"b\"},\n"
                       "    {\"id\": \"b\", \"approval\": {\"to\": [\"user:x\"], \"timeout\": \"PT1H\"}}\n"
                       "  ]\n"
                       "}\n";
    sp_error err = SP_ERROR_INIT;
    workflow *wf = workflow_load(text, strlen(text), WF_FORMAT_JSON, &err);
    if (!wf)
        fail_msg("%s", err.message);
    assert_int_equal(wf->steps[0].next, 1);
    assert_int_equal(wf->steps[1].gate->timeout_ms, 3600000);
    workflow_free(wf);

    const char *bad = "{\"name\": \"j\", \"steps\": [{\"id\": \"a\", \"transform\": \".\"},]}";
    assert_null(workflow_load(bad, strlen(bad), WF_FORMAT_JSON, &err));
    assert_int_equal(err.code, SP_EBADINPUT);
    assert_non_null(strstr(err.message, "line 1, column "));
    sp_error_clear(&err);

    const char *wrong = "{\"name\": \"j\",\n \"steps\": [{\"id\": \"a\", \"transform\": \".\", \"next\": \"q\"}]}";
    assert_null(workflow_load(wrong, strlen(wrong), WF_FORMAT_JSON, &err));
    assert_int_equal(err.code, SP_EINVALID);
    assert_problem(err.details, "steps[0].next", "unknown step 'q'", 2);
    sp_error_clear(&err);
}

/* ---- input ---- */

static const char *schema_yaml =
    "name: in\n"
    "input_schema:\n"
    "  type: object\n"
    "  required: [customer, amount]\n"
    "  additionalProperties: false\n"
    "  properties:\n"
    "    customer:\n"
    "      type: object\n"
    "      required: [tier]\n"
    "      properties:\n"
    "        tier: {enum: [vip, standard]}\n"
    "        name: {type: string, minLength: 2, maxLength: 5}\n"
    "    amount: {type: number, minimum: 0, maximum: 1000}\n"
    "    count: {type: integer}\n"
    "    tags: {type: array, items: {type: string}, minItems: 1, maxItems: 2}\n"
    "    kind: {const: refund}\n"
    "    note: {type: [string, 'null']}\n"
    "steps: [{id: a, transform: .}]\n";

static void check_input_accepts_what_the_schema_allows(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load(schema_yaml, &err);
    if (!wf)
        fail_msg("%s", err.message);
    json_t *in = json_loads("{\"customer\": {\"tier\": \"vip\", \"name\": \"Ana\"}, \"amount\": 612.5,"
                            " \"count\": 3.0, \"tags\": [\"a\"], \"kind\": \"refund\", \"note\": null}",
                            0, NULL);
    assert_int_equal(workflow_check_input(wf, in, &err), SP_OK);
    json_decref(in);
    /* Characters, not bytes: "Ćaća" is 4 characters in 6 bytes. */
    in = json_loads("{\"customer\": {\"tier\": \"vip\", \"name\": \"\\u0106a\\u0107a\"}, \"amount\": 1}",
                    0, NULL);
    assert_int_equal(workflow_check_input(wf, in, &err), SP_OK);
    json_decref(in);
    workflow_free(wf);

    /* No schema: anything goes. */
    wf = load("name: free\nsteps: [{id: a, transform: .}]\n", &err);
    assert_int_equal(workflow_check_input(wf, json_null(), &err), SP_OK);
    workflow_free(wf);
}

static void check_input_lists_every_problem_with_its_path(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load(schema_yaml, &err);
    if (!wf)
        fail_msg("%s", err.message);
    json_t *in = json_loads("{\"customer\": {\"tier\": \"gold\", \"name\": \"A\"}, \"amount\": -1,"
                            " \"count\": 1.5, \"tags\": [\"a\", 2, \"c\"], \"kind\": \"x\","
                            " \"extra\": true, \"note\": 1}", 0, NULL);
    assert_int_equal(workflow_check_input(wf, in, &err), SP_EINVALID);
    json_t *d = err.details;
    assert_problem(d, "input.customer.tier", "must be one of [\"vip\",\"standard\"]", 0);
    assert_problem(d, "input.customer.name", "at least 2 characters", 0);
    assert_problem(d, "input.amount", "must be at least 0", 0);
    assert_problem(d, "input.count", "expected integer, got number", 0);
    assert_problem(d, "input.tags", "at most 2 items", 0);
    assert_problem(d, "input.tags[1]", "expected string, got integer", 0);
    assert_problem(d, "input.kind", "must be \"refund\"", 0);
    assert_problem(d, "input.extra", "not an allowed property", 0);
    assert_problem(d, "input.note", "expected string or null, got integer", 0);
    assert_int_equal(json_array_size(d), 9);
    assert_non_null(strstr(err.message, "input has 9 problems: "));
    sp_error_clear(&err);
    json_decref(in);

    in = json_loads("{\"customer\": {}}", 0, NULL);
    assert_int_equal(workflow_check_input(wf, in, &err), SP_EINVALID);
    assert_problem(err.details, "input.amount", "is required", 0);
    assert_problem(err.details, "input.customer.tier", "is required", 0);
    sp_error_clear(&err);
    json_decref(in);

    in = json_string("x");
    assert_int_equal(workflow_check_input(wf, in, &err), SP_EINVALID);
    assert_problem(err.details, "input", "expected object, got string", 0);
    sp_error_clear(&err);
    json_decref(in);
    workflow_free(wf);
}

/* ---- robustness ---- */

/* Every prefix and many one-byte corruptions of a real definition load or
 * fail cleanly (the sanitizers catch any crash or leak). */
static void mangled_definitions_never_crash(void **state)
{
    size_t n = strlen(refund_yaml);
    char *buf = malloc(n + 1);
    sp_error err = SP_ERROR_INIT;
    for (size_t len = 0; len <= n; len += 7) {
        workflow *wf = workflow_load(refund_yaml, len, WF_FORMAT_YAML, &err);
        workflow_free(wf);
        sp_error_clear(&err);
    }
    const char junk[] = { '[', '{', ':', '-', '&', '*', '!', '"', '\'', '|', '\n', ' ', '#', '%' };
    unsigned seed = 12345;
    for (int round = 0; round < 400; round++) {
        memcpy(buf, refund_yaml, n + 1);
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % n;
        buf[at] = junk[(seed >> 20) % sizeof junk];
        workflow *wf = workflow_load(buf, n, round % 2 ? WF_FORMAT_JSON : WF_FORMAT_YAML, &err);
        workflow_free(wf);
        sp_error_clear(&err);
    }
    free(buf);
    assert_null(workflow_load(NULL, 0, WF_FORMAT_YAML, &err));
    sp_error_clear(&err);
}

/* wait, retry and a gate's time keys: the good forms load into the step,
 * every bad one is reported at its path. */
static void time_keys_load_and_their_mistakes_are_named(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: timed\n"
                        "steps:\n"
                        "  - id: a\n"
                        "    transform: .\n"
                        "    retry: {max_attempts: 4, backoff: 2s, jitter: false}\n"
                        "  - id: b\n"
                        "    wait: {for: 90m}\n"
                        "  - id: c\n"
                        "    wait: {until: .input.at}\n"
                        "  - id: d\n"
                        "    approval: {to: user:x, timeout: 4h, on_timeout: a,\n"
                        "               remind: {every: 1h, max: 3}}\n", &err);
    assert_non_null(wf);
    assert_int_equal(wf->steps[0].retry.max_attempts, 4);
    assert_int_equal(wf->steps[0].retry.backoff_ms, 2000);
    assert_int_equal(wf->steps[0].retry.max_backoff_ms, 3600 * 1000);
    assert_false(wf->steps[0].retry.jitter);
    assert_int_equal(wf->steps[1].kind, STEP_WAIT);
    assert_int_equal(wf->steps[1].u.wait.for_ms, 90 * 60 * 1000);
    assert_int_equal(wf->steps[2].u.wait.until != EXPR_NONE, 1);
    assert_string_equal(wf->steps[3].gate->on_timeout, "a");
    assert_int_equal(wf->steps[3].gate->remind_max, 3);
    workflow_free(wf);

    json_t *d = load_fails("name: bad\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    wait: {for: 1h, until: .x}\n"                 /* 4 */
                           "  - id: b\n"
                           "    wait: {for: soon}\n"                          /* 6 */
                           "  - id: c\n"
                           "    fail: boom\n"
                           "    retry: {max_attempts: 2}\n"                   /* 9 */
                           "  - id: d\n"
                           "    transform: .\n"
                           "    retry: {backoff: 1s}\n"                       /* 12 */
                           "  - id: e\n"
                           "    transform: .\n"
                           "    retry: {max_attempts: 101}\n"                 /* 15 */
                           "  - id: f\n"
                           "    approval: {to: user:x, on_timeout: reject,\n" /* 17 */
                           "               remind: {every: 1h, max: 0}}\n",  /* 18 */
                           SP_EINVALID, &err);
    assert_problem(d, "steps[0].wait", "exactly one of 'for'", 4);
    assert_problem(d, "steps[1].wait.for", "not a duration", 6);
    assert_problem(d, "steps[2].retry", "no effect on a fail step", 9);
    assert_problem(d, "steps[3].retry", "needs 'max_attempts'", 12);
    assert_problem(d, "steps[4].retry.max_attempts", "at most 100", 15);
    assert_problem(d, "steps[5].approval.on_timeout", "without a timeout", 17);
    assert_problem(d, "steps[5].approval.remind.max", "", 18);
    sp_error_clear(&err);
}

/* A loop through a wait step pauses, so it is allowed; without it, not. */
static void a_wait_step_breaks_a_cycle(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: poll\n"
                        "steps:\n"
                        "  - id: check\n"
                        "    switch: [{when: .input.done, next: end}, {next: later}]\n"
                        "  - id: later\n"
                        "    wait: {for: 10m}\n"
                        "    next: check\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    workflow_free(wf);
}

/* http settings: templates (with $secrets) everywhere, and every mistake
 * that can be seen before a run is named. */
static void http_steps_load_and_their_mistakes_are_named(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: h\n"
                        "steps:\n"
                        "  - id: pay\n"
                        "    http:\n"
                        "      method: post\n"
                        "      url: '{{ $env.BASE }}/v1/refunds'\n"
                        "      headers: {X-Trace: '{{ .run.id }}'}\n"
                        "      form: {amount: '{{ .input.amount }}'}\n"
                        "      auth: {bearer: '{{ $secrets.stripe }}'}\n"
                        "      timeout: 5s\n"
                        "      accept: [200, 201]\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    const http_def *h = wf->steps[0].u.http;
    assert_string_equal(h->method, "POST");
    assert_int_equal(h->body_kind, HTTP_BODY_FORM);
    assert_int_equal(h->auth_kind, HTTP_AUTH_BEARER);
    assert_int_equal(h->timeout_ms, 5000);
    assert_int_equal(h->naccept, 2);
    assert_true(h->idempotency_key);
    assert_int_equal(wf->steps[0].retry.max_attempts, 3);     /* the http default */
    workflow_free(wf);

    json_t *d = load_fails("name: bad\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    http: {method: FETCH, json: {}, body: x}\n"   /* 4 */
                           "  - id: b\n"
                           "    http: {url: u, auth: {basic: {user: x}}, accept: [99]}\n"  /* 6 */
                           "  - id: c\n"
                           "    transform: '$secrets.x'\n"                   /* 8 */
                           "  - id: d\n"
                           "    http: {url: u, json: {a: 1}}\n",              /* 10: GET with a body */
                           SP_EINVALID, &err);
    assert_problem(d, "steps[0].http.method", "not one of GET", 4);
    assert_problem(d, "steps[0].http", "needs 'url'", 4);
    assert_problem(d, "steps[0].http.body", "one body", 4);
    assert_problem(d, "steps[1].http.auth.basic", "needs 'password'", 6);
    assert_problem(d, "steps[1].http.accept[0]", "100 to 599", 6);
    assert_problem(d, "steps[2].transform", "only available in http", 8);
    assert_problem(d, "steps[3].http.json", "GET request has no body", 10);
    sp_error_clear(&err);
}

/* Where a request goes comes from the workflow's text, $env and $secrets,
 * never from the run: run data before the end of a url's host is a
 * problem at the url, for an http step, a tool's http and an agent. */
static void urls_take_their_host_from_configuration_only(void **state)
{
    sp_error err = SP_ERROR_INIT;
    json_t *d = load_fails("name: bad\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    http: {url: '{{ .input.sink }}/v1/refunds'}\n"          /* 4 */
                           "  - id: b\n"
                           "    http: {url: 'http://127.0.0.1:{{ $env.PORT }}{{ .input.x }}'}\n"  /* 6 */
                           "  - id: c\n"
                           "    agent:\n"
                           "      url: '{{ .input.llm }}'\n"                            /* 9 */
                           "      prompt: hi\n"
                           "      tools:\n"
                           "        - {name: t, safe: true, http: {url: 'https://x{{ .arguments.h }}/'}}\n" /* 12 */
                           "  - id: d\n"
                           "    http: {url: '{{ $env.PAYMENTS_URL }}/v1/charges/{{ .input.charge }}'}\n",
                           SP_EINVALID, &err);
    assert_problem(d, "steps[0].http.url", "before the end of the URL's host", 4);
    assert_problem(d, "steps[1].http.url", "{{ .input.x }}", 6);
    assert_problem(d, "steps[2].agent.url", "before the end of the URL's host", 9);
    assert_problem(d, "steps[2].agent.tools[0].http.url", "before the end of the URL's host", 12);
    assert_null(problem_at(d, "steps[3].http.url"));
    assert_int_equal(json_array_size(d), 4);
    sp_error_clear(&err);
}

/* agent settings: the model, the prompt, read-only and action tools. */
static void agent_steps_load_and_their_mistakes_are_named(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: a\n"
                        "steps:\n"
                        "  - id: draft\n"
                        "    agent:\n"
                        "      url: '{{ $env.LLM_URL }}'\n"
                        "      api_key: '{{ $secrets.llm }}'\n"
                        "      prompt: 'Ticket {{ .input.t }}'\n"
                        "      max_turns: 3\n"
                        "      tools:\n"
                        "        - {name: look, safe: true, http: {url: 'http://x/{{ .arguments.id }}'}}\n"
                        "        - {name: act, parameters: {type: object}}\n"
                        "      response_schema: {type: object, required: [n]}\n"
                        "  - id: gate\n"
                        "    approval: {to: user:x, proposal: .steps.draft.output.arguments}\n"
                        "    on_reject: revise\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    const agent_def *a = wf->steps[0].u.agent;
    assert_int_equal(wf->steps[0].kind, STEP_AGENT);
    assert_int_equal(a->ntools, 2);
    assert_non_null(a->tools[0].http);
    assert_null(a->tools[1].http);
    assert_int_equal(a->max_turns, 3);
    assert_int_equal(a->max_revisions, AGENT_DEFAULT_MAX_REVISIONS);
    assert_non_null(a->response_schema);
    json_t *right = json_pack("{s:i}", "n", 1);
    assert_int_equal(workflow_check_schema(a->response_schema, right, "response", &err), SP_OK);
    json_decref(right);
    json_t *wrong = json_pack("{s:i}", "m", 1);
    assert_int_equal(workflow_check_schema(a->response_schema, wrong, "response", &err),
                     SP_EINVALID);
    assert_non_null(strstr(err.message, "response.n: is required"));
    json_decref(wrong);
    sp_error_clear(&err);
    assert_int_equal(wf->steps[1].on_reject, FLOW_REVISE);
    workflow_free(wf);

    json_t *d = load_fails("name: bad\n"
                           "steps:\n"
                           "  - id: a\n"
                           "    agent:\n"                                    /* 4 */
                           "      max_turns: 0\n"                            /* 5 */
                           "      tools:\n"
                           "        - {name: look, safe: true}\n"            /* 7 */
                           "        - {name: 'b a d'}\n"                     /* 8 */
                           "        - {name: look}\n"                        /* 9 */
                           "      response_schema: {type: object, pattern: x}\n", /* 10 */
                           SP_EINVALID, &err);
    assert_problem(d, "steps[0].agent", "needs 'prompt'", 0);
    assert_problem(d, "steps[0].agent.max_turns", "", 5);
    assert_problem(d, "steps[0].agent.tools[0]", "read-only tool", 7);
    assert_problem(d, "steps[0].agent.tools[1].name", "letters", 8);
    assert_problem(d, "steps[0].agent.tools[2]", "second tool named 'look'", 9);
    assert_problem(d, "steps[0].agent.response_schema.pattern", "not supported", 10);
    sp_error_clear(&err);
}

/* Text cut to a buffer's size can end mid-character; found by fuzzing, a
 * problem whose path or message did so was dropped (JSON refuses invalid
 * UTF-8), and the definition or input it was about went through. */
static void problems_about_long_non_ascii_names_are_never_lost(void **state)
{
    sp_error err = SP_ERROR_INIT;
    char *yaml = malloc(8192), *json = malloc(8192);
    char long_id[2400] = "a";
    for (int i = 0; i < 600; i++)
        strcat(long_id, "\xc3\xa9");                     /* é, two bytes each */
    /* a duplicate id, and an unknown key, each named by a long path */
    snprintf(yaml, 8192, "name: t\nsteps:\n  - id: %s\n    transform: .\n  - id: %s\n"
                         "    transform: .\n%s: 1\n", long_id, long_id, long_id);
    json_t *d = load_fails(yaml, SP_EINVALID, &err);
    assert_true(json_array_size(d) >= 2);
    size_t i;
    json_t *p;
    json_array_foreach(d, i, p) {
        assert_non_null(json_str(p, "path"));
        assert_non_null(json_str(p, "message"));
    }
    char *text = json_dumps(d, 0);
    assert_non_null(text);
    free(text);
    sp_error_clear(&err);

    /* input_schema: additionalProperties false, enum - with long keys and
     * long enum members the input is still refused */
    workflow *wf = load("name: s\ninput_schema:\n  type: object\n  additionalProperties: false\n"
                        "  properties: {amount: {type: integer}}\nsteps:\n  - id: a\n"
                        "    transform: .\n", &err);
    assert_non_null(wf);
    snprintf(json, 8192, "{\"amount\": 1, \"%s\": 2}", long_id);
    json_t *in = json_loads(json, 0, NULL);
    assert_non_null(in);
    assert_int_equal(workflow_check_input(wf, in, &err), SP_EINVALID);
    json_decref(in);
    sp_error_clear(&err);
    workflow_free(wf);
    snprintf(yaml, 8192, "name: s\ninput_schema:\n  properties:\n    city: {enum: ['%s', Brno]}\n"
                         "steps:\n  - id: a\n    transform: .\n", long_id);
    wf = load(yaml, &err);
    assert_non_null(wf);
    in = json_pack("{s:s}", "city", "Mordor");
    assert_int_equal(workflow_check_input(wf, in, &err), SP_EINVALID);
    text = json_dumps(err.details, 0);
    assert_non_null(text);
    free(text);
    json_decref(in);
    sp_error_clear(&err);
    workflow_free(wf);
    free(yaml);
    free(json);
}

/* Each step knows, from its definition, the secrets its settings read: by
 * name, sorted, or "all" when one is read by a computed name; a step that
 * reads none (or a kind that is never bound to any) has none. */
static void each_step_knows_the_secrets_it_reads(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: s\n"
                        "steps:\n"
                        "  - id: pay\n"
                        "    http:\n"
                        "      url: '{{ $env.BASE }}/{{ $secrets[\"acct-id\"] }}'\n"
                        "      headers: {X-Key: '{{ $secrets.stripe }}'}\n"
                        "      auth: {bearer: '{{ $secrets.stripe }}'}\n"
                        "  - id: echo\n"
                        "    http: {url: '{{ $env.BASE }}/echo?c={{ .input.c }}'}\n"
                        "  - id: any\n"
                        "    http: {url: '{{ $env.BASE }}/{{ $secrets[.input.which] }}'}\n"
                        "  - id: draft\n"
                        "    agent:\n"
                        "      api_key: '{{ $secrets.llm }}'\n"
                        "      prompt: 'Ticket {{ .input.t }}'\n"
                        "      tools:\n"
                        "        - {name: look, safe: true, http: {url: 'http://x/{{ .arguments.id }}',\n"
                        "           auth: {bearer: '{{ $secrets.crm }}'}}}\n"
                        "        - {name: act, parameters: {type: object}}\n"
                        "  - id: gate\n"
                        "    approval: {to: user:x, proposal: .steps.draft.output.arguments}\n"
                        "  - id: t\n"
                        "    transform: .input\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    const step_def *st = wf->steps;
    char *got = json_dumps(st[0].secret_names, JSON_COMPACT);
    assert_string_equal(got, "[\"acct-id\",\"stripe\"]");
    free(got);
    assert_false(st[0].secrets_all);
    assert_null(st[1].secret_names);
    assert_false(st[1].secrets_all);
    assert_true(st[2].secrets_all);
    got = json_dumps(st[3].secret_names, JSON_COMPACT);
    assert_string_equal(got, "[\"crm\",\"llm\"]");        /* the agent's own and its tools' */
    free(got);
    for (int i = 4; i < 6; i++) {
        assert_null(st[i].secret_names);
        assert_false(st[i].secrets_all);
    }
    workflow_free(wf);
    sp_error_clear(&err);
}

/* editable as a map of pointer -> bounds: kept as given; every mistake
 * in a pointer or a bound named where it is. */
static void editable_bounds_load_and_their_mistakes_are_named(void **state)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = load("name: b\n"
                        "steps:\n"
                        "  - id: ask\n"
                        "    approval:\n"
                        "      to: user:x\n"
                        "      editable:\n"
                        "        /amount: {type: number, minimum: 0, maximum: 612}\n"
                        "        /note:\n"
                        "        /tags: {type: array, maxItems: 3, items: {type: string}}\n", &err);
    if (!wf)
        fail_msg("%s", err.message);
    char *ed = json_dumps(wf->steps[0].gate->editable, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(ed, "{\"/amount\":{\"maximum\":612,\"minimum\":0,\"type\":\"number\"},"
                            "\"/note\":{},\"/tags\":{\"items\":{\"type\":\"string\"},"
                            "\"maxItems\":3,\"type\":\"array\"}}");
    free(ed);
    workflow_free(wf);

    json_t *d = load_fails("name: b\n"
                           "steps:\n"
                           "  - id: ask\n"
                           "    approval:\n"
                           "      to: user:x\n"
                           "      editable:\n"
                           "        amount: {}\n"                                    /* 7 */
                           "        /a: {minimum: '{{ .input.max }}'}\n"             /* 8 */
                           "        /b: {type: money}\n"                              /* 9 */
                           "        /c: {pattern: '^x'}\n"                            /* 10 */
                           "        /d: 5\n"                                          /* 11 */
                           "  - id: two\n"
                           "    approval: {to: user:x, editable: /amount}\n",         /* 13 */
                           SP_EINVALID, &err);
    assert_problem(d, "steps[0].approval.editable.amount", "not a JSON pointer", 7);
    assert_problem(d, "steps[0].approval.editable[\"/a\"].minimum", "expected a number", 8);
    assert_problem(d, "steps[0].approval.editable[\"/b\"].type", "'money' is not one of", 9);
    assert_problem(d, "steps[0].approval.editable[\"/c\"].pattern", "'pattern' is not supported", 10);
    assert_problem(d, "steps[0].approval.editable[\"/d\"]", "expected a mapping", 11);
    assert_problem(d, "steps[1].approval.editable", "a list of JSON pointers or a map", 13);
    sp_error_clear(&err);

    /* The same rules for POST /v1/approvals. */
    json_t *out = NULL, *v = json_pack("[s]", "/amount");
    assert_int_equal(workflow_editable_parse(v, "editable", &out, &err), SP_OK);
    ed = json_dumps(out, JSON_COMPACT);
    assert_string_equal(ed, "{\"/amount\":{}}");
    free(ed);
    json_decref(out);
    json_decref(v);
    v = json_pack("{s:{s:s}}", "/amount", "minimum", "zero");
    assert_int_equal(workflow_editable_parse(v, "editable", &out, &err), SP_EINVALID);
    assert_null(out);
    assert_non_null(strstr(err.message, "editable[\"/amount\"].minimum: expected a number"));
    json_decref(v);
    sp_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refund_example_loads_into_steps_and_gate),
        cmocka_unit_test(the_last_step_defaults_to_end_and_switch_targets_resolve),
        cmocka_unit_test(approval_alone_is_a_gate_step_with_defaults),
        cmocka_unit_test(policy_all_and_require_comment_in_the_gate_are_accepted),
        cmocka_unit_test(the_bundled_examples_load),
        cmocka_unit_test(broken_yaml_names_the_line),
        cmocka_unit_test(duplicate_keys_are_refused_with_their_place),
        cmocka_unit_test(aliases_that_expand_too_far_are_refused),
        cmocka_unit_test(nesting_deeper_than_the_limit_is_refused),
        cmocka_unit_test(text_that_is_not_one_utf8_document_is_refused),
        cmocka_unit_test(text_over_the_size_limit_is_refused),
        cmocka_unit_test(plain_scalars_follow_the_yaml_1_2_core_schema),
        cmocka_unit_test(unknown_step_references_are_all_listed),
        cmocka_unit_test(flow_words_are_checked_where_they_are_used),
        cmocka_unit_test(bad_jq_is_reported_with_its_path),
        cmocka_unit_test(secrets_are_refused_outside_action_settings),
        cmocka_unit_test(duplicate_and_reserved_ids_are_refused),
        cmocka_unit_test(bad_durations_are_reported_with_their_paths),
        cmocka_unit_test(wrong_types_are_reported),
        cmocka_unit_test(unknown_keys_are_reported_at_the_key),
        cmocka_unit_test(step_kinds_are_exactly_one_and_built),
        cmocka_unit_test(cycles_without_a_gate_are_refused),
        cmocka_unit_test(cycles_through_a_gate_are_allowed),
        cmocka_unit_test(summary_counts_and_details_carry_positions),
        cmocka_unit_test(identical_content_gives_identical_hash),
        cmocka_unit_test(json_input_loads_and_reports_positions),
        cmocka_unit_test(check_input_accepts_what_the_schema_allows),
        cmocka_unit_test(check_input_lists_every_problem_with_its_path),
        cmocka_unit_test(problems_about_long_non_ascii_names_are_never_lost),
        cmocka_unit_test(mangled_definitions_never_crash),
        cmocka_unit_test(time_keys_load_and_their_mistakes_are_named),
        cmocka_unit_test(a_wait_step_breaks_a_cycle),
        cmocka_unit_test(http_steps_load_and_their_mistakes_are_named),
        cmocka_unit_test(agent_steps_load_and_their_mistakes_are_named),
        cmocka_unit_test(each_step_knows_the_secrets_it_reads),
        cmocka_unit_test(editable_bounds_load_and_their_mistakes_are_named),
        cmocka_unit_test(urls_take_their_host_from_configuration_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
