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
} audit_chain;

/* ---- the audit key (key.c) ---- */
/* The meta names: the sealed key document and the anchor the store's
 * migration 7 recorded. */
#define AUDIT_KEY_DOC     "audit_key"
#define AUDIT_ANCHOR_META "audit_anchor"

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
/* The anchor recorded in the store: the last seq hashed with plain SHA-256
 * and its hash. SP_ENOTFOUND when the meta row is missing. */
sp_code audit_anchor_read(store_conn *c, int64_t *seq, char hash[65], sp_error *err);
/* A key's anchor, and its id (16 hex: a keyed BLAKE2b of a fixed text,
 * naming the key without revealing it). */
int64_t audit_key_anchor_seq(const audit_key *key);
const char *audit_key_id(const audit_key *key);
void audit_key_free(audit_key *key);

/* ---- the chain (audit.c) ---- */
sp_code audit_chain_load(store_conn *c, const audit_key *key, audit_chain *chain,
                         sp_error *err);

/* Appends one event, hashed with chain->key. data: borrowed, any JSON
 * (NULL = {}); a string in it holding U+0000 is refused (SP_EINVALID). */
sp_code audit_append(store_conn *c, audit_chain *chain, sp_time at, const char *actor,
                     const char *type, const char *run_id, const char *approval_id,
                     const json_t *data, sp_error *err);

/* ---- verification (verify.c) ---- */
/*
 * Recomputes the whole chain: {ok, rows, head, keyed_from, first_bad_seq?,
 * reason?}; keyed_from is the first seq hashed with the audit key. key may
 * be NULL only when none exists yet (audit_key_open said SP_ENOTFOUND):
 * then every row must be at or before the anchor.
 */
sp_code audit_verify(store_conn *c, const audit_key *key, json_t **result, sp_error *err);

/* One stored row as the API shows it (data parsed back to JSON). */
json_t *audit_row_json(const store_audit_row *row);

#endif
