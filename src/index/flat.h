/*
 * flat.h — exact (brute-force) search over a contiguous float matrix.
 *
 * Single queries split the rows across the worker pool, each worker keeping its own
 * top-k heap, merged at the end. Batches of queries become matrix products through
 * OpenBLAS sgemm (||x||^2 - 2 q.x + ||q||^2 for L2), block by block so the score matrix
 * stays in cache. Candidate sets from filters are walked as bitmaps.
 *
 * Scores here are "smaller is better" internal distances: squared L2 for l2, negative dot
 * for ip and cosine. The db layer converts them to user scores.
 */
#ifndef HK_FLAT_H
#define HK_FLAT_H

#include <roaring/roaring.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hektor.h"
#include "../vec/distance.h"

typedef struct flat_hit {
    float dist;     /* internal distance: smaller is better */
    uint32_t slot;
} flat_hit;

/* Approximate distances on compact codes, one code per slot (a codebook from src/quant
 * behind function pointers, so the index layer does not depend on it). prepare turns a
 * query (dim floats, normalized for cosine) into qfloats floats of scratch and a bias;
 * dist_many computes the approximate internal distance of n contiguous codes. */
typedef struct vec_codes {
    const uint8_t *codes;    /* nslots * code_size */
    size_t code_size;
    size_t qfloats;
    const void *ctx;
    void (*prepare)(const void *ctx, const float *q, float *buf, float *bias);
    float (*dist)(const void *ctx, const float *buf, float bias, const uint8_t *code);
    void (*dist_many)(const void *ctx, const float *buf, float bias, const uint8_t *codes,
                      size_t n, float *out);
    /* Distance between two codes (NULL when the codebook has no symmetric form). */
    float (*sym)(const void *ctx, const uint8_t *a, const uint8_t *b);
    /* Optional fast-scan copy of the codes (4-bit PQ): scans of every slot quantize the
     * prepared query into fs_lut_bytes and score blocks of FS_BLOCK slots from packed
     * (fs_block_bytes each) with fs_scan instead of dist_many. NULL when absent. */
    const uint8_t *fs_packed;
    size_t fs_lut_bytes, fs_block_bytes;
    void (*fs_prepare)(const void *ctx, const float *buf, float bias, uint8_t *qlut,
                       float *scale, float *fbias);
    void (*fs_scan)(const void *ctx, const uint8_t *qlut, float scale, float fbias,
                    const uint8_t *packed, size_t n, float *out);
    /* int8 codes (src/quant/sq.h): u8 set. A prepared query is then the query's own code
     * (the first code_size bytes of the buffer), and every distance, query to code or code
     * to code, is vec_codes_int8 below: the same numbers dist and sym give, without their
     * indirection. */
    const vec_u8_kernels *u8;
    size_t u8_dim;
    float u8_step2; /* the squared step */
    int u8_ip;      /* ip / cosine: codes carry T (f32) after their u8_dim bytes */
} vec_codes;

static inline float vec_codes_int8(const vec_codes *vc, const uint8_t *a, const uint8_t *b) {
    if (!vc->u8_ip) return vc->u8_step2 * (float)vc->u8->l2(a, b, vc->u8_dim);
    float ta, tb;
    memcpy(&ta, a + vc->u8_dim, 4);
    memcpy(&tb, b + vc->u8_dim, 4);
    return -(vc->u8_step2 * (float)vc->u8->dot(a, b, vc->u8_dim) + ta + tb);
}
#define FS_BLOCK 32 /* slots per fast-scan block (PQ_FS_BLOCK) */

typedef struct flat_matrix {
    const float *rows;       /* nslots * dim floats, 64-byte aligned rows start */
    const float *norms_sq;   /* nslots squared norms (for L2 batches); may be NULL */
    const uint8_t *live;     /* nslots flags: 1 = live slot */
    size_t nslots;
    size_t dim;
    hk_metric metric;        /* cosine rows are already normalized */
    /* Optional codes. With qbuf set (one query), graph walks measure the query by its
     * prepared form on the codes instead of the float rows. When codes has a symmetric
     * distance, HNSW construction works on the codes too: each insert walks with its
     * own row prepared as a query, and node-to-node distances (neighbour selection,
     * repairs) are symmetric code distances. flat_search ignores these. */
    const vec_codes *codes;
    const float *qbuf;
    float qbias;
} flat_matrix;

/* The depth best slots of each query by approximate distance on codes, among the live
 * slots of m (or those in allow): hits[q] (hk_malloc'ed, sorted by (dist, slot)) with
 * counts[q] entries. Single queries split the slots across the worker pool, batches run
 * one query per task. The caller re-ranks them with the full vectors. */
hk_status codes_search(const flat_matrix *m, const vec_codes *vc, const float *queries,
                       size_t nq, size_t depth, const roaring_bitmap_t *allow, flat_hit **hits,
                       size_t *counts);

/* Top-k (or range) results for each of nq queries (queries are nq*dim floats, already
 * normalized for cosine). allow, when not NULL, restricts to those slots (they are
 * live). When has_radius, only hits with dist <= radius_dist are kept; k == 0 then means
 * unbounded. Results: hits[q] is an hk_malloc'ed array of counts[q] hits sorted by
 * (dist, slot); the caller frees each. */
hk_status flat_search(const flat_matrix *m, const float *queries, size_t nq, size_t k,
                      const roaring_bitmap_t *allow, int has_radius, float radius_dist,
                      flat_hit **hits, size_t *counts);

#endif
