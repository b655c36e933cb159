/* Unit tests for the HNSW index inside collections (src/db/collection.c, query.c with
 * src/index/hnsw*.c) through the public API: recall against exact search after every kind
 * of write, the graph surviving checkpoints (renumbered) and log replay, searches running
 * beside writers, the snapshot's graph section checked on load, and version-1 snapshots
 * (before the graph section existed) still loading. hk_collection_verify is the
 * graph-validation hook and runs after every mutation phase. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hektor.h"
#include "test_util.h"
#include "core.h"
#include "db/collection.h"

#define DIM 24
#define K 10

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

/* Clustered data: 40 centres in [-1,1]^DIM, points at spread 0.15 around them. */
static float centres[40][DIM];
static void init_centres(void) {
    for (int c = 0; c < 40; c++)
        for (int d = 0; d < DIM; d++) centres[c][d] = frand();
}
static void point(float *v) {
    int c = (int)((frand() + 1.0f) * 20.0f) % 40;
    for (int d = 0; d < DIM; d++) v[d] = centres[c][d] + 0.15f * frand();
}

static void verify(hk_collection *c) {
    hk_status st = hk_collection_verify(c);
    if (st) fprintf(stderr, "verify: %s\n", hk_errmsg());
    assert_int_equal(st, HK_OK);
}

static void upsert_range(hk_collection *c, uint64_t first, size_t n, float *store) {
    hk_point *pts = calloc(n, sizeof *pts);
    for (size_t i = 0; i < n; i++) {
        point(store + (first + i) * DIM);
        pts[i].id = first + i;
        pts[i].vector = store + (first + i) * DIM;
    }
    assert_int_equal(hk_upsert(c, pts, n, NULL), HK_OK);
    free(pts);
}

/* recall@K of the graph search against exact search, over nq fresh queries. */
static double recall(hk_collection *c, int nq, const hk_filter *f) {
    float *q = malloc((size_t)nq * DIM * sizeof(float));
    for (int i = 0; i < nq; i++) point(q + (size_t)i * DIM);
    hk_query *a, *e;
    assert_int_equal(hk_query_new(&a), HK_OK);
    assert_int_equal(hk_query_new(&e), HK_OK);
    assert_int_equal(hk_query_set_vectors(a, q, nq, DIM), HK_OK);
    assert_int_equal(hk_query_set_vectors(e, q, nq, DIM), HK_OK);
    hk_query_set_k(a, K);
    hk_query_set_k(e, K);
    hk_query_set_filter(a, f);
    hk_query_set_filter(e, f);
    hk_query_set_exact(e, 1);
    hk_result *ra, *re;
    assert_int_equal(hk_search(c, a, &ra), HK_OK);
    assert_int_equal(hk_search(c, e, &re), HK_OK);
    size_t hit = 0, total = 0;
    for (int i = 0; i < nq; i++) {
        size_t ne = hk_result_count(re, i), na = hk_result_count(ra, i);
        assert_int_equal(na, ne); /* k results whenever k exist */
        total += ne;
        for (size_t x = 0; x < ne; x++)
            for (size_t y = 0; y < na; y++)
                if (hk_result_id(re, i, x) == hk_result_id(ra, i, y)) {
                    hit++;
                    break;
                }
    }
    hk_result_free(ra);
    hk_result_free(re);
    hk_query_free(a);
    hk_query_free(e);
    free(q);
    return total ? (double)hit / (double)total : 1.0;
}

static hk_collection *make_hnsw(hk_db *db, const char *name, hk_metric m) {
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    assert_int_equal(cfg.index, HK_INDEX_HNSW);
    cfg.dim = DIM;
    cfg.metric = m;
    hk_collection *c = NULL;
    assert_int_equal(hk_collection_create(db, name, &cfg, &c), HK_OK);
    return c;
}

