/*
 * ids.h - opaque, URL-safe, time-ordered identifiers: "run_01JD3..." .
 *
 * Layout after the prefix: 10 Crockford base-32 characters of the creation
 * time in ms, then 16 of randomness (80 bits, libsodium). Lexical order is
 * creation order, so ids double as pagination cursors.
 */
#ifndef SP_IDS_H
#define SP_IDS_H

#include "core/clock.h"

#define SP_ID_MAX 40            /* enough for any prefix we use + 26 + NUL */

/* Writes prefix + "_" + 26 characters into out (SP_ID_MAX bytes). */
void id_new(const char *prefix, sp_time at, char out[SP_ID_MAX]);

/* True when s looks like an id with that prefix (shape only). */
int id_valid(const char *prefix, const char *s);

/* Random URL-safe token of n random bytes, base64url without padding.
 * Returns a malloc'd string the caller frees. */
char *token_random(const char *prefix, size_t nbytes);

#endif
