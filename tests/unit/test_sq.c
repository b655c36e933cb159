/*
 * test_sq.c — scalar quantization: error within the analytic bound, robust ranges, every
 * kernel against a double-precision reference of the decoded vector, curves that put
 * their levels near zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/sq.h"

static uint64_t rng = 88172645463325252ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double grand(void) {
    double u = urand(), v = urand();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static float *gen(size_t n, size_t dim, int kind) {
    float *x = malloc(n * dim * sizeof(float));
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < dim; d++) {
            double v = kind == 0 ? urand() * 4.0 - 1.0 : grand() * (0.5 + 0.1 * (double)(d % 7));
            x[i * dim + d] = (float)(v + (kind == 0 ? 0 : 0.3 * (double)(d % 3)));
        }
    return x;
}

static double mse_of(const sq_model *m, const float *x, size_t n) {
    size_t cs = sq_code_size(m);
    uint8_t *codes = malloc(n * cs);
    float *y = malloc(n * m->dim * sizeof(float));
    sq_encode(m, x, n, codes);
    sq_decode(m, codes, n, y);
    double e = 0;
    for (size_t i = 0; i < n * m->dim; i++) e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    free(codes);
    free(y);
    return e / (double)(n * m->dim);
}

/* Linear SQ: inside the trained range every component is off by at most half a step. */
static void test_linear_bound(void **state) {
    (void)state;
    size_t n = 5000, dim = 37;
    float *x = gen(n, dim, 0);
    for (uint32_t bits = 4; bits <= 8; bits += 4) {
        sq_model m;
        assert_int_equal(sq_train(x, n, (uint32_t)dim, bits, QC_NONE, 0, NULL, NULL, &m), HK_OK);
        assert_int_equal(sq_code_size(&m), bits == 8 ? dim : (dim + 1) / 2);
        size_t cs = sq_code_size(&m);
        uint8_t *codes = malloc(n * cs);
        float *y = malloc(n * dim * sizeof(float));
        sq_encode(&m, x, n, codes);
        sq_decode(&m, codes, n, y);
        size_t inside = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t d = 0; d < dim; d++) {
                float v = x[i * dim + d], lo = m.center[d] - m.scale[d], hi = m.center[d] + m.scale[d];
                if (v < lo || v > hi) continue;
                inside++;
                double step = 2.0 * m.scale[d] / (m.levels - 1);
                assert_true(fabs((double)v - y[i * dim + d]) <= step / 2 * (1 + 1e-4) + 1e-6);
            }
        assert_true(inside > n * dim * 95 / 100); /* the range covers almost everything */
        /* uniform data: MSE close to step^2 / 12 */
        double step = 2.0 * m.scale[0] / (m.levels - 1);
        double e = mse_of(&m, x, n);
        assert_true(e < step * step / 12 * 1.5);
        assert_true(e > step * step / 12 * 0.5);
        free(codes);
        free(y);
        sq_free(&m);
    }
    free(x);
}

/* One huge outlier per dimension must not stretch the range (percentile training). */
static void test_robust_range(void **state) {
    (void)state;
    size_t n = 20000, dim = 16;
    float *x = gen(n, dim, 1);
    sq_model clean, dirty;
    assert_int_equal(sq_train(x, n, (uint32_t)dim, 8, QC_NONE, 0, NULL, NULL, &clean), HK_OK);
    double e_clean = mse_of(&clean, x, n);
    for (size_t d = 0; d < dim; d++) x[(d * 131) % n * dim + d] = 1e4f;
    assert_int_equal(sq_train(x, n, (uint32_t)dim, 8, QC_NONE, 0, NULL, NULL, &dirty), HK_OK);
    for (size_t d = 0; d < dim; d++) assert_true(dirty.center[d] + dirty.scale[d] < 100.0f);
    /* error on the ordinary points stays where it was */
    float *y = malloc(n * dim * sizeof(float));
    memcpy(y, x, n * dim * sizeof(float));
    for (size_t d = 0; d < dim; d++) y[(d * 131) % n * dim + d] = x[((d * 131) % n + 1) % n * dim + d];
    double e_dirty = mse_of(&dirty, y, n);
    assert_true(e_dirty < e_clean * 1.5);
    free(y);
    sq_free(&clean);
    sq_free(&dirty);
    free(x);
}

