/*
 * routing.c - making sure a gate waits for somebody.
 *
 * Two checks. When a workflow is applied, every `user:X` and `team:X` its
 * gates route or escalate to is looked up once (by distinct name); those
 * that do not exist become warnings of the apply answer, not errors, since
 * a user or team may be created after the workflow. When a gate opens, or
 * an escalation changes its assignees, and fewer distinct active people
 * than `approvals: N` can decide behind them (unknown or disabled users,
 * teams without such members, the run's starter under
 * forbid_self_approval), the gate goes to the active admin users instead
 * and the caller records why (audit row gate.unroutable).
 *
 * The check runs on the engine thread at every gate open, so the usual
 * answer ("enough people") must be cheap: one query per assignee (a user
 * already seen costs none), and it stops as soon as N people are found.
 * Why an assignee has nobody is read only when the gate does fall back.
 */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- at apply ---- */

/* Whether "user:x" / "team:x" names an existing user or team; answers are
 * remembered in seen so each distinct name costs one lookup. */
static sp_code assignee_exists(engine *e, json_t *seen, const char *a, bool *exists,
                               sp_error *err)
{
    json_t *known = json_object_get(seen, a);
    if (known) {
        *exists = json_is_true(known);
        return SP_OK;
    }
    *exists = true;
    if (strncmp(a, "user:", 5) == 0) {
        json_t *u = NULL;
        sp_error local = SP_ERROR_INIT;
        sp_code rc = store_user_get(e->w, a + 5, &u, &local);
        json_decref(u);
        if (rc == SP_ENOTFOUND)
            *exists = false;
        else if (rc)
            return sp_error_set(err, rc, "%s", local.message);
    } else if (strncmp(a, "team:", 5) == 0) {
        sp_code rc = store_team_exists(e->w, a + 5, exists, err);
        if (rc)
            return rc;
    }
    json_object_set_new(seen, a, json_boolean(*exists));
    return SP_OK;
}

/* Warns for each assignee of one `to` (a string or a list) at path. */
static sp_code warn_to(engine *e, json_t *seen, const json_t *to, const char *path,
                       json_t *warnings, sp_error *err)
{
    size_t n = json_is_array(to) ? json_array_size(to) : 1;
    for (size_t k = 0; k < n; k++) {
        const json_t *v = json_is_array(to) ? json_array_get(to, k) : to;
        const char *a = json_string_value(v);
        if (!a)
            continue;
        bool exists;
        sp_code rc = assignee_exists(e, seen, a, &exists, err);
        if (rc)
            return rc;
        if (exists)
            continue;
        char p[256];
        if (json_is_array(to))
            snprintf(p, sizeof p, "%s[%zu]", path, k);
        else
            snprintf(p, sizeof p, "%s", path);
        json_array_append_new(warnings,
                              json_pack("{s:s, s:s++}", "path", p, "message",
                                        strncmp(a, "user:", 5) == 0 ? "no user " : "no team ",
                                        strchr(a, ':') + 1,
                                        " exists yet: until one is created, a gate routed "
                                        "there goes to the admins"));
    }
    return SP_OK;
}

sp_code routing_warnings(engine *e, const workflow *wf, json_t **out, sp_error *err)
{
    json_t *warnings = json_array(), *seen = json_object();
    const json_t *steps = json_object_get(wf->definition, "steps");
    sp_code rc = SP_OK;
    char path[160], sub[200];
    for (size_t i = 0; rc == SP_OK && i < json_array_size(steps); i++) {
        const json_t *g = json_object_get(json_array_get(steps, i), "approval");
        if (!json_is_object(g))
            continue;
        snprintf(path, sizeof path, "steps[%zu].approval", i);
        const json_t *to = json_object_get(g, "to");
        if (to) {
            snprintf(sub, sizeof sub, "%s.to", path);
            rc = warn_to(e, seen, to, sub, warnings, err);
        }
        const json_t *routes = json_object_get(g, "route");
        for (size_t j = 0; rc == SP_OK && j < json_array_size(routes); j++) {
            snprintf(sub, sizeof sub, "%s.route[%zu].to", path, j);
            rc = warn_to(e, seen, json_object_get(json_array_get(routes, j), "to"), sub,
                         warnings, err);
        }
        const json_t *esc = json_object_get(g, "escalate");
        for (size_t j = 0; rc == SP_OK && j < json_array_size(esc); j++) {
            snprintf(sub, sizeof sub, "%s.escalate[%zu].to", path, j);
            rc = warn_to(e, seen, json_object_get(json_array_get(esc, j), "to"), sub,
                         warnings, err);
        }
    }
    json_decref(seen);
    if (rc) {
        json_decref(warnings);
        return rc;
    }
    *out = warnings;
    return SP_OK;
}

/* ---- when a gate opens or escalates ---- */

/* What one routing_fallback call has learnt; nothing outlives the call, so
 * nothing can go stale across user or team changes. */
