/* err.c - the error table and helpers; see err.h. */
#include "core/err.h"

#include "core/jsonx.h"

#include <stdio.h>
#include <string.h>

static const struct { const char *name; int http; } code_table[] = {
#define SP_CODE_ROW(name, api, http) { api, http },
    SP_CODES(SP_CODE_ROW)
#undef SP_CODE_ROW
};

const char *sp_code_name(sp_code code)
{
    if ((unsigned)code >= SP_CODE_COUNT)
        return "internal";
    return code_table[code].name;
}

int sp_code_http_status(sp_code code)
{
    if ((unsigned)code >= SP_CODE_COUNT)
        return 500;
    return code_table[code].http;
}

sp_code sp_error_vset(sp_error *err, sp_code code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        /* Cut to size (or quoting the caller's bytes), it may not be UTF-8;
         * the API's JSON must be. */
        utf8_sanitize(err->message);
    }
    return code;
}

sp_code sp_error_set(sp_error *err, sp_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sp_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void sp_error_details(sp_error *err, json_t *details)
{
    if (!err) {
        json_decref(details);
        return;
    }
    json_decref(err->details);
    err->details = details;
}

void sp_error_clear(sp_error *err)
{
    if (!err)
        return;
    json_decref(err->details);
    err->details = NULL;
    err->code = SP_OK;
    err->message[0] = '\0';
}

void sp_error_move(sp_error *dst, sp_error *src)
{
    if (!dst) {
        sp_error_clear(src);
        return;
    }
    json_decref(dst->details);
    *dst = *src;
    src->details = NULL;
    src->code = SP_OK;
    src->message[0] = '\0';
}

json_t *sp_error_to_json(const sp_error *err)
{
    json_t *body = json_pack("{s:s, s:s}", "code", sp_code_name(err->code),
                             "message", err->message[0] ? err->message
                                                        : sp_code_name(err->code));
    if (body && err->details)
        json_object_set(body, "details", err->details);
    return json_pack("{s:o}", "error", body);
}
