/* test_audit.c - the hash-chained audit trail (src/audit): appending,
 * verifying, and detecting edits, deletions and reordering made behind
 * spojit's back with a raw SQLite connection - including edits whose
 * hashes were all recomputed, which the keyed chain must still catch, and
 * the migration of a plain SHA-256 trail. */
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
#include "secrets/secrets.h"
#include "store/store.h"
#include "store/store_impl.h"

typedef struct {
    char dir[64];
    char path[96];
    char url[128];
    store *st;
    secrets_key *master;
    audit_key *key;
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
    bool created = false;
    audit_key_free(f->key);
    f->key = NULL;
    if (audit_key_setup(store_writer(f->st), f->master, &f->key, &created, &err) != SP_OK) {
        fprintf(stderr, "audit_key_setup: %s\n", err.message);
        return -1;
    }
    return audit_chain_load(store_writer(f->st), f->key, &f->chain, &err) == SP_OK ? 0 : -1;
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
    f->master = secrets_key_random();
    *state = f;
    return open_store(f, "");
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    audit_key_free(f->key);
    secrets_key_free(f->master);
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
    assert_int_equal(audit_head_record(w, &f->chain, &err), SP_OK);    /* as the engine does */
    assert_int_equal(store_commit(w, &err), SP_OK);
}

static json_t *verify(fixture *f)
{
    store_conn *r = store_reader(f->st);
    json_t *result = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_verify(r, f->key, NULL, &result, &err), SP_OK);
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

/* The raw audit key, out of its sealed document, as someone holding the
 * master key would get it to check the chain with other tools. */
static void raw_audit_key(fixture *f, unsigned char key[32])
{
    json_t *doc = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(secrets_doc_get(store_writer(f->st), f->master, AUDIT_KEY_DOC, &doc, &err),
                     SP_OK);
    const char *hex = json_str(doc, "key");
    assert_non_null(hex);
    assert_int_equal(sodium_hex2bin(key, 32, hex, 64, NULL, NULL, NULL), 0);
    json_decref(doc);
}

static void put_field(unsigned char **p, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen(s) : 0xffffffffu;
    for (int i = 3; i >= 0; i--)
        *(*p)++ = (unsigned char)(n >> (8 * i));
    if (s) {
        memcpy(*p, s, strlen(s));
        *p += strlen(s);
    }
}

/* docs/internals/audit.md, built byte by byte here, not with audit.c's code. */
static void documented_keyed_hash(const unsigned char key[32], const char *prev, int64_t seq,
                                  int64_t at, const char *actor, const char *type,
                                  const char *run_id, const char *approval_id,
                                  const char *data, char out[65])
{
    unsigned char buf[4096], *p = buf, mac[32];
    memcpy(p, prev, 64);
    p += 64;
    for (int i = 7; i >= 0; i--)
        *p++ = (unsigned char)((uint64_t)seq >> (8 * i));
    for (int i = 7; i >= 0; i--)
        *p++ = (unsigned char)((uint64_t)at >> (8 * i));
    put_field(&p, actor);
    put_field(&p, type);
    put_field(&p, run_id);
    put_field(&p, approval_id);
    put_field(&p, data);
    crypto_auth_hmacsha256(mac, buf, (size_t)(p - buf), key);
    sodium_bin2hex(out, 65, mac, sizeof mac);
}

