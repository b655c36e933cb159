/*
 * project.c — the 3-D projection of a collection (hk_collection_project): sampling, the
 * k-NN graph in the original space, PCA, and the k-NN preservation measure. UMAP's own
 * steps (fuzzy graph, curve fit, SGD) are in umap.c.
 *
 * Decisions:
 *  - The vectors are copied out under the collection's read lock (a seeded uniform
 *    sample when there are more than max_points), then the lock is released: a projection
 *    of a million points takes minutes and must not hold up writers. Positions follow
 *    ascending slots, so the copy reads the collection's matrix in order.
 *  - The k-NN graph is exact (flat_search: sgemm batches over the copy) up to exact_max
 *    points. Above that it comes from HNSW walks: the collection's own graph when it has
 *    one (walked under the read lock a block at a time, restricted to the copied points,
 *    slots mapped back to positions by id so a slot a writer recycled meanwhile is
 *    dropped, distances recomputed from the copy), else a graph built over the copy on
 *    the worker pool.
 *  - PCA: mean and covariance in double, accumulated block by block with dsyrk (BLAS
 *    spreads each block over its threads); the top three eigenvectors come from a cyclic
 *    Jacobi on the whole matrix up to JACOBI_MAX_DIM dimensions, above that from subspace
 *    iteration on 16 vectors with Rayleigh-Ritz (Jacobi on 16 x 16) until the top three
 *    values settle. Each eigenvector's largest component is made positive, so the axes
 *    (and the picture) are the same on every run.
 *  - k-NN preservation compares exact neighbours on both sides (brute force in the
 *    original space through flat_search, brute force in 3-D) over a seeded sample.
 */
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collection.h"
#include "project.h"
#include "../index/flat.h"
#include "../index/hnsw.h"
#include "../vec/distance.h"

#define KNN_EXACT_MAX 50000
#define JACOBI_MAX_DIM 64
#define SUBSPACE 16
#define QUALITY_DEFAULT 1000

const char *hk_projection_method_name(hk_projection_method m) {
    switch (m) {
    case HK_PROJECT_PCA: return "pca";
    case HK_PROJECT_UMAP: return "umap";
    }
    return NULL;
}

hk_status hk_projection_method_parse(const char *s, hk_projection_method *out) {
    if (s && !strcmp(s, "pca")) *out = HK_PROJECT_PCA;
    else if (s && !strcmp(s, "umap")) *out = HK_PROJECT_UMAP;
    else return hk_fail(HK_INVALID, "projection method '%.32s' is not known: use pca or umap", s ? s : "");
    return HK_OK;
}

void hk_projection_options_init(hk_projection_options *o) {
    memset(o, 0, sizeof *o);
    o->method = HK_PROJECT_PCA;
    o->max_points = HK_PROJECT_DEFAULT_MAX_POINTS;
    o->neighbors = 15;
    o->seed = 1;
    o->min_dist = 0.1f;
}

void hk_projection_free(hk_projection *p) {
    if (!p) return;
    hk_free(p->coords);
    hk_free(p->ids);
    hk_free(p->knn);
    hk_free(p->knn_dist);
    hk_free(p);
}

uint64_t proj_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int proj_report(const hk_projection_options *o, const char *phase, double f) {
    return o->progress && o->progress(o->ud, phase, f < 0 ? 0 : f > 1 ? 1 : f);
}

hk_status proj_cancelled(void) {
    return hk_fail(HK_CANCELLED, "the projection was cancelled");
}

static hk_status check_options(const hk_projection_options *o) {
    if (o->method != HK_PROJECT_PCA && o->method != HK_PROJECT_UMAP)
        return hk_fail(HK_INVALID, "projection method %d is not known", (int)o->method);
    if (o->max_points < 1)
        return hk_fail(HK_INVALID, "max_points must be at least 1 (it is the number of points "
                       "projected; above it a sample is drawn)");
    if (o->max_points > UINT32_MAX - 1)
        return hk_fail(HK_INVALID, "max_points must be at most %u", UINT32_MAX - 1);
    if (o->neighbors < 2 || o->neighbors > HK_PROJECT_MAX_NEIGHBORS)
        return hk_fail(HK_INVALID, "neighbors must be from 2 to %u, not %u", HK_PROJECT_MAX_NEIGHBORS,
                       o->neighbors);
    if (!(o->min_dist >= 0 && o->min_dist < 3))
        return hk_fail(HK_INVALID, "min_dist must be in [0, 3), not %g", (double)o->min_dist);
    if (o->epochs > 100000) return hk_fail(HK_INVALID, "epochs must be at most 100000");
    return HK_OK;
}

/* k positions of [0, n) drawn uniformly without replacement (partial Fisher-Yates), then
 * sorted ascending. */
