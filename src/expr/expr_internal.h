/*
 * expr_internal.h - what the files of src/expr share.
 *
 *   expr.c      builder, program, evaluation
 *   jv_json.c   jq values <-> jansson values
 *   sandbox.c   refusing the builtins that reach outside a run
 *   template.c  {{ }} templates on top of programs
 *   simple.c    the simplest expressions (paths, objects of them,
 *               comparisons) answered without jq
 *   url.c       the rules of URL templates: where a part sits, encoding
 *   watchdog.c  stopping an evaluation that runs too long
 *   isolation.c the server's side of the evaluator processes
 *   worker.c    an evaluator process: its loop and its cache of programs
 *   confine.c   an evaluator process's limits: memory, files, system calls
 *   wire.c      the messages between the two
 */
#ifndef SP_EXPR_INTERNAL_H
#define SP_EXPR_INTERNAL_H

#include <jansson.h>
#include <jq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "expr/expr.h"

/* An evaluation that runs longer than this is stopped with an error, so a
 * runaway expression (`def f: f; f`, `[range(1e12)]`) cannot stall the
 * engine thread. Documented in docs/workflows. */
#define EXPR_TIME_LIMIT_MS 1000
/* Deepest result an expression may give: deeper documents could not be
 * stored and read back (JSON readers recurse). */
#define EXPR_MAX_RESULT_DEPTH 256

/* jq_state with an error callback that keeps the first compile message. */
typedef struct {
    jq_state *jq;
    char first_error[512];
    /* Trailing spaces of the whole first message: jq pads the quoted line
     * to the column of the error (compile_message.c reads it). */
    size_t first_error_pad;
} expr_jq;

bool expr_jq_init(expr_jq *j);
/* Compiles src; false with err (SP_EINVALID, the first jq message). */
bool expr_jq_compile(expr_jq *j, const char *src, sp_error *err);
void expr_jq_teardown(expr_jq *j);

/* ---- compile_message.c ---- */
/* Compiles src alone, as an author wrote it ($env and $secrets bound), and
 * on failure sets err to jq's first message in the author's terms: the
 * expression quoted, the line and column within it, none of the wrapper
 * expr.c puts around it. True when it compiles alone. */
bool expr_jq_explain(expr_jq *j, const char *src, sp_error *err);

/* expr_builder_add for a {{ }} part: its messages quote the part. */
typedef struct expr_builder expr_builder;
int expr_builder_add_part(expr_builder *b, const char *src, bool in_template, sp_error *err);

/* ---- expr.c, for the evaluator processes ---- */
/* Evaluates idx with jq values as input, consuming all three; watchdog arms
 * the in-process time limit (an evaluator process is stopped from outside
 * instead). Same results and errors as expr_eval. */
json_t *expr_eval_jv(expr_program *p, int idx, jv input, jv env, jv secrets, bool watchdog,
                     sp_error *err);
/* A program compiled from a joined source (expr_program's own). */
expr_program *expr_program_from_source(const char *source, int count, sp_error *err);
int expr_program_count(const expr_program *p);

/* ---- simple.c ---- */
/* The parsed form of src when it is simple (simple.c states the grammar),
 * else NULL. */
typedef struct expr_simple expr_simple;
expr_simple *expr_simple_parse(const char *src);
void expr_simple_free(expr_simple *e);
/* 1: answered as jq would, *out a new reference or NULL with err set;
 * 0: declined (jq's rules take more than this file has), *out NULL. input
 * is borrowed. */
int expr_simple_eval(const expr_simple *e, const json_t *input, json_t **out, sp_error *err);

/* ---- isolation.c ---- */
/* Whether expr_isolation_start has started the evaluator processes. */
bool expr_isolation_active(void);
/* expr_eval in an evaluator process: program is named by id and source. */
json_t *expr_isolation_eval(uint64_t program, const char *source, int count, int idx,
                            json_t *input, json_t *env, json_t *secrets, sp_error *err);

/* ---- wire.c: messages between the server and an evaluator process ----
 *
 * A request is a wire_request and then its texts, one after the other:
 *   WIRE_EVAL  text[0..2] = input, $env, $secrets as JSON; a length of
 *              WIRE_SAME means "as in the previous request" (no text).
 *   WIRE_LOAD  text[0] = the program's joined source; index = its count.
 * An answer is a wire_answer and then len bytes:
 *   WIRE_READY         the process is up (no bytes)
 *   WIRE_RESULT        the result as JSON
 *   WIRE_ERROR         the expression's error message
 *   WIRE_FATAL         a message, and the process exits right after
 *   WIRE_NEED_PROGRAM  the program is not loaded: send WIRE_LOAD first
 * Both ends are the same binary, so the headers are plain structs.
 */