static void test_config(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("hcfg");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 4;
    cfg.hnsw_m = 1;
    assert_int_equal(hk_collection_create(db, "a", &cfg, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "M must be between 2 and 128"));
    cfg.hnsw_m = 129;
    assert_int_equal(hk_collection_create(db, "a", &cfg, NULL), HK_INVALID);
    cfg.hnsw_m = 8;
    cfg.hnsw_ef_construction = 70000;
    assert_int_equal(hk_collection_create(db, "a", &cfg, NULL), HK_INVALID);
    cfg.hnsw_ef_construction = 0; /* default */
    cfg.hnsw_ef_search = 0;
    cfg.index = (hk_index_kind)7;
    assert_int_equal(hk_collection_create(db, "a", &cfg, NULL), HK_INVALID);
    cfg.index = HK_INDEX_HNSW;
    hk_collection *c;
    assert_int_equal(hk_collection_create(db, "a", &cfg, &c), HK_OK);
    hk_collection_config got;
    assert_int_equal(hk_collection_get_config(c, &got), HK_OK);
    assert_int_equal(got.hnsw_m, 8);
    assert_int_equal(got.hnsw_ef_construction, 200);
    assert_int_equal(got.hnsw_ef_search, 64);
    hk_collection_close(c);
    /* Settings survive reopening (they are in the snapshot's config). */
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, 0);
    assert_int_equal(hk_collection_open(db, "a", &c), HK_OK);
    assert_int_equal(hk_collection_get_config(c, &got), HK_OK);
    assert_int_equal(got.index, HK_INDEX_HNSW);
    assert_int_equal(got.hnsw_m, 8);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}

/* Every write kind, per metric, with recall and verify after each phase, across a
 * checkpoint (graph renumbered into the compacted snapshot) and across log replay. */
