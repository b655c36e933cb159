/*
 * distance_u8.c — integer distance kernels between 8-bit codes (the int8 codebook's codes,
 * src/quant/sq.h), with runtime dispatch like the float kernels in distance.c.
 *
 * Both kernels are exact integer sums, so every implementation returns the same value:
 *   l2   sum (a[i] - b[i])^2        dot  sum a[i] * b[i]        (a, b unsigned bytes)
 * Each term is at most 255^2 and n at most HK_MAX_DIM (65536), so the sums fit in 32
 * unsigned bits; the vector kernels keep 16 (8) 32-bit lanes, each of which sees at most
 * n / 16 terms, far from overflowing.
 *
 * Decisions:
 *  - Codes are widened to 16 bits and multiplied with the 16-bit multiply-add that sums
 *    pairs into 32-bit lanes: AVX-512 VNNI's vpdpwssd (one instruction per 32 components)
 *    when the CPU has it, AVX-512BW's vpmaddwd + vpaddd otherwise, AVX2's vpmaddwd for 16
 *    components at a time. The 8-bit multiply (vpdpbusd, unsigned x signed) would need
 *    a sign correction for codes above 127; widening is exact for all 256 levels and the
 *    kernel is bound by loading the codes anyway.
 *  - Tails (n not a multiple of the vector width) use masked loads on AVX-512 and a
 *    scalar loop on AVX2.
 *  - HEKTOR_KERNEL=scalar|avx2|avx512 forces a family as for the float kernels; avx512
 *    means the widest AVX-512 form this CPU runs.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static uint32_t u8_l2_scalar(const uint8_t *a, const uint8_t *b, size_t n) {
    uint32_t acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t j = 0; j < 16; j++) {
            int32_t d = (int32_t)a[i + j] - (int32_t)b[i + j];
            acc[j] += (uint32_t)(d * d);
        }
    uint32_t s = 0;
    for (; i < n; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        s += (uint32_t)(d * d);
    }
    for (size_t j = 0; j < 16; j++) s += acc[j];
    return s;
}

static uint32_t u8_dot_scalar(const uint8_t *a, const uint8_t *b, size_t n) {
    uint32_t acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t j = 0; j < 16; j++) acc[j] += (uint32_t)a[i + j] * b[i + j];
    uint32_t s = 0;
    for (; i < n; i++) s += (uint32_t)a[i] * b[i];
    for (size_t j = 0; j < 16; j++) s += acc[j];
    return s;
}

static const vec_u8_kernels u8_scalar = {"scalar", u8_l2_scalar, u8_dot_scalar};

#if defined(__x86_64__)
#define U8_AVX2 __attribute__((target("avx2")))
#define U8_BW __attribute__((target("avx512f,avx512bw,avx512vl")))
#define U8_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

U8_AVX2 static uint32_t hsum256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

U8_AVX2 static uint32_t u8_l2_avx2(const uint8_t *a, const uint8_t *b, size_t n) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256i a1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i + 16)));
        __m256i b1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i + 16)));
        __m256i d0 = _mm256_sub_epi16(a0, b0), d1 = _mm256_sub_epi16(a1, b1);
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(d0, d0));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(d1, d1));
    }
    for (; i + 16 <= n; i += 16) {
        __m256i a0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256i d0 = _mm256_sub_epi16(a0, b0);
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(d0, d0));
    }
    uint32_t s = hsum256(_mm256_add_epi32(acc0, acc1));
    for (; i < n; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        s += (uint32_t)(d * d);
    }
    return s;
}

U8_AVX2 static uint32_t u8_dot_avx2(const uint8_t *a, const uint8_t *b, size_t n) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256i a1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i + 16)));
        __m256i b1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i + 16)));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, b1));
    }
    for (; i + 16 <= n; i += 16) {
        __m256i a0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
    }
    uint32_t s = hsum256(_mm256_add_epi32(acc0, acc1));
    for (; i < n; i++) s += (uint32_t)a[i] * b[i];
    return s;
}

static const vec_u8_kernels u8_avx2 = {"avx2", u8_l2_avx2, u8_dot_avx2};

/* Lane sum with vector adds, which wrap: the sums may pass 2^31 (they fit 32 unsigned
 * bits), where the reduction intrinsic's scalar int additions would overflow. */
