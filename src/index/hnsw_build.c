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
 *    back link under the neighbour's. Walkers copy lists without locks (writers store the
 *    count last, with release order: hnsw_set_count), so a walk never waits. The entry
 *    point and top level have their own mutex. The graph differs run to run (thread
 *    interleaving), its quality does not.
 *  - Deletion is a true unlink. Links are directed and there are no reverse lists (they
 *    would double link memory and every link change), so the nodes that link to the
 *    removed ones are found by scanning the lists: one parallel pass over level 0's
 *    contiguous array plus the upper lists of the ~1/M nodes that have them, per batch
 *    of deletions — a sequential scan of cap * (2M + 1) * 4 bytes, some milliseconds per
 *    million nodes, however many nodes the batch removes — traded for zero per-link
 *    bookkeeping. Each list that lost links re-selects, with the heuristic, among its
 *    remaining links and the removed neighbours' links at that level (plus their links
 *    when that leaves fewer than the level's maximum), so paths that ran through the
 *    removed nodes are rebuilt around them. Repairs run in parallel; each writes only
 *    its own list under its lock and copies others' as walkers do.
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
    uint32_t *l0 = hk_realloc_huge(g->l0, (size_t)g->cap * per * sizeof(uint32_t),
                                   (size_t)cap * per * sizeof(uint32_t));
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
    for (size_t i = 0; i < np; i++) hnsw_set_link(links, i, c->pick[i].slot);
    hnsw_set_count(links, np);
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
        hnsw_set_link(links, n, q);
        hnsw_set_count(links, n + 1);
    } else if (!present) {
        flat_hit cand[2 * HNSW_MAX_M + 1];
        float d0[2 * HNSW_MAX_M];
        if (hnsw_on_codes(m))
            for (uint32_t i = 0; i < n; i++) d0[i] = hnsw_ndist(g, m, e, links[1 + i]);
        else
            hnsw_dist_ids(g, m, hnsw_row(m, e), links + 1, n, d0);
        for (uint32_t i = 0; i < n; i++) cand[i] = (flat_hit){d0[i], links[1 + i]};
        /* on codes, d came from q's prepared query: measure e -> q as the others */
        cand[n] = (flat_hit){hnsw_on_codes(m) ? hnsw_ndist(g, m, e, q) : d, q};
        qsort(cand, n + 1, sizeof(flat_hit), hnsw_hit_cmp);
        relink(g, m, c, e, l, cand, n + 1);
    }
    hnsw_unlock(g, e, lock);
}

/* Writes q's own list at l: the picks, merged with back links that concurrent inserts
 * added to q's list meanwhile (overwriting would drop them, and a node whose only
 * in-link was dropped becomes unreachable); re-selected by the heuristic when they do not
 * all fit. */
