/*
 * test_qkernels.c — every quantizer kernel set this CPU can run (scalar, AVX2, AVX-512)
 * against double-precision references, on sizes that leave every SIMD tail: minimum
 * scans, selections, nearest-centroid panels (ties, duplicates, padding), k-means++
 * weights (partial panels, nothing written past n) and cluster sums.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/qkernels.h"

static const char *const sets[] = {"scalar", "avx2", "avx512"};
#define NSETS (sizeof sets / sizeof sets[0])

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float rnd(void) { return (float)((double)(rnd_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

static void test_sets_available(void **state) {
    assert_non_null(qk_by_name("scalar"));
    assert_null(qk_by_name("nonsense"));
    assert_null(qk_by_name(NULL));
    const qk_kernels *best = qk_best();
    assert_non_null(best);
    assert_ptr_equal(best, qk_by_name(best->name));
}

static void test_add_min_select(void **state) {
    static const size_t ks[] = {1, 7, 8, 9, 16, 17, 31, 100, 256};
    for (size_t si = 0; si < NSETS; si++) {
        const qk_kernels *qk = qk_by_name(sets[si]);
        if (!qk) continue;
        for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
            size_t k = ks[a];
            float s[257], s0[257], add[257];
            uint32_t idx[257];
            for (size_t i = 0; i < k + 1; i++) {
                s0[i] = s[i] = rnd();
                add[i] = rnd();
            }
            float m = qk->add_min(s, add, k);
            float want = INFINITY;
            for (size_t i = 0; i < k; i++) {
                assert_true(s[i] == s0[i] + add[i]);
                if (s[i] < want) want = s[i];
            }
            assert_true(s[k] == s0[k]); /* nothing written past k */
            assert_true(m == want);
            float bound = m + 0.3f;
            size_t n = qk->select_le(s, k, bound, idx), e = 0;
            for (size_t i = 0; i < k; i++)
                if (s[i] <= bound) {
                    assert_true(e < n);
                    assert_int_equal(idx[e++], i);
                }
            assert_int_equal(n, e);
        }
    }
}

/* Centroids in panels as kmeans.c lays them out (zeros and +inf norms as padding). */
static void make_panels(const float *c, size_t k, size_t d, float *ct, float *cn) {
    size_t np = (k + QK_PANEL - 1) / QK_PANEL;
    for (size_t i = 0; i < np * QK_PANEL; i++) {
        double nrm = 0;
        for (size_t q = 0; q < d; q++) {
            float v = i < k ? c[i * d + q] : 0.0f;
            ct[(i / QK_PANEL) * d * QK_PANEL + q * QK_PANEL + i % QK_PANEL] = v;
            nrm += (double)v * v;
        }
        cn[i] = i < k ? (float)nrm : INFINITY;
    }
}

static void test_panel_argmin(void **state) {
    static const size_t ks[] = {1, 5, 16, 33, 64, 100, 256};
    static const size_t ds[] = {1, 3, 8, 16};
    enum { N = 40 };
    for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
        for (size_t b = 0; b < sizeof ds / sizeof ds[0]; b++) {
            size_t k = ks[a], d = ds[b], np = (k + QK_PANEL - 1) / QK_PANEL;
            float *c = malloc(k * d * sizeof(float)), *x = malloc(N * (d + 1) * sizeof(float));
            float *ct = malloc(np * QK_PANEL * d * sizeof(float)), *cn = malloc(np * QK_PANEL * sizeof(float));
            for (size_t i = 0; i < k * d; i++) c[i] = rnd();
            if (k > 4) memcpy(c + (k - 1) * d, c + 2 * d, d * sizeof(float)); /* a duplicate of centroid 2 */
            make_panels(c, k, d, ct, cn);
            /* Rows at stride d + 1; every fourth one sits on centroid 2 (a tie when duplicated). */
            for (size_t i = 0; i < N; i++)
                for (size_t q = 0; q <= d; q++)
                    x[i * (d + 1) + q] = (i % 4 == 0 && k > 2 && q < d) ? c[2 * d + q] : rnd();
            for (size_t si = 0; si < NSETS; si++) {
                const qk_kernels *qk = qk_by_name(sets[si]);
                if (!qk) continue;
                float best[N], second[N];
                uint32_t arg[N];
                qk->panel_argmin(x, d + 1, N, d, ct, cn, np, best, arg, second);
                for (size_t i = 0; i < N; i++) {
                    const float *xi = x + i * (d + 1);
                    double xn = 0, ref[256] = {0};
                    for (size_t q = 0; q < d; q++) xn += (double)xi[q] * xi[q];
                    size_t bi = 0;
                    for (size_t j = 0; j < k; j++) {
                        double s = 0;
                        for (size_t q = 0; q < d; q++)
                            s += ((double)xi[q] - c[j * d + q]) * ((double)xi[q] - c[j * d + q]);
                        ref[j] = s - xn; /* the score: ||c||^2 - 2 x.c */
                        if (ref[j] < ref[bi]) bi = j;
                    }
                    double sec = INFINITY;
                    for (size_t j = 0; j < k; j++)
                        if (j != bi && ref[j] < sec) sec = ref[j];
                    double tol = 1e-5 * (xn + 4.0 * d);
                    assert_true(fabs(best[i] - ref[bi]) <= tol);
                    if (k == 1) assert_true(isinf(second[i]));
                    else assert_true(fabs(second[i] - sec) <= tol);
                    assert_true(arg[i] < k);
                    assert_true(fabs(ref[arg[i]] - ref[bi]) <= 2 * tol);
                    if (sec - ref[bi] > 2 * tol) assert_int_equal(arg[i], bi);
                    if (i % 4 == 0 && k > 4) { /* exact tie between 2 and k - 1: the smaller */
                        assert_int_equal(arg[i], 2);
                        assert_true(second[i] == best[i]);
                    }
                }
            }
            free(c);
            free(x);
            free(ct);
            free(cn);
        }
}

