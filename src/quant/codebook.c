/*
 * codebook.c — hk_codebook: training with sampling and defaults, encode/decode, the
 * binary file form and its JSON twin, and the dispatch the search code uses.
 *
 * Binary form (little endian; docs/FORMAT.md):
 *   0  "HKCB"            4  u32 format version (1)   8  u32 method   12 u32 metric
 *   16 u32 dim           20 u32 bits                 24 u32 pq_m     28 u32 curve
 *   32 f64 curve_param   40 u64 trained_on           48 f64 train_seconds
 *   56 u64 created       64 u64 seed                 72 u32 iterations
 *   76 u32 opq_iterations  80 u64 table bytes T
 *   88 tables: SQ  centre[dim] f32, half-range[dim] f32
 *              PQ  centroids[m * 2^bits * dim/m] f32, then for OPQ rotation[dim * dim] f32
 *   88+T u32 CRC32C of bytes [0, 88+T)
 */
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "../vec/distance.h"

/* ---- names and parameters ---------------------------------------------------------- */

static const char *const method_names[] = {"none", "sq8", "sq4", "pq", "opq", "int8"};
static const char *const curve_names[] = {"none", "st2084", "hlg", "pu21", "gamma", "mulaw"};

const char *hk_quant_method_name(hk_quant_method m) {
    return (unsigned)m < 6 ? method_names[m] : "unknown";
}

hk_status hk_quant_method_parse(const char *s, hk_quant_method *out) {
    for (unsigned i = 0; s && i < 6; i++)
        if (!strcmp(s, method_names[i])) {
            *out = (hk_quant_method)i;
            return HK_OK;
        }
    return hk_fail(HK_INVALID, "unknown quantization method '%s' (use sq8, sq4, pq, opq or int8)",
                   s ? s : "");
}

const char *hk_curve_name(hk_curve c) { return (unsigned)c < 6 ? curve_names[c] : "unknown"; }

const char *hk_quant_label(hk_quant_method m, uint32_t pq_m, uint32_t pq_bits, hk_curve curve,
                           char *buf, size_t len) {
    if (!buf || !len) return buf;
    if (m == HK_QUANT_PQ || m == HK_QUANT_OPQ)
        snprintf(buf, len, "%s%ux%u", hk_quant_method_name(m), pq_m, pq_bits);
    else if (curve != HK_CURVE_NONE)
        snprintf(buf, len, "%s-%s", hk_quant_method_name(m), hk_curve_name(curve));
    else
        snprintf(buf, len, "%s", hk_quant_method_name(m));
    return buf;
}

hk_status hk_curve_parse(const char *s, hk_curve *out) {
    for (unsigned i = 0; s && i < 6; i++)
        if (!strcmp(s, curve_names[i])) {
            *out = (hk_curve)i;
            return HK_OK;
        }
    return hk_fail(HK_INVALID,
                   "unknown curve '%s' (use none, st2084, hlg, pu21, gamma or mulaw)", s ? s : "");
}

void hk_quant_params_init(hk_quant_params *p) {
    memset(p, 0, sizeof *p);
    p->method = HK_QUANT_SQ8;
}

static int cb_is_sq(const hk_codebook *cb) {
    return cb->method == HK_QUANT_SQ8 || cb->method == HK_QUANT_SQ4 || cb->method == HK_QUANT_INT8;
}

/* Largest divisor of dim not above dim / 4 (at least 1). */
static uint32_t default_pq_m(uint32_t dim) {
    uint32_t m = dim / 4 ? dim / 4 : 1;
    while (dim % m) m--;
    return m;
}

/* Fills defaults and checks p against dim. */
static hk_status params_normalize(hk_quant_params *p, uint32_t dim) {
    if (p->method < HK_QUANT_SQ8 || p->method > HK_QUANT_INT8)
        return hk_fail(HK_INVALID, "quantization method %d is not one of sq8, sq4, pq, opq, int8",
                       (int)p->method);
    if ((unsigned)p->curve > HK_CURVE_MULAW)
        return hk_fail(HK_INVALID, "curve %d is not known", (int)p->curve);
    if (!isfinite(p->curve_param) || p->curve_param < 0)
        return hk_fail(HK_INVALID, "curve parameter %g must be a finite number >= 0 (0 = default)",
                       p->curve_param);
    if (p->sq_quantile != 0 && !(p->sq_quantile >= 0.5 && p->sq_quantile <= 1))
        return hk_fail(HK_INVALID, "quantile %g must be from 0.5 to 1 (0 = chosen per component)",
                       p->sq_quantile);
    if (p->sq_quantile != 0 && p->method != HK_QUANT_SQ8 && p->method != HK_QUANT_SQ4)
        return hk_fail(HK_INVALID, "a quantile applies to sq8 and sq4, not %s",
                       hk_quant_method_name(p->method));
    if (!p->train_size) p->train_size = 65536;
    if (!p->iterations) p->iterations = 25;
    if (!p->opq_iterations) p->opq_iterations = 10;
    if (p->iterations > 1000 || p->opq_iterations > 1000)
        return hk_fail(HK_INVALID, "iterations are limited to 1000");
    if (p->method == HK_QUANT_PQ || p->method == HK_QUANT_OPQ) {
        if (p->curve != HK_CURVE_NONE)
            return hk_fail(HK_INVALID, "curves apply to scalar quantization (sq8, sq4), not %s",
                           hk_quant_method_name(p->method));
        if (!p->pq_bits) p->pq_bits = 8;
        if (p->pq_bits != 4 && p->pq_bits != 8)
            return hk_fail(HK_INVALID, "PQ codes take 4 or 8 bits, not %u", p->pq_bits);
        if (!p->pq_m) p->pq_m = default_pq_m(dim);
        if (p->pq_m > dim || dim % p->pq_m)
            return hk_fail(HK_INVALID, "PQ needs m dividing the dimension %u; %u does not", dim,
                           p->pq_m);
    } else {
        if (p->pq_m || p->pq_bits)
            return hk_fail(HK_INVALID, "sub-quantizers and their bits (pq_m, pq_bits) apply to "
                           "pq and opq; %s has %u bits per component",
                           hk_quant_method_name(p->method), p->method == HK_QUANT_SQ4 ? 4u : 8u);
        if (p->method == HK_QUANT_INT8 && (p->curve || p->curve_param))
            return hk_fail(HK_INVALID, "int8 is linear: it takes no curve");
    }
    return HK_OK;
}

