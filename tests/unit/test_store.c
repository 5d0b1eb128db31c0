/* test_store.c - the SQLite store (src/store): every entity, pagination,
 * the inbox, transactions, snapshots, the reader pool and fault injection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/jsonx.h"
#include "core/log.h"
#include "store/sqlite/sqlite_int.h"
#include "store/store.h"

typedef struct {
    char dir[64];
    char path[96];
    char url[128];
    store *st;
} fixture;

static void remove_db(const char *path)
{
    char p[128];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static int setup(void **state)
{
    log_set_level(LOG_ERROR);
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/spojit-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/s.db", f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
    sp_error err = SP_ERROR_INIT;
    if (!(f->st = store_open(f->url, &err))) {
        fprintf(stderr, "store_open: %s\n", err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    remove_db(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static json_t *run_doc(const char *id, const char *workflow, const char *status,
                       const char *by)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:s, s:{s:i}, s:[], s:s, s:s, s:i}", "id", id,
                     "workflow", workflow, "version", 1, "status", status, "started_by", by,
                     "input", "amount", 612, "steps", "created_at", "2026-01-01T00:00:00.000Z",
                     "updated_at", "2026-01-01T00:00:01.000Z", "_cursor", 0);
}

static json_t *gate_doc(const char *id, const char *status, json_t *assignees)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "id", id, "run_id", "run_x",
                     "status", status, "title", "Refund", "assignees", assignees,
                     "created_at", "2026-01-01T00:00:00.000Z", "due_at",
                     "2026-01-02T00:00:00.000Z");
}

static void put_run(store_conn *w, const char *id, const char *wf, const char *status,
                    const char *by)
{
    sp_error err = SP_ERROR_INIT;
    json_t *r = run_doc(id, wf, status, by);
    assert_int_equal(store_run_put(w, r, &err), SP_OK);
    json_decref(r);
}

static void put_gate(store_conn *w, const char *id, const char *status, json_t *assignees)
{
    sp_error err = SP_ERROR_INIT;
    json_t *g = gate_doc(id, status, assignees);
    assert_int_equal(store_approval_put(w, g, &err), SP_OK);
    json_decref(g);
}

static void begin(store_conn *w)
{
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_begin(w, &err), SP_OK);
}

static void commit(store_conn *w)
{
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_commit(w, &err), SP_OK);
}

static bool run_exists(store_conn *c, const char *id)
{
    json_t *r = NULL;
    sp_error err = SP_ERROR_INIT;
    sp_code rc = store_run_get(c, id, &r, &err);
    json_decref(r);
    assert_true(rc == SP_OK || rc == SP_ENOTFOUND);
    return rc == SP_OK;
}

/* The ids of a list's items joined with ',' (for compact assertions). */
static void ids_of(json_t *items, char *out, size_t size)
{
    size_t i, n = 0;
    json_t *it;
    out[0] = '\0';
    json_array_foreach(items, i, it)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? "," : "", json_str(it, "id"));
}

static long long pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *query_plan(sqlite3 *db, const char *sql)
{
    char q[1024], *out = calloc(1, 4096);
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        strncat(out, (const char *)sqlite3_column_text(st, 3), 4000 - strlen(out));
        strcat(out, "\n");
    }
    sqlite3_finalize(st);
    return out;
}

/* ---- opening ---- */

