/*
 * auth.c - API keys: making them, and resolving "Bearer KEY" to a principal.
 *
 * A key is stored only as its SHA-256, and found by that hash: no secret is
 * ever compared byte by byte in our code, so there is no timing to leak.
 * Every way a key can fail - unknown, revoked, expired, its user disabled
 * or gone - gives the caller the same message, so the answer tells a
 * guesser nothing about which keys exist; the log (debug) says which.
 *
 * The request path runs this on every call: one reader borrowed and given
 * back, two indexed lookups, no allocation beyond the store's documents.
 */
#include "auth/auth.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_internal.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/jsonx.h"
#include "core/log.h"

#define KEY_PREFIX "spk_"
#define KEY_RANDOM_BYTES 32

static const char msg_missing[] = "authentication required: send 'Authorization: Bearer <key>'";
static const char msg_malformed[] = "malformed Authorization header: expected 'Bearer <key>'";
static const char msg_invalid[] = "invalid API key: it is unknown, revoked or expired";

void auth_key_hash(const char *key, char hash[65])
{
    sha256_hex(key, strlen(key), hash);
}

sp_code auth_key_new(char **key, char hash[65], sp_error *err)
{
    if (sodium_init() < 0)
        return sp_error_set(err, SP_EINTERNAL, "libsodium failed to initialise");
    *key = token_random(KEY_PREFIX, KEY_RANDOM_BYTES);
    if (!*key)
        return sp_error_set(err, SP_ENOMEM, "out of memory making an API key");
    auth_key_hash(*key, hash);
    return SP_OK;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

int auth__bearer_token(const char *header, const char **tok, size_t *len)
{
    const char *p = header;
    while (is_space(*p))
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || !is_space(p[6]))
        return -1;
    p += 6;
    while (is_space(*p))
        p++;
    const char *start = p;
    /* Visible ASCII: ours are base64url, but an operator's bootstrap token
     * may be anything printable, and it is only ever hashed. */
    while (*p > ' ' && *p < 0x7f)
        p++;
    size_t n = (size_t)(p - start);
    while (is_space(*p))
        p++;
    if (*p != '\0' || n == 0 || n > AUTH_KEY_MAX_LEN)
        return -1;
    *tok = start;
    *len = n;
    return 0;
}

/* False when the key row is revoked or past its expiry (or the expiry is
 * unreadable: fail closed). */
static bool key_usable(const json_t *key)
{
    json_t *revoked = json_object_get(key, "revoked_at");
    if (revoked && !json_is_null(revoked))
        return false;
    json_t *expires = json_object_get(key, "expires_at");
    if (!expires || json_is_null(expires))
        return true;
    sp_time at;
    const char *s = json_string_value(expires);
    return s && time_parse(s, &at) == 0 && clock_now() < at;
}

static bool copy_field(char *dst, size_t size, const char *src)
{
    if (!src || strlen(src) >= size)
        return false;
    strcpy(dst, src);
    return true;
}

/* Looks the key and its user up on c and fills p. */
static sp_code resolve(store_conn *c, const char *hash, principal *p, sp_error *err)
{
    json_t *key = NULL, *user = NULL;
    sp_code rc = store_key_lookup(c, hash, &key, err);
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        log_debug("auth: no key with that hash");
        return sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);
    }
    if (rc)
        return rc;
    const char *user_name = json_str(key, "user");
    if (!key_usable(key)) {
        log_debug("auth: key %s is revoked or expired", json_str(key, "id"));
        rc = sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);
        goto out;
    }
    rc = user_name ? store_user_get(c, user_name, &user, err) : SP_ENOTFOUND;
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        log_debug("auth: key %s belongs to no user", json_str(key, "id"));
        rc = sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);
        goto out;
    }
    if (rc)
        goto out;
    if (json_is_true(json_object_get(user, "disabled"))) {
        log_debug("auth: key %s: user %s is disabled", json_str(key, "id"), user_name);
        rc = sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);
        goto out;
    }
    if (!copy_field(p->name, sizeof p->name, user_name) ||
        !copy_field(p->role, sizeof p->role, json_str(user, "role")) ||
        !copy_field(p->scope, sizeof p->scope, json_str(key, "scope")) ||
        !copy_field(p->key_id, sizeof p->key_id, json_str(key, "id"))) {
        log_warn("auth: key %s or its user has no valid name, role or scope",
                 json_str(key, "id"));
        rc = sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);
        goto out;
    }
    json_t *teams = json_object_get(user, "teams");
    /* The user document is freed below, so the array is ours alone. */
    p->teams = json_is_array(teams) ? json_incref(teams) : json_array();
    if (!p->teams)
        rc = sp_error_set(err, SP_ENOMEM, "out of memory");
out:
    json_decref(user);
    json_decref(key);
    return rc;
}

sp_code auth_bearer(store *s, const char *authorization, principal *p, sp_error *err)
{
    memset(p, 0, sizeof *p);
    const char *tok;
    size_t len;
    if (!authorization || !*authorization)
        return sp_error_set(err, SP_EUNAUTH, "%s", msg_missing);
    if (auth__bearer_token(authorization, &tok, &len) != 0)
        return sp_error_set(err, SP_EUNAUTH, "%s", msg_malformed);

    char hash[65];
    sha256_hex(tok, len, hash);
    store_conn *c = s ? store_reader(s) : NULL;
    if (!c)
        return sp_error_set(err, SP_EUNAVAIL, "the store is not available");
    sp_code rc = resolve(c, hash, p, err);
    store_release(c);
    if (rc)
        principal_clear(p);
    return rc;
}
