/*
 * api.h - the /v1 HTTP API (SPEC §8) on top of the engine and the store.
 *
 * Handlers parse and strictly validate requests on the server threads,
 * answer reads from a store reader, and hand every change to the engine
 * (deferring the HTTP reply until the engine has committed). Long-polls
 * (?wait=) park the request until the engine reports a change of that run
 * or gate, or the wait runs out.
 *
 * Stored run and gate documents carry private members whose names start with
 * "_"; the API removes them (api_public_doc) before answering.
 */
#ifndef SP_API_H
#define SP_API_H

#include <stdbool.h>

#include "engine/engine.h"
#include "http/http.h"
#include "store/store.h"

typedef struct api api;

typedef struct {
    bool test_clock;            /* enables POST /v1/admin/clock */
    int max_wait_seconds;       /* cap on ?wait= (default 60) */
    bool tls;                   /* served over TLS, or behind a proxy that terminates it
                                 * (--secure-cookies): the session cookie gets Secure */
    bool demo;                  /* serve --demo: the /demo stand-ins (src/api/demo.c) exist */
    const struct secrets_key *secrets_key;  /* opens the sealed link keys (borrowed) */
    const struct audit_key *audit_key;      /* checks the audit chain (borrowed) */
    bool callbacks_private;     /* callback_url may name private and loopback addresses */
    int key_rate;               /* requests a second per API key or session user
                                 * (--rate-limit); 0: no limit */
} api_config;

api *api_new(store *s, engine *e, const api_config *cfg);
/* Call after engine_stop and before http_stop: finishes the work the API
 * still has off the HTTP threads (logins being checked). */
void api_stop(api *a);
void api_free(api *a);

/* The route table to give http_start, with the api as its app pointer. */
const http_route *api_routes(size_t *n);

/* The engine observer: wakes long-polls on that run or gate. */
void api_on_change(void *api, const char *kind, const char *id);

/* A copy of doc without its top-level "_" members (new reference). */
json_t *api_public_doc(const json_t *doc);

#endif
