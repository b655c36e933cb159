/*
 * umap.c — UMAP's layout (McInnes, Healy and Melville 2018, "UMAP: Uniform Manifold
 * Approximation and Projection for Dimension Reduction", sections 3 and 4.1) from the
 * k-NN graph project.c computed, starting from its PCA coordinates.
 *
 * Steps, as the paper describes them:
 *  1. Local fuzzy sets: for each point, rho = distance to its nearest neighbour and sigma
 *     (binary search) such that sum_j exp(-(d_ij - rho) / sigma) = log2(k); the membership
 *     of edge i -> j is exp(-max(0, d_ij - rho) / sigma).
 *  2. Fuzzy union: w_ij = a + b - a b of the two directions. Each undirected edge is kept
 *     once (found by scanning the other end's k neighbours: no sort, O(n k^2)).
 *  3. The low-dimensional curve 1 / (1 + a d^(2b)) is fitted (Levenberg-Marquardt, 300
 *     points on [0, 3]) to 1 below min_dist and exp(-(d - min_dist)) above (spread 1).
 *  4. Initialisation: the PCA coordinates, each axis scaled to [0, 10], plus noise of
 *     1e-4 (seeded).
 *  5. SGD over epochs (500 below 10,000 points, else 200, unless given): an edge of weight
 *     w is sampled every max_w / w epochs (edges under max_w / epochs are dropped); a
 *     sampled edge pulls both ends together (in both directions, as the symmetric
 *     matrix holds it twice) and each direction pushes its head away from 5 random points
 *     per sample; the learning rate falls linearly from 1 to 0; gradients are clipped to
 *     [-4, 4] per coordinate.
 *
 * Parallelism: each epoch splits the edges into fixed chunks with their own random
 * streams (seeded by seed, epoch and chunk). Below HOGWILD_MIN points, or with
 * o->deterministic, the chunks run one after another on the calling thread and a seed
 * always gives the same layout. Above, they run on the worker pool at once, Hogwild-style
 * (Niu et al. 2011): threads update shared coordinates without locks, so an update may
 * read a coordinate another thread is changing. UMAP's SGD tolerates this (each step is
 * small and clipped), and it is what makes a million points take minutes; two such runs
 * differ slightly in their last digits and so in the picture's details.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "project.h"

#define HOGWILD_MIN 20000
#define NEG_RATE 5
#define CHUNKS 64

/* ---- 1 and 2: the fuzzy graph ---- */

typedef struct fz_ctx {
    size_t n;
    uint32_t k;
    const uint32_t *knn;
    const float *dist;
    float *rho, *sigma;
    double mean_all;
    /* pass 2 */
    uint32_t *count;    /* edges each head emits */
    uint64_t *start;    /* prefix sums */
    uint32_t *head, *tail;
    float *w;
} fz_ctx;

static void sigma_task(void *ctx, size_t task, unsigned worker) {
    (void)worker;
    fz_ctx *f = ctx;
    size_t lo = task * 4096, hi = lo + 4096 < f->n ? lo + 4096 : f->n;
    double target = log2((double)f->k);
    for (size_t i = lo; i < hi; i++) {
        const float *d = f->dist + i * f->k;
        double rho = 0, mean = 0;
        for (uint32_t j = 0; j < f->k; j++) mean += d[j];
        mean /= f->k;
        for (uint32_t j = 0; j < f->k; j++)
            if (d[j] > 0) {
                rho = d[j];
                break;
            }
        double lo_s = 0, hi_s = INFINITY, mid = 1;
        for (int it = 0; it < 64; it++) {
            double s = 0;
            for (uint32_t j = 0; j < f->k; j++) {
                double e = d[j] - rho;
                s += e > 0 ? exp(-e / mid) : 1;
            }
            if (fabs(s - target) < 1e-5) break;
            if (s > target) {
                hi_s = mid;
                mid = (lo_s + hi_s) / 2;
            } else {
                lo_s = mid;
                mid = isinf(hi_s) ? mid * 2 : (lo_s + hi_s) / 2;
            }
        }
        double floor_s = 1e-3 * (rho > 0 ? mean : f->mean_all);
        if (mid < floor_s) mid = floor_s;
        f->rho[i] = (float)rho;
        f->sigma[i] = (float)mid;
    }
}

static inline float member(const fz_ctx *f, size_t i, uint32_t j) {
    double e = f->dist[i * f->k + j] - f->rho[i];
    return e > 0 ? (float)exp(-e / f->sigma[i]) : 1.0f;
}

