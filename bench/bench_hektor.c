/*
 * bench_hektor.c — times one dataset through the public API and prints one JSON object.
 *
 * bench/bench.py drives it once per dataset and puts FAISS beside it; run alone it is
 * also the quickest way to time a change to the import or search paths:
 *
 *   bench_hektor --data base.npy --queries query.npy --dir /tmp/hkbench [--nosync]
 *   bench_hektor --bandwidth
 *
 * Decisions:
 *  - Only hektor.h is used, so the numbers are what an embedding application sees
 *    (query copies, result building and the worker pool included).
 *  - The database is fresh and durable (fsync on) unless --nosync: the import rate is
 *    the rate of acknowledged, crash-safe points. hk_db_close (the final checkpoint) is
 *    timed apart, since an application pays it once, not per point.
 *  - The input vectors are freed before search and memory are measured, so VmRSS then is
 *    the database plus the program; VmHWM still includes the input (it is a peak).
 *  - Single queries run one after another through hk_search, each with a fresh query
 *    vector set, after a few warm-up queries; batches are one hk_search with every query.
 *  - --bandwidth runs alone (its 2 GiB of buffers would otherwise swamp the memory
 *    figures of a dataset run): memcpy of 1 GiB and a read-only pass over it, best of 3,
 *    on one thread and on every core. Copy bandwidth is reported as bytes copied per
 *    second; bench.py states which convention the bound uses.
 *  - --ids-out writes the result ids (uint64, k per query, UINT64_MAX where a list is
 *    short): first the batch, then the single queries, for bench.py's recall check.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "hektor.h"

#define WARMUP_QUERIES 5
#define BW_BYTES ((size_t)1 << 30)
#define BW_REPS 3
#define BW_MAX_THREADS 64

typedef struct opts {
    const char *data, *queries, *format, *qformat, *dir, *ids_out;
    uint32_t dim, k, threads;
    uint64_t checkpoint_bytes;
    size_t batch, single, batch_reps;
    int nosync, bandwidth, hnsw;
} opts;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, hk_status st) {
    fprintf(stderr, "bench_hektor: %s: %s: %s\n", what, hk_status_name(st), hk_errmsg());
    exit(1);
}

/* Raw little-endian float32 rows of dim floats. */
static float *read_raw_f32(const char *path, uint32_t dim, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_hektor: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t row = (size_t)dim * sizeof(float);
    if (bytes <= 0 || (size_t)bytes % row) {
        fprintf(stderr, "bench_hektor: %s: size %ld is not a multiple of %zu-byte rows\n", path,
                bytes, row);
        exit(1);
    }
    float *v = malloc((size_t)bytes);
    if (!v || fread(v, 1, (size_t)bytes, f) != (size_t)bytes) {
        fprintf(stderr, "bench_hektor: %s: cannot read %ld bytes\n", path, bytes);
        exit(1);
    }
    fclose(f);
    *n = (size_t)bytes / row;
    return v;
}

/* Vectors from path; the caller frees with release_vectors(v, raw). */
static float *load_vectors(const char *path, const char *format, uint32_t *dim, size_t *n,
                           int *raw) {
    *raw = format && strcmp(format, "f32") == 0;
    if (*raw) {
        if (*dim == 0) {
            fprintf(stderr, "bench_hektor: --format f32 needs --dim\n");
            exit(1);
        }
        return read_raw_f32(path, *dim, n);
    }
    float *v;
    hk_status st = hk_read_vectors(path, format, &v, n, dim);
    if (st) die(path, st);
    return v;
}

static void release_vectors(float *v, int raw) {
    if (raw)
        free(v);
    else
        hk_free(v);
}

/* ---- memory bandwidth ---- */

typedef struct bw_part {
    char *dst;
    const char *src;
    size_t bytes;
    int copy; /* 1: memcpy, 0: read only */
    uint64_t sink;
    pthread_barrier_t *start;
} bw_part;

