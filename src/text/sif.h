/*
 * sif.h — the built-in embedder: SIF-weighted averages of word vectors (Arora, Liang and
 * Ma, "A Simple but Tough-to-Beat Baseline for Sentence Embeddings", ICLR 2017) over a
 * table of GloVe vectors, and the table's file format ("HKEM", docs/FORMAT.md).
 *
 * The table is made once by sif_convert (hk_embedder_convert) and mapped read-only by
 * sif_open, so a process pays only for the pages it touches and many processes share
 * them. Layout, little endian, every section starting at a multiple of 8:
 *
 *   header (128 bytes): "HKEM", version, dim, words, vector type (1 = IEEE binary16),
 *     source vocabulary size N, SIF a, Zipf exponent, reference sentence length,
 *     strings length, file length, source label (64 bytes, NUL padded), zeros
 *   component   dim float32: the common direction removed from every embedding (unit
 *               length, or all zero when none is removed)
 *   weights     words float32: a / (a + p(w)) per word
 *   offsets     words + 1 uint32: word i is strings[offsets[i] .. offsets[i+1])
 *   vectors     words * dim binary16
 *   strings     the words, sorted bytewise (binary search), no separators
 *   crc         uint32 CRC32C of every byte before it (4-byte aligned)
 */
#ifndef HK_TEXT_SIF_H
#define HK_TEXT_SIF_H

#include <stdint.h>
#include <string.h>

#include "core.h"

#define SIF_MAGIC "HKEM"
#define SIF_VERSION 1u
#define SIF_HEADER 128u
#define SIF_VEC_F16 1u
#define SIF_SOURCE_MAX 64u
#define SIF_DEFAULT_A 1e-4
#define SIF_DEFAULT_COMPONENT_WORDS 20u

/* Section offsets of a table with these counts; returns the whole file's length. */
typedef struct sif_layout {
    uint64_t component, weights, offsets, vectors, strings, crc, file_bytes;
} sif_layout;
void sif_layout_of(uint32_t dim, uint32_t words, uint32_t strings_len, sif_layout *l);

hk_status sif_open(const char *path, hk_embedder **out);

/* IEEE binary16 <-> float32, round to nearest even (finite inputs). */
static inline uint16_t sif_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, mant = x & 0x7FFFFFu;
    int32_t exp = (int32_t)((x >> 23) & 0xFFu) - 127 + 15;
    if (((x >> 23) & 0xFFu) == 0xFFu) return (uint16_t)(sign | 0x7C00u | (mant ? 0x200u : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7C00u);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - exp), h = mant >> shift, rem = mant & ((1u << shift) - 1),
                 mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)h;
}

static inline float sif_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu, x;
    if (exp == 0) {
        float v = (float)mant * (1.0f / 16777216.0f); /* subnormal: mant * 2^-24 */
        return sign ? -v : v;
    }
    if (exp == 31) x = sign | 0x7F800000u | (mant << 13);
    else x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

#endif