static uint32_t *draw_sample(size_t n, size_t take, uint64_t seed) {
    uint32_t *a = hk_malloc((n ? n : 1) * sizeof *a);
    if (!a) return NULL;
    for (size_t i = 0; i < n; i++) a[i] = (uint32_t)i;
    if (take < n) {
        uint64_t rs = seed ^ 0x5A3C9E1D27B48F60ull;
        for (size_t i = 0; i < take; i++) {
            size_t r = i + (size_t)(proj_rand(&rs) % (n - i));
            uint32_t t = a[i];
            a[i] = a[r];
            a[r] = t;
        }
        /* counting pass: mark, then collect in order */
        uint8_t *mark = hk_calloc(n, 1);
        if (!mark) {
            hk_free(a);
            return NULL;
        }
        for (size_t i = 0; i < take; i++) mark[a[i]] = 1;
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
            if (mark[i]) a[w++] = (uint32_t)i;
        hk_free(mark);
    }
    return a;
}

/* ---- the k-NN graph ---- */

float proj_user_dist(hk_metric metric, float d) {
    if (metric == HK_METRIC_L2) return sqrtf(d > 0 ? d : 0);
    return 1.0f + d; /* d = -similarity */
}

typedef struct knn_ctx {
    const flat_matrix *m;
    const hnsw *g;
    uint32_t k;
    size_t n, per_task, base;
    uint32_t *knn;
    float *dist;
    atomic_int fail;
} knn_ctx;

/* Keeps the k nearest other than self from hits (sorted) in row i. */
static void keep_hits(knn_ctx *kc, size_t i, const flat_hit *h, size_t nh) {
    size_t w = 0;
    for (size_t j = 0; j < nh && w < kc->k; j++) {
        if (h[j].slot == i) continue;
        kc->knn[i * kc->k + w] = h[j].slot;
        kc->dist[i * kc->k + w] = proj_user_dist(kc->m->metric, h[j].dist);
        w++;
    }
    /* Fewer than k found (tiny sets): repeat the last neighbour so rows stay full. */
    for (; w < kc->k; w++) {
        kc->knn[i * kc->k + w] = w ? kc->knn[i * kc->k + w - 1] : (uint32_t)i;
        kc->dist[i * kc->k + w] = w ? kc->dist[i * kc->k + w - 1] : 0;
    }
}

static void knn_hnsw_task(void *ctx, size_t task, unsigned worker) {
    (void)worker;
    knn_ctx *kc = ctx;
    if (atomic_load(&kc->fail)) return;
    task += kc->base;
    size_t lo = task * kc->per_task, hi = lo + kc->per_task < kc->n ? lo + kc->per_task : kc->n;
    flat_hit hits[HK_PROJECT_MAX_NEIGHBORS + 1];
    size_t ef = 4 * (size_t)(kc->k + 1) > 64 ? 4 * (size_t)(kc->k + 1) : 64;
    for (size_t i = lo; i < hi; i++) {
        size_t nh = 0;
        if (hnsw_search(kc->g, kc->m, kc->m->rows + i * kc->m->dim, kc->k + 1, ef, NULL, hits, &nh)) {
            atomic_store(&kc->fail, 1);
            return;
        }
        keep_hits(kc, i, hits, nh);
    }
}

static size_t exact_max(const hk_projection_options *o) {
    return o->exact_max ? o->exact_max : KNN_EXACT_MAX;
}

static hk_status knn_graph(const flat_matrix *m, uint32_t k, size_t exact_limit,
                           const hk_projection_options *o, uint32_t *knn, float *dist, int *exact) {
    size_t n = m->nslots;
    knn_ctx kc;
    memset(&kc, 0, sizeof kc);
    kc.m = m;
    kc.k = k;
    kc.n = n;
    kc.knn = knn;
    kc.dist = dist;
    if (n <= exact_limit) {
        *exact = 1;
        size_t chunk = 512;
        for (size_t q0 = 0; q0 < n; q0 += chunk) {
            size_t nq = n - q0 < chunk ? n - q0 : chunk;
            flat_hit *hits[512];
            size_t counts[512];
            hk_status st = flat_search(m, m->rows + q0 * m->dim, nq, k + 1, NULL, 0, 0, hits, counts);
            if (st) return st;
            for (size_t i = 0; i < nq; i++) {
                keep_hits(&kc, q0 + i, hits[i], counts[i]);
                hk_free(hits[i]);
            }
            if (proj_report(o, "knn", (double)(q0 + nq) / (double)n)) return proj_cancelled();
        }
        return HK_OK;
    }
    *exact = 0;
    hnsw *g = NULL;
    hk_status st = hnsw_new(m->dim, m->metric, 16, 100, o->seed, &g);
    uint32_t *slots = st ? NULL : hk_malloc(n * sizeof *slots);
    if (!st && !slots) st = hk_fail(HK_NOMEM, "out of memory for the k-NN graph");
    size_t step = 65536;
    for (size_t s0 = 0; !st && s0 < n; s0 += step) {
        size_t cnt = n - s0 < step ? n - s0 : step;
        for (size_t i = 0; i < cnt; i++) slots[i] = (uint32_t)(s0 + i);
        st = hnsw_insert_batch(g, m, slots, cnt);
        if (!st && proj_report(o, "knn", 0.7 * (double)(s0 + cnt) / (double)n)) st = proj_cancelled();
    }
    hk_free(slots);
    if (!st) {
        kc.g = g;
        kc.per_task = 1024;
        size_t ntasks = (n + kc.per_task - 1) / kc.per_task, step_tasks = 32;
        for (size_t t0 = 0; t0 < ntasks && !st; t0 += step_tasks) {
            size_t nt = ntasks - t0 < step_tasks ? ntasks - t0 : step_tasks;
            kc.base = t0;
            hk_pool_run(nt, knn_hnsw_task, &kc);
            if (atomic_load(&kc.fail)) st = hk_fail(HK_NOMEM, "out of memory walking the k-NN graph");
            else if (proj_report(o, "knn", 0.7 + 0.3 * (double)(t0 + nt) / (double)ntasks))
                st = proj_cancelled();
        }
    }
    hnsw_free(g);
    return st;
}

