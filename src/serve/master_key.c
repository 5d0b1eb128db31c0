/*
 * master_key.c - finding the master key and checking it against the
 * stored secrets before anything can write one (see master_key.h).
 *
 * The order matters: the store is opened first, so that a missing key file
 * beside a database that already holds secrets is an error instead of a
 * fresh key (which would seal new secrets under a key that cannot open the
 * old ones), and a wrong key stops the server before the first write.
 *
 * ROTATION
 * With a previous key configured as well (--previous-master-key-file or
 * SPOJIT_PREVIOUS_MASTER_KEY), every secret it sealed is sealed again with
 * the current key at start-up, in one transaction with a secrets.rekeyed
 * audit row, before the check. The current key file may then be missing:
 * it is created, as on a first start, when the previous key opens every
 * stored secret.
 */
#include "serve/master_key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/clock.h"

#include "core/log.h"

typedef struct {
    int stored;
    int previous;               /* sealed with the previous key */
    const char *previous_id;
} secret_count;

static int count_one(void *ctx, const store_secret *s)
{
    secret_count *n = ctx;
    n->stored++;
    if (n->previous_id && s->key_id && strcmp(s->key_id, n->previous_id) == 0)
        n->previous++;
    return 0;
}

/* The previous key of a rotation, if one is configured; 0 or -1. */
static int previous_key(const serve_options *o, secrets_key **key, char **origin)
{
    sp_error err = SP_ERROR_INIT;
    const char *env = getenv("SPOJIT_PREVIOUS_MASTER_KEY");
    const char *file = o->previous_master_key_file;
    sp_code rc = SP_OK;
    *key = NULL;
    if (env && *env && file && *file)
        rc = sp_error_set(&err, SP_EBADINPUT, "both SPOJIT_PREVIOUS_MASTER_KEY and "
                          "--previous-master-key-file are set: give one of them");
    else if (env && *env)
        rc = secrets_key_parse(env, "SPOJIT_PREVIOUS_MASTER_KEY", key, &err);
    else if (file && *file)
        rc = secrets_key_read_file(file, "previous master key file", key, &err);
    if (rc) {
        log_error("%s", err.message);
        sp_error_clear(&err);
        return -1;
    }
    if (*key && !(*origin = strdup(env && *env ? "SPOJIT_PREVIOUS_MASTER_KEY" : file))) {
        secrets_key_free(*key);
        *key = NULL;
        return -1;
    }
    return 0;
}

/* Seals a document still stored plain and checks the others, in one
 * transaction; 0 or -1. */
static int check_docs(store *st, const secrets_key *key)
{
    sp_error err = SP_ERROR_INIT;
    store_conn *w = store_writer(st);
    int sealed = 0;
    sp_code rc = store_begin(w, &err);
    if (rc == SP_OK && (rc = secrets_docs_rekey(w, key, key, &sealed, &err)) == SP_OK)
        rc = store_commit(w, &err);
    else if (rc != SP_OK)
        store_rollback(w);
    if (rc) {
        log_error("master key (id %s): %s", secrets_key_id(key), err.message);
        sp_error_clear(&err);
        return -1;
    }
    if (sealed)
        log_info("secrets: %d key document(s) stored in plain text sealed with the master key",
                 sealed);
    return 0;
}

/* Re-seals what the previous key sealed, with an audit row, in one
 * transaction; 0 or -1. */
static int rotate(store *st, const secrets_key *from, const char *from_origin,
                  const secrets_key *to)
{
    sp_error err = SP_ERROR_INIT;
    store_conn *w = store_writer(st);
    audit_chain chain;
    audit_key *akey = NULL;
    bool created = false;
    int moved = 0, docs = 0;
    sp_code rc = store_begin(w, &err);
    /* The audit key is read (or made) under the new master key, once the
     * documents were sealed again with it. */
    if (rc == SP_OK && (rc = secrets_rekey(w, from, to, &moved, &err)) == SP_OK &&
        (rc = secrets_docs_rekey(w, from, to, &docs, &err)) == SP_OK && moved + docs > 0 &&
        (rc = audit_key_setup(w, to, &akey, &created, &err)) == SP_OK &&
        (rc = audit_chain_load(w, akey, &chain, &err)) == SP_OK) {
        json_t *data = json_pack("{s:i, s:i, s:s, s:s}", "secrets", moved, "documents", docs,
                                 "from_key_id", secrets_key_id(from), "to_key_id",
                                 secrets_key_id(to));
        rc = audit_append(w, &chain, clock_now(), "system", "secrets.rekeyed", NULL, NULL,
                          data, &err);
        json_decref(data);
        if (rc == SP_OK)
            rc = audit_head_record(w, &chain, &err);
    }
    audit_key_free(akey);
    if (rc == SP_OK)
        rc = store_commit(w, &err);
    else
        store_rollback(w);
    if (rc) {
        log_error("master key rotation: %s; nothing was changed", err.message);
        sp_error_clear(&err);
        return -1;
    }
    if (moved + docs > 0)
        log_warn("secrets: %d secret(s) and %d key document(s) sealed again, from the previous "
                 "master key (id %s, %s) to the current one (id %s): take a new backup of the "
                 "key and the database, then remove the previous key from the configuration",
                 moved, docs, secrets_key_id(from), from_origin, secrets_key_id(to));
    else
        log_warn("secrets: no secret is sealed with the previous master key (id %s, %s): "
                 "nothing to rotate; remove it from the configuration", secrets_key_id(from),
                 from_origin);
    return 0;
}

