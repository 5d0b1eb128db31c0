/*
 * password.c - argon2id password hashes (libsodium's crypto_pwhash_str).
 *
 * Limits: libsodium's "interactive" set (2 passes, 64 MiB). It is the set
 * meant for logins on a server: "moderate" takes 256 MiB per hash, which a
 * few concurrent logins on a small machine could not afford. The encoded
 * string records its parameters, so raising them later keeps old hashes
 * verifiable.
 *
 * sodium_init() is called here (it is idempotent and thread-safe), so
 * callers - `serve`, tests, tools - need not have called it first; serve
 * still calls it once at start, before any thread exists.
 */
#include "auth/auth.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

char *auth_password_hash(const char *password)
{
    if (!password || sodium_init() < 0)
        return NULL;
    char *out = malloc(crypto_pwhash_STRBYTES);
    if (!out)
        return NULL;
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

bool auth_password_verify(const char *encoded, const char *password)
{
    if (!encoded || !password || sodium_init() < 0)
        return false;
    return crypto_pwhash_str_verify(encoded, password, strlen(password)) == 0;
}
