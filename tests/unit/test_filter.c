/*
 * test_filter.c — the filter grammar and its evaluation (src/db/filter.c).
 *
 * Besides hand-written cases for parsing, error messages and Qdrant's matching rules, the
 * core test generates thousands of random payloads and random filters of every condition
 * kind (nested must/should/must_not included) and checks filter_match and filter_eval —
 * without indexes, with payload indexes of each type, and after index updates — against a
 * reference evaluator written here that walks the JSON trees of payload and filter directly
 * and compares numbers in long double (exact for int64 and double alike).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/filter.h"
#include "index/payload_index.h"
#include "json.h"

/* ---- helpers ---- */

static hk_filter *parse_ok(const char *json) {
    hk_filter *f = NULL;
    if (hk_filter_parse(json, strlen(json), &f) != HK_OK)
        fail_msg("filter %s did not parse: %s", json, hk_errmsg());
    assert_non_null(f);
    return f;
}

static void parse_err(const char *json, const char *want) {
    hk_filter *f = (hk_filter *)1;
    hk_status st = hk_filter_parse(json, strlen(json), &f);
    if (st != HK_INVALID) fail_msg("filter %s: status %d, expected HK_INVALID", json, st);
    assert_null(f);
    if (!strstr(hk_errmsg(), want))
        fail_msg("filter %s: message '%s' lacks '%s'", json, hk_errmsg(), want);
}

static int match_json(const char *filter, uint64_t id, const char *payload) {
    hk_filter *f = parse_ok(filter);
    hk_buf b;
    hk_buf_init(&b);
    if (hkb_from_json(&b, payload, strlen(payload)) != HK_OK)
        fail_msg("payload %s: %s", payload, hk_errmsg());
    int r = filter_match(f, id, b.data);
    hk_buf_free(&b);
    hk_filter_free(f);
    return r;
}

#define EXPECT_MATCH(filter, payload, want)                                                   \
    do {                                                                                      \
        if (match_json(filter, 0, payload) != (want))                                         \
            fail_msg("filter %s on %s should give %d", filter, payload, want);                \
    } while (0)

/* ---- parsing ---- */

static void test_parse_tree(void **state) {
    (void)state;
    hk_filter *f = parse_ok(
        "{\"must\":[{\"key\":\"a.b\",\"match\":{\"value\":\"x\"}},"
        "{\"key\":\"n\",\"match\":{\"any\":[1,true,\"s\",2.0]}},"
        "{\"key\":\"n\",\"match\":{\"except\":[]}},"
        "{\"key\":\"r\",\"range\":{\"gt\":1,\"lte\":2.5,\"lt\":null}}],"
        "\"should\":{\"is_empty\":{\"key\":\"e\"}},"
        "\"must_not\":[{\"is_null\":{\"key\":\"z\"}},{\"has_id\":[5,3,5,0]},"
        "{\"should\":[{\"key\":\"q\",\"match\":{\"value\":false}}]}]}");
    assert_int_equal(f->nmust, 4);
    assert_int_equal(f->nshould, 1);
    assert_int_equal(f->nmust_not, 3);
    const filter_cond *c = &f->must[0];
    assert_int_equal(c->kind, FC_MATCH_VALUE);
    assert_string_equal(c->key, "a.b");
    assert_int_equal(c->key_len, 3);
    assert_int_equal(c->nvalues, 1);
    assert_int_equal(c->values[0].type, HKB_STRING);
    assert_int_equal(c->values[0].len, 1);
    assert_memory_equal(c->values[0].s, "x", 1);
    c = &f->must[1];
    assert_int_equal(c->kind, FC_MATCH_ANY);
    assert_int_equal(c->nvalues, 4);
    assert_int_equal(c->values[0].type, HKB_INT);
    assert_true(c->values[0].i == 1);
    assert_int_equal(c->values[1].type, HKB_TRUE);
    assert_int_equal(c->values[2].type, HKB_STRING);
    assert_int_equal(c->values[3].type, HKB_INT); /* 2.0 is the integer 2 */
    assert_true(c->values[3].i == 2);
    assert_int_equal(f->must[2].kind, FC_MATCH_EXCEPT);
    assert_int_equal(f->must[2].nvalues, 0);
    c = &f->must[3];
    assert_int_equal(c->kind, FC_RANGE);
    assert_true(c->range.has_gt && c->range.gt == 1.0);
    assert_true(c->range.has_lte && c->range.lte == 2.5);
    assert_false(c->range.has_gte);
    assert_false(c->range.has_lt);
    assert_int_equal(f->should[0].kind, FC_IS_EMPTY);
    assert_string_equal(f->should[0].key, "e");
    assert_int_equal(f->must_not[0].kind, FC_IS_NULL);
    c = &f->must_not[1];
    assert_int_equal(c->kind, FC_HAS_ID);
    assert_int_equal(c->nids, 3);
    assert_true(c->ids[0] == 0 && c->ids[1] == 3 && c->ids[2] == 5);
    c = &f->must_not[2];
    assert_int_equal(c->kind, FC_NESTED);
    assert_int_equal(c->sub->nshould, 1);
    assert_int_equal(c->sub->should[0].values[0].type, HKB_FALSE);
    hk_filter_free(f);

    f = parse_ok("{\"must\":[{}]}"); /* the empty filter as a condition */
    assert_int_equal(f->must[0].kind, FC_NESTED);
    assert_int_equal(f->must[0].sub->nmust + f->must[0].sub->nshould + f->must[0].sub->nmust_not, 0);
    hk_filter_free(f);
    f = parse_ok("{}");
    assert_int_equal(f->nmust + f->nshould + f->nmust_not, 0);
    hk_filter_free(f);
    f = parse_ok("{\"must\":null,\"should\":[],\"must_not\":null}");
    assert_int_equal(f->nmust + f->nshould + f->nmust_not, 0);
    hk_filter_free(f);
    hk_filter_free(NULL);
}

