/*
 * audit_anchor.c - `serve --audit-anchor FILE`: a signed head of the audit
 * trail appended to FILE every --audit-anchor-every seconds (60) when the
 * trail has grown, and once more at shutdown.
 *
 * The file is for an operator to ship off the machine (a log shipper, a
 * cron job copying it to object storage with retention): a head kept where
 * the server's operator cannot rewrite it is the one thing that shows the
 * whole database put back to an older state (docs/internals/audit.md).
 * `spojit audit verify --head FILE` checks the trail against its last line.
 *
 * One thread, asleep on a condition variable between rounds. A round reads
 * the trail's end through a reader connection (the engine is not asked),
 * signs it, appends one line and fsyncs. A failed write is logged and tried
 * again the next round; it never stops the server. The file is opened once,
 * O_APPEND, mode 0600, and a line is one write(), so a reader never sees
 * half a line from a later round.
 */
#include "serve/audit_anchor.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

struct audit_anchor {
    char *path;
    int fd;
    int every_s;
    store *st;
    const audit_key *key;
    int64_t written;            /* seq of the last head in the file; -1: none */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stopping;
};

/* Appends the current head when the trail has grown since the last line. */
static void anchor_round(audit_anchor *an)
{
    sp_error err = SP_ERROR_INIT;
    json_t *head = NULL;
    store_conn *r = store_reader(an->st);
    sp_code rc = r ? audit_head_take(r, an->key, clock_now(), &head, &err)
                   : sp_error_set(&err, SP_EUNAVAIL, "no store connection");
    store_release(r);
    if (rc) {
        log_error("audit anchor: cannot read the head: %s", err.message);
        sp_error_clear(&err);
        return;
    }
    int64_t seq = json_integer_value(json_object_get(head, "seq"));
    if (seq <= an->written) {
        json_decref(head);
        return;
    }
    char *line = json_dumps(head, JSON_COMPACT);
    json_decref(head);
    if (!line)
        return;
    size_t len = strlen(line);
    line[len++] = '\n';         /* json_dumps left room: its NUL */
    ssize_t n = write(an->fd, line, len);
    free(line);
    const char *why = n < 0 ? strerror(errno)
                    : n != (ssize_t)len ? "short write"
                    : fsync(an->fd) != 0 ? strerror(errno) : NULL;
    if (why) {
        log_error("audit anchor: writing %s failed: %s (tried again in %d s)", an->path, why,
                  an->every_s);
        return;
    }
    an->written = seq;
}

static void *anchor_main(void *arg)
{
    audit_anchor *an = arg;
    pthread_mutex_lock(&an->mu);
    while (!an->stopping) {
        pthread_mutex_unlock(&an->mu);
        anchor_round(an);
        pthread_mutex_lock(&an->mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += an->every_s;
        while (!an->stopping &&
               pthread_cond_timedwait(&an->wake, &an->mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&an->mu);
    anchor_round(an);           /* the head the last batch left */
    return NULL;
}

/* The seq of the file's last head, so a restart does not repeat it. */
static int64_t last_written(const char *path)
{
    json_t *head = NULL;
    sp_error err = SP_ERROR_INIT;
    int64_t seq = -1;
    if (audit_head_file_last(path, &head, &err) == SP_OK &&
        json_is_integer(json_object_get(head, "seq")))
        seq = json_integer_value(json_object_get(head, "seq"));
    sp_error_clear(&err);
    json_decref(head);
    return seq;
}

audit_anchor *audit_anchor_start(const char *path, int every_s, store *st, const audit_key *key,
                                 sp_error *err)
{
    audit_anchor *an = calloc(1, sizeof *an);
    if (!an || !(an->path = strdup(path))) {
        free(an);
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return NULL;
    }
    an->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (an->fd < 0) {
        sp_error_set(err, SP_EINVALID, "--audit-anchor: cannot open %s: %s", path,
                     strerror(errno));
        free(an->path);
        free(an);
        return NULL;
    }
    an->every_s = every_s;
    an->st = st;
    an->key = key;
    an->written = last_written(path);
    pthread_mutex_init(&an->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&an->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&an->thread, NULL, anchor_main, an) != 0) {
        sp_error_set(err, SP_ENOMEM, "--audit-anchor: cannot start its thread");
        close(an->fd);
        pthread_cond_destroy(&an->wake);
        pthread_mutex_destroy(&an->mu);
        free(an->path);
        free(an);
        return NULL;
    }
    log_info("audit anchor: a signed head goes to %s every %d s when the trail grows", path,
             every_s);
    return an;
}

void audit_anchor_stop(audit_anchor *an)
{
    if (!an)
        return;
    pthread_mutex_lock(&an->mu);
    an->stopping = true;
    pthread_cond_signal(&an->wake);
    pthread_mutex_unlock(&an->mu);
    pthread_join(an->thread, NULL);
    close(an->fd);
    pthread_cond_destroy(&an->wake);
    pthread_mutex_destroy(&an->mu);
    free(an->path);
    free(an);
}
