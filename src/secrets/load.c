/*
 * load.c - the stored secrets as a whole: opened for the engine
 * (secrets_load_all) and checked against the master key at start-up
 * (secrets_check). See secrets.h.
 */
#include "secrets/secrets.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

typedef struct {
    const secrets_key *key;
    json_t *out;                /* load: {name: value} */
    sp_error *err;
    sp_code rc;
    int count, unopened, other_key;
    char other_id[SECRETS_KEY_ID_LEN + 1];
} scan_ctx;

static int load_one(void *p, const store_secret *s)
{
    scan_ctx *x = p;
    char *value = NULL;
    size_t len = 0;
    x->rc = secrets_open(x->key, s->name, s->sealed, s->sealed_len, &value, &len, x->err);
    if (x->rc)
        return 1;
    json_t *v = json_stringn(value, len);
    sodium_memzero(value, len);
    free(value);
    /* Values are text: PUT /v1/secrets takes a JSON string. Bytes that are
     * not UTF-8 could only come from outside the API. */
    if (!v) {
        x->rc = sp_error_set(x->err, SP_EINVALID, "secret '%s' is not valid UTF-8 text",
                             s->name);
        return 1;
    }
    json_object_set_new(x->out, s->name, v);
    return 0;
}

sp_code secrets_load_all(store_conn *c, const secrets_key *key, json_t **secrets,
                         sp_error *err)
{
    scan_ctx x = { .key = key, .out = json_object(), .err = err };
    sp_code rc = store_secret_scan(c, true, load_one, &x, err);
    if (rc == SP_OK)
        rc = x.rc;
    if (rc) {
        json_decref(x.out);
        return rc;
    }
    *secrets = x.out;
    return SP_OK;
}

static int check_one(void *p, const store_secret *s)
{
    scan_ctx *x = p;
    x->count++;
    if (strcmp(s->key_id, secrets_key_id(x->key)) != 0) {
        if (!x->other_key++)
            snprintf(x->other_id, sizeof x->other_id, "%s", s->key_id);
        return 0;
    }
    char *value = NULL;
    size_t len = 0;
    sp_error e = SP_ERROR_INIT;
    if (secrets_open(x->key, s->name, s->sealed, s->sealed_len, &value, &len, &e) != SP_OK) {
        x->unopened++;
        log_error("secrets: %s", e.message);   /* names the secret, never a value */
        sp_error_clear(&e);
        return 0;
    }
    sodium_memzero(value, len);
    free(value);
    return 0;
}

sp_code secrets_check(store_conn *c, const secrets_key *key, int *count, int *unopened,
                      sp_error *err)
{
    scan_ctx x = { .key = key };
    sp_code rc = store_secret_scan(c, true, check_one, &x, err);
    if (rc)
        return rc;
    if (x.other_key)
        return sp_error_set(err, SP_EINVALID,
                            "the master key (id %s) is not the one %d of the %d stored "
                            "secrets were written with (id %s): start with the key they were "
                            "written with (SPOJIT_MASTER_KEY or --master-key-file); if that key "
                            "is lost, so are those secrets (see docs/operations/security.md)",
                            secrets_key_id(key), x.other_key, x.count, x.other_id);
    *count = x.count;
    *unopened = x.unopened;
    return SP_OK;
}
