/*
 * master_key.h - the key that seals secrets, found and checked at start-up
 * (docs/operations/security.md says where it comes from and why).
 */
#ifndef SP_SERVE_MASTER_KEY_H
#define SP_SERVE_MASTER_KEY_H

#include "secrets/secrets.h"
#include "serve/options.h"
#include "store/store.h"

/*
 * SPOJIT_MASTER_KEY, else --master-key-file, else <db path>.key (created on
 * first start). The secrets already in st must all have been sealed with
 * it. NULL when the server must not start (the reason is logged).
 * The caller frees the key with secrets_key_free after the engine stopped.
 */
secrets_key *serve_master_key(const serve_options *o, store *st);

/*
 * The audit key (audit/key.c), opened with the master key, or made at the
 * first start on this database. NULL when the server must not start (the
 * reason is logged: a wrong key, or a trail keyed with a key that is gone).
 * The caller frees it with audit_key_free after the engine stopped.
 */
struct audit_key *serve_audit_key(store *st, const secrets_key *master);

#endif