/* Every kernel: distance on codes == distance to the decoded vector (double reference). */
static void check_kernels(const char *name) {
    if (sq_force_kernels(name) != 0) {
        sq_force_kernels(NULL);
        return; /* this CPU lacks it */
    }
    static const uint32_t dims[] = {1, 2, 7, 8, 15, 16, 17, 31, 33, 64, 100, 128, 129};
    static const qc_kind curves[] = {QC_NONE, QC_MULAW, QC_ST2084, QC_GAMMA};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
        for (uint32_t bits = 4; bits <= 8; bits += 4)
            for (size_t ci = 0; ci < 4; ci++) {
                uint32_t dim = dims[di];
                size_t n = 50;
                float *x = gen(n, dim, 1);
                sq_model m;
                assert_int_equal(sq_train(x, n, dim, bits, curves[ci], 0, NULL, NULL, &m), HK_OK);
                size_t cs = sq_code_size(&m);
                uint8_t *codes = malloc(n * cs);
                float *y = malloc(n * dim * sizeof(float)), *a = malloc(dim * sizeof(float));
                float *out = malloc(n * sizeof(float));
                sq_encode(&m, x, n, codes);
                sq_decode(&m, codes, n, y);
                for (int ip = 0; ip <= 1; ip++) {
                    const float *q = x + 3 * dim;
                    float bias;
                    sq_prepare(&m, q, ip, a, &bias);
                    sq_dist_many(&m, a, bias, ip, codes, n, out);
                    for (size_t i = 0; i < n; i++) {
                        double ref = 0, mag = 0;
                        for (uint32_t d = 0; d < dim; d++) {
                            double t = ip ? -(double)q[d] * y[i * dim + d]
                                          : ((double)q[d] - y[i * dim + d]) * ((double)q[d] - y[i * dim + d]);
                            ref += t;
                            mag += fabs(t) + fabs((double)q[d] * m.center[d]);
                        }
                        double tol = 1e-4 * mag + 1e-5;
                        if (fabs(out[i] - ref) > tol)
                            fail_msg("%s dim %u bits %u curve %d ip %d row %zu: %g vs %g", name, dim,
                                     bits, (int)curves[ci], ip, i, (double)out[i], ref);
                        assert_true(fabs(sq_dist(&m, a, bias, ip, codes + i * cs) - out[i]) <= 1e-6 * mag + 1e-6);
                        /* symmetric: code i against code 3 == reconstructions' distance */
                        double sref = 0, smag = 0;
                        for (uint32_t d = 0; d < dim; d++) {
                            double ya = y[i * dim + d], yb = y[3 * dim + d];
                            double t = ip ? -ya * yb : (ya - yb) * (ya - yb);
                            sref += t;
                            smag += fabs(t) + fabs(ya) * fabs(yb) + (double)m.center[d] * m.center[d];
                        }
                        float sd = sq_sym_dist(&m, ip, codes + i * cs, codes + 3 * cs);
                        if (fabs(sd - sref) > 1e-4 * smag + 1e-5)
                            fail_msg("%s sym dim %u bits %u curve %d ip %d row %zu: %g vs %g", name,
                                     dim, bits, (int)curves[ci], ip, i, (double)sd, sref);
                    }
                }
                free(codes);
                free(y);
                free(a);
                free(out);
                free(x);
                sq_free(&m);
            }
    sq_force_kernels(NULL);
}

static void test_kernels(void **state) {
    (void)state;
    check_kernels("scalar");
    check_kernels("avx2");
    check_kernels("avx512");
    assert_int_equal(sq_force_kernels("no-such"), -1);
}

