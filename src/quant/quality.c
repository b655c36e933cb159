/*
 * quality.c — what a codebook costs: reconstruction metrics, search quality against exact
 * float search, speed; comparison of several configurations; adaptive choice.
 *
 * Search figures come from single-threaded scans on the calling thread (codes: prepare,
 * score every code, keep the best; floats: the exact kernels), so the ratio between the
 * two is the speed-up of the codes themselves, independent of the core count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "quant.h"
#include "../vec/distance.h"

/* ---- small top-k helper ------------------------------------------------------------ */

typedef struct qk_hit {
    float d;
    uint32_t i;
} qk_hit;

static inline int qk_less(qk_hit a, qk_hit b) { return a.d < b.d || (a.d == b.d && a.i < b.i); }

/* Bounded max-heap push. */
static void qk_push(qk_hit *h, size_t *n, size_t cap, qk_hit x) {
    if (*n < cap) {
        size_t i = (*n)++;
        while (i) {
            size_t p = (i - 1) / 2;
            if (!qk_less(h[p], x)) break;
            h[i] = h[p];
            i = p;
        }
        h[i] = x;
        return;
    }
    if (!qk_less(x, h[0])) return;
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, b = i;
        qk_hit big = x;
        if (l < *n && qk_less(big, h[l])) b = l, big = h[l];
        if (r < *n && qk_less(big, h[r])) b = r;
        if (b == i) break;
        h[i] = h[b];
        i = b;
    }
    h[i] = x;
}

static int qk_cmp(const void *a, const void *b) {
    qk_hit x = *(const qk_hit *)a, y = *(const qk_hit *)b;
    return qk_less(x, y) ? -1 : qk_less(y, x) ? 1 : 0;
}

static float exact_dist(const vec_kernels *k, hk_metric m, const float *a, const float *b, size_t dim) {
    return m == HK_METRIC_L2 ? k->l2sq(a, b, dim) : -k->dot(a, b, dim);
}

/* ---- evaluate ---------------------------------------------------------------------- */

void hk_quality_free(hk_quality *q) {
    if (!q) return;
    hk_free(q->per_dim_mse);
    q->per_dim_mse = NULL;
}

