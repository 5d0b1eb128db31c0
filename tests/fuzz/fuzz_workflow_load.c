/*
 * fuzz_workflow_load.c - libFuzzer harness for workflow_load (YAML and JSON).
 * Text starting with '{' (after whitespace) is also loaded as WF_FORMAT_JSON;
 * everything is loaded as WF_FORMAT_YAML. Single-threaded (libjq).
 * On success the hot read-only helpers are exercised too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "workflow/workflow.h"

static void one(const char *text, size_t len, wf_format f)
{
    sp_error err = SP_ERROR_INIT;
    workflow *wf = workflow_load(text, len, f, &err);
    if (wf) {
        for (size_t i = 0; i < wf->nsteps; i++)
            (void)workflow_step_index(wf, wf->steps[i].id);
        workflow_free(wf);
    }
    sp_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > WF_MAX_SOURCE + 16)
        return 0;
    /* NUL-terminated copy; len passed explicitly (the API does the same). */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    one(text, size, WF_FORMAT_YAML);
    size_t i = 0;
    while (i < size && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
        i++;
    if (i < size && text[i] == '{')
        one(text, size, WF_FORMAT_JSON);
    free(text);
    return 0;
}