static void row_hash_is_hmac_sha256_of_the_documented_bytes(void **state)
{
    fixture *f = *state;
    /* strings that need escaping, and non-ASCII text, in every field */
    sp_error err = SP_ERROR_INIT;
    json_t *data = json_pack("{s:s, s:f, s:[i, n, b], s:s}", "comment", "say \"no\"\n\\ / \t",
                             "amount", 612.5, "list", 1, 1, "z\xc3\xa9ro", "\x01\x1f");
    assert_int_equal(audit_append(store_writer(f->st), &f->chain, 1767225600123,
                                  "al\"ice\xe2\x80\xa8", "decision", "run_\"1", NULL,
                                  data, &err), SP_OK);
    assert_int_equal(audit_append(store_writer(f->st), &f->chain, -5, "bob", "gate.opened",
                                  NULL, "apr_1", NULL, &err), SP_OK);
    store_audit_filter all = { 0 };
    json_t *rows = scan(f, &all);
    unsigned char key[32];
    raw_audit_key(f, key);
    char *canon = json_canonical(data);
    char want[65];
    documented_keyed_hash(key, AUDIT_GENESIS, 1, 1767225600123, "al\"ice\xe2\x80\xa8",
                          "decision", "run_\"1", NULL, canon, want);
    json_t *row = json_array_get(rows, 0);
    assert_string_equal(json_str(row, "hash"), want);
    assert_string_equal(json_str(row, "at"), "2026-01-01T00:00:00.123Z");
    assert_true(json_equal(json_object_get(row, "data"), data));
    /* the second row: a negative time, a NULL run_id, data {} */
    documented_keyed_hash(key, want, 2, -5, "bob", "gate.opened", NULL, "apr_1", "{}", want);
    assert_string_equal(json_str(json_array_get(rows, 1), "hash"), want);
    assert_string_equal(json_str(json_array_get(rows, 1), "prev_hash"),
                        json_str(row, "hash"));
    sodium_memzero(key, sizeof key);
    free(canon);
    json_decref(rows);
    json_decref(data);
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "keyed_from")), 1);
    assert_string_equal(json_str(r, "key_id"), audit_key_id(f->key));
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
    audit_chain stale = { .seq = 0, .key = f->key };
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
                            .prev_hash = AUDIT_GENESIS, .hash = "ff", .data_len = 7 };
    json_t *j = audit_row_json(&row);
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), 7);
    assert_string_equal(json_str(j, "at"), "1970-01-01T00:00:00.000Z");
    assert_true(json_is_null(json_object_get(j, "run_id")));
    assert_string_equal(json_str(j, "approval_id"), "apr_1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "a")), 1);
    assert_string_equal(json_str(j, "hash"), "ff");
    json_decref(j);
    row.data = "{broken";                   /* shown as the text it holds */
    row.data_len = 7;
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

/* The row with that seq, read back with lengths (valid until rows is freed). */
static store_audit_row row_of(json_t *rows, int64_t seq)
{
    json_t *j = json_array_get(rows, (size_t)(seq - 1));
    store_audit_row row = { .seq = seq, .actor = json_str(j, "actor"),
                            .type = json_str(j, "type"), .run_id = json_str(j, "run_id"),
                            .approval_id = json_str(j, "approval_id"),
                            .prev_hash = json_str(j, "prev_hash"),
                            .hash = json_str(j, "hash") };
    assert_int_equal(time_parse(json_str(j, "at"), &row.at), 0);
    row.actor_len = strlen(row.actor);
    row.type_len = strlen(row.type);
    row.run_id_len = row.run_id ? strlen(row.run_id) : 0;
    row.approval_id_len = row.approval_id ? strlen(row.approval_id) : 0;
    return row;
}

static void an_edit_with_a_recomputed_hash_breaks_the_next_row(void **state)
{
    fixture *f = *state;
    append_five(f);
    /* Forge row 2 properly, with the audit key itself: new content, its
     * own hash recomputed. The next row still names the old hash. */
    store_audit_filter all = { 0 };
    json_t *rows = scan(f, &all);
    store_audit_row forged = row_of(rows, 2);
    forged.actor = "mallory";
    forged.actor_len = 7;
    forged.data = "{}";
    forged.data_len = 2;
    char hash[65], sql[512];
    audit_row_hash_keyed(f->key, forged.prev_hash, &forged, hash);
    snprintf(sql, sizeof sql,
             "UPDATE audit SET actor = 'mallory', data = '{}', hash = '%s' WHERE seq = 2", hash);
    json_decref(rows);
    tamper(f, sql);
    json_t *r = verify(f);
    assert_broken_at(r, 3, "prev_hash");
    json_decref(r);
}

/* The attack the keyed chain exists for: edit a row, then recompute every
 * hash from it to the end with `hash_fn`, so every link holds again. */
typedef void (*rehash_fn)(void *ctx, const char *prev, const store_audit_row *row,
                          char out[65]);

static void rechain_from(fixture *f, int64_t from, rehash_fn fn, void *ctx)
{
    store_audit_filter all = { 0 };
    json_t *rows = scan(f, &all);
    char prev[65];
    snprintf(prev, sizeof prev, "%s", from == 1 ? AUDIT_GENESIS
             : json_str(json_array_get(rows, (size_t)from - 2), "hash"));
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    for (int64_t seq = from; seq <= (int64_t)json_array_size(rows); seq++) {
        store_audit_row row = row_of(rows, seq);
        /* the stored data text, exactly */
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT data FROM audit WHERE seq = ?1", -1,
                                            &st, NULL), SQLITE_OK);
        sqlite3_bind_int64(st, 1, seq);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        row.data = (const char *)sqlite3_column_text(st, 0);
        row.data_len = (size_t)sqlite3_column_bytes(st, 0);
        char hash[65];
        fn(ctx, prev, &row, hash);
        char sql[300];
        snprintf(sql, sizeof sql, "UPDATE audit SET prev_hash = '%s', hash = '%s' "
                 "WHERE seq = %lld", prev, hash, (long long)seq);
        sqlite3_finalize(st);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        memcpy(prev, hash, sizeof prev);
    }
    sqlite3_close(db);
    json_decref(rows);
}

