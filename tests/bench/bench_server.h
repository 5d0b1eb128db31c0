/*
 * bench_server.h - runs the real spojit server as a child process.
 *
 * The server is started as
 * `<bin> serve --listen 127.0.0.1:0 --db <url> --test-clock` (so the
 * benchmark, as admin, may move its clock: POST /v1/admin/clock) with
 * SPOJIT_BOOTSTRAP_TOKEN and SPOJIT_LOG_LEVEL=info set and every other
 * SPOJIT_* variable of our environment removed (so a developer's shell
 * cannot change what is measured). Its stdout and stderr go to one pipe
 * that a thread drains for the whole life of the process: it picks the
 * port from the "listening on http://HOST:PORT" line and copies every
 * other line to our stderr, so the server never blocks on a full pipe.
 *
 * Life cycle: bench_server_init once, then start/stop any number of times
 * (a restart is stop + start on the same database), then destroy.
 */
#ifndef BENCH_SERVER_H
#define BENCH_SERVER_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct bench_server {
    char bin[4096];
    char db_url[4200];
    char token[128];

    pid_t pid;                  /* 0 when not running */
    int out_fd;                 /* read end of the child's stdout+stderr */
    pthread_t drain;
    bool drain_running;

    pthread_mutex_t mu;         /* guards the fields below */
    pthread_cond_t cv;
    bool listening;             /* the "listening on" line was seen */
    bool eof;                   /* the child closed its output (it exited) */
    char base_url[128];         /* "http://HOST:PORT" once listening */
    unsigned long lines_copied, lines_dropped;
} bench_server;

/* The pid of the running server, for signal handlers that must stop it
 * when the benchmark itself is interrupted; 0 when none runs. */
extern volatile sig_atomic_t bench_server_live_pid;

/* 0, or -1 when a path does not fit or pthread objects cannot be made. */
int bench_server_init(bench_server *s, const char *bin, const char *db_url,
                      const char *token);
void bench_server_destroy(bench_server *s);

/* Spawns the server and waits up to timeout_ms for its "listening on"
 * line. 0, or -1 (the child, if any, is stopped) on failure. */
int bench_server_start(bench_server *s, double timeout_ms);

/* Polls GET /readyz every 10 ms until it answers 200, up to timeout_ms.
 * 0, or -1 on timeout or when the server exited. */
int bench_server_wait_ready(bench_server *s, double timeout_ms);

/* SIGTERM, wait for exit (SIGKILL after a grace period), join the drain
 * thread. 0 when the server exited with status 0, -1 otherwise (it is
 * stopped either way). A no-op returning 0 when nothing runs. */
int bench_server_stop(bench_server *s);

/* True while the child has not closed its output. */
bool bench_server_alive(bench_server *s);

/* Copies the base URL into out (size n). 0, or -1 when not listening. */
int bench_server_url(bench_server *s, char *out, size_t n);

/* The server's resident set (VmRSS) in KiB, or -1 when unreadable. */
long bench_server_rss_kib(const bench_server *s);

/* The server's thread count (Threads: in /proc/PID/status), or -1 when
 * unreadable. */
long bench_server_threads(const bench_server *s);

/* CPU time (user + system) the server has used, in seconds; -1 when
 * unreadable. */
double bench_server_cpu_seconds(const bench_server *s);

#endif
