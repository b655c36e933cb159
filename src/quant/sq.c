/*
 * sq.c — scalar quantization with optional companding curves (see sq.h).
 */
#include "sq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Clip fractions tried per dimension: the range runs from the p-quantile to the
 * (1 - p)-quantile of the sample, never the raw min/max, so values beyond the 0.01%
 * quantiles never stretch it. The squared error that picks among them counts every
 * sample value (the outliers' clipping error is the same for every candidate). */
static const double sq_clips[] = {1e-4, 1e-3, 3e-3, 1e-2, 2e-2, 5e-2};
/* Curve parameters tried when the caller leaves the parameter to training (0). */
static const double sq_grid_st2084[] = {10000, 1000, 100, 10, 1, 0.1};
static const double sq_grid_pu21[] = {10000, 1000, 100, 10, 1, 0.1};
static const double sq_grid_gamma[] = {0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.5, 2.0, 2.2, 3.0};
static const double sq_grid_mulaw[] = {0.1, 0.3, 1, 3, 10, 30, 100, 255};
#define SQ_TUNE_ROWS 4096
#define SQ_NCLIPS (sizeof sq_clips / sizeof sq_clips[0])
/* Rows of the sample used to choose ranges (the percentiles come from them too). */
#define SQ_RANGE_ROWS 16384

/* ---- tables ------------------------------------------------------------------------ */

static float sq_signed_inverse(const qc_curve *cv, double y) {
    double v = qc_inverse(cv, fabs(y));
    return (float)(y < 0 ? -v : v);
}

static void sq_derive(sq_model *m) {
    uint32_t L = m->levels;
    m->linear = m->curve.kind == QC_NONE;
    m->alpha = 2.0f / (float)(L - 1);
    m->beta = -1.0f;
    for (uint32_t k = 0; k < 256; k++) {
        if (k >= L) {
            m->table[k] = 1.0f;
            m->bound[k] = INFINITY;
            continue;
        }
        double y = -1.0 + 2.0 * k / (double)(L - 1);
        m->table[k] = m->linear ? (float)y : sq_signed_inverse(&m->curve, y);
        /* threshold between code k - 1 and k: the midpoint in the companded domain */
        m->bound[k] = k == 0 ? -INFINITY
                             : (m->linear ? (float)(-1.0 + (2.0 * k - 1.0) / (L - 1))
                                          : sq_signed_inverse(&m->curve, -1.0 + (2.0 * k - 1.0) / (L - 1)));
    }
    double csq = 0;
    for (uint32_t d = 0; d < m->dim; d++) {
        m->weight[d] = m->scale[d] * m->scale[d];
        m->cscale[d] = m->center[d] * m->scale[d];
        csq += (double)m->center[d] * m->center[d];
    }
    m->csq = (float)csq;
}

/* Code of a normalized value u (any real; clipped to [-1, 1]). */
static inline uint32_t sq_code_of(const sq_model *m, float u) {
    if (!(u > -1.0f)) return 0;
    if (u >= 1.0f) return m->levels - 1;
    if (m->linear) {
        float t = (u + 1.0f) * 0.5f * (float)(m->levels - 1) + 0.5f;
        uint32_t k = (uint32_t)t;
        return k >= m->levels ? m->levels - 1 : k;
    }
    /* largest k with bound[k] <= u (bound[0] = -inf) */
    uint32_t lo = 0, hi = m->levels - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi + 1) / 2;
        if (m->bound[mid] <= u) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static hk_status sq_alloc(sq_model *m, uint32_t dim, uint32_t bits, qc_kind curve,
                          double curve_param) {
    memset(m, 0, sizeof *m);
    if (bits != 8 && bits != 4)
        return hk_fail(HK_INVALID, "scalar quantization takes 8 or 4 bits, not %u", bits);
    if (dim == 0 || dim > HK_MAX_DIM)
        return hk_fail(HK_INVALID, "dimension %u is out of range", dim);
    hk_status st = qc_init(&m->curve, curve, curve_param);
    if (st != HK_OK) return st;
    m->dim = dim;
    m->bits = bits;
    m->levels = 1u << bits;
    m->center = hk_calloc(dim, sizeof(float));
    m->scale = hk_calloc(dim, sizeof(float));
    m->weight = hk_calloc(dim, sizeof(float));
    m->cscale = hk_calloc(dim, sizeof(float));
    if (!m->center || !m->scale || !m->weight || !m->cscale) {
        sq_free(m);
        return hk_fail(HK_NOMEM, "out of memory for a %u-dimension quantizer", dim);
    }
    return HK_OK;
}

void sq_free(sq_model *m) {
    if (!m) return;
    hk_free(m->center);
    hk_free(m->scale);
    hk_free(m->weight);
    hk_free(m->cscale);
    memset(m, 0, sizeof *m);
}

size_t sq_code_size(const sq_model *m) {
    return m->bits == 8 ? m->dim : (m->dim + 1) / 2;
}

hk_status sq_from_params(uint32_t dim, uint32_t bits, qc_kind curve, double curve_param,
                         const float *center, const float *scale, sq_model *out) {
    sq_model m;
    hk_status st = sq_alloc(&m, dim, bits, curve, curve_param);
    if (st != HK_OK) return st;
    for (uint32_t d = 0; d < dim; d++) {
        if (!isfinite(center[d]) || !isfinite(scale[d]) || scale[d] < 0 ||
            fabsf(center[d]) > 1e30f || scale[d] > 1e30f) {
            sq_free(&m);
            return hk_fail(HK_CORRUPT, "scalar quantizer range of dimension %u is invalid "
                           "(centre %g, half-range %g)", d, (double)center[d], (double)scale[d]);
        }
        m.center[d] = center[d];
        m.scale[d] = scale[d];
    }
    sq_derive(&m);
    *out = m;
    return HK_OK;
}

/* ---- training ---------------------------------------------------------------------- */

static int sq_float_cmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

typedef struct sq_train_ctx {
    const float *x;
    size_t n, stride;     /* rows used, row step in the sample */
    sq_model *m;
    float *cols;          /* per worker: n floats */
    size_t d0;            /* first dimension of the current slice */
    double tail;          /* > 0: the one clip fraction per tail (a fixed quantile) */
} sq_train_ctx;

/* Squared error of the values v[0..n) quantized with centre c and half-range s. */
static double sq_col_error(const sq_model *m, const float *v, size_t n, float c, float s) {
    double err = 0;
    if (s <= 0) {
        for (size_t i = 0; i < n; i++) err += (double)(v[i] - c) * (v[i] - c);
        return err;
    }
    float inv = 1.0f / s;
    for (size_t i = 0; i < n; i++) {
        float u = (v[i] - c) * inv;
        float r = c + s * m->table[sq_code_of(m, u)];
        err += (double)(v[i] - r) * (v[i] - r);
    }
    return err;
}

static void sq_train_dim(void *arg, size_t task, unsigned worker) {
    sq_train_ctx *t = arg;
    size_t d = t->d0 + task;
    sq_model *m = t->m;
    float *v = t->cols + (size_t)worker * t->n;
    for (size_t i = 0; i < t->n; i++) v[i] = t->x[i * t->stride * m->dim + d];
    qsort(v, t->n, sizeof(float), sq_float_cmp);
    size_t n = t->n;
    float best_c = (v[0] + v[n - 1]) * 0.5f, best_s = (v[n - 1] - v[0]) * 0.5f;
    double best = INFINITY;
    float med = v[n / 2];
    const float *ev = v;
    size_t en = n;
    size_t nclips = t->tail > 0 ? 1 : SQ_NCLIPS;
    for (size_t i = 0; i < nclips; i++) {
        size_t a = (size_t)floor((t->tail > 0 ? t->tail : sq_clips[i]) * (double)(n - 1));
        size_t b = n - 1 - a;
        if (a > b) break;
        float lo = v[a], hi = v[b];
        /* centre candidates: the middle of the range; with a curve also the median, which
         * puts the dense levels where the values are */
        float cs[2] = {(lo + hi) * 0.5f, med};
        int ncand = m->linear ? 1 : 2;
        for (int j = 0; j < ncand; j++) {
            float c = cs[j];
            float s = j == 0 ? (hi - lo) * 0.5f : fmaxf(hi - c, c - lo);
            if (!isfinite(s) || !isfinite(c)) continue;
            double e = sq_col_error(m, ev, en, c, s);
            if (e < best) {
                best = e;
                best_c = c;
                best_s = s;
            }
        }
    }
    m->center[d] = best_c;
    m->scale[d] = best_s > 0 ? best_s : 0.0f;
}

typedef struct sq_nest {
    hk_progress_fn fn;
    void *ud;
} sq_nest;
static int sq_nested(void *ud, const char *phase, double f) {
    sq_nest *n = ud;
    return n->fn(n->ud, phase, 0.5 + 0.5 * f);
}

static hk_status sq_train_fixed(const float *x, size_t n, uint32_t dim, uint32_t bits,
                                qc_kind curve, double curve_param, double quantile,
                                hk_progress_fn progress, void *ud, sq_model *out) {
    if (n == 0) return hk_fail(HK_INVALID, "training needs at least one vector");
    sq_model m;
    hk_status st = sq_alloc(&m, dim, bits, curve, curve_param);
    if (st != HK_OK) return st;
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i])) {
            sq_free(&m);
            return hk_fail(HK_INVALID, "training vector %zu has a non-finite component %zu",
                           i / dim, i % dim);
        }
    sq_derive(&m); /* tables (centres and scales come next) */
    if (progress && progress(ud, "sq", 0.0)) {
        sq_free(&m);
        return hk_fail(HK_CANCELLED, "training cancelled");
    }
    sq_train_ctx t = {.x = x, .m = &m, .tail = quantile > 0 ? (1.0 - quantile) * 0.5 : 0};
    t.stride = n > SQ_RANGE_ROWS ? n / SQ_RANGE_ROWS : 1;
    t.n = n / t.stride;
    unsigned workers = hk_pool_workers();
    t.cols = hk_malloc((size_t)workers * t.n * sizeof(float));
    if (!t.cols) {
        sq_free(&m);
        return hk_fail(HK_NOMEM, "out of memory while training");
    }
    /* In slices of dimensions so progress and cancellation are seen. */
    size_t step = dim > 64 ? 64 : dim;
    for (size_t d0 = 0; d0 < dim; d0 += step) {
        size_t cnt = d0 + step > dim ? dim - d0 : step;
        t.d0 = d0;
        hk_pool_run(cnt, sq_train_dim, &t);
        if (progress && progress(ud, "sq", (double)(d0 + cnt) / dim)) {
            hk_free(t.cols);
            sq_free(&m);
            return hk_fail(HK_CANCELLED, "training cancelled");
        }
    }
    hk_free(t.cols);
    sq_derive(&m);
    *out = m;
    return HK_OK;
}

