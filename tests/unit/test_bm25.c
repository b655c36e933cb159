/* Unit tests for src/text/bm25.c: BM25 scores against the formula, MaxScore top-k equal
 * to exhaustive scoring (with updates, deletes and filters), the snapshot section's round
 * trip and its rejection of damaged bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/bm25.h"

static txt_analyzer *plain; /* no stemming, no stop words: terms are the words */

static bm25_doc make_doc(const char *text) {
    txt_terms t;
    assert_int_equal(txt_analyze(plain, text, strlen(text), &t), HK_OK);
    bm25_doc d;
    assert_int_equal(bm25_doc_from_terms(&t, &d), HK_OK);
    return d;
}

static bm25_index *new_index(float k1, float b) {
    bm25_params p = {0, HK_TEXT_NO_STEM | HK_TEXT_NO_STOPWORDS, k1, b};
    bm25_index *ix;
    assert_int_equal(bm25_new(&p, &ix), HK_OK);
    return ix;
}

static void add_text(bm25_index *ix, uint32_t slot, const char *text) {
    bm25_doc d = make_doc(text);
    assert_int_equal(bm25_add(ix, slot, &d), HK_OK);
    bm25_doc_free(&d);
}

static void remove_text(bm25_index *ix, uint32_t slot, const char *text) {
    bm25_doc d = make_doc(text);
    bm25_remove(ix, slot, &d);
    bm25_doc_free(&d);
}

static int setup(void **state) {
    (void)state;
    return txt_analyzer_new(0, HK_TEXT_NO_STEM | HK_TEXT_NO_STOPWORDS, &plain) != HK_OK;
}

static int teardown(void **state) {
    (void)state;
    txt_analyzer_free(plain);
    return 0;
}

