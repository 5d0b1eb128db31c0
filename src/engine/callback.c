/*
 * callback.c - telling an external agent that its approval was decided:
 * a signed POST to the callback_url it gave, retried until it gets a 2xx.
 *
 *   POST <callback_url>
 *   Content-Type: application/json
 *   Idempotency-Key: <approval id>/callback
 *   Spojit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 *   {"type": "approval.resolved", "approval": <the gate>}
 *
 * The secret is made per approval and given to the agent once, in the 201
 * of POST /v1/approvals (callback_secret). The timestamp inside the MAC lets
 * the receiver refuse replays (docs/api: accept t within 5 minutes).
 *
 * DELIVERY IS AT LEAST ONCE, DURABLY
 * Resolving the gate schedules a "gate.callback" timer due at once. When it
 * fires, the next attempt's timer is scheduled first (after the call's
 * timeout plus a growing back-off) in the same transaction, and the call
 * is queued for after the commit. A 2xx answer marks the callback delivered
 * and cancels that timer; any other answer moves it to after the back-off
 * alone (the timeout need not be waited out). So a crash at
 * any moment loses no callback, and the receiver may see one twice: the
 * Idempotency-Key, the same on every attempt, lets it drop the repeats.
 * After CALLBACK_MAX_ATTEMPTS the callback is given up, with an audit row.
 *
 * PUBLIC ADDRESSES ONLY
 * The URL comes from whoever asked for the approval - an agent's key will
 * do - and the outcome of each attempt is theirs to read (callback.last).
 * Unless the operator allowed private targets (callbacks_private), the
 * call may connect to public addresses only (outbound.h, public_only), or
 * the server would probe its own host and networks for them. A refused
 * address fails the callback at once: it would be refused every time. The
 * reason recorded is coarse on purpose: which address or port it was is
 * an answer to the very question a scanner asks.
 */
#include "engine/engine_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"

#define CALLBACK_TIMEOUT_MS    10000
#define CALLBACK_MAX_ATTEMPTS  20
#define CALLBACK_BACKOFF_MS    1000        /* doubles per attempt ... */
#define CALLBACK_BACKOFF_MAX_MS (3600 * 1000)   /* ... up to an hour: ~17 h in all */
#define CALLBACK_REFUSED       "refused: the callback address is not public"

char *callback_secret_new(void)
{
    return token_random("whsec_", 24);
}

static int64_t backoff(int attempt)
{
    int64_t d = CALLBACK_BACKOFF_MS;
    for (int i = 1; i < attempt && d < CALLBACK_BACKOFF_MAX_MS; i++)
        d *= 2;
    return d < CALLBACK_BACKOFF_MAX_MS ? d : CALLBACK_BACKOFF_MAX_MS;
}

static void set_state(json_t *gate, const char *state, int attempts, json_t *last)
{
    json_t *cb = json_object_get(gate, "callback");
    json_object_set_new(cb, "state", json_string(state));
    json_object_set_new(cb, "attempts", json_integer(attempts));
    if (last)
        json_object_set_new(cb, "last", last);
}

sp_code callback_schedule(engine *e, json_t *gate, sp_error *err)
{
    if (!json_object_get(gate, "_callback"))
        return SP_OK;
    set_state(gate, "sending", 0, NULL);
    return timer_schedule(e, clock_now(), "gate.callback", json_str(gate, "run_id"),
                          json_str(gate, "id"), json_pack("{s:i}", "attempt", 1), err);
}

/* "t=<unix seconds>,v1=<hex>" for body under secret. */
static void sign(const char *secret, const char *body, char out[128])
{
    long long t = (long long)(clock_now() / 1000);
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "%lld.", t);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)prefix, (unsigned long long)plen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[2 * sizeof mac + 1];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(out, 128, "t=%lld,v1=%s", t, hex);
}

