/* test_cli.c - the pure parts of the `spojit` client: argument parsing
 * against flag tables, command lookup, --edit and --input values, tables,
 * CSV, URL escaping. No server is involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const cli_flag test_flags[] = {
    { "--comment", CLI_STR, "TEXT", "why", NULL, false },
    { "--edit", CLI_LIST, "/PTR=VALUE", "edit", NULL, false },
    { "--limit", CLI_INT, "N", "limit", NULL, false },
    { "--wait", CLI_OPT_INT, "SECONDS", "wait", NULL, false },
    { "--role", CLI_STR, "R", "role", "member|admin|viewer", false },
    { "--all", CLI_BOOL, NULL, "all", NULL, false },
    { NULL },
};

static const cli_flag required_flags[] = {
    { "--input", CLI_STR, "JSON", "input", NULL, true },
    { NULL },
};

/* Parses a NULL-terminated word list against globals + test_flags. */
static int parse(cli_args *a, const char *operands, const cli_flag *flags, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, flags);
    for (char *w; (w = va_arg(ap, char *)) && argc < 32;)
        argv[argc++] = w;
    va_end(ap);
    const cli_flag *const tables[] = { cli_global_flags, flags, NULL };
    return cli_args_parse(a, argc, argv, tables, operands);
}

static void flags_may_come_before_between_and_after_operands(void **state)
{
    cli_args a;
    assert_int_equal(parse(&a, "ID", test_flags, "--comment", "ok", "apr_1", "--all", NULL), 0);
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.pos[0], "apr_1");
    assert_string_equal(cli_arg_str(&a, "--comment"), "ok");
    assert_true(cli_arg_has(&a, "--all"));
    assert_false(cli_arg_has(&a, "--limit"));
    assert_null(cli_arg_str(&a, "--limit"));
}

static void equals_form_and_global_flags_are_read(void **state)
{
    cli_args a;
    assert_int_equal(parse(&a, "", test_flags, "--limit=5", "--url", "http://x:1", "--json", NULL), 0);
    assert_int_equal(cli_arg_int(&a, "--limit", 0), 5);
    assert_string_equal(cli_arg_str(&a, "--url"), "http://x:1");
    assert_true(cli_arg_has(&a, "--json"));
    assert_int_equal(cli_arg_int(&a, "--wait", 42), 42);
}

static void flag_values_may_start_with_a_dash(void **state)
{
    cli_args a;
    assert_int_equal(parse(&a, "ID", test_flags, "x", "--comment", "-1 is wrong",
                           "--edit", "/delta=-5", NULL), 0);
    assert_string_equal(cli_arg_str(&a, "--comment"), "-1 is wrong");
    assert_string_equal(cli_arg_nth(&a, "--edit", 0), "/delta=-5");
}

static void repeatable_flags_keep_every_value_in_order(void **state)
{
    cli_args a;
    assert_int_equal(parse(&a, "ID", test_flags, "x", "--edit", "/a=1", "--edit=/b=2",
                           "--comment", "first", "--comment", "last", NULL), 0);
    assert_string_equal(cli_arg_nth(&a, "--edit", 0), "/a=1");
    assert_string_equal(cli_arg_nth(&a, "--edit", 1), "/b=2");
    assert_null(cli_arg_nth(&a, "--edit", 2));
    assert_string_equal(cli_arg_str(&a, "--comment"), "last");
}

static void optional_value_is_taken_only_when_numeric(void **state)
{
    cli_args a;
    assert_int_equal(parse(&a, "WORKFLOW", test_flags, "--wait", "refund", NULL), 0);
    assert_true(cli_arg_has(&a, "--wait"));
    assert_null(cli_arg_str(&a, "--wait"));
    assert_int_equal(cli_arg_int(&a, "--wait", 60), 60);
    assert_string_equal(a.pos[0], "refund");

    assert_int_equal(parse(&a, "WORKFLOW", test_flags, "refund", "--wait", "30", NULL), 0);
    assert_int_equal(cli_arg_int(&a, "--wait", 60), 30);
    assert_int_equal(parse(&a, "WORKFLOW", test_flags, "refund", "--wait=7", NULL), 0);
    assert_int_equal(cli_arg_int(&a, "--wait", 60), 7);
}

static void double_dash_makes_the_rest_operands(void **state)
{
    cli_args a;
    assert_int_equal(parse(&a, "NAME", test_flags, "--", "--all", NULL), 0);
    assert_string_equal(a.pos[0], "--all");
    assert_false(cli_arg_has(&a, "--all"));
}

