/*
 * gate.c - an `approval:` block (SPEC §5) -> gate_def.
 *
 * Defaults live here and nowhere else: when absent -> always ask; urgency
 * normal; proposal -> the previous step's output; policy {approvals: 1,
 * forbid_self_approval: true, require_comment: reject}; no timeout (and
 * on_timeout fail when one is set); no escalation, no reminders (and at
 * most 10 of them when `remind: {every}` gives no `max`).
 *
 * `to: [...]` in the gate is shorthand for one route without `when`, and
 * `require_comment` may sit in the gate as well as in `policy` (never both).
 * `notify` is accepted as a list and not used yet.
 */
#include "workflow/wf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const gate_keys[] = {
    "when", "title", "summary", "urgency", "proposal", "reasoning", "context",
    "route", "to", "policy", "require_comment", "editable", "timeout", "escalate",
    "remind", "on_timeout", "notify", NULL
};
static const char *const route_keys[] = { "when", "to", NULL };
static const char *const policy_keys[] = {
    "approvals", "forbid_self_approval", "require_comment", NULL
};
static const char *const escalate_keys[] = { "after", "to", "mode", "notify", NULL };
static const char *const remind_keys[] = { "every", "max", NULL };
static const char *const urgencies[] = { "low", "normal", "high", NULL };
static const char *const comment_modes[] = { "reject", "always", "never", NULL };
static const char *const escalate_modes[] = { "add", "replace", NULL };

/* Path of member key under path, as a local buffer. */
#define MEMBER(buf, path, key) (wf_path_key(buf, path, key), buf)

static void build_routes(wf_ctx *c, const char *path, const json_t *g, gate_def *gd)
{
    const json_t *route = json_object_get(g, "route"), *to = json_object_get(g, "to");
    char p[WF_PATH_MAX];
    if (route && to) {
        /* Reported, then the routes are still checked for their own problems. */
        wf_problem_key(c, MEMBER(p, path, "to"), "give either 'route' or 'to', not both");
        to = NULL;
    }
    if (!route && !to) {
        wf_problem(c, path, "an approval needs 'route' or 'to' (who decides)");
        return;
    }
    if (to) {
        gd->routes = calloc(1, sizeof *gd->routes);
        if (!gd->routes)
            return;
        gd->nroutes = 1;
        gd->routes[0].when = EXPR_NONE;
        gd->routes[0].to = wf_assignees(c, MEMBER(p, path, "to"), to, &gd->routes[0].nto);
        return;
    }
    wf_path_key(p, path, "route");
    if (!wf_want_array(c, p, route))
        return;
    size_t n = json_array_size(route);
    if (n == 0) {
        wf_problem(c, p, "needs at least one route");
        return;
    }
    if (!(gd->routes = calloc(n, sizeof *gd->routes)))
        return;
    gd->nroutes = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(route, i);
        char rp[WF_PATH_MAX], kp[WF_PATH_MAX];
        wf_path_index(rp, p, i);
        gd->routes[i].when = EXPR_NONE;
        if (!wf_want_object(c, rp, r))
            continue;
        wf_check_keys(c, rp, r, route_keys);
        gd->routes[i].when = wf_expr(c, MEMBER(kp, rp, "when"), json_object_get(r, "when"));
        if (!json_object_get(r, "to"))
            wf_problem(c, rp, "a route needs 'to'");
        else
            gd->routes[i].to = wf_assignees(c, MEMBER(kp, rp, "to"), json_object_get(r, "to"),
                                            &gd->routes[i].nto);
    }
}

static void build_policy(wf_ctx *c, const char *path, const json_t *g, gate_def *gd)
{
    const json_t *policy = json_object_get(g, "policy");
    const json_t *rc_gate = json_object_get(g, "require_comment");
    char p[WF_PATH_MAX], kp[WF_PATH_MAX];
    const json_t *rc = rc_gate;
    if (policy) {
        wf_path_key(p, path, "policy");
        if (wf_want_object(c, p, policy)) {
            wf_check_keys(c, p, policy, policy_keys);
            const json_t *n = json_object_get(policy, "approvals");
            wf_path_key(kp, p, "approvals");
            if (json_is_string(n) && strcmp(json_string_value(n), "all") == 0)
                gd->approvals = 0;
            else if (n && json_is_integer(n) && json_integer_value(n) >= 1 &&
                     json_integer_value(n) <= 1000)
                gd->approvals = (int)json_integer_value(n);
            else if (n)
                wf_problem(c, kp, "expected an integer from 1 to 1000 or \"all\"");
            const json_t *fsa = json_object_get(policy, "forbid_self_approval");
            if (fsa && wf_want_bool(c, MEMBER(kp, p, "forbid_self_approval"), fsa))
                gd->forbid_self_approval = json_is_true(fsa);
            if (json_object_get(policy, "require_comment")) {
                if (rc_gate)
                    wf_problem_key(c, MEMBER(kp, path, "require_comment"),
                                   "require_comment is given both here and in policy");
                rc = json_object_get(policy, "require_comment");
                wf_path_key(kp, p, "require_comment");
            }
        }
    }
    if (rc == rc_gate)
        wf_path_key(kp, path, "require_comment");
    if (rc) {
        int m = wf_want_word(c, kp, rc, comment_modes);
        if (m >= 0)
            gd->require_comment = m == 0 ? REQUIRE_COMMENT_REJECT
                                : m == 1 ? REQUIRE_COMMENT_ALWAYS : REQUIRE_COMMENT_NEVER;
    }
}

