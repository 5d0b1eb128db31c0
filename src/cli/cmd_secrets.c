/*
 * cmd_secrets.c - `spojit admin secret ls|set|rm` and `admin link-keys
 * rotate`: what the server keeps sealed (admin keys only).
 *
 * A secret's value never comes from the command line, where `ps` and the
 * shell's history would keep it: `secret set` reads it from standard
 * input (a terminal gets a prompt with echo off) or from a file. One
 * trailing newline is dropped, as `echo` and editors add one.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define SECRET_READ_MAX (64 * 1024 + 3)    /* past the server's limit and a CRLF */

static void print_secrets(const json_t *body)
{
    static const cli_column cols[] = {
        { "NAME", "name" }, { "CREATED", "created_at" }, { "UPDATED", "updated_at" },
        { NULL, NULL },
    };
    cli_print_list(body, cols, "no secrets");
}

static int secret_ls(const cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    return cli_send_json(ctx, "GET", "/v1/secrets", NULL, print_secrets);
}

/* Reads all of f (at most SECRET_READ_MAX bytes) into buf; the length, or
 * -1 with a message printed. */
static long read_all(FILE *f, const char *what, char *buf)
{
    size_t n = fread(buf, 1, SECRET_READ_MAX, f);
    if (ferror(f)) {
        fprintf(stderr, "spojit: cannot read %s: %s\n", what, strerror(errno));
        return -1;
    }
    if (n == SECRET_READ_MAX) {
        fprintf(stderr, "spojit: %s: a secret is at most 65536 bytes\n", what);
        return -1;
    }
    return (long)n;
}

/* One line from a terminal, not echoed. */
static long read_prompted(const char *name, char *buf)
{
    struct termios old, quiet;
    bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
    fprintf(stderr, "value of secret %s (not shown; end with Enter): ", name);
    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *got = fgets(buf, SECRET_READ_MAX, stdin);
    if (tty)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    return got ? (long)strlen(buf) : 0;
}

static void print_written(const json_t *s)
{
    printf("secret %s written\n", cli_str(s, "name"));
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(s, "warnings"), i, w)
        fprintf(stderr, "spojit: warning: %s: %s\n", cli_str(w, "path"), cli_str(w, "message"));
}

static int secret_set(const cli_ctx *ctx, const cli_args *a)
{
    const char *name = a->pos[0], *file = cli_arg_str(a, "--file");
    char *buf = malloc(SECRET_READ_MAX + 1);
    if (!buf) {
        fprintf(stderr, "spojit: out of memory\n");
        return 1;
    }
    long len;
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "spojit: cannot open %s: %s\n", file, strerror(errno));
            free(buf);
            return 1;
        }
        len = read_all(f, file, buf);
        fclose(f);
    } else if (isatty(STDIN_FILENO)) {
        len = read_prompted(name, buf);
    } else {
        len = read_all(stdin, "standard input", buf);
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    int rc = 1;
    if (len == 0) {
        fprintf(stderr, "spojit: the value of secret %s is empty: give it on standard input "
                        "or with --file\n", name);
    } else if (len >= 0) {
        json_t *value = json_stringn(buf, (size_t)len);
        if (!value) {
            fprintf(stderr, "spojit: the value of secret %s is not UTF-8 text\n", name);
        } else {
            char *path = cli_path_join("/v1/secrets", name);
            rc = cli_send_json(ctx, "PUT", path, json_pack("{s:o}", "value", value), print_written);
            free(path);
        }
    }
    memset(buf, 0, SECRET_READ_MAX + 1);
    free(buf);
    return rc;
}

static void print_removed(const json_t *s)
{
    (void)s;
    printf("secret removed\n");
}

static int secret_rm(const cli_ctx *ctx, const cli_args *a)
{
    char *path = cli_path_join("/v1/secrets", a->pos[0]);
    int rc = cli_send_json(ctx, "DELETE", path, NULL, print_removed);
    free(path);
    return rc;
}

static void print_rotated(const json_t *body)
{
    long long kept = (long long)json_integer_value(json_object_get(body, "kept"));
    if (kept <= 1)
        printf("link signing key %s is now the only one: links sent before no longer work\n",
               cli_str(body, "current"));
    else
        printf("link signing key %s is now current (%lld key(s) kept: links signed with the "
               "older ones still work)\n", cli_str(body, "current"), kept);
}

static int link_keys_rotate(const cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_object();
    if (cli_arg_has(a, "--revoke"))
        json_object_set_new(body, "revoke", json_true());
    return cli_send_json(ctx, "POST", "/v1/admin/link-keys/rotate", body, print_rotated);
}

static const cli_flag set_flags[] = {
    { "--file", CLI_STR, "FILE", "read the value from FILE instead of standard input", NULL,
      false },
    { NULL },
};

static const cli_flag rotate_flags[] = {
    { "--revoke", CLI_BOOL, NULL, "keep no older key: every link sent so far stops working",
      NULL, false },
    { NULL },
};

static const cli_flag no_flags[] = { { NULL } };

static const cli_command commands[] = {
    { "admin secret ls", NULL, "list secrets by name (never their values)", NULL, no_flags,
      secret_ls },
    { "admin secret set", "NAME",
      "store a secret, its value read from standard input or --file",
      "The value never goes on the command line. From a terminal it is asked for\n"
      "without echo; from a pipe or --file it is read whole (at most 64 KiB), less\n"
      "one trailing newline. Example: printf %s \"$STRIPE_KEY\" | spojit admin secret set stripe",
      set_flags, secret_set },
    { "admin secret rm", "NAME", "remove a secret", NULL, no_flags, secret_rm },
    { "admin link-keys rotate", NULL,
      "make a new key sign decision links (links already sent keep working, unless --revoke)",
      NULL, rotate_flags, link_keys_rotate },
    { NULL },
};

const cli_group cli_group_secrets = { "Secrets and signing keys", commands };
