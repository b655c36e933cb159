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

#include "hektor.h"

typedef struct flat_hit {
    float dist;     /* internal distance: smaller is better */
    uint32_t slot;
} flat_hit;

typedef struct flat_matrix {
    const float *rows;       /* nslots * dim floats, 64-byte aligned rows start */
    const float *norms_sq;   /* nslots squared norms (for L2 batches); may be NULL */
    const uint8_t *live;     /* nslots flags: 1 = live slot */
    size_t nslots;
    size_t dim;
    hk_metric metric;        /* cosine rows are already normalized */
} flat_matrix;

/* Top-k (or range) results for each of nq queries (queries are nq*dim floats, already
 * normalized for cosine). allow, when not NULL, restricts to those slots (they are
 * live). When has_radius, only hits with dist <= radius_dist are kept; k == 0 then means
 * unbounded. Results: hits[q] is an hk_malloc'ed array of counts[q] hits sorted by
 * (dist, slot); the caller frees each. */
hk_status flat_search(const flat_matrix *m, const float *queries, size_t nq, size_t k,
                      const roaring_bitmap_t *allow, int has_radius, float radius_dist,
                      flat_hit **hits, size_t *counts);

#endif
