/*
 * template.c - JSON values whose strings hold "{{ expr }}" parts.
 *
 * A template keeps its own deep copy of the value, and for every string
 * with parts a compiled form, in the order a depth-first walk meets them
 * (jansson keeps object members in insertion order and the copy is never
 * changed, so the walk at render time meets them in the same order).
 *
 * The end of a part is the first "}}" outside jq string literals and
 * outside braces the expression opened, so `{{ {a: {b: 1}} }}` works.
 */
#include "expr/expr.h"
#include "expr/expr_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *literal;              /* text before the expression, maybe "" */
    int expr;                   /* -1 for the trailing literal */
} part;

typedef struct {
    part *parts;
    int count;
    bool whole;                 /* exactly "{{ expr }}": keeps the value's type */
} dyn_string;

struct expr_template {
    json_t *value;
    dyn_string *strings;
    int count;
    int cap;
};

/* Where the expression that starts at s ends (at its "}}"), or NULL. */
static const char *expression_end(const char *s)
{
    int braces = 0;
    bool in_string = false;
    for (const char *p = s; *p; p++) {
        if (in_string) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_string = false;
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == '{') {
            braces++;
        } else if (*p == '}') {
            if (braces == 0 && p[1] == '}')
                return p;
            if (braces > 0)
                braces--;
        }
    }
    return NULL;
}

static void dyn_free(dyn_string *d)
{
    for (int i = 0; i < d->count; i++)
        free(d->parts[i].literal);
    free(d->parts);
}

static bool add_part(dyn_string *d, const char *lit, size_t n, int expr)
{
    part *grown = realloc(d->parts, (size_t)(d->count + 1) * sizeof *grown);
    if (!grown)
        return false;
    d->parts = grown;
    if (!(d->parts[d->count].literal = strndup(lit, n)))
        return false;
    d->parts[d->count].expr = expr;
    d->count++;
    return true;
}

/* Compiles one string. Returns 1 when it has parts, 0 when it has none,
 * -1 on error (err set). */
static int compile_string(expr_builder *b, const char *s, dyn_string *out, sp_error *err)
{
    memset(out, 0, sizeof *out);
    const char *open = strstr(s, "{{");
    if (!open)
        return 0;
    const char *rest = s;
    while (open) {
        const char *src = open + 2;
        const char *close = expression_end(src);
        if (!close) {
            sp_error_set(err, SP_EINVALID, "template part \"%.40s\" has no closing }}", open);
            goto fail;
        }
        char *expr_src = strndup(src, (size_t)(close - src));
        if (!expr_src) {
            sp_error_set(err, SP_ENOMEM, "out of memory");
            goto fail;
        }
        sp_error inner = SP_ERROR_INIT;
        int idx = expr_src[strspn(expr_src, " \t\r\n")] ? expr_builder_add_part(b, expr_src, true, &inner) : -2;
        if (idx < 0) {
            if (idx == -2)
                sp_error_set(err, SP_EINVALID, "template part {{ }} is empty");
            else
                sp_error_set(err, SP_EINVALID, "in {{%s}}: %s", expr_src, inner.message);
            sp_error_clear(&inner);
            free(expr_src);
            goto fail;
        }
        free(expr_src);
        if (!add_part(out, rest, (size_t)(open - rest), idx)) {
            sp_error_set(err, SP_ENOMEM, "out of memory");
            goto fail;
        }
        rest = close + 2;
        open = strstr(rest, "{{");
    }
    if (!add_part(out, rest, strlen(rest), -1)) {
        sp_error_set(err, SP_ENOMEM, "out of memory");
        goto fail;
    }
    out->whole = out->count == 2 && !out->parts[0].literal[0] && !out->parts[1].literal[0];
    return 1;
fail:
    dyn_free(out);
    memset(out, 0, sizeof *out);
    return -1;
}

