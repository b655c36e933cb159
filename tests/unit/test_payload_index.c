/*
 * test_payload_index.c — payload indexes (src/index/payload_index.c): answers of each index
 * type, refusals when values outside the index's domain could change an answer, removal
 * and churn of the value table, the lazy sorted arrays (also under concurrent readers) and
 * that a failed pidx_add leaves the index as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/filter.h"
#include "index/payload_index.h"
#include "json.h"

/* ---- helpers ---- */

typedef struct docs {
    hk_buf *b;
    size_t n;
} docs;

/* Encodes each JSON object of the list as slot 0, 1, ... and adds it to ix. */
static docs add_all(payload_index *ix, const char *const *json, size_t n) {
    docs d = {calloc(n, sizeof(hk_buf)), n};
    for (size_t i = 0; i < n; i++) {
        hk_buf_init(&d.b[i]);
        if (hkb_from_json(&d.b[i], json[i], strlen(json[i])) != HK_OK)
            fail_msg("payload %s: %s", json[i], hk_errmsg());
        assert_int_equal(pidx_add(ix, (uint32_t)i, d.b[i].data), HK_OK);
    }
    return d;
}

static void docs_free(docs *d) {
    for (size_t i = 0; i < d->n; i++) hk_buf_free(&d->b[i]);
    free(d->b);
}

static filter_cond *cond(hk_filter **keep, const char *json) {
    if (hk_filter_parse(json, strlen(json), keep) != HK_OK) fail_msg("%s: %s", json, hk_errmsg());
    return &(*keep)->must[0];
}

/* The slots the index gives for a one-condition filter, as "0,2,5"; "NULL" when it declines. */
static const char *lookup(payload_index *ix, const char *filter_json) {
    static char out[1024];
    hk_filter *f;
    roaring_bitmap_t *r = pidx_lookup(ix, cond(&f, filter_json));
    if (!r) {
        snprintf(out, sizeof out, "NULL");
    } else {
        out[0] = 0;
        roaring_uint32_iterator_t it;
        roaring_init_iterator(r, &it);
        for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
            size_t at = strlen(out);
            snprintf(out + at, sizeof out - at, "%s%u", at ? "," : "", it.current_value);
        }
        roaring_bitmap_free(r);
    }
    hk_filter_free(f);
    return out;
}

#define EXPECT_LOOKUP(ix, filter, want)                                                       \
    do {                                                                                      \
        const char *got_ = lookup(ix, filter);                                                \
        if (strcmp(got_, want) != 0) fail_msg("%s gave %s, expected %s", filter, got_, want); \
    } while (0)

#define F(key, rest) "{\"must\":[{\"key\":\"" key "\"," rest "}]}"

/* ---- answers per type ---- */

static void test_keyword(void **state) {
    (void)state;
    static const char *p[] = {
        "{\"c\":\"red\"}", "{\"c\":[\"red\",\"blue\"]}", "{\"c\":\"blue\"}", "{}",
        "{\"c\":null}", "{\"c\":[]}", "{\"c\":\"\"}", "{\"c\":[null,\"green\"]}",
    };
    payload_index *ix = pidx_new("c", HK_FIELD_KEYWORD);
    assert_string_equal(pidx_key(ix), "c");
    assert_int_equal(pidx_type(ix), HK_FIELD_KEYWORD);
    docs d = add_all(ix, p, 8);
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"value\":\"red\"}"), "0,1");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"value\":\"\"}"), "6");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"value\":\"pink\"}"), "");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"any\":[\"blue\",\"green\"]}"), "1,2,7");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"any\":[]}"), "");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"except\":[\"red\"]}"), "1,2,6,7");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"except\":[]}"), "0,1,2,6,7");
    /* no numbers, bools or others are held, so literals of those types match nothing */
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"value\":1}"), "");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"any\":[true,\"red\"]}"), "0,1");
    EXPECT_LOOKUP(ix, F("c", "\"range\":{\"gt\":0}"), "");
    EXPECT_LOOKUP(ix, "{\"must\":[{\"is_null\":{\"key\":\"c\"}}]}", "4");
    /* what the index never answers */
    EXPECT_LOOKUP(ix, "{\"must\":[{\"is_empty\":{\"key\":\"c\"}}]}", "NULL");
    EXPECT_LOOKUP(ix, "{\"must\":[{\"has_id\":[1]}]}", "NULL");
    EXPECT_LOOKUP(ix, "{\"must\":[{\"must\":[]}]}", "NULL");
    EXPECT_LOOKUP(ix, F("d", "\"match\":{\"value\":\"red\"}"), "NULL");
    EXPECT_LOOKUP(ix, F("c.x", "\"match\":{\"value\":\"red\"}"), "NULL");
    docs_free(&d);
    pidx_free(ix);
}

