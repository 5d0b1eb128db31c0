/*
 * routes.c - every /v1 endpoint, who may call it, and the one path all
 * requests take before their handler.
 *
 * The table below is the single place where an endpoint's access rule is
 * written (docs/api/README.md repeats it for readers). Each row becomes a
 * small wrapper with the http_handler signature, so the HTTP layer needs no
 * knowledge of principals or rules.
 */
#include "api/api_internal.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"

/*      method  path                               who may call          handler */
#define API_ENDPOINTS(X)                                                                   \
    X("GET",  "/healthz",                          API_PUBLIC,     api_healthz)            \
    X("GET",  "/readyz",                           API_PUBLIC,     api_readyz)             \
    X("GET",  "/metrics",                          API_PUBLIC,     api_metrics)            \
    X("POST", "/v1/workflows",                     API_ADMIN,      api_workflow_apply)     \
    X("GET",  "/v1/workflows",                     API_ANYONE,     api_workflow_list)      \
    X("GET",  "/v1/workflows/{name}",              API_ANYONE,     api_workflow_get)       \
    X("POST", "/v1/runs",                          API_ACTOR,      api_run_start)          \
    X("GET",  "/v1/runs",                          API_ANYONE,     api_run_list)           \
    X("GET",  "/v1/runs/{id}",                     API_ANYONE,     api_run_get)            \
    X("POST", "/v1/runs/{id}/cancel",              API_ACTOR,      api_run_cancel)         \
    X("POST", "/v1/approvals",                     API_ACTOR,      api_approval_create)    \
    X("GET",  "/v1/approvals",                     API_ANYONE,     api_approval_list)      \
    X("GET",  "/v1/approvals/{id}",                API_ANYONE,     api_approval_get)       \
    X("POST", "/v1/approvals/{id}/decisions",      API_PERSON,     api_approval_decide)    \
    X("POST", "/v1/approvals/{id}/reassign",       API_ADMIN,      api_approval_reassign)  \
    X("GET",  "/v1/audit",                         API_AUDITOR,    api_audit_list)         \
    X("GET",  "/v1/audit/verify",                  API_AUDITOR,    api_audit_verify)       \
    X("POST", "/v1/audit/verify",                  API_AUDITOR,    api_audit_verify_head)  \
    X("GET",  "/v1/audit/head",                    API_AUDITOR,    api_audit_head)         \
    X("GET",  "/v1/audit/key",                     API_AUDITOR,    api_audit_key)          \
    X("POST", "/v1/users",                         API_ADMIN,      api_user_create)        \
    X("POST", "/v1/teams",                         API_ADMIN,      api_team_create)        \
    X("POST", "/v1/keys",                          API_ADMIN,      api_key_create)         \
    X("POST", "/v1/session",                       API_PUBLIC,     api_session_login)      \
    X("DELETE", "/v1/session",                     API_ANYONE,     api_session_logout)     \
    X("GET",  "/v1/users",                         API_ADMIN,      api_user_list)          \
    X("GET",  "/v1/teams",                         API_ADMIN,      api_team_list)          \
    X("GET",  "/v1/users/{name}",                  API_ANYONE,     api_user_get)           \
    X("PATCH", "/v1/users/{name}",                 API_ADMIN,      api_user_update)        \
    X("DELETE", "/v1/users/{name}",                API_ADMIN,      api_user_delete)        \
    X("GET",  "/v1/keys",                          API_ADMIN,      api_key_list)           \
    X("DELETE", "/v1/keys/{id}",                   API_ADMIN,      api_key_revoke)         \
    X("POST", "/v1/approvals/{id}/links",          API_ADMIN,      api_link_issue)         \
    X("POST", "/v1/admin/link-keys/rotate",        API_ADMIN,      api_link_keys_rotate)   \
    X("GET",  "/l/{token}",                        API_PUBLIC,     api_link_page)          \
    X("POST", "/l/{token}",                        API_PUBLIC,     api_link_decide)        \
    X("GET",  "/v1/secrets",                       API_ADMIN,      api_secret_list)        \
    X("PUT",  "/v1/secrets/{name}",                API_ADMIN,      api_secret_put)         \
    X("DELETE", "/v1/secrets/{name}",              API_ADMIN,      api_secret_delete)      \
    X("POST", "/v1/admin/clock",                   API_ADMIN_TEST, api_admin_clock)        \
    X("POST", "/demo/llm/v1/chat/completions",     API_DEMO,       api_demo_llm)           \
    X("GET",  "/demo/payments/v1/charges/{id}",    API_DEMO,       api_demo_charge)        \
    X("POST", "/demo/payments/v1/refunds",         API_DEMO,       api_demo_refund)