static void test_parse_errors(void **state) {
    (void)state;
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"must\":[{\"key\":\"a\",\"mach\":{\"value\":1}}]}", "filter: unknown field 'mach' in condition"},
        {"{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":\"5\"}}]}", "filter: 'range' needs a number for 'gt', got string"},
        {"{\"must\":[{\"key\":\"a\",\"range\":{\"lte\":[1]}}]}", "'range' needs a number for 'lte'"},
        {"{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":1,\"between\":2}}]}", "unknown field 'between' in range"},
        {"{\"must\":[{\"key\":\"a\",\"range\":5}]}", "'range' must be an object, got integer"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{\"text\":\"hi\"}}]}", "match 'text' (full-text) is not supported"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{\"phrase\":\"hi\"}}]}", "not supported"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{\"val\":1}}]}", "unknown field 'val' in match"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1,\"any\":[1]}}]}", "exactly one of 'value', 'any' or 'except'"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{}}]}", "exactly one of"},
        {"{\"must\":[{\"key\":\"a\",\"match\":[1]}]}", "'match' must be an object, got array"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1.5}}]}", "match 'value' needs a string, integer or boolean, got a fractional number"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{\"value\":null}}]}", "got null"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{\"value\":{}}}]}", "got object"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{\"any\":\"x\"}}]}", "match 'any' needs an array, got string"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{\"except\":[1,[2]]}}]}", "match 'except' needs a string, integer or boolean, got array"},
        {"{\"must\":[{\"key\":\"a\",\"geo_radius\":{}}]}", "'geo_radius' conditions are not supported"},
        {"{\"must\":[{\"key\":\"a\",\"values_count\":{\"gt\":1}}]}", "'values_count' conditions are not supported"},
        {"{\"must\":[{\"nested\":{\"key\":\"a\",\"filter\":{}}}]}", "'nested' conditions are not supported"},
        {"{\"must\":[{\"key\":\"\",\"match\":{\"value\":1}}]}", "'key' must not be empty"},
        {"{\"must\":[{\"key\":5,\"match\":{\"value\":1}}]}", "'key' must be a string, got integer"},
        {"{\"must\":[{\"key\":\"a\\u0000b\",\"match\":{\"value\":1}}]}", "must not contain NUL"},
        {"{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1},\"range\":{}}]}", "condition on 'a' has both 'match' and 'range'"},
        {"{\"must\":[{\"key\":\"a\"}]}", "condition on 'a' needs 'match' or 'range'"},
        {"{\"must\":[{\"match\":{\"value\":1}}]}", "condition with 'match' needs a 'key'"},
        {"{\"must\":[1]}", "a condition must be an object, got integer"},
        {"{\"must\":5}", "'must' needs an array of conditions, got integer"},
        {"{\"should\":\"x\"}", "'should' needs an array of conditions, got string"},
        {"{\"must\":[{\"foo\":1}]}", "unknown field 'foo' in condition"},
        {"{\"filter\":{}}", "unknown field 'filter' in filter"},
        {"{\"must\":[],\"min_should\":{}}", "'min_should' is not supported"},
        {"{\"must\":[{\"must\":[],\"bogus\":1}]}", "unknown field 'bogus' in filter"},
        {"{\"must\":[{\"is_empty\":{\"key\":\"a\",\"x\":1}}]}", "unknown field 'x' in 'is_empty'"},
        {"{\"must\":[{\"is_null\":{}}]}", "'is_null' needs a 'key'"},
        {"{\"must\":[{\"is_null\":\"a\"}]}", "'is_null' must be an object, got string"},
        {"{\"must\":[{\"is_empty\":{\"key\":\"a\"},\"is_null\":{\"key\":\"b\"}}]}", "'is_empty' must be alone in its condition object, found 'is_null' beside it"},
        {"{\"must\":[{\"has_id\":[1,-2]}]}", "'has_id' ids must be integers from 0 to 9223372036854775807"},
        {"{\"must\":[{\"has_id\":[1.5]}]}", "'has_id' ids must be integers"},
        {"{\"must\":[{\"has_id\":[\"3fa85f64-5717-4562-b3fc-2c963f66afa6\"]}]}", "UUIDs are not supported"},
        {"{\"must\":[{\"has_id\":7}]}", "'has_id' needs an array of ids, got integer"},
        {"[]", "filter: a filter must be an object, got array"},
        {"{\"must\":[}", "filter: expected a value at offset 9"},
        {"", "filter: expected a value at offset 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) parse_err(cases[i].json, cases[i].want);
    hk_filter *f = (hk_filter *)1;
    assert_int_equal(hk_filter_parse(NULL, 3, &f), HK_INVALID);
    assert_null(f);
    assert_int_equal(hk_filter_parse("{}", 2, NULL), HK_INVALID);
    /* long unknown field names are cut in the message */
    char big[400];
    snprintf(big, sizeof big, "{\"%0300d\":1}", 0);
    parse_err(big, "unknown field '0000000000");
    assert_true(strlen(hk_errmsg()) < 200);
}

/* ---- matching rules ---- */

static void test_match_value(void **state) {
    (void)state;
    const char *one = "{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1}}]}";
    EXPECT_MATCH(one, "{\"a\":1}", 1);
    EXPECT_MATCH(one, "{\"a\":1.0}", 1);
    EXPECT_MATCH(one, "{\"a\":1.5}", 0);
    EXPECT_MATCH(one, "{\"a\":\"1\"}", 0);
    EXPECT_MATCH(one, "{\"a\":true}", 0);
    EXPECT_MATCH(one, "{\"a\":[0,1]}", 1);
    EXPECT_MATCH(one, "{\"a\":[[1]]}", 0); /* arrays are entered one level */
    EXPECT_MATCH(one, "{\"a\":{\"b\":1}}", 0);
    EXPECT_MATCH(one, "{}", 0);
    EXPECT_MATCH(one, "{\"a\":null}", 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":9007199254740992}}]}",
                 "{\"a\":9007199254740993}", 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":9007199254740993}}]}",
                 "{\"a\":9007199254740992.0}", 0); /* no rounding through double */
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":9007199254740992}}]}",
                 "{\"a\":9007199254740992.0}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":\"x\"}}]}", "{\"a\":\"x\"}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":\"x\"}}]}", "{\"a\":\"xy\"}", 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":\"\"}}]}", "{\"a\":\"\"}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":\"a\\u0000b\"}}]}",
                 "{\"a\":\"a\\u0000c\"}", 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":true}}]}", "{\"a\":[false,true]}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":false}}]}", "{\"a\":0}", 0);
    /* dotted paths through arrays of objects */
    const char *ox = "{\"must\":[{\"key\":\"o.x\",\"match\":{\"value\":\"v\"}}]}";
    EXPECT_MATCH(ox, "{\"o\":{\"x\":\"v\"}}", 1);
    EXPECT_MATCH(ox, "{\"o\":[{\"x\":\"w\"},{\"x\":[\"v\"]}]}", 1);
    EXPECT_MATCH(ox, "{\"o\":[{\"y\":\"v\"}]}", 0);
    EXPECT_MATCH(ox, "{\"o.x\":\"v\"}", 0);
}