/* Three documents scored by hand from the formula in bm25.h. */
static void test_formula(void **state) {
    (void)state;
    bm25_index *ix = new_index(1.2f, 0.75f);
    add_text(ix, 7, "wing wing flow");          /* dl 3 */
    add_text(ix, 3, "flow over a flat plate");  /* dl 5 */
    add_text(ix, 9, "wing");                    /* dl 1 */
    bm25_doc q = make_doc("wing flow");
    bm25_hit hits[3];
    size_t n;
    assert_int_equal(bm25_search(ix, &q, 3, NULL, 0, hits, &n, NULL), HK_OK);
    assert_int_equal(n, 3);
    double N = 3, avgdl = 9.0 / 3, k1 = 1.2, b = 0.75;
    double idf2 = log(1 + (N - 2 + 0.5) / (2 + 0.5)); /* wing and flow: df 2 each */
#define TERM(tf, dl) (idf2 * (tf) * (k1 + 1) / ((tf) + k1 * (1 - b + b * (dl) / avgdl)))
    double s7 = TERM(2, 3) + TERM(1, 3), s9 = TERM(1, 1), s3 = TERM(1, 5);
    assert_int_equal(hits[0].slot, 7);
    assert_int_equal(hits[1].slot, 9);
    assert_int_equal(hits[2].slot, 3);
    assert_float_equal(hits[0].score, s7, 1e-5);
    assert_float_equal(hits[1].score, s9, 1e-5);
    assert_float_equal(hits[2].score, s3, 1e-5);
    /* A repeated query term counts twice. */
    bm25_doc q2 = make_doc("plate plate");
    assert_int_equal(bm25_search(ix, &q2, 3, NULL, 0, hits, &n, NULL), HK_OK);
    assert_int_equal(n, 1);
    double idf1 = log(1 + (N - 1 + 0.5) / (1 + 0.5));
    assert_float_equal(hits[0].score, 2 * idf1 * (k1 + 1) / (1 + k1 * (1 - b + b * 5 / avgdl)), 1e-5);
    /* Removing a document updates N, df and avgdl: slot 3 gone leaves two documents. */
    remove_text(ix, 3, "flow over a flat plate");
    assert_int_equal(bm25_search(ix, &q2, 3, NULL, 0, hits, &n, NULL), HK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(bm25_search(ix, &q, 3, NULL, 0, hits, &n, NULL), HK_OK);
    assert_int_equal(n, 2);
    N = 2, avgdl = 2;
    double idfw = log(1 + (N - 2 + 0.5) / 2.5), idff = log(1 + (N - 1 + 0.5) / 1.5);
    double w7 = idfw * 2 * 2.2 / (2 + k1 * (1 - b + b * 3 / avgdl)) +
                idff * 1 * 2.2 / (1 + k1 * (1 - b + b * 3 / avgdl));
    assert_int_equal(hits[0].slot, 7);
    assert_float_equal(hits[0].score, w7, 1e-5);
    assert_int_equal(bm25_validate(ix), HK_OK);
    bm25_doc_free(&q);
    bm25_doc_free(&q2);
    bm25_free(ix);
}

/* A Zipf-like random corpus: word w with probability ~ 1 / (w + 1). */
static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static void random_text(char *buf, size_t cap, int words) {
    size_t o = 0;
    for (int i = 0; i < words; i++) {
        uint32_t w = (uint32_t)(600.0 / (1 + rnd() % 600)) + rnd() % 3;
        o += (size_t)snprintf(buf + o, cap - o, "w%u ", w);
    }
    buf[o] = 0;
}

static void compare_topk(bm25_index *ix, const roaring_bitmap_t *allow, int queries) {
    char qt[256];
    bm25_hit a[100], b[100];
    for (int qi = 0; qi < queries; qi++) {
        random_text(qt, sizeof qt, 1 + (int)(rnd() % 6));
        bm25_doc q = make_doc(qt);
        size_t k = 1 + rnd() % 100, na, nb;
        bm25_stats sa = {0}, sb = {0};
        assert_int_equal(bm25_search(ix, &q, k, allow, 0, a, &na, &sa), HK_OK);
        assert_int_equal(bm25_search(ix, &q, k, allow, 1, b, &nb, &sb), HK_OK);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) {
            if (a[i].slot != b[i].slot || a[i].score != b[i].score)
                fail_msg("query '%s' k %zu rank %zu: maxscore slot %u score %.9g, exhaustive slot "
                         "%u score %.9g", qt, k, i, a[i].slot, (double)a[i].score, b[i].slot,
                         (double)b[i].score);
            if (allow) assert_true(roaring_bitmap_contains(allow, a[i].slot));
        }
        assert_true(sa.scored <= sb.scored);
        bm25_doc_free(&q);
    }
}

/* Whether the analyzed document holds every term of q. */
static int holds_all(const char *text, const bm25_doc *q) {
    bm25_doc d = make_doc(text);
    int all = 1;
    for (uint32_t i = 0; i < q->nterms && all; i++) {
        int found = 0;
        for (uint32_t j = 0; j < d.nterms && !found; j++) found = !strcmp(d.terms[j], q->terms[i]);
        all = found;
    }
    bm25_doc_free(&d);
    return all;
}

/* All-terms matching equals the exhaustive any-term ranking restricted to the documents
 * holding every term (same scores, same order). */
static void compare_all(bm25_index *ix, char (*texts)[400], uint32_t n, const roaring_bitmap_t *allow,
                        int queries) {
    char qt[256];
    bm25_hit *full = malloc(n * sizeof *full), got[50];
    for (int qi = 0; qi < queries; qi++) {
        random_text(qt, sizeof qt, 1 + (int)(rnd() % 3));
        bm25_doc q = make_doc(qt);
        size_t nf, ng, k = 1 + rnd() % 50;
        assert_int_equal(bm25_search(ix, &q, 0, allow, 1, full, &nf, NULL), HK_OK);
        assert_int_equal(bm25_search_all(ix, &q, k, allow, got, &ng, NULL), HK_OK);
        size_t m = 0;
        for (size_t i = 0; i < nf && m < k; i++) {
            if (!holds_all(texts[full[i].slot], &q)) continue;
            if (m >= ng || got[m].slot != full[i].slot || got[m].score != full[i].score)
                fail_msg("all-terms query '%s' rank %zu: got slot %u, want slot %u", qt, m,
                         m < ng ? got[m].slot : 0, full[i].slot);
            m++;
        }
        assert_int_equal(m, ng);
        bm25_doc_free(&q);
    }
    free(full);
}

