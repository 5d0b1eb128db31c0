#ifndef SP_SERVE_H
#define SP_SERVE_H
#include <stdio.h>
int serve_main(int argc, char **argv);   /* argv[0] is "serve" */
void serve_usage(FILE *out);
#endif
