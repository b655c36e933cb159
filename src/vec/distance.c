/*
 * distance.c — the scalar reference kernels, the run-time dispatch, and the vector
 * helpers (normalize, finiteness, norm).
 *
 * Decisions:
 *  - The scalar kernels keep 16 independent partial sums in a small array. Without
 *    -ffast-math a compiler may not reorder a single float sum, but it may vectorize
 *    sixteen separate ones, so this code becomes SSE on baseline x86-64 and NEON on
 *    aarch64 while staying plain C. It is the whole portable path.
 *  - *_many compute each row exactly as the single-pair kernel does, so equal rows get
 *    bit-identical distances wherever they sit (flat search breaks ties by slot and
 *    relies on that).
 *  - The kernel set is chosen once, from __builtin_cpu_supports (which also checks that
 *    the OS saves the wide registers), and published through an atomic pointer; racing
 *    first calls compute the same answer.
 *  - HEKTOR_KERNEL=scalar|avx2|avx512 in the environment forces a kernel set so tests
 *    and benches can compare them. A name this build or CPU cannot run is ignored and the
 *    automatic choice stands; hk_kernel_name() tells which one is in use.
 *  - Norms accumulate in double: they feed normalization and the L2-by-norms identity of
 *    batch search, where float cancellation would show.
 */
#include "distance.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hektor.h"

#define SCALAR_LANES 16
/* Rows ahead of the current one that *_many prefetch. */
#define PREFETCH_ROWS 4

static float lanes_sum(float acc[SCALAR_LANES]) {
    for (size_t w = SCALAR_LANES / 2; w > 0; w /= 2)
        for (size_t j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

static float scalar_l2sq(const float *a, const float *b, size_t dim) {
    float acc[SCALAR_LANES] = {0};
    size_t i = 0;
    for (; i + SCALAR_LANES <= dim; i += SCALAR_LANES) {
        for (size_t j = 0; j < SCALAR_LANES; j++) {
            float d = a[i + j] - b[i + j];
            acc[j] += d * d;
        }
    }
    for (size_t j = 0; i < dim; i++, j++) {
        float d = a[i] - b[i];
        acc[j] += d * d;
    }
    return lanes_sum(acc);
}

static float scalar_dot(const float *a, const float *b, size_t dim) {
    float acc[SCALAR_LANES] = {0};
    size_t i = 0;
    for (; i + SCALAR_LANES <= dim; i += SCALAR_LANES)
        for (size_t j = 0; j < SCALAR_LANES; j++) acc[j] += a[i + j] * b[i + j];
    for (size_t j = 0; i < dim; i++, j++) acc[j] += a[i] * b[i];
    return lanes_sum(acc);
}

static void prefetch_row(const float *row, size_t dim) {
    const char *p = (const char *)row;
    for (size_t off = 0; off < dim * sizeof(float); off += 64) __builtin_prefetch(p + off);
}

static void scalar_l2sq_many(const float *q, const float *base, size_t n, size_t dim,
                             float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_ROWS < n) prefetch_row(base + (i + PREFETCH_ROWS) * dim, dim);
        out[i] = scalar_l2sq(q, base + i * dim, dim);
    }
}

static void scalar_dot_many(const float *q, const float *base, size_t n, size_t dim,
                            float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_ROWS < n) prefetch_row(base + (i + PREFETCH_ROWS) * dim, dim);
        out[i] = scalar_dot(q, base + i * dim, dim);
    }
}

static void scalar_l2sq_ids(const float *q, const float *base, const uint32_t *ids, size_t n,
                            size_t dim, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_ROWS < n) prefetch_row(base + (size_t)ids[i + PREFETCH_ROWS] * dim, dim);
        out[i] = scalar_l2sq(q, base + (size_t)ids[i] * dim, dim);
    }
}

static void scalar_dot_ids(const float *q, const float *base, const uint32_t *ids, size_t n,
                           size_t dim, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_ROWS < n) prefetch_row(base + (size_t)ids[i + PREFETCH_ROWS] * dim, dim);
        out[i] = scalar_dot(q, base + (size_t)ids[i] * dim, dim);
    }
}

static const vec_kernels vec_kernels_scalar = {
    .name = "scalar",
    .l2sq = scalar_l2sq,
    .dot = scalar_dot,
    .l2sq_many = scalar_l2sq_many,
    .dot_many = scalar_dot_many,
    .l2sq_ids = scalar_l2sq_ids,
    .dot_ids = scalar_dot_ids,
};

const vec_kernels *vec_by_name(const char *name) {
    if (name == NULL) return NULL;
    if (strcmp(name, "scalar") == 0) return &vec_kernels_scalar;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return &vec_kernels_avx2;
    if (strcmp(name, "avx512") == 0 && __builtin_cpu_supports("avx512f"))
        return &vec_kernels_avx512;
#endif
    return NULL;
}

static const vec_kernels *vec_choose(void) {
    const vec_kernels *forced = vec_by_name(getenv("HEKTOR_KERNEL"));
    if (forced != NULL) return forced;
    const char *order[] = {"avx512", "avx2"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const vec_kernels *k = vec_by_name(order[i]);
        if (k != NULL) return k;
    }
    return &vec_kernels_scalar;
}

static _Atomic(const vec_kernels *) vec_chosen;

const vec_kernels *vec_best(void) {
    const vec_kernels *k = atomic_load_explicit(&vec_chosen, memory_order_acquire);
    if (k == NULL) {
        k = vec_choose();
        atomic_store_explicit(&vec_chosen, k, memory_order_release);
    }
    return k;
}

const char *hk_kernel_name(void) { return vec_best()->name; }

static double norm_sq_d(const float *v, size_t dim) {
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= dim; i += 8)
        for (size_t j = 0; j < 8; j++) acc[j] += (double)v[i + j] * v[i + j];
    for (size_t j = 0; i < dim; i++, j++) acc[j] += (double)v[i] * v[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

float vec_norm_sq(const float *v, size_t dim) { return (float)norm_sq_d(v, dim); }

int vec_magnitude_ok(const float *v, size_t dim) { return norm_sq_d(v, dim) <= (double)VEC_MAX_NORM_SQ; }

float vec_normalize(float *v, size_t dim) {
    double norm = sqrt(norm_sq_d(v, dim));
    if (norm == 0) return 0;
    double inv = 1.0 / norm;
    for (size_t i = 0; i < dim; i++) v[i] = (float)(v[i] * inv);
    return (float)norm;
}

int vec_all_finite(const float *v, size_t dim) {
    uint32_t bad = 0;
    for (size_t i = 0; i < dim; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        bad |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return bad == 0;
}
