/*
 * cmd_run.c - `spojit run start|show|ls|cancel`.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

/* The wait used by a bare `--wait`: the server's default cap on ?wait=. */
#define RUN_DEFAULT_WAIT_S 60
/* Added to a long-poll's wait for the HTTP timeout, so the server always
 * answers before the client gives up. */
#define RUN_WAIT_SLACK_S 30

/* "waiting for approval apr_…", "waiting until …", or the status itself. */
static void print_status(const json_t *run)
{
    const char *status = json_string_value(json_object_get(run, "status"));
    const json_t *w = json_object_get(run, "waiting");
    const char *type = json_string_value(json_object_get(w, "type"));
    char when[32];
    printf("%-9s %s", "status", status ? status : "?");
    if (type && strcmp(type, "approval") == 0)
        printf(" for approval %s", cli_str(w, "approval_id"));
    else if (type && json_is_string(json_object_get(w, "until")))
        printf(" (%s until %s)", type, cli_when(cli_str(w, "until"), when));
    else if (type)
        printf(" (%s)", type);
    putchar('\n');
}

static void print_json_field(const char *label, const json_t *v)
{
    if (!v || json_is_null(v))
        return;
    char *text = json_is_string(v) ? strdup(json_string_value(v))
                                   : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    printf("%-9s %s\n", label, text);
    free(text);
}

static void print_steps(const json_t *steps)
{
    static const cli_column cols[] = {
        { "STEP", "id" }, { "STATUS", "status" }, { "ATTEMPTS", "attempts" },
        { "STARTED", "started_at" }, { "ENDED", "ended_at" }, { "ERROR", "error.message" },
        { NULL, NULL },
    };
    if (json_array_size(steps) == 0)
        return;
    putchar('\n');
    cli_print_list(steps, cols, "");
}

/* The human form of one run: who, what, where it is, what it produced. */
static void print_run(const json_t *run)
{
    char *by = cli_cell(run, "started_by"), *at = cli_cell(run, "created_at");
    printf("%-9s %s\n", "run", cli_str(run, "id"));
    printf("%-9s %s version %lld\n", "workflow", cli_str(run, "workflow"),
           (long long)json_integer_value(json_object_get(run, "version")));
    print_status(run);
    printf("%-9s %s by %s\n", "started", at ? at : "-", by ? by : "-");
    free(by);
    free(at);
    print_json_field("output", json_object_get(run, "output"));
    print_json_field("error", json_object_get(run, "error"));
    print_steps(json_object_get(run, "steps"));
}

/* ---- start ---- */

static int run_start(const cli_ctx *ctx, const cli_args *a)
{
    char err[CLI_ERR_MAX];
    json_t *input = cli_input_parse(cli_arg_str(a, "--input"), err);
    if (!input) {
        cli_errorf("%s", err);
        return CLI_USAGE;
    }
    json_t *req_body = json_pack("{s:s, s:o}", "workflow", a->pos[0], "input", input);
    if (cli_arg_str(a, "--version"))
        json_object_set_new(req_body, "version",
                            json_integer(cli_arg_int(a, "--version", 0)));
    char *body = cli_json_body(req_body);
    json_decref(req_body);

    cli_buf path = { 0 };
    cli_buf_puts(&path, "/v1/runs");
    long wait = cli_arg_has(a, "--wait") ? cli_arg_int(a, "--wait", RUN_DEFAULT_WAIT_S) : 0;
    char wait_text[24];
    snprintf(wait_text, sizeof wait_text, "%ld", wait);
    cli_buf_query(&path, "wait", wait ? wait_text : NULL);

    cli_request req = { .method = "POST", .path = path.data, .content_type = "application/json",
                        .body = body, .body_len = strlen(body),
                        .idempotency_key = cli_arg_str(a, "--idempotency-key"),
                        .timeout_s = wait + RUN_WAIT_SLACK_S };
    int rc = cli_call_print(ctx, &req, print_run);
    free(body);
    cli_buf_free(&path);
    return rc;
}

/* ---- show ---- */

