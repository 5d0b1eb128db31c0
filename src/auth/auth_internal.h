/*
 * auth_internal.h - what src/auth's files and its tests share.
 */
#ifndef SP_AUTH_INTERNAL_H
#define SP_AUTH_INTERNAL_H

#include <stddef.h>

/* Longest key accepted in an Authorization header. Ours are 47 characters;
 * the slack admits bootstrap tokens chosen by an operator. */
#define AUTH_KEY_MAX_LEN 512

/*
 * Finds the token of "Bearer TOKEN" (scheme case-insensitive, spaces or
 * tabs around the token, visible ASCII). Returns 0 with
 * tok and len pointing into header, or -1 when it is not such a header.
 */
int auth__bearer_token(const char *header, const char **tok, size_t *len);

#endif