/* ---- PCA ---- */

/* Cyclic Jacobi on the symmetric p x p matrix a (destroyed); eigenvalues in w, vectors in
 * the columns of v (row-major p x p). */
static void jacobi(double *a, size_t p, double *w, double *v) {
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++) v[i * p + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (size_t i = 0; i < p; i++) {
            diag += a[i * p + i] * a[i * p + i];
            for (size_t j = i + 1; j < p; j++) off += a[i * p + j] * a[i * p + j];
        }
        if (off <= 1e-30 * (diag > 0 ? diag : 1)) break;
        for (size_t i = 0; i < p; i++)
            for (size_t j = i + 1; j < p; j++) {
                double aij = a[i * p + j];
                if (fabs(aij) < 1e-300) continue;
                double theta = (a[j * p + j] - a[i * p + i]) / (2 * aij);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (size_t r = 0; r < p; r++) {
                    double ari = a[r * p + i], arj = a[r * p + j];
                    a[r * p + i] = c * ari - s * arj;
                    a[r * p + j] = s * ari + c * arj;
                }
                for (size_t r = 0; r < p; r++) {
                    double air = a[i * p + r], ajr = a[j * p + r];
                    a[i * p + r] = c * air - s * ajr;
                    a[j * p + r] = s * air + c * ajr;
                }
                for (size_t r = 0; r < p; r++) {
                    double vri = v[r * p + i], vrj = v[r * p + j];
                    v[r * p + i] = c * vri - s * vrj;
                    v[r * p + j] = s * vri + c * vrj;
                }
            }
    }
    for (size_t i = 0; i < p; i++) w[i] = a[i * p + i];
}

/* Indices of the top `want` values of w (descending, ties to the lower index). */
static void top_order(const double *w, size_t p, size_t want, size_t *idx) {
    for (size_t t = 0; t < want; t++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < p; i++) {
            int used = 0;
            for (size_t u = 0; u < t; u++) used |= idx[u] == i;
            if (!used && (best == SIZE_MAX || w[i] > w[best])) best = i;
        }
        idx[t] = best;
    }
}

/* Orthonormalizes the p columns of q (d x p, row-major) by modified Gram-Schmidt; a
 * column that vanishes is replaced by a unit vector. */
static void orthonormalize(double *q, size_t d, size_t p) {
    for (size_t j = 0; j < p; j++) {
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < j; i++) {
                double dot = 0;
                for (size_t r = 0; r < d; r++) dot += q[r * p + i] * q[r * p + j];
                for (size_t r = 0; r < d; r++) q[r * p + j] -= dot * q[r * p + i];
            }
        double nn = 0;
        for (size_t r = 0; r < d; r++) nn += q[r * p + j] * q[r * p + j];
        nn = sqrt(nn);
        if (nn < 1e-300) {
            for (size_t r = 0; r < d; r++) q[r * p + j] = r == j % d;
            j--; /* redo this column against the others */
            continue;
        }
        for (size_t r = 0; r < d; r++) q[r * p + j] /= nn;
    }
}

/* The top three eigenpairs of the symmetric d x d matrix c (upper triangle filled; the
 * lower is filled here). vecs: 3 x d, rows. */
