/*
 * auth.h - who is calling.
 *
 * API keys are random tokens ("spk_" + 32 random bytes, base64url) stored
 * only as their SHA-256 (a key has 256 bits of entropy, so a slow hash adds
 * nothing). Passwords are argon2id (libsodium's crypto_pwhash_str).
 */
#ifndef SP_AUTH_H
#define SP_AUTH_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "store/store.h"

#define PRINCIPAL_NAME_MAX 65

typedef struct principal {
    char name[PRINCIPAL_NAME_MAX];  /* user name */
    char role[16];                  /* "admin" | "member" | "viewer" */
    char scope[16];                 /* key scope: "admin" | "member" | "agent" */
    json_t *teams;                  /* owned: ["finance", ...] */
    char key_id[48];                /* the API key used ("" for other ways in) */
} principal;

/* Resolves "Bearer KEY" to a principal (reads the store with a reader).
 * SP_EUNAUTH for a missing, unknown, revoked or expired key, or a disabled
 * user. On success the caller frees p with principal_clear. */
sp_code auth_bearer(store *s, const char *authorization, principal *p, sp_error *err);
void principal_clear(principal *p);
/* dst becomes a copy of src (zeroed when src is NULL) that owns its own
 * teams; the key id is not copied. Free with principal_clear. */
void principal_copy(principal *dst, const principal *src);

/* The principal may act as an admin (role admin and a key scoped admin). */
bool principal_is_admin(const principal *p);

/* Admins, and viewers other than agent keys, see every run and gate. */
bool principal_sees_all(const principal *p);
/* Whether p may see gate (a stored approval document): the rule of
 * visibility.c. Anyone else is told the gate does not exist. */
bool principal_sees_gate(const principal *p, const json_t *gate);

/* "user:NAME" plus "team:T" for each team: a new array (inbox queries). */
json_t *principal_assignee_names(const principal *p);

/* A new key: fills key (malloc'd, shown once) and its hex SHA-256. */
sp_code auth_key_new(char **key, char hash[65], sp_error *err);
void auth_key_hash(const char *key, char hash[65]);

/* argon2id; returns a malloc'd encoded hash or NULL. */
char *auth_password_hash(const char *password);
bool auth_password_verify(const char *encoded, const char *password);

#endif
