/*
 * http_step.c - the http step: render the request, send it once the
 * transaction that decided to send it has committed, and take the answer
 * back as a command.
 *
 * LIFE OF A CALL
 *   run_advance reaches the step: the request is rendered (secrets bound),
 *   stored in the step entry with secrets as "***", and queued in e->calls;
 *   the entry says "_in_flight": attempt. After COMMIT the call goes to the
 *   outbound worker. Its answer comes back as ENGINE_HTTP_RESULT, lands in
 *   the entry as "_response", and run_advance is called again: the step
 *   completes, waits for a retry (transient failure) or fails.
 *
 * NO ANSWER IS LOST WHILE THE PROCESS LIVES
 *   A call the worker cannot take is answered at once as "no answer"
 *   (http_calls_flush); an ENGINE_HTTP_RESULT whose batch fails is held by
 *   the engine and applied again after a back-off (redeliver.c). So a run
 *   leaves "_in_flight" without waiting for a restart.
 *
 * EXACTLY ONCE
 *   Every non-GET call carries Idempotency-Key: <run>/<step>/<visit>, the
 *   same for every attempt of that visit. A crash while a call is in flight
 *   leaves the entry "_in_flight" in the store; the run is "running", so the
 *   engine re-sends it at start-up with the same key, and an API such as
 *   Stripe's applies it once. A call is never sent before the state that
 *   asked for it is on disk.
 *
 * FAILURES
 *   Transient - no answer (refused, reset, timed out), 408, 425, 429, 5xx,
 *   and 409 to a call with an Idempotency-Key -
 *   are retried per the step's retry (default 3 attempts), never sooner
 *   than a Retry-After in seconds asks. Anything else outside `accept`
 *   (default: any 2xx) fails the step at once. Each attempt is an audit row
 *   http.attempt.
 */
#include "engine/engine_internal.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/jsonx.h"
#include "core/log.h"
#include "expr/expr.h"
#include "secrets/secrets.h"

#define HTTP_RETRY_AFTER_MAX_S 3600      /* a longer Retry-After is capped here */

json_t *engine_secrets_now(engine *e)
{
    json_t *s = NULL;
    sp_error err = SP_ERROR_INIT;
    if (e->secrets_key && secrets_load_all(e->w, e->secrets_key, &s, &err) != SP_OK) {
        log_error("engine: cannot load secrets: %s", err.message);
        s = NULL;
    }
    sp_error_clear(&err);
    return s ? s : json_object();
}

json_t *engine_step_secrets(engine *e, const step_def *step)
{
    if (step->secrets_all)
        return engine_secrets_now(e);
    if (json_array_size(step->secret_names) == 0)
        return json_object();               /* nothing to open */
    json_t *all = engine_secrets_now(e), *mine = json_object();
    size_t i;
    json_t *name;
    json_array_foreach(step->secret_names, i, name) {
        json_t *v = json_object_get(all, json_string_value(name));
        if (v)
            json_object_set(mine, json_string_value(name), v);
    }
    json_decref(all);
    return mine;
}

/* Renders an optional template; *out NULL when t is NULL. */
static sp_code render(engine *e, const workflow *wf, expr_template *t, json_t *ctx,
                      json_t *secrets, const char *what, json_t **out, sp_error *err)
{
    *out = NULL;
    if (!t)
        return SP_OK;
    *out = expr_template_render(t, wf->program, ctx, e->env, secrets, err);
    if (*out)
        return SP_OK;
    char inner[SP_ERROR_MESSAGE_MAX];
    snprintf(inner, sizeof inner, "%s", err->message);
    return sp_error_set(err, SP_EINVALID, "http %s: %s", what, inner);
}

/* A scalar as text for a header, a query or a form value; NULL otherwise. */
static char *scalar_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_number(v) || json_is_boolean(v))
        return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    return NULL;
}

