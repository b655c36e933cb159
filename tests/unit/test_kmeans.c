/*
 * test_kmeans.c — k-means (km_train, km_assign, km_refine) against generated data with
 * known answers and a brute-force double-precision reference.
 *
 * Blobs far apart must be recovered exactly; the objective must never rise with more
 * iterations and must equal the reference mean distance of the returned centroids;
 * results must repeat for a seed and for any worker count; n <= k, duplicate rows,
 * empty clusters, bad arguments and cancellation have their documented outcomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "quant/kmeans.h"

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s * 0x9e3779b97f4a7c15ull + 1; }
static uint64_t rnd_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rnd01(void) { return (double)(rnd_u64() >> 11) / 9007199254740992.0; }
static double gauss(void) {
    double u = rnd01() + 1e-300, v = rnd01();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static double dist2(const float *a, const float *b, size_t d) {
    double s = 0;
    for (size_t i = 0; i < d; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

/* n rows around nb centers placed uniformly in [-spread, spread]^d, unit gaussian noise
 * times sigma; label[i] (may be NULL) gets the blob of row i. */
static float *blobs(size_t n, size_t d, size_t nb, double spread, double sigma, uint32_t *label,
                    float *centers) {
    float *x = malloc(n * d * sizeof(float));
    float *c = centers ? centers : malloc(nb * d * sizeof(float));
    assert_non_null(x);
    assert_non_null(c);
    for (size_t i = 0; i < nb * d; i++) c[i] = (float)((rnd01() * 2 - 1) * spread);
    for (size_t i = 0; i < n; i++) {
        size_t b = i % nb;
        if (label) label[i] = (uint32_t)b;
        for (size_t j = 0; j < d; j++) x[i * d + j] = (float)(c[b * d + j] + sigma * gauss());
    }
    if (!centers) free(c);
    return x;
}

/* Mean over rows of the distance to the nearest centroid, in double. */
static double ref_objective(const float *x, size_t n, size_t d, const float *c, size_t k) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double best = INFINITY;
        for (size_t j = 0; j < k; j++) {
            double e = dist2(x + i * d, c + j * d, d);
            if (e < best) best = e;
        }
        s += best;
    }
    return s / (double)n;
}

static void test_blobs_recovered(void **state) {
    enum { N = 4000, D = 16, K = 10 };
    rng_seed(1);
    uint32_t label[N], assign[N];
    float centers[K * D], cent[K * D];
    float *x = blobs(N, D, K, 100.0, 1.0, label, centers);
    double obj;
    assert_int_equal(km_train(x, N, D, K, 20, 42, NULL, NULL, 0, 1, cent, &obj), HK_OK);
    assert_int_equal(km_assign(x, N, D, cent, K, assign, NULL), HK_OK);
    /* Each blob maps to one centroid, different blobs to different centroids. */
    uint32_t map[K];
    for (size_t b = 0; b < K; b++) map[b] = UINT32_MAX;
    for (size_t i = 0; i < N; i++) {
        if (map[label[i]] == UINT32_MAX) map[label[i]] = assign[i];
        assert_int_equal(assign[i], map[label[i]]);
    }
    for (size_t a = 0; a < K; a++)
        for (size_t b = a + 1; b < K; b++) assert_int_not_equal(map[a], map[b]);
    /* The centroid is the blob's mean: within a few noise / sqrt(N/K) of the center. */
    for (size_t b = 0; b < K; b++) assert_true(dist2(cent + map[b] * D, centers + b * D, D) < 0.2);
    assert_true(fabs(obj - D) < 0.1 * D); /* unit noise per coordinate */
    free(x);
}

static void check_monotone(size_t D) {
    enum { N = 3000, K = 40 };
    float *x = blobs(N, D, 25, 3.0, 1.0, NULL, NULL);
    float *cent = malloc(K * D * sizeof(float));
    double prev = INFINITY;
    for (uint32_t it = 0; it <= 15; it++) {
        double obj;
        assert_int_equal(km_train(x, N, D, K, it, 7, NULL, NULL, 0, 1, cent, &obj), HK_OK);
        double ref = ref_objective(x, N, D, cent, K);
        assert_true(fabs(obj - ref) <= 1e-5 * ref);
        assert_true(obj <= prev * (1 + 1e-7));
        if (it == 0) assert_true(obj > 1.2 * D); /* seeds alone are far from converged */
        prev = obj;
    }
    assert_true(prev < 1.1 * D);
    free(cent);
    free(x);
}

/* d = 8: panels and pruned iterations; d = 20: sgemm. */
static void test_objective_monotone(void **state) {
    rng_seed(2);
    check_monotone(8);
    check_monotone(20);
}

/* Same seed, same result, with the whole pool or one worker; another seed differs.
 * d = 12 runs the panel kernel with pruned iterations, d = 24 sgemm. */
