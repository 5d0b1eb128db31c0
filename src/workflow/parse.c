/*
 * parse.c - definition text (YAML 1.2 or JSON) -> wf_doc.
 *
 * We read libfyaml's event stream rather than its document tree so that we
 * decide every rule ourselves, in one pass, with positions at hand:
 *
 *   - plain scalars are resolved with the YAML 1.2 core schema (null, bools,
 *     ints, floats); quoted and block scalars are always strings;
 *   - duplicate keys, complex keys, unsupported tags, NUL in strings,
 *     infinities and NaN are refused with their line and column;
 *   - aliases are expanded by copy, and the nodes they add are counted
 *     against WF_MAX_ALIAS_NODES so a "billion laughs" cannot blow up;
 *   - nesting deeper than SP_JSON_MAX_DEPTH and a second document are refused.
 *
 * Containers are attached to their parent as soon as they start, so the
 * root owns everything built so far and one json_decref frees it on error.
 * Positions from libfyaml marks are 0-based; we store them 1-based.
 */
#include "workflow/wf_internal.h"

#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"

typedef struct {
    json_t *value;              /* borrowed: owned by its parent or the root */
    char path[WF_PATH_MAX];
    char *key;                  /* mapping only: pending key (malloc'd) */
    int key_line, key_col;
    char *anchor;               /* malloc'd anchor of this container, or NULL */
} frame;

typedef struct {
    frame stack[SP_JSON_MAX_DEPTH + 1];
    int depth;                  /* frames in use */
    json_t *root;               /* owned */
    json_t *anchors;            /* owned; name -> value (complete nodes only) */
    size_t alias_nodes;         /* nodes added by alias expansion so far */
    int documents;
    wf_doc *doc;
    sp_error *err;
} builder;

/* Sets a syntax error at a 1-based position; returns SP_EBADINPUT. */
static sp_code syntax(builder *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static sp_code syntax(builder *b, int line, int col, const char *fmt, ...)
{
    char what[SP_ERROR_MESSAGE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    sp_error_set(b->err, SP_EBADINPUT, "line %d, column %d: %s", line, col, what);
    return SP_EBADINPUT;
}

static void mark_of(struct fy_event *ev, int *line, int *col)
{
    const struct fy_mark *m = fy_event_start_mark(ev);
    *line = m ? m->line + 1 : 0;
    *col = m ? m->column + 1 : 0;
}

/* Every byte sequence is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF) and free of NUL. Reports the first offender. */
static sp_code check_text(builder *b, const unsigned char *s, size_t len)
{
    int line = 1, col = 1;
    for (size_t i = 0; i < len; col++) {
        unsigned c = s[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (c == 0)
            return syntax(b, line, col, "NUL character in the text");
        if (n == 0 || i + n > len)
            return syntax(b, line, col, "invalid UTF-8");
        unsigned cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return syntax(b, line, col, "invalid UTF-8");
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return syntax(b, line, col, "invalid UTF-8");
        if (c == '\n') {
            line++;
            col = 0;
        }
        i += n;
    }
    return SP_OK;
}

static bool all_digits(const char *s, size_t n, const char *set)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i]))
            return false;
    return true;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_core_float(const char *s)
{
    size_t i = 0, digits = 0;
    if (s[i] == '-' || s[i] == '+')
        i++;
    while (s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (s[i] == '.') {
        i++;
        size_t frac = 0;
        while (s[i] >= '0' && s[i] <= '9')
            i++, frac++;
        if (digits == 0 && frac == 0)
            return false;
    } else if (digits == 0) {
        return false;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '-' || s[i] == '+')
            i++;
        size_t exp = 0;
        while (s[i] >= '0' && s[i] <= '9')
            i++, exp++;
        if (exp == 0)
            return false;
    }
    return s[i] == '\0';
}

/* Resolves a plain scalar with the YAML 1.2 core schema. NULL with the
 * error set when it names a number JSON cannot hold. */
