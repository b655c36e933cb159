/*
 * hnsw_build.c — changing the graph: insert (Algorithm 1), parallel batch insert and
 * true deletion with neighbourhood repair.
 *
 * Decisions:
 *  - Levels are floor(-ln(U) * mL) with mL = 1/ln(M), capped at HNSW_MAX_LEVEL, drawn
 *    from the graph's own xorshift generator. A batch draws all its levels up front, in
 *    slot order, before any thread starts: the level structure is then the same as for
 *    sequential inserts of the same slots, and all allocation happens before the parallel
 *    phase, which cannot fail except for search scratch growth.
 *  - New nodes pick M neighbours per level with the heuristic (no pruned refill, as in
 *    the paper's default); a neighbour whose list is full (2M at level 0, M above) is
 *    re-selected by the heuristic over its old links plus the new node.
 *  - Parallel inserts lock one list at a time (striped mutexes), never two, so there is
 *    no lock order to get wrong: a node's own lists are written under its lock, then each
 *    back link under the neighbour's. Walkers copy lists under the same locks. The entry
 *    point and top level have their own mutex. The graph differs run to run (thread
 *    interleaving), its quality does not.
 *  - Deletion is a true unlink. Links are directed and there are no reverse lists (they
 *    would double link memory and every link change), so the nodes that link to the
 *    removed one are found by scanning the lists: one pass over level 0's contiguous
 *    array plus the upper lists of the ~1/M nodes that have them. That is a sequential
 *    memory scan of cap * (2M + 1) * 4 bytes per delete — about a millisecond per
 *    million nodes — traded for zero per-link bookkeeping. Each such node drops the link
 *    and re-selects, with the heuristic, among its remaining links and the removed
 *    node's links at that level (plus their links when that leaves fewer than the level's
 *    maximum), so paths that ran through the removed node are rebuilt around it.
 *  - A removed entry point is replaced by the lowest slot on the highest level left; the
 *    slot's lists are cleared so a later insert of the same number is a fresh node.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hnsw_int.h"

static uint64_t next_rand(hnsw *g) {
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

static int draw_level(hnsw *g) {
    double u = ((double)(next_rand(g) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    double l = floor(-log(u) * g->mL);
    return l >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (int)l;
}

static hk_status reserve(hnsw *g, uint32_t need) {
    if (need <= g->cap) return HK_OK;
    uint64_t cap = g->cap ? (uint64_t)g->cap * 2 : 1024;
    if (cap < need) cap = need;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    size_t per = (size_t)g->M0 + 1;
    uint32_t *l0 = hk_realloc(g->l0, (size_t)cap * per * sizeof(uint32_t));
    if (!l0) return hk_fail(HK_NOMEM, "hnsw: out of memory growing to %llu slots", (unsigned long long)cap);
    g->l0 = l0;
    uint8_t *level = hk_realloc(g->level, (size_t)cap);
    if (!level) return hk_fail(HK_NOMEM, "hnsw: out of memory growing to %llu slots", (unsigned long long)cap);
    g->level = level;
    uint32_t **upper = hk_realloc(g->upper, (size_t)cap * sizeof(uint32_t *));
    if (!upper) return hk_fail(HK_NOMEM, "hnsw: out of memory growing to %llu slots", (unsigned long long)cap);
    g->upper = upper;
    for (size_t s = g->cap; s < cap; s++) {
        l0[s * per] = 0;
        level[s] = HNSW_ABSENT;
        upper[s] = NULL;
    }
    g->cap = (uint32_t)cap;
    return HK_OK;
}

static hk_status check_slot(const hnsw *g, const flat_matrix *m, uint32_t slot) {
    if (m->dim != g->dim || m->metric != g->metric)
        return hk_fail(HK_INVALID, "hnsw: matrix (dim %zu, metric %d) does not match the graph (dim %u, metric %d)",
                       m->dim, (int)m->metric, g->dim, (int)g->metric);
    if (slot >= m->nslots || !m->live[slot])
        return hk_fail(HK_INVALID, "hnsw: slot %u is not a live row of the matrix", slot);
    if (slot < g->cap && g->level[slot] != HNSW_ABSENT)
        return hk_fail(HK_INVALID, "hnsw: slot %u is already in the graph", slot);
    return HK_OK;
}

/* Gives slot its level and upper lists (not yet linked). */
static hk_status make_node(hnsw *g, uint32_t slot, int level) {
    if (level > 0) {
        size_t words = (size_t)level * (g->M + 1);
        uint32_t *u = hk_malloc(words * sizeof(uint32_t));
        if (!u) return hk_fail(HK_NOMEM, "hnsw: out of memory for node %u's %d levels", slot, level);
        for (int l = 0; l < level; l++) u[(size_t)l * (g->M + 1)] = 0;
        g->upper[slot] = u;
        g->upper_bytes += words * sizeof(uint32_t);
    }
    hnsw_links(g, slot, 0)[0] = 0;
    g->level[slot] = (uint8_t)level;
    g->count++;
    return HK_OK;
}

