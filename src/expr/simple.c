/*
 * simple.c - the expressions answered here, without jq.
 *
 * Most expressions in workflows are one of a few shapes: a field path
 * (`.steps.draft.output.amount`, in template parts, proposals, reasonings),
 * an object of paths and literals (`{customer: .input.customer, status:
 * "refunded"}`, in transforms and contexts), or a comparison of a path with
 * a literal (`.amount > 500`, `.tier == "vip"`, in `when`s). Sending each
 * to an evaluator process (isolation.c) costs a round trip on the engine
 * thread; reading them here costs a few hash lookups, and nothing of what
 * makes libjq dangerous on hostile input is involved.
 *
 * The grammar, whole and exact (white space allowed between tokens; a
 * source with anything else, a comment included, is not simple):
 *
 *   simple  := value | value OP value            OP: == != < <= > >=
 *   value   := path | literal | object
 *   path    := ('.' NAME)+                        NAME: [A-Za-z_][A-Za-z0-9_]*
 *   literal := NUMBER | STRING | true | false | null
 *   object  := '{' [key ':' value (',' key ':' value)*] '}'
 *   key     := NAME | STRING
 *   NUMBER  := [0-9]+ ('.' [0-9]+)?               (no sign, no exponent)
 *   STRING  := '"' (any character but '"', '\' and control characters)* '"'
 *
 * The answer is the one jq gives, to the byte: null for a missing field or
 * a field of null; jq's own error for indexing anything but an object or
 * null ("Cannot index number with string \"a\""); numbers as jq sees them
 * (every number a double: 1.0 comes back as 1, integers past 2^53 are
 * rounded); later keys of an object overriding earlier ones in place;
 * equality of scalars by jq's rules (1 == 1.0; kinds differ: not equal),
 * order by jq's (null < false < true < numbers < strings); the result depth
 * and size limits. Where jq's rules take more than that - comparing arrays,
 * objects, or two strings by order - the evaluation declines and goes to
 * jq. tests/unit/test_expr.c compares the two on every kind of value.
 */
#include "expr/expr.h"
#include "expr/expr_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_PATH, S_LITERAL, S_OBJECT, S_COMPARE } simple_kind;
typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } simple_op;

struct expr_simple {
    simple_kind kind;
    char **keys;                /* S_PATH: NULL-terminated */
    json_t *literal;            /* S_LITERAL */
    size_t n;                   /* S_OBJECT: names[i]: values[i] */
    char **names;
    expr_simple **values;
    simple_op op;               /* S_COMPARE: lhs op rhs */
    expr_simple *lhs, *rhs;
};

/* ---- parsing ---- */

typedef struct {
    const char *p;
} cursor;

static void skip_space(cursor *c)
{
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')
        c->p++;
}

static bool is_name_start(char ch)
{
    return isalpha((unsigned char)ch) || ch == '_';
}

static bool is_name(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_';
}

/* jq's keywords cannot be field names or keys in jq 1.6's grammar; the
 * source compiled, so they never get here as names - refusing them keeps
 * this grammar a subset of jq's whatever the source. */
static bool is_keyword(const char *s, size_t n)
{
    static const char *const words[] = { "and", "or", "not", "if", "then", "elif", "else",
                                         "end", "as", "def", "reduce", "foreach", "try",
                                         "catch", "label", "import", "include", "__loc__",
                                         NULL };
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == n && strncmp(words[i], s, n) == 0)
            return true;
    return false;
}

static char *take_name(cursor *c)
{
    if (!is_name_start(*c->p))
        return NULL;
    const char *start = c->p;
    while (is_name(*c->p))
        c->p++;
    if (is_keyword(start, (size_t)(c->p - start)))
        return NULL;
    return strndup(start, (size_t)(c->p - start));
}

static char *take_string(cursor *c)
{
    if (*c->p != '"')
        return NULL;
    const char *start = ++c->p;
    while (*c->p && *c->p != '"') {
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20)
            return NULL;
        c->p++;
    }
    if (*c->p != '"')
        return NULL;
    char *s = strndup(start, (size_t)(c->p - start));
    c->p++;
    return s;
}

