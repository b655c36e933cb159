/*
 * test_quantize.c — codes in collections: search on codes with re-ranking reaches the
 * recall the issue asks for on real data (bigann10k at 16x compression), codes survive
 * reopening and log replay, later writes are encoded, dropping codes is durable, and
 * memory accounting shows the codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hektor.h"
#include "test_util.h"

/* Under AddressSanitizer (everything ~3x slower) training samples and graph sizes shrink;
 * the assertions stay. */
#if defined(__SANITIZE_ADDRESS__)
#define TRAIN_SIZE 2500
#define BUILD_N 5000
#else
#define TRAIN_SIZE 0
#define BUILD_N 10000
#endif

static float *read_vecs(const char *name, size_t *n, uint32_t *dim) {
    const char *shared = getenv("HK_SHARED_DATA");
    if (!shared) return NULL;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ann/%s", shared, name);
    float *v = NULL;
    if (hk_read_vectors(path, NULL, &v, n, dim)) return NULL;
    return v;
}

static int *read_truth(size_t nq, size_t *k) {
    const char *shared = getenv("HK_SHARED_DATA");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ann/bigann10k_groundtruth.ivecs", shared);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    int32_t d;
    assert_int_equal(fread(&d, 4, 1, f), 1);
    *k = (size_t)d;
    int *t = malloc(nq * (size_t)d * sizeof(int));
    fseek(f, 0, SEEK_SET);
    for (size_t q = 0; q < nq; q++) {
        assert_int_equal(fread(&d, 4, 1, f), 1);
        assert_int_equal(fread(t + q * *k, 4, *k, f), *k);
    }
    fclose(f);
    return t;
}

static hk_collection *make(hk_db *db, const char *name, uint32_t dim, hk_index_kind index,
                           const float *x, size_t n) {
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = dim;
    cfg.index = index;
    hk_collection *c;
    assert_int_equal(hk_collection_create(db, name, &cfg, &c), HK_OK);
    hk_point *pts = calloc(n, sizeof *pts);
    for (size_t i = 0; i < n; i++) {
        pts[i].id = i;
        pts[i].vector = x + i * dim;
    }
    assert_int_equal(hk_upsert(c, pts, n, NULL), HK_OK);
    free(pts);
    return c;
}

/* recall@10 of the collection against the ground truth, with the given re-rank depth. */
static double recall_at_10(hk_collection *c, const float *q, size_t nq, uint32_t dim,
                           const int *truth, size_t tk, uint32_t rerank, int exact) {
    hk_query *qq;
    assert_int_equal(hk_query_new(&qq), HK_OK);
    assert_int_equal(hk_query_set_vectors(qq, q, nq, dim), HK_OK);
    assert_int_equal(hk_query_set_k(qq, 10), HK_OK);
    hk_query_set_rerank(qq, rerank);
    hk_query_set_exact(qq, exact);
    hk_result *r;
    assert_int_equal(hk_search(c, qq, &r), HK_OK);
    size_t hit = 0;
    for (size_t i = 0; i < nq; i++) {
        assert_int_equal(hk_result_count(r, i), 10);
        for (size_t j = 0; j < 10; j++)
            for (size_t t = 0; t < 10; t++)
                if (hk_result_id(r, i, j) == (uint64_t)truth[i * tk + t]) hit++;
    }
    hk_result_free(r);
    hk_query_free(qq);
    return (double)hit / (double)(nq * 10);
}

/* recall@10 of the default search against the collection's own exact search */
static double recall_vs_exact(hk_collection *c, const float *q, size_t nq, uint32_t dim) {
    hk_query *qa, *qe;
    hk_result *ra, *re;
    hk_query_new(&qa);
    hk_query_new(&qe);
    hk_query_set_vectors(qa, q, nq, dim);
    hk_query_set_vectors(qe, q, nq, dim);
    hk_query_set_exact(qe, 1);
    assert_int_equal(hk_search(c, qa, &ra), HK_OK);
    assert_int_equal(hk_search(c, qe, &re), HK_OK);
    size_t hit = 0;
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < 10; j++)
            for (size_t t = 0; t < 10; t++) hit += hk_result_id(ra, i, j) == hk_result_id(re, i, t);
    hk_result_free(ra);
    hk_result_free(re);
    hk_query_free(qa);
    hk_query_free(qe);
    return (double)hit / (double)(nq * 10);
}

