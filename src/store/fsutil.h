/*
 * fsutil.h — the file-system steps durability depends on: full writes and reads that
 * retry on EINTR and short counts, fsync of files and of directories (a rename is only
 * durable once its directory is synced), and recursive removal.
 * Every failure is an HK_IO error naming the path and the system's reason.
 */
#ifndef HK_FSUTIL_H
#define HK_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"

hk_status fs_write_all(int fd, const void *p, size_t n, const char *path);
/* Reads exactly n bytes at offset; a short file is HK_CORRUPT "truncated". */
hk_status fs_pread_all(int fd, void *p, size_t n, uint64_t off, const char *path);
hk_status fs_fsync(int fd, const char *path);
hk_status fs_fsync_dir(const char *dir);
hk_status fs_mkdir(const char *path); /* exists already is fine */
hk_status fs_rmtree(const char *path); /* absent is fine */
int fs_exists(const char *path);
int fs_is_empty_dir(const char *path); /* 1 when absent or empty */
hk_status fs_file_size(const char *path, uint64_t *out);
/* Joins a and b with '/'; hk_free the result. NULL on OOM. */
char *fs_join(const char *a, const char *b);

#endif