static void test_match_any_except(void **state) {
    (void)state;
    const char *any = "{\"must\":[{\"key\":\"a\",\"match\":{\"any\":[\"x\",2]}}]}";
    EXPECT_MATCH(any, "{\"a\":\"x\"}", 1);
    EXPECT_MATCH(any, "{\"a\":2.0}", 1);
    EXPECT_MATCH(any, "{\"a\":[\"y\",\"x\"]}", 1);
    EXPECT_MATCH(any, "{\"a\":\"y\"}", 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"any\":[]}}]}", "{\"a\":1}", 0);
    const char *ex = "{\"must\":[{\"key\":\"a\",\"match\":{\"except\":[\"x\",\"y\"]}}]}";
    EXPECT_MATCH(ex, "{\"a\":\"z\"}", 1);
    EXPECT_MATCH(ex, "{\"a\":\"x\"}", 0);
    EXPECT_MATCH(ex, "{\"a\":[\"x\",\"y\"]}", 0);
    EXPECT_MATCH(ex, "{\"a\":[\"x\",\"z\"]}", 1); /* some element is not listed */
    EXPECT_MATCH(ex, "{\"a\":5}", 1);
    EXPECT_MATCH(ex, "{\"a\":{}}", 1);
    EXPECT_MATCH(ex, "{\"a\":[[\"x\"]]}", 1);
    EXPECT_MATCH(ex, "{\"a\":null}", 0);
    EXPECT_MATCH(ex, "{\"a\":[null]}", 0);
    EXPECT_MATCH(ex, "{\"a\":[]}", 0);
    EXPECT_MATCH(ex, "{}", 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"except\":[]}}]}", "{\"a\":false}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"except\":[1]}}]}", "{\"a\":1.0}", 0);
}

static void test_range(void **state) {
    (void)state;
    const char *r = "{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":1,\"lt\":3}}]}";
    EXPECT_MATCH(r, "{\"a\":2}", 1);
    EXPECT_MATCH(r, "{\"a\":2.999}", 1);
    EXPECT_MATCH(r, "{\"a\":3}", 0);
    EXPECT_MATCH(r, "{\"a\":1}", 0);
    EXPECT_MATCH(r, "{\"a\":[0,2.5]}", 1);
    EXPECT_MATCH(r, "{\"a\":[0,5]}", 0);
    EXPECT_MATCH(r, "{\"a\":\"2\"}", 0);
    EXPECT_MATCH(r, "{\"a\":true}", 0);
    EXPECT_MATCH(r, "{\"a\":null}", 0);
    EXPECT_MATCH(r, "{}", 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{\"gte\":1,\"lte\":1}}]}", "{\"a\":1}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{}}]}", "{\"a\":-7}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{}}]}", "{\"a\":\"x\"}", 0);
    /* integers compare exactly with double bounds */
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":9007199254740992}}]}",
                 "{\"a\":9007199254740993}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{\"lte\":9007199254740992}}]}",
                 "{\"a\":9007199254740993}", 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{\"gte\":9.3e18}}]}",
                 "{\"a\":9223372036854775807}", 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{\"lt\":-9.3e18}}]}",
                 "{\"a\":-9223372036854775808}", 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":-0.5,\"lt\":0.5}}]}", "{\"a\":0}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":-1.5}}]}", "{\"a\":-1}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{\"lt\":-1.5}}]}", "{\"a\":-2}", 1);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"range\":{\"lt\":-1.5}}]}", "{\"a\":-1}", 0);
}

static void test_empty_null_id(void **state) {
    (void)state;
    const char *e = "{\"must\":[{\"is_empty\":{\"key\":\"a\"}}]}";
    EXPECT_MATCH(e, "{}", 1);
    EXPECT_MATCH(e, "{\"a\":null}", 1);
    EXPECT_MATCH(e, "{\"a\":[]}", 1);
    EXPECT_MATCH(e, "{\"a\":[null]}", 0);
    EXPECT_MATCH(e, "{\"a\":0}", 0);
    EXPECT_MATCH(e, "{\"a\":\"\"}", 0);
    EXPECT_MATCH(e, "{\"a\":{}}", 0);
    const char *eo = "{\"must\":[{\"is_empty\":{\"key\":\"o.x\"}}]}";
    EXPECT_MATCH(eo, "{\"o\":[{\"x\":null},{\"x\":[]},{}]}", 1);
    EXPECT_MATCH(eo, "{\"o\":[{\"x\":null},{\"x\":1}]}", 0);
    const char *n = "{\"must\":[{\"is_null\":{\"key\":\"a\"}}]}";
    EXPECT_MATCH(n, "{\"a\":null}", 1);
    EXPECT_MATCH(n, "{}", 0);
    EXPECT_MATCH(n, "{\"a\":[null]}", 0);
    EXPECT_MATCH(n, "{\"a\":0}", 0);
    EXPECT_MATCH("{\"must\":[{\"is_null\":{\"key\":\"o.x\"}}]}", "{\"o\":[{\"x\":1},{\"x\":null}]}", 1);
    const char *ids = "{\"must\":[{\"has_id\":[5,3,5]}]}";
    assert_int_equal(match_json(ids, 5, "{}"), 1);
    assert_int_equal(match_json(ids, 3, "{}"), 1);
    assert_int_equal(match_json(ids, 4, "{}"), 0);
    assert_int_equal(match_json("{\"must\":[{\"has_id\":[]}]}", 0, "{}"), 0);
}

