/*
 * session.h - web sessions: the spojit_session cookie and its CSRF token.
 *
 * A session is what a browser holds after POST /v1/session: a random token
 * ("sps_" + 32 random bytes, base64url) in an HttpOnly, SameSite=Strict
 * cookie. Like an API key it is stored only as its SHA-256 and found by
 * that hash. A session acts with its user's full role (scope = role).
 *
 * CSRF. SameSite=Strict already keeps other sites' requests from carrying
 * the cookie; as a second line, every state-changing request made with the
 * cookie must also send X-CSRF-Token. The CSRF token is derived from the
 * session token (SHA-256 over a domain-separation label and the token), so
 * the server can recompute it from the cookie, while knowing the CSRF token
 * (it lives in the page's memory) reveals nothing of the cookie. The store
 * keeps the SHA-256 of the CSRF token; a header is checked by hashing it and
 * comparing the hashes in constant time.
 *
 * Expiry. A session ends AUTH_SESSION_IDLE_MS after it was last used, or
 * AUTH_SESSION_ABSOLUTE_MS after login, whichever comes first, or at
 * logout. "Last used" is recorded at most once per AUTH_SESSION_TOUCH_MS,
 * by the engine (the one writer), so idle expiry is exact to that much.
 */
#ifndef SP_AUTH_SESSION_H
#define SP_AUTH_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "core/clock.h"
#include "core/ids.h"

#define AUTH_SESSION_COOKIE      "spojit_session"
#define AUTH_SESSION_PREFIX      "sps_"
#define AUTH_SESSION_RANDOM      32                        /* bytes of randomness */
#define AUTH_SESSION_TOKEN_MAX   128                       /* longest cookie value read */
#define AUTH_SESSION_IDLE_MS     (8LL * 3600 * 1000)       /* 8 h without a request */
#define AUTH_SESSION_ABSOLUTE_MS (7LL * 24 * 3600 * 1000)  /* 7 days after login */
#define AUTH_SESSION_TOUCH_MS    (60LL * 1000)             /* last_seen_at granularity */
#define AUTH_CSRF_LEN            64                        /* "csrf_" + 43 base64url + NUL, rounded up */

/* What the request path needs of a resolved session. */
typedef struct {
    char id[SP_ID_MAX];             /* "ses_..." */
    char csrf_hash[65];             /* hex SHA-256 of the CSRF token */
    sp_time last_seen_at;
    sp_time expires_at;             /* absolute */
} auth_session_info;

/*
 * Finds the cookie `name` in a Cookie header ("a=1; spojit_session=xyz").
 * Returns 1 with val/len pointing into header when present and well formed
 * (1..AUTH_SESSION_TOKEN_MAX cookie-octets, optionally in double quotes),
 * 0 when absent (or header is NULL), -1 when present but malformed. The
 * first occurrence counts (browsers send the most specific path first).
 */
int auth_cookie_value(const char *header, const char *name, const char **val, size_t *len);

/*
 * Resolves the session cookie of a Cookie header to its user (reads the
 * store with a reader). SP_EUNAUTH for an absent, malformed, unknown,
 * revoked or expired session, or a disabled or deleted user - one message
 * for all. On success the caller frees p with principal_clear; info (may
 * be NULL) gets the session's id, CSRF hash and times.
 */
sp_code auth_session(store *s, const char *cookie_header, principal *p,
                     auth_session_info *info, sp_error *err);

/* The CSRF token of a session token: "csrf_" + base64url(SHA-256(label,
 * token)). out needs AUTH_CSRF_LEN bytes. */
void auth_session_csrf(const char *token, size_t len, char out[AUTH_CSRF_LEN]);

/* A new session token (malloc'd; the caller wipes and frees it) with the
 * hex SHA-256 of the token and of its CSRF token. */
sp_code auth_session_new(char **token, char hash[65], char csrf_hash[65], sp_error *err);

/* True when header is the CSRF token whose hash is csrf_hash (compared in
 * constant time). NULL or empty header: false. */
bool auth_session_csrf_ok(const char *csrf_hash, const char *header);

#endif
