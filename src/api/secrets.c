/*
 * secrets.c - GET /v1/secrets, PUT and DELETE /v1/secrets/{name} (admins).
 *
 * No answer ever carries a value: the list shows names and times, a write
 * answers {name, updated_at}. The value is checked here (a JSON string of
 * 1 to API_SECRET_VALUE_MAX bytes) and sealed by the engine, which alone
 * holds the master key's use for writing. Error messages name the field,
 * never its content - nor any other part of the body: a body that does not
 * parse is told by line and column (json_parse_private), one with other
 * members than "value" without naming them.
 */
#include "api/api_internal.h"

#include <string.h>

#include "core/jsonx.h"
#include "secrets/secrets.h"

_Static_assert(API_SECRET_VALUE_MAX == SECRETS_VALUE_MAX, "one limit for secret values");

static int list_one(void *ctx, const store_secret *s)
{
    char created[SP_TIME_BUF], updated[SP_TIME_BUF];
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:s}", "name", s->name, "created_at",
                                         time_format(s->created_at, created), "updated_at",
                                         time_format(s->updated_at, updated)));
    return 0;
}

void api_secret_list(api_call *c)
{
    sp_error err = SP_ERROR_INIT;
    json_t *items = json_array();
    store_conn *r = store_reader(c->a->store);
    sp_code rc = store_secret_scan(r, false, list_one, items, &err);
    store_release(r);
    if (rc) {
        json_decref(items);
        api_fail_err(c->req, &err);
        return;
    }
    http_reply_json(c->req, 200, json_pack("{s:o}", "items", items));
}

void api_secret_put(api_call *c)
{
    static const api_field fields[] = {
        { "value", API_T_STRING, true, 0 },
        { .name = NULL },
    };
    const char *name = http_param(c->req, 0);
    if (!api_name_valid(name)) {
        api_fail(c->req, SP_EINVALID, "name: 1 to %d letters, digits, '.', '_' or '-'",
                 API_NAME_MAX);
        return;
    }
    /* Not api_body_checked: its "unknown field 'NAME'" would quote the
     * body, and a value sent as a key is still a value. */
    json_t *body = api_body_object(c, false);
    if (!body)
        return;
    sp_error err = SP_ERROR_INIT;
    if (json_object_size(body) != 1 || !json_object_get(body, "value")) {
        json_decref(body);
        api_fail(c->req, SP_EBADINPUT,
                 "request body: expected {\"value\": \"...\"} and no other field");
        return;
    }
    if (api_check_fields(body, fields, "request body", &err) != SP_OK) {
        json_decref(body);
        api_fail_err(c->req, &err);
        return;
    }
    if (json_string_length(json_object_get(body, "value")) > API_SECRET_VALUE_MAX) {
        json_decref(body);
        api_fail(c->req, SP_EBADINPUT, "field 'value' in request body: longer than %d bytes",
                 API_SECRET_VALUE_MAX);
        return;
    }
    json_object_set_new(body, "name", json_string(name));
    api_submit(c, ENGINE_PUT_SECRET, body, 0);
}

void api_secret_delete(api_call *c)
{
    const char *name = http_param(c->req, 0);
    if (!api_name_valid(name)) {
        api_fail(c->req, SP_ENOTFOUND, "no such secret");
        return;
    }
    api_submit(c, ENGINE_DELETE_SECRET, json_pack("{s:s}", "name", name), 0);
}