static void test_bigann_16x(void **state) {
    (void)state;
    size_t n, nq;
    uint32_t dim, qd;
    float *x = read_vecs("bigann10k_base.bvecs", &n, &dim);
    if (!x) skip();
    float *q = read_vecs("bigann10k_query.bvecs", &nq, &qd);
    assert_non_null(q);
    size_t tk;
    int *truth = read_truth(nq, &tk);
    const char *dir = tu_tmpdir("quant16x");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make(db, "sift", dim, HK_INDEX_FLAT, x, n);
    assert_true(recall_at_10(c, q, nq, dim, truth, tk, 0, 1) == 1.0);

    hk_quant_params p;
    hk_quant_params_init(&p);
    p.method = HK_QUANT_PQ;
    p.pq_m = 32; /* 32 bytes for 512 float bytes: 16x */
    p.train_size = TRAIN_SIZE;
    hk_codebook *cb;
    assert_int_equal(hk_collection_train(c, &p, NULL, NULL, &cb), HK_OK);
    hk_codebook_info in;
    hk_codebook_info_get(cb, &in);
    assert_true(fabs(in.compression - 16.0) < 1e-9);
    assert_int_equal(hk_collection_quantize(c, cb, "sift.pq32x8", 0), HK_OK);
    hk_codebook_free(cb);

    hk_collection_stats s;
    assert_int_equal(hk_collection_stats_get(c, &s), HK_OK);
    assert_int_equal(s.quant, HK_QUANT_PQ);
    assert_int_equal(s.code_bytes, 32);
    assert_true(s.bytes_codes >= n * 32 && s.bytes_codes * 16 <= s.bytes_vectors + 16 * 64 * 32);

    double r_codes = recall_at_10(c, q, nq, dim, truth, tk, 10, 0);  /* no real re-ranking */
    double r_rr = recall_at_10(c, q, nq, dim, truth, tk, 0, 0);     /* default depth 40 */
    double r_100 = recall_at_10(c, q, nq, dim, truth, tk, 100, 0);
    fprintf(stderr, "bigann10k pq32x8 (16x): recall@10 %.3f on codes, %.3f after re-ranking 40, "
            "%.3f after 100\n", r_codes, r_rr, r_100);
    assert_true(r_rr >= 0.95);
    assert_true(r_100 >= r_rr - 1e-9);
    assert_true(r_codes < r_100); /* the codes are approximate: re-ranking matters */

    /* reopen: the codes load as stored and answer the same */
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "sift", &c), HK_OK);
    assert_int_equal(hk_collection_stats_get(c, &s), HK_OK);
    assert_int_equal(s.quant, HK_QUANT_PQ);
    assert_true(fabs(recall_at_10(c, q, nq, dim, truth, tk, 0, 0) - r_rr) < 1e-12);
    char *name;
    assert_int_equal(hk_collection_codebook(c, &cb, &name), HK_OK);
    assert_string_equal(name, "sift.pq32x8");
    hk_free(name);

    /* later writes are encoded: a new point equal to a query is found first, also after
     * the log is replayed */
    float *v = malloc(dim * sizeof(float)); /* query 0 itself is base row 0: move it a bit */
    memcpy(v, q, dim * sizeof(float));
    v[0] += 0.5f;
    hk_point pt = {.id = 777777, .vector = v};
    assert_int_equal(hk_upsert(c, &pt, 1, NULL), HK_OK);
    for (int round = 0; round < 2; round++) {
        hk_query *qq;
        hk_result *r;
        hk_query_new(&qq);
        hk_query_set_vectors(qq, v, 1, dim);
        hk_query_set_k(qq, 1);
        assert_int_equal(hk_search(c, qq, &r), HK_OK);
        assert_int_equal(hk_result_count(r, 0), 1);
        assert_int_equal(hk_result_id(r, 0, 0), 777777);
        hk_result_free(r);
        hk_query_free(qq);
        hk_collection_close(c);
        assert_int_equal(hk_db_close(db), HK_OK);
        db = tu_open_db(dir, HK_OPEN_NOSYNC);
        assert_int_equal(hk_collection_open(db, "sift", &c), HK_OK);
    }
    /* the codebook must match: wrong dimension / metric are refused */
    float *small = malloc(50 * 8 * sizeof(float));
    for (size_t i = 0; i < 50 * 8; i++) small[i] = (float)(i % 13);
    hk_codebook *other;
    hk_quant_params_init(&p);
    assert_int_equal(hk_codebook_train(small, 50, 8, HK_METRIC_L2, &p, NULL, NULL, &other), HK_OK);
    assert_int_equal(hk_collection_quantize(c, other, NULL, 0), HK_DIMENSION);
    hk_codebook_free(other);
    assert_int_equal(hk_codebook_train(x, 500, dim, HK_METRIC_IP, &p, NULL, NULL, &other), HK_OK);
    assert_int_equal(hk_collection_quantize(c, other, NULL, 0), HK_INVALID);
    hk_codebook_free(other);
    free(small);
    free(v);
    assert_int_equal(hk_collection_stats_get(c, &s), HK_OK);
    assert_int_equal(s.quant, HK_QUANT_PQ); /* unchanged */

    /* dropping the codes is durable */
    assert_int_equal(hk_collection_dequantize(c), HK_OK);
    assert_int_equal(hk_collection_dequantize(c), HK_NOT_FOUND);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "sift", &c), HK_OK);
    assert_int_equal(hk_collection_stats_get(c, &s), HK_OK);
    assert_int_equal(s.quant, HK_QUANT_NONE);
    assert_int_equal(s.bytes_codes, 0);
    hk_codebook_free(cb);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
    free(x);
    free(q);
    free(truth);
}

/* HNSW collections walk the graph on the codes and re-rank: recall after re-ranking
 * reaches 0.95 at the default ef, while taking only k candidates from the walk shows the
 * codes' own (lower) ranking quality, i.e. the walk really measures on the codes. */
static void test_hnsw_codes(void **state) {
    (void)state;
    size_t n, nq;
    uint32_t dim, qd;
    float *x = read_vecs("bigann10k_base.bvecs", &n, &dim);
    if (!x) skip();
    float *q = read_vecs("bigann10k_query.bvecs", &nq, &qd);
    size_t tk;
    int *truth = read_truth(nq, &tk);
    const char *dir = tu_tmpdir("quanthnsw");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make(db, "sift", dim, HK_INDEX_HNSW, x, n);
    double r_float = recall_at_10(c, q, nq, dim, truth, tk, 0, 0);
    const hk_quant_method methods[] = {HK_QUANT_SQ8, HK_QUANT_PQ};
    for (int mi = 0; mi < 2; mi++) {
        hk_quant_params p;
        hk_quant_params_init(&p);
        p.method = methods[mi];
        p.train_size = TRAIN_SIZE;
        if (methods[mi] == HK_QUANT_PQ) p.pq_m = 32;
        hk_codebook *cb;
        assert_int_equal(hk_collection_train(c, &p, NULL, NULL, &cb), HK_OK);
        assert_int_equal(hk_collection_quantize(c, cb, NULL, 0), HK_OK);
        hk_codebook_free(cb);
        double r_k = recall_at_10(c, q, nq, dim, truth, tk, 10, 0);
        double r_rr = recall_at_10(c, q, nq, dim, truth, tk, 0, 0);
        fprintf(stderr, "bigann10k hnsw + %s: recall@10 %.3f (floats %.3f), %.3f with 10 "
                "candidates\n", hk_quant_method_name(methods[mi]), r_rr, r_float, r_k);
        assert_true(r_rr >= 0.95);
        if (methods[mi] == HK_QUANT_PQ) assert_true(r_k < r_rr - 0.03);
        assert_int_equal(hk_collection_verify(c), HK_OK);
    }
    /* points added after quantizing are linked and found */
    hk_point pt = {.id = 999999, .vector = q + 5 * dim};
    assert_int_equal(hk_upsert(c, &pt, 1, NULL), HK_OK);
    hk_query *qq;
    hk_result *r;
    hk_query_new(&qq);
    hk_query_set_vectors(qq, q + 5 * dim, 1, dim);
    hk_query_set_k(qq, 3);
    assert_int_equal(hk_search(c, qq, &r), HK_OK);
    int found = 0;
    for (size_t i = 0; i < hk_result_count(r, 0); i++) found |= hk_result_id(r, 0, i) == 999999;
    assert_true(found);
    assert_true(hk_result_score(r, 0, 0) == 0.0f);
    hk_result_free(r);
    hk_query_free(qq);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
    free(x);
    free(q);
    free(truth);
}