static void test_keyword_with_foreign_values(void **state) {
    (void)state;
    static const char *p[] = {
        "{\"c\":\"red\"}", "{\"c\":5}", "{\"c\":[true,\"blue\"]}", "{\"c\":{\"x\":1}}",
    };
    payload_index *ix = pidx_new("c", HK_FIELD_KEYWORD);
    docs d = add_all(ix, p, 4);
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"value\":\"red\"}"), "0"); /* strings: all held */
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"value\":5}"), "NULL");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"value\":true}"), "NULL");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"any\":[\"red\",5]}"), "NULL");
    EXPECT_LOOKUP(ix, F("c", "\"range\":{\"gte\":0}"), "NULL");
    /* except with strings only: every foreign value is unequal to them */
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"except\":[\"red\",\"blue\"]}"), "1,2,3");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"except\":[\"red\",5]}"), "NULL");
    /* once the number is gone, integer literals are answerable again */
    pidx_remove(ix, 1, d.b[1].data);
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"value\":5}"), "");
    EXPECT_LOOKUP(ix, F("c", "\"range\":{\"gte\":0}"), "");
    EXPECT_LOOKUP(ix, F("c", "\"match\":{\"value\":true}"), "NULL"); /* slot 2 holds a bool */
    docs_free(&d);
    pidx_free(ix);
}

static void test_integer(void **state) {
    (void)state;
    static const char *p[] = {
        "{\"n\":1}", "{\"n\":[2,3]}", "{\"n\":2.0}", "{\"n\":-5}", "{\"n\":9007199254740993}",
        "{\"n\":9223372036854775807}", "{\"n\":[]}", "{\"o\":{\"n\":1}}",
    };
    payload_index *ix = pidx_new("n", HK_FIELD_INTEGER);
    docs d = add_all(ix, p, 8);
    EXPECT_LOOKUP(ix, F("n", "\"match\":{\"value\":2}"), "1,2"); /* 2.0 is held as 2 */
    EXPECT_LOOKUP(ix, F("n", "\"match\":{\"any\":[1,-5,7]}"), "0,3");
    EXPECT_LOOKUP(ix, F("n", "\"match\":{\"except\":[2,3]}"), "0,3,4,5");
    EXPECT_LOOKUP(ix, F("n", "\"match\":{\"value\":\"2\"}"), "");
    EXPECT_LOOKUP(ix, F("n", "\"range\":{\"gte\":2,\"lte\":3}"), "1,2");
    EXPECT_LOOKUP(ix, F("n", "\"range\":{\"gt\":1.5,\"lt\":2.5}"), "1,2");
    EXPECT_LOOKUP(ix, F("n", "\"range\":{\"lt\":0}"), "3");
    EXPECT_LOOKUP(ix, F("n", "\"range\":{}"), "0,1,2,3,4,5");
    EXPECT_LOOKUP(ix, F("n", "\"range\":{\"gt\":3,\"lt\":2}"), "");
    /* bounds are doubles; integers compare with them exactly */
    EXPECT_LOOKUP(ix, F("n", "\"range\":{\"gt\":9007199254740992}"), "4,5");
    EXPECT_LOOKUP(ix, F("n", "\"range\":{\"gte\":9223372036854775807}"), ""); /* bound is 2^63 */
    EXPECT_LOOKUP(ix, F("n", "\"range\":{\"lte\":1e300}"), "0,1,2,3,4,5");
    /* a fractional number is outside the domain: ranges decline, matches need not */
    hk_buf frac;
    hk_buf_init(&frac);
    assert_int_equal(hkb_from_json(&frac, "{\"n\":2.5}", 9), HK_OK);
    assert_int_equal(pidx_add(ix, 8, frac.data), HK_OK);
    EXPECT_LOOKUP(ix, F("n", "\"range\":{\"gte\":2}"), "NULL");
    EXPECT_LOOKUP(ix, F("n", "\"match\":{\"value\":2}"), "1,2");
    EXPECT_LOOKUP(ix, F("n", "\"match\":{\"except\":[2,3]}"), "0,3,4,5,8");
    pidx_remove(ix, 8, frac.data);
    EXPECT_LOOKUP(ix, F("n", "\"range\":{\"gte\":2}"), "1,2,4,5");
    hk_buf_free(&frac);
    docs_free(&d);
    pidx_free(ix);
}

