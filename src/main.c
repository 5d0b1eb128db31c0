/* main.c - placeholder until the command dispatcher lands. */
#include <stdio.h>
int main(void) { puts("spojit"); return 0; }
