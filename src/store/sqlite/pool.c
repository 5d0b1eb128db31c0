/*
 * pool.c - opening the SQLite store: the writer connection with its
 * durability settings, and the pool of reader connections.
 *
 * INVARIANTS
 * - The writer is opened first and migrates the schema before any reader
 *   exists, so a reader never sees a half-made schema.
 * - The writer runs with journal_mode=WAL and synchronous=FULL: COMMIT
 *   returns after the WAL is fsynced, so a commit that returned survives a
 *   crash or power loss. foreign_keys is on.
 * - Readers run with query_only=1: a bug that writes through a reader fails
 *   loudly instead of racing the engine's writer.
 * - A reader belongs to one thread between store_reader() and
 *   store_release(). At most SQLITE_POOL_MAX exist; when all are out,
 *   store_reader() waits for one to come back (readers are held only for
 *   the length of one request's queries, never across a long-poll).
 */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

static void conn_free(sqlite_conn *c)
{
    if (!c)
        return;
    sqlite_finalize_all(c);
    sqlite3_close_v2(c->db);
    free(c);
}

/* Runs one PRAGMA; when want is given, the first result column must equal it
 * (journal_mode answers with the mode it actually got). */
static sp_code pragma(sqlite_conn *c, const char *sql, const char *want, sp_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(c, NULL, err, sql);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sp_code code = sqlite_fail(c, NULL, err, sql);
        sqlite3_finalize(st);
        return code;
    }
    sp_code code = SP_OK;
    if (want) {
        const char *got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (!got || strcasecmp(got, want) != 0)
            code = sp_error_set(err, SP_ESTORE, "store: %s: got '%s', need '%s'", sql,
                                got ? got : "", want);
    }
    sqlite3_finalize(st);
    return code;
}

static sqlite_conn *conn_open(sqlite_store *s, bool writer, sp_error *err)
{
    sqlite_conn *c = calloc(1, sizeof *c);
    if (!c) {
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return NULL;
    }
    c->base.ops = &sqlite_ops;
    c->base.owner = &s->base;
    c->writer = writer;
    int flags = SQLITE_OPEN_READWRITE | (writer ? SQLITE_OPEN_CREATE : 0) |
                (s->memory ? SQLITE_OPEN_FULLMUTEX : SQLITE_OPEN_NOMUTEX);
    if (sqlite3_open_v2(s->path, &c->db, flags, NULL) != SQLITE_OK) {
        sp_error_set(err, SP_ESTORE, "store: cannot open %s: %s", s->path,
                     c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, SQLITE_BUSY_MS);
    if (writer) {
        if (!s->memory && pragma(c, "PRAGMA journal_mode=WAL", "wal", err))
            goto fail;
        if (pragma(c, "PRAGMA synchronous=FULL", NULL, err) ||
            pragma(c, "PRAGMA foreign_keys=ON", NULL, err))
            goto fail;
    } else if (pragma(c, "PRAGMA query_only=1", NULL, err)) {
        goto fail;
    }
    return c;
fail:
    conn_free(c);
    return NULL;
}

store *sqlite_store_open(const char *path, sp_error *err)
{
    if (!path || !*path) {
        sp_error_set(err, SP_EBADINPUT, "store URL: sqlite: needs a file path");
        return NULL;
    }
    if (!sqlite3_threadsafe()) {
        sp_error_set(err, SP_ESTORE, "store: this SQLite library was built without threads");
        return NULL;
    }
    sqlite_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return NULL;
    }
    s->base.ops = &sqlite_ops;
    s->memory = strcmp(path, ":memory:") == 0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (!(s->writer = conn_open(s, true, err)) || sqlite_schema_migrate(s->writer, err)) {
        sqlite_close(&s->base);
        return NULL;
    }
    return &s->base;
}

void sqlite_close(store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    /* Readers first: the writer's close then checkpoints the WAL into the
     * main file and removes it, since it is the last connection. */
    for (int i = 0; i < SQLITE_POOL_MAX; i++)
        conn_free(s->readers[i]);
    conn_free(s->writer);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->path);
    free(s);
}

store_conn *sqlite_writer(store *base)
{
    return &((sqlite_store *)base)->writer->base;
}

store_conn *sqlite_reader(store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (s->memory)
        return &s->writer->base;    /* one database, one connection */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        sqlite_conn *c = s->free_list;
        if (c) {
            s->free_list = c->next_free;
            pthread_mutex_unlock(&s->mu);
            return &c->base;
        }
        if (s->opened < SQLITE_POOL_MAX)
            break;
        s->waiting++;
        pthread_cond_wait(&s->cv, &s->mu);
        s->waiting--;
    }
    s->opened++;                    /* reserved; opened outside the lock */
    pthread_mutex_unlock(&s->mu);

    sp_error err = SP_ERROR_INIT;
    sqlite_conn *c = conn_open(s, false, &err);
    pthread_mutex_lock(&s->mu);
    if (c) {
        /* Fewer than `opened` slots are filled, so a free one exists. */
        for (int i = 0; i < SQLITE_POOL_MAX; i++)
            if (!s->readers[i]) {
                s->readers[i] = c;
                break;
            }
    } else {
        s->opened--;
        pthread_cond_signal(&s->cv);    /* a waiter may try to open one */
        log_error("%s", err.message);
        sp_error_clear(&err);
    }
    pthread_mutex_unlock(&s->mu);
    return c ? &c->base : NULL;
}

void sqlite_release(store_conn *base)
{
    sqlite_conn *c = sqlite_cast(base);
    sqlite_store *s = (sqlite_store *)base->owner;
    if (c->writer)
        return;                     /* ":memory:" readers are the writer */
    /* A caller that returned early must not leave a read open: it would pin
     * an old snapshot and stop WAL checkpoints. */
    if (!sqlite3_get_autocommit(c->db))
        sqlite_exec_id(c, SQ_ROLLBACK, "ROLLBACK", NULL, "rollback");
    pthread_mutex_lock(&s->mu);
    c->next_free = s->free_list;
    s->free_list = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}