/* A graph built on scalar codes (quantized after the first 1,000 points, the other 9,000
 * linked measuring on the codes) answers as well after re-ranking and passes verify. */
static void test_build_on_codes(void **state) {
    (void)state;
    size_t n, nq;
    uint32_t dim, qd;
    float *x = read_vecs("bigann10k_base.bvecs", &n, &dim);
    if (!x) skip();
    float *q = read_vecs("bigann10k_query.bvecs", &nq, &qd);
    size_t tk;
    int *truth = read_truth(nq, &tk);
    const char *dir = tu_tmpdir("quantbuild");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    for (int method = 0; method < 2; method++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", method);
        hk_collection *c = make(db, name, dim, HK_INDEX_HNSW, x, 1000);
        hk_quant_params p;
        hk_quant_params_init(&p);
        p.method = method ? HK_QUANT_SQ4 : HK_QUANT_SQ8;
        hk_codebook *cb;
        assert_int_equal(hk_collection_train(c, &p, NULL, NULL, &cb), HK_OK);
        assert_int_equal(hk_collection_quantize(c, cb, NULL, 0), HK_OK);
        hk_codebook_free(cb);
        size_t nb = BUILD_N < n ? BUILD_N : n;
        hk_point *pts = calloc(n, sizeof *pts);
        for (size_t i = 1000; i < nb; i++) {
            pts[i].id = i;
            pts[i].vector = x + i * dim;
        }
        for (size_t i = 1000; i < nb; i += 3000)
            assert_int_equal(hk_upsert(c, pts + i, nb - i < 3000 ? nb - i : 3000, NULL), HK_OK);
        free(pts);
        assert_int_equal(hk_collection_verify(c), HK_OK);
        double r = recall_vs_exact(c, q, nq, dim);
        fprintf(stderr, "bigann10k hnsw built on %s codes: recall@10 %.3f after re-ranking\n",
                method ? "sq4" : "sq8", r);
        assert_true(r >= 0.95);
        /* deletes repair on the codes too */
        uint64_t del[500];
        for (size_t i = 0; i < 500; i++) del[i] = i * 7;
        assert_int_equal(hk_delete(c, del, 500, NULL), HK_OK);
        assert_int_equal(hk_collection_verify(c), HK_OK);
        hk_collection_close(c);
    }
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
    free(x);
    free(q);
    free(truth);
}

/* Vectors kept on disk and mapped: the same answers as on the heap, anonymous memory
 * without the floats, the setting durable across reopen with log replay into the
 * mapping, codes beside it, and back to memory. */
