/*
 * worker.c - an evaluator process (`spojit __expr-worker`): it reads
 * requests from the socket on WIRE_FD, evaluates, answers, until the server
 * closes the socket.
 *
 * It keeps the programs it has compiled (up to WORKER_PROGRAMS, the least
 * recently used go first; a program compiles in about 10 ms) and the jq
 * form of the last input, $env and $secrets, which consecutive evaluations
 * of one step mostly share: the server sends a text again only when it
 * changed.
 *
 * It has no watchdog of its own. An evaluation that runs too long is ended
 * by the server killing the process, which is the only way to stop a loop
 * inside libjq's C code; the next evaluation gets a new process.
 */
#include "expr/expr.h"
#include "expr/expr_internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define WORKER_PROGRAMS 32
#define WORKER_STACK_BYTES ((size_t)1 << 30)    /* as the engine thread's */

typedef struct {
    uint64_t id;
    expr_program *program;
    uint64_t used;              /* when last used, in requests */
} cached_program;

static wire_reader in = { .fd = WIRE_FD };
static cached_program programs[WORKER_PROGRAMS];
static uint64_t requests;
static jv texts[WIRE_TEXTS];    /* input, $env, $secrets as jq values */

static bool answer(uint32_t op, const char *bytes, size_t len)
{
    wire_answer a = { .op = op, .len = (uint32_t)len };
    struct iovec iov[2] = { { &a, sizeof a }, { (void *)bytes, len } };
    return wire_writev(WIRE_FD, iov, len ? 2 : 1, -1) == 1;
}

static bool answer_text(uint32_t op, const char *text)
{
    return answer(op, text, strlen(text));
}

/* libjq calls this when an allocation fails (the address-space limit),
 * and aborts if it returns: answer first, so the server can say why. */
static void out_of_memory(void *unused)
{
    (void)unused;
    static const char message[] = "the expression needed more memory than an evaluation may "
                                  "use (" "the limit is documented in docs/workflows)";
    answer(WIRE_FATAL, message, sizeof message - 1);
    _exit(3);
}

static cached_program *find_program(uint64_t id)
{
    for (int i = 0; i < WORKER_PROGRAMS; i++)
        if (programs[i].program && programs[i].id == id)
            return &programs[i];
    return NULL;
}

static cached_program *free_slot(void)
{
    cached_program *oldest = &programs[0];
    for (int i = 0; i < WORKER_PROGRAMS; i++) {
        if (!programs[i].program)
            return &programs[i];
        if (programs[i].used < oldest->used)
            oldest = &programs[i];
    }
    expr_program_free(oldest->program);
    oldest->program = NULL;
    return oldest;
}