hk_status hk_codebook_evaluate(const hk_codebook *cb, const float *vectors, size_t n,
                               const float *queries, size_t nq, const hk_quality_options *opt,
                               hk_quality *out) {
    if (!cb || !out || (n && !vectors) || (nq && !queries))
        return hk_fail(HK_INVALID, "codebook_evaluate: NULL argument");
    if (n == 0) return hk_fail(HK_INVALID, "evaluation needs at least one vector");
    hk_quality_options o = {0};
    if (opt) o = *opt;
    if (!o.k) o.k = 10;
    if (!o.rerank) o.rerank = 4 * o.k;
    if (o.rerank < o.k) o.rerank = o.k;
    size_t dim = cb->dim;
    if (o.image_width && (dim % o.image_width || o.image_width > dim))
        return hk_fail(HK_INVALID, "image width %u does not divide the dimension %zu",
                       o.image_width, dim);
    memset(out, 0, sizeof *out);
    size_t cs = cb_code_size(cb);
    float *x = hk_malloc(n * dim * sizeof(float));
    float *y = hk_malloc(n * dim * sizeof(float));
    uint8_t *codes = hk_malloc(n * cs);
    double *pd = hk_calloc(dim, sizeof(double));
    float *qn = nq ? hk_malloc(nq * dim * sizeof(float)) : NULL;
    qk_hit *heap = NULL;
    uint32_t *truth = NULL, *found = NULL, *found_rr = NULL;
    float *dbuf = NULL, *qbuf = NULL;
    uint8_t *fs = NULL, *qlut = NULL;
    hk_status st = HK_OK;
    if (!x || !y || !codes || !pd || (nq && !qn)) {
        st = hk_fail(HK_NOMEM, "out of memory evaluating %zu vectors", n);
        goto done;
    }
    memcpy(x, vectors, n * dim * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        if (!vec_all_finite(x + i * dim, dim)) {
            st = hk_fail(HK_INVALID, "vector %zu has a NaN or infinite component", i);
            goto done;
        }
        if (cb->metric == HK_METRIC_COSINE) vec_normalize(x + i * dim, dim);
    }
    uint64_t t0 = hk_now_ns();
    if ((st = cb_encode_rows(cb, x, n, codes))) goto done;
    double enc_s = (double)(hk_now_ns() - t0) / 1e9;
    hk_codebook_decode(cb, codes, n, y);

    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n * dim; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    double range = (double)hi - lo;
    double L = o.ssim_range > 0 ? o.ssim_range : (range > 0 ? range : 1.0);
    out->mse = qm_mse(x, y, n * dim);
    out->psnr = qm_psnr(out->mse, range > 0 ? range : 1.0);
    double ssim = 0, cosd = 0;
    for (size_t i = 0; i < n; i++) {
        const float *a = x + i * dim, *b = y + i * dim;
        ssim += o.image_width ? qm_ssim_2d(a, b, o.image_width, dim / o.image_width, L)
                              : qm_ssim_1d(a, b, dim, L);
        cosd += qm_cosine_distortion(a, b, dim);
    }
    out->ssim = ssim / n;
    out->cosine_distortion = cosd / n;
    qm_per_dim_mse(x, y, n, dim, pd);
    out->per_dim_mse = pd;
    pd = NULL;
    out->method = cb->method;
    out->curve = (cb->method == HK_QUANT_SQ8 || cb->method == HK_QUANT_SQ4) ? cb->params.curve
                                                                              : HK_CURVE_NONE;
    out->code_bytes = (uint32_t)cs;
    out->bytes_per_vector = (double)cs;
    out->compression = 4.0 * dim / (double)cs;
    out->encode_per_s = enc_s > 0 ? n / enc_s : 0;
    out->vectors = n;
    out->queries = nq;
    out->dim = (uint32_t)dim;
    out->k = o.k;
    out->rerank = o.rerank;

    if (nq) {
        size_t k = o.k < n ? o.k : n, R = o.rerank < n ? o.rerank : n;
        const vec_kernels *kern = vec_best();
        memcpy(qn, queries, nq * dim * sizeof(float));
        for (size_t q = 0; q < nq; q++) {
            if (!vec_all_finite(qn + q * dim, dim)) {
                st = hk_fail(HK_INVALID, "query %zu has a NaN or infinite component", q);
                goto done;
            }
            if (cb->metric == HK_METRIC_COSINE) vec_normalize(qn + q * dim, dim);
        }
        heap = hk_malloc((R > k ? R : k) * sizeof *heap);
        truth = hk_malloc(nq * o.k * sizeof *truth);
        found = hk_malloc(nq * o.k * sizeof *found);
        found_rr = hk_malloc(nq * o.k * sizeof *found_rr);
        dbuf = hk_malloc(256 * sizeof(float));
        qbuf = hk_malloc(cb_query_floats(cb) * sizeof(float));
        if (!heap || !truth || !found || !found_rr || !dbuf || !qbuf) {
            st = hk_fail(HK_NOMEM, "out of memory evaluating search");
            goto done;
        }
        /* exact float search */
        t0 = hk_now_ns();
        for (size_t q = 0; q < nq; q++) {
            size_t hn = 0;
            const float *qq = qn + q * dim;
            for (size_t i = 0; i < n; i++)
                qk_push(heap, &hn, k, (qk_hit){exact_dist(kern, cb->metric, qq, x + i * dim, dim), (uint32_t)i});
            qsort(heap, hn, sizeof *heap, qk_cmp);
            for (size_t i = 0; i < o.k; i++) truth[q * o.k + i] = i < hn ? heap[i].i : UINT32_MAX;
        }
        double float_s = (double)(hk_now_ns() - t0) / 1e9;
        /* 4-bit PQ is scanned in the fast-scan layout, as collections do (packing is
         * storage, not search: it is left out of the time) */
        if (cb_has_fs(cb)) {
            fs = hk_malloc(cb_fs_size(cb, n));
            qlut = hk_malloc(cb_fs_lut_size(cb));
            if (!fs || !qlut) {
                st = hk_fail(HK_NOMEM, "out of memory evaluating search");
                goto done;
            }
            cb_fs_pack(cb, codes, n, fs);
        }
        size_t fs_block = fs ? cb_fs_size(cb, 32) : 0;
        /* codes alone, and codes + re-rank (timed together: what a search costs) */
        t0 = hk_now_ns();
        for (size_t q = 0; q < nq; q++) {
            const float *qq = qn + q * dim;
            float bias, scale = 0, fbias = 0;
            cb_prepare(cb, qq, qbuf, &bias);
            if (fs) cb_fs_prepare(cb, qbuf, bias, qlut, &scale, &fbias);
            size_t hn = 0;
            for (size_t b = 0; b < n; b += 256) {
                size_t cnt = n - b < 256 ? n - b : 256;
                if (fs) cb_fs_scan(cb, qlut, scale, fbias, fs + b / 32 * fs_block, cnt, dbuf);
                else cb_dist_many(cb, qbuf, bias, codes + b * cs, cnt, dbuf);
                for (size_t i = 0; i < cnt; i++) qk_push(heap, &hn, R, (qk_hit){dbuf[i], (uint32_t)(b + i)});
            }
            qsort(heap, hn, sizeof *heap, qk_cmp);
            for (size_t i = 0; i < o.k; i++) found[q * o.k + i] = i < hn && i < k ? heap[i].i : UINT32_MAX;
            for (size_t i = 0; i < hn; i++) heap[i].d = exact_dist(kern, cb->metric, qq, x + (size_t)heap[i].i * dim, dim);
            qsort(heap, hn, sizeof *heap, qk_cmp);
            for (size_t i = 0; i < o.k; i++) found_rr[q * o.k + i] = i < hn && i < k ? heap[i].i : UINT32_MAX;
        }
        double code_s = (double)(hk_now_ns() - t0) / 1e9;
        uint64_t *t64 = hk_malloc(nq * o.k * sizeof *t64), *f64 = hk_malloc(nq * o.k * sizeof *f64);
        if (!t64 || !f64) {
            hk_free(t64);
            hk_free(f64);
            st = hk_fail(HK_NOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < nq * o.k; i++) {
            t64[i] = truth[i] == UINT32_MAX ? UINT64_MAX : truth[i];
            f64[i] = found[i] == UINT32_MAX ? UINT64_MAX : found[i];
        }
        out->recall = qm_recall_at_k(t64, o.k, f64, o.k, nq, k);
        for (size_t i = 0; i < nq * o.k; i++) f64[i] = found_rr[i] == UINT32_MAX ? UINT64_MAX : found_rr[i];
        out->recall_rerank = qm_recall_at_k(t64, o.k, f64, o.k, nq, k);
        hk_free(t64);
        hk_free(f64);
        out->search_per_s = code_s > 0 ? nq / code_s : 0;
        out->float_search_per_s = float_s > 0 ? nq / float_s : 0;
    }
done:
    hk_free(fs);
    hk_free(qlut);
    hk_free(x);
    hk_free(y);
    hk_free(codes);
    hk_free(pd);
    hk_free(qn);
    hk_free(heap);
    hk_free(truth);
    hk_free(found);
    hk_free(found_rr);
    hk_free(dbuf);
    hk_free(qbuf);
    if (st) hk_quality_free(out);
    return st;
}

/* ---- compare and choose ------------------------------------------------------------ */

typedef struct nest {
    hk_progress_fn fn;
    void *ud;
    double base, span;
} nest;

static int nested(void *ud, const char *phase, double f) {
    nest *n = ud;
    return n->fn ? n->fn(n->ud, phase, n->base + n->span * f) : 0;
}

hk_status hk_quant_compare(const float *vectors, size_t n, uint32_t dim, hk_metric metric,
                           const hk_quant_params *cands, size_t ncand, const float *queries,
                           size_t nq, const hk_quality_options *o, hk_progress_fn progress,
                           void *ud, hk_quality *results, hk_status *statuses) {
    if (!vectors || !cands || !results) return hk_fail(HK_INVALID, "quant_compare: NULL argument");
    memset(results, 0, ncand * sizeof *results);
    size_t ok = 0;
    char first_err[256] = "";
    for (size_t i = 0; i < ncand; i++) {
        nest ns = {progress, ud, (double)i / ncand, 1.0 / ncand};
        hk_codebook *cb = NULL;
        hk_status st = hk_codebook_train(vectors, n, dim, metric, &cands[i], progress ? nested : NULL,
                                         &ns, &cb);
        if (st == HK_CANCELLED) {
            for (size_t j = 0; j < i; j++) hk_quality_free(&results[j]);
            return st;
        }
        if (!st) st = hk_codebook_evaluate(cb, vectors, n, queries, nq, o, &results[i]);
        hk_codebook_free(cb);
        if (statuses) statuses[i] = st;
        if (st && !first_err[0]) snprintf(first_err, sizeof first_err, "%s", hk_errmsg());
        if (!st) ok++;
    }
    if (!ok && ncand) return hk_fail(HK_INVALID, "no candidate could be trained: %s", first_err);
    return HK_OK;
}

/* Candidate configurations for a dimension, smallest codes last. */
static size_t auto_candidates(uint32_t dim, hk_quant_params *out, size_t cap) {
    size_t n = 0;
    hk_quant_params p;
#define ADD(...)                                  \
    do {                                          \
        if (n < cap) {                            \
            hk_quant_params_init(&p);             \
            __VA_ARGS__;                          \
            out[n++] = p;                         \
        }                                         \
    } while (0)
    ADD(p.method = HK_QUANT_SQ8);
    ADD(p.method = HK_QUANT_SQ4);
    static const hk_curve curves[] = {HK_CURVE_MULAW, HK_CURVE_GAMMA, HK_CURVE_HLG,
                                      HK_CURVE_ST2084, HK_CURVE_PU21};
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
        ADD(p.method = HK_QUANT_SQ4; p.curve = curves[i]);
    /* PQ at 1/2 .. 1/32 byte per dimension (8 bits), OPQ where codes are short */
    static const uint32_t div[] = {2, 4, 8, 16, 32};
    for (size_t i = 0; i < sizeof div / sizeof div[0]; i++) {
        uint32_t m = dim / div[i];
        if (!m || dim % m) continue;
        ADD(p.method = HK_QUANT_PQ; p.pq_m = m; p.pq_bits = 8);
        if (div[i] >= 8) ADD(p.method = HK_QUANT_OPQ; p.pq_m = m; p.pq_bits = 8);
    }
#undef ADD
    return n;
}

hk_status hk_quant_auto(const float *vectors, size_t n, uint32_t dim, hk_metric metric,
                        const hk_quant_target *target, const float *queries, size_t nq,
                        const hk_quality_options *o, hk_progress_fn progress, void *ud,
                        hk_quant_params **params_out, hk_quality **table, size_t *ntable,
                        size_t *chosen) {
    if (!vectors || !target || !params_out || !table || !ntable || !chosen)
        return hk_fail(HK_INVALID, "quant_auto: NULL argument");
    if (!(target->min_recall > 0) == !(target->max_bytes > 0))
        return hk_fail(HK_INVALID, "give exactly one target: a minimum recall or a maximum of "
                       "bytes per vector");
    if (target->min_recall > 1) return hk_fail(HK_INVALID, "a recall target must be at most 1");
    if (target->min_recall > 0 && (!queries || !nq))
        return hk_fail(HK_INVALID, "a recall target needs queries to measure recall with");
    hk_quant_params all[32];
    size_t na = auto_candidates(dim, all, 32), nc = 0;
    hk_quant_params *cands = hk_malloc(na * sizeof *cands);
    if (!cands) return hk_fail(HK_NOMEM, "out of memory");
    for (size_t i = 0; i < na; i++) {
        double bytes = all[i].method == HK_QUANT_SQ8   ? dim
                       : all[i].method == HK_QUANT_SQ4 ? (dim + 1) / 2
                                                       : all[i].pq_m;
        if (target->max_bytes > 0 && bytes > target->max_bytes) continue;
        cands[nc++] = all[i];
    }
    if (!nc) {
        double smallest = INFINITY;
        for (size_t i = 0; i < na; i++) {
            double b = all[i].method == HK_QUANT_SQ8   ? dim
                       : all[i].method == HK_QUANT_SQ4 ? (dim + 1) / 2
                                                       : all[i].pq_m;
            if (b < smallest) smallest = b;
        }
        hk_free(cands);
        *params_out = NULL;
        *table = NULL;
        *ntable = 0;
        return hk_fail(HK_NOT_FOUND, "no method fits in %g bytes per vector (the smallest "
                       "candidate for dimension %u takes %g bytes)", target->max_bytes, dim, smallest);
    }
    hk_quality *res = hk_calloc(nc, sizeof *res);
    hk_status *sts = hk_calloc(nc, sizeof *sts);
    if (!res || !sts) {
        hk_free(cands);
        hk_free(res);
        hk_free(sts);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    hk_status st = hk_quant_compare(vectors, n, dim, metric, cands, nc, queries, nq, o, progress,
                                    ud, res, sts);
    if (st) {
        hk_free(cands);
        hk_free(res);
        hk_free(sts);
        return st;
    }
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < nc; i++) {
        if (sts[i]) continue;
        if (target->min_recall > 0) {
            if (res[i].recall_rerank + 1e-12 < target->min_recall) continue;
            if (best == SIZE_MAX || res[i].bytes_per_vector < res[best].bytes_per_vector ||
                (res[i].bytes_per_vector == res[best].bytes_per_vector &&
                 res[i].recall_rerank > res[best].recall_rerank))
                best = i;
        } else {
            /* the best recall after re-ranking; without queries, the smallest error */
            double qi = nq ? res[i].recall_rerank : -res[i].mse;
            double qb = best == SIZE_MAX ? -INFINITY : (nq ? res[best].recall_rerank : -res[best].mse);
            if (best == SIZE_MAX || qi > qb ||
                (qi == qb && res[i].bytes_per_vector < res[best].bytes_per_vector))
                best = i;
        }
    }
    hk_free(sts);
    *params_out = cands;
    *table = res;
    *ntable = nc;
    *chosen = best;
    if (best == SIZE_MAX)
        return hk_fail(HK_NOT_FOUND, "no method reached recall@%u %.3f after re-ranking (see "
                       "the table of candidates)", o && o->k ? o->k : 10, target->min_recall);
    return HK_OK;
}