static void test_clauses(void **state) {
    (void)state;
    const char *p = "{\"a\":1,\"b\":\"x\"}";
    EXPECT_MATCH("{}", p, 1);
    EXPECT_MATCH("{\"should\":[]}", p, 1);
    EXPECT_MATCH("{\"should\":[{\"key\":\"a\",\"match\":{\"value\":2}},"
                 "{\"key\":\"b\",\"match\":{\"value\":\"x\"}}]}", p, 1);
    EXPECT_MATCH("{\"should\":[{\"key\":\"a\",\"match\":{\"value\":2}},"
                 "{\"key\":\"b\",\"match\":{\"value\":\"y\"}}]}", p, 0);
    EXPECT_MATCH("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1}},"
                 "{\"key\":\"b\",\"match\":{\"value\":\"y\"}}]}", p, 0);
    EXPECT_MATCH("{\"must_not\":[{\"key\":\"a\",\"match\":{\"value\":2}}]}", p, 1);
    EXPECT_MATCH("{\"must_not\":[{\"key\":\"a\",\"match\":{\"value\":2}},"
                 "{\"key\":\"b\",\"match\":{\"value\":\"x\"}}]}", p, 0);
    EXPECT_MATCH("{\"must\":{\"key\":\"a\",\"match\":{\"value\":1}}}", p, 1); /* single condition */
    EXPECT_MATCH("{\"must\":[{\"must_not\":[{\"key\":\"a\",\"match\":{\"value\":1}}]}]}", p, 0);
    EXPECT_MATCH("{\"must\":[{}]}", p, 1);
    EXPECT_MATCH("{\"must_not\":[{}]}", p, 0);
    EXPECT_MATCH("{\"must_not\":[{\"must_not\":[{\"key\":\"a\",\"match\":{\"value\":1}}]}]}", p, 1);
    EXPECT_MATCH("{\"should\":[{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1}},"
                 "{\"key\":\"b\",\"match\":{\"value\":\"x\"}}]}]}", p, 1);
}

static void test_match_edges(void **state) {
    (void)state;
    hk_filter *f = parse_ok("{\"must\":[{\"is_empty\":{\"key\":\"a\"}}]}");
    assert_int_equal(filter_match(f, 0, NULL), 1); /* no payload is the empty object */
    assert_int_equal(filter_match(NULL, 0, NULL), 1);
    assert_int_equal(filter_cond_match(&f->must[0], 0, hkb_empty_object), 1);
    hk_filter_free(f);
    assert_int_equal(filter_cmp_int_double(3, 3.0), 0);
    assert_int_equal(filter_cmp_int_double(3, 3.5), -1);
    assert_int_equal(filter_cmp_int_double(-3, -3.5), 1);
    assert_int_equal(filter_cmp_int_double(INT64_MAX, 9223372036854775808.0), -1);
    assert_int_equal(filter_cmp_int_double(INT64_MIN, -9223372036854775808.0), 0);
    assert_int_equal(filter_cmp_int_double(INT64_MIN, -1e300), 1);
    assert_int_equal(filter_cmp_int_double(9007199254740993, 9007199254740992.0), 1);
}

/* ---- a small collection for filter_eval ---- */

typedef struct coll {
    size_t n;
    hk_buf *payloads;  /* hkb per slot */
    hj_value **trees;  /* the same payloads as JSON trees (reference) */
    uint64_t *ids;
    roaring_bitmap_t *live;
    payload_index **ix;
    size_t nix;
    size_t index_answers;
    size_t nonempty_answers[FC_NESTED + 1]; /* per condition kind, answers with a slot */
} coll;

static const uint8_t *coll_payload(void *ctx, uint32_t slot) {
    coll *c = ctx;
    return c->payloads[slot].data;
}

static uint64_t coll_id(void *ctx, uint32_t slot) {
    coll *c = ctx;
    return c->ids[slot];
}

static int coll_slot(void *ctx, uint64_t id, uint32_t *slot) {
    coll *c = ctx;
    for (size_t i = 0; i < c->n; i++)
        if (c->ids[i] == id) {
            *slot = (uint32_t)i;
            return 1;
        }
    return 0;
}

static roaring_bitmap_t *coll_lookup(void *ctx, const filter_cond *fc) {
    coll *c = ctx;
    for (size_t i = 0; i < c->nix; i++) {
        if (strcmp(pidx_key(c->ix[i]), fc->key) != 0) continue;
        roaring_bitmap_t *r = pidx_lookup(c->ix[i], fc);
        if (r) c->index_answers++;
        if (r && !roaring_bitmap_is_empty(r)) c->nonempty_answers[fc->kind]++;
        return r;
    }
    return NULL;
}

static filter_source coll_source(coll *c, int with_index) {
    filter_source s = {c, c->live, coll_payload, coll_id, coll_slot,
                       with_index ? coll_lookup : NULL};
    return s;
}

static void test_eval_basic(void **state) {
    (void)state;
    static const char *docs[] = {"{\"a\":1}", "{\"a\":2}", "{\"a\":[1,2]}", "{\"a\":1}", "{}", "{\"a\":\"x\"}"};
    coll c = {0};
    c.n = 6;
    hk_buf bufs[6];
    uint64_t ids[6] = {10, 11, 12, 13, 14, 15};
    c.payloads = bufs;
    c.ids = ids;
    for (int i = 0; i < 6; i++) {
        hk_buf_init(&bufs[i]);
        assert_int_equal(hkb_from_json(&bufs[i], docs[i], strlen(docs[i])), HK_OK);
    }
    c.live = roaring_bitmap_create();
    roaring_bitmap_add_range(c.live, 0, 6);
    roaring_bitmap_remove(c.live, 3); /* dead, yet still in the index */
    payload_index *ix = pidx_new("a", HK_FIELD_INTEGER);
    for (uint32_t i = 0; i < 6; i++) assert_int_equal(pidx_add(ix, i, bufs[i].data), HK_OK);
    c.ix = &ix;
    c.nix = 1;
    for (int with = 0; with < 2; with++) {
        filter_source src = coll_source(&c, with);
        roaring_bitmap_t *r = filter_eval(NULL, &src);
        assert_true(roaring_bitmap_equals(r, c.live));
        roaring_bitmap_free(r);
        hk_filter *f = parse_ok("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1}}]}");
        r = filter_eval(f, &src);
        uint32_t want1[] = {0, 2};
        roaring_bitmap_t *w = roaring_bitmap_of_ptr(2, want1);
        assert_true(roaring_bitmap_equals(r, w));
        roaring_bitmap_free(w);
        roaring_bitmap_free(r);
        hk_filter_free(f);
        f = parse_ok("{\"must\":[{\"has_id\":[12,13,99,15]}],"
                     "\"must_not\":[{\"key\":\"a\",\"match\":{\"value\":\"x\"}}]}");
        r = filter_eval(f, &src);
        assert_int_equal(roaring_bitmap_get_cardinality(r), 1);
        assert_true(roaring_bitmap_contains(r, 2));
        roaring_bitmap_free(r);
        hk_filter_free(f);
        f = parse_ok("{\"should\":[{\"key\":\"a\",\"match\":{\"value\":2}},{\"is_empty\":{\"key\":\"a\"}}]}");
        r = filter_eval(f, &src);
        uint32_t want2[] = {1, 2, 4};
        w = roaring_bitmap_of_ptr(3, want2);
        assert_true(roaring_bitmap_equals(r, w));
        roaring_bitmap_free(w);
        roaring_bitmap_free(r);
        hk_filter_free(f);
    }
    assert_true(c.index_answers >= 1);
    pidx_free(ix);
    roaring_bitmap_free(c.live);
    for (int i = 0; i < 6; i++) hk_buf_free(&bufs[i]);
}

