/*
 * bench.c - spojit's benchmark (SPEC §11): the human-in-the-loop cycle
 * against the real server, with durable settings.
 *
 *   spojit-bench --server build/spojit
 *
 * It starts the server on a free port with a new SQLite store in a
 * temporary directory, measures, stops the server and removes the
 * directory. Figures go to stdout, one per line, as `name value unit`;
 * everything else (progress, server warnings, failures) goes to stderr.
 * The exit status is 0 only when every phase ran and no request failed.
 *
 * Phases, in order: the disk's fsync rate (the ceiling for any durable
 * store on it), HITL cycles with 1 client and with BENCH_CLIENTS clients,
 * memory with 10,000 and with BENCH_PAUSED runs paused at the gate, a
 * restart with those runs paused, the approver's inbox query, a last
 * decision on a run paused before the restart, the timer burst:
 * BENCH_TIMERS gate timeouts fired at once while HITL cycles run, and the
 * outbound calls: BENCH_CALLS runs whose http step waits on a slow sink
 * of ours, all in flight at once. The burst and the calls come last so
 * that none of the figures before them sees their gates, runs or
 * connections.
 * See docs/operations/benchmark.md.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define DEFAULT_SECONDS      10L
#define DEFAULT_CLIENTS      32L
#define DEFAULT_PAUSED       1000000L
#define DEFAULT_TIMERS       100000L
#define DEFAULT_CALLS        1000L
#define DEFAULT_CALL_DELAY   2000L        /* ms */
#define MAX_CLIENTS          1024L
#define MAX_PAUSED           100000000L
#define MAX_TIMERS           100000000L
/* Each call in flight holds a socket in the server and one in the sink. */
#define MAX_CALLS            100000L
#define MAX_CALL_DELAY       600000L      /* ms */
#define SMALL_PAUSED         10000L       /* the rss_10k_paused point */
#define INBOX_PENDING        100000L      /* the inbox figure's name */
#define INBOX_REQUESTS       200
#define INBOX_PAGE           50
#define FSYNC_MS             2000.0
#define FSYNC_BLOCK          4096
#define START_TIMEOUT_MS     60000.0
/* A restart over a large store is what we measure: allow it to be slow. */
#define RESTART_TIMEOUT_MS   1800000.0

/* --- output --- */

static void figure(const char *name, double value, int decimals, const char *unit)
{
    printf("%s %.*f %s\n", name, decimals, value, unit);
    fflush(stdout);
}

/* 1000000 -> "1m", 200000 -> "200k", 12345 -> "12345": the figure names'
 * suffix for a count of runs. */
static void count_label(long n, char *out, size_t size)
{
    if (n >= 1000000 && n % 1000000 == 0)
        snprintf(out, size, "%ldm", n / 1000000);
    else if (n >= 1000 && n % 1000 == 0)
        snprintf(out, size, "%ldk", n / 1000);
    else
        snprintf(out, size, "%ld", n);
}

