/*
 * kmeans.c — k-means++ seeding and Lloyd iterations on the worker pool.
 *
 * Decisions:
 *  - Nearest centroids, d > 16: sgemm tiles of at most KM_TILE_K centroids against blocks
 *    of rows sized so a tile of scores stays in L2 (~256 KB), each score then completed
 *    by ||c||^2 (||x||^2 is the same for every centroid of a row).
 *  - d <= 16 (PQ sub-vectors): sgemm with an inner dimension this small runs far below
 *    its peak, so qkernels' panel_argmin computes the same scores with the centroids
 *    transposed 16 to a vector and keeps the best and runner-up per row in registers.
 *    Measured on this machine (2 cores, AVX-512), one thread, 65,536 rows, k = 256, the
 *    whole km_assign: d = 8 10 ms against 11-16 ms through sgemm, d = 16 12-15 against
 *    16-17 ms; from d = 32 sgemm is as fast or faster (22-27 ms, d = 64 33-41 against
 *    52-55 ms).
 *  - Both score forms cancel badly, so they only select: every centroid within 2e of the
 *    best score, e a bound on the score's rounding error ((3 gamma_d + 8u)(||x||^2 +
 *    max ||c||^2), as in flat.c), is measured directly and the smallest direct distance
 *    wins, ties to the smaller index. The true nearest is always among those measured,
 *    so the answer is the direct scan's, independent of blocking; usually only the best
 *    is measured (panels: when the runner-up is beyond 2e).
 *  - Lloyd iterations on the panel path skip rows whose centroid cannot have changed
 *    (Hamerly's bounds, see pruned_task): the answers are those of a full scan, and on
 *    structureless data (uniform rows, k = 256, d = 8) 40-80% of the rows are still
 *    scanned per iteration, fewer on clustered data.
 *  - Determinism for any worker count: the pool splits rows into fixed blocks, each
 *    row's answer depends on that row alone, sums over rows run in row order on one
 *    thread (the objective, the seeding weights per fixed block) or per cluster over the
 *    cluster's rows in row order (the update, after a counting sort).
 *  - k-means++ keeps each row's D^2 (distance to its nearest seed so far) and per-block
 *    sums, so drawing a row costs a walk over the block sums and one block. Each seed
 *    costs a pass over the data; for d <= 16 over a transposed copy, 16 rows a vector.
 *  - One iteration is update then assignment, so the objective returned is that of the
 *    returned centroids and never comes from stale assignments. Lloyd's steps cannot
 *    raise it; a split can, by a term of the order of the perturbation, and the
 *    convergence test is skipped in an iteration that split.
 *  - Empty clusters take half of the largest cluster: its centroid is copied and both
 *    copies are moved apart by +-(|c_j| + sigma)/1024 in alternating coordinates (sigma
 *    the cluster's RMS spread per coordinate), and the counts are halved, so the next
 *    empty cluster of the same update picks another donor. Clusters whose rows all sit
 *    on their centroid do not donate (splitting them cannot help); when no cluster has a
 *    spread, empty ones keep their centroid (the data has fewer than k distinct rows).
 *  - Progress counts seeding as one iteration; a cancelled call writes nothing.
 */
#include "kmeans.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../vec/distance.h"
#include "core.h"
#include "qkernels.h"

#define KM_TILE_K 1024                  /* centroids per sgemm tile */
#define KM_TILE_FLOATS ((size_t)1 << 16) /* scores per tile: 256 KB */
#define KM_BLOCK_MIN 16
#define KM_BLOCK_MAX 1024
#define KM_TASK_ROWS 2048               /* rows per pool task */
#define KM_SEED_ROWS 4096               /* rows per D^2 block while seeding (whole panels) */
#define KM_SEED_PARALLEL ((size_t)1 << 16) /* floats (n d) from which seeding uses the pool */
#define KM_STOP_REL 1e-5
#define KM_PRUNE_MARGIN 1e-5          /* relative, on a row's distance to its centroid */
#define KM_SPLIT_EPS (1.0 / 1024.0)

static pthread_once_t km_blas_once = PTHREAD_ONCE_INIT;
static void km_blas_single_thread(void) { openblas_set_num_threads(1); }
void km_blas_init(void) { pthread_once(&km_blas_once, km_blas_single_thread); }

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static void *alloc_array(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) return NULL;
    return hk_malloc(count * size != 0 ? count * size : 1);
}

static int report(hk_progress_fn progress, void *ud, double fraction) {
    return progress != NULL && progress(ud, "kmeans", fraction) != 0;
}

/* ---- nearest centroids ---- */

