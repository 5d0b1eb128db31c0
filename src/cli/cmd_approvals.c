/*
 * cmd_approvals.c - the approver's commands: `spojit approvals ls|show`,
 * `spojit approve`, `spojit reject`; and the admin's `spojit approvals
 * reassign|link`.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

/* ---- ls ---- */

static void print_inbox(const json_t *body)
{
    static const cli_column cols[] = {
        { "ID", "id" }, { "STATUS", "status" }, { "TITLE", "title" },
        { "STEP", "step" }, { "ASSIGNEES", "assignees" }, { "DUE", "due_at" },
        { "CREATED", "created_at" }, { NULL, NULL },
    };
    cli_print_list(body, cols, "nothing to decide");
}

static int approvals_ls(const cli_ctx *ctx, const cli_args *a)
{
    cli_buf path = { 0 };
    cli_buf_puts(&path, "/v1/approvals");
    cli_buf_query(&path, "status", cli_arg_has(a, "--all") ? "any" : "pending");
    cli_buf_query(&path, "assignee", "me");
    cli_buf_query(&path, "limit", cli_arg_str(a, "--limit"));
    cli_buf_query(&path, "cursor", cli_arg_str(a, "--cursor"));
    cli_request req = { .method = "GET", .path = path.data };
    int rc = cli_call_print(ctx, &req, print_inbox);
    cli_buf_free(&path);
    return rc;
}

/* ---- show ---- */

/* A block of JSON under a label, indented, so a proposal reads as data. */
static void print_block(const char *label, const json_t *v)
{
    if (!v || json_is_null(v))
        return;
    printf("\n%s\n", label);
    if (json_is_string(v)) {
        printf("  %s\n", json_string_value(v));
        return;
    }
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        printf("  %s\n", line);
    free(text);
}

static void print_line(const char *label, const json_t *gate, const char *key)
{
    char *v = cli_cell(gate, key);
    if (v && *v)
        printf("%-10s %s\n", label, v);
    free(v);
}

static void print_policy(const json_t *policy)
{
    if (!json_is_object(policy))
        return;
    json_t *n = json_object_get(policy, "approvals");
    char *count = cli_text(n);
    const char *comment = json_string_value(json_object_get(policy, "require_comment"));
    printf("%-10s %s approval%s needed%s%s%s\n", "policy", count ? count : "1",
           json_integer_value(n) == 1 ? "" : "s",
           json_is_false(json_object_get(policy, "forbid_self_approval"))
               ? "" : ", the run's starter may not decide",
           comment ? ", comment required: " : "", comment ? comment : "");
    free(count);
}

static void print_decisions(const json_t *decisions)
{
    if (json_array_size(decisions) == 0)
        return;
    printf("\ndecisions\n");
    size_t i;
    json_t *d;
    json_array_foreach(decisions, i, d) {
        char *at = cli_cell(d, "at"), *via = cli_cell(d, "via");
        printf("  %s %s %s%s%s\n", at ? at : "-", cli_str(d, "by"),
               cli_str(d, "decision"), via ? " via " : "",
               via ? via : "");
        const char *comment = json_string_value(json_object_get(d, "comment"));
        if (comment && *comment)
            printf("    \"%s\"\n", comment);
        json_t *edits = json_object_get(d, "edits");
        if (json_object_size(edits)) {
            char *text = json_dumps(edits, JSON_COMPACT);
            printf("    edits %s\n", text);
            free(text);
        }
        free(at);
        free(via);
    }
}

/* A gate opened by a revision after a rejection: what was rejected, by
 * whom and why, so the approver sees what changed. */
static void print_revision(const json_t *revision)
{
    if (!json_is_object(revision))
        return;
    const json_t *rejected = json_object_get(revision, "rejected");
    char *number = cli_text(json_object_get(revision, "number"));
    char *at = cli_cell(rejected, "at");
    printf("\nrevision %s, after a rejection of %s by %s%s%s\n", number ? number : "-",
           cli_str(rejected, "approval_id"),
           json_string_value(json_object_get(rejected, "by"))
               ? json_string_value(json_object_get(rejected, "by")) : "nobody (timed out)",
           at && *at ? " at " : "", at && *at ? at : "");
    const char *comment = json_string_value(json_object_get(rejected, "comment"));
    if (comment && *comment)
        printf("  \"%s\"\n", comment);
    free(number);
    free(at);
    print_block("rejected proposal", json_object_get(rejected, "proposal"));
}

