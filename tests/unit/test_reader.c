/*
 * test_reader.c — the import readers (src/adapters/reader*.c).
 *
 * Fixtures are written at test time by real writers: fvecs/bvecs with fwrite, .npy with
 * a hand-built header for every version and dtype, plus two files NumPy itself wrote
 * (tests/data/small_*.npy) as the cross-check against the reference implementation.
 * Every error path asserts the message text, because the message is the feature: it must
 * name the file and the record. With HK_SHARED_DATA set, the BIGANN 10K base file is read
 * whole and compared with a direct read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/reader.h"

static char g_dir[PATH_MAX];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(p);
}

static int setup_dir(void **state) {
    const char *base = getenv("HK_TEST_TMP");
    if (!base || !*base) base = "/tmp";
    mkdir(base, 0777);
    snprintf(g_dir, sizeof g_dir, "%s/test_reader-XXXXXX", base);
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tpath(const char *name) {
    static char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A growable byte blob for building fixtures in memory. */
typedef struct blob {
    uint8_t b[1 << 16];
    size_t n;
} blob;

static void put(blob *b, const void *p, size_t n) {
    assert_true(b->n + n <= sizeof b->b);
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put_i32(blob *b, int32_t v) { put(b, &v, 4); }
static void put_f32(blob *b, float v) { put(b, &v, 4); }

static blob g_blob;
static blob *fresh(void) {
    g_blob.n = 0;
    return &g_blob;
}

/* Opens data (from memory) and reads until the end or an error; returns that status. */
static hk_status drain_mem(const void *data, size_t len, reader_format fmt,
                           const reader_options *opt, const char *name, size_t max) {
    reader *r;
    hk_status st = reader_open_mem(data, len, fmt, opt, name, &r);
    if (st != HK_OK) return st;
    reader_batch b;
    while ((st = reader_next(r, max, &b)) == HK_OK && b.n > 0) {
        assert_non_null(b.vectors);
    }
    if (st != HK_OK) assert_int_equal(b.n, 0);
    reader_close(r);
    return st;
}

static void expect_error(const void *data, size_t len, reader_format fmt,
                         const reader_options *opt, const char *name, const char *msg) {
    hk_status st = drain_mem(data, len, fmt, opt, name, 3);
    if (st != HK_INVALID || !strstr(hk_errmsg(), msg))
        fail_msg("expected HK_INVALID with \"%s\", got %s: \"%s\"", msg, hk_status_name(st),
                 hk_errmsg());
}

static void expect_text_error(reader_format fmt, const char *text, const char *name,
                              const char *msg) {
    expect_error(text, strlen(text), fmt, NULL, name, msg);
}

/* ---- names ---- */

static void test_format_names(void **state) {
    reader_format f;
    assert_int_equal(reader_format_parse("fvecs", &f), HK_OK);
    assert_int_equal(f, RF_FVECS);
    assert_int_equal(reader_format_parse("NDJSON", &f), HK_OK);
    assert_int_equal(f, RF_JSONL);
    assert_int_equal(reader_format_parse("xml", &f), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "unknown format 'xml'"));
    assert_int_equal(reader_format_from_path("dir.v1/base.bvecs", &f), HK_OK);
    assert_int_equal(f, RF_BVECS);
    assert_int_equal(reader_format_from_path("x.CSV", &f), HK_OK);
    assert_int_equal(f, RF_CSV);
    assert_int_equal(reader_format_from_path("x.npy", &f), HK_OK);
    assert_int_equal(f, RF_NPY);
    assert_int_equal(reader_format_from_path("a/x.txt", &f), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "unknown file extension '.txt'"));
    assert_int_equal(reader_format_from_path("dir.d/noext", &f), HK_INVALID);
    assert_int_equal(reader_format_from_path("-", &f), HK_INVALID);
}

/* ---- fvecs / bvecs ---- */

static float fv(size_t i, size_t j) { return (float)i * 10.0f + (float)j - 3.25f; }

static void test_fvecs_roundtrip(void **state) {
    const char *path = tpath("good.fvecs");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < 10; i++) {
        int32_t d = 4;
        fwrite(&d, 4, 1, f);
        for (size_t j = 0; j < 4; j++) {
            float x = fv(i, j);
            fwrite(&x, 4, 1, f);
        }
    }
    fclose(f);

    reader *r;
    assert_int_equal(reader_open(path, RF_FVECS, NULL, &r), HK_OK);
    static const size_t sizes[] = {3, 3, 3, 1, 0};
    size_t seen = 0;
    for (size_t k = 0; k < 5; k++) {
        reader_batch b;
        assert_int_equal(reader_next(r, 3, &b), HK_OK);
        assert_int_equal(b.n, sizes[k]);
        if (!b.n) break;
        assert_int_equal(b.dim, 4);
        assert_int_equal(b.first_record, seen);
        assert_int_equal(b.has_id, 0);
        assert_null(b.ids);
        assert_null(b.payloads);
        assert_null(b.texts);
        for (size_t i = 0; i < b.n; i++)
            for (size_t j = 0; j < 4; j++) assert_true(b.vectors[i * 4 + j] == fv(seen + i, j));
        seen += b.n;
        uint64_t done, total;
        reader_progress(r, &done, &total);
        assert_int_equal(total, 200);
        assert_int_equal(done, seen * 20);
    }
    assert_int_equal(seen, 10);
    reader_close(r);
}

