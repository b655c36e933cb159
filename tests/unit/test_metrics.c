/*
 * test_metrics.c — the quality metrics of src/quant/metrics.c: hand-computed MSE, PSNR,
 * cosine distortion, per-dimension MSE and recall, and SSIM against scikit-image.
 *
 * SSIM reference values were computed with scikit-image 0.19.3 (Debian 12 python3-skimage)
 * as structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=L) on float64 copies of the float32 images that
 * make_pair below builds; skimage crops (win_size - 1) // 2 = 5 from each border before
 * averaging, which is exactly our valid region. A direct NumPy evaluation of the definition
 * window by window agreed to 1e-15, and gives case E, which is smaller than the 11x11 window
 * (skimage refuses it; ours uses a 7x3 window there). The inputs use only + - * / and a
 * 64-bit LCG, so Python and C build bit-identical images. The script:
 *
 *   import numpy as np
 *   from skimage.metrics import structural_similarity as ssim
 *   def lcg(s):
 *       while True:
 *           s = (s * 6364136223846793005 + 1442695040888963407) & ((1 << 64) - 1)
 *           yield (s >> 40) / 16777216.0 - 0.5
 *   def pair(w, h, scale, gain, offset, noise, seed):
 *       g = lcg(seed)
 *       p = [0.25 + 0.5 * (x / w) * ((y + 1) / h) + 0.15 * ((x * 3 + y * 5) % 7) / 6.0
 *            for y in range(h) for x in range(w)]
 *       a = np.array([scale * v for v in p], dtype=np.float32).reshape(h, w)
 *       b = np.array([scale * (gain * v + offset + noise * next(g)) for v in p],
 *                    dtype=np.float32).reshape(h, w)
 *       return a.astype(np.float64), b.astype(np.float64)
 *   a, b = pair(32, 24, 1.0, 1.0, 0.0, 0.1, 1)
 *   print(ssim(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0))
 *   # 1-D case C: ssim(a.ravel(), b.ravel(), ...) with the same keyword arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "core.h"
#include "quant/metrics.h"

static void assert_near(double got, double want, double tol, const char *what) {
    if (!(fabs(got - want) <= tol)) fail_msg("%s: got %.17g want %.17g (tol %.3g)", what, got, want, tol);
}

typedef struct image_pair {
    float *a, *b;
    size_t w, h;
} image_pair;

/* The generator of the Python script in the file comment, operation for operation. */
static image_pair make_pair(size_t w, size_t h, double scale, double gain, double offset, double noise,
                            uint64_t seed) {
    image_pair p = {hk_malloc(w * h * sizeof(float)), hk_malloc(w * h * sizeof(float)), w, h};
    assert_non_null(p.a);
    assert_non_null(p.b);
    uint64_t s = seed;
    for (size_t y = 0; y < h; y++) {
        for (size_t x = 0; x < w; x++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double n = (double)(s >> 40) / 16777216.0 - 0.5;
            double v = 0.25 + 0.5 * ((double)x / (double)w) * ((double)(y + 1) / (double)h) +
                       0.15 * (double)((x * 3 + y * 5) % 7) / 6.0;
            p.a[y * w + x] = (float)(scale * v);
            p.b[y * w + x] = (float)(scale * (gain * v + offset + noise * n));
        }
    }
    return p;
}

static void free_pair(image_pair *p) {
    hk_free(p->a);
    hk_free(p->b);
}

static void test_mse_psnr(void **state) {
    (void)state;
    const float a[4] = {1, 2, 3, 4}, b[4] = {1, 3, 5, 0};
    assert_near(qm_mse(a, b, 4), 5.25, 0, "mse"); /* (0 + 1 + 4 + 16) / 4 */
    assert_near(qm_mse(a, a, 4), 0, 0, "mse identical");
    assert_near(qm_mse(a, b, 0), 0, 0, "mse empty");
    /* peak = max - min of a = 3: 10 log10(9 / 5.25). */
    assert_near(qm_psnr(qm_mse(a, b, 4), 3), 2.340832060333679, 1e-12, "psnr");
    assert_near(qm_psnr(0.01, 1), 20, 1e-12, "psnr 20 dB");
    assert_near(qm_psnr(1e-6, 2), 10 * log10(4e6), 1e-12, "psnr 66 dB");
    assert_true(qm_psnr(0, 1) == INFINITY);
    assert_true(isnan(qm_psnr(1, 0)));
    assert_true(isnan(qm_psnr(-1, 1)));
    assert_true(isnan(qm_psnr(NAN, 1)));
    /* Double accumulation: float would lose the small differences next to the large ones. */
    float big[3] = {1e8f, 0.5f, 1e8f}, big2[3] = {1e8f, 0, 1e8f};
    assert_near(qm_mse(big, big2, 3), 0.25 / 3, 1e-15, "mse exact in double");
}

/* Reference values: see the file comment. */
typedef struct ssim_case {
    size_t w, h;
    double scale, gain, offset, noise;
    uint64_t seed;
    double L, want;
} ssim_case;

