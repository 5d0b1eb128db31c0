/*
 * clock.h - all engine time comes from here.
 *
 * Times are int64 milliseconds since the Unix epoch (UTC). In normal
 * operation the clock is the system clock. With `serve --test-clock` it
 * becomes a settable offset, so tests can move hours in milliseconds; the
 * offset is process-wide and thread-safe.
 */
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t sp_time;            /* ms since epoch, UTC */

sp_time clock_now(void);
/* Wall time regardless of the test clock (for logs and measurements). */
sp_time clock_wall(void);
/* Monotonic ms for deadlines and timing, unaffected by any clock setting. */
int64_t clock_mono_ms(void);

/* Test clock: enable, then advance or set. Both return the new now. */
void clock_enable_test(void);
bool clock_is_test(void);
sp_time clock_advance(int64_t ms);
sp_time clock_set(sp_time t);

/* RFC 3339 with milliseconds, always UTC: "2026-11-25T04:23:29.123Z".
 * buf needs SP_TIME_BUF bytes. Returns buf. */
#define SP_TIME_BUF 80
char *time_format(sp_time t, char buf[SP_TIME_BUF]);
/* Parses RFC 3339 (with offset or Z, optional fraction). 0 on success. */
int time_parse(const char *s, sp_time *out);

/*
 * Durations: "90s", "15m", "4h", "3d", "500ms", combinations like "1h30m",
 * or ISO 8601 "PT4H", "P3D", "P1DT2H". Returns 0 and the length in ms, or -1.
 * Zero and negative durations are rejected.
 */
int duration_parse(const char *s, int64_t *ms_out);

#endif
