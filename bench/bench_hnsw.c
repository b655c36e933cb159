/*
 * bench_hnsw.c — times an HNSW collection through the public API: the durable build, then
 * an ef sweep of single and batched queries. Prints one JSON object per run.
 *
 * bench/bench_hnsw.py drives it beside hnswlib and FAISS IndexHNSWFlat; run alone it
 * times a change to the graph's build or search paths:
 *
 *   bench_hnsw build  --data base.npy --dir DB [--m 16] [--efc 200] [--batch 10000]
 *                     [--quant sq8|int8|... [--quant-after N]]
 *   bench_hnsw search --dir DB --queries query.npy --ef 10,32,128 --threads 1 --mode single
 *   bench_hnsw search --dir DB --queries query.npy --ef 10,32,128 --mode batch
 *
 * Decisions:
 *  - Build and search are separate runs (separate processes), because the worker pool's
 *    size (hk_db_options.threads) is process-wide: the build uses every core, and the
 *    single-query figures come from a process whose pool has one worker, so nothing the
 *    library does in the background can lend it a second core. A single-vector hk_search
 *    runs on the calling thread anyway; the pool of one makes that a guarantee, not an
 *    observation. The batch figures come from a process with the pool at every core.
 *  - The build is what an application sees: a fresh database with fsync on, hk_upsert in
 *    batches (each batch is durable, and its points are linked into the graph, when the
 *    call returns). hk_db_close (the final checkpoint, which writes the graph into the
 *    snapshot) is timed apart. hk_collection_verify then checks the graph, untimed.
 *  - --quant METHOD gives the collection codes once --quant-after points (default: the
 *    first batch) are in: a codebook is trained on them and the collection quantized,
 *    inside the timed build (and reported apart too); from then on every insert links
 *    on the codes (scalar codes; int8 codes with integer distances) and searches walk the
 *    codes and re-rank (--rerank N per query in a search run; 0 = the collection's
 *    default).
 *  - A search run opens the database read-only: the graph comes back from the snapshot,
 *    and VmRSS after the open is the memory a process serving the collection holds.
 *  - Single queries: one hk_search per query vector, one after another, after a few
 *    warm-up queries per ef; the latency of each is taken around hk_query_set_vectors
 *    and hk_search; a small query set is passed over again until --min-queries calls are
 *    timed. Batches: one hk_search with every query, at least --reps times and until
 *    half a second is spent; best and median.
 *  - --ids-out writes the result ids (uint64, k per query, UINT64_MAX where a list is
 *    short), ef after ef in the order given, so the driver computes recall against its
 *    own ground truth.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "hektor.h"

#define WARMUP_QUERIES 5
#define MAX_EFS 64
#define BATCH_MIN_SECONDS 0.5
#define BATCH_MAX_REPS 100

typedef struct opts {
    const char *cmd, *data, *queries, *dir, *ids_out, *mode;
    uint32_t m, efc, k, threads, rerank;
    const char *quant;
    int vectors_disk;
    size_t quant_after;
    uint32_t ef[MAX_EFS];
    size_t nef, batch, reps, min_queries;
    int nosync;
} opts;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, hk_status st) {
    fprintf(stderr, "bench_hnsw: %s: %s: %s\n", what, hk_status_name(st), hk_errmsg());
    exit(1);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "bench_hnsw: out of memory\n");
        exit(1);
    }
    return p;
}

static void print_memory(long rss_start, const char *extra) {
    printf(" \"memory\": {\"rss_start_kib\": %ld, %s\"rss_end_kib\": %ld, \"rss_anon_end_kib\": %ld, "
           "\"hwm_kib\": %ld}",
           rss_start, extra, proc_status_kib("VmRSS"), proc_status_kib("RssAnon"),
           proc_status_kib("VmHWM"));
}

/* ---- build ---- */

