/*
 * audit.c - appending to the hash-chained trail (SPEC section 7), and the
 * two row formulas. docs/internals/audit.md is the reference; in short:
 *
 * KEYED (every row after the anchor; every row of a trail begun by this
 * version):
 *
 *   hash = hex(HMAC-SHA-256(K, prev_hash || be64(seq) || be64(at)
 *                              || F(actor) || F(type) || F(run_id)
 *                              || F(approval_id) || F(data)))
 *   F(x) = be32(length of x) || the bytes of x,  F(NULL) = ff ff ff ff
 *
 * with K the audit key (key.c), prev_hash as its 64 hex characters, at in
 * milliseconds since the epoch (two's complement), and every text field as
 * the exact bytes stored - their length from the store, never strlen - so
 * a byte added anywhere, a NUL included, changes the hash. The lengths
 * make the fields' boundaries part of what is hashed: bytes moved from one
 * field to the next change it too.
 *
 * PLAIN (rows up to the anchor, written before the chain was keyed):
 *
 *   hash = hex(SHA-256(prev_hash || C))
 *   C    = canonical JSON (compact, keys sorted) of
 *          {"actor","approval_id","at","data","run_id","seq","type"}
 *
 * C is built without re-serialising data: the other six fields go through
 * json_canonical, and the stored data text is spliced in where the sorted
 * key "data" belongs, between "at" and "run_id" (found by searching for
 * `,"run_id":`, which inside a JSON string would have its '"' escaped).
 * This formula takes fields as C strings, so verify.c refuses a row with a
 * NUL byte in any field before using it.
 *
 * APPEND IS CHEAP: the caller keeps the chain head (audit_chain) in memory;
 * an append makes one canonical dump of data, one keyed hash (from a copy
 * of the key's initialised HMAC state: no allocation) and one prepared
 * insert. The head is read from the store only at start-up and after a
 * failed commit.
 */
#include "audit/audit_int.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The canonical text of the row without data, or NULL when out of memory
 * (or when a stored string is not valid UTF-8: then the field is left out,
 * which changes the hash, which is the right outcome for such a row). */
static char *fields_canonical(const store_audit_row *row)
{
    char at[SP_TIME_BUF];
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "actor", str_or_null(row->actor));
    json_object_set_new(o, "approval_id", str_or_null(row->approval_id));
    json_object_set_new(o, "at", json_string(time_format(row->at, at)));
    json_object_set_new(o, "run_id", str_or_null(row->run_id));
    json_object_set_new(o, "seq", json_integer(row->seq));
    json_object_set_new(o, "type", str_or_null(row->type));
    char *text = json_canonical(o);
    json_decref(o);
    return text;
}

int audit_row_hash_plain(const char *prev_hash, const store_audit_row *row, char out[65])
{
    static const char key[] = ",\"run_id\":";
    char *fields = fields_canonical(row);
    if (!fields)
        return -1;
    const char *data = row->data ? row->data : "null";
    const char *split = strstr(fields, key);
    size_t head = split ? (size_t)(split - fields) : strlen(fields);

    crypto_hash_sha256_state st;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)prev_hash, strlen(prev_hash));
    crypto_hash_sha256_update(&st, (const unsigned char *)fields, head);
    crypto_hash_sha256_update(&st, (const unsigned char *)",\"data\":", 8);
    crypto_hash_sha256_update(&st, (const unsigned char *)data, strlen(data));
    crypto_hash_sha256_update(&st, (const unsigned char *)fields + head, strlen(fields) - head);
    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(out, 65, digest, sizeof digest);
    free(fields);
    return 0;
}

void audit_put_be64(unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)(v & 0xff);
}

/* F(x): the length as 4 bytes big-endian, then the bytes; NULL is the
 * length ff ff ff ff and nothing else. */
static void hmac_field(crypto_auth_hmacsha256_state *st, const char *s, size_t len)
{
    unsigned char n[4] = { 0xff, 0xff, 0xff, 0xff };
    if (s) {
        uint32_t l = (uint32_t)len;     /* SQLite values stay far below 4 GiB */
        n[0] = (unsigned char)(l >> 24);
        n[1] = (unsigned char)(l >> 16);
        n[2] = (unsigned char)(l >> 8);
        n[3] = (unsigned char)l;
    }
    crypto_auth_hmacsha256_update(st, n, sizeof n);
    if (s && len)
        crypto_auth_hmacsha256_update(st, (const unsigned char *)s, len);
}

void audit_row_hash_keyed(const audit_key *key, const char *prev_hash,
                          const store_audit_row *row, char out[65])
{
    crypto_auth_hmacsha256_state st = key->init;
    unsigned char ints[16], mac[crypto_auth_hmacsha256_BYTES];
    audit_put_be64(ints, (uint64_t)row->seq);
    audit_put_be64(ints + 8, (uint64_t)row->at);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)prev_hash, 64);
    crypto_auth_hmacsha256_update(&st, ints, sizeof ints);
    hmac_field(&st, row->actor, row->actor_len);
    hmac_field(&st, row->type, row->type_len);
    hmac_field(&st, row->run_id, row->run_id_len);
    hmac_field(&st, row->approval_id, row->approval_id_len);
    hmac_field(&st, row->data, row->data_len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    sodium_bin2hex(out, 65, mac, sizeof mac);
}