static float tu_gauss(uint64_t *s) {
    double u[2];
    for (int i = 0; i < 2; i++) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        u[i] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

static void search_ids(hk_collection *c, const float *q, size_t nq, uint32_t dim, int exact,
                       uint64_t *ids, float *scores) {
    hk_query *qq;
    hk_result *r;
    assert_int_equal(hk_query_new(&qq), HK_OK);
    hk_query_set_vectors(qq, q, nq, dim);
    hk_query_set_k(qq, 10);
    hk_query_set_exact(qq, exact);
    assert_int_equal(hk_search(c, qq, &r), HK_OK);
    for (size_t i = 0; i < nq; i++) {
        assert_int_equal(hk_result_count(r, i), 10);
        for (size_t j = 0; j < 10; j++) {
            ids[i * 10 + j] = hk_result_id(r, i, j);
            scores[i * 10 + j] = hk_result_score(r, i, j);
        }
    }
    hk_result_free(r);
    hk_query_free(qq);
}

static int dir_entries(const char *dir) {
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

#if !defined(__SANITIZE_ADDRESS__)
/* The process's anonymous resident memory (RssAnon), in bytes. */
static long rss_anon(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}
#endif

/* Moving 15 MB of vectors to disk gives their anonymous memory back to the system (the
 * heap copy was one large mapping). Not under AddressSanitizer, whose allocator keeps
 * freed memory in quarantine. */
static void test_vectors_on_disk_memory(void **state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip();
#else
    enum { N = 30000, D = 128 };
    float *x = malloc((size_t)N * D * sizeof(float));
    uint64_t s = 99;
    for (size_t i = 0; i < (size_t)N * D; i++) x[i] = tu_gauss(&s);
    const char *dir = tu_tmpdir("ondiskmem");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make(db, "m", D, HK_INDEX_FLAT, x, N);
    free(x);
    long before = rss_anon();
    assert_int_equal(hk_collection_set_vector_storage(c, HK_VECTORS_DISK), HK_OK);
    long after = rss_anon();
    fprintf(stderr, "RssAnon %ld kB with the vectors on the heap, %ld kB on disk (%zu kB of "
            "vectors)\n", before / 1024, after / 1024, (size_t)N * D * 4 / 1024);
    assert_true(before > 0 && before - after > (long)N * D * 4 * 8 / 10);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
#endif
}

static void test_vectors_on_disk(void **state) {
    (void)state;
    enum { N = 3000, MORE = 500, NQ = 20, D = 32 };
    float *x = malloc((size_t)(N + MORE) * D * sizeof(float)), q[NQ * D];
    uint64_t s = 0x1234;
    for (size_t i = 0; i < (size_t)(N + MORE) * D; i++) x[i] = tu_gauss(&s);
    for (size_t i = 0; i < (size_t)NQ * D; i++) q[i] = tu_gauss(&s);
    const char *dir = tu_tmpdir("ondisk");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make(db, "v", D, HK_INDEX_HNSW, x, N);
    uint64_t ids0[NQ * 10], ids[NQ * 10], ex0[NQ * 10];
    float sc0[NQ * 10], sc[NQ * 10], exs0[NQ * 10];
    search_ids(c, q, NQ, D, 0, ids0, sc0);
    search_ids(c, q, NQ, D, 1, ex0, exs0);
    hk_collection_stats st0, st1;
    assert_int_equal(hk_collection_stats_get(c, &st0), HK_OK);
    assert_int_equal(st0.vectors_on_disk, 0);

    assert_int_equal(hk_collection_set_vector_storage(c, (hk_vector_storage)7), HK_INVALID);
    assert_int_equal(hk_collection_set_vector_storage(c, HK_VECTORS_DISK), HK_OK);
    assert_int_equal(hk_collection_stats_get(c, &st1), HK_OK);
    assert_int_equal(st1.vectors_on_disk, 1);
    assert_int_equal(st1.bytes_vectors, st0.bytes_vectors);
    assert_true(st1.bytes_memory + st0.bytes_vectors == st0.bytes_memory);
    assert_true(st1.bytes_disk >= st0.bytes_disk + st0.bytes_vectors);
    assert_true(st1.bytes_vectors_cached <= st1.bytes_vectors);
    search_ids(c, q, NQ, D, 0, ids, sc);
    assert_memory_equal(ids, ids0, sizeof ids);
    assert_memory_equal(sc, sc0, sizeof sc);

    /* codes beside on-disk vectors: the walk on codes re-ranks with mapped floats */
    hk_quant_params p;
    hk_quant_params_init(&p);
    p.method = HK_QUANT_SQ8;
    hk_codebook *cb;
    assert_int_equal(hk_collection_train(c, &p, NULL, NULL, &cb), HK_OK);
    assert_int_equal(hk_collection_quantize(c, cb, NULL, 0), HK_OK);
    hk_codebook_free(cb);
    assert_true(recall_vs_exact(c, q, NQ, D) >= 0.95);

    /* writes after the snapshot live only in the log: replay must land in the mapping */
    hk_point *pts = calloc(MORE, sizeof *pts);
    for (size_t i = 0; i < MORE; i++) {
        pts[i].id = N + i;
        pts[i].vector = x + (N + i) * D;
    }
    assert_int_equal(hk_upsert(c, pts, MORE, NULL), HK_OK);
    free(pts);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    char cdir[PATH_MAX + 16];
    snprintf(cdir, sizeof cdir, "%s/collections/v", dir);
    assert_int_equal(dir_entries(cdir), 2); /* snapshot and log: the mapped file is unnamed */

    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "v", &c), HK_OK);
    assert_int_equal(hk_collection_stats_get(c, &st1), HK_OK);
    assert_int_equal(st1.vectors_on_disk, 1);
    assert_int_equal(st1.count, N + MORE);
    assert_int_equal(st1.quant, HK_QUANT_SQ8);
    uint64_t probe[3] = {7, N - 1, N + MORE - 1};
    hk_result *r;
    assert_int_equal(hk_get(c, probe, 3, HK_WITH_VECTOR, &r), HK_OK);
    for (size_t i = 0; i < 3; i++)
        assert_memory_equal(hk_result_vector(r, 0, i), x + probe[i] * D, D * sizeof(float));
    hk_result_free(r);
    assert_int_equal(hk_collection_verify(c), HK_OK);
    assert_true(recall_vs_exact(c, q, NQ, D) >= 0.95);

    /* back to the heap, durable */
    assert_int_equal(hk_collection_dequantize(c), HK_OK);
    assert_int_equal(hk_collection_set_vector_storage(c, HK_VECTORS_MEMORY), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "v", &c), HK_OK);
    assert_int_equal(hk_collection_stats_get(c, &st1), HK_OK);
    assert_int_equal(st1.vectors_on_disk, 0);
    assert_int_equal(st1.quant, HK_QUANT_NONE);
    uint64_t ex1[NQ * 10];
    float exs1[NQ * 10];
    /* the first N points are unchanged; the new ones may enter the exact top 10 */
    search_ids(c, q, NQ, D, 1, ex1, exs1);
    for (size_t i = 0; i < (size_t)NQ * 10; i++)
        if (ex1[i] < N) {
            int seen = 0;
            for (size_t j = i / 10 * 10; j < i / 10 * 10 + 10; j++) seen |= ex0[j] == ex1[i];
            assert_true(seen);
        }
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
    free(x);
}

/* 4-bit PQ collections scan the fast-scan copy of their codes: the ranking on codes is as
 * good as exact table lookups (hk_codebook_evaluate's ADC figure on the same data),
 * re-ranking reaches 0.95, and the copy follows upserts, overwrites and reopening. */
