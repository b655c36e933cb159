/* Unit tests for src/core: allocator hooks, errors, buffers, arenas, CRC32C, pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static void test_crc32c_check_values(void **state) {
    (void)state;
    /* The standard check value of CRC-32C. */
    assert_int_equal(hk_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(hk_crc32c(0, "", 0), 0u);
    /* 32 zero bytes: RFC 3720 appendix B.4 test vector. */
    uint8_t z[32] = {0};
    assert_int_equal(hk_crc32c(0, z, 32), 0x8A9136AAu);
    uint8_t ff[32];
    memset(ff, 0xFF, 32);
    assert_int_equal(hk_crc32c(0, ff, 32), 0x62A8AB43u);
    /* Chaining equals one pass, for every split point and odd lengths. */
    uint8_t data[1000];
    for (int i = 0; i < 1000; i++) data[i] = (uint8_t)(i * 31 + 7);
    uint32_t whole = hk_crc32c(0, data, sizeof data);
    for (size_t split = 0; split <= sizeof data; split += 37)
        assert_int_equal(hk_crc32c(hk_crc32c(0, data, split), data + split, sizeof data - split), whole);
    data[500] ^= 1;
    assert_int_not_equal(hk_crc32c(0, data, sizeof data), whole);
}

static void test_errors(void **state) {
    (void)state;
    hk_clear_error();
    assert_string_equal(hk_errmsg(), "");
    assert_int_equal(hk_fail(HK_DIMENSION, "dimension %d is wrong", 7), HK_DIMENSION);
    assert_string_equal(hk_errmsg(), "dimension 7 is wrong");
    assert_int_equal(hk_fail_prefix(HK_DIMENSION, "point %d", 3), HK_DIMENSION);
    assert_string_equal(hk_errmsg(), "point 3: dimension 7 is wrong");
    assert_string_equal(hk_status_name(HK_CORRUPT), "HK_CORRUPT");
    assert_string_equal(hk_version(), HEKTOR_VERSION);
    assert_int_equal(hk_version_number(), HEKTOR_VERSION_NUMBER);
}

static void test_buf(void **state) {
    (void)state;
    hk_buf b;
    hk_buf_init(&b);
    for (int i = 0; i < 1000; i++) assert_int_equal(hk_buf_printf(&b, "%d,", i), HK_OK);
    assert_true(b.len > 2000);
    assert_memory_equal(b.data, "0,1,2,", 6);
    hk_buf_reset(&b);
    hk_buf_put_u32(&b, 0x01020304u);
    hk_buf_put_u64(&b, 0x0102030405060708ull);
    assert_int_equal(b.len, 12);
    assert_int_equal(b.data[0], 4);
    assert_int_equal(hk_load_u32(b.data), 0x01020304u);
    assert_true(hk_load_u64(b.data + 4) == 0x0102030405060708ull);
    size_t len;
    uint8_t *d = hk_buf_detach(&b, &len);
    assert_int_equal(len, 12);
    assert_null(b.data);
    hk_free(d);
    hk_buf_free(&b);
}

static void test_arena(void **state) {
    (void)state;
    hk_arena a;
    hk_arena_init(&a);
    char *prev = NULL;
    for (int i = 0; i < 10000; i++) {
        char *p = hk_arena_alloc(&a, (size_t)(i % 100) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 'x', (size_t)(i % 100) + 1);
        assert_true(p != prev);
        prev = p;
    }
    char *big = hk_arena_alloc(&a, 5u << 20);
    assert_non_null(big);
    memset(big, 1, 5u << 20);
    char *s = hk_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    hk_arena_reset(&a);
    assert_null(a.head);
}

static void test_aligned(void **state) {
    (void)state;
    for (size_t n = 1; n < 5000; n += 123) {
        uint8_t *p = hk_aligned_alloc(n);
        assert_int_equal((uintptr_t)p % 64, 0);
        memset(p, 0xAB, n);
        p = hk_aligned_realloc(p, n, n * 2);
        assert_int_equal((uintptr_t)p % 64, 0);
        for (size_t i = 0; i < n; i++) assert_int_equal(p[i], 0xAB);
        hk_aligned_free(p);
    }
}