#define API_WRAPPER(method, path, rule, fn)                        \
    static void fn##_entry(http_request *req, void *app)           \
    {                                                               \
        api_dispatch(req, app, rule, fn);                           \
    }
API_ENDPOINTS(API_WRAPPER)
#undef API_WRAPPER

static const http_route routes[] = {
#define API_ROUTE(method, path, rule, fn) { method, path, fn##_entry },
    API_ENDPOINTS(API_ROUTE)
#undef API_ROUTE
};

const http_route *api_routes(size_t *n)
{
    *n = sizeof routes / sizeof *routes;
    return routes;
}

/*
 * --rate-limit: a request of a key (or, by cookie, of a user) with no token
 * left is answered 429 with Retry-After in whole seconds, before the
 * handler reads anything. Counted after authentication, so a wrong key
 * cannot use up the rate of a right one.
 */
static bool over_key_rate(api *a, http_request *req, const principal *who)
{
    if (!a->key_rate)
        return false;
    char key[API_KR_KEY_MAX];
    if (who->key_id[0])
        snprintf(key, sizeof key, "key:%s", who->key_id);
    else
        snprintf(key, sizeof key, "user:%s", who->name);
    int64_t wait = api_kr_take(a->key_rate, key, clock_mono_ms());
    if (wait <= 0)
        return false;
    long long secs = (long long)((wait + 999) / 1000);
    char ra[32];
    snprintf(ra, sizeof ra, "%lld", secs);
    http_add_header(req, "Retry-After", ra);
    api_fail(req, SP_ERATE,
             "%s %s: %s %s made more than %d requests in a second (the server's "
             "--rate-limit); try again in %lld s (Retry-After)", http_method(req), http_path(req),
             who->key_id[0] ? "API key" : "the web session of", who->key_id[0] ? who->key_id
             : who->name, a->cfg.key_rate, secs);
    return true;
}

void api_dispatch(http_request *req, void *app, api_access rule, api_handler fn)
{
    api *a = app;
    api_call c = { .a = a, .req = req };
    atomic_fetch_add_explicit(&a->requests, 1, memory_order_relaxed);

    /* A disabled test hook looks like no endpoint at all, to anyone. */
    if ((rule == API_ADMIN_TEST && !a->cfg.test_clock) || (rule == API_DEMO && !a->cfg.demo)) {
        api_fail(req, SP_ENOTFOUND, "no such endpoint: %s %s", http_method(req),
                 http_path(req));
        return;
    }
    if (rule == API_PUBLIC || rule == API_DEMO) {
        fn(&c);
        return;
    }
    sp_error err = SP_ERROR_INIT;
    auth_session_info session;
    if (api_session_wanted(req)) {
        /* The web app's cookie (session.c): 401, or 403 without X-CSRF-Token. */
        if (!api_session_authenticate(&c, &session))
            return;
    } else if (auth_bearer(a->store, http_header(req, "Authorization"), &c.who, &err) != SP_OK) {
        api_fail_err(req, &err);
        return;
    }
    api_note_key_use(a, &c.who);
    if (over_key_rate(a, req, &c.who)) {
        /* answered 429 */
    } else if (!api_access_allows(rule, &c.who)) {
        api_fail(req, SP_EFORBIDDEN, "%s %s: not allowed for %s (role %s, key scope %s)",
                 http_method(req), http_path(req), c.who.name, c.who.role, c.who.scope);
    } else {
        fn(&c);
    }
    principal_clear(&c.who);
}