void expr_simple_free(expr_simple *e)
{
    if (!e)
        return;
    if (e->keys)
        for (char **k = e->keys; *k; k++)
            free(*k);
    free(e->keys);
    json_decref(e->literal);
    for (size_t i = 0; i < e->n; i++) {
        free(e->names[i]);
        expr_simple_free(e->values[i]);
    }
    free(e->names);
    free(e->values);
    expr_simple_free(e->lhs);
    expr_simple_free(e->rhs);
    free(e);
}

static expr_simple *parse_value(cursor *c, int depth);

static expr_simple *parse_path(cursor *c)
{
    expr_simple *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->kind = S_PATH;
    size_t n = 0;
    while (*c->p == '.') {
        c->p++;
        char *name = take_name(c);
        char **grown = name ? realloc(e->keys, (n + 2) * sizeof *grown) : NULL;
        if (!grown) {
            free(name);
            expr_simple_free(e);
            return NULL;
        }
        e->keys = grown;
        e->keys[n++] = name;
        e->keys[n] = NULL;
    }
    if (!n) {
        expr_simple_free(e);
        return NULL;
    }
    return e;
}

static expr_simple *literal(json_t *v)
{
    expr_simple *e = v ? calloc(1, sizeof *e) : NULL;
    if (!e) {
        json_decref(v);
        return NULL;
    }
    e->kind = S_LITERAL;
    e->literal = v;
    return e;
}

static expr_simple *parse_number(cursor *c)
{
    const char *start = c->p;
    while (isdigit((unsigned char)*c->p))
        c->p++;
    if (*c->p == '.') {
        c->p++;
        if (!isdigit((unsigned char)*c->p))
            return NULL;
        while (isdigit((unsigned char)*c->p))
            c->p++;
    }
    if (is_name(*c->p) || *c->p == '.')
        return NULL;                    /* 1e5, 1.2.3, 12abc: jq's business */
    return literal(expr_number_json(strtod(start, NULL)));
}

static expr_simple *parse_object(cursor *c, int depth)
{
    expr_simple *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->kind = S_OBJECT;
    c->p++;                             /* '{' */
    skip_space(c);
    if (*c->p == '}') {
        c->p++;
        return e;
    }
    for (;;) {
        skip_space(c);
        char *name = *c->p == '"' ? take_string(c) : take_name(c);
        if (!name)
            goto fail;
        skip_space(c);
        expr_simple *v = *c->p == ':' ? (c->p++, parse_value(c, depth + 1)) : NULL;
        char **names = v ? realloc(e->names, (e->n + 1) * sizeof *names) : NULL;
        if (names)
            e->names = names;
        expr_simple **values = names ? realloc(e->values, (e->n + 1) * sizeof *values) : NULL;
        if (!values) {
            free(name);
            expr_simple_free(v);
            goto fail;
        }
        e->values = values;
        e->names[e->n] = name;
        e->values[e->n++] = v;
        skip_space(c);
        if (*c->p == '}') {
            c->p++;
            return e;
        }
        if (*c->p != ',')
            goto fail;
        c->p++;
    }
fail:
    expr_simple_free(e);
    return NULL;
}

#define SIMPLE_MAX_NESTING 16

static expr_simple *parse_value(cursor *c, int depth)
{
    if (depth > SIMPLE_MAX_NESTING)
        return NULL;
    skip_space(c);
    if (*c->p == '.')
        return parse_path(c);
    if (*c->p == '{')
        return parse_object(c, depth);
    if (isdigit((unsigned char)*c->p))
        return parse_number(c);
    if (*c->p == '"') {
        char *s = take_string(c);
        json_t *v = s ? json_string(s) : NULL;     /* NULL when not UTF-8 */
        free(s);
        return v ? literal(v) : NULL;
    }
    static const struct { const char *word; int kind; } words[] = {
        { "true", JSON_TRUE }, { "false", JSON_FALSE }, { "null", JSON_NULL } };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t n = strlen(words[i].word);
        if (strncmp(c->p, words[i].word, n) == 0 && !is_name(c->p[n])) {
            c->p += n;
            return literal(words[i].kind == JSON_TRUE ? json_true()
                           : words[i].kind == JSON_FALSE ? json_false() : json_null());
        }
    }
    return NULL;
}

