/*
 * hnsw_search.c — walking the graph: the per-thread scratch, greedy descent, the
 * ef-bounded layer search (Algorithm 2), neighbour selection (Algorithm 4) and queries.
 *
 * Decisions:
 *  - Visited sets are bitmaps over the graph's capacity, allocated per operation: at
 *    1M slots that is 128 KB, cheaper than the search it serves, and it keeps searches
 *    free of shared state so any number may run at once.
 *  - Neighbour lists are copied before they are expanded. In a parallel build the copy
 *    is taken without the node's stripe lock, with an acquire load of the count that the
 *    writer (who holds the lock) stores last: a walker may see a list half-rewritten, but
 *    every entry it sees is a node, which is all a walk needs, and it never waits for a
 *    lock. Unvisited neighbours' rows are prefetched before any distance is computed, and
 *    measured together by the gather kernel (vec_kernels.l2sq_ids), whose loads from
 *    several rows miss the cache at once rather than one row after another.
 *  - The unfiltered layer search keeps one sorted pool (pool_search) instead of two heaps
 *    while ef <= HNSW_POOL_MAX_EF; larger ef keep the heaps (an insert into the pool moves
 *    half of it on average, which grows with ef where the heaps' log(ef) does not).
 *    (Prefetching the rows of the next node's neighbours while expanding one was tried:
 *    with the gather kernel it cost more than it saved, 10-20% of a build.)
 *  - Filters follow the "traverse all, admit allowed" rule: every node may guide the
 *    walk, only allowed ones enter the ef results. That walk degrades as the filter gets
 *    selective (it must touch about ef / selectivity nodes), so filters allowing fewer
 *    than count / HNSW_EXACT_DIVISOR or ef * M slots are answered by flat_search over the
 *    allowed slots, which then costs less than the walk and is exact.
 *  - A query returns k results whenever k live candidates exist: if the walk comes up
 *    short (a filter that clusters away from the entry, or a region cut off by deletes),
 *    the query is redone exactly.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hnsw_int.h"

int hnsw_hit_cmp(const void *pa, const void *pb) {
    flat_hit a = *(const flat_hit *)pa, b = *(const flat_hit *)pb;
    if (hnsw_hit_less(a, b)) return -1;
    return hnsw_hit_less(b, a);
}

hk_status hnsw_ctx_init(hnsw_ctx *c, const hnsw *g, size_t ef) {
    memset(c, 0, sizeof *c);
    c->vwords = ((size_t)g->cap + 63) / 64;
    c->ef = ef;
    c->capcand = ef < 64 ? 64 : ef;
    c->visited = hk_calloc(c->vwords ? c->vwords : 1, sizeof(uint64_t));
    c->captouched = c->vwords / 8 > 64 ? c->vwords / 8 : 64;
    c->touched = hk_malloc((c->captouched + 2 * HNSW_MAX_M) * sizeof(uint32_t)); /* take_fresh */
    c->cand = hk_calloc(c->capcand, sizeof(flat_hit));
    c->res = hk_calloc(ef + 1, sizeof(flat_hit));
    c->out = hk_calloc(ef + 1, sizeof(flat_hit));
    c->eps = hk_calloc(ef + 1, sizeof(flat_hit));
    c->pick = hk_calloc(g->M0 + 1, sizeof(flat_hit));
    c->nbuf = hk_calloc(g->M0 + 1, sizeof(uint32_t));
    c->done = hk_calloc(ef + 1, 1);
    if (!c->visited || !c->touched || !c->cand || !c->res || !c->out || !c->eps || !c->pick || !c->nbuf ||
        !c->done) {
        hnsw_ctx_free(c);
        return hk_fail(HK_NOMEM, "hnsw: out of memory for search scratch (ef %zu)", ef);
    }
    return HK_OK;
}

void hnsw_ctx_free(hnsw_ctx *c) {
    hk_free(c->visited);
    hk_free(c->touched);
    hk_free(c->cand);
    hk_free(c->res);
    hk_free(c->out);
    hk_free(c->eps);
    hk_free(c->pick);
    hk_free(c->nbuf);
    hk_free(c->done);
    hk_free(c->qbuf);
    memset(c, 0, sizeof *c);
}

