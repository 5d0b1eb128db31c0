/*
 * workflow.c - workflow_load: parse, validate everything, compile, hash.
 *
 * The order matters in one place only: step ids are collected from every
 * step before any step is validated, so a reference to a later step
 * resolves and every unknown one is reported. Everything else checks on,
 * whatever failed before it, and the problems are reported together.
 *
 * Ownership: the returned workflow owns all it points to (strings, steps,
 * gates, templates, the program, the definition); workflow_free releases it.
 */
#include "workflow/wf_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"

static const char *const top_keys[] = {
    "name", "description", "input_schema", "steps", "triggers", NULL
};

/* [chars]{1,max}: the shape of workflow names and step ids. */
static bool word_ok(const char *s, bool upper)
{
    size_t n = strlen(s);
    if (n == 0 || n > WF_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || (upper && *s >= 'A' && *s <= 'Z')))
            return false;
    return true;
}

static void check_header(wf_ctx *c, const json_t *root, workflow *wf)
{
    const json_t *v = json_object_get(root, "name");
    wf_check_keys(c, "", root, top_keys);
    if (!v) {
        wf_problem(c, "", "a workflow needs a 'name'");
    } else if (wf_want_string(c, "name", v)) {
        if (!word_ok(json_string_value(v), false))
            wf_problem(c, "name", "'%s' is not a workflow name (1-64 of a-z, 0-9, _ and -)",
                       json_string_value(v));
        else
            wf->name = strdup(json_string_value(v));
    }
    if ((v = json_object_get(root, "description")) && wf_want_string(c, "description", v))
        wf->description = strdup(json_string_value(v));
    if ((v = json_object_get(root, "input_schema"))) {
        wf_schema_check(c, "input_schema", v);
        if (json_is_object(v))
            wf->input_schema = json_incref((json_t *)v);
    }
    /* Triggers (webhook, schedule) are not built yet: the key is accepted so
     * definitions written for them load, and checked only for being a list. */
    if ((v = json_object_get(root, "triggers")))
        wf_want_array(c, "triggers", v);
}

/* Pass 1: every step's id, into c->ids (id -> first index). */
static void collect_ids(wf_ctx *c, const json_t *steps)
{
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s) {
        char path[WF_PATH_MAX], ip[WF_PATH_MAX];
        wf_path_index(path, "steps", i);
        if (!wf_want_object(c, path, s))
            continue;
        const json_t *id = json_object_get(s, "id");
        wf_path_key(ip, path, "id");
        if (!id) {
            wf_problem(c, path, "a step needs an 'id'");
            continue;
        }
        if (!wf_want_string(c, ip, id))
            continue;
        const char *name = json_string_value(id);
        const json_t *first = json_object_get(c->ids, name);
        if (!word_ok(name, true))
            wf_problem(c, ip, "'%s' is not a step id (1-64 of A-Z, a-z, 0-9, _ and -)", name);
        else if (strcmp(name, "end") == 0 || strcmp(name, "fail") == 0)
            wf_problem(c, ip, "'%s' is reserved for flow targets; choose another id", name);
        else if (first)
            wf_problem(c, ip, "duplicate step id '%s' (first used by steps[%lld])", name,
                       (long long)json_integer_value(first));
        else
            json_object_set_new(c->ids, name, json_integer((json_int_t)i));
    }
}

static void check_steps(wf_ctx *c, const json_t *root, workflow *wf)
{
    const json_t *steps = json_object_get(root, "steps");
    if (!steps) {
        wf_problem(c, "", "a workflow needs 'steps'");
        return;
    }
    if (!wf_want_array(c, "steps", steps))
        return;
    size_t n = json_array_size(steps);
    if (n == 0) {
        wf_problem(c, "steps", "needs at least one step");
        return;
    }
    if (n > WF_MAX_STEPS) {
        wf_problem(c, "steps", "has %zu steps; the limit is %d", n, WF_MAX_STEPS);
        return;
    }
    collect_ids(c, steps);
    if (!(wf->steps = calloc(n, sizeof *wf->steps))) {
        wf_problem(c, "steps", "out of memory");
        return;
    }
    wf->nsteps = c->nsteps = n;
    for (size_t i = 0; i < n; i++)
        wf_step_build(c, i, json_array_get(steps, i), &wf->steps[i]);
    wf_flow_check_cycles(c, wf);
}

/* Joins the expressions into one program and fingerprints the definition. */
static sp_code finish(wf_ctx *c, workflow *wf, sp_error *err)
{
    expr_builder *b = c->builder;
    c->builder = NULL;
    if (!(wf->program = expr_builder_finish(b, err)))
        return err && err->code ? err->code : SP_EINTERNAL;
    wf->definition = json_incref(c->doc->root);
    char *canon = json_canonical(wf->definition);
    if (!canon)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    sha256_hex(canon, strlen(canon), wf->hash);
    free(canon);
    return SP_OK;
}

static void expression_problem(void *ctx, int idx, const char *message)
{
    wf_ctx *c = ctx;
    const char *path = json_string_value(json_array_get(c->expr_paths, (size_t)(idx < 0 ? 0 : idx)));
    wf_problem(c, idx >= 0 && path ? path : "", "%s", message);
}

workflow *workflow_load(const char *text, size_t len, wf_format format, sp_error *err)
{
    wf_doc doc;
    if (wf_parse(text, len, format, &doc, err))
        return NULL;
    wf_ctx c = { .doc = &doc, .problems = json_array(), .builder = expr_builder_new(),
                 .expr_paths = json_array(), .ids = json_object() };
    workflow *wf = calloc(1, sizeof *wf);
    if (!wf || !c.problems || !c.builder || !c.expr_paths || !c.ids) {
        sp_error_set(err, SP_ENOMEM, "out of memory");
        goto fail;
    }
    if (!json_is_object(doc.root)) {
        wf_problem(&c, "", "a workflow definition must be a mapping, got %s",
                   wf_type_name(doc.root));
    } else {
        check_header(&c, doc.root, wf);
        check_steps(&c, doc.root, wf);
        /* One compile of every expression together; each bad one named. */
        expr_builder_check(c.builder, expression_problem, &c);
    }
    if (json_array_size(c.problems) > 0) {
        wf_problems_to_error(c.problems, "workflow", err);
        c.problems = NULL;
        goto fail;
    }
    if (finish(&c, wf, err))
        goto fail;
    json_decref(c.problems);
    json_decref(c.ids);
    json_decref(c.expr_paths);
    wf_doc_free(&doc);
    return wf;
fail:
    workflow_free(wf);
    expr_builder_free(c.builder);
    json_decref(c.problems);
    json_decref(c.ids);
    json_decref(c.expr_paths);
    wf_doc_free(&doc);
    return NULL;
}

void workflow_free(workflow *wf)
{
    if (!wf)
        return;
    for (size_t i = 0; i < wf->nsteps; i++)
        wf_step_free(&wf->steps[i]);
    free(wf->steps);
    expr_program_free(wf->program);
    free(wf->name);
    free(wf->description);
    json_decref(wf->input_schema);
    json_decref(wf->definition);
    free(wf);
}

int workflow_step_index(const workflow *wf, const char *id)
{
    if (!wf || !id)
        return -1;
    for (size_t i = 0; i < wf->nsteps; i++)
        if (wf->steps[i].id && strcmp(wf->steps[i].id, id) == 0)
            return (int)i;
    return -1;
}
