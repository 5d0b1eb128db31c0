/*
 * keyrate.h - how many requests one API key (or one user's web session) may
 * make per second: a token bucket per key.
 *
 * Each key holds up to `rate` tokens (a second's worth: the burst) and
 * gains `rate` a second; a request takes one. A key with none left is
 * answered 429 with Retry-After until a token is back. Counted in memory,
 * per process, in a fixed table (API_KR_SLOTS): a key is looked up in
 * API_KR_WAYS slots by its hash; when none is free the one unused longest
 * is taken, which forgets that key's count (it starts again full). Keys are
 * authenticated before they are counted, so only holders of valid keys can
 * fill the table. One mutex, a few slot compares: no allocation after
 * api_kr_new.
 *
 * Pure (no HTTP, no store), thread-safe; unit-tested in tests/unit.
 */
#ifndef SP_API_KEYRATE_H
#define SP_API_KEYRATE_H

#include <stdint.h>

#define API_KR_SLOTS    4096
#define API_KR_WAYS     8
#define API_KR_KEY_MAX  96          /* longer keys are cut (they only merge) */

typedef struct api_kr api_kr;

/* rate requests per second per key (burst rate); NULL when rate <= 0 (no
 * limit) or out of memory (*oom set then). */
api_kr *api_kr_new(int rate, int *oom);
void api_kr_free(api_kr *kr);

/* Takes one token of key at now_ms (monotonic). Returns 0 when the request
 * may go on, else the ms until key has a token again (nothing is taken). */
int64_t api_kr_take(api_kr *kr, const char *key, int64_t now_ms);

#endif
