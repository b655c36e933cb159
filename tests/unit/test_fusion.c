/* Unit tests for src/db/fusion.c: every fusion method on a small hand-computed case, the
 * degenerate lists (empty, one item, equal scores), names, and bad input. The expected
 * numbers are worked out by hand in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "core.h"
#include "db/fusion.h"

/* List A (vector, higher is better): 1: 0.9, 2: 0.5, 3: 0.1.
 * List B (text):                     2: 10,  4: 6,   1: 2. */
static const fusion_item A[] = {{1, 0.9}, {2, 0.5}, {3, 0.1}};
static const fusion_item B[] = {{2, 10}, {4, 6}, {1, 2}};

static void expect(hk_fusion m, double param, const uint64_t *ids, const double *scores, size_t n) {
    fusion_list l[2] = {{A, 3}, {B, 3}};
    fusion_item *f;
    size_t nf;
    assert_int_equal(fusion_run(m, param, l, 2, &f, &nf), HK_OK);
    assert_int_equal(nf, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f[i].id, ids[i]);
        assert_float_equal(f[i].score, scores[i], 1e-12);
    }
    hk_free(f);
}

static void test_rrf(void **state) {
    (void)state;
    /* k = 60: 1: 1/61 + 1/63, 2: 1/62 + 1/61, 3: 1/63, 4: 1/62. */
    uint64_t ids[] = {2, 1, 4, 3};
    double s[] = {1.0 / 62 + 1.0 / 61, 1.0 / 61 + 1.0 / 63, 1.0 / 62, 1.0 / 63};
    expect(HK_FUSION_RRF, 60, ids, s, 4);
}

static void test_convex(void **state) {
    (void)state;
    /* min-max: A: 1 -> 1, 2 -> 0.5, 3 -> 0; B: 2 -> 1, 4 -> 0.5, 1 -> 0.
     * w = 0.7: 1: 0.7, 2: 0.35 + 0.3 = 0.65, 3: 0, 4: 0.15. */
    uint64_t ids[] = {1, 2, 4, 3};
    double s[] = {0.7, 0.65, 0.15, 0};
    expect(HK_FUSION_CONVEX, 0.7, ids, s, 4);
    /* w = 0: text only; 1 and 3 tie at 0, the lower id first. */
    uint64_t ids0[] = {2, 4, 1, 3};
    double s0[] = {1, 0.5, 0, 0};
    expect(HK_FUSION_CONVEX, 0, ids0, s0, 4);
}

static void test_combsum_combmnz(void **state) {
    (void)state;
    /* combsum: 1: 1 + 0 = 1, 2: 0.5 + 1 = 1.5, 3: 0, 4: 0.5. */
    uint64_t ids[] = {2, 1, 4, 3};
    double s[] = {1.5, 1, 0.5, 0};
    expect(HK_FUSION_COMBSUM, 0, ids, s, 4);
    /* combmnz: 1: 1 * 2 = 2, 2: 1.5 * 2 = 3, 3: 0, 4: 0.5 * 1. */
    uint64_t idm[] = {2, 1, 4, 3};
    double sm[] = {3, 2, 0.5, 0};
    expect(HK_FUSION_COMBMNZ, 0, idm, sm, 4);
}

static void test_dbsf(void **state) {
    (void)state;
    /* A: mean 0.5, population std sqrt((0.16 + 0 + 0.16) / 3) = sqrt(0.32 / 3);
     *    (s - mean + 3 std) / (6 std): 1 -> 0.5 + 0.4 / (6 std), 2 -> 0.5, 3 -> 0.5 - 0.4 / (6 std).
     * B: mean 6, std sqrt((16 + 0 + 16) / 3) = sqrt(32 / 3): 2 -> 0.5 + 4 / (6 std_b),
     *    4 -> 0.5, 1 -> 0.5 - 4 / (6 std_b).
     * 0.4 / (6 std_a) = 0.4 / (6 * 0.326599) = 0.204124 = 4 / (6 std_b) (B is A * 10 + 1).
     * So 1: 0.704124 + 0.295876 = 1, 2: 0.5 + 0.704124, 3: 0.295876, 4: 0.5. */
    double d = 0.4 / (6 * sqrt(0.32 / 3));
    uint64_t ids[] = {2, 1, 4, 3};
    double s[] = {1 + d, 1, 0.5, 0.5 - d};
    expect(HK_FUSION_DBSF, 0, ids, s, 4);
    /* Clamping: a far outlier maps to 1, not beyond. */
    fusion_item big[] = {{1, 1000}, {2, 0}, {3, 0}, {4, 0}, {5, 0}, {6, 0}, {7, 0}, {8, 0}, {9, 0}, {10, 0},
                         {11, 0}, {12, 0}};
    fusion_list one = {big, 12};
    fusion_item *f;
    size_t n;
    assert_int_equal(fusion_run(HK_FUSION_DBSF, 0, &one, 1, &f, &n), HK_OK);
    assert_int_equal(n, 12);
    assert_int_equal(f[0].id, 1);
    assert_float_equal(f[0].score, 1.0, 1e-12);
    hk_free(f);
}