static size_t tile_k(const km_codebook *cb) { return min_sz(cb->k, KM_TILE_K); }

static size_t block_rows(const km_codebook *cb) {
    size_t b = KM_TILE_FLOATS / tile_k(cb);
    return b < KM_BLOCK_MIN ? KM_BLOCK_MIN : b > KM_BLOCK_MAX ? KM_BLOCK_MAX : b;
}

hk_status km_codebook_init(km_codebook *cb, const float *c, size_t k, size_t d) {
    *cb = (km_codebook){.c = c, .k = k, .d = d};
    cb->cnorm = alloc_array(k, sizeof(float));
    if (cb->cnorm == NULL) return hk_fail(HK_NOMEM, "k-means: out of memory for %zu centroid norms", k);
    for (size_t i = 0; i < k; i++) {
        cb->cnorm[i] = vec_norm_sq(c + i * d, d);
        if (cb->cnorm[i] > cb->cnorm_max) cb->cnorm_max = cb->cnorm[i];
    }
    if (d <= QK_PANEL_MAX_D) {
        size_t np = div_up(k, QK_PANEL);
        cb->panels = hk_aligned_alloc(np * QK_PANEL * (d + 1) * sizeof(float));
        if (cb->panels == NULL) {
            km_codebook_free(cb);
            return hk_fail(HK_NOMEM, "k-means: out of memory for %zu centroid panels", np);
        }
        cb->npanels = np;
        cb->panel_norms = cb->panels + np * QK_PANEL * d;
        for (size_t i = 0; i < np * QK_PANEL; i++) {
            float *pc = cb->panels + (i / QK_PANEL) * d * QK_PANEL + i % QK_PANEL;
            for (size_t q = 0; q < d; q++) pc[q * QK_PANEL] = i < k ? c[i * d + q] : 0.0f;
            cb->panel_norms[i] = i < k ? cb->cnorm[i] : INFINITY;
        }
    }
    km_blas_init();
    return HK_OK;
}

void km_codebook_free(km_codebook *cb) {
    if (cb == NULL) return;
    hk_free(cb->cnorm);
    hk_aligned_free(cb->panels);
    *cb = (km_codebook){0};
}

/* Scratch: scores (B x KT) and a contiguous copy of the rows (B x d) for sgemm, per-row
 * norm, best score, best distance and best index (B each), candidate list (KT). */
size_t km_scratch_size(const km_codebook *cb) {
    size_t b = block_rows(cb), kt = tile_k(cb);
    size_t gemm = cb->panels ? 0 : align64(b * kt * sizeof(float)) + align64(b * cb->d * sizeof(float));
    return gemm + 4 * align64(b * sizeof(float)) + align64(kt * sizeof(uint32_t));
}

/* Rounding bound factor of a score (see the file comment), times ||x||^2 + max ||c||^2. */
static double score_slack(size_t d) {
    double u = 1.0 / 16777216.0, gamma = (double)d * u / (1.0 - (double)d * u);
    return (3 * gamma + 8 * u) * 1.01;
}

/* The direct distance of the panel path (small d: a plain loop beats a kernel call). */
static inline float direct_l2(const float *a, const float *b, size_t d) {
    float s = 0;
    for (size_t q = 0; q < d; q++) {
        float t = a[q] - b[q];
        s += t * t;
    }
    return s;
}

typedef struct nearest_scratch {
    float *scores, *rows, *xn, *best_s, *best_d;
    uint32_t *best_i, *cand;
} nearest_scratch;

static nearest_scratch carve(const km_codebook *cb, void *scratch) {
    size_t b = block_rows(cb), kt = tile_k(cb);
    uint8_t *p = scratch;
    nearest_scratch s = {0};
    if (!cb->panels) {
        s.scores = (float *)p;
        p += align64(b * kt * sizeof(float));
        s.rows = (float *)p;
        p += align64(b * cb->d * sizeof(float));
    }
    s.xn = (float *)p;
    p += align64(b * sizeof(float));
    s.best_s = (float *)p;
    p += align64(b * sizeof(float));
    s.best_d = (float *)p;
    p += align64(b * sizeof(float));
    s.best_i = (uint32_t *)p;
    p += align64(b * sizeof(uint32_t));
    s.cand = (uint32_t *)p;
    return s;
}

/* Small d: panel_argmin gives the best score and the runner-up per row; when the
 * runner-up is beyond the margin the best is the answer, else every centroid is measured. */
