/*
 * test_json.c — the JSON parser and writer (src/core/json.c): round trips, escapes,
 * surrogates, UTF-8 validation, the depth limit, integer/double distinction, repeated keys
 * and every error the parser can report; floats written as snprintf would write them.
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

static hk_arena g_arena;

static int setup(void **state) {
    (void)state;
    hk_arena_init(&g_arena);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    hk_arena_reset(&g_arena);
    return 0;
}

static hj_value *parse_ok(const char *text) {
    hj_value *v = NULL;
    hk_status st = hj_parse(text, strlen(text), &g_arena, &v);
    if (st) fail_msg("parse of %s failed: %s", text, hk_errmsg());
    assert_non_null(v);
    return v;
}

/* Parses text and expects failure with a message containing `want`. */
static void parse_fails(const char *text, size_t len, const char *want) {
    hj_value *v = (hj_value *)1;
    hk_status st = hj_parse(text, len, &g_arena, &v);
    if (st != HK_INVALID) fail_msg("parse of '%.*s' should fail, status %d", (int)len, text, st);
    assert_null(v);
    if (!strstr(hk_errmsg(), want))
        fail_msg("message for '%.*s' is '%s', expected '%s'", (int)len, text, hk_errmsg(), want);
}

static char *write_json(const hj_value *v) {
    static char out[4096];
    hk_buf b;
    hk_buf_init(&b);
    assert_int_equal(hj_write(&b, v), HK_OK);
    assert_true(b.len < sizeof out);
    memcpy(out, b.data, b.len);
    out[b.len] = 0;
    hk_buf_free(&b);
    return out;
}

static void expect_rewrite(const char *in, const char *want) {
    const char *got = write_json(parse_ok(in));
    if (strcmp(got, want) != 0) fail_msg("%s rewrote to %s, expected %s", in, got, want);
}

static void test_round_trips(void **state) {
    (void)state;
    static const char *docs[] = {
        "null", "true", "false", "0", "-1", "9223372036854775807", "-9223372036854775808",
        "1.5", "-0.25", "1e+300", "\"\"", "\"abc\"", "[]", "{}", "[1,[2,[3,[]]],{}]",
        "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\",\"d\":1.5,\"e\":{\"f\":{}}}",
        "\"\\u0000\\u001f\\\"\\\\\"", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) expect_rewrite(docs[i], docs[i]);
    expect_rewrite(" \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n", "{\"a\":[1,2],\"b\":{}}");
}

static void test_escapes(void **state) {
    (void)state;
    hj_value *v = parse_ok("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\"");
    assert_int_equal(v->type, HJ_STRING);
    const char want[] = "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac";
    assert_int_equal(v->n, sizeof want - 1);
    assert_memory_equal(v->u.s, want, sizeof want - 1);
    assert_int_equal(v->u.s[v->n], 0);
    /* the writer escapes what must be escaped and leaves '/' and UTF-8 alone */
    assert_string_equal(write_json(v), "\"\\\"\\\\/\\b\\f\\n\\r\\tA\xc3\xa9\xe2\x82\xac\"");

    v = parse_ok("\"a\\u0000b\"");
    assert_int_equal(v->n, 3);
    assert_memory_equal(v->u.s, "a\0b", 3);
    assert_string_equal(write_json(v), "\"a\\u0000b\"");

    v = parse_ok("\"\\u007f\\u0001\"");
    assert_string_equal(write_json(v), "\"\x7f\\u0001\"");
}

static void test_surrogates(void **state) {
    (void)state;
    hj_value *v = parse_ok("\"\\ud83d\\ude00\"");
    assert_int_equal(v->n, 4);
    assert_memory_equal(v->u.s, "\xf0\x9f\x98\x80", 4);
    v = parse_ok("\"\\uDBFF\\uDFFF\"");
    assert_memory_equal(v->u.s, "\xf4\x8f\xbf\xbf", 4);
    parse_fails("\"\\ud83d\"", 8, "high surrogate without a low surrogate at offset 1");
    parse_fails("\"\\ud83dx\"", 9, "high surrogate without a low surrogate");
    parse_fails("\"\\ud83d\\u0041\"", 14, "high surrogate without a low surrogate");
    parse_fails("\"\\ud83d\\ud83d\"", 14, "high surrogate without a low surrogate");
    parse_fails("\"ab\\ude00\"", 10, "lone low surrogate at offset 3");
}

