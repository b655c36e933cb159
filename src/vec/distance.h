/*
 * distance.h — distance kernels with runtime dispatch.
 *
 * Every kernel exists as a scalar reference and, on x86-64, as AVX2+FMA and AVX-512F
 * versions compiled with target attributes (so the library builds for any x86-64 and
 * picks the best at run time from CPUID); on other architectures (ARM) the portable
 * path is the scalar code written so compilers vectorize it (NEON on aarch64).
 *
 * Metrics: kernels return squared L2 distance and the dot product. Cosine is the dot
 * product of vectors normalized once at insert (vec_normalize), never per distance.
 */
#ifndef HK_DISTANCE_H
#define HK_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

typedef float (*vec_dist_fn)(const float *a, const float *b, size_t dim);

typedef struct vec_kernels {
    const char *name;   /* "avx512", "avx2", "scalar" */
    vec_dist_fn l2sq;   /* sum (a-b)^2 */
    vec_dist_fn dot;    /* sum a*b */
    /* One query against n contiguous vectors (row stride = dim floats): out[i]. */
    void (*l2sq_many)(const float *q, const float *base, size_t n, size_t dim, float *out);
    void (*dot_many)(const float *q, const float *base, size_t n, size_t dim, float *out);
    /* One query against the rows ids[0..n) of base (row stride = dim floats): out[i], bit
     * for bit what l2sq / dot return for that row. The rows are scattered (a graph's
     * neighbours): AVX-512 measures four at once, so their loads miss the cache together
     * instead of one row after another; the others prefetch rows a few ahead. */
    void (*l2sq_ids)(const float *q, const float *base, const uint32_t *ids, size_t n, size_t dim,
                     float *out);
    void (*dot_ids)(const float *q, const float *base, const uint32_t *ids, size_t n, size_t dim,
                    float *out);
} vec_kernels;

/* The kernels chosen for this CPU (first call decides; thread-safe). */
const vec_kernels *vec_best(void);
/* Named implementation, or NULL when this build/CPU lacks it: for tests and benches. */
const vec_kernels *vec_by_name(const char *name);

/* Scales v to unit length in place; returns the original norm (0 leaves v as it is). */
float vec_normalize(float *v, size_t dim);
/* 1 when every component is finite. */
int vec_all_finite(const float *v, size_t dim);
/* Largest squared norm a stored or query vector may have (l2 and ip): with |x|^2 and
 * |q|^2 below FLT_MAX / 4, every squared distance |x - q|^2 <= 2|x|^2 + 2|q|^2 and every
 * dot product stays finite in float32. */
#define VEC_MAX_NORM_SQ 8.0e37f
/* 1 when the vector's squared norm is at most VEC_MAX_NORM_SQ. */
int vec_magnitude_ok(const float *v, size_t dim);
/* Squared norm (double accumulation). */
float vec_norm_sq(const float *v, size_t dim);

/* Integer kernels between 8-bit codes (distance_u8.c): exact sums, equal in every
 * implementation. n <= 65536 keeps them within 32 bits. */
typedef struct vec_u8_kernels {
    const char *name; /* "avx512vnni", "avx512bw", "avx2", "scalar" */
    uint32_t (*l2)(const uint8_t *a, const uint8_t *b, size_t n);  /* sum (a-b)^2 */
    uint32_t (*dot)(const uint8_t *a, const uint8_t *b, size_t n); /* sum a*b */
} vec_u8_kernels;
/* The family vec_best() chose (so HEKTOR_KERNEL forces it), at its widest on this CPU. */
const vec_u8_kernels *vec_u8_best(void);
/* "scalar", "avx2", "avx512bw", "avx512vnni" or "avx512" (the widest AVX-512 form), or
 * NULL when this build or CPU cannot run it. */
const vec_u8_kernels *vec_u8_by_name(const char *name);

/* Kernel tables of the SIMD files, linked into x86-64 builds only; vec_best and
 * vec_by_name decide whether the CPU may run them. */
#if defined(__x86_64__)
extern const vec_kernels vec_kernels_avx2;
extern const vec_kernels vec_kernels_avx512;
#endif

#endif