static void lifecycle(hk_metric metric) {
    const char *dir = tu_tmpdir("hlife");
    size_t cap = 6000;
    float *store = malloc(cap * DIM * sizeof(float));
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make_hnsw(db, "c", metric);
    upsert_range(c, 0, 2500, store);      /* one batch: parallel build */
    verify(c);
    double r = recall(c, 50, NULL);
    fprintf(stderr, "metric %s: build %.3f", hk_metric_name(metric), r);
    assert_true(r >= 0.95);
    for (int b = 0; b < 10; b++) upsert_range(c, 2500 + (uint64_t)b * 50, 50, store); /* small batches */
    verify(c);
    r = recall(c, 50, NULL);
    fprintf(stderr, ", inserts %.3f", r);
    assert_true(r >= 0.95);
    /* Delete every third point: holes in the slots, so the checkpoint renumbers. */
    uint64_t *del = malloc(3000 * sizeof *del);
    size_t nd = 0;
    for (uint64_t id = 0; id < 3000; id += 3) del[nd++] = id;
    uint64_t deleted = 0;
    assert_int_equal(hk_delete(c, del, nd, &deleted), HK_OK);
    assert_int_equal(deleted, nd);
    verify(c);
    r = recall(c, 50, NULL);
    fprintf(stderr, ", deletes %.3f", r);
    assert_true(r >= 0.95);
    /* Replace the vector of an existing id, far from every cluster: the graph finds it
     * there (for l2 and cosine it is its own nearest neighbour; for ip the graph must
     * agree with exact search), and not where it was. */
    float *nv = store + 5999 * DIM, old[DIM];
    memcpy(old, store + 1 * DIM, sizeof old);
    for (int d = 0; d < DIM; d++) nv[d] = d % 2 ? 3.0f : -3.0f;
    hk_point p = {.id = 1, .vector = nv};
    assert_int_equal(hk_upsert(c, &p, 1, NULL), HK_OK);
    verify(c);
    hk_query *q, *qe;
    hk_result *res, *rese;
    assert_int_equal(hk_query_new(&q), HK_OK);
    assert_int_equal(hk_query_new(&qe), HK_OK);
    hk_query_set_exact(qe, 1);
    for (int which = 0; which < 2; which++) {
        const float *v = which ? old : nv;
        assert_int_equal(hk_query_set_vectors(q, v, 1, DIM), HK_OK);
        assert_int_equal(hk_query_set_vectors(qe, v, 1, DIM), HK_OK);
        hk_query_set_k(q, 1);
        hk_query_set_k(qe, 1);
        assert_int_equal(hk_search(c, q, &res), HK_OK);
        assert_int_equal(hk_search(c, qe, &rese), HK_OK);
        assert_int_equal(hk_result_count(res, 0), 1);
        assert_int_equal(hk_result_id(res, 0, 0), hk_result_id(rese, 0, 0));
        if (metric != HK_METRIC_IP) assert_true((hk_result_id(res, 0, 0) == 1) == !which);
        hk_result_free(res);
        hk_result_free(rese);
    }
    hk_query_free(q);
    hk_query_free(qe);
    /* Checkpoint, then more writes that only the log holds, then reopen. */
    assert_int_equal(hk_collection_checkpoint(c), HK_OK);
    upsert_range(c, 3000, 300, store);
    uint64_t del2[] = {3001, 3003, 4, 5};
    assert_int_equal(hk_delete(c, del2, 4, NULL), HK_OK);
    hk_collection_stats s1;
    assert_int_equal(hk_collection_stats_get(c, &s1), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK); /* close checkpoints */
    db = tu_open_db(dir, 0);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    verify(c);
    hk_collection_stats s2;
    assert_int_equal(hk_collection_stats_get(c, &s2), HK_OK);
    assert_int_equal(s2.count, s1.count);
    assert_int_equal(s2.index, HK_INDEX_HNSW);
    r = recall(c, 50, NULL);
    fprintf(stderr, ", reopen %.3f", r);
    assert_true(r >= 0.95);
    /* Log replay into the loaded graph: a crash image taken with records after the
     * snapshot (no checkpoint at close: copy the files while the handle is open). */
    upsert_range(c, 4000, 200, store);
    uint64_t del3[] = {4000, 4002, 7};
    assert_int_equal(hk_delete(c, del3, 3, NULL), HK_OK);
    char crash[4300], cmd[13000];
    snprintf(crash, sizeof crash, "%s-crash", dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", crash, dir, crash);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(hk_collection_stats_get(c, &s1), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(crash, HK_OPEN_READONLY);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    verify(c);
    assert_int_equal(hk_collection_stats_get(c, &s2), HK_OK);
    assert_int_equal(s2.count, s1.count);
    assert_true(s2.wal_bytes > 32); /* the records did come from the log */
    r = recall(c, 50, NULL);
    fprintf(stderr, ", replay %.3f\n", r);
    assert_true(r >= 0.95);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    free(del);
    free(store);
    tu_rmrf(dir);
    tu_rmrf(crash);
}

static void test_lifecycle_l2(void **state) { (void)state; lifecycle(HK_METRIC_L2); }
static void test_lifecycle_ip(void **state) { (void)state; lifecycle(HK_METRIC_IP); }
static void test_lifecycle_cosine(void **state) { (void)state; lifecycle(HK_METRIC_COSINE); }

/* Filters at several selectivities, range queries and batches through the graph. */
static void test_filters_range_batch(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("hfilt");
    size_t n = 4000;
    float *store = malloc(n * DIM * sizeof(float));
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make_hnsw(db, "c", HK_METRIC_L2);
    hk_point *pts = calloc(n, sizeof *pts);
    char (*pl)[64] = malloc(n * 64);
    for (size_t i = 0; i < n; i++) {
        point(store + i * DIM);
        /* b: 0..999 — b < 500 is 50%, < 100 is 10%, < 10 is 1%, < 1 is 0.1% */
        snprintf(pl[i], 64, "{\"b\": %zu}", (i * 7919) % 1000);
        pts[i] = (hk_point){.id = i, .vector = store + i * DIM, .payload = pl[i]};
    }
    assert_int_equal(hk_upsert(c, pts, n, NULL), HK_OK);
    verify(c);
    const char *filters[] = {"{\"must\":[{\"key\":\"b\",\"range\":{\"lt\":500}}]}",
                             "{\"must\":[{\"key\":\"b\",\"range\":{\"lt\":100}}]}",
                             "{\"must\":[{\"key\":\"b\",\"range\":{\"lt\":10}}]}",
                             "{\"must\":[{\"key\":\"b\",\"range\":{\"lt\":1}}]}"};
    for (int i = 0; i < 4; i++) {
        hk_filter *f;
        assert_int_equal(hk_filter_parse(filters[i], strlen(filters[i]), &f), HK_OK);
        double r = recall(c, 30, f); /* asserts k results (or all that match) */
        fprintf(stderr, "filter %d: recall %.3f\n", i, r);
        assert_true(r >= 0.95);
        hk_filter_free(f);
    }
    /* Range: every hit within the radius; nearly all in-range points found. */
    hk_query *a, *e;
    hk_result *ra, *re;
    assert_int_equal(hk_query_new(&a), HK_OK);
    assert_int_equal(hk_query_new(&e), HK_OK);
    for (int t = 0; t < 10; t++) {
        float *qv = store + (size_t)t * 97 * DIM;
        assert_int_equal(hk_query_set_vectors(a, qv, 1, DIM), HK_OK);
        assert_int_equal(hk_query_set_vectors(e, qv, 1, DIM), HK_OK);
        float radius = 0.55f;
        hk_query_set_radius(a, radius);
        hk_query_set_radius(e, radius);
        hk_query_set_k(a, 0);
        hk_query_set_k(e, 0);
        hk_query_set_exact(e, 1);
        assert_int_equal(hk_search(c, a, &ra), HK_OK);
        assert_int_equal(hk_search(c, e, &re), HK_OK);
        size_t na = hk_result_count(ra, 0), ne = hk_result_count(re, 0);
        assert_true(ne > 0);
        assert_true(na <= ne);
        for (size_t i = 0; i < na; i++) assert_true(hk_result_score(ra, 0, i) <= radius);
        assert_true((double)na >= 0.95 * (double)ne);
        hk_result_free(ra);
        hk_result_free(re);
    }
    /* A batch answers like single queries (both through the graph). */
    float *qs = malloc(8 * DIM * sizeof(float));
    for (int i = 0; i < 8; i++) point(qs + i * DIM);
    hk_query *b;
    assert_int_equal(hk_query_new(&b), HK_OK);
    assert_int_equal(hk_query_set_vectors(b, qs, 8, DIM), HK_OK);
    hk_result *rb;
    assert_int_equal(hk_search(c, b, &rb), HK_OK);
    assert_int_equal(hk_result_queries(rb), 8);
    hk_query_free(a);
    assert_int_equal(hk_query_new(&a), HK_OK);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(hk_query_set_vectors(a, qs + i * DIM, 1, DIM), HK_OK);
        assert_int_equal(hk_search(c, a, &ra), HK_OK);
        assert_int_equal(hk_result_count(ra, 0), hk_result_count(rb, i));
        /* The graph walk is deterministic for a fixed graph: the same answers. */
        for (size_t j = 0; j < hk_result_count(ra, 0); j++)
            assert_int_equal(hk_result_id(ra, 0, j), hk_result_id(rb, i, j));
        hk_result_free(ra);
    }
    hk_result_free(rb);
    hk_query_free(a);
    hk_query_free(b);
    hk_query_free(e);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    free(qs);
    free(pl);
    free(pts);
    free(store);
    tu_rmrf(dir);
}

