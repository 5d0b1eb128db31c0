/*
 * verify.c - recomputing the audit chain (GET /v1/audit/verify and
 * `spojit audit verify`, online or --db).
 *
 * Rows are streamed in seq order through store_audit_scan; memory stays
 * constant however long the trail. For each row, in this order:
 *
 *   1. seq must be the previous seq + 1 (the first is 1). A jump means rows
 *      were deleted: the first missing seq is named.
 *   2. prev_hash must equal the previous row's hash (64 zeros for row 1).
 *      A mismatch means a row before it was removed, inserted or moved.
 *   3. no field may hold a NUL byte: the trail never writes one, and the
 *      plain formula (below) would not see it.
 *   4. hash must equal the hash recomputed from the row's stored bytes:
 *      with the plain formula up to the anchor, keyed after it (audit.c).
 *      A mismatch means this row was edited. The row at the anchor must
 *      also have the hash sealed with the audit key.
 *
 * Before the scan, the anchor in meta audit_anchor must be the one sealed
 * with the audit key (key.c): moving it is how keyed rows would be passed
 * off as plain ones. After it, a trail that ends before the anchor lost
 * rows.
 *
 * The first failure is reported; the scan then only counts rows. An edit
 * that also recomputes the row's own hash is caught by check 2 on the next
 * row - after the anchor, such a recomputation needs the audit key, which
 * the database alone does not give.
 *
 * What a chain alone cannot show is the removal of the newest rows: the
 * trail simply ends earlier. So the trail must also reach two marks, each
 * a seq and the hash its row must have (head.c):
 *
 *   - the head the store keeps (meta audit_head, with a mac under the audit
 *     key), when the key document says it is kept;
 *   - a signed head saved elsewhere, when the caller gives one (--head).
 *
 * The recorded head is read before the scan; rows appended by a live
 * server after that read only lengthen the trail, which is fine: a mark
 * is a point the trail must reach, not its end.
 */
#include "audit/audit_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const audit_key *key;       /* NULL: none made yet, every row must be plain */
    int64_t anchor;             /* the last seq of the plain part */
    char anchor_hash[65];
    int64_t rows;
    int64_t expect;             /* seq the next row must have */
    char prev[65];              /* hash the next row must name as prev_hash */
    char head[65];              /* hash stored in the last row seen */
    struct {
        int64_t seq;
        char hash[65];
        const char *what;
        bool reached;
    } marks[2];                 /* points the trail must reach (above) */
    int nmarks;
    int64_t saved_seq;          /* the saved head's seq; -1 when none was given */
    int64_t bad_seq;            /* 0 while the chain holds */
    char reason[240];
    bool oom;
} verify_ctx;

