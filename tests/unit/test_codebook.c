/*
 * test_codebook.c — hk_codebook: training defaults and checks, the binary form (round
 * trip, every truncation, bit flips), JSON round trip, the database's codebook store,
 * evaluation figures, comparison and adaptive choice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hektor.h"
#include "quant/quant.h"
#include "test_util.h"
#include "vec/distance.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double grand(void) {
    double u = urand(), v = urand();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

/* Clustered data: 20 centres, gaussian spread. */
static float *clustered(size_t n, size_t dim) {
    float *c = malloc(20 * dim * sizeof(float)), *x = malloc(n * dim * sizeof(float));
    for (size_t i = 0; i < 20 * dim; i++) c[i] = (float)(grand() * 2.0);
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(urand() * 20) % 20;
        for (size_t d = 0; d < dim; d++) x[i * dim + d] = c[k * dim + d] + (float)(grand() * 0.5);
    }
    free(c);
    return x;
}

static hk_codebook *train(const float *x, size_t n, uint32_t dim, hk_metric metric,
                          hk_quant_method method, uint32_t m, uint32_t bits, hk_curve curve) {
    hk_quant_params p;
    hk_quant_params_init(&p);
    p.method = method;
    p.pq_m = m;
    p.pq_bits = bits;
    p.curve = curve;
    p.iterations = 10;
    p.opq_iterations = 4;
    hk_codebook *cb = NULL;
    hk_status st = hk_codebook_train(x, n, dim, metric, &p, NULL, NULL, &cb);
    if (st) fprintf(stderr, "train: %s\n", hk_errmsg());
    assert_int_equal(st, HK_OK);
    return cb;
}

static void same_codes(const hk_codebook *a, const hk_codebook *b, const float *x, size_t n) {
    hk_codebook_info ia, ib;
    hk_codebook_info_get(a, &ia);
    hk_codebook_info_get(b, &ib);
    assert_int_equal(ia.code_bytes, ib.code_bytes);
    assert_int_equal(ia.method, ib.method);
    assert_int_equal(ia.dim, ib.dim);
    uint8_t *ca = malloc(n * ia.code_bytes), *cb = malloc(n * ia.code_bytes);
    assert_int_equal(hk_codebook_encode(a, x, n, ca), HK_OK);
    assert_int_equal(hk_codebook_encode(b, x, n, cb), HK_OK);
    assert_memory_equal(ca, cb, n * ia.code_bytes);
    float *da = malloc(n * ia.dim * sizeof(float)), *db = malloc(n * ia.dim * sizeof(float));
    hk_codebook_decode(a, ca, n, da);
    hk_codebook_decode(b, cb, n, db);
    assert_memory_equal(da, db, n * ia.dim * sizeof(float));
    free(ca);
    free(cb);
    free(da);
    free(db);
}

