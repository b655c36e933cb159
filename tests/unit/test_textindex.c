/* Unit tests for src/db/textindex.c through the public API: text-only collections, BM25
 * search with filters and offsets, updates and deletes of texts, the index kept across
 * log replay, checkpoints and reopen, version-3 snapshots (no text index section) and
 * bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "core.h"
#include "test_util.h"

static hk_collection *create_text(hk_db *db, const char *name, uint32_t flags) {
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 0;
    cfg.text_flags = HK_TEXT_ONLY | flags;
    hk_collection *c = NULL;
    hk_status st = hk_collection_create(db, name, &cfg, &c);
    if (st) fail_msg("create: %s", hk_errmsg());
    return c;
}

static void put(hk_collection *c, uint64_t id, const char *text, const char *payload) {
    hk_point p = {.id = id, .text = text, .payload = payload};
    hk_status st = hk_upsert(c, &p, 1, NULL);
    if (st) fail_msg("upsert %llu: %s", (unsigned long long)id, hk_errmsg());
}

/* Ids of a text search, joined with spaces. */
static void search_ids(hk_collection *c, const char *text, uint32_t k, const char *filter,
                       uint32_t offset, char *out, size_t cap) {
    hk_query *q;
    assert_int_equal(hk_query_new(&q), HK_OK);
    assert_int_equal(hk_query_set_text(q, text, 0), HK_OK);
    assert_int_equal(hk_query_set_k(q, k), HK_OK);
    assert_int_equal(hk_query_set_offset(q, offset), HK_OK);
    hk_filter *f = NULL;
    if (filter) assert_int_equal(hk_filter_parse(filter, strlen(filter), &f), HK_OK);
    hk_query_set_filter(q, f);
    hk_result *r = NULL;
    hk_status st = hk_search(c, q, &r);
    if (st) fail_msg("search '%s': %s", text, hk_errmsg());
    out[0] = 0;
    size_t o = 0;
    for (size_t i = 0; i < hk_result_count(r, 0); i++) {
        assert_true(hk_result_score(r, 0, i) > 0);
        if (i) assert_true(hk_result_score(r, 0, i) <= hk_result_score(r, 0, i - 1));
        o += (size_t)snprintf(out + o, cap - o, "%s%llu", i ? " " : "",
                              (unsigned long long)hk_result_id(r, 0, i));
    }
    hk_result_free(r);
    hk_filter_free(f);
    hk_query_free(q);
}

static void expect(hk_collection *c, const char *text, const char *filter, const char *want) {
    char got[512];
    search_ids(c, text, 10, filter, 0, got, sizeof got);
    if (strcmp(got, want)) fail_msg("search '%s' %s: got [%s], want [%s]", text, filter ? filter : "", got, want);
}

static void fill(hk_collection *c) {
    put(c, 1, "Supersonic flow over a swept wing", "{\"year\": 1960}");
    put(c, 2, "Heat transfer in laminar boundary layers", "{\"year\": 1955}");
    put(c, 3, "Boundary layer transition on swept wings at supersonic speeds", "{\"year\": 1962}");
    put(c, 4, "Buckling of thin cylindrical shells", "{\"year\": 1958}");
    put(c, 5, "The flow of heat", "{\"year\": 1970}");
}

