/*
 * qkernels_avx2.c — AVX2+FMA quantizer kernels (x86-64 only; built through target
 * attributes, run only when qk_by_name has seen AVX2 and FMA in CPUID).
 *
 * Decisions:
 *  - Float tails use vmaskmovps (masked-off lanes are never touched); AVX2 has no masked
 *    byte load, so the last few codes of an ADC sum are added one by one rather than read
 *    past the end of the code.
 *  - ADC gathers eight table entries per instruction, one code's eight sub-quantizers at
 *    a time, then reduces the lanes per code.
 */
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "qkernels.h"

#define AVX2_FN __attribute__((target("avx2,fma")))

/* Eight -1 followed by eight 0: a window starting at 8 - r has r leading ones. */
static const int32_t avx2_mask_src[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

AVX2_FN static inline __m256i avx2_tail_mask(size_t r) {
    return _mm256_loadu_si256((const __m256i *)(avx2_mask_src + 8 - r));
}

AVX2_FN static inline float avx2_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
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

AVX2_FN static void avx2_adc8(const float *lut, size_t m, size_t ksub, const uint8_t *codes,
                              size_t n, float *out) {
    const __m256i lanes = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                             _mm256_set1_epi32((int)ksub));
    size_t full = m & ~(size_t)7;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * m;
        __m256 acc = _mm256_setzero_ps();
        for (size_t j = 0; j < full; j += 8) {
            __m256i idx = _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(c + j))),
                                           _mm256_add_epi32(lanes, _mm256_set1_epi32((int)(j * ksub))));
            acc = _mm256_add_ps(acc, _mm256_i32gather_ps(lut, idx, 4));
        }
        float s = avx2_hsum(acc);
        for (size_t j = full; j < m; j++) s += lut[j * ksub + c[j]];
        out[i] = s;
    }
}

AVX2_FN static void avx2_adc4(const float *lut, size_t m, const uint8_t *codes, size_t n,
                              float *out) {
    const __m256i lanes = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
    const __m128i low4 = _mm_set1_epi8(15);
    size_t cs = (m + 1) / 2, full = m & ~(size_t)7;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * cs;
        __m256 acc = _mm256_setzero_ps();
        for (size_t j = 0; j < full; j += 8) {
            int32_t w;
            memcpy(&w, c + j / 2, 4);
            __m128i b = _mm_cvtsi32_si128(w);
            __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(b, low4), _mm_and_si128(_mm_srli_epi16(b, 4), low4));
            __m256i idx = _mm256_add_epi32(_mm256_cvtepu8_epi32(nib),
                                           _mm256_add_epi32(lanes, _mm256_set1_epi32((int)(j * 16))));
            acc = _mm256_add_ps(acc, _mm256_i32gather_ps(lut, idx, 4));
        }
        float s = avx2_hsum(acc);
        for (size_t j = full; j < m; j++) s += lut[j * 16 + ((c[j >> 1] >> ((j & 1) * 4)) & 15)];
        out[i] = s;
    }
}

const qk_kernels qk_kernels_avx2 = {
    .name = "avx2",
    .add_min = avx2_add_min,
    .select_le = avx2_select_le,
    .adc8 = avx2_adc8,
    .adc4 = avx2_adc4,
};

#endif
