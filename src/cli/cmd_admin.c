/*
 * cmd_admin.c - `spojit admin user add|team add|team ls|key create` (admin
 * keys only).
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

/* A JSON array of every value given for a repeatable flag, or NULL. */
static json_t *list_of(const cli_args *a, const char *flag)
{
    const char *v = cli_arg_nth(a, flag, 0);
    if (!v)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; (v = cli_arg_nth(a, flag, i)); i++)
        json_array_append_new(arr, json_string(v));
    return arr;
}

/* `--password -` reads it from the first line of stdin, so it stays out of
 * the shell history and the process list. malloc'd; NULL when absent. */
char *cli_password_arg(const cli_args *a)
{
    const char *p = cli_arg_str(a, "--password");
    if (!p || strcmp(p, "-") != 0)
        return p ? strdup(p) : NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return strdup("");
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static void set_opt(json_t *obj, const char *key, const char *value)
{
    if (value)
        json_object_set_new(obj, key, json_string(value));
}

/* ---- user add ---- */

static void print_user(const json_t *u)
{
    char *teams = cli_cell(u, "teams");
    const char *role = json_string_value(json_object_get(u, "role"));
    printf("created user %s (role %s%s%s)\n", cli_str(u, "name"),
           role ? role : "member",
           teams && *teams ? ", teams " : "", teams && *teams ? teams : "");
    free(teams);
}

static int user_add(const cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_pack("{s:s}", "name", a->pos[0]);
    char *password = cli_password_arg(a);
    set_opt(body, "password", password);
    free(password);
    set_opt(body, "email", cli_arg_str(a, "--email"));
    set_opt(body, "role", cli_arg_str(a, "--role"));
    json_t *teams = list_of(a, "--team");
    if (teams)
        json_object_set_new(body, "teams", teams);
    return cli_send_json(ctx, "POST", "/v1/users", body, print_user);
}

/* ---- team add ---- */

static void print_team(const json_t *t)
{
    char *members = cli_cell(t, "members");
    printf("created team %s%s%s\n", cli_str(t, "name"),
           members && *members ? " with " : "", members && *members ? members : "");
    free(members);
}

static int team_add(const cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_pack("{s:s}", "name", a->pos[0]);
    json_t *members = list_of(a, "--member");
    if (members)
        json_object_set_new(body, "members", members);
    return cli_send_json(ctx, "POST", "/v1/teams", body, print_team);
}

/* ---- team ls ---- */

static void print_teams(const json_t *body)
{
    static const cli_column cols[] = {
        { "TEAM", "name" }, { "MEMBERS", "members" }, { NULL, NULL },
    };
    cli_print_list(body, cols, "no teams");
}

static int team_ls(const cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    cli_request req = { .method = "GET", .path = "/v1/teams" };
    return cli_call_print(ctx, &req, print_teams);
}

/* ---- key create ---- */

/* The key alone on stdout, so `KEY=$(spojit admin key create alice)` works;
 * the rest is for the person at the terminal. */
static void print_key(const json_t *k)
{
    const char *key = json_string_value(json_object_get(k, "key"));
    puts(key ? key : "");
    const char *id = json_string_value(json_object_get(k, "id"));
    fprintf(stderr, "key %s created; it is shown only this once\n", id ? id : "");
}

static int key_create(const cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_pack("{s:s}", "user", a->pos[0]);
    set_opt(body, "scope", cli_arg_str(a, "--scope"));
    set_opt(body, "name", cli_arg_str(a, "--name"));
    set_opt(body, "expires_at", cli_arg_str(a, "--expires"));
    return cli_send_json(ctx, "POST", "/v1/keys", body, print_key);
}

static const cli_flag user_flags[] = {
    { "--password", CLI_STR, "P", "web login password (\"-\": read it from stdin)", NULL, false },
    { "--email", CLI_STR, "E", "where notifications go", NULL, false },
    { "--team", CLI_LIST, "T", "a team to join", NULL, false },
    { "--role", CLI_STR, "member|admin|viewer", "what the user may do (default member)",
      "member|admin|viewer", false },
    { NULL },
};

static const cli_flag team_flags[] = {
    { "--member", CLI_LIST, "U", "a user to add to the team", NULL, false },
    { NULL },
};

static const cli_flag key_flags[] = {
    { "--scope", CLI_STR, "member|admin|agent",
      "what the key may do (default member; agent: start runs, request approvals)",
      "member|admin|agent", false },
    { "--name", CLI_STR, "N", "a label to recognise the key by", NULL, false },
    { "--expires", CLI_STR, "TIME", "refuse the key from this RFC 3339 time on", NULL, false },
    { NULL },
};

static const cli_command commands[] = {
    { "admin user add", "NAME", "create a user", NULL, user_flags, user_add },
    { "admin team add", "NAME", "create a team", NULL, team_flags, team_add },
    { "admin team ls", "", "every team with its members", NULL, NULL, team_ls },
    { "admin key create", "USER", "create an API key for USER and print it (shown once)",
      NULL, key_flags, key_create },
    { NULL },
};

const cli_group cli_group_admin = { "Administration", commands };