static void test_text_only_collection(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("text");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection *c = create_text(db, "docs", 0);
    hk_collection_config cfg;
    assert_int_equal(hk_collection_get_config(c, &cfg), HK_OK);
    assert_int_equal(cfg.dim, 0);
    assert_true(cfg.text_flags & HK_TEXT_ONLY);
    assert_float_equal(cfg.bm25_k1, 1.2f, 0);
    assert_float_equal(cfg.bm25_b, 0.75f, 0);
    fill(c);
    /* Stemming joins wing/wings and swept; stop words vanish from the query. */
    expect(c, "the swept wings", NULL, "1 3");
    expect(c, "boundary layers", NULL, "2 3");
    expect(c, "heat", NULL, "5 2");
    expect(c, "nothing matches this", NULL, "");
    expect(c, "swept wing", "{\"must\": [{\"key\": \"year\", \"range\": {\"gte\": 1961}}]}", "3");
    char got[128];
    search_ids(c, "swept supersonic boundary", 1, NULL, 1, got, sizeof got);
    assert_string_equal(got, "1");
    /* All terms: only 3 has swept, wing and boundary. */
    hk_query *qa;
    hk_query_new(&qa);
    hk_query_set_text(qa, "swept wings boundary", 0);
    assert_int_equal(hk_query_set_text_match(qa, HK_TEXT_MATCH_ALL), HK_OK);
    assert_int_equal(hk_query_set_text_match(qa, (hk_text_match)5), HK_INVALID);
    hk_result *ra;
    assert_int_equal(hk_search(c, qa, &ra), HK_OK);
    assert_int_equal(hk_result_count(ra, 0), 1);
    assert_int_equal(hk_result_id(ra, 0, 0), 3);
    hk_result_free(ra);
    hk_query_set_text(qa, "swept wings flutter", 0); /* flutter: in no text */
    assert_int_equal(hk_search(c, qa, &ra), HK_OK);
    assert_int_equal(hk_result_count(ra, 0), 0);
    hk_result_free(ra);
    hk_query_free(qa);
    /* Text results carry the text on request, and no vector. */
    hk_result *gr = NULL;
    assert_int_equal(hk_get(c, (uint64_t[]){1}, 1, HK_WITH_TEXT | HK_WITH_VECTOR, &gr), HK_OK);
    assert_string_equal(hk_result_text(gr, 0, 0), "Supersonic flow over a swept wing");
    assert_null(hk_result_vector(gr, 0, 0));
    hk_result_free(gr);
    /* Replace a text and delete a point: the old words stop matching. */
    put(c, 4, "Swept wing flutter", "{\"year\": 1959}");
    expect(c, "buckling", NULL, "");
    assert_int_equal(hk_delete(c, (uint64_t[]){2}, 1, NULL), HK_OK);
    expect(c, "heat", NULL, "5");
    assert_int_equal(hk_collection_verify(c), HK_OK);
    /* A read-only opener replays the log into its own index. */
    hk_db *ro = tu_open_db(dir, HK_OPEN_READONLY);
    hk_collection *rc;
    assert_int_equal(hk_collection_open(ro, "docs", &rc), HK_OK);
    expect(rc, "heat", NULL, "5");
    expect(rc, "swept wing", NULL, "4 1 3");
    assert_int_equal(hk_collection_verify(rc), HK_OK);
    hk_collection_close(rc);
    hk_db_close(ro);
    /* After a checkpoint the index is read from the snapshot. */
    assert_int_equal(hk_collection_checkpoint(c), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "docs", &c), HK_OK);
    expect(c, "swept wing", NULL, "4 1 3");
    expect(c, "heat", NULL, "5");
    assert_int_equal(hk_collection_verify(c), HK_OK);
    assert_int_equal(hk_collection_get_config(c, &cfg), HK_OK);
    assert_true(cfg.text_flags & HK_TEXT_ONLY);
    /* Bad input changes nothing. */
    float v[2] = {1, 2};
    hk_point pv = {.id = 9, .vector = v, .text = "x"};
    assert_int_equal(hk_upsert(c, &pv, 1, NULL), HK_INVALID);
    hk_point bad = {.id = 9, .text = "bad \xC3"};
    assert_int_equal(hk_upsert(c, &bad, 1, NULL), HK_INVALID);
    hk_query *q;
    hk_query_new(&q);
    assert_int_equal(hk_query_set_text(q, "\xFF", 1), HK_INVALID);
    hk_result *r = NULL;
    assert_int_equal(hk_query_set_vectors(q, v, 1, 2), HK_OK);
    assert_int_equal(hk_search(c, q, &r), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "text-only"));
    assert_int_equal(hk_query_set_text(q, "wing", 0), HK_OK);
    assert_int_equal(hk_search(c, q, &r), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "hybrid"));
    hk_query_free(q);
    uint64_t n;
    assert_int_equal(hk_count(c, NULL, &n), HK_OK);
    assert_int_equal(n, 4);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}

