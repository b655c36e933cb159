/*
 * test_distance.c — every kernel set this CPU can run (scalar, avx2, avx512) against a
 * double-precision reference, over dimensions that hit every loop and tail of the SIMD
 * code, plus the many-rows entry points, normalization, finiteness and the dispatch.
 *
 * Tolerances are relative to the sum of |terms|, the scale float rounding error grows
 * with; a wrong lane, a dropped tail or a double-counted element misses by a whole term.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "vec/distance.h"

static const size_t dims[] = {1, 2, 3, 7, 15, 16, 17, 31, 33, 100, 127, 128, 129, 1000, 1023};
#define NDIMS (sizeof dims / sizeof dims[0])
static const char *const kernel_names[] = {"scalar", "avx2", "avx512"};
#define NKERNELS (sizeof kernel_names / sizeof kernel_names[0])
#define REL_TOL 1e-5

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float rnd(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Exactly dim floats from the allocator, so ASan sees any read past the end. */
static float *random_vec(size_t dim, float scale) {
    float *v = hk_malloc(dim * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < dim; i++) v[i] = rnd() * scale;
    return v;
}

static void ref_l2sq(const float *a, const float *b, size_t dim, double *val, double *mag) {
    double s = 0;
    for (size_t i = 0; i < dim; i++) {
        double d = (double)a[i] - b[i];
        s += d * d;
    }
    *val = s;
    *mag = s;
}

static void ref_dot(const float *a, const float *b, size_t dim, double *val, double *mag) {
    double s = 0, m = 0;
    for (size_t i = 0; i < dim; i++) {
        s += (double)a[i] * b[i];
        m += fabs((double)a[i] * b[i]);
    }
    *val = s;
    *mag = m;
}

static void assert_close(double got, double want, double mag, const char *what, const char *kernel,
                         size_t dim) {
    double tol = REL_TOL * mag + 1e-30;
    if (fabs(got - want) > tol) {
        fail_msg("%s kernel %s dim %zu: got %.9g want %.9g (tol %.3g)", what, kernel, dim, got, want, tol);
    }
}

static int available_kernels(const vec_kernels **out) {
    int n = 0;
    for (size_t i = 0; i < NKERNELS; i++) {
        const vec_kernels *k = vec_by_name(kernel_names[i]);
        if (k == NULL) {
            print_message("kernel %s not available on this CPU/build: skipped\n", kernel_names[i]);
            continue;
        }
        assert_string_equal(k->name, kernel_names[i]);
        out[n++] = k;
    }
    return n;
}

static void test_pairs(void **state) {
    const vec_kernels *ks[NKERNELS];
    int nk = available_kernels(ks);
    assert_true(nk >= 1);
    for (size_t di = 0; di < NDIMS; di++) {
        size_t dim = dims[di];
        for (int rep = 0; rep < 4; rep++) {
            float scale = rep == 3 ? 1000.0f : 1.0f;
            float *a = random_vec(dim, scale), *b = random_vec(dim, scale);
            double l2, l2m, dot, dotm;
            ref_l2sq(a, b, dim, &l2, &l2m);
            ref_dot(a, b, dim, &dot, &dotm);
            for (int ki = 0; ki < nk; ki++) {
                assert_close(ks[ki]->l2sq(a, b, dim), l2, l2m, "l2sq", ks[ki]->name, dim);
                assert_close(ks[ki]->dot(a, b, dim), dot, dotm, "dot", ks[ki]->name, dim);
                assert_close(ks[ki]->l2sq(a, a, dim), 0, 0, "l2sq self", ks[ki]->name, dim);
            }
            hk_free(a);
            hk_free(b);
        }
    }
}

/* Unaligned starts: the kernels must not assume 32- or 64-byte alignment. */
static void test_unaligned(void **state) {
    const vec_kernels *ks[NKERNELS];
    int nk = available_kernels(ks);
    for (size_t di = 0; di < NDIMS; di++) {
        size_t dim = dims[di];
        float *a = random_vec(dim + 3, 1), *b = random_vec(dim + 1, 1);
        double l2, l2m, dot, dotm;
        ref_l2sq(a + 3, b + 1, dim, &l2, &l2m);
        ref_dot(a + 3, b + 1, dim, &dot, &dotm);
        for (int ki = 0; ki < nk; ki++) {
            assert_close(ks[ki]->l2sq(a + 3, b + 1, dim), l2, l2m, "l2sq unaligned", ks[ki]->name, dim);
            assert_close(ks[ki]->dot(a + 3, b + 1, dim), dot, dotm, "dot unaligned", ks[ki]->name, dim);
        }
        hk_free(a);
        hk_free(b);
    }
}