/* ---- the reference evaluator: JSON trees only ---- */

static const hj_value *ref_member(const hj_value *obj, const char *key, size_t len) {
    for (uint32_t i = 0; i < obj->n; i++)
        if (obj->u.members[i].key_len == len && memcmp(obj->u.members[i].key, key, len) == 0)
            return &obj->u.members[i].value;
    return NULL;
}

typedef struct ref_values {
    const hj_value *v[256];
    size_t n;
} ref_values;

static void ref_walk(const hj_value *v, const char *path, ref_values *out) {
    if (v->type == HJ_ARRAY) {
        for (uint32_t i = 0; i < v->n; i++) ref_walk(&v->u.items[i], path, out);
        return;
    }
    if (v->type != HJ_OBJECT) return;
    const char *dot = strchr(path, '.');
    size_t seg = dot ? (size_t)(dot - path) : strlen(path);
    const hj_value *child = ref_member(v, path, seg);
    if (!child) return;
    if (!dot) {
        assert_true(out->n < 256);
        out->v[out->n++] = child;
    } else {
        ref_walk(child, dot + 1, out);
    }
}

static int ref_num(const hj_value *v, long double *out) {
    if (v->type == HJ_INT) *out = (long double)v->u.i;
    else if (v->type == HJ_DOUBLE) *out = (long double)v->u.d;
    else return 0;
    return 1;
}

static int ref_lit_eq(const hj_value *lit, const hj_value *a) {
    long double x, y;
    if (lit->type == HJ_STRING)
        return a->type == HJ_STRING && a->n == lit->n && memcmp(a->u.s, lit->u.s, a->n) == 0;
    if (ref_num(lit, &x)) return ref_num(a, &y) && x == y;
    return a->type == lit->type;
}

typedef struct ref_cond {
    int kind; /* 0 value/any, 1 except, 2 range */
    const hj_value *lits;
    uint32_t nlits;
    const hj_value *range;
} ref_cond;

static int ref_atom(const ref_cond *rc, const hj_value *a) {
    if (rc->kind == 2) {
        long double v;
        if (!ref_num(a, &v)) return 0;
        static const char *ops[] = {"gt", "gte", "lt", "lte"};
        for (int i = 0; i < 4; i++) {
            const hj_value *b = hj_get(rc->range, ops[i]);
            if (!b || b->type == HJ_NULL) continue;
            long double bound = (long double)hj_number(b); /* bounds are doubles */
            if ((i == 0 && !(v > bound)) || (i == 1 && !(v >= bound)) ||
                (i == 2 && !(v < bound)) || (i == 3 && !(v <= bound)))
                return 0;
        }
        return 1;
    }
    int eq = 0;
    for (uint32_t i = 0; i < rc->nlits; i++) eq |= ref_lit_eq(&rc->lits[i], a);
    return rc->kind == 1 ? a->type != HJ_NULL && !eq : eq;
}

static int ref_filter(const hj_value *f, uint64_t id, const hj_value *payload);

static int ref_cond_match(const hj_value *c, uint64_t id, const hj_value *payload) {
    const hj_value *key = hj_get(c, "key"), *x;
    ref_values vals = {0};
    if (key) {
        ref_walk(payload, key->u.s, &vals);
        ref_cond rc = {0};
        if ((x = hj_get(c, "range"))) {
            rc.kind = 2;
            rc.range = x;
        } else {
            const hj_value *m = hj_get(c, "match");
            if ((x = hj_get(m, "value"))) {
                rc.lits = x;
                rc.nlits = 1;
            } else {
                rc.kind = hj_get(m, "except") ? 1 : 0;
                x = rc.kind ? hj_get(m, "except") : hj_get(m, "any");
                rc.lits = x->u.items;
                rc.nlits = x->n;
            }
        }
        for (size_t i = 0; i < vals.n; i++) {
            const hj_value *v = vals.v[i];
            if (v->type != HJ_ARRAY) {
                if (ref_atom(&rc, v)) return 1;
                continue;
            }
            for (uint32_t j = 0; j < v->n; j++)
                if (ref_atom(&rc, &v->u.items[j])) return 1;
        }
        return 0;
    }
    if ((x = hj_get(c, "is_empty"))) {
        ref_walk(payload, hj_get(x, "key")->u.s, &vals);
        for (size_t i = 0; i < vals.n; i++)
            if (vals.v[i]->type != HJ_NULL && !(vals.v[i]->type == HJ_ARRAY && vals.v[i]->n == 0))
                return 0;
        return 1;
    }
    if ((x = hj_get(c, "is_null"))) {
        ref_walk(payload, hj_get(x, "key")->u.s, &vals);
        for (size_t i = 0; i < vals.n; i++)
            if (vals.v[i]->type == HJ_NULL) return 1;
        return 0;
    }
    if ((x = hj_get(c, "has_id"))) {
        for (uint32_t i = 0; i < x->n; i++)
            if ((uint64_t)x->u.items[i].u.i == id) return 1;
        return 0;
    }
    return ref_filter(c, id, payload);
}

/* A clause is an array of conditions, one condition object, or null. */
static int ref_clause(const hj_value *cl, uint64_t id, const hj_value *payload, int want_all,
                      size_t *count) {
    *count = 0;
    if (!cl || cl->type == HJ_NULL) return want_all;
    size_t n = cl->type == HJ_ARRAY ? cl->n : 1;
    *count = n;
    for (size_t i = 0; i < n; i++) {
        int m = ref_cond_match(cl->type == HJ_ARRAY ? &cl->u.items[i] : cl, id, payload);
        if (want_all && !m) return 0;
        if (!want_all && m) return 1;
    }
    return want_all;
}

