/*
 * flat.c — exact top-k and range search by scanning every candidate row.
 *
 * Decisions:
 *  - Candidates are either every slot or, with an allow bitmap, the bitmap turned into a
 *    sorted slot array once; both are index ranges that split evenly into chunks for the
 *    worker pool. Dead slots are skipped wherever they appear.
 *  - Collectors belong to a (chunk, query) pair, never to a worker id, so the result does
 *    not depend on which thread ran what (the pool runs everything on the caller when it
 *    is busy). Each is a bounded max-heap of min(k, candidates) hits, or, for a range
 *    query with k == 0, a growing list. The merge sorts by (dist, slot), so ties always
 *    go to the smaller slot whatever the chunking.
 *  - A candidate is offered only when dist <= bound (the heap top once full, else the
 *    radius or +inf); NaN fails that test, so no NaN ever enters a heap.
 *  - Fewer than FLAT_BATCH_MIN queries scan with the distance kernels, one task per
 *    (query, chunk). From FLAT_BATCH_MIN on, queries are grouped and each tile of
 *    rows x queries is one sgemm (alpha -2 for L2, -1 for ip/cosine), L2 completed by
 *    ||x||^2 + ||q||^2 and clamped at 0. Tasks are (query group, row chunk) pairs with
 *    OpenBLAS held to one thread so the pool owns the parallelism. Measured on 2 cores,
 *    100K x 128, k=10 (idle machine, best of runs): 100 queries took 236 ms as single
 *    scans, 57-62 ms with sgemm threaded by OpenBLAS over sequential blocks, 52-73 ms
 *    split by query groups, 41-43 ms split by 4096-row blocks and 27-29 ms split into
 *    4-8 row chunks of 512-1024-row tiles; 10K queries took 2.6-3.3 s split by 256- or
 *    512-query groups, 3.5 s split by row blocks and 4.4-4.7 s threaded by OpenBLAS.
 *    Hence: row chunks until there are enough query groups to feed every worker, then
 *    query groups alone, with ~512 KB row tiles. At 4 queries sgemm already won (8 ms
 *    against 11 ms), at 1-2 the scan did (5 ms against 6 ms).
 *  - sgemm distances are not exact: ||x||^2 + ||q||^2 - 2 q.x cancels badly when vectors
 *    are far from the origin or a query equals a stored vector. So batches only select
 *    candidates. With e, a worst-case bound on |sgemm distance - kernel distance| for the
 *    query ((3 gamma_dim + 8u)(max ||x||^2 + ||q||^2) for l2), each query keeps its k best
 *    by the approximate distance plus every row within 2e of the k-th (the fringe), or,
 *    for a radius, every row within radius + e. Their distances are then recomputed with
 *    the single-query kernels. A row left out was approximately more than 2e beyond the
 *    k-th, so exactly it is strictly beyond the k-th exact result: batches return exactly
 *    what single queries return, with no rescans.
 *  - Allowed slots in batches are gathered into a contiguous block unless the block's
 *    slots already form a run, so a filter still gets matrix products.
 *  - openblas_set_num_threads(1) is process-wide; HEKTOR is the only OpenBLAS user.
 */
#include "flat.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../vec/distance.h"
#include "core.h"

#define FLAT_BATCH_MIN 4                     /* queries from which sgemm wins */
#define FLAT_QUERY_BLOCK 256                 /* queries per sgemm tile, at most */
#define FLAT_BLOCK_FLOATS ((size_t)1 << 17)  /* rows per tile: 512 KB of floats... */
#define FLAT_BLOCK_MIN_ROWS 16               /* ...but at least this many */
#define FLAT_BLOCK_MAX_ROWS 4096             /* ...and at most this many */
#define FLAT_TASK_FLOATS ((size_t)1 << 18)   /* single scans: floats of rows per task */
#define FLAT_TASKS_PER_WORKER 4              /* enough tasks to even out slow workers */
#define FLAT_SCAN_ROWS 256                   /* rows per kernel call in single scans */
#define FLAT_PREFETCH 4                      /* slots ahead prefetched in sparse scans */

typedef struct collector {
    flat_hit *h;
    size_t n;
    size_t cap;  /* heap capacity when bounded, allocated length of a list otherwise */
    float slack; /* batch: bound on |approximate - exact| distance for this query */
    flat_hit *fringe; /* batch, bounded: hits outside the heap within 2 slack of its top */
    size_t nf, capf;
} collector;

