/*
 * fuzz_example_inputs.c - the example workflows' expressions on generated
 * run data: libFuzzer harness, and (with tests/fuzz/replay.c) the replay
 * of its committed corpus that `make test` runs.
 *
 * Input: one JSON value (text that is not JSON becomes a string, when it is
 * UTF-8), put where run data goes: .input, .proposal, .arguments and every
 * step's output. Every expression of every workflow in examples/ is then
 * evaluated on it, in the evaluator processes the server uses (started
 * from $SPOJIT_BIN, default build/spojit), so what is found is a hole in
 * the containment, not one more of libjq's crashes. Each evaluation must
 * give a value or an error with a message; after each input a known
 * expression must still give its known value. Run from the repository's
 * root. Single-threaded (libjq).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "expr/expr_internal.h"
#include "workflow/workflow.h"

#define MAX_EXAMPLES 32

static workflow *examples[MAX_EXAMPLES];
static int nexamples;
static expr_program *known;     /* "[.input] | length": always 1 */
static unsigned long evaluations, failures;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_example_inputs: %s: %s\n", what, detail);
    abort();
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

static void load_examples(void)
{
    DIR *d = opendir("examples");
    if (!d)
        die("examples/", "cannot open (run from the repository's root)");
    struct dirent *e;
    while ((e = readdir(d)) && nexamples < MAX_EXAMPLES) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "examples/%s", e->d_name);
        size_t len;
        char *text = slurp(path, &len);
        if (!text)
            die(path, "cannot read");
        sp_error err = SP_ERROR_INIT;
        workflow *wf = workflow_load(text, len, WF_FORMAT_YAML, &err);
        free(text);
        if (!wf)
            die(path, err.message);
        examples[nexamples++] = wf;
    }
    closedir(d);
    if (!nexamples)
        die("examples/", "no workflow found");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *bin = getenv("SPOJIT_BIN");
    sp_error err = SP_ERROR_INIT;
    if (expr_isolation_start(bin ? bin : "build/spojit", &err) != SP_OK)
        die("the evaluator processes", err.message);
    load_examples();
    expr_builder *b = expr_builder_new();
    expr_builder_add(b, "[.input] | length", &err);
    if (!(known = expr_builder_finish(b, &err)))
        die("the known expression", err.message);
    return 0;
}

/* The evaluation document with v wherever run data goes (v is borrowed). */
static json_t *document(const workflow *wf, json_t *v)
{
    json_t *steps = json_object();
    for (size_t i = 0; i < wf->nsteps; i++)
        json_object_set_new(steps, wf->steps[i].id,
                            json_pack("{s:s, s:O, s:{s:s, s:O}}", "status", "completed", "output", v,
                                      "approval", "status", "approved", "proposal", v));
    return json_pack("{s:O, s:o, s:{s:s, s:s, s:i, s:s}, s:O, s:O}", "input", v, "steps", steps,
                     "run", "id", "run_fuzz", "workflow", wf->name, "version", 1, "started_by",
                     "alice", "proposal", v, "arguments", v);
}

static void evaluate_all(json_t *v)
{
    json_t *env = json_pack("{s:s, s:s}", "PAYMENTS_URL", "http://127.0.0.1:1", "region", "eu");
    json_t *secrets = json_pack("{s:s}", "payments_key", "s3cret-fuzz");
    for (int w = 0; w < nexamples; w++) {
        json_t *doc = document(examples[w], v);
        int count = expr_program_count(examples[w]->program);
        for (int i = 0; i < count; i++) {
            sp_error err = SP_ERROR_INIT;
            json_t *r = expr_eval(examples[w]->program, i, doc, env, secrets, &err);
            evaluations++;
            if (!r) {
                failures++;
                if (!err.message[0])
                    die(examples[w]->name, "an evaluation failed with no message");
            }
            json_decref(r);
            sp_error_clear(&err);
        }
        json_decref(doc);
    }
    json_decref(env);
    json_decref(secrets);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!v)
        v = json_stringn((const char *)data, size);    /* NULL when not UTF-8 */
    if (!v)
        v = json_null();
    evaluate_all(v);

    json_t *doc = json_pack("{s:O}", "input", v);
    sp_error err = SP_ERROR_INIT;
    json_t *one = expr_eval(known, 0, doc, NULL, NULL, &err);
    if (!json_is_integer(one) || json_integer_value(one) != 1)
        die("after this input the known expression", one ? "gave a wrong value" : err.message);
    json_decref(one);
    json_decref(doc);
    json_decref(v);
    return 0;
}

/* The replay's closing line (tests/fuzz/replay.c). */
void fuzz_replay_report(int inputs);
void fuzz_replay_report(int inputs)
{
    printf("replay: %d inputs on %d example workflows, %lu evaluations (%lu failed with an "
           "error, none crashed this process)\n", inputs, nexamples, evaluations, failures);
}