static int ref_filter(const hj_value *f, uint64_t id, const hj_value *payload) {
    size_t n;
    if (!ref_clause(hj_get(f, "must"), id, payload, 1, &n)) return 0;
    if (!ref_clause(hj_get(f, "should"), id, payload, 0, &n) && n) return 0;
    if (ref_clause(hj_get(f, "must_not"), id, payload, 0, &n)) return 0;
    return 1;
}

/* ---- random payloads and filters ---- */

static uint64_t rs = 0x2545F4914F6CDD1DULL;
static uint64_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static int pick(int n) { return (int)(rnd() % (uint64_t)n); }
static int chance(int percent) { return pick(100) < percent; }

static const char *const vocab[] = {"a", "b", "c", "", "\xc3\xa9", "a b"};
static const int64_t ints[] = {-3, -2, -1, 0, 1, 2, 3, 9007199254740992, 9007199254740993,
                               INT64_MAX, INT64_MIN};
static const double dbls[] = {-2.5, -1.0, -0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0,
                              9007199254740992.0, 1e300, 9223372036854775808.0};

static void put_int(hk_buf *b) {
    hk_buf_printf(b, "%lld", (long long)(chance(85) ? ints[pick(7)] : ints[7 + pick(4)]));
}
static void put_double(hk_buf *b) { hj_write_double(b, chance(85) ? dbls[pick(9)] : dbls[9 + pick(3)]); }
static void put_str(hk_buf *b) {
    const char *s = vocab[pick(6)];
    hj_write_string(b, s, strlen(s));
}
static void put_bool(hk_buf *b) { hk_buf_puts(b, chance(50) ? "true" : "false"); }

enum { REGIME_MIXED, REGIME_TYPED, REGIME_MOSTLY_TYPED };
enum { FAM_STRING, FAM_INT, FAM_NUMBER, FAM_BOOL, FAM_ANY };

static void put_any(hk_buf *b, int depth);

static void put_family(hk_buf *b, int fam, int depth) {
    switch (fam) {
    case FAM_STRING: put_str(b); break;
    case FAM_INT: put_int(b); break;
    case FAM_NUMBER: chance(50) ? put_int(b) : put_double(b); break;
    case FAM_BOOL: put_bool(b); break;
    default: put_any(b, depth); break;
    }
}

/* A value of a family: mostly scalars, sometimes arrays of them, nulls and empty arrays. */
static void put_field(hk_buf *b, int fam, int depth) {
    int r = pick(100);
    if (r < 8) {
        hk_buf_puts(b, "null");
    } else if (r < 12) {
        hk_buf_puts(b, "[]");
    } else if (r < 30) {
        int n = 1 + pick(3);
        hk_buf_putc(b, '[');
        for (int i = 0; i < n; i++) {
            if (i) hk_buf_putc(b, ',');
            if (chance(5)) hk_buf_puts(b, "null");
            else put_family(b, fam, depth + 1);
        }
        hk_buf_putc(b, ']');
    } else {
        put_family(b, fam, depth);
    }
}

static void put_any(hk_buf *b, int depth) {
    int r = pick(depth > 2 ? 5 : 8);
    switch (r) {
    case 0: put_str(b); break;
    case 1: put_int(b); break;
    case 2: put_double(b); break;
    case 3: put_bool(b); break;
    case 4: hk_buf_puts(b, "null"); break;
    case 5: hk_buf_puts(b, "{\"x\":"); put_any(b, depth + 1); hk_buf_putc(b, '}'); break;
    default: {
        int n = pick(4);
        hk_buf_putc(b, '[');
        for (int i = 0; i < n; i++) {
            if (i) hk_buf_putc(b, ',');
            put_any(b, depth + 1);
        }
        hk_buf_putc(b, ']');
    }
    }
}

/* Top-level keys and the family each holds in the typed regimes. */
static const char *const top_keys[] = {"k", "n", "f", "b"};
static const int top_fams[] = {FAM_STRING, FAM_INT, FAM_NUMBER, FAM_BOOL};
/* Keys conditions name; o.x holds keywords, arr.x integers (typed regimes). */
static const char *const cond_keys[] = {"k", "n", "f", "b", "o.x", "arr.x", "missing"};

static int fam_for(int regime, int fam) {
    if (regime == REGIME_MIXED) return FAM_ANY;
    if (regime == REGIME_MOSTLY_TYPED && pick(1000) < 5) return FAM_ANY;
    return fam;
}

static void gen_payload(hk_buf *b, int regime) {
    hk_buf_putc(b, '{');
    int first = 1;
    for (int i = 0; i < 4; i++) {
        if (chance(15)) continue;
        hk_buf_printf(b, "%s\"%s\":", first ? "" : ",", top_keys[i]);
        put_field(b, fam_for(regime, top_fams[i]), 0);
        first = 0;
    }
    if (chance(80)) {
        hk_buf_printf(b, "%s\"o\":{", first ? "" : ",");
        if (chance(85)) {
            hk_buf_puts(b, "\"x\":");
            put_field(b, fam_for(regime, FAM_STRING), 0);
        }
        hk_buf_putc(b, '}');
        first = 0;
    }
    if (chance(70)) {
        hk_buf_printf(b, "%s\"arr\":[", first ? "" : ",");
        int n = pick(4);
        for (int i = 0; i < n; i++) {
            hk_buf_puts(b, i ? ",{" : "{");
            if (chance(85)) {
                hk_buf_puts(b, "\"x\":");
                put_field(b, fam_for(regime, FAM_INT), 0);
            }
            hk_buf_putc(b, '}');
        }
        hk_buf_putc(b, ']');
    }
    hk_buf_putc(b, '}');
}

static void put_literal(hk_buf *b) {
    int r = pick(10);
    if (r < 4) put_str(b);
    else if (r < 7) put_int(b);
    else if (r < 8) hk_buf_puts(b, chance(50) ? "2.0" : "-1.0");
    else put_bool(b);
}

static const double bounds[] = {-1, 0, 0.5, 1, 1.5, 2, 3, -2.5, 9007199254740992.0,
                                9007199254740994.0, -9.2e18, 1e300};

