/*
 * session.c - web login and logout (POST and DELETE /v1/session), and
 * authenticating a request by its session cookie (with the CSRF check).
 *
 * Where the work happens:
 * - The user is read here, on the HTTP thread, with a store reader; the
 *   password is verified on one of the API's password workers
 *   (core/workers.h): argon2id costs tens of milliseconds and 64 MiB by
 *   design, and neither an HTTP thread (every connection it serves would
 *   wait) nor the engine thread (the one writer) may spend that. The
 *   workers are few and their queue short: a flood of logins gets 503 with
 *   Retry-After rather than the whole API's attention.
 * - Everything written - the session row, the audit rows login.ok,
 *   login.failed and logout, last_seen_at - is an engine command; the
 *   reply to a login or logout comes after its commit, as for any change.
 * - Failed logins are counted in memory (ratelimit.c) per user name and
 *   per client address; past API_LOGIN_MAX_PER_NAME / _PER_ADDR failures
 *   within API_LOGIN_WINDOW_MS the answer is 429 with Retry-After, before
 *   any password is hashed. A success forgets the name's failures (not the
 *   address's: one good account must not launder guesses at others).
 *
 * No user enumeration: an unknown name, a user without a password, a
 * wrong password and a disabled user all get the same 401 message, and an
 * unknown name still costs one argon2id verification, so timing does not
 * tell them apart either. The audit row and the log say which it was.
 */
#include "api/api_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/jsonx.h"
#include "core/log.h"
#include "core/workers.h"

static const char msg_wrong[] = "wrong user name or password";

static const api_field login_fields[] = {
    { "name", API_T_STRING, true, API_NAME_MAX },
    { "password", API_T_STRING, true, API_PASSWORD_MAX },
    { NULL, 0, false, 0 },
};

/* ---- the cookie ---- */

/* "spojit_session=<token>; Path=/; Max-Age=N; HttpOnly; SameSite=Strict[; Secure]";
 * token NULL clears it (empty value, Max-Age=0). */
static void set_cookie(http_request *req, const char *token, bool tls)
{
    char buf[AUTH_SESSION_TOKEN_MAX + 128];
    snprintf(buf, sizeof buf, "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
             AUTH_SESSION_COOKIE, token ? token : "",
             token ? (long long)(AUTH_SESSION_ABSOLUTE_MS / 1000) : 0LL, tls ? "; Secure" : "");
    http_add_header(req, "Set-Cookie", buf);
}

static void ignore_reply(void *ctx, int status, json_t *body)
{
    (void)ctx;
    (void)status;
    json_decref(body);
}

/* ---- authenticating by cookie (api_dispatch) ---- */

bool api_session_wanted(http_request *req)
{
    const char *v;
    size_t n;
    /* An Authorization header wins: a script's key is never overridden by
     * a cookie its HTTP client happens to hold. */
    return !http_header(req, "Authorization") &&
           auth_cookie_value(http_header(req, "Cookie"), AUTH_SESSION_COOKIE, &v, &n) != 0;
}

/* GET, HEAD and OPTIONS change nothing; every other method (unknown ones
 * included, to fail safe) needs the CSRF token. */