/* Huge-page growth keeps the data, alignment and size across the 4 MiB threshold, in
 * both directions, for the plain and the aligned form. */
static void test_realloc_huge(void **state) {
    (void)state;
    size_t sizes[] = {1000, 3u << 20, 5u << 20, 9u << 20, 20u << 20, 6u << 20, 2000};
    uint8_t *p = NULL, *q = NULL;
    size_t had = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        p = hk_realloc_huge(p, had, n);
        q = hk_aligned_realloc_huge(q, had, n);
        assert_non_null(p);
        assert_non_null(q);
        assert_int_equal((uintptr_t)q % 64, 0);
        size_t keep = had < n ? had : n;
        for (size_t i = 0; i < keep; i += 4093) {
            assert_int_equal(p[i], (uint8_t)(i * 7 + 1));
            assert_int_equal(q[i], (uint8_t)(i * 11 + 3));
        }
        if (keep) {
            assert_int_equal(p[keep - 1], (uint8_t)((keep - 1) * 7 + 1));
            assert_int_equal(q[keep - 1], (uint8_t)((keep - 1) * 11 + 3));
        }
        for (size_t i = 0; i < n; i++) {
            p[i] = (uint8_t)(i * 7 + 1);
            q[i] = (uint8_t)(i * 11 + 3);
        }
        had = n;
    }
    hk_free(p);
    hk_aligned_free(q);
    hk_advise_huge(NULL, 1u << 30); /* advice on nothing is nothing */
}

static size_t g_allocs;
static void *count_malloc(void *ud, size_t n) { (void)ud; g_allocs++; return malloc(n); }
static void *count_realloc(void *ud, void *p, size_t n) { (void)ud; g_allocs++; return realloc(p, n); }
static void count_free(void *ud, void *p) { (void)ud; free(p); }

static void test_allocator_injection(void **state) {
    (void)state;
    hk_allocator bad = {count_malloc, NULL, count_free, NULL};
    assert_int_equal(hk_set_allocator(&bad), HK_INVALID);
    hk_allocator a = {count_malloc, count_realloc, count_free, NULL};
    assert_int_equal(hk_set_allocator(&a), HK_OK);
    g_allocs = 0;
    char *s = hk_strdup("abc");
    hk_free(s);
    assert_int_equal(g_allocs, 1);
    assert_int_equal(hk_set_allocator(NULL), HK_OK);
}

typedef struct sum_ctx {
    uint64_t parts[64];
    int seen[1000];
} sum_ctx;

static void sum_task(void *ctx, size_t task, unsigned worker) {
    sum_ctx *s = ctx;
    s->seen[task]++;
    __atomic_fetch_add(&s->parts[worker % 64], task, __ATOMIC_RELAXED);
}

static void test_pool(void **state) {
    (void)state;
    assert_true(hk_pool_workers() >= 1);
    for (int round = 0; round < 50; round++) {
        sum_ctx s;
        memset(&s, 0, sizeof s);
        hk_pool_run(1000, sum_task, &s);
        uint64_t total = 0;
        for (int i = 0; i < 64; i++) total += s.parts[i];
        assert_true(total == 999ull * 1000 / 2);
        for (int i = 0; i < 1000; i++) assert_int_equal(s.seen[i], 1);
    }
    hk_pool_set_workers(3);
    assert_int_equal(hk_pool_workers(), 3);
    sum_ctx s;
    memset(&s, 0, sizeof s);
    hk_pool_run(1000, sum_task, &s);
    for (int i = 0; i < 1000; i++) assert_int_equal(s.seen[i], 1);
    hk_pool_set_workers(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_check_values), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_buf), cmocka_unit_test(test_arena),
        cmocka_unit_test(test_aligned), cmocka_unit_test(test_realloc_huge), cmocka_unit_test(test_allocator_injection),
        cmocka_unit_test(test_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