/* RFC 6901, and pointing inside the proposal (not at the whole of it). */
static bool pointer_ok(const char *s)
{
    if (s[0] != '/')
        return false;
    for (const char *q = s; *q; q++)
        if (*q == '~' && q[1] != '0' && q[1] != '1')
            return false;
    return true;
}

static bool pointer_checked(wf_ctx *c, const char *path, const char *ptr, bool at_key)
{
    if (pointer_ok(ptr))
        return true;
    if (at_key)
        wf_problem_key(c, path, "'%s' is not a JSON pointer into the proposal (such as /amount)",
                       ptr);
    else
        wf_problem(c, path, "'%s' is not a JSON pointer into the proposal (such as /amount)",
                   ptr);
    return false;
}

/*
 * editable: [/amount, /note]            any value of the original's type
 * editable: {/amount: {type: number, minimum: 0, maximum: 612}, /note: {}}
 *                                       that, and within the bounds
 * Bounds are literal JSON Schema (schema.c's subset), checked here like
 * input_schema; an approver's edit is checked against them on every
 * decision (gate/gate.c).
 */
json_t *wf_editable_build(wf_ctx *c, const char *path, const json_t *v)
{
    if (!v)
        return NULL;
    json_t *out = json_object();
    if (!out)
        return NULL;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            char ip[WF_PATH_MAX];
            wf_path_index(ip, path, i);
            if (wf_want_string(c, ip, e) && pointer_checked(c, ip, json_string_value(e), false))
                json_object_set_new(out, json_string_value(e), json_object());
        }
    } else if (json_is_object(v)) {
        const char *ptr;
        json_t *bounds;
        json_object_foreach((json_t *)v, ptr, bounds) {
            char kp[WF_PATH_MAX];
            wf_path_key(kp, path, ptr);
            bool ok = pointer_checked(c, kp, ptr, true);
            if (json_is_null(bounds)) {
                bounds = NULL;                  /* "/note:" with nothing after it */
            } else {
                size_t before = json_array_size(c->problems);
                wf_schema_check(c, kp, bounds);
                ok = ok && json_array_size(c->problems) == before;
            }
            if (ok)
                json_object_set_new(out, ptr, bounds ? json_deep_copy(bounds) : json_object());
        }
    } else {
        wf_problem(c, path, "expected a list of JSON pointers or a map of pointer to bounds, "
                   "got %s", wf_type_name(v));
    }
    return out;
}

sp_code workflow_editable_parse(const json_t *v, const char *what, json_t **out, sp_error *err)
{
    *out = NULL;
    wf_ctx c = { .problems = json_array() };
    if (!c.problems)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    json_t *map = wf_editable_build(&c, what, v);
    if (json_array_size(c.problems) > 0) {
        json_decref(map);
        return wf_problems_to_error(c.problems, what, err);
    }
    json_decref(c.problems);
    if (!map)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    *out = map;
    return SP_OK;
}

static void build_escalations(wf_ctx *c, const char *path, const json_t *v, gate_def *gd)
{
    if (!v || !wf_want_array(c, path, v))
        return;
    size_t n = json_array_size(v);
    if (n && !(gd->escalations = calloc(n, sizeof *gd->escalations)))
        return;
    gd->nescalations = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        gate_escalation *ge = &gd->escalations[i];
        char ep[WF_PATH_MAX], kp[WF_PATH_MAX];
        wf_path_index(ep, path, i);
        if (!wf_want_object(c, ep, e))
            continue;
        wf_check_keys(c, ep, e, escalate_keys);
        if (!json_object_get(e, "after"))
            wf_problem(c, ep, "an escalation needs 'after'");
        else
            ge->after_ms = wf_duration(c, MEMBER(kp, ep, "after"), json_object_get(e, "after"));
        if (!json_object_get(e, "to"))
            wf_problem(c, ep, "an escalation needs 'to'");
        else
            ge->to = wf_assignees(c, MEMBER(kp, ep, "to"), json_object_get(e, "to"), &ge->nto);
        if (json_object_get(e, "mode"))
            ge->replace = wf_want_word(c, MEMBER(kp, ep, "mode"), json_object_get(e, "mode"),
                                       escalate_modes) == 1;
    }
}

