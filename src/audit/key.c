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
 * The document is {"key": 64 hex, "anchor_seq": N, "anchor_hash": 64 hex,
 * "signing_seed": 64 hex, "head_kept": true}: the seed of the Ed25519 key
 * that signs heads, and the promise that the store keeps the head (head.c);
 * audit_key_setup adds both to a document written before they existed.
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

bool audit_is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A key from its 32 bytes, anchor and (when the document has them) the
 * signing seed and the head flag; NULL when out of memory. */
static audit_key *key_make(const unsigned char raw[AUDIT_KEY_BYTES], int64_t anchor_seq,
                           const char *anchor_hash, const unsigned char *sign_seed,
                           bool head_kept)
{
    audit_key *k = sodium_malloc(sizeof *k);
    if (!k)
        return NULL;
    memset(k, 0, sizeof *k);
    crypto_auth_hmacsha256_init(&k->init, raw, AUDIT_KEY_BYTES);
    memcpy(k->raw, raw, AUDIT_KEY_BYTES);
    k->anchor_seq = anchor_seq;
    snprintf(k->anchor_hash, sizeof k->anchor_hash, "%s", anchor_hash);
    unsigned char id[SECRETS_KEY_ID_LEN / 2];
    crypto_generichash(id, sizeof id, (const unsigned char *)KEY_ID_TEXT,
                       sizeof KEY_ID_TEXT - 1, raw, AUDIT_KEY_BYTES);
    sodium_bin2hex(k->id, sizeof k->id, id, sizeof id);
    k->head_kept = head_kept;
    if (sign_seed) {
        crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, sign_seed);
        crypto_generichash(id, sizeof id, k->sign_pk, sizeof k->sign_pk, NULL, 0);
        sodium_bin2hex(k->sign_id, sizeof k->sign_id, id, sizeof id);
        k->can_sign = true;
    }
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

json_t *audit_key_reveal(const audit_key *key)
{
    char hex[AUDIT_KEY_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, key->raw, sizeof key->raw);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:s}", "algorithm", "HMAC-SHA-256", "key_id",
                            key->id, "key", hex, "anchor_seq", (json_int_t)key->anchor_seq,
                            "anchor_hash", key->anchor_hash);
    sodium_memzero(hex, sizeof hex);
    return doc;
}

/* {"seq": N, "hash": 64 hex} (the anchor) or the same under anchor_ names
 * (the key document): SP_ESTORE naming `what` when malformed. */
static sp_code parse_anchor(const json_t *doc, const char *seq_key, const char *hash_key,
                            const char *what, int64_t *seq, char hash[65], sp_error *err)
{
    const json_t *s = json_object_get(doc, seq_key);
    const char *h = json_str(doc, hash_key);
    if (!json_is_integer(s) || json_integer_value(s) < 0 || !audit_is_hex64(h))
        return sp_error_set(err, SP_ESTORE, "meta %s: %s and %s are not a seq and a hash "
                            "(the database was altered)", what, seq_key, hash_key);
    *seq = json_integer_value(s);
    memcpy(hash, h, 65);
    return SP_OK;
}

sp_code audit_meta_point(store_conn *c, const char *name, json_t **doc, int64_t *seq,
                         char hash[65], sp_error *err)
{
    char *text = NULL;
    sp_code rc = store_meta_get(c, name, &text, err);
    if (rc)
        return rc;
    json_t *d = json_loads(text, 0, NULL);
    free(text);
    rc = parse_anchor(d, "seq", "hash", name, seq, hash, err);
    if (rc == SP_OK && doc)
        *doc = d;
    else
        json_decref(d);
    return rc;
}

sp_code audit_anchor_read(store_conn *c, int64_t *seq, char hash[65], sp_error *err)
{
    return audit_meta_point(c, AUDIT_ANCHOR_META, NULL, seq, hash, err);
}

/* 32 bytes from the 64 hex digits at doc[name]; false when absent or not that. */
static bool hex32(const json_t *doc, const char *name, unsigned char out[32])
{
    const char *hex = json_str(doc, name);
    size_t n = 0;
    return hex && sodium_hex2bin(out, 32, hex, strlen(hex), NULL, &n, NULL) == 0 && n == 32 &&
           strlen(hex) == 64;
}

