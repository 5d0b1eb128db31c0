/*
 * demo.c - two stand-ins that let `serve --demo` show the whole refund
 * story on a laptop with nothing else running. They exist only with
 * --demo (otherwise 404, like any unknown path), and only then does serve
 * point the example workflow at them (SPOJIT_LLM_URL, PAYMENTS_URL) when
 * those are not set to something real.
 *
 *   POST /demo/llm/v1/chat/completions   the example agent: a scripted
 *        model speaking OpenAI's chat-completions format. It looks the
 *        charge up with the read-only tool, then proposes issue_refund for
 *        the amount asked; after a rejection it offers half.
 *   GET  /demo/payments/v1/charges/{id}  a charge
 *   POST /demo/payments/v1/refunds       a refund; an Idempotency-Key seen
 *        before gets the same refund back, as Stripe does
 *
 * Nothing here is used outside the demo; the real protocols are what the
 * agent and http steps speak to real services.
 */
#include "api/api_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"

#define DEMO_REFUNDS_KEPT 1024

static pthread_mutex_t refunds_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *refunds_by_key;          /* Idempotency-Key -> refund (bounded) */
static int refunds_made;

/* The first JSON object written inside text ("... {\"charge\": ...} ..."). */
static json_t *object_in(const char *text)
{
    for (const char *p = text ? strchr(text, '{') : NULL; p; p = strchr(p + 1, '{')) {
        json_error_t e;
        json_t *v = json_loads(p, JSON_DISABLE_EOF_CHECK, &e);
        if (json_is_object(v))
            return v;
        json_decref(v);
    }
    return NULL;
}

static json_t *tool_call(const char *id, const char *name, json_t *arguments, const char *text)
{
    char *args = json_dumps(arguments, JSON_COMPACT);
    json_t *answer = json_pack(
        "{s:s, s:s, s:[{s:i, s:{s:s, s:s?, s:[{s:s, s:s, s:{s:s, s:s}}]}, s:s}]}", "id",
        "chatcmpl-demo", "object", "chat.completion", "choices", "index", 0, "message", "role",
        "assistant", "content", text, "tool_calls", "id", id, "type", "function", "function",
        "name", name, "arguments", args ? args : "{}", "finish_reason", "tool_calls");
    free(args);
    json_decref(arguments);
    return answer;
}

void api_demo_llm(api_call *c)
{
    json_t *body = api_body_object(c, false);
    if (!body)
        return;
    json_t *messages = json_object_get(body, "messages"), *request = NULL;
    bool looked_up = false, rejected = false;
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        const char *role = json_str(m, "role"), *content = json_str(m, "content");
        if (role && !strcmp(role, "user") && !request)
            request = object_in(content);
        if (role && !strcmp(role, "tool"))
            looked_up = true;
        if (role && !strcmp(role, "user") && content && strstr(content, "was rejected"))
            rejected = true;
    }
    const char *charge = json_str(request, "charge");
    double amount = json_number_value(json_object_get(request, "amount"));
    json_t *answer;
    if (!charge) {
        answer = json_pack("{s:s, s:[{s:i, s:{s:s, s:s}, s:s}]}", "object", "chat.completion",
                           "choices", "index", 0, "message", "role", "assistant", "content",
                           "I found no refund request (a JSON object with charge and amount).",
                           "finish_reason", "stop");
    } else if (!looked_up) {
        answer = tool_call("call_lookup", "lookup_charge", json_pack("{s:s}", "charge", charge),
                           "Let me look the charge up first.");
    } else {
        char reason[512];
        double offer = rejected ? (double)(long long)(amount / 2) : amount;
        if (rejected)
            snprintf(reason, sizeof reason,
                     "The approver found %.0f too much; I offer half, %.0f, as a goodwill "
                     "refund for charge %s.", amount, offer, charge);
        else
            snprintf(reason, sizeof reason,
                     "Charge %s exists and was paid; the order never shipped, so I propose "
                     "refunding the full %.0f.", charge, amount);
        json_t *value = offer == (double)(long long)offer ? json_integer((json_int_t)offer)
                                                          : json_real(offer);
        answer = tool_call("call_refund", "issue_refund",
                           json_pack("{s:s, s:o, s:s}", "charge", charge, "amount", value,
                                     "currency", "usd"),
                           reason);
    }
    json_decref(request);
    json_decref(body);
    http_reply_json(c->req, 200, answer);
}

void api_demo_charge(api_call *c)
{
    const char *id = http_param(c->req, 0);
    http_reply_json(c->req, 200, json_pack("{s:s, s:s, s:s, s:b}", "id", id ? id : "",
                                           "object", "charge", "status", "succeeded", "paid", 1));
}

void api_demo_refund(api_call *c)
{
    json_t *body = api_body_object(c, false);
    if (!body)
        return;
    const char *key = http_header(c->req, "Idempotency-Key");
    pthread_mutex_lock(&refunds_lock);
    if (!refunds_by_key)
        refunds_by_key = json_object();
    json_t *refund = key ? json_incref(json_object_get(refunds_by_key, key)) : NULL;
    bool replayed = refund != NULL;
    if (!refund) {
        char id[32];
        snprintf(id, sizeof id, "re_demo_%d", ++refunds_made);
        refund = json_pack("{s:s, s:s, s:O?, s:O?, s:s}", "id", id, "object", "refund",
                           "charge", json_object_get(body, "charge"), "amount",
                           json_object_get(body, "amount"), "status", "succeeded");
        if (key && json_object_size(refunds_by_key) < DEMO_REFUNDS_KEPT)
            json_object_set(refunds_by_key, key, refund);
    }
    pthread_mutex_unlock(&refunds_lock);
    if (replayed)
        http_add_header(c->req, "Idempotent-Replayed", "true");
    json_decref(body);
    http_reply_json(c->req, 200, refund);
}