static void test_config(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("textcfg");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection_config cfg;
    hk_collection *c = NULL;
    struct { uint32_t dim, flags, lang; float k1, b; hk_status want; } cases[] = {
        {0, 0, 0, 0, 0, HK_INVALID},                        /* dim 0 without HK_TEXT_ONLY */
        {3, HK_TEXT_ONLY, 0, 0, 0, HK_INVALID},             /* text-only with a dimension */
        {0, HK_TEXT_ONLY, 999, 0, 0, HK_INVALID},           /* unknown language */
        {0, HK_TEXT_ONLY | (1u << 9), 0, 0, 0, HK_INVALID}, /* unknown flag */
        {0, HK_TEXT_ONLY, 0, -1, 0, HK_INVALID},
        {0, HK_TEXT_ONLY, 0, NAN, 0, HK_INVALID},
        {0, HK_TEXT_ONLY, 0, 0, 1.5f, HK_INVALID},
        {0, HK_TEXT_ONLY | HK_TEXT_BM25_B_ZERO, 0, 0, 0.5f, HK_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hk_collection_config_init(&cfg);
        cfg.dim = cases[i].dim;
        cfg.text_flags = cases[i].flags;
        cfg.text_language = cases[i].lang;
        cfg.bm25_k1 = cases[i].k1;
        cfg.bm25_b = cases[i].b;
        if (hk_collection_create(db, "x", &cfg, &c) != cases[i].want) fail_msg("case %zu", i);
    }
    hk_collection_config_init(&cfg);
    cfg.dim = 2;
    cfg.reserved[1] = 7;
    assert_int_equal(hk_collection_create(db, "x", &cfg, &c), HK_INVALID);
    /* A vector collection with French analysis, no stemming, b = 0, k1 = 2. */
    hk_collection_config_init(&cfg);
    cfg.dim = 2;
    assert_int_equal(hk_language_parse("french", &cfg.text_language), HK_OK);
    cfg.text_flags = HK_TEXT_NO_STEM | HK_TEXT_BM25_B_ZERO;
    cfg.bm25_k1 = 2;
    assert_int_equal(hk_collection_create(db, "fr", &cfg, &c), HK_OK);
    float v[2] = {1, 0};
    hk_point p[2] = {{.id = 1, .vector = v, .text = "les chevaux"}, {.id = 2, .vector = v, .text = "un cheval"}};
    assert_int_equal(hk_upsert(c, p, 2, NULL), HK_OK);
    expect(c, "chevaux", NULL, "1"); /* no stemming: cheval does not match */
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "fr", &c), HK_OK);
    hk_collection_config got;
    assert_int_equal(hk_collection_get_config(c, &got), HK_OK);
    assert_string_equal(hk_language_name(got.text_language), "french");
    assert_int_equal(got.text_flags, HK_TEXT_NO_STEM | HK_TEXT_BM25_B_ZERO);
    assert_float_equal(got.bm25_k1, 2.0f, 0);
    assert_float_equal(got.bm25_b, 0.0f, 0);
    expect(c, "chevaux", NULL, "1");
    /* Vector search still works beside the text. */
    hk_query *q;
    hk_query_new(&q);
    hk_query_set_vectors(q, v, 1, 2);
    hk_result *r;
    assert_int_equal(hk_search(c, q, &r), HK_OK);
    assert_int_equal(hk_result_count(r, 0), 2);
    hk_result_free(r);
    hk_query_free(q);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}

