/*
 * api_internal.h - what the files of src/api share, and nothing else sees.
 *
 *   api.c        api_new / api_free / api_public_doc
 *   routes.c     the one table: method, path, who may call it, handler
 *   request.c    the common path of every handler: authenticate, check the
 *                role, read the body, submit to the engine, reply
 *   validate.c   pure checks (no HTTP, no store): fields, query values,
 *                names; unit-tested in tests/unit/test_api_validate.c
 *   buf.c        a growable byte buffer for text replies (CSV, JSONL, metrics)
 *   longpoll.c   the ?wait= registry and its sweeper thread
 *   workflows.c runs.c approvals.c audit.c principals.c health.c admin.c
 *                one resource each
 *
 * A request's life: the route's wrapper calls api_dispatch, which counts it,
 * authenticates it (unless public), applies the route's access rule and
 * calls the handler with an api_call. The handler answers at once (reads)
 * or defers and submits a command to the engine (changes); either way the
 * principal is cleared when the handler returns, so nothing that outlives
 * the handler may point into it (engine_submit copies it).
 */
#ifndef SP_API_INTERNAL_H
#define SP_API_INTERNAL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "api/keyrate.h"
#include "api/ratelimit.h"
#include "auth/auth.h"
#include "auth/session.h"
#include "core/err.h"
#include "core/workers.h"

/* ---- limits: every one of them named here (and in docs/api) ---- */
#define API_DEFAULT_MAX_WAIT_S   60         /* ?wait= cap when the config says 0 */
#define API_LIST_DEFAULT_LIMIT   50         /* runs and approvals lists */
#define API_LIST_MAX_LIMIT       1000
#define API_AUDIT_PAGE_MAX       10000      /* audit rows in one response */
#define API_IDEM_KEY_MAX         200        /* Idempotency-Key characters */
#define API_NAME_MAX             64         /* workflow, user and team names */
#define API_TITLE_MAX            500
#define API_TEXT_MAX             10000      /* summary, comment */
#define API_PASSWORD_MAX         1024
#define API_PASSWORD_MIN         8          /* characters of a password being set */
#define API_EMAIL_MAX            254
#define API_URL_MAX              2048
#define API_ASSIGNEES_MAX        100        /* entries of "to" */
#define API_LIST_FIELD_MAX       1000       /* teams, members */
#define API_APPROVALS_MAX        1000       /* policy.approvals, as in workflows */
#define API_SECRET_VALUE_MAX     65536      /* bytes of a secret's value (SECRETS_VALUE_MAX) */
#define API_KEY_USE_EVERY_MS     60000      /* last_used_at is noted at most this often */
#define API_CLOCK_END_MS         253402300799999LL  /* 9999-12-31T23:59:59.999Z: test clock end */
/* Failed logins (session.c, ratelimit.c), counted per node in memory: after
 * this many failures within the window, POST /v1/session answers 429. */
#define API_LOGIN_WINDOW_MS      (15LL * 60 * 1000)   /* 15 minutes from the first failure */
#define API_LOGIN_MAX_PER_NAME   10         /* failures for one user name */
#define API_LOGIN_MAX_PER_ADDR   30         /* failures from one client address */
#define API_LOGIN_RL_ENTRIES     4096       /* names and addresses remembered at once */
#define API_PASSWORD_WORKERS     2          /* argon2id at once: 64 MiB and a core each */
#define API_PASSWORD_QUEUE       64         /* logins waiting for a worker; more get 503 */

/* ---- who may call an endpoint ---- */
typedef enum {
    API_PUBLIC,         /* no authentication: /healthz, /readyz, /metrics */
    API_ANYONE,         /* any authenticated principal */
    API_ACTOR,          /* not a viewer: admin, member, agent keys */
    API_PERSON,         /* not a viewer and not an agent key: decisions */
    API_AUDITOR,        /* admins and viewers */
    API_ADMIN,          /* principal_is_admin */
    API_ADMIN_TEST,     /* admin, and only with --test-clock (else 404) */
    API_DEMO,           /* no authentication, and only with --demo (else 404) */
} api_access;

typedef struct api_longpolls api_longpolls;
typedef struct api_key_uses api_key_uses;

struct api {
    store *store;
    engine *engine;
    api_config cfg;
    atomic_ullong requests;     /* spojit_http_requests_total */
    api_longpolls *lp;
    api_rl *login_rl;           /* session.c: failed logins per name and address */
    api_key_uses *key_uses;     /* keyuse.c: when each key was last noted */
    api_kr *key_rate;           /* keyrate.c: requests per key; NULL: no limit */
    workers *passwords;         /* session.c: argon2id off the HTTP threads */
};