static void test_float(void **state) {
    (void)state;
    static const char *p[] = {
        "{\"x\":0.5}", "{\"x\":[1, 2.5]}", "{\"x\":-0.0}", "{\"x\":0}", "{\"x\":1e300}",
        "{\"x\":9007199254740992}", "{\"x\":\"1\"}",
    };
    payload_index *ix = pidx_new("x", HK_FIELD_FLOAT);
    docs d = add_all(ix, p, 7);
    EXPECT_LOOKUP(ix, F("x", "\"range\":{\"gt\":0.25,\"lte\":2.5}"), "0,1");
    EXPECT_LOOKUP(ix, F("x", "\"range\":{\"gte\":0,\"lte\":0}"), "2,3"); /* -0.0 == 0 */
    EXPECT_LOOKUP(ix, F("x", "\"range\":{\"gt\":1e299}"), "4");
    EXPECT_LOOKUP(ix, F("x", "\"match\":{\"value\":0}"), "2,3");
    EXPECT_LOOKUP(ix, F("x", "\"match\":{\"value\":1}"), "1");
    EXPECT_LOOKUP(ix, F("x", "\"match\":{\"value\":9007199254740992}"), "5");
    /* 2^53 + 1 is no double: nothing held can equal it, and no big integer is unheld yet */
    EXPECT_LOOKUP(ix, F("x", "\"match\":{\"value\":9007199254740993}"), "");
    EXPECT_LOOKUP(ix, F("x", "\"match\":{\"except\":[0,1]}"), "0,1,4,5,6");
    EXPECT_LOOKUP(ix, F("x", "\"match\":{\"value\":\"1\"}"), "NULL"); /* slot 6 holds a string */
    /* an integer a double cannot hold makes ranges and such literals decline */
    hk_buf big;
    hk_buf_init(&big);
    assert_int_equal(hkb_from_json(&big, "{\"x\":9007199254740993}", 22), HK_OK);
    assert_int_equal(pidx_add(ix, 7, big.data), HK_OK);
    EXPECT_LOOKUP(ix, F("x", "\"range\":{\"gt\":0}"), "NULL");
    EXPECT_LOOKUP(ix, F("x", "\"match\":{\"value\":9007199254740993}"), "NULL");
    EXPECT_LOOKUP(ix, F("x", "\"match\":{\"value\":0}"), "2,3");
    hk_buf_free(&big);
    docs_free(&d);
    pidx_free(ix);
}