/* ---- encode / decode --------------------------------------------------------------- */

void sq_encode(const sq_model *m, const float *x, size_t n, uint8_t *codes) {
    size_t cs = sq_code_size(m);
    uint32_t mid = m->levels / 2;
    for (size_t i = 0; i < n; i++) {
        const float *v = x + i * m->dim;
        uint8_t *out = codes + i * cs;
        if (m->bits == 4) memset(out, 0, cs);
        for (uint32_t d = 0; d < m->dim; d++) {
            float s = m->scale[d];
            uint32_t k = s > 0 ? sq_code_of(m, (v[d] - m->center[d]) / s) : mid;
            if (m->bits == 8) out[d] = (uint8_t)k;
            else out[d >> 1] |= (uint8_t)(k << ((d & 1) * 4));
        }
    }
}

static inline uint32_t sq_code_at(const sq_model *m, const uint8_t *code, uint32_t d) {
    return m->bits == 8 ? code[d] : (uint32_t)(code[d >> 1] >> ((d & 1) * 4)) & 15u;
}

void sq_decode(const sq_model *m, const uint8_t *codes, size_t n, float *x) {
    size_t cs = sq_code_size(m);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *code = codes + i * cs;
        float *v = x + i * m->dim;
        for (uint32_t d = 0; d < m->dim; d++)
            v[d] = m->center[d] + m->scale[d] * m->table[sq_code_at(m, code, d)];
    }
}

