/*
 * qkernels_avx512.c — AVX-512 (F, BW, VL) quantizer kernels (x86-64 only; built through
 * target attributes, run only when qk_by_name has seen the extensions in CPUID).
 *
 * Decisions:
 *  - Tails are masked loads, never scalar loops: masked-off elements are not read, so no
 *    kernel reads past the end of its arrays.
 *  - Fast scan: one 64-byte load holds two pairs of sub-quantizers for 32 vectors; the
 *    low and high nibbles index two vpshufb tables laid out per 128-bit lane (pq.h).
 *    Sums are kept as uint16 pairs FAISS-style: adding the shuffled bytes as 16-bit words
 *    gives (even + 256 odd) mod 2^16, adding them shifted right by 8 gives the odd sums,
 *    and the even sums are recovered at the end by subtraction (exact modulo 2^16).
 */
#if defined(__x86_64__)

#include <immintrin.h>

#include "qkernels.h"

#define AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX512_FN static float avx512_add_min(float *s, const float *add, size_t k) {
    __m512 best = _mm512_set1_ps(__builtin_inff());
    size_t i = 0;
    for (; i + 16 <= k; i += 16) {
        __m512 v = _mm512_add_ps(_mm512_loadu_ps(s + i), _mm512_loadu_ps(add + i));
        _mm512_storeu_ps(s + i, v);
        best = _mm512_min_ps(best, v);
    }
    if (i < k) {
        __mmask16 m = (__mmask16)((1u << (k - i)) - 1u);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, s + i), _mm512_maskz_loadu_ps(m, add + i));
        _mm512_mask_storeu_ps(s + i, m, v);
        best = _mm512_mask_min_ps(best, m, best, v);
    }
    return _mm512_reduce_min_ps(best);
}

AVX512_FN static size_t avx512_select_le(const float *s, size_t k, float bound, uint32_t *idx) {
    __m512 b = _mm512_set1_ps(bound);
    size_t n = 0, i = 0;
    for (; i < k; i += 16) {
        __mmask16 valid = k - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - i)) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(valid, s + i);
        unsigned hit = _mm512_mask_cmp_ps_mask(valid, v, b, _CMP_LE_OQ);
        while (hit) {
            idx[n++] = (uint32_t)(i + (size_t)__builtin_ctz(hit));
            hit &= hit - 1;
        }
    }
    return n;
}

/* Running per-lane minimum, its centroid and the runner-up. */
typedef struct avx512_track {
    __m512 m1, m2;
    __m512i i1;
} avx512_track;

AVX512_FN static inline void avx512_track_add(avx512_track *t, __m512 v, __m512i idx) {
    __mmask16 lt = _mm512_cmp_ps_mask(v, t->m1, _CMP_LT_OQ);
    t->m2 = _mm512_min_ps(t->m2, _mm512_max_ps(t->m1, v));
    t->m1 = _mm512_mask_mov_ps(t->m1, lt, v);
    t->i1 = _mm512_mask_mov_epi32(t->i1, lt, idx);
}

/* Folds tracker b into a, lane by lane: the smaller minimum (the smaller index on ties)
 * wins, and every other value seen competes for the runner-up. */
AVX512_FN static inline void avx512_track_merge(avx512_track *a, const avx512_track *b) {
    __mmask16 lt = _mm512_cmp_ps_mask(b->m1, a->m1, _CMP_LT_OQ) |
                   (_mm512_cmp_ps_mask(b->m1, a->m1, _CMP_EQ_OQ) & _mm512_cmplt_epu32_mask(b->i1, a->i1));
    a->m2 = _mm512_min_ps(_mm512_min_ps(a->m2, b->m2), _mm512_max_ps(a->m1, b->m1));
    a->m1 = _mm512_mask_mov_ps(a->m1, lt, b->m1);
    a->i1 = _mm512_mask_mov_epi32(a->i1, lt, b->i1);
}

