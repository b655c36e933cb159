/*
 * filter.c — parsing the Qdrant filter grammar into a tree, matching one payload against
 * it, and evaluating it over a collection into a bitmap of slots.
 *
 * Decisions:
 *  - The JSON text is parsed into a scratch arena and dropped; the filter keeps only its
 *    own tree (keys and literals copied into the filter's arena), so filters stay small.
 *  - Matching follows Qdrant's value checker: the values a key reaches are looked at one by
 *    one, an array is looked at element by element (one level), null matches nothing but
 *    is_null, and "except" is satisfied by any non-null value that equals no listed literal.
 *    Integers compare with doubles exactly (no rounding through double), so 2^53 + 1 does
 *    not equal 2^53, and the payload index, which uses the same comparison, agrees.
 *  - filter_eval narrows one candidate bitmap: conditions an index or the id map answer go
 *    first, then the rest scan only the candidates still standing; "should" conditions scan
 *    only candidates no earlier "should" condition matched; "must_not" conditions scan only
 *    the survivors. A nested filter under "must" narrows in place.
 *  - Grammar Qdrant has and HEKTOR does not (full-text match, geo, values_count, nested
 *    object filters, min_should, UUID ids) is rejected by name, never silently ignored.
 */
#include "filter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define FERR(...) hk_fail(HK_INVALID, "filter: " __VA_ARGS__)

/* ---- exact numeric comparison ---- */

int filter_cmp_int_double(int64_t i, double d) {
    if (d >= 9223372036854775808.0) return -1; /* 2^63 */
    if (d < -9223372036854775808.0) return 1;
    double t = trunc(d);
    int64_t ti = (int64_t)t;
    if (i != ti) return i < ti ? -1 : 1;
    return d > t ? -1 : d < t ? 1 : 0;
}

static int range_has_int(const filter_range *r, int64_t v) {
    return (!r->has_gt || filter_cmp_int_double(v, r->gt) > 0) &&
           (!r->has_gte || filter_cmp_int_double(v, r->gte) >= 0) &&
           (!r->has_lt || filter_cmp_int_double(v, r->lt) < 0) &&
           (!r->has_lte || filter_cmp_int_double(v, r->lte) <= 0);
}

static int range_has_double(const filter_range *r, double v) {
    return (!r->has_gt || v > r->gt) && (!r->has_gte || v >= r->gte) &&
           (!r->has_lt || v < r->lt) && (!r->has_lte || v <= r->lte);
}

/* ---- parsing ---- */

typedef struct fparser {
    hk_arena *arena;
} fparser;

/* Keys and field names in messages are cut short: they come from the user. */
#define NAME_MAX_SHOWN 64
#define SHOWN(len) (int)((len) < NAME_MAX_SHOWN ? (len) : NAME_MAX_SHOWN)

static int key_is(const hj_member *m, const char *name) {
    return m->key_len == strlen(name) && memcmp(m->key, name, m->key_len) == 0;
}

static hk_status nomem(void) { return hk_fail(HK_NOMEM, "filter: out of memory"); }

static hk_status parse_filter(fparser *fp, const hj_value *v, struct hk_filter *f);

static hk_status parse_key(fparser *fp, const hj_value *v, filter_cond *c) {
    if (v->type != HJ_STRING) return FERR("'key' must be a string, got %s", hj_type_name(v->type));
    if (v->n == 0) return FERR("'key' must not be empty");
    if (memchr(v->u.s, '\0', v->n)) return FERR("'key' must not contain NUL characters");
    /* Qdrant spells "every element of array a" as "a[]": paths enter arrays on their own
     * here, so "a[].b" means the same as "a.b" and the brackets are dropped. */
    char *k = hk_arena_alloc(fp->arena, v->n + 1);
    if (!k) return nomem();
    size_t n = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->u.s[i] == '[' && i + 1 < v->n && v->u.s[i + 1] == ']' &&
            (i + 2 == v->n || v->u.s[i + 2] == '.')) {
            i++;
            continue;
        }
        k[n++] = v->u.s[i];
    }
    k[n] = 0;
    if (n == 0 || k[0] == '.' || k[n - 1] == '.' || strstr(k, ".."))
        return FERR("'key' '%.*s' is not a valid path", SHOWN(v->n), v->u.s);
    c->key = k;
    c->key_len = (uint32_t)n;
    return HK_OK;
}