/* Rewrites a version-4 snapshot as version 3: drops the last (TIDX) section. */
static void downgrade_snapshot(const char *path) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    uint8_t *b = malloc((size_t)size);
    fseek(f, 0, SEEK_SET);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    long off = 64, last = 0;
    while (off < size) {
        last = off;
        uint64_t len;
        memcpy(&len, b + off + 8, 8);
        off += 64 + (long)((len + 63) & ~63ull);
    }
    assert_int_equal(memcmp(b + last, "TIDX", 4), 0);
    uint32_t v3 = 3, nsec = 10;
    uint64_t nsize = (uint64_t)last;
    memcpy(b + 8, &v3, 4);
    memcpy(b + 12, &nsec, 4);
    memcpy(b + 16, &nsize, 8);
    uint32_t crc = hk_crc32c(0, b, 60);
    memcpy(b + 60, &crc, 4);
    fseek(f, 0, SEEK_SET);
    fwrite(b, 1, (size_t)last, f);
    fclose(f);
    assert_int_equal(truncate(path, last), 0);
    free(b);
}

static void test_old_snapshot(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("textold");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 1;
    hk_collection *c;
    assert_int_equal(hk_collection_create(db, "v", &cfg, &c), HK_OK);
    float v[1] = {1};
    hk_point p[3] = {{.id = 1, .vector = v, .text = "Running dogs"},
                     {.id = 2, .vector = v},
                     {.id = 3, .vector = v, .text = "a dog runs"}};
    assert_int_equal(hk_upsert(c, p, 3, NULL), HK_OK);
    assert_int_equal(hk_collection_checkpoint(c), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    char snap[4200];
    snprintf(snap, sizeof snap, "%s/collections/v/snapshot.hks", dir);
    downgrade_snapshot(snap);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "v", &c), HK_OK);
    expect(c, "run", NULL, "1 3"); /* equal scores: stored order */
    assert_int_equal(hk_collection_verify(c), HK_OK);
    /* The next checkpoint writes version 4 with the section, read back at open. */
    hk_point p4 = {.id = 4, .vector = v, .text = "runner"};
    assert_int_equal(hk_upsert(c, &p4, 1, NULL), HK_OK);
    assert_int_equal(hk_collection_checkpoint(c), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    FILE *f = fopen(snap, "rb");
    uint8_t h[16];
    assert_int_equal(fread(h, 1, 16, f), 16);
    fclose(f);
    assert_int_equal(h[8], 4);
    db = tu_open_db(dir, HK_OPEN_NOSYNC);
    assert_int_equal(hk_collection_open(db, "v", &c), HK_OK);
    expect(c, "run", NULL, "1 3"); /* equal scores: stored order */
    expect(c, "runner", NULL, "4");
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}


/* Hybrid search: RRF of the vector list and the text list, checked against the two
 * lists fetched separately and fused here. */
