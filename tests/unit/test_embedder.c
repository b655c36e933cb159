/* Unit tests for src/text/embedder.c, sif.c and sif_build.c: the converter on a small
 * source written here (keys through the analyzer, duplicates, malformed sources), the
 * table loader against damage (truncation, a flipped bit, bad magic, a missing file),
 * binary16 conversion, and, with the real GloVe table made by scripts/setup.sh, that
 * embedding is deterministic and puts similar sentences closer than unrelated ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "text/sif.h"

static char g_dir[4096];

static const char *path_in(const char *name) {
    static char p[2][4352];
    static int which;
    which ^= 1;
    snprintf(p[which], sizeof p[which], "%s/%s", g_dir, name);
    return p[which];
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A source in the package's shape, dimension 4: rank order the, ",", cat, Kitten, dog,
 * e-mail, car, CAT (folds onto cat, less frequent: dropped), engine. */
static const char *k_source =
    "{\"precision\":8,\"l2NormIndex\":4,\"wordIndex\":5,\"size\":9,\"dimensions\":4,"
    "\"words\":[\"the\",\",\",\"cat\",\"Kitten\",\"dog\",\"e-mail\",\"car\",\"CAT\",\"engine\"],"
    "\"vectors\":{"
    "\"the\":[0.5,0.5,0.5,0.5,1,0],"
    "\",\":[0.1,0.1,0.1,0.1,0.2,1],"
    "\"cat\":[1,0.1,0,0,1,2],"
    "\"Kitten\":[0.9,0.2,0,0,1,3],"
    "\"dog\":[0.8,0.3,0.1,0,1,4],"
    "\"e-mail\":[0,0,1,0,1,5],"
    "\"car\":[0,0,0.1,1,1,6],"
    "\"CAT\":[-1,-1,-1,-1,2,7],"
    "\"engine\":[0,0.1,0.2,0.9,1,8]},"
    "\"unkVector\":[0,0,0,0,0,-1]}";

static hk_embedder *convert_and_open(const char *src_text, const char *name) {
    const char *src = path_in("src.json"), *out = path_in(name);
    write_file(src, src_text);
    hk_embedder_convert_options o = {"fixture@1", 0, 0};
    hk_status st = hk_embedder_convert(src, out, &o);
    if (st) fail_msg("convert: %s", hk_errmsg());
    hk_embedder *e = NULL;
    st = hk_embedder_open(out, &e);
    if (st) fail_msg("open: %s", hk_errmsg());
    return e;
}

