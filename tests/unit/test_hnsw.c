/*
 * test_hnsw.c — the HNSW graph against brute-force ground truth (flat_search).
 *
 * Data is clustered (Gaussian-ish blobs around random centres, seeded) because uniform
 * random vectors in 32+ dimensions make every neighbour nearly equidistant, which tests
 * nothing a real collection looks like. Quality is asserted as recall@10 at ef 64 with
 * M 16, ef_construction 200: after a build, after more inserts, after deleting half and
 * refilling the freed slots (against a fresh build of the same final set), under filters
 * from 50% to 0.1% selectivity, after a parallel build, and after a write/load round
 * trip (which must give identical results). The unfiltered layer search (one sorted
 * pool) must return exactly what the filtered one (two heaps) does under a filter that
 * admits every node. Every mutation phase ends in hnsw_validate.
 * Corrupt blobs (every truncation, bit flips, and structural damage with a repaired
 * checksum) must fail with HK_CORRUPT. Sizes stay small enough for ASan runs.
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

#include "core.h"
#include "index/flat.h"
#include "index/hnsw.h"
#include "index/hnsw_int.h"
#include "vec/distance.h"

#define K 10
#define EF 64
#define NQ 100
#define CLUSTERS 40

static uint64_t rng_state;
static uint64_t rnd_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float rnd(void) { return (float)((double)(rnd_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }
static float gauss(void) { return (rnd() + rnd() + rnd() + rnd()) * 0.5f; }

typedef struct data {
    size_t dim, cap;
    hk_metric metric;
    float *rows, *norms, *centres;
    uint8_t *live;
    flat_matrix m;
} data;

static void gen_vector(data *d, float *v) {
    const float *c = d->centres + (rnd_u64() % CLUSTERS) * d->dim;
    for (size_t j = 0; j < d->dim; j++) v[j] = c[j] + 1.0f * gauss();
    if (d->metric == HK_METRIC_COSINE) vec_normalize(v, d->dim);
}

static void set_row(data *d, size_t s) {
    gen_vector(d, d->rows + s * d->dim);
    d->norms[s] = vec_norm_sq(d->rows + s * d->dim, d->dim);
    d->live[s] = 1;
}

/* cap slots, the first n live. */
static data *data_new(size_t cap, size_t n, size_t dim, hk_metric metric, uint64_t seed) {
    data *d = calloc(1, sizeof *d);
    assert_non_null(d);
    rng_state = seed;
    d->dim = dim;
    d->cap = cap;
    d->metric = metric;
    d->rows = hk_aligned_alloc(cap * dim * sizeof(float));
    d->norms = calloc(cap, sizeof(float));
    d->live = calloc(cap, 1);
    d->centres = malloc(CLUSTERS * dim * sizeof(float));
    assert_non_null(d->rows);
    assert_non_null(d->norms);
    assert_non_null(d->live);
    assert_non_null(d->centres);
    memset(d->rows, 0, cap * dim * sizeof(float));
    for (size_t i = 0; i < CLUSTERS * dim; i++) d->centres[i] = rnd() * 2.0f;
    for (size_t s = 0; s < n; s++) set_row(d, s);
    d->m = (flat_matrix){.rows = d->rows, .norms_sq = d->norms, .live = d->live, .nslots = cap,
                         .dim = dim, .metric = metric};
    return d;
}

static void data_free(data *d) {
    hk_aligned_free(d->rows);
    free(d->norms);
    free(d->live);
    free(d->centres);
    free(d);
}

static float *queries_new(data *d, size_t nq) {
    float *q = malloc(nq * d->dim * sizeof(float));
    assert_non_null(q);
    for (size_t i = 0; i < nq; i++) gen_vector(d, q + i * d->dim);
    return q;
}

static void check_valid(const hnsw *g, const data *d) {
    char err[256] = "";
    int rc = hnsw_validate(g, &d->m, err, sizeof err);
    if (rc != 0) fail_msg("hnsw_validate: %s", err);
}