typedef struct {
    engine *e;
    const char *starter;        /* may be NULL */
    bool forbid_self;
    json_t *people;             /* user name -> true (able to decide) / false */
    json_t *teams;              /* team name -> true (has an able member) / false */
    json_t *able;               /* ["user:carol", ...]: the distinct able people, in order */
} deciders;

/* Counts the active user name as a decider unless already seen; *able says
 * whether that person may decide. */
static void count_person(deciders *d, const char *name, bool *able)
{
    json_t *known = json_object_get(d->people, name);
    if (known) {
        *able = json_is_true(known);
        return;
    }
    *able = !(d->forbid_self && d->starter && strcmp(d->starter, name) == 0);
    json_object_set_new(d->people, name, json_boolean(*able));
    if (*able)
        json_array_append_new(d->able, json_pack("s++", "user:", name, ""));
}

/* Adds the able people behind assignee a (one query: a user already seen
 * costs none); *any says whether a has at least one. Stops once need are
 * found. */
static sp_code count_assignee(deciders *d, const char *a, size_t need, bool *any, sp_error *err)
{
    *any = false;
    bool is_user = strncmp(a, "user:", 5) == 0;
    if (is_user && json_object_get(d->people, a + 5)) {
        *any = json_is_true(json_object_get(d->people, a + 5));
        return SP_OK;
    }
    if (!is_user && strncmp(a, "team:", 5) != 0)
        return SP_OK;
    if (!is_user && json_object_get(d->teams, a + 5)) {
        *any = json_is_true(json_object_get(d->teams, a + 5));
        return SP_OK;
    }
    json_t *names = NULL;
    sp_code rc = store_active_users(d->e->w, is_user ? a + 5 : NULL, is_user ? NULL : a + 5,
                                    NULL, &names, err);
    if (rc)
        return rc;
    if (is_user && json_array_size(names) == 0)
        json_object_set_new(d->people, a + 5, json_false());    /* unknown or disabled */
    for (size_t k = 0; k < json_array_size(names) && json_array_size(d->able) < need; k++) {
        bool able;
        count_person(d, json_string_value(json_array_get(names, k)), &able);
        *any = *any || able;
    }
    if (!is_user)
        json_object_set_new(d->teams, a + 5, json_boolean(*any));
    json_decref(names);
    return SP_OK;
}

/* Why assignee a has nobody able to decide, read only once the gate is
 * known to fall back (the cold path). */
static sp_code why_nobody(deciders *d, const char *a, json_t *reasons, sp_error *err)
{
    const char *why = "cannot decide";
    sp_code rc = SP_OK;
    if (strncmp(a, "user:", 5) == 0) {
        json_t *u = NULL;
        sp_error local = SP_ERROR_INIT;
        rc = store_user_get(d->e->w, a + 5, &u, &local);
        if (rc == SP_ENOTFOUND)
            why = "does not exist";
        else if (rc)
            return sp_error_set(err, rc, "%s", local.message);
        else if (json_is_true(json_object_get(u, "disabled")))
            why = "is disabled";
        else
            why = "started the run and may not decide it (forbid_self_approval)";
        json_decref(u);
    } else if (strncmp(a, "team:", 5) == 0) {
        bool exists = false;
        json_t *members = NULL, *active = NULL;
        if ((rc = store_team_exists(d->e->w, a + 5, &exists, err)))
            return rc;
        if (!exists) {
            why = "does not exist";
        } else if ((rc = store_team_members(d->e->w, a + 5, &members, err)) == SP_OK &&
                   (rc = store_active_users(d->e->w, NULL, a + 5, NULL, &active, err)) ==
                       SP_OK) {
            why = json_array_size(members) == 0  ? "has no members"
                  : json_array_size(active) == 0 ? "has only disabled members"
                                                 : "has no active member able to decide but "
                                                   "the run's starter (forbid_self_approval)";
        }
        json_decref(members);
        json_decref(active);
        if (rc)
            return rc;
    } else {
        why = "is not a user or team";
    }
    json_array_append_new(reasons, json_pack("s++", a, " ", why));
    return SP_OK;
}

/* "user:a, user:b" */
static void join_names(const json_t *arr, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(arr) && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                                 json_string_value(json_array_get(arr, i)));
}

/* "approvals: 2 needs 2 people but only 1 (user:carol) may decide" */
static json_t *shortfall(int approvals, size_t need, const json_t *able, const char *tail)
{
    char policy[64], names[SP_ERROR_MESSAGE_MAX], msg[SP_ERROR_MESSAGE_MAX + 192];
    if (approvals > 0)
        snprintf(policy, sizeof policy, "approvals: %d", approvals);
    else
        snprintf(policy, sizeof policy, "approvals: all");
    join_names(able, names, sizeof names);
    size_t n = json_array_size(able);
    if (n == 0)
        snprintf(msg, sizeof msg, "%s needs %zu %s but nobody may decide%s", policy, need,
                 need == 1 ? "person" : "people", tail);
    else
        snprintf(msg, sizeof msg, "%s needs %zu people but only %zu (%s) may decide%s", policy,
                 need, n, names, tail);
    return json_string(msg);
}

