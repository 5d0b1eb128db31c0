/*
 * jsonx.h - jansson helpers shared by every layer.
 *
 * Ownership follows jansson: functions named *_new or returning json_t*
 * give the caller a new reference; arguments are borrowed unless the
 * comment says "steals".
 */
#ifndef SP_JSONX_H
#define SP_JSONX_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

/* Deepest nesting of arrays/objects spojit accepts anywhere (bodies,
 * inputs, definitions). Deeper input is rejected with a clear error. */
#define SP_JSON_MAX_DEPTH 64

/* Nesting depth of v (a scalar is 0, [] is 1). */
int json_depth(const json_t *v);

/*
 * Parses text of len bytes as one JSON value, rejecting anything deeper than
 * max_depth, with the line and column of a syntax error in the message.
 * The whole of len counts: a NUL byte anywhere, or anything but white space
 * after the value, is refused naming where it is. `what` names the input
 * in messages ("request body"). Returns a new reference or NULL with err
 * set (SP_EBADINPUT).
 */
json_t *json_parse_limited(const char *text, size_t len, int max_depth,
                           const char *what, sp_error *err);

/*
 * json_parse_limited for text that may hold secrets (passwords, secret
 * values: every API request body): its messages name the position and the
 * kind of problem and never quote the text, so nothing of it reaches a
 * client, a log or an audit row through an error.
 */
json_t *json_parse_private(const char *text, size_t len, int max_depth,
                           const char *what, sp_error *err);

/* The line and column (1-based; the column counted in UTF-8 characters) of
 * byte pos of s, for messages that say where in a text a problem is. */
void text_line_column(const char *s, size_t pos, int *line, int *column);

/* Canonical form: compact, keys sorted, UTF-8 as is. malloc'd; caller frees. */
char *json_canonical(const json_t *v);

/* Borrowed string member or NULL when absent or not a string. */
const char *json_str(const json_t *obj, const char *key);

/* The length of the well-formed UTF-8 sequence at s, n bytes left (RFC
 * 3629: no overlong forms, no surrogates, nothing past U+10FFFF); 0 when
 * malformed. */
size_t utf8_sequence(const unsigned char *s, size_t n);

/* Makes s valid UTF-8 in place: every byte that does not start a complete,
 * well-formed sequence becomes '?'. For text cut to a buffer's size (which
 * may end mid-character) before it goes into JSON, which refuses invalid
 * UTF-8 - a message must never be lost for that. Returns s. */
char *utf8_sanitize(char *s);

/* Lowercase hex of SHA-256(data); out needs 65 bytes. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* Looks up an RFC 6901 JSON pointer; borrowed result or NULL. */
json_t *json_pointer_get(json_t *root, const char *pointer);
/*
 * Replaces the value at an existing pointer (steals value). Returns 0, or -1
 * when the pointer is malformed or its parent does not exist (value freed).
 */
int json_pointer_set(json_t *root, const char *pointer, json_t *value);

#endif
