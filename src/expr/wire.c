/*
 * wire.c - moving the messages of expr_internal.h over the socket between
 * the server and an evaluator process.
 *
 * The evaluator process blocks: it has nothing else to do. The server never
 * does: every wait has a deadline, since the process on the other end may
 * be stuck in a C loop of libjq's, and the engine thread must get back.
 */
#include "expr/expr_internal.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t wire_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

bool wire_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool wire_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Waits until fd is ready for events or the deadline: 1, 0, -1. */
static int wait_ready(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - wire_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n > 0)
            return 1;       /* readable, writable, or hung up: the call says */
    }
}

int wire_recv(int fd, void *buf, size_t len, int64_t deadline_ms)
{
    char *p = buf;
    while (len) {
        ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0)
            return -1;                              /* the process is gone */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int ready = wait_ready(fd, POLLIN, deadline_ms);
        if (ready <= 0)
            return ready;
    }
    return 1;
}

int wire_send(int fd, const void *buf, size_t len, int64_t deadline_ms)
{
    const char *p = buf;
    while (len) {
        /* MSG_NOSIGNAL: a process that died must not take the server with
         * it through SIGPIPE. */
        ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int ready = wait_ready(fd, POLLOUT, deadline_ms);
        if (ready <= 0)
            return ready;
    }
    return 1;
}