/* "k=v&k2=v2", each escaped; NULL with err when a value is not a scalar. */
static char *urlencode(const json_t *pairs, const char *what, sp_error *err)
{
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    const char *k;
    json_t *v;
    out[0] = '\0';
    json_object_foreach((json_t *)pairs, k, v) {
        char *text = scalar_text(v);
        if (!text) {
            free(out);
            sp_error_set(err, SP_EINVALID, "http %s.%s: expected a string, got %s", what, k,
                         json_is_null(v) ? "null" : json_is_object(v) ? "an object" : "an array");
            return NULL;
        }
        char *ek = curl_easy_escape(NULL, k, 0), *ev = curl_easy_escape(NULL, text, 0);
        size_t need = len + strlen(ek) + strlen(ev) + 3;
        if (need > cap) {
            cap = need * 2;
            out = realloc(out, cap);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s=%s", len ? "&" : "", ek, ev);
        curl_free(ek);
        curl_free(ev);
        free(text);
    }
    return out;
}

/* Whether curl reads url as a URL it can send. */
static bool curl_parses(const char *url)
{
    CURLU *h = curl_url();
    bool ok = h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK;
    curl_url_cleanup(h);
    return ok;
}

/*
 * The request as JSON: {method, url, headers: {name: value}, body?} with
 * url carrying the query and headers carrying auth and content type. This
 * is what is stored (redacted), shown at a gate, and sent.
 */
json_t *http_request_build(engine *e, const workflow *wf, const http_def *h,
                           const char *idem_key, json_t *ctx, json_t *secrets, sp_error *err)
{
    json_t *url = NULL, *headers = NULL, *query = NULL, *body = NULL, *auth = NULL, *req = NULL;
    if (render(e, wf, h->url, ctx, secrets, "url", &url, err) ||
        render(e, wf, h->headers, ctx, secrets, "headers", &headers, err) ||
        render(e, wf, h->query, ctx, secrets, "query", &query, err) ||
        render(e, wf, h->body, ctx, secrets, "body", &body, err) ||
        render(e, wf, h->auth, ctx, secrets, "auth", &auth, err))
        goto out;
    /* A URL template has checked its scheme and host (expr_template_compile_url);
     * a literal url is checked here, and every url by curl's own parser, the
     * one that sends it. */
    const char *u = json_string_value(url);
    if (!u || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
        !curl_parses(u)) {
        sp_error_set(err, SP_EINVALID, "http url: expected an http:// or https:// URL");
        goto out;
    }
    req = json_pack("{s:s, s:s, s:{}}", "method", h->method, "url", u, "headers");
    json_t *hs = json_object_get(req, "headers");
    if (query && json_object_size(query)) {
        char *q = urlencode(query, "query", err);
        if (!q)
            goto fail;
        char *full = malloc(strlen(u) + strlen(q) + 2);
        sprintf(full, "%s%c%s", u, strchr(u, '?') ? '&' : '?', q);
        json_object_set_new(req, "url", json_string(full));
        free(full);
        free(q);
    }
    const char *k;
    json_t *v;
    json_object_foreach(headers, k, v) {
        char *text = scalar_text(v);
        if (!text || strpbrk(text, "\r\n")) {
            free(text);
            sp_error_set(err, SP_EINVALID, "http headers.%s: expected one line of text", k);
            goto fail;
        }
        json_object_set_new(hs, k, json_string(text));
        free(text);
    }
    if (h->auth_kind == HTTP_AUTH_BEARER && json_is_string(auth)) {
        char *line = malloc(strlen(json_string_value(auth)) + 8);
        sprintf(line, "Bearer %s", json_string_value(auth));
        json_object_set_new(hs, "Authorization", json_string(line));
        free(line);
    } else if (h->auth_kind == HTTP_AUTH_BASIC) {
        const char *user = json_str(auth, "user"), *pw = json_str(auth, "password");
        size_t n = strlen(user ? user : "") + strlen(pw ? pw : "") + 2;
        char *pair = malloc(n), *b64 = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) + 8);
        snprintf(pair, n, "%s:%s", user ? user : "", pw ? pw : "");
        strcpy(b64, "Basic ");
        sodium_bin2base64(b64 + 6, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL),
                          (const unsigned char *)pair, strlen(pair), sodium_base64_VARIANT_ORIGINAL);
        json_object_set_new(hs, "Authorization", json_string(b64));
        sodium_memzero(pair, n);
        free(pair);
        free(b64);
    } else if (h->auth_kind == HTTP_AUTH_HEADER && json_str(auth, "name")) {
        json_object_set(hs, json_str(auth, "name"), json_object_get(auth, "value"));
    }
    if (h->idempotency_key && idem_key)
        json_object_set_new(hs, "Idempotency-Key", json_string(idem_key));
    if (h->body_kind == HTTP_BODY_JSON) {
        json_object_set(req, "json", body);
    } else if (h->body_kind == HTTP_BODY_FORM) {
        if (!json_is_object(body)) {
            sp_error_set(err, SP_EINVALID, "http form: expected an object");
            goto fail;
        }
        /* Encoded here once to be sure it can be: a value that is not a
         * scalar fails the step, rather than send an empty body. */
        char *encoded = urlencode(body, "form", err);
        if (!encoded)
            goto fail;
        free(encoded);
        json_object_set(req, "form", body);
    } else if (h->body_kind == HTTP_BODY_RAW) {
        if (!json_is_string(body)) {
            sp_error_set(err, SP_EINVALID, "http body: expected text");
            goto fail;
        }
        json_object_set(req, "body", body);
    }
    goto out;