/* Position of i in j's neighbour row, or -1. */
static inline int find_in_row(const fz_ctx *f, uint32_t j, uint32_t i) {
    const uint32_t *r = f->knn + (size_t)j * f->k;
    for (uint32_t t = 0; t < f->k; t++)
        if (r[t] == i) return (int)t;
    return -1;
}

/* Whether row i's entry t is a real, first-seen neighbour (tiny sets repeat the last). */
static inline int fresh(const fz_ctx *f, size_t i, uint32_t t) {
    uint32_t j = f->knn[i * f->k + t];
    return j != i && (t == 0 || j != f->knn[i * f->k + t - 1]);
}

/* pass 1 (start == NULL): count; pass 2: write. */
static void edge_task(void *ctx, size_t task, unsigned worker) {
    (void)worker;
    fz_ctx *f = ctx;
    size_t lo = task * 4096, hi = lo + 4096 < f->n ? lo + 4096 : f->n;
    for (size_t i = lo; i < hi; i++) {
        uint32_t c = 0;
        uint64_t at = f->start ? f->start[i] : 0;
        for (uint32_t t = 0; t < f->k; t++) {
            if (!fresh(f, i, t)) continue;
            uint32_t j = f->knn[i * f->k + t];
            int back = find_in_row(f, j, (uint32_t)i);
            if (back >= 0 && !fresh(f, j, (uint32_t)back)) back = -1;
            if (back >= 0 && j < i) continue; /* emitted from j's row */
            if (f->start) {
                float a = member(f, i, t), b = back >= 0 ? member(f, j, (uint32_t)back) : 0;
                f->head[at + c] = (uint32_t)i;
                f->tail[at + c] = j;
                f->w[at + c] = a + b - a * b;
            }
            c++;
        }
        if (!f->start) f->count[i] = c;
    }
}

/* ---- 3: the curve ---- */

/* Least squares fit of 1 / (1 + a x^(2b)) to the target curve by Levenberg-Marquardt. */
static void fit_ab(double min_dist, double *a_out, double *b_out) {
    enum { NP = 300 };
    double xs[NP], ys[NP];
    for (int i = 0; i < NP; i++) {
        xs[i] = 3.0 * i / (NP - 1);
        ys[i] = xs[i] < min_dist ? 1.0 : exp(-(xs[i] - min_dist));
    }
    double a = 1.0, b = 1.0, lambda = 1e-3;
    double cost = 0;
    for (int i = 0; i < NP; i++) {
        double f = xs[i] > 0 ? 1 / (1 + a * pow(xs[i], 2 * b)) : 1;
        cost += (f - ys[i]) * (f - ys[i]);
    }
    for (int it = 0; it < 500; it++) {
        double jtj[3] = {0, 0, 0}, jtr[2] = {0, 0}; /* [aa, ab, bb] */
        for (int i = 0; i < NP; i++) {
            if (xs[i] <= 0) continue;
            double p = pow(xs[i], 2 * b), den = 1 + a * p, f = 1 / den, r = f - ys[i];
            double da = -p / (den * den), db = -a * p * 2 * log(xs[i]) / (den * den);
            jtj[0] += da * da, jtj[1] += da * db, jtj[2] += db * db;
            jtr[0] += da * r, jtr[1] += db * r;
        }
        double m00 = jtj[0] * (1 + lambda), m11 = jtj[2] * (1 + lambda), m01 = jtj[1];
        double det = m00 * m11 - m01 * m01;
        if (!(fabs(det) > 1e-300)) break;
        double sa = -(m11 * jtr[0] - m01 * jtr[1]) / det, sb = -(m00 * jtr[1] - m01 * jtr[0]) / det;
        double na = a + sa, nb = b + sb, nc = 0;
        if (na <= 0 || nb <= 0) {
            lambda *= 10;
            continue;
        }
        for (int i = 0; i < NP; i++) {
            double f = xs[i] > 0 ? 1 / (1 + na * pow(xs[i], 2 * nb)) : 1;
            nc += (f - ys[i]) * (f - ys[i]);
        }
        if (nc < cost) {
            int done = cost - nc < 1e-15 * (cost + 1e-30);
            a = na, b = nb, cost = nc, lambda /= 10;
            if (done) break;
        } else {
            lambda *= 10;
            if (lambda > 1e12) break;
        }
    }
    *a_out = a;
    *b_out = b;
}

/* ---- 5: the SGD ---- */

