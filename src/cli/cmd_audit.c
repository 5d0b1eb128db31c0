/*
 * cmd_audit.c - `spojit audit verify|head|export|reveal-key`.
 *
 * export streams: rows go to stdout as they arrive, so a trail of millions
 * of rows never sits in memory. It asks for JSONL and pages with ?after=SEQ
 * until a page brings nothing new, which works whether or not the server
 * caps a response; CSV is made here from the JSONL rows (cli_audit_csv_row),
 * so its columns are the same whichever server version answers.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

int cli_audit_report(const json_t *result, bool json)
{
    bool ok = json_is_true(json_object_get(result, "ok"));
    if (json) {
        char *text = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
        puts(text);
        free(text);
    } else if (ok) {
        const char *head = json_string_value(json_object_get(result, "head"));
        printf("ok: %lld rows, head %s\n",
               (long long)json_integer_value(json_object_get(result, "rows")),
               head && *head ? head : "(empty trail)");
    } else {
        const char *reason = json_string_value(json_object_get(result, "reason"));
        printf("BROKEN at seq %lld: %s\n",
               (long long)json_integer_value(json_object_get(result, "first_bad_seq")),
               reason ? reason : "the hash chain does not match");
    }
    return ok ? CLI_OK : CLI_FAIL;
}

/* The signed head in --head FILE: 0, or -1 after saying why. */
static int read_head(const char *path, json_t **head)
{
    sp_error err = SP_ERROR_INIT;
    if (audit_head_file_last(path, head, &err) == SP_OK)
        return 0;
    cli_errorf("--head: %s", err.message);
    sp_error_clear(&err);
    return -1;
}

static int cmd_verify(const cli_ctx *ctx, const cli_args *a)
{
    const char *db = cli_arg_str(a, "--db"), *head_file = cli_arg_str(a, "--head");
    json_t *head = NULL, *result = NULL;
    if (head_file && read_head(head_file, &head) != 0)
        return CLI_FAIL;
    int rc;
    if (db) {
        rc = cli_audit_verify_offline(db, cli_arg_str(a, "--master-key-file"), head, ctx->json);
    } else if (head) {
        json_t *body = json_pack("{s:O}", "head", head);
        char *text = cli_json_body(body);
        json_decref(body);
        cli_request req = { .method = "POST", .path = "/v1/audit/verify", .timeout_s = -1,
                            .content_type = "application/json", .body = text,
                            .body_len = strlen(text) };
        rc = cli_call(ctx, &req, &result);
        free(text);
    } else {
        cli_request req = { .method = "GET", .path = "/v1/audit/verify", .timeout_s = -1 };
        rc = cli_call(ctx, &req, &result);
    }
    if (!db && rc == CLI_OK)
        rc = cli_audit_report(result, ctx->json);
    json_decref(result);
    json_decref(head);
    return rc;
}

/* `audit head`: the signed head as one JSON line, whatever --json says: it
 * is meant to be saved (`spojit audit head >> heads.jsonl`). */