static void test_maxscore_equals_exhaustive(void **state) {
    (void)state;
    enum { N = 3000 };
    static char texts[N][400];
    bm25_index *ix = new_index(1.2f, 0.75f);
    for (uint32_t s = 0; s < N; s++) {
        random_text(texts[s], sizeof texts[s], 3 + (int)(rnd() % 40));
        add_text(ix, s, texts[s]);
    }
    compare_topk(ix, NULL, 300);
    /* Updates and deletes leave tombstones that must never surface. */
    for (int i = 0; i < 800; i++) {
        uint32_t s = rnd() % N;
        if (!texts[s][0]) continue;
        remove_text(ix, s, texts[s]);
        if (i % 3) {
            random_text(texts[s], sizeof texts[s], 3 + (int)(rnd() % 40));
            add_text(ix, s, texts[s]);
        } else {
            texts[s][0] = 0;
        }
    }
    assert_int_equal(bm25_validate(ix), HK_OK);
    compare_topk(ix, NULL, 300);
    roaring_bitmap_t *allow = roaring_bitmap_create();
    for (uint32_t s = 0; s < N; s += 1 + s % 5) roaring_bitmap_add(allow, s);
    compare_topk(ix, allow, 200);
    compare_all(ix, texts, N, NULL, 150);
    compare_all(ix, texts, N, allow, 100);
    /* MaxScore skips work: over all queries it scores far fewer documents. */
    char qt[64];
    uint64_t fast = 0, full = 0;
    for (int i = 0; i < 100; i++) {
        random_text(qt, sizeof qt, 4);
        bm25_doc q = make_doc(qt);
        bm25_hit h[10];
        size_t n;
        bm25_stats sa = {0}, sb = {0};
        assert_int_equal(bm25_search(ix, &q, 10, NULL, 0, h, &n, &sa), HK_OK);
        assert_int_equal(bm25_search(ix, &q, 10, NULL, 1, h, &n, &sb), HK_OK);
        fast += sa.scored;
        full += sb.scored;
        bm25_doc_free(&q);
    }
    assert_true(fast * 2 < full);
    /* Round trip through the snapshot section: rows = live slots in order. */
    uint32_t *row = malloc(N * sizeof *row);
    uint8_t *has = calloc(N, 1);
    uint32_t nrows = 0;
    for (uint32_t s = 0; s < N; s++) row[s] = s % 7 ? nrows++ : BM25_NONE; /* drop some slots */
    for (uint32_t s = 0; s < N; s++)
        if (row[s] != BM25_NONE) has[row[s]] = texts[s][0] != 0;
    hk_buf w1;
    hk_buf_init(&w1);
    assert_int_equal(bm25_write(ix, row, N, nrows, &w1), HK_OK);
    bm25_index *lx;
    assert_int_equal(bm25_load(w1.data, w1.len, nrows, has, &lx), HK_OK);
    assert_int_equal(bm25_validate(lx), HK_OK);
    hk_buf w2;
    hk_buf_init(&w2);
    uint32_t *ident = malloc(nrows * sizeof *ident);
    for (uint32_t r = 0; r < nrows; r++) ident[r] = r;
    assert_int_equal(bm25_write(lx, ident, nrows, nrows, &w2), HK_OK);
    assert_int_equal(w1.len, w2.len);
    assert_memory_equal(w1.data, w2.data, w1.len);
    compare_topk(lx, NULL, 100);
    /* Every hit of the loaded index is a row whose slot has a text. */
    for (int i = 0; i < 50; i++) {
        random_text(qt, sizeof qt, 3);
        bm25_doc q = make_doc(qt);
        bm25_hit h2[20];
        size_t n2;
        assert_int_equal(bm25_search(lx, &q, 20, NULL, 1, h2, &n2, NULL), HK_OK);
        for (size_t j = 0; j < n2; j++) assert_true(h2[j].slot < nrows && has[h2[j].slot]);
        bm25_doc_free(&q);
    }
    /* Damage: every single-byte change of the header and a sample of the rest is
     * either rejected or loads an index that validates. */
    for (size_t i = 0; i < w1.len; i += i < 200 ? 1 : 97) {
        for (int bit = 0; bit < 8; bit += 3) {
            w1.data[i] ^= (uint8_t)(1 << bit);
            bm25_index *bx = NULL;
            hk_status st = bm25_load(w1.data, w1.len, nrows, has, &bx);
            if (st == HK_OK) {
                assert_int_equal(bm25_validate(bx), HK_OK);
                bm25_free(bx);
            } else {
                assert_int_equal(st, HK_CORRUPT);
            }
            w1.data[i] ^= (uint8_t)(1 << bit);
        }
    }
    /* Truncations are rejected. */
    for (size_t cut = 0; cut < w1.len; cut += 1 + cut / 3) {
        bm25_index *bx = NULL;
        assert_int_equal(bm25_load(w1.data, cut, nrows, has, &bx), HK_CORRUPT);
    }
    /* A row count that differs from the snapshot's is rejected. */
    bm25_index *bx = NULL;
    assert_int_equal(bm25_load(w1.data, w1.len, nrows - 1, has, &bx), HK_CORRUPT);
    hk_buf_free(&w1);
    hk_buf_free(&w2);
    free(row);
    free(has);
    free(ident);
    roaring_bitmap_free(allow);
    bm25_free(lx);
    bm25_free(ix);
}

