/* Shared helpers for unit tests: scratch directories and file surgery. */
#ifndef HK_TEST_UTIL_H
#define HK_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hektor.h"

/* A fresh, empty directory path under $HK_TEST_TMP (or /tmp); static storage. */
static inline const char *tu_tmpdir(const char *tag) {
    static char path[4096];
    const char *base = getenv("HK_TEST_TMP");
    if (!base || !*base) base = "/tmp";
    mkdir(base, 0755);
    snprintf(path, sizeof path, "%s/hk-%s-%ld-XXXXXX", base, tag, (long)getpid());
    if (!mkdtemp(path)) abort();
    return path;
}

static inline void tu_rmrf(const char *path) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) abort();
}

static inline long tu_file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static inline void tu_flip_bit(const char *path, long offset, int bit) {
    FILE *f = fopen(path, "r+b");
    if (!f) abort();
    fseek(f, offset, SEEK_SET);
    int c = fgetc(f);
    fseek(f, offset, SEEK_SET);
    fputc(c ^ (1 << bit), f);
    fclose(f);
}

static inline int fs_test_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static inline void tu_truncate(const char *path, long size) {
    if (truncate(path, size) != 0) abort();
}

/* Opens (or creates, by flags) the database in dir; fails the test with the library's
 * message otherwise. Include cmocka.h first. */
static inline hk_db *tu_open_db(const char *dir, uint32_t flags) {
    hk_db_options o;
    hk_db_options_init(&o);
    o.flags = flags;
    hk_db *db = NULL;
    hk_status st = hk_db_open(dir, &o, &db);
    if (st) fprintf(stderr, "open %s: %s\n", dir, hk_errmsg());
    assert_int_equal(st, HK_OK);
    return db;
}

#endif
