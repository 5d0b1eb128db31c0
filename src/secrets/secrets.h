/*
 * secrets.h - secrets at rest: the master key, sealing and opening values,
 * loading them all for the engine, and redacting them out of JSON.
 *
 * DESIGN
 *
 * A secret is a name and a value. The value is stored only sealed with the
 * master key (libsodium crypto_secretbox: XSalsa20-Poly1305, a random
 * 24-byte nonce per write). What is sealed is not the value alone but
 * "the name, then the value" (a length byte, the name, the value), and
 * opening checks the name: so someone who can write to the database cannot
 * swap two sealed values (make the "stripe" secret decrypt as the "slack"
 * one) without it being detected.
 *
 * A sealed value is one byte string:
 *
 *     0x01 | nonce (24) | MAC (16) | ciphertext (1 + len(name) + len(value))
 *
 * The leading version byte leaves room for another scheme (key rotation,
 * another cipher) without guessing at old rows.
 *
 * Every row also records the key id: 16 hex characters of a keyed BLAKE2b
 * of a fixed text under the master key. It reveals nothing about the key,
 * but lets start-up tell "the key configured is not the one these secrets
 * were written with" from "this row was tampered with".
 *
 * INVARIANTS
 * - A value never leaves this module unsealed except through
 *   secrets_open/secrets_load_all, whose callers own the plaintext; no
 *   message built here ever contains a value.
 * - The master key lives in sodium_malloc'd memory (guard pages, locked,
 *   wiped on free) and is read only after start-up, so any thread may use
 *   a secrets_key at the same time.
 *
 * Ownership: outputs through pointers are malloc'd (or new JSON references)
 * and the caller frees them; plaintext outputs should be wiped with
 * sodium_memzero before free where the caller can.
 */
#ifndef SP_SECRETS_H
#define SP_SECRETS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "store/store.h"

/* ---- limits ---- */
#define SECRETS_KEY_BYTES    32             /* crypto_secretbox_KEYBYTES */
#define SECRETS_KEY_ID_LEN   16             /* hex characters of a key id */
#define SECRETS_NAME_MAX     64             /* like every other name */
#define SECRETS_VALUE_MAX    (64 * 1024)    /* bytes of one value */
#define SECRETS_SEALED_MAX   (1 + 24 + 16 + 1 + SECRETS_NAME_MAX + SECRETS_VALUE_MAX)
#define SECRETS_REDACTED     "***"
/* A value shorter than this (in characters) is stored with a warning: a
 * step that reads a secret and echoes its input can be probed for it, one
 * guess per run, and a short value is few guesses away
 * (docs/operations/security.md). */
#define SECRETS_SHORT_CHARS  12

typedef struct secrets_key secrets_key;

/* ---- the master key (secrets.c) ---- */
/*
 * Parses a key written as 64 hex digits or as the base64 (standard or
 * URL-safe, padding optional) of 32 bytes; surrounding white space is
 * ignored. `where` names the source in messages ("SPOJIT_MASTER_KEY");
 * the text itself is never repeated. SP_EINVALID otherwise.
 */
sp_code secrets_key_parse(const char *text, const char *where, secrets_key **key,
                          sp_error *err);
/* A new random key. NULL when out of memory. */
secrets_key *secrets_key_random(void);
/* The key as 64 hex digits + '\0' into hex[65] (to write a key file). */
void secrets_key_hex(const secrets_key *key, char hex[65]);
/* The key id: SECRETS_KEY_ID_LEN hex characters + '\0'. */
const char *secrets_key_id(const secrets_key *key);
/* Wipes and frees; NULL is fine. */
void secrets_key_free(secrets_key *key);

/* ---- where the master key comes from (masterkey.c) ----
 * In order: SPOJIT_MASTER_KEY (env_key); else the key file (key_file, or
 * by default the store's file name + ".key" for sqlite:PATH), created on
 * first start with mode 0600 and a new random key; else, for a store with
 * no file (sqlite::memory:), a random key that lives as long as the
 * process. A key file that group or others may read or write is refused:
 * it would put every secret within their reach. */
typedef struct {
    const char *env_key;        /* the text of SPOJIT_MASTER_KEY, or NULL */
    const char *key_file;       /* --master-key-file, or NULL for the default */
    const char *db_url;         /* the store URL, for the default key file */
    int stored_secrets;         /* secrets already stored: then a missing key
                                 * file is an error, never created afresh */
} secrets_key_source;
/* The key, and *origin (malloc'd) saying where it came from, for the log:
 * "SPOJIT_MASTER_KEY", "key file PATH", "key file PATH (created)". */
sp_code secrets_key_load(const secrets_key_source *src, secrets_key **key, char **origin,
                         sp_error *err);
/* Reads a key file with the checks of secrets_key_load (a regular file
 * private to its owner, 64 hex digits or base64); `what` names it in
 * messages ("previous master key file"). */