static void test_hybrid_rrf(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("texthyb");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 2;
    cfg.index = HK_INDEX_FLAT;
    hk_collection *c;
    assert_int_equal(hk_collection_create(db, "h", &cfg, &c), HK_OK);
    static const char *words[] = {"wing", "flow", "heat", "shell", "plate", "shock"};
    enum { N = 300 };
    char texts[N][64];
    hk_point pts[N];
    float vecs[N][2];
    for (int i = 0; i < N; i++) {
        snprintf(texts[i], sizeof texts[i], "%s %s %s", words[i % 6], words[(i / 6) % 6],
                 i % 7 ? words[(i * 5) % 6] : "");
        vecs[i][0] = (float)((i * 37) % 101);
        vecs[i][1] = (float)((i * 53) % 97);
        pts[i] = (hk_point){.id = (uint64_t)i + 1000, .vector = vecs[i], .text = texts[i],
                            .payload = i % 3 ? "{\"g\": 1}" : "{\"g\": 0}"};
    }
    assert_int_equal(hk_upsert(c, pts, N, NULL), HK_OK);
    float qv[2] = {40, 60};
    const char *qt = "shock plate";
    hk_filter *f;
    const char *fj = "{\"must\": [{\"key\": \"g\", \"match\": {\"value\": 1}}]}";
    assert_int_equal(hk_filter_parse(fj, strlen(fj), &f), HK_OK);
    for (int variant = 0; variant < 3; variant++) {
        uint32_t depth = variant == 2 ? 7 : variant == 1 ? 40 : 100, k = 10; /* 100: the default */
        double rk = variant == 1 ? 5 : 60;
        hk_query *q;
        hk_query_new(&q);
        hk_query_set_k(q, depth);
        if (variant == 2) hk_query_set_filter(q, f);
        hk_result *rv, *rt;
        hk_query_set_vectors(q, qv, 1, 2);
        assert_int_equal(hk_search(c, q, &rv), HK_OK);
        hk_query_free(q);
        hk_query_new(&q);
        hk_query_set_k(q, depth);
        if (variant == 2) hk_query_set_filter(q, f);
        hk_query_set_text(q, qt, 0);
        assert_int_equal(hk_search(c, q, &rt), HK_OK);
        /* Expected fused scores, by id. */
        double score[N] = {0};
        for (size_t i = 0; i < hk_result_count(rv, 0); i++)
            score[hk_result_id(rv, 0, i) - 1000] += 1.0 / (rk + (double)(i + 1));
        for (size_t i = 0; i < hk_result_count(rt, 0); i++)
            score[hk_result_id(rt, 0, i) - 1000] += 1.0 / (rk + (double)(i + 1));
        hk_query_set_vectors(q, qv, 1, 2);
        hk_query_set_k(q, k);
        if (variant) assert_int_equal(hk_query_set_fusion(q, HK_FUSION_RRF, rk, depth), HK_OK);
        hk_result *r;
        assert_int_equal(hk_search(c, q, &r), HK_OK);
        size_t n = hk_result_count(r, 0);
        assert_int_equal(n, k);
        for (size_t i = 0; i < n; i++) {
            uint64_t id = hk_result_id(r, 0, i);
            assert_float_equal(hk_result_score(r, 0, i), score[id - 1000], 1e-6);
            /* Nothing outside the result scores higher. */
            for (int j = 0; j < N; j++)
                if (score[j] > score[id - 1000] + 1e-12) {
                    int found = 0;
                    for (size_t x = 0; x < i; x++) found |= hk_result_id(r, 0, x) == (uint64_t)j + 1000;
                    assert_true(found);
                }
            if (variant == 2) assert_true((id - 1000) % 3 != 0);
        }
        hk_result_free(r);
        hk_result_free(rv);
        hk_result_free(rt);
        hk_query_free(q);
    }
    /* Bad hybrid queries. */
    hk_query *q;
    hk_query_new(&q);
    hk_query_set_text(q, "wing", 0);
    float two[4] = {1, 2, 3, 4};
    hk_query_set_vectors(q, two, 2, 2);
    hk_result *r = NULL;
    assert_int_equal(hk_search(c, q, &r), HK_INVALID);
    hk_query_set_vectors(q, two, 1, 2);
    hk_query_set_radius(q, 3);
    assert_int_equal(hk_search(c, q, &r), HK_INVALID);
    assert_int_equal(hk_query_set_fusion(q, (hk_fusion)9, 0, 0), HK_INVALID);
    assert_int_equal(hk_query_set_fusion(q, HK_FUSION_RRF, -1, 0), HK_INVALID);
    hk_query_free(q);
    hk_filter_free(f);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}

/* hk_search_fused: three queries (two vectors, one text) fused by RRF equal the sums
 * computed here from the three lists; hk_fusion_from_name; bad arguments. */
