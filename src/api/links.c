/*
 * links.c - signed decision links (SPEC §5), from issuing to deciding:
 *
 *   POST /v1/approvals/{id}/links    admin: {user, decision} -> 201 {path, expires_at}
 *   POST /v1/admin/link-keys/rotate  admin: a new signing key; old links still work
 *   GET  /l/{token}                  anyone: a confirmation page; decides nothing
 *   POST /l/{token}                  anyone: the form of that page; decides, once
 *
 * A GET never decides, so mail scanners that fetch every link approve
 * nothing. The token is the credential: it names one approver, one gate and
 * one decision, and its MAC breaks if any of it is edited. The POST checks
 * everything again - the MAC, the expiry, the approver still exists, is not
 * disabled and is still an assignee (the engine checks that last one inside
 * the decision's transaction, where the link's one use is recorded too).
 * Every refusal is a page that says why, in words, with the right status.
 *
 * Pages are plain HTML with no script and no inline style, so the default
 * Content-Security-Policy applies unchanged.
 */
#include "api/api_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/link.h"
#include "gate/gate.h"
#include "core/clock.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "secrets/secrets.h"

/* ---- issuing ---- */

void api_link_issue(api_call *c)
{
    static const api_field fields[] = {
        { "user", API_T_STRING, true, API_NAME_MAX },
        { "decision", API_T_STRING, true, 16 },
        { .name = NULL },
    };
    static const char *const decisions[] = { "approve", "reject", NULL };
    const char *id = http_param(c->req, 0);
    if (!api_id_ok(c, "apr", id, "approval"))
        return;
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    sp_error err = SP_ERROR_INIT;
    if (api_check_word(json_str(body, "decision"), decisions, "decision", &err) != SP_OK) {
        json_decref(body);
        api_fail_err(c->req, &err);
        return;
    }
    json_object_set_new(body, "approval_id", json_string(id));
    api_submit(c, ENGINE_ISSUE_LINK, body, 0);
}

void api_link_keys_rotate(api_call *c)
{
    static const api_field fields[] = {
        { "revoke", API_T_BOOL, false, 0 },
        { .name = NULL },
    };
    json_t *body = api_body_checked(c, fields, true);
    if (!body)
        return;
    api_submit(c, ENGINE_ROTATE_LINK_KEYS, body, 0);
}

/* ---- pages ---- */

static void html_escape(api_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': api_buf_puts(b, "&lt;"); break;
        case '>': api_buf_puts(b, "&gt;"); break;
        case '&': api_buf_puts(b, "&amp;"); break;
        case '"': api_buf_puts(b, "&quot;"); break;
        case '\'': api_buf_puts(b, "&#39;"); break;
        default: api_buf_add(b, s, 1);
        }
    }
}

static void page_start(api_buf *b, const char *title)
{
    api_buf_puts(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width\">"
                    "<meta name=\"robots\" content=\"noindex\"><title>");
    html_escape(b, title);
    api_buf_puts(b, " - spojit</title></head>\n<body><main>\n<h1>");
    html_escape(b, title);
    api_buf_puts(b, "</h1>\n");
}

static void page_send(http_request *req, int status, api_buf *b)
{
    api_buf_puts(b, "</main></body></html>\n");
    size_t len;
    char *text = api_buf_take(b, &len);
    if (!text) {
        api_fail(req, SP_ENOMEM, "out of memory");
        return;
    }
    /* A decision link must not leak through Referer or be cached. */
    http_add_header(req, "Cache-Control", "no-store");
    http_reply_raw(req, status, "text/html; charset=utf-8", text, len);
}

/* A page with a title and one paragraph. */
static void page_message(http_request *req, int status, const char *title, const char *text)
{
    api_buf b = { 0 };
    page_start(&b, title);
    api_buf_puts(&b, "<p>");
    html_escape(&b, text);
    api_buf_puts(&b, "</p>\n");
    page_send(req, status, &b);
}

/* What a link needs to be usable, checked on every GET and POST. On
 * failure the page is sent and false returned; on success *gate (new ref)
 * is the pending gate and *user the approver. */