fail:
    json_decref(req);
    req = NULL;
out:
    json_decref(url);
    json_decref(headers);
    json_decref(query);
    json_decref(body);
    json_decref(auth);
    return req;
}

static json_t *build_request(engine *e, const workflow *wf, const step_def *step, json_t *run,
                             json_t *entry, json_t *ctx, json_t *secrets, sp_error *err)
{
    char key[256];
    snprintf(key, sizeof key, "%s/%s/%lld", json_str(run, "id"), step->id,
             (long long)json_integer_value(json_object_get(entry, "visit")));
    return http_request_build(e, wf, step->u.http, key, ctx, secrets, err);
}

/* The approved proposal is the request, as the approver saw and maybe
 * edited it; its "***" are filled back from the fresh rendering. */
static void unredact(json_t *approved, const json_t *fresh)
{
    const char *k;
    json_t *v;
    if (json_is_object(approved)) {
        json_object_foreach(approved, k, v) {
            json_t *f = json_object_get(fresh, k);
            if (json_is_string(v) && strcmp(json_string_value(v), SECRETS_REDACTED) == 0 && f)
                json_object_set(approved, k, f);
            else
                unredact(v, f);
        }
    } else if (json_is_array(approved)) {
        size_t i;
        json_array_foreach(approved, i, v) {
            json_t *f = json_array_get(fresh, i);
            if (json_is_string(v) && strcmp(json_string_value(v), SECRETS_REDACTED) == 0 && f)
                json_array_set(approved, i, f);
            else
                unredact(v, f);
        }
    }
}

json_t *http_preview(engine *e, const workflow *wf, const step_def *step, json_t *run,
                     json_t *entry, json_t *ctx, sp_error *err)
{
    json_t *secrets = engine_step_secrets(e, step);
    json_t *req = build_request(e, wf, step, run, entry, ctx, secrets, err);
    json_t *shown = req ? secrets_redact(req, secrets) : NULL;
    json_decref(req);
    json_decref(secrets);
    return shown;
}

/* Queues the call for after the commit (e->calls). */
static void queue_call(engine *e, json_t *run, json_t *entry, const step_def *step,
                       const json_t *req, int attempt)
{
    http_request_queue(e, json_pack("{s:O, s:s, s:O, s:i}", "run_id", json_object_get(run, "id"),
                                    "step", step->id, "visit", json_object_get(entry, "visit"),
                                    "attempt", attempt),
                       req, step->u.http->timeout_ms);
}