static int run_build(const opts *o) {
    long rss_start = proc_status_kib("VmRSS");
    float *base;
    size_t n;
    uint32_t dim = 0;
    hk_status st = hk_read_vectors(o->data, NULL, &base, &n, &dim);
    if (st) die(o->data, st);
    long rss_loaded = proc_status_kib("VmRSS");

    hk_db_options dbo;
    hk_db_options_init(&dbo);
    dbo.flags = HK_OPEN_CREATE | (o->nosync ? HK_OPEN_NOSYNC : 0);
    dbo.threads = o->threads;
    hk_db *db;
    if ((st = hk_db_open(o->dir, &dbo, &db))) die(o->dir, st);
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = dim;
    cfg.metric = HK_METRIC_L2;
    cfg.index = HK_INDEX_HNSW;
    cfg.hnsw_m = o->m;
    cfg.hnsw_ef_construction = o->efc;
    hk_collection *c;
    if ((st = hk_collection_create(db, "bench", &cfg, &c))) die("collection_create", st);
    if (o->vectors_disk && (st = hk_collection_set_vector_storage(c, HK_VECTORS_DISK)))
        die("set_vector_storage", st);

    /* Durable batches of o->batch points, ids = row numbers. */
    size_t batch = o->batch, nbatches = (n + batch - 1) / batch;
    hk_point *pts = xcalloc(batch, sizeof *pts);
    double *batch_s = xcalloc(nbatches, sizeof *batch_s);
    double t_import = now(), t_report = t_import, quant_s = 0;
    size_t quant_at = o->quant ? (o->quant_after ? o->quant_after : batch) : 0, done = 0;
    uint32_t code_bytes = 0;
    for (size_t b = 0; b < nbatches; b++) {
        if (o->quant && done >= quant_at && !code_bytes) {
            double tq = now();
            hk_quant_params qp;
            hk_quant_params_init(&qp);
            if ((st = hk_quant_method_parse(o->quant, &qp.method))) die("--quant", st);
            hk_codebook *cb;
            if ((st = hk_collection_train(c, &qp, NULL, NULL, &cb))) die("train", st);
            if ((st = hk_collection_quantize(c, cb, NULL, 0))) die("quantize", st);
            hk_codebook_info ci;
            hk_codebook_info_get(cb, &ci);
            code_bytes = ci.code_bytes;
            hk_codebook_free(cb);
            quant_s = now() - tq;
            fprintf(stderr, "  bench_hnsw: quantized (%s, %u bytes) after %zu points in %.1f s\n",
                    o->quant, code_bytes, done, quant_s);
        }
        size_t i0 = b * batch, m = n - i0 < batch ? n - i0 : batch;
        for (size_t i = 0; i < m; i++)
            pts[i] = (hk_point){.id = i0 + i, .vector = base + (i0 + i) * dim};
        double t0 = now();
        if ((st = hk_upsert(c, pts, m, NULL))) die("upsert", st);
        batch_s[b] = now() - t0;
        done += m;
        if (now() - t_report > 30) {
            fprintf(stderr, "  bench_hnsw: %zu of %zu points in %.0f s\n", i0 + m, n, now() - t_import);
            t_report = now();
        }
    }
    double import_s = now() - t_import;
    long rss_imported = proc_status_kib("VmRSS");
    hk_free(base);
    long rss_freed = proc_status_kib("VmRSS"), rss_anon_freed = proc_status_kib("RssAnon");
    double first_batch_s = batch_s[0], last_batch_s = batch_s[nbatches - 1];
    qsort(batch_s, nbatches, sizeof *batch_s, cmp_double);

    hk_collection_stats stats;
    if ((st = hk_collection_stats_get(c, &stats))) die("stats", st);
    double t_verify = now();
    hk_status vst = hk_collection_verify(c);
    double verify_s = now() - t_verify;
    if (vst) fprintf(stderr, "bench_hnsw: verify: %s: %s\n", hk_status_name(vst), hk_errmsg());
    hk_collection_close(c);
    double t_close = now();
    if ((st = hk_db_close(db))) die("close", st);
    double close_s = now() - t_close;

    printf("{\"n\": %zu, \"dim\": %u, \"m\": %u, \"efc\": %u, \"threads\": %u, \"cores\": %ld, "
           "\"kernel\": \"%s\", \"durable\": %s,\n",
           n, dim, o->m, o->efc, o->threads, sysconf(_SC_NPROCESSORS_ONLN), hk_kernel_name(),
           o->nosync ? "false" : "true");
    printf(" \"build\": {\"batch\": %zu, \"batches\": %zu, \"seconds\": %.6f, "
           "\"points_per_s\": %.1f, \"batch_s_p50\": %.4f, \"batch_s_max\": %.4f, "
           "\"batch_s_first\": %.4f, \"batch_s_last\": %.4f},\n",
           batch, nbatches, import_s, (double)n / import_s, percentile(batch_s, nbatches, 50),
           batch_s[nbatches - 1], first_batch_s, last_batch_s);
    printf(" \"close_seconds\": %.6f, \"verify_seconds\": %.6f, \"verify_ok\": %s, "
           "\"count\": %" PRIu64 ",\n",
           close_s, verify_s, vst ? "false" : "true", stats.count);
    if (o->quant)
        printf(" \"quant\": {\"method\": \"%s\", \"after\": %zu, \"code_bytes\": %u, "
               "\"seconds\": %.6f},\n", o->quant, quant_at, code_bytes, quant_s);
    char extra[512];
    snprintf(extra, sizeof extra,
             "\"rss_loaded_kib\": %ld, \"rss_after_build_kib\": %ld, "
             "\"rss_after_free_input_kib\": %ld, \"bytes_memory\": %" PRIu64 ", "
             "\"bytes_disk\": %" PRIu64 ", \"rss_anon_after_free_input_kib\": %ld, "
             "\"vectors_on_disk\": %u, ",
             rss_loaded, rss_imported, rss_freed, stats.bytes_memory, stats.bytes_disk,
             rss_anon_freed, stats.vectors_on_disk);
    print_memory(rss_start, extra);
    printf("}\n");
    free(pts);
    free(batch_s);
    if (stats.count != n) {
        fprintf(stderr, "bench_hnsw: collection holds %" PRIu64 " points, expected %zu\n",
                stats.count, n);
        return 1;
    }
    return vst ? 1 : 0;
}

