/*
 * audit.c - appending to the hash-chained trail (SPEC section 7).
 *
 * HOW A ROW IS HASHED
 *
 *   hash = hex(SHA-256(prev_hash || C))
 *   C    = canonical JSON (compact, keys sorted) of
 *          {"actor","approval_id","at","data","run_id","seq","type"}
 *
 * C is built without re-serialising data: the other six fields go through
 * json_canonical, and the stored data text (itself canonical JSON, written
 * by audit_append) is spliced in where the sorted key "data" belongs,
 * between "at" and "run_id". For a row audit_append wrote, the result is
 * byte for byte json_canonical of the whole object (the unit tests check
 * this). For a row edited afterwards, the edited bytes are hashed as they
 * are, so even a change that keeps the JSON equivalent (a space, a
 * reordered key) breaks the hash.
 *
 * The splice point is found by searching for `,"run_id":`. Inside a JSON
 * string every '"' is escaped as \", so that sequence can only be the key.
 *
 * APPEND IS CHEAP: the caller keeps the chain head (audit_chain) in memory;
 * an append hashes one row and inserts it with one prepared statement. The
 * head is read from the store only at start-up and after a failed commit.
 */
#include "audit/audit_int.h"

#include <sodium.h>
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

int audit_row_hash(const char *prev_hash, const store_audit_row *row, char out[65])
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

sp_code audit_chain_load(store_conn *c, audit_chain *chain, sp_error *err)
{
    int64_t seq = 0;
    char hash[65];
    sp_code rc = store_audit_head(c, &seq, hash, err);
    if (rc)
        return rc;
    chain->seq = seq;
    snprintf(chain->head, sizeof chain->head, "%s", seq > 0 ? hash : AUDIT_GENESIS);
    return SP_OK;
}

/* Hot path: one canonical dump of data, one of the fields, one hash, one
 * prepared insert. */
sp_code audit_append(store_conn *c, audit_chain *chain, sp_time at, const char *actor,
                     const char *type, const char *run_id, const char *approval_id,
                     const json_t *data, sp_error *err)
{
    if (!actor || !type)
        return sp_error_set(err, SP_EINVALID, "audit: an event needs an actor and a type");
    char *text = data ? json_canonical(data) : strdup("{}");
    if (!text)
        return sp_error_set(err, SP_EINVALID, "audit: %s: data cannot be written as JSON",
                            type);
    store_audit_row row = {
        .seq = chain->seq + 1,
        .at = at,
        .actor = actor,
        .type = type,
        .run_id = run_id,
        .approval_id = approval_id,
        .data = text,
        .prev_hash = chain->head,
    };
    char hash[65];
    sp_code rc;
    if (audit_row_hash(chain->head, &row, hash) != 0) {
        rc = sp_error_set(err, SP_ENOMEM, "out of memory");
    } else {
        row.hash = hash;
        rc = store_audit_append(c, &row, err);
    }
    free(text);
    if (rc == SP_OK) {
        /* Only a stored row moves the head: a failed append leaves the
         * chain as it was, so the next append still links correctly. */
        chain->seq = row.seq;
        memcpy(chain->head, hash, sizeof chain->head);
    }
    return rc;
}

json_t *audit_row_json(const store_audit_row *row)
{
    char at[SP_TIME_BUF];
    json_t *data = row->data ? json_loads(row->data, JSON_DECODE_ANY, NULL) : NULL;
    if (!data)  /* a damaged row is still shown, as the text it holds */
        data = row->data ? json_string(row->data) : json_null();
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
