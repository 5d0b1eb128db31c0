/*
 * routing.c - making sure a gate waits for somebody.
 *
 * Two checks. When a workflow is applied, every `user:X` and `team:X` its
 * gates route or escalate to is looked up once (by distinct name); those
 * that do not exist become warnings of the apply answer, not errors, since
 * a user or team may be created after the workflow. When a gate opens and
 * none of its assignees is an active user able to decide (unknown,
 * disabled, a team without such members, or only the run's starter under
 * forbid_self_approval), the gate goes to the active admin users instead
 * and the caller records why (audit row gate.unroutable).
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

/* ---- when a gate opens ---- */

/* Whether user name is active and may decide; if not, why (into why). */
static sp_code user_can_decide(engine *e, const char *name, const char *starter,
                               bool forbid_self, bool *can, const char **why, sp_error *err)
{
    json_t *u = NULL;
    sp_error local = SP_ERROR_INIT;
    sp_code rc = store_user_get(e->w, name, &u, &local);
    *can = false;
    if (rc == SP_ENOTFOUND) {
        *why = "does not exist";
        return SP_OK;
    }
    if (rc)
        return sp_error_set(err, rc, "%s", local.message);
    if (json_is_true(json_object_get(u, "disabled")))
        *why = "is disabled";
    else if (forbid_self && starter && strcmp(starter, name) == 0)
        *why = "started the run and may not decide it (forbid_self_approval)";
    else
        *can = true;
    json_decref(u);
    return SP_OK;
}

/* Whether one assignee has somebody able to decide; if not, why. */
static sp_code assignee_can_decide(engine *e, const char *a, const char *starter,
                                   bool forbid_self, bool *can, char *why, size_t whylen,
                                   sp_error *err)
{
    const char *reason = NULL;
    *can = false;
    if (strncmp(a, "user:", 5) == 0) {
        sp_code rc = user_can_decide(e, a + 5, starter, forbid_self, can, &reason, err);
        if (rc)
            return rc;
    } else if (strncmp(a, "team:", 5) == 0) {
        bool exists = false;
        sp_code rc = store_team_exists(e->w, a + 5, &exists, err);
        if (rc)
            return rc;
        if (!exists) {
            reason = "does not exist";
        } else {
            json_t *members = NULL;
            if ((rc = store_team_members(e->w, a + 5, &members, err)))
                return rc;
            reason = json_array_size(members) == 0 ? "has no members"
                                                   : "has no active member able to decide";
            for (size_t k = 0; !*can && k < json_array_size(members); k++) {
                const char *ignored;
                rc = user_can_decide(e, json_string_value(json_array_get(members, k)), starter,
                                     forbid_self, can, &ignored, err);
                if (rc)
                    break;
            }
            json_decref(members);
            if (rc)
                return rc;
        }
    } else {
        reason = "is not a user or team";
    }
    if (!*can)
        snprintf(why, whylen, "%s %s", a, reason ? reason : "cannot decide");
    return SP_OK;
}

/* The active admin users as assignees ("user:admin", ...), the starter left
 * out under forbid_self unless nobody else is left. */
static sp_code admin_assignees(engine *e, const char *starter, bool forbid_self, json_t **out,
                               sp_error *err)
{
    json_t *names = NULL, *admins = json_array();
    bool starter_is_admin = false;
    sp_code rc = store_user_list(e->w, &names, err);
    for (size_t i = 0; rc == SP_OK && i < json_array_size(names); i++) {
        const char *name = json_string_value(json_array_get(names, i));
        json_t *u = NULL;
        if ((rc = store_user_get(e->w, name, &u, err)))
            break;
        const char *role = json_str(u, "role");
        if (role && strcmp(role, "admin") == 0 && !json_is_true(json_object_get(u, "disabled"))) {
            if (forbid_self && starter && strcmp(starter, name) == 0)
                starter_is_admin = true;
            else
                json_array_append_new(admins, json_pack("s++", "user:", name, ""));
        }
        json_decref(u);
    }
    json_decref(names);
    if (rc) {
        json_decref(admins);
        return rc;
    }
    if (json_array_size(admins) == 0 && starter_is_admin)
        json_array_append_new(admins, json_pack("s++", "user:", starter, ""));
    *out = admins;
    return SP_OK;
}

sp_code routing_fallback(engine *e, json_t **assignees, const char *starter, bool forbid_self,
                         json_t **unroutable, sp_error *err)
{
    *unroutable = NULL;
    json_t *reasons = json_array();
    size_t i;
    json_t *v;
    sp_code rc = SP_OK;
    json_array_foreach(*assignees, i, v) {
        const char *a = json_string_value(v);
        bool can = false;
        char why[SP_ERROR_MESSAGE_MAX];
        if (!a)
            continue;
        if ((rc = assignee_can_decide(e, a, starter, forbid_self, &can, why, sizeof why, err)))
            break;
        if (can) {
            json_decref(reasons);
            return SP_OK;
        }
        json_array_append_new(reasons, json_string(why));
    }
    json_t *admins = NULL;
    if (rc || (rc = admin_assignees(e, starter, forbid_self, &admins, err))) {
        json_decref(reasons);
        return rc;
    }
    if (json_array_size(reasons) == 0)
        json_array_append_new(reasons, json_string("the route names no assignee"));
    *unroutable = json_pack("{s:O, s:s, s:o, s:O}", "original_assignees", *assignees,
                            "reason", "no active assignee can decide", "reasons", reasons,
                            "assignees", admins);
    if (json_array_size(admins) > 0) {
        json_decref(*assignees);
        *assignees = admins;
    } else {
        json_decref(admins);    /* no admin either: left as routed, the record says so */
    }
    return SP_OK;
}