static void test_params(void **state) {
    (void)state;
    float *x = clustered(300, 24);
    hk_quant_params p;
    hk_quant_params_init(&p);
    hk_codebook *cb = NULL;
    p.method = HK_QUANT_PQ;
    p.pq_m = 5; /* does not divide 24 */
    assert_int_equal(hk_codebook_train(x, 300, 24, HK_METRIC_L2, &p, NULL, NULL, &cb), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "dividing the dimension"));
    p.pq_m = 6;
    p.pq_bits = 5;
    assert_int_equal(hk_codebook_train(x, 300, 24, HK_METRIC_L2, &p, NULL, NULL, &cb), HK_INVALID);
    p.pq_bits = 8;
    p.curve = HK_CURVE_HLG;
    assert_int_equal(hk_codebook_train(x, 300, 24, HK_METRIC_L2, &p, NULL, NULL, &cb), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "scalar"));
    hk_quant_params_init(&p);
    p.method = HK_QUANT_SQ8;
    p.pq_m = 4;
    assert_int_equal(hk_codebook_train(x, 300, 24, HK_METRIC_L2, &p, NULL, NULL, &cb), HK_INVALID);
    hk_quant_params_init(&p);
    x[5] = NAN;
    assert_int_equal(hk_codebook_train(x, 300, 24, HK_METRIC_L2, &p, NULL, NULL, &cb), HK_INVALID);
    assert_null(cb);
    /* defaults: PQ m = dim / 4 (16x), 8 bits */
    x[5] = 0;
    hk_quant_params_init(&p);
    p.method = HK_QUANT_PQ;
    p.iterations = 3;
    assert_int_equal(hk_codebook_train(x, 300, 24, HK_METRIC_L2, &p, NULL, NULL, &cb), HK_OK);
    hk_codebook_info in;
    hk_codebook_info_get(cb, &in);
    assert_int_equal(in.pq_m, 6);
    assert_int_equal(in.pq_bits, 8);
    assert_int_equal(in.code_bytes, 6);
    assert_true(fabs(in.compression - 16.0) < 1e-9);
    assert_int_equal(in.trained_on, 300);
    hk_codebook_free(cb);
    /* names */
    hk_quant_method qm;
    hk_curve cv;
    assert_int_equal(hk_quant_method_parse("opq", &qm), HK_OK);
    assert_int_equal(qm, HK_QUANT_OPQ);
    assert_int_equal(hk_quant_method_parse("sq2", &qm), HK_INVALID);
    assert_int_equal(hk_curve_parse("pu21", &cv), HK_OK);
    assert_string_equal(hk_curve_name(cv), "pu21");
    assert_int_equal(hk_curve_parse("srgb", &cv), HK_INVALID);
    free(x);
}

/* Binary form: round trip gives identical codes; every truncation and every sampled bit
 * flip is HK_CORRUPT (never a crash, never a silently different codebook). */
static void check_binary(hk_codebook *cb, const float *x, size_t n) {
    uint8_t *data;
    size_t len;
    assert_int_equal(hk_codebook_serialize(cb, &data, &len), HK_OK);
    assert_memory_equal(data, "HKCB", 4);
    hk_codebook *back = NULL;
    assert_int_equal(hk_codebook_deserialize(data, len, &back), HK_OK);
    same_codes(cb, back, x, n);
    hk_codebook_free(back);
    for (size_t cut = 0; cut < len; cut += (cut < 200 ? 1 : len / 97 + 1)) {
        back = NULL;
        assert_int_equal(hk_codebook_deserialize(data, cut, &back), HK_CORRUPT);
        assert_null(back);
    }
    uint8_t *copy = malloc(len);
    for (size_t off = 0; off < len; off += (off < 100 ? 1 : len / 61 + 1)) {
        memcpy(copy, data, len);
        copy[off] ^= (uint8_t)(1u << (off % 8));
        back = NULL;
        hk_status st = hk_codebook_deserialize(copy, len, &back);
        assert_int_equal(st, HK_CORRUPT);
        assert_true(strlen(hk_errmsg()) > 10);
        assert_null(back);
    }
    free(copy);
    hk_free(data);
}

static void check_json(hk_codebook *cb, const float *x, size_t n) {
    char *js;
    assert_int_equal(hk_codebook_to_json(cb, 1, &js), HK_OK);
    hk_codebook *back = NULL;
    assert_int_equal(hk_codebook_from_json(js, strlen(js), &back), HK_OK);
    same_codes(cb, back, x, n);
    hk_codebook_free(back);
    /* without arrays it cannot be imported, and says why */
    hk_free(js);
    assert_int_equal(hk_codebook_to_json(cb, 0, &js), HK_OK);
    assert_int_equal(hk_codebook_from_json(js, strlen(js), &back), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "lacks the array"));
    hk_free(js);
    assert_int_equal(hk_codebook_from_json("{\"format\":\"nope\"}", 17, &back), HK_INVALID);
    assert_int_equal(hk_codebook_from_json("{", 1, &back), HK_INVALID);
}

