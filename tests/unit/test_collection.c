/* Unit tests for src/db (db.c, collection.c, query.c) through the public API:
 * lifecycle, writes, reads, validation that changes nothing, durability across reopen
 * and across a simulated crash, checkpoints, snapshots' corruption checks, backups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "hektor.h"
#include "test_util.h"

static hk_collection *make(hk_db *db, const char *name, uint32_t dim, hk_metric m) {
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = dim;
    cfg.metric = m;
    cfg.index = HK_INDEX_FLAT; /* these tests check exact answers */
    hk_collection *c = NULL;
    assert_int_equal(hk_collection_create(db, name, &cfg, &c), HK_OK);
    return c;
}

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

static uint64_t count_of(hk_collection *c, const char *filter) {
    hk_filter *f = NULL;
    if (filter) assert_int_equal(hk_filter_parse(filter, strlen(filter), &f), HK_OK);
    uint64_t n = 0;
    assert_int_equal(hk_count(c, f, &n), HK_OK);
    hk_filter_free(f);
    return n;
}

static void test_lifecycle(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("life");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *a = make(db, "alpha", 4, HK_METRIC_L2);
    hk_collection_close(make(db, "beta", 3, HK_METRIC_COSINE));
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 4;
    assert_int_equal(hk_collection_create(db, "alpha", &cfg, NULL), HK_EXISTS);
    assert_non_null(strstr(hk_errmsg(), "already exists"));
    assert_int_equal(hk_collection_create(db, "bad/name", &cfg, NULL), HK_INVALID);
    assert_int_equal(hk_collection_create(db, ".hidden", &cfg, NULL), HK_INVALID);
    cfg.dim = 0;
    assert_int_equal(hk_collection_create(db, "zero", &cfg, NULL), HK_INVALID);
    cfg.dim = HK_MAX_DIM + 1;
    assert_int_equal(hk_collection_create(db, "huge", &cfg, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "dimension"));
    char **names;
    size_t n;
    assert_int_equal(hk_db_list(db, &names, &n), HK_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "beta");
    hk_strings_free(names, n);

    /* A second writer in any process is refused with a clear message. */
    hk_db_options o;
    hk_db_options_init(&o);
    hk_db *db2 = NULL;
    assert_int_equal(hk_db_open(dir, &o, &db2), HK_LOCKED);
    assert_non_null(strstr(hk_errmsg(), "database is locked"));
    /* A reader is not. */
    o.flags = HK_OPEN_READONLY;
    assert_int_equal(hk_db_open(dir, &o, &db2), HK_OK);
    hk_collection *ra = NULL;
    assert_int_equal(hk_collection_open(db2, "alpha", &ra), HK_OK);
    float v[4] = {1, 2, 3, 4};
    hk_point p = {.id = 1, .vector = v};
    assert_int_equal(hk_upsert(ra, &p, 1, NULL), HK_READONLY);
    hk_collection_close(ra);
    hk_db_close(db2);

    /* Dropping invalidates handles but does not crash them. */
    assert_int_equal(hk_collection_drop(db, "alpha"), HK_OK);
    assert_int_equal(hk_upsert(a, &p, 1, NULL), HK_NOT_FOUND);
    uint64_t cnt;
    assert_int_equal(hk_count(a, NULL, &cnt), HK_NOT_FOUND);
    hk_collection_close(a);
    assert_int_equal(hk_collection_open(db, "alpha", &a), HK_NOT_FOUND);
    assert_int_equal(hk_collection_drop(db, "alpha"), HK_NOT_FOUND);
    assert_int_equal(hk_db_close(db), HK_OK);

    /* A directory with foreign files is not taken over. */
    const char *other = tu_tmpdir("foreign");
    char f[4200];
    snprintf(f, sizeof f, "%s/notes.txt", other);
    FILE *fp = fopen(f, "w");
    fputs("mine", fp);
    fclose(fp);
    hk_db_options_init(&o);
    o.flags = HK_OPEN_CREATE;
    assert_int_equal(hk_db_open(other, &o, &db2), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "not a HEKTOR database"));
    o.flags = 0;
    assert_int_equal(hk_db_open("/nonexistent/hk", &o, &db2), HK_NOT_FOUND);
    tu_rmrf(dir);
    tu_rmrf(other);
}

