/*
 * gate.c - deciding an approval gate; see gate.h for the states.
 *
 * The order of checks is deliberate: who may decide is settled before
 * anything about the gate's state is revealed, so a non-assignee learns
 * nothing (403) whatever the gate's status; then a final gate refuses every
 * further decision (409); then the decision's own content is checked (422).
 * Nothing is changed until every check has passed.
 */
#include "gate/gate.h"

#include <ctype.h>
#include <string.h>

#include "core/jsonx.h"
#include "workflow/workflow.h"

static bool array_has_string(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *str = json_string_value(v);
        if (str && strcmp(str, s) == 0)
            return true;
    }
    return false;
}

bool gate_is_assignee(const json_t *gate, const char *user, const json_t *teams)
{
    const json_t *assignees = json_object_get(gate, "assignees");
    size_t i;
    json_t *v;
    json_array_foreach(assignees, i, v) {
        const char *a = json_string_value(v);
        if (!a)
            continue;
        if (strncmp(a, "user:", 5) == 0 && strcmp(a + 5, user) == 0)
            return true;
        if (strncmp(a, "team:", 5) == 0 && teams && array_has_string(teams, a + 5))
            return true;
    }
    return false;
}

static bool already_decided(const json_t *gate, const char *user)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(gate, "decisions"), i, d) {
        const char *by = json_str(d, "by");
        if (by && strcmp(by, user) == 0)
            return true;
    }
    return false;
}

static sp_code check_comment(const json_t *gate, const gate_decision *d, sp_error *err)
{
    const char *rule = json_str(json_object_get(gate, "policy"), "require_comment");
    /* White space alone says nothing: it does not count as a comment. */
    bool has_comment = false;
    for (const char *p = d->comment; p && *p && !has_comment; p++)
        has_comment = !isspace((unsigned char)*p);
    bool needed = rule && (strcmp(rule, "always") == 0 ||
                           (strcmp(rule, "reject") == 0 && strcmp(d->decision, "reject") == 0));
    if (needed && !has_comment)
        return sp_error_set(err, SP_EINVALID, "a comment is required to %s this approval",
                            d->decision);
    return SP_OK;
}

/* "a number", "an object", ... - the JSON kinds an edit must keep (an
 * integer and a real are both numbers, true and false both booleans). */
static const char *kind_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "an object";
    case JSON_ARRAY:   return "an array";
    case JSON_STRING:  return "a string";
    case JSON_INTEGER:
    case JSON_REAL:    return "a number";
    case JSON_TRUE:
    case JSON_FALSE:   return "a boolean";
    default:           return "null";
    }
}

/*
 * May this pointer be edited, and within what bounds? *bounds: the JSON
 * Schema the new value must meet (borrowed; NULL or {} for none). Gates
 * opened before bounds existed keep a plain list in "_editable".
 */
static bool editable_at(const json_t *gate, const char *ptr, const json_t **bounds)
{
    *bounds = NULL;
    const json_t *map = json_object_get(gate, "editable");
    if (json_is_object(map)) {
        *bounds = json_object_get(map, ptr);
        return *bounds != NULL;
    }
    return array_has_string(json_object_get(gate, "_editable"), ptr);
}

/* The edit at ptr keeps the original's kind (when there is one to keep)
 * and meets its bounds; SP_EINVALID naming the pointer and the bound. */
static sp_code check_edit(const char *ptr, const json_t *old, const json_t *value,
                          const json_t *bounds, sp_error *err)
{
    if (old && !json_is_null(old) && strcmp(kind_name(old), kind_name(value)) != 0)
        return sp_error_set(err, SP_EINVALID,
                            "edits: %s must stay %s, as in the proposal; got %s", ptr,
                            kind_name(old), kind_name(value));
    if (!json_is_object(bounds) || json_object_size(bounds) == 0)
        return SP_OK;
    sp_error inner = SP_ERROR_INIT;
    if (workflow_check_schema(bounds, value, ptr, &inner) == SP_OK)
        return SP_OK;
    /* The first problem names the bound; details keep them all. */
    json_t *first = json_array_get(inner.details, 0);
    const char *where = json_str(first, "path"), *kw = json_str(first, "keyword");
    const char *msg = json_str(first, "message");
    sp_error_set(err, SP_EINVALID, "edits: %s %s (bound %s%s)", where ? where : ptr,
                 msg ? msg : "is out of bounds", kw ? kw : "schema",
                 json_array_size(inner.details) > 1 ? "; more in details" : "");
    if (inner.details && err)
        sp_error_details(err, json_incref(inner.details));
    sp_error_clear(&inner);
    return SP_EINVALID;
}

/* Whether one JSON pointer is the other or lies inside it ("/a" and "/a/b"). */
static bool pointers_overlap(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    const char *shorter = la <= lb ? a : b, *longer = la <= lb ? b : a;
    size_t n = la <= lb ? la : lb;
    return strncmp(shorter, longer, n) == 0 && (longer[n] == '\0' || longer[n] == '/' || n == 0);
}

/* Each edit was checked against its own bounds; an edit inside or around
 * another editable field (/a/b within /a) changes that field too. Every
 * bounded field an edit overlaps is checked again on the edited proposal,
 * so no order of edits takes a value out of its bounds. */
static sp_code recheck_overlapping_bounds(const json_t *gate, const json_t *edits,
                                          const json_t *proposal, sp_error *err)
{
    const json_t *map = json_object_get(gate, "editable");
    const char *field, *ptr;
    json_t *bounds, *value;
    if (!json_is_object(map))
        return SP_OK;
    json_object_foreach((json_t *)map, field, bounds) {
        bool touched = false;
        json_object_foreach((json_t *)edits, ptr, value)
            touched = touched || pointers_overlap(field, ptr);
        if (!touched || !json_is_object(bounds) || json_object_size(bounds) == 0)
            continue;
        json_t *now = json_pointer_get((json_t *)proposal, field);
        if (check_edit(field, now, now ? now : json_null(), bounds, err))
            return SP_EINVALID;
    }
    return SP_OK;
}

