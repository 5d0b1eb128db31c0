/*
 * principal.c - what a resolved caller may do, and whom it answers to.
 */
#include "auth/auth.h"

#include <stdio.h>
#include <string.h>

void principal_clear(principal *p)
{
    if (!p)
        return;
    json_decref(p->teams);
    memset(p, 0, sizeof *p);
}

bool principal_is_admin(const principal *p)
{
    /* Both: an admin's member-scoped key must not administer. */
    return p && strcmp(p->role, "admin") == 0 && strcmp(p->scope, "admin") == 0;
}

json_t *principal_assignee_names(const principal *p)
{
    json_t *names = json_array();
    char buf[8 + 256];
    if (!names || !p)
        return names;
    snprintf(buf, sizeof buf, "user:%s", p->name);
    json_array_append_new(names, json_string(buf));
    size_t i;
    json_t *t;
    json_array_foreach(p->teams, i, t) {
        const char *team = json_string_value(t);
        if (!team)
            continue;
        snprintf(buf, sizeof buf, "team:%s", team);
        json_array_append_new(names, json_string(buf));
    }
    return names;
}

void principal_copy(principal *dst, const principal *src)
{
    memset(dst, 0, sizeof *dst);
    if (!src)
        return;
    memcpy(dst->name, src->name, sizeof dst->name);
    memcpy(dst->role, src->role, sizeof dst->role);
    memcpy(dst->scope, src->scope, sizeof dst->scope);
    dst->teams = src->teams ? json_deep_copy(src->teams) : NULL;
}
