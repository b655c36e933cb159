/*
 * bench_quant.c — trains and evaluates codebooks through the public API: for each
 * configuration on the command line, hk_codebook_train on the training vectors (the base
 * unless --train names others), then hk_codebook_evaluate on the base and the queries at
 * every re-rank depth asked for. Prints one JSON line per configuration.
 *
 * bench/bench_quant.py drives it beside FAISS's quantizers; run alone it measures one
 * change to the quantizers:
 *
 *   bench_quant --data base.fvecs --queries query.fvecs [--rerank 40,100] sq8 sq4:mulaw pq:32:8
 *
 * Configurations: sq8 | sq4 [:curve[:param]]   (curve none, st2084, hlg, pu21, gamma, mulaw;
 * param 0 or absent = tuned at training), pq | opq [:m[:bits]] (m 0 or absent = dim / 4,
 * bits 4 or 8).
 *
 * Decisions:
 *  - Training is timed around hk_codebook_train, wall clock and the process's CPU time;
 *    the codebook's own train_seconds is printed beside them. --train gives a separate
 *    training file, so another engine can be trained on exactly the same sample.
 *  - --threads sizes the library's worker pool (training and encoding run on it). The only
 *    public knob for the pool is hk_db_options.threads, so the driver opens a scratch
 *    database in a temporary directory with it and removes the directory again.
 *  - Search figures are the library's own (hk_codebook_evaluate): one thread, every query
 *    a full scan of the codes and a re-rank of the best `rerank` with the floats, against
 *    an exact float scan of the same vectors. Each re-rank depth gets its own evaluation;
 *    when its searches took less than --min-seconds in all, the evaluation is repeated
 *    (at most MAX_EVALS times) and the best queries/s kept, as a small base scans in
 *    milliseconds and one pass is mostly noise. Reconstruction metrics come from the first.
 *  - The process's CPU time over each evaluation, divided by its wall time, is printed as
 *    cpu_share (of the evaluation whose queries/s is kept): on a shared machine it says
 *    how much of the time this single-threaded process actually had a core.
 *  - The curve parameter printed is the one the codebook holds (hk_codebook_info_get), so
 *    a parameter tuned at training is visible.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hektor.h"

#define MAX_RERANKS 8
#define MAX_EVALS 5

typedef struct opts {
    const char *data, *queries, *train;
    uint32_t k, train_size, iterations, opq_iterations, threads;
    uint32_t rerank[MAX_RERANKS];
    size_t nrerank;
    uint64_t seed;
    double min_seconds;
} opts;

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

static void die(const char *what, hk_status st) {
    fprintf(stderr, "bench_quant: %s: %s: %s\n", what, hk_status_name(st), hk_errmsg());
    exit(1);
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_quant --data PATH --queries PATH [options] CONFIG...\n"
            "  --data PATH        base vectors (fvecs, bvecs or npy; format from the name)\n"
            "  --queries PATH     query vectors, same formats\n"
            "  --k K              neighbours per query (10)\n"
            "  --rerank LIST      comma-separated re-rank depths, one evaluation each (40,100)\n"
            "  --train PATH       train on these vectors instead of the base\n"
            "  --train-size N     training sample (0 = every training vector; default 0)\n"
            "  --iterations N     k-means iterations (0 = library default)\n"
            "  --opq-iterations N OPQ rotation updates (0 = library default)\n"
            "  --seed S           sampling and seeding (1)\n"
            "  --threads N        worker pool size for training and encoding (0 = cores)\n"
            "  --min-seconds S    repeat an evaluation while its searches took less (0)\n"
            "CONFIG: sq8|sq4[:curve[:param]], pq|opq[:m[:bits]]\n");
    exit(2);
}

static unsigned long long parse_num(const char *s, const char *name, unsigned long long max) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s || v > max) {
        fprintf(stderr, "bench_quant: %s: not a number up to %llu: %s\n", name, max, s);
        exit(2);
    }
    return v;
}

static double parse_seconds(const char *s, const char *name) {
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s || !(v >= 0 && v <= 3600)) {
        fprintf(stderr, "bench_quant: %s: not a number of seconds (0 to 3600): %s\n", name, s);
        exit(2);
    }
    return v;
}

/* Parses one CONFIG into p (after hk_quant_params_init and the common options). */
static void parse_config(const char *s, hk_quant_params *p) {
    char buf[128], *f[4] = {0};
    size_t nf = 0;
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *t = strtok_r(buf, ":", &save); t && nf < 4; t = strtok_r(NULL, ":", &save))
        f[nf++] = t;
    if (nf == 0 || nf > 3 || hk_quant_method_parse(f[0], &p->method)) {
        fprintf(stderr, "bench_quant: bad configuration %s\n", s);
        exit(2);
    }
    if (p->method == HK_QUANT_SQ8 || p->method == HK_QUANT_SQ4) {
        if (nf > 1 && hk_curve_parse(f[1], &p->curve)) {
            fprintf(stderr, "bench_quant: %s: unknown curve %s\n", s, f[1]);
            exit(2);
        }
        if (nf > 2) {
            char *end;
            p->curve_param = strtod(f[2], &end);
            if (*end || end == f[2]) {
                fprintf(stderr, "bench_quant: %s: bad curve parameter %s\n", s, f[2]);
                exit(2);
            }
        }
    } else {
        if (nf > 1) p->pq_m = (uint32_t)parse_num(f[1], s, 65536);
        if (nf > 2) p->pq_bits = (uint32_t)parse_num(f[2], s, 8);
    }
}