static void test_invalid_utf8(void **state) {
    (void)state;
    static const char *bad[] = {
        "\"\xc3\x28\"",         /* bad continuation */
        "\"\xc0\xaf\"",         /* overlong '/' */
        "\"\xe0\x80\xaf\"",     /* overlong 3-byte */
        "\"\xed\xa0\x80\"",     /* encoded surrogate */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xf8\x88\x80\x80\x80\"", "\"\xff\"", "\"\x80\"",
        "\"\xe2\x82\"", /* truncated by the quote */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fails(bad[i], strlen(bad[i]), "invalid UTF-8 in string at offset 1");
    parse_fails("\"\xe2\x82", 3, "invalid UTF-8"); /* truncated by the end of input */
    parse_ok("\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xee\x80\x80\xed\x9f\xbf\"");
    /* non-ASCII outside strings */
    parse_fails("\xc3\xa9", 2, "expected a value at offset 0");

    assert_true(hj_utf8_valid("", 0));
    assert_true(hj_utf8_valid("a\0b", 3));
    assert_true(hj_utf8_valid("\xc2\x80\xdf\xbf", 4));
    assert_false(hj_utf8_valid("\xc1\xbf", 2));
    assert_false(hj_utf8_valid("\xed\xbf\xbf", 3));
    assert_false(hj_utf8_valid("\xf0\x8f\xbf\xbf", 4));
    assert_false(hj_utf8_valid("\xf5\x80\x80\x80", 4));
    assert_false(hj_utf8_valid("abc\xe2", 4));
}

static char *nested(size_t depth, char open, char close) {
    char *s = malloc(2 * depth + 1);
    memset(s, open, depth);
    memset(s + depth, close, depth);
    s[2 * depth] = 0;
    return s;
}

static void test_depth_limit(void **state) {
    (void)state;
    char *ok = nested(HJ_MAX_DEPTH, '[', ']');
    hj_value *v = parse_ok(ok);
    size_t depth = 0;
    while (v->type == HJ_ARRAY && v->n) {
        v = &v->u.items[0];
        depth++;
    }
    assert_int_equal(depth, HJ_MAX_DEPTH - 1);
    free(ok);
    char *deep = nested(HJ_MAX_DEPTH + 1, '[', ']');
    parse_fails(deep, strlen(deep), "nesting deeper than 64 levels at offset 64");
    free(deep);
    /* objects count too, mixed with arrays */
    hk_buf b;
    hk_buf_init(&b);
    for (int i = 0; i < HJ_MAX_DEPTH; i++) hk_buf_puts(&b, i % 2 ? "[" : "{\"k\":");
    hk_buf_puts(&b, "1");
    for (int i = HJ_MAX_DEPTH - 1; i >= 0; i--) hk_buf_puts(&b, i % 2 ? "]" : "}");
    parse_ok(hk_buf_cstr(&b));
    hk_buf_reset(&b);
    for (int i = 0; i <= HJ_MAX_DEPTH; i++) hk_buf_puts(&b, "{\"k\":");
    parse_fails((char *)b.data, b.len, "nesting deeper than 64 levels");
    hk_buf_free(&b);
    /* a million brackets fail fast instead of exhausting the stack */
    char *huge = nested(1000000, '[', ']');
    parse_fails(huge, strlen(huge), "nesting deeper");
    free(huge);
}

static void expect_int(const char *text, int64_t want) {
    hj_value *v = parse_ok(text);
    if (v->type != HJ_INT) fail_msg("%s parsed as type %d, expected an integer", text, v->type);
    assert_true(v->u.i == want);
}

static void expect_double(const char *text, double want) {
    hj_value *v = parse_ok(text);
    if (v->type != HJ_DOUBLE) fail_msg("%s parsed as type %d, expected a double", text, v->type);
    if (v->u.d != want || signbit(v->u.d) != signbit(want))
        fail_msg("%s parsed as %.17g, expected %.17g", text, v->u.d, want);
}

static void test_numbers(void **state) {
    (void)state;
    expect_int("0", 0);
    expect_int("-0", 0);
    expect_int("7", 7);
    expect_int("-123456789", -123456789);
    expect_int("9223372036854775807", INT64_MAX);
    expect_int("-9223372036854775808", INT64_MIN);
    expect_int("12345678", 12345678);
    expect_int("123456789012345678", 123456789012345678LL);
    expect_int("1000000000000000000", 1000000000000000000LL);
    expect_double("9223372036854775808", 9223372036854775808.0);
    expect_double("-9223372036854775809", -9223372036854775808.0);
    expect_double("18446744073709551616", 18446744073709551616.0);
    expect_double("1.0", 1.0);
    expect_double("-0.0", -0.0);
    expect_double("1e2", 100.0);
    expect_double("1E-2", 0.01);
    expect_double("-1.5e+3", -1500.0);
    expect_double("0.1", 0.1);
    expect_double("2.2250738585072014e-308", 2.2250738585072014e-308);
    expect_double("1e-400", 0.0); /* underflow is not an error */
    {
        /* a fraction with more leading zeros than the exponent's clamp (100,000), and an
         * integer part of 300 digits: counts held in range, values from strtod */
        size_t nz = 100050, n = 2 + nz + 4;
        char *t = malloc(n + 1);
        assert_non_null(t);
        memcpy(t, "0.", 2);
        memset(t + 2, '0', nz);
        memcpy(t + 2 + nz, "1e10", 4);
        t[n] = 0;
        hj_value *v = parse_ok(t);
        assert_int_equal(v->type, HJ_DOUBLE);
        assert_true(v->u.d == 0.0);
        memcpy(t + 2 + nz - 3, "1e99", 4); /* 0.000...1e99 with 100,046 zeros: tiny */
        t[2 + nz + 1] = 0;
        v = parse_ok(t);
        assert_true(v->u.d == 0.0);
        memset(t, '9', 300);
        t[300] = 0;
        v = parse_ok(t);
        assert_int_equal(v->type, HJ_DOUBLE);
        assert_true(v->u.d > 9.9e299 && v->u.d <= 1e300);
        free(t);
    }
    expect_double("1.7976931348623157e308", 1.7976931348623157e308);
    expect_double("123456789012345678901234567890123456789012345678901234567890123456789012345678",
                  1.2345678901234568e77);

    assert_true(hj_is_number(parse_ok("3")));
    assert_true(hj_is_number(parse_ok("3.5")));
    assert_false(hj_is_number(parse_ok("\"3\"")));
    assert_false(hj_is_number(NULL));
    assert_true(hj_number(parse_ok("-4")) == -4.0);
    assert_true(hj_number(parse_ok("2.5")) == 2.5);
    assert_true(hj_number(parse_ok("true")) == 0.0);

    parse_fails("01", 2, "leading zero in number at offset 1");
    parse_fails("-01", 3, "leading zero in number at offset 2");
    parse_fails("1.", 2, "expected a digit after '.' at offset 2");
    parse_fails("1.e5", 4, "expected a digit after '.' at offset 2");
    parse_fails(".5", 2, "expected a value at offset 0");
    parse_fails("-", 1, "expected a digit at offset 1");
    parse_fails("-a", 2, "expected a digit at offset 1");
    parse_fails("+1", 2, "expected a value at offset 0");
    parse_fails("1e", 2, "expected a digit in exponent at offset 2");
    parse_fails("1e+", 3, "expected a digit in exponent at offset 3");
    parse_fails("1e400", 5, "number out of range at offset 0");
    parse_fails("[-1e999]", 8, "number out of range at offset 1");
    parse_fails("NaN", 3, "expected a value at offset 0");
    parse_fails("Infinity", 8, "expected a value at offset 0");
    parse_fails("0x10", 4, "unexpected data after the JSON value at offset 1");
}

static void test_errors(void **state) {
    (void)state;
    parse_fails("", 0, "expected a value at offset 0");
    parse_fails("   ", 3, "expected a value at offset 3");
    parse_fails("[1,]", 4, "expected a value at offset 3");
    parse_fails("[1 2]", 5, "expected ',' or ']' at offset 3");
    parse_fails("[1", 2, "expected ',' or ']' at offset 2");
    parse_fails("[", 1, "expected a value at offset 1");
    parse_fails("{\"a\" 1}", 7, "expected ':' at offset 5");
    parse_fails("{\"a\":1,}", 8, "expected a string key at offset 7");
    parse_fails("{\"a\":1 \"b\":2}", 13, "expected ',' or '}' at offset 7");
    parse_fails("{1:2}", 5, "expected a string key at offset 1");
    parse_fails("{\"a\":}", 6, "expected a value at offset 5");
    parse_fails("{\"a\"", 4, "expected ':' at offset 4");
    parse_fails("{", 1, "expected a string key at offset 1");
    parse_fails("\"abc", 4, "unterminated string at offset 0");
    parse_fails("[\"a\\", 4, "unterminated string at offset 1");
    parse_fails("\"\\x\"", 4, "invalid escape in string at offset 1");
    parse_fails("\"\\u12\"", 6, "expected 4 hex digits after \\u at offset 1");
    parse_fails("\"\\u12g4\"", 8, "expected 4 hex digits after \\u at offset 1");
    parse_fails("\"a\nb\"", 5, "unescaped control character in string at offset 2");
    parse_fails("\"a\tb\"", 5, "unescaped control character in string");
    parse_fails("tru", 3, "expected a value at offset 0");
    parse_fails("nul", 3, "expected a value at offset 0");
    parse_fails("falsey", 6, "unexpected data after the JSON value at offset 5");
    parse_fails("[1] x", 5, "unexpected data after the JSON value at offset 4");
    parse_fails("{} {}", 5, "unexpected data after the JSON value at offset 3");
    parse_fails("'a'", 3, "expected a value at offset 0");
    /* the length is respected: text past len is not read */
    parse_fails("[1]", 2, "expected ',' or ']' at offset 2");
    hj_value *v;
    assert_int_equal(hj_parse("1234", 2, &g_arena, &v), HK_OK);
    assert_true(v->u.i == 12);
    assert_int_equal(hj_parse(NULL, 1, &g_arena, &v), HK_INVALID);
}

static void test_repeated_keys(void **state) {
    (void)state;
    hj_value *v = parse_ok("{\"a\":1,\"b\":2,\"a\":3,\"c\":4,\"b\":5,\"a\":6}");
    assert_string_equal(write_json(v), "{\"a\":6,\"b\":5,\"c\":4}");
    /* large objects take the sorting path; same result */
    hk_buf b;
    hk_buf_init(&b);
    hk_buf_putc(&b, '{');
    for (int i = 0; i < 300; i++) hk_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i % 100, i);
    hk_buf_putc(&b, '}');
    v = parse_ok(hk_buf_cstr(&b));
    assert_int_equal(v->type, HJ_OBJECT);
    assert_int_equal(v->n, 100);
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        assert_string_equal(v->u.members[i].key, key);
        assert_true(v->u.members[i].value.u.i == 200 + i);
    }
    hk_buf_free(&b);
    /* keys differing only after a NUL are different keys */
    v = parse_ok("{\"a\\u0000x\":1,\"a\\u0000y\":2,\"a\":3}");
    assert_int_equal(v->n, 3);
}

