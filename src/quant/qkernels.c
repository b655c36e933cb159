/*
 * qkernels.c — the scalar quantizer kernels and the choice of a kernel set.
 *
 * Decisions:
 *  - The scalar set is the portable path and the reference the SIMD sets are tested
 *    against.
 *  - The set is picked once from vec_best()'s name, so one switch (HEKTOR_KERNEL) governs
 *    every kernel in the library, and steps down when a set needs an extension src/vec's
 *    choice did not check (AVX-512BW and VL, for masked byte loads).
 */
#include "qkernels.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "../vec/distance.h"

static float scalar_add_min(float *s, const float *add, size_t k) {
    float best = s[0] + add[0];
    s[0] = best;
    for (size_t i = 1; i < k; i++) {
        float v = s[i] + add[i];
        s[i] = v;
        if (v < best) best = v;
    }
    return best;
}

static size_t scalar_select_le(const float *s, size_t k, float bound, uint32_t *idx) {
    size_t n = 0;
    for (size_t i = 0; i < k; i++)
        if (s[i] <= bound) idx[n++] = (uint32_t)i;
    return n;
}

static void scalar_panel_argmin(const float *x, size_t ldx, size_t n, size_t d, const float *ct,
                                const float *cn, size_t npanels, float *best, uint32_t *arg,
                                float *second) {
    float x2[QK_PANEL_MAX_D];
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * ldx;
        for (size_t q = 0; q < d; q++) x2[q] = -2.0f * xi[q];
        float b = INFINITY, s = INFINITY;
        uint32_t bi = 0;
        for (size_t p = 0; p < npanels; p++) {
            const float *cp = ct + p * d * QK_PANEL;
            for (size_t l = 0; l < QK_PANEL; l++) {
                float acc = cn[p * QK_PANEL + l];
                for (size_t q = 0; q < d; q++) acc += x2[q] * cp[q * QK_PANEL + l];
                if (acc < b) {
                    s = b;
                    b = acc;
                    bi = (uint32_t)(p * QK_PANEL + l);
                } else if (acc < s) {
                    s = acc;
                }
            }
        }
        best[i] = b;
        arg[i] = bi;
        second[i] = s;
    }
}

static void scalar_sum_rows(const float *x, size_t d, const uint32_t *rows, size_t n, double *acc) {
    for (size_t t = 0; t < n; t++) {
        const float *r = x + (size_t)rows[t] * d;
        for (size_t q = 0; q < d; q++) acc[q] += r[q];
    }
}

static double scalar_seed_update(const float *xt, size_t n, size_t d, const float *c, float *d2,
                                 int first) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const float *xp = xt + (i / QK_PANEL) * d * QK_PANEL + i % QK_PANEL;
        float acc = 0;
        for (size_t q = 0; q < d; q++) {
            float t = xp[q * QK_PANEL] - c[q];
            acc += t * t;
        }
        if (first || acc < d2[i]) d2[i] = acc;
        sum += d2[i];
    }
    return sum;
}

/* Layouts: pq.h (pq_fs_pack, pq_fs_quantize). */
static void scalar_fs_scan(const uint8_t *tables, size_t ngroups, const uint8_t *packed,
                           size_t nblocks, uint16_t *out) {
    for (size_t b = 0; b < nblocks; b++) {
        uint16_t acc[32] = {0};
        for (size_t g = 0; g < ngroups; g++) {
            const uint8_t *codes = packed + (b * ngroups + g) * 64;
            const uint8_t *t = tables + g * 128;
            for (size_t v = 0; v < 32; v++) {
                unsigned c0 = codes[v], c1 = codes[32 + v];
                acc[v] = (uint16_t)(acc[v] + t[c0 & 15] + t[64 + (c0 >> 4)] + t[32 + (c1 & 15)] +
                                    t[96 + (c1 >> 4)]);
            }
        }
        memcpy(out + b * 32, acc, sizeof acc);
    }
}

static const qk_kernels qk_kernels_scalar = {
    .name = "scalar",
    .add_min = scalar_add_min,
    .select_le = scalar_select_le,
    .panel_argmin = scalar_panel_argmin,
    .sum_rows = scalar_sum_rows,
    .seed_update = scalar_seed_update,
    .fs_scan = scalar_fs_scan,
};

const qk_kernels *qk_by_name(const char *name) {
    if (name == NULL) return NULL;
    if (strcmp(name, "scalar") == 0) return &qk_kernels_scalar;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &qk_kernels_avx2;
    if (strcmp(name, "avx512") == 0 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return &qk_kernels_avx512;
#endif
    return NULL;
}

static const qk_kernels *qk_choose(void) {
    const char *order[] = {"avx512", "avx2", "scalar"};
    const char *want = vec_best()->name;
    size_t first = 0;
    while (first < 2 && strcmp(order[first], want) != 0) first++;
    for (size_t i = first; i < 3; i++) {
        const qk_kernels *k = qk_by_name(order[i]);
        if (k != NULL) return k;
    }
    return &qk_kernels_scalar;
}

static _Atomic(const qk_kernels *) qk_chosen;

const qk_kernels *qk_best(void) {
    const qk_kernels *k = atomic_load_explicit(&qk_chosen, memory_order_acquire);
    if (k == NULL) {
        k = qk_choose();
        atomic_store_explicit(&qk_chosen, k, memory_order_release);
    }
    return k;
}