static hnsw *build(data *d, int parallel, uint64_t seed) {
    hnsw *g = NULL;
    assert_int_equal(hnsw_new(d->dim, d->metric, 16, 200, seed, &g), HK_OK);
    uint32_t *slots = malloc(d->cap * sizeof(uint32_t));
    assert_non_null(slots);
    size_t n = 0;
    for (size_t s = 0; s < d->cap; s++)
        if (d->live[s]) slots[n++] = (uint32_t)s;
    if (parallel) assert_int_equal(hnsw_insert_batch(g, &d->m, slots, n), HK_OK);
    else
        for (size_t i = 0; i < n; i++) assert_int_equal(hnsw_insert(g, &d->m, slots[i]), HK_OK);
    free(slots);
    assert_int_equal(hnsw_count(g), n);
    check_valid(g, d);
    return g;
}

/* Mean recall@K over the queries; every query must return min(K, allowed) hits sorted
 * by (dist, slot). */
static double recall(const hnsw *g, const data *d, const float *q, size_t nq, size_t ef,
                     const roaring_bitmap_t *allow) {
    flat_hit *truth[NQ];
    size_t tn[NQ];
    assert_true(nq <= NQ);
    assert_int_equal(flat_search(&d->m, q, nq, K, allow, 0, 0.0f, truth, tn), HK_OK);
    size_t got = 0, want = 0;
    for (size_t i = 0; i < nq; i++) {
        flat_hit hits[K];
        size_t n = 99;
        assert_int_equal(hnsw_search(g, &d->m, q + i * d->dim, K, ef, allow, hits, &n), HK_OK);
        assert_int_equal(n, tn[i]);
        for (size_t a = 0; a < n; a++) {
            if (a) assert_true(hits[a - 1].dist < hits[a].dist ||
                               (hits[a - 1].dist == hits[a].dist && hits[a - 1].slot < hits[a].slot));
            assert_true(d->live[hits[a].slot]);
            if (allow) assert_true(roaring_bitmap_contains(allow, hits[a].slot));
            for (size_t b = 0; b < tn[i]; b++)
                if (truth[i][b].slot == hits[a].slot) got++;
        }
        want += tn[i];
        hk_free(truth[i]);
    }
    return want ? (double)got / (double)want : 1.0;
}

static const char *const metric_names[] = {"l2", "ip", "cosine"};

static roaring_bitmap_t *random_filter(size_t n, double frac) {
    roaring_bitmap_t *b = roaring_bitmap_create();
    for (uint32_t s = 0; s < n; s++)
        if ((double)(rnd_u64() >> 11) / 9007199254740992.0 < frac) roaring_bitmap_add(b, s);
    return b;
}

static void check_filters(const hnsw *g, const data *d, const float *q, size_t n);

/* Build, then 25% more inserts: recall at both points, for one data shape; filters are
 * checked on the built graph when asked. */
static void build_and_grow(size_t n, size_t dim, hk_metric metric, int parallel, int filters) {
    size_t more = n / 4;
    data *d = data_new(n + more, n, dim, metric, 0x1234 + dim + metric);
    float *q = queries_new(d, NQ);
    uint64_t t0 = hk_now_ns();
    hnsw *g = build(d, parallel, 7);
    double r0 = recall(g, d, q, NQ, EF, NULL);
    double tb = (double)(hk_now_ns() - t0) / 1e9;
    if (filters) check_filters(g, d, q, n);
    for (size_t s = n; s < n + more; s++) {
        set_row(d, s);
        assert_int_equal(hnsw_insert(g, &d->m, (uint32_t)s), HK_OK);
    }
    check_valid(g, d);
    double r1 = recall(g, d, q, NQ, EF, NULL);
    printf("  %-6s %zux%zu %s: recall@10 %.4f, after +%zu inserts %.4f (build %.2f s, %.1f MB)\n",
           metric_names[metric], n, dim, parallel ? "parallel" : "sequential", r0, more, r1, tb,
           (double)hnsw_memory(g) / 1e6);
    assert_true(r0 >= 0.95);
    assert_true(r1 >= 0.95);
    hnsw_free(g);
    free(q);
    data_free(d);
}

