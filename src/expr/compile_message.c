/*
 * compile_message.c - jq's compile errors in the author's terms.
 *
 * expr.c compiles each expression inside a wrapper (". as [$__i, $__doc,
 * ...] | $__doc | (SRC)"), so jq's message for a bad one quotes the wrapper
 * and counts lines and tokens from it: a missing operand shows up as an
 * "unexpected ')'" the author never wrote. Once an expression is known not
 * to compile, it is compiled again alone, with $env and $secrets bound as
 * the wrapper binds them, and jq's message is rewritten:
 *
 *   jq: error: syntax error, unexpected '*' (Unix shell quoting issues?)
 *   at <top-level>, line 1:\n.a +* 2    (padded to the column)
 *
 * becomes "syntax error, unexpected '*' at column 5". jq 1.6 gives no column
 * in words; it pads the quoted line with spaces up to the error's offset
 * within that line, which expr.c's error callback counts (first_error_pad).
 */
#include "expr/expr_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cut(char *m, const char *what)
{
    char *at;
    size_t n = strlen(what);
    while ((at = strstr(m, what)))
        memmove(at, at + n, strlen(at + n) + 1);
}

/* Replaces every from in m (of capacity cap) with to. */
static void replace(char *m, size_t cap, const char *from, const char *to)
{
    char *at = m;
    size_t nf = strlen(from), nt = strlen(to);
    while ((at = strstr(at, from))) {
        size_t rest = strlen(at + nf);
        if ((size_t)(at - m) + nt + rest + 1 > cap)
            return;
        memmove(at + nt, at + nf, rest + 1);
        memcpy(at, to, nt);
        at += nt;
    }
}

/* Bison's token names mean nothing to an author: "$end" is the end of the
 * expression, INVALID_CHARACTER a bracket or character out of place, and
 * an "expecting" list of QQSTRING_... tokens is dropped. */
static void plain_words(char *m, size_t cap)
{
    char *expecting = strstr(m, ", expecting ");
    if (expecting && strchr(expecting, '_'))
        *expecting = '\0';
    replace(m, cap, "unexpected $end", "unexpected end of the expression");
    replace(m, cap, "expecting $end", "expecting the end of the expression");
    replace(m, cap, "INVALID_CHARACTER", "character");
}

bool expr_jq_explain(expr_jq *j, const char *src, sp_error *err)
{
    j->first_error[0] = '\0';
    j->first_error_pad = 0;
    jv args = jv_object();
    args = jv_object_set(args, jv_string("env"), jv_null());
    args = jv_object_set(args, jv_string("secrets"), jv_null());
    if (jq_compile_args(j->jq, src, args))
        return true;

    char what[512];
    snprintf(what, sizeof what, "%s", j->first_error);
    cut(what, "jq: error: ");
    cut(what, " (Unix shell quoting issues?)");
    cut(what, " (Windows cmd shell quoting issues?)");
    char *at = strstr(what, " at <top-level>, line ");
    if (!at) {                  /* no position: jq's words, tidied */
        for (char *p = what; *p; p++)
            if (*p == '\n')
                *p = ' ';
        sp_error_set(err, SP_EINVALID, "%s", what[0] ? what : "the expression does not compile");
        return false;
    }
    long line = strtol(at + strlen(" at <top-level>, line "), NULL, 10);
    *at = '\0';
    bool at_end = strstr(what, "unexpected $end") != NULL;
    plain_words(what, sizeof what);

    /* Line `line` of src: where it starts, how long, whether it is the last. */
    const char *start = src;
    for (long l = 1; l < line && start; l++) {
        start = strchr(start, '\n');
        if (start)
            start++;
    }
    bool one_line = strchr(src, '\n') == NULL;
    if (at_end || !start || line < 1) {
        sp_error_set(err, SP_EINVALID, "%s", what);
        return false;
    }
    const char *nl = strchr(start, '\n');
    size_t len = nl ? (size_t)(nl - start) : strlen(start);
    size_t trailing = 0;        /* the quoted line's own spaces, if last */
    while (!nl && trailing < len && start[len - 1 - trailing] == ' ')
        trailing++;
    size_t column = j->first_error_pad >= trailing ? j->first_error_pad - trailing : 0;
    if (column > len)
        column = len;
    if (one_line)
        sp_error_set(err, SP_EINVALID, "%s at column %zu", what, column + 1);
    else
        sp_error_set(err, SP_EINVALID, "%s at line %ld, column %zu", what, line, column + 1);
    return false;
}