static hk_status parse_literal(fparser *fp, const hj_value *v, const char *what,
                               filter_value *out) {
    memset(out, 0, sizeof *out);
    switch (v->type) {
    case HJ_STRING:
        out->type = HKB_STRING;
        out->len = v->n;
        if (!(out->s = hk_arena_strndup(fp->arena, v->u.s, v->n))) return nomem();
        return HK_OK;
    case HJ_INT:
        out->type = HKB_INT;
        out->i = v->u.i;
        return HK_OK;
    case HJ_DOUBLE:
        /* 3.0 is the integer 3; 3.5 is no keyword, integer or bool. */
        if (v->u.d >= -9223372036854775808.0 && v->u.d < 9223372036854775808.0 &&
            v->u.d == trunc(v->u.d)) {
            out->type = HKB_INT;
            out->i = (int64_t)v->u.d;
            return HK_OK;
        }
        break;
    case HJ_TRUE:
    case HJ_FALSE:
        out->type = v->type == HJ_TRUE ? HKB_TRUE : HKB_FALSE;
        return HK_OK;
    default: break;
    }
    return FERR("match '%s' needs a string, integer or boolean, got %s", what,
                v->type == HJ_DOUBLE ? "a fractional number" : hj_type_name(v->type));
}

static hk_status parse_match(fparser *fp, const hj_value *v, filter_cond *c) {
    if (v->type != HJ_OBJECT)
        return FERR("'match' must be an object, got %s", hj_type_name(v->type));
    if (v->n != 1) return FERR("'match' needs exactly one of 'value', 'any' or 'except'");
    const hj_member *m = &v->u.members[0];
    if (key_is(m, "value")) {
        c->kind = FC_MATCH_VALUE;
        c->nvalues = 1;
        if (!(c->values = hk_arena_alloc(fp->arena, sizeof *c->values))) return nomem();
        return parse_literal(fp, &m->value, "value", c->values);
    }
    if (key_is(m, "any") || key_is(m, "except")) {
        const char *what = key_is(m, "any") ? "any" : "except";
        c->kind = key_is(m, "any") ? FC_MATCH_ANY : FC_MATCH_EXCEPT;
        if (m->value.type != HJ_ARRAY)
            return FERR("match '%s' needs an array, got %s", what, hj_type_name(m->value.type));
        c->nvalues = m->value.n;
        if (c->nvalues &&
            !(c->values = hk_arena_alloc(fp->arena, c->nvalues * sizeof *c->values)))
            return nomem();
        for (size_t i = 0; i < c->nvalues; i++) {
            hk_status st = parse_literal(fp, &m->value.u.items[i], what, &c->values[i]);
            if (st) return st;
        }
        return HK_OK;
    }
    if (key_is(m, "text") || key_is(m, "phrase") || key_is(m, "text_any"))
        return FERR("match '%s' (full-text) is not supported", m->key);
    return FERR("unknown field '%.*s' in match", SHOWN(m->key_len), m->key);
}

static hk_status parse_range(const hj_value *v, filter_cond *c) {
    if (v->type != HJ_OBJECT)
        return FERR("'range' must be an object, got %s", hj_type_name(v->type));
    c->kind = FC_RANGE;
    filter_range *r = &c->range;
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_member *m = &v->u.members[i];
        double *bound;
        unsigned bit;
        if (key_is(m, "gt")) bound = &r->gt, bit = 0;
        else if (key_is(m, "gte")) bound = &r->gte, bit = 1;
        else if (key_is(m, "lt")) bound = &r->lt, bit = 2;
        else if (key_is(m, "lte")) bound = &r->lte, bit = 3;
        else return FERR("unknown field '%.*s' in range", SHOWN(m->key_len), m->key);
        if (m->value.type == HJ_NULL) continue; /* clients send absent bounds as null */
        if (!hj_is_number(&m->value))
            return FERR("'range' needs a number for '%s', got %s", m->key,
                        hj_type_name(m->value.type));
        *bound = hj_number(&m->value);
        if (bit == 0) r->has_gt = 1;
        else if (bit == 1) r->has_gte = 1;
        else if (bit == 2) r->has_lt = 1;
        else r->has_lte = 1;
    }
    return HK_OK;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static hk_status parse_has_id(fparser *fp, const hj_value *v, filter_cond *c) {
    if (v->type != HJ_ARRAY)
        return FERR("'has_id' needs an array of ids, got %s", hj_type_name(v->type));
    c->kind = FC_HAS_ID;
    if (v->n && !(c->ids = hk_arena_alloc(fp->arena, v->n * sizeof *c->ids))) return nomem();
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_value *e = &v->u.items[i];
        if (e->type == HJ_STRING)
            return FERR("'has_id' ids must be unsigned integers (UUIDs are not supported)");
        if (e->type != HJ_INT || e->u.i < 0)
            return FERR("'has_id' ids must be integers from 0 to 9223372036854775807");
        c->ids[i] = (uint64_t)e->u.i;
    }
    if (v->n) qsort(c->ids, v->n, sizeof *c->ids, cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++)
        if (!k || c->ids[k - 1] != c->ids[i]) c->ids[k++] = c->ids[i];
    c->nids = k;
    return HK_OK;
}

