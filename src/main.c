/*
 * main.c - the `spojit` binary: `spojit serve` runs the server (serve.c);
 * every other command is a client of its HTTP API (src/cli/).
 *
 * serve is matched before anything else so that it owns its whole command
 * line, --help included: its flags (--db, --listen, ...) are not client flags.
 */
#include <string.h>

#include "cli/cli.h"
#include "expr/expr.h"
#include "serve.h"

int main(int argc, char **argv)
{
    /* The server starts itself again as its expression evaluators. */
    if (argc == 2 && strcmp(argv[1], "__expr-worker") == 0)
        return expr_worker_main();
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    if (argc == 3 && strcmp(argv[1], "help") == 0 && strcmp(argv[2], "serve") == 0) {
        serve_usage(stdout);
        return 0;
    }
    return cli_main(argc, argv);
}