static void nearest_panels(const km_codebook *cb, const float *x, size_t ldx, size_t n,
                           nearest_scratch *s, uint32_t *assign, float *dist, float *lower) {
    const qk_kernels *qk = qk_best();
    size_t d = cb->d, bmax = block_rows(cb);
    float slack = (float)score_slack(d);
    float *second = s->best_d;
    for (size_t r0 = 0; r0 < n; r0 += bmax) {
        size_t nr = min_sz(bmax, n - r0);
        const float *xb = x + r0 * ldx;
        qk->panel_argmin(xb, ldx, nr, d, cb->panels, cb->panel_norms, cb->npanels, s->best_s, s->best_i,
                         second);
        for (size_t r = 0; r < nr; r++) {
            const float *xr = xb + r * ldx;
            float xn = 0;
            for (size_t q = 0; q < d; q++) xn += xr[q] * xr[q];
            float e = slack * (xn + cb->cnorm_max) + 1e-30f;
            uint32_t bi = s->best_i[r];
            float bd;
            if (second[r] > s->best_s[r] + 2 * e) {
                bd = direct_l2(xr, cb->c + (size_t)bi * d, d);
                if (lower) {
                    float lb = xn + second[r] - 2 * e;
                    lower[r0 + r] = lb > 0 ? sqrtf(lb) : 0.0f;
                }
            } else {
                if (lower) lower[r0 + r] = 0;
                bd = INFINITY;
                bi = 0;
                for (size_t c = 0; c < cb->k; c++) {
                    float dd = direct_l2(xr, cb->c + c * d, d);
                    if (dd < bd) {
                        bd = dd;
                        bi = (uint32_t)c;
                    }
                }
            }
            assign[r0 + r] = bi;
            if (dist) dist[r0 + r] = bd;
        }
    }
}

static void nearest_sgemm(const km_codebook *cb, const float *x, size_t ldx, size_t n,
                          nearest_scratch *sc, uint32_t *assign, float *dist) {
    const qk_kernels *qk = qk_best();
    vec_dist_fn l2sq = vec_best()->l2sq;
    size_t d = cb->d, k = cb->k, kt_max = tile_k(cb), bmax = block_rows(cb);
    double slack = score_slack(d);
    for (size_t r0 = 0; r0 < n; r0 += bmax) {
        size_t nr = min_sz(bmax, n - r0);
        const float *xb = x + r0 * ldx;
        size_t ld = ldx;
        if (ldx != d) {
            for (size_t r = 0; r < nr; r++) memcpy(sc->rows + r * d, xb + r * ldx, d * sizeof(float));
            xb = sc->rows;
            ld = d;
        }
        for (size_t r = 0; r < nr; r++) {
            sc->xn[r] = vec_norm_sq(xb + r * ld, d);
            sc->best_s[r] = INFINITY;
            sc->best_d[r] = INFINITY;
            sc->best_i[r] = 0;
        }
        for (size_t c0 = 0; c0 < k; c0 += kt_max) {
            size_t kt = min_sz(kt_max, k - c0);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)kt, (int)d, -2.0f, xb,
                        (int)ld, cb->c + c0 * d, (int)d, 0.0f, sc->scores, (int)kt);
            for (size_t r = 0; r < nr; r++) {
                float *s = sc->scores + r * kt;
                float m = qk->add_min(s, cb->cnorm + c0, kt);
                if (m < sc->best_s[r]) sc->best_s[r] = m;
                float e = (float)(slack * ((double)sc->xn[r] + cb->cnorm_max)) + 1e-30f;
                size_t nc = qk->select_le(s, kt, sc->best_s[r] + 2 * e, sc->cand);
                for (size_t i = 0; i < nc; i++) {
                    size_t c = c0 + sc->cand[i];
                    float dd = l2sq(xb + r * ld, cb->c + c * d, d);
                    if (dd < sc->best_d[r]) {
                        sc->best_d[r] = dd;
                        sc->best_i[r] = (uint32_t)c;
                    }
                }
            }
        }
        memcpy(assign + r0, sc->best_i, nr * sizeof(uint32_t));
        if (dist) memcpy(dist + r0, sc->best_d, nr * sizeof(float));
    }
}

/* km_nearest, and with lower (panels only) a lower bound on each row's distance (not
 * squared) to its second-nearest centroid: from the runner-up's score less its rounding
 * bound, or 0 after a near tie. */
static void nearest_rows(const km_codebook *cb, const float *x, size_t ldx, size_t n, void *scratch,
                         uint32_t *assign, float *dist, float *lower) {
    nearest_scratch s = carve(cb, scratch);
    if (cb->panels)
        nearest_panels(cb, x, ldx, n, &s, assign, dist, lower);
    else
        nearest_sgemm(cb, x, ldx, n, &s, assign, dist);
}

