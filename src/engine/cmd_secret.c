/*
 * cmd_secret.c - writing and deleting secrets (admins only).
 *
 * The value is sealed here, on the engine thread, with the master key the
 * engine was started with, and the plaintext copy in the command is wiped
 * as soon as it is sealed: the store, the audit trail and the reply only
 * ever see the name. Audit rows: secret.written {name}, secret.deleted
 * {name}. A value under SECRETS_SHORT_CHARS characters is stored with a
 * warning in the answer ("warnings": [{path, message}]) and in the log.
 */
#include "engine/engine_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static sp_code check_common(engine *e, const engine_cmd *cmd, const char **name, sp_error *err)
{
    if (!principal_is_admin(&cmd->who))
        return sp_error_set(err, SP_EFORBIDDEN, "only admins may manage secrets");
    *name = json_str(cmd->args, "name");
    if (!cmd_name_valid(*name))
        return sp_error_set(err, SP_EINVALID, "name: 1 to 64 letters, digits, '.', '_' or '-'");
    return SP_OK;
}

sp_code cmd_put_secret(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *name = NULL;
    json_t *v = json_object_get(cmd->args, "value");
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    sp_code rc = check_common(e, cmd, &name, err);
    if (rc == SP_OK && !json_is_string(v))
        rc = sp_error_set(err, SP_EBADINPUT, "value: expected a string");
    if (rc == SP_OK && !e->secrets_key)
        rc = sp_error_set(err, SP_EUNAVAIL, "secrets are not available: the server has no "
                          "master key");
    size_t chars = 0;
    for (size_t i = 0; json_is_string(v) && i < json_string_length(v); i++)
        chars += ((unsigned char)json_string_value(v)[i] & 0xC0) != 0x80;
    if (rc == SP_OK)
        rc = secrets_seal(e->secrets_key, name, json_string_value(v), json_string_length(v),
                          &sealed, &sealed_len, err);
    /* The plaintext is not needed past this point, whatever happened; this
     * copy in the queue is the last one the process made (the HTTP layer's
     * body is freed with the request). */
    if (json_is_string(v))
        sodium_memzero((char *)json_string_value(v), json_string_length(v));
    if (rc)
        return rc;
    sp_time now = clock_now();
    store_secret row = { .name = name, .sealed = sealed, .sealed_len = sealed_len,
                         .key_id = secrets_key_id(e->secrets_key), .created_at = now,
                         .updated_at = now };
    bool created = false;
    rc = store_secret_put(e->w, &row, &created, err);
    free(sealed);
    if (rc)
        return rc;
    if ((rc = engine_audit(e, cmd->who.name, "secret.written", NULL, NULL,
                           json_pack("{s:s}", "name", name), err)))
        return rc;
    char at[SP_TIME_BUF];
    *status = created ? 201 : 200;
    *body = json_pack("{s:s, s:s}", "name", name, "updated_at", time_format(now, at));
    if (chars < SECRETS_SHORT_CHARS) {
        /* Stored all the same: the value may be what a third party issued. */
        char msg[256];
        snprintf(msg, sizeof msg, "the value is %zu characters long, under %d: a step that "
                 "uses this secret and echoes its input can be probed for it by guessing "
                 "(see docs/operations/security.md)", chars, SECRETS_SHORT_CHARS);
        json_object_set_new(*body, "warnings",
                            json_pack("[{s:s, s:s}]", "path", "value", "message", msg));
        log_warn("secrets: secret %s was stored with a value of %zu characters, under %d; a "
                 "step that uses it and echoes its input can be probed for it", name, chars,
                 SECRETS_SHORT_CHARS);
    }
    return SP_OK;
}

sp_code cmd_delete_secret(engine *e, engine_cmd *cmd, int *status, json_t **body, sp_error *err)
{
    const char *name = NULL;
    sp_code rc = check_common(e, cmd, &name, err);
    if (rc == SP_EINVALID)      /* a name no secret can have: like any unknown one */
        return sp_error_set(err, SP_ENOTFOUND, "no such secret");
    if (rc)
        return rc;
    if ((rc = store_secret_delete(e->w, name, err)))
        return rc;
    if ((rc = engine_audit(e, cmd->who.name, "secret.deleted", NULL, NULL,
                           json_pack("{s:s}", "name", name), err)))
        return rc;
    *status = 200;
    *body = json_pack("{s:s, s:b}", "name", name, "deleted", 1);
    return SP_OK;
}
