/* test_audit.c - the hash-chained audit trail (src/audit): appending,
 * verifying, and detecting edits, deletions and reordering made behind
 * spojit's back with a raw SQLite connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit/audit.h"
#include "audit/audit_int.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "store/store.h"
#include "store/store_impl.h"

typedef struct {
    char dir[64];
    char path[96];
    char url[128];
    store *st;
    audit_chain chain;
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

static int open_store(fixture *f, const char *prefix)
{
    char url[200];
    snprintf(url, sizeof url, "%s%s", prefix, f->url);
    sp_error err = SP_ERROR_INIT;
    if (!(f->st = store_open(url, &err))) {
        fprintf(stderr, "store_open: %s\n", err.message);
        return -1;
    }
    return audit_chain_load(store_writer(f->st), &f->chain, &err) == SP_OK ? 0 : -1;
}

static int setup(void **state)
{
    log_set_level(LOG_ERROR);
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/spojit-audit-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/a.db", f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
    *state = f;
    return open_store(f, "");
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

static void append(fixture *f, const char *type, const char *run_id, json_t *data)
{
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_append(store_writer(f->st), &f->chain, 1767225600000 + f->chain.seq,
                                  "alice", type, run_id, NULL, data, &err), SP_OK);
    json_decref(data);
}

/* Five rows: run.started, step.started, gate.opened, decision, run.ended. */
static void append_five(fixture *f)
{
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_begin(w, &err), SP_OK);
    append(f, "run.started", "run_1", json_pack("{s:s}", "workflow", "refund"));
    append(f, "step.started", "run_1", json_pack("{s:s, s:i}", "step", "draft", "visit", 1));
    append(f, "gate.opened", "run_1", json_pack("{s:[s]}", "assignees", "team:finance"));
    append(f, "decision", "run_1", json_pack("{s:s, s:s}", "by", "alice", "decision", "approve"));
    append(f, "run.ended", "run_1", json_pack("{s:s}", "status", "completed"));
    assert_int_equal(store_commit(w, &err), SP_OK);
}

static json_t *verify(fixture *f)
{
    store_conn *r = store_reader(f->st);
    json_t *result = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_verify(r, &result, &err), SP_OK);
    store_release(r);
    return result;
}

/* Runs SQL on the database through a connection of its own, as a person
 * with file access would. */
static void tamper(fixture *f, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "tamper: %s\n", msg);
    sqlite3_free(msg);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);
}

static void assert_broken_at(json_t *result, int64_t seq, const char *reason_part)
{
    assert_false(json_is_true(json_object_get(result, "ok")));
    assert_int_equal(json_integer_value(json_object_get(result, "first_bad_seq")), seq);
    const char *reason = json_str(result, "reason");
    assert_non_null(reason);
    if (!strstr(reason, reason_part))
        fail_msg("reason '%s' does not mention '%s'", reason, reason_part);
}

/* ---- the chain ---- */

static void empty_trail_verifies_with_zero_rows(void **state)
{
    fixture *f = *state;
    assert_int_equal(f->chain.seq, 0);
    assert_string_equal(f->chain.head, AUDIT_GENESIS);
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "rows")), 0);
    assert_string_equal(json_str(r, "head"), "");
    assert_null(json_object_get(r, "first_bad_seq"));
    json_decref(r);
}

static void appended_rows_verify_and_head_matches_the_chain(void **state)
{
    fixture *f = *state;
    append_five(f);
    assert_int_equal(f->chain.seq, 5);
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "rows")), 5);
    assert_string_equal(json_str(r, "head"), f->chain.head);
    json_decref(r);
}

typedef struct {
    int n;
    json_t *rows;
} collect;

static int collect_row(void *ctx, const store_audit_row *row)
{
    collect *c = ctx;
    json_array_append_new(c->rows, audit_row_json(row));
    return ++c->n >= 100;
}

static json_t *scan(fixture *f, const store_audit_filter *filt)
{
    collect c = { .rows = json_array() };
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_audit_scan(store_writer(f->st), filt, collect_row, &c, &err), SP_OK);
    return c.rows;
}

static void row_hash_is_sha256_of_prev_hash_and_canonical_json(void **state)
{
    fixture *f = *state;
    /* strings that need escaping, and non-ASCII text, in every field */
    sp_error err = SP_ERROR_INIT;
    json_t *data = json_pack("{s:s, s:f, s:[i, n, b], s:s}", "comment", "say \"no\"\n\\ / \t",
                             "amount", 612.5, "list", 1, 1, "z\xc3\xa9ro", "\x01\x1f");
    assert_int_equal(audit_append(store_writer(f->st), &f->chain, 1767225600123,
                                  "al\"ice\xe2\x80\xa8", "decision", "run_\"1", "apr_,\"run_id\":",
                                  data, &err), SP_OK);
    store_audit_filter all = { 0 };
    json_t *rows = scan(f, &all);
    json_t *row = json_array_get(rows, 0);
    json_t *obj = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "actor",
                            json_object_get(row, "actor"), "approval_id",
                            json_object_get(row, "approval_id"), "at",
                            json_object_get(row, "at"), "data", data, "run_id",
                            json_object_get(row, "run_id"), "seq", json_object_get(row, "seq"),
                            "type", json_object_get(row, "type"));
    char *canon = json_canonical(obj);
    size_t len = 64 + strlen(canon);
    char *input = malloc(len + 1);
    snprintf(input, len + 1, "%s%s", AUDIT_GENESIS, canon);
    char want[65];
    sha256_hex(input, len, want);
    assert_string_equal(json_str(row, "hash"), want);
    assert_string_equal(json_str(row, "at"), "2026-01-01T00:00:00.123Z");
    assert_true(json_equal(json_object_get(row, "data"), data));
    free(input);
    free(canon);
    json_decref(obj);
    json_decref(rows);
    json_decref(data);
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

