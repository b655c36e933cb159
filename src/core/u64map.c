/* u64map.c — see u64map.h. Load factor at most 1/2. */
#include "u64map.h"

#include <string.h>

static inline size_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return (size_t)k;
}

void u64map_init(u64map *m) { memset(m, 0, sizeof *m); }

void u64map_free(u64map *m) {
    hk_free(m->keys);
    hk_free(m->vals);
    hk_free(m->used);
    u64map_init(m);
}

static hk_status rehash(u64map *m, size_t cap) {
    u64map t = {0};
    t.keys = hk_malloc(cap * sizeof *t.keys);
    t.vals = hk_malloc(cap * sizeof *t.vals);
    t.used = hk_calloc(cap, 1);
    if (!t.keys || !t.vals || !t.used) {
        u64map_free(&t);
        return hk_fail(HK_NOMEM, "out of memory (id map of %zu entries)", cap);
    }
    t.cap = cap;
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i]) {
            size_t j = mix(m->keys[i]) & (cap - 1);
            while (t.used[j]) j = (j + 1) & (cap - 1);
            t.used[j] = 1;
            t.keys[j] = m->keys[i];
            t.vals[j] = m->vals[i];
        }
    t.n = m->n;
    u64map_free(m);
    *m = t;
    return HK_OK;
}

hk_status u64map_reserve(u64map *m, size_t extra) {
    size_t need = (m->n + extra) * 2;
    if (need <= m->cap) return HK_OK;
    size_t cap = m->cap ? m->cap : 16;
    while (cap < need) cap *= 2;
    return rehash(m, cap);
}

hk_status u64map_put(u64map *m, uint64_t key, uint32_t val) {
    hk_status st = u64map_reserve(m, 1);
    if (st) return st;
    size_t j = mix(key) & (m->cap - 1);
    while (m->used[j]) {
        if (m->keys[j] == key) {
            m->vals[j] = val;
            return HK_OK;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->used[j] = 1;
    m->keys[j] = key;
    m->vals[j] = val;
    m->n++;
    return HK_OK;
}

int u64map_get(const u64map *m, uint64_t key, uint32_t *val) {
    if (!m->cap) return 0;
    size_t j = mix(key) & (m->cap - 1);
    while (m->used[j]) {
        if (m->keys[j] == key) {
            if (val) *val = m->vals[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

int u64map_del(u64map *m, uint64_t key) {
    if (!m->cap) return 0;
    size_t mask = m->cap - 1, j = mix(key) & mask;
    while (m->used[j] && m->keys[j] != key) j = (j + 1) & mask;
    if (!m->used[j]) return 0;
    /* Backward shift: pull later members of the probe run into the hole. */
    size_t hole = j;
    for (size_t k = (hole + 1) & mask; m->used[k]; k = (k + 1) & mask) {
        size_t home = mix(m->keys[k]) & mask;
        if (((k - home) & mask) >= ((k - hole) & mask)) {
            m->keys[hole] = m->keys[k];
            m->vals[hole] = m->vals[k];
            hole = k;
        }
    }
    m->used[hole] = 0;
    m->n--;
    return 1;
}

size_t u64map_memory(const u64map *m) { return m->cap * (sizeof(uint64_t) + sizeof(uint32_t) + 1); }
