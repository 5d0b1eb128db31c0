/*
 * audit.h - the tamper-evident trail (SPEC §7).
 *
 * Every event is one row: seq, at, actor, type, run_id, approval_id, data,
 * prev_hash, hash, where
 *     hash = hex(SHA-256(prev_hash || canonical JSON of
 *            {"actor","approval_id","at","data","run_id","seq","type"}))
 * with "at" as RFC 3339 text, "data" as the JSON value, absent ids as null,
 * and prev_hash of the first row 64 zeros. Editing, deleting or reordering
 * any row breaks the chain at that row or the next.
 *
 * audit_append runs on the engine thread inside the batch's transaction; the
 * chain head it advances is in memory, so the engine saves and restores it
 * around savepoints (audit_chain is a plain value: copy it).
 */
#ifndef SP_AUDIT_H
#define SP_AUDIT_H

#include <jansson.h>

#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"

typedef struct {
    int64_t seq;            /* of the last row, 0 when empty */
    char head[65];          /* hash of the last row; 64 zeros when empty */
} audit_chain;

sp_code audit_chain_load(store_conn *c, audit_chain *chain, sp_error *err);

/* Appends one event. data: borrowed, any JSON (NULL = {}). */
sp_code audit_append(store_conn *c, audit_chain *chain, sp_time at, const char *actor,
                     const char *type, const char *run_id, const char *approval_id,
                     const json_t *data, sp_error *err);

/* Recomputes the whole chain: {ok, rows, head, first_bad_seq?, reason?}. */
sp_code audit_verify(store_conn *c, json_t **result, sp_error *err);

/* One stored row as the API shows it (data parsed back to JSON). */
json_t *audit_row_json(const store_audit_row *row);

#endif
