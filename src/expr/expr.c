/*
 * expr.c - a workflow's expressions as one jq program.
 *
 * All expressions of a workflow become functions of one program, compiled
 * once (expr_builder_check); only if that fails is each one compiled on its
 * own, to name the culprits:
 *
 *   . as [$__i, $__doc, $env, $secrets]
 *   | def __e0: (SRC0
 *   ); def __e1: (SRC1
 *   ); ...
 *   $__doc | if $__i < 2 then (if $__i < 1 then __e0 else __e1 end) else ... end
 *
 * The input array carries the expression's index, the document and the
 * per-call bindings, so one compiled jq_state serves every evaluation of
 * every run. The dispatch is a balanced tree of ifs: log2(n) comparisons.
 * The newline before each ")" keeps a trailing "# comment" from swallowing
 * it.
 */
#include "expr/expr.h"
#include "expr/expr_internal.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct expr_builder {
    char **sources;
    bool *in_template;          /* a {{ }} part: messages quote it */
    int count;
    int cap;
    expr_program *compiled;     /* set by a successful expr_builder_check */
};

struct expr_program {
    expr_jq jq;                 /* NULL until first evaluated in this process */
    int count;
    char *source;               /* the joined program, to compile it afresh */
    bool paths;                 /* may track paths (see retire_state) */
    bool retired_out;           /* retire_state gave up: evaluations fail */
    expr_simple **simple;       /* per expression: its simple form, or NULL */
    uint64_t id;                /* names it to the evaluator processes */
};

/* Program ids are never reused, so an evaluator process holding a compiled
 * program under an id always holds the right one. */
static _Atomic uint64_t last_program_id;

#define PRELUDE ". as [$__i, $__doc, $env, $secrets] | "

/* ---- the jq state and its messages ---- */

static void keep_first_error(void *data, jv msg)
{
    expr_jq *j = data;
    if (!j->first_error[0]) {
        jv text = jv_get_kind(msg) == JV_KIND_STRING ? jv_copy(msg) : jv_dump_string(jv_copy(msg), 0);
        const char *m = jv_string_value(text);
        snprintf(j->first_error, sizeof j->first_error, "%s", m);
        size_t len = strlen(m), pad = 0;
        while (pad < len && m[len - 1 - pad] == ' ')
            pad++;
        j->first_error_pad = pad;
        jv_free(text);
    }
    jv_free(msg);
}

bool expr_jq_init(expr_jq *j)
{
    j->first_error[0] = '\0';
    j->first_error_pad = 0;
    if (!(j->jq = jq_init()))
        return false;
    jq_set_error_cb(j->jq, keep_first_error, j);
    return true;
}

