/*
 * metrics.c — request counters and latency histograms for /metrics, in the Prometheus
 * text exposition format, plus points per collection read at scrape time.
 *
 * Decisions: counters are kept per route class and status code in a small table under a
 * mutex (a request costs one lock, far below the cost of its JSON); the set of status
 * codes a server answers is small, so the table is fixed and a rare code beyond it is
 * counted as its hundred (e.g. 4xx as 400). Collections are read live at scrape time, so
 * the figures never lag.
 */
#include <pthread.h>
#include <string.h>

#include "server_int.h"

static const double k_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                   0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof k_buckets / sizeof *k_buckets)
static const int k_codes[] = {200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 422, 500, 503};
#define NCODES (sizeof k_codes / sizeof *k_codes)

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_count[HKS_NCLASS][NCODES];
static uint64_t g_hist[HKS_NCLASS][NBUCKETS + 1];
static double g_sum[HKS_NCLASS];

const char *hks_class_name(hks_class c) {
    switch (c) {
    case HKS_CLASS_SERVICE: return "service";
    case HKS_CLASS_COLLECTIONS: return "collections";
    case HKS_CLASS_WRITE: return "write";
    case HKS_CLASS_READ: return "read";
    case HKS_CLASS_SEARCH: return "search";
    default: return "unknown";
    }
}

void hks_metrics_init(void) {
    pthread_mutex_lock(&g_mu);
    memset(g_count, 0, sizeof g_count);
    memset(g_hist, 0, sizeof g_hist);
    memset(g_sum, 0, sizeof g_sum);
    pthread_mutex_unlock(&g_mu);
}

static size_t code_slot(int status) {
    for (size_t i = 0; i < NCODES; i++)
        if (k_codes[i] == status) return i;
    int hundred = status / 100 * 100;
    for (size_t i = 0; i < NCODES; i++)
        if (k_codes[i] == hundred) return i;
    return NCODES - 2; /* 500 */
}

void hks_metrics_observe(hks_class cls, int status, double seconds) {
    if ((unsigned)cls >= HKS_NCLASS) cls = HKS_CLASS_UNKNOWN;
    size_t b = 0;
    while (b < NBUCKETS && seconds > k_buckets[b]) b++;
    pthread_mutex_lock(&g_mu);
    g_count[cls][code_slot(status)]++;
    g_hist[cls][b]++;
    g_sum[cls] += seconds;
    pthread_mutex_unlock(&g_mu);
}

void hks_metrics_render(hk_db *db, hk_buf *out) {
    uint64_t count[HKS_NCLASS][NCODES], hist[HKS_NCLASS][NBUCKETS + 1];
    double sum[HKS_NCLASS];
    pthread_mutex_lock(&g_mu);
    memcpy(count, g_count, sizeof count);
    memcpy(hist, g_hist, sizeof hist);
    memcpy(sum, g_sum, sizeof sum);
    pthread_mutex_unlock(&g_mu);
    hk_buf_puts(out, "# HELP hektor_http_requests_total HTTP requests answered, by route class "
                     "and status code.\n# TYPE hektor_http_requests_total counter\n");
    for (int c = 0; c < HKS_NCLASS; c++)
        for (size_t k = 0; k < NCODES; k++)
            if (count[c][k])
                hk_buf_printf(out, "hektor_http_requests_total{class=\"%s\",code=\"%d\"} %llu\n",
                              hks_class_name((hks_class)c), k_codes[k],
                              (unsigned long long)count[c][k]);
    hk_buf_puts(out, "# HELP hektor_http_request_duration_seconds Time from the request's "
                     "arrival to its response, by route class.\n"
                     "# TYPE hektor_http_request_duration_seconds histogram\n");
    for (int c = 0; c < HKS_NCLASS; c++) {
        uint64_t cum = 0;
        const char *name = hks_class_name((hks_class)c);
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += hist[c][b];
            hk_buf_printf(out, "hektor_http_request_duration_seconds_bucket{class=\"%s\",le=\"%g\"} %llu\n",
                          name, k_buckets[b], (unsigned long long)cum);
        }
        cum += hist[c][NBUCKETS];
        hk_buf_printf(out, "hektor_http_request_duration_seconds_bucket{class=\"%s\",le=\"+Inf\"} %llu\n"
                           "hektor_http_request_duration_seconds_sum{class=\"%s\"} %.6f\n"
                           "hektor_http_request_duration_seconds_count{class=\"%s\"} %llu\n",
                      name, (unsigned long long)cum, name, sum[c], name, (unsigned long long)cum);
    }
    hk_buf_puts(out, "# HELP hektor_collection_points Live points per collection.\n"
                     "# TYPE hektor_collection_points gauge\n");
    char **names = NULL;
    size_t n = 0;
    if (hk_db_list(db, &names, &n) == HK_OK) {
        for (size_t i = 0; i < n; i++) {
            hk_collection *c;
            hk_collection_stats st;
            if (hk_collection_open(db, names[i], &c)) continue;
            if (!hk_collection_stats_get(c, &st))
                hk_buf_printf(out, "hektor_collection_points{collection=\"%s\"} %llu\n", names[i],
                              (unsigned long long)st.count);
            hk_collection_close(c);
        }
        hk_strings_free(names, n);
    }
}