static hk_status top3_eigen(double *c, size_t d, double vals[3], double *vecs) {
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < i; j++) c[i * d + j] = c[j * d + i];
    size_t want = d < 3 ? d : 3;
    memset(vecs, 0, 3 * d * sizeof *vecs);
    vals[0] = vals[1] = vals[2] = 0;
    if (d <= JACOBI_MAX_DIM) {
        double *a = hk_malloc(d * d * sizeof *a), *v = hk_malloc(d * d * sizeof *v),
               *w = hk_malloc(d * sizeof *w);
        if (!a || !v || !w) {
            hk_free(a), hk_free(v), hk_free(w);
            return hk_fail(HK_NOMEM, "out of memory for the PCA");
        }
        memcpy(a, c, d * d * sizeof *a);
        jacobi(a, d, w, v);
        size_t idx[3];
        top_order(w, d, want, idx);
        for (size_t t = 0; t < want; t++) {
            vals[t] = w[idx[t]];
            for (size_t r = 0; r < d; r++) vecs[t * d + r] = v[r * d + idx[t]];
        }
        hk_free(a), hk_free(v), hk_free(w);
        return HK_OK;
    }
    size_t p = SUBSPACE;
    double *q = hk_malloc(d * p * sizeof *q), *y = hk_malloc(d * p * sizeof *y),
           *h = hk_malloc(p * p * sizeof *h), *hv = hk_malloc(p * p * sizeof *hv),
           *hw = hk_malloc(p * sizeof *hw);
    if (!q || !y || !h || !hv || !hw) {
        hk_free(q), hk_free(y), hk_free(h), hk_free(hv), hk_free(hw);
        return hk_fail(HK_NOMEM, "out of memory for the PCA");
    }
    uint64_t rs = 0x243F6A8885A308D3ull;
    for (size_t i = 0; i < d * p; i++) q[i] = (double)(proj_rand(&rs) >> 11) / 9007199254740992.0 - 0.5;
    orthonormalize(q, d, p);
    double prev[3] = {0, 0, 0};
    size_t idx[3];
    for (int it = 0; it < 1000; it++) {
        cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)d, (int)p, 1.0, c, (int)d, q,
                    (int)p, 0.0, y, (int)p);
        /* Rayleigh-Ritz: H = Q^T C Q, rotate Q by H's eigenvectors. */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p, (int)p, (int)d, 1.0, q, (int)p,
                    y, (int)p, 0.0, h, (int)p);
        for (size_t i = 0; i < p; i++)
            for (size_t j = i + 1; j < p; j++) h[i * p + j] = h[j * p + i] = 0.5 * (h[i * p + j] + h[j * p + i]);
        jacobi(h, p, hw, hv);
        top_order(hw, p, 3, idx);
        int settled = it > 2;
        for (int t = 0; t < 3; t++)
            settled &= fabs(hw[idx[t]] - prev[t]) <= 1e-13 * fabs(hw[idx[0]]) + 1e-300;
        for (int t = 0; t < 3; t++) prev[t] = hw[idx[t]];
        if (settled) {
            for (size_t t = 0; t < 3; t++) {
                vals[t] = hw[idx[t]];
                for (size_t r = 0; r < d; r++) {
                    double s = 0;
                    for (size_t j = 0; j < p; j++) s += q[r * p + j] * hv[j * p + idx[t]];
                    vecs[t * d + r] = s;
                }
            }
            break;
        }
        /* Next basis: C Q, orthonormalized. */
        memcpy(q, y, d * p * sizeof *q);
        orthonormalize(q, d, p);
        if (it == 999) {
            for (size_t t = 0; t < 3; t++) {
                vals[t] = hw[idx[t]];
                for (size_t r = 0; r < d; r++) {
                    double s = 0;
                    for (size_t j = 0; j < p; j++) s += q[r * p + j] * hv[j * p + idx[t]];
                    vecs[t * d + r] = s;
                }
            }
        }
    }
    hk_free(q), hk_free(y), hk_free(h), hk_free(hv), hk_free(hw);
    return HK_OK;
}

hk_status proj_pca(const float *x, size_t n, size_t d, const hk_projection_options *o,
                   float *coords, double ratio[3]) {
    double *mean = hk_calloc(d, sizeof *mean), *c = hk_calloc(d * d, sizeof *c);
    size_t block = 1024;
    double *buf = hk_malloc(block * d * sizeof *buf), *vecs = hk_malloc(3 * d * sizeof *vecs);
    hk_status st = HK_OK;
    if (!mean || !c || !buf || !vecs) st = hk_fail(HK_NOMEM, "out of memory for the PCA of %zu dimensions", d);
    for (size_t i = 0; !st && i < n; i++)
        for (size_t j = 0; j < d; j++) mean[j] += x[i * d + j];
    for (size_t j = 0; !st && j < d; j++) mean[j] /= (double)n;
    for (size_t r0 = 0; !st && r0 < n; r0 += block) {
        size_t nb = n - r0 < block ? n - r0 : block;
        for (size_t i = 0; i < nb; i++)
            for (size_t j = 0; j < d; j++) buf[i * d + j] = (double)x[(r0 + i) * d + j] - mean[j];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0, buf, (int)d, 1.0,
                    c, (int)d);
        if (proj_report(o, "pca", 0.8 * (double)(r0 + nb) / (double)n)) st = proj_cancelled();
    }
    double trace = 0, vals[3];
    for (size_t j = 0; !st && j < d; j++) trace += c[j * d + j];
    if (!st) st = top3_eigen(c, d, vals, vecs);
    if (!st) {
        for (int t = 0; t < 3; t++) {
            size_t big = 0;
            for (size_t r = 0; r < d; r++)
                if (fabs(vecs[t * d + r]) > fabs(vecs[t * d + big])) big = r;
            if (vecs[t * d + big] < 0)
                for (size_t r = 0; r < d; r++) vecs[t * d + r] = -vecs[t * d + r];
            ratio[t] = trace > 0 && vals[t] > 0 ? vals[t] / trace : 0;
        }
        for (size_t i = 0; i < n; i++) {
            double s[3] = {0, 0, 0};
            for (size_t j = 0; j < d; j++) {
                double v = (double)x[i * d + j] - mean[j];
                s[0] += v * vecs[j], s[1] += v * vecs[d + j], s[2] += v * vecs[2 * d + j];
            }
            for (int t = 0; t < 3; t++) coords[i * 3 + t] = (float)s[t];
        }
        if (proj_report(o, "pca", 1)) st = proj_cancelled();
    }
    hk_free(mean), hk_free(c), hk_free(buf), hk_free(vecs);
    return st;
}