void km_nearest(const km_codebook *cb, const float *x, size_t ldx, size_t n, void *scratch,
                uint32_t *assign, float *dist) {
    nearest_rows(cb, x, ldx, n, scratch, assign, dist, NULL);
}

/* Bounds that let an iteration skip rows whose centroid cannot have changed (Hamerly,
 * "Making k-means even faster", 2010), kept for the panel path. */
typedef struct prune {
    double *lower;          /* n: lower bound on the distance to the second-nearest centroid */
    const float *half_sep;  /* k: half the distance from each centroid to its nearest other */
    double move1, move2;    /* the two largest centroid movements of the last update */
    size_t move1_c;         /* the centroid that moved move1 */
    int active;             /* 0 for the first assignment: every row is scanned */
} prune;

typedef struct assign_job {
    const km_codebook *cb;
    const float *x;
    size_t n;
    uint32_t *assign;
    float *dist;
    prune *pr;         /* NULL: no bounds */
    uint8_t *scratch;  /* one slice per worker (scratch_size() bytes) */
    size_t slice;
} assign_job;

/* Per worker: km_nearest's scratch, then for pruned passes the rows to rescan (indices,
 * a gathered copy, their results). */
static size_t scratch_size(const km_codebook *cb, int pruned) {
    size_t s = km_scratch_size(cb);
    if (pruned)
        s += align64(KM_TASK_ROWS * sizeof(uint32_t)) * 2 + align64(KM_TASK_ROWS * cb->d * sizeof(float)) +
             2 * align64(KM_TASK_ROWS * sizeof(float));
    return s;
}

/* A row keeps its centroid a when its distance to a, u, is below both its lower bound l
 * on the second-nearest distance (lowered by the largest move of any other centroid) and
 * half the gap from a to its nearest other centroid: no other centroid can be nearer.
 * KM_PRUNE_MARGIN covers the float rounding of u, so a kept row is exactly the row a full
 * scan would keep. The other rows are gathered and scanned. */
static void pruned_task(assign_job *j, size_t r0, size_t nr, uint8_t *sc) {
    const km_codebook *cb = j->cb;
    prune *pr = j->pr;
    size_t d = cb->d;
    uint8_t *p = sc + km_scratch_size(cb);
    uint32_t *todo = (uint32_t *)p;
    p += align64(KM_TASK_ROWS * sizeof(uint32_t));
    uint32_t *ta = (uint32_t *)p;
    p += align64(KM_TASK_ROWS * sizeof(uint32_t));
    float *rows = (float *)p;
    p += align64(KM_TASK_ROWS * d * sizeof(float));
    float *td = (float *)p;
    p += align64(KM_TASK_ROWS * sizeof(float));
    float *tl = (float *)p;
    size_t nt = 0;
    for (size_t i = r0; i < r0 + nr; i++) {
        const float *xi = j->x + i * d;
        if (!pr->active) {
            for (size_t q = 0; q < d; q++) rows[nt * d + q] = xi[q];
            todo[nt++] = (uint32_t)i;
            continue;
        }
        uint32_t a = j->assign[i];
        double l = pr->lower[i] - (a == pr->move1_c ? pr->move2 : pr->move1);
        float dd = direct_l2(xi, cb->c + (size_t)a * d, d);
        double z = l > pr->half_sep[a] ? l : pr->half_sep[a];
        if (z > 0 && dd * (1 + 2 * KM_PRUNE_MARGIN) < z * z) {
            j->dist[i] = dd;
            pr->lower[i] = l;
        } else {
            for (size_t q = 0; q < d; q++) rows[nt * d + q] = xi[q]; /* d <= 16: no memcpy call */
            todo[nt++] = (uint32_t)i;
        }
    }
    nearest_rows(cb, rows, d, nt, sc, ta, td, tl);
    for (size_t t = 0; t < nt; t++) {
        j->assign[todo[t]] = ta[t];
        j->dist[todo[t]] = td[t];
        pr->lower[todo[t]] = tl[t];
    }
}

static void assign_task(void *ctx, size_t task, unsigned worker) {
    assign_job *j = ctx;
    size_t r0 = task * KM_TASK_ROWS, nr = min_sz(KM_TASK_ROWS, j->n - r0);
    uint8_t *sc = j->scratch + worker * j->slice;
    if (j->pr)
        pruned_task(j, r0, nr, sc);
    else
        nearest_rows(j->cb, j->x + r0 * j->cb->d, j->cb->d, nr, sc, j->assign + r0, j->dist ? j->dist + r0 : NULL,
                     NULL);
}

