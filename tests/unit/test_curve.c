/*
 * test_curve.c — the transfer curves of src/quant/curve.c: the reference functions against
 * the standards' published values, and every normalized curve (each kind, several params)
 * for its contract: exact ends, strictly increasing, inverse within 1e-9, concave-ish.
 *
 * Reference values:
 *  - ST 2084: inverse EOTF(100 cd/m^2) = 0.508078421517 (the commonly quoted PQ code value
 *    of SDR white); 50-digit Python Decimal evaluation of the standard's formula gives
 *    0.50807842151739485..., inverse EOTF(0) = c1^m2 = 7.3095590257839663e-7.
 *  - BT.2100 HLG: OETF(1/12) = 0.5 and OETF(1) = 1 (0.99999999506613058 with the rounded a).
 *  - PU21 banding_glare: 100 cd/m^2 -> 256.38 (the value the PU21 authors' parameters give;
 *    Decimal evaluation of their reference encoder: 256.38389731270396, 1 cd/m^2 ->
 *    36.543911139419205, 10000 -> 595.39392002009497).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "quant/curve.h"

#define GRID 10001

static void assert_near(double got, double want, double tol, const char *what) {
    if (!(fabs(got - want) <= tol)) fail_msg("%s: got %.17g want %.17g (tol %.3g)", what, got, want, tol);
}

static void test_st2084_reference(void **state) {
    (void)state;
    const double c1 = 3424.0 / 4096.0, m2 = 2523.0 / 4096.0 * 128.0;
    assert_near(qc_st2084_inv_eotf(100), 0.508078421517, 1e-9, "PQ(100)");
    assert_near(qc_st2084_inv_eotf(100), 0.50807842151739486, 1e-14, "PQ(100) decimal");
    assert_true(qc_st2084_inv_eotf(10000) == 1.0);
    assert_near(qc_st2084_inv_eotf(0), pow(c1, m2), 1e-20, "PQ(0)");
    assert_near(qc_st2084_inv_eotf(0), 7.3095590257839663e-7, 1e-20, "PQ(0) decimal");
    assert_true(qc_st2084_eotf(0) == 0.0);
    assert_near(qc_st2084_eotf(1), 10000, 1e-9, "EOTF(1)");
    for (double L = 1e-3; L <= 1e4 * (1 + 1e-12); L *= 1.0471285480508996) { /* 10^(1/50) */
        double back = qc_st2084_eotf(qc_st2084_inv_eotf(L));
        assert_near(back, L, 1e-10 * L, "EOTF(invEOTF(L))");
    }
    /* Outside the domain: clamped, never NaN. */
    assert_true(qc_st2084_inv_eotf(-5) == qc_st2084_inv_eotf(0));
    assert_true(qc_st2084_inv_eotf(2e4) == 1.0);
    assert_true(qc_st2084_eotf(-1) == 0.0);
    assert_false(isnan(qc_st2084_inv_eotf(NAN)));
}

static void test_hlg_reference(void **state) {
    (void)state;
    assert_near(qc_hlg_oetf(1.0 / 12.0), 0.5, 1e-12, "HLG(1/12)");
    assert_near(qc_hlg_oetf(1), 1.0, 1e-6, "HLG(1)");
    assert_near(qc_hlg_oetf(1), 0.99999999506613058, 1e-15, "HLG(1) decimal");
    assert_true(qc_hlg_oetf(0) == 0.0);
    /* Continuity at 1/12: both branches meet at 0.5. */
    double e = 1.0 / 12.0;
    assert_near(qc_hlg_oetf(nextafter(e, 1)), 0.5, 1e-12, "HLG just above 1/12");
    assert_near(qc_hlg_oetf(nextafter(e, 0)), 0.5, 1e-12, "HLG just below 1/12");
    assert_near(qc_hlg_inv_oetf(0.5), e, 1e-15, "HLG^-1(0.5)");
    double prev = -1;
    for (int i = 0; i < GRID; i++) {
        double E = (double)i / (GRID - 1);
        double v = qc_hlg_oetf(E);
        assert_true(v > prev);
        prev = v;
        assert_near(qc_hlg_inv_oetf(v), E, 1e-12, "HLG round trip");
    }
}

