/*
 * bench_stats.h - timing and latency percentiles for the benchmark.
 *
 * Latencies are collected per thread into arrays allocated before a phase
 * starts (so the measured loop does not call malloc in the common case),
 * merged after the phase, sorted once, and read with the nearest-rank rule.
 */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>

/* Monotonic milliseconds (CLOCK_MONOTONIC), for every duration we report. */
double bench_now_ms(void);

/* Sleeps for ms milliseconds (restarted when a signal interrupts it). */
void bench_sleep_ms(long ms);

typedef struct bench_lat {
    double *v;                  /* samples in ms; owned */
    size_t n, cap;
} bench_lat;

/* Allocates room for cap samples. 0, or -1 when out of memory. */
int bench_lat_init(bench_lat *l, size_t cap);

/* Appends one sample; grows the array (doubling) only when it is full.
 * 0, or -1 when out of memory. */
int bench_lat_add(bench_lat *l, double ms);

/* Appends all of src's samples to dst. 0, or -1 when out of memory. */
int bench_lat_merge(bench_lat *dst, const bench_lat *src);

/* Sorts l (in place) and returns its p-th percentile (0 < p <= 100) by the
 * nearest-rank rule; -1.0 when there are no samples. */
double bench_lat_percentile(bench_lat *l, double p);

void bench_lat_free(bench_lat *l);

#endif