hk_status cb_params_check(const hk_quant_params *p, uint32_t dim) {
    hk_quant_params copy = *p;
    return params_normalize(&copy, dim);
}

/* ---- training ---------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static hk_codebook *cb_alloc(void) {
    hk_codebook *cb = hk_calloc(1, sizeof *cb);
    if (!cb) hk_fail(HK_NOMEM, "out of memory for a codebook");
    return cb;
}

hk_status hk_codebook_train(const float *vectors, size_t n, uint32_t dim, hk_metric metric,
                            const hk_quant_params *params, hk_progress_fn progress, void *ud,
                            hk_codebook **out) {
    if (!vectors || !out || !params) return hk_fail(HK_INVALID, "codebook_train: NULL argument");
    if (n == 0) return hk_fail(HK_INVALID, "training needs at least one vector");
    if (dim == 0 || dim > HK_MAX_DIM) return hk_fail(HK_INVALID, "dimension %u is out of range", dim);
    if ((unsigned)metric > HK_METRIC_COSINE) return hk_fail(HK_INVALID, "unknown metric %d", (int)metric);
    hk_quant_params p = *params;
    hk_status st = params_normalize(&p, dim);
    if (st != HK_OK) return st;
    uint64_t t0 = hk_now_ns();

    /* the sample: all rows, or train_size rows drawn without replacement */
    size_t ns = n > p.train_size ? p.train_size : n;
    float *x = hk_malloc(ns * dim * sizeof(float));
    if (!x) return hk_fail(HK_NOMEM, "out of memory for %zu training vectors", ns);
    if (ns == n) {
        memcpy(x, vectors, n * dim * sizeof(float));
    } else {
        /* Floyd's sampling marks ns distinct rows; they are copied in order */
        uint8_t *taken = hk_calloc((n + 7) / 8, 1);
        if (!taken) {
            hk_free(x);
            return hk_fail(HK_NOMEM, "out of memory while sampling");
        }
        uint64_t rs = p.seed ^ 0x5851F42D4C957F2Dull;
        for (size_t j = n - ns; j < n; j++) {
            size_t t = (size_t)(splitmix(&rs) % (j + 1));
            if (taken[t / 8] & (1u << (t % 8))) t = j;
            taken[t / 8] |= (uint8_t)(1u << (t % 8));
        }
        size_t got = 0;
        for (size_t i = 0; i < n; i++)
            if (taken[i / 8] & (1u << (i % 8))) memcpy(x + got++ * dim, vectors + i * dim, dim * sizeof(float));
        hk_free(taken);
    }
    for (size_t i = 0; i < ns; i++) {
        float *row = x + i * dim;
        if (!vec_all_finite(row, dim)) {
            hk_free(x);
            return hk_fail(HK_INVALID, "a training vector has a NaN or infinite component");
        }
        if (metric == HK_METRIC_COSINE) vec_normalize(row, dim);
    }

    hk_codebook *cb = cb_alloc();
    if (!cb) {
        hk_free(x);
        return HK_NOMEM;
    }
    cb->method = p.method;
    cb->metric = metric;
    cb->dim = dim;
    cb->params = p;
    if (p.method == HK_QUANT_INT8)
        st = sq_train_int8(x, ns, dim, progress, ud, &cb->sq);
    else if (p.method == HK_QUANT_SQ8 || p.method == HK_QUANT_SQ4)
        st = sq_train_quantile(x, ns, dim, p.method == HK_QUANT_SQ8 ? 8 : 4, (qc_kind)p.curve,
                               p.curve_param, p.sq_quantile, progress, ud, &cb->sq);
    else
        st = pq_train(x, ns, dim, p.pq_m, p.pq_bits, p.method == HK_QUANT_OPQ, p.iterations,
                      p.opq_iterations, p.seed, progress, ud, &cb->pq);
    hk_free(x);
    if (st != HK_OK) {
        hk_free(cb);
        return st;
    }
    if (cb_is_sq(cb))
        cb->params.curve_param = cb->sq.curve.param;
    cb->trained_on = ns;
    cb->train_seconds = (double)(hk_now_ns() - t0) / 1e9;
    cb->created = (uint64_t)time(NULL);
    if (progress && progress(ud, "done", 1.0)) {
        hk_codebook_free(cb);
        return hk_fail(HK_CANCELLED, "training cancelled");
    }
    *out = cb;
    return HK_OK;
}

void hk_codebook_free(hk_codebook *cb) {
    if (!cb) return;
    sq_free(&cb->sq);
    pq_free(&cb->pq);
    hk_free(cb);
}

