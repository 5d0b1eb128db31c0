/*
 * gate.h - the approval gate state machine (SPEC §5), as pure functions on
 * gate documents. No I/O: the engine loads and stores the documents.
 *
 * STATES
 *     pending --(policy met by approvals)----> approved
 *     pending --(any reject)-----------------> rejected
 *     pending --(timeout timer)--------------> expired
 *     pending --(run canceled)---------------> canceled
 * Only pending gates accept decisions; every other state is final.
 *
 * A gate document holds, besides the API fields - among them "editable",
 * {"/pointer": bounds}: what an approver may change and within which JSON
 * Schema bounds ({} for none) - the private members
 *   "_started_by"  who started the run (for forbid_self_approval)
 *   "_editable"    only in gates opened before bounds existed: a list of
 *                  pointers, read as {"/pointer": {}}
 *   "_original"    the proposal as frozen when the gate opened
 *   "_needed"      approvals that resolve it (SPEC's approvals: N, capped
 *                  by the engine to the people who may decide)
 *   "_visit"       the visit of the gate step that opened it (1 for a gate
 *                  asked for through the API)
 *   "_timers"      true when timeout, escalation or reminder timers were
 *                  scheduled for it (engine/gate_timers.c)
 *   "_callback"    only in gates asked for through the API with a
 *                  callback_url: where the result is posted (engine/callback.c)
 * The API strips every "_" member before answering.
 */
#ifndef SP_GATE_H
#define SP_GATE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/clock.h"
#include "core/err.h"

typedef struct {
    const char *by;             /* user name */
    const json_t *teams;        /* that user's teams: ["finance"] */
    const char *decision;       /* "approve" | "reject" */
    const char *comment;        /* may be NULL */
    const json_t *edits;        /* {"/amount": 550} or NULL */
    const char *via;            /* "api" | "web" | "link" | "cli" */
    sp_time at;
} gate_decision;

/* True when user (with teams) is among the gate's current assignees. */
bool gate_is_assignee(const json_t *gate, const char *user, const json_t *teams);

/*
 * Applies one decision to a pending gate. On success the decision is
 * appended (edits recorded as {"/ptr": {"from": old, "to": new}}), the
 * proposal carries approved edits, and *resolved says whether this decision
 * resolved the gate (status and resolved_at set). Errors, leaving the gate
 * unchanged:
 *   SP_ECONFLICT   not pending, or this approver already decided
 *   SP_EEXPIRED    the gate expired, or its due_at is not after d->at
 *   SP_EFORBIDDEN  not an assignee, or the run's starter under forbid_self_approval
 *   SP_EINVALID    bad decision word, missing required comment, an edit of a
 *                  field not editable, an edit that changes the value's JSON
 *                  kind (a number stays a number, integer or not; a null or
 *                  missing original may become anything) or breaks its
 *                  bounds (message names the pointer and the bound, details
 *                  list every problem with its "keyword"), or edits on a
 *                  reject
 */
sp_code gate_decide(json_t *gate, const gate_decision *d, bool *resolved, sp_error *err);

/* Distinct assignees a policy of "all" needs, given the members of teams:
 * the engine expands teams when the gate opens and stores the count. */

#endif
