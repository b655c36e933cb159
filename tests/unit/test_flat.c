/*
 * test_flat.c — flat_search against a brute-force double-precision reference.
 *
 * Every metric runs through the single-query path (nq 1 and 3) and the sgemm batch path
 * (nq 64 and 300, the latter two query groups), on a matrix large enough to be split
 * into several chunks, with dead slots, allow bitmaps (sparse, dense, with slots past the
 * end), radius queries (bounded and unbounded), k larger than the collection, exact ties
 * and allocation failures.
 *
 * A float result may legitimately differ from the double reference by rounding, so
 * distances are compared with a tolerance; slots must match exactly wherever the
 * reference's neighbouring distances are further apart than that tolerance, and always
 * for exact ties (identical rows), where the smaller slot must win.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "index/flat.h"
#include "vec/distance.h"

#define REL_TOL 2e-5

static const char *const metric_names[] = {"l2", "ip", "cosine"};

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rnd_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float rnd(void) { return (float)((double)(rnd_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

typedef struct fixture {
    flat_matrix m;
    float *rows;
    float *norms;
    uint8_t *live;
} fixture;

/* n rows of dim floats; distinct > 0 makes row i a copy of row i % distinct. */
static fixture *fixture_new(size_t n, size_t dim, hk_metric metric, size_t distinct) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->rows = hk_aligned_alloc(n * dim * sizeof(float));
    f->norms = malloc(n * sizeof(float));
    f->live = malloc(n);
    assert_non_null(f->rows);
    assert_non_null(f->norms);
    assert_non_null(f->live);
    for (size_t i = 0; i < n; i++) {
        float *r = f->rows + i * dim;
        if (distinct && i >= distinct) {
            memcpy(r, f->rows + (i % distinct) * dim, dim * sizeof(float));
        } else {
            for (size_t j = 0; j < dim; j++) r[j] = rnd();
            if (metric == HK_METRIC_COSINE) vec_normalize(r, dim);
        }
        f->norms[i] = vec_norm_sq(r, dim);
        f->live[i] = 1;
    }
    f->m = (flat_matrix){.rows = f->rows, .norms_sq = f->norms, .live = f->live, .nslots = n,
                         .dim = dim, .metric = metric};
    return f;
}

static void fixture_free(fixture *f) {
    hk_aligned_free(f->rows);
    free(f->norms);
    free(f->live);
    free(f);
}

static float *queries_new(size_t nq, size_t dim, hk_metric metric) {
    float *q = malloc(nq * dim * sizeof(float));
    assert_non_null(q);
    for (size_t i = 0; i < nq * dim; i++) q[i] = rnd();
    if (metric == HK_METRIC_COSINE)
        for (size_t i = 0; i < nq; i++) vec_normalize(q + i * dim, dim);
    return q;
}

typedef struct ref_hit {
    double dist;
    uint32_t slot;
} ref_hit;

static int ref_cmp(const void *pa, const void *pb) {
    const ref_hit *a = pa, *b = pb;
    if (a->dist != b->dist) return a->dist < b->dist ? -1 : 1;
    return (a->slot > b->slot) - (a->slot < b->slot);
}

static double ref_dist(const flat_matrix *m, const float *q, uint32_t slot) {
    const float *x = m->rows + (size_t)slot * m->dim;
    double s = 0;
    if (m->metric == HK_METRIC_L2) {
        for (size_t j = 0; j < m->dim; j++) {
            double d = (double)q[j] - x[j];
            s += d * d;
        }
        return s;
    }
    for (size_t j = 0; j < m->dim; j++) s -= (double)q[j] * x[j];
    return s;
}

/* The scale rounding error grows with: ||q||^2 + ||x||^2 bounds both |q.x| and the
 * terms of the L2-by-norms identity. */
static double tolerance(const flat_matrix *m, const float *q) {
    double qn = 0, xmax = 0;
    for (size_t j = 0; j < m->dim; j++) qn += (double)q[j] * q[j];
    for (size_t i = 0; i < m->nslots; i++) {
        double xn = m->norms_sq ? m->norms_sq[i] : vec_norm_sq(m->rows + i * m->dim, m->dim);
        if (xn > xmax) xmax = xn;
    }
    return REL_TOL * (qn + xmax);
}

static int eligible(const flat_matrix *m, const roaring_bitmap_t *allow, uint32_t slot) {
    return slot < m->nslots && m->live[slot] && (!allow || roaring_bitmap_contains(allow, slot));
}