static void test_get_and_type_names(void **state) {
    (void)state;
    hj_value *v = parse_ok("{\"a\":1,\"bb\":\"x\",\"\":null}");
    assert_true(hj_get(v, "a")->u.i == 1);
    assert_int_equal(hj_get(v, "bb")->type, HJ_STRING);
    assert_int_equal(hj_get(v, "")->type, HJ_NULL);
    assert_null(hj_get(v, "b"));
    assert_null(hj_get(v, "aa"));
    assert_null(hj_get(parse_ok("[1]"), "a"));
    assert_null(hj_get(NULL, "a"));
    assert_string_equal(hj_type_name(HJ_NULL), "null");
    assert_string_equal(hj_type_name(HJ_TRUE), "boolean");
    assert_string_equal(hj_type_name(HJ_FALSE), "boolean");
    assert_string_equal(hj_type_name(HJ_INT), "integer");
    assert_string_equal(hj_type_name(HJ_DOUBLE), "number");
    assert_string_equal(hj_type_name(HJ_STRING), "string");
    assert_string_equal(hj_type_name(HJ_ARRAY), "array");
    assert_string_equal(hj_type_name(HJ_OBJECT), "object");
}

static const char *double_text(double d) {
    static char out[64];
    hk_buf b;
    hk_buf_init(&b);
    assert_int_equal(hj_write_double(&b, d), HK_OK);
    assert_true(b.len < sizeof out);
    memcpy(out, b.data, b.len);
    out[b.len] = 0;
    hk_buf_free(&b);
    return out;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_write_double(void **state) {
    (void)state;
    assert_string_equal(double_text(0.1), "0.1");
    assert_string_equal(double_text(1.0), "1.0");
    assert_string_equal(double_text(-0.0), "-0.0");
    assert_string_equal(double_text(100.0), "100.0");
    assert_string_equal(double_text(1e300), "1e+300");
    assert_string_equal(double_text(0.1 + 0.2), "0.30000000000000004");
    assert_string_equal(double_text(1.0 / 3.0), "0.3333333333333333");
    assert_string_equal(double_text(5e-324), "5e-324");
    assert_string_equal(double_text(2.5e-320), "2.5e-320");
    assert_string_equal(double_text(1.7976931348623157e308), "1.7976931348623157e+308");
    assert_string_equal(double_text(INFINITY), "null");
    assert_string_equal(double_text(NAN), "null");
    /* every finite double reads back as the same double, and as a double */
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d)) continue;
        const char *t = double_text(d);
        hj_value *v = parse_ok(t);
        if (v->type != HJ_DOUBLE || memcmp(&v->u.d, &d, sizeof d) != 0)
            fail_msg("%.17g was written as %s and read back differently", d, t);
    }
}

