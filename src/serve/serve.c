/*
 * serve.c - `spojit serve`: opens the store, starts the engine, bootstraps
 * the first admin, loads the demo if asked, serves HTTP until SIGTERM.
 *
 * Shutdown drops nothing acknowledged: the engine finishes the commands
 * already queued and answers them before anything else stops.
 */
#include "serve.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "api/api.h"
#include "audit/audit.h"
#include "core/log.h"
#include "expr/expr.h"
#include "outbound/outbound.h"
#include "serve/audit_anchor.h"
#include "serve/demo.h"
#include "serve/master_key.h"
#include "serve/options.h"
#include "serve/tls.h"

void serve_usage(FILE *out) { serve_options_usage(out); }

static int parse_listen(const char *listen, char *host, size_t host_len, int *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= host_len)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || end == colon + 1)
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    *port = (int)p;
    return 0;
}

static log_level level_of(const char *name)
{
    if (name && strcmp(name, "debug") == 0) return LOG_DEBUG;
    if (name && strcmp(name, "warn") == 0) return LOG_WARN;
    if (name && strcmp(name, "error") == 0) return LOG_ERROR;
    return LOG_INFO;
}

/* {"NAME": value} for each allowed variable that is set. */
static json_t *allowed_env(const char *list)
{
    json_t *env = json_object();
    if (!list)
        return env;
    char *copy = strdup(list), *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        const char *v = getenv(name);
        if (v)
            json_object_set_new(env, name, json_string(v));
    }
    free(copy);
    return env;
}

static const principal system_admin = { .name = "admin", .role = "admin", .scope = "admin" };

/*
 * The demo's refund-agent example needs a model and a payments API. Unless
 * the operator gave real ones (SPOJIT_LLM_URL, PAYMENTS_URL), it gets the
 * stand-ins this server hosts under /demo (api/demo.c). Before any thread
 * starts: setenv is not thread-safe.
 */
static void demo_point_at_stand_ins(json_t *env, const char *host, int port)
{
    char url[512];
    if (port == 0) {
        log_warn("demo: --listen with port 0: the example agent and payments stand-ins "
                 "cannot be addressed; set SPOJIT_LLM_URL and PAYMENTS_URL yourself");
        return;
    }
    const char *llm = getenv("SPOJIT_LLM_URL");
    if (!llm || !*llm) {
        snprintf(url, sizeof url, "http://%s:%d/demo/llm/v1", host, port);
        setenv("SPOJIT_LLM_URL", url, 1);
        log_info("demo: the example agent answers at %s (set SPOJIT_LLM_URL for a real model)",
                 url);
    }
    if (!json_object_get(env, "PAYMENTS_URL")) {
        snprintf(url, sizeof url, "http://%s:%d/demo/payments", host, port);
        json_object_set_new(env, "PAYMENTS_URL", json_string(url));
    }
}

/* A test clock continues from where the last run of the server left it,
 * so moving it, restarting and moving it again adds up. */
static void resume_test_clock(store *st)
{
    store_conn *r = store_reader(st);
    char *saved = NULL;
    sp_error err = SP_ERROR_INIT;
    sp_time t;
    if (r && store_meta_get(r, "test_clock_now", &saved, &err) == SP_OK &&
        time_parse(saved, &t) == 0 && t > clock_now()) {
        clock_set(t);
        log_warn("test clock resumed at %s", saved);
    }
    if (r)
        store_release(r);
    free(saved);
    sp_error_clear(&err);
}

/* Creates the admin on first start; *printed says whether its key went to stderr. */
static int bootstrap(engine *e, bool *printed)
{
    const char *token = getenv("SPOJIT_BOOTSTRAP_TOKEN");
    json_t *args = json_object();
    if (token && *token)
        json_object_set_new(args, "token", json_string(token));
    json_t *reply = NULL;
    int status = engine_call(e, ENGINE_BOOTSTRAP, &system_admin, args, &reply);
    json_decref(args);
    if (status != 200) {
        log_error("bootstrap failed: %s",
                  json_string_value(json_object_get(json_object_get(reply, "error"), "message")));
        json_decref(reply);
        return -1;
    }
    if (json_is_true(json_object_get(reply, "created"))) {
        if (token && *token)
            log_info("created the admin user with the key from SPOJIT_BOOTSTRAP_TOKEN");
        else {
            fprintf(stderr, "\n  admin API key (shown once, keep it): %s\n\n",
                    json_string_value(json_object_get(reply, "key")));
            *printed = true;
        }
    }
    json_decref(reply);
    return 0;
}

/*
 * Every connection the server holds is an open file, so the soft open-file
 * limit (often 1024) would cap connections well below what the machine
 * allows. It is raised to the hard limit, which an unprivileged process
 * may do; the HTTP server sizes its connection limit from the result.
 */
