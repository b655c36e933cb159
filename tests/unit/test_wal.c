/* Unit tests for src/store/wal.c: append/replay, torn tails, corruption, group commit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "store/wal.h"
#include "test_util.h"

typedef struct seen {
    uint64_t n;
    uint64_t lsns[1000];
    uint8_t types[1000];
    size_t lens[1000];
    int bad_body;
} seen;

static hk_status collect(void *ctx, uint8_t type, uint64_t lsn, const uint8_t *body, size_t len) {
    seen *s = ctx;
    for (size_t i = 0; i < len; i++)
        if (body[i] != (uint8_t)(lsn + i)) s->bad_body = 1;
    s->lsns[s->n] = lsn;
    s->types[s->n] = type;
    s->lens[s->n++] = len;
    return HK_OK;
}

static char g_path[4200];

static void write_records(uint64_t base, int n) {
    wal *w;
    assert_int_equal(wal_create(g_path, base, 0, &w), HK_OK);
    for (int i = 0; i < n; i++) {
        uint8_t body[300];
        size_t len = (size_t)(i * 37) % 300;
        for (size_t j = 0; j < len; j++) body[j] = (uint8_t)(base + (uint64_t)i + 1 + j);
        uint64_t lsn;
        assert_int_equal(wal_append(w, (uint8_t)(1 + i % 6), body, len, &lsn), HK_OK);
        assert_true(lsn == base + (uint64_t)i + 1);
        assert_int_equal(wal_sync(w, lsn), HK_OK);
    }
    wal_close(w);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_path, sizeof g_path, "%s/wal.hkl", tu_tmpdir("wal"));
    return 0;
}

static void test_roundtrip(void **state) {
    (void)state;
    write_records(100, 50);
    wal *w;
    assert_int_equal(wal_open(g_path, 0, 0, &w), HK_OK);
    assert_true(wal_base_lsn(w) == 100);
    seen s = {0};
    wal_replay_info info;
    assert_int_equal(wal_replay(w, collect, &s, &info), HK_OK);
    assert_true(s.n == 50 && info.records == 50 && info.torn_bytes == 0);
    assert_false(s.bad_body);
    for (int i = 0; i < 50; i++) {
        assert_true(s.lsns[i] == 101 + (uint64_t)i);
        assert_int_equal(s.types[i], 1 + i % 6);
        assert_int_equal(s.lens[i], (size_t)(i * 37) % 300);
    }
    /* Appends continue the sequence. */
    uint64_t lsn;
    assert_int_equal(wal_append(w, 1, "x", 1, &lsn), HK_OK);
    assert_true(lsn == 151);
    /* Reset starts over after a checkpoint. */
    assert_int_equal(wal_reset(w, 151), HK_OK);
    assert_true(wal_bytes(w) == WAL_HEADER_SIZE && wal_base_lsn(w) == 151);
    wal_close(w);
    assert_int_equal(wal_open(g_path, 1, 0, &w), HK_OK);
    memset(&s, 0, sizeof s);
    assert_int_equal(wal_replay(w, collect, &s, NULL), HK_OK);
    assert_true(s.n == 0 && wal_base_lsn(w) == 151);
    assert_int_equal(wal_append(w, 1, "x", 1, &lsn), HK_READONLY);
    wal_close(w);
}

static void test_torn_tail_every_cut(void **state) {
    (void)state;
    write_records(0, 10);
    long full = tu_file_size(g_path);
    /* Cut the file at every byte inside the last few records: replay keeps a prefix. */
    for (long cut = full - 1; cut > full - 700 && cut > WAL_HEADER_SIZE; cut -= 7) {
        write_records(0, 10);
        tu_truncate(g_path, cut);
        wal *w;
        assert_int_equal(wal_open(g_path, 0, 0, &w), HK_OK);
        seen s = {0};
        wal_replay_info info;
        assert_int_equal(wal_replay(w, collect, &s, &info), HK_OK);
        assert_true(s.n < 10);
        assert_false(s.bad_body);
        for (uint64_t i = 0; i < s.n; i++) assert_true(s.lsns[i] == i + 1);
        if (info.torn_bytes) assert_true(info.torn_offset + info.torn_bytes == (uint64_t)cut);
        /* The writer truncated the torn tail: appending continues cleanly. */
        uint64_t lsn;
        assert_int_equal(wal_append(w, 2, "abc", 3, &lsn), HK_OK);
        assert_true(lsn == s.n + 1);
        wal_close(w);
        assert_int_equal(wal_open(g_path, 1, 0, &w), HK_OK);
        seen s2 = {0};
        assert_int_equal(wal_replay(w, collect, &s2, &info), HK_OK);
        assert_true(s2.n == s.n + 1 && info.torn_bytes == 0);
        wal_close(w);
    }
}