typedef struct sgd_ctx {
    float *y;
    size_t n, nedges;
    const uint32_t *head, *tail;
    const float *eps;   /* epochs per sample */
    float *next, *next_neg;
    float a, b, alpha;
    uint32_t epoch;
    uint64_t seed;
} sgd_ctx;

static inline float clip4(float v) { return v > 4 ? 4 : v < -4 ? -4 : v; }

static void sgd_task(void *ctx, size_t task, unsigned worker) {
    (void)worker;
    sgd_ctx *s = ctx;
    size_t per = (s->nedges + CHUNKS - 1) / CHUNKS;
    size_t lo = task * per, hi = lo + per < s->nedges ? lo + per : s->nedges;
    uint64_t rs = s->seed ^ (0x9E3779B97F4A7C15ull * (s->epoch + 1)) ^ (0xC2B2AE3D27D4EB4Full * (task + 1));
    float a = s->a, b = s->b, alpha = s->alpha, ep = (float)s->epoch;
    float *y = s->y;
    for (size_t e = lo; e < hi; e++) {
        if (s->next[e] > ep) continue;
        float eps_neg = s->eps[e] / NEG_RATE;
        int nneg = (int)((ep - s->next_neg[e]) / eps_neg);
        if (nneg < 0) nneg = 0;
        for (int dir = 0; dir < 2; dir++) {
            uint32_t i = dir ? s->tail[e] : s->head[e], j = dir ? s->head[e] : s->tail[e];
            float *cur = y + (size_t)i * 3, *oth = y + (size_t)j * 3;
            float dx = cur[0] - oth[0], dy = cur[1] - oth[1], dz = cur[2] - oth[2];
            float d2 = dx * dx + dy * dy + dz * dz;
            if (d2 > 0) {
                float pb = expf(b * logf(d2));
                float g = -2.0f * a * b * pb / d2 / (a * pb + 1.0f);
                float gx = clip4(g * dx) * alpha, gy = clip4(g * dy) * alpha, gz = clip4(g * dz) * alpha;
                cur[0] += gx, cur[1] += gy, cur[2] += gz;
                oth[0] -= gx, oth[1] -= gy, oth[2] -= gz;
            }
            for (int t = 0; t < nneg; t++) {
                uint32_t c = (uint32_t)(proj_rand(&rs) % s->n);
                if (c == i) continue;
                float *o = y + (size_t)c * 3;
                float ex = cur[0] - o[0], ey = cur[1] - o[1], ez = cur[2] - o[2];
                float q2 = ex * ex + ey * ey + ez * ez;
                if (!(q2 > 0)) continue;
                float g = 2.0f * b / ((0.001f + q2) * (a * expf(b * logf(q2)) + 1.0f));
                cur[0] += clip4(g * ex) * alpha;
                cur[1] += clip4(g * ey) * alpha;
                cur[2] += clip4(g * ez) * alpha;
            }
        }
        s->next[e] += s->eps[e];
        s->next_neg[e] += (float)nneg * eps_neg;
    }
}

