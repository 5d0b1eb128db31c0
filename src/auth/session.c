/*
 * session.c - resolving the spojit_session cookie to a principal, and the
 * tokens a login hands out. See session.h for the design (hashing, CSRF
 * derivation, expiry).
 *
 * Every way a session can fail - unknown, revoked, idle too long, past its
 * absolute end, its user disabled or gone - gives the caller one message,
 * as with API keys; the log (debug) says which.
 */
#include "auth/session.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/log.h"

/* Binds the CSRF token to its purpose, so the same hash can never be
 * mistaken for another value derived from the token. */
static const char csrf_label[] = "spojit csrf v1";

static const char msg_invalid[] =
    "invalid session: it is unknown, ended or expired; log in again (POST /v1/session)";

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 6265 cookie-octet: visible ASCII except DQUOTE, comma, semicolon and
 * backslash. */
static bool cookie_octet(char c)
{
    return c > ' ' && c < 0x7f && c != '"' && c != ',' && c != ';' && c != '\\';
}

int auth_cookie_value(const char *header, const char *name, const char **val, size_t *len)
{
    if (!header || !name)
        return 0;
    size_t nlen = strlen(name);
    const char *p = header;
    while (*p) {
        while (is_ows(*p) || *p == ';')
            p++;
        const char *pair = p;
        while (*p && *p != ';')
            p++;
        const char *end = p;                    /* one "name=value" is [pair, end) */
        while (end > pair && is_ows(end[-1]))
            end--;
        const char *eq = memchr(pair, '=', (size_t)(end - pair));
        if (!eq)
            continue;
        const char *nend = eq;
        while (nend > pair && is_ows(nend[-1]))
            nend--;
        if ((size_t)(nend - pair) != nlen || memcmp(pair, name, nlen) != 0)
            continue;
        const char *v = eq + 1;
        while (v < end && is_ows(*v))
            v++;
        if (end - v >= 2 && *v == '"' && end[-1] == '"') {
            v++;
            end--;
        }
        size_t n = (size_t)(end - v);
        if (n == 0 || n > AUTH_SESSION_TOKEN_MAX)
            return -1;
        for (const char *q = v; q < end; q++)
            if (!cookie_octet(*q))
                return -1;
        *val = v;
        *len = n;
        return 1;
    }
    return 0;
}

void auth_session_csrf(const char *token, size_t len, char out[AUTH_CSRF_LEN])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)csrf_label, sizeof csrf_label);
    crypto_hash_sha256_update(&st, (const unsigned char *)token, len);
    crypto_hash_sha256_final(&st, digest);
    memcpy(out, "csrf_", 5);
    sodium_bin2base64(out + 5, AUTH_CSRF_LEN - 5, digest, sizeof digest,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(digest, sizeof digest);
}

sp_code auth_session_new(char **token, char hash[65], char csrf_hash[65], sp_error *err)
{
    if (sodium_init() < 0)
        return sp_error_set(err, SP_EINTERNAL, "libsodium failed to initialise");
    char *t = token_random(AUTH_SESSION_PREFIX, AUTH_SESSION_RANDOM);
    if (!t)
        return sp_error_set(err, SP_ENOMEM, "out of memory making a session");
    char csrf[AUTH_CSRF_LEN];
    size_t len = strlen(t);
    sha256_hex(t, len, hash);
    auth_session_csrf(t, len, csrf);
    sha256_hex(csrf, strlen(csrf), csrf_hash);
    sodium_memzero(csrf, sizeof csrf);
    *token = t;
    return SP_OK;
}

bool auth_session_csrf_ok(const char *csrf_hash, const char *header)
{
    if (!csrf_hash || strlen(csrf_hash) != 64 || !header || !*header ||
        strlen(header) >= AUTH_CSRF_LEN)
        return false;
    char h[65];
    sha256_hex(header, strlen(header), h);
    return sodium_memcmp(h, csrf_hash, 64) == 0;
}

