/*
 * sandbox.c - an expression sees the run and nothing else.
 *
 * jq has builtins that read the process environment, further inputs, files
 * of modules, or write to stderr. None of them has a meaning inside a run,
 * and some would leak the server's secrets, so an expression that calls one
 * is refused when the workflow is applied. The check is lexical: it walks
 * the source the way jq's lexer does (string literals, \( ) interpolations
 * and comments), and looks at every bare identifier.
 */
#include "expr/expr_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *const forbidden_calls[] = {
    "env", "input", "inputs", "debug", "stderr", "input_filename",
    "input_line_number", "halt", "halt_error", "import", "include",
    "modulemeta", "get_search_list", "get_prog_origin", "get_jq_origin",
    NULL,
};

static const char *const forbidden_vars[] = { "ENV", "__loc__", "__prog_args", NULL };

static bool listed(const char *const *list, const char *s, size_t n)
{
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, s, n) == 0)
            return true;
    return false;
}

static bool ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* The character before position i that is not white space, or 0. */
static char before(const char *src, size_t i)
{
    while (i > 0) {
        char c = src[--i];
        if (!isspace((unsigned char)c))
            return c;
    }
    return 0;
}

/* True when the identifier ending at i is an object key or a definition's
 * name (`{env: 1}`, `def halt: 1;`): followed by one ':' but not '::'. */
static bool names_a_key(const char *src, size_t i)
{
    while (isspace((unsigned char)src[i]))
        i++;
    return src[i] == ':' && src[i + 1] != ':';
}

#define MAX_NESTING 64

sp_code expr_sandbox_check(const char *src, sp_error *err)
{
    /* Each level is either code (0) or a string (1); "\(" inside a string
     * opens code, and the matching ")" returns to the string. */
    unsigned char mode[MAX_NESTING];
    int parens[MAX_NESTING];
    int depth = 0;
    mode[0] = 0;
    parens[0] = 0;

    for (size_t i = 0; src[i];) {
        char c = src[i];
        if (mode[depth] == 1) {                 /* inside a string literal */
            if (c == '\\' && src[i + 1] == '(') {
                if (depth + 1 >= MAX_NESTING)
                    return sp_error_set(err, SP_EINVALID, "string interpolation nested too deeply");
                depth++;
                mode[depth] = 0;
                parens[depth] = 0;
                i += 2;
            } else if (c == '\\' && src[i + 1]) {
                i += 2;
            } else {
                if (c == '"')
                    depth--;
                i++;
            }
            continue;
        }
        if (c == '"') {
            if (depth + 1 >= MAX_NESTING)
                return sp_error_set(err, SP_EINVALID, "string literals nested too deeply");
            depth++;
            mode[depth] = 1;
            i++;
        } else if (c == '#') {
            while (src[i] && src[i] != '\n')
                i++;
        } else if (c == '(') {
            parens[depth]++;
            i++;
        } else if (c == ')') {
            if (parens[depth] == 0 && depth > 0)
                depth--;                        /* back into the string */
            else
                parens[depth]--;
            i++;
        } else if (ident_start(c)) {
            size_t start = i;
            while (ident_char(src[i]) || (src[i] == ':' && src[i + 1] == ':' && ident_start(src[i + 2]))) {
                if (src[i] == ':')
                    i += 2;
                else
                    i++;
            }
            char prev = before(src, start);
            size_t n = i - start;
            if (prev == '$') {
                if (listed(forbidden_vars, src + start, n))
                    return sp_error_set(err, SP_EINVALID, "$%.*s is not available in spojit expressions",
                                        (int)n, src + start);
            } else if (prev != '.' && !names_a_key(src, i) && listed(forbidden_calls, src + start, n)) {
                return sp_error_set(err, SP_EINVALID,
                                    "the jq builtin '%.*s' is not available in spojit expressions",
                                    (int)n, src + start);
            }
        } else {
            i++;
        }
    }
    return SP_OK;
}