static double gauss(uint64_t *rs) {
    double u = ((double)(proj_rand(rs) >> 11) + 0.5) / 9007199254740992.0;
    double v = ((double)(proj_rand(rs) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

hk_status proj_umap(const flat_matrix *m, hk_projection *p, const hk_projection_options *o) {
    (void)m;
    size_t n = (size_t)p->count;
    uint32_t k = p->neighbors;
    uint32_t epochs = o->epochs ? o->epochs : n < 10000 ? 500 : 200;
    double fa, fb;
    fit_ab(o->min_dist, &fa, &fb);
    p->umap_a = fa;
    p->umap_b = fb;
    p->epochs = epochs;
    if (n < 3) return HK_OK; /* nothing to lay out: the PCA stands */
    fz_ctx f;
    memset(&f, 0, sizeof f);
    f.n = n;
    f.k = k;
    f.knn = p->knn;
    f.dist = p->knn_dist;
    f.rho = hk_malloc(n * sizeof *f.rho);
    f.sigma = hk_malloc(n * sizeof *f.sigma);
    f.count = hk_malloc(n * sizeof *f.count);
    f.start = NULL;
    hk_status st = HK_OK;
    sgd_ctx s;
    memset(&s, 0, sizeof s);
    float *eps = NULL, *next = NULL, *next_neg = NULL;
    if (!f.rho || !f.sigma || !f.count) st = hk_fail(HK_NOMEM, "out of memory for UMAP's graph");
    size_t ntasks = (n + 4095) / 4096;
    if (!st) {
        double sum = 0;
        for (size_t i = 0; i < n * k; i++) sum += p->knn_dist[i];
        f.mean_all = sum / (double)(n * k);
        hk_pool_run(ntasks, sigma_task, &f);
        hk_pool_run(ntasks, edge_task, &f);
        if (proj_report(o, "graph", 0.5)) st = proj_cancelled();
    }
    uint64_t nedges = 0;
    if (!st) {
        uint64_t *start = hk_malloc(n * sizeof *start);
        if (!start) st = hk_fail(HK_NOMEM, "out of memory for UMAP's graph");
        for (size_t i = 0; !st && i < n; i++) start[i] = nedges, nedges += f.count[i];
        f.start = start;
        f.head = hk_malloc((nedges ? nedges : 1) * sizeof *f.head);
        f.tail = hk_malloc((nedges ? nedges : 1) * sizeof *f.tail);
        f.w = hk_malloc((nedges ? nedges : 1) * sizeof *f.w);
        if (!st && (!f.head || !f.tail || !f.w)) st = hk_fail(HK_NOMEM, "out of memory for %llu edges",
                                                            (unsigned long long)nedges);
        if (!st) hk_pool_run(ntasks, edge_task, &f);
    }
    /* Sampling schedule; edges too weak to be sampled once are dropped. */
    size_t ne = 0;
    if (!st) {
        float wmax = 0;
        for (uint64_t e = 0; e < nedges; e++)
            if (f.w[e] > wmax) wmax = f.w[e];
        eps = hk_malloc((nedges ? nedges : 1) * sizeof *eps);
        next = hk_malloc((nedges ? nedges : 1) * sizeof *next);
        next_neg = hk_malloc((nedges ? nedges : 1) * sizeof *next_neg);
        if (!eps || !next || !next_neg) st = hk_fail(HK_NOMEM, "out of memory for UMAP's schedule");
        for (uint64_t e = 0; !st && e < nedges; e++) {
            if (!(f.w[e] >= wmax / (float)epochs) || !(f.w[e] > 0)) continue;
            f.head[ne] = f.head[e];
            f.tail[ne] = f.tail[e];
            eps[ne] = wmax / f.w[e];
            next[ne] = eps[ne];
            next_neg[ne] = eps[ne] / NEG_RATE;
            ne++;
        }
        if (!st && proj_report(o, "graph", 1)) st = proj_cancelled();
    }
    /* 4: initialisation from the PCA. */
    if (!st) {
        uint64_t rs = o->seed ^ 0x853C49E6748FEA9Bull;
        for (int t = 0; t < 3; t++) {
            float lo = INFINITY, hi = -INFINITY;
            for (size_t i = 0; i < n; i++) {
                float v = p->coords[i * 3 + t];
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            float scale = hi > lo ? 10.0f / (hi - lo) : 0;
            for (size_t i = 0; i < n; i++)
                p->coords[i * 3 + t] = (p->coords[i * 3 + t] - lo) * scale + (float)(1e-4 * gauss(&rs));
        }
        s.y = p->coords;
        s.n = n;
        s.nedges = ne;
        s.head = f.head;
        s.tail = f.tail;
        s.eps = eps;
        s.next = next;
        s.next_neg = next_neg;
        s.a = (float)fa;
        s.b = (float)fb;
        s.seed = o->seed;
        int hogwild = !o->deterministic && n >= HOGWILD_MIN;
        for (uint32_t ep = 0; ep < epochs && !st; ep++) {
            s.epoch = ep;
            s.alpha = 1.0f - (float)ep / (float)epochs;
            if (hogwild) hk_pool_run(CHUNKS, sgd_task, &s);
            else
                for (size_t t = 0; t < CHUNKS; t++) sgd_task(&s, t, 0);
            if (proj_report(o, "umap", (double)(ep + 1) / epochs)) st = proj_cancelled();
        }
        for (size_t i = 0; !st && i < n * 3; i++)
            if (!isfinite(p->coords[i])) st = hk_fail(HK_ERROR, "UMAP's layout diverged (a coordinate is not finite)");
    }
    hk_free(f.rho), hk_free(f.sigma), hk_free(f.count), hk_free(f.start);
    hk_free(f.head), hk_free(f.tail), hk_free(f.w);
    hk_free(eps), hk_free(next), hk_free(next_neg);
    return st;
}
