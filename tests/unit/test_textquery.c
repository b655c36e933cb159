/* Unit tests for src/db/textquery.c and the example strategies of query.c: phrase
 * matching, the synonym list (durable across log replay, checkpoints and reopen, and the
 * version-1 TIDX section it extends), RM3 expansion, Rocchio feedback on texts and vectors,
 * and Qdrant's best_score recommendation, each against a case worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "core.h"
#include "test_util.h"
#include "text/bm25.h"

static hk_collection *create_text(hk_db *db, const char *name) {
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 0;
    cfg.text_flags = HK_TEXT_ONLY;
    hk_collection *c = NULL;
    if (hk_collection_create(db, name, &cfg, &c)) fail_msg("create: %s", hk_errmsg());
    return c;
}

static void put(hk_collection *c, uint64_t id, const char *text) {
    hk_point p = {.id = id, .text = text};
    if (hk_upsert(c, &p, 1, NULL)) fail_msg("upsert %llu: %s", (unsigned long long)id, hk_errmsg());
}

/* Runs a prepared query and writes the ids, space-separated, into out. */
static void ids_of(hk_collection *c, hk_query *q, char *out, size_t cap) {
    hk_result *r;
    hk_status st = hk_search(c, q, &r);
    if (st) fail_msg("search: %s", hk_errmsg());
    out[0] = 0;
    size_t at = 0;
    for (size_t i = 0; i < hk_result_count(r, 0); i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%llu", i ? " " : "",
                               (unsigned long long)hk_result_id(r, 0, i));
    hk_result_free(r);
}

static void text_ids(hk_collection *c, const char *text, hk_text_match m, char *out, size_t cap) {
    hk_query *q;
    hk_query_new(&q);
    hk_query_set_text(q, text, 0);
    assert_int_equal(hk_query_set_text_match(q, m), HK_OK);
    ids_of(c, q, out, cap);
    hk_query_free(q);
}

static int has_id(const char *ids, unsigned id) {
    char want[32];
    snprintf(want, sizeof want, "%u", id);
    size_t l = strlen(want);
    for (const char *p = ids; (p = strstr(p, want)); p += l)
        if ((p == ids || p[-1] == ' ') && (p[l] == 0 || p[l] == ' ')) return 1;
    return 0;
}

static void test_phrase(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("phrase");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = create_text(db, "p");
    put(c, 1, "the swept wing flow at high speed");
    put(c, 2, "flow over a wing that is swept");      /* all terms, not in order */
    put(c, 3, "wing of the flow");                    /* stop words between: still a phrase */
    put(c, 4, "heat transfer; wing flow, wing flow"); /* twice, punctuation between phrases */
    put(c, 5, "wing heat flow");                      /* another word between */
    put(c, 6, "swept wings flowing");                 /* stems match: swept wing flow */
    char got[256];
    text_ids(c, "wing flow", HK_TEXT_MATCH_PHRASE, got, sizeof got);
    /* Every document holding the phrase, in BM25 order (4 has each term twice). */
    assert_true(has_id(got, 1) && has_id(got, 3) && has_id(got, 4) && has_id(got, 6));
    assert_false(has_id(got, 2) || has_id(got, 5));
    /* In the all-terms ranking's order, with 2 and 5 left out. */
    char all[256], kept[256] = "";
    text_ids(c, "wing flow", HK_TEXT_MATCH_ALL, all, sizeof all);
    assert_true(has_id(all, 2) && has_id(all, 5));
    for (char *tok = strtok(all, " "); tok; tok = strtok(NULL, " "))
        if (strcmp(tok, "2") && strcmp(tok, "5")) {
            if (kept[0]) strcat(kept, " ");
            strcat(kept, tok);
        }
    assert_string_equal(got, kept);
    text_ids(c, "swept wing flow", HK_TEXT_MATCH_PHRASE, got, sizeof got);
    assert_string_equal(got, "6 1");
    text_ids(c, "flow wing", HK_TEXT_MATCH_PHRASE, got, sizeof got);
    /* "wing flow, wing flow": flow then wing across the comma; "flow over a wing": stop
     * words between. */
    assert_true(has_id(got, 4) && has_id(got, 2) && strlen(got) == 3);
    text_ids(c, "heat", HK_TEXT_MATCH_PHRASE, got, sizeof got); /* one term: all-terms */
    assert_true(has_id(got, 4) && has_id(got, 5));
    /* k stops the verification once enough are found; a filter applies. */
    hk_query *q;
    hk_query_new(&q);
    hk_query_set_text(q, "wing flow", 0);
    hk_query_set_text_match(q, HK_TEXT_MATCH_PHRASE);
    hk_query_set_k(q, 2);
    ids_of(c, q, got, sizeof got);
    assert_int_equal(strlen(got) > 0, 1);
    assert_int_equal(strchr(got, ' ') != NULL && !strchr(strchr(got, ' ') + 1, ' '), 1);
    /* Expansion does not apply to phrases. */
    hk_query_set_expansion(q, HK_EXPAND_RM3, 0, 0, 0);
    hk_result *r = NULL;
    assert_int_equal(hk_search(c, q, &r), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "phrase"));
    hk_query_free(q);
    hk_collection_close(c);
    hk_db_close(db);
    tu_rmrf(dir);
}