/* ---- k-NN preservation ---- */

typedef struct qual_ctx {
    const float *coords;
    uint32_t cdim;
    size_t n;
    uint32_t k;
    const uint32_t *queries;
    const uint32_t *orig; /* nq x k original-space neighbours */
    double *score;        /* per query */
} qual_ctx;

static void qual_task(void *ctx, size_t qi, unsigned worker) {
    (void)worker;
    qual_ctx *qc = ctx;
    uint32_t k = qc->k, self = qc->queries[qi];
    float best[HK_PROJECT_MAX_NEIGHBORS];
    uint32_t who[HK_PROJECT_MAX_NEIGHBORS];
    size_t nb = 0;
    const float *y = qc->coords + (size_t)self * qc->cdim;
    for (size_t i = 0; i < qc->n; i++) {
        if (i == self) continue;
        const float *z = qc->coords + i * qc->cdim;
        float d = 0;
        for (uint32_t t = 0; t < qc->cdim; t++) d += (y[t] - z[t]) * (y[t] - z[t]);
        if (nb == k && d >= best[k - 1]) continue;
        size_t pos = nb < k ? nb++ : k - 1;
        while (pos > 0 && best[pos - 1] > d) {
            best[pos] = best[pos - 1];
            who[pos] = who[pos - 1];
            pos--;
        }
        best[pos] = d;
        who[pos] = (uint32_t)i;
    }
    size_t hit = 0;
    for (uint32_t a = 0; a < k; a++)
        for (size_t b = 0; b < nb; b++)
            if (qc->orig[qi * k + a] == who[b]) {
                hit++;
                break;
            }
    qc->score[qi] = (double)hit / k;
}

hk_status proj_quality(const flat_matrix *m, const float *coords, uint32_t cdim, uint32_t k,
                       size_t nsample, uint64_t seed, double *out, uint32_t *used) {
    size_t n = m->nslots;
    *out = 0;
    if (used) *used = 0;
    if (n < 2) return HK_OK;
    if (k > n - 1) k = (uint32_t)(n - 1);
    size_t nq = nsample < n ? nsample : n;
    uint32_t *qs = draw_sample(n, nq, seed ^ 0x9d2c5680u);
    uint32_t *orig = hk_malloc(nq * k * sizeof *orig);
    double *score = hk_malloc(nq * sizeof *score);
    float *qv = hk_malloc(nq * m->dim * sizeof *qv);
    flat_hit **hits = hk_calloc(nq, sizeof *hits);
    size_t *counts = hk_calloc(nq, sizeof *counts);
    hk_status st = HK_OK;
    if (!qs || !orig || !score || !qv || !hits || !counts) st = hk_fail(HK_NOMEM, "out of memory for the quality measure");
    for (size_t i = 0; !st && i < nq; i++) memcpy(qv + i * m->dim, m->rows + (size_t)qs[i] * m->dim, m->dim * sizeof *qv);
    if (!st) st = flat_search(m, qv, nq, k + 1, NULL, 0, 0, hits, counts);
    if (!st) {
        for (size_t i = 0; i < nq; i++) {
            size_t w = 0;
            for (size_t j = 0; j < counts[i] && w < k; j++)
                if (hits[i][j].slot != qs[i]) orig[i * k + w++] = hits[i][j].slot;
            for (; w < k; w++) orig[i * k + w] = UINT32_MAX;
        }
        qual_ctx qc = {coords, cdim, n, k, qs, orig, score};
        hk_pool_run(nq, qual_task, &qc);
        double s = 0;
        for (size_t i = 0; i < nq; i++) s += score[i];
        *out = s / (double)nq;
        if (used) *used = (uint32_t)nq;
    }
    for (size_t i = 0; hits && i < nq; i++) hk_free(hits[i]);
    hk_free(hits), hk_free(counts), hk_free(qs), hk_free(orig), hk_free(score), hk_free(qv);
    return st;
}

static float *norms_of(const float *x, size_t n, size_t d) {
    float *nn = hk_malloc((n ? n : 1) * sizeof *nn);
    if (!nn) return NULL;
    for (size_t i = 0; i < n; i++) nn[i] = vec_norm_sq(x + i * d, d);
    return nn;
}