static void test_pu21_reference(void **state) {
    (void)state;
    assert_near(qc_pu21_encode(100), 256.38, 0.01, "PU21(100)");
    assert_near(qc_pu21_encode(100), 256.38389731270396, 1e-9, "PU21(100) decimal");
    assert_near(qc_pu21_encode(1), 36.543911139419205, 1e-9, "PU21(1)");
    assert_near(qc_pu21_encode(10000), 595.39392002009497, 1e-9, "PU21(10000)");
    assert_near(qc_pu21_encode(0.005), 5.4707788416e-10, 1e-12, "PU21(0.005)");
    /* Clamped to [0.005, 10000] like the reference encoder. */
    assert_true(qc_pu21_encode(0) == qc_pu21_encode(0.005));
    assert_true(qc_pu21_encode(1e6) == qc_pu21_encode(10000));
    double prev = -1;
    for (double L = 0.005; L <= 1e4 * (1 + 1e-12); L *= 1.0471285480508996) {
        double v = qc_pu21_encode(L);
        assert_true(v > prev);
        prev = v;
        assert_near(qc_pu21_decode(v), L, 1e-9 * L, "PU21 round trip");
    }
    assert_true(qc_pu21_decode(-1) == 0.005);
    assert_true(qc_pu21_decode(1e9) == 10000);
}

typedef struct curve_case {
    qc_kind kind;
    double param;
} curve_case;

static const curve_case cases[] = {
    {QC_NONE, 0},     {QC_ST2084, 0},  {QC_ST2084, 1000}, {QC_ST2084, 100},  {QC_ST2084, 1},
    {QC_ST2084, 1e-6}, {QC_HLG, 0},    {QC_PU21, 0},      {QC_PU21, 4000},   {QC_PU21, 100},
    {QC_PU21, 0.01},  {QC_PU21, 0.0051}, {QC_GAMMA, 0},   {QC_GAMMA, 1},     {QC_GAMMA, 3},
    {QC_GAMMA, 0.5},  {QC_GAMMA, 0.05}, {QC_GAMMA, 100},  {QC_MULAW, 0},     {QC_MULAW, 1},
    {QC_MULAW, 1e-6}, {QC_MULAW, 1e5},  {QC_MULAW, 1e12},
};
#define NCASES (sizeof cases / sizeof cases[0])

static void test_normalized_contract(void **state) {
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        qc_curve c;
        assert_int_equal(qc_init(&c, cases[i].kind, cases[i].param), HK_OK);
        assert_int_equal(c.kind, cases[i].kind);
        const char *name = qc_name(c.kind);
        if (cases[i].param == 0) assert_true(c.param == qc_default_param(c.kind));
        assert_true(qc_forward(&c, 0) == 0.0);
        assert_true(qc_forward(&c, 1) == 1.0);
        assert_true(qc_inverse(&c, 0) == 0.0);
        assert_true(qc_inverse(&c, 1) == 1.0);
        double prev = -1, worst = 0;
        for (int g = 0; g < GRID; g++) {
            double t = (double)g / (GRID - 1);
            double y = qc_forward(&c, t);
            if (!(y > prev)) {
                fail_msg("%s(%g) not strictly increasing at t=%.17g: %.17g after %.17g", name, c.param, t, y, prev);
            }
            prev = y;
            double err = fabs(qc_inverse(&c, y) - t);
            if (err > worst) worst = err;
            if (err >= 1e-9) fail_msg("%s(%g): inverse(forward(%.17g)) off by %.3g", name, c.param, t, err);
        }
        /* Near zero too, where companding curves are steepest. */
        for (double t = 1e-15; t < 1e-4; t *= 3.7) {
            double err = fabs(qc_inverse(&c, qc_forward(&c, t)) - t);
            if (err >= 1e-9) fail_msg("%s(%g): inverse(forward(%.3g)) off by %.3g", name, c.param, t, err);
        }
        /* And y = forward(inverse(y)) over the output grid. */
        for (int g = 0; g < GRID; g++) {
            double y = (double)g / (GRID - 1);
            double t = qc_inverse(&c, y);
            assert_true(t >= 0 && t <= 1);
            assert_false(isnan(qc_forward(&c, t)));
        }
        print_message("%-7s param %-8g worst round trip %.3g\n", name, c.param, worst);
    }
}