static void test_corruption_in_middle(void **state) {
    (void)state;
    write_records(0, 20);
    long full = tu_file_size(g_path);
    /* Flip one bit in a middle record: an error naming the file and an offset. */
    tu_flip_bit(g_path, WAL_HEADER_SIZE + (full - WAL_HEADER_SIZE) / 3, 3);
    wal *w;
    assert_int_equal(wal_open(g_path, 1, 0, &w), HK_OK);
    seen s = {0};
    assert_int_equal(wal_replay(w, collect, &s, NULL), HK_CORRUPT);
    assert_non_null(strstr(hk_errmsg(), "wal.hkl"));
    assert_non_null(strstr(hk_errmsg(), "offset"));
    wal_close(w);

    /* A flip in the last record is indistinguishable from a torn write: dropped. */
    write_records(0, 20);
    tu_flip_bit(g_path, full - 2, 0);
    assert_int_equal(wal_open(g_path, 1, 0, &w), HK_OK);
    memset(&s, 0, sizeof s);
    wal_replay_info info;
    assert_int_equal(wal_replay(w, collect, &s, &info), HK_OK);
    assert_true(s.n == 19 && info.torn_bytes > 0);
    wal_close(w);

    /* Header damage. */
    write_records(0, 3);
    tu_flip_bit(g_path, 17, 1);
    assert_int_equal(wal_open(g_path, 1, 0, &w), HK_CORRUPT);
    assert_non_null(strstr(hk_errmsg(), "header checksum"));
    write_records(0, 3);
    tu_flip_bit(g_path, 0, 1);
    assert_int_equal(wal_open(g_path, 1, 0, &w), HK_CORRUPT);
    assert_non_null(strstr(hk_errmsg(), "magic"));
    tu_truncate(g_path, 10);
    assert_int_equal(wal_open(g_path, 1, 0, &w), HK_CORRUPT);
    assert_non_null(strstr(hk_errmsg(), "truncated"));
}

typedef struct gc_ctx {
    wal *w;
    pthread_mutex_t mu;
    int fails;
} gc_ctx;

static void *gc_thread(void *arg) {
    gc_ctx *g = arg;
    for (int i = 0; i < 100; i++) {
        uint64_t lsn;
        uint8_t body[16];
        pthread_mutex_lock(&g->mu); /* appends are serialized by the caller */
        hk_status st = wal_append(g->w, 1, body, 0, &lsn);
        pthread_mutex_unlock(&g->mu);
        if (st || wal_sync(g->w, lsn)) g->fails++;
    }
    return NULL;
}

static void test_group_commit_threads(void **state) {
    (void)state;
    gc_ctx g = {0};
    pthread_mutex_init(&g.mu, NULL);
    assert_int_equal(wal_create(g_path, 0, 0, &g.w), HK_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, gc_thread, &g);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    assert_int_equal(g.fails, 0);
    assert_true(wal_last_lsn(g.w) == 400);
    wal_close(g.w);
    wal *w;
    assert_int_equal(wal_open(g_path, 1, 0, &w), HK_OK);
    seen s = {0};
    assert_int_equal(wal_replay(w, collect, &s, NULL), HK_OK);
    assert_true(s.n == 400);
    wal_close(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_torn_tail_every_cut),
        cmocka_unit_test(test_corruption_in_middle), cmocka_unit_test(test_group_commit_threads),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