void sq_prepare(const sq_model *m, const float *q, int ip, float *a, float *bias) {
    double b = 0;
    for (uint32_t d = 0; d < m->dim; d++) {
        float s = m->scale[d];
        if (ip) {
            a[d] = q[d] * s;
            b -= (double)q[d] * m->center[d];
        } else if (s > 0) {
            a[d] = (q[d] - m->center[d]) / s;
        } else {
            a[d] = 0;
            b += (double)(q[d] - m->center[d]) * (q[d] - m->center[d]);
        }
    }
    *bias = (float)b;
}

/* ---- distance kernels -------------------------------------------------------------- */

typedef float (*sq_kernel)(const sq_model *m, const float *a, const uint8_t *code);

/* Scalar: l2 returns sum w (a - g)^2, ip returns sum a g (the callers add signs/bias). */
static float sq_l2_scalar(const sq_model *m, const float *a, const uint8_t *code) {
    float acc = 0;
    for (uint32_t d = 0; d < m->dim; d++) {
        float diff = a[d] - m->table[sq_code_at(m, code, d)];
        acc += m->weight[d] * diff * diff;
    }
    return acc;
}
static float sq_ip_scalar(const sq_model *m, const float *a, const uint8_t *code) {
    float acc = 0;
    for (uint32_t d = 0; d < m->dim; d++) acc += a[d] * m->table[sq_code_at(m, code, d)];
    return acc;
}