static void test_bvecs_roundtrip(void **state) {
    const char *path = tpath("good.bvecs");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < 10; i++) {
        int32_t d = 5;
        fwrite(&d, 4, 1, f);
        for (size_t j = 0; j < 5; j++) fputc((int)((i * 29 + j * 7) & 255), f);
    }
    fclose(f);
    reader *r;
    assert_int_equal(reader_open(path, RF_BVECS, NULL, &r), HK_OK);
    size_t seen = 0;
    reader_batch b;
    while (reader_next(r, 3, &b) == HK_OK && b.n) {
        assert_int_equal(b.dim, 5);
        assert_int_equal(b.first_record, seen);
        for (size_t i = 0; i < b.n; i++)
            for (size_t j = 0; j < 5; j++)
                assert_true(b.vectors[i * 5 + j] == (float)(((seen + i) * 29 + j * 7) & 255));
        seen += b.n;
    }
    assert_int_equal(seen, 10);
    uint64_t done, total;
    reader_progress(r, &done, &total);
    assert_int_equal(done, total);
    assert_int_equal(total, 90);
    reader_close(r);
}

static void fvecs_rec(blob *b, int32_t d, const float *v, int32_t nv) {
    put_i32(b, d);
    for (int32_t j = 0; j < nv; j++) put_f32(b, v[j]);
}

static void test_fvecs_errors(void **state) {
    const float v4[] = {1, 2, 3, 4}, v5[] = {1, 2, 3, 4, 5};
    blob *b = fresh();
    fvecs_rec(b, 4, v4, 4);
    fvecs_rec(b, 5, v5, 5);
    expect_error(b->b, b->n, RF_FVECS, NULL, "x.fvecs",
                 "x.fvecs: vector 1 at byte 20: dimension 5 differs from 4");

    b = fresh();
    for (int i = 0; i < 3; i++) fvecs_rec(b, 4, v4, 4);
    fvecs_rec(b, 4, v4, 2);
    expect_error(b->b, b->n, RF_FVECS, NULL, "x.fvecs",
                 "x.fvecs: truncated vector 3 at byte 60 (expected 20 bytes, 12 remain)");

    b = fresh();
    fvecs_rec(b, 4, v4, 4);
    put(b, "\x04\x00", 2);
    expect_error(b->b, b->n, RF_FVECS, NULL, "x.fvecs",
                 "x.fvecs: truncated vector 1 at byte 20 (expected 20 bytes, 2 remain)");

    b = fresh();
    const float vn[] = {1, 2, NAN, 4};
    fvecs_rec(b, 4, v4, 4);
    fvecs_rec(b, 4, vn, 4);
    expect_error(b->b, b->n, RF_FVECS, NULL, "x.fvecs",
                 "x.fvecs: vector 1 at byte 20: component 2 is NaN");

    b = fresh();
    const float vi[] = {-INFINITY, 2, 3, 4};
    fvecs_rec(b, 4, vi, 4);
    expect_error(b->b, b->n, RF_FVECS, NULL, "x.fvecs",
                 "x.fvecs: vector 0 at byte 0: component 0 is infinite");

    b = fresh();
    fvecs_rec(b, 0, v4, 0);
    expect_error(b->b, b->n, RF_FVECS, NULL, "x.fvecs", "vector 0 at byte 0: empty vector");

    b = fresh();
    fvecs_rec(b, -3, v4, 0);
    expect_error(b->b, b->n, RF_FVECS, NULL, "x.fvecs", "dimension -3 is out of range 1..65536");

    b = fresh();
    fvecs_rec(b, 70000, v4, 4);
    expect_error(b->b, b->n, RF_FVECS, NULL, "x.fvecs", "dimension 70000 is out of range");

    /* bvecs: 4 + 4 bytes per record */
    b = fresh();
    for (int i = 0; i < 2; i++) {
        put_i32(b, 4);
        put(b, "\x01\x02\x03\x04", 4);
    }
    put_i32(b, 4);
    put(b, "\x01", 1);
    expect_error(b->b, b->n, RF_BVECS, NULL, "x.bvecs",
                 "x.bvecs: truncated vector 2 at byte 16 (expected 8 bytes, 5 remain)");
    b = fresh();
    put_i32(b, 4);
    put(b, "\x01\x02\x03\x04", 4);
    put_i32(b, 3);
    put(b, "\x01\x02\x03", 3);
    expect_error(b->b, b->n, RF_BVECS, NULL, "x.bvecs",
                 "x.bvecs: vector 1 at byte 8: dimension 3 differs from 4");
}