static bool changes_state(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

/* A browser names the page a request comes from in Origin (every POST,
 * PUT, PATCH and DELETE, and "null" from a sandboxed or file page). One
 * from elsewhere is refused with 403, saying so; clients that are not
 * browsers send no Origin and are not concerned. what: "a login" or the
 * method and path. */
static bool foreign_origin(api_call *c, const char *what)
{
    const char *origin = http_header(c->req, "Origin");
    const char *host = http_header(c->req, "Host");
    if (!origin || api_origin_same(origin, host, c->a->cfg.tls))
        return false;
    api_fail(c->req, SP_EFORBIDDEN,
             "%s must come from this server's own pages: the Origin header '%.200s' is not "
             "%s://%.200s", what, origin, c->a->cfg.tls ? "https" : "http",
             host ? host : "(no Host header)");
    return true;
}

bool api_session_authenticate(api_call *c, auth_session_info *info)
{
    sp_error err = SP_ERROR_INIT;
    if (auth_session(c->a->store, http_header(c->req, "Cookie"), &c->who, info, &err) != SP_OK) {
        api_fail_err(c->req, &err);
        return false;
    }
    char what[160];
    snprintf(what, sizeof what, "%s %.120s", http_method(c->req), http_path(c->req));
    if (changes_state(http_method(c->req)) && foreign_origin(c, what)) {
        principal_clear(&c->who);
        return false;
    }
    if (changes_state(http_method(c->req)) &&
        !auth_session_csrf_ok(info->csrf_hash, http_header(c->req, "X-CSRF-Token"))) {
        principal_clear(&c->who);
        api_fail(c->req, SP_EFORBIDDEN,
                 "%s %s: missing or wrong X-CSRF-Token header: a change made with the "
                 "session cookie must send the csrf_token that POST /v1/session returned",
                 http_method(c->req), http_path(c->req));
        return false;
    }
    c->session = info;
    /* last_seen_at is kept to the minute: at most one engine command per
     * session per AUTH_SESSION_TOUCH_MS (a few more if requests race). */
    if (clock_now() - info->last_seen_at >= AUTH_SESSION_TOUCH_MS) {
        /* The time of this request, not of the command's turn. */
        json_t *args = json_pack("{s:s, s:I}", "session", info->id, "at",
                                 (json_int_t)clock_now());
        if (args)
            engine_submit(c->a->engine, ENGINE_SESSION_TOUCH, &c->who, args, ignore_reply,
                          NULL);
        json_decref(args);
    }
    return true;
}

/* ---- POST /v1/session ---- */

/* A hash to verify against when the user has none, so an unknown name
 * costs what a wrong password costs. Made once, with today's parameters. */
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char *dummy_hash;

static void dummy_init(void)
{
    dummy_hash = auth_password_hash("spojit: no such user");
}

/* Lives from engine_submit to the engine's reply. */
typedef struct {
    http_request *req;
    bool tls;
    char *token;                    /* the cookie value; wiped and freed */
    char csrf[AUTH_CSRF_LEN];
} login_pending;

static void login_pending_free(login_pending *p)
{
    if (p->token) {
        sodium_memzero(p->token, strlen(p->token));
        free(p->token);
    }
    sodium_memzero(p, sizeof *p);
    free(p);
}

/* Engine thread, after the commit. */
static void on_login(void *ctx, int status, json_t *body)
{
    login_pending *p = ctx;
    if (status == 200 && json_is_object(body)) {
        json_object_del(body, "session");
        json_object_set_new(body, "csrf_token", json_string(p->csrf));
        set_cookie(p->req, p->token, p->tls);
        http_reply_json(p->req, 200, body);
    } else if (status == 401) {
        /* The user was disabled or removed after the password check. */
        json_decref(body);
        api_fail(p->req, SP_EUNAUTH, "%s", msg_wrong);
    } else {
        http_reply_json(p->req, status, body);
    }
    login_pending_free(p);
}

/* Engine thread, after login.failed is committed: the answer is 401 in any
 * case (a failure to audit is logged by the engine). */
static void on_login_failed(void *ctx, int status, json_t *body)
{
    http_request *req = ctx;
    json_decref(body);
    if (status >= 500)
        log_error("api: login.failed could not be audited (status %d)", status);
    api_fail(req, SP_EUNAUTH, "%s", msg_wrong);
}

/* Reserves the attempt (counted as a failure now, taken back if it
 * succeeds: attempts in flight at once count too, so parallel guesses
 * cannot overrun the limit while their hashes are being checked), or
 * replies 429 with Retry-After when name or addr is over its limit. */
static bool over_limit(api_call *c, const char *ukey, const char *akey, const char *name,
                       const char *addr, sp_time now)
{
    int64_t wait = api_rl_reserve(c->a->login_rl, ukey, API_LOGIN_MAX_PER_NAME, akey,
                                  API_LOGIN_MAX_PER_ADDR, now);
    if (wait <= 0)
        return false;
    long long secs = (long long)((wait + 999) / 1000);
    char ra[32];
    snprintf(ra, sizeof ra, "%lld", secs);
    http_add_header(c->req, "Retry-After", ra);
    log_warn("api: login as '%s' from %s refused: too many failed logins", name, addr);
    api_fail(c->req, SP_ERATE,
             "too many failed logins for this user or from this address; try again in %lld "
             "seconds", secs);
    return true;
}

/* Reads the user (NULL when there is none) with a reader. */
static sp_code read_user(api *a, const char *name, json_t **user, sp_error *err)
{
    *user = NULL;
    store_conn *r = store_reader(a->store);
    if (!r)
        return sp_error_set(err, SP_EUNAVAIL, "the store is not available");
    sp_code rc = store_user_get(r, name, user, err);
    store_release(r);
    if (rc == SP_ENOTFOUND) {
        sp_error_clear(err);
        rc = SP_OK;
    }
    return rc;
}

/* Why a login fails, for the audit row and the log (never the client);
 * NULL when it succeeds. Always verifies one argon2id hash. */
static const char *check_password(const json_t *user, const char *password)
{
    const char *hash = user ? json_str(user, "password_hash") : NULL;
    if (!hash) {
        pthread_once(&dummy_once, dummy_init);
        auth_password_verify(dummy_hash, password);
        return user ? "no_password" : "unknown_user";
    }
    if (!auth_password_verify(hash, password))
        return "wrong_password";
    if (json_is_true(json_object_get(user, "disabled")))
        return "disabled";
    return NULL;
}

/* A login on its way from the HTTP thread to a password worker; the
 * request is deferred meanwhile. */
typedef struct {
    api *a;
    http_request *req;
    json_t *user;                   /* NULL: no such user */
    char *password;                 /* wiped and freed */
    char name[API_NAME_MAX + 1];
    char addr[64];
    char ukey[API_RL_KEY_MAX], akey[API_RL_KEY_MAX];
} login_check;

static void login_check_free(login_check *l)
{
    if (l->password) {
        sodium_memzero(l->password, strlen(l->password));
        free(l->password);
    }
    json_decref(l->user);
    free(l);
}

/* The attempt was counted as a failure when it arrived (login_reserve). */
static void login_failed(const login_check *l, const char *reason)
{
    log_warn("api: failed login as '%s' from %s (%s)", l->name, l->addr, reason);
    json_t *args = json_pack("{s:s, s:s, s:s}", "name", l->name, "address", l->addr, "reason",
                             reason);
    if (!args) {
        api_fail(l->req, SP_ENOMEM, "out of memory");
        return;
    }
    engine_submit(l->a->engine, ENGINE_LOGIN_FAILED, NULL, args, on_login_failed, l->req);
    json_decref(args);
}

static void login_ok(const login_check *l)
{
    sp_error err = SP_ERROR_INIT;
    login_pending *p = calloc(1, sizeof *p);
    char hash[65], csrf_hash[65];
    if (!p) {
        api_fail(l->req, SP_ENOMEM, "out of memory");
        return;
    }
    if (auth_session_new(&p->token, hash, csrf_hash, &err) != SP_OK) {
        login_pending_free(p);
        api_fail_err(l->req, &err);
        return;
    }
    auth_session_csrf(p->token, strlen(p->token), p->csrf);
    p->req = l->req;
    p->tls = l->a->cfg.tls;
    const json_t *user = l->user;
    const char *addr = l->addr;
    const char *name = json_str(user, "name");
    json_t *args = json_pack("{s:s, s:s, s:s, s:s}", "user", name, "hash", hash, "csrf_hash",
                             csrf_hash, "address", addr);
    if (!args) {
        login_pending_free(p);
        api_fail(l->req, SP_ENOMEM, "out of memory");
        return;
    }
    log_info("api: %s logged in from %s", name, addr);
    engine_submit(l->a->engine, ENGINE_LOGIN, NULL, args, on_login, p);
    json_decref(args);
}

/* The limiter's key for a client address: IPv6 addresses by their /64, as
 * one machine is commonly given a whole /64 to pick addresses from. */
static void address_key(const char *addr, char out[API_RL_KEY_MAX])
{
    struct in6_addr a6;
    char text[INET6_ADDRSTRLEN];
    if (strchr(addr, ':') && inet_pton(AF_INET6, addr, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof text);
            snprintf(out, API_RL_KEY_MAX, "addr:%s", text);
            return;
        }
        memset(&a6.s6_addr[8], 0, 8);
        inet_ntop(AF_INET6, &a6, text, sizeof text);
        snprintf(out, API_RL_KEY_MAX, "addr:%s/64", text);
        return;
    }
    snprintf(out, API_RL_KEY_MAX, "addr:%s", addr);
}

