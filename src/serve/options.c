/* options.c - the table of `spojit serve` flags; see options.h. */
#include "serve/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* OPT_INT is 0 to 1000000; OPT_COUNT the same without 0. */
typedef enum { OPT_STRING, OPT_BOOL, OPT_INT, OPT_COUNT, OPT_SIZE } opt_type;

typedef struct {
    const char *flag;
    const char *env;
    opt_type type;
    const char *def;        /* default, as text */
    size_t offset;
    const char *help;
} opt_spec;

#define AT(field) offsetof(serve_options, field)

static const opt_spec specs[] = {
    { "--listen", "SPOJIT_LISTEN", OPT_STRING, "127.0.0.1:8080", AT(listen),
      "HOST:PORT to listen on; port 0 picks a free port" },
    { "--db", "SPOJIT_DB", OPT_STRING, "sqlite:./spojit.db", AT(db),
      "the store: sqlite:PATH (postgres://... is planned)" },
    { "--demo", "SPOJIT_DEMO", OPT_BOOL, "0", AT(demo),
      "load demo users (alice, bob, carol; password demo) and examples/" },
    { "--examples", "SPOJIT_EXAMPLES", OPT_STRING, "examples", AT(examples),
      "directory of workflows the demo applies" },
    { "--test-clock", "SPOJIT_TEST_CLOCK", OPT_BOOL, "0", AT(test_clock),
      "enable POST /v1/admin/clock to move time (tests only; never in production)" },
    { "--threads", "SPOJIT_THREADS", OPT_INT, "4", AT(threads),
      "HTTP server threads" },
    { "--max-body", "SPOJIT_MAX_BODY", OPT_SIZE, "1048576", AT(max_body),
      "largest request body in bytes; larger ones get 413" },
    { "--max-wait", "SPOJIT_MAX_WAIT", OPT_INT, "60", AT(max_wait),
      "longest ?wait= long-poll in seconds" },
    { "--max-connections", "SPOJIT_MAX_CONNECTIONS", OPT_INT, "0", AT(max_connections),
      "HTTP connections held at once, long-polls included; 0: the open-file\n"
      "                           limit less 256, at most 16384" },
    { "--max-connections-per-ip", "SPOJIT_MAX_CONNECTIONS_PER_IP", OPT_COUNT, "64",
      AT(max_connections_per_ip),
      "HTTP connections from one client address (behind a proxy: all of them)" },
    { "--rate-limit", "SPOJIT_RATE_LIMIT", OPT_INT, "1000", AT(rate_limit),
      "requests a second one API key (or one user's web session) may make,\n"
      "                           with a burst of as many; more get 429; 0: no limit" },
    { "--request-timeout", "SPOJIT_REQUEST_TIMEOUT", OPT_COUNT, "10", AT(request_timeout),
      "seconds a connection has to send a whole request, header and body" },
    { "--callbacks-private", "SPOJIT_CALLBACKS_PRIVATE", OPT_BOOL, "0", AT(callbacks_private),
      "let approval callbacks go to loopback and private addresses\n"
      "                           (trusted networks and tests; else public only)" },
    { "--env-allow", "SPOJIT_ENV_ALLOW", OPT_STRING, NULL, AT(env_allow),
      "comma-separated environment variables expressions may read as $env" },
    { "--log-level", "SPOJIT_LOG_LEVEL", OPT_STRING, "info", AT(log_level),
      "debug, info, warn or error" },
    { "--tls-cert", "SPOJIT_TLS_CERT", OPT_STRING, NULL, AT(tls_cert),
      "PEM certificate (chain) file: serve HTTPS; needs --tls-key" },
    { "--tls-key", "SPOJIT_TLS_KEY", OPT_STRING, NULL, AT(tls_key),
      "PEM private key file of --tls-cert" },
    { "--secure-cookies", "SPOJIT_SECURE_COOKIES", OPT_BOOL, "0", AT(secure_cookies),
      "mark the session cookie Secure although spojit serves plain HTTP\n"
      "                           (HTTPS ends at a proxy in front of it)" },
    { "--audit-anchor", "SPOJIT_AUDIT_ANCHOR", OPT_STRING, NULL, AT(audit_anchor),
      "file to append a signed audit head to when the trail has grown\n"
      "                           (every --audit-anchor-every seconds): ship it elsewhere" },
    { "--audit-anchor-every", "SPOJIT_AUDIT_ANCHOR_EVERY", OPT_COUNT, "60",
      AT(audit_anchor_every), "seconds between two --audit-anchor heads" },
    { "--master-key-file", "SPOJIT_MASTER_KEY_FILE", OPT_STRING, NULL, AT(master_key_file),
      "file holding the key that encrypts secrets (mode 0600; created on\n"
      "                           first start; default: the database path + .key)" },
    { "--previous-master-key-file", "SPOJIT_PREVIOUS_MASTER_KEY_FILE", OPT_STRING, NULL,
      AT(previous_master_key_file),
      "rotation: the old master key; secrets sealed with it are sealed\n"
      "                           again with the current key at start-up" },
};
#define NSPECS (sizeof specs / sizeof specs[0])