static void check_deterministic(size_t d) {
    enum { N = 5000, K = 64 };
    float *x = blobs(N, d, 30, 5.0, 1.0, NULL, NULL);
    float *a = malloc(K * d * sizeof(float)), *b = malloc(K * d * sizeof(float));
    double oa, ob;
    assert_int_equal(km_train(x, N, d, K, 10, 99, NULL, NULL, 0, 1, a, &oa), HK_OK);
    assert_int_equal(km_train(x, N, d, K, 10, 99, NULL, NULL, 0, 1, b, &ob), HK_OK);
    assert_memory_equal(a, b, K * d * sizeof(float));
    assert_true(oa == ob);
    unsigned workers = hk_pool_workers();
    hk_pool_set_workers(1);
    assert_int_equal(km_train(x, N, d, K, 10, 99, NULL, NULL, 0, 1, b, &ob), HK_OK);
    hk_pool_set_workers(0);
    assert_memory_equal(a, b, K * d * sizeof(float));
    assert_true(oa == ob);
    assert_true(hk_pool_workers() == workers);
    assert_int_equal(km_train(x, N, d, K, 10, 100, NULL, NULL, 0, 1, b, &ob), HK_OK);
    assert_true(memcmp(a, b, K * d * sizeof(float)) != 0);
    free(a);
    free(b);
    free(x);
}

static void test_deterministic(void **state) {
    rng_seed(3);
    check_deterministic(12);
    check_deterministic(24);
}

static void test_n_at_most_k(void **state) {
    enum { D = 5 };
    rng_seed(4);
    float x[7 * D], cent[9 * D];
    for (size_t i = 0; i < 7 * D; i++) x[i] = (float)gauss();
    double obj = -1;
    assert_int_equal(km_train(x, 7, D, 9, 10, 1, NULL, NULL, 0, 1, cent, &obj), HK_OK);
    for (size_t c = 0; c < 9; c++) assert_memory_equal(cent + c * D, x + (c % 7) * D, D * sizeof(float));
    assert_true(obj == 0);
    assert_int_equal(km_train(x, 7, D, 7, 10, 1, NULL, NULL, 0, 1, cent, &obj), HK_OK);
    assert_memory_equal(cent, x, 7 * D * sizeof(float));
    assert_int_equal(km_train(x, 1, D, 1, 3, 1, NULL, NULL, 0, 1, cent, &obj), HK_OK);
    assert_memory_equal(cent, x, D * sizeof(float));
}

static void test_duplicate_rows(void **state) {
    /* 300 rows, 3 distinct values, k = 6: no cluster can split; the objective is 0. */
    enum { N = 300, D = 4, K = 6 };
    float x[N * D], cent[K * D];
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++) x[i * D + j] = (float)(i % 3) * 10.0f + (float)j;
    double obj = -1;
    assert_int_equal(km_train(x, N, D, K, 10, 5, NULL, NULL, 0, 1, cent, &obj), HK_OK);
    assert_true(obj == 0);
    int seen[3] = {0};
    for (size_t c = 0; c < K; c++) {
        size_t v = (size_t)(cent[c * D] / 10.0f);
        assert_true(v < 3);
        assert_memory_equal(cent + c * D, x + v * D, D * sizeof(float));
        seen[v] = 1;
    }
    assert_true(seen[0] && seen[1] && seen[2]);
}

static void test_empty_cluster_split(void **state) {
    enum { N = 2000, D = 6, K = 8 };
    rng_seed(6);
    float *x = blobs(N, D, 4, 10.0, 1.0, NULL, NULL);
    float cent[K * D];
    uint32_t assign[N];
    /* Four centroids on rows, four far away from everything: they start empty. */
    for (size_t c = 0; c < K; c++)
        for (size_t j = 0; j < D; j++) cent[c * D + j] = c < 4 ? x[c * 97 * D + j] : 1e4f + (float)c;
    double before = ref_objective(x, N, D, cent, K), obj;
    assert_int_equal(km_refine(x, N, D, K, 10, NULL, NULL, 0, 1, cent, assign, NULL, &obj), HK_OK);
    size_t count[K] = {0};
    for (size_t i = 0; i < N; i++) count[assign[i]]++;
    for (size_t c = 0; c < K; c++) assert_true(count[c] > 0);
    assert_true(obj < before);
    assert_true(fabs(obj - ref_objective(x, N, D, cent, K)) <= 1e-5 * obj);
    free(x);
}

/* km_assign against a double brute force, on random rows, with exact duplicates among
 * the centroids (ties go to the smaller index): d = 37 with more centroids than one sgemm
 * tile holds, and d = 8 and 3 (the panel kernel). */