static void durability_pragmas_are_set_on_the_writer(void **state)
{
    fixture *f = *state;
    sqlite3 *db = sqlite_cast(store_writer(f->st))->db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(pragma_int(db, "PRAGMA synchronous"), 2);     /* FULL */
    assert_int_equal(pragma_int(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(pragma_int(db, "PRAGMA busy_timeout"), SQLITE_BUSY_MS);
    assert_int_equal(pragma_int(db, "PRAGMA user_version"), sqlite_schema_version());
}

/* The engine asks this after each command: SQLite may end a transaction by
 * itself after an error (simulated here by a ROLLBACK behind its back). */
static void in_transaction_follows_begin_commit_and_sqlites_own_rollback(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    assert_false(store_in_transaction(w));
    assert_int_equal(store_begin(w, &err), SP_OK);
    assert_true(store_in_transaction(w));
    assert_int_equal(store_savepoint(w, &err), SP_OK);
    assert_true(store_in_transaction(w));
    store_savepoint_rollback(w);
    assert_true(store_in_transaction(w));
    assert_int_equal(store_commit(w, &err), SP_OK);
    assert_false(store_in_transaction(w));
    assert_int_equal(store_begin(w, &err), SP_OK);
    assert_int_equal(sqlite3_exec(sqlite_cast(w)->db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_false(store_in_transaction(w));
    store_rollback(w);                                  /* nothing left to undo: fine */
    assert_false(store_in_transaction(NULL));
}

static void readers_are_query_only(void **state)
{
    fixture *f = *state;
    store_conn *r = store_reader(f->st);
    assert_non_null(r);
    assert_int_equal(pragma_int(sqlite_cast(r)->db, "PRAGMA query_only"), 1);
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_meta_put(r, "k", "v", &err), SP_ESTORE);
    assert_non_null(strstr(err.message, "readonly"));
    store_release(r);
}

static void reopening_keeps_data_and_schema(void **state)
{
    fixture *f = *state;
    sp_error err = SP_ERROR_INIT;
    store_conn *w = store_writer(f->st);
    begin(w);
    put_run(w, "run_a", "refund", "waiting", "alice");
    commit(w);
    store_close(f->st);
    f->st = store_open(f->url, &err);
    assert_non_null(f->st);
    assert_true(run_exists(store_writer(f->st), "run_a"));
}

static void newer_schema_version_is_refused(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    f->st = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    sp_error err = SP_ERROR_INIT;
    assert_null(store_open(f->url, &err));
    assert_int_equal(err.code, SP_ESTORE);
    assert_non_null(strstr(err.message, "schema version 99"));
}

static void store_urls_pick_a_backend(void **state)
{
    sp_error err = SP_ERROR_INIT;
    assert_null(store_open("postgres://localhost/spojit", &err));
    assert_int_equal(err.code, SP_EUNAVAIL);
    assert_string_equal(err.message, "PostgreSQL support is not built yet");
    assert_null(store_open("mysql://x", &err));
    assert_int_equal(err.code, SP_EBADINPUT);
    assert_null(store_open("sqlite:", &err));
    assert_int_equal(err.code, SP_EBADINPUT);
    assert_null(store_open("sqlite:/nonexistent-dir/x/y.db", &err));
    assert_int_equal(err.code, SP_ESTORE);
    assert_non_null(strstr(err.message, "/nonexistent-dir/x/y.db"));
}

static void memory_store_readers_share_the_writer(void **state)
{
    sp_error err = SP_ERROR_INIT;
    store *m = store_open("sqlite::memory:", &err);
    assert_non_null(m);
    store_conn *w = store_writer(m);
    put_run(w, "run_m", "refund", "running", "alice");
    store_conn *r = store_reader(m);
    assert_ptr_equal(r, w);
    assert_true(run_exists(r, "run_m"));
    store_release(r);
    store_close(m);
}

/* ---- meta, workflows ---- */

static void meta_put_get_and_missing_key(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    char *v = NULL;
    assert_int_equal(store_meta_get(w, "signing_key", &v, &err), SP_ENOTFOUND);
    assert_int_equal(store_meta_put(w, "signing_key", "a", &err), SP_OK);
    assert_int_equal(store_meta_put(w, "signing_key", "b", &err), SP_OK);
    assert_int_equal(store_meta_get(w, "signing_key", &v, &err), SP_OK);
    assert_string_equal(v, "b");
    free(v);
}

static void workflow_put(store_conn *w, const char *name, int version, const char *hash)
{
    sp_error err = SP_ERROR_INIT;
    json_t *row = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "name", name, "version",
                            version, "hash", hash, "format", "yaml", "source", "name: x\n",
                            "created_by", "admin", "created_at", "2026-03-04T05:06:07.089Z");
    assert_int_equal(store_workflow_put(w, row, &err), SP_OK);
    json_decref(row);
}

static void workflow_versions_are_immutable_and_found(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    int v = -1;
    assert_int_equal(store_workflow_latest(w, "refund", &v, &err), SP_OK);
    assert_int_equal(v, 0);
    workflow_put(w, "refund", 1, "h1");
    workflow_put(w, "refund", 2, "h2");
    workflow_put(w, "publish", 1, "p1");

    json_t *dup = json_pack("{s:s, s:i, s:s, s:s, s:s}", "name", "refund", "version", 2, "hash",
                            "h3", "format", "yaml", "source", "x");
    assert_int_equal(store_workflow_put(w, dup, &err), SP_ECONFLICT);
    json_decref(dup);

    assert_int_equal(store_workflow_latest(w, "refund", &v, &err), SP_OK);
    assert_int_equal(v, 2);
    assert_int_equal(store_workflow_find_hash(w, "refund", "h1", &v, &err), SP_OK);
    assert_int_equal(v, 1);
    assert_int_equal(store_workflow_find_hash(w, "refund", "nope", &v, &err), SP_OK);
    assert_int_equal(v, 0);

    json_t *row = NULL;
    assert_int_equal(store_workflow_get(w, "refund", 0, &row, &err), SP_OK);
    assert_int_equal(json_integer_value(json_object_get(row, "version")), 2);
    assert_string_equal(json_str(row, "source"), "name: x\n");
    assert_string_equal(json_str(row, "created_at"), "2026-03-04T05:06:07.089Z");
    json_decref(row);
    assert_int_equal(store_workflow_get(w, "refund", 1, &row, &err), SP_OK);
    assert_string_equal(json_str(row, "hash"), "h1");
    json_decref(row);
    assert_int_equal(store_workflow_get(w, "refund", 7, &row, &err), SP_ENOTFOUND);
    assert_int_equal(store_workflow_get(w, "nothing", 0, &row, &err), SP_ENOTFOUND);

    json_t *items = NULL;
    assert_int_equal(store_workflow_list(w, &items, &err), SP_OK);
    assert_int_equal(json_array_size(items), 2);
    json_t *refund = json_array_get(items, 1);
    assert_string_equal(json_str(refund, "name"), "refund");
    assert_int_equal(json_integer_value(json_object_get(refund, "version")), 2);
    assert_int_equal(json_integer_value(json_object_get(refund, "versions")), 2);
    assert_string_equal(json_str(refund, "hash"), "h2");
    assert_null(json_object_get(refund, "source"));
    json_decref(items);
}

/* ---- runs ---- */

static void run_put_get_round_trips_the_document(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    json_t *r = run_doc("run_a", "refund", "running", "alice");
    assert_int_equal(store_run_put(w, r, &err), SP_OK);
    json_t *got = NULL;
    assert_int_equal(store_run_get(w, "run_a", &got, &err), SP_OK);
    assert_true(json_equal(r, got));
    json_decref(got);

    json_object_set_new(r, "status", json_string("completed"));
    assert_int_equal(store_run_put(w, r, &err), SP_OK);     /* replace */
    assert_int_equal(store_run_get(w, "run_a", &got, &err), SP_OK);
    assert_string_equal(json_str(got, "status"), "completed");
    json_decref(got);
    json_decref(r);

    assert_int_equal(store_run_get(w, "run_none", &got, &err), SP_ENOTFOUND);
    assert_non_null(strstr(err.message, "run_none"));
}

static void run_put_rejects_documents_without_id_or_with_bad_times(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    json_t *r = json_pack("{s:s}", "status", "running");
    assert_int_equal(store_run_put(w, r, &err), SP_EINVALID);
    json_decref(r);
    r = run_doc("run_t", "refund", "running", "alice");
    json_object_set_new(r, "created_at", json_string("yesterday"));
    assert_int_equal(store_run_put(w, r, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "created_at"));
    json_decref(r);
    assert_false(run_exists(w, "run_t"));
}

static void corrupt_document_is_a_store_error_not_a_crash(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    put_run(w, "run_c", "refund", "running", "alice");
    sqlite3 *db = sqlite_cast(w)->db;
    assert_int_equal(sqlite3_exec(db, "UPDATE runs SET doc = '{bad' WHERE id = 'run_c'", NULL,
                                  NULL, NULL), SQLITE_OK);
    json_t *got = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_run_get(w, "run_c", &got, &err), SP_ESTORE);
    assert_null(got);
    assert_non_null(strstr(err.message, "not valid JSON"));
}

static void run_list_pages_newest_first_with_cursors(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    begin(w);
    for (int i = 1; i <= 7; i++) {
        char id[16];
        snprintf(id, sizeof id, "run_%02d", i);
        put_run(w, id, i % 2 ? "refund" : "publish", i <= 3 ? "waiting" : "completed",
                i == 7 ? "bob" : "alice");
    }
    commit(w);
    store_conn *r = store_reader(f->st);
    sp_error err = SP_ERROR_INIT;
    json_t *items = NULL;
    char *next = NULL, ids[256];
    store_run_filter filt = { .limit = 3 };

    assert_int_equal(store_run_list(r, &filt, &items, &next, &err), SP_OK);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "run_07,run_06,run_05");
    assert_string_equal(next, "run_05");
    json_decref(items);

    filt.cursor = next;
    assert_int_equal(store_run_list(r, &filt, &items, &next, &err), SP_OK);
    free((char *)filt.cursor);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "run_04,run_03,run_02");
    json_decref(items);

    filt.cursor = next;
    assert_int_equal(store_run_list(r, &filt, &items, &next, &err), SP_OK);
    free((char *)filt.cursor);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "run_01");
    assert_null(next);
    json_decref(items);

    /* exactly a page left: no next cursor either */
    store_run_filter exact = { .limit = 7 };
    assert_int_equal(store_run_list(r, &exact, &items, &next, &err), SP_OK);
    assert_int_equal(json_array_size(items), 7);
    assert_null(next);
    json_decref(items);

    store_run_filter waiting = { .status = "waiting", .workflow = "refund", .limit = 10 };
    assert_int_equal(store_run_list(r, &waiting, &items, &next, &err), SP_OK);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "run_03,run_01");
    json_decref(items);

    store_run_filter by_bob = { .started_by = "bob", .limit = 10 };
    assert_int_equal(store_run_list(r, &by_bob, &items, &next, &err), SP_OK);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "run_07");
    json_decref(items);
    store_release(r);
}

