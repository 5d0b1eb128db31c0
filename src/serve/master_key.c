/*
 * master_key.c - finding the master key and checking it against the
 * stored secrets before anything can write one (see master_key.h).
 *
 * The order matters: the store is opened first, so that a missing key file
 * beside a database that already holds secrets is an error instead of a
 * fresh key (which would seal new secrets under a key that cannot open the
 * old ones), and a wrong key stops the server before the first write.
 */
#include "serve/master_key.h"

#include <stdlib.h>

#include "core/log.h"

static int count_one(void *ctx, const store_secret *s)
{
    (*(int *)ctx)++;
    return 0;
}

secrets_key *serve_master_key(const serve_options *o, store *st)
{
    sp_error err = SP_ERROR_INIT;
    secrets_key *key = NULL;
    char *origin = NULL;
    int stored = 0, checked = 0, unopened = 0;
    store_conn *r = store_reader(st);
    if (store_secret_scan(r, false, count_one, &stored, &err) != SP_OK) {
        log_error("cannot read the stored secrets: %s", err.message);
        goto fail;
    }
    secrets_key_source src = { .env_key = getenv("SPOJIT_MASTER_KEY"),
                               .key_file = o->master_key_file, .db_url = o->db,
                               .stored_secrets = stored };
    if (secrets_key_load(&src, &key, &origin, &err) != SP_OK) {
        log_error("master key: %s", err.message);
        goto fail;
    }
    if (secrets_check(r, key, &checked, &unopened, &err) != SP_OK) {
        log_error("master key from %s: %s", origin, err.message);
        goto fail;
    }
    if (unopened)
        log_error("secrets: %d of %d stored secrets do not open with the master key although "
                  "they were written with it: they were altered (see above); write them again",
                  unopened, checked);
    log_info("secrets: master key from %s (id %s), %d secret(s) stored", origin,
             secrets_key_id(key), checked);
    store_release(r);
    free(origin);
    return key;

fail:
    if (r)
        store_release(r);
    sp_error_clear(&err);
    secrets_key_free(key);
    free(origin);
    return NULL;
}
