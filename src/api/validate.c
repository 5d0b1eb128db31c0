/*
 * validate.c - the pure checks behind strict request validation.
 *
 * Nothing here touches HTTP, the store or the engine, so every rule can be
 * unit-tested at its edges (tests/unit/test_api_validate.c). Messages name
 * the field and what was expected, and are shown to the caller as they are.
 */
#include "api/api_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/jsonx.h"

static const char *type_words(api_type t)
{
    switch (t) {
    case API_T_STRING: return "a non-empty string";
    case API_T_TEXT: return "a string";
    case API_T_POSINT: return "an integer of at least 1";
    case API_T_BOOL: return "true or false";
    case API_T_OBJECT: return "an object";
    case API_T_NAMES: return "a list of strings";
    case API_T_ANY: break;
    }
    return "any JSON value";
}

static const api_field *find_field(const api_field *fields, const char *name)
{
    for (const api_field *f = fields; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* Characters, not bytes: jansson strings are valid UTF-8. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static sp_code check_string(const json_t *v, const api_field *f, const char *where,
                            sp_error *err)
{
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', len))
        return sp_error_set(err, SP_EBADINPUT, "field '%s' in %s: contains a NUL character",
                            f->name, where);
    if (f->type == API_T_STRING && len == 0)
        return sp_error_set(err, SP_EBADINPUT, "field '%s' in %s: must not be empty", f->name,
                            where);
    if (f->max > 0 && utf8_chars(s, len) > (size_t)f->max)
        return sp_error_set(err, SP_EBADINPUT, "field '%s' in %s: longer than %lld characters",
                            f->name, where, (long long)f->max);
    return SP_OK;
}

static sp_code check_one(const json_t *v, const api_field *f, const char *where, sp_error *err)
{
    bool ok;
    switch (f->type) {
    case API_T_STRING:
    case API_T_TEXT:
        if (!json_is_string(v))
            break;
        return check_string(v, f, where, err);
    case API_T_POSINT:
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            break;
        if (f->max > 0 && json_integer_value(v) > f->max)
            return sp_error_set(err, SP_EBADINPUT, "field '%s' in %s: at most %lld", f->name,
                                where, (long long)f->max);
        return SP_OK;
    case API_T_BOOL:
        if (!json_is_boolean(v))
            break;
        return SP_OK;
    case API_T_OBJECT:
        if (!json_is_object(v))
            break;
        return SP_OK;
    case API_T_NAMES: {
        if (!json_is_array(v))
            break;
        if (f->max > 0 && json_array_size(v) > (size_t)f->max)
            return sp_error_set(err, SP_EBADINPUT, "field '%s' in %s: more than %lld entries",
                                f->name, where, (long long)f->max);
        size_t i;
        json_t *e;
        ok = true;
        json_array_foreach(v, i, e)
            if (!json_is_string(e) || json_string_length(e) == 0 ||
                memchr(json_string_value(e), '\0', json_string_length(e)))
                ok = false;
        if (!ok)
            break;
        return SP_OK;
    }
    case API_T_ANY:
        return SP_OK;
    }
    return sp_error_set(err, SP_EBADINPUT, "field '%s' in %s: expected %s", f->name, where,
                        type_words(f->type));
}

sp_code api_check_fields(const json_t *obj, const api_field *fields, const char *where,
                         sp_error *err)
{
    if (!json_is_object(obj))
        return sp_error_set(err, SP_EBADINPUT, "%s: expected a JSON object", where);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const api_field *f = find_field(fields, key);
        if (!f)
            /* %.64s: the name is the caller's, keep the message bounded */
            return sp_error_set(err, SP_EBADINPUT, "unknown field '%.64s' in %s", key, where);
        sp_code rc = check_one(v, f, where, err);
        if (rc)
            return rc;
    }
    for (const api_field *f = fields; f->name; f++)
        if (f->required && !json_object_get(obj, f->name))
            return sp_error_set(err, SP_EBADINPUT, "missing field '%s' in %s", f->name, where);
    return SP_OK;
}

sp_code api_check_word(const char *s, const char *const *words, const char *field,
                       sp_error *err)
{
    if (s)
        for (const char *const *w = words; *w; w++)
            if (strcmp(s, *w) == 0)
                return SP_OK;
    char list[256] = "";
    for (const char *const *w = words; *w; w++) {
        if (*list)
            strncat(list, w[1] ? ", " : " or ", sizeof list - strlen(list) - 1);
        strncat(list, *w, sizeof list - strlen(list) - 1);
    }
    return sp_error_set(err, SP_EINVALID, "%s: must be %s", field, list);
}

bool api_name_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '.' && s[n] != '_' && s[n] != '-')
            return false;
    return n >= 1 && n <= API_NAME_MAX;
}

bool api_assignee_valid(const char *s)
{
    if (!s)
        return false;
    if (strncmp(s, "user:", 5) == 0 || strncmp(s, "team:", 5) == 0)
        return api_name_valid(s + 5);
    return false;
}

bool api_email_valid(const char *s)
{
    if (!s)
        return false;
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strchr(at + 1, '@'))
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7F)
            return false;
    return true;
}

sp_code api_check_assignees(const json_t *to, const char *field, sp_error *err)
{
    if (!json_is_array(to) || json_array_size(to) == 0)
        return sp_error_set(err, SP_EINVALID,
                            "%s: a non-empty list of \"user:NAME\" or \"team:NAME\"", field);
    if (json_array_size(to) > API_ASSIGNEES_MAX)
        return sp_error_set(err, SP_EINVALID, "%s: more than %d assignees", field,
                            API_ASSIGNEES_MAX);
    size_t i;
    json_t *e;
    json_array_foreach(to, i, e)
        if (!api_assignee_valid(json_string_value(e)))
            return sp_error_set(err, SP_EINVALID,
                                "%s[%zu]: expected \"user:NAME\" or \"team:NAME\"", field, i);
    return SP_OK;
}