hk_status hk_knn_preservation(const float *vectors, uint32_t dim, hk_metric metric,
                              const float *coords, uint32_t cdim, size_t n, uint32_t k,
                              size_t nsample, uint64_t seed, double *out) {
    if (!vectors || !coords || !out) return hk_fail(HK_INVALID, "knn_preservation: NULL argument");
    if (!dim || !cdim || k < 1 || k > HK_PROJECT_MAX_NEIGHBORS || n > UINT32_MAX - 1)
        return hk_fail(HK_INVALID, "knn_preservation: dim and cdim must be >= 1, k from 1 to %u",
                       HK_PROJECT_MAX_NEIGHBORS);
    if (n < 2) return hk_fail(HK_INVALID, "knn_preservation needs at least 2 points");
    float *x = hk_aligned_alloc(n * dim * sizeof *x);
    uint8_t *live = hk_malloc(n);
    if (!x || !live) {
        hk_aligned_free(x), hk_free(live);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    memcpy(x, vectors, n * dim * sizeof *x);
    if (metric == HK_METRIC_COSINE)
        for (size_t i = 0; i < n; i++) vec_normalize(x + i * dim, dim);
    memset(live, 1, n);
    float *nn = norms_of(x, n, dim);
    flat_matrix m = {.rows = x, .norms_sq = nn, .live = live, .nslots = n, .dim = dim, .metric = metric};
    hk_status st = nn ? proj_quality(&m, coords, cdim, k, nsample ? nsample : n, seed, out, NULL)
                      : hk_fail(HK_NOMEM, "out of memory");
    hk_aligned_free(x), hk_free(live), hk_free(nn);
    return st;
}

/* ---- the whole projection ---- */

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs every step on x (n x dim, aligned, owned by the caller) for p (count, ids set). */
static hk_status project_run(float *x, size_t n, uint32_t dim, hk_metric metric,
                             const hk_projection_options *o, hk_projection *p, double t0,
                             int have_knn) {
    uint32_t k = o->neighbors;
    p->method = o->method;
    p->dim = dim;
    p->metric = metric;
    p->neighbors = k;
    p->seed = o->seed;
    p->min_dist = o->min_dist;
    p->coords = hk_malloc(n * 3 * sizeof *p->coords);
    if (!have_knn) {
        p->knn = hk_malloc(n * k * sizeof *p->knn);
        p->knn_dist = hk_malloc(n * k * sizeof *p->knn_dist);
    }
    uint8_t *live = hk_malloc(n);
    float *nn = norms_of(x, n, dim);
    hk_status st = HK_OK;
    if (!p->coords || !p->knn || !p->knn_dist || !live || !nn)
        st = hk_fail(HK_NOMEM, "out of memory for a projection of %zu points", n);
    if (!st) memset(live, 1, n);
    flat_matrix m = {.rows = x, .norms_sq = nn, .live = live, .nslots = n, .dim = dim, .metric = metric};
    if (!st && !have_knn) st = knn_graph(&m, k, exact_max(o), o, p->knn, p->knn_dist, &p->knn_exact);
    if (!st) st = proj_pca(x, n, dim, o, p->coords, p->explained_variance);
    if (!st && o->method == HK_PROJECT_UMAP) st = proj_umap(&m, p, o);
    if (!st) {
        for (int t = 0; t < 3; t++) p->bounds_min[t] = INFINITY, p->bounds_max[t] = -INFINITY;
        for (size_t i = 0; i < n; i++)
            for (int t = 0; t < 3; t++) {
                float v = p->coords[i * 3 + t];
                if (v < p->bounds_min[t]) p->bounds_min[t] = v;
                if (v > p->bounds_max[t]) p->bounds_max[t] = v;
            }
        st = proj_quality(&m, p->coords, 3, k, o->quality_sample ? o->quality_sample : QUALITY_DEFAULT,
                          o->seed, &p->knn_preservation, &p->quality_points);
    }
    if (!st && proj_report(o, "done", 1)) st = proj_cancelled();
    hk_free(live);
    hk_free(nn);
    p->seconds = wall_now() - t0;
    p->created = (uint64_t)time(NULL);
    return st;
}

static hk_status finish(hk_status st, hk_projection *p, hk_projection **out) {
    if (st) {
        hk_projection_free(p);
        return st;
    }
    *out = p;
    return HK_OK;
}

/* ---- the k-NN graph from the collection's own HNSW graph ---- */

typedef struct cknn_ctx {
    hk_collection *c;
    flat_matrix cm;               /* the collection's matrix, floats only */
    const roaring_bitmap_t *allow;
    const float *x;               /* the copy: n x dim */
    size_t n, dim, base, per_task, want;
    uint32_t k;
    hk_metric metric;
    const uint32_t *slot_pos;     /* slot -> position, UINT32_MAX outside the copy */
    size_t nslot_pos;
    const uint64_t *ids;
    uint32_t *knn;
    float *dist;
    atomic_int fail;
} cknn_ctx;

static int fd_cmp(const void *a, const void *b) {
    const flat_hit *x = a, *y = b;
    return x->dist < y->dist ? -1 : x->dist > y->dist ? 1 : (x->slot > y->slot) - (x->slot < y->slot);
}

static void cknn_task(void *ctx, size_t task, unsigned worker) {
    (void)worker;
    cknn_ctx *kc = ctx;
    if (atomic_load(&kc->fail)) return;
    size_t lo = kc->base + task * kc->per_task;
    size_t hi = lo + kc->per_task < kc->n ? lo + kc->per_task : kc->n;
    flat_hit hits[HK_PROJECT_MAX_NEIGHBORS + 8], mine[HK_PROJECT_MAX_NEIGHBORS + 8];
    const vec_kernels *vk = vec_best();
    size_t ef = 4 * kc->want > 64 ? 4 * kc->want : 64;
    for (size_t i = lo; i < hi; i++) {
        const float *q = kc->x + i * kc->dim;
        size_t nh = 0;
        if (hnsw_search(kc->c->graph, &kc->cm, q, kc->want, ef, kc->allow, hits, &nh)) {
            atomic_store(&kc->fail, 1);
            return;
        }
        /* Slots -> positions of the copy (a slot a writer recycled since is dropped), and
         * distances again from the copied vectors. */
        size_t w = 0;
        for (size_t j = 0; j < nh; j++) {
            uint32_t s = hits[j].slot;
            if (s >= kc->nslot_pos || kc->slot_pos[s] == UINT32_MAX) continue;
            uint32_t pos = kc->slot_pos[s];
            if (pos == i || kc->c->ids[s] != kc->ids[pos]) continue;
            const float *r = kc->x + (size_t)pos * kc->dim;
            float d = kc->metric == HK_METRIC_L2 ? vk->l2sq(q, r, kc->dim) : -vk->dot(q, r, kc->dim);
            mine[w].dist = d;
            mine[w++].slot = pos;
        }
        qsort(mine, w, sizeof *mine, fd_cmp);
        size_t t = 0;
        for (; t < w && t < kc->k; t++) {
            kc->knn[i * kc->k + t] = mine[t].slot;
            kc->dist[i * kc->k + t] = proj_user_dist(kc->metric, mine[t].dist);
        }
        for (; t < kc->k; t++) {
            kc->knn[i * kc->k + t] = t ? kc->knn[i * kc->k + t - 1] : (uint32_t)i;
            kc->dist[i * kc->k + t] = t ? kc->dist[i * kc->k + t - 1] : 0;
        }
    }
}

/* When the collection has an HNSW graph (and no pending, unlinked points), walks it once
 * per copied point, under the read lock one block of queries at a time (writers wait for
 * a block, never for the whole graph). *done = 0 leaves the graph to project_run. */
static hk_status collection_knn(hk_collection *c, const float *x, size_t n,
                                const hk_projection_options *o, hk_projection *p, int *done) {
    *done = 0;
    hk_status st = coll_read_begin(c);
    if (st) return st;
    int usable = c->graph && roaring_bitmap_is_empty(c->pending) && hnsw_count(c->graph) >= n;
    size_t nslots = c->nslots;
    uint32_t *slot_pos = usable ? hk_malloc((nslots ? nslots : 1) * sizeof *slot_pos) : NULL;
    roaring_bitmap_t *allow = usable ? roaring_bitmap_create() : NULL;
    if (usable && (!slot_pos || !allow)) st = hk_fail(HK_NOMEM, "out of memory for the k-NN graph");
    if (!st && usable) {
        /* The copy's points are found again by id: positions follow ascending slots. */
        for (size_t s = 0; s < nslots; s++) slot_pos[s] = UINT32_MAX;
        size_t pos = 0, nlive = (size_t)c->count;
        uint32_t *live = hk_malloc((nlive ? nlive : 1) * sizeof *live);
        if (!live) st = hk_fail(HK_NOMEM, "out of memory for the k-NN graph");
        else roaring_bitmap_to_uint32_array(c->live_bm, live);
        for (size_t li = 0; !st && li < nlive && pos < n; li++) {
            uint32_t s = live[li];
            if (c->ids[s] == p->ids[pos]) {
                slot_pos[s] = (uint32_t)pos++;
                roaring_bitmap_add(allow, s);
            }
        }
        hk_free(live);
        if (pos != n) usable = 0;
    }
    coll_read_end(c);
    uint32_t k = o->neighbors;
    if (!st && usable) {
        p->knn = hk_malloc(n * k * sizeof *p->knn);
        p->knn_dist = hk_malloc(n * k * sizeof *p->knn_dist);
        if (!p->knn || !p->knn_dist) st = hk_fail(HK_NOMEM, "out of memory for the k-NN graph");
    }
    cknn_ctx kc;
    memset(&kc, 0, sizeof kc);
    kc.c = c;
    kc.allow = allow;
    kc.x = x;
    kc.n = n;
    kc.dim = c->cfg.dim;
    kc.k = k;
    kc.want = (size_t)k + 5;
    kc.metric = c->cfg.metric;
    kc.slot_pos = slot_pos;
    kc.nslot_pos = nslots;
    kc.ids = p->ids;
    kc.knn = p->knn;
    kc.dist = p->knn_dist;
    kc.per_task = 256;
    size_t block = 16384;
    for (size_t b0 = 0; !st && usable && b0 < n; b0 += block) {
        size_t bn = n - b0 < block ? n - b0 : block;
        if ((st = coll_read_begin(c))) break;
        /* The matrix as it is now (a writer may have grown it between blocks). */
        kc.cm = (flat_matrix){.rows = c->vectors, .norms_sq = c->norms, .live = c->live,
                              .nslots = c->nslots, .dim = c->cfg.dim, .metric = c->cfg.metric};
        kc.base = b0;
        hk_pool_run((bn + kc.per_task - 1) / kc.per_task, cknn_task, &kc);
        coll_read_end(c);
        if (atomic_load(&kc.fail)) st = hk_fail(HK_NOMEM, "out of memory walking the graph");
        else if (proj_report(o, "knn", (double)(b0 + bn) / (double)n)) st = proj_cancelled();
    }
    hk_free(slot_pos);
    if (allow) roaring_bitmap_free(allow);
    if (!st && usable) {
        *done = 1;
        p->knn_exact = 0;
        p->knn_collection_graph = 1;
    }
    return st;
}

hk_status hk_collection_project(hk_collection *c, const hk_projection_options *o,
                                hk_projection **out) {
    if (!c || !out) return hk_fail(HK_INVALID, "collection_project: NULL argument");
    *out = NULL;
    hk_projection_options def;
    if (!o) hk_projection_options_init(&def), o = &def;
    hk_status st = check_options(o);
    if (st) return st;
    if (!c->cfg.dim)
        return hk_fail(HK_INVALID, "collection '%s' is text-only: it has no vectors to project", c->name);
    double t0 = wall_now();
    if (proj_report(o, "sample", 0)) return proj_cancelled();
    hk_projection *p = hk_calloc(1, sizeof *p);
    if (!p) return hk_fail(HK_NOMEM, "out of memory");
    if ((st = coll_read_begin(c))) return finish(st, p, out);
    size_t total = (size_t)c->count, dim = c->cfg.dim;
    size_t take = total < o->max_points ? total : (size_t)o->max_points;
    float *x = NULL;
    if (total == 0) st = hk_fail(HK_INVALID, "collection '%s' is empty: there is nothing to project", c->name);
    uint32_t *live = NULL, *pick = NULL;
    if (!st) {
        live = hk_malloc(total * sizeof *live);
        pick = draw_sample(total, take, o->seed);
        x = hk_aligned_alloc(take * dim * sizeof *x);
        p->ids = hk_malloc(take * sizeof *p->ids);
        if (!live || !pick || !x || !p->ids) st = hk_fail(HK_NOMEM, "out of memory for %zu vectors", take);
    }
    if (!st) {
        roaring_bitmap_to_uint32_array(c->live_bm, live);
        for (size_t i = 0; i < take; i++) {
            uint32_t slot = live[pick[i]];
            memcpy(x + i * dim, c->vectors + (size_t)slot * dim, dim * sizeof *x);
            p->ids[i] = c->ids[slot];
        }
        p->lsn = c->lsn;
    }
    coll_read_end(c);
    hk_free(live);
    hk_free(pick);
    p->count = take;
    p->total = total;
    p->sampled = take < total;
    int have_knn = 0;
    if (!st && take > exact_max(o)) {
        st = collection_knn(c, x, take, o, p, &have_knn);
        if (!st && proj_report(o, "knn", 1)) st = proj_cancelled();
    }
    if (!st) st = project_run(x, take, (uint32_t)dim, c->cfg.metric, o, p, t0, have_knn);
    hk_aligned_free(x);
    return finish(st, p, out);
}

hk_status hk_project(const float *vectors, const uint64_t *ids, size_t n, uint32_t dim,
                     hk_metric metric, const hk_projection_options *o, hk_projection **out) {
    if (!vectors || !out) return hk_fail(HK_INVALID, "project: NULL argument");
    *out = NULL;
    hk_projection_options def;
    if (!o) hk_projection_options_init(&def), o = &def;
    hk_status st = check_options(o);
    if (st) return st;
    if (!dim || dim > HK_MAX_DIM) return hk_fail(HK_INVALID, "dimension %u is out of range", dim);
    if (n == 0) return hk_fail(HK_INVALID, "there are no vectors to project");
    if (n > UINT32_MAX - 1) return hk_fail(HK_INVALID, "too many vectors (%zu)", n);
    for (size_t i = 0; i < n; i++)
        if (!vec_all_finite(vectors + i * dim, dim))
            return hk_fail(HK_INVALID, "vector %zu has a NaN or infinite component", i);
    double t0 = wall_now();
    size_t take = n < o->max_points ? n : (size_t)o->max_points;
    hk_projection *p = hk_calloc(1, sizeof *p);
    uint32_t *pick = draw_sample(n, take, o->seed);
    float *x = hk_aligned_alloc(take * dim * sizeof *x);
    if (p) p->ids = hk_malloc(take * sizeof *p->ids);
    if (!p || !pick || !x || !p->ids) st = hk_fail(HK_NOMEM, "out of memory for %zu vectors", take);
    for (size_t i = 0; !st && i < take; i++) {
        memcpy(x + i * dim, vectors + (size_t)pick[i] * dim, dim * sizeof *x);
        if (metric == HK_METRIC_COSINE) vec_normalize(x + i * dim, dim);
        p->ids[i] = ids ? ids[pick[i]] : pick[i];
    }
    hk_free(pick);
    if (!st) {
        p->count = take;
        p->total = n;
        p->sampled = take < n;
        st = project_run(x, take, dim, metric, o, p, t0, 0);
    }
    hk_aligned_free(x);
    if (!p) return st;
    return finish(st, p, out);
}
