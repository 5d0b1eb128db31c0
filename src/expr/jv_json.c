/*
 * jv_json.c - converting between jansson values (everything outside src/expr)
 * and jq values (inside). A direct walk: no text round trip per evaluation.
 */
#include "expr/expr_internal.h"

#include <math.h>
#include <stdlib.h>

jv expr_json_to_jv(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        jv o = jv_object();
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)v, key, m)
            o = jv_object_set(o, jv_string(key), expr_json_to_jv(m));
        return o;
    }
    case JSON_ARRAY: {
        jv a = jv_array_sized((int)json_array_size(v));
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
            a = jv_array_append(a, expr_json_to_jv(m));
        return a;
    }
    case JSON_STRING:
        return jv_string_sized(json_string_value(v), (int)json_string_length(v));
    case JSON_INTEGER:
        return jv_number((double)json_integer_value(v));
    case JSON_REAL:
        return jv_number(json_real_value(v));
    case JSON_TRUE:
        return jv_true();
    case JSON_FALSE:
        return jv_false();
    case JSON_NULL:
    default:
        return jv_null();
    }
}

/* 2^53: the largest range in which every integer is an exact double. */
#define EXACT_INT_LIMIT 9007199254740992.0

json_t *expr_number_json(double d)
{
    if (!isfinite(d))
        return json_null();
    if (d == floor(d) && fabs(d) <= EXACT_INT_LIMIT)
        return json_integer((json_int_t)d);
    return json_real(d);
}

json_t *expr_jv_to_json(jv v)
{
    json_t *out = NULL;
    switch (jv_get_kind(v)) {
    case JV_KIND_OBJECT: {
        out = json_object();
        jv_object_foreach(v, key, m) {
            json_object_set_new(out, jv_string_value(key), expr_jv_to_json(m));
            jv_free(key);
        }
        break;
    }
    case JV_KIND_ARRAY: {
        out = json_array();
        jv_array_foreach(v, i, m)
            json_array_append_new(out, expr_jv_to_json(m));
        break;
    }
    case JV_KIND_STRING:
        out = json_stringn_nocheck(jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)));
        break;
    case JV_KIND_NUMBER:
        out = expr_number_json(jv_number_value(v));
        break;
    case JV_KIND_TRUE:
        out = json_true();
        break;
    case JV_KIND_FALSE:
        out = json_false();
        break;
    default:
        out = json_null();
        break;
    }
    jv_free(v);
    return out;
}

/* Deeper than limit? The walk stops one level past it, so its own
 * recursion is bounded by limit. */
static bool deeper_than(jv v, int limit)
{
    jv_kind k = jv_get_kind(v);
    if (k != JV_KIND_ARRAY && k != JV_KIND_OBJECT)
        return false;
    if (limit <= 0)
        return true;
    bool deep = false;
    if (k == JV_KIND_ARRAY) {
        int n = jv_array_length(jv_copy(v));
        for (int i = 0; i < n && !deep; i++) {
            jv m = jv_array_get(jv_copy(v), i);
            deep = deeper_than(m, limit - 1);
            jv_free(m);
        }
    } else {
        for (int it = jv_object_iter(v); jv_object_iter_valid(v, it) && !deep;
             it = jv_object_iter_next(v, it)) {
            jv m = jv_object_iter_value(v, it);
            deep = deeper_than(m, limit - 1);
            jv_free(m);
        }
    }
    return deep;
}

bool expr_jv_too_deep(jv v, int limit)
{
    return deeper_than(v, limit);
}

/*
 * jv_free is recursive: freeing a value nested a few hundred thousand
 * levels deep ("reduce range(300000) as $i (null; [.])") would overflow the
 * stack. Here the children are taken out first (each kept alive by the copy
 * on our own stack, so freeing the parent frees nothing below it) and freed
 * in turn - iteratively, however deep.
 */
void expr_jv_free_deep(jv v)
{
    size_t cap = 64, n = 0;
    jv *stack = malloc(cap * sizeof *stack);
    if (!stack) {
        jv_free(v);                 /* the best that is left */
        return;
    }
    stack[n++] = v;
    while (n > 0) {
        jv x = stack[--n];
        jv_kind k = jv_get_kind(x);
        if ((k == JV_KIND_ARRAY || k == JV_KIND_OBJECT) && jv_get_refcnt(x) == 1) {
            size_t kids = k == JV_KIND_ARRAY ? (size_t)jv_array_length(jv_copy(x))
                                             : (size_t)jv_object_length(jv_copy(x));
            if (n + kids > cap) {
                size_t want = (n + kids) * 2;
                jv *bigger = realloc(stack, want * sizeof *stack);
                if (!bigger) {
                    jv_free(x);
                    continue;
                }
                stack = bigger;
                cap = want;
            }
            if (k == JV_KIND_ARRAY) {
                for (size_t i = 0; i < kids; i++)
                    stack[n++] = jv_array_get(jv_copy(x), (int)i);
            } else {
                for (int it = jv_object_iter(x); jv_object_iter_valid(x, it);
                     it = jv_object_iter_next(x, it))
                    stack[n++] = jv_object_iter_value(x, it);
            }
        }
        jv_free(x);
    }
    free(stack);
}