static void usage_errors_name_the_problem(void **state)
{
    cli_args a;
    assert_int_equal(parse(&a, "", test_flags, "--frob", NULL), -1);
    assert_string_equal(a.err, "unknown flag '--frob'");
    assert_int_equal(parse(&a, "", test_flags, "--comment", NULL), -1);
    assert_string_equal(a.err, "--comment needs a value (TEXT)");
    assert_int_equal(parse(&a, "", test_flags, "--limit", "ten", NULL), -1);
    assert_string_equal(a.err, "--limit: expected a non-negative whole number, got 'ten'");
    assert_int_equal(parse(&a, "", test_flags, "--limit", "-3", NULL), -1);
    assert_int_equal(parse(&a, "", test_flags, "--role", "boss", NULL), -1);
    assert_string_equal(a.err, "--role: expected one of member|admin|viewer, got 'boss'");
    assert_int_equal(parse(&a, "", test_flags, "--all=yes", NULL), -1);
    assert_string_equal(a.err, "--all takes no value");
    assert_int_equal(parse(&a, "ID", test_flags, "a", "b", NULL), -1);
    assert_string_equal(a.err, "unexpected argument 'b'");
    assert_int_equal(parse(&a, "ID [FILE]", test_flags, NULL), -1);
    assert_string_equal(a.err, "missing ID");
    assert_int_equal(parse(&a, "USER", required_flags, "alice", NULL), -1);
    assert_string_equal(a.err, "missing --input JSON");
}

static void choices_accept_each_listed_value(void **state)
{
    cli_args a;
    const char *ok[] = { "member", "admin", "viewer" };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(parse(&a, "", test_flags, "--role", ok[i], NULL), 0);
        assert_string_equal(cli_arg_str(&a, "--role"), ok[i]);
    }
    assert_int_equal(parse(&a, "", test_flags, "--role", "admi", NULL), -1);
    assert_int_equal(parse(&a, "", test_flags, "--role", "adminx", NULL), -1);
}

static void help_wins_over_missing_arguments(void **state)
{
    cli_args a;
    assert_int_equal(parse(&a, "WORKFLOW", required_flags, "--help", NULL), 0);
    assert_true(cli_arg_has(&a, "--help"));
    assert_int_equal(parse(&a, "WORKFLOW", required_flags, "-h", NULL), 0);
    assert_true(cli_arg_has(&a, "--help"));
}

static void operand_synopses_count_optional_words(void **state)
{
    int min, max;
    cli_operands_count("", &min, &max);
    assert_int_equal(min, 0);
    assert_int_equal(max, 0);
    cli_operands_count("ID", &min, &max);
    assert_int_equal(min, 1);
    assert_int_equal(max, 1);
    cli_operands_count("ID [FILE] [MORE]", &min, &max);
    assert_int_equal(min, 1);
    assert_int_equal(max, 3);
}

static void commands_are_found_by_their_longest_words(void **state)
{
    int used;
    char *w1[] = { "run", "start", "refund" };
    const cli_command *c = cli_find_command(w1, 3, &used);
    assert_non_null(c);
    assert_string_equal(c->words, "run start");
    assert_int_equal(used, 2);

    char *w2[] = { "approve", "apr_1" };
    c = cli_find_command(w2, 2, &used);
    assert_non_null(c);
    assert_string_equal(c->words, "approve");
    assert_int_equal(used, 1);

    char *w3[] = { "admin", "key", "create", "alice" };
    c = cli_find_command(w3, 4, &used);
    assert_string_equal(c->words, "admin key create");

    char *w4[] = { "run", "lst" };
    assert_null(cli_find_command(w4, 2, &used));
    char *w5[] = { "approvals" };
    assert_null(cli_find_command(w5, 1, &used));
}

static void every_command_has_help_and_a_runner(void **state)
{
    for (const cli_group *const *g = cli_groups; *g; g++)
        for (const cli_command *c = (*g)->commands; c->words; c++) {
            assert_non_null(c->run);
            assert_non_null(c->summary);
            char *text = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&text, &len);
            cli_usage_command(f, c);
            fclose(f);
            assert_non_null(strstr(text, c->words));
            for (const cli_flag *fl = c->flags; fl && fl->name; fl++)
                assert_non_null(strstr(text, fl->name));
            free(text);
        }
}

/* ---- --edit ---- */