static void plain_sha256(void *ctx, const char *prev, const store_audit_row *row, char out[65])
{
    assert_int_equal(audit_row_hash_plain(prev, row, out), 0);
}

static void keyed_with(void *ctx, const char *prev, const store_audit_row *row, char out[65])
{
    audit_row_hash_keyed(ctx, prev, row, out);
}

static void rechaining_with_plain_sha256_after_an_edit_fails(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "UPDATE audit SET data = replace(data, '\"approve\"', '\"reject\"') WHERE seq = 4");
    rechain_from(f, 4, plain_sha256, NULL);
    json_t *r = verify(f);
    assert_broken_at(r, 4, "edited");
    json_decref(r);
}

static void rechaining_with_another_key_fails(void **state)
{
    fixture *f = *state;
    append_five(f);
    /* a key of the attacker's own, the same anchor */
    secrets_key *other_master = secrets_key_random();
    store *other = store_open("sqlite::memory:", NULL);
    audit_key *wrong = NULL;
    bool created = false;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_key_setup(store_writer(other), other_master, &wrong, &created, &err),
                     SP_OK);
    assert_true(created);
    assert_string_not_equal(audit_key_id(wrong), audit_key_id(f->key));
    tamper(f, "UPDATE audit SET actor = 'mallory' WHERE seq = 2");
    rechain_from(f, 2, keyed_with, wrong);
    json_t *r = verify(f);
    assert_broken_at(r, 2, "edited");
    json_decref(r);
    /* the same rechaining with the right key is what only the key holder
     * can do (this is what the key protects); the recorded head still names
     * the old last hash until it is rewritten with the key as well */
    rechain_from(f, 2, keyed_with, f->key);
    r = verify(f);
    assert_broken_at(r, 5, "not the one the head the store keeps");
    json_decref(r);
    int64_t seq;
    char hash[65];
    assert_int_equal(store_audit_head(store_writer(f->st), &seq, hash, &err), SP_OK);
    assert_int_equal(audit_head_store(store_writer(f->st), f->key, seq, hash, &err), SP_OK);
    r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    audit_key_free(wrong);
    store_close(other);
    secrets_key_free(other_master);
}

static void a_nul_appended_to_data_fails(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "UPDATE audit SET data = CAST(data || char(0) AS BLOB) WHERE seq = 3");
    json_t *r = verify(f);
    assert_broken_at(r, 3, "NUL");
    json_decref(r);
    /* and in another column, as TEXT */
    tamper(f, "UPDATE audit SET data = CAST(substr(data, 1, length(data)) AS TEXT) WHERE seq = 3;"
              "UPDATE audit SET actor = actor || char(0) WHERE seq = 2");
    r = verify(f);
    assert_broken_at(r, 2, "actor holds a NUL");
    json_decref(r);
}

static void the_keyed_hash_covers_a_nul_byte(void **state)
{
    fixture *f = *state;
    append_five(f);
    store_audit_filter all = { 0 };
    json_t *rows = scan(f, &all);
    store_audit_row row = row_of(rows, 1);
    row.data = "{}\0";
    row.data_len = 2;
    char with[65], without[65];
    audit_row_hash_keyed(f->key, AUDIT_GENESIS, &row, without);
    row.data_len = 3;
    audit_row_hash_keyed(f->key, AUDIT_GENESIS, &row, with);
    assert_string_not_equal(with, without);
    json_decref(rows);
}