static void run_list_and_inbox_are_index_ranges(void **state)
{
    fixture *f = *state;
    sqlite3 *db = sqlite_cast(store_writer(f->st))->db;
    char *plan = query_plan(db, "SELECT doc FROM runs WHERE id < 'x' AND status = 'waiting' "
                                "ORDER BY id DESC LIMIT 51");
    assert_non_null(strstr(plan, "runs_status"));
    assert_null(strstr(plan, "TEMP B-TREE"));
    free(plan);
    plan = query_plan(db, "SELECT approval_id FROM approval_assignees WHERE principal = 'u' "
                          "AND status = 'pending' AND approval_id < 'x' "
                          "ORDER BY approval_id DESC LIMIT 51");
    assert_non_null(strstr(plan, "COVERING INDEX approval_assignees_inbox"));
    assert_null(strstr(plan, "TEMP B-TREE"));
    free(plan);
}

static void run_active_lists_running_runs_oldest_first(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    put_run(w, "run_3", "refund", "running", "a");
    put_run(w, "run_1", "refund", "running", "a");
    put_run(w, "run_2", "refund", "waiting", "a");
    sp_error err = SP_ERROR_INIT;
    json_t *ids = NULL;
    assert_int_equal(store_run_active(w, &ids, &err), SP_OK);
    assert_int_equal(json_array_size(ids), 2);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), "run_1");
    assert_string_equal(json_string_value(json_array_get(ids, 1)), "run_3");
    json_decref(ids);

    json_t *counts = NULL;
    assert_int_equal(store_run_counts(w, &counts, &err), SP_OK);
    assert_int_equal(json_integer_value(json_object_get(counts, "running")), 2);
    assert_int_equal(json_integer_value(json_object_get(counts, "waiting")), 1);
    assert_int_equal(json_object_size(counts), 2);
    json_decref(counts);
}