static void test_forms(void **state) {
    (void)state;
    size_t n = 400;
    uint32_t dim = 16;
    float *x = clustered(n, dim);
    hk_codebook *cbs[] = {
        train(x, n, dim, HK_METRIC_L2, HK_QUANT_SQ8, 0, 0, HK_CURVE_NONE),
        train(x, n, dim, HK_METRIC_IP, HK_QUANT_SQ4, 0, 0, HK_CURVE_PU21),
        train(x, n, dim, HK_METRIC_COSINE, HK_QUANT_SQ8, 0, 0, HK_CURVE_ST2084),
        train(x, n, dim, HK_METRIC_L2, HK_QUANT_PQ, 4, 8, HK_CURVE_NONE),
        train(x, n, dim, HK_METRIC_L2, HK_QUANT_PQ, 8, 4, HK_CURVE_NONE),
        train(x, n, dim, HK_METRIC_L2, HK_QUANT_OPQ, 4, 8, HK_CURVE_NONE),
        train(x, n, dim, HK_METRIC_L2, HK_QUANT_INT8, 0, 0, HK_CURVE_NONE),
        train(x, n, dim, HK_METRIC_COSINE, HK_QUANT_INT8, 0, 0, HK_CURVE_NONE),
    };
    for (size_t i = 0; i < sizeof cbs / sizeof cbs[0]; i++) {
        check_binary(cbs[i], x, n);
        check_json(cbs[i], x, n);
        hk_codebook_free(cbs[i]);
    }
    free(x);
}

/* int8: the code distances (integer kernels plus the per-code term for ip and cosine) are
 * the float distances between the decoded vectors, for every metric and every kernel
 * family; the query's prepared form is its own code; a curve is refused; a stored int8
 * codebook whose half-ranges differ is corrupt. */