/* Symmetric: l2 returns sum w (ga - gb)^2; ip returns sum cs (ga + gb) + w ga gb. */
static float sq_sym_l2_scalar(const sq_model *m, const uint8_t *a, const uint8_t *b) {
    float acc = 0;
    for (uint32_t d = 0; d < m->dim; d++) {
        float diff = m->table[sq_code_at(m, a, d)] - m->table[sq_code_at(m, b, d)];
        acc += m->weight[d] * diff * diff;
    }
    return acc;
}
static float sq_sym_ip_scalar(const sq_model *m, const uint8_t *a, const uint8_t *b) {
    float acc = 0;
    for (uint32_t d = 0; d < m->dim; d++) {
        float ga = m->table[sq_code_at(m, a, d)], gb = m->table[sq_code_at(m, b, d)];
        acc += m->cscale[d] * (ga + gb) + m->weight[d] * ga * gb;
    }
    return acc;
}

#if defined(__x86_64__)
#define SQ_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define SQ_AVX2 __attribute__((target("avx2,fma")))

/* 16 level values for dimensions d..d+15. */
SQ_AVX512 static inline __m512 sq_g16_avx512(const sq_model *m, const uint8_t *code, uint32_t d,
                                             __m512 tab16) {
    if (m->bits == 8) {
        __m512i k = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(code + d)));
        if (m->linear)
            return _mm512_fmadd_ps(_mm512_cvtepi32_ps(k), _mm512_set1_ps(m->alpha),
                                   _mm512_set1_ps(m->beta));
        return _mm512_i32gather_ps(k, m->table, 4);
    }
    __m128i b = _mm_loadl_epi64((const __m128i *)(code + d / 2));
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(15));
    __m512i k = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
    return _mm512_permutexvar_ps(k, tab16);
}