static bool collect(expr_template *t, expr_builder *b, json_t *v, sp_error *err)
{
    if (json_is_string(v)) {
        dyn_string d;
        int rc = compile_string(b, json_string_value(v), &d, err);
        if (rc <= 0)
            return rc == 0;
        if (t->count == t->cap) {
            int cap = t->cap ? t->cap * 2 : 4;
            dyn_string *grown = realloc(t->strings, (size_t)cap * sizeof *grown);
            if (!grown) {
                dyn_free(&d);
                sp_error_set(err, SP_ENOMEM, "out of memory");
                return false;
            }
            t->strings = grown;
            t->cap = cap;
        }
        t->strings[t->count++] = d;
        return true;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
            if (!collect(t, b, m, err))
                return false;
    } else if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach(v, key, m)
            if (!collect(t, b, m, err))
                return false;
    }
    return true;
}

expr_template *expr_template_compile(expr_builder *b, json_t *value, sp_error *err)
{
    expr_template *t = calloc(1, sizeof *t);
    if (!t || !(t->value = json_deep_copy(value))) {
        free(t);
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return NULL;
    }
    if (!collect(t, b, t->value, err)) {
        expr_template_free(t);
        return NULL;
    }
    return t;
}

bool expr_template_is_dynamic(const expr_template *t)
{
    return t && t->count > 0;
}

void expr_template_free(expr_template *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->count; i++)
        dyn_free(&t->strings[i]);
    free(t->strings);
    json_decref(t->value);
    free(t);
}

/* ---- rendering ---- */

typedef struct {
    const expr_template *t;
    int next;                   /* the next dyn_string the walk meets */
    expr_program *p;
    json_t *input, *env, *secrets;
    sp_error *err;
} render_ctx;

static json_t *render_string(render_ctx *r, const dyn_string *d)
{
    if (d->whole)
        return expr_eval(r->p, d->parts[0].expr, r->input, r->env, r->secrets, r->err);
    size_t len = 0, cap = 64;
    char *out = malloc(cap);
    for (int i = 0; out && i < d->count; i++) {
        char *value_text = NULL;
        const char *piece[2] = { d->parts[i].literal, NULL };
        if (d->parts[i].expr >= 0) {
            json_t *v = expr_eval(r->p, d->parts[i].expr, r->input, r->env, r->secrets, r->err);
            if (!v) {
                free(out);
                return NULL;
            }
            if (json_is_string(v))
                value_text = strdup(json_string_value(v));
            else
                value_text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            json_decref(v);
            if (!value_text) {
                free(out);
                out = NULL;
                break;
            }
            piece[1] = value_text;
        }
        for (int k = 0; k < 2 && piece[k]; k++) {
            size_t n = strlen(piece[k]);
            if (len + n + 1 > cap) {
                while (len + n + 1 > cap)
                    cap *= 2;
                char *grown = realloc(out, cap);
                if (!grown) {
                    free(out);
                    out = NULL;
                    break;
                }
                out = grown;
            }
            memcpy(out + len, piece[k], n);
            len += n;
        }
        free(value_text);
    }
    if (!out) {
        sp_error_set(r->err, SP_ENOMEM, "out of memory");
        return NULL;
    }
    json_t *s = json_stringn(out, len);
    free(out);
    if (!s)
        sp_error_set(r->err, SP_EINVALID, "the rendered template is not valid UTF-8");
    return s;
}

static json_t *render(render_ctx *r, json_t *v)
{
    if (json_is_string(v)) {
        if (!strstr(json_string_value(v), "{{"))
            return json_incref(v);
        return render_string(r, &r->t->strings[r->next++]);
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) {
            json_t *x = render(r, m);
            if (!x) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, x);
        }
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *key;
        json_t *m;
        json_object_foreach(v, key, m) {
            json_t *x = render(r, m);
            if (!x) {
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, key, x);
        }
        return o;
    }
    return json_incref(v);
}

json_t *expr_template_render(const expr_template *t, expr_program *p, json_t *input, json_t *env,
                             json_t *secrets, sp_error *err)
{
    if (!t->count)
        return json_incref(t->value);
    render_ctx r = { .t = t, .p = p, .input = input, .env = env, .secrets = secrets, .err = err };
    return render(&r, t->value);
}
