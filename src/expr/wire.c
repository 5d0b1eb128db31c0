/*
 * wire.c - moving the messages of expr_internal.h over the socket between
 * the server and an evaluator process.
 *
 * The evaluator process blocks: it has nothing else to do. The server never
 * does: every wait has a deadline, since the process on the other end may
 * be stuck in a C loop of libjq's, and the engine thread must get back.
 *
 * Every evaluation is a round trip on the engine thread's hot path, so the
 * system calls are counted: a message goes out in one vectored write, and
 * comes in through a buffer that takes a header and its bytes in one read.
 * A round trip is then write, poll, read on the server's side and read,
 * write on the evaluator's.
 */
#include "expr/expr_internal.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int64_t wire_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
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

/* Fills r's buffer with what one read gives: 1, 0 deadline, -1 gone. */
static int fill(wire_reader *r, int64_t deadline_ms)
{
    if (r->pos == r->len)
        r->pos = r->len = 0;
    for (;;) {
        if (deadline_ms >= 0) {
            int ready = wait_ready(r->fd, POLLIN, deadline_ms);
            if (ready <= 0)
                return ready;
        }
        ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (n > 0) {
            r->len += (size_t)n;
            return 1;
        }
        if (n == 0)
            return -1;                              /* the other end is gone */
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
    }
}

int wire_read(wire_reader *r, void *dst, size_t len, int64_t deadline_ms)
{
    char *out = dst;
    while (len) {
        if (r->pos == r->len) {
            /* A large text goes straight to its place, past the buffer. */
            if (len >= sizeof r->buf) {
                if (deadline_ms >= 0) {
                    int ready = wait_ready(r->fd, POLLIN, deadline_ms);
                    if (ready <= 0)
                        return ready;
                }
                ssize_t n = read(r->fd, out, len);
                if (n == 0)
                    return -1;
                if (n < 0) {
                    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
                        return -1;
                    continue;
                }
                out += n;
                len -= (size_t)n;
                continue;
            }
            int rc = fill(r, deadline_ms);
            if (rc != 1)
                return rc;
        }
        size_t take = r->len - r->pos < len ? r->len - r->pos : len;
        memcpy(out, r->buf + r->pos, take);
        r->pos += take;
        out += take;
        len -= take;
    }
    return 1;
}

int wire_writev(int fd, struct iovec *iov, int n, int64_t deadline_ms)
{
    while (n > 0) {
        /* MSG_NOSIGNAL: a process that died must not take the server with
         * it through SIGPIPE. */
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL | (deadline_ms >= 0 ? MSG_DONTWAIT : 0));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if ((errno != EAGAIN && errno != EWOULDBLOCK) || deadline_ms < 0)
                return -1;
            int ready = wait_ready(fd, POLLOUT, deadline_ms);
            if (ready <= 0)
                return ready;
            continue;
        }
        size_t done = (size_t)w;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 1;
}