/* Searches beside a writer: each returns k results whose ids were written, and points
 * become findable as soon as their upsert returns (pending points are scanned exactly
 * while the graph links them). */
typedef struct rw_state {
    hk_collection *c;
    float *store;
    atomic_ulong done; /* ids below this are acknowledged */
    atomic_int stop;
    atomic_ulong searches, misses;
} rw_state;

static void *reader(void *arg) {
    rw_state *s = arg;
    hk_query *q;
    if (hk_query_new(&q)) return NULL;
    hk_query_set_k(q, K);
    uint64_t x = 12345;
    while (!atomic_load(&s->stop)) {
        uint64_t done = atomic_load(&s->done);
        if (!done) continue;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t id = (x >> 33) % done;
        hk_query_set_vectors(q, s->store + id * DIM, 1, DIM);
        hk_result *r;
        if (hk_search(s->c, q, &r)) abort();
        size_t n = hk_result_count(r, 0);
        if (n != (done < K ? done : K)) {
            if (n < (done < K ? done : K)) abort(); /* fewer than k though k exist */
        }
        int found = 0;
        for (size_t i = 0; i < n; i++) {
            if (hk_result_id(r, 0, i) == id) found = 1;
        }
        if (!found) atomic_fetch_add(&s->misses, 1);
        atomic_fetch_add(&s->searches, 1);
        hk_result_free(r);
    }
    hk_query_free(q);
    return NULL;
}