static void test_defaults_concave(void **state) {
    (void)state;
    for (int k = 1; k < QC_KINDS; k++) {
        qc_curve c;
        assert_int_equal(qc_init(&c, (qc_kind)k, 0), HK_OK);
        double mid = qc_forward(&c, 0.5);
        if (!(mid > 0.5)) fail_msg("%s default: forward(0.5) = %g, expected > 0.5", qc_name((qc_kind)k), mid);
        for (int g = 0; g < GRID; g++) {
            double t = (double)g / (GRID - 1);
            double y = qc_forward(&c, t);
            if (y < t) fail_msg("%s default: forward(%.17g) = %.17g < t", qc_name((qc_kind)k), t, y);
        }
    }
}

/* The normalized ST 2084 and PU21 curves equal the textbook definitions (where those
 * are still accurate: away from the ends). */
static void test_normalized_definitions(void **state) {
    (void)state;
    const double peaks[] = {10000, 1000, 100};
    for (size_t i = 0; i < 3; i++) {
        qc_curve pq, pu;
        assert_int_equal(qc_init(&pq, QC_ST2084, peaks[i]), HK_OK);
        assert_int_equal(qc_init(&pu, QC_PU21, peaks[i]), HK_OK);
        double p0 = qc_st2084_inv_eotf(0), pp = qc_st2084_inv_eotf(peaks[i]);
        double u0 = qc_pu21_encode(0.005), up = qc_pu21_encode(peaks[i]);
        for (double t = 0.01; t < 1; t += 0.0493) {
            double want = (qc_st2084_inv_eotf(t * peaks[i]) - p0) / (pp - p0);
            assert_near(qc_forward(&pq, t), want, 1e-12, "st2084 forward vs definition");
            double L = 0.005 + t * (peaks[i] - 0.005);
            want = (qc_pu21_encode(L) - u0) / (up - u0);
            assert_near(qc_forward(&pu, t), want, 1e-12, "pu21 forward vs definition");
        }
    }
    qc_curve c;
    assert_int_equal(qc_init(&c, QC_GAMMA, 2), HK_OK);
    assert_near(qc_forward(&c, 0.25), 0.5, 1e-15, "gamma 2");
    assert_int_equal(qc_init(&c, QC_MULAW, 255), HK_OK);
    assert_near(qc_forward(&c, 0.5), log(128.5) / log(256), 1e-15, "mulaw 255");
    assert_int_equal(qc_init(&c, QC_HLG, 0), HK_OK);
    assert_near(qc_forward(&c, 1.0 / 12.0), 0.5, 1e-8, "hlg 1/12");
    assert_true(c.param == 0);
    assert_int_equal(qc_init(&c, QC_NONE, 7), HK_OK);
    assert_true(c.param == 0);
    assert_true(qc_forward(&c, 0.3) == 0.3);
}

static void test_clamping(void **state) {
    (void)state;
    for (int k = 0; k < QC_KINDS; k++) {
        qc_curve c;
        assert_int_equal(qc_init(&c, (qc_kind)k, 0), HK_OK);
        assert_true(qc_forward(&c, -0.5) == 0.0);
        assert_true(qc_forward(&c, 1.5) == 1.0);
        assert_true(qc_forward(&c, NAN) == 0.0);
        assert_true(qc_forward(&c, INFINITY) == 1.0);
        assert_true(qc_inverse(&c, -3) == 0.0);
        assert_true(qc_inverse(&c, 2) == 1.0);
        assert_true(qc_inverse(&c, NAN) == 0.0);
        assert_true(qc_forward(&c, 1e-300) >= 0);
        assert_true(qc_inverse(&c, 1e-300) >= 0);
    }
}