sp_code secrets_key_read_file(const char *path, const char *what, secrets_key **key,
                              sp_error *err);
/* PATH.key for sqlite:PATH (and fault:N:sqlite:PATH); NULL for a store
 * without a file. malloc'd. */
char *secrets_default_key_file(const char *db_url);

/* ---- sealing (secrets.c) ---- */
/* value (len bytes, any bytes) sealed under key and bound to name; *out
 * malloc'd, *out_len its size. SP_EINVALID for a bad name or a value over
 * SECRETS_VALUE_MAX. */
sp_code secrets_seal(const secrets_key *key, const char *name, const char *value, size_t len,
                     unsigned char **out, size_t *out_len, sp_error *err);
/* The value sealed for name; *value malloc'd and NUL-terminated, *len its
 * size. A wrong key, a tampered or truncated box, or a box sealed for
 * another name: SP_EINVALID "secret 'NAME' cannot be opened ...". */
sp_code secrets_open(const secrets_key *key, const char *name, const unsigned char *sealed,
                     size_t sealed_len, char **value, size_t *len, sp_error *err);

/* ---- the stored secrets (load.c) ---- */
/*
 * Every stored secret opened: {"NAME": "value", ...} (new reference) for
 * the engine thread to bind as $secrets. A secret that does not open fails
 * the whole call (SP_EINVALID naming it): a step must never run with a
 * secret silently missing.
 */
sp_code secrets_load_all(store_conn *c, const secrets_key *key, json_t **secrets,
                         sp_error *err);
/*
 * The start-up check: every stored secret must have been written with this
 * key (same key id) - else SP_EINVALID saying how many were written with
 * which other key, so a server started with the wrong key (or a fresh key
 * file because the old one was lost) refuses to run instead of writing new
 * secrets under a key that cannot open the old ones. Each secret is also
 * opened; *unopened counts those that match the key id but do not open
 * (tampered rows; they are logged by name, never by value). *count is the
 * number of stored secrets.
 */
sp_code secrets_check(store_conn *c, const secrets_key *key, int *count, int *unopened,
                      sp_error *err);

/* ---- rotating the master key (rekey.c) ---- */
/*
 * Re-seals every stored secret written with `from` (by key id) under `to`,
 * within the caller's transaction on the writer w; *moved counts them.
 * SP_EINVALID when from and to are the same key, or when a secret carrying
 * from's id does not open with it (named; nothing should be committed).
 */
sp_code secrets_rekey(store_conn *w, const secrets_key *from, const secrets_key *to,
                      int *moved, sp_error *err);

/* ---- documents in the meta table, sealed (sealed_doc.c) ----
 * For server-side keys that reading the database alone must not reveal
 * (the decision-link signing keys). A plain JSON value written before
 * sealing is still read; the next put seals it. */
/* The document (new reference); SP_ENOTFOUND when none is stored. */
sp_code secrets_doc_get(store_conn *c, const secrets_key *key, const char *name, json_t **doc,
                        sp_error *err);
sp_code secrets_doc_put(store_conn *c, const secrets_key *key, const char *name,
                        const json_t *doc, sp_error *err);
/* Re-seals the document under `to` unless it already is; *moved says
 * whether it was. Nothing stored: SP_OK, not moved. */
sp_code secrets_doc_rekey(store_conn *w, const secrets_key *from, const secrets_key *to,
                          const char *name, bool *moved, sp_error *err);
/* secrets_doc_rekey for every sealed document the server keeps (today:
 * "link_keys" and "audit_key"); *moved counts those moved. With from == to, seals one still
 * stored plain and checks that the others open. An error says how to get
 * past a document that no longer opens. */
sp_code secrets_docs_rekey(store_conn *w, const secrets_key *from, const secrets_key *to,
                           int *moved, sp_error *err);
/* How many of those are stored sealed (a plain one needs no key). */
int secrets_docs_sealed(store_conn *c);

/* ---- redaction (redact.c) ---- */
/*
 * A copy of value (new reference) in which every string - object keys
 * included - has each occurrence of any secret value replaced by "***".
 * Overlapping or adjacent occurrences become one "***", so no part of a
 * secret is left behind. secrets: an object {name: value} (as from
 * secrets_load_all) or an array of strings; NULL or empty: a plain copy.
 * Empty secret values are ignored (they would match everywhere). NULL on
 * out of memory.
 */
json_t *secrets_redact(const json_t *value, const json_t *secrets);
/* The same for one string: a malloc'd copy with occurrences replaced. */
char *secrets_redact_text(const char *s, size_t len, const json_t *secrets, size_t *out_len);
/* The same for the first keep bytes of s, where the secrets are found in
 * all len: a secret crossing the cut is replaced whole (none of it shown).
 * For bodies cut to size, whose end would otherwise show the first part of
 * a secret that redaction no longer recognises. */
char *secrets_redact_text_cut(const char *s, size_t len, size_t keep, const json_t *secrets,
                              size_t *out_len);

#endif
