/*
 * audit_offline.c - `spojit audit verify --db URL` and `spojit audit
 * reveal-key --db URL`: the client commands that do not go through the
 * server. verify opens the store itself and runs the same audit_verify the
 * server's GET /v1/audit/verify runs, so a backup or a copy taken off a
 * suspect machine can be checked anywhere.
 *
 * The chain is keyed with the audit key, which the database holds sealed
 * with the master key: so this check needs the master key, found as the
 * server finds it - SPOJIT_MASTER_KEY, else --master-key-file (or
 * SPOJIT_MASTER_KEY_FILE), else the database path + ".key" - except that a
 * missing key file is an error here, never created. Without the master
 * key nothing after the plain part could be checked, and a check that
 * cannot tell a rewritten trail from a true one must not say "ok".
 *
 * It only reads the trail: SQLite in WAL mode lets it run beside a live
 * server. (Opening a database from an older spojit applies the store's
 * migrations, as any start would.)
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit/audit.h"
#include "secrets/secrets.h"
#include "store/store.h"

/* The master key for url; NULL after printing why there is none. */
static secrets_key *master_key(const char *url, const char *key_file)
{
    const char *env = getenv("SPOJIT_MASTER_KEY");
    if (!key_file || !*key_file)
        key_file = getenv("SPOJIT_MASTER_KEY_FILE");
    sp_error err = SP_ERROR_INIT;
    secrets_key *key = NULL;
    char *def = NULL;
    sp_code rc;
    if (env && *env && key_file && *key_file) {
        cli_errorf("both SPOJIT_MASTER_KEY and a master key file (%s) are set: give one of "
                   "them", key_file);
        return NULL;
    }
    if (env && *env) {
        rc = secrets_key_parse(env, "SPOJIT_MASTER_KEY", &key, &err);
    } else if ((key_file && *key_file) || (def = secrets_default_key_file(url))) {
        rc = secrets_key_read_file(key_file && *key_file ? key_file : def, "master key file",
                                   &key, &err);
    } else {
        cli_errorf("checking the audit trail of %s needs its master key: set "
                   "SPOJIT_MASTER_KEY or --master-key-file", url);
        return NULL;
    }
    if (rc) {
        cli_errorf("%s (the audit trail is keyed with a key sealed by the master key: "
                   "give the server's key with SPOJIT_MASTER_KEY or --master-key-file)",
                   err.message);
        sp_error_clear(&err);
    }
    free(def);
    return key;
}

/* The store at url and its audit key (NULL when none was made yet), after
 * printing why when they cannot be had; 0 or -1. */
static int open_offline(const char *url, const char *key_file, store **s, audit_key **akey)
{
    *s = NULL;
    *akey = NULL;
    /* Opening a missing SQLite file would create an empty store and report
     * "ok: 0 rows", which is the wrong answer to a typo. */
    if (strncmp(url, "sqlite:", 7) == 0 && access(url + 7, F_OK) != 0) {
        cli_errorf("no database at %s", url + 7);
        return -1;
    }
    secrets_key *master = master_key(url, key_file);
    if (!master)
        return -1;
    sp_error err = SP_ERROR_INIT;
    if (!(*s = store_open(url, &err))) {
        cli_errorf("cannot open %s: %s", url, err.message);
        sp_error_clear(&err);
        secrets_key_free(master);
        return -1;
    }
    store_conn *c = store_reader(*s);
    /* No audit key yet is a database no server has started on since its
     * upgrade: its trail must then end at the anchor, which verify checks. */
    sp_code code = audit_key_open(c, master, akey, &err);
    store_release(c);
    secrets_key_free(master);
    if (code == SP_ENOTFOUND || code == SP_OK) {
        sp_error_clear(&err);
        return 0;
    }
    cli_errorf("cannot read the audit key of %s: %s", url, err.message);
    sp_error_clear(&err);
    store_close(*s);
    *s = NULL;
    return -1;
}

int cli_audit_verify_offline(const char *url, const char *key_file, const json_t *saved_head,
                             bool json)
{
    store *s;
    audit_key *akey;
    if (open_offline(url, key_file, &s, &akey) != 0)
        return CLI_FAIL;
    sp_error err = SP_ERROR_INIT;
    json_t *result = NULL;
    store_conn *c = store_reader(s);
    sp_code code = audit_verify(c, akey, saved_head, &result, &err);
    store_release(c);
    int rc;
    if (code != SP_OK) {
        cli_errorf("cannot verify %s: %s", url, err.message);
        rc = CLI_FAIL;
    } else {
        rc = cli_audit_report(result, json);
    }
    json_decref(result);
    sp_error_clear(&err);
    audit_key_free(akey);
    store_close(s);
    return rc;
}

int cli_audit_reveal_key(const char *url, const char *key_file)
{
    store *s;
    audit_key *akey;
    if (open_offline(url, key_file, &s, &akey) != 0)
        return CLI_FAIL;
    int rc = CLI_FAIL;
    if (!akey) {
        cli_errorf("%s has no audit key yet: its trail is hashed plain (SHA-256) up to its "
                   "anchor, with no key to reveal", url);
    } else {
        json_t *doc = audit_key_reveal(akey);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (text) {
            puts(text);
            rc = CLI_OK;
        }
        if (text)
            sodium_memzero(text, strlen(text));
        free(text);
        json_decref(doc);
    }
    audit_key_free(akey);
    store_close(s);
    return rc;
}
