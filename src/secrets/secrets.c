/*
 * secrets.c - the master key in memory, and sealing/opening one value.
 * The format of a sealed value and why the name is sealed with it: see
 * secrets.h.
 */
#include "secrets/secrets.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SEALED_VERSION 0x01
#define HEADER_LEN (1 + crypto_secretbox_NONCEBYTES)

/* Kept in sodium_malloc'd memory: guard pages, mlock'ed where allowed,
 * wiped by sodium_free. */
struct secrets_key {
    unsigned char k[SECRETS_KEY_BYTES];
    char id[SECRETS_KEY_ID_LEN + 1];
};

_Static_assert(SECRETS_KEY_BYTES == crypto_secretbox_KEYBYTES, "secretbox key size");

static void compute_id(secrets_key *key)
{
    /* A keyed hash of a constant: equal for equal keys, useless for
     * recovering the key. */
    static const char label[] = "spojit master key id v1";
    unsigned char h[SECRETS_KEY_ID_LEN / 2];
    crypto_generichash(h, sizeof h, (const unsigned char *)label, sizeof label - 1, key->k,
                       sizeof key->k);
    sodium_bin2hex(key->id, sizeof key->id, h, sizeof h);
}

static secrets_key *key_alloc(void)
{
    if (sodium_init() < 0)
        return NULL;
    return sodium_malloc(sizeof(secrets_key));
}

secrets_key *secrets_key_random(void)
{
    secrets_key *key = key_alloc();
    if (!key)
        return NULL;
    crypto_secretbox_keygen(key->k);
    compute_id(key);
    return key;
}

void secrets_key_free(secrets_key *key)
{
    if (key)
        sodium_free(key);
}

const char *secrets_key_id(const secrets_key *key)
{
    return key->id;
}

void secrets_key_hex(const secrets_key *key, char hex[65])
{
    sodium_bin2hex(hex, 65, key->k, sizeof key->k);
}

/* Decodes text into out[32] as hex or base64; 0 when it is exactly 32 bytes. */
static int decode_key(const char *text, size_t len, unsigned char out[SECRETS_KEY_BYTES])
{
    size_t n = 0;
    const char *end = NULL;
    if (len == 2 * SECRETS_KEY_BYTES &&
        sodium_hex2bin(out, SECRETS_KEY_BYTES, text, len, NULL, &n, &end) == 0 &&
        n == SECRETS_KEY_BYTES && end == text + len)
        return 0;
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING,
    };
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        n = 0;
        end = NULL;
        if (sodium_base642bin(out, SECRETS_KEY_BYTES, text, len, NULL, &n, &end, variants[i]) ==
                0 &&
            n == SECRETS_KEY_BYTES && end == text + len)
            return 0;
    }
    sodium_memzero(out, SECRETS_KEY_BYTES);
    return -1;
}

sp_code secrets_key_parse(const char *text, const char *where, secrets_key **key,
                          sp_error *err)
{
    if (!text)
        text = "";
    while (isspace((unsigned char)*text))
        text++;
    size_t len = strlen(text);
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    secrets_key *k = key_alloc();
    if (!k)
        return sp_error_set(err, SP_ENOMEM, "out of memory for the master key");
    /* The text is not echoed: a near-miss of a key is still most of a key. */
    if (decode_key(text, len, k->k) != 0) {
        secrets_key_free(k);
        return sp_error_set(err, SP_EINVALID,
                            "%s: expected a master key of 32 bytes, written as 64 hex digits "
                            "or in base64 (got %zu characters that are neither; make one with "
                            "`openssl rand -hex 32`)", where, len);
    }
    compute_id(k);
    *key = k;
    return SP_OK;
}

static bool name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n >= 1 && n <= SECRETS_NAME_MAX;
}

sp_code secrets_seal(const secrets_key *key, const char *name, const char *value, size_t len,
                     unsigned char **out, size_t *out_len, sp_error *err)
{
    if (!name_ok(name))
        return sp_error_set(err, SP_EINVALID, "secret name: 1 to %d characters",
                            SECRETS_NAME_MAX);
    if (len > SECRETS_VALUE_MAX)
        return sp_error_set(err, SP_EINVALID, "secret '%s': the value is over %d bytes", name,
                            SECRETS_VALUE_MAX);
    size_t nl = strlen(name);
    size_t plain_len = 1 + nl + len;
    size_t total = HEADER_LEN + crypto_secretbox_MACBYTES + plain_len;
    unsigned char *plain = malloc(plain_len);
    unsigned char *box = malloc(total);
    if (!plain || !box) {
        free(plain);
        free(box);
        return sp_error_set(err, SP_ENOMEM, "out of memory sealing secret '%s'", name);
    }
    plain[0] = (unsigned char)nl;
    memcpy(plain + 1, name, nl);
    if (len)
        memcpy(plain + 1 + nl, value, len);
    box[0] = SEALED_VERSION;
    randombytes_buf(box + 1, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + HEADER_LEN, plain, plain_len, box + 1, key->k);
    sodium_memzero(plain, plain_len);
    free(plain);
    *out = box;
    *out_len = total;
    return SP_OK;
}

sp_code secrets_open(const secrets_key *key, const char *name, const unsigned char *sealed,
                     size_t sealed_len, char **value, size_t *len, sp_error *err)
{
    const char *shown = name_ok(name) ? name : "?";
    if (!sealed || sealed_len < HEADER_LEN + crypto_secretbox_MACBYTES + 1 ||
        sealed_len > SECRETS_SEALED_MAX)
        return sp_error_set(err, SP_EINVALID, "secret '%s' cannot be opened: the stored value "
                            "is truncated or too long", shown);
    if (sealed[0] != SEALED_VERSION)
        return sp_error_set(err, SP_EINVALID, "secret '%s' cannot be opened: unknown format %d "
                            "(written by a newer spojit?)", shown, sealed[0]);
    size_t plain_len = sealed_len - HEADER_LEN - crypto_secretbox_MACBYTES;
    unsigned char *plain = malloc(plain_len + 1);
    if (!plain)
        return sp_error_set(err, SP_ENOMEM, "out of memory opening secret '%s'", shown);
    if (crypto_secretbox_open_easy(plain, sealed + HEADER_LEN,
                                   sealed_len - HEADER_LEN, sealed + 1, key->k) != 0) {
        free(plain);
        return sp_error_set(err, SP_EINVALID, "secret '%s' cannot be opened: wrong master key, "
                            "or the stored value was altered", shown);
    }
    size_t nl = plain[0];
    if (!name_ok(name) || 1 + nl > plain_len || nl != strlen(name) ||
        memcmp(plain + 1, name, nl) != 0) {
        sodium_memzero(plain, plain_len);
        free(plain);
        return sp_error_set(err, SP_EINVALID, "secret '%s' cannot be opened: it was sealed "
                            "for another name (the stored rows were swapped)", shown);
    }
    size_t vl = plain_len - 1 - nl;
    memmove(plain, plain + 1 + nl, vl);
    sodium_memzero(plain + vl, plain_len - vl);
    plain[vl] = '\0';
    *value = (char *)plain;
    *len = vl;
    return SP_OK;
}
