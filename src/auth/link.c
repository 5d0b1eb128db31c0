/*
 * link.c - making and checking signed decision link tokens (link.h).
 *
 * The MAC is libsodium's HMAC-SHA256, checked with crypto_auth_hmacsha256_verify
 * (constant time). The claims are decoded before the check only to read
 * the key id they name; nothing in them is used until the MAC matched.
 */
#include "auth/link.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/jsonx.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static const char msg_bad[] = "this link is not valid: it was changed, or never issued here";

/* The 32-byte key kid of keys, or -1. */
static int key_of(const json_t *keys, const char *kid, unsigned char out[32])
{
    const char *hex = json_str(json_object_get(keys, "keys"), kid);
    size_t n = 0;
    if (!hex || sodium_hex2bin(out, 32, hex, strlen(hex), NULL, &n, NULL) != 0 || n != 32)
        return -1;
    return 0;
}

static char *b64(const void *data, size_t len)
{
    size_t cap = sodium_base64_encoded_len(len, B64);
    char *s = malloc(cap);
    if (s)
        sodium_bin2base64(s, cap, data, len, B64);
    return s;
}

sp_code link_sign(const json_t *keys, link_claims *c, char **token, sp_error *err)
{
    unsigned char key[32], mac[crypto_auth_hmacsha256_BYTES];
    const char *kid = json_str(keys, "current");
    if (!kid || key_of(keys, kid, key) != 0)
        return sp_error_set(err, SP_EINTERNAL, "no usable link signing key");
    snprintf(c->kid, sizeof c->kid, "%s", kid);
    if (!c->nonce[0]) {
        char *n = token_random("", 18);
        if (!n)
            return sp_error_set(err, SP_ENOMEM, "out of memory");
        snprintf(c->nonce, sizeof c->nonce, "%s", n);
        free(n);
    }
    json_t *claims = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:s}", "v", 1, "kid", c->kid,
                               "apr", c->approval_id, "by", c->by, "d", c->decision,
                               "exp", (json_int_t)c->expires, "n", c->nonce);
    char *text = claims ? json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(claims);
    char *body = text ? b64(text, strlen(text)) : NULL;
    free(text);
    if (!body)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    crypto_auth_hmacsha256(mac, (const unsigned char *)body, strlen(body), key);
    sodium_memzero(key, sizeof key);
    char *sig = b64(mac, sizeof mac);
    size_t len = strlen(body) + 1 + (sig ? strlen(sig) : 0) + 1;
    *token = sig ? malloc(len) : NULL;
    if (*token)
        snprintf(*token, len, "%s.%s", body, sig);
    free(body);
    free(sig);
    return *token ? SP_OK : sp_error_set(err, SP_ENOMEM, "out of memory");
}

/* Copies a string claim; false when missing or too long. */
static bool claim(const json_t *claims, const char *name, char *dst, size_t size)
{
    const char *s = json_str(claims, name);
    if (!s || strlen(s) >= size)
        return false;
    memcpy(dst, s, strlen(s) + 1);
    return true;
}

sp_code link_verify(const json_t *keys, const char *token, link_claims *out, sp_error *err)
{
    memset(out, 0, sizeof *out);
    const char *dot = token ? strchr(token, '.') : NULL;
    if (!dot || strlen(token) > LINK_TOKEN_MAX)
        return sp_error_set(err, SP_EUNAUTH, "%s", msg_bad);
    size_t body_len = (size_t)(dot - token);
    unsigned char mac[crypto_auth_hmacsha256_BYTES], key[32];
    size_t mac_len = 0;
    if (sodium_base642bin(mac, sizeof mac, dot + 1, strlen(dot + 1), NULL, &mac_len, NULL, B64) !=
            0 || mac_len != sizeof mac)
        return sp_error_set(err, SP_EUNAUTH, "%s", msg_bad);

    /* The claims name their key, so they are decoded before the MAC is
     * checked - but only to read kid; nothing else is trusted until then. */
    char text[LINK_TOKEN_MAX];
    size_t text_len = 0;
    if (sodium_base642bin((unsigned char *)text, sizeof text - 1, token, body_len, NULL, &text_len,
                          NULL, B64) != 0)
        return sp_error_set(err, SP_EUNAUTH, "%s", msg_bad);
    text[text_len] = '\0';
    json_t *claims = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    const char *kid = json_str(claims, "kid");
    bool ok = kid && key_of(keys, kid, key) == 0 &&
              crypto_auth_hmacsha256_verify(mac, (const unsigned char *)token, body_len, key) == 0;
    sodium_memzero(key, sizeof key);
    ok = ok && json_integer_value(json_object_get(claims, "v")) == 1 &&
         json_is_integer(json_object_get(claims, "exp")) &&
         claim(claims, "kid", out->kid, sizeof out->kid) &&
         claim(claims, "apr", out->approval_id, sizeof out->approval_id) &&
         claim(claims, "by", out->by, sizeof out->by) &&
         claim(claims, "d", out->decision, sizeof out->decision) &&
         claim(claims, "n", out->nonce, sizeof out->nonce) &&
         (strcmp(out->decision, "approve") == 0 || strcmp(out->decision, "reject") == 0);
    if (ok)
        out->expires = json_integer_value(json_object_get(claims, "exp"));
    json_decref(claims);
    if (!ok) {
        memset(out, 0, sizeof *out);
        return sp_error_set(err, SP_EUNAUTH, "%s", msg_bad);
    }
    return SP_OK;
}

json_t *link_keys_rotate(const json_t *keys, bool revoke)
{
    const json_t *old = json_object_get(keys, "keys");
    json_t *all = json_is_object(old) && !revoke ? json_deep_copy(old) : json_object();
    /* Key ids are "k<seq>": the order of making, whatever the clocks say. */
    json_int_t seq = json_integer_value(json_object_get(keys, "seq")) + 1;
    json_t *next = json_pack("{s:s, s:I, s:o}", "current", "", "seq", seq, "keys", all);
    if (!next)
        return NULL;
    while (json_object_size(all) >= LINK_KEYS_KEPT) {
        const char *oldest = NULL, *k;
        json_t *v;
        json_object_foreach(all, k, v)
            if (!oldest || strtoll(k + 1, NULL, 10) < strtoll(oldest + 1, NULL, 10))
                oldest = k;
        json_object_del(all, oldest);
    }
    unsigned char key[32];
    char hex[65], kid[32];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    sodium_memzero(key, sizeof key);
    snprintf(kid, sizeof kid, "k%lld", (long long)seq);
    json_object_set_new(all, kid, json_string(hex));
    json_object_set_new(next, "current", json_string(kid));
    sodium_memzero(hex, sizeof hex);
    return next;
}