SQ_AVX512 static float sq_l2_avx512(const sq_model *m, const float *a, const uint8_t *code) {
    __m512 acc = _mm512_setzero_ps(), tab16 = _mm512_loadu_ps(m->table);
    uint32_t d = 0;
    for (; d + 16 <= m->dim; d += 16) {
        __m512 diff = _mm512_sub_ps(_mm512_loadu_ps(a + d), sq_g16_avx512(m, code, d, tab16));
        acc = _mm512_fmadd_ps(_mm512_mul_ps(diff, _mm512_loadu_ps(m->weight + d)), diff, acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    for (; d < m->dim; d++) {
        float diff = a[d] - m->table[sq_code_at(m, code, d)];
        r += m->weight[d] * diff * diff;
    }
    return r;
}
SQ_AVX512 static float sq_ip_avx512(const sq_model *m, const float *a, const uint8_t *code) {
    __m512 acc = _mm512_setzero_ps(), tab16 = _mm512_loadu_ps(m->table);
    uint32_t d = 0;
    for (; d + 16 <= m->dim; d += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + d), sq_g16_avx512(m, code, d, tab16), acc);
    float r = _mm512_reduce_add_ps(acc);
    for (; d < m->dim; d++) r += a[d] * m->table[sq_code_at(m, code, d)];
    return r;
}

SQ_AVX512 static float sq_sym_l2_avx512(const sq_model *m, const uint8_t *a, const uint8_t *b) {
    __m512 acc = _mm512_setzero_ps(), tab16 = _mm512_loadu_ps(m->table);
    uint32_t d = 0;
    for (; d + 16 <= m->dim; d += 16) {
        __m512 diff = _mm512_sub_ps(sq_g16_avx512(m, a, d, tab16), sq_g16_avx512(m, b, d, tab16));
        acc = _mm512_fmadd_ps(_mm512_mul_ps(diff, _mm512_loadu_ps(m->weight + d)), diff, acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    for (; d < m->dim; d++) {
        float diff = m->table[sq_code_at(m, a, d)] - m->table[sq_code_at(m, b, d)];
        r += m->weight[d] * diff * diff;
    }
    return r;
}
SQ_AVX512 static float sq_sym_ip_avx512(const sq_model *m, const uint8_t *a, const uint8_t *b) {
    __m512 acc = _mm512_setzero_ps(), tab16 = _mm512_loadu_ps(m->table);
    uint32_t d = 0;
    for (; d + 16 <= m->dim; d += 16) {
        __m512 ga = sq_g16_avx512(m, a, d, tab16), gb = sq_g16_avx512(m, b, d, tab16);
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(m->cscale + d), _mm512_add_ps(ga, gb), acc);
        acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(m->weight + d), ga), gb, acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    for (; d < m->dim; d++) {
        float ga = m->table[sq_code_at(m, a, d)], gb = m->table[sq_code_at(m, b, d)];
        r += m->cscale[d] * (ga + gb) + m->weight[d] * ga * gb;
    }
    return r;
}

/* 8 level values for dimensions d..d+7 (d even). */
SQ_AVX2 static inline __m256 sq_g8_avx2(const sq_model *m, const uint8_t *code, uint32_t d,
                                        __m256 t_lo, __m256 t_hi) {
    if (m->bits == 8) {
        __m256i k = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(code + d)));
        if (m->linear)
            return _mm256_fmadd_ps(_mm256_cvtepi32_ps(k), _mm256_set1_ps(m->alpha),
                                   _mm256_set1_ps(m->beta));
        return _mm256_i32gather_ps(m->table, k, 4);
    }
    uint32_t w;
    memcpy(&w, code + d / 2, 4);
    __m128i b = _mm_cvtsi32_si128((int)w);
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(15));
    __m256i k = _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
    __m256 glo = _mm256_permutevar8x32_ps(t_lo, k), ghi = _mm256_permutevar8x32_ps(t_hi, k);
    __m256 sel = _mm256_castsi256_ps(_mm256_cmpgt_epi32(k, _mm256_set1_epi32(7)));
    return _mm256_blendv_ps(glo, ghi, sel);
}