static double cosine(const float *a, const float *b, uint32_t dim) {
    double d = 0, na = 0, nb = 0;
    for (uint32_t i = 0; i < dim; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return d / sqrt(na * nb);
}

static void test_convert_fixture(void **state) {
    (void)state;
    hk_embedder *e = convert_and_open(k_source, "fix.hkem");
    hk_embedder_info in;
    assert_int_equal(hk_embedder_info_get(e, &in), HK_OK);
    /* "," and "e-mail" are not single terms; "CAT" folds onto "cat" and loses to it. */
    assert_int_equal(in.words, 6);
    assert_int_equal(in.source_words, 9);
    assert_int_equal(in.dim, 4);
    assert_int_equal(hk_embedder_dim(e), 4);
    assert_string_equal(in.kind, "sif");
    assert_string_equal(in.source, "fixture@1");
    assert_true(fabs(in.sif_a - 1e-4) < 1e-9);
    assert_int_equal(in.component_words, 20);

    const char *texts[] = {"The CAT!", "kitten", "nothing known here", "cat", "Car engine"};
    float v[5 * 4];
    uint32_t known[5];
    assert_int_equal(hk_embed(e, texts, NULL, 5, v, known), HK_OK);
    assert_int_equal(known[0], 2); /* "the" and "cat" (CAT folded) */
    assert_int_equal(known[1], 1); /* "Kitten" was stored folded */
    assert_int_equal(known[2], 0);
    for (int d = 0; d < 4; d++) assert_true(v[2 * 4 + d] == 0.0f);
    for (int t = 0; t < 5; t++) {
        if (t == 2) continue;
        double n = 0;
        for (int d = 0; d < 4; d++) n += (double)v[t * 4 + d] * v[t * 4 + d];
        assert_true(fabs(n - 1) < 1e-5);
    }
    /* cat is nearer kitten than the car engine is. */
    assert_true(cosine(v + 3 * 4, v + 1 * 4, 4) > cosine(v + 3 * 4, v + 4 * 4, 4));
    /* Lengths instead of NUL terminators: "cat" out of "catalogue". */
    const char *pre[] = {"catalogue"};
    size_t lens[] = {3};
    float w[4];
    assert_int_equal(hk_embed(e, pre, lens, 1, w, known), HK_OK);
    assert_int_equal(known[0], 1);
    assert_memory_equal(w, v + 3 * 4, sizeof w);
    /* Invalid UTF-8 is refused, naming the text. */
    const char *bad[] = {"ok", "bad \xC3"};
    assert_int_equal(hk_embed(e, bad, NULL, 2, v, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "text 1"));
    hk_embedder_close(e);
    hk_embedder_close(NULL);
}

static void test_convert_no_component(void **state) {
    (void)state;
    const char *src = path_in("src.json"), *out = path_in("nc.hkem");
    write_file(src, k_source);
    hk_embedder_convert_options o = {NULL, 1e-3, HK_EMBED_NO_COMPONENT};
    assert_int_equal(hk_embedder_convert(src, out, &o), HK_OK);
    hk_embedder *e = NULL;
    assert_int_equal(hk_embedder_open(out, &e), HK_OK);
    hk_embedder_info in;
    hk_embedder_info_get(e, &in);
    assert_int_equal(in.component_words, 0);
    /* Without a component and with one word, the embedding is that word's vector,
     * normalized (binary16 keeps 1, 0.1 and 0 closely enough). */
    const char *t[] = {"cat"};
    float v[4];
    assert_int_equal(hk_embed(e, t, NULL, 1, v, NULL), HK_OK);
    double n = sqrt(1 + 0.01);
    assert_true(fabs(v[0] - 1 / n) < 1e-3 && fabs(v[1] - 0.1 / n) < 1e-3 && v[2] == 0 && v[3] == 0);
    hk_embedder_close(e);
}

/* Malformed sources are refused with the file and what is wrong. */
static void expect_bad_source(const char *text, const char *want) {
    const char *src = path_in("bad.json"), *out = path_in("bad.hkem");
    write_file(src, text);
    hk_status st = hk_embedder_convert(src, out, NULL);
    assert_int_equal(st, HK_INVALID);
    if (!strstr(hk_errmsg(), want) || !strstr(hk_errmsg(), "bad.json"))
        fail_msg("error '%s' lacks '%s' or the file name", hk_errmsg(), want);
    assert_false(fs_test_exists(out));
}

static void test_convert_bad_sources(void **state) {
    (void)state;
    char trunc[512];
    snprintf(trunc, sizeof trunc, "%.*s", 300, k_source);
    expect_bad_source(trunc, "truncated");
    expect_bad_source("{\"size\":1,\"dimensions\":2,\"wordIndex\":3,\"l2NormIndex\":2,"
                      "\"words\":[\"a\"],\"vectors\":{\"a\":[1,2,1]}}", "has 3 numbers, not 4");
    expect_bad_source("{\"size\":2,\"dimensions\":1,\"wordIndex\":2,\"l2NormIndex\":1,"
                      "\"words\":[\"a\",\"b\"],\"vectors\":{\"a\":[1,1,1]}}", "not that word");
    expect_bad_source("{\"size\":2,\"dimensions\":1,\"wordIndex\":2,\"l2NormIndex\":1,"
                      "\"words\":[\"a\",\"b\"],\"vectors\":{\"a\":[1,1,0]}}", "'b') has no vector");
    expect_bad_source("{\"size\":1,\"dimensions\":1,\"wordIndex\":2,\"l2NormIndex\":1,"
                      "\"words\":[\"a\"],\"vectors\":{\"a\":[1e9,1,0]}}", "binary16");
    expect_bad_source("{\"size\":1,\"dimensions\":1,\"wordIndex\":2,\"l2NormIndex\":1,"
                      "\"vectors\":{\"a\":[1,1,0]}}", "before \"words\"");
    expect_bad_source("[1,2]", "expected '{'");
    const char *src = path_in("absent.json");
    assert_int_equal(hk_embedder_convert(src, path_in("x.hkem"), NULL), HK_NOT_FOUND);
}

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    fclose(b);
}

