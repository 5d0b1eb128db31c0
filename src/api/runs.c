/*
 * runs.c - POST /v1/runs, GET /v1/runs[/{id}], POST /v1/runs/{id}/cancel.
 *
 * Visibility: admins and viewers see every run; anyone else sees the runs
 * they started. A run someone may not see is answered 404, exactly as one
 * that does not exist, so ids cannot be probed.
 */
#include "api/api_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/jsonx.h"

static const char *const run_statuses[] = { "running", "waiting", "completed", "failed",
                                            "canceled", NULL };

bool api_run_visible(const principal *p, const json_t *run)
{
    const char *starter = json_str(run, "started_by");
    return principal_sees_all(p) || (starter && strcmp(starter, p->name) == 0);
}

void api_run_start(api_call *c)
{
    static const api_field fields[] = {
        { "workflow", API_T_STRING, true, API_NAME_MAX },
        { "version", API_T_POSINT, false, 0 },
        { "input", API_T_OBJECT, false, 0 },
        { .name = NULL },
    };
    int64_t wait_ms = api_wait_ms(c);
    if (wait_ms < 0)
        return;
    const char *idem = http_header(c->req, "Idempotency-Key");
    if (idem && !api_idem_key_valid(idem)) {
        api_fail(c->req, SP_EBADINPUT,
                 "Idempotency-Key: 1 to %d printable ASCII characters", API_IDEM_KEY_MAX);
        return;
    }
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    if (!json_object_get(body, "input"))
        json_object_set_new(body, "input", json_object());
    if (idem)
        json_object_set_new(body, "idempotency_key", json_string(idem));
    api_submit(c, ENGINE_START_RUN, body, wait_ms);
}

void api_run_list(api_call *c)
{
    sp_error err = SP_ERROR_INIT;
    store_run_filter f = {
        .status = http_query(c->req, "status"),
        .workflow = http_query(c->req, "workflow"),
        .cursor = http_query(c->req, "cursor"),
        .started_by = principal_sees_all(&c->who) ? NULL : c->who.name,
    };
    if (f.status && api_check_word(f.status, run_statuses, "status", &err) != SP_OK)
        err.code = SP_EBADINPUT;
    else if (f.workflow && !api_name_valid(f.workflow))
        sp_error_set(&err, SP_EBADINPUT, "workflow: not a workflow name");
    else if (f.cursor && !id_valid("run", f.cursor))
        sp_error_set(&err, SP_EBADINPUT, "cursor: not a cursor from a previous page");
    else
        api_parse_limit(http_query(c->req, "limit"), API_LIST_DEFAULT_LIMIT, API_LIST_MAX_LIMIT,
                        &f.limit, &err);
    if (err.code) {
        api_fail_err(c->req, &err);
        return;
    }
    json_t *items = NULL;
    char *next = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = store_run_list(r, &f, &items, &next, &err);
    store_release(r);
    if (rc) {
        api_fail_err(c->req, &err);
        return;
    }
    json_t *pub = json_array();
    size_t i;
    json_t *run;
    json_array_foreach(items, i, run)
        json_array_append_new(pub, api_public_doc(run));
    http_reply_json(c->req, 200, json_pack("{s:o, s:s?}", "items", pub, "next_cursor", next));
    json_decref(items);
    free(next);
}

void api_run_get(api_call *c)
{
    const char *id = http_param(c->req, 0);
    if (!api_id_ok(c, "run", id, "run"))
        return;
    int64_t wait_ms = api_wait_ms(c);
    if (wait_ms < 0)
        return;
    sp_error err = SP_ERROR_INIT;
    json_t *run = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = store_run_get(r, id, &run, &err);
    store_release(r);
    if (rc == SP_OK && !api_run_visible(&c->who, run))
        rc = sp_error_set(&err, SP_ENOTFOUND, "no run '%s'", id);
    if (rc) {
        json_decref(run);
        api_fail_err(c->req, &err);
        return;
    }
    if (wait_ms > 0 && api_lp_still_waiting("run", run)) {
        http_defer(c->req);
        api_lp_park(c->a->lp, "run", id, c->req, &c->who, 200, wait_ms);
    } else {
        api_reply_doc(c->req, 200, run);
    }
    json_decref(run);
}

/* The engine checks who may cancel (admins and the starter) against the
 * stored run, inside the transaction. */
void api_run_cancel(api_call *c)
{
    static const api_field fields[] = { { .name = NULL } };
    const char *id = http_param(c->req, 0);
    if (!api_id_ok(c, "run", id, "run"))
        return;
    json_t *body = api_body_checked(c, fields, true);
    if (!body)
        return;
    json_decref(body);
    api_submit(c, ENGINE_CANCEL_RUN, json_pack("{s:s}", "run_id", id), 0);
}
