/*
 * bench_stats.c - see bench_stats.h.
 */
#include "bench_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail with a valid clock id and pointer. */
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void bench_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int bench_lat_init(bench_lat *l, size_t cap)
{
    if (cap == 0)
        cap = 1;
    l->v = malloc(cap * sizeof *l->v);
    l->n = 0;
    l->cap = l->v ? cap : 0;
    return l->v ? 0 : -1;
}

static int lat_reserve(bench_lat *l, size_t need)
{
    size_t cap = l->cap ? l->cap : 1;
    double *v;

    if (need <= l->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    v = realloc(l->v, cap * sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    l->cap = cap;
    return 0;
}

int bench_lat_add(bench_lat *l, double ms)
{
    if (l->n == l->cap && lat_reserve(l, l->n + 1) != 0)
        return -1;
    l->v[l->n++] = ms;
    return 0;
}

int bench_lat_merge(bench_lat *dst, const bench_lat *src)
{
    if (src->n == 0)
        return 0;
    if (lat_reserve(dst, dst->n + src->n) != 0)
        return -1;
    memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
    dst->n += src->n;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double bench_lat_percentile(bench_lat *l, double p)
{
    double exact;
    size_t rank;

    if (l->n == 0)
        return -1.0;
    qsort(l->v, l->n, sizeof *l->v, cmp_double);
    /* Nearest rank: the smallest sample with at least p% of samples <= it. */
    exact = p / 100.0 * (double)l->n;
    rank = (size_t)exact;
    if ((double)rank < exact)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > l->n)
        rank = l->n;
    return l->v[rank - 1];
}

void bench_lat_free(bench_lat *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