static void test_points_and_validation(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("points");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make(db, "pts", 3, HK_METRIC_L2);
    float v[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    hk_point p[3] = {
        {.id = 10, .vector = v[0], .payload = "{\"color\":\"red\",\"n\":1}", .text = "first"},
        {.flags = HK_POINT_AUTO_ID, .vector = v[1], .payload = "{\"color\":\"blue\",\"n\":2}"},
        {.flags = HK_POINT_AUTO_ID, .vector = v[2]},
    };
    uint64_t ids[3];
    assert_int_equal(hk_upsert(c, p, 3, ids), HK_OK);
    assert_true(ids[0] == 10 && ids[1] == 11 && ids[2] == 12);
    assert_int_equal(count_of(c, NULL), 3);

    hk_collection_stats before;
    assert_int_equal(hk_collection_stats_get(c, &before), HK_OK);
    /* Each bad input fails with a message and changes nothing. */
    float nan_v[3] = {0, NAN, 0};
    hk_point bad = {.id = 99, .vector = nan_v};
    assert_int_equal(hk_upsert(c, &bad, 1, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "NaN"));
    float inf_v[3] = {0, 0, INFINITY};
    bad.vector = inf_v;
    assert_int_equal(hk_upsert(c, &bad, 1, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "infinite"));
    hk_collection *cz = make(db, "cz", 3, HK_METRIC_COSINE);
    float zero[3] = {0, 0, 0};
    hk_point zp = {.id = 1, .vector = zero};
    assert_int_equal(hk_upsert(cz, &zp, 1, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "zero vector"));
    assert_int_equal(count_of(cz, NULL), 0);
    hk_collection_close(cz);
    hk_point badtext = {.id = 98, .vector = v[0], .text = "caf\xc3", .text_len = 4};
    assert_int_equal(hk_upsert(c, &badtext, 1, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "UTF-8"));
        hk_point mixed[2] = {{.id = 50, .vector = v[0]}, {.id = 51, .vector = v[1], .payload = "{bad json"}};
    assert_int_equal(hk_upsert(c, mixed, 2, NULL), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "point 1"));
    mixed[1].payload = "[1,2]";
    assert_int_equal(hk_upsert(c, mixed, 2, NULL), HK_INVALID);
    hk_collection_stats after;
    assert_int_equal(hk_collection_stats_get(c, &after), HK_OK);
    assert_true(after.count == before.count && after.lsn == before.lsn);
    hk_result *r;
    uint64_t fifty = 50;
    assert_int_equal(hk_get(c, &fifty, 1, 0, &r), HK_OK);
    assert_int_equal(hk_result_count(r, 0), 0);
    hk_result_free(r);

    /* Wrong dimension in a query. */
    hk_query *q;
    assert_int_equal(hk_query_new(&q), HK_OK);
    float q4[4] = {1, 2, 3, 4};
    assert_int_equal(hk_query_set_vectors(q, q4, 1, 4), HK_OK);
    assert_int_equal(hk_search(c, q, &r), HK_DIMENSION);
    assert_non_null(strstr(hk_errmsg(), "dimension 4"));
    assert_int_equal(hk_query_set_vectors(q, nan_v, 1, 3), HK_INVALID);

    /* Get returns exactly what was stored. */
    uint64_t want[3] = {12, 10, 777};
    assert_int_equal(hk_get(c, want, 3, HK_WITH_PAYLOAD | HK_WITH_VECTOR | HK_WITH_TEXT, &r), HK_OK);
    assert_int_equal(hk_result_count(r, 0), 2);
    assert_true(hk_result_id(r, 0, 0) == 12 && hk_result_id(r, 0, 1) == 10);
    assert_memory_equal(hk_result_vector(r, 0, 1), v[0], sizeof v[0]);
    assert_string_equal(hk_result_payload(r, 0, 1), "{\"color\":\"red\",\"n\":1}");
    assert_string_equal(hk_result_payload(r, 0, 0), "{}");
    assert_string_equal(hk_result_text(r, 0, 1), "first");
    assert_null(hk_result_text(r, 0, 0));
    hk_result_free(r);

    /* Replace keeps the count and changes the vector and payload. */
    float v2[3] = {5, 5, 5};
    hk_point rep = {.id = 10, .vector = v2, .payload = "{\"color\":\"green\"}"};
    assert_int_equal(hk_upsert(c, &rep, 1, NULL), HK_OK);
    assert_int_equal(count_of(c, NULL), 3);
    assert_int_equal(count_of(c, "{\"must\":[{\"key\":\"color\",\"match\":{\"value\":\"green\"}}]}"), 1);
    assert_int_equal(count_of(c, "{\"must\":[{\"key\":\"color\",\"match\":{\"value\":\"red\"}}]}"), 0);

    /* Payload edits. */
    uint64_t id11 = 11;
    assert_int_equal(hk_payload_set(c, &id11, 1, NULL, "{\"size\":3}", HK_PAYLOAD_SET), HK_OK);
    assert_int_equal(hk_get(c, &id11, 1, HK_WITH_PAYLOAD, &r), HK_OK);
    assert_string_equal(hk_result_payload(r, 0, 0), "{\"color\":\"blue\",\"n\":2,\"size\":3}");
    hk_result_free(r);
    const char *keys[] = {"n"};
    assert_int_equal(hk_payload_delete(c, &id11, 1, NULL, keys, 1), HK_OK);
    assert_int_equal(hk_get(c, &id11, 1, HK_WITH_PAYLOAD, &r), HK_OK);
    assert_string_equal(hk_result_payload(r, 0, 0), "{\"color\":\"blue\",\"size\":3}");
    hk_result_free(r);
    assert_int_equal(hk_payload_set(c, &id11, 1, NULL, "{\"only\":true}", HK_PAYLOAD_OVERWRITE), HK_OK);
    assert_int_equal(hk_get(c, &id11, 1, HK_WITH_PAYLOAD, &r), HK_OK);
    assert_string_equal(hk_result_payload(r, 0, 0), "{\"only\":true}");
    hk_result_free(r);
    uint64_t missing = 4242;
    assert_int_equal(hk_payload_set(c, &missing, 1, NULL, "{}", HK_PAYLOAD_SET), HK_NOT_FOUND);

    /* Deletes. */
    uint64_t del[2] = {12, 999};
    uint64_t deleted;
    assert_int_equal(hk_delete(c, del, 2, &deleted), HK_OK);
    assert_true(deleted == 1);
    assert_int_equal(count_of(c, NULL), 2);
    hk_filter *f;
    const char *fj = "{\"must\":[{\"has_id\":[11]}]}";
    assert_int_equal(hk_filter_parse(fj, strlen(fj), &f), HK_OK);
    assert_int_equal(hk_delete_by_filter(c, f, &deleted), HK_OK);
    assert_true(deleted == 1);
    hk_filter_free(f);
    assert_int_equal(count_of(c, NULL), 1);
    hk_query_free(q);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}