/* The human form of a gate: everything an approver needs to decide. */
static void print_gate(const json_t *g)
{
    printf("%-10s %s (%s%s)\n", "approval", cli_str(g, "id"),
           cli_str(g, "status"),
           json_is_true(json_object_get(g, "auto")) ? ", automatically" : "");
    print_line("title", g, "title");
    print_line("summary", g, "summary");
    print_line("urgency", g, "urgency");
    print_line("run", g, "run_id");
    print_line("step", g, "step");
    print_line("assignees", g, "assignees");
    print_policy(json_object_get(g, "policy"));
    print_line("due", g, "due_at");
    print_line("opened", g, "created_at");
    print_line("resolved", g, "resolved_at");
    print_revision(json_object_get(g, "revision"));
    print_block("proposal", json_object_get(g, "proposal"));
    /* What --edit may change, and the bounds the server checks it against. */
    const json_t *editable = json_object_get(g, "editable");
    if (json_object_size(editable) > 0)
        print_block("editable", editable);
    print_block("reasoning", json_object_get(g, "reasoning"));
    print_block("context", json_object_get(g, "context"));
    print_decisions(json_object_get(g, "decisions"));
}

static int approvals_show(const cli_ctx *ctx, const cli_args *a)
{
    cli_buf path = { 0 };
    cli_buf_puts(&path, "/v1/approvals/");
    cli_buf_escape(&path, a->pos[0]);
    cli_request req = { .method = "GET", .path = path.data };
    int rc = cli_call_print(ctx, &req, print_gate);
    cli_buf_free(&path);
    return rc;
}

/* ---- approve, reject ---- */

/* After a decision the gate is resolved, or still pending when its policy
 * needs more approvers; say which, since "approved" alone would mislead. */
static void print_decided(const json_t *g)
{
    const char *id = cli_str(g, "id");
    const char *status = json_string_value(json_object_get(g, "status"));
    if (status && strcmp(status, "pending") == 0)
        printf("%s: decision recorded; the gate still waits for more approvals\n", id);
    else
        printf("%s %s\n", id, status ? status : "decided");
}

static int decide(const cli_ctx *ctx, const cli_args *a, const char *decision)
{
    json_t *body = json_pack("{s:s}", "decision", decision);
    const char *comment = cli_arg_str(a, "--comment");
    if (comment)
        json_object_set_new(body, "comment", json_string(comment));
    json_t *edits = json_object();
    const char *spec;
    for (int i = 0; (spec = cli_arg_nth(a, "--edit", i)); i++) {
        char err[CLI_ERR_MAX];
        if (cli_edit_add(edits, spec, err) < 0) {
            cli_errorf("%s", err);
            json_decref(edits);
            json_decref(body);
            return CLI_USAGE;
        }
    }
    if (json_object_size(edits))
        json_object_set(body, "edits", edits);
    json_decref(edits);
    char *text = cli_json_body(body);
    json_decref(body);

    cli_buf path = { 0 };
    cli_buf_puts(&path, "/v1/approvals/");
    cli_buf_escape(&path, a->pos[0]);
    cli_buf_puts(&path, "/decisions");
    cli_request req = { .method = "POST", .path = path.data, .content_type = "application/json",
                        .body = text, .body_len = strlen(text) };
    int rc = cli_call_print(ctx, &req, print_decided);
    cli_buf_free(&path);
    free(text);
    return rc;
}

static int approve(const cli_ctx *ctx, const cli_args *a) { return decide(ctx, a, "approve"); }
static int reject(const cli_ctx *ctx, const cli_args *a) { return decide(ctx, a, "reject"); }

/* ---- reassign, link (admin) ---- */

/* "/v1/approvals/ID" + tail, the id escaped: malloc'd. */
static char *approval_path(const char *id, const char *tail)
{
    cli_buf path = { 0 };
    cli_buf_puts(&path, "/v1/approvals/");
    cli_buf_escape(&path, id);
    cli_buf_puts(&path, tail);
    return path.data;
}

static void print_reassigned(const json_t *g)
{
    char *to = cli_cell(g, "assignees");
    printf("%s reassigned to %s\n", cli_str(g, "id"), to ? to : "-");
    free(to);
}

static int approvals_reassign(const cli_ctx *ctx, const cli_args *a)
{
    json_t *to = json_array();
    const char *v;
    for (int i = 0; (v = cli_arg_nth(a, "--to", i)); i++)
        json_array_append_new(to, json_string(v));
    char *path = approval_path(a->pos[0], "/reassign");
    int rc = cli_send_json(ctx, "POST", path, json_pack("{s:o}", "to", to), print_reassigned);
    free(path);
    return rc;
}

/* The base a link's path is put after: --public-url, else
 * SPOJIT_PUBLIC_URL, else none (the path is printed as the API gave it). */