/* --- knobs --- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: spojit-bench --server PATH\n"
            "\n"
            "Starts PATH serve on a temporary SQLite store and prints one\n"
            "figure per line: name value unit.\n"
            "\n"
            "environment:\n"
            "  BENCH_SECONDS  length of each HITL phase (default %ld)\n"
            "  BENCH_CLIENTS  client threads of the busy phases (default %ld)\n"
            "  BENCH_PAUSED   runs left paused at the gate (default %ld; 0 skips\n"
            "                 the memory, restart and inbox phases)\n"
            "  BENCH_TIMERS   gates whose timeouts fire in one burst (default\n"
            "                 %ld; 0 skips the timer burst)\n"
            "  BENCH_CALLS    runs whose http step calls a slow sink, all in\n"
            "                 flight at once (default %ld; 0 skips them)\n"
            "  BENCH_CALL_DELAY_MS  how long the sink takes to answer each\n"
            "                 call (default %ld)\n"
            "  TMPDIR         where the store and the fsync probe live (/tmp)\n",
            DEFAULT_SECONDS, DEFAULT_CLIENTS, DEFAULT_PAUSED, DEFAULT_TIMERS,
            DEFAULT_CALLS, DEFAULT_CALL_DELAY);
}

/* A whole number from the environment, or def when unset. 0, or -1. */
static int env_long(const char *name, long def, long min, long max, long *out)
{
    const char *s = getenv(name);
    char *end;
    long v;

    if (!s || !*s) {
        *out = def;
        return 0;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "bench: %s must be a whole number from %ld to %ld\n",
                name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* 0, 2 (usage), or 1 (--help printed). */
static int parse_knobs(bench *b, int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
            b->server_bin = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!b->server_bin) {
        usage(stderr);
        return 2;
    }
    if (env_long("BENCH_SECONDS", DEFAULT_SECONDS, 1, 86400, &b->seconds) != 0 ||
        env_long("BENCH_CLIENTS", DEFAULT_CLIENTS, 1, MAX_CLIENTS, &b->clients) != 0 ||
        env_long("BENCH_PAUSED", DEFAULT_PAUSED, 0, MAX_PAUSED, &b->paused) != 0 ||
        env_long("BENCH_TIMERS", DEFAULT_TIMERS, 0, MAX_TIMERS, &b->timers) != 0 ||
        env_long("BENCH_CALLS", DEFAULT_CALLS, 0, MAX_CALLS, &b->calls) != 0 ||
        env_long("BENCH_CALL_DELAY_MS", DEFAULT_CALL_DELAY, 0, MAX_CALL_DELAY,
                 &b->call_delay_ms) != 0)
        return 2;
    return 0;
}

/* --- the temporary directory --- */

static int tmpdir_make(bench *b)
{
    const char *base = getenv("TMPDIR");
    struct statfs fs;
    int n;

    if (!base || !*base)
        base = "/tmp";
    n = snprintf(b->tmpdir, sizeof b->tmpdir, "%s/spojit-bench.XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof b->tmpdir || !mkdtemp(b->tmpdir)) {
        fprintf(stderr, "bench: cannot create a directory in %s: %s\n", base,
                strerror(errno));
        return -1;
    }
    b->tmpdir_made = true;
    /* On tmpfs fsync costs nothing and every durable figure is a fiction. */
    if (statfs(b->tmpdir, &fs) == 0 && fs.f_type == TMPFS_MAGIC)
        fprintf(stderr, "bench: warning: %s is on tmpfs; set TMPDIR to a "
                "directory on the disk to measure\n", b->tmpdir);
    return 0;
}

static unsigned long long tree_bytes;

static int tree_size_entry(const char *path, const struct stat *st, int type,
                           struct FTW *ftw)
{
    if (type == FTW_F)
        tree_bytes += (unsigned long long)st->st_blocks * 512ULL;
    return 0;
}

static int tree_remove_entry(const char *path, const struct stat *st, int type,
                             struct FTW *ftw)
{
    if (remove(path) != 0)
        fprintf(stderr, "bench: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* Reports what the store used on disk, then removes the directory. */
static void tmpdir_remove(bench *b)
{
    if (!b->tmpdir_made)
        return;
    tree_bytes = 0;
    if (nftw(b->tmpdir, tree_size_entry, 16, FTW_PHYS) == 0)
        fprintf(stderr, "bench: the store used %.1f MiB on disk\n",
                (double)tree_bytes / (1024.0 * 1024.0));
    if (nftw(b->tmpdir, tree_remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "bench: cannot remove %s\n", b->tmpdir);
    b->tmpdir_made = false;
}

/* --- being interrupted --- */

static const char interrupted_msg[] =
    "bench: interrupted; stopping the server and cleaning up "
    "(interrupt again to quit at once)\n";
static volatile sig_atomic_t interrupts;

/*
 * First interrupt: stop the server at once (its pid is all a handler can
 * safely use) and make every phase stop, so that main still cleans up.
 * A second one: die of the signal, leaving the directory behind.
 */
static void on_signal(int sig)
{
    pid_t pid = (pid_t)bench_server_live_pid;
    ssize_t ignored;

    if (pid > 0)
        kill(pid, SIGTERM);
    if (interrupts++ > 0) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    atomic_store(&bench_abort, true);
    ignored = write(2, interrupted_msg, sizeof interrupted_msg - 1);
    (void)ignored;
}

static int signals_install(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    if (sigemptyset(&sa.sa_mask) != 0)
        return -1;
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return -1;
    /* A server that dies mid-request must not kill us with SIGPIPE. */
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

/* --- the disk --- */

/* 4 KiB appended and fdatasync'd in a loop: what one durable commit costs
 * on this disk, at best. */
static int measure_fsync_rate(const bench *b, double *per_s)
{
    static char block[FSYNC_BLOCK];
    char path[PATH_MAX + 32];
    double t0, elapsed = 0;
    long count = 0;
    int fd, rc = 0;

    memset(block, 'x', sizeof block);
    snprintf(path, sizeof path, "%s/fsync.probe", b->tmpdir);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    t0 = bench_now_ms();
    do {
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block ||
            fdatasync(fd) != 0) {
            fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
            rc = -1;
            break;
        }
        count++;
    } while ((elapsed = bench_now_ms() - t0) < FSYNC_MS);
    if (close(fd) != 0 || unlink(path) != 0)
        rc = -1;
    *per_s = (double)count / (elapsed / 1000.0);
    return rc;
}

/* --- the server --- */

/* SPOJIT_BOOTSTRAP_TOKEN: 32 random hex digits, fresh for every run. */
static int make_token(bench *b)
{
    unsigned char raw[16];
    size_t i;

    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -1;
    memcpy(b->token, "bench_", 6);
    for (i = 0; i < sizeof raw; i++)
        snprintf(b->token + 6 + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* Starts the server and waits for /readyz; records its URL. */
static int server_up(bench *b, double timeout_ms)
{
    double deadline = bench_now_ms() + timeout_ms;

    if (bench_server_start(&b->server, timeout_ms) != 0)
        return -1;
    if (bench_server_url(&b->server, b->base_url, sizeof b->base_url) != 0 ||
        bench_server_wait_ready(&b->server, deadline - bench_now_ms()) != 0) {
        fprintf(stderr, "bench: the server did not become ready\n");
        return -1;
    }
    return 0;
}

static int server_boot(bench *b)
{
    char db_url[PATH_MAX + 32];

    snprintf(db_url, sizeof db_url, "sqlite:%s/bench.db", b->tmpdir);
    if (make_token(b) != 0 ||
        bench_server_init(&b->server, b->server_bin, db_url, b->token) != 0) {
        fprintf(stderr, "bench: cannot prepare the server\n");
        return -1;
    }
    b->server_ready = true;
    if (!(b->as_admin = bench_headers_new(b->token, "application/json")))
        return -1;
    fprintf(stderr, "bench: starting %s on %s\n", b->server_bin, db_url);
    if (server_up(b, START_TIMEOUT_MS) != 0)
        return -1;
    fprintf(stderr, "bench: server ready at %s\n", b->base_url);
    return 0;
}

/* SIGTERM, then a start on the same store until /readyz says 200. The
 * figure covers both: what an operator waits for in a restart. */
static int measure_restart(bench *b, double *seconds)
{
    double t0 = bench_now_ms(), stopped;

    if (bench_server_stop(&b->server) != 0)
        fprintf(stderr, "bench: warning: the server did not stop cleanly\n");
    stopped = bench_now_ms();
    if (server_up(b, RESTART_TIMEOUT_MS) != 0)
        return -1;
    *seconds = (bench_now_ms() - t0) / 1000.0;
    fprintf(stderr, "bench: restart: stop %.2f s, start to ready %.2f s\n",
            (stopped - t0) / 1000.0, *seconds - (stopped - t0) / 1000.0);
    return 0;
}

/* --- phases --- */

/* CPU seconds this process has used: on a small machine the clients and
 * the server share the cores, and the split says who was busy. */
static double own_cpu_seconds(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct cpu_mark {
    double server, own, wall_ms;
} cpu_mark;

static cpu_mark cpu_mark_now(const bench *b)
{
    cpu_mark m = { bench_server_cpu_seconds(&b->server), own_cpu_seconds(),
                   bench_now_ms() };

    return m;
}

/* "server 1.62 cores, clients 0.31 cores" since `since`. */
static void cpu_report(const bench *b, const char *what, cpu_mark since)
{
    cpu_mark now = cpu_mark_now(b);
    double wall = (now.wall_ms - since.wall_ms) / 1000.0;

    if (wall <= 0 || since.server < 0 || now.server < 0 || since.own < 0 ||
        now.own < 0)
        return;
    fprintf(stderr, "bench: %s: CPU use: server %.2f cores, benchmark "
            "%.2f cores\n", what, (now.server - since.server) / wall,
            (now.own - since.own) / wall);
}

static int phase_hitl(bench *b, long threads)
{
    bench_hitl_result r;
    cpu_mark mark;
    char name[64];
    int rc;

    fprintf(stderr, "bench: HITL cycles, %ld client%s, %ld s\n", threads,
            threads == 1 ? "" : "s", b->seconds);
    mark = cpu_mark_now(b);
    rc = bench_hitl_phase(b, threads, &r);
    cpu_mark end = cpu_mark_now(b);
    cpu_report(b, "HITL cycles", mark);
    if (rc == 0 && r.seconds > 0) {
        if (threads == 1)
            snprintf(name, sizeof name, "hitl_cycles_1_client");
        else
            snprintf(name, sizeof name, "hitl_cycles_%ld_clients", threads);
        figure(name, (double)r.cycles / r.seconds, 1, "per_s");
        fprintf(stderr, "bench: %ld cycles in %.2f s; start p50 %.2f ms, "
                "decision p50 %.2f ms\n", r.cycles, r.seconds,
                bench_lat_percentile(&r.start_lat, 50),
                bench_lat_percentile(&r.decide_lat, 50));
        /* The latency figures come from the busy phase. */
        if (threads == b->clients && r.cycles > 0) {
            if (mark.server >= 0 && end.server >= 0)
                figure("hitl_server_cpu_per_cycle", (end.server - mark.server) * 1000.0 /
                       (double)r.cycles, 3, "ms");
            figure("start_to_waiting_p50", bench_lat_percentile(&r.start_lat, 50), 2, "ms");
            figure("start_to_waiting_p99", bench_lat_percentile(&r.start_lat, 99), 2, "ms");
            figure("decision_to_completed_p50", bench_lat_percentile(&r.decide_lat, 50), 2, "ms");
            figure("decision_to_completed_p99", bench_lat_percentile(&r.decide_lat, 99), 2, "ms");
        }
    }
    bench_hitl_result_free(&r);
    return rc;
}

static int figure_rss(bench *b, long paused)
{
    long kib = bench_server_rss_kib(&b->server);
    char label[32], name[64];

    if (kib < 0) {
        fprintf(stderr, "bench: cannot read the server's VmRSS\n");
        return -1;
    }
    count_label(paused, label, sizeof label);
    snprintf(name, sizeof name, "rss_%s_paused", label);
    figure(name, (double)kib / 1024.0, 1, "MiB");
    return 0;
}

/* Leaves b->paused runs waiting at the gate, reading memory on the way. */
static int phase_paused(bench *b)
{
    cpu_mark mark = cpu_mark_now(b);
    bench_fill f;
    double t0 = bench_now_ms();

    bench_fill_init(&f, b->paused, "paused runs", bench_make_paused_run);
    fprintf(stderr, "bench: pausing %ld runs at the gate with %ld clients\n",
            b->paused, b->clients);
    if (bench_fill_to(b, &f, b->paused < SMALL_PAUSED ? b->paused : SMALL_PAUSED,
                      NULL) != 0)
        return -1;
    if (b->paused >= SMALL_PAUSED && figure_rss(b, SMALL_PAUSED) != 0)
        return -1;
    if (b->paused > SMALL_PAUSED && bench_fill_to(b, &f, b->paused, NULL) != 0)
        return -1;
    fprintf(stderr, "bench: %ld runs paused in %.1f s (%.0f/s)\n", f.done,
            (bench_now_ms() - t0) / 1000.0,
            (double)f.done / ((bench_now_ms() - t0) / 1000.0));
    cpu_report(b, "paused runs", mark);
    if (b->paused != SMALL_PAUSED && figure_rss(b, b->paused) != 0)
        return -1;
    return 0;
}

static int phase_restart(bench *b)
{
    char label[32], name[64];
    double seconds;

    fprintf(stderr, "bench: restarting with %ld runs paused\n", b->paused);
    if (measure_restart(b, &seconds) != 0)
        return -1;
    count_label(b->paused, label, sizeof label);
    snprintf(name, sizeof name, "restart_seconds_%s_paused", label);
    figure(name, seconds, 2, "s");
    return 0;
}

/* INBOX_REQUESTS reads of the approver's first inbox page, one at a time,
 * each checked to hold a full page of the pending gates. */
static int phase_inbox(bench *b)
{
    long want = b->paused < INBOX_PAGE ? b->paused : INBOX_PAGE;
    char path[64], label[32], name[64];
    bench_client c;
    bench_lat lat;
    int i, rc = 0;

    snprintf(path, sizeof path, "/v1/approvals?limit=%d", INBOX_PAGE);
    if (bench_lat_init(&lat, INBOX_REQUESTS) != 0)
        return -1;
    if (bench_client_init(&c, b->base_url) != 0) {
        bench_lat_free(&lat);
        return -1;
    }
    for (i = 0; i < INBOX_REQUESTS && !atomic_load(&bench_abort); i++) {
        double t0 = bench_now_ms();
        long status = bench_client_get(&c, b->as_approver, path);
        double ms = bench_now_ms() - t0;
        json_t *page;

        if (status != 200) {
            bench_request_failed("GET /v1/approvals", status, &c, NULL);
            continue;
        }
        page = bench_client_json(&c);
        if ((long)json_array_size(json_object_get(page, "items")) != want)
            bench_request_failed("GET /v1/approvals", status, &c,
                                 "not a full page of pending gates");
        json_decref(page);
        (void)bench_lat_add(&lat, ms);      /* room was reserved */
    }
    if (lat.n == 0) {
        rc = -1;
    } else {
        /* At least 100k pending is what the figure is named for; fewer
         * pending gates name their own count. */
        count_label(b->paused >= INBOX_PENDING ? INBOX_PENDING : b->paused,
                    label, sizeof label);
        snprintf(name, sizeof name, "inbox_p99_%s_pending", label);
        fprintf(stderr, "bench: inbox p50 %.2f ms over %zu requests\n",
                bench_lat_percentile(&lat, 50), lat.n);
        figure(name, bench_lat_percentile(&lat, 99), 2, "ms");
    }
    bench_client_free(&c);
    bench_lat_free(&lat);
    return rc;
}

/* A run paused before the restart still resumes and completes after it. */
static int phase_resume_after_restart(bench *b)
{
    json_t *page = NULL, *gate;
    const char *aid, *rid;
    bench_client c;
    long status;
    int rc = -1;

    if (bench_client_init(&c, b->base_url) != 0)
        return -1;
    status = bench_client_get(&c, b->as_approver, "/v1/approvals?limit=1");
    if (status != 200) {
        bench_request_failed("GET /v1/approvals", status, &c, NULL);
        goto out;
    }
    page = bench_client_json(&c);
    gate = json_array_get(json_object_get(page, "items"), 0);
    aid = json_string_value(json_object_get(gate, "id"));
    rid = json_string_value(json_object_get(gate, "run_id"));
    if (!aid || !rid || strlen(rid) >= BENCH_ID_MAX) {
        bench_request_failed("GET /v1/approvals", status, &c,
                             "no pending gate after the restart");
        goto out;
    }
    {
        char run_id[BENCH_ID_MAX];

        /* The ids live in c's buffer, which the next request overwrites. */
        memcpy(run_id, rid, strlen(rid) + 1);
        if (bench_approve(&c, b, aid) == 0 &&
            bench_check_completed(&c, b, run_id) == 0) {
            fprintf(stderr, "bench: a run paused before the restart completed "
                    "after it\n");
            rc = 0;
        }
    }
out:
    json_decref(page);
    bench_client_free(&c);
    return rc;
}

/*
 * BENCH_TIMERS gates' timeouts fired by one clock advance, with HITL
 * cycles running on the side. The decisions compared are from the same
 * phase, on the same store: those answered before the advance against
 * those in flight during it.
 */
static int phase_timer_burst(bench *b)
{
    bench_timer_result r;
    bench_hitl_result *h = &r.hitl;
    int rc = bench_timer_burst(b, &r);

    if (rc == 0 && r.rss_kib_pending >= 0) {
        /* Next to rss_*_paused: timers live in the store, not in memory. */
        char label[32], name[64];
        count_label(b->timers, label, sizeof label);
        snprintf(name, sizeof name, "rss_%s_timers_pending", label);
        figure(name, (double)r.rss_kib_pending / 1024.0, 1, "MiB");
    }
    if (rc == 0 && r.advance_seconds > 0) {
        figure("timers_fired_per_s", (double)b->timers / r.advance_seconds, 0,
               "per_s");
        fprintf(stderr, "bench: timer burst: %ld timers fired in %.2f s",
                b->timers, r.advance_seconds);
        if (r.server_cpu_seconds >= 0)
            fprintf(stderr, "; server CPU %.2f cores",
                    r.server_cpu_seconds / r.advance_seconds);
        fputc('\n', stderr);
    }
    if (rc == 0 && h->decide_during.n == 0) {
        fprintf(stderr, "bench: timer burst: no decision was in flight "
                "during the advance\n");
        rc = -1;
    } else if (rc == 0) {
        fprintf(stderr, "bench: decisions during the timer burst: %zu, p50 "
                "%.2f ms; before it: %zu, p50 %.2f ms, p99 %.2f ms\n",
                h->decide_during.n, bench_lat_percentile(&h->decide_during, 50),
                h->decide_before.n, bench_lat_percentile(&h->decide_before, 50),
                bench_lat_percentile(&h->decide_before, 99));
        figure("decision_p99_during_timer_burst",
               bench_lat_percentile(&h->decide_during, 99), 2, "ms");
    }
    bench_timer_result_free(&r);
    return rc;
}

/*
 * BENCH_CALLS runs whose http step waits BENCH_CALL_DELAY_MS on our sink,
 * all in flight at once: how fast the one outbound worker carries them,
 * and whether they cost the server threads.
 */
static int phase_outbound(bench *b)
{
    bench_outbound_result r;
    cpu_mark mark = cpu_mark_now(b);
    int rc = bench_outbound_calls(b, &r);

    cpu_report(b, "outbound calls", mark);
    fprintf(stderr, "bench: outbound calls: %ld of %ld runs started in %.2f s "
            "(%.0f/s), ", r.started, b->calls, r.start_seconds,
            r.start_seconds > 0 ? (double)r.started / r.start_seconds : 0.0);
    if (r.completed > 0)
        fprintf(stderr, "%ld completed %.2f s after the first start (the "
                "sink's delay is %.2f s)\n", r.completed, r.seconds,
                (double)b->call_delay_ms / 1000.0);
    else
        fprintf(stderr, "none completed\n");
    fprintf(stderr, "bench: outbound calls: the sink got %ld POSTs, answered "
            "%ld, at most %ld in flight at once\n", r.sink.posts,
            r.sink.answered, r.sink.max_open);
    if (r.retried > 0 || r.sink.posts > r.started)
        fprintf(stderr, "bench: outbound calls: %ld calls took more than one "
                "attempt; %ld POSTs for %ld runs\n", r.retried, r.sink.posts,
                r.started);
    if (r.threads_before >= 0 && r.threads_peak >= 0) {
        fprintf(stderr, "bench: server threads: %ld before the outbound calls, "
                "%ld at the peak, %ld after\n", r.threads_before, r.threads_peak,
                r.threads_after);
        if (r.threads_peak - r.threads_before > 2)
            fprintf(stderr, "bench: note: the server's thread count grew by "
                    "%ld during the outbound calls (one worker should carry "
                    "them all)\n", r.threads_peak - r.threads_before);
    } else {
        fprintf(stderr, "bench: cannot read the server's thread count\n");
    }
    if (rc == 0 && r.completed < b->calls) {
        fprintf(stderr, "bench: outbound calls: only %ld of %ld runs "
                "completed\n", r.completed, b->calls);
        rc = -1;
    }
    if (rc == 0 && r.seconds > 0) {
        figure("outbound_calls_per_s", (double)b->calls / r.seconds, 0, "per_s");
        figure("outbound_burst_seconds", r.seconds, 2, "s");
    }
    return rc;
}

/* True once an interrupt or a failing server stopped the benchmark. */
static bool stopped(void)
{
    return atomic_load(&bench_abort);
}

/* BENCH_PAUSED runs paused, then what a backlog costs: memory, a restart,
 * the inbox, and a run resumed across the restart. */
static int phase_backlog(bench *b)
{
    if (phase_paused(b) != 0 || stopped() || phase_restart(b) != 0 ||
        stopped() || phase_inbox(b) != 0 || stopped())
        return -1;
    return phase_resume_after_restart(b);
}

static int run_phases(bench *b)
{
    double fsync_rate;

    if (measure_fsync_rate(b, &fsync_rate) != 0 || stopped())
        return -1;
    figure("fsync_rate", fsync_rate, 0, "per_s");
    if (server_boot(b) != 0 || stopped() || bench_setup(b) != 0)
        return -1;
    if (phase_hitl(b, 1) != 0 || phase_hitl(b, b->clients) != 0)
        return -1;
    if (b->paused > 0 && (phase_backlog(b) != 0 || stopped()))
        return -1;
    if (b->timers > 0 && (phase_timer_burst(b) != 0 || stopped()))
        return -1;
    if (b->calls > 0 && phase_outbound(b) != 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    bench b;
    int rc;

    memset(&b, 0, sizeof b);
    if ((rc = parse_knobs(&b, argc, argv)) != 0)
        return rc == 1 ? 0 : 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bench: cannot initialise libcurl\n");
        return 1;
    }
    atomic_init(&bench_errors, 0);
    atomic_init(&bench_abort, false);
    rc = 1;
    if (tmpdir_make(&b) == 0 && signals_install() == 0) {
        fprintf(stderr, "bench: BENCH_SECONDS=%ld BENCH_CLIENTS=%ld "
                "BENCH_PAUSED=%ld BENCH_TIMERS=%ld BENCH_CALLS=%ld "
                "BENCH_CALL_DELAY_MS=%ld in %s\n", b.seconds, b.clients,
                b.paused, b.timers, b.calls, b.call_delay_ms, b.tmpdir);
        rc = run_phases(&b) == 0 ? 0 : 1;
        if (rc != 0)
            fprintf(stderr, "bench: stopped early; the figures above are "
                    "all there are\n");
    }
    if (b.server_ready) {
        if (bench_server_stop(&b.server) != 0)
            fprintf(stderr, "bench: warning: the server did not stop cleanly\n");
        bench_server_destroy(&b.server);
        figure("errors", (double)atomic_load(&bench_errors), 0, "count");
    }
    tmpdir_remove(&b);
    curl_slist_free_all(b.as_admin);
    curl_slist_free_all(b.as_approver);
    curl_global_cleanup();
    if (atomic_load(&bench_errors) > 0)
        rc = 1;
    return rc;
}