static void idempotency_keys_are_scoped_to_the_principal(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    char *id = NULL;
    assert_int_equal(store_idem_get(w, "alice", "k1", &id, &err), SP_ENOTFOUND);
    assert_int_equal(store_idem_put(w, "alice", "k1", "run_a", 1000, &err), SP_OK);
    assert_int_equal(store_idem_get(w, "alice", "k1", &id, &err), SP_OK);
    assert_string_equal(id, "run_a");
    free(id);
    assert_int_equal(store_idem_get(w, "bob", "k1", &id, &err), SP_ENOTFOUND);
    assert_int_equal(store_idem_put(w, "alice", "k1", "run_b", 2000, &err), SP_ECONFLICT);
}

/* ---- approvals and the inbox ---- */

static void approval_put_get_round_trips_the_document(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    json_t *g = gate_doc("apr_1", "pending", json_pack("[s]", "user:alice"));
    assert_int_equal(store_approval_put(w, g, &err), SP_OK);
    json_t *got = NULL;
    assert_int_equal(store_approval_get(w, "apr_1", &got, &err), SP_OK);
    assert_true(json_equal(g, got));
    json_decref(got);
    json_decref(g);
    assert_int_equal(store_approval_get(w, "apr_none", &got, &err), SP_ENOTFOUND);
    assert_non_null(strstr(err.message, "apr_none"));
}

static json_t *inbox(store_conn *c, json_t *principals, const char *status, int limit,
                     const char *cursor, char **next)
{
    store_approval_filter f = { .principals = principals, .status = status, .limit = limit,
                                .cursor = cursor };
    json_t *items = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_approval_list(c, &f, &items, next, &err), SP_OK);
    return items;
}

static void inbox_merges_user_and_team_gates_once_each(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    begin(w);
    put_gate(w, "apr_1", "pending", json_pack("[s]", "user:alice"));
    put_gate(w, "apr_2", "pending", json_pack("[s, s]", "user:alice", "team:finance"));
    put_gate(w, "apr_3", "pending", json_pack("[s]", "team:finance"));
    put_gate(w, "apr_4", "pending", json_pack("[s]", "user:bob"));
    put_gate(w, "apr_5", "approved", json_pack("[s]", "team:finance"));
    put_gate(w, "apr_6", "pending", json_pack("[s, s]", "team:finance", "team:finance"));
    commit(w);

    store_conn *r = store_reader(f->st);
    json_t *me = json_pack("[s, s, s]", "user:alice", "team:finance", "team:support");
    char *next = NULL, ids[256];
    json_t *items = inbox(r, me, "pending", 10, NULL, &next);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "apr_6,apr_3,apr_2,apr_1");
    assert_null(next);
    json_decref(items);

    items = inbox(r, me, NULL, 10, NULL, &next);            /* any status */
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "apr_6,apr_5,apr_3,apr_2,apr_1");
    json_decref(items);

    /* pages of two: the dedupe must not make a page short or repeat a gate */
    items = inbox(r, me, "pending", 2, NULL, &next);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "apr_6,apr_3");
    assert_string_equal(next, "apr_3");
    json_decref(items);
    char *cursor = next;
    items = inbox(r, me, "pending", 2, cursor, &next);
    free(cursor);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "apr_2,apr_1");
    assert_null(next);
    json_decref(items);

    json_t *nobody = json_array();
    items = inbox(r, nobody, "pending", 10, NULL, &next);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
    json_decref(nobody);

    items = inbox(r, NULL, "pending", 10, NULL, &next);     /* everyone's */
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "apr_6,apr_4,apr_3,apr_2,apr_1");
    json_decref(items);
    items = inbox(r, NULL, NULL, 4, NULL, &next);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "apr_6,apr_5,apr_4,apr_3");
    assert_string_equal(next, "apr_3");
    free(next);
    json_decref(items);
    json_decref(me);
    store_release(r);
}

static void deciding_a_gate_moves_it_out_of_the_pending_inbox(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    put_gate(w, "apr_1", "pending", json_pack("[s, s]", "user:alice", "team:finance"));
    put_gate(w, "apr_2", "pending", json_pack("[s]", "team:finance"));
    json_t *me = json_pack("[s, s]", "user:alice", "team:finance");
    char *next = NULL, ids[256];

    put_gate(w, "apr_1", "approved", json_pack("[s, s]", "user:alice", "team:finance"));
    json_t *items = inbox(w, me, "pending", 10, NULL, &next);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "apr_2");
    json_decref(items);
    items = inbox(w, me, "approved", 10, NULL, &next);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "apr_1");
    json_decref(items);

    /* reassigning replaces the assignee rows */
    put_gate(w, "apr_2", "pending", json_pack("[s]", "user:carol"));
    items = inbox(w, me, "pending", 10, NULL, &next);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
    json_t *carol = json_pack("[s]", "user:carol");
    items = inbox(w, carol, "pending", 10, NULL, &next);
    ids_of(items, ids, sizeof ids);
    assert_string_equal(ids, "apr_2");
    json_decref(items);
    json_decref(carol);
    json_decref(me);
}

static void list_limits_are_clamped(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    begin(w);
    for (int i = 0; i < 60; i++) {
        char id[16];
        snprintf(id, sizeof id, "run_%03d", i);
        put_run(w, id, "refund", "waiting", "alice");
    }
    commit(w);
    store_run_filter filt = { .limit = 0 };
    json_t *items = NULL;
    char *next = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_run_list(w, &filt, &items, &next, &err), SP_OK);
    assert_int_equal(json_array_size(items), SQLITE_LIST_DEFAULT);
    assert_non_null(next);
    free(next);
    json_decref(items);
    filt.limit = 5000;
    assert_int_equal(store_run_list(w, &filt, &items, &next, &err), SP_OK);
    assert_int_equal(json_array_size(items), 60);
    assert_null(next);
    json_decref(items);
}

