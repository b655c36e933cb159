/*
 * distance_avx512.c — AVX-512F kernels (x86-64 only; built through target attributes,
 * run only when vec_by_name has seen AVX-512F in CPUID, which includes the OS's consent
 * to save the zmm registers).
 *
 * Decisions:
 *  - Four 16-lane accumulators over 64-float steps, then a 16-float loop, then a single
 *    masked load (masked-off floats are never read, so odd dimensions need no scalar
 *    tail and never read past the vector).
 *  - *_many run the same inlined pair kernel per row, so each row's distance is
 *    independent of where the row sits, and prefetch a few rows ahead.
 */
#if defined(__x86_64__)

#include <immintrin.h>

#include "distance.h"

#define AVX512_FN __attribute__((target("avx512f")))
#define PREFETCH_ROWS 4

AVX512_FN static inline __mmask16 avx512_tail_mask(size_t r) {
    return (__mmask16)((1u << r) - 1u);
}

AVX512_FN static inline float avx512_l2sq_inl(const float *a, const float *b, size_t dim) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + 16 <= dim; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    if (i < dim) {
        __mmask16 m = avx512_tail_mask(dim - i);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

AVX512_FN static inline float avx512_dot_inl(const float *a, const float *b, size_t dim) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= dim; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < dim) {
        __mmask16 m = avx512_tail_mask(dim - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

AVX512_FN static inline void avx512_prefetch_row(const float *row, size_t dim) {
    const char *p = (const char *)row;
    for (size_t off = 0; off < dim * sizeof(float); off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

AVX512_FN static float avx512_l2sq(const float *a, const float *b, size_t dim) {
    return avx512_l2sq_inl(a, b, dim);
}

AVX512_FN static float avx512_dot(const float *a, const float *b, size_t dim) {
    return avx512_dot_inl(a, b, dim);
}

AVX512_FN static void avx512_l2sq_many(const float *q, const float *base, size_t n, size_t dim,
                                       float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_ROWS < n) avx512_prefetch_row(base + (i + PREFETCH_ROWS) * dim, dim);
        out[i] = avx512_l2sq_inl(q, base + i * dim, dim);
    }
}

AVX512_FN static void avx512_dot_many(const float *q, const float *base, size_t n, size_t dim,
                                      float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_ROWS < n) avx512_prefetch_row(base + (i + PREFETCH_ROWS) * dim, dim);
        out[i] = avx512_dot_inl(q, base + i * dim, dim);
    }
}

/* Four rows at a time, each with the pair kernel's own accumulators and order (four
 * over 64-float steps, the 16-float steps into the first, the masked tail into the
 * second, the same final sum), so every result equals avx512_l2sq's / avx512_dot's for
 * that row; the four rows' loads are issued together and their misses overlap. */
#define AVX512_IDS_KERNEL(NAME, SINGLE, TERM)                                                  \
    AVX512_FN static void NAME(const float *q, const float *base, const uint32_t *ids, size_t n, \
                               size_t dim, float *out) {                                       \
        size_t r = 0;                                                                          \
        for (; r + 4 <= n; r += 4) {                                                           \
            const float *b[4];                                                                 \
            __m512 s[4][4];                                                                    \
            _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {                              \
                b[k] = base + (size_t)ids[r + k] * dim;                                        \
                s[k][0] = s[k][1] = s[k][2] = s[k][3] = _mm512_setzero_ps();                   \
            }                                                                                  \
            size_t i = 0;                                                                      \
            for (; i + 64 <= dim; i += 64) {                                                   \
                _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {                          \
                    __m512 a = _mm512_loadu_ps(q + i + 16 * j);                                \
                    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)                        \
                        s[k][j] = TERM(a, _mm512_loadu_ps(b[k] + i + 16 * j), s[k][j]);        \
                }                                                                              \
            }                                                                                  \
            for (; i + 16 <= dim; i += 16) {                                                   \
                __m512 a = _mm512_loadu_ps(q + i);                                             \
                _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)                            \
                    s[k][0] = TERM(a, _mm512_loadu_ps(b[k] + i), s[k][0]);                     \
            }                                                                                  \
            if (i < dim) {                                                                     \
                __mmask16 m = avx512_tail_mask(dim - i);                                       \
                __m512 a = _mm512_maskz_loadu_ps(m, q + i);                                    \
                _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)                            \
                    s[k][1] = TERM(a, _mm512_maskz_loadu_ps(m, b[k] + i), s[k][1]);            \
            }                                                                                  \
            _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)                                \
                out[r + k] = _mm512_reduce_add_ps(                                             \
                    _mm512_add_ps(_mm512_add_ps(s[k][0], s[k][1]), _mm512_add_ps(s[k][2], s[k][3]))); \
        }                                                                                      \
        for (; r < n; r++) out[r] = SINGLE(q, base + (size_t)ids[r] * dim, dim);               \
    }

AVX512_FN static inline __m512 avx512_l2_term(__m512 a, __m512 b, __m512 s) {
    __m512 d = _mm512_sub_ps(a, b);
    return _mm512_fmadd_ps(d, d, s);
}
AVX512_FN static inline __m512 avx512_dot_term(__m512 a, __m512 b, __m512 s) {
    return _mm512_fmadd_ps(a, b, s);
}
AVX512_IDS_KERNEL(avx512_l2sq_ids, avx512_l2sq_inl, avx512_l2_term)
AVX512_IDS_KERNEL(avx512_dot_ids, avx512_dot_inl, avx512_dot_term)

const vec_kernels vec_kernels_avx512 = {
    .name = "avx512",
    .l2sq = avx512_l2sq,
    .dot = avx512_dot,
    .l2sq_many = avx512_l2sq_many,
    .dot_many = avx512_dot_many,
    .l2sq_ids = avx512_l2sq_ids,
    .dot_ids = avx512_dot_ids,
};

#endif
