/*
 * hnsw_int.h — the graph's layout and the helpers shared by hnsw.c (life cycle,
 * validation, serialization), hnsw_build.c (insert, delete) and hnsw_search.c (layer
 * search, neighbour selection, queries). Private to src/index.
 *
 * Layout: level-0 lists live in one array indexed by slot, (1 + 2M) uint32 per slot
 * (count, then links); a node's upper levels 1..L share one allocation of L * (1 + M)
 * uint32, pointed to from upper[slot]. level[slot] is HNSW_ABSENT for slots that are not
 * nodes. Parallel inserts guard each list with a striped mutex (slot % HNSW_STRIPES).
 */
#ifndef HK_HNSW_INT_H
#define HK_HNSW_INT_H

#include <pthread.h>
#include <string.h>

#include "hnsw.h"
#include "../vec/distance.h"

#define HNSW_ABSENT 0xFFu
#define HNSW_NONE UINT32_MAX
#define HNSW_STRIPES 1024u

struct hnsw {
    uint32_t dim;
    hk_metric metric;
    uint32_t M, M0;          /* links per upper level, at level 0 (2M) */
    uint32_t efc;
    double mL;               /* 1 / ln(M) */
    uint64_t rng;
    uint32_t cap;            /* slots with storage */
    uint32_t count;          /* nodes */
    uint32_t entry;          /* HNSW_NONE when empty */
    int max_level;           /* -1 when empty */
    uint32_t *l0;            /* cap * (1 + M0) */
    uint8_t *level;          /* cap, HNSW_ABSENT for non-nodes */
    uint32_t **upper;        /* cap; NULL for level-0 nodes */
    size_t upper_bytes;      /* bytes held by the upper allocations */
    pthread_mutex_t *stripes; /* HNSW_STRIPES list locks for parallel inserts */
    pthread_mutex_t entry_mu; /* guards entry and max_level during parallel inserts */
    const vec_kernels *kern;
};

/* Per-operation scratch: one per thread. */
typedef struct hnsw_ctx {
    uint64_t *visited;       /* bitmap over cap */
    size_t vwords;
    uint32_t *touched;       /* words of visited made nonzero since the last reset */
    size_t ntouched, captouched;
    int touched_all;         /* more than captouched: reset clears everything */
    flat_hit *cand;          /* min-heap of candidates to expand, grows */
    size_t ncand, capcand;
    flat_hit *res;           /* max-heap of the ef best, capacity ef */
    size_t nres, ef;
    flat_hit *out;           /* sorted layer results, capacity ef */
    uint8_t *done;           /* beside out in an unfiltered search: expanded */
    flat_hit *eps;           /* entry points of the next layer, capacity ef */
    flat_hit *pick;          /* neighbour selection, capacity M0 */
    uint32_t *nbuf;          /* a copied list, capacity M0 */
    float *qbuf;             /* a prepared query for construction on codes */
    size_t qcap;
    int nomem;
} hnsw_ctx;

static inline uint32_t *hnsw_links(const hnsw *g, uint32_t s, int l) {
    if (l == 0) return g->l0 + (size_t)s * (g->M0 + 1);
    return g->upper[s] + (size_t)(l - 1) * (g->M + 1);
}
static inline uint32_t hnsw_mmax(const hnsw *g, int l) { return l == 0 ? g->M0 : g->M; }
/* Walkers of a parallel insert read lists without their lock (hnsw_copy_links), so the
 * writers, who hold it, store entries first and the count last with release order: a
 * reader that loads the count with acquire sees at least those entries. It may see a
 * list being rewritten (some new entries, some old), but every value ever stored in a
 * list is a node's slot, which is all a walk needs. This holds because nodes are made
 * (make_node) and dropped (drop_node) only outside parallel phases, and graph changes
 * never run beside queries (the collection's rw lock); single-threaded writers
 * (hnsw_connect, hnsw_load) may store plainly. */
static inline void hnsw_set_link(uint32_t *links, size_t i, uint32_t v) {
    __atomic_store_n(&links[1 + i], v, __ATOMIC_RELAXED);
}
static inline void hnsw_set_count(uint32_t *links, size_t n) {
    __atomic_store_n(&links[0], (uint32_t)n, __ATOMIC_RELEASE);
}
static inline const float *hnsw_row(const flat_matrix *m, uint32_t s) {
    return m->rows + (size_t)s * m->dim;
}
static inline float hnsw_dist(const hnsw *g, const float *a, const float *b) {
    return g->metric == HK_METRIC_L2 ? g->kern->l2sq(a, b, g->dim) : -g->kern->dot(a, b, g->dim);
}
/* Distance between two nodes: on the codes when the matrix carries codes with a symmetric
 * distance (construction on codes), else on the rows. */
