/* clock.c - system and test clocks, RFC 3339 and durations; see clock.h. */
#include "core/clock.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_bool test_clock_on;
static _Atomic int64_t test_clock_offset;

sp_time clock_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (sp_time)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

sp_time clock_now(void)
{
    return clock_wall() + atomic_load(&test_clock_offset);
}

void clock_enable_test(void) { atomic_store(&test_clock_on, true); }
bool clock_is_test(void) { return atomic_load(&test_clock_on); }

sp_time clock_advance(int64_t ms)
{
    atomic_fetch_add(&test_clock_offset, ms);
    return clock_now();
}

sp_time clock_set(sp_time t)
{
    atomic_store(&test_clock_offset, t - clock_wall());
    return clock_now();
}

char *time_format(sp_time t, char buf[SP_TIME_BUF])
{
    time_t secs = (time_t)(t / 1000);
    int ms = (int)(t % 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, SP_TIME_BUF, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ms);
    return buf;
}

static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

int time_parse(const char *s, sp_time *out)
{
    int Y, M, D, h, m, sec, ms = 0;
    const char *p = s;
    if (read_digits(&p, 4, &Y) || *p++ != '-' || read_digits(&p, 2, &M) ||
        *p++ != '-' || read_digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &m) ||
        *p++ != ':' || read_digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        p++;
        int scale = 100, digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits++ < 3) {
                ms += (*p - '0') * scale;
                scale /= 10;
            }
            p++;
        }
        if (digits == 0)
            return -1;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om))
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                     .tm_hour = h, .tm_min = m, .tm_sec = sec };
    time_t t = timegm(&tm);
    *out = ((sp_time)t - offset_min * 60) * 1000 + ms;
    return 0;
}

/* One "<number><unit>" run of a short duration, e.g. "90s" or "1.5h". */
static int short_unit_ms(const char *unit, size_t len, double *ms)
{
    static const struct { const char *u; double ms; } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
        { "d", 86400000 }, { "w", 604800000 },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].u) == len && strncmp(units[i].u, unit, len) == 0) {
            *ms = units[i].ms;
            return 0;
        }
    return -1;
}

static int parse_short(const char *s, int64_t *out)
{
    double total = 0;
    const char *p = s;
    if (!*p)
        return -1;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p))
            return -1;
        double v = strtod(p, &end);
        if (end == p)
            return -1;
        p = end;
        const char *u = p;
        while (isalpha((unsigned char)*p))
            p++;
        double unit;
        if (short_unit_ms(u, (size_t)(p - u), &unit))
            return -1;
        total += v * unit;
    }
    if (total < 1 || total > 9.0e15)
        return -1;
    *out = (int64_t)total;
    return 0;
}

static int parse_iso(const char *s, int64_t *out)
{
    const char *p = s + 1;          /* past 'P' */
    double total = 0;
    int in_time = 0, any = 0;
    while (*p) {
        if (*p == 'T') {
            if (in_time)
                return -1;
            in_time = 1;
            p++;
            continue;
        }
        char *end;
        if (!isdigit((unsigned char)*p))
            return -1;
        double v = strtod(p, &end);
        p = end;
        double unit;
        switch (*p) {
        case 'W': if (in_time) return -1; unit = 604800000; break;
        case 'D': if (in_time) return -1; unit = 86400000; break;
        case 'H': if (!in_time) return -1; unit = 3600000; break;
        case 'M': if (!in_time) return -1; unit = 60000; break;
        case 'S': if (!in_time) return -1; unit = 1000; break;
        default: return -1;         /* years and months have no fixed length */
        }
        p++;
        total += v * unit;
        any = 1;
    }
    if (!any || total < 1 || total > 9.0e15)
        return -1;
    *out = (int64_t)total;
    return 0;
}

int duration_parse(const char *s, int64_t *ms_out)
{
    if (!s || !*s)
        return -1;
    if (s[0] == 'P')
        return parse_iso(s, ms_out);
    return parse_short(s, ms_out);
}
