/*
 * isolation.c - the server's side of the evaluator processes (expr.h).
 *
 * One evaluator process at a time serves the one thread that evaluates
 * (the engine thread), over a socketpair. The process is started lazily,
 * on the first evaluation after expr_isolation_start or after the previous
 * one ended, so a process that dies costs the evaluation it was running and
 * nothing else.
 *
 * States of the process, as this file sees it:
 *
 *   none --spawn--> starting --READY--> ready --EVAL/LOAD--> busy --answer--> ready
 *                      |                  ^                   |
 *                      +--- any failure, timeout or FATAL ----+--> killed, reaped: none
 *
 * Every wait has a deadline: EXPR_TIME_LIMIT_MS for an evaluation (then
 * the process is killed: the only way to stop a loop in libjq's C code),
 * longer ones for starting and compiling. After a kill the process is
 * reaped at once (SIGKILL cannot be ignored), so no zombie is left.
 *
 * The texts of the last input, $env and $secrets sent are kept; an
 * evaluation whose text is the same sends WIRE_SAME instead, and the
 * process reuses what it parsed. The secrets' text is wiped when replaced.
 */
#include "expr/expr.h"
#include "expr/expr_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starting a process (exec, dynamic linking, limits) and compiling a
 * program of EXPR_MAX_COUNT expressions both take far less than this. */
#define START_LIMIT_MS 10000
#define COMPILE_LIMIT_MS 10000
/* The allowance for sending and parsing an evaluation's texts, on top of
 * EXPR_TIME_LIMIT_MS: a 16 MiB document gets 4 s more. */
#define TRANSFER_MS_PER_MIB 250
/* Slack over the bytes of a result for its header and the last message. */
#define ANSWER_MAX_BYTES (EXPR_MAX_RESULT_BYTES + 4096)

extern char **environ;

static struct {
    bool active;
    char *exe;
    char **envp;                /* environ, plus sanitizer caps in such builds */
    pid_t pid;                  /* 0: no process */
    int fd;
    bool ready;
    wire_reader in;
    char *sent[WIRE_TEXTS];     /* the texts the process holds, or NULL */
    size_t sent_len[WIRE_TEXTS];
} iso = { .fd = -1 };

bool expr_isolation_active(void)
{
    return iso.active;
}

static void forget_sent(void)
{
    for (int i = 0; i < WIRE_TEXTS; i++) {
        if (iso.sent[i])
            sodium_memzero(iso.sent[i], iso.sent_len[i]);
        free(iso.sent[i]);
        iso.sent[i] = NULL;
        iso.sent_len[i] = 0;
    }
}

/* Ends the process (if any) and reaps it; *status gets its wait status
 * when it had already ended by itself (-1 otherwise). */
static void end_process(bool kill_it, int *status)
{
    if (status)
        *status = -1;
    if (iso.fd >= 0)
        close(iso.fd);
    iso.fd = -1;
    iso.ready = false;
    forget_sent();
    if (!iso.pid)
        return;
    int st = 0;
    pid_t got = waitpid(iso.pid, &st, WNOHANG);
    /* A process that closed the socket is on its way out; it becomes
     * waitable a moment after its descriptors are closed. */
    for (int i = 0; got == 0 && !kill_it && i < 100; i++) {
        usleep(1000 * (i < 10 ? 1 : 10));
        got = waitpid(iso.pid, &st, WNOHANG);
    }
    bool killed = false;
    if (got == 0) {
        kill(iso.pid, SIGKILL);
        got = waitpid(iso.pid, &st, 0);
        killed = true;
    }
    if (got == iso.pid && !killed && status)
        *status = st;
    iso.pid = 0;
}

/* How a process that ended by itself ended, for a person. */
static void describe_end(int status, char *out, size_t len)
{
    if (status != -1 && WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *name = sigabbrev_np(sig);
        snprintf(out, len, "the expression crashed the evaluator process (SIG%s): libjq 1.6 "
                 "fails this way on some values, and when an evaluation needs more than its "
                 "%d MiB. The server is not affected", name ? name : "?", EXPR_MEMORY_LIMIT_MB);
    } else if (status != -1 && WIFEXITED(status)) {
        snprintf(out, len, "the evaluator process ended (status %d) while evaluating the "
                 "expression", WEXITSTATUS(status));
    } else {
        snprintf(out, len, "the evaluator process stopped answering");
    }
}