static const char *float_text(float f) {
    static char out[64];
    hk_buf b;
    hk_buf_init(&b);
    assert_int_equal(hj_write_float(&b, f), HK_OK);
    assert_true(b.len < sizeof out);
    memcpy(out, b.data, b.len);
    out[b.len] = 0;
    hk_buf_free(&b);
    return out;
}

/* What hj_write_float promises: the first of "%.6g" .. "%.9g" that strtof reads back. */
static void float_reference(char *buf, size_t cap, float f) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
}

static void expect_float(float f) {
    char want[64];
    float_reference(want, sizeof want, f);
    const char *got = float_text(f);
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if (strcmp(got, want)) fail_msg("%.9g (bits %08x): wrote %s, snprintf gives %s", (double)f,
                                    (unsigned)bits, got, want);
}

static void test_write_float(void **state) {
    (void)state;
    assert_string_equal(float_text(0.5f), "0.5");
    assert_string_equal(float_text(0.1f), "0.1");
    assert_string_equal(float_text(-0.0f), "-0");
    assert_string_equal(float_text(0.0f), "0");
    assert_string_equal(float_text(1e6f), "1e+06");
    assert_string_equal(float_text(123456.0f), "123456");
    assert_string_equal(float_text(1234567.0f), "1234567");
    assert_string_equal(float_text(0.0001f), "0.0001");
    assert_string_equal(float_text(0.00001f), "1e-05");
    assert_string_equal(float_text(16777216.0f), "16777216");
    assert_string_equal(float_text(3.4028235e38f), "3.4028235e+38");
    assert_string_equal(float_text(INFINITY), "null");
    assert_string_equal(float_text(-INFINITY), "null");
    assert_string_equal(float_text(NAN), "null");
    /* ties to even at 6 digits, powers of two and of ten, their neighbours, the smallest
     * normal and subnormals (the snprintf path), and the largest floats */
    static const float fixed[] = {1234565.0f, 1234575.0f, 9999995.0f, 0.99999994f, 1.00000012f,
                                  1.17549435e-38f, 1.4e-45f, 1e-40f, 3.4028233e38f, 8388608.0f,
                                  8388609.0f, 2.5f, 1e-5f, 9.99999e-5f, 1e10f, 7.0e-10f};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        expect_float(fixed[i]);
        expect_float(-fixed[i]);
    }
    for (int e = -45; e <= 38; e++) {
        float p = (float)pow(10, e);
        expect_float(p);
        expect_float(nextafterf(p, 0));
        expect_float(nextafterf(p, INFINITY));
    }
    for (int e = -149; e <= 127; e++) {
        float p = ldexpf(1, e);
        expect_float(p);
        expect_float(nextafterf(p, 0));
        expect_float(nextafterf(p, INFINITY));
    }
    /* every exponent, random mantissas; and scores' usual range */
    for (int i = 0; i < 300000; i++) {
        uint32_t bits = (uint32_t)rnd();
        float f;
        memcpy(&f, &bits, sizeof f);
        if (!isfinite(f)) continue;
        expect_float(f);
        expect_float((float)((double)(rnd() >> 11) / 9007199254740992.0 * 100));
    }
}