SQ_AVX2 static float sq_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 4-bit codes read 4 bytes for 8 dimensions; only whole groups inside the code run here. */
SQ_AVX2 static float sq_l2_avx2(const sq_model *m, const float *a, const uint8_t *code) {
    __m256 acc = _mm256_setzero_ps(), t_lo = _mm256_loadu_ps(m->table),
           t_hi = _mm256_loadu_ps(m->table + 8);
    uint32_t d = 0;
    for (; d + 8 <= m->dim; d += 8) {
        __m256 diff = _mm256_sub_ps(_mm256_loadu_ps(a + d), sq_g8_avx2(m, code, d, t_lo, t_hi));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(diff, _mm256_loadu_ps(m->weight + d)), diff, acc);
    }
    float r = sq_hsum256(acc);
    for (; d < m->dim; d++) {
        float diff = a[d] - m->table[sq_code_at(m, code, d)];
        r += m->weight[d] * diff * diff;
    }
    return r;
}
SQ_AVX2 static float sq_sym_l2_avx2(const sq_model *m, const uint8_t *a, const uint8_t *b) {
    __m256 acc = _mm256_setzero_ps(), t_lo = _mm256_loadu_ps(m->table),
           t_hi = _mm256_loadu_ps(m->table + 8);
    uint32_t d = 0;
    for (; d + 8 <= m->dim; d += 8) {
        __m256 diff = _mm256_sub_ps(sq_g8_avx2(m, a, d, t_lo, t_hi), sq_g8_avx2(m, b, d, t_lo, t_hi));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(diff, _mm256_loadu_ps(m->weight + d)), diff, acc);
    }
    float r = sq_hsum256(acc);
    for (; d < m->dim; d++) {
        float diff = m->table[sq_code_at(m, a, d)] - m->table[sq_code_at(m, b, d)];
        r += m->weight[d] * diff * diff;
    }
    return r;
}
SQ_AVX2 static float sq_sym_ip_avx2(const sq_model *m, const uint8_t *a, const uint8_t *b) {
    __m256 acc = _mm256_setzero_ps(), t_lo = _mm256_loadu_ps(m->table),
           t_hi = _mm256_loadu_ps(m->table + 8);
    uint32_t d = 0;
    for (; d + 8 <= m->dim; d += 8) {
        __m256 ga = sq_g8_avx2(m, a, d, t_lo, t_hi), gb = sq_g8_avx2(m, b, d, t_lo, t_hi);
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(m->cscale + d), _mm256_add_ps(ga, gb), acc);
        acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(m->weight + d), ga), gb, acc);
    }
    float r = sq_hsum256(acc);
    for (; d < m->dim; d++) {
        float ga = m->table[sq_code_at(m, a, d)], gb = m->table[sq_code_at(m, b, d)];
        r += m->cscale[d] * (ga + gb) + m->weight[d] * ga * gb;
    }
    return r;
}
SQ_AVX2 static float sq_ip_avx2(const sq_model *m, const float *a, const uint8_t *code) {
    __m256 acc = _mm256_setzero_ps(), t_lo = _mm256_loadu_ps(m->table),
           t_hi = _mm256_loadu_ps(m->table + 8);
    uint32_t d = 0;
    for (; d + 8 <= m->dim; d += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), sq_g8_avx2(m, code, d, t_lo, t_hi), acc);
    float r = sq_hsum256(acc);
    for (; d < m->dim; d++) r += a[d] * m->table[sq_code_at(m, code, d)];
    return r;
}
#endif

typedef float (*sq_sym_kernel)(const sq_model *m, const uint8_t *a, const uint8_t *b);
typedef struct sq_kernels {
    sq_kernel l2, ip;
    sq_sym_kernel sym_l2, sym_ip;
} sq_kernels;
static const sq_kernels sq_k_scalar = {sq_l2_scalar, sq_ip_scalar, sq_sym_l2_scalar, sq_sym_ip_scalar};
#if defined(__x86_64__)
static const sq_kernels sq_k_avx512 = {sq_l2_avx512, sq_ip_avx512, sq_sym_l2_avx512, sq_sym_ip_avx512};
static const sq_kernels sq_k_avx2 = {sq_l2_avx2, sq_ip_avx2, sq_sym_l2_avx2, sq_sym_ip_avx2};
#endif
static const sq_kernels *sq_k; /* chosen once (atomically published) */