/* ---- transactions ---- */

static void savepoint_rollback_undoes_only_the_savepoint(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    begin(w);
    put_run(w, "run_a", "refund", "running", "alice");
    assert_int_equal(store_savepoint(w, &err), SP_OK);
    put_run(w, "run_b", "refund", "running", "alice");
    put_gate(w, "apr_b", "pending", json_pack("[s]", "user:alice"));
    store_savepoint_rollback(w);
    assert_int_equal(store_savepoint(w, &err), SP_OK);
    put_run(w, "run_c", "refund", "running", "alice");
    assert_int_equal(store_savepoint_release(w, &err), SP_OK);
    commit(w);

    store_conn *r = store_reader(f->st);
    assert_true(run_exists(r, "run_a"));
    assert_false(run_exists(r, "run_b"));
    assert_true(run_exists(r, "run_c"));
    json_t *g = NULL;
    assert_int_equal(store_approval_get(r, "apr_b", &g, &err), SP_ENOTFOUND);
    json_t *alice = json_pack("[s]", "user:alice");
    char *next = NULL;
    json_t *items = inbox(r, alice, NULL, 10, NULL, &next);
    assert_int_equal(json_array_size(items), 0);        /* its assignee rows went too */
    json_decref(items);
    json_decref(alice);
    store_release(r);
}

static void rollback_undoes_the_whole_transaction(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    begin(w);
    put_run(w, "run_a", "refund", "running", "alice");
    assert_int_equal(store_savepoint(w, &err), SP_OK);
    put_run(w, "run_b", "refund", "running", "alice");
    store_rollback(w);
    assert_false(run_exists(w, "run_a"));
    assert_false(run_exists(w, "run_b"));
    assert_int_equal(store_savepoint_release(w, &err), SP_EINTERNAL);   /* depth reset */
    begin(w);                                                           /* usable again */
    put_run(w, "run_c", "refund", "running", "alice");
    commit(w);
    assert_true(run_exists(w, "run_c"));
}

static void readers_see_committed_data_only(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    store_conn *r = store_reader(f->st);
    begin(w);
    put_run(w, "run_a", "refund", "running", "alice");
    assert_true(run_exists(w, "run_a"));
    assert_false(run_exists(r, "run_a"));
    commit(w);
    assert_true(run_exists(r, "run_a"));
    store_release(r);
}

/* ---- concurrency ---- */

typedef struct {
    store *st;
    int rounds;
    int errors;
    int last_seen;
    bool went_backwards;
} reader_job;

static void *reader_thread(void *arg)
{
    reader_job *job = arg;
    for (int i = 0; i < job->rounds; i++) {
        store_conn *r = store_reader(job->st);
        if (!r) {
            job->errors++;
            continue;
        }
        store_run_filter filt = { .limit = 1000 };
        json_t *items = NULL;
        char *next = NULL;
        sp_error err = SP_ERROR_INIT;
        if (store_run_list(r, &filt, &items, &next, &err) != SP_OK) {
            job->errors++;
        } else {
            int n = (int)json_array_size(items);
            if (n < job->last_seen)
                job->went_backwards = true;
            job->last_seen = n;
        }
        json_decref(items);
        free(next);
        store_release(r);
    }
    return NULL;
}

static void concurrent_readers_work_while_the_writer_commits(void **state)
{
    fixture *f = *state;
    enum { READERS = 4, COMMITS = 200 };
    pthread_t th[READERS];
    reader_job jobs[READERS];
    for (int i = 0; i < READERS; i++) {
        jobs[i] = (reader_job){ .st = f->st, .rounds = 300 };
        pthread_create(&th[i], NULL, reader_thread, &jobs[i]);
    }
    store_conn *w = store_writer(f->st);
    for (int i = 0; i < COMMITS; i++) {
        char id[16];
        snprintf(id, sizeof id, "run_%04d", i);
        begin(w);
        put_run(w, id, "refund", "running", "alice");
        commit(w);
    }
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].errors, 0);
        assert_false(jobs[i].went_backwards);
    }
    store_conn *r = store_reader(f->st);
    json_t *counts = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_run_counts(r, &counts, &err), SP_OK);
    assert_int_equal(json_integer_value(json_object_get(counts, "running")), COMMITS);
    json_decref(counts);
    store_release(r);
}

typedef struct {
    store *st;
    store_conn *got;
} waiter;

static void *take_reader(void *arg)
{
    waiter *w = arg;
    w->got = store_reader(w->st);
    return NULL;
}

static void reader_pool_is_bounded_and_reuses_connections(void **state)
{
    fixture *f = *state;
    store_conn *held[SQLITE_POOL_MAX];
    for (int i = 0; i < SQLITE_POOL_MAX; i++) {
        held[i] = store_reader(f->st);
        assert_non_null(held[i]);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(held[i], held[j]);
    }
    /* The 17th waits until one comes back, then gets that one. Rather than
     * sleep and hope the thread got as far as the pool, wait until the pool
     * counts it as blocked: from then on, with every reader out, it cannot
     * leave store_reader() until one is released, so "it has none yet" is
     * a fact, not a guess about timing. */
    waiter wt = { .st = f->st };
    pthread_t th;
    pthread_create(&th, NULL, take_reader, &wt);
    assert_ptr_equal(f->st->ops, &sqlite_ops);        /* a plain SQLite store, no wrapper */
    sqlite_store *pool = (sqlite_store *)f->st;
    bool blocked = false;
    for (int i = 0; i < 10000 && !blocked; i++) {     /* 10 s at most */
        pthread_mutex_lock(&pool->mu);
        blocked = pool->waiting == 1;
        pthread_mutex_unlock(&pool->mu);
        if (!blocked)
            usleep(1000);
    }
    assert_true(blocked);
    assert_null(wt.got);
    store_release(held[3]);
    pthread_join(th, NULL);
    assert_ptr_equal(wt.got, held[3]);
    held[3] = wt.got;
    for (int i = 0; i < SQLITE_POOL_MAX; i++)
        store_release(held[i]);
}

