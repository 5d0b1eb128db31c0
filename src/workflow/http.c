/*
 * http.c - an `http:` step (SPEC §2) -> http_def.
 *
 * Every setting is compiled as a template over its whole value, so a
 * header, a query parameter or a field deep in a JSON body may hold
 * "{{ expr }}", and $secrets may be used anywhere in here (and only here,
 * among the steps built so far). What can be checked before a run starts
 * is checked: the method, exactly one body, the shape of auth, the
 * timeout, the accepted statuses.
 *
 * Defaults: GET; no headers, query or body; 30 s timeout; any 2xx accepted;
 * an Idempotency-Key on every method but GET and HEAD.
 */
#include "workflow/wf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const http_keys[] = {
    "method", "url", "headers", "query", "json", "form", "body", "auth", "timeout", "accept",
    "idempotency_key", NULL
};
static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL };
static const char *const auth_kinds[] = { "bearer", "basic", "header", NULL };

#define MEMBER(buf, path, key) (wf_path_key(buf, path, key), buf)

static void build_method(wf_ctx *c, const char *path, const json_t *v, http_def *h)
{
    snprintf(h->method, sizeof h->method, "GET");
    if (!v || !wf_want_string(c, path, v))
        return;
    for (int i = 0; methods[i]; i++)
        if (strcasecmp(json_string_value(v), methods[i]) == 0) {
            snprintf(h->method, sizeof h->method, "%s", methods[i]);
            return;
        }
    wf_problem(c, path, "'%s' is not one of GET, POST, PUT, PATCH, DELETE, HEAD",
               json_string_value(v));
}

static void build_body(wf_ctx *c, const char *path, const json_t *v, http_def *h)
{
    static const char *const bodies[] = { "json", "form", "body", NULL };
    char kp[WF_PATH_MAX];
    int found = -1;
    for (int i = 0; bodies[i]; i++) {
        const json_t *b = json_object_get(v, bodies[i]);
        if (!b)
            continue;
        if (found >= 0) {
            wf_problem_key(c, MEMBER(kp, path, bodies[i]),
                           "an http step has one body; this one has both '%s' and '%s'",
                           bodies[found], bodies[i]);
            continue;
        }
        found = i;
        wf_path_key(kp, path, bodies[i]);
        if (i == 1 && !wf_want_object(c, kp, b))
            continue;
        if (i == 2 && !wf_want_string(c, kp, b))
            continue;
        h->body_kind = i == 0 ? HTTP_BODY_JSON : i == 1 ? HTTP_BODY_FORM : HTTP_BODY_RAW;
        h->body = wf_value_template(c, kp, b);
    }
    if (found >= 0 && (strcmp(h->method, "GET") == 0 || strcmp(h->method, "HEAD") == 0))
        wf_problem_key(c, MEMBER(kp, path, bodies[found]), "a %s request has no body",
                       h->method);
}

/* auth: {bearer: <tpl>} | {basic: {user, password}} | {header: {name, value}} */
static void build_auth(wf_ctx *c, const char *path, const json_t *v, http_def *h)
{
    char kp[WF_PATH_MAX];
    if (!wf_want_object(c, path, v))
        return;
    wf_check_keys(c, path, v, auth_kinds);
    if (json_object_size(v) != 1) {
        wf_problem(c, path, "auth takes exactly one of bearer, basic, header");
        return;
    }
    const char *kind = json_object_iter_key(json_object_iter((json_t *)v));
    const json_t *inner = json_object_get(v, kind);
    wf_path_key(kp, path, kind);
    if (strcmp(kind, "bearer") == 0) {
        if (!wf_want_string(c, kp, inner))
            return;
        h->auth_kind = HTTP_AUTH_BEARER;
    } else {
        static const char *const basic_keys[] = { "user", "password", NULL };
        static const char *const header_keys[] = { "name", "value", NULL };
        bool basic = strcmp(kind, "basic") == 0;
        const char *const *keys = basic ? basic_keys : header_keys;
        if (!wf_want_object(c, kp, inner))
            return;
        wf_check_keys(c, kp, inner, keys);
        for (int i = 0; keys[i]; i++)
            if (!json_is_string(json_object_get(inner, keys[i]))) {
                wf_problem(c, kp, "%s auth needs '%s' (a string)", kind, keys[i]);
                return;
            }
        if (!basic && !strcmp(json_string_value(json_object_get(inner, "name")), "")) {
            wf_problem(c, kp, "header auth needs a header name");
            return;
        }
        h->auth_kind = basic ? HTTP_AUTH_BASIC : HTTP_AUTH_HEADER;
    }
    h->auth = wf_value_template(c, kp, inner);
}