/* Exact search against a double-precision brute force, every metric, with filters. */
static void test_search_exact(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("search");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    enum { N = 3000, D = 19, NQ = 12, K = 7 };
    static float base[N][D], queries[NQ][D];
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) base[i][d] = frand();
    for (int i = 0; i < NQ; i++)
        for (int d = 0; d < D; d++) queries[i][d] = frand();
    for (int m = 0; m < 3; m++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", m);
        hk_collection *c = make(db, name, D, (hk_metric)m);
        static hk_point pts[N];
        static char pay[N][32];
        for (int i = 0; i < N; i++) {
            snprintf(pay[i], sizeof pay[i], "{\"g\":%d}", i % 5);
            pts[i] = (hk_point){.id = (uint64_t)i * 3, .vector = base[i], .payload = pay[i]};
        }
        assert_int_equal(hk_upsert(c, pts, N, NULL), HK_OK);
        hk_filter *f;
        const char *fj = "{\"must\":[{\"key\":\"g\",\"match\":{\"any\":[1,3]}}]}";
        assert_int_equal(hk_filter_parse(fj, strlen(fj), &f), HK_OK);
        for (int filtered = 0; filtered < 2; filtered++)
            for (int batch = 0; batch < 2; batch++) {
                hk_query *q;
                hk_query_new(&q);
                hk_query_set_k(q, K);
                if (filtered) hk_query_set_filter(q, f);
                size_t nq = batch ? NQ : 1;
                hk_query_set_vectors(q, &queries[0][0], nq, D);
                hk_result *r;
                assert_int_equal(hk_search(c, q, &r), HK_OK);
                for (size_t qi = 0; qi < nq; qi++) {
                    /* Reference: best K by double-precision score. */
                    double best[K];
                    for (int k = 0; k < K; k++) best[k] = m == 0 ? INFINITY : -INFINITY;
                    for (int i = 0; i < N; i++) {
                        if (filtered && i % 5 != 1 && i % 5 != 3) continue;
                        double s = 0, na = 0, nb = 0;
                        for (int d = 0; d < D; d++) {
                            double a = queries[qi][d], b = base[i][d];
                            if (m == 0) s += (a - b) * (a - b);
                            else s += a * b;
                            na += a * a;
                            nb += b * b;
                        }
                        if (m == 0) s = sqrt(s);
                        if (m == 2) s /= sqrt(na) * sqrt(nb);
                        int worse = m == 0 ? s < best[K - 1] : s > best[K - 1];
                        if (!worse) continue;
                        int k = K - 1;
                        while (k > 0 && (m == 0 ? s < best[k - 1] : s > best[k - 1])) {
                            best[k] = best[k - 1];
                            k--;
                        }
                        best[k] = s;
                    }
                    assert_int_equal(hk_result_count(r, qi), K);
                    for (int k = 0; k < K; k++) {
                        double got = hk_result_score(r, qi, (size_t)k);
                        assert_true(fabs(got - best[k]) <= 1e-4 * (1 + fabs(best[k])));
                        uint64_t id = hk_result_id(r, qi, (size_t)k);
                        assert_true(id % 3 == 0);
                        if (filtered) assert_true((id / 3) % 5 == 1 || (id / 3) % 5 == 3);
                    }
                }
                hk_result_free(r);
                hk_query_free(q);
            }
        /* Range query: all points within the 10th-best distance, and no others. */
        hk_query *q;
        hk_query_new(&q);
        hk_query_set_k(q, 10);
        hk_query_set_vectors(q, queries[0], 1, D);
        hk_result *r;
        assert_int_equal(hk_search(c, q, &r), HK_OK);
        float edge = hk_result_score(r, 0, 9);
        hk_result_free(r);
        hk_query_set_k(q, 0);
        hk_query_set_radius(q, edge);
        assert_int_equal(hk_search(c, q, &r), HK_OK);
        assert_true(hk_result_count(r, 0) >= 10 && hk_result_count(r, 0) <= 11);
        for (size_t i = 0; i < hk_result_count(r, 0); i++)
            assert_true(m == 0 ? hk_result_score(r, 0, i) <= edge : hk_result_score(r, 0, i) >= edge);
        hk_result_free(r);
        hk_query_free(q);
        hk_filter_free(f);
        hk_collection_close(c);
    }
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}

