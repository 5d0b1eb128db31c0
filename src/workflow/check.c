/*
 * check.c - small shape checks shared by the validators.
 *
 * Each helper reports what it finds wrong through wf_problem and returns a
 * neutral value, so callers carry on and the user sees every problem at once.
 */
#include "workflow/wf_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

const char *wf_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "a mapping";
    case JSON_ARRAY:   return "a list";
    case JSON_STRING:  return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL:    return "a number";
    case JSON_TRUE:
    case JSON_FALSE:   return "a boolean";
    default:           return "null";
    }
}

/* Edit distance of two short words, capped: enough to suggest a fix. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return 99;
    size_t d[33][33];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

void wf_check_keys(wf_ctx *c, const char *path, const json_t *obj,
                   const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const char *near = NULL;
        size_t best = 3;
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++) {
            if (strcmp(*a, key) == 0)
                known = true;
            else if (distance(*a, key) < best)
                best = distance(*a, key), near = *a;
        }
        if (known)
            continue;
        char kp[WF_PATH_MAX];
        wf_path_key(kp, path, key);
        if (near)
            wf_problem_key(c, kp, "unknown key '%s' (did you mean '%s'?)", key, near);
        else
            wf_problem_key(c, kp, "unknown key '%s'", key);
    }
}

static bool want(wf_ctx *c, const char *path, const json_t *v, bool ok, const char *what)
{
    if (!ok)
        wf_problem(c, path, "expected %s, got %s", what, wf_type_name(v));
    return ok;
}

bool wf_want_object(wf_ctx *c, const char *path, const json_t *v)
{
    return want(c, path, v, json_is_object(v), "a mapping");
}

bool wf_want_array(wf_ctx *c, const char *path, const json_t *v)
{
    return want(c, path, v, json_is_array(v), "a list");
}

bool wf_want_string(wf_ctx *c, const char *path, const json_t *v)
{
    return want(c, path, v, json_is_string(v), "a string");
}

bool wf_want_bool(wf_ctx *c, const char *path, const json_t *v)
{
    return want(c, path, v, json_is_boolean(v), "true or false");
}

bool wf_want_int(wf_ctx *c, const char *path, const json_t *v, json_int_t min)
{
    if (!want(c, path, v, json_is_integer(v), "an integer"))
        return false;
    if (json_integer_value(v) < min) {
        wf_problem(c, path, "must be at least %lld", (long long)min);
        return false;
    }
    return true;
}

int wf_want_word(wf_ctx *c, const char *path, const json_t *v, const char *const *words)
{
    char list[256] = "";
    size_t len = 0;
    for (int i = 0; words[i]; i++) {
        if (json_is_string(v) && strcmp(json_string_value(v), words[i]) == 0)
            return i;
        len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0,
                                "%s%s", i ? ", " : "", words[i]);
    }
    if (json_is_string(v))
        wf_problem(c, path, "'%s' is not one of %s", json_string_value(v), list);
    else
        wf_problem(c, path, "expected one of %s, got %s", list, wf_type_name(v));
    return -1;
}

int64_t wf_duration(wf_ctx *c, const char *path, const json_t *v)
{
    int64_t ms;
    if (!wf_want_string(c, path, v))
        return -1;
    if (duration_parse(json_string_value(v), &ms) != 0) {
        wf_problem(c, path, "'%s' is not a duration (use 90s, 15m, 4h, 3d, 1h30m or ISO 8601 "
                   "such as PT4H)", json_string_value(v));
        return -1;
    }
    return ms;
}

/* $secrets is bound only in http/agent/notify settings (c->secrets_ok while
 * they are read); naming it anywhere else would silently read null, so it
 * is refused. */
static bool secrets_free(wf_ctx *c, const char *path, const char *src)
{
    if (c->secrets_ok || !strstr(src, "$secrets"))
        return true;
    wf_problem(c, path, "$secrets is only available in http, agent and notify settings");
    return false;
}

void wf_expr_paths(wf_ctx *c, const char *path, int from)
{
    for (int i = from; i < expr_builder_count(c->builder); i++)
        json_array_append_new(c->expr_paths, json_string(path));
}