static int cmd_head(const cli_ctx *ctx, const cli_args *a)
{
    cli_request req = { .method = "GET", .path = "/v1/audit/head" };
    json_t *head;
    if (cli_call(ctx, &req, &head) != CLI_OK)
        return CLI_FAIL;
    char *text = json_dumps(head, JSON_COMPACT);
    puts(text);
    free(text);
    json_decref(head);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

static int cmd_reveal_key(const cli_ctx *ctx, const cli_args *a)
{
    return cli_audit_reveal_key(cli_arg_str(a, "--db"), cli_arg_str(a, "--master-key-file"));
}

/* ---- export ---- */

typedef struct {
    bool csv;
    cli_buf line;           /* a partial line carried between chunks */
    json_int_t after;       /* rows at or before this seq were printed already */
    json_int_t last;        /* the highest seq printed */
    long fresh;             /* rows printed from the current page */
} export_state;

static void emit_row(export_state *st, const json_t *row, const char *raw, size_t len)
{
    json_int_t seq = json_integer_value(json_object_get(row, "seq"));
    if (seq && seq <= st->after)
        return;             /* a server that ignores ?after= resends them */
    if (st->csv) {
        cli_buf out = { 0 };
        cli_audit_csv_row(&out, row);
        fwrite(out.data, 1, out.len, stdout);
        cli_buf_free(&out);
    } else if (raw) {
        fwrite(raw, 1, len, stdout);
        fputc('\n', stdout);
    } else {
        char *text = json_dumps(row, JSON_COMPACT);
        puts(text);
        free(text);
    }
    if (seq > st->last)
        st->last = seq;
    st->fresh++;
}

static void emit_line(export_state *st, const char *text, size_t len)
{
    while (len && (text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    if (!len)
        return;
    json_t *v = json_loadb(text, len, 0, NULL);
    json_t *items = cli_items(v);
    if (items) {            /* a server that answered {items: [...]} */
        size_t i;
        json_t *row;
        json_array_foreach(items, i, row)
            emit_row(st, row, NULL, 0);
    } else if (v) {
        emit_row(st, v, text, len);
    } else {
        fprintf(stderr, "spojit: skipping a line that is not JSON: %.*s\n", (int)len, text);
    }
    json_decref(v);
}

static size_t on_chunk(const char *data, size_t len, void *ctx)
{
    export_state *st = ctx;
    cli_buf_add(&st->line, data, len);
    size_t start = 0;
    for (size_t i = 0; i < st->line.len; i++)
        if (st->line.data[i] == '\n') {
            emit_line(st, st->line.data + start, i - start);
            start = i + 1;
        }
    memmove(st->line.data, st->line.data + start, st->line.len - start + 1);
    st->line.len -= start;
    return len;
}

static int audit_export(const cli_ctx *ctx, const cli_args *a)
{
    const char *format = cli_arg_str(a, "--format");
    if (ctx->json && format && strcmp(format, "csv") == 0) {
        cli_errorf("--json and --format csv disagree: pick one");
        return CLI_USAGE;
    }
    export_state st = { .csv = format && strcmp(format, "csv") == 0 };
    if (st.csv)
        printf("%s\n", cli_audit_csv_head);
    int rc = CLI_OK;
    for (;;) {
        cli_buf path = { 0 };
        char after[24];
        snprintf(after, sizeof after, "%lld", (long long)st.after);
        cli_buf_puts(&path, "/v1/audit");
        cli_buf_query(&path, "format", "jsonl");
        cli_buf_query(&path, "run_id", cli_arg_str(a, "--run"));
        cli_buf_query(&path, "after", st.after ? after : NULL);
        cli_request req = { .method = "GET", .path = path.data, .timeout_s = -1,
                            .sink = on_chunk, .sink_ctx = &st };
        cli_response resp;
        st.fresh = 0;
        rc = cli_http(ctx, &req, &resp);
        cli_buf_free(&path);
        if (rc == CLI_OK && (resp.status < 200 || resp.status >= 300)) {
            cli_report_error(ctx, &resp);
            rc = CLI_FAIL;
        }
        cli_buf_free(&resp.body);
        if (rc != CLI_OK)
            break;
        emit_line(&st, st.line.data ? st.line.data : "", st.line.len);  /* no final newline */
        st.line.len = 0;
        if (st.fresh == 0 || st.last <= st.after)
            break;
        st.after = st.last;
    }
    cli_buf_free(&st.line);
    if (fflush(stdout) != 0) {
        cli_errorf("writing the export failed");
        rc = CLI_FAIL;
    }
    return rc;
}

static const cli_flag verify_flags[] = {
    { "--db", CLI_STR, "URL", "check a store directly, without a server (sqlite:PATH)",
      NULL, false },
    { "--head", CLI_STR, "FILE", "a signed head saved earlier (`spojit audit head`, or an "
      "anchor file: its last line): the trail must still extend it", NULL, false },
    { "--master-key-file", CLI_STR, "PATH", "with --db: the server's master key file "
      "(default: SPOJIT_MASTER_KEY, else the database path + .key)", NULL, false },
    { NULL },
};

static const cli_flag reveal_flags[] = {
    { "--db", CLI_STR, "URL", "the store (sqlite:PATH)", NULL, true },
    { "--master-key-file", CLI_STR, "PATH", "the server's master key file (default: "
      "SPOJIT_MASTER_KEY, else the database path + .key)", NULL, false },
    { NULL },
};

static const cli_flag export_flags[] = {
    { "--format", CLI_STR, "jsonl|csv", "one JSON object per line (default), or CSV",
      "jsonl|csv", false },
    { "--run", CLI_STR, "ID", "only the rows of that run", NULL, false },
    { NULL },
};

static const cli_command commands[] = {
    { "audit verify", "", "recompute the audit hash chain and name the first bad row",
      "Prints \"ok: N rows, head HASH\", or \"BROKEN at seq S: REASON\" and exits 1.\n"
      "With --db the store is opened directly, so a copy of the database can be\n"
      "checked on another machine with no server running. The chain is keyed with\n"
      "a key the database holds sealed with the master key, so --db needs the\n"
      "server's master key: SPOJIT_MASTER_KEY, --master-key-file (or\n"
      "SPOJIT_MASTER_KEY_FILE), else the database path + .key.\n"
      "The trail must reach the head the store keeps (deleting the newest rows\n"
      "fails) and, with --head, a signed head saved earlier, with the same hash.",
      verify_flags, cmd_verify },
    { "audit head", "", "print the trail's head, signed: save it off the machine",
      "One JSON line {seq, hash, at, key_id, signature}: Ed25519 over\n"
      "\"spojit-audit-head-v1 <seq> <hash> <at>\", the public key at GET /v1/audit/key.\n"
      "Keep it elsewhere; `spojit audit verify --head FILE` later fails when the\n"
      "trail no longer extends it (rows removed or rewritten since).",
      NULL, cmd_head },
    { "audit export", "", "write the audit trail to stdout",
      "CSV columns: seq,at,actor,type,run_id,approval_id,data,prev_hash,hash, where data\n"
      "is the canonical JSON the row's hash covers.",
      export_flags, audit_export },
    { "audit reveal-key", "", "print the audit key, to check the trail with other tools",
      "Opens the store directly (like verify --db) and prints {algorithm, key_id, key,\n"
      "anchor_seq, anchor_hash}: the HMAC-SHA-256 key of every row after the anchor.\n"
      "With it, `audit export` can be checked without spojit (docs/internals/audit.md\n"
      "gives the formula). Whoever holds it can recompute row hashes: give it only to\n"
      "whom you would give the master key. Signed heads stay unforgeable.",
      reveal_flags, cmd_reveal_key },
    { NULL },
};

const cli_group cli_group_audit = { "Audit", commands };
