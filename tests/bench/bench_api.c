/*
 * bench_api.c - the requests of the benchmark: set-up and the two halves
 * of the HITL cycle, each checked against the contract (SPEC §8, §11).
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

atomic_long bench_errors;
atomic_bool bench_abort;

/* Failures shown on stderr before we only count them. */
#define MAX_FAILURES_SHOWN 20

/*
 * The benchmark's workflow (SPEC §11): a transform makes the proposal, a
 * standalone gate routed to one user pauses the run, a final transform
 * runs after the approval, and the run completes.
 */
static const char HITL_WORKFLOW[] =
    "name: hitl\n"
    "description: The benchmark's human-in-the-loop cycle.\n"
    "steps:\n"
    "  - id: propose\n"
    "    transform: '{amount: .input.amount, customer: .input.customer}'\n"
    "  - id: review\n"
    "    approval:\n"
    "      to: [user:approver]\n"
    "      title: 'Refund of {{ .steps.propose.output.amount }}'\n"
    "      summary: '{{ .steps.propose.output.customer }} asks for a refund"
    " of {{ .steps.propose.output.amount }}'\n"
    "      proposal: .steps.propose.output\n"
    "  - id: finish\n"
    "    transform: '{refunded: .steps.review.output.amount,"
    " customer: .steps.review.output.customer}'\n";

static const char START_BODY[] =
    "{\"workflow\":\"hitl\",\"input\":{\"amount\":612,\"customer\":\"vip-42\"}}";
static const char APPROVE_BODY[] = "{\"decision\":\"approve\"}";

void bench_request_failed(const char *what, long status, const bench_client *c,
                          const char *reason)
{
    long n = atomic_fetch_add(&bench_errors, 1) + 1;

    if (n > MAX_FAILURES_SHOWN)
        return;
    if (status < 0)
        fprintf(stderr, "bench: %s: no response: %s\n", what, c->errbuf);
    else
        fprintf(stderr, "bench: %s: HTTP %ld%s%s: %.400s\n", what, status,
                reason ? ", " : "", reason ? reason : "", c->buf);
    if (n == MAX_FAILURES_SHOWN)
        fprintf(stderr, "bench: further failures are only counted\n");
}

bool bench_id_copy(char dst[BENCH_ID_MAX], const char *id)
{
    size_t n;

    if (!id || (n = strlen(id)) == 0 || n >= BENCH_ID_MAX ||
        strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789_-") != n)
        return false;
    memcpy(dst, id, n + 1);
    return true;
}

const char *bench_str_member(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? s : "";
}

int bench_start_paused_run(bench_client *c, const bench *b, bench_cycle *cy)
{
    long status = bench_client_post(c, b->as_admin, "/v1/runs", START_BODY);
    json_t *run;
    int rc = -1;

    if (status != 201) {
        bench_request_failed("POST /v1/runs", status, c, NULL);
        return -1;
    }
    if (!(run = bench_client_json(c))) {
        bench_request_failed("POST /v1/runs", status, c, "not JSON");
        return -1;
    }
    /* The run reaches the gate inside the start request (SPEC §11). */
    if (strcmp(bench_str_member(run, "status"), "waiting") != 0)
        bench_request_failed("POST /v1/runs", status, c, "run not waiting");
    else if (!bench_id_copy(cy->run, json_string_value(json_object_get(run, "id"))) ||
             !bench_id_copy(cy->approval, json_string_value(json_object_get(
                 json_object_get(run, "waiting"), "approval_id"))))
        bench_request_failed("POST /v1/runs", status, c,
                             "no usable id or waiting.approval_id");
    else
        rc = 0;
    json_decref(run);
    return rc;
}

int bench_approve(bench_client *c, const bench *b, const char *approval_id)
{
    char path[BENCH_ID_MAX + 32];
    json_t *gate;
    long status;
    int rc = -1;

    snprintf(path, sizeof path, "/v1/approvals/%s/decisions", approval_id);
    status = bench_client_post(c, b->as_approver, path, APPROVE_BODY);
    if (status != 200) {
        bench_request_failed("POST /v1/approvals/{id}/decisions", status, c, NULL);
        return -1;
    }
    if (!(gate = bench_client_json(c)))
        bench_request_failed("POST /v1/approvals/{id}/decisions", status, c,
                             "not JSON");
    else if (strcmp(bench_str_member(gate, "status"), "approved") != 0)
        bench_request_failed("POST /v1/approvals/{id}/decisions", status, c,
                             "gate not approved");
    else
        rc = 0;
    json_decref(gate);
    return rc;
}

int bench_check_completed(bench_client *c, const bench *b, const char *run_id)
{
    char path[BENCH_ID_MAX + 16];
    json_t *run;
    long status;
    int rc = -1;

    snprintf(path, sizeof path, "/v1/runs/%s", run_id);
    status = bench_client_get(c, b->as_admin, path);
    if (status != 200) {
        bench_request_failed("GET /v1/runs/{id}", status, c, NULL);
        return -1;
    }
    /* The decision's commit also runs the final step: no wait needed. */
    if (!(run = bench_client_json(c)))
        bench_request_failed("GET /v1/runs/{id}", status, c, "not JSON");
    else if (strcmp(bench_str_member(run, "status"), "completed") != 0)
        bench_request_failed("GET /v1/runs/{id}", status, c,
                             "run not completed after its decision");
    else
        rc = 0;
    json_decref(run);
    return rc;
}

/* POSTs body and expects status `want` (or `alt`, when not 0). */
static bool setup_post(bench_client *c, const struct curl_slist *hdrs,
                       const char *path, const char *body, long want, long alt)
{
    long status = bench_client_post(c, hdrs, path, body);

    if (status == want || (alt != 0 && status == alt))
        return true;
    bench_request_failed(path, status, c, "set-up failed");
    return false;
}

int bench_setup(bench *b)
{
    struct curl_slist *yaml = bench_headers_new(b->token, "application/yaml");
    const char *key;
    bench_client c;
    json_t *reply = NULL;
    int rc = -1;

    if (!yaml || bench_client_init(&c, b->base_url) != 0) {
        fprintf(stderr, "bench: out of memory\n");
        curl_slist_free_all(yaml);
        return -1;
    }
    if (!setup_post(&c, b->as_admin, "/v1/users",
                    "{\"name\":\"approver\",\"role\":\"member\"}", 201, 0) ||
        !setup_post(&c, b->as_admin, "/v1/keys", "{\"user\":\"approver\"}", 201, 0))
        goto out;
    reply = bench_client_json(&c);
    key = json_string_value(json_object_get(reply, "key"));
    if (!key) {
        bench_request_failed("/v1/keys", 201, &c, "no key in the reply");
        goto out;
    }
    if (!(b->as_approver = bench_headers_new(key, "application/json"))) {
        fprintf(stderr, "bench: out of memory\n");
        goto out;
    }
    /* A fresh store: 201. 200 would mean the same version already existed. */
    if (!setup_post(&c, yaml, "/v1/workflows", HITL_WORKFLOW, 201, 200))
        goto out;
    rc = 0;
out:
    json_decref(reply);
    bench_client_free(&c);
    curl_slist_free_all(yaml);
    return rc;
}
