/*
 * cmd_workflow.c - applying a workflow definition.
 *
 * Versions are immutable: applying content whose canonical form is already
 * stored under that name returns that version instead of a new one, so
 * re-applying the same file (with other comments or key order) is a no-op.
 * Either answer carries "warnings": assignees that name nobody (routing.c).
 */
#include "engine/engine_internal.h"

#include <string.h>

sp_code cmd_apply_workflow(engine *e, engine_cmd *cmd, int *status, json_t **body,
                           sp_error *err)
{
    const char *source = json_str(cmd->args, "source");
    const char *format = json_str(cmd->args, "format");
    if (!source)
        return sp_error_set(err, SP_EBADINPUT, "workflow source missing");
    wf_format fmt = format && strcmp(format, "json") == 0 ? WF_FORMAT_JSON : WF_FORMAT_YAML;

    workflow *wf = workflow_load(source, strlen(source), fmt, err);
    if (!wf)
        return err->code;

    int version = 0;
    json_t *warnings = NULL;
    sp_code rc = routing_warnings(e, wf, &warnings, err);
    if (rc)
        goto out;
    if ((rc = store_workflow_find_hash(e->w, wf->name, wf->hash, &version, err)))
        goto out;
    if (version > 0) {
        *status = 200;
        *body = json_pack("{s:s, s:i, s:b, s:O}", "name", wf->name, "version", version,
                          "created", 0, "warnings", warnings);
        goto out;
    }
    if ((rc = store_workflow_latest(e->w, wf->name, &version, err)))
        goto out;
    version++;

    char at[SP_TIME_BUF];
    json_t *row = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "name", wf->name,
                            "version", version, "hash", wf->hash,
                            "format", fmt == WF_FORMAT_JSON ? "json" : "yaml",
                            "source", source, "created_by", cmd->who.name,
                            "created_at", time_format(clock_now(), at));
    rc = store_workflow_put(e->w, row, err);
    json_decref(row);
    if (rc)
        goto out;
    rc = engine_audit(e, cmd->who.name, "workflow.applied", NULL, NULL,
                      json_pack("{s:s, s:i, s:s}", "name", wf->name, "version", version,
                                "hash", wf->hash), err);
    if (rc)
        goto out;
    *status = 201;
    *body = json_pack("{s:s, s:i, s:b, s:O}", "name", wf->name, "version", version,
                      "created", 1, "warnings", warnings);
    /* Not cached here: if this batch's commit fails, the cache must not
     * know a version the store does not. It loads on first use. */

out:
    json_decref(warnings);
    workflow_free(wf);
    return rc;
}