static void test_bool(void **state) {
    (void)state;
    static const char *p[] = {
        "{\"b\":true}", "{\"b\":false}", "{\"b\":[true,false]}", "{\"b\":null}", "{}",
    };
    payload_index *ix = pidx_new("b", HK_FIELD_BOOL);
    docs d = add_all(ix, p, 5);
    EXPECT_LOOKUP(ix, F("b", "\"match\":{\"value\":true}"), "0,2");
    EXPECT_LOOKUP(ix, F("b", "\"match\":{\"value\":false}"), "1,2");
    EXPECT_LOOKUP(ix, F("b", "\"match\":{\"any\":[true,false]}"), "0,1,2");
    EXPECT_LOOKUP(ix, F("b", "\"match\":{\"except\":[true]}"), "1,2");
    EXPECT_LOOKUP(ix, F("b", "\"match\":{\"except\":[true,false]}"), "");
    EXPECT_LOOKUP(ix, F("b", "\"match\":{\"value\":\"true\"}"), "");
    EXPECT_LOOKUP(ix, F("b", "\"range\":{\"gt\":0}"), "");
    EXPECT_LOOKUP(ix, "{\"must\":[{\"is_null\":{\"key\":\"b\"}}]}", "3");
    pidx_remove(ix, 2, d.b[2].data);
    EXPECT_LOOKUP(ix, F("b", "\"match\":{\"value\":true}"), "0");
    docs_free(&d);
    pidx_free(ix);
}

static void test_dotted_key(void **state) {
    (void)state;
    static const char *p[] = {
        "{\"a\":[{\"b\":1},{\"b\":[2,null]}]}", "{\"a\":{\"b\":null}}", "{\"a\":[[{\"b\":3}]]}",
    };
    payload_index *ix = pidx_new("a.b", HK_FIELD_INTEGER);
    docs d = add_all(ix, p, 3);
    EXPECT_LOOKUP(ix, F("a.b", "\"range\":{\"gte\":1}"), "0,2");
    EXPECT_LOOKUP(ix, "{\"must\":[{\"is_null\":{\"key\":\"a.b\"}}]}", "1");
    docs_free(&d);
    pidx_free(ix);
}

/* ---- churn, laziness, memory ---- */

static uint64_t rs = 88172645463325252ULL;
static uint64_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static void enc_int(hk_buf *b, int64_t v) {
    char json[64];
    snprintf(json, sizeof json, "{\"v\":%lld}", (long long)v);
    hk_buf_reset(b);
    assert_int_equal(hkb_from_json(b, json, strlen(json)), HK_OK);
}

static void test_churn(void **state) {
    (void)state;
    enum { N = 20000 };
    payload_index *ix = pidx_new("v", HK_FIELD_INTEGER);
    size_t empty_mem = pidx_memory(ix);
    hk_buf b;
    hk_buf_init(&b);
    uint8_t *alive = calloc(N, 1);
    for (uint32_t s = 0; s < N; s++) { /* value s * 7 at slot s */
        enc_int(&b, (int64_t)s * 7);
        assert_int_equal(pidx_add(ix, s, b.data), HK_OK);
        alive[s] = 1;
    }
    size_t full_mem = pidx_memory(ix);
    assert_true(full_mem > empty_mem + N * 8);
    for (uint32_t s = 0; s < N; s++) {
        if (rnd() % 2) continue;
        enc_int(&b, (int64_t)s * 7);
        pidx_remove(ix, s, b.data);
        alive[s] = 0;
    }
    /* every value is found exactly when its slot is still there */
    hk_filter *f = NULL;
    char json[128];
    for (uint32_t s = 0; s < N; s++) {
        snprintf(json, sizeof json, F("v", "\"match\":{\"value\":%lld}"), (long long)s * 7);
        roaring_bitmap_t *r = pidx_lookup(ix, cond(&f, json));
        assert_non_null(r);
        assert_int_equal(roaring_bitmap_get_cardinality(r), alive[s]);
        if (alive[s]) assert_true(roaring_bitmap_contains(r, s));
        roaring_bitmap_free(r);
        hk_filter_free(f);
    }
    /* a range over everything returns exactly the live slots */
    roaring_bitmap_t *r = pidx_lookup(ix, cond(&f, F("v", "\"range\":{\"gte\":0}")));
    hk_filter_free(f);
    size_t live = 0;
    for (uint32_t s = 0; s < N; s++) {
        live += alive[s];
        assert_int_equal(roaring_bitmap_contains(r, s), alive[s]);
    }
    assert_int_equal(roaring_bitmap_get_cardinality(r), live);
    roaring_bitmap_free(r);
    /* removing everything frees what the values held */
    for (uint32_t s = 0; s < N; s++) {
        if (!alive[s]) continue;
        enc_int(&b, (int64_t)s * 7);
        pidx_remove(ix, s, b.data);
    }
    EXPECT_LOOKUP(ix, F("v", "\"range\":{}"), "");
    assert_true(pidx_memory(ix) < full_mem / 2);
    free(alive);
    hk_buf_free(&b);
    pidx_free(ix);
}