static const ssim_case ssim_cases[] = {
    {32, 24, 1.0, 1.0, 0.0, 0.1, 1, 1.0, 0.894160845920746},     /* A: skimage */
    {13, 17, 255.0, 0.8, 0.08, 0.12, 2, 255.0, 0.851180461147497}, /* B: skimage */
    {64, 1, 2.0, 1.0, -0.1, 0.3, 3, 2.0, 0.543727231504067},       /* C: skimage, 1-D */
    {11, 11, 1.0, 1.1, -0.05, 0.05, 4, 1.0, 0.975152596954671},    /* D: skimage, one window */
    {7, 4, 1.0, 0.9, 0.02, 0.1, 5, 1.0, 0.950966077020683},        /* E: NumPy direct, 7x3 window */
};

static void test_ssim_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof ssim_cases / sizeof ssim_cases[0]; i++) {
        const ssim_case *c = &ssim_cases[i];
        image_pair p = make_pair(c->w, c->h, c->scale, c->gain, c->offset, c->noise, c->seed);
        double got = qm_ssim_2d(p.a, p.b, p.w, p.h, c->L);
        print_message("case %c %zux%zu: ssim %.15f (reference %.15f)\n", (char)('A' + i), c->w, c->h, got, c->want);
        assert_near(got, c->want, 1e-12, "ssim vs reference");
        if (c->h == 1) assert_true(qm_ssim_1d(p.a, p.b, p.w, c->L) == got);
        free_pair(&p);
    }
}