/* The key a sealed document describes. */
static sp_code key_from_doc(const json_t *doc, audit_key **key, sp_error *err)
{
    int64_t seq = 0;
    char hash[65];
    unsigned char raw[AUDIT_KEY_BYTES], seed[crypto_sign_SEEDBYTES];
    sp_code rc = parse_anchor(doc, "anchor_seq", "anchor_hash", AUDIT_KEY_DOC, &seq, hash, err);
    bool has_seed = false;
    if (rc == SP_OK && !hex32(doc, "key", raw))
        rc = sp_error_set(err, SP_ESTORE, "meta %s: the key is not 64 hex digits",
                          AUDIT_KEY_DOC);
    if (rc == SP_OK && json_object_get(doc, "signing_seed") &&
        !(has_seed = hex32(doc, "signing_seed", seed)))
        rc = sp_error_set(err, SP_ESTORE, "meta %s: the signing seed is not 64 hex digits",
                          AUDIT_KEY_DOC);
    if (rc == SP_OK &&
        !(*key = key_make(raw, seq, hash, has_seed ? seed : NULL,
                          json_is_true(json_object_get(doc, "head_kept")))))
        rc = sp_error_set(err, SP_ENOMEM, "out of memory for the audit key");
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(seed, sizeof seed);
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
    rc = key_from_doc(doc, key, err);
    json_decref(doc);           /* the hex text is freed with it, not wiped: jansson owns it */
    return rc;
}

/* Adds what a document from an older spojit lacks - a signing seed, the
 * promise that the store keeps the head - and records the head: the
 * trail's end now, taken on trust once (nothing older can be checked
 * against), as the anchor was. Then seals the document again. */
static sp_code key_doc_complete(store_conn *w, const secrets_key *master, json_t *doc,
                                sp_error *err)
{
    if (!json_object_get(doc, "signing_seed")) {
        unsigned char seed[crypto_sign_SEEDBYTES];
        char hex[sizeof seed * 2 + 1];
        randombytes_buf(seed, sizeof seed);
        sodium_bin2hex(hex, sizeof hex, seed, sizeof seed);
        json_object_set_new(doc, "signing_seed", json_string(hex));
        sodium_memzero(seed, sizeof seed);
        sodium_memzero(hex, sizeof hex);
    }
    json_object_set_new(doc, "head_kept", json_true());
    audit_key *key = NULL;
    int64_t seq = 0;
    char hash[65];
    sp_code rc = key_from_doc(doc, &key, err);
    if (rc == SP_OK && (rc = store_audit_head(w, &seq, hash, err)) == SP_OK &&
        (rc = audit_head_store(w, key, seq, seq > 0 ? hash : AUDIT_GENESIS, err)) == SP_OK)
        rc = secrets_doc_put(w, master, AUDIT_KEY_DOC, doc, err);
    audit_key_free(key);
    return rc;
}

/* A new document for a trail that ends exactly at its anchor. */
static sp_code key_doc_new(store_conn *w, json_t **doc, sp_error *err)
{
    int64_t anchor = 0, head = 0;
    char anchor_hash[65], head_hash[65];
    sp_code rc = audit_anchor_read(w, &anchor, anchor_hash, err);
    if (rc == SP_ENOTFOUND)
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
    *doc = json_pack("{s:s, s:I, s:s}", "key", hex, "anchor_seq", (json_int_t)anchor,
                     "anchor_hash", anchor_hash);
    sodium_memzero(hex, sizeof hex);
    sodium_memzero(raw, sizeof raw);
    return *doc ? SP_OK : sp_error_set(err, SP_ENOMEM, "out of memory for the audit key");
}

sp_code audit_key_setup(store_conn *w, const secrets_key *master, audit_key **key,
                        bool *created, sp_error *err)
{
    *created = false;
    *key = NULL;
    json_t *doc = NULL;
    sp_code rc = secrets_doc_get(w, master, AUDIT_KEY_DOC, &doc, err);
    bool fresh = rc == SP_ENOTFOUND;
    if (fresh) {
        sp_error_clear(err);
        rc = key_doc_new(w, &doc, err);
    }
    if (rc) {
        json_decref(doc);
        return rc;
    }
    bool complete = !fresh && json_object_get(doc, "signing_seed") &&
                    json_is_true(json_object_get(doc, "head_kept"));
    if (!complete) {
        /* The document and the head are written together or not at all. */
        bool own = !store_in_transaction(w);
        if (own)
            rc = store_begin(w, err);
        if (rc == SP_OK)
            rc = key_doc_complete(w, master, doc, err);
        if (own && rc == SP_OK)
            rc = store_commit(w, err);
        else if (own && store_in_transaction(w))
            store_rollback(w);
    }
    if (rc == SP_OK)
        rc = key_from_doc(doc, key, err);
    json_decref(doc);
    *created = rc == SP_OK && fresh;
    return rc;
}
