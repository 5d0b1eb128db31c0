/*
 * guard.h - keeping a call off addresses that are not public (outbound.h,
 * public_only). Internal to src/outbound.
 */
#ifndef SP_OUTBOUND_GUARD_H
#define SP_OUTBOUND_GUARD_H

#include <curl/curl.h>
#include <stdbool.h>

/* What the guard saw of one call's connection attempts. */
typedef struct {
    int refused;            /* addresses not connected to: not public */
    int allowed;            /* addresses connected to */
} outbound_guard;

/* Makes easy open its sockets through a check of each address, counting
 * into g (which must outlive the transfer), and go without a proxy. */
void outbound_guard_attach(CURL *easy, outbound_guard *g);

/* Whether the call failed because of the guard alone: something was
 * refused and nothing was connected to. */
bool outbound_guard_refused_all(const outbound_guard *g);

#endif