/* Wide integer loads (GCC vector extension, as wide as the target allows) so the pass is
 * bound by memory, not by load issue. */
typedef uint64_t bw_vec __attribute__((vector_size(64)));

static uint64_t read_pass(const char *p, size_t bytes) {
    const bw_vec *w = (const bw_vec *)p;
    size_t n = bytes / sizeof *w;
    bw_vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (size_t i = 0; i + 4 <= n; i += 4) {
        a0 ^= w[i];
        a1 ^= w[i + 1];
        a2 ^= w[i + 2];
        a3 ^= w[i + 3];
    }
    a0 ^= a1 ^ a2 ^ a3;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x ^= a0[i];
    return x;
}

static void *bw_worker(void *arg) {
    bw_part *p = arg;
    pthread_barrier_wait(p->start);
    if (p->copy)
        memcpy(p->dst, p->src, p->bytes);
    else
        p->sink = read_pass(p->src, p->bytes);
    return NULL;
}

/* Best time of BW_REPS passes over BW_BYTES split across nthreads threads. */
static double bw_best(char *dst, const char *src, unsigned nthreads, int copy, uint64_t *sink) {
    double best = 1e30;
    for (int rep = 0; rep < BW_REPS; rep++) {
        pthread_t th[BW_MAX_THREADS];
        bw_part parts[BW_MAX_THREADS];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, nthreads + 1);
        size_t share = BW_BYTES / nthreads / 4096 * 4096;
        for (unsigned t = 0; t < nthreads; t++) {
            size_t off = share * t;
            size_t bytes = t + 1 == nthreads ? BW_BYTES - off : share;
            parts[t] = (bw_part){dst + off, src + off, bytes, copy, 0, &start};
            if (pthread_create(&th[t], NULL, bw_worker, &parts[t])) {
                fprintf(stderr, "bench_hektor: pthread_create failed\n");
                exit(1);
            }
        }
        pthread_barrier_wait(&start);
        double t0 = now();
        for (unsigned t = 0; t < nthreads; t++) {
            pthread_join(th[t], NULL);
            *sink ^= parts[t].sink;
        }
        double dt = now() - t0;
        pthread_barrier_destroy(&start);
        if (dt < best) best = dt;
    }
    return best;
}

static int run_bandwidth(void) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned cores = ncpu < 1 ? 1 : ncpu > BW_MAX_THREADS ? BW_MAX_THREADS : (unsigned)ncpu;
    char *src = aligned_alloc(64, BW_BYTES), *dst = aligned_alloc(64, BW_BYTES);
    if (!src || !dst) {
        fprintf(stderr, "bench_hektor: cannot allocate 2 GiB for the bandwidth test\n");
        return 1;
    }
    /* Fault every page in before timing; varied contents, so no layer below (page
     * merging, compression) can shortcut identical pages. */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < BW_BYTES / sizeof x; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        memcpy(src + i * sizeof x, &x, sizeof x);
    }
    memset(dst, 2, BW_BYTES);
    uint64_t sink = 0;
    double c1 = bw_best(dst, src, 1, 1, &sink), cn = bw_best(dst, src, cores, 1, &sink);
    double r1 = bw_best(dst, src, 1, 0, &sink), rn = bw_best(dst, src, cores, 0, &sink);
    double b = (double)BW_BYTES;
    printf("{\"bytes\": %zu, \"reps\": %d, \"cores\": %u,\n"
           " \"copy_1t_seconds\": %.6f, \"copy_1t_bytes_per_s\": %.0f,\n"
           " \"copy_mt_seconds\": %.6f, \"copy_mt_bytes_per_s\": %.0f,\n"
           " \"read_1t_seconds\": %.6f, \"read_1t_bytes_per_s\": %.0f,\n"
           " \"read_mt_seconds\": %.6f, \"read_mt_bytes_per_s\": %.0f, \"sink\": %" PRIu64 "}\n",
           BW_BYTES, BW_REPS, cores, c1, b / c1, cn, b / cn, r1, b / r1, rn, b / rn, sink & 1);
    free(src);
    free(dst);
    return 0;
}