sp_code gate_timer_callback(engine *e, const json_t *timer, sp_error *err)
{
    const char *id = json_str(timer, "approval_id");
    json_t *gate = NULL;
    sp_code rc = store_approval_get(e->w, id ? id : "", &gate, err);
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        return SP_OK;
    }
    if (rc)
        return rc;
    json_t *cb = json_object_get(gate, "_callback");
    const char *state = json_str(json_object_get(gate, "callback"), "state");
    int attempt = (int)json_integer_value(json_object_get(json_object_get(timer, "data"),
                                                          "attempt"));
    if (!cb || (state && strcmp(state, "sending") != 0))
        goto out;
    if (attempt > CALLBACK_MAX_ATTEMPTS) {
        set_state(gate, "failed", attempt - 1, NULL);
        if ((rc = gate_save(e, gate, err)) == SP_OK)
            rc = engine_audit(e, "system", "callback.failed", json_str(gate, "run_id"), id,
                              json_pack("{s:i}", "attempts", attempt - 1), err);
        goto out;
    }
    /* The next attempt first: if this one is lost in a crash, that one comes. */
    if ((rc = timer_schedule(e, clock_now() + CALLBACK_TIMEOUT_MS + backoff(attempt),
                             "gate.callback", json_str(gate, "run_id"), id,
                             json_pack("{s:i}", "attempt", attempt + 1), err)))
        goto out;
    json_t *payload = json_pack("{s:s, s:o}", "type", "approval.resolved", "approval",
                                engine_public(gate));
    json_object_del(json_object_get(payload, "approval"), "callback");
    char *body = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    char signature[128], line[160], idem[128];
    sign(json_str(cb, "secret"), body, signature);
    snprintf(line, sizeof line, "Spojit-Signature: %s", signature);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s/callback", id);
    json_t *headers = json_pack("[s, s, s]", "Content-Type: application/json", idem, line);
    engine_queue_call(e, ENGINE_CALLBACK_RESULT, json_pack("{s:s, s:i}", "approval_id", id,
                                                           "attempt", attempt),
                      "POST", json_str(cb, "url"), headers, body, CALLBACK_TIMEOUT_MS,
                      !e->callbacks_private);
    free(body);
    set_state(gate, "sending", attempt, NULL);
    rc = gate_save(e, gate, err);
out:
    json_decref(gate);
    return rc;
}

/* The address was not public: given up now, as every attempt would be. */
static sp_code give_up_refused(engine *e, json_t *gate, int attempt, sp_error *err)
{
    const char *id = json_str(gate, "id");
    set_state(gate, "failed", attempt, json_pack("{s:s}", "error", CALLBACK_REFUSED));
    sp_code rc = gate_save(e, gate, err);
    if (!rc)
        rc = store_timer_cancel(e->w, NULL, id, err);
    if (!rc)
        rc = engine_audit(e, "system", "callback.failed", json_str(gate, "run_id"), id,
                          json_pack("{s:i, s:s}", "attempts", attempt, "error",
                                    CALLBACK_REFUSED), err);
    return rc;
}

sp_code cmd_callback_result(engine *e, engine_cmd *cmd, int *status, json_t **body,
                            sp_error *err)
{
    const json_t *a = cmd->args;
    const char *id = json_str(a, "approval_id");
    json_t *gate = NULL;
    *status = 204;
    if (strcmp(cmd->who.name, "system") != 0)
        return sp_error_set(err, SP_EFORBIDDEN, "only the engine reports call results");
    sp_code rc = store_approval_get(e->w, id ? id : "", &gate, err);
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        return SP_OK;
    }
    if (rc)
        return rc;
    const char *state = json_str(json_object_get(gate, "callback"), "state");
    long code = (long)json_integer_value(json_object_get(a, "status"));
    json_int_t attempt = json_integer_value(json_object_get(a, "attempt"));
    if (!state || strcmp(state, "sending") != 0)
        goto out;                           /* delivered already by another attempt */
    if (json_is_true(json_object_get(a, "refused"))) {
        rc = give_up_refused(e, gate, (int)attempt, err);
        goto out;
    }
    /* Whoever asked for the approval reads callback.last. Of the server's
     * network it may learn whether its callback got an answer - not curl's
     * reason (a host name that does not resolve from here, a port that
     * refuses), unless private targets are allowed anyway. The audit row,
     * for admins, keeps the reason. */
    const char *why = json_str(a, "error") ? json_str(a, "error") : "no answer";
    json_t *last = code ? json_pack("{s:I}", "status", (json_int_t)code)
                        : json_pack("{s:s}", "error", e->callbacks_private ? why : "no answer");
    if (code >= 200 && code < 300) {
        set_state(gate, "delivered", (int)attempt, last);
        if ((rc = gate_save(e, gate, err)) || (rc = store_timer_cancel(e->w, NULL, id, err)))
            goto out;
        rc = engine_audit(e, "system", "callback.delivered", json_str(gate, "run_id"), id,
                          json_pack("{s:I, s:I}", "attempt", attempt, "status",
                                    (json_int_t)code), err);
    } else {
        /* A quick refusal need not wait out the timeout the safety timer
         * allowed for: the next attempt comes after the back-off alone. */
        json_t *data = json_deep_copy(last);
        json_object_set_new(data, "attempt", json_integer(attempt));
        if (!code)
            json_object_set_new(data, "error", json_string(why));
        set_state(gate, "sending", (int)attempt, last);
        if ((rc = gate_save(e, gate, err)) || (rc = store_timer_cancel(e->w, NULL, id, err)) ||
            (rc = timer_schedule(e, clock_now() + backoff((int)attempt), "gate.callback",
                                 json_str(gate, "run_id"), id,
                                 json_pack("{s:I}", "attempt", attempt + 1), err)))
            json_decref(data);
        else
            rc = engine_audit(e, "system", "callback.attempt_failed", json_str(gate, "run_id"),
                              id, data, err);
    }
out:
    json_decref(gate);
    return rc;
}