static void test_write_integers(void **state) {
    (void)state;
    static const int64_t v[] = {0, 1, -1, 9, 10, -10, 1234567890123LL, INT64_MAX, INT64_MIN};
    char want[32];
    hk_buf b;
    hk_buf_init(&b);
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        hk_buf_reset(&b);
        assert_int_equal(hj_write_int(&b, v[i]), HK_OK);
        snprintf(want, sizeof want, "%lld", (long long)v[i]);
        assert_int_equal(b.len, strlen(want));
        assert_memory_equal(b.data, want, b.len);
    }
    hk_buf_reset(&b);
    assert_int_equal(hj_write_uint(&b, UINT64_MAX), HK_OK);
    assert_int_equal(b.len, 20);
    assert_memory_equal(b.data, "18446744073709551615", 20);
    hk_buf_free(&b);
}

static void test_write_string_repairs_utf8(void **state) {
    (void)state;
    hk_buf b;
    hk_buf_init(&b);
    assert_int_equal(hj_write_string(&b, "a\xff" "b\xc3", 4), HK_OK);
    assert_int_equal(b.len, strlen("\"a\\ufffdb\\ufffd\""));
    assert_memory_equal(b.data, "\"a\\ufffdb\\ufffd\"", b.len);
    hk_buf_reset(&b);
    assert_int_equal(hj_write_string(&b, "\xed\xa0\x80", 3), HK_OK);
    assert_memory_equal(b.data, "\"\\ufffd\\ufffd\\ufffd\"", b.len);
    /* what the writer produces always parses */
    for (int i = 0; i < 2000; i++) {
        uint8_t raw[16];
        for (size_t j = 0; j < sizeof raw; j++) raw[j] = (uint8_t)rnd();
        hk_buf_reset(&b);
        assert_int_equal(hj_write_string(&b, (const char *)raw, sizeof raw), HK_OK);
        hj_value *v;
        if (hj_parse((const char *)b.data, b.len, &g_arena, &v) != HK_OK)
            fail_msg("writer output does not parse: %s", hk_errmsg());
        assert_int_equal(v->type, HJ_STRING);
    }
    hk_buf_free(&b);
}