int cb_is_int8(const hk_codebook *cb) { return cb && cb->method == HK_QUANT_INT8; }

/* int8 codes for ip and cosine carry T(k) (sq.h) after the dim bytes, as f32. */
static int cb_int8_tail(const hk_codebook *cb) {
    return cb->method == HK_QUANT_INT8 && cb->metric != HK_METRIC_L2;
}

size_t cb_code_size(const hk_codebook *cb) {
    if (cb_is_sq(cb)) return sq_code_size(&cb->sq) + (cb_int8_tail(cb) ? 4 : 0);
    return pq_code_size(&cb->pq);
}

size_t cb_model_bytes(const hk_codebook *cb) {
    if (cb_is_sq(cb)) return (size_t)cb->dim * 3 * sizeof(float) + sizeof(sq_model);
    size_t b = (size_t)cb->pq.m * cb->pq.ksub * cb->pq.dsub * sizeof(float) + sizeof(pq_model);
    if (cb->pq.rotation) b += (size_t)cb->dim * cb->dim * sizeof(float);
    return b;
}

hk_status hk_codebook_info_get(const hk_codebook *cb, hk_codebook_info *o) {
    if (!cb || !o) return hk_fail(HK_INVALID, "codebook_info_get: NULL argument");
    memset(o, 0, sizeof *o);
    o->format_version = HKCB_VERSION;
    o->method = cb->method;
    o->curve = cb_is_sq(cb) ? cb->params.curve : HK_CURVE_NONE;
    o->curve_param = cb_is_sq(cb) ? cb->sq.curve.param : 0;
    o->dim = cb->dim;
    o->metric = cb->metric;
    o->pq_m = cb_is_sq(cb) ? 0 : cb->pq.m;
    o->pq_bits = cb_is_sq(cb) ? 0 : cb->pq.bits;
    o->bits = cb_is_sq(cb) ? cb->sq.bits : cb->pq.bits;
    o->code_bytes = (uint32_t)cb_code_size(cb);
    o->compression = 4.0 * cb->dim / (double)o->code_bytes;
    o->trained_on = cb->trained_on;
    o->train_seconds = cb->train_seconds;
    o->created = cb->created;
    o->seed = cb->params.seed;
    o->iterations = cb_is_sq(cb) ? 0 : cb->params.iterations;
    o->opq_iterations = cb->method == HK_QUANT_OPQ ? cb->params.opq_iterations : 0;
    o->model_bytes = cb_model_bytes(cb);
    return HK_OK;
}

/* ---- encode / decode / distances --------------------------------------------------- */

static void int8_set_term(const hk_codebook *cb, uint8_t *code) {
    float t = sq_int8_term(&cb->sq, code);
    uint32_t u;
    memcpy(&u, &t, 4);
    hk_store_u32(code + cb->dim, u);
}

static float int8_term(const uint8_t *code, uint32_t dim) {
    uint32_t u = hk_load_u32(code + dim);
    float t;
    memcpy(&t, &u, 4);
    return t;
}

hk_status cb_encode_rows(const hk_codebook *cb, const float *x, size_t n, uint8_t *codes) {
    if (cb_int8_tail(cb)) {
        size_t cs = cb_code_size(cb);
        for (size_t i = 0; i < n; i++) {
            sq_encode(&cb->sq, x + i * cb->dim, 1, codes + i * cs);
            int8_set_term(cb, codes + i * cs);
        }
        return HK_OK;
    }
    if (cb_is_sq(cb)) {
        sq_encode(&cb->sq, x, n, codes);
        return HK_OK;
    }
    return pq_encode(&cb->pq, x, n, codes);
}

