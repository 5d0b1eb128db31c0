/*
 * approvals.c - the gates: ask for one, the inbox, read one (long-poll),
 * decide, reassign.
 *
 * Visibility of a gate is auth/visibility.c's rule: anyone else gets 404,
 * as for a gate that does not exist. Who may *decide* is the engine's rule
 * (gate/gate.c), checked against the stored gate inside the transaction,
 * where the engine applies the visibility rule first: so a decision costs
 * no store read on the HTTP thread.
 */
#include "api/api_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/jsonx.h"
#include "outbound/outbound.h"
#include "workflow/workflow.h"

static const char *const gate_statuses[] = { "pending", "approved", "rejected", "expired",
                                             "canceled", NULL };


/* ---- POST /v1/approvals ---- */

static sp_code check_policy(const json_t *policy, sp_error *err)
{
    static const api_field fields[] = {
        { "approvals", API_T_ANY, false, 0 },         /* checked below */
        { "forbid_self_approval", API_T_BOOL, false, 0 },
        { "require_comment", API_T_STRING, false, 16 },
        { .name = NULL },
    };
    static const char *const comment_rules[] = { "reject", "always", "never", NULL };
    sp_code rc = api_check_fields(policy, fields, "policy", err);
    const json_t *n = json_object_get(policy, "approvals");
    if (!rc && n && !(json_is_string(n) && strcmp(json_string_value(n), "all") == 0) &&
        !(json_is_integer(n) && json_integer_value(n) >= 1 &&
          json_integer_value(n) <= API_APPROVALS_MAX))
        rc = sp_error_set(err, SP_EBADINPUT,
                          "policy.approvals: expected an integer from 1 to %d or \"all\"",
                          API_APPROVALS_MAX);
    const char *rule = json_str(policy, "require_comment");
    if (!rc && rule)
        rc = api_check_word(rule, comment_rules, "policy.require_comment", err);
    return rc;
}

/* A callback_url that plainly names this host or a private network is
 * refused here, so the caller learns at once; host names are checked when
 * the callback connects (engine/callback.c), as only then is it known
 * where they lead. */
static sp_code check_callback_url(const char *url, bool private_ok, sp_error *err)
{
    const char *what = NULL;
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return sp_error_set(err, SP_EINVALID, "callback_url: expected an http:// or https:// URL");
    if (!private_ok && outbound_url_not_public(url, &what))
        return sp_error_set(err, SP_EINVALID,
                            "callback_url: its host is a %s address; callbacks go to public "
                            "addresses only (unless the server runs with --callbacks-private)",
                            what);
    return SP_OK;
}

/* What api_check_fields cannot say: the words, the duration, the URL. */
static sp_code check_request(const json_t *body, bool private_ok, sp_error *err)
{
    static const char *const on_timeout[] = { "reject", "approve", "fail", NULL };
    static const char *const urgencies[] = { "low", "normal", "high", NULL };
    sp_code rc = api_check_assignees(json_object_get(body, "to"), "to", err);
    const json_t *policy = json_object_get(body, "policy");
    const char *timeout = json_str(body, "timeout");
    const char *url = json_str(body, "callback_url");
    int64_t ms;
    if (!rc && policy)
        rc = check_policy(policy, err);
    if (!rc && timeout && duration_parse(timeout, &ms) != 0)
        rc = sp_error_set(err, SP_EINVALID,
                          "timeout: '%.64s' is not a duration (e.g. \"90s\", \"4h\", \"PT4H\")",
                          timeout);
    if (!rc && json_str(body, "on_timeout"))
        rc = api_check_word(json_str(body, "on_timeout"), on_timeout, "on_timeout", err);
    if (!rc && json_str(body, "urgency"))
        rc = api_check_word(json_str(body, "urgency"), urgencies, "urgency", err);
    if (!rc && url)
        rc = check_callback_url(url, private_ok, err);
    const json_t *editable = json_object_get(body, "editable");
    if (!rc && editable && !json_is_null(editable)) {
        json_t *map = NULL;
        rc = workflow_editable_parse(editable, "editable", &map, err);
        json_decref(map);
    }
    return rc;
}

