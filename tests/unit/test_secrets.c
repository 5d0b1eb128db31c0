/*
 * test_secrets.c - secrets at rest: sealing and opening, the master key
 * (parsing, the key file), redaction, and secrets stored in a real SQLite
 * file that survive a reopen. Each test names the behaviour it proves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/log.h"
#include "engine/engine.h"
#include "secrets/secrets.h"
#include "store/store_impl.h"

#define HEX_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static secrets_key *key_of(const char *text)
{
    secrets_key *k = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(secrets_key_parse(text, "test", &k, &err), SP_OK);
    return k;
}

/* Seals value for name under k; the caller frees *out. */
static size_t seal(const secrets_key *k, const char *name, const char *value, size_t len,
                   unsigned char **out)
{
    size_t n = 0;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(secrets_seal(k, name, value, len, out, &n, &err), SP_OK);
    return n;
}

/* ---- sealing ---- */

static void test_a_sealed_value_opens_to_itself_with_its_key_and_name(void **state)
{
    secrets_key *k = secrets_key_random();
    const char value[] = "sk_live_\0with a NUL and \xc3\xa9";   /* any bytes */
    unsigned char *box = NULL;
    size_t n = seal(k, "stripe", value, sizeof value - 1, &box);
    assert_null(memmem(box, n, "sk_live_", 8));
    char *out = NULL;
    size_t len = 0;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(secrets_open(k, "stripe", box, n, &out, &len, &err), SP_OK);
    assert_int_equal(len, sizeof value - 1);
    assert_memory_equal(out, value, len);
    assert_int_equal(out[len], '\0');
    free(out);
    free(box);
    secrets_key_free(k);
}

static void test_each_seal_uses_a_new_nonce(void **state)
{
    secrets_key *k = secrets_key_random();
    unsigned char *a = NULL, *b = NULL;
    size_t na = seal(k, "x", "same", 4, &a), nb = seal(k, "x", "same", 4, &b);
    assert_int_equal(na, nb);
    assert_memory_not_equal(a + 1, b + 1, 24);     /* the nonces */
    assert_memory_not_equal(a, b, na);
    free(a);
    free(b);
    secrets_key_free(k);
}

static void test_the_wrong_key_fails_cleanly_naming_the_secret_not_the_value(void **state)
{
    secrets_key *k1 = secrets_key_random(), *k2 = secrets_key_random();
    assert_string_not_equal(secrets_key_id(k1), secrets_key_id(k2));
    unsigned char *box = NULL;
    size_t n = seal(k1, "slack", "xoxb-SECRET-VALUE", 17, &box);
    char *out = (char *)0x1;
    size_t len = 7;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(secrets_open(k2, "slack", box, n, &out, &len, &err), SP_EINVALID);
    assert_ptr_equal(out, (char *)0x1);        /* outputs untouched */
    assert_int_equal(len, 7);
    assert_non_null(strstr(err.message, "'slack'"));
    assert_null(strstr(err.message, "SECRET-VALUE"));
    free(box);
    secrets_key_free(k1);
    secrets_key_free(k2);
}

static void test_any_tampered_byte_or_truncation_fails_to_open(void **state)
{
    secrets_key *k = secrets_key_random();
    unsigned char *box = NULL;
    size_t n = seal(k, "db", "hunter2", 7, &box);
    for (size_t i = 0; i < n; i++) {
        box[i] ^= 0x01;
        char *out = NULL;
        size_t len = 0;
        sp_error err = SP_ERROR_INIT;
        assert_int_equal(secrets_open(k, "db", box, n, &out, &len, &err), SP_EINVALID);
        assert_null(out);
        box[i] ^= 0x01;
    }
    for (size_t cut = 0; cut < n; cut++) {
        char *out = NULL;
        size_t len = 0;
        sp_error err = SP_ERROR_INIT;
        assert_int_equal(secrets_open(k, "db", box, cut, &out, &len, &err), SP_EINVALID);
    }
    sp_error err = SP_ERROR_INIT;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(secrets_open(k, "db", NULL, 0, &out, &len, &err), SP_EINVALID);
    free(box);
    secrets_key_free(k);
}

