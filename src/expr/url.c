/*
 * url.c - what a {{ }} template needs to know about URLs.
 *
 * A URL template (an http step's or a tool's `url`, an agent's `url`) is a
 * template whose parts are placed by the literal text before them:
 *
 *   scheme://authority/path?query#fragment
 *   ^^^^^^^^^^^^^^^^^^ ^^^^ ^^^^^ ^^^^^^^^
 *   EXPR_URL_SCHEME,   PATH QUERY FRAGMENT
 *   EXPR_URL_AUTHORITY
 *
 * Before the end of the authority only configuration may stand ($env.NAME,
 * $secrets.NAME): where a request goes, and so where its credentials go,
 * is the operator's choice, never a run's. Configuration is inserted as it
 * is wherever it stands. Every other value (from the run) is
 * percent-encoded (everything but RFC 3986's unreserved characters), so it
 * is one piece of text in its place and cannot add a segment, a query or
 * a fragment; a value that would make a whole path segment "", "." or ".."
 * (which name another resource) is refused.
 * The rendered URL is checked once more: scheme http or https, and the
 * authority the one the configured prefix gave. Messages never quote the
 * URL: it may hold a secret, and they end up in the run.
 */
#include "expr/expr_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

expr_url_pos expr_url_scan(expr_url_pos pos, const char *literal)
{
    for (const char *p = literal; *p; p++) {
        switch (pos) {
        case EXPR_URL_SCHEME:
            if (strncmp(p, "://", 3) == 0) {
                pos = EXPR_URL_AUTHORITY;
                p += 2;
            } else if (*p == '/') {
                /* only after configuration that held the authority, as in
                 * "{{ $env.API }}/v1/...": the render checks it did */
                pos = EXPR_URL_PATH;
            } else if (*p == '?') {
                pos = EXPR_URL_QUERY;
            } else if (*p == '#') {
                pos = EXPR_URL_FRAGMENT;
            }
            break;
        case EXPR_URL_AUTHORITY:
        case EXPR_URL_PATH:
            if (*p == '/' && pos == EXPR_URL_AUTHORITY)
                pos = EXPR_URL_PATH;
            else if (*p == '?')
                pos = EXPR_URL_QUERY;
            else if (*p == '#')
                pos = EXPR_URL_FRAGMENT;
            break;
        case EXPR_URL_QUERY:
            if (*p == '#')
                pos = EXPR_URL_FRAGMENT;
            break;
        default:
            break;
        }
    }
    return pos;
}

bool expr_url_config_part(const char *src)
{
    const char *p = src + strspn(src, " \t\r\n");
    if (strncmp(p, "$env.", 5) == 0)
        p += 5;
    else if (strncmp(p, "$secrets.", 9) == 0)
        p += 9;
    else
        return false;
    if (!(isalpha((unsigned char)*p) || *p == '_'))
        return false;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    return p[strspn(p, " \t\r\n")] == '\0';
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

char *expr_url_encode(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(text), len = 0;
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (unreserved(*p) && isascii(*p)) {
            out[len++] = (char)*p;
        } else {
            out[len++] = '%';
            out[len++] = hex[*p >> 4];
            out[len++] = hex[*p & 15];
        }
    }
    out[len] = '\0';
    return out;
}

bool expr_url_dot_segment(const char *url, size_t start, size_t end)
{
    while (start > 0 && url[start - 1] != '/')
        start--;
    end += strcspn(url + end, "/?#");
    size_t n = end - start;
    return n == 0 || (n <= 2 && strspn(url + start, ".") >= n);
}

/* The authority of url ("host:port", userinfo included) at *start, *len;
 * false when url is not "http://" or "https://" followed by one. */
static bool http_authority(const char *url, const char **start, size_t *len)
{
    size_t scheme = strcspn(url, ":/?#");
    if (url[scheme] != ':' || strncmp(url + scheme, "://", 3) != 0)
        return false;
    if (!((scheme == 4 && strncasecmp(url, "http", 4) == 0) ||
          (scheme == 5 && strncasecmp(url, "https", 5) == 0)))
        return false;
    *start = url + scheme + 3;
    *len = strcspn(*start, "/?#");
    return *len > 0;
}

bool expr_url_check(const char *url, size_t prefix_len, sp_error *err)
{
    const char *a, *b;
    size_t alen, blen;
    if (!http_authority(url, &a, &alen)) {
        sp_error_set(err, SP_EINVALID, "expected an http:// or https:// URL with a host");
        return false;
    }
    char *prefix = strndup(url, prefix_len);
    if (!prefix) {
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return false;
    }
    bool same = http_authority(prefix, &b, &blen) && (size_t)(a - url) == (size_t)(b - prefix) &&
                alen == blen && memcmp(a, b, alen) == 0;
    free(prefix);
    if (!same)
        sp_error_set(err, SP_EINVALID,
                     "a value from the run would change the URL's scheme or host, which come "
                     "only from the template's text, $env and $secrets");
    return same;
}
