/*
 * test_auth.c - keys, bearer resolution against a real store, passwords,
 * and the principal helpers. Each test names the behaviour it proves.
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
#include <unistd.h>

#include "auth/auth.h"
#include "auth/auth_internal.h"
#include "core/clock.h"
#include "core/jsonx.h"
#include "core/log.h"

/* ---- a store with a few users and keys ---- */

static store *st;
static char db_path[64];
static char key_alice[64], key_root_admin[64], key_root_member[64], key_revoked[64],
    key_expired[64], key_future[64], key_disabled[64];

static void put_user(store_conn *w, const char *name, const char *role, bool disabled)
{
    sp_error err = SP_ERROR_INIT;
    json_t *u = json_pack("{s:s, s:s, s:b, s:s}", "name", name, "role", role, "disabled",
                          disabled, "created_at", "2026-01-01T00:00:00.000Z");
    assert_int_equal(store_user_put(w, u, &err), SP_OK);
    json_decref(u);
}

/* Stores a key row for user; extra members (revoked_at, ...) from `more`. */
static void put_key(store_conn *w, const char *id, const char *user, const char *scope,
                    const char *key, json_t *more)
{
    sp_error err = SP_ERROR_INIT;
    char hash[65];
    auth_key_hash(key, hash);
    json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "user", user, "scope",
                            scope, "hash", hash, "created_at", "2026-01-01T00:00:00.000Z");
    if (more)
        json_object_update(row, more);
    json_decref(more);
    assert_int_equal(store_key_put(w, row, &err), SP_OK);
    json_decref(row);
}

static void make_key(char out[64])
{
    char *k = NULL, hash[65];
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(auth_key_new(&k, hash, &err), SP_OK);
    snprintf(out, 64, "%s", k);
    free(k);
}

static int setup(void **state)
{
    log_set_level(LOG_ERROR);
    if (sodium_init() < 0)
        return -1;
    snprintf(db_path, sizeof db_path, "/tmp/spojit-test-auth-%d.db", (int)getpid());
    char url[96];
    snprintf(url, sizeof url, "sqlite:%s", db_path);
    sp_error err = SP_ERROR_INIT;
    if (!(st = store_open(url, &err))) {
        fprintf(stderr, "store_open: %s\n", err.message);
        return -1;
    }
    make_key(key_alice);
    make_key(key_root_admin);
    make_key(key_root_member);
    make_key(key_revoked);
    make_key(key_expired);
    make_key(key_future);
    make_key(key_disabled);

    store_conn *w = store_writer(st);
    assert_int_equal(store_begin(w, &err), SP_OK);
    put_user(w, "alice", "member", false);
    put_user(w, "root", "admin", false);
    put_user(w, "dave", "member", true);
    assert_int_equal(store_team_put(w, "finance", clock_now(), &err), SP_OK);
    assert_int_equal(store_team_put(w, "support", clock_now(), &err), SP_OK);
    assert_int_equal(store_team_add_member(w, "finance", "alice", &err), SP_OK);
    assert_int_equal(store_team_add_member(w, "support", "alice", &err), SP_OK);
    put_key(w, "key_a", "alice", "member", key_alice, NULL);
    put_key(w, "key_ra", "root", "admin", key_root_admin, NULL);
    put_key(w, "key_rm", "root", "member", key_root_member, NULL);
    put_key(w, "key_rev", "alice", "member", key_revoked,
            json_pack("{s:s}", "revoked_at", "2026-01-02T00:00:00.000Z"));
    put_key(w, "key_exp", "alice", "member", key_expired,
            json_pack("{s:s}", "expires_at", "2001-01-01T00:00:00.000Z"));
    put_key(w, "key_fut", "alice", "agent", key_future,
            json_pack("{s:s}", "expires_at", "2999-01-01T00:00:00.000Z"));
    put_key(w, "key_dis", "dave", "member", key_disabled, NULL);
    assert_int_equal(store_commit(w, &err), SP_OK);
    return 0;
}