static void test_a_value_sealed_for_another_name_does_not_open(void **state)
{
    /* Swapping two rows in the database must not swap two secrets. */
    secrets_key *k = secrets_key_random();
    unsigned char *box = NULL;
    size_t n = seal(k, "stripe", "sk_live_1", 9, &box);
    char *out = NULL;
    size_t len = 0;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(secrets_open(k, "slack", box, n, &out, &len, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "another name"));
    sp_error_clear(&err);
    assert_int_equal(secrets_open(k, "strip", box, n, &out, &len, &err), SP_EINVALID);
    free(box);
    secrets_key_free(k);
}

static void test_seal_refuses_bad_names_and_values_over_the_limit(void **state)
{
    secrets_key *k = secrets_key_random();
    unsigned char *box = NULL;
    size_t n = 0;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(secrets_seal(k, "", "v", 1, &box, &n, &err), SP_EINVALID);
    char long_name[SECRETS_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(secrets_seal(k, long_name, "v", 1, &box, &n, &err), SP_EINVALID);
    char *big = calloc(SECRETS_VALUE_MAX + 1, 1);
    assert_int_equal(secrets_seal(k, "big", big, SECRETS_VALUE_MAX + 1, &box, &n, &err),
                     SP_EINVALID);
    assert_null(box);
    /* exactly at the limit is fine, and opens */
    n = seal(k, "big", big, SECRETS_VALUE_MAX, &box);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(secrets_open(k, "big", box, n, &out, &len, &err), SP_OK);
    assert_int_equal(len, SECRETS_VALUE_MAX);
    free(out);
    free(box);
    free(big);
    secrets_key_free(k);
}

/* ---- the master key ---- */

static void test_a_key_parses_from_hex_or_any_base64_with_the_same_id(void **state)
{
    secrets_key *hex = key_of(HEX_A);
    secrets_key *spaced = key_of("  " HEX_A "\n");
    secrets_key *b64 = key_of("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    secrets_key *b64np = key_of("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    assert_string_equal(secrets_key_id(hex), secrets_key_id(spaced));
    assert_string_equal(secrets_key_id(hex), secrets_key_id(b64));
    assert_string_equal(secrets_key_id(hex), secrets_key_id(b64np));
    assert_int_equal(strlen(secrets_key_id(hex)), SECRETS_KEY_ID_LEN);
    char back[65];
    secrets_key_hex(hex, back);
    assert_string_equal(back, HEX_A);
    /* a value sealed under one form opens under another */
    unsigned char *box = NULL;
    size_t n = seal(hex, "k", "v", 1, &box);
    char *out = NULL;
    size_t len = 0;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(secrets_open(b64, "k", box, n, &out, &len, &err), SP_OK);
    free(out);
    free(box);
    secrets_key_free(hex);
    secrets_key_free(spaced);
    secrets_key_free(b64);
    secrets_key_free(b64np);
}

static void test_malformed_keys_are_refused_without_echoing_them(void **state)
{
    static const char *const bad[] = {
        "", "abc", HEX_A "00",
        "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",   /* 63 */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd",                         /* 30 bytes */
        "not a key at all, just a sentence of words",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        secrets_key *k = NULL;
        sp_error err = SP_ERROR_INIT;
        assert_int_equal(secrets_key_parse(bad[i], "SPOJIT_MASTER_KEY", &k, &err), SP_EINVALID);
        assert_null(k);
        assert_non_null(strstr(err.message, "SPOJIT_MASTER_KEY"));
        if (strlen(bad[i]) > 4)
            assert_null(strstr(err.message, bad[i]));
    }
}

static char tmp_dir[64];

static void path_in_tmp(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmp_dir, name);
}

static int make_tmp(void **state)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/spojit-secrets-XXXXXX");
    assert_non_null(mkdtemp(tmp_dir));
    return 0;
}