static void test_int8(void **state) {
    (void)state;
    size_t n = 300;
    uint32_t dims[] = {5, 64, 77};
    for (size_t di = 0; di < 3; di++) {
        uint32_t dim = dims[di];
        float *x = clustered(n, dim);
        for (int mi = 0; mi < 3; mi++) {
            hk_metric metric = (hk_metric)mi;
            hk_codebook *cb = train(x, n, dim, metric, HK_QUANT_INT8, 0, 0, HK_CURVE_NONE);
            size_t cs = cb_code_size(cb);
            assert_int_equal(cs, dim + (metric == HK_METRIC_L2 ? 0 : 4));
            float *xn = malloc(n * dim * sizeof(float)), *y = malloc(n * dim * sizeof(float));
            memcpy(xn, x, n * dim * sizeof(float));
            if (metric == HK_METRIC_COSINE)
                for (size_t i = 0; i < n; i++) vec_normalize(xn + i * dim, dim);
            uint8_t *codes = malloc(n * cs);
            assert_int_equal(cb_encode_rows(cb, xn, n, codes), HK_OK);
            assert_int_equal(hk_codebook_decode(cb, codes, n, y), HK_OK);
            float *qb = malloc(cb_query_floats(cb) * sizeof(float)), bias;
            for (size_t i = 0; i < 40; i++) {
                size_t j = (i * 37 + 11) % n;
                const float *a = y + i * dim, *b = y + j * dim;
                double want = 0, mag = 0;
                for (uint32_t d = 0; d < dim; d++) {
                    want += metric == HK_METRIC_L2 ? (double)(a[d] - b[d]) * (a[d] - b[d])
                                                   : -(double)a[d] * b[d];
                    mag += fabs((double)a[d] * b[d]) + (double)a[d] * a[d];
                }
                float got = cb_sym(cb, codes + i * cs, codes + j * cs);
                assert_true(fabs(got - want) <= 1e-4 * (mag + 1));
                /* a query prepares to its code: query-to-code equals code-to-code */
                cb_prepare(cb, xn + i * dim, qb, &bias);
                assert_memory_equal(qb, codes + i * cs, cs);
                assert_true(cb_dist(cb, qb, bias, codes + j * cs) == got);
            }
            free(qb);
            free(codes);
            free(xn);
            free(y);
            hk_codebook_free(cb);
        }
        free(x);
    }
    /* no curve */
    float *x = clustered(50, 8);
    hk_quant_params p;
    hk_quant_params_init(&p);
    p.method = HK_QUANT_INT8;
    p.curve = HK_CURVE_MULAW;
    hk_codebook *cb = NULL;
    assert_int_equal(hk_codebook_train(x, 50, 8, HK_METRIC_L2, &p, NULL, NULL, &cb), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "int8"));
    hk_quant_method m;
    assert_int_equal(hk_quant_method_parse("int8", &m), HK_OK);
    assert_int_equal(m, HK_QUANT_INT8);
    assert_string_equal(hk_quant_method_name(HK_QUANT_INT8), "int8");
    char label[16];
    assert_string_equal(hk_quant_label(HK_QUANT_INT8, 0, 0, HK_CURVE_NONE, label, sizeof label), "int8");
    assert_string_equal(hk_quant_label(HK_QUANT_PQ, 32, 8, HK_CURVE_NONE, label, sizeof label), "pq32x8");
    assert_string_equal(hk_quant_label(HK_QUANT_SQ4, 0, 0, HK_CURVE_MULAW, label, sizeof label), "sq4-mulaw");
    assert_string_equal(hk_quant_label(HK_QUANT_OPQ, 16, 4, HK_CURVE_NONE, label, 4), "opq");
    /* a stored int8 codebook with two different half-ranges is refused */
    cb = train(x, 50, 8, HK_METRIC_L2, HK_QUANT_INT8, 0, 0, HK_CURVE_NONE);
    uint8_t *data;
    size_t len;
    assert_int_equal(hk_codebook_serialize(cb, &data, &len), HK_OK);
    float h;
    memcpy(&h, data + 88 + 8 * 4 + 4, 4); /* the second half-range */
    h *= 2;
    memcpy(data + 88 + 8 * 4 + 4, &h, 4);
    uint32_t crc = hk_crc32c(0, data, len - 4);
    memcpy(data + len - 4, &crc, 4);
    hk_codebook *back = NULL;
    assert_int_equal(hk_codebook_deserialize(data, len, &back), HK_CORRUPT);
    assert_non_null(strstr(hk_errmsg(), "half-ranges"));
    hk_free(data);
    hk_codebook_free(cb);
    free(x);
}