static void chain_resumes_after_reopening(void **state)
{
    fixture *f = *state;
    append_five(f);
    char head[65];
    memcpy(head, f->chain.head, sizeof head);
    store_close(f->st);
    assert_int_equal(open_store(f, ""), 0);
    assert_int_equal(f->chain.seq, 5);
    assert_string_equal(f->chain.head, head);
    append(f, "run.started", "run_2", NULL);
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "rows")), 6);
    json_decref(r);
}

static void chain_restored_after_a_savepoint_rollback_stays_valid(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_begin(w, &err), SP_OK);
    append(f, "run.started", "run_1", NULL);
    audit_chain saved = f->chain;                       /* what the engine does per command */
    assert_int_equal(store_savepoint(w, &err), SP_OK);
    append(f, "run.started", "run_2", NULL);
    store_savepoint_rollback(w);
    f->chain = saved;
    append(f, "run.started", "run_3", NULL);
    assert_int_equal(store_commit(w, &err), SP_OK);
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "rows")), 2);
    json_decref(r);
}

static void a_failed_append_leaves_the_chain_unchanged(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    assert_int_equal(open_store(f, "fault:0:"), 0);
    append(f, "run.started", "run_1", NULL);
    audit_chain before = f->chain;
    store_fault_arm(f->st, 1);
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_append(store_writer(f->st), &f->chain, 1, "alice", "run.started",
                                  "run_2", NULL, NULL, &err), SP_ESTORE);
    assert_int_equal(f->chain.seq, before.seq);
    assert_string_equal(f->chain.head, before.head);
    append(f, "run.started", "run_3", NULL);
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "rows")), 2);
    json_decref(r);
}

static void a_stale_chain_head_is_a_conflict(void **state)
{
    fixture *f = *state;
    append(f, "run.started", "run_1", NULL);
    audit_chain stale = { .seq = 0 };
    memcpy(stale.head, AUDIT_GENESIS, sizeof stale.head);
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_append(store_writer(f->st), &stale, 1, "bob", "run.started", NULL,
                                  NULL, NULL, &err), SP_ECONFLICT);
    assert_int_equal(stale.seq, 0);
}

static void scan_filters_by_run_approval_after_and_limit(void **state)
{
    fixture *f = *state;
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    append(f, "run.started", "run_1", NULL);
    append(f, "run.started", "run_2", NULL);
    assert_int_equal(audit_append(w, &f->chain, 5, "alice", "gate.opened", "run_1", "apr_1",
                                  NULL, &err), SP_OK);
    append(f, "run.ended", "run_1", NULL);

    store_audit_filter by_run = { .run_id = "run_1" };
    json_t *rows = scan(f, &by_run);
    assert_int_equal(json_array_size(rows), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 2), "seq")), 4);
    json_decref(rows);

    store_audit_filter by_gate = { .approval_id = "apr_1" };
    rows = scan(f, &by_gate);
    assert_int_equal(json_array_size(rows), 1);
    json_t *row = json_array_get(rows, 0);
    assert_string_equal(json_str(row, "type"), "gate.opened");
    assert_true(json_is_object(json_object_get(row, "data")));     /* NULL data is {} */
    assert_int_equal(json_object_size(json_object_get(row, "data")), 0);
    assert_int_equal(strlen(json_str(row, "prev_hash")), 64);
    json_decref(rows);

    store_audit_filter page = { .after_seq = 1, .limit = 2 };
    rows = scan(f, &page);
    assert_int_equal(json_array_size(rows), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "seq")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 1), "seq")), 3);
    json_decref(rows);

    store_audit_filter both = { .run_id = "run_2", .approval_id = "apr_1" };
    rows = scan(f, &both);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
}