/* An error in the second batch replaces it, and the reader keeps reporting it. */
static void test_error_replaces_batch(void **state) {
    blob *b = fresh();
    for (int i = 0; i < 10; i++) {
        float v[2] = {(float)i, i == 4 ? NAN : 1.0f};
        fvecs_rec(b, 2, v, 2);
    }
    reader *r;
    assert_int_equal(reader_open_mem(b->b, b->n, RF_FVECS, NULL, "x.fvecs", &r), HK_OK);
    reader_batch bt;
    assert_int_equal(reader_next(r, 0, &bt), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "batch size must be at least 1"));
    assert_int_equal(reader_next(r, 3, &bt), HK_OK);
    assert_int_equal(bt.n, 3);
    assert_int_equal(reader_next(r, 3, &bt), HK_INVALID);
    assert_int_equal(bt.n, 0);
    assert_null(bt.vectors);
    assert_non_null(strstr(hk_errmsg(), "x.fvecs: vector 4 at byte 48: component 1 is NaN"));
    hk_clear_error();
    assert_int_equal(reader_next(r, 3, &bt), HK_INVALID);
    assert_int_equal(bt.n, 0);
    assert_non_null(strstr(hk_errmsg(), "x.fvecs: vector 4 at byte 48: component 1 is NaN"));
    reader_close(r);
    reader_close(NULL);
}

static void test_open_errors(void **state) {
    reader *r = (reader *)1;
    assert_int_equal(reader_open(tpath("missing.fvecs"), RF_FVECS, NULL, &r), HK_NOT_FOUND);
    assert_null(r);
    assert_non_null(strstr(hk_errmsg(), "missing.fvecs"));
    assert_int_equal(reader_open(g_dir, RF_FVECS, NULL, &r), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "is a directory"));
}

/* ---- npy ---- */

/* Writes a .npy header the way NumPy does: dict, spaces, '\n', total a multiple of 64. */
static void npy_header(blob *b, int major, const char *dict) {
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = dl + 1;
    while ((pre + hlen) % 64) hlen++;
    put(b, "\x93NUMPY", 6);
    uint8_t ver[2] = {(uint8_t)major, 0};
    put(b, ver, 2);
    if (major == 1) {
        uint16_t h = (uint16_t)hlen;
        put(b, &h, 2);
    } else {
        uint32_t h = (uint32_t)hlen;
        put(b, &h, 4);
    }
    put(b, dict, dl);
    for (size_t i = dl; i + 1 < hlen; i++) put(b, " ", 1);
    put(b, "\n", 1);
}

static void npy_simple(blob *b, int major, const char *descr, int rows, int cols) {
    char dict[160];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }",
             descr, rows, cols);
    npy_header(b, major, dict);
}

static double npy_val(int type, size_t k) {
    switch (type) {
    case 0: return (double)k * 0.75 - 7.25;          /* f4 */
    case 1: return (double)k * 1.5e10 - 3.0;         /* f8 */
    case 2: return (double)((k * 37) & 255);         /* u1 */
    case 3: return -(double)(k * 5 % 128);           /* i1 */
    case 4: return (double)k * -100003.0;            /* i4 */
    default: return (double)k * 1000000007.0 - 5e9; /* i8 */
    }
}

static void npy_put_val(blob *b, int type, double v) {
    switch (type) {
    case 0: put_f32(b, (float)v); break;
    case 1: put(b, &v, 8); break;
    case 2: { uint8_t u = (uint8_t)v; put(b, &u, 1); } break;
    case 3: { int8_t i = (int8_t)v; put(b, &i, 1); } break;
    case 4: { int32_t i = (int32_t)v; put(b, &i, 4); } break;
    default: { int64_t i = (int64_t)v; put(b, &i, 8); } break;
    }
}

static void test_npy_versions_and_dtypes(void **state) {
    static const char *descr[] = {"<f4", "<f8", "|u1", "|i1", "<i4", "<i8"};
    for (int major = 1; major <= 3; major++) {
        for (int t = 0; t < 6; t++) {
            blob *b = fresh();
            npy_simple(b, major, descr[t], 10, 3);
            for (size_t k = 0; k < 30; k++) npy_put_val(b, t, npy_val(t, k));
            const char *path = tpath("good.npy");
            write_file(path, b->b, b->n);
            reader *r;
            assert_int_equal(reader_open(path, RF_NPY, NULL, &r), HK_OK);
            size_t seen = 0;
            reader_batch bt;
            while (reader_next(r, 3, &bt) == HK_OK && bt.n) {
                assert_int_equal(bt.dim, 3);
                assert_int_equal(bt.first_record, seen);
                assert_int_equal(bt.has_id, 0);
                for (size_t i = 0; i < bt.n * 3; i++)
                    if (bt.vectors[i] != (float)npy_val(t, seen * 3 + i))
                        fail_msg("npy %d.0 %s: element %zu is %g, expected %g", major, descr[t],
                                 seen * 3 + i, bt.vectors[i], npy_val(t, seen * 3 + i));
                seen += bt.n;
            }
            assert_int_equal(seen, 10);
            uint64_t done, total;
            reader_progress(r, &done, &total);
            assert_int_equal(done, b->n);
            assert_int_equal(total, b->n);
            reader_close(r);
        }
    }
}

static const char *data_path(const char *name) {
    static char p[PATH_MAX];
    const char *src = getenv("HK_SOURCE_DIR");
    if (src) {
        snprintf(p, sizeof p, "%s/tests/data/%s", src, name);
        return p;
    }
    /* __FILE__ is .../tests/unit/test_reader.c */
    snprintf(p, sizeof p, "%s", __FILE__);
    char *s = strrchr(p, '/');
    assert_non_null(s);
    *s = 0;
    s = strrchr(p, '/');
    if (s) *s = 0;
    else snprintf(p, sizeof p, "..");
    size_t n = strlen(p);
    snprintf(p + n, sizeof p - n, "/data/%s", name);
    return p;
}

