/*
 * redeliver.c - answers of outbound calls are never dropped by a failed
 * batch.
 *
 * WHY
 * An http or agent call's answer comes back once, from the outbound
 * worker, as ENGINE_HTTP_RESULT (a callback's as ENGINE_CALLBACK_RESULT).
 * If that command cannot be applied - its savepoint or the batch's BEGIN or
 * COMMIT fails - the reply goes to nobody who could try again: the run
 * would stay "running" with "_in_flight" set until the next start-up, which
 * sends the call a second time (a duplicate side effect for a call without
 * an Idempotency-Key: GET, `idempotency_key: false`, agent tools).
 *
 * So the engine keeps such a command instead of answering it and runs it
 * again after a back-off: REDELIVER_FIRST_MS, doubling per failure up to
 * REDELIVER_MAX_MS, for as long as it keeps failing with a server-side
 * error (5xx: the store, memory); a 4xx says the command itself is wrong
 * and would fail the same way again. The answer is applied as it came, so
 * nothing is sent twice; cmd_http_result still drops it if the run moved on
 * meanwhile (canceled, an earlier attempt's answer).
 *
 * INVARIANTS
 * - Held commands live only in memory, on the engine thread (e->held).
 *   They come back at the front of the queue, so they are next in line.
 * - Never a hot loop: each is held at least REDELIVER_FIRST_MS, the
 *   engine sleeps until the earliest is due.
 * - When the engine stops, held commands are dropped (answered 503): the
 *   run is "running" in the store and start-up re-sends its call, exactly
 *   as after a crash.
 */
#include "engine/engine_internal.h"

#include <stdint.h>

#include "core/log.h"

#define REDELIVER_FIRST_MS 100          /* doubles per failure ... */
#define REDELIVER_MAX_MS   30000        /* ... up to this */

/* Commands that carry an outbound call's answer: sent by the engine to
 * itself, with nobody else to try again. */
static bool carries_answer(engine_command type)
{
    return type == ENGINE_HTTP_RESULT || type == ENGINE_CALLBACK_RESULT;
}

bool redeliver_hold(engine *e, engine_cmd *cmd)
{
    if (!carries_answer(cmd->type) || cmd->status < 500)
        return false;
    int64_t delay = REDELIVER_FIRST_MS;
    for (int i = 0; i < cmd->redeliveries && delay < REDELIVER_MAX_MS; i++)
        delay *= 2;
    if (delay > REDELIVER_MAX_MS)
        delay = REDELIVER_MAX_MS;
    cmd->redeliveries++;
    cmd->due_ms = clock_mono_ms() + delay;
    const char *of = json_str(cmd->args, "run_id");
    if (!of)
        of = json_str(cmd->args, "approval_id");
    log_warn("engine: the answer of a call (%s) was not applied; again in %lld ms",
             of ? of : "-", (long long)delay);
    json_decref(cmd->body);
    cmd->body = NULL;
    cmd->status = 0;
    cmd->next = e->held;
    e->held = cmd;
    return true;
}

int64_t redeliver_wait_ms(const engine *e)
{
    if (!e->held)
        return -1;
    int64_t first = INT64_MAX;
    for (const engine_cmd *c = e->held; c; c = c->next)
        if (c->due_ms < first)
            first = c->due_ms;
    int64_t ms = first - clock_mono_ms();
    return ms > 0 ? ms : 0;
}

void redeliver_take_due(engine *e)
{
    int64_t now = clock_mono_ms();
    engine_cmd **link = &e->held;
    while (*link) {
        engine_cmd *c = *link;
        if (c->due_ms > now) {
            link = &c->next;
            continue;
        }
        *link = c->next;
        c->next = e->head;
        e->head = c;
        if (!e->tail)
            e->tail = c;
    }
}

void redeliver_drop(engine *e)
{
    while (e->held) {
        engine_cmd *c = e->held;
        e->held = c->next;
        sp_error err = SP_ERROR_INIT;
        sp_error_set(&err, SP_EUNAVAIL, "the server is shutting down");
        engine_cmd_reply(c, 503, sp_error_to_json(&err));
        sp_error_clear(&err);
    }
}