/* An attempt that never got to its password check does not count. */
static void login_unreserve(api *a, const char *ukey, const char *akey)
{
    api_rl_refund(a->login_rl, ukey);
    api_rl_refund(a->login_rl, akey);
}

/* A password worker: the slow part, then the engine command. */
static void check_login(void *ctx)
{
    login_check *l = ctx;
    const char *reason = check_password(l->user, l->password);
    if (reason) {
        login_failed(l, reason);
    } else {
        api_rl_reset(l->a->login_rl, l->ukey);
        api_rl_refund(l->a->login_rl, l->akey);
        login_ok(l);
    }
    login_check_free(l);
}

void api_session_login(api_call *c)
{
    /* Login CSRF: another site's page must not sign a visitor in to an
     * account of its choosing (a form can post text that parses as JSON).
     * Browsers say where a request comes from (Origin, and Sec-Fetch-Site
     * in the newer ones); other clients send neither header. */
    const char *site = http_header(c->req, "Sec-Fetch-Site");
    if (site && strcasecmp(site, "cross-site") == 0) {
        api_fail(c->req, SP_EFORBIDDEN,
                 "a login must come from this server's own pages: the browser says this one "
                 "is cross-site (Sec-Fetch-Site)");
        return;
    }
    if (foreign_origin(c, "a login"))
        return;
    json_t *body = api_body_checked(c, login_fields, false);
    if (!body)
        return;
    const char *name = json_str(body, "name"), *password = json_str(body, "password");
    if (!api_name_valid(name)) {
        api_fail(c->req, SP_EINVALID, "name: 1 to %d letters, digits, '.', '_' or '-'",
                 API_NAME_MAX);
        goto out;
    }
    const char *addr = http_client_ip(c->req);
    if (!addr || !*addr)
        addr = "unknown";
    char ukey[API_RL_KEY_MAX], akey[API_RL_KEY_MAX];
    snprintf(ukey, sizeof ukey, "user:%s", name);
    address_key(addr, akey);
    if (over_limit(c, ukey, akey, name, addr, clock_now()))
        goto out;

    login_check *l = calloc(1, sizeof *l);
    sp_error err = SP_ERROR_INIT;
    if (!l || !(l->password = strdup(password))) {
        free(l);
        login_unreserve(c->a, ukey, akey);
        api_fail(c->req, SP_ENOMEM, "out of memory");
        goto out;
    }
    l->a = c->a;
    l->req = c->req;
    snprintf(l->name, sizeof l->name, "%s", name);
    snprintf(l->addr, sizeof l->addr, "%s", addr);
    memcpy(l->ukey, ukey, sizeof ukey);
    memcpy(l->akey, akey, sizeof akey);
    if (read_user(c->a, name, &l->user, &err) != SP_OK) {
        login_check_free(l);
        login_unreserve(c->a, ukey, akey);
        api_fail_err(c->req, &err);
        goto out;
    }
    /* Deferred first: the worker may answer before submit returns. */
    http_defer(c->req);
    if (!workers_submit(c->a->passwords, check_login, l)) {
        login_check_free(l);
        login_unreserve(c->a, ukey, akey);
        http_add_header(c->req, "Retry-After", "1");
        log_warn("api: login as '%s' from %s refused: every password worker is busy", name,
                 addr);
        api_fail(c->req, SP_EUNAVAIL, "too many logins at once; try again in a second");
    }
out:
    /* The body held the password: wipe it before it goes back to malloc. */
    if (password)
        sodium_memzero((char *)password, strlen(password));
    json_decref(body);
}