void api_approval_create(api_call *c)
{
    static const api_field fields[] = {
        { "title", API_T_STRING, true, API_TITLE_MAX },
        { "summary", API_T_TEXT, false, API_TEXT_MAX },
        { "urgency", API_T_STRING, false, 16 },
        { "proposal", API_T_ANY, false, 0 },
        { "reasoning", API_T_ANY, false, 0 },
        { "context", API_T_ANY, false, 0 },
        { "to", API_T_NAMES, true, API_ASSIGNEES_MAX },
        { "policy", API_T_OBJECT, false, 0 },
        { "timeout", API_T_STRING, false, 64 },
        { "on_timeout", API_T_STRING, false, 16 },
        { "callback_url", API_T_STRING, false, API_URL_MAX },
        { "editable", API_T_ANY, false, 0 },          /* checked below */
        { .name = NULL },
    };
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    sp_error err = SP_ERROR_INIT;
    if (check_request(body, c->a->cfg.callbacks_private, &err)) {
        json_decref(body);
        api_fail_err(c->req, &err);
        return;
    }
    api_submit(c, ENGINE_CREATE_APPROVAL, body, 0);
}

/* ---- GET /v1/approvals ---- */

/* ?assignee=: "me" (default) -> the caller's names; "any" -> everyone's
 * (NULL); "user:x" / "team:y" -> that one. Only those who see all gates may
 * ask for anyone else's inbox. *names: new reference or NULL. */
static sp_code inbox_names(const principal *p, const char *assignee, json_t **names,
                           sp_error *err)
{
    *names = NULL;
    if (!assignee || strcmp(assignee, "me") == 0) {
        *names = principal_assignee_names(p);
        return SP_OK;
    }
    if (strcmp(assignee, "any") != 0 && !api_assignee_valid(assignee))
        return sp_error_set(err, SP_EBADINPUT,
                            "assignee: expected me, any, user:NAME or team:NAME");
    if (!principal_sees_all(p))
        return sp_error_set(err, SP_EFORBIDDEN,
                            "assignee: only admins and viewers may list other inboxes");
    if (strcmp(assignee, "any") != 0)
        *names = json_pack("[s]", assignee);
    return SP_OK;
}

void api_approval_list(api_call *c)
{
    sp_error err = SP_ERROR_INIT;
    json_t *names = NULL;
    const char *status = http_query(c->req, "status");
    store_approval_filter f = { .cursor = http_query(c->req, "cursor") };
    if (!status)
        f.status = "pending";
    else if (strcmp(status, "any") != 0)
        f.status = status;
    if (f.status && api_check_word(f.status, gate_statuses, "status", &err) != SP_OK)
        err.code = SP_EBADINPUT;
    else if (f.cursor && !id_valid("apr", f.cursor))
        sp_error_set(&err, SP_EBADINPUT, "cursor: not a cursor from a previous page");
    else if (!api_parse_limit(http_query(c->req, "limit"), API_LIST_DEFAULT_LIMIT,
                              API_LIST_MAX_LIMIT, &f.limit, &err))
        inbox_names(&c->who, http_query(c->req, "assignee"), &names, &err);
    if (err.code) {
        api_fail_err(c->req, &err);
        return;
    }
    if (strcmp(c->who.scope, "agent") == 0 && names) {
        /* An agent key has no inbox: it decides nothing. */
        json_decref(names);
        http_reply_json(c->req, 200, json_pack("{s:[], s:n}", "items", "next_cursor"));
        return;
    }
    f.principals = names;
    json_t *items = NULL;
    char *next = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = store_approval_list(r, &f, &items, &next, &err);
    store_release(r);
    json_decref(names);
    if (rc) {
        api_fail_err(c->req, &err);
        return;
    }
    json_t *pub = json_array();
    size_t i;
    json_t *gate;
    json_array_foreach(items, i, gate)
        json_array_append_new(pub, api_public_doc(gate));
    http_reply_json(c->req, 200, json_pack("{s:o, s:s?}", "items", pub, "next_cursor", next));
    json_decref(items);
    free(next);
}