static void data_holding_a_nul_character_is_refused_at_append(void **state)
{
    fixture *f = *state;
    json_t *data = json_pack("{s:o, s:s}", "comment", json_stringn("a\0b", 3),
                             "text", "a \\u0000 written out is fine");
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_append(store_writer(f->st), &f->chain, 1, "alice", "decision", NULL,
                                  NULL, data, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "NUL"));
    assert_int_equal(f->chain.seq, 0);
    json_decref(data);
    /* the escape's text itself (a backslash before it) is an ordinary string */
    append(f, "decision", NULL, json_pack("{s:s}", "text", "a \\u0000 written out is fine"));
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

/* ---- an old, plain trail ---- */

/* Makes the store look like one from before the keyed chain: `n` rows
 * hashed with plain SHA-256, schema version 6, no anchor, no audit key. */
static void make_plain_trail(fixture *f, int n)
{
    store_conn *w = store_writer(f->st);
    sp_error err = SP_ERROR_INIT;
    char prev[65] = AUDIT_GENESIS;
    for (int i = 1; i <= n; i++) {
        char data[64], hash[65];
        snprintf(data, sizeof data, "{\"n\":%d,\"who\":\"alice\"}", i);
        store_audit_row row = { .seq = i, .at = 1767225600000 + i, .actor = "alice",
                                .type = "run.started", .run_id = "run_1", .data = data,
                                .prev_hash = prev, .actor_len = 5, .type_len = 11,
                                .run_id_len = 5, .data_len = strlen(data),
                                .prev_hash_len = 64, .hash_len = 64 };
        assert_int_equal(audit_row_hash_plain(prev, &row, hash), 0);
        row.hash = hash;
        assert_int_equal(store_audit_append(w, &row, &err), SP_OK);
        memcpy(prev, hash, sizeof prev);
    }
    store_close(f->st);
    f->st = NULL;
    tamper(f, "DELETE FROM meta WHERE key IN ('audit_anchor', 'audit_key', 'audit_head');"
              "PRAGMA user_version = 6");
}

static void a_plain_trail_is_anchored_verifies_and_continues_keyed(void **state)
{
    fixture *f = *state;
    make_plain_trail(f, 4);
    assert_int_equal(open_store(f, ""), 0);     /* migration 7, then a new audit key */
    assert_int_equal(audit_key_anchor_seq(f->key), 4);
    assert_int_equal(f->chain.seq, 4);
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "keyed_from")), 5);
    json_decref(r);
    append_five(f);                             /* rows 5..9, keyed */
    r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "rows")), 9);
    json_decref(r);

    /* the first keyed row links to the last plain hash, and is not plain */
    store_audit_filter all = { 0 };
    json_t *rows = scan(f, &all);
    assert_string_equal(json_str(json_array_get(rows, 4), "prev_hash"),
                        json_str(json_array_get(rows, 3), "hash"));
    json_decref(rows);

    /* the plain part is still checked */
    tamper(f, "UPDATE audit SET data = replace(data, 'alice', 'alicf') WHERE seq = 2");
    r = verify(f);
    assert_broken_at(r, 2, "edited");
    json_decref(r);
    /* and rechaining it all with plain SHA-256 does not pass: the last
     * plain row no longer has the hash sealed as the anchor */
    rechain_from(f, 2, plain_sha256, NULL);
    r = verify(f);
    assert_broken_at(r, 4, "anchored");
    json_decref(r);
    /* nor does rechaining only the plain part up to the anchor, keeping
     * the anchor's hash: the keyed row 5 names the old hash of row 4 */
    tamper(f, "UPDATE meta SET value = (SELECT printf('{\"seq\":4,\"hash\":\"%s\"}', hash) "
              "FROM audit WHERE seq = 4) WHERE key = 'audit_anchor'");
    r = verify(f);
    assert_broken_at(r, 5, "anchor");
    json_decref(r);
}

static void a_nul_appended_to_plain_data_fails(void **state)
{
    fixture *f = *state;
    make_plain_trail(f, 3);
    assert_int_equal(open_store(f, ""), 0);
    tamper(f, "UPDATE audit SET data = CAST(data || char(0) AS BLOB) WHERE seq = 2");
    json_t *r = verify(f);
    assert_broken_at(r, 2, "data holds a NUL");
    json_decref(r);
}

