/*
 * test_hkb.c — the binary payload encoding (src/core/hkb.c): JSON round trips, validation of
 * truncated and bit-flipped blobs, accessors, dotted-path visits through arrays, merge and
 * delete_path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Encodes JSON text (must be an object) into a fresh buffer. */
static hk_buf enc(const char *json) {
    hk_buf b;
    hk_buf_init(&b);
    if (hkb_from_json(&b, json, strlen(json)) != HK_OK)
        fail_msg("hkb_from_json(%s): %s", json, hk_errmsg());
    assert_true(hkb_valid(b.data, b.len));
    assert_int_equal(hkb_size(b.data), b.len);
    return b;
}

static char *to_json(const uint8_t *p, size_t len) {
    static char out[8192];
    hk_buf b;
    hk_buf_init(&b);
    if (hkb_to_json(&b, p, len) != HK_OK) fail_msg("hkb_to_json: %s", hk_errmsg());
    assert_true(b.len < sizeof out);
    memcpy(out, b.data, b.len);
    out[b.len] = 0;
    hk_buf_free(&b);
    return out;
}

static void expect_round_trip(const char *json, const char *want) {
    hk_buf b = enc(json);
    const char *got = to_json(b.data, b.len);
    if (strcmp(got, want) != 0) fail_msg("%s came back as %s, expected %s", json, got, want);
    /* and the JSON we print encodes to the same bytes */
    hk_buf again = enc(got);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    hk_buf_free(&again);
    hk_buf_free(&b);
}

static void test_round_trips(void **state) {
    (void)state;
    expect_round_trip("{}", "{}");
    expect_round_trip("{\"a\":1}", "{\"a\":1}");
    expect_round_trip("{ \"n\" : null, \"t\": true, \"f\": false, \"i\": -9223372036854775808,"
                      " \"d\": 2.5, \"e\": 1.0, \"z\": -0.0, \"s\": \"caf\\u00e9\\n\","
                      " \"a\": [1, [2, []], {\"x\": {}}], \"o\": {\"p\": {\"q\": \"\"}}}",
                      "{\"n\":null,\"t\":true,\"f\":false,\"i\":-9223372036854775808,\"d\":2.5,"
                      "\"e\":1.0,\"z\":-0.0,\"s\":\"caf\xc3\xa9\\n\",\"a\":[1,[2,[]],{\"x\":{}}],"
                      "\"o\":{\"p\":{\"q\":\"\"}}}");
    expect_round_trip("{\"a\":1,\"a\":2}", "{\"a\":2}");
    expect_round_trip("{\"k\\u0000\":\"v\\u0000\"}", "{\"k\\u0000\":\"v\\u0000\"}");
}

static void test_layout(void **state) {
    (void)state;
    hk_buf b = enc("{\"ab\":[7,\"xy\",true]}");
    static const uint8_t want[] = {
        HKB_OBJECT, 1, 0, 0, 0, 32, 0, 0, 0,          /* 1 member, 32 body bytes */
        2, 0, 0, 0, 'a', 'b',                         /* key */
        HKB_ARRAY, 3, 0, 0, 0, 17, 0, 0, 0,           /* 3 items, 17 body bytes */
        HKB_INT, 7, 0, 0, 0, 0, 0, 0, 0,              /* 7 */
        HKB_STRING, 2, 0, 0, 0, 'x', 'y', HKB_TRUE};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    hk_buf_free(&b);
    assert_true(hkb_valid(hkb_empty_object, sizeof hkb_empty_object));
    assert_string_equal(to_json(hkb_empty_object, sizeof hkb_empty_object), "{}");
    assert_int_equal(hkb_count(hkb_empty_object), 0);
}