static void edit_values_are_json_when_they_parse(void **state)
{
    char err[CLI_ERR_MAX];
    json_t *edits = json_object();
    assert_int_equal(cli_edit_add(edits, "/amount=550", err), 0);
    assert_int_equal(cli_edit_add(edits, "/note=call me", err), 0);
    assert_int_equal(cli_edit_add(edits, "/code=\"042\"", err), 0);
    assert_int_equal(cli_edit_add(edits, "/ok=true", err), 0);
    assert_int_equal(cli_edit_add(edits, "/items/0={\"a\":[1,2]}", err), 0);
    assert_int_equal(cli_edit_add(edits, "/empty=", err), 0);
    assert_int_equal(cli_edit_add(edits, "/eq=a=b", err), 0);
    char *dump = json_dumps(edits, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(dump, "{\"/amount\":550,\"/code\":\"042\",\"/empty\":\"\",\"/eq\":\"a=b\","
                              "\"/items/0\":{\"a\":[1,2]},\"/note\":\"call me\",\"/ok\":true}");
    free(dump);
    json_decref(edits);
}

static void malformed_or_repeated_edits_are_refused(void **state)
{
    char err[CLI_ERR_MAX];
    json_t *edits = json_object();
    assert_int_equal(cli_edit_add(edits, "amount=5", err), -1);
    assert_non_null(strstr(err, "expected /POINTER=VALUE"));
    assert_int_equal(cli_edit_add(edits, "/amount", err), -1);
    assert_int_equal(cli_edit_add(edits, "/amount=1", err), 0);
    assert_int_equal(cli_edit_add(edits, "/amount=2", err), -1);
    assert_string_equal(err, "--edit: /amount given twice");
    json_decref(edits);
}

/* ---- --input ---- */

static void input_is_json_text_or_a_file(void **state)
{
    char err[CLI_ERR_MAX];
    json_t *v = cli_input_parse("{\"amount\": 612}", err);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "amount")), 612);
    json_decref(v);

    char path[] = "/tmp/spojit-test-input-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"customer\": \"vip-42\"}\n", 23), 23);
    close(fd);
    char arg[64];
    snprintf(arg, sizeof arg, "@%s", path);
    v = cli_input_parse(arg, err);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "customer")), "vip-42");
    json_decref(v);
    unlink(path);

    assert_null(cli_input_parse(arg, err));     /* now gone */
    assert_non_null(strstr(err, "cannot read"));
}

static void bad_input_names_line_and_column(void **state)
{
    char err[CLI_ERR_MAX];
    assert_null(cli_input_parse("{\"a\": 1,\n \"b\": }", err));
    assert_non_null(strstr(err, "--input: invalid JSON at line 2"));
}

/* ---- tables and CSV ---- */

static char *print_table(const cli_table *t, int max)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_table_print(t, f, max);
    fclose(f);
    return text;
}

static void tables_align_columns_by_characters(void **state)
{
    const char *head[] = { "ID", "TITLE", "STATUS" };
    cli_table t;
    cli_table_init(&t, 3, head);
    cli_table_row(&t, (const char *[]){ "apr_1", "Refund · big", "pending" });
    cli_table_row(&t, (const char *[]){ "apr_22", NULL, "approved" });
    char *out = print_table(&t, 0);
    assert_string_equal(out,
                        "ID      TITLE         STATUS\n"
                        "apr_1   Refund · big  pending\n"
                        "apr_22  -             approved\n");
    free(out);
    cli_table_free(&t);
}

static void long_cells_are_cut_and_newlines_flattened(void **state)
{
    const char *head[] = { "T", "X" };
    cli_table t;
    cli_table_init(&t, 2, head);
    cli_table_row(&t, (const char *[]){ "abcdefghij", "a\nb" });
    char *out = print_table(&t, 5);
    assert_string_equal(out, "T      X\nabcd…  a b\n");
    free(out);
    cli_table_free(&t);
}

static char *csv(const char *s)
{
    cli_buf b = { 0 };
    cli_csv_field(&b, s);
    return b.data ? b.data : strdup("");
}