secrets_key *serve_master_key(const serve_options *o, store *st)
{
    sp_error err = SP_ERROR_INIT;
    secrets_key *key = NULL, *previous = NULL;
    char *origin = NULL, *previous_origin = NULL;
    int checked = 0, unopened = 0;
    store_conn *r = NULL;
    if (previous_key(o, &previous, &previous_origin) != 0)
        goto fail;
    secret_count n = { .previous_id = previous ? secrets_key_id(previous) : NULL };
    r = store_reader(st);
    if (store_secret_scan(r, false, count_one, &n, &err) != SP_OK) {
        log_error("cannot read the stored secrets: %s", err.message);
        goto fail;
    }
    /* What the previous key opens is not lost with a missing key file: a
     * new key may be made for it. Sealed documents count as secrets here
     * (without a previous key to open them, a new key could not). */
    int docs = previous ? 0 : secrets_docs_sealed(r);
    secrets_key_source src = { .env_key = getenv("SPOJIT_MASTER_KEY"),
                               .key_file = o->master_key_file, .db_url = o->db,
                               .stored_secrets = n.stored - n.previous + docs };
    if (secrets_key_load(&src, &key, &origin, &err) != SP_OK) {
        log_error("master key: %s", err.message);
        goto fail;
    }
    if (previous) {
        store_release(r);           /* the rotation writes */
        r = NULL;
        if (rotate(st, previous, previous_origin, key) != 0)
            goto fail;
        r = store_reader(st);
    }
    if (secrets_check(r, key, &checked, &unopened, &err) != SP_OK) {
        log_error("master key from %s: %s", origin, err.message);
        goto fail;
    }
    if (!previous) {
        store_release(r);           /* sealing a plain document writes */
        r = NULL;
        if (check_docs(st, key) != 0)
            goto fail;
        r = store_reader(st);
    }
    if (unopened)
        log_error("secrets: %d of %d stored secrets do not open with the master key although "
                  "they were written with it: they were altered (see above); write them again",
                  unopened, checked);
    log_info("secrets: master key from %s (id %s), %d secret(s) stored", origin,
             secrets_key_id(key), checked);
    store_release(r);
    free(origin);
    secrets_key_free(previous);
    free(previous_origin);
    return key;

fail:
    if (r)
        store_release(r);
    sp_error_clear(&err);
    secrets_key_free(key);
    secrets_key_free(previous);
    free(origin);
    free(previous_origin);
    return NULL;
}

audit_key *serve_audit_key(store *st, const secrets_key *master)
{
    sp_error err = SP_ERROR_INIT;
    audit_key *key = NULL;
    bool created = false;
    int64_t seq = 0;
    char hash[65];
    store_conn *w = store_writer(st);
    sp_code rc = audit_key_setup(w, master, &key, &created, &err);
    if (rc == SP_OK && created)
        rc = audit_anchor_read(w, &seq, hash, &err);
    if (rc) {
        log_error("audit key: %s", err.message);
        sp_error_clear(&err);
        audit_key_free(key);
        return NULL;
    }
    if (created && seq > 0)
        log_info("audit: the trail is keyed from seq %lld on (rows 1 to %lld keep their plain "
                 "SHA-256 hashes); audit key id %s", (long long)seq + 1, (long long)seq,
                 audit_key_id(key));
    else if (created)
        log_info("audit: a new audit key (id %s) keys the trail", audit_key_id(key));
    return key;
}