static void test_from_json_rejects(void **state) {
    (void)state;
    hk_buf b;
    hk_buf_init(&b);
    hk_buf_puts(&b, "keep");
    assert_int_equal(hkb_from_json(&b, "[1]", 3), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "payload must be a JSON object, not array"));
    assert_int_equal(hkb_from_json(&b, "\"s\"", 3), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "not string"));
    assert_int_equal(hkb_from_json(&b, "{\"a\":", 5), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "expected a value at offset 5"));
    assert_int_equal(b.len, 4); /* failures leave the buffer as it was */
    hk_buf_free(&b);
}

static void test_encode_enforces_invariants(void **state) {
    (void)state;
    hk_buf b;
    hk_buf_init(&b);
    hj_value nan = {.type = HJ_DOUBLE, .u.d = NAN};
    hj_member m = {"x", 1, nan};
    hj_value obj = {.type = HJ_OBJECT, .n = 1, .u.members = &m};
    assert_int_equal(hkb_encode(&b, &obj), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "finite"));
    assert_int_equal(b.len, 0);
    m.value = (hj_value){.type = HJ_STRING, .n = 1, .u.s = "\xff"};
    assert_int_equal(hkb_encode(&b, &obj), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "UTF-8"));
    m = (hj_member){"\xc0", 1, {.type = HJ_NULL}};
    assert_int_equal(hkb_encode(&b, &obj), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "key is not valid UTF-8"));
    /* nesting: 64 containers encode, 65 do not */
    hj_value chain[HJ_MAX_DEPTH + 1];
    for (int i = 0; i <= HJ_MAX_DEPTH; i++)
        chain[i] = (hj_value){.type = HJ_ARRAY, .n = i < HJ_MAX_DEPTH, .u.items = &chain[i + 1]};
    assert_int_equal(hkb_encode(&b, &chain[1]), HK_OK);
    assert_true(hkb_valid(b.data, b.len));
    hk_buf_reset(&b);
    assert_int_equal(hkb_encode(&b, &chain[0]), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "deeper than 64"));
    assert_int_equal(b.len, 0);
    hk_buf_free(&b);
}

static void test_valid_specific(void **state) {
    (void)state;
    uint8_t v[32];
    assert_false(hkb_valid(NULL, 0));
    assert_false(hkb_valid(v, 0));
    v[0] = 8; /* unknown tag */
    assert_false(hkb_valid(v, 1));
    v[0] = HKB_NULL;
    assert_true(hkb_valid(v, 1));
    assert_false(hkb_valid(v, 2)); /* trailing byte */
    v[0] = HKB_DOUBLE;
    double d = NAN;
    memcpy(v + 1, &d, 8);
    assert_false(hkb_valid(v, 9));
    d = INFINITY;
    memcpy(v + 1, &d, 8);
    assert_false(hkb_valid(v, 9));
    d = 1.5;
    memcpy(v + 1, &d, 8);
    assert_true(hkb_valid(v, 9));
    assert_false(hkb_valid(v, 8));
    v[0] = HKB_STRING;
    hk_store_u32(v + 1, 2);
    v[5] = 0xc3, v[6] = 0x28; /* invalid UTF-8 */
    assert_false(hkb_valid(v, 7));
    v[6] = 0xa9;
    assert_true(hkb_valid(v, 7));
    hk_store_u32(v + 1, 0xFFFFFFFFu); /* length past the end */
    assert_false(hkb_valid(v, 7));
    /* array whose count disagrees with its body */
    uint8_t a[] = {HKB_ARRAY, 2, 0, 0, 0, 2, 0, 0, 0, HKB_TRUE, HKB_FALSE};
    assert_true(hkb_valid(a, sizeof a));
    a[1] = 1; /* one item but two body bytes */
    assert_false(hkb_valid(a, sizeof a));
    a[1] = 3; /* three items in two bytes */
    assert_false(hkb_valid(a, sizeof a));
    a[1] = 0xFF, a[2] = 0xFF, a[3] = 0xFF, a[4] = 0xFF; /* huge count ends quickly */
    assert_false(hkb_valid(a, sizeof a));
    /* object key running past the body */
    uint8_t o[] = {HKB_OBJECT, 1, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 'k', HKB_NULL};
    assert_true(hkb_valid(o, sizeof o));
    o[9] = 2;
    assert_false(hkb_valid(o, sizeof o));
    o[9] = 1, o[13] = 0xff; /* key not UTF-8 */
    assert_false(hkb_valid(o, sizeof o));
    /* depth: 64 nested arrays are valid, 65 are not */
    uint8_t deep[9 * 65];
    for (int levels = 64; levels <= 65; levels++) {
        for (int i = 0; i < levels; i++) {
            uint8_t *h = deep + 9 * i;
            h[0] = HKB_ARRAY;
            hk_store_u32(h + 1, i + 1 < levels);
            hk_store_u32(h + 5, (uint32_t)(9 * (levels - i - 1)));
        }
        assert_int_equal(hkb_valid(deep, (size_t)(9 * levels)), levels == 64);
    }
    uint8_t tj[] = {HKB_TRUE};
    hk_buf b;
    hk_buf_init(&b);
    assert_int_equal(hkb_to_json(&b, tj, 1), HK_OK);
    assert_int_equal(hkb_to_json(&b, a, sizeof a), HK_CORRUPT);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "true", 4);
    hk_buf_free(&b);
}

