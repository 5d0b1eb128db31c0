/*
 * health.c - /healthz, /readyz and /metrics: public, unauthenticated, and
 * free of anything a stranger should not learn (no names, no ids).
 */
#include "api/api_internal.h"

#include <stdlib.h>

/* The process answers HTTP: it is alive. */
void api_healthz(api_call *c)
{
    http_reply_json(c->req, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready when the store answers a read. */
void api_readyz(api_call *c)
{
    sp_error err = SP_ERROR_INIT;
    char *value = NULL;
    store_conn *r = store_reader(c->a->store);
    sp_code rc = r ? store_meta_get(r, "schema_version", &value, &err) : SP_EUNAVAIL;
    if (r)
        store_release(r);
    free(value);
    sp_error_clear(&err);
    if (rc == SP_OK || rc == SP_ENOTFOUND)
        http_reply_json(c->req, 200, json_pack("{s:s}", "status", "ready"));
    else
        http_reply_json(c->req, 503, json_pack("{s:s, s:s}", "status", "unavailable", "reason",
                                                "the store does not answer"));
}

/* Prometheus text format, version 0.0.4. */
void api_metrics(api_call *c)
{
    api_buf b = { 0 };
    api_buf_puts(&b, "# HELP spojit_http_requests_total HTTP requests received by the API.\n"
                     "# TYPE spojit_http_requests_total counter\n");
    api_buf_printf(&b, "spojit_http_requests_total %llu\n",
                   (unsigned long long)atomic_load(&c->a->requests));
    api_buf_puts(&b, "# HELP spojit_longpolls_waiting Requests parked on ?wait=.\n"
                     "# TYPE spojit_longpolls_waiting gauge\n");
    api_buf_printf(&b, "spojit_longpolls_waiting %zu\n", api_lp_waiting(c->a->lp));

    api_buf_puts(&b, "# HELP spojit_timers_fired_total Timers fired since start.\n"
                     "# TYPE spojit_timers_fired_total counter\n");
    api_buf_printf(&b, "spojit_timers_fired_total %llu\n",
                   (unsigned long long)engine_timers_fired(c->a->engine));

    json_t *counts = NULL;
    sp_error err = SP_ERROR_INIT;
    int64_t timers = 0;
    store_conn *r = store_reader(c->a->store);
    if (r && store_timer_count(r, &timers, &err) == SP_OK)
        api_buf_printf(&b, "# HELP spojit_timers_pending Timers waiting to fire.\n"
                           "# TYPE spojit_timers_pending gauge\n"
                           "spojit_timers_pending %lld\n", (long long)timers);
    sp_error_clear(&err);
    if (r && store_run_counts(r, &counts, &err) == SP_OK) {
        static const char *const statuses[] = { "running", "waiting", "completed", "failed",
                                                "canceled", NULL };
        api_buf_puts(&b, "# HELP spojit_runs Runs by status.\n# TYPE spojit_runs gauge\n");
        for (const char *const *s = statuses; *s; s++)
            api_buf_printf(&b, "spojit_runs{status=\"%s\"} %lld\n", *s,
                           (long long)json_integer_value(json_object_get(counts, *s)));
    }
    if (r)
        store_release(r);
    json_decref(counts);
    sp_error_clear(&err);

    size_t len;
    char *text = api_buf_take(&b, &len);
    if (!text) {
        api_fail(c->req, SP_ENOMEM, "out of memory");
        return;
    }
    http_reply_raw(c->req, 200, "text/plain; version=0.0.4", text, len);
}
