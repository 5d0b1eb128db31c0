/*
 * test_session.c - web sessions: the Cookie header parser, CSRF tokens,
 * resolving a session against a real store (expiry, revocation, disabled
 * users), the session store ops (also through the fault wrapper), and the
 * failed-login rate limiter. Each test names the behaviour it proves.
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

#include "api/ratelimit.h"
#include "auth/session.h"
#include "core/clock.h"
#include "core/jsonx.h"
#include "core/log.h"

/* ---- the Cookie header ---- */

static int cookie(const char *header, char out[256])
{
    const char *v = NULL;
    size_t n = 0;
    int rc = auth_cookie_value(header, "spojit_session", &v, &n);
    out[0] = '\0';
    if (rc == 1)
        snprintf(out, 256, "%.*s", (int)n, v);
    return rc;
}

static void test_cookie_header_parsing_edge_cases(void **state)
{
    char v[256];
    assert_int_equal(cookie("spojit_session=sps_abc", v), 1);
    assert_string_equal(v, "sps_abc");
    assert_int_equal(cookie("a=1; spojit_session=sps_abc; b=2", v), 1);
    assert_string_equal(v, "sps_abc");
    assert_int_equal(cookie("  a=1 ;spojit_session = sps_abc  ;", v), 1);
    assert_string_equal(v, "sps_abc");
    assert_int_equal(cookie("spojit_session=\"sps_q\"", v), 1);
    assert_string_equal(v, "sps_q");
    /* the first of two wins (the most specific path comes first) */
    assert_int_equal(cookie("spojit_session=one; spojit_session=two", v), 1);
    assert_string_equal(v, "one");
    /* a value with '=' in it is kept whole */
    assert_int_equal(cookie("spojit_session=a=b", v), 1);
    assert_string_equal(v, "a=b");

    /* absent */
    assert_int_equal(auth_cookie_value(NULL, "spojit_session", NULL, NULL), 0);
    assert_int_equal(cookie("", v), 0);
    assert_int_equal(cookie("theme=dark", v), 0);
    assert_int_equal(cookie("xspojit_session=1; spojit_sessionx=2; Spojit_Session=3", v), 0);
    assert_int_equal(cookie("spojit_session", v), 0);
    assert_int_equal(cookie(";;;", v), 0);

    /* present but malformed */
    assert_int_equal(cookie("spojit_session=", v), -1);
    assert_int_equal(cookie("spojit_session=\"\"", v), -1);
    assert_int_equal(cookie("spojit_session=a b", v), -1);
    assert_int_equal(cookie("spojit_session=a,b", v), -1);
    assert_int_equal(cookie("spojit_session=a\\b", v), -1);
    assert_int_equal(cookie("spojit_session=\"ab", v), -1);
    assert_int_equal(cookie("spojit_session=\xc3\xa9", v), -1);
    char longv[400];
    snprintf(longv, sizeof longv, "spojit_session=%0*d", AUTH_SESSION_TOKEN_MAX + 1, 0);
    assert_int_equal(cookie(longv, v), -1);
    snprintf(longv, sizeof longv, "spojit_session=%0*d", AUTH_SESSION_TOKEN_MAX, 0);
    assert_int_equal(cookie(longv, v), 1);
}

/* ---- tokens and CSRF ---- */

static void test_new_sessions_are_sps_base64url_with_hashes_of_token_and_csrf(void **state)
{
    char *t1 = NULL, *t2 = NULL, h[65], ch[65], h2[65], ch2[65], want[65];
    sp_error err = SP_ERROR_INIT;
    assert_int_equal(auth_session_new(&t1, h, ch, &err), SP_OK);
    assert_int_equal(auth_session_new(&t2, h2, ch2, &err), SP_OK);
    assert_int_equal(strlen(t1), 4 + 43);
    assert_memory_equal(t1, "sps_", 4);
    assert_string_not_equal(t1, t2);
    sha256_hex(t1, strlen(t1), want);
    assert_string_equal(h, want);

    char csrf[AUTH_CSRF_LEN], again[AUTH_CSRF_LEN];
    auth_session_csrf(t1, strlen(t1), csrf);
    auth_session_csrf(t1, strlen(t1), again);
    assert_string_equal(csrf, again);                   /* derived, so recomputable */
    assert_int_equal(strlen(csrf), 5 + 43);
    assert_memory_equal(csrf, "csrf_", 5);
    assert_null(strstr(csrf, t1 + 4));                  /* not the token itself */
    sha256_hex(csrf, strlen(csrf), want);
    assert_string_equal(ch, want);

    assert_true(auth_session_csrf_ok(ch, csrf));
    assert_false(auth_session_csrf_ok(ch2, csrf));      /* another session's token */
    assert_false(auth_session_csrf_ok(ch, NULL));
    assert_false(auth_session_csrf_ok(ch, ""));
    assert_false(auth_session_csrf_ok(ch, t1));         /* the cookie is not the CSRF token */
    assert_false(auth_session_csrf_ok(NULL, csrf));
    assert_false(auth_session_csrf_ok("abc", csrf));
    char longer[AUTH_CSRF_LEN + 8];
    snprintf(longer, sizeof longer, "%sxxxxxxx", csrf);
    assert_false(auth_session_csrf_ok(ch, longer));
    free(t1);
    free(t2);
}

