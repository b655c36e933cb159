/*
 * payload_index.h — an index over the values of one payload key, answering filter
 * conditions with a bitmap of slots instead of a scan of every payload.
 *
 *  keyword: hash of string -> roaring bitmap (match value / any / except)
 *  integer: hash of int64 -> bitmap (match) and a sorted (value, slot) array (range)
 *  float:   hash of double -> bitmap (match on integral values) and a sorted (value, slot)
 *           array (range)
 *  bool:    two bitmaps
 * Sorted arrays are rebuilt lazily after changes (on the first range lookup), so bulk
 * loads do not pay for ordering per insert. Values of another type than the index's are
 * not indexed; lookup then returns NULL for conditions whose answer would depend on them,
 * so the filter falls back to a scan and stays exact.
 */
#ifndef HK_PAYLOAD_INDEX_H
#define HK_PAYLOAD_INDEX_H

#include <roaring/roaring.h>

#include "core.h"
#include "../db/filter.h"

typedef struct payload_index payload_index;

payload_index *pidx_new(const char *key, hk_field_type type); /* NULL on OOM */
void pidx_free(payload_index *ix);
const char *pidx_key(const payload_index *ix);
hk_field_type pidx_type(const payload_index *ix);

/* Index / unindex the values the key reaches in the hkb object payload of slot. A slot is
 * added once; to change its payload, remove the old one first. A failed add leaves the
 * index as it was. A NULL payload holds nothing. */
hk_status pidx_add(payload_index *ix, uint32_t slot, const uint8_t *payload);
void pidx_remove(payload_index *ix, uint32_t slot, const uint8_t *payload);

/* Bitmap of slots whose values satisfy c (c->key equals the index key), or NULL when the
 * index cannot answer c exactly. The caller frees the bitmap. */
roaring_bitmap_t *pidx_lookup(payload_index *ix, const filter_cond *c);

/* Heap bytes held. */
size_t pidx_memory(const payload_index *ix);

#endif /* HK_PAYLOAD_INDEX_H */