static bool time_member(const json_t *row, const char *key, sp_time *out)
{
    const char *s = json_str(row, key);
    return s && time_parse(s, out) == 0;
}

static bool copy_field(char *dst, size_t size, const char *src)
{
    if (!src || strlen(src) >= size)
        return false;
    strcpy(dst, src);
    return true;
}

/* Fails closed: a row with an unreadable time counts as expired. */
static bool session_usable(const json_t *row, sp_time now, auth_session_info *info)
{
    json_t *revoked = json_object_get(row, "revoked_at");
    if (revoked && !json_is_null(revoked))
        return false;
    if (!time_member(row, "expires_at", &info->expires_at) ||
        !time_member(row, "last_seen_at", &info->last_seen_at))
        return false;
    return now < info->expires_at && now - info->last_seen_at < AUTH_SESSION_IDLE_MS;
}

static sp_code resolve(store_conn *c, const char *hash, principal *p, auth_session_info *info,
                       sp_error *err)
{
    json_t *row = NULL, *user = NULL;
    sp_code rc = store_session_lookup(c, hash, &row, err);
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        log_debug("auth: no session with that hash");
        return sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);
    }
    if (rc)
        return rc;
    const char *id = json_str(row, "id"), *user_name = json_str(row, "user");
    if (!session_usable(row, clock_now(), info)) {
        log_debug("auth: session %s is revoked or expired", id ? id : "?");
        rc = sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);
        goto out;
    }
    rc = user_name ? store_user_get(c, user_name, &user, err) : SP_ENOTFOUND;
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        log_debug("auth: session %s belongs to no user", id ? id : "?");
        rc = sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);
        goto out;
    }
    if (rc)
        goto out;
    if (json_is_true(json_object_get(user, "disabled"))) {
        log_debug("auth: session %s: user %s is disabled", id, user_name);
        rc = sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);
        goto out;
    }
    /* A session acts with its user's whole role: the scope is the role. */
    const char *role = json_str(user, "role");
    if (!copy_field(p->name, sizeof p->name, user_name) ||
        !copy_field(p->role, sizeof p->role, role) ||
        !copy_field(p->scope, sizeof p->scope, role) ||
        !copy_field(info->id, sizeof info->id, id) ||
        !copy_field(info->csrf_hash, sizeof info->csrf_hash, json_str(row, "csrf_hash"))) {
        log_warn("auth: session %s or its user has no valid name, role or CSRF hash",
                 id ? id : "?");
        rc = sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);
        goto out;
    }
    json_t *teams = json_object_get(user, "teams");
    p->teams = json_is_array(teams) ? json_incref(teams) : json_array();
    if (!p->teams)
        rc = sp_error_set(err, SP_ENOMEM, "out of memory");
out:
    json_decref(user);
    json_decref(row);
    return rc;
}

sp_code auth_session(store *s, const char *cookie_header, principal *p,
                     auth_session_info *info, sp_error *err)
{
    auth_session_info scratch;
    if (!info)
        info = &scratch;
    memset(p, 0, sizeof *p);
    memset(info, 0, sizeof *info);
    const char *tok;
    size_t len;
    int found = auth_cookie_value(cookie_header, AUTH_SESSION_COOKIE, &tok, &len);
    if (found == 0)
        return sp_error_set(err, SP_EUNAUTH,
                            "authentication required: log in (POST /v1/session) or send "
                            "'Authorization: Bearer <key>'");
    if (found < 0)
        return sp_error_set(err, SP_EUNAUTH, "%s", msg_invalid);

    char hash[65];
    sha256_hex(tok, len, hash);
    store_conn *c = s ? store_reader(s) : NULL;
    if (!c)
        return sp_error_set(err, SP_EUNAVAIL, "the store is not available");
    sp_code rc = resolve(c, hash, p, info, err);
    store_release(c);
    if (rc) {
        principal_clear(p);
        memset(info, 0, sizeof *info);
    }
    return rc;
}
