/*
 * key.c - the audit key: what makes the chain keyed (see audit.h).
 *
 * WHY A STORED RANDOM KEY, NOT ONE DERIVED FROM THE MASTER KEY
 * A key derived from the master key (crypto_kdf) would change with every
 * master key rotation, and every keyed hash already written would stop
 * verifying - or would have to be recomputed, changing heads that people
 * may have copied elsewhere as evidence. So the audit key is 32 random
 * bytes made once, kept in the meta table as a sealed document (sealed_doc.c:
 * XSalsa20-Poly1305 under the master key, bound to the name "audit_key").
 * A rotation re-seals it like every sealed document; the key, and so every
 * hash, stays the same. Reading or writing the database alone reveals
 * nothing of it and cannot replace it: the box does not open without the
 * master key, and a document stored unsealed under this name is refused.
 *
 * The document is {"key": 64 hex, "anchor_seq": N, "anchor_hash": 64 hex}.
 * The anchor is sealed with the key so that moving it (to make keyed rows
 * pass for plain ones, which anyone can recompute) is detected: verify.c
 * compares it with meta audit_anchor and checks the plain part against it.
 *
 * WHEN THE KEY IS MADE
 * At the first start of a server on a database that has none: a fresh one
 * (anchor seq 0) or one upgraded from plain hashes (the anchor the store's
 * migration 7 recorded). A key is made only when the trail ends exactly at
 * the anchor: rows after it can only have been hashed with a key that was
 * since removed, and a trail ending before it lost rows - either way the
 * server must not start a new chain over it.
 */
#include "audit/audit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"

/* The text the key id is a keyed hash of. */
#define KEY_ID_TEXT "spojit audit key id"

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A key from its 32 bytes and anchor; NULL when out of memory. */
static audit_key *key_make(const unsigned char raw[AUDIT_KEY_BYTES], int64_t anchor_seq,
                           const char *anchor_hash)
{
    audit_key *k = sodium_malloc(sizeof *k);
    if (!k)
        return NULL;
    crypto_auth_hmacsha256_init(&k->init, raw, AUDIT_KEY_BYTES);
    k->anchor_seq = anchor_seq;
    snprintf(k->anchor_hash, sizeof k->anchor_hash, "%s", anchor_hash);
    unsigned char id[SECRETS_KEY_ID_LEN / 2];
    crypto_generichash(id, sizeof id, (const unsigned char *)KEY_ID_TEXT,
                       sizeof KEY_ID_TEXT - 1, raw, AUDIT_KEY_BYTES);
    sodium_bin2hex(k->id, sizeof k->id, id, sizeof id);
    return k;
}

void audit_key_free(audit_key *key)
{
    if (key)
        sodium_free(key);          /* wipes it */
}

int64_t audit_key_anchor_seq(const audit_key *key)
{
    return key->anchor_seq;
}

const char *audit_key_id(const audit_key *key)
{
    return key->id;
}

/* {"seq": N, "hash": 64 hex} (the anchor) or the same under anchor_ names
 * (the key document): SP_ESTORE naming `what` when malformed. */
static sp_code parse_anchor(const json_t *doc, const char *seq_key, const char *hash_key,
                            const char *what, int64_t *seq, char hash[65], sp_error *err)
{
    const json_t *s = json_object_get(doc, seq_key);
    const char *h = json_str(doc, hash_key);
    if (!json_is_integer(s) || json_integer_value(s) < 0 || !is_hex64(h))
        return sp_error_set(err, SP_ESTORE, "meta %s: %s and %s are not a seq and a hash "
                            "(the database was altered)", what, seq_key, hash_key);
    *seq = json_integer_value(s);
    memcpy(hash, h, 65);
    return SP_OK;
}