static const sq_kernels *sq_by_name(const char *name) {
    if (!strcmp(name, "scalar")) return &sq_k_scalar;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!strcmp(name, "avx512") && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return &sq_k_avx512;
    if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &sq_k_avx2;
#endif
    return NULL;
}

static const sq_kernels *sq_best(void) {
    const sq_kernels *k = __atomic_load_n(&sq_k, __ATOMIC_ACQUIRE);
    if (HK_LIKELY(k != NULL)) return k;
    /* HEKTOR_KERNEL forces a family here as for the float kernels (src/vec) */
    const char *env = getenv("HEKTOR_KERNEL");
    if (env && (k = sq_by_name(env))) {
        __atomic_store_n(&sq_k, k, __ATOMIC_RELEASE);
        return k;
    }
    k = sq_by_name("avx512");
    if (!k) k = sq_by_name("avx2");
    if (!k) k = &sq_k_scalar;
    __atomic_store_n(&sq_k, k, __ATOMIC_RELEASE);
    return k;
}

int sq_force_kernels(const char *name) {
    const sq_kernels *k = NULL;
    if (!name) {
        __atomic_store_n(&sq_k, NULL, __ATOMIC_RELEASE);
        sq_best();
        return 0;
    }
    k = sq_by_name(name);
    if (!k) return -1;
    __atomic_store_n(&sq_k, k, __ATOMIC_RELEASE);
    return 0;
}

float sq_dist(const sq_model *m, const float *a, float bias, int ip, const uint8_t *code) {
    const sq_kernels *k = sq_best();
    return ip ? bias - k->ip(m, a, code) : bias + k->l2(m, a, code);
}

void sq_dist_many(const sq_model *m, const float *a, float bias, int ip, const uint8_t *codes,
                  size_t n, float *out) {
    const sq_kernels *k = sq_best();
    size_t cs = sq_code_size(m);
    if (ip)
        for (size_t i = 0; i < n; i++) out[i] = bias - k->ip(m, a, codes + i * cs);
    else
        for (size_t i = 0; i < n; i++) out[i] = bias + k->l2(m, a, codes + i * cs);
}

static double sq_sample_mse(const sq_model *m, const float *x, size_t n) {
    size_t cs = sq_code_size(m);
    uint8_t *codes = hk_malloc(n * cs);
    float *y = hk_malloc(n * m->dim * sizeof(float));
    double e = INFINITY;
    if (codes && y) {
        sq_encode(m, x, n, codes);
        sq_decode(m, codes, n, y);
        e = 0;
        for (size_t i = 0; i < n * m->dim; i++) e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    }
    hk_free(codes);
    hk_free(y);
    return e;
}

hk_status sq_train(const float *x, size_t n, uint32_t dim, uint32_t bits, qc_kind curve,
                   double curve_param, hk_progress_fn progress, void *ud, sq_model *out) {
    return sq_train_quantile(x, n, dim, bits, curve, curve_param, 0, progress, ud, out);
}