/* ---- sessions against a real store ---- */

static store *st;
static char db_path[64];
static const sp_time T0 = 1800000000000LL;     /* 2027-01-15 */

static void put_user(store_conn *w, const char *name, const char *role, bool disabled)
{
    sp_error err = SP_ERROR_INIT;
    json_t *u = json_pack("{s:s, s:s, s:b, s:s}", "name", name, "role", role, "disabled",
                          disabled, "created_at", "2026-01-01T00:00:00.000Z");
    assert_int_equal(store_user_put(w, u, &err), SP_OK);
    json_decref(u);
}

/* Stores a session for user created at `at`, returns its cookie header. */
static void put_session(const char *id, const char *user, sp_time at, char header[128],
                        char csrf_hash[65])
{
    sp_error err = SP_ERROR_INIT;
    char *tok = NULL, hash[65], a[SP_TIME_BUF], until[SP_TIME_BUF];
    assert_int_equal(auth_session_new(&tok, hash, csrf_hash, &err), SP_OK);
    json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "hash", hash,
                            "user", user, "csrf_hash", csrf_hash, "created_at",
                            time_format(at, a), "last_seen_at", a, "expires_at",
                            time_format(at + AUTH_SESSION_ABSOLUTE_MS, until));
    store_conn *w = store_writer(st);
    assert_int_equal(store_begin(w, &err), SP_OK);
    assert_int_equal(store_session_put(w, row, &err), SP_OK);
    /* the same hash again is a conflict, never an overwrite */
    json_object_set_new(row, "id", json_string("ses_other"));
    assert_int_equal(store_session_put(w, row, &err), SP_ECONFLICT);
    sp_error_clear(&err);
    assert_int_equal(store_commit(w, &err), SP_OK);
    json_decref(row);
    snprintf(header, 128, "theme=dark; spojit_session=%s", tok);
    free(tok);
}