static void test_store(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("cbstore");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    char **names;
    size_t n;
    assert_int_equal(hk_db_codebook_list(db, &names, &n), HK_OK);
    assert_int_equal(n, 0);
    float *x = clustered(200, 8);
    hk_codebook *cb = train(x, 200, 8, HK_METRIC_L2, HK_QUANT_SQ8, 0, 0, HK_CURVE_NONE);
    assert_int_equal(hk_db_codebook_save(db, "b.sq8", cb, 0), HK_OK);
    assert_int_equal(hk_db_codebook_save(db, "a-one", cb, 0), HK_OK);
    assert_int_equal(hk_db_codebook_save(db, "a-one", cb, 0), HK_EXISTS);
    assert_int_equal(hk_db_codebook_save(db, "a-one", cb, 1), HK_OK);
    assert_int_equal(hk_db_codebook_save(db, "../evil", cb, 0), HK_INVALID);
    assert_int_equal(hk_db_codebook_list(db, &names, &n), HK_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a-one");
    assert_string_equal(names[1], "b.sq8");
    hk_strings_free(names, n);
    hk_codebook *back;
    assert_int_equal(hk_db_codebook_load(db, "b.sq8", &back), HK_OK);
    same_codes(cb, back, x, 200);
    hk_codebook_free(back);
    assert_int_equal(hk_db_codebook_load(db, "nope", &back), HK_NOT_FOUND);
    /* a damaged file is refused with its path and the reason */
    char path[4200];
    snprintf(path, sizeof path, "%s/codebooks/b.sq8.hkcb", dir);
    tu_flip_bit(path, 100, 3);
    assert_int_equal(hk_db_codebook_load(db, "b.sq8", &back), HK_CORRUPT);
    assert_non_null(strstr(hk_errmsg(), "b.sq8.hkcb"));
    assert_non_null(strstr(hk_errmsg(), "checksum"));
    tu_truncate(path, 50);
    assert_int_equal(hk_db_codebook_load(db, "b.sq8", &back), HK_CORRUPT);
    assert_non_null(strstr(hk_errmsg(), "truncated"));
    /* a backup carries the stored codebooks (checked on the way: the damaged one fails it) */
    char bdir[4200];
    snprintf(bdir, sizeof bdir, "%s-backup", dir);
    assert_int_equal(hk_db_backup(db, bdir), HK_CORRUPT);
    assert_int_equal(hk_db_codebook_remove(db, "b.sq8"), HK_OK);
    assert_int_equal(hk_db_backup(db, bdir), HK_OK);
    hk_db *bdb = tu_open_db(bdir, HK_OPEN_READONLY);
    assert_int_equal(hk_db_codebook_list(bdb, &names, &n), HK_OK);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "a-one");
    hk_strings_free(names, n);
    assert_int_equal(hk_db_codebook_load(bdb, "a-one", &back), HK_OK);
    same_codes(cb, back, x, 200);
    hk_codebook_free(back);
    assert_int_equal(hk_db_close(bdb), HK_OK);
    tu_rmrf(bdir);
    assert_int_equal(hk_db_codebook_save(db, "b.sq8", cb, 0), HK_OK);
    assert_int_equal(hk_db_codebook_remove(db, "b.sq8"), HK_OK);
    assert_int_equal(hk_db_codebook_remove(db, "b.sq8"), HK_NOT_FOUND);
    assert_int_equal(hk_db_codebook_list(db, &names, &n), HK_OK);
    assert_int_equal(n, 1);
    hk_strings_free(names, n);
    hk_codebook_free(cb);
    free(x);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}

/* Evaluation: figures that must hold whatever the data. */
static void test_evaluate(void **state) {
    (void)state;
    size_t n = 3000, nq = 50;
    uint32_t dim = 32;
    float *x = clustered(n + nq, dim);
    hk_codebook *sq8 = train(x, n, dim, HK_METRIC_L2, HK_QUANT_SQ8, 0, 0, HK_CURVE_NONE);
    hk_codebook *sq4 = train(x, n, dim, HK_METRIC_L2, HK_QUANT_SQ4, 0, 0, HK_CURVE_NONE);
    hk_quality q8, q4;
    hk_quality_options o = {.k = 10, .rerank = 50};
    assert_int_equal(hk_codebook_evaluate(sq8, x, n, x + n * dim, nq, &o, &q8), HK_OK);
    assert_int_equal(hk_codebook_evaluate(sq4, x, n, x + n * dim, nq, &o, &q4), HK_OK);
    assert_int_equal(q8.code_bytes, 32);
    assert_int_equal(q4.code_bytes, 16);
    assert_true(fabs(q8.compression - 4.0) < 1e-9);
    assert_true(q8.mse < q4.mse);               /* more bits, less error */
    assert_true(q8.psnr > q4.psnr);
    assert_true(q8.ssim > q4.ssim && q8.ssim <= 1.0);
    assert_true(q8.cosine_distortion < q4.cosine_distortion);
    assert_true(q8.recall >= q4.recall - 0.02);
    assert_true(q8.recall_rerank >= 0.99);      /* 8-bit codes + re-rank 50: near exact */
    assert_true(q8.recall_rerank >= q8.recall);
    assert_true(q8.search_per_s > 0 && q8.float_search_per_s > 0 && q8.encode_per_s > 0);
    double sum = 0;
    for (uint32_t d = 0; d < dim; d++) sum += q8.per_dim_mse[d];
    assert_true(fabs(sum / dim - q8.mse) < 1e-6 * (1 + q8.mse));
    hk_quality_free(&q8);
    hk_quality_free(&q4);
    /* image-shaped evaluation: 32 = 8 x 4 */
    o.image_width = 8;
    assert_int_equal(hk_codebook_evaluate(sq8, x, n, NULL, 0, &o, &q8), HK_OK);
    assert_true(q8.ssim > 0.5 && q8.ssim <= 1.0);
    assert_int_equal(q8.queries, 0);
    hk_quality_free(&q8);
    o.image_width = 5;
    assert_int_equal(hk_codebook_evaluate(sq8, x, n, NULL, 0, &o, &q8), HK_INVALID);
    hk_codebook_free(sq8);
    hk_codebook_free(sq4);
    free(x);
}

