/*
 * payload_index.c — an index over the values one payload key reaches, answering filter
 * conditions with bitmaps of slots (see payload_index.h for what each type holds).
 *
 * Decisions:
 *  - One open-addressing table (linear probing, backward-shift deletion) maps a value to
 *    the bitmap of slots holding it, for keyword, integer and float indexes alike; a value
 *    whose bitmap empties leaves the table, so churn does not leak entries. The table is
 *    the source of truth: the sorted (value, slot) arrays used for ranges are rebuilt from
 *    it, by sorting the distinct values and emitting their slots.
 *  - Domains: keyword holds strings; integer holds integers and doubles with an integral
 *    value; float holds doubles and integers a double represents exactly; bool holds bools.
 *    Everything else a slot reaches is recorded per category (string, number, bool, other)
 *    in "unindexed" bitmaps. A lookup answers only when those cannot change the answer:
 *    e.g. a range needs no unindexed numbers, match "except" adds every unindexed slot when
 *    no listed literal can equal an unindexed value. Otherwise it returns NULL and the filter
 *    scans; answers are exact either way and agree with filter_match.
 *  - Readers (under the collection's read lock) may race to the first range lookup after a
 *    change: a mutex serializes the rebuild. Once rebuilt, the arrays only change under the
 *    write lock, so readers use them outside the mutex.
 *  - pidx_add undoes itself on allocation failure (the slot was not indexed before), so a
 *    failed call leaves the index as it was.
 */
#include "payload_index.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

enum { CAT_STRING, CAT_NUMBER, CAT_BOOL, CAT_OTHER, NCAT };

typedef struct pidx_entry {
    roaring_bitmap_t *bm; /* NULL: free table slot */
    uint64_t hash;
    uint64_t num;         /* integer: int64; float: double bits (never -0.0) */
    char *str;            /* keyword: owned copy */
    uint32_t len;
} pidx_entry;

struct payload_index {
    char *key;
    size_t key_len;
    hk_field_type type;
    pidx_entry *tab;
    size_t cap, n;                 /* cap is 0 or a power of two */
    roaring_bitmap_t *bools[2];    /* bool index: slots holding false, true */
    roaring_bitmap_t *unindexed[NCAT];
    roaring_bitmap_t *nulls;       /* slots where the key reaches a null */
    pthread_mutex_t lock;          /* guards the lazy rebuild below */
    int dirty;
    int64_t *ivals;                /* integer index: sorted values */
    double *dvals;                 /* float index: sorted values */
    uint32_t *slots;               /* slot of each sorted value */
    size_t nsorted;
};

/* ---- values ---- */

/* A value as the table keys it: string bytes (keyword) or 64 bits (integer, float). */
typedef struct pidx_val {
    const char *str;
    uint32_t len;
    uint64_t num;
} pidx_val;

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t key_hash(const payload_index *ix, const pidx_val *k) {
    if (ix->type != HK_FIELD_KEYWORD) return mix64(k->num);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (uint32_t i = 0; i < k->len; i++) h = (h ^ (uint8_t)k->str[i]) * 0x100000001b3ULL;
    return mix64(h ^ k->len);
}

