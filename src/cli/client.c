/*
 * client.c - one HTTP exchange with the spojit server (libcurl).
 *
 * The client adds the bearer token, sends JSON or YAML, and reads the answer
 * into a buffer (or streams a 2xx body to a sink, for audit export). Errors
 * reach the user in one shape, "spojit: MESSAGE", taken from the API's
 * {"error": {"code", "message"}} body; a connection failure names the URL,
 * because the usual cause is a wrong SPOJIT_URL or a server not running.
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("spojit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

typedef struct {
    CURL *curl;
    const cli_request *req;
    cli_response *resp;
} exchange;

/* Bodies of 2xx answers go to the request's sink when it has one; error
 * bodies are always buffered, so they can be reported. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    exchange *x = ctx;
    size_t len = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    if (x->req->sink && status >= 200 && status < 300)
        return x->req->sink(data, len, x->req->sink_ctx);
    cli_buf_add(&x->resp->body, data, len);
    return len;
}

int cli_http(const cli_ctx *ctx, const cli_request *req, cli_response *resp)
{
    memset(resp, 0, sizeof *resp);
    CURL *curl = curl_easy_init();
    if (!curl) {
        cli_errorf("cannot start the HTTP client");
        return CLI_FAIL;
    }
    cli_buf url = { 0 };
    cli_buf_puts(&url, ctx->url);
    cli_buf_puts(&url, req->path);

    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    cli_buf h = { 0 };
    if (ctx->token && *ctx->token) {
        cli_buf_printf(&h, "Authorization: Bearer %s", ctx->token);
        headers = curl_slist_append(headers, h.data);
        h.len = 0;
    }
    if (req->content_type) {
        cli_buf_printf(&h, "Content-Type: %s", req->content_type);
        headers = curl_slist_append(headers, h.data);
        h.len = 0;
    }
    if (req->idempotency_key) {
        cli_buf_printf(&h, "Idempotency-Key: %s", req->idempotency_key);
        headers = curl_slist_append(headers, h.data);
    }
    cli_buf_free(&h);

    exchange x = { curl, req, resp };
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url.data);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "spojit/" CLI_VERSION);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CLI_CONNECT_TIMEOUT_S);
    if (req->timeout_s >= 0)
        curl_easy_setopt(curl, CURLOPT_TIMEOUT,
                         req->timeout_s ? req->timeout_s : (long)CLI_HTTP_TIMEOUT_S);
    if (req->content_type) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }

    CURLcode rc = curl_easy_perform(curl);
    int result = CLI_OK;
    if (rc == CURLE_WRITE_ERROR && req->sink) {
        result = CLI_FAIL;      /* the sink refused: it has said why */
    } else if (rc != CURLE_OK) {
        cli_errorf("cannot reach %s: %s", ctx->url, *errbuf ? errbuf : curl_easy_strerror(rc));
        if (rc == CURLE_COULDNT_CONNECT)
            fputs("spojit: is `spojit serve` running there? Set SPOJIT_URL or --url.\n", stderr);
        result = CLI_FAIL;
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    cli_buf_free(&url);
    return result;
}

/* The {"error": {...}} object of a body, or NULL (borrowed from parsed). */
static json_t *error_of(json_t *parsed)
{
    json_t *e = json_object_get(parsed, "error");
    return json_is_object(e) ? e : NULL;
}

void cli_report_error(const cli_ctx *ctx, const cli_response *resp)
{
    if (ctx->json && resp->body.len)
        cli_print_raw(&resp->body);
    json_t *parsed = resp->body.data
        ? json_loadb(resp->body.data, resp->body.len, JSON_DECODE_ANY, NULL) : NULL;
    const char *message = json_string_value(json_object_get(error_of(parsed), "message"));
    if (message && *message)
        cli_errorf("%s", message);
    else
        cli_errorf("HTTP %ld from %s", resp->status, ctx->url);
    if (resp->status == 401 && !(ctx->token && *ctx->token))
        fputs("spojit: no API key given: set SPOJIT_TOKEN or --token\n", stderr);
    json_decref(parsed);
}

void cli_print_raw(const cli_buf *body)
{
    if (!body->len)
        return;
    fwrite(body->data, 1, body->len, stdout);
    if (body->data[body->len - 1] != '\n')
        fputc('\n', stdout);
}

/* Parses a 2xx body; an empty one (204) is JSON null. */
static json_t *parse_ok_body(const cli_ctx *ctx, const cli_response *resp)
{
    if (!resp->body.len)
        return json_null();
    json_t *v = json_loadb(resp->body.data, resp->body.len, JSON_DECODE_ANY, NULL);
    if (!v)
        cli_errorf("the server at %s answered HTTP %ld with a body that is not JSON",
                   ctx->url, resp->status);
    return v;
}

int cli_call(const cli_ctx *ctx, const cli_request *req, json_t **out)
{
    cli_response resp;
    if (out)
        *out = NULL;
    if (cli_http(ctx, req, &resp) != CLI_OK)
        return CLI_FAIL;
    int result = CLI_OK;
    if (resp.status < 200 || resp.status >= 300) {
        cli_report_error(ctx, &resp);
        result = CLI_FAIL;
    } else if (out && !(*out = parse_ok_body(ctx, &resp))) {
        result = CLI_FAIL;
    }
    cli_buf_free(&resp.body);
    return result;
}

int cli_call_print(const cli_ctx *ctx, const cli_request *req, cli_print_fn human)
{
    cli_response resp;
    if (cli_http(ctx, req, &resp) != CLI_OK)
        return CLI_FAIL;
    int result = CLI_OK;
    if (resp.status < 200 || resp.status >= 300) {
        cli_report_error(ctx, &resp);
        result = CLI_FAIL;
    } else if (ctx->json) {
        cli_print_raw(&resp.body);      /* exactly what the server said */
    } else {
        json_t *body = parse_ok_body(ctx, &resp);
        if (body)
            human(body);
        else
            result = CLI_FAIL;
        json_decref(body);
    }
    cli_buf_free(&resp.body);
    return result;
}

char *cli_json_body(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

int cli_send_json(const cli_ctx *ctx, const char *method, const char *path, json_t *body,
                  cli_print_fn human)
{
    char *text = body ? cli_json_body(body) : NULL;
    json_decref(body);
    cli_request req = { .method = method, .path = path,
                        .content_type = text ? "application/json" : NULL,
                        .body = text, .body_len = text ? strlen(text) : 0 };
    int rc = cli_call_print(ctx, &req, human);
    free(text);
    return rc;
}

char *cli_path_join(const char *prefix, const char *name)
{
    cli_buf path = { 0 };
    cli_buf_puts(&path, prefix);
    cli_buf_puts(&path, "/");
    cli_buf_escape(&path, name);
    return path.data;
}