typedef enum {
    API_T_STRING,       /* a string of 1..max characters (max 0: no limit) */
    API_T_TEXT,         /* a string of 0..max characters */
    API_T_POSINT,       /* an integer in 1..max (max 0: no limit) */
    API_T_BOOL,
    API_T_OBJECT,
    API_T_NAMES,        /* an array of 0..max strings */
    API_T_ANY,          /* any JSON value */
} api_type;

typedef struct {
    const char *name;
    api_type type;
    bool required;
    json_int_t max;     /* see api_type */
} api_field;

/* What a handler works with. who is valid only while the handler runs. */
typedef struct {
    api *a;
    http_request *req;
    principal who;              /* zeroed for API_PUBLIC routes */
    const auth_session_info *session;  /* set when authenticated by the session cookie */
} api_call;

typedef void (*api_handler)(api_call *c);

/* ---- routes.c ---- */
void api_dispatch(http_request *req, void *app, api_access rule, api_handler fn);

/* ---- session.c: the web session cookie ---- */
/* The request has no Authorization header and carries the session cookie. */
bool api_session_wanted(http_request *req);
/* Authenticates c by its cookie into c->who and c->session (info is the
 * caller's storage), and checks X-CSRF-Token on POST, PUT, PATCH and
 * DELETE. Otherwise replies 401 or 403 and returns false. */
bool api_session_authenticate(api_call *c, auth_session_info *info);

/* ---- keyuse.c ---- */
api_key_uses *api_key_uses_new(void);
void api_key_uses_free(api_key_uses *u);
/* Notes (at most once a minute per key) that p's API key was used. */
void api_note_key_use(api *a, const principal *p);

/* ---- request.c: the shared path ---- */
bool api_access_allows(api_access rule, const principal *p);
/* Who sees every run and gate: principal_sees_all and principal_sees_gate
 * (auth/visibility.c). */