static void check_synonyms(hk_collection *c, const char *want_list) {
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hk_collection_synonyms(c, &text, &len), HK_OK);
    if (!want_list) {
        assert_null(text);
        assert_int_equal(len, 0);
    } else {
        assert_int_equal(len, strlen(want_list));
        assert_memory_equal(text, want_list, len);
    }
    hk_free(text);
}

static void test_synonyms(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("syn");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = create_text(db, "s");
    put(c, 1, "a fast automobile");
    put(c, 2, "the old car");
    put(c, 3, "a bicycle");
    char got[256];
    text_ids(c, "cars", HK_TEXT_MATCH_ANY, got, sizeof got);
    assert_string_equal(got, "2");
    check_synonyms(c, NULL);
    const char *list = "# vehicles\ncar, automobile, auto\n\nbike,bicycle\n";
    assert_int_equal(hk_collection_set_synonyms(c, list, strlen(list)), HK_OK);
    check_synonyms(c, list);
    text_ids(c, "cars", HK_TEXT_MATCH_ANY, got, sizeof got);
    assert_true(has_id(got, 1) && has_id(got, 2) && !has_id(got, 3));
    text_ids(c, "bikes", HK_TEXT_MATCH_ANY, got, sizeof got);
    assert_string_equal(got, "3");
    /* All-terms matching uses the query's own terms. */
    text_ids(c, "cars", HK_TEXT_MATCH_ALL, got, sizeof got);
    assert_string_equal(got, "2");
    /* Bad lists name the line and change nothing. */
    const char *bad[] = {"car, automobile\nthe, a\n", "car, sports car\n", "car\n", "car, \xff\n"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(hk_collection_set_synonyms(c, bad[i], strlen(bad[i])), HK_INVALID);
        check_synonyms(c, list);
    }
    assert_int_equal(hk_collection_set_synonyms(c, bad[0], strlen(bad[0])), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "line 2"));
    /* Log replay: reopen without a checkpoint. */
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "s", &c), HK_OK);
    check_synonyms(c, list);
    text_ids(c, "automobile", HK_TEXT_MATCH_ANY, got, sizeof got);
    assert_true(has_id(got, 1) && has_id(got, 2));
    /* Snapshot: checkpoint, reopen. */
    assert_int_equal(hk_collection_checkpoint(c), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "s", &c), HK_OK);
    check_synonyms(c, list);
    text_ids(c, "auto", HK_TEXT_MATCH_ANY, got, sizeof got);
    assert_true(has_id(got, 1) && has_id(got, 2));
    assert_int_equal(hk_collection_verify(c), HK_OK);
    /* Clearing is durable too. */
    assert_int_equal(hk_collection_set_synonyms(c, NULL, 0), HK_OK);
    check_synonyms(c, NULL);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "s", &c), HK_OK);
    check_synonyms(c, NULL);
    text_ids(c, "cars", HK_TEXT_MATCH_ANY, got, sizeof got);
    assert_string_equal(got, "2");
    hk_collection_close(c);
    hk_db_close(db);
    tu_rmrf(dir);
}