bool api_utf8_text(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (p[i] == 0)
            return false;
        size_t n = utf8_sequence(p + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

bool api_idem_key_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7E)
            return false;
    return n >= 1 && n <= API_IDEM_KEY_MAX;
}

sp_code api_parse_wait(const char *s, int max_s, int64_t *ms, sp_error *err)
{
    *ms = 0;
    if (!s)
        return SP_OK;
    /* strtod would also take "inf", "nan", hex and leading spaces: only
     * plain decimals ("30", "0.5") are a number of seconds here. */
    size_t digits = 0, dots = 0, n = strlen(s);
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (*p == '.')
            dots++;
        else
            return sp_error_set(err, SP_EBADINPUT,
                                "wait: expected a non-negative number of seconds");
    }
    if (!digits || dots > 1 || n > 32)
        return sp_error_set(err, SP_EBADINPUT, "wait: expected a non-negative number of seconds");
    double v = strtod(s, NULL);
    if (max_s <= 0)
        max_s = API_DEFAULT_MAX_WAIT_S;
    if (!(v < (double)max_s))
        v = max_s;
    *ms = (int64_t)ceil(v * 1000.0);
    return SP_OK;
}

/* A plain decimal integer within [0, INT64_MAX]. */
static int parse_uint(const char *s, int64_t *out)
{
    if (!s || !*s || strlen(s) > 19)
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno)
        return -1;
    *out = v;
    return 0;
}

sp_code api_parse_limit(const char *s, int def, int max, int *out, sp_error *err)
{
    int64_t v;
    if (!s) {
        *out = def;
        return SP_OK;
    }
    if (parse_uint(s, &v) != 0 || v < 1)
        return sp_error_set(err, SP_EBADINPUT, "limit: expected an integer of at least 1");
    *out = v > max ? max : (int)v;
    return SP_OK;
}

sp_code api_parse_count(const char *s, const char *name, int64_t def, int64_t *out,
                        sp_error *err)
{
    if (!s) {
        *out = def;
        return SP_OK;
    }
    if (parse_uint(s, out) != 0)
        return sp_error_set(err, SP_EBADINPUT, "%s: expected a non-negative integer", name);
    return SP_OK;
}

const char *api_workflow_format(const char *content_type)
{
    static const struct {
        const char *type;
        const char *format;
    } types[] = {
        { "application/yaml", "yaml" }, { "application/x-yaml", "yaml" },
        { "text/yaml", "yaml" },        { "text/x-yaml", "yaml" },
        { "application/json", "json" },
    };
    if (!content_type)
        return NULL;
    const char *s = content_type;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strcspn(s, "; \t");      /* parameters such as charset are ignored */
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strlen(types[i].type) == n && strncasecmp(s, types[i].type, n) == 0)
            return types[i].format;
    return NULL;
}

bool api_lp_still_waiting(const char *kind, const json_t *doc)
{
    const char *status = json_str(doc, "status");
    if (!status)
        return false;
    return strcmp(status, strcmp(kind, "run") == 0 ? "running" : "pending") == 0;
}

bool api_password_settable(const char *s)
{
    return s && utf8_chars(s, strlen(s)) >= API_PASSWORD_MIN;
}

/* ---- Origin against Host ---- */

/* An authority ("host", "host:port", "[v6]:port") of n bytes as
 * "host:port" in lower case, the port made explicit (default_port when
 * absent). False when it is not one: empty host, a port that is not 1 to
 * 65535 in digits, or characters no host has. */
static bool authority_norm(const char *a, size_t n, int default_port, char *out, size_t outsz)
{
    const char *host = a, *port = NULL;
    size_t hlen;
    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close)
            return false;
        hlen = (size_t)(close - a) + 1;
        if (hlen < n) {
            if (a[hlen] != ':')
                return false;
            port = a + hlen + 1;
        }
    } else {
        const char *colon = memchr(a, ':', n);
        hlen = colon ? (size_t)(colon - a) : n;
        if (colon)
            port = colon + 1;
    }
    if (hlen == 0 || hlen + 8 > outsz)
        return false;
    for (size_t i = 0; i < hlen; i++)
        if ((unsigned char)host[i] <= ' ' || host[i] == '/' || host[i] == '@' ||
            (unsigned char)host[i] >= 0x7f)
            return false;
    long p = default_port;
    if (port) {
        size_t plen = n - (size_t)(port - a);
        if (plen == 0 || plen > 5)
            return false;
        p = 0;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)port[i]))
                return false;
            p = p * 10 + (port[i] - '0');
        }
        if (p < 1 || p > 65535)
            return false;
    }
    for (size_t i = 0; i < hlen; i++)
        out[i] = (char)tolower((unsigned char)host[i]);
    snprintf(out + hlen, outsz - hlen, ":%ld", p);
    return true;
}

bool api_origin_same(const char *origin, const char *host, bool tls)
{
    const char *scheme = tls ? "https://" : "http://";
    size_t slen = strlen(scheme);
    int def = tls ? 443 : 80;
    char want[300], got[300];
    if (!origin || !host || strncasecmp(origin, scheme, slen) != 0)
        return false;
    return authority_norm(origin + slen, strlen(origin + slen), def, got, sizeof got) &&
           authority_norm(host, strlen(host), def, want, sizeof want) && strcmp(got, want) == 0;
}
