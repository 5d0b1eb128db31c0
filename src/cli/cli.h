/*
 * cli.h - the `spojit` client commands (everything but `spojit serve`).
 *
 * Like curl's src/ beside lib/, the commands are clients of the public HTTP
 * API only (SPEC §8, §9), speaking to SPOJIT_URL with SPOJIT_TOKEN, so they
 * behave exactly as a user's script would. The one exception is
 * `audit verify --db`, which opens a store directly to check it offline.
 *
 * Everything is table driven: each command group (cmd_*.c) is a table of
 * cli_command, each command a table of cli_flag. One parser (args.c) reads
 * argv against those tables, and the help text (usage.c) is generated from
 * the same tables, so a flag cannot exist without being documented.
 *
 * Exit codes: CLI_OK 0, CLI_FAIL 1 (HTTP error, connection failure, broken
 * audit chain), CLI_USAGE 2 (unknown command or flag, missing argument).
 *
 * Ownership: strings in cli_args point into argv (borrowed, live as long as
 * the process). json_t ** outputs receive new references; char * results
 * documented as malloc'd are freed by the caller.
 */
#ifndef SP_CLI_H
#define SP_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CLI_VERSION "0.1.0"
#define CLI_DEFAULT_URL "http://127.0.0.1:8080"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* `spojit ARGS...` for every command but serve (main.c routes that one). */
int cli_main(int argc, char **argv);

/* ---- flags and arguments (args.c) ---- */

typedef enum {
    CLI_BOOL,           /* --all */
    CLI_STR,            /* --comment TEXT, --comment=TEXT */
    CLI_INT,            /* --limit N: a non-negative integer */
    CLI_OPT_INT,        /* --wait [SECONDS]: takes the next word only if numeric */
    CLI_LIST            /* --edit X, repeatable; every occurrence kept */
} cli_flag_kind;

typedef struct {
    const char *name;           /* "--comment"; NULL ends a table */
    cli_flag_kind kind;
    const char *metavar;        /* "TEXT" (value-taking kinds) */
    const char *help;           /* one line */
    const char *choices;        /* "member|admin|viewer", or NULL for any */
    bool required;
} cli_flag;

#define CLI_MAX_POS 8           /* positional words a command may get */
#define CLI_MAX_SET 64          /* flag occurrences on one command line */
#define CLI_ERR_MAX 1280        /* room for an sp_error message */

typedef struct {
    const char *pos[CLI_MAX_POS];
    int npos;
    struct {
        const cli_flag *flag;
        const char *value;      /* NULL for CLI_BOOL and a bare CLI_OPT_INT */
    } set[CLI_MAX_SET];
    int nset;
    char err[CLI_ERR_MAX];      /* why parsing failed */
} cli_args;

/*
 * Parses argv[0..argc) against the flag tables (a NULL-terminated list of
 * NULL-terminated tables). Words that are not flags become positionals; "--"
 * makes every later word positional. Checks kinds, choices and required
 * flags, and that the positionals fit the operand synopsis ("ID [FILE]":
 * one or two; a missing one is named in the message).
 * Returns 0, or -1 with a->err set. --help is an ordinary CLI_BOOL of the
 * global table; callers check it before trusting the result.
 */
int cli_args_parse(cli_args *a, int argc, char **argv, const cli_flag *const *tables,
                   const char *operands);

bool cli_arg_has(const cli_args *a, const char *name);
/* The last value given for name, or NULL. */
const char *cli_arg_str(const cli_args *a, const char *name);
/* The last value as a number, or def when absent or given bare. */
long cli_arg_int(const cli_args *a, const char *name, long def);
/* The i-th value of a repeatable flag, or NULL past the end. */
const char *cli_arg_nth(const cli_args *a, const char *name, int i);

/* --password's value; "-" reads it from the first line of stdin, so it
 * stays out of the shell history and the process list. malloc'd; NULL when
 * absent. (cmd_admin.c) */
char *cli_password_arg(const cli_args *a);

/* Counts the operands of a synopsis: "ID [FILE]" -> min 1, max 2. */
void cli_operands_count(const char *synopsis, int *min, int *max);

/* ---- commands ---- */

typedef struct cli_ctx {
    char url[512];              /* base URL without a trailing slash */
    const char *token;          /* NULL or "" when none */
    bool json;                  /* --json: raw server JSON, not the human form */
} cli_ctx;

typedef int (*cli_run_fn)(const cli_ctx *ctx, const cli_args *a);