static void test_compare_auto(void **state) {
    (void)state;
    size_t n = 2000, nq = 40;
    uint32_t dim = 32;
    float *x = clustered(n + nq, dim);
    hk_quant_params c[2];
    hk_quant_params_init(&c[0]);
    hk_quant_params_init(&c[1]);
    c[1].method = HK_QUANT_PQ;
    c[1].pq_m = 7; /* invalid: reported per candidate */
    hk_quality res[2];
    hk_status sts[2];
    assert_int_equal(hk_quant_compare(x, n, dim, HK_METRIC_L2, c, 2, x + n * dim, nq, NULL, NULL,
                                      NULL, res, sts), HK_OK);
    assert_int_equal(sts[0], HK_OK);
    assert_int_equal(sts[1], HK_INVALID);
    assert_int_equal(res[0].code_bytes, 32);
    hk_quality_free(&res[0]);
    hk_quality_free(&res[1]);

    hk_quant_target t = {.max_bytes = 8};
    hk_quant_params *params;
    hk_quality *table;
    size_t nt, chosen;
    hk_quality_options o = {.k = 10, .rerank = 40};
    assert_int_equal(hk_quant_auto(x, n, dim, HK_METRIC_L2, &t, x + n * dim, nq, &o, NULL, NULL,
                                   &params, &table, &nt, &chosen), HK_OK);
    assert_true(nt >= 2);
    for (size_t i = 0; i < nt; i++) assert_true(table[i].bytes_per_vector <= 8);
    for (size_t i = 0; i < nt; i++) assert_true(table[chosen].recall_rerank >= table[i].recall_rerank);
    for (size_t i = 0; i < nt; i++) hk_quality_free(&table[i]);
    hk_free(table);
    hk_free(params);
    t.max_bytes = 0;
    t.min_recall = 0.9;
    assert_int_equal(hk_quant_auto(x, n, dim, HK_METRIC_L2, &t, x + n * dim, nq, &o, NULL, NULL,
                                   &params, &table, &nt, &chosen), HK_OK);
    assert_true(table[chosen].recall_rerank >= 0.9);
    for (size_t i = 0; i < nt; i++)
        if (table[i].code_bytes && table[i].recall_rerank >= 0.9)
            assert_true(table[chosen].bytes_per_vector <= table[i].bytes_per_vector);
    for (size_t i = 0; i < nt; i++) hk_quality_free(&table[i]);
    hk_free(table);
    hk_free(params);
    t.min_recall = 0.5;
    t.max_bytes = 4;
    assert_int_equal(hk_quant_auto(x, n, dim, HK_METRIC_L2, &t, x + n * dim, nq, &o, NULL, NULL,
                                   &params, &table, &nt, &chosen), HK_INVALID);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),   cmocka_unit_test(test_forms),
        cmocka_unit_test(test_store),    cmocka_unit_test(test_evaluate),
        cmocka_unit_test(test_compare_auto),
        cmocka_unit_test(test_int8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