static void test_seed_update(void **state) {
    static const size_t ns[] = {1, 7, 15, 16, 17, 40, 100};
    static const size_t ds[] = {1, 8, 13};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof ds / sizeof ds[0]; b++) {
            size_t n = ns[a], d = ds[b], np = (n + QK_PANEL - 1) / QK_PANEL;
            float *x = malloc(n * d * sizeof(float)), *xt = calloc(np * QK_PANEL * d, sizeof(float));
            float c1[13], c2[13];
            for (size_t i = 0; i < n * d; i++) x[i] = rnd();
            for (size_t i = 0; i < n; i++)
                for (size_t q = 0; q < d; q++)
                    xt[(i / QK_PANEL) * d * QK_PANEL + q * QK_PANEL + i % QK_PANEL] = x[i * d + q];
            for (size_t q = 0; q < d; q++) {
                c1[q] = rnd();
                c2[q] = rnd();
            }
            for (size_t si = 0; si < NSETS; si++) {
                const qk_kernels *qk = qk_by_name(sets[si]);
                if (!qk) continue;
                float *d2 = malloc((n + 1) * sizeof(float));
                d2[n] = -5.0f;
                double s1 = qk->seed_update(xt, n, d, c1, d2, 1);
                double s2 = qk->seed_update(xt, n, d, c2, d2, 0);
                double r1 = 0, r2 = 0;
                for (size_t i = 0; i < n; i++) {
                    double e1 = 0, e2 = 0;
                    for (size_t q = 0; q < d; q++) {
                        e1 += ((double)x[i * d + q] - c1[q]) * ((double)x[i * d + q] - c1[q]);
                        e2 += ((double)x[i * d + q] - c2[q]) * ((double)x[i * d + q] - c2[q]);
                    }
                    double m = e1 < e2 ? e1 : e2;
                    r1 += e1;
                    r2 += m;
                    assert_true(fabs(d2[i] - m) <= 1e-5 * (m + 1e-6));
                }
                assert_true(d2[n] == -5.0f);
                assert_true(fabs(s1 - r1) <= 1e-5 * r1);
                assert_true(fabs(s2 - r2) <= 1e-5 * r2);
                free(d2);
            }
            free(x);
            free(xt);
        }
}

static void test_sum_rows(void **state) {
    static const size_t ds[] = {1, 3, 4, 8, 9, 16, 21};
    static const size_t ns[] = {0, 1, 3, 4, 5, 50};
    enum { ROWS = 64 };
    for (size_t a = 0; a < sizeof ds / sizeof ds[0]; a++) {
        size_t d = ds[a];
        float *x = malloc(ROWS * d * sizeof(float));
        for (size_t i = 0; i < ROWS * d; i++) x[i] = rnd() * 100;
        uint32_t rows[50];
        for (size_t t = 0; t < 50; t++) rows[t] = (uint32_t)((t * 37 + 5) % ROWS);
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            for (size_t si = 0; si < NSETS; si++) {
                const qk_kernels *qk = qk_by_name(sets[si]);
                if (!qk) continue;
                double acc[22], want[22];
                for (size_t q = 0; q < 22; q++) acc[q] = want[q] = (double)q;
                qk->sum_rows(x, d, rows, ns[b], acc);
                for (size_t t = 0; t < ns[b]; t++)
                    for (size_t q = 0; q < d; q++) want[q] += x[rows[t] * d + q];
                for (size_t q = 0; q < 22; q++) assert_true(fabs(acc[q] - want[q]) <= 1e-9 * (fabs(want[q]) + 1));
            }
        free(x);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sets_available),
        cmocka_unit_test(test_add_min_select),
        cmocka_unit_test(test_panel_argmin),
        cmocka_unit_test(test_seed_update),
        cmocka_unit_test(test_sum_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
