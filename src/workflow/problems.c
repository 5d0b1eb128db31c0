/*
 * problems.c - paths, positions and the list of problems a load collects.
 *
 * A definition is checked in full before anything is reported, so a user
 * fixes everything in one round. Each problem is
 *     {"path": "steps[1].next", "line": 9, "column": 11, "message": "..."}
 * and the summary message repeats them in document order.
 */
#include "workflow/wf_internal.h"

#include "core/jsonx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key that can follow a dot unambiguously. */
static bool plain_word(const char *k)
{
    if (!*k)
        return false;
    for (const char *p = k; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '$'))
            return false;
    return true;
}

void wf_path_key(char out[WF_PATH_MAX], const char *parent, const char *key)
{
    char buf[WF_PATH_MAX];
    if (plain_word(key)) {
        snprintf(buf, sizeof buf, "%s%s%s", parent, *parent ? "." : "", key);
    } else {
        /* ["key"], with quotes and backslashes escaped as in JSON. */
        size_t n = (size_t)snprintf(buf, sizeof buf, "%s[\"", parent);
        for (const char *p = key; *p && n + 4 < sizeof buf; p++) {
            if (*p == '"' || *p == '\\')
                buf[n++] = '\\';
            buf[n++] = *p;
        }
        if (n + 3 <= sizeof buf) {
            buf[n++] = '"';
            buf[n++] = ']';
        }
        buf[n < sizeof buf ? n : sizeof buf - 1] = '\0';
    }
    memcpy(out, buf, sizeof buf);
}

void wf_path_index(char out[WF_PATH_MAX], const char *parent, size_t i)
{
    char buf[WF_PATH_MAX];
    snprintf(buf, sizeof buf, "%s[%zu]", parent, i);
    memcpy(out, buf, sizeof buf);
}

/* Cuts the last component off path (in place); false at the root. */
static bool path_parent(char *path)
{
    size_t n = strlen(path);
    if (n == 0)
        return false;
    if (path[n - 1] == ']') {
        /* [i] or ["key"]: cut at the opening bracket of the last one. */
        const char *open = n >= 2 && path[n - 2] == '"' ? "[\"" : "[";
        char *last = NULL;
        for (char *p = path; (p = strstr(p, open)); p++)
            last = p;
        if (last) {
            *last = '\0';
            return true;
        }
    }
    char *dot = strrchr(path, '.');
    if (dot)
        *dot = '\0';
    else
        path[0] = '\0';
    return true;
}

void wf_doc_loc(const wf_doc *doc, const char *path, bool at_key, int *line, int *col)
{
    char p[WF_PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    *line = *col = 0;
    if (!doc)
        return;
    for (;;) {
        json_t *loc = at_key ? json_object_get(doc->keylocs, p) : NULL;
        if (!loc)
            loc = json_object_get(doc->locs, p);
        if (loc) {
            *line = (int)json_integer_value(json_array_get(loc, 0));
            *col = (int)json_integer_value(json_array_get(loc, 1));
            return;
        }
        if (!path_parent(p))
            return;
    }
}

static void add_problem(wf_ctx *c, const char *path, bool at_key, const char *fmt, va_list ap)
{
    char msg[SP_ERROR_MESSAGE_MAX], where[WF_PATH_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    snprintf(where, sizeof where, "%s", path);
    int line, col;
    wf_doc_loc(c->doc, path, at_key, &line, &col);
    /* Text cut to size may end mid-character; JSON would refuse it, and a
     * problem that is not recorded is a definition accepted with it. */
    json_t *p = json_pack("{s:s, s:i, s:i, s:s}", "path", utf8_sanitize(where), "line", line,
                          "column", col, "message", utf8_sanitize(msg));
    if (!p)
        p = json_pack("{s:s, s:i, s:i, s:s}", "path", "?", "line", line, "column", col,
                      "message", "a problem that cannot be shown");
    json_array_append_new(c->problems, p);
}

void wf_problem(wf_ctx *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_problem(c, path, false, fmt, ap);
    va_end(ap);
}

void wf_problem_key(wf_ctx *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_problem(c, path, true, fmt, ap);
    va_end(ap);
}

/* Document order; problems with no position last; stable otherwise. */
typedef struct {
    json_t *p;
    size_t seq;
} ordered;

static int cmp_problem(const void *a, const void *b)
{
    const ordered *x = a, *y = b;
    json_int_t lx = json_integer_value(json_object_get(x->p, "line"));
    json_int_t ly = json_integer_value(json_object_get(y->p, "line"));
    json_int_t cx = json_integer_value(json_object_get(x->p, "column"));
    json_int_t cy = json_integer_value(json_object_get(y->p, "column"));
    if (lx == 0)
        lx = INT32_MAX;
    if (ly == 0)
        ly = INT32_MAX;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    if (cx != cy)
        return cx < cy ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static json_t *sorted(json_t *problems)
{
    size_t n = json_array_size(problems);
    ordered *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return json_incref(problems);
    for (size_t i = 0; i < n; i++)
        v[i] = (ordered){ json_array_get(problems, i), i };
    qsort(v, n, sizeof *v, cmp_problem);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i].p);
    free(v);
    return out;
}

sp_code wf_problems_to_error(json_t *problems, const char *what, sp_error *err)
{
    json_t *list = sorted(problems);
    json_decref(problems);
    size_t n = json_array_size(list);

    char msg[SP_ERROR_MESSAGE_MAX];
    size_t len = (size_t)snprintf(msg, sizeof msg, "%s has %zu problem%s: ", what, n,
                                  n == 1 ? "" : "s");
    for (size_t i = 0; i < n && len < sizeof msg; i++) {
        json_t *p = json_array_get(list, i);
        const char *path = json_string_value(json_object_get(p, "path"));
        json_int_t line = json_integer_value(json_object_get(p, "line"));
        json_int_t col = json_integer_value(json_object_get(p, "column"));
        char where[64] = "";
        if (line > 0)
            snprintf(where, sizeof where, " (line %lld, column %lld)", (long long)line,
                     (long long)col);
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s%s%s%s", i ? "; " : "",
                                path && *path ? path : "", path && *path ? ": " : "",
                                json_string_value(json_object_get(p, "message")), where);
    }
    /* A summary cut short says so; the details always hold every problem. */
    if (len >= sizeof msg)
        memcpy(msg + sizeof msg - 5, "...", 4);
    sp_error_set(err, SP_EINVALID, "%s", msg);
    sp_error_details(err, list);
    return SP_EINVALID;
}