/* ---- dataset run ---- */

static void store_ids(uint64_t *dst, const hk_result *r, size_t q, uint32_t k) {
    size_t n = hk_result_count(r, q);
    for (uint32_t i = 0; i < k; i++) dst[i] = i < n ? hk_result_id(r, q, i) : UINT64_MAX;
}

static int run_dataset(const opts *o) {
    long rss_start = proc_status_kib("VmRSS");
    uint32_t dim = o->dim, qdim = o->dim;
    size_t n, nq;
    int raw, qraw;
    float *base = load_vectors(o->data, o->format, &dim, &n, &raw);
    float *queries = load_vectors(o->queries, o->qformat ? o->qformat : o->format, &qdim, &nq, &qraw);
    if (qdim != dim) {
        fprintf(stderr, "bench_hektor: queries have dimension %u, data %u\n", qdim, dim);
        return 1;
    }
    long rss_loaded = proc_status_kib("VmRSS");
    size_t nsingle = o->single && o->single < nq ? o->single : nq;

    hk_db_options dbo;
    hk_db_options_init(&dbo);
    dbo.flags = HK_OPEN_CREATE | (o->nosync ? HK_OPEN_NOSYNC : 0);
    dbo.threads = o->threads;
    dbo.checkpoint_wal_bytes = o->checkpoint_bytes;
    hk_db *db;
    hk_status st = hk_db_open(o->dir, &dbo, &db);
    if (st) die(o->dir, st);
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = dim;
    cfg.metric = HK_METRIC_L2;
    cfg.index = o->hnsw ? HK_INDEX_HNSW : HK_INDEX_FLAT; /* HNSW: the defaults, m 16, efc 200 */
    hk_collection *c;
    if ((st = hk_collection_create(db, "bench", &cfg, &c))) die("collection_create", st);

    /* Import: durable batches of o->batch points, ids = row numbers. */
    size_t batch = o->batch;
    hk_point *pts = calloc(batch, sizeof *pts);
    size_t nbatches = (n + batch - 1) / batch;
    double *batch_s = calloc(nbatches, sizeof *batch_s);
    if (!pts || !batch_s) {
        fprintf(stderr, "bench_hektor: out of memory\n");
        return 1;
    }
    double t_import = now();
    for (size_t b = 0; b < nbatches; b++) {
        size_t i0 = b * batch, m = n - i0 < batch ? n - i0 : batch;
        for (size_t i = 0; i < m; i++)
            pts[i] = (hk_point){.id = i0 + i, .vector = base + (i0 + i) * dim};
        double t0 = now();
        if ((st = hk_upsert(c, pts, m, NULL))) die("upsert", st);
        batch_s[b] = now() - t0;
    }
    double import_s = now() - t_import;
    long rss_imported = proc_status_kib("VmRSS");
    release_vectors(base, raw);
    long rss_freed = proc_status_kib("VmRSS");
    qsort(batch_s, nbatches, sizeof *batch_s, cmp_double);

    uint32_t k = o->k;
    uint64_t *ids = o->ids_out ? calloc((nq + nsingle) * k, sizeof *ids) : NULL;
    hk_query *q;
    if ((st = hk_query_new(&q)) || (st = hk_query_set_k(q, k))) die("query", st);

    /* Single queries, one after another. */
    hk_result *r;
    for (size_t i = 0; i < WARMUP_QUERIES && i < nq; i++) {
        if ((st = hk_query_set_vectors(q, queries + i * dim, 1, dim)) || (st = hk_search(c, q, &r)))
            die("search", st);
        hk_result_free(r);
    }
    double *lat = calloc(nsingle ? nsingle : 1, sizeof *lat);
    double t_single = now();
    for (size_t i = 0; i < nsingle; i++) {
        double t0 = now();
        if ((st = hk_query_set_vectors(q, queries + i * dim, 1, dim)) || (st = hk_search(c, q, &r)))
            die("search", st);
        lat[i] = now() - t0;
        if (ids) store_ids(ids + (nq + i) * k, r, 0, k);
        hk_result_free(r);
    }
    double single_s = now() - t_single;
    qsort(lat, nsingle, sizeof *lat, cmp_double);

    /* Batches: every query in one call, best and median of batch_reps. */
    if ((st = hk_query_set_vectors(q, queries, nq, dim))) die("query", st);
    double *bt = calloc(o->batch_reps, sizeof *bt);
    for (size_t rep = 0; rep < o->batch_reps; rep++) {
        double t0 = now();
        if ((st = hk_search(c, q, &r))) die("batch search", st);
        bt[rep] = now() - t0;
        if (rep == 0 && ids)
            for (size_t i = 0; i < nq; i++) store_ids(ids + i * k, r, i, k);
        hk_result_free(r);
    }
    qsort(bt, o->batch_reps, sizeof *bt, cmp_double);
    long rss_searched = proc_status_kib("VmRSS");
    hk_query_free(q);

    hk_collection_stats stats;
    if ((st = hk_collection_stats_get(c, &stats))) die("stats", st);
    hk_collection_close(c);
    double t_close = now();
    if ((st = hk_db_close(db))) die("close", st);
    double close_s = now() - t_close;

    if (ids) {
        FILE *f = fopen(o->ids_out, "wb");
        if (!f || fwrite(ids, sizeof *ids, (nq + nsingle) * k, f) != (nq + nsingle) * k || fclose(f)) {
            fprintf(stderr, "bench_hektor: cannot write %s\n", o->ids_out);
            return 1;
        }
    }

    double single_sum = 0;
    for (size_t i = 0; i < nsingle; i++) single_sum += lat[i];
    printf("{\"n\": %zu, \"dim\": %u, \"nq\": %zu, \"k\": %u, \"kernel\": \"%s\", "
           "\"durable\": %s,\n",
           n, dim, nq, k, hk_kernel_name(), o->nosync ? "false" : "true");
    printf(" \"import\": {\"batch\": %zu, \"batches\": %zu, \"seconds\": %.6f, "
           "\"points_per_s\": %.1f, \"batch_ms_p50\": %.3f, \"batch_ms_max\": %.3f},\n",
           batch, nbatches, import_s, (double)n / import_s,
           1e3 * percentile(batch_s, nbatches, 50), 1e3 * batch_s[nbatches - 1]);
    printf(" \"single\": {\"queries\": %zu, \"seconds\": %.6f, \"qps\": %.2f, \"mean_ms\": %.4f, "
           "\"p50_ms\": %.4f, \"p99_ms\": %.4f, \"min_ms\": %.4f},\n",
           nsingle, single_s, (double)nsingle / single_s, 1e3 * single_sum / (double)nsingle,
           1e3 * percentile(lat, nsingle, 50), 1e3 * percentile(lat, nsingle, 99), 1e3 * lat[0]);
    printf(" \"batch\": {\"nq\": %zu, \"reps\": %zu, \"seconds_best\": %.6f, "
           "\"seconds_median\": %.6f, \"qps\": %.1f},\n",
           nq, o->batch_reps, bt[0], bt[o->batch_reps / 2], (double)nq / bt[0]);
    printf(" \"memory\": {\"rss_start_kib\": %ld, \"rss_loaded_kib\": %ld, "
           "\"rss_after_import_kib\": %ld, \"rss_after_free_input_kib\": %ld, "
           "\"rss_after_search_kib\": %ld, \"hwm_kib\": %ld, \"bytes_memory\": %" PRIu64 ", "
           "\"bytes_disk\": %" PRIu64 ", \"vector_bytes\": %zu},\n",
           rss_start, rss_loaded, rss_imported, rss_freed, rss_searched, proc_status_kib("VmHWM"),
           stats.bytes_memory, stats.bytes_disk, n * (size_t)dim * sizeof(float));
    printf(" \"close_seconds\": %.6f, \"count\": %" PRIu64 "}\n", close_s, stats.count);

    free(pts);
    free(batch_s);
    free(lat);
    free(bt);
    free(ids);
    release_vectors(queries, qraw);
    if (stats.count != n) {
        fprintf(stderr, "bench_hektor: collection holds %" PRIu64 " points, expected %zu\n",
                stats.count, n);
        return 1;
    }
    return 0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_hektor --data PATH --queries PATH --dir NEW_DB_DIR [options]\n"
            "       bench_hektor --bandwidth\n"
            "  --format F      fvecs, bvecs, npy or f32 (raw float32; needs --dim);\n"
            "                  default from the file name\n"
            "  --qformat F     format of the query file (default: --format)\n"
            "  --dim D         dimension of f32 files\n"
            "  --k K           neighbours per query (10)\n"
            "  --batch N       points per hk_upsert (10000)\n"
            "  --single N      single queries to time (default: all)\n"
            "  --batch-reps N  repetitions of the batch search (3)\n"
            "  --threads N     search workers (0 = cores)\n"
            "  --nosync        open the database with HK_OPEN_NOSYNC (not durable)\n"
            "  --hnsw          an HNSW collection (default m, ef_construction, ef) instead of flat\n"
            "  --checkpoint-bytes N  hk_db_options.checkpoint_wal_bytes (0 = default)\n"
            "  --ids-out PATH  write result ids (batch, then single) as uint64\n");
    exit(2);
}

