/*
 * bench_text.c — times HEKTOR's text search through the public API: import a jsonl file
 * of texts into a text-only collection, checkpoint, reopen (reads the index from the
 * snapshot), then run every query of a file (one per line) `rounds` times on one thread
 * with k results. bench_text.py drives it beside SQLite FTS5.
 *
 * usage: bench_text DIR DOCS.jsonl QUERIES.txt [rounds=5] [k=10]
 * Prints one JSON line.
 */
#include <hektor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define CHECK(call)                                                             \
    do {                                                                        \
        if ((call) != HK_OK) {                                                  \
            fprintf(stderr, "bench_text: %s: %s\n", #call, hk_errmsg());        \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_text DIR DOCS.jsonl QUERIES.txt [rounds=5] [k=10]\n");
        return 2;
    }
    int rounds = argc > 4 ? atoi(argv[4]) : 5;
    uint32_t k = argc > 5 ? (uint32_t)atoi(argv[5]) : 10;
    hk_db_options o;
    hk_db_options_init(&o);
    o.flags = HK_OPEN_CREATE | HK_OPEN_NOSYNC;
    hk_db *db;
    CHECK(hk_db_open(argv[1], &o, &db));
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 0;
    cfg.text_flags = HK_TEXT_ONLY;
    hk_collection *c;
    CHECK(hk_collection_create(db, "bench", &cfg, &c));
    hk_import_options io;
    hk_import_options_init(&io);
    hk_import_stats is;
    double t0 = now();
    CHECK(hk_import(c, argv[2], &io, &is));
    CHECK(hk_collection_checkpoint(c));
    double index_s = now() - t0;
    hk_collection_close(c);
    CHECK(hk_db_close(db));
    o.flags = HK_OPEN_NOSYNC;
    t0 = now();
    CHECK(hk_db_open(argv[1], &o, &db));
    CHECK(hk_collection_open(db, "bench", &c));
    double open_s = now() - t0;
    hk_text_stats ts;
    hk_collection_stats cs;
    CHECK(hk_collection_text_stats(c, &ts));
    CHECK(hk_collection_stats_get(c, &cs));

    FILE *f = fopen(argv[3], "r");
    if (!f) return 1;
    char **qs = NULL, line[65536];
    size_t nq = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        qs = realloc(qs, (nq + 1) * sizeof *qs);
        qs[nq++] = strdup(line);
    }
    fclose(f);
    double *lat = malloc((nq * (size_t)rounds + 1) * sizeof *lat);
    size_t nl = 0, hits = 0;
    hk_query *q;
    CHECK(hk_query_new(&q));
    CHECK(hk_query_set_k(q, k));
    double t_all = now();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < nq; i++) {
            double a = now();
            hk_result *res;
            CHECK(hk_query_set_text(q, qs[i], 0));
            CHECK(hk_search(c, q, &res));
            hits += hk_result_count(res, 0);
            hk_result_free(res);
            lat[nl++] = now() - a;
        }
    t_all = now() - t_all;
    qsort(lat, nl, sizeof *lat, cmp_double);
    printf("{\"docs\":%llu,\"points\":%llu,\"index_s\":%.4f,\"docs_per_s\":%.1f,\"open_s\":%.4f,"
           "\"terms\":%llu,\"postings\":%llu,\"index_bytes\":%llu,\"disk_bytes\":%llu,"
           "\"queries\":%zu,\"rounds\":%d,\"k\":%u,\"qps\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"hits\":%zu,\"rss_kib\":%ld}\n",
           (unsigned long long)ts.docs, (unsigned long long)is.points, index_s,
           (double)is.points / index_s, open_s, (unsigned long long)ts.terms,
           (unsigned long long)ts.postings, (unsigned long long)ts.bytes_memory,
           (unsigned long long)cs.bytes_disk, nq, rounds, k, (double)nl / t_all,
           percentile(lat, nl, 50) * 1e6, percentile(lat, nl, 99) * 1e6, hits,
           proc_status_kib("VmHWM"));
    hk_query_free(q);
    for (size_t i = 0; i < nq; i++) free(qs[i]);
    free(qs);
    free(lat);
    hk_collection_close(c);
    CHECK(hk_db_close(db));
    return 0;
}