static const char *sample =
    "{\"name\":\"x\",\"tags\":[\"a\",\"b\"],\"n\":[1,2.5,null],\"o\":{\"p\":{\"q\":[{\"r\":1},"
    "{\"r\":[2,3]},{\"s\":4},5,[{\"r\":6}]]}},\"e\":[],\"z\":{},\"u\":\"\\u00e9\\u0000\"}";

static void test_truncated_and_flipped(void **state) {
    (void)state;
    hk_buf b = enc(sample);
    for (size_t n = 0; n < b.len; n++)
        if (hkb_valid(b.data, n)) fail_msg("prefix of %zu of %zu bytes is valid", n, b.len);
    uint8_t *copy = malloc(b.len);
    size_t still_valid = 0;
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, b.data, b.len);
            copy[i] ^= (uint8_t)(1u << bit);
            if (!hkb_valid(copy, b.len)) continue;
            /* whatever still validates is a well-formed value: it prints and reparses */
            still_valid++;
            hk_buf j, back;
            hk_buf_init(&j);
            hk_buf_init(&back);
            assert_int_equal(hkb_to_json(&j, copy, b.len), HK_OK);
            if (copy[0] == HKB_OBJECT)
                assert_int_equal(hkb_from_json(&back, (char *)j.data, j.len), HK_OK);
            hk_buf_free(&j);
            hk_buf_free(&back);
        }
    }
    /* flips inside string bytes and numbers stay valid; structural flips do not */
    assert_true(still_valid > 0);
    assert_true(still_valid < b.len * 8 / 2);
    free(copy);
    hk_buf_free(&b);
}

static void test_accessors(void **state) {
    (void)state;
    hk_buf b = enc("{\"i\":-5,\"d\":0.5,\"s\":\"hey\",\"a\":[1,\"x\",{}],\"o\":{\"k\":true}}");
    const uint8_t *p = b.data;
    assert_int_equal(hkb_type(p), HKB_OBJECT);
    assert_int_equal(hkb_count(p), 5);
    const uint8_t *i = hkb_object_get(p, "i", 1);
    assert_int_equal(hkb_type(i), HKB_INT);
    assert_true(hkb_int(i) == -5);
    assert_true(hkb_double(hkb_object_get(p, "d", 1)) == 0.5);
    uint32_t len;
    const char *s = hkb_str(hkb_object_get(p, "s", 1), &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "hey", 3);
    const uint8_t *a = hkb_object_get(p, "a", 1);
    assert_int_equal(hkb_count(a), 3);
    const uint8_t *e = hkb_first(a);
    assert_int_equal(hkb_type(e), HKB_INT);
    e = hkb_next(e);
    assert_int_equal(hkb_type(e), HKB_STRING);
    e = hkb_next(e);
    assert_int_equal(hkb_type(e), HKB_OBJECT);
    assert_ptr_equal(hkb_next(e), a + hkb_size(a));
    /* walking members: key, value, next */
    const char *names[] = {"i", "d", "s", "a", "o"};
    const uint8_t *m = hkb_first(p);
    for (int k = 0; k < 5; k++) {
        const char *key = hkb_member_key(m, &len);
        assert_int_equal(len, 1);
        assert_memory_equal(key, names[k], 1);
        m = hkb_next(hkb_member_value(m));
    }
    assert_ptr_equal(m, p + b.len);
    assert_null(hkb_object_get(p, "x", 1));
    assert_null(hkb_object_get(p, "io", 2));
    assert_null(hkb_object_get(a, "i", 1)); /* not an object */
    assert_int_equal(hkb_type(hkb_object_get(hkb_object_get(p, "o", 1), "k", 1)), HKB_TRUE);
    hk_buf_free(&b);
}