static void set_own_links(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, uint32_t q, int l,
                          const flat_hit *pick, size_t np, int lock) {
    hnsw_lock(g, q, lock);
    uint32_t *links = hnsw_links(g, q, l);
    uint32_t have = links[0], mmax = hnsw_mmax(g, l);
    if (have == 0) {
        for (size_t i = 0; i < np; i++) hnsw_set_link(links, i, pick[i].slot);
        hnsw_set_count(links, np);
    } else {
        flat_hit cand[3 * HNSW_MAX_M + 1];
        size_t n = np;
        memcpy(cand, pick, np * sizeof(flat_hit));
        for (uint32_t i = 0; i < have; i++) {
            uint32_t t = links[1 + i];
            size_t j = 0;
            while (j < np && pick[j].slot != t) j++;
            if (j == np) cand[n++] = (flat_hit){hnsw_ndist(g, m, q, t), t};
        }
        qsort(cand, n, sizeof(flat_hit), hnsw_hit_cmp);
        if (n <= mmax) {
            for (size_t i = 0; i < n; i++) hnsw_set_link(links, i, cand[i].slot);
            hnsw_set_count(links, n);
        } else {
            relink(g, m, c, q, l, cand, n);
        }
    }
    hnsw_unlock(g, q, lock);
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
    /* On codes the walk measures q's own row, prepared as a query, on the codes. */
    flat_matrix mq;
    if (hnsw_on_codes(m)) {
        size_t need = m->codes->qfloats ? m->codes->qfloats : 1;
        if (c->qcap < need) {
            float *nb = hk_realloc(c->qbuf, need * sizeof(float));
            if (!nb) {
                c->nomem = 1;
                return;
            }
            c->qbuf = nb;
            c->qcap = need;
        }
        mq = *m;
        mq.qbuf = c->qbuf;
        if (m->codes->u8) { /* int8: the prepared query is q's own code */
            memcpy(c->qbuf, m->codes->codes + (size_t)q * m->codes->code_size, m->codes->code_size);
            mq.qbias = 0;
        } else {
            m->codes->prepare(m->codes->ctx, qv, c->qbuf, &mq.qbias);
        }
        m = &mq;
    }
    flat_hit cur = {hnsw_qdist(g, m, qv, ep), ep};
    hnsw_descend(g, m, c, qv, &cur, top, level, lock);
    c->eps[0] = cur;
    size_t nep = 1;
    /* Choose the neighbours on every level first, then write q's own lists, and only
     * then the back links that make q reachable. Back links written level by level would
     * expose q on an upper level while its level-0 list is still empty, and a concurrent
     * insert that descends onto it would search level 0 from a dead end. */
    int from = level < top ? level : top;
    flat_hit pick[HNSW_MAX_LEVEL + 1][HNSW_MAX_M];
    size_t np[HNSW_MAX_LEVEL + 1];
    for (int l = from; l >= 0; l--) {
        size_t n = hnsw_search_layer(g, m, c, qv, c->eps, nep, c->ef, l, NULL, q, lock);
        np[l] = hnsw_select(g, m, c, c->out, n, g->M, 0);
        memcpy(pick[l], c->pick, np[l] * sizeof(flat_hit));
        memcpy(c->eps, c->out, n * sizeof(flat_hit));
        nep = n;
    }
    for (int l = from; l >= 0; l--) set_own_links(g, m, c, q, l, pick[l], np[l], lock);
    for (int l = from; l >= 0; l--)
        for (size_t i = 0; i < np[l]; i++) add_link(g, m, c, pick[l][i].slot, q, pick[l][i].dist, l, lock);
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

/* A node list that lost at least one link to a removed node. */
typedef struct inlink {
    uint32_t node;
    int level;
} inlink;

typedef struct del_job {
    hnsw *g;
    const flat_matrix *m;
    const uint64_t *gone;     /* bitmap over cap: removed slots */
    const uint32_t *sorted;   /* removed slots ascending */
    uint32_t **saved;         /* saved[i]: removed node sorted[i]'s lists, level 0 first */
    size_t ngone;
    int top;                  /* highest level of a removed node */
    /* scan phase */
    inlink **found;           /* per scan task */
    size_t *nfound;
    size_t per_task;
    /* repair phase */
    inlink *in;
    hnsw_ctx *ctx;            /* one per worker */
    flat_hit **cand;          /* one per worker, capacity repair_cap */
    uint32_t **extra;         /* one per worker: removed neighbours' links, M0 * M0 */
    atomic_int nomem;
} del_job;

static int is_gone(const del_job *d, uint32_t s) {
    return (d->gone[s >> 6] >> (s & 63)) & 1;
}

/* Largest candidate set a repair gathers: the node's own links, the removed neighbours'
 * links (up to M0 lists of M0) and, when those are too few, links of links (capped). */
static size_t repair_cap(const hnsw *g) { return (size_t)g->M0 * (2 * (size_t)g->M0 + 1); }

static void scan_task(void *arg, size_t task, unsigned worker) {
    (void)worker;
    del_job *d = arg;
    const hnsw *g = d->g;
    uint32_t lo = (uint32_t)(task * d->per_task);
    uint32_t hi = lo + d->per_task > g->cap ? g->cap : (uint32_t)(lo + d->per_task);
    size_t n = 0, cap = 0;
    inlink *out = NULL;
    for (uint32_t s = lo; s < hi; s++) {
        if (g->level[s] == HNSW_ABSENT || is_gone(d, s)) continue;
        int top = g->level[s] < d->top ? g->level[s] : d->top;
        for (int l = 0; l <= top; l++) {
            const uint32_t *links = hnsw_links(g, s, l);
            uint32_t i = 0;
            while (i < links[0] && !is_gone(d, links[1 + i])) i++;
            if (i == links[0]) continue;
            if (n == cap) {
                size_t nc = cap ? 2 * cap : 64;
                inlink *no = hk_realloc(out, nc * sizeof *no);
                if (!no) {
                    atomic_store(&d->nomem, 1);
                    d->found[task] = out;
                    d->nfound[task] = n;
                    return;
                }
                out = no;
                cap = nc;
            }
            out[n++] = (inlink){s, l};
        }
    }
    d->found[task] = out;
    d->nfound[task] = n;
}

static const uint32_t *saved_list(const del_job *d, uint32_t t, int l) {
    size_t lo = 0, hi = d->ngone;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->sorted[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    const uint32_t *p = d->saved[lo];
    size_t per = (size_t)d->g->M0 + 1;
    return l == 0 ? p : p + per + (size_t)(l - 1) * (d->g->M + 1);
}

/* Re-selects s's list at l (which lost links to removed nodes) with the heuristic among
 * its remaining links, the removed neighbours' links at l and, when those leave fewer
 * than the level's maximum, their links in turn. Lists of other nodes are copied under
 * their locks; s's own list is written under its lock. */
static void repair_task(void *arg, size_t task, unsigned worker) {
    del_job *d = arg;
    const hnsw *g = d->g;
    const flat_matrix *m = d->m;
    hnsw_ctx *c = &d->ctx[worker];
    flat_hit *cand = d->cand[worker];
    uint32_t *extra = d->extra[worker];
    uint32_t s = d->in[task].node;
    int l = d->in[task].level;
    uint32_t mmax = hnsw_mmax(g, l);
    size_t cap = repair_cap(g), n = 0, ne = 0;
    uint32_t own[2 * HNSW_MAX_M];
    hnsw_lock(g, s, 1);
    const uint32_t *links = hnsw_links(g, s, l);
    uint32_t nown = links[0];
    memcpy(own, links + 1, nown * sizeof(uint32_t));
    hnsw_unlock(g, s, 1);
    hnsw_visited_reset(c);
    hnsw_seen(c, s);
    for (uint32_t i = 0; i < nown; i++) {
        uint32_t t = own[i];
        if (is_gone(d, t)) {
            const uint32_t *dl = saved_list(d, t, l);
            for (uint32_t j = 0; j < dl[0] && ne < (size_t)g->M0 * g->M0; j++) extra[ne++] = dl[1 + j];
        } else if (!hnsw_seen(c, t)) {
            cand[n++] = (flat_hit){hnsw_ndist(g, m, s, t), t};
        }
    }
    for (size_t i = 0; i < ne && n < cap; i++) {
        uint32_t t = extra[i];
        if (is_gone(d, t) || hnsw_seen(c, t)) continue;
        cand[n++] = (flat_hit){hnsw_ndist(g, m, s, t), t};
    }
    for (size_t i = 0; i < ne && n < mmax; i++) {
        uint32_t t = extra[i];
        if (is_gone(d, t)) continue;
        uint32_t tn = hnsw_copy_links(g, c, t, l, 1);
        for (uint32_t j = 0; j < tn && n < cap; j++) {
            uint32_t u = c->nbuf[j];
            if (is_gone(d, u) || hnsw_seen(c, u)) continue;
            cand[n++] = (flat_hit){hnsw_ndist(g, m, s, u), u};
        }
    }
    qsort(cand, n, sizeof(flat_hit), hnsw_hit_cmp);
    size_t np = hnsw_select(g, m, c, cand, n, mmax, 0);
    hnsw_lock(g, s, 1);
    uint32_t *w = hnsw_links(g, s, l);
    for (size_t i = 0; i < np; i++) hnsw_set_link(w, i, c->pick[i].slot);
    hnsw_set_count(w, np);
    hnsw_unlock(g, s, 1);
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

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

hk_status hnsw_delete(hnsw *g, const flat_matrix *m, uint32_t slot) {
    return hnsw_delete_batch(g, m, &slot, 1);
}

hk_status hnsw_delete_batch(hnsw *g, const flat_matrix *m, const uint32_t *slots, size_t n) {
    if (n == 0) return HK_OK;
    if (m->dim != g->dim)
        return hk_fail(HK_INVALID, "hnsw: matrix dimension %zu, graph %u", m->dim, g->dim);
    for (size_t i = 0; i < n; i++)
        if (slots[i] >= g->cap || g->level[slots[i]] == HNSW_ABSENT)
            return hk_fail(HK_NOT_FOUND, "hnsw: slot %u is not in the graph", slots[i]);
    unsigned workers = hk_pool_workers();
    del_job d;
    memset(&d, 0, sizeof d);
    d.g = g;
    d.m = m;
    d.ngone = n;
    atomic_init(&d.nomem, 0);
    size_t words = ((size_t)g->cap + 63) / 64;
    uint64_t *gone = hk_calloc(words ? words : 1, sizeof *gone);
    uint32_t *sorted = hk_malloc(n * sizeof *sorted);
    d.saved = hk_calloc(n, sizeof *d.saved);
    size_t ntasks = ((size_t)g->cap + 65535) / 65536;
    d.per_task = 65536;
    d.found = hk_calloc(ntasks ? ntasks : 1, sizeof *d.found);
    d.nfound = hk_calloc(ntasks ? ntasks : 1, sizeof *d.nfound);
    d.ctx = hk_calloc(workers, sizeof *d.ctx);
    d.cand = hk_calloc(workers, sizeof *d.cand);
    d.extra = hk_calloc(workers, sizeof *d.extra);
    hk_status st = gone && sorted && d.saved && d.found && d.nfound && d.ctx && d.cand && d.extra
                       ? HK_OK : HK_NOMEM;
    if (st == HK_OK) {
        memcpy(sorted, slots, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_u32);
        for (size_t i = 1; i < n && st == HK_OK; i++)
            if (sorted[i] == sorted[i - 1]) st = HK_INVALID;
    }
    if (st == HK_INVALID) {
        st = hk_fail(HK_INVALID, "hnsw: a slot appears twice in the delete batch");
        goto out;
    }
    d.gone = gone;
    d.sorted = sorted;
    size_t per = (size_t)g->M0 + 1;
    for (size_t i = 0; i < n && st == HK_OK; i++) {
        uint32_t s = sorted[i];
        gone[s >> 6] |= (uint64_t)1 << (s & 63);
        int lv = g->level[s];
        if (lv > d.top) d.top = lv;
        size_t w = per + (size_t)lv * (g->M + 1);
        if (!(d.saved[i] = hk_malloc(w * sizeof(uint32_t)))) st = HK_NOMEM;
        for (int l = 0; l <= lv && st == HK_OK; l++) {
            const uint32_t *links = hnsw_links(g, s, l);
            memcpy(d.saved[i] + (l == 0 ? 0 : per + (size_t)(l - 1) * (g->M + 1)), links,
                   (links[0] + 1) * sizeof(uint32_t));
        }
    }
    for (unsigned w = 0; w < workers && st == HK_OK; w++) {
        st = hnsw_ctx_init(&d.ctx[w], g, 1);
        if (st == HK_OK && (!(d.cand[w] = hk_malloc(repair_cap(g) * sizeof(flat_hit))) ||
                            !(d.extra[w] = hk_malloc((size_t)g->M0 * g->M0 * sizeof(uint32_t)))))
            st = HK_NOMEM;
    }
    if (st != HK_OK) goto out;
    /* Find every list that links to a removed node (nothing changes yet). */
    hk_pool_run(ntasks, scan_task, &d);
    size_t nin = 0;
    for (size_t t = 0; t < ntasks; t++) nin += d.nfound[t];
    if (atomic_load(&d.nomem) || !(d.in = hk_malloc((nin ? nin : 1) * sizeof *d.in))) {
        st = HK_NOMEM;
        goto out;
    }
    for (size_t t = 0, k = 0; t < ntasks; t++) {
        if (d.nfound[t]) memcpy(d.in + k, d.found[t], d.nfound[t] * sizeof *d.in);
        k += d.nfound[t];
    }
    /* From here nothing can fail: unlink, then repair in parallel. */
    for (size_t i = 0; i < n; i++) drop_node(g, sorted[i]);
    hk_pool_run(nin, repair_task, &d);
    if (g->entry != HNSW_NONE && g->level[g->entry] == HNSW_ABSENT) new_entry(g);
out:
    for (size_t i = 0; d.saved && i < n; i++) hk_free(d.saved[i]);
    for (size_t t = 0; d.found && t < ntasks; t++) hk_free(d.found[t]);
    for (unsigned w = 0; w < workers; w++) {
        if (d.ctx) hnsw_ctx_free(&d.ctx[w]);
        if (d.cand) hk_free(d.cand[w]);
        if (d.extra) hk_free(d.extra[w]);
    }
    hk_free(d.ctx);
    hk_free(d.cand);
    hk_free(d.extra);
    hk_free(d.found);
    hk_free(d.nfound);
    hk_free(d.in);
    hk_free(d.saved);
    hk_free(gone);
    hk_free(sorted);
    if (st == HK_NOMEM) return hk_fail(HK_NOMEM, "hnsw: out of memory deleting %zu slots", n);
    return st;
}

/* ---- reachability ---- */

/* Breadth-first over level 0 from the entry point, marking `seen` (cleared first). Starts
 * from the slots in queue[0..n) when n > 0 (already marked). Returns the count reached. */
static size_t bfs0(const hnsw *g, uint64_t *seen, uint32_t *queue, size_t n) {
    size_t head = 0;
    while (head < n) {
        uint32_t s = queue[head++];
        const uint32_t *links = hnsw_links(g, s, 0);
        for (uint32_t i = 0; i < links[0]; i++) {
            uint32_t t = links[1 + i];
            uint64_t bit = (uint64_t)1 << (t & 63);
            if (seen[t >> 6] & bit) continue;
            seen[t >> 6] |= bit;
            queue[n++] = t;
        }
    }
    return n;
}

static size_t reach_all(const hnsw *g, uint64_t *seen, uint32_t *queue) {
    memset(seen, 0, (((size_t)g->cap + 63) / 64) * sizeof *seen);
    if (g->entry == HNSW_NONE) return 0;
    seen[g->entry >> 6] |= (uint64_t)1 << (g->entry & 63);
    queue[0] = g->entry;
    return bfs0(g, seen, queue, 1);
}

hk_status hnsw_unreachable(const hnsw *g, size_t *out) {
    *out = 0;
    if (!g->count) return HK_OK;
    uint64_t *seen = hk_malloc((((size_t)g->cap + 63) / 64) * sizeof *seen);
    uint32_t *queue = hk_malloc((size_t)g->count * sizeof *queue);
    if (!seen || !queue) {
        hk_free(seen);
        hk_free(queue);
        return hk_fail(HK_NOMEM, "hnsw: out of memory checking reachability");
    }
    *out = g->count - reach_all(g, seen, queue);
    hk_free(seen);
    hk_free(queue);
    return HK_OK;
}

hk_status hnsw_connect(hnsw *g, const flat_matrix *m, size_t *relinked) {
    if (relinked) *relinked = 0;
    if (g->count < 2) return HK_OK;
    uint64_t *seen = hk_malloc((((size_t)g->cap + 63) / 64) * sizeof *seen);
    uint32_t *queue = hk_malloc((size_t)g->count * sizeof *queue);
    uint32_t *indeg = hk_malloc((size_t)g->cap * sizeof *indeg);
    hnsw_ctx c;
    memset(&c, 0, sizeof c);
    /* The search for attachment points looks wider than a tiny ef_construction would. */
    size_t ef = g->efc < 100 ? 100 : g->efc;
    hk_status st = seen && queue && indeg ? hnsw_ctx_init(&c, g, ef) : HK_NOMEM;
    size_t fixed = 0;
    /* Each pass relinks every node it finds cut off; a second pass confirms (or catches
     * what a forced link cut, which the in-degree rule below makes rare). */
    for (int pass = 0; pass < 8 && st == HK_OK; pass++) {
        size_t n = reach_all(g, seen, queue);
        if (n == g->count) break;
        memset(indeg, 0, (size_t)g->cap * sizeof *indeg);
        for (uint32_t s = 0; s < g->cap; s++) {
            if (g->level[s] == HNSW_ABSENT) continue;
            const uint32_t *links = hnsw_links(g, s, 0);
            for (uint32_t i = 0; i < links[0]; i++) indeg[links[1 + i]]++;
        }
        for (uint32_t y = 0; y < g->cap; y++) {
            if (g->level[y] == HNSW_ABSENT || (seen[y >> 6] >> (y & 63)) & 1) continue;
            /* Find y's nearest reachable nodes with a walk from the entry point (every
             * node it finds is reachable), then give y an in-link from the nearest that
             * has room in its list; failing that, from the nearest that has a link to a
             * node with another in-link, in place of its farthest such link (so no node
             * loses its only in-link). */
            const float *yv = hnsw_row(m, y);
            flat_hit cur = {hnsw_dist(g, yv, hnsw_row(m, g->entry)), g->entry};
            hnsw_descend(g, m, &c, yv, &cur, g->max_level, 0, 0);
            if (cur.slot == y) /* reachable on an upper level only: start from the entry */
                cur = (flat_hit){hnsw_dist(g, yv, hnsw_row(m, g->entry)), g->entry};
            size_t nf = hnsw_search_layer(g, m, &c, yv, &cur, 1, ef, 0, NULL, y, 0);
            if (c.nomem) {
                st = HK_NOMEM;
                break;
            }
            int done = 0;
            for (size_t i = 0; i < nf && !done; i++) {
                uint32_t e = c.out[i].slot;
                uint32_t *links = hnsw_links(g, e, 0);
                if (!((seen[e >> 6] >> (e & 63)) & 1) || links[0] >= g->M0) continue;
                links[1 + links[0]++] = y;
                done = 1;
            }
            for (size_t i = 0; i < nf && !done; i++) {
                uint32_t e = c.out[i].slot;
                if (!((seen[e >> 6] >> (e & 63)) & 1)) continue;
                uint32_t *links = hnsw_links(g, e, 0);
                uint32_t worst = HNSW_NONE;
                float wd = -INFINITY;
                for (uint32_t j = 0; j < links[0]; j++) {
                    uint32_t z = links[1 + j];
                    if (indeg[z] < 2) continue;
                    float d = hnsw_ndist(g, m, e, z);
                    if (d > wd) {
                        wd = d;
                        worst = j;
                    }
                }
                if (worst == HNSW_NONE) continue;
                indeg[links[1 + worst]]--;
                links[1 + worst] = y;
                done = 1;
            }
            /* Every nearby list is full of sole in-links (inner product with many equal
             * vectors makes such hubs): splice y into one of their edges, e -> z becoming
             * e -> y -> z, when y's own list has room; z keeps its in-link through y. */
            uint32_t *ylinks = hnsw_links(g, y, 0);
            for (size_t i = 0; i < nf && !done && ylinks[0] < g->M0; i++) {
                uint32_t e = c.out[i].slot;
                if (!((seen[e >> 6] >> (e & 63)) & 1)) continue;
                uint32_t *links = hnsw_links(g, e, 0);
                if (!links[0]) continue;
                uint32_t j = links[0] - 1, z = links[1 + j]; /* the list's last link */
                int has = 0;
                for (uint32_t k = 0; k < ylinks[0]; k++) has |= ylinks[1 + k] == z;
                if (z == y) continue;
                links[1 + j] = y;
                if (!has) ylinks[1 + ylinks[0]++] = z;
                else indeg[z]--;
                done = 1;
            }
            if (!done) continue; /* nothing to attach to: left for the next pass */
            indeg[y]++;
            fixed++;
            /* y and what it leads to are reachable now. */
            seen[y >> 6] |= (uint64_t)1 << (y & 63);
            queue[0] = y;
            bfs0(g, seen, queue, 1);
        }
    }
    hnsw_ctx_free(&c);
    hk_free(seen);
    hk_free(queue);
    hk_free(indeg);
    if (relinked) *relinked = fixed;
    if (st != HK_OK) return hk_fail(HK_NOMEM, "hnsw: out of memory reconnecting the graph");
    return HK_OK;
}