static void test_readers_beside_writer(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("hrw");
    size_t n = 6000;
    rw_state s = {0};
    s.store = malloc(n * DIM * sizeof(float));
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    s.c = make_hnsw(db, "c", HK_METRIC_L2);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader, &s), 0);
    for (size_t first = 0; first < n; first += 1000) {
        upsert_range(s.c, first, 1000, s.store);
        atomic_store(&s.done, first + 1000);
    }
    while (atomic_load(&s.searches) < 200) ; /* let the reader see the final state too */
    atomic_store(&s.stop, 1);
    pthread_join(th, NULL);
    verify(s.c);
    unsigned long searches = atomic_load(&s.searches), misses = atomic_load(&s.misses);
    fprintf(stderr, "%lu searches beside the writer, %lu missed their own point\n", searches, misses);
    /* A stored vector is its own nearest neighbour: the graph finds it nearly always. */
    assert_true(misses * 50 <= searches);
    hk_collection_close(s.c);
    assert_int_equal(hk_db_close(db), HK_OK);
    free(s.store);
    tu_rmrf(dir);
}

/* The snapshot's graph section is checked: damage inside it (with valid checksums, as a
 * bug rather than a disk would cause) is HK_CORRUPT naming the graph; a version-1
 * snapshot (no graph section) of a flat collection still loads. */
static long find_section(const char *path, uint32_t tag, uint64_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long off = 64;
    uint8_t h[64];
    while (off + 64 <= size) {
        fseek(f, off, SEEK_SET);
        assert_int_equal(fread(h, 1, 64, f), 64);
        uint64_t l = hk_load_u64(h + 8);
        if (hk_load_u32(h) == tag) {
            fclose(f);
            *len = l;
            return off;
        }
        off += 64 + (long)((l + 63) & ~(uint64_t)63);
    }
    fclose(f);
    return -1;
}

static void rewrite(const char *path, long off, const void *p, size_t n) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, off, SEEK_SET);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void read_at(const char *path, long off, void *p, size_t n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, off, SEEK_SET);
    assert_int_equal(fread(p, 1, n, f), n);
    fclose(f);
}

/* Recomputes a section's data CRC and header CRC after its data was edited. */
static void fix_section(const char *path, long off, uint64_t len) {
    uint8_t h[64];
    read_at(path, off, h, 64);
    uint8_t *d = malloc(len ? len : 1);
    read_at(path, off + 64, d, len);
    hk_store_u32(h + 16, hk_crc32c(0, d, len));
    hk_store_u32(h + 60, hk_crc32c(0, h, 60));
    rewrite(path, off, h, 64);
    free(d);
}

