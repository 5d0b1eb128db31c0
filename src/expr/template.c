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
 *
 * A URL template (expr_template_compile_url) also knows where each part
 * sits in the URL (url.c): parts before the end of the authority must be
 * $env/$secrets (configuration), inserted as they are anywhere; other
 * parts, after it, are percent-encoded, and the rendered URL is checked
 * (expr_url_check).
 */
#include "expr/expr.h"
#include "expr/expr_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *literal;              /* text before the expression, maybe "" */
    int expr;                   /* -1 for the trailing literal */
    expr_url_pos pos;           /* where the value goes in a URL template */
    bool encode;                /* a URL template's value from the run */
} part;

typedef struct {
    part *parts;
    int count;
    bool whole;                 /* exactly "{{ expr }}": keeps the value's type */
    bool url;                   /* a URL template's string */
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

static bool add_part(dyn_string *d, const char *lit, size_t n, int expr, expr_url_pos pos,
                     bool encode)
{
    part *grown = realloc(d->parts, (size_t)(d->count + 1) * sizeof *grown);
    if (!grown)
        return false;
    d->parts = grown;
    if (!(d->parts[d->count].literal = strndup(lit, n)))
        return false;
    d->parts[d->count].expr = expr;
    d->parts[d->count].pos = pos;
    d->parts[d->count].encode = encode;
    d->count++;
    return true;
}

/* Compiles one string (a URL when url). Returns 1 when it has parts, 0
 * when it has none, -1 on error (err set). */
static int compile_string(expr_builder *b, const char *s, bool url, dyn_string *out,
                          sp_error *err)
{
    memset(out, 0, sizeof *out);
    const char *open = strstr(s, "{{");
    if (!open)
        return 0;
    const char *rest = s;
    expr_url_pos pos = url ? EXPR_URL_SCHEME : EXPR_URL_NONE;
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
        bool encode = false;
        if (url) {
            char *lit = strndup(rest, (size_t)(open - rest));
            pos = lit ? expr_url_scan(pos, lit) : pos;
            free(lit);
            encode = !expr_url_config_part(expr_src);
            if (pos <= EXPR_URL_AUTHORITY && encode) {
                sp_error_set(err, SP_EINVALID,
                             "{{%s}} stands before the end of the URL's host: only "
                             "{{ $env.NAME }} or {{ $secrets.NAME }} may choose where the "
                             "request goes (end the host with a literal '/' first)",
                             expr_src);
                free(expr_src);
                goto fail;
            }
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
        if (!add_part(out, rest, (size_t)(open - rest), idx, pos, encode)) {
            sp_error_set(err, SP_ENOMEM, "out of memory");
            goto fail;
        }
        rest = close + 2;
        open = strstr(rest, "{{");
    }
    if (!add_part(out, rest, strlen(rest), -1, pos, false)) {
        sp_error_set(err, SP_ENOMEM, "out of memory");
        goto fail;
    }
    /* A URL is always rendered as text, so that it is always checked. */
    out->whole = !url && out->count == 2 && !out->parts[0].literal[0] &&
                 !out->parts[1].literal[0];
    out->url = url;
    return 1;
fail:
    dyn_free(out);
    memset(out, 0, sizeof *out);
    return -1;
}

static bool collect(expr_template *t, expr_builder *b, json_t *v, bool url, sp_error *err)
{
    if (json_is_string(v)) {
        dyn_string d;
        int rc = compile_string(b, json_string_value(v), url, &d, err);
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
            if (!collect(t, b, m, url, err))
                return false;
    } else if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach(v, key, m)
            if (!collect(t, b, m, url, err))
                return false;
    }
    return true;
}

static expr_template *compile(expr_builder *b, json_t *value, bool url, sp_error *err)
{
    expr_template *t = calloc(1, sizeof *t);
    if (!t || !(t->value = json_deep_copy(value))) {
        free(t);
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return NULL;
    }
    if (!collect(t, b, t->value, url, err)) {
        expr_template_free(t);
        return NULL;
    }
    return t;
}

expr_template *expr_template_compile(expr_builder *b, json_t *value, sp_error *err)
{
    return compile(b, value, false, err);
}