static void test_fast_scan_collection(void **state) {
    (void)state;
    enum { N = 6000, NQ = 50, D = 32, C = 40 };
    float *x = malloc((size_t)N * D * sizeof(float)), *q = malloc((size_t)NQ * D * sizeof(float));
    float cent[C * D];
    uint64_t s = 77;
    for (size_t i = 0; i < (size_t)C * D; i++) cent[i] = 3 * tu_gauss(&s);
    for (size_t i = 0; i < N; i++)
        for (size_t d = 0; d < D; d++) x[i * D + d] = cent[(i % C) * D + d] + tu_gauss(&s);
    for (size_t i = 0; i < NQ; i++)
        for (size_t d = 0; d < D; d++) q[i * D + d] = cent[(i * 7 % C) * D + d] + tu_gauss(&s);
    const char *dir = tu_tmpdir("fastscan");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make(db, "f", D, HK_INDEX_FLAT, x, N);
    hk_quant_params p;
    hk_quant_params_init(&p);
    p.method = HK_QUANT_PQ;
    p.pq_m = 16;
    p.pq_bits = 4;
    hk_codebook *cb;
    assert_int_equal(hk_collection_train(c, &p, NULL, NULL, &cb), HK_OK);
    /* the ranking by exact table lookups: distances to the decoded codes */
    hk_codebook_info in;
    hk_codebook_info_get(cb, &in);
    uint8_t *codes = malloc((size_t)N * in.code_bytes);
    float *y = malloc((size_t)N * D * sizeof(float));
    assert_int_equal(hk_codebook_encode(cb, x, N, codes), HK_OK);
    assert_int_equal(hk_codebook_decode(cb, codes, N, y), HK_OK);
    assert_int_equal(hk_collection_quantize(c, cb, NULL, 0), HK_OK);
    hk_codebook_free(cb);
    /* truth: exact search; codes alone = re-rank depth k */
    uint64_t ex[NQ * 10];
    float exs[NQ * 10];
    search_ids(c, q, NQ, D, 1, ex, exs);
    size_t adc_hit = 0;
    for (size_t i = 0; i < NQ; i++) {
        uint64_t best[10];
        float bd[10];
        for (size_t j = 0; j < 10; j++) bd[j] = INFINITY, best[j] = UINT64_MAX;
        for (size_t v = 0; v < N; v++) {
            float d = 0;
            for (size_t t = 0; t < D; t++) d += (q[i * D + t] - y[v * D + t]) * (q[i * D + t] - y[v * D + t]);
            if (d >= bd[9]) continue;
            size_t j = 9;
            while (j > 0 && bd[j - 1] > d) bd[j] = bd[j - 1], best[j] = best[j - 1], j--;
            bd[j] = d, best[j] = v;
        }
        for (size_t j = 0; j < 10; j++)
            for (size_t t = 0; t < 10; t++) adc_hit += best[j] == ex[i * 10 + t];
    }
    hk_quality ql = {.recall = (double)adc_hit / (NQ * 10)};
    free(codes);
    free(y);
    hk_query *qq;
    hk_result *r;
    double on_codes = 0, reranked = 0;
    for (int pass = 0; pass < 2; pass++) {
        hk_query_new(&qq);
        hk_query_set_vectors(qq, q, NQ, D);
        hk_query_set_k(qq, 10);
        hk_query_set_rerank(qq, pass ? 100 : 10);
        assert_int_equal(hk_search(c, qq, &r), HK_OK);
        size_t hit = 0;
        for (size_t i = 0; i < NQ; i++)
            for (size_t j = 0; j < 10; j++)
                for (size_t t = 0; t < 10; t++) hit += hk_result_id(r, i, j) == ex[i * 10 + t];
        *(pass ? &reranked : &on_codes) = (double)hit / (NQ * 10);
        hk_result_free(r);
        hk_query_free(qq);
    }
    fprintf(stderr, "pq16x4 fast scan: recall@10 %.3f on codes (table lookups: %.3f), %.3f "
            "re-ranked\n", on_codes, ql.recall, reranked);
    assert_true(on_codes >= ql.recall - 0.05);
    assert_true(reranked >= 0.95);
    /* an overwritten point and a new one, each equal to a query, come first */
    hk_point pts[2] = {{.id = 5, .vector = q}, {.id = N + 1, .vector = q + D}};
    assert_int_equal(hk_upsert(c, pts, 2, NULL), HK_OK);
    for (int reopen = 0; reopen < 2; reopen++) {
        if (reopen) {
            hk_collection_close(c);
            assert_int_equal(hk_db_close(db), HK_OK);
            db = tu_open_db(dir, HK_OPEN_NOSYNC);
            assert_int_equal(hk_collection_open(db, "f", &c), HK_OK);
        }
        for (int k = 0; k < 2; k++) {
            hk_query_new(&qq);
            hk_query_set_vectors(qq, q + k * D, 1, D);
            hk_query_set_k(qq, 1);
            hk_query_set_rerank(qq, 1); /* the code ranking alone decides */
            assert_int_equal(hk_search(c, qq, &r), HK_OK);
            assert_int_equal(hk_result_id(r, 0, 0), k ? N + 1 : 5);
            hk_result_free(r);
            hk_query_free(qq);
        }
    }
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
    free(x);
    free(q);
}

/* int8 codes (integer distances): graphs built on the codes — quantized after the first
 * points, every later insert walking and selecting neighbours on codes — answer with
 * recall@10 >= 0.95 after re-ranking at the default ef, pass verify, and do the same after
 * reopening (graph and codes loaded, not rebuilt). On bigann10k (l2) and on generated
 * clustered data in every metric. */
static void int8_build_check(hk_db **db, const char *dir, const char *name, const float *x,
                             size_t n, uint32_t dim, hk_metric metric, const float *q, size_t nq,
                             size_t first) {
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = dim;
    cfg.metric = metric;
    cfg.index = HK_INDEX_HNSW;
    hk_collection *c;
    assert_int_equal(hk_collection_create(*db, name, &cfg, &c), HK_OK);
    hk_point *pts = calloc(n, sizeof *pts);
    for (size_t i = 0; i < n; i++) {
        pts[i].id = i;
        pts[i].vector = x + i * dim;
    }
    assert_int_equal(hk_upsert(c, pts, first, NULL), HK_OK);
    hk_quant_params p;
    hk_quant_params_init(&p);
    p.method = HK_QUANT_INT8;
    hk_codebook *cb;
    assert_int_equal(hk_collection_train(c, &p, NULL, NULL, &cb), HK_OK);
    assert_int_equal(hk_collection_quantize(c, cb, NULL, 0), HK_OK);
    hk_codebook_free(cb);
    for (size_t i = first; i < n; i += 2500)
        assert_int_equal(hk_upsert(c, pts + i, n - i < 2500 ? n - i : 2500, NULL), HK_OK);
    free(pts);
    assert_int_equal(hk_collection_verify(c), HK_OK);
    hk_collection_stats st;
    assert_int_equal(hk_collection_stats_get(c, &st), HK_OK);
    assert_int_equal(st.quant, HK_QUANT_INT8);
    double r = recall_vs_exact(c, q, nq, dim);
    fprintf(stderr, "%s: hnsw built on int8 codes (%s): recall@10 %.3f after re-ranking\n", name,
                    hk_metric_name(metric), r);
    assert_true(r >= 0.95);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(*db), HK_OK);
    *db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(*db, name, &c), HK_OK);
    assert_int_equal(hk_collection_verify(c), HK_OK);
    double r2 = recall_vs_exact(c, q, nq, dim);
    assert_true(r2 >= 0.95);
    hk_collection_close(c);
}

static void test_build_on_int8(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("quantint8");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    /* generated: 30 Gaussian clusters in 48 dimensions, every metric */
    size_t n = BUILD_N / 2, nq = 100;
    uint32_t dim = 48;
    uint64_t s = 99;
    float *cen = malloc(30 * dim * sizeof(float)), *x = malloc((n + nq) * dim * sizeof(float));
    for (size_t i = 0; i < 30 * dim; i++) cen[i] = tu_gauss(&s);
    for (size_t i = 0; i < n + nq; i++) {
        size_t k = i % 30;
        for (uint32_t d = 0; d < dim; d++) x[i * dim + d] = cen[k * dim + d] + 0.3f * tu_gauss(&s);
    }
    const hk_metric metrics[] = {HK_METRIC_L2, HK_METRIC_IP, HK_METRIC_COSINE};
    for (int mi = 0; mi < 3; mi++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", mi);
        int8_build_check(&db, dir, name, x, n, dim, metrics[mi], x + n * dim, nq, 500);
    }
    free(cen);
    free(x);
    /* bigann10k */
    size_t bn, bq;
    uint32_t bd, qd;
    float *bx = read_vecs("bigann10k_base.bvecs", &bn, &bd);
    float *q = bx ? read_vecs("bigann10k_query.bvecs", &bq, &qd) : NULL;
    if (bx) int8_build_check(&db, dir, "sift", bx, BUILD_N < bn ? BUILD_N : bn, bd, HK_METRIC_L2, q, bq, 1000);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
    free(bx);
    free(q);
}