AVX512_FN static void avx512_panel_argmin(const float *x, size_t ldx, size_t n, size_t d,
                                          const float *ct, const float *cn, size_t npanels,
                                          float *best, uint32_t *arg, float *second) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 inf = _mm512_set1_ps(__builtin_inff());
    const size_t stride = d * QK_PANEL;
    float x2[QK_PANEL_MAX_D];
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * ldx;
        for (size_t q = 0; q < d; q++) x2[q] = -2.0f * xi[q];
        /* Four panels at a time into four trackers: independent FMA chains and
         * independent compare chains hide their latencies. */
        avx512_track t[4];
        for (size_t j = 0; j < 4; j++) t[j] = (avx512_track){inf, inf, _mm512_setzero_si512()};
        size_t p = 0;
        for (; p + 4 <= npanels; p += 4) {
            const float *cp = ct + p * stride;
            __m512 a0 = _mm512_loadu_ps(cn + p * QK_PANEL), a1 = _mm512_loadu_ps(cn + p * QK_PANEL + 16);
            __m512 a2 = _mm512_loadu_ps(cn + p * QK_PANEL + 32), a3 = _mm512_loadu_ps(cn + p * QK_PANEL + 48);
            for (size_t q = 0; q < d; q++) {
                __m512 xq = _mm512_set1_ps(x2[q]);
                a0 = _mm512_fmadd_ps(xq, _mm512_loadu_ps(cp + q * QK_PANEL), a0);
                a1 = _mm512_fmadd_ps(xq, _mm512_loadu_ps(cp + stride + q * QK_PANEL), a1);
                a2 = _mm512_fmadd_ps(xq, _mm512_loadu_ps(cp + 2 * stride + q * QK_PANEL), a2);
                a3 = _mm512_fmadd_ps(xq, _mm512_loadu_ps(cp + 3 * stride + q * QK_PANEL), a3);
            }
            __m512i base = _mm512_add_epi32(lane, _mm512_set1_epi32((int)(p * QK_PANEL)));
            avx512_track_add(&t[0], a0, base);
            avx512_track_add(&t[1], a1, _mm512_add_epi32(base, _mm512_set1_epi32(16)));
            avx512_track_add(&t[2], a2, _mm512_add_epi32(base, _mm512_set1_epi32(32)));
            avx512_track_add(&t[3], a3, _mm512_add_epi32(base, _mm512_set1_epi32(48)));
        }
        for (; p < npanels; p++) {
            const float *cp = ct + p * stride;
            __m512 a = _mm512_loadu_ps(cn + p * QK_PANEL);
            for (size_t q = 0; q < d; q++)
                a = _mm512_fmadd_ps(_mm512_set1_ps(x2[q]), _mm512_loadu_ps(cp + q * QK_PANEL), a);
            avx512_track_add(&t[0], a, _mm512_add_epi32(lane, _mm512_set1_epi32((int)(p * QK_PANEL))));
        }
        avx512_track_merge(&t[0], &t[1]);
        avx512_track_merge(&t[2], &t[3]);
        avx512_track_merge(&t[0], &t[2]);
        float b = _mm512_reduce_min_ps(t[0].m1);
        __mmask16 eq = _mm512_cmp_ps_mask(t[0].m1, _mm512_set1_ps(b), _CMP_EQ_OQ);
        uint32_t bi = eq ? _mm512_mask_reduce_min_epu32(eq, t[0].i1) : 0;
        __mmask16 won = _mm512_mask_cmpeq_epi32_mask(eq, t[0].i1, _mm512_set1_epi32((int)bi));
        float s = _mm512_reduce_min_ps(_mm512_min_ps(t[0].m2, _mm512_mask_mov_ps(t[0].m1, won, inf)));
        best[i] = b;
        arg[i] = bi;
        second[i] = s;
    }
}

