/*
 * schema.c - the JSON Schema subset of input_schema and an agent's
 * response_schema.
 *
 * Supported: type (one name or a list), required, properties,
 * additionalProperties (bool or schema), items, enum, const, minimum,
 * maximum, minLength, maxLength (in characters), minItems, maxItems.
 * Annotations ($schema, $id, $comment, title, description, default,
 * examples) are accepted and ignored. Any other keyword is refused when the
 * workflow is applied: a schema that silently ignored `pattern` would let
 * through input its author meant to stop.
 *
 * As in JSON Schema, a keyword only constrains values of its own type
 * (minLength says nothing about a number).
 */
#include "workflow/wf_internal.h"

#include "core/jsonx.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const schema_keys[] = {
    "type", "required", "properties", "additionalProperties", "items", "enum", "const",
    "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems",
    "$schema", "$id", "$comment", "title", "description", "default", "examples", NULL
};
static const char *const type_names[] = {
    "object", "array", "string", "number", "integer", "boolean", "null", NULL
};

#define MEMBER(buf, path, key) (wf_path_key(buf, path, key), buf)

/* ---- checking the schema itself, when the workflow is applied ---- */

static void check_type_keyword(wf_ctx *c, const char *path, const json_t *t)
{
    if (json_is_array(t)) {
        if (json_array_size(t) == 0)
            wf_problem(c, path, "type needs at least one name");
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) {
            char ip[WF_PATH_MAX];
            wf_want_word(c, (wf_path_index(ip, path, i), ip), e, type_names);
        }
    } else {
        wf_want_word(c, path, t, type_names);
    }
}

void wf_schema_check(wf_ctx *c, const char *path, const json_t *s)
{
    char kp[WF_PATH_MAX];
    const json_t *v;
    if (!wf_want_object(c, path, s))
        return;
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)s, key, member) {
        bool known = false;
        for (int i = 0; schema_keys[i] && !known; i++)
            known = strcmp(schema_keys[i], key) == 0;
        if (!known)
            wf_problem_key(c, MEMBER(kp, path, key),
                           "JSON Schema keyword '%s' is not supported", key);
    }
    if ((v = json_object_get(s, "type")))
        check_type_keyword(c, MEMBER(kp, path, "type"), v);
    if ((v = json_object_get(s, "required"))) {
        wf_path_key(kp, path, "required");
        if (wf_want_array(c, kp, v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) {
                char ip[WF_PATH_MAX];
                wf_want_string(c, (wf_path_index(ip, kp, i), ip), e);
            }
        }
    }
    if ((v = json_object_get(s, "properties"))) {
        wf_path_key(kp, path, "properties");
        if (wf_want_object(c, kp, v)) {
            const char *name;
            json_t *sub;
            json_object_foreach((json_t *)v, name, sub) {
                char sp[WF_PATH_MAX];
                wf_schema_check(c, (wf_path_key(sp, kp, name), sp), sub);
            }
        }
    }
    if ((v = json_object_get(s, "additionalProperties")) && !json_is_boolean(v))
        wf_schema_check(c, MEMBER(kp, path, "additionalProperties"), v);
    if ((v = json_object_get(s, "items")))
        wf_schema_check(c, MEMBER(kp, path, "items"), v);
    if ((v = json_object_get(s, "enum")))
        wf_want_array(c, MEMBER(kp, path, "enum"), v);
    static const char *const numbers[] = { "minimum", "maximum", NULL };
    for (int i = 0; numbers[i]; i++)
        if ((v = json_object_get(s, numbers[i])) && !json_is_number(v))
            wf_problem(c, MEMBER(kp, path, numbers[i]), "expected a number, got %s",
                       wf_type_name(v));
    static const char *const counts[] = { "minLength", "maxLength", "minItems", "maxItems", NULL };
    for (int i = 0; counts[i]; i++)
        if ((v = json_object_get(s, counts[i])))
            wf_want_int(c, MEMBER(kp, path, counts[i]), v, 0);
}

/* ---- checking a run's input against it ---- */

typedef struct {
    json_t *problems;
} checker;

/* keyword: the schema keyword the value breaks ("minimum"), kept in the
 * problem so a caller can name the bound (an approver's edit, gate.c). */
static void problem(checker *k, const char *path, const char *keyword, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(checker *k, const char *path, const char *keyword, const char *fmt, ...)
{
    char msg[SP_ERROR_MESSAGE_MAX / 2], where[WF_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(where, sizeof where, "%s", path);
    /* Cut text may end mid-character: JSON would refuse it, and a problem
     * not recorded is input let through. Never lost, whatever it says. */
    json_t *p = json_pack("{s:s, s:s, s:s}", "path", utf8_sanitize(where), "message",
                          utf8_sanitize(msg), "keyword", keyword);
    if (!p)
        p = json_pack("{s:s, s:s}", "path", "?", "message", "does not match the schema");
    json_array_append_new(k->problems, p);
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "object";
    case JSON_ARRAY:   return "array";
    case JSON_STRING:  return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL:    return "number";
    case JSON_TRUE:
    case JSON_FALSE:   return "boolean";
    default:           return "null";
    }
}

static bool type_matches(const char *t, const json_t *v)
{
    if (strcmp(t, "integer") == 0) {
        if (json_is_integer(v))
            return true;
        double d = json_is_real(v) ? json_real_value(v) : 0.5;
        return isfinite(d) && floor(d) == d;
    }
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    return strcmp(t, json_kind(v)) == 0;
}

/* A short compact text of v for messages (truncated). */
static void text_of(const json_t *v, char *out, size_t n)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(out, n, "%s", s ? s : "?");
    if (s && strlen(s) >= n && n > 4)
        memcpy(out + n - 4, "...", 4);
    free(s);
}