static json_t *plain_scalar(builder *b, const char *s, size_t n, int line, int col)
{
    if (n == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
        strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();

    size_t sign = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    int base = 0;
    const char *digits = NULL;
    if (all_digits(s + sign, n - sign, "0123456789"))
        base = 10, digits = s;
    else if (n > 2 && s[0] == '0' && s[1] == 'o' && all_digits(s + 2, n - 2, "01234567"))
        base = 8, digits = s + 2;
    else if (n > 2 && s[0] == '0' && s[1] == 'x' &&
             all_digits(s + 2, n - 2, "0123456789abcdefABCDEF"))
        base = 16, digits = s + 2;
    if (base) {
        errno = 0;
        char *end;
        long long v = strtoll(digits, &end, base);
        if (errno == ERANGE || *end) {
            syntax(b, line, col, "integer %s is out of range", s);
            return NULL;
        }
        return json_integer(v);
    }
    const char *f = s + sign;
    if (strcmp(f, ".inf") == 0 || strcmp(f, ".Inf") == 0 || strcmp(f, ".INF") == 0 ||
        strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0) {
        syntax(b, line, col, "%s is not a JSON number", s);
        return NULL;
    }
    if (is_core_float(s)) {
        double d = strtod(s, NULL);
        if (!isfinite(d)) {
            syntax(b, line, col, "number %s is out of range", s);
            return NULL;
        }
        return json_real(d);
    }
    return json_stringn(s, n);
}

/* The JSON value of a scalar event, or NULL with the error set. */
static json_t *scalar_value(builder *b, struct fy_event *ev, int line, int col)
{
    size_t n = 0;
    const char *t = fy_token_get_text(ev->scalar.value, &n);
    if (!t)
        t = "", n = 0;
    if (memchr(t, '\0', n)) {
        syntax(b, line, col, "strings may not contain NUL characters");
        return NULL;
    }
    bool as_string = fy_token_scalar_style(ev->scalar.value) != FYSS_PLAIN;
    if (ev->scalar.tag) {
        const char *tag = fy_token_get_text0(ev->scalar.tag);
        if (tag && (strcmp(tag, "tag:yaml.org,2002:str") == 0 || strcmp(tag, "!") == 0)) {
            as_string = true;
        } else {
            syntax(b, line, col, "tag '%s' is not supported (only !!str)", tag ? tag : "?");
            return NULL;
        }
    }
    json_t *v;
    if (as_string) {
        v = json_stringn(t, n);
    } else {
        char *s = strndup(t, n);
        if (!s) {
            sp_error_set(b->err, SP_ENOMEM, "out of memory");
            return NULL;
        }
        v = plain_scalar(b, s, n, line, col);
        free(s);
        if (!v)
            return NULL;
    }
    if (!v)
        syntax(b, line, col, "invalid string");
    return v;
}

static size_t node_count(const json_t *v)
{
    size_t n = 1, i;
    const char *k;
    json_t *child;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, child)
            n += node_count(child);
    else if (json_is_array(v))
        json_array_foreach(v, i, child)
            n += node_count(child);
    return n;
}

static void record(json_t *locs, const char *path, int line, int col)
{
    json_object_set_new(locs, path, json_pack("[ii]", line, col));
}

/*
 * Places a new node (steals v) in the current container, or as the root.
 * Fills path with the node's path. A scalar met where a mapping expects a
 * key becomes that key instead (*was_key set; v is consumed).
 */
static sp_code place(builder *b, json_t *v, const char *key_text, int line, int col,
                     char path[WF_PATH_MAX], bool *was_key)
{
    *was_key = false;
    if (b->depth == 0) {
        if (b->root) {
            json_decref(v);
            return syntax(b, line, col, "unexpected content after the document");
        }
        b->root = v;
        path[0] = '\0';
        record(b->doc->locs, "", line, col);
        return SP_OK;
    }
    frame *f = &b->stack[b->depth - 1];
    if (json_is_array(f->value)) {
        wf_path_index(path, f->path, json_array_size(f->value));
        json_array_append_new(f->value, v);
        record(b->doc->locs, path, line, col);
        return SP_OK;
    }
    if (!f->key) {
        json_decref(v);
        if (!key_text)
            return syntax(b, line, col, "mapping keys must be plain strings");
        if (json_object_get(f->value, key_text))
            return syntax(b, line, col, "duplicate key '%s'", key_text);
        if (!(f->key = strdup(key_text)))
            return sp_error_set(b->err, SP_ENOMEM, "out of memory");
        f->key_line = line;
        f->key_col = col;
        *was_key = true;
        return SP_OK;
    }
    wf_path_key(path, f->path, f->key);
    json_object_set_new(f->value, f->key, v);
    record(b->doc->keylocs, path, f->key_line, f->key_col);
    record(b->doc->locs, path, line, col);
    free(f->key);
    f->key = NULL;
    return SP_OK;
}