static void test_sq8_metrics(void **state) {
    (void)state;
    size_t n = 3000;
    uint32_t dim = 40;
    float *x = malloc(n * dim * sizeof(float));
    uint64_t s = 12345;
    for (size_t i = 0; i < n * dim; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1) + (float)(i % dim) * 0.01f;
    }
    const char *dir = tu_tmpdir("quantsq8");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    const hk_metric metrics[] = {HK_METRIC_L2, HK_METRIC_IP, HK_METRIC_COSINE};
    for (int mi = 0; mi < 3; mi++) {
        hk_collection_config cfg;
        hk_collection_config_init(&cfg);
        cfg.dim = dim;
        cfg.index = HK_INDEX_FLAT;
        cfg.metric = metrics[mi];
        char name[16];
        snprintf(name, sizeof name, "m%d", mi);
        hk_collection *c;
        assert_int_equal(hk_collection_create(db, name, &cfg, &c), HK_OK);
        hk_point *pts = calloc(n, sizeof *pts);
        for (size_t i = 0; i < n; i++) {
            pts[i].id = i + 1;
            pts[i].vector = x + i * dim;
        }
        assert_int_equal(hk_upsert(c, pts, n, NULL), HK_OK);
        free(pts);
        hk_quant_params p;
        hk_quant_params_init(&p);
        hk_codebook *cb;
        assert_int_equal(hk_collection_train(c, &p, NULL, NULL, &cb), HK_OK);
        assert_int_equal(hk_collection_quantize(c, cb, NULL, 100), HK_OK);
        hk_codebook_free(cb);
        /* filtered and unfiltered, single and batch: equal to exact */
        hk_filter *f;
        const char *fj = "{\"must\":[{\"has_id\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,"
                         "22,23,24,25]}]}";
        assert_int_equal(hk_filter_parse(fj, strlen(fj), &f), HK_OK);
        for (int filt = 0; filt < 2; filt++) {
            hk_query *qa, *qe;
            hk_query_new(&qa);
            hk_query_new(&qe);
            hk_query_set_vectors(qa, x + 7 * dim, 5, dim);
            hk_query_set_vectors(qe, x + 7 * dim, 5, dim);
            hk_query_set_k(qa, 10);
            hk_query_set_k(qe, 10);
            hk_query_set_exact(qe, 1);
            if (filt) {
                hk_query_set_filter(qa, f);
                hk_query_set_filter(qe, f);
            }
            hk_result *ra, *re;
            assert_int_equal(hk_search(c, qa, &ra), HK_OK);
            assert_int_equal(hk_search(c, qe, &re), HK_OK);
            for (size_t qi = 0; qi < 5; qi++) {
                assert_int_equal(hk_result_count(ra, qi), 10);
                for (size_t j = 0; j < 10; j++) {
                    assert_int_equal(hk_result_id(ra, qi, j), hk_result_id(re, qi, j));
                    assert_true(hk_result_score(ra, qi, j) == hk_result_score(re, qi, j));
                    if (filt) assert_true(hk_result_id(ra, qi, j) <= 25);
                }
            }
            hk_result_free(ra);
            hk_result_free(re);
            hk_query_free(qa);
            hk_query_free(qe);
        }
        hk_filter_free(f);
        hk_collection_close(c);
    }
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
    free(x);
}

/* The requested quantization (hk_collection_set_quant_request): checked like training,
 * kept across reopening (beside vectors on disk and codes), cleared durably. */
static void test_quant_request(void **state) {
    (void)state;
    enum { N = 300, D = 16 };
    float *x = malloc((size_t)N * D * sizeof(float));
    uint64_t s = 5;
    for (size_t i = 0; i < (size_t)N * D; i++) x[i] = tu_gauss(&s);
    const char *dir = tu_tmpdir("qrequest");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make(db, "r", D, HK_INDEX_FLAT, x, N);
    hk_quant_params p, got;
    uint32_t rr;
    assert_int_equal(hk_collection_quant_request(c, &got, &rr), HK_NOT_FOUND);
    hk_quant_params_init(&p);
    p.method = HK_QUANT_PQ;
    p.pq_m = 5; /* does not divide 16 */
    assert_int_equal(hk_collection_set_quant_request(c, &p, 0), HK_INVALID);
    p.pq_m = 4;
    p.sq_quantile = 0.99; /* only for scalar quantization */
    assert_int_equal(hk_collection_set_quant_request(c, &p, 0), HK_INVALID);
    p.sq_quantile = 0;
    assert_int_equal(hk_collection_quant_request(c, &got, &rr), HK_NOT_FOUND);
    assert_int_equal(hk_collection_set_quant_request(c, &p, 77), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "r", &c), HK_OK);
    assert_int_equal(hk_collection_quant_request(c, &got, &rr), HK_OK);
    assert_int_equal(got.method, HK_QUANT_PQ);
    assert_int_equal(got.pq_m, 4);
    assert_int_equal(rr, 77);
    assert_int_equal(got.iterations, 0);
    assert_int_equal(got.seed, 0);
    assert_int_equal(hk_collection_verify(c), HK_OK);
    /* the training settings are kept too (record version 5) */
    p.iterations = 7;
    p.opq_iterations = 3;
    p.seed = 0x123456789abcull;
    assert_int_equal(hk_collection_set_quant_request(c, &p, 77), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "r", &c), HK_OK);
    assert_int_equal(hk_collection_quant_request(c, &got, &rr), HK_OK);
    assert_int_equal(got.method, HK_QUANT_PQ);
    assert_int_equal(got.iterations, 7);
    assert_int_equal(got.opq_iterations, 3);
    assert_true(got.seed == 0x123456789abcull);
    assert_int_equal(rr, 77);
    /* a scalar request with a quantile, beside vectors on disk and codes */
    hk_quant_params_init(&p);
    p.sq_quantile = 0.3;
    assert_int_equal(hk_collection_set_quant_request(c, &p, 0), HK_INVALID);
    p.sq_quantile = 0.95;
    assert_int_equal(hk_collection_set_quant_request(c, &p, 0), HK_OK);
    assert_int_equal(hk_collection_set_vector_storage(c, HK_VECTORS_DISK), HK_OK);
    hk_codebook *cb;
    assert_int_equal(hk_collection_train(c, &p, NULL, NULL, &cb), HK_OK);
    assert_int_equal(hk_collection_quantize(c, cb, NULL, 0), HK_OK);
    hk_codebook_free(cb);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "r", &c), HK_OK);
    assert_int_equal(hk_collection_quant_request(c, &got, NULL), HK_OK);
    assert_int_equal(got.method, HK_QUANT_SQ8);
    assert_true(got.sq_quantile == 0.95);
    hk_collection_stats st;
    assert_int_equal(hk_collection_stats_get(c, &st), HK_OK);
    assert_int_equal(st.quant, HK_QUANT_SQ8);
    assert_int_equal(st.vectors_on_disk, 1);
    assert_int_equal(hk_collection_verify(c), HK_OK);
    /* cleared: the codes stay until dropped */
    assert_int_equal(hk_collection_set_quant_request(c, NULL, 0), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "r", &c), HK_OK);
    assert_int_equal(hk_collection_quant_request(c, &got, NULL), HK_NOT_FOUND);
    assert_int_equal(hk_collection_stats_get(c, &st), HK_OK);
    assert_int_equal(st.quant, HK_QUANT_SQ8);
    hk_collection_close(c);
    /* text-only collections have nothing to quantize */
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 0;
    cfg.text_flags = HK_TEXT_ONLY;
    assert_int_equal(hk_collection_create(db, "t", &cfg, &c), HK_OK);
    hk_quant_params_init(&p);
    assert_int_equal(hk_collection_set_quant_request(c, &p, 0), HK_INVALID);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
    free(x);
}

