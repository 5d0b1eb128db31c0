/*
 * approvals.c - gate documents and the inbox.
 *
 * INVARIANTS
 * - approval_assignees holds exactly one row per distinct string in the
 *   gate's "assignees", with the gate's current status. Every put rewrites
 *   the gate's rows in the same savepoint as the document, so the inbox can
 *   never show a gate in a status it has left (a decided gate drops out of
 *   every "pending" inbox in the transaction that decides it).
 * - The inbox is a merge, not a sort: for each principal asked about, one
 *   index range over (principal, status, approval_id) returns its newest
 *   limit+1 ids below the cursor. The global newest limit+1 distinct ids
 *   are among those, so merging, deduplicating (a gate assigned to a user
 *   and to their team appears once) and cutting to limit+1 is exact. Cost:
 *   principals x (limit+1) index entries plus limit point reads, whatever
 *   the number of pending gates.
 */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

static sp_code put_assignees(sqlite_conn *c, const char *id, const char *status,
                             const json_t *assignees, sp_error *err)
{
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_APR_ASSIGNEES_DELETE,
                             "DELETE FROM approval_assignees WHERE approval_id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, id);
    if ((rc = sqlite_run(c, st, err, "store a gate's assignees")))
        return rc;
    if ((rc = sqlite_stmt(c, SQ_APR_ASSIGNEE_PUT,
                          "INSERT OR IGNORE INTO approval_assignees(approval_id, principal, status) "
                          "VALUES (?1, ?2, ?3)", &st, err)))
        return rc;
    size_t i;
    json_t *a;
    json_array_foreach(assignees, i, a) {
        if (!json_is_string(a))
            continue;
        sqlite_bind_str(st, 1, id);
        sqlite_bind_str(st, 2, json_string_value(a));
        sqlite_bind_str(st, 3, status);
        if ((rc = sqlite_run(c, st, err, "store a gate's assignees")))
            return rc;
    }
    return SP_OK;
}

static sp_code put_gate(sqlite_conn *c, const json_t *gate, const char *id, const char *doc,
                        sp_error *err)
{
    sqlite3_stmt *st = NULL;
    sp_code rc = sqlite_stmt(c, SQ_APR_PUT,
                             "INSERT INTO approvals(id, run_id, status, created_at, due_at, doc) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                             "ON CONFLICT(id) DO UPDATE SET run_id = excluded.run_id, "
                             "status = excluded.status, created_at = excluded.created_at, "
                             "due_at = excluded.due_at, doc = excluded.doc", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, id);
    sqlite_bind_str(st, 2, json_str(gate, "run_id"));
    sqlite_bind_str(st, 3, json_str(gate, "status"));
    sqlite3_bind_text(st, 6, doc, -1, SQLITE_STATIC);
    if ((rc = sqlite_bind_time(st, 4, gate, "gate", "created_at", err)) ||
        (rc = sqlite_bind_time(st, 5, gate, "gate", "due_at", err))) {
        sqlite_done(st);
        return rc;
    }
    if ((rc = sqlite_run(c, st, err, "store a gate")))
        return rc;
    return put_assignees(c, id, json_str(gate, "status"), json_object_get(gate, "assignees"),
                         err);
}

sp_code sqlite_approval_put(store_conn *base, const json_t *gate, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    const char *id = json_str(gate, "id");
    if (!id)
        return sp_error_set(err, SP_EINVALID, "store: a gate document needs an \"id\"");
    char *doc = json_dumps(gate, JSON_COMPACT);
    if (!doc)
        return sp_error_set(err, SP_EINVALID, "store: gate %s cannot be written as JSON", id);
    sp_code rc = sqlite_put_begin(c, err);
    if (rc == SP_OK)
        rc = sqlite_put_end(c, put_gate(c, gate, id, doc, err), err);
    free(doc);
    return rc;
}

/* Steps st (bound to id) and parses its first column into *out. */
static sp_code read_gate(sqlite_conn *c, sqlite3_stmt *st, const char *id, json_t **out,
                         sp_error *err)
{
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        sqlite_done(st);
        return sp_error_set(err, SP_ENOTFOUND, "no approval '%s'", id);
    }
    if (step != SQLITE_ROW)
        return sqlite_fail(c, st, err, "read a gate");
    json_t *doc = sqlite_col_json(st, 0, "gate", err);
    sqlite_done(st);
    if (!doc)
        return SP_ESTORE;
    *out = doc;
    return SP_OK;
}

static sp_code gate_stmt(sqlite_conn *c, sqlite3_stmt **st, sp_error *err)
{
    return sqlite_stmt(c, SQ_APR_GET, "SELECT doc FROM approvals WHERE id = ?1", st, err);
}

sp_code sqlite_approval_get(store_conn *base, const char *id, json_t **gate, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite3_stmt *st = NULL;
    sp_code rc = gate_stmt(c, &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, id);
    return read_gate(c, st, id, gate, err);
}

/* ---- the list without principals: the approvals table itself ---- */