static void moving_the_anchor_is_detected(void **state)
{
    fixture *f = *state;
    make_plain_trail(f, 2);
    assert_int_equal(open_store(f, ""), 0);
    append_five(f);                             /* keyed from 3 */
    /* pass rows 3..7 off as plain: recompute them so, and move the anchor */
    rechain_from(f, 3, plain_sha256, NULL);
    tamper(f, "UPDATE meta SET value = (SELECT printf('{\"seq\":7,\"hash\":\"%s\"}', hash) "
              "FROM audit WHERE seq = 7) WHERE key = 'audit_anchor'");
    json_t *r = verify(f);
    assert_broken_at(r, 3, "anchor");
    json_decref(r);
}

static void a_removed_audit_key_is_refused_not_replaced(void **state)
{
    fixture *f = *state;
    append_five(f);
    store_close(f->st);
    f->st = NULL;
    tamper(f, "DELETE FROM meta WHERE key = 'audit_key'");
    sp_error err = SP_ERROR_INIT;
    assert_non_null(f->st = store_open(f->url, &err));
    audit_key *k = NULL;
    bool created = true;
    assert_int_equal(audit_key_setup(store_writer(f->st), f->master, &k, &created, &err),
                     SP_EINVALID);
    assert_null(k);
    assert_false(created);
    assert_non_null(strstr(err.message, "audit_key"));
    sp_error_clear(&err);
    /* verify without a key names the first keyed row */
    store_conn *rd = store_reader(f->st);
    json_t *r = NULL;
    assert_int_equal(audit_verify(rd, NULL, NULL, &r, &err), SP_OK);
    store_release(rd);
    assert_broken_at(r, 1, "no");
    json_decref(r);
}

static void an_unsealed_audit_key_is_refused(void **state)
{
    fixture *f = *state;
    append_five(f);
    /* a key of one's own choosing, written as plain JSON */
    tamper(f, "UPDATE meta SET value = '{\"key\":\"" AUDIT_GENESIS "\",\"anchor_seq\":0,"
              "\"anchor_hash\":\"" AUDIT_GENESIS "\"}' WHERE key = 'audit_key'");
    audit_key *k = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_key_open(store_writer(f->st), f->master, &k, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "not sealed"));
    sp_error_clear(&err);
    int moved = 0;
    assert_int_not_equal(secrets_docs_rekey(store_writer(f->st), f->master, f->master, &moved,
                                            &err), SP_OK);
    sp_error_clear(&err);
}


/* ---- the head: kept in the store, and signed ---- */

static json_t *verify_with(fixture *f, const json_t *saved)
{
    store_conn *r = store_reader(f->st);
    json_t *result = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_verify(r, f->key, saved, &result, &err), SP_OK);
    store_release(r);
    return result;
}

static json_t *signed_head(fixture *f)
{
    store_conn *r = store_reader(f->st);
    json_t *head = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_head_take(r, f->key, 1767225600000, &head, &err), SP_OK);
    store_release(r);
    return head;
}

static char *meta_value(fixture *f, const char *key)
{
    char *text = NULL;
    sp_error err = SP_ERROR_INIT;
    store_conn *r = store_reader(f->st);
    assert_int_equal(store_meta_get(r, key, &text, &err), SP_OK);
    store_release(r);
    return text;
}

static void the_store_keeps_the_head_with_the_rows(void **state)
{
    fixture *f = *state;
    append_five(f);
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "recorded_head")), 5);
    json_decref(r);
    int64_t seq = 0;
    char hash[65];
    sp_error err = SP_ERROR_INIT;
    store_conn *r2 = store_reader(f->st);
    assert_int_equal(audit_head_read(r2, f->key, &seq, hash, &err), SP_OK);
    store_release(r2);
    assert_int_equal(seq, 5);
    assert_string_equal(hash, f->chain.head);
}

static void deleting_the_newest_rows_is_detected(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "DELETE FROM audit WHERE seq >= 4");
    json_t *r = verify(f);
    assert_broken_at(r, 4, "rows 4 to 5 were deleted");
    json_decref(r);
}