static void test_graph_section_checked(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("hsec");
    float *store = malloc(500 * DIM * sizeof(float));
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make_hnsw(db, "c", HK_METRIC_L2);
    upsert_range(c, 0, 500, store);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    char snap[4300], saved[4400];
    snprintf(snap, sizeof snap, "%s/collections/c/snapshot.hks", dir);
    snprintf(saved, sizeof saved, "%s.orig", snap);
    char cmd[13000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", snap, saved);
    assert_int_equal(system(cmd), 0);
    uint64_t glen = 0;
    long goff = find_section(snap, 0x48505247u /* GRPH */, &glen);
    assert_true(goff > 0 && glen > 64);
    /* Link targets in the middle of the blob: make one point past every slot. */
    int trials[] = {(int)(glen / 2) & ~3, (int)(glen / 3) & ~3, 44 /* entry point */};
    for (int t = 0; t < 3; t++) {
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", saved, snap);
        assert_int_equal(system(cmd), 0);
        uint8_t big[4] = {0xF0, 0xFF, 0xFF, 0x0F};
        rewrite(snap, goff + 64 + trials[t], big, 4);
        /* The blob's own trailing CRC would catch this; recompute it too so the
         * structural checks are what must notice. */
        uint8_t *blob = malloc(glen);
        read_at(snap, goff + 64, blob, glen);
        uint8_t crc[4];
        hk_store_u32(crc, hk_crc32c(0, blob, glen - 4));
        rewrite(snap, goff + 64 + (long)glen - 4, crc, 4);
        free(blob);
        fix_section(snap, goff, glen);
        db = tu_open_db(dir, 0);
        hk_status st = hk_collection_open(db, "c", &c);
        fprintf(stderr, "damaged graph (%d): %s\n", t, st ? hk_errmsg() : "opened");
        assert_int_equal(st, HK_CORRUPT);
        assert_non_null(strstr(hk_errmsg(), "graph"));
        assert_int_equal(hk_db_close(db), HK_OK);
    }
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", saved, snap);
    assert_int_equal(system(cmd), 0);
    db = tu_open_db(dir, 0);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    verify(c);
    hk_collection_close(c);

    /* Version 1: a flat collection's snapshot without the (empty) graph section. */
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index = HK_INDEX_FLAT;
    assert_int_equal(hk_collection_create(db, "f", &cfg, &c), HK_OK);
    upsert_range(c, 0, 20, store);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    snprintf(snap, sizeof snap, "%s/collections/f/snapshot.hks", dir);
    long g = find_section(snap, 0x48505247u, &glen);
    assert_true(g > 0);
    assert_int_equal(glen, 0);
    tu_truncate(snap, g); /* the graph section was the last */
    uint8_t h[64];
    read_at(snap, 0, h, 64);
    hk_store_u32(h + 8, 1);
    hk_store_u64(h + 16, (uint64_t)g);
    hk_store_u32(h + 12, 7);
    hk_store_u32(h + 60, hk_crc32c(0, h, 60));
    rewrite(snap, 0, h, 64);
    db = tu_open_db(dir, 0);
    assert_int_equal(hk_collection_open(db, "f", &c), HK_OK);
    hk_collection_stats st;
    assert_int_equal(hk_collection_stats_get(c, &st), HK_OK);
    assert_int_equal(st.count, 20);
    verify(c);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    free(store);
    tu_rmrf(dir);
}


/* A stream of single-point overwrites of linked points: each waits in the relink set and
 * is unlinked in a batch (collection.c, graph_sync). Between batches the points are
 * scanned exactly, so each is found at its new vector at once; recall holds, the graph
 * validates after every round and after a reopen. */
static void test_overwrites_relinked(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("hnsw-relink");
    const size_t n = 4000;
    float *store = malloc(n * DIM * sizeof(float));
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make_hnsw(db, "c", HK_METRIC_L2);
    upsert_range(c, 0, n, store);
    hk_query *q;
    assert_int_equal(hk_query_new(&q), HK_OK);
    hk_query_set_k(q, 1);
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < 50; i++) { /* 300 overwrites: several relink batches of 64 */
            uint64_t id = (uint64_t)((frand() + 1.0f) * 0.5f * (float)(n - 1));
            float *v = store + id * DIM;
            point(v);
            hk_point pt = {.id = id, .vector = v};
            assert_int_equal(hk_upsert(c, &pt, 1, NULL), HK_OK);
            hk_result *r;
            assert_int_equal(hk_query_set_vectors(q, v, 1, DIM), HK_OK);
            assert_int_equal(hk_search(c, q, &r), HK_OK);
            assert_int_equal(hk_result_count(r, 0), 1);
            assert_int_equal(hk_result_id(r, 0, 0), id); /* found at its new vector */
            hk_result_free(r);
        }
        verify(c);
        uint64_t count;
        assert_int_equal(hk_count(c, NULL, &count), HK_OK);
        assert_int_equal(count, n);
    }
    double before = recall(c, 200, NULL);
    assert_true(before >= 0.95);
    hk_query_free(q);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, 0);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    verify(c);
    assert_true(recall(c, 200, NULL) >= 0.95);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    free(store);
    tu_rmrf(dir);
}

/* Overwrites replayed from the log wait in the relink set; a backup taken from a
 * read-only handle must still store those nodes linked at their new vectors, or the
 * restored graph keeps them among their old neighbours where searches miss them. */
