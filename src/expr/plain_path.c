/*
 * plain_path.c - expressions that only read a field path (`.steps.draft.
 * output.amount`) are answered here, without jq.
 *
 * Most template parts, proposals and reasonings are such paths. Sending
 * them to an evaluator process (isolation.c) would cost a round trip each
 * for what is a few hash lookups; reading them here costs no libjq at all,
 * so nothing of what makes jq dangerous on hostile input is involved.
 *
 * The answer is the one jq gives, to the byte: null for a missing field or
 * a field of null; jq's own error for indexing anything but an object or
 * null ("Cannot index number with string \"a\""); numbers as jq sees them
 * (every number a double: 1.0 comes back as 1, integers past 2^53 are
 * rounded, NaN and infinities become null); the result depth and size
 * limits. tests/unit/test_expr.c compares the two on every kind of value.
 */
#include "expr/expr.h"
#include "expr/expr_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool is_name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool is_name(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

char **expr_plain_path(const char *src)
{
    const char *p = src;
    while (isspace((unsigned char)*p))
        p++;
    size_t n = 0;
    for (const char *q = p; *q == '.';) {
        if (!is_name_start(q[1]))
            return NULL;
        for (q += 2; is_name(*q); q++)
            ;
        n++;
        const char *rest = q;
        while (isspace((unsigned char)*rest))
            rest++;
        if (!*rest)
            break;
        if (*q != '.')
            return NULL;
    }
    if (!n)
        return NULL;
    char **keys = calloc(n + 1, sizeof *keys);
    if (!keys)
        return NULL;
    for (size_t k = 0; k < n; k++) {
        const char *start = ++p;
        while (is_name(*p))
            p++;
        if (!(keys[k] = strndup(start, (size_t)(p - start)))) {
            expr_plain_path_free(keys);
            return NULL;
        }
    }
    return keys;
}

void expr_plain_path_free(char **keys)
{
    if (!keys)
        return;
    for (char **k = keys; *k; k++)
        free(*k);
    free(keys);
}

static const char *kind_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

/* A copy of v as a round trip through jq would give it, or NULL when it
 * holds more than depth_left nested arrays and objects (as deeper_than in
 * jv_json.c counts them). */
static json_t *as_jq_gives(const json_t *v, int depth_left)
{
    if ((json_is_object(v) || json_is_array(v)) && depth_left <= 0)
        return NULL;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        json_t *out = json_object();
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)v, key, m) {
            json_t *c = as_jq_gives(m, depth_left - 1);
            if (!c || json_object_set_new(out, key, c) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    case JSON_ARRAY: {
        json_t *out = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) {
            json_t *c = as_jq_gives(m, depth_left - 1);
            if (!c || json_array_append_new(out, c) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    case JSON_INTEGER:
        return expr_number_json((double)json_integer_value(v));
    case JSON_REAL:
        return expr_number_json(json_real_value(v));
    default:
        return json_incref((json_t *)v);    /* strings, true, false, null */
    }
}

json_t *expr_plain_path_eval(char *const *keys, const json_t *input, sp_error *err)
{
    const json_t *v = input;
    for (char *const *k = keys; *k; k++) {
        if (!v || json_is_null(v)) {
            v = NULL;
            continue;
        }
        if (!json_is_object(v)) {
            sp_error_set(err, SP_EINVALID, "Cannot index %s with string \"%s\"", kind_name(v), *k);
            return NULL;
        }
        v = json_object_get(v, *k);
    }
    if (!v)
        return json_null();
    json_t *out = as_jq_gives(v, EXPR_MAX_RESULT_DEPTH);
    if (!out) {
        sp_error_set(err, SP_EINVALID, "the expression's result is nested deeper than %d levels",
                     EXPR_MAX_RESULT_DEPTH);
        return NULL;
    }
    if (json_is_object(out) || json_is_array(out) || json_is_string(out)) {
        size_t size = json_dumpb(out, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        if (size > EXPR_MAX_RESULT_BYTES) {
            json_decref(out);
            sp_error_set(err, SP_EINVALID, "the expression's result is %zu bytes of JSON; the "
                         "limit is %u (1 MiB)", size, EXPR_MAX_RESULT_BYTES);
            return NULL;
        }
    }
    return out;
}
