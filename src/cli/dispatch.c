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

/* The k-th (from 0) space-separated word of name and its length, or NULL. */
static const char *nth_word(const char *name, int k, size_t *len)
{
    for (; k > 0 && name; k--) {
        name = strchr(name, ' ');
        if (name)
            name++;
    }
    if (!name || !*name)
        return NULL;
    *len = strcspn(name, " ");
    return name;
}

/* True when some command's words start with words[0..n) ("admin user"). */
static bool is_prefix(char **words, int n)
{
    for (const cli_group *const *g = cli_groups; *g; g++)
        for (const cli_command *c = (*g)->commands; c->words; c++) {
            int k = 0;
            size_t len;
            const char *w;
            while (k < n && (w = nth_word(c->words, k, &len)) && strlen(words[k]) == len &&
                   strncmp(w, words[k], len) == 0)
                k++;
            if (k == n)
                return true;
        }
    return false;
}

#define SUGGEST_WORD_MAX 32     /* longer words are not compared */

/* Edit distance (insertions, deletions, substitutions) of two short words;
 * SUGGEST_WORD_MAX + 1 when either is longer. */
static int edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    if (na > SUGGEST_WORD_MAX || nb > SUGGEST_WORD_MAX)
        return SUGGEST_WORD_MAX + 1;
    int row[SUGGEST_WORD_MAX + 1];
    for (size_t j = 0; j <= nb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/*
 * The known word nearest to word at position k after the prefix
 * words[0..k), when it is near enough to be a slip (at most 2 edits, and
 * fewer than the word's length): copied into out, else out is "".
 */
static void suggest(char **words, int k, const char *word, char *out, size_t cap)
{
    int best = 3;
    out[0] = '\0';
    size_t nw = strlen(word);
    if (k == 0) {               /* the commands main.c and help() know */
        static const char *const extra[] = { "serve", "help" };
        for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
            int d = edit_distance(word, nw, extra[i], strlen(extra[i]));
            if (d < best && d < (int)nw) {
                best = d;
                snprintf(out, cap, "%s", extra[i]);
            }
        }
    }
    for (const cli_group *const *g = cli_groups; *g; g++)
        for (const cli_command *c = (*g)->commands; c->words; c++) {
            size_t len;
            int i = 0;
            const char *p;
            while (i < k && (p = nth_word(c->words, i, &len)) && strlen(words[i]) == len &&
                   strncmp(p, words[i], len) == 0)
                i++;
            if (i < k)
                continue;
            p = nth_word(c->words, k, &len);
            if (!p)
                continue;
            int d = edit_distance(word, nw, p, len);
            if (d < best && d < (int)nw) {
                best = d;
                snprintf(out, cap, "%.*s", (int)len, p);
            }
        }
}

/* Words that name no command: a bare or mistyped group ("spojit run",
 * "spojit admin user", "spojit run lst"), or nothing known at all. The
 * longest known prefix is the group; the word after it is the unknown one,
 * and the nearest known word is suggested. */
static int unknown(char **words, int n, bool want_help)
{
    int k = n;
    while (k > 0 && !is_prefix(words, k))
        k--;
    cli_buf group = { 0 };
    for (int i = 0; i < k; i++)
        cli_buf_printf(&group, "%s%s", i ? " " : "", words[i]);
    int rc = CLI_USAGE;
    if (k == n && want_help) {
        cli_usage_group(stdout, group.data);
        rc = CLI_OK;
    } else if (k == n) {
        cli_errorf("%s: which command?", group.data);
        cli_usage_group(stderr, group.data);
    } else {
        char near[SUGGEST_WORD_MAX + 1];
        suggest(words, k, words[k], near, sizeof near);
        if (k == 0)
            cli_errorf("unknown command '%s'%s%s%s", words[0], near[0] ? "; did you mean '" : "",
                       near, near[0] ? "'?" : "");
        else
            cli_errorf("unknown %s command '%s'%s%s%s", group.data, words[k],
                       near[0] ? "; did you mean '" : "", near, near[0] ? "'?" : "");
        if (k == 0)
            fputs("Run `spojit --help` for the list of commands.\n", stderr);
        else
            cli_usage_group(stderr, group.data);
    }
    cli_buf_free(&group);
    return rc;
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