static void copy_dir(const char *from, const char *to) {
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* Durability: reopen after close (snapshot), and a copy taken while the writer is still
 * open (the on-disk state a crash would leave: snapshot + log) recovers everything. */
static void test_durability_and_scroll(void **state) {
    (void)state;
    const char *d0 = tu_tmpdir("dur");
    char dir[4200], crash[4200];
    snprintf(dir, sizeof dir, "%s/db", d0);
    snprintf(crash, sizeof crash, "%s/crash", d0);
    hk_db_options o;
    hk_db_options_init(&o);
    o.flags = HK_OPEN_CREATE;
    o.checkpoint_wal_bytes = 64 * 1024; /* force checkpoints mid-way */
    hk_db *db;
    assert_int_equal(hk_db_open(dir, &o, &db), HK_OK);
    hk_collection *c = make(db, "d", 8, HK_METRIC_IP);
    assert_int_equal(hk_payload_index_create(c, "k", HK_FIELD_INTEGER), HK_OK);
    assert_int_equal(hk_payload_index_create(c, "k", HK_FIELD_INTEGER), HK_EXISTS);
    enum { N = 2000 };
    static float vec[N][8];
    char pay[64];
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < 8; d++) vec[i][d] = frand();
        snprintf(pay, sizeof pay, "{\"k\":%d,\"s\":\"v%d\"}", i % 7, i);
        hk_point p = {.id = (uint64_t)(N - i) * 2, .vector = vec[i], .payload = pay};
        assert_int_equal(hk_upsert(c, &p, 1, NULL), HK_OK);
    }
    uint64_t dels[] = {2, 4, 6, 999999};
    assert_int_equal(hk_delete(c, dels, 4, NULL), HK_OK);
    hk_collection_stats st;
    hk_collection_stats_get(c, &st);
    assert_true(st.count == N - 3);
    assert_true(st.wal_bytes < 3 * 64 * 1024); /* checkpoints happened */
    copy_dir(dir, crash);
    /* Closing the database with a handle open is refused and changes nothing. */
    assert_int_equal(hk_db_close(db), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "1 open collection handle"));
    assert_int_equal(count_of(c, NULL), N - 3);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);

    const char *dirs[2] = {dir, crash};
    for (int which = 0; which < 2; which++) {
        hk_db *r = tu_open_db(dirs[which], 0);
        hk_collection *rc;
        assert_int_equal(hk_collection_open(r, "d", &rc), HK_OK);
        assert_int_equal(count_of(rc, NULL), N - 3);
        assert_int_equal(count_of(rc, "{\"must\":[{\"key\":\"k\",\"match\":{\"value\":3}}]}"),
                         count_of(rc, "{\"must\":[{\"key\":\"k\",\"range\":{\"gte\":3,\"lte\":3}}]}"));
        const char *key;
        hk_field_type t;
        assert_int_equal(hk_payload_index_get(rc, 0, &key, &t), HK_OK);
        assert_string_equal(key, "k");
        assert_int_equal(t, HK_FIELD_INTEGER);
        for (int i = 0; i < N; i += 97) {
            uint64_t id = (uint64_t)(N - i) * 2;
            hk_result *res;
            assert_int_equal(hk_get(rc, &id, 1, HK_WITH_VECTOR | HK_WITH_PAYLOAD, &res), HK_OK);
            if (id <= 6) {
                assert_int_equal(hk_result_count(res, 0), 0);
            } else {
                assert_int_equal(hk_result_count(res, 0), 1);
                assert_memory_equal(hk_result_vector(res, 0, 0), vec[i], sizeof vec[i]);
                snprintf(pay, sizeof pay, "{\"k\":%d,\"s\":\"v%d\"}", i % 7, i);
                assert_string_equal(hk_result_payload(res, 0, 0), pay);
            }
            hk_result_free(res);
        }
        /* Scroll pages through every id once, ascending. */
        hk_scroll_params sp = {.limit = 333};
        uint64_t last = 0, seen = 0;
        for (;;) {
            hk_result *res;
            assert_int_equal(hk_scroll(rc, &sp, &res), HK_OK);
            for (size_t i = 0; i < hk_result_count(res, 0); i++) {
                uint64_t id = hk_result_id(res, 0, i);
                assert_true(seen == 0 || id > last);
                last = id;
                seen++;
            }
            uint64_t next;
            int more = hk_result_next_offset(res, &next);
            hk_result_free(res);
            if (!more) break;
            assert_true(next > last);
            sp.offset = next;
            sp.has_offset = 1;
        }
        assert_true(seen == N - 3);
        hk_collection_close(rc);
        assert_int_equal(hk_db_close(r), HK_OK);
    }
    tu_rmrf(d0);
}