uint32_t hnsw_copy_links(const hnsw *g, hnsw_ctx *c, uint32_t s, int l, int lock) {
    const uint32_t *links = hnsw_links(g, s, l);
    if (!lock) {
        uint32_t n = links[0];
        for (uint32_t i = 0; i < n; i++) c->nbuf[i] = links[1 + i];
        return n;
    }
    /* lock-free against writers holding the list's lock: see hnsw_set_count */
    uint32_t n = __atomic_load_n(&links[0], __ATOMIC_ACQUIRE), mmax = hnsw_mmax(g, l);
    if (n > mmax) n = mmax;
    for (uint32_t i = 0; i < n; i++) c->nbuf[i] = __atomic_load_n(&links[1 + i], __ATOMIC_RELAXED);
    return n;
}

/* Codes are measured one at a time, prefetched whole this many neighbours ahead of the
 * one measured: enough to hide memory latency behind the distances, few enough that the
 * loads in flight fit the core's miss buffers. Float rows go to the gather kernel
 * (hnsw_dist_ids), which overlaps their misses itself, with only their first lines
 * prefetched. */
#define HNSW_PREFETCH_AHEAD 3

static void prefetch_code(const flat_matrix *m, uint32_t s) {
    /* an int8 code of 512 dimensions is 8 lines, read at once */
    size_t cs = m->codes->code_size;
    const char *cp = (const char *)(m->codes->codes + (size_t)s * cs);
    for (size_t off = 0; off < cs && off < 1024; off += 64) __builtin_prefetch(cp + off);
}

/* The first line of a row (code): the random access that misses; the rest streams. */
static void prefetch_head(const flat_matrix *m, uint32_t s) {
    if (m->qbuf) __builtin_prefetch(m->codes->codes + (size_t)s * m->codes->code_size);
    else __builtin_prefetch(hnsw_row(m, s));
}

void hnsw_descend(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, const float *q,
                  flat_hit *cur, int top, int stop, int lock) {
    for (int l = top; l > stop; l--) {
        int changed = 1;
        while (changed) {
            changed = 0;
            uint32_t n = hnsw_copy_links(g, c, cur->slot, l, lock);
            float dist[2 * HNSW_MAX_M];
            if (m->qbuf) {
                for (uint32_t i = 0; i < n; i++) prefetch_code(m, c->nbuf[i]);
                for (uint32_t i = 0; i < n; i++) dist[i] = hnsw_qdist(g, m, q, c->nbuf[i]);
            } else {
                for (uint32_t i = 0; i < n; i++) prefetch_head(m, c->nbuf[i]);
                hnsw_dist_ids(g, m, q, c->nbuf, n, dist);
            }
            for (uint32_t i = 0; i < n; i++) {
                flat_hit h = {dist[i], c->nbuf[i]};
                if (hnsw_hit_less(h, *cur)) {
                    *cur = h;
                    changed = 1;
                }
            }
        }
    }
}

/* Min-heap of candidates (nearest on top). */
static int cand_push(hnsw_ctx *c, flat_hit h) {
    if (c->ncand == c->capcand) {
        flat_hit *n = hk_realloc(c->cand, 2 * c->capcand * sizeof(flat_hit));
        if (!n) {
            c->nomem = 1;
            return -1;
        }
        c->cand = n;
        c->capcand *= 2;
    }
    size_t i = c->ncand++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hnsw_hit_less(h, c->cand[p])) break;
        c->cand[i] = c->cand[p];
        i = p;
    }
    c->cand[i] = h;
    return 0;
}

static flat_hit cand_pop(hnsw_ctx *c) {
    flat_hit top = c->cand[0], last = c->cand[--c->ncand];
    size_t i = 0, n = c->ncand;
    for (;;) {
        size_t ch = 2 * i + 1;
        if (ch >= n) break;
        if (ch + 1 < n && hnsw_hit_less(c->cand[ch + 1], c->cand[ch])) ch++;
        if (!hnsw_hit_less(c->cand[ch], last)) break;
        c->cand[i] = c->cand[ch];
        i = ch;
    }
    if (n) c->cand[i] = last;
    return top;
}

