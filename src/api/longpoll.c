/*
 * longpoll.c - ?wait= requests parked until their run or gate moves on.
 *
 * A parked request (an "entry") is on exactly one of two lists, both under
 * one mutex:
 *   - the table, hashed by id: waiting for a change of that id;
 *   - the woken list: the sweeper must read the document again.
 * The engine thread (api_lp_wake) only moves entries from the table to the
 * woken list and signals; it never reads the store or replies, so it never
 * waits on anything but the mutex. The sweeper thread alone reads, replies
 * and frees entries, so an entry has one owner and is answered once.
 *
 * INVARIANT: an entry is re-checked only while it is on a list. The sweeper
 * moves a woken entry back to the table *before* reading its document, so
 * a change committed during that read wakes it again instead of being lost;
 * a new entry starts on the woken list, which closes the gap between the
 * handler's first read and parking.
 *
 * Deadlines are monotonic ms. next_deadline is a lower bound of the table's
 * deadlines: when it passes, the sweeper scans the table once, answers what
 * is due and recomputes it, so idle waits cost no scans.
 */
#include "api/api_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"

#define LP_BUCKETS      4096        /* power of two */
#define LP_IDLE_MS      1000        /* longest sleep when nothing is due */
#define LP_KIND_MAX     16

typedef enum { LP_TABLE, LP_WOKEN } lp_where;

typedef struct lp_entry {
    struct lp_entry *prev, *next;   /* in its bucket, or in the woken list */
    struct lp_entry *batch;         /* the sweeper's private work list */
    lp_where where;
    unsigned bucket;
    char kind[LP_KIND_MAX];
    char id[SP_ID_MAX];
    http_request *req;
    bool check_who;                 /* who must still see the document */
    principal who;                  /* owned copy */
    int status;                     /* of the eventual reply */
    int64_t deadline;
} lp_entry;

struct api_longpolls {
    store *store;
    pthread_mutex_t mu;
    pthread_cond_t cv;              /* on CLOCK_MONOTONIC */
    pthread_t thread;
    bool stop;
    lp_entry *buckets[LP_BUCKETS];
    lp_entry *woken;
    int64_t next_deadline;          /* INT64_MAX: no entry in the table */
    atomic_size_t waiting;
};

static unsigned hash_id(const char *id)
{
    unsigned h = 2166136261u;       /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h & (LP_BUCKETS - 1);
}

static lp_entry **head_of(api_longpolls *lp, const lp_entry *e)
{
    return e->where == LP_TABLE ? &lp->buckets[e->bucket] : &lp->woken;
}

/* With mu held. */
static void unlink_entry(api_longpolls *lp, lp_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        *head_of(lp, e) = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

/* With mu held. */
static void push(api_longpolls *lp, lp_entry *e, lp_where where)
{
    e->where = where;
    lp_entry **head = head_of(lp, e);
    e->prev = NULL;
    e->next = *head;
    if (*head)
        (*head)->prev = e;
    *head = e;
    if (where == LP_TABLE && e->deadline < lp->next_deadline)
        lp->next_deadline = e->deadline;
}

/* The document as it is now: a new reference, or NULL (err set). */
static json_t *read_doc(store_conn *r, const lp_entry *e, sp_error *err)
{
    json_t *doc = NULL;
    sp_code rc = strcmp(e->kind, "run") == 0 ? store_run_get(r, e->id, &doc, err)
                                             : store_approval_get(r, e->id, &doc, err);
    return rc == SP_OK ? doc : NULL;
}

static void entry_free(lp_entry *e)
{
    principal_clear(&e->who);
    free(e);
}

static bool visible(const lp_entry *e, const json_t *doc)
{
    return strcmp(e->kind, "run") == 0 ? api_run_visible(&e->who, doc)
                                       : principal_sees_gate(&e->who, doc);
}

/* Sweeper thread, without mu. Entries of the batch are on a list; those
 * that are done are taken off it, answered and freed. */
static void check_batch(api_longpolls *lp, lp_entry *batch)
{
    store_conn *r = store_reader(lp->store);
    while (batch) {
        lp_entry *e = batch;
        batch = e->batch;
        sp_error err = SP_ERROR_INIT;
        json_t *doc = read_doc(r, e, &err);
        bool due = clock_mono_ms() >= e->deadline;
        /* A failed read is retried at the deadline rather than answered
         * early: the store may be briefly busy. A missing document is final. */
        bool done = due || (doc && !api_lp_still_waiting(e->kind, doc)) ||
                    (!doc && err.code == SP_ENOTFOUND);
        if (!done) {
            json_decref(doc);
            sp_error_clear(&err);
            continue;
        }
        pthread_mutex_lock(&lp->mu);
        unlink_entry(lp, e);
        pthread_mutex_unlock(&lp->mu);
        atomic_fetch_sub(&lp->waiting, 1);
        if (doc && e->check_who && !visible(e, doc)) {
            /* Reassigned away while waiting: it is gone for this caller,
             * as a plain GET would now say. */
            json_decref(doc);
            doc = NULL;
            sp_error_set(&err, SP_ENOTFOUND, "no %s '%s'", e->kind, e->id);
        }
        if (doc)
            api_reply_doc(e->req, e->status, doc);
        else
            http_reply_error(e->req, &err);
        json_decref(doc);
        sp_error_clear(&err);
        entry_free(e);
    }
    store_release(r);
}

/* With mu held: the woken entries, moved back to the table. */
static lp_entry *take_woken(api_longpolls *lp)
{
    lp_entry *batch = NULL;
    while (lp->woken) {
        lp_entry *e = lp->woken;
        unlink_entry(lp, e);
        push(lp, e, LP_TABLE);
        e->batch = batch;
        batch = e;
    }
    return batch;
}

/* With mu held: the table's entries that are due (left in the table), and
 * a fresh next_deadline from the others. */
static lp_entry *take_due(api_longpolls *lp, int64_t now)
{
    lp_entry *batch = NULL;
    int64_t next = INT64_MAX;
    for (size_t b = 0; b < LP_BUCKETS; b++)
        for (lp_entry *e = lp->buckets[b]; e; e = e->next) {
            if (e->deadline <= now) {
                e->batch = batch;
                batch = e;
            } else if (e->deadline < next) {
                next = e->deadline;
            }
        }
    lp->next_deadline = next;
    return batch;
}

static void wait_until(api_longpolls *lp, int64_t deadline)
{
    int64_t now = clock_mono_ms();
    int64_t until = deadline - now > LP_IDLE_MS ? now + LP_IDLE_MS : deadline;
    struct timespec ts = { .tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000 };
    pthread_cond_timedwait(&lp->cv, &lp->mu, &ts);
}

static void *sweeper(void *arg)
{
    api_longpolls *lp = arg;
    pthread_mutex_lock(&lp->mu);
    while (!lp->stop) {
        lp_entry *batch = NULL;
        int64_t now = clock_mono_ms();
        if (lp->woken)
            batch = take_woken(lp);
        else if (now >= lp->next_deadline)
            batch = take_due(lp, now);
        if (batch) {
            pthread_mutex_unlock(&lp->mu);
            check_batch(lp, batch);
            pthread_mutex_lock(&lp->mu);
        } else {
            wait_until(lp, lp->next_deadline);
        }
    }
    pthread_mutex_unlock(&lp->mu);
    return NULL;
}

api_longpolls *api_lp_new(store *s)
{
    api_longpolls *lp = calloc(1, sizeof *lp);
    if (!lp)
        return NULL;
    lp->store = s;
    lp->next_deadline = INT64_MAX;
    atomic_init(&lp->waiting, 0);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lp->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&lp->mu, NULL);
    if (pthread_create(&lp->thread, NULL, sweeper, lp) != 0) {
        log_error("api: cannot start the long-poll sweeper");
        pthread_cond_destroy(&lp->cv);
        pthread_mutex_destroy(&lp->mu);
        free(lp);
        return NULL;
    }
    return lp;
}

