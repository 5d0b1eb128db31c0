/*
 * dispatch.c - `spojit COMMAND ...`: finds the command in the tables, parses
 * its flags, settles the server URL and key, and runs it.
 *
 * Global flags (--url, --token, --json, --help) may come before or after the
 * command words: `spojit --json run ls` and `spojit run ls --json` are the
 * same. The command is the longest run of leading words that names one in
 * the tables; the words after it are its operands.
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

const cli_group *const cli_groups[] = {
    &cli_group_workflow, &cli_group_run, &cli_group_approvals,
    &cli_group_audit, &cli_group_admin, &cli_group_people, &cli_group_secrets, NULL,
};

const cli_flag cli_global_flags[] = {
    { "--url", CLI_STR, "URL", "server base URL (overrides SPOJIT_URL)", NULL, false },
    { "--token", CLI_STR, "KEY", "API key sent as a bearer token (overrides SPOJIT_TOKEN)",
      NULL, false },
    { "--json", CLI_BOOL, NULL, "print the server's JSON response instead of the human form",
      NULL, false },
    { "--help", CLI_BOOL, NULL, "show this help", NULL, false },
    { NULL },
};

/* True when words[0..) starts with the space-separated words of name. */
static bool words_match(const char *name, char **words, int n, int *used)
{
    int k = 0;
    for (const char *p = name; *p; k++) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        if (k >= n || strlen(words[k]) != len || strncmp(words[k], p, len) != 0)
            return false;
        p += len + (sp ? 1 : 0);
    }
    *used = k;
    return true;
}

const cli_command *cli_find_command(char **words, int n, int *used)
{
    const cli_command *best = NULL;
    *used = 0;
    for (const cli_group *const *g = cli_groups; *g; g++)
        for (const cli_command *c = (*g)->commands; c->words; c++) {
            int k;
            if (words_match(c->words, words, n, &k) && k > *used) {
                best = c;
                *used = k;
            }
        }
    return best;
}

static const cli_flag *global_flag(const char *word)
{
    size_t len = strcspn(word, "=");
    if (len == 2 && strncmp(word, "-h", 2) == 0)
        word = "--help", len = 6;
    for (const cli_flag *f = cli_global_flags; f->name; f++)
        if (strlen(f->name) == len && strncmp(f->name, word, len) == 0)
            return f;
    return NULL;
}

static bool any_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* `spojit help [COMMAND...]` */
static int help(char **words, int n)
{
    int used;
    const cli_command *c = cli_find_command(words, n, &used);
    if (n == 0) {
        cli_usage_top(stdout);
        return CLI_OK;
    }
    if (c && used == n) {
        cli_usage_command(stdout, c);
        return CLI_OK;
    }
    if (n == 1 && cli_usage_group(stdout, words[0]))
        return CLI_OK;
    cli_errorf("no help for '%s': unknown command", words[n - 1]);
    return CLI_USAGE;
}

/* True when some command starts with word ("workflow", "admin"). */
static bool is_group(const char *word)
{
    size_t n = strlen(word);
    for (const cli_group *const *g = cli_groups; *g; g++)
        for (const cli_command *c = (*g)->commands; c->words; c++)
            if (strncmp(c->words, word, n) == 0 && (c->words[n] == ' ' || !c->words[n]))
                return true;
    return false;
}

/* Words that name no command: a bare or mistyped group ("spojit run",
 * "spojit run lst"), or nothing known at all. */
static int unknown(char **words, int n, bool want_help)
{
    if (!is_group(words[0])) {
        cli_errorf("unknown command '%s'", words[0]);
        fputs("Run `spojit --help` for the list of commands.\n", stderr);
        return CLI_USAGE;
    }
    if (want_help && n == 1) {
        cli_usage_group(stdout, words[0]);
        return CLI_OK;
    }
    if (n >= 2)
        cli_errorf("unknown %s command '%s'", words[0], words[1]);
    else
        cli_errorf("%s: which command?", words[0]);
    cli_usage_group(stderr, words[0]);
    return CLI_USAGE;
}

static int settle_ctx(cli_ctx *ctx, const cli_args *a)
{
    const char *url = cli_arg_str(a, "--url");
    if (!url || !*url)
        url = getenv("SPOJIT_URL");
    if (!url || !*url)
        url = CLI_DEFAULT_URL;
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')  /* paths we add start with '/' */
        len--;
    if (len == 0 || len >= sizeof ctx->url) {
        cli_errorf("the server URL '%s' is empty or too long", url);
        return CLI_USAGE;
    }
    memcpy(ctx->url, url, len);
    ctx->url[len] = '\0';
    ctx->token = cli_arg_str(a, "--token");
    if (!ctx->token)
        ctx->token = getenv("SPOJIT_TOKEN");
    ctx->json = cli_arg_has(a, "--json");
    return CLI_OK;
}

static int run_command(const cli_command *c, int argc, char **argv)
{
    const cli_flag *const tables[] = { cli_global_flags, c->flags, NULL };
    cli_args a;
    if (cli_args_parse(&a, argc, argv, tables, c->operands) < 0) {
        cli_errorf("%s", a.err);
        fputc('\n', stderr);
        cli_usage_command(stderr, c);
        return CLI_USAGE;
    }
    if (cli_arg_has(&a, "--help")) {
        cli_usage_command(stdout, c);
        return CLI_OK;
    }
    cli_ctx ctx = { .url = "" };
    int rc = settle_ctx(&ctx, &a);
    if (rc != CLI_OK)
        return rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = c->run(&ctx, &a);
    curl_global_cleanup();
    return rc;
}

int cli_main(int argc, char **argv)
{
    /* Skip global flags to the first command word. */
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "--version") == 0) {
            puts("spojit " CLI_VERSION);
            return CLI_OK;
        }
        const cli_flag *f = global_flag(argv[first]);
        if (!f) {
            cli_errorf("unknown flag '%s'", argv[first]);
            cli_usage_top(stderr);
            return CLI_USAGE;
        }
        if (f->kind != CLI_BOOL && !strchr(argv[first], '=') && ++first >= argc) {
            cli_errorf("%s needs a value (%s)", f->name, f->metavar);
            return CLI_USAGE;
        }
    }
    if (first >= argc) {
        bool want_help = any_help(argc, argv);
        cli_usage_top(want_help ? stdout : stderr);
        return want_help ? CLI_OK : CLI_USAGE;
    }
    int nwords = 0;
    while (first + nwords < argc && argv[first + nwords][0] != '-')
        nwords++;
    if (strcmp(argv[first], "help") == 0)
        return help(argv + first + 1, nwords - 1);

    int used;
    const cli_command *c = cli_find_command(argv + first, nwords, &used);
    if (!c)
        return unknown(argv + first, nwords, any_help(argc, argv));

    /* Everything but the command words goes to the parser, so global flags
     * before the command count as well as those after it. */
    char **rest = malloc(sizeof *rest * (size_t)argc);
    if (!rest)
        return CLI_FAIL;
    int nrest = 0;
    for (int i = 1; i < argc; i++)
        if (i < first || i >= first + used)
            rest[nrest++] = argv[i];
    int rc = run_command(c, nrest, rest);
    free(rest);
    return rc;
}
