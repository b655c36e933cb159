/*
 * fusion.h — fusing ranked result lists into one (hybrid search, docs/TEXT.md).
 *
 * Pure functions over (id, score) lists with "higher is better" scores: the caller turns
 * l2 distances into -distance before fusing. Kept apart from query.c so each method can be
 * checked against hand computations in tests/unit/test_fusion.c.
 */
#ifndef HK_DB_FUSION_H
#define HK_DB_FUSION_H

#include <stddef.h>
#include <stdint.h>

#include "hektor.h"

typedef struct fusion_item {
    uint64_t id;
    double score; /* higher is better; the list is ordered best first */
} fusion_item;

typedef struct fusion_list {
    const fusion_item *items;
    size_t n; /* an id appears at most once per list */
} fusion_list;

/* Fuses nlists lists by method (param as hk_query_set_fusion documents it, already
 * resolved: RRF's k > 0, convex's weight of list 0 in [0, 1]; the convex combination
 * takes exactly two lists). *out (hk_malloc'd, free with hk_free) holds every id found,
 * best first, ties to the lower id; *n their number. */
hk_status fusion_run(hk_fusion method, double param, const fusion_list *lists, size_t nlists,
                     fusion_item **out, size_t *n);

#endif