/* Reads len bytes into a new NUL-terminated buffer, or NULL. */
static char *read_text(uint32_t len)
{
    char *buf = malloc((size_t)len + 1);
    if (!buf || wire_read(&in, buf, len, -1) != 1) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static bool load(const wire_request *rq)
{
    char *source = read_text(rq->len[0]);
    if (!source)
        return false;
    sp_error err = SP_ERROR_INIT;
    expr_program *p = expr_program_from_source(source, rq->index, &err);
    free(source);
    if (!p) {
        bool ok = answer_text(WIRE_ERROR, err.message);
        sp_error_clear(&err);
        return ok;
    }
    cached_program *slot = free_slot();
    *slot = (cached_program){ .id = rq->program, .program = p, .used = requests };
    return answer(WIRE_READY, NULL, 0);
}

/* Reads the texts that came with an EVAL into texts[]. A text that does
 * not parse (out of memory) ends the process after answering: the server
 * believes this process holds what it sent, and a slot left stale would be
 * used by the next request that says SAME. */
static bool read_texts(const wire_request *rq)
{
    for (int i = 0; i < WIRE_TEXTS; i++) {
        if (rq->len[i] == WIRE_SAME)
            continue;
        char *text = read_text(rq->len[i]);
        if (!text)
            return false;
        json_error_t jerr;
        json_t *v = json_loadb(text, rq->len[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        free(text);
        jv_free(texts[i]);
        texts[i] = jv_null();
        if (!v) {
            char why[256];
            snprintf(why, sizeof why, "the evaluator could not read its input: %s", jerr.text);
            answer_text(WIRE_FATAL, why);
            return false;
        }
        texts[i] = expr_json_to_jv(v);
        json_decref(v);
    }
    return true;
}

static bool eval(const wire_request *rq)
{
    if (!read_texts(rq))
        return false;
    cached_program *c = find_program(rq->program);
    if (!c)
        return answer(WIRE_NEED_PROGRAM, NULL, 0);
    c->used = requests;
    if (rq->index < 0 || rq->index >= expr_program_count(c->program))
        return answer_text(WIRE_ERROR, "no such expression in this program");

    sp_error err = SP_ERROR_INIT;
    json_t *result = expr_eval_jv(c->program, rq->index, jv_copy(texts[0]), jv_copy(texts[1]),
                                  jv_copy(texts[2]), false, &err);
    if (!result) {
        bool ok = answer_text(WIRE_ERROR, err.message);
        sp_error_clear(&err);
        return ok;
    }
    char *json = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(result);
    if (!json)
        return answer_text(WIRE_ERROR, "out of memory");
    size_t len = strlen(json);
    bool ok;
    if (len > EXPR_MAX_RESULT_BYTES) {
        char message[160];
        snprintf(message, sizeof message, "the expression's result is %zu bytes of JSON; the "
                 "limit is %u (1 MiB)", len, EXPR_MAX_RESULT_BYTES);
        ok = answer_text(WIRE_ERROR, message);
    } else {
        ok = answer(WIRE_RESULT, json, len);
    }
    free(json);
    return ok;
}

/* The evaluating thread: limits, then requests until the socket closes. */
static void *serve(void *status_out)
{
    int *status = status_out;
    *status = 1;
    for (int i = 0; i < WIRE_TEXTS; i++)
        texts[i] = jv_null();
    jv_nomem_handler(out_of_memory, NULL);     /* per thread in libjq */

    char why[256];
    if (!expr_confine(why, sizeof why)) {
        answer_text(WIRE_FATAL, why);
        return NULL;
    }
    if (!answer(WIRE_READY, NULL, 0))
        return NULL;
    *status = 0;
    for (;;) {
        wire_request rq;
        if (wire_read(&in, &rq, sizeof rq, -1) != 1)
            break;                      /* the server closed the socket */
        requests++;
        bool ok = rq.op == WIRE_LOAD ? load(&rq) : rq.op == WIRE_EVAL ? eval(&rq) : false;
        if (!ok) {
            *status = 1;
            break;
        }
    }
    /* Freed for leak checkers, which judge what is left at exit. */
    for (int i = 0; i < WORKER_PROGRAMS; i++)
        expr_program_free(programs[i].program);
    for (int i = 0; i < WIRE_TEXTS; i++)
        jv_free(texts[i]);
    return NULL;
}

int expr_worker_main(void)
{
    /* Gone with the server even if it is killed outright. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        return 1;
    close_range(WIRE_FD + 1, ~0u, 0);   /* nothing of the server's but the socket */

    /* libjq recurses as deep as a value is nested (a run may build one
     * 300,000 levels deep): evaluations run where the engine thread ran
     * them before, on a stack as large as the engine's, so such a value
     * fails its step with the depth limit's message instead of crashing
     * the process. It is address space, touched only as deep as used. */
    pthread_attr_t attr;
    pthread_t t;
    int status = 1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WORKER_STACK_BYTES);
    if (pthread_create(&t, &attr, serve, &status) != 0) {
        pthread_attr_destroy(&attr);
        answer_text(WIRE_FATAL, "the evaluator could not start its thread");
        return 1;
    }
    pthread_attr_destroy(&attr);
    pthread_join(t, NULL);
    return status;
}