static bool link_usable(api_call *c, const char *token, link_claims *lc, json_t **gate,
                        json_t **user)
{
    sp_error err = SP_ERROR_INIT;
    json_t *keys = NULL;
    bool used = false;
    *gate = *user = NULL;
    store_conn *r = store_reader(c->a->store);
    if (!r) {
        page_message(c->req, 503, "Try again", "The server cannot read its store just now.");
        return false;
    }
    if (secrets_doc_get(r, c->a->cfg.secrets_key, "link_keys", &keys, &err) != SP_OK &&
        err.code != SP_ENOTFOUND)
        log_error("api: cannot read the link signing keys: %s", err.message);
    sp_error_clear(&err);
    sp_code rc = link_verify(keys, token, lc, &err);
    json_decref(keys);
    const char *title = NULL, *why = NULL;
    int status = 200;
    if (rc) {
        status = 403, title = "This link is not valid",
        why = "It was changed, or it was not issued by this server. Use the link exactly as "
              "you received it, or decide in the inbox.";
    } else if (clock_now() >= lc->expires) {
        status = 410, title = "This link has expired",
        why = "Decision links stop working when the approval is due. Decide in the inbox, "
              "if the approval is still open.";
    } else if (store_link_used(r, lc->nonce, &used, &err) != SP_OK || used) {
        status = used ? 409 : 503, title = used ? "This link has been used" : "Try again",
        why = used ? "A decision link works once, and this one already made its decision."
                   : "The server cannot read its store just now.";
    } else if (store_approval_get(r, lc->approval_id, gate, &err) != SP_OK) {
        status = 404, title = "No such approval", why = "The approval this link is for is gone.";
    } else if (strcmp(json_str(*gate, "status"), "pending") != 0) {
        status = 409, title = "Already decided";
        why = strcmp(json_str(*gate, "status"), "expired") == 0
                  ? "This approval has expired; nothing more can be decided."
                  : "This approval is no longer waiting for a decision.";
    } else if (store_user_get(r, lc->by, user, &err) != SP_OK ||
               json_is_true(json_object_get(*user, "disabled")) ||
               strcmp(json_str(*user, "role"), "viewer") == 0 ||
               !gate_is_assignee(*gate, lc->by, json_object_get(*user, "teams"))) {
        /* Reassigned away: the page shows nothing of the approval either. */
        status = 403, title = "This link cannot be used",
        why = "The person it was issued to can no longer decide.";
    }
    store_release(r);
    sp_error_clear(&err);
    if (!title)
        return true;
    json_decref(*gate);
    json_decref(*user);
    *gate = *user = NULL;
    page_message(c->req, status, title, why);
    return false;
}

static bool approving(const link_claims *lc)
{
    return strcmp(lc->decision, "approve") == 0;
}

