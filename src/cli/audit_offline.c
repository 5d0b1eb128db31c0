/*
 * audit_offline.c - `spojit audit verify --db URL`: the one client command
 * that does not go through the server. It opens the store itself and runs
 * the same audit_verify the server's GET /v1/audit/verify runs, so a backup
 * or a copy taken off a suspect machine can be checked anywhere.
 *
 * It only reads: SQLite in WAL mode lets it run beside a live server.
 */
#include "cli/cli.h"

#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "store/store.h"

int cli_audit_verify_offline(const char *url, bool json)
{
    /* Opening a missing SQLite file would create an empty store and report
     * "ok: 0 rows", which is the wrong answer to a typo. */
    if (strncmp(url, "sqlite:", 7) == 0 && access(url + 7, F_OK) != 0) {
        cli_errorf("no database at %s", url + 7);
        return CLI_FAIL;
    }
    sp_error err = SP_ERROR_INIT;
    store *s = store_open(url, &err);
    if (!s) {
        cli_errorf("cannot open %s: %s", url, err.message);
        sp_error_clear(&err);
        return CLI_FAIL;
    }
    store_conn *c = store_reader(s);
    json_t *result = NULL;
    sp_code code = audit_verify(c, &result, &err);
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
    store_close(s);
    return rc;
}