static void expect_corrupt(const char *path, hk_status want_st, const char *want) {
    hk_embedder *e = NULL;
    hk_status st = hk_embedder_open(path, &e);
    assert_null(e);
    assert_int_equal(st, want_st);
    if (!strstr(hk_errmsg(), want) || !strstr(hk_errmsg(), path))
        fail_msg("error '%s' lacks '%s' or the path", hk_errmsg(), want);
}

static void test_damaged_tables(void **state) {
    (void)state;
    hk_embedder_close(convert_and_open(k_source, "good.hkem"));
    const char *good = path_in("good.hkem"), *bad = path_in("damaged.hkem");
    long size = tu_file_size(good);
    assert_true(size > (long)SIF_HEADER);
    /* Truncated by one byte, to half, and into the header. */
    long cuts[] = {size - 1, size / 2, 40, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        copy_file(good, bad);
        tu_truncate(bad, cuts[i]);
        expect_corrupt(bad, HK_CORRUPT, "truncated");
    }
    /* One flipped bit anywhere fails the checksum: in a vector, in a word, in the CRC. */
    sif_layout l;
    hk_embedder *e = NULL;
    assert_int_equal(hk_embedder_open(good, &e), HK_OK);
    hk_embedder_info in;
    hk_embedder_info_get(e, &in);
    FILE *f = fopen(good, "rb");
    uint8_t hdr[SIF_HEADER];
    assert_int_equal(fread(hdr, 1, sizeof hdr, f), sizeof hdr);
    fclose(f);
    sif_layout_of(in.dim, (uint32_t)in.words, hk_load_u32(hdr + 36), &l);
    hk_embedder_close(e);
    long offs[] = {(long)l.vectors + 3, (long)l.strings, (long)l.crc, (long)l.weights + 1};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        copy_file(good, bad);
        tu_flip_bit(bad, offs[i], 2);
        expect_corrupt(bad, HK_CORRUPT, "checksum");
    }
    /* Appended bytes change the length the header records. */
    copy_file(good, bad);
    f = fopen(bad, "ab");
    fputs("x", f);
    fclose(f);
    expect_corrupt(bad, HK_CORRUPT, "appended");
    /* Another file entirely, and a missing one. */
    write_file(bad, "GGUF and then something else entirely");
    expect_corrupt(bad, HK_CORRUPT, "not an embedding table");
    expect_corrupt(path_in("missing.hkem"), HK_NOT_FOUND, "not found");
}

static void test_binary16(void **state) {
    (void)state;
    const float exact[] = {0.0f, 1.0f, -2.0f, 0.5f, 65504.0f, 6.103515625e-05f, 5.9604645e-08f, -0.099975586f};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        assert_true(sif_f16_to_f32(sif_f32_to_f16(exact[i])) == exact[i]);
    /* Round to nearest even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10. */
    assert_int_equal(sif_f32_to_f16(1.0f + 1.0f / 2048), 0x3C00);
    assert_int_equal(sif_f32_to_f16(1.0f + 3.0f / 2048), 0x3C02);
    assert_int_equal(sif_f32_to_f16(70000.0f), 0x7C00);
    /* Relative error of any normal value stays within 2^-11. */
    for (float x = -8.0f; x < 8.0f; x += 0.0137f) {
        if (fabsf(x) < 1e-4f) continue;
        float y = sif_f16_to_f32(sif_f32_to_f16(x));
        assert_true(fabsf(y - x) <= fabsf(x) / 2048 + 1e-12f);
    }
}