static void expect_invalid(qc_kind kind, double param, const char *needle) {
    qc_curve c = {QC_GAMMA, 7, 1, 2};
    assert_int_equal(qc_init(&c, kind, param), HK_INVALID);
    const char *msg = hk_errmsg();
    assert_non_null(msg);
    if (strstr(msg, needle) == NULL) fail_msg("message \"%s\" does not mention \"%s\"", msg, needle);
    /* Left unchanged on failure. */
    assert_int_equal(c.kind, QC_GAMMA);
    assert_true(c.param == 7);
}

static void test_init_rejects(void **state) {
    (void)state;
    expect_invalid(QC_GAMMA, -1, "gamma");
    expect_invalid(QC_GAMMA, NAN, "gamma");
    expect_invalid(QC_GAMMA, INFINITY, "[0.05, 100]");
    expect_invalid(QC_GAMMA, 1000, "gamma");
    expect_invalid(QC_MULAW, -255, "mulaw");
    expect_invalid(QC_MULAW, 1e-9, "mulaw");
    expect_invalid(QC_ST2084, -100, "st2084");
    expect_invalid(QC_ST2084, 10001, "(0, 10000]");
    expect_invalid(QC_ST2084, NAN, "st2084");
    expect_invalid(QC_PU21, 0.005, "pu21");
    expect_invalid(QC_PU21, -1, "(0.005, 10000]");
    expect_invalid(QC_PU21, 2e4, "pu21");
    expect_invalid((qc_kind)6, 0, "unknown transfer curve kind");
    expect_invalid((qc_kind)-1, 0, "unknown transfer curve kind");
    assert_int_equal(qc_init(NULL, QC_GAMMA, 0), HK_INVALID);
    /* The smallest and largest accepted values. */
    qc_curve c;
    assert_int_equal(qc_init(&c, QC_ST2084, 10000), HK_OK);
    assert_int_equal(qc_init(&c, QC_PU21, 10000), HK_OK);
    assert_int_equal(qc_init(&c, QC_GAMMA, 0.05), HK_OK);
    assert_int_equal(qc_init(&c, QC_MULAW, 1e12), HK_OK);
}

static void test_names(void **state) {
    (void)state;
    const char *expect[QC_KINDS] = {"none", "st2084", "hlg", "pu21", "gamma", "mulaw"};
    for (int k = 0; k < QC_KINDS; k++) {
        assert_string_equal(qc_name((qc_kind)k), expect[k]);
        qc_kind back = QC_KINDS;
        assert_int_equal(qc_parse(qc_name((qc_kind)k), &back), HK_OK);
        assert_int_equal(back, k);
    }
    assert_string_equal(qc_name((qc_kind)QC_KINDS), "unknown");
    qc_kind out = QC_GAMMA;
    assert_int_equal(qc_parse("foo", &out), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "foo"));
    assert_non_null(strstr(hk_errmsg(), "st2084"));
    assert_int_equal(out, QC_GAMMA);
    assert_int_equal(qc_parse("", &out), HK_INVALID);
    assert_int_equal(qc_parse(NULL, &out), HK_INVALID);
    assert_true(qc_default_param(QC_NONE) == 0);
    assert_true(qc_default_param(QC_HLG) == 0);
    assert_true(qc_default_param(QC_ST2084) == 10000);
    assert_true(qc_default_param(QC_PU21) == 10000);
    assert_true(qc_default_param(QC_GAMMA) == 2.2);
    assert_true(qc_default_param(QC_MULAW) == 255);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st2084_reference),
        cmocka_unit_test(test_hlg_reference),
        cmocka_unit_test(test_pu21_reference),
        cmocka_unit_test(test_normalized_contract),
        cmocka_unit_test(test_defaults_concave),
        cmocka_unit_test(test_normalized_definitions),
        cmocka_unit_test(test_clamping),
        cmocka_unit_test(test_init_rejects),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
