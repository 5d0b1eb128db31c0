/*
 * principals.c - POST /v1/users, /v1/teams, /v1/keys (admin only).
 *
 * Checked here, so bad input is refused before anything is queued: the
 * shape of each body (api_check_fields), names, roles, scopes and the form
 * of an email address. The engine checks names, roles and scopes again and
 * alone decides what needs the store - whether the user or team exists,
 * whether a key's scope fits its user's role - inside the transaction that
 * writes them.
 */
#include "api/api_internal.h"

#include "core/jsonx.h"

static const char *const roles[] = { "admin", "member", "viewer", NULL };
static const char *const scopes[] = { "admin", "member", "agent", NULL };

/* Replies 422 and returns false unless every entry of list is a name. */
static bool names_ok(api_call *c, const json_t *list, const char *field)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
        if (!api_name_valid(json_string_value(v))) {
            api_fail(c->req, SP_EINVALID, "%s[%zu]: 1 to %d letters, digits, '.', '_' or '-'",
                     field, i, API_NAME_MAX);
            return false;
        }
    return true;
}

static bool word_ok(api_call *c, const json_t *body, const char *field,
                    const char *const *words)
{
    const char *s = json_str(body, field);
    sp_error err = SP_ERROR_INIT;
    if (s && api_check_word(s, words, field, &err) != SP_OK) {
        api_fail_err(c->req, &err);
        return false;
    }
    return true;
}

static bool name_ok(api_call *c, const json_t *body, const char *field)
{
    const char *s = json_str(body, field);
    if (s && !api_name_valid(s)) {
        api_fail(c->req, SP_EINVALID, "%s: 1 to %d letters, digits, '.', '_' or '-'", field,
                 API_NAME_MAX);
        return false;
    }
    return true;
}

static bool password_ok(api_call *c, const json_t *body)
{
    const char *s = json_str(body, "password");
    if (s && !api_password_settable(s)) {
        api_fail(c->req, SP_EINVALID, "password: at least %d characters", API_PASSWORD_MIN);
        return false;
    }
    return true;
}

static bool email_ok(api_call *c, const json_t *body)
{
    const char *s = json_str(body, "email");
    if (s && !api_email_valid(s)) {
        api_fail(c->req, SP_EINVALID, "email: expected an address such as name@example.com");
        return false;
    }
    return true;
}

void api_user_create(api_call *c)
{
    static const api_field fields[] = {
        { "name", API_T_STRING, true, API_NAME_MAX },
        { "password", API_T_STRING, false, API_PASSWORD_MAX },
        { "email", API_T_STRING, false, API_EMAIL_MAX },
        { "teams", API_T_NAMES, false, API_LIST_FIELD_MAX },
        { "role", API_T_STRING, false, 0 },
        { .name = NULL },
    };
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    if (!name_ok(c, body, "name") || !word_ok(c, body, "role", roles) || !email_ok(c, body) ||
        !password_ok(c, body) ||
        !names_ok(c, json_object_get(body, "teams"), "teams")) {
        json_decref(body);
        return;
    }
    api_submit_with_password(c, ENGINE_CREATE_USER, body);
}

void api_team_create(api_call *c)
{
    static const api_field fields[] = {
        { "name", API_T_STRING, true, API_NAME_MAX },
        { "members", API_T_NAMES, false, API_LIST_FIELD_MAX },
        { .name = NULL },
    };
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    if (!name_ok(c, body, "name") || !names_ok(c, json_object_get(body, "members"), "members")) {
        json_decref(body);
        return;
    }
    api_submit(c, ENGINE_CREATE_TEAM, body, 0);
}

void api_key_create(api_call *c)
{
    static const api_field fields[] = {
        { "user", API_T_STRING, true, API_NAME_MAX },
        { "scope", API_T_STRING, false, 0 },
        { "name", API_T_TEXT, false, API_TITLE_MAX },
        { "expires_at", API_T_STRING, false, 64 },
        { .name = NULL },
    };
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    if (!name_ok(c, body, "user") || !word_ok(c, body, "scope", scopes) ||
        !api_key_expiry_ok(c, body)) {
        json_decref(body);
        return;
    }
    api_submit(c, ENGINE_CREATE_KEY, body, 0);
}