static void test_lazy_sorted(void **state) {
    (void)state;
    payload_index *ix = pidx_new("v", HK_FIELD_FLOAT);
    hk_buf b;
    hk_buf_init(&b);
    enc_int(&b, 5);
    assert_int_equal(pidx_add(ix, 0, b.data), HK_OK);
    EXPECT_LOOKUP(ix, F("v", "\"range\":{\"gt\":1}"), "0");
    enc_int(&b, 3);
    assert_int_equal(pidx_add(ix, 1, b.data), HK_OK);
    EXPECT_LOOKUP(ix, F("v", "\"range\":{\"gt\":1}"), "0,1"); /* rebuilt after the change */
    EXPECT_LOOKUP(ix, F("v", "\"range\":{\"lt\":4}"), "1");
    enc_int(&b, 5);
    pidx_remove(ix, 0, b.data);
    EXPECT_LOOKUP(ix, F("v", "\"range\":{\"gt\":1}"), "1");
    hk_buf_free(&b);
    pidx_free(ix);
}

typedef struct reader {
    payload_index *ix;
    const filter_cond *c;
    uint64_t want;
    int bad;
} reader;

static void *read_ranges(void *arg) {
    reader *r = arg;
    for (int i = 0; i < 200; i++) {
        roaring_bitmap_t *bm = pidx_lookup(r->ix, r->c);
        if (!bm || roaring_bitmap_get_cardinality(bm) != r->want) r->bad++;
        if (bm) roaring_bitmap_free(bm);
        if (i % 20 == 0) (void)pidx_memory(r->ix); /* reads the arrays under the mutex too */
    }
    return NULL;
}