static void test_recall_and_filters_l2_20k(void **state) { build_and_grow(20000, 32, HK_METRIC_L2, 1, 1); }
static void test_recall_metrics_5k(void **state) {
    for (int mt = 0; mt < 3; mt++) build_and_grow(5000, 128, (hk_metric)mt, 0, 0);
}
static void test_recall_metrics_parallel(void **state) {
    for (int mt = 0; mt < 3; mt++) build_and_grow(5000, 32, (hk_metric)mt, 1, 0);
}

/* Parallel and sequential builds of the same data reach the same recall. */
static void test_parallel_matches_sequential(void **state) {
    data *d = data_new(6000, 6000, 32, HK_METRIC_L2, 99);
    float *q = queries_new(d, NQ);
    hnsw *gs = build(d, 0, 3), *gp = build(d, 1, 3);
    double rs = recall(gs, d, q, NQ, EF, NULL), rp = recall(gp, d, q, NQ, EF, NULL);
    printf("  sequential %.4f, parallel %.4f\n", rs, rp);
    assert_true(rs >= 0.95);
    assert_true(rp >= rs - 0.01);
    hnsw_free(gs);
    hnsw_free(gp);
    free(q);
    data_free(d);
}

/* One layer search's results, checked: sorted by (dist, slot), each dist bit for bit the
 * pair kernel's, exclude absent. Returns the count, copied to out. */
static size_t layer(const hnsw *g, const data *d, hnsw_ctx *c, const float *qv, const flat_hit *eps,
                    size_t nep, size_t ef, int l, const roaring_bitmap_t *allow, uint32_t exclude,
                    flat_hit *out) {
    size_t n = hnsw_search_layer(g, &d->m, c, qv, eps, nep, ef, l, allow, exclude, 0);
    assert_true(n <= ef);
    assert_false(c->nomem);
    for (size_t a = 0; a < n; a++) {
        out[a] = c->out[a];
        if (a) assert_true(hnsw_hit_less(out[a - 1], out[a]));
        assert_true(out[a].slot != exclude);
        float want = hnsw_dist(g, qv, d->rows + (size_t)out[a].slot * d->dim);
        assert_memory_equal(&out[a].dist, &want, sizeof want);
    }
    return n;
}

/* The unfiltered layer search (one sorted pool) and the filtered one (two heaps) are the
 * same walk: with a filter that admits every node they must return the same hits, bit
 * for bit and in the same order, with exclude left out, from one entry point or from
 * many (construction passes a level's results down), for ef from 1 to the scratch's
 * own, on level 0 and above. Duplicated rows make ties that only the slot breaks. */
static void test_pool_matches_heaps(void **state) {
    enum { EFMAX = 200 };
    for (int mt = 0; mt < 2; mt++) {
        size_t n = 1500, dim = 16;
        data *d = data_new(n, n, dim, (hk_metric)mt, 4242 + mt);
        for (size_t s = 7; s < n; s += 7) {
            memcpy(d->rows + s * dim, d->rows + (s - 1) * dim, dim * sizeof(float));
            d->norms[s] = d->norms[s - 1];
        }
        hnsw *g = build(d, 0, 5);
        roaring_bitmap_t *all = roaring_bitmap_create();
        roaring_bitmap_add_range(all, 0, n);
        hnsw_ctx c;
        assert_int_equal(hnsw_ctx_init(&c, g, EFMAX), HK_OK);
        float *q = queries_new(d, NQ);
        static flat_hit a[EFMAX], b[EFMAX], eps[EFMAX];
        const size_t efs[] = {1, 2, 10, 64, EFMAX};
        size_t ties = 0;
        for (size_t i = 0; i < NQ; i++) {
            /* half the queries are rows of the graph: distance 0 to it and its twin */
            const float *qv = i % 2 ? q + i * dim : d->rows + (i * 13 % n) * dim;
            uint32_t exclude = i % 3 == 0 ? (uint32_t)(i * 13 % n) : HNSW_NONE;
            if (exclude == g->entry) exclude = HNSW_NONE;
            flat_hit ep = {hnsw_dist(g, qv, d->rows + (size_t)g->entry * dim), g->entry};
            for (int l = 0; l <= (g->max_level > 0 ? 1 : 0); l++) {
                for (size_t e = 0; e < sizeof efs / sizeof efs[0]; e++) {
                    size_t ef = efs[e];
                    size_t na = layer(g, d, &c, qv, &ep, 1, ef, l, NULL, exclude, a);
                    size_t nb = layer(g, d, &c, qv, &ep, 1, ef, l, all, exclude, b);
                    assert_int_equal(na, nb);
                    assert_memory_equal(a, b, na * sizeof(flat_hit));
                    if (l == 0) assert_int_equal(na, ef); /* 1500 connected nodes: ef found */
                    for (size_t j = 1; j < na; j++) ties += a[j].dist == a[j - 1].dist;
                    /* many entry points, as a level's results are passed to the next */
                    memcpy(eps, a, na * sizeof(flat_hit));
                    size_t ef2 = ef * 2 > EFMAX ? EFMAX : ef * 2;
                    na = layer(g, d, &c, qv, eps, na, ef2, l, NULL, exclude, a);
                    nb = layer(g, d, &c, qv, eps, nb, ef2, l, all, exclude, b);
                    assert_int_equal(na, nb);
                    assert_memory_equal(a, b, na * sizeof(flat_hit));
                }
            }
        }
        assert_true(ties > 0); /* the duplicates did make ties */
        hnsw_ctx_free(&c);
        roaring_bitmap_free(all);
        free(q);
        hnsw_free(g);
        data_free(d);
    }
}