/* Starts a process; false with err set. */
static bool spawn(sp_error *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        sp_error_set(err, SP_EINTERNAL, "cannot start an expression evaluator: socketpair: %s",
                     strerror(errno));
        return false;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* dup2 onto WIRE_FD clears close-on-exec there; if the socket already
     * is WIRE_FD (an fd table with 0-2 only), dup2 is a no-op that keeps
     * the flag, so that case is moved first. */
    int child = sv[1];
    if (child == WIRE_FD) {
        child = fcntl(sv[1], F_DUPFD_CLOEXEC, WIRE_FD + 1);
        close(sv[1]);
        sv[1] = child;
    }
    posix_spawn_file_actions_adddup2(&fa, child, WIRE_FD);
    /* The server blocks its stop signals and ignores SIGPIPE: the process
     * starts with neither. */
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    char *argv[] = { "spojit", "__expr-worker", NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, iso.exe, &fa, &attr, argv, iso.envp ? iso.envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        sp_error_set(err, SP_EINTERNAL, "cannot start an expression evaluator (%s): %s",
                     iso.exe, strerror(rc));
        return false;
    }
    int flags = fcntl(sv[0], F_GETFL);
    fcntl(sv[0], F_SETFL, flags | O_NONBLOCK);
    iso.pid = pid;
    iso.fd = sv[0];
    iso.ready = false;
    iso.in.fd = sv[0];
    iso.in.pos = iso.in.len = 0;
    return true;
}

/* Reads one answer; its bytes (NUL-terminated) go to *bytes (malloc'd).
 * 1 done, 0 deadline, -1 gone or garbled. */
static int read_answer(wire_answer *a, char **bytes, int64_t deadline)
{
    *bytes = NULL;
    int rc = wire_read(&iso.in, a, sizeof *a, deadline);
    if (rc != 1)
        return rc;
    if (a->len > ANSWER_MAX_BYTES)
        return -1;
    char *buf = malloc((size_t)a->len + 1);
    if (!buf)
        return -1;
    rc = a->len ? wire_read(&iso.in, buf, a->len, deadline) : 1;
    if (rc != 1) {
        free(buf);
        return rc;
    }
    buf[a->len] = '\0';
    *bytes = buf;
    return 1;
}

/* The failure of a process that timed out (rc 0), died (-1) or broke the
 * protocol (-2): ends it and sets err. A timeout names what took too long
 * and the limit that passed. */
static void fail_process(int rc, const char *what, int limit_ms, sp_error *err)
{
    int status;
    end_process(rc == 0 || rc == -2, &status);
    if (rc == 0) {
        if (what)
            sp_error_set(err, SP_EINVALID, "%s took longer than %d ms and was stopped", what,
                         limit_ms);
        else
            sp_error_set(err, SP_EINVALID, "the expression ran longer than %d ms and was stopped",
                         EXPR_TIME_LIMIT_MS);
        return;
    }
    char message[256];
    describe_end(status, message, sizeof message);
    if (what)
        sp_error_set(err, SP_EINVALID, "%s (%s)", message, what);
    else
        sp_error_set(err, SP_EINVALID, "%s", message);
}

/* A process ready for requests, started if need be; false with err set. */
static bool ensure_ready(sp_error *err)
{
    if (iso.pid && iso.ready)
        return true;
    if (!iso.pid && !spawn(err))
        return false;
    wire_answer a;
    char *bytes;
    int rc = read_answer(&a, &bytes, wire_now_ms() + START_LIMIT_MS);
    if (rc == 1 && a.op == WIRE_READY) {
        free(bytes);
        iso.ready = true;
        return true;
    }
    if (rc == 1 && a.op == WIRE_FATAL) {
        end_process(true, NULL);
        sp_error_set(err, SP_EINTERNAL, "the expression evaluator could not start: %s", bytes);
        free(bytes);
        return false;
    }
    free(bytes);
    end_process(true, NULL);
    sp_error_set(err, SP_EINTERNAL, "the expression evaluator did not start within %d ms",
                 START_LIMIT_MS);
    return false;
}

static int send_request(const wire_request *rq, const char *const *texts, int64_t deadline)
{
    struct iovec iov[1 + WIRE_TEXTS] = { { (void *)rq, sizeof *rq } };
    int n = 1;
    for (int i = 0; i < WIRE_TEXTS; i++)
        if (texts[i] && rq->len[i] != WIRE_SAME && rq->len[i])
            iov[n++] = (struct iovec){ (void *)texts[i], rq->len[i] };
    return wire_writev(iso.fd, iov, n, deadline);
}