sp_code audit_anchor_read(store_conn *c, int64_t *seq, char hash[65], sp_error *err)
{
    char *text = NULL;
    sp_code rc = store_meta_get(c, AUDIT_ANCHOR_META, &text, err);
    if (rc)
        return rc;
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    rc = parse_anchor(doc, "seq", "hash", AUDIT_ANCHOR_META, seq, hash, err);
    json_decref(doc);
    return rc;
}

sp_code audit_key_open(store_conn *c, const secrets_key *master, audit_key **key,
                       sp_error *err)
{
    *key = NULL;
    json_t *doc = NULL;
    sp_code rc = secrets_doc_get(c, master, AUDIT_KEY_DOC, &doc, err);
    if (rc)
        return rc;
    int64_t seq = 0;
    char hash[65];
    const char *hex = json_str(doc, "key");
    unsigned char raw[AUDIT_KEY_BYTES];
    size_t n = 0;
    rc = parse_anchor(doc, "anchor_seq", "anchor_hash", AUDIT_KEY_DOC, &seq, hash, err);
    if (rc == SP_OK && (!hex || sodium_hex2bin(raw, sizeof raw, hex, strlen(hex), NULL, &n,
                                               NULL) != 0 || n != sizeof raw))
        rc = sp_error_set(err, SP_ESTORE, "meta %s: the key is not 64 hex digits",
                          AUDIT_KEY_DOC);
    if (rc == SP_OK && !(*key = key_make(raw, seq, hash)))
        rc = sp_error_set(err, SP_ENOMEM, "out of memory for the audit key");
    sodium_memzero(raw, sizeof raw);
    json_decref(doc);           /* the hex text is freed with it, not wiped: jansson owns it */
    return rc;
}

sp_code audit_key_setup(store_conn *w, const secrets_key *master, audit_key **key,
                        bool *created, sp_error *err)
{
    *created = false;
    sp_code rc = audit_key_open(w, master, key, err);
    if (rc != SP_ENOTFOUND)
        return rc;
    sp_error_clear(err);
    int64_t anchor = 0, head = 0;
    char anchor_hash[65], head_hash[65];
    if ((rc = audit_anchor_read(w, &anchor, anchor_hash, err)) == SP_ENOTFOUND)
        return sp_error_set(err, SP_EINVALID,
                            "meta %s is missing and so is the audit key: the database was "
                            "altered; restore it from a backup", AUDIT_ANCHOR_META);
    if (rc || (rc = store_audit_head(w, &head, head_hash, err)))
        return rc;
    if (head > anchor)
        return sp_error_set(err, SP_EINVALID,
                            "the audit trail has rows after seq %lld that were hashed with an "
                            "audit key, but the database no longer holds it (meta %s was "
                            "removed): the database was altered; restore it from a backup",
                            (long long)anchor, AUDIT_KEY_DOC);
    if (head < anchor || strcmp(head > 0 ? head_hash : AUDIT_GENESIS, anchor_hash) != 0)
        return sp_error_set(err, SP_EINVALID,
                            "the audit trail ends at seq %lld, not at its anchor (seq %lld, "
                            "meta %s): rows were deleted or edited; restore the database from "
                            "a backup", (long long)head, (long long)anchor, AUDIT_ANCHOR_META);

    unsigned char raw[AUDIT_KEY_BYTES];
    char hex[AUDIT_KEY_BYTES * 2 + 1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    json_t *doc = json_pack("{s:s, s:I, s:s}", "key", hex, "anchor_seq", (json_int_t)anchor,
                            "anchor_hash", anchor_hash);
    sodium_memzero(hex, sizeof hex);
    if (!doc)
        rc = sp_error_set(err, SP_ENOMEM, "out of memory for the audit key");
    else
        rc = secrets_doc_put(w, master, AUDIT_KEY_DOC, doc, err);
    json_decref(doc);
    if (rc == SP_OK && !(*key = key_make(raw, anchor, anchor_hash)))
        rc = sp_error_set(err, SP_ENOMEM, "out of memory for the audit key");
    sodium_memzero(raw, sizeof raw);
    *created = rc == SP_OK;
    return rc;
}
