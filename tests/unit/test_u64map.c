/* Unit tests for src/core/u64map.c against a direct-indexed reference under churn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "u64map.h"

static void test_churn(void **state) {
    (void)state;
    enum { N = 20000 };
    static int32_t ref[N]; /* -1 = absent */
    for (int i = 0; i < N; i++) ref[i] = -1;
    u64map m;
    u64map_init(&m);
    uint64_t seed = 12345;
    size_t live = 0;
    for (int step = 0; step < 200000; step++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t k = (uint32_t)(seed >> 33) % N;
        /* Keys spread over the 64-bit space but map 1:1 to k. */
        uint64_t key = (uint64_t)k * 0x9E3779B97F4A7C15ull;
        if ((seed >> 20) & 1) {
            assert_int_equal(u64map_put(&m, key, (uint32_t)step), HK_OK);
            if (ref[k] < 0) live++;
            ref[k] = step;
        } else {
            int had = u64map_del(&m, key);
            assert_int_equal(had, ref[k] >= 0);
            if (had) live--;
            ref[k] = -1;
        }
        if (step % 10000 == 0) {
            for (int i = 0; i < N; i++) {
                uint32_t v;
                int found = u64map_get(&m, (uint64_t)i * 0x9E3779B97F4A7C15ull, &v);
                assert_int_equal(found, ref[i] >= 0);
                if (found) assert_int_equal(v, (uint32_t)ref[i]);
            }
            assert_int_equal(m.n, live);
        }
    }
    assert_true(u64map_memory(&m) > 0);
    u64map_free(&m);
    assert_int_equal(u64map_get(&m, 1, NULL), 0);
}

static void test_extreme_keys(void **state) {
    (void)state;
    u64map m;
    u64map_init(&m);
    assert_int_equal(u64map_get(&m, 0, NULL), 0);
    assert_int_equal(u64map_put(&m, 0, 1), HK_OK);
    assert_int_equal(u64map_put(&m, UINT64_MAX, 2), HK_OK);
    uint32_t v;
    assert_true(u64map_get(&m, 0, &v) && v == 1);
    assert_true(u64map_get(&m, UINT64_MAX, &v) && v == 2);
    assert_int_equal(u64map_put(&m, 0, 3), HK_OK);
    assert_true(u64map_get(&m, 0, &v) && v == 3);
    assert_int_equal(m.n, 2);
    u64map_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_churn), cmocka_unit_test(test_extreme_keys)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