hk_status hk_codebook_encode(const hk_codebook *cb, const float *vectors, size_t n,
                             uint8_t *codes) {
    if (!cb || (n && (!vectors || !codes))) return hk_fail(HK_INVALID, "codebook_encode: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (!vec_all_finite(vectors + i * cb->dim, cb->dim))
            return hk_fail(HK_INVALID, "vector %zu has a NaN or infinite component", i);
    if (cb->metric != HK_METRIC_COSINE) return cb_encode_rows(cb, vectors, n, codes);
    /* cosine: normalize in blocks */
    size_t blk = 1024;
    float *tmp = hk_malloc((n < blk ? n : blk) * cb->dim * sizeof(float) + 1);
    if (!tmp) return hk_fail(HK_NOMEM, "out of memory while encoding");
    hk_status st = HK_OK;
    for (size_t i = 0; i < n && st == HK_OK; i += blk) {
        size_t c = n - i < blk ? n - i : blk;
        memcpy(tmp, vectors + i * cb->dim, c * cb->dim * sizeof(float));
        for (size_t j = 0; j < c; j++) vec_normalize(tmp + j * cb->dim, cb->dim);
        st = cb_encode_rows(cb, tmp, c, codes + i * cb_code_size(cb));
    }
    hk_free(tmp);
    return st;
}

hk_status hk_codebook_decode(const hk_codebook *cb, const uint8_t *codes, size_t n,
                             float *vectors) {
    if (!cb || (n && (!vectors || !codes))) return hk_fail(HK_INVALID, "codebook_decode: NULL argument");
    if (cb_int8_tail(cb))
        for (size_t i = 0; i < n; i++)
            sq_decode(&cb->sq, codes + i * cb_code_size(cb), 1, vectors + i * cb->dim);
    else if (cb_is_sq(cb)) sq_decode(&cb->sq, codes, n, vectors);
    else pq_decode(&cb->pq, codes, n, vectors);
    return HK_OK;
}

size_t cb_query_floats(const hk_codebook *cb) {
    if (cb_is_int8(cb)) return (cb_code_size(cb) + 3) / 4; /* the query's own code */
    return cb_is_sq(cb) ? cb->dim : (size_t)cb->pq.m * cb->pq.ksub;
}

void cb_int8_form(const hk_codebook *cb, float *step2, int *ip) {
    float s = sq_int8_step(&cb->sq);
    *step2 = s * s;
    *ip = cb->metric != HK_METRIC_L2;
}

/* int8: the distance between two codes (the query's is one), exact up to the float
 * scaling of the integer sum. */
static float int8_dist(const hk_codebook *cb, const uint8_t *a, const uint8_t *b) {
    const vec_u8_kernels *k = vec_u8_best();
    float s = sq_int8_step(&cb->sq);
    if (cb->metric == HK_METRIC_L2) return s * s * (float)k->l2(a, b, cb->dim);
    return -(s * s * (float)k->dot(a, b, cb->dim) + int8_term(a, cb->dim) + int8_term(b, cb->dim));
}

void cb_prepare(const hk_codebook *cb, const float *q, float *buf, float *bias) {
    int ip = cb->metric != HK_METRIC_L2;
    if (cb_is_int8(cb)) { /* the query is encoded like a point */
        cb_encode_rows(cb, q, 1, (uint8_t *)buf);
        *bias = 0;
    } else if (cb_is_sq(cb)) {
        sq_prepare(&cb->sq, q, ip, buf, bias);
    } else {
        pq_lut(&cb->pq, q, ip, buf);
        *bias = 0;
    }
}

float cb_dist(const hk_codebook *cb, const float *buf, float bias, const uint8_t *code) {
    if (cb_is_int8(cb)) return int8_dist(cb, (const uint8_t *)buf, code);
    if (cb_is_sq(cb)) return sq_dist(&cb->sq, buf, bias, cb->metric != HK_METRIC_L2, code);
    return pq_adc(&cb->pq, buf, code);
}

void cb_dist_many(const hk_codebook *cb, const float *buf, float bias, const uint8_t *codes,
                  size_t n, float *out) {
    if (cb_is_int8(cb)) {
        size_t cs = cb_code_size(cb);
        for (size_t i = 0; i < n; i++) {
            if (i + 4 < n) __builtin_prefetch(codes + (i + 4) * cs);
            out[i] = int8_dist(cb, (const uint8_t *)buf, codes + i * cs);
        }
    } else if (cb_is_sq(cb)) sq_dist_many(&cb->sq, buf, bias, cb->metric != HK_METRIC_L2, codes, n, out);
    else pq_adc_many(&cb->pq, buf, codes, n, out);
}

int cb_has_sym(const hk_codebook *cb) { return cb_is_sq(cb); }

int cb_has_fs(const hk_codebook *cb) { return cb && !cb_is_sq(cb) && cb->pq.bits == 4; }
size_t cb_fs_size(const hk_codebook *cb, size_t n) { return pq_fs_packed_size(&cb->pq, n); }
void cb_fs_pack(const hk_codebook *cb, const uint8_t *codes, size_t n, uint8_t *packed) {
    pq_fs_pack(&cb->pq, codes, n, packed);
}
void cb_fs_set(const hk_codebook *cb, uint8_t *packed, size_t i, const uint8_t *code) {
    pq_fs_set(&cb->pq, packed, i, code);
}
size_t cb_fs_lut_size(const hk_codebook *cb) { return pq_fs_lut_size(&cb->pq); }
void cb_fs_prepare(const hk_codebook *cb, const float *buf, float bias, uint8_t *qlut,
                   float *scale, float *fbias) {
    pq_fs_quantize(&cb->pq, buf, qlut, scale, fbias);
    *fbias += bias;
}
void cb_fs_scan(const hk_codebook *cb, const uint8_t *qlut, float scale, float fbias,
                const uint8_t *packed, size_t n, float *out) {
    pq_fs_scan(&cb->pq, qlut, scale, fbias, packed, n, out);
}

float cb_sym(const hk_codebook *cb, const uint8_t *a, const uint8_t *b) {
    if (!cb_is_sq(cb)) return NAN;
    if (cb_is_int8(cb)) return int8_dist(cb, a, b);
    return sq_sym_dist(&cb->sq, cb->metric != HK_METRIC_L2, a, b);
}

hk_status cb_clone(const hk_codebook *cb, hk_codebook **out) {
    uint8_t *data;
    size_t len;
    hk_status st = hk_codebook_serialize(cb, &data, &len);
    if (st != HK_OK) return st;
    st = hk_codebook_deserialize(data, len, out);
    hk_free(data);
    return st;
}

/* ---- binary form ------------------------------------------------------------------- */

static void put_f64(uint8_t *p, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    hk_store_u64(p, u);
}
static double get_f64(const uint8_t *p) {
    uint64_t u = hk_load_u64(p);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* The tables as (pointer, float count) pieces in file order. */
static size_t cb_tables(const hk_codebook *cb, const float *part[2], size_t count[2]) {
    if (cb_is_sq(cb)) {
        part[0] = cb->sq.center;
        count[0] = cb->dim;
        part[1] = cb->sq.scale;
        count[1] = cb->dim;
        return 2;
    }
    part[0] = cb->pq.centroids;
    count[0] = (size_t)cb->pq.m * cb->pq.ksub * cb->pq.dsub;
    if (!cb->pq.rotation) return 1;
    part[1] = cb->pq.rotation;
    count[1] = (size_t)cb->dim * cb->dim;
    return 2;
}

hk_status hk_codebook_serialize(const hk_codebook *cb, uint8_t **data, size_t *len) {
    if (!cb || !data || !len) return hk_fail(HK_INVALID, "codebook_serialize: NULL argument");
    const float *part[2];
    size_t count[2], np = cb_tables(cb, part, count), floats = 0;
    for (size_t i = 0; i < np; i++) floats += count[i];
    size_t total = HKCB_HEADER + floats * 4 + 4;
    uint8_t *p = hk_malloc(total);
    if (!p) return hk_fail(HK_NOMEM, "out of memory for a %zu-byte codebook", total);
    memset(p, 0, HKCB_HEADER);
    memcpy(p, HKCB_MAGIC, 4);
    hk_store_u32(p + 4, HKCB_VERSION);
    hk_store_u32(p + 8, (uint32_t)cb->method);
    hk_store_u32(p + 12, (uint32_t)cb->metric);
    hk_store_u32(p + 16, cb->dim);
    hk_store_u32(p + 20, cb_is_sq(cb) ? cb->sq.bits : cb->pq.bits);
    hk_store_u32(p + 24, cb_is_sq(cb) ? 0 : cb->pq.m);
    hk_store_u32(p + 28, cb_is_sq(cb) ? (uint32_t)cb->params.curve : 0);
    put_f64(p + 32, cb_is_sq(cb) ? cb->sq.curve.param : 0);
    hk_store_u64(p + 40, cb->trained_on);
    put_f64(p + 48, cb->train_seconds);
    hk_store_u64(p + 56, cb->created);
    hk_store_u64(p + 64, cb->params.seed);
    hk_store_u32(p + 72, cb->params.iterations);
    hk_store_u32(p + 76, cb->params.opq_iterations);
    hk_store_u64(p + 80, (uint64_t)floats * 4);
    uint8_t *w = p + HKCB_HEADER;
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < count[i]; j++, w += 4) {
            uint32_t u;
            memcpy(&u, &part[i][j], 4);
            hk_store_u32(w, u);
        }
    hk_store_u32(w, hk_crc32c(0, p, total - 4));
    *data = p;
    *len = total;
    return HK_OK;
}

static hk_status bad(size_t off, const char *what) {
    return hk_fail(HK_CORRUPT, "codebook is corrupt at offset %zu: %s", off, what);
}

static void read_floats(const uint8_t *p, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = hk_load_u32(p + 4 * i);
        memcpy(&out[i], &u, 4);
    }
}