static int run_show(const cli_ctx *ctx, const cli_args *a)
{
    cli_buf path = { 0 };
    cli_buf_puts(&path, "/v1/runs/");
    cli_buf_escape(&path, a->pos[0]);
    cli_buf_query(&path, "wait", cli_arg_str(a, "--wait"));
    cli_request req = { .method = "GET", .path = path.data,
                        .timeout_s = cli_arg_int(a, "--wait", 0) + RUN_WAIT_SLACK_S };
    int rc = cli_call_print(ctx, &req, print_run);
    cli_buf_free(&path);
    return rc;
}

/* ---- ls ---- */

static void print_runs(const json_t *body)
{
    static const cli_column cols[] = {
        { "ID", "id" }, { "WORKFLOW", "workflow" }, { "VERSION", "version" },
        { "STATUS", "status" }, { "STARTED BY", "started_by" }, { "CREATED", "created_at" },
        { NULL, NULL },
    };
    cli_print_list(body, cols, "no runs");
}

static int run_ls(const cli_ctx *ctx, const cli_args *a)
{
    cli_buf path = { 0 };
    cli_buf_puts(&path, "/v1/runs");
    cli_buf_query(&path, "status", cli_arg_str(a, "--status"));
    cli_buf_query(&path, "workflow", cli_arg_str(a, "--workflow"));
    cli_buf_query(&path, "limit", cli_arg_str(a, "--limit"));
    cli_buf_query(&path, "cursor", cli_arg_str(a, "--cursor"));
    cli_request req = { .method = "GET", .path = path.data };
    int rc = cli_call_print(ctx, &req, print_runs);
    cli_buf_free(&path);
    return rc;
}

/* ---- cancel ---- */

static void print_canceled(const json_t *run)
{
    printf("%s %s\n", cli_str(run, "id"),
           cli_str(run, "status"));
}

static int run_cancel(const cli_ctx *ctx, const cli_args *a)
{
    cli_buf path = { 0 };
    cli_buf_puts(&path, "/v1/runs/");
    cli_buf_escape(&path, a->pos[0]);
    cli_buf_puts(&path, "/cancel");
    cli_request req = { .method = "POST", .path = path.data, .content_type = "application/json",
                        .body = "{}", .body_len = 2 };
    int rc = cli_call_print(ctx, &req, print_canceled);
    cli_buf_free(&path);
    return rc;
}

static const cli_flag start_flags[] = {
    { "--input", CLI_STR, "JSON|@FILE", "the run's input: JSON text, @FILE, or @- for stdin",
      NULL, true },
    { "--wait", CLI_OPT_INT, "SECONDS",
      "wait until the run stops running (default 60 s; the server may cap it)", NULL, false },
    { "--idempotency-key", CLI_STR, "K", "start at most one run for K (retries return it)",
      NULL, false },
    { "--version", CLI_INT, "N", "pin that workflow version instead of the newest", NULL, false },
    { NULL },
};

static const cli_flag show_flags[] = {
    { "--wait", CLI_INT, "SECONDS", "long-poll until the run is not running", NULL, false },
    { NULL },
};

static const cli_flag ls_flags[] = {
    { "--status", CLI_STR, "S", "only runs with that status",
      "running|waiting|completed|failed|canceled", false },
    { "--workflow", CLI_STR, "W", "only runs of that workflow", NULL, false },
    { "--limit", CLI_INT, "N", "at most N runs (newest first)", NULL, false },
    { "--cursor", CLI_STR, "C", "continue a listing where the last one stopped", NULL, false },
    { NULL },
};

static const cli_command commands[] = {
    { "run start", "WORKFLOW", "start a run and print it",
      "With --wait the command returns once the run is no longer running: completed,\n"
      "failed, canceled, or waiting (at an approval gate, a wait step or a retry).",
      start_flags, run_start },
    { "run show", "ID", "print a run: status, what it waits for, its steps", NULL,
      show_flags, run_show },
    { "run ls", "", "list runs, newest first", NULL, ls_flags, run_ls },
    { "run cancel", "ID", "cancel a run (admin)", NULL, NULL, run_cancel },
    { NULL },
};

const cli_group cli_group_run = { "Runs", commands };