/* ---- DELETE /v1/session ---- */

typedef struct {
    http_request *req;
    bool tls;
} logout_pending;

static void on_logout(void *ctx, int status, json_t *body)
{
    logout_pending *p = ctx;
    if (status < 300) {
        json_decref(body);
        set_cookie(p->req, NULL, p->tls);
        http_reply_json(p->req, 204, NULL);
    } else {
        http_reply_json(p->req, status, body);
    }
    free(p);
}

void api_session_logout(api_call *c)
{
    if (!c->session) {
        api_fail(c->req, SP_EBADINPUT,
                 "DELETE /v1/session ends the session whose cookie it carries, and this "
                 "request was authenticated by an API key (revoke a key with DELETE "
                 "/v1/keys/{id})");
        return;
    }
    logout_pending *p = malloc(sizeof *p);
    json_t *args = json_pack("{s:s}", "session", c->session->id);
    if (!p || !args) {
        free(p);
        json_decref(args);
        api_fail(c->req, SP_ENOMEM, "out of memory");
        return;
    }
    *p = (logout_pending){ .req = c->req, .tls = c->a->cfg.tls };
    http_defer(c->req);
    engine_submit(c->a->engine, ENGINE_LOGOUT, &c->who, args, on_logout, p);
    json_decref(args);
}