static void a_head_moved_back_without_the_key_is_detected(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "DELETE FROM audit WHERE seq = 5");
    /* the head set to row 4, keeping the old mac: the mac covers seq and hash */
    tamper(f, "UPDATE meta SET value = json_set(value, '$.seq', 4, '$.hash', "
              "(SELECT hash FROM audit WHERE seq = 4)) WHERE key = 'audit_head'");
    json_t *r = verify(f);
    assert_broken_at(r, 1, "its mac does not match");
    json_decref(r);
}

static void a_removed_head_is_detected(void **state)
{
    fixture *f = *state;
    append_five(f);
    tamper(f, "DELETE FROM meta WHERE key = 'audit_head'");
    json_t *r = verify(f);
    assert_broken_at(r, 1, "meta audit_head is missing");
    json_decref(r);
}

static void a_signed_head_verifies_with_the_public_key_alone(void **state)
{
    fixture *f = *state;
    append_five(f);
    json_t *head = signed_head(f);
    assert_int_equal(json_integer_value(json_object_get(head, "seq")), 5);
    assert_string_equal(json_str(head, "hash"), f->chain.head);
    assert_string_equal(json_str(head, "at"), "2026-01-01T00:00:00.000Z");
    /* the documented text, checked with libsodium and the public key only */
    json_t *pub = audit_public_key_json(f->key);
    unsigned char pk[32], sig[64];
    size_t n;
    const char *pk_hex = json_str(pub, "public_key"), *sig_hex = json_str(head, "signature");
    assert_int_equal(sodium_hex2bin(pk, 32, pk_hex, strlen(pk_hex), NULL, &n, NULL), 0);
    assert_int_equal(sodium_hex2bin(sig, 64, sig_hex, strlen(sig_hex), NULL, &n, NULL), 0);
    char msg[200];
    snprintf(msg, sizeof msg, "spojit-audit-head-v1 5 %s 2026-01-01T00:00:00.000Z", f->chain.head);
    assert_int_equal(crypto_sign_verify_detached(sig, (unsigned char *)msg, strlen(msg), pk), 0);
    msg[strlen(msg) - 2] = '1';
    assert_int_not_equal(crypto_sign_verify_detached(sig, (unsigned char *)msg, strlen(msg), pk),
                         0);
    assert_non_null(strstr(json_str(pub, "public_key_pem"), "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
    json_decref(pub);

    json_t *r = verify_with(f, head);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "saved_head")), 5);
    json_decref(r);
    append_five(f);                             /* the trail grows: it still extends the head */
    r = verify_with(f, head);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    json_decref(head);
}

/* The whole database put back to an older state - rows and recorded head
 * together - verifies on its own; a head saved elsewhere catches it. */
static void a_rolled_back_database_fails_against_a_saved_head(void **state)
{
    fixture *f = *state;
    append_five(f);
    char *older_head = meta_value(f, AUDIT_HEAD_META);
    append_five(f);
    json_t *saved = signed_head(f);                 /* seq 10, kept elsewhere */
    char sql[400];
    snprintf(sql, sizeof sql, "DELETE FROM audit WHERE seq > 5;"
             "UPDATE meta SET value = '%s' WHERE key = 'audit_head'", older_head);
    free(older_head);
    tamper(f, sql);
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));     /* a consistent older state */
    json_decref(r);
    r = verify_with(f, saved);
    assert_broken_at(r, 6, "before the saved head at seq 10: rows 6 to 10 were deleted");
    json_decref(r);
    json_decref(saved);
}

static void a_rewritten_row_at_the_saved_head_fails(void **state)
{
    fixture *f = *state;
    append_five(f);
    json_t *saved = signed_head(f);
    json_t *forged = json_deep_copy(saved);
    json_object_set_new(forged, "hash", json_string(AUDIT_GENESIS));
    json_t *r = verify_with(f, forged);
    assert_broken_at(r, 5, "signature does not verify");
    json_decref(r);
    json_object_set_new(forged, "hash", json_string(json_str(saved, "hash")));
    json_object_set_new(forged, "seq", json_integer(4));
    r = verify_with(f, forged);
    assert_broken_at(r, 4, "signature does not verify");
    json_decref(r);
    json_decref(forged);
    forged = json_pack("{s:s}", "seq", "five");
    r = verify_with(f, forged);
    assert_broken_at(r, 1, "is not {seq, hash, at, key_id, signature}");
    json_decref(r);
    json_decref(forged);
    json_decref(saved);
}