/* Checks one query's hits against the reference; see the file comment for the rules.
 * Only reference entries that can matter (dist <= the last hit's + 3 tol) are sorted. */
static void check_query(const flat_matrix *m, const float *q, size_t k, const roaring_bitmap_t *allow,
                        int has_radius, float radius, const flat_hit *hits, size_t count) {
    double tol = tolerance(m, q);
    double *all = malloc((m->nslots + 1) * sizeof *all);
    ref_hit *ref = malloc((m->nslots + 1) * sizeof *ref);
    assert_non_null(all);
    assert_non_null(ref);

    /* How many hits are due: all within the radius (give or take tol), capped by k. */
    size_t n = 0, lo = 0, hi = 0;
    for (uint32_t s = 0; s < m->nslots; s++) {
        if (!eligible(m, allow, s)) continue;
        all[s] = ref_dist(m, q, s);
        n++;
        lo += !has_radius || all[s] <= radius - tol;
        hi += !has_radius || all[s] <= radius + tol;
    }
    if (k) {
        lo = lo < k ? lo : k;
        hi = hi < k ? hi : k;
    }
    if (count < lo || count > hi) fail_msg("got %zu hits, want %zu..%zu (k %zu, %zu eligible)", count, lo, hi, k, n);

    double bound = count ? hits[count - 1].dist + 3 * tol : -INFINITY;
    size_t nsub = 0;
    for (uint32_t s = 0; s < m->nslots; s++)
        if (eligible(m, allow, s) && all[s] <= bound) ref[nsub++] = (ref_hit){all[s], s};
    qsort(ref, nsub, sizeof *ref, ref_cmp);

    for (size_t i = 0; i < count; i++) {
        uint32_t s = hits[i].slot;
        if (!eligible(m, allow, s)) fail_msg("hit %zu: slot %u is dead, not allowed or out of range", i, s);
        if (fabs(hits[i].dist - all[s]) > tol)
            fail_msg("hit %zu slot %u: dist %.9g, reference %.9g", i, s, hits[i].dist, all[s]);
        if (i > 0) {
            const flat_hit *p = &hits[i - 1];
            if (!(p->dist < hits[i].dist || (p->dist == hits[i].dist && p->slot < hits[i].slot)))
                fail_msg("hits %zu and %zu out of (dist, slot) order", i - 1, i);
        }
        if (i >= nsub) fail_msg("hit %zu: no reference entry this close (duplicate slots?)", i);
        if (fabs(hits[i].dist - ref[i].dist) > tol)
            fail_msg("rank %zu: dist %.9g, reference rank dist %.9g (slot %u)", i, hits[i].dist, ref[i].dist,
                     ref[i].slot);
        if (has_radius && hits[i].dist > radius) fail_msg("hit %zu: dist %.9g beyond radius %.9g", i, hits[i].dist, radius);
        int clear_below = i == 0 || ref[i].dist - ref[i - 1].dist > 2 * tol;
        int clear_above = i + 1 >= nsub || ref[i + 1].dist - ref[i].dist > 2 * tol;
        if (clear_below && clear_above && s != ref[i].slot)
            fail_msg("rank %zu: slot %u, reference slot %u (dist %.9g)", i, s, ref[i].slot, ref[i].dist);
    }
    free(all);
    free(ref);
}

static void run_and_check(const flat_matrix *m, const float *queries, size_t nq, size_t k,
                          const roaring_bitmap_t *allow, int has_radius, float radius) {
    flat_hit **hits = calloc(nq, sizeof *hits);
    size_t *counts = calloc(nq, sizeof *counts);
    assert_non_null(hits);
    assert_non_null(counts);
    hk_status st = flat_search(m, queries, nq, k, allow, has_radius, radius, hits, counts);
    if (st != HK_OK) fail_msg("flat_search: %s: %s", hk_status_name(st), hk_errmsg());
    for (size_t q = 0; q < nq; q++) {
        if (q < 8 || q % 16 == 0 || q == nq - 1) /* a sample of large batches, every group */
            check_query(m, queries + q * m->dim, k, allow, has_radius, radius, hits[q], counts[q]);
        hk_free(hits[q]);
    }
    free(hits);
    free(counts);
}

static const size_t path_nq[] = {1, 3, 64, 300};
#define NPATHS (sizeof path_nq / sizeof path_nq[0])
#define BIG_N 20000
#define BIG_DIM 33

