/*
 * ratelimit.c - the failure counter of ratelimit.h.
 *
 * A linear scan of a fixed array: the table is small (API_LOGIN_RL_ENTRIES)
 * and it is consulted once per login attempt, whose password hash costs
 * thousands of times more. No allocation after api_rl_new.
 */
#include "api/ratelimit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char key[API_RL_KEY_MAX];       /* "" = free */
    int count;
    sp_time start;                  /* the window's first failure */
} rl_entry;

struct api_rl {
    pthread_mutex_t mu;
    int64_t window_ms;
    size_t cap, used;
    rl_entry *e;
};

api_rl *api_rl_new(size_t capacity, int64_t window_ms)
{
    if (capacity == 0 || window_ms <= 0)
        return NULL;
    api_rl *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    if (!(rl->e = calloc(capacity, sizeof *rl->e))) {
        free(rl);
        return NULL;
    }
    rl->cap = capacity;
    rl->window_ms = window_ms;
    pthread_mutex_init(&rl->mu, NULL);
    return rl;
}

void api_rl_free(api_rl *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl->e);
    free(rl);
}

static void key_copy(char dst[API_RL_KEY_MAX], const char *key)
{
    size_t n = strlen(key);
    if (n >= API_RL_KEY_MAX)
        n = API_RL_KEY_MAX - 1;
    memcpy(dst, key, n);
    dst[n] = '\0';
}

/* Under mu. The entry of key, or NULL. */
static rl_entry *find(api_rl *rl, const char *key)
{
    char k[API_RL_KEY_MAX];
    key_copy(k, key);
    for (size_t i = 0; i < rl->cap; i++)
        if (rl->e[i].key[0] && strcmp(rl->e[i].key, k) == 0)
            return &rl->e[i];
    return NULL;
}

static bool passed(const api_rl *rl, const rl_entry *e, sp_time now)
{
    return now - e->start >= rl->window_ms || now < e->start;   /* clock set back: restart */
}

/* Under mu: how many ms until key may try again (0: it may). */
static int64_t blocked_locked(api_rl *rl, const char *key, int max, sp_time now)
{
    rl_entry *e = find(rl, key);
    if (e && !passed(rl, e, now) && e->count >= max)
        return e->start + rl->window_ms - now;
    return 0;
}

int64_t api_rl_blocked(api_rl *rl, const char *key, int max, sp_time now)
{
    if (!rl || !key)
        return 0;
    pthread_mutex_lock(&rl->mu);
    int64_t wait = blocked_locked(rl, key, max, now);
    pthread_mutex_unlock(&rl->mu);
    return wait;
}

/* Under mu: a free entry, else one whose window has passed, else the one
 * with the fewest failures (the oldest of those): a blocked key is the last
 * to be forgotten, so a flood of new keys cannot unblock it cheaply. */
static rl_entry *slot(api_rl *rl, sp_time now)
{
    rl_entry *least = NULL;
    for (size_t i = 0; i < rl->cap; i++) {
        rl_entry *e = &rl->e[i];
        if (!e->key[0])
            return e;
        if (passed(rl, e, now))
            return e;
        if (!least || e->count < least->count ||
            (e->count == least->count && e->start < least->start))
            least = e;
    }
    return least;
}

/* Under mu: counts one failure of key at now. */
static void failed_locked(api_rl *rl, const char *key, sp_time now)
{
    rl_entry *e = find(rl, key);
    if (e && passed(rl, e, now)) {
        e->count = 0;
        e->start = now;
    }
    if (!e) {
        e = slot(rl, now);
        if (!e->key[0])
            rl->used++;
        key_copy(e->key, key);
        e->count = 0;
        e->start = now;
    }
    if (e->count < INT32_MAX)
        e->count++;
}

void api_rl_failed(api_rl *rl, const char *key, sp_time now)
{
    if (!rl || !key || !*key)
        return;
    pthread_mutex_lock(&rl->mu);
    failed_locked(rl, key, now);
    pthread_mutex_unlock(&rl->mu);
}

int64_t api_rl_reserve(api_rl *rl, const char *k1, int max1, const char *k2, int max2,
                       sp_time now)
{
    if (!rl || !k1 || !k2 || !*k1 || !*k2)
        return 0;
    pthread_mutex_lock(&rl->mu);
    int64_t w1 = blocked_locked(rl, k1, max1, now), w2 = blocked_locked(rl, k2, max2, now);
    int64_t wait = w1 > w2 ? w1 : w2;
    if (wait <= 0) {
        failed_locked(rl, k1, now);
        failed_locked(rl, k2, now);
    }
    pthread_mutex_unlock(&rl->mu);
    return wait > 0 ? wait : 0;
}

void api_rl_reset(api_rl *rl, const char *key)
{
    if (!rl || !key)
        return;
    pthread_mutex_lock(&rl->mu);
    rl_entry *e = find(rl, key);
    if (e) {
        memset(e, 0, sizeof *e);
        rl->used--;
    }
    pthread_mutex_unlock(&rl->mu);
}

size_t api_rl_size(api_rl *rl)
{
    if (!rl)
        return 0;
    pthread_mutex_lock(&rl->mu);
    size_t n = rl->used;
    pthread_mutex_unlock(&rl->mu);
    return n;
}

void api_rl_refund(api_rl *rl, const char *key)
{
    if (!rl || !key)
        return;
    pthread_mutex_lock(&rl->mu);
    rl_entry *e = find(rl, key);
    if (e && e->count > 0)
        e->count--;
    pthread_mutex_unlock(&rl->mu);
}