static sp_code on_scalar(builder *b, struct fy_event *ev)
{
    int line, col;
    mark_of(ev, &line, &col);
    json_t *v = scalar_value(b, ev, line, col);
    if (!v)
        return b->err->code;
    char path[WF_PATH_MAX];
    bool was_key;
    /* Keys are taken as written: `1: x` has the key "1", as JSON needs. */
    size_t n = 0;
    const char *t = fy_token_get_text(ev->scalar.value, &n);
    char *key = strndup(t ? t : "", t ? n : 0);
    if (!key) {
        json_decref(v);
        return sp_error_set(b->err, SP_ENOMEM, "out of memory");
    }
    json_incref(v);
    sp_code rc = place(b, v, key, line, col, path, &was_key);
    free(key);
    if (rc == SP_OK && !was_key && ev->scalar.anchor)
        json_object_set(b->anchors, fy_token_get_text0(ev->scalar.anchor), v);
    json_decref(v);
    return rc;
}

static sp_code on_alias(builder *b, struct fy_event *ev)
{
    int line, col;
    mark_of(ev, &line, &col);
    const char *name = fy_token_get_text0(ev->alias.anchor);
    json_t *target = name ? json_object_get(b->anchors, name) : NULL;
    if (!target)
        return syntax(b, line, col, "alias '%s' names no complete anchor", name ? name : "?");
    b->alias_nodes += node_count(target);
    if (b->alias_nodes > WF_MAX_ALIAS_NODES)
        return syntax(b, line, col, "aliases expand to more than %d nodes",
                      WF_MAX_ALIAS_NODES);
    json_t *copy = json_deep_copy(target);
    if (!copy)
        return sp_error_set(b->err, SP_ENOMEM, "out of memory");
    char path[WF_PATH_MAX];
    bool was_key;
    return place(b, copy, NULL, line, col, path, &was_key);
}

static sp_code on_start(builder *b, struct fy_event *ev, bool mapping)
{
    int line, col;
    mark_of(ev, &line, &col);
    if (b->depth >= SP_JSON_MAX_DEPTH)
        return syntax(b, line, col, "nested deeper than %d levels", SP_JSON_MAX_DEPTH);
    json_t *v = mapping ? json_object() : json_array();
    if (!v)
        return sp_error_set(b->err, SP_ENOMEM, "out of memory");
    frame *f = &b->stack[b->depth];
    memset(f, 0, sizeof *f);
    bool was_key;
    sp_code rc = place(b, v, NULL, line, col, f->path, &was_key);
    if (rc)
        return rc;
    f->value = v;
    struct fy_token *anchor = mapping ? ev->mapping_start.anchor : ev->sequence_start.anchor;
    struct fy_token *tag = mapping ? ev->mapping_start.tag : ev->sequence_start.tag;
    if (tag) {
        const char *t = fy_token_get_text0(tag);
        if (!t || (strcmp(t, "tag:yaml.org,2002:map") && strcmp(t, "tag:yaml.org,2002:seq")))
            return syntax(b, line, col, "tag '%s' is not supported", t ? t : "?");
    }
    if (anchor && !(f->anchor = strdup(fy_token_get_text0(anchor))))
        return sp_error_set(b->err, SP_ENOMEM, "out of memory");
    b->depth++;
    return SP_OK;
}

static void frame_release(frame *f)
{
    free(f->key);
    free(f->anchor);
    f->key = f->anchor = NULL;
}