/* Per-worker scratch for assign_rows; free with hk_aligned_free. */
static uint8_t *alloc_scratch(const km_codebook *cb, int pruned, size_t *slice) {
    unsigned workers = hk_pool_workers();
    *slice = scratch_size(cb, pruned);
    uint8_t *s = *slice <= SIZE_MAX / workers ? hk_aligned_alloc(*slice * workers) : NULL;
    if (s == NULL) hk_fail(HK_NOMEM, "k-means: out of memory for %u x %zu bytes of scratch", workers, *slice);
    return s;
}

static void assign_rows(const km_codebook *cb, const float *x, size_t n, uint32_t *assign, float *dist,
                        prune *pr, uint8_t *scratch, size_t slice) {
    assign_job j = {.cb = cb, .x = x, .n = n, .assign = assign, .dist = dist, .pr = pr, .scratch = scratch,
                    .slice = slice};
    hk_pool_run(div_up(n, KM_TASK_ROWS), assign_task, &j);
}

hk_status km_assign(const float *x, size_t n, size_t d, const float *centroids, size_t k,
                    uint32_t *assign, float *dist) {
    if (!x || !centroids || !assign) return hk_fail(HK_INVALID, "k-means assign: NULL argument");
    if (n == 0 || d == 0 || k == 0)
        return hk_fail(HK_INVALID, "k-means assign: n (%zu), d (%zu) and k (%zu) must be at least 1", n, d, k);
    if (d > INT32_MAX / 2 || k > UINT32_MAX)
        return hk_fail(HK_INVALID, "k-means assign: d (%zu) or k (%zu) is too large", d, k);
    km_codebook cb;
    hk_status st = km_codebook_init(&cb, centroids, k, d);
    if (st) return st;
    size_t slice;
    uint8_t *scratch = alloc_scratch(&cb, 0, &slice);
    if (scratch) assign_rows(&cb, x, n, assign, dist, NULL, scratch, slice);
    else st = HK_NOMEM;
    hk_aligned_free(scratch);
    km_codebook_free(&cb);
    return st;
}

/* ---- k-means++ seeding ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rand01(uint64_t *s) { return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

typedef struct seed_job {
    const float *x;
    const float *xt; /* d <= 16: the rows in qkernels.h panels; else NULL */
    size_t n, d;
    const float *c;  /* the newest seed */
    float *d2;       /* n: squared distance to the nearest seed so far */
    double *bsum;    /* per block of KM_SEED_ROWS rows: sum of d2 */
    int first;
} seed_job;

static void seed_task(void *ctx, size_t task, unsigned worker) {
    seed_job *j = ctx;
    size_t r0 = task * KM_SEED_ROWS, nr = min_sz(KM_SEED_ROWS, j->n - r0);
    if (j->xt) {
        j->bsum[task] = qk_best()->seed_update(j->xt + r0 * j->d, nr, j->d, j->c, j->d2 + r0, j->first);
        return;
    }
    vec_dist_fn l2sq = vec_best()->l2sq;
    double sum = 0;
    for (size_t i = r0; i < r0 + nr; i++) {
        float dd = l2sq(j->x + i * j->d, j->c, j->d);
        if (j->first || dd < j->d2[i]) j->d2[i] = dd;
        sum += j->d2[i];
    }
    j->bsum[task] = sum;
}

/* A row drawn with probability proportional to d2 (uniformly when every d2 is 0). */
static size_t draw_row(const seed_job *j, size_t nblocks, uint64_t *rng) {
    double total = 0;
    for (size_t b = 0; b < nblocks; b++) total += j->bsum[b];
    if (!(total > 0)) return (size_t)(splitmix64(rng) % j->n);
    double r = rand01(rng) * total;
    size_t b = 0;
    while (b + 1 < nblocks && r >= j->bsum[b]) r -= j->bsum[b++];
    size_t r0 = b * KM_SEED_ROWS, r1 = min_sz(r0 + KM_SEED_ROWS, j->n), last = r0;
    for (size_t i = r0; i < r1; i++) {
        if (j->d2[i] <= 0) continue;
        if (r < j->d2[i]) return i;
        r -= j->d2[i];
        last = i;
    }
    return last; /* rounding ran past the block's end: its last row with weight */
}

