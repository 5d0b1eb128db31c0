/*
 * bench_server.c - see bench_server.h.
 */
#include "bench_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_client.h"
#include "bench_stats.h"

extern char **environ;

volatile sig_atomic_t bench_server_live_pid;

/* A clean shutdown of a large store may checkpoint its WAL; give it time
 * before SIGKILL, which would hide a slow shutdown as a "fast" one. */
#define SERVER_STOP_GRACE_MS    120000.0
/* The server's own log lines we copy to stderr before only counting them. */
#define SERVER_MAX_COPIED_LINES 200
#define LISTENING_MARK          "listening on http://"

int bench_server_init(bench_server *s, const char *bin, const char *db_url,
                      const char *token)
{
    pthread_condattr_t attr;
    int n1, n2, n3;

    memset(s, 0, sizeof *s);
    s->out_fd = -1;
    n1 = snprintf(s->bin, sizeof s->bin, "%s", bin);
    n2 = snprintf(s->db_url, sizeof s->db_url, "%s", db_url);
    n3 = snprintf(s->token, sizeof s->token, "%s", token);
    if (n1 < 0 || (size_t)n1 >= sizeof s->bin || n2 < 0 ||
        (size_t)n2 >= sizeof s->db_url || n3 < 0 || (size_t)n3 >= sizeof s->token)
        return -1;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return -1;
    /* Timed waits use the monotonic clock, immune to wall-clock jumps. */
    if (pthread_condattr_init(&attr) != 0)
        goto fail_mutex;
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&s->cv, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        goto fail_mutex;
    }
    pthread_condattr_destroy(&attr);
    return 0;
fail_mutex:
    pthread_mutex_destroy(&s->mu);
    return -1;
}

