/*
 * tls.c - reading the certificate and key for HTTPS (see tls.h). MHD checks
 * the PEM itself when it starts; here only what can be said better first:
 * which file is missing, unreadable, empty or not PEM at all.
 */
#include "serve/tls.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define TLS_PEM_MAX (1024 * 1024)       /* a certificate chain is a few KiB */

/* The whole file, NUL-terminated, or NULL (logged). */
static char *read_pem(const char *flag, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        log_error("%s %s: %s", flag, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(TLS_PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, TLS_PEM_MAX + 1, f) : 0;
    bool failed = !buf || ferror(f);
    fclose(f);
    if (failed) {
        log_error("%s %s: cannot read it", flag, path);
        free(buf);
        return NULL;
    }
    if (n > TLS_PEM_MAX) {
        log_error("%s %s: larger than %d bytes; not a PEM file?", flag, path, TLS_PEM_MAX);
        sodium_memzero(buf, TLS_PEM_MAX + 1);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (!strstr(buf, "-----BEGIN ")) {
        log_error("%s %s: not PEM (no \"-----BEGIN\" line)", flag, path);
        sodium_memzero(buf, n);
        free(buf);
        return NULL;
    }
    return buf;
}

int serve_tls_read(const serve_options *o, char **cert, char **key)
{
    *cert = *key = NULL;
    bool c = o->tls_cert && *o->tls_cert, k = o->tls_key && *o->tls_key;
    if (!c && !k)
        return 0;
    if (c != k) {
        fprintf(stderr, "spojit serve: --tls-cert and --tls-key go together "
                        "(SPOJIT_TLS_CERT, SPOJIT_TLS_KEY): give both or neither\n");
        return 2;
    }
    if (!(*cert = read_pem("--tls-cert", o->tls_cert)) ||
        !(*key = read_pem("--tls-key", o->tls_key))) {
        serve_tls_free(*cert, *key);
        *cert = *key = NULL;
        return 1;
    }
    return 0;
}

void serve_tls_free(char *cert, char *key)
{
    free(cert);
    if (key) {
        sodium_memzero(key, strlen(key));
        free(key);
    }
}