hk_status km_seed(const float *x, size_t n, size_t d, size_t k, uint64_t seed, float *centroids) {
    uint64_t rng = seed;
    size_t nblocks = div_up(n, KM_SEED_ROWS), np = div_up(n, QK_PANEL);
    float *d2 = alloc_array(n, sizeof(float));
    double *bsum = alloc_array(nblocks, sizeof(double));
    /* Small d: a transposed copy, so one vector holds 16 rows (the data is small); large
     * d: rows as they are, each distance a vectorized kernel call. */
    int panels = d <= QK_PANEL_MAX_D;
    float *xt = panels ? hk_aligned_alloc(np * QK_PANEL * d * sizeof(float)) : NULL;
    if (!d2 || !bsum || (panels && !xt)) {
        hk_free(d2);
        hk_free(bsum);
        hk_aligned_free(xt);
        return hk_fail(HK_NOMEM, "k-means: out of memory for seeding %zu rows", n);
    }
    for (size_t i = 0; panels && i < np * QK_PANEL; i++) {
        float *pt = xt + (i / QK_PANEL) * d * QK_PANEL + i % QK_PANEL;
        for (size_t q = 0; q < d; q++) pt[q * QK_PANEL] = i < n ? x[i * d + q] : 0.0f;
    }
    seed_job j = {.x = x, .xt = xt, .n = n, .d = d, .d2 = d2, .bsum = bsum, .first = 1};
    int parallel = nblocks > 1 && n * d >= KM_SEED_PARALLEL;
    size_t row = (size_t)(splitmix64(&rng) % n);
    for (size_t c = 0; c < k; c++) {
        memcpy(centroids + c * d, x + row * d, d * sizeof(float));
        if (c + 1 == k) break;
        j.c = centroids + c * d;
        if (parallel)
            hk_pool_run(nblocks, seed_task, &j);
        else
            for (size_t b = 0; b < nblocks; b++) seed_task(&j, b, 0);
        j.first = 0;
        row = draw_row(&j, nblocks, &rng);
    }
    hk_free(d2);
    hk_free(bsum);
    hk_aligned_free(xt);
    return HK_OK;
}

/* ---- Lloyd ---- */

typedef struct lloyd {
    const float *x;
    size_t n, d, k;
    float *c;         /* k x d, the working centroids */
    uint32_t *assign; /* n */
    float *dist;      /* n */
    uint32_t *order;  /* n: rows grouped by cluster, ascending within each */
    size_t *start;    /* k + 1: cluster c's rows are order[start[c] .. start[c+1]) */
    size_t *count;    /* k: cluster sizes as the splits see them */
    double *sse;      /* k: squared distances of the cluster's rows to its new centroid */
    double *acc;      /* workers x d */
    size_t clusters_per_task;
} lloyd;

static void update_task(void *ctx, size_t task, unsigned worker) {
    lloyd *l = ctx;
    size_t d = l->d, c0 = task * l->clusters_per_task, c1 = min_sz(c0 + l->clusters_per_task, l->k);
    double *acc = l->acc + (size_t)worker * d;
    for (size_t c = c0; c < c1; c++) {
        size_t a = l->start[c], b = l->start[c + 1];
        if (a == b) continue;
        memset(acc, 0, d * sizeof(double));
        qk_best()->sum_rows(l->x, d, l->order + a, b - a, acc);
        double inv = 1.0 / (double)(b - a);
        for (size_t q = 0; q < d; q++) l->c[c * d + q] = (float)(acc[q] * inv);
    }
}

/* Spread of every cluster around its new centroid: only needed to split. */
static void sse_task(void *ctx, size_t task, unsigned worker) {
    lloyd *l = ctx;
    size_t d = l->d, c0 = task * l->clusters_per_task, c1 = min_sz(c0 + l->clusters_per_task, l->k);
    for (size_t c = c0; c < c1; c++) {
        const float *cc = l->c + c * d;
        double sse = 0;
        for (size_t t = l->start[c]; t < l->start[c + 1]; t++) {
            const float *row = l->x + (size_t)l->order[t] * d;
            for (size_t q = 0; q < d; q++) sse += ((double)row[q] - cc[q]) * ((double)row[q] - cc[q]);
        }
        l->sse[c] = sse;
    }
}

/* Empty cluster e takes half of the largest cluster that has a spread (see the file
 * comment); returns 0 when every cluster's rows coincide with its centroid, where a
 * split could only raise the objective. */