int wf_expr(wf_ctx *c, const char *path, const json_t *v)
{
    if (!v)
        return EXPR_NONE;
    char *dumped = NULL;
    const char *src;
    if (json_is_string(v)) {
        src = json_string_value(v);
    } else if (json_is_boolean(v) || json_is_number(v)) {
        /* `when: false` reads naturally; a constant is a valid jq program. */
        src = dumped = json_dumps(v, JSON_ENCODE_ANY);
    } else {
        wf_problem(c, path, "expected a jq expression (a string), got %s", wf_type_name(v));
        return EXPR_NONE;
    }
    int idx = EXPR_NONE;
    if (!src) {
        wf_problem(c, path, "out of memory");
    } else if (src[strspn(src, " \t\r\n")] == '\0') {
        wf_problem(c, path, "the expression is empty");
    } else if (secrets_free(c, path, src)) {
        sp_error e = SP_ERROR_INIT;
        int from = expr_builder_count(c->builder);
        int i = expr_builder_add(c->builder, src, &e);
        wf_expr_paths(c, path, from);
        if (i < 0)
            wf_problem(c, path, "%s", e.message[0] ? e.message : "the expression does not compile");
        else
            idx = i;
        sp_error_clear(&e);
    }
    free(dumped);
    return idx;
}

expr_template *wf_template(wf_ctx *c, const char *path, const json_t *v)
{
    if (!v || !wf_want_string(c, path, v))
        return NULL;
    return wf_value_template(c, path, v);
}

/* A template over v; a URL template when url (v is then a string). */
static expr_template *template_of(wf_ctx *c, const char *path, const json_t *v, bool url)
{
    if (!v)
        return NULL;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    bool ok = text && secrets_free(c, path, text);
    free(text);
    if (!ok)
        return NULL;
    sp_error e = SP_ERROR_INIT;
    int from = expr_builder_count(c->builder);
    expr_template *t = url ? expr_template_compile_url(c->builder, json_string_value(v), &e)
                           : expr_template_compile(c->builder, (json_t *)v, &e);
    wf_expr_paths(c, path, from);
    if (!t)
        wf_problem(c, path, "%s", e.message[0] ? e.message : "the template does not compile");
    sp_error_clear(&e);
    return t;
}

expr_template *wf_value_template(wf_ctx *c, const char *path, const json_t *v)
{
    return template_of(c, path, v, false);
}

expr_template *wf_url_template(wf_ctx *c, const char *path, const json_t *v)
{
    if (!v || !wf_want_string(c, path, v))
        return NULL;
    return template_of(c, path, v, true);
}

int wf_target(wf_ctx *c, const char *path, const json_t *v, bool allow_end,
              bool allow_fail, int def)
{
    if (!wf_want_string(c, path, v))
        return def;
    const char *s = json_string_value(v);
    if (strcmp(s, "end") == 0 || strcmp(s, "fail") == 0) {
        bool end = s[0] == 'e';
        if (end ? allow_end : allow_fail)
            return end ? FLOW_END : FLOW_FAIL;
        wf_problem(c, path, "'%s' is not allowed here", s);
        return def;
    }
    json_t *idx = json_object_get(c->ids, s);
    if (!idx) {
        wf_problem(c, path, "unknown step '%s'", s);
        return def;
    }
    return (int)json_integer_value(idx);
}

/* "user:NAME" or "team:NAME" with a name of 1-64 printable, space-free bytes. */
static bool assignee_ok(const char *s)
{
    if (strncmp(s, "user:", 5) != 0 && strncmp(s, "team:", 5) != 0)
        return false;
    size_t n = strlen(s + 5);
    if (n == 0 || n > 64)
        return false;
    for (const unsigned char *p = (const unsigned char *)s + 5; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

char **wf_assignees(wf_ctx *c, const char *path, const json_t *v, size_t *n)
{
    *n = 0;
    if (!json_is_string(v) && !json_is_array(v)) {
        wf_problem(c, path, "expected a list of assignees (user:NAME or team:NAME), got %s",
                   wf_type_name(v));
        return NULL;
    }
    size_t count = json_is_string(v) ? 1 : json_array_size(v);
    if (count == 0) {
        wf_problem(c, path, "needs at least one assignee");
        return NULL;
    }
    char **out = calloc(count, sizeof *out);
    if (!out) {
        wf_problem(c, path, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *a = json_is_string(v) ? v : json_array_get(v, i);
        char ip[WF_PATH_MAX];
        if (json_is_array(v))
            wf_path_index(ip, path, i);
        else
            snprintf(ip, sizeof ip, "%s", path);
        if (!json_is_string(a)) {
            wf_problem(c, ip, "expected an assignee (user:NAME or team:NAME), got %s",
                       wf_type_name(a));
            continue;
        }
        if (!assignee_ok(json_string_value(a))) {
            wf_problem(c, ip, "'%s' is not an assignee (use user:NAME or team:NAME)",
                       json_string_value(a));
            continue;
        }
        if (!(out[*n] = strdup(json_string_value(a))))
            wf_problem(c, ip, "out of memory");
        else
            (*n)++;
    }
    return out;
}

void wf_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