hk_status hk_codebook_deserialize(const uint8_t *data, size_t len, hk_codebook **out) {
    if (!data || !out) return hk_fail(HK_INVALID, "codebook_deserialize: NULL argument");
    if (len < 4 || memcmp(data, HKCB_MAGIC, 4))
        return hk_fail(HK_CORRUPT, "not a HEKTOR codebook (the file does not start with \"HKCB\")");
    if (len < HKCB_HEADER + 4)
        return hk_fail(HK_CORRUPT, "codebook is truncated: %zu bytes, the header alone needs %u",
                       len, HKCB_HEADER + 4);
    uint32_t version = hk_load_u32(data + 4);
    if (version != HKCB_VERSION)
        return hk_fail(HK_CORRUPT, "codebook format version %u is not supported (this build "
                       "reads version %u)", version, HKCB_VERSION);
    uint64_t tbytes = hk_load_u64(data + 80);
    if (tbytes > len || HKCB_HEADER + tbytes + 4 != len)
        return hk_fail(HK_CORRUPT, "codebook is %s: %zu bytes, its header promises %llu",
                       HKCB_HEADER + tbytes + 4 > len ? "truncated" : "longer than its header says",
                       len, (unsigned long long)(HKCB_HEADER + tbytes + 4));
    uint32_t crc = hk_load_u32(data + len - 4), got = hk_crc32c(0, data, len - 4);
    if (crc != got)
        return hk_fail(HK_CORRUPT, "codebook checksum mismatch (stored %08x, computed %08x): the "
                       "file is damaged", crc, got);
    uint32_t method = hk_load_u32(data + 8), metric = hk_load_u32(data + 12),
             dim = hk_load_u32(data + 16), bits = hk_load_u32(data + 20),
             m = hk_load_u32(data + 24), curve = hk_load_u32(data + 28);
    double cparam = get_f64(data + 32);
    if (method < HK_QUANT_SQ8 || method > HK_QUANT_INT8) return bad(8, "unknown method");
    if (metric > HK_METRIC_COSINE) return bad(12, "unknown metric");
    if (dim == 0 || dim > HK_MAX_DIM) return bad(16, "dimension out of range");
    /* Fields a method does not use must be zero, so that every file that loads writes back
     * byte for byte (a reader never silently rewrites what it was given). */
    int sq = method == HK_QUANT_SQ8 || method == HK_QUANT_SQ4 || method == HK_QUANT_INT8;
    if (method == HK_QUANT_INT8 && curve) return bad(28, "a curve is set on an int8 quantizer");
    if (sq && m) return bad(24, "m is set on a scalar quantizer");
    if (!sq && curve) return bad(28, "a curve is set on a product quantizer");
    if (!sq && hk_load_u64(data + 32)) return bad(32, "a curve parameter is set on a product quantizer");
    if (!isfinite(get_f64(data + 48)) || get_f64(data + 48) < 0)
        return bad(48, "training time is not a finite, non-negative number");
    hk_codebook *cb = cb_alloc();
    if (!cb) return HK_NOMEM;
    cb->method = (hk_quant_method)method;
    cb->metric = (hk_metric)metric;
    cb->dim = dim;
    cb->params.method = cb->method;
    cb->trained_on = hk_load_u64(data + 40);
    cb->train_seconds = get_f64(data + 48);
    cb->created = hk_load_u64(data + 56);
    cb->params.seed = hk_load_u64(data + 64);
    cb->params.iterations = hk_load_u32(data + 72);
    cb->params.opq_iterations = hk_load_u32(data + 76);
    const uint8_t *t = data + HKCB_HEADER;
    hk_status st = HK_OK;
    if (cb_is_sq(cb)) {
        if (bits != (method == HK_QUANT_SQ4 ? 4u : 8u)) st = bad(20, "bits do not match the method");
        else if (curve > HK_CURVE_MULAW) st = bad(28, "unknown curve");
        else if (tbytes != (uint64_t)dim * 8) st = bad(80, "table size does not match the dimension");
        else {
            float *c = hk_malloc((size_t)dim * 2 * sizeof(float));
            if (!c) st = hk_fail(HK_NOMEM, "out of memory reading a codebook");
            else {
                read_floats(t, (size_t)dim * 2, c);
                st = sq_from_params(dim, bits, (qc_kind)curve, cparam, c, c + dim, &cb->sq);
                if (st == HK_INVALID) st = hk_fail_prefix(HK_CORRUPT, "codebook at offset 28");
                else if (st == HK_OK && memcmp(&cb->sq.curve.param, &cparam, sizeof cparam))
                    st = bad(32, "curve parameter is not the one this curve would use");
                else if (st == HK_OK && method == HK_QUANT_INT8 && !sq_is_int8(&cb->sq))
                    st = bad(HKCB_HEADER + 4 * (size_t)dim, "int8 half-ranges are not one positive value");
                hk_free(c);
            }
            cb->params.curve = (hk_curve)curve;
            cb->params.curve_param = cb->sq.curve.param;
        }
    } else {
        uint64_t ksub = 1ull << (bits & 31);
        uint64_t want = (bits == 4 || bits == 8) && m && dim % m == 0
                            ? (uint64_t)m * ksub * (dim / m) * 4 +
                                  (method == HK_QUANT_OPQ ? (uint64_t)dim * dim * 4 : 0)
                            : 0;
        if (bits != 4 && bits != 8) st = bad(20, "PQ bits must be 4 or 8");
        else if (!m || dim % m) st = bad(24, "m does not divide the dimension");
        else if (tbytes != want) st = bad(80, "table size does not match m, bits and dimension");
        else {
            pq_model *pq = &cb->pq;
            pq->dim = dim;
            pq->m = m;
            pq->bits = bits;
            pq->ksub = (uint32_t)ksub;
            pq->dsub = dim / m;
            size_t nc = (size_t)m * ksub * pq->dsub;
            pq->centroids = hk_malloc(nc * sizeof(float));
            if (method == HK_QUANT_OPQ) pq->rotation = hk_malloc((size_t)dim * dim * sizeof(float));
            if (!pq->centroids || (method == HK_QUANT_OPQ && !pq->rotation))
                st = hk_fail(HK_NOMEM, "out of memory reading a codebook");
            else {
                read_floats(t, nc, pq->centroids);
                if (pq->rotation) read_floats(t + nc * 4, (size_t)dim * dim, pq->rotation);
                size_t total = nc + (pq->rotation ? (size_t)dim * dim : 0);
                for (size_t i = 0; i < total; i++) {
                    float v = i < nc ? pq->centroids[i] : pq->rotation[i - nc];
                    if (!isfinite(v)) {
                        st = bad(HKCB_HEADER + 4 * i, "non-finite table value");
                        break;
                    }
                }
            }
            cb->params.pq_m = m;
            cb->params.pq_bits = bits;
        }
    }
    if (st != HK_OK) {
        hk_codebook_free(cb);
        return st;
    }
    *out = cb;
    return HK_OK;
}