/* Replies {"error"} with code and a printf message. */
void api_fail(http_request *req, sp_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Replies err and clears it. */
void api_fail_err(http_request *req, sp_error *err);
/* The request body as a JSON object, or replies 400 and returns NULL.
 * New reference. An empty body is {} when empty_ok. */
json_t *api_body_object(api_call *c, bool empty_ok);
/* api_body_object, then api_check_fields against fields (replies 400). */
json_t *api_body_checked(api_call *c, const api_field *fields, bool empty_ok);
/* Replies status with a copy of doc without its "_" members (doc borrowed). */
void api_reply_doc(http_request *req, int status, const json_t *doc);
/*
 * Defers the request and hands cmd to the engine; the engine's reply is sent
 * as it is. args: stolen. wait_ms > 0 (ENGINE_START_RUN only): when the
 * new run is still "running", the reply waits for it as a long-poll.
 */
void api_submit(api_call *c, engine_command cmd, json_t *args, int64_t wait_ms);
/* api_submit for args that may hold a "password": a password worker
 * replaces it by "password_hash" (argon2id) and then submits, so neither
 * this thread nor the engine spends the hash, and no plain password is
 * queued to the engine. Steals args. 503 when every worker is busy. */
void api_submit_with_password(api_call *c, engine_command cmd, json_t *args);
/* ?wait= of this request in ms (0 when absent), or replies 400 and returns -1. */
int64_t api_wait_ms(api_call *c);
/* Replies 404 "no such <what>" unless id has the shape of a <prefix> id. */
bool api_id_ok(api_call *c, const char *prefix, const char *id, const char *what);

/* ---- validate.c: pure, unit-tested ---- */
/*
 * Checks obj against a list of fields ended by {NULL}: every member known,
 * of its type and within its limit; every required member present. `where`
 * names obj in messages ("request body", "policy"). SP_EBADINPUT.
 */
sp_code api_check_fields(const json_t *obj, const api_field *fields, const char *where,
                         sp_error *err);
/* s must be one of the NULL-ended words; SP_EINVALID naming field. */
sp_code api_check_word(const char *s, const char *const *words, const char *field,
                       sp_error *err);
/* [A-Za-z0-9._-]{1,64} */
bool api_name_valid(const char *s);
/* A new password is at least API_PASSWORD_MIN characters (logins are not
 * checked against it: old passwords keep working). */
bool api_password_settable(const char *s);
/* name@domain: one '@' with something on both sides, no spaces or control
 * characters (deliverability is the mail server's business). */
bool api_email_valid(const char *s);
/* "user:NAME" or "team:NAME" */
bool api_assignee_valid(const char *s);
/* A non-empty array of assignees, at most API_ASSIGNEES_MAX. SP_EINVALID. */
sp_code api_check_assignees(const json_t *to, const char *field, sp_error *err);
/* Text without NUL bytes that is valid UTF-8. */
bool api_utf8_text(const char *s, size_t len);
/* Idempotency-Key: 1..200 printable ASCII characters. */
bool api_idem_key_valid(const char *s);
/*
 * ?wait=: absent -> 0; a non-negative decimal number of seconds (fractions
 * allowed) -> ms, capped at max_s seconds. SP_EBADINPUT otherwise.
 */
sp_code api_parse_wait(const char *s, int max_s, int64_t *ms, sp_error *err);
/* ?limit=: absent -> def; an integer >= 1, capped at max. */
sp_code api_parse_limit(const char *s, int def, int max, int *out, sp_error *err);
/* A non-negative integer query value (?after=, ?version=); absent -> def. */
sp_code api_parse_count(const char *s, const char *name, int64_t def, int64_t *out,
                        sp_error *err);
/* Content-Type of a workflow -> "yaml" | "json", or NULL when unsupported. */
const char *api_workflow_format(const char *content_type);
/*
 * Whether an Origin header names this server: the scheme it is reached by
 * (https when tls, the server's TLS or --secure-cookies; else http) and the
 * Host header the request came with, compared without case and with the
 * scheme's default port made explicit. "null", a malformed Origin or a
 * missing Host is not this server.
 */
bool api_origin_same(const char *origin, const char *host, bool tls);

/* ---- buf.c: a growable buffer; data is always NUL-terminated ---- */
typedef struct {
    char *data;         /* malloc'd, NULL until the first append */
    size_t len;
    size_t cap;
    bool oom;           /* an append failed: the contents are incomplete */
} api_buf;

void api_buf_add(api_buf *b, const char *s, size_t n);
void api_buf_puts(api_buf *b, const char *s);
void api_buf_printf(api_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One CSV field (RFC 4180): quoted when it holds , " CR LF or edge spaces. */
void api_buf_csv(api_buf *b, const char *s);
/* Hands the bytes over (caller frees) and resets b. Never NULL unless oom. */
char *api_buf_take(api_buf *b, size_t *len);
void api_buf_free(api_buf *b);

/* ---- longpoll.c ---- */
api_longpolls *api_lp_new(store *s);
/* Stops the sweeper and answers every parked request 503. */
void api_lp_free(api_longpolls *lp);
/*
 * Parks req (already deferred) until the run ("run") or gate ("approval")
 * id is no longer in its waiting status, or wait_ms pass; then replies
 * status with the document as it is - or 404, when who (copied; NULL: no
 * check) may no longer see it by then (a gate reassigned away). Any thread.
 */
void api_lp_park(api_longpolls *lp, const char *kind, const char *id, http_request *req,
                 const principal *who, int status, int64_t wait_ms);
void api_lp_wake(api_longpolls *lp, const char *kind, const char *id);
size_t api_lp_waiting(const api_longpolls *lp);
/* The status a document waits in: "running" for runs, "pending" for gates.
 * Pure, so it lives in validate.c with the other unit-tested checks. */
bool api_lp_still_waiting(const char *kind, const json_t *doc);
/* Who sees which run: docs/api/README.md, "What a caller sees" (gates:
 * principal_sees_gate). */
bool api_run_visible(const principal *p, const json_t *run);

/* ---- handlers, one file per resource ---- */
void api_workflow_apply(api_call *c);
void api_workflow_list(api_call *c);
void api_workflow_get(api_call *c);
void api_run_start(api_call *c);
void api_run_list(api_call *c);
void api_run_get(api_call *c);
void api_run_cancel(api_call *c);
void api_approval_create(api_call *c);
void api_approval_list(api_call *c);
void api_approval_get(api_call *c);
void api_approval_decide(api_call *c);
void api_approval_reassign(api_call *c);
void api_audit_list(api_call *c);
void api_audit_verify(api_call *c);
void api_audit_verify_head(api_call *c);
void api_audit_head(api_call *c);
void api_audit_key(api_call *c);
void api_user_create(api_call *c);
void api_team_create(api_call *c);
void api_key_create(api_call *c);
/* people.c */
void api_user_list(api_call *c);
void api_team_list(api_call *c);
void api_user_get(api_call *c);
void api_user_update(api_call *c);
void api_user_delete(api_call *c);
void api_key_list(api_call *c);
void api_key_revoke(api_call *c);
/* demo.c: the example agent and payments API of serve --demo */
void api_demo_llm(api_call *c);
void api_demo_charge(api_call *c);
void api_demo_refund(api_call *c);
/* links.c: signed decision links */
void api_link_issue(api_call *c);
void api_link_keys_rotate(api_call *c);
void api_link_page(api_call *c);
void api_link_decide(api_call *c);
/* POST /v1/keys: replies 422 and returns false unless expires_at is absent
 * or a future RFC 3339 time. */
bool api_key_expiry_ok(api_call *c, const json_t *body);
void api_healthz(api_call *c);
void api_readyz(api_call *c);
void api_metrics(api_call *c);
void api_admin_clock(api_call *c);
/* secrets.c */
void api_secret_list(api_call *c);
void api_secret_put(api_call *c);
void api_secret_delete(api_call *c);
void api_session_login(api_call *c);
void api_session_logout(api_call *c);

#endif