static void check_metric(hk_metric metric) {
    fixture *f = fixture_new(BIG_N, BIG_DIM, metric, 0);
    for (size_t p = 0; p < NPATHS; p++) {
        float *q = queries_new(path_nq[p], BIG_DIM, metric);
        run_and_check(&f->m, q, path_nq[p], 10, NULL, 0, 0);
        if (metric == HK_METRIC_L2) {
            f->m.norms_sq = NULL; /* the batch path computes norms itself */
            run_and_check(&f->m, q, path_nq[p], 10, NULL, 0, 0);
            f->m.norms_sq = f->norms;
        }
        free(q);
    }
    fixture_free(f);
}

static void test_l2(void **state) { check_metric(HK_METRIC_L2); }
static void test_ip(void **state) { check_metric(HK_METRIC_IP); }
static void test_cosine(void **state) { check_metric(HK_METRIC_COSINE); }

static void test_dead_slots(void **state) {
    const hk_metric metrics[] = {HK_METRIC_L2, HK_METRIC_IP};
    for (size_t mi = 0; mi < 2; mi++) {
        fixture *f = fixture_new(BIG_N, BIG_DIM, metrics[mi], 0);
        for (size_t i = 0; i < BIG_N; i++)
            if (i % 7 == 0 || (i >= 5000 && i < 9000)) f->live[i] = 0;
        for (size_t p = 0; p < NPATHS; p += 2) {
            float *q = queries_new(path_nq[p], BIG_DIM, metrics[mi]);
            /* The nearest rows of the first query die: the search must look past them. */
            flat_hit *hp;
            size_t cnt;
            assert_int_equal(flat_search(&f->m, q, 1, 1, NULL, 0, 0, &hp, &cnt), HK_OK);
            assert_int_equal(cnt, 1);
            f->live[hp->slot] = 0;
            hk_free(hp);
            run_and_check(&f->m, q, path_nq[p], 10, NULL, 0, 0);
            free(q);
        }
        fixture_free(f);
    }
}

static void test_allow(void **state) {
    fixture *f = fixture_new(BIG_N, BIG_DIM, HK_METRIC_L2, 0);
    roaring_bitmap_t *sparse = roaring_bitmap_create();
    roaring_bitmap_t *dense = roaring_bitmap_create();
    roaring_bitmap_t *holes = roaring_bitmap_create(); /* runs with single gaps */
    for (uint32_t i = 0; i < BIG_N; i++) {
        if (rnd_u64() % 20 == 0) roaring_bitmap_add(sparse, i);
        if (i < 12000 || rnd_u64() % 3 == 0) roaring_bitmap_add(dense, i);
        if (i % 2000 != 1999) roaring_bitmap_add(holes, i);
    }
    /* Slots past the matrix and dead slots are never returned, even when allowed. */
    roaring_bitmap_add(sparse, BIG_N);
    roaring_bitmap_add(sparse, BIG_N + 12345);
    roaring_bitmap_add(dense, 4000000);
    f->live[100] = 0;
    roaring_bitmap_add(sparse, 100);
    for (size_t p = 0; p < NPATHS; p++) {
        float *q = queries_new(path_nq[p], BIG_DIM, HK_METRIC_L2);
        run_and_check(&f->m, q, path_nq[p], 10, sparse, 0, 0);
        run_and_check(&f->m, q, path_nq[p], 10, dense, 0, 0);
        run_and_check(&f->m, q, path_nq[p], 10, holes, 0, 0);
        run_and_check(&f->m, q, path_nq[p], 0, holes, 1, INFINITY); /* every allowed slot */
        free(q);
    }
    /* A handful of allowed slots: k exceeds them. */
    roaring_bitmap_t *few = roaring_bitmap_of(4, 5, 77, 78, 19999);
    float *q = queries_new(64, BIG_DIM, HK_METRIC_L2);
    run_and_check(&f->m, q, 1, 10, few, 0, 0);
    run_and_check(&f->m, q, 64, 10, few, 0, 0);
    /* Nothing allowed: empty results. */
    roaring_bitmap_t *none = roaring_bitmap_create();
    flat_hit *hits[64];
    size_t counts[64];
    assert_int_equal(flat_search(&f->m, q, 64, 10, none, 0, 0, hits, counts), HK_OK);
    for (size_t i = 0; i < 64; i++) {
        assert_int_equal(counts[i], 0);
        assert_null(hits[i]);
    }
    free(q);
    roaring_bitmap_free(sparse);
    roaring_bitmap_free(dense);
    roaring_bitmap_free(holes);
    roaring_bitmap_free(few);
    roaring_bitmap_free(none);
    fixture_free(f);
}