static void csv_fields_are_quoted_only_when_needed(void **state)
{
    const char *cases[][2] = {
        { "plain", "plain" },
        { "a,b", "\"a,b\"" },
        { "say \"hi\"", "\"say \"\"hi\"\"\"" },
        { "two\nlines", "\"two\nlines\"" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = csv(cases[i][0]);
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
    char *none = csv(NULL);
    assert_string_equal(none, "");
    free(none);
}

static void audit_rows_become_csv_lines(void **state)
{
    json_t *row = json_loads("{\"seq\": 7, \"at\": \"2026-11-25T04:23:29.123Z\", \"actor\": \"alice\","
                             " \"type\": \"decision\", \"run_id\": \"run_1\", \"approval_id\": null,"
                             " \"data\": {\"z\": 1, \"a\": \"x,y\"}, \"prev_hash\": \"aa\","
                             " \"hash\": \"bb\"}", 0, NULL);
    cli_buf b = { 0 };
    cli_audit_csv_row(&b, row);
    assert_string_equal(b.data, "7,2026-11-25T04:23:29.123Z,alice,decision,run_1,,"
                                "\"{\"\"a\"\":\"\"x,y\"\",\"\"z\"\":1}\",aa,bb\n");
    assert_string_equal(cli_audit_csv_head,
                        "seq,at,actor,type,run_id,approval_id,data,prev_hash,hash");
    cli_buf_free(&b);
    json_decref(row);
}

static void cells_show_times_lists_and_nested_members(void **state)
{
    json_t *o = json_loads("{\"created_at\": \"2026-11-25T04:23:29.123Z\","
                           " \"assignees\": [\"team:finance\", \"user:bob\"],"
                           " \"waiting\": {\"approval_id\": \"apr_1\"}, \"version\": 3,"
                           " \"output\": null}", 0, NULL);
    char *s = cli_cell(o, "created_at");
    assert_string_equal(s, "2026-11-25 04:23:29");
    free(s);
    s = cli_cell(o, "assignees");
    assert_string_equal(s, "team:finance, user:bob");
    free(s);
    s = cli_cell(o, "waiting.approval_id");
    assert_string_equal(s, "apr_1");
    free(s);
    s = cli_cell(o, "version");
    assert_string_equal(s, "3");
    free(s);
    assert_null(cli_cell(o, "output"));
    assert_null(cli_cell(o, "absent.deeper"));
    json_decref(o);
}

static void lists_come_from_arrays_or_items(void **state)
{
    json_t *arr = json_loads("[1]", 0, NULL);
    json_t *obj = json_loads("{\"items\": [1, 2], \"next_cursor\": null}", 0, NULL);
    json_t *bad = json_loads("{\"rows\": []}", 0, NULL);
    assert_ptr_equal(cli_items(arr), arr);
    assert_int_equal(json_array_size(cli_items(obj)), 2);
    assert_null(cli_items(bad));
    json_decref(arr);
    json_decref(obj);
    json_decref(bad);
}

/* ---- URLs ---- */

static void path_segments_and_query_values_are_escaped(void **state)
{
    cli_buf b = { 0 };
    cli_buf_puts(&b, "/v1/workflows/");
    cli_buf_escape(&b, "a/b c");
    cli_buf_query(&b, "version", "3");
    cli_buf_query(&b, "skip", NULL);
    cli_buf_query(&b, "q", "x&y=z~_.-");
    assert_string_equal(b.data, "/v1/workflows/a%2Fb%20c?version=3&q=x%26y%3Dz~_.-");
    cli_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flags_may_come_before_between_and_after_operands),
        cmocka_unit_test(equals_form_and_global_flags_are_read),
        cmocka_unit_test(flag_values_may_start_with_a_dash),
        cmocka_unit_test(repeatable_flags_keep_every_value_in_order),
        cmocka_unit_test(optional_value_is_taken_only_when_numeric),
        cmocka_unit_test(double_dash_makes_the_rest_operands),
        cmocka_unit_test(usage_errors_name_the_problem),
        cmocka_unit_test(choices_accept_each_listed_value),
        cmocka_unit_test(help_wins_over_missing_arguments),
        cmocka_unit_test(operand_synopses_count_optional_words),
        cmocka_unit_test(commands_are_found_by_their_longest_words),
        cmocka_unit_test(every_command_has_help_and_a_runner),
        cmocka_unit_test(edit_values_are_json_when_they_parse),
        cmocka_unit_test(malformed_or_repeated_edits_are_refused),
        cmocka_unit_test(input_is_json_text_or_a_file),
        cmocka_unit_test(bad_input_names_line_and_column),
        cmocka_unit_test(tables_align_columns_by_characters),
        cmocka_unit_test(long_cells_are_cut_and_newlines_flattened),
        cmocka_unit_test(csv_fields_are_quoted_only_when_needed),
        cmocka_unit_test(audit_rows_become_csv_lines),
        cmocka_unit_test(cells_show_times_lists_and_nested_members),
        cmocka_unit_test(lists_come_from_arrays_or_items),
        cmocka_unit_test(path_segments_and_query_values_are_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