static void fail(verify_ctx *v, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(verify_ctx *v, int64_t seq, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    v->bad_seq = seq;
    vsnprintf(v->reason, sizeof v->reason, fmt, ap);
    va_end(ap);
}

static bool is_hash(const char *s, size_t len, const char *want)
{
    return s && len == 64 && memcmp(s, want, 64) == 0;
}

/* The first field holding a NUL byte, or NULL. */
static const char *nul_field(const store_audit_row *row)
{
    static const char *const names[] = { "actor", "type", "run_id", "approval_id", "data",
                                         "prev_hash", "hash" };
    const char *s[] = { row->actor, row->type, row->run_id, row->approval_id, row->data,
                        row->prev_hash, row->hash };
    size_t n[] = { row->actor_len, row->type_len, row->run_id_len, row->approval_id_len,
                   row->data_len, row->prev_hash_len, row->hash_len };
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        if (s[i] && memchr(s[i], '\0', n[i]))
            return names[i];
    return NULL;
}

static int verify_row(void *ctx, const store_audit_row *row)
{
    verify_ctx *v = ctx;
    v->rows++;
    snprintf(v->head, sizeof v->head, "%.*s", (int)(row->hash ? row->hash_len : 0),
             row->hash ? row->hash : "");
    if (v->bad_seq)
        return 0;                           /* only counting now */
    if (row->seq != v->expect) {
        if (row->seq > v->expect)
            fail(v, v->expect, "row %lld is missing (the next row is %lld): rows were deleted",
                 (long long)v->expect, (long long)row->seq);
        else
            fail(v, row->seq, "row %lld is out of sequence (expected %lld)",
                 (long long)row->seq, (long long)v->expect);
        return 0;
    }
    if (!is_hash(row->prev_hash, row->prev_hash_len, v->prev)) {
        if (row->seq == 1)
            fail(v, row->seq, "row 1: prev_hash is not the genesis value (64 zeros)");
        else
            fail(v, row->seq, "row %lld: prev_hash does not match the hash of row %lld "
                 "(a row was removed, inserted or reordered)", (long long)row->seq,
                 (long long)row->seq - 1);
        return 0;
    }
    const char *nul = nul_field(row);
    if (nul) {
        fail(v, row->seq, "row %lld: %s holds a NUL byte (the row was edited)",
             (long long)row->seq, nul);
        return 0;
    }
    char hash[65];
    if (row->seq <= v->anchor) {
        if (audit_row_hash_plain(v->prev, row, hash) != 0) {
            v->oom = true;
            return 1;
        }
    } else if (v->key) {
        audit_row_hash_keyed(v->key, v->prev, row, hash);
    } else {
        fail(v, row->seq, "row %lld comes after the anchor (seq %lld), so it was hashed with "
             "the audit key, but the database holds none (meta " AUDIT_KEY_DOC " was removed)",
             (long long)row->seq, (long long)v->anchor);
        return 0;
    }
    if (!is_hash(row->hash, row->hash_len, hash)) {
        fail(v, row->seq, "row %lld: the content does not match its hash (the row was edited)",
             (long long)row->seq);
        return 0;
    }
    if (row->seq == v->anchor && strcmp(hash, v->anchor_hash) != 0) {
        fail(v, row->seq, "row %lld: its hash is not the one the keyed chain was anchored to "
             "(the rows before the keyed chain were rewritten)", (long long)row->seq);
        return 0;
    }
    for (int i = 0; i < v->nmarks; i++) {
        if (v->marks[i].seq != row->seq)
            continue;
        v->marks[i].reached = true;
        if (strcmp(hash, v->marks[i].hash) != 0) {
            fail(v, row->seq, "row %lld: its hash is not the one %s names (the trail was "
                 "rewritten after that head was taken)", (long long)row->seq,
                 v->marks[i].what);
            return 0;
        }
    }
    memcpy(v->prev, hash, sizeof v->prev);
    v->expect++;
    return 0;
}

static void add_mark(verify_ctx *v, int64_t seq, const char *hash, const char *what)
{
    v->marks[v->nmarks].seq = seq;
    memcpy(v->marks[v->nmarks].hash, hash, 65);
    v->marks[v->nmarks].what = what;
    v->marks[v->nmarks].reached = seq == 0;
    if (seq == 0 && strcmp(hash, AUDIT_GENESIS) != 0 && !v->bad_seq)
        fail(v, 1, "%s is at seq 0 but not the genesis hash", what);
    v->nmarks++;
}

/* The marks: the head the store keeps, then the saved one. A problem with
 * either is a failed check, not an error of the call. */
static sp_code load_marks(store_conn *c, verify_ctx *v, const json_t *saved, int64_t *recorded,
                          sp_error *err)
{
    int64_t seq;
    char hash[65];
    *recorded = -1;
    if (v->key && v->key->head_kept) {
        sp_code rc = audit_head_read(c, v->key, &seq, hash, err);
        if (rc == SP_OK) {
            add_mark(v, seq, hash, "the head the store keeps (meta " AUDIT_HEAD_META ")");
            *recorded = seq;
        } else if (rc == SP_ENOTFOUND || rc == SP_ESTORE) {
            if (!v->bad_seq)
                fail(v, 1, "%s", rc == SP_ENOTFOUND
                     ? "meta " AUDIT_HEAD_META " is missing, though the audit key says the "
                       "store keeps the head: the database was altered"
                     : err->message);
            sp_error_clear(err);
        } else {
            return rc;
        }
    }
    if (saved) {
        char why[200];
        if (audit_head_check(v->key, saved, &seq, hash, why, sizeof why)) {
            add_mark(v, seq, hash, "the saved head");
            v->saved_seq = seq;
        } else if (!v->bad_seq) {
            const json_t *s = json_object_get(saved, "seq");
            fail(v, json_is_integer(s) && json_integer_value(s) > 0 ? json_integer_value(s) : 1,
                 "%s", why);
        }
    }
    return SP_OK;
}

/* Sets v's anchor: the one sealed with the key, which meta audit_anchor
 * must repeat; without a key, meta audit_anchor's. */
static sp_code load_anchor(store_conn *c, verify_ctx *v, sp_error *err)
{
    int64_t seq = 0;
    char hash[65] = "";
    sp_code rc = audit_anchor_read(c, &seq, hash, err);
    if (rc && rc != SP_ENOTFOUND)
        return rc;
    bool found = rc == SP_OK;
    sp_error_clear(err);
    if (v->key) {
        v->anchor = v->key->anchor_seq;
        memcpy(v->anchor_hash, v->key->anchor_hash, sizeof v->anchor_hash);
        if (!found || seq != v->anchor || strcmp(hash, v->anchor_hash) != 0)
            fail(v, v->anchor + 1, "meta " AUDIT_ANCHOR_META " %s the anchor sealed with the "
                 "audit key (the keyed chain begins after seq %lld): the database was altered",
                 found ? "does not match" : "is missing, unlike", (long long)v->anchor);
    } else if (found) {
        v->anchor = seq;
        memcpy(v->anchor_hash, hash, sizeof v->anchor_hash);
    } else {
        memcpy(v->anchor_hash, AUDIT_GENESIS, sizeof v->anchor_hash);
        fail(v, 1, "meta " AUDIT_ANCHOR_META " and the audit key are both missing: the "
             "database was altered");
    }
    if (v->anchor == 0 && strcmp(v->anchor_hash, AUDIT_GENESIS) != 0 && !v->bad_seq)
        fail(v, 1, "the anchor at seq 0 is not the genesis hash: the database was altered");
    return SP_OK;
}

sp_code audit_verify(store_conn *c, const audit_key *key, const json_t *saved_head,
                     json_t **result, sp_error *err)
{
    verify_ctx v = { .key = key, .expect = 1, .saved_seq = -1 };
    int64_t recorded;
    memcpy(v.prev, AUDIT_GENESIS, sizeof v.prev);
    sp_code rc = load_anchor(c, &v, err);
    if (rc || (rc = load_marks(c, &v, saved_head, &recorded, err)))
        return rc;
    store_audit_filter all = { 0 };
    if ((rc = store_audit_scan(c, &all, verify_row, &v, err)))
        return rc;
    if (v.oom)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    if (!v.bad_seq && v.expect <= v.anchor)
        fail(&v, v.expect, "row %lld is missing: the trail ends before its anchor (seq %lld), "
             "so rows were deleted", (long long)v.expect, (long long)v.anchor);
    for (int i = 0; i < v.nmarks && !v.bad_seq; i++)
        if (!v.marks[i].reached)
            fail(&v, v.expect, "the trail ends at seq %lld, before %s at seq %lld: rows %lld "
                 "to %lld were deleted", (long long)v.expect - 1, v.marks[i].what,
                 (long long)v.marks[i].seq, (long long)v.expect, (long long)v.marks[i].seq);
    json_t *r = json_pack("{s:b, s:I, s:s, s:I, s:s?}", "ok", v.bad_seq == 0,
                          "rows", (json_int_t)v.rows, "head", v.head,
                          "keyed_from", (json_int_t)v.anchor + 1,
                          "key_id", key ? key->id : NULL);
    if (!r)
        return sp_error_set(err, SP_ENOMEM, "out of memory");
    if (recorded >= 0)
        json_object_set_new(r, "recorded_head", json_integer(recorded));
    if (v.saved_seq >= 0)
        json_object_set_new(r, "saved_head", json_integer(v.saved_seq));
    if (v.bad_seq) {
        json_object_set_new(r, "first_bad_seq", json_integer(v.bad_seq));
        json_object_set_new(r, "reason", json_string(v.reason));
    }
    *result = r;
    return SP_OK;
}