static int split(lloyd *l, size_t e) {
    size_t d = l->d, big = l->k;
    for (size_t c = 0; c < l->k; c++)
        if (l->sse[c] > 0 && (big == l->k || l->count[c] > l->count[big])) big = c;
    if (big == l->k) return 0;
    float *cb = l->c + big * d, *ce = l->c + e * d;
    double sigma = sqrt(l->sse[big] / ((double)l->count[big] * (double)d));
    for (size_t q = 0; q < d; q++) {
        double delta = (fabs(cb[q]) + sigma) * KM_SPLIT_EPS * (q % 2 ? -1.0 : 1.0);
        ce[q] = (float)(cb[q] + delta);
        cb[q] = (float)(cb[q] - delta);
    }
    l->count[e] = l->count[big] / 2;
    l->count[big] -= l->count[e];
    l->sse[e] = l->sse[big] / 2;
    l->sse[big] -= l->sse[e];
    return 1;
}

/* Means of the clusters, then a split for every empty one; returns how many. */
static size_t update(lloyd *l) {
    size_t n = l->n, k = l->k;
    size_t *start = l->start;
    memset(l->count, 0, k * sizeof *l->count);
    for (size_t i = 0; i < n; i++) l->count[l->assign[i]]++;
    start[0] = 0;
    for (size_t c = 0; c < k; c++) start[c + 1] = start[c] + l->count[c];
    for (size_t i = 0; i < n; i++) l->order[start[l->assign[i]]++] = (uint32_t)i;
    for (size_t c = k; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
    l->clusters_per_task = div_up(k, min_sz(k, 4 * (size_t)hk_pool_workers()));
    size_t ntasks = div_up(k, l->clusters_per_task), splits = 0;
    hk_pool_run(ntasks, update_task, l);
    size_t empty = 0;
    for (size_t c = 0; c < k; c++) empty += start[c + 1] == start[c];
    if (empty == 0) return 0;
    hk_pool_run(ntasks, sse_task, l);
    for (size_t e = 0; e < k; e++) {
        if (start[e + 1] != start[e]) continue;
        if (!split(l, e)) break;
        splits++;
    }
    return splits;
}

static double mean_dist(const float *dist, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += dist[i];
    return s / (double)n;
}

/* Largest movements of the centroids from old to l->c, for the lower bounds. */
static void measure_moves(const lloyd *l, const float *old, prune *pr) {
    pr->move1 = pr->move2 = 0;
    pr->move1_c = 0;
    for (size_t c = 0; c < l->k; c++) {
        double m = 0;
        for (size_t q = 0; q < l->d; q++) {
            double t = (double)l->c[c * l->d + q] - old[c * l->d + q];
            m += t * t;
        }
        m = sqrt(m) * (1 + 1e-12);
        if (m > pr->move1) {
            pr->move2 = pr->move1;
            pr->move1 = m;
            pr->move1_c = c;
        } else if (m > pr->move2) {
            pr->move2 = m;
        }
    }
}

hk_status km_refine(const float *x, size_t n, size_t d, size_t k, uint32_t iters,
                    hk_progress_fn progress, void *ud, double base, double span, float *c,
                    uint32_t *assign, float *dist, double *objective) {
    lloyd l = {.x = x, .n = n, .d = d, .k = k};
    unsigned workers = hk_pool_workers();
    int pruned = d <= QK_PANEL_MAX_D;
    prune pr = {0};
    l.c = alloc_array(k * d, sizeof(float));
    l.assign = alloc_array(n, sizeof(uint32_t));
    l.dist = alloc_array(n, sizeof(float));
    l.order = alloc_array(n, sizeof(uint32_t));
    l.start = alloc_array(k + 1, sizeof(size_t));
    l.count = alloc_array(k, sizeof(size_t));
    l.sse = alloc_array(k, sizeof(double));
    l.acc = alloc_array((size_t)workers * d, sizeof(double));
    float *old = alloc_array(k * d, sizeof(float)), *half_sep = NULL;
    uint32_t *self = NULL;
    if (pruned) {
        pr.lower = alloc_array(n, sizeof(double));
        half_sep = alloc_array(k, sizeof(float));
        self = alloc_array(k, sizeof(uint32_t));
        pr.half_sep = half_sep;
    }
    km_codebook cb = {0};
    uint8_t *scratch = NULL;
    size_t slice = 0;
    hk_status st = HK_OK;
    if (!l.c || !l.assign || !l.dist || !l.order || !l.start || !l.count || !l.sse || !l.acc || !old ||
        (pruned && (!pr.lower || !half_sep || !self))) {
        st = hk_fail(HK_NOMEM, "k-means: out of memory for %zu rows and %zu centroids", n, k);
        goto out;
    }
    memcpy(l.c, c, k * d * sizeof(float));
    if (report(progress, ud, base)) goto cancel;
    if ((st = km_codebook_init(&cb, l.c, k, d))) goto out;
    if (!(scratch = alloc_scratch(&cb, pruned, &slice))) {
        st = HK_NOMEM;
        goto out;
    }
    assign_rows(&cb, x, n, l.assign, l.dist, pruned ? &pr : NULL, scratch, slice);
    double obj = mean_dist(l.dist, n);
    for (uint32_t it = 1; it <= iters; it++) {
        memcpy(old, l.c, k * d * sizeof(float));
        size_t splits = update(&l);
        km_codebook_free(&cb);
        if ((st = km_codebook_init(&cb, l.c, k, d))) goto out;
        if (pruned) {
            measure_moves(&l, old, &pr);
            /* Each centroid's second-nearest centroid bounds half its gap. */
            nearest_rows(&cb, l.c, d, k, scratch, self, NULL, half_sep);
            for (size_t q = 0; q < k; q++) half_sep[q] *= 0.5f;
            pr.active = 1;
        }
        assign_rows(&cb, x, n, l.assign, l.dist, pruned ? &pr : NULL, scratch, slice);
        double prev = obj;
        obj = mean_dist(l.dist, n);
        if (report(progress, ud, base + span * it / iters)) goto cancel;
        if (splits == 0 && prev - obj < KM_STOP_REL * prev) break;
    }
    if (report(progress, ud, base + span)) goto cancel;
    memcpy(c, l.c, k * d * sizeof(float));
    if (assign) memcpy(assign, l.assign, n * sizeof(uint32_t));
    if (dist) memcpy(dist, l.dist, n * sizeof(float));
    if (objective) *objective = obj;
    goto out;
cancel:
    st = hk_fail(HK_CANCELLED, "k-means: cancelled by the progress callback");
out:
    km_codebook_free(&cb);
    hk_aligned_free(scratch);
    hk_free(l.c);
    hk_free(l.assign);
    hk_free(l.dist);
    hk_free(l.order);
    hk_free(l.start);
    hk_free(l.count);
    hk_free(l.sse);
    hk_free(l.acc);
    hk_free(old);
    hk_free(pr.lower);
    hk_free(half_sep);
    hk_free(self);
    return st;
}

/* ---- the whole ---- */

static hk_status check_rows(const float *x, size_t n, size_t d) {
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * d;
        if (!vec_all_finite(row, d))
            return hk_fail(HK_INVALID, "k-means: row %zu has a NaN or infinite component", i);
        if (!vec_magnitude_ok(row, d))
            return hk_fail(HK_INVALID, "k-means: row %zu is too large (squared norm above %g)", i,
                           (double)VEC_MAX_NORM_SQ);
    }
    return HK_OK;
}