static void answer_unavailable(lp_entry *e)
{
    sp_error err = SP_ERROR_INIT;
    sp_error_set(&err, SP_EUNAVAIL, "the server is shutting down");
    http_reply_error(e->req, &err);
    sp_error_clear(&err);
    entry_free(e);
}

void api_lp_free(api_longpolls *lp)
{
    if (!lp)
        return;
    pthread_mutex_lock(&lp->mu);
    lp->stop = true;
    pthread_cond_signal(&lp->cv);
    pthread_mutex_unlock(&lp->mu);
    pthread_join(lp->thread, NULL);
    /* The sweeper is gone: what is left is ours alone. */
    while (lp->woken) {
        lp_entry *e = lp->woken;
        unlink_entry(lp, e);
        answer_unavailable(e);
    }
    for (size_t b = 0; b < LP_BUCKETS; b++)
        while (lp->buckets[b]) {
            lp_entry *e = lp->buckets[b];
            unlink_entry(lp, e);
            answer_unavailable(e);
        }
    pthread_cond_destroy(&lp->cv);
    pthread_mutex_destroy(&lp->mu);
    free(lp);
}

void api_lp_park(api_longpolls *lp, const char *kind, const char *id, http_request *req,
                 const principal *who, int status, int64_t wait_ms)
{
    lp_entry *e = calloc(1, sizeof *e);
    if (!e || strlen(kind) >= LP_KIND_MAX || strlen(id) >= SP_ID_MAX) {
        free(e);
        sp_error err = SP_ERROR_INIT;
        sp_error_set(&err, SP_ENOMEM, "cannot wait for %s", kind);
        http_reply_error(req, &err);
        sp_error_clear(&err);
        return;
    }
    strcpy(e->kind, kind);
    strcpy(e->id, id);
    e->bucket = hash_id(id);
    e->req = req;
    e->check_who = who != NULL;
    principal_copy(&e->who, who);
    e->status = status;
    e->deadline = clock_mono_ms() + wait_ms;
    atomic_fetch_add(&lp->waiting, 1);
    pthread_mutex_lock(&lp->mu);
    push(lp, e, LP_WOKEN);          /* checked once more: see the invariant */
    pthread_cond_signal(&lp->cv);
    pthread_mutex_unlock(&lp->mu);
}

void api_lp_wake(api_longpolls *lp, const char *kind, const char *id)
{
    unsigned b = hash_id(id);
    bool moved = false;
    pthread_mutex_lock(&lp->mu);
    for (lp_entry *e = lp->buckets[b], *next; e; e = next) {
        next = e->next;
        if (strcmp(e->id, id) == 0 && strcmp(e->kind, kind) == 0) {
            unlink_entry(lp, e);
            push(lp, e, LP_WOKEN);
            moved = true;
        }
    }
    if (moved)
        pthread_cond_signal(&lp->cv);
    pthread_mutex_unlock(&lp->mu);
}

size_t api_lp_waiting(const api_longpolls *lp)
{
    return atomic_load(&((api_longpolls *)lp)->waiting);
}