/* Delete half, refill the freed slots with new vectors; compare with a fresh build. */
static void test_delete_and_reuse(void **state) {
    for (int mt = 0; mt < 3; mt++) {
        size_t n = 4000;
        data *d = data_new(n, n, 32, (hk_metric)mt, 555 + mt);
        float *q = queries_new(d, NQ);
        hnsw *g = build(d, 0, 11);
        uint32_t *perm = malloc(n * sizeof(uint32_t));
        assert_non_null(perm);
        for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = rnd_u64() % (i + 1);
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        uint64_t t0 = hk_now_ns();
        for (size_t i = 0; i < n / 2; i++) {
            assert_int_equal(hnsw_delete(g, &d->m, perm[i]), HK_OK);
            d->live[perm[i]] = 0;
            memset(d->rows + (size_t)perm[i] * d->dim, 0xff, d->dim * sizeof(float)); /* NaN: never read */
        }
        double tdel = (double)(hk_now_ns() - t0) / 1e9;
        check_valid(g, d);
        assert_int_equal(hnsw_count(g), n - n / 2);
        /* Deletes can cut nodes off; connect makes every node reachable again. */
        size_t cut = 0, fixed = 0;
        assert_int_equal(hnsw_unreachable(g, &cut), HK_OK);
        assert_int_equal(hnsw_connect(g, &d->m, &fixed), HK_OK);
        assert_true(cut == 0 || fixed > 0); /* one link can reattach a cut-off group */
        assert_int_equal(hnsw_unreachable(g, &cut), HK_OK);
        assert_int_equal(cut, 0);
        check_valid(g, d);
        double rhalf = recall(g, d, q, NQ, EF, NULL);
        for (size_t i = 0; i < n / 2; i++) {
            set_row(d, perm[i]);
            assert_int_equal(hnsw_insert(g, &d->m, perm[i]), HK_OK);
        }
        check_valid(g, d);
        double r = recall(g, d, q, NQ, EF, NULL);
        /* One batch deleting a quarter of the refilled graph (one scan, parallel repair). */
        uint32_t *quarter = malloc(n / 4 * sizeof *quarter);
        for (size_t i = 0; i < n / 4; i++) quarter[i] = perm[n / 2 + i];
        assert_int_equal(hnsw_delete_batch(g, &d->m, quarter, n / 4), HK_OK);
        uint32_t dup[2] = {quarter[0], quarter[0]};
        assert_int_equal(hnsw_delete_batch(g, &d->m, dup, 2), HK_NOT_FOUND); /* gone already */
        for (size_t i = 0; i < n / 4; i++) d->live[quarter[i]] = 0;
        check_valid(g, d);
        assert_int_equal(hnsw_connect(g, &d->m, &fixed), HK_OK);
        assert_int_equal(hnsw_unreachable(g, &cut), HK_OK);
        assert_int_equal(cut, 0);
        double rq = recall(g, d, q, NQ, EF, NULL);
        assert_true(rq >= 0.95);
        for (size_t i = 0; i < n / 4; i++) {
            d->live[quarter[i]] = 1;
            assert_int_equal(hnsw_insert(g, &d->m, quarter[i]), HK_OK);
        }
        free(quarter);
        hnsw *fresh = build(d, 0, 11);
        double rf = recall(fresh, d, q, NQ, EF, NULL);
        printf("  %-6s delete %zu (%.2f s): recall %.4f; refilled %.4f; batch-deleted quarter "
               "%.4f; fresh build %.4f\n", metric_names[mt], n / 2, tdel, rhalf, r, rq, rf);
        assert_true(rhalf >= 0.95);
        assert_true(r >= rf - 0.01);
        hnsw_free(fresh);
        hnsw_free(g);
        free(perm);
        free(q);
        data_free(d);
    }
}