static void drop_node(hnsw *g, uint32_t slot) {
    int level = g->level[slot];
    if (level > 0) g->upper_bytes -= (size_t)level * (g->M + 1) * sizeof(uint32_t);
    hk_free(g->upper[slot]);
    g->upper[slot] = NULL;
    hnsw_links(g, slot, 0)[0] = 0;
    g->level[slot] = HNSW_ABSENT;
    g->count--;
}

/* Writes the heuristic's choice among cand (sorted by distance to s) as s's list at l. */
static void relink(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, uint32_t s, int l,
                   const flat_hit *cand, size_t n) {
    size_t np = hnsw_select(g, m, c, cand, n, hnsw_mmax(g, l), 0);
    uint32_t *links = hnsw_links(g, s, l);
    for (size_t i = 0; i < np; i++) links[1 + i] = c->pick[i].slot;
    links[0] = (uint32_t)np;
}

/* Adds the link e -> q (at distance d) to e's list at l, re-selecting when full. */
static void add_link(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, uint32_t e, uint32_t q,
                     float d, int l, int lock) {
    hnsw_lock(g, e, lock);
    uint32_t *links = hnsw_links(g, e, l);
    uint32_t n = links[0], mmax = hnsw_mmax(g, l);
    int present = 0;
    for (uint32_t i = 0; i < n && !present; i++) present = links[1 + i] == q;
    if (!present && n < mmax) {
        links[1 + n] = q;
        links[0] = n + 1;
    } else if (!present) {
        flat_hit cand[2 * HNSW_MAX_M + 1];
        const float *ev = hnsw_row(m, e);
        for (uint32_t i = 0; i < n; i++)
            cand[i] = (flat_hit){hnsw_dist(g, ev, hnsw_row(m, links[1 + i])), links[1 + i]};
        cand[n] = (flat_hit){d, q};
        qsort(cand, n + 1, sizeof(flat_hit), hnsw_hit_cmp);
        relink(g, m, c, e, l, cand, n + 1);
    }
    hnsw_unlock(g, e, lock);
}

/* Links node q (already given its level) into the graph. */
static void link_node(hnsw *g, const flat_matrix *m, hnsw_ctx *c, uint32_t q, int lock) {
    int level = g->level[q];
    if (lock) pthread_mutex_lock(&g->entry_mu);
    uint32_t ep = g->entry;
    int top = g->max_level;
    if (ep == HNSW_NONE) {
        g->entry = q;
        g->max_level = level;
    }
    if (lock) pthread_mutex_unlock(&g->entry_mu);
    if (ep == HNSW_NONE) return;

    const float *qv = hnsw_row(m, q);
    flat_hit cur = {hnsw_dist(g, qv, hnsw_row(m, ep)), ep};
    hnsw_descend(g, m, c, qv, &cur, top, level, lock);
    c->eps[0] = cur;
    size_t nep = 1;
    for (int l = level < top ? level : top; l >= 0; l--) {
        size_t n = hnsw_search_layer(g, m, c, qv, c->eps, nep, c->ef, l, NULL, q, lock);
        size_t np = hnsw_select(g, m, c, c->out, n, g->M, 0);
        flat_hit pick[HNSW_MAX_M];
        memcpy(pick, c->pick, np * sizeof(flat_hit));
        hnsw_lock(g, q, lock);
        uint32_t *links = hnsw_links(g, q, l);
        for (size_t i = 0; i < np; i++) links[1 + i] = pick[i].slot;
        links[0] = (uint32_t)np;
        hnsw_unlock(g, q, lock);
        for (size_t i = 0; i < np; i++) add_link(g, m, c, pick[i].slot, q, pick[i].dist, l, lock);
        memcpy(c->eps, c->out, n * sizeof(flat_hit));
        nep = n;
    }
    if (level > top) {
        if (lock) pthread_mutex_lock(&g->entry_mu);
        if (level > g->max_level) {
            g->entry = q;
            g->max_level = level;
        }
        if (lock) pthread_mutex_unlock(&g->entry_mu);
    }
}