static size_t parse_size(const char *s, const char *name) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s) {
        fprintf(stderr, "bench_hektor: %s: not a number: %s\n", name, s);
        exit(2);
    }
    return (size_t)v;
}

int main(int argc, char **argv) {
    opts o = {.k = 10, .batch = 10000, .batch_reps = 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--bandwidth") == 0) o.bandwidth = 1;
        else if (strcmp(a, "--nosync") == 0) o.nosync = 1;
        else if (strcmp(a, "--hnsw") == 0) o.hnsw = 1;
        else if (!v) usage();
        else if (strcmp(a, "--data") == 0) o.data = v, i++;
        else if (strcmp(a, "--queries") == 0) o.queries = v, i++;
        else if (strcmp(a, "--format") == 0) o.format = v, i++;
        else if (strcmp(a, "--qformat") == 0) o.qformat = v, i++;
        else if (strcmp(a, "--dir") == 0) o.dir = v, i++;
        else if (strcmp(a, "--ids-out") == 0) o.ids_out = v, i++;
        else if (strcmp(a, "--dim") == 0) o.dim = (uint32_t)parse_size(v, a), i++;
        else if (strcmp(a, "--k") == 0) o.k = (uint32_t)parse_size(v, a), i++;
        else if (strcmp(a, "--batch") == 0) o.batch = parse_size(v, a), i++;
        else if (strcmp(a, "--single") == 0) o.single = parse_size(v, a), i++;
        else if (strcmp(a, "--batch-reps") == 0) o.batch_reps = parse_size(v, a), i++;
        else if (strcmp(a, "--threads") == 0) o.threads = (uint32_t)parse_size(v, a), i++;
        else if (strcmp(a, "--checkpoint-bytes") == 0) o.checkpoint_bytes = parse_size(v, a), i++;
        else usage();
    }
    if (o.bandwidth) return run_bandwidth();
    if (!o.data || !o.queries || !o.dir || o.k == 0 || o.batch == 0 || o.batch_reps == 0) usage();
    return run_dataset(&o);
}