/* {"is_empty": {"key": "..."}} and {"is_null": ...}: an object holding only the key. */
static hk_status parse_key_only(fparser *fp, const hj_value *v, const char *what,
                                filter_cond *c) {
    if (v->type != HJ_OBJECT)
        return FERR("'%s' must be an object, got %s", what, hj_type_name(v->type));
    const hj_value *key = NULL;
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_member *m = &v->u.members[i];
        if (!key_is(m, "key"))
            return FERR("unknown field '%.*s' in '%s'", SHOWN(m->key_len), m->key, what);
        key = &m->value;
    }
    if (!key) return FERR("'%s' needs a 'key'", what);
    return parse_key(fp, key, c);
}

static int is_unsupported_condition(const hj_member *m) {
    static const char *const names[] = {"geo_bounding_box", "geo_radius", "geo_polygon",
                                        "values_count", "datetime_range", "nested"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (key_is(m, names[i])) return 1;
    return 0;
}

static hk_status parse_field_cond(fparser *fp, const hj_value *v, filter_cond *c) {
    const hj_value *match = NULL, *range = NULL;
    hk_status st;
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_member *m = &v->u.members[i];
        if (key_is(m, "key")) {
            if ((st = parse_key(fp, &m->value, c))) return st;
        } else if (key_is(m, "match")) {
            match = &m->value;
        } else if (key_is(m, "range")) {
            range = &m->value;
        } else if (is_unsupported_condition(m)) {
            return FERR("'%s' conditions are not supported", m->key);
        } else {
            return FERR("unknown field '%.*s' in condition", SHOWN(m->key_len), m->key);
        }
    }
    if (match && range)
        return FERR("condition on '%.*s' has both 'match' and 'range'", SHOWN(c->key_len), c->key);
    if (match) return parse_match(fp, match, c);
    if (range) return parse_range(range, c);
    return FERR("condition on '%.*s' needs 'match' or 'range'", SHOWN(c->key_len), c->key);
}

static hk_status parse_cond(fparser *fp, const hj_value *v, filter_cond *c) {
    memset(c, 0, sizeof *c);
    if (v->type != HJ_OBJECT)
        return FERR("a condition must be an object, got %s", hj_type_name(v->type));
    if (hj_get(v, "key")) return parse_field_cond(fp, v, c);
    const hj_member *first = v->n ? &v->u.members[0] : NULL;
    if (!first || key_is(first, "must") || key_is(first, "should") ||
        key_is(first, "must_not") || key_is(first, "min_should")) {
        c->kind = FC_NESTED; /* {} is the empty filter, as at the top: it matches everything */
        if (!(c->sub = hk_arena_alloc(fp->arena, sizeof *c->sub))) return nomem();
        memset(c->sub, 0, sizeof *c->sub);
        return parse_filter(fp, v, c->sub);
    }
    int single = v->n == 1;
    if (key_is(first, "is_empty") || key_is(first, "is_null") || key_is(first, "has_id")) {
        if (!single)
            return FERR("'%s' must be alone in its condition object, found '%.*s' beside it",
                        first->key, SHOWN(v->u.members[1].key_len), v->u.members[1].key);
        if (key_is(first, "has_id")) return parse_has_id(fp, &first->value, c);
        c->kind = key_is(first, "is_empty") ? FC_IS_EMPTY : FC_IS_NULL;
        return parse_key_only(fp, &first->value, first->key, c);
    }
    if (is_unsupported_condition(first))
        return FERR("'%s' conditions are not supported", first->key);
    if (key_is(first, "match") || key_is(first, "range"))
        return FERR("condition with '%s' needs a 'key'", first->key);
    return FERR("unknown field '%.*s' in condition", SHOWN(first->key_len), first->key);
}