/* ---- principals ---- */

static void users_teams_and_memberships(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    json_t *u = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "name", "alice", "role", "member",
                          "email", "a@example.com", "password_hash", "$argon2id$x", "disabled",
                          0, "created_at", "2026-01-01T00:00:00.000Z");
    assert_int_equal(store_user_put(w, u, &err), SP_OK);
    assert_int_equal(store_team_put(w, "finance", 1000, &err), SP_OK);
    assert_int_equal(store_team_put(w, "finance", 1000, &err), SP_ECONFLICT);
    assert_string_equal(err.message, "team 'finance' already exists");
    assert_int_equal(store_team_put(w, "editors", 1000, &err), SP_OK);
    bool exists = false;
    assert_int_equal(store_team_exists(w, "finance", &exists, &err), SP_OK);
    assert_true(exists);
    assert_int_equal(store_team_exists(w, "nope", &exists, &err), SP_OK);
    assert_false(exists);
    assert_int_equal(store_team_add_member(w, "finance", "alice", &err), SP_OK);
    assert_int_equal(store_team_add_member(w, "finance", "alice", &err), SP_OK);
    assert_int_equal(store_team_add_member(w, "editors", "alice", &err), SP_OK);
    assert_int_equal(store_team_add_member(w, "nope", "alice", &err), SP_EINVALID);
    assert_int_equal(store_team_add_member(w, "finance", "ghost", &err), SP_EINVALID);

    /* an upsert of the user keeps the memberships */
    json_object_set_new(u, "disabled", json_true());
    json_object_del(u, "email");
    assert_int_equal(store_user_put(w, u, &err), SP_OK);
    json_decref(u);

    json_t *got = NULL;
    assert_int_equal(store_user_get(w, "alice", &got, &err), SP_OK);
    assert_string_equal(json_str(got, "role"), "member");
    assert_true(json_is_true(json_object_get(got, "disabled")));
    assert_null(json_object_get(got, "email"));
    assert_string_equal(json_str(got, "password_hash"), "$argon2id$x");
    assert_string_equal(json_str(got, "created_at"), "2026-01-01T00:00:00.000Z");
    json_t *teams = json_object_get(got, "teams");
    assert_int_equal(json_array_size(teams), 2);
    assert_string_equal(json_string_value(json_array_get(teams, 0)), "editors");
    json_decref(got);
    assert_int_equal(store_user_get(w, "ghost", &got, &err), SP_ENOTFOUND);

    json_t *members = NULL;
    assert_int_equal(store_team_members(w, "finance", &members, &err), SP_OK);
    assert_int_equal(json_array_size(members), 1);
    assert_string_equal(json_string_value(json_array_get(members, 0)), "alice");
    json_decref(members);
}

static void keys_are_found_by_hash_only(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    json_t *k = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", "key_1", "user", "alice",
                          "scope", "agent", "name", "bot", "hash", "abc",
                          "created_at", "2026-01-01T00:00:00.000Z");
    assert_int_equal(store_key_put(w, k, &err), SP_OK);
    json_t *got = NULL;
    assert_int_equal(store_key_lookup(w, "abc", &got, &err), SP_OK);
    assert_string_equal(json_str(got, "id"), "key_1");
    assert_string_equal(json_str(got, "scope"), "agent");
    assert_null(json_object_get(got, "revoked_at"));
    json_decref(got);

    json_object_set_new(k, "revoked_at", json_string("2026-02-01T00:00:00Z"));
    assert_int_equal(store_key_put(w, k, &err), SP_OK);
    assert_int_equal(store_key_lookup(w, "abc", &got, &err), SP_OK);
    assert_string_equal(json_str(got, "revoked_at"), "2026-02-01T00:00:00.000Z");
    json_decref(got);

    json_object_set_new(k, "id", json_string("key_2"));     /* same hash, other id */
    assert_int_equal(store_key_put(w, k, &err), SP_ECONFLICT);
    json_decref(k);
    assert_int_equal(store_key_lookup(w, "nope", &got, &err), SP_ENOTFOUND);
}

/* ---- fault injection ---- */

static void fault_store_fails_exactly_the_nth_call(void **state)
{
    fixture *f = *state;
    char url[200];
    snprintf(url, sizeof url, "fault:3:%s", f->url);
    store_close(f->st);
    sp_error err = SP_ERROR_INIT;
    f->st = store_open(url, &err);
    assert_non_null(f->st);
    store_conn *w = store_writer(f->st);
    char *v = NULL;
    assert_int_equal(store_meta_put(w, "a", "1", &err), SP_OK);            /* 1 */
    assert_int_equal(store_meta_put(w, "b", "2", &err), SP_OK);            /* 2 */
    assert_int_equal(store_meta_get(w, "a", &v, &err), SP_ESTORE);         /* 3 */
    assert_null(v);
    assert_non_null(strstr(err.message, "injected fault at call 3"));
    assert_int_equal(store_meta_get(w, "a", &v, &err), SP_OK);             /* 4 */
    free(v);
    store_conn *r = store_reader(f->st);
    assert_int_equal(store_meta_get(r, "b", &v, &err), SP_OK);             /* 5 */
    free(v);
    store_release(r);
    assert_int_equal(store_fault_calls(f->st), 5);
    assert_null(store_open("fault:x:sqlite:/tmp/x", &err));
    assert_int_equal(err.code, SP_EBADINPUT);
}