/* Max-heap of the ef best results (worst on top); drops the worst when full. */
static void res_push(hnsw_ctx *c, size_t ef, flat_hit h) {
    flat_hit *r = c->res;
    size_t i;
    if (c->nres < ef) {
        i = c->nres++;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!hnsw_hit_less(r[p], h)) break;
            r[i] = r[p];
            i = p;
        }
    } else {
        if (!hnsw_hit_less(h, r[0])) return;
        i = 0;
        for (;;) {
            size_t ch = 2 * i + 1;
            if (ch >= c->nres) break;
            if (ch + 1 < c->nres && hnsw_hit_less(r[ch], r[ch + 1])) ch++;
            if (!hnsw_hit_less(h, r[ch])) break;
            r[i] = r[ch];
            i = ch;
        }
    }
    r[i] = h;
}

/* Removes the worst of the results. */
static void res_pop(hnsw_ctx *c) {
    flat_hit *r = c->res, last = r[--c->nres];
    size_t i = 0, n = c->nres;
    for (;;) {
        size_t ch = 2 * i + 1;
        if (ch >= n) break;
        if (ch + 1 < n && hnsw_hit_less(r[ch], r[ch + 1])) ch++;
        if (!hnsw_hit_less(last, r[ch])) break;
        r[i] = r[ch];
        i = ch;
    }
    if (n) r[i] = last;
}

static int admitted(const roaring_bitmap_t *allow, uint32_t s) {
    return !allow || roaring_bitmap_contains(allow, s);
}

/* Inserts h into the pool (ascending, at most ef, done[] flagging expanded entries),
 * dropping the worst when full; h must beat the worst of a full pool. Returns where it
 * went. */
static inline size_t pool_insert(flat_hit *p, uint8_t *done, size_t *n, size_t ef, flat_hit h) {
    /* branch-free binary search: the comparisons are unpredictable */
    size_t lo = 0, len = *n;
    while (len > 0) {
        size_t half = len / 2;
        flat_hit b = p[lo + half];
        size_t after = (size_t)((b.dist < h.dist) | ((b.dist == h.dist) & (b.slot < h.slot)));
        size_t mask = (size_t)0 - after; /* masks, not ?:, which compilers turn into branches */
        lo += (half + 1) & mask;
        len = half - (after & ~len & 1); /* after: len - half - 1 */
    }
    size_t move = *n - lo - (*n == ef);
    memmove(p + lo + 1, p + lo, move * sizeof(flat_hit));
    memmove(done + lo + 1, done + lo, move);
    p[lo] = h;
    done[lo] = 0;
    if (*n < ef) (*n)++;
    return lo;
}

/* Distances from q to a node's fresh neighbours (their first lines, and the first codes
 * whole, already prefetched): codes one at a time, whole codes prefetched a few ahead;
 * rows through the gather kernel. */
static void measure_fresh(const hnsw *g, const flat_matrix *m, const float *q,
                          const uint32_t *fresh, uint32_t nf, float *dist) {
    if (m->qbuf) {
        for (uint32_t i = 0; i < nf; i++) {
            if (i + HNSW_PREFETCH_AHEAD < nf) prefetch_code(m, fresh[i + HNSW_PREFETCH_AHEAD]);
            dist[i] = hnsw_qdist(g, m, q, fresh[i]);
        }
    } else {
        hnsw_dist_ids(g, m, q, fresh, nf, dist);
    }
}

/* Copies the entries of list[0..n) not visited yet to fresh, marking them visited;
 * returns their count. hnsw_seen without its branches, which mispredict about as often
 * as they go either way: the touched word is recorded unconditionally and kept when it
 * was empty (c->touched has room for one list past captouched). */