void http_request_queue(engine *e, json_t *key, const json_t *req, int64_t timeout_ms)
{
    json_t *lines = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(req, "headers"), k, v) {
        char line[8192];
        snprintf(line, sizeof line, "%s: %s", k, json_string_value(v));
        json_array_append_new(lines, json_string(line));
    }
    char *body = NULL;
    const char *ctype = NULL;
    if (json_object_get(req, "json")) {
        body = json_dumps(json_object_get(req, "json"), JSON_COMPACT | JSON_ENCODE_ANY);
        ctype = "Content-Type: application/json";
    } else if (json_object_get(req, "form")) {
        sp_error err = SP_ERROR_INIT;
        body = urlencode(json_object_get(req, "form"), "form", &err);
        sp_error_clear(&err);
        ctype = "Content-Type: application/x-www-form-urlencoded";
    } else if (json_str(req, "body")) {
        body = strdup(json_str(req, "body"));
    }
    bool has_ctype = false;
    json_object_foreach(json_object_get(req, "headers"), k, v)
        has_ctype = has_ctype || strcasecmp(k, "Content-Type") == 0;
    if (ctype && !has_ctype)
        json_array_append_new(lines, json_string(ctype));
    /* Workflows are written by admins: their URLs may go anywhere. */
    engine_queue_call(e, ENGINE_HTTP_RESULT, key, json_str(req, "method"), json_str(req, "url"),
                      lines, body, timeout_ms, false);
    free(body);
}

void engine_queue_call(engine *e, engine_command result, json_t *key, const char *method,
                       const char *url, json_t *header_lines, const char *body,
                       int64_t timeout_ms, bool public_only)
{
    json_array_append_new(e->calls,
                          json_pack("{s:i, s:o, s:s, s:s, s:o, s:s?, s:I, s:b}", "result",
                                    (int)result, "key", key, "method", method, "url", url,
                                    "headers", header_lines, "body", body, "timeout_ms",
                                    (json_int_t)timeout_ms, "public_only", public_only));
}

static bool accepted(const http_def *h, long status)
{
    if (h->naccept == 0)
        return status >= 200 && status < 300;
    for (size_t i = 0; i < h->naccept; i++)
        if (h->accept[i] == status)
            return true;
    return false;
}

/* A 409 to a call that carries an Idempotency-Key means "a request with
 * this key is still being processed" (Stripe's idempotency_key_in_use):
 * after a restart the first attempt may still be running there, so it is
 * waited out like any other transient answer. */
bool http_transient(const http_def *h, long status)
{
    return status == 0 || status == 408 || status == 425 || status == 429 || status >= 500 ||
           (status == 409 && h->idempotency_key);
}

/* The answer's body as JSON when it says it is JSON, else as text. */
/* The first HTTP_CUT_BODY_KEEP bytes of a body cut at OUTBOUND_BODY_MAX,
 * redacted of secrets. A secret the answer echoes could stand cut in half
 * at OUTBOUND_BODY_MAX, where redaction (which matches whole values)
 * cannot see it: keeping at most the longest secret less puts any such
 * part in what is dropped, and a secret crossing the new cut is still
 * whole in what was received, so it is found and replaced whole. The
 * margin does not depend on the secrets, so it tells nothing of them.
 * New string, or NULL on out of memory. */
char *http_cut_text(const char *text, size_t len, const json_t *secrets)
{
    size_t keep = len < HTTP_CUT_BODY_KEEP ? len : HTTP_CUT_BODY_KEEP;
    while (keep > 0 && keep < len && ((unsigned char)text[keep] & 0xC0) == 0x80)
        keep--;                 /* not inside a character */
    return secrets_redact_text_cut(text, len, keep, secrets, NULL);
}