/* ---- search ---- */

static void store_ids(uint64_t *dst, const hk_result *r, size_t q, uint32_t k) {
    size_t n = hk_result_count(r, q);
    for (uint32_t i = 0; i < k; i++) dst[i] = i < n ? hk_result_id(r, q, i) : UINT64_MAX;
}

static void search_one(hk_collection *c, hk_query *q, const float *v, uint32_t dim,
                       hk_result **r) {
    hk_status st;
    if ((st = hk_query_set_vectors(q, v, 1, dim)) || (st = hk_search(c, q, r))) die("search", st);
}

/* One ef, one query at a time, passes over the query set until at least min_queries
 * calls are timed (ids from the first pass); prints its JSON fields. */
static void sweep_single(hk_collection *c, hk_query *q, const float *qs, size_t nq,
                         uint32_t dim, uint32_t k, size_t passes, uint64_t *ids, double *lat) {
    hk_result *r;
    for (size_t i = 0; i < WARMUP_QUERIES && i < nq; i++) {
        search_one(c, q, qs + i * dim, dim, &r);
        hk_result_free(r);
    }
    size_t calls = passes * nq;
    double sum = 0, t_all = now();
    for (size_t j = 0; j < calls; j++) {
        size_t i = j % nq;
        double t0 = now();
        search_one(c, q, qs + i * dim, dim, &r);
        lat[j] = now() - t0;
        sum += lat[j];
        if (ids && j < nq) store_ids(ids + i * k, r, 0, k);
        hk_result_free(r);
    }
    double all_s = now() - t_all;
    qsort(lat, calls, sizeof *lat, cmp_double);
    printf("\"calls\": %zu, \"seconds\": %.6f, \"qps\": %.2f, \"mean_ms\": %.4f, "
           "\"p50_ms\": %.4f, \"p99_ms\": %.4f, \"max_ms\": %.4f",
           calls, all_s, (double)calls / all_s, 1e3 * sum / (double)calls,
           1e3 * percentile(lat, calls, 50), 1e3 * percentile(lat, calls, 99), 1e3 * lat[calls - 1]);
}

/* One ef, every query in one hk_search: at least min_reps times, and again while less
 * than BATCH_MIN_SECONDS in all (short batches are noisy), best and median. */
static void sweep_batch(hk_collection *c, hk_query *q, const float *qs, size_t nq, uint32_t dim,
                        uint32_t k, size_t min_reps, uint64_t *ids, double *bt) {
    hk_status st;
    hk_result *r;
    if ((st = hk_query_set_vectors(q, qs, nq, dim))) die("query", st);
    size_t reps = 0;
    for (double total = 0; reps < min_reps || (total < BATCH_MIN_SECONDS && reps < BATCH_MAX_REPS);
         reps++) {
        double t0 = now();
        if ((st = hk_search(c, q, &r))) die("batch search", st);
        bt[reps] = now() - t0;
        total += bt[reps];
        if (reps == 0 && ids)
            for (size_t i = 0; i < nq; i++) store_ids(ids + i * k, r, i, k);
        hk_result_free(r);
    }
    qsort(bt, reps, sizeof *bt, cmp_double);
    printf("\"reps\": %zu, \"seconds_best\": %.6f, \"seconds_median\": %.6f, \"qps\": %.2f",
           reps, bt[0], bt[reps / 2], (double)nq / bt[0]);
}