static inline uint32_t take_fresh(hnsw_ctx *c, const uint32_t *list, uint32_t n, uint32_t *fresh) {
    uint64_t *vis = c->visited;
    uint32_t *touched = c->touched;
    size_t nt = c->ntouched;
    uint32_t nf = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = __atomic_load_n(&list[i], __ATOMIC_RELAXED); /* see hnsw_set_link */
        uint64_t w = vis[s >> 6], bit = (uint64_t)1 << (s & 63);
        vis[s >> 6] = w | bit;
        touched[nt] = s >> 6;
        nt += w == 0;
        fresh[nf] = s;
        nf += (w & bit) == 0;
    }
    if (nt >= c->captouched) {
        c->touched_all = 1;
        nt = c->captouched;
    }
    c->ntouched = nt;
    return nf;
}

/* The unfiltered layer search keeps one sorted pool, the ef best seen so far with a flag
 * on those expanded, in c->out, instead of a candidate heap beside a result heap: it
 * expands the nearest unexpanded entry until none is left. That is the same walk (a
 * candidate the heaps would expand is exactly an unexpanded one among the ef best, and
 * the heap search stops when the nearest candidate falls outside them), without the
 * heap traffic, and the output needs no sorting. */
/* Up to this ef the pool beats the heaps; above it the memmove per insert dominates
 * (100K x 32, per layer search: pool 3.8 ms against heaps 3.0 ms at ef 4096, 23 against
 * 11 at 16384, 151 against 43 at 65536). */
#define HNSW_POOL_MAX_EF 1024

static size_t pool_search(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, const float *q,
                          const flat_hit *eps, size_t nep, size_t ef, int l, int lock) {
    flat_hit *p = c->out;
    uint8_t *done = c->done;
    size_t n = 0, next = 0; /* no entry below next is unexpanded */
    if (ef == 0) return 0;
    for (size_t i = 0; i < nep; i++) {
        if (hnsw_seen(c, eps[i].slot)) continue;
        if (n == ef && !hnsw_hit_less(eps[i], p[n - 1])) continue;
        pool_insert(p, done, &n, ef, eps[i]);
    }
    uint32_t fresh[2 * HNSW_MAX_M];
    float dist[2 * HNSW_MAX_M];
    uint32_t mmax = hnsw_mmax(g, l);
    for (;;) {
        while (next < n && done[next]) next++;
        if (next == n) break;
        uint32_t top = p[next].slot;
        done[next] = 1;
        /* the list expanded next is likely the following unexpanded one's */
        for (size_t j = next + 1; j < n; j++)
            if (!done[j]) {
                __builtin_prefetch(hnsw_links(g, p[j].slot, l));
                break;
            }
        /* the list is read in place, as hnsw_copy_links reads it */
        const uint32_t *links = hnsw_links(g, top, l);
        uint32_t cnt = __atomic_load_n(&links[0], __ATOMIC_ACQUIRE);
        if (cnt > mmax) cnt = mmax;
        uint32_t nf = take_fresh(c, links + 1, cnt, fresh);
        for (uint32_t i = 0; i < nf; i++) {
            if (m->qbuf && i < HNSW_PREFETCH_AHEAD) prefetch_code(m, fresh[i]);
            else prefetch_head(m, fresh[i]);
        }
        measure_fresh(g, m, q, fresh, nf, dist);
        for (uint32_t i = 0; i < nf; i++) {
            flat_hit h = {dist[i], fresh[i]};
            if (n == ef && !hnsw_hit_less(h, p[n - 1])) continue;
            size_t at = pool_insert(p, done, &n, ef, h);
            if (at < next) next = at;
        }
    }
    return n;
}