/* Eight coordinates at a time, four rows in flight (four double accumulators). */
AVX512_FN static void avx512_sum_rows(const float *x, size_t d, const uint32_t *rows, size_t n, double *acc) {
    for (size_t q0 = 0; q0 < d; q0 += 8) {
        __mmask8 m = d - q0 >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (d - q0)) - 1u);
        __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
        size_t t = 0;
        for (; t + 4 <= n; t += 4) {
            a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + (size_t)rows[t] * d + q0)));
            a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + (size_t)rows[t + 1] * d + q0)));
            a2 = _mm512_add_pd(a2, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + (size_t)rows[t + 2] * d + q0)));
            a3 = _mm512_add_pd(a3, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + (size_t)rows[t + 3] * d + q0)));
        }
        for (; t < n; t++)
            a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + (size_t)rows[t] * d + q0)));
        __m512d s = _mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3));
        _mm512_mask_storeu_pd(acc + q0, m, _mm512_add_pd(_mm512_maskz_loadu_pd(m, acc + q0), s));
    }
}

AVX512_FN static double avx512_seed_update(const float *xt, size_t n, size_t d, const float *c,
                                           float *d2, int first) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (size_t p = 0; p * QK_PANEL < n; p++) {
        size_t left = n - p * QK_PANEL;
        __mmask16 valid = left >= QK_PANEL ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        const float *xp = xt + p * d * QK_PANEL;
        __m512 acc = _mm512_setzero_ps();
        for (size_t q = 0; q < d; q++) {
            __m512 t = _mm512_sub_ps(_mm512_loadu_ps(xp + q * QK_PANEL), _mm512_set1_ps(c[q]));
            acc = _mm512_fmadd_ps(t, t, acc);
        }
        if (!first) acc = _mm512_min_ps(acc, _mm512_maskz_loadu_ps(valid, d2 + p * QK_PANEL));
        acc = _mm512_maskz_mov_ps(valid, acc);
        _mm512_mask_storeu_ps(d2 + p * QK_PANEL, valid, acc);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(acc)));
        __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(hi));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

AVX512_FN static void avx512_fs_scan(const uint8_t *tables, size_t ngroups, const uint8_t *packed,
                                     size_t nblocks, uint16_t *out) {
    const __m512i low4 = _mm512_set1_epi8(15);
    for (size_t b = 0; b < nblocks; b++) {
        const uint8_t *codes = packed + b * ngroups * 64;
        __m512i sum = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
        for (size_t g = 0; g < ngroups; g++) {
            __m512i c = _mm512_loadu_si512(codes + g * 64);
            __m512i tlo = _mm512_loadu_si512(tables + g * 128);
            __m512i thi = _mm512_loadu_si512(tables + g * 128 + 64);
            __m512i rlo = _mm512_shuffle_epi8(tlo, _mm512_and_si512(c, low4));
            __m512i rhi = _mm512_shuffle_epi8(thi, _mm512_and_si512(_mm512_srli_epi16(c, 4), low4));
            sum = _mm512_add_epi16(sum, _mm512_add_epi16(rlo, rhi));
            odd = _mm512_add_epi16(odd, _mm512_add_epi16(_mm512_srli_epi16(rlo, 8), _mm512_srli_epi16(rhi, 8)));
        }
        __m512i even = _mm512_sub_epi16(sum, _mm512_slli_epi16(odd, 8));
        /* Bytes 0..31 and 32..63 held the same 32 vectors for different sub-quantizers. */
        __m256i e = _mm256_add_epi16(_mm512_castsi512_si256(even), _mm512_extracti64x4_epi64(even, 1));
        __m256i o = _mm256_add_epi16(_mm512_castsi512_si256(odd), _mm512_extracti64x4_epi64(odd, 1));
        __m256i lo = _mm256_unpacklo_epi16(e, o), hi = _mm256_unpackhi_epi16(e, o);
        _mm256_storeu_si256((__m256i *)(out + b * 32), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(out + b * 32 + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
}

const qk_kernels qk_kernels_avx512 = {
    .name = "avx512",
    .add_min = avx512_add_min,
    .select_le = avx512_select_le,
    .panel_argmin = avx512_panel_argmin,
    .sum_rows = avx512_sum_rows,
    .seed_update = avx512_seed_update,
    .fs_scan = avx512_fs_scan,
};

#endif
