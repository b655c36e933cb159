/*
 * fusion.c — fuses ranked lists (the vector list and the text list of a hybrid query).
 *
 * Every method sees lists of (id, score), best first, with scores where higher is better
 * (query.c turns l2 distances d into -d first). Methods:
 *  - rrf:     sum over lists of 1 / (k + rank), rank from 1 (Cormack et al. 2009).
 *  - convex:  w * mm_0 + (1 - w) * mm_1, mm the min-max normalized score of the list.
 *  - dbsf:    sum of scores normalized by each list's mean and population standard
 *             deviation: (s - (mu - 3 sigma)) / (6 sigma), clamped to [0, 1] (Qdrant's
 *             distribution-based score fusion). A list whose scores are all equal gives
 *             0.5 to each.
 *  - combsum: sum of min-max normalized scores (Fox & Shaw 1994).
 *  - combmnz: combsum times the number of lists holding the id.
 *  - borda:   Borda-fuse (Aslam & Montague 2001): with C distinct ids over all lists, the
 *             id at rank r of a list of n gets C - r + 1 points from it, and an id absent
 *             from that list gets the mean of the points left, (C - n + 1) / 2.
 * Min-max: (s - min) / (max - min), and 1 for every id of a list whose scores are all
 * equal (a one-item list included). An id missing from a list adds 0 for the score-based
 * methods. Ties in the fused score go to the lower id, so the output is deterministic.
 */
#include "fusion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

typedef struct entry {
    uint64_t id;
    uint32_t list;
    uint32_t rank; /* from 1 */
    double norm;   /* the normalized score the method adds, or RRF's term */
} entry;

static int cmp_entry_id(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->id != y->id) return (x->id > y->id) - (x->id < y->id);
    return (x->list > y->list) - (x->list < y->list);
}

static int cmp_item_score(const void *a, const void *b) {
    const fusion_item *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void minmax_of(const fusion_list *l, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i].score < *lo) *lo = l->items[i].score;
        if (l->items[i].score > *hi) *hi = l->items[i].score;
    }
}

/* The normalized contribution of item i of list l under method. */
static double norm_of(hk_fusion method, double param, const fusion_list *l, size_t i, double lo,
                      double hi, double mu, double sigma) {
    double s = l->items[i].score;
    switch (method) {
    case HK_FUSION_RRF:
        return 1.0 / (param + (double)(i + 1));
    case HK_FUSION_DBSF: {
        if (!(sigma > 0)) return 0.5;
        double v = (s - (mu - 3 * sigma)) / (6 * sigma);
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case HK_FUSION_BORDA:
        return 0; /* points depend on the union's size: added in fusion_run */
    default:
        return hi > lo ? (s - lo) / (hi - lo) : 1.0;
    }
}

hk_status fusion_run(hk_fusion method, double param, const fusion_list *lists, size_t nlists,
                     fusion_item **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (method == HK_FUSION_CONVEX && nlists != 2)
        return hk_fail(HK_INVALID, "fusion: the convex combination takes two lists (got %zu)", nlists);
    if (nlists > UINT32_MAX) return hk_fail(HK_INVALID, "fusion: too many lists");
    size_t total = 0;
    for (size_t l = 0; l < nlists; l++) {
        if (lists[l].n > UINT32_MAX || lists[l].n > SIZE_MAX / sizeof(entry) - total)
            return hk_fail(HK_INVALID, "fusion: lists are too long");
        for (size_t i = 0; i < lists[l].n; i++)
            if (!isfinite(lists[l].items[i].score))
                return hk_fail(HK_INVALID, "fusion: list %zu has a score that is not finite", l);
        total += lists[l].n;
    }
    entry *e = hk_malloc((total ? total : 1) * sizeof *e);
    fusion_item *f = hk_malloc((total ? total : 1) * sizeof *f);
    if (!e || !f) {
        hk_free(e);
        hk_free(f);
        return hk_fail(HK_NOMEM, "out of memory fusing result lists");
    }
    size_t m = 0;
    for (size_t l = 0; l < nlists; l++) {
        const fusion_list *li = &lists[l];
        double lo, hi, mu = 0, var = 0;
        minmax_of(li, &lo, &hi);
        for (size_t i = 0; i < li->n; i++) mu += li->items[i].score;
        if (li->n) mu /= (double)li->n;
        for (size_t i = 0; i < li->n; i++) var += (li->items[i].score - mu) * (li->items[i].score - mu);
        double sigma = li->n ? sqrt(var / (double)li->n) : 0;
        for (size_t i = 0; i < li->n; i++)
            e[m++] = (entry){li->items[i].id, (uint32_t)l, (uint32_t)(i + 1),
                             norm_of(method, param, li, i, lo, hi, mu, sigma)};
    }
    qsort(e, m, sizeof *e, cmp_entry_id);
    size_t distinct = 0;
    for (size_t i = 0; i < m; i++)
        if (!i || e[i].id != e[i - 1].id) distinct++;
    double C = (double)distinct;
    size_t nf = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i;
        double sum = 0;
        while (j < m && e[j].id == e[i].id) j++;
        size_t in = j - i;
        if (method == HK_FUSION_BORDA) {
            /* Points from the lists holding the id, then the mean of what is left in the
             * others. */
            size_t at = i;
            for (size_t l = 0; l < nlists; l++) {
                if (at < j && e[at].list == l) {
                    sum += C - (double)e[at].rank + 1;
                    at++;
                } else {
                    sum += (C - (double)lists[l].n + 1) / 2;
                }
            }
        } else if (method == HK_FUSION_CONVEX) {
            for (size_t t = i; t < j; t++) sum += (e[t].list == 0 ? param : 1 - param) * e[t].norm;
        } else {
            for (size_t t = i; t < j; t++) sum += e[t].norm;
            if (method == HK_FUSION_COMBMNZ) sum *= (double)in;
        }
        f[nf++] = (fusion_item){e[i].id, sum};
        i = j;
    }
    hk_free(e);
    qsort(f, nf, sizeof *f, cmp_item_score);
    *out = f;
    *n = nf;
    return HK_OK;
}