static void gen_filter(hk_buf *b, int depth, size_t nslots);

static void gen_cond(hk_buf *b, int depth, size_t nslots) {
    const char *key = cond_keys[pick(7)];
    int r = pick(depth < 2 ? 9 : 8);
    switch (r) {
    case 0:
    case 1:
        hk_buf_printf(b, "{\"key\":\"%s\",\"match\":{\"value\":", key);
        put_literal(b);
        hk_buf_puts(b, "}}");
        break;
    case 2:
    case 3: {
        hk_buf_printf(b, "{\"key\":\"%s\",\"match\":{\"%s\":[", key, r == 2 ? "any" : "except");
        int n = pick(4);
        for (int i = 0; i < n; i++) {
            if (i) hk_buf_putc(b, ',');
            put_literal(b);
        }
        hk_buf_puts(b, "]}}");
        break;
    }
    case 4:
    case 5: {
        static const char *ops[] = {"gt", "gte", "lt", "lte"};
        hk_buf_printf(b, "{\"key\":\"%s\",\"range\":{", key);
        int first = 1;
        for (int i = 0; i < 4; i++) {
            if (!chance(45)) continue;
            hk_buf_printf(b, "%s\"%s\":", first ? "" : ",", ops[i]);
            if (chance(5)) hk_buf_puts(b, "null");
            else if (chance(30)) hk_buf_printf(b, "%lld", (long long)ints[pick(11)]);
            else hj_write_double(b, bounds[pick(12)]);
            first = 0;
        }
        hk_buf_puts(b, "}}");
        break;
    }
    case 6: hk_buf_printf(b, "{\"is_empty\":{\"key\":\"%s\"}}", key); break;
    case 7:
        if (chance(50)) {
            hk_buf_printf(b, "{\"is_null\":{\"key\":\"%s\"}}", key);
        } else {
            hk_buf_puts(b, "{\"has_id\":[");
            int n = pick(6);
            for (int i = 0; i < n; i++) /* ids are 3 * slot + 1; some miss */
                hk_buf_printf(b, "%s%llu", i ? "," : "", (unsigned long long)pick((int)nslots * 3));
            hk_buf_puts(b, "]}");
        }
        break;
    default: gen_filter(b, depth + 1, nslots); break;
    }
}

static void gen_filter(hk_buf *b, int depth, size_t nslots) {
    static const char *clauses[] = {"must", "should", "must_not"};
    hk_buf_putc(b, '{');
    int first = 1;
    for (int i = 0; i < 3; i++) {
        if (!chance(55)) continue;
        hk_buf_printf(b, "%s\"%s\":", first ? "" : ",", clauses[i]);
        first = 0;
        int r = pick(10);
        if (r == 0) {
            hk_buf_puts(b, "null");
        } else if (r == 1) {
            gen_cond(b, depth, nslots);
        } else {
            int n = pick(4);
            hk_buf_putc(b, '[');
            for (int j = 0; j < n; j++) {
                if (j) hk_buf_putc(b, ',');
                gen_cond(b, depth, nslots);
            }
            hk_buf_putc(b, ']');
        }
    }
    if (first) { /* an empty filter now and then, but mostly something to test */
        if (chance(90)) {
            hk_buf_puts(b, "\"must\":[");
            gen_cond(b, depth, nslots);
            hk_buf_putc(b, ']');
        }
    }
    hk_buf_putc(b, '}');
}

/* ---- the random comparison ---- */

#define NSLOTS 1500
#define NFILTERS 150

typedef struct fixture {
    coll c;
    hk_arena arena;
    hk_buf text;
} fixture;

static void set_payload(fixture *fx, uint32_t slot, int regime) {
    coll *c = &fx->c;
    hk_buf_reset(&fx->text);
    gen_payload(&fx->text, regime);
    hk_buf_reset(&c->payloads[slot]);
    if (hkb_from_json(&c->payloads[slot], (char *)fx->text.data, fx->text.len) != HK_OK)
        fail_msg("payload %.*s: %s", (int)fx->text.len, (char *)fx->text.data, hk_errmsg());
    if (hj_parse((char *)fx->text.data, fx->text.len, &fx->arena, &c->trees[slot]) != HK_OK)
        fail_msg("payload tree: %s", hk_errmsg());
}

static void build_indexes(coll *c, const hk_field_type *types) {
    c->nix = 6;
    for (size_t i = 0; i < c->nix; i++) {
        c->ix[i] = pidx_new(cond_keys[i], types[i]);
        assert_non_null(c->ix[i]);
        for (uint32_t s = 0; s < c->n; s++)
            assert_int_equal(pidx_add(c->ix[i], s, c->payloads[s].data), HK_OK);
    }
}

static void free_indexes(coll *c) {
    for (size_t i = 0; i < c->nix; i++) pidx_free(c->ix[i]);
    c->nix = 0;
}

/* Rewrites ~10% of the payloads, keeping any indexes up to date. */
static void churn(fixture *fx, int regime) {
    coll *c = &fx->c;
    for (uint32_t s = 0; s < c->n; s++) {
        if (!chance(10)) continue;
        for (size_t i = 0; i < c->nix; i++) pidx_remove(c->ix[i], s, c->payloads[s].data);
        set_payload(fx, s, regime);
        for (size_t i = 0; i < c->nix; i++)
            assert_int_equal(pidx_add(c->ix[i], s, c->payloads[s].data), HK_OK);
    }
}

static void compare_all(fixture *fx, const hj_value *const *ftrees, hk_filter *const *filters,
                        const char *const *texts, int with_index, const char *what) {
    coll *c = &fx->c;
    filter_source src = coll_source(c, with_index);
    for (int k = 0; k < NFILTERS; k++) {
        roaring_bitmap_t *want = roaring_bitmap_create();
        for (uint32_t s = 0; s < c->n; s++) {
            int ref = ref_filter(ftrees[k], c->ids[s], c->trees[s]);
            int got = filter_match(filters[k], c->ids[s], c->payloads[s].data);
            if (ref != got) {
                hk_buf j;
                hk_buf_init(&j);
                hj_write(&j, c->trees[s]);
                fail_msg("filter_match %d, reference %d\nfilter %s\npayload %s", got, ref,
                         texts[k], hk_buf_cstr(&j));
            }
            if (ref && roaring_bitmap_contains(c->live, s)) roaring_bitmap_add(want, s);
        }
        roaring_bitmap_t *got = filter_eval(filters[k], &src);
        assert_non_null(got);
        if (!roaring_bitmap_equals(got, want)) {
            roaring_bitmap_t *diff = roaring_bitmap_xor(got, want);
            uint32_t s = roaring_bitmap_minimum(diff);
            hk_buf j;
            hk_buf_init(&j);
            hj_write(&j, c->trees[s]);
            fail_msg("filter_eval (%s) disagrees on slot %u (in result: %d)\nfilter %s\npayload %s",
                     what, s, roaring_bitmap_contains(got, s), texts[k], hk_buf_cstr(&j));
        }
        roaring_bitmap_free(got);
        roaring_bitmap_free(want);
    }
}