static void test_snapshot_corruption_and_backup(void **state) {
    (void)state;
    const char *d0 = tu_tmpdir("corrupt");
    char dir[4200], bak[4200], res[4200], snap[4300];
    snprintf(dir, sizeof dir, "%s/db", d0);
    snprintf(bak, sizeof bak, "%s/bak", d0);
    snprintf(res, sizeof res, "%s/restored", d0);
    snprintf(snap, sizeof snap, "%s/collections/c/snapshot.hks", dir);
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = make(db, "c", 5, HK_METRIC_L2);
    for (int i = 0; i < 300; i++) {
        float v[5] = {(float)i, 1, 2, 3, 4};
        hk_point p = {.id = (uint64_t)i, .vector = v, .payload = "{\"x\":[1,{\"y\":null}]}", .text = "t"};
        assert_int_equal(hk_upsert(c, &p, 1, NULL), HK_OK);
    }
    assert_int_equal(hk_db_backup(db, bak), HK_OK);
    assert_int_equal(hk_db_backup(db, bak), HK_EXISTS);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);

    assert_int_equal(hk_db_restore(bak, res), HK_OK);
    db = tu_open_db(res, 0);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    assert_int_equal(count_of(c, NULL), 300);
    hk_collection_close(c);
    hk_db_close(db);

    long size = tu_file_size(snap);
    assert_true(size > 6000);
    /* Flip one bit at several places: every one is a clear HK_CORRUPT naming the file. */
    long offsets[] = {3, 70, 200, size / 2, size - 100};
    for (size_t i = 0; i < sizeof offsets / sizeof *offsets; i++) {
        tu_flip_bit(snap, offsets[i], 2);
        hk_db *r = tu_open_db(dir, HK_OPEN_READONLY);
        print_message("flipped a bit at offset %ld of %ld\n", offsets[i], size);
        assert_int_equal(hk_collection_open(r, "c", &c), HK_CORRUPT);
        assert_non_null(strstr(hk_errmsg(), "snapshot.hks"));
        hk_db_close(r);
        tu_flip_bit(snap, offsets[i], 2);
    }
    tu_truncate(snap, size - 64);
    hk_db *r = tu_open_db(dir, HK_OPEN_READONLY);
    assert_int_equal(hk_collection_open(r, "c", &c), HK_CORRUPT);
    assert_non_null(strstr(hk_errmsg(), "truncated"));
    hk_db_close(r);
    tu_rmrf(d0);
}