/* The TIDX section of version 1 (no synonym list) still loads; version 2 keeps the list. */
static void test_tidx_versions(void **state) {
    (void)state;
    bm25_params p = {0, 0, 1.2f, 0.75f};
    bm25_index *ix;
    assert_int_equal(bm25_new(&p, &ix), HK_OK);
    hk_buf w;
    hk_buf_init(&w);
    assert_int_equal(bm25_write(ix, NULL, 0, 0, &w), HK_OK);
    /* Version 1: the same bytes without the trailing synonym length. */
    uint8_t v1[256];
    assert_true(w.len - 4 <= sizeof v1);
    memcpy(v1, w.data, w.len - 4);
    hk_store_u32(v1, 1);
    bm25_index *lx;
    assert_int_equal(bm25_load(v1, w.len - 4, 0, NULL, &lx), HK_OK);
    size_t sl = 7;
    assert_null(bm25_synonyms(lx, &sl));
    assert_int_equal(sl, 0);
    bm25_free(lx);
    /* A version-1 section with the version-2 tail is corrupt (trailing bytes). */
    hk_store_u32(w.data, 1);
    assert_int_equal(bm25_load(w.data, w.len, 0, NULL, &lx), HK_CORRUPT);
    hk_buf_free(&w);
    hk_buf_init(&w);
    bm25_set_synonyms(ix, hk_strndup("a, b", 4), 4);
    assert_int_equal(bm25_write(ix, NULL, 0, 0, &w), HK_OK);
    assert_int_equal(bm25_load(w.data, w.len, 0, NULL, &lx), HK_OK);
    assert_memory_equal(bm25_synonyms(lx, &sl), "a, b", 4);
    assert_int_equal(sl, 4);
    bm25_free(lx);
    assert_int_equal(bm25_load(w.data, w.len - 1, 0, NULL, &lx), HK_CORRUPT);
    hk_buf_free(&w);
    bm25_free(ix);
}

static void test_rm3(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("rm3");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = create_text(db, "r");
    /* "turbine" co-occurs with "blade" in the documents the query finds first; document 9
     * says "blade" without "turbine" and only expansion can find it. Filler documents give
     * the terms realistic document frequencies. */
    put(c, 1, "turbine blade cooling");
    put(c, 2, "turbine blade stress");
    put(c, 3, "turbine blade vibration");
    put(c, 9, "blade root fatigue");
    put(c, 10, "unrelated heat shield");
    for (int i = 20; i < 40; i++) put(c, (uint64_t)i, i % 2 ? "ocean waves tide" : "forest trees soil");
    char got[256];
    text_ids(c, "turbine", HK_TEXT_MATCH_ANY, got, sizeof got);
    assert_false(has_id(got, 9));
    hk_query *q;
    hk_query_new(&q);
    hk_query_set_text(q, "turbine", 0);
    assert_int_equal(hk_query_set_expansion(q, HK_EXPAND_RM3, 3, 5, 0.5), HK_OK);
    ids_of(c, q, got, sizeof got);
    assert_true(has_id(got, 9));
    assert_false(has_id(got, 10) || has_id(got, 20));
    /* The original query keeps its weight: documents with both terms stay on top. */
    assert_true(got[0] == '1' || got[0] == '2' || got[0] == '3');
    /* RM3's feedback weights: after expansion document 9 scores by "blade" alone, with
     * the weight (1 - 0.5) * P(blade) / sum of kept P: strictly less than the top. */
    hk_result *r;
    assert_int_equal(hk_search(c, q, &r), HK_OK);
    float top = hk_result_score(r, 0, 0), last = hk_result_score(r, 0, hk_result_count(r, 0) - 1);
    assert_true(last > 0 && last < top);
    hk_result_free(r);
    assert_int_equal(hk_query_set_expansion(q, HK_EXPAND_RM3, 0, 0, 1.5), HK_INVALID);
    assert_int_equal(hk_query_set_expansion(q, (hk_expansion)7, 0, 0, 0), HK_INVALID);
    hk_query_free(q);
    hk_collection_close(c);
    hk_db_close(db);
    tu_rmrf(dir);
}