static void test_write_appends(void **state) {
    (void)state;
    hk_buf b;
    hk_buf_init(&b);
    hk_buf_puts(&b, "x=");
    assert_int_equal(hj_write(&b, parse_ok("[1,\"a\"]")), HK_OK);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "x=[1,\"a\"]", 9);
    hk_buf_free(&b);
}


/* Doubles parse to exactly what strtod gives, whether the exact fast path takes them
 * (short mantissas, small exponents) or strtod does (long ones, large exponents, halfway
 * cases near the limits). */
static void test_numbers_match_strtod(void **state) {
    (void)state;
    static const char *const fixed[] = {
        "0.1", "-0.0", "0.000001", "1e22", "1e23", "9007199254740993.0", "9007199254740992.5",
        "123456789012345678901", "0.1234567890123456789", "4.9e-324", "2.2250738585072014e-308",
        "1.7976931348623157e308", "-3.4028235e38", "1.00000005960464477539", "0.30000000000000004",
        "1E-22", "1e-23", "12345678901234567e-10", "100000000000000000000e-20", "0.0000000000000000000000001",
        /* runs of 8 digits read at once: leading zeros of fractions, runs ending at each
         * position, more than 19 significant digits */
        "0.00000000012345678901", "0.000000001", "-0.00000000", "12345678.12345678", "1234567.8",
        "0.12345678", "0.123456789", "0.1234567", "12345678901234567890.5", "99999999999999999999",
        "1234567890123456789012", "0.00000000000000000000000000000001234567890123456789"};
    char text[128];
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        hj_value *v = parse_ok(fixed[i]);
        assert_int_equal(v->type, HJ_DOUBLE);
        double want = strtod(fixed[i], NULL);
        if (memcmp(&v->u.d, &want, sizeof want)) fail_msg("%s: got %.17g, want %.17g", fixed[i], v->u.d, want);
    }
    static const char *const fmts[] = {"%.4f", "%.6f", "%.9g", "%.17g", "%.3e", "%.8e", "%.12g"};
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d = ((double)(x >> 11) / 9007199254740992.0 * 2 - 1) * pow(10, (int)(x % 13) - 6);
        snprintf(text, sizeof text, fmts[i % 7], d);
        hj_value *v = parse_ok(text);
        if (v->type == HJ_INT) continue; /* "%.9g" of a whole number */
        double want = strtod(text, NULL);
        if (memcmp(&v->u.d, &want, sizeof want)) fail_msg("%s: got %.17g, want %.17g", text, v->u.d, want);
        if (i % 1000 == 0) hk_arena_reset(&g_arena);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_surrogates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_and_type_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_double, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_float, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_string_repairs_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_match_strtod, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