/* A batch: two runs and a gate in one transaction. */
static sp_code batch(store_conn *w, sp_error *err)
{
    json_t *a = run_doc("run_a", "refund", "waiting", "alice");
    json_t *b = run_doc("run_b", "refund", "running", "alice");
    json_t *g = gate_doc("apr_a", "pending", json_pack("[s, s]", "user:alice", "team:x"));
    sp_code rc;
    if ((rc = store_begin(w, err)))
        goto out;
    if (!(rc = store_run_put(w, a, err)) && !(rc = store_savepoint(w, err)) &&
        !(rc = store_approval_put(w, g, err)) && !(rc = store_savepoint_release(w, err)) &&
        !(rc = store_run_put(w, b, err)))
        rc = store_commit(w, err);
    if (rc)
        store_rollback(w);
out:
    json_decref(a);
    json_decref(b);
    json_decref(g);
    return rc;
}

static void a_failure_at_any_call_leaves_all_or_nothing(void **state)
{
    fixture *f = *state;
    char url[200];
    snprintf(url, sizeof url, "fault:0:%s", f->url);
    store_close(f->st);
    sp_error err = SP_ERROR_INIT;
    f->st = store_open(url, &err);
    assert_non_null(f->st);
    assert_int_equal(batch(store_writer(f->st), &err), SP_OK);
    long calls = store_fault_calls(f->st);
    assert_true(calls >= 6);
    for (long n = 1; n <= calls; n++) {
        store_close(f->st);
        remove_db(f->path);
        snprintf(url, sizeof url, "fault:%ld:%s", n, f->url);
        f->st = store_open(url, &err);
        assert_non_null(f->st);
        store_conn *w = store_writer(f->st);
        assert_int_equal(batch(w, &err), SP_ESTORE);
        store_fault_arm(f->st, 0);
        bool a = run_exists(w, "run_a"), b = run_exists(w, "run_b");
        json_t *g = NULL;
        bool gate = store_approval_get(w, "apr_a", &g, &err) == SP_OK;
        json_decref(g);
        json_t *x = json_pack("[s]", "team:x");
        char *next = NULL;
        json_t *items = inbox(w, x, "pending", 10, NULL, &next);
        bool in_inbox = json_array_size(items) == 1;
        json_decref(items);
        json_decref(x);
        assert_false(a || b || gate || in_inbox);
        assert_int_equal(batch(w, &err), SP_OK);           /* and it still works */
        assert_true(run_exists(w, "run_a") && run_exists(w, "run_b"));
    }
}

/* Timers come back earliest first, only when due, and go away by id, by
 * gate or by run; next reports the earliest or STORE_TIMER_NONE. */
static void timers_are_due_in_order_and_cancelled_by_gate_or_run(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    sp_time next = 0;
    int64_t count = -1;
    assert_int_equal(store_timer_next(w, &next, &err), SP_OK);
    assert_true(next == STORE_TIMER_NONE);

    json_t *data = json_pack("{s:i}", "level", 1);
    assert_int_equal(store_begin(w, &err), SP_OK);
    assert_int_equal(store_timer_add(w, 3000, "gate.escalate", "run_a", "apr_a", data, &err), SP_OK);
    assert_int_equal(store_timer_add(w, 1000, "gate.timeout", "run_a", "apr_a", NULL, &err), SP_OK);
    assert_int_equal(store_timer_add(w, 2000, "run.wait", "run_b", NULL, data, &err), SP_OK);
    assert_int_equal(store_timer_add(w, 9000, "run.retry", "run_c", NULL, NULL, &err), SP_OK);
    assert_int_equal(store_commit(w, &err), SP_OK);
    json_decref(data);

    assert_int_equal(store_timer_next(w, &next, &err), SP_OK);
    assert_true(next == 1000);
    json_t *due = NULL;
    assert_int_equal(store_timer_due(w, 2500, 10, &due, &err), SP_OK);
    assert_int_equal(json_array_size(due), 2);
    json_t *first = json_array_get(due, 0), *second = json_array_get(due, 1);
    assert_string_equal(json_str(first, "kind"), "gate.timeout");
    assert_string_equal(json_str(first, "approval_id"), "apr_a");
    assert_string_equal(json_str(second, "kind"), "run.wait");
    assert_null(json_str(second, "approval_id"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(second, "data"), "level")), 1);
    json_t *limited = NULL;
    assert_int_equal(store_timer_due(w, 2500, 1, &limited, &err), SP_OK);
    assert_int_equal(json_array_size(limited), 1);
    json_decref(limited);

    assert_int_equal(store_begin(w, &err), SP_OK);
    assert_int_equal(store_timer_delete(w, json_integer_value(json_object_get(first, "id")), &err), SP_OK);
    assert_int_equal(store_timer_cancel(w, NULL, "apr_a", &err), SP_OK);   /* the escalation */
    assert_int_equal(store_timer_cancel(w, "run_b", NULL, &err), SP_OK);   /* the wait */
    assert_int_equal(store_commit(w, &err), SP_OK);
    json_decref(due);

    assert_int_equal(store_timer_count(w, &count, &err), SP_OK);
    assert_int_equal(count, 1);
    assert_int_equal(store_timer_next(w, &next, &err), SP_OK);
    assert_true(next == 9000);
    assert_int_equal(store_timer_due(w, 8999, 10, &due, &err), SP_OK);
    assert_int_equal(json_array_size(due), 0);
    json_decref(due);
}