/* A constant dimension decodes exactly and does not divide by zero. */
static void test_constant_dim(void **state) {
    (void)state;
    size_t n = 100, dim = 3;
    float *x = gen(n, dim, 1);
    for (size_t i = 0; i < n; i++) x[i * dim + 1] = 2.5f;
    sq_model m;
    assert_int_equal(sq_train(x, n, (uint32_t)dim, 4, QC_MULAW, 0, NULL, NULL, &m), HK_OK);
    assert_true(m.scale[1] == 0.0f);
    uint8_t codes[2];
    float y[3];
    sq_encode(&m, x, 1, codes);
    sq_decode(&m, codes, 1, y);
    assert_true(y[1] == 2.5f);
    float a[3], bias;
    float q[3] = {0, 0.5f, 0};
    sq_prepare(&m, q, 0, a, &bias);
    double ref = 0;
    for (int d = 0; d < 3; d++) ref += ((double)q[d] - y[d]) * ((double)q[d] - y[d]);
    assert_true(fabs(sq_dist(&m, a, bias, 0, codes) - ref) < 1e-4);
    sq_free(&m);
    free(x);
}

/* On Laplacian-like data (dense near zero) a concave curve lowers the error of 4-bit
 * codes below linear; on uniform data linear wins. Both are facts the docs report. */
static void test_curves_where_dense(void **state) {
    (void)state;
    size_t n = 20000, dim = 8;
    float *lap = malloc(n * dim * sizeof(float));
    for (size_t i = 0; i < n * dim; i++) {
        double u = urand() - 0.5;
        lap[i] = (float)(-(u < 0 ? -1 : 1) * 0.3 * log(1 - 2 * fabs(u) + 1e-12));
    }
    float *uni = gen(n, dim, 0);
    sq_model lin, mu;
    assert_int_equal(sq_train(lap, n, (uint32_t)dim, 4, QC_NONE, 0, NULL, NULL, &lin), HK_OK);
    assert_int_equal(sq_train(lap, n, (uint32_t)dim, 4, QC_MULAW, 0, NULL, NULL, &mu), HK_OK);
    double el = mse_of(&lin, lap, n), em = mse_of(&mu, lap, n);
    assert_true(em < el);
    sq_free(&lin);
    sq_free(&mu);
    assert_int_equal(sq_train(uni, n, (uint32_t)dim, 4, QC_NONE, 0, NULL, NULL, &lin), HK_OK);
    assert_int_equal(sq_train(uni, n, (uint32_t)dim, 4, QC_MULAW, 0, NULL, NULL, &mu), HK_OK);
    assert_true(mse_of(&lin, uni, n) <= mse_of(&mu, uni, n));
    sq_free(&lin);
    sq_free(&mu);
    free(lap);
    free(uni);
}

static void test_bad_args(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, 4};
    sq_model m;
    assert_int_equal(sq_train(x, 1, 4, 6, QC_NONE, 0, NULL, NULL, &m), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "8 or 4 bits"));
    assert_int_equal(sq_train(x, 0, 4, 8, QC_NONE, 0, NULL, NULL, &m), HK_INVALID);
    x[2] = NAN;
    assert_int_equal(sq_train(x, 1, 4, 8, QC_NONE, 0, NULL, NULL, &m), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "non-finite"));
    float c[2] = {0, 0}, s[2] = {1, -1};
    assert_int_equal(sq_from_params(2, 8, QC_NONE, 0, c, s, &m), HK_CORRUPT);
}

static int cancel_at_half(void *ud, const char *phase, double f) {
    (void)phase;
    (void)ud;
    return f >= 0.5;
}

static void test_cancel(void **state) {
    (void)state;
    size_t n = 100, dim = 256;
    float *x = gen(n, dim, 1);
    sq_model m;
    assert_int_equal(sq_train(x, n, (uint32_t)dim, 8, QC_NONE, 0, cancel_at_half, NULL, &m), HK_CANCELLED);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_bound),   cmocka_unit_test(test_robust_range),
        cmocka_unit_test(test_kernels),        cmocka_unit_test(test_constant_dim),
        cmocka_unit_test(test_curves_where_dense), cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