static void test_many(void **state) {
    const vec_kernels *ks[NKERNELS];
    int nk = available_kernels(ks);
    const size_t n = 37;
    for (size_t di = 0; di < NDIMS; di++) {
        size_t dim = dims[di];
        float *q = random_vec(dim, 1), *base = random_vec(n * dim, 1);
        /* Row 20 repeats row 3: the same row must get the same bits anywhere. */
        memcpy(base + 20 * dim, base + 3 * dim, dim * sizeof(float));
        float *out = hk_malloc(n * sizeof *out);
        assert_non_null(out);
        for (int ki = 0; ki < nk; ki++) {
            const vec_kernels *k = ks[ki];
            for (int which = 0; which < 2; which++) {
                for (size_t i = 0; i < n; i++) out[i] = NAN;
                if (which == 0)
                    k->l2sq_many(q, base, n, dim, out);
                else
                    k->dot_many(q, base, n, dim, out);
                for (size_t i = 0; i < n; i++) {
                    double want, mag;
                    if (which == 0)
                        ref_l2sq(q, base + i * dim, dim, &want, &mag);
                    else
                        ref_dot(q, base + i * dim, dim, &want, &mag);
                    assert_close(out[i], want, mag, which ? "dot_many" : "l2sq_many", k->name, dim);
                    float pair = which ? k->dot(q, base + i * dim, dim) : k->l2sq(q, base + i * dim, dim);
                    assert_memory_equal(&out[i], &pair, sizeof pair);
                }
                assert_memory_equal(&out[3], &out[20], sizeof(float));
            }
            /* n == 0 writes nothing; n == 1 writes one value. */
            out[0] = -1.0f;
            k->l2sq_many(q, base, 0, dim, out);
            assert_true(out[0] == -1.0f);
            k->dot_many(q, base, 1, dim, out);
            assert_true(out[0] == k->dot(q, base, dim));
        }
        hk_free(q);
        hk_free(base);
        hk_free(out);
    }
}

/* The gather kernels: scattered rows, any count (the wide kernels take four at a time,
 * then the rest one by one), each result bit for bit the pair kernel's. */
static void test_ids(void **state) {
    const vec_kernels *ks[NKERNELS];
    int nk = available_kernels(ks);
    const size_t rows = 41;
    uint32_t ids[11];
    for (size_t di = 0; di < NDIMS; di++) {
        size_t dim = dims[di];
        float *q = random_vec(dim, 1), *base = random_vec(rows * dim, 1);
        float out[11];
        for (int ki = 0; ki < nk; ki++) {
            const vec_kernels *k = ks[ki];
            for (size_t n = 0; n <= 11; n++) {
                for (size_t i = 0; i < n; i++) ids[i] = (uint32_t)((i * 17 + di * 5 + 3) % rows);
                if (n > 5) ids[5] = ids[1]; /* a row twice in one call */
                for (int which = 0; which < 2; which++) {
                    for (size_t i = 0; i < 11; i++) out[i] = NAN;
                    if (which == 0)
                        k->l2sq_ids(q, base, ids, n, dim, out);
                    else
                        k->dot_ids(q, base, ids, n, dim, out);
                    for (size_t i = 0; i < n; i++) {
                        const float *row = base + (size_t)ids[i] * dim;
                        double want, mag;
                        if (which == 0)
                            ref_l2sq(q, row, dim, &want, &mag);
                        else
                            ref_dot(q, row, dim, &want, &mag);
                        assert_close(out[i], want, mag, which ? "dot_ids" : "l2sq_ids", k->name, dim);
                        float pair = which ? k->dot(q, row, dim) : k->l2sq(q, row, dim);
                        assert_memory_equal(&out[i], &pair, sizeof pair);
                    }
                    for (size_t i = n; i < 11; i++) assert_true(isnan(out[i])); /* nothing past n */
                }
            }
        }
        hk_free(q);
        hk_free(base);
    }
}

