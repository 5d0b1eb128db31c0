/*
 * values.c - values typed on the command line: `--edit /ptr=VALUE` and
 * `--input JSON|@FILE`.
 *
 * An approver types `--edit /amount=550` and means the number 550, types
 * `--edit /note=call me` and means a string; so VALUE is JSON when it parses
 * as JSON and a plain string otherwise (quote it, `'"550"'`, to force a
 * string that looks like a number).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    cli_buf b = { 0 };
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cli_buf_add(&b, chunk, n);
    int failed = ferror(f);
    if (f != stdin)
        fclose(f);
    if (failed) {
        cli_buf_free(&b);
        return NULL;
    }
    if (!b.data)
        cli_buf_add(&b, "", 0);     /* an empty file is "" , not an error */
    *len = b.len;
    return b.data;
}

int cli_edit_add(json_t *edits, const char *spec, char *err)
{
    const char *eq = strchr(spec, '=');
    if (spec[0] != '/' || !eq) {
        snprintf(err, CLI_ERR_MAX,
                 "--edit: expected /POINTER=VALUE (e.g. /amount=550), got '%s'", spec);
        return -1;
    }
    char *pointer = strndup(spec, (size_t)(eq - spec));
    if (json_object_get(edits, pointer)) {
        snprintf(err, CLI_ERR_MAX, "--edit: %s given twice", pointer);
        free(pointer);
        return -1;
    }
    const char *text = eq + 1;
    json_t *value = *text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    if (!value)
        value = json_string(text);
    if (!value) {               /* not valid UTF-8 either */
        snprintf(err, CLI_ERR_MAX, "--edit %s: value is not valid UTF-8", pointer);
        free(pointer);
        return -1;
    }
    json_object_set_new(edits, pointer, value);
    free(pointer);
    return 0;
}

json_t *cli_input_parse(const char *arg, char *err)
{
    sp_error e = SP_ERROR_INIT;
    json_t *v;
    if (arg[0] == '@') {
        const char *path = arg + 1;
        size_t len = 0;
        char *text = cli_read_file(path, &len);
        if (!text) {
            snprintf(err, CLI_ERR_MAX, "--input: cannot read %s: %s",
                     strcmp(path, "-") == 0 ? "stdin" : path, strerror(errno));
            return NULL;
        }
        v = json_parse_limited(text, len, SP_JSON_MAX_DEPTH,
                               strcmp(path, "-") == 0 ? "stdin" : path, &e);
        free(text);
    } else {
        v = json_parse_limited(arg, strlen(arg), SP_JSON_MAX_DEPTH, "--input", &e);
    }
    if (!v)
        snprintf(err, CLI_ERR_MAX, "%s", e.message);
    sp_error_clear(&e);
    return v;
}