typedef struct search {
    const flat_matrix *m;
    const float *queries;
    const float *qnorms;   /* batch L2 only: nq squared norms */
    const uint32_t *slots; /* candidate slots, sorted; NULL = every slot */
    size_t ncand;
    size_t nq;
    int bounded;           /* k > 0: heaps of capacity cap; else unbounded lists */
    float radius;          /* +inf without a radius */
    int l2;
    size_t nchunks, chunk; /* candidates [c*chunk, (c+1)*chunk) form chunk c */
    size_t qblock, brows;  /* batch tiles: queries x rows */
    collector *coll;       /* nchunks * nq, chunk-major */
    const vec_kernels *kern;
    float *slack;          /* batch: per-query error bound of the sgemm distances */
    atomic_int nomem;
} search;

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

static void *alloc_array(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) return NULL;
    return hk_malloc(count * size);
}

static inline int hit_less(float da, uint32_t sa, float db, uint32_t sb) {
    return da < db || (da == db && sa < sb);
}

static int hit_cmp(const void *pa, const void *pb) {
    const flat_hit *a = pa, *b = pb;
    if (hit_less(a->dist, a->slot, b->dist, b->slot)) return -1;
    return hit_less(b->dist, b->slot, a->dist, a->slot);
}

/* Largest distance still worth offering to c. Batches keep, beyond the heap's top, a
 * margin of twice the error bound (the fringe), so no row that could belong in the exact
 * result is dropped on the strength of an approximate distance. */
static inline float coll_bound(const search *s, const collector *c) {
    float r = s->radius + c->slack;
    if (!s->bounded || c->n < c->cap) return r;
    float b = c->h[0].dist + 2 * c->slack;
    return b < r ? b : r;
}

static void heap_push(collector *c, float d, uint32_t slot) {
    flat_hit *h = c->h;
    size_t i;
    if (c->n < c->cap) {
        i = c->n++;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!hit_less(h[p].dist, h[p].slot, d, slot)) break;
            h[i] = h[p];
            i = p;
        }
    } else {
        if (!hit_less(d, slot, h[0].dist, h[0].slot)) return;
        i = 0;
        for (;;) {
            size_t ch = 2 * i + 1;
            if (ch >= c->n) break;
            if (ch + 1 < c->n && hit_less(h[ch].dist, h[ch].slot, h[ch + 1].dist, h[ch + 1].slot))
                ch++;
            if (!hit_less(d, slot, h[ch].dist, h[ch].slot)) break;
            h[i] = h[ch];
            i = ch;
        }
    }
    h[i] = (flat_hit){.dist = d, .slot = slot};
}

/* Doubles a growing hit array; returns 0 (and flags the search) when memory runs out. */
static int hits_grow(search *s, flat_hit **arr, size_t *cap, size_t first) {
    size_t ncap = *cap ? *cap * 2 : first;
    flat_hit *h = ncap <= SIZE_MAX / sizeof *h ? hk_realloc(*arr, ncap * sizeof *h) : NULL;
    if (h == NULL) {
        atomic_store(&s->nomem, 1);
        return 0;
    }
    *arr = h;
    *cap = ncap;
    return 1;
}

/* Keeps a hit the heap has no room for, if it is within the fringe margin. */
static int fringe_add(search *s, collector *c, flat_hit x) {
    float limit = c->h[0].dist + 2 * c->slack;
    if (x.dist > limit) return 1;
    if (c->nf == c->capf) {
        /* The heap top only falls: drop entries that fell out of the margin first. */
        size_t n = 0;
        for (size_t i = 0; i < c->nf; i++)
            if (c->fringe[i].dist <= limit) c->fringe[n++] = c->fringe[i];
        c->nf = n;
        if ((n > c->capf / 2 || c->capf == 0) && !hits_grow(s, &c->fringe, &c->capf, 16))
            return 0;
    }
    c->fringe[c->nf++] = x;
    return 1;
}