static int remove_tmp(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_the_default_key_file_sits_beside_the_sqlite_file(void **state)
{
    char *p = secrets_default_key_file("sqlite:/var/lib/spojit/spojit.db");
    assert_string_equal(p, "/var/lib/spojit/spojit.db.key");
    free(p);
    p = secrets_default_key_file("fault:3:sqlite:./x.db");
    assert_string_equal(p, "./x.db.key");
    free(p);
    assert_null(secrets_default_key_file("sqlite::memory:"));
    assert_null(secrets_default_key_file("postgres://h/db"));
    assert_null(secrets_default_key_file(NULL));
}

static void test_a_key_file_is_created_0600_once_then_read_back(void **state)
{
    make_tmp(state);
    char db[128], file[160];
    path_in_tmp(db, sizeof db, "s.db");
    snprintf(file, sizeof file, "sqlite:%s", db);
    secrets_key_source src = { .db_url = file };
    secrets_key *k1 = NULL, *k2 = NULL;
    char *o1 = NULL, *o2 = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(secrets_key_load(&src, &k1, &o1, &err), SP_OK);
    assert_non_null(strstr(o1, "(created)"));
    char key_path[192];
    snprintf(key_path, sizeof key_path, "%s.key", db);
    struct stat sb;
    assert_int_equal(stat(key_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 65);
    assert_int_equal(secrets_key_load(&src, &k2, &o2, &err), SP_OK);
    assert_null(strstr(o2, "(created)"));
    assert_string_equal(secrets_key_id(k1), secrets_key_id(k2));
    free(o1);
    free(o2);
    secrets_key_free(k1);
    secrets_key_free(k2);

    /* group or other access: refused, saying how to fix it */
    assert_int_equal(chmod(key_path, 0640), 0);
    secrets_key *k3 = NULL;
    char *o3 = NULL;
    assert_int_equal(secrets_key_load(&src, &k3, &o3, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "chmod 600"));
    assert_null(k3);
    sp_error_clear(&err);
    remove_tmp(state);
}

static void test_a_missing_key_file_is_not_recreated_when_secrets_exist(void **state)
{
    make_tmp(state);
    char file[160];
    path_in_tmp(file, sizeof file, "lost.key");
    secrets_key_source src = { .key_file = file, .stored_secrets = 3 };
    secrets_key *k = NULL;
    char *o = NULL;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(secrets_key_load(&src, &k, &o, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "does not exist"));
    assert_int_equal(access(file, F_OK), -1);
    sp_error_clear(&err);
    /* both sources at once is ambiguous */
    src.env_key = HEX_A;
    assert_int_equal(secrets_key_load(&src, &k, &o, &err), SP_EBADINPUT);
    sp_error_clear(&err);
    /* the environment alone wins over the default file */
    src.key_file = NULL;
    src.db_url = "sqlite::memory:";
    assert_int_equal(secrets_key_load(&src, &k, &o, &err), SP_OK);
    assert_string_equal(o, "SPOJIT_MASTER_KEY");
    free(o);
    secrets_key_free(k);
    remove_tmp(state);
}

/* ---- redaction ---- */

static void test_redaction_replaces_values_and_substrings_in_nested_json(void **state)
{
    json_t *secrets = json_pack("{s:s, s:s}", "stripe", "sk_live_ABC", "slack", "xoxb-1");
    json_t *v = json_loads("{\"url\": \"https://api?key=sk_live_ABC&x=1\","
                           " \"list\": [1, \"xoxb-1\", {\"deep\": [\"a sk_live_ABC b xoxb-1\"]}],"
                           " \"n\": 5, \"t\": true, \"z\": null,"
                           " \"sk_live_ABC\": \"key as name\"}", 0, NULL);
    json_t *r = secrets_redact(v, secrets);
    json_t *want = json_loads("{\"url\": \"https://api?key=***&x=1\","
                              " \"list\": [1, \"***\", {\"deep\": [\"a *** b ***\"]}],"
                              " \"n\": 5, \"t\": true, \"z\": null,"
                              " \"***\": \"key as name\"}", 0, NULL);
    assert_true(json_equal(r, want));
    /* the input is left as it was */
    assert_string_equal(json_string_value(json_object_get(v, "url")),
                        "https://api?key=sk_live_ABC&x=1");
    json_decref(want);
    json_decref(r);
    json_decref(v);
    json_decref(secrets);
}

static void test_overlapping_and_adjacent_secrets_leave_no_fragment(void **state)
{
    json_t *secrets = json_pack("[s, s, s]", "abcd", "cdef", "XY");
    size_t n = 0;
    char *r = secrets_redact_text("0abcdef1XYXY2", 13, secrets, &n);
    assert_string_equal(r, "0***1***2");
    assert_int_equal(n, strlen(r));
    free(r);
    /* order of the secrets does not matter */
    json_t *rev = json_pack("[s, s]", "cdef", "abcd");
    r = secrets_redact_text("abcdef", 6, rev, NULL);
    assert_string_equal(r, "***");
    free(r);
    /* a secret repeated inside itself ("aa" in "aaaa") */
    json_t *aa = json_pack("[s]", "aa");
    r = secrets_redact_text("xaaaay", 6, aa, NULL);
    assert_string_equal(r, "x***y");
    free(r);
    json_decref(aa);
    json_decref(rev);
    json_decref(secrets);
}

static void test_redaction_ignores_empty_secrets_and_keeps_utf8_whole(void **state)
{
    json_t *secrets = json_pack("{s:s, s:s, s:i}", "empty", "", "word", "p\xc3\xa4ss", "n", 7);
    json_t *v = json_pack("[s, i]", "\xc3\xa4 p\xc3\xa4ss \xc3\xa4", 7);
    json_t *r = secrets_redact(v, secrets);
    assert_string_equal(json_string_value(json_array_get(r, 0)), "\xc3\xa4 *** \xc3\xa4");
    assert_int_equal(json_integer_value(json_array_get(r, 1)), 7);   /* only strings */
    json_decref(r);
    /* no secrets at all: an equal copy */
    r = secrets_redact(v, NULL);
    assert_true(json_equal(r, v));
    assert_ptr_not_equal(r, v);
    json_decref(r);
    json_decref(v);
    json_decref(secrets);
}

/* ---- stored secrets ---- */

static void put(store_conn *w, const secrets_key *k, const char *name, const char *value,
                bool expect_created)
{
    unsigned char *box = NULL;
    size_t n = seal(k, name, value, strlen(value), &box);
    store_secret s = { .name = name, .sealed = box, .sealed_len = n,
                       .key_id = secrets_key_id(k), .created_at = 1000, .updated_at = 2000 };
    bool created = !expect_created;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(store_secret_put(w, &s, &created, &err), SP_OK);
    assert_int_equal(created, expect_created);
    free(box);
}

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memmem(buf, n, needle, strlen(needle)) != NULL;
}

static void test_stored_secrets_survive_a_reopen_and_only_open_with_their_key(void **state)
{
    make_tmp(state);
    char db[128], url[160], wal[160];
    path_in_tmp(db, sizeof db, "store.db");
    snprintf(url, sizeof url, "sqlite:%s", db);
    snprintf(wal, sizeof wal, "%s-wal", db);
    secrets_key *k = key_of(HEX_A);
    sp_error err = SP_ERROR_INIT;

    store *st = store_open(url, &err);
    assert_non_null(st);
    store_conn *w = store_writer(st);
    assert_int_equal(store_begin(w, &err), SP_OK);
    put(w, k, "stripe", "PLAINTEXT-sk-live-0001", true);
    put(w, k, "slack", "PLAINTEXT-xoxb-0002", true);
    put(w, k, "stripe", "PLAINTEXT-sk-live-0003", false);       /* overwrite */
    assert_int_equal(store_secret_delete(w, "slack", &err), SP_OK);
    assert_int_equal(store_secret_delete(w, "slack", &err), SP_ENOTFOUND);
    sp_error_clear(&err);
    put(w, k, "github", "PLAINTEXT-ghp-0004", true);
    assert_int_equal(store_commit(w, &err), SP_OK);
    assert_false(file_contains(db, "PLAINTEXT"));
    assert_false(file_contains(wal, "PLAINTEXT"));
    store_close(st);

    st = store_open(url, &err);
    assert_non_null(st);
    store_conn *r = store_reader(st);
    json_t *all = NULL;
    assert_int_equal(secrets_load_all(r, k, &all, &err), SP_OK);
    json_t *want = json_pack("{s:s, s:s}", "github", "PLAINTEXT-ghp-0004", "stripe",
                             "PLAINTEXT-sk-live-0003");
    assert_true(json_equal(all, want));
    json_decref(want);
    json_decref(all);
    int count = 0, unopened = 0;
    assert_int_equal(secrets_check(r, k, &count, &unopened, &err), SP_OK);
    assert_int_equal(count, 2);
    assert_int_equal(unopened, 0);

    /* another key: refused at the check, and loading fails rather than
     * answering with secrets missing */
    secrets_key *other = secrets_key_random();
    assert_int_equal(secrets_check(r, other, &count, &unopened, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, secrets_key_id(k)));
    sp_error_clear(&err);
    all = NULL;
    assert_int_equal(secrets_load_all(r, other, &all, &err), SP_EINVALID);
    assert_null(all);
    assert_null(strstr(err.message, "PLAINTEXT"));
    sp_error_clear(&err);
    store_release(r);
    secrets_key_free(other);
    store_close(st);
    secrets_key_free(k);
    remove_tmp(state);
}

/* Rotation: what the old key sealed moves to the new key, the rest stays;
 * the same key twice, or an altered row, is refused. */
static void test_rekey_moves_what_the_old_key_sealed_and_refuses_mistakes(void **state)
{
    sp_error err = SP_ERROR_INIT;
    store *st = store_open("sqlite::memory:", &err);
    assert_non_null(st);
    store_conn *w = store_writer(st);
    secrets_key *old = key_of(HEX_A), *fresh = secrets_key_random(), *third = secrets_key_random();
    assert_int_equal(store_begin(w, &err), SP_OK);
    put(w, old, "stripe", "PLAINTEXT-sk-live-0001", true);
    put(w, old, "github", "PLAINTEXT-ghp-0002", true);
    put(w, third, "other", "PLAINTEXT-other-0003", true);     /* not the old key's */
    int moved = -1;
    assert_int_equal(secrets_rekey(w, old, old, &moved, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "is the current one"));
    sp_error_clear(&err);
    assert_int_equal(secrets_rekey(w, old, fresh, &moved, &err), SP_OK);
    assert_int_equal(moved, 2);
    assert_int_equal(secrets_rekey(w, old, fresh, &moved, &err), SP_OK);
    assert_int_equal(moved, 0);                                 /* nothing left */
    assert_int_equal(store_commit(w, &err), SP_OK);

    /* the moved ones open with the new key, and only with it */
    store_conn *r = store_reader(st);
    assert_int_equal(store_secret_delete(w, "other", &err), SP_OK);    /* autocommit */
    json_t *all = NULL;
    assert_int_equal(secrets_load_all(r, fresh, &all, &err), SP_OK);
    json_t *want = json_pack("{s:s, s:s}", "github", "PLAINTEXT-ghp-0002", "stripe",
                             "PLAINTEXT-sk-live-0001");
    assert_true(json_equal(all, want));
    json_decref(want);
    json_decref(all);
    int count = 0, unopened = 0;
    assert_int_equal(secrets_check(r, old, &count, &unopened, &err), SP_EINVALID);
    sp_error_clear(&err);
    store_release(r);

    /* a row that carries the old key's id but does not open stops it */
    unsigned char junk[64] = { 1 };
    store_secret bad = { .name = "broken", .sealed = junk, .sealed_len = sizeof junk,
                         .key_id = secrets_key_id(fresh), .created_at = 1, .updated_at = 1 };
    assert_int_equal(store_secret_put(w, &bad, NULL, &err), SP_OK);
    assert_int_equal(secrets_rekey(w, fresh, third, &moved, &err), SP_EINVALID);
    assert_non_null(strstr(err.message, "broken"));
    sp_error_clear(&err);
    secrets_key_free(old);
    secrets_key_free(fresh);
    secrets_key_free(third);
    store_close(st);
}

/* Sealed meta documents: stored sealed, bound to their name, read back;
 * a plain one from before is read and sealed by a rekey onto itself. */
static void test_sealed_documents_hide_their_content_and_follow_the_key(void **state)
{
    sp_error err = SP_ERROR_INIT;
    store *st = store_open("sqlite::memory:", &err);
    assert_non_null(st);
    store_conn *w = store_writer(st);
    secrets_key *k = key_of(HEX_A), *other = secrets_key_random();
    json_t *doc = json_pack("{s:s}", "current", "PLAINTEXT-kid-0001"), *got = NULL;
    assert_int_equal(secrets_doc_get(w, k, "link_keys", &got, &err), SP_ENOTFOUND);
    sp_error_clear(&err);
    assert_int_equal(secrets_doc_put(w, k, "link_keys", doc, &err), SP_OK);
    char *raw = NULL;
    assert_int_equal(store_meta_get(w, "link_keys", &raw, &err), SP_OK);
    assert_int_equal(strncmp(raw, "sealed:", 7), 0);
    assert_null(strstr(raw, "PLAINTEXT"));
    assert_int_equal(secrets_doc_get(w, k, "link_keys", &got, &err), SP_OK);
    assert_true(json_equal(got, doc));
    json_decref(got);
    assert_int_equal(secrets_doc_get(w, other, "link_keys", &got, &err), SP_EINVALID);
    sp_error_clear(&err);
    assert_int_equal(secrets_doc_get(w, NULL, "link_keys", &got, &err), SP_EUNAVAIL);
    sp_error_clear(&err);
    /* the same box under another name does not open */
    assert_int_equal(store_meta_put(w, "moved", raw, &err), SP_OK);
    assert_int_equal(secrets_doc_get(w, k, "moved", &got, &err), SP_EINVALID);
    sp_error_clear(&err);
    free(raw);

    /* rekey: onto another key, then nothing left to do */
    bool moved = false;
    assert_int_equal(secrets_doc_rekey(w, k, other, "link_keys", &moved, &err), SP_OK);
    assert_true(moved);
    assert_int_equal(secrets_doc_rekey(w, k, other, "link_keys", &moved, &err), SP_OK);
    assert_false(moved);
    assert_int_equal(secrets_doc_get(w, other, "link_keys", &got, &err), SP_OK);
    assert_true(json_equal(got, doc));
    json_decref(got);
    assert_int_equal(secrets_doc_rekey(w, k, other, "absent", &moved, &err), SP_OK);
    assert_false(moved);

    /* a plain document from before sealing: read as is, sealed onto itself */
    assert_int_equal(store_meta_put(w, "legacy", "{\"current\":\"PLAINTEXT-old\"}", &err), SP_OK);
    assert_int_equal(secrets_doc_get(w, k, "legacy", &got, &err), SP_OK);
    json_decref(got);
    assert_int_equal(secrets_doc_rekey(w, k, k, "legacy", &moved, &err), SP_OK);
    assert_true(moved);
    assert_int_equal(store_meta_get(w, "legacy", &raw, &err), SP_OK);
    assert_null(strstr(raw, "PLAINTEXT"));
    free(raw);
    json_decref(doc);
    secrets_key_free(k);
    secrets_key_free(other);
    store_close(st);
}

static void test_secret_writes_count_as_fallible_store_calls(void **state)
{
    sp_error err = SP_ERROR_INIT;
    store *st = store_open("fault:1:sqlite::memory:", &err);
    assert_non_null(st);
    secrets_key *k = secrets_key_random();
    unsigned char *box = NULL;
    size_t n = seal(k, "a", "v", 1, &box);
    store_secret s = { .name = "a", .sealed = box, .sealed_len = n,
                       .key_id = secrets_key_id(k), .created_at = 1, .updated_at = 1 };
    bool created = false;
    assert_int_equal(store_secret_put(store_writer(st), &s, &created, &err), SP_ESTORE);
    sp_error_clear(&err);
    assert_int_equal(store_secret_put(store_writer(st), &s, &created, &err), SP_OK);
    assert_true(created);
    assert_int_equal(store_fault_calls(st), 2);
    free(box);
    secrets_key_free(k);
    store_close(st);
}

/* ---- the engine commands ---- */

static int collect_audit(void *ctx, const store_audit_row *row)
{
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:s}", "type", row->type, "actor",
                                         row->actor, "data", row->data));
    return 0;
}