hk_status hnsw_insert(hnsw *g, const flat_matrix *m, uint32_t slot) {
    hk_status st = check_slot(g, m, slot);
    if (st == HK_OK) st = reserve(g, slot + 1);
    if (st != HK_OK) return st;
    hnsw_ctx c;
    if ((st = hnsw_ctx_init(&c, g, g->efc)) != HK_OK) return st;
    if ((st = make_node(g, slot, draw_level(g))) != HK_OK) {
        hnsw_ctx_free(&c);
        return st;
    }
    link_node(g, m, &c, slot, 0);
    int nomem = c.nomem;
    hnsw_ctx_free(&c);
    if (nomem) return hk_fail(HK_NOMEM, "hnsw: out of memory while linking slot %u", slot);
    return HK_OK;
}

typedef struct batch {
    hnsw *g;
    const flat_matrix *m;
    const uint32_t *slots;
    hnsw_ctx *ctx; /* one per worker */
    atomic_int nomem;
} batch;

static void batch_task(void *arg, size_t task, unsigned worker) {
    batch *b = arg;
    hnsw_ctx *c = &b->ctx[worker];
    link_node(b->g, b->m, c, b->slots[task], 1);
    if (c->nomem) atomic_store(&b->nomem, 1);
}

hk_status hnsw_insert_batch(hnsw *g, const flat_matrix *m, const uint32_t *slots, size_t n) {
    if (n == 0) return HK_OK;
    if (n > UINT32_MAX) return hk_fail(HK_INVALID, "hnsw: batch of %zu slots is too large", n);
    uint32_t hi = 0;
    for (size_t i = 0; i < n; i++) {
        hk_status st = check_slot(g, m, slots[i]);
        if (st != HK_OK) return st;
        if (slots[i] > hi) hi = slots[i];
    }
    hk_status st = reserve(g, hi + 1);
    if (st != HK_OK) return st;
    for (size_t i = 0; i < n; i++) {
        if (g->level[slots[i]] != HNSW_ABSENT) st = hk_fail(HK_INVALID, "hnsw: slot %u appears twice in the batch", slots[i]);
        else st = make_node(g, slots[i], draw_level(g));
        if (st != HK_OK) {
            while (i-- > 0) drop_node(g, slots[i]);
            return st;
        }
    }
    unsigned workers = hk_pool_workers();
    hnsw_ctx *ctx = hk_calloc(workers, sizeof(hnsw_ctx));
    for (unsigned w = 0; ctx && w < workers && st == HK_OK; w++) st = hnsw_ctx_init(&ctx[w], g, g->efc);
    if (!ctx || st != HK_OK) {
        for (unsigned w = 0; ctx && w < workers; w++) hnsw_ctx_free(&ctx[w]);
        hk_free(ctx);
        for (size_t i = 0; i < n; i++) drop_node(g, slots[i]);
        return hk_fail(HK_NOMEM, "hnsw: out of memory for %u insert workers", workers);
    }
    size_t first = 0;
    if (g->entry == HNSW_NONE) link_node(g, m, &ctx[0], slots[first++], 0);
    batch b = {.g = g, .m = m, .slots = slots + first, .ctx = ctx};
    atomic_init(&b.nomem, ctx[0].nomem);
    hk_pool_run(n - first, batch_task, &b);
    for (unsigned w = 0; w < workers; w++) hnsw_ctx_free(&ctx[w]);
    hk_free(ctx);
    if (atomic_load(&b.nomem)) return hk_fail(HK_NOMEM, "hnsw: out of memory while linking a batch");
    return HK_OK;
}

typedef struct inlink {
    uint32_t node;
    int level;
} inlink;

/* Largest candidate set repair can gather: the node's links, the removed node's links
 * and their links. */
static size_t repair_cap(const hnsw *g) { return 2 * (size_t)g->M0 + (size_t)g->M0 * g->M0; }

/* Re-selects s's list at l (which lost the removed node) among its other links, the
 * removed node's links dl[0..nd) and, when those are too few, their links. cand has room
 * for repair_cap(g). */
