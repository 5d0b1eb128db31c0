/*
 * redact.c - secret values out of JSON and text (SPEC §3: secrets never
 * appear in run state, API answers, logs or the audit trail).
 *
 * Matching is on bytes. Every byte covered by any occurrence of any secret
 * is marked first, and each run of marked bytes becomes one "***"; so
 * overlapping secrets ("abcd" and "cdef" in "abcdef") or adjacent ones
 * leave no fragment behind, whatever order the secrets come in. UTF-8 is
 * self-synchronising, so an occurrence of a valid UTF-8 value in a valid
 * UTF-8 string starts and ends on character boundaries: the result stays
 * valid UTF-8.
 *
 * Limits: only literal occurrences are found. A value that was encoded
 * (base64, URL-encoding, JSON-escaped inside a string) is not recognised.
 *
 * Cost: O(length × secrets) per string; values are few and small. Callers
 * redact what leaves the engine, never a hot path.
 */
#include "secrets/secrets.h"

#include <stdlib.h>
#include <string.h>

/* Calls fn on each non-empty secret value of an object or array. */
#define FOR_EACH_SECRET(secrets, v, body)                                   \
    do {                                                                    \
        size_t i_;                                                          \
        const char *k_;                                                     \
        json_t *v;                                                          \
        if (json_is_object(secrets)) {                                      \
            json_object_foreach((json_t *)(secrets), k_, v) {               \
                (void)k_;                                                   \
                if (json_is_string(v) && json_string_length(v) > 0) body    \
            }                                                               \
        } else if (json_is_array(secrets)) {                                \
            json_array_foreach((json_t *)(secrets), i_, v) {                \
                if (json_is_string(v) && json_string_length(v) > 0) body    \
            }                                                               \
        }                                                                   \
    } while (0)

char *secrets_redact_text(const char *s, size_t len, const json_t *secrets, size_t *out_len)
{
    return secrets_redact_text_cut(s, len, len, secrets, out_len);
}

/* Occurrences are found in all len bytes, then only the first keep are
 * written: a secret that crosses the cut is replaced whole, and no part of
 * it is left before the cut. */
char *secrets_redact_text_cut(const char *s, size_t len, size_t keep, const json_t *secrets,
                              size_t *out_len)
{
    if (keep > len)
        keep = len;
    unsigned char *mark = calloc(len + 1, 1);
    if (!mark)
        return NULL;
    bool any = false;
    FOR_EACH_SECRET(secrets, v, {
        const char *needle = json_string_value(v);
        size_t nl = json_string_length(v);
        /* Step one byte past each hit, not its length: overlaps count. */
        for (const char *p = s; (size_t)(p - s) + nl <= len;) {
            const char *hit = memmem(p, len - (size_t)(p - s), needle, nl);
            if (!hit)
                break;
            memset(mark + (hit - s), 1, nl);
            any = true;
            p = hit + 1;
        }
    });
    /* Worst case: every other byte is a one-byte secret -> "***" per byte. */
    size_t cap = any ? len * strlen(SECRETS_REDACTED) + 1 : len + 1;
    char *out = malloc(cap);
    if (!out) {
        free(mark);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < keep;) {
        if (!mark[i]) {
            out[o++] = s[i++];
            continue;
        }
        memcpy(out + o, SECRETS_REDACTED, strlen(SECRETS_REDACTED));
        o += strlen(SECRETS_REDACTED);
        while (i < keep && mark[i])
            i++;
    }
    out[o] = '\0';
    free(mark);
    if (out_len)
        *out_len = o;
    return out;
}

static json_t *redact_string(const char *s, size_t len, const json_t *secrets)
{
    size_t n = 0;
    char *r = secrets_redact_text(s, len, secrets, &n);
    if (!r)
        return NULL;
    json_t *out = json_stringn_nocheck(r, n);
    free(r);
    return out;
}

static json_t *redact(const json_t *value, const json_t *secrets, int depth)
{
    /* Values come from parsed JSON, whose depth is already bounded; this
     * guard only keeps a hand-built cycle from recursing for ever. */
    if (depth > 1000)
        return NULL;
    switch (json_typeof(value)) {
    case JSON_STRING:
        return redact_string(json_string_value(value), json_string_length(value), secrets);
    case JSON_ARRAY: {
        json_t *out = json_array();
        size_t i;
        json_t *v;
        json_array_foreach((json_t *)value, i, v) {
            json_t *r = redact(v, secrets, depth + 1);
            if (!r || json_array_append_new(out, r) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    case JSON_OBJECT: {
        json_t *out = json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)value, k, v) {
            /* Keys are strings too: a secret used as a key must not leak.
             * Two keys that redact alike collapse into one (the later). */
            char *rk = secrets_redact_text(k, strlen(k), secrets, NULL);
            json_t *r = rk ? redact(v, secrets, depth + 1) : NULL;
            /* json_object_set_new steals r even when it fails. */
            int bad = !r || json_object_set_new(out, rk, r) != 0;
            free(rk);
            if (bad) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    default:
        return json_deep_copy(value);
    }
}

json_t *secrets_redact(const json_t *value, const json_t *secrets)
{
    if (!value)
        return NULL;
    return redact(value, secrets, 0);
}
