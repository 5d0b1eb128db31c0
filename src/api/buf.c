/*
 * buf.c - a growable byte buffer for the API's text replies (CSV, JSONL,
 * Prometheus text).
 *
 * INVARIANTS: once anything was added, data is NUL-terminated and
 * len < cap. A failed allocation sets oom and drops later appends, so
 * callers check once at the end instead of after every append.
 */
#include "api/api_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool grow(api_buf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void api_buf_add(api_buf *b, const char *s, size_t n)
{
    if (!grow(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void api_buf_puts(api_buf *b, const char *s)
{
    api_buf_add(b, s, strlen(s));
}

void api_buf_printf(api_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        api_buf_add(b, small, (size_t)n);
        return;
    }
    if (!grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void api_buf_csv(api_buf *b, const char *s)
{
    if (!s)
        return;             /* an absent value is an empty field */
    size_t n = strlen(s);
    bool quote = strpbrk(s, ",\"\r\n") || (n && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote) {
        api_buf_add(b, s, n);
        return;
    }
    api_buf_add(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            api_buf_add(b, "\"", 1);
        api_buf_add(b, p, 1);
    }
    api_buf_add(b, "\"", 1);
}

char *api_buf_take(api_buf *b, size_t *len)
{
    if (b->oom) {
        api_buf_free(b);
        return NULL;
    }
    char *d = b->data ? b->data : calloc(1, 1);
    *len = b->data ? b->len : 0;
    *b = (api_buf){ 0 };
    return d;
}

void api_buf_free(api_buf *b)
{
    free(b->data);
    *b = (api_buf){ 0 };
}
