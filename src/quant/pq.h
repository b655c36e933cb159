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

/* OPQ keeps a dim x dim rotation (64 MB at this size): pq_train refuses larger dimensions
 * for OPQ. The other functions take rotated models of any dimension (from a loader). */
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
 * start with R = identity (measured better than a seeded random orthogonal matrix, see pq.c); repeat
 * opq_iters times: train/refine PQ on X R (warm-started from the previous codebooks, a few k-means iterations), encode,
 * reconstruct Y, then solve the orthogonal Procrustes problem min ||X R - Y||_F over orthogonal R: SVD of X^T Y = U S V^T,
 * R = U V^T (LAPACK sgesdd_, column-major care); finally train PQ fully on X R.
 * Checks: dim % m == 0, bits 4 or 8, n >= 1, finite inputs; HK_INVALID naming the problem. progress as in km_train
 * (phases "pq" / "opq"); HK_CANCELLED on cancel, leaving *out untouched. Deterministic for a seed, for any thread count.
 *
 * Details (pq.c's comment has the reasons): every sub-quantizer is km_train with iters
 * Lloyd iterations (with n < ksub, centroids repeat rows as km_train documents). OPQ
 * starts from R = identity, and its first step trains the codebooks exactly as plain PQ
 * does (same seeds, iters iterations), later steps refine them with
 * PQ_OPQ_REFINE_ITERS; the final training starts afresh from the seeds on X R with iters
 * iterations (as FAISS's OPQMatrix + IndexPQ pipeline does). Refining the last codebooks
 * instead reconstructs slightly better (MSE 0.3 % lower on the benchmark's embed-512 at
 * m = 64) but ranks worse: recall@10 on codes 0.577-0.581 against 0.594-0.607 over seeds
 * 1-3, so the fresh start is kept. The distortion is then not bounded by plain PQ's by
 * construction; the rotation keeps it lower in practice (test_pq checks it). opq_iters = 0 gives
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
/* out[i] = pq_adc of the n contiguous codes (bit for bit). Table lookups stay scalar,
 * four codes in flight: AVX-512 and AVX2 versions gathering the entries (vgatherdps,
 * sixteen resp. eight sub-quantizers per instruction) measured 1.5-3x slower than these
 * loads on this machine (m = 8: 21 / 18 ns per 4-bit code against 7 ns; m = 64: 57 / 97
 * against 58 ns), so they were dropped. The SIMD path for scanning codes is the 4-bit
 * fast scan below. */
void pq_adc_many(const pq_model *pq, const float *lut, const uint8_t *codes, size_t n, float *out);

/* ---- 4-bit fast scan (André et al. 2015; FAISS's PQ4 fast scan), bits = 4 only ----
 *
 * Codes are re-laid out in blocks of PQ_FS_BLOCK vectors. A block holds, for each group g
 * of four sub-quantizers (m padded to a multiple of 4 with zero codes), 64 bytes: byte v
 * (v < 32) has vector v's codes of sub-quantizers 4g (low nibble) and 4g+1 (high), byte
 * 32 + v those of 4g+2 and 4g+3. Vectors past n in the last block have zero codes.
 *
 * A query's float LUT (pq_lut) is quantized to bytes with one scale for all
 * sub-quantizers: q_j(c) = round((lut[j*16 + c] - min_j) / scale), min_j the smallest
 * entry of sub-quantizer j, scale = max_j (max_c lut[j*16 + c] - min_j) / qmax and
 * qmax = min(255, floor(65535 / m)), so that a sum of m entries fits the uint16
 * accumulators. Per group the tables take 128 bytes: T(4g), T(4g), T(4g+2), T(4g+2) for
 * the low nibbles, then T(4g+1), T(4g+1), T(4g+3), T(4g+3) for the high ones (each T one
 * sub-quantizer's 16 entries; the repeats feed both 128-bit lanes of a vpshufb).
 *
 * The scan returns bias + scale * sum_j q_j(code_j), bias = sum_j min_j: every entry is
 * rounded by at most scale / 2, so it differs from pq_adc by at most m * scale / 2 (plus
 * float rounding). It is meant to pick candidates that are then re-ranked.
 *
 * Measured on this machine (one thread, per code, the LUT quantized once per 8,192 codes,
 * the machine shared with other jobs): m = 8 0.6-0.7 ns against pq_adc_many's 7-8 ns,
 * m = 16 0.8-0.9 against 15 ns, m = 32 1.7 against 29 ns, m = 64 3.1 against 57 ns
 * (AVX-512; AVX2 within 50%); over 1M codes (L3) m = 16 1.6-1.7 against 15 ns, m = 64
 * 4.5 against 60 ns. */
#define PQ_FS_BLOCK 32
size_t pq_fs_packed_size(const pq_model *pq, size_t n); /* bytes for n codes */
void pq_fs_pack(const pq_model *pq, const uint8_t *codes, size_t n, uint8_t *packed);
/* Writes code (pq_code_size bytes) as vector i of a packed layout (fs_pack's form). */
void pq_fs_set(const pq_model *pq, uint8_t *packed, size_t i, const uint8_t *code);
size_t pq_fs_lut_size(const pq_model *pq);              /* bytes of quantized tables */
void pq_fs_quantize(const pq_model *pq, const float *lut, uint8_t *qlut, float *scale, float *bias);
/* out[i] for the n vectors packed (n as given to pq_fs_pack). */
void pq_fs_scan(const pq_model *pq, const uint8_t *qlut, float scale, float bias,
                const uint8_t *packed, size_t n, float *out);
/* pq_fs_scan through the named kernel set; 0 when unavailable (tests, benches). */
int pq_fs_scan_kernel(const char *kernel, const pq_model *pq, const uint8_t *qlut, float scale,
                      float bias, const uint8_t *packed, size_t n, float *out);

#endif
