/*
 * u64map.h — open-addressing hash map from 64-bit keys to 32-bit values (point id ->
 * slot). Linear probing with backward-shift deletion, so there are no tombstones and
 * lookups stay short after heavy churn. Keys are mixed with a 64-bit finalizer because
 * ids are often sequential.
 */
#ifndef HK_U64MAP_H
#define HK_U64MAP_H

#include "core.h"

typedef struct u64map {
    uint64_t *keys;
    uint32_t *vals;
    uint8_t *used;
    size_t cap; /* power of two, or 0 */
    size_t n;
} u64map;

void u64map_init(u64map *m);
void u64map_free(u64map *m);
/* Ensures room for `extra` more keys without rehashing during inserts. */
hk_status u64map_reserve(u64map *m, size_t extra);
/* Inserts or overwrites. Never fails after a sufficient u64map_reserve. */
hk_status u64map_put(u64map *m, uint64_t key, uint32_t val);
int u64map_get(const u64map *m, uint64_t key, uint32_t *val);
int u64map_del(u64map *m, uint64_t key);
size_t u64map_memory(const u64map *m);

#endif