static void test_readonly_backup_relinked(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("hnsw-ro-backup");
    char dest[4200];
    snprintf(dest, sizeof dest, "%s-dest", dir);
    tu_rmrf(dest);
    const size_t n = 3000, moved = 20;
    float *store = malloc(n * DIM * sizeof(float));
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make_hnsw(db, "c", HK_METRIC_L2);
    upsert_range(c, 0, n, store);
    assert_int_equal(hk_collection_checkpoint(c), HK_OK);
    for (uint64_t id = 0; id < moved; id++) point(store + id * DIM);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) { /* fewer than a relink batch, left in the log: no close, no checkpoint */
        for (uint64_t id = 0; id < moved; id++) {
            hk_point pt = {.id = id, .vector = store + id * DIM};
            if (hk_upsert(c, &pt, 1, NULL)) _exit(2);
        }
        _exit(0);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK); /* checkpoints its own (older) state */
    db = tu_open_db(dir, HK_OPEN_READONLY);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    assert_int_equal(roaring_bitmap_get_cardinality(c->relink), moved); /* replayed, waiting */
    assert_int_equal(hk_db_backup(db, dest), HK_OK);
    assert_true(roaring_bitmap_is_empty(c->relink)); /* the stored graph has them relinked */
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dest, 0);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    verify(c);
    hk_query *q;
    assert_int_equal(hk_query_new(&q), HK_OK);
    hk_query_set_k(q, 1);
    size_t found = 0;
    for (uint64_t id = 0; id < moved; id++) {
        hk_result *r;
        assert_int_equal(hk_query_set_vectors(q, store + id * DIM, 1, DIM), HK_OK);
        assert_int_equal(hk_search(c, q, &r), HK_OK);
        found += hk_result_count(r, 0) == 1 && hk_result_id(r, 0, 0) == id;
        hk_result_free(r);
    }
    assert_int_equal(found, moved);
    hk_query_free(q);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    free(store);
    tu_rmrf(dest);
    tu_rmrf(dir);
}

/* Durable single-point writers on many threads share log syncs (group commit): a child
 * process runs them, reports each acknowledged id through a pipe, and is killed with
 * SIGKILL mid-stream. Every acknowledged write must be there after a reopen, with its
 * vector, and the graph must validate. */
#define GC_THREADS 8
static float gc_value(uint64_t id, int d) { return (float)((id * 31 + (uint64_t)d * 7) % 1000) / 500.0f - 1.0f; }

typedef struct gc_writer {
    hk_collection *c;
    int fd, t;
} gc_writer;

static void *gc_write(void *arg) {
    gc_writer *w = arg;
    for (uint64_t i = 0;; i++) {
        uint64_t id = (uint64_t)w->t * 1000000 + i;
        float v[DIM];
        for (int d = 0; d < DIM; d++) v[d] = gc_value(id, d);
        hk_point pt = {.id = id, .vector = v};
        if (hk_upsert(w->c, &pt, 1, NULL)) _exit(3);
        if (write(w->fd, &id, sizeof id) != sizeof id) _exit(4);
    }
    return NULL;
}

static void test_concurrent_durable_writers_killed(void **state) {
    (void)state;
    const char *tmp = tu_tmpdir("hnsw-gc");
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", tmp);
    {
        hk_db *db = tu_open_db(dir, HK_OPEN_CREATE); /* fsync on */
        hk_collection *c = make_hnsw(db, "c", HK_METRIC_L2);
        hk_collection_close(c);
        assert_int_equal(hk_db_close(db), HK_OK);
    }
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        hk_db_options o;
        hk_db_options_init(&o);
        hk_db *db;
        hk_collection *c;
        if (hk_db_open(dir, &o, &db) || hk_collection_open(db, "c", &c)) _exit(2);
        gc_writer w[GC_THREADS];
        pthread_t th[GC_THREADS];
        for (int t = 0; t < GC_THREADS; t++) {
            w[t] = (gc_writer){c, p[1], t};
            if (pthread_create(&th[t], NULL, gc_write, &w[t])) _exit(5);
        }
        for (;;) pause();
    }
    close(p[1]);
    uint64_t *acked = malloc(1000000 * sizeof *acked);
    size_t nacked = 0;
    int per_thread[GC_THREADS] = {0};
    uint64_t id;
    while (nacked < 1500 && read(p[0], &id, sizeof id) == sizeof id) {
        acked[nacked++] = id;
        per_thread[id / 1000000]++;
    }
    kill(pid, SIGKILL);
    while (nacked < 1000000 && read(p[0], &id, sizeof id) == sizeof id) acked[nacked++] = id;
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL); /* not a writer's failure */
    assert_true(nacked >= 1500);
    for (int t = 0; t < GC_THREADS; t++) assert_true(per_thread[t] > 0); /* all wrote concurrently */
    hk_db *db = tu_open_db(dir, 0);
    hk_collection *c;
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    verify(c);
    hk_result *r;
    assert_int_equal(hk_get(c, acked, nacked, HK_WITH_VECTOR, &r), HK_OK);
    assert_int_equal(hk_result_count(r, 0), nacked); /* every acknowledged write survived */
    for (size_t i = 0; i < nacked; i++) {
        const float *v = hk_result_vector(r, 0, i);
        assert_non_null(v);
        for (int d = 0; d < DIM; d++) assert_true(v[d] == gc_value(hk_result_id(r, 0, i), d));
    }
    hk_result_free(r);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    free(acked);
    tu_rmrf(dir);
}