static inline float hnsw_ndist(const hnsw *g, const flat_matrix *m, uint32_t a, uint32_t b) {
    if (m->codes && m->codes->sym) {
        size_t cs = m->codes->code_size;
        if (m->codes->u8)
            return vec_codes_int8(m->codes, m->codes->codes + (size_t)a * cs,
                                  m->codes->codes + (size_t)b * cs);
        return m->codes->sym(m->codes->ctx, m->codes->codes + (size_t)a * cs,
                             m->codes->codes + (size_t)b * cs);
    }
    return hnsw_dist(g, hnsw_row(m, a), hnsw_row(m, b));
}
/* 1 when construction measures on the codes. */
static inline int hnsw_on_codes(const flat_matrix *m) { return m->codes && m->codes->sym; }

/* Distance from the query to slot s: on the codes when the matrix carries a prepared
 * query (flat.h), else on the rows. */
static inline float hnsw_qdist(const hnsw *g, const flat_matrix *m, const float *q, uint32_t s) {
    if (m->qbuf && m->codes->u8)
        return vec_codes_int8(m->codes, (const uint8_t *)m->qbuf,
                              m->codes->codes + (size_t)s * m->codes->code_size);
    if (m->qbuf)
        return m->codes->dist(m->codes->ctx, m->qbuf, m->qbias,
                              m->codes->codes + (size_t)s * m->codes->code_size);
    return hnsw_dist(g, q, hnsw_row(m, s));
}
/* Distances from q to the rows ids[0..n) (no codes involved): what hnsw_dist gives for
 * each, measured by the gather kernel so the rows' cache misses overlap. */
static inline void hnsw_dist_ids(const hnsw *g, const flat_matrix *m, const float *q,
                                 const uint32_t *ids, size_t n, float *out) {
    if (g->metric == HK_METRIC_L2) {
        g->kern->l2sq_ids(q, m->rows, ids, n, m->dim, out);
    } else {
        g->kern->dot_ids(q, m->rows, ids, n, m->dim, out);
        for (size_t i = 0; i < n; i++) out[i] = -out[i];
    }
}
static inline int hnsw_hit_less(flat_hit a, flat_hit b) {
    return a.dist < b.dist || (a.dist == b.dist && a.slot < b.slot);
}
static inline int hnsw_seen(hnsw_ctx *c, uint32_t s) {
    uint64_t bit = (uint64_t)1 << (s & 63), *w = &c->visited[s >> 6];
    if (*w & bit) return 1;
    if (!*w) {
        if (c->ntouched < c->captouched) c->touched[c->ntouched++] = s >> 6;
        else c->touched_all = 1;
    }
    *w |= bit;
    return 0;
}
/* Clears the visited set: only the words touched, unless that is most of them. */
static inline void hnsw_visited_reset(hnsw_ctx *c) {
    if (c->touched_all) memset(c->visited, 0, c->vwords * sizeof(uint64_t));
    else
        for (size_t i = 0; i < c->ntouched; i++) c->visited[c->touched[i]] = 0;
    c->ntouched = 0;
    c->touched_all = 0;
}
static inline void hnsw_lock(const hnsw *g, uint32_t s, int lock) {
    if (lock) pthread_mutex_lock(&g->stripes[s % HNSW_STRIPES]);
}
static inline void hnsw_unlock(const hnsw *g, uint32_t s, int lock) {
    if (lock) pthread_mutex_unlock(&g->stripes[s % HNSW_STRIPES]);
}

int hnsw_hit_cmp(const void *a, const void *b);
hk_status hnsw_ctx_init(hnsw_ctx *c, const hnsw *g, size_t ef);
void hnsw_ctx_free(hnsw_ctx *c);
/* Copies slot's list at level l into c->nbuf (under its lock when lock); returns count. */
uint32_t hnsw_copy_links(const hnsw *g, hnsw_ctx *c, uint32_t s, int l, int lock);
/* Greedy descent from *cur through levels top..stop+1 (ef = 1). */
void hnsw_descend(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, const float *q,
                  flat_hit *cur, int top, int stop, int lock);
/* ef-bounded best-first search of level l from the nep entry points. Only slots in allow
 * (when not NULL) enter the results, every node is traversed; exclude (or HNSW_NONE) is
 * never visited. Results go to c->out sorted by (dist, slot); returns their count. */
size_t hnsw_search_layer(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, const float *q,
                         const flat_hit *eps, size_t nep, size_t ef, int l,
                         const roaring_bitmap_t *allow, uint32_t exclude, int lock);
/* Algorithm 4: from cand (sorted by distance to the base node) keep those closer to the
 * base than to every one kept before, up to mmax; keep_pruned refills to mmax with the
 * closest discarded. Writes c->pick; returns the count. */
size_t hnsw_select(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, const flat_hit *cand,
                   size_t n, size_t mmax, int keep_pruned);

#endif