static int setup(void **state)
{
    log_set_level(LOG_ERROR);
    if (sodium_init() < 0)
        return -1;
    clock_enable_test();
    clock_set(T0);
    snprintf(db_path, sizeof db_path, "/tmp/spojit-test-session-%d.db", (int)getpid());
    char url[96];
    snprintf(url, sizeof url, "sqlite:%s", db_path);
    sp_error err = SP_ERROR_INIT;
    if (!(st = store_open(url, &err))) {
        fprintf(stderr, "store_open: %s\n", err.message);
        return -1;
    }
    store_conn *w = store_writer(st);
    assert_int_equal(store_begin(w, &err), SP_OK);
    put_user(w, "alice", "member", false);
    put_user(w, "root", "admin", false);
    put_user(w, "vic", "viewer", false);
    put_user(w, "dave", "member", true);
    assert_int_equal(store_team_put(w, "finance", T0, &err), SP_OK);
    assert_int_equal(store_team_add_member(w, "finance", "alice", &err), SP_OK);
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

static sp_code resolve(const char *header, principal *p, auth_session_info *info,
                       char msg[SP_ERROR_MESSAGE_MAX])
{
    sp_error err = SP_ERROR_INIT;
    sp_code rc = auth_session(st, header, p, info, &err);
    if (msg)
        snprintf(msg, SP_ERROR_MESSAGE_MAX, "%s", err.message);
    sp_error_clear(&err);
    return rc;
}

static void test_session_resolves_user_role_as_scope_and_teams(void **state)
{
    clock_set(T0);
    char h[128], ch[65];
    put_session("ses_alice1", "alice", T0, h, ch);
    principal p;
    auth_session_info info;
    assert_int_equal(resolve(h, &p, &info, NULL), SP_OK);
    assert_string_equal(p.name, "alice");
    assert_string_equal(p.role, "member");
    assert_string_equal(p.scope, "member");
    assert_int_equal(json_array_size(p.teams), 1);
    assert_string_equal(info.id, "ses_alice1");
    assert_string_equal(info.csrf_hash, ch);
    assert_int_equal(info.last_seen_at, T0);
    assert_int_equal(info.expires_at, T0 + AUTH_SESSION_ABSOLUTE_MS);
    assert_false(principal_is_admin(&p));
    principal_clear(&p);

    /* an admin's session administers: scope = role */
    put_session("ses_root1", "root", T0, h, ch);
    assert_int_equal(resolve(h, &p, NULL, NULL), SP_OK);
    assert_true(principal_is_admin(&p));
    principal_clear(&p);
    put_session("ses_vic1", "vic", T0, h, ch);
    assert_int_equal(resolve(h, &p, NULL, NULL), SP_OK);
    assert_string_equal(p.scope, "viewer");
    principal_clear(&p);
}

static void test_idle_and_absolute_expiry_and_touch(void **state)
{
    char h[128], ch[65];
    principal p;
    auth_session_info info;
    sp_error err = SP_ERROR_INIT;
    clock_set(T0);
    put_session("ses_idle", "alice", T0, h, ch);
    /* Margins of a second: the test clock is an offset on the wall clock,
     * so time goes on between clock_set and the check. */
    clock_set(T0 + AUTH_SESSION_IDLE_MS - 1000);
    assert_int_equal(resolve(h, &p, &info, NULL), SP_OK);
    principal_clear(&p);
    clock_set(T0 + AUTH_SESSION_IDLE_MS);
    assert_int_equal(resolve(h, &p, &info, NULL), SP_EUNAUTH);
    assert_string_equal(p.name, "");                    /* nothing left behind */
    assert_null(p.teams);

    /* a touch moves last_seen_at forward, never back */
    store_conn *w = store_writer(st);
    assert_int_equal(store_begin(w, &err), SP_OK);
    assert_int_equal(store_session_touch(w, "ses_idle", T0 + AUTH_SESSION_IDLE_MS - 5, &err), SP_OK);
    assert_int_equal(store_session_touch(w, "ses_idle", T0 + 5, &err), SP_OK);
    assert_int_equal(store_session_touch(w, "ses_nope", T0 + 5, &err), SP_OK);
    assert_int_equal(store_commit(w, &err), SP_OK);
    assert_int_equal(resolve(h, &p, &info, NULL), SP_OK);
    assert_int_equal(info.last_seen_at, T0 + AUTH_SESSION_IDLE_MS - 5);
    principal_clear(&p);

    /* however busy, it ends AUTH_SESSION_ABSOLUTE_MS after login */
    assert_int_equal(store_begin(w, &err), SP_OK);
    assert_int_equal(store_session_touch(w, "ses_idle", T0 + AUTH_SESSION_ABSOLUTE_MS - 2000, &err), SP_OK);
    assert_int_equal(store_commit(w, &err), SP_OK);
    clock_set(T0 + AUTH_SESSION_ABSOLUTE_MS - 1000);
    assert_int_equal(resolve(h, &p, &info, NULL), SP_OK);
    principal_clear(&p);
    clock_set(T0 + AUTH_SESSION_ABSOLUTE_MS);
    assert_int_equal(resolve(h, &p, &info, NULL), SP_EUNAUTH);
    clock_set(T0);
}

static void test_unknown_revoked_malformed_and_disabled_sessions_fail_alike(void **state)
{
    clock_set(T0);
    char h[128], hd[128], ch[65], msg[SP_ERROR_MESSAGE_MAX], first[SP_ERROR_MESSAGE_MAX];
    principal p;
    sp_error err = SP_ERROR_INIT;
    put_session("ses_rev", "alice", T0, h, ch);
    put_session("ses_dave", "dave", T0, hd, ch);

    store_conn *w = store_writer(st);
    assert_int_equal(store_begin(w, &err), SP_OK);
    assert_int_equal(store_session_revoke(w, "ses_rev", T0 + 1, &err), SP_OK);
    assert_int_equal(store_session_revoke(w, "ses_rev", T0 + 2, &err), SP_OK);  /* twice: fine */
    assert_int_equal(store_session_revoke(w, "ses_none", T0, &err), SP_ENOTFOUND);
    sp_error_clear(&err);
    assert_int_equal(store_commit(w, &err), SP_OK);

    assert_int_equal(resolve(h, &p, NULL, first), SP_EUNAUTH);
    assert_int_equal(resolve(hd, &p, NULL, msg), SP_EUNAUTH);
    assert_string_equal(msg, first);
    assert_int_equal(resolve("spojit_session=sps_unknown", &p, NULL, msg), SP_EUNAUTH);
    assert_string_equal(msg, first);
    assert_int_equal(resolve("spojit_session=a b", &p, NULL, msg), SP_EUNAUTH);
    assert_string_equal(msg, first);
    /* no session cookie at all says how to log in */
    assert_int_equal(resolve("theme=dark", &p, NULL, msg), SP_EUNAUTH);
    assert_non_null(strstr(msg, "POST /v1/session"));
    assert_int_equal(resolve(NULL, &p, NULL, NULL), SP_EUNAUTH);
    /* no store: unavailable, not unauthorized */
    sp_error e2 = SP_ERROR_INIT;
    assert_int_equal(auth_session(NULL, h, &p, NULL, &e2), SP_EUNAVAIL);
    sp_error_clear(&e2);
}

static void test_session_ops_fail_through_the_fault_wrapper(void **state)
{
    char url[128];
    snprintf(url, sizeof url, "fault:1:sqlite:%s", db_path);
    sp_error err = SP_ERROR_INIT;
    store *f = store_open(url, &err);
    assert_non_null(f);
    store_conn *r = store_reader(f);
    json_t *row = NULL;
    assert_int_equal(store_session_lookup(r, "00", &row, &err), SP_ESTORE);
    assert_null(row);
    sp_error_clear(&err);
    assert_int_equal(store_session_lookup(r, "00", &row, &err), SP_ENOTFOUND);
    sp_error_clear(&err);
    store_release(r);
    store_close(f);
}

/* The stored hash of the session a cookie header carries. */
static void hash_of(const char *header, char out[65])
{
    const char *tok = strstr(header, "spojit_session=") + strlen("spojit_session=");
    sha256_hex(tok, strlen(tok), out);
}

static bool stored(const char *header)
{
    char hash[65];
    hash_of(header, hash);
    json_t *row = NULL;
    sp_error err = SP_ERROR_INIT;
    sp_code rc = store_session_lookup(store_writer(st), hash, &row, &err);
    json_decref(row);
    sp_error_clear(&err);
    return rc == SP_OK;
}

/* Runs last: the purge clears away other tests' rows too. */
static void test_revoking_a_users_sessions_and_purging_unusable_ones(void **state)
{
    clock_set(T0);
    char b1[128], b2[128], c_exp[128], c_idle[128], c_live[128], ch[65];
    sp_error err = SP_ERROR_INIT;
    store_conn *w = store_writer(st);
    assert_int_equal(store_begin(w, &err), SP_OK);
    put_user(w, "bob", "member", false);
    put_user(w, "carl", "member", false);
    assert_int_equal(store_commit(w, &err), SP_OK);
    put_session("ses_b1", "bob", T0, b1, ch);
    put_session("ses_b2", "bob", T0, b2, ch);
    put_session("ses_cexp", "carl", T0 - AUTH_SESSION_ABSOLUTE_MS - 5, c_exp, ch);
    put_session("ses_cidle", "carl", T0 - AUTH_SESSION_IDLE_MS - 5000, c_idle, ch);
    put_session("ses_clive", "carl", T0, c_live, ch);
    principal p;
    assert_int_equal(resolve(b1, &p, NULL, NULL), SP_OK);
    principal_clear(&p);

    int64_t n = -1;
    assert_int_equal(store_begin(w, &err), SP_OK);
    assert_int_equal(store_session_revoke_user(w, "bob", T0, &n, &err), SP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_session_revoke_user(w, "bob", T0 + 1, &n, &err), SP_OK);
    assert_int_equal(n, 0);                     /* already revoked */
    assert_int_equal(store_session_revoke_user(w, "nobody", T0, &n, &err), SP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_commit(w, &err), SP_OK);
    assert_int_equal(resolve(b1, &p, NULL, NULL), SP_EUNAUTH);
    assert_int_equal(resolve(b2, &p, NULL, NULL), SP_EUNAUTH);
    assert_int_equal(resolve(c_live, &p, NULL, NULL), SP_OK);
    principal_clear(&p);

    /* Bounded: at most `limit` rows per call, until none is left. */
    assert_int_equal(store_begin(w, &err), SP_OK);
    assert_int_equal(store_session_purge(w, T0, T0 - AUTH_SESSION_IDLE_MS, 2, &n, &err), SP_OK);
    assert_int_equal(n, 2);
    for (int i = 0; i < 100 && n > 0; i++)
        assert_int_equal(store_session_purge(w, T0, T0 - AUTH_SESSION_IDLE_MS, 2, &n, &err), SP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_commit(w, &err), SP_OK);
    assert_false(stored(b1));
    assert_false(stored(b2));
    assert_false(stored(c_exp));
    assert_false(stored(c_idle));
    assert_true(stored(c_live));
    assert_int_equal(resolve(c_live, &p, NULL, NULL), SP_OK);
    principal_clear(&p);
}

/* ---- the failed-login limiter ---- */

static void test_rate_limit_blocks_after_max_failures_until_the_window_passes(void **state)
{
    api_rl *rl = api_rl_new(8, 1000);
    assert_non_null(rl);
    assert_int_equal(api_rl_blocked(rl, "user:a", 3, 0), 0);
    api_rl_failed(rl, "user:a", 100);
    api_rl_failed(rl, "user:a", 200);
    assert_int_equal(api_rl_blocked(rl, "user:a", 3, 250), 0);
    api_rl_failed(rl, "user:a", 300);
    assert_int_equal(api_rl_blocked(rl, "user:a", 3, 300), 800);   /* window from the first */
    assert_int_equal(api_rl_blocked(rl, "user:a", 3, 1099), 1);
    assert_int_equal(api_rl_blocked(rl, "user:a", 3, 1100), 0);
    assert_int_equal(api_rl_blocked(rl, "user:b", 3, 300), 0);     /* keys are separate */
    /* a failure after the window starts a new one */
    api_rl_failed(rl, "user:a", 1200);
    assert_int_equal(api_rl_blocked(rl, "user:a", 1, 1200), 1000);
    assert_int_equal(api_rl_blocked(rl, "user:a", 2, 1200), 0);
    /* a clock set back restarts the window rather than block for ever */
    assert_int_equal(api_rl_blocked(rl, "user:a", 1, 0), 0);
    /* reset forgets */
    api_rl_reset(rl, "user:a");
    assert_int_equal(api_rl_blocked(rl, "user:a", 1, 1200), 0);
    assert_int_equal(api_rl_size(rl), 0);
    api_rl_reset(rl, "user:none");
    api_rl_free(rl);
}

static void test_rate_limit_table_is_bounded_and_forgets_the_oldest(void **state)
{
    api_rl *rl = api_rl_new(4, 1000);
    char k[32];
    for (int i = 0; i < 4; i++) {
        snprintf(k, sizeof k, "addr:%d", i);
        api_rl_failed(rl, k, 10 + i);
    }
    assert_int_equal(api_rl_size(rl), 4);
    api_rl_failed(rl, "addr:new", 20);                  /* evicts addr:0, the oldest */
    assert_int_equal(api_rl_size(rl), 4);
    assert_int_equal(api_rl_blocked(rl, "addr:0", 1, 20), 0);
    assert_true(api_rl_blocked(rl, "addr:1", 1, 20) > 0);
    assert_true(api_rl_blocked(rl, "addr:new", 1, 20) > 0);
    /* an expired entry is reused before a live one is evicted */
    api_rl_failed(rl, "addr:late", 1011);               /* addr:1 (10+1) has expired */
    assert_true(api_rl_blocked(rl, "addr:2", 1, 1011) > 0);
    assert_true(api_rl_blocked(rl, "addr:late", 1, 1011) > 0);

    /* keys past API_RL_KEY_MAX are cut: they only merge */
    char longk[API_RL_KEY_MAX + 20];
    memset(longk, 'x', sizeof longk - 1);
    longk[sizeof longk - 1] = '\0';
    api_rl_failed(rl, longk, 1011);
    longk[sizeof longk - 2] = 'y';
    assert_true(api_rl_blocked(rl, longk, 1, 1011) > 0);
    /* nothing breaks on NULL or empty */
    api_rl_failed(rl, NULL, 0);
    api_rl_failed(rl, "", 0);
    assert_int_equal(api_rl_blocked(NULL, "x", 1, 0), 0);
    api_rl_free(rl);
    assert_null(api_rl_new(0, 1000));
    assert_null(api_rl_new(4, 0));
    api_rl_free(NULL);

    /* When full, the key with the fewest failures goes first: a blocked
     * key (many failures) outlives a flood of new keys. */
    rl = api_rl_new(3, 1000);
    for (int i = 0; i < 5; i++)
        api_rl_failed(rl, "user:victim", 10);          /* oldest, and blocked at 5 */
    api_rl_failed(rl, "addr:a", 11);
    api_rl_failed(rl, "addr:b", 12);
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "addr:flood%d", i);
        api_rl_failed(rl, k, 20 + i);
    }
    assert_true(api_rl_blocked(rl, "user:victim", 5, 30) > 0);
    api_rl_free(rl);
}

