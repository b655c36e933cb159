/* bench_util.h — small helpers shared by the benchmark drivers (bench_hektor.c,
 * bench_hnsw.c): process memory from /proc and latency percentiles. */
#ifndef HK_BENCH_UTIL_H
#define HK_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One field of /proc/self/status in KiB, or -1. */
static inline long proc_status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t fl = strlen(field);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static inline double percentile(const double *sorted, size_t n, double p) {
    size_t i = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (i < 1) i = 1;
    if (i > n) i = n;
    return sorted[i - 1];
}

#endif
