/*
 * test_call_answers.c - an http step's answer is never lost while the
 * process lives: not when the batch that carries it fails, not when the
 * call cannot even be handed to the outbound worker; and a call abandoned
 * at shutdown leaves nothing allocated behind.
 *
 * The engine runs on a fault-injecting store (store_fault.c) with a real
 * outbound worker calling a small upstream of ours, which holds each answer
 * until the test lets it go - so the test knows which store call is next.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "audit/audit.h"
#include "engine/engine.h"
#include "outbound/outbound.h"
#include "store/store.h"
#include "store/store_impl.h"

static const principal admin = { .name = "admin", .role = "admin", .scope = "admin" };

/* ---- the upstream: answers 200 {"ok":true} once released ---- */

typedef struct {
    int fd;
    int port;
    pthread_t thread;
    atomic_int requests;
    atomic_bool release, stop;
} upstream;

static void serve_one(upstream *u, int c)
{
    char buf[8192];
    size_t len = 0;
    char *end = NULL;
    while (!end && len < sizeof buf - 1) {
        ssize_t n = read(c, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end)
        return;
    const char *cl = strcasestr(buf, "content-length:");
    size_t want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
    while (len < want && len < sizeof buf - 1) {
        ssize_t n = read(c, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return;
        len += (size_t)n;
    }
    atomic_fetch_add(&u->requests, 1);
    while (!atomic_load(&u->release) && !atomic_load(&u->stop))
        usleep(5000);
    if (atomic_load(&u->stop))
        return;
    const char *reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
    ssize_t w = write(c, reply, strlen(reply));
    (void)w;
}

static void *upstream_main(void *arg)
{
    upstream *u = arg;
    while (!atomic_load(&u->stop)) {
        struct pollfd p = { .fd = u->fd, .events = POLLIN };
        if (poll(&p, 1, 20) <= 0)
            continue;
        int c = accept(u->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve_one(u, c);
        close(c);
    }
    return NULL;
}

static void upstream_start(upstream *u)
{
    memset(u, 0, sizeof *u);
    u->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(u->fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    assert_int_equal(bind(u->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(u->fd, 16), 0);
    assert_int_equal(getsockname(u->fd, (struct sockaddr *)&a, &alen), 0);
    u->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&u->thread, NULL, upstream_main, u), 0);
}

static void upstream_stop(upstream *u)
{
    atomic_store(&u->stop, true);
    pthread_join(u->thread, NULL);
    close(u->fd);
}

/* ---- the engine on a fault store ---- */

typedef struct {
    char dir[64];
    store *st;          /* fault:0:sqlite:..., what the engine writes through */
    store *plain;       /* the same file, for the test's reads: they must not
                         * count as calls of the fault store */
    outbound *ob;
    secrets_key *master;
    audit_key *akey;
    engine *eng;
    upstream up;
} fixture;

static void apply(fixture *f, const char *yaml)
{
    json_t *wf = json_pack("{s:s, s:s}", "source", yaml, "format", "yaml");
    assert_int_equal(engine_call(f->eng, ENGINE_APPLY_WORKFLOW, &admin, wf, NULL), 201);
    json_decref(wf);
}

/* with_outbound false: every call fails to be handed over (outbound_send -1). */
static void open_engine(fixture *f, bool with_outbound)
{
    char url[160];
    sp_error err = SP_ERROR_INIT;
    snprintf(url, sizeof url, "fault:0:sqlite:%s/test.db", f->dir);
    f->st = store_open(url, &err);
    assert_non_null(f->st);
    f->ob = with_outbound ? outbound_start(&err) : NULL;
    f->master = secrets_key_random();
    bool created;
    assert_int_equal(audit_key_setup(store_writer(f->st), f->master, &f->akey, &created, &err),
                     SP_OK);
    engine_config cfg = { .max_batch = 256, .outbound = f->ob, .audit_key = f->akey };
    f->eng = engine_start(f->st, &cfg, &err);
    assert_non_null(f->eng);
    assert_int_equal(engine_call(f->eng, ENGINE_BOOTSTRAP, &admin, NULL, NULL), 200);
    snprintf(url, sizeof url, "sqlite:%s/test.db", f->dir);
    f->plain = store_open(url, &err);
    assert_non_null(f->plain);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/spojit-answers-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_true(sodium_init() >= 0);
    upstream_start(&f->up);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    /* As serve does: the engine stops taking answers, then the worker
     * abandons what is left, then the engine goes. */
    engine_stop(f->eng);
    upstream_stop(&f->up);
    outbound_stop(f->ob);
    engine_free(f->eng);
    store_close(f->plain);
    store_close(f->st);
    audit_key_free(f->akey);
    secrets_key_free(f->master);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static char *start(fixture *f, const char *workflow)
{
    json_t *args = json_pack("{s:s, s:{}}", "workflow", workflow, "input"), *run = NULL;
    assert_int_equal(engine_call(f->eng, ENGINE_START_RUN, &admin, args, &run), 201);
    char *id = strdup(json_string_value(json_object_get(run, "id")));
    json_decref(args);
    json_decref(run);
    return id;
}

static json_t *get_run(fixture *f, const char *id)
{
    store_conn *c = store_reader(f->plain);
    json_t *run = NULL;
    assert_int_equal(store_run_get(c, id, &run, NULL), SP_OK);
    store_release(c);
    return run;
}

/* The run once it is no longer "running", or after ms (still running). */
static json_t *settled(fixture *f, const char *id, int ms)
{
    for (;;) {
        json_t *run = get_run(f, id);
        if (strcmp(json_string_value(json_object_get(run, "status")), "running") != 0 || ms <= 0)
            return run;
        json_decref(run);
        usleep(20000);
        ms -= 20;
    }
}

static void wait_idle(outbound *ob)
{
    for (int i = 0; i < 500 && outbound_in_flight(ob) > 0; i++)
        usleep(10000);
    assert_int_equal(outbound_in_flight(ob), 0);
}

static void yaml_for(fixture *f, char *out, size_t size, const char *method, const char *extra)
{
    snprintf(out, size,
             "name: pay\n"
             "steps:\n"
             "  - id: charge\n"
             "    http:\n"
             "      method: %s\n"
             "      url: http://127.0.0.1:%d/charge\n"
             "%s"
             "    retry: {max_attempts: 2, backoff: 10ms, jitter: false}\n"
             "  - id: done\n"
             "    succeed: {}\n",
             method, f->up.port, extra);
}

/* The batch carrying the answer fails at BEGIN: the answer is applied a
 * moment later, and the call was sent once. */
static void answer_survives_a_failed_batch(void **state)
{
    fixture *f = *state;
    char yaml[1024];
    yaml_for(f, yaml, sizeof yaml, "POST",
             "      json: {amount: 1}\n      idempotency_key: false\n");
    open_engine(f, true);
    apply(f, yaml);
    char *id = start(f, "pay");
    for (int i = 0; i < 500 && atomic_load(&f->up.requests) == 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&f->up.requests), 1);

    store_fault_arm(f->st, 1);          /* the next store call: the answer's BEGIN */
    atomic_store(&f->up.release, true);
    wait_idle(f->ob);
    json_t *run = settled(f, id, 5000);
    assert_true(store_fault_calls(f->st) >= 2);         /* the fault did hit */
    assert_string_equal(json_string_value(json_object_get(run, "status")), "completed");
    json_t *charge = json_array_get(json_object_get(run, "steps"), 0);
    assert_int_equal(json_integer_value(json_object_get(charge, "attempts")), 1);
    assert_null(json_object_get(charge, "_in_flight"));
    assert_int_equal(atomic_load(&f->up.requests), 1);  /* no second POST */
    json_decref(run);
    free(id);
}

/* The outbound worker does not take the call (here: there is none, as when
 * outbound_send fails for memory): each attempt ends as "no answer" and the
 * step's retry takes over, instead of the run staying in flight. */
static void unsent_call_is_a_failed_attempt(void **state)
{
    fixture *f = *state;
    char yaml[1024];
    yaml_for(f, yaml, sizeof yaml, "GET", "");
    open_engine(f, false);
    apply(f, yaml);
    char *id = start(f, "pay");
    json_t *run = NULL;
    for (int ms = 0; ms < 5000; ms += 20) {         /* through the retry's wait too */
        json_decref(run);
        run = get_run(f, id);
        const char *status = json_string_value(json_object_get(run, "status"));
        if (strcmp(status, "running") != 0 && strcmp(status, "waiting") != 0)
            break;
        usleep(20000);
    }
    assert_string_equal(json_string_value(json_object_get(run, "status")), "failed");
    json_t *charge = json_array_get(json_object_get(run, "steps"), 0);
    assert_int_equal(json_integer_value(json_object_get(charge, "attempts")), 2);
    assert_null(json_object_get(charge, "_in_flight"));
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(charge, "error"),
                                                             "message")),
                           "cannot start the call"));
    assert_int_equal(atomic_load(&f->up.requests), 0);
    json_decref(run);
    free(id);
}

/* Stopped with the call in flight: the call's context is freed (the
 * sanitizer pass finds it otherwise) and the run waits for the next start. */
static void call_abandoned_at_stop_leaves_the_run_in_flight(void **state)
{
    fixture *f = *state;
    char yaml[1024];
    yaml_for(f, yaml, sizeof yaml, "POST", "      json: {amount: 1}\n");
    open_engine(f, true);
    apply(f, yaml);
    char *id = start(f, "pay");
    for (int i = 0; i < 500 && atomic_load(&f->up.requests) == 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&f->up.requests), 1);
    engine_stop(f->eng);
    outbound_stop(f->ob);
    f->ob = NULL;
    json_t *run = get_run(f, id);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "running");
    json_t *charge = json_array_get(json_object_get(run, "steps"), 0);
    assert_int_equal(json_integer_value(json_object_get(charge, "_in_flight")), 1);
    json_decref(run);
    free(id);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(answer_survives_a_failed_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(unsent_call_is_a_failed_attempt, setup, teardown),
        cmocka_unit_test_setup_teardown(call_abandoned_at_stop_leaves_the_run_in_flight, setup,
                                        teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
