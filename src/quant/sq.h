/*
 * sq.h — scalar quantization: every component becomes one 8-bit or 4-bit code.
 *
 * Each dimension d has a centre c[d] and a half-range s[d]; a component x maps to the
 * normalized value u = (x - c[d]) / s[d], clipped to [-1, 1]. A transfer curve f (curve.h;
 * the identity for linear SQ) compands the magnitude and keeps the sign,
 * y = sign(u) f(|u|), and y is quantized uniformly: code = round((y + 1) / 2 (L - 1)) for
 * L = 2^bits levels. Decoding inverts both steps: x~ = c[d] + s[d] g[code], with the
 * level table g[k] = sign(y_k) f^-1(|y_k|), y_k = -1 + 2k / (L - 1), shared by every
 * dimension. A concave curve puts more levels near u = 0, where components are dense.
 *
 * Training picks c and s per dimension from a sample robustly: for each dimension it tries
 * the ranges between the p-th and (100 - p)-th percentiles for clip fractions p from
 * 0.01% to 5% (and, with a curve, the median as centre) and keeps the one with the
 * smallest squared error on the sample; raw min/max is never a candidate, so rare
 * outliers do not stretch the range. A curve whose parameter is
 * left at 0 gets it tuned: each value of a small grid (st2084 and pu21 peaks 0.1 to
 * 10000 cd/m^2, gamma 1.25 to 3, mu 1 to 255) is trained on up to 4096 rows and the one
 * that reconstructs them best is kept.
 *
 * Distances on codes (asymmetric: float query, coded point) use the same decomposition:
 *   squared L2  sum_d s[d]^2 (a[d] - g[k_d])^2 + bias,   a[d] = (q[d] - c[d]) / s[d]
 *   -dot        -sum_d (q[d] s[d]) g[k_d] + bias,        bias = -sum_d q[d] c[d]
 * with SIMD kernels (AVX-512, AVX2, scalar) chosen at run time.
 * 4-bit codes pack two dimensions per byte, the even dimension in the low nibble.
 *
 * The int8 form (sq_train_int8) is linear 8-bit SQ with one half-range S shared by every
 * dimension: x~[d] = o[d] + s k_d with o[d] = c[d] - S and the common step s = 2 S / 255,
 * so distances between codes are integer sums times constants:
 *   squared L2  s^2 sum_d (ka_d - kb_d)^2
 *   dot         s^2 sum_d ka_d kb_d + T(a) + T(b),   T(k) = s sum_d o[d] k_d + sum_d o[d]^2 / 2
 * (the integer kernels of src/vec/distance_u8.c). S is the widest trained half-range, so
 * no dimension is clipped more than its own training would clip it; narrower dimensions
 * get fewer of the 256 levels.
 */
#ifndef HK_SQ_H
#define HK_SQ_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "curve.h"

typedef struct sq_model {
    uint32_t dim;
    uint32_t bits;     /* 8 or 4 */
    uint32_t levels;   /* 256 or 16 */
    qc_curve curve;
    float *center;     /* dim (hk_malloc) */
    float *scale;      /* dim, >= 0; 0 for a constant dimension */
    float *weight;     /* dim: scale^2 (derived) */
    float *cscale;     /* dim: center * scale (derived, for symmetric ip) */
    float csq;         /* sum of center^2 (derived) */
    float table[256];  /* decoded level values g[k] in [-1, 1] (derived) */
    float bound[256];  /* encode thresholds in u: code = #{k : bound[k] <= u} (derived) */
    int linear;        /* identity curve: g[k] = alpha k + beta */
    float alpha, beta;
} sq_model;

/* Trains on n rows (n >= 1, finite). HK_INVALID for bits other than 4 / 8 or a bad curve. */
hk_status sq_train(const float *x, size_t n, uint32_t dim, uint32_t bits, qc_kind curve,
                   double curve_param, hk_progress_fn progress, void *ud, sq_model *out);
/* The same with each component's range fixed to its central quantile of the sample (the
 * (1 - quantile) / 2 tails clipped, Qdrant's quantile), 0.5..1; 0 chooses the clip per
 * component as sq_train does. */
hk_status sq_train_quantile(const float *x, size_t n, uint32_t dim, uint32_t bits, qc_kind curve,
                            double curve_param, double quantile, hk_progress_fn progress,
                            void *ud, sq_model *out);
/* Builds a model from stored centres and scales (derives the tables); checks them. */
hk_status sq_from_params(uint32_t dim, uint32_t bits, qc_kind curve, double curve_param,
                         const float *center, const float *scale, sq_model *out);
/* The int8 form: trains linear 8-bit ranges, then gives every dimension the widest. */
hk_status sq_train_int8(const float *x, size_t n, uint32_t dim, hk_progress_fn progress, void *ud,
                        sq_model *out);
/* 1 when m has the int8 form (8 bits, linear, one positive half-range for all). */
int sq_is_int8(const sq_model *m);
/* int8 form: the step s, and T(k) of one code (see above). */
float sq_int8_step(const sq_model *m);
float sq_int8_term(const sq_model *m, const uint8_t *code);
void sq_free(sq_model *m);
size_t sq_code_size(const sq_model *m); /* dim or (dim + 1) / 2 */
void sq_encode(const sq_model *m, const float *x, size_t n, uint8_t *codes);
void sq_decode(const sq_model *m, const uint8_t *codes, size_t n, float *x);

/* Prepared query: a (dim floats) and bias, for L2 (ip == 0) or -dot (ip != 0). */
void sq_prepare(const sq_model *m, const float *q, int ip, float *a, float *bias);
float sq_dist(const sq_model *m, const float *a, float bias, int ip, const uint8_t *code);
void sq_dist_many(const sq_model *m, const float *a, float bias, int ip, const uint8_t *codes,
                  size_t n, float *out);
/* Symmetric distance between two codes (smaller is better: squared L2, or -dot for ip):
 * the distance between their reconstructions, computed on the codes. */
float sq_sym_dist(const sq_model *m, int ip, const uint8_t *a, const uint8_t *b);
/* Forces a kernel family ("avx512", "avx2", "scalar") for tests; NULL restores the best.
 * Returns -1 when this CPU lacks it. Not thread-safe: call before searching. */
int sq_force_kernels(const char *name);

#endif
