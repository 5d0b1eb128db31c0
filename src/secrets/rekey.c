/*
 * rekey.c - rotating the master key: every secret sealed with the previous
 * key is opened with it and sealed again with the current one.
 *
 * The rows are read first and written after (never while the scan's
 * statement is open), all in the caller's transaction: a crash half way
 * leaves every secret under the previous key, and the next start with both
 * keys does the whole job again. A secret that will not open with the
 * previous key although it carries its id (an altered row) stops the
 * rotation: nothing is half rotated, and the message names the secret.
 */
#include "secrets/secrets.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *from_id;
    json_t *names;              /* the secrets sealed with the previous key */
} rekey_scan;

static int note_previous(void *p, const store_secret *s)
{
    rekey_scan *x = p;
    if (s->key_id && strcmp(s->key_id, x->from_id) == 0)
        json_array_append_new(x->names, json_string(s->name));
    return 0;
}

typedef struct {
    const char *name;
    unsigned char *sealed;
    size_t sealed_len;
    sp_time created_at, updated_at;
} sealed_copy;

static int copy_one(void *p, const store_secret *s)
{
    sealed_copy *c = p;
    if (strcmp(s->name, c->name) != 0)
        return 0;
    if ((c->sealed = malloc(s->sealed_len)))
        memcpy(c->sealed, s->sealed, s->sealed_len);
    c->sealed_len = s->sealed_len;
    c->created_at = s->created_at;
    c->updated_at = s->updated_at;
    return 1;
}

/* One secret: open with `from`, seal with `to`, store. */
static sp_code reseal(store_conn *w, const secrets_key *from, const secrets_key *to,
                      const char *name, sp_error *err)
{
    sealed_copy c = { .name = name };
    sp_code rc = store_secret_scan(w, true, copy_one, &c, err);
    if (rc == SP_OK && !c.sealed)
        rc = sp_error_set(err, SP_ENOMEM, "out of memory re-sealing secret '%s'", name);
    char *value = NULL;
    size_t len = 0;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    if (rc == SP_OK)
        rc = secrets_open(from, name, c.sealed, c.sealed_len, &value, &len, err);
    if (rc == SP_OK)
        rc = secrets_seal(to, name, value, len, &sealed, &sealed_len, err);
    if (rc == SP_OK) {
        store_secret s = { .name = name, .sealed = sealed, .sealed_len = sealed_len,
                           .key_id = secrets_key_id(to), .created_at = c.created_at,
                           .updated_at = c.updated_at };
        rc = store_secret_put(w, &s, NULL, err);
    }
    if (value) {
        sodium_memzero(value, len);
        free(value);
    }
    free(sealed);
    free(c.sealed);
    return rc;
}

sp_code secrets_rekey(store_conn *w, const secrets_key *from, const secrets_key *to,
                      int *moved, sp_error *err)
{
    *moved = 0;
    if (strcmp(secrets_key_id(from), secrets_key_id(to)) == 0)
        return sp_error_set(err, SP_EINVALID,
                            "the previous master key is the current one (id %s): give the "
                            "new key as the master key and the old one as the previous key",
                            secrets_key_id(to));
    rekey_scan x = { .from_id = secrets_key_id(from), .names = json_array() };
    if (!x.names)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    sp_code rc = store_secret_scan(w, false, note_previous, &x, err);
    size_t i;
    json_t *name;
    json_array_foreach(x.names, i, name) {
        if (rc)
            break;
        rc = reseal(w, from, to, json_string_value(name), err);
        if (rc == SP_OK)
            (*moved)++;
    }
    json_decref(x.names);
    return rc;
}
