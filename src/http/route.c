/*
 * route.c - the route table: patterns compiled once at start, matched per
 * request by comparing percent-decoded path segments.
 *
 * "/v1/runs/{id}/cancel" compiles to the segments v1, runs, {}, cancel. A
 * "{x}" segment matches any one non-empty segment; its decoded text becomes
 * a parameter. Literal segments compare with the decoded request segment,
 * so "/v1/run%73" is "/v1/runs". The table is small (tens of routes), so a
 * linear scan is cheaper than anything cleverer.
 */
#include "http/http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compile_one(http_route_c *rc, const http_route *r, sp_error *err)
{
    if (!r->method || !r->pattern || !r->handler || r->pattern[0] != '/')
        return sp_error_set(err, SP_EINTERNAL, "route %s %s: needs a method, a pattern "
                            "starting with '/' and a handler",
                            r->method ? r->method : "?", r->pattern ? r->pattern : "?");
    rc->method = strdup(r->method);
    rc->pattern = strdup(r->pattern);
    rc->handler = r->handler;
    if (!rc->method || !rc->pattern)
        return sp_error_set(err, SP_ENOMEM, "out of memory compiling routes");
    /* "/" alone is the root: zero segments. */
    char *p = rc->pattern + 1;
    rc->nseg = 0;
    if (*p == '\0')
        return SP_OK;
    for (;;) {
        if (rc->nseg == HTTP_MAX_SEGMENTS)
            return sp_error_set(err, SP_EINTERNAL, "route %s: more than %d segments",
                                r->pattern, HTTP_MAX_SEGMENTS);
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        size_t len = strlen(p);
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}')
            rc->seg[rc->nseg++] = NULL;
        else
            rc->seg[rc->nseg++] = p;
        if (!slash)
            break;
        p = slash + 1;
    }
    return SP_OK;
}

int http__routes_compile(http_server *srv, const http_route *routes, size_t n, sp_error *err)
{
    srv->routes = calloc(n ? n : 1, sizeof *srv->routes);
    if (!srv->routes)
        return sp_error_set(err, SP_ENOMEM, "out of memory compiling routes");
    srv->nroutes = n;
    for (size_t i = 0; i < n; i++) {
        sp_code rc = compile_one(&srv->routes[i], &routes[i], err);
        if (rc)
            return rc;
    }
    return SP_OK;
}

void http__routes_free(http_server *srv)
{
    for (size_t i = 0; i < srv->nroutes; i++) {
        free(srv->routes[i].method);
        free(srv->routes[i].pattern);
    }
    free(srv->routes);
    srv->routes = NULL;
    srv->nroutes = 0;
}

int http__split_path(const char *path, char *out, const char *seg[HTTP_MAX_SEGMENTS])
{
    if (path[0] != '/')
        return -1;
    const char *p = path + 1;
    int n = 0;
    if (*p == '\0')
        return 0;
    for (;;) {
        if (n == HTTP_MAX_SEGMENTS)
            return -1;
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        long dlen = http__percent_decode(p, len, out, false);
        if (dlen < 0)
            return -1;
        out[dlen] = '\0';
        seg[n++] = out;
        out += dlen + 1;
        if (!slash)
            break;
        p = slash + 1;
    }
    return n;
}

/* HEAD is answered by GET routes (MHD sends the headers without the body). */
static bool method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

static bool path_matches(const http_route_c *rc, const char *const *seg, int nseg)
{
    if (rc->nseg != (size_t)nseg)
        return false;
    for (int i = 0; i < nseg; i++) {
        if (rc->seg[i] ? strcmp(rc->seg[i], seg[i]) != 0 : seg[i][0] == '\0')
            return false;
    }
    return true;
}

static void allow_add(char *allow, size_t allow_len, const char *method)
{
    size_t used = strlen(allow);
    /* The same method twice (two patterns for one path) is listed once. */
    for (const char *p = allow; (p = strstr(p, method)); p++) {
        size_t ml = strlen(method);
        if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0'))
            return;
    }
    snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", method);
}

const http_route_c *http__route_match(const http_server *srv, const char *method,
                                      const char *const *seg, int nseg, http_request *req,
                                      bool *path_known, char *allow, size_t allow_len)
{
    *path_known = false;
    allow[0] = '\0';
    for (size_t i = 0; i < srv->nroutes; i++) {
        const http_route_c *rc = &srv->routes[i];
        if (!path_matches(rc, seg, nseg))
            continue;
        if (method_matches(rc->method, method)) {
            req->nparams = 0;
            for (int s = 0; s < nseg; s++)
                if (!rc->seg[s])
                    req->params[req->nparams++] = seg[s];
            return rc;
        }
        *path_known = true;
        allow_add(allow, allow_len, rc->method);
    }
    return NULL;
}