static void check_assign(size_t n, size_t d, size_t k) {
    float *x = malloc(n * d * sizeof(float)), *c = malloc(k * d * sizeof(float)), *dist = malloc(n * sizeof(float));
    uint32_t *assign = malloc(n * sizeof(uint32_t));
    for (size_t i = 0; i < n * d; i++) x[i] = (float)(gauss() + 3.0);
    for (size_t i = 0; i < k * d; i++) c[i] = (float)(gauss() + 3.0);
    for (size_t j = k * 4 / 5; j < k; j += 7) memcpy(c + j * d, c + (j - k / 2) * d, d * sizeof(float));
    for (size_t i = 0; i < n; i += 5) memcpy(x + i * d, c + ((i * 13) % k) * d, d * sizeof(float));
    assert_int_equal(km_assign(x, n, d, c, k, assign, dist), HK_OK);
    size_t checked = 0;
    for (size_t i = 0; i < n; i++) {
        double best = INFINITY, second = INFINITY;
        size_t bi = 0;
        for (size_t j = 0; j < k; j++) {
            double e = dist2(x + i * d, c + j * d, d);
            if (e < best) {
                second = best;
                best = e;
                bi = j;
            } else if (e < second) {
                second = e;
            }
        }
        double tol = 1e-5 * (best + 1e-3);
        assert_true(fabs(dist[i] - best) <= tol);
        assert_true(fabs(dist2(x + i * d, c + assign[i] * d, d) - best) <= tol);
        if (second - best > 2 * tol || second == best) {
            /* Clear winner, or an exact duplicate centroid: the smaller index. */
            assert_int_equal(assign[i], bi);
            checked++;
        }
    }
    assert_true(checked > n * 9 / 10);
    assert_int_equal(km_assign(x, 3, d, c, k, assign, NULL), HK_OK);
    free(x);
    free(c);
    free(dist);
    free(assign);
}

static void test_assign_reference(void **state) {
    rng_seed(7);
    check_assign(1500, 37, 1500);
    check_assign(3000, 8, 256);
    check_assign(2000, 3, 21);
    check_assign(700, 16, 1);
}

/* Lloyd iterations skip rows whose centroid provably stays (d <= 16): the assignment
 * they end with must be exactly a full scan's of the final centroids. */
static void test_pruned_equals_full_scan(void **state) {
    static const size_t ds[] = {2, 8, 16, 20};
    rng_seed(10);
    for (size_t v = 0; v < sizeof ds / sizeof ds[0]; v++) {
        enum { N = 6000, K = 100 };
        size_t d = ds[v];
        float *x = blobs(N, d, 40, 2.0, 1.0, NULL, NULL), *c = malloc(K * d * sizeof(float));
        float *dist = malloc(N * sizeof(float)), *dist2 = malloc(N * sizeof(float));
        uint32_t *a = malloc(N * sizeof(uint32_t)), *a2 = malloc(N * sizeof(uint32_t));
        assert_int_equal(km_seed(x, N, d, K, 3, c), HK_OK);
        for (uint32_t iters = 1; iters <= 12; iters += 11) {
            double obj;
            assert_int_equal(km_refine(x, N, d, K, iters, NULL, NULL, 0, 1, c, a, dist, &obj), HK_OK);
            assert_int_equal(km_assign(x, N, d, c, K, a2, dist2), HK_OK);
            assert_memory_equal(a, a2, N * sizeof(uint32_t));
            assert_memory_equal(dist, dist2, N * sizeof(float));
        }
        free(x);
        free(c);
        free(dist);
        free(dist2);
        free(a);
        free(a2);
    }
}

typedef struct progress_log {
    int calls, cancel_at;
    double last, first;
    int bad;
} progress_log;

static int on_progress(void *ud, const char *phase, double f) {
    progress_log *p = ud;
    if (strcmp(phase, "kmeans") != 0 || f < p->last || f < 0.25 - 1e-12 || f > 0.75 + 1e-12) p->bad = 1;
    if (p->calls == 0) p->first = f;
    p->last = f;
    return ++p->calls == p->cancel_at;
}

static void test_progress_and_cancel(void **state) {
    enum { N = 2000, D = 8, K = 16 };
    rng_seed(8);
    float *x = blobs(N, D, 20, 5.0, 1.0, NULL, NULL);
    float cent[K * D];
    double obj;
    progress_log p = {0};
    assert_int_equal(km_train(x, N, D, K, 8, 1, on_progress, &p, 0.25, 0.5, cent, &obj), HK_OK);
    assert_false(p.bad);
    assert_true(p.first == 0.25);
    assert_true(fabs(p.last - 0.75) < 1e-12);
    int total = p.calls;
    assert_true(total >= 3);
    for (int at = 1; at <= total; at++) {
        float keep[K * D];
        for (size_t i = 0; i < K * D; i++) keep[i] = cent[i] = -1.0f;
        double o = -7;
        progress_log q = {.cancel_at = at};
        hk_clear_error();
        assert_int_equal(km_train(x, N, D, K, 8, 1, on_progress, &q, 0.25, 0.5, cent, &o), HK_CANCELLED);
        assert_int_equal(q.calls, at);
        assert_memory_equal(cent, keep, sizeof keep);
        assert_true(o == -7);
        assert_non_null(strstr(hk_errmsg(), "cancel"));
    }
    /* n <= k reports and cancels too. */
    progress_log q = {.cancel_at = 2};
    assert_int_equal(km_train(x, 4, D, K, 8, 1, on_progress, &q, 0.25, 0.5, cent, &obj), HK_CANCELLED);
    free(x);
}

