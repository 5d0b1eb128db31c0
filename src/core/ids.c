/* ids.c - time-ordered ids and random tokens; see ids.h. */
#include "core/ids.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void id_new(const char *prefix, sp_time at, char out[SP_ID_MAX])
{
    char body[27];
    uint64_t t = (uint64_t)at;
    for (int i = 9; i >= 0; i--) {
        body[i] = crockford[t & 31];
        t >>= 5;
    }
    unsigned char rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    for (int i = 0; i < 16; i++)
        body[10 + i] = crockford[rnd[i] & 31];
    body[26] = '\0';
    snprintf(out, SP_ID_MAX, "%s_%s", prefix, body);
}

int id_valid(const char *prefix, const char *s)
{
    size_t n = strlen(prefix);
    if (!s || strncmp(s, prefix, n) != 0 || s[n] != '_' || strlen(s + n + 1) != 26)
        return 0;
    for (const char *p = s + n + 1; *p; p++)
        if (!strchr(crockford, *p))
            return 0;
    return 1;
}

char *token_random(const char *prefix, size_t nbytes)
{
    unsigned char *rnd = malloc(nbytes);
    size_t enc_len = sodium_base64_ENCODED_LEN(nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t plen = prefix ? strlen(prefix) : 0;
    char *out = malloc(plen + enc_len);
    if (!rnd || !out) {
        free(rnd);
        free(out);
        return NULL;
    }
    randombytes_buf(rnd, nbytes);
    memcpy(out, prefix ? prefix : "", plen);
    sodium_bin2base64(out + plen, enc_len, rnd, nbytes,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(rnd);
    return out;
}
