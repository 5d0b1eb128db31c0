/*
 * args.c - the one argv parser of the client commands.
 *
 * Every command describes its flags in a table; this file reads argv against
 * those tables, so no command carries its own argv loop and every command
 * gets the same rules: flags before, between or after operands; "--flag=V"
 * or "--flag V"; "--" ends flags; unknown flags, missing values, bad numbers
 * and values outside a flag's choices are usage errors with a message that
 * names the flag.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int fail(cli_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(cli_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof a->err, fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_number(const char *s)
{
    if (!s || !*s || strlen(s) > 12)    /* 12 digits: no overflow of long */
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* The flag called name (len bytes) in any of the tables, or NULL. "-h" is
 * the one short alias: it is what people type. */
static const cli_flag *lookup(const cli_flag *const *tables, const char *name, size_t len)
{
    if (len == 2 && strncmp(name, "-h", 2) == 0) {
        name = "--help";
        len = 6;
    }
    for (; *tables; tables++)
        for (const cli_flag *f = *tables; f->name; f++)
            if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
                return f;
    return NULL;
}

/* True when value is one of the '|'-separated choices. */
static bool in_choices(const char *choices, const char *value)
{
    size_t vlen = strlen(value);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == vlen && strncmp(p, value, n) == 0)
            return true;
        p += n + (bar ? 1 : 0);
    }
    return false;
}

static int record(cli_args *a, const cli_flag *f, const char *value)
{
    if (a->nset == CLI_MAX_SET)
        return fail(a, "too many flags (at most %d)", CLI_MAX_SET);
    if (value && (f->kind == CLI_INT || f->kind == CLI_OPT_INT) && !is_number(value))
        return fail(a, "%s: expected a non-negative whole number, got '%s'", f->name, value);
    if (value && f->choices && !in_choices(f->choices, value))
        return fail(a, "%s: expected one of %s, got '%s'", f->name, f->choices, value);
    a->set[a->nset].flag = f;
    a->set[a->nset].value = value;
    a->nset++;
    return 0;
}

/* Reads the flag at argv[*i], consuming its value word when it takes one. */
static int parse_flag(cli_args *a, int argc, char **argv, int *i,
                      const cli_flag *const *tables)
{
    const char *word = argv[*i];
    const char *eq = strchr(word, '=');
    size_t len = eq ? (size_t)(eq - word) : strlen(word);
    const cli_flag *f = lookup(tables, word, len);
    if (!f)
        return fail(a, "unknown flag '%.*s'", (int)len, word);

    switch (f->kind) {
    case CLI_BOOL:
        if (eq)
            return fail(a, "%s takes no value", f->name);
        return record(a, f, NULL);
    case CLI_OPT_INT:
        if (eq)
            return record(a, f, eq + 1);
        if (*i + 1 < argc && is_number(argv[*i + 1]))
            return record(a, f, argv[++*i]);
        return record(a, f, NULL);
    case CLI_STR:
    case CLI_INT:
    case CLI_LIST:
        if (eq)
            return record(a, f, eq + 1);
        /* The next word is the value even if it starts with '-', so that
         * `--comment -1` and `--edit /delta=-5` mean what they say. */
        if (*i + 1 >= argc)
            return fail(a, "%s needs a value (%s)", f->name, f->metavar ? f->metavar : "VALUE");
        return record(a, f, argv[++*i]);
    }
    return fail(a, "%s: unsupported flag kind", f->name);
}

static int check_required(cli_args *a, const cli_flag *const *tables)
{
    for (; *tables; tables++)
        for (const cli_flag *f = *tables; f->name; f++)
            if (f->required && !cli_arg_has(a, f->name))
                return fail(a, "missing %s %s", f->name, f->metavar ? f->metavar : "");
    return 0;
}

/* The n-th word of an operand synopsis ("ID [FILE]", 1 -> "[FILE]"). */
static void operand_name(const char *synopsis, int n, char *out, size_t size)
{
    const char *p = synopsis ? synopsis : "";
    for (;;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (n-- == 0 || !p[len]) {
            snprintf(out, size, "%.*s", (int)len, p);
            return;
        }
        p += len;
    }
}

int cli_args_parse(cli_args *a, int argc, char **argv, const cli_flag *const *tables,
                   const char *operands)
{
    int min_pos, max_pos;
    cli_operands_count(operands, &min_pos, &max_pos);
    memset(a, 0, sizeof *a);
    bool operands_only = false;
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (!operands_only && strcmp(w, "--") == 0) {
            operands_only = true;
            continue;
        }
        /* A lone "-" is an operand (stdin), as in most tools. */
        if (!operands_only && w[0] == '-' && w[1] != '\0') {
            if (parse_flag(a, argc, argv, &i, tables) < 0)
                return -1;
            continue;
        }
        if (a->npos == CLI_MAX_POS || a->npos >= max_pos)
            return fail(a, "unexpected argument '%s'", w);
        a->pos[a->npos++] = w;
    }
    /* Help wins over every other complaint: `run start --help` must work
     * without the required --input. */
    if (cli_arg_has(a, "--help"))
        return 0;
    if (a->npos < min_pos) {
        char name[64];
        operand_name(operands, a->npos, name, sizeof name);
        return fail(a, "missing %s", name);
    }
    return check_required(a, tables);
}

bool cli_arg_has(const cli_args *a, const char *name)
{
    for (int i = 0; i < a->nset; i++)
        if (strcmp(a->set[i].flag->name, name) == 0)
            return true;
    return false;
}

const char *cli_arg_str(const cli_args *a, const char *name)
{
    for (int i = a->nset - 1; i >= 0; i--)
        if (strcmp(a->set[i].flag->name, name) == 0)
            return a->set[i].value;
    return NULL;
}

long cli_arg_int(const cli_args *a, const char *name, long def)
{
    const char *v = cli_arg_str(a, name);
    return v ? strtol(v, NULL, 10) : def;
}

const char *cli_arg_nth(const cli_args *a, const char *name, int n)
{
    for (int i = 0; i < a->nset; i++)
        if (strcmp(a->set[i].flag->name, name) == 0 && n-- == 0)
            return a->set[i].value;
    return NULL;
}

void cli_operands_count(const char *synopsis, int *min, int *max)
{
    *min = *max = 0;
    for (const char *p = synopsis ? synopsis : ""; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (*p != '[')
            ++*min;
        ++*max;
        while (*p && *p != ' ')
            p++;
    }
}