size_t hnsw_search_layer(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, const float *q,
                         const flat_hit *eps, size_t nep, size_t ef, int l,
                         const roaring_bitmap_t *allow, uint32_t exclude, int lock) {
    hnsw_visited_reset(c);
    if (!allow && ef <= HNSW_POOL_MAX_EF) {
        if (exclude != HNSW_NONE) hnsw_seen(c, exclude);
        return pool_search(g, m, c, q, eps, nep, ef, l, lock);
    }
    c->ncand = c->nres = 0;
    if (exclude != HNSW_NONE) hnsw_seen(c, exclude);
    for (size_t i = 0; i < nep; i++) {
        if (hnsw_seen(c, eps[i].slot)) continue;
        if (cand_push(c, eps[i]) != 0) break;
        if (admitted(allow, eps[i].slot)) res_push(c, ef, eps[i]);
    }
    uint32_t fresh[2 * HNSW_MAX_M];
    float dist[2 * HNSW_MAX_M];
    while (c->ncand) {
        flat_hit top = cand_pop(c);
        if (c->nres == ef && hnsw_hit_less(c->res[0], top)) break;
        /* the list expanded next is likely the new top's: start loading it */
        if (c->ncand) __builtin_prefetch(hnsw_links(g, c->cand[0].slot, l));
        uint32_t n = hnsw_copy_links(g, c, top.slot, l, lock), nf = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t s = c->nbuf[i];
            if (hnsw_seen(c, s)) continue;
            if (m->qbuf && nf < HNSW_PREFETCH_AHEAD) prefetch_code(m, s);
            else prefetch_head(m, s);
            fresh[nf++] = s;
        }
        measure_fresh(g, m, q, fresh, nf, dist);
        for (uint32_t i = 0; i < nf; i++) {
            flat_hit h = {dist[i], fresh[i]};
            if (c->nres == ef && !hnsw_hit_less(h, c->res[0])) continue;
            if (cand_push(c, h) != 0) break;
            if (admitted(allow, h.slot)) res_push(c, ef, h);
        }
    }
    /* sorted output by popping the max-heap from the back (no comparison sort) */
    size_t n = c->nres;
    for (size_t i = n; i > 0; i--) {
        c->out[i - 1] = c->res[0];
        res_pop(c);
    }
    return n;
}

size_t hnsw_select(const hnsw *g, const flat_matrix *m, hnsw_ctx *c, const flat_hit *cand,
                   size_t n, size_t mmax, int keep_pruned) {
    size_t np = 0;
    if (!hnsw_on_codes(m)) {
        /* on the rows, four kept ones at a time through the gather kernel */
        uint32_t kept[2 * HNSW_MAX_M];
        for (size_t i = 0; i < n && np < mmax; i++) {
            int keep = 1;
            for (size_t j = 0; j < np && keep; j += 4) {
                float d[4];
                size_t b = np - j < 4 ? np - j : 4;
                hnsw_dist_ids(g, m, hnsw_row(m, cand[i].slot), kept + j, b, d);
                for (size_t t = 0; t < b; t++) keep &= !(d[t] < cand[i].dist);
            }
            if (keep) {
                kept[np] = cand[i].slot;
                c->pick[np++] = cand[i];
            }
        }
    } else {
        for (size_t i = 0; i < n && np < mmax; i++) {
            int keep = 1;
            for (size_t j = 0; j < np && keep; j++)
                if (hnsw_ndist(g, m, cand[i].slot, c->pick[j].slot) < cand[i].dist) keep = 0;
            if (keep) c->pick[np++] = cand[i];
        }
    }
    for (size_t i = 0; keep_pruned && i < n && np < mmax; i++) {
        size_t j = 0;
        while (j < np && c->pick[j].slot != cand[i].slot) j++;
        if (j == np) c->pick[np++] = cand[i];
    }
    return np;
}

/* Allowed slots that are nodes, stopping once `enough` are found. */
static size_t allowed_nodes(const hnsw *g, const roaring_bitmap_t *allow, size_t enough) {
    size_t n = 0;
    roaring_uint32_iterator_t *it = roaring_create_iterator(allow);
    if (!it) return enough;
    for (; it->has_value && n < enough; roaring_advance_uint32_iterator(it))
        if (it->current_value < g->cap && g->level[it->current_value] != HNSW_ABSENT) n++;
    roaring_free_uint32_iterator(it);
    return n;
}

static hk_status exact(const flat_matrix *m, const float *query, size_t k,
                       const roaring_bitmap_t *allow, flat_hit *hits, size_t *n) {
    flat_hit *h = NULL;
    size_t cnt = 0;
    hk_status st = flat_search(m, query, 1, k, allow, 0, 0.0f, &h, &cnt);
    if (st != HK_OK) return st;
    memcpy(hits, h, cnt * sizeof(flat_hit));
    *n = cnt;
    hk_free(h);
    return HK_OK;
}