static void test_engine_writes_and_deletes_secrets_auditing_names_only(void **state)
{
    make_tmp(state);
    char db[128], url[160];
    path_in_tmp(db, sizeof db, "engine.db");
    snprintf(url, sizeof url, "sqlite:%s", db);
    sp_error err = SP_ERROR_INIT;
    store *st = store_open(url, &err);
    assert_non_null(st);
    secrets_key *k = secrets_key_random();
    audit_key *akey = NULL;
    bool created;
    assert_int_equal(audit_key_setup(store_writer(st), k, &akey, &created, &err), SP_OK);
    engine_config cfg = { .secrets_key = k, .audit_key = akey };
    engine *e = engine_start(st, &cfg, &err);
    assert_non_null(e);
    const principal admin = { .name = "root", .role = "admin", .scope = "admin" };
    const principal member = { .name = "mem", .role = "member", .scope = "member" };
    const principal admin_as_member = { .name = "root", .role = "admin", .scope = "member" };

    json_t *args = json_pack("{s:s, s:s}", "name", "stripe", "value", "VALUE-one-1234");
    json_t *reply = NULL;
    assert_int_equal(engine_call(e, ENGINE_PUT_SECRET, &admin, args, &reply), 201);
    assert_string_equal(json_string_value(json_object_get(reply, "name")), "stripe");
    assert_non_null(json_object_get(reply, "updated_at"));
    assert_null(json_object_get(reply, "value"));
    json_decref(reply);
    assert_int_equal(engine_call(e, ENGINE_PUT_SECRET, &admin, args, NULL), 200);
    assert_int_equal(engine_call(e, ENGINE_PUT_SECRET, &member, args, NULL), 403);
    assert_int_equal(engine_call(e, ENGINE_PUT_SECRET, &admin_as_member, args, NULL), 403);
    json_decref(args);
    args = json_pack("{s:s, s:s}", "name", "bad name", "value", "x");
    assert_int_equal(engine_call(e, ENGINE_PUT_SECRET, &admin, args, NULL), 422);
    json_decref(args);
    args = json_pack("{s:s, s:i}", "name", "n", "value", 5);
    assert_int_equal(engine_call(e, ENGINE_PUT_SECRET, &admin, args, NULL), 400);
    json_decref(args);

    args = json_pack("{s:s}", "name", "stripe");
    assert_int_equal(engine_call(e, ENGINE_DELETE_SECRET, &member, args, NULL), 403);
    assert_int_equal(engine_call(e, ENGINE_DELETE_SECRET, &admin, args, NULL), 200);
    assert_int_equal(engine_call(e, ENGINE_DELETE_SECRET, &admin, args, NULL), 404);
    json_decref(args);

    engine_stop(e);
    json_t *rows = json_array();
    store_audit_filter all = { 0 };
    assert_int_equal(store_audit_scan(store_writer(st), &all, collect_audit, rows, &err), SP_OK);
    json_t *want = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]",
                             "type", "secret.written", "actor", "root", "data",
                             "{\"name\":\"stripe\"}",
                             "type", "secret.written", "actor", "root", "data",
                             "{\"name\":\"stripe\"}",
                             "type", "secret.deleted", "actor", "root", "data",
                             "{\"name\":\"stripe\"}");
    assert_true(json_equal(rows, want));
    json_decref(want);
    json_decref(rows);
    engine_free(e);
    store_close(st);
    assert_false(file_contains(db, "VALUE-one"));
    audit_key_free(akey);

    /* an engine without a master key refuses to write secrets (503) */
    st = store_open("sqlite::memory:", &err);
    assert_int_equal(audit_key_setup(store_writer(st), k, &akey, &created, &err), SP_OK);
    secrets_key_free(k);                        /* the audit key is its own copy */
    engine_config no_master = { .audit_key = akey };
    e = engine_start(st, &no_master, &err);
    args = json_pack("{s:s, s:s}", "name", "a", "value", "b");
    assert_int_equal(engine_call(e, ENGINE_PUT_SECRET, &admin, args, NULL), 503);
    json_decref(args);
    engine_stop(e);
    engine_free(e);
    store_close(st);
    audit_key_free(akey);
    remove_tmp(state);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_sealed_value_opens_to_itself_with_its_key_and_name),
        cmocka_unit_test(test_each_seal_uses_a_new_nonce),
        cmocka_unit_test(test_the_wrong_key_fails_cleanly_naming_the_secret_not_the_value),
        cmocka_unit_test(test_any_tampered_byte_or_truncation_fails_to_open),
        cmocka_unit_test(test_a_value_sealed_for_another_name_does_not_open),
        cmocka_unit_test(test_seal_refuses_bad_names_and_values_over_the_limit),
        cmocka_unit_test(test_a_key_parses_from_hex_or_any_base64_with_the_same_id),
        cmocka_unit_test(test_malformed_keys_are_refused_without_echoing_them),
        cmocka_unit_test(test_the_default_key_file_sits_beside_the_sqlite_file),
        cmocka_unit_test(test_a_key_file_is_created_0600_once_then_read_back),
        cmocka_unit_test(test_a_missing_key_file_is_not_recreated_when_secrets_exist),
        cmocka_unit_test(test_redaction_replaces_values_and_substrings_in_nested_json),
        cmocka_unit_test(test_overlapping_and_adjacent_secrets_leave_no_fragment),
        cmocka_unit_test(test_rekey_moves_what_the_old_key_sealed_and_refuses_mistakes),
        cmocka_unit_test(test_sealed_documents_hide_their_content_and_follow_the_key),
        cmocka_unit_test(test_redaction_ignores_empty_secrets_and_keeps_utf8_whole),
        cmocka_unit_test(test_stored_secrets_survive_a_reopen_and_only_open_with_their_key),
        cmocka_unit_test(test_secret_writes_count_as_fallible_store_calls),
        cmocka_unit_test(test_engine_writes_and_deletes_secrets_auditing_names_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