static hk_status parse_clause(fparser *fp, const hj_member *m, filter_cond **list, size_t *n) {
    const hj_value *v = &m->value;
    if (v->type == HJ_NULL) return HK_OK;
    size_t count = v->type == HJ_ARRAY ? v->n : 1;
    if (v->type != HJ_ARRAY && v->type != HJ_OBJECT)
        return FERR("'%s' needs an array of conditions, got %s", m->key, hj_type_name(v->type));
    if (count && !(*list = hk_arena_alloc(fp->arena, count * sizeof **list))) return nomem();
    for (size_t i = 0; i < count; i++) {
        hk_status st = parse_cond(fp, v->type == HJ_ARRAY ? &v->u.items[i] : v, &(*list)[i]);
        if (st) return st;
    }
    *n = count;
    return HK_OK;
}

static hk_status parse_filter(fparser *fp, const hj_value *v, struct hk_filter *f) {
    if (v->type != HJ_OBJECT)
        return FERR("a filter must be an object, got %s", hj_type_name(v->type));
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_member *m = &v->u.members[i];
        hk_status st;
        if (key_is(m, "must")) st = parse_clause(fp, m, &f->must, &f->nmust);
        else if (key_is(m, "should")) st = parse_clause(fp, m, &f->should, &f->nshould);
        else if (key_is(m, "must_not")) st = parse_clause(fp, m, &f->must_not, &f->nmust_not);
        else if (key_is(m, "min_should")) st = FERR("'min_should' is not supported");
        else st = FERR("unknown field '%.*s' in filter", SHOWN(m->key_len), m->key);
        if (st) return st;
    }
    return HK_OK;
}

hk_status hk_filter_parse(const char *json, size_t len, hk_filter **out) {
    if (!out) return FERR("output pointer is NULL");
    *out = NULL;
    if (!json) return FERR("JSON text is NULL");
    hk_arena scratch;
    hk_arena_init(&scratch);
    hj_value *root;
    hk_status st = hj_parse(json, len, &scratch, &root);
    if (st) {
        hk_fail_prefix(st, "filter");
        hk_arena_reset(&scratch);
        return st;
    }
    struct hk_filter *f = hk_malloc(sizeof *f);
    if (!f) {
        hk_arena_reset(&scratch);
        return nomem();
    }
    memset(f, 0, sizeof *f);
    hk_arena_init(&f->arena);
    fparser fp = {&f->arena};
    st = parse_filter(&fp, root, f);
    hk_arena_reset(&scratch);
    if (st) {
        hk_filter_free(f);
        return st;
    }
    *out = f;
    return HK_OK;
}

void hk_filter_free(hk_filter *f) {
    if (!f) return;
    hk_arena_reset(&f->arena);
    hk_free(f);
}

/* ---- matching one payload ---- */

static int literal_eq(const filter_value *lit, const uint8_t *a) {
    switch (lit->type) {
    case HKB_STRING: {
        if (a[0] != HKB_STRING) return 0;
        uint32_t len;
        const char *s = hkb_str(a, &len);
        return len == lit->len && memcmp(s, lit->s, len) == 0;
    }
    case HKB_INT:
        if (a[0] == HKB_INT) return hkb_int(a) == lit->i;
        return a[0] == HKB_DOUBLE && filter_cmp_int_double(lit->i, hkb_double(a)) == 0;
    default: return a[0] == lit->type; /* HKB_TRUE, HKB_FALSE */
    }
}

static int any_literal_eq(const filter_cond *c, const uint8_t *a) {
    for (size_t i = 0; i < c->nvalues; i++)
        if (literal_eq(&c->values[i], a)) return 1;
    return 0;
}