static void test_borda(void **state) {
    (void)state;
    /* C = 4 distinct ids. A (n = 3): 1 -> 4, 2 -> 3, 3 -> 2, absent 4 -> (4 - 3 + 1) / 2 = 1.
     * B: 2 -> 4, 4 -> 3, 1 -> 2, absent 3 -> 1. Totals: 1: 6, 2: 7, 3: 3, 4: 4. */
    uint64_t ids[] = {2, 1, 4, 3};
    double s[] = {7, 6, 4, 3};
    expect(HK_FUSION_BORDA, 0, ids, s, 4);
}

static void test_degenerate(void **state) {
    (void)state;
    fusion_item eq[] = {{5, 3}, {9, 3}};
    fusion_list l[2] = {{eq, 2}, {NULL, 0}};
    for (int m = HK_FUSION_RRF; m <= HK_FUSION_BORDA; m++) {
        fusion_item *f;
        size_t n;
        assert_int_equal(fusion_run((hk_fusion)m, m == HK_FUSION_RRF ? 60 : 0.5, l, 2, &f, &n), HK_OK);
        assert_int_equal(n, 2);
        /* Equal scores: min-max gives 1 to both, dbsf 0.5; equal fused scores go to the
         * lower id; rrf and borda rank 5 first anyway. */
        assert_int_equal(f[0].id, 5);
        assert_int_equal(f[1].id, 9);
        if (m == HK_FUSION_COMBSUM) assert_float_equal(f[0].score, 1, 1e-12);
        if (m == HK_FUSION_DBSF) assert_float_equal(f[1].score, 0.5, 1e-12);
        if (m == HK_FUSION_CONVEX) assert_float_equal(f[0].score, 0.5, 1e-12);
        hk_free(f);
    }
    fusion_item *f = (fusion_item *)1;
    size_t n = 7;
    fusion_list none[2] = {{NULL, 0}, {NULL, 0}};
    assert_int_equal(fusion_run(HK_FUSION_COMBMNZ, 0, none, 2, &f, &n), HK_OK);
    assert_int_equal(n, 0);
    hk_free(f);
    fusion_item nan[] = {{1, NAN}};
    fusion_list bad = {nan, 1};
    assert_int_equal(fusion_run(HK_FUSION_COMBSUM, 0, &bad, 1, &f, &n), HK_INVALID);
    assert_int_equal(fusion_run(HK_FUSION_CONVEX, 0.5, l, 1, &f, &n), HK_INVALID);
}

static void test_names(void **state) {
    (void)state;
    const char *names[] = {"rrf", "convex", "dbsf", "combsum", "combmnz", "borda"};
    for (int i = 0; i < 6; i++) {
        hk_fusion f = HK_FUSION_RRF;
        assert_int_equal(hk_fusion_from_name(names[i], &f), 0);
        assert_int_equal((int)f, i);
        assert_string_equal(hk_fusion_name(f), names[i]);
    }
    hk_fusion f;
    assert_int_equal(hk_fusion_from_name("RRF ", &f), -1);
    assert_int_equal(hk_fusion_from_name(NULL, &f), -1);
    assert_null(hk_fusion_name((hk_fusion)6));
    hk_query *q;
    assert_int_equal(hk_query_new(&q), HK_OK);
    assert_int_equal(hk_query_set_fusion(q, HK_FUSION_CONVEX, 1.5, 0), HK_INVALID);
    assert_int_equal(hk_query_set_fusion(q, HK_FUSION_CONVEX, 0, 0), HK_OK);
    assert_int_equal(hk_query_set_fusion(q, (hk_fusion)9, 0, 0), HK_INVALID);
    hk_query_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rrf),      cmocka_unit_test(test_convex),
                                       cmocka_unit_test(test_combsum_combmnz),
                                       cmocka_unit_test(test_dbsf),     cmocka_unit_test(test_borda),
                                       cmocka_unit_test(test_degenerate),
                                       cmocka_unit_test(test_names)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