static void test_npy_written_by_numpy(void **state) {
    reader *r;
    reader_batch b;
    assert_int_equal(reader_open(data_path("small_f4.npy"), RF_NPY, NULL, &r), HK_OK);
    size_t seen = 0;
    while (reader_next(r, 4, &b) == HK_OK && b.n) {
        assert_int_equal(b.dim, 4);
        for (size_t i = 0; i < b.n * 4; i++)
            assert_true(b.vectors[i] == ((float)(seen * 4 + i) - 5.0f) / 4.0f);
        seen += b.n;
    }
    assert_int_equal(seen, 6);
    reader_close(r);

    assert_int_equal(reader_open(data_path("small_u1.npy"), RF_NPY, NULL, &r), HK_OK);
    assert_int_equal(reader_next(r, 100, &b), HK_OK);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.dim, 5);
    for (size_t i = 0; i < 15; i++) assert_true(b.vectors[i] == (float)(i * 17));
    assert_int_equal(reader_next(r, 100, &b), HK_OK);
    assert_int_equal(b.n, 0);
    reader_close(r);
}

static void npy_error(const char *dict, const char *msg) {
    blob *b = fresh();
    npy_header(b, 1, dict);
    for (int i = 0; i < 8; i++) put_f32(b, 1.0f);
    expect_error(b->b, b->n, RF_NPY, NULL, "x.npy", msg);
}

static void test_npy_errors(void **state) {
    npy_error("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 2), }",
              "x.npy: unsupported dtype '<c8'");
    npy_error("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }",
              "x.npy: unsupported dtype '<f2'");
    npy_error("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }",
              "x.npy: unsupported dtype '>f4'");
    npy_error("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 2), }",
              "unsupported dtype");
    npy_error("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
              "x.npy: fortran_order is True");
    npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (8,), }",
              "x.npy: shape (8,) is not 2-D");
    npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }",
              "shape (2, 2, 2) is not 2-D");
    npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'foo': 1}",
              "x.npy: unknown header key 'foo'");
    npy_error("{'descr': '<f4', 'fortran_order': False}", "x.npy: header lacks 'shape'");
    npy_error("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}",
              "header key 'descr' appears twice");
    npy_error("['descr']", "header is not a dict");
    npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0), }", "empty vectors");
    npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), } x",
              "unexpected text after the header dict");
    npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 70000), }",
              "dimension 70000 is out of range");
    npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
              "truncated row 2 at byte 160 (expected 16 bytes, 0 remain)");
    npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }",
              "16 unexpected bytes after the last row (data ends at byte 144)");

    expect_text_error(RF_NPY, "NUMPY\x01\x00", "x.npy", "x.npy: not a NumPy .npy file");
    blob *b = fresh();
    put(b, "\x93NUMPY\x04\x00\x10\x00", 10);
    expect_error(b->b, b->n, RF_NPY, NULL, "x.npy", "unsupported .npy format version 4.0");

    b = fresh();
    npy_simple(b, 2, "<f4", 3, 2);
    for (int i = 0; i < 5; i++) put_f32(b, 1.0f);
    expect_error(b->b, b->n, RF_NPY, NULL, "x.npy",
                 "x.npy: truncated row 2 at byte 144 (expected 8 bytes, 4 remain)");

    b = fresh();
    npy_simple(b, 1, "<f4", 3, 2);
    const float fv3[] = {1, 2, 3, NAN, 5, 6};
    for (int i = 0; i < 6; i++) put_f32(b, fv3[i]);
    expect_error(b->b, b->n, RF_NPY, NULL, "x.npy", "x.npy: row 1 at byte 136: component 1 is NaN");

    b = fresh();
    npy_simple(b, 1, "<f8", 1, 2);
    double dv[2] = {1.0, 1e300};
    put(b, dv, sizeof dv);
    expect_error(b->b, b->n, RF_NPY, NULL, "x.npy",
                 "x.npy: row 0 at byte 128: component 1 is out of float32 range");
}

/* ---- stdin: streaming without a known size ---- */

static hk_status drain_stdin(const void *data, size_t len, reader_format fmt, size_t *records) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_true(len < 65536); /* fits the pipe buffer: no writer thread needed */
    assert_int_equal(write(fds[1], data, len), (ssize_t)len);
    close(fds[1]);
    int saved = dup(0);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fds[0], 0), 0);
    close(fds[0]);
    clearerr(stdin);
    reader *r;
    hk_status st = reader_open("-", fmt, NULL, &r);
    *records = 0;
    if (st == HK_OK) {
        reader_batch b;
        while ((st = reader_next(r, 2, &b)) == HK_OK && b.n) *records += b.n;
        uint64_t done, total;
        reader_progress(r, &done, &total);
        assert_int_equal(total, 0);
        if (st == HK_OK) assert_int_equal(done, len);
        reader_close(r);
    }
    assert_int_equal(dup2(saved, 0), 0);
    close(saved);
    clearerr(stdin);
    return st;
}