/* Programs whose compiling timed out in an evaluator: each try costs the
 * engine thread COMPILE_LIMIT_MS, so they are not tried again and their
 * evaluations fail at once. Program ids are never reused; the workflow
 * loaded again (after a restart) is a new chance. */
#define FAILED_PROGRAMS 64
static uint64_t failed_programs[FAILED_PROGRAMS];
static unsigned nfailed;

static void remember_failed(uint64_t program)
{
    failed_programs[nfailed++ % FAILED_PROGRAMS] = program;
}

static bool failed_before(uint64_t program)
{
    unsigned n = nfailed < FAILED_PROGRAMS ? nfailed : FAILED_PROGRAMS;
    for (unsigned i = 0; i < n; i++)
        if (failed_programs[i] == program)
            return true;
    return false;
}

static bool load_program(uint64_t program, const char *source, int count, sp_error *err)
{
    size_t len = strlen(source);
    wire_request rq = { .op = WIRE_LOAD, .index = count, .program = program,
                        .len = { (uint32_t)len, 0, 0 } };
    const char *texts[WIRE_TEXTS] = { source, NULL, NULL };
    int64_t deadline = wire_now_ms() + COMPILE_LIMIT_MS;
    int rc = send_request(&rq, texts, deadline);
    wire_answer a;
    char *bytes = NULL;
    if (rc == 1)
        rc = read_answer(&a, &bytes, deadline);
    if (rc != 1) {
        fail_process(rc, "compiling the workflow's expressions", COMPILE_LIMIT_MS, err);
        remember_failed(program);
        return false;
    }
    bool ok = a.op == WIRE_READY;
    if (!ok && a.op == WIRE_ERROR)
        sp_error_set(err, SP_EINVALID, "%s", bytes);
    else if (!ok)
        fail_process(-2, "compiling the workflow's expressions", COMPILE_LIMIT_MS, err);
    free(bytes);
    return ok;
}

/* Serializes v (NULL is null) for slot i; sets *len to WIRE_SAME when the
 * process holds that text already. Returns the text to send (owned by iso
 * once sent), or NULL with err set. */
static char *slot_text(int i, json_t *v, uint32_t *len, sp_error *err)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
    if (!text) {
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return NULL;
    }
    size_t n = strlen(text);
    if (n > EXPR_MAX_DOCUMENT_BYTES) {
        sodium_memzero(text, n);
        free(text);
        sp_error_set(err, SP_EINVALID, "the run's document is %zu bytes of JSON; expressions "
                     "take at most %u (16 MiB)", n, EXPR_MAX_DOCUMENT_BYTES);
        return NULL;
    }
    if (iso.sent[i] && iso.sent_len[i] == n && memcmp(iso.sent[i], text, n) == 0) {
        *len = WIRE_SAME;
    } else {
        *len = (uint32_t)n;
    }
    return text;
}

/* After a request went out: the process holds the texts that were sent. */
static void remember_sent(char **texts, const uint32_t *len)
{
    for (int i = 0; i < WIRE_TEXTS; i++) {
        if (len[i] == WIRE_SAME) {
            sodium_memzero(texts[i], strlen(texts[i]));
            free(texts[i]);
        } else {
            if (iso.sent[i])
                sodium_memzero(iso.sent[i], iso.sent_len[i]);
            free(iso.sent[i]);
            iso.sent[i] = texts[i];
            iso.sent_len[i] = len[i];
        }
        texts[i] = NULL;
    }
}

static void free_texts(char **texts)
{
    for (int i = 0; i < WIRE_TEXTS; i++) {
        if (texts[i])
            sodium_memzero(texts[i], strlen(texts[i]));
        free(texts[i]);
        texts[i] = NULL;
    }
}

/* One EVAL: 1 answered (result or error), 2 the program must be loaded,
 * 0 failed with err set. */