/* ---- JSON -------------------------------------------------------------------------- */

static hk_status put_floats(hk_buf *b, const char *key, const float *v, size_t n) {
    hk_status st = hk_buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n && st == HK_OK; i++) {
        if (i) st = hk_buf_putc(b, ',');
        /* %.9g reads back to the same float */
        if (st == HK_OK) st = hk_buf_printf(b, "%.9g", (double)v[i]);
    }
    if (st == HK_OK) st = hk_buf_putc(b, ']');
    return st;
}

hk_status hk_codebook_to_json(const hk_codebook *cb, int arrays, char **json) {
    if (!cb || !json) return hk_fail(HK_INVALID, "codebook_to_json: NULL argument");
    hk_codebook_info in;
    hk_codebook_info_get(cb, &in);
    hk_buf b;
    hk_buf_init(&b);
    hk_status st = hk_buf_printf(
        &b,
        "{\"format\":\"hektor-codebook\",\"format_version\":%u,\"method\":\"%s\",\"metric\":\"%s\","
        "\"dim\":%u,\"bits\":%u,\"code_bytes\":%u,\"compression\":%.6g",
        in.format_version, hk_quant_method_name(in.method), hk_metric_name(in.metric), in.dim,
        in.bits, in.code_bytes, in.compression);
    if (st == HK_OK && cb_is_sq(cb))
        st = hk_buf_printf(&b, ",\"curve\":\"%s\",\"curve_param\":%.17g", hk_curve_name(in.curve),
                           in.curve_param);
    if (st == HK_OK && !cb_is_sq(cb))
        st = hk_buf_printf(&b, ",\"m\":%u,\"ksub\":%u,\"dsub\":%u,\"iterations\":%u", in.pq_m,
                           cb->pq.ksub, cb->pq.dsub, in.iterations);
    if (st == HK_OK && cb->method == HK_QUANT_OPQ)
        st = hk_buf_printf(&b, ",\"opq_iterations\":%u", in.opq_iterations);
    if (st == HK_OK)
        st = hk_buf_printf(&b, ",\"trained_on\":%llu,\"train_seconds\":%.6g,\"created\":%llu,"
                           "\"seed\":%llu,\"model_bytes\":%llu",
                           (unsigned long long)in.trained_on, in.train_seconds,
                           (unsigned long long)in.created, (unsigned long long)in.seed,
                           (unsigned long long)in.model_bytes);
    if (st == HK_OK && arrays) {
        if (cb_is_sq(cb)) {
            st = put_floats(&b, "center", cb->sq.center, cb->dim);
            if (st == HK_OK) st = put_floats(&b, "half_range", cb->sq.scale, cb->dim);
        } else {
            st = put_floats(&b, "centroids", cb->pq.centroids,
                            (size_t)cb->pq.m * cb->pq.ksub * cb->pq.dsub);
            if (st == HK_OK && cb->pq.rotation)
                st = put_floats(&b, "rotation", cb->pq.rotation, (size_t)cb->dim * cb->dim);
        }
    }
    if (st == HK_OK) st = hk_buf_putc(&b, '}');
    if (st != HK_OK) {
        hk_buf_free(&b);
        return hk_fail(HK_NOMEM, "out of memory writing codebook JSON");
    }
    hk_buf_cstr(&b);
    size_t len;
    *json = (char *)hk_buf_detach(&b, &len);
    return HK_OK;
}