static void test_stdin(void **state) {
    size_t n;
    blob *b = fresh();
    const float v[3] = {1, 2, 3};
    for (int i = 0; i < 5; i++) fvecs_rec(b, 3, v, 3);
    assert_int_equal(drain_stdin(b->b, b->n, RF_FVECS, &n), HK_OK);
    assert_int_equal(n, 5);

    const char *jl = "{\"vector\":[1,2]}\n{\"vector\":[3,4]}\n{\"vector\":[5,6]}";
    assert_int_equal(drain_stdin(jl, strlen(jl), RF_JSONL, &n), HK_OK);
    assert_int_equal(n, 3);

    b = fresh();
    npy_simple(b, 1, "<f4", 3, 2);
    for (int i = 0; i < 5; i++) put_f32(b, 1.0f);
    assert_int_equal(drain_stdin(b->b, b->n, RF_NPY, &n), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(),
                           "<stdin>: truncated row 2 at byte 144 (expected 8 bytes, 4 remain)"));
    assert_int_equal(n, 2);

    b = fresh();
    npy_simple(b, 1, "<f4", 2, 2);
    for (int i = 0; i < 5; i++) put_f32(b, 1.0f);
    assert_int_equal(drain_stdin(b->b, b->n, RF_NPY, &n), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "unexpected bytes after the last row"));
}

/* ---- jsonl ---- */

static void test_jsonl_roundtrip(void **state) {
    char text[4096];
    size_t len = 0;
    len += (size_t)snprintf(text + len, sizeof text - len, "\xEF\xBB\xBF");
    for (int i = 0; i < 10; i++) {
        if (i == 4) len += (size_t)snprintf(text + len, sizeof text - len, "\n  \t\r\n");
        if (i % 2 == 0)
            len += (size_t)snprintf(text + len, sizeof text - len,
                                    "{\"id\": %d, \"vector\": [%d, %d.5, -1e-2], \"payload\": "
                                    "{\"n\": %d, \"tags\": [\"a\", \"b\"], \"nested\": "
                                    "{\"x\": 1.5}}, \"text\": \"doc \\u00e9 %d\"}\r\n",
                                    i * 7, i, i, i, i);
        else
            len += (size_t)snprintf(text + len, sizeof text - len,
                                    "{\"vector\":[%d,%d.5,-0.01],\"id\":%d,\"payload\":null,"
                                    "\"text\":null}\n",
                                    i, i, i * 7);
    }
    const char *path = tpath("good.jsonl");
    write_file(path, text, len);
    reader *r;
    assert_int_equal(reader_open(path, RF_JSONL, NULL, &r), HK_OK);
    size_t seen = 0;
    reader_batch b;
    while (reader_next(r, 3, &b) == HK_OK && b.n) {
        assert_int_equal(b.dim, 3);
        assert_int_equal(b.first_record, seen);
        assert_int_equal(b.has_id, 1);
        for (size_t k = 0; k < b.n; k++) {
            size_t i = seen + k;
            const char *p = b.payloads ? b.payloads[k] : NULL;
            const char *t = b.texts ? b.texts[k] : NULL;
            assert_int_equal(b.ids[k], i * 7);
            assert_true(b.vectors[k * 3] == (float)i);
            assert_true(b.vectors[k * 3 + 1] == (float)i + 0.5f);
            assert_true(b.vectors[k * 3 + 2] == -0.01f);
            if (i % 2 == 0) {
                char want[128];
                snprintf(want, sizeof want,
                         "{\"n\":%zu,\"tags\":[\"a\",\"b\"],\"nested\":{\"x\":1.5}}", i);
                assert_non_null(p);
                assert_string_equal(p, want);
                snprintf(want, sizeof want, "doc \xc3\xa9 %zu", i);
                assert_non_null(t);
                assert_string_equal(t, want);
            } else {
                assert_null(p);
                assert_null(t);
            }
        }
        seen += b.n;
    }
    assert_int_equal(seen, 10);
    uint64_t done, total;
    reader_progress(r, &done, &total);
    assert_int_equal(done, len);
    assert_int_equal(total, len);
    reader_close(r);

    /* No ids, custom text field, no payloads. */
    const char *t2 = "{\"vector\":[1],\"body\":\"hi\"}\n{\"vector\":[2]}";
    reader_options opt = {.text_field = "body"};
    assert_int_equal(reader_open_mem(t2, strlen(t2), RF_JSONL, &opt, "t2.jsonl", &r), HK_OK);
    assert_int_equal(reader_next(r, 10, &b), HK_OK);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.has_id, 0);
    assert_null(b.ids);
    assert_null(b.payloads);
    assert_string_equal(b.texts[0], "hi");
    assert_null(b.texts[1]);
    reader_close(r);
}

