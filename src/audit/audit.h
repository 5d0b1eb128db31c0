/*
 * audit.h - the tamper-evident trail (SPEC §7).
 *
 * Every event is one row: seq, at, actor, type, run_id, approval_id, data,
 * prev_hash, hash. Each row's hash covers its own content and the hash of
 * the row before it (prev_hash; 64 zeros for row 1), so editing, deleting
 * or reordering any row breaks the chain at that row or the next.
 *
 * The hash is keyed: HMAC-SHA-256 under the audit key, a random key kept
 * in the database sealed with the master key (key.c). Whoever holds the
 * database alone - a backup, a stolen copy, write access to the file -
 * can edit a row but cannot compute the hashes that would make the edit
 * verify. Rows written by a spojit from before the keyed chain used plain
 * SHA-256; they keep verifying with that formula up to the anchor (the head
 * of the trail when the database was upgraded), and the keyed chain
 * continues from there. docs/internals/audit.md gives both formulas byte
 * for byte.
 *
 * audit_append runs on the engine thread inside the batch's transaction; the
 * chain head it advances is in memory, so the engine saves and restores it
 * around savepoints (audit_chain is a plain value: copy it).
 */
#ifndef SP_AUDIT_H
#define SP_AUDIT_H

#include <jansson.h>
#include <stdbool.h>

#include "core/clock.h"
#include "core/err.h"
#include "secrets/secrets.h"
#include "store/store.h"

/* The key that hashes the chain, with the anchor it was created at. Read
 * only after it is made, so any thread may use it at the same time. */
typedef struct audit_key audit_key;

typedef struct {
    int64_t seq;            /* of the last row, 0 when empty */
    char head[65];          /* hash of the last row; 64 zeros when empty */
    const audit_key *key;   /* hashes the rows appended (borrowed) */
    int64_t recorded;       /* seq of the head the store keeps; -1: unknown, rewrite it */
} audit_chain;

/* ---- the audit key (key.c) ---- */
/* The meta names: the sealed key document and the anchor the store's
 * migration 7 recorded. */
#define AUDIT_KEY_DOC     "audit_key"
#define AUDIT_ANCHOR_META "audit_anchor"
#define AUDIT_HEAD_META   "audit_head"

/*
 * The audit key sealed in the database, opened with the master key.
 * SP_ENOTFOUND when none was made yet (a database no server has started on
 * since its upgrade); any other failure means a wrong master key or an
 * altered database, and says which document.
 */
sp_code audit_key_open(store_conn *c, const secrets_key *master, audit_key **key,
                       sp_error *err);
/*
 * audit_key_open, or - when there is none yet - a new random key, sealed
 * with the master key together with the anchor (meta audit_anchor) and
 * stored; *created says which. A new key is refused (SP_EINVALID) when the
 * trail does not end exactly at the anchor: rows after it were keyed with
 * a key that has since been removed, or rows before it were deleted.
 * w: the writer, outside a transaction or inside the caller's.
 */
sp_code audit_key_setup(store_conn *w, const secrets_key *master, audit_key **key,
                        bool *created, sp_error *err);
/* audit_key_setup also completes a document from an older spojit: it adds
 * the head signing key and starts keeping the head (meta audit_head) at the
 * trail's end, in one transaction (its own when w is outside one). */
/* The anchor recorded in the store: the last seq hashed with plain SHA-256
 * and its hash. SP_ENOTFOUND when the meta row is missing. */
sp_code audit_anchor_read(store_conn *c, int64_t *seq, char hash[65], sp_error *err);
/* A key's anchor, and its id (16 hex: a keyed BLAKE2b of a fixed text,
 * naming the key without revealing it). */
int64_t audit_key_anchor_seq(const audit_key *key);
const char *audit_key_id(const audit_key *key);
void audit_key_free(audit_key *key);
/* {algorithm, key_id, key (64 hex), anchor_seq, anchor_hash}: what an
 * outside tool needs to recompute the keyed hashes. Whoever has it can
 * forge row hashes (not signed heads), so only `audit reveal-key --db`,
 * which needs the master key anyway, gives it out. */
json_t *audit_key_reveal(const audit_key *key);

/* ---- the chain (audit.c) ---- */
sp_code audit_chain_load(store_conn *c, const audit_key *key, audit_chain *chain,
                         sp_error *err);

/* Appends one event, hashed with chain->key. data: borrowed, any JSON
 * (NULL = {}); a string in it holding U+0000 is refused (SP_EINVALID). */
sp_code audit_append(store_conn *c, audit_chain *chain, sp_time at, const char *actor,
                     const char *type, const char *run_id, const char *approval_id,
                     const json_t *data, sp_error *err);

/* ---- the head (head.c) ---- */
/*
 * Writes the chain's head to the store (meta audit_head, with its mac) when
 * it moved since it was last written; the engine calls it just before each
 * commit, so the head is always in the same transaction as its rows.
 */
sp_code audit_head_record(store_conn *w, audit_chain *chain, sp_error *err);
/* Writes the head {seq, hash} unconditionally. */
sp_code audit_head_store(store_conn *w, const audit_key *key, int64_t seq, const char *hash,
                         sp_error *err);
/* The head the store keeps. SP_ENOTFOUND when there is none; SP_ESTORE,
 * saying so, when it is malformed or its mac does not match. */
sp_code audit_head_read(store_conn *c, const audit_key *key, int64_t *seq, char hash[65],
                        sp_error *err);

/* Whether key has a head signing key (every key a server has set up). */
bool audit_key_can_sign(const audit_key *key);
/* {seq, hash, at, key_id, signature}: the head signed (new reference). */
json_t *audit_head_sign(const audit_key *key, int64_t seq, const char *hash, sp_time at);
/* The trail's current end, signed at time at. */
sp_code audit_head_take(store_conn *c, const audit_key *key, sp_time at, json_t **out,
                        sp_error *err);
/* Whether head is a well-formed head signed by key; its seq and hash. When
 * not, why says so (whylen bytes). */
bool audit_head_check(const audit_key *key, const json_t *head, int64_t *seq, char hash[65],
                      char *why, size_t whylen);
/* {algorithm, key_id, public_key (hex), public_key_pem, signed_text}. */
json_t *audit_public_key_json(const audit_key *key);
/* The last signed head in a file: one JSON object, or JSON lines (an
 * anchor file) of which the last counts. SP_ENOTFOUND when no file. */
sp_code audit_head_file_last(const char *path, json_t **head, sp_error *err);

/* ---- verification (verify.c) ---- */
/*
 * Recomputes the whole chain: {ok, rows, head, keyed_from, key_id,
 * recorded_head?, first_bad_seq?, reason?}; keyed_from is the first seq
 * hashed with the audit key. key may be NULL only when none exists yet
 * (audit_key_open said SP_ENOTFOUND): then every row must be at or before
 * the anchor. The trail must reach the head the store keeps (when the key
 * says it is kept) and, given saved_head (a signed head, borrowed, or
 * NULL), that one too, with the same hash at its seq.
 */
sp_code audit_verify(store_conn *c, const audit_key *key, const json_t *saved_head,
                     json_t **result, sp_error *err);

/* One stored row as the API shows it (data parsed back to JSON). */
json_t *audit_row_json(const store_audit_row *row);

#endif