static int float_cmp(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

static void test_radius(void **state) {
    const hk_metric metrics[] = {HK_METRIC_L2, HK_METRIC_IP};
    for (size_t mi = 0; mi < 2; mi++) {
        fixture *f = fixture_new(BIG_N, BIG_DIM, metrics[mi], 0);
        f->live[3] = 0;
        for (size_t p = 0; p < NPATHS; p++) {
            float *q = queries_new(path_nq[p], BIG_DIM, metrics[mi]);
            /* Radius between the first query's 100th and 101st distances. */
            float *d = malloc(BIG_N * sizeof *d);
            assert_non_null(d);
            for (uint32_t s = 0; s < BIG_N; s++) d[s] = (float)ref_dist(&f->m, q, s);
            qsort(d, BIG_N, sizeof *d, float_cmp);
            float radius = (d[99] + d[100]) / 2;
            free(d);
            run_and_check(&f->m, q, path_nq[p], 0, NULL, 1, radius);
            run_and_check(&f->m, q, path_nq[p], 5, NULL, 1, radius);
            run_and_check(&f->m, q, path_nq[p], 100000, NULL, 1, radius);
            roaring_bitmap_t *odd = roaring_bitmap_create();
            for (uint32_t s = 1; s < BIG_N; s += 2) roaring_bitmap_add(odd, s);
            run_and_check(&f->m, q, path_nq[p], 0, odd, 1, radius);
            roaring_bitmap_free(odd);
            /* A radius nothing reaches. */
            float nowhere = metrics[mi] == HK_METRIC_L2 ? -1.0f : -1e9f;
            flat_hit *hits[300];
            size_t counts[300];
            assert_int_equal(flat_search(&f->m, q, path_nq[p], 0, NULL, 1, nowhere, hits, counts), HK_OK);
            for (size_t i = 0; i < path_nq[p]; i++) assert_int_equal(counts[i], 0);
            free(q);
        }
        fixture_free(f);
    }
}

static void test_k_beyond_n(void **state) {
    fixture *f = fixture_new(50, 7, HK_METRIC_L2, 0);
    f->live[10] = f->live[49] = 0;
    for (size_t p = 0; p < NPATHS; p++) {
        float *q = queries_new(path_nq[p], 7, HK_METRIC_L2);
        flat_hit **hits = calloc(path_nq[p], sizeof *hits);
        size_t *counts = calloc(path_nq[p], sizeof *counts);
        assert_int_equal(flat_search(&f->m, q, path_nq[p], 1000, NULL, 0, 0, hits, counts), HK_OK);
        for (size_t i = 0; i < path_nq[p]; i++) {
            assert_int_equal(counts[i], 48);
            check_query(&f->m, q + i * 7, 1000, NULL, 0, 0, hits[i], counts[i]);
            hk_free(hits[i]);
        }
        free(hits);
        free(counts);
        free(q);
    }
    fixture_free(f);
}

/* 100 distinct rows repeated 200 times: every distance is shared by 200 slots spread over
 * every chunk and tile, and the smallest slots must win. */
static void test_ties(void **state) {
    const hk_metric metrics[] = {HK_METRIC_L2, HK_METRIC_IP, HK_METRIC_COSINE};
    for (size_t mi = 0; mi < 3; mi++) {
        fixture *f = fixture_new(BIG_N, BIG_DIM, metrics[mi], 100);
        f->live[200] = 0; /* a copy of row 0 */
        for (size_t p = 0; p < NPATHS; p++) {
            size_t nq = path_nq[p];
            float *q = queries_new(nq, BIG_DIM, metrics[mi]);
            flat_hit **hits = calloc(nq, sizeof *hits);
            size_t *counts = calloc(nq, sizeof *counts);
            assert_int_equal(flat_search(&f->m, q, nq, 15, NULL, 0, 0, hits, counts), HK_OK);
            for (size_t i = 0; i < nq; i++) {
                const float *qv = q + i * BIG_DIM;
                uint32_t best = 0;
                for (uint32_t s = 1; s < 100; s++)
                    if (ref_dist(&f->m, qv, s) < ref_dist(&f->m, qv, best)) best = s;
                assert_int_equal(counts[i], 15);
                size_t e = 0;
                for (uint32_t s = best; e < 15; s += 100) {
                    if (!f->live[s]) continue;
                    if (hits[i][e].slot != s)
                        fail_msg("%s nq %zu query %zu rank %zu: slot %u, want %u", metric_names[metrics[mi]],
                                 nq, i, e, hits[i][e].slot, s);
                    if (hits[i][e].dist != hits[i][0].dist) fail_msg("tied rows got different distances");
                    e++;
                }
                hk_free(hits[i]);
            }
            free(hits);
            free(counts);
            free(q);
        }
        fixture_free(f);
    }
}

static void test_empty(void **state) {
    fixture *f = fixture_new(100, 5, HK_METRIC_L2, 0);
    float *q = queries_new(8, 5, HK_METRIC_L2);
    flat_hit *hits[8];
    size_t counts[8];
    for (size_t i = 0; i < 8; i++) {
        hits[i] = (flat_hit *)&hits; /* must be overwritten */
        counts[i] = 99;
    }
    assert_int_equal(flat_search(&f->m, q, 8, 0, NULL, 0, 0, hits, counts), HK_OK);
    for (size_t i = 0; i < 8; i++) {
        assert_null(hits[i]);
        assert_int_equal(counts[i], 0);
    }
    assert_int_equal(flat_search(&f->m, q, 0, 10, NULL, 0, 0, hits, counts), HK_OK);
    memset(f->live, 0, 100);
    assert_int_equal(flat_search(&f->m, q, 1, 10, NULL, 0, 0, hits, counts), HK_OK);
    assert_int_equal(counts[0], 0);
    assert_int_equal(flat_search(&f->m, q, 8, 10, NULL, 0, 0, hits, counts), HK_OK);
    for (size_t i = 0; i < 8; i++) assert_int_equal(counts[i], 0);
    f->m.nslots = 0;
    assert_int_equal(flat_search(&f->m, q, 8, 10, NULL, 0, 0, hits, counts), HK_OK);
    for (size_t i = 0; i < 8; i++) assert_int_equal(counts[i], 0);
    free(q);
    fixture_free(f);
}

/* ---- allocation failures: the n-th allocation (and every one after it) fails ---- */

static atomic_long alloc_budget;
static void *fail_malloc(void *ud, size_t n) { return atomic_fetch_sub(&alloc_budget, 1) > 0 ? malloc(n) : NULL; }
static void *fail_realloc(void *ud, void *p, size_t n) {
    return atomic_fetch_sub(&alloc_budget, 1) > 0 ? realloc(p, n) : NULL;
}
static void plain_free(void *ud, void *p) { free(p); }

static void test_nomem(void **state) {
    fixture *f = fixture_new(BIG_N, BIG_DIM, HK_METRIC_L2, 0);
    float *q = queries_new(64, BIG_DIM, HK_METRIC_L2);
    roaring_bitmap_t *allow = roaring_bitmap_from_range(0, BIG_N, 3);
    hk_pool_workers(); /* start the pool outside the failing allocator */
    const hk_allocator failing = {fail_malloc, fail_realloc, plain_free, NULL};
    static const size_t nqs[] = {1, 64};
    for (size_t v = 0; v < 8; v++) {
        size_t nq = nqs[v % 2];
        const roaring_bitmap_t *al = v & 2 ? allow : NULL;
        int radius = (v & 4) != 0;
        int saw_nomem = 0, saw_ok = 0;
        for (long budget = 0; !saw_ok; budget = budget < 64 ? budget + 1 : budget * 5 / 4) {
            flat_hit *hits[64];
            size_t counts[64];
            atomic_store(&alloc_budget, budget);
            assert_int_equal(hk_set_allocator(&failing), HK_OK);
            hk_status st = flat_search(&f->m, q, nq, radius ? 0 : 10, al, radius, 120.0f, hits, counts);
            assert_int_equal(hk_set_allocator(NULL), HK_OK);
            if (st == HK_OK) {
                saw_ok = 1;
                for (size_t i = 0; i < nq; i++) hk_free(hits[i]);
            } else {
                assert_int_equal(st, HK_NOMEM);
                assert_true(strlen(hk_errmsg()) > 0);
                for (size_t i = 0; i < nq; i++) {
                    assert_null(hits[i]);
                    assert_int_equal(counts[i], 0);
                }
                saw_nomem = 1;
            }
        }
        assert_true(saw_nomem);
        assert_true(saw_ok);
    }
    roaring_bitmap_free(allow);
    free(q);
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_l2),         cmocka_unit_test(test_ip),    cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_dead_slots), cmocka_unit_test(test_allow), cmocka_unit_test(test_radius),
        cmocka_unit_test(test_k_beyond_n), cmocka_unit_test(test_ties),  cmocka_unit_test(test_empty),
        cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
