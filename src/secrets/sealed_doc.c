/*
 * sealed_doc.c - JSON documents in the store's meta table, sealed with the
 * master key: server-side keys that must not be usable by whoever reads
 * the database alone (today: "link_keys", the decision-link signing keys -
 * with them, anyone could forge a link that approves - and "audit_key",
 * which keys the audit chain: with it, anyone could rewrite history).
 *
 * A value is "sealed:" + base64 (URL-safe, no padding) of a box sealed as
 * a secret named "meta:<name>" (secrets_seal), so it is bound to its meta
 * name as well as to the key: a box moved under another name does not
 * open. A value that is plain JSON - written before documents were sealed
 * - is read as it is and sealed at its next write, or at a master key
 * rotation.
 */
#include "secrets/secrets.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEALED_PREFIX "sealed:"
#define B64_VARIANT   sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* Every sealed document the server keeps: re-sealed at a key rotation.
 * plain_ok: a plain value may predate sealing (link_keys did); the audit key
 * was sealed from the start, so a plain one can only have been written
 * behind the server's back - accepting it would let whoever writes the
 * database choose the key the audit chain is checked with. */
static const struct {
    const char *name;
    bool plain_ok;
    const char *if_removed;     /* what removing it costs, for the error */
} sealed_docs[] = {
    { "link_keys", true, "links already sent then stop working" },
    { "audit_key", false, "the server then refuses to start on a trail keyed with it: "
                          "restore a backup instead" },
    { NULL, false, NULL },
};

static bool is_sealed(const char *text)
{
    return strncmp(text, SEALED_PREFIX, strlen(SEALED_PREFIX)) == 0;
}

static bool plain_ok(const char *name)
{
    for (int i = 0; sealed_docs[i].name; i++)
        if (strcmp(sealed_docs[i].name, name) == 0)
            return sealed_docs[i].plain_ok;
    return true;
}

static void box_name(const char *name, char out[SECRETS_NAME_MAX + 1])
{
    snprintf(out, SECRETS_NAME_MAX + 1, "meta:%s", name);
}

/* Opens a stored value with key; *doc a new reference. */
static sp_code open_value(const secrets_key *key, const char *name, const char *text,
                          json_t **doc, sp_error *err)
{
    if (!is_sealed(text)) {
        if (!plain_ok(name))
            return sp_error_set(err, SP_EINVALID, "meta %s is not sealed with the master key: "
                                "it was written behind the server's back", name);
        *doc = json_loads(text, 0, NULL);           /* written before sealing */
        return *doc ? SP_OK : sp_error_set(err, SP_ESTORE, "meta %s is not JSON", name);
    }
    const char *b64 = text + strlen(SEALED_PREFIX);
    size_t b64_len = strlen(b64), max = b64_len / 4 * 3 + 3, len = 0;
    unsigned char *box = malloc(max);
    if (!box)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    if (sodium_base642bin(box, max, b64, b64_len, NULL, &len, NULL, B64_VARIANT) != 0) {
        free(box);
        return sp_error_set(err, SP_ESTORE, "meta %s: the sealed value is not base64", name);
    }
    char bn[SECRETS_NAME_MAX + 1], *plain = NULL;
    size_t plain_len = 0;
    box_name(name, bn);
    sp_code rc = secrets_open(key, bn, box, len, &plain, &plain_len, err);
    free(box);
    if (rc)
        return rc;
    *doc = json_loadb(plain, plain_len, 0, NULL);
    sodium_memzero(plain, plain_len);
    free(plain);
    return *doc ? SP_OK : sp_error_set(err, SP_ESTORE, "meta %s: the sealed value is not JSON",
                                       name);
}

sp_code secrets_doc_get(store_conn *c, const secrets_key *key, const char *name, json_t **doc,
                        sp_error *err)
{
    *doc = NULL;
    if (!key)
        return sp_error_set(err, SP_EUNAVAIL, "meta %s: the server has no master key", name);
    char *text = NULL;
    sp_code rc = store_meta_get(c, name, &text, err);
    if (rc)
        return rc;
    rc = open_value(key, name, text, doc, err);
    sodium_memzero(text, strlen(text));
    free(text);
    return rc;
}

sp_code secrets_doc_put(store_conn *c, const secrets_key *key, const char *name,
                        const json_t *doc, sp_error *err)
{
    if (!key)
        return sp_error_set(err, SP_EUNAVAIL, "meta %s: the server has no master key", name);
    char *plain = json_dumps(doc, JSON_COMPACT);
    if (!plain)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    char bn[SECRETS_NAME_MAX + 1];
    box_name(name, bn);
    unsigned char *box = NULL;
    size_t box_len = 0;
    sp_code rc = secrets_seal(key, bn, plain, strlen(plain), &box, &box_len, err);
    sodium_memzero(plain, strlen(plain));
    free(plain);
    if (rc)
        return rc;
    size_t b64_max = sodium_base64_ENCODED_LEN(box_len, B64_VARIANT);
    char *text = malloc(strlen(SEALED_PREFIX) + b64_max);
    if (!text) {
        free(box);
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    }
    strcpy(text, SEALED_PREFIX);
    sodium_bin2base64(text + strlen(SEALED_PREFIX), b64_max, box, box_len, B64_VARIANT);
    free(box);
    rc = store_meta_put(c, name, text, err);
    free(text);
    return rc;
}

sp_code secrets_doc_rekey(store_conn *w, const secrets_key *from, const secrets_key *to,
                          const char *name, bool *moved, sp_error *err)
{
    *moved = false;
    char *text = NULL;
    sp_code rc = store_meta_get(w, name, &text, err);
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        return SP_OK;                   /* nothing stored yet */
    }
    if (rc)
        return rc;
    json_t *doc = NULL;
    /* Sealed with the current key already (a second start with the
     * previous key still configured): nothing to do. */
    sp_error probe = SP_ERROR_INIT;
    if (is_sealed(text) &&
        open_value(to, name, text, &doc, &probe) == SP_OK) {
        json_decref(doc);
        free(text);
        return SP_OK;
    }
    sp_error_clear(&probe);
    rc = open_value(from, name, text, &doc, err);
    free(text);
    if (rc == SP_OK)
        rc = secrets_doc_put(w, to, name, doc, err);
    json_decref(doc);
    *moved = rc == SP_OK;
    return rc;
}

sp_code secrets_docs_rekey(store_conn *w, const secrets_key *from, const secrets_key *to,
                           int *moved, sp_error *err)
{
    *moved = 0;
    for (int i = 0; sealed_docs[i].name; i++) {
        bool m = false;
        const char *name = sealed_docs[i].name;
        sp_code rc = secrets_doc_rekey(w, from, to, name, &m, err);
        if (rc) {
            char why[SP_ERROR_MESSAGE_MAX];
            snprintf(why, sizeof why, "%s", err->message);
            return sp_error_set(err, rc,
                                "%s (the meta document %s; restore the master key it was "
                                "sealed with, or remove it: sqlite3 DB \"DELETE FROM meta "
                                "WHERE key='%s'\" - %s)", why, name, name,
                                sealed_docs[i].if_removed);
        }
        *moved += m;
    }
    return SP_OK;
}

int secrets_docs_sealed(store_conn *c)
{
    int n = 0;
    for (int i = 0; sealed_docs[i].name; i++) {
        char *text = NULL;
        sp_error err = SP_ERROR_INIT;
        if (store_meta_get(c, sealed_docs[i].name, &text, &err) == SP_OK && is_sealed(text))
            n++;
        free(text);
        sp_error_clear(&err);
    }
    return n;
}