static void put_point(hk_collection *c, uint64_t id) {
    float v[4] = {(float)id, 1, 0, 0};
    hk_point p = {.id = id, .vector = v};
    assert_int_equal(hk_upsert(c, &p, 1, NULL), HK_OK);
}

/* A crash between a checkpoint's snapshot rename and its log reset can leave a log that
 * ends before the snapshot's LSN (its last record never synced). The next acknowledged
 * write must not reuse an LSN the snapshot covers, or replay would skip it. */
static void test_crash_between_checkpoint_steps(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("ckpt");
    char cmd[20000];
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE);
    hk_collection *c = make(db, "c", 4, HK_METRIC_L2);
    put_point(c, 1);
    snprintf(cmd, sizeof cmd, "cp '%s/collections/c/wal.hkl' '%s/wal1'", dir, dir);
    assert_int_equal(system(cmd), 0);
    put_point(c, 2);
    assert_int_equal(hk_collection_checkpoint(c), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    /* The crash image: the new snapshot (LSN 2) with the old log (LSN 1 only), plus the
     * temporary files a checkpoint leaves when interrupted earlier. */
    snprintf(cmd, sizeof cmd, "cp '%s/wal1' '%s/collections/c/wal.hkl' && touch "
             "'%s/collections/c/snapshot.hks.tmp' '%s/collections/c/wal.hkl.tmp'", dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    db = tu_open_db(dir, 0);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    assert_int_equal(count_of(c, NULL), 2);
    put_point(c, 3);
    hk_collection_close(c);
    /* Simulate kill -9 after the acknowledged write: copy the files as they are now. */
    char crash[4300];
    snprintf(crash, sizeof crash, "%s-crash", dir);
    copy_dir(dir, crash);
    assert_int_equal(hk_db_close(db), HK_OK);
    for (int which = 0; which < 2; which++) {
        hk_db *r = tu_open_db(which ? crash : dir, HK_OPEN_READONLY);
        assert_int_equal(hk_collection_open(r, "c", &c), HK_OK);
        assert_int_equal(count_of(c, NULL), 3);
        hk_collection_close(c);
        hk_db_close(r);
    }
    snprintf(cmd, sizeof cmd, "%s/collections/c/snapshot.hks.tmp", dir);
    assert_false(fs_test_exists(cmd));
    tu_rmrf(dir);
    tu_rmrf(crash);
}

/* Recommendation by examples (hk_query_set_examples): the query vector is Qdrant's
 * average_vector, the examples never come back, filters still apply, unknown ids fail. */
static void test_recommend(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("recommend");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    enum { N = 300, D = 6, K = 8 };
    static float base[N][D];
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) base[i][d] = frand();
    const uint64_t pos[] = {3, 7}, neg[] = {11};
    for (int m = 0; m < 3; m++) {
        char name[16];
        snprintf(name, sizeof name, "r%d", m);
        hk_collection *c = make(db, name, D, (hk_metric)m);
        static hk_point pts[N];
        static char pay[N][16];
        for (int i = 0; i < N; i++) {
            snprintf(pay[i], sizeof pay[i], "{\"g\":%d}", i % 2);
            pts[i] = (hk_point){.id = (uint64_t)i, .vector = base[i], .payload = pay[i]};
        }
        assert_int_equal(hk_upsert(c, pts, N, NULL), HK_OK);
        /* The expected query vector, from the stored (for cosine: normalized) vectors. */
        double stored[N][D];
        for (int i = 0; i < N; i++) {
            double norm = 0;
            for (int d = 0; d < D; d++) norm += (double)base[i][d] * base[i][d];
            norm = m == HK_METRIC_COSINE ? sqrt(norm) : 1;
            for (int d = 0; d < D; d++) stored[i][d] = (double)(float)(base[i][d] / norm);
        }
        float v[D];
        for (int d = 0; d < D; d++)
            v[d] = (float)(2 * (stored[3][d] + stored[7][d]) / 2 - stored[11][d]);
        for (int filtered = 0; filtered < 2; filtered++) {
            hk_filter *f = NULL;
            const char *fj = "{\"must\":[{\"key\":\"g\",\"match\":{\"value\":1}}]}";
            if (filtered) assert_int_equal(hk_filter_parse(fj, strlen(fj), &f), HK_OK);
            hk_query *q, *plain;
            hk_query_new(&q);
            hk_query_new(&plain);
            hk_query_set_k(q, K);
            hk_query_set_filter(q, f);
            assert_int_equal(hk_query_set_examples(q, pos, 2, neg, 1), HK_OK);
            /* The same search by vector, with the examples excluded by a filter. */
            char pj[160];
            snprintf(pj, sizeof pj, "{\"must\":[%s],\"must_not\":[{\"has_id\":[3,7,11]}]}",
                     filtered ? fj : "{}");
            hk_filter *pf;
            assert_int_equal(hk_filter_parse(pj, strlen(pj), &pf), HK_OK);
            hk_query_set_vectors(plain, v, 1, D);
            hk_query_set_k(plain, K);
            hk_query_set_filter(plain, pf);
            hk_result *r, *want;
            assert_int_equal(hk_search(c, q, &r), HK_OK);
            assert_int_equal(hk_search(c, plain, &want), HK_OK);
            assert_int_equal(hk_result_count(r, 0), K);
            for (size_t i = 0; i < K; i++) {
                uint64_t id = hk_result_id(r, 0, i);
                assert_true(id != 3 && id != 7 && id != 11);
                if (filtered) assert_int_equal(id % 2, 1);
                assert_int_equal(id, hk_result_id(want, 0, i));
                assert_true(fabsf(hk_result_score(r, 0, i) - hk_result_score(want, 0, i)) < 1e-4f);
            }
            hk_result_free(r);
            hk_result_free(want);
            /* Unknown examples fail and name the id; clearing them leaves no vector. */
            const uint64_t missing[] = {3, 100000};
            assert_int_equal(hk_query_set_examples(q, missing, 2, NULL, 0), HK_OK);
            assert_int_equal(hk_search(c, q, &r), HK_NOT_FOUND);
            assert_non_null(strstr(hk_errmsg(), "100000"));
            assert_null(r);
            assert_int_equal(hk_query_set_examples(q, NULL, 0, NULL, 0), HK_OK);
            assert_int_equal(hk_search(c, q, &r), HK_INVALID);
            assert_int_equal(hk_query_set_examples(q, NULL, 0, neg, 1), HK_INVALID);
            hk_query_free(q);
            hk_query_free(plain);
            hk_filter_free(f);
            hk_filter_free(pf);
        }
        hk_collection_close(c);
    }
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}