enum { WIRE_EVAL = 1, WIRE_LOAD = 2 };
enum { WIRE_READY = 10, WIRE_RESULT, WIRE_ERROR, WIRE_FATAL, WIRE_NEED_PROGRAM };
#define WIRE_SAME UINT32_MAX
#define WIRE_TEXTS 3
/* The file descriptor an evaluator process finds its socket on. */
#define WIRE_FD 3

typedef struct {
    uint32_t op;
    int32_t index;
    uint64_t program;
    uint32_t len[WIRE_TEXTS];
    uint32_t pad;
} wire_request;

typedef struct {
    uint32_t op;
    uint32_t len;
} wire_answer;

/* What came in and was not yet taken. deadline_ms < 0: block (the
 * evaluator's side); else a CLOCK_MONOTONIC deadline in milliseconds, on a
 * non-blocking socket (the server's side). */
typedef struct {
    int fd;
    size_t pos, len;
    char buf[65536];
} wire_reader;

/* All len bytes into dst: 1 done, 0 the deadline passed, -1 the other end
 * is gone or the socket failed. */
int wire_read(wire_reader *r, void *dst, size_t len, int64_t deadline_ms);
/* Everything in iov (which it changes), as one message when it fits the
 * socket's buffer: 1, 0, -1 as wire_read. */
struct iovec;
int wire_writev(int fd, struct iovec *iov, int n, int64_t deadline_ms);
int64_t wire_now_ms(void);

/* Built with AddressSanitizer: evaluator processes are limited through
 * ASan's own options instead of rlimits and seccomp (see confine.c). */
#if defined(__SANITIZE_ADDRESS__)
#define EXPR_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EXPR_SANITIZED 1
#endif
#endif

/* ---- confine.c ---- */
/* Limits the calling evaluator process: address space, no core files, no
 * new files, and (outside sanitizer builds) a system call filter. false
 * with a message in why when a limit cannot be set. */
bool expr_confine(char *why, size_t why_len);

/* ---- jv_json.c: both take ownership of nothing; results are new ---- */
jv expr_json_to_jv(const json_t *v);
/* Consumes v. Numbers that are whole and within +-2^53 become integers;
 * NaN and infinities become null (as jq prints them). */
json_t *expr_jv_to_json(jv v);
/* A number as jq gives it back (whole within 2^53: an integer; NaN and
 * infinities: null). */
json_t *expr_number_json(double d);
/* Whether v is nested deeper than limit levels (borrowed). */
bool expr_jv_too_deep(jv v, int limit);
/* Consumes v like jv_free, with no recursion however deep it is. */
void expr_jv_free_deep(jv v);

/* ---- sandbox.c ---- */
/* SP_EINVALID naming the first forbidden builtin src uses outside a string. */
sp_code expr_sandbox_check(const char *src, sp_error *err);

/* ---- watchdog.c ---- */
/* Arms the watchdog on jq for EXPR_TIME_LIMIT_MS; false if it cannot run. */
void expr_watchdog_arm(jq_state *jq);
/* Disarms it; true when it fired (the evaluation was halted). */
bool expr_watchdog_disarm(void);

/* ---- url.c: URL templates (see the comment at the top of url.c) ---- */
typedef enum {
    EXPR_URL_NONE = 0,          /* not a URL template: inserted as text */
    EXPR_URL_SCHEME,            /* before "://" */
    EXPR_URL_AUTHORITY,         /* after "://", before the next / ? # */
    EXPR_URL_PATH,
    EXPR_URL_QUERY,
    EXPR_URL_FRAGMENT,
} expr_url_pos;

/* Where text that follows literal goes, when it starts at pos. */
expr_url_pos expr_url_scan(expr_url_pos pos, const char *literal);
/* Whether a part's source is configuration: exactly $env.NAME or
 * $secrets.NAME (spaces around allowed). */
bool expr_url_config_part(const char *src);
/* text with every byte but A-Z a-z 0-9 - . _ ~ as %XX. Caller frees;
 * NULL when out of memory. */
char *expr_url_encode(const char *text);
/* Whether the path segment of url that holds [start, end) is "", "." or
 * "..": a value that makes one would name another resource. */
bool expr_url_dot_segment(const char *url, size_t start, size_t end);
/* Whether url is http(s)://authority... and its first prefix_len bytes
 * (all that came before the first value from the run) already held the
 * same scheme and authority. False with err (SP_EINVALID) otherwise. */
bool expr_url_check(const char *url, size_t prefix_len, sp_error *err);

#endif
