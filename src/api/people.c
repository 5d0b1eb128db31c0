/*
 * people.c - reading and changing users and keys once they exist:
 *
 *   GET    /v1/users             admin: every user
 *   GET    /v1/users/{name}      admin, or the user themselves
 *   PATCH  /v1/users/{name}      admin: role, disabled, teams, email, password
 *   DELETE /v1/users/{name}      admin: the user goes, their history stays
 *   GET    /v1/keys[?user=]      admin: keys without their hashes
 *   DELETE /v1/keys/{id}         admin: revokes the key at once
 *
 * Reads use a store reader here; changes go to the engine, which checks
 * again what needs the store and writes the audit rows.
 */
#include "api/api_internal.h"

#include <string.h>

#include "core/clock.h"
#include "core/jsonx.h"

static const char *const roles[] = { "admin", "member", "viewer", NULL };

/* A user as the API shows it: never the password hash. */
static json_t *user_public(json_t *user)
{
    json_object_del(user, "password_hash");
    return user;
}

static json_t *key_public(json_t *key)
{
    json_object_del(key, "hash");
    return key;
}

/* The name in the path, or replies 404 (the name is not echoed when it
 * could not be a name at all). */
static const char *path_name(api_call *c)
{
    const char *name = http_param(c->req, 0);
    if (!name || !api_name_valid(name)) {
        api_fail(c->req, SP_ENOTFOUND, "no such user");
        return NULL;
    }
    return name;
}

/* One item of a list, by its name (borrowed); SP_ENOTFOUND skips it. */
typedef sp_code (*list_item_fn)(store_conn *r, json_t *name, json_t **item, sp_error *err);

/* {"items": [...]}: the names one store read lists, each made an item.
 * An item gone between the two reads (deleted meanwhile) is left out. */
static void reply_list(api_call *c, sp_code (*list)(store_conn *, json_t **, sp_error *),
                       list_item_fn item_of)
{
    sp_error err = SP_ERROR_INIT;
    json_t *names = NULL, *items = json_array();
    store_conn *r = store_reader(c->a->store);
    sp_code rc = r ? list(r, &names, &err)
                   : sp_error_set(&err, SP_EUNAVAIL, "the store is not available");
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        json_t *item = NULL;
        if (rc == SP_OK && (rc = item_of(r, n, &item, &err)) == SP_OK)
            json_array_append_new(items, item);
        if (rc == SP_ENOTFOUND) {
            sp_error_clear(&err);
            rc = SP_OK;
        }
    }
    if (r)
        store_release(r);
    json_decref(names);
    if (rc) {
        json_decref(items);
        api_fail_err(c->req, &err);
        return;
    }
    http_reply_json(c->req, 200, json_pack("{s:o}", "items", items));
}

static sp_code user_item(store_conn *r, json_t *name, json_t **item, sp_error *err)
{
    json_t *user = NULL;
    sp_code rc = store_user_get(r, json_string_value(name), &user, err);
    if (rc == SP_OK)
        *item = user_public(user);
    return rc;
}

static sp_code team_item(store_conn *r, json_t *name, json_t **item, sp_error *err)
{
    json_t *members = NULL;
    sp_code rc = store_team_members(r, json_string_value(name), &members, err);
    if (rc == SP_OK)
        *item = json_pack("{s:O, s:o}", "name", name, "members", members);
    return rc;
}

void api_user_list(api_call *c)
{
    reply_list(c, store_user_list, user_item);
}

/* Every team with its members: {"items": [{name, members}]}, by name. */
void api_team_list(api_call *c)
{
    reply_list(c, store_team_list, team_item);
}

void api_user_get(api_call *c)
{
    const char *name = path_name(c);
    if (!name)
        return;
    /* Others' accounts are not even confirmed to exist for non-admins. */
    if (!principal_is_admin(&c->who) && strcmp(name, c->who.name) != 0) {
        api_fail(c->req, SP_ENOTFOUND, "no user '%s'", name);
        return;
    }
    sp_error err = SP_ERROR_INIT;
    json_t *user = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = r ? store_user_get(r, name, &user, &err)
                   : sp_error_set(&err, SP_EUNAVAIL, "the store is not available");
    if (r)
        store_release(r);
    if (rc)
        api_fail_err(c->req, &err);
    else
        http_reply_json(c->req, 200, user_public(user));
}

void api_user_update(api_call *c)
{
    static const api_field fields[] = {
        { "role", API_T_STRING, false, 0 },
        { "disabled", API_T_BOOL, false, 0 },
        { "teams", API_T_NAMES, false, API_LIST_FIELD_MAX },
        { "email", API_T_STRING, false, API_EMAIL_MAX },
        { "password", API_T_STRING, false, API_PASSWORD_MAX },
        { .name = NULL },
    };
    const char *name = path_name(c);
    if (!name)
        return;
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    sp_error err = SP_ERROR_INIT;
    const char *role = json_str(body, "role"), *email = json_str(body, "email");
    if (role && api_check_word(role, roles, "role", &err) != SP_OK) {
        api_fail_err(c->req, &err);
    } else if (json_str(body, "password") && !api_password_settable(json_str(body, "password"))) {
        api_fail(c->req, SP_EINVALID, "password: at least %d characters", API_PASSWORD_MIN);
    } else if (email && !api_email_valid(email)) {
        api_fail(c->req, SP_EINVALID, "email: expected an address such as name@example.com");
    } else if (json_object_size(body) == 0) {
        api_fail(c->req, SP_EBADINPUT,
                 "request body: give at least one of role, disabled, teams, email, password");
    } else {
        json_object_set_new(body, "name", json_string(name));
        api_submit_with_password(c, ENGINE_UPDATE_USER, body);
        return;
    }
    json_decref(body);
}

void api_user_delete(api_call *c)
{
    const char *name = path_name(c);
    if (name)
        api_submit(c, ENGINE_DELETE_USER, json_pack("{s:s}", "name", name), 0);
}

void api_key_list(api_call *c)
{
    const char *user = http_query(c->req, "user");
    if (user && !api_name_valid(user)) {
        api_fail(c->req, SP_EBADINPUT, "user: not a user name");
        return;
    }
    sp_error err = SP_ERROR_INIT;
    json_t *keys = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = r ? store_key_list(r, user, &keys, &err)
                   : sp_error_set(&err, SP_EUNAVAIL, "the store is not available");
    if (r)
        store_release(r);
    if (rc) {
        api_fail_err(c->req, &err);
        return;
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
        key_public(k);
    http_reply_json(c->req, 200, json_pack("{s:o}", "items", keys));
}

void api_key_revoke(api_call *c)
{
    const char *id = http_param(c->req, 0);
    if (api_id_ok(c, "key", id, "key"))
        api_submit(c, ENGINE_REVOKE_KEY, json_pack("{s:s}", "id", id), 0);
}

/* POST /v1/keys: expires_at, when given, must be a time in the future. */
bool api_key_expiry_ok(api_call *c, const json_t *body)
{
    const char *s = json_str(body, "expires_at");
    sp_time t;
    if (!s)
        return true;
    if (time_parse(s, &t) != 0) {
        api_fail(c->req, SP_EINVALID,
                 "expires_at: not an RFC 3339 time such as \"2027-01-01T00:00:00Z\"");
        return false;
    }
    if (t <= clock_now()) {
        api_fail(c->req, SP_EINVALID, "expires_at: must be in the future");
        return false;
    }
    return true;
}