/* Request generations (hk_quant_state, hk_collection_quantize_requested): codes trained
 * for a request install only while it is current; a clear or a change in between (a PATCH
 * "Disabled" during training) leaves the collection unchanged; met survives a reopen and
 * is lost to a quantile-only change, to codes by hand and to dequantizing. */
static void test_request_generation(void **state) {
    (void)state;
    enum { N = 400, D = 8 };
    float *x = malloc((size_t)N * D * sizeof(float));
    uint64_t s = 9;
    for (size_t i = 0; i < (size_t)N * D; i++) x[i] = tu_gauss(&s);
    const char *dir = tu_tmpdir("qgen");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make(db, "g", D, HK_INDEX_FLAT, x, N);
    hk_quant_state qs;
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.count, N);
    assert_int_equal(qs.requested, 0);
    assert_int_equal(qs.method, HK_QUANT_NONE);
    hk_quant_params p;
    hk_quant_params_init(&p);
    p.sq_quantile = 0.99;
    assert_int_equal(hk_collection_set_quant_request(c, &p, 0), HK_OK);
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.requested, 1);
    assert_int_equal(qs.met, 0);
    assert_true(qs.generation != 0);
    assert_true(qs.request.sq_quantile == 0.99);
    uint64_t g1 = qs.generation;
    hk_codebook *cb;
    assert_int_equal(hk_collection_train(c, &p, NULL, NULL, &cb), HK_OK);
    /* cleared while "training": nothing is installed */
    assert_int_equal(hk_collection_set_quant_request(c, NULL, 0), HK_OK);
    assert_int_equal(hk_collection_quantize_requested(c, cb, NULL, 0, g1), HK_CANCELLED);
    assert_non_null(strstr(hk_errmsg(), "cleared"));
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.method, HK_QUANT_NONE);
    assert_int_equal(qs.requested, 0);
    /* set again (the same parameters): a new generation; the old one still installs nothing */
    assert_int_equal(hk_collection_set_quant_request(c, &p, 0), HK_OK);
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_true(qs.generation != g1);
    assert_int_equal(hk_collection_quantize_requested(c, cb, NULL, 0, g1), HK_CANCELLED);
    assert_non_null(strstr(hk_errmsg(), "changed"));
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.method, HK_QUANT_NONE);
    assert_int_equal(hk_collection_quantize_requested(c, cb, NULL, 0, qs.generation), HK_OK);
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.method, HK_QUANT_SQ8);
    assert_int_equal(qs.code_bytes, D);
    assert_int_equal(qs.met, 1);
    /* met is kept across a reopen (QNTZ record version 4) */
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "g", &c), HK_OK);
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.met, 1);
    assert_int_equal(qs.method, HK_QUANT_SQ8);
    assert_true(qs.request.sq_quantile == 0.99);
    assert_int_equal(hk_collection_verify(c), HK_OK);
    /* a quantile-only change: same method and size, but not met */
    p.sq_quantile = 0.95;
    assert_int_equal(hk_collection_set_quant_request(c, &p, 0), HK_OK);
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.method, HK_QUANT_SQ8);
    assert_int_equal(qs.met, 0);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "g", &c), HK_OK);
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.met, 0); /* and stays unmet after a reopen */
    /* met, then codes by hand: unmet */
    assert_int_equal(hk_collection_quantize_requested(c, cb, NULL, 0, qs.generation), HK_OK);
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.met, 1);
    assert_int_equal(hk_collection_quantize(c, cb, NULL, 0), HK_OK);
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.met, 0);
    /* met, then dequantized: unmet */
    assert_int_equal(hk_collection_quantize_requested(c, cb, NULL, 0, qs.generation), HK_OK);
    assert_int_equal(hk_collection_dequantize(c), HK_OK);
    assert_int_equal(hk_collection_quant_state(c, &qs), HK_OK);
    assert_int_equal(qs.met, 0);
    assert_int_equal(hk_collection_quantize_requested(c, cb, NULL, 0, 0), HK_INVALID);
    hk_codebook_free(cb);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
    free(x);
}

/* Codebook saves racing (hk_db_codebook_save, the server's PUT /hektor/codebooks/{name}):
 * of two writers of a new name without replace exactly one wins and the other gets
 * HK_EXISTS; writers with replace never leave mixed bytes in place (each load is one of the
 * two whole codebooks). */