typedef struct visits {
    int n, stop_at;
    char seen[512];
} visits;

static int record(void *ctx, const uint8_t *v) {
    visits *vs = ctx;
    hk_buf j;
    hk_buf_init(&j);
    assert_int_equal(hkb_to_json(&j, v, hkb_size(v)), HK_OK);
    size_t at = strlen(vs->seen);
    snprintf(vs->seen + at, sizeof vs->seen - at, "%s%.*s", vs->n ? " " : "", (int)j.len,
             (char *)j.data);
    hk_buf_free(&j);
    vs->n++;
    return vs->n == vs->stop_at ? 42 : 0;
}

static void expect_visits(const uint8_t *obj, const char *path, const char *want, int nwant) {
    visits vs = {0};
    assert_int_equal(hkb_path_visit(obj, path, strlen(path), record, &vs), 0);
    if (strcmp(vs.seen, want) != 0) fail_msg("path %s visited '%s', expected '%s'", path, vs.seen, want);
    assert_int_equal(vs.n, nwant);
}

static void test_path_visit(void **state) {
    (void)state;
    hk_buf b = enc(sample);
    expect_visits(b.data, "name", "\"x\"", 1);
    expect_visits(b.data, "tags", "[\"a\",\"b\"]", 1); /* the final array is visited whole */
    expect_visits(b.data, "o.p.q.r", "1 [2,3] 6", 3);  /* arrays on the way are entered */
    expect_visits(b.data, "o.p.q.s", "4", 1);
    expect_visits(b.data, "o.p", "{\"q\":[{\"r\":1},{\"r\":[2,3]},{\"s\":4},5,[{\"r\":6}]]}", 1);
    expect_visits(b.data, "missing", "", 0);
    expect_visits(b.data, "name.x", "", 0);
    expect_visits(b.data, "tags.x", "", 0);
    expect_visits(b.data, "o.p.q.r.x", "", 0);
    expect_visits(b.data, "o.", "", 0);
    expect_visits(b.data, "e", "[]", 1);
    /* the visitor stops on a nonzero return and that value comes back */
    visits vs = {.stop_at = 2};
    assert_int_equal(hkb_path_visit(b.data, "o.p.q.r", 7, record, &vs), 42);
    assert_int_equal(vs.n, 2);
    /* path_len bounds the path: "namex" cut to 4 is "name" */
    vs = (visits){0};
    assert_int_equal(hkb_path_visit(b.data, "namex", 4, record, &vs), 0);
    assert_int_equal(vs.n, 1);
    /* keys that contain dots cannot be reached, an empty key can */
    hk_buf_free(&b);
    b = enc("{\"a.b\":1,\"\":{\"\":2}}");
    expect_visits(b.data, "a.b", "", 0);
    expect_visits(b.data, ".", "2", 1);
    uint8_t arr[] = {HKB_ARRAY, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_visits(arr, "a", "", 0);
    hk_buf_free(&b);
}

static void expect_merge(const char *base, const char *patch, const char *want) {
    hk_buf a = enc(base), p = enc(patch), out;
    hk_buf_init(&out);
    assert_int_equal(hkb_merge(&out, a.data, p.data), HK_OK);
    assert_true(hkb_valid(out.data, out.len));
    const char *got = to_json(out.data, out.len);
    if (strcmp(got, want) != 0) fail_msg("merge gave %s, expected %s", got, want);
    hk_buf_free(&a);
    hk_buf_free(&p);
    hk_buf_free(&out);
}

static void test_merge(void **state) {
    (void)state;
    expect_merge("{\"a\":1,\"b\":2}", "{\"b\":3,\"c\":4}", "{\"a\":1,\"b\":3,\"c\":4}");
    expect_merge("{}", "{\"x\":[1]}", "{\"x\":[1]}");
    expect_merge("{\"x\":[1]}", "{}", "{\"x\":[1]}");
    expect_merge("{\"o\":{\"a\":1}}", "{\"o\":{\"b\":2}}", "{\"o\":{\"b\":2}}"); /* top level only */
    expect_merge("{\"a\":1}", "{\"a\":null}", "{\"a\":null}");
    hk_buf out;
    hk_buf_init(&out);
    uint8_t arr[] = {HKB_ARRAY, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(hkb_merge(&out, arr, hkb_empty_object), HK_INVALID);
    assert_int_equal(hkb_merge(&out, hkb_empty_object, arr), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "two objects"));
    assert_int_equal(out.len, 0);
    hk_buf_free(&out);
}

static void expect_delete(const char *base, const char *path, const char *want, int changed) {
    hk_buf a = enc(base), out;
    hk_buf_init(&out);
    int ch = -1;
    assert_int_equal(hkb_delete_path(&out, a.data, path, strlen(path), &ch), HK_OK);
    assert_true(hkb_valid(out.data, out.len));
    const char *got = to_json(out.data, out.len);
    if (strcmp(got, want) != 0) fail_msg("deleting %s gave %s, expected %s", path, got, want);
    assert_int_equal(ch, changed);
    if (!changed) {
        assert_int_equal(out.len, a.len);
        assert_memory_equal(out.data, a.data, a.len);
    }
    hk_buf_free(&a);
    hk_buf_free(&out);
}

static void test_delete_path(void **state) {
    (void)state;
    expect_delete("{\"a\":1,\"b\":2}", "a", "{\"b\":2}", 1);
    expect_delete("{\"a\":1,\"b\":2}", "c", "{\"a\":1,\"b\":2}", 0);
    expect_delete("{\"a\":{\"b\":1,\"c\":2}}", "a.b", "{\"a\":{\"c\":2}}", 1);
    expect_delete("{\"a\":{\"b\":1}}", "a.x", "{\"a\":{\"b\":1}}", 0);
    expect_delete("{\"a\":{\"b\":1}}", "a.b.c", "{\"a\":{\"b\":1}}", 0);
    expect_delete("{\"a\":[{\"b\":1,\"c\":2},{\"b\":3},5,[{\"b\":4}]]}", "a.b",
                  "{\"a\":[{\"c\":2},{},5,[{}]]}", 1);
    expect_delete("{\"a\":[1,2]}", "a", "{}", 1);
    expect_delete("{\"a\":[1,2]}", "a.0", "{\"a\":[1,2]}", 0);
    hk_buf out;
    hk_buf_init(&out);
    assert_int_equal(hkb_delete_path(&out, hkb_empty_object, "a", 1, NULL), HK_OK);
    assert_int_equal(out.len, sizeof hkb_empty_object);
    uint8_t str[] = {HKB_STRING, 0, 0, 0, 0};
    hk_buf_reset(&out);
    int ch = 7;
    assert_int_equal(hkb_delete_path(&out, str, "a", 1, &ch), HK_INVALID);
    assert_int_equal(out.len, 0);
    hk_buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_from_json_rejects),
        cmocka_unit_test(test_encode_enforces_invariants),
        cmocka_unit_test(test_valid_specific),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_path_visit),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_delete_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
