/*
 * fsutil.c — see fsutil.h. Plain POSIX; the only subtlety is that we fsync directories
 * after creating, renaming or removing entries in them.
 */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

hk_status fs_write_all(int fd, const void *p, size_t n, const char *path) {
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return hk_fail(HK_IO, "%s: write failed: %s", path, strerror(errno));
        }
        b += w;
        n -= (size_t)w;
    }
    return HK_OK;
}

hk_status fs_pread_all(int fd, void *p, size_t n, uint64_t off, const char *path) {
    uint8_t *b = p;
    while (n) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return hk_fail(HK_IO, "%s: read failed at offset %llu: %s", path,
                           (unsigned long long)off, strerror(errno));
        }
        if (r == 0)
            return hk_fail(HK_CORRUPT, "%s: truncated: %zu bytes missing at offset %llu", path,
                           n, (unsigned long long)off);
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return HK_OK;
}

hk_status fs_fsync(int fd, const char *path) {
    if (fsync(fd) != 0) return hk_fail(HK_IO, "%s: fsync failed: %s", path, strerror(errno));
    return HK_OK;
}

hk_status fs_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return hk_fail(HK_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    hk_status st = fs_fsync(fd, dir);
    close(fd);
    return st;
}

hk_status fs_mkdir(const char *path) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return hk_fail(HK_IO, "%s: cannot create directory: %s", path, strerror(errno));
    return HK_OK;
}

hk_status fs_rmtree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? HK_OK : hk_fail(HK_IO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) {
        if (unlink(path) != 0) return hk_fail(HK_IO, "%s: cannot remove: %s", path, strerror(errno));
        return HK_OK;
    }
    DIR *d = opendir(path);
    if (!d) return hk_fail(HK_IO, "%s: cannot open directory: %s", path, strerror(errno));
    struct dirent *e;
    hk_status st = HK_OK;
    while (!st && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *child = fs_join(path, e->d_name);
        if (!child) {
            st = hk_fail(HK_NOMEM, "out of memory");
            break;
        }
        st = fs_rmtree(child);
        hk_free(child);
    }
    closedir(d);
    if (!st && rmdir(path) != 0) st = hk_fail(HK_IO, "%s: cannot remove: %s", path, strerror(errno));
    return st;
}

int fs_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

int fs_is_empty_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

hk_status fs_file_size(const char *path, uint64_t *out) {
    struct stat sb;
    if (stat(path, &sb) != 0) return hk_fail(HK_IO, "%s: %s", path, strerror(errno));
    *out = (uint64_t)sb.st_size;
    return HK_OK;
}

char *fs_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *p = hk_malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}