/* One value (not an array) against a match or range condition. */
static int atom_matches(const filter_cond *c, const uint8_t *a) {
    switch (c->kind) {
    case FC_MATCH_VALUE:
    case FC_MATCH_ANY: return any_literal_eq(c, a);
    case FC_MATCH_EXCEPT: return a[0] != HKB_NULL && !any_literal_eq(c, a);
    case FC_RANGE:
        if (a[0] == HKB_INT) return range_has_int(&c->range, hkb_int(a));
        return a[0] == HKB_DOUBLE && range_has_double(&c->range, hkb_double(a));
    default: return 0;
    }
}

static int visit_field(void *ctx, const uint8_t *v) {
    const filter_cond *c = ctx;
    if (v[0] != HKB_ARRAY) return atom_matches(c, v);
    const uint8_t *e = hkb_first(v);
    for (uint32_t i = 0; i < hkb_count(v); i++, e = hkb_next(e))
        if (atom_matches(c, e)) return 1;
    return 0;
}

static int visit_null(void *ctx, const uint8_t *v) {
    (void)ctx;
    return v[0] == HKB_NULL;
}

static int visit_nonempty(void *ctx, const uint8_t *v) {
    (void)ctx;
    return v[0] != HKB_NULL && !(v[0] == HKB_ARRAY && hkb_count(v) == 0);
}