/* The active admins as assignees ("user:admin", ...), the starter left out
 * under forbid_self unless nobody else is left; one query. */
static sp_code admin_assignees(deciders *d, json_t **out, sp_error *err)
{
    json_t *names = NULL, *admins = json_array();
    bool starter_is_admin = false;
    sp_code rc = store_active_users(d->e->w, NULL, NULL, "admin", &names, err);
    if (rc) {
        json_decref(admins);
        return rc;
    }
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *name = json_string_value(json_array_get(names, i));
        if (d->forbid_self && d->starter && strcmp(d->starter, name) == 0)
            starter_is_admin = true;
        else
            json_array_append_new(admins, json_pack("s++", "user:", name, ""));
    }
    json_decref(names);
    if (json_array_size(admins) == 0 && starter_is_admin)
        json_array_append_new(admins, json_pack("s++", "user:", d->starter, ""));
    *out = admins;
    return SP_OK;
}

/* Appends v to the set arr unless there already. */
static void append_one(json_t *arr, json_t *v)
{
    for (size_t k = 0; k < json_array_size(arr); k++)
        if (json_equal(json_array_get(arr, k), v))
            return;
    json_array_append(arr, v);
}

static void append_new(json_t *arr, const json_t *more)
{
    size_t i;
    json_t *v;
    json_array_foreach(more, i, v)
        append_one(arr, v);
}

sp_code routing_fallback(engine *e, json_t **assignees, const char *starter, bool forbid_self,
                         int approvals, json_t **unroutable, sp_error *err)
{
    *unroutable = NULL;
    size_t need = approvals > 0 ? (size_t)approvals : 1;
    deciders d = { e, starter, forbid_self, json_object(), json_object(), json_array() };
    json_t *nobody = json_array(), *reasons = json_array(), *admins = NULL;
    size_t i;
    json_t *v;
    sp_code rc = SP_OK;

    json_array_foreach(*assignees, i, v) {
        const char *a = json_string_value(v);
        bool any = false;
        if (!a)
            continue;
        if ((rc = count_assignee(&d, a, need, &any, err)))
            goto out;
        if (json_array_size(d.able) >= need)
            goto out;                               /* the hot path ends here */
        if (!any)
            append_one(nobody, v);
    }

    /* Falls back: now, and only now, find out why. */
    json_array_foreach(nobody, i, v)
        if ((rc = why_nobody(&d, json_string_value(v), reasons, err)))
            goto out;
    if (json_array_size(*assignees) == 0)
        json_array_append_new(reasons, json_string("the route names no assignee"));
    if (json_array_size(d.able) > 0)
        json_array_append_new(reasons, shortfall(approvals, need, d.able, ""));
    if ((rc = admin_assignees(&d, &admins, err)))
        goto out;

    /* Enough admins: they decide instead. Too few: the route's own
     * assignees stay beside them, so that the able people of both together
     * may still meet approvals: N; if even they are too few, the gate
     * waits all the same (it can be rejected or reassigned by an admin, or
     * time out) and the record says so. */
    size_t admins_able = 0;
    json_array_foreach(admins, i, v)
        if (!(forbid_self && starter && strcmp(json_string_value(v) + 5, starter) == 0))
            admins_able++;
    json_t *to;
    bool short_ = false;
    if (admins_able >= need) {
        to = json_incref(admins);
    } else {
        to = json_copy(*assignees);
        append_new(to, admins);
        json_t *all = json_copy(d.able);
        json_array_foreach(admins, i, v)
            if (!(forbid_self && starter && strcmp(json_string_value(v) + 5, starter) == 0))
                append_one(all, v);
        short_ = json_array_size(all) < need;
        if (short_)
            json_array_append_new(reasons,
                                  shortfall(approvals, need, all,
                                            json_array_size(admins) == 0
                                                ? " and there is no active admin either"
                                                : " even with the admins"));
        json_decref(all);
    }
    *unroutable = json_pack("{s:O, s:s, s:O, s:O, s:O, s:O, s:b, s:i}",
                            "original_assignees", *assignees,
                            "reason", json_array_size(d.able) == 0
                                          ? "no active assignee can decide"
                                          : "fewer people can decide than the policy needs",
                            "reasons", reasons, "able", d.able, "admins", admins,
                            "assignees", to, "short", short_, "needed", (int)need);
    json_decref(*assignees);
    *assignees = to;

out:
    json_decref(d.people);
    json_decref(d.teams);
    json_decref(d.able);
    json_decref(nobody);
    json_decref(reasons);
    json_decref(admins);
    return rc;
}
