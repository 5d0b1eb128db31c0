/*
 * wfcache.c - loaded workflows by name@version.
 *
 * A run is pinned to its workflow version, and versions never change, so a
 * workflow is parsed and its jq compiled once per process, on first use,
 * and kept: definitions are few and small next to the runs they drive.
 */
#include "engine/engine_internal.h"

#include <stdlib.h>
#include <string.h>

static unsigned bucket_of(const char *name, int version)
{
    unsigned h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ (unsigned)version) * 16777619u;
    return h % WF_CACHE_BUCKETS;
}

void wfcache_put(engine *e, workflow *wf)
{
    wf_entry *entry = malloc(sizeof *entry);
    if (!entry) {
        workflow_free(wf);
        return;
    }
    unsigned b = bucket_of(wf->name, wf->version);
    entry->wf = wf;
    entry->next = e->wf_cache[b];
    e->wf_cache[b] = entry;
}

static workflow *lookup(engine *e, const char *name, int version)
{
    for (wf_entry *en = e->wf_cache[bucket_of(name, version)]; en; en = en->next)
        if (en->wf->version == version && strcmp(en->wf->name, name) == 0)
            return en->wf;
    return NULL;
}

sp_code wfcache_get(engine *e, const char *name, int version, workflow **out, sp_error *err)
{
    if (!name)
        return sp_error_set(err, SP_EINVALID, "workflow name missing");
    if (version <= 0) {
        sp_code rc = store_workflow_latest(e->w, name, &version, err);
        if (rc)
            return rc;
        if (version == 0)
            return sp_error_set(err, SP_ENOTFOUND, "no workflow named '%s'", name);
    }
    if ((*out = lookup(e, name, version)))
        return SP_OK;

    json_t *row = NULL;
    sp_code rc = store_workflow_get(e->w, name, version, &row, err);
    if (rc == SP_ENOTFOUND)
        return sp_error_set(err, SP_ENOTFOUND, "workflow '%s' has no version %d", name, version);
    if (rc)
        return rc;
    const char *source = json_str(row, "source");
    const char *format = json_str(row, "format");
    workflow *wf = workflow_load(source ? source : "", source ? strlen(source) : 0,
                                 format && strcmp(format, "json") == 0 ? WF_FORMAT_JSON
                                                                       : WF_FORMAT_YAML, err);
    json_decref(row);
    if (!wf)
        return sp_error_set(err, SP_EINTERNAL, "stored workflow %s@%d no longer loads: %s",
                            name, version, err ? err->message : "");
    wf->version = version;
    wfcache_put(e, wf);
    *out = wf;
    return SP_OK;
}

void wfcache_clear(engine *e)
{
    for (int b = 0; b < WF_CACHE_BUCKETS; b++) {
        wf_entry *en = e->wf_cache[b];
        while (en) {
            wf_entry *next = en->next;
            workflow_free(en->wf);
            free(en);
            en = next;
        }
        e->wf_cache[b] = NULL;
    }
}
