/*
 * kmeans.h — k-means clustering for the quantizers (PQ codebooks, OPQ, coarse lists).
 *
 * Nearest-centroid search scores ||c||^2 - 2 x.c (a BLAS sgemm over blocks of rows that
 * stay in cache; for d <= 16 a register-blocked SIMD kernel, faster there), followed by
 * an exact check: every centroid whose score is within twice the score's rounding bound
 * of the best is measured directly, and the smallest direct distance wins (ties to the
 * smaller index). So assignments equal a direct scan's, whatever the blocking, thread
 * count or sgemm rounding.
 */
#ifndef HK_KMEANS_H
#define HK_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "hektor.h"

/* k-means on n rows of d floats: k-means++ seeding (D^2 sampling, deterministic for a seed), then Lloyd iterations
 * with the assignment step as a BLAS sgemm (||x||^2 - 2 x.c + ||c||^2) in blocks, parallel over the worker pool;
 * empty clusters are re-seeded by splitting the largest cluster. Stops after iters iterations or when
 * the objective improves by less than 1e-5 relative. centroids receives k*d floats. When n < k, the
 * remaining centroids duplicate data rows (see Details). objective (may be NULL) receives the final mean squared
 * distance to the assigned centroid. progress (may be NULL) is called with phase "kmeans" and the fraction done
 * between base and base+span (so a caller can nest it); its nonzero return cancels: HK_CANCELLED.
 *
 * Details: for d <= 16 the assignment scores come from a SIMD kernel rather than sgemm
 * (faster there; same answers, see above), and rows that provably keep their centroid are
 * not rescanned. Rows must be finite with squared norms at most VEC_MAX_NORM_SQ (HK_INVALID
 * otherwise). One iteration is an update (means of the clusters, then splits) followed by
 * an assignment; the objective is that of the returned centroids (each row to its nearest
 * one), so iters = 0 returns the seeds and their objective. With n <= k no Lloyd step
 * runs: centroid i is row i % n (rows repeat once every row is a centroid) and the
 * objective is 0. When the data has fewer than k distinct rows, seeding also repeats rows
 * (chosen uniformly once every remaining D^2 weight is zero). Results are the same for
 * any number of workers. On HK_CANCELLED, centroids and objective are untouched. */
hk_status km_train(const float *x, size_t n, size_t d, size_t k, uint32_t iters, uint64_t seed,
                   hk_progress_fn progress, void *ud, double base, double span,
                   float *centroids, double *objective);

/* Nearest centroid of each row (assign[i]), and optionally its squared distance (dist may be NULL). Parallel, BLAS.
 * dist is measured directly (not through the sgemm identity). HK_INVALID for n, d or k of 0. */
hk_status km_assign(const float *x, size_t n, size_t d, const float *centroids, size_t k,
                    uint32_t *assign, float *dist);

/* ---- building blocks for pq.c ---- */

/* k-means++ seeding alone: k*d floats into centroids (the first stage of km_train, same
 * seeds for the same arguments). Arguments are as km_train's, unchecked. */
hk_status km_seed(const float *x, size_t n, size_t d, size_t k, uint64_t seed, float *centroids);

/* Lloyd iterations from the k centroids already in c (updated in place), as km_train's
 * after seeding; assign (may be NULL) receives the final assignment and dist (may be
 * NULL) its squared distances. Arguments unchecked. On HK_CANCELLED nothing is written. */
hk_status km_refine(const float *x, size_t n, size_t d, size_t k, uint32_t iters,
                    hk_progress_fn progress, void *ud, double base, double span, float *c,
                    uint32_t *assign, float *dist, double *objective);

/* A codebook prepared for repeated nearest-centroid searches. */
typedef struct km_codebook {
    const float *c;   /* k * d floats, borrowed */
    float *cnorm;     /* k squared norms (hk_malloc) */
    float cnorm_max;
    float *panels;    /* small d: the centroids in qkernels.h panels, then their norms */
    float *panel_norms;
    size_t npanels;
    size_t k, d;
} km_codebook;

hk_status km_codebook_init(km_codebook *cb, const float *c, size_t k, size_t d);
void km_codebook_free(km_codebook *cb); /* NULL-safe, zeroes *cb */
/* Bytes of scratch km_nearest needs for this codebook (64-byte multiples). */
size_t km_scratch_size(const km_codebook *cb);
/* Nearest centroid of n rows of cb->d floats each, row i at x + i*ldx, on the calling
 * thread (callers split the rows among workers); scratch is km_scratch_size bytes,
 * 64-byte aligned. dist may be NULL. */
void km_nearest(const km_codebook *cb, const float *x, size_t ldx, size_t n, void *scratch,
                uint32_t *assign, float *dist);

/* Holds OpenBLAS to one thread, once per process: the worker pool owns the parallelism
 * (as in flat.c; the setting is process-wide). Call before the first sgemm. */
void km_blas_init(void);

#endif