static void test_search_fused(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("fused");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 2;
    hk_collection *c;
    assert_int_equal(hk_collection_create(db, "h", &cfg, &c), HK_OK);
    enum { N = 120 };
    static const char *const words[] = {"wing", "flow", "heat", "drag"};
    for (int i = 0; i < N; i++) {
        float v[2] = {(float)(i % 11), (float)(i / 11)};
        char text[64];
        snprintf(text, sizeof text, "%s %s", words[i % 4], words[(i / 4) % 4]);
        hk_point p = {.id = 1000 + (uint64_t)i, .vector = v, .text = text};
        assert_int_equal(hk_upsert(c, &p, 1, NULL), HK_OK);
    }
    hk_fusion m = (hk_fusion)7;
    assert_int_equal(hk_fusion_from_name("rrf", &m), 0);
    assert_int_equal(m, HK_FUSION_RRF);
    assert_int_not_equal(hk_fusion_from_name("nope", &m), 0);
    assert_int_not_equal(hk_fusion_from_name(NULL, &m), 0);
    float a[2] = {3, 4}, b[2] = {9, 1};
    hk_query *qs[3];
    uint32_t lim[3] = {30, 25, 40};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hk_query_new(&qs[i]), HK_OK);
        assert_int_equal(hk_query_set_k(qs[i], lim[i]), HK_OK);
    }
    hk_query_set_vectors(qs[0], a, 1, 2);
    hk_query_set_vectors(qs[1], b, 1, 2);
    hk_query_set_text(qs[2], "wing heat", 0);
    double score[N] = {0};
    for (int i = 0; i < 3; i++) {
        hk_result *r;
        assert_int_equal(hk_search(c, qs[i], &r), HK_OK);
        for (size_t j = 0; j < hk_result_count(r, 0); j++)
            score[hk_result_id(r, 0, j) - 1000] += 1.0 / (50.0 + (double)(j + 1));
        hk_result_free(r);
    }
    hk_result *r;
    assert_int_equal(hk_search_fused(c, (const hk_query *const *)qs, 3, HK_FUSION_RRF, 50, 15, 2,
                                     HK_WITH_TEXT, &r),
                     HK_OK);
    assert_int_equal(hk_result_count(r, 0), 15);
    /* Ranked by the sums (ties by id), after skipping two. */
    int order[N], m2 = 0;
    for (int i = 0; i < N; i++)
        if (score[i] > 0) order[m2++] = i;
    for (int i = 0; i < m2; i++)
        for (int j = i + 1; j < m2; j++)
            if (score[order[j]] > score[order[i]] ||
                (score[order[j]] == score[order[i]] && order[j] < order[i])) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    for (size_t i = 0; i < 15; i++) {
        assert_int_equal(hk_result_id(r, 0, i), 1000 + (uint64_t)order[i + 2]);
        assert_float_equal(hk_result_score(r, 0, i), score[order[i + 2]], 1e-6);
        assert_non_null(hk_result_text(r, 0, i));
    }
    hk_result_free(r);
    r = NULL;
    assert_int_equal(hk_search_fused(c, (const hk_query *const *)qs, 0, HK_FUSION_RRF, 0, 10, 0, 0, &r),
                     HK_INVALID);
    assert_int_equal(hk_search_fused(c, (const hk_query *const *)qs, 3, (hk_fusion)9, 0, 10, 0, 0, &r),
                     HK_INVALID);
    assert_int_equal(hk_search_fused(c, (const hk_query *const *)qs, 3, HK_FUSION_RRF, -1, 10, 0, 0, &r),
                     HK_INVALID);
    assert_int_equal(hk_search_fused(c, (const hk_query *const *)qs, 3, HK_FUSION_RRF, 0, 0, 0, 0, &r),
                     HK_INVALID);
    float two[4] = {1, 2, 3, 4};
    hk_query_set_vectors(qs[0], two, 2, 2);
    assert_int_equal(hk_search_fused(c, (const hk_query *const *)qs, 3, HK_FUSION_RRF, 0, 10, 0, 0, &r),
                     HK_INVALID);
    assert_null(r);
    for (int i = 0; i < 3; i++) hk_query_free(qs[i]);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_text_only_collection),
                                       cmocka_unit_test(test_config),
                                       cmocka_unit_test(test_old_snapshot),
                                       cmocka_unit_test(test_hybrid_rrf),
                                       cmocka_unit_test(test_search_fused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