static void test_jsonl_errors(void **state) {
    const char *name = "data.jsonl";
    expect_text_error(RF_JSONL,
                      "{\"vector\":[1,2]}\n{\"vector\":[1,2]}\n\n{\"vector\":[1,2]}\n"
                      "{\"vector\":[1,2]}\n{\"vector\":[1,2]}\n{\"vector\":[1,\"a\"]}\n",
                      name, "data.jsonl: line 7: 'vector' must be an array of numbers");
    expect_text_error(RF_JSONL, "{\"vector\":{}}", name,
                      "data.jsonl: line 1: 'vector' must be an array of numbers (got an object)");
    expect_text_error(RF_JSONL, "{\"vectr\":[1]}", name,
                      "data.jsonl: line 1: unknown field 'vectr'");
    expect_text_error(RF_JSONL, "{\"vector\":[1,2}", name, "data.jsonl: line 1: ");
    expect_text_error(RF_JSONL, "{\"vector\":[1]}\n[1,2]", name,
                      "data.jsonl: line 2: expected a JSON object, found an array");
    expect_text_error(RF_JSONL, "{\"id\":1}", name, "data.jsonl: line 1: missing 'vector'");
    expect_text_error(RF_JSONL, "{\"vector\":[]}", name, "data.jsonl: line 1: 'vector' is empty");
    expect_text_error(RF_JSONL, "{\"vector\":[1,2]}\n{\"vector\":[1,2,3]}", name,
                      "data.jsonl: line 2: dimension 3 differs from 2 (line 1)");
    expect_text_error(RF_JSONL, "{\"id\":-1,\"vector\":[1]}", name,
                      "line 1: 'id' must be an integer from 0 to 9223372036854775807 "
                      "(got a negative number)");
    expect_text_error(RF_JSONL, "{\"id\":1.5,\"vector\":[1]}", name,
                      "line 1: 'id' must be an integer from 0");
    expect_text_error(RF_JSONL, "{\"id\":\"7\",\"vector\":[1]}", name, "(got a string)");
    expect_text_error(RF_JSONL, "{\"id\":9223372036854775808,\"vector\":[1]}", name,
                      "line 1: 'id' 9223372036854775808 is above 9223372036854775807");
    expect_text_error(RF_JSONL, "{\"id\":1,\"vector\":[1]}\n{\"vector\":[1]}", name,
                      "line 2: lacks an 'id' but line 1 has one");
    expect_text_error(RF_JSONL, "{\"vector\":[1]}\n\n{\"id\":3,\"vector\":[1]}", name,
                      "line 3: has an 'id' but line 1 has none");
    expect_text_error(RF_JSONL, "{\"vector\":[1],\"payload\":[1]}", name,
                      "line 1: 'payload' must be an object (got an array)");
    expect_text_error(RF_JSONL, "{\"vector\":[1],\"text\":5}", name,
                      "line 1: 'text' must be a string (got a number)");
    expect_text_error(RF_JSONL, "{\"vector\":[1e39]}", name,
                      "line 1: 'vector' item 0 (1e+39) is out of float32 range");
    expect_text_error(RF_JSONL, "{\"vector\":[1],\"text\":\"a\\u0000b\"}", name,
                      "line 1: 'text' contains a NUL character");
    reader_options opt = {.text_field = "id"};
    expect_error("", 0, RF_JSONL, &opt, name, "text field 'id' clashes");
    /* With the default text field, "body" is unknown. */
    expect_text_error(RF_JSONL, "{\"vector\":[1],\"body\":\"x\"}", name,
                      "unknown field 'body' (expected id, vector, payload or text)");
    /* An empty input is zero records, not an error. */
    assert_int_equal(drain_mem("", 0, RF_JSONL, NULL, name, 3), HK_OK);
    assert_int_equal(drain_mem("\n\n", 2, RF_JSONL, NULL, name, 3), HK_OK);
}

/* ---- csv ---- */

