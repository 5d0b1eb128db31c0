/*
 * table.c - the human forms: aligned tables, CSV fields, short times.
 *
 * Pure functions of their input (no I/O but the FILE they are given), so
 * tests/unit/test_cli.c checks their exact output.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"

void cli_table_init(cli_table *t, int ncols, const char *const *head)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols < CLI_TABLE_MAX_COLS ? ncols : CLI_TABLE_MAX_COLS;
    for (int c = 0; c < t->ncols; c++)
        t->head[c] = head[c];
}

void cli_table_row(cli_table *t, const char *const *cells)
{
    if (t->nrows == t->caprows) {
        int cap = t->caprows ? t->caprows * 2 : 16;
        char **p = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *p);
        if (!p) {
            fputs("spojit: out of memory\n", stderr);
            exit(CLI_FAIL);
        }
        t->cells = p;
        t->caprows = cap;
    }
    for (int c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = strdup(cells[c] ? cells[c] : "-");
    t->nrows++;
}

void cli_table_free(cli_table *t)
{
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* Characters, not bytes: titles carry "·" and names may be any UTF-8, and a
 * column padded by bytes would drift. (East Asian wide characters would
 * still drift; tables are for people skimming, --json is for precision.) */
static int utf8_width(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Prints s cut to max characters (the last one becoming "…"), then pads to
 * width unless it is the last column. Control characters print as spaces so
 * that a newline in a title cannot break the table. */
static void print_cell(FILE *out, const char *s, int max, int width, bool last)
{
    int shown = 0, total = utf8_width(s);
    bool cut = max > 0 && total > max;
    for (const char *p = s; *p; shown++) {
        if (cut && shown == max - 1) {
            fputs("…", out);
            shown++;
            break;
        }
        const char *next = p + 1;
        while (((unsigned char)*next & 0xC0) == 0x80)
            next++;
        if ((unsigned char)*p < 0x20)
            fputc(' ', out);
        else
            fwrite(p, 1, (size_t)(next - p), out);
        p = next;
    }
    if (!last)
        for (; shown < width; shown++)
            fputc(' ', out);
}

void cli_table_print(const cli_table *t, FILE *out, int max_width)
{
    int width[CLI_TABLE_MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        width[c] = utf8_width(t->head[c]);
        for (int r = 0; r < t->nrows; r++) {
            int w = utf8_width(t->cells[r * t->ncols + c]);
            if (max_width > 0 && w > max_width)
                w = max_width;
            if (w > width[c])
                width[c] = w;
        }
    }
    for (int r = -1; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = r < 0 ? t->head[c] : t->cells[r * t->ncols + c];
            bool last = c == t->ncols - 1;
            print_cell(out, s, max_width, width[c], last);
            fputs(last ? "\n" : "  ", out);
        }
    }
}

void cli_csv_field(cli_buf *b, const char *s)
{
    if (!s)
        return;                 /* NULL is an empty field */
    if (!strpbrk(s, ",\"\r\n")) {
        cli_buf_puts(b, s);
        return;
    }
    cli_buf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            cli_buf_add(b, "\"", 1);       /* a quote inside is doubled */
        cli_buf_add(b, p, 1);
    }
    cli_buf_puts(b, "\"");
}

const char cli_audit_csv_head[] = "seq,at,actor,type,run_id,approval_id,data,prev_hash,hash";

void cli_audit_csv_row(cli_buf *b, const json_t *row)
{
    static const char *const cols[] = { "seq", "at", "actor", "type", "run_id",
                                        "approval_id", "data", "prev_hash", "hash" };
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
        if (i)
            cli_buf_puts(b, ",");
        json_t *v = json_object_get(row, cols[i]);
        /* data is JSON: its canonical text, so the CSV hashes like the trail */
        char *text = json_is_object(v) || json_is_array(v) ? json_canonical(v) : cli_text(v);
        cli_csv_field(b, text);
        free(text);
    }
    cli_buf_puts(b, "\n");
}

const char *cli_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

char *cli_text(const json_t *v)
{
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

const char *cli_when(const char *rfc3339, char out[32])
{
    if (!rfc3339)
        return NULL;
    /* "YYYY-MM-DDTHH:MM:SS..." -> "YYYY-MM-DD HH:MM:SS"; anything else as is */
    size_t n = strlen(rfc3339);
    if (n < 19 || rfc3339[10] != 'T') {
        snprintf(out, 32, "%s", rfc3339);
        return out;
    }
    memcpy(out, rfc3339, 19);
    out[10] = ' ';
    out[19] = '\0';
    return out;
}

/* Reaches "a.b" through nested objects; borrowed or NULL. */
static json_t *member(const json_t *obj, const char *key)
{
    const char *dot = strchr(key, '.');
    if (!dot)
        return json_object_get(obj, key);
    char head[64];
    snprintf(head, sizeof head, "%.*s", (int)(dot - key), key);
    return member(json_object_get(obj, head), dot + 1);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

char *cli_cell(const json_t *obj, const char *key)
{
    json_t *v = member(obj, key);
    if (json_is_string(v) && ends_with(key, "_at")) {
        char when[32];
        return strdup(cli_when(json_string_value(v), when));
    }
    if (json_is_array(v)) {
        cli_buf b = { 0 };
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            char *text = cli_text(item);
            cli_buf_printf(&b, "%s%s", i ? ", " : "", text ? text : "null");
            free(text);
        }
        return b.data ? b.data : strdup("");
    }
    return cli_text(v);
}

json_t *cli_items(const json_t *body)
{
    if (json_is_array(body))
        return (json_t *)body;
    json_t *items = json_object_get(body, "items");
    return json_is_array(items) ? items : NULL;
}

/* Widest a cell may be before it is cut: titles and summaries are long, and
 * a table wider than the terminal is unreadable. */
#define CLI_CELL_MAX 48

void cli_print_list(const json_t *body, const cli_column *cols, const char *none)
{
    json_t *items = cli_items(body);
    if (!items || json_array_size(items) == 0) {
        puts(none);
        return;
    }
    const char *head[CLI_TABLE_MAX_COLS];
    int ncols = 0;
    for (; cols[ncols].head && ncols < CLI_TABLE_MAX_COLS; ncols++)
        head[ncols] = cols[ncols].head;
    cli_table t;
    cli_table_init(&t, ncols, head);
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        char *cells[CLI_TABLE_MAX_COLS];
        for (int c = 0; c < ncols; c++)
            cells[c] = cli_cell(item, cols[c].key);
        cli_table_row(&t, (const char *const *)cells);
        for (int c = 0; c < ncols; c++)
            free(cells[c]);
    }
    cli_table_print(&t, stdout, CLI_CELL_MAX);
    cli_table_free(&t);
    const char *next = json_string_value(json_object_get(body, "next_cursor"));
    if (next && *next) {
        fflush(stdout);         /* the hint after the table on a terminal */
        fprintf(stderr, "(more: add --cursor %s)\n", next);
    }
}
