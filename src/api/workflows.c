/*
 * workflows.c - POST /v1/workflows, GET /v1/workflows[/{name}].
 *
 * A definition arrives as text (YAML or JSON by Content-Type) and goes to
 * the engine as it is: parsing and validation belong to the engine thread
 * (workflow_load compiles jq). Only what would make the text unusable as a
 * JSON string is refused here.
 */
#include "api/api_internal.h"

#include <string.h>

#include "core/jsonx.h"

void api_workflow_apply(api_call *c)
{
    const char *ct = http_header(c->req, "Content-Type");
    const char *format = api_workflow_format(ct);
    if (!format) {
        api_fail(c->req, SP_EBADINPUT,
                 "Content-Type: expected application/yaml (or application/x-yaml, text/yaml) "
                 "or application/json");
        return;
    }
    size_t len = 0;
    const char *body = http_body(c->req, &len);
    if (!body || len == 0) {
        api_fail(c->req, SP_EBADINPUT, "request body: expected a workflow definition, got nothing");
        return;
    }
    const char *nul = memchr(body, '\0', len);
    if (nul) {
        int line, column;
        text_line_column(body, (size_t)(nul - body), &line, &column);
        api_fail(c->req, SP_EBADINPUT,
                 "request body: a NUL byte at line %d, column %d (byte %zu); a definition is "
                 "text", line, column, (size_t)(nul - body) + 1);
        return;
    }
    if (!api_utf8_text(body, len)) {
        api_fail(c->req, SP_EBADINPUT, "request body: not UTF-8 text");
        return;
    }
    if (strcmp(format, "json") == 0) {
        /* Catches bad or too-deep JSON with its line and column before the
         * engine is involved. */
        sp_error err = SP_ERROR_INIT;
        json_t *v = json_parse_limited(body, len, SP_JSON_MAX_DEPTH, "request body", &err);
        if (!v) {
            api_fail_err(c->req, &err);
            return;
        }
        json_decref(v);
    }
    json_t *args = json_pack("{s:s%, s:s}", "source", body, len, "format", format);
    if (!args) {
        api_fail(c->req, SP_ENOMEM, "out of memory");
        return;
    }
    api_submit(c, ENGINE_APPLY_WORKFLOW, args, 0);
}

void api_workflow_list(api_call *c)
{
    sp_error err = SP_ERROR_INIT;
    json_t *items = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = store_workflow_list(r, &items, &err);
    store_release(r);
    if (rc) {
        api_fail_err(c->req, &err);
        return;
    }
    http_reply_json(c->req, 200, json_pack("{s:o}", "items", items));
}

/* The stored row as the API shows it: the source as applied, and for JSON
 * definitions the parsed document as "definition". */
static json_t *workflow_view(const json_t *row)
{
    json_t *out = json_deep_copy(row);
    const char *format = json_str(row, "format");
    const char *source = json_str(row, "source");
    if (out && format && source && strcmp(format, "json") == 0) {
        json_t *def = json_loads(source, 0, NULL);
        if (def)
            json_object_set_new(out, "definition", def);
    }
    return out;
}

void api_workflow_get(api_call *c)
{
    const char *name = http_param(c->req, 0);
    int64_t version;
    sp_error err = SP_ERROR_INIT;
    if (!api_name_valid(name)) {
        api_fail(c->req, SP_ENOTFOUND, "no such workflow");
        return;
    }
    if (api_parse_count(http_query(c->req, "version"), "version", 0, &version, &err)) {
        api_fail_err(c->req, &err);
        return;
    }
    if (version > 1000000000) {
        api_fail(c->req, SP_ENOTFOUND, "no version %lld of workflow '%s'", (long long)version,
                 name);
        return;
    }
    json_t *row = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = store_workflow_get(r, name, (int)version, &row, &err);
    store_release(r);
    if (rc) {
        api_fail_err(c->req, &err);
        return;
    }
    http_reply_json(c->req, 200, workflow_view(row));
    json_decref(row);
}