typedef struct cb_racer {
    hk_db *db;
    const hk_codebook *cb;
    int replace, rounds;
    pthread_barrier_t *bar;
    hk_status st[64];
} cb_racer;

static void *cb_race(void *arg) {
    cb_racer *r = arg;
    for (int i = 0; i < r->rounds; i++) {
        pthread_barrier_wait(r->bar);
        r->st[i] = hk_db_codebook_save(r->db, "race", r->cb, r->replace);
        pthread_barrier_wait(r->bar);
        pthread_barrier_wait(r->bar); /* the main thread checks and removes */
    }
    return NULL;
}

static void test_codebook_save_race(void **state) {
    (void)state;
    enum { N = 3000, D = 64, ROUNDS = 24 };
    float *x = malloc((size_t)N * D * sizeof(float));
    uint64_t s = 21;
    for (size_t i = 0; i < (size_t)N * D; i++) x[i] = tu_gauss(&s);
    hk_codebook *cb[2];
    hk_quant_params p;
    hk_quant_params_init(&p);
    p.method = HK_QUANT_PQ;
    p.pq_m = 32;
    p.iterations = 2;
    for (int k = 0; k < 2; k++) {
        p.seed = 100 + (uint64_t)k;
        assert_int_equal(hk_codebook_train(x, N, D, HK_METRIC_L2, &p, NULL, NULL, &cb[k]), HK_OK);
    }
    uint8_t *ser[2];
    size_t slen[2];
    for (int k = 0; k < 2; k++) assert_int_equal(hk_codebook_serialize(cb[k], &ser[k], &slen[k]), HK_OK);
    assert_true(slen[0] == slen[1] && memcmp(ser[0], ser[1], slen[0]) != 0);
    const char *dir = tu_tmpdir("cbrace");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    for (int replace = 0; replace < 2; replace++) {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 3);
        cb_racer r[2];
        pthread_t th[2];
        for (int k = 0; k < 2; k++) {
            r[k] = (cb_racer){.db = db, .cb = cb[k], .replace = replace, .rounds = ROUNDS, .bar = &bar};
            assert_int_equal(pthread_create(&th[k], NULL, cb_race, &r[k]), 0);
        }
        for (int i = 0; i < ROUNDS; i++) {
            pthread_barrier_wait(&bar);
            pthread_barrier_wait(&bar);
            int ok = (r[0].st[i] == HK_OK) + (r[1].st[i] == HK_OK);
            if (replace) {
                assert_int_equal(ok, 2);
            } else {
                assert_int_equal(ok, 1);
                assert_int_equal(r[0].st[i] == HK_OK ? r[1].st[i] : r[0].st[i], HK_EXISTS);
            }
            hk_codebook *got;
            assert_int_equal(hk_db_codebook_load(db, "race", &got), HK_OK);
            uint8_t *g;
            size_t gl;
            assert_int_equal(hk_codebook_serialize(got, &g, &gl), HK_OK);
            int which = gl == slen[0] && !memcmp(g, ser[0], gl) ? 0 : gl == slen[1] && !memcmp(g, ser[1], gl) ? 1 : -1;
            assert_true(which >= 0);
            if (!replace) assert_int_equal(r[which].st[i], HK_OK); /* the winner's bytes */
            hk_free(g);
            hk_codebook_free(got);
            if (!replace) assert_int_equal(hk_db_codebook_remove(db, "race"), HK_OK);
            pthread_barrier_wait(&bar);
        }
        for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
        pthread_barrier_destroy(&bar);
    }
    /* no temporary files are left beside the codebook */
    char **names;
    size_t n;
    assert_int_equal(hk_db_codebook_list(db, &names, &n), HK_OK);
    assert_int_equal(n, 1);
    hk_strings_free(names, n);
    char cbdir[4200];
    snprintf(cbdir, sizeof cbdir, "%s/codebooks", dir);
    DIR *d = opendir(cbdir);
    assert_non_null(d);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') files++;
    closedir(d);
    assert_int_equal(files, 1);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
    for (int k = 0; k < 2; k++) {
        hk_free(ser[k]);
        hk_codebook_free(cb[k]);
    }
    free(x);
}

/* sq_quantile fixes each component's range: at 1 an outlier is reconstructed within a
 * step, at 0.9 it is clipped to the 95th percentile. */
static void test_sq_quantile(void **state) {
    (void)state;
    enum { N = 2000, D = 4 };
    float *x = malloc((size_t)N * D * sizeof(float));
    uint64_t s = 11;
    for (size_t i = 0; i < (size_t)N * D; i++) x[i] = tu_gauss(&s);
    x[0] = 40.0f; /* one outlier in component 0 */
    double err[2];
    const double qs[2] = {1.0, 0.9};
    for (int k = 0; k < 2; k++) {
        hk_quant_params p;
        hk_quant_params_init(&p);
        p.sq_quantile = qs[k];
        hk_codebook *cb;
        assert_int_equal(hk_codebook_train(x, N, D, HK_METRIC_L2, &p, NULL, NULL, &cb), HK_OK);
        uint8_t code[D];
        float back[D];
        assert_int_equal(hk_codebook_encode(cb, x, 1, code), HK_OK);
        assert_int_equal(hk_codebook_decode(cb, code, 1, back), HK_OK);
        err[k] = fabs(back[0] - 40.0);
        hk_codebook_free(cb);
    }
    /* range at 1: about [-3.5, 40], step 0.17; at 0.9: [-1.65, 1.65] */
    assert_true(err[0] < 0.2);
    assert_true(err[1] > 35);
    hk_quant_params p;
    hk_quant_params_init(&p);
    p.sq_quantile = 1.5;
    hk_codebook *cb;
    assert_int_equal(hk_codebook_train(x, N, D, HK_METRIC_L2, &p, NULL, NULL, &cb), HK_INVALID);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bigann_16x),
        cmocka_unit_test(test_hnsw_codes),
        cmocka_unit_test(test_build_on_codes),
        cmocka_unit_test(test_build_on_int8),
        cmocka_unit_test(test_sq8_metrics),
        cmocka_unit_test(test_vectors_on_disk),
        cmocka_unit_test(test_fast_scan_collection),
        cmocka_unit_test(test_vectors_on_disk_memory),
        cmocka_unit_test(test_quant_request),
        cmocka_unit_test(test_request_generation),
        cmocka_unit_test(test_codebook_save_race),
        cmocka_unit_test(test_sq_quantile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
