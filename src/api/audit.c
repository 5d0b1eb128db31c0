/*
 * audit.c - GET /v1/audit (json, jsonl, csv), GET and POST /v1/audit/verify
 * (POST checks a saved signed head too), GET /v1/audit/head (the trail's
 * end, signed) and GET /v1/audit/key (the public key heads are signed with).
 *
 * A response holds at most API_AUDIT_PAGE_MAX rows; callers page with
 * ?after=<last seq>. Rows are built into one buffer while the store scan
 * runs, so a page costs one pass and no per-row allocation beyond the row's
 * own JSON.
 */
#include "api/api_internal.h"

#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/jsonx.h"

#define API_AUDIT_CSV_HEAD "seq,at,actor,type,run_id,approval_id,data,prev_hash,hash\n"

typedef enum { AUDIT_JSON, AUDIT_JSONL, AUDIT_CSV } audit_format;

typedef struct {
    audit_format format;
    api_buf text;               /* jsonl and csv */
    json_t *items;              /* json */
    int64_t limit;              /* rows asked for: a full page may have more after it */
    int64_t rows;
    int64_t last_seq;
} audit_page;

static void add_csv(api_buf *b, const store_audit_row *row)
{
    char at[SP_TIME_BUF];
    api_buf_printf(b, "%lld,", (long long)row->seq);
    api_buf_csv(b, time_format(row->at, at));
    const char *rest[] = { row->actor, row->type, row->run_id, row->approval_id, row->data,
                           row->prev_hash, row->hash };
    for (size_t i = 0; i < sizeof rest / sizeof *rest; i++) {
        api_buf_add(b, ",", 1);
        api_buf_csv(b, rest[i]);
    }
    api_buf_add(b, "\n", 1);
}

static int on_row(void *ctx, const store_audit_row *row)
{
    audit_page *p = ctx;
    p->rows++;
    p->last_seq = row->seq;
    if (p->format == AUDIT_CSV) {
        add_csv(&p->text, row);
        return p->text.oom;
    }
    json_t *j = audit_row_json(row);
    if (!j)
        return 1;
    if (p->format == AUDIT_JSON) {
        json_array_append_new(p->items, j);
        return 0;
    }
    char *line = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!line)
        return 1;
    api_buf_puts(&p->text, line);
    api_buf_add(&p->text, "\n", 1);
    free(line);
    return p->text.oom;
}

static sp_code parse_filter(api_call *c, store_audit_filter *f, audit_format *format,
                            sp_error *err)
{
    const char *fmt = http_query(c->req, "format");
    int limit = API_AUDIT_PAGE_MAX;
    *f = (store_audit_filter){ .run_id = http_query(c->req, "run_id"),
                               .approval_id = http_query(c->req, "approval_id") };
    if (!fmt || strcmp(fmt, "json") == 0)
        *format = AUDIT_JSON;
    else if (strcmp(fmt, "jsonl") == 0)
        *format = AUDIT_JSONL;
    else if (strcmp(fmt, "csv") == 0)
        *format = AUDIT_CSV;
    else
        return sp_error_set(err, SP_EBADINPUT, "format: must be json, jsonl or csv");
    if (f->run_id && !id_valid("run", f->run_id))
        return sp_error_set(err, SP_EBADINPUT, "run_id: not a run id");
    if (f->approval_id && !id_valid("apr", f->approval_id))
        return sp_error_set(err, SP_EBADINPUT, "approval_id: not an approval id");
    sp_code rc = api_parse_count(http_query(c->req, "after"), "after", 0, &f->after_seq, err);
    if (!rc)
        rc = api_parse_limit(http_query(c->req, "limit"), API_AUDIT_PAGE_MAX,
                             API_AUDIT_PAGE_MAX, &limit, err);
    f->limit = limit;
    return rc;
}

static void reply_page(http_request *req, audit_page *p)
{
    if (p->format == AUDIT_JSON) {
        /* next_after: where the next page starts, null when this one was the end */
        http_reply_json(req, 200, json_pack("{s:O, s:o}", "items", p->items, "next_after",
                                            p->rows >= p->limit
                                                ? json_integer(p->last_seq) : json_null()));
        return;
    }
    size_t len;
    char *text = api_buf_take(&p->text, &len);
    if (!text) {
        api_fail(req, SP_ENOMEM, "out of memory building the audit page");
        return;
    }
    http_reply_raw(req, 200,
                   p->format == AUDIT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson",
                   text, len);
}

void api_audit_list(api_call *c)
{
    store_audit_filter f;
    audit_page page = { 0 };
    sp_error err = SP_ERROR_INIT;
    if (parse_filter(c, &f, &page.format, &err)) {
        api_fail_err(c->req, &err);
        return;
    }
    page.limit = f.limit;
    if (page.format == AUDIT_JSON)
        page.items = json_array();
    if (page.format == AUDIT_CSV)
        api_buf_puts(&page.text, API_AUDIT_CSV_HEAD);
    store_conn *r = store_reader(c->a->store);
    sp_code rc = store_audit_scan(r, &f, on_row, &page, &err);
    store_release(r);
    if (!rc && (page.text.oom || (page.format == AUDIT_JSON &&
                                  json_array_size(page.items) != (size_t)page.rows)))
        rc = sp_error_set(&err, SP_ENOMEM, "out of memory building the audit page");
    if (rc)
        api_fail_err(c->req, &err);
    else
        reply_page(c->req, &page);
    api_buf_free(&page.text);
    json_decref(page.items);
}

static void verify_reply(api_call *c, const json_t *saved_head)
{
    sp_error err = SP_ERROR_INIT;
    json_t *result = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = r ? audit_verify(r, c->a->cfg.audit_key, saved_head, &result, &err)
                   : sp_error_set(&err, SP_EUNAVAIL, "the store is not available");
    store_release(r);
    if (rc)
        api_fail_err(c->req, &err);
    else
        http_reply_json(c->req, 200, result);
}

void api_audit_verify(api_call *c)
{
    verify_reply(c, NULL);
}

/* POST {"head": <a signed head>}: the same check, and the trail must extend
 * that head. Nothing changes; a body is how a head saved elsewhere comes in. */
void api_audit_verify_head(api_call *c)
{
    static const api_field fields[] = {
        { "head", API_T_OBJECT, true, 0 },
        { .name = NULL },
    };
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    verify_reply(c, json_object_get(body, "head"));
    json_decref(body);
}

void api_audit_head(api_call *c)
{
    sp_error err = SP_ERROR_INIT;
    json_t *head = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = r ? audit_head_take(r, c->a->cfg.audit_key, clock_now(), &head, &err)
                   : sp_error_set(&err, SP_EUNAVAIL, "the store is not available");
    store_release(r);
    if (rc)
        api_fail_err(c->req, &err);
    else
        http_reply_json(c->req, 200, head);
}

void api_audit_key(api_call *c)
{
    if (!audit_key_can_sign(c->a->cfg.audit_key)) {
        api_fail(c->req, SP_EUNAVAIL, "this server has no head signing key");
        return;
    }
    http_reply_json(c->req, 200, audit_public_key_json(c->a->cfg.audit_key));
}