/* Adds a hit that passed coll_bound; returns 0 when a list cannot grow. */
static int coll_offer(search *s, collector *c, float d, uint32_t slot) {
    if (s->bounded) {
        if (c->slack == 0 || c->n < c->cap) {
            heap_push(c, d, slot);
            return 1;
        }
        flat_hit x = {.dist = d, .slot = slot};
        if (hit_less(d, slot, c->h[0].dist, c->h[0].slot)) {
            x = c->h[0];
            heap_push(c, d, slot);
        }
        return fringe_add(s, c, x);
    }
    if (c->n == c->cap && !hits_grow(s, &c->h, &c->cap, 64)) return 0;
    c->h[c->n++] = (flat_hit){.dist = d, .slot = slot};
    return 1;
}

/* ---- single queries: distance kernels over one chunk ---- */

static void scan_range(search *s, collector *c, const float *q, size_t i0, size_t i1) {
    const flat_matrix *m = s->m;
    void (*many)(const float *, const float *, size_t, size_t, float *) =
        s->l2 ? s->kern->l2sq_many : s->kern->dot_many;
    float sign = s->l2 ? 1.0f : -1.0f;
    float buf[FLAT_SCAN_ROWS];
    float bound = coll_bound(s, c);
    for (size_t b = i0; b < i1; b += FLAT_SCAN_ROWS) {
        size_t nr = min_sz(FLAT_SCAN_ROWS, i1 - b);
        many(q, m->rows + b * m->dim, nr, m->dim, buf);
        for (size_t r = 0; r < nr; r++) {
            float d = sign * buf[r];
            if (d <= bound && m->live[b + r]) {
                if (!coll_offer(s, c, d, (uint32_t)(b + r))) return;
                bound = coll_bound(s, c);
            }
        }
    }
}

static void scan_slots(search *s, collector *c, const float *q, size_t i0, size_t i1) {
    const flat_matrix *m = s->m;
    vec_dist_fn dist = s->l2 ? s->kern->l2sq : s->kern->dot;
    float sign = s->l2 ? 1.0f : -1.0f;
    size_t dim = m->dim;
    float bound = coll_bound(s, c);
    for (size_t i = i0; i < i1; i++) {
        if (i + FLAT_PREFETCH < i1) {
            const char *ahead = (const char *)(m->rows + (size_t)s->slots[i + FLAT_PREFETCH] * dim);
            for (size_t off = 0; off < dim * sizeof(float); off += 64) __builtin_prefetch(ahead + off);
        }
        uint32_t slot = s->slots[i];
        if (!m->live[slot]) continue;
        float d = sign * dist(q, m->rows + (size_t)slot * dim, dim);
        if (d <= bound) {
            if (!coll_offer(s, c, d, slot)) return;
            bound = coll_bound(s, c);
        }
    }
}

static void single_task(void *ctx, size_t task, unsigned worker) {
    search *s = ctx;
    size_t q = task / s->nchunks, ch = task % s->nchunks;
    size_t i0 = ch * s->chunk, i1 = min_sz(i0 + s->chunk, s->ncand);
    collector *c = &s->coll[ch * s->nq + q];
    const float *qv = s->queries + q * s->m->dim;
    if (s->slots)
        scan_slots(s, c, qv, i0, i1);
    else
        scan_range(s, c, qv, i0, i1);
}

/* ---- batches: sgemm tiles ---- */

static pthread_once_t flat_blas_once = PTHREAD_ONCE_INIT;
static void flat_blas_single_thread(void) { openblas_set_num_threads(1); }

/* Offers one query's row of scores for a block; returns 0 on allocation failure. */
static int batch_offer(search *s, collector *c, const float *scores, const float *xn,
                       float qn, const uint32_t *bslots, size_t first, size_t nr) {
    const uint8_t *live = s->m->live;
    float bound = coll_bound(s, c);
    for (size_t r = 0; r < nr; r++) {
        /* Most rows fail the bound: test 16 at a time in a loop compilers vectorize. */
        if ((r & 15) == 0 && r + 16 <= nr) {
            int any = 0;
            if (s->l2)
                for (size_t i = r; i < r + 16; i++) any |= scores[i] + xn[i] + qn <= bound;
            else
                for (size_t i = r; i < r + 16; i++) any |= scores[i] <= bound;
            if (!any) {
                r += 15;
                continue;
            }
        }
        float d = scores[r];
        if (s->l2) {
            d = d + xn[r] + qn;
            if (d < 0) d = 0;
        }
        if (d <= bound) {
            uint32_t slot = bslots ? bslots[r] : (uint32_t)(first + r);
            if (!live[slot]) continue;
            if (!coll_offer(s, c, d, slot)) return 0;
            bound = coll_bound(s, c);
        }
    }
    return 1;
}