typedef struct {
    const char *words;          /* "workflow apply"; NULL ends a table */
    const char *operands;       /* "FILE", "ID [FILE]", "" */
    const char *summary;        /* one line, shown in `spojit --help` */
    const char *detail;         /* a paragraph for `spojit CMD --help`, or NULL */
    const cli_flag *flags;      /* NULL-terminated; may be NULL */
    cli_run_fn run;
} cli_command;

typedef struct {
    const char *title;          /* "Runs" */
    const cli_command *commands;
} cli_group;

extern const cli_group cli_group_workflow;
extern const cli_group cli_group_run;
extern const cli_group cli_group_approvals;
extern const cli_group cli_group_audit;
extern const cli_group cli_group_admin;
extern const cli_group cli_group_people;
extern const cli_group cli_group_secrets;

/* Every group, in help order; NULL-terminated. */
extern const cli_group *const cli_groups[];
/* --url, --token, --json, --help: accepted by every command. */
extern const cli_flag cli_global_flags[];

/*
 * The command whose words are the longest prefix of words[0..n), or NULL.
 * *used receives how many words it takes.
 */
const cli_command *cli_find_command(char **words, int n, int *used);

/* ---- help text (usage.c) ---- */

void cli_usage_top(FILE *out);
void cli_usage_command(FILE *out, const cli_command *c);
/* The commands whose first word is group_word ("workflow"); 0 if none. */
int cli_usage_group(FILE *out, const char *group_word);

/* ---- values given on the command line (values.c) ---- */

/*
 * Adds one `--edit /ptr=VALUE` to edits (a JSON object of pointer -> value).
 * VALUE is JSON when it parses as JSON ("550", "true", "\"x\"", "{...}"),
 * else the literal string. Returns 0, or -1 with err (CLI_ERR_MAX) set.
 */
int cli_edit_add(json_t *edits, const char *spec, char *err);

/*
 * The value of `--input JSON|@FILE|@-`: parsed JSON, a new reference, or
 * NULL with err (CLI_ERR_MAX) set naming what is wrong and where.
 */
json_t *cli_input_parse(const char *arg, char *err);

/* A whole file (or stdin for "-") as malloc'd bytes, NUL-terminated. */
char *cli_read_file(const char *path, size_t *len);

/* ---- growable text and URLs (buf.c) ---- */

/* Invariant: data is NUL-terminated whenever data != NULL; len < cap. */
typedef struct {
    char *data;
    size_t len, cap;
} cli_buf;