static hk_status json_floats(const hj_value *root, const char *key, size_t want, float *out) {
    const hj_value *a = hj_get(root, key);
    if (!a || a->type != HJ_ARRAY)
        return hk_fail(HK_INVALID, "codebook JSON lacks the array \"%s\" (export with arrays)", key);
    if (a->n != want)
        return hk_fail(HK_INVALID, "codebook JSON \"%s\" has %u numbers; %zu expected", key, a->n, want);
    for (size_t i = 0; i < want; i++) {
        if (!hj_is_number(&a->u.items[i]))
            return hk_fail(HK_INVALID, "codebook JSON \"%s\"[%zu] is not a number", key, i);
        double v = hj_number(&a->u.items[i]);
        if (!isfinite((float)v))
            return hk_fail(HK_INVALID, "codebook JSON \"%s\"[%zu] is out of float range", key, i);
        out[i] = (float)v;
    }
    return HK_OK;
}

static hk_status json_u32(const hj_value *root, const char *key, uint32_t *out, int required) {
    const hj_value *v = hj_get(root, key);
    if (!v) {
        if (required) return hk_fail(HK_INVALID, "codebook JSON lacks \"%s\"", key);
        return HK_OK;
    }
    if (v->type != HJ_INT || v->u.i < 0 || v->u.i > UINT32_MAX)
        return hk_fail(HK_INVALID, "codebook JSON \"%s\" must be a non-negative integer", key);
    *out = (uint32_t)v->u.i;
    return HK_OK;
}

static const char *json_str(const hj_value *root, const char *key) {
    const hj_value *v = hj_get(root, key);
    return v && v->type == HJ_STRING ? v->u.s : NULL;
}

