/*
 * options.h - `spojit serve` settings: each flag has an environment twin,
 * and the flag wins. One table (options.c) drives parsing and --help.
 */
#ifndef SP_SERVE_OPTIONS_H
#define SP_SERVE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    char *listen;           /* "127.0.0.1:8080" */
    char *db;               /* "sqlite:./spojit.db" */
    bool demo;
    bool test_clock;
    int threads;
    size_t max_body;
    char *env_allow;        /* "A,B" or NULL */
    char *log_level;
    char *examples;         /* directory of demo workflows */
    int max_wait;           /* seconds, cap on ?wait= */
    int max_connections;    /* 0: sized from the open-file limit */
    int max_connections_per_ip;
    int rate_limit;         /* requests a second per API key; 0: no limit */
    int request_timeout;     /* seconds for a whole request, header and body */
    char *tls_cert;         /* PEM file: serve HTTPS (with tls_key) */
    char *tls_key;          /* PEM file of the certificate's private key */
    char *master_key_file;  /* NULL: <db path>.key (SPOJIT_MASTER_KEY wins) */
    bool secure_cookies;    /* HTTPS ends at a proxy in front: cookies get Secure */
    char *previous_master_key_file;     /* rotation: re-seal what it sealed (or
                                         * SPOJIT_PREVIOUS_MASTER_KEY) */
    bool callbacks_private; /* approval callbacks may go to private addresses */
    char *audit_anchor;     /* file for signed audit heads, or NULL */
    int audit_anchor_every; /* seconds between two of them */
} serve_options;

/* 0 ok, 1 --help was printed, 2 usage error (message printed). */
int serve_options_parse(int argc, char **argv, serve_options *o);
void serve_options_free(serve_options *o);
void serve_options_usage(FILE *out);

#endif
