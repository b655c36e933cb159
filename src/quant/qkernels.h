/*
 * qkernels.h — the inner loops of k-means and product quantization, with runtime SIMD
 * dispatch: a scalar reference in qkernels.c and AVX2 / AVX-512 versions compiled through
 * target attributes (qkernels_avx2.c, qkernels_avx512.c), chosen like src/vec's kernels.
 *
 * The set follows vec_best(): the name it chose (so HEKTOR_KERNEL=scalar|avx2|avx512
 * forces these too), stepping down to AVX2 or scalar when this CPU lacks an extension a
 * set needs (the AVX-512 set uses AVX-512F, BW and VL).
 */
#ifndef HK_QKERNELS_H
#define HK_QKERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Panels: 16 centroids (or rows) stored coordinate-major, so one vector holds one
 * coordinate of all 16: panel p's coordinate q of member l at [(p*d + q)*16 + l]. */
#define QK_PANEL 16
/* Largest dimension panel_argmin takes (its -2x copy lives on the stack). */
#define QK_PANEL_MAX_D 16

typedef struct qk_kernels {
    const char *name; /* "avx512", "avx2", "scalar" */
    /* s[i] += add[i] for i < k; returns the smallest s[i] (k >= 1). */
    float (*add_min)(float *s, const float *add, size_t k);
    /* Writes the indices i < k with s[i] <= bound to idx, ascending; returns how many. */
    size_t (*select_le)(const float *s, size_t k, float bound, uint32_t *idx);
    /* Nearest-centroid scores for d <= QK_PANEL_MAX_D, centroids in npanels panels (ct)
     * with squared norms cn (+inf in padding lanes). For n rows (row i at x + i*ldx),
     * with score(c) = cn[c] - 2 x.c (an FMA chain from cn[c] over the coordinates):
     * best[i] = the smallest score, arg[i] = its centroid (the smaller index on ties),
     * second[i] = the smallest score of every other centroid (+inf when none). */
    void (*panel_argmin)(const float *x, size_t ldx, size_t n, size_t d, const float *ct,
                         const float *cn, size_t npanels, float *best, uint32_t *arg,
                         float *second);
    /* acc[q] += sum over t < n of x[rows[t]*d + q], for q < d (k-means updates). */
    void (*sum_rows)(const float *x, size_t d, const uint32_t *rows, size_t n, double *acc);
    /* k-means++ weights: rows in panels (xt, ceil(n/16) panels, padding lanes ignored);
     * d2[i] = ||x_i - c||^2 when first, else the smaller of it and d2[i], for i < n.
     * Returns the sum of the new d2 (accumulated in double). */
    double (*seed_update)(const float *xt, size_t n, size_t d, const float *c, float *d2, int first);
    /* 4-bit fast scan of nblocks blocks of 32 vectors, ngroups groups of four
     * sub-quantizers each (layouts in pq.h): out[b*32 + v] = the sum over sub-quantizers
     * of the uint8 table entry of vector v's code, accumulated in uint16 (wrapping). */
    void (*fs_scan)(const uint8_t *tables, size_t ngroups, const uint8_t *packed,
                    size_t nblocks, uint16_t *out);
} qk_kernels;

/* The set for this CPU (first call decides; thread-safe). */
const qk_kernels *qk_best(void);
/* A named set, or NULL when this build or CPU cannot run it: for tests and benches. */
const qk_kernels *qk_by_name(const char *name);

#if defined(__x86_64__)
extern const qk_kernels qk_kernels_avx2;
extern const qk_kernels qk_kernels_avx512;
#endif

#endif