hk_status hk_codebook_from_json(const char *json, size_t len, hk_codebook **out) {
    if (!json || !out) return hk_fail(HK_INVALID, "codebook_from_json: NULL argument");
    hk_arena a;
    hk_arena_init(&a);
    hj_value *root;
    hk_status st = hj_parse(json, len, &a, &root);
    if (st != HK_OK) {
        hk_arena_reset(&a);
        return hk_fail_prefix(st, "codebook JSON");
    }
    hk_codebook *cb = NULL;
    float *tab = NULL;
    uint32_t dim = 0, bits = 0, m = 0, iters = 0, opq_iters = 0;
    const char *fmt = json_str(root, "format");
    hk_quant_method method;
    hk_metric metric;
    hk_curve curve = HK_CURVE_NONE;
    if (root->type != HJ_OBJECT || !fmt || strcmp(fmt, "hektor-codebook")) {
        st = hk_fail(HK_INVALID, "not a HEKTOR codebook JSON (\"format\" must be \"hektor-codebook\")");
        goto done;
    }
    if ((st = hk_quant_method_parse(json_str(root, "method"), &method)) != HK_OK) goto done;
    if (method == HK_QUANT_NONE) {
        st = hk_fail(HK_INVALID, "codebook JSON method must not be none");
        goto done;
    }
    if ((st = hk_metric_parse(json_str(root, "metric") ? json_str(root, "metric") : "", &metric)) != HK_OK) goto done;
    if ((st = json_u32(root, "dim", &dim, 1)) != HK_OK) goto done;
    if ((st = json_u32(root, "bits", &bits, 1)) != HK_OK) goto done;
    if ((st = json_u32(root, "m", &m, 0)) != HK_OK) goto done;
    if ((st = json_u32(root, "iterations", &iters, 0)) != HK_OK) goto done;
    if ((st = json_u32(root, "opq_iterations", &opq_iters, 0)) != HK_OK) goto done;
    if (dim == 0 || dim > HK_MAX_DIM) {
        st = hk_fail(HK_INVALID, "codebook JSON dim %u is out of range", dim);
        goto done;
    }
    if (!(cb = cb_alloc())) {
        st = HK_NOMEM;
        goto done;
    }
    cb->method = method;
    cb->metric = metric;
    cb->dim = dim;
    cb->params.method = method;
    cb->params.iterations = iters;
    cb->params.opq_iterations = opq_iters;
    const hj_value *v;
    if ((v = hj_get(root, "trained_on")) && v->type == HJ_INT && v->u.i >= 0) cb->trained_on = (uint64_t)v->u.i;
    if ((v = hj_get(root, "created")) && v->type == HJ_INT && v->u.i >= 0) cb->created = (uint64_t)v->u.i;
    if ((v = hj_get(root, "seed")) && v->type == HJ_INT && v->u.i >= 0) cb->params.seed = (uint64_t)v->u.i;
    if ((v = hj_get(root, "train_seconds")) && hj_is_number(v)) cb->train_seconds = hj_number(v);
    if (cb_is_sq(cb)) {
        double cp = 0;
        if (json_str(root, "curve") && (st = hk_curve_parse(json_str(root, "curve"), &curve)) != HK_OK) goto done;
        if ((v = hj_get(root, "curve_param")) && hj_is_number(v)) cp = hj_number(v);
        if (bits != (method == HK_QUANT_SQ4 ? 4u : 8u)) {
            st = hk_fail(HK_INVALID, "codebook JSON bits %u do not match %s", bits, hk_quant_method_name(method));
            goto done;
        }
        if (method == HK_QUANT_INT8 && curve != HK_CURVE_NONE) {
            st = hk_fail(HK_INVALID, "codebook JSON: int8 takes no curve");
            goto done;
        }
        const hj_value *ce = hj_get(root, "center");
        if (!ce || ce->type != HJ_ARRAY || ce->n != dim) {
            st = hk_fail(HK_INVALID, "codebook JSON lacks the array \"center\" of %u numbers "
                         "(export with arrays)", dim);
            goto done;
        }
        if (!(tab = hk_malloc((size_t)dim * 2 * sizeof(float)))) {
            st = hk_fail(HK_NOMEM, "out of memory");
            goto done;
        }
        if ((st = json_floats(root, "center", dim, tab)) != HK_OK) goto done;
        if ((st = json_floats(root, "half_range", dim, tab + dim)) != HK_OK) goto done;
        if ((st = sq_from_params(dim, bits, (qc_kind)curve, cp, tab, tab + dim, &cb->sq)) != HK_OK) {
            st = hk_fail_prefix(HK_INVALID, "codebook JSON");
            goto done;
        }
        if (method == HK_QUANT_INT8 && !sq_is_int8(&cb->sq)) {
            st = hk_fail(HK_INVALID, "codebook JSON: an int8 codebook needs one positive "
                         "\"half_range\" for every dimension");
            goto done;
        }
        cb->params.curve = curve;
        cb->params.curve_param = cb->sq.curve.param;
    } else {
        if ((bits != 4 && bits != 8) || !m || dim % m) {
            st = hk_fail(HK_INVALID, "codebook JSON needs bits 4 or 8 and m dividing dim (got %u, %u)", bits, m);
            goto done;
        }
        pq_model *pq = &cb->pq;
        pq->dim = dim;
        pq->m = m;
        pq->bits = bits;
        pq->ksub = 1u << bits;
        pq->dsub = dim / m;
        size_t nc = (size_t)m * pq->ksub * pq->dsub;
        /* sizes first, so a hostile header cannot make us allocate what its arrays lack */
        const hj_value *ca = hj_get(root, "centroids"), *ra = hj_get(root, "rotation");
        if (!ca || ca->type != HJ_ARRAY || ca->n != nc ||
            (method == HK_QUANT_OPQ && (!ra || ra->type != HJ_ARRAY || ra->n != (size_t)dim * dim))) {
            st = hk_fail(HK_INVALID, "codebook JSON lacks the array \"centroids\" of %zu numbers%s "
                         "(export with arrays)", nc, method == HK_QUANT_OPQ ? " and \"rotation\" of dim x dim" : "");
            goto done;
        }
        pq->centroids = hk_malloc(nc * sizeof(float));
        if (method == HK_QUANT_OPQ) pq->rotation = hk_malloc((size_t)dim * dim * sizeof(float));
        if (!pq->centroids || (method == HK_QUANT_OPQ && !pq->rotation)) {
            st = hk_fail(HK_NOMEM, "out of memory");
            goto done;
        }
        if ((st = json_floats(root, "centroids", nc, pq->centroids)) != HK_OK) goto done;
        if (pq->rotation && (st = json_floats(root, "rotation", (size_t)dim * dim, pq->rotation)) != HK_OK) goto done;
        cb->params.pq_m = m;
        cb->params.pq_bits = bits;
    }
done:
    hk_free(tab);
    hk_arena_reset(&a);
    if (st != HK_OK) {
        hk_codebook_free(cb);
        return st;
    }
    *out = cb;
    return HK_OK;
}
