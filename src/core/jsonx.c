/* jsonx.c - depth limits, canonical dumps, JSON pointers; see jsonx.h. */
#include "core/jsonx.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int json_depth(const json_t *v)
{
    int deepest = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child) {
            int d = json_depth(child);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            int d = json_depth(child);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    return 0;
}

/* Counts bracket nesting outside strings, so that hostile input is refused
 * before the parser recurses into it. Returns the maximum depth seen. */
static int scan_depth(const char *s, size_t len, int limit)
{
    int depth = 0, deepest = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > limit)
                    return deepest;
            }
        } else if (c == ']' || c == '}')
            depth--;
    }
    return deepest;
}

void text_line_column(const char *s, size_t pos, int *line, int *column)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < pos; i++) {
        if (s[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)s[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *column = c;
}

/* What went wrong, in words that quote nothing of the text. */
static const char *error_kind(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_invalid_utf8: return "not UTF-8";
    case json_error_premature_end_of_input: return "the text ends inside the value";
    case json_error_invalid_syntax: return "not JSON syntax";
    case json_error_null_character: return "a \\u0000 in a string";
    case json_error_duplicate_key: return "a key given twice";
    case json_error_numeric_overflow: return "a number out of range";
    case json_error_stack_overflow: return "nested too deep";
    default: return "not JSON";
    }
}

static json_t *parse_limited(const char *text, size_t len, int max_depth, const char *what,
                             bool quote, sp_error *err)
{
    int line, column;
    if (len == 0) {
        sp_error_set(err, SP_EBADINPUT, "%s: empty, expected JSON", what);
        return NULL;
    }
    /* JSON text holds no NUL byte (one in a string is written \u0000):
     * refused wherever it is, before anything reads the text as a C
     * string and stops there. */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        text_line_column(text, (size_t)(nul - text), &line, &column);
        sp_error_set(err, SP_EBADINPUT, "%s: a NUL byte at line %d, column %d (byte %zu)",
                     what, line, column, (size_t)(nul - text) + 1);
        return NULL;
    }
    if (scan_depth(text, len, max_depth) > max_depth) {
        sp_error_set(err, SP_EBADINPUT, "%s: nested deeper than %d levels",
                     what, max_depth);
        return NULL;
    }
    /* The value is parsed alone (jansson says where it ended); anything
     * but white space after it is refused here, naming where it starts. */
    json_error_t jerr;
    json_t *v = json_loadb(text, len,
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK,
                           &jerr);
    if (!v) {
        /* jansson's text quotes the input near the problem ("near 'x'"). */
        if (quote)
            sp_error_set(err, SP_EBADINPUT, "%s: invalid JSON at line %d, column %d: %s",
                         what, jerr.line, jerr.column, jerr.text);
        else
            sp_error_set(err, SP_EBADINPUT, "%s: invalid JSON at line %d, column %d (%s)",
                         what, jerr.line, jerr.column, error_kind(&jerr));
        return NULL;
    }
    size_t end = jerr.position > 0 ? (size_t)jerr.position : 0;
    while (end < len && (text[end] == ' ' || text[end] == '\t' || text[end] == '\n' ||
                         text[end] == '\r'))
        end++;
    if (end < len) {
        json_decref(v);
        text_line_column(text, end, &line, &column);
        sp_error_set(err, SP_EBADINPUT,
                     "%s: unexpected data after the JSON value at line %d, column %d (byte %zu)",
                     what, line, column, end + 1);
        return NULL;
    }
    return v;
}

json_t *json_parse_limited(const char *text, size_t len, int max_depth,
                           const char *what, sp_error *err)
{
    return parse_limited(text, len, max_depth, what, true, err);
}

json_t *json_parse_private(const char *text, size_t len, int max_depth,
                           const char *what, sp_error *err)
{
    return parse_limited(text, len, max_depth, what, false, err);
}

char *json_canonical(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

const char *json_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, data, len);
    sodium_bin2hex(out, 65, digest, sizeof digest);
}

/* Decodes one reference token (~1 -> /, ~0 -> ~) into a malloc'd string. */
static char *pointer_token(const char *start, size_t len)
{
    char *tok = malloc(len + 1), *o = tok;
    if (!tok)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (start[i] == '~' && i + 1 < len && (start[i + 1] == '0' || start[i + 1] == '1')) {
            *o++ = start[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            *o++ = start[i];
        }
    }
    *o = '\0';
    return tok;
}

static json_t *pointer_child(json_t *node, const char *tok)
{
    if (json_is_object(node))
        return json_object_get(node, tok);
    if (json_is_array(node)) {
        char *end;
        if (!*tok || (tok[0] == '0' && tok[1]) )
            return NULL;
        long idx = strtol(tok, &end, 10);
        if (*end || idx < 0)
            return NULL;
        return json_array_get(node, (size_t)idx);
    }
    return NULL;
}

json_t *json_pointer_get(json_t *root, const char *pointer)
{
    if (!pointer || !*pointer)
        return root;
    if (*pointer != '/')
        return NULL;
    json_t *node = root;
    const char *p = pointer + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        char *tok = pointer_token(p, len);
        if (!tok)
            return NULL;
        node = pointer_child(node, tok);
        free(tok);
        if (!node || !slash)
            return node;
        p = slash + 1;
    }
}

int json_pointer_set(json_t *root, const char *pointer, json_t *value)
{
    const char *last = pointer ? strrchr(pointer, '/') : NULL;
    if (!last || *pointer != '/') {
        json_decref(value);
        return -1;
    }
    char *parent_ptr = strndup(pointer, (size_t)(last - pointer));
    json_t *parent = parent_ptr ? json_pointer_get(root, parent_ptr) : NULL;
    free(parent_ptr);
    char *tok = pointer_token(last + 1, strlen(last + 1));
    int rc = -1;
    if (parent && tok && json_is_object(parent)) {
        rc = json_object_set_new(parent, tok, value) == 0 ? 0 : -1;
        value = NULL;
    } else if (parent && tok && json_is_array(parent)) {
        char *end;
        long idx = strtol(tok, &end, 10);
        if (*tok && !*end && idx >= 0 && (size_t)idx < json_array_size(parent)) {
            rc = json_array_set_new(parent, (size_t)idx, value) == 0 ? 0 : -1;
            value = NULL;
        }
    }
    json_decref(value);
    free(tok);
    return rc;
}

size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* overlong forms, surrogates and beyond U+10FFFF */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

char *utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t left = s ? strlen(s) : 0;
    while (left > 0) {
        size_t n = utf8_sequence(p, left);
        if (n == 0) {
            *p = '?';
            n = 1;
        }
        p += n;
        left -= n;
    }
    return s;
}
