/*
 * qkernels_avx2.c — AVX2+FMA quantizer kernels (x86-64 only; built through target
 * attributes, run only when qk_by_name has seen AVX2 and FMA in CPUID).
 *
 * Decisions:
 *  - Float tails use vmaskmovps: masked-off lanes are never touched, so no kernel reads
 *    past the end of its arrays.
 *  - Fast scan: one 32-byte load holds a pair of sub-quantizers for 32 vectors; vpshufb
 *    looks the low and high nibbles up in 16-byte tables repeated in both 128-bit lanes,
 *    and sums are kept as uint16 pairs as in qkernels_avx512.c.
 */
#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>

#include "qkernels.h"

#define AVX2_FN __attribute__((target("avx2,fma")))

/* Eight -1 followed by eight 0: a window starting at 8 - r has r leading ones. */
static const int32_t avx2_mask_src[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

AVX2_FN static inline __m256i avx2_tail_mask(size_t r) {
    return _mm256_loadu_si256((const __m256i *)(avx2_mask_src + 8 - r));
}

AVX2_FN static float avx2_add_min(float *s, const float *add, size_t k) {
    __m256 best = _mm256_set1_ps(__builtin_inff());
    size_t i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(s + i), _mm256_loadu_ps(add + i));
        _mm256_storeu_ps(s + i, v);
        best = _mm256_min_ps(best, v);
    }
    if (i < k) {
        __m256i m = avx2_tail_mask(k - i);
        __m256 v = _mm256_add_ps(_mm256_maskload_ps(s + i, m), _mm256_maskload_ps(add + i, m));
        _mm256_maskstore_ps(s + i, m, v);
        best = _mm256_min_ps(best, _mm256_blendv_ps(best, v, _mm256_castsi256_ps(m)));
    }
    __m128 r = _mm_min_ps(_mm256_castps256_ps128(best), _mm256_extractf128_ps(best, 1));
    r = _mm_min_ps(r, _mm_movehl_ps(r, r));
    r = _mm_min_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

AVX2_FN static size_t avx2_select_le(const float *s, size_t k, float bound, uint32_t *idx) {
    __m256 b = _mm256_set1_ps(bound);
    size_t n = 0, i = 0;
    for (; i < k; i += 8) {
        unsigned hit;
        if (k - i >= 8) {
            hit = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + i), b, _CMP_LE_OQ));
        } else {
            __m256i m = avx2_tail_mask(k - i);
            __m256 v = _mm256_maskload_ps(s + i, m);
            hit = (unsigned)_mm256_movemask_ps(_mm256_and_ps(_mm256_cmp_ps(v, b, _CMP_LE_OQ),
                                                             _mm256_castsi256_ps(m)));
        }
        while (hit) {
            idx[n++] = (uint32_t)(i + (size_t)__builtin_ctz(hit));
            hit &= hit - 1;
        }
    }
    return n;
}

/* Per-lane running minimum, its index and the runner-up, for 8 of a panel's 16 lanes. */
typedef struct avx2_track {
    __m256 m1, m2;
    __m256i i1;
} avx2_track;

AVX2_FN static inline void avx2_track_add(avx2_track *t, __m256 v, __m256i idx) {
    __m256 lt = _mm256_cmp_ps(v, t->m1, _CMP_LT_OQ);
    t->m2 = _mm256_min_ps(t->m2, _mm256_max_ps(t->m1, v));
    t->m1 = _mm256_blendv_ps(t->m1, v, lt);
    t->i1 = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(t->i1), _mm256_castsi256_ps(idx), lt));
}

AVX2_FN static void avx2_panel_argmin(const float *x, size_t ldx, size_t n, size_t d, const float *ct,
                                      const float *cn, size_t npanels, float *best, uint32_t *arg,
                                      float *second) {
    const __m256 inf = _mm256_set1_ps(__builtin_inff());
    float x2[QK_PANEL_MAX_D];
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * ldx;
        for (size_t q = 0; q < d; q++) x2[q] = -2.0f * xi[q];
        avx2_track lo = {inf, inf, _mm256_setzero_si256()}, hi = lo;
        __m256i cur = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for (size_t p = 0; p < npanels; p++) {
            const float *cp = ct + p * d * QK_PANEL;
            __m256 a0 = _mm256_loadu_ps(cn + p * QK_PANEL), a1 = _mm256_loadu_ps(cn + p * QK_PANEL + 8);
            for (size_t q = 0; q < d; q++) {
                __m256 xq = _mm256_set1_ps(x2[q]);
                a0 = _mm256_fmadd_ps(xq, _mm256_loadu_ps(cp + q * QK_PANEL), a0);
                a1 = _mm256_fmadd_ps(xq, _mm256_loadu_ps(cp + q * QK_PANEL + 8), a1);
            }
            avx2_track_add(&lo, a0, cur);
            avx2_track_add(&hi, a1, _mm256_add_epi32(cur, _mm256_set1_epi32(8)));
            cur = _mm256_add_epi32(cur, _mm256_set1_epi32(QK_PANEL));
        }
        float m1[16], m2[16];
        uint32_t i1[16];
        _mm256_storeu_ps(m1, lo.m1);
        _mm256_storeu_ps(m1 + 8, hi.m1);
        _mm256_storeu_ps(m2, lo.m2);
        _mm256_storeu_ps(m2 + 8, hi.m2);
        _mm256_storeu_si256((__m256i *)i1, lo.i1);
        _mm256_storeu_si256((__m256i *)(i1 + 8), hi.i1);
        size_t w = 0;
        for (size_t l = 1; l < 16; l++)
            if (m1[l] < m1[w] || (m1[l] == m1[w] && i1[l] < i1[w])) w = l;
        float s = INFINITY;
        for (size_t l = 0; l < 16; l++) {
            if (m2[l] < s) s = m2[l];
            if (l != w && m1[l] < s) s = m1[l];
        }
        best[i] = m1[w];
        arg[i] = m1[w] < INFINITY ? i1[w] : 0;
        second[i] = s;
    }
}