U8_BW static uint32_t hsum512(__m512i v) {
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

/* 32 codes from p (masked past n - i when fewer remain), widened to 16 bits. */
#define U8_LOAD32(p, i, n)                                                                   \
    _mm512_cvtepu8_epi16((n) - (i) >= 32                                                     \
                             ? _mm256_loadu_si256((const __m256i *)((p) + (i)))               \
                             : _mm256_maskz_loadu_epi8((__mmask32)((1ull << ((n) - (i))) - 1), \
                                                       (p) + (i)))

U8_BW static uint32_t u8_l2_bw(const uint8_t *a, const uint8_t *b, size_t n) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i d0 = _mm512_sub_epi16(U8_LOAD32(a, i, n), U8_LOAD32(b, i, n));
        __m512i d1 = _mm512_sub_epi16(U8_LOAD32(a, i + 32, n), U8_LOAD32(b, i + 32, n));
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(d0, d0));
        acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(d1, d1));
    }
    for (; i < n; i += 32) {
        __m512i d0 = _mm512_sub_epi16(U8_LOAD32(a, i, n), U8_LOAD32(b, i, n));
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(d0, d0));
    }
    return hsum512(_mm512_add_epi32(acc0, acc1));
}

U8_BW static uint32_t u8_dot_bw(const uint8_t *a, const uint8_t *b, size_t n) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(U8_LOAD32(a, i, n), U8_LOAD32(b, i, n)));
        acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(U8_LOAD32(a, i + 32, n),
                                                        U8_LOAD32(b, i + 32, n)));
    }
    for (; i < n; i += 32)
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(U8_LOAD32(a, i, n), U8_LOAD32(b, i, n)));
    return hsum512(_mm512_add_epi32(acc0, acc1));
}

U8_VNNI static uint32_t u8_l2_vnni(const uint8_t *a, const uint8_t *b, size_t n) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i d0 = _mm512_sub_epi16(U8_LOAD32(a, i, n), U8_LOAD32(b, i, n));
        __m512i d1 = _mm512_sub_epi16(U8_LOAD32(a, i + 32, n), U8_LOAD32(b, i + 32, n));
        acc0 = _mm512_dpwssd_epi32(acc0, d0, d0);
        acc1 = _mm512_dpwssd_epi32(acc1, d1, d1);
    }
    for (; i < n; i += 32) {
        __m512i d0 = _mm512_sub_epi16(U8_LOAD32(a, i, n), U8_LOAD32(b, i, n));
        acc0 = _mm512_dpwssd_epi32(acc0, d0, d0);
    }
    return hsum512(_mm512_add_epi32(acc0, acc1));
}

U8_VNNI static uint32_t u8_dot_vnni(const uint8_t *a, const uint8_t *b, size_t n) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_dpwssd_epi32(acc0, U8_LOAD32(a, i, n), U8_LOAD32(b, i, n));
        acc1 = _mm512_dpwssd_epi32(acc1, U8_LOAD32(a, i + 32, n), U8_LOAD32(b, i + 32, n));
    }
    for (; i < n; i += 32) acc0 = _mm512_dpwssd_epi32(acc0, U8_LOAD32(a, i, n), U8_LOAD32(b, i, n));
    return hsum512(_mm512_add_epi32(acc0, acc1));
}

static const vec_u8_kernels u8_bw = {"avx512bw", u8_l2_bw, u8_dot_bw};
static const vec_u8_kernels u8_vnni = {"avx512vnni", u8_l2_vnni, u8_dot_vnni};
#endif

const vec_u8_kernels *vec_u8_by_name(const char *name) {
    if (name == NULL) return NULL;
    if (strcmp(name, "scalar") == 0) return &u8_scalar;
#if defined(__x86_64__)
    __builtin_cpu_init();
    int bw = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
    int vnni = bw && __builtin_cpu_supports("avx512vnni");
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2")) return &u8_avx2;
    if (strcmp(name, "avx512bw") == 0 && bw) return &u8_bw;
    if (strcmp(name, "avx512vnni") == 0 && vnni) return &u8_vnni;
    if (strcmp(name, "avx512") == 0) return vnni ? &u8_vnni : bw ? &u8_bw : NULL;
#endif
    return NULL;
}

static const vec_u8_kernels *u8_choose(void) {
    /* The float kernels' choice decides the family (it honours HEKTOR_KERNEL). */
    const char *fam = vec_best()->name;
    const vec_u8_kernels *k = vec_u8_by_name(fam);
    if (k == NULL && strcmp(fam, "avx512") == 0) k = vec_u8_by_name("avx2");
    return k ? k : &u8_scalar;
}

static _Atomic(const vec_u8_kernels *) u8_chosen;

const vec_u8_kernels *vec_u8_best(void) {
    const vec_u8_kernels *k = atomic_load_explicit(&u8_chosen, memory_order_acquire);
    if (k == NULL) {
        k = u8_choose();
        atomic_store_explicit(&u8_chosen, k, memory_order_release);
    }
    return k;
}
