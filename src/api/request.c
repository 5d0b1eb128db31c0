/*
 * request.c - the path every handler shares: access rules, reading the
 * body, replying with documents and errors, and handing changes to the
 * engine with the reply deferred until it has committed.
 */
#include "api/api_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "core/ids.h"
#include "core/jsonx.h"
#include "core/log.h"

static bool is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* The rules of docs/api/README.md, "Who may call what". */
bool api_access_allows(api_access rule, const principal *p)
{
    switch (rule) {
    case API_PUBLIC:
    case API_DEMO:
    case API_ANYONE:
        return true;
    case API_ACTOR:
        return !is(p->role, "viewer");
    case API_PERSON:
        return !is(p->role, "viewer") && !is(p->scope, "agent");
    case API_AUDITOR:
        return principal_sees_all(p);
    case API_ADMIN:
    case API_ADMIN_TEST:
        return principal_is_admin(p);
    }
    return false;
}

void api_fail(http_request *req, sp_code code, const char *fmt, ...)
{
    sp_error err = SP_ERROR_INIT;
    va_list ap;
    va_start(ap, fmt);
    sp_error_vset(&err, code, fmt, ap);
    va_end(ap);
    api_fail_err(req, &err);
}

void api_fail_err(http_request *req, sp_error *err)
{
    if (err->code == SP_OK)             /* a caller bug; never answer 200 with an error */
        sp_error_set(err, SP_EINTERNAL, "internal error");
    if (sp_code_http_status(err->code) >= 500)
        log_error("api: %s %s: %s", http_method(req), http_path(req), err->message);
    http_reply_error(req, err);
    sp_error_clear(err);
}

json_t *api_body_object(api_call *c, bool empty_ok)
{
    size_t len = 0;
    const char *body = http_body(c->req, &len);
    if (len == 0 || !body) {
        if (empty_ok)
            return json_object();
        api_fail(c->req, SP_EBADINPUT, "request body: expected a JSON object, got nothing");
        return NULL;
    }
    sp_error err = SP_ERROR_INIT;
    /* Bodies carry passwords and secret values: a parse error says where,
     * never quotes what. */
    json_t *v = json_parse_private(body, len, SP_JSON_MAX_DEPTH, "request body", &err);
    if (!v) {
        if (err.code == SP_OK)
            sp_error_set(&err, SP_EBADINPUT, "request body: not valid JSON");
        api_fail_err(c->req, &err);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        api_fail(c->req, SP_EBADINPUT, "request body: expected a JSON object");
        return NULL;
    }
    return v;
}

json_t *api_body_checked(api_call *c, const api_field *fields, bool empty_ok)
{
    json_t *body = api_body_object(c, empty_ok);
    sp_error err = SP_ERROR_INIT;
    if (body && api_check_fields(body, fields, "request body", &err) != SP_OK) {
        json_decref(body);
        api_fail_err(c->req, &err);
        return NULL;
    }
    return body;
}

void api_reply_doc(http_request *req, int status, const json_t *doc)
{
    http_reply_json(req, status, api_public_doc(doc));
}

int64_t api_wait_ms(api_call *c)
{
    int64_t ms;
    sp_error err = SP_ERROR_INIT;
    if (api_parse_wait(http_query(c->req, "wait"), c->a->cfg.max_wait_seconds, &ms, &err)) {
        api_fail_err(c->req, &err);
        return -1;
    }
    return ms;
}

bool api_id_ok(api_call *c, const char *prefix, const char *id, const char *what)
{
    if (id_valid(prefix, id))
        return true;
    /* The id is not echoed: it is garbage by definition. */
    api_fail(c->req, SP_ENOTFOUND, "no such %s", what);
    return false;
}

/* ---- handing a change to the engine ---- */

/* Lives from engine_submit to the engine's reply. */
typedef struct {
    api *a;
    http_request *req;
    int64_t wait_ms;
} api_pending;

/* Engine thread, after the commit: must not block. A new run that is still
 * running and was asked to be waited for is parked instead of answered. */
static void on_engine_reply(void *ctx, int status, json_t *body)
{
    api_pending *p = ctx;
    const char *id = json_str(body, "id");
    if (p->wait_ms > 0 && status >= 200 && status < 300 && id &&
        api_lp_still_waiting("run", body)) {
        api_lp_park(p->a->lp, "run", id, p->req, NULL, status, p->wait_ms);   /* its starter */
        json_decref(body);
    } else {
        http_reply_json(p->req, status, body);
    }
    free(p);
}

void api_submit(api_call *c, engine_command cmd, json_t *args, int64_t wait_ms)
{
    api_pending *p = malloc(sizeof *p);
    if (!p) {
        json_decref(args);
        api_fail(c->req, SP_ENOMEM, "out of memory");
        return;
    }
    *p = (api_pending){ .a = c->a, .req = c->req, .wait_ms = wait_ms };
    /* Before submitting: the reply may come before engine_submit returns. */
    http_defer(c->req);
    engine_submit(c->a->engine, cmd, &c->who, args, on_engine_reply, p);
    json_decref(args);
}

/* A change waiting for its password to be hashed. */
typedef struct {
    api *a;
    http_request *req;
    principal who;
    engine_command cmd;
    json_t *args;
} password_job;

/* A password worker. */
static void hash_then_submit(void *ctx)
{
    password_job *j = ctx;
    json_t *pw = json_object_get(j->args, "password");
    char *hash = auth_password_hash(json_string_value(pw));
    sodium_memzero((char *)json_string_value(pw), json_string_length(pw));
    json_object_del(j->args, "password");
    api_pending *p = hash ? malloc(sizeof *p) : NULL;
    if (!p) {
        free(hash);
        api_fail(j->req, SP_EINTERNAL, "cannot hash the password");
    } else {
        json_object_set_new(j->args, "password_hash", json_string(hash));
        free(hash);
        *p = (api_pending){ .a = j->a, .req = j->req };
        engine_submit(j->a->engine, j->cmd, &j->who, j->args, on_engine_reply, p);
    }
    json_decref(j->args);
    principal_clear(&j->who);
    free(j);
}

void api_submit_with_password(api_call *c, engine_command cmd, json_t *args)
{
    if (!json_is_string(json_object_get(args, "password"))) {
        api_submit(c, cmd, args, 0);
        return;
    }
    password_job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(args);
        api_fail(c->req, SP_ENOMEM, "out of memory");
        return;
    }
    *j = (password_job){ .a = c->a, .req = c->req, .cmd = cmd, .args = args };
    principal_copy(&j->who, &c->who);
    /* Deferred first: the worker may answer before submit returns. */
    http_defer(c->req);
    if (!workers_submit(c->a->passwords, hash_then_submit, j)) {
        json_t *pw = json_object_get(args, "password");
        sodium_memzero((char *)json_string_value(pw), json_string_length(pw));
        json_decref(args);
        principal_clear(&j->who);
        free(j);
        http_add_header(c->req, "Retry-After", "1");
        api_fail(c->req, SP_EUNAVAIL, "too many password changes at once; try again in a second");
    }
}