static void audit_row_json_has_every_column(void **state)
{
    store_audit_row row = { .seq = 7, .at = 0, .actor = "alice", .type = "decision",
                            .run_id = NULL, .approval_id = "apr_1", .data = "{\"a\":1}",
                            .prev_hash = AUDIT_GENESIS, .hash = "ff" };
    json_t *j = audit_row_json(&row);
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), 7);
    assert_string_equal(json_str(j, "at"), "1970-01-01T00:00:00.000Z");
    assert_true(json_is_null(json_object_get(j, "run_id")));
    assert_string_equal(json_str(j, "approval_id"), "apr_1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "a")), 1);
    assert_string_equal(json_str(j, "hash"), "ff");
    json_decref(j);
    row.data = "{broken";                   /* shown as the text it holds */
    j = audit_row_json(&row);
    assert_string_equal(json_str(j, "data"), "{broken");
    json_decref(j);
}

/* ---- tampering ---- */

static void editing_one_byte_of_data_is_detected_naming_that_row(void **state)
{
    fixture *f = *state;
    append_five(f);
    /* "approve" -> "bpprove": one byte of row 4's data */
    tamper(f, "UPDATE audit SET data = replace(data, '\"approve\"', '\"bpprove\"') WHERE seq = 4");
    json_t *r = verify(f);
    assert_broken_at(r, 4, "edited");
    assert_int_equal(json_integer_value(json_object_get(r, "rows")), 5);
    json_decref(r);
}

static void whitespace_added_to_data_is_detected(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "UPDATE audit SET data = replace(data, ':', ': ') WHERE seq = 2");
    json_t *r = verify(f);
    assert_broken_at(r, 2, "edited");
    json_decref(r);
}

static void editing_other_columns_is_detected(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "UPDATE audit SET actor = 'mallory' WHERE seq = 3");
    json_t *r = verify(f);
    assert_broken_at(r, 3, "edited");
    json_decref(r);
    tamper(f, "UPDATE audit SET actor = 'alice' WHERE seq = 3;"
              "UPDATE audit SET at = at + 1 WHERE seq = 5");
    r = verify(f);
    assert_broken_at(r, 5, "edited");
    json_decref(r);
}

static void deleting_a_row_is_detected(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "DELETE FROM audit WHERE seq = 3");
    json_t *r = verify(f);
    assert_broken_at(r, 3, "missing");
    assert_int_equal(json_integer_value(json_object_get(r, "rows")), 4);
    json_decref(r);
}

static void deleting_the_first_row_is_detected(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "DELETE FROM audit WHERE seq = 1");
    json_t *r = verify(f);
    assert_broken_at(r, 1, "missing");
    json_decref(r);
}

static void deleting_a_row_and_renumbering_is_detected(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "DELETE FROM audit WHERE seq = 3;"
              "UPDATE audit SET seq = seq - 1 WHERE seq > 3");
    json_t *r = verify(f);
    assert_broken_at(r, 3, "prev_hash");
    json_decref(r);
}

static void reordering_rows_is_detected(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "UPDATE audit SET seq = 100 WHERE seq = 2;"
              "UPDATE audit SET seq = 2 WHERE seq = 3;"
              "UPDATE audit SET seq = 3 WHERE seq = 100");
    json_t *r = verify(f);
    assert_broken_at(r, 2, "prev_hash");
    json_decref(r);
}

static void an_edit_with_a_recomputed_hash_breaks_the_next_row(void **state)
{
    fixture *f = *state;
    append_five(f);
    /* Forge row 2 properly: new content, its own hash recomputed. */
    store_audit_filter two = { .after_seq = 1, .limit = 1 };
    json_t *rows = scan(f, &two);
    json_t *row = json_array_get(rows, 0);
    store_audit_row forged = { .seq = 2, .actor = "mallory", .type = json_str(row, "type"),
                               .run_id = json_str(row, "run_id"), .data = "{}",
                               .prev_hash = json_str(row, "prev_hash") };
    assert_int_equal(time_parse(json_str(row, "at"), &forged.at), 0);
    char hash[65], sql[512];
    assert_int_equal(audit_row_hash(forged.prev_hash, &forged, hash), 0);
    snprintf(sql, sizeof sql,
             "UPDATE audit SET actor = 'mallory', data = '{}', hash = '%s' WHERE seq = 2", hash);
    json_decref(rows);
    tamper(f, sql);
    json_t *r = verify(f);
    assert_broken_at(r, 3, "prev_hash");
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(empty_trail_verifies_with_zero_rows),
        T(appended_rows_verify_and_head_matches_the_chain),
        T(row_hash_is_sha256_of_prev_hash_and_canonical_json),
        T(chain_resumes_after_reopening),
        T(chain_restored_after_a_savepoint_rollback_stays_valid),
        T(a_failed_append_leaves_the_chain_unchanged),
        T(a_stale_chain_head_is_a_conflict),
        T(scan_filters_by_run_approval_after_and_limit),
        cmocka_unit_test(audit_row_json_has_every_column),
        T(editing_one_byte_of_data_is_detected_naming_that_row),
        T(whitespace_added_to_data_is_detected),
        T(editing_other_columns_is_detected),
        T(deleting_a_row_is_detected),
        T(deleting_the_first_row_is_detected),
        T(deleting_a_row_and_renumbering_is_detected),
        T(reordering_rows_is_detected),
        T(an_edit_with_a_recomputed_hash_breaks_the_next_row),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
