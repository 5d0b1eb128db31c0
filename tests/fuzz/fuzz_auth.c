/*
 * fuzz_auth.c - libFuzzer harness for the auth parsing helpers:
 *   auth_cookie_value (Cookie header), auth__bearer_token (Authorization),
 *   auth_session_csrf_ok, link_verify on the raw input (forged tokens), and
 *   link_verify on a token correctly MACed over the fuzzed claims text, so
 *   that the claim parsing after the MAC check is reached too.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth_internal.h"
#include "auth/link.h"
#include "auth/session.h"

static json_t *keys;
static const char *key_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!keys) {
        if (sodium_init() < 0)
            abort();
        keys = json_pack("{s:s, s:i, s:{s:s}}", "current", "k1", "seq", 1, "keys", "k1", key_hex);
    }
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;

    const char *val = NULL, *tok = NULL;
    size_t len = 0;
    int r = auth_cookie_value(s, AUTH_SESSION_COOKIE, &val, &len);
    if (r == 1 && (val < s || val + len > s + size || len == 0 || len > AUTH_SESSION_TOKEN_MAX))
        __builtin_trap();
    r = auth_cookie_value(s, "a", &val, &len);
    if (r == 1 && (val < s || val + len > s + size))
        __builtin_trap();
    if (auth__bearer_token(s, &tok, &len) == 0 && (tok < s || tok + len > s + size))
        __builtin_trap();
    (void)auth_session_csrf_ok("0000000000000000000000000000000000000000000000000000000000000000", s);
    char csrf[AUTH_CSRF_LEN];
    auth_session_csrf(s, strlen(s), csrf);
    (void)auth_session_csrf_ok("0000000000000000000000000000000000000000000000000000000000000000", csrf);

    link_claims c;
    sp_error err = SP_ERROR_INIT;
    link_verify(keys, s, &c, &err);
    sp_error_clear(&err);

    /* A correctly signed token over the fuzzed claims text. */
    size_t blen = sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *body = malloc(blen);
    sodium_bin2base64(body, blen, data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    unsigned char key[32], mac[crypto_auth_hmacsha256_BYTES];
    sodium_hex2bin(key, sizeof key, key_hex, 64, NULL, NULL, NULL);
    crypto_auth_hmacsha256(mac, (unsigned char *)body, strlen(body), key);
    char sig[64];
    sodium_bin2base64(sig, sizeof sig, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t tlen = strlen(body) + 1 + strlen(sig) + 1;
    char *token = malloc(tlen);
    snprintf(token, tlen, "%s.%s", body, sig);
    if (link_verify(keys, token, &c, &err) == SP_OK) {
        /* every claim must be NUL-terminated within its buffer */
        if (!memchr(c.kid, 0, sizeof c.kid) || !memchr(c.approval_id, 0, sizeof c.approval_id) ||
            !memchr(c.by, 0, sizeof c.by) || !memchr(c.decision, 0, sizeof c.decision) ||
            !memchr(c.nonce, 0, sizeof c.nonce))
            __builtin_trap();
        /* and a re-signed token must verify to the same claims */
        char *again = NULL;
        link_claims c2 = c;
        if (c.nonce[0] && link_sign(keys, &c2, &again, &err) == SP_OK) {
            link_claims c3;
            if (link_verify(keys, again, &c3, &err) != SP_OK || memcmp(&c, &c3, sizeof c) != 0)
                __builtin_trap();
        }
        free(again);
    }
    sp_error_clear(&err);
    free(token);
    free(body);
    free(s);
    return 0;
}