void bench_server_destroy(bench_server *s)
{
    (void)bench_server_stop(s);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

/* Takes "http://HOST:PORT" from a "listening on" line. 0, or -1. */
static int parse_listening(const char *line, char *url, size_t n)
{
    const char *p = strstr(line, LISTENING_MARK), *host, *end, *colon;
    long port;
    char *stop;
    int len;

    if (!p)
        return -1;
    p += strlen("listening on ");           /* at "http://" */
    host = p + strlen("http://");
    end = host + strcspn(host, " \t\r\n/"); /* a trailing path is ignored */
    colon = memrchr(host, ':', (size_t)(end - host));
    if (!colon)
        return -1;
    errno = 0;
    port = strtol(colon + 1, &stop, 10);
    if (errno != 0 || stop != end || port < 1 || port > 65535)
        return -1;
    len = snprintf(url, n, "%.*s", (int)(end - p), p);
    return (len < 0 || (size_t)len >= n) ? -1 : 0;
}

/* One line of the server's output: the port, or a log line to pass on. */
static void server_line(bench_server *s, const char *line)
{
    bool copy = false;

    pthread_mutex_lock(&s->mu);
    if (!s->listening &&
        parse_listening(line, s->base_url, sizeof s->base_url) == 0) {
        s->listening = true;
        pthread_cond_broadcast(&s->cv);
    } else if (s->lines_copied < SERVER_MAX_COPIED_LINES) {
        s->lines_copied++;
        copy = true;
    } else {
        s->lines_dropped++;
    }
    pthread_mutex_unlock(&s->mu);
    if (copy)
        fprintf(stderr, "server: %s\n", line);
}

/* Reads the child's output until EOF, line by line. */
static void *server_drain(void *arg)
{
    bench_server *s = arg;
    char buf[8192];
    size_t used = 0;

    for (;;) {
        ssize_t got = read(s->out_fd, buf + used, sizeof buf - 1 - used);
        char *start = buf, *nl;

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        used += (size_t)got;
        while ((nl = memchr(start, '\n', (size_t)(buf + used - start)))) {
            *nl = '\0';
            server_line(s, start);
            start = nl + 1;
        }
        used -= (size_t)(start - buf);
        memmove(buf, start, used);
        if (used == sizeof buf - 1) {   /* an overlong line: pass it in parts */
            buf[used] = '\0';
            server_line(s, buf);
            used = 0;
        }
    }
    if (used > 0) {
        buf[used] = '\0';
        server_line(s, buf);
    }
    pthread_mutex_lock(&s->mu);
    s->eof = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/*
 * Our environment without SPOJIT_* plus the two variables the benchmark
 * sets. The strings are borrowed from environ and from s; the array is
 * malloc'd (caller frees). Built before fork because the child of a
 * threaded process may only call async-signal-safe functions.
 */
static char **server_env_new(const bench_server *s, char *token_var, size_t n)
{
    size_t count = 0, i, j = 0;
    char **env;
    int len;

    len = snprintf(token_var, n, "SPOJIT_BOOTSTRAP_TOKEN=%s", s->token);
    if (len < 0 || (size_t)len >= n)
        return NULL;
    while (environ[count])
        count++;
    if (!(env = malloc((count + 3) * sizeof *env)))
        return NULL;
    for (i = 0; i < count; i++)
        if (strncmp(environ[i], "SPOJIT_", 7) != 0)
            env[j++] = environ[i];
    env[j++] = token_var;
    env[j++] = "SPOJIT_LOG_LEVEL=info";     /* for the "listening on" line */
    env[j] = NULL;
    return env;
}

/* In the child: never returns. Only async-signal-safe calls. */
static void server_exec(const bench_server *s, pid_t parent, int out_fd,
                        char **env)
{
    static const char msg[] = "bench: cannot execute the server\n";
    /* --test-clock: the timer burst moves the server's clock forward
     * instead of waiting an hour; until then the clock is the system's.
     * Every client connects from 127.0.0.1: allow that one address more
     * connections than MAX_CLIENTS (the default is 64). Every client uses
     * the one admin key: the per-key rate limit is off, or it would set the
     * pace the benchmark measures. */
    char *argv[] = { (char *)s->bin, "serve", "--listen", "127.0.0.1:0",
                     "--db", (char *)s->db_url, "--test-clock",
                     "--max-connections-per-ip", "2048", "--rate-limit", "0", NULL };
    struct sigaction dfl;
    int null_fd;

    /* If the benchmark dies, the server must not outlive it. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(127);
    /* We ignore SIGPIPE; an ignored signal would survive exec. */
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    if (sigaction(SIGPIPE, &dfl, NULL) != 0)
        _exit(127);
    null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 ||
        dup2(out_fd, 2) < 0)
        _exit(127);
    execve(s->bin, argv, env);
    if (write(2, msg, sizeof msg - 1) < 0)
        _exit(127);
    _exit(127);
}

/* Waits until the server listens or exits, up to timeout_ms. */
static int server_wait_listening(bench_server *s, double timeout_ms)
{
    long long ns = (long long)(timeout_ms * 1e6);
    struct timespec until;
    int rc = 0;

    (void)clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ns / 1000000000LL);
    until.tv_nsec += (long)(ns % 1000000000LL);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!s->listening && !s->eof && rc == 0)
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
    rc = s->listening ? 0 : -1;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int bench_server_start(bench_server *s, double timeout_ms)
{
    char token_var[sizeof s->token + 32];
    char **env;
    int fds[2];
    pid_t parent = getpid(), pid;

    if (s->pid != 0)
        return -1;
    s->listening = s->eof = false;
    s->base_url[0] = '\0';
    if (!(env = server_env_new(s, token_var, sizeof token_var)))
        return -1;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        free(env);
        return -1;
    }
    pid = fork();
    if (pid == 0)
        server_exec(s, parent, fds[1], env);
    free(env);
    if (close(fds[1]) != 0 || pid < 0) {
        close(fds[0]);
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        return -1;
    }
    s->pid = pid;
    bench_server_live_pid = pid;
    s->out_fd = fds[0];
    if (pthread_create(&s->drain, NULL, server_drain, s) != 0) {
        bench_server_stop(s);
        return -1;
    }
    s->drain_running = true;
    if (server_wait_listening(s, timeout_ms) != 0) {
        if (bench_server_alive(s))
            fprintf(stderr, "bench: the server did not report 'listening on' "
                    "within %.0f s\n", timeout_ms / 1000.0);
        else
            fprintf(stderr, "bench: the server exited before listening\n");
        bench_server_stop(s);
        return -1;
    }
    return 0;
}

bool bench_server_alive(bench_server *s)
{
    bool alive;

    pthread_mutex_lock(&s->mu);
    alive = s->pid != 0 && !s->eof;
    pthread_mutex_unlock(&s->mu);
    return alive;
}

int bench_server_url(bench_server *s, char *out, size_t n)
{
    int len = -1;

    pthread_mutex_lock(&s->mu);
    if (s->listening)
        len = snprintf(out, n, "%s", s->base_url);
    pthread_mutex_unlock(&s->mu);
    return (len < 0 || (size_t)len >= n) ? -1 : 0;
}

int bench_server_wait_ready(bench_server *s, double timeout_ms)
{
    struct curl_slist *hdrs = bench_headers_new(NULL, "application/json");
    double deadline = bench_now_ms() + timeout_ms;
    bench_client c;
    char url[128];
    int rc = -1;

    if (!hdrs)
        return -1;
    if (bench_server_url(s, url, sizeof url) != 0 ||
        bench_client_init(&c, url) != 0) {
        curl_slist_free_all(hdrs);
        return -1;
    }
    while (bench_server_alive(s) && bench_now_ms() < deadline) {
        if (bench_client_get(&c, hdrs, "/readyz") == 200) {
            rc = 0;
            break;
        }
        bench_sleep_ms(10);
    }
    bench_client_free(&c);
    curl_slist_free_all(hdrs);
    return rc;
}