static void batch_task(void *ctx, size_t task, unsigned worker) {
    search *s = ctx;
    const flat_matrix *m = s->m;
    size_t dim = m->dim;
    size_t g = task / s->nchunks, ch = task % s->nchunks;
    size_t q0 = g * s->qblock, nqb = min_sz(s->qblock, s->nq - q0);
    size_t i0 = ch * s->chunk, i1 = min_sz(i0 + s->chunk, s->ncand);
    size_t br = s->brows;

    float *scores = alloc_array(nqb * br, sizeof(float));
    float *xn = s->l2 ? alloc_array(br, sizeof(float)) : NULL;
    float *gather = s->slots ? hk_aligned_alloc(br * dim * sizeof(float)) : NULL;
    if (!scores || (s->l2 && !xn) || (s->slots && !gather)) {
        atomic_store(&s->nomem, 1);
        goto out;
    }
    for (size_t b0 = i0; b0 < i1; b0 += br) {
        size_t nr = min_sz(br, i1 - b0);
        const uint32_t *bslots = s->slots ? s->slots + b0 : NULL;
        size_t first = bslots ? bslots[0] : b0;
        const float *rows = m->rows + first * dim;
        if (bslots && bslots[nr - 1] - bslots[0] != nr - 1) {
            for (size_t r = 0; r < nr; r++)
                memcpy(gather + r * dim, m->rows + (size_t)bslots[r] * dim, dim * sizeof(float));
            rows = gather;
        } else {
            bslots = NULL;
        }
        if (s->l2) {
            for (size_t r = 0; r < nr; r++) {
                size_t slot = bslots ? bslots[r] : first + r;
                xn[r] = m->norms_sq ? m->norms_sq[slot] : vec_norm_sq(rows + r * dim, dim);
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nqb, (int)nr, (int)dim,
                    s->l2 ? -2.0f : -1.0f, s->queries + q0 * dim, (int)dim, rows, (int)dim,
                    0.0f, scores, (int)nr);
        for (size_t j = 0; j < nqb; j++) {
            collector *c = &s->coll[ch * s->nq + q0 + j];
            float qn = s->l2 ? s->qnorms[q0 + j] : 0.0f;
            if (!batch_offer(s, c, scores + j * nr, xn, qn, bslots, first, nr)) goto out;
        }
    }
out:
    hk_free(scores);
    hk_free(xn);
    hk_aligned_free(gather);
}

/* ---- driver ---- */

static hk_status merge(search *s, flat_hit **hits, size_t *counts, size_t k) {
    for (size_t q = 0; q < s->nq; q++) {
        size_t total = 0;
        for (size_t ch = 0; ch < s->nchunks; ch++) {
            const collector *c = &s->coll[ch * s->nq + q];
            total += c->n + c->nf;
        }
        if (total == 0) continue;
        flat_hit *out = alloc_array(total, sizeof *out);
        if (out == NULL) return hk_fail(HK_NOMEM, "flat search: out of memory for %zu hits", total);
        size_t n = 0;
        for (size_t ch = 0; ch < s->nchunks; ch++) {
            const collector *c = &s->coll[ch * s->nq + q];
            if (c->n) memcpy(out + n, c->h, c->n * sizeof *out);
            n += c->n;
            if (c->nf) memcpy(out + n, c->fringe, c->nf * sizeof *out);
            n += c->nf;
        }
        qsort(out, total, sizeof *out, hit_cmp);
        if (k && total > k) {
            /* Batches keep every candidate within the margin of the k-th; others keep k. */
            float margin = s->slack ? 2 * s->slack[q] : 0;
            n = k;
            while (margin > 0 && n < total && out[n].dist <= out[k - 1].dist + margin) n++;
            flat_hit *shrunk = hk_realloc(out, n * sizeof *out);
            if (shrunk) out = shrunk;
        }
        hits[q] = out;
        counts[q] = n;
    }
    return HK_OK;
}

/* Batch candidates -> exact results: recompute each candidate's distance with the
 * single-query kernels, apply the radius, sort and keep k. Every row left out had an
 * approximate distance beyond the k-th best plus twice the error bound, so its exact
 * distance is strictly worse than the k-th exact one: the result is what a single-query
 * scan returns. */
static void refine(search *s, flat_hit **hits, size_t *counts, size_t k) {
    const flat_matrix *m = s->m;
    vec_dist_fn dist = s->l2 ? s->kern->l2sq : s->kern->dot;
    float sign = s->l2 ? 1.0f : -1.0f;
    for (size_t q = 0; q < s->nq; q++) {
        const float *qv = s->queries + q * m->dim;
        flat_hit *h = hits[q];
        size_t n = 0;
        for (size_t i = 0; i < counts[q]; i++) {
            float d = sign * dist(qv, m->rows + (size_t)h[i].slot * m->dim, m->dim);
            if (d <= s->radius) h[n++] = (flat_hit){.dist = d, .slot = h[i].slot};
        }
        if (n > 1) qsort(h, n, sizeof *h, hit_cmp);
        if (k && n > k) n = k;
        counts[q] = n;
    }
}

/* Turns the allow bitmap into the sorted slots below nslots. */
static hk_status allowed_slots(const flat_matrix *m, const roaring_bitmap_t *allow,
                               uint32_t **out, size_t *n) {
    uint64_t card = roaring_bitmap_get_cardinality(allow);
    *out = NULL;
    *n = 0;
    if (card == 0) return HK_OK;
    uint32_t *slots = alloc_array((size_t)card, sizeof *slots);
    if (slots == NULL) return hk_fail(HK_NOMEM, "flat search: out of memory for %llu allowed slots",
                                      (unsigned long long)card);
    roaring_bitmap_to_uint32_array(allow, slots);
    size_t lo = 0, hi = (size_t)card;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (slots[mid] < m->nslots) lo = mid + 1;
        else hi = mid;
    }
    *out = slots;
    *n = lo;
    return HK_OK;
}

