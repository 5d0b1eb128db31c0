/*
 * ratelimit.h - counting failures per key in a fixed window (logins).
 *
 * A small table in memory, guarded by one mutex and bounded in size: each
 * entry is a key ("user:alice", "addr:10.0.0.7"), how many failures it had
 * and when its window started (the first failure). A key is blocked once
 * its count reaches the caller's maximum, until the window has passed.
 *
 * Per process: a cluster of spojit nodes counts on each node separately,
 * and a restart forgets every count. When the table is full, an entry whose
 * window has passed is reused, else the one with the fewest failures: so a
 * flood of distinct keys can at worst make the limiter forget keys with few
 * failures, never a blocked one first, and never make it refuse a key that
 * had no failures.
 *
 * Pure (no HTTP, no store), thread-safe; unit-tested in tests/unit.
 */
#ifndef SP_API_RATELIMIT_H
#define SP_API_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"

#define API_RL_KEY_MAX 96           /* longer keys are cut (they only merge) */

typedef struct api_rl api_rl;

/* capacity entries, each counting failures over window_ms. NULL: no memory. */
api_rl *api_rl_new(size_t capacity, int64_t window_ms);
void api_rl_free(api_rl *rl);

/* How many ms until key may try again: 0 when it has fewer than max
 * failures in its current window. */
int64_t api_rl_blocked(api_rl *rl, const char *key, int max, sp_time now);
/* Counts one failure of key at now (starting a new window when the last
 * one has passed). */
void api_rl_failed(api_rl *rl, const char *key, sp_time now);
/* Forgets key's failures (a successful login). */
void api_rl_reset(api_rl *rl, const char *key);
/* Both keys at once, under one lock: when neither is blocked, counts one
 * failure of each in advance and returns 0; else returns the ms until both
 * may try again and counts nothing. So attempts in flight together cannot
 * slip past the limit between a check and a count. */
int64_t api_rl_reserve(api_rl *rl, const char *k1, int max1, const char *k2, int max2,
                       sp_time now);
/* Takes back one failure counted in advance (an attempt that did not fail). */
void api_rl_refund(api_rl *rl, const char *key);
/* Entries in use (tests). */
size_t api_rl_size(api_rl *rl);

#endif