static uint64_t double_key(double d) {
    if (d == 0) d = 0; /* -0.0 and 0.0 are one value */
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

static double key_double(uint64_t bits) {
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* 1 when the int64 i is exactly a double (so a float index holds it). */
static int int_is_exact_double(int64_t i) {
    double d = (double)i;
    return d < 9223372036854775808.0 && (int64_t)d == i;
}

static int double_is_int64(double d, int64_t *out) {
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
    int64_t i = (int64_t)d;
    if ((double)i != d) return 0;
    *out = i;
    return 1;
}

/* The table key of an atom (a value that is not an array); 0 when the atom is outside the
 * index's domain. *cat says which unindexed bitmap an outside atom belongs to. */
static int atom_key(const payload_index *ix, const uint8_t *a, pidx_val *k, int *cat) {
    memset(k, 0, sizeof *k);
    int64_t i;
    switch (a[0]) {
    case HKB_STRING:
        *cat = CAT_STRING;
        if (ix->type != HK_FIELD_KEYWORD) return 0;
        k->str = hkb_str(a, &k->len);
        return 1;
    case HKB_INT:
        *cat = CAT_NUMBER;
        i = hkb_int(a);
        if (ix->type == HK_FIELD_INTEGER) k->num = (uint64_t)i;
        else if (ix->type == HK_FIELD_FLOAT && int_is_exact_double(i))
            k->num = double_key((double)i);
        else return 0;
        return 1;
    case HKB_DOUBLE:
        *cat = CAT_NUMBER;
        if (ix->type == HK_FIELD_FLOAT) k->num = double_key(hkb_double(a));
        else if (ix->type == HK_FIELD_INTEGER && double_is_int64(hkb_double(a), &i))
            k->num = (uint64_t)i;
        else return 0;
        return 1;
    case HKB_TRUE:
    case HKB_FALSE: *cat = CAT_BOOL; return 0; /* bool indexes keep their own bitmaps */
    default: *cat = CAT_OTHER; return 0;
    }
}

/* ---- the value table ---- */

static int entry_is(const payload_index *ix, const pidx_entry *e, uint64_t h, const pidx_val *k) {
    if (e->hash != h) return 0;
    if (ix->type != HK_FIELD_KEYWORD) return e->num == k->num;
    return e->len == k->len && memcmp(e->str, k->str, k->len) == 0;
}

static pidx_entry *tab_find(const payload_index *ix, const pidx_val *k) {
    if (!ix->cap) return NULL;
    uint64_t h = key_hash(ix, k);
    for (size_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        pidx_entry *e = &ix->tab[i];
        if (!e->bm) return NULL;
        if (entry_is(ix, e, h, k)) return e;
    }
}

/* Rehashes into cap slots; 0 when the allocation fails (the table is then unchanged). */
static int tab_resize(payload_index *ix, size_t cap) {
    pidx_entry *tab = hk_calloc(cap, sizeof *tab);
    if (!tab) return 0;
    for (size_t j = 0; j < ix->cap; j++) {
        if (!ix->tab[j].bm) continue;
        size_t i = ix->tab[j].hash & (cap - 1);
        while (tab[i].bm) i = (i + 1) & (cap - 1);
        tab[i] = ix->tab[j];
    }
    hk_free(ix->tab);
    ix->tab = tab;
    ix->cap = cap;
    return 1;
}

static hk_status tab_add(payload_index *ix, const pidx_val *k, uint32_t slot) {
    pidx_entry *e = tab_find(ix, k);
    if (!e) {
        if ((ix->n + 1) * 4 > ix->cap * 3 && !tab_resize(ix, ix->cap ? ix->cap * 2 : 16))
            return hk_fail(HK_NOMEM, "out of memory growing the payload index on '%s'", ix->key);
        uint64_t h = key_hash(ix, k);
        size_t i = h & (ix->cap - 1);
        while (ix->tab[i].bm) i = (i + 1) & (ix->cap - 1);
        e = &ix->tab[i];
        pidx_entry fresh = {.bm = roaring_bitmap_create(), .hash = h, .num = k->num, .len = k->len};
        if (fresh.bm && ix->type == HK_FIELD_KEYWORD && !(fresh.str = hk_strndup(k->str, k->len))) {
            roaring_bitmap_free(fresh.bm);
            fresh.bm = NULL;
        }
        if (!fresh.bm)
            return hk_fail(HK_NOMEM, "out of memory in the payload index on '%s'", ix->key);
        *e = fresh;
        ix->n++;
    }
    roaring_bitmap_add(e->bm, slot);
    return HK_OK;
}

/* Backward-shift deletion keeps every probe chain unbroken without tombstones. A table
 * that falls below 1/8 full halves (when that allocation fails it just stays large). */
static void tab_delete(payload_index *ix, pidx_entry *e) {
    size_t mask = ix->cap - 1, i = (size_t)(e - ix->tab);
    roaring_bitmap_free(e->bm);
    hk_free(e->str);
    for (size_t j = (i + 1) & mask; ix->tab[j].bm; j = (j + 1) & mask) {
        size_t home = ix->tab[j].hash & mask;
        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            ix->tab[i] = ix->tab[j];
            i = j;
        }
    }
    memset(&ix->tab[i], 0, sizeof ix->tab[i]);
    ix->n--;
    if (ix->cap > 16 && ix->n * 8 < ix->cap) tab_resize(ix, ix->cap / 2);
}

/* ---- add / remove ---- */

typedef struct pidx_walk {
    payload_index *ix;
    uint32_t slot;
    int remove;
    hk_status st;
} pidx_walk;

static void walk_atom(pidx_walk *w, const uint8_t *a) {
    payload_index *ix = w->ix;
    pidx_val k;
    int cat;
    if (a[0] == HKB_NULL) return; /* a null inside an array matches nothing */
    if (ix->type == HK_FIELD_BOOL && (a[0] == HKB_TRUE || a[0] == HKB_FALSE)) {
        roaring_bitmap_t *bm = ix->bools[a[0] == HKB_TRUE];
        if (w->remove) roaring_bitmap_remove(bm, w->slot);
        else roaring_bitmap_add(bm, w->slot);
        return;
    }
    if (!atom_key(ix, a, &k, &cat)) {
        if (w->remove) roaring_bitmap_remove(ix->unindexed[cat], w->slot);
        else roaring_bitmap_add(ix->unindexed[cat], w->slot);
        return;
    }
    ix->dirty = 1;
    if (!w->remove) {
        w->st = tab_add(ix, &k, w->slot);
        return;
    }
    pidx_entry *e = tab_find(ix, &k);
    if (!e) return;
    roaring_bitmap_remove(e->bm, w->slot);
    if (roaring_bitmap_is_empty(e->bm)) tab_delete(ix, e);
}

static int walk_value(void *ctx, const uint8_t *v) {
    pidx_walk *w = ctx;
    if (v[0] == HKB_NULL) {
        if (w->remove) roaring_bitmap_remove(w->ix->nulls, w->slot);
        else roaring_bitmap_add(w->ix->nulls, w->slot);
    } else if (v[0] == HKB_ARRAY) {
        const uint8_t *e = hkb_first(v);
        for (uint32_t i = 0; i < hkb_count(v) && !w->st; i++, e = hkb_next(e)) walk_atom(w, e);
    } else {
        walk_atom(w, v);
    }
    return w->st != HK_OK;
}

hk_status pidx_add(payload_index *ix, uint32_t slot, const uint8_t *payload) {
    if (!payload) return HK_OK;
    pidx_walk w = {ix, slot, 0, HK_OK};
    hkb_path_visit(payload, ix->key, ix->key_len, walk_value, &w);
    if (w.st) pidx_remove(ix, slot, payload);
    return w.st;
}

void pidx_remove(payload_index *ix, uint32_t slot, const uint8_t *payload) {
    if (!payload) return;
    pidx_walk w = {ix, slot, 1, HK_OK};
    hkb_path_visit(payload, ix->key, ix->key_len, walk_value, &w);
}

/* ---- life cycle ---- */

static void free_sorted(payload_index *ix) {
    hk_free(ix->ivals);
    hk_free(ix->dvals);
    hk_free(ix->slots);
    ix->ivals = NULL;
    ix->dvals = NULL;
    ix->slots = NULL;
    ix->nsorted = 0;
}

void pidx_free(payload_index *ix) {
    if (!ix) return;
    for (size_t i = 0; i < ix->cap; i++) {
        if (!ix->tab[i].bm) continue;
        roaring_bitmap_free(ix->tab[i].bm);
        hk_free(ix->tab[i].str);
    }
    hk_free(ix->tab);
    for (int i = 0; i < 2; i++)
        if (ix->bools[i]) roaring_bitmap_free(ix->bools[i]);
    for (int i = 0; i < NCAT; i++)
        if (ix->unindexed[i]) roaring_bitmap_free(ix->unindexed[i]);
    if (ix->nulls) roaring_bitmap_free(ix->nulls);
    free_sorted(ix);
    pthread_mutex_destroy(&ix->lock);
    hk_free(ix->key);
    hk_free(ix);
}

payload_index *pidx_new(const char *key, hk_field_type type) {
    if (type != HK_FIELD_KEYWORD && type != HK_FIELD_INTEGER && type != HK_FIELD_FLOAT &&
        type != HK_FIELD_BOOL)
        return NULL;
    payload_index *ix = hk_calloc(1, sizeof *ix);
    if (!ix) return NULL;
    if (pthread_mutex_init(&ix->lock, NULL)) {
        hk_free(ix);
        return NULL;
    }
    ix->type = type;
    ix->key_len = strlen(key);
    int ok = (ix->key = hk_strdup(key)) && (ix->nulls = roaring_bitmap_create());
    for (int i = 0; i < NCAT && ok; i++) ok = (ix->unindexed[i] = roaring_bitmap_create()) != NULL;
    for (int i = 0; i < 2 && ok; i++) ok = (ix->bools[i] = roaring_bitmap_create()) != NULL;
    if (!ok) {
        pidx_free(ix);
        return NULL;
    }
    return ix;
}

const char *pidx_key(const payload_index *ix) { return ix->key; }
hk_field_type pidx_type(const payload_index *ix) { return ix->type; }

size_t pidx_memory(const payload_index *ix) {
    size_t bytes = sizeof *ix + ix->key_len + 1 + ix->cap * sizeof *ix->tab;
    for (size_t i = 0; i < ix->cap; i++) {
        const pidx_entry *e = &ix->tab[i];
        if (e->bm) bytes += roaring_bitmap_size_in_bytes(e->bm) + (e->str ? e->len + 1 : 0);
    }
    for (int i = 0; i < 2; i++) bytes += roaring_bitmap_size_in_bytes(ix->bools[i]);
    for (int i = 0; i < NCAT; i++) bytes += roaring_bitmap_size_in_bytes(ix->unindexed[i]);
    bytes += roaring_bitmap_size_in_bytes(ix->nulls);
    pthread_mutex_t *lock = (pthread_mutex_t *)&ix->lock; /* a reader may be rebuilding */
    pthread_mutex_lock(lock);
    bytes += ix->nsorted * (sizeof(uint32_t) + (ix->ivals ? sizeof(int64_t) : sizeof(double)));
    pthread_mutex_unlock(lock);
    return bytes;
}

/* ---- sorted arrays for ranges ---- */

static int cmp_entry_int(const void *a, const void *b) {
    int64_t x = (int64_t)(*(pidx_entry *const *)a)->num;
    int64_t y = (int64_t)(*(pidx_entry *const *)b)->num;
    return x < y ? -1 : x > y;
}

static int cmp_entry_double(const void *a, const void *b) {
    double x = key_double((*(pidx_entry *const *)a)->num);
    double y = key_double((*(pidx_entry *const *)b)->num);
    return x < y ? -1 : x > y;
}

static int rebuild_sorted(payload_index *ix) {
    free_sorted(ix);
    size_t total = 0, k = 0;
    pidx_entry **order = hk_calloc(ix->n ? ix->n : 1, sizeof *order);
    if (!order) return 0;
    for (size_t i = 0; i < ix->cap; i++) {
        if (!ix->tab[i].bm) continue;
        order[k++] = &ix->tab[i];
        total += roaring_bitmap_get_cardinality(ix->tab[i].bm);
    }
    int is_int = ix->type == HK_FIELD_INTEGER;
    qsort(order, k, sizeof *order, is_int ? cmp_entry_int : cmp_entry_double);
    ix->slots = hk_calloc(total ? total : 1, sizeof *ix->slots);
    if (is_int) ix->ivals = hk_calloc(total ? total : 1, sizeof *ix->ivals);
    else ix->dvals = hk_calloc(total ? total : 1, sizeof *ix->dvals);
    if (!ix->slots || !(is_int ? (void *)ix->ivals : (void *)ix->dvals)) {
        hk_free(order);
        free_sorted(ix);
        return 0;
    }
    size_t at = 0;
    for (size_t j = 0; j < k; j++) {
        size_t n = roaring_bitmap_get_cardinality(order[j]->bm);
        roaring_bitmap_to_uint32_array(order[j]->bm, ix->slots + at);
        for (size_t i = 0; i < n; i++, at++) {
            if (is_int) ix->ivals[at] = (int64_t)order[j]->num;
            else ix->dvals[at] = key_double(order[j]->num);
        }
    }
    ix->nsorted = total;
    hk_free(order);
    return 1;
}

static int lower_ok(const payload_index *ix, const filter_range *r, size_t i) {
    if (ix->ivals) {
        int64_t v = ix->ivals[i];
        return (!r->has_gt || filter_cmp_int_double(v, r->gt) > 0) &&
               (!r->has_gte || filter_cmp_int_double(v, r->gte) >= 0);
    }
    double v = ix->dvals[i];
    return (!r->has_gt || v > r->gt) && (!r->has_gte || v >= r->gte);
}

static int upper_ok(const payload_index *ix, const filter_range *r, size_t i) {
    if (ix->ivals) {
        int64_t v = ix->ivals[i];
        return (!r->has_lt || filter_cmp_int_double(v, r->lt) < 0) &&
               (!r->has_lte || filter_cmp_int_double(v, r->lte) <= 0);
    }
    double v = ix->dvals[i];
    return (!r->has_lt || v < r->lt) && (!r->has_lte || v <= r->lte);
}

static roaring_bitmap_t *range_lookup(payload_index *ix, const filter_range *r) {
    if (ix->type == HK_FIELD_KEYWORD || ix->type == HK_FIELD_BOOL) return roaring_bitmap_create();
    pthread_mutex_lock(&ix->lock);
    int ok = !ix->dirty || rebuild_sorted(ix);
    if (ok) ix->dirty = 0;
    pthread_mutex_unlock(&ix->lock);
    if (!ok) return NULL;
    size_t lo = 0, hi = ix->nsorted;
    while (lo < hi) { /* first value meeting the lower bound */
        size_t mid = lo + (hi - lo) / 2;
        if (lower_ok(ix, r, mid)) hi = mid;
        else lo = mid + 1;
    }
    size_t first = lo;
    hi = ix->nsorted;
    while (lo < hi) { /* first value past the upper bound */
        size_t mid = lo + (hi - lo) / 2;
        if (upper_ok(ix, r, mid)) lo = mid + 1;
        else hi = mid;
    }
    roaring_bitmap_t *bm = roaring_bitmap_create();
    if (bm && lo > first) roaring_bitmap_add_many(bm, lo - first, ix->slots + first);
    return bm;
}

/* ---- lookups ---- */

static int literal_category(const filter_value *lit) {
    return lit->type == HKB_STRING ? CAT_STRING : lit->type == HKB_INT ? CAT_NUMBER : CAT_BOOL;
}

/* 1 when every payload value equal to lit is one the index holds. */
static int literal_only_indexed(const payload_index *ix, const filter_value *lit) {
    switch (ix->type) {
    case HK_FIELD_KEYWORD: return lit->type == HKB_STRING;
    case HK_FIELD_INTEGER: return lit->type == HKB_INT;
    case HK_FIELD_FLOAT: return lit->type == HKB_INT && int_is_exact_double(lit->i);
    default: return lit->type == HKB_TRUE || lit->type == HKB_FALSE;
    }
}

/* The table key equal to lit, or 0 when no held value can equal it. */
static int literal_key(const payload_index *ix, const filter_value *lit, pidx_val *k) {
    memset(k, 0, sizeof *k);
    if (ix->type == HK_FIELD_KEYWORD && lit->type == HKB_STRING) {
        k->str = lit->s;
        k->len = lit->len;
        return 1;
    }
    if (ix->type == HK_FIELD_INTEGER && lit->type == HKB_INT) {
        k->num = (uint64_t)lit->i;
        return 1;
    }
    if (ix->type == HK_FIELD_FLOAT && lit->type == HKB_INT && int_is_exact_double(lit->i)) {
        k->num = double_key((double)lit->i);
        return 1;
    }
    return 0;
}

/* 0 when a value outside the index could equal one of c's literals. */
static int literals_answerable(const payload_index *ix, const filter_cond *c) {
    for (size_t i = 0; i < c->nvalues; i++) {
        const filter_value *lit = &c->values[i];
        if (!literal_only_indexed(ix, lit) &&
            !roaring_bitmap_is_empty(ix->unindexed[literal_category(lit)]))
            return 0;
    }
    return 1;
}

static roaring_bitmap_t *match_lookup(const payload_index *ix, const filter_cond *c) {
    roaring_bitmap_t *r = roaring_bitmap_create();
    for (size_t i = 0; r && i < c->nvalues; i++) {
        const filter_value *lit = &c->values[i];
        pidx_val k;
        const pidx_entry *e;
        if (ix->type == HK_FIELD_BOOL && (lit->type == HKB_TRUE || lit->type == HKB_FALSE))
            roaring_bitmap_or_inplace(r, ix->bools[lit->type == HKB_TRUE]);
        else if (literal_key(ix, lit, &k) && (e = tab_find(ix, &k)))
            roaring_bitmap_or_inplace(r, e->bm);
    }
    return r;
}

static int entry_listed(const payload_index *ix, const pidx_entry *e, const filter_cond *c) {
    for (size_t i = 0; i < c->nvalues; i++) {
        pidx_val k;
        if (literal_key(ix, &c->values[i], &k) && entry_is(ix, e, key_hash(ix, &k), &k)) return 1;
    }
    return 0;
}

static int bool_listed(const filter_cond *c, int tag) {
    for (size_t i = 0; i < c->nvalues; i++)
        if (c->values[i].type == tag) return 1;
    return 0;
}

static roaring_bitmap_t *except_lookup(const payload_index *ix, const filter_cond *c) {
    roaring_bitmap_t *r = roaring_bitmap_create();
    if (!r) return NULL;
    for (int i = 0; i < NCAT; i++) roaring_bitmap_or_inplace(r, ix->unindexed[i]);
    if (ix->type == HK_FIELD_BOOL) {
        if (!bool_listed(c, HKB_FALSE)) roaring_bitmap_or_inplace(r, ix->bools[0]);
        if (!bool_listed(c, HKB_TRUE)) roaring_bitmap_or_inplace(r, ix->bools[1]);
        return r;
    }
    for (size_t i = 0; i < ix->cap; i++) {
        const pidx_entry *e = &ix->tab[i];
        if (e->bm && !entry_listed(ix, e, c)) roaring_bitmap_or_inplace(r, e->bm);
    }
    return r;
}

roaring_bitmap_t *pidx_lookup(payload_index *ix, const filter_cond *c) {
    if (c->kind == FC_HAS_ID || c->kind == FC_NESTED || c->kind == FC_IS_EMPTY) return NULL;
    if (c->key_len != ix->key_len || memcmp(c->key, ix->key, ix->key_len) != 0) return NULL;
    switch (c->kind) {
    case FC_IS_NULL: return roaring_bitmap_copy(ix->nulls);
    case FC_MATCH_VALUE:
    case FC_MATCH_ANY: return literals_answerable(ix, c) ? match_lookup(ix, c) : NULL;
    case FC_MATCH_EXCEPT: return literals_answerable(ix, c) ? except_lookup(ix, c) : NULL;
    case FC_RANGE:
        if (!roaring_bitmap_is_empty(ix->unindexed[CAT_NUMBER])) return NULL;
        return range_lookup(ix, &c->range);
    default: return NULL;
    }
}