static void test_params_and_edges(void **state) {
    (void)state;
    /* b = 0: length does not matter; k1 changes saturation. */
    bm25_index *ix = new_index(2.0f, 0.0f);
    add_text(ix, 0, "x y y y y y y y y y");
    add_text(ix, 1, "x");
    bm25_doc q = make_doc("x");
    bm25_hit h[4];
    size_t n;
    assert_int_equal(bm25_search(ix, &q, 4, NULL, 0, h, &n, NULL), HK_OK);
    assert_int_equal(n, 2);
    assert_float_equal(h[0].score, h[1].score, 0);
    assert_int_equal(h[0].slot, 0); /* ties: earlier document first */
    /* k = 0 returns every match; an empty query or unknown terms return none. */
    assert_int_equal(bm25_search(ix, &q, 0, NULL, 0, h, &n, NULL), HK_OK);
    assert_int_equal(n, 2);
    bm25_doc e = make_doc("zzz ,,,");
    assert_int_equal(bm25_search(ix, &e, 4, NULL, 0, h, &n, NULL), HK_OK);
    assert_int_equal(n, 0);
    bm25_doc_free(&e);
    /* A text without terms is not a document. */
    add_text(ix, 5, "   ");
    assert_false(bm25_has(ix, 5));
    bm25_info info;
    bm25_get_info(ix, &info);
    assert_int_equal(info.docs, 2);
    assert_int_equal(info.tokens, 11);
    assert_int_equal(info.terms, 2);
    bm25_doc_free(&q);
    bm25_free(ix);
    /* An empty index writes and loads. */
    ix = new_index(1.2f, 0.75f);
    hk_buf w;
    hk_buf_init(&w);
    assert_int_equal(bm25_write(ix, NULL, 0, 0, &w), HK_OK);
    bm25_index *lx = NULL;
    assert_int_equal(bm25_load(w.data, w.len, 0, NULL, &lx), HK_OK);
    assert_float_equal(bm25_get_params(lx)->k1, 1.2f, 0);
    bm25_free(lx);
    hk_buf_free(&w);
    bm25_free(ix);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_formula),
                                       cmocka_unit_test(test_maxscore_equals_exhaustive),
                                       cmocka_unit_test(test_params_and_edges)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