/* waitpid for up to grace_ms, then SIGKILL. Returns the wait status. */
static int server_reap(pid_t pid, double grace_ms, bool *killed)
{
    double deadline = bench_now_ms() + grace_ms;
    int status = 0;

    *killed = false;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (bench_now_ms() >= deadline) {
            *killed = true;
            kill(pid, SIGKILL);
            while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                ;
            return r == pid ? status : -1;
        }
        bench_sleep_ms(10);
    }
}

int bench_server_stop(bench_server *s)
{
    bool killed;
    int status, rc = 0;

    if (s->pid == 0)
        return 0;
    if (kill(s->pid, SIGTERM) != 0)
        rc = -1;
    /* From here an interrupt of the benchmark must not signal this pid:
     * once reaped, the number may belong to another process. */
    bench_server_live_pid = 0;
    status = server_reap(s->pid, SERVER_STOP_GRACE_MS, &killed);
    if (killed) {
        fprintf(stderr, "bench: the server ignored SIGTERM for %.0f s and "
                "was killed\n", SERVER_STOP_GRACE_MS / 1000.0);
        rc = -1;
    } else if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (status != -1 && WIFSIGNALED(status))
            fprintf(stderr, "bench: the server died of signal %d\n", WTERMSIG(status));
        else if (status != -1)
            fprintf(stderr, "bench: the server exited with status %d\n",
                    WEXITSTATUS(status));
        rc = -1;
    }
    s->pid = 0;
    if (s->drain_running && pthread_join(s->drain, NULL) == 0)
        s->drain_running = false;
    if (s->out_fd >= 0 && close(s->out_fd) != 0)
        rc = -1;
    s->out_fd = -1;
    if (s->lines_dropped > 0)
        fprintf(stderr, "bench: %lu more server log lines not shown\n",
                s->lines_dropped);
    s->lines_copied = s->lines_dropped = 0;
    return rc;
}

/* The whole number after `field` (e.g. "VmRSS:") in /proc/PID/status, or
 * -1 when unreadable. */
static long status_field(const bench_server *s, const char *field)
{
    char path[64], line[256];
    size_t n = strlen(field);
    long v = -1;
    FILE *f;

    if (s->pid == 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)s->pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) {
            if (sscanf(line + n, " %ld", &v) != 1)
                v = -1;
            break;
        }
    if (fclose(f) != 0)
        return -1;
    return v;
}

long bench_server_rss_kib(const bench_server *s)
{
    return status_field(s, "VmRSS:");
}

long bench_server_threads(const bench_server *s)
{
    return status_field(s, "Threads:");
}

/* utime + stime of /proc/PID/stat in ticks, with its parent's pid and, when
 * children is set, the times of its waited-for children (cutime, cstime).
 * -1 when the process is gone. */
static long long proc_ticks(long pid, bool children, long *ppid)
{
    unsigned long utime, stime;
    long cutime, cstime, parent;
    char path[64], line[1024];
    const char *p;
    FILE *f;
    bool ok;

    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    ok = fgets(line, sizeof line, f) != NULL;
    if (fclose(f) != 0 || !ok)
        return -1;
    /* The command name may hold spaces; the fields we want follow its
     * closing parenthesis: state is field 3, ppid 4, utime 14, stime 15,
     * cutime 16 and cstime 17. */
    if (!(p = strrchr(line, ')')) ||
        sscanf(p + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld",
               &parent, &utime, &stime, &cutime, &cstime) != 5)
        return -1;
    if (ppid)
        *ppid = parent;
    return (long long)(utime + stime) + (children ? cutime + cstime : 0);
}

/* The server's CPU time and that of its children: the expression
 * evaluators it starts (docs/internals/expr.md), live or already reaped,
 * do part of its work. */
double bench_server_cpu_seconds(const bench_server *s)
{
    long ticks = sysconf(_SC_CLK_TCK);
    long long total;
    DIR *proc;
    struct dirent *e;

    if (s->pid == 0 || ticks <= 0)
        return -1;
    if ((total = proc_ticks((long)s->pid, true, NULL)) < 0)
        return -1;
    if ((proc = opendir("/proc"))) {
        while ((e = readdir(proc))) {
            long pid = strtol(e->d_name, NULL, 10), ppid = 0;
            long long t;

            if (pid > 0 && (t = proc_ticks(pid, false, &ppid)) >= 0 && ppid == (long)s->pid)
                total += t;
        }
        closedir(proc);
    }
    return (double)total / (double)ticks;
}