/*
 * Applies edits to a copy of the proposal, building the record of what
 * changed. On success *proposal_out is the edited copy and *record the
 * {"/ptr": {"from", "to"}} object (both new references).
 */
static sp_code apply_edits(const json_t *gate, const json_t *edits, json_t **proposal_out,
                           json_t **record, sp_error *err)
{
    json_t *proposal = json_deep_copy(json_object_get(gate, "proposal"));
    json_t *changes = json_object();
    const char *ptr;
    json_t *value;

    if (!proposal)
        proposal = json_null();
    json_object_foreach((json_t *)edits, ptr, value) {
        const json_t *bounds;
        if (!editable_at(gate, ptr, &bounds)) {
            sp_error_set(err, SP_EINVALID, "edits: %s is not an editable field of this proposal", ptr);
            goto fail;
        }
        json_t *old = json_pointer_get(proposal, ptr);
        if (check_edit(ptr, old, value, bounds, err))
            goto fail;
        json_t *from = old ? json_incref(old) : json_null();
        if (json_pointer_set(proposal, ptr, json_deep_copy(value)) != 0) {
            json_decref(from);
            sp_error_set(err, SP_EINVALID, "edits: %s does not point into the proposal", ptr);
            goto fail;
        }
        json_object_set_new(changes, ptr, json_pack("{s:o, s:O}", "from", from, "to", value));
    }
    if (recheck_overlapping_bounds(gate, edits, proposal, err))
        goto fail;
    *proposal_out = proposal;
    *record = changes;
    return SP_OK;

fail:
    json_decref(proposal);
    json_decref(changes);
    return err ? err->code : SP_EINVALID;
}

static size_t approvals_count(const json_t *gate)
{
    size_t i, n = 0;
    json_t *d;
    json_array_foreach(json_object_get(gate, "decisions"), i, d)
        if (strcmp(json_str(d, "decision") ? json_str(d, "decision") : "", "approve") == 0)
            n++;
    return n;
}

sp_code gate_decide(json_t *gate, const gate_decision *d, bool *resolved, sp_error *err)
{
    const char *id = json_str(gate, "id");
    const char *status = json_str(gate, "status");
    const char *starter = json_str(gate, "_started_by");
    json_t *policy = json_object_get(gate, "policy");
    json_t *edited = NULL, *edit_record = NULL;

    *resolved = false;
    if (!d->by || !gate_is_assignee(gate, d->by, d->teams))
        return sp_error_set(err, SP_EFORBIDDEN, "%s is not an assignee of approval %s",
                            d->by ? d->by : "caller", id ? id : "");
    if (json_is_true(json_object_get(policy, "forbid_self_approval")) && starter &&
        strcmp(starter, d->by) == 0)
        return sp_error_set(err, SP_EFORBIDDEN,
                            "%s started this run and may not decide its approval "
                            "(forbid_self_approval)", d->by);
    if (!status || strcmp(status, "pending") != 0) {
        if (status && strcmp(status, "expired") == 0)
            return sp_error_set(err, SP_EEXPIRED, "approval %s has expired", id);
        return sp_error_set(err, SP_ECONFLICT, "approval %s is already %s", id,
                            status ? status : "resolved");
    }
    /* Past due_at the gate has expired even if its timer has not fired yet
     * (a burst is being worked through, or the server just started). */
    const char *due_at = json_str(gate, "due_at");
    sp_time due;
    if (due_at && time_parse(due_at, &due) == 0 && due <= d->at)
        return sp_error_set(err, SP_EEXPIRED, "approval %s expired at %s", id, due_at);
    if (already_decided(gate, d->by))
        return sp_error_set(err, SP_ECONFLICT, "%s has already decided approval %s", d->by, id);
    if (!d->decision || (strcmp(d->decision, "approve") != 0 && strcmp(d->decision, "reject") != 0))
        return sp_error_set(err, SP_EINVALID, "decision must be \"approve\" or \"reject\"");
    sp_code rc = check_comment(gate, d, err);
    if (rc)
        return rc;
    bool has_edits = d->edits && json_object_size(d->edits) > 0;
    if (has_edits && strcmp(d->decision, "reject") == 0)
        return sp_error_set(err, SP_EINVALID, "edits can only accompany an approval");
    if (has_edits && (rc = apply_edits(gate, d->edits, &edited, &edit_record, err)))
        return rc;

    /* Every check passed: record the decision. */
    char at[SP_TIME_BUF];
    json_t *decision = json_pack("{s:s, s:s, s:s?, s:o, s:s, s:s}",
                                 "by", d->by, "decision", d->decision, "comment", d->comment,
                                 "edits", edit_record ? edit_record : json_null(),
                                 "via", d->via ? d->via : "api", "at", time_format(d->at, at));
    json_array_append_new(json_object_get(gate, "decisions"), decision);
    if (edited)
        json_object_set_new(gate, "proposal", edited);

    bool done = false;
    if (strcmp(d->decision, "reject") == 0) {
        json_object_set_new(gate, "status", json_string("rejected"));
        done = true;
    } else {
        json_int_t needed = json_integer_value(json_object_get(gate, "_needed"));
        if ((json_int_t)approvals_count(gate) >= (needed > 0 ? needed : 1)) {
            json_object_set_new(gate, "status", json_string("approved"));
            done = true;
        }
    }
    if (done)
        json_object_set_new(gate, "resolved_at", json_string(at));
    *resolved = done;
    return SP_OK;
}