static void test_rocchio(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("rocchio");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    /* Text: the relevant example brings "nozzle", the non-relevant one pushes "exhaust"
     * out (a query term whose weight goes negative is dropped). */
    hk_collection *t = create_text(db, "t");
    put(t, 1, "rocket nozzle design");
    put(t, 2, "rocket exhaust plume");
    put(t, 3, "nozzle throat erosion");
    put(t, 4, "exhaust pipe");
    for (int i = 20; i < 30; i++) put(t, (uint64_t)i, "garden flowers");
    char got[256];
    hk_query *q;
    hk_query_new(&q);
    hk_query_set_text(q, "rocket exhaust", 0);
    uint64_t pos[] = {1}, neg[] = {2};
    assert_int_equal(hk_query_set_examples(q, pos, 1, neg, 1), HK_OK);
    assert_int_equal(hk_query_set_recommend(q, HK_RECOMMEND_ROCCHIO), HK_OK);
    /* alpha 1, beta 1, gamma 2: q = {rocket 0.5, exhaust 0.5}; + beta * {rocket, nozzle,
     * design: 1/3 each}; - gamma * {rocket, exhaust, plume: 1/3 each}:
     * rocket 0.5 + 1/3 - 2/3 = 1/6, exhaust 0.5 - 2/3 < 0 (dropped), nozzle 1/3, design 1/3. */
    assert_int_equal(hk_query_set_rocchio(q, 1, 1, 2, 10), HK_OK);
    ids_of(t, q, got, sizeof got);
    assert_false(has_id(got, 1) || has_id(got, 2)); /* the examples leave the results */
    assert_true(has_id(got, 3));
    assert_false(has_id(got, 4)); /* only "exhaust" matched it */
    assert_int_equal(got[0], '3');
    /* No new terms allowed: only the query's terms still positive (rocket). */
    assert_int_equal(hk_query_set_rocchio(q, 1, 1, 2, 0), HK_OK);
    ids_of(t, q, got, sizeof got);
    assert_string_equal(got, "");
    assert_int_equal(hk_query_set_rocchio(q, -1, 1, 1, 0), HK_INVALID);
    /* Unknown example ids are named. */
    uint64_t missing[] = {77};
    hk_query_set_examples(q, missing, 1, NULL, 0);
    hk_result *r = NULL;
    assert_int_equal(hk_search(t, q, &r), HK_NOT_FOUND);
    assert_non_null(strstr(hk_errmsg(), "77"));
    hk_query_free(q);

    /* Vectors (l2): q = (1, 0), positive 10 at (0, 4), negative 11 at (4, 0);
     * alpha 1, beta 0.5, gamma 0.25: (1 + 0 - 1, 0 + 2 - 0) = (0, 2): nearest is 12 at (0, 2). */
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 2;
    cfg.index = HK_INDEX_FLAT;
    hk_collection *v;
    assert_int_equal(hk_collection_create(db, "v", &cfg, &v), HK_OK);
    float pts[][2] = {{0, 4}, {4, 0}, {0, 2}, {1, 0}, {2, 2}};
    for (int i = 0; i < 5; i++) {
        hk_point p = {.id = (uint64_t)(10 + i), .vector = pts[i]};
        assert_int_equal(hk_upsert(v, &p, 1, NULL), HK_OK);
    }
    hk_query_new(&q);
    float qv[2] = {1, 0};
    hk_query_set_vectors(q, qv, 1, 2);
    uint64_t vp[] = {10}, vn[] = {11};
    hk_query_set_examples(q, vp, 1, vn, 1);
    hk_query_set_recommend(q, HK_RECOMMEND_ROCCHIO);
    hk_query_set_rocchio(q, 1, 0.5, 0.25, 10);
    hk_query_set_k(q, 3);
    assert_int_equal(hk_search(v, q, &r), HK_OK);
    assert_int_equal(hk_result_count(r, 0), 3);
    assert_int_equal(hk_result_id(r, 0, 0), 12);
    assert_float_equal(hk_result_score(r, 0, 0), 0, 1e-6);
    /* then (1, 0) at sqrt(5) and (2, 2) at 2: 14 (2) before 13 (sqrt 5); examples absent */
    assert_int_equal(hk_result_id(r, 0, 1), 14);
    assert_float_equal(hk_result_score(r, 0, 1), 2, 1e-6);
    assert_int_equal(hk_result_id(r, 0, 2), 13);
    hk_result_free(r);
    /* Rocchio needs a query to move. */
    hk_query *e;
    hk_query_new(&e);
    hk_query_set_examples(e, vp, 1, NULL, 0);
    hk_query_set_recommend(e, HK_RECOMMEND_ROCCHIO);
    assert_int_equal(hk_search(v, e, &r), HK_INVALID);
    hk_query_free(e);
    hk_query_free(q);
    hk_collection_close(v);
    hk_collection_close(t);
    hk_db_close(db);
    tu_rmrf(dir);
}