json_t *http_response_body(const json_t *resp, const json_t *secrets)
{
    const char *text = json_str(resp, "body");
    const char *ctype = json_str(json_object_get(resp, "headers"), "content-type");
    if (!text)
        return json_null();
    if (json_is_true(json_object_get(resp, "truncated"))) {
        char *cut = http_cut_text(text, json_string_length(json_object_get(resp, "body")), secrets);
        json_t *v = cut ? json_string(cut) : json_string("");
        free(cut);
        return v ? v : json_string("");
    }
    if (ctype && strstr(ctype, "json")) {
        sp_error err = SP_ERROR_INIT;
        json_t *v = json_parse_limited(text, strlen(text), SP_JSON_MAX_DEPTH, "body", &err);
        sp_error_clear(&err);
        if (v)
            return v;
    }
    return json_string(text);
}

/* A body cut at OUTBOUND_BODY_MAX says so, rather than pass for the whole
 * answer: truncated: true and the bytes the answer had (its body holds the
 * first HTTP_CUT_BODY_KEEP, as text: a cut JSON document does not parse). */
static void mark_truncated(json_t *out, const json_t *resp)
{
    if (!json_is_true(json_object_get(resp, "truncated")))
        return;
    json_object_set_new(out, "truncated", json_true());
    json_object_set(out, "received_bytes", json_object_get(resp, "received_bytes"));
}

/* The step's answer is in: done, retry, or fail. */
static sp_code take_response(engine *e, const step_def *step, json_t *run, json_t *entry,
                             json_t *ctx, json_t *resp, sp_error *err)
{
    long status = (long)json_integer_value(json_object_get(resp, "status"));
    const char *error = json_str(resp, "error");
    json_t *secrets = engine_step_secrets(e, step);
    json_t *data = json_pack("{s:O, s:O, s:O, s:O}", "step", json_object_get(entry, "id"),
                             "visit", json_object_get(entry, "visit"), "attempt",
                             json_object_get(entry, "attempts"), "elapsed_ms",
                             json_object_get(resp, "elapsed_ms"));
    if (status)
        json_object_set_new(data, "status", json_integer(status));
    else
        json_object_set_new(data, "error", json_string(error ? error : "no answer"));
    sp_code rc = engine_audit(e, "system", "http.attempt", json_str(run, "id"), NULL,
                              secrets_redact(data, secrets), err);
    json_decref(data);
    if (rc)
        goto out;
    if (status && accepted(step->u.http, status)) {
        json_object_del(entry, "response");     /* an earlier attempt's failure: history now */
        json_t *out = json_pack("{s:I, s:O, s:o}", "status", (json_int_t)status, "headers",
                                json_object_get(resp, "headers"), "body", http_response_body(resp, secrets));
        mark_truncated(out, resp);
        rc = run_step_complete(e, step, run, entry, ctx, secrets_redact(out, secrets), err);
        json_decref(out);
        goto out;
    }
    char message[512];
    if (status)
        snprintf(message, sizeof message, "HTTP %ld from %s %s", status, step->u.http->method,
                 json_str(json_object_get(entry, "request"), "url"));
    else
        snprintf(message, sizeof message, "%s %s: %s", step->u.http->method,
                 json_str(json_object_get(entry, "request"), "url"), error ? error : "no answer");
    int64_t retry_after = 0;
    const char *ra = json_str(json_object_get(resp, "headers"), "retry-after");
    if (ra) {
        long s = strtol(ra, NULL, 10);
        retry_after = (s > 0 ? (s > HTTP_RETRY_AFTER_MAX_S ? HTTP_RETRY_AFTER_MAX_S : s) : 0) * 1000;
    }
    json_t *body = http_response_body(resp, secrets);
    json_t *failed = json_pack("{s:I, s:o}", "status", (json_int_t)status, "body",
                               secrets_redact(body, secrets));
    mark_truncated(failed, resp);
    json_object_set_new(entry, "response", failed);
    json_decref(body);
    char *clean = secrets_redact_text(message, strlen(message), secrets, NULL);
    rc = run_step_fail(e, step, run, entry, ctx, clean ? clean : message,
                       http_transient(step->u.http, status),
                       retry_after, err);
    free(clean);
out:
    json_decref(secrets);
    return rc;
}

