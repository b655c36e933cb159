/*
 * test_import.c — hk_import_mem, hk_import_probe and HK_IMPORT_CHECK_FIRST
 * (src/adapters/import.c): a file with a bad record anywhere writes nothing with the flag
 * and a prefix of whole batches without it; progress covers both passes; a cancel while
 * checking writes nothing; the probe reads a first record's dimension (0 for records
 * without vectors); standard input refuses the flag.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hektor.h"
#include "test_util.h"

/* n jsonl records of dimension 3, ids from 100; record bad_at (1-based, 0 = none) has
 * dimension 2. */
static char *jsonl(int n, int bad_at) {
    size_t cap = (size_t)n * 96 + 1;
    char *s = malloc(cap), *p = s;
    for (int i = 1; i <= n; i++)
        p += sprintf(p, i == bad_at ? "{\"id\": %d, \"vector\": [1, 2]}\n"
                                    : "{\"id\": %d, \"vector\": [%d, 1, 0.5], \"text\": \"w%d\"}\n",
                     99 + i, i, i % 7);
    return s;
}

static uint64_t count(hk_collection *c) {
    uint64_t n;
    assert_int_equal(hk_count(c, NULL, &n), HK_OK);
    return n;
}

typedef struct prog {
    uint64_t calls, last_done, total, max_points;
    int cancel_at;
} prog;

static int on_progress(void *ud, uint64_t done, uint64_t total, uint64_t points) {
    prog *p = ud;
    p->calls++;
    assert_true(done >= p->last_done);
    p->last_done = done;
    p->total = total;
    if (points > p->max_points) p->max_points = points;
    return p->cancel_at && (int)p->calls >= p->cancel_at;
}

static void test_check_first(void **state) {
    (void)state;
    const char *dir = tu_tmpdir("import");
    hk_db *db = tu_open_db(dir, HK_OPEN_CREATE | HK_OPEN_NOSYNC);
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = 3;
    hk_collection *c;
    assert_int_equal(hk_collection_create(db, "c", &cfg, &c), HK_OK);
    char *bad = jsonl(1000, 950);
    hk_import_options o;
    hk_import_options_init(&o);
    o.format = "jsonl";
    o.batch = 100;
    hk_import_stats st;
    /* Without the flag: the nine batches before the bad one stay. */
    assert_int_equal(hk_import_mem(c, bad, strlen(bad), "a.jsonl", &o, &st), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "950"));
    assert_int_equal(st.points, 900);
    assert_int_equal(count(c), 900);
    assert_int_equal(hk_collection_drop(db, "c"), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_collection_create(db, "c", &cfg, &c), HK_OK);
    /* With it: nothing. */
    o.flags = HK_IMPORT_CHECK_FIRST;
    assert_int_equal(hk_import_mem(c, bad, strlen(bad), "a.jsonl", &o, &st), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "950"));
    assert_int_equal(st.points, 0);
    assert_int_equal(count(c), 0);
    /* A value the reader accepts but an upsert refuses: also found before writing. */
    char nan[] = "{\"id\": 1, \"vector\": [1, 2, 3]}\n{\"id\": 2, \"vector\": [1e38, 1e38, 1e38]}\n";
    assert_int_equal(hk_import_mem(c, nan, strlen(nan), "b.jsonl", &o, &st), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "too large"));
    assert_int_equal(count(c), 0);
    /* A good file: both passes reported, every point written. */
    char *good = jsonl(1000, 0);
    prog p = {0};
    o.progress = on_progress;
    o.ud = &p;
    assert_int_equal(hk_import_mem(c, good, strlen(good), "g.jsonl", &o, &st), HK_OK);
    assert_int_equal(st.points, 1000);
    assert_int_equal(st.batches, 10);
    assert_int_equal(p.total, 2 * strlen(good));
    assert_int_equal(p.last_done, 2 * strlen(good));
    assert_int_equal(p.calls, 20);
    assert_int_equal(count(c), 1000);
    /* Cancelled while checking: nothing more; while writing: whole batches. */
    assert_int_equal(hk_collection_drop(db, "c"), HK_OK);
    hk_collection_close(c);
    assert_int_equal(hk_collection_create(db, "c", &cfg, &c), HK_OK);
    p = (prog){.cancel_at = 3};
    assert_int_equal(hk_import_mem(c, good, strlen(good), "g.jsonl", &o, &st), HK_CANCELLED);
    assert_non_null(strstr(hk_errmsg(), "nothing was imported"));
    assert_int_equal(count(c), 0);
    p = (prog){.cancel_at = 13};
    assert_int_equal(hk_import_mem(c, good, strlen(good), "g.jsonl", &o, &st), HK_CANCELLED);
    assert_int_equal(st.points, 300);
    assert_int_equal(count(c), 300);
    /* Format from the name; unknown flags; standard input with the flag. */
    o.format = NULL;
    o.progress = NULL;
    assert_int_equal(hk_import_mem(c, good, strlen(good), "g.jsonl", &o, &st), HK_OK);
    assert_int_equal(hk_import_mem(c, good, strlen(good), "noext", &o, &st), HK_INVALID);
    assert_int_equal(hk_import(c, "-", &o, &st), HK_INVALID);
    assert_non_null(strstr(hk_errmsg(), "standard input"));
    o.flags = 1u << 7;
    assert_int_equal(hk_import_mem(c, good, strlen(good), "g.jsonl", &o, &st), HK_INVALID);
    free(bad);
    free(good);
    hk_collection_close(c);
    assert_int_equal(hk_db_close(db), HK_OK);
    tu_rmrf(dir);
}

static void test_probe(void **state) {
    (void)state;
    uint32_t dim = 99;
    char *good = jsonl(5, 0);
    assert_int_equal(hk_import_probe(good, strlen(good), "x.jsonl", NULL, &dim), HK_OK);
    assert_int_equal(dim, 3);
    const char *text = "{\"id\": 1, \"text\": \"hello\"}\n";
    assert_int_equal(hk_import_probe(text, strlen(text), "x.jsonl", NULL, &dim), HK_OK);
    assert_int_equal(dim, 0);
    const char *csv = "id,text\n1,hello\n";
    assert_int_equal(hk_import_probe(csv, strlen(csv), "x.csv", NULL, &dim), HK_OK);
    assert_int_equal(dim, 0);
    uint8_t fv[4 + 5 * 4] = {5, 0, 0, 0};
    assert_int_equal(hk_import_probe(fv, sizeof fv, "x.fvecs", NULL, &dim), HK_OK);
    assert_int_equal(dim, 5);
    assert_int_equal(hk_import_probe("", 0, "x.jsonl", NULL, &dim), HK_INVALID);
    assert_int_equal(hk_import_probe("{oops\n", 6, "x.jsonl", NULL, &dim), HK_INVALID);
    assert_int_equal(hk_import_probe(fv, 7, "x.fvecs", NULL, &dim), HK_INVALID);
    free(good);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_check_first),
                                       cmocka_unit_test(test_probe)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