/* ---- GET /v1/approvals/{id} ---- */

/* The gate of the path (new reference) when the caller may see it; else
 * NULL after replying. A gate the caller may not see gets the answer of
 * one that does not exist, word for word (the store's "no approval '<id>'"),
 * so ids cannot be probed. */
static json_t *visible_gate(api_call *c, const char *id)
{
    sp_error err = SP_ERROR_INIT;
    json_t *gate = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = r ? store_approval_get(r, id, &gate, &err)
                   : sp_error_set(&err, SP_EUNAVAIL, "the store is not available");
    store_release(r);
    if (rc == SP_OK && !principal_sees_gate(&c->who, gate))
        rc = sp_error_set(&err, SP_ENOTFOUND, "no approval '%s'", id);
    if (rc) {
        json_decref(gate);
        api_fail_err(c->req, &err);
        return NULL;
    }
    return gate;
}

void api_approval_get(api_call *c)
{
    const char *id = http_param(c->req, 0);
    if (!api_id_ok(c, "apr", id, "approval"))
        return;
    int64_t wait_ms = api_wait_ms(c);
    if (wait_ms < 0)
        return;
    json_t *gate = visible_gate(c, id);
    if (!gate)
        return;
    if (wait_ms > 0 && api_lp_still_waiting("approval", gate)) {
        http_defer(c->req);
        api_lp_park(c->a->lp, "approval", id, c->req, &c->who, 200, wait_ms);
    } else {
        api_reply_doc(c->req, 200, gate);
    }
    json_decref(gate);
}

/* ---- POST /v1/approvals/{id}/decisions ---- */

static sp_code check_decision(const json_t *body, sp_error *err)
{
    static const char *const decisions[] = { "approve", "reject", NULL };
    sp_code rc = api_check_word(json_str(body, "decision"), decisions, "decision", err);
    const char *ptr;
    json_t *v;
    if (rc)
        return rc;
    json_object_foreach(json_object_get(body, "edits"), ptr, v)
        if (ptr[0] != '/')
            return sp_error_set(err, SP_EINVALID,
                                "edits: '%.64s' is not a JSON pointer (e.g. \"/amount\")", ptr);
    return SP_OK;
}

void api_approval_decide(api_call *c)
{
    static const api_field fields[] = {
        { "decision", API_T_STRING, true, 16 },
        { "comment", API_T_TEXT, false, API_TEXT_MAX },
        { "edits", API_T_OBJECT, false, 0 },
        { .name = NULL },
    };
    const char *id = http_param(c->req, 0);
    if (!api_id_ok(c, "apr", id, "approval"))
        return;
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    sp_error err = SP_ERROR_INIT;
    if (check_decision(body, &err)) {
        json_decref(body);
        api_fail_err(c->req, &err);
        return;
    }
    json_object_set_new(body, "approval_id", json_string(id));
    json_object_set_new(body, "via", json_string("api"));
    api_submit(c, ENGINE_DECIDE, body, 0);
}

/* ---- POST /v1/approvals/{id}/reassign ---- */

void api_approval_reassign(api_call *c)
{
    static const api_field fields[] = {
        { "to", API_T_NAMES, true, API_ASSIGNEES_MAX },
        { .name = NULL },
    };
    const char *id = http_param(c->req, 0);
    if (!api_id_ok(c, "apr", id, "approval"))
        return;
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    sp_error err = SP_ERROR_INIT;
    if (api_check_assignees(json_object_get(body, "to"), "to", &err)) {
        json_decref(body);
        api_fail_err(c->req, &err);
        return;
    }
    json_object_set_new(body, "approval_id", json_string(id));
    api_submit(c, ENGINE_REASSIGN, body, 0);
}