static int run_search(const opts *o) {
    int batch_mode = strcmp(o->mode, "batch") == 0;
    long rss_start = proc_status_kib("VmRSS");
    float *qs;
    size_t nq;
    uint32_t dim = 0;
    hk_status st = hk_read_vectors(o->queries, NULL, &qs, &nq, &dim);
    if (st) die(o->queries, st);

    hk_db_options dbo;
    hk_db_options_init(&dbo);
    dbo.flags = HK_OPEN_READONLY;
    dbo.threads = o->threads;
    double t_open = now();
    hk_db *db;
    if ((st = hk_db_open(o->dir, &dbo, &db))) die(o->dir, st);
    hk_collection *c;
    if ((st = hk_collection_open(db, "bench", &c))) die("collection_open", st);
    double open_s = now() - t_open;
    long rss_open = proc_status_kib("VmRSS"), rss_anon_open = proc_status_kib("RssAnon");
    hk_collection_stats stats;
    if ((st = hk_collection_stats_get(c, &stats))) die("stats", st);
    if (stats.dim != dim) {
        fprintf(stderr, "bench_hnsw: queries have dimension %u, the collection %u\n", dim, stats.dim);
        return 1;
    }

    uint32_t k = o->k;
    hk_query *q;
    if ((st = hk_query_new(&q)) || (st = hk_query_set_k(q, k)) ||
        (st = hk_query_set_rerank(q, o->rerank)))
        die("query", st);
    uint64_t *ids = o->ids_out ? xcalloc(o->nef * nq * k, sizeof *ids) : NULL;
    size_t passes = (o->min_queries + nq - 1) / nq;
    if (passes == 0) passes = 1;
    size_t max_reps = o->reps > BATCH_MAX_REPS ? o->reps : BATCH_MAX_REPS;
    double *lat = xcalloc(passes * nq, sizeof *lat), *bt = xcalloc(max_reps, sizeof *bt);

    printf("{\"n\": %" PRIu64 ", \"dim\": %u, \"nq\": %zu, \"k\": %u, \"threads\": %u, "
           "\"mode\": \"%s\", \"kernel\": \"%s\", \"open_seconds\": %.6f, \"quant\": \"%s\", "
           "\"code_bytes\": %u, \"rerank\": %u,\n \"sweep\": [",
           stats.count, dim, nq, k, o->threads, o->mode, hk_kernel_name(), open_s,
           hk_quant_method_name(stats.quant), stats.code_bytes, o->rerank);
    for (size_t e = 0; e < o->nef; e++) {
        if ((st = hk_query_set_ef(q, o->ef[e]))) die("ef", st);
        uint64_t *eids = ids ? ids + e * nq * k : NULL;
        printf("%s\n  {\"ef\": %u, ", e ? "," : "", o->ef[e]);
        if (batch_mode) sweep_batch(c, q, qs, nq, dim, k, o->reps, eids, bt);
        else sweep_single(c, q, qs, nq, dim, k, passes, eids, lat);
        printf("}");
        fflush(stdout);
    }
    printf("],\n");
    char extra[256];
    snprintf(extra, sizeof extra, "\"rss_after_open_kib\": %ld, \"rss_anon_after_open_kib\": %ld, "
             "\"bytes_memory\": %" PRIu64 ", \"vectors_on_disk\": %u, ",
             rss_open, rss_anon_open, stats.bytes_memory, stats.vectors_on_disk);
    print_memory(rss_start, extra);
    printf("}\n");

    hk_query_free(q);
    hk_collection_close(c);
    if ((st = hk_db_close(db))) die("close", st);
    hk_free(qs);
    free(lat);
    free(bt);
    if (ids) {
        FILE *f = fopen(o->ids_out, "wb");
        size_t cnt = o->nef * nq * k;
        if (!f || fwrite(ids, sizeof *ids, cnt, f) != cnt || fclose(f)) {
            fprintf(stderr, "bench_hnsw: cannot write %s\n", o->ids_out);
            return 1;
        }
        free(ids);
    }
    return 0;
}

/* ---- command line ---- */

