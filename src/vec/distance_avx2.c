/*
 * distance_avx2.c — AVX2+FMA kernels (x86-64 only; built for every x86-64 through target
 * attributes, run only when vec_by_name has seen AVX2 and FMA in CPUID).
 *
 * Decisions:
 *  - Four 8-lane accumulators over 32-float steps hide the FMA latency; an 8-float loop
 *    and one masked load (vmaskmovps never touches the masked-off floats, so no read past
 *    the end) finish any dimension without a scalar loop.
 *  - *_many call the same inlined pair kernel per row, so a row's distance does not
 *    depend on its neighbours, and prefetch a few rows ahead of the one being summed.
 */
#if defined(__x86_64__)

#include <immintrin.h>

#include "distance.h"

#define AVX2_FN __attribute__((target("avx2,fma")))
#define PREFETCH_ROWS 4

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

AVX2_FN static inline float avx2_l2sq_inl(const float *a, const float *b, size_t dim) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= dim; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    if (i < dim) {
        __m256i m = avx2_tail_mask(dim - i);
        __m256 d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
        s1 = _mm256_fmadd_ps(d, d, s1);
    }
    return avx2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

AVX2_FN static inline float avx2_dot_inl(const float *a, const float *b, size_t dim) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= dim; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < dim) {
        __m256i m = avx2_tail_mask(dim - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return avx2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

AVX2_FN static inline void avx2_prefetch_row(const float *row, size_t dim) {
    const char *p = (const char *)row;
    for (size_t off = 0; off < dim * sizeof(float); off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

AVX2_FN static float avx2_l2sq(const float *a, const float *b, size_t dim) {
    return avx2_l2sq_inl(a, b, dim);
}

AVX2_FN static float avx2_dot(const float *a, const float *b, size_t dim) {
    return avx2_dot_inl(a, b, dim);
}

AVX2_FN static void avx2_l2sq_many(const float *q, const float *base, size_t n, size_t dim,
                                   float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_ROWS < n) avx2_prefetch_row(base + (i + PREFETCH_ROWS) * dim, dim);
        out[i] = avx2_l2sq_inl(q, base + i * dim, dim);
    }
}

AVX2_FN static void avx2_dot_many(const float *q, const float *base, size_t n, size_t dim,
                                  float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_ROWS < n) avx2_prefetch_row(base + (i + PREFETCH_ROWS) * dim, dim);
        out[i] = avx2_dot_inl(q, base + i * dim, dim);
    }
}

AVX2_FN static void avx2_l2sq_ids(const float *q, const float *base, const uint32_t *ids, size_t n,
                                  size_t dim, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_ROWS < n) avx2_prefetch_row(base + (size_t)ids[i + PREFETCH_ROWS] * dim, dim);
        out[i] = avx2_l2sq_inl(q, base + (size_t)ids[i] * dim, dim);
    }
}

AVX2_FN static void avx2_dot_ids(const float *q, const float *base, const uint32_t *ids, size_t n,
                                 size_t dim, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_ROWS < n) avx2_prefetch_row(base + (size_t)ids[i + PREFETCH_ROWS] * dim, dim);
        out[i] = avx2_dot_inl(q, base + (size_t)ids[i] * dim, dim);
    }
}

const vec_kernels vec_kernels_avx2 = {
    .name = "avx2",
    .l2sq = avx2_l2sq,
    .dot = avx2_dot,
    .l2sq_many = avx2_l2sq_many,
    .dot_many = avx2_dot_many,
    .l2sq_ids = avx2_l2sq_ids,
    .dot_ids = avx2_dot_ids,
};

#endif
