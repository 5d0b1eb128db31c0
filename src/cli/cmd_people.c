/*
 * cmd_people.c - `spojit admin user ls|set|rm` and `admin key ls|revoke`:
 * changing people and keys once they exist (admin keys only).
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

static void print_users(const json_t *body)
{
    static const cli_column cols[] = {
        { "NAME", "name" }, { "ROLE", "role" }, { "DISABLED", "disabled" }, { "TEAMS", "teams" },
        { "EMAIL", "email" }, { NULL, NULL },
    };
    cli_print_list(body, cols, "no users");
}

static int user_ls(const cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    return cli_send_json(ctx, "GET", "/v1/users", NULL, print_users);
}

static void print_user(const json_t *u)
{
    char *teams = cli_cell(u, "teams");
    printf("%s: role %s%s%s%s\n", cli_str(u, "name"), cli_str(u, "role"),
           json_is_true(json_object_get(u, "disabled")) ? ", disabled" : "",
           teams && *teams ? ", teams " : "", teams && *teams ? teams : "");
    free(teams);
}

static int user_set(const cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_object();
    const char *role = cli_arg_str(a, "--role");
    if (role)
        json_object_set_new(body, "role", json_string(role));
    if (cli_arg_has(a, "--disable"))
        json_object_set_new(body, "disabled", json_true());
    if (cli_arg_has(a, "--enable"))
        json_object_set_new(body, "disabled", json_false());
    if (cli_arg_nth(a, "--team", 0)) {
        json_t *teams = json_array();
        const char *t;
        for (int i = 0; (t = cli_arg_nth(a, "--team", i)); i++)
            json_array_append_new(teams, json_string(t));
        json_object_set_new(body, "teams", teams);
    }
    if (cli_arg_has(a, "--no-teams"))
        json_object_set_new(body, "teams", json_array());
    char *password = cli_password_arg(a);
    if (password)
        json_object_set_new(body, "password", json_string(password));
    free(password);
    char *path = cli_path_join("/v1/users", a->pos[0]);
    int rc = cli_send_json(ctx, "PATCH", path, body, print_user);
    free(path);
    return rc;
}

static void print_removed(const json_t *u)
{
    printf("deleted user %s (their history stays)\n", cli_str(u, "name"));
}

static int user_rm(const cli_ctx *ctx, const cli_args *a)
{
    char *path = cli_path_join("/v1/users", a->pos[0]);
    int rc = cli_send_json(ctx, "DELETE", path, NULL, print_removed);
    free(path);
    return rc;
}

static void print_keys(const json_t *body)
{
    static const cli_column cols[] = {
        { "ID", "id" }, { "USER", "user" }, { "SCOPE", "scope" }, { "NAME", "name" },
        { "EXPIRES", "expires_at" }, { "REVOKED", "revoked_at" }, { "LAST USED", "last_used_at" },
        { NULL, NULL },
    };
    cli_print_list(body, cols, "no keys");
}

static int key_ls(const cli_ctx *ctx, const cli_args *a)
{
    cli_buf path = { 0 };
    cli_buf_puts(&path, "/v1/keys");
    cli_buf_query(&path, "user", cli_arg_str(a, "--user"));
    int rc = cli_send_json(ctx, "GET", path.data, NULL, print_keys);
    cli_buf_free(&path);
    return rc;
}

static void print_revoked(const json_t *k)
{
    printf("revoked key %s of %s\n", cli_str(k, "id"), cli_str(k, "user"));
}

static int key_revoke(const cli_ctx *ctx, const cli_args *a)
{
    char *path = cli_path_join("/v1/keys", a->pos[0]);
    int rc = cli_send_json(ctx, "DELETE", path, NULL, print_revoked);
    free(path);
    return rc;
}

static const cli_flag set_flags[] = {
    { "--role", CLI_STR, "member|admin|viewer", "a new role", "member|admin|viewer", false },
    { "--disable", CLI_BOOL, NULL, "refuse the user's keys and logins from now on", NULL, false },
    { "--enable", CLI_BOOL, NULL, "let a disabled user back in", NULL, false },
    { "--team", CLI_LIST, "T", "the user's teams become exactly these", NULL, false },
    { "--no-teams", CLI_BOOL, NULL, "remove the user from every team", NULL, false },
    { "--password", CLI_STR, "P",
      "a new password (\"-\": read it from stdin); signs the user out of every web session",
      NULL, false },
    { NULL },
};

static const cli_flag key_ls_flags[] = {
    { "--user", CLI_STR, "NAME", "only this user's keys", NULL, false },
    { NULL },
};

static const cli_flag no_flags[] = { { NULL } };

static const cli_command commands[] = {
    { "admin user ls", NULL, "list users", NULL, no_flags, user_ls },
    { "admin user set", "NAME", "change a user's role, teams or password, or disable them", NULL,
      set_flags,
      user_set },
    { "admin user rm", "NAME", "delete a user (revokes their keys; their history stays)", NULL,
      no_flags, user_rm },
    { "admin key ls", NULL, "list API keys (never the keys themselves)", NULL, key_ls_flags,
      key_ls },
    { "admin key revoke", "ID", "revoke an API key at once", NULL, no_flags, key_revoke },
    { NULL },
};

const cli_group cli_group_people = { "People and keys", commands };