hk_status km_train(const float *x, size_t n, size_t d, size_t k, uint32_t iters, uint64_t seed,
                   hk_progress_fn progress, void *ud, double base, double span,
                   float *centroids, double *objective) {
    if (!x || !centroids) return hk_fail(HK_INVALID, "k-means: NULL data or centroids");
    if (n == 0 || d == 0 || k == 0)
        return hk_fail(HK_INVALID, "k-means: n (%zu), d (%zu) and k (%zu) must be at least 1", n, d, k);
    if (n > UINT32_MAX || d > INT32_MAX / 2 || k > UINT32_MAX || n > SIZE_MAX / d || k > SIZE_MAX / d)
        return hk_fail(HK_INVALID, "k-means: n (%zu), d (%zu) or k (%zu) is too large", n, d, k);
    hk_status st = check_rows(x, n, d);
    if (st) return st;
    if (report(progress, ud, base)) return hk_fail(HK_CANCELLED, "k-means: cancelled by the progress callback");
    if (n <= k) {
        if (report(progress, ud, base + span))
            return hk_fail(HK_CANCELLED, "k-means: cancelled by the progress callback");
        for (size_t c = 0; c < k; c++) memcpy(centroids + c * d, x + (c % n) * d, d * sizeof(float));
        if (objective) *objective = 0;
        return HK_OK;
    }
    float *c = alloc_array(k * d, sizeof(float));
    if (c == NULL) return hk_fail(HK_NOMEM, "k-means: out of memory for %zu x %zu centroids", k, d);
    double seeded = base + span / (iters + 1.0);
    st = km_seed(x, n, d, k, seed, c);
    if (!st)
        st = km_refine(x, n, d, k, iters, progress, ud, seeded, base + span - seeded, c, NULL, NULL, objective);
    if (!st) memcpy(centroids, c, k * d * sizeof(float));
    hk_free(c);
    return st;
}
