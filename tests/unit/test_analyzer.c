/* Unit tests for src/text/analyzer.c: normalization, case folding, segmentation, stop
 * words, stemming per language, and rejection of malformed UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "text/analyzer.h"

/* Analyzes text and compares the terms, joined with single spaces, to want. */
static void expect_terms(uint32_t lang, uint32_t flags, const char *text, const char *want) {
    txt_analyzer *a = NULL;
    assert_int_equal(txt_analyzer_new(lang, flags, &a), HK_OK);
    txt_terms t;
    assert_int_equal(txt_analyze(a, text, strlen(text), &t), HK_OK);
    char got[1024] = "";
    for (size_t i = 0; i < t.n; i++) {
        if (i) strcat(got, " ");
        strcat(got, t.terms[i]);
    }
    if (strcmp(got, want)) fail_msg("analyze(\"%s\"): got \"%s\", want \"%s\"", text, got, want);
    txt_terms_free(&t);
    txt_analyzer_free(a);
}

static void test_stemming_english(void **state) {
    (void)state;
    expect_terms(0, 0, "Running runs ran", "run run ran");
    expect_terms(0, 0, "The connections of the connected networks",
                 "connect connect network");
    expect_terms(0, HK_TEXT_NO_STEM, "Running runs", "running runs");
}

static void test_normalization(void **state) {
    (void)state;
    /* Case folding maps sharp s to "ss"; NFKC splits the fi ligature; full-width Latin
     * letters and digits become ASCII. */
    expect_terms(0, HK_TEXT_NO_STEM, "Straße STRASSE", "strasse strasse");
    expect_terms(0, HK_TEXT_NO_STEM, "\xEF\xAC\x81nd", "find");              /* U+FB01 */
    expect_terms(0, HK_TEXT_NO_STEM, "\xEF\xBC\xA8\xEF\xBC\xA9 \xEF\xBC\x92", "hi 2"); /* ＨＩ ２ */
    /* A decomposed e + combining acute composes to U+00E9 and stays in the word. */
    expect_terms(0, HK_TEXT_NO_STEM, "Cafe\xCC\x81 caf\xC3\xA9", "caf\xC3\xA9 caf\xC3\xA9");
    /* A soft hyphen (default ignorable) vanishes instead of splitting the word. */
    expect_terms(0, HK_TEXT_NO_STEM, "hy\xC2\xADphen", "hyphen");
    /* Greek capital sigma folds. */
    expect_terms(0, HK_TEXT_NO_STEM, "\xCE\xA3\xCE\x9F\xCE\xA6\xCE\x99\xCE\x91",
                 "\xCF\x83\xCE\xBF\xCF\x86\xCE\xB9\xCE\xB1");
}

static void test_segmentation(void **state) {
    (void)state;
    expect_terms(0, HK_TEXT_NO_STEM | HK_TEXT_NO_STOPWORDS,
                 "e-mail: x_y@z.org, 3.14 (v2)! don't", "e mail x y z org 3 14 v2 don t");
    /* Han characters are one term each; Cyrillic runs are words. */
    expect_terms(0, HK_TEXT_NO_STEM, "\xE4\xB8\xAD\xE6\x96\x87 \xD0\x9C\xD0\xB8\xD1\x80",
                 "\xE4\xB8\xAD \xE6\x96\x87 \xD0\xBC\xD0\xB8\xD1\x80");
    /* A leading combining mark does not start a term. */
    expect_terms(0, HK_TEXT_NO_STEM, "\xCC\x81 ok", "ok");
    /* Terms over TXT_MAX_TERM bytes are dropped; exactly TXT_MAX_TERM is kept. */
    char buf[400], want[200];
    memset(buf, 'a', 129);
    strcpy(buf + 129, " b ");
    memset(buf + 132, 'c', 128);
    buf[260] = 0;
    strcpy(want, "b ");
    memset(want + 2, 'c', 128);
    want[130] = 0;
    expect_terms(0, HK_TEXT_NO_STEM, buf, want);
    expect_terms(0, 0, "", "");
    expect_terms(0, 0, "  ,,, ", "");
}

static void test_stop_words(void **state) {
    (void)state;
    expect_terms(0, 0, "What is the shape of a wing?", "shape wing");
    expect_terms(0, HK_TEXT_NO_STOPWORDS, "the wing", "the wing");
    expect_terms(0, 0, "THE The tHe", "");
    /* Other languages have no list yet, but stem. */
    uint32_t fr;
    assert_true(txt_language_parse("french", &fr));
    expect_terms(fr, 0, "les chevaux continuation", "le cheval continu");
    uint32_t de;
    assert_true(txt_language_parse("german", &de));
    expect_terms(de, 0, "Häuser", "haus");
}

static void test_languages(void **state) {
    (void)state;
    assert_string_equal(txt_language_name(0), "english");
    assert_null(txt_language_name(txt_language_count()));
    uint32_t l;
    assert_false(txt_language_parse("klingon", &l));
    assert_int_equal(hk_language_parse("klingon", &l), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "klingon"));
    /* Every listed language has a Snowball stemmer in libstemmer. */
    for (uint32_t i = 0; i < txt_language_count(); i++) {
        txt_analyzer *a = NULL;
        if (txt_analyzer_new(i, 0, &a) != HK_OK) fail_msg("no stemmer for %s", txt_language_name(i));
        txt_analyzer_free(a);
    }
    txt_analyzer *a = NULL;
    assert_int_equal(txt_analyzer_new(txt_language_count(), 0, &a), HK_INVALID);
}

static void test_invalid_utf8(void **state) {
    (void)state;
    txt_analyzer *a = NULL;
    assert_int_equal(txt_analyzer_new(0, 0, &a), HK_OK);
    static const char *bad[] = {"ab\xC3", "\xC0\xAF", "x\xED\xA0\x80y", "\xF5\x80\x80\x80", "\xFF"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        txt_terms t;
        assert_int_equal(txt_analyze(a, bad[i], strlen(bad[i]), &t), HK_INVALID);
        assert_non_null(strstr(hk_errmsg(), "UTF-8"));
        assert_null(t.terms);
        assert_int_equal(t.n, 0);
    }
    txt_analyzer_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stemming_english), cmocka_unit_test(test_normalization),
        cmocka_unit_test(test_segmentation),     cmocka_unit_test(test_stop_words),
        cmocka_unit_test(test_languages),        cmocka_unit_test(test_invalid_utf8)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