static void test_invalid(void **state) {
    float x[4 * 3] = {0}, c[2 * 3];
    uint32_t a[4];
    struct {
        size_t n, d, k;
    } bad[] = {{0, 3, 2}, {4, 0, 2}, {4, 3, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hk_clear_error();
        assert_int_equal(km_train(x, bad[i].n, bad[i].d, bad[i].k, 5, 1, NULL, NULL, 0, 1, c, NULL), HK_INVALID);
        assert_non_null(strstr(hk_errmsg(), "at least 1"));
        assert_int_equal(km_assign(x, bad[i].n, bad[i].d, c, bad[i].k, a, NULL), HK_INVALID);
    }
    assert_int_equal(km_train(NULL, 4, 3, 2, 5, 1, NULL, NULL, 0, 1, c, NULL), HK_INVALID);
    x[7] = NAN;
    assert_int_equal(km_train(x, 4, 3, 2, 5, 1, NULL, NULL, 0, 1, c, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "row 2"));
    x[7] = INFINITY;
    assert_int_equal(km_train(x, 4, 3, 2, 5, 1, NULL, NULL, 0, 1, c, NULL), HK_INVALID);
    x[7] = 1e30f;
    assert_int_equal(km_train(x, 4, 3, 2, 5, 1, NULL, NULL, 0, 1, c, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "too large"));
}

/* ---- allocation failures: the n-th allocation (and every one after it) fails ---- */

static atomic_long alloc_budget;
static void *fail_malloc(void *ud, size_t n) { return atomic_fetch_sub(&alloc_budget, 1) > 0 ? malloc(n) : NULL; }
static void *fail_realloc(void *ud, void *p, size_t n) {
    return atomic_fetch_sub(&alloc_budget, 1) > 0 ? realloc(p, n) : NULL;
}
static void plain_free(void *ud, void *p) { free(p); }

static void test_nomem(void **state) {
    enum { N = 3000, K = 20 };
    rng_seed(9);
    hk_pool_workers(); /* start the pool outside the failing allocator */
    const hk_allocator failing = {fail_malloc, fail_realloc, plain_free, NULL};
    static const size_t ds[] = {6, 30}; /* panels, sgemm */
    for (size_t v = 0; v < 2; v++) {
        size_t d = ds[v];
        float *x = blobs(N, d, 10, 5.0, 1.0, NULL, NULL), *c = malloc(K * d * sizeof(float));
        uint32_t *a = malloc(N * sizeof(uint32_t));
        int saw_nomem = 0, saw_ok = 0;
        for (long budget = 0; !saw_ok; budget++) {
            for (size_t i = 0; i < K * d; i++) c[i] = -1.0f;
            atomic_store(&alloc_budget, budget);
            assert_int_equal(hk_set_allocator(&failing), HK_OK);
            hk_status st = km_train(x, N, d, K, 4, 1, NULL, NULL, 0, 1, c, NULL);
            hk_status as = st == HK_OK ? km_assign(x, N, d, c, K, a, NULL) : HK_OK;
            assert_int_equal(hk_set_allocator(NULL), HK_OK);
            if (st == HK_OK && as == HK_OK) {
                saw_ok = 1;
            } else if (st != HK_OK) {
                assert_int_equal(st, HK_NOMEM);
                assert_true(strlen(hk_errmsg()) > 0);
                for (size_t i = 0; i < K * d; i++) assert_true(c[i] == -1.0f);
                saw_nomem = 1;
            } else {
                assert_int_equal(as, HK_NOMEM);
            }
        }
        assert_true(saw_nomem);
        free(x);
        free(c);
        free(a);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blobs_recovered),     cmocka_unit_test(test_objective_monotone),
        cmocka_unit_test(test_deterministic),       cmocka_unit_test(test_n_at_most_k),
        cmocka_unit_test(test_duplicate_rows),      cmocka_unit_test(test_empty_cluster_split),
        cmocka_unit_test(test_assign_reference),    cmocka_unit_test(test_progress_and_cancel),
        cmocka_unit_test(test_invalid),             cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_pruned_equals_full_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