/* Four coordinates at a time, four rows in flight (four double accumulators). */
AVX2_FN static void avx2_sum_rows(const float *x, size_t d, const uint32_t *rows, size_t n, double *acc) {
    for (size_t q0 = 0; q0 < d; q0 += 4) {
        size_t w = d - q0 >= 4 ? 4 : d - q0;
        __m128i m = _mm256_castsi256_si128(avx2_tail_mask(w));
        __m256i md = _mm256_cvtepi32_epi64(m);
        __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
        size_t t = 0;
        for (; t + 4 <= n; t += 4) {
            a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_maskload_ps(x + (size_t)rows[t] * d + q0, m)));
            a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_maskload_ps(x + (size_t)rows[t + 1] * d + q0, m)));
            a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm_maskload_ps(x + (size_t)rows[t + 2] * d + q0, m)));
            a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm_maskload_ps(x + (size_t)rows[t + 3] * d + q0, m)));
        }
        for (; t < n; t++)
            a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_maskload_ps(x + (size_t)rows[t] * d + q0, m)));
        __m256d s = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
        _mm256_maskstore_pd(acc + q0, md, _mm256_add_pd(_mm256_maskload_pd(acc + q0, md), s));
    }
}

AVX2_FN static double avx2_seed_update(const float *xt, size_t n, size_t d, const float *c, float *d2,
                                       int first) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (size_t h = 0; h * 8 < n; h++) {
        /* h: half panel of 8 rows (lanes 0-7 or 8-15 of panel h / 2). */
        size_t left = n - h * 8;
        const float *xp = xt + (h / 2) * d * QK_PANEL + (h & 1) * 8;
        __m256 acc = _mm256_setzero_ps();
        for (size_t q = 0; q < d; q++) {
            __m256 t = _mm256_sub_ps(_mm256_loadu_ps(xp + q * QK_PANEL), _mm256_set1_ps(c[q]));
            acc = _mm256_fmadd_ps(t, t, acc);
        }
        __m256i valid = left >= 8 ? _mm256_set1_epi32(-1) : avx2_tail_mask(left);
        if (!first) acc = _mm256_min_ps(acc, _mm256_maskload_ps(d2 + h * 8, valid));
        acc = _mm256_and_ps(acc, _mm256_castsi256_ps(valid));
        _mm256_maskstore_ps(d2 + h * 8, valid, acc);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(acc)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(acc, 1)));
    }
    __m256d s = _mm256_add_pd(s0, s1);
    __m128d r = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(r, _mm_unpackhi_pd(r, r)));
}

AVX2_FN static void avx2_fs_scan(const uint8_t *tables, size_t ngroups, const uint8_t *packed,
                                 size_t nblocks, uint16_t *out) {
    const __m256i low4 = _mm256_set1_epi8(15);
    for (size_t b = 0; b < nblocks; b++) {
        const uint8_t *codes = packed + b * ngroups * 64;
        __m256i sum = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
        for (size_t h = 0; h < 2 * ngroups; h++) {
            /* h: pair of sub-quantizers; its tables sit at 32-byte offsets 0/64 or 32/96. */
            const uint8_t *t = tables + (h / 2) * 128 + (h & 1) * 32;
            __m256i c = _mm256_loadu_si256((const __m256i *)(codes + h * 32));
            __m256i rlo = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)t), _mm256_and_si256(c, low4));
            __m256i rhi = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(t + 64)),
                                              _mm256_and_si256(_mm256_srli_epi16(c, 4), low4));
            sum = _mm256_add_epi16(sum, _mm256_add_epi16(rlo, rhi));
            odd = _mm256_add_epi16(odd, _mm256_add_epi16(_mm256_srli_epi16(rlo, 8), _mm256_srli_epi16(rhi, 8)));
        }
        __m256i even = _mm256_sub_epi16(sum, _mm256_slli_epi16(odd, 8));
        __m256i lo = _mm256_unpacklo_epi16(even, odd), hi = _mm256_unpackhi_epi16(even, odd);
        _mm256_storeu_si256((__m256i *)(out + b * 32), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(out + b * 32 + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
}

const qk_kernels qk_kernels_avx2 = {
    .name = "avx2",
    .add_min = avx2_add_min,
    .select_le = avx2_select_le,
    .panel_argmin = avx2_panel_argmin,
    .sum_rows = avx2_sum_rows,
    .seed_update = avx2_seed_update,
    .fs_scan = avx2_fs_scan,
};

#endif
