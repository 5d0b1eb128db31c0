/*
 * admin.c - POST /v1/admin/clock: moves the test clock, so tests of
 * timeouts and reminders need not wait. Exists only with --test-clock
 * (routes.c answers 404 otherwise) and only for admins.
 *
 *   {"advance": "90m"}                 moves the clock forward
 *   {"set": "2026-01-01T00:00:00Z"}    sets it (never backwards)
 *
 * Either way the clock stays within year 9999 (API_CLOCK_END_MS), so the
 * offset cannot overflow and every time still has an RFC 3339 form.
 *
 * The reply {now, timers_pending} comes once the engine has fired every
 * timer due at the new time, so a test can look at the outcome right away.
 */
#include "api/api_internal.h"

#include "core/clock.h"
#include "core/jsonx.h"

void api_admin_clock(api_call *c)
{
    static const api_field fields[] = {
        { "advance", API_T_STRING, false, 64 },
        { "set", API_T_STRING, false, 64 },
        { .name = NULL },
    };
    json_t *body = api_body_checked(c, fields, false);
    if (!body)
        return;
    const char *advance = json_str(body, "advance"), *set = json_str(body, "set");
    int64_t ms = 0;
    sp_time t = 0;
    if ((advance != NULL) == (set != NULL))
        api_fail(c->req, SP_EBADINPUT, "request body: give exactly one of \"advance\" and \"set\"");
    else if (advance && (duration_parse(advance, &ms) != 0 || ms < 0))
        api_fail(c->req, SP_EINVALID, "advance: not a duration such as \"90s\", \"15m\", \"2h\"");
    else if (set && time_parse(set, &t) != 0)
        api_fail(c->req, SP_EINVALID, "set: not an RFC 3339 time such as \"2026-01-01T00:00:00Z\"");
    else if (set && t < clock_now())
        api_fail(c->req, SP_EINVALID, "set: the clock never goes backwards");
    else if (advance ? ms > API_CLOCK_END_MS - clock_now() : t > API_CLOCK_END_MS)
        api_fail(c->req, SP_EINVALID, "%s: the test clock ends at 9999-12-31T23:59:59.999Z",
                 advance ? "advance" : "set");
    else {
        if (advance)
            clock_advance(ms);
        else
            clock_set(t);
        api_submit(c, ENGINE_AWAIT_TIMERS, json_object(), 0);
    }
    json_decref(body);
}
