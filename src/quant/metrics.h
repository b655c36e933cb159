/*
 * metrics.h — quality metrics for quantized vectors: MSE, PSNR, SSIM (2-D and 1-D),
 * cosine distortion, per-dimension MSE and recall@k.
 *
 * These measure what a codec (SQ, PQ, companding) does to vectors: reconstruction error
 * against the originals and search quality against brute-force ground truth. They are
 * used by tests, benches and the quantization reports, so they favour being exact and
 * obvious over being fast: every sum is accumulated in double, nothing allocates, there
 * is no global state and every function is safe from any number of threads.
 *
 * Empty inputs count as a perfect match (MSE 0, SSIM 1, cosine distortion 0, recall 1),
 * so an empty collection never produces a NaN in a report.
 */
#ifndef HK_QUANT_METRICS_H
#define HK_QUANT_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Mean squared error over n floats (double accumulation); 0 when n == 0. */
double qm_mse(const float *a, const float *b, size_t n);

/* PSNR in dB: 10 log10(peak^2 / mse); INFINITY when mse == 0. peak is the data's dynamic
 * range (max - min of the originals, given by the caller). NaN when peak <= 0, mse < 0 or
 * either is NaN. */
double qm_psnr(double mse, double peak);

/* SSIM of Wang, Bovik, Sheikh & Simoncelli 2004 with K1 = 0.01, K2 = 0.03, dynamic range L
 * (C1 = (K1 L)^2, C2 = (K2 L)^2), an 11x11 Gaussian window of sigma 1.5 with normalized
 * weights and population (weighted) statistics; the mean SSIM over every position where
 * the window fits entirely (the valid region, no padding). This equals scikit-image's
 * structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=L), which filters with padding but averages
 * only over the same valid region.
 * a and b are w*h images, row-major (w floats per row). Smaller images: each axis uses the
 * largest odd window that fits (11 taps, or w or w - 1 when w < 11; likewise h), Gaussian
 * weights of sigma 1.5 truncated to it and renormalized. So an image of height 1 is the
 * 1-D SSIM of its row, and w = h = 1 compares single pixels (luminance term only).
 * Variances are computed around the window mean (two passes), so SSIM(a, a) is exactly 1
 * and SSIM(a, b) == SSIM(b, a) bit for bit. Returns 1 when w or h is 0, NaN when L is not a
 * positive finite number. Cost: O(w h 121). */
double qm_ssim_2d(const float *a, const float *b, size_t w, size_t h, double L);

/* The 1-D form for vectors that are not images: the same with a 1-D Gaussian window of 11
 * taps, sigma 1.5, over the valid positions (vectors shorter than 11: the largest odd
 * window that fits). Equal to qm_ssim_2d(a, b, n, 1, L). */
double qm_ssim_1d(const float *a, const float *b, size_t n, double L);

/* 1 - cos(a, b), in [0, 2] (double accumulation): 0 when identical, 0 when both are zero
 * vectors (and when dim == 0), 1 when exactly one is zero. */
double qm_cosine_distortion(const float *a, const float *b, size_t dim);

/* Per-dimension mean squared error over n rows of dim floats (x originals, y
 * reconstructions, both row-major and contiguous): out[d] = mean over rows of
 * (x[i][d] - y[i][d])^2, dim doubles written; all 0 when n == 0. */
void qm_per_dim_mse(const float *x, const float *y, size_t n, size_t dim, double *out);

/* recall@k: the mean over nq queries of |found_q[0..k) ∩ truth_q[0..k)| / k. truth has nq
 * rows of stride ts, found nq rows of stride fs (ids; ts, fs >= k). UINT64_MAX marks a
 * missing result: it never matches, in either array. An id repeated within a row counts
 * once. 1 when nq == 0 or k == 0. Cost: O(nq k^2), fine for the k of a search (<= 1000). */
double qm_recall_at_k(const uint64_t *truth, size_t ts, const uint64_t *found, size_t fs, size_t nq, size_t k);

#endif /* HK_QUANT_METRICS_H */