static void test_rate_limit_reserve_counts_both_keys_or_neither(void **state)
{
    api_rl *rl = api_rl_new(8, 1000);
    assert_int_equal(api_rl_reserve(rl, "user:x", 2, "addr:a", 3, 10), 0);
    assert_int_equal(api_rl_reserve(rl, "user:x", 2, "addr:a", 3, 10), 0);
    assert_true(api_rl_reserve(rl, "user:x", 2, "addr:a", 3, 11) > 0);   /* user:x at 2 */
    assert_true(api_rl_blocked(rl, "user:x", 2, 11) > 0);
    assert_int_equal(api_rl_blocked(rl, "addr:a", 3, 11), 0);           /* not counted */
    assert_int_equal(api_rl_reserve(rl, "user:y", 2, "addr:a", 3, 12), 0);
    assert_true(api_rl_reserve(rl, "user:z", 2, "addr:a", 3, 12) > 0);   /* addr:a at 3 */
    assert_int_equal(api_rl_blocked(rl, "user:z", 2, 12), 0);
    assert_int_equal(api_rl_reserve(rl, "user:x", 2, "addr:b", 3, 1011), 0);  /* window passed */
    api_rl_free(rl);
}

static void test_rate_limit_refund_takes_back_one_counted_attempt(void **state)
{
    api_rl *rl = api_rl_new(8, 1000);
    api_rl_failed(rl, "user:x", 10);
    api_rl_failed(rl, "user:x", 10);
    assert_true(api_rl_blocked(rl, "user:x", 2, 11) > 0);
    api_rl_refund(rl, "user:x");                        /* one did not fail after all */
    assert_int_equal(api_rl_blocked(rl, "user:x", 2, 11), 0);
    api_rl_refund(rl, "user:x");
    api_rl_refund(rl, "user:x");                        /* never below zero */
    api_rl_failed(rl, "user:x", 12);
    assert_int_equal(api_rl_blocked(rl, "user:x", 2, 13), 0);
    api_rl_refund(rl, "user:unknown");                  /* unknown keys: nothing */
    api_rl_refund(NULL, "user:x");
    api_rl_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie_header_parsing_edge_cases),
        cmocka_unit_test(test_new_sessions_are_sps_base64url_with_hashes_of_token_and_csrf),
        cmocka_unit_test(test_session_resolves_user_role_as_scope_and_teams),
        cmocka_unit_test(test_idle_and_absolute_expiry_and_touch),
        cmocka_unit_test(test_unknown_revoked_malformed_and_disabled_sessions_fail_alike),
        cmocka_unit_test(test_session_ops_fail_through_the_fault_wrapper),
        cmocka_unit_test(test_rate_limit_blocks_after_max_failures_until_the_window_passes),
        cmocka_unit_test(test_rate_limit_table_is_bounded_and_forgets_the_oldest),
        cmocka_unit_test(test_rate_limit_refund_takes_back_one_counted_attempt),
        cmocka_unit_test(test_rate_limit_reserve_counts_both_keys_or_neither),
        cmocka_unit_test(test_revoking_a_users_sessions_and_purging_unusable_ones),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
