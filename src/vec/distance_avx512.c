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

const vec_kernels vec_kernels_avx512 = {
    .name = "avx512",
    .l2sq = avx512_l2sq,
    .dot = avx512_dot,
    .l2sq_many = avx512_l2sq_many,
    .dot_many = avx512_dot_many,
};

#endif
