/*
 * err.h - the one error convention of spojit.
 *
 * Functions that can fail return an sp_code and, when given an sp_error,
 * fill it with a message fit to show a user as it is ("steps[2].next: unknown
 * step 'foo' (line 14, column 11)"), plus optional structured details.
 *
 * The codes, their API names and their HTTP statuses come from one X-macro
 * list, so a code can never lack a name or a status.
 */
#ifndef SP_ERR_H
#define SP_ERR_H

#include <jansson.h>
#include <stdarg.h>

/*      name           api code          HTTP */
#define SP_CODES(X)                                          \
    X(SP_OK,           "ok",               200)              \
    X(SP_EBADINPUT,    "bad_input",        400)              \
    X(SP_EUNAUTH,      "unauthorized",     401)              \
    X(SP_EFORBIDDEN,   "forbidden",        403)              \
    X(SP_ENOTFOUND,    "not_found",        404)              \
    X(SP_EMETHOD,      "method_not_allowed", 405)            \
    X(SP_ECONFLICT,    "conflict",         409)              \
    X(SP_EEXPIRED,     "expired",          409)              \
    X(SP_ETOOLARGE,    "too_large",        413)              \
    X(SP_EINVALID,     "invalid",          422)              \
    X(SP_ERATE,        "rate_limited",     429)              \
    X(SP_EINTERNAL,    "internal",         500)              \
    X(SP_ENOMEM,       "out_of_memory",    500)              \
    X(SP_ESTORE,       "store_error",      500)              \
    X(SP_EUNAVAIL,     "unavailable",      503)

typedef enum {
#define SP_CODE_ENUM(name, api, http) name,
    SP_CODES(SP_CODE_ENUM)
#undef SP_CODE_ENUM
    SP_CODE_COUNT
} sp_code;

#define SP_ERROR_MESSAGE_MAX 1024

typedef struct sp_error {
    sp_code code;
    char message[SP_ERROR_MESSAGE_MAX];
    json_t *details;            /* owned; NULL or any JSON value */
} sp_error;

#define SP_ERROR_INIT { SP_OK, "", NULL }

/* The API name ("bad_input") and HTTP status (400) of a code. */
const char *sp_code_name(sp_code code);
int sp_code_http_status(sp_code code);

/*
 * Sets err (if not NULL) and returns code, so a failing path can say
 * `return sp_error_set(err, SP_EINVALID, "steps[%d]: ...", i);`.
 * Replaces any earlier message; keeps earlier details.
 */
sp_code sp_error_set(sp_error *err, sp_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
sp_code sp_error_vset(sp_error *err, sp_code code, const char *fmt, va_list ap);

/* Attaches details to err; steals the reference to details. */
void sp_error_details(sp_error *err, json_t *details);

/* Frees the details and resets err to SP_OK. */
void sp_error_clear(sp_error *err);

/* Moves src into dst (dst's old details are freed; src is reset). */
void sp_error_move(sp_error *dst, sp_error *src);

/* {"error": {"code", "message", "details"?}}; a new reference. */
json_t *sp_error_to_json(const sp_error *err);

#endif
