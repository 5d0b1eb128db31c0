/*
 * cmd_workflow.c - `spojit workflow apply|ls|show`.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- apply ---- */

static const char *content_type_of(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcasecmp(path + n - 5, ".json") == 0 ? "application/json"
                                                            : "application/yaml";
}

/*
 * A 422 carries every problem of the definition in error.details as
 * [{path, line, column, message}]; they print like compiler diagnostics,
 * "FILE:LINE:COLUMN: PATH: MESSAGE", so editors can jump to them.
 * Returns the number printed.
 */
static int print_problems(const char *file, const cli_response *resp)
{
    json_t *body = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
    json_t *details = json_object_get(json_object_get(body, "error"), "details");
    int n = 0;
    size_t i;
    json_t *d;
    json_array_foreach(details, i, d) {
        const char *path = json_string_value(json_object_get(d, "path"));
        const char *msg = json_string_value(json_object_get(d, "message"));
        json_int_t line = json_integer_value(json_object_get(d, "line"));
        json_int_t col = json_integer_value(json_object_get(d, "column"));
        if (line > 0)
            fprintf(stderr, "%s:%lld:%lld: ", file, (long long)line, (long long)(col > 0 ? col : 1));
        else
            fprintf(stderr, "%s: ", file);
        if (path && *path)
            fprintf(stderr, "%s: ", path);
        fprintf(stderr, "%s\n", msg ? msg : "invalid");
        n++;
    }
    json_decref(body);
    return n;
}

/* Warnings of a successful apply ([{path, message}], such as an assignee
 * that names nobody) go to stderr as FILE: PATH: warning: MESSAGE; the
 * apply still succeeded, so the exit status stays 0. */
static void print_warnings(const char *file, const json_t *body)
{
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(body, "warnings"), i, w) {
        const char *path = json_string_value(json_object_get(w, "path"));
        const char *msg = json_string_value(json_object_get(w, "message"));
        fprintf(stderr, "%s: %s%swarning: %s\n", file, path ? path : "", path ? ": " : "",
                msg ? msg : "");
    }
}

static void print_applied(const json_t *body)
{
    printf("applied %s version %lld\n", cli_str(body, "name"),
           (long long)json_integer_value(json_object_get(body, "version")));
}

static int workflow_apply(const cli_ctx *ctx, const cli_args *a)
{
    const char *file = a->pos[0];
    size_t len = 0;
    char *text = cli_read_file(file, &len);
    if (!text) {
        cli_errorf("cannot read %s: %s", file, strerror(errno));
        return CLI_FAIL;
    }
    cli_request req = { .method = "POST", .path = "/v1/workflows",
                        .content_type = content_type_of(file), .body = text, .body_len = len };
    cli_response resp;
    int rc = cli_http(ctx, &req, &resp);
    free(text);
    if (rc != CLI_OK)
        return rc;
    if (resp.status >= 200 && resp.status < 300) {
        json_t *body = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
        if (ctx->json)
            cli_print_raw(&resp.body);
        else if (body)
            print_applied(body);
        print_warnings(file, body);
        json_decref(body);
    } else {
        if (ctx->json)
            cli_print_raw(&resp.body);
        if (resp.status != 422 || print_problems(file, &resp) == 0) {
            cli_ctx quiet = *ctx;
            quiet.json = false;         /* the raw body is already out */
            cli_report_error(&quiet, &resp);
        }
        rc = CLI_FAIL;
    }
    cli_buf_free(&resp.body);
    return rc;
}

/* ---- ls ---- */

static void print_workflows(const json_t *body)
{
    static const cli_column cols[] = {
        { "NAME", "name" }, { "VERSION", "version" }, { "VERSIONS", "versions" },
        { "APPLIED", "created_at" }, { NULL, NULL },
    };
    cli_print_list(body, cols, "no workflows (add one with `spojit workflow apply FILE`)");
}

static int workflow_ls(const cli_ctx *ctx, const cli_args *a)
{
    cli_request req = { .method = "GET", .path = "/v1/workflows" };
    return cli_call_print(ctx, &req, print_workflows);
}

/* ---- show ---- */

static void print_workflow(const json_t *w)
{
    static const char *const fields[][2] = {
        { "name", "name" }, { "version", "version" }, { "status", "status" },
        { "hash", "hash" }, { "applied", "created_at" }, { "by", "created_by" },
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        char *v = cli_cell(w, fields[i][1]);
        if (v)
            printf("%-8s %s\n", fields[i][0], v);
        free(v);
    }
    /* The definition as it was applied, so it can be diffed or re-applied. */
    const char *source = json_string_value(json_object_get(w, "source"));
    json_t *def = json_object_get(w, "definition");
    if (source) {
        printf("\n%s", source);
        if (*source && source[strlen(source) - 1] != '\n')
            putchar('\n');
    } else if (def) {
        char *text = json_dumps(def, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n%s\n", text);
        free(text);
    }
}

static int workflow_show(const cli_ctx *ctx, const cli_args *a)
{
    cli_buf path = { 0 };
    cli_buf_puts(&path, "/v1/workflows/");
    cli_buf_escape(&path, a->pos[0]);
    cli_buf_query(&path, "version", cli_arg_str(a, "--version"));
    cli_request req = { .method = "GET", .path = path.data };
    int rc = cli_call_print(ctx, &req, print_workflow);
    cli_buf_free(&path);
    return rc;
}

static const cli_flag show_flags[] = {
    { "--version", CLI_INT, "N", "that version instead of the newest", NULL, false },
    { NULL },
};

static const cli_command commands[] = {
    { "workflow apply", "FILE", "store a new version of a workflow (YAML; JSON if FILE ends .json)",
      "Prints \"applied NAME version N\". Applying identical content again returns the same\n"
      "version. When the definition is invalid, every problem is printed, one per line,\n"
      "as FILE:LINE:COLUMN: PATH: MESSAGE, and the exit status is 1. Warnings (an\n"
      "assignee that names no existing user or team) print on stderr as\n"
      "FILE: PATH: warning: MESSAGE; the version is stored and the exit status is 0.",
      NULL, workflow_apply },
    { "workflow ls", "", "list workflows with their newest version", NULL, NULL, workflow_ls },
    { "workflow show", "NAME", "print a workflow version and its definition", NULL,
      show_flags, workflow_show },
    { NULL },
};

const cli_group cli_group_workflow = { "Workflows", commands };
