/*
 * qkernels_avx512.c — AVX-512 (F, BW, VL) quantizer kernels (x86-64 only; built through
 * target attributes, run only when qk_by_name has seen the extensions in CPUID).
 *
 * Decisions:
 *  - Tails are masked loads and masked gathers, never scalar loops: masked-off bytes are
 *    not read, so no kernel reads past the end of its arrays.
 *  - ADC gathers sixteen table entries per instruction, one code's sixteen sub-quantizers
 *    at a time (indices j*ksub + code_j), then reduces the sixteen lanes per code.
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

AVX512_FN static void avx512_adc8(const float *lut, size_t m, size_t ksub, const uint8_t *codes,
                                  size_t n, float *out) {
    const __m512i lanes = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)ksub));
    size_t full = m & ~(size_t)15, rest = m - full;
    __mmask16 tail = (__mmask16)((1u << rest) - 1u);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * m;
        __m512 acc = _mm512_setzero_ps();
        size_t j = 0;
        for (; j < full; j += 16) {
            __m512i idx = _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + j))),
                                           _mm512_add_epi32(lanes, _mm512_set1_epi32((int)(j * ksub))));
            acc = _mm512_add_ps(acc, _mm512_i32gather_ps(idx, lut, 4));
        }
        if (rest) {
            __m512i idx = _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(tail, c + j)),
                                           _mm512_add_epi32(lanes, _mm512_set1_epi32((int)(j * ksub))));
            acc = _mm512_add_ps(acc, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), tail, idx, lut, 4));
        }
        out[i] = _mm512_reduce_add_ps(acc);
    }
}

/* Sixteen 4-bit codes from the bytes at c (only the first nbytes read), in order. */
AVX512_FN static inline __m512i avx512_nibbles(const uint8_t *c, size_t nbytes) {
    __m128i b = _mm_maskz_loadu_epi8((__mmask16)((1u << nbytes) - 1u), c);
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(15));
    return _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
}

AVX512_FN static void avx512_adc4(const float *lut, size_t m, const uint8_t *codes, size_t n,
                                  float *out) {
    const __m512i lanes = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192,
                                            208, 224, 240);
    size_t cs = (m + 1) / 2, full = m & ~(size_t)15, rest = m - full;
    __mmask16 tail = (__mmask16)((1u << rest) - 1u);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * cs;
        __m512 acc = _mm512_setzero_ps();
        size_t j = 0;
        for (; j < full; j += 16) {
            __m512i idx = _mm512_add_epi32(avx512_nibbles(c + j / 2, 8),
                                           _mm512_add_epi32(lanes, _mm512_set1_epi32((int)(j * 16))));
            acc = _mm512_add_ps(acc, _mm512_i32gather_ps(idx, lut, 4));
        }
        if (rest) {
            __m512i idx = _mm512_add_epi32(avx512_nibbles(c + j / 2, (rest + 1) / 2),
                                           _mm512_add_epi32(lanes, _mm512_set1_epi32((int)(j * 16))));
            acc = _mm512_add_ps(acc, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), tail, idx, lut, 4));
        }
        out[i] = _mm512_reduce_add_ps(acc);
    }
}

const qk_kernels qk_kernels_avx512 = {
    .name = "avx512",
    .add_min = avx512_add_min,
    .select_le = avx512_select_le,
    .adc8 = avx512_adc8,
    .adc4 = avx512_adc4,
};

#endif
