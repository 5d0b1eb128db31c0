/*
 * link.h - signed decision links: one approver, one gate, one decision.
 *
 * A link token is
 *
 *     base64url(claims JSON) "." base64url(HMAC-SHA256(key[kid], that first part))
 *
 * with claims {"v": 1, "kid", "apr", "by", "d", "exp", "n"}: the signing
 * key's id, the gate, the approver's user name, the decision ("approve" |
 * "reject"), the expiry (ms since the epoch) and a random nonce that makes
 * each link unique and lets its one use be recorded. Anything edited in the
 * token breaks the MAC; a token signed with a key the store no longer has
 * is refused like a forged one.
 *
 * Signing keys live in the store (meta "link_keys": {"current": kid,
 * "seq": n, "keys": {kid: hex}}, kids "k1", "k2", ...), so every node verifies what any node signed, and
 * rotating adds a new current key while the previous ones still verify
 * links already sent.
 */
#ifndef SP_LINK_H
#define SP_LINK_H

#include <jansson.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/err.h"

#define LINK_TOKEN_MAX 1024             /* longer tokens are refused unread */
#define LINK_KEYS_KEPT 3                /* the current key and two before it */

typedef struct {
    char kid[32];
    char approval_id[48];
    char by[65];
    char decision[8];                   /* "approve" | "reject" */
    sp_time expires;
    char nonce[48];
} link_claims;

/* Signs c (its kid names the key in keys) into *token (malloc'd).
 * keys: the "link_keys" document. */
sp_code link_sign(const json_t *keys, link_claims *c, char **token, sp_error *err);

/* Checks the MAC against keys and parses the claims. It does not look at
 * the expiry or whether the link was used: the caller says which page to
 * show for those. SP_EUNAUTH for anything malformed, forged or edited. */
sp_code link_verify(const json_t *keys, const char *token, link_claims *out, sp_error *err);

/* A "link_keys" document with one more key, made current; the oldest
 * beyond LINK_KEYS_KEPT are dropped - or, with revoke, every older one, so
 * that no link issued before works any more (a link leaked). keys may be
 * NULL (the first). New ref. */
json_t *link_keys_rotate(const json_t *keys, bool revoke);

#endif
