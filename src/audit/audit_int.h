/* audit_int.h - what audit.c, key.c and verify.c share. */
#ifndef SP_AUDIT_INT_H
#define SP_AUDIT_INT_H

#include <sodium.h>

#include "audit/audit.h"

/* prev_hash of the first row. */
#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_KEY_BYTES crypto_auth_hmacsha256_KEYBYTES         /* 32 */

struct audit_key {
    /* HMAC-SHA-256 already initialised with the key: a row's hash starts
     * from a copy of it, which saves hashing the key's two padded blocks
     * again for every row. */
    crypto_auth_hmacsha256_state init;
    unsigned char raw[AUDIT_KEY_BYTES];    /* for audit_key_reveal only */
    int64_t anchor_seq;         /* the last plain row; 0 for a trail keyed from row 1 */
    char anchor_hash[65];       /* its hash (AUDIT_GENESIS for 0) */
    char id[17];
    /* Whether the sealed document says the store keeps the chain's head
     * (meta audit_head, head.c): from then on a missing head is an
     * alteration, not an older database. */
    bool head_kept;
    /* The Ed25519 pair that signs heads for keeping elsewhere (head.c);
     * can_sign is false for a document from before signed heads (only an
     * offline reader sees one: a server adds the pair at start). */
    bool can_sign;
    unsigned char sign_sk[crypto_sign_SECRETKEYBYTES];
    unsigned char sign_pk[crypto_sign_PUBLICKEYBYTES];
    char sign_id[17];
};

/*
 * The plain formula of rows up to the anchor (written before the chain was
 * keyed): hex(SHA-256(prev_hash || canonical JSON of the row)), with
 * row->data spliced in as its text (see audit.c). Kept only to verify old
 * rows; fields are read as C strings, as the old code did, so verify.c
 * rejects a field holding a NUL byte before using it. prev_hash is taken
 * from the argument, not from row. Returns 0, or -1 when out of memory.
 */
int audit_row_hash_plain(const char *prev_hash, const store_audit_row *row, char out[65]);

/*
 * The keyed formula of every later row: hex(HMAC-SHA-256(key, prev_hash ||
 * the row's fields, each length-prefixed, as their exact stored bytes)).
 * No allocation. prev_hash: 64 hex characters.
 */
void audit_row_hash_keyed(const audit_key *key, const char *prev_hash,
                          const store_audit_row *row, char out[65]);

/* Hex of the HMAC, under the audit key, of the recorded head (head.c). */
void audit_head_mac(const audit_key *key, int64_t seq, const char *hash, char out[65]);

bool audit_is_hex64(const char *s);
/* v as 8 bytes big-endian (the row and head formulas). */
void audit_put_be64(unsigned char out[8], uint64_t v);
/* The meta value name as {"seq", "hash", ...}: its seq and hash, and the
 * whole document in *doc (new reference) unless doc is NULL. SP_ENOTFOUND
 * when absent; SP_ESTORE naming name when not a seq and a hash. */
sp_code audit_meta_point(store_conn *c, const char *name, json_t **doc, int64_t *seq,
                         char hash[65], sp_error *err);

#endif