static int has_id(const filter_cond *c, uint64_t id) {
    size_t lo = 0, hi = c->nids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->ids[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->nids && c->ids[lo] == id;
}

int filter_cond_match(const filter_cond *c, uint64_t id, const uint8_t *payload) {
    if (!payload) payload = hkb_empty_object;
    switch (c->kind) {
    case FC_HAS_ID: return has_id(c, id);
    case FC_NESTED: return filter_match(c->sub, id, payload);
    case FC_IS_NULL: return hkb_path_visit(payload, c->key, c->key_len, visit_null, NULL) != 0;
    case FC_IS_EMPTY:
        return hkb_path_visit(payload, c->key, c->key_len, visit_nonempty, NULL) == 0;
    default:
        return hkb_path_visit(payload, c->key, c->key_len, visit_field, (void *)c) != 0;
    }
}

int filter_match(const struct hk_filter *f, uint64_t id, const uint8_t *payload) {
    if (!f) return 1;
    for (size_t i = 0; i < f->nmust; i++)
        if (!filter_cond_match(&f->must[i], id, payload)) return 0;
    if (f->nshould) {
        size_t i = 0;
        while (i < f->nshould && !filter_cond_match(&f->should[i], id, payload)) i++;
        if (i == f->nshould) return 0;
    }
    for (size_t i = 0; i < f->nmust_not; i++)
        if (filter_cond_match(&f->must_not[i], id, payload)) return 0;
    return 1;
}

/* ---- evaluating over a collection ---- */

static int narrow(const struct hk_filter *f, const filter_source *src, roaring_bitmap_t *r);

/* Slots of `within` matching c without reading payloads: via has_id or an index. Returns
 * 1 with *out set, 1 with *out NULL when a scan is needed, 0 on allocation failure. */
static int cond_cheap(const filter_cond *c, const filter_source *src,
                      const roaring_bitmap_t *within, roaring_bitmap_t **out) {
    *out = NULL;
    if (c->kind == FC_HAS_ID) {
        if (!(*out = roaring_bitmap_create())) return 0;
        for (size_t i = 0; i < c->nids; i++) {
            uint32_t slot;
            if (src->slot_of(src->ctx, c->ids[i], &slot) && roaring_bitmap_contains(within, slot))
                roaring_bitmap_add(*out, slot);
        }
        return 1;
    }
    if (c->kind == FC_NESTED || !src->index_lookup) return 1;
    if ((*out = src->index_lookup(src->ctx, c))) roaring_bitmap_and_inplace(*out, within);
    return 1;
}

/* Slots of `within` whose payload matches the field condition c. */
static roaring_bitmap_t *cond_scan(const filter_cond *c, const filter_source *src,
                                   const roaring_bitmap_t *within) {
    hk_buf hits;
    hk_buf_init(&hits);
    roaring_uint32_iterator_t it;
    roaring_init_iterator(within, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        uint32_t slot = it.current_value;
        /* field conditions never read the id, so it is not looked up */
        if (filter_cond_match(c, 0, src->payload(src->ctx, slot)) &&
            hk_buf_append(&hits, &slot, sizeof slot)) {
            hk_buf_free(&hits);
            return NULL;
        }
    }
    size_t n = hits.len / sizeof(uint32_t);
    roaring_bitmap_t *r = n ? roaring_bitmap_of_ptr(n, (const uint32_t *)(const void *)hits.data)
                            : roaring_bitmap_create();
    hk_buf_free(&hits);
    return r;
}

/* Slots of `within` matching c, as a new bitmap; NULL on allocation failure. */
static roaring_bitmap_t *cond_within(const filter_cond *c, const filter_source *src,
                                     const roaring_bitmap_t *within) {
    roaring_bitmap_t *r;
    if (c->kind == FC_NESTED) {
        if ((r = roaring_bitmap_copy(within)) && !narrow(c->sub, src, r)) {
            roaring_bitmap_free(r);
            r = NULL;
        }
        return r;
    }
    if (!cond_cheap(c, src, within, &r)) return NULL;
    return r ? r : cond_scan(c, src, within);
}

static int narrow_must(const struct hk_filter *f, const filter_source *src, roaring_bitmap_t *r) {
    uint8_t small[64] = {0}, *done = f->nmust <= sizeof small ? small : hk_calloc(f->nmust, 1);
    if (!done) return 0;
    int ok = 1;
    for (size_t i = 0; ok && i < f->nmust && !roaring_bitmap_is_empty(r); i++) {
        roaring_bitmap_t *m;
        if (!(ok = cond_cheap(&f->must[i], src, r, &m)) || !m) continue;
        roaring_bitmap_and_inplace(r, m);
        roaring_bitmap_free(m);
        done[i] = 1;
    }
    for (size_t i = 0; ok && i < f->nmust && !roaring_bitmap_is_empty(r); i++) {
        const filter_cond *c = &f->must[i];
        if (done[i]) continue;
        if (c->kind == FC_NESTED) {
            ok = narrow(c->sub, src, r);
            continue;
        }
        roaring_bitmap_t *m = cond_scan(c, src, r);
        if (!(ok = m != NULL)) break;
        roaring_bitmap_and_inplace(r, m);
        roaring_bitmap_free(m);
    }
    if (done != small) hk_free(done);
    return ok;
}

static int narrow_should(const struct hk_filter *f, const filter_source *src, roaring_bitmap_t *r) {
    roaring_bitmap_t *acc = roaring_bitmap_create(), *rest = roaring_bitmap_copy(r);
    int ok = acc && rest;
    for (size_t i = 0; ok && i < f->nshould && !roaring_bitmap_is_empty(rest); i++) {
        roaring_bitmap_t *m = cond_within(&f->should[i], src, rest);
        if (!(ok = m != NULL)) break;
        roaring_bitmap_or_inplace(acc, m);
        roaring_bitmap_andnot_inplace(rest, m);
        roaring_bitmap_free(m);
    }
    if (ok) roaring_bitmap_and_inplace(r, acc);
    if (acc) roaring_bitmap_free(acc);
    if (rest) roaring_bitmap_free(rest);
    return ok;
}

/* Removes from r the slots that do not match f; 0 on allocation failure. */
static int narrow(const struct hk_filter *f, const filter_source *src, roaring_bitmap_t *r) {
    if (!narrow_must(f, src, r)) return 0;
    if (f->nshould && !roaring_bitmap_is_empty(r) && !narrow_should(f, src, r)) return 0;
    for (size_t i = 0; i < f->nmust_not && !roaring_bitmap_is_empty(r); i++) {
        roaring_bitmap_t *m = cond_within(&f->must_not[i], src, r);
        if (!m) return 0;
        roaring_bitmap_andnot_inplace(r, m);
        roaring_bitmap_free(m);
    }
    return 1;
}

roaring_bitmap_t *filter_eval(const struct hk_filter *f, const filter_source *src) {
    roaring_bitmap_t *r = roaring_bitmap_copy(src->live);
    if (r && f && !narrow(f, src, r)) {
        roaring_bitmap_free(r);
        return NULL;
    }
    return r;
}