static void a_head_signed_by_another_database_is_refused(void **state)
{
    fixture *f = *state;
    append_five(f);
    json_t *saved = signed_head(f);
    /* a second database, with its own keys */
    store_close(f->st);
    f->st = NULL;
    remove_db(f->path);
    assert_int_equal(open_store(f, ""), 0);
    append_five(f);
    json_t *r = verify_with(f, saved);
    assert_broken_at(r, 5, "not by this database's key");
    json_decref(r);
    json_decref(saved);
}

/* A key document from before kept heads gains the signing key and starts
 * the recorded head at the trail's end, once. */
static void an_older_key_document_is_completed_at_setup(void **state)
{
    fixture *f = *state;
    append_five(f);
    sp_error err = SP_ERROR_INIT;
    store_conn *w = store_writer(f->st);
    json_t *doc = NULL;
    assert_int_equal(secrets_doc_get(w, f->master, AUDIT_KEY_DOC, &doc, &err), SP_OK);
    assert_true(json_is_true(json_object_get(doc, "head_kept")));
    json_object_del(doc, "head_kept");
    json_object_del(doc, "signing_seed");
    assert_int_equal(secrets_doc_put(w, f->master, AUDIT_KEY_DOC, doc, &err), SP_OK);
    json_decref(doc);
    store_close(f->st);
    f->st = NULL;
    tamper(f, "DELETE FROM meta WHERE key = 'audit_head'");
    assert_int_equal(open_store(f, ""), 0);    /* audit_key_setup completes it */
    assert_true(audit_key_can_sign(f->key));
    json_t *r = verify(f);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "recorded_head")), 5);
    json_decref(r);
    /* the same key: rows from before still verify, keyed */
    r = verify(f);
    assert_int_equal(json_integer_value(json_object_get(r, "keyed_from")), 1);
    json_decref(r);
}

static void head_files_give_their_last_line(void **state)
{
    fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/heads.jsonl", f->dir);
    FILE *fp = fopen(path, "w");
    fprintf(fp, "{\"seq\":1}\n{\"seq\":2}\n\n");
    fclose(fp);
    json_t *head = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(audit_head_file_last(path, &head, &err), SP_OK);
    assert_int_equal(json_integer_value(json_object_get(head, "seq")), 2);
    json_decref(head);
    fp = fopen(path, "w");
    fprintf(fp, "{\n  \"seq\": 7\n}\n");         /* one pretty-printed object */
    fclose(fp);
    assert_int_equal(audit_head_file_last(path, &head, &err), SP_OK);
    assert_int_equal(json_integer_value(json_object_get(head, "seq")), 7);
    json_decref(head);
    fp = fopen(path, "w");
    fclose(fp);
    assert_int_equal(audit_head_file_last(path, &head, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "the file is empty"));
    sp_error_clear(&err);
    unlink(path);
    assert_int_equal(audit_head_file_last(path, &head, &err), SP_ENOTFOUND);
    sp_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(empty_trail_verifies_with_zero_rows),
        T(appended_rows_verify_and_head_matches_the_chain),
        T(row_hash_is_hmac_sha256_of_the_documented_bytes),
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
        T(rechaining_with_plain_sha256_after_an_edit_fails),
        T(rechaining_with_another_key_fails),
        T(a_nul_appended_to_data_fails),
        T(the_keyed_hash_covers_a_nul_byte),
        T(data_holding_a_nul_character_is_refused_at_append),
        T(a_plain_trail_is_anchored_verifies_and_continues_keyed),
        T(a_nul_appended_to_plain_data_fails),
        T(moving_the_anchor_is_detected),
        T(a_removed_audit_key_is_refused_not_replaced),
        T(an_unsealed_audit_key_is_refused),
        T(the_store_keeps_the_head_with_the_rows),
        T(deleting_the_newest_rows_is_detected),
        T(a_head_moved_back_without_the_key_is_detected),
        T(a_removed_head_is_detected),
        T(a_signed_head_verifies_with_the_public_key_alone),
        T(a_rolled_back_database_fails_against_a_saved_head),
        T(a_rewritten_row_at_the_saved_head_fails),
        T(a_head_signed_by_another_database_is_refused),
        T(an_older_key_document_is_completed_at_setup),
        T(head_files_give_their_last_line),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