sp_code http_step(engine *e, const workflow *wf, const step_def *step, json_t *run,
                  json_t *entry, json_t *ctx, json_t *proposal, bool *in_flight, sp_error *err)
{
    *in_flight = false;
    json_t *resp = json_object_get(entry, "_response");
    if (resp) {
        json_incref(resp);
        json_object_del(entry, "_response");
        json_object_del(entry, "_in_flight");
        sp_code rc = take_response(e, step, run, entry, ctx, resp, err);
        json_decref(resp);
        return rc;
    }
    json_t *secrets = engine_step_secrets(e, step);
    json_object_set(ctx, "proposal", proposal ? proposal : json_null());
    json_t *req = build_request(e, wf, step, run, entry, ctx, secrets, err);
    json_object_set_new(ctx, "proposal", json_null());
    if (!req) {
        json_decref(secrets);
        if (err->code != SP_EINVALID)
            return err->code;
        char message[SP_ERROR_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s", err->message);
        sp_error_clear(err);
        /* A template that fails fails the same way next time: no retry. */
        return run_step_fail(e, step, run, entry, ctx, message, false, 0, err);
    }
    /* A gate whose proposal was the request: send what was approved. */
    if (step->gate && step->gate->proposal == EXPR_NONE && json_is_object(proposal) &&
        json_object_get(proposal, "url")) {
        json_t *approved = json_deep_copy(proposal);
        unredact(approved, req);
        json_object_set(approved, "method", json_object_get(req, "method"));
        json_object_set(approved, "headers", json_object_get(req, "headers"));
        json_decref(req);
        req = approved;
    }
    int attempt = (int)json_integer_value(json_object_get(entry, "attempts"));
    json_object_set_new(entry, "request", secrets_redact(req, secrets));
    json_object_set_new(entry, "_in_flight", json_integer(attempt));
    queue_call(e, run, entry, step, req, attempt);
    json_decref(req);
    json_decref(secrets);
    *in_flight = true;
    return SP_OK;
}

/* ---- after the commit ---- */

size_t http_calls_mark(engine *e)
{
    return json_array_size(e->calls);
}

void http_calls_truncate(engine *e, size_t mark)
{
    while (json_array_size(e->calls) > mark)
        json_array_remove(e->calls, json_array_size(e->calls) - 1);
}

typedef struct {
    engine *e;
    engine_command result;          /* the command that takes the answer */
    json_t *key;                    /* what the answer is for, e.g. {run_id, step, visit, attempt} */
} call_ctx;

static void ignore_reply(void *ctx, int status, json_t *body)
{
    (void)ctx;
    (void)status;
    json_decref(body);
}

static const principal engine_self = { .name = "system", .role = "admin", .scope = "admin" };

/* Outbound worker thread: hands the answer to the engine. r NULL: the
 * call was abandoned by outbound_stop - the engine may be gone, so only
 * cc is freed (the run is in flight in the store; start-up re-sends). */
static void on_answer(void *arg, const outbound_result *r)
{
    call_ctx *cc = arg;
    json_t *args = cc->key;
    if (!r) {
        json_decref(args);
        free(cc);
        return;
    }
    json_object_set_new(args, "status", json_integer(r->status));
    json_object_set_new(args, "headers", r->headers ? json_incref(r->headers) : json_object());
    size_t len = r->body_len;
    if (r->truncated) {
        /* The cut may fall inside a character: end the text before it. */
        size_t start = len > 3 ? len - 3 : 0;
        for (size_t i = start; i < len; i++)
            if (((unsigned char)r->body[i] & 0xC0) != 0x80 &&
                utf8_sequence((const unsigned char *)r->body + i, len - i) == 0) {
                len = i;
                break;
            }
    }
    json_object_set_new(args, "body", json_stringn_nocheck(r->body ? r->body : "", len));
    if (r->truncated) {
        json_object_set_new(args, "truncated", json_true());
        json_object_set_new(args, "received_bytes", json_integer((json_int_t)r->received));
    }
    if (r->error[0])
        json_object_set_new(args, "error", json_string(r->error));
    if (r->refused)
        json_object_set_new(args, "refused", json_true());
    json_object_set_new(args, "elapsed_ms", json_integer(r->elapsed_ms));
    engine_submit(cc->e, cc->result, &engine_self, args, ignore_reply, NULL);
    json_decref(args);
    free(cc);
}

void http_calls_flush(engine *e)
{
    size_t i;
    json_t *c;
    json_array_foreach(e->calls, i, c) {
        json_t *lines = json_object_get(c, "headers");
        size_t n = json_array_size(lines);
        const char **hs = calloc(n + 1, sizeof *hs);
        for (size_t k = 0; k < n; k++)
            hs[k] = json_string_value(json_array_get(lines, k));
        const char *body = json_str(c, "body");
        outbound_request req = {
            .method = json_str(c, "method"), .url = json_str(c, "url"), .headers = hs,
            .nheaders = n, .body = body, .body_len = body ? strlen(body) : 0,
            .timeout_ms = (long)json_integer_value(json_object_get(c, "timeout_ms")),
            .public_only = json_is_true(json_object_get(c, "public_only")),
        };
        call_ctx *cc = malloc(sizeof *cc);
        cc->e = e;
        cc->result = (engine_command)json_integer_value(json_object_get(c, "result"));
        cc->key = json_deep_copy(json_object_get(c, "key"));
        if (outbound_send(e->outbound, &req, on_answer, cc) != 0) {
            /* Not sent (out of memory, no curl handle, the worker gone):
             * answered at once as a call that got no answer, a transient
             * failure retried per the step's retry. Nothing went out, so
             * the retry duplicates nothing. If the engine is stopping the
             * answer is refused, the run stays in flight in the store and
             * start-up sends the call. */
            on_answer(cc, &(outbound_result){ .error = "cannot start the call" });
        }
        free(hs);
    }
    json_array_clear(e->calls);
}

sp_code cmd_http_result(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const json_t *a = cmd->args;
    json_t *run = NULL;
    *status = 204;
    if (strcmp(cmd->who.name, "system") != 0)
        return sp_error_set(err, SP_EFORBIDDEN, "only the engine reports call results");
    sp_code rc = store_run_get(e->w, json_str(a, "run_id"), &run, err);
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        return SP_OK;
    }
    if (rc)
        return rc;
    json_t *steps = json_object_get(run, "steps");
    json_t *entry = json_array_get(steps, json_array_size(steps) - 1);
    /* Only the answer to the call the run is waiting for counts: a run
     * canceled meanwhile, or an answer to an earlier attempt, is dropped. */
    if (strcmp(json_str(run, "status"), "running") != 0 || !entry ||
        !json_equal(json_object_get(entry, "id"), json_object_get(a, "step")) ||
        !json_equal(json_object_get(entry, "visit"), json_object_get(a, "visit")) ||
        !json_equal(json_object_get(entry, "_in_flight"), json_object_get(a, "attempt")))
        goto out;
    json_object_set(entry, "_response", (json_t *)a);
    workflow *wf = NULL;
    if ((rc = wfcache_get(e, json_str(run, "workflow"),
                          (int)json_integer_value(json_object_get(run, "version")), &wf, err)) ||
        (rc = run_advance(e, wf, run, err)))
        goto out;
    rc = run_save(e, run, err);
out:
    json_decref(run);
    return rc;
}