void serve_options_usage(FILE *out)
{
    fprintf(out,
            "usage: spojit serve [flags]\n\n"
            "Runs the spojit server: the HTTP API and the engine.\n"
            "Every flag has an environment twin; the flag wins.\n\n");
    for (size_t i = 0; i < NSPECS; i++) {
        const opt_spec *s = &specs[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s", s->flag, s->type == OPT_BOOL ? "" : " VALUE");
        if (strlen(left) > 24)      /* too wide for the column: help below */
            fprintf(out, "  %s\n  %-24s %s\n  %-24s env %s", left, "", s->help, "", s->env);
        else
            fprintf(out, "  %-24s %s\n  %-24s env %s", left, s->help, "", s->env);
        if (s->def && s->type != OPT_BOOL)
            fprintf(out, ", default %s", s->def);
        fputc('\n', out);
    }
    fprintf(out,
            "  %-24s show this help\n\n"
            "Environment only:\n"
            "  SPOJIT_BOOTSTRAP_TOKEN  on first start, the admin's API key, at least 32\n"
            "                          characters (else one is generated and printed once)\n"
            "  SPOJIT_MASTER_KEY       the key that encrypts secrets (64 hex digits or\n"
            "                          base64 of 32 bytes), instead of a key file; lose\n"
            "                          the key and the secrets are lost\n"
            "  SPOJIT_PREVIOUS_MASTER_KEY  rotation: the old key, as text, instead of\n"
            "                          --previous-master-key-file\n",
            "-h, --help");
}

static int set_value(const opt_spec *s, serve_options *o, const char *value)
{
    char *field = (char *)o + s->offset;
    char *end;
    switch (s->type) {
    case OPT_STRING:
        free(*(char **)field);
        *(char **)field = value ? strdup(value) : NULL;
        return 0;
    case OPT_BOOL:
        *(bool *)field = value && (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 ||
                                   strcmp(value, "yes") == 0);
        return 0;
    case OPT_INT:
    case OPT_COUNT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || *end || v < (s->type == OPT_COUNT ? 1 : 0) || v > 1000000)
            return -1;
        *(int *)field = (int)v;
        return 0;
    }
    case OPT_SIZE: {
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || *end || v < 1024 || v > (1ull << 34))
            return -1;
        *(size_t *)field = (size_t)v;
        return 0;
    }
    }
    return -1;
}

int serve_options_parse(int argc, char **argv, serve_options *o)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < NSPECS; i++) {
        const char *env = getenv(specs[i].env);
        const char *v = env && *env ? env : specs[i].def;
        if (v && set_value(&specs[i], o, v) != 0) {
            fprintf(stderr, "spojit serve: %s=%s is not valid\n", specs[i].env, v);
            return 2;
        }
    }
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
            serve_options_usage(stdout);
            return 1;
        }
        const opt_spec *s = NULL;
        const char *arg = argv[a], *inline_value = strchr(arg, '=');
        size_t name_len = inline_value ? (size_t)(inline_value - arg) : strlen(arg);
        for (size_t i = 0; i < NSPECS && !s; i++)
            if (strlen(specs[i].flag) == name_len && strncmp(specs[i].flag, arg, name_len) == 0)
                s = &specs[i];
        if (!s) {
            fprintf(stderr, "spojit serve: unknown flag %s (see spojit serve --help)\n", arg);
            return 2;
        }
        const char *value = inline_value ? inline_value + 1 : NULL;
        if (s->type == OPT_BOOL && !value)
            value = "1";
        if (!value) {
            if (a + 1 >= argc) {
                fprintf(stderr, "spojit serve: %s needs a value\n", s->flag);
                return 2;
            }
            value = argv[++a];
        }
        if (set_value(s, o, value) != 0) {
            fprintf(stderr, "spojit serve: %s %s is not valid\n", s->flag, value);
            return 2;
        }
    }
    return 0;
}

void serve_options_free(serve_options *o)
{
    for (size_t i = 0; i < NSPECS; i++)
        if (specs[i].type == OPT_STRING) {
            char **field = (char **)((char *)o + specs[i].offset);
            free(*field);
            *field = NULL;
        }
}