static void test_concurrent_readers(void **state) {
    (void)state;
    payload_index *ix = pidx_new("v", HK_FIELD_INTEGER);
    hk_buf b;
    hk_buf_init(&b);
    hk_filter *f;
    const filter_cond *c = cond(&f, F("v", "\"range\":{\"gte\":100,\"lt\":300}"));
    for (int round = 0; round < 20; round++) {
        /* a write (under the collection's write lock) leaves the arrays to rebuild ... */
        for (uint32_t s = 0; s < 500; s++) {
            uint32_t slot = (uint32_t)round * 500 + s;
            enc_int(&b, (int64_t)(slot % 1000));
            assert_int_equal(pidx_add(ix, slot, b.data), HK_OK);
        }
        /* ... and then several readers race to the first range lookup */
        reader r[4];
        pthread_t t[4];
        uint64_t want = (uint64_t)(round + 2) / 2 * 200; /* values 100..299 sit in even halves */
        for (int i = 0; i < 4; i++) {
            r[i] = (reader){ix, c, want, 0};
            assert_int_equal(pthread_create(&t[i], NULL, read_ranges, &r[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(r[i].bad, 0);
        }
    }
    hk_filter_free(f);
    hk_buf_free(&b);
    pidx_free(ix);
}

/* ---- allocation failure ---- */

static int fail_after = -1; /* allocations left before failing; -1 never fails */

static void *counting_malloc(void *ud, size_t n) {
    (void)ud;
    if (fail_after == 0) return NULL;
    if (fail_after > 0) fail_after--;
    return malloc(n);
}

static void *counting_realloc(void *ud, void *p, size_t n) {
    (void)ud;
    if (fail_after == 0) return NULL;
    if (fail_after > 0) fail_after--;
    return realloc(p, n);
}

static void plain_free(void *ud, void *p) {
    (void)ud;
    free(p);
}

static void test_add_failure_changes_nothing(void **state) {
    (void)state;
    hk_allocator a = {counting_malloc, counting_realloc, plain_free, NULL};
    assert_int_equal(hk_set_allocator(&a), HK_OK);
    payload_index *ix = pidx_new("k", HK_FIELD_KEYWORD);
    static const char *before[] = {"{\"k\":\"a\"}", "{\"k\":[\"b\",5]}"};
    docs d = add_all(ix, before, 2);
    hk_buf big;
    hk_buf_init(&big);
    hk_buf_puts(&big, "{\"k\":[");
    for (int i = 0; i < 200; i++) hk_buf_printf(&big, "%s\"w%d\"", i ? "," : "", i);
    hk_buf_puts(&big, ",null,true]}");
    hk_buf enc;
    hk_buf_init(&enc);
    assert_int_equal(hkb_from_json(&enc, (char *)big.data, big.len), HK_OK);
    size_t mem = pidx_memory(ix);
    int failures = 0;
    for (int budget = 0; budget < 400; budget += 7) {
        fail_after = budget;
        hk_status st = pidx_add(ix, 9, enc.data);
        fail_after = -1;
        if (st == HK_OK) {
            pidx_remove(ix, 9, enc.data);
            continue;
        }
        failures++;
        assert_int_equal(st, HK_NOMEM);
        /* nothing of slot 9 is left behind */
        EXPECT_LOOKUP(ix, F("k", "\"match\":{\"value\":\"w0\"}"), "");
        EXPECT_LOOKUP(ix, F("k", "\"match\":{\"except\":[\"a\",\"b\"]}"), "1");
        EXPECT_LOOKUP(ix, "{\"must\":[{\"is_null\":{\"key\":\"k\"}}]}", "");
        EXPECT_LOOKUP(ix, F("k", "\"match\":{\"value\":true}"), "");
        EXPECT_LOOKUP(ix, F("k", "\"match\":{\"value\":\"a\"}"), "0");
    }
    assert_true(failures > 3);
    assert_true(pidx_memory(ix) >= mem);
    fail_after = -1;
    assert_int_equal(pidx_add(ix, 9, enc.data), HK_OK);
    EXPECT_LOOKUP(ix, F("k", "\"match\":{\"value\":\"w199\"}"), "9");
    hk_buf_free(&enc);
    hk_buf_free(&big);
    docs_free(&d);
    pidx_free(ix);
    assert_int_equal(hk_set_allocator(NULL), HK_OK);
}

static void test_life_cycle(void **state) {
    (void)state;
    assert_null(pidx_new("k", (hk_field_type)9));
    pidx_free(NULL);
    payload_index *ix = pidx_new("k", HK_FIELD_BOOL);
    assert_int_equal(pidx_add(ix, 1, NULL), HK_OK); /* no payload: nothing to index */
    pidx_remove(ix, 1, NULL);
    assert_int_equal(pidx_add(ix, 1, hkb_empty_object), HK_OK);
    EXPECT_LOOKUP(ix, F("k", "\"match\":{\"except\":[]}"), "");
    assert_true(pidx_memory(ix) > 0);
    pidx_free(ix);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyword),
        cmocka_unit_test(test_keyword_with_foreign_values),
        cmocka_unit_test(test_integer),
        cmocka_unit_test(test_float),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_dotted_key),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_lazy_sorted),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_add_failure_changes_nothing),
        cmocka_unit_test(test_life_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