static int cancel_after_start(void *ud, const char *phase, double fraction) {
    int *calls = ud;
    assert_string_equal(phase, "build");
    assert_true(fraction >= 0 && fraction <= 1);
    return ++*calls > 1; /* cancel at the first chunk's report */
}

static int count_calls(void *ud, const char *phase, double fraction) {
    (void)phase;
    double *last = ud;
    assert_true(fraction >= *last); /* progress only rises */
    *last = fraction;
    return 0;
}

/* hk_collection_reindex: flat to HNSW and back, bad settings refused, a cancelled build
 * leaves the old index, the new settings survive a reopen, recall after the rebuild. */
static void test_reindex(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("hnsw-reindex");
    const size_t n = 6000;
    float *store = malloc(n * DIM * sizeof(float));
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index = HK_INDEX_FLAT;
    hk_collection *c;
    assert_int_equal(hk_collection_create(db, "c", &cfg, &c), HK_OK);
    upsert_range(c, 0, n, store);
    assert_int_equal(hk_collection_reindex(c, HK_INDEX_HNSW, 1, 0, NULL, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "M must be between"));
    assert_int_equal(hk_collection_reindex(c, HK_INDEX_FLAT, 8, 0, NULL, NULL), HK_INVALID);
    assert_int_equal(hk_collection_reindex(c, (hk_index_kind)7, 0, 0, NULL, NULL), HK_INVALID);
    int calls = 0;
    assert_int_equal(hk_collection_reindex(c, HK_INDEX_HNSW, 8, 100, cancel_after_start, &calls),
                     HK_CANCELLED);
    assert_int_equal(hk_collection_get_config(c, &cfg), HK_OK);
    assert_int_equal(cfg.index, HK_INDEX_FLAT); /* unchanged */
    assert_true(recall(c, 50, NULL) == 1.0);    /* still exact */
    double last = 0;
    assert_int_equal(hk_collection_reindex(c, HK_INDEX_HNSW, 8, 100, count_calls, &last), HK_OK);
    assert_true(last == 1.0);
    assert_int_equal(hk_collection_get_config(c, &cfg), HK_OK);
    assert_int_equal(cfg.index, HK_INDEX_HNSW);
    assert_int_equal(cfg.hnsw_m, 8);
    assert_int_equal(cfg.hnsw_ef_construction, 100);
    verify(c);
    assert_true(recall(c, 200, NULL) >= 0.9);
    upsert_range(c, n - 100, 100, store); /* writes after the swap go into the new graph */
    verify(c);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, 0);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    assert_int_equal(hk_collection_get_config(c, &cfg), HK_OK);
    assert_int_equal(cfg.index, HK_INDEX_HNSW); /* durable */
    assert_int_equal(cfg.hnsw_m, 8);
    verify(c);
    assert_true(recall(c, 200, NULL) >= 0.9);
    assert_int_equal(hk_collection_reindex(c, HK_INDEX_FLAT, 0, 0, NULL, NULL), HK_OK);
    assert_true(recall(c, 50, NULL) == 1.0);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, 0);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    assert_int_equal(hk_collection_get_config(c, &cfg), HK_OK);
    assert_int_equal(cfg.index, HK_INDEX_FLAT);
    verify(c);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    free(store);
    tu_rmrf(dir);
}

int main(void) {
    init_centres();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_lifecycle_l2),
        cmocka_unit_test(test_lifecycle_ip),
        cmocka_unit_test(test_lifecycle_cosine),
        cmocka_unit_test(test_filters_range_batch),
        cmocka_unit_test(test_readers_beside_writer),
        cmocka_unit_test(test_graph_section_checked),
        cmocka_unit_test(test_overwrites_relinked),
        cmocka_unit_test(test_readonly_backup_relinked),
        cmocka_unit_test(test_concurrent_durable_writers_killed),
        cmocka_unit_test(test_reindex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
