/*
 * keyrate.c - the per-key token bucket of keyrate.h.
 *
 * Tokens are counted in thousandths so that integer arithmetic in
 * milliseconds is exact: a key gains `rate` thousandths a millisecond, holds
 * at most rate * 1000 and a request costs 1000.
 */
#include "api/keyrate.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char key[API_KR_KEY_MAX];       /* "" = free */
    int64_t milli;                  /* tokens, in thousandths */
    int64_t at_ms;                  /* when milli was last brought up to date */
} kr_slot;

struct api_kr {
    pthread_mutex_t mu;
    int64_t rate;                   /* tokens a second, and the most a key holds */
    kr_slot slot[API_KR_SLOTS];
};

api_kr *api_kr_new(int rate, int *oom)
{
    *oom = 0;
    if (rate <= 0)
        return NULL;
    api_kr *kr = calloc(1, sizeof *kr);
    if (!kr) {
        *oom = 1;
        return NULL;
    }
    kr->rate = rate;
    pthread_mutex_init(&kr->mu, NULL);
    return kr;
}

void api_kr_free(api_kr *kr)
{
    if (!kr)
        return;
    pthread_mutex_destroy(&kr->mu);
    free(kr);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;           /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Under mu: key's slot, claiming a free or the least recently used one. */
static kr_slot *slot_of(api_kr *kr, const char *k, int64_t now_ms)
{
    uint32_t base = hash(k) % (API_KR_SLOTS / API_KR_WAYS) * API_KR_WAYS;
    kr_slot *victim = NULL;
    for (uint32_t i = 0; i < API_KR_WAYS; i++) {
        kr_slot *s = &kr->slot[base + i];
        if (s->key[0] && strcmp(s->key, k) == 0)
            return s;
        if (!victim || (victim->key[0] && (!s->key[0] || s->at_ms < victim->at_ms)))
            victim = s;
    }
    strcpy(victim->key, k);
    victim->milli = kr->rate * 1000;    /* a new key starts full */
    victim->at_ms = now_ms;
    return victim;
}

int64_t api_kr_take(api_kr *kr, const char *key, int64_t now_ms)
{
    if (!kr)
        return 0;
    char k[API_KR_KEY_MAX];
    size_t n = strlen(key);
    if (n >= sizeof k)
        n = sizeof k - 1;
    memcpy(k, key, n);
    k[n] = '\0';
    int64_t wait = 0, full = kr->rate * 1000;
    pthread_mutex_lock(&kr->mu);
    kr_slot *s = slot_of(kr, k, now_ms);
    if (now_ms > s->at_ms) {
        int64_t gained = (now_ms - s->at_ms) * kr->rate;
        s->milli = gained >= full - s->milli ? full : s->milli + gained;
        s->at_ms = now_ms;
    }
    if (s->milli >= 1000)
        s->milli -= 1000;
    else
        wait = (1000 - s->milli + kr->rate - 1) / kr->rate;
    pthread_mutex_unlock(&kr->mu);
    return wait;
}