/* jq's messages are written for its command line; keep what they say. */
static void tidy_message(char *m)
{
    static const char *const noise[] = { "jq: error: ", " (Unix shell quoting issues?)",
                                         " (Windows cmd shell quoting issues?)" };
    for (size_t k = 0; k < sizeof noise / sizeof *noise; k++) {
        char *at;
        size_t n = strlen(noise[k]);
        while ((at = strstr(m, noise[k])))
            memmove(at, at + n, strlen(at + n) + 1);
    }
    size_t len = strlen(m);
    while (len && (m[len - 1] == '\n' || m[len - 1] == ':' || m[len - 1] == ' '))
        m[--len] = '\0';
    for (char *p = m; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

bool expr_jq_compile(expr_jq *j, const char *src, sp_error *err)
{
    j->first_error[0] = '\0';
    if (jq_compile(j->jq, src))
        return true;
    tidy_message(j->first_error);
    sp_error_set(err, SP_EINVALID, "%s", j->first_error[0] ? j->first_error : "the expression does not compile");
    return false;
}

void expr_jq_teardown(expr_jq *j)
{
    if (j->jq)
        jq_teardown(&j->jq);
}

/* ---- building ---- */

expr_builder *expr_builder_new(void)
{
    return calloc(1, sizeof(expr_builder));
}

void expr_builder_free(expr_builder *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->count; i++)
        free(b->sources[i]);
    free(b->sources);
    free(b->in_template);
    expr_program_free(b->compiled);
    free(b);
}

int expr_builder_add_part(expr_builder *b, const char *src, bool in_template, sp_error *err)
{
    if (!b)
        return sp_error_set(err, SP_ENOMEM, "out of memory"), -1;
    size_t len = strlen(src);
    if (len > EXPR_MAX_LENGTH) {
        sp_error_set(err, SP_EINVALID, "the expression is %zu bytes long; the limit is %d", len,
                     EXPR_MAX_LENGTH);
        return -1;
    }
    if (b->count >= EXPR_MAX_COUNT) {
        sp_error_set(err, SP_EINVALID, "more than %d expressions in one workflow", EXPR_MAX_COUNT);
        return -1;
    }
    if (expr_sandbox_check(src, err) != SP_OK)
        return -1;
    if (b->count == b->cap) {
        int cap = b->cap ? b->cap * 2 : 16;
        char **grown = realloc(b->sources, (size_t)cap * sizeof *grown);
        if (grown)
            b->sources = grown;
        bool *flags = grown ? realloc(b->in_template, (size_t)cap * sizeof *flags) : NULL;
        if (!flags) {
            sp_error_set(err, SP_ENOMEM, "out of memory");
            return -1;
        }
        b->in_template = flags;
        b->cap = cap;
    }
    if (!(b->sources[b->count] = strdup(src))) {
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return -1;
    }
    b->in_template[b->count] = in_template;
    expr_program_free(b->compiled);     /* a new expression: check again */
    b->compiled = NULL;
    return b->count++;
}

int expr_builder_add(expr_builder *b, const char *src, sp_error *err)
{
    return expr_builder_add_part(b, src, false, err);
}

int expr_builder_count(const expr_builder *b)
{
    return b ? b->count : 0;
}

const char *expr_builder_source(const expr_builder *b, int idx)
{
    return b && idx >= 0 && idx < b->count ? b->sources[idx] : NULL;
}

typedef struct {
    char *data;
    size_t len, cap;
    bool oom;
} text;

static void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (n >= 0 && t->len + (size_t)n + 1 > cap)
            cap *= 2;
        char *grown = n < 0 ? NULL : realloc(t->data, cap);
        if (!grown) {
            t->oom = true;
            va_end(again);
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
    vsnprintf(t->data + t->len, t->cap - t->len, fmt, again);
    va_end(again);
    t->len += (size_t)n;
}

/* Expressions lo..hi-1 as a balanced tree of ifs on $__i. */
static void dispatch(text *t, int lo, int hi)
{
    if (hi - lo == 1) {
        /* The first output only, and the generator ends there (see
         * expr_eval): label and break unwind it as jq itself would. */
        text_add(t, "(label $__first | __e%d | ., break $__first)", lo);
        return;
    }
    int mid = lo + (hi - lo) / 2;
    text_add(t, "if $__i < %d then ", mid);
    dispatch(t, lo, mid);
    text_add(t, " else ");
    dispatch(t, mid, hi);
    text_add(t, " end");
}

/* Whether any expression may run inside a path expression: path() itself
 * and the builtins built on it - paths, leaf_paths, del, tostream and the
 * stream filters, every assignment operator (=, |=, +=, ...), map_values,
 * INDEX, from_entries and with_entries. A word test, so it errs towards yes. */
static bool tracks_paths(const expr_builder *b)
{
    static const char *const words[] = { "path", "=", "del", "stream", "map_values", "INDEX",
                                         "entries", NULL };
    for (int i = 0; i < b->count; i++)
        for (int w = 0; words[w]; w++)
            if (strstr(b->sources[i], words[w]))
                return true;
    return false;
}

/* The joined program, or NULL with err set. */
static expr_program *compile_all(expr_builder *b, sp_error *err)
{
    expr_program *p = calloc(1, sizeof *p);
    text t = { 0 };
    text_add(&t, PRELUDE);
    for (int i = 0; i < b->count; i++)
        text_add(&t, "def __e%d: (%s\n); ", i, b->sources[i]);
    text_add(&t, "$__doc | ");
    if (b->count)
        dispatch(&t, 0, b->count);
    else
        text_add(&t, "null");

    bool ok = false;
    if (!p || t.oom || !expr_jq_init(&p->jq)) {
        sp_error_set(err, SP_ENOMEM, "out of memory");
    } else {
        ok = expr_jq_compile(&p->jq, t.data, err);
        p->count = b->count;
        p->source = t.data;
        t.data = NULL;
        p->paths = tracks_paths(b);
        p->id = ++last_program_id;
        if (b->count && (p->simple = calloc((size_t)b->count, sizeof *p->simple)))
            for (int i = 0; i < b->count; i++)
                p->simple[i] = expr_simple_parse(b->sources[i]);
    }
    free(t.data);
    if (!ok) {
        expr_program_free(p);
        return NULL;
    }
    return p;
}

/* Compiles expression i alone (the slow path, only after a failure), in the
 * wrapper the joined program gives it; when that fails, err is jq's message
 * about the expression as its author wrote it (compile_message.c). */
static bool compiles_alone(expr_jq *checker, const char *src, sp_error *err)
{
    size_t n = strlen(PRELUDE) + strlen(src) + 32;
    char *wrapped = malloc(n);
    if (!wrapped) {
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return false;
    }
    snprintf(wrapped, n, "%s$__doc | (%s\n)", PRELUDE, src);
    bool ok = expr_jq_compile(checker, wrapped, err);
    free(wrapped);
    if (ok)
        return true;
    sp_error_clear(err);
    if (expr_jq_explain(checker, src, err))     /* alone yes, wrapped no */
        sp_error_set(err, SP_EINVALID, "does not compile as one expression "
                     "(a bracket closes one it did not open)");
    return false;
}

/* The expression as messages quote it: on one line, cut short when long. */
static void quote_source(char *out, size_t cap, const char *src)
{
    enum { QUOTE_MAX = 80 };
    size_t len = strlen(src);
    snprintf(out, cap, "%.*s%s", QUOTE_MAX, src, len > QUOTE_MAX ? "..." : "");
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
}

sp_code expr_builder_check(expr_builder *b, expr_problem_fn bad, void *ctx)
{
    if (!b)
        return SP_ENOMEM;
    if (b->compiled)
        return SP_OK;
    sp_error err = SP_ERROR_INIT;
    if ((b->compiled = compile_all(b, &err)))
        return SP_OK;
    sp_code joined = err.code;
    sp_error_clear(&err);
    expr_jq checker;
    if (!expr_jq_init(&checker))
        return SP_ENOMEM;
    int culprits = 0;
    for (int i = 0; i < b->count; i++) {
        if (compiles_alone(&checker, b->sources[i], &err))
            continue;
        char message[SP_ERROR_MESSAGE_MAX], quoted[128];
        quote_source(quoted, sizeof quoted, b->sources[i]);
        if (b->in_template[i])
            snprintf(message, sizeof message, "in {{%s}}: %s", quoted, err.message);
        else
            snprintf(message, sizeof message, "in `%s`: %s", quoted, err.message);
        sp_error_clear(&err);
        if (bad)
            bad(ctx, i, message);
        culprits++;
    }
    expr_jq_teardown(&checker);
    if (!culprits && bad)   /* each compiles alone, yet not together */
        bad(ctx, -1, "the expressions do not compile together");
    return joined == SP_ENOMEM ? SP_ENOMEM : SP_EINVALID;
}

expr_program *expr_builder_finish(expr_builder *b, sp_error *err)
{
    if (!b) {
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return NULL;
    }
    expr_program *p = b->compiled;
    b->compiled = NULL;
    if (!p)
        p = compile_all(b, err);
    expr_builder_free(b);
    if (p && expr_isolation_active()) {
        /* It is evaluated in the evaluator processes only; its state here
         * (builtins and all) would be memory for nothing. */
        expr_jq_teardown(&p->jq);
        p->jq.jq = NULL;
    }
    return p;
}

expr_program *expr_program_from_source(const char *source, int count, sp_error *err)
{
    expr_program *p = calloc(1, sizeof *p);
    if (!p || !(p->source = strdup(source)) || !expr_jq_init(&p->jq)) {
        expr_program_free(p);
        sp_error_set(err, SP_ENOMEM, "out of memory");
        return NULL;
    }
    if (!expr_jq_compile(&p->jq, p->source, err)) {
        expr_program_free(p);
        return NULL;
    }
    p->count = count;
    p->paths = true;            /* unknown here; the cautious answer */
    p->id = ++last_program_id;
    return p;
}

int expr_program_count(const expr_program *p)
{
    return p ? p->count : 0;
}

void expr_program_free(expr_program *p)
{
    if (!p)
        return;
    expr_jq_teardown(&p->jq);
    if (p->simple)
        for (int i = 0; i < p->count; i++)
            expr_simple_free(p->simple[i]);
    free(p->simple);
    free(p->source);
    free(p);
}

/*
 * libjq 1.6 asserts (aborting the process) when a state that was halted in
 * the middle of a path expression (`paths`, `|=`, `del` ... stopped by the
 * watchdog) is started again or torn down. Such a state can only be set
 * aside: it is kept here and never touched again, and the program gets a
 * fresh state. It costs one program's memory per halted evaluation of a
 * program that may track paths - a runaway expression, which its author
 * should fix. Programs that cannot track paths keep their state.
 */
static jq_state **retired;
static size_t nretired, retired_cap;

/* Past this many, a program whose state must be set aside gets no new one:
 * its evaluations fail until the workflow is loaded again, so a runaway
 * expression run again and again cannot grow memory without end. */
#define EXPR_RETIRED_MAX 64

static void retire_state(expr_program *p)
{
    if (nretired == retired_cap) {
        size_t cap = retired_cap ? retired_cap * 2 : 16;
        jq_state **grown = realloc(retired, cap * sizeof *grown);
        if (grown) {
            retired = grown;
            retired_cap = cap;
        }
    }
    if (nretired < retired_cap)
        retired[nretired++] = p->jq.jq;
    p->jq.jq = NULL;
    sp_error err = SP_ERROR_INIT;
    if (nretired >= EXPR_RETIRED_MAX || !expr_jq_init(&p->jq) || !p->source ||
        !expr_jq_compile(&p->jq, p->source, &err)) {
        expr_jq_teardown(&p->jq);       /* evaluations fail until the workflow is loaded again */
        p->jq.jq = NULL;
        p->retired_out = true;
    }
    sp_error_clear(&err);
}

/* ---- evaluating ---- */

static void runtime_error(jv failure, sp_error *err)
{
    jv msg = jv_invalid_get_msg(failure);
    if (jv_get_kind(msg) == JV_KIND_STRING) {
        sp_error_set(err, SP_EINVALID, "%s", jv_string_value(msg));
    } else {
        jv dumped = jv_dump_string(msg, 0);
        sp_error_set(err, SP_EINVALID, "error(%s)", jv_string_value(dumped));
        jv_free(dumped);
        return;
    }
    jv_free(msg);
}

json_t *expr_eval(expr_program *p, int idx, json_t *input, json_t *env, json_t *secrets,
                  sp_error *err)
{
    if (!p || idx < 0 || idx >= p->count) {
        sp_error_set(err, SP_EINTERNAL, "no expression %d in this program", idx);
        return NULL;
    }
    if (p->simple && p->simple[idx]) {
        json_t *out;
        if (expr_simple_eval(p->simple[idx], input, &out, err))
            return out;
    }
    if (expr_isolation_active())
        return expr_isolation_eval(p->id, p->source, p->count, idx, input, env, secrets, err);
    if (!p->jq.jq && !p->retired_out) {
        /* Compiled lazily: a program evaluated in the evaluator processes
         * needs no state here. */
        if (!expr_jq_init(&p->jq) || !expr_jq_compile(&p->jq, p->source, err)) {
            expr_jq_teardown(&p->jq);
            p->jq.jq = NULL;
            if (!err || !err->code)
                sp_error_set(err, SP_ENOMEM, "out of memory");
            return NULL;
        }
    }
    return expr_eval_jv(p, idx, input ? expr_json_to_jv(input) : jv_null(),
                        env ? expr_json_to_jv(env) : jv_null(),
                        secrets ? expr_json_to_jv(secrets) : jv_null(), true, err);
}

json_t *expr_eval_jv(expr_program *p, int idx, jv input, jv env, jv secrets, bool watchdog,
                     sp_error *err)
{
    if (!p->jq.jq) {
        jv_free(input);
        jv_free(env);
        jv_free(secrets);
        sp_error_set(err, SP_EINVALID, "this workflow's expressions were stopped by the time "
                     "limit too often to go on; fix the runaway expression and apply it again");
        return NULL;
    }
    jv args = jv_array();
    args = jv_array_append(args, jv_number(idx));
    args = jv_array_append(args, input);
    args = jv_array_append(args, env);
    args = jv_array_append(args, secrets);

    jq_start(p->jq.jq, args, 0);
    if (watchdog)
        expr_watchdog_arm(p->jq.jq);
    jv result = jq_next(p->jq.jq);
    /* Run the program to its end: libjq 1.6 aborts the process (an assert
     * in stack_restore) when a state left inside a path expression such as
     * `paths` is started again. With the first output taken, the break
     * in the dispatch ends it at once. */
    if (jv_is_valid(result)) {
        jv rest = jq_next(p->jq.jq);
        while (jv_is_valid(rest)) {         /* cannot happen after break; be sure */
            jv_free(rest);
            rest = jq_next(p->jq.jq);
        }
        jv_free(rest);
    }
    bool timed_out = watchdog && expr_watchdog_disarm();
    if (jv_is_valid(result) && (timed_out || jq_halted(p->jq.jq)) && p->paths)
        retire_state(p);                    /* stopped between the two calls */
    if (jv_is_valid(result)) {
        if (!expr_jv_too_deep(result, EXPR_MAX_RESULT_DEPTH))
            return expr_jv_to_json(result);
        expr_jv_free_deep(result);
        sp_error_set(err, SP_EINVALID, "the expression's result is nested deeper than %d levels",
                     EXPR_MAX_RESULT_DEPTH);
        return NULL;
    }
    if (timed_out || jq_halted(p->jq.jq)) {
        jv_free(result);
        if (p->paths)
            retire_state(p);
        sp_error_set(err, SP_EINVALID, "the expression ran longer than %d ms and was stopped",
                     EXPR_TIME_LIMIT_MS);
        return NULL;
    }
    if (jv_invalid_has_msg(jv_copy(result))) {
        runtime_error(result, err);
        return NULL;
    }
    jv_free(result);
    return json_null();         /* no output */
}

bool expr_truthy(const json_t *v)
{
    return v && !json_is_null(v) && !json_is_false(v);
}
