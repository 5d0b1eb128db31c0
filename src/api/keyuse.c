/*
 * keyuse.c - noting when each API key was last used, cheaply.
 *
 * last_used_at lives in the store, and only the engine writes the store,
 * so noting a use is an engine command. Doing that on every request would
 * put a write behind every read; instead each key is noted at most once a
 * minute (API_KEY_USE_EVERY_MS), tracked in a small table of recent keys.
 * Two keys that share a slot only cause an extra note, never a missed one
 * for longer than a minute. Nobody waits for the command's reply.
 */
#include "api/api_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define KEY_USE_SLOTS 1024

typedef struct {
    char key_id[48];
    int64_t noted_ms;           /* monotonic */
} key_use_slot;

struct api_key_uses {
    pthread_mutex_t lock;
    key_use_slot slots[KEY_USE_SLOTS];
};

api_key_uses *api_key_uses_new(void)
{
    api_key_uses *u = calloc(1, sizeof *u);
    if (u)
        pthread_mutex_init(&u->lock, NULL);
    return u;
}

void api_key_uses_free(api_key_uses *u)
{
    if (!u)
        return;
    pthread_mutex_destroy(&u->lock);
    free(u);
}

static size_t slot_of(const char *id)
{
    size_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = h * 33 + *p;
    return h % KEY_USE_SLOTS;
}

static void ignore_reply(void *ctx, int status, json_t *body)
{
    (void)ctx;
    (void)status;
    json_decref(body);
}

void api_note_key_use(api *a, const principal *p)
{
    if (!a->key_uses || !a->engine || !p->key_id[0])
        return;
    int64_t now = clock_mono_ms();
    key_use_slot *s = &a->key_uses->slots[slot_of(p->key_id)];
    bool due;
    pthread_mutex_lock(&a->key_uses->lock);
    due = strcmp(s->key_id, p->key_id) != 0 || now - s->noted_ms >= API_KEY_USE_EVERY_MS;
    if (due) {
        memcpy(s->key_id, p->key_id, sizeof s->key_id);
        s->noted_ms = now;
    }
    pthread_mutex_unlock(&a->key_uses->lock);
    if (!due)
        return;
    json_t *args = json_pack("{s:s}", "id", p->key_id);
    engine_submit(a->engine, ENGINE_KEY_USED, p, args, ignore_reply, NULL);
    json_decref(args);
}