static void test_csv_roundtrip(void **state) {
    const char *good =
        "\xEF\xBB\xBFid,vector,title,count,score,flag,text,zip\r\n"
        "1,\"[0.5, 1.5, -2]\",\"Hello, \"\"world\"\"\",3,2.5,true,\"line one\nline two\",\r\n"
        "2,1;2;3,plain,-42,1e3,FALSE,,007\r\n"
        "\r\n"
        "18446744073709551615,1 2 3,,12345678901234567890,1e999,maybe,t3,\n"
        "4,[4 5 6],caf\xc3\xa9,0,-0.5,False,\"\",\"\"\n"
        "5,\" 7 , 8 ,9 \",a\tb,9223372036854775807,.5,yes,t5,x\n"
        "6,1 1 1,,,,,,\n"
        "7,1 1 1,,,,,,\n"
        "8,1 1 1,,,,,,\n"
        "9,1 1 1,,,,,,\n"
        "10,1 1 1,,,,,,";
    static const uint64_t ids[] = {1, 2, UINT64_MAX, 4, 5, 6, 7, 8, 9, 10};
    static const float vecs[][3] = {{0.5f, 1.5f, -2}, {1, 2, 3}, {1, 2, 3}, {4, 5, 6},
                                    {7, 8, 9},        {1, 1, 1}, {1, 1, 1}, {1, 1, 1},
                                    {1, 1, 1},        {1, 1, 1}};
    static const char *pays[] = {
        "{\"title\":\"Hello, \\\"world\\\"\",\"count\":3,\"score\":2.5,\"flag\":true}",
        "{\"title\":\"plain\",\"count\":-42,\"score\":1e3,\"flag\":false,\"zip\":\"007\"}",
        "{\"count\":\"12345678901234567890\",\"score\":\"1e999\",\"flag\":\"maybe\"}",
        "{\"title\":\"caf\xc3\xa9\",\"count\":0,\"score\":-0.5,\"flag\":false}",
        "{\"title\":\"a\\tb\",\"count\":9223372036854775807,\"score\":\".5\",\"flag\":\"yes\","
        "\"zip\":\"x\"}",
        NULL, NULL, NULL, NULL, NULL};
    static const char *texts[] = {"line one\nline two", NULL, "t3", NULL, "t5",
                                  NULL, NULL, NULL, NULL, NULL};
    const char *path = tpath("good.csv");
    write_file(path, good, strlen(good));
    reader *r;
    assert_int_equal(reader_open(path, RF_CSV, NULL, &r), HK_OK);
    size_t seen = 0;
    reader_batch b;
    hk_status st;
    while ((st = reader_next(r, 3, &b)) == HK_OK && b.n) {
        assert_int_equal(b.dim, 3);
        assert_int_equal(b.first_record, seen);
        assert_int_equal(b.has_id, 1);
        for (size_t k = 0; k < b.n; k++) {
            size_t i = seen + k;
            assert_true(b.ids[k] == ids[i]);
            for (size_t j = 0; j < 3; j++) assert_true(b.vectors[k * 3 + j] == vecs[i][j]);
            const char *p = b.payloads ? b.payloads[k] : NULL;
            const char *t = b.texts ? b.texts[k] : NULL;
            if (pays[i]) assert_non_null(p), assert_string_equal(p, pays[i]);
            else assert_null(p);
            if (texts[i]) assert_non_null(t), assert_string_equal(t, texts[i]);
            else assert_null(t);
        }
        seen += b.n;
    }
    if (st != HK_OK) fail_msg("%s", hk_errmsg());
    assert_int_equal(seen, 10);
    uint64_t done, total;
    reader_progress(r, &done, &total);
    assert_int_equal(done, strlen(good));
    reader_close(r);

    /* Custom column names, no payload columns, LF endings, no final newline. */
    const char *t2 = "body,emb,key\nhello,\"[1,2]\",5\n,3 4,6";
    reader_options opt = {.id_column = "key", .vector_column = "emb", .text_column = "body"};
    assert_int_equal(reader_open_mem(t2, strlen(t2), RF_CSV, &opt, "t2.csv", &r), HK_OK);
    assert_int_equal(reader_next(r, 10, &b), HK_OK);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.ids[0], 5);
    assert_int_equal(b.ids[1], 6);
    assert_true(b.vectors[2] == 3.0f && b.vectors[3] == 4.0f);
    assert_null(b.payloads);
    assert_string_equal(b.texts[0], "hello");
    assert_null(b.texts[1]);
    reader_close(r);

    /* No id column: ids absent. */
    const char *t3 = "vector,k\n1,a\n2,b\n";
    assert_int_equal(reader_open_mem(t3, strlen(t3), RF_CSV, NULL, "t3.csv", &r), HK_OK);
    assert_int_equal(reader_next(r, 10, &b), HK_OK);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.has_id, 0);
    assert_null(b.ids);
    assert_null(b.texts);
    assert_string_equal(b.payloads[1], "{\"k\":\"b\"}");
    reader_close(r);
}

static void test_csv_errors(void **state) {
    const char *name = "x.csv";
    expect_text_error(RF_CSV, "a,b,vector,c\n1,2,3,4\n1,2,3,4\n1,2,3,4,5\n", name,
                      "x.csv: line 4: 5 fields, header has 4");
    expect_text_error(RF_CSV, "vector,t\n1,\"a\nb\"\n2,\"c\"\"\nd\"\n3\n", name,
                      "x.csv: line 6: 1 fields, header has 2");
    expect_text_error(RF_CSV, "vector,t\n1,\"abc\n", name,
                      "x.csv: line 2: quoted field is never closed");
    expect_text_error(RF_CSV, "vector,t\n1,ab\"c\n", name,
                      "x.csv: line 2: quote inside an unquoted field");
    expect_text_error(RF_CSV, "vector,t\n1,\"ab\"c\n", name,
                      "x.csv: line 2: unexpected character after a closing quote");
    expect_text_error(RF_CSV, "a,b\n1,2\n", name,
                      "x.csv: no vector column 'vector' (columns: 'a', 'b')");
    reader_options opt = {.id_column = "key"};
    expect_error("vector\n1\n", 9, RF_CSV, &opt, name, "x.csv: no id column 'key'");
    expect_text_error(RF_CSV, "vector,t\n  ,x\n", name,
                      "x.csv: line 2: column 'vector': empty vector");
    expect_text_error(RF_CSV, "vector,t\n[],x\n", name,
                      "x.csv: line 2: column 'vector': empty vector");
    expect_text_error(RF_CSV, "vector\n\"[1, x]\"\n", name,
                      "x.csv: line 2: column 'vector': item 1 'x' is not a number");
    expect_text_error(RF_CSV, "vector\nnan\n", name, "item 0 'nan' is not a number");
    expect_text_error(RF_CSV, "vector\n0x1p3\n", name, "item 0 '0x1p3' is not a number");
    expect_text_error(RF_CSV, "vector\n1e39\n", name,
                      "x.csv: line 2: column 'vector': item 0 (1e39) is out of float32 range");
    expect_text_error(RF_CSV, "vector\n1 2 3\n\n1 2\n", name,
                      "x.csv: line 4: dimension 2 differs from 3 (line 2)");
    expect_text_error(RF_CSV, "vector\n\"[1,2\"\n", name, "unbalanced '[' ']'");
    expect_text_error(RF_CSV, "vector\n\"1,2,\"\n", name, "separator after the last number");
    expect_text_error(RF_CSV, "vector\n\"1,,2\"\n", name, "item 1 is empty");
    expect_text_error(RF_CSV, "id,vector\nabc,1\n", name,
                      "x.csv: line 2: column 'id' must hold an unsigned integer");
    expect_text_error(RF_CSV, "id,vector\n18446744073709551616,1\n", name,
                      "(got '18446744073709551616')");
    expect_text_error(RF_CSV, "id,vector\n,1\n", name, "column 'id' must hold an unsigned integer");
    expect_text_error(RF_CSV, "vector,a,a\n1,2,3\n", name,
                      "header columns 2 and 3 are both named 'a'");
    expect_text_error(RF_CSV, ",vector\n0,1\n", name, "header column 1 has no name");
    expect_text_error(RF_CSV, "", name, "x.csv: empty file");
    expect_text_error(RF_CSV, "vector,a\n1,\xff\xfe\n", name,
                      "line 2: column 'a' is not valid UTF-8");
    expect_text_error(RF_CSV, "vector,text\n1,\xc3\n", name,
                      "line 2: column 'text' is not valid UTF-8");
    opt = (reader_options){.id_column = "vector"};
    expect_error("vector\n1\n", 9, RF_CSV, &opt, name, "cannot serve two");
    /* A header alone is zero records. */
    assert_int_equal(drain_mem("vector\n", 7, RF_CSV, NULL, name, 3), HK_OK);
}

