/*
 * metrics.c — the quality metrics of metrics.h.
 *
 * SSIM is computed window by window straight from the definition: for each valid position
 * the weighted means, then the weighted (co)variances around those means. That costs a
 * second pass over the window compared with the usual E[x^2] - E[x]^2 filter trick, but it
 * needs no scratch memory (so no failure path), does not cancel catastrophically when the
 * data sit far from zero, and makes SSIM(a, a) == 1 and the symmetry exact. The 1-D form is
 * the 2-D code with a height of 1, so the two can never disagree.
 */
#include "metrics.h"

#include <math.h>

#define SSIM_K1 0.01
#define SSIM_K2 0.03
#define SSIM_SIGMA 1.5
#define SSIM_TAPS 11

double qm_mse(const float *a, const float *b, size_t n) {
    if (n == 0) return 0;
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        s += d * d;
    }
    return s / (double)n;
}

double qm_psnr(double mse, double peak) {
    if (!(peak > 0) || !(mse >= 0)) return NAN;
    if (mse == 0) return INFINITY;
    return 10 * log10(peak * peak / mse);
}

/* Taps along an axis of length n: 11, or the largest odd number <= n. */
static size_t ssim_taps(size_t n) {
    if (n >= SSIM_TAPS) return SSIM_TAPS;
    return n % 2 ? n : n - 1;
}

/* Normalized Gaussian weights of sigma 1.5 centred in `taps` (odd) taps. */
static void ssim_weights(size_t taps, double *wt) {
    double r = (double)(taps / 2), sum = 0;
    for (size_t i = 0; i < taps; i++) {
        double x = (double)i - r;
        wt[i] = exp(-x * x / (2 * SSIM_SIGMA * SSIM_SIGMA));
        sum += wt[i];
    }
    for (size_t i = 0; i < taps; i++) wt[i] /= sum;
}

/* SSIM of the window whose top-left corner is (x0, y0). */
static double ssim_window(const float *a, const float *b, size_t w, size_t x0, size_t y0, const double *wx,
                          size_t tx, const double *wy, size_t ty, double c1, double c2) {
    double ma = 0, mb = 0;
    for (size_t j = 0; j < ty; j++) {
        const float *ra = a + (y0 + j) * w + x0, *rb = b + (y0 + j) * w + x0;
        double sa = 0, sb = 0;
        for (size_t i = 0; i < tx; i++) {
            sa += wx[i] * ra[i];
            sb += wx[i] * rb[i];
        }
        ma += wy[j] * sa;
        mb += wy[j] * sb;
    }
    double va = 0, vb = 0, cab = 0;
    for (size_t j = 0; j < ty; j++) {
        const float *ra = a + (y0 + j) * w + x0, *rb = b + (y0 + j) * w + x0;
        double sa = 0, sb = 0, sab = 0;
        for (size_t i = 0; i < tx; i++) {
            double da = ra[i] - ma, db = rb[i] - mb;
            sa += wx[i] * (da * da);
            sb += wx[i] * (db * db);
            sab += wx[i] * (da * db); /* product first: symmetric in a, b */
        }
        va += wy[j] * sa;
        vb += wy[j] * sb;
        cab += wy[j] * sab;
    }
    return (2 * ma * mb + c1) * (2 * cab + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
}

double qm_ssim_2d(const float *a, const float *b, size_t w, size_t h, double L) {
    if (!(L > 0) || !isfinite(L)) return NAN;
    if (w == 0 || h == 0) return 1;
    double wx[SSIM_TAPS], wy[SSIM_TAPS];
    size_t tx = ssim_taps(w), ty = ssim_taps(h);
    ssim_weights(tx, wx);
    ssim_weights(ty, wy);
    double c1 = (SSIM_K1 * L) * (SSIM_K1 * L), c2 = (SSIM_K2 * L) * (SSIM_K2 * L);
    size_t ow = w - tx + 1, oh = h - ty + 1;
    double sum = 0;
    for (size_t y = 0; y < oh; y++) {
        for (size_t x = 0; x < ow; x++) sum += ssim_window(a, b, w, x, y, wx, tx, wy, ty, c1, c2);
    }
    return sum / ((double)ow * (double)oh);
}

double qm_ssim_1d(const float *a, const float *b, size_t n, double L) {
    return qm_ssim_2d(a, b, n, 1, L);
}

double qm_cosine_distortion(const float *a, const float *b, size_t dim) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < dim; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0 && bb == 0) return 0;
    if (aa == 0 || bb == 0) return 1;
    /* sqrt(aa * bb) rather than sqrt(aa) * sqrt(bb): sqrt(x * x) == x exactly, so
     * identical vectors give exactly 0. Squares of floats cannot overflow a double here. */
    double d = 1 - ab / sqrt(aa * bb);
    if (d < 0) return 0;
    return d > 2 ? 2 : d;
}

void qm_per_dim_mse(const float *x, const float *y, size_t n, size_t dim, double *out) {
    for (size_t d = 0; d < dim; d++) out[d] = 0;
    if (n == 0) return;
    for (size_t i = 0; i < n; i++) {
        const float *xr = x + i * dim, *yr = y + i * dim;
        for (size_t d = 0; d < dim; d++) {
            double e = (double)xr[d] - yr[d];
            out[d] += e * e;
        }
    }
    for (size_t d = 0; d < dim; d++) out[d] /= (double)n;
}

static int row_has(const uint64_t *row, size_t k, uint64_t id) {
    for (size_t i = 0; i < k; i++) {
        if (row[i] == id) return 1;
    }
    return 0;
}

double qm_recall_at_k(const uint64_t *truth, size_t ts, const uint64_t *found, size_t fs, size_t nq, size_t k) {
    if (nq == 0 || k == 0) return 1;
    double sum = 0;
    for (size_t q = 0; q < nq; q++) {
        const uint64_t *t = truth + q * ts, *f = found + q * fs;
        size_t hits = 0;
        for (size_t i = 0; i < k; i++) {
            /* Each distinct, present truth id once: found may repeat an id. */
            if (t[i] == UINT64_MAX || row_has(t, i, t[i])) continue;
            hits += row_has(f, k, t[i]);
        }
        sum += (double)hits / (double)k;
    }
    return sum / (double)nq;
}
