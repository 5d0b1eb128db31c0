/*
 * usage.c - help text, generated from the command and flag tables.
 *
 * Nothing here is written twice: a synopsis is built from a command's words,
 * operands and flag table, so adding a flag to a table documents it in
 * `spojit --help` and `spojit CMD --help` at once.
 */
#include "cli/cli.h"

#include <string.h>

/* "--input JSON|@FILE", "[--wait [SECONDS]]", "[--edit /PTR=VALUE]..." */
static void flag_synopsis(cli_buf *b, const cli_flag *f, bool brackets)
{
    bool optional = brackets && !f->required;
    if (optional)
        cli_buf_puts(b, "[");
    cli_buf_puts(b, f->name);
    if (f->kind == CLI_OPT_INT)
        cli_buf_printf(b, " [%s]", f->metavar);
    else if (f->kind != CLI_BOOL)
        cli_buf_printf(b, " %s", f->metavar);
    if (optional)
        cli_buf_puts(b, "]");
    if (f->kind == CLI_LIST && brackets)
        cli_buf_puts(b, "...");
}

static void command_synopsis(cli_buf *b, const cli_command *c)
{
    cli_buf_printf(b, "spojit %s", c->words);
    if (c->operands && *c->operands)
        cli_buf_printf(b, " %s", c->operands);
    for (const cli_flag *f = c->flags; f && f->name; f++) {
        cli_buf_puts(b, " ");
        flag_synopsis(b, f, true);
    }
}

static void flag_lines(FILE *out, const cli_flag *flags)
{
    for (const cli_flag *f = flags; f && f->name; f++) {
        cli_buf left = { 0 };
        flag_synopsis(&left, f, false);
        if (strcmp(f->name, "--help") == 0)
            cli_buf_puts(&left, ", -h");
        fprintf(out, "  %-28s %s%s%s\n", left.data, f->help,
                f->kind == CLI_LIST ? " (repeatable)" : "", f->required ? " (required)" : "");
        cli_buf_free(&left);
    }
}

static void command_entry(FILE *out, const cli_command *c)
{
    cli_buf syn = { 0 };
    command_synopsis(&syn, c);
    fprintf(out, "  %s\n      %s\n", syn.data + strlen("spojit "), c->summary);
    cli_buf_free(&syn);
}

static void footer(FILE *out)
{
    fputs("\nEvery command also takes:\n", out);
    flag_lines(out, cli_global_flags);
    fputs("\nEnvironment: SPOJIT_URL (default " CLI_DEFAULT_URL "), SPOJIT_TOKEN (an API key).\n"
          "Exit status: 0 success; 1 failure (an HTTP error, the server unreachable,\n"
          "a broken audit chain); 2 usage error.\n", out);
}

void cli_usage_top(FILE *out)
{
    fputs("usage: spojit [--url URL] [--token KEY] [--json] COMMAND [ARGS...]\n"
          "       spojit --version\n\n"
          "spojit runs AI workflows with human approval gates. `spojit serve` is the\n"
          "server; every other command is a client of its HTTP API.\n\n"
          "Server\n"
          "  serve [FLAGS]\n"
          "      run the server (store, engine, HTTP API); see `spojit serve --help`\n", out);
    for (const cli_group *const *g = cli_groups; *g; g++) {
        fprintf(out, "\n%s\n", (*g)->title);
        for (const cli_command *c = (*g)->commands; c->words; c++)
            command_entry(out, c);
    }
    footer(out);
    fputs("`spojit COMMAND --help` describes one command; docs/cli.md has examples.\n", out);
}

void cli_usage_command(FILE *out, const cli_command *c)
{
    cli_buf syn = { 0 };
    command_synopsis(&syn, c);
    fprintf(out, "usage: %s\n\n%s.\n", syn.data, c->summary);
    cli_buf_free(&syn);
    if (c->detail)
        fprintf(out, "\n%s\n", c->detail);
    if (c->flags && c->flags->name) {
        fputs("\nFlags:\n", out);
        flag_lines(out, c->flags);
    }
    footer(out);
}

int cli_usage_group(FILE *out, const char *group_word)
{
    size_t n = strlen(group_word);
    int found = 0;
    for (const cli_group *const *g = cli_groups; *g; g++)
        for (const cli_command *c = (*g)->commands; c->words; c++)
            if (strncmp(c->words, group_word, n) == 0 && (c->words[n] == ' ' || !c->words[n])) {
                if (!found++)
                    fprintf(out, "usage:\n");
                command_entry(out, c);
            }
    if (found)
        fprintf(out, "\n`spojit %s COMMAND --help` describes one command.\n", group_word);
    return found;
}