static double sig(double x) { return 0.5 * (1 + x / (1 + fabs(x))); }

static void test_best_score(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("best");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 2;
    cfg.index = HK_INDEX_FLAT;
    cfg.metric = HK_METRIC_IP;
    hk_collection *c;
    assert_int_equal(hk_collection_create(db, "b", &cfg, &c), HK_OK);
    /* Positives 1 (1, 0) and 2 (0, 1); negative 3 (-1, -1). */
    float pts[][2] = {{1, 0}, {0, 1}, {-1, -1}, {2, 0}, {0.5, 0.5}, {-2, -1}, {3, -3}};
    for (int i = 0; i < 7; i++) {
        hk_point p = {.id = (uint64_t)(i + 1), .vector = pts[i], .payload = i == 3 ? "{\"x\": 1}" : NULL};
        assert_int_equal(hk_upsert(c, &p, 1, NULL), HK_OK);
    }
    hk_query *q;
    hk_query_new(&q);
    uint64_t pos[] = {1, 2}, neg[] = {3};
    hk_query_set_examples(q, pos, 2, neg, 1);
    assert_int_equal(hk_query_set_recommend(q, HK_RECOMMEND_BEST_SCORE), HK_OK);
    hk_result *r;
    assert_int_equal(hk_search(c, q, &r), HK_OK);
    /* By hand (sim = dot):
     *  4 (2, 0):     pos max 2,   neg -2  -> s(2)   = 0.8333
     *  5 (.5, .5):   pos max .5,  neg -1  -> s(.5)  = 0.6667
     *  6 (-2, -1):   pos max -1,  neg 3   -> -s(3)  = -0.875
     *  7 (3, -3):    pos max 3,   neg 0   -> s(3)   = 0.875 */
    uint64_t ids[] = {7, 4, 5, 6};
    double sc[] = {sig(3), sig(2), sig(0.5), -sig(3)};
    assert_int_equal(hk_result_count(r, 0), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(hk_result_id(r, 0, (size_t)i), ids[i]);
        assert_float_equal(hk_result_score(r, 0, (size_t)i), sc[i], 1e-6);
    }
    hk_result_free(r);
    /* Filter and k apply. */
    hk_filter *f;
    const char *fj = "{\"must\": [{\"key\": \"x\", \"match\": {\"value\": 1}}]}";
    assert_int_equal(hk_filter_parse(fj, strlen(fj), &f), HK_OK);
    hk_query_set_filter(q, f);
    assert_int_equal(hk_search(c, q, &r), HK_OK);
    assert_int_equal(hk_result_count(r, 0), 1);
    assert_int_equal(hk_result_id(r, 0, 0), 4);
    hk_result_free(r);
    hk_query_set_filter(q, NULL);
    /* A query vector does not go with best_score. */
    float qv[2] = {1, 1};
    hk_query_set_vectors(q, qv, 1, 2);
    assert_int_equal(hk_search(c, q, &r), HK_INVALID);
    hk_filter_free(f);
    hk_query_free(q);
    hk_recommend s;
    assert_int_equal(hk_recommend_from_name("best_score", &s), 0);
    assert_int_equal(s, HK_RECOMMEND_BEST_SCORE);
    assert_int_equal(hk_recommend_from_name("best", &s), -1);
    hk_collection_close(c);
    hk_db_close(db);
    tu_rmrf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_phrase),    cmocka_unit_test(test_synonyms),
                                       cmocka_unit_test(test_tidx_versions),
                                       cmocka_unit_test(test_rm3),       cmocka_unit_test(test_rocchio),
                                       cmocka_unit_test(test_best_score)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