static void build_timers(wf_ctx *c, const char *path, const json_t *g, gate_def *gd)
{
    char p[WF_PATH_MAX], kp[WF_PATH_MAX];
    const json_t *v;
    if ((v = json_object_get(g, "timeout"))) {
        int64_t ms = wf_duration(c, MEMBER(p, path, "timeout"), v);
        gd->timeout_ms = ms > 0 ? ms : 0;
    }
    if ((v = json_object_get(g, "remind"))) {
        wf_path_key(p, path, "remind");
        if (wf_want_object(c, p, v)) {
            wf_check_keys(c, p, v, remind_keys);
            if (!json_object_get(v, "every"))
                wf_problem(c, p, "remind needs 'every'");
            else {
                int64_t ms = wf_duration(c, MEMBER(kp, p, "every"), json_object_get(v, "every"));
                gd->remind_every_ms = ms > 0 ? ms : 0;
            }
            const json_t *max = json_object_get(v, "max");
            if (max && wf_want_int(c, MEMBER(kp, p, "max"), max, 1)) {
                if (json_integer_value(max) > WF_REMIND_MAX)
                    wf_problem(c, kp, "at most %d reminders", WF_REMIND_MAX);
                else
                    gd->remind_max = (int)json_integer_value(max);
            }
        }
    }
    if ((v = json_object_get(g, "on_timeout"))) {
        wf_path_key(p, path, "on_timeout");
        if (wf_want_string(c, p, v)) {
            const char *s = json_string_value(v);
            if (strcmp(s, "reject") && strcmp(s, "approve") && strcmp(s, "fail") &&
                !json_object_get(c->ids, s))
                wf_problem(c, p, "'%s' is not reject, approve, fail or a step id", s);
            else
                gd->on_timeout = strdup(s);
            if (!json_object_get(g, "timeout"))
                wf_problem_key(c, p, "on_timeout has no effect without a timeout");
        }
    }
    build_escalations(c, MEMBER(p, path, "escalate"), json_object_get(g, "escalate"), gd);
}

gate_def *wf_gate_build(wf_ctx *c, const char *path, const json_t *g)
{
    if (!wf_want_object(c, path, g))
        return NULL;
    gate_def *gd = calloc(1, sizeof *gd);
    if (!gd) {
        wf_problem(c, path, "out of memory");
        return NULL;
    }
    gd->when = gd->proposal = gd->reasoning = gd->context = EXPR_NONE;
    gd->approvals = 1;
    gd->forbid_self_approval = true;
    gd->require_comment = REQUIRE_COMMENT_REJECT;

    char p[WF_PATH_MAX];
    wf_check_keys(c, path, g, gate_keys);
    gd->when = wf_expr(c, MEMBER(p, path, "when"), json_object_get(g, "when"));
    gd->title = wf_template(c, MEMBER(p, path, "title"), json_object_get(g, "title"));
    gd->summary = wf_template(c, MEMBER(p, path, "summary"), json_object_get(g, "summary"));
    const json_t *u = json_object_get(g, "urgency");
    int ui = u ? wf_want_word(c, MEMBER(p, path, "urgency"), u, urgencies) : 1;
    gd->urgency = strdup(urgencies[ui >= 0 ? ui : 1]);
    gd->proposal = wf_expr(c, MEMBER(p, path, "proposal"), json_object_get(g, "proposal"));
    gd->reasoning = wf_expr(c, MEMBER(p, path, "reasoning"), json_object_get(g, "reasoning"));
    gd->context = wf_expr(c, MEMBER(p, path, "context"), json_object_get(g, "context"));
    build_routes(c, path, g, gd);
    build_policy(c, path, g, gd);
    gd->editable = wf_editable_build(c, MEMBER(p, path, "editable"), json_object_get(g, "editable"));
    build_timers(c, path, g, gd);
    const json_t *notify = json_object_get(g, "notify");
    if (notify)
        wf_want_array(c, MEMBER(p, path, "notify"), notify);
    return gd;
}

void wf_gate_free(gate_def *g)
{
    if (!g)
        return;
    expr_template_free(g->title);
    expr_template_free(g->summary);
    free(g->urgency);
    for (size_t i = 0; i < g->nroutes; i++)
        wf_strv_free(g->routes[i].to, g->routes[i].nto);
    free(g->routes);
    json_decref(g->editable);
    free(g->on_timeout);
    for (size_t i = 0; i < g->nescalations; i++)
        wf_strv_free(g->escalations[i].to, g->escalations[i].nto);
    free(g->escalations);
    free(g);
}
