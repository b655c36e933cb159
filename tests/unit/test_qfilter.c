/*
 * test_qfilter.c — the Qdrant → HEKTOR filter translator (src/server/qfilter.c): the
 * normalized text for every condition kind, null members and single-condition clauses,
 * the refusals (each naming the construct), and that every translation parses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "server/qfilter.h"

static void expect_text(const char *qdrant, const char *want) {
    hk_arena a;
    hk_arena_init(&a);
    hj_value *v;
    if (hj_parse(qdrant, strlen(qdrant), &a, &v)) fail_msg("bad test JSON %s", qdrant);
    hk_buf b;
    hk_buf_init(&b);
    if (qf_translate(v, &b)) fail_msg("%s: %s", qdrant, hk_errmsg());
    const char *got = hk_buf_cstr(&b);
    if (strcmp(got, want)) fail_msg("%s\n  gave %s\n  want %s", qdrant, got, want);
    hk_filter *f;
    if (qf_parse(v, &f)) fail_msg("%s: translation does not parse: %s", qdrant, hk_errmsg());
    hk_filter_free(f);
    hk_buf_free(&b);
    hk_arena_reset(&a);
}

static void expect_refused(const char *qdrant, const char *want) {
    hk_arena a;
    hk_arena_init(&a);
    hj_value *v;
    if (hj_parse(qdrant, strlen(qdrant), &a, &v)) fail_msg("bad test JSON %s", qdrant);
    hk_filter *f = (hk_filter *)1;
    hk_status st = qf_parse(v, &f);
    if (st != HK_INVALID) fail_msg("%s: status %d, expected HK_INVALID", qdrant, st);
    assert_null(f);
    if (!strstr(hk_errmsg(), want)) fail_msg("%s: message '%s' lacks '%s'", qdrant, hk_errmsg(), want);
    hk_arena_reset(&a);
}

static void test_translations(void **state) {
    (void)state;
    expect_text("{}", "{}");
    expect_text("{\"must\":[{\"key\":\"color\",\"match\":{\"value\":\"red\"}}]}",
                "{\"must\":[{\"key\":\"color\",\"match\":{\"value\":\"red\"}}]}");
    /* A single condition instead of a list, null members, null range bounds. */
    expect_text("{\"must\":{\"key\":\"a.b\",\"range\":{\"gt\":null,\"gte\":1.5,\"lt\":10},\"match\":null},"
                "\"should\":null,\"min_should\":null}",
                "{\"must\":[{\"key\":\"a.b\",\"range\":{\"gte\":1.5,\"lt\":10}}]}");
    expect_text("{\"should\":[{\"key\":\"n\",\"match\":{\"any\":[1,2]}},{\"key\":\"s\",\"match\":"
                "{\"except\":[\"x\"]}}],\"must_not\":[{\"is_empty\":{\"key\":\"t\"}},{\"is_null\":"
                "{\"key\":\"u\"}},{\"has_id\":[3,1]}]}",
                "{\"should\":[{\"key\":\"n\",\"match\":{\"any\":[1,2]}},{\"key\":\"s\",\"match\":"
                "{\"except\":[\"x\"]}}],\"must_not\":[{\"is_empty\":{\"key\":\"t\"}},{\"is_null\":"
                "{\"key\":\"u\"}},{\"has_id\":[3,1]}]}");
    /* Nested filters, and a bool match. */
    expect_text("{\"must\":[{\"should\":[{\"key\":\"b\",\"match\":{\"value\":true}}]}]}",
                "{\"must\":[{\"should\":[{\"key\":\"b\",\"match\":{\"value\":true}}]}]}");
}

static void test_refusals(void **state) {
    (void)state;
    expect_refused("{\"must\":[{\"key\":\"t\",\"match\":{\"text\":\"hello\"}}]}", "match.text");
    expect_refused("{\"must\":[{\"key\":\"d\",\"range\":{\"gt\":\"2024-01-01T00:00:00Z\"}}]}",
                   "datetime");
    expect_refused("{\"must\":[{\"key\":\"g\",\"geo_radius\":{\"center\":{\"lon\":0,\"lat\":0},"
                   "\"radius\":1}}]}", "geo_radius");
    expect_refused("{\"must\":[{\"key\":\"v\",\"values_count\":{\"gt\":1}}]}", "values_count");
    expect_refused("{\"must\":[{\"nested\":{\"key\":\"a\",\"filter\":{}}}]}", "nested");
    expect_refused("{\"must\":[{\"has_vector\":\"\"}]}", "has_vector");
    expect_refused("{\"must\":[{\"has_id\":[\"5c56c793-69f3-4fbf-87e6-c4bf54c28c26\"]}]}", "UUID");
    expect_refused("{\"must\":[{\"has_id\":[-1]}]}", "unsigned");
    expect_refused("{\"min_should\":{\"conditions\":[],\"min_count\":1}}", "min_should");
    expect_refused("{\"mustnt\":[]}", "unknown field 'mustnt'");
    expect_refused("{\"must\":[{\"key\":\"a\"}]}", "needs 'match' or 'range'");
    expect_refused("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1,\"any\":[1]}}]}", "exactly one");
    expect_refused("{\"must\":[{\"key\":7,\"match\":{\"value\":1}}]}", "'key' must be a string");
    expect_refused("{\"must\":[{\"match\":{\"value\":1}}]}", "needs a 'key'");
    expect_refused("{\"must\":5}", "'must' needs a condition or a list");
    expect_refused("[1]", "a filter must be an object");
    /* What the library refuses after translation comes back too. */
    expect_refused("{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1.5}}]}", "fractional");
}

static void test_null_filter(void **state) {
    (void)state;
    hk_filter *f = (hk_filter *)1;
    assert_int_equal(qf_parse(NULL, &f), HK_OK);
    assert_null(f);
    hj_value null_v = {.type = HJ_NULL};
    assert_int_equal(qf_parse(&null_v, &f), HK_OK);
    assert_null(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translations),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_null_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