static sp_code list_all(sqlite_conn *c, const store_approval_filter *f, int limit,
                        json_t *list, char **next, sp_error *err)
{
    sqlite3_stmt *st = NULL;
    sp_code rc = f->status
        ? sqlite_stmt(c, SQ_APR_LIST_STATUS,
                      "SELECT doc FROM approvals WHERE status = ?2 AND id < ?1 "
                      "ORDER BY id DESC LIMIT ?3", &st, err)
        : sqlite_stmt(c, SQ_APR_LIST_ANY,
                      "SELECT doc FROM approvals WHERE id < ?1 ORDER BY id DESC LIMIT ?3",
                      &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, f->cursor ? f->cursor : SQLITE_CURSOR_TOP);
    if (f->status)
        sqlite_bind_str(st, 2, f->status);
    sqlite3_bind_int(st, 3, limit + 1);
    int step, n = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            const char *last = json_str(json_array_get(list, (size_t)n - 1), "id");
            if (!(*next = strdup(last ? last : "")))
                rc = sp_error_set(err, SP_ENOMEM, "out of memory");
            break;
        }
        json_t *doc = sqlite_col_json(st, 0, "gate", err);
        if (!doc) {
            rc = SP_ESTORE;
            break;
        }
        json_array_append_new(list, doc);
        n++;
    }
    if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = sqlite_fail(c, st, err, "list gates");
    sqlite_done(st);
    return rc;
}

/* ---- the inbox: merge of per-principal index ranges ---- */

typedef struct {
    char **v;
    size_t n, cap;
} id_set;

static int push_id(id_set *s, const char *id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(id)))
        return -1;
    s->n++;
    return 0;
}

static void free_ids(id_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static int newest_first(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Sorts newest first and drops duplicates (equal ids are now adjacent). */
static void sort_unique(id_set *s)
{
    if (s->n == 0)
        return;
    qsort(s->v, s->n, sizeof *s->v, newest_first);
    size_t out = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->v[i], s->v[out - 1]) == 0)
            free(s->v[i]);
        else
            s->v[out++] = s->v[i];
    }
    s->n = out;
}

/* Adds the newest limit+1 ids of one principal below the cursor to ids. */
static sp_code principal_ids(sqlite_conn *c, const char *principal,
                             const store_approval_filter *f, int limit, id_set *ids,
                             sp_error *err)
{
    sqlite3_stmt *st = NULL;
    sp_code rc = f->status
        ? sqlite_stmt(c, SQ_APR_INBOX_STATUS,
                      "SELECT approval_id FROM approval_assignees "
                      "WHERE principal = ?1 AND status = ?2 AND approval_id < ?3 "
                      "ORDER BY approval_id DESC LIMIT ?4", &st, err)
        : sqlite_stmt(c, SQ_APR_INBOX_ANY,
                      "SELECT approval_id FROM approval_assignees "
                      "WHERE principal = ?1 AND approval_id < ?3 "
                      "ORDER BY approval_id DESC LIMIT ?4", &st, err);
    if (rc)
        return rc;
    sqlite_bind_str(st, 1, principal);
    if (f->status)
        sqlite_bind_str(st, 2, f->status);
    sqlite_bind_str(st, 3, f->cursor ? f->cursor : SQLITE_CURSOR_TOP);
    sqlite3_bind_int(st, 4, limit + 1);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (push_id(ids, (const char *)sqlite3_column_text(st, 0)) != 0) {
            sqlite_done(st);
            return sp_error_set(err, SP_ENOMEM, "out of memory");
        }
    if (step != SQLITE_DONE)
        return sqlite_fail(c, st, err, "read the inbox");
    sqlite_done(st);
    return SP_OK;
}

static sp_code list_inbox(sqlite_conn *c, const store_approval_filter *f, int limit,
                          json_t *list, char **next, sp_error *err)
{
    id_set ids = { 0 };
    sp_code rc = SP_OK;
    size_t i;
    json_t *p;
    json_array_foreach(f->principals, i, p) {
        if (json_is_string(p) &&
            (rc = principal_ids(c, json_string_value(p), f, limit, &ids, err)))
            goto out;
    }
    sort_unique(&ids);
    size_t take = ids.n > (size_t)limit ? (size_t)limit : ids.n;
    sqlite3_stmt *st = NULL;
    if (take && (rc = gate_stmt(c, &st, err)))
        goto out;
    for (i = 0; i < take; i++) {
        sqlite_bind_str(st, 1, ids.v[i]);
        json_t *doc = NULL;
        if ((rc = read_gate(c, st, ids.v[i], &doc, err)))
            goto out;
        json_array_append_new(list, doc);
    }
    if (ids.n > (size_t)limit && !(*next = strdup(ids.v[limit - 1])))
        rc = sp_error_set(err, SP_ENOMEM, "out of memory");
out:
    free_ids(&ids);
    return rc;
}

sp_code sqlite_approval_list(store_conn *base, const store_approval_filter *f, json_t **items,
                             char **next_cursor, sp_error *err)
{
    sqlite_conn *c = sqlite_cast(base);
    int limit = sqlite_limit(f->limit);
    json_t *list = json_array();
    char *next = NULL;
    bool began = sqlite_read_begin(c);
    sp_code rc = f->principals ? list_inbox(c, f, limit, list, &next, err)
                               : list_all(c, f, limit, list, &next, err);
    sqlite_read_end(c, began);
    if (rc) {
        json_decref(list);
        free(next);
        return rc;
    }
    *items = list;
    *next_cursor = next;
    return SP_OK;
}
