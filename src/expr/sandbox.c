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
    "env", "input", "_input", "inputs", "debug", "stderr", "input_filename",
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

#define MAX_NESTING 256

/*
 * The scanner's view of where it is. jq lets white space and comments sit
 * between any two tokens ("$ # note\n ENV" is $ENV), so what came before an
 * identifier is judged by the previous *token*, never by the previous
 * character:
 *   - after '$' it is a variable;
 *   - right after '.' (no space: ".env" is one token) it is a field;
 *   - followed by ':' it names an object key only directly inside '{ }',
 *     after '{' or ','; or it is a definition's name after "def". In
 *     ".[env:]" or ".[1, env:]" it is a call, whatever follows it.
 */
typedef struct {
    char open[MAX_NESTING];     /* '{', '[', '(' or 'i' (a string's "\(") */
    int depth;
    char last;                  /* the previous token's last character, 0 at start */
    bool after_def;             /* the previous token was the word "def" */
} scan;

static bool push(scan *sc, char c)
{
    if (sc->depth >= MAX_NESTING)
        return false;
    sc->open[sc->depth++] = c;
    return true;
}

/* i just past the identifier: is it followed (across space and comments)
 * by ':' that is not '::'? */
static bool colon_follows(const char *src, size_t i)
{
    for (;;) {
        while (isspace((unsigned char)src[i]))
            i++;
        if (src[i] != '#')
            break;
        while (src[i] && src[i] != '\n')
            i++;
    }
    return src[i] == ':' && src[i + 1] != ':';
}

static sp_code judge_identifier(const scan *sc, const char *src, size_t start, size_t end,
                                bool dollar, bool dot, sp_error *err)
{
    size_t n = end - start;
    if (dollar)
        return listed(forbidden_vars, src + start, n)
                   ? sp_error_set(err, SP_EINVALID, "$%.*s is not available in spojit expressions",
                                  (int)n, src + start)
                   : SP_OK;
    if (dot)
        return SP_OK;
    bool in_object = sc->depth > 0 && sc->open[sc->depth - 1] == '{';
    bool a_key = colon_follows(src, end) &&
                 ((in_object && (sc->last == '{' || sc->last == ',')) || sc->after_def);
    if (!a_key && listed(forbidden_calls, src + start, n))
        return sp_error_set(err, SP_EINVALID,
                            "the jq builtin '%.*s' is not available in spojit expressions",
                            (int)n, src + start);
    return SP_OK;
}

sp_code expr_sandbox_check(const char *src, sp_error *err)
{
    scan sc = { .depth = 0 };
    bool in_string = false;
    bool dollar = false;                /* the previous token was '$' */
    for (size_t i = 0; src[i];) {
        char c = src[i];
        if (in_string) {
            if (c == '\\' && src[i + 1] == '(') {    /* "\(" opens code */
                if (!push(&sc, 'i'))
                    return sp_error_set(err, SP_EINVALID, "string interpolation nested too deeply");
                in_string = false;
                sc.last = '(';
                i += 2;
            } else if (c == '\\' && src[i + 1]) {
                i += 2;
            } else {
                if (c == '"') {
                    in_string = false;
                    sc.last = '"';
                }
                i++;
            }
            continue;
        }
        if (isspace((unsigned char)c)) {
            i++;
            continue;
        }
        if (c == '#') {
            while (src[i] && src[i] != '\n')
                i++;
            continue;
        }
        if (ident_start(c)) {
            size_t start = i;
            while (ident_char(src[i]) ||
                   (src[i] == ':' && src[i + 1] == ':' && ident_start(src[i + 2])))
                i += src[i] == ':' ? 2 : 1;
            bool dot = start > 0 && src[start - 1] == '.' && sc.last == '.';
            if (judge_identifier(&sc, src, start, i, dollar, dot, err) != SP_OK)
                return err->code;
            sc.after_def = i - start == 3 && memcmp(src + start, "def", 3) == 0 && !dollar && !dot;
            sc.last = src[i - 1];
            dollar = false;
            continue;
        }
        /* Any other token. */
        dollar = c == '$';
        sc.after_def = false;
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[' || c == '(') {
            if (!push(&sc, c))
                return sp_error_set(err, SP_EINVALID, "expression nested too deeply");
        } else if (c == '}' || c == ']' || c == ')') {
            if (sc.depth > 0) {
                char top = sc.open[--sc.depth];
                if (c == ')' && top == 'i')
                    in_string = true;           /* back into the string */
            }
        }
        sc.last = c;
        i++;
    }
    return SP_OK;
}