static void test_norms(void **state) {
    for (size_t di = 0; di < NDIMS; di++) {
        size_t dim = dims[di];
        float *v = random_vec(dim, 3);
        float *orig = hk_malloc(dim * sizeof *orig);
        assert_non_null(orig);
        memcpy(orig, v, dim * sizeof *v);
        double want = 0;
        for (size_t i = 0; i < dim; i++) want += (double)v[i] * v[i];
        assert_close(vec_norm_sq(v, dim), want, want, "norm_sq", "-", dim);

        float norm = vec_normalize(v, dim);
        assert_close(norm, sqrt(want), sqrt(want), "normalize return", "-", dim);
        double after = 0;
        for (size_t i = 0; i < dim; i++) after += (double)v[i] * v[i];
        assert_close(after, 1.0, 1.0, "normalized norm", "-", dim);
        for (size_t i = 0; i < dim; i++)
            assert_close((double)v[i] * norm, orig[i], fabs(orig[i]) + 1e-6, "direction", "-", dim);
        hk_free(v);
        hk_free(orig);
    }
    float zero[5] = {0};
    assert_true(vec_normalize(zero, 5) == 0.0f);
    for (int i = 0; i < 5; i++) assert_true(zero[i] == 0.0f);
    assert_true(vec_norm_sq(zero, 5) == 0.0f);
    /* Double accumulation: 1e20^2 overflows a float sum but not the norm's scale. */
    float big[3] = {1e20f, 1e20f, 0};
    float bn = vec_normalize(big, 3);
    assert_true(isfinite(bn));
    assert_close(bn, 1.41421356e20, 1.41421356e20, "big norm", "-", 3);
    assert_close(big[0], 0.70710678, 0.70710678, "big normalized", "-", 3);
}

static void test_finite(void **state) {
    const float bad_values[] = {NAN, INFINITY, -INFINITY};
    for (size_t di = 0; di < NDIMS; di++) {
        size_t dim = dims[di];
        float *v = random_vec(dim, 1);
        assert_int_equal(vec_all_finite(v, dim), 1);
        size_t positions[] = {0, dim / 2, dim - 1};
        for (size_t pi = 0; pi < 3; pi++) {
            for (size_t bi = 0; bi < 3; bi++) {
                float keep = v[positions[pi]];
                v[positions[pi]] = bad_values[bi];
                if (vec_all_finite(v, dim) != 0)
                    fail_msg("dim %zu: value %g at %zu passed as finite", dim, bad_values[bi], positions[pi]);
                v[positions[pi]] = keep;
            }
        }
        assert_int_equal(vec_all_finite(v, dim), 1);
        hk_free(v);
    }
    const float edge[] = {FLT_MAX, -FLT_MAX, FLT_MIN, 1e-45f, -0.0f, 0.0f};
    assert_int_equal(vec_all_finite(edge, sizeof edge / sizeof edge[0]), 1);
    assert_int_equal(vec_all_finite(NULL, 0), 1);
}

static void test_dispatch(void **state) {
    assert_null(vec_by_name("bogus"));
    assert_null(vec_by_name(NULL));
    assert_non_null(vec_by_name("scalar"));
    const char *forced = *(const char **)*state;
    const vec_kernels *best = vec_best();
    assert_non_null(best);
    assert_ptr_equal(best, vec_best());
    assert_string_equal(hk_kernel_name(), best->name);
    if (forced != NULL)
        assert_string_equal(best->name, forced);
#if defined(__x86_64__)
    if (forced == NULL && vec_by_name("avx512") != NULL) assert_string_equal(best->name, "avx512");
#endif
    print_message("kernel in use: %s\n", hk_kernel_name());
}

/* Before anything calls vec_best: force a kernel that is not the automatic choice (when
 * the user has not set HEKTOR_KERNEL), so the test proves the variable is honoured. */
static int setup_dispatch(void **state) {
    static const char *forced;
    const char *env = getenv("HEKTOR_KERNEL");
    if (env == NULL) {
        forced = vec_by_name("avx2") ? "avx2" : "scalar";
        setenv("HEKTOR_KERNEL", forced, 1);
    } else {
        forced = vec_by_name(env) ? env : NULL;
    }
    *state = &forced;
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_dispatch, setup_dispatch),
        cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_norms),
        cmocka_unit_test(test_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