/* Deleting everything (entry point included, repeatedly) and starting again. */
static void test_delete_all(void **state) {
    data *d = data_new(300, 300, 16, HK_METRIC_L2, 4242);
    hnsw *g = build(d, 0, 5);
    for (uint32_t s = 0; s < 300; s++) {
        assert_int_equal(hnsw_delete(g, &d->m, (s * 7) % 300), HK_OK);
        d->live[(s * 7) % 300] = 0;
        if (s % 50 == 0) check_valid(g, d);
    }
    assert_int_equal(hnsw_count(g), 0);
    check_valid(g, d);
    flat_hit hits[K];
    size_t n = 5;
    float q[16] = {0};
    assert_int_equal(hnsw_search(g, &d->m, q, K, EF, NULL, hits, &n), HK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(hnsw_delete(g, &d->m, 3), HK_NOT_FOUND);
    for (uint32_t s = 0; s < 300; s++) {
        set_row(d, s);
        assert_int_equal(hnsw_insert(g, &d->m, s), HK_OK);
    }
    check_valid(g, d);
    float *qs = queries_new(d, NQ);
    assert_true(recall(g, d, qs, NQ, EF, NULL) >= 0.99);
    free(qs);
    hnsw_free(g);
    data_free(d);
}

/* Filters from 50% to 0.1% (graph walks above the exact-scan threshold, exact scans
 * below), a strided filter, filters with fewer slots than k and an empty one. */
static void check_filters(const hnsw *g, const data *d, const float *q, size_t n) {
    const double fracs[] = {0.5, 0.1, 0.01, 0.001};
    for (size_t i = 0; i < 4; i++) {
        roaring_bitmap_t *b = random_filter(n, fracs[i]);
        double r = recall(g, d, q, NQ, EF, b);
        printf("  filter %5.1f%% (%llu slots): recall@10 %.4f\n", fracs[i] * 100,
               (unsigned long long)roaring_bitmap_get_cardinality(b), r);
        assert_true(r >= 0.95);
        roaring_bitmap_free(b);
    }
    roaring_bitmap_t *b = roaring_bitmap_create();
    for (uint32_t s = 0; s < n; s += 20) roaring_bitmap_add(b, s);
    roaring_bitmap_add(b, (uint32_t)d->cap + 5); /* past the end: ignored */
    assert_true(recall(g, d, q, NQ, EF, b) >= 0.95);
    roaring_bitmap_free(b);
    b = roaring_bitmap_create();
    roaring_bitmap_add(b, 17);
    roaring_bitmap_add(b, 4000);
    assert_true(recall(g, d, q, 5, EF, b) == 1.0);
    roaring_bitmap_free(b);
    b = roaring_bitmap_create();
    flat_hit hits[K];
    size_t cnt = 9;
    assert_int_equal(hnsw_search(g, &d->m, q, K, EF, b, hits, &cnt), HK_OK);
    assert_int_equal(cnt, 0);
    roaring_bitmap_free(b);
}

static void same_results(const hnsw *a, const hnsw *b, const data *d, const float *q) {
    for (size_t i = 0; i < NQ; i++) {
        flat_hit ha[K], hb[K];
        size_t na, nb;
        assert_int_equal(hnsw_search(a, &d->m, q + i * d->dim, K, EF, NULL, ha, &na), HK_OK);
        assert_int_equal(hnsw_search(b, &d->m, q + i * d->dim, K, EF, NULL, hb, &nb), HK_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(ha, hb, na * sizeof(flat_hit));
    }
}

static void test_write_load(void **state) {
    size_t n = 2000;
    data *d = data_new(n + 10, n, 24, HK_METRIC_COSINE, 31337);
    float *q = queries_new(d, NQ);
    hnsw *g = build(d, 0, 17);
    for (uint32_t s = 0; s < n; s += 3) {
        assert_int_equal(hnsw_delete(g, &d->m, s), HK_OK);
        d->live[s] = 0;
    }
    hk_buf buf;
    hk_buf_init(&buf);
    assert_int_equal(hnsw_write(g, &buf), HK_OK);
    hnsw *h = NULL;
    assert_int_equal(hnsw_load(buf.data, buf.len, (uint32_t)d->cap, &h), HK_OK);
    check_valid(h, d);
    assert_int_equal(hnsw_count(h), hnsw_count(g));
    same_results(g, h, d, q);
    /* Both continue identically: same level draws, same links. */
    set_row(d, 0);
    assert_int_equal(hnsw_insert(g, &d->m, 0), HK_OK);
    assert_int_equal(hnsw_insert(h, &d->m, 0), HK_OK);
    hk_buf b2, b3;
    hk_buf_init(&b2);
    hk_buf_init(&b3);
    assert_int_equal(hnsw_write(g, &b2), HK_OK);
    assert_int_equal(hnsw_write(h, &b3), HK_OK);
    assert_int_equal(b2.len, b3.len);
    assert_memory_equal(b2.data, b3.data, b2.len);
    hk_buf_free(&b2);
    hk_buf_free(&b3);
    hnsw_free(h);
    /* Too few slots in the collection. */
    h = (hnsw *)1;
    assert_int_equal(hnsw_load(buf.data, buf.len, (uint32_t)n - 5, &h), HK_CORRUPT);
    assert_null(h);
    /* Every truncation. */
    for (size_t len = 0; len < buf.len; len += len < 200 ? 1 : 97) {
        assert_int_equal(hnsw_load(buf.data, len, (uint32_t)d->cap, &h), HK_CORRUPT);
        assert_null(h);
    }
    /* Bit flips anywhere. */
    uint8_t *copy = malloc(buf.len);
    assert_non_null(copy);
    for (size_t i = 0; i < 400; i++) {
        memcpy(copy, buf.data, buf.len);
        size_t off = rnd_u64() % buf.len;
        copy[off] ^= (uint8_t)(1u << (rnd_u64() % 8));
        assert_int_equal(hnsw_load(copy, buf.len, (uint32_t)d->cap, &h), HK_CORRUPT);
    }
    /* Structural damage behind a valid checksum: a link to itself, past the end, to a
     * non-node, a duplicate link, a wrong node count, a wrong entry point. */
    size_t rec = 48; /* slot 0 (deleted): one byte; slot 1: level, count, links */
    assert_int_equal(buf.data[rec], 0xFF);
    size_t s1 = rec + 1;
    assert_true(buf.data[s1] != 0xFF);
    assert_true(hk_load_u32(buf.data + s1 + 1) >= 2);
    struct { size_t off; uint32_t val; } damage[] = {
        {s1 + 5, 1}, {s1 + 5, 1000000}, {s1 + 5, 3}, {s1 + 5, 0}, {36, 5}, {40, 0},
        {s1 + 1, 1000}, {16, 1}, {12, 9}, {8, 0},
    };
    for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
        memcpy(copy, buf.data, buf.len);
        uint32_t v = damage[i].val;
        if (i == 3) v = hk_load_u32(copy + s1 + 9); /* duplicate of the second link */
        hk_store_u32(copy + damage[i].off, v);
        hk_store_u32(copy + buf.len - 4, hk_crc32c(0, copy, buf.len - 4));
        hk_status st = hnsw_load(copy, buf.len, (uint32_t)d->cap, &h);
        if (st != HK_CORRUPT) fail_msg("damage %zu loaded with status %d", i, (int)st);
    }
    free(copy);
    hk_buf_free(&buf);
    /* An empty graph round-trips too. */
    hnsw *e = NULL;
    assert_int_equal(hnsw_new(8, HK_METRIC_L2, 8, 50, 1, &e), HK_OK);
    hk_buf_init(&buf);
    assert_int_equal(hnsw_write(e, &buf), HK_OK);
    assert_int_equal(hnsw_load(buf.data, buf.len, 0, &h), HK_OK);
    assert_int_equal(hnsw_count(h), 0);
    hnsw_free(h);
    hnsw_free(e);
    hk_buf_free(&buf);
    hnsw_free(g);
    free(q);
    data_free(d);
}

static void test_api_errors(void **state) {
    hnsw *g = (hnsw *)1;
    assert_int_equal(hnsw_new(0, HK_METRIC_L2, 16, 200, 1, &g), HK_INVALID);
    assert_null(g);
    assert_int_equal(hnsw_new(8, HK_METRIC_L2, 1, 200, 1, &g), HK_INVALID);
    assert_int_equal(hnsw_new(8, HK_METRIC_L2, 16, 0, 1, &g), HK_INVALID);
    assert_int_equal(hnsw_new(8, (hk_metric)7, 16, 200, 1, &g), HK_INVALID);
    hnsw_free(NULL);
    data *d = data_new(50, 40, 8, HK_METRIC_IP, 2);
    assert_int_equal(hnsw_new(8, HK_METRIC_IP, 4, 20, 1, &g), HK_OK);
    assert_int_equal(hnsw_insert(g, &d->m, 45), HK_INVALID);  /* not live */
    assert_int_equal(hnsw_insert(g, &d->m, 500), HK_INVALID); /* past the matrix */
    uint32_t dup[] = {1, 2, 1};
    assert_int_equal(hnsw_insert_batch(g, &d->m, dup, 3), HK_INVALID);
    assert_int_equal(hnsw_count(g), 0);
    check_valid(g, d);
    for (uint32_t s = 0; s < 40; s++) assert_int_equal(hnsw_insert(g, &d->m, s), HK_OK);
    assert_int_equal(hnsw_insert(g, &d->m, 3), HK_INVALID);
    assert_true(hnsw_contains(g, 3));
    assert_false(hnsw_contains(g, 45));
    assert_true(hnsw_memory(g) > 0);
    check_valid(g, d);
    flat_hit hits[64];
    size_t n;
    float q[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(hnsw_search(g, &d->m, q, 64, 10, NULL, hits, &n), HK_OK);
    assert_int_equal(n, 40); /* k beyond the graph: everything */
    data *other = data_new(50, 40, 9, HK_METRIC_IP, 2);
    assert_int_equal(hnsw_search(g, &other->m, q, 5, 10, NULL, hits, &n), HK_DIMENSION);
    assert_int_not_equal(hnsw_validate(g, &other->m, NULL, 0), 0);
    data_free(other);
    d->live[5] = 0; /* the collection forgot to tell the graph */
    char err[128];
    assert_int_not_equal(hnsw_validate(g, &d->m, err, sizeof err), 0);
    hnsw_free(g);
    data_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_errors),
        cmocka_unit_test(test_recall_and_filters_l2_20k),
        cmocka_unit_test(test_recall_metrics_5k),
        cmocka_unit_test(test_recall_metrics_parallel),
        cmocka_unit_test(test_parallel_matches_sequential),
        cmocka_unit_test(test_pool_matches_heaps),
        cmocka_unit_test(test_delete_and_reuse),
        cmocka_unit_test(test_delete_all),
        cmocka_unit_test(test_write_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