static void usage(void) {
    fprintf(stderr,
            "usage: bench_hnsw build --data PATH --dir NEW_DB_DIR [options]\n"
            "       bench_hnsw search --dir DB_DIR --queries PATH --ef LIST [options]\n"
            "  --data PATH     base vectors (fvecs, bvecs or npy; format from the name)\n"
            "  --queries PATH  query vectors, same formats\n"
            "  --m M           hnsw_m (16)\n"
            "  --efc N         hnsw_ef_construction (200)\n"
            "  --batch N       points per hk_upsert (10000)\n"
            "  --nosync        open with HK_OPEN_NOSYNC (not durable)\n"
            "  --ef LIST       comma-separated ef values to sweep\n"
            "  --mode M        single (one hk_search per query) or batch (all in one)\n"
            "  --reps N        repetitions of each batch, at least (3; more until 0.5 s)\n"
            "  --min-queries N single mode: passes over the queries until N calls (1000)\n"
            "  --k K           neighbours per query (10)\n"
            "  --threads N     hk_db_options.threads (0 = cores)\n"
            "  --vectors S     build: keep the float vectors in memory (default) or on disk\n"
            "  --quant M       build: quantize (sq8, sq4, pq, opq) once --quant-after points\n"
            "                  (default: one batch) are in; later inserts link on the codes\n"
            "  --rerank N      search: re-rank depth on a collection with codes (0: its default)\n"
            "  --ids-out PATH  write result ids as uint64, k per query, ef after ef\n");
    exit(2);
}

static size_t parse_size(const char *s, const char *name) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s || v > UINT32_MAX) {
        fprintf(stderr, "bench_hnsw: %s: not a number: %s\n", name, s);
        exit(2);
    }
    return (size_t)v;
}

static size_t parse_list(const char *s, uint32_t *out, size_t max) {
    size_t n = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            fprintf(stderr, "bench_hnsw: --ef: at most %zu values\n", max);
            exit(2);
        }
        out[n++] = (uint32_t)parse_size(t, "--ef");
    }
    return n;
}

int main(int argc, char **argv) {
    opts o = {.m = 16, .efc = 200, .k = 10, .batch = 10000, .reps = 3, .min_queries = 1000,
              .mode = "single"};
    if (argc < 2) usage();
    o.cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--nosync") == 0) o.nosync = 1;
        else if (!v) usage();
        else if (strcmp(a, "--data") == 0) o.data = v, i++;
        else if (strcmp(a, "--queries") == 0) o.queries = v, i++;
        else if (strcmp(a, "--dir") == 0) o.dir = v, i++;
        else if (strcmp(a, "--ids-out") == 0) o.ids_out = v, i++;
        else if (strcmp(a, "--mode") == 0) o.mode = v, i++;
        else if (strcmp(a, "--m") == 0) o.m = (uint32_t)parse_size(v, a), i++;
        else if (strcmp(a, "--efc") == 0) o.efc = (uint32_t)parse_size(v, a), i++;
        else if (strcmp(a, "--k") == 0) o.k = (uint32_t)parse_size(v, a), i++;
        else if (strcmp(a, "--threads") == 0) o.threads = (uint32_t)parse_size(v, a), i++;
        else if (strcmp(a, "--batch") == 0) o.batch = parse_size(v, a), i++;
        else if (strcmp(a, "--reps") == 0) o.reps = parse_size(v, a), i++;
        else if (strcmp(a, "--min-queries") == 0) o.min_queries = parse_size(v, a), i++;
        else if (strcmp(a, "--ef") == 0) o.nef = parse_list(v, o.ef, MAX_EFS), i++;
        else if (strcmp(a, "--quant") == 0) o.quant = v, i++;
        else if (strcmp(a, "--vectors") == 0) {
            if (strcmp(v, "disk") && strcmp(v, "memory")) {
                fprintf(stderr, "bench_hnsw: --vectors takes memory or disk, not '%s'\n", v);
                return 2;
            }
            o.vectors_disk = !strcmp(v, "disk");
            i++;
        }
        else if (strcmp(a, "--quant-after") == 0) o.quant_after = parse_size(v, a), i++;
        else if (strcmp(a, "--rerank") == 0) o.rerank = (uint32_t)parse_size(v, a), i++;
        else usage();
    }
    if (strcmp(o.cmd, "build") == 0) {
        if (!o.data || !o.dir || o.batch == 0) usage();
        return run_build(&o);
    }
    if (strcmp(o.cmd, "search") == 0) {
        if (!o.dir || !o.queries || !o.nef || o.k == 0 || o.reps == 0) usage();
        if (strcmp(o.mode, "single") != 0 && strcmp(o.mode, "batch") != 0) usage();
        return run_search(&o);
    }
    usage();
    return 2;
}