static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool check_type(checker *k, const json_t *s, const json_t *v, const char *path)
{
    const json_t *t = json_object_get(s, "type");
    if (!t)
        return true;
    if (json_is_string(t) && type_matches(json_string_value(t), v))
        return true;
    char names[256] = "";
    size_t len = 0;
    if (json_is_array(t)) {
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) {
            if (json_is_string(e) && type_matches(json_string_value(e), v))
                return true;
            len += (size_t)snprintf(names + len, len < sizeof names ? sizeof names - len : 0,
                                    "%s%s", i ? " or " : "", json_string_value(e));
        }
    } else {
        snprintf(names, sizeof names, "%s", json_string_value(t));
    }
    problem(k, path, "type", "expected %s, got %s", names, json_kind(v));
    return false;
}

static void check_value(checker *k, const json_t *s, const json_t *v, const char *path);

static void check_object(checker *k, const json_t *s, const json_t *v, const char *path)
{
    char kp[WF_PATH_MAX];
    const json_t *req = json_object_get(s, "required");
    size_t i;
    json_t *e;
    json_array_foreach(req, i, e)
        if (json_is_string(e) && !json_object_get(v, json_string_value(e)))
            problem(k, MEMBER(kp, path, json_string_value(e)), "required", "is required");
    const json_t *props = json_object_get(s, "properties");
    const json_t *extra = json_object_get(s, "additionalProperties");
    const char *name;
    json_t *member;
    json_object_foreach((json_t *)v, name, member) {
        wf_path_key(kp, path, name);
        const json_t *sub = json_object_get(props, name);
        if (sub)
            check_value(k, sub, member, kp);
        else if (json_is_false(extra))
            problem(k, kp, "additionalProperties", "is not an allowed property");
        else if (json_is_object(extra))
            check_value(k, extra, member, kp);
    }
}

static void check_array(checker *k, const json_t *s, const json_t *v, const char *path)
{
    const json_t *items = json_object_get(s, "items");
    const json_t *mn = json_object_get(s, "minItems"), *mx = json_object_get(s, "maxItems");
    size_t n = json_array_size(v);
    if (mn && (json_int_t)n < json_integer_value(mn))
        problem(k, path, "minItems", "needs at least %lld items",
                (long long)json_integer_value(mn));
    if (mx && (json_int_t)n > json_integer_value(mx))
        problem(k, path, "maxItems", "may have at most %lld items",
                (long long)json_integer_value(mx));
    if (!items)
        return;
    for (size_t i = 0; i < n; i++) {
        char ip[WF_PATH_MAX];
        check_value(k, items, json_array_get(v, i), (wf_path_index(ip, path, i), ip));
    }
}

static void check_scalar(checker *k, const json_t *s, const json_t *v, const char *path)
{
    char t[128];
    if (json_is_string(v)) {
        size_t n = utf8_length(json_string_value(v));
        const json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
        if (mn && (json_int_t)n < json_integer_value(mn))
            problem(k, path, "minLength", "must be at least %lld characters long",
                    (long long)json_integer_value(mn));
        if (mx && (json_int_t)n > json_integer_value(mx))
            problem(k, path, "maxLength", "must be at most %lld characters long",
                    (long long)json_integer_value(mx));
    }
    if (json_is_number(v)) {
        double d = json_number_value(v);
        const json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
        if (mn && d < json_number_value(mn)) {
            text_of(mn, t, sizeof t);
            problem(k, path, "minimum", "must be at least %s", t);
        }
        if (mx && d > json_number_value(mx)) {
            text_of(mx, t, sizeof t);
            problem(k, path, "maximum", "must be at most %s", t);
        }
    }
}

static void check_value(checker *k, const json_t *s, const json_t *v, const char *path)
{
    char t[128];
    if (!json_is_object(s) || !check_type(k, s, v, path))
        return;
    const json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (en) {
        bool found = false;
        size_t i;
        json_t *e;
        json_array_foreach(en, i, e)
            found = found || json_equal((json_t *)v, e);
        if (!found) {
            text_of(en, t, sizeof t);
            problem(k, path, "enum", "must be one of %s", t);
        }
    }
    if (cn && !json_equal((json_t *)v, (json_t *)cn)) {
        text_of(cn, t, sizeof t);
        problem(k, path, "const", "must be %s", t);
    }
    if (json_is_object(v))
        check_object(k, s, v, path);
    else if (json_is_array(v))
        check_array(k, s, v, path);
    else
        check_scalar(k, s, v, path);
}

sp_code workflow_check_schema(const json_t *schema, const json_t *v, const char *what,
                              sp_error *err)
{
    checker k = { json_array() };
    if (!k.problems)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    check_value(&k, schema, v ? v : json_null(), what);
    if (json_array_size(k.problems) == 0) {
        json_decref(k.problems);
        return SP_OK;
    }
    return wf_problems_to_error(k.problems, what, err);
}

sp_code workflow_check_input(const workflow *wf, const json_t *input, sp_error *err)
{
    if (!wf || !wf->input_schema)
        return SP_OK;
    return workflow_check_schema(wf->input_schema, input, "input", err);
}
