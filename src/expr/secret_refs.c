/*
 * secret_refs.c - which secrets an expression reads, by name.
 *
 * A step's output is redacted of the secrets that step could see, not of
 * every stored one (docs/operations/security.md): otherwise a step that
 * echoes its input tells, by the "***" in its answer, which guess equals a
 * stored secret. What a step can see is decided here, once, when its
 * workflow is applied: every read of $secrets must be by a literal name -
 * $secrets.NAME, $secrets."NAME" or $secrets["NAME"] - or the expression is
 * taken to read them all ($secrets[.x], $secrets | keys, $secrets alone).
 *
 * The walk is lexical, like sandbox.c: string literals (with their \( )
 * interpolations, which hold code) and comments are skipped, and jq lets
 * white space and comments sit between any two tokens ("$ secrets . a" is
 * $secrets.a). A mistake here can never show a secret: the engine binds
 * only the secrets named, so an expression reading another one some way
 * this walk does not see gets null, not the value.
 */
#include "expr/expr.h"

#include <ctype.h>
#include <string.h>

#define MAX_NESTING 256

static bool ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Index of the next token at or after i (white space and comments skipped). */
static size_t skip_blank(const char *src, size_t i)
{
    for (;;) {
        while (isspace((unsigned char)src[i]))
            i++;
        if (src[i] != '#')
            return i;
        while (src[i] && src[i] != '\n')
            i++;
    }
}

/* A plain string literal at i ("..." without escapes or interpolation):
 * its length through *n and the index past it; 0 when it is not one. */
static size_t plain_string(const char *src, size_t i, size_t *n)
{
    if (src[i] != '"')
        return 0;
    size_t j = i + 1;
    while (src[j] && src[j] != '"' && src[j] != '\\')
        j++;
    if (src[j] != '"')
        return 0;
    *n = j - i - 1;
    return j + 1;
}

/* After "$secrets" (i just past it): a read by literal name adds the name
 * and returns the index past it; 0 for any other use. */
static size_t named_read(const char *src, size_t i, json_t *names)
{
    size_t j = skip_blank(src, i), n = 0, end = 0, start = 0;
    if (src[j] == '.' && ident_start(src[j + 1])) {         /* .NAME: one token */
        start = j + 1;
        for (end = start; ident_char(src[end]); end++)
            ;
        n = end - start;
    } else if (src[j] == '.') {                             /* ."NAME" */
        start = skip_blank(src, j + 1) + 1;
        end = plain_string(src, start - 1, &n);
    } else if (src[j] == '[') {                             /* ["NAME"] */
        start = skip_blank(src, j + 1) + 1;
        size_t after = plain_string(src, start - 1, &n);
        if (after && src[after = skip_blank(src, after)] == ']')
            end = after + 1;
    }
    if (!end || n == 0)
        return 0;
    json_t *name = json_stringn(src + start, n);
    if (!name)
        return 0;
    json_object_set_new(names, json_string_value(name), json_true());
    json_decref(name);
    return end;
}

bool expr_secret_names(const char *src, json_t *names)
{
    char open[MAX_NESTING];     /* '(' or 'i' (a string's "\(") */
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; src[i];) {
        char c = src[i];
        if (in_string) {
            if (c == '\\' && src[i + 1] == '(') {
                if (depth >= MAX_NESTING)
                    return false;
                open[depth++] = 'i';
                in_string = false;
                i += 2;
            } else if (c == '\\' && src[i + 1]) {
                i += 2;
            } else {
                in_string = c != '"';
                i++;
            }
            continue;
        }
        if (c == '#') {
            while (src[i] && src[i] != '\n')
                i++;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '(') {
            if (depth >= MAX_NESTING)
                return false;
            open[depth++] = '(';
        } else if (c == ')') {
            if (depth > 0 && open[--depth] == 'i')
                in_string = true;
        } else if (c == '$') {
            size_t j = skip_blank(src, i + 1), k = j;
            while (ident_char(src[k]))
                k++;
            if (ident_start(src[j]) && k - j == 7 && memcmp(src + j, "secrets", 7) == 0) {
                size_t past = named_read(src, k, names);
                if (!past)
                    return false;
                i = past;
                continue;
            }
            i = k > j ? k : i + 1;
            continue;
        } else if (ident_start(c)) {
            /* A word: skipped whole, so "a$secrets" cannot start mid-word
             * (jq would refuse it anyway). */
            while (ident_char(src[i]))
                i++;
            continue;
        }
        i++;
    }
    return true;
}