static void raise_open_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("cannot raise the open-file limit from %llu to %llu: %s",
                 (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
    else
        log_info("open-file limit raised from %llu to the hard limit, %llu",
                 (unsigned long long)was, (unsigned long long)rl.rlim_max);
}

int serve_main(int argc, char **argv)
{
    serve_options o;
    int rc = serve_options_parse(argc, argv, &o);
    if (rc) {
        serve_options_free(&o);
        return rc == 1 ? 0 : 2;
    }
    log_set_level(level_of(o.log_level));
    char host[256];
    int port;
    if (parse_listen(o.listen, host, sizeof host, &port) != 0) {
        fprintf(stderr, "spojit serve: --listen %s: expected HOST:PORT\n", o.listen);
        serve_options_free(&o);
        return 2;
    }
    if (sodium_init() < 0) {
        log_error("libsodium failed to initialise");
        serve_options_free(&o);
        return 1;
    }
    /* Read before anything starts: a bad path should stop us at once. */
    char *tls_cert = NULL, *tls_key = NULL;
    if ((rc = serve_tls_read(&o, &tls_cert, &tls_key))) {
        serve_options_free(&o);
        return rc;
    }
    raise_open_file_limit();
    if (o.test_clock) {
        clock_enable_test();
        log_warn("TEST CLOCK ENABLED: POST /v1/admin/clock can move time. "
                 "Never use --test-clock in production.");
    }

    /* Every thread started from here on inherits this mask, so the signals
     * reach only sigwait below. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    sp_error err = SP_ERROR_INIT;
    store *st = NULL;
    engine *eng = NULL;
    api *a = NULL;
    http_server *srv = NULL;
    secrets_key *master_key = NULL;
    audit_key *audit = NULL;
    audit_anchor *anchor = NULL;
    outbound *out_calls = NULL;
    json_t *env = allowed_env(o.env_allow);
    rc = 1;

    if (!(st = store_open(o.db, &err))) {
        log_error("cannot open the store %s: %s", o.db, err.message);
        goto out;
    }
    if (o.test_clock)
        resume_test_clock(st);
    if (!(master_key = serve_master_key(&o, st)) || !(audit = serve_audit_key(st, master_key)))
        goto out;
    if (o.demo)
        demo_point_at_stand_ins(env, host, port);
    curl_global_init(CURL_GLOBAL_DEFAULT);      /* before any thread uses libcurl */
    if (!(out_calls = outbound_start(&err))) {
        log_error("%s", err.message);
        goto out;
    }
    if (o.callbacks_private)
        log_warn("callbacks: --callbacks-private is on: approval callbacks may reach loopback "
                 "and private addresses, so any key that may ask for approvals can make "
                 "this server call its own host and networks");
    /* Every expression runs in an evaluator process from here on, so no
     * run input can crash or exhaust the server through libjq. */
    if (expr_isolation_start("/proc/self/exe", &err) != SP_OK) {
        log_error("%s", err.message);
        goto out;
    }
    engine_config ecfg = { .max_batch = 256, .env = env, .secrets_key = master_key,
                           .audit_key = audit,
                           .outbound = out_calls, .callbacks_private = o.callbacks_private };
    if (!(eng = engine_start(st, &ecfg, &err))) {
        log_error("cannot start the engine: %s", err.message);
        goto out;
    }
    if (o.audit_anchor &&
        !(anchor = audit_anchor_start(o.audit_anchor, o.audit_anchor_every, st, audit, &err))) {
        log_error("%s", err.message);
        goto out;
    }
    bool key_printed = false;
    if (bootstrap(eng, &key_printed) != 0)
        goto out;
    if (o.demo)
        demo_load(eng, &system_admin, o.examples);

    api_config acfg = { .test_clock = o.test_clock, .max_wait_seconds = o.max_wait,
                        .tls = tls_cert != NULL || o.secure_cookies, .demo = o.demo,
                        .secrets_key = master_key, .audit_key = audit,
                        .callbacks_private = o.callbacks_private,
                        .key_rate = o.rate_limit };
    if (!(a = api_new(st, eng, &acfg))) {
        log_error("cannot set up the API: out of memory");
        goto out;
    }
    engine_set_observer(eng, api_on_change, a);
    size_t nroutes;
    const http_route *routes = api_routes(&nroutes);
    http_config hcfg = { .host = host, .port = port, .threads = o.threads,
                         .max_body = o.max_body, .tls_cert_pem = tls_cert,
                         .tls_key_pem = tls_key,
                         .max_connections = (unsigned)o.max_connections,
                         .per_ip_connections = (unsigned)o.max_connections_per_ip,
                         .request_timeout_s = (unsigned)o.request_timeout };
    if (!(srv = http_start(&hcfg, routes, nroutes, a, &err))) {
        log_error("%s", err.message);   /* names the address already */
        goto out;
    }
    /* The PEM texts stay until MHD is stopped: it keeps pointers to them. */
    const char *scheme = tls_cert ? "https" : "http";
    log_info("listening on %s://%s:%d", scheme, host, http_port(srv));
    if (o.demo)
        log_info("demo: users alice, bob, carol (password demo); try "
                 "SPOJIT_URL=%s://%s:%d SPOJIT_TOKEN=<%s> spojit workflow ls",
                 scheme, host, http_port(srv),
                 key_printed ? "the key above"
                             : "the admin key printed at first start; remove the database for a new one");

    int sig = 0;
    sigwait(&stop_signals, &sig);
    log_info("stopping (signal %d)", sig);
    rc = 0;

out:
    /* Queued commands finish and are answered while HTTP still runs; later
     * ones get 503. Logins being checked finish (503 too). Then HTTP stops
     * (parked requests are closed), then the
     * long-poll registry goes, then the engine, then the store. */
    engine_stop(eng);
    audit_anchor_stop(anchor);      /* after the last batch: its head is the final one */
    api_stop(a);
    if (srv)
        http_stop(srv);
    if (a)
        api_free(a);
    /* After the engine: calls still in flight are abandoned and re-sent,
     * with the same idempotency keys, after the next start. */
    outbound_stop(out_calls);
    engine_free(eng);
    expr_isolation_stop();
    audit_key_free(audit);
    secrets_key_free(master_key);
    serve_tls_free(tls_cert, tls_key);
    if (st)
        store_close(st);
    json_decref(env);
    sp_error_clear(&err);
    serve_options_free(&o);
    return rc;
}