static const char *public_url;

/* The link alone on stdout, so `URL=$(spojit approvals link ...)` works. */
static void print_link(const json_t *l)
{
    const char *path = json_string_value(json_object_get(l, "path"));
    size_t n = public_url ? strlen(public_url) : 0;
    while (n > 0 && public_url[n - 1] == '/')   /* the path starts with '/' */
        n--;
    printf("%.*s%s\n", (int)n, n ? public_url : "", path ? path : "");
    const char *expires = json_string_value(json_object_get(l, "expires_at"));
    char when[32];
    fprintf(stderr, "a link for %s to %s %s; it works once, until %s\n", cli_str(l, "for"),
            cli_str(l, "decision"), cli_str(l, "approval_id"),
            expires ? cli_when(expires, when) : "-");
}

static int approvals_link(const cli_ctx *ctx, const cli_args *a)
{
    const char *source = "--public-url";
    public_url = cli_arg_str(a, "--public-url");
    if (!public_url || !*public_url) {
        source = "SPOJIT_PUBLIC_URL";
        public_url = getenv("SPOJIT_PUBLIC_URL");
    }
    if (public_url && *public_url && strncmp(public_url, "http://", 7) != 0 &&
        strncmp(public_url, "https://", 8) != 0) {
        cli_errorf("%s '%s': expected an http:// or https:// URL", source, public_url);
        return CLI_USAGE;
    }
    json_t *body = json_pack("{s:s, s:s}", "user", cli_arg_str(a, "--user"), "decision",
                             cli_arg_str(a, "--decision"));
    char *path = approval_path(a->pos[0], "/links");
    int rc = cli_send_json(ctx, "POST", path, body, print_link);
    free(path);
    return rc;
}

static const cli_flag reassign_flags[] = {
    { "--to", CLI_LIST, "user:NAME|team:NAME", "who decides from now on (replaces the assignees)",
      NULL, true },
    { NULL },
};

static const cli_flag link_flags[] = {
    { "--user", CLI_STR, "NAME", "the approver the link is for (a current assignee)", NULL, true },
    { "--decision", CLI_STR, "approve|reject", "the one decision the link makes",
      "approve|reject", true },
    { "--public-url", CLI_STR, "URL",
      "the server's address as the approver reaches it, put before the link's path "
      "(overrides SPOJIT_PUBLIC_URL)", NULL, false },
    { NULL },
};

static const cli_flag ls_flags[] = {
    { "--all", CLI_BOOL, NULL, "every status, not only pending", NULL, false },
    { "--limit", CLI_INT, "N", "at most N approvals (newest first)", NULL, false },
    { "--cursor", CLI_STR, "C", "continue a listing where the last one stopped", NULL, false },
    { NULL },
};

static const cli_flag approve_flags[] = {
    { "--comment", CLI_STR, "TEXT", "why (kept in the audit trail)", NULL, false },
    { "--edit", CLI_LIST, "/PTR=VALUE",
      "change the proposal at an editable pointer; VALUE is JSON if it parses, else text",
      NULL, false },
    { NULL },
};

static const cli_flag reject_flags[] = {
    { "--comment", CLI_STR, "TEXT", "why (kept in the audit trail)", NULL, true },
    { NULL },
};

static const cli_command commands[] = {
    { "approvals ls", "", "your inbox: the approvals assigned to you that are pending",
      NULL, ls_flags, approvals_ls },
    { "approvals show", "ID", "an approval with its proposal, reasoning, context and decisions",
      NULL, NULL, approvals_show },
    { "approve", "ID", "approve, optionally with edits to the proposal",
      "Example: spojit approve apr_01JD... --edit /amount=550 --comment 'capped at 550'\n"
      "--edit /note='call me' sets a string; --edit '/code=\"042\"' forces one that looks\n"
      "like a number. Only the pointers the gate lists as editable are accepted.",
      approve_flags, approve },
    { "reject", "ID", "reject; the run takes its on_reject path", NULL, reject_flags, reject },
    { "approvals reassign", "ID", "admin: replace who may decide a pending approval",
      "Example: spojit approvals reassign apr_01JD... --to user:bob --to team:finance",
      reassign_flags, approvals_reassign },
    { "approvals link", "ID", "admin: a signed link that makes one decision for one approver",
      "Prints the link: SPOJIT_PUBLIC_URL (or --public-url) followed by the path the\n"
      "server issued (/l/TOKEN), or the path alone when neither is set. Opening it\n"
      "shows a confirmation page; the decision is made when the approver confirms.",
      link_flags, approvals_link },
    { NULL },
};

const cli_group cli_group_approvals = { "Approvals", commands };
