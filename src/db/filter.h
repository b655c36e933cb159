/*
 * filter.h — the Qdrant filter grammar: parse once into a tree, then answer either
 * "does this point match" (filter_match) or "which slots match" (filter_eval), the latter
 * using payload indexes where a condition is covered by one.
 *
 * Semantics (as Qdrant documents them):
 *  - must: every condition matches; should: at least one matches (when the list is not
 *    empty); must_not: none matches. An empty filter matches everything.
 *  - A condition on a key matches when any value reached by the key's dotted path matches
 *    (paths enter arrays; Qdrant's "a[].b" is accepted and means "a.b");
 *    an array value matches when any of its elements matches.
 *  - match.value: equal keyword (string), integer or bool. Integers and doubles compare
 *    numerically (1 matches 1.0). match.any: equal to one of the list; match.except: some
 *    non-null value of the key is not in the list (absent, null or [] never match).
 *  - range: numeric values only (int or double) with gt/gte/lt/lte, any combination.
 *  - is_empty: the key is absent, null, or an empty array. is_null: the key is present
 *    and null.
 *  - has_id: the point's id is in the list.
 *  - A nested filter object ({"must": ...}) may stand wherever a condition may.
 * Unknown fields, wrong types and empty keys are parse errors naming the field.
 */
#ifndef HK_FILTER_H
#define HK_FILTER_H

#include <roaring/roaring.h>

#include "core.h"

typedef enum filter_kind {
    FC_MATCH_VALUE,  /* key, values[0] */
    FC_MATCH_ANY,    /* key, values[0..nvalues) */
    FC_MATCH_EXCEPT, /* key, values[0..nvalues) */
    FC_RANGE,        /* key, range */
    FC_IS_EMPTY,     /* key */
    FC_IS_NULL,      /* key */
    FC_HAS_ID,       /* ids[0..nids) sorted, unique */
    FC_NESTED        /* sub */
} filter_kind;

/* A literal in match conditions. */
typedef struct filter_value {
    int type; /* HKB_STRING, HKB_INT, HKB_TRUE, HKB_FALSE */
    int64_t i;
    const char *s;
    uint32_t len;
} filter_value;

typedef struct filter_range {
    double gt, gte, lt, lte;
    unsigned has_gt : 1, has_gte : 1, has_lt : 1, has_lte : 1;
} filter_range;

typedef struct filter_cond filter_cond;

/* The filter tree; hk_filter (public, opaque) is this struct. */
struct hk_filter {
    hk_arena arena; /* everything below lives here */
    filter_cond *must, *should, *must_not;
    size_t nmust, nshould, nmust_not;
};

struct filter_cond {
    filter_kind kind;
    const char *key; /* dotted path, NUL-terminated */
    uint32_t key_len;
    filter_value *values;
    size_t nvalues;
    filter_range range;
    uint64_t *ids;
    size_t nids;
    struct hk_filter *sub; /* FC_NESTED: shares the root's arena; sub->arena unused */
};

/* 1 when the point with this id and hkb payload object matches f (NULL f matches). */
int filter_match(const struct hk_filter *f, uint64_t id, const uint8_t *payload);
int filter_cond_match(const filter_cond *c, uint64_t id, const uint8_t *payload);

/* Sign of i - d, computed exactly (no rounding of i to double): how match and range
 * compare integers with doubles; payload indexes use it to agree with filter_match. */
int filter_cmp_int_double(int64_t i, double d);

/* What filter_eval needs from a collection. Slots are dense internal row numbers. */
typedef struct filter_source {
    void *ctx;
    const roaring_bitmap_t *live;                              /* live slots */
    const uint8_t *(*payload)(void *ctx, uint32_t slot);       /* hkb object */
    uint64_t (*id_of)(void *ctx, uint32_t slot);
    int (*slot_of)(void *ctx, uint64_t id, uint32_t *slot);    /* 1 when found */
    /* A bitmap of slots (possibly including dead ones) matching c when an index covers
     * the condition exactly, else NULL. May be NULL itself. Caller frees the bitmap. */
    roaring_bitmap_t *(*index_lookup)(void *ctx, const filter_cond *c);
} filter_source;

/* The live slots matching f (all live slots when f is NULL). Returns NULL only on
 * allocation failure. Caller frees with roaring_bitmap_free. */
roaring_bitmap_t *filter_eval(const struct hk_filter *f, const filter_source *src);

#endif /* HK_FILTER_H */
