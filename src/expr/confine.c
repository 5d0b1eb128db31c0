/*
 * confine.c - the limits an evaluator process puts on itself before it
 * reads its first request.
 *
 * - Address space: what it has mapped at start (the binary, its libraries
 *   and its evaluating thread's stack) plus EXPR_MEMORY_LIMIT_MB. libjq's allocations beyond fail,
 *   and its out-of-memory handler (worker.c) answers and exits.
 * - No core files (the process holds secrets while it evaluates) and no
 *   more than a handful of file descriptors. Its stderr stays the
 *   server's, so libjq's own last words (an assertion) reach the log.
 * - A system call filter (libseccomp): reading and writing the socket it
 *   was given, memory, time, and ending itself. Anything else fails with
 *   EPERM rather than killing the process: libc reaches for files on its
 *   own (time zones, locales) and should see an ordinary failure, while
 *   code that libjq's bugs let an input run can open, connect or execute
 *   nothing.
 *
 * Sanitizer builds keep the filter and the address-space limit off: ASan
 * maps terabytes of shadow memory and opens files to report. There the
 * server caps the process's allocations through ASAN_OPTIONS instead
 * (isolation.c).
 */
#include "expr/expr.h"
#include "expr/expr_internal.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef EXPR_SANITIZED
/* Mapped bytes now, from /proc/self/statm (pages). 0 if unknown. */
static unsigned long long mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long long pages = 0;
    if (fscanf(f, "%llu", &pages) != 1)
        pages = 0;
    fclose(f);
    return pages * 4096ull;
}
#endif

static bool set_limit(int resource, rlim_t value, const char *name, char *why, size_t why_len)
{
    struct rlimit l = { value, value };
    if (setrlimit(resource, &l) == 0)
        return true;
    snprintf(why, why_len, "cannot limit %s: %s", name, strerror(errno));
    return false;
}

#ifndef EXPR_SANITIZED
static const int allowed_calls[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(sendmsg), SCMP_SYS(close), SCMP_SYS(lseek), SCMP_SYS(fstat),
    SCMP_SYS(newfstatat), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
    SCMP_SYS(mprotect), SCMP_SYS(madvise), SCMP_SYS(brk), SCMP_SYS(futex),
    SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(getrandom),
    SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall),
    SCMP_SYS(exit), SCMP_SYS(exit_group),
};

static bool filter_system_calls(char *why, size_t why_len)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx) {
        snprintf(why, why_len, "cannot set up the system call filter");
        return false;
    }
    /* Every thread of the process: the one that evaluates, and the main
     * thread waiting for it (whose stack a taken-over evaluation could
     * otherwise write to and run unfiltered). */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    for (size_t i = 0; !rc && i < sizeof allowed_calls / sizeof *allowed_calls; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_calls[i], 0);
    /* abort() signals itself with tgkill: to itself only, or a process
     * an input took over could signal the server. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
    if (!rc)
        rc = seccomp_load(ctx);     /* sets no_new_privs first */
    seccomp_release(ctx);
    if (rc) {
        snprintf(why, why_len, "cannot load the system call filter: %s", strerror(-rc));
        return false;
    }
    return true;
}
#endif

bool expr_confine(char *why, size_t why_len)
{
    tzset();    /* the time zone is read now, while files may still be opened */
    if (!set_limit(RLIMIT_CORE, 0, "core files", why, why_len) ||
        !set_limit(RLIMIT_NOFILE, 16, "open files", why, why_len))
        return false;
#ifdef EXPR_SANITIZED
    return true;
#else
    unsigned long long base = mapped_bytes();
    if (!base) {
        snprintf(why, why_len, "cannot read /proc/self/statm to size the memory limit");
        return false;
    }
    if (!set_limit(RLIMIT_AS, (rlim_t)(base + (unsigned long long)EXPR_MEMORY_LIMIT_MB * 1048576ull),
                   "the address space", why, why_len))
        return false;
    return filter_system_calls(why, why_len);
#endif
}