static void plan_single(search *s, unsigned workers) {
    size_t want = s->ncand * s->m->dim / FLAT_TASK_FLOATS;
    size_t nchunks = want < 1 ? 1 : min_sz(want, (size_t)FLAT_TASKS_PER_WORKER * workers);
    s->chunk = div_up(s->ncand, nchunks);
    s->nchunks = div_up(s->ncand, s->chunk);
}

static void plan_batch(search *s, unsigned workers) {
    size_t br = FLAT_BLOCK_FLOATS / s->m->dim;
    br = br < FLAT_BLOCK_MIN_ROWS ? FLAT_BLOCK_MIN_ROWS : min_sz(br, FLAT_BLOCK_MAX_ROWS);
    s->brows = br;
    size_t ngroups = div_up(s->nq, FLAT_QUERY_BLOCK);
    s->qblock = div_up(s->nq, ngroups);
    size_t target = (size_t)FLAT_TASKS_PER_WORKER * workers;
    size_t nblocks = div_up(s->ncand, br);
    size_t nchunks = ngroups >= target ? 1 : min_sz(nblocks, div_up(target, ngroups));
    s->chunk = div_up(nblocks, nchunks) * br;
    s->nchunks = div_up(s->ncand, s->chunk);
}

/* Worst-case error of the sgemm distances for each query (see the file comment). */
static hk_status batch_slack(search *s) {
    const flat_matrix *m = s->m;
    size_t dim = m->dim;
    double u = 1.0 / 16777216.0, gamma = (double)dim * u / (1.0 - (double)dim * u);
    double maxn = 0;
    for (size_t i = 0; i < s->ncand; i++) {
        size_t slot = s->slots ? s->slots[i] : i;
        if (!m->live[slot]) continue;
        double n = m->norms_sq ? m->norms_sq[slot] : vec_norm_sq(m->rows + slot * dim, dim);
        if (n > maxn) maxn = n;
    }
    s->slack = alloc_array(s->nq, sizeof *s->slack);
    if (!s->slack) return hk_fail(HK_NOMEM, "flat search: out of memory");
    for (size_t q = 0; q < s->nq; q++) {
        double qn = vec_norm_sq(s->queries + q * dim, dim);
        /* sgemm form vs exact value, plus the single-query kernel's own rounding. */
        double e = s->l2 ? (3 * gamma + 8 * u) * (maxn + qn) : (2 * gamma + 4 * u) * sqrt(maxn * qn);
        s->slack[q] = (float)(e * 1.01) + 1e-30f;
    }
    return HK_OK;
}