static void test_ssim_identity_symmetry(void **state) {
    (void)state;
    const size_t sizes[][2] = {{1, 1}, {2, 2}, {3, 1}, {5, 3}, {7, 4}, {10, 12}, {11, 11}, {32, 24}, {100, 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t w = sizes[i][0], h = sizes[i][1];
        /* Offset far from zero: the two-pass variance keeps SSIM(a, a) exact there too. */
        image_pair p = make_pair(w, h, 1000.0, 0.97, 3.0, 20.0, 7 + i);
        for (size_t k = 0; k < w * h; k++) p.a[k] += 5000.0f;
        assert_true(qm_ssim_2d(p.a, p.a, w, h, 255) == 1.0);
        assert_true(qm_ssim_2d(p.b, p.b, w, h, 1) == 1.0);
        assert_true(qm_ssim_1d(p.a, p.a, w * h, 255) == 1.0);
        double ab = qm_ssim_2d(p.a, p.b, w, h, 6000), ba = qm_ssim_2d(p.b, p.a, w, h, 6000);
        assert_true(ab == ba);
        assert_true(ab < 1.0);
        assert_true(qm_ssim_1d(p.a, p.b, w * h, 6000) == qm_ssim_1d(p.b, p.a, w * h, 6000));
        free_pair(&p);
    }
}

static void test_ssim_noise_monotone(void **state) {
    (void)state;
    const double noise[] = {0.003, 0.01, 0.03, 0.1, 0.3, 1.0};
    double prev2 = 1.0, prev1 = 1.0;
    for (size_t i = 0; i < sizeof noise / sizeof noise[0]; i++) {
        image_pair p = make_pair(40, 30, 1.0, 1.0, 0.0, noise[i], 99); /* same noise, scaled */
        double s2 = qm_ssim_2d(p.a, p.b, 40, 30, 1.0), s1 = qm_ssim_1d(p.a, p.b, 1200, 1.0);
        print_message("noise %.3f: ssim 2-D %.6f 1-D %.6f\n", noise[i], s2, s1);
        assert_true(s2 < prev2);
        assert_true(s1 < prev1);
        assert_true(s2 > -1 && s1 > -1);
        prev2 = s2;
        prev1 = s1;
        free_pair(&p);
    }
}

static void test_ssim_small_and_edge(void **state) {
    (void)state;
    /* One pixel: a one-tap window, variances 0, so only the luminance term:
     * (2 * 0.5 * 0.25 + C1) / (0.25 + 0.0625 + C1) with C1 = 1e-4. */
    const float a[2] = {0.5f, 0.25f}, b[2] = {0.25f, 0.5f};
    assert_near(qm_ssim_2d(a, b, 1, 1, 1.0), 0.8000639795265515, 1e-15, "1x1");
    /* Width 2 also uses one tap: the mean of two identical single-pixel values. */
    assert_near(qm_ssim_1d(a, b, 2, 1.0), 0.8000639795265515, 1e-15, "n = 2");
    /* Height 1 is the 1-D SSIM of the row. */
    image_pair p = make_pair(30, 1, 1.0, 1.0, 0.0, 0.2, 11);
    assert_true(qm_ssim_2d(p.a, p.b, 30, 1, 1.0) == qm_ssim_1d(p.a, p.b, 30, 1.0));
    free_pair(&p);
    assert_true(qm_ssim_2d(a, b, 0, 5, 1.0) == 1.0);
    assert_true(qm_ssim_1d(a, b, 0, 1.0) == 1.0);
    assert_true(isnan(qm_ssim_2d(a, b, 1, 1, 0)));
    assert_true(isnan(qm_ssim_1d(a, b, 2, -1)));
    assert_true(isnan(qm_ssim_1d(a, b, 2, NAN)));
    assert_true(isnan(qm_ssim_1d(a, b, 2, INFINITY)));
}

static void test_cosine(void **state) {
    (void)state;
    const float x[3] = {1, 2, 3}, x3[3] = {3, 6, 9}, neg[3] = {-1, -2, -3}, zero[3] = {0, 0, 0};
    const float e0[2] = {1, 0}, e1[2] = {0, 1}, d[2] = {1, 1};
    const float odd[4] = {0.1f, -7.25f, 3.3f, 1e-3f};
    assert_true(qm_cosine_distortion(x, x, 3) == 0.0);
    assert_true(qm_cosine_distortion(odd, odd, 4) == 0.0);
    assert_near(qm_cosine_distortion(x, x3, 3), 0, 1e-15, "parallel");
    assert_near(qm_cosine_distortion(x, neg, 3), 2, 1e-15, "opposite");
    assert_near(qm_cosine_distortion(e0, e1, 2), 1, 0, "orthogonal");
    assert_near(qm_cosine_distortion(d, e0, 2), 0.29289321881345254, 1e-15, "45 degrees");
    assert_true(qm_cosine_distortion(zero, zero, 3) == 0.0);
    assert_true(qm_cosine_distortion(zero, x, 3) == 1.0);
    assert_true(qm_cosine_distortion(x, zero, 3) == 1.0);
    assert_true(qm_cosine_distortion(x, x3, 0) == 0.0);
    /* Extreme magnitudes stay finite in double. */
    const float huge[2] = {3e38f, 3e38f}, tiny[2] = {1e-45f, 1e-45f};
    assert_near(qm_cosine_distortion(huge, tiny, 2), 0, 1e-15, "huge vs tiny");
}

static void test_per_dim_mse(void **state) {
    (void)state;
    /* 3 rows of 2: errors column 0: 1, -2, 0 -> 5/3; column 1: 0.5, 0.5, -0.5 -> 0.25. */
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const float y[6] = {0, 1.5f, 5, 3.5f, 5, 6.5f};
    double out[2] = {-1, -1};
    qm_per_dim_mse(x, y, 3, 2, out);
    assert_near(out[0], 5.0 / 3.0, 1e-15, "dim 0");
    assert_near(out[1], 0.25, 0, "dim 1");
    /* Their mean is the overall MSE. */
    assert_near((out[0] + out[1]) / 2, qm_mse(x, y, 6), 1e-15, "mean of per-dim");
    out[0] = out[1] = -1;
    qm_per_dim_mse(x, y, 0, 2, out);
    assert_true(out[0] == 0 && out[1] == 0);
}

static void test_recall(void **state) {
    (void)state;
    const uint64_t M = UINT64_MAX;
    /* truth: stride 4, k = 3 (the fourth column must be ignored). */
    const uint64_t truth[3 * 4] = {
        1, 2, 3, 4,      /* */
        10, 11, 12, 13,  /* */
        20, 21, M, 22,   /* a query with only two true neighbours */
    };
    /* found: stride 5. */
    const uint64_t found[3 * 5] = {
        3, 9, 1, 2, 2,    /* 1 and 3 in the first 3: 2/3 (2 is fourth: not counted) */
        11, 11, M, 10, 0, /* 11 repeated counts once, missing result: 1/3 */
        M, 21, 20, 0, 0,  /* 2/3; the missing result does not match truth's missing slot */
    };
    assert_near(qm_recall_at_k(truth, 4, found, 5, 3, 3), (2.0 + 1.0 + 2.0) / 9.0, 1e-15, "recall@3");
    assert_near(qm_recall_at_k(truth, 4, found, 5, 1, 3), 2.0 / 3.0, 1e-15, "first query");
    assert_near(qm_recall_at_k(truth, 4, found, 5, 3, 1), (0 + 0 + 0) / 3.0, 0, "recall@1");
    assert_near(qm_recall_at_k(truth, 4, truth, 4, 2, 4), 1.0, 0, "perfect");
    const uint64_t all_missing[4] = {M, M, M, M};
    assert_near(qm_recall_at_k(truth, 4, all_missing, 4, 1, 4), 0, 0, "nothing found");
    assert_near(qm_recall_at_k(truth, 4, found, 5, 0, 3), 1.0, 0, "no queries");
    assert_near(qm_recall_at_k(truth, 4, found, 5, 3, 0), 1.0, 0, "k = 0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_psnr),
        cmocka_unit_test(test_ssim_reference),
        cmocka_unit_test(test_ssim_identity_symmetry),
        cmocka_unit_test(test_ssim_noise_monotone),
        cmocka_unit_test(test_ssim_small_and_edge),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_per_dim_mse),
        cmocka_unit_test(test_recall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