/* hk_collection_snapshot and hk_collection_recover: a snapshot taken, the collection
 * changed, then recovered (and copied under a new name); a corrupt or missing file
 * changes nothing; handles to the replaced collection answer HK_NOT_FOUND. */
static void test_snapshot_and_recover(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("recover");
    char d[4096], snap[4200], bad[4200];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(snap, sizeof snap, "%s/one.snapshot", d);
    snprintf(bad, sizeof bad, "%s/bad.snapshot", d);
    hk_db *db = tu_open_db(d, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 2;
    hk_collection *c;
    assert_int_equal(hk_collection_create(db, "c", &cfg, &c), HK_OK);
    hk_point pts[50];
    float v[50][2];
    for (int i = 0; i < 50; i++) {
        v[i][0] = (float)i;
        v[i][1] = 1;
        memset(&pts[i], 0, sizeof pts[i]);
        pts[i].id = (uint64_t)i;
        pts[i].vector = v[i];
        pts[i].payload = "{\"a\": 1}";
    }
    assert_int_equal(hk_upsert(c, pts, 50, NULL), HK_OK);
    assert_int_equal(hk_payload_index_create(c, "a", HK_FIELD_INTEGER), HK_OK);
    uint64_t bytes = 0;
    assert_int_equal(hk_collection_snapshot(c, snap, &bytes), HK_OK);
    assert_int_equal((long)bytes, tu_file_size(snap));
    uint64_t del = 0, ids[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, n;
    assert_int_equal(hk_delete(c, ids, 10, &del), HK_OK);
    assert_int_equal(del, 10);
    /* A corrupt copy and a missing file are refused and change nothing. */
    FILE *in = fopen(snap, "rb"), *out = fopen(bad, "wb");
    int ch;
    while ((ch = fgetc(in)) != EOF) fputc(ch, out);
    fclose(in);
    fclose(out);
    tu_flip_bit(bad, (long)bytes / 2, 3);
    assert_int_equal(hk_collection_recover(db, "c", bad), HK_CORRUPT);
    assert_non_null(strstr(hk_errmsg(), "nothing changed"));
    assert_int_equal(hk_count(c, NULL, &n), HK_OK);
    assert_int_equal(n, 40);
    assert_int_equal(hk_collection_recover(db, "c", "/nonexistent/x.snapshot"), HK_NOT_FOUND);
    assert_int_equal(hk_collection_recover(db, "../c", snap), HK_INVALID);
    /* Recover over the changed collection: the old handle is gone, a new one sees 50. */
    assert_int_equal(hk_collection_recover(db, "c", snap), HK_OK);
    assert_int_equal(hk_count(c, NULL, &n), HK_NOT_FOUND);
    hk_collection_close(c);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    assert_int_equal(hk_count(c, NULL, &n), HK_OK);
    assert_int_equal(n, 50);
    hk_collection_stats st;
    assert_int_equal(hk_collection_stats_get(c, &st), HK_OK);
    assert_int_equal(st.payload_indexes, 1);
    /* Writes go on after a recover and survive a reopen. */
    float w[2] = {7, 7};
    hk_point p = {.id = 500, .vector = w};
    assert_int_equal(hk_upsert(c, &p, 1, NULL), HK_OK);
    /* And into a collection that did not exist. */
    assert_int_equal(hk_collection_recover(db, "copy", snap), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(d, 0);
    assert_int_equal(hk_collection_open(db, "c", &c), HK_OK);
    assert_int_equal(hk_count(c, NULL, &n), HK_OK);
    assert_int_equal(n, 51);
    assert_int_equal(hk_collection_verify(c), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_collection_open(db, "copy", &c), HK_OK);
    assert_int_equal(hk_count(c, NULL, &n), HK_OK);
    assert_int_equal(n, 50);
    hk_collection_close(c);
    char **names;
    size_t nn;
    assert_int_equal(hk_db_list(db, &names, &nn), HK_OK);
    assert_int_equal(nn, 2); /* no leftovers of the swaps */
    hk_strings_free(names, nn);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_between_checkpoint_steps),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_points_and_validation),
        cmocka_unit_test(test_search_exact),
        cmocka_unit_test(test_recommend),
        cmocka_unit_test(test_durability_and_scroll),
        cmocka_unit_test(test_snapshot_corruption_and_backup),
        cmocka_unit_test(test_snapshot_and_recover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