static int eval_once(uint64_t program, int idx, json_t *const *values, json_t **out,
                     sp_error *err)
{
    char *texts[WIRE_TEXTS] = { NULL };
    wire_request rq = { .op = WIRE_EVAL, .index = idx, .program = program };
    for (int i = 0; i < WIRE_TEXTS; i++) {
        if (!(texts[i] = slot_text(i, values[i], &rq.len[i], err))) {
            free_texts(texts);
            return 0;
        }
    }
    /* The time limit is for evaluating; moving and parsing a large
     * document gets its own allowance on top. */
    size_t sent = 0;
    for (int i = 0; i < WIRE_TEXTS; i++)
        if (rq.len[i] != WIRE_SAME)
            sent += rq.len[i];
    int64_t deadline = wire_now_ms() + EXPR_TIME_LIMIT_MS +
                       (int64_t)(sent / (1u << 20)) * TRANSFER_MS_PER_MIB;
    int rc = send_request(&rq, (const char *const *)texts, deadline);
    if (rc == 1)
        remember_sent(texts, rq.len);
    else
        free_texts(texts);
    wire_answer a;
    char *bytes = NULL;
    if (rc == 1)
        rc = read_answer(&a, &bytes, deadline);
    if (rc != 1) {
        fail_process(rc, NULL, 0, err);
        return 0;
    }
    int outcome = 0;
    switch (a.op) {
    case WIRE_RESULT: {
        json_error_t jerr;
        *out = json_loadb(bytes, a.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (*out)
            outcome = 1;
        else
            fail_process(-2, "its answer was not JSON", 0, err);
        break;
    }
    case WIRE_ERROR:
        sp_error_set(err, SP_EINVALID, "%s", bytes);
        break;
    case WIRE_FATAL:
        end_process(true, NULL);
        sp_error_set(err, SP_EINVALID, "%s", bytes);
        break;
    case WIRE_NEED_PROGRAM:
        outcome = 2;
        break;
    default:
        fail_process(-2, "it answered out of turn", 0, err);
    }
    free(bytes);
    return outcome;
}

json_t *expr_isolation_eval(uint64_t program, const char *source, int count, int idx,
                            json_t *input, json_t *env, json_t *secrets, sp_error *err)
{
    json_t *values[WIRE_TEXTS] = { input, env, secrets };
    json_t *out = NULL;
    if (failed_before(program)) {
        sp_error_set(err, SP_EINVALID, "compiling this workflow's expressions took longer than "
                     "%d ms in the evaluator before; it is not tried again until the server "
                     "restarts", COMPILE_LIMIT_MS);
        return NULL;
    }
    if (!ensure_ready(err))
        return NULL;
    int rc = eval_once(program, idx, values, &out, err);
    if (rc == 2) {
        if (!load_program(program, source, count, err))
            return NULL;
        rc = eval_once(program, idx, values, &out, err);
    }
    if (rc == 2)
        fail_process(-2, "it lost a program it had just loaded", 0, err);
    return rc == 1 ? out : NULL;
}

/* Under a sanitizer the process cannot limit its address space (confine.c):
 * ASan itself refuses allocations past the limit, and the out-of-memory
 * handler then answers as it would in production. */
static char **sanitizer_environment(void)
{
#ifdef EXPR_SANITIZED
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 2, sizeof *envp);
    if (!envp)
        return NULL;
    const char *asan = NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "ASAN_OPTIONS=", 13) == 0)
            asan = environ[i] + 13;
        else
            envp[k++] = environ[i];
    }
    char *opt = NULL;
    if (asprintf(&opt, "ASAN_OPTIONS=%s%sallocator_may_return_null=1:max_allocation_size_mb=%d:"
                 "hard_rss_limit_mb=%d", asan ? asan : "", asan && *asan ? ":" : "",
                 EXPR_MEMORY_LIMIT_MB, 2 * EXPR_MEMORY_LIMIT_MB) < 0) {
        free(envp);
        return NULL;
    }
    envp[k++] = opt;
    envp[k] = NULL;
    return envp;
#else
    return NULL;
#endif
}

sp_code expr_isolation_start(const char *exe, sp_error *err)
{
    if (iso.active)
        return SP_OK;
    if (!(iso.exe = strdup(exe)))
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    iso.envp = sanitizer_environment();
    iso.active = true;
    /* Start the first process now: a binary that cannot run as an
     * evaluator is a start-up error, not a failed step later on. */
    if (!ensure_ready(err)) {
        expr_isolation_stop();
        return err->code;
    }
    return SP_OK;
}

void expr_isolation_stop(void)
{
    if (!iso.active)
        return;
    end_process(false, NULL);
    free(iso.exe);
    iso.exe = NULL;
    if (iso.envp) {
        for (char **e = iso.envp; *e; e++)
            if (strncmp(*e, "ASAN_OPTIONS=", 13) == 0)
                free(*e);
        free(iso.envp);
        iso.envp = NULL;
    }
    iso.active = false;
}