hk_status sq_train_quantile(const float *x, size_t n, uint32_t dim, uint32_t bits, qc_kind curve,
                            double curve_param, double quantile, hk_progress_fn progress,
                            void *ud, sq_model *out) {
    if (quantile != 0 && !(quantile >= 0.5 && quantile <= 1))
        return hk_fail(HK_INVALID, "quantile %g must be from 0.5 to 1 (0 = chosen per component)",
                       quantile);
    const double *grid = NULL;
    size_t ng = 0;
    if (curve_param == 0) {
        switch (curve) {
        case QC_ST2084: grid = sq_grid_st2084; ng = sizeof sq_grid_st2084 / sizeof(double); break;
        case QC_PU21: grid = sq_grid_pu21; ng = sizeof sq_grid_pu21 / sizeof(double); break;
        case QC_GAMMA: grid = sq_grid_gamma; ng = sizeof sq_grid_gamma / sizeof(double); break;
        case QC_MULAW: grid = sq_grid_mulaw; ng = sizeof sq_grid_mulaw / sizeof(double); break;
        default: break;
        }
    }
    if (!grid || n == 0) return sq_train_fixed(x, n, dim, bits, curve, curve_param, quantile, progress, ud, out);
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i]))
            return hk_fail(HK_INVALID, "training vector %zu has a non-finite component %zu",
                           i / dim, i % dim);
    /* The curve's parameter is chosen on a sample of rows: the one whose codes reconstruct
     * the sample best. Then the ranges are trained on everything with it. */
    size_t stride = n > SQ_TUNE_ROWS ? n / SQ_TUNE_ROWS : 1, ns = n / stride;
    float *sub = hk_malloc(ns * dim * sizeof(float));
    if (!sub) return hk_fail(HK_NOMEM, "out of memory while training");
    for (size_t i = 0; i < ns; i++) memcpy(sub + i * dim, x + i * stride * dim, dim * sizeof(float));
    double best = INFINITY, best_p = grid[0];
    for (size_t g = 0; g < ng; g++) {
        if (progress && progress(ud, "curve", 0.5 * g / ng)) {
            hk_free(sub);
            return hk_fail(HK_CANCELLED, "training cancelled");
        }
        sq_model m;
        hk_status st = sq_train_fixed(sub, ns, dim, bits, curve, grid[g], quantile, NULL, NULL, &m);
        if (st) {
            hk_free(sub);
            return st;
        }
        double e = sq_sample_mse(&m, sub, ns);
        sq_free(&m);
        if (e < best) {
            best = e;
            best_p = grid[g];
        }
    }
    hk_free(sub);
    sq_nest nest = {progress, ud};
    return sq_train_fixed(x, n, dim, bits, curve, best_p, quantile, progress ? sq_nested : NULL,
                          &nest, out);
}

hk_status sq_train_int8(const float *x, size_t n, uint32_t dim, hk_progress_fn progress, void *ud,
                        sq_model *out) {
    sq_model m;
    hk_status st = sq_train_fixed(x, n, dim, 8, QC_NONE, 0, 0, progress, ud, &m);
    if (st != HK_OK) return st;
    float S = 0;
    for (uint32_t d = 0; d < dim; d++) S = m.scale[d] > S ? m.scale[d] : S;
    if (!(S > 0)) S = 1.0f; /* every dimension constant: any step reproduces them */
    for (uint32_t d = 0; d < dim; d++) m.scale[d] = S;
    sq_derive(&m);
    *out = m;
    return HK_OK;
}

int sq_is_int8(const sq_model *m) {
    if (m->bits != 8 || !m->linear || !(m->scale[0] > 0)) return 0;
    for (uint32_t d = 1; d < m->dim; d++)
        if (m->scale[d] != m->scale[0]) return 0;
    return 1;
}

float sq_int8_step(const sq_model *m) { return 2.0f * m->scale[0] / 255.0f; }

float sq_int8_term(const sq_model *m, const uint8_t *code) {
    double S = m->scale[0], s = 2.0 * S / 255.0, ok = 0, oo = 0;
    for (uint32_t d = 0; d < m->dim; d++) {
        double o = (double)m->center[d] - S;
        ok += o * code[d];
        oo += o * o;
    }
    return (float)(s * ok + 0.5 * oo);
}

float sq_sym_dist(const sq_model *m, int ip, const uint8_t *a, const uint8_t *b) {
    const sq_kernels *k = sq_best();
    return ip ? -(m->csq + k->sym_ip(m, a, b)) : k->sym_l2(m, a, b);
}