void api_link_page(api_call *c)
{
    const char *token = http_param(c->req, 0);
    link_claims lc;
    json_t *gate, *user;
    if (!link_usable(c, token, &lc, &gate, &user))
        return;
    api_buf b = { 0 };
    char expires[SP_TIME_BUF];
    page_start(&b, approving(&lc) ? "Approve this request?" : "Reject this request?");
    api_buf_puts(&b, "<h2>");
    html_escape(&b, json_str(gate, "title"));
    api_buf_puts(&b, "</h2>\n");
    if (json_str(gate, "summary")) {
        api_buf_puts(&b, "<p>");
        html_escape(&b, json_str(gate, "summary"));
        api_buf_puts(&b, "</p>\n");
    }
    static const char *const parts[] = { "proposal", "reasoning", "context", NULL };
    for (const char *const *p = parts; *p; p++) {
        json_t *v = json_object_get(gate, *p);
        if (!v || json_is_null(v))
            continue;
        char *text = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        api_buf_printf(&b, "<h3>%s</h3>\n<pre>", *p);
        html_escape(&b, text);
        api_buf_puts(&b, "</pre>\n");
        free(text);
    }
    const char *rule = json_str(json_object_get(gate, "policy"), "require_comment");
    bool comment_needed = rule && (strcmp(rule, "always") == 0 ||
                                   (strcmp(rule, "reject") == 0 && !approving(&lc)));
    api_buf_puts(&b, "<p>This link is for <strong>");
    html_escape(&b, lc.by);
    api_buf_printf(&b, "</strong> and works once, until %s.</p>\n",
                   time_format(lc.expires, expires));
    /* The form posts back to this very URL: only that POST decides. */
    api_buf_puts(&b, "<form method=\"post\">\n<p><label for=\"comment\">Comment</label><br>"
                     "<textarea id=\"comment\" name=\"comment\" rows=\"4\" cols=\"60\"");
    api_buf_puts(&b, comment_needed ? " required></textarea></p>\n" : "></textarea></p>\n");
    api_buf_printf(&b, "<p><button type=\"submit\">%s</button></p>\n</form>\n",
                   approving(&lc) ? "Approve" : "Reject");
    json_decref(gate);
    json_decref(user);
    page_send(c->req, 200, &b);
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* The value of `name` in an application/x-www-form-urlencoded body
 * (malloc'd, decoded), "" when absent, NULL when malformed. */
static char *form_value(const char *body, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end - i > nlen && strncmp(body + i, name, nlen) == 0 && body[i + nlen] == '=') {
            char *out = malloc(end - i);
            size_t o = 0;
            for (size_t k = i + nlen + 1; k < end; k++) {
                if (body[k] == '+') {
                    out[o++] = ' ';
                } else if (body[k] == '%') {
                    int hi = k + 2 < end ? hex_digit(body[k + 1]) : -1;
                    int lo = k + 2 < end ? hex_digit(body[k + 2]) : -1;
                    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                        free(out);
                        return NULL;
                    }
                    out[o++] = (char)(hi * 16 + lo);
                    k += 2;
                } else {
                    out[o++] = body[k];
                }
            }
            out[o] = '\0';
            return out;
        }
        i = end + 1;
    }
    return strdup("");
}

/* Handed to the engine with the decision; renders its outcome as a page. */
typedef struct {
    http_request *req;
    char decision[8];
} link_reply;

static void on_link_decided(void *ctx, int status, json_t *body)
{
    link_reply *lr = ctx;
    if (status == 200) {
        const char *gstatus = json_str(body, "status");
        char text[256];
        snprintf(text, sizeof text, "Your decision (%s) is recorded. The approval is now %s.",
                 lr->decision, gstatus ? gstatus : "updated");
        page_message(lr->req, 200, "Thank you", text);
    } else {
        const char *message = json_str(json_object_get(body, "error"), "message");
        page_message(lr->req, status, status == 409 ? "Not recorded" : "Not allowed",
                     message ? message : "The decision could not be recorded.");
    }
    json_decref(body);
    free(lr);
}

void api_link_decide(api_call *c)
{
    const char *token = http_param(c->req, 0);
    link_claims lc;
    json_t *gate, *user;
    if (!link_usable(c, token, &lc, &gate, &user))
        return;
    size_t len = 0;
    const char *body = http_body(c->req, &len);
    char *comment = form_value(body ? body : "", body ? len : 0, "comment");
    link_reply *lr = comment ? calloc(1, sizeof *lr) : NULL;
    if (!comment || strlen(comment) > API_TEXT_MAX || !lr) {
        free(comment);
        free(lr);
        json_decref(gate);
        json_decref(user);
        page_message(c->req, 400, "Not recorded", "The form could not be read; send it again.");
        return;
    }
    /* The approver as a person acting by hand: their role, a member scope. */
    principal who = { 0 };
    snprintf(who.name, sizeof who.name, "%s", lc.by);
    snprintf(who.role, sizeof who.role, "%s", json_str(user, "role"));
    snprintf(who.scope, sizeof who.scope, "member");
    who.teams = json_incref(json_object_get(user, "teams"));
    json_t *args = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "approval_id", lc.approval_id,
                             "decision", lc.decision, "via", "link", "link_nonce", lc.nonce,
                             "comment", comment[0] ? comment : NULL);
    lr->req = c->req;
    snprintf(lr->decision, sizeof lr->decision, "%s", lc.decision);
    http_defer(c->req);
    engine_submit(c->a->engine, ENGINE_DECIDE, &who, args, on_link_decided, lr);
    json_decref(args);
    principal_clear(&who);
    free(comment);
    json_decref(gate);
    json_decref(user);
}
