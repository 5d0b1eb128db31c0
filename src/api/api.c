/*
 * api.c - the API's life: its state, the long-poll registry it owns, the
 * engine observer, and the rule that private members never leave.
 */
#include "api/api_internal.h"

#include <stdlib.h>
#include <string.h>

api *api_new(store *s, engine *e, const api_config *cfg)
{
    api *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->store = s;
    a->engine = e;
    if (cfg)
        a->cfg = *cfg;
    if (a->cfg.max_wait_seconds <= 0)
        a->cfg.max_wait_seconds = API_DEFAULT_MAX_WAIT_S;
    atomic_init(&a->requests, 0);
    if (!(a->lp = api_lp_new(s)) || !(a->key_uses = api_key_uses_new())) {
        api_lp_free(a->lp);
        free(a);
        return NULL;
    }
    int oom = 0;
    a->key_rate = api_kr_new(a->cfg.key_rate, &oom);
    if (oom || !(a->login_rl = api_rl_new(API_LOGIN_RL_ENTRIES, API_LOGIN_WINDOW_MS)) ||
        !(a->passwords = workers_start(API_PASSWORD_WORKERS, API_PASSWORD_QUEUE))) {
        api_free(a);
        return NULL;
    }
    return a;
}

/* After engine_stop, before http_stop: logins still queued finish (the
 * engine answers them 503), so no worker touches a request HTTP has freed;
 * logins arriving meanwhile get 503. */
void api_stop(api *a)
{
    if (a)
        workers_stop(a->passwords);
}

/* After http_stop: parked long-polls are answered (their replies are then
 * dropped by the HTTP layer, which still frees the requests). */
void api_free(api *a)
{
    if (!a)
        return;
    workers_free(a->passwords);
    api_lp_free(a->lp);
    api_rl_free(a->login_rl);
    api_key_uses_free(a->key_uses);
    api_kr_free(a->key_rate);
    free(a);
}

/* Engine thread, after each commit: only moves matching long-polls to the
 * sweeper's queue, so the engine never waits on a store read here. */
void api_on_change(void *ctx, const char *kind, const char *id)
{
    api *a = ctx;
    if (a && kind && id)
        api_lp_wake(a->lp, kind, id);
}

json_t *api_public_doc(const json_t *doc)
{
    if (!json_is_object(doc))
        return json_incref((json_t *)doc);
    json_t *out = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v) {
        if (key[0] == '_')
            continue;
        /* A run's step entries keep private working state too (an agent's
         * conversation in progress, a call in flight). */
        if (strcmp(key, "steps") == 0 && json_is_array(v)) {
            json_t *steps = json_array();
            size_t i;
            json_t *entry;
            json_array_foreach(v, i, entry)
                json_array_append_new(steps, api_public_doc(entry));
            json_object_set_new(out, key, steps);
        } else {
            json_object_set(out, key, v);
        }
    }
    return out;
}
