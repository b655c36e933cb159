/*
 * pq.h — product quantization (Jégou et al. 2011) and its optimized variant OPQ (Ge et
 * al. 2013): training, encoding, decoding, asymmetric distances (ADC) and a 4-bit fast
 * scan (André et al. 2015, as in FAISS's PQ4 fast scan).
 *
 * A vector of dim floats is cut into m sub-vectors of dsub = dim / m floats; each is
 * replaced by the index of its nearest centroid among ksub = 2^bits learned for that
 * position. OPQ first rotates the vector by a learned orthogonal matrix R so the
 * sub-vectors carry balanced, less correlated parts of the variance.
 */
#ifndef HK_PQ_H
#define HK_PQ_H

#include <stddef.h>
#include <stdint.h>

#include "hektor.h"

/* OPQ keeps a dim x dim rotation (64 MB at this size); larger dimensions are refused. */
#define PQ_OPQ_MAX_DIM 4096

typedef struct pq_model {
    uint32_t dim;        /* input dimension */
    uint32_t m;          /* sub-quantizers; dim % m == 0 */
    uint32_t bits;       /* 4 or 8 */
    uint32_t ksub;       /* 1 << bits */
    uint32_t dsub;       /* dim / m */
    float *centroids;    /* m * ksub * dsub floats, sub-quantizer j's centroid c at [(j*ksub + c)*dsub] (hk_malloc) */
    float *rotation;     /* OPQ: dim*dim row-major orthogonal R, applied as x' = x R (row vector times R); NULL for plain PQ */
} pq_model;

/* Trains on n rows of x (dim floats each). opq: learn the rotation by alternating (Ge et al. 2013, non-parametric OPQ):
 * start with R = identity (or a seeded random orthogonal matrix — measure which is better and document it); repeat
 * opq_iters times: train/refine PQ on X R (warm-started from the previous codebooks, a few k-means iterations), encode,
 * reconstruct Y, then solve the orthogonal Procrustes problem min ||X R - Y||_F over orthogonal R: SVD of X^T Y = U S V^T,
 * R = U V^T (LAPACK sgesdd_ or sgesvd_, column-major care); finally train PQ fully on X R.
 * Checks: dim % m == 0, bits 4 or 8, n >= 1, finite inputs; HK_INVALID naming the problem. progress as in km_train
 * (phases "pq" / "opq"); HK_CANCELLED on cancel, leaving *out untouched. Deterministic for a seed (given the same thread count is fine).
 *
 * Details (pq.c's comment has the reasons): every sub-quantizer is km_train with iters
 * Lloyd iterations (with n < ksub, centroids repeat rows as km_train documents). OPQ
 * starts from R = identity, and its first step trains the codebooks exactly as plain PQ
 * does (same seeds, iters iterations), later steps refine them with
 * PQ_OPQ_REFINE_ITERS; the final training refines the last codebooks with iters more.
 * Every step can only lower the distortion (splits of empty clusters aside), so OPQ's
 * reconstruction error is at most plain PQ's for the same arguments. opq_iters = 0 gives
 * plain PQ with R = identity. OPQ needs dim <= PQ_OPQ_MAX_DIM. Results do not depend on
 * the number of workers. Progress reports "opq" while the rotation is learned and "pq"
 * while codebooks are trained for the final rotation (or without one). */
hk_status pq_train(const float *x, size_t n, uint32_t dim, uint32_t m, uint32_t bits, int opq,
                   uint32_t iters, uint32_t opq_iters, uint64_t seed,
                   hk_progress_fn progress, void *ud, pq_model *out);
void pq_free(pq_model *pq);                          /* frees the arrays; NULL-safe; zeroes the struct */
size_t pq_code_size(const pq_model *pq);             /* m bytes for 8 bits; (m + 1) / 2 for 4 bits (two codes per byte, low nibble first) */
/* Nearest centroid per sub-vector (after the rotation), exactly as a direct scan would
 * pick it (ties to the smaller code). Rows are not checked for NaN: a NaN row gets
 * unspecified codes. HK_NOMEM is the only failure. */
hk_status pq_encode(const pq_model *pq, const float *x, size_t n, uint8_t *codes);   /* parallel over the pool */
void pq_decode(const pq_model *pq, const uint8_t *codes, size_t n, float *x);       /* includes the inverse rotation (x = y R^T) */
/* Asymmetric distance table for one query (dim floats, not rotated; the function rotates it): lut[j*ksub + c] =
 * squared L2 between the query's j-th sub-vector and centroid c when ip == 0, or the negated dot product when ip != 0
 * (so that sum over j of lut entries = ||q - x~||^2, resp. -q.x~ for the reconstruction x~: "smaller is better"). */
void pq_lut(const pq_model *pq, const float *q, int ip, float *lut);
float pq_adc(const pq_model *pq, const float *lut, const uint8_t *code);     /* sum_j lut[j*ksub + code_j] */
/* out[i] = pq_adc of the n contiguous codes; SIMD (AVX-512 / AVX2 via runtime dispatch like src/vec, scalar fallback). */
void pq_adc_many(const pq_model *pq, const float *lut, const uint8_t *codes, size_t n, float *out);
/* pq_adc_many through the named kernel set ("scalar", "avx2", "avx512"): for tests and
 * benches. Returns 0 (and writes nothing) when this build or CPU lacks the set. */
int pq_adc_many_kernel(const char *kernel, const pq_model *pq, const float *lut,
                       const uint8_t *codes, size_t n, float *out);

#endif