static bool take_op(cursor *c, simple_op *op)
{
    static const struct { const char *text; simple_op op; } ops[] = {
        { "==", OP_EQ }, { "!=", OP_NE }, { "<=", OP_LE }, { ">=", OP_GE },
        { "<", OP_LT }, { ">", OP_GT } };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        size_t n = strlen(ops[i].text);
        if (strncmp(c->p, ops[i].text, n) == 0) {
            c->p += n;
            *op = ops[i].op;
            return true;
        }
    }
    return false;
}

expr_simple *expr_simple_parse(const char *src)
{
    cursor c = { src };
    expr_simple *lhs = parse_value(&c, 0);
    if (!lhs)
        return NULL;
    skip_space(&c);
    if (!*c.p)
        return lhs;
    simple_op op;
    expr_simple *rhs = NULL, *cmp = NULL;
    if (take_op(&c, &op) && (rhs = parse_value(&c, 0))) {
        skip_space(&c);
        if (!*c.p && (cmp = calloc(1, sizeof *cmp))) {
            *cmp = (expr_simple){ .kind = S_COMPARE, .op = op, .lhs = lhs, .rhs = rhs };
            return cmp;
        }
    }
    expr_simple_free(lhs);
    expr_simple_free(rhs);
    return NULL;
}

/* ---- evaluating ---- */

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
            json_t *copy = as_jq_gives(m, depth_left - 1);
            if (!copy || json_object_set_new(out, key, copy) != 0) {
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
            json_t *copy = as_jq_gives(m, depth_left - 1);
            if (!copy || json_array_append_new(out, copy) != 0) {
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

/* Outcomes of an evaluation here. */
enum { ANSWERED = 1, DECLINED = 0, FAILED = -1 };

/* The value at a path, borrowed from input (NULL: null), or FAILED with
 * jq's error. */
static int read_path(char *const *keys, const json_t *input, const json_t **out, sp_error *err)
{
    const json_t *v = input;
    for (char *const *k = keys; *k; k++) {
        if (!v || json_is_null(v)) {
            v = NULL;
            continue;
        }
        if (!json_is_object(v)) {
            sp_error_set(err, SP_EINVALID, "Cannot index %s with string \"%s\"", kind_name(v), *k);
            return FAILED;
        }
        v = json_object_get(v, *k);
    }
    *out = v;
    return ANSWERED;
}

/* jq's order of kinds: null < false < true < numbers < strings < ... */
static int kind_rank(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return 0;
    case JSON_FALSE: return 1;
    case JSON_TRUE: return 2;
    case JSON_INTEGER:
    case JSON_REAL: return 3;
    case JSON_STRING: return 4;
    default: return 5;          /* arrays and objects: not compared here */
    }
}

/* a compared with b as jq would (-1, 0, 1), or DECLINED through *declined
 * where that needs more than scalars: arrays, objects, two strings by order. */
static int compare(const json_t *a, const json_t *b, bool ordering, bool *declined)
{
    int ra = kind_rank(a), rb = kind_rank(b);
    if (ra == 5 || rb == 5) {
        *declined = true;
        return 0;
    }
    if (ra != rb)
        return ra < rb ? -1 : 1;
    if (ra == 3) {
        double da = json_number_value(a), db = json_number_value(b);
        return da < db ? -1 : da > db ? 1 : 0;
    }
    if (ra == 4) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        if (!ordering)
            return la == lb && memcmp(json_string_value(a), json_string_value(b), la) == 0 ? 0 : 1;
        *declined = true;
        return 0;
    }
    return 0;                   /* null, false, true: one value each */
}

static int eval(const expr_simple *e, const json_t *input, json_t **out, sp_error *err);

