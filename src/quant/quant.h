/*
 * quant.h — the codebook object behind hektor.h's hk_codebook: one trained quantizer
 * (sq.h or pq.h) with its provenance, and the calls the collection layer uses to search
 * on codes. Private to the library.
 *
 * Distances on codes follow the internal convention of flat.h: smaller is better,
 * approximately squared L2 for l2 and the negated dot product for ip and cosine (whose
 * vectors are normalized before encoding, as the collection stores them).
 */
#ifndef HK_QUANT_H
#define HK_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "pq.h"
#include "sq.h"

#define HKCB_MAGIC "HKCB"
#define HKCB_VERSION 1u
#define HKCB_HEADER 88u /* bytes before the tables; a CRC32C follows them */

struct hk_codebook {
    hk_quant_method method;
    hk_metric metric;
    uint32_t dim;
    hk_quant_params params;  /* normalized: every default filled in */
    sq_model sq;             /* HK_QUANT_SQ8 / SQ4 / INT8 */
    pq_model pq;             /* HK_QUANT_PQ / OPQ */
    uint64_t trained_on;
    double train_seconds;
    uint64_t created;
};

size_t cb_code_size(const hk_codebook *cb);
/* Floats of scratch a prepared query needs. */
size_t cb_query_floats(const hk_codebook *cb);
/* q: dim floats, already normalized for cosine. */
void cb_prepare(const hk_codebook *cb, const float *q, float *buf, float *bias);
float cb_dist(const hk_codebook *cb, const float *buf, float bias, const uint8_t *code);
void cb_dist_many(const hk_codebook *cb, const float *buf, float bias, const uint8_t *codes,
                  size_t n, float *out);
/* Distance between two codes, or NAN when the method has no symmetric form (PQ). */
float cb_sym(const hk_codebook *cb, const uint8_t *a, const uint8_t *b);
int cb_has_sym(const hk_codebook *cb);
/* 1 for an int8 codebook (sq.h): prepared queries are the query's own code, and code
 * distances are step2 * (integer kernel) for l2, or for ip / cosine (ip = 1)
 * -(step2 * dot + T(a) + T(b)) with T the f32 after each code's dim bytes. */
int cb_is_int8(const hk_codebook *cb);
void cb_int8_form(const hk_codebook *cb, float *step2, int *ip);
/* 4-bit PQ/OPQ codes also kept in the fast-scan layout (pq_fs_*): 1 when the codebook
 * has it. The packed copy holds n codes in cb_fs_size(cb, n) bytes, blocks of
 * PQ_FS_BLOCK; a prepared query (cb_prepare's table) is quantized into cb_fs_lut_size
 * bytes by cb_fs_prepare, and cb_fs_scan gives approximate distances (8-bit tables,
 * 16-bit sums) of n packed codes from a block boundary. */
int cb_has_fs(const hk_codebook *cb);
size_t cb_fs_size(const hk_codebook *cb, size_t n);
void cb_fs_pack(const hk_codebook *cb, const uint8_t *codes, size_t n, uint8_t *packed);
void cb_fs_set(const hk_codebook *cb, uint8_t *packed, size_t i, const uint8_t *code);
size_t cb_fs_lut_size(const hk_codebook *cb);
void cb_fs_prepare(const hk_codebook *cb, const float *buf, float bias, uint8_t *qlut,
                   float *scale, float *fbias);
void cb_fs_scan(const hk_codebook *cb, const uint8_t *qlut, float scale, float fbias,
                const uint8_t *packed, size_t n, float *out);
/* Encodes rows as they are (no normalization): for the collection, whose rows already are. */
hk_status cb_encode_rows(const hk_codebook *cb, const float *x, size_t n, uint8_t *codes);
/* A deep copy. */
hk_status cb_clone(const hk_codebook *cb, hk_codebook **out);
/* Checks p against dim as training would (HK_INVALID naming the problem); p is unchanged. */
hk_status cb_params_check(const hk_quant_params *p, uint32_t dim);
/* Heap bytes of the model's tables. */
size_t cb_model_bytes(const hk_codebook *cb);

#endif
