/*
 * fuzz_json_api.c - libFuzzer harness for the API's JSON body path and the
 * pure request validators:
 *   json_parse_limited (deep-JSON refusal, duplicate keys) -> json_depth,
 *   json_canonical, api_check_fields (several field tables), JSON pointers,
 *   workflow_check_schema / wf_schema_check (input_schema vs a run input),
 *   api_* string validators, api_parse_wait/limit/count, duration_parse.
 * Input: BODY ['\0' SECOND]. SECOND is a pointer / schema text / header value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api/api_internal.h"
#include "core/clock.h"
#include "core/jsonx.h"
#include "workflow/wf_internal.h"
#include "workflow/workflow.h"

static const api_field run_fields[] = {
    { "workflow", API_T_STRING, true, 64 }, { "version", API_T_POSINT, false, 1000000 },
    { "input", API_T_ANY, false, 0 },       { "title", API_T_TEXT, false, API_TITLE_MAX },
    { "tags", API_T_NAMES, false, 16 },     { "dry", API_T_BOOL, false, 0 },
    { "meta", API_T_OBJECT, false, 0 },     { NULL, 0, false, 0 },
};

static void strings(const char *s, size_t n)
{
    sp_error err = SP_ERROR_INIT;
    int64_t ms, cnt;
    int lim;
    (void)api_name_valid(s);
    (void)api_assignee_valid(s);
    (void)api_email_valid(s);
    (void)api_idem_key_valid(s);
    (void)api_utf8_text(s, n);
    (void)api_workflow_format(s);
    api_parse_wait(s, 30, &ms, &err);
    sp_error_clear(&err);
    api_parse_limit(s, 50, 500, &lim, &err);
    sp_error_clear(&err);
    api_parse_count(s, "offset", 0, &cnt, &err);
    sp_error_clear(&err);
    (void)duration_parse(s, &ms);
    sp_time t;
    (void)time_parse(s, &t);
    static const char *const words[] = { "approve", "reject", "edit", NULL };
    api_check_word(s, words, "decision", &err);
    sp_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 100000)
        return 0;
    const uint8_t *z = memchr(data, 0, size);
    size_t n1 = z ? (size_t)(z - data) : size;
    char *body = malloc(size + 1);
    memcpy(body, data, size);
    body[size] = 0;
    const char *second = z ? body + n1 + 1 : "";
    size_t n2 = z ? size - n1 - 1 : 0;

    sp_error err = SP_ERROR_INIT;
    json_t *v = json_parse_limited(body, size, SP_JSON_MAX_DEPTH, "request body", &err);
    sp_error_clear(&err);
    if (!v && z)
        v = json_parse_limited(body, n1, SP_JSON_MAX_DEPTH, "request body", &err);
    sp_error_clear(&err);
    if (v) {
        int d = json_depth(v);
        if (d > SP_JSON_MAX_DEPTH)
            __builtin_trap();       /* the depth limit was bypassed */
        char *canon = json_canonical(v);
        if (canon) {
            /* canonical text must parse back to an equal value */
            json_t *back = json_loads(canon, JSON_DECODE_ANY, NULL);
            if (!back || !json_equal(back, v))
                __builtin_trap();
            json_decref(back);
            free(canon);
        }
        api_check_fields(v, run_fields, "request body", &err);
        sp_error_clear(&err);
        api_check_assignees(v, "to", &err);
        sp_error_clear(&err);
        (void)api_lp_still_waiting("run", v);
        (void)api_lp_still_waiting("gate", v);

        char *ptr = strndup(second, n2);
        (void)json_pointer_get(v, ptr);
        json_t *copy = json_deep_copy(v);
        json_pointer_set(copy, ptr, json_string("x"));
        json_decref(copy);
        free(ptr);

        /* SECOND as an input_schema for v (only when it passes the load check) */
        json_t *schema = n2 ? json_parse_limited(second, n2, SP_JSON_MAX_DEPTH, "schema", &err)
                            : NULL;
        sp_error_clear(&err);
        if (schema) {
            wf_ctx c = { .doc = NULL, .problems = json_array() };
            wf_schema_check(&c, "input_schema", schema);
            if (json_array_size(c.problems) == 0) {
                workflow_check_schema(schema, v, "input", &err);
                sp_error_clear(&err);
            }
            json_decref(c.problems);
            json_decref(schema);
        }
        json_decref(v);
    }
    strings(body, n1);
    if (z)
        strings(second, strnlen(second, n2));
    free(body);
    return 0;
}