/* Text files several read buffers long, so lines and records straddle refills. */
static void test_text_across_refills(void **state) {
    enum { N = 3000, D = 64 };
    for (int fmt = 0; fmt < 2; fmt++) {
        const char *path = tpath(fmt ? "big.csv" : "big.jsonl");
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        if (fmt) fputs("id,vector,note\n", f);
        for (int i = 0; i < N; i++) {
            fprintf(f, fmt ? "%d,\"[" : "{\"id\":%d,\"vector\":[", i);
            for (int j = 0; j < D; j++) fprintf(f, "%s%.2f", j ? ", " : "", i * 0.25 + j);
            fprintf(f, fmt ? "]\",\"n\n%d\"\n" : "],\"payload\":{\"note\":\"n\\n%d\"}}\n", i);
        }
        fclose(f);
        reader *r;
        assert_int_equal(reader_open(path, fmt ? RF_CSV : RF_JSONL, NULL, &r), HK_OK);
        reader_batch b;
        size_t seen = 0;
        hk_status st;
        while ((st = reader_next(r, 700, &b)) == HK_OK && b.n) {
            assert_int_equal(b.dim, D);
            for (size_t k = 0; k < b.n; k++) {
                size_t i = seen + k;
                assert_int_equal(b.ids[k], i);
                for (size_t j = 0; j < D; j++)
                    assert_true(b.vectors[k * D + j] == (float)(i * 0.25 + j));
                char want[64];
                snprintf(want, sizeof want, "{\"note\":\"n\\n%zu\"}", i);
                assert_string_equal(b.payloads[k], want);
            }
            seen += b.n;
        }
        if (st != HK_OK) fail_msg("%s", hk_errmsg());
        assert_int_equal(seen, N);
        uint64_t done, total;
        reader_progress(r, &done, &total);
        assert_true(total > 3 * 256 * 1024);
        assert_int_equal(done, total);
        reader_close(r);
    }
}

/* ---- the real BIGANN 10K subset ---- */

static void test_bigann10k(void **state) {
    const char *shared = getenv("HK_SHARED_DATA");
    if (!shared) skip();
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ann/bigann10k_base.bvecs", shared);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t rec[4 + 128];
    assert_int_equal(fread(rec, 1, sizeof rec, f), sizeof rec);
    fclose(f);
    int32_t d;
    memcpy(&d, rec, 4);
    assert_int_equal(d, 128);

    reader *r;
    assert_int_equal(reader_open(path, RF_BVECS, NULL, &r), HK_OK);
    size_t n = 0;
    reader_batch b;
    hk_status st;
    while ((st = reader_next(r, 1000, &b)) == HK_OK && b.n) {
        assert_int_equal(b.dim, 128);
        if (n == 0)
            for (size_t j = 0; j < 128; j++) assert_true(b.vectors[j] == (float)rec[4 + j]);
        n += b.n;
    }
    assert_int_equal(st, HK_OK);
    assert_int_equal(n, 10000);
    uint64_t done, total;
    reader_progress(r, &done, &total);
    assert_int_equal(done, 1320000);
    assert_int_equal(total, 1320000);
    reader_close(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_fvecs_roundtrip),
        cmocka_unit_test(test_bvecs_roundtrip),
        cmocka_unit_test(test_fvecs_errors),
        cmocka_unit_test(test_error_replaces_batch),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_npy_versions_and_dtypes),
        cmocka_unit_test(test_npy_written_by_numpy),
        cmocka_unit_test(test_npy_errors),
        cmocka_unit_test(test_stdin),
        cmocka_unit_test(test_jsonl_roundtrip),
        cmocka_unit_test(test_jsonl_errors),
        cmocka_unit_test(test_csv_roundtrip),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_text_across_refills),
        cmocka_unit_test(test_bigann10k),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