expr_template *expr_template_compile_url(expr_builder *b, const char *url, sp_error *err)
{
    json_t *v = json_string(url);
    if (!v) {
        sp_error_set(err, SP_EINVALID, "the URL is not valid UTF-8");
        return NULL;
    }
    expr_template *t = compile(b, v, true, err);
    json_decref(v);
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

/* A growing text; out NULL once memory ran out (then every append fails). */
typedef struct {
    char *out;
    size_t len, cap;
} text_buf;

static bool append(text_buf *t, const char *s)
{
    size_t n = strlen(s);
    if (!t->out)
        return false;
    if (t->len + n + 1 > t->cap) {
        while (t->len + n + 1 > t->cap)
            t->cap *= 2;
        char *grown = realloc(t->out, t->cap);
        if (!grown) {
            free(t->out);
            t->out = NULL;
            return false;
        }
        t->out = grown;
    }
    memcpy(t->out + t->len, s, n + 1);
    t->len += n;
    return true;
}

/* The value of part i as text (strings raw, others as compact JSON),
 * percent-encoded when it is a URL's value from the run. NULL with err.
 * Configuration ($env, $secrets) goes in as it is: it is the operator's,
 * and a secret must stay findable by redaction, which matches literally. */
static char *part_text(render_ctx *r, const part *pt)
{
    json_t *v = expr_eval(r->p, pt->expr, r->input, r->env, r->secrets, r->err);
    if (!v)
        return NULL;
    char *text = json_is_string(v) ? strdup(json_string_value(v))
                                   : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(v);
    if (text && pt->encode) {
        char *encoded = expr_url_encode(text);
        free(text);
        text = encoded;
    }
    if (!text)
        sp_error_set(r->err, SP_ENOMEM, "out of memory");
    return text;
}

/* A URL template's rendering: the checks of url.c. segs holds the start
 * and end of every value placed in the path, nsegs of them. */
static bool url_rendered_ok(render_ctx *r, const char *url, size_t prefix_len,
                            const size_t *segs, int nsegs)
{
    for (int i = 0; i < nsegs; i++)
        if (expr_url_dot_segment(url, segs[2 * i], segs[2 * i + 1])) {
            sp_error_set(r->err, SP_EINVALID,
                         "a value from the run makes a path segment empty, '.' or '..', "
                         "which would name another resource");
            return false;
        }
    return expr_url_check(url, prefix_len, r->err);
}

static json_t *render_string(render_ctx *r, const dyn_string *d)
{
    if (d->whole)
        return expr_eval(r->p, d->parts[0].expr, r->input, r->env, r->secrets, r->err);
    text_buf t = { .out = malloc(64), .cap = 64 };
    if (t.out)
        t.out[0] = '\0';
    size_t prefix_len = SIZE_MAX;       /* where the first encoded value starts */
    size_t *segs = d->url ? malloc((size_t)d->count * 2 * sizeof *segs) : NULL;
    int nsegs = 0;
    bool failed = d->url && !segs;
    for (int i = 0; !failed && i < d->count; i++) {
        const part *pt = &d->parts[i];
        if (!append(&t, pt->literal)) {
            failed = true;
            break;
        }
        if (pt->expr < 0)
            continue;
        char *value = part_text(r, pt);
        if (!value) {
            free(t.out);
            free(segs);
            return NULL;
        }
        size_t at = t.len;
        failed = !append(&t, value);
        free(value);
        if (pt->encode && prefix_len == SIZE_MAX)
            prefix_len = at;
        if (pt->encode && pt->pos == EXPR_URL_PATH) {
            segs[2 * nsegs] = at;
            segs[2 * nsegs + 1] = t.len;
            nsegs++;
        }
    }
    if (failed || !t.out) {
        free(t.out);
        free(segs);
        sp_error_set(r->err, SP_ENOMEM, "out of memory");
        return NULL;
    }
    bool ok = !d->url || url_rendered_ok(r, t.out, prefix_len == SIZE_MAX ? t.len : prefix_len,
                                         segs, nsegs);
    free(segs);
    json_t *s = ok ? json_stringn(t.out, t.len) : NULL;
    free(t.out);
    if (ok && !s)
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