/* Search scratch is kept per thread between queries (a fresh one per query would cost an
 * allocation and zeroing of the visited bitmap, 128 KB at a million slots, each time):
 * reused while it is large enough for the graph and ef, freed when the thread exits. */
typedef struct tl_scratch {
    hnsw_ctx c;
    uint32_t cap, M0;
    int ready;
} tl_scratch;

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static int tl_ok;

static void tl_destroy(void *p) {
    tl_scratch *t = p;
    if (t->ready) hnsw_ctx_free(&t->c);
    hk_free(t);
}
static void tl_init(void) { tl_ok = pthread_key_create(&tl_key, tl_destroy) == 0; }

/* Scratch for a search of g with ef: the thread's cached one, or *local when there is no
 * thread-local storage to be had (the caller then frees it). */
static hnsw_ctx *scratch_get(const hnsw *g, size_t ef, hnsw_ctx *local, int *is_local) {
    pthread_once(&tl_once, tl_init);
    tl_scratch *t = tl_ok ? pthread_getspecific(tl_key) : NULL;
    if (tl_ok && !t && (t = hk_calloc(1, sizeof *t)) && pthread_setspecific(tl_key, t) != 0) {
        hk_free(t);
        t = NULL;
    }
    if (t) {
        if (t->ready && (t->cap < g->cap || t->M0 != g->M0 || t->c.ef < ef)) {
            hnsw_ctx_free(&t->c);
            t->ready = 0;
        }
        if (!t->ready) {
            /* Room to grow: a collection's graph grows by doubling. */
            if (hnsw_ctx_init(&t->c, g, ef < 64 ? 64 : ef) != HK_OK) return NULL;
            t->cap = g->cap;
            t->M0 = g->M0;
            t->ready = 1;
        }
        t->c.nomem = 0;
        *is_local = 0;
        return &t->c;
    }
    *is_local = 1;
    return hnsw_ctx_init(local, g, ef) == HK_OK ? local : NULL;
}

hk_status hnsw_search(const hnsw *g, const flat_matrix *m, const float *query, size_t k,
                      size_t ef, const roaring_bitmap_t *allow, flat_hit *hits, size_t *n) {
    *n = 0;
    if (m->dim != g->dim)
        return hk_fail(HK_DIMENSION, "hnsw: matrix has dimension %zu, graph %u", m->dim, g->dim);
    if (k == 0 || g->count == 0) return HK_OK;
    if (ef < k) ef = k;
    if (ef > HNSW_MAX_EF) ef = HNSW_MAX_EF;
    if (allow) {
        uint64_t na = roaring_bitmap_get_cardinality(allow);
        if (na == 0) return HK_OK;
        if (na < g->count / HNSW_EXACT_DIVISOR || na < (uint64_t)ef * g->M)
            return exact(m, query, k, allow, hits, n);
    }
    hnsw_ctx local;
    int is_local = 0;
    hnsw_ctx *c = scratch_get(g, ef, &local, &is_local);
    if (!c) return hk_fail(HK_NOMEM, "hnsw: out of memory for search scratch (ef %zu)", ef);
    flat_hit cur = {hnsw_qdist(g, m, query, g->entry), g->entry};
    hnsw_descend(g, m, c, query, &cur, g->max_level, 0, 0);
    size_t found = hnsw_search_layer(g, m, c, query, &cur, 1, ef, 0, allow, HNSW_NONE, 0);
    int nomem = c->nomem;
    if (found > k) found = k;
    memcpy(hits, c->out, found * sizeof(flat_hit));
    if (is_local) hnsw_ctx_free(c);
    if (nomem) return hk_fail(HK_NOMEM, "hnsw: out of memory during search");
    *n = found;
    if (found < k) {
        size_t avail = allow ? allowed_nodes(g, allow, k) : g->count;
        if (avail > found) return exact(m, query, k, allow, hits, n);
    }
    return HK_OK;
}