static hk_status run(search *s, size_t k, flat_hit **hits, size_t *counts) {
    int batch = s->nq >= FLAT_BATCH_MIN;
    unsigned workers = hk_pool_workers();
    if (batch)
        plan_batch(s, workers);
    else
        plan_single(s, workers);

    size_t ncoll = s->nchunks * s->nq;
    size_t cap = s->bounded ? min_sz(k, s->ncand) : 0;
    flat_hit *heaps = NULL;
    float *qnorms = NULL;
    hk_status st = batch ? batch_slack(s) : HK_OK;
    if (st) return st;
    s->coll = alloc_array(ncoll, sizeof *s->coll);
    if (s->coll == NULL) {
        hk_free(s->slack);
        s->slack = NULL;
        return hk_fail(HK_NOMEM, "flat search: out of memory for %zu heaps", ncoll);
    }
    memset(s->coll, 0, ncoll * sizeof *s->coll);
    if (s->bounded) {
        heaps = ncoll <= SIZE_MAX / cap ? alloc_array(ncoll * cap, sizeof *heaps) : NULL;
        if (heaps == NULL) {
            st = hk_fail(HK_NOMEM, "flat search: out of memory for %zu heaps of %zu hits", ncoll, cap);
            goto out;
        }
    }
    for (size_t i = 0; i < ncoll; i++)
        s->coll[i] = (collector){.h = heaps ? heaps + i * cap : NULL, .cap = cap,
                                 .slack = batch ? s->slack[i % s->nq] : 0.0f};

    if (batch) {
        if (s->l2) {
            qnorms = alloc_array(s->nq, sizeof *qnorms);
            if (qnorms == NULL) {
                st = hk_fail(HK_NOMEM, "flat search: out of memory for %zu query norms", s->nq);
                goto out;
            }
            for (size_t q = 0; q < s->nq; q++) qnorms[q] = vec_norm_sq(s->queries + q * s->m->dim, s->m->dim);
            s->qnorms = qnorms;
        }
        pthread_once(&flat_blas_once, flat_blas_single_thread);
        hk_pool_run(div_up(s->nq, s->qblock) * s->nchunks, batch_task, s);
    } else {
        hk_pool_run(s->nq * s->nchunks, single_task, s);
    }
    if (atomic_load(&s->nomem)) {
        st = hk_fail(HK_NOMEM, "flat search: out of memory while scanning %zu candidates", s->ncand);
        goto out;
    }
    st = merge(s, hits, counts, k);
    if (!st && batch) refine(s, hits, counts, k);
out:
    for (size_t i = 0; i < ncoll; i++) {
        if (!s->bounded) hk_free(s->coll[i].h);
        hk_free(s->coll[i].fringe);
    }
    hk_free(heaps);
    hk_free(qnorms);
    hk_free(s->slack);
    s->slack = NULL;
    hk_free(s->coll);
    return st;
}

hk_status flat_search(const flat_matrix *m, const float *queries, size_t nq, size_t k,
                      const roaring_bitmap_t *allow, int has_radius, float radius_dist,
                      flat_hit **hits, size_t *counts) {
    for (size_t q = 0; q < nq; q++) {
        hits[q] = NULL;
        counts[q] = 0;
    }
    if (nq == 0 || m->nslots == 0 || (k == 0 && !has_radius)) return HK_OK;

    search s = {
        .m = m,
        .queries = queries,
        .nq = nq,
        .bounded = k > 0,
        .radius = has_radius ? radius_dist : INFINITY,
        .l2 = m->metric == HK_METRIC_L2,
        .kern = vec_best(),
        .ncand = m->nslots,
    };
    atomic_init(&s.nomem, 0);
    uint32_t *slots = NULL;
    if (allow) {
        hk_status st = allowed_slots(m, allow, &slots, &s.ncand);
        if (st != HK_OK) return st;
        s.slots = slots;
    }
    hk_status st = s.ncand ? run(&s, k, hits, counts) : HK_OK;
    hk_free(slots);
    if (st != HK_OK) {
        for (size_t q = 0; q < nq; q++) {
            hk_free(hits[q]);
            hits[q] = NULL;
            counts[q] = 0;
        }
    }
    return st;
}
