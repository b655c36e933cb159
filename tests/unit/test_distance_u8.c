/*
 * test_distance_u8.c — the integer kernels between 8-bit codes (src/vec/distance_u8.c):
 * every implementation this CPU runs returns exactly the scalar kernel's sum, and the
 * scalar kernel exactly a plain 64-bit reference, over random codes of every length up
 * to 200 (each tail of the 16-, 32- and 64-wide loops), larger odd lengths, misaligned
 * starts, the extreme codes 0 and 255, and the largest dimension (65536, where the sums
 * come nearest to 32 bits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "vec/distance.h"

static const char *const names[] = {"scalar", "avx2", "avx512bw", "avx512vnni", "avx512"};
#define NNAMES (sizeof names / sizeof names[0])

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static uint8_t rnd8(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint8_t)(rs >> 32);
}

static void reference(const uint8_t *a, const uint8_t *b, size_t n, uint64_t *l2, uint64_t *dot) {
    *l2 = *dot = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = (int64_t)a[i] - b[i];
        *l2 += (uint64_t)(d * d);
        *dot += (uint64_t)a[i] * b[i];
    }
}

/* Every kernel on a[0..n), b[0..n): equal to the reference. Returns how many ran. */
static int check_all(const uint8_t *a, const uint8_t *b, size_t n) {
    uint64_t l2, dot;
    reference(a, b, n, &l2, &dot);
    int ran = 0;
    for (size_t k = 0; k < NNAMES; k++) {
        const vec_u8_kernels *kern = vec_u8_by_name(names[k]);
        if (!kern) continue;
        ran++;
        uint32_t gl = kern->l2(a, b, n), gd = kern->dot(a, b, n);
        if (gl != l2 || gd != dot)
            fail_msg("%s n=%zu: l2 %u (want %llu), dot %u (want %llu)", kern->name, n, gl,
                     (unsigned long long)l2, gd, (unsigned long long)dot);
    }
    return ran;
}

static void test_random_lengths(void **state) {
    (void)state;
    /* exactly n bytes each (at an offset from the allocation), so ASan sees overreads */
    for (size_t n = 0; n <= 200; n++) {
        for (size_t off = 0; off < 3; off++) {
            uint8_t *a = hk_malloc(n + off + 1), *b = hk_malloc(n + off + 1);
            assert_non_null(a);
            assert_non_null(b);
            for (size_t i = 0; i < n + off + 1; i++) {
                a[i] = rnd8();
                b[i] = rnd8();
            }
            assert_true(check_all(a + off + 1, b + off + 1, n) >= 1);
            hk_free(a);
            hk_free(b);
        }
    }
    const size_t big[] = {255, 256, 257, 511, 512, 513, 767, 1000, 1023, 1024, 4095, 4097};
    for (size_t t = 0; t < sizeof big / sizeof big[0]; t++) {
        size_t n = big[t];
        uint8_t *a = hk_malloc(n), *b = hk_malloc(n);
        for (size_t i = 0; i < n; i++) {
            a[i] = rnd8();
            b[i] = rnd8();
        }
        check_all(a, b, n);
        hk_free(a);
        hk_free(b);
    }
}

static void test_extremes(void **state) {
    (void)state;
    size_t n = 65536; /* HK_MAX_DIM: 255^2 * n is just below 2^32 */
    uint8_t *a = hk_malloc(n), *b = hk_malloc(n);
    memset(a, 255, n);
    memset(b, 0, n);
    check_all(a, b, n);
    const vec_u8_kernels *s = vec_u8_by_name("scalar");
    assert_int_equal(s->l2(a, b, n), 65025u * 65536u);
    assert_int_equal(s->dot(a, a, n), 65025u * 65536u);
    check_all(a, a, n);
    for (size_t i = 0; i < n; i++) b[i] = (i & 1) ? 255 : 0;
    check_all(a, b, n);
    check_all(b, a, 777);
    hk_free(a);
    hk_free(b);
}

static void test_dispatch(void **state) {
    (void)state;
    const vec_u8_kernels *k = vec_u8_best();
    assert_non_null(k);
    /* the family follows the float kernels' choice (HEKTOR_KERNEL forces both) */
    const char *fam = vec_best()->name;
    if (!strcmp(fam, "scalar")) assert_string_equal(k->name, "scalar");
    else if (!strcmp(fam, "avx2")) assert_string_equal(k->name, "avx2");
    else assert_true(!strncmp(k->name, "avx512", 6) || !strcmp(k->name, "avx2"));
    assert_null(vec_u8_by_name("neon-of-the-future"));
    assert_null(vec_u8_by_name(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_lengths),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