void cli_buf_add(cli_buf *b, const char *s, size_t len);
void cli_buf_puts(cli_buf *b, const char *s);
void cli_buf_printf(cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_buf_free(cli_buf *b);

/* Appends s percent-encoded so it is one path segment or query value. */
void cli_buf_escape(cli_buf *b, const char *s);
/* Appends "?name=value" or "&name=value" (value escaped); no-op for NULL. */
void cli_buf_query(cli_buf *b, const char *name, const char *value);

/* ---- tables, CSV, small formatting (table.c) ---- */

#define CLI_TABLE_MAX_COLS 8

typedef struct {
    int ncols;
    const char *head[CLI_TABLE_MAX_COLS];
    char **cells;               /* nrows * ncols, malloc'd copies */
    int nrows, caprows;
} cli_table;

void cli_table_init(cli_table *t, int ncols, const char *const *head);
/* Adds a row of ncols strings (copied; NULL shows as "-"). */
void cli_table_row(cli_table *t, const char *const *cells);
/* Aligned columns, two spaces apart; widths count UTF-8 characters.
 * Cells longer than max_width characters are cut with "…" (0: no limit). */
void cli_table_print(const cli_table *t, FILE *out, int max_width);
void cli_table_free(cli_table *t);

/* A column of a list: its header and the member it shows ("a.b" reaches
 * into a nested object). NULL head ends a list of columns. */
typedef struct {
    const char *head;
    const char *key;
} cli_column;

/* The text of obj's member key for a table cell: strings as they are, times
 * (keys ending "_at") shortened, arrays of strings joined with ", ", other
 * JSON compact, null and absent as NULL. malloc'd; caller frees. */
char *cli_cell(const json_t *obj, const char *key);
/* The list in a body: the body itself when it is an array, else its
 * "items" (borrowed; NULL when neither). */
json_t *cli_items(const json_t *body);
/* Prints body's items as a table of cols, or `none` when there are none;
 * a next_cursor is mentioned on stderr so that stdout stays the table. */
void cli_print_list(const json_t *body, const cli_column *cols, const char *none);

/* Writes s as one RFC 4180 CSV field (quoted only when it must be). */
void cli_csv_field(cli_buf *b, const char *s);
/* One audit row (JSON object) as a CSV line, columns as cli_audit_csv_head. */
void cli_audit_csv_row(cli_buf *b, const json_t *row);
extern const char cli_audit_csv_head[];

/* obj's string member key for printing: borrowed, "-" when absent, so a
 * field a server version leaves out never reaches printf as NULL. */
const char *cli_str(const json_t *obj, const char *key);
/* A scalar as display text: strings as they are, numbers and other JSON as
 * compact JSON, null/absent as NULL. malloc'd; caller frees. */
char *cli_text(const json_t *v);
/* "2026-11-25T04:23:29.123Z" -> "2026-11-25 04:23:29" into out (32 bytes). */
const char *cli_when(const char *rfc3339, char out[32]);

/* ---- talking to the server (client.c) ---- */

typedef size_t (*cli_sink_fn)(const char *data, size_t len, void *ctx);

typedef struct {
    const char *method;         /* "GET", "POST" */
    const char *path;           /* "/v1/runs?limit=5", escaped */
    const char *content_type;   /* with a body; NULL: no body */
    const char *body;
    size_t body_len;
    const char *idempotency_key;
    long timeout_s;             /* 0: CLI_HTTP_TIMEOUT_S; <0: none (streams) */
    cli_sink_fn sink;           /* 2xx bodies stream here instead of buf */
    void *sink_ctx;
} cli_request;

#define CLI_HTTP_TIMEOUT_S 60
#define CLI_CONNECT_TIMEOUT_S 10

typedef struct {
    long status;                /* HTTP status */
    cli_buf body;               /* unless streamed */
} cli_response;

/*
 * Sends one request. Returns 0 when the server answered (any status), or 1
 * after printing "spojit: cannot reach URL: reason". Free resp->body after.
 */
int cli_http(const cli_ctx *ctx, const cli_request *req, cli_response *resp);

/*
 * Sends one request and expects 2xx with a JSON body. Returns 0 with *out a
 * new reference (JSON null for an empty body), or 1 after reporting the
 * failure (cli_report_error). out may be NULL.
 */
int cli_call(const cli_ctx *ctx, const cli_request *req, json_t **out);

/* A JSON body for a request: malloc'd compact dump of v (borrowed). */
char *cli_json_body(const json_t *v);

/*
 * Reports a non-2xx answer: "spojit: MESSAGE" on stderr (from the error
 * body, or "HTTP 502 from URL"); with --json also the raw body on stdout.
 */
void cli_report_error(const cli_ctx *ctx, const cli_response *resp);

/* Prints a response body as it came (--json), ending with a newline. */
void cli_print_raw(const cli_buf *body);

/*
 * The common command shape: call, then print the raw JSON (--json) or
 * hand the parsed body to the human printer. Returns the exit code.
 */
typedef void (*cli_print_fn)(const json_t *body);
int cli_call_print(const cli_ctx *ctx, const cli_request *req, cli_print_fn human);
/* cli_call_print with body (stolen, may be NULL) sent as JSON. */
int cli_send_json(const cli_ctx *ctx, const char *method, const char *path, json_t *body,
                  cli_print_fn human);
/* prefix + "/" + name, the name escaped for a URL path: malloc'd. */
char *cli_path_join(const char *prefix, const char *name);

/* "spojit: " + message on stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- `audit verify` (cmd_audit.c, audit_offline.c) ---- */

/* Prints a verify result {ok, rows, head, keyed_from, key_id, first_bad_seq?,
 * reason?}; returns
 * CLI_OK when the chain holds, CLI_FAIL when it is broken. */
int cli_audit_report(const json_t *result, bool json);
/* Opens the store at url and verifies its chain without a server, with the
 * master key from SPOJIT_MASTER_KEY, key_file (--master-key-file; NULL:
 * SPOJIT_MASTER_KEY_FILE) or the database path + ".key". saved_head: a
 * signed head the trail must extend (borrowed), or NULL. */
int cli_audit_verify_offline(const char *url, const char *key_file, const json_t *saved_head,
                             bool json);
/* `audit reveal-key --db`: prints the audit key document (the HMAC key the
 * row hashes are keyed with, and the anchor), for checking the trail with
 * other tools. The head signing seed is left out. */
int cli_audit_reveal_key(const char *url, const char *key_file);

#endif