static void build_accept(wf_ctx *c, const char *path, const json_t *v, http_def *h)
{
    if (!wf_want_array(c, path, v))
        return;
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        char ip[WF_PATH_MAX];
        wf_path_index(ip, path, i);
        if (!json_is_integer(s) || json_integer_value(s) < 100 || json_integer_value(s) > 599)
            wf_problem(c, ip, "expected an HTTP status from 100 to 599");
        else if (h->naccept == HTTP_ACCEPT_MAX)
            wf_problem(c, ip, "at most %d accepted statuses", HTTP_ACCEPT_MAX);
        else
            h->accept[h->naccept++] = (int)json_integer_value(s);
    }
}

/* Headers and query: an object whose values are strings (templates). */
static expr_template *build_pairs(wf_ctx *c, const char *path, const json_t *v)
{
    if (!wf_want_object(c, path, v))
        return NULL;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
        char kp[WF_PATH_MAX];
        wf_path_key(kp, path, k);
        if (!json_is_string(x) && !json_is_number(x) && !json_is_boolean(x))
            wf_problem(c, kp, "expected a string, got %s", wf_type_name(x));
        if (!*k || strpbrk(k, ":\r\n"))
            wf_problem_key(c, kp, "not a valid header or parameter name");
    }
    return wf_value_template(c, path, v);
}

http_def *wf_http_build(wf_ctx *c, const char *path, const json_t *v)
{
    char kp[WF_PATH_MAX];
    http_def *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->timeout_ms = HTTP_DEFAULT_TIMEOUT_MS;
    snprintf(h->method, sizeof h->method, "GET");
    if (!wf_want_object(c, path, v))
        return h;
    wf_check_keys(c, path, v, http_keys);
    c->secrets_ok = true;
    build_method(c, MEMBER(kp, path, "method"), json_object_get(v, "method"), h);
    const json_t *url = json_object_get(v, "url");
    if (!url)
        wf_problem(c, path, "an http step needs 'url'");
    else
        h->url = wf_url_template(c, MEMBER(kp, path, "url"), url);
    const json_t *x;
    if ((x = json_object_get(v, "headers")))
        h->headers = build_pairs(c, MEMBER(kp, path, "headers"), x);
    if ((x = json_object_get(v, "query")))
        h->query = build_pairs(c, MEMBER(kp, path, "query"), x);
    build_body(c, path, v, h);
    if ((x = json_object_get(v, "auth")))
        build_auth(c, MEMBER(kp, path, "auth"), x, h);
    c->secrets_ok = false;
    if ((x = json_object_get(v, "timeout"))) {
        int64_t ms = wf_duration(c, MEMBER(kp, path, "timeout"), x);
        if (ms > 0)
            h->timeout_ms = ms;
    }
    if ((x = json_object_get(v, "accept")))
        build_accept(c, MEMBER(kp, path, "accept"), x, h);
    h->idempotency_key = strcmp(h->method, "GET") != 0 && strcmp(h->method, "HEAD") != 0;
    if ((x = json_object_get(v, "idempotency_key")) &&
        wf_want_bool(c, MEMBER(kp, path, "idempotency_key"), x))
        h->idempotency_key = json_is_true(x);
    return h;
}

void wf_http_free(http_def *h)
{
    if (!h)
        return;
    expr_template_free(h->url);
    expr_template_free(h->headers);
    expr_template_free(h->query);
    expr_template_free(h->body);
    expr_template_free(h->auth);
    free(h);
}