static void repair(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, uint32_t s, int l,
                   const uint32_t *dl, uint32_t nd, flat_hit *cand) {
    uint32_t mmax = hnsw_mmax(g, l);
    const uint32_t *links = hnsw_links(g, s, l);
    const float *sv = hnsw_row(m, s);
    size_t n = 0;
    memset(c->visited, 0, c->vwords * sizeof(uint64_t));
    hnsw_seen(c, s);
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 2 && n >= mmax) break;
        uint32_t cnt = pass == 0 ? links[0] : nd;
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t t = pass == 0 ? links[1 + i] : dl[i];
            const uint32_t *tl = pass == 2 ? hnsw_links(g, t, l) + 1 : &t;
            uint32_t tn = pass == 2 ? tl[-1] : 1;
            for (uint32_t j = 0; j < tn; j++) {
                uint32_t u = tl[j];
                if (g->level[u] == HNSW_ABSENT || hnsw_seen(c, u)) continue;
                cand[n++] = (flat_hit){hnsw_dist(g, sv, hnsw_row(m, u)), u};
            }
        }
    }
    qsort(cand, n, sizeof(flat_hit), hnsw_hit_cmp);
    relink(g, m, c, s, l, cand, n);
}

static void new_entry(hnsw *g) {
    g->entry = HNSW_NONE;
    g->max_level = -1;
    for (uint32_t s = 0; s < g->cap; s++) {
        if (g->level[s] != HNSW_ABSENT && (int)g->level[s] > g->max_level) {
            g->max_level = g->level[s];
            g->entry = s;
        }
    }
}

hk_status hnsw_delete(hnsw *g, const flat_matrix *m, uint32_t slot) {
    if (slot >= g->cap || g->level[slot] == HNSW_ABSENT)
        return hk_fail(HK_NOT_FOUND, "hnsw: slot %u is not in the graph", slot);
    if (m->dim != g->dim)
        return hk_fail(HK_INVALID, "hnsw: matrix dimension %zu, graph %u", m->dim, g->dim);
    int dlevel = g->level[slot];
    size_t per = (size_t)g->M0 + 1, nin = 0, capin = 64;
    inlink *in = hk_malloc(capin * sizeof(inlink));
    uint32_t *dl = hk_malloc((per + (size_t)dlevel * (g->M + 1)) * sizeof(uint32_t));
    flat_hit *cand = hk_malloc(repair_cap(g) * sizeof(flat_hit));
    hnsw_ctx c;
    memset(&c, 0, sizeof c);
    hk_status st = in && dl && cand ? hnsw_ctx_init(&c, g, 1) : HK_NOMEM;
    for (uint32_t s = 0; st == HK_OK && s < g->cap; s++) {
        if (g->level[s] == HNSW_ABSENT || s == slot) continue;
        int top = g->level[s] < dlevel ? g->level[s] : dlevel;
        for (int l = 0; l <= top; l++) {
            const uint32_t *links = hnsw_links(g, s, l);
            uint32_t i = 0;
            while (i < links[0] && links[1 + i] != slot) i++;
            if (i == links[0]) continue;
            if (nin == capin) {
                inlink *ni = hk_realloc(in, 2 * capin * sizeof(inlink));
                if (!ni) {
                    st = HK_NOMEM;
                    break;
                }
                in = ni;
                capin *= 2;
            }
            in[nin++] = (inlink){s, l};
        }
    }
    if (st == HK_OK) {
        for (int l = 0; l <= dlevel; l++) {
            const uint32_t *links = hnsw_links(g, slot, l);
            memcpy(dl + (l == 0 ? 0 : per + (size_t)(l - 1) * (g->M + 1)), links,
                   (links[0] + 1) * sizeof(uint32_t));
        }
        drop_node(g, slot);
        for (size_t i = 0; i < nin; i++) {
            int l = in[i].level;
            const uint32_t *d = dl + (l == 0 ? 0 : per + (size_t)(l - 1) * (g->M + 1));
            repair(g, m, &c, in[i].node, l, d + 1, d[0], cand);
        }
        if (g->entry == slot) new_entry(g);
    }
    hnsw_ctx_free(&c);
    hk_free(in);
    hk_free(dl);
    hk_free(cand);
    if (st != HK_OK) return hk_fail(HK_NOMEM, "hnsw: out of memory deleting slot %u", slot);
    return HK_OK;
}