/* Vectors read from a file. */
typedef struct vecs {
    float *v;
    size_t n;
    uint32_t dim;
} vecs;

static void run_config(const opts *o, const char *config, const vecs *base, const vecs *train,
                       const vecs *qs) {
    size_t n = base->n, nq = qs->n;
    uint32_t dim = base->dim;
    hk_quant_params p;
    hk_quant_params_init(&p);
    p.train_size = o->train_size && o->train_size < train->n ? o->train_size : (uint32_t)train->n;
    p.iterations = o->iterations;
    p.opq_iterations = o->opq_iterations;
    p.seed = o->seed;
    parse_config(config, &p);

    hk_codebook *cb;
    double t0 = now(), cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    hk_status st = hk_codebook_train(train->v, train->n, dim, HK_METRIC_L2, &p, NULL, NULL, &cb);
    double train_s = now() - t0, train_cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    if (st) die(config, st);
    hk_codebook_info info;
    if ((st = hk_codebook_info_get(cb, &info))) die("codebook_info_get", st);

    printf("{\"config\": \"%s\", \"method\": \"%s\", \"curve\": \"%s\", \"curve_param\": %.9g, "
           "\"pq_m\": %u, \"pq_bits\": %u, \"bits\": %u, \"n\": %zu, \"dim\": %u, \"nq\": %zu, "
           "\"threads\": %u, \"trained_on\": %llu, \"iterations\": %u, \"opq_iterations\": %u, "
           "\"train_seconds\": %.6f, \"train_cpu_seconds\": %.6f, \"info_train_seconds\": %.6f, "
           "\"code_bytes\": %u, \"model_bytes\": %llu, \"kernel\": \"%s\"",
           config, hk_quant_method_name(info.method), hk_curve_name(info.curve), info.curve_param,
           info.pq_m, info.pq_bits, info.bits, n, dim, nq, o->threads,
           (unsigned long long)info.trained_on, info.iterations, info.opq_iterations, train_s,
           train_cpu, info.train_seconds, info.code_bytes, (unsigned long long)info.model_bytes,
           hk_kernel_name());
    for (size_t r = 0; r < o->nrerank; r++) {
        hk_quality_options qo = {.k = o->k, .rerank = o->rerank[r]};
        hk_quality q;
        t0 = now();
        double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if ((st = hk_codebook_evaluate(cb, base->v, n, qs->v, nq, &qo, &q)))
            die("codebook_evaluate", st);
        double eval_s = now() - t0;
        double share = eval_s > 0 ? (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / eval_s : 1;
        double search_s = q.search_per_s > 0 ? (double)nq / q.search_per_s : 0;
        int evals = 1;
        while (evals < MAX_EVALS && search_s < o->min_seconds) {
            hk_quality again;
            double t1 = now(), c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            if ((st = hk_codebook_evaluate(cb, base->v, n, qs->v, nq, &qo, &again)))
                die("codebook_evaluate", st);
            double wall = now() - t1, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c1;
            evals++;
            search_s += again.search_per_s > 0 ? (double)nq / again.search_per_s : 0;
            if (again.search_per_s > q.search_per_s) {
                q.search_per_s = again.search_per_s;
                share = wall > 0 ? cpu / wall : 1;
            }
            if (again.float_search_per_s > q.float_search_per_s)
                q.float_search_per_s = again.float_search_per_s;
            hk_quality_free(&again);
        }
        if (r == 0)
            printf(", \"bytes_per_vector\": %.6g, \"compression\": %.6g, \"mse\": %.9g, "
                   "\"psnr\": %.6f, \"ssim\": %.9f, \"cosine_distortion\": %.9g, \"k\": %u, "
                   "\"recall\": %.6f, \"encode_per_s\": %.1f, \"float_search_per_s\": %.2f, "
                   "\"rerank\": [",
                   q.bytes_per_vector, q.compression, q.mse, q.psnr, q.ssim, q.cosine_distortion,
                   q.k, q.recall, q.encode_per_s, q.float_search_per_s);
        printf("%s{\"rerank\": %u, \"recall\": %.6f, \"recall_rerank\": %.6f, "
               "\"search_per_s\": %.2f, \"float_search_per_s\": %.2f, \"evaluations\": %d, "
               "\"evaluate_seconds\": %.3f, \"cpu_share\": %.3f}",
               r ? ", " : "", q.rerank, q.recall, q.recall_rerank, q.search_per_s,
               q.float_search_per_s, evals, eval_s, share);
        hk_quality_free(&q);
    }
    printf("]}\n");
    fflush(stdout);
    hk_codebook_free(cb);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

/* Sizes the worker pool through the one public knob, hk_db_options.threads, on a scratch
 * database that is removed again. */
static void set_pool(uint32_t threads) {
    char dir[] = "/tmp/bench_quant.XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench_quant: cannot create a scratch directory: %s\n", strerror(errno));
        exit(1);
    }
    char path[64];
    snprintf(path, sizeof path, "%s/db", dir);
    hk_db_options dbo;
    hk_db_options_init(&dbo);
    dbo.flags = HK_OPEN_CREATE | HK_OPEN_NOSYNC;
    dbo.threads = threads;
    hk_db *db;
    hk_status st = hk_db_open(path, &dbo, &db);
    if (st) die("scratch database", st);
    if ((st = hk_db_close(db))) die("scratch database", st);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static vecs read_vecs(const char *path) {
    vecs v;
    hk_status st = hk_read_vectors(path, NULL, &v.v, &v.n, &v.dim);
    if (st) die(path, st);
    return v;
}

int main(int argc, char **argv) {
    opts o = {.k = 10, .rerank = {40, 100}, .nrerank = 2, .seed = 1};
    int first_config = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            first_config = i;
            break;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (strcmp(a, "--data") == 0) o.data = v;
        else if (strcmp(a, "--queries") == 0) o.queries = v;
        else if (strcmp(a, "--train") == 0) o.train = v;
        else if (strcmp(a, "--k") == 0) o.k = (uint32_t)parse_num(v, a, 100000);
        else if (strcmp(a, "--train-size") == 0)
            o.train_size = (uint32_t)parse_num(v, a, UINT32_MAX);
        else if (strcmp(a, "--iterations") == 0) o.iterations = (uint32_t)parse_num(v, a, 1000);
        else if (strcmp(a, "--opq-iterations") == 0)
            o.opq_iterations = (uint32_t)parse_num(v, a, 1000);
        else if (strcmp(a, "--seed") == 0) o.seed = parse_num(v, a, UINT64_MAX);
        else if (strcmp(a, "--threads") == 0) o.threads = (uint32_t)parse_num(v, a, 1024);
        else if (strcmp(a, "--min-seconds") == 0) o.min_seconds = parse_seconds(v, a);
        else if (strcmp(a, "--rerank") == 0) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            o.nrerank = 0;
            char *save = NULL;
            for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (o.nrerank == MAX_RERANKS) usage();
                o.rerank[o.nrerank++] = (uint32_t)parse_num(t, a, 100000);
            }
            if (!o.nrerank) usage();
        } else usage();
    }
    if (!o.data || !o.queries || !first_config || o.k == 0) usage();

    vecs base = read_vecs(o.data), qs = read_vecs(o.queries);
    vecs train = o.train ? read_vecs(o.train) : base;
    if (qs.dim != base.dim || train.dim != base.dim) {
        fprintf(stderr, "bench_quant: dimensions differ: base %u, queries %u, training %u\n",
                base.dim, qs.dim, train.dim);
        return 1;
    }
    if (o.threads) set_pool(o.threads);
    for (int i = first_config; i < argc; i++) run_config(&o, argv[i], &base, &train, &qs);
    if (o.train) hk_free(train.v);
    hk_free(base.v);
    hk_free(qs.v);
    return 0;
}
