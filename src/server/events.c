/*
 * events.c — the live figures behind /hektor/events: request and error counts, search
 * rate and latency, memory, collections and jobs, written as one JSON object; and the
 * stream's pacing.
 *
 * Decisions:
 *  - Search latencies are kept exactly in a ring of the last HKS_SAMPLES searches with
 *    their times; queries/s counts those of the last 5 s and p50/p99 sort those of the
 *    last 60 s (under more than HKS_SAMPLES searches a minute, the newest HKS_SAMPLES).
 *    A search costs one lock; a snapshot costs a copy and a sort, a few times a second.
 *  - A stream waits between messages on a condition variable that shutdown signals, so a
 *    stream never holds the server's shutdown for longer than it takes to wake up; a
 *    client that went away is found by the next write (which fails) and its connection
 *    is closed by libmicrohttpd.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs.h"
#include "server_int.h"

#define HKS_SAMPLES 32768

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_stop_cv = PTHREAD_COND_INITIALIZER;
static int g_stopping;
static double g_start;
static uint64_t g_requests, g_errors;
static struct sample {
    double t, ms;
} g_ring[HKS_SAMPLES];
static size_t g_ring_n, g_ring_head; /* entries held; next slot */

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void hks_events_init(void) {
    pthread_mutex_lock(&g_mu);
    g_stopping = 0;
    g_start = mono_s();
    g_requests = g_errors = 0;
    g_ring_n = g_ring_head = 0;
    pthread_mutex_unlock(&g_mu);
}

void hks_events_observe(hks_class cls, int status, double seconds) {
    double now = mono_s();
    pthread_mutex_lock(&g_mu);
    g_requests++;
    if (status >= 400) g_errors++;
    if (cls == HKS_CLASS_SEARCH && status < 400) {
        g_ring[g_ring_head] = (struct sample){now, seconds * 1e3};
        g_ring_head = (g_ring_head + 1) % HKS_SAMPLES;
        if (g_ring_n < HKS_SAMPLES) g_ring_n++;
    }
    pthread_mutex_unlock(&g_mu);
}

void hks_events_stop(void) {
    pthread_mutex_lock(&g_mu);
    g_stopping = 1;
    pthread_cond_broadcast(&g_stop_cv);
    pthread_mutex_unlock(&g_mu);
}

int hks_events_wait(double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = (long long)ts.tv_nsec + (long long)(seconds * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&g_mu);
    while (!g_stopping && pthread_cond_timedwait(&g_stop_cv, &g_mu, &ts) == 0) {}
    int stopping = g_stopping;
    pthread_mutex_unlock(&g_mu);
    return stopping;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *v, size_t n, double p) {
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

void hks_memory(uint64_t *rss, uint64_t *anon) {
    *rss = *anon = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return;
    unsigned long long size, res, shared;
    if (fscanf(f, "%llu %llu %llu", &size, &res, &shared) == 3) {
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
        *rss = res * page;
        /* statm's shared pages are the file-backed ones (and shared memory): the rest of
         * the resident set is anonymous. */
        *anon = (res > shared ? res - shared : 0) * page;
    }
    fclose(f);
}

static void write_collections(hk_db *db, hk_buf *b) {
    char **names = NULL;
    size_t n = 0;
    hk_buf_putc(b, '[');
    if (hk_db_list(db, &names, &n) != HK_OK) {
        hk_buf_putc(b, ']');
        return;
    }
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        hk_collection *c;
        hk_collection_stats st;
        hk_text_stats ts;
        if (hk_collection_open(db, names[i], &c)) continue;
        if (hk_collection_stats_get(c, &st) || hk_collection_text_stats(c, &ts)) {
            hk_collection_close(c);
            continue;
        }
        hk_collection_close(c);
        if (!first) hk_buf_putc(b, ',');
        first = 0;
        hk_buf_puts(b, "{\"name\":");
        hj_write_string(b, names[i], strlen(names[i]));
        hk_buf_printf(b, ",\"points\":%llu,\"dim\":%u,\"metric\":\"%s\",\"index\":\"%s\","
                      "\"text\":%s,\"quantization\":\"%s\"}",
                      (unsigned long long)st.count, st.dim, hk_metric_name(st.metric),
                      st.index == HK_INDEX_HNSW ? "hnsw" : "flat",
                      st.dim == 0 || ts.docs > 0 ? "true" : "false", hk_quant_method_name(st.quant));
    }
    hk_strings_free(names, n);
    hk_buf_putc(b, ']');
}

void hks_events_write(hk_db *db, hk_buf *b) {
    double now = mono_s();
    double *lat = hk_malloc(HKS_SAMPLES * sizeof *lat);
    size_t nlat = 0, recent = 0;
    uint64_t requests, errors;
    double uptime;
    pthread_mutex_lock(&g_mu);
    requests = g_requests;
    errors = g_errors;
    uptime = now - g_start;
    for (size_t k = 0; k < g_ring_n; k++) {
        const struct sample *s = &g_ring[(g_ring_head + HKS_SAMPLES - 1 - k) % HKS_SAMPLES];
        if (now - s->t > 60) break;
        if (now - s->t <= 5) recent++;
        if (lat) lat[nlat++] = s->ms;
    }
    pthread_mutex_unlock(&g_mu);
    if (lat) qsort(lat, nlat, sizeof *lat, cmp_double);
    double window = uptime < 5 ? (uptime > 0.001 ? uptime : 0.001) : 5;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t rss, anon;
    hks_memory(&rss, &anon);
    hk_buf_printf(b, "{\"time\":%.3f,\"uptime_s\":%.3f,\"version\":\"%s\",\"collections\":",
                  (double)wall.tv_sec + (double)wall.tv_nsec / 1e9, uptime, hk_version());
    write_collections(db, b);
    hk_buf_printf(b, ",\"qps\":%.3f,\"latency_ms\":{\"p50\":%.4f,\"p99\":%.4f},"
                  "\"requests_total\":%llu,\"errors_total\":%llu,"
                  "\"memory\":{\"rss_bytes\":%llu,\"anon_bytes\":%llu},\"jobs\":",
                  (double)recent / window, lat ? percentile(lat, nlat, 0.50) : 0,
                  lat ? percentile(lat, nlat, 0.99) : 0, (unsigned long long)requests,
                  (unsigned long long)errors, (unsigned long long)rss, (unsigned long long)anon);
    hks_jobs_write(b, 60);
    hk_buf_putc(b, '}');
    hk_free(lat);
}