sp_code audit_chain_load(store_conn *c, const audit_key *key, audit_chain *chain,
                         sp_error *err)
{
    int64_t seq = 0;
    char hash[65];
    sp_code rc = store_audit_head(c, &seq, hash, err);
    if (rc)
        return rc;
    chain->seq = seq;
    snprintf(chain->head, sizeof chain->head, "%s", seq > 0 ? hash : AUDIT_GENESIS);
    chain->key = key;
    chain->recorded = -1;       /* written again at the next commit */
    return SP_OK;
}

/* Whether canonical JSON text holds the escape \u0000 (a string with a NUL
 * in it): a \ starts an escape only after an even run of backslashes. */
static bool has_nul_escape(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while ((p = memmem(p, (size_t)(end - p), "\\u0000", 6)) != NULL) {
        size_t run = 0;
        while (p - run > text && p[-(ptrdiff_t)run - 1] == '\\')
            run++;
        if (run % 2 == 0)
            return true;
        p++;
    }
    return false;
}

/* Hot path: one canonical dump of data, one keyed hash, one prepared
 * insert. */
sp_code audit_append(store_conn *c, audit_chain *chain, sp_time at, const char *actor,
                     const char *type, const char *run_id, const char *approval_id,
                     const json_t *data, sp_error *err)
{
    if (!actor || !type)
        return sp_error_set(err, SP_EINVALID, "audit: an event needs an actor and a type");
    if (!chain->key)
        return sp_error_set(err, SP_EINVALID, "audit: %s: no audit key to hash the row with",
                            type);
    char *text = data ? json_canonical(data) : strdup("{}");
    if (!text)
        return sp_error_set(err, SP_EINVALID, "audit: %s: data cannot be written as JSON",
                            type);
    /* The stored bytes are exactly the dump (json_dumps escapes every
     * control character, so it holds no NUL byte). A NUL inside a string,
     * which jansson can hold, would be stored as the escape \u0000 - valid
     * JSON, but one that readers of the trail commonly refuse to parse
     * (jansson among them), so such an event is refused here instead. */
    size_t len = strlen(text);
    if (has_nul_escape(text, len)) {
        free(text);
        return sp_error_set(err, SP_EINVALID,
                            "audit: %s: data holds a string with a NUL character (\\u0000), "
                            "which the trail does not store", type);
    }
    store_audit_row row = {
        .seq = chain->seq + 1,
        .at = at,
        .actor = actor,
        .type = type,
        .run_id = run_id,
        .approval_id = approval_id,
        .data = text,
        .prev_hash = chain->head,
        .actor_len = strlen(actor),
        .type_len = strlen(type),
        .run_id_len = run_id ? strlen(run_id) : 0,
        .approval_id_len = approval_id ? strlen(approval_id) : 0,
        .data_len = len,
        .prev_hash_len = 64,
        .hash_len = 64,
    };
    char hash[65];
    audit_row_hash_keyed(chain->key, chain->head, &row, hash);
    row.hash = hash;
    sp_code rc = store_audit_append(c, &row, err);
    free(text);
    if (rc == SP_OK) {
        /* Only a stored row moves the head: a failed append leaves the
         * chain as it was, so the next append still links correctly. */
        chain->seq = row.seq;
        memcpy(chain->head, hash, sizeof chain->head);
    }
    return rc;
}

/* The text of a row whose data is not JSON, as a JSON string: as stored
 * (a NUL byte included) when it is UTF-8, else with the bad bytes as '?'. */
static json_t *damaged_text(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j)
        return j;
    char *copy = strndup(s, len);
    j = copy ? json_string(utf8_sanitize(copy)) : NULL;
    free(copy);
    return j ? j : json_null();
}

json_t *audit_row_json(const store_audit_row *row)
{
    char at[SP_TIME_BUF];
    json_t *data = row->data ? json_loadb(row->data, row->data_len, JSON_DECODE_ANY, NULL)
                             : NULL;
    if (!data)  /* a damaged row is still shown, as the text it holds */
        data = row->data ? damaged_text(row->data, row->data_len) : json_null();
    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "seq", (json_int_t)row->seq,
                     "at", time_format(row->at, at),
                     "actor", str_or_null(row->actor),
                     "type", str_or_null(row->type),
                     "run_id", str_or_null(row->run_id),
                     "approval_id", str_or_null(row->approval_id),
                     "data", data,
                     "prev_hash", str_or_null(row->prev_hash),
                     "hash", str_or_null(row->hash));
}
