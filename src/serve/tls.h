/*
 * tls.h - `spojit serve --tls-cert FILE --tls-key FILE`: reading the PEM
 * files at start-up, so a bad path is a clear error before anything runs.
 */
#ifndef SP_SERVE_TLS_H
#define SP_SERVE_TLS_H

#include "serve/options.h"

/*
 * Neither flag: 0 with *cert and *key NULL (plain HTTP). Both: 0 with the
 * files' contents (malloc'd, NUL-terminated; the caller frees the key with
 * serve_tls_free, which wipes it). One without the other: 2 (usage).
 * A file that cannot be read or does not look like PEM: 1. Messages go to
 * the log.
 */
int serve_tls_read(const serve_options *o, char **cert, char **key);
void serve_tls_free(char *cert, char *key);

#endif
