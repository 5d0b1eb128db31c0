/*
 * visibility.c - who may see what: one rule, used by the API (reads,
 * long-polls) and by the engine (a decision on a gate one may not see is
 * "no approval", like a gate that does not exist).
 *
 * A gate is visible to admins and viewers; to its current assignees (by
 * user or team); to whoever started its run (the agent that asked); and to
 * anyone who already decided on it, so that a reassignment does not hide
 * one's own decision. An agent key sees only what it asked for.
 */
#include "auth/auth.h"

#include <string.h>

#include "core/jsonx.h"

bool principal_sees_all(const principal *p)
{
    return principal_is_admin(p) ||
           (strcmp(p->role, "viewer") == 0 && strcmp(p->scope, "agent") != 0);
}

static bool array_has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    return false;
}

bool principal_sees_gate(const principal *p, const json_t *gate)
{
    if (principal_sees_all(p))
        return true;
    const char *starter = json_str(gate, "_started_by");
    if (starter && strcmp(starter, p->name) == 0)
        return true;
    /* An agent key reads what it asked for, not its user's inbox: what
     * people are asked to decide is not for a program that may be acting
     * on someone else's instructions. */
    if (strcmp(p->scope, "agent") == 0)
        return false;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(gate, "decisions"), i, d) {
        const char *by = json_str(d, "by");
        if (by && strcmp(by, p->name) == 0)
            return true;
    }
    /* The user, then each team, without building the list of names. */
    const json_t *assignees = json_object_get(gate, "assignees");
    json_array_foreach(assignees, i, d) {
        const char *a = json_string_value(d);
        if (!a)
            continue;
        if (strncmp(a, "user:", 5) == 0 && strcmp(a + 5, p->name) == 0)
            return true;
        if (strncmp(a, "team:", 5) == 0 && array_has(p->teams, a + 5))
            return true;
    }
    return false;
}