static int eval_compare(const expr_simple *e, const json_t *input, json_t **out, sp_error *err)
{
    json_t *a = NULL, *b = NULL;
    int rc = eval(e->lhs, input, &a, err);
    if (rc == ANSWERED)
        rc = eval(e->rhs, input, &b, err);
    if (rc == ANSWERED) {
        bool ordering = e->op != OP_EQ && e->op != OP_NE, declined = false;
        int c = compare(a, b, ordering, &declined);
        bool r = e->op == OP_EQ ? c == 0 : e->op == OP_NE ? c != 0 : e->op == OP_LT ? c < 0
               : e->op == OP_LE ? c <= 0 : e->op == OP_GT ? c > 0 : c >= 0;
        if (declined)
            rc = DECLINED;
        else
            *out = json_boolean(r);
    }
    json_decref(a);
    json_decref(b);
    return rc;
}

static int eval(const expr_simple *e, const json_t *input, json_t **out, sp_error *err)
{
    switch (e->kind) {
    case S_PATH: {
        const json_t *v;
        if (read_path(e->keys, input, &v, err) != ANSWERED)
            return FAILED;
        if (!v) {
            *out = json_null();
            return ANSWERED;
        }
        if (!(*out = as_jq_gives(v, EXPR_MAX_RESULT_DEPTH))) {
            sp_error_set(err, SP_EINVALID, "the expression's result is nested deeper than %d "
                         "levels", EXPR_MAX_RESULT_DEPTH);
            return FAILED;
        }
        return ANSWERED;
    }
    case S_LITERAL:
        *out = json_incref(e->literal);
        return ANSWERED;
    case S_OBJECT: {
        json_t *obj = json_object();
        for (size_t i = 0; i < e->n; i++) {
            json_t *v = NULL;
            int rc = eval(e->values[i], input, &v, err);
            if (rc != ANSWERED || json_object_set_new(obj, e->names[i], v) != 0) {
                json_decref(obj);
                return rc == ANSWERED ? FAILED : rc;
            }
        }
        *out = obj;
        return ANSWERED;
    }
    case S_COMPARE:
        return eval_compare(e, input, out, err);
    }
    return DECLINED;
}

/* Whether v holds more than limit nested arrays and objects. */
static bool too_deep(const json_t *v, int limit)
{
    if (!json_is_object(v) && !json_is_array(v))
        return false;
    if (limit <= 0)
        return true;
    const char *key;
    json_t *m;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, m)
            if (too_deep(m, limit - 1))
                return true;
    } else {
        json_array_foreach(v, i, m)
            if (too_deep(m, limit - 1))
                return true;
    }
    return false;
}

int expr_simple_eval(const expr_simple *e, const json_t *input, json_t **out, sp_error *err)
{
    *out = NULL;
    sp_error inner = SP_ERROR_INIT;
    int rc = eval(e, input, out, &inner);
    /* An error inside an object or a comparison is jq's to give: which of
     * two failing parts it names depends on its order of evaluation. */
    if (rc == FAILED && e->kind != S_PATH)
        rc = DECLINED;
    if (rc == DECLINED) {
        sp_error_clear(&inner);
        json_decref(*out);
        *out = NULL;
        return 0;
    }
    if (rc == FAILED) {
        sp_error_set(err, inner.code, "%s", inner.message);
        sp_error_clear(&inner);
        return 1;
    }
    /* Values at paths were checked; an object adds a level to them. */
    if (e->kind == S_OBJECT && too_deep(*out, EXPR_MAX_RESULT_DEPTH)) {
        json_decref(*out);
        *out = NULL;
        sp_error_set(err, SP_EINVALID, "the expression's result is nested deeper than %d levels",
                     EXPR_MAX_RESULT_DEPTH);
        return 1;
    }
    if (json_is_object(*out) || json_is_array(*out) || json_is_string(*out)) {
        size_t size = json_dumpb(*out, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        if (size > EXPR_MAX_RESULT_BYTES) {
            json_decref(*out);
            *out = NULL;
            sp_error_set(err, SP_EINVALID, "the expression's result is %zu bytes of JSON; the "
                         "limit is %u (1 MiB)", size, EXPR_MAX_RESULT_BYTES);
        }
    }
    return 1;
}