static int teardown(void **state)
{
    store_close(st);
    char p[96];
    unlink(db_path);
    snprintf(p, sizeof p, "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db_path);
    unlink(p);
    return 0;
}

static sp_code bearer(const char *header, principal *p, sp_error *err)
{
    sp_error_clear(err);
    return auth_bearer(st, header, p, err);
}

static char *header_for(const char *key)
{
    static char h[128];
    snprintf(h, sizeof h, "Bearer %s", key);
    return h;
}

/* ---- keys ---- */

static void test_new_keys_are_spk_base64url_and_stored_as_sha256(void **state)
{
    char *k1 = NULL, *k2 = NULL, h1[65], h2[65], expect[65];
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(auth_key_new(&k1, h1, &err), SP_OK);
    assert_int_equal(auth_key_new(&k2, h2, &err), SP_OK);
    assert_int_equal(strncmp(k1, "spk_", 4), 0);
    assert_int_equal(strlen(k1), 4 + 43);         /* 32 bytes, base64url, no padding */
    for (const char *c = k1 + 4; *c; c++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789-_", *c));
    sha256_hex(k1, strlen(k1), expect);
    assert_string_equal(h1, expect);
    assert_int_equal(strlen(h1), 64);
    assert_string_not_equal(k1, k2);
    assert_string_not_equal(h1, h2);
    auth_key_hash(k2, expect);
    assert_string_equal(h2, expect);
    free(k1);
    free(k2);
}

/* ---- the Authorization header ---- */

static void test_bearer_token_parsing_edge_cases(void **state)
{
    const char *tok;
    size_t len;
    struct {
        const char *header;
        const char *token;                      /* NULL: rejected */
    } cases[] = {
        { "Bearer abc", "abc" },
        { "bearer abc", "abc" },
        { "BEARER abc", "abc" },
        { "  Bearer \t abc \t ", "abc" },
        { "Bearer\tabc", "abc" },
        { "Bearer a.b-c_d~e+f/g==", "a.b-c_d~e+f/g==" },
        { "Bearer", NULL },
        { "Bearer ", NULL },
        { "Bearer    ", NULL },
        { "Bearerabc", NULL },
        { "Basic YWxpY2U6eA==", NULL },
        { "Bearer abc def", NULL },
        { "Bearer abc\x01", NULL },
        { "Bearer ab\xc3\xa9", NULL },
        { "Bearer abc\r\n", NULL },
        { "", NULL },
        { "Token abc", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = auth__bearer_token(cases[i].header, &tok, &len);
        if (!cases[i].token) {
            assert_int_equal(rc, -1);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(len, strlen(cases[i].token));
        assert_memory_equal(tok, cases[i].token, len);
    }
    char longkey[AUTH_KEY_MAX_LEN + 16];
    memcpy(longkey, "Bearer ", 7);
    memset(longkey + 7, 'k', AUTH_KEY_MAX_LEN);
    longkey[7 + AUTH_KEY_MAX_LEN] = '\0';
    assert_int_equal(auth__bearer_token(longkey, &tok, &len), 0);
    longkey[7 + AUTH_KEY_MAX_LEN] = 'k';
    longkey[8 + AUTH_KEY_MAX_LEN] = '\0';
    assert_int_equal(auth__bearer_token(longkey, &tok, &len), -1);
}

static void test_missing_or_malformed_header_is_unauthorized(void **state)
{
    principal p;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(bearer(NULL, &p, &err), SP_EUNAUTH);
    assert_non_null(strstr(err.message, "Bearer"));
    assert_null(p.teams);
    assert_int_equal(bearer("", &p, &err), SP_EUNAUTH);
    assert_int_equal(bearer("Basic YWxpY2U6eA==", &p, &err), SP_EUNAUTH);
    assert_non_null(strstr(err.message, "malformed"));
    assert_int_equal(bearer("Bearer", &p, &err), SP_EUNAUTH);
    sp_error_clear(&err);
}

/* ---- resolving keys ---- */

static void test_bearer_resolves_user_role_key_scope_and_teams(void **state)
{
    principal p;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(bearer(header_for(key_alice), &p, &err), SP_OK);
    assert_string_equal(p.name, "alice");
    assert_string_equal(p.role, "member");
    assert_string_equal(p.scope, "member");
    assert_true(json_is_array(p.teams));
    assert_int_equal(json_array_size(p.teams), 2);
    assert_false(principal_is_admin(&p));

    json_t *names = principal_assignee_names(&p);
    assert_int_equal(json_array_size(names), 3);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "user:alice");
    bool finance = false, support = false;
    for (size_t i = 1; i < 3; i++) {
        const char *n = json_string_value(json_array_get(names, i));
        finance |= strcmp(n, "team:finance") == 0;
        support |= strcmp(n, "team:support") == 0;
    }
    assert_true(finance && support);
    json_decref(names);
    principal_clear(&p);
    assert_null(p.teams);

    /* The scheme is case-insensitive and surrounding blanks are fine. */
    char h[128];
    snprintf(h, sizeof h, "  bEaReR \t%s  ", key_alice);
    assert_int_equal(bearer(h, &p, &err), SP_OK);
    assert_string_equal(p.name, "alice");
    principal_clear(&p);
}

static void test_admin_needs_admin_role_and_admin_scoped_key(void **state)
{
    principal p;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(bearer(header_for(key_root_admin), &p, &err), SP_OK);
    assert_string_equal(p.role, "admin");
    assert_true(principal_is_admin(&p));
    assert_int_equal(json_array_size(p.teams), 0);
    principal_clear(&p);

    assert_int_equal(bearer(header_for(key_root_member), &p, &err), SP_OK);
    assert_string_equal(p.role, "admin");
    assert_string_equal(p.scope, "member");
    assert_false(principal_is_admin(&p));
    principal_clear(&p);
}

static void test_key_with_future_expiry_is_accepted(void **state)
{
    principal p;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(bearer(header_for(key_future), &p, &err), SP_OK);
    assert_string_equal(p.scope, "agent");
    principal_clear(&p);
}

static void test_unknown_revoked_expired_and_disabled_keys_fail_alike(void **state)
{
    char unknown[64];
    make_key(unknown);                          /* well-formed, never stored */
    const char *keys[] = { unknown, key_revoked, key_expired, key_disabled,
                           "spk_", "not-even-a-key" };
    char first[SP_ERROR_MESSAGE_MAX] = "";
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        principal p;
        sp_error err = SP_ERROR_INIT;
        assert_int_equal(bearer(header_for(keys[i]), &p, &err), SP_EUNAUTH);
        assert_null(p.teams);
        assert_string_equal(p.name, "");
        /* The same words whatever the reason: nothing to learn about keys. */
        if (i == 0)
            snprintf(first, sizeof first, "%s", err.message);
        assert_string_equal(err.message, first);
        assert_null(strstr(err.message, keys[i]));
        sp_error_clear(&err);
    }
}

static void test_bearer_without_a_store_is_unavailable(void **state)
{
    principal p;
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(auth_bearer(NULL, header_for(key_alice), &p, &err), SP_EUNAVAIL);
    sp_error_clear(&err);
}

/* ---- principals ---- */

static void test_principal_helpers_without_teams(void **state)
{
    principal p = { .name = "admin", .role = "admin", .scope = "admin" };
    assert_true(principal_is_admin(&p));
    json_t *names = principal_assignee_names(&p);
    assert_int_equal(json_array_size(names), 1);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "user:admin");
    json_decref(names);

    principal viewer = { .name = "v", .role = "viewer", .scope = "admin" };
    assert_false(principal_is_admin(&viewer));
    assert_false(principal_is_admin(NULL));
    principal_clear(&p);
    principal_clear(NULL);
}

/* ---- passwords ---- */

static void test_password_hash_is_argon2id_and_verifies_only_the_password(void **state)
{
    char *h1 = auth_password_hash("demo");
    char *h2 = auth_password_hash("demo");
    assert_non_null(h1);
    assert_non_null(h2);
    assert_int_equal(strncmp(h1, "$argon2id$", 10), 0);
    assert_string_not_equal(h1, h2);            /* salted */
    assert_true(auth_password_verify(h1, "demo"));
    assert_true(auth_password_verify(h2, "demo"));
    assert_false(auth_password_verify(h1, "Demo"));
    assert_false(auth_password_verify(h1, "demo "));
    assert_false(auth_password_verify(h1, ""));
    free(h1);
    free(h2);

    char *empty = auth_password_hash("");
    assert_non_null(empty);
    assert_true(auth_password_verify(empty, ""));
    assert_false(auth_password_verify(empty, "x"));
    free(empty);
}

static void test_password_verify_rejects_missing_and_garbage_hashes(void **state)
{
    assert_null(auth_password_hash(NULL));
    assert_false(auth_password_verify(NULL, "demo"));
    assert_false(auth_password_verify("", "demo"));
    assert_false(auth_password_verify("not a hash", "demo"));
    assert_false(auth_password_verify("$argon2id$v=19$m=65536,t=2,p=1$AAAA$BBBB", "demo"));
    char *h = auth_password_hash("demo");
    assert_false(auth_password_verify(h, NULL));
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_keys_are_spk_base64url_and_stored_as_sha256),
        cmocka_unit_test(test_bearer_token_parsing_edge_cases),
        cmocka_unit_test(test_missing_or_malformed_header_is_unauthorized),
        cmocka_unit_test(test_bearer_resolves_user_role_key_scope_and_teams),
        cmocka_unit_test(test_admin_needs_admin_role_and_admin_scoped_key),
        cmocka_unit_test(test_key_with_future_expiry_is_accepted),
        cmocka_unit_test(test_unknown_revoked_expired_and_disabled_keys_fail_alike),
        cmocka_unit_test(test_bearer_without_a_store_is_unavailable),
        cmocka_unit_test(test_principal_helpers_without_teams),
        cmocka_unit_test(test_password_hash_is_argon2id_and_verifies_only_the_password),
        cmocka_unit_test(test_password_verify_rejects_missing_and_garbage_hashes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