/* With the GloVe table from scripts/setup.sh. */
static hk_embedder *open_real(void) {
    const char *path = hk_embedder_default_path();
    if (!fs_test_exists(path)) {
        fprintf(stderr, "skipped: no embedding table at %s (scripts/setup.sh makes it)\n", path);
        return NULL;
    }
    hk_embedder *e = NULL;
    if (hk_embedder_open(path, &e)) fail_msg("open %s: %s", path, hk_errmsg());
    return e;
}

static void test_real_deterministic(void **state) {
    (void)state;
    hk_embedder *e = open_real();
    if (!e) skip();
    assert_int_equal(hk_embedder_dim(e), 100);
    const char *texts[] = {"The boundary layer separates from the wing at high angles of attack.",
                           "Heat transfer in supersonic flow", "",
                           "The boundary layer separates from the wing at high angles of attack."};
    float a[4 * 100], b[100];
    uint32_t known[4];
    assert_int_equal(hk_embed(e, texts, NULL, 4, a, known), HK_OK);
    assert_int_equal(known[2], 0);
    assert_true(known[0] >= 12);
    assert_memory_equal(a, a + 3 * 100, 100 * sizeof(float));
    assert_int_equal(hk_embed(e, texts + 1, NULL, 1, b, NULL), HK_OK);
    assert_memory_equal(b, a + 100, sizeof b);
    /* A second handle on the same table gives the same bits. */
    hk_embedder *e2 = NULL;
    assert_int_equal(hk_embedder_open(NULL, &e2), HK_OK);
    assert_int_equal(hk_embed(e2, texts, NULL, 1, b, NULL), HK_OK);
    assert_memory_equal(b, a, sizeof b);
    hk_embedder_close(e2);
    hk_embedder_close(e);
}

static void test_real_similarity(void **state) {
    (void)state;
    hk_embedder *e = open_real();
    if (!e) skip();
    /* Each row: a sentence, a paraphrase sharing few or no words, an unrelated one. */
    const char *rows[][3] = {
        {"The cat sat on the mat.", "A kitten was sleeping on the rug.",
         "The stock market fell sharply on Tuesday."},
        {"Heat transfer to the surface of a body in hypersonic flow.",
         "Thermal loads on a vehicle at very high Mach numbers.",
         "The novel describes a family living in rural Ireland."},
        {"The doctor prescribed medicine for the patient's fever.",
         "A physician gave the sick man drugs to treat his illness.",
         "Engineers tested the bridge under heavy traffic loads."},
        {"Libraries classify books by subject for retrieval.",
         "Cataloguing documents so readers can find them.",
         "The football team won the championship final."}};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        float v[3 * 100];
        assert_int_equal(hk_embed(e, rows[r], NULL, 3, v, NULL), HK_OK);
        double near = cosine(v, v + 100, 100), far = cosine(v, v + 200, 100);
        if (!(near > far + 0.1))
            fail_msg("row %zu: cos(sentence, paraphrase) %.3f is not clearly above cos(sentence, "
                     "unrelated) %.3f", r, near, far);
    }
    hk_embedder_close(e);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir("embedder"));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmrf(g_dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_fixture),    cmocka_unit_test(test_convert_no_component),
        cmocka_unit_test(test_convert_bad_sources), cmocka_unit_test(test_damaged_tables),
        cmocka_unit_test(test_binary16),           cmocka_unit_test(test_real_deterministic),
        cmocka_unit_test(test_real_similarity)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