/* Keys by id and by user (newest first), leaving a team, and deleting a
 * user: memberships go with it, the key rows stay for the record. */
static void keys_listed_and_users_removed(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    json_t *u = json_pack("{s:s, s:s, s:b, s:s}", "name", "bo", "role", "member", "disabled", 0,
                          "created_at", "2026-01-01T00:00:00.000Z");
    assert_int_equal(store_user_put(w, u, &err), SP_OK);
    json_decref(u);
    assert_int_equal(store_team_put(w, "ops", 1000, &err), SP_OK);
    assert_int_equal(store_team_add_member(w, "ops", "bo", &err), SP_OK);
    for (int i = 1; i <= 2; i++) {
        char id[32], hash[65];
        snprintf(id, sizeof id, "key_%d", i);
        snprintf(hash, sizeof hash, "%064d", i);
        json_t *k = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "user", "bo", "scope",
                              "member", "hash", hash, "created_at", "2026-01-01T00:00:00.000Z");
        assert_int_equal(store_key_put(w, k, &err), SP_OK);
        json_decref(k);
    }
    json_t *key = NULL, *keys = NULL, *names = NULL, *members = NULL;
    assert_int_equal(store_key_get(w, "key_2", &key, &err), SP_OK);
    assert_string_equal(json_str(key, "user"), "bo");
    json_decref(key);
    assert_int_equal(store_key_get(w, "key_9", &key, &err), SP_ENOTFOUND);
    assert_int_equal(store_key_list(w, "bo", &keys, &err), SP_OK);
    assert_int_equal(json_array_size(keys), 2);
    assert_string_equal(json_str(json_array_get(keys, 0), "id"), "key_2");
    json_decref(keys);
    assert_int_equal(store_key_list(w, "nobody", &keys, &err), SP_OK);
    assert_int_equal(json_array_size(keys), 0);
    json_decref(keys);

    assert_int_equal(store_team_remove_member(w, "ops", "bo", &err), SP_OK);
    assert_int_equal(store_team_remove_member(w, "ops", "bo", &err), SP_OK);  /* a set */
    assert_int_equal(store_team_members(w, "ops", &members, &err), SP_OK);
    assert_int_equal(json_array_size(members), 0);
    json_decref(members);
    assert_int_equal(store_team_add_member(w, "ops", "bo", &err), SP_OK);

    assert_int_equal(store_user_list(w, &names, &err), SP_OK);
    assert_int_equal(json_array_size(names), 1);
    json_decref(names);
    bool retired = true;
    assert_int_equal(store_user_name_retired(w, "bo", &retired, &err), SP_OK);
    assert_false(retired);
    assert_int_equal(store_user_delete(w, "bo", 1000, &err), SP_OK);
    assert_int_equal(store_user_delete(w, "bo", 2000, &err), SP_ENOTFOUND);
    assert_int_equal(store_user_name_retired(w, "bo", &retired, &err), SP_OK);
    assert_true(retired);
    assert_int_equal(store_team_members(w, "ops", &members, &err), SP_OK);
    assert_int_equal(json_array_size(members), 0);          /* cascaded */
    json_decref(members);
    assert_int_equal(store_key_get(w, "key_1", &key, &err), SP_OK);    /* kept */
    json_decref(key);
    sp_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(durability_pragmas_are_set_on_the_writer),
        T(in_transaction_follows_begin_commit_and_sqlites_own_rollback),
        T(readers_are_query_only),
        T(reopening_keeps_data_and_schema),
        T(newer_schema_version_is_refused),
        T(store_urls_pick_a_backend),
        T(memory_store_readers_share_the_writer),
        T(meta_put_get_and_missing_key),
        T(workflow_versions_are_immutable_and_found),
        T(run_put_get_round_trips_the_document),
        T(run_put_rejects_documents_without_id_or_with_bad_times),
        T(corrupt_document_is_a_store_error_not_a_crash),
        T(run_list_pages_newest_first_with_cursors),
        T(run_list_and_inbox_are_index_ranges),
        T(run_active_lists_running_runs_oldest_first),
        T(idempotency_keys_are_scoped_to_the_principal),
        T(approval_put_get_round_trips_the_document),
        T(inbox_merges_user_and_team_gates_once_each),
        T(deciding_a_gate_moves_it_out_of_the_pending_inbox),
        T(list_limits_are_clamped),
        T(savepoint_rollback_undoes_only_the_savepoint),
        T(rollback_undoes_the_whole_transaction),
        T(readers_see_committed_data_only),
        T(concurrent_readers_work_while_the_writer_commits),
        T(reader_pool_is_bounded_and_reuses_connections),
        T(users_teams_and_memberships),
        T(keys_are_found_by_hash_only),
        T(fault_store_fails_exactly_the_nth_call),
        T(a_failure_at_any_call_leaves_all_or_nothing),
        T(timers_are_due_in_order_and_cancelled_by_gate_or_run),
        T(keys_listed_and_users_removed),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