static void run_regime(int regime) {
    fixture fx;
    memset(&fx, 0, sizeof fx);
    hk_arena_init(&fx.arena);
    hk_buf_init(&fx.text);
    coll *c = &fx.c;
    c->n = NSLOTS;
    c->payloads = calloc(NSLOTS, sizeof *c->payloads);
    c->trees = calloc(NSLOTS, sizeof *c->trees);
    c->ids = calloc(NSLOTS, sizeof *c->ids);
    payload_index *ix[6];
    c->ix = ix;
    c->live = roaring_bitmap_create();
    for (uint32_t s = 0; s < NSLOTS; s++) {
        hk_buf_init(&c->payloads[s]);
        set_payload(&fx, s, regime);
        c->ids[s] = 3ull * s + 1;
        if (chance(90)) roaring_bitmap_add(c->live, s);
    }

    hj_value *ftrees[NFILTERS];
    hk_filter *filters[NFILTERS];
    char *texts[NFILTERS];
    hk_buf b;
    hk_buf_init(&b);
    for (int k = 0; k < NFILTERS; k++) {
        hk_buf_reset(&b);
        gen_filter(&b, 0, NSLOTS);
        texts[k] = strdup(hk_buf_cstr(&b));
        filters[k] = parse_ok(texts[k]);
        assert_int_equal(hj_parse(texts[k], b.len, &fx.arena, &ftrees[k]), HK_OK);
    }
    hk_buf_free(&b);

    compare_all(&fx, (const hj_value *const *)ftrees, filters, (const char *const *)texts, 0,
                "no index");
    static const hk_field_type uniform[4][6] = {
        {HK_FIELD_KEYWORD, HK_FIELD_KEYWORD, HK_FIELD_KEYWORD, HK_FIELD_KEYWORD, HK_FIELD_KEYWORD, HK_FIELD_KEYWORD},
        {HK_FIELD_INTEGER, HK_FIELD_INTEGER, HK_FIELD_INTEGER, HK_FIELD_INTEGER, HK_FIELD_INTEGER, HK_FIELD_INTEGER},
        {HK_FIELD_FLOAT, HK_FIELD_FLOAT, HK_FIELD_FLOAT, HK_FIELD_FLOAT, HK_FIELD_FLOAT, HK_FIELD_FLOAT},
        {HK_FIELD_BOOL, HK_FIELD_BOOL, HK_FIELD_BOOL, HK_FIELD_BOOL, HK_FIELD_BOOL, HK_FIELD_BOOL},
    };
    /* each key indexed by the type that fits it */
    static const hk_field_type fitting[6] = {HK_FIELD_KEYWORD, HK_FIELD_INTEGER, HK_FIELD_FLOAT,
                                             HK_FIELD_BOOL, HK_FIELD_KEYWORD, HK_FIELD_INTEGER};
    size_t answers_before = c->index_answers;
    for (int t = 0; t <= 4; t++) {
        build_indexes(c, t < 4 ? uniform[t] : fitting);
        compare_all(&fx, (const hj_value *const *)ftrees, filters, (const char *const *)texts, 1,
                    "indexes");
        churn(&fx, regime);
        compare_all(&fx, (const hj_value *const *)ftrees, filters, (const char *const *)texts, 1,
                    "indexes after updates");
        free_indexes(c);
    }
    /* the indexes must actually have answered, or this test proves little about them */
    size_t answers = c->index_answers - answers_before;
    print_message("regime %d: %zu index answers (non-empty: value %zu, any %zu, except %zu, "
                  "range %zu, is_null %zu)\n", regime, answers,
                  c->nonempty_answers[FC_MATCH_VALUE], c->nonempty_answers[FC_MATCH_ANY],
                  c->nonempty_answers[FC_MATCH_EXCEPT], c->nonempty_answers[FC_RANGE],
                  c->nonempty_answers[FC_IS_NULL]);
    assert_true(answers > (regime == REGIME_MIXED ? 50u : regime == REGIME_TYPED ? 1000u : 200u));
    if (regime == REGIME_TYPED)
        for (int kind = FC_MATCH_VALUE; kind <= FC_IS_NULL; kind++)
            if (kind != FC_IS_EMPTY && c->nonempty_answers[kind] < 20)
                fail_msg("the indexes answered condition kind %d only %zu times", kind,
                         c->nonempty_answers[kind]);

    for (int k = 0; k < NFILTERS; k++) {
        hk_filter_free(filters[k]);
        free(texts[k]);
    }
    for (uint32_t s = 0; s < NSLOTS; s++) hk_buf_free(&c->payloads[s]);
    free(c->payloads);
    free(c->trees);
    free(c->ids);
    roaring_bitmap_free(c->live);
    hk_buf_free(&fx.text);
    hk_arena_reset(&fx.arena);
}

static void test_random_mixed(void **state) {
    (void)state;
    run_regime(REGIME_MIXED);
}

static void test_random_typed(void **state) {
    (void)state;
    run_regime(REGIME_TYPED);
}

static void test_random_mostly_typed(void **state) {
    (void)state;
    run_regime(REGIME_MOSTLY_TYPED);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_tree),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_match_value),
        cmocka_unit_test(test_match_any_except),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_empty_null_id),
        cmocka_unit_test(test_clauses),
        cmocka_unit_test(test_match_edges),
        cmocka_unit_test(test_eval_basic),
        cmocka_unit_test(test_random_mixed),
        cmocka_unit_test(test_random_typed),
        cmocka_unit_test(test_random_mostly_typed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