static void on_end(builder *b)
{
    frame *f = &b->stack[--b->depth];
    /* Registered only now: an alias inside its own anchor finds nothing. */
    if (f->anchor)
        json_object_set(b->anchors, f->anchor, f->value);
    frame_release(f);
}

static sp_code on_event(builder *b, struct fy_event *ev)
{
    int line, col;
    switch (ev->type) {
    case FYET_DOCUMENT_START:
        if (++b->documents > 1) {
            mark_of(ev, &line, &col);
            return syntax(b, line, col, "only one document is allowed");
        }
        return SP_OK;
    case FYET_MAPPING_START:
        return on_start(b, ev, true);
    case FYET_SEQUENCE_START:
        return on_start(b, ev, false);
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END:
        on_end(b);
        return SP_OK;
    case FYET_SCALAR:
        return on_scalar(b, ev);
    case FYET_ALIAS:
        return on_alias(b, ev);
    default:
        return SP_OK;
    }
}

static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag, (void)user, (void)buf, (void)len;
}

/* The first error libfyaml collected, as our syntax error. */
static sp_code parser_error(builder *b, struct fy_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
    if (e && e->msg)
        return syntax(b, e->line > 0 ? e->line : 1, e->column > 0 ? e->column : 1, "%s", e->msg);
    return sp_error_set(b->err, SP_EBADINPUT, "the text does not parse as %s", "YAML");
}

static sp_code run_parser(builder *b, const char *text, size_t len, wf_format format)
{
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_discard;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag)
        return sp_error_set(b->err, SP_ENOMEM, "out of memory");
    fy_diag_set_collect_errors(diag, true);

    struct fy_parse_cfg cfg = {
        .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 |
                 (format == WF_FORMAT_JSON ? FYPCF_JSON_FORCE : FYPCF_JSON_NONE),
        .diag = diag,
    };
    struct fy_parser *p = fy_parser_create(&cfg);
    sp_code rc = SP_OK;
    if (!p || fy_parser_set_string(p, text, len) != 0) {
        rc = sp_error_set(b->err, SP_ENOMEM, "out of memory");
        goto out;
    }
    struct fy_event *ev;
    while (rc == SP_OK && (ev = fy_parser_parse(p))) {
        rc = on_event(b, ev);
        fy_parser_event_free(p, ev);
    }
    if (rc == SP_OK && fy_parser_get_stream_error(p))
        rc = parser_error(b, diag);
out:
    if (p)
        fy_parser_destroy(p);
    fy_diag_destroy(diag);
    return rc;
}

sp_code wf_parse(const char *text, size_t len, wf_format format, wf_doc *out, sp_error *err)
{
    sp_error local = SP_ERROR_INIT;
    builder *b = calloc(1, sizeof *b);
    memset(out, 0, sizeof *out);
    if (!b)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    b->err = err ? err : &local;
    b->doc = out;

    sp_code rc;
    if (!text)
        text = "", len = 0;
    if (len > WF_MAX_SOURCE) {
        rc = sp_error_set(b->err, SP_EBADINPUT,
                          "the definition is %zu bytes; the limit is %d", len, WF_MAX_SOURCE);
        goto out;
    }
    if ((rc = check_text(b, (const unsigned char *)text, len)))
        goto out;
    out->locs = json_object();
    out->keylocs = json_object();
    b->anchors = json_object();
    if (!out->locs || !out->keylocs || !b->anchors) {
        rc = sp_error_set(b->err, SP_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = run_parser(b, text, len, format)))
        goto out;
    if (!b->root) {
        rc = sp_error_set(b->err, SP_EBADINPUT, "the definition is empty");
        goto out;
    }
    out->root = b->root;
    b->root = NULL;
out:
    while (b->depth > 0)
        frame_release(&b->stack[--b->depth]);
    json_decref(b->root);
    json_decref(b->anchors);
    free(b);
    if (rc) {
        wf_doc_free(out);
        sp_error_clear(&local);
    }
    return rc;
}

void wf_doc_free(wf_doc *doc)
{
    if (!doc)
        return;
    json_decref(doc->root);
    json_decref(doc->locs);
    json_decref(doc->keylocs);
    memset(doc, 0, sizeof *doc);
}
