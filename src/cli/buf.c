/*
 * buf.c - a growable NUL-terminated buffer and URL escaping for the client.
 *
 * Invariant (cli.h): data is NUL-terminated whenever it is not NULL, and
 * len < cap, so a buffer can always be handed to printf or jansson as is.
 * Allocation failure ends the process: a command-line client has nothing
 * better to do, and checking every append would hide the real logic.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void grow(cli_buf *b, size_t extra)
{
    if (b->len + extra < b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + extra >= cap)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        fputs("spojit: out of memory\n", stderr);
        exit(CLI_FAIL);
    }
    b->data = p;
    b->cap = cap;
}

void cli_buf_add(cli_buf *b, const char *s, size_t len)
{
    grow(b, len);
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void cli_buf_puts(cli_buf *b, const char *s)
{
    cli_buf_add(b, s, strlen(s));
}

void cli_buf_printf(cli_buf *b, const char *fmt, ...)
{
    /* Most pieces are short: format on the stack, and only when that is too
     * small size it exactly and format again into the buffer. */
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        cli_buf_add(b, small, (size_t)n);
        return;
    }
    grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cli_buf_free(cli_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* RFC 3986 unreserved characters pass; everything else, '/' included, is
 * escaped, so a name or id can never change the path it is put into. */
void cli_buf_escape(cli_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            cli_buf_add(b, (const char *)p, 1);
        } else {
            char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
            cli_buf_add(b, esc, 3);
        }
    }
}

void cli_buf_query(cli_buf *b, const char *name, const char *value)
{
    if (!value)
        return;
    cli_buf_puts(b, b->data && strchr(b->data, '?') ? "&" : "?");
    cli_buf_puts(b, name);
    cli_buf_puts(b, "=");
    cli_buf_escape(b, value);
}
